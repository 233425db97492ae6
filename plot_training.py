"""Training curves as a PNG: loss and metrics per epoch of one or more training runs.

    python plot_training.py work_dirs/synthetic_demo/training_curves.png \\
        work_dirs/synthetic_demo/ssn_RGB/log.json work_dirs/synthetic_demo/ssn_Flow/log.json

Reads each run's ``log.json`` (written by every training stage beside its checkpoints), draws one panel
of the losses (every measured column but the metrics: ``train_loss``, SSN's ``train_activity``, ...) and
one of the metrics (columns naming an accuracy, mAP, AR@, AUC, recall or precision, e.g. ``val_AUC``), epoch on the x axis; each run and
column is one line, named ``RUN:column`` with RUN the log's folder name.  Underfitting shows as a
training loss that is still falling at the last epoch; overfitting as validation figures that turn.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import cv2
import numpy as np

from ops.errors import InputError, run_main
from ops.evaluation.plots import draw_legend, legend_height, line_panel, nice_range
from ops.evaluation.timeline import class_colors, write_png
from ops.log import setup_logging
from ops.train.engine import read_training_log

logger = logging.getLogger("plot_training")
NOT_CURVES = {"epoch", "lr", "seconds"}
METRIC_WORDS = ("acc", "map", "ar@", "auc", "recall", "precision")  # higher is better; the rest are losses


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Training curves (loss and metrics per epoch) as a PNG.")
    p.add_argument("output", help="PNG to write")
    p.add_argument("logs", nargs="+", help="log.json files of training runs (OUTPUT/log.json)")
    p.add_argument("--width", type=int, default=1100)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def curves(runs: dict[str, list[dict]]) -> tuple[dict, dict]:
    """``({name: (epochs, values)} of losses, {...} of other metrics)``; non-numeric cells are skipped."""
    losses, metrics = {}, {}
    for run, rows in runs.items():
        columns = dict.fromkeys(k for r in rows for k in r if k not in NOT_CURVES)
        for col in columns:
            pts = [(r["epoch"], r[col]) for r in rows
                   if isinstance(r.get(col), (int, float)) and math.isfinite(r[col])]
            if pts:
                (metrics if any(w in col.lower() for w in METRIC_WORDS) else losses)[f"{run}:{col}"] = tuple(np.asarray(p, float) for p in zip(*pts))
    return losses, metrics


def draw(runs: dict[str, list[dict]], width: int = 1100, plot_h: int = 340) -> np.ndarray:
    losses, metrics = curves(runs)
    if not losses and not metrics:
        raise InputError("the logs hold no numeric column besides epoch, lr and seconds")
    names = list(losses) + list(metrics)
    colors = class_colors(len(names))
    img = np.full((plot_h + legend_height(len(names)), width, 3), 255, np.uint8)
    last = max(int(r["epoch"]) for rows in runs.values() for r in rows)
    xticks = np.unique(np.linspace(1, max(last, 1), min(max(last, 1), 10)).round())
    half = width // 2
    for x0, w, title, group in ((0, half, "losses", losses), (half, width - half, "metrics", metrics)):
        ylim, yticks = nice_range([v for _, vals in group.values() for v in vals], include_zero=True)
        to_px = line_panel(img, x0, w, plot_h, title, "epoch", (1, max(last, 2)), xticks, ylim, yticks)
        for name, (ep, vals) in group.items():
            c = tuple(int(v) for v in colors[names.index(name)])
            cv2.polylines(img, [to_px(ep, vals)], False, c, 2, cv2.LINE_AA)
    draw_legend(img, names, colors, plot_h)
    return img


def main(args) -> int:
    setup_logging(args.verbose)
    runs = {}
    for path in args.logs:
        name = Path(path).resolve().parent.name
        while name in runs:
            name += "'"
        runs[name] = read_training_log(path)
    write_png(args.output, draw(runs, args.width))
    logger.info("wrote %s (%d runs)", args.output, len(runs))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
