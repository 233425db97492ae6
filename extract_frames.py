"""Extract RGB frames and optical flow from videos into TSN/DenseFlow frame folders.

One folder per video (video id = file stem) under OUT_ROOT, with
``img_00001.jpg``, ``flow_x_00001.jpg``, ``flow_y_00001.jpg`` and a
``meta.json`` written last (see ops/formats/frames.py).  Videos already complete with
the same settings are skipped, so a killed run is resumed by running the same
command again.  Folders made with other settings, or not by this script (no
``meta.json``), are refused with an error listing them; ``--overwrite``
re-extracts them and replaces each once its new folder is complete.

Example::

    python extract_frames.py data/videos data/frames --new_width 340 --new_height 256 -j 2
    python extract_frames.py videos.txt data/frames --modality RGB --fps 10 --short_side 256

Exit status: 0 when every video was extracted (or already complete), 1 when
any video failed (listed in the final summary), 2 for bad arguments or
folders refused as above.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from joblib import Parallel, delayed
from tqdm.contrib.logging import logging_redirect_tqdm

from ops.device import DEVICE_HELP, device_arg, resolve_device, shard_arg, take_shard
from ops.errors import InputError, run_main
from ops.formats.frames import (expected_counts, flow_names, make_meta, missing_files, read_meta, rgb_name,
                               write_meta)
from ops.io import atomic_dir, id_too_long, read_text, settle_replaced_dir
from ops.log import progress, setup_logging
from ops.video.flow import (DEFAULT_BOUND, FLOW_ALGORITHMS, default_flow_algorithm, make_flow, quantise_flow,
                            to_gray)
from ops.video.video import (VIDEO_EXTS, VideoError, iter_frames, num_kept_frames, output_fps, probe_video, target_size,
                             timestamp_drift, write_jpeg)

logger = logging.getLogger("extract_frames")
MODALITIES = ("RGB", "Flow")


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of one extraction run (picklable, sent to the worker processes)."""

    modalities: tuple[str, ...] = MODALITIES
    new_width: int = 340
    new_height: int = 256
    short_side: int = 0
    jpeg_quality: int = 95
    flow: str | None = "dis_medium"
    device: str = "cpu"
    bound: float = DEFAULT_BOUND
    frame_step: int = 1
    fps: float | None = None
    allow_truncated: bool = False
    threads: int | None = None  # threads per video (decoder, OpenCV, CPU torch); None: the libraries' defaults


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", help="a folder of videos, one video file, or a text file listing video paths "
                                  "(one per line; relative paths are relative to the list's folder)")
    p.add_argument("out_root", help="output root; one frame folder per video is created in it")
    p.add_argument("--modality", nargs="+", choices=MODALITIES, default=list(MODALITIES),
                   help="what to extract (default: RGB Flow)")
    p.add_argument("--new_width", type=int, default=340, help="output width in pixels (0 = source width)")
    p.add_argument("--new_height", type=int, default=256, help="output height in pixels (0 = source height)")
    p.add_argument("--short_side", type=int, default=0,
                   help="scale the shorter side to this many pixels keeping the aspect ratio "
                        "(overrides --new_width/--new_height)")
    p.add_argument("--jpeg_quality", type=int, default=95, help="JPEG quality 1..100 (default 95)")
    p.add_argument("--flow", choices=sorted(FLOW_ALGORITHMS), default=None,
                   help="flow algorithm (default: dis_medium on CPU, tvl1_torch on CUDA; see ops/video/flow.py)")
    p.add_argument("--bound", type=float, default=DEFAULT_BOUND,
                   help="flow is clipped to +-bound pixels before quantising to 0..255 (default 20)")
    p.add_argument("--frame_step", type=int, default=1,
                   help="flow k is computed between frames k and k + frame_step (default 1)")
    p.add_argument("--fps", type=float, default=None,
                   help="keep frames at this reduced rate (Hz); default: every frame")
    p.add_argument("--device", default="auto", type=device_arg, help=f"{DEVICE_HELP}; only tvl1_torch runs on a GPU")
    p.add_argument("--shard", type=shard_arg, default=None,
                   help="K/N: extract only the K-th of N parts of the videos (a cluster job array: N jobs, "
                        "every part once; the parts together equal one run)")
    p.add_argument("-j", "--jobs", type=int, default=1,
                   help="cores to use: up to this many videos in parallel processes, largest first; fewer "
                        "videos than jobs share the cores through multi-threaded decoding (default 1)")
    p.add_argument("--ext", nargs="+", default=list(VIDEO_EXTS),
                   help="video file extensions searched in a folder (default: common video types)")
    p.add_argument("--recursive", action="store_true", help="search the video folder recursively")
    p.add_argument("--allow_truncated", action="store_true",
                   help="keep the frames of a video that decodes to fewer frames than its container "
                        "reports, instead of failing it")
    p.add_argument("--overwrite", action="store_true",
                   help="re-extract the videos whose folders were made with other settings or not by this "
                        "script (no meta.json), replacing each folder once its new one is complete; "
                        "without it such folders stop the run with an error listing them")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def collect_videos(source: str | os.PathLike, exts=VIDEO_EXTS, recursive: bool = False) -> list[Path]:
    """Video paths from a folder, a single video file or a list file (one path per line, # comments).

    In a folder, hidden files (``.name``: e.g. a killed generator's ``.X.partial.mp4``) are not videos."""
    source = Path(source)
    exts = {e.lower().lstrip(".") for e in exts}
    if source.is_dir():
        pattern = "**/*" if recursive else "*"
        return sorted(p for p in source.glob(pattern) if p.is_file() and p.suffix.lower().lstrip(".") in exts
                      and not any(part.startswith(".") for part in p.relative_to(source).parts))
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such folder, video or list file")
    if source.suffix.lower().lstrip(".") in exts:
        return [source]
    lines = [ln.strip() for ln in read_text(source).splitlines()]
    paths = [Path(ln) for ln in lines if ln and not ln.startswith("#")]
    return [p if p.is_absolute() else source.parent / p for p in paths]


