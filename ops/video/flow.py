"""Optical flow algorithms behind one interface, and DenseFlow-compatible quantisation.

Every algorithm is built by name with :func:`make_flow` and called on a batch
of frame pairs::

    flow_fn = make_flow("dis_medium")
    flow = flow_fn(prev, nxt)      # prev, nxt: (B, H, W) uint8 gray -> (B, H, W, 2) float32

Flow is in pixels per frame pair: channel 0 horizontal (x, right positive),
channel 1 vertical (y, down positive), such that ``prev[y, x] ~ nxt[y + v, x + u]``.

Algorithms (``FLOW_ALGORITHMS``):

- ``tvl1``       OpenCV contrib Dual TV-L1 (what DenseFlow uses); needs ``cv2.optflow``
- ``tvl1_torch`` our batched PyTorch TV-L1 (ops/video/tvl1_torch.py), CPU or CUDA
- ``dis_fast``, ``dis_medium``, ``dis_ultrafast``  OpenCV DIS presets
- ``farneback``  OpenCV Farneback

The default per device lives in ``DEFAULT_FLOW`` (the one place to change it).

Quantisation (DenseFlow): a flow value v is clipped to [-bound, bound] and
mapped to ``round(255 * (v + bound) / (2 * bound))`` in 0..255; the inverse is
``q * 2 * bound / 255 - bound``, so one quantisation step is ``2 * bound / 255``
pixels (0.157 px at the default bound 20).
"""
from __future__ import annotations

from typing import Callable, Protocol

import cv2
import numpy as np

from ops.errors import InputError, SetupError

# Default algorithm per device, chosen by speed and end-point error on synthetic
# motion (docs/extract_frames.md, bench/bench_flow.py).  Change the default here.
DEFAULT_FLOW = {"cpu": "dis_medium", "cuda": "tvl1_torch"}
DEFAULT_BOUND = 20.0


class FlowFn(Protocol):
    """A flow algorithm: ``(prev, nxt) -> flow`` on a batch of pairs.

    ``prev``, ``nxt``: (B, H, W) uint8 grayscale; returns (B, H, W, 2) float32
    pixels.  ``batch_size`` is the number of pairs it prefers per call.
    """

    name: str
    batch_size: int

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray: ...


def has_opencv_tvl1() -> bool:
    """True when OpenCV has the contrib ``optflow`` module (TV-L1)."""
    return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")


class _PairwiseFlow:
    """Adapter running a per-pair OpenCV algorithm over a batch."""

    batch_size = 8

    def __init__(self, name: str, pair_fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):
        self.name = name
        self._pair_fn = pair_fn

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        prev, nxt = _check_pairs(prev, nxt)
        if len(prev) == 0:
            return np.zeros((0, *prev.shape[1:], 2), np.float32)
        return np.stack([self._pair_fn(a, b) for a, b in zip(prev, nxt)]).astype(np.float32, copy=False)


