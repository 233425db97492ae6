"""Benchmark: SSN training throughput fed by the data pipeline vs fed from memory, and peak GPU memory.

Example (GPU machine; prepares frames of the synthetic dataset at THUMOS14's 340x256 first)::

    python bench/bench_ssn_train.py --arch bninception --modality RGB --batch_sizes 1 2 4 8 -j 12
    python bench/bench_ssn_train.py --arch tiny --size 160 120 --batch_sizes 2 4 --steps 10   # CPU, quick

For each batch size (videos per step; each video gives ``proposals_per_video``
proposals of 2 + 5 + 2 snippets), the same model takes ``--steps`` training
steps of the engine (``Trainer.train_pass``: the step ``ssn_train.py`` runs,
with its mixed precision and channels-last on CUDA) twice:

* **pipeline**: batches from the training DataLoader over the frame folders
  (``SSNTrainDataset``: proposal sampling, JPEG decoding, cropping,
  normalisation in ``-j`` worker processes; pinned host-to-device copies);
* **in memory**: one batch decoded beforehand and kept on the device, fed
  again at every step: what the model alone sustains.

Printed per batch size: proposals/s of both, their ratio (the issue's target:
the pipeline at least 90 % of in memory on a GPU), and the peak memory
allocated by tensors on the GPU during the steps.  The first ``--warmup``
steps of each run are not timed (worker start-up, cuDNN autotuning).  The
frames come from ``bench_common.prepare_frames`` (synthetic videos extracted
at ``--size``, resumed when present under ``--root``); the weights are random
(speed does not depend on them).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from torch.utils.data import Subset  # noqa: E402

from bench_common import (StepClock, add_bench_args, describe_device, frames_from_args,  # noqa: E402
                          peak_memory_mib, reset_peak_memory, synthetic_ssn)
from ops.train.dataset import collate_snippets  # noqa: E402
from ops.train.engine import Trainer, TrainConfig, make_loader, seed_everything, setup_runtime  # noqa: E402
from ops.log import setup_logging  # noqa: E402
from ops.train.sampling import SamplingConfig  # noqa: E402
from ssn_train import make_dataset, read_videos, ssn_loss_fn  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_args(p, subset="validation")
    p.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--steps", type=int, default=20, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    p.add_argument("--no_amp", action="store_true", help="full precision on CUDA")
    p.add_argument("--no_channels_last", action="store_true", help="NCHW convolutions on CUDA")
    return p


def build(args, batch_size: int, out_dir: Path) -> Trainer:
    """A fresh SSN in a Trainer with the benchmark's step settings."""
    seed_everything(0)
    model = synthetic_ssn(args)[0]
    cfg = TrainConfig(epochs=1, batch_size=batch_size, lr=0.001, workers=args.workers, amp=not args.no_amp,
                      channels_last=not args.no_channels_last, device=args.device)
    return Trainer(model, ssn_loss_fn(0.1, 0.1, 0.17), cfg, out_dir, model.config(), collate_fn=collate_snippets)


def timed_pass(trainer: Trainer, batches, warmup: int) -> tuple[int, float]:
    """(timed steps, seconds) of one training pass over ``batches``."""
    clock = StepClock()
    trainer.train_pass(batches, clock)
    return clock.seconds(warmup)


def bench_batch_size(args, dataset, batch_size: int, out_dir: Path) -> dict:
    trainer = build(args, batch_size, out_dir)
    device, steps = trainer.rt.device, args.warmup + args.steps
    items = Subset(dataset, [i % len(dataset) for i in range(steps * batch_size)])    # cycles over the videos
    n, secs = timed_pass(trainer, make_loader(items, trainer.cfg, trainer.rt, True, trainer.collate_fn), args.warmup)
    per_step = batch_size * dataset.sampler.cfg.proposals_per_video
    pipeline = n * per_step / secs
    batch = [t.to(device) for t in collate_snippets([dataset[i % len(dataset)] for i in range(batch_size)])]
    reset_peak_memory(device)
    n, secs = timed_pass(trainer, [batch] * steps, args.warmup)
    memory = n * per_step / secs
    row = {"batch_size": batch_size, "proposals_per_step": per_step, "pipeline_proposals_s": round(pipeline, 2),
           "memory_proposals_s": round(memory, 2), "ratio": round(pipeline / memory, 3),
           "peak_mib": None if (p := peak_memory_mib(device)) is None else round(p, 1)}
    peak = "n/a (CPU)" if row["peak_mib"] is None else f"{row['peak_mib']:.0f} MiB"
    print(f"{batch_size:>5} {per_step:>9} {pipeline:>12.1f} {memory:>12.1f} {100 * pipeline / memory:>8.1f}% "
          f"{peak:>12}", flush=True)
    return row


def train_dataset(args, plist: Path | None = None):
    """ssn_train's dataset over frame-based list ``plist`` (default: prepared by
    :func:`bench_common.frames_from_args`)."""
    plist = plist or frames_from_args(args)
    _, preset, backbone = synthetic_ssn(args)
    return make_dataset(read_videos(plist, preset["num_classes"]), SamplingConfig.from_preset(preset["sampling"]),
                        backbone, preset["model"]["num_segments"], SimpleNamespace(epoch_multiplier=1), flip=True)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    dataset = train_dataset(args)
    device = setup_runtime(args.device).device
    print(f"SSN {args.arch} {args.modality}, {len(dataset.videos)} videos at {args.size[0]}x{args.size[1]}, "
          f"{args.workers} loader workers, {args.steps} timed steps after {args.warmup}; "
          f"{describe_device(device)}, AMP {device.type == 'cuda' and not args.no_amp}, channels-last "
          f"{device.type == 'cuda' and not args.no_channels_last}")
    print(f"{'batch':>5} {'props/step':>9} {'pipeline/s':>12} {'memory/s':>12} {'ratio':>9} {'peak GPU':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench_batch_size(args, dataset, b, Path(tmp)) for b in args.batch_sizes]
    if args.json_out:
        args.json_out.write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()},
                                             "device": describe_device(device), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main(get_args_parser().parse_args()))