def check_unique_ids(videos: list[Path]) -> None:
    """Raise ValueError when two videos share a stem (they would share a frame folder)."""
    seen: dict[str, Path] = {}
    clashes = []
    for v in videos:
        if v.stem in seen:
            clashes.append(f"{seen[v.stem]} and {v}")
        seen.setdefault(v.stem, v)
    if clashes:
        raise InputError("video ids (file stems) must be unique; clashes: " + "; ".join(clashes[:10]))


@contextlib.contextmanager
def _thread_limits(cfg: ExtractConfig):
    """Give OpenCV (and CPU torch) ``cfg.threads`` threads while one video is extracted; yields the
    decoder's thread count (None: FFmpeg's default, one per core).

    The previous settings are restored afterwards, because a run with a single
    worker extracts in the calling process.
    """
    if cfg.threads is None:
        yield None
        return
    cv_threads = cv2.getNumThreads()
    torch = None
    if cfg.flow == "tvl1_torch" and cfg.device == "cpu":
        import torch
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(cfg.threads)
    cv2.setNumThreads(cfg.threads)
    try:
        yield cfg.threads
    finally:
        cv2.setNumThreads(cv_threads)
        if torch is not None:
            torch.set_num_threads(torch_threads)


class _FlowWriter:
    """Collects frame pairs ``frame_step`` apart, computes their flow in batches, writes flow JPEGs."""

    def __init__(self, out_dir: Path, cfg: ExtractConfig):
        self.out_dir, self.cfg = out_dir, cfg
        self.fn = make_flow(cfg.flow, device=cfg.device if cfg.flow == "tvl1_torch" else "cpu")
        self.history: deque = deque(maxlen=cfg.frame_step)
        self.prev: list[np.ndarray] = []
        self.next: list[np.ndarray] = []
        self.count = 0

    def add(self, gray: np.ndarray) -> None:
        if len(self.history) == self.cfg.frame_step:
            self.prev.append(self.history[0])
            self.next.append(gray)
            if len(self.prev) >= self.fn.batch_size:
                self.flush()
        self.history.append(gray)

    def flush(self) -> None:
        if not self.prev:
            return
        flow = self.fn(np.stack(self.prev), np.stack(self.next))  # (B, H, W, 2) pixels
        q = quantise_flow(flow, self.cfg.bound)
        for k in range(len(q)):
            self.count += 1
            name_x, name_y = flow_names(self.count)
            write_jpeg(self.out_dir / name_x, q[k, ..., 0], self.cfg.jpeg_quality)
            write_jpeg(self.out_dir / name_y, q[k, ..., 1], self.cfg.jpeg_quality)
        self.prev, self.next = [], []


