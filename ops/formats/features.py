"""Snippet-feature files: one home for every feature layout (ours, csv_mean_100, ActionFormer/OpenTAD).

**Our layout** (written by the extractor, read by BSN/BMN/SSAD)::

    ROOT/<stream>/<video>.npy    (T, C) float32, C-contiguous, finite; row t = snippet t
    ROOT/<stream>/<video>.json   the FeatureRecord (below) as a JSON object

``<stream>`` is ``RGB``, ``Flow`` or ``RGB+Flow`` (both concatenated, RGB columns first).  The ``.json``
is written last (both atomically), so a record on disk always means a complete ``.npy``: a stage killed
half-way leaves at most an ``.npy`` without record, which readers treat as missing.

**The record** (:class:`FeatureRecord`) makes the file describe itself: the video's ``fps`` and
``num_frames``, the snippet geometry (``first_frame``, ``stride``, ``snippet_frames``, ``centre``), what made
it (``backbone``, ``checkpoint``, ``output``, ``input_size``, ``crops``, ``source``) and ``extra``.

**Row <-> seconds** (the one rule; frame ``f`` covers ``[f, f + 1) / fps`` seconds as in
:mod:`ops.temporal`): row ``t`` stands for the instant

    seconds(t) = (first_frame + t * stride + centre) / fps

``first_frame`` is the 0-based frame where snippet 0 starts, ``centre`` the frames from a snippet's start
to its instant: ``snippet_frames / 2`` for a snippet read whole, ``0.5`` for one frame.  Examples:

- ActivityNet TSN ("cuhk", BSN/BMN): first_frame 0, stride 16, snippet_frames 16, centre 8 -> row k at
  ``(16 k + 8) / fps``, BSN's ``st / 2 + k st``.
- Decouple-SSAD RGB (row i reads 0-based frame ``4 i + 1``, file ``img_{4i+2}``): first_frame 1, stride 4,
  snippet_frames 1, centre 0.5 -> ``(4 i + 1.5) / fps``, the middle of that frame.
- A rescaled sequence (:func:`rescaled_record`): stride = the frames one output row spans, centre = stride / 2.

**Rescaling** to a fixed number of rows (:func:`rescale_features`): recipe ``"bsn"`` (BSN's released
csv_mean_100, in seconds, the default) or ``"mmaction"`` (MMAction2's post-processing, in snippet indices).

**Published layouts**:

- ``csv_mean_100`` (BSN/BMN ActivityNet): ``DIR/v_<id>.csv``, header ``f0,...,f{C-1}``, one row per rescaled
  snippet (100), RGB columns first; written with 4 decimals as MMAction2 does.  The time of a row comes from
  the annotation (``duration_frame``, ``duration_second``, ``feature_frame``): :func:`read_csv_mean_100`.
- ``actionformer`` (ActionFormer / OpenTAD): ``DIR/<video>.npy``, (T, C) float; geometry lives in the
  user's config, so the caller gives it once: :func:`read_actionformer`.

Checkpoints store ``geometry_of(record)`` (the record minus per-video fields) and scoring compares it with
:func:`check_geometry`.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ops.errors import InputError
from ops.io import atomic_open, atomic_write_json, read_json, read_text

STREAMS = ("RGB", "Flow", "RGB+Flow")
OUTPUTS = ("pool", "scores")
RECIPES = ("bsn", "mmaction")
PER_VIDEO_FIELDS = ("video", "num_rows", "num_frames", "fps")
# a rescaled sequence's row span depends on the video's length: per video too (its recipe stays in extra)
RESCALED_PER_VIDEO_FIELDS = ("first_frame", "stride", "snippet_frames", "centre")
_EPS = 1e-4          # both published recipes keep sample points 1e-4 inside the snippet centres


@dataclass(frozen=True)
class FeatureRecord:
    """What a feature file is: its video, its snippet geometry and what made it (see the module docstring)."""

    video: str
    stream: str
    num_rows: int
    dim: int
    fps: float
    num_frames: int
    first_frame: float
    stride: float
    snippet_frames: int
    centre: float
    backbone: str = ""
    checkpoint: str = ""
    output: str = "pool"
    input_size: int | None = None
    crops: int = 1
    source: str = "ours"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The record as a JSON-ready dict (field order kept)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data, where: str = "record") -> "FeatureRecord":
        """Build a record from a dict, checking every field; InputError naming ``where`` if one is bad."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: a feature record must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [k for k in required if k not in data]
        if missing:
            raise InputError(f"{where}: feature record lacks {', '.join(missing)}; rewrite it with "
                             f"write_features or convert_features.py")
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"{where}: unknown feature record field(s) {', '.join(unknown)}")
        return cls(**{k: _checked(k, data[k], where) for k in data})

    def replace(self, **changes) -> "FeatureRecord":
        """A copy with ``changes`` applied (fields checked)."""
        return FeatureRecord.from_dict({**self.to_dict(), **changes}, where=f"record of {self.video}")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


