"""ops.models.backbones: architectures, parameter names, input specs, BN modes, weight loading."""
from __future__ import annotations

import dataclasses
import json
import urllib.error

import pytest
import torch
from torch import nn

from ops.models.backbones import (BackboneConfig, BNInception, adapt_first_conv_weight, apply_bn_mode, build_backbone,
                                  input_spec, load_pretrained)

# Parameters (conv weight + bias, BN weight + bias; no classifier) of BN-Inception,
# summed by hand over the 69 conv-BN units of the Caffe model (10,270,240);
# with the 1000-way ImageNet fc (1024 * 1000 + 1000) it is the usual 11,295,240.
BNINCEPTION_PARAMS = 10_270_240


def _unit(name, cin, cout, k):
    """Hand-written state-dict entries of one Caffe conv + BN unit."""
    return {f"{name}.weight": (cout, cin, k, k), f"{name}.bias": (cout,),
            f"{name}_bn.weight": (cout,), f"{name}_bn.bias": (cout,),
            f"{name}_bn.running_mean": (cout,), f"{name}_bn.running_var": (cout,),
            f"{name}_bn.num_batches_tracked": ()}


EXPECTED_STEM = {**_unit("conv1_7x7_s2", 3, 64, 7), **_unit("conv2_3x3_reduce", 64, 64, 1),
                 **_unit("conv2_3x3", 64, 192, 3)}
EXPECTED_3A = {**_unit("inception_3a_1x1", 192, 64, 1), **_unit("inception_3a_3x3_reduce", 192, 64, 1),
               **_unit("inception_3a_3x3", 64, 64, 3), **_unit("inception_3a_double_3x3_reduce", 192, 64, 1),
               **_unit("inception_3a_double_3x3_1", 64, 96, 3), **_unit("inception_3a_double_3x3_2", 96, 96, 3),
               **_unit("inception_3a_pool_proj", 192, 32, 1)}
EXPECTED_3C = {**_unit("inception_3c_3x3_reduce", 320, 128, 1), **_unit("inception_3c_3x3", 128, 160, 3),
               **_unit("inception_3c_double_3x3_reduce", 320, 64, 1),
               **_unit("inception_3c_double_3x3_1", 64, 96, 3), **_unit("inception_3c_double_3x3_2", 96, 96, 3)}
EXPECTED_5B_POOL = _unit("inception_5b_pool_proj", 1024, 128, 1)


def _shapes(model: nn.Module, prefix: str) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith(prefix)}


# ------------------------------------------------------------------ BN-Inception

def test_bninception_names_and_shapes_match_the_caffe_model():
    model = BNInception()
    state = _shapes(model, "")
    assert {k: state[k] for k in EXPECTED_STEM} == EXPECTED_STEM
    assert _shapes(model, "inception_3a_") == EXPECTED_3A
    assert _shapes(model, "inception_3c_") == EXPECTED_3C  # reduction block: no 1x1, no pool_proj
    assert {k: state[k] for k in EXPECTED_5B_POOL} == EXPECTED_5B_POOL
    assert len(state) == 69 * 7 and not any(k.startswith(("fc", "last_linear")) for k in state)


def test_bninception_parameter_count():
    assert sum(p.numel() for p in BNInception().parameters()) == BNINCEPTION_PARAMS


