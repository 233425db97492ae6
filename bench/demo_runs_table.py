"""Table of finished demo runs (numbered scripts' WORK folders): proposal recall and detection mAP per run.

Example::

    python bench/demo_runs_table.py work_dirs/synthetic_demo work_dirs/synthetic_demo/seed_1 --streams RGB Flow fused

Reads what stage 8 wrote in each WORK folder: ``eval_<stream>.json`` (stream ``RGB``, ``Flow`` or ``fused``)
and ``eval_proposals.json``; with ``--extract_seconds``, also the summed per-video extraction seconds of
``WORK/frames/*/meta.json``.  One row per folder (labelled by its name, or ``--labels``): mAP (%) at IoU 0.5
and averaged over the protocol's thresholds per stream, the TAG proposals' recall at IoU 0.5 and AR@100.
With ``--summary``, the mean and the sample standard deviation of every column follow (e.g. over seeds).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops.formats.frames import list_video_dirs, read_meta  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("works", nargs="+", type=Path, help="finished WORK folders")
    p.add_argument("--streams", nargs="+", default=["RGB", "Flow", "fused"], help="eval_<stream>.json to read")
    p.add_argument("--labels", nargs="+", help="row labels (default: the folders' names)")
    p.add_argument("--extract_seconds", action="store_true", help="add the frame extraction time")
    p.add_argument("--summary", action="store_true", help="add the mean and standard deviation rows")
    p.add_argument("--no_proposals", action="store_true", help="leave out the proposal recall columns")
    return p


def read_report(work: Path, name: str) -> dict:
    """A JSON file stage 8 writes in WORK; exits naming it when it is missing."""
    path = work / name
    if not path.is_file():
        raise SystemExit(f"error: {path} does not exist: is {work} a WORK folder that stage 8 finished?")
    return json.loads(path.read_text())


def stream_map(work: Path, stream: str) -> list[float]:
    """mAP (%) at IoU 0.5 and averaged, from WORK/eval_<stream>.json."""
    metrics = read_report(work, f"eval_{stream}.json")["metrics"]
    by_iou = dict(zip((round(t, 2) for t in metrics["iou_thresholds"]), metrics["mAP"]))
    return [100 * by_iou.get(0.5, float("nan")), 100 * metrics["average_mAP"]]


def proposal_recall(work: Path) -> list[float]:
    """Per-instance recall (%) at IoU 0.5 and AR@100 (%) of the test proposals, from WORK/eval_proposals.json."""
    report = read_report(work, "eval_proposals.json")
    return [100 * report["ssn_recall"]["per_instance"][0], 100 * report["ar_an"]["AR@100"]]


def extract_seconds(work: Path) -> list[float]:
    """Summed per-video extraction seconds of the complete frame folders under WORK/frames."""
    metas = (read_meta(folder) for folder in list_video_dirs(work / "frames").values())
    return [sum(meta["seconds"] for meta in metas if meta is not None)]


def main(args: argparse.Namespace) -> int:
    header = ["extract s"] if args.extract_seconds else []
    for stream in args.streams:
        header += [f"{stream} @0.5", f"{stream} avg"]
    if not args.no_proposals:
        header += ["recall@0.5", "AR@100"]
    labels = args.labels or [w.name for w in args.works]
    if len(labels) != len(args.works):
        raise SystemExit(f"--labels: {len(labels)} labels for {len(args.works)} folders")
    rows = []
    for work in args.works:
        row = extract_seconds(work) if args.extract_seconds else []
        for stream in args.streams:
            row += stream_map(work, stream)
        rows.append(row + ([] if args.no_proposals else proposal_recall(work)))
    table = np.asarray(rows)
    width = max(12, *(len(label) for label in labels))
    print(f"{'run':<{width}} " + " ".join(f"{h:>13}" for h in header))
    for label, row in zip(labels, table):
        print(f"{label:<{width}} " + " ".join(f"{v:>13.2f}" for v in row))
    if args.summary and len(table) > 1:
        print(f"{'mean':<{width}} " + " ".join(f"{v:>13.2f}" for v in table.mean(0)))
        print(f"{'std':<{width}} " + " ".join(f"{v:>13.2f}" for v in table.std(0, ddof=1)))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