def exit_if_orphaned(parent: int | None) -> None:
    """End this worker process when the run that started it (pid ``parent``) is gone.

    A worker whose parent was killed (OOM killer, ``kill -9``, ``timeout -s KILL``) would otherwise go on
    writing into its ``.ID.partial`` folder while a re-run extracts the same video.  Called in the main
    process (``parent`` is itself, or None) it does nothing.
    """
    if parent is not None and os.getpid() != parent and os.getppid() != parent:
        os._exit(3)      # no cleanup: the half-written .ID.partial folder is removed by the next run


def _write_frames(video: Path, out_dir: Path, size, cfg: ExtractConfig, threads,
                  parent: int | None = None, timestamps: list | None = None) -> tuple[int, int, int]:
    """Decode ``video`` into ``out_dir``; returns (RGB frames written, flow frames written, frames kept).

    ``parent``: pid of the run; a worker stops within 16 frames of its death (:func:`exit_if_orphaned`).
    ``timestamps`` receives the decoder's time of every kept frame (:func:`iter_frames`)."""
    want_rgb, want_flow = "RGB" in cfg.modalities, "Flow" in cfg.modalities
    flow = _FlowWriter(out_dir, cfg) if want_flow else None
    n = 0
    # Prefetch: decoding+resizing runs in a thread while this one encodes JPEGs and computes flow.
    for n, frame in enumerate(iter_frames(video, size=size, fps=cfg.fps, threads=threads, prefetch=16,
                                          timestamps=timestamps), 1):
        if n % 16 == 0:
            exit_if_orphaned(parent)
        if want_rgb:
            write_jpeg(out_dir / rgb_name(n), frame, cfg.jpeg_quality)
        if flow is not None:
            flow.add(to_gray(frame))
    if flow is not None:
        flow.flush()
    counts = (n if want_rgb else 0), (flow.count if flow else 0)
    # The contract every later stage checks (ops/formats/frames.py); a mismatch here is a bug, not a bad video.
    assert counts == expected_counts(n, cfg.frame_step, cfg.modalities), (counts, n, cfg.frame_step)
    return (*counts, n)


# A frame this far (seconds) from index / fps means a variable frame rate: every stage times frames by index.
MAX_TIMESTAMP_DRIFT_S = 0.5


def _check_frame_rate(video: Path, timestamps: list, fps: float) -> str | None:
    """A warning text when the decoder places frames far from ``index / fps`` (a variable-frame-rate video)."""
    drift, index = timestamp_drift(timestamps, fps)
    if abs(drift) <= MAX_TIMESTAMP_DRIFT_S:
        return None
    return (f"{video}: variable frame rate: frame {index + 1} plays at {index / fps + drift:.2f} s, not at the "
            f"{index / fps:.2f} s its number gives at {fps:g} fps, and every stage times frames by number; "
            f"re-encode at a constant rate (e.g. ffmpeg -i IN -vsync cfr -r {fps:g} OUT) and extract again")