_RULES = {  # field -> (test, what it must be)
    "video": (lambda v: isinstance(v, str) and v != "" and "/" not in v, "a non-empty name without '/'"),
    "stream": (lambda v: v in STREAMS, f"one of {', '.join(STREAMS)}"),
    "num_rows": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "dim": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "fps": (lambda v: _is_real(v) and v > 0, "a finite number > 0"),
    "num_frames": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "first_frame": (_is_real, "a finite number"),
    "stride": (lambda v: _is_real(v) and v > 0, "a finite number > 0"),
    "snippet_frames": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "centre": (_is_real, "a finite number"),
    "backbone": (lambda v: isinstance(v, str), "a string"),
    "checkpoint": (lambda v: isinstance(v, str), "a string"),
    "output": (lambda v: v in OUTPUTS, f"one of {', '.join(OUTPUTS)}"),
    "input_size": (lambda v: v is None or (_is_int(v) and v >= 1), "null or an integer >= 1"),
    "crops": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "source": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "extra": (lambda v: isinstance(v, dict), "a JSON object"),
}
_FLOATS = ("fps", "first_frame", "stride", "centre")


def _checked(name: str, value, where: str):
    test, what = _RULES[name]
    if not test(value):
        raise InputError(f"{where}: feature record field {name!r} must be {what}, got {value!r}")
    if name in _FLOATS:
        return float(value)
    return int(value) if _is_int(value) else value


# --------------------------------------------------------------------------- our layout


def feature_path(root: str | os.PathLike, stream: str, video: str) -> Path:
    """``ROOT/stream/video.npy`` (the record sits beside it with suffix ``.json``)."""
    return Path(root) / stream / f"{video}.npy"


def record_path(root: str | os.PathLike, stream: str, video: str) -> Path:
    """``ROOT/stream/video.json``."""
    return feature_path(root, stream, video).with_suffix(".json")


def _check_array(features, where: str, record: FeatureRecord | None = None) -> np.ndarray:
    """The (T, C) float32 array, or InputError naming ``where`` (dtype, ndim, finiteness, record's shape)."""
    if not isinstance(features, np.ndarray) or features.dtype.kind != "f":
        kind = features.dtype if isinstance(features, np.ndarray) else type(features).__name__
        raise InputError(f"{where}: features must be a float array, got {kind}")
    if features.ndim != 2:
        raise InputError(f"{where}: features must be 2-D (rows, channels), got shape {features.shape}")
    if record is not None and features.shape != (record.num_rows, record.dim):
        raise InputError(f"{where}: shape {features.shape} does not match its record "
                         f"(num_rows {record.num_rows}, dim {record.dim}); re-extract or re-convert this video")
    if not np.isfinite(features).all():
        bad = int(np.flatnonzero(~np.isfinite(features).all(axis=1))[0])
        raise InputError(f"{where}: non-finite value (NaN/inf) in row {bad}; re-extract this video")
    return np.ascontiguousarray(features, dtype=np.float32)


