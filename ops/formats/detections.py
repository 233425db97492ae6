"""Detection tables and their file formats (one reader and one writer per format).

A :class:`Detections` table holds N detections (or proposals) as parallel
numpy arrays:

- ``video`` (N,) str: video id;
- ``t_start``, ``t_end`` (N,) float64: bounds in ``unit`` (``seconds`` for
  every file format here, ``fraction`` of the video for SSN outputs and
  BSN/BMN CSV files);
- ``label`` (N,) int64: 1-based class label (class ``k`` is ``classes[k - 1]``);
  0 marks a class-agnostic proposal;
- ``score`` (N,) float64: confidence, higher is better.

Row order is the input order; evaluation tie rules refer to it.

Formats:

- ActivityNet JSON (detection submissions and proposal files):
  ``{"version": ..., "results": {video: [{"label": name, "score": s,
  "segment": [t_start, t_end]}, ...]}, "external_data": {...}}``; proposal files
  have no ``label``.  Seconds.
- THUMOS14 evalkit text: one detection per line,
  ``<video> <t_start> <t_end> <class id> <score>``, official class ids from
  ``detclasslist.txt`` (7 = BaseballPitch); seconds.  As in the evalkit, a
  ``.mp4``/``.mpeg`` suffix on the video is dropped and lines whose class id is
  not in the class list are ignored (with a warning).
- Detection CSV (written by ``detect.py``): header ``video,t_start,t_end,label,score``,
  one detection per row, seconds, ``label`` the class name.
- BSN/BMN proposal CSV: a header with ``xmin,xmax,score`` (fractions of the
  video), either one file per video named ``<video>.csv`` (a folder of them)
  or one file with an extra ``video`` column.
"""
from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ops.errors import InputError
from ops.io import atomic_open, atomic_write_json, json_number, parse_number, read_json, read_text

logger = logging.getLogger(__name__)

UNITS = ("seconds", "fraction", "frames")
THUMOS_VIDEO_SUFFIXES = (".mp4", ".mpeg")


class DetectionFormatError(InputError):
    """A malformed detection or proposal file; the message names file and line/video."""


@dataclass
class Detections:
    """Parallel arrays of N detections (see the module docstring for units)."""

    video: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    t_start: np.ndarray = field(default_factory=lambda: np.zeros(0))
    t_end: np.ndarray = field(default_factory=lambda: np.zeros(0))
    label: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unit: str = "seconds"

    def __post_init__(self):
        self.video = np.asarray(self.video, dtype=object).reshape(-1)
        self.t_start = np.asarray(self.t_start, dtype=np.float64).reshape(-1)
        self.t_end = np.asarray(self.t_end, dtype=np.float64).reshape(-1)
        self.label = np.asarray(self.label, dtype=np.int64).reshape(-1)
        self.score = np.asarray(self.score, dtype=np.float64).reshape(-1)
        n = len(self.video)
        if any(len(a) != n for a in (self.t_start, self.t_end, self.label, self.score)):
            raise ValueError("Detections: all columns must have the same length")
        if self.unit not in UNITS:
            raise ValueError(f"Detections: unit must be one of {UNITS}, got {self.unit!r}")

    def __len__(self) -> int:
        return len(self.video)

    @property
    def bounds(self) -> np.ndarray:
        """(N, 2) ``[t_start, t_end]``."""
        return np.stack([self.t_start, self.t_end], axis=1)

    def take(self, index) -> "Detections":
        """Rows ``index`` (integer indices or a boolean mask), same unit."""
        return Detections(self.video[index], self.t_start[index], self.t_end[index],
                          self.label[index], self.score[index], self.unit)

    @staticmethod
    def concat(parts: list["Detections"], unit: str | None = None) -> "Detections":
        """Concatenate tables (all in one unit)."""
        units = {p.unit for p in parts}
        if len(units) > 1:
            raise ValueError(f"cannot concatenate detections in different units {sorted(units)}")
        unit = unit or (units.pop() if units else "seconds")
        if not parts:
            return Detections(unit=unit)
        return Detections(*(np.concatenate([getattr(p, c) for p in parts])
                            for c in ("video", "t_start", "t_end", "label", "score")), unit=unit)

    def scaled(self, factors: dict[str, float], unit: str, source: str = "detections") -> "Detections":
        """Multiply bounds by a per-video factor (e.g. durations: fraction -> seconds).

        Raises DetectionFormatError naming the first video without a finite factor.
        """
        f = np.array([factors.get(v, np.nan) for v in self.video], dtype=np.float64)
        bad = ~np.isfinite(f)
        if bad.any():
            raise DetectionFormatError(
                f"{source}: no duration for video {self.video[bad][0]!r} ({int(bad.sum())} detections); "
                "give annotations with durations (e.g. a THUMOS14 *_durations.txt next to the folder)")
        return Detections(self.video, self.t_start * f, self.t_end * f, self.label, self.score, unit)


