"""Mean ± std of the comparison's rows over several runs (e.g. training seeds).

Example::

    python bench/compare_seeds.py work_dirs/synthetic_demo/comparison.json \\
        work_dirs/synthetic_demo/seed_1/comparison.json work_dirs/synthetic_demo/seed_2/comparison.json

Reads ``compare_methods.py``'s JSON of each run and prints, for every row label found in all of them, the
mean and sample standard deviation of AR@100, AUC, mAP@0.5 and the average mAP (%), and how many runs
it averages.  Rows missing from some run are listed after the table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

COLUMNS = (("AR@100", ("proposals", "AR@100")), ("AUC", ("proposals", "AUC")), ("mAP@0.5", ("detection", 0.5)),
           ("avg mAP", ("detection", "average")))


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("comparisons", nargs="+", type=Path, help="comparison.json of each run")
    return p


def cell(row: dict, where: tuple):
    """One figure of a row (None when the row has no such figure)."""
    part = row.get(where[0])
    if not part:
        return None
    if isinstance(where[1], str):
        return part.get(where[1])
    for t, v in zip(part["iou"], part["mAP"]):
        if abs(t - where[1]) < 1e-6:
            return v
    return None


def summarise(runs: list[list[dict]]) -> tuple[list[str], list[str]]:
    """Markdown lines of mean ± std per row label in every run, and the labels missing from some run."""
    labels = [r["label"] for r in runs[0]]
    common = [lab for lab in labels if all(any(r["label"] == lab for r in run) for run in runs)]
    missing = sorted({r["label"] for run in runs for r in run} - set(common))
    lines = ["| method | " + " | ".join(c for c, _ in COLUMNS) + " | runs |", "|---|" + "---|" * (len(COLUMNS) + 1)]
    for lab in common:
        rows = [next(r for r in run if r["label"] == lab) for run in runs]
        cells = []
        for _, where in COLUMNS:
            vals = [cell(r, where) for r in rows]
            vals = np.asarray([v for v in vals if v is not None], float)
            cells.append("–" if not len(vals) else
                         f"{vals.mean():.2f} ± {vals.std(ddof=1):.2f}" if len(vals) > 1 else f"{vals[0]:.2f}")
        lines.append(f"| {lab} | " + " | ".join(cells) + f" | {len(rows)} |")
    return lines, missing


def main(args) -> int:
    runs = []
    for path in args.comparisons:
        if not path.is_file():
            sys.stderr.write(f"compare_seeds: error: {path} does not exist (run compare_methods.py first)\n")
            return 2
        runs.append(json.loads(path.read_text())["rows"])
    lines, missing = summarise(runs)
    print("\n".join(lines))
    if missing:
        print("rows not in every run: " + ", ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
