"""The SSN proposal list: one reader, one writer, and proposal labelling.

The proposal list is the text contract between the proposal stages and SSN
training, testing and evaluation.  Grammar (one block per video, blocks
back to back, every line ends with ``\\n``, fields separated by one space)::

    list       := block*
    block      := "# " INDEX NL
                  VIDEO NL               video id (normalized) or frame folder path
                  NUM_FRAMES NL          integer; 1 in normalized lists
                  FPS NL                 integer "fps field"; the original tools write 1
                  NUM_GT NL              integer >= 0
                  gt_line{NUM_GT}
                  NUM_PROPOSALS NL       integer >= 0
                  proposal_line{NUM_PROPOSALS}
    gt_line    := LABEL " " START " " END NL
    proposal_line := LABEL " " BEST_IOU " " OVERLAP_SELF " " START " " END NL

``LABEL`` is an integer: 0 = background, k = class k (1-based, in the class
order of the dataset, see ``ops.formats.annotations``).  ``BEST_IOU`` is the best
temporal IoU of the proposal with any ground truth and ``OVERLAP_SELF`` the
intersection with that same ground truth divided by the proposal's length;
both are written with 4 decimals.

Two variants:

- *normalized*: START/END are fractions of the video, written ``%.4f``
  (``0.1144``), NUM_FRAMES is 1.  This is how proposal lists are shipped,
  because decoders disagree on frame counts.
- *frame-based*: START/END are frame indices (integers), NUM_FRAMES the real
  frame count of the extracted folder and VIDEO that folder's path.
  ``gen_proposal_list.py`` converts the first into the second.

The reader detects the variant from the START/END tokens (a ``.`` means
normalized) unless told.  ``read`` followed by ``write`` reproduces an
original file byte for byte.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ops.errors import InputError
from ops.io import atomic_write_text, read_text
from ops.temporal import fraction_to_frames, overlap_over_first, pairwise_iou


class ProposalListError(InputError):
    """A malformed proposal list; the message names the file and line."""


class ListVariantError(ProposalListError):
    """A list whose bounds are written the other way (fractions / frames) than its reader expects."""


@dataclass
class VideoProposals:
    """One video's block of a proposal list.

    Attributes:
        video: video id, or the frame folder path in frame-based lists.
        num_frames: frame count (1 in normalized lists).
        fps: the integer "fps field" (1 in files written by the original tools).
        gt_labels: (G,) int64, 1-based class labels of the ground truth.
        gt_bounds: (G, 2) float64, ground-truth [start, end] (fractions or frames).
        labels: (P,) int64, proposal labels (0 = background).
        best_iou: (P,) float64, best IoU with any ground truth.
        overlap_self: (P,) float64, intersection with that ground truth / proposal length.
        bounds: (P, 2) float64, proposal [start, end] (fractions or frames).
    """

    video: str
    num_frames: int
    fps: int = 1
    gt_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    gt_bounds: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    best_iou: np.ndarray = field(default_factory=lambda: np.zeros(0))
    overlap_self: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bounds: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def video_id(self) -> str:
        """The video id: the last path component of ``video``."""
        return Path(self.video).name

    @property
    def num_gt(self) -> int:
        return len(self.gt_labels)

    @property
    def num_proposals(self) -> int:
        return len(self.labels)


@dataclass
class ProposalList:
    """A whole proposal list: its variant, first block index and video blocks."""

    videos: list[VideoProposals]
    normalized: bool
    first_index: int = 1

    def __len__(self) -> int:
        return len(self.videos)

    def __iter__(self):
        return iter(self.videos)

    def by_id(self) -> dict[str, VideoProposals]:
        """Map video id -> block."""
        return {v.video_id: v for v in self.videos}


# --------------------------------------------------------------------------- reading


class _Lines:
    """Line cursor that names file and line number in its errors."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()  # the final newline
        self.pos = 0

    def error(self, msg: str, lineno: int | None = None) -> ProposalListError:
        lineno = self.pos if lineno is None else lineno
        return ProposalListError(f"{self.path}:{lineno}: {msg}")

    def next(self, what: str) -> str:
        if self.pos >= len(self.lines):
            raise self.error(f"file ends where {what} was expected (truncated file?)", len(self.lines))
        line = self.lines[self.pos].rstrip("\r")
        self.pos += 1
        return line

    def next_int(self, what: str, minimum: int = 0) -> int:
        tok = self.next(what).strip()
        try:
            value = int(tok)
        except ValueError:
            raise self.error(f"expected {what} (an integer), got {tok!r}") from None
        if value < minimum:
            raise self.error(f"{what} must be >= {minimum}, got {value}")
        return value

    def next_rows(self, count: int, width: int, what: str) -> tuple[np.ndarray, list[str]]:
        """Read ``count`` lines of ``width`` numbers -> ((count, width) float64, raw tokens)."""
        first = self.pos + 1
        if self.pos + count > len(self.lines):
            raise self.error(f"file ends inside the {what} lines: {count} announced, "
                             f"{len(self.lines) - self.pos} left (truncated file?)", len(self.lines))
        rows = [self.lines[self.pos + k].split() for k in range(count)]
        self.pos += count
        for k, row in enumerate(rows):
            if len(row) != width:
                raise self.error(f"a {what} line needs {width} fields, got {len(row)}: "
                                 f"{' '.join(row)!r} (wrong count on the line before?)", first + k)
        try:
            values = np.array(rows, dtype=np.float64).reshape(count, width)
        except ValueError:
            for k, row in enumerate(rows):
                for tok in row:
                    try:
                        float(tok)
                    except ValueError:
                        raise self.error(f"non-numeric field {tok!r} in a {what} line", first + k) from None
            raise
        nonfinite = np.flatnonzero(~np.isfinite(values).all(1))
        if nonfinite.size:
            k = int(nonfinite[0])
            raise self.error(f"non-finite value in a {what} line: {' '.join(rows[k])!r} (nan or inf: was a "
                             "video's duration zero or missing when the list was made?)", first + k)
        bad = np.flatnonzero(values[:, -2] > values[:, -1])
        if bad.size:
            k = int(bad[0])
            raise self.error(f"{what} start {rows[k][-2]} is after its end {rows[k][-1]}", first + k)
        return values, [tok for row in rows for tok in row[-2:]]


