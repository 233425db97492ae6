"""Annotation databases: THUMOS14, ActivityNet v1.2/v1.3 and custom datasets.

Every loader returns an :class:`AnnotationDB`.  Conventions (the same in every
stage):

- times are seconds (``t_start``/``t_end``); frames appear only through
  :func:`ops.temporal.seconds_to_frames` and friends;
- ``label`` is 1-based: class ``k`` of ``db.classes`` (0-based list index
  ``k - 1``) has label ``k``; label 0 is background, as in proposal lists;
- class order: THUMOS14 follows ``detclasslist.txt`` (ascending official ids:
  BaseballPitch = label 1 ... VolleyballSpiking = label 20); ActivityNet
  sorts the taxonomy's leaf names alphabetically (or the preset's/user's
  class list when given); custom datasets use the given class list or the
  sorted label names;
- subsets keep each dataset's names (THUMOS14: ``validation``/``test``;
  ActivityNet: ``training``/``validation``/``testing``); :meth:`AnnotationDB.select`
  also accepts the aliases ``train``, ``val``, ``test``.
"""
from __future__ import annotations

import csv
import io
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ops.errors import InputError
from ops.io import atomic_write_json, atomic_write_text, json_number, parse_number, read_json, read_text

logger = logging.getLogger(__name__)

VIDEO_COLUMNS = ["video", "subset", "duration"]
INSTANCE_COLUMNS = ["video", "t_start", "t_end", "label", "subset"]
AMBIGUOUS_COLUMNS = ["video", "t_start", "t_end"]
SUBSET_ALIASES = {
    "train": ("training", "train", "validation"), "training": ("training", "train"),
    "val": ("validation", "val"), "validation": ("validation", "val"),
    "test": ("test", "testing"), "testing": ("testing", "test"),
}
THUMOS_SUBSET_SUFFIX = {"validation": "val", "test": "test"}


class AnnotationError(InputError):
    """Malformed annotation input; the message names the file (and line)."""


def _frame(rows, columns) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    for col in ("t_start", "t_end", "duration"):
        if col in df:
            df[col] = df[col].astype(np.float64)
    if "label" in df:
        df["label"] = df["label"].astype(np.int64)
    return df


# --------------------------------------------------------------------------- checking values read from files
# ``where`` names the place in the input ("file:line", or "file: video 'v'") so every message points at it.


MAX_DURATION = 1e7   # seconds; larger values are typos, and overflow the frame arithmetic downstream


def _read_text(path: str | os.PathLike) -> str:
    """The UTF-8 text of an annotation file (BOM dropped); a binary or mis-encoded file is an AnnotationError."""
    return read_text(path, AnnotationError)


def _number(value, where: str, what: str) -> float:
    """``value`` (text, or a JSON number: not ``true``) as a finite float."""
    try:
        x = parse_number(value) if isinstance(value, str) else json_number(value)
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: non-numeric {what} {value!r}; expected a number of seconds, "
                              "e.g. 12.5") from None
    if not math.isfinite(x):
        raise AnnotationError(f"{where}: {what} {value!r} is not a finite number of seconds")
    return x


def _segment(t_start, t_end, where: str) -> tuple[float, float]:
    """A checked segment in seconds: finite, ``0 <= t_start <= t_end``."""
    s, e = _number(t_start, where, "t_start"), _number(t_end, where, "t_end")
    if s < 0:
        raise AnnotationError(f"{where}: t_start {s} is negative; times are seconds from the video's start")
    if s > e:
        raise AnnotationError(f"{where}: t_start {s} is after t_end {e}")
    return s, e


def _duration(value, where: str) -> float:
    """A checked video duration in seconds (finite, > 0)."""
    d = _number(value, where, "duration")
    if not 0 < d < MAX_DURATION:
        raise AnnotationError(f"{where}: duration {d} must be a positive number of seconds, below "
                              f"{MAX_DURATION:.0f} (116 days)")
    return d


def _warn_past_end(db: "AnnotationDB") -> None:
    """Log (not reject) instances ending after their video's duration: real THUMOS14 files have some."""
    merged = db.instances.merge(db.videos[["video", "duration"]], on="video")
    late = merged[merged["t_end"] > merged["duration"]]
    if len(late):
        logger.warning("%s: %d instances in %d videos end after the video's duration (e.g. %s); kept as annotated",
                       db.name, len(late), late["video"].nunique(), late["video"].iloc[0])