def _check_decoded(video: Path, decoded: int, expected: int, allow_truncated: bool) -> str | None:
    """Raise VideoError for a zero-frame or truncated video; returns a warning text when tolerated."""
    if decoded == 0:
        raise VideoError(f"{video}: no frame could be decoded (empty or corrupt video); re-encode or remove it")
    # Containers' frame counts can be off by a frame or two; more missing frames mean a cut-off file.
    if expected > 0 and expected - decoded > max(2, 0.05 * expected):
        msg = (f"{video}: truncated, decoded {decoded} of {expected} frames the container reports; "
               "re-download/re-encode it, or pass --allow_truncated to keep what decodes")
        if not allow_truncated:
            raise VideoError(msg)
        return msg
    return None


def extract_video(video: str | os.PathLike, out_dir: str | os.PathLike, cfg: ExtractConfig,
                  replace_existing: bool = False, parent: int | None = None) -> dict:
    """Extract one video into ``out_dir`` (built under a temp name, renamed when complete).

    ``replace_existing``: an existing ``out_dir`` (other settings, --overwrite)
    is replaced once the new folder is complete, and kept if extraction fails.
    ``parent``: pid of the run; a worker process ends when that process is gone.
    Returns a result dict: ``video``, ``ok``, ``error`` (message or None),
    ``num_frames``, ``num_flow``, ``seconds``, ``warning``.  Errors about the
    video are caught and returned so that the other videos go on.
    """
    t0 = time.perf_counter()
    video, out_dir = Path(video), Path(out_dir)
    result = _failure(video, None)
    try:
        info = probe_video(video)
        if info.fps <= 0:
            raise VideoError(f"{video}: the container gives no frame rate; re-encode it (e.g. ffmpeg -r 30)")
        size = target_size(info.width, info.height, cfg.new_width, cfg.new_height, cfg.short_side)
        fps = output_fps(info.fps, cfg.fps)
        with atomic_dir(out_dir, replace=replace_existing) as tmp, _thread_limits(cfg) as threads:
            exit_if_orphaned(parent)
            timestamps: list = []
            n_rgb, n_flow, n_kept = _write_frames(video, tmp, size, cfg, threads, parent, timestamps)
            expected = num_kept_frames(info.num_frames, info.fps, cfg.fps)
            warnings = [_check_decoded(video, n_kept, expected, cfg.allow_truncated),
                        _check_frame_rate(video, timestamps, info.fps)]
            result["warning"] = "; ".join(w for w in warnings if w) or None
            has_flow = "Flow" in cfg.modalities
            meta = make_meta(video.resolve(), n_rgb, n_flow, fps, size,
                             cfg.flow if has_flow else None, cfg.bound if has_flow else None,
                             cfg.frame_step, cfg.jpeg_quality, tuple(cfg.modalities), num_kept=n_kept,
                             source_fps=info.fps, source_num_frames=info.num_frames,
                             source_size=[info.width, info.height], requested=_requested(cfg),
                             device=cfg.device, seconds=round(time.perf_counter() - t0, 3))
            write_meta(tmp, meta)  # last: its presence marks the folder complete
        result.update(ok=True, num_frames=n_rgb, num_flow=n_flow)
    except (VideoError, OSError, RuntimeError, ValueError, cv2.error) as e:
        result["error"] = f"{type(e).__name__}: {e}" if not isinstance(e, VideoError) else str(e)
        if not isinstance(e, VideoError):
            result["error"] = f"{video}: {result['error']}"
    result["seconds"] = time.perf_counter() - t0
    return result


def _requested(cfg: ExtractConfig) -> dict:
    """The size and rate flags as given; meta's ``size`` and ``fps`` are what they gave for this video."""
    return {"new_width": cfg.new_width, "new_height": cfg.new_height, "short_side": cfg.short_side, "fps": cfg.fps}


