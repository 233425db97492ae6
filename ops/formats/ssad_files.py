"""Decouple-SSAD's files: the window list, the annotation CSV, the per-anchor prediction CSV, released features.

Grammars (``../shared/specs/decouple_ssad.md``)::

    window_info.log   one line per window: "<start frame>, <video id>\\n"; feature file i.npy is line i (0-based)
    annotation CSV    header video,type,type_idx,startFrame,endFrame,frame_num (frames at the video's own fps)
    prediction CSV    header video_name,start,conf,xmin,xmax,score_0,...,score_K; one row per anchor of each
                      window, windows in list order (start: the window's start frame; xmin/xmax: frames)
    released features feature/{val,test}/{spatial,temporal}DataX{UCF101,KnetV3}/<i>.npy, float64 (128, D):
                      window i of the split's window_info.log, 128 snippets of 4 frames from its start frame
                      (spatial = RGB, temporal = Flow; UCF101 = TSN BN-Inception 1024-d, KnetV3 = Inception-V3
                      2048-d)

Readers raise InputError naming the file and line.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from ops.errors import InputError
from ops.io import atomic_open, parse_number, read_text

ANNOTATION_COLUMNS = ("video", "type", "type_idx", "startFrame", "endFrame", "frame_num")
RELEASED_BACKBONES = ("UCF101", "KnetV3")
RELEASED_STREAMS = {"RGB": "spatial", "Flow": "temporal"}
RELEASED_SNIPPET_FRAMES = 4          # a released window: 128 snippets of 4 frames = 512 frames


def write_window_list(path: str | os.PathLike, windows: list[tuple[int, str]]) -> None:
    """``(start frame, video)`` per window, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        for start, video in windows:
            if not video or any(c.isspace() or c == "," for c in video):
                raise ValueError(f"video id {video!r} cannot be written in a window list")
            f.write(f"{int(start)}, {video}\n")


def read_window_list(path: str | os.PathLike) -> list[tuple[int, str]]:
    out = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            start = parse_number(parts[0], integer=True)
        except (ValueError, IndexError):
            start = None
        if len(parts) != 2 or start is None or start < 0 or not parts[1]:
            raise InputError(f"{path}:{n}: expected '<start frame>, <video id>', got {line!r}")
        out.append((start, parts[1]))
    return out


def read_annotation_csv(path: str | os.PathLike) -> list[dict]:
    """Rows ``{video, type, type_idx, start_frame, end_frame, num_frames}`` of the release's annotation CSV."""
    reader = csv.DictReader(io.StringIO(read_text(path)))
    if reader.fieldnames is None or not set(ANNOTATION_COLUMNS) <= set(reader.fieldnames):
        raise InputError(f"{path}: header must name {', '.join(ANNOTATION_COLUMNS)}; got {reader.fieldnames}")
    rows = []
    for rec in reader:
        where = f"{path}:{reader.line_num}"
        try:
            s, e, n = (parse_number(rec[k].strip()) for k in ("startFrame", "endFrame", "frame_num"))
            idx = parse_number(rec["type_idx"].strip(), integer=True)
        except (ValueError, AttributeError):
            raise InputError(f"{where}: startFrame, endFrame, frame_num and type_idx must be numbers") from None
        if not 0 <= s <= e or n <= 0:
            raise InputError(f"{where}: frames {s}..{e} of a {n}-frame video; expected 0 <= start <= end")
        rows.append({"video": rec["video"], "type": rec["type"], "type_idx": idx, "start_frame": s, "end_frame": e,
                     "num_frames": int(n), "line": reader.line_num})
    return rows


