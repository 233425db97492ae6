"""Frame-loading datasets shared by the actionness classifier and SSN.

- :class:`FrameLoader` reads snippets (``new_length`` consecutive frames) from a
  frame folder (layout in ``ops/formats/frames.py``);
- :class:`FrameDataset` is the one base class: records (frame-based proposal
  list blocks), frame counts, loader, input spec and transforms;
- :class:`BinaryTrainDataset`: video-centric sampling of foreground/background
  windows, ``num_segments`` snippets per window (TSN);
- :class:`FrameSequenceDataset`: every ``frame_interval``-th frame of each
  video, for per-frame scoring at test time.

Frame positions are 0-based: position ``p`` is the snippet of files
``p + 1 .. p + new_length`` (1-based names), clamped to the folder.

Snippets overlap, so every dataset reads a sample's distinct frames once
(:meth:`FrameLoader.read_frames`), transforms them, and stacks them last
(:func:`gather_snippets`).  The training datasets leave the stacking to the batch:
their items hold :class:`SnippetFrames`, which :func:`collate_snippets` gathers
straight into the batch tensor (one copy of the batch's stacks, not two).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, default_collate, get_worker_info

from ops.errors import InputError
from ops.formats.frames import count_frames, flow_names, rgb_name
from ops.formats.proposal_list import VideoProposals
from ops.models.backbones import MODALITIES, BackboneConfig, input_spec
from ops.models.builder import checkpoint_backbone
from ops.models.ssn import KIND_CODES, stage_layout, targets_for_regression
from ops.train.sampling import ProposalSampler
from ops.train.transforms import check_num_crops, eval_crops, normalize, to_channel_order, train_crop

logger = logging.getLogger(__name__)


class FrameLoader:
    """Reads snippet stacks of one modality: uint8 (K, C, H, W), C = 3 or 2 times ``new_length``.

    RGBDiff (TSN's RGB difference) reads ``new_length + 1`` RGB frames and gives the ``new_length``
    differences between consecutive ones, each ``(next - previous) // 2 + 128`` per channel (floor
    division; 128 = no change), so the stack is uint8 and goes through the same crops as RGB and Flow.
    """

    def __init__(self, modality: str, new_length: int):
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {list(MODALITIES)}, got {modality!r}")
        self.modality, self.new_length = modality, new_length
        self.diff = modality == "RGBDiff"

    def _read(self, path: Path, flags: int) -> np.ndarray:
        img = cv2.imread(str(path), flags)
        if img is None:
            raise FileNotFoundError(f"cannot read frame {path} (missing or corrupt); re-extract this video")
        return img

    def _frame(self, folder: Path, index: int) -> np.ndarray:
        """One frame (1-based index) as decoded: (H, W, 3) BGR or (H, W, 2) flow x/y."""
        if self.modality != "Flow":
            return self._read(folder / rgb_name(index), cv2.IMREAD_COLOR)
        fx, fy = flow_names(index)
        return np.stack([self._read(folder / fx, cv2.IMREAD_GRAYSCALE),
                         self._read(folder / fy, cv2.IMREAD_GRAYSCALE)], axis=2)

    def read_frames(self, folder: str | Path, positions, count: int) -> tuple[torch.Tensor, np.ndarray]:
        """What the snippets starting at 0-based ``positions`` (K,) of a folder holding ``count`` frames need,
        each frame once: uint8 (U, c, H, W) frames (c = 3 RGB, Flow 2 x/y; RGBDiff: the U distinct
        differences of consecutive frames) and int64 index (K, new_length), snippet k's frames in order.

        Snippets overlap (a stack spans ``new_length`` frames, positions are a few frames apart), so
        decoding and every per-frame transform run on the distinct frames; :func:`gather_snippets`
        stacks them last.
        """
        folder = Path(folder)
        if count <= 0:
            raise InputError(f"{folder} has no {self.modality} frames")
        span = self.new_length + self.diff
        pos = np.asarray(positions, dtype=np.int64).reshape(-1, 1) + np.arange(span)
        files = np.clip(pos, 0, count - 1) + 1
        unique, index = np.unique(files.ravel(), return_inverse=True)
        index = index.reshape(files.shape)
        frames = np.stack([self._frame(folder, int(i)) for i in unique])      # (U, H, W, c), contiguous
        if self.diff:
            frames, index = _distinct_differences(frames, index)
        if self.modality != "Flow":
            frames = frames[..., ::-1]                                         # BGR to RGB
        return torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))), index

    def read(self, folder: str | Path, positions, count: int) -> torch.Tensor:
        """uint8 (K, C, H, W) snippet stacks at ``positions``: :meth:`read_frames`, gathered."""
        return gather_snippets(*self.read_frames(folder, positions, count))


def _distinct_differences(frames: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TSN's RGB differences of the distinct consecutive pairs of ``index`` (K, L + 1) into ``frames``
    (U, H, W, 3) uint8: ((P, H, W, 3) uint8, index (K, L) into them).

    A difference is ``(next - previous) // 2 + 128`` (floor), computed without widening: with
    ``b = 255 - previous``, ``next + b + 1 = next - previous + 256``, and ``(a + b + 1) >> 1`` of two bytes is
    ``(a | b) - ((a ^ b) >> 1)``.
    """
    u = len(frames)
    codes, pairs = np.unique((index[:, :-1] * u + index[:, 1:]).ravel(), return_inverse=True)
    previous, following = np.divmod(codes, u)
    a, b = frames[following], np.bitwise_not(frames[previous])
    diff = a | b
    a ^= b
    a >>= 1
    diff -= a
    return diff, pairs.reshape(len(index), index.shape[1] - 1)