def _check_bounds(dets: Detections, source: str) -> Detections:
    bad = np.flatnonzero(~(dets.t_start <= dets.t_end))
    if bad.size:
        k = int(bad[0])
        raise DetectionFormatError(f"{source}: video {dets.video[k]!r}: t_start {dets.t_start[k]} is after "
                                   f"t_end {dets.t_end[k]} (or not a number); fix the file")
    return dets


# --------------------------------------------------------------------------- ActivityNet JSON


def read_activitynet_json(path: str | os.PathLike, classes: list[str] | None = None) -> Detections:
    """Read an ActivityNet detection submission or proposal file (seconds).

    Args:
        classes: class names (label k = classes[k - 1]).  None reads every entry
            as a class-agnostic proposal (label 0), ignoring any ``label`` field.
    Raises:
        DetectionFormatError naming the file and video on bad content.
    """
    data = read_json(path, DetectionFormatError)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise DetectionFormatError(f"{path}: expected an object with 'results': {{video: [entries]}} "
                                   "(ActivityNet submission layout)")
    index = {name: k for k, name in enumerate(classes, 1)} if classes is not None else None
    cols = ([], [], [], [], [])
    for video, entries in data["results"].items():
        if not isinstance(entries, list):
            raise DetectionFormatError(f"{path}: video {video!r}: expected a list of entries, got {entries!r}")
        for k, ent in enumerate(entries):
            try:
                if not isinstance(ent, dict):
                    raise TypeError
                t_start, t_end = (json_number(x) for x in ent["segment"])
                score = json_number(ent.get("score", 0.0 if index is None else ent["score"]))
                label = 0 if index is None else index[ent["label"]]
            except KeyError as e:
                what = f"unknown class {ent.get('label')!r}" if index and "label" in ent else f"missing {e}"
                raise DetectionFormatError(f"{path}: video {video!r} entry {k}: {what}") from None
            except (TypeError, ValueError):
                raise DetectionFormatError(f"{path}: video {video!r} entry {k}: segment must be two numbers "
                                           f"and score a number, got {ent!r}") from None
            for col, val in zip(cols, (video, t_start, t_end, label, score)):
                col.append(val)
    return _check_bounds(Detections(*cols, unit="seconds"), str(path))


def write_activitynet_json(path: str | os.PathLike, dets: Detections, classes: list[str] | None = None,
                           version: str = "VERSION 1.3", external_data: dict | None = None) -> None:
    """Write ``dets`` (seconds) as an ActivityNet submission (atomically).

    With ``classes`` None (or for label 0) the entries carry no ``label``: a proposal file.
    """
    if dets.unit != "seconds":
        raise ValueError(f"ActivityNet JSON holds seconds; convert detections in {dets.unit} first")
    results: dict[str, list] = {}
    for v, s, e, lab, sc in zip(dets.video.tolist(), dets.t_start.tolist(), dets.t_end.tolist(),
                                dets.label.tolist(), dets.score.tolist()):
        entry = {"score": sc, "segment": [s, e]}
        if classes is not None and lab > 0:
            entry = {"label": classes[lab - 1], **entry}
        results.setdefault(v, []).append(entry)
    atomic_write_json(path, {"version": version, "results": results,
                             "external_data": external_data or {}}, indent=None)


# --------------------------------------------------------------------------- THUMOS14 evalkit text


