"""Benchmark RGB frame extraction (decode, resize to 340x256, JPEG q95) against the ffmpeg command line.

Generates one 720p H.264 clip with ffmpeg (testsrc2 with grain, x264 crf 23;
or uses --videos) and ``--num_videos`` copies of it, then measures, in this
process, on the same input:

- ours: ``extract_frames.py VIDEOS OUT --modality RGB -j JOBS`` (after one
  warm-up run, so that the worker pool's start-up is not counted);
- ffmpeg: ``ffmpeg -i in.mp4 -vf scale=340:256 -q:v 2 img_%05d.jpg`` per video,
  one after another, with ffmpeg's own threading (the reference of the target);
- with ``--ffmpeg_parallel``: also ``ffmpeg -threads 1``, JOBS videos at a time.

The machine is shared, so the runs alternate within each round (the order
rotates from round to round) and every configuration sees the same load;
it prints each round, then the median frames/s of each and the median of the
per-round ratios ours / ffmpeg.  ``--profile`` first measures where our time
goes: CPU milliseconds per frame of each stage on one thread (decode, BGR
conversion, resize, JPEG encode, file write).  Without an ``ffmpeg``
executable the ffmpeg runs are skipped with a message (and the clip is
written with OpenCV's mp4v encoder instead of H.264).

Example::

    python bench/bench_extract.py --num_videos 4 --seconds 10 -j 2 --rounds 5 --profile
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import extract_frames  # noqa: E402
from ops.video.video import encode_jpeg, probe_video, resize_frame, write_bytes  # noqa: E402

SIZE = (340, 256)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", default=None, help="folder of videos to use instead of the generated clip")
    p.add_argument("--num_videos", type=int, default=4, help="copies of the generated clip (default 4)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the generated clip")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="our -j (default: all cores)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are reported")
    p.add_argument("--ffmpeg_parallel", action="store_true",
                   help="also time ffmpeg -threads 1 with JOBS videos at a time")
    p.add_argument("--profile", action="store_true", help="first print our CPU cost per frame by stage")
    p.add_argument("--work_dir", default=None, help="scratch folder (default: a temp folder, removed after)")
    return p


def make_videos(folder: Path, n: int, seconds: float, width: int, height: int) -> list[Path]:
    """Write one test clip and ``n - 1`` copies (H.264 with ffmpeg; mp4v with OpenCV when ffmpeg is absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / "v000.mp4"
    if shutil.which("ffmpeg"):
        # testsrc2 with temporal noise: moving patterns plus grain, so the decoder does real work.
        src = f"testsrc2=size={width}x{height}:rate=30,noise=alls=4:allf=t"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", src, "-t", str(seconds),
                        "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p",
                        str(first)], check=True)
    else:
        rng = np.random.default_rng(0)
        base = cv2.GaussianBlur(rng.integers(0, 256, (height + 64, width + 256, 3), dtype=np.uint8), (0, 0), 3)
        writer = cv2.VideoWriter(str(first), cv2.VideoWriter_fourcc(*"mp4v"), 30, (width, height))
        for i in range(int(seconds * 30)):
            writer.write(np.ascontiguousarray(base[32:32 + height, i % 256:i % 256 + width]))
        writer.release()
    paths = [first]
    for i in range(1, n):
        paths.append(folder / f"v{i:03d}.mp4")
        shutil.copyfile(first, paths[-1])
    return paths


# --------------------------------------------------------------------------- profile


def _cpu_per_frame(fn, count: int) -> float:
    """CPU milliseconds per item of ``fn()`` processing ``count`` items (this process, all threads)."""
    t = time.process_time()
    fn()
    return 1000 * (time.process_time() - t) / max(count, 1)