def test_bninception_first_bn_is_conv1():
    bns = [n for n, m in BNInception().named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns[0] == "conv1_7x7_s2_bn" and bns[-1] == "inception_5b_pool_proj_bn" and len(bns) == 69


def test_bninception_forward_shape_channels_last():
    model, dim = build_backbone(BackboneConfig(arch="bninception"))
    x = torch.randn(2, 3, 64, 64).to(memory_format=torch.channels_last)
    model.train()
    out = model(x)
    assert dim == 1024 and out.shape == (2, 1024)
    out.sum().backward()  # in-place ReLUs must not break autograd
    assert model.conv1_7x7_s2.weight.grad is not None


# ------------------------------------------------------------------ torchvision + tiny

def test_resnet18_and_inception_v3_features():
    resnet, dim = build_backbone(BackboneConfig(arch="resnet18", modality="Flow"))
    assert dim == 512 and resnet.conv1.in_channels == 10 and isinstance(resnet.fc, nn.Identity)
    with torch.no_grad():
        assert resnet.eval()(torch.randn(1, 10, 64, 64)).shape == (1, 512)
    inception, dim = build_backbone(BackboneConfig(arch="inception_v3"))
    assert dim == 2048 and inception.AuxLogits is None
    with torch.no_grad():
        out = inception.train()(torch.randn(2, 3, 75, 75))  # train mode: a plain tensor, no aux output
    assert isinstance(out, torch.Tensor) and out.shape == (2, 2048)


@pytest.mark.parametrize("modality,length,channels", [("RGB", None, 3), ("Flow", None, 10), ("RGB", 2, 6),
                                                          ("RGBDiff", None, 15)])
def test_tiny_shapes(modality, length, channels):
    cfg = BackboneConfig(arch="tiny", modality=modality, new_length=length)
    model, dim = build_backbone(cfg)
    assert cfg.channels == channels and model.block1.conv.in_channels == channels
    x = torch.randn(3, channels, 96, 96).to(memory_format=torch.channels_last)
    assert dim == 128 and model(x).shape == (3, 128)


# ------------------------------------------------------------------ config + input spec

def test_config_roundtrip_and_validation():
    cfg = BackboneConfig(arch="bninception", modality="Flow", pretrained="/w.pth", bn_mode="frozen", dropout=0.8)
    d = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert BackboneConfig.from_dict(d) == cfg and cfg.length == 5 and cfg.channels == 10
    with pytest.raises(ValueError, match="arch"):
        BackboneConfig(arch="vgg16")
    with pytest.raises(ValueError, match="bn_mode"):
        BackboneConfig(bn_mode="half")
    with pytest.raises(ValueError, match="unknown BackboneConfig keys"):
        BackboneConfig.from_dict({**d, "depth": 3})


def test_input_spec_values():
    spec = input_spec(BackboneConfig(arch="bninception"))
    assert spec == {"input_size": 224, "scale_size": 256, "channels": 3, "mean": [104.0, 117.0, 128.0],
                    "std": [1.0, 1.0, 1.0], "pixel_range": 255, "channel_order": "BGR"}
    spec = input_spec(BackboneConfig(arch="bninception", modality="Flow"))
    assert spec["mean"] == [128.0] * 10 and spec["std"] == [1.0] * 10 and spec["pixel_range"] == 255
    spec = input_spec(BackboneConfig(arch="resnet50", new_length=2))
    assert spec["mean"] == [0.485, 0.456, 0.406] * 2 and spec["pixel_range"] == 1 and spec["channels"] == 6
    spec = input_spec(BackboneConfig(arch="resnet101", modality="Flow", new_length=3))
    assert spec["mean"] == [0.5] * 6 and spec["std"] == pytest.approx([0.226] * 6)
    spec = input_spec(BackboneConfig(arch="inception_v3"))
    assert (spec["input_size"], spec["scale_size"], spec["mean"], spec["std"]) == (299, 341, [0.5] * 3, [0.5] * 3)
    spec = input_spec(BackboneConfig(arch="tiny"))
    assert (spec["input_size"], spec["scale_size"], spec["channels"]) == (96, 112, 3)


# ------------------------------------------------------------------ BN modes

def _bn_stats(model):
    return [(m.running_mean.clone(), m.running_var.clone())
            for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def _changed(before, after):
    return [not (torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])) for a, b in zip(before, after)]


@pytest.mark.parametrize("mode,expected", [("frozen", [False] * 4), ("partial", [True, False, False, False]),
                                           ("full", [True] * 4)])
def test_bn_modes(mode, expected):
    torch.manual_seed(0)
    model, _ = build_backbone(BackboneConfig(arch="tiny", bn_mode=mode))
    model.train()
    apply_bn_mode(model, mode)
    before = _bn_stats(model)
    model(torch.randn(4, 3, 32, 32) * 3 + 1)
    assert _changed(before, _bn_stats(model)) == expected
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [m.training for m in bns] == expected
    assert [m.weight.requires_grad and m.bias.requires_grad for m in bns] == expected
    with pytest.raises(ValueError):
        apply_bn_mode(model, "none")


