"""Models built from plain config dicts, so checkpoints can rebuild them.

``build_model(config)`` is the only way test scripts create a model: the
config stored in a checkpoint names the model ``type`` and everything
architectural (backbone, heads, segments).  SSN registers itself here too.
"""
from __future__ import annotations

from dataclasses import asdict

import torch
from torch import nn

from ops.errors import InputError
from ops.formats.frames import median_fps
from ops.models.backbones import BackboneConfig, apply_bn_mode, build_backbone
from ops.models.ssn import SSN


class BinaryClassifier(nn.Module):
    """Actionness classifier: backbone -> dropout -> linear (background, action).

    ``forward(x)`` with x (B, S, C, H, W) (S snippets of one window, TSN) returns
    consensus logits (B, 2) averaged over the snippets; ``frame_logits(x)`` with
    x (N, C, H, W) returns per-snippet logits (N, 2).
    """

    def __init__(self, backbone: dict, dropout: float = 0.5):
        super().__init__()
        self.backbone_cfg = BackboneConfig.from_dict(backbone)
        self.base, dim = build_backbone(self.backbone_cfg)
        self.dropout_p = dropout
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, 2)
        nn.init.normal_(self.fc.weight, std=0.001)
        nn.init.zeros_(self.fc.bias)

    def config(self) -> dict:
        return {"type": "binary", "backbone": asdict(self.backbone_cfg), "dropout": self.dropout_p}

    def train_mode_hook(self) -> None:
        apply_bn_mode(self.base, self.backbone_cfg.bn_mode)

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.base(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s = x.shape[:2]
        return self.frame_logits(x.flatten(0, 1)).view(b, s, -1).mean(dim=1)


MODEL_TYPES = {"binary": BinaryClassifier, "ssn": SSN}


def build_model(config: dict, pretrained: bool = False) -> nn.Module:
    """Rebuild a model from its stored config (``config['type']`` picks the class).

    With ``pretrained=False`` (loading a checkpoint) the backbone's initial
    weights are not fetched again: the checkpoint's state dict replaces them.
    """
    config = dict(config)
    if not pretrained and "backbone" in config:
        config["backbone"] = {**config["backbone"], "pretrained": None}
    kind = config.pop("type", None)
    if kind not in MODEL_TYPES:
        raise InputError(f"unknown model type {kind!r} in the checkpoint config; known: {sorted(MODEL_TYPES)}")
    return MODEL_TYPES[kind](**config)


# how a checkpoint of each model type is named in errors, and the script that trains it
MODEL_NAMES = {"binary": ("an actionness (binary) one", "binary_train.py"), "ssn": ("an SSN one", "ssn_train.py")}


def checkpoint_backbone(ckpt: dict, path, kind: str, modality: str, flag: str = "--modality") -> BackboneConfig:
    """The backbone config of checkpoint ``ckpt`` (read from ``path``), which a scoring stage for models of
    type ``kind`` and ``modality`` (set by the stage's ``flag``) can use; InputError naming ``path`` otherwise."""
    stored = ckpt["model_config"].get("type")
    if stored != kind:
        name, script = MODEL_NAMES[kind]
        raise InputError(f"{path} is a {stored!r} checkpoint, not {name}: give a checkpoint of {script}")
    backbone = BackboneConfig.from_dict(ckpt["model_config"]["backbone"])
    if backbone.modality != modality:
        raise InputError(f"{path} is a {backbone.modality} model, given as {modality} ({flag})")
    return backbone


def model_from_checkpoint(ckpt: dict, device: torch.device | str = "cpu", path: str = "the checkpoint") -> nn.Module:
    """The model a checkpoint stores (rebuilt from its config, weights loaded) on ``device``, in eval mode."""
    from ops.train.engine import load_weights
    model = load_weights(build_model(ckpt["model_config"]), ckpt, path)
    return model.to(device).eval()


def add_backbone_args(parser, arch: str = "bninception", dropout: float = 0.8) -> None:
    """Backbone flags shared by the training stages."""
    from ops.models.backbones import ARCHS, BN_MODES, GLOBAL_POOLS

    g = parser.add_argument_group("backbone")
    g.add_argument("--arch", default=arch, choices=ARCHS)
    g.add_argument("--pretrained", default=None,
                   help="'imagenet' (torchvision weights, needs network or cache) or a local weights file")
    length = g.add_mutually_exclusive_group()
    length.add_argument("--new_length", type=int, default=None,
                        help="frames per snippet (default: RGB 1, Flow and RGBDiff 5)")
    length.add_argument("--snippet_seconds", type=float, default=None,
                        help="frames per snippet as a duration: new_length = floor(seconds x fps + 0.5), fps the median of "
                             "the videos' frame folders (meta.json); the checkpoint stores the frames")
    g.add_argument("--bn_mode", default=None, choices=BN_MODES,
                   help="default: 'partial' with pretrained weights (TSN), 'full' from scratch "
                        "(frozen statistics of a random network would never adapt)")
    g.add_argument("--dropout", type=float, default=dropout)
    g.add_argument("--global_pool", default="avg", choices=GLOBAL_POOLS,
                   help="pooling of the last feature map: avg (published models) or max (small actors)")


def snippet_length(seconds: float, fps: float) -> int:
    """Frames per snippet spanning ``seconds`` at ``fps`` (Hz): ``floor(seconds * fps + 0.5)``, at least 1.

    Half-way values round up (0.5 s at 15 fps: 8 frames), unlike Python's round (to even)."""
    if not (seconds > 0 and fps > 0):
        raise InputError(f"--snippet_seconds needs seconds > 0 and a frame rate > 0, got {seconds!r} s at {fps!r} fps")
    return max(1, int(seconds * fps + 0.5))


def backbone_from_args(args, modality: str, video_dirs=()) -> dict:
    """The backbone config of the flags; ``--snippet_seconds`` becomes ``new_length`` at the median frame rate of
    the frame folders ``video_dirs`` (the training videos)."""
    bn_mode = args.bn_mode or ("partial" if args.pretrained else "full")
    new_length = args.new_length
    if args.snippet_seconds is not None:
        fps = median_fps(video_dirs)
        if fps is None:
            raise InputError("--snippet_seconds needs the frames' rate: a frame folder has no meta.json with 'fps' "
                             "(or there is none); give --new_length or re-extract the frames (extract_frames.py)")
        new_length = snippet_length(args.snippet_seconds, fps)
    cfg = BackboneConfig(arch=args.arch, modality=modality, new_length=new_length,
                         pretrained=args.pretrained, bn_mode=bn_mode, global_pool=args.global_pool)
    return asdict(cfg)
