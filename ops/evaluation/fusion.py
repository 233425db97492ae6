"""Fusion of several SSN result files (e.g. RGB and Flow), with per-output weights (one home).

An SSN result gives three outputs per proposal (see :mod:`ops.formats.results`):
activity logits, completeness logits and location regression.  The original
SSN fused streams with one weight per stream for all three.  Streams are not
equally good at each output, though: on the synthetic demo the classes differ
only by motion, so RGB's activity classifier is at chance while its
completeness classifier (which sees the actor's size, i.e. whether it fades in
and out) is the better of the two.  :class:`FusionWeights` therefore holds one
weight vector per output; :func:`search_fusion_weights` chooses them on a
held-out (or training) subset, and the test subset is then scored with the
chosen weights.

Weights file (``eval_detection_results.py --search_weights FILE`` writes it,
``--fusion_weights FILE`` reads it), JSON::

    {"format": "ssn-fusion-weights/1",
     "act": [w_1, ..., w_S], "comp": [...], "reg": [...],   # one per source, sum 1
     "sources": ["rgb_val.pkl", "flow_val.pkl"],            # what they were chosen on
     "criterion": "average_mAP", "value": 0.83, ...}        # extra keys: provenance

The order of the weights is the order of the result files on the command line.
"""
from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ops.errors import InputError
from ops.formats.results import ResultFileError, VideoResult
from ops.io import atomic_write_json, read_json

logger = logging.getLogger(__name__)

FORMAT = "ssn-fusion-weights/1"
OUTPUTS = ("act", "comp", "reg")


class FusionWeightsError(InputError):
    """A weights file or flag that cannot be used; the message names it and says what to do."""


@dataclass(frozen=True)
class FusionWeights:
    """Per-source weights of each SSN output, each normalised to sum to 1.

    ``act``, ``comp``, ``reg``: tuples of S non-negative floats (S sources).
    """

    act: tuple
    comp: tuple
    reg: tuple

    @classmethod
    def make(cls, act, comp=None, reg=None) -> "FusionWeights":
        """From raw weights (any positive scale); ``comp`` and ``reg`` default to ``act``."""
        vecs = [_normalise(w, name) for w, name in
                ((act, "act"), (act if comp is None else comp, "comp"), (act if reg is None else reg, "reg"))]
        if len({len(v) for v in vecs}) != 1:
            raise FusionWeightsError(f"act, comp and reg weights have {[len(v) for v in vecs]} entries; "
                                     "give one weight per result file for each")
        return cls(*vecs)

    @classmethod
    def uniform(cls, num_sources: int) -> "FusionWeights":
        return cls.make([1.0] * num_sources)

    @property
    def num_sources(self) -> int:
        return len(self.act)

    def as_dict(self) -> dict:
        return {k: [float(x) for x in getattr(self, k)] for k in OUTPUTS}


def _normalise(w, name: str) -> tuple:
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise FusionWeightsError(f"{name} weights {w.tolist()}: need non-negative numbers, not all zero")
    if not np.isfinite(w.sum()):       # e.g. 1e308 twice: only the ratio matters, so scale first
        w = w / w.max()
    return tuple(float(x) for x in w / w.sum())


# Fractions of the video by which two streams' bounds of the same proposal may differ: lists made from the RGB
# and from the flow frame count (one frame fewer) differ by about 1 / num_frames; other proposals differ by far more.
PROPOSAL_TOLERANCE = 0.02


def fuse_results(sources: list[dict[str, VideoResult]], weights: FusionWeights | Sequence[float] | None = None,
                 names: list[str] | None = None) -> dict[str, VideoResult]:
    """Weighted sum of several result files' logits and regression, per output.

    ``weights``: a :class:`FusionWeights`, one weight per source for all three
    outputs (as the original SSN), or None (equal).  Proposals come from the
    first source; every source must cover its videos with the same shapes.
    Regression is fused only when every source has it; a source whose reg
    weight is 0 does not need it.
    """
    names = names or [f"result #{i}" for i in range(len(sources))]
    if weights is None:
        weights = FusionWeights.uniform(len(sources))
    elif not isinstance(weights, FusionWeights):
        weights = FusionWeights.make(weights)
    if weights.num_sources != len(sources):
        raise FusionWeightsError(f"{weights.num_sources} fusion weights for {len(sources)} result files "
                                 f"({', '.join(names)})")
    out = {}
    for key, first in sources[0].items():
        parts = [_source_entry(src, key, name, first, names[0]) for src, name in zip(sources, names)]
        out[key] = VideoResult(first.rel_props, _weighted(weights.act, [p.act_scores for p in parts]),
                               _weighted(weights.comp, [p.comp_scores for p in parts]),
                               _weighted(weights.reg, [p.reg_scores for p in parts]))
    return out


