"""Snippet transforms on uint8 tensors, shared by every frame-reading stage.

A *snippet stack* is a uint8 tensor (N, C, H, W): N snippets of one sample,
C = 3 x new_length (RGB, channels R,G,B per frame) or 2 x new_length (Flow,
channels x,y per frame).  All snippets of one sample share one crop and flip,
as in TSN's group transforms.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ops.errors import InputError

MULTI_SCALES = (1.0, 0.875, 0.75, 0.66)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=False)


def flip(x: torch.Tensor, modality: str) -> torch.Tensor:
    """Horizontal flip; for Flow the x components change sign (``255 - x`` in quantised units)."""
    x = x.flip(-1)
    if modality == "Flow":
        x = x.clone()
        x[:, 0::2] = 255 - x[:, 0::2]
    return x


def train_crop(x: torch.Tensor, input_size: int, modality: str, generator: torch.Generator | None = None,
               allow_flip: bool = True) -> torch.Tensor:
    """TSN multi-scale corner/centre crop + random flip, resized to ``input_size``; (N, C, s, s) float 0..255.

    ``allow_flip=False`` for classes that a mirror image changes (e.g. "move left" vs "move right"):
    the flip then never happens, though the random draw is still made so crops stay reproducible.
    """
    _, _, h, w = x.shape
    base = min(h, w)
    sizes = [int(base * s) for s in MULTI_SCALES]
    r = torch.randint(len(sizes), (2,), generator=generator).tolist()
    ch, cw = sizes[r[0]], sizes[r[1]]
    # TSN pairs scales that differ by at most one step
    if abs(r[0] - r[1]) > 1:
        cw = ch
    positions = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)]
    top, left = positions[int(torch.randint(len(positions), (1,), generator=generator))]
    out = _resize(x[:, :, top:top + ch, left:left + cw], (input_size, input_size))
    if bool(torch.randint(2, (1,), generator=generator)) and allow_flip:
        out = flip(out, modality)
    return out


def scale_short_side(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the short side is ``size`` (float output)."""
    _, _, h, w = x.shape
    if min(h, w) == size:
        return x.float()
    s = size / min(h, w)
    return _resize(x, (max(size, round(h * s)), max(size, round(w * s))))


NUM_CROPS = (1, 5, 10)   # test-time crops per frame: centre; 4 corners + centre; those 5 and their mirrors


def check_num_crops(num_crops: int, allow_flip: bool = True, model: str = "this model") -> None:
    """Raise InputError unless ``num_crops`` is one of NUM_CROPS that ``model`` can take: 10 crops include
    mirrored views, which a model trained without flips (``allow_flip`` False) never saw."""
    if num_crops not in NUM_CROPS:
        raise InputError(f"num_crops must be 1, 5 or 10, got {num_crops}")
    if num_crops == 10 and not allow_flip:
        raise InputError(f"{model} was trained without flips (its classes change under a mirror), but "
                         "--num_crops 10 includes mirrored views: use --num_crops 1 or 5")


def eval_crops(x: torch.Tensor, input_size: int, scale_size: int, num_crops: int, modality: str,
               allow_flip: bool = True) -> torch.Tensor:
    """Deterministic crops: 1 (centre), 5 (4 corners + centre) or 10 (those 5 and their flips).

    Returns (N, num_crops, C, input_size, input_size) float 0..255.  10 crops
    need ``allow_flip`` (a model trained without flips never saw mirrored input).
    """
    check_num_crops(num_crops, allow_flip)
    x = scale_short_side(x, scale_size)
    _, _, h, w = x.shape
    s = input_size
    if num_crops == 1:
        t, l = (h - s) // 2, (w - s) // 2
        return x[:, None, :, t:t + s, l:l + s]
    corners = [(0, 0), (0, w - s), (h - s, 0), (h - s, w - s), ((h - s) // 2, (w - s) // 2)]
    crops = [x[:, :, t:t + s, l:l + s] for t, l in corners]
    if num_crops == 10:
        crops += [flip(c, modality) for c in crops]
    return torch.stack(crops, dim=1)


def normalize(x: torch.Tensor, mean, std, pixel_range: float = 255.0) -> torch.Tensor:
    """``(x / 255 * pixel_range - mean) / std`` per channel; x float (..., C, H, W) in 0..255."""
    c = x.shape[-3]
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(c, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(c, 1, 1)
    # one new tensor, then in place on it (no temporaries of the whole batch)
    return (x * (pixel_range / 255.0 / std)).sub_(mean / std)


def to_channel_order(x: torch.Tensor, order: str) -> torch.Tensor:
    """Reorder RGB frames to BGR (Caffe models) when ``order == 'BGR'``; x (..., 3k, H, W)."""
    if order != "BGR":
        return x
    shape = x.shape
    return x.reshape(*shape[:-3], shape[-3] // 3, 3, *shape[-2:]).flip(-3).reshape(shape)
