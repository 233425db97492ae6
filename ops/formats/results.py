"""SSN result files: the per-proposal scores written by ``ssn_test.py`` (one home).

Layout (the original ``ssn_test.py`` pickle, kept so old and new files fuse):
a pickled ``dict`` mapping a video key (the video field of the proposal list:
the video id, or the frame folder path in frame-based lists) to a 4-tuple of
numpy arrays, for N proposals and K classes:

0. ``rel_props`` (N, 2) float: proposal ``[start, end]`` as fractions of the
   video (``start_frame / num_frames``); some old files have shape (1, N, 2).
1. ``act_scores`` (N, K + 1) float: activity logits, column 0 = background.
2. ``comp_scores`` (N, K) float: completeness logits per class.
3. ``reg_scores`` (N, K, 2) float or None: location regression per class as
   ``(center offset, log duration ratio)``.  The offsets are already
   de-normalised by ``ssn_test`` with the training set's regression statistics
   (``offset * std + mean``); applying them: ``center += offset * length``,
   ``length *= exp(log_ratio)`` (see :mod:`ops.evaluation.postprocess`).  Old files may
   store (N, 2K); it is reshaped.  None when the model has no regression head.

Raw per-frame outputs (``ssn_test.py --save_raw DIR``): one ``DIR/<video id>.npz``
per video, plain numpy ``.npz`` (no pickle; :func:`save_raw_outputs`,
:func:`load_raw_outputs`, :class:`RawOutputs`), for T scored frames, P STPP
parts, S segments and K classes:

- ``video`` () str: the video field of the proposal list.
- ``num_frames`` () int: frames of the video's folder; ``frame_interval`` ()
  int: every k-th frame was scored.
- ``frame_index`` (T,) int64: the 0-based frame of each scored frame
  (``t x frame_interval``).
- ``activity`` (T, P, K + 1), ``completeness`` (T, P, K) and ``regression``
  (T, P, K, 2) float32: the folded heads' outputs of each frame for each STPP
  part (the head weights acting on part p times the frame's feature), without
  bias; activity is zero on parts outside the course; regression is still
  normalised.
- ``activity_bias`` (K + 1,), ``completeness_bias`` (K,), ``regression_bias``
  (K, 2) float64: the heads' biases.
- ``stpp_matrix`` (P, S) float, ``stpp_parts`` (3,) int, ``num_segments`` (3,)
  int: the model's STPP (:class:`ops.models.ssn.STPP`), i.e. which span of which
  stage each part covers.
- ``reg_stats`` (2, 2) float64: mean and std rows that de-normalise regression.

A proposal's scores are the biases plus, over parts, the mean of the part's
outputs over the frames of its span (starting/ending parts scaled), with
regression then multiplied by std and shifted by mean:
:func:`ops.models.ssn_inference.score_raw` re-pools any proposal this way and
reproduces the result file.

Loading is safe: :func:`safe_load_pickle` accepts only plain containers,
numpy arrays, dtypes and scalars (both ``numpy.core`` paths of numpy 1.x and
``numpy._core`` paths of numpy 2).  Any other global (a function, a class of
some module) is refused with :class:`UnsafePickleError` naming the file, so a
file from a stranger cannot run code.  Files are written with pickle protocol
4; numpy 2 writes ``numpy._core`` paths, which numpy >= 1.26 also resolves.
"""
from __future__ import annotations

import io
import logging
import os
import pickle
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ops.errors import InputError
from ops.io import atomic_open

logger = logging.getLogger(__name__)

_NUMPY_CORE = ("numpy.core", "numpy._core")
SAFE_GLOBALS = frozenset(
    [(f"{core}.multiarray", name) for core in _NUMPY_CORE for name in ("_reconstruct", "scalar")]
    + [(f"{core}.numeric", "_frombuffer") for core in _NUMPY_CORE]
    + [("numpy", "ndarray"), ("numpy", "dtype"),
       ("_codecs", "encode"),  # protocol-2 pickles store bytes as _codecs.encode(str, 'latin1')
       ("collections", "OrderedDict")]
)