def _parse_block(cur: _Lines) -> tuple[int, VideoProposals, list[str]]:
    header = cur.next("a '# index' header")
    parts = header.split()
    if len(parts) != 2 or parts[0] != "#" or not parts[1].lstrip("-").isdigit():
        raise cur.error(f"expected a block header '# <index>', got {header!r}")
    video = cur.next("the video path")
    if not video.strip():
        raise cur.error("empty video path")
    num_frames = cur.next_int("the number of frames", minimum=1)
    fps = cur.next_int("the fps field")
    num_gt = cur.next_int("the number of ground-truth instances")
    gt, gt_tokens = cur.next_rows(num_gt, 3, "ground-truth")
    num_prop = cur.next_int("the number of proposals")
    props, prop_tokens = cur.next_rows(num_prop, 5, "proposal")
    labels = np.concatenate([gt[:, 0], props[:, 0]])
    if np.any(labels != np.round(labels)) or np.any(labels < 0):
        raise cur.error("labels must be non-negative integers")
    block = VideoProposals(
        video=video, num_frames=num_frames, fps=fps,
        gt_labels=gt[:, 0].astype(np.int64), gt_bounds=gt[:, 1:3].copy(),
        labels=props[:, 0].astype(np.int64), best_iou=props[:, 1].copy(),
        overlap_self=props[:, 2].copy(), bounds=props[:, 3:5].copy(),
    )
    return int(parts[1]), block, gt_tokens + prop_tokens