def _source_entry(src: dict, key: str, name: str, first: VideoResult, first_name: str) -> VideoResult:
    if key not in src:
        raise ResultFileError(f"{name}: no scores for video {key!r}, which {first_name} has")
    if src[key].act_scores.shape != first.act_scores.shape:
        raise ResultFileError(f"{name}: video {key!r} has act_scores {src[key].act_scores.shape}, "
                              f"{first_name} has {first.act_scores.shape}; were both made from one list?")
    gap = np.abs(src[key].rel_props - first.rel_props).max(initial=0.0)
    if gap > PROPOSAL_TOLERANCE:
        raise ResultFileError(f"{name}: video {key!r} scores other proposals than {first_name} (bounds differ by "
                              f"up to {gap:.3f} of the video); score both streams on one proposal list")
    return src[key]


def _weighted(w: tuple, arrays: list):
    """sum_i w_i * a_i over the sources with w_i > 0; None if one of them is None."""
    used = [(wi, a) for wi, a in zip(w, arrays) if wi > 0]
    if any(a is None for _, a in used):
        return None
    return sum(wi * a for wi, a in used)


def simplex_grid(num_sources: int, step: float) -> list[tuple]:
    """All weight vectors with entries in multiples of ``step`` summing to 1 (equal weights included)."""
    n = round(1 / step)
    if n < 1 or abs(n * step - 1) > 1e-9:
        raise FusionWeightsError(f"search step {step}: must divide 1 (e.g. 0.1, 0.05, 0.25)")
    points = [tuple(c / n for c in combo) for combo in itertools.product(range(n + 1), repeat=num_sources)
              if sum(combo) == n]
    uniform = tuple([1.0 / num_sources] * num_sources)
    return points if uniform in points else points + [uniform]


def search_fusion_weights(score: Callable[[FusionWeights], float], num_sources: int, step: float = 0.1,
                          max_rounds: int = 5) -> tuple[FusionWeights, float, int]:
    """Coordinate ascent over the three outputs' weights, each on a simplex grid, from equal weights.

    ``score(weights)`` returns the criterion to maximise (e.g. average mAP on a
    validation subset).  Each round tries every grid vector for ``act`` with
    the others fixed, keeps the best, then does ``comp``, then ``reg``; it
    stops after a round without a strict improvement.  Ties keep the current
    vector, so equal weights win unless something beats them.  Returns
    ``(best weights, best score, number of evaluations)``.
    """
    grid = simplex_grid(num_sources, step)
    current = FusionWeights.uniform(num_sources).as_dict()
    cache: dict[tuple, float] = {}

    def evaluate(d: dict) -> float:
        key = tuple(tuple(round(x, 9) for x in d[k]) for k in OUTPUTS)
        if key not in cache:
            cache[key] = float(score(FusionWeights.make(d["act"], d["comp"], d["reg"])))
        return cache[key]

    best = evaluate(current)
    for round_ in range(max_rounds):
        improved = False
        for name in OUTPUTS:
            for vec in grid:
                cand = dict(current, **{name: list(vec)})
                value = evaluate(cand)
                if value > best + 1e-12:
                    best, current, improved = value, cand, True
        logger.info("fusion search round %d: %.4f with %s", round_ + 1, best, current)
        if not improved:
            break
    return FusionWeights.make(current["act"], current["comp"], current["reg"]), best, len(cache)


def write_fusion_weights(path: str | os.PathLike, weights: FusionWeights, **provenance) -> None:
    """Write the weights file (atomically); ``provenance``: what they were chosen on, the criterion, ..."""
    atomic_write_json(path, {"format": FORMAT, **weights.as_dict(), **provenance})


def read_fusion_weights(path: str | os.PathLike, num_sources: int | None = None) -> FusionWeights:
    """Read a weights file; checks the format and, if given, the number of sources."""
    try:
        d = read_json(path, FusionWeightsError)
    except OSError as e:
        raise FusionWeightsError(f"{path}: cannot read fusion weights ({e})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT or any(k not in d for k in OUTPUTS):
        raise FusionWeightsError(f"{path}: not a fusion weights file (needs \"format\": \"{FORMAT}\" and "
                                 "act, comp, reg lists); write one with eval_detection_results.py --search_weights")
    try:
        weights = FusionWeights.make(d["act"], d["comp"], d["reg"])
    except (FusionWeightsError, TypeError, ValueError) as e:
        raise FusionWeightsError(f"{path}: {e}") from None
    if num_sources is not None and weights.num_sources != num_sources:
        sources = d.get("sources")
        raise FusionWeightsError(f"{path}: weights for {weights.num_sources} result files"
                                 f"{f' ({sources})' if sources else ''}, but {num_sources} are given; "
                                 "give the result files in the same order as when the weights were chosen")
    return weights
