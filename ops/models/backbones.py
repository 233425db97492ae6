"""Image backbones shared by the actionness classifier and SSN.

One builder for every architecture: :func:`build_backbone` returns a module
mapping a batch of snippets ``(N, C, H, W)`` to pooled features
``(N, feature_dim)``, where ``C = 3 * new_length`` (RGB) or ``2 * new_length``
(Flow: x and y planes of each frame, frames in time order).  No classifier and
no dropout are applied: heads own those.

Architectures (:data:`ARCHS`):

- ``resnet18/34/50/101/152`` and ``inception_v3`` from torchvision (``fc``
  replaced by an identity; InceptionV3 without auxiliary logits and without its
  internal dropout);
- ``bninception``: BN-Inception (Ioffe & Szegedy 2015), the TSN/SSN backbone,
  with the parameter names of the Caffe-converted model used by TSN-PyTorch and
  SSN (``conv1_7x7_s2``, ``conv1_7x7_s2_bn``, ..., ``inception_5b_pool_proj_bn``;
  convolutions have biases) so published state dicts load as they are;
- ``tiny``: four conv-BN-ReLU blocks for tests and the CPU demo.

Input conventions come from :func:`input_spec`; BatchNorm training regimes
(TSN's partial BN, SSN's frozen BN) from :func:`apply_bn_mode`; weight files
from :func:`load_pretrained`, which also performs TSN's cross-modality
initialisation of the first convolution.  See ``docs/backbones.md``.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, fields
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ops.errors import InputError, SetupError

log = logging.getLogger(__name__)

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
ARCHS = RESNETS + ("bninception", "inception_v3", "tiny")
# RGBDiff: TSN's RGB difference, the change between consecutive RGB frames (what moves, grows or shrinks), from
# the RGB frame folders; stored per frame as (next - previous) // 2 + 128, so it is uint8 like flow
MODALITIES = ("RGB", "Flow", "RGBDiff")
BN_MODES = ("frozen", "partial", "full")
GLOBAL_POOLS = ("avg", "max")

# Output feature size of each architecture.
FEATURE_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048,
                "resnet152": 2048, "bninception": 1024, "inception_v3": 2048, "tiny": 128}

# Channel widths of the 'tiny' network (each block: 3x3 conv stride 2, BN, ReLU).
TINY_WIDTHS = (16, 32, 64, 128)

# BN-Inception stem: (conv name, in channels, out channels, kernel, stride, padding).
# A 3x3/2 max pool follows conv1_7x7_s2 and conv2_3x3.
BNI_STEM = (("conv1_7x7_s2", 3, 64, 7, 2, 3),
            ("conv2_3x3_reduce", 64, 64, 1, 1, 0),
            ("conv2_3x3", 64, 192, 3, 1, 1))

# BN-Inception blocks, in order:
# name: (in, 1x1, 3x3_reduce, 3x3, double_3x3_reduce, double_3x3, pool, pool_proj)
# pool 'avg' / 'max': 3x3 stride 1 pad 1, then a 1x1 'pool_proj' conv;
# pool 'max_s2': reduction block: no 1x1 and no projection, the 3x3 convs
# ('3x3' and 'double_3x3_2') and the 3x3 max pool have stride 2.
BNI_BLOCKS = (
    ("inception_3a", (192, 64, 64, 64, 64, 96, "avg", 32)),
    ("inception_3b", (256, 64, 64, 96, 64, 96, "avg", 64)),
    ("inception_3c", (320, 0, 128, 160, 64, 96, "max_s2", 0)),
    ("inception_4a", (576, 224, 64, 96, 96, 128, "avg", 128)),
    ("inception_4b", (576, 192, 96, 128, 96, 128, "avg", 128)),
    ("inception_4c", (576, 160, 128, 160, 128, 160, "avg", 128)),
    ("inception_4d", (608, 96, 128, 192, 160, 192, "avg", 128)),
    ("inception_4e", (608, 0, 128, 192, 192, 256, "max_s2", 0)),
    ("inception_5a", (1056, 352, 192, 320, 160, 224, "avg", 128)),
    ("inception_5b", (1024, 352, 192, 320, 192, 224, "max", 128)),
)

# Per-channel input normalisation (before tiling over frames).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (104.0, 117.0, 128.0)

# Wrappers around the state dict in training checkpoints.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net")


@dataclass
class BackboneConfig:
    """Backbone choice, stored in checkpoints as ``dataclasses.asdict(cfg)`` (JSON-able).

    ``arch``: one of :data:`ARCHS`.  ``modality``: one of :data:`MODALITIES`.
    ``new_length``: frames per snippet (differences for RGBDiff); None means 1 for RGB, 5 for Flow and RGBDiff.
    ``pretrained``: None (random init), 'imagenet' (torchvision weights; needs
    the network or the torch hub cache; not available for bninception/tiny) or
    a path to a local weights file.  ``bn_mode``: see :func:`apply_bn_mode`.
    ``dropout``: not applied by the backbone; kept for the heads.
    ``global_pool``: how the last feature map becomes one vector: 'avg' (every
    published model) or 'max', which keeps a small moving actor visible where an
    average over the whole frame dilutes it (the synthetic demo; see docs/backbones.md).
    """

    arch: str = "resnet18"
    modality: str = "RGB"
    new_length: int | None = None
    pretrained: str | None = None
    bn_mode: str = "partial"
    dropout: float = 0.0
    global_pool: str = "avg"

    def __post_init__(self) -> None:
        _check_choice("arch", self.arch, ARCHS)
        _check_choice("modality", self.modality, MODALITIES)
        _check_choice("bn_mode", self.bn_mode, BN_MODES)
        _check_choice("global_pool", self.global_pool, GLOBAL_POOLS)
        if self.new_length is not None and (isinstance(self.new_length, bool) or int(self.new_length) < 1):
            raise InputError(f"new_length must be a positive integer or None, got {self.new_length!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def length(self) -> int:
        """Frames per snippet: ``new_length`` or the modality default (RGB 1, Flow 5, RGBDiff 5)."""
        if self.new_length is not None:
            return int(self.new_length)
        return 1 if self.modality == "RGB" else 5

    @property
    def channels(self) -> int:
        """Input channels C: 3 per frame for RGB and RGBDiff, 2 per frame (x, y) for Flow."""
        return (2 if self.modality == "Flow" else 3) * self.length

    @classmethod
    def from_dict(cls, d: Mapping) -> "BackboneConfig":
        """Inverse of ``dataclasses.asdict``; unknown keys raise ValueError naming them."""
        known = {f.name for f in fields(cls)}
        extra = sorted(set(d) - known)
        if extra:
            raise InputError(f"unknown BackboneConfig keys {extra}; expected a subset of {sorted(known)}")
        return cls(**dict(d))


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {list(choices)}, got {value!r}")


# --------------------------------------------------------------------- input spec

def input_spec(cfg: BackboneConfig) -> dict:
    """How to prepare input for ``cfg``'s backbone.

    Returns a dict:
    ``input_size`` (int, crop side in pixels), ``scale_size`` (int, short side
    in pixels before cropping), ``channels`` (C), ``mean`` and ``std`` (lists of
    C floats, in pixel units of ``pixel_range``), ``pixel_range`` (255: raw
    0..255 values; 1: values divided by 255), ``channel_order`` ('RGB', 'BGR'
    for the Caffe BN-Inception, 'xy' for Flow: x then y per frame).
    Normalised input is ``(pixel - mean) / std`` per channel.
    """
    size = {"inception_v3": 299, "tiny": 96}.get(cfg.arch, 224)
    scale = {"inception_v3": 341, "tiny": 112}.get(cfg.arch, 256)
    mean, std, pixel_range, order = _normalisation(cfg.arch, cfg.modality)
    reps = cfg.channels // len(mean)
    return {"input_size": size, "scale_size": scale, "channels": cfg.channels,
            "mean": list(mean) * reps, "std": list(std) * reps,
            "pixel_range": pixel_range, "channel_order": order}


def _normalisation(arch: str, modality: str) -> tuple[tuple, tuple, int, str]:
    """(per-channel mean, std, pixel_range, channel_order) of one frame (3 or 2 channels).

    Flow and RGBDiff are centred at 128 (no change); RGBDiff keeps its frames' channel order.
    """
    flow, diff = modality == "Flow", modality == "RGBDiff"
    if arch == "bninception":  # Caffe model: raw 0..255 BGR pixels, std 1 (TSN/SSN)
        if flow:
            return (128.0, 128.0), (1.0, 1.0), 255, "xy"
        return ((128.0,) * 3 if diff else CAFFE_BGR_MEAN), (1.0, 1.0, 1.0), 255, "BGR"
    if arch in ("inception_v3", "tiny"):
        n = 2 if flow else 3
        return (0.5,) * n, (0.5,) * n, 1, "xy" if flow else "RGB"
    s = sum(IMAGENET_STD) / 3
    if flow:  # TSN: flow mean 0.5, std = mean of the ImageNet stds
        return (0.5, 0.5), (s, s), 1, "xy"
    if diff:  # TSN: mean 0, std twice the mean ImageNet std of a difference in [-1, 1]; ours is halved
        return (0.5,) * 3, (s,) * 3, 1, "RGB"
    return IMAGENET_MEAN, IMAGENET_STD, 1, "RGB"


# --------------------------------------------------------------------- builders

def build_backbone(cfg: BackboneConfig) -> tuple[nn.Module, int]:
    """Build ``cfg.arch`` for ``cfg.channels`` input channels and load ``cfg.pretrained``.

    Returns ``(module, feature_dim)``: ``module(x)`` maps x (N, C, H, W)
    float, normalised as :func:`input_spec` says, to (N, feature_dim) features
    pooled over the last feature map as ``cfg.global_pool`` says.  With RGB ImageNet weights and C != 3 the first
    convolution is adapted (see :func:`adapt_first_conv_weight`).  BN modes are
    not applied here: call :func:`apply_bn_mode` after every ``model.train()``.
    """
    pool = nn.AdaptiveMaxPool2d(1) if cfg.global_pool == "max" else nn.AdaptiveAvgPool2d(1)
    if cfg.arch == "bninception":
        model = BNInception(cfg.channels, pool)
    elif cfg.arch == "tiny":
        model = TinyNet(cfg.channels, pool)
    else:
        model = _torchvision_model(cfg.arch, cfg.channels)
        model.avgpool = pool    # torchvision's name; every arch we build has it
    if cfg.pretrained is not None:
        source = _imagenet_state_dict(cfg.arch) if cfg.pretrained == "imagenet" else cfg.pretrained
        load_pretrained(model, source, modality=cfg.modality)
    model.register_forward_pre_hook(_channels_last_input)
    return model, FEATURE_DIMS[cfg.arch]


def _channels_last_input(module: nn.Module, args: tuple) -> tuple:
    """Feed the backbone channels-last input (one copy when it is not).  Measured on the CPU, forward and
    backward: the tiny net on 10-channel flow stacks 2.1x faster, 3-channel RGB 1.17x, ResNet-18 1.07x,
    BN-Inception the same; the weights stay as they are (a channels-last model gains less)."""
    x = args[0]
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *args[1:])


def _torchvision_model(arch: str, in_channels: int) -> nn.Module:
    """A randomly initialised torchvision model with ``fc`` (and dropout) removed."""
    import torchvision

    if arch == "inception_v3":
        model = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True,
                                                transform_input=False)
        model.dropout = nn.Identity()
    else:
        model = getattr(torchvision.models, arch)(weights=None)
    model.fc = nn.Identity()
    if in_channels != 3:
        _replace_first_conv(model, in_channels)
    return model


def _replace_first_conv(model: nn.Module, in_channels: int) -> None:
    """Swap the first nn.Conv2d of ``model`` for one with ``in_channels`` inputs (same other settings)."""
    name, conv = first_conv(model)
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, bias=conv.bias is not None)
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """(qualified name, module) of the first nn.Conv2d in ``model.named_modules()`` order."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError(f"{type(model).__name__} has no Conv2d layer")


