"""Line charts drawn with OpenCV only (no plotting library): the comparison and the training curves.

A panel occupies columns ``[x0, x0 + w)`` and rows ``[0, h)`` of a white BGR picture; inside it the plot
area leaves ``PANEL_MARGINS`` pixels for tick labels and titles.  :func:`line_panel` draws the frame, grid,
ticks and labels and returns the mapping from data coordinates to pixel coordinates.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

PANEL_MARGINS = dict(left=56, right=16, top=34, bottom=40)
_FONT, _BLACK, _GRID = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0), (225, 225, 225)


def nice_range(values, include_zero: bool = False, steps: int = 5) -> tuple[tuple[float, float], np.ndarray]:
    """A y range and ticks covering the finite ``values``: ticks every 1, 2 or 5 x 10^k."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
    if include_zero:
        lo = min(lo, 0.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / steps
    base = 10.0 ** math.floor(math.log10(raw))
    step = base * next(m for m in (1, 2, 5, 10) if base * m >= raw)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    return (lo, hi), np.arange(lo, hi + step / 2, step)


def line_panel(img: np.ndarray, x0: int, w: int, h: int, title: str, xlabel: str, xlim, xticks,
               ylim=(0.0, 100.0), yticks=range(0, 101, 20)):
    """Draw one panel's frame, grid, ticks and labels; return ``to_px(x, y) -> (N, 2) int32`` pixels."""
    m = PANEL_MARGINS
    l, r, t, b = x0 + m["left"], x0 + w - m["right"], m["top"], h - m["bottom"]
    xspan, yspan = (xlim[1] - xlim[0]) or 1.0, (ylim[1] - ylim[0]) or 1.0

    def to_px(x, y):
        px = l + (np.asarray(x, float) - xlim[0]) / xspan * (r - l)
        py = b - (np.asarray(y, float) - ylim[0]) / yspan * (b - t)
        return np.stack([px, py], axis=-1).round().astype(np.int32)

    cv2.rectangle(img, (l, t), (r, b), _BLACK, 1)
    for y in yticks:
        py = int(to_px([xlim[0]], [y])[0, 1])
        cv2.line(img, (l, py), (r, py), _GRID, 1)
        cv2.putText(img, f"{y:g}", (x0 + 4, py + 4), _FONT, 0.4, _BLACK, 1, cv2.LINE_AA)
    for x in xticks:
        px = int(to_px([x], [ylim[0]])[0, 0])
        cv2.putText(img, f"{x:g}", (px - 10, b + 16), _FONT, 0.4, _BLACK, 1, cv2.LINE_AA)
    cv2.putText(img, xlabel, ((l + r) // 2 - 40, b + 34), _FONT, 0.45, _BLACK, 1, cv2.LINE_AA)
    cv2.putText(img, title, (l, t - 12), _FONT, 0.5, _BLACK, 1, cv2.LINE_AA)
    return to_px


def draw_legend(img: np.ndarray, labels: list[str], colors: np.ndarray, top: int, columns: int = 3) -> None:
    """One short line and label per entry, ``columns`` entries per row, from pixel row ``top``."""
    width = img.shape[1]
    for i, label in enumerate(labels):
        c = tuple(int(v) for v in colors[i])
        lx, ly = 20 + (i % columns) * (width // columns), top + 14 + 18 * (i // columns)
        cv2.line(img, (lx, ly - 4), (lx + 24, ly - 4), c, 3)
        cv2.putText(img, label[:48], (lx + 30, ly), _FONT, 0.42, _BLACK, 1, cv2.LINE_AA)


def legend_height(num: int, columns: int = 3) -> int:
    """Pixels the legend of ``num`` entries needs."""
    return 18 * ((num + columns - 1) // columns) + 10