def write_features(root: str | os.PathLike, features: np.ndarray, record: FeatureRecord) -> None:
    """Write ``features`` (T, C) and ``record`` atomically: the ``.npy`` first, the ``.json`` last."""
    path = feature_path(root, record.stream, record.video)
    array = _check_array(np.asarray(features), f"{path} (being written)", record)
    path.with_suffix(".json").unlink(missing_ok=True)   # an old record must never describe the new array
    with atomic_open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
    atomic_write_json(path.with_suffix(".json"), record.to_dict())


def read_record(root: str | os.PathLike, stream: str, video: str) -> FeatureRecord:
    """The record of one video's features; InputError naming the file if missing or malformed."""
    path = record_path(root, stream, video)
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no feature record; extract or convert the features of {video} "
                         f"({stream}) first") from None
    except OSError as e:
        raise InputError(f"{path}: not a feature record ({e}); re-extract this video") from None
    except InputError as e:
        raise InputError(f"{e}; re-extract this video") from None
    rec = FeatureRecord.from_dict(data, where=str(path))
    if rec.video != video or rec.stream != stream:
        raise InputError(f"{path}: record is for {rec.video} ({rec.stream}), not {video} ({stream}); "
                         f"the file was moved or renamed")
    return rec


def read_features(root: str | os.PathLike, stream: str, video: str) -> tuple[np.ndarray, FeatureRecord]:
    """``(features (T, C) float32, record)``; InputError naming the file for anything wrong."""
    record = read_record(root, stream, video)
    path = feature_path(root, stream, video)
    return _load_npy(path, record), record


def _load_npy(path: Path, record: FeatureRecord | None = None) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: feature file missing; extract or convert this video again") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a .npy feature file ({e}); re-extract this video") from None
    return _check_array(array, str(path), record)


# --------------------------------------------------------------------------- time, geometry, streams


def rows_to_seconds(record: FeatureRecord, rows) -> np.ndarray:
    """Rows (any shape, float allowed) -> seconds: ``(first_frame + rows * stride + centre) / fps``."""
    frames = record.first_frame + np.asarray(rows, dtype=np.float64) * record.stride + record.centre
    return frames / record.fps


def seconds_to_rows(record: FeatureRecord, t) -> np.ndarray:
    """Seconds -> float rows, the inverse of :func:`rows_to_seconds`."""
    frames = np.asarray(t, dtype=np.float64) * record.fps
    return (frames - record.first_frame - record.centre) / record.stride


def geometry_of(record: FeatureRecord) -> dict:
    """The record minus its per-video fields (video, num_rows, num_frames, fps): what a checkpoint stores.

    For a rescaled sequence (``"rescale"`` in ``extra``) first_frame, stride, snippet_frames and centre are
    per video as well (they follow the video's length) and are left out; ``extra["rescale"]`` (recipe and
    source geometry) stays.
    """
    drop = PER_VIDEO_FIELDS + (RESCALED_PER_VIDEO_FIELDS if "rescale" in record.extra else ())
    return {k: v for k, v in record.to_dict().items() if k not in drop}


def check_geometry(expected: dict, record: FeatureRecord, where: str) -> None:
    """Raise InputError naming ``where`` and the first field where ``record`` differs from ``expected``."""
    actual = geometry_of(record)
    for key in list(expected) + [k for k in actual if k not in expected]:
        want, got = expected.get(key), actual.get(key)
        same = (math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-9) if _is_real(want) and _is_real(got)
                else want == got)
        if not same:
            raise InputError(f"{where}: features of {record.video} ({record.stream}) have {key} = {got!r}, "
                             f"the checkpoint was trained on {want!r}; give features made the same way")


def stream_geometries(geometry: dict) -> dict[str, dict]:
    """A checkpoint's stored geometry (``geometry_of``) split per stream: ``{"RGB": {...}, "Flow": {...}}``.

    Two streams read together (``"RGB+Flow"``) keep each stream's own geometry in ``extra["streams"]``; a
    rescaled sequence's per-video fields are those of each stream's source sequence there as well.
    """
    streams = geometry.get("extra", {}).get("streams")
    return dict(streams) if streams else {geometry["stream"]: geometry}


