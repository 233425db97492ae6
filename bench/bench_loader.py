"""Benchmark: a training sample's and a scoring chunk's frames transformed once each vs once per snippet.

Example (CPU; prepares the synthetic demo's frames at their own 160x120 first)::

    python bench/bench_loader.py --arch tiny --preset demo --size 160 120 --modality Flow --new_length 10

Snippets overlap: a Flow stack spans ``new_length`` frames while ssn_test scores a position every
``--frame_interval`` frames, and a training sample's proposals (an action, parts of it, the
background around it) and their stages share frames.  The datasets (``ops/train/dataset.py``)
therefore decode each distinct frame once, crop, resize and normalise the distinct frames, and
gather the snippet stacks last.  The baseline, run in the same process on the same items, is
the per-snippet order: every stack gathered first (``FrameLoader.read``), then transformed, so a
frame shared by S snippets is resized and normalised S times.  Printed per kind of item: seconds
per item of each order (one thread, as in a loader worker), their ratio, and the largest difference
between their tensors: the same arithmetic on the same values, so 0 or float32 rounding (the
bilinear resize of a 3-channel frame and of a 15-channel stack may round a last bit differently);
over 1e-4 is an error.

A last row times a training batch (``--batch_size`` samples, made beforehand) joined as the loader
joins it, ``collate_snippets``: every sample's stacks gathered straight into the batch tensor;
against gathering each sample's stacks, then ``default_collate`` stacking them (the order before:
two copies of the batch).  Equal tensors are required (both copy the same values).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import default_collate  # noqa: E402

from bench_common import add_bench_args, frames_from_args, synthetic_ssn  # noqa: E402
from ops.log import setup_logging  # noqa: E402
from ops.models.backbones import BackboneConfig  # noqa: E402
from ops.train.dataset import FrameSequenceDataset, collate_snippets, data_spec  # noqa: E402
from ops.train.sampling import SamplingConfig  # noqa: E402
from ssn_train import make_dataset, read_videos  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_args(p, subset="validation")
    p.add_argument("--items", type=int, default=20, help="training samples (and scoring chunks) timed")
    p.add_argument("--frame_interval", type=int, default=2, help="scoring: a snippet every this many frames")
    p.add_argument("--repeat", type=int, default=3, help="alternating rounds of both orders")
    p.add_argument("--batch_size", type=int, default=4, help="training samples in the collated batch")
    return p


class PerSnippet:
    """The baseline order on the same dataset: stacks gathered first, then transformed as one 'frame' each."""

    def __init__(self, dataset):
        self.ds = dataset

    def frames(self, video, positions):
        stacks = self.ds.loader.read(self.ds.videos[video].video, positions, self.ds.counts[video])
        return stacks, np.arange(len(stacks))[:, None]

    def frames_of(self, draws):
        stacks = torch.cat([self.frames(v, p)[0] for v, p in draws])
        return stacks, np.arange(len(stacks))[:, None]


def time_items(get, n: int, seed: int) -> tuple[float, list]:
    torch.manual_seed(seed)
    t = time.perf_counter()
    out = [get(i) for i in range(n)]
    return time.perf_counter() - t, out


def compare(name: str, dataset, n: int, repeat: int, collate=None) -> None:
    """Time ``n`` items of ``dataset`` in both orders, ``repeat`` alternating rounds; check they are equal.
    ``collate``: what the training loader applies to an item (batch of one), timed with it."""
    get = dataset.__getitem__ if collate is None else (lambda i: collate([dataset[i]]))
    base = PerSnippet(dataset)
    own = dataset.frames, dataset.frames_of
    secs, worst = {"distinct": 0.0, "per snippet": 0.0}, 0.0
    for r in range(repeat):
        dataset.frames, dataset.frames_of = own
        t, a = time_items(get, n, r)
        secs["distinct"] += t
        dataset.frames, dataset.frames_of = base.frames, base.frames_of
        t, b = time_items(get, n, r)
        secs["per snippet"] += t
        worst = max(worst, max(float((x.double() - y.double()).abs().max()) for ia, ib in zip(a, b)
                               for x, y in zip(ia, ib) if torch.is_tensor(x) and x.numel()))
    dataset.frames, dataset.frames_of = own
    if worst > 1e-4:   # the same arithmetic on the same values: at most float32 rounding apart
        raise SystemExit(f"bench_loader: error: {name}: the two orders differ by {worst:.3g}")
    per = {k: v / (n * repeat) for k, v in secs.items()}
    print(f"{name:<26} {per['distinct']:>10.4f} {per['per snippet']:>12.4f} {per['distinct'] / per['per snippet']:>8.2f} "
          f"{worst:>10.2g}", flush=True)


def compare_collate(dataset, batch_size: int, repeat: int) -> None:
    """Seconds per batch of ``batch_size`` training items joined by ``collate_snippets`` vs gathered one by one
    and stacked (``default_collate``); the two batches must be equal."""
    torch.manual_seed(0)
    items = [dataset[i % len(dataset)] for i in range(batch_size)]
    ways = {"into batch": lambda: collate_snippets(items),
            "then stack": lambda: default_collate([(x.gather(), *rest) for x, *rest in items])}
    secs = dict.fromkeys(ways, 0.0)
    for _ in range(repeat):
        for name, way in ways.items():
            t = time.perf_counter()
            out = way()
            secs[name] += time.perf_counter() - t
            del out
    a, b = ways["into batch"](), ways["then stack"]()
    if not all(torch.equal(x, y) for x, y in zip(a, b)):
        raise SystemExit("bench_loader: error: training batch: the two ways differ")
    per = {k: v / repeat for k, v in secs.items()}
    name = f"SSN training batch of {batch_size}"
    print(f"{name:<26} {per['into batch']:>10.4f} {per['then stack']:>12.4f} "
          f"{per['into batch'] / per['then stack']:>8.2f} {0:>10.2g}", flush=True)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    torch.set_num_threads(1)           # one loader worker's view: each runs one intra-op thread
    plist = frames_from_args(args)
    _, preset, backbone = synthetic_ssn(args)
    videos = read_videos(plist, preset["num_classes"])
    train = make_dataset(videos, SamplingConfig.from_preset(preset["sampling"]), backbone,
                         preset["model"]["num_segments"], SimpleNamespace(epoch_multiplier=1), flip=False)
    cfg = BackboneConfig.from_dict(backbone)
    test = FrameSequenceDataset(videos, cfg.modality, cfg.length, data_spec(cfg, False),
                                frame_interval=args.frame_interval)
    print(f"{cfg.arch} {cfg.modality}, {cfg.length} frame(s) a snippet, {len(videos)} videos at "
          f"{args.size[0]}x{args.size[1]}; seconds per item, {args.repeat} rounds of {args.items} items, one thread")
    print(f"{'item':<26} {'distinct':>10} {'per snippet':>12} {'ratio':>8} {'max diff':>10}")
    compare("SSN training sample", train, min(args.items, len(train)), args.repeat, collate_snippets)
    compare(f"scoring chunk (every {args.frame_interval})", test, min(args.items, len(test)), args.repeat)
    print(f"{'':<26} {'into batch':>10} {'then stack':>12}")
    compare_collate(train, args.batch_size, args.repeat)
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main(get_args_parser().parse_args()))
