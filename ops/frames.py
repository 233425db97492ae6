"""The frame-folder contract between extraction and every later stage.

Layout (as written by the TSN/DenseFlow tools, so folders are interchangeable)::

    FRAME_ROOT/
      <video_id>/
        img_00001.jpg ...      RGB frames, 1-based, 5-digit
        flow_x_00001.jpg ...   horizontal flow, quantised to 0..255
        flow_y_00001.jpg ...   vertical flow
        meta.json              how the folder was made; written LAST

A folder without ``meta.json`` is incomplete (an interrupted extraction) when
it was produced by our extractor; folders from other tools (DenseFlow) have no
metadata and are counted by listing their files.

``meta.json`` keys (see :func:`make_meta`): ``video`` (source path),
``num_frames`` (RGB frames written), ``num_flow`` (flow pairs written),
``fps`` (frames per second of the written frames), ``size`` ([width, height]),
``flow_algorithm``, ``flow_bound``, ``frame_step``, ``jpeg_quality``,
``modalities`` and ``version``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ops.io import atomic_write_json

META_NAME = "meta.json"
RGB_PREFIX = "img_"
FLOW_X_PREFIX = "flow_x_"
FLOW_Y_PREFIX = "flow_y_"
FRAME_EXT = ".jpg"
META_VERSION = 1


def rgb_name(index: int) -> str:
    """File name of RGB frame ``index`` (1-based)."""
    return f"{RGB_PREFIX}{index:05d}{FRAME_EXT}"


def flow_names(index: int) -> tuple[str, str]:
    """File names (x, y) of flow frame ``index`` (1-based)."""
    return f"{FLOW_X_PREFIX}{index:05d}{FRAME_EXT}", f"{FLOW_Y_PREFIX}{index:05d}{FRAME_EXT}"


@dataclass(frozen=True)
class FrameCounts:
    """Frame counts of one video folder.

    ``num_frames``: RGB frames; ``num_flow``: flow frames (x and y counted as
    one; the smaller of the two if they differ); ``fps``: frame rate of the
    written frames when known from the metadata, else None.
    """

    num_frames: int
    num_flow: int
    fps: float | None = None


def make_meta(video: str, num_frames: int, num_flow: int, fps: float, size: tuple[int, int],
              flow_algorithm: str | None, flow_bound: float | None, frame_step: int = 1,
              jpeg_quality: int = 95, modalities: tuple[str, ...] = ("RGB", "Flow"),
              **extra) -> dict:
    """Build the metadata dict written as ``meta.json`` (units: fps in Hz, size in pixels)."""
    meta = {
        "version": META_VERSION,
        "video": str(video),
        "num_frames": int(num_frames),
        "num_flow": int(num_flow),
        "fps": float(fps),
        "size": [int(size[0]), int(size[1])],
        "flow_algorithm": flow_algorithm,
        "flow_bound": flow_bound,
        "frame_step": int(frame_step),
        "jpeg_quality": int(jpeg_quality),
        "modalities": list(modalities),
    }
    meta.update(extra)
    return meta


def write_meta(video_dir: str | os.PathLike, meta: dict) -> None:
    """Write ``meta.json`` atomically; call it after every frame is on disk."""
    atomic_write_json(Path(video_dir) / META_NAME, meta)


def read_meta(video_dir: str | os.PathLike) -> dict | None:
    """Return the folder's metadata, or None when it has no ``meta.json``.

    Raises ValueError naming the file when the metadata is not valid JSON.
    """
    path = Path(video_dir) / META_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid metadata JSON ({e}); delete the folder and re-extract") from e


def count_frames(video_dir: str | os.PathLike, trust_meta: bool = True) -> FrameCounts:
    """Count RGB and flow frames of one video folder.

    Uses ``meta.json`` when present (cheap on large datasets), otherwise lists
    the folder once.  Raises FileNotFoundError when the folder does not exist.
    """
    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        raise FileNotFoundError(f"frame folder {video_dir} does not exist")
    meta = read_meta(video_dir) if trust_meta else None
    if meta is not None:
        return FrameCounts(int(meta["num_frames"]), int(meta["num_flow"]), meta.get("fps"))
    n_rgb = n_fx = n_fy = 0
    with os.scandir(video_dir) as it:
        for entry in it:
            name = entry.name
            if not name.endswith(FRAME_EXT):
                continue
            if name.startswith(RGB_PREFIX):
                n_rgb += 1
            elif name.startswith(FLOW_X_PREFIX):
                n_fx += 1
            elif name.startswith(FLOW_Y_PREFIX):
                n_fy += 1
    return FrameCounts(n_rgb, min(n_fx, n_fy), None)


def list_video_dirs(frame_root: str | os.PathLike) -> dict[str, Path]:
    """Map video id -> frame folder for every sub-folder of ``frame_root``.

    Hidden folders (temp folders of an interrupted extraction) are skipped.
    """
    frame_root = Path(frame_root)
    if not frame_root.is_dir():
        raise FileNotFoundError(f"frame root {frame_root} does not exist; run extract_frames.py first")
    return {p.name: p for p in sorted(frame_root.iterdir()) if p.is_dir() and not p.name.startswith(".")}


# --------------------------------------------------------------------------- pre-flight check


@dataclass(frozen=True)
class FolderProblem:
    """Why a video's frame folder cannot be used."""

    video: str
    reason: str


def check_frame_folder(video: str, folder: Path, modality: str = "RGB", duration: float | None = None,
                       fps: float | None = None, tolerance: float = 0.05) -> tuple[int | None, FolderProblem | None]:
    """Check one video's frame folder before a list is built from it.

    Returns (frame count of ``modality`` to use, None) or (None, problem) when the
    folder is missing, has zero frames, RGB and flow counts differ by more than
    one, or the RGB count differs from ``duration x fps`` by more than
    ``max(2, tolerance x expected)`` frames (fps from ``meta.json``, else ``fps``;
    skipped when either is unknown).
    """
    try:
        counts = count_frames(folder)
    except FileNotFoundError:
        return None, FolderProblem(video, f"frame folder {folder} is missing (extract this video first)")
    n = counts.num_frames if modality == "RGB" else counts.num_flow
    if n == 0:
        return None, FolderProblem(video, f"{folder} has zero {modality} frames")
    if counts.num_flow and abs(counts.num_frames - counts.num_flow) > 1:
        return None, FolderProblem(video, f"{folder}: {counts.num_frames} RGB frames but {counts.num_flow} flow "
                                          "frames (a partial extraction? delete the folder and re-extract)")
    fps = counts.fps or fps
    if duration is not None and fps and duration == duration:  # duration == duration: not NaN
        expected = duration * fps
        if abs(counts.num_frames - expected) > max(2.0, tolerance * expected):
            return None, FolderProblem(video, f"{folder}: {counts.num_frames} frames but duration {duration:.2f} s x "
                                              f"{fps:g} fps = {expected:.0f} (wrong video or fps?)")
    return n, None


def preflight(videos: list[str], frame_root: Path, modality: str = "RGB", durations: dict | None = None,
              fps: float | None = None, tolerance: float = 0.05) -> tuple[dict[str, int], list[FolderProblem]]:
    """Check the folders of ``videos`` under ``frame_root``.

    Returns (video id -> frame count, problems), every problem listed (not only the first).
    """
    durations = durations or {}
    counts, problems = {}, []
    for vid in videos:
        n, problem = check_frame_folder(vid, Path(frame_root) / vid, modality, durations.get(vid), fps, tolerance)
        if problem is None:
            counts[vid] = n
        else:
            problems.append(problem)
    return counts, problems