class UnsafePickleError(InputError, pickle.UnpicklingError):
    """A pickle refers to something other than numpy arrays and plain containers."""


class ResultFileError(InputError):
    """A result file that is not in the SSN layout; the message names file and video."""


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")  # latin1 reads numpy arrays from Python 2 pickles
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        # numpy 2 may name dtype classes of numpy.dtypes; they only build dtypes
        if module == "numpy.dtypes" and name.endswith("DType"):
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self.source}: refusing to load '{module}.{name}': the pickles we read may hold only numpy arrays "
            "and plain containers (the file may be malicious or from an incompatible tool)")


def safe_load_pickle(path: str | os.PathLike):
    """Unpickle ``path`` allowing only numpy arrays/dtypes/scalars and builtin containers."""
    data = Path(path).read_bytes()
    try:
        return _SafeUnpickler(io.BytesIO(data), str(path)).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # truncated or not a pickle at all
        raise ResultFileError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None


@dataclass
class VideoResult:
    """SSN outputs for the N proposals of one video (shapes in the module docstring)."""

    rel_props: np.ndarray
    act_scores: np.ndarray
    comp_scores: np.ndarray
    reg_scores: np.ndarray | None = None

    @property
    def num_classes(self) -> int:
        return self.comp_scores.shape[1]

    def as_tuple(self) -> tuple:
        """The original pickle's 4-tuple."""
        return (self.rel_props, self.act_scores, self.comp_scores, self.reg_scores)


def _validate(key: str, value, source: str) -> VideoResult:
    where = f"{source}: video {key!r}"
    if not isinstance(value, (tuple, list)) or len(value) < 4:
        raise ResultFileError(f"{where}: expected a tuple (rel_props, act_scores, comp_scores, reg_scores)")
    rel, act, comp, reg = value[:4]
    arrays = [rel, act, comp] + ([] if reg is None else [reg])
    if not all(isinstance(a, np.ndarray) and a.dtype.kind in "fiu" for a in arrays):
        raise ResultFileError(f"{where}: entries must be numeric numpy arrays (reg_scores may be None)")
    bad = next((name for name, a in zip(("rel_props", "act_scores", "comp_scores", "reg_scores"), arrays)
                if not np.isfinite(a).all()), None)
    if bad is not None:
        raise ResultFileError(f"{where}: {bad} holds NaN or infinite values (a diverged model?); rescore the "
                              "video with a model whose training loss stayed finite")
    rel = rel.reshape(-1, 2).astype(np.float64)
    n = len(rel)
    if act.ndim != 2 or act.shape[0] != n or comp.ndim != 2 or comp.shape[0] != n:
        raise ResultFileError(f"{where}: shapes rel_props {rel.shape}, act_scores {act.shape}, "
                              f"comp_scores {comp.shape} do not fit N={n} proposals")
    k = comp.shape[1]
    if act.shape[1] != k + 1:
        raise ResultFileError(f"{where}: act_scores has {act.shape[1]} columns; expected K+1={k + 1} "
                              "(background first)")
    if reg is not None:
        if reg.size != n * k * 2:
            raise ResultFileError(f"{where}: reg_scores shape {reg.shape} does not fit ({n}, {k}, 2)")
        reg = reg.reshape(n, k, 2)
    return VideoResult(rel, act, comp, reg)


def _load_video_dict(path: str | os.PathLike, expected: str):
    """Safely load a pickled dict keyed by video; yields (str key, value)."""
    data = safe_load_pickle(path)
    if not isinstance(data, dict):
        raise ResultFileError(f"{path}: expected a dict {expected}, got {type(data).__name__}")
    for key, value in data.items():
        yield (key.decode("utf-8") if isinstance(key, bytes) else str(key)), value


def read_results(path: str | os.PathLike) -> dict[str, VideoResult]:
    """Read an SSN result file (safely) -> {video key: VideoResult}."""
    return {key: _validate(key, value, str(path))
            for key, value in _load_video_dict(path, "of video -> score tuple")}


