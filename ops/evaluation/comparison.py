"""One table and one picture that compare methods on the same videos.

A row is one method (and stream): its proposal figures (from ``eval_proposals.py --json_out``), its
detection figures (from ``eval_detection_results.py --json_out``), either or both, and its wall times
(seconds of training and of inference, sums of steps recorded in a run-times file,
:mod:`ops.formats.run_times`).

- proposals: ``AR@100`` (%, per instance, IoU 0.5:0.95), ``AUC`` (%, of the AR@AN curve up to 100
  proposals per video), ``recall@0.5`` (%, SSN recall at IoU > 0.5, per instance) and the AR@AN curve;
- detections: mAP (%) at each IoU threshold of the evaluation and their average.

The picture (BGR, OpenCV only): left, AR (%) against AN (proposals per video) of every proposal file;
right, mAP (%) against the IoU threshold of every detection row; one colour per method family, the stream
by line width, legend below.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from ops.errors import InputError
from ops.io import read_json
from ops.evaluation.plots import draw_legend, legend_height, line_panel
from ops.evaluation.timeline import class_colors, write_png

ROW_KEYS = ("det", "props", "train", "infer")


@dataclass
class MethodRow:
    """One method's figures; percentages in [0, 100], times in seconds (None: not given)."""

    label: str
    detection: dict | None = None     # {"iou": [..], "mAP": [..] %, "average": %}
    proposals: dict | None = None     # {"AR@100", "AUC", "recall@0.5"} %, "AN": [..], "AR": [..] %
    train_s: float | None = None
    infer_s: float | None = None
    sources: dict = field(default_factory=dict)


def _load_json(path: str | os.PathLike) -> dict:
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a JSON object written by an evaluation script")
    return obj


def detection_summary(path: str | os.PathLike) -> dict:
    """The mAP by IoU (%) of an ``eval_detection_results.py --json_out`` file."""
    m = _load_json(path).get("metrics")
    try:
        iou, maps = [float(x) for x in m["iou_thresholds"]], [100.0 * float(x) for x in m["mAP"]]
        average = 100.0 * float(m["average_mAP"])
    except (TypeError, KeyError, ValueError):
        raise InputError(f"{path}: not an eval_detection_results.py --json_out file (metrics.iou_thresholds, "
                         f"metrics.mAP, metrics.average_mAP)") from None
    if len(iou) != len(maps) or not iou:
        raise InputError(f"{path}: {len(iou)} IoU thresholds but {len(maps)} mAP values")
    return {"iou": iou, "mAP": maps, "average": average}


def proposal_summary(path: str | os.PathLike) -> dict:
    """AR@100, AUC, recall@0.5 (%) and the AR@AN curve of an ``eval_proposals.py --json_out`` file."""
    obj = _load_json(path)
    try:
        ar, rec = obj["ar_an"], obj["ssn_recall"]
        curve = ar["AR@AN"]
        an, avg = [float(x) for x in curve["AN"]], [100.0 * float(x) for x in curve["AR"]]
        thresholds = np.asarray(rec["iou_thresholds"], dtype=np.float64)
        per_instance = np.asarray(rec["per_instance"], dtype=np.float64)
        ar100 = None if ar["AR@100"] is None else 100.0 * float(ar["AR@100"])
        auc = float(ar["AUC_percent"])
    except (TypeError, KeyError, ValueError):
        raise InputError(f"{path}: not an eval_proposals.py --json_out file (ar_an, ssn_recall)") from None
    near = np.flatnonzero(np.isclose(thresholds, 0.5))
    return {"AR@100": ar100, "AUC": auc, "recall@0.5": 100.0 * float(per_instance[near[0]]) if len(near) else None,
            "AN": an, "AR": avg}


def _seconds(keys: str, times: dict[str, float], what: str, label: str, times_path) -> float:
    missing = [k for k in keys.split("+") if k not in times]
    if missing:
        raise InputError(f"row {label!r}: {what} step(s) {', '.join(missing)} not in {times_path or 'the run times'}"
                         f" (give --times FILE written by the numbered scripts, or drop {what}=)")
    return float(sum(times[k] for k in keys.split("+")))


def parse_row(tokens: list[str], times: dict[str, float] | None = None, times_path=None) -> MethodRow:
    """``LABEL [det=EVAL.json] [props=EVAL.json] [train=KEY[+KEY..]] [infer=KEY[+KEY..]]`` -> a row."""
    if not tokens or "=" in tokens[0]:
        raise InputError(f"--row needs a label first, then key=value items ({', '.join(ROW_KEYS)}), got {tokens}")
    row = MethodRow(tokens[0])
    for tok in tokens[1:]:
        key, sep, value = tok.partition("=")
        if not sep or key not in ROW_KEYS or not value:
            raise InputError(f"row {row.label!r}: bad item {tok!r}; expected one of "
                             f"{', '.join(k + '=...' for k in ROW_KEYS)}")
        row.sources[key] = value
        if key == "det":
            row.detection = detection_summary(value)
        elif key == "props":
            row.proposals = proposal_summary(value)
        else:
            setattr(row, f"{key}_s", _seconds(value, times or {}, key, row.label, times_path))
    if row.detection is None and row.proposals is None:
        raise InputError(f"row {row.label!r} has neither det= nor props=")
    return row