# ------------------------------------------------------------------ weight loading

def _tiny(modality="RGB", length=None, pretrained=None):
    torch.manual_seed(1)
    return build_backbone(BackboneConfig(arch="tiny", modality=modality, new_length=length,
                                         pretrained=pretrained))[0]


def test_load_tsn_style_checkpoint_with_prefixes(tmp_path):
    src = _tiny()
    state = {f"module.base_model.{k}": v for k, v in src.state_dict().items()}
    state["module.new_fc.weight"] = torch.zeros(5, 128)
    path = tmp_path / "tsn_rgb.pth.tar"
    torch.save({"epoch": 3, "arch": "tiny", "state_dict": state}, path)
    dst = build_backbone(BackboneConfig(arch="tiny", pretrained=str(path)))[0]
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    report = load_pretrained(dst, path)
    assert report["missing"] == [] and report["unexpected"] == ["new_fc.weight"] and report["adapted"] == []


def test_flow_cross_modality_init_from_rgb(tmp_path):
    src = _tiny()
    path = tmp_path / "rgb.pth"
    torch.save(src.state_dict(), path)
    flow = _tiny("Flow", pretrained=str(path))
    w = src.block1.conv.weight
    assert flow.block1.conv.weight.shape == (16, 10, 3, 3)
    assert torch.allclose(flow.block1.conv.weight, w.mean(1, keepdim=True).expand(-1, 10, -1, -1))
    assert torch.equal(flow.block2.conv.weight, src.block2.conv.weight)


def test_rgb_multi_frame_init_keeps_static_clip_response(tmp_path):
    src = _tiny().eval()
    path = tmp_path / "rgb.pth"
    torch.save(src.state_dict(), path)
    clip_model = _tiny("RGB", 3, pretrained=str(path)).eval()
    frame = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(clip_model(frame.repeat(1, 3, 1, 1)), src(frame), atol=1e-5)


def test_flow_checkpoint_loads_directly(tmp_path):
    src = _tiny("Flow")
    path = tmp_path / "flow.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, path)
    dst = _tiny("Flow")
    dst.block1.conv.weight.data.zero_()
    report = load_pretrained(dst, path, modality="Flow")
    assert report["adapted"] == [] and report["missing"] == []
    assert torch.equal(dst.block1.conv.weight, src.block1.conv.weight)


def test_caffe_converted_bninception_state_dict():
    src = BNInception()
    # the published Caffe conversion stores BN tensors as (1, C) and keeps its classifier 'fc'
    state = {k: v.unsqueeze(0) if "_bn." in k and v.dim() == 1 else v
             for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 1024), torch.zeros(1000)
    dst = BNInception(in_channels=10)
    report = load_pretrained(dst, state, modality="Flow")
    assert report["missing"] == [] and report["mismatched"] == []
    assert report["adapted"] == ["conv1_7x7_s2.weight"] and sorted(report["unexpected"]) == ["fc.bias", "fc.weight"]
    assert torch.equal(dst.inception_4d_3x3_bn.running_var, src.inception_4d_3x3_bn.running_var)