# --------------------------------------------------------------------------- resuming: what to redo


def _same(stored, requested) -> bool:
    """Equal, numbers up to float rounding (bound and fps are floats in JSON)."""
    numbers = (int, float)
    if isinstance(stored, numbers) and isinstance(requested, numbers) and not isinstance(stored, bool):
        return math.isclose(stored, requested, rel_tol=1e-9, abs_tol=1e-9)
    return stored == requested


def settings_diff(meta: dict, cfg: ExtractConfig) -> dict[str, tuple]:
    """Where a complete folder's ``meta.json`` differs from ``cfg``: field -> (stored, requested).

    Only the fields ``meta`` holds are compared: a meta.json from an older
    version lacking one passes on it.  ``modalities``: the stored ones must
    include the requested ones (an RGB + Flow folder serves an RGB-only run).
    ``size`` and ``fps`` are compared as the output the flags give for the
    recorded source size and rate (``--new_width 0`` on a 340 px wide video
    is the same as ``--new_width 340``).  ``flow_algorithm``, ``flow_bound``
    and ``frame_step`` only when both the folder and ``cfg`` have Flow.  Not
    compared, as they do not change the frames: ``device``, threads, timing,
    ``--allow_truncated`` and the source path.
    """
    diff = {}
    stored_mods = meta.get("modalities")
    if stored_mods is not None and not set(cfg.modalities) <= set(stored_mods):
        diff["modalities"] = (list(stored_mods), list(cfg.modalities))
    want = {"jpeg_quality": cfg.jpeg_quality}
    if meta.get("source_size") is not None:
        want["size"] = list(target_size(*meta["source_size"], cfg.new_width, cfg.new_height, cfg.short_side))
    if meta.get("source_fps") is not None:
        want["fps"] = output_fps(meta["source_fps"], cfg.fps)
    if "Flow" in cfg.modalities and "Flow" in (stored_mods or ("Flow",)):
        want.update(flow_algorithm=cfg.flow, flow_bound=cfg.bound, frame_step=cfg.frame_step)
    for key, value in want.items():
        if key in meta and not _same(meta[key], value):
            diff[key] = (meta[key], value)
    return diff


class OutputConflict(InputError):
    """Folders under the output root that a run must not skip nor replace without --overwrite."""


@dataclass
class Plan:
    """What a run does: ``todo`` videos to extract, of which those in ``replace`` (ids) replace an
    existing folder; ``done`` videos already complete with the requested settings."""

    todo: list[Path] = field(default_factory=list)
    done: list[Path] = field(default_factory=list)
    replace: set[str] = field(default_factory=set)


def _folder_state(folder: Path, cfg: ExtractConfig) -> tuple[str, dict | str | None]:
    """State of one video's folder: ("new", None), ("done", None), ("mismatched", settings_diff),
    ("incomplete", why: files meta.json records are missing) or ("foreign", why: no or unreadable
    meta.json, or not a folder)."""
    settle_replaced_dir(folder)
    if not (folder.exists() or folder.is_symlink()):
        return "new", None
    if not folder.is_dir():
        return "foreign", f"{folder} (a file)"
    try:
        meta = read_meta(folder)
    except ValueError:  # we always write meta.json atomically: an unreadable one is not ours
        return "foreign", f"{folder} (unreadable meta.json)"
    if meta is None:
        return "foreign", str(folder)
    diff = settings_diff(meta, cfg)
    if diff:
        return "mismatched", diff
    missing = missing_files(folder, meta)
    if missing:   # files deleted, or written by a worker that outlived a killed run: ours, redone
        return "incomplete", f"{folder}: {len(missing)} of the files meta.json records are missing (first {missing[0]})"
    return "done", None