def feature_extraction_settings(geometry: dict) -> dict:
    """What ``extract_features.py`` needs to make one stream's features as a checkpoint's were made.

    ``geometry``: one stream's stored geometry (:func:`stream_geometries`).  Returns ``stride``, ``offset``
    (frames from frame 0's start to row 0's instant, ``first_frame + centre``), ``flow_shift``, ``resize``,
    ``num_crops``, ``output_kind`` and ``checkpoint`` (the digest of the backbone's checkpoint file).
    Raises InputError for features that our extractor did not make (``source`` other than ``ours``).
    """
    if geometry.get("source", "ours") != "ours":
        raise InputError(f"the model was trained on {geometry.get('source')!r} features, which "
                         f"extract_features.py does not make; convert them with convert_features.py")
    extra = geometry.get("extra", {})
    return {"stride": geometry["stride"], "offset": geometry["first_frame"] + geometry["centre"],
            "flow_shift": extra.get("flow_shift", 0), "resize": extra.get("resize", "crop"),
            "num_crops": geometry.get("crops", 1), "output_kind": geometry.get("output", "pool"),
            "checkpoint": geometry.get("checkpoint", "")}


def _row_time_key(rec: FeatureRecord) -> tuple:
    return (rec.video, rec.num_rows, rec.num_frames, rec.fps, rec.stride, rec.first_frame + rec.centre)


def concat_streams(rgb: tuple[np.ndarray, FeatureRecord], flow: tuple[np.ndarray, FeatureRecord]
                   ) -> tuple[np.ndarray, FeatureRecord]:
    """RGB and Flow features of one video side by side (RGB columns first) and their "RGB+Flow" record.

    Refuses (InputError) streams whose rows do not stand for the same instants: different video, rows,
    frames, fps, stride or row-0 time (``first_frame + centre``).  Fields that may differ between streams
    (snippet_frames, backbone, ...) are kept per stream in ``extra["streams"]``; the combined record takes
    RGB's, with backbone/checkpoint joined as ``"rgb+flow"`` when they differ.
    """
    (a, ra), (b, rb) = rgb, flow
    if (ra.stream, rb.stream) != ("RGB", "Flow"):
        raise InputError(f"{ra.video}: concat_streams needs (RGB, Flow), got ({ra.stream}, {rb.stream})")
    names = ("video", "num_rows", "num_frames", "fps", "stride", "first_frame + centre")
    for name, x, y in zip(names, _row_time_key(ra), _row_time_key(rb)):
        same = math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) if _is_real(x) and _is_real(y) else x == y
        if not same:
            raise InputError(f"{ra.video}: RGB and Flow features differ in {name} ({x!r} vs {y!r}); their rows "
                             f"are not the same instants, extract both streams with the same snippet geometry")

    def joined(key):
        x, y = getattr(ra, key), getattr(rb, key)
        return x if x == y else f"{x}+{y}"

    record = ra.replace(stream="RGB+Flow", dim=ra.dim + rb.dim, backbone=joined("backbone"),
                        checkpoint=joined("checkpoint"),
                        source=joined("source"),
                        extra={**ra.extra, "streams": {"RGB": geometry_of(ra), "Flow": geometry_of(rb)}})
    return np.concatenate([a, b], axis=1), record


def read_two_stream(root: str | os.PathLike, video: str, streams=("RGB", "Flow")
                    ) -> tuple[np.ndarray, FeatureRecord]:
    """One stream's features, or RGB and Flow concatenated (``streams=("RGB", "Flow")``) for ``video``."""
    streams = tuple(streams)
    if len(streams) == 1:
        return read_features(root, streams[0], video)
    if streams != ("RGB", "Flow"):
        raise InputError(f"streams must be ('RGB',), ('Flow',), ('RGB+Flow',) or ('RGB', 'Flow'), got {streams}")
    return concat_streams(read_features(root, "RGB", video), read_features(root, "Flow", video))


# --------------------------------------------------------------------------- rescaling


