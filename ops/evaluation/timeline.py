"""Timeline pictures: ground truth and detections of a few videos, drawn with OpenCV only.

Input: one dict per video (times in **seconds**, ``class_idx`` **0-based** into
``class_names``, i.e. ``label - 1`` of the rest of the toolkit)::

    {"video": str, "duration": float (s),
     "gt": (G, 3) rows (t_start, t_end, class_idx), or None / absent: no GT lane,
     "detections": (N, 4) rows (t_start, t_end, class_idx, score)}

Picture (BGR uint8, ``width`` x height pixels), top to bottom, all sizes in
pixels from :class:`TimelineLayout`:

- a title row (``title_h``);
- the legend: one cell (``legend_col_w`` x ``legend_row_h``) per class that
  appears in any drawn video, class order, ``legend_columns(width)`` cells per
  row;
- one band per video: a name row (``name_h``), the GT lane (``lane_h``, only
  when the video has ``gt``), the detections lane (``lane_h``), the time axis
  (``axis_h``) and a gap (``gap_h``).

Every band has its own time axis over ``[0, duration]``: time ``t`` (s) is
pixel column ``x(t) = margin_left + t / duration x (width - margin_left -
margin_right)`` (:func:`time_to_x`).  GT bars fill the GT lane in the class's
colour (:func:`class_colors`).  Detections: the ``top_k`` highest scoring with
``score >= min_score``, drawn lowest score first; a bar's colour is its class,
its height and opacity grow with ``rel = score / max drawn score of the video``
(height ``(lane_h - 4) x (0.3 + 0.7 rel)``, opacity ``0.3 + 0.7 rel``: the best is opaque).
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import cv2
import numpy as np

from ops.errors import InputError, SetupError
from ops.io import atomic_open

logger = logging.getLogger(__name__)

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, BLACK, GREY, LANE_BG = (255, 255, 255), (0, 0, 0), (110, 110, 110), (235, 235, 235)


@dataclass(frozen=True)
class TimelineLayout:
    """Sizes of the picture's parts in pixels (see the module docstring)."""

    margin_left: int = 48
    margin_right: int = 16
    title_h: int = 24
    legend_row_h: int = 20
    legend_col_w: int = 150
    name_h: int = 18
    lane_h: int = 22
    axis_h: int = 22
    gap_h: int = 10
    font_scale: float = 0.4

    def plot_width(self, width: int) -> int:
        """Pixels of the time axis."""
        return width - self.margin_left - self.margin_right

    def legend_columns(self, width: int) -> int:
        """Legend cells per row."""
        return max(1, (width - self.margin_left - self.margin_right) // self.legend_col_w)

    def band_height(self, has_gt: bool) -> int:
        """Height of one video's band."""
        return self.name_h + self.lane_h * (2 if has_gt else 1) + self.axis_h + self.gap_h

    def height(self, has_gt: list[bool], num_legend: int, width: int) -> int:
        """Height of the whole picture for videos with/without GT and ``num_legend`` legend entries."""
        rows = math.ceil(num_legend / self.legend_columns(width))
        return self.title_h + rows * self.legend_row_h + sum(self.band_height(g) for g in has_gt) + self.gap_h


def class_colors(num_classes: int) -> np.ndarray:
    """(K, 3) uint8 BGR colours, one per class: hues spread by the golden angle, fixed saturation/value."""
    hue = (np.arange(num_classes) * 0.381966 % 1.0 * 180).astype(np.uint8)
    hsv = np.stack([hue, np.full_like(hue, 200), np.full_like(hue, 215)], axis=1)[:, None, :]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[:, 0, :] if num_classes else np.zeros((0, 3), np.uint8)


def time_to_x(t, duration: float, width: int, layout: TimelineLayout = TimelineLayout()) -> np.ndarray:
    """Pixel columns (int) of times ``t`` (s) on a band of a ``duration`` s video, clipped to the axis."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, duration)
    return np.round(layout.margin_left + t / duration * layout.plot_width(width)).astype(np.int64)


def nice_ticks(duration: float, max_ticks: int) -> np.ndarray:
    """Tick times (s) from 0: the smallest step of 1, 2 or 5 x 10^k giving at most ``max_ticks`` intervals."""
    raw = duration / max(max_ticks, 1)
    base = 10.0 ** np.floor(np.log10(raw)) if raw > 0 else 1.0
    step = base * next(m for m in (1, 2, 5, 10) if base * m >= raw)
    return np.arange(0.0, duration + 1e-9 * max(duration, 1.0), step)


def _rows(value, width: int, what: str, video: str) -> np.ndarray:
    rows = np.asarray(value if value is not None else [], dtype=np.float64)
    rows = rows.reshape(-1, width) if rows.size else np.zeros((0, width))
    if len(rows) and not np.isfinite(rows).all():
        raise InputError(f"timeline: video {video!r}: {what} holds a non-finite value")
    return rows


def prepare_video(entry: dict, num_classes: int, min_score: float, top_k: int) -> dict:
    """Validate one video dict; returns it with ``gt`` (G, 3) or None, ``drawn`` detections (M, 4) sorted by
    ascending score, ``num_detections`` and a positive ``duration``."""
    video = str(entry["video"])
    gt = None if entry.get("gt") is None else _rows(entry["gt"], 3, "gt", video)
    dets = _rows(entry.get("detections"), 4, "detections", video)
    for name, rows in (("gt", gt), ("detections", dets)):
        if rows is not None and len(rows) and ((rows[:, 2] < 0) | (rows[:, 2] >= num_classes)).any():
            raise InputError(f"timeline: video {video!r}: {name} class_idx outside 0..{num_classes - 1}")
    duration = float(entry.get("duration") or np.nan)
    if not duration > 0:
        ends = np.concatenate([dets[:, 1], gt[:, 1] if gt is not None else []])
        duration = float(ends.max()) if len(ends) and ends.max() > 0 else 1.0
        logger.warning("timeline: video %s has no duration; using %.2f s", video, duration)
    keep = np.flatnonzero(dets[:, 3] >= min_score)
    keep = keep[np.argsort(-dets[keep, 3], kind="stable")][:top_k if top_k > 0 else None]
    drawn = dets[keep[::-1]]
    return {"video": video, "duration": duration, "gt": gt, "drawn": drawn, "num_detections": len(dets)}


def _text(img, text: str, x: int, y: int, color=BLACK, scale: float = 0.4) -> None:
    cv2.putText(img, text, (int(x), int(y)), FONT, scale, color, 1, cv2.LINE_AA)


def _fit(text: str, max_w: int, scale: float) -> str:
    """``text`` shortened with '..' to at most ``max_w`` pixels."""
    if cv2.getTextSize(text, FONT, scale, 1)[0][0] <= max_w:
        return text
    while text and cv2.getTextSize(text + "..", FONT, scale, 1)[0][0] > max_w:
        text = text[:-1]
    return text + ".."


def _draw_legend(img, classes: np.ndarray, names, colors, top: int, lay: TimelineLayout) -> None:
    cols = lay.legend_columns(img.shape[1])
    for i, k in enumerate(classes.tolist()):
        x = lay.margin_left + (i % cols) * lay.legend_col_w
        y = top + (i // cols) * lay.legend_row_h
        cv2.rectangle(img, (x, y + 4), (x + 12, y + 16), colors[k].tolist(), -1)
        _text(img, _fit(str(names[k]), lay.legend_col_w - 22, lay.font_scale), x + 17, y + 15, scale=lay.font_scale)


def _draw_axis(img, duration: float, top: int, lay: TimelineLayout) -> None:
    width = img.shape[1]
    x0, x1 = lay.margin_left, lay.margin_left + lay.plot_width(width)
    cv2.line(img, (x0, top), (x1, top), GREY, 1)
    ticks = nice_ticks(duration, max(2, lay.plot_width(width) // 60))
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    for t, x in zip(ticks.tolist(), time_to_x(ticks, duration, width, lay).tolist()):
        cv2.line(img, (x, top), (x, top + 4), GREY, 1)
        label = f"{t:.0f}" if step >= 1 else f"{t:.1f}" if step >= 0.1 else f"{t:.2f}"
        tw = cv2.getTextSize(label, FONT, lay.font_scale * 0.9, 1)[0][0]
        _text(img, label, min(max(x - tw // 2, x0), width - tw - 1), top + 16, GREY, lay.font_scale * 0.9)
    _text(img, "t (s)", 6, top + 16, GREY, lay.font_scale * 0.9)


def _draw_lane_bg(img, duration: float, top: int, label: str, lay: TimelineLayout) -> None:
    x1 = int(time_to_x(duration, duration, img.shape[1], lay))
    cv2.rectangle(img, (lay.margin_left, top), (x1, top + lay.lane_h - 1), LANE_BG, -1)
    _text(img, label, 6, top + lay.lane_h // 2 + 5, scale=lay.font_scale)


def _bar_span(rows: np.ndarray, duration: float, width: int, lay: TimelineLayout) -> tuple[np.ndarray, np.ndarray]:
    """First and last pixel column (inclusive, at least one column) of bars ``rows[:, :2]`` (s)."""
    x0 = time_to_x(rows[:, 0], duration, width, lay)
    x1 = np.maximum(time_to_x(rows[:, 1], duration, width, lay) - 1, x0)
    return x0, x1


def _draw_gt(img, gt: np.ndarray, duration: float, top: int, colors, lay: TimelineLayout) -> None:
    x0, x1 = _bar_span(gt, duration, img.shape[1], lay)
    for a, b, k in zip(x0.tolist(), x1.tolist(), gt[:, 2].astype(int).tolist()):
        cv2.rectangle(img, (a, top + 2), (b, top + lay.lane_h - 3), colors[k].tolist(), -1)


def _draw_detections(img, drawn: np.ndarray, duration: float, top: int, colors, lay: TimelineLayout) -> None:
    if not len(drawn):
        return
    x0, x1 = _bar_span(drawn, duration, img.shape[1], lay)
    peak = drawn[:, 3].max()
    rel = np.clip(drawn[:, 3] / peak, 0.0, 1.0) if peak > 0 else np.ones(len(drawn))
    heights = np.maximum(3, np.round((lay.lane_h - 4) * (0.3 + 0.7 * rel))).astype(int)
    alphas = 0.3 + 0.7 * rel                     # the best detection is opaque
    bottom = top + lay.lane_h - 2
    for a, b, h, alpha, k in zip(x0.tolist(), x1.tolist(), heights.tolist(), alphas.tolist(),
                                 drawn[:, 2].astype(int).tolist()):
        roi = img[bottom - h:bottom, a:b + 1]
        roi[:] = np.round(alpha * colors[k] + (1 - alpha) * roi).astype(np.uint8)


def _draw_band(img, v: dict, top: int, colors, min_score: float, lay: TimelineLayout) -> int:
    """Draw one video's band from row ``top``; returns the next band's top row."""
    n = len(v["drawn"])
    name = f"{v['video']}  ({v['duration']:.1f} s; {n} of {v['num_detections']} detections drawn"
    name += f", score >= {min_score:g})" if min_score > 0 else ")"
    _text(img, _fit(name, img.shape[1] - 12, lay.font_scale), 6, top + lay.name_h - 5, scale=lay.font_scale)
    y = top + lay.name_h
    if v["gt"] is not None:
        _draw_lane_bg(img, v["duration"], y, "GT", lay)
        _draw_gt(img, v["gt"], v["duration"], y, colors, lay)
        y += lay.lane_h
    _draw_lane_bg(img, v["duration"], y, "det", lay)
    _draw_detections(img, v["drawn"], v["duration"], y, colors, lay)
    _draw_axis(img, v["duration"], y + lay.lane_h, lay)
    return top + lay.band_height(v["gt"] is not None)


def render_timeline(videos: list[dict], class_names, width: int = 1200, min_score: float = 0.0, top_k: int = 20,
                    title: str | None = None, layout: TimelineLayout = TimelineLayout()) -> np.ndarray:
    """Draw the timeline of ``videos`` (dicts as in the module docstring).

    Args:
        class_names: K names; ``class_idx`` k is ``class_names[k]``.
        width: picture width in pixels (the height follows from the layout).
        min_score, top_k: detections drawn per video: the ``top_k`` best (``<= 0``: all) with score >= ``min_score``.
    Returns:
        (H, width, 3) uint8 BGR image.
    """
    if layout.plot_width(width) < 50:
        raise InputError(f"timeline: width {width} px leaves no room for the time axis")
    colors = class_colors(len(class_names)).astype(np.float64)
    prepared = [prepare_video(v, len(class_names), min_score, top_k) for v in videos]
    used = [v["drawn"][:, 2] for v in prepared] + [v["gt"][:, 2] for v in prepared if v["gt"] is not None]
    legend = np.unique(np.concatenate(used)).astype(int) if used else np.zeros(0, int)
    height = layout.height([v["gt"] is not None for v in prepared], len(legend), width)
    img = np.full((height, width, 3), 255, np.uint8)
    _text(img, _fit(title or f"{len(prepared)} video(s): ground truth and detections", width - 12, 0.5),
          6, layout.title_h - 7, scale=0.5)
    _draw_legend(img, legend, class_names, colors.astype(int), layout.title_h, layout)
    top = layout.title_h + math.ceil(len(legend) / layout.legend_columns(width)) * layout.legend_row_h
    for v in prepared:
        top = _draw_band(img, v, top, colors, min_score, layout)
    return img


def write_png(path: str | os.PathLike, img: np.ndarray) -> None:
    """Encode ``img`` (H, W, 3) uint8 BGR as PNG and write it atomically."""
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise SetupError(f"{path}: this OpenCV build could not encode the picture as PNG")
    with atomic_open(path, "wb") as f:
        f.write(buf.tobytes())


def draw_timeline(videos: list[dict], class_names, path: str | os.PathLike, width: int = 1200,
                  min_score: float = 0.0, top_k: int = 20, title: str | None = None,
                  layout: TimelineLayout = TimelineLayout()) -> np.ndarray:
    """:func:`render_timeline` and write it to ``path`` (PNG, atomically); returns the (H, W, 3) image."""
    img = render_timeline(videos, class_names, width, min_score, top_k, title, layout)
    write_png(path, img)
    logger.info("wrote %s (%d x %d px, %d videos)", path, img.shape[1], img.shape[0], len(videos))
    return img


def timeline_videos(dets, durations: dict[str, float], videos: list[str],
                    ground_truth: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> list[dict]:
    """Video dicts for :func:`render_timeline` from toolkit tables.

    Args:
        dets: :class:`ops.formats.detections.Detections` in seconds, labels 1-based (label 0 rows are skipped).
        durations: video -> duration (s); NaN or missing lets the picture use the last end time.
        videos: the videos to draw, in order.
        ground_truth: video -> (bounds (G, 2) s, labels (G,) 1-based), as ``AnnotationDB.ground_truth()``;
            None draws no GT lanes.
    """
    if dets.unit != "seconds":
        raise InputError(f"timeline needs detections in seconds, got {dets.unit}")
    if (dets.label == 0).any():
        logger.warning("timeline: %d class-agnostic rows (label 0) are not drawn", int((dets.label == 0).sum()))
    out = []
    for vid in videos:
        mask = (dets.video == vid) & (dets.label > 0)
        rows = np.stack([dets.t_start[mask], dets.t_end[mask], dets.label[mask] - 1, dets.score[mask]], axis=1)
        entry = {"video": vid, "duration": durations.get(vid, np.nan), "detections": rows}
        if ground_truth is not None:
            bounds, labels = ground_truth.get(vid, (np.zeros((0, 2)), np.zeros(0, np.int64)))
            entry["gt"] = np.concatenate([bounds, (labels - 1)[:, None]], axis=1)
        out.append(entry)
    return out