def save_video_result(path: str | os.PathLike, r: VideoResult) -> None:
    """One video's result as ``.npz`` (no pickle), atomically: ssn_test's per-video resume points."""
    with atomic_open(path, "wb") as f:
        np.savez(f, rel_props=r.rel_props, act_scores=r.act_scores, comp_scores=r.comp_scores,
                 reg_scores=r.reg_scores)


def load_video_result(path: str | os.PathLike) -> VideoResult:
    """Inverse of :func:`save_video_result` (loaded without pickle)."""
    with np.load(path, allow_pickle=False) as d:
        return VideoResult(d["rel_props"], d["act_scores"], d["comp_scores"], d["reg_scores"])


@dataclass
class RawOutputs:
    """Per-frame outputs of the folded SSN heads for one video (fields and shapes in the module docstring)."""

    video: str
    num_frames: int
    frame_interval: int
    frame_index: np.ndarray
    activity: np.ndarray
    completeness: np.ndarray
    regression: np.ndarray
    activity_bias: np.ndarray
    completeness_bias: np.ndarray
    regression_bias: np.ndarray
    stpp_matrix: np.ndarray
    stpp_parts: np.ndarray
    num_segments: np.ndarray
    reg_stats: np.ndarray


_RAW_SCALARS = {"video": str, "num_frames": int, "frame_interval": int}


def save_raw_outputs(path: str | os.PathLike, raw: RawOutputs) -> None:
    """Write one video's :class:`RawOutputs` as ``.npz`` (no pickle), atomically."""
    with atomic_open(path, "wb") as f:
        np.savez(f, **{field.name: np.asarray(getattr(raw, field.name)) for field in fields(raw)})


def _check_raw(raw: RawOutputs, source: str) -> RawOutputs:
    t, p, k1 = raw.activity.shape
    k = k1 - 1
    want = {"frame_index": (t,), "completeness": (t, p, k), "regression": (t, p, k, 2),
            "activity_bias": (k + 1,), "completeness_bias": (k,), "regression_bias": (k, 2),
            "stpp_parts": (3,), "num_segments": (3,), "reg_stats": (2, 2)}
    bad = [f"{name} {getattr(raw, name).shape} (expected {shape})" for name, shape in want.items()
           if getattr(raw, name).shape != shape]
    if raw.stpp_matrix.shape[0] != p:
        bad.append(f"stpp_matrix {raw.stpp_matrix.shape} (expected {p} rows)")
    if bad:
        raise ResultFileError(f"{source}: raw outputs of {raw.video!r} have inconsistent shapes: {', '.join(bad)}")
    return raw


def load_raw_outputs(path: str | os.PathLike) -> RawOutputs:
    """Inverse of :func:`save_raw_outputs` (loaded without pickle); shapes are checked, errors name the file."""
    with np.load(path, allow_pickle=False) as d:
        missing = [field.name for field in fields(RawOutputs) if field.name not in d.files]
        if missing:
            raise ResultFileError(f"{path}: not a raw-outputs file (missing {', '.join(missing)})")
        values = {field.name: _RAW_SCALARS[field.name](d[field.name]) if field.name in _RAW_SCALARS
                  else d[field.name] for field in fields(RawOutputs)}
    return _check_raw(RawOutputs(**values), str(path))


def write_results(path: str | os.PathLike, results: dict[str, VideoResult]) -> None:
    """Write results in the original layout (dict of 4-tuples), atomically; entries our reader would refuse
    (NaN, shapes that do not fit) raise ResultFileError before anything is written."""
    for k, v in results.items():
        _validate(k, v.as_tuple(), str(path))
    payload = {k: v.as_tuple() for k, v in results.items()}
    with atomic_open(path, "wb") as f:
        pickle.dump(payload, f, protocol=4)


def read_class_scores(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read video-level classifier scores (e.g. UntrimmedNets): {video: (K,) scores}, safely.

    Keys may be bytes or paths; they are reduced to the file stem (the video id).
    """
    return {Path(key).stem: np.asarray(value, dtype=np.float64).reshape(-1)
            for key, value in _load_video_dict(path, "video -> (K,) scores")}
