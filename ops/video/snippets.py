"""Snippet geometry: which frames each row of a feature sequence reads (``extract_features.py``).

A sequence has one row every ``stride`` frames; row ``t`` stands for the instant ``offset + stride x t`` frames
after frame 0 starts (frame ``f`` covers ``[f, f + 1)``).  Both streams describe the same instants, so their rows
can be joined (``ops.formats.features.concat_streams``):

- RGB reads frame ``floor(offset + stride t)``;
- Flow stacks ``pairs`` flow frames starting at ``floor(offset + stride t) - pairs // 2 + flow_shift``
  (flow ``k`` is the motion from frame ``k`` to ``k + 1``).

Indices outside the video are clamped (frames past the end repeat the last one, as Decouple-SSAD does).  A
video of ``N`` frames has ``max(1, N // stride)`` rows: the snippets of ``stride`` frames it holds whole (the
ActivityNet "cuhk" features: one per 16 frames).  Named geometries:

| name | stride | offset | flow_shift | frames of row t | source |
|---|---|---|---|---|---|
| ``tsn_anet`` | 16 | 8 | 0 | RGB ``16t + 8``, Flow ``16t + 6 .. 16t + 10`` | ActivityNet TSN "cuhk" features (BSN/BMN) |
| ``ssad`` | 4 | 1.5 | 1 | RGB ``4t + 1`` (file ``img_{4t+2}``), Flow ``4t .. 4t + 4`` | Decouple-SSAD's THUMOS14 features |

In the record (``ops.formats.features.FeatureRecord``) a stream's ``first_frame + centre`` is ``offset``:
RGB ``snippet_frames`` 1, ``centre`` 0.5; Flow ``snippet_frames = pairs``, ``centre = pairs / 2``.  (Decouple-SSAD's
flow stack is centred one frame after its RGB frame; ``flow_shift`` reads it so, and the record keeps the
shared instant, noting the shift in ``extra``.)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ops.errors import InputError


@dataclass(frozen=True)
class SnippetGeometry:
    stride: int
    offset: float
    flow_shift: int = 0

    def __post_init__(self):
        if not (isinstance(self.stride, (int, np.integer)) and self.stride >= 1):
            raise InputError(f"snippet stride must be an integer >= 1 frame, got {self.stride!r}")
        if not (np.isfinite(self.offset) and self.offset >= 0):
            raise InputError(f"snippet offset must be >= 0 frames, got {self.offset!r}")

    def num_rows(self, num_frames: int) -> int:
        """Rows of a video of ``num_frames`` frames: ``max(1, num_frames // stride)``."""
        return max(1, int(num_frames) // self.stride)

    def rgb_frames(self, num_rows: int) -> np.ndarray:
        """(T,) int64 0-based RGB frame of each row (before clamping)."""
        return np.floor(self.offset + self.stride * np.arange(num_rows)).astype(np.int64)

    def flow_starts(self, num_rows: int, pairs: int) -> np.ndarray:
        """(T,) int64 0-based first flow frame of each row's stack of ``pairs`` (before clamping)."""
        return self.rgb_frames(num_rows) - pairs // 2 + self.flow_shift

    def frames(self, num_rows: int, modality: str, length: int) -> np.ndarray:
        """(T, length) int64 frames each row reads, clamped to the video's ``[0, count - 1]`` by the reader."""
        first = self.rgb_frames(num_rows) if modality == "RGB" else self.flow_starts(num_rows, length)
        return first[:, None] + np.arange(length)

    def record_fields(self, modality: str, length: int) -> dict:
        """``first_frame``, ``stride``, ``snippet_frames``, ``centre`` of a stream's feature record."""
        centre = 0.5 if modality == "RGB" else length / 2
        return {"first_frame": float(self.offset - centre), "stride": float(self.stride),
                "snippet_frames": int(1 if modality == "RGB" else length), "centre": float(centre)}

    def to_dict(self) -> dict:
        return asdict(self)


GEOMETRIES = {"tsn_anet": SnippetGeometry(16, 8.0, 0), "ssad": SnippetGeometry(4, 1.5, 1)}


def geometry_from(preset_section: dict | None, name: str | None = None, **overrides) -> SnippetGeometry:
    """The geometry named ``name`` (``GEOMETRIES``), else the preset's ``features`` section, then ``overrides``
    (flags; None values ignored).  ``offset`` defaults to half a stride."""
    if name is not None:
        if name not in GEOMETRIES:
            raise InputError(f"unknown snippet geometry {name!r}; choose one of {sorted(GEOMETRIES)}")
        base = GEOMETRIES[name].to_dict()
    else:
        base = {k: v for k, v in (preset_section or {}).items() if k in ("stride", "offset", "flow_shift")}
    base.update({k: v for k, v in overrides.items() if v is not None})
    if "stride" not in base:
        raise InputError("no snippet stride: give --stride, --geometry, or a preset with a 'features' section")
    base.setdefault("offset", base["stride"] / 2)
    return SnippetGeometry(int(base["stride"]), float(base["offset"]), int(base.get("flow_shift", 0)))
