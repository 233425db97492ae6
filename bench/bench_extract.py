"""Benchmark RGB frame extraction (decode, resize, JPEG) against the ffmpeg command line.

Generates 720p H.264 test videos with ffmpeg (or uses --videos), then times on
the same machine, in this process's session:

- ours: ``extract_frames.py --modality RGB`` with ``-j 1`` and ``-j JOBS``
  (after a warm-up run, so the worker pool's start-up is not counted);
- ffmpeg: ``ffmpeg -i in.mp4 -vf scale=340:256 -q:v 2 img_%05d.jpg`` per video,
  (a) one video after another with ffmpeg's own threading, (b) JOBS videos at
  a time with ``-threads 1`` each;

and prints frames/s and our speed-up over each ffmpeg variant.  Without an
``ffmpeg`` executable the ffmpeg rows are skipped with a message (and test
videos are written with OpenCV's mp4v encoder instead of H.264).

Example::

    python bench/bench_extract.py --num_videos 4 --seconds 10 -j 2
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import extract_frames  # noqa: E402
from ops.video import probe_video  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", default=None, help="folder of videos to use instead of generated ones")
    p.add_argument("--num_videos", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0, help="length of each generated video")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=2, help="timed runs per configuration (best is kept)")
    p.add_argument("--work_dir", default=None, help="scratch folder (default: a temp folder, removed after)")
    return p


def make_videos(folder: Path, n: int, seconds: float, width: int, height: int) -> list[Path]:
    """Write ``n`` test videos (H.264 with ffmpeg; mp4v with OpenCV when ffmpeg is absent)."""
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


def time_ours(videos_dir: Path, out: Path, jobs: int, repeats: int) -> float:
    """Best wall time (s) of extract_frames.main on ``videos_dir`` (RGB only, 340x256, q95)."""
    best = float("inf")
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        args = extract_frames.get_args_parser().parse_args(
            [str(videos_dir), str(out), "--modality", "RGB", "-j", str(jobs), "-v", "-v"])
        args.verbose = -1  # WARNING only: keep the bench output readable
        t = time.perf_counter()
        if extract_frames.main(args) != 0:
            raise RuntimeError("extraction failed during the benchmark")
        best = min(best, time.perf_counter() - t)
    return best


def _ffmpeg_cmd(video: Path, out: Path, threads: int | None) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-loglevel", "error", "-y"]
    if threads is not None:
        cmd += ["-threads", str(threads)]
    cmd += ["-i", str(video)]
    if threads is not None:
        cmd += ["-filter_threads", str(threads)]
    return cmd + ["-vf", "scale=340:256", "-q:v", "2", str(out / "img_%05d.jpg")]


def time_ffmpeg(videos: list[Path], out: Path, parallel: int, threads: int | None, repeats: int) -> float:
    """Best wall time (s) of ffmpeg over ``videos``, ``parallel`` processes at a time."""
    best = float("inf")
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        queue, running = list(videos), []
        while queue or running:
            while queue and len(running) < parallel:
                v = queue.pop(0)
                running.append(subprocess.Popen(_ffmpeg_cmd(v, out / v.stem, threads)))
            running.pop(0).wait()
        best = min(best, time.perf_counter() - t)
    return best


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="bench_extract_"))
    try:
        if args.videos:
            videos = extract_frames.collect_videos(args.videos)
            videos_dir = Path(args.videos)
        else:
            videos_dir = work / "videos"
            videos = make_videos(videos_dir, args.num_videos, args.seconds, args.width, args.height)
        info = probe_video(videos[0])
        total = sum(probe_video(v).num_frames for v in videos)
        print(f"machine: {os.cpu_count()} CPU cores; OpenCV {cv2.__version__}")
        print(f"input: {len(videos)} videos, {total} frames, {info.width}x{info.height} @ {info.fps:g} fps "
              f"-> 340x256 JPEG q95 (ffmpeg: -q:v 2)")
        time_ours(videos_dir, work / "warm", args.jobs, 1)  # start the worker pool, warm the file cache
        rows = {}
        for jobs in sorted({1, args.jobs}):
            rows[f"ours -j {jobs}"] = total / time_ours(videos_dir, work / "ours", jobs, args.repeats)
        if shutil.which("ffmpeg"):
            rows["ffmpeg, own threading, videos in sequence"] = \
                total / time_ffmpeg(videos, work / "ff", 1, None, args.repeats)
            rows[f"ffmpeg -threads 1, {args.jobs} videos at a time"] = \
                total / time_ffmpeg(videos, work / "ff", args.jobs, 1, args.repeats)
        else:
            print("ffmpeg not found on PATH: ffmpeg comparison skipped (apt-get install ffmpeg to run it)")
        for name, fps in rows.items():
            print(f"{name:45s} {fps:8.1f} frames/s")
        ours = rows[f"ours -j {args.jobs}"]
        for name, fps in rows.items():
            if name.startswith("ffmpeg"):
                print(f"speed-up of ours -j {args.jobs} over {name}: {ours / fps:.2f}x")
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
