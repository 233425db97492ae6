"""Dataset presets carry the original SSN settings."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ops.errors import InputError
from ops.formats.presets import list_presets, load_preset, resolve


def test_shipped_presets():
    assert {"thumos14", "activitynet1.2", "activitynet1.3", "synthetic"} <= set(list_presets())


@pytest.mark.parametrize("name", ["thumos14", "activitynet1.2"])
def test_original_ssn_sampling(name):
    s = load_preset(name)["sampling"]
    assert s["proposals_per_video"] == 8
    assert (s["fg_ratio"], s["incomplete_ratio"], s["bg_ratio"]) == (1, 6, 1)
    assert (s["fg_iou_thresh"], s["incomplete_iou_thresh"], s["bg_iou_thresh"], s["bg_coverage_thresh"]) == \
        (0.7, 0.3, 0.01, 0.02)
    assert load_preset(name)["model"]["stpp"] == [1, 1, 1]


def test_dataset_specific_values():
    th, an = load_preset("thumos14"), load_preset("activitynet1.2")
    assert th["num_classes"] == 20 and an["num_classes"] == 100
    assert th["sampling"]["incomplete_overlap_thresh"] == 0.01 and an["sampling"]["incomplete_overlap_thresh"] == 0.7
    assert (th["evaluation"]["top_k"], th["evaluation"]["nms_threshold"], th["evaluation"]["softmax_before_filter"]) \
        == (2000, 0.2, True)
    assert (an["evaluation"]["top_k"], an["evaluation"]["nms_threshold"], an["evaluation"]["softmax_before_filter"]) \
        == (60, 0.6, False)
    np.testing.assert_allclose(th["evaluation"]["iou_thresholds"], np.arange(1, 8) / 10)
    np.testing.assert_allclose(an["evaluation"]["iou_thresholds"], 0.5 + 0.05 * np.arange(10))
    assert len(th["classes"]) == 20 and th["class_ids"][0] == 7


def test_synthetic_presets_match_the_generator_families():
    from ops.video.synthetic import FAMILIES

    for family in FAMILIES.values():
        p = load_preset(family.dataset)
        assert p["classes"] == list(family.classes) and p["num_classes"] == len(family.classes), family.name


def test_a_preset_extends_another_key_by_key(tmp_path):
    wave, base = load_preset("synthetic_wave"), load_preset("synthetic")
    assert wave["classes"][0] == "Bounce" and wave["sampling"] == base["sampling"] and wave["bmn"] == base["bmn"]
    (tmp_path / "mine.json").write_text('{"extends": "thumos14", "name": "mine", "evaluation": {"protocol": "x"}}')
    mine = load_preset(tmp_path / "mine.json")
    assert mine["name"] == "mine" and mine["evaluation"] == {"protocol": "x"} and len(mine["classes"]) == 20
    (tmp_path / "loop.json").write_text('{"extends": "loop"}')
    with pytest.raises(InputError, match='loop.json: "extends" must name another preset'):
        load_preset(tmp_path / "loop.json")


def test_unknown_and_custom_presets(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset preset 'nope'.*thumos14"):
        load_preset("nope")
    mine = load_preset("thumos14")
    mine["name"] = "mine"
    (tmp_path / "mine.json").write_text(json.dumps(mine))
    assert load_preset(tmp_path / "mine.json")["name"] == "mine"
    del mine["sampling"]
    (tmp_path / "broken.json").write_text(json.dumps(mine))
    with pytest.raises(ValueError, match="lacks keys \\['sampling'\\]"):
        load_preset(tmp_path / "broken.json")


def test_flags_override_preset():
    assert resolve(None, 0.2) == 0.2 and resolve(0.5, 0.2) == 0.5 and resolve(0, 0.2) == 0


def test_flip_policy_from_preset():
    from ops.formats.presets import preset_flip
    assert preset_flip(load_preset("thumos14")) is True          # default: flips allowed
    assert preset_flip(load_preset("synthetic")) is False        # MoveLeft mirrored is MoveRight


def test_checkpoint_data_spec_keeps_the_training_flip_policy():
    from ops.models.backbones import BackboneConfig
    from ops.train.dataset import checkpoint_data_spec, data_spec
    cfg = BackboneConfig(arch="tiny", modality="Flow", new_length=5)
    spec = data_spec(cfg, flip=False)
    assert spec["flip"] is False and spec["channels"] == 10
    assert checkpoint_data_spec({"extra": {"input_spec": spec}}, cfg)["flip"] is False
    assert checkpoint_data_spec({"extra": {}}, cfg)["flip"] is True   # older checkpoints


def test_ten_crops_are_refused_up_front_for_a_model_trained_without_flips():
    from ops.models.backbones import BackboneConfig
    from ops.train.dataset import FrameSequenceDataset, data_spec
    spec = data_spec(BackboneConfig(arch="tiny", modality="RGB"), flip=False)
    with pytest.raises(ValueError, match="num_crops 1 or 5"):
        FrameSequenceDataset([], "RGB", 1, spec, frame_interval=1, num_crops=10)
