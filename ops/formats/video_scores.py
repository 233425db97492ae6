"""Video-level class scores: one reader, one writer.

A video-level classifier gives every video one score per class; ``proposals_to_detections.py`` labels
class-agnostic proposals with them.  In memory: :class:`VideoScores` (``videos`` V ids, ``classes`` K names,
``scores`` (V, K) float64, NaN where the file lists no score for a class of a video).

Layouts read (seconds play no part; class names as in the annotations)::

    CUHK'17 (written by :func:`write_video_scores`, the layout of the ActivityNet-2017 classification entry
    that MMAction2's report_map.py reads):
        {"version": str (optional), "results": {VIDEO: [{"label": NAME, "score": NUMBER}, ...], ...},
         "external_data": {...} (optional)}
        entries of a video in any order, each class at most once, any subset of the classes

    score vectors (BMN / G-TAD's ``cuhk_val_simp_share.json``):
        {"results": {VIDEO: [NUMBER x K], ...}, "class": [NAME x K]}

Scores must be finite numbers.  The writer lists each video's classes by descending score (ties: class
order), optionally only the ``top_k`` best, in the CUHK'17 layout; ``read`` after ``write`` gives the same
scores for the classes written.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ops.errors import InputError
from ops.io import atomic_write_json, read_json


class VideoScoresError(InputError):
    """A malformed video-level score file; the message names the file and video."""


@dataclass
class VideoScores:
    """Video-level class scores: ``scores[i, k]`` of video ``videos[i]`` and class ``classes[k]`` (label k+1)."""

    videos: list[str]
    classes: list[str]
    scores: np.ndarray

    def __post_init__(self):
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(len(self.videos), len(self.classes))

    def index(self) -> dict[str, int]:
        """Map video id -> row."""
        return {v: i for i, v in enumerate(self.videos)}


# --------------------------------------------------------------------------- reading


def _score(value, path, video, k) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise VideoScoresError(f"{path}: video {video!r} entry {k}: score must be a finite number, got {value!r}")
    return float(value)


def _label_entries(path, video, entries, index: dict[str, int], grow: bool) -> dict[int, float]:
    """``[{"label", "score"}]`` of one video -> {class column: score}; ``grow`` adds unknown names to ``index``."""
    if not isinstance(entries, list):
        raise VideoScoresError(f"{path}: video {video!r}: expected a list of {{'label', 'score'}} entries, "
                               f"got {type(entries).__name__}")
    row = {}
    for k, ent in enumerate(entries):
        if not isinstance(ent, dict) or "label" not in ent or "score" not in ent:
            raise VideoScoresError(f"{path}: video {video!r} entry {k}: expected {{'label': name, 'score': "
                                   f"number}}, got {ent!r}")
        name = ent["label"]
        if name not in index:
            if not grow:
                raise VideoScoresError(f"{path}: video {video!r} entry {k}: unknown class {name!r}; the class "
                                       "names must be those of the annotations")
            index[name] = len(index)
        col = index[name]
        if col in row:
            raise VideoScoresError(f"{path}: video {video!r}: class {name!r} is listed twice")
        row[col] = _score(ent["score"], path, video, k)
    return row


def _vector_layout(path, data: dict, classes: list[str] | None) -> VideoScores:
    names = data["class"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise VideoScoresError(f"{path}: 'class' must be a list of class names")
    if classes is not None:
        unknown = [n for n in names if n not in classes]
        if unknown:
            raise VideoScoresError(f"{path}: 'class' names {unknown[:3]} are not classes of the annotations")
    classes = list(classes) if classes is not None else list(names)
    cols = np.array([classes.index(n) for n in names], dtype=np.int64)
    videos = list(data["results"])
    scores = np.full((len(videos), len(classes)), np.nan)
    for i, (video, vec) in enumerate(data["results"].items()):
        if not isinstance(vec, list) or len(vec) != len(names):
            raise VideoScoresError(f"{path}: video {video!r}: expected {len(names)} scores (one per 'class' "
                                   f"name), got {len(vec) if isinstance(vec, list) else type(vec).__name__}")
        scores[i, cols] = [_score(x, path, video, k) for k, x in enumerate(vec)]
    return VideoScores(videos, classes, scores)


def read_video_scores(path: str | os.PathLike, classes: list[str] | None = None) -> VideoScores:
    """Read a video-level score file (either layout of the module docstring).

    Args:
        classes: the class names (label k = ``classes[k - 1]``); None takes them from the file (the
            ``class`` list, else every name in order of first appearance).
    Raises:
        VideoScoresError naming the file (and video) on bad content; FileNotFoundError if missing.
    """
    data = read_json(path, VideoScoresError)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise VideoScoresError(f"{path}: expected an object with 'results': {{video: [{{'label', 'score'}}]}} "
                               "(video-level class scores, CUHK'17 layout)")
    if "class" in data:
        return _vector_layout(path, data, classes)
    index = {name: k for k, name in enumerate(classes or [])}
    rows = [_label_entries(path, v, e, index, classes is None) for v, e in data["results"].items()]
    scores = np.full((len(rows), len(index)), np.nan)
    for i, row in enumerate(rows):
        scores[i, list(row)] = list(row.values())
    return VideoScores(list(data["results"]), list(index), scores)


# --------------------------------------------------------------------------- writing


def write_video_scores(path: str | os.PathLike, vs: VideoScores, top_k: int | None = None,
                       version: str = "VERSION 1.3") -> None:
    """Write ``vs`` in the CUHK'17 layout, atomically: each video's listed classes by descending score
    (ties: class order), only the ``top_k`` best when given; NaN scores (not listed) are left out."""
    order = np.argsort(-np.where(np.isnan(vs.scores), -np.inf, vs.scores), axis=1, kind="stable")
    if top_k is not None:
        order = order[:, :top_k]
    results = {}
    for video, cols, row in zip(vs.videos, order.tolist(), vs.scores):
        results[video] = [{"label": vs.classes[c], "score": float(row[c])} for c in cols if not np.isnan(row[c])]
    atomic_write_json(path, {"version": version, "results": results, "external_data": {}}, indent=None)
