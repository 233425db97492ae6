"""BMN, the Boundary-Matching Network (MMAction2 0.x variant), and its losses.

The network (input ``[B, C, T]`` snippet features, ``../shared/specs/bmn_bsn.md``):

- base: two grouped 1-D convolutions; start and end heads -> ``[B, T]`` probabilities;
- proposal branch: a 1-D convolution, the boundary-matching (BM) layer ``[B, 256, T] -> [B, 256, N, D, S]``,
  a ``(N, 1, 1)`` 3-D convolution to ``[B, 512, D, S]``, 2-D convolutions -> ``[B, 2, D, S]`` probabilities
  (channel 0 regression = IoU, channel 1 classification).

**The BM layer without its dense mask.**  MMAction2 multiplies by a frozen ``[T, N x T x T]`` mask (128 MB at
T = 100, stored in every checkpoint) and then applies the 3-D convolution to a ``[B, 256, 32, T, T]`` tensor.
Both are linear, so the order can change: ``G[b, o, n, t] = sum_c W[o, c, n] x[b, c, t]`` (a 1-D
convolution, small), then ``out[b, o, d, s] = sum_{n, t} mask[t, n, d, s] G[b, o, n, t]``, a sparse product
(each ``(n, d, s)`` reads at most 6 rows: :func:`ops.proposals.bmn.bm_sample_taps`).  The sparse matrix is
rebuilt from the config (a non-persistent buffer: nothing of it in the checkpoint).  ``bm_layer="dense"``
keeps MMAction2's order, for the equality test and the benchmark.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ops.proposals.bmn import bm_sample_mask, bm_sample_taps, valid_map
from ops.train.losses import binary_logistic_loss

DEFAULTS = {"temporal_dim": 100, "feat_dim": 400, "num_samples": 32, "num_samples_per_bin": 3,
            "boundary_ratio": 0.5, "hidden_1d": 256, "hidden_2d": 128, "hidden_3d": 512, "bm_layer": "sparse"}


def _conv1d(cin, cout, k=3, groups=1):
    return nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2, groups=groups), nn.ReLU(inplace=True))


def sparse_sampling_matrix(cfg: dict) -> torch.Tensor:
    """The BM sampling as a sparse COO matrix ``[D x S, N x T]``: row ``d S + s``, column ``n T + t``."""
    t, n = cfg["temporal_dim"], cfg["num_samples"]
    rows, weights = bm_sample_taps(t, n, cfg["num_samples_per_bin"], cfg["boundary_ratio"])   # (N, D, S, 2k)
    nn_, dd, ss, _ = np.indices(rows.shape)
    keep = weights != 0
    r = (dd * t + ss)[keep]
    c = (nn_ * t + rows)[keep]
    index = torch.from_numpy(np.stack([r, c]).astype(np.int64))
    return torch.sparse_coo_tensor(index, torch.from_numpy(weights[keep]), (t * t, n * t), check_invariants=True).coalesce()


class BMN(nn.Module):
    """The network; ``forward(x [B, C, T]) -> (maps [B, 2, D, S], start [B, T], end [B, T])``."""

    def __init__(self, **config):
        super().__init__()
        unknown = set(config) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown BMN settings {sorted(unknown)}")
        cfg = {**DEFAULTS, **config}
        if cfg["bm_layer"] not in ("sparse", "dense"):
            raise ValueError(f"bm_layer {cfg['bm_layer']!r}: choose sparse or dense")
        self.cfg = cfg
        h1, h2, h3 = cfg["hidden_1d"], cfg["hidden_2d"], cfg["hidden_3d"]
        self.base = nn.Sequential(_conv1d(cfg["feat_dim"], h1, groups=4), _conv1d(h1, h1, groups=4))
        self.start_head = nn.Sequential(_conv1d(h1, h1, groups=4), nn.Conv1d(h1, 1, 1), nn.Sigmoid())
        self.end_head = nn.Sequential(_conv1d(h1, h1, groups=4), nn.Conv1d(h1, 1, 1), nn.Sigmoid())
        self.proposal_1d = _conv1d(h1, h1)
        self.conv3d = nn.Conv3d(h1, h3, kernel_size=(cfg["num_samples"], 1, 1))
        self.head_2d = nn.Sequential(
            nn.Conv2d(h3, h2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(h2, h2, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(h2, h2, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(h2, 2, 1), nn.Sigmoid())
        self.register_buffer("valid", torch.from_numpy(valid_map(cfg["temporal_dim"])), persistent=False)
        if cfg["bm_layer"] == "sparse":
            self.register_buffer("sampling", sparse_sampling_matrix(cfg), persistent=False)
        else:
            mask = bm_sample_mask(cfg["temporal_dim"], cfg["num_samples"], cfg["num_samples_per_bin"],
                                  cfg["boundary_ratio"])
            self.register_buffer("sampling", torch.from_numpy(mask.reshape(cfg["temporal_dim"], -1)),
                                 persistent=False)

    def config(self) -> dict:
        """What rebuilds this network (the BM layer's path is a runtime choice, left out)."""
        return {"type": "bmn", **{k: v for k, v in self.cfg.items() if k != "bm_layer"}}

    def bm_conv3d(self, x: torch.Tensor) -> torch.Tensor:
        """BM layer + 3-D convolution + ReLU: ``[B, 256, T] -> [B, 512, D, S]``."""
        b, _, t = x.shape
        n = self.cfg["num_samples"]
        w, bias = self.conv3d.weight, self.conv3d.bias            # (O, C, N, 1, 1), (O,)
        if self.cfg["bm_layer"] == "dense":
            sampled = torch.matmul(x, self.sampling).reshape(b, x.shape[1], n, t, t)
            return F.relu(self.conv3d(sampled).squeeze(2))
        o = w.shape[0]
        g = F.conv1d(x, w.squeeze(-1).squeeze(-1).permute(0, 2, 1).reshape(o * n, -1, 1))   # (B, O N, T)
        g = g.reshape(b, o, n * t).permute(2, 0, 1).reshape(n * t, b * o)
        sampling = self.sampling
        if g.dtype != sampling.dtype:                    # autocast: the sparse product runs in float32
            g = g.float()
        out = torch.sparse.mm(sampling, g)                # (D S, B O)
        out = out.reshape(t, t, b, o).permute(2, 3, 0, 1) + bias.view(1, o, 1, 1)
        return F.relu(out)

    def forward(self, x: torch.Tensor):
        base = self.base(x)
        start = self.start_head(base).squeeze(1)
        end = self.end_head(base).squeeze(1)
        maps = self.head_2d(self.bm_conv3d(self.proposal_1d(base)))
        return maps, start, end


def build_bmn(config: dict, bm_layer: str = "sparse") -> BMN:
    """The network a checkpoint's ``model_config`` describes."""
    cfg = {k: v for k, v in config.items() if k != "type"}
    if config.get("type", "bmn") != "bmn":
        raise ValueError(f"not a BMN config: type {config.get('type')!r}")
    return BMN(**cfg, bm_layer=bm_layer)


# --------------------------------------------------------------------------- losses


def pem_reg_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, high: float = 0.7, low: float = 0.3,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Regression loss of the map: bands of ``gt`` (already masked): high ``> 0.7``, medium ``(0.3, 0.7]``, low
    ``(0, 0.3]`` (valid entries); every high entry, each medium with probability ``#high / #medium`` and each
    low with ``#high / #low``; ``0.5 sum((w (p - g))^2) / sum(w)``.  No entry chosen (no high entry in the
    batch): 0, not NaN.  Only entries of a band are drawn from it: MMAction2 compares ``band x u`` with
    ``1 - ratio``, which for a ratio above 1 (more high entries than medium ones) also keeps every entry
    outside the band, the invalid ones included (docs/bmn.md).

    ``generator``: the random draws (default: torch's global generator, which the engine seeds)."""
    high_m = (gt > high).to(pred.dtype)
    mid_m = ((gt <= high) & (gt > low)).to(pred.dtype)
    low_m = ((gt <= low) & (gt > 0)).to(pred.dtype) * valid
    num_h = high_m.sum()
    r_mid = num_h / mid_m.sum().clamp(min=1)
    r_low = num_h / low_m.sum().clamp(min=1)
    u = torch.rand(gt.shape, generator=generator, device=gt.device, dtype=pred.dtype)
    keep_mid = mid_m * (u > 1.0 - r_mid).to(pred.dtype)
    u = torch.rand(gt.shape, generator=generator, device=gt.device, dtype=pred.dtype)
    keep_low = low_m * (u > 1.0 - r_low).to(pred.dtype)
    w = high_m + keep_mid + keep_low
    return 0.5 * ((w * (pred - gt)) ** 2).sum() / w.sum().clamp(min=1)


def pem_cls_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, threshold: float = 0.9,
                 ratio_range: tuple[float, float] = (1.05, 21.0), eps: float = 1e-5) -> torch.Tensor:
    """Classification loss of the map: positives ``gt > 0.9``, negatives the other valid entries;
    ``num_pos = max(#pos, 1)``, ``ratio = clamp(num_entries / num_pos)``, ``c0 = 0.5 ratio / (ratio - 1)``,
    ``c1 = 0.5 ratio``; ``-sum(c1 pos log(p + eps) + c0 neg log(1 - p + eps)) / num_entries``."""
    pos = (gt > threshold).to(pred.dtype)
    neg = (gt <= threshold).to(pred.dtype) * valid
    num_pos = pos.sum().clamp(min=1)
    num_entries = num_pos + neg.sum()
    ratio = (num_entries / num_pos).clamp(*ratio_range)
    c0, c1 = 0.5 * ratio / (ratio - 1), 0.5 * ratio
    loss = c1 * torch.log(pred + eps) * pos + c0 * torch.log(1.0 - pred + eps) * neg
    return -loss.sum() / num_entries


