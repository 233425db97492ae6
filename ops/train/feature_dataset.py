"""The snippet-feature dataset shared by BMN, BSN and SSAD (as :mod:`ops.train.dataset` is for frames).

An item is a window of rows of one video's feature sequence, ``(video, start_row, num_rows)``:

- a whole video, often rescaled to a fixed length first (BMN/BSN on ActivityNet: ``rescale=(100, "bsn")``,
  items ``(video, 0, 100)``);
- a window over a long sequence (BMN on THUMOS14, SSAD's 128-row windows): rows past the sequence's end
  repeat its last row, as Decouple-SSAD does.

Streams: ``("RGB",)``, ``("Flow",)`` or ``("RGB", "Flow")`` (concatenated, RGB columns first), read through
:func:`ops.formats.features.read_two_stream`.  Each item gives ``(features [C, T] float32, *targets, index)``
where the method's ``target_fn(truth: WindowTruth)`` makes ``targets`` (a tuple, or one value).

**Window times** (the one rule, through :func:`~ops.formats.features.rows_to_seconds` /
:func:`~ops.formats.features.seconds_to_rows` only): row ``r`` stands for the instant ``rows_to_seconds(r)``
and covers half a row on either side, so a window of rows ``[s, s + T)`` spans rows ``[s - 0.5, s + T - 0.5]``;
an instant ``t`` sits at window fraction ``(seconds_to_rows(t) - s + 0.5) / T``: row ``i``'s instant at
``(i + 0.5) / T`` (BMN's anchor centres).  For a whole video rescaled by BSN's recipe this is BSN's
``t / corrected_second``.

Feature arrays are small (ActivityNet: 100 x 400 floats per video); each process keeps those it has read
(:meth:`FeatureDataset.preload` reads all of them before DataLoader workers fork).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ops.errors import InputError
from ops.formats.features import (FeatureRecord, check_geometry, concat_streams, feature_path, geometry_of,
                                  read_record, read_two_stream, rescale_features, rescaled_record, rows_to_seconds,
                                  seconds_to_rows)

logger = logging.getLogger(__name__)

STREAM_SETS = {"RGB": ("RGB",), "Flow": ("Flow",), "RGB+Flow": ("RGB", "Flow")}


@dataclass(frozen=True)
class FeatureItem:
    """A window of rows of one video: rows ``[start_row, start_row + num_rows)`` (None: to the end)."""

    video: str
    start_row: int = 0
    num_rows: int | None = None


@dataclass(frozen=True)
class WindowTruth:
    """What ``target_fn`` sees of one item.

    ``seconds`` (G, 2) ``t_start, t_end`` of every instance of the video (not only those in the window),
    ``labels`` (G,) 1-based, ``fractions`` (G, 2) the same bounds in window fractions (0 = the window's start,
    1 = its end; not clipped), ``window_seconds`` (2,) the window's span in seconds, ``record`` the record
    of the (rescaled) sequence the window is cut from.
    """

    video: str
    start_row: int
    num_rows: int
    seconds: np.ndarray
    labels: np.ndarray
    fractions: np.ndarray
    window_seconds: np.ndarray
    record: FeatureRecord


def streams_of(name: str) -> tuple[str, ...]:
    """``"RGB"``, ``"Flow"`` or ``"RGB+Flow"`` (both, concatenated) -> the streams tuple of read_two_stream."""
    if name not in STREAM_SETS:
        raise InputError(f"streams {name!r}: choose one of {', '.join(STREAM_SETS)}")
    return STREAM_SETS[name]


def missing_features(root, videos: Sequence[str], streams: Sequence[str] = ("RGB", "Flow")) -> list[str]:
    """``"video (stream)"`` for each video of ``videos`` without a complete feature file (.npy + .json)."""
    missing = []
    for video in dict.fromkeys(videos):
        for stream in streams:
            npy = feature_path(root, stream, video)
            if not (npy.is_file() and npy.with_name(npy.name[:-4] + ".json").is_file()):
                missing.append(f"{video} ({stream})")
    return missing


def require_features(root, videos: Sequence[str], streams: Sequence[str] = ("RGB", "Flow")) -> None:
    """One InputError naming every video of ``videos`` that lacks features in one of ``streams``."""
    missing = missing_features(root, videos, streams)
    if missing:
        shown = ", ".join(missing[:20]) + (f", ... ({len(missing) - 20} more)" if len(missing) > 20 else "")
        raise InputError(f"{root}: no features for {len(missing)} video/stream pair(s): {shown}; extract them "
                         "(extract_features.py) or leave those videos out of the list")


def videos_with_features(root, videos: Sequence[str], streams: Sequence[str], what: str) -> list[str]:
    """``videos`` that have features in every stream; the others are left out with a warning naming a few (none
    left: InputError)."""
    missing = {v for v in videos if missing_features(root, [v], streams)}
    if missing:
        logger.warning("%s: %d of %d %s video(s) have no features and are left out, e.g. %s", root,
                       len(missing), len(videos), what, sorted(missing)[:5])
    kept = [v for v in videos if v not in missing]
    if not kept:
        raise InputError(f"{root}: no features for any {what} video ({len(videos)} asked, e.g. {list(videos)[:3]}); "
                         "extract them (extract_features.py) or check --features and --streams")
    return kept


def sequence_items(root, videos: Sequence[str], streams: Sequence[str], num_rows: int,
                   window_stride: int | None) -> list[FeatureItem]:
    """The items a method reads from each video: the whole sequence (rescaled to ``num_rows`` by the dataset:
    ``window_stride`` None), or windows of ``num_rows`` rows every ``window_stride`` rows
    (:func:`window_starts`; only the records are read)."""
    if window_stride is None:
        return [FeatureItem(v, 0, num_rows) for v in videos]
    items = []
    for v in videos:
        length = read_record(root, streams[0], v).num_rows
        items += [FeatureItem(v, int(s), num_rows) for s in window_starts(length, num_rows, window_stride)]
    return items


def window_starts(num_rows: int, window: int, stride: int) -> np.ndarray:
    """Start rows of windows of ``window`` rows every ``stride`` rows over a ``num_rows`` sequence.

    Windows wholly inside the sequence, plus one ending at its last row when they miss the tail; a
    sequence shorter than a window gets the single start 0 (its rows past the end repeat the last one).
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
    if num_rows <= window:
        return np.zeros(1, np.int64)
    starts = np.arange(0, num_rows - window + 1, stride, dtype=np.int64)
    if starts[-1] + window < num_rows:
        starts = np.append(starts, num_rows - window)
    return starts


