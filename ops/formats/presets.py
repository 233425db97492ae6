"""Dataset presets: the per-dataset defaults every stage starts from.

A preset is a JSON file in the repository's ``data/`` folder (found relative
to this package, never the working directory) or any path given by the user.
Keys:

- ``name``, ``description``, ``num_classes``, ``classes`` (optional list),
  ``class_ids`` (optional official ids);
- ``annotation_format``: ``thumos14`` or ``activitynet``;
- ``train_subset`` / ``test_subset``: subset names in the annotations;
- ``sampling``: SSN proposal sampling: ``proposals_per_video``, ``fg_ratio``,
  ``incomplete_ratio``, ``bg_ratio``, ``fg_iou_thresh``,
  ``incomplete_iou_thresh``, ``incomplete_overlap_thresh``,
  ``bg_iou_thresh``, ``bg_coverage_thresh``;
- ``model``: ``stpp`` (parts of the starting, course and ending stages) and
  ``num_segments`` (segments per stage);
- ``augmentation`` (optional): ``flip`` (default true); false when a mirror
  image changes the class (the synthetic dataset's MoveLeft / MoveRight);
- ``evaluation``: ``protocol`` (``thumos14`` or ``activitynet``),
  ``iou_thresholds``, ``top_k``, ``nms_threshold``, ``softmax_before_filter``;
- ``extends`` (optional): the name of a shipped preset whose keys this file
  replaces, top-level key by top-level key (``synthetic_wave`` is
  ``synthetic`` with other classes).

Stages expose these as flags whose default is None and call
:func:`resolve` so a flag given on the command line overrides the preset.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

from ops.errors import InputError
from ops.io import read_json

DATA_DIR = Path(__file__).resolve().parents[2] / "data"  # ops/formats/ -> repository root
REQUIRED_KEYS = ("name", "num_classes", "annotation_format", "train_subset", "test_subset",
                 "sampling", "model", "evaluation")


def list_presets() -> list[str]:
    """Names of the presets shipped in ``data/``."""
    return sorted(p.stem for p in DATA_DIR.glob("*.json"))


def load_preset(name_or_path: str | os.PathLike) -> dict:
    """Load a preset by name (``thumos14``) or from a JSON path.

    Returns a fresh dict (callers may modify it).  Raises ValueError naming the
    known presets when the name is unknown, or the file when it is invalid.
    """
    path = Path(name_or_path)
    if not path.suffix == ".json":
        path = DATA_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise InputError(f"unknown dataset preset {str(name_or_path)!r}: choose one of {list_presets()} "
                         "or give the path of a preset JSON file")
    preset = read_json(path)
    base = preset.pop("extends", None)
    if base is not None:   # a variant of a shipped preset: its keys replace the base's, section by section
        if not isinstance(base, str) or base == path.stem:
            raise InputError(f"{path}: \"extends\" must name another preset, not {base!r}")
        preset = {**load_preset(base), **preset}
    missing = [k for k in REQUIRED_KEYS if k not in preset]
    if missing:
        raise InputError(f"{path}: preset lacks keys {missing}")
    return copy.deepcopy(preset)


def preset_flip(preset: dict) -> bool:
    """Whether training may flip frames horizontally (``augmentation.flip``, default True)."""
    return bool(preset.get("augmentation", {}).get("flip", True))


def resolve(value, default):
    """Return ``value`` if the user gave it (not None), else the preset's ``default``."""
    return default if value is None else value