def read_proposal_list(path: str | os.PathLike, normalized: bool | None = None) -> ProposalList:
    """Parse a proposal list file (grammar in the module docstring).

    Args:
        path: the text file.
        normalized: the variant, when the caller knows it (then bounds written the other way are an error);
            None guesses it from the start/end tokens, which a list without any box cannot tell (it is then
            taken as normalized): callers that know should say.
    Raises:
        FileNotFoundError if the file is missing; ProposalListError (naming
        file and line) if it is malformed.
    """
    path = str(path)
    cur = _Lines(path, read_text(path, ProposalListError))
    videos: list[VideoProposals] = []
    first_index = 1
    has_dot = has_bounds = False
    while cur.pos < len(cur.lines):
        if not cur.lines[cur.pos].strip():
            cur.pos += 1  # tolerate blank lines between blocks
            continue
        index, block, tokens = _parse_block(cur)
        if not videos:
            first_index = index
        has_dot = has_dot or any("." in t for t in tokens)
        has_bounds = has_bounds or bool(tokens)
        videos.append(block)
    if normalized is None:
        normalized = has_dot or not has_bounds
    elif has_bounds and normalized != has_dot:
        raise ListVariantError(
            f"{path}: bounds are written as {'frame numbers' if normalized else 'fractions of the video'}, but "
            f"this stage reads a {'normalized' if normalized else 'frame-based'} list; "
            + ("convert it with gen_proposal_list.py" if not normalized else "give the normalized list it came from"))
    return ProposalList(videos=videos, normalized=normalized, first_index=first_index)


def read_frame_based_list(path: str | os.PathLike) -> ProposalList:
    """:func:`read_proposal_list` for the stages that read frames (training and scoring): a normalized list
    raises ProposalListError saying how to make the frame-based one."""
    try:
        return read_proposal_list(path, normalized=False)
    except ListVariantError:
        raise ListVariantError(f"{path} is a normalized list (fractions of each video), but this stage reads "
                                "frames: convert it with gen_proposal_list.py, or make sliding windows with "
                                "gen_sliding_window_proposals.py --frame_path") from None


# --------------------------------------------------------------------------- writing


def _fmt_bounds(bounds: np.ndarray, normalized: bool) -> list[str]:
    if normalized:
        return [f"{s:.4f} {e:.4f}" for s, e in bounds.tolist()]
    return [f"{int(s)} {int(e)}" for s, e in bounds.tolist()]


def format_block(index: int, v: VideoProposals, normalized: bool) -> str:
    """Return one video's block as text (ends with a newline)."""
    out = [f"# {index}", v.video, str(int(v.num_frames)), str(int(v.fps)), str(v.num_gt)]
    gt_b = _fmt_bounds(np.asarray(v.gt_bounds).reshape(-1, 2), normalized)
    out += [f"{int(lab)} {b}" for lab, b in zip(v.gt_labels.tolist(), gt_b)]
    out.append(str(v.num_proposals))
    p_b = _fmt_bounds(np.asarray(v.bounds).reshape(-1, 2), normalized)
    out += [f"{int(lab)} {iou:.4f} {ovl:.4f} {b}" for lab, iou, ovl, b
            in zip(v.labels.tolist(), v.best_iou.tolist(), v.overlap_self.tolist(), p_b)]
    return "\n".join(out) + "\n"


def format_proposal_list(plist: ProposalList) -> str:
    """Return the whole list as text, blocks numbered from ``plist.first_index``."""
    return "".join(format_block(plist.first_index + i, v, plist.normalized)
                   for i, v in enumerate(plist.videos))


def write_proposal_list(path: str | os.PathLike, plist: ProposalList) -> None:
    """Write ``plist`` to ``path`` atomically (temp file, then rename); refuses non-finite bounds or scores,
    which the reader would reject (raises ValueError naming the video)."""
    for v in plist.videos:
        video = str(v.video)
        if not video.strip() or video != video.strip() or "\n" in video or "\r" in video:
            raise InputError(f"{path}: not written: video path {video!r} would not read back (empty, a line break, "
                             "or spaces at its ends); rename the video or its folder")
        if not all(np.isfinite(a).all() for a in (v.gt_bounds, v.bounds, v.best_iou, v.overlap_self)):
            raise InputError(f"{path}: not written: {v.video} has a nan or inf bound or overlap "
                             "(zero or missing video duration?)")
    atomic_write_text(path, format_proposal_list(plist))


# --------------------------------------------------------------------------- labelling