def window_fractions(record: FeatureRecord, start_row: int, num_rows: int, seconds) -> np.ndarray:
    """Seconds (any shape) -> fractions of the window ``[start_row, start_row + num_rows)`` (module docstring)."""
    return (seconds_to_rows(record, seconds) - start_row + 0.5) / num_rows


def window_seconds(record: FeatureRecord, start_row: int, num_rows: int) -> np.ndarray:
    """The window's span ``[t0, t1]`` in seconds: rows ``start_row - 0.5`` and ``start_row + num_rows - 0.5``."""
    return rows_to_seconds(record, np.array([start_row - 0.5, start_row + num_rows - 0.5]))


def take_rows(features: np.ndarray, start_row: int, num_rows: int) -> np.ndarray:
    """Rows ``[start_row, start_row + num_rows)`` of (L, C) ``features``; rows past the end repeat the last."""
    index = np.minimum(np.arange(start_row, start_row + num_rows), len(features) - 1)
    return features[index]


class FeatureDataset(Dataset):
    """Windows of snippet features with the method's targets (module docstring).

    Args:
        root: feature root (``ROOT/<stream>/<video>.npy`` + ``.json``).
        streams: ``("RGB",)``, ``("Flow",)`` or ``("RGB", "Flow")``.
        items: :class:`FeatureItem` or ``(video, start_row, num_rows)`` tuples.
        target_fn: ``WindowTruth -> tuple | value``; None gives ``(features, index)`` (scoring).
        ground_truth: video -> (bounds (G, 2) seconds, labels (G,)), e.g. ``AnnotationDB.ground_truth()``;
            videos not in it have no instance.
        rescale: ``(num_rows, recipe)`` to rescale each whole sequence first (recipe "bsn" or "mmaction").
        geometry: the geometry the features must have (a checkpoint's ``feature_record``); default: the
            first video's, which every other video must share.

    Every video's features are checked up front (presence in every stream, equal geometry), so a bad input
    stops the run before training, with one error naming the videos or the differing field.
    """

    def __init__(self, root, streams: Sequence[str], items, target_fn: Callable | None = None,
                 ground_truth: dict | None = None, rescale: tuple[int, str] | None = None,
                 geometry: dict | None = None):
        self.root, self.streams = root, tuple(streams)
        self.items = [it if isinstance(it, FeatureItem) else FeatureItem(*it) for it in items]
        self.target_fn, self.ground_truth, self.rescale = target_fn, ground_truth or {}, rescale
        videos = list(dict.fromkeys(it.video for it in self.items))
        require_features(root, videos, self.streams)
        self.records = {v: self._sequence_record(v) for v in videos}
        if geometry is None and videos:
            geometry = geometry_of(self.records[videos[0]])
        for v in videos:
            check_geometry(geometry, self.records[v], where=str(root))
        self.geometry = geometry
        for it in self.items:
            if not 0 <= it.start_row < self.records[it.video].num_rows:
                raise InputError(f"{it.video}: window start row {it.start_row} is outside its "
                                 f"{self.records[it.video].num_rows} feature rows")
        self._cache: dict[str, np.ndarray] = {}

    def _sequence_record(self, video: str) -> FeatureRecord:
        """The record of the sequence windows are cut from: streams joined, then rescaled (no array read)."""
        recs = [read_record(self.root, s, video) for s in self.streams]
        record = recs[0] if len(recs) == 1 else \
            concat_streams(*((np.zeros((r.num_rows, 0), np.float32), r) for r in recs))[1]
        if self.rescale is not None:
            record = rescaled_record(record, self.rescale[0], self.rescale[1])
        return record

    def features(self, video: str) -> np.ndarray:
        """(L, C) float32 sequence of ``video`` (rescaled when asked), read once per process."""
        if video not in self._cache:
            x, rec = read_two_stream(self.root, video, self.streams)
            if self.rescale is not None:
                x = rescale_features(x, self.rescale[0], self.rescale[1], duration_frame=rec.num_frames,
                                     duration_second=rec.num_frames / rec.fps, snippet_frames=rec.stride)
            self._cache[video] = np.ascontiguousarray(x, dtype=np.float32)
        return self._cache[video]

    def preload(self) -> "FeatureDataset":
        """Read every video now (before DataLoader workers fork, they then share the arrays)."""
        for video in self.records:
            self.features(video)
        return self

    def __len__(self) -> int:
        return len(self.items)

    def window(self, index: int) -> tuple[str, int, int]:
        """``(video, start_row, num_rows)`` of item ``index`` (num_rows resolved for whole videos)."""
        it = self.items[index]
        n = it.num_rows if it.num_rows is not None else self.records[it.video].num_rows - it.start_row
        return it.video, it.start_row, n

    def truth(self, index: int) -> WindowTruth:
        """The ground truth of item ``index`` in seconds and in the window's fractions."""
        video, start, n = self.window(index)
        record = self.records[video]
        bounds, labels = self.ground_truth.get(video, (np.zeros((0, 2)), np.zeros(0, np.int64)))
        bounds = np.asarray(bounds, np.float64).reshape(-1, 2)
        return WindowTruth(video, start, n, bounds, np.asarray(labels, np.int64),
                           window_fractions(record, start, n, bounds), window_seconds(record, start, n), record)

    def __getitem__(self, index: int):
        video, start, n = self.window(index)
        x = torch.from_numpy(take_rows(self.features(video), start, n).T.copy())
        if self.target_fn is None:
            return x, index
        targets = self.target_fn(self.truth(index))
        return (x, *targets, index) if isinstance(targets, tuple) else (x, targets, index)


