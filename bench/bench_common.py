"""Helpers shared by the SSN throughput benchmarks (``bench_ssn_train.py``, ``bench_ssn_test.py``).

Not a script.  The benchmarks read real frame folders through the real
datasets; :func:`prepare_frames` makes them with the pipeline's own stages
(synthetic videos, frame and flow extraction at a chosen size, a sliding-window
proposal list), resuming whatever an earlier run already wrote.
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

import torch

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops.models.builder import add_backbone_args, backbone_from_args  # noqa: E402
from ops.formats.presets import load_preset  # noqa: E402
from ops.models.ssn import SSN  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
logger = logging.getLogger(__name__)


def _stage(script: str, *args) -> None:
    """Run one pipeline stage (a top-level script of this repository) and stop on failure."""
    cmd = [sys.executable, str(REPO / script), *map(str, args)]
    logger.info("running %s", " ".join(cmd))
    subprocess.run(cmd, check=True)


def prepare_frames(root: Path, preset: str, size: tuple[int, int], subset: str, jobs: int, flow: str) -> Path:
    """Synthetic videos of ``preset`` under ``root/data``, their frames at ``size`` (W, H) under
    ``root/frames_WxH`` and a frame-based sliding-window list of ``subset``; returns the list's path.

    Every stage resumes, so a second call only checks what exists.
    """
    return prepare_lists(root, preset, size, [subset], jobs, flow)[0]


def prepare_lists(root: Path, preset: str, size: tuple[int, int], subsets: list[str], jobs: int,
                  flow: str) -> list[Path]:
    """:func:`prepare_frames` for several subsets at once (the videos and frames are made once)."""
    data, (w, h) = root / "data", size
    frames = root / f"frames_{w}x{h}"
    _stage("gen_synthetic_dataset.py", data, "--preset", preset, "-j", jobs)
    _stage("extract_frames.py", data / "videos", frames, "--new_width", w, "--new_height", h, "--flow", flow,
           "-j", jobs)
    lists = [prepared_list(root, size, subset) for subset in subsets]
    for subset, plist in zip(subsets, lists):
        if not plist.exists():
            _stage("gen_sliding_window_proposals.py", "synthetic", subset, plist, "--annotations",
                   data / "annotations", "--frame_path", frames)
    return lists


def prepared_list(root: Path, size: tuple[int, int], subset: str) -> Path:
    """Where :func:`prepare_frames` puts the sliding-window list of ``subset`` at ``size`` (W, H)."""
    return root / f"sw_{subset}_{size[0]}x{size[1]}.txt"


def add_bench_args(p: argparse.ArgumentParser, subset: str) -> None:
    """Flags shared by the SSN benchmarks: the prepared frames (:func:`prepare_frames`), the model, the device."""
    p.add_argument("--root", type=Path, default=REPO / "work_dirs" / "bench_frames",
                   help="where the synthetic videos, frames and list are kept (reused)")
    p.add_argument("--preset", default="tiny", choices=["tiny", "demo", "large"], help="synthetic dataset size")
    p.add_argument("--size", type=int, nargs=2, default=[340, 256], metavar=("W", "H"), help="frame size")
    p.add_argument("--subset", default=subset)
    p.add_argument("--flow", default="dis_fast", help="flow algorithm of the prepared frames (speed only)")
    p.add_argument("--modality", default="RGB", choices=["RGB", "Flow", "RGBDiff"])
    p.add_argument("-j", "--workers", type=int, default=2, help="data-loading processes")
    p.add_argument("--device", default="auto")
    p.add_argument("--json_out", type=Path, default=None, help="also write the figures as JSON")
    add_backbone_args(p, arch="bninception", dropout=0.8)
    p.add_argument("-v", "--verbose", action="count", default=0)


def frames_from_args(args) -> Path:
    """:func:`prepare_frames` with the flags of :func:`add_bench_args`; the proposal list's path."""
    return prepare_frames(args.root, args.preset, tuple(args.size), args.subset, args.workers, args.flow)


def synthetic_ssn(args) -> tuple[SSN, dict, dict]:
    """A randomly initialised SSN with the synthetic preset's classes, segments and pyramid and the flags'
    backbone; returns (model, preset, backbone config dict)."""
    preset, backbone = load_preset("synthetic"), backbone_from_args(args, args.modality)
    m = preset["model"]
    return SSN(backbone, preset["num_classes"], m["num_segments"], m["stpp"], args.dropout), preset, backbone


class StepClock:
    """Wraps an iterable and records when each item is asked for, i.e. when the previous step ended.

    ``seconds(skip)``: time of the steps after the first ``skip`` (warm-up: worker start, cudnn autotuning).
    The consumer must synchronise with the device inside its step (the engine's float(loss) does).
    """

    def __init__(self):
        self.stamps: list[float] = []

    def __call__(self, iterable):
        self.stamps.append(time.perf_counter())
        for item in iterable:
            yield item
            self.stamps.append(time.perf_counter())

    def seconds(self, skip: int) -> tuple[int, float]:
        """(steps, seconds) after the first ``skip`` steps."""
        if len(self.stamps) < skip + 2:
            raise ValueError(f"only {len(self.stamps) - 1} steps ran; need more than the {skip} warm-up steps")
        return len(self.stamps) - 1 - skip, self.stamps[-1] - self.stamps[skip]


def peak_memory_mib(device: torch.device) -> float | None:
    """Peak memory allocated by tensors on a CUDA device since the last reset, MiB (None on CPU)."""
    return torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"CPU ({torch.get_num_threads()} torch threads), torch {torch.__version__}"
