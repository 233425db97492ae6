"""Initialising our SSN from an original SSN checkpoint (issue #6): ops.models.ssn.map_reference_state_dict.

A fake checkpoint in the original's layout (``module.base_model.*`` backbone,
``module.activity_fc`` on the plain course mean, ``module.completeness_fc`` and
``module.regressor_fc`` on the STPP feature whose parts the original divides by the
number of parts of their stage) is mapped and loaded; our heads must then give what
the original's formulas, written out below, give with the fake weights.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ops.models.ssn import SSN, map_reference_state_dict

K, D = 3, 128  # classes; the tiny backbone's feature size
SEGMENTS = (2, 5, 2)


def make_model(stpp, num_classes=K, modality="RGB") -> SSN:
    torch.manual_seed(0)
    return SSN({"arch": "tiny", "modality": modality}, num_classes, SEGMENTS, stpp).eval()


def levels(stage) -> list[int]:
    return [stage] if isinstance(stage, int) else list(stage)


def original_stpp(feats: torch.Tensor, scales: torch.Tensor, stpp) -> torch.Tensor:
    """The original training-time STPP, by its formula: (N, parts x D).

    Per stage, for each level n, part i averages segments ``int(tick_i) .. int(tick_i+1)``
    with ``ticks = arange(0, L + 1e-5, L / n)``, divided by the stage's number of parts;
    starting parts are scaled by ``scales[:, 0]``, ending parts by ``scales[:, 1]``.
    """
    bounds = np.cumsum((0,) + SEGMENTS)
    out = []
    for stage, cfg in enumerate(stpp):
        seg = feats[:, bounds[stage]:bounds[stage + 1]]
        n_parts = sum(levels(cfg))
        for n in levels(cfg):
            ticks = torch.arange(0, seg.shape[1] + 1e-5, seg.shape[1] / n)
            for i in range(n):
                part = seg[:, int(ticks[i]):int(ticks[i + 1])].mean(dim=1) / n_parts
                if stage != 1:
                    part = part * scales[:, 0 if stage == 0 else 1, None]
                out.append(part)
    return torch.cat(out, dim=1)


def fake_reference_state(model: SSN, stpp, num_classes=K) -> dict:
    """An original-layout checkpoint with known head values and the tiny backbone's tensors."""
    g = torch.Generator().manual_seed(1)
    parts = sum(sum(levels(c)) for c in stpp)
    state = {f"module.base_model.{k}": torch.randn(v.shape, generator=g) if v.is_floating_point() else v
             for k, v in model.base.state_dict().items()}
    state.update({
        "module.activity_fc.weight": torch.randn(num_classes + 1, D, generator=g),
        "module.activity_fc.bias": torch.randn(num_classes + 1, generator=g),
        "module.completeness_fc.weight": torch.randn(num_classes, parts * D, generator=g),
        "module.completeness_fc.bias": torch.randn(num_classes, generator=g),
        "module.regressor_fc.weight": torch.randn(2 * num_classes, parts * D, generator=g),
        "module.regressor_fc.bias": torch.randn(2 * num_classes, generator=g),
    })
    return {"epoch": 80, "best_loss": 0.5, "state_dict": state, "reg_stats": torch.zeros(2, 2)}


def load_mapped(model: SSN, ckpt: dict) -> None:
    mapped = map_reference_state_dict(ckpt, model)
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert not unexpected and not [k for k in missing if not k.endswith("num_batches_tracked")]


STPPS = [[1, 1, 1], [1, [1, 2], 1], [[1, 2], [2], [1, 2]], [1, [3, 1], 1]]


