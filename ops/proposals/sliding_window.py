"""Exponential multi-scale sliding windows (the SSN sliding-window proposals).

Windows span ``2**k`` time steps for ``k = 0 .. max_level - 1``; windows of one
level start every ``ceil(2**k * (1 - overlap))`` time steps from 0 and may run
past the end of the video; a window is kept when at least ``min_seconds`` of it
lies inside the video, and its end is then clipped to the video.

Difference from the original: it scaled only the stride by ``time_step`` and not
the window length; here both are in time steps of ``time_step`` seconds.  With
the default ``time_step = 1`` the two agree.
"""
from __future__ import annotations

import numpy as np

from ops.errors import InputError


def sliding_windows(duration: float, time_step: float = 1.0, max_level: int = 8, overlap: float = 0.4,
                    min_seconds: float = 1.0) -> np.ndarray:
    """Windows of one video, (N, 2) ``[t_start, t_end]`` seconds, ordered by level then start."""
    if not 0 <= overlap < 1:
        raise InputError(f"overlap must be in [0, 1), got {overlap}")
    spans = 2.0 ** np.arange(max_level)
    steps = np.ceil(spans * (1 - overlap))
    out = []
    for span, step in zip(spans, steps):
        starts = np.arange(0.0, duration, step * time_step)
        out.append(np.stack([starts, starts + span * time_step], axis=1))
    windows = np.concatenate(out) if out else np.zeros((0, 2))
    inside = np.minimum(windows[:, 1], duration) - windows[:, 0]
    windows = windows[inside >= min_seconds]
    windows[:, 1] = np.minimum(windows[:, 1], duration)
    return windows
