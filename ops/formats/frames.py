"""The frame-folder contract between extraction and every later stage.

Layout (as written by the TSN/DenseFlow tools, so folders are interchangeable)::

    FRAME_ROOT/
      <video_id>/
        img_00001.jpg ...      RGB frames, 1-based, 5-digit
        flow_x_00001.jpg ...   horizontal flow, quantised to 0..255
        flow_y_00001.jpg ...   vertical flow
        meta.json              how the folder was made; written LAST

Our extractor builds each folder under a hidden temp name (``.ID.partial``)
and renames it once ``meta.json`` is written, so a visible folder without
``meta.json`` was made by another tool (DenseFlow): it is read by listing its
files, and extract_frames.py never deletes it without ``--overwrite``.

``meta.json`` keys (see :func:`make_meta`): ``video`` (source path),
``num_frames`` (RGB frames written), ``num_flow`` (flow pairs written),
``num_kept`` (frames kept from the video: all decoded frames, or those kept
by a reduced fps), ``fps`` (frames per second of the kept frames), ``size``
([width, height]), ``flow_algorithm``, ``flow_bound``, ``frame_step``,
``jpeg_quality``, ``modalities`` and ``version``; extract_frames.py adds
``source_fps``, ``source_num_frames``, ``source_size``, ``device``,
``seconds`` and ``requested`` (the size and rate flags as given:
``new_width``, ``new_height``, ``short_side``, ``fps``; absent from folders
made before it was added, which stay version 2 as every other key kept its
meaning).  A re-run compares the settings the folder holds with its own
(extract_frames.settings_diff); readers must not require the optional keys.

Frame counts (the contract every check relies on), with N = ``num_kept``
and k = ``frame_step``::

    num_frames = N                 if "RGB" in modalities else 0
    num_flow   = max(N - k, 0)     if "Flow" in modalities else 0

Flow frame j (1-based) is the motion from kept frame j to kept frame j + k, so
it starts at the time of RGB frame j, (j - 1) / fps seconds.  A reduced fps
changes N, not the relation; k counts kept frames, not source frames.
Folders without ``meta.json`` (DenseFlow) are taken as k = 1 with a tolerance
of one frame between the RGB and flow counts.
"""
from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from ops.errors import InputError
from ops.io import atomic_write_json, read_json

META_NAME = "meta.json"
RGB_PREFIX = "img_"
FLOW_X_PREFIX = "flow_x_"
FLOW_Y_PREFIX = "flow_y_"
FRAME_EXT = ".jpg"
# Version 2 added num_kept (version 1 recorded the same number as num_decoded).
META_VERSION = 2


def rgb_name(index: int) -> str:
    """File name of RGB frame ``index`` (1-based)."""
    return f"{RGB_PREFIX}{index:05d}{FRAME_EXT}"


def flow_names(index: int) -> tuple[str, str]:
    """File names (x, y) of flow frame ``index`` (1-based)."""
    return f"{FLOW_X_PREFIX}{index:05d}{FRAME_EXT}", f"{FLOW_Y_PREFIX}{index:05d}{FRAME_EXT}"


def expected_counts(num_kept: int, frame_step: int = 1,
                    modalities: tuple[str, ...] | list[str] = ("RGB", "Flow")) -> tuple[int, int]:
    """(num_frames, num_flow) an extraction of ``num_kept`` frames writes (see the module docstring).

    ``frame_step`` is in kept frames; flow frame j pairs kept frames j and j + frame_step.
    """
    num_frames = num_kept if "RGB" in modalities else 0
    num_flow = max(num_kept - frame_step, 0) if "Flow" in modalities else 0
    return num_frames, num_flow


@dataclass(frozen=True)
class FrameCounts:
    """Frame counts of one video folder.

    ``num_frames``: RGB frames; ``num_flow``: flow frames (x and y counted as
    one; the smaller of the two if they differ); ``fps``: frame rate of the
    written frames when known from the metadata, else None.  From
    ``meta.json`` only (None for a listed folder): ``num_kept`` (frames kept
    from the video), ``frame_step`` and ``modalities``.
    """

    num_frames: int
    num_flow: int
    fps: float | None = None
    num_kept: int | None = None
    frame_step: int | None = None
    modalities: tuple[str, ...] | None = None