def _strip_video_suffix(name: str) -> str:
    for suffix in THUMOS_VIDEO_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_thumos14_txt(path: str | os.PathLike, class_ids: list[int]) -> Detections:
    """Read THUMOS14 evalkit detections (``video t_start t_end class_id score`` per line).

    Args:
        class_ids: official ids in class order (label k has id ``class_ids[k - 1]``).
    """
    index = {cid: k for k, cid in enumerate(class_ids, 1)}
    cols = ([], [], [], [], [])
    skipped: dict[int, int] = {}
    for lineno, line in enumerate(read_text(path, DetectionFormatError).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise DetectionFormatError(f"{path}:{lineno}: expected '<video> <t_start> <t_end> <class id> "
                                       f"<score>', got {line.rstrip()!r}")
        try:
            t_start, t_end, score = (parse_number(parts[k]) for k in (1, 2, 4))
            cid = parse_number(parts[3], integer=True)
        except ValueError as e:
            raise DetectionFormatError(f"{path}:{lineno}: {e} in {line.rstrip()!r}; expected finite numbers "
                                       "(seconds, an integer class id, a score)") from None
        if cid not in index:
            skipped[cid] = skipped.get(cid, 0) + 1
            continue
        if t_start > t_end or t_start < 0:
            raise DetectionFormatError(f"{path}:{lineno}: t_start {t_start}, t_end {t_end}: expected "
                                       "0 <= t_start <= t_end (seconds)")
        for col, val in zip(cols, (_strip_video_suffix(parts[0]), t_start, t_end, index[cid], score)):
            col.append(val)
    for cid, count in skipped.items():
        logger.warning("%s: %d detections with class id %d, which is not a detection class; ignored "
                       "(as the THUMOS14 evalkit does)", path, count, cid)
    return Detections(*cols, unit="seconds")


def write_thumos14_txt(path: str | os.PathLike, dets: Detections, class_ids: list[int]) -> None:
    """Write ``dets`` (seconds, labels >= 1) in the THUMOS14 evalkit text format (atomically)."""
    if dets.unit != "seconds":
        raise ValueError(f"THUMOS14 text holds seconds; convert detections in {dets.unit} first")
    ids = np.asarray(class_ids, dtype=np.int64)
    if len(dets) and (dets.label.min() < 1 or dets.label.max() > len(ids)):
        raise ValueError("THUMOS14 text needs class labels 1..num_classes")
    bad = next((v for v in dict.fromkeys(dets.video.tolist()) if not v or any(c.isspace() for c in v)), None)
    if bad is not None:   # the evalkit splits lines on white space: such an id would not read back
        raise InputError(f"{path}: not written: video id {bad!r} is empty or holds white space, which THUMOS14 "
                         f"text cannot carry; write JSON instead (--export_json)")
    with atomic_open(path, "w", encoding="utf-8") as f:
        for v, s, e, lab, sc in zip(dets.video.tolist(), dets.t_start.tolist(), dets.t_end.tolist(),
                                    dets.label.tolist(), dets.score.tolist()):
            f.write(f"{v} {s:.6f} {e:.6f} {ids[lab - 1]} {sc:.8g}\n")


# --------------------------------------------------------------------------- BSN / BMN CSV


DETECTION_CSV_COLUMNS = ("video", "t_start", "t_end", "label", "score")


def write_detection_csv(path: str | os.PathLike, dets: Detections, classes: list[str]) -> None:
    """Write ``video,t_start,t_end,label,score`` rows (seconds, class name, score) atomically."""
    if dets.unit != "seconds":
        raise ValueError(f"detection CSV files hold seconds; these detections are in {dets.unit}")
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(DETECTION_CSV_COLUMNS)
        for v, s, e, lab, sc in zip(dets.video.tolist(), dets.t_start.tolist(), dets.t_end.tolist(),
                                    dets.label.tolist(), dets.score.tolist()):
            writer.writerow([v, f"{s:.3f}", f"{e:.3f}", classes[lab - 1], f"{sc:.6g}"])


def _read_one_csv(path: Path, video: str | None) -> list[tuple]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields = set(reader.fieldnames or [])
        need = {"xmin", "xmax", "score"} | (set() if video is not None else {"video"})
        if not need <= fields:
            raise DetectionFormatError(f"{path}: header must name the columns {sorted(need)}; got "
                                       f"{reader.fieldnames} (BSN/BMN proposal CSV, bounds in fractions)")
        rows = []
        for lineno, rec in enumerate(reader, 2):
            try:
                rows.append((video if video is not None else rec["video"], float(rec["xmin"]),
                             float(rec["xmax"]), 0, float(rec["score"])))
            except ValueError:
                raise DetectionFormatError(f"{path}:{lineno}: non-numeric value in {rec}") from None
    return rows


def read_proposal_csv(path: str | os.PathLike) -> Detections:
    """Read BSN/BMN proposals: a folder of ``<video>.csv`` or one CSV with a ``video`` column.

    Returns class-agnostic proposals (label 0) with bounds as fractions of the video.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise DetectionFormatError(f"{path}: no *.csv proposal files in this folder")
        rows = [r for p in files for r in _read_one_csv(p, p.stem)]
    else:
        rows = _read_one_csv(path, None)
    cols = list(zip(*rows)) if rows else ([], [], [], [], [])
    return _check_bounds(Detections(*cols, unit="fraction"), str(path))


def read_detection_file(path: str | os.PathLike, classes: list[str] | None,
                        class_ids: list[int] | None) -> Detections:
    """Dispatch on the file: ``.json`` (ActivityNet) or text (THUMOS14 evalkit)."""
    if Path(path).suffix.lower() == ".json":
        return read_activitynet_json(path, classes)
    if class_ids is None:
        raise DetectionFormatError(f"{path}: THUMOS14 text detections need the official class ids "
                                   "(a detclasslist.txt next to the annotations, or a preset with class_ids)")
    return read_thumos14_txt(path, class_ids)