@dataclass
class AnnotationDB:
    """Ground truth of a dataset.

    Attributes:
        classes: class names; ``classes[k - 1]`` has label ``k``.
        class_ids: official ids aligned with ``classes`` (THUMOS14), else None.
        videos: one row per known video: ``video`` (id), ``subset``, ``duration``
            (seconds, NaN when unknown).  Includes videos without annotations.
        instances: one row per action instance: ``video``, ``t_start``,
            ``t_end`` (seconds), ``label`` (1-based), ``subset``.
        ambiguous: THUMOS14 ``Ambiguous`` segments (``video``, ``t_start``,
            ``t_end``), kept apart from the classes; empty elsewhere.
        avoid: video ids listed in an avoid list (known bad annotations).
        name: a short description for logs.
    """

    classes: list[str]
    videos: pd.DataFrame
    instances: pd.DataFrame
    ambiguous: pd.DataFrame = field(default_factory=lambda: _frame([], AMBIGUOUS_COLUMNS))
    class_ids: list[int] | None = None
    avoid: frozenset[str] = frozenset()
    name: str = ""

    @classmethod
    def from_rows(cls, classes: list[str], videos: list[tuple], instances: list[tuple],
                  class_ids: list[int] | None = None, name: str = "", ambiguous: list[tuple] = (),
                  avoid: frozenset[str] = frozenset()) -> "AnnotationDB":
        """Build from plain rows: videos ``(video, subset, duration s)``, instances
        ``(video, t_start s, t_end s, label 1-based, subset)``, ambiguous ``(video, t_start s, t_end s)``."""
        return cls(classes=list(classes), class_ids=class_ids, name=name, avoid=frozenset(avoid),
                   videos=_frame(videos, VIDEO_COLUMNS), instances=_frame(instances, INSTANCE_COLUMNS),
                   ambiguous=_frame(list(ambiguous), AMBIGUOUS_COLUMNS))

    @classmethod
    def without_instances(cls, durations: dict[str, float], subset: str, classes: list[str], name: str = ""
                          ) -> "AnnotationDB":
        """Known videos (id -> duration in seconds) of one subset and no ground truth, e.g. new videos."""
        videos = _frame([(v, subset, float(d)) for v, d in durations.items()], VIDEO_COLUMNS)
        return cls(classes=list(classes), videos=videos, instances=_frame([], INSTANCE_COLUMNS), name=name)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def video_ids(self) -> list[str]:
        return self.videos["video"].tolist()

    def select(self, subset: str | None) -> "AnnotationDB":
        """Restrict to one subset (aliases accepted); None keeps everything."""
        if subset is None:
            return self
        present = set(self.videos["subset"])
        names = [s for s in SUBSET_ALIASES.get(subset, (subset,)) if s in present]
        if not names:
            raise AnnotationError(f"{self.name}: no subset {subset!r}; this database has {sorted(present)}")
        return self._restricted(self.videos["subset"] == names[0], f"{self.name}[{names[0]}]")

    def select_videos(self, videos) -> "AnnotationDB":
        """Restrict to ``videos`` (e.g. training videos held out for validation)."""
        return self._restricted(self.videos["video"].isin(set(videos)), f"{self.name}[{len(set(videos))} videos]")

    def _restricted(self, keep: pd.Series, name: str) -> "AnnotationDB":
        vids = set(self.videos.loc[keep, "video"])
        return AnnotationDB(
            classes=self.classes, class_ids=self.class_ids, avoid=self.avoid, name=name,
            videos=self.videos[keep].reset_index(drop=True),
            instances=self.instances[self.instances["video"].isin(vids)].reset_index(drop=True),
            ambiguous=self.ambiguous[self.ambiguous["video"].isin(vids)].reset_index(drop=True),
        )

    def duration(self, video: str) -> float:
        """Duration of ``video`` in seconds (NaN when unknown); KeyError if unknown video."""
        rows = self.videos.loc[self.videos["video"] == video, "duration"]
        if rows.empty:
            raise KeyError(f"video {video!r} is not in {self.name}")
        return float(rows.iloc[0])

    def require_durations(self, videos: list[str], leave_out: str | None = None) -> dict[str, float]:
        """Durations (s) of ``videos``, in their order; InputError naming those whose duration is unknown (NaN)
        or not positive, and how to give one (``leave_out``: the calling stage's flag that leaves videos out,
        suggested as well).  One lookup for all videos, not :meth:`duration` per video."""
        durations = self.videos.drop_duplicates("video").set_index("video")["duration"].reindex(videos)
        bad = durations[~(durations > 0)]                                   # NaN compares False
        if len(bad):
            also = f", or leave those videos out ({leave_out})" if leave_out else ""
            raise InputError(f"{self.name}: no positive duration for {len(bad)} video(s), e.g. "
                             f"{list(bad.items())[:3]}; give annotations with durations (THUMOS14: a "
                             "<subset>_durations.txt beside them; a custom CSV: a duration column, or --video_dir "
                             f"to read them from the video files){also}")
        return {v: float(d) for v, d in durations.items()}

    def ground_truth(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Map video id -> (bounds (G, 2) seconds, labels (G,) 1-based), for every video."""
        out = {v: (np.zeros((0, 2)), np.zeros(0, np.int64)) for v in self.videos["video"]}
        for vid, grp in self.instances.groupby("video", sort=False):
            out[vid] = (grp[["t_start", "t_end"]].to_numpy(np.float64), grp["label"].to_numpy(np.int64))
        return out

    def class_label(self, name: str) -> int:
        """1-based label of class ``name``."""
        try:
            return self.classes.index(name) + 1
        except ValueError:
            raise KeyError(f"unknown class {name!r}; known: {self.classes}") from None


# --------------------------------------------------------------------------- THUMOS14


def _lines(path: str | os.PathLike) -> list[tuple[int, list[str]]]:
    """(1-based line number, whitespace-split fields) of every non-blank line of ``path``."""
    return [(n, line.split()) for n, line in enumerate(_read_text(path).splitlines(), 1) if line.strip()]


def read_class_list(path: str | os.PathLike) -> tuple[list[int], list[str]]:
    """Read ``detclasslist.txt`` (lines ``<official id> <name>``) -> (ids, names) in file order."""
    ids, names = [], []
    for lineno, parts in _lines(path):
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(f"{path}:{lineno}: expected '<id> <ClassName>', got {' '.join(parts)!r}")
        if int(parts[0]) in ids or parts[1] in names:
            raise AnnotationError(f"{path}:{lineno}: class id or name of {' '.join(parts)!r} is listed twice; "
                                  "each class needs its own id and name")
        ids.append(int(parts[0]))
        names.append(parts[1])
    if not names:
        raise AnnotationError(f"{path}: no classes; expected lines '<id> <ClassName>'")
    return ids, names


def read_durations(path: str | os.PathLike) -> dict[str, float]:
    """Read a THUMOS14 duration list: alternating lines ``<video file or path>`` / ``<seconds>``.

    Returns video id (file stem) -> duration in seconds (finite, > 0).
    """
    lines = _lines(path)
    if len(lines) % 2:
        raise AnnotationError(f"{path}: odd number of lines; expected pairs of video name and duration")
    out, where = {}, {}
    for (_, name), (lineno, value) in zip(lines[::2], lines[1::2]):
        if len(value) != 1:
            raise AnnotationError(f"{path}:{lineno}: expected one duration in seconds after the line naming "
                                  f"{' '.join(name)!r}, got {' '.join(value)!r}")
        video, duration = Path(" ".join(name)).stem, _duration(value[0], f"{path}:{lineno}")
        if video in out and out[video] != duration:
            raise AnnotationError(f"{path}:{lineno}: video {video!r} has duration {duration}, but line "
                                  f"{where[video]} gives {out[video]}; keep one")
        out[video], where[video] = duration, lineno
    return out


def read_avoid_list(path: str | os.PathLike) -> frozenset[str]:
    """Read an avoid list (lines ``<video id> [<class>]``) -> set of video ids."""
    out = set()
    for lineno, parts in _lines(path):
        if len(parts) > 2:
            raise AnnotationError(f"{path}:{lineno}: expected '<video id> [<ClassName>]', got {' '.join(parts)!r}")
        out.add(parts[0])
    return frozenset(out)


def _read_thumos_file(path: Path) -> list[tuple[str, float, float]]:
    """Rows ``(video, t_start, t_end)`` (seconds) of one ``<Class>_<val|test>.txt`` file."""
    rows, seen = [], {}
    for lineno, parts in _lines(path):
        if len(parts) != 3:
            raise AnnotationError(f"{path}:{lineno}: expected '<video> <t_start> <t_end>', got {' '.join(parts)!r}")
        row = (parts[0], *_segment(parts[1], parts[2], f"{path}:{lineno}"))
        if row in seen:
            raise AnnotationError(f"{path}:{lineno}: the same instance as line {seen[row]}; remove one (a "
                                  "duplicate counts twice in evaluation)")
        seen[row] = lineno
        rows.append(row)
    return rows


def _thumos_subset(subset: str, where: str | os.PathLike) -> str:
    """THUMOS14's subset name (``validation``/``test``) of ``subset`` or one of its aliases; ``where``: the
    annotations, named in the error."""
    name = {"val": "validation", "testing": "test"}.get(subset, subset)
    if name not in THUMOS_SUBSET_SUFFIX:
        raise AnnotationError(f"{where}: THUMOS14 subset must be 'validation' or 'test', got {subset!r}")
    return name


def load_thumos14(annotation_dir: str | os.PathLike, subset: str, class_list: str | os.PathLike | None = None,
                  durations: str | os.PathLike | None = None, avoid: str | os.PathLike | None = None
                  ) -> AnnotationDB:
    """Load a THUMOS14 temporal-annotation folder (``<Class>_<val|test>.txt`` files).

    Args:
        annotation_dir: e.g. ``temporal_annotations_test``.
        subset: ``validation`` or ``test`` (names the files' suffix and the subset column).
        class_list: ``detclasslist.txt``; without it the classes are the sorted
            file names (``Ambiguous`` excluded) and ``class_ids`` is None.
        durations: a duration list; its videos are included even when they have
            no annotation, and their durations are filled in.
        avoid: an avoid list (``<video> <class>`` lines).

    Instances ending after their video's duration (real THUMOS14 has a few) are
    kept, with a warning.
    """
    annotation_dir = Path(annotation_dir)
    subset = _thumos_subset(subset, annotation_dir)
    suffix = THUMOS_SUBSET_SUFFIX[subset]
    files = {p.name[: -len(f"_{suffix}.txt")]: p for p in sorted(annotation_dir.glob(f"*_{suffix}.txt"))}
    if not files:
        raise AnnotationError(f"{annotation_dir}: no '*_{suffix}.txt' annotation files; "
                              f"is this a THUMOS14 temporal_annotations_{subset} folder?")
    if class_list is not None:
        class_ids, classes = read_class_list(class_list)
    else:
        class_ids, classes = None, sorted(c for c in files if c != "Ambiguous")
    missing = [c for c in classes if c not in files]
    if missing:
        raise AnnotationError(f"{annotation_dir}: no annotation file for classes {missing}")
    rows = [(v, s, e, label, subset) for label, name in enumerate(classes, 1)
            for v, s, e in _read_thumos_file(files[name])]
    instances = _frame(rows, INSTANCE_COLUMNS)
    ambiguous = _frame(_read_thumos_file(files["Ambiguous"]) if "Ambiguous" in files else [], AMBIGUOUS_COLUMNS)
    dur = read_durations(durations) if durations is not None else {}
    vids = list(dict.fromkeys(list(instances["video"]) + list(ambiguous["video"]) + list(dur)))
    videos = _frame([(v, subset, dur.get(v, np.nan)) for v in sorted(vids)], VIDEO_COLUMNS)
    db = AnnotationDB(classes=classes, class_ids=class_ids, videos=videos, instances=instances,
                      ambiguous=ambiguous, avoid=read_avoid_list(avoid) if avoid else frozenset(),
                      name=f"thumos14:{annotation_dir}")
    _warn_past_end(db)
    return db


def _check_thumos_names(db: AnnotationDB, subset_db: AnnotationDB) -> None:
    """Class names and video ids must be single words: THUMOS14 lines are split on whitespace."""
    names = list(db.classes) + list(subset_db.videos["video"])
    bad = [n for n in names if not n or len(n.split()) != 1 or "/" in n or n != n.strip()]
    if bad:
        raise AnnotationError(f"{db.name}: {bad[:3]} cannot be written in the THUMOS14 layout (names there are "
                              "single words without '/'); write the ActivityNet JSON instead")


def _segment_lines(video, t_start, t_end, decimals: int) -> str:
    """THUMOS14 annotation lines ``<video>  <t_start> <t_end>`` (seconds, ``decimals`` decimals)."""
    return "".join(f"{v}  {s:.{decimals}f} {e:.{decimals}f}\n" for v, s, e in zip(video, t_start, t_end))


def write_thumos14(db: AnnotationDB, out_dir: str | os.PathLike, subset: str, *, decimals: int = 2,
                   video_ext: str = ".mp4") -> None:
    """Write ``subset`` of ``db`` in the THUMOS14 layout that :func:`load_annotations` reads back.

    Files, each written atomically (``sfx`` is ``val`` or ``test``)::

        out_dir/temporal_annotations_<subset>/<Class>_<sfx>.txt  '<video>  <t_start> <t_end>' lines, one file per class
        out_dir/temporal_annotations_<subset>/Ambiguous_<sfx>.txt  db.ambiguous (may be empty)
        out_dir/detclasslist.txt                                 '<id> <Class>' (class_ids, else 1..K)
        out_dir/<subset>_durations.txt                           '<video><video_ext>' / '<seconds>' line pairs
        out_dir/<subset>_avoid_videos.txt                        only when db.avoid names videos of the subset

    Times are written with ``decimals`` decimals (THUMOS14's own files use 1;
    2 keeps times of frames at 10, 20, 25 or 50 fps exact); durations with 6.
    Every video of the subset needs a known duration.
    """
    out_dir = Path(out_dir)
    subset = _thumos_subset(subset, out_dir)
    sub = db.select(subset)
    _check_thumos_names(db, sub)
    unknown = sub.videos.loc[sub.videos["duration"].isna(), "video"].tolist()
    if unknown:
        raise AnnotationError(f"{db.name}: no duration for videos {unknown[:3]} ({len(unknown)} in all); "
                              "a THUMOS14 duration list needs every video's duration")
    folder, suffix = out_dir / f"temporal_annotations_{subset}", THUMOS_SUBSET_SUFFIX[subset]
    for label, name in enumerate(db.classes, 1):
        rows = sub.instances[sub.instances["label"] == label]
        atomic_write_text(folder / f"{name}_{suffix}.txt",
                          _segment_lines(rows["video"], rows["t_start"], rows["t_end"], decimals))
    amb = sub.ambiguous
    atomic_write_text(folder / f"Ambiguous_{suffix}.txt",
                      _segment_lines(amb["video"], amb["t_start"], amb["t_end"], decimals))
    ids = db.class_ids if db.class_ids is not None else range(1, db.num_classes + 1)
    atomic_write_text(out_dir / "detclasslist.txt", "".join(f"{k} {n}\n" for k, n in zip(ids, db.classes)))
    atomic_write_text(out_dir / f"{subset}_durations.txt", "".join(
        f"{v}{video_ext}\n{d:.6f}\n" for v, d in sub.videos[["video", "duration"]].itertuples(index=False)))
    avoid = sorted(db.avoid & set(sub.videos["video"]))
    if avoid:
        atomic_write_text(out_dir / f"{subset}_avoid_videos.txt", "".join(f"{v}\n" for v in avoid))


# --------------------------------------------------------------------------- ActivityNet-style JSON


def _taxonomy_leaves(taxonomy: list[dict], source: str) -> list[str]:
    """Names of the taxonomy's leaf nodes (the classes), sorted."""
    try:
        parents = {node.get("parentId") for node in taxonomy}
        return sorted(node["nodeName"] for node in taxonomy if node.get("nodeId") not in parents)
    except (AttributeError, KeyError, TypeError):
        raise AnnotationError(f"{source}: 'taxonomy' must be a list of nodes "
                              "{'nodeId', 'nodeName', 'parentId'}") from None


def _video_entry(vid: str, entry, where: str) -> tuple[tuple, list[tuple]]:
    """One ``database`` entry -> video row ``(video, subset, duration)`` and annotation rows
    ``(video, t_start, t_end, label name, subset, index in the entry)``; a null duration is unknown (NaN)."""
    if not isinstance(entry, dict):
        raise AnnotationError(f"{where}: expected an object {{'subset', 'duration', 'annotations'}}, "
                              f"got {entry!r}")
    subset = entry.get("subset")
    if not isinstance(subset, str) or not subset:
        raise AnnotationError(f"{where}: 'subset' must name the video's subset (e.g. \"training\"), got {subset!r}")
    duration = np.nan if entry.get("duration") is None else _duration(entry["duration"], where)
    annotations = entry.get("annotations", [])
    if not isinstance(annotations, list):
        raise AnnotationError(f"{where}: 'annotations' must be a list, got {annotations!r}")
    rows = []
    for k, ann in enumerate(annotations):
        at = f"{where} annotation {k}"
        segment = ann.get("segment") if isinstance(ann, dict) else None
        if not isinstance(segment, (list, tuple)) or len(segment) != 2:
            raise AnnotationError(f"{at}: segment {segment!r} is not a [t_start, t_end] pair of seconds")
        if not isinstance(ann.get("label"), str):
            raise AnnotationError(f"{at}: label {ann.get('label')!r} is not a class name")
        row = (vid, *_segment(*segment, at), ann["label"], subset, k)
        twin = next((r for r in rows if r[:4] == row[:4]), None)
        if twin is not None:
            raise AnnotationError(f"{at}: the same instance as annotation {twin[5]}; remove one (a duplicate "
                                  "counts twice in evaluation)")
        rows.append(row)
    return (vid, subset, duration), rows


def parse_activitynet(data: dict, source: str, classes: list[str] | None = None) -> AnnotationDB:
    """Build a database from an ActivityNet-layout dict (``database``, optional ``taxonomy``).

    Class order: ``classes`` if given, else the taxonomy's leaves sorted by
    name, else the sorted annotated label names.  Instances past their video's
    end are not reported here: :func:`load_activitynet` and :func:`load_custom`
    do, once every duration is known.
    """
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise AnnotationError(f"{source}: no 'database' object; expected ActivityNet layout "
                              "{'database': {video: {'subset', 'duration', 'annotations'}}}")
    vrows, raw = [], []
    for vid, entry in database.items():
        vrow, rows = _video_entry(vid, entry, f"{source}: video {vid!r}")
        vrows.append(vrow)
        raw += rows
    if classes is None:
        taxonomy = data.get("taxonomy") or []
        classes = _taxonomy_leaves(taxonomy, source) if taxonomy else sorted({r[3] for r in raw})
    index = {name: k for k, name in enumerate(classes, 1)}
    unknown = [r for r in raw if r[3] not in index]
    if unknown:
        vid, name, k = unknown[0][0], unknown[0][3], unknown[0][5]
        raise AnnotationError(f"{source}: video {vid!r} annotation {k}: label {name!r} is not a known class "
                              f"({len(unknown)} such annotations); known: {list(classes)[:10]}"
                              f"{' ...' if len(classes) > 10 else ''}")
    db = AnnotationDB.from_rows(classes, vrows, [(v, s, e, index[n], sub) for v, s, e, n, sub, _ in raw],
                                name=f"activitynet:{source}")
    return db


def load_activitynet(path: str | os.PathLike, classes: list[str] | None = None) -> AnnotationDB:
    """Load an ActivityNet v1.2/v1.3 JSON file (also our custom JSON, same layout)."""
    db = parse_activitynet(_read_json(path), str(path), classes)
    _warn_past_end(db)
    return db


def _read_json(path: Path):
    """The JSON value in ``path``; AnnotationError naming the file if it is not JSON or repeats a key."""
    return read_json(path, AnnotationError)


def to_activitynet_json(db: AnnotationDB, version: str = "custom", video_fields: dict[str, dict] | None = None
                        ) -> dict:
    """Export ``db`` in the ActivityNet layout (flat taxonomy, one node per class).

    Times and durations in seconds; an unknown (NaN) duration becomes null.
    ``video_fields`` maps a video id to extra keys of its entry (e.g.
    ``{"fps": 10}``), placed between ``duration`` and ``annotations``.
    """
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None}]
    taxonomy += [{"nodeId": k, "nodeName": name, "parentId": 0, "parentName": "Root"}
                 for k, name in enumerate(db.classes, 1)]
    gt, extra = db.ground_truth(), video_fields or {}
    database = {}
    for vid, subset, duration in db.videos[VIDEO_COLUMNS].itertuples(index=False):
        bounds, labels = gt[vid]
        database[vid] = {
            "subset": subset, "duration": None if np.isnan(duration) else float(duration), **extra.get(vid, {}),
            "annotations": [{"segment": [float(s), float(e)], "label": db.classes[lab - 1]}
                            for (s, e), lab in zip(bounds.tolist(), labels.tolist())],
        }
    return {"version": version, "taxonomy": taxonomy, "database": database}