def gather_snippets(frames: torch.Tensor, index: np.ndarray, out: torch.Tensor | None = None) -> torch.Tensor:
    """Stacks of frames: ``frames`` (U, ..., c, H, W) and ``index`` (K, L) give (K, ..., L * c, H, W), channels
    frame-major ([f1 c0, f1 c1, f2 c0, ...]) as stacking L frames along the channel axis gives.  ``out``: a
    contiguous (K * L, c, H, W) tensor (no axes between U and c) the frames are copied into; the stacks are then
    a view of it."""
    k, length = index.shape
    if out is None and length == 1 and k == len(frames) and np.array_equal(index[:, 0], np.arange(k)):
        return frames           # one distinct frame a snippet (RGB, test positions): nothing to gather
    x = torch.index_select(frames, 0, torch.from_numpy(np.ascontiguousarray(index).reshape(-1)), out=out)
    x = x.reshape(k, length, *frames.shape[1:]).movedim(1, -4)
    return x.reshape(k, *frames.shape[1:-3], length * frames.shape[-3], *frames.shape[-2:])


class SnippetFrames(NamedTuple):
    """A training sample's snippets before stacking: transformed distinct ``frames`` (U, c, s, s) float and
    ``index`` (K, L) into them; :meth:`gather` gives the stacks (K, L * c, s, s)."""
    frames: torch.Tensor
    index: np.ndarray

    def gather(self) -> torch.Tensor:
        return gather_snippets(self.frames, self.index)


def collate_snippets(batch: list) -> list:
    """``default_collate`` for items whose first field is :class:`SnippetFrames` (the training datasets'):
    x (B, K, L * c, s, s) gathered from every sample's distinct frames straight into the batch tensor, then the
    other fields as ``default_collate`` joins them.  The values equal stacking each sample's
    :meth:`SnippetFrames.gather`; what is saved is that copy (about 290 MB a step for the demo's Flow SSN,
    a tenth of its CPU epoch).  Every sample has the same K and L (the dataset's sampler fixes them)."""
    first = batch[0][0]
    (k, length), tail = first.index.shape, first.frames.shape[1:]
    out = _batch_tensor((len(batch), k * length, *tail), first.frames)
    for row, (item, *_) in zip(out, batch):
        gather_snippets(item.frames, item.index, out=row)
    x = out.view(len(batch), k, length * tail[0], *tail[1:])
    return [x, *default_collate([item[1:] for item in batch])]