def label_proposals(bounds, gt_bounds, gt_labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label proposals against ground truth, vectorised.

    Args:
        bounds: (P, 2) proposal [start, end]; gt_bounds: (G, 2) in the same unit.
        gt_labels: (G,) 1-based class labels.
    Returns:
        labels (P,) int64: the class of the ground truth of highest IoU, or 0
        (background) when that IoU is 0 or there is no ground truth (ties go
        to the first ground truth);
        best_iou (P,) float64; overlap_self (P,) float64: intersection with
        that ground truth over the proposal's length.
    """
    bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
    gt_bounds = np.asarray(gt_bounds, dtype=np.float64).reshape(-1, 2)
    gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    num = len(bounds)
    if len(gt_bounds) == 0 or num == 0:
        return np.zeros(num, np.int64), np.zeros(num), np.zeros(num)
    iou = pairwise_iou(bounds, gt_bounds)
    best = iou.argmax(axis=1)
    rows = np.arange(num)
    best_iou = iou[rows, best]
    overlap_self = overlap_over_first(bounds, gt_bounds)[rows, best]
    labels = np.where(best_iou > 0, gt_labels[best], 0)
    return labels, best_iou, overlap_self


def make_video_proposals(video: str, num_frames: int, gt_bounds, gt_labels, bounds,
                         fps: int = 1) -> VideoProposals:
    """Build a labelled block from raw proposals and ground truth (same unit)."""
    bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
    labels, best_iou, overlap_self = label_proposals(bounds, gt_bounds, gt_labels)
    return VideoProposals(
        video=video, num_frames=int(num_frames), fps=fps,
        gt_labels=np.asarray(gt_labels, dtype=np.int64).reshape(-1),
        gt_bounds=np.asarray(gt_bounds, dtype=np.float64).reshape(-1, 2),
        labels=labels, best_iou=best_iou, overlap_self=overlap_self, bounds=bounds,
    )


def to_frame_based(v: VideoProposals, num_frames: int, video: str | None = None) -> VideoProposals:
    """Convert a normalized block to frame indices: ``floor(fraction * num_frames)``
    (:func:`ops.temporal.fraction_to_frames`).

    Labels, IoU and overlap are kept (they are scale-free).  ``video`` replaces
    the path field (the frame folder); by default it is kept.
    """
    return replace(
        v, video=v.video if video is None else video, num_frames=int(num_frames),
        gt_bounds=fraction_to_frames(v.gt_bounds, num_frames),
        bounds=fraction_to_frames(v.bounds, num_frames),
    )


def check_labels(videos: list[VideoProposals], num_classes: int, path) -> None:
    """Refuse a list whose ground-truth or proposal labels fall outside ``0..num_classes`` (0 = background),
    naming the video: caught before the first training step, not in epoch 2 (a device assert on a GPU)."""
    for v in videos:
        labels = np.concatenate([v.gt_labels, v.labels])
        bad = labels[(labels < 0) | (labels > num_classes)]
        if bad.size or (v.gt_labels.size and v.gt_labels.min() < 1):
            value = int(bad[0]) if bad.size else int(v.gt_labels.min())
            raise ProposalListError(f"{path}: video {v.video_id}: label {value} is outside the model's classes "
                                    f"1..{num_classes}; remake the list with this dataset's annotations, or set "
                                    "--num_classes to the dataset's")


def check_fractions(plist: ProposalList, path) -> None:
    """A normalized list's bounds must be fractions of the video, in ``[0, 1]``: outside, the conversion to
    frames would point past the folder.  ProposalListError naming the video."""
    for v in plist.videos:
        bounds = np.concatenate([v.gt_bounds.reshape(-1, 2), v.bounds.reshape(-1, 2)])
        bad = np.flatnonzero(((bounds < 0) | (bounds > 1)).any(1))
        if bad.size:
            s, e = bounds[bad[0]]
            raise ProposalListError(f"{path}: video {v.video_id}: box [{s:g}, {e:g}] is not inside [0, 1] (fractions "
                                    f"of the video; {bad.size} such boxes); fix the tool that wrote this list")