def annotation_csv_instances(path: str | os.PathLike, classes: list[str],
                             class_ids: list[int] | None = None) -> dict[str, tuple[int, np.ndarray, np.ndarray]]:
    """The release's annotation CSV per video: ``{video: (num_frames, frames (G, 2) float64, labels (G,))}``,
    labels 1-based in ``classes`` order (0 is background), videos in file order.  A ``type`` outside ``classes``,
    a ``type_idx`` that disagrees with ``class_ids``, or two frame counts for one video: InputError (file:line)."""
    out: dict[str, list] = {}
    for r in read_annotation_csv(path):
        where = f"{path}:{r['line']}"
        if r["type"] not in classes:
            raise InputError(f"{where}: class {r['type']!r} is not one of the preset's {len(classes)} classes")
        label = classes.index(r["type"])
        if class_ids is not None and class_ids[label] != r["type_idx"]:
            raise InputError(f"{where}: {r['type']} has type_idx {r['type_idx']}; the preset says {class_ids[label]}")
        entry = out.setdefault(r["video"], [r["num_frames"], [], []])
        if entry[0] != r["num_frames"]:
            raise InputError(f"{where}: {r['video']} has {r['num_frames']} frames here, {entry[0]} on an earlier line")
        entry[1].append((r["start_frame"], r["end_frame"]))
        entry[2].append(label + 1)
    return {v: (n, np.asarray(g, np.float64).reshape(-1, 2), np.asarray(lab, np.int64))
            for v, (n, g, lab) in out.items()}


def prediction_columns(num_classes: int) -> list[str]:
    return ["video_name", "start", "conf", "xmin", "xmax"] + [f"score_{k}" for k in range(num_classes + 1)]


def write_predictions(path: str | os.PathLike, videos: list[str], values: np.ndarray) -> None:
    """One row per anchor: ``videos`` (N,) and ``values`` (N, 4 + K + 1) ``[start, conf, xmin, xmax, p_0..p_K]``."""
    values = np.asarray(values, np.float64)
    if not np.isfinite(values).all():
        raise ValueError("predictions hold NaN or infinite values")
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(prediction_columns(values.shape[1] - 5))
        for v, row in zip(videos, values):
            w.writerow([v, int(row[0])] + [f"{x:.6g}" for x in row[1:]])


def read_predictions(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(videos (N,) object, values (N, 4 + K + 1) float64) of a prediction CSV (ours or the release's)."""
    reader = csv.reader(io.StringIO(read_text(path)))
    header = next(reader, None)
    if not header or header[:5] != ["video_name", "start", "conf", "xmin", "xmax"] or \
            header[5:] != [f"score_{k}" for k in range(len(header) - 5)] or len(header) < 7:
        raise InputError(f"{path}: header must be video_name,start,conf,xmin,xmax,score_0,...,score_K; got {header}")
    videos, values = [], []
    for n, row in enumerate(reader, 2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(f"{path}:{n}: {len(row)} fields, the header names {len(header)}")
        try:
            values.append([parse_number(x.strip()) for x in row[1:]])
        except ValueError as e:
            raise InputError(f"{path}:{n}: {e}") from None
        videos.append(row[0])
    return np.asarray(videos, dtype=object), np.asarray(values, np.float64).reshape(-1, len(header) - 1)


def released_feature_path(root: str | os.PathLike, split: str, stream: str, backbone: str, index: int) -> Path:
    """``root/<split>/<stream>DataX<backbone>/<index>.npy`` (root: the release's ``feature`` folder; split
    val|test, stream spatial|temporal, backbone UCF101|KnetV3)."""
    return Path(root) / split / f"{stream}DataX{backbone}" / f"{index}.npy"


def read_released_window(root, split: str, stream: str, backbone: str, index: int) -> np.ndarray:
    """One released window's features as float32 (128, D); InputError naming the file for another shape."""
    path = released_feature_path(root, split, stream, backbone, index)
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read released features ({e})") from None
    if x.ndim != 2 or x.shape[0] != 128 or x.dtype.kind != "f" or not np.isfinite(x).all():
        raise InputError(f"{path}: expected finite float (128, D) features, got {x.dtype} {x.shape}")
    return x.astype(np.float32)