def rescale_features(features: np.ndarray, num_rows: int, recipe: str = "bsn", duration_frame=None,
                     duration_second=None, snippet_frames: float = 16) -> np.ndarray:
    """Resample a (L, C) snippet sequence to (num_rows, C) float32 by one of the two published recipes.

    ``"bsn"`` (default; BSN's released csv_mean_100, in seconds; needs ``duration_frame`` and
    ``duration_second``): ``fps = duration_frame / duration_second``, ``st = snippet_frames / fps``, snippet
    k at ``x_k = st/2 + k st``; ``corrected_second = snippet_frames L / duration_frame * duration_second``;
    row i covers ``[i, i+1] / num_rows * corrected_second`` clamped to ``[x_0 + 1e-4, x_{L-1} - 1e-4]``;
    zeros if the clamped range lies wholly outside ``[x_0, x_{L-1}]``, else the mean of the linear
    interpolation at 3 equally spaced points, both ends included.

    ``"mmaction"`` (MMAction2's activitynet_feature_postprocessing, in snippet indices): ``start = 1e-4``,
    ``size = (L - 1 - 2e-4) / num_rows``; row j is the mean of the interpolation at
    ``start + j size + k size / 3``, k = 0, 1, 2 (never reaching the range's end).

    Both: L = 1 gives the vector repeated.  Channels are independent, so pooling RGB and Flow apart and
    concatenating equals pooling the concatenation.  Computed in float64, vectorised over rows and points.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"features must be (L >= 1, C), got shape {x.shape}")
    if num_rows < 1:
        raise ValueError(f"num_rows must be >= 1, got {num_rows}")
    if len(x) == 1:
        return np.repeat(x, num_rows, axis=0).astype(np.float32)
    if recipe == "bsn":
        pos, valid = _bsn_points(len(x), num_rows, duration_frame, duration_second, snippet_frames)
    elif recipe == "mmaction":
        pos, valid = _mmaction_points(len(x), num_rows), np.ones(num_rows, bool)
    else:
        raise ValueError(f"unknown rescale recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    out = _interp_rows(x, pos).mean(axis=1)
    out[~valid] = 0.0
    return out.astype(np.float32)


def _bsn_points(length: int, num_rows: int, duration_frame, duration_second, snippet_frames: int):
    """BSN's sample points as float snippet indices (num_rows, 3), and which rows are not zeros."""
    if duration_frame is None or duration_second is None:
        raise ValueError("the 'bsn' recipe needs duration_frame and duration_second (the annotation's)")
    if not (duration_frame > 0 and duration_second > 0 and snippet_frames > 0):
        raise ValueError(f"durations and snippet_frames must be > 0, got {duration_frame}, {duration_second}, "
                         f"{snippet_frames}")
    st = snippet_frames / (duration_frame / duration_second)
    first, last = st / 2, st / 2 + (length - 1) * st
    corrected = snippet_frames * length / duration_frame * duration_second
    bounds = np.arange(num_rows + 1, dtype=np.float64) / num_rows * corrected
    lo = np.maximum(first + _EPS, bounds[:-1])
    hi = np.minimum(last - _EPS, bounds[1:])
    valid = ~((hi < first) | (lo > last))
    seconds = lo[:, None] + (hi - lo)[:, None] / 2 * np.arange(3)
    return (seconds - first) / st, valid


def _mmaction_points(length: int, num_rows: int) -> np.ndarray:
    """MMAction2's sample points as float snippet indices (num_rows, 3)."""
    size = (length - 1 - 2 * _EPS) / num_rows
    return _EPS + size * (np.arange(num_rows)[:, None] + np.arange(3) / 3)


