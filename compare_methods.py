"""Compare methods on the same videos: one table (Markdown, JSON) and one picture (PNG).

Each ``--row`` is a label, then the files and steps of that method::

    python compare_methods.py --times WORK/run_times.tsv --output WORK/comparison \\
        --row "SSN on TAG, fused" props=WORK/eval_proposals_tag.json det=WORK/eval_fused.json \\
              train=ssn_train_RGB+ssn_train_Flow infer=ssn_test_RGB+ssn_test_Flow \\
        --row "BMN + classifier top-1" props=WORK/bmn/eval_proposals.json det=WORK/bmn/eval_cls_top1.json \\
              train=bmn_train infer=bmn_test

``det=`` is an ``eval_detection_results.py --json_out`` file, ``props=`` an ``eval_proposals.py --json_out``
file, ``train=``/``infer=`` step keys of the run-times file (``KEY<TAB>SECONDS`` lines that the numbered
scripts append through ``timed``; several keys joined by ``+`` are summed).  Writes ``OUTPUT.md``,
``OUTPUT.json`` and ``OUTPUT.png`` (AR@AN curves of every proposal row, mAP by IoU of every detection row)
and prints the table.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ops.errors import InputError, run_main
from ops.evaluation.comparison import comparison_json, comparison_markdown, parse_row, write_comparison_png
from ops.formats.run_times import read_run_times
from ops.io import atomic_write_json, atomic_write_text
from ops.log import setup_logging

logger = logging.getLogger("compare_methods")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="One table and one picture comparing methods.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--row", action="append", nargs="+", required=True, metavar="ITEM",
                   help="LABEL [det=EVAL.json] [props=EVAL.json] [train=KEY[+KEY]] [infer=KEY[+KEY]]")
    p.add_argument("--times", default=None, help="run-times file (KEY<TAB>SECONDS lines) for train=/infer=")
    p.add_argument("--output", required=True, help="output stem: writes OUTPUT.md, OUTPUT.json, OUTPUT.png")
    p.add_argument("--title", default=None, help="a line printed above the table")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def main(args) -> int:
    setup_logging(args.verbose)
    times = read_run_times(args.times) if args.times else {}
    rows = [parse_row(tokens, times, args.times) for tokens in args.row]
    labels = [r.label for r in rows]
    if len(set(labels)) != len(labels):
        raise InputError(f"two rows share a label: {sorted({x for x in labels if labels.count(x) > 1})}")
    table = comparison_markdown(rows)
    stem = Path(args.output)
    stem.parent.mkdir(parents=True, exist_ok=True)
    text = (f"{args.title}\n\n" if args.title else "") + table + "\n"
    atomic_write_text(stem.with_suffix(".md"), text)
    atomic_write_json(stem.with_suffix(".json"), {"title": args.title, "rows": comparison_json(rows)})
    write_comparison_png(stem.with_suffix(".png"), rows)
    print(text, end="")
    logger.info("wrote %s.md, .json and .png", stem)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