def test_load_errors_name_the_file(tmp_path):
    path = tmp_path / "other_model.pth"
    torch.save({"encoder.layer.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="other_model.pth.*no tensor names match"):
        load_pretrained(_tiny(), path)
    with pytest.raises(ValueError, match="missing.pth: weights file not found"):
        build_backbone(BackboneConfig(arch="tiny", pretrained=str(tmp_path / "missing.pth")))


def test_imagenet_offline_and_unsupported(monkeypatch):
    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match="no network: pass --pretrained PATH"):
        build_backbone(BackboneConfig(arch="resnet18", pretrained="imagenet"))
    with pytest.raises(ValueError, match="local weights file"):
        build_backbone(BackboneConfig(arch="bninception", pretrained="imagenet"))


def test_adapt_first_conv_weight_rules():
    w = torch.randn(4, 3, 3, 3)
    assert adapt_first_conv_weight(w, 3, "RGB") is w
    assert torch.allclose(adapt_first_conv_weight(w, 6, "RGB"), torch.cat([w, w], 1) / 2)
    assert torch.allclose(adapt_first_conv_weight(w, 6, "Flow"), w.mean(1, keepdim=True).expand(-1, 6, -1, -1))
    # RGBDiff as TSN: differences are not images, so the kernel is averaged over colour and replicated
    assert torch.allclose(adapt_first_conv_weight(w, 15, "RGBDiff"), w.mean(1, keepdim=True).expand(-1, 15, -1, -1))


def test_rgbdiff_input_is_centred_at_no_change():
    """A snippet value of 128 (no change) normalises to about 0 for every architecture; channel order as RGB."""
    for arch in ("resnet18", "tiny", "bninception"):
        spec = input_spec(BackboneConfig(arch=arch, modality="RGBDiff"))
        assert spec["channels"] == 15 and len(spec["mean"]) == len(spec["std"]) == 15
        zero = [(128 / 255 * spec["pixel_range"] - m) / s for m, s in zip(spec["mean"], spec["std"])]
        assert max(abs(z) for z in zero) < 0.01, arch
    assert input_spec(BackboneConfig(arch="bninception", modality="RGBDiff"))["channel_order"] == "BGR"


def test_global_max_pool_keeps_a_small_blob_that_averaging_dilutes():
    """global_pool='max' returns the per-channel maximum of the last map; weights and keys are unchanged."""
    torch.manual_seed(0)
    avg, _ = build_backbone(BackboneConfig(arch="tiny", global_pool="avg"))
    mx, _ = build_backbone(BackboneConfig(arch="tiny", global_pool="max"))
    assert avg.state_dict().keys() == mx.state_dict().keys()
    mx.load_state_dict(avg.state_dict())
    avg.eval(), mx.eval()
    x = torch.zeros(1, 3, 64, 64)
    x[:, :, 30:34, 30:34] = 5.0                       # a 4x4 blob on an empty frame
    with torch.no_grad():
        fmap = x
        for i in range(1, 5):
            fmap = avg._modules[f"block{i}"](fmap)
        assert torch.allclose(mx(x), fmap.amax((2, 3)))
        assert torch.allclose(avg(x), fmap.mean((2, 3)))
    resnet, _ = build_backbone(BackboneConfig(arch="resnet18", global_pool="max"))
    assert isinstance(resnet.avgpool, torch.nn.AdaptiveMaxPool2d)
    old = {"arch": "tiny", "modality": "RGB", "new_length": None, "pretrained": None, "bn_mode": "full",
           "dropout": 0.0}                                # a checkpoint written before global_pool existed
    assert BackboneConfig.from_dict(old).global_pool == "avg"
    with pytest.raises(ValueError, match="global_pool"):
        BackboneConfig(global_pool="sum")


def test_weights_with_numpy_scalars_load_and_code_is_refused_without_an_unsafe_recipe(tmp_path):
    """Issue 19 item 18: the refusal offered a ready-to-paste torch.load(..., weights_only=False) command."""
    import os

    import numpy as np

    from ops.errors import InputError
    from ops.models.backbones import read_weights_file

    old = tmp_path / "tsn_old.pth"
    torch.save({"epoch": np.int64(80), "best_prec1": np.float64(71.5), "state_dict": {"w": torch.ones(2)}}, old)
    loaded = read_weights_file(str(old))
    assert int(loaded["epoch"]) == 80 and torch.equal(loaded["state_dict"]["w"], torch.ones(2))

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    evil = tmp_path / "evil 'name.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}, "x": Payload()}, evil)
    with pytest.raises(InputError) as err:
        read_weights_file(str(evil))
    message = str(err.value)
    assert "not a tensors-only weights file (it pickles" in message and "system" in message
    assert "weights_only=False" not in message and "python -c" not in message
    assert not (tmp_path / "ran").exists()
