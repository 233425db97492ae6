"""BSN's networks and losses (MMAction2 0.x variant, ``../shared/specs/bmn_bsn.md``).

- :class:`TEM`, the temporal evaluation module: ``[B, C, T]`` features -> ``[B, 3, T]`` action, start and end
  probabilities, ``sigmoid(0.01 x conv)``;
- :class:`PEM`, the proposal evaluation module: ``[K, 32]`` boundary-sensitive features -> ``[K]`` confidence,
  ``sigmoid(0.1 fc2(relu(0.1 fc1(x))))``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ops.train.losses import binary_logistic_loss


class TEM(nn.Module):
    def __init__(self, feat_dim: int = 400, hidden: int = 512):
        super().__init__()
        self.cfg = {"feat_dim": feat_dim, "hidden": hidden}
        self.conv1 = nn.Conv1d(feat_dim, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.conv3 = nn.Conv1d(hidden, 3, 1)

    def config(self) -> dict:
        return {"type": "bsn_tem", **self.cfg}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return torch.sigmoid(0.01 * self.conv3(x))


class PEM(nn.Module):
    def __init__(self, feat_dim: int = 32, hidden: int = 256):
        super().__init__()
        self.cfg = {"feat_dim": feat_dim, "hidden": hidden}
        self.fc1 = nn.Linear(feat_dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def config(self) -> dict:
        return {"type": "bsn_pem", **self.cfg}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(0.1 * self.fc2(F.relu(0.1 * self.fc1(x)))).squeeze(-1)


def build_bsn(config: dict) -> nn.Module:
    """TEM or PEM from a checkpoint's ``model_config``."""
    kinds = {"bsn_tem": TEM, "bsn_pem": PEM}
    cfg = dict(config)
    kind = cfg.pop("type", None)
    if kind not in kinds:
        raise ValueError(f"not a BSN config: type {kind!r}")
    return kinds[kind](**cfg)


def tem_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """``2 x action + start + end``, each the binary logistic loss; pred and target (B, 3, T)."""
    parts = [binary_logistic_loss(pred[:, k], target[:, k]) for k in range(3)]
    total = 2 * parts[0] + parts[1] + parts[2]
    return total, {f"{name}_loss": float(p.detach()) for name, p in zip(("action", "start", "end"), parts)}


def pem_loss(pred: torch.Tensor, iou: torch.Tensor) -> torch.Tensor:
    """Smooth L1 of PEM's confidence to the proposals' IoU, the plain mean over every proposal.

    MMAction2 draws high / medium / low IoU bands (``> 0.6``, ``(0.2, 0.6]``, ``<= 0.2``) and weights the loss
    by the draw, but applies the weights to an already averaged loss, so they cancel: the plain mean, which we
    follow (the TensorFlow original weights each proposal; docs/bsn.md)."""
    return F.smooth_l1_loss(pred, iou)


def checkpoint_bsn(path, kind: str, device) -> tuple[nn.Module, dict]:
    """The TEM (``kind="bsn_tem"``) or PEM (``"bsn_pem"``) a checkpoint stores, in eval mode, and its ``extra``;
    InputError naming the file for another kind of checkpoint."""
    from ops.errors import InputError
    from ops.train.engine import load_checkpoint, load_weights

    ckpt = load_checkpoint(path, map_location="cpu")
    stored = ckpt.get("model_config", {}).get("type")
    if stored != kind:
        script = {"bsn_tem": "bsn_tem_train.py", "bsn_pem": "bsn_pem_train.py"}[kind]
        raise InputError(f"{path}: a {stored!r} checkpoint, not a {kind} one; give a checkpoint of {script}")
    model = build_bsn(ckpt["model_config"])
    load_weights(model, ckpt, path)
    return model.to(device).eval(), ckpt.get("extra", {})