def make_meta(video: str, num_frames: int, num_flow: int, fps: float, size: tuple[int, int],
              flow_algorithm: str | None, flow_bound: float | None, frame_step: int = 1,
              jpeg_quality: int = 95, modalities: tuple[str, ...] = ("RGB", "Flow"),
              num_kept: int | None = None, **extra) -> dict:
    """Build the metadata dict written as ``meta.json`` (units: fps in Hz, size in pixels).

    ``num_kept`` (frames kept from the video) defaults to the one implied by
    the counts: ``num_frames``, or ``num_flow + frame_step`` for a flow-only folder.
    """
    if num_kept is None:
        num_kept = num_frames if "RGB" in modalities else num_flow + frame_step * (num_flow > 0)
    meta = {
        "version": META_VERSION,
        "video": str(video),
        "num_frames": int(num_frames),
        "num_flow": int(num_flow),
        "num_kept": int(num_kept),
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

    Raises InputError naming the file when the metadata is not valid JSON or not an object.
    """
    path = Path(video_dir) / META_NAME
    try:
        meta = read_json(path)
    except FileNotFoundError:
        return None
    except InputError as e:
        raise InputError(f"{e}; delete the folder and re-extract") from None
    if not isinstance(meta, dict):
        raise InputError(f"{path}: expected a JSON object of frame metadata; delete the folder and re-extract")
    return meta


def missing_files(video_dir: str | os.PathLike, meta: dict) -> list[str]:
    """Names of the frames ``meta`` records (``num_frames`` RGB, ``num_flow`` flow pairs) that the folder lacks,
    sorted; one listing of the folder.  A folder is complete only when this is empty."""
    present = set(os.listdir(video_dir))
    wanted = [rgb_name(i) for i in range(1, int(meta.get("num_frames") or 0) + 1)]
    wanted += [name for i in range(1, int(meta.get("num_flow") or 0) + 1) for name in flow_names(i)]
    return sorted(name for name in wanted if name not in present)


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
        return _counts_from_meta(meta, video_dir / META_NAME)
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


def _meta_int(meta: dict, key: str, path, default=None, minimum: int = 0):
    value = meta.get(key, default)
    if value is None and default is None and key not in meta:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{path}: {key!r} must be an integer >= {minimum}, got {value!r}; delete the folder "
                         "and re-extract")
    return value


def _counts_from_meta(meta: dict, path) -> FrameCounts:
    """FrameCounts from a ``meta.json`` dict (version 1 recorded num_kept as ``num_decoded``); InputError
    naming ``path`` for a missing or ill-typed field."""
    for key in ("num_frames", "num_flow"):
        if key not in meta:
            raise InputError(f"{path}: no {key!r}; delete the folder and re-extract")
    fps = meta.get("fps")
    if fps is not None and not (not isinstance(fps, bool) and isinstance(fps, (int, float)) and 0 < fps < 1e4):
        raise InputError(f"{path}: 'fps' must be a positive number, got {fps!r}; delete the folder and re-extract")
    modalities = meta.get("modalities")
    if modalities is not None and not (isinstance(modalities, list) and all(isinstance(m, str) for m in modalities)):
        raise InputError(f"{path}: 'modalities' must be a list of names, got {modalities!r}")
    num_kept = _meta_int(meta, "num_kept", path) if "num_kept" in meta else _meta_int(meta, "num_decoded", path)
    return FrameCounts(_meta_int(meta, "num_frames", path), _meta_int(meta, "num_flow", path), fps, num_kept,
                       _meta_int(meta, "frame_step", path, default=1, minimum=1),
                       None if modalities is None else tuple(modalities))


def median_fps(video_dirs) -> float | None:
    """The median frame rate (Hz) of the frame folders ``video_dirs`` (their ``meta.json``); None when a folder
    records none (folders listed by hand).  What ``--snippet_seconds`` turns into frames per snippet."""
    rates = [count_frames(d).fps for d in video_dirs]
    if not rates or any(r is None for r in rates):
        return None
    return float(statistics.median(rates))


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


def _count_problem(folder: Path, counts: FrameCounts) -> str | None:
    """Why the RGB/flow counts of ``folder`` break the frame-count contract, or None.

    With ``meta.json`` the counts must equal :func:`expected_counts` exactly and
    the last frame files must exist (three stat calls: cheap on large datasets);
    without it (DenseFlow folders) frame_step 1 is assumed and the RGB and flow
    counts may differ by one.
    """
    if counts.num_kept is None:
        if counts.num_frames and counts.num_flow and abs(counts.num_frames - counts.num_flow) > 1:
            return (f"{folder}: {counts.num_frames} RGB frames but {counts.num_flow} flow frames (no meta.json, "
                    "so frame_step 1 is assumed: a partial extraction? delete the folder and re-extract)")
        return None
    step, modalities = counts.frame_step or 1, counts.modalities or ("RGB", "Flow")
    want = expected_counts(counts.num_kept, step, modalities)
    if (counts.num_frames, counts.num_flow) != want:
        return (f"{folder}: {counts.num_frames} RGB frames but {counts.num_flow} flow frames; its meta.json "
                f"(num_kept {counts.num_kept}, frame_step {step}, modalities {list(modalities)}) implies "
                f"{want[0]} and {want[1]} (num_flow = num_kept - frame_step); delete the folder and re-extract")
    last = ([rgb_name(counts.num_frames)] if counts.num_frames else []) + \
           (list(flow_names(counts.num_flow)) if counts.num_flow else [])
    missing = [name for name in last if not (folder / name).is_file()]
    if missing:
        return (f"{folder}: meta.json lists {counts.num_frames} RGB and {counts.num_flow} flow frames but "
                f"{', '.join(missing)} is missing (files deleted?); delete the folder and re-extract")
    return None


def _time_frames(counts: FrameCounts) -> int:
    """Frames spanning the video's duration: num_kept, else inferred from the files (DenseFlow: N - 1 flow)."""
    if counts.num_kept is not None:
        return counts.num_kept
    return counts.num_frames or (counts.num_flow + 1 if counts.num_flow else 0)


def check_frame_folder(video: str, folder: Path, modality: str = "RGB", duration: float | None = None,
                       fps: float | None = None, tolerance: float = 0.05) -> tuple[int | None, FolderProblem | None]:
    """Check one video's frame folder before a list is built from it.

    Returns (frame count of ``modality`` to use, None) or (None, problem) when the
    folder is missing, has zero ``modality`` frames, its RGB and flow counts break
    the contract of the module docstring (:func:`_count_problem`), or its kept
    frame count differs from ``duration x fps`` by more than
    ``max(2, tolerance x expected)`` frames (fps from ``meta.json``, else ``fps``;
    skipped when either is unknown).  Every message names the folder.
    """
    try:
        counts = count_frames(folder)
    except FileNotFoundError:
        return None, FolderProblem(video, f"frame folder {folder} is missing (extract this video first)")
    n = counts.num_flow if modality == "Flow" else counts.num_frames   # RGBDiff reads the RGB frames
    if n == 0:
        hint = f" (extracted with modalities {list(counts.modalities)})" if counts.modalities else ""
        return None, FolderProblem(video, f"{folder} has zero {modality} frames{hint}")
    reason = _count_problem(folder, counts)
    if reason is not None:
        return None, FolderProblem(video, reason)
    fps = counts.fps or fps
    if duration is not None and fps and duration == duration:  # duration == duration: not NaN
        expected, kept = duration * fps, _time_frames(counts)
        if abs(kept - expected) > max(2.0, tolerance * expected):
            return None, FolderProblem(video, f"{folder}: {kept} frames but duration {duration:.2f} s x "
                                              f"{fps:g} fps = {expected:.0f} (wrong video or fps?)")
    return n, None


def add_preflight_args(parser) -> None:
    """The pre-flight flags of the scripts that turn frame folders into frame-based lists (``--fps``,
    ``--count_tolerance``, ``--skip_bad``), for :func:`preflight`."""
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate of the extracted frames when folders have no meta.json")
    parser.add_argument("--count_tolerance", type=float, default=0.05,
                        help="allowed relative difference between frame count and duration x fps")
    parser.add_argument("--skip_bad", action="store_true", help="drop videos that fail the pre-flight check")


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