@pytest.mark.parametrize("stpp", STPPS, ids=str)
def test_heads_reproduce_the_original_formulas(stpp):
    model = make_model(stpp)
    ckpt = fake_reference_state(model, stpp)
    load_mapped(model, ckpt)
    sd = ckpt["state_dict"]
    g = torch.Generator().manual_seed(2)
    feats = torch.randn(4, sum(SEGMENTS), D, generator=g)
    scales = torch.tensor([[1.0, 1.0], [0.5, 1.0], [1.0, 0.25], [0.0, 0.75]])
    with torch.no_grad():
        act, comp, reg = model.heads(feats, scales)
    course = feats[:, 2:7].mean(dim=1)  # the original's activity sees the plain course mean
    want_act = course @ sd["module.activity_fc.weight"].T + sd["module.activity_fc.bias"]
    stpp_ft = original_stpp(feats, scales, stpp)
    want_comp = stpp_ft @ sd["module.completeness_fc.weight"].T + sd["module.completeness_fc.bias"]
    raw_reg = stpp_ft @ sd["module.regressor_fc.weight"].T + sd["module.regressor_fc.bias"]
    want_reg = raw_reg.view(-1, K, 2)  # class-major (centre, log length) pairs, as the original
    torch.testing.assert_close(act, want_act, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(comp, want_comp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reg, want_reg, rtol=1e-5, atol=1e-5)
    # regression of class 2's centre is output 2 * 1 + 0 of the original regressor
    torch.testing.assert_close(reg[:, 1, 0], raw_reg[:, 2], rtol=1e-5, atol=1e-5)


def test_mapping_by_hand_default_stpp():
    # STPP (1, 1, 1): every stage one part, nothing divided; the activity weight sits on the course part
    model = make_model([1, 1, 1])
    ckpt = fake_reference_state(model, [1, 1, 1])
    mapped = map_reference_state_dict(ckpt, model)
    sd = ckpt["state_dict"]
    assert torch.equal(mapped["activity_fc.weight"], sd["module.activity_fc.weight"])
    assert torch.equal(mapped["completeness_fc.weight"], sd["module.completeness_fc.weight"])
    assert torch.equal(mapped["regressor_fc.bias"], sd["module.regressor_fc.bias"])
    # (1, (1, 2), 1): course parts whole / first half / second half, each divided by 3 in the original
    model = make_model([1, [1, 2], 1])
    ckpt = fake_reference_state(model, [1, [1, 2], 1])
    mapped = map_reference_state_dict(ckpt, model)
    w, ours = ckpt["state_dict"]["module.completeness_fc.weight"], mapped["completeness_fc.weight"]
    torch.testing.assert_close(ours[:, :D], w[:, :D])                      # starting: 1 part
    torch.testing.assert_close(ours[:, D:4 * D], w[:, D:4 * D] / 3)        # course: 3 parts
    torch.testing.assert_close(ours[:, 4 * D:], w[:, 4 * D:])              # ending: 1 part
    act = mapped["activity_fc.weight"]
    torch.testing.assert_close(act[:, :D], ckpt["state_dict"]["module.activity_fc.weight"])
    assert not act[:, D:].any()


def test_backbone_tensors_load_and_tsn_classifier_is_ignored(tmp_path):
    from ssn_train import init_weights

    model = make_model([1, 1, 1])
    ckpt = fake_reference_state(model, [1, 1, 1])
    ckpt["state_dict"]["module.new_fc.weight"] = torch.ones(K, D)
    path = tmp_path / "ssn_reference.pth"
    torch.save(ckpt, path)
    init_weights(model, path)
    for key, value in model.base.state_dict().items():
        assert torch.equal(value, ckpt["state_dict"][f"module.base_model.{key}"]), key
    assert torch.equal(model.regressor_fc.weight, ckpt["state_dict"]["module.regressor_fc.weight"])
    assert "new_fc.weight" not in map_reference_state_dict(ckpt, model)


def test_tsn_checkpoint_initialises_the_backbone_only(tmp_path):
    from ssn_train import init_weights

    model = make_model([1, 1, 1], modality="Flow")
    heads_before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("base.")}
    rgb = make_model([1, 1, 1])  # an RGB TSN: the first conv is adapted to Flow's 10 channels
    state = {f"module.base_model.{k}": v + 1.0 if v.is_floating_point() else v
             for k, v in rgb.base.state_dict().items()}
    state["module.new_fc.weight"] = torch.ones(101, D)
    torch.save({"state_dict": state}, tmp_path / "tsn.pth")
    init_weights(model, tmp_path / "tsn.pth")
    conv = model.base.block1.conv.weight
    assert conv.shape[1] == 10
    rgb_conv = state["module.base_model.block1.conv.weight"]
    torch.testing.assert_close(conv, rgb_conv.mean(1, keepdim=True).expand_as(conv))
    assert torch.equal(model.base.block4.bn.bias, state["module.base_model.block4.bn.bias"])
    for key, value in heads_before.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_class_count_mismatch_names_the_tensor_and_shapes():
    model = make_model([1, 1, 1], num_classes=K)
    ckpt = fake_reference_state(model, [1, 1, 1], num_classes=20)
    with pytest.raises(ValueError, match=r"activity_fc\.weight.*\(21, 128\).*\(4, 128\)"):
        map_reference_state_dict(ckpt, model)


def test_stpp_mismatch_names_the_tensor_and_shapes():
    model = make_model([1, 1, 1])
    ckpt = fake_reference_state(model, [1, [1, 2], 1])  # the original's default STPP: 5 parts
    with pytest.raises(ValueError, match=r"completeness_fc\.weight.*\(3, 640\).*\(3, 384\).*STPP"):
        map_reference_state_dict(ckpt, model)


def test_mismatch_loads_nothing(tmp_path):
    from ops.models.ssn import load_reference_checkpoint

    model = make_model([1, 1, 1])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(fake_reference_state(model, [1, [1, 2], 1]), tmp_path / "ref.pth")
    with pytest.raises(ValueError, match="completeness_fc"):
        load_reference_checkpoint(model, tmp_path / "ref.pth")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
