"""BSN's intermediate files: TEM curves and PGM proposals, ours and the original's CSV layouts.

Ours (one file per video, written atomically; a window is what TEM saw: a whole rescaled video, or a window of a
long one)::

    TEM_DIR/<video>.npz   curves (W, T, 3) float32 [action, start, end]; spans (W, 2) float64 window seconds
    PGM_DIR/<video>.npz   proposals (N, 7) float64 [t_min, t_max, start_score, end_score, score, match_iou,
                          match_ioa] (window fractions), window (N,) int64, features (N, 32) float32 (BSP);
                          spans (W, 2) float64

The original's layouts (``--csv``, whole videos only, one window)::

    <video>.csv  TEM: header ``action,start,end,tmin,tmax``, T rows (tmin/tmax: the anchor ``[i/T, (i+1)/T]``)
    <video>.csv  PGM: header ``tmin,tmax,tmin_score,tmax_score,score,match_iou,match_ioa``

Readers check shapes, finiteness and the window count, and raise InputError naming the file.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ops.errors import InputError
from ops.io import atomic_open

TEM_CSV_HEADER = "action,start,end,tmin,tmax"
PGM_CSV_HEADER = "tmin,tmax,tmin_score,tmax_score,score,match_iou,match_ioa"


def _save(path: Path, **arrays) -> None:
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def _load(path: Path, keys: tuple[str, ...], what: str) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: no {what} for this video; run the stage that makes it first")
    try:
        with np.load(path, allow_pickle=False) as d:
            data = {k: d[k] for k in keys}
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path}: not a {what} file ({e}); remake it") from None
    for k, v in data.items():
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            raise InputError(f"{path}: {k} holds NaN or infinite values; remake it")
    return data


def tem_path(folder, video: str) -> Path:
    return Path(folder) / f"{video}.npz"


def write_tem(folder, video: str, curves: np.ndarray, spans: np.ndarray) -> None:
    curves = np.asarray(curves, np.float32)
    if curves.ndim != 3 or curves.shape[2] != 3 or len(spans) != len(curves):
        raise ValueError(f"TEM curves must be (W, T, 3) with one span per window, got {curves.shape}, {len(spans)}")
    _save(tem_path(folder, video), curves=curves, spans=np.asarray(spans, np.float64).reshape(-1, 2))


def read_tem(folder, video: str, temporal_dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(curves (W, T, 3), spans (W, 2)); InputError naming the file for a wrong length ``T``."""
    path = tem_path(folder, video)
    d = _load(path, ("curves", "spans"), "TEM output")
    curves, spans = d["curves"], d["spans"]
    if curves.ndim != 3 or curves.shape[2] != 3 or spans.shape != (len(curves), 2):
        raise InputError(f"{path}: curves {curves.shape} / spans {spans.shape}: expected (W, T, 3) and (W, 2)")
    if temporal_dim is not None and curves.shape[1] != temporal_dim:
        raise InputError(f"{path}: TEM curves of {curves.shape[1]} rows, but this run uses {temporal_dim}; remake "
                         "them with bsn_tem_test.py and this checkpoint")
    return curves, spans


def write_tem_csv(folder, video: str, curve: np.ndarray) -> Path:
    """The original's TEM CSV of one whole-video curve (T, 3)."""
    t = len(curve)
    i = np.arange(t)
    rows = np.column_stack([curve, i / t, (i + 1) / t])
    path = Path(folder) / f"{video}.csv"
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(TEM_CSV_HEADER + "\n")
        np.savetxt(f, rows, delimiter=",", fmt="%.6f")
    return path


def pgm_path(folder, video: str) -> Path:
    return Path(folder) / f"{video}.npz"


def write_pgm(folder, video: str, proposals: np.ndarray, window: np.ndarray, features: np.ndarray,
              spans: np.ndarray) -> None:
    proposals = np.asarray(proposals, np.float64).reshape(-1, 7)
    features = np.asarray(features, np.float32).reshape(-1, 32)
    if len(features) != len(proposals) or len(window) != len(proposals):
        raise ValueError("PGM: one window index and one feature row per proposal")
    _save(pgm_path(folder, video), proposals=proposals, window=np.asarray(window, np.int64), features=features,
          spans=np.asarray(spans, np.float64).reshape(-1, 2))


def read_pgm(folder, video: str) -> dict:
    """``proposals`` (N, 7), ``window`` (N,), ``features`` (N, 32), ``spans`` (W, 2); InputError naming the file."""
    path = pgm_path(folder, video)
    d = _load(path, ("proposals", "window", "features", "spans"), "PGM output")
    n = len(d["proposals"])
    if d["proposals"].shape != (n, 7) or d["features"].shape != (n, 32) or d["window"].shape != (n,) \
            or (n and (d["window"].min() < 0 or d["window"].max() >= len(d["spans"]))):
        raise InputError(f"{path}: inconsistent arrays (proposals {d['proposals'].shape}, features "
                         f"{d['features'].shape}, windows {d['window'].shape}); remake it with bsn_pgm.py")
    return d


def write_pgm_csv(folder, video: str, proposals: np.ndarray) -> Path:
    """The original's PGM CSV of one whole video's proposals (N, 7)."""
    path = Path(folder) / f"{video}.csv"
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(PGM_CSV_HEADER + "\n")
        np.savetxt(f, np.asarray(proposals).reshape(-1, 7), delimiter=",", fmt="%.6f")
    return path


def missing(folder: str | os.PathLike, videos, path_fn) -> list[str]:
    return [v for v in videos if not path_fn(folder, v).is_file()]
