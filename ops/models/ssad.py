"""Main-stream SSAD and Decouple-SSAD in PyTorch (``../shared/specs/decouple_ssad.md``).

Input ``[B, D, 128]`` snippet features of a window.  Base: two ``k9`` convolutions (512, ``base_width``) each
followed by a max-pool 4 / 2 (128 -> 32); main anchor layers MAL1..3: ``k3`` stride-2 convolutions (1024,
``mal_width``; both widths are the release's by default) to 16, 8, 4
positions; main heads per layer.  Decouple-SSAD adds a localization and a classification branch, each with its own
``in`` / ``out`` convolutions per layer and two transposed convolutions, combining
``BAL3 = out(in(MAL3))``, ``BAL2 = out((2 in(MAL2) + up(BAL3)) / 3)``, ``BAL1 = out((2 in(MAL1) + up(BAL2)) / 3)``.

TensorFlow's "same" padding is reproduced: a stride-2 ``k3`` convolution on an even length pads 0 left and 1
right (``F.pad`` then no padding), the max-pool pads 1 and 1, the ``k9``/``k3`` stride-1 convolutions pad
symmetrically, the transposed convolution is PyTorch's padding 1.  Glorot-uniform kernels, zero biases.

``forward`` returns per anchor (B, 140, ...) tensors: ``logits`` (K + 1), ``confidence``, ``dx``, ``dw`` of the
main stream (``main``), and for Decouple-SSAD also the class anchors (``cls``) and localization anchors (``loc``)
combined as the spec says.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ops.proposals.ssad import LAYER_POSITIONS, RATIOS

NUM_RATIOS = len(RATIOS)


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
        nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)


class StrideTwo(nn.Module):
    """``k3`` stride-2 convolution with TensorFlow's "same" padding (0 left, 1 right on an even length)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, 3, stride=2)

    def forward(self, x):
        return F.relu(self.conv(F.pad(x, (0, 1))))


class Branch(nn.Module):
    """One decoupled branch: per layer ``in`` (conv + ReLU, conv), ``out`` (ReLU, conv + ReLU), and the two
    transposed convolutions; heads of ``v`` channels per anchor."""

    def __init__(self, width: int, v: int):
        super().__init__()
        self.ins = nn.ModuleList(nn.Sequential(nn.Conv1d(width, width, 3, padding=1), nn.ReLU(),
                                               nn.Conv1d(width, width, 3, padding=1)) for _ in LAYER_POSITIONS)
        self.outs = nn.ModuleList(nn.Sequential(nn.ReLU(), nn.Conv1d(width, width, 3, padding=1), nn.ReLU())
                                  for _ in LAYER_POSITIONS)
        self.ups = nn.ModuleList(nn.ConvTranspose1d(width, width, 4, stride=2, padding=1) for _ in range(2))
        self.heads = nn.ModuleList(nn.Conv1d(width, NUM_RATIOS * v, 3, padding=1) for _ in LAYER_POSITIONS)

    def forward(self, mals: list) -> list:
        bal3 = self.outs[2](self.ins[2](mals[2]))
        bal2 = self.outs[1]((2 * self.ins[1](mals[1]) + self.ups[1](bal3)) / 3)
        bal1 = self.outs[0]((2 * self.ins[0](mals[0]) + self.ups[0](bal2)) / 3)
        return [head(b) for head, b in zip(self.heads, (bal1, bal2, bal3))]


def _anchors_of(outputs: list, v: int) -> torch.Tensor:
    """Per-layer head outputs (B, 5 v, T_l) -> (B, 140, v): anchor ``t x 5 + r`` takes channels ``r v .. r v + v - 1``
    at position t; layers in order."""
    return torch.cat([o.permute(0, 2, 1).reshape(o.shape[0], -1, v) for o in outputs], 1)


class SSAD(nn.Module):
    def __init__(self, kind: str = "decouple", feature_dim: int = 1024, num_classes: int = 20,
                 base_width: int = 512, mal_width: int = 1024):
        super().__init__()
        if kind not in ("main", "decouple"):
            raise ValueError(f"SSAD kind {kind!r}: choose main or decouple")
        if min(base_width, mal_width) < 1:
            raise ValueError(f"SSAD widths must be positive, got base {base_width}, anchor layers {mal_width}")
        self.cfg = {"kind": kind, "feature_dim": feature_dim, "num_classes": num_classes,
                    "base_width": base_width, "mal_width": mal_width}
        self.v = num_classes + 1 + 3                       # logits, confidence, dx, dw
        b, m = base_width, mal_width
        self.base = nn.Sequential(nn.Conv1d(feature_dim, b, 9, padding=4), nn.ReLU(), nn.MaxPool1d(4, 2, padding=1),
                                  nn.Conv1d(b, b, 9, padding=4), nn.ReLU(), nn.MaxPool1d(4, 2, padding=1))
        self.mals = nn.ModuleList([StrideTwo(b, m), StrideTwo(m, m), StrideTwo(m, m)])
        self.main_heads = nn.ModuleList(nn.Conv1d(m, NUM_RATIOS * self.v, 3, padding=1) for _ in LAYER_POSITIONS)
        if kind == "decouple":
            self.cls_branch = Branch(m, self.v)
            self.loc_branch = Branch(m, 4)                # unused actionness, confidence, dx, dw
        self.apply(_init)

    def config(self) -> dict:
        return {"type": "ssad", **self.cfg}

    def _split(self, a: torch.Tensor) -> dict:
        k = self.cfg["num_classes"] + 1
        return {"logits": a[..., :k], "confidence": a[..., k], "dx": a[..., k + 1], "dw": a[..., k + 2]}

    def forward(self, x: torch.Tensor) -> dict:
        y, mals = self.base(x), []
        for mal in self.mals:
            y = mal(y)
            mals.append(y)
        main = self._split(_anchors_of([h(m) for h, m in zip(self.main_heads, mals)], self.v))
        out = {"main": main}
        if self.cfg["kind"] == "decouple":
            cls = self._split(_anchors_of(self.cls_branch(mals), self.v))
            loc = _anchors_of(self.loc_branch(mals), 4)
            out["cls"] = {k: (main[k] + cls[k]) / 2 for k in ("logits", "confidence", "dx", "dw")}
            out["loc"] = {"confidence": loc[..., 1], "dx": (loc[..., 2] + main["dx"]) / 2,
                          "dw": (loc[..., 3] + main["dw"]) / 2}
        return out

    def detection_outputs(self, out: dict) -> dict:
        """What scoring reads: class logits, raw confidence, dx, dw (main stream: its own; Decouple-SSAD: the
        class anchors' logits, the localization anchors' confidence and offsets)."""
        if self.cfg["kind"] == "main":
            return out["main"]
        return {"logits": out["cls"]["logits"], **out["loc"]}


def ssad_model(kind: str, feature_dim: int, num_classes: int = 20, base_width: int = 512,
               mal_width: int = 1024) -> SSAD:
    """The network of ``kind`` ``"main"`` or ``"decouple"`` for ``feature_dim``-d snippet features.  The widths
    default to the release's (base convolutions 512, anchor layers and branches 1024: the spec's parameter
    counts); a preset may narrow them (``ssad.model``), as the synthetic demo does to train on 2 CPU cores."""
    return SSAD(kind, feature_dim, num_classes, base_width, mal_width)


def build_ssad(config: dict) -> SSAD:
    cfg = dict(config)
    if cfg.pop("type", "ssad") != "ssad":
        raise ValueError(f"not an SSAD config: {config}")
    return SSAD(**cfg)