class ProposalFeatureDataset(Dataset):
    """BSN's PEM input: each video's ``top_k`` PGM proposals (by score) with their BSP features.

    Item: ``(features (k, 32) float32, match_iou (k,) float32, video index)``; :meth:`collate` joins a batch of
    videos into one ``(sum k, 32)`` block (``ops/formats/bsn_outputs.py`` holds the files).
    """

    def __init__(self, folder, videos: Sequence[str], top_k: int):
        from ops.formats.bsn_outputs import read_pgm

        self.videos, self.data = list(videos), []
        for v in self.videos:
            d = read_pgm(folder, v)
            order = np.argsort(-d["proposals"][:, 4], kind="stable")[:top_k]
            self.data.append({k: d[k][order] for k in ("proposals", "window", "features")} | {"spans": d["spans"]})

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int):
        d = self.data[index]
        return (torch.from_numpy(d["features"].astype(np.float32)),
                torch.from_numpy(d["proposals"][:, 5].astype(np.float32)), index)

    @staticmethod
    def collate(batch: list) -> tuple:
        return (torch.cat([b[0] for b in batch]), torch.cat([b[1] for b in batch]),
                torch.tensor([b[2] for b in batch]))


def proposal_dataset(folder, videos: Sequence[str], top_k: int, what: str) -> ProposalFeatureDataset:
    """:class:`ProposalFeatureDataset` of ``videos``; one InputError naming a missing PGM file."""
    from ops.formats.bsn_outputs import missing, pgm_path

    lacking = missing(folder, videos, pgm_path)
    if lacking:
        raise InputError(f"{folder}: no PGM proposals for {len(lacking)} {what} video(s), e.g. "
                         f"{pgm_path(folder, lacking[0])}; run bsn_pgm.py on that subset first")
    return ProposalFeatureDataset(folder, videos, top_k)