def plan(videos: list[Path], out_root: Path, cfg: ExtractConfig, overwrite: bool = False) -> Plan:
    """Sort ``videos`` by the state of their folders ``out_root/ID`` (:func:`_folder_state`).

    No folder: to do.  A ``meta.json`` matching ``cfg`` (:func:`settings_diff`):
    complete, skipped, so that re-running a killed run resumes it.  Made with
    other settings, or not by this script (no or unreadable ``meta.json``,
    e.g. DenseFlow's): raises OutputConflict listing them, as deleting them
    silently could lose data; with ``overwrite`` they are redone and replaced.
    Our own folders missing files their ``meta.json`` records are redone (with a warning), never called
    complete.  Our own leftovers are hidden (``.ID.partial``, ``.ID.old``) and cleaned up.
    """
    result, mismatched, foreign, incomplete = Plan(), [], [], set()
    for v in videos:
        state, detail = _folder_state(out_root / v.stem, cfg)
        if state == "done":
            result.done.append(v)
            continue
        result.todo.append(v)
        if state == "incomplete":
            logger.warning("%s; extracting it again", detail)
            incomplete.add(v.stem)
        elif state == "mismatched":
            mismatched.append((out_root / v.stem, detail))
        elif state == "foreign":
            foreign.append(detail)
        if state != "new":
            result.replace.add(v.stem)
    if result.replace - incomplete and not overwrite:
        raise OutputConflict(f"{out_root}: {_conflict_message(mismatched, foreign)}")
    if result.replace - incomplete:
        logger.warning("--overwrite: re-extracting %d folder(s) made with other settings or not by this script; "
                       "each is replaced once its new folder is complete", len(result.replace - incomplete))
    return result


def _conflict_message(mismatched: list[tuple[Path, dict]], foreign: list[str], shown: int = 5) -> str:
    """The error for :func:`plan`: the first ``shown`` folders of each kind, then a count."""
    def more(items):
        return f"\n  ... and {len(items) - shown} more" if len(items) > shown else ""
    parts = []
    if mismatched:
        rows = [f"  {d}: " + "; ".join(f"{k} stored {s}, requested {r}" for k, (s, r) in diff.items())
                for d, diff in mismatched[:shown]]
        parts.append(f"{len(mismatched)} folder(s) were extracted with other settings:\n" + "\n".join(rows)
                     + more(mismatched) + "\nre-run with the stored settings to resume them, pass --overwrite to "
                     "re-extract them with the requested ones, or use another output folder")
    if foreign:
        rows = [f"  {d}" for d in foreign[:shown]]
        parts.append(f"{len(foreign)} folder(s) not made by extract_frames.py (no meta.json): move them away or "
                     "pass --overwrite to replace them:\n" + "\n".join(rows) + more(foreign))
    return "\n".join(parts)


def _config(args, device: str) -> ExtractConfig:
    """Validate arguments into an ExtractConfig; raises ValueError with the offending flag."""
    if not 1 <= args.jpeg_quality <= 100:
        raise InputError(f"--jpeg_quality must be in 1..100, got {args.jpeg_quality}")
    if args.frame_step < 1:
        raise InputError(f"--frame_step must be >= 1, got {args.frame_step}")
    if args.jobs < 1:
        raise InputError(f"-j/--jobs must be >= 1 (the number of cores to use), got {args.jobs}")
    if args.fps is not None and args.fps <= 0:
        raise InputError(f"--fps must be > 0, got {args.fps}")
    if min(args.new_width, args.new_height, args.short_side) < 0:
        raise InputError("--new_width, --new_height and --short_side must be >= 0")
    flow = None
    if "Flow" in args.modality:
        flow = args.flow or default_flow_algorithm(device)
        make_flow(flow, device=device if flow == "tvl1_torch" else "cpu")  # fail now if unavailable here
    return ExtractConfig(tuple(m for m in MODALITIES if m in args.modality), args.new_width, args.new_height,
                         args.short_side, args.jpeg_quality, flow, device, args.bound, args.frame_step,
                         args.fps, args.allow_truncated)