def _imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's IMAGENET1K_V1 weights for ``arch`` (download or torch hub cache)."""
    if arch not in RESNETS + ("inception_v3",):
        raise InputError(f"pretrained='imagenet' is only available for torchvision archs; for {arch} "
                         f"pass a local weights file path (for bninception e.g. the Caffe-converted "
                         f"bn_inception-*.pth used by TSN-PyTorch)")
    import torchvision

    weights = torchvision.models.get_model_weights(arch)["IMAGENET1K_V1"]
    try:
        return weights.get_state_dict(progress=False)
    except Exception as err:  # URLError, HTTP errors, DNS failures, truncated downloads
        cache = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
        raise SetupError(f"no network: pass --pretrained PATH to a local weights file "
                           f"(could not fetch {weights.url} and no cached copy at {cache}: {err})") from err


# --------------------------------------------------------------------- BN-Inception

class BNInception(nn.Module):
    """BN-Inception with the Caffe-converted parameter names of TSN-PyTorch / SSN.

    Every convolution (with bias) is followed by BatchNorm (name + ``_bn``) and
    ReLU.  Pooling uses Caffe's ceil mode.  Input (N, in_channels, H, W), with
    H, W >= 32 (224 for the published weights); output (N, 1024) features,
    averaged over the final feature map (7x7 at 224 input, like the original
    7x7 ``global_pool``).  The ImageNet classifier ``fc`` is not built.
    """

    def __init__(self, in_channels: int = 3, pool: nn.Module | None = None):
        super().__init__()
        self.global_pool = pool or nn.AdaptiveAvgPool2d(1)   # no parameters: state dicts are unchanged
        for name, cin, cout, k, s, p in BNI_STEM:
            self._add_unit(name, in_channels if name == "conv1_7x7_s2" else cin, cout, k, s, p)
        self._plan = []  # plain data (not modules): (block name, branches, pool kind, has projection)
        for name, spec in BNI_BLOCKS:
            branches = _bni_branches(name, spec)
            for unit in (u for branch in branches for u in branch):
                self._add_unit(*unit)
            cin, pool, proj = spec[0], spec[6], spec[7]
            if proj:
                self._add_unit(f"{name}_pool_proj", cin, proj, 1, 1, 0)
            self._plan.append((name, tuple(tuple(u[0] for u in b) for b in branches), pool, bool(proj)))

    def _add_unit(self, name: str, cin: int, cout: int, k: int, s: int, p: int) -> None:
        self.add_module(name, nn.Conv2d(cin, cout, k, s, p, bias=True))
        self.add_module(f"{name}_bn", nn.BatchNorm2d(cout))

    def _unit(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """conv -> BN -> ReLU of the unit ``name``."""
        return F.relu(self._modules[f"{name}_bn"](self._modules[name](x)), inplace=True)

    def _block(self, x: torch.Tensor, name: str, branches: tuple, pool: str, proj: bool) -> torch.Tensor:
        outs = []
        for branch in branches:
            y = x
            for unit in branch:
                y = self._unit(unit, y)
            outs.append(y)
        if pool == "avg":
            y = F.avg_pool2d(x, 3, 1, 1, ceil_mode=True, count_include_pad=True)
        else:
            y = F.max_pool2d(x, 3, 2 if pool == "max_s2" else 1, 0 if pool == "max_s2" else 1, ceil_mode=True)
        outs.append(self._unit(f"{name}_pool_proj", y) if proj else y)
        return torch.cat(outs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) -> (N, 1024)."""
        x = self._unit("conv1_7x7_s2", x)
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        x = self._unit("conv2_3x3", self._unit("conv2_3x3_reduce", x))
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        for block in self._plan:
            x = self._block(x, *block)
        return torch.flatten(self.global_pool(x), 1)


def _bni_branches(name: str, spec: tuple) -> list[list[tuple]]:
    """Conv units ``(name, in, out, kernel, stride, pad)`` of each non-pool branch of one block."""
    cin, n1, r3, n3, rd, nd, pool, _ = spec
    s = 2 if pool == "max_s2" else 1
    branches = [[(f"{name}_1x1", cin, n1, 1, 1, 0)]] if n1 else []
    branches.append([(f"{name}_3x3_reduce", cin, r3, 1, 1, 0), (f"{name}_3x3", r3, n3, 3, s, 1)])
    branches.append([(f"{name}_double_3x3_reduce", cin, rd, 1, 1, 0),
                     (f"{name}_double_3x3_1", rd, nd, 3, 1, 1),
                     (f"{name}_double_3x3_2", nd, nd, 3, s, 1)])
    return branches


# --------------------------------------------------------------------- tiny

class TinyNet(nn.Module):
    """Four blocks ``blockK`` = 3x3 conv (stride 2, no bias) -> BN -> ReLU, widths 16-32-64-128.

    Input (N, in_channels, H, W), any H, W >= 1; output (N, 128) pooled (``pool``,
    default average) over the final (H/16, W/16) map.
    """

    def __init__(self, in_channels: int = 3, pool: nn.Module | None = None):
        super().__init__()
        self.global_pool = pool or nn.AdaptiveAvgPool2d(1)   # no parameters: state dicts are unchanged
        cin = in_channels
        for i, cout in enumerate(TINY_WIDTHS, 1):
            block = nn.Sequential()
            block.add_module("conv", nn.Conv2d(cin, cout, 3, 2, 1, bias=False))
            block.add_module("bn", nn.BatchNorm2d(cout))
            block.add_module("relu", nn.ReLU(inplace=True))
            self.add_module(f"block{i}", block)
            cin = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) -> (N, 128)."""
        for i in range(1, len(TINY_WIDTHS) + 1):
            x = self._modules[f"block{i}"](x)
        return torch.flatten(self.global_pool(x), 1)


# --------------------------------------------------------------------- BN modes

def apply_bn_mode(model: nn.Module, mode: str) -> None:
    """Freeze BatchNorm layers of ``model`` (a backbone) per ``mode``; call after every ``model.train()``.

    - 'frozen' (SSN's default): every BN layer in eval mode (running statistics
      are used and not updated) and its weight/bias ``requires_grad = False``;
    - 'partial' (TSN's partial BN): the same for every BN layer except the
      first one in ``model.modules()`` order (the BN after the first conv),
      which keeps training and updating its statistics;
    - 'full': nothing is changed; all BN layers follow ``model.train()``.
    """
    _check_choice("bn_mode", mode, BN_MODES)
    if mode == "full":
        return
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns[1:] if mode == "partial" else bns:
        bn.eval()
        for p in (bn.weight, bn.bias):
            if p is not None:
                p.requires_grad_(False)


# --------------------------------------------------------------------- weights

def adapt_first_conv_weight(weight: torch.Tensor, in_channels: int, modality: str) -> torch.Tensor:
    """Fit a first-conv kernel (O, I, kh, kw) to ``in_channels`` inputs (TSN cross-modality init).

    - same I: unchanged;
    - RGB kernel (I = 3) for RGB with new_length L = in_channels / 3: the
      kernel tiled L times and divided by L, so a clip of L identical frames
      gives the single-frame response;
    - otherwise (Flow, RGBDiff, or any other mismatch): the kernel averaged over
      its input channels and replicated to ``in_channels`` (as TSN/SSN do).
    """
    if weight.shape[1] == in_channels:
        return weight
    if modality == "RGB" and weight.shape[1] == 3 and in_channels % 3 == 0:
        reps = in_channels // 3
        return weight.repeat(1, reps, 1, 1) / reps
    return weight.mean(dim=1, keepdim=True).expand(-1, in_channels, -1, -1).contiguous()


def load_pretrained(model: nn.Module, path_or_state: str | os.PathLike | Mapping[str, torch.Tensor],
                    prefix_strip: tuple[str, ...] = ("module.", "base_model."), *,
                    modality: str = "RGB") -> dict[str, list[str]]:
    """Copy matching tensors from a weights file or state dict into ``model``.

    Accepts a plain state dict or a training checkpoint holding one under
    'state_dict' (TSN/SSN), 'model_state_dict', 'model' or 'net'.  Leading
    ``prefix_strip`` prefixes are removed repeatedly ('module.base_model.x' ->
    'x').  Tensors whose shapes differ only by singleton dimensions (Caffe
    BN parameters stored as (1, C)) are reshaped; the first conv's kernel is
    adapted by :func:`adapt_first_conv_weight`.  Logs missing keys and shape
    mismatches as warnings and unused keys (classifier heads) at INFO.
    Returns {'loaded', 'adapted', 'missing', 'unexpected', 'mismatched'}: key lists.
    Raises ValueError naming the source when no tensor matches.
    """
    source = "<state dict>" if isinstance(path_or_state, Mapping) else os.fspath(path_or_state)
    raw = dict(path_or_state) if isinstance(path_or_state, Mapping) else read_weights_file(source)
    state = _strip_prefixes(_unwrap_checkpoint(raw, source), prefix_strip)
    target = model.state_dict()
    conv_key = f"{first_conv(model)[0]}.weight"
    report = {"loaded": [], "adapted": [], "missing": [], "unexpected": [], "mismatched": []}
    new_state = {}
    for key, ref in target.items():
        if key not in state:
            if not key.endswith("num_batches_tracked"):
                report["missing"].append(key)
            continue
        value = _fit_tensor(state[key], ref, key == conv_key, modality)
        if value is None:
            report["mismatched"].append(f"{key}: file {tuple(state[key].shape)} vs model {tuple(ref.shape)}")
            continue
        if key == conv_key and value.shape != state[key].shape:
            report["adapted"].append(key)
        new_state[key] = value
        report["loaded"].append(key)
    report["unexpected"] = [k for k in state if k not in target]
    if not new_state:
        raise InputError(f"{source}: no tensor names match the {type(model).__name__} backbone "
                         f"(file keys start {list(state)[:3]}, expected e.g. {list(target)[:3]})")
    model.load_state_dict(new_state, strict=False)
    _log_report(source, report, len(target))
    return report


def _numpy_data_globals() -> list:
    import numpy as np
    core = getattr(np, "_core", None) or np.core        # numpy 2 / numpy 1
    return [core.multiarray.scalar, np.dtype, *(type(np.dtype(t)) for t in ("f4", "f8", "i4", "i8", "bool"))]


_NUMPY_DATA_GLOBALS = _numpy_data_globals()


def read_weights_file(path: str) -> Mapping:
    """torch.load a weights file on CPU with the weights-only loader; raises ValueError naming the file.

    Full unpickling is never used: a weights file from a stranger must not run code.
    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: weights file not found")
    try:
        # old TSN/SSN checkpoints pickle numpy scalars (epoch, best_prec1): data, not code, so allowed
        with torch.serialization.safe_globals(_NUMPY_DATA_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        # torch's own message suggests weights_only=False, which would run whatever the file holds: name only
        # the object it met
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f"it pickles {found.group(1)}" if found else type(err).__name__
        raise InputError(f"{path}: not a tensors-only weights file ({what}); it holds Python objects that "
                         "only a full unpickling (which can run code) would restore, so it is not loaded. Ask its "
                         "provider for a state dict of tensors (see docs/backbones.md)") from None


def _unwrap_checkpoint(obj, source: str) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint dict (or the dict itself), tensors only."""
    if not isinstance(obj, Mapping):
        raise InputError(f"{source}: expected a state dict or checkpoint dict, got {type(obj).__name__}")
    for key in CHECKPOINT_KEYS:
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    return {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def _strip_prefixes(state: dict[str, torch.Tensor], prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Remove any sequence of leading ``prefixes`` from every key."""
    out = {}
    for key, value in state.items():
        stripped = True
        while stripped:
            stripped = False
            for p in prefixes:
                if p and key.startswith(p):
                    key, stripped = key[len(p):], True
        out[key] = value
    return out


def _fit_tensor(value: torch.Tensor, ref: torch.Tensor, is_first_conv: bool, modality: str):
    """``value`` shaped like ``ref``, or None when it cannot be made to fit."""
    if value.shape == ref.shape:
        return value
    if value.numel() == ref.numel() and [d for d in value.shape if d != 1] == [d for d in ref.shape if d != 1]:
        return value.reshape(ref.shape)
    if is_first_conv and value.dim() == 4 and value.shape[0] == ref.shape[0] and value.shape[2:] == ref.shape[2:]:
        return adapt_first_conv_weight(value, ref.shape[1], modality)
    return None


def _log_report(source: str, report: dict[str, list[str]], total: int) -> None:
    log.info("%s: loaded %d of %d backbone tensors%s", source, len(report["loaded"]), total,
             f" (first conv adapted: {report['adapted']})" if report["adapted"] else "")
    if report["missing"]:
        log.warning("%s: %d backbone tensors not in the file keep their initialisation: %s",
                    source, len(report["missing"]), _preview(report["missing"]))
    if report["mismatched"]:
        log.warning("%s: %d tensors skipped for shape mismatch: %s",
                    source, len(report["mismatched"]), _preview(report["mismatched"]))
    if report["unexpected"]:
        log.info("%s: %d tensors in the file are not part of the backbone (heads): %s",
                 source, len(report["unexpected"]), _preview(report["unexpected"]))


def _preview(items: list[str], n: int = 8) -> str:
    return ", ".join(items[:n]) + (f", ... (+{len(items) - n})" if len(items) > n else "")