def write_activitynet(db: AnnotationDB, path: str | os.PathLike, version: str = "custom",
                      video_fields: dict[str, dict] | None = None) -> None:
    """Write ``db`` as an ActivityNet-layout JSON file (:func:`to_activitynet_json`), atomically."""
    atomic_write_json(path, to_activitynet_json(db, version, video_fields))


# --------------------------------------------------------------------------- custom datasets


def _probe_durations(video_dir: Path, videos: list[str]) -> dict[str, float]:
    """Duration in seconds of each of ``videos``, read from its file in ``video_dir`` (file stem = video id)."""
    from ops.video.video import VIDEO_EXTS, probe_video  # lazy: only custom datasets without durations need OpenCV

    files = {p.stem: p for p in video_dir.iterdir() if p.suffix.lower().lstrip(".") in VIDEO_EXTS}
    out = {}
    for vid in videos:
        if vid not in files:
            raise AnnotationError(f"{video_dir}: no video file for {vid!r} (looked for {VIDEO_EXTS}); "
                                  "give its duration (seconds) in the annotations instead")
        duration = float(probe_video(files[vid]).duration)
        if not duration > 0:
            raise AnnotationError(f"{files[vid]}: the container reports no frame count or frame rate, so the "
                                  f"duration of {vid!r} is unknown; give it (seconds) in the annotations")
        out[vid] = duration
    return out