def schedule(todo: list[Path], jobs: int) -> tuple[list[Path], int, int | None]:
    """Order the videos and share ``jobs`` cores among them: returns (videos, workers, threads per video).

    With one job, videos run in the given order with the libraries' default
    threading (threads None).  With more, ``min(jobs, videos)`` worker
    processes each decode with ``jobs // workers`` threads, so that fewer
    videos than jobs still use every core (FFmpeg's frame-threaded decoding
    instead of splitting a video by seeking, whose frame numbering OpenCV only
    estimates), and the largest files start first so that no long video is
    left running alone at the end.
    """
    if jobs <= 1 or not todo:
        return todo, 1, None
    workers = min(jobs, len(todo))
    return sorted(todo, key=_file_size, reverse=True), workers, max(1, jobs // workers)


def _file_size(path: Path) -> int:
    """Size in bytes, -1 for a missing file (it fails later with its own message)."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _failure(video: Path, error: str) -> dict:
    """The result of a video refused before extraction (as :func:`extract_video` reports a failure)."""
    return {"video": str(video), "ok": False, "error": error, "num_frames": 0, "num_flow": 0, "seconds": 0.0,
            "warning": None}


def _report(results: list[dict], skipped: int, seconds: float) -> int:
    """Log the summary; returns the exit status (1 when any video failed)."""
    failed = [r for r in results if not r["ok"]]
    frames = sum(r["num_frames"] for r in results)
    flows = sum(r["num_flow"] for r in results)
    logger.info("done in %.1f s: %d extracted (%d RGB frames, %d flow frames), %d already complete, %d failed",
                seconds, len(results) - len(failed), frames, flows, skipped, len(failed))
    if failed:
        logger.error("%d video(s) failed:\n  %s", len(failed), "\n  ".join(r["error"] for r in failed))
        return 1
    return 0


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    cfg = _config(args, resolve_device(args.device))
    videos = collect_videos(args.videos, args.ext, args.recursive)
    check_unique_ids(videos)
    videos = take_shard(sorted(videos, key=lambda v: v.stem), args.shard)   # the same part on every machine
    # a name no folder can carry fails alone, as an unreadable video does: the others are extracted
    refused = [_failure(v, f"{v}: {id_too_long(v.stem)}") for v in videos if id_too_long(v.stem)]
    videos = [v for v in videos if not id_too_long(v.stem)]
    out_root = Path(args.out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    work = plan(videos, out_root, cfg, args.overwrite)
    todo, workers, threads = schedule(work.todo, args.jobs)
    cfg = replace(cfg, threads=threads)
    logger.info("%d videos: %d to extract, %d already complete; %s; %d worker(s); config %s",
                len(videos), len(todo), len(work.done), out_root, workers, asdict(cfg))
    t0 = time.perf_counter()
    jobs = (delayed(extract_video)(v, out_root / v.stem, cfg, v.stem in work.replace, os.getpid()) for v in todo)
    results = list(refused)
    for r in refused:
        logger.error("failed: %s", r["error"])
    with logging_redirect_tqdm():
        stream = Parallel(n_jobs=workers, return_as="generator_unordered")(jobs) if todo else []
        for r in progress(stream, total=len(todo), unit="video", desc="extract",
                          disable=args.verbose < 0):  # verbose -1: quiet, for benchmarks and callers
            results.append(r)
            if r["ok"]:
                logger.info("%s: %d frames, %d flow in %.2f s (%.1f frames/s)", Path(r["video"]).stem,
                            r["num_frames"], r["num_flow"], r["seconds"],
                            max(r["num_frames"], r["num_flow"]) / max(r["seconds"], 1e-9))
            else:
                logger.error("failed: %s", r["error"])
            if r["warning"]:
                logger.warning("%s", r["warning"])
    return _report(results, len(work.done), time.perf_counter() - t0)


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