def _check_pairs(prev: np.ndarray, nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate (B, H, W) uint8 batches of equal shape (a single (H, W) pair is promoted)."""
    prev, nxt = np.asarray(prev), np.asarray(nxt)
    if prev.ndim == 2:
        prev, nxt = prev[None], nxt[None]
    if prev.shape != nxt.shape or prev.ndim != 3:
        raise ValueError(f"flow needs two (B, H, W) gray batches of equal shape, got {prev.shape} and {nxt.shape}")
    return prev, nxt


def _dis(preset: int) -> Callable:
    algo = cv2.DISOpticalFlow_create(preset)
    return lambda a, b: algo.calc(a, b, None)


def _farneback() -> Callable:
    # pyr_scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5, poly_sigma 1.2 (OpenCV's sample values).
    return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def _opencv_tvl1() -> Callable:
    if not has_opencv_tvl1():
        raise SetupError("flow algorithm 'tvl1' needs OpenCV's contrib modules (cv2.optflow), which this "
                           "OpenCV lacks: `pip install opencv-contrib-python-headless` (instead of "
                           "opencv-python), or use --flow tvl1_torch / dis_medium")
    algo = cv2.optflow.DualTVL1OpticalFlow_create()
    return lambda a, b: algo.calc(a, b, None)


class _TorchTVL1:
    """Adapter for the batched PyTorch TV-L1 (numpy in, numpy out)."""

    name = "tvl1_torch"

    def __init__(self, device: str = "cpu", **params):
        from ops.video.tvl1_torch import TVL1Params  # torch is imported only when this algorithm is used
        self.device = device
        self.params = TVL1Params(**params)
        # A TV-L1 iteration is ~45 small kernels and a pair may need up to 7500 iterations, so on a GPU
        # big batches are what amortise the launches; on CPU one pair at a time keeps memory low.
        self.batch_size = 64 if device.startswith("cuda") else 1

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        from ops.video.tvl1_torch import tvl1_flow_numpy
        prev, nxt = _check_pairs(prev, nxt)
        return tvl1_flow_numpy(prev, nxt, self.params, device=self.device)


FLOW_ALGORITHMS: dict[str, Callable[..., FlowFn]] = {
    "dis_ultrafast": lambda device="cpu": _PairwiseFlow("dis_ultrafast", _dis(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)),
    "dis_fast": lambda device="cpu": _PairwiseFlow("dis_fast", _dis(cv2.DISOPTICAL_FLOW_PRESET_FAST)),
    "dis_medium": lambda device="cpu": _PairwiseFlow("dis_medium", _dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)),
    "farneback": lambda device="cpu": _PairwiseFlow("farneback", _farneback()),
    "tvl1": lambda device="cpu": _PairwiseFlow("tvl1", _opencv_tvl1()),
    "tvl1_torch": lambda device="cpu", **params: _TorchTVL1(device, **params),
}


def default_flow_algorithm(device: str) -> str:
    """The default algorithm for a resolved device ('cpu' or 'cuda[:N]')."""
    return DEFAULT_FLOW["cuda" if device.startswith("cuda") else "cpu"]


def make_flow(name: str, device: str = "cpu", **params) -> FlowFn:
    """Build flow algorithm ``name`` (see ``FLOW_ALGORITHMS``) on ``device``.

    ``params`` are passed to ``tvl1_torch`` (see ops.video.tvl1_torch.TVL1Params).
    Raises ValueError for an unknown name, RuntimeError when it is unavailable here.
    """
    if name not in FLOW_ALGORITHMS:
        raise InputError(f"unknown flow algorithm {name!r}; choose one of {sorted(FLOW_ALGORITHMS)}")
    if params and name != "tvl1_torch":
        raise InputError(f"flow algorithm {name!r} takes no parameters, got {sorted(params)}")
    if device != "cpu" and name != "tvl1_torch":
        raise InputError(f"flow algorithm {name!r} runs on the CPU only; use tvl1_torch on {device}")
    return FLOW_ALGORITHMS[name](device=device, **params)


def quantise_flow(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Clip ``flow`` (pixels, any shape) to [-bound, bound] and map it to uint8 0..255 as DenseFlow does.

    ``round(255 * (v + bound) / (2 * bound))``; rounding is half-to-even like
    OpenCV's cvRound, so files match DenseFlow's byte for byte before JPEG.
    """
    if bound <= 0:
        raise InputError(f"flow bound must be > 0, got {bound}")
    v = np.clip(np.asarray(flow, np.float32), -bound, bound)
    # Same float32 operation order as DenseFlow's 255 * (v - lo) / (hi - lo), so ties round alike.
    return np.rint(np.float32(255) * (v + np.float32(bound)) / np.float32(2 * bound)).astype(np.uint8)


def dequantise_flow(q: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Inverse of :func:`quantise_flow`: uint8 0..255 -> float32 pixels in [-bound, bound]."""
    return np.asarray(q, np.float32) * np.float32(2.0 * bound / 255.0) - np.float32(bound)


def to_gray(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) BGR uint8 -> (H, W) gray uint8 (a gray frame is returned unchanged)."""
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def end_point_error(flow: np.ndarray, ref: np.ndarray, margin: int = 0) -> float:
    """Mean end-point error (pixels) between (..., H, W, 2) flows, ignoring ``margin`` border pixels."""
    if margin > 0:
        flow = flow[..., margin:-margin, margin:-margin, :]
        ref = ref[..., margin:-margin, margin:-margin, :]
    return float(np.sqrt(((flow - ref) ** 2).sum(-1)).mean())


def warp_by_flow(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample (H, W[, C]) ``image`` at x + flow(x) (bicubic, borders replicated).

    With ``nxt = image`` this builds ``prev = warp_by_flow(nxt, flow)`` whose
    true flow to ``nxt`` is exactly ``flow`` ((H, W, 2) pixels): the synthetic
    pairs of the tests and benchmarks.
    """
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = xs + flow[..., 0].astype(np.float32)
    map_y = ys + flow[..., 1].astype(np.float32)
    out = cv2.remap(image.astype(np.float32), map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8) if image.dtype == np.uint8 else out