def bmn_loss(maps: torch.Tensor, start: torch.Tensor, end: torch.Tensor, gt_iou: torch.Tensor,
             gt_start: torch.Tensor, gt_end: torch.Tensor, valid: torch.Tensor,
             weights: tuple[float, float, float] = (1.0, 10.0, 1.0)) -> tuple[torch.Tensor, dict]:
    """``boundary + 10 x regression + classification`` (the IoU map multiplied by the valid mask first).

    Args:
        maps (B, 2, D, S) [regression, classification]; start, end (B, T); gt_iou (B, D, S); gt_start, gt_end
        (B, T); valid (D, S).
    Returns:
        the loss and its parts (floats) for the log.
    """
    valid = valid.to(maps.dtype)
    gt_iou = gt_iou * valid
    tem = binary_logistic_loss(start, gt_start) + binary_logistic_loss(end, gt_end)
    reg = pem_reg_loss(maps[:, 0], gt_iou, valid)
    cls = pem_cls_loss(maps[:, 1], gt_iou, valid)
    total = weights[0] * tem + weights[1] * reg + weights[2] * cls
    return total, {"tem_loss": float(tem.detach()), "reg_loss": float(reg.detach()), "cls_loss": float(cls.detach())}


@torch.no_grad()
def bmn_infer(model: BMN, loader, device) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Run ``model`` over a loader of ``(x [B, C, T], index [B])`` batches (scoring items of a feature dataset).

    Returns ``(index, start (T,), end (T,), cls (D, S), reg (D, S))`` per item, float64 numpy, in loader order.
    """
    was_training = model.training
    model.eval()
    out = []
    for x, index in loader:
        maps, start, end = model(x.to(device, non_blocking=True))
        maps, start, end = (t.double().cpu().numpy() for t in (maps, start, end))
        out += [(int(i), start[j], end[j], maps[j, 1], maps[j, 0]) for j, i in enumerate(index.tolist())]
    model.train(was_training)
    return out


def bmn_proposals(model: BMN, dataset, post: dict, batch_size: int, device):
    """Every item of a scoring :class:`~ops.train.feature_dataset.FeatureDataset` through ``model``, then each
    video's proposals in seconds (Detections): candidates per window, soft-NMS per video, ``post["top_k"]``
    kept (``post``: the preset's ``soft_nms_alpha``, ``soft_nms_low``, ``soft_nms_high``, ``top_k``)."""
    from ops.proposals.bmn import bmn_candidates
    from ops.proposals.windows import proposals_in_seconds
    from ops.train.feature_dataset import window_seconds

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    windows = []
    for index, start, end, cls, reg in bmn_infer(model, loader, device):
        video, first, n = dataset.window(index)
        t0, t1 = window_seconds(dataset.records[video], first, n)
        windows.append((video, bmn_candidates(start, end, cls, reg)[:, [0, 1, 6]], t0, t1))
    durations = {v: r.num_frames / r.fps for v, r in dataset.records.items()}
    return proposals_in_seconds(windows, post["soft_nms_alpha"], post["soft_nms_low"], post["soft_nms_high"],
                                post["top_k"], durations)