def _iou_columns(rows: list[MethodRow]) -> list[float]:
    return sorted({round(t, 6) for r in rows if r.detection for t in r.detection["iou"]})


def _pct(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def _secs(x) -> str:
    return "–" if x is None else f"{x:.0f}"


def comparison_markdown(rows: list[MethodRow]) -> str:
    """The comparison as a Markdown table: proposals, mAP per IoU and average, times."""
    ious = _iou_columns(rows)
    head = ["method", "AR@100", "AUC", "R@0.5"] + [f"mAP@{t:g}" for t in ious] + ["avg mAP", "train s", "infer s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        p = r.proposals or {}
        by_iou = dict(zip((round(t, 6) for t in r.detection["iou"]), r.detection["mAP"])) if r.detection else {}
        cells = [r.label, _pct(p.get("AR@100")), _pct(p.get("AUC")), _pct(p.get("recall@0.5"))]
        cells += [_pct(by_iou.get(t)) for t in ious]
        cells += [_pct(r.detection["average"] if r.detection else None), _secs(r.train_s), _secs(r.infer_s)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_json(rows: list[MethodRow]) -> list[dict]:
    """The rows as plain data (for ``comparison.json``)."""
    return [{"label": r.label, "detection": r.detection, "proposals": r.proposals, "train_s": r.train_s,
             "infer_s": r.infer_s, "sources": r.sources} for r in rows]


# --------------------------------------------------------------------------- picture

STREAM_WIDTHS = {"RGB": 1, "Flow": 2, "fused": 4}     # line width per stream; rows without a stream: 2


def family_of(label: str) -> tuple[str, str | None]:
    """``"SSN on BMN, fused"`` -> ("SSN on BMN", "fused"); a label without a stream suffix is its own family."""
    head, sep, tail = label.rpartition(", ")
    return (head, tail) if sep and tail in STREAM_WIDTHS else (label, None)


def draw_comparison(rows: list[MethodRow], width: int = 1100, plot_h: int = 340) -> np.ndarray:
    """The two-panel picture (H, W, 3) uint8 BGR: AR@AN curves and mAP by IoU, legend below.

    One colour per method family (the label without its ``, RGB`` / ``, Flow`` / ``, fused`` suffix), the
    stream by line width (RGB thin, Flow medium, fused thick); each proposal file's curve is drawn once, in
    the colour of the first row that reads it."""
    families = list(dict.fromkeys(family_of(r.label)[0] for r in rows))
    legend = families + ["line width: RGB thin, Flow medium, fused thick"]
    img = np.full((plot_h + legend_height(len(legend)), width, 3), 255, np.uint8)
    half = width // 2
    ar_px = line_panel(img, 0, half, plot_h, "proposals: AR (%) vs AN", "proposals per video", (0, 100),
                       range(0, 101, 20))
    ious = _iou_columns(rows) or [0.5]
    lo, hi = min(ious), max(ious)
    pad = max(0.05, (hi - lo) * 0.05)
    map_px = line_panel(img, half, width - half, plot_h, "detections: mAP (%) vs IoU", "IoU threshold",
                        (lo - pad, hi + pad), ious)
    colors = class_colors(len(families))
    drawn = set()
    for r in rows:
        family, stream = family_of(r.label)
        c, thick = tuple(int(v) for v in colors[families.index(family)]), STREAM_WIDTHS.get(stream, 2)
        source = r.sources.get("props")
        if r.proposals and r.proposals["AN"] and source not in drawn:
            drawn.add(source)
            an = np.asarray(r.proposals["AN"])
            keep = an <= 100
            cv2.polylines(img, [ar_px(an[keep], np.asarray(r.proposals["AR"])[keep])], False, c, 2, cv2.LINE_AA)
        if r.detection:
            pts = map_px(r.detection["iou"], r.detection["mAP"])
            cv2.polylines(img, [pts], False, c, thick, cv2.LINE_AA)
            for p in pts:
                cv2.circle(img, (int(p[0]), int(p[1])), thick + 1, c, -1, cv2.LINE_AA)
    draw_legend(img, legend, np.concatenate([colors, np.full((1, 3), 255, np.uint8)]), plot_h)
    return img


def write_comparison_png(path: str | os.PathLike, rows: list[MethodRow]) -> None:
    """Draw and write the picture atomically."""
    write_png(path, draw_comparison(rows))
