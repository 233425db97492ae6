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
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

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
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")


class AnnotationError(ValueError):
    """Malformed annotation input; the message names the file (and line)."""


def _frame(rows, columns) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    for col in ("t_start", "t_end", "duration"):
        if col in df:
            df[col] = df[col].astype(np.float64)
    if "label" in df:
        df["label"] = df["label"].astype(np.int64)
    return df


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
        keep = self.videos["subset"] == names[0]
        vids = set(self.videos.loc[keep, "video"])
        return AnnotationDB(
            classes=self.classes, class_ids=self.class_ids, avoid=self.avoid,
            name=f"{self.name}[{names[0]}]",
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


def read_class_list(path: str | os.PathLike) -> tuple[list[int], list[str]]:
    """Read ``detclasslist.txt`` (lines ``<official id> <name>``) -> (ids, names) in file order."""
    ids, names = [], []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[0].isdigit():
            raise AnnotationError(f"{path}:{lineno}: expected '<id> <ClassName>', got {line!r}")
        ids.append(int(parts[0]))
        names.append(parts[1])
    return ids, names


def read_durations(path: str | os.PathLike) -> dict[str, float]:
    """Read a THUMOS14 duration list: alternating lines ``<video file or path>`` / ``<seconds>``.

    Returns video id (file stem) -> duration in seconds.
    """
    lines = [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if len(lines) % 2:
        raise AnnotationError(f"{path}: odd number of lines; expected pairs of video name and duration")
    out = {}
    for k in range(0, len(lines), 2):
        try:
            out[Path(lines[k]).stem] = float(lines[k + 1])
        except ValueError:
            raise AnnotationError(f"{path}:{k + 2}: duration {lines[k + 1]!r} is not a number") from None
    return out


def read_avoid_list(path: str | os.PathLike) -> frozenset[str]:
    """Read an avoid list (lines ``<video id> [<class>]``) -> set of video ids."""
    return frozenset(ln.split()[0] for ln in Path(path).read_text().splitlines() if ln.strip())


def _read_thumos_file(path: Path) -> list[tuple[str, float, float]]:
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise AnnotationError(f"{path}:{lineno}: expected '<video> <t_start> <t_end>', got {line!r}")
        try:
            t_start, t_end = float(parts[1]), float(parts[2])
        except ValueError:
            raise AnnotationError(f"{path}:{lineno}: non-numeric time in {line!r}") from None
        if t_start > t_end:
            raise AnnotationError(f"{path}:{lineno}: t_start {t_start} is after t_end {t_end}")
        rows.append((parts[0], t_start, t_end))
    return rows


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
    """
    annotation_dir = Path(annotation_dir)
    subset = {"val": "validation", "testing": "test"}.get(subset, subset)
    if subset not in THUMOS_SUBSET_SUFFIX:
        raise AnnotationError(f"THUMOS14 subset must be 'validation' or 'test', got {subset!r}")
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
    return AnnotationDB(classes=classes, class_ids=class_ids, videos=videos, instances=instances,
                        ambiguous=ambiguous, avoid=read_avoid_list(avoid) if avoid else frozenset(),
                        name=f"thumos14:{annotation_dir}")


# --------------------------------------------------------------------------- ActivityNet-style JSON


def _taxonomy_leaves(taxonomy: list[dict]) -> list[str]:
    parents = {node.get("parentId") for node in taxonomy}
    return sorted(node["nodeName"] for node in taxonomy if node.get("nodeId") not in parents)


def parse_activitynet(data: dict, source: str, classes: list[str] | None = None) -> AnnotationDB:
    """Build a database from an ActivityNet-layout dict (``database``, optional ``taxonomy``).

    Class order: ``classes`` if given, else the taxonomy's leaves sorted by
    name, else the sorted annotated label names.
    """
    if "database" not in data:
        raise AnnotationError(f"{source}: no 'database' key; expected ActivityNet layout "
                              "{{'database': {{video: {{'subset', 'duration', 'annotations'}}}}}}")
    database = data["database"]
    if classes is None:
        taxonomy = data.get("taxonomy") or []
        classes = _taxonomy_leaves(taxonomy) if taxonomy else sorted(
            {a["label"] for v in database.values() for a in v.get("annotations", [])})
    index = {name: k for k, name in enumerate(classes, 1)}
    vrows, irows = [], []
    for vid, entry in database.items():
        subset = entry.get("subset", "")
        vrows.append((vid, subset, float(entry.get("duration", np.nan))))
        for k, ann in enumerate(entry.get("annotations", [])):
            try:
                t_start, t_end = (float(x) for x in ann["segment"])
                label = index[ann["label"]]
            except KeyError as e:
                raise AnnotationError(f"{source}: video {vid!r} annotation {k}: missing or unknown {e}") from None
            if t_start > t_end:
                raise AnnotationError(f"{source}: video {vid!r} annotation {k}: segment start after end")
            irows.append((vid, t_start, t_end, label, subset))
    return AnnotationDB(classes=list(classes), videos=_frame(vrows, VIDEO_COLUMNS),
                        instances=_frame(irows, INSTANCE_COLUMNS), name=f"activitynet:{source}")


def load_activitynet(path: str | os.PathLike, classes: list[str] | None = None) -> AnnotationDB:
    """Load an ActivityNet v1.2/v1.3 JSON file (also our custom JSON, same layout)."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{path}: invalid JSON ({e})") from None
    return parse_activitynet(data, str(path), classes)


# --------------------------------------------------------------------------- custom datasets


def _probe_durations(video_dir: Path, videos: list[str]) -> dict[str, float]:
    from ops.video import probe_video  # lazy: only custom datasets without durations need OpenCV

    files = {p.stem: p for p in video_dir.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS}
    out = {}
    for vid in videos:
        if vid not in files:
            raise AnnotationError(f"{video_dir}: no video file for {vid!r} (looked for {VIDEO_EXTENSIONS})")
        out[vid] = float(probe_video(files[vid]).duration)
    return out


def _read_custom_csv(path: Path) -> tuple[list[tuple], dict[str, tuple[str, float]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        need = {"video", "t_start", "t_end", "label"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise AnnotationError(f"{path}: header must name the columns {sorted(need)} "
                                  f"(optional: subset, duration); got {reader.fieldnames}")
        rows, videos = [], {}
        for lineno, rec in enumerate(reader, 2):
            try:
                t_start, t_end = float(rec["t_start"]), float(rec["t_end"])
                dur = float(rec["duration"]) if rec.get("duration") else np.nan
            except ValueError:
                raise AnnotationError(f"{path}:{lineno}: non-numeric time in {rec}") from None
            if t_start > t_end:
                raise AnnotationError(f"{path}:{lineno}: t_start {t_start} is after t_end {t_end}")
            subset = rec.get("subset") or "test"
            videos.setdefault(rec["video"], (subset, dur))
            rows.append((rec["video"], t_start, t_end, rec["label"], subset))
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
        db = load_activitynet(path, classes)
    elif path.suffix.lower() == ".csv":
        rows, videos = _read_custom_csv(path)
        classes = list(classes) if classes is not None else sorted({r[3] for r in rows})
        index = {name: k for k, name in enumerate(classes, 1)}
        unknown = sorted({r[3] for r in rows} - set(index))
        if unknown:
            raise AnnotationError(f"{path}: labels {unknown} are not in the class list")
        db = AnnotationDB(
            classes=classes, name=f"custom:{path}",
            videos=_frame([(v, s, d) for v, (s, d) in videos.items()], VIDEO_COLUMNS),
            instances=_frame([(v, s, e, index[lab], sub) for v, s, e, lab, sub in rows], INSTANCE_COLUMNS))
    else:
        raise AnnotationError(f"{path}: custom annotations must be .json (ActivityNet layout) or .csv")
    unknown = db.videos["duration"].isna()
    if unknown.any() and video_dir is not None:
        found = _probe_durations(Path(video_dir), db.videos.loc[unknown, "video"].tolist())
        db.videos.loc[unknown, "duration"] = db.videos.loc[unknown, "video"].map(found)
    return db


def to_activitynet_json(db: AnnotationDB, version: str = "custom") -> dict:
    """Export ``db`` in the ActivityNet layout (flat taxonomy, one node per class)."""
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None}]
    taxonomy += [{"nodeId": k, "nodeName": name, "parentId": 0, "parentName": "Root"}
                 for k, name in enumerate(db.classes, 1)]
    gt = db.ground_truth()
    database = {}
    for vid, subset, duration in db.videos[VIDEO_COLUMNS].itertuples(index=False):
        bounds, labels = gt[vid]
        database[vid] = {
            "subset": subset, "duration": None if np.isnan(duration) else float(duration),
            "annotations": [{"segment": [float(s), float(e)], "label": db.classes[lab - 1]}
                            for (s, e), lab in zip(bounds.tolist(), labels.tolist())],
        }
    return {"version": version, "taxonomy": taxonomy, "database": database}


# --------------------------------------------------------------------------- one entry point


def _find_near(folder: Path, *names: str) -> Path | None:
    """The first of ``names`` found in ``folder`` or its parent."""
    for root in (folder, folder.parent):
        for name in names:
            if (root / name).is_file():
                return root / name
    return None


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
        sub = {"val": "validation", "testing": "test", "train": "validation"}.get(subset, subset)
        if sub not in THUMOS_SUBSET_SUFFIX:
            raise AnnotationError(f"{path}: THUMOS14 subset must be 'validation' or 'test', got {subset!r}")
        folder = path / f"temporal_annotations_{sub}"
        folder = folder if folder.is_dir() else path
        durations = _find_near(folder, f"{sub}_durations.txt", f"th14_{THUMOS_SUBSET_SUFFIX[sub]}_durations.txt")
        if durations is None:
            logger.warning("%s: no duration list found beside it; durations are unknown", folder)
        db = load_thumos14(folder, sub, class_list=_find_near(folder, "detclasslist.txt"), durations=durations,
                           avoid=_find_near(folder, f"{sub}_avoid_videos.txt"))
        return db
    if not path.is_file():
        raise FileNotFoundError(f"annotations {path} do not exist")
    return load_custom(path, video_dir, classes).select(subset)