def profile_stages(video: Path, scratch: Path, max_frames: int = 120) -> dict[str, float]:
    """CPU ms per frame of each stage of our RGB path on one thread, over the first ``max_frames`` frames."""
    cv2.setNumThreads(1)

    def decode(convert: bool) -> list[np.ndarray]:
        cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        frames, buf = [], None
        for _ in range(max_frames):
            if convert:
                ok, buf = cap.read(buf)
                if ok:
                    frames.append(buf.copy() if len(frames) < 30 else None)
            else:
                ok = cap.grab()
                frames.append(None)
            if not ok:
                break
        cap.release()
        return frames

    n = len(decode(False))
    stages = {"decode (grab)": _cpu_per_frame(lambda: decode(False), n),
              "decode + BGR conversion (read)": _cpu_per_frame(lambda: decode(True), n)}
    full = [f for f in decode(True) if f is not None]
    small = [resize_frame(f, SIZE) for f in full]
    reps = range(max(1, 300 // len(full)))
    stages["resize to 340x256"] = _cpu_per_frame(lambda: [resize_frame(f, SIZE) for _ in reps for f in full],
                                                 len(reps) * len(full))
    stages["JPEG encode q95"] = _cpu_per_frame(lambda: [encode_jpeg(f, 95) for _ in reps for f in small],
                                               len(reps) * len(small))
    data = encode_jpeg(small[0], 95)
    scratch.mkdir(parents=True, exist_ok=True)
    stages["file write (one JPEG)"] = _cpu_per_frame(
        lambda: [write_bytes(scratch / f"img_{i:05d}.jpg", data) for i in range(300)], 300)
    shutil.rmtree(scratch, ignore_errors=True)
    stages["BGR conversion (read - grab)"] = stages["decode + BGR conversion (read)"] - stages["decode (grab)"]
    return stages


# --------------------------------------------------------------------------- timed runs


def time_ours(videos_dir: Path, out: Path, jobs: int) -> float:
    """Wall time (s) of extract_frames.main on ``videos_dir`` (RGB only, 340x256, q95)."""
    shutil.rmtree(out, ignore_errors=True)
    args = extract_frames.get_args_parser().parse_args(
        [str(videos_dir), str(out), "--modality", "RGB", "-j", str(jobs)])
    args.verbose = -1  # WARNING only: keep the bench output readable
    t = time.perf_counter()
    if extract_frames.main(args) != 0:
        raise RuntimeError("extraction failed during the benchmark")
    return time.perf_counter() - t


def _ffmpeg_cmd(video: Path, out: Path, threads: int | None) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-loglevel", "error", "-y"]
    if threads is not None:
        cmd += ["-threads", str(threads)]
    cmd += ["-i", str(video)]
    if threads is not None:
        cmd += ["-filter_threads", str(threads)]
    return cmd + ["-vf", f"scale={SIZE[0]}:{SIZE[1]}", "-q:v", "2", str(out / "img_%05d.jpg")]


def time_ffmpeg(videos: list[Path], out: Path, parallel: int, threads: int | None) -> float:
    """Wall time (s) of ffmpeg over ``videos``, ``parallel`` processes at a time."""
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    queue, running = list(videos), []
    while queue or running:
        while queue and len(running) < parallel:
            v = queue.pop(0)
            running.append(subprocess.Popen(_ffmpeg_cmd(v, out / v.stem, threads)))
        if running.pop(0).wait() != 0:
            raise RuntimeError("ffmpeg failed during the benchmark")
    return time.perf_counter() - t


def _same_job(ours: Path, ffmpeg: Path, video: Path) -> None:
    """Both wrote the same number of 340x256 JPEGs for ``video`` (else the comparison is void)."""
    n_ours = len(list((ours / video.stem).glob("img_*.jpg")))
    n_ff = len(list((ffmpeg / video.stem).glob("img_*.jpg")))
    shape = cv2.imread(str(ffmpeg / video.stem / "img_00001.jpg")).shape
    if n_ours != n_ff or shape[:2] != SIZE[::-1]:
        raise RuntimeError(f"not the same job: ours {n_ours} frames, ffmpeg {n_ff} frames of {shape}")


def cpu_seconds() -> float:
    """CPU time (s) of this process, its finished children and its live children (our worker pool).

    Live children are read from /proc (Linux); elsewhere only finished children count.
    """
    total = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                for f in ("ru_utime", "ru_stime"))
    tick, me = os.sysconf("SC_CLK_TCK"), str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if fields[1] == me:  # fields[1] is the parent pid; [11], [12] user and system ticks
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run_rounds(runners: dict, rounds: int, num_frames: int) -> dict[str, list[tuple[float, float]]]:
    """Run every runner once per round, rotating their order; returns name -> [(wall s, CPU s)]."""
    names, runs = list(runners), {name: [] for name in runners}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        load = os.getloadavg()[0]
        for name in order:
            cpu = cpu_seconds()
            wall = runners[name]()
            runs[name].append((wall, cpu_seconds() - cpu))
        print(f"round {r + 1}: load {load:.1f} -> {os.getloadavg()[0]:.1f}; " +
              ", ".join(f"{name} {num_frames / runs[name][-1][0]:.0f} frames/s" for name in names), flush=True)
    return runs


def report(runs: dict[str, list[tuple[float, float]]], ours_name: str, num_frames: int) -> None:
    """Print the medians (frames/s, CPU ms per frame, cores busy) and the per-round ratios ours / each."""
    print(f"medians over {len(runs[ours_name])} rounds:")
    for name, r in runs.items():
        fps = num_frames / statistics.median(w for w, _ in r)
        cpu_ms = 1000 * statistics.median(c for _, c in r) / num_frames
        cores = statistics.median(c / w for w, c in r)
        print(f"  {name:30s} {fps:8.1f} frames/s   CPU {cpu_ms:5.2f} ms/frame   {cores:4.2f} cores busy")
    for name, r in runs.items():
        if name != ours_name:
            ratios = [w_theirs / w_ours for (w_ours, _), (w_theirs, _) in zip(runs[ours_name], r)]
            print(f"  ratio ours / {name}: median {statistics.median(ratios):.2f}x "
                  f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="bench_extract_"))
    try:
        if args.videos:
            videos_dir = Path(args.videos)
            videos = extract_frames.collect_videos(videos_dir)
        else:
            videos_dir = work / "videos"
            videos = make_videos(videos_dir, args.num_videos, args.seconds, args.width, args.height)
        info = probe_video(videos[0])
        total = sum(probe_video(v).num_frames for v in videos)
        print(f"machine: {os.cpu_count()} CPU cores, load {os.getloadavg()[0]:.1f}; OpenCV {cv2.__version__}")
        print(f"input: {len(videos)} video(s), {total} frames, {info.width}x{info.height} @ {info.fps:g} fps "
              f"-> {SIZE[0]}x{SIZE[1]} JPEG q95 (ffmpeg: -q:v 2); ours -j {args.jobs}")
        if args.profile:
            stages = profile_stages(videos[0], work / "profile")
            print("our CPU cost per frame on one thread (ms):")
            for name, ms in stages.items():
                print(f"  {name:34s} {ms:6.3f}")
        ours_name = f"ours -j {args.jobs}"
        runners = {ours_name: lambda: time_ours(videos_dir, work / "ours", args.jobs)}
        if shutil.which("ffmpeg"):
            runners["ffmpeg, own threading"] = lambda: time_ffmpeg(videos, work / "ff", 1, None)
            if args.ffmpeg_parallel:
                runners[f"ffmpeg -threads 1 x {args.jobs}"] = lambda: time_ffmpeg(videos, work / "ffp", args.jobs, 1)
        else:
            print("ffmpeg not found on PATH: ffmpeg comparison skipped (apt-get install ffmpeg to run it)")
        runners[ours_name]()  # warm-up: worker pool started, file cache warm
        runs = run_rounds(runners, args.rounds, total)
        if "ffmpeg, own threading" in runners:
            _same_job(work / "ours", work / "ff", videos[0])
        report(runs, ours_name, total)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