def _csv_record(rec: dict, columns: list[str], where: str) -> tuple[str, float, float, str, str, float]:
    """One CSV record -> ``(video, t_start, t_end, label, subset, duration)``; seconds, duration NaN if empty."""
    if None in rec or None in rec.values():          # DictReader's marks of too many / too few fields
        n = len(columns) + len(rec[None]) if None in rec else sum(v is not None for v in rec.values())
        raise AnnotationError(f"{where}: {n} fields, but the header names {len(columns)} columns {columns}; "
                              "give one value per column (quote values that contain commas)")
    for col in ("video", "label"):
        if not rec[col].strip():
            raise AnnotationError(f"{where}: empty {col!r}; every row needs a video id and a label")
    t_start, t_end = _segment(rec["t_start"], rec["t_end"], where)
    duration = _duration(rec["duration"], where) if (rec.get("duration") or "").strip() else np.nan
    return rec["video"], t_start, t_end, rec["label"], rec.get("subset") or "test", duration


def _read_custom_csv(path: Path) -> tuple[list[tuple], dict[str, tuple[str, float, int]]]:
    """Instance rows ``(video, t_start, t_end, label name, subset, line)`` and video -> (subset, duration,
    line).  A video's rows must agree on its subset and duration, and no instance may be listed twice."""
    reader = csv.DictReader(io.StringIO(_read_text(path)))
    need = {"video", "t_start", "t_end", "label"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise AnnotationError(f"{path}: header must name the columns {sorted(need)} "
                              f"(optional: subset, duration); got {reader.fieldnames}")
    rows, videos, seen = [], {}, {}
    for rec in reader:
        line = reader.line_num
        video, t_start, t_end, label, subset, duration = _csv_record(rec, reader.fieldnames, f"{path}:{line}")
        first = videos.setdefault(video, (subset, duration, line))
        if first[0] != subset or not (first[1] == duration or (np.isnan(first[1]) and np.isnan(duration))):
            raise AnnotationError(f"{path}:{line}: video {video!r} has subset {subset!r}, duration {duration}, "
                                  f"but line {first[2]} gives {first[0]!r}, {first[1]}; make them agree")
        key = (video, t_start, t_end, label)
        if key in seen:
            raise AnnotationError(f"{path}:{line}: the same instance as line {seen[key]}; remove one (a "
                                  "duplicate counts twice in evaluation)")
        seen[key] = line
        rows.append((video, t_start, t_end, label, subset, line))
    return rows, videos


def load_custom(path: str | os.PathLike, video_dir: str | os.PathLike | None = None,
                classes: list[str] | None = None) -> AnnotationDB:
    """Load a user's own annotations: ActivityNet-style JSON, or CSV.

    The CSV has a header with ``video,t_start,t_end,label`` and optionally
    ``subset`` (default ``test``) and ``duration`` (seconds).  Missing durations
    are read from the videos in ``video_dir`` (file stem = video id).
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        db = parse_activitynet(_read_json(path), str(path), classes)
    elif path.suffix.lower() == ".csv":
        rows, videos = _read_custom_csv(path)
        classes = list(classes) if classes is not None else sorted({r[3] for r in rows})
        index = {name: k for k, name in enumerate(classes, 1)}
        unknown = [r for r in rows if r[3] not in index]
        if unknown:
            raise AnnotationError(f"{path}:{unknown[0][5]}: label {unknown[0][3]!r} is not one of the dataset's "
                                  f"classes {classes[:10]}{' ...' if len(classes) > 10 else ''} "
                                  f"({len(unknown)} such rows)")
        db = AnnotationDB.from_rows(classes, [(v, s, d) for v, (s, d, _) in videos.items()],
                                    [(v, s, e, index[lab], sub) for v, s, e, lab, sub, _ in rows],
                                    name=f"custom:{path}")
    else:
        raise AnnotationError(f"{path}: custom annotations must be .json (ActivityNet layout) or .csv")
    unknown = db.videos["duration"].isna()
    if unknown.any() and video_dir is not None:
        found = _probe_durations(Path(video_dir), db.videos.loc[unknown, "video"].tolist())
        db.videos.loc[unknown, "duration"] = db.videos.loc[unknown, "video"].map(found)
    _warn_past_end(db)                               # once the durations read from the videos are in
    return db


# --------------------------------------------------------------------------- one entry point


def load_dataset_annotations(preset: dict, path: str | os.PathLike, subset: str | None = None,
                             video_dir: str | os.PathLike | None = None) -> AnnotationDB:
    """:func:`load_annotations` with the dataset preset's classes: every stage numbers the classes the same
    way (label k = the preset's k-th class), whatever classes a custom file happens to contain, and a label
    outside them is an error naming the file and line.  A preset without ``classes`` keeps the annotations'
    own (sorted names, or THUMOS14's ``detclasslist.txt``), which must then count ``num_classes``.
    """
    db = load_annotations(path, subset, video_dir=video_dir, classes=preset.get("classes"))
    if "num_classes" in preset and len(db.classes) != preset["num_classes"]:
        raise AnnotationError(f"{path}: {len(db.classes)} classes, but the dataset preset {preset.get('name')!r} "
                              f"has {preset['num_classes']}; list the preset's 'classes', or give this dataset's "
                              "annotations")
    return db


def _find_near(folder: Path, *names: str) -> Path | None:
    """The first of ``names`` found in ``folder`` or its parent."""
    for root in (folder, folder.parent):
        for name in names:
            if (root / name).is_file():
                return root / name
    return None


def add_video_dir_arg(parser) -> None:
    """``--video_dir`` of the scripts that need video durations (see :func:`load_custom`)."""
    parser.add_argument("--video_dir", type=Path, default=None,
                        help="folder of the video files: durations a custom CSV lacks are read from them")


def load_annotations(path: str | os.PathLike, subset: str | None = None, video_dir: str | os.PathLike | None = None,
                     classes: list[str] | None = None) -> AnnotationDB:
    """Load any supported annotation source and select ``subset``.

    ``path`` may be:

    - a THUMOS14-layout folder: either the root holding
      ``temporal_annotations_<subset>/`` (as the synthetic generator writes)
      or that folder itself; ``detclasslist.txt`` and
      ``<subset>_durations.txt`` are looked up beside it or in its parent;
    - an ActivityNet-layout ``.json`` (v1.2, v1.3, or custom);
    - a custom ``.csv`` (see :func:`load_custom`); ``video_dir`` supplies
      missing durations.
    """
    path = Path(path)
    if path.is_dir():
        if subset is None:
            raise AnnotationError(f"{path}: a THUMOS14 annotation folder needs a subset (validation or test)")
        sub = _thumos_subset("validation" if subset == "train" else subset, path)   # THUMOS14 trains on val
        folder = path / f"temporal_annotations_{sub}"
        folder = folder if folder.is_dir() else path
        durations = _find_near(folder, f"{sub}_durations.txt", f"th14_{THUMOS_SUBSET_SUFFIX[sub]}_durations.txt")
        if durations is None:
            logger.warning("%s: no duration list found beside it; durations are unknown", folder)
        db = load_thumos14(folder, sub, class_list=_find_near(folder, "detclasslist.txt"), durations=durations,
                           avoid=_find_near(folder, f"{sub}_avoid_videos.txt"))
        if classes is not None and list(db.classes) != list(classes):
            raise AnnotationError(f"{folder}: classes {db.classes[:5]}... differ from the dataset's "
                                  f"{list(classes)[:5]}... (order matters: label k is the k-th class); give the "
                                  "annotations of this dataset, or a preset whose 'classes' match them")
        return db
    if not path.is_file():
        raise FileNotFoundError(f"annotations {path} do not exist")
    return load_custom(path, video_dir, classes).select(subset)