def _interp_rows(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of rows of ``x`` (L, C) at float indices ``pos`` (any shape) -> pos.shape + (C,)."""
    pos = np.clip(pos, 0, len(x) - 1)      # only zeroed rows of BSN's recipe reach outside
    lo = np.minimum(np.floor(pos).astype(np.int64), len(x) - 2)
    w = (pos - lo)[..., None]
    return x[lo] * (1 - w) + x[lo + 1] * w


def rescaled_record(record: FeatureRecord, num_rows: int, recipe: str = "bsn", snippet_frames: float | None = None
                    ) -> FeatureRecord:
    """The record of ``rescale_features(features_of(record), num_rows, recipe, ...)``.

    Row j of the result covers a range of the source; its instant is that range's centre, so the new
    record has ``stride`` = the range's length in frames, ``centre = stride / 2`` and ``first_frame`` = where
    row 0's range starts:

    - ``"bsn"``: rows split ``[0, snippet_frames * L]`` frames (BSN's ``corrected_second``) evenly:
      first_frame 0, stride ``snippet_frames * L / num_rows``.
    - ``"mmaction"``: rows split source rows ``[1e-4, L - 1 - 1e-4]`` evenly: first_frame = the instant of
      source row 1e-4 (``first_frame + centre + 1e-4 stride``), stride ``(L - 1 - 2e-4) / num_rows`` source
      strides.

    ``snippet_frames`` is BSN's 16, the frames between source snippets (default: ``record.stride``).  The new
    record's ``snippet_frames`` becomes the rounded stride; the recipe and source geometry go in
    ``extra["rescale"]``.
    """
    length = record.num_rows
    if recipe == "bsn":
        step = record.stride if snippet_frames is None else snippet_frames
        first, stride = 0.0, step * length / num_rows
    elif recipe == "mmaction" and length == 1:   # the one vector repeated: rows split that snippet
        first, stride = record.first_frame, record.stride / num_rows
    elif recipe == "mmaction":
        first = record.first_frame + record.centre + _EPS * record.stride
        stride = (length - 1 - 2 * _EPS) / num_rows * record.stride
    else:
        raise ValueError(f"unknown rescale recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    # no per-video value here (e.g. L): geometry_of(record) must be equal for every video of a data set
    source = {"recipe": recipe, "first_frame": record.first_frame, "stride": record.stride,
              "snippet_frames": record.snippet_frames, "centre": record.centre}
    return record.replace(num_rows=num_rows, first_frame=first, stride=stride, centre=stride / 2,
                          snippet_frames=max(1, round(stride)), extra={**record.extra, "rescale": source})


# --------------------------------------------------------------------------- per-video durations (annotations)


@dataclass(frozen=True)
class VideoInfo:
    """What an annotation file says about one video's length (None: not given there)."""

    duration_frame: int | None = None
    duration_second: float | None = None
    fps: float | None = None
    feature_frame: int | None = None


def read_video_info(path: str | os.PathLike) -> dict[str, VideoInfo]:
    """Per-video lengths from an annotation file, keyed by video id as written there.

    Accepted layouts:

    - BSN/BMN JSON (``anet_anno_action.json``): ``{video: {"duration_second", "duration_frame",
      "feature_frame"?, ...}}``;
    - ActionFormer/OpenTAD JSON: ``{"database": {video: {"duration" (s), "fps"?, "duration_frame"?, ...}}}``;
    - BSN's ``video_info_new.csv``: columns ``video,numFrame,seconds[,featureFrame]`` (other columns ignored).
    """
    path = Path(path)
    try:
        data = _video_info_csv(path, read_text(path)) if path.suffix.lower() == ".csv" else read_json(path)
    except FileNotFoundError:
        raise InputError(f"{path}: annotation file not found") from None
    if path.suffix.lower() == ".csv":
        return data
    if isinstance(data, dict) and isinstance(data.get("database"), dict):
        data = data["database"]
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of videos")
    return {str(v): _video_info_entry(e, f"{path}: video {v}") for v, e in data.items()}


def _video_info_entry(entry, where: str) -> VideoInfo:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected an object with duration_second/duration_frame")
    values = {"duration_frame": entry.get("duration_frame"),
              "duration_second": entry.get("duration_second", entry.get("duration")),
              "fps": entry.get("fps"), "feature_frame": entry.get("feature_frame")}
    return _video_info(values, where)


def _video_info(values: dict, where: str) -> VideoInfo:
    out = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number <= 0:
            raise InputError(f"{where}: {key} must be a number > 0, got {value!r}")
        out[key] = int(round(number)) if key in ("duration_frame", "feature_frame") else number
    return VideoInfo(**out)


def _video_info_csv(path: Path, text: str) -> dict[str, VideoInfo]:
    rows = csv.DictReader(text.splitlines())
    need = {"video", "numFrame", "seconds"}
    if not need <= set(rows.fieldnames or ()):
        raise InputError(f"{path}:1: expected columns video,numFrame,seconds[,featureFrame] (BSN's video_info)")
    return {r["video"]: _video_info({"duration_frame": r["numFrame"], "duration_second": r["seconds"],
                                     "feature_frame": r.get("featureFrame")}, f"{path}:{i}")
            for i, r in enumerate(rows, start=2)}


def lookup_video(info: dict[str, VideoInfo], video: str, where: str) -> VideoInfo:
    """``info[video]``, also trying the id with/without ActivityNet's ``v_`` prefix; InputError if absent."""
    for key in (video, video[2:] if video.startswith("v_") else f"v_{video}"):
        if key in info:
            return info[key]
    raise InputError(f"{where}: video {video} is not in the annotation file; give one that lists it")


# --------------------------------------------------------------------------- csv_mean_100 (BSN / BMN)


def csv_mean_100_path(folder: str | os.PathLike, video: str) -> Path:
    """``FOLDER/v_<id>.csv`` (the ``v_`` prefix added when ``video`` lacks it)."""
    return Path(folder) / f"{video if video.startswith('v_') else 'v_' + video}.csv"


def write_csv_mean_100(folder: str | os.PathLike, video: str, features: np.ndarray) -> Path:
    """Write (N, C) features as ``FOLDER/v_<id>.csv``: header ``f0,...,f{C-1}``, 4 decimals (MMAction2's)."""
    path = csv_mean_100_path(folder, video)
    x = _check_array(np.asarray(features), f"{path} (being written)")
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(f"f{i}" for i in range(x.shape[1])) + "\n")
        np.savetxt(f, x, fmt="%.4f", delimiter=",")
    return path


def read_csv_mean_100_array(path: str | os.PathLike) -> np.ndarray:
    """The (N, C) float32 array of a csv_mean_100 file; InputError naming FILE:LINE when malformed."""
    path = Path(path)
    try:
        lines = read_text(path).splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: feature file missing") from None
    if not lines:
        raise InputError(f"{path}: empty file; expected a header f0,f1,... and one row per snippet")
    header = lines[0].split(",")
    if header != [f"f{i}" for i in range(len(header))]:
        raise InputError(f"{path}:1: header must be f0,f1,...,f{{C-1}}, got {lines[0][:60]!r}")
    rows = [line for line in lines[1:] if line.strip()]
    if not rows:
        raise InputError(f"{path}: no feature rows")
    try:
        x = np.loadtxt(rows, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise InputError(f"{path}: {_first_bad_line(lines, len(header))} ({e})") from None
    if x.shape[1] != len(header):
        raise InputError(f"{path}: {x.shape[1]} values per row but {len(header)} header columns")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise InputError(f"{path}:{bad + 2}: non-finite value; the file is corrupt")
    return x.astype(np.float32)


def _first_bad_line(lines: list[str], width: int) -> str:
    """'LINE: what' for the first data line that is not ``width`` numbers (only called on a parse error)."""
    for no, line in enumerate(lines[1:], start=2):
        parts = line.split(",")
        if line.strip() and len(parts) != width:
            return f"line {no}: {len(parts)} values, expected {width}"
        for part in parts if line.strip() else ():
            try:
                float(part)
            except ValueError:
                return f"line {no}: {part!r} is not a number"
    return "not a CSV of numbers"


def read_csv_mean_100(path: str | os.PathLike, info: VideoInfo, recipe: str = "bsn", snippet_stride: int = 16,
                      stream: str = "RGB+Flow", backbone: str = "cuhk_tsn", output: str = "scores"
                      ) -> tuple[np.ndarray, FeatureRecord]:
    """A csv_mean_100 file and its record, the time of its rows taken from the annotation's ``info``.

    The N rows were rescaled (``recipe``, default BSN's) from ``L = feature_frame / snippet_stride`` snippets
    of ``snippet_stride`` frames (first_frame 0, centre stride / 2); ``feature_frame`` defaults to
    ``duration_frame // 16 * 16`` (BMN's rule).  So the record is :func:`rescaled_record` of that source: for
    BSN's recipe, rows split ``[0, feature_frame]`` frames evenly.  ``fps = duration_frame /
    duration_second`` as BSN computes it; ``num_frames = duration_frame``.  Defaults describe the released
    ActivityNet files (CUHK TSN class scores, RGB 0-199 then Flow 200-399).
    """
    path = Path(path)
    if info.duration_frame is None or info.duration_second is None:
        raise InputError(f"{path}: the annotation gives no duration_frame/duration_second for this video; "
                         f"use BSN's anet_anno_action.json or video_info_new.csv")
    x = read_csv_mean_100_array(path)
    feature_frame = info.feature_frame or info.duration_frame // snippet_stride * snippet_stride
    length = max(1, round(feature_frame / snippet_stride))
    source = FeatureRecord(video=path.stem, stream=stream, num_rows=length, dim=x.shape[1],
                           fps=info.duration_frame / info.duration_second, num_frames=info.duration_frame,
                           first_frame=0.0, stride=float(snippet_stride), snippet_frames=snippet_stride,
                           centre=snippet_stride / 2, backbone=backbone, output=output, source="csv_mean_100")
    return x, rescaled_record(source, len(x), recipe)


# --------------------------------------------------------------------------- ActionFormer / OpenTAD


def actionformer_path(folder: str | os.PathLike, video: str) -> Path:
    """``FOLDER/<video>.npy``."""
    return Path(folder) / f"{video}.npy"


def write_actionformer(folder: str | os.PathLike, video: str, features: np.ndarray) -> Path:
    """Write (T, C) features as ``FOLDER/<video>.npy`` float32 (atomic)."""
    path = actionformer_path(folder, video)
    x = _check_array(np.asarray(features), f"{path} (being written)")
    with atomic_open(path, "wb") as f:
        np.save(f, x, allow_pickle=False)
    return path


def read_actionformer(path: str | os.PathLike, stream: str, *, fps: float, stride: float, snippet_frames: int,
                      centre: float | None = None, first_frame: float = 0.0, num_frames: int | None = None,
                      backbone: str = "", output: str = "pool") -> tuple[np.ndarray, FeatureRecord]:
    """An ActionFormer/OpenTAD ``<video>.npy`` (T, C) and its record, from the geometry of the user's config.

    ActionFormer's config names: ``feat_stride`` = ``stride``, ``num_frames`` (frames per clip) =
    ``snippet_frames``, ``default_fps`` or the annotation's ``fps`` = ``fps``; its rows stand for
    ``(t * feat_stride + num_frames / 2) / fps`` seconds, hence ``centre`` defaults to
    ``snippet_frames / 2``.  ``num_frames`` (the video's) defaults to the frames the snippets reach,
    ``ceil(first_frame + (T - 1) stride + snippet_frames)``, flagged in ``extra["num_frames_estimated"]``.
    Any float dtype is read and stored as float32.
    """
    path = Path(path)
    x = _load_npy(path)
    extra = {}
    if num_frames is None:
        num_frames = math.ceil(first_frame + (len(x) - 1) * stride + snippet_frames)
        extra["num_frames_estimated"] = True
    record = FeatureRecord.from_dict(
        dict(video=path.stem, stream=stream, num_rows=len(x), dim=x.shape[1], fps=fps, num_frames=num_frames,
             first_frame=first_frame, stride=stride, snippet_frames=snippet_frames,
             centre=snippet_frames / 2 if centre is None else centre, backbone=backbone, output=output,
             source="actionformer", extra=extra), where=str(path))
    return x, record