def _batch_tensor(shape: tuple, like: torch.Tensor) -> torch.Tensor:
    """An empty tensor for a batch; in a loader worker it is made in shared memory, as ``default_collate`` makes
    its batches, so that handing it to the main process copies nothing."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=like.dtype)
    storage = like._typed_storage()._new_shared(int(np.prod(shape)), device=like.device)
    return like.new(storage).view(shape)


def data_spec(backbone: BackboneConfig, flip: bool = True) -> dict:
    """The backbone's :func:`~ops.models.backbones.input_spec` plus the dataset's ``flip`` policy.

    ``flip`` is False for datasets whose classes a mirror image changes (the
    synthetic MoveLeft / MoveRight): training then never flips, and testing
    refuses mirrored crops.  Training stores this dict in the checkpoint.
    """
    return {**input_spec(backbone), "flip": bool(flip)}


def checkpoint_data_spec(ckpt: dict, backbone: BackboneConfig) -> dict:
    """The spec a model was trained with (checkpoints before ``flip`` existed: flips allowed)."""
    stored = ckpt.get("extra", {}).get("input_spec", {})
    return data_spec(backbone, stored.get("flip", True))


def checkpoint_input(ckpt: dict, path, kind: str, modality: str, num_crops: int, flag: str = "--modality"
                     ) -> tuple[BackboneConfig, dict]:
    """The backbone config and data spec a scoring stage reads frames with for checkpoint ``ckpt`` (read from
    ``path``), once checked: its model type ``kind``, its ``modality`` (set by the stage's ``flag``), and
    ``num_crops`` (mirrored crops need a model trained with flips).  InputError naming ``path`` otherwise."""
    backbone = checkpoint_backbone(ckpt, path, kind, modality, flag)
    spec = checkpoint_data_spec(ckpt, backbone)
    check_num_crops(num_crops, spec["flip"], str(path))
    return backbone, spec


def segment_positions(start: float, end: float, num_segments: int, count: int, new_length: int,
                      train: bool, generator: torch.Generator | None = None) -> np.ndarray:
    """TSN positions: ``[start, end)`` (frames) cut into equal segments, one snippet each.

    Training picks a random position inside each segment, testing the centre.
    Returns (num_segments,) int64 positions clamped to ``[0, count - new_length]``.
    """
    length = max(end - start, 1e-6) / num_segments
    offsets = torch.rand(num_segments, generator=generator).numpy() if train else np.full(num_segments, 0.5)
    pos = np.floor(start + (np.arange(num_segments) + offsets) * length).astype(np.int64)
    return np.clip(pos, 0, max(count - new_length, 0))


def check_block_against_folder(block: VideoProposals, counts) -> None:
    """A frame-based block must describe its folder: its frame count that of the folder's RGB or flow frames
    (within max(2, 2 %): decoders differ by a frame or two), its bounds inside ``[0, num_frames]``.  A list
    claiming 9,999 frames for a 134-frame folder would otherwise move every detection into the first
    seconds; InputError naming the folder."""
    n = block.num_frames
    if not any(abs(n - have) <= max(2, 0.02 * have) for have in (counts.num_frames, counts.num_flow) if have):
        raise InputError(f"{block.video}: the proposal list says {n} frames, but the folder has "
                         f"{counts.num_frames} RGB and {counts.num_flow} flow frames; remake the list from these "
                         "folders with gen_proposal_list.py")
    bounds = np.concatenate([block.gt_bounds.reshape(-1, 2), block.bounds.reshape(-1, 2)])
    bad = np.flatnonzero((bounds < 0).any(1) | (bounds > n).any(1))
    if bad.size:
        s, e = bounds[bad[0]]
        raise InputError(f"{block.video}: the proposal list has a box [{s:g}, {e:g}] outside the video's frames "
                         f"[0, {n}] ({bad.size} such boxes); remake the list with gen_proposal_list.py")


class FrameDataset(Dataset):
    """Base of every frame-reading dataset: records, per-folder frame counts, loader, transforms.

    Args:
        videos: frame-based proposal-list blocks (``video`` = frame folder path).
        modality, new_length: what a snippet is.
        input_spec: the backbone's ``input_spec`` (input_size, scale_size, mean, std, pixel_range),
            plus ``flip`` (bool, default True): whether mirrored views are allowed (see
            :func:`data_spec`).
    """

    def __init__(self, videos: list[VideoProposals], modality: str, new_length: int, input_spec: dict):
        self.videos = videos
        self.modality, self.new_length = modality, new_length
        self.spec = input_spec
        self.loader = FrameLoader(modality, new_length)
        counts = [count_frames(v.video) for v in videos]
        for v, c in zip(videos, counts):
            check_block_against_folder(v, c)
        self.counts = [c.num_flow if modality == "Flow" else c.num_frames for c in counts]

    def frames(self, video: int, positions) -> tuple[torch.Tensor, np.ndarray]:
        """Distinct frames and snippet index (:meth:`FrameLoader.read_frames`) of video ``video`` at ``positions``."""
        return self.loader.read_frames(self.videos[video].video, positions, self.counts[video])

    def frames_of(self, draws: list[tuple[int, np.ndarray]]) -> tuple[torch.Tensor, np.ndarray]:
        """Distinct frames (U, c, H, W) and index (sum K, new_length) of every (video, positions (K,)) pair,
        snippets in order.  A training sample's proposals overlap (incomplete ones cover part of an
        action, stages share frames), so each video's positions are read in one call."""
        videos = np.array([v for v, _ in draws])
        index = [None] * len(draws)
        frames, offset = [], 0
        for video in np.unique(videos):
            rows = np.flatnonzero(videos == video)
            sizes = np.cumsum([len(draws[r][1]) for r in rows])[:-1]
            got, idx = self.frames(int(video), np.concatenate([draws[r][1] for r in rows]))
            for r, part in zip(rows, np.split(idx + offset, sizes)):
                index[r] = part
            frames.append(got)
            offset += len(got)
        return torch.cat(frames), np.concatenate(index)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Channel order and normalisation of frames (..., c, s, s) float: the spec's per-channel values
        repeat every frame, so a frame takes the first c of them."""
        c = x.shape[-3]
        x = to_channel_order(x, self.spec.get("channel_order", "RGB"))
        return normalize(x, self.spec["mean"][:c], self.spec["std"][:c], self.spec.get("pixel_range", 255.0))

    def finish_train(self, frames: torch.Tensor, index: np.ndarray, generator: torch.Generator | None = None
                     ) -> SnippetFrames:
        """A sample's snippets, to be gathered by ``index`` into (K, C, s, s) float (:func:`collate_snippets`):
        the training crop + flip + normalisation of its distinct ``frames``, one crop and flip for all (TSN's
        group transforms)."""
        x = train_crop(frames, self.spec["input_size"], self.modality, generator, self.spec.get("flip", True))
        return SnippetFrames(self._normalize(x), index)

    def finish_test(self, frames: torch.Tensor, index: np.ndarray, num_crops: int) -> torch.Tensor:
        """Test crops + normalisation of distinct ``frames``, gathered by ``index``: (K, num_crops, C, s, s)."""
        x = eval_crops(frames, self.spec["input_size"], self.spec["scale_size"], num_crops, self.modality,
                       self.spec.get("flip", True))
        return gather_snippets(self._normalize(x), index)


class BinaryTrainDataset(FrameDataset):
    """One item per video: ``P`` sampled windows x ``num_segments`` snippets, label 1 = foreground.

    Returns x (:class:`SnippetFrames` of P * num_segments snippets) and labels (P,) int64;
    :func:`collate_snippets` makes x (B, P * num_segments, C, s, s) float.
    """

    def __init__(self, videos, modality, new_length, input_spec, sampler: ProposalSampler, num_segments: int = 3,
                 epoch_multiplier: int = 1):
        super().__init__(videos, modality, new_length, input_spec)
        self.sampler, self.num_segments, self.epoch_multiplier = sampler, num_segments, epoch_multiplier

    def __len__(self) -> int:
        return len(self.videos) * self.epoch_multiplier

    def __getitem__(self, index: int):
        draws = self.sampler.sample(index % len(self.videos))
        positions, labels = [], []
        for video, row, kind in draws:
            start, end = self.sampler.tables[video].bounds[row]
            pos = segment_positions(start, end, self.num_segments, self.counts[video], self.new_length, train=True)
            positions.append((video, pos))
            labels.append(1 if kind == "fg" else 0)
        return self.finish_train(*self.frames_of(positions)), torch.tensor(labels, dtype=torch.int64)


class FrameSequenceDataset(FrameDataset):
    """Every ``frame_interval``-th position of each video, in chunks of at most ``chunk`` frames.

    Item: (x (T, num_crops, C, s, s) float, video index, first score index).
    """

    def __init__(self, videos, modality, new_length, input_spec, frame_interval: int = 1, num_crops: int = 1,
                 chunk: int = 64):
        super().__init__(videos, modality, new_length, input_spec)
        self.frame_interval, self.num_crops = frame_interval, num_crops
        check_num_crops(num_crops, self.spec.get("flip", True))   # fail before any frame is read
        self.positions = [np.arange(0, max(c, 1), frame_interval) for c in self.counts]
        self.items = [(v, s) for v, p in enumerate(self.positions) for s in range(0, len(p), chunk)]
        self.chunk = chunk

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        video, first = self.items[index]
        pos = self.positions[video][first:first + self.chunk]
        return self.finish_test(*self.frames(video, pos), self.num_crops), video, first


class SnippetDataset(FrameDataset):
    """Given frame positions of each video (one snippet each), in chunks: what extract_features.py reads.

    ``positions``: per video, (T,) first frame of each snippet (``ops.video.snippets``); ``resize``: ``"crop"``
    (the backbone's test crops: scale the short side, crop ``num_crops``) or ``"full"`` (the whole frame resized
    to ``input_size`` squared, no crop: Decouple-SSAD's features).
    Item: (x (K, num_crops, C, s, s) float, video index, first row).
    """

    def __init__(self, videos, modality, new_length, input_spec, positions, num_crops: int = 1, chunk: int = 64,
                 resize: str = "crop"):
        super().__init__(videos, modality, new_length, input_spec)
        if resize not in ("crop", "full"):
            raise InputError(f"resize {resize!r}: choose crop or full")
        if resize == "full" and num_crops != 1:
            raise InputError("--resize full takes the whole frame: one crop only")
        self.positions, self.num_crops, self.chunk, self.resize = positions, num_crops, chunk, resize
        self.items = [(v, s) for v, p in enumerate(positions) for s in range(0, len(p), chunk)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        video, first = self.items[index]
        frames, index = self.frames(video, self.positions[video][first:first + self.chunk])
        if self.resize == "crop":
            return self.finish_test(frames, index, self.num_crops), video, first
        size = self.spec["input_size"]
        x = torch.nn.functional.interpolate(frames.float(), size=(size, size), mode="bilinear", align_corners=False)
        return gather_snippets(self._normalize(x[:, None]), index), video, first


class SSNTrainDataset(FrameDataset):
    """One item per video: ``P`` sampled proposals (fg, incomplete, bg), each as 2 + 5 + 2 snippets.

    Returns x (:class:`SnippetFrames` of P * S snippets; :func:`collate_snippets` makes (B, P * S, C, s, s)
    float), labels (P,) 1-based class of the best ground truth, kinds (P,)
    (0 fg, 1 incomplete, 2 bg), regression targets (P, 2) normalised by ``reg_stats`` (mean, std of
    the training foreground's (centre offset, log length ratio)), and stage scales (P, 2).
    """

    def __init__(self, videos, modality, new_length, input_spec, sampler: ProposalSampler,
                 num_segments=(2, 5, 2), epoch_multiplier: int = 1, reg_stats=None):
        super().__init__(videos, modality, new_length, input_spec)
        self.sampler, self.num_segments, self.epoch_multiplier = sampler, tuple(num_segments), epoch_multiplier
        self.reg_stats = np.asarray(reg_stats if reg_stats is not None else self.regression_stats(), np.float64)

    def regression_stats(self) -> np.ndarray:
        """(2, 2): mean and std of the regression targets of every foreground proposal."""
        rows = [targets_for_regression(t.bounds[k["fg"]], t.gt_bounds[k["fg"]])
                for t, k in zip(self.sampler.tables, self.sampler.kinds)]
        targets = np.concatenate(rows) if rows else np.zeros((0, 2))
        if len(targets) < 2:
            return np.array([[0.0, 0.0], [1.0, 1.0]])
        return np.stack([targets.mean(0), np.maximum(targets.std(0), 1e-3)])

    def __len__(self) -> int:
        return len(self.videos) * self.epoch_multiplier

    def proposal_snippets(self, video: int, start: float, end: float, train: bool):
        """Positions (S,) over the three stages and (starting, ending) scales of one proposal."""
        spans, scales = stage_layout(start, end, self.counts[video])
        pos = [segment_positions(a, b, n, self.counts[video], self.new_length, train)
               for (a, b), n in zip(spans, self.num_segments)]
        return np.concatenate(pos), scales

    def __getitem__(self, index: int):
        positions, labels, kinds, targets, scales = [], [], [], [], []
        for video, row, kind in self.sampler.sample(index % len(self.videos)):
            table = self.sampler.tables[video]
            start, end = table.bounds[row]
            pos, scale = self.proposal_snippets(video, start, end, train=True)
            positions.append((video, pos))
            labels.append(int(table.labels[row]))
            kinds.append(KIND_CODES[kind])
            targets.append(targets_for_regression(table.bounds[row:row + 1], table.gt_bounds[row:row + 1])[0])
            scales.append(scale)
        targets = (np.array(targets) - self.reg_stats[0]) / self.reg_stats[1]
        return (self.finish_train(*self.frames_of(positions)), torch.tensor(labels), torch.tensor(kinds),
                torch.tensor(targets, dtype=torch.float32), torch.tensor(scales, dtype=torch.float32))
