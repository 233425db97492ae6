"""The shared training loop: resume equivalence, safe checkpoints, schedule, logs."""
from __future__ import annotations

import csv
import json
import os
import pickle
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ops.errors import InputError
from ops.formats.frames import make_meta, write_meta
from ops.train.engine import (BEST, LAST, ConfigMismatchError, DivergedError, TrainConfig, Trainer, data_extra, extraction_settings,
                              file_digest, load_checkpoint, lr_at, run_fingerprint, seed_everything,
                              trailing_means)


class NoisyData(Dataset):
    """Random inputs drawn from the global RNG at load time (as augmentation does)."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return torch.randn(4) + i % 3, torch.tensor(i % 2)


def loss_fn(model, batch, device):
    x, y = batch
    logits = model(x.to(device))
    return F.cross_entropy(logits, y.to(device)), {"acc": float((logits.argmax(1) == y).float().mean())}


def make_trainer(out, epochs, model_config=None, **overrides):
    """The toy trainer; ``overrides``: TrainConfig fields that differ from the base run."""
    cfg = dict(epochs=epochs, batch_size=4, lr=0.1, lr_steps=[1], workers=0, device="cpu", iter_size=2)
    cfg.update(overrides)
    seed_everything(cfg["seed"] if "seed" in cfg else 0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 2))
    return Trainer(model, loss_fn, TrainConfig(**cfg), out, model_config or {"type": "toy"},
                   extra={"stats": [1.0, 2.0]})


def test_resume_is_exact(tmp_path):
    straight = make_trainer(tmp_path / "a", 3)
    straight.fit(NoisyData(), NoisyData())
    first = make_trainer(tmp_path / "b", 1)
    first.fit(NoisyData(), NoisyData())
    # a new process: different RNG state before resuming, as after a kill
    torch.manual_seed(1234)
    resumed = make_trainer(tmp_path / "b", 3)
    resumed.resume(tmp_path / "b" / LAST)
    assert resumed.start_epoch == 1
    resumed.fit(NoisyData(), NoisyData())
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert [h["train_loss"] for h in straight.history] == [h["train_loss"] for h in resumed.history]
    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"] and float(rows[1]["lr"]) == pytest.approx(0.01)


def test_checkpoint_last_is_written_by_time_not_every_epoch(tmp_path, monkeypatch):
    """A large model's 1 GB checkpoint is not rewritten after every short epoch: only once CHECKPOINT_EVERY_S have
    passed, after a new best, and after the last epoch; the logs go with it."""
    import ops.train.engine as engine

    writes = []
    real = engine.save_checkpoint
    monkeypatch.setattr(engine, "save_checkpoint", lambda path, *a, **k: (writes.append((path.name, a[2])),
                                                                          real(path, *a, **k)))
    trainer = make_trainer(tmp_path / "slow", 4)
    trainer.checkpoint_every_s = 1e9
    trainer.fit(NoisyData())                        # no validation: no best to keep
    assert writes == [(LAST, 4)]
    assert [r["epoch"] for r in csv.DictReader(open(tmp_path / "slow" / "log.csv"))] == ["1", "2", "3", "4"]
    writes.clear()
    every = make_trainer(tmp_path / "every", 3)
    every.checkpoint_every_s = 0
    every.fit(NoisyData())
    assert writes == [(LAST, 1), (LAST, 2), (LAST, 3)]


def test_checkpoint_contents(tmp_path):
    t = make_trainer(tmp_path, 1)
    t.fit(NoisyData())
    ckpt = load_checkpoint(tmp_path / LAST)
    assert ckpt["model_config"] == {"type": "toy"} and ckpt["epoch"] == 1
    assert ckpt["extra"]["stats"] == [1.0, 2.0] and ckpt["train_config"]["lr_steps"] == [1]
    assert ckpt["history"][0]["val_loss"] is None


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ssn_toolkit_pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")   # torch's note on the hand-written pickle
def test_malicious_checkpoint_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"format": "ssn-toolkit-checkpoint", "x": Exploit()}, f)
    if os.path.exists("/tmp/ssn_toolkit_pwned"):
        os.unlink("/tmp/ssn_toolkit_pwned")
    with pytest.raises(ValueError, match="evil.pth: not a loadable checkpoint"):
        load_checkpoint(path)
    assert not os.path.exists("/tmp/ssn_toolkit_pwned")
    torch.save({"state_dict": {}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a checkpoint of this toolkit"):
        load_checkpoint(tmp_path / "other.pth")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_checkpoint(tmp_path / "missing.pth")


def test_lr_schedule():
    cfg = TrainConfig(lr=0.1, lr_steps=[2, 4], lr_gamma=0.5)
    assert [lr_at(cfg, e) for e in range(6)] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]


def test_rerun_resumes_from_last_checkpoint(tmp_path):
    first = make_trainer(tmp_path, 1)
    first.fit(NoisyData())
    again = make_trainer(tmp_path, 2)
    again.resume_default(None)
    assert again.start_epoch == 1
    fresh = make_trainer(tmp_path, 2)
    fresh.resume_default(None, restart=True)
    assert fresh.start_epoch == 0


def test_train_pass_accumulates_then_steps_like_sgd(tmp_path):
    # two in-memory batches with iter_size 2: one SGD step on the mean gradient (momentum buffer = gradient)
    seed_everything(0)
    model = nn.Linear(4, 2)
    cfg = TrainConfig(epochs=1, batch_size=4, lr=0.1, weight_decay=0.01, clip_gradient=None, workers=0,
                      device="cpu", iter_size=2)
    trainer = Trainer(model, loss_fn, cfg, tmp_path, {"type": "toy"})
    batches = [(torch.randn(4, 4), torch.tensor([0, 1, 1, 0])) for _ in range(2)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reference = nn.Linear(4, 2)
    reference.load_state_dict(before)
    losses = [loss_fn(reference, b, "cpu")[0] for b in batches]
    (sum(losses) / 2).backward()
    logs = trainer.train_pass(batches)
    assert logs["loss"] == pytest.approx(sum(loss.item() for loss in losses) / 2, rel=1e-6)
    for name, p in reference.named_parameters():
        expected = before[name] - 0.1 * (p.grad + 0.01 * before[name])
        assert torch.allclose(model.state_dict()[name], expected, atol=1e-7), name


def csv_rows(out):
    with open(out / "log.csv", newline="") as f:
        return [(int(r["epoch"]), float(r["lr"])) for r in csv.DictReader(f)]


def same_weights(a: Trainer, b: Trainer) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))


def test_fingerprint_keeps_what_decides_the_weights():
    cfg = TrainConfig(epochs=45, lr=0.01, lr_steps=[20, 40], workers=8, device="cuda", channels_last=False)
    extra = {"sampling": {"fg_iou_thresh": 0.7}, "reg_stats": [[0.0, 1.0]], "paths": {"train_list": "a.txt"},
             "data": {"train_list": "0123abcd", "frames": [{"jpeg_quality": 95}]}}
    fp = run_fingerprint({"type": "ssn", "stpp": (1, [1, 2], 1), "backbone": {"arch": "tiny"}}, asdict(cfg),
                         extra, world_size=2)
    assert fp == {"batch_size": 4, "lr": 0.01, "lr_steps": [20, 40], "lr_gamma": 0.1, "momentum": 0.9,
                  "weight_decay": 5e-4, "clip_gradient": 20.0, "iter_size": 1, "amp": True, "seed": 0,
                  "world_size": 2, "model.type": "ssn", "model.stpp": [1, [1, 2], 1], "model.backbone.arch": "tiny",
                  "sampling.fg_iou_thresh": 0.7, "data.train_list": "0123abcd",
                  "data.frames": [{"jpeg_quality": 95}]}
    # the schedule ignores the run's length, so raising --epochs may continue a run (epochs is not in it)
    assert [lr_at(cfg, e) for e in (19, 20, 40)] == [lr_at(TrainConfig(**{**asdict(cfg), "epochs": 50}), e)
                                                     for e in (19, 20, 40)] == pytest.approx([0.01, 0.001, 0.0001])


def test_changed_settings_are_refused_and_restart_trains_from_scratch(tmp_path):
    first = make_trainer(tmp_path, 2)
    first.fit(NoisyData(), NoisyData())
    assert (tmp_path / BEST).exists() and csv_rows(tmp_path) == [(1, 0.1), (2, pytest.approx(0.01))]
    changed = make_trainer(tmp_path, 2, {"type": "toy2"}, lr=0.5, seed=7)
    with pytest.raises(ConfigMismatchError) as err:
        changed.resume_default(None)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / LAST} was trained with other settings")
    assert 'lr: stored 0.1, current 0.5' in msg and "seed: stored 0, current 7" in msg
    assert 'model.type: stored "toy", current "toy2"' in msg and "--restart" in msg and "--output" in msg
    assert changed.start_epoch == 0 and changed.history == []
    changed.resume_default(None, restart=True)
    assert not (tmp_path / BEST).exists()    # the earlier run's best is gone; this run without validation writes none
    changed.fit(NoisyData())
    assert not (tmp_path / BEST).exists()
    # from scratch: the same weights as the same run in an empty folder, and only this run's rows in the logs
    alone = make_trainer(tmp_path / "alone", 2, {"type": "toy2"}, lr=0.5, seed=7)
    alone.fit(NoisyData())
    assert same_weights(changed, alone)
    assert csv_rows(tmp_path) == [(1, 0.5), (2, pytest.approx(0.05))]
    assert [r["lr"] for r in json.loads((tmp_path / "log.json").read_text())] == [0.5, pytest.approx(0.05)]
    ckpt = load_checkpoint(tmp_path / LAST)
    assert ckpt["fingerprint"]["lr"] == 0.5 and ckpt["train_config"]["seed"] == 7 and ckpt["epoch"] == 2
    assert not (tmp_path / BEST).exists()      # the first run's best model, no validation loss to replace it


def test_raising_epochs_resumes_only_the_extra_epochs(tmp_path):
    straight = make_trainer(tmp_path / "straight", 3)
    straight.fit(NoisyData())
    first = make_trainer(tmp_path / "split", 2)
    first.fit(NoisyData())
    torch.manual_seed(1234)
    # runtime fields may change too: channels_last is a memory layout
    more = make_trainer(tmp_path / "split", 3, channels_last=False)
    more.resume_default(None)
    assert more.start_epoch == 2
    more.fit(NoisyData())
    assert same_weights(more, straight)
    assert csv_rows(tmp_path / "split") == [(1, 0.1), (2, pytest.approx(0.01)), (3, pytest.approx(0.01))]
    # fewer epochs than trained cannot be undone: refused
    with pytest.raises(ConfigMismatchError, match="epochs: stored 3 trained, current 2"):
        make_trainer(tmp_path / "split", 2).resume_default(None)


def test_complete_run_logs_and_trains_nothing(tmp_path, caplog):
    make_trainer(tmp_path, 2).fit(NoisyData())
    before = (tmp_path / LAST).read_bytes()
    again = make_trainer(tmp_path, 2)
    with caplog.at_level("INFO", logger="ops.train.engine"):
        again.resume_default(None)
    assert "all 2 epochs are trained, nothing left to train" in caplog.text and "--restart" in caplog.text
    assert len(again.fit(NoisyData())) == 2
    assert (tmp_path / LAST).read_bytes() == before and len(csv_rows(tmp_path)) == 2


def test_explicit_resume_with_other_settings_warns_and_continues(tmp_path, caplog):
    make_trainer(tmp_path, 1).fit(NoisyData())
    lower = make_trainer(tmp_path / "finetune", 2, lr=0.5)
    with caplog.at_level("WARNING", logger="ops.train.engine"):
        lower.resume_default(tmp_path / LAST)
    assert "lr: stored 0.1, current 0.5" in caplog.text and lower.start_epoch == 1
    lower.fit(NoisyData())
    assert csv_rows(tmp_path / "finetune") == [(1, 0.1), (2, pytest.approx(0.05))]


def strip_fingerprint(path):
    ckpt = torch.load(path, weights_only=True)
    del ckpt["fingerprint"]
    torch.save(ckpt, path)


def test_checkpoint_without_fingerprint_resumes_and_is_still_checked(tmp_path):
    make_trainer(tmp_path, 1).fit(NoisyData())
    strip_fingerprint(tmp_path / LAST)
    assert "fingerprint" not in load_checkpoint(tmp_path / LAST)
    more = make_trainer(tmp_path, 2)
    more.resume_default(None)
    assert more.start_epoch == 1
    # the settings such a checkpoint stores are still compared
    with pytest.raises(ConfigMismatchError, match="momentum: stored 0.9, current 0.5"):
        make_trainer(tmp_path, 2, momentum=0.5).resume_default(None)


def test_data_fingerprint(tmp_path):
    listing = tmp_path / "train.txt"
    listing.write_bytes(b"abc")
    assert file_digest(listing) == "ba7816bf8f01cfea"      # SHA-256 test vector of "abc"
    folders = [tmp_path / name for name in ("a", "b", "c", "dense")]
    for folder, algo in zip(folders, ("tvl1", "tvl1", "farneback")):
        write_meta(folder, make_meta("v.mp4", 10, 9, 10.0, (64, 48), algo, 20.0))
    folders[3].mkdir()
    assert extraction_settings(folders, "Flow") == [
        {"flow_algorithm": "farneback", "flow_bound": 20.0, "frame_step": 1, "jpeg_quality": 95},
        {"flow_algorithm": "tvl1", "flow_bound": 20.0, "frame_step": 1, "jpeg_quality": 95}, {"meta.json": None}]
    assert extraction_settings(folders, "RGB") == [{"jpeg_quality": 95}, {"meta.json": None}]

    class Video:
        def __init__(self, path):
            self.video = str(path)

    extra = data_extra("RGB", [Video(f) for f in folders[:2]], listing)
    assert extra == {"data": {"train_list": "ba7816bf8f01cfea", "val_list": None, "init_from": None,
                              "frames": [{"jpeg_quality": 95}]},
                     "paths": {"train_list": str(listing), "val_list": None, "init_from": None}}


def run_main(module, *argv):
    return module.main(module.get_args_parser().parse_args([str(a) for a in argv]))


def test_binary_train_rerun_with_other_settings_stops_with_one_line_error(tiny_dataset, tiny_frames, tmp_path):
    """The scripts' side (about 4 s after the session's tiny frames): data recorded, a mismatch is one error line."""
    import binary_train
    import gen_sliding_window_proposals

    sw = tmp_path / "sw.txt"
    assert run_main(gen_sliding_window_proposals, "synthetic", "validation", sw, "--annotations",
                    tiny_dataset / "annotations", "--frame_path", tiny_frames) == 0
    out = tmp_path / "binary"
    common = ["synthetic", "RGB", "--train_list", sw, "--output", out, "--arch", "tiny", "-b", 2, "-j", 0,
              "--device", "cpu", "--proposals_per_video", 2]
    assert run_main(binary_train, *common, "--epochs", 1, "--lr", 0.01) == 0
    ckpt = load_checkpoint(out / LAST)
    assert ckpt["fingerprint"]["data.train_list"] == file_digest(sw) and ckpt["extra"]["paths"]["train_list"] == str(sw)
    assert ckpt["fingerprint"]["epoch_multiplier"] == 1 and ckpt["fingerprint"]["data.frames"] == [{"jpeg_quality": 95}]
    with pytest.raises(InputError) as err:
        run_main(binary_train, *common, "--epochs", 1, "--lr", 0.02)
    msg = str(err.value)
    assert msg.startswith(f"{out / LAST} was trained with other settings") and "\n" not in msg
    assert "lr: stored 0.01, current 0.02" in msg and "--restart" in msg
    assert run_main(binary_train, *common, "--epochs", 1, "--lr", 0.02, "--restart") == 0
    assert load_checkpoint(out / LAST)["train_config"]["lr"] == 0.02 and csv_rows(out) == [(1, 0.02)]


# --------------------------------------------------------------------------- Adam, lr lists, best by a metric


def test_adam_step_equals_torch_adam(tmp_path):
    # two steps (one batch each) of the engine's Adam against torch.optim.Adam driven by hand, L2 decay included
    seed_everything(0)
    model = nn.Linear(4, 2)
    reference = nn.Linear(4, 2)
    reference.load_state_dict(model.state_dict())
    cfg = TrainConfig(epochs=1, lr=0.01, weight_decay=0.1, clip_gradient=None, workers=0, device="cpu",
                      optimizer="adam")
    trainer = Trainer(model, loss_fn, cfg, tmp_path, {"type": "toy"})
    batches = [(torch.randn(4, 4), torch.tensor([0, 1, 1, 0])) for _ in range(2)]
    trainer.train_pass(batches)
    opt = torch.optim.Adam(reference.parameters(), lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    for b in batches:
        opt.zero_grad()
        loss_fn(reference, b, "cpu")[0].backward()
        opt.step()
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)   # the engine's is the fused kernel
    # and it is not what SGD would have done
    sgd = Trainer(nn.Linear(4, 2), loss_fn, TrainConfig(**{**asdict(cfg), "optimizer": "sgd"}), tmp_path, {})
    sgd.train_pass(batches)
    assert not torch.equal(sgd.model.weight, model.weight)


def test_unknown_optimizer_is_refused(tmp_path):
    with pytest.raises(InputError, match="optimizer 'lamb': unknown; choose one of sgd, adam"):
        Trainer(nn.Linear(4, 2), loss_fn, TrainConfig(optimizer="lamb", device="cpu"), tmp_path, {})


def test_lr_list_schedule_overrides_steps(tmp_path):
    cfg = TrainConfig(lr=0.1, lr_steps=[1], lr_list=[0.5, 0.25, 0.125])
    assert [lr_at(cfg, e) for e in range(5)] == [0.5, 0.25, 0.125, 0.125, 0.125]
    t = make_trainer(tmp_path, 4, lr_list=[0.3, 0.2, 0.1], optimizer="adam")
    t.fit(NoisyData())
    assert csv_rows(tmp_path) == [(1, 0.3), (2, 0.2), (3, 0.1), (4, 0.1)]
    assert t.optimizer.param_groups[0]["lr"] == 0.1


def test_new_fields_at_their_defaults_keep_old_fingerprints():
    # sgd and no lr_list (the behaviour before they existed) leave the fingerprint as it was
    old = {k: v for k, v in asdict(TrainConfig()).items() if k not in ("optimizer", "lr_list")}
    assert run_fingerprint({}, asdict(TrainConfig()), {}) == run_fingerprint({}, old, {})
    assert run_fingerprint({}, asdict(TrainConfig(lr_list=[])), {}) == run_fingerprint({}, old, {})
    fp = run_fingerprint({}, asdict(TrainConfig(optimizer="adam", lr_list=[0.1, 0.01])), {})
    assert fp["optimizer"] == "adam" and fp["lr_list"] == [0.1, 0.01]


def test_switching_to_adam_is_a_changed_setting(tmp_path):
    make_trainer(tmp_path, 1).fit(NoisyData())
    again = make_trainer(tmp_path, 2, optimizer="adam")
    with pytest.raises(ConfigMismatchError, match='optimizer: stored \\(not set\\), current "adam"'):
        again.resume_default(None)


class ScriptedMetric:
    """val_fn returning the next of ``values`` as {"auc": v}, recording the model's mode and grad state."""

    def __init__(self, values):
        self.values, self.calls = list(values), []

    def __call__(self, model):
        self.calls.append((model.training, torch.is_grad_enabled()))
        return {"auc": self.values[len(self.calls) - 1]}


def make_metric_trainer(out, epochs, values, patience=0, best_window=1):
    seed_everything(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 2))
    cfg = TrainConfig(epochs=epochs, batch_size=4, lr=0.1, workers=0, device="cpu", patience=patience,
                      best_window=best_window)
    return Trainer(model, loss_fn, cfg, out, {"type": "toy"}, val_fn=ScriptedMetric(values), best_metric="auc",
                   best_mode="max")


def test_best_checkpoint_chosen_by_a_max_metric(tmp_path):
    t = make_metric_trainer(tmp_path, 4, [0.5, 0.7, 0.6, 0.65])
    t.fit(NoisyData(), NoisyData())
    assert [h["auc"] for h in t.history] == [0.5, 0.7, 0.6, 0.65]
    assert load_checkpoint(tmp_path / BEST)["epoch"] == 2      # the highest auc, though val_loss is logged too
    assert t.val_fn.calls == [(False, False)] * 4               # eval mode, no gradients
    assert [float(r["auc"]) for r in csv.DictReader(open(tmp_path / "log.csv"))] == [0.5, 0.7, 0.6, 0.65]


def test_resume_keeps_the_best_so_far(tmp_path):
    make_metric_trainer(tmp_path, 2, [0.5, 0.7]).fit(NoisyData())
    resumed = make_metric_trainer(tmp_path, 4, [0.6, 0.8])
    resumed.resume_default(None)
    assert resumed.start_epoch == 2 and resumed.best == 0.7
    resumed.fit(NoisyData())
    # epoch 3 (0.6) does not replace epoch 2's best; epoch 4 (0.8) does
    assert [h["auc"] for h in resumed.history] == [0.5, 0.7, 0.6, 0.8]
    assert load_checkpoint(tmp_path / BEST)["epoch"] == 4
    lower = make_metric_trainer(tmp_path / "b", 2, [0.5, 0.7])
    lower.best_mode, lower.best = "min", float("inf")
    lower.fit(NoisyData())
    assert load_checkpoint(tmp_path / "b" / BEST)["epoch"] == 1


def test_patience_stops_after_that_many_epochs_without_a_new_best(tmp_path, caplog):
    # auc by epoch: 0.5, 0.7 (best), 0.7 (equal: not better), 0.6 -> 2 epochs since the best: stop after epoch 4
    t = make_metric_trainer(tmp_path, 10, [0.5, 0.7, 0.7, 0.6, 0.9, 0.95], patience=2)
    with caplog.at_level("INFO"):
        t.fit(NoisyData())
    assert [h["auc"] for h in t.history] == [0.5, 0.7, 0.7, 0.6]
    assert "stopping early: no better auc for 2 epoch(s) (--patience 2); the best is epoch 2" in caplog.text
    assert load_checkpoint(tmp_path / LAST)["epoch"] == 4 and load_checkpoint(tmp_path / BEST)["epoch"] == 2
    # a re-run finds the stopped run and trains nothing; patience is not part of the recipe, so raising it resumes
    again = make_metric_trainer(tmp_path, 10, [0.9], patience=2)
    again.resume_default(None)
    assert again.fit(NoisyData()) == again.history and len(again.history) == 4 and again.val_fn.calls == []
    longer = make_metric_trainer(tmp_path, 10, [0.9, 0.8, 0.8, 0.85], patience=3)
    longer.resume_default(None)
    longer.fit(NoisyData())
    assert [h["auc"] for h in longer.history] == [0.5, 0.7, 0.7, 0.6, 0.9, 0.8, 0.8, 0.85]


def test_trailing_means_by_hand():
    assert trailing_means([1.0, 3.0, 2.0, 6.0], 1) == [1.0, 3.0, 2.0, 6.0]
    assert trailing_means([1.0, 3.0, 2.0, 6.0], 2) == [1.0, 2.0, 2.5, 4.0]
    assert trailing_means([1.0, 3.0, 2.0, 6.0], 3) == [1.0, 2.0, 2.0, 11 / 3]
    # epochs without the metric: no score of their own, left out of the later means
    assert trailing_means([None, 4.0, None, 2.0], 3) == [None, 4.0, None, 3.0]


def test_best_window_takes_the_best_mean_not_a_spike(tmp_path, caplog):
    # auc 0.5, 0.9 (a spike), 0.6, 0.7, 0.8, 0.8; means of 3: 0.5, 0.7, 0.6667, 0.7333, 0.7, 0.7667
    values = [0.5, 0.9, 0.6, 0.7, 0.8, 0.8]
    t = make_metric_trainer(tmp_path, 6, values, best_window=3)
    with caplog.at_level("INFO"):
        t.fit(NoisyData())
    assert load_checkpoint(tmp_path / BEST)["epoch"] == 6 and t.best == pytest.approx(2.3 / 3)
    assert "epoch 6: best auc so far (mean of the last 3 epochs 0.7667)" in caplog.text
    # the same values with best_window 1: the spike
    assert _best_epoch(tmp_path / "one", values, best_window=1) == 2
    # resuming rebuilds the running means from the history: epoch 4's mean (0.7333) beats epoch 2's (0.7)
    make_metric_trainer(tmp_path / "r", 3, values[:3], best_window=3).fit(NoisyData())
    resumed = make_metric_trainer(tmp_path / "r", 4, values[3:4], best_window=3)
    resumed.resume_default(None)
    assert resumed.best == pytest.approx(0.7)
    resumed.fit(NoisyData())
    assert load_checkpoint(tmp_path / "r" / BEST)["epoch"] == 4


def test_patience_counts_on_the_mean(tmp_path):
    # means of 2: 0.5, 0.7 (best), 0.65, 0.675 -> 2 epochs without a better mean: stop after epoch 4 (by single
    # values epoch 4's 0.95 would be a new best and training would go on)
    t = make_metric_trainer(tmp_path, 10, [0.5, 0.9, 0.4, 0.95, 1.0], patience=2, best_window=2)
    t.fit(NoisyData())
    assert [h["auc"] for h in t.history] == [0.5, 0.9, 0.4, 0.95]
    assert load_checkpoint(tmp_path / BEST)["epoch"] == 2


def _best_epoch(out, values, best_window):
    make_metric_trainer(out, len(values), values, best_window=best_window).fit(NoisyData())
    return load_checkpoint(out / BEST)["epoch"]


def test_patience_without_validation_warns_and_trains_every_epoch(tmp_path, caplog):
    t = make_trainer(tmp_path, 3, patience=1)
    with caplog.at_level("WARNING"):
        t.fit(NoisyData())
    assert len(t.history) == 3 and "no validation data, so nothing to stop on" in caplog.text


def test_metric_name_clash_and_missing_best_metric_are_refused(tmp_path):
    t = make_metric_trainer(tmp_path, 1, [0.5])
    t.val_fn = lambda model: {"val_loss": 1.0}
    with pytest.raises(ValueError, match="val_fn returned \\['val_loss'\\]"):
        t.fit(NoisyData())
    t = make_metric_trainer(tmp_path / "b", 1, [0.5])
    t.best_metric = "ar_100"
    with pytest.raises(ValueError, match="best_metric 'ar_100' is not in the history row"):
        t.fit(NoisyData())


def test_a_diverged_loss_stops_training_before_saving_the_epoch(tmp_path):
    """Issue 19 item 9: a loss of 6.6e19 then NaN used to exit 0 and save checkpoints."""
    trainer = make_trainer(tmp_path / "run", 3, lr=1e30, clip_gradient=None, lr_steps=[])
    with pytest.raises(DivergedError, match=r"training batch \d+: the loss is (nan|inf); training stopped before "
                                            r"this epoch was saved .* Lower --lr \(now 1e\+30\)"):
        trainer.fit(NoisyData(), None)
    assert not (tmp_path / "run" / BEST).exists()
    assert not (tmp_path / "run" / "log.json").exists()


def test_device_flag_is_checked_before_any_work():
    """Issue 19 item 12: a typo ran on the CPU, cuda without a GPU was a traceback, cuda:1 became cuda:0."""
    import argparse

    from ops.device import device_arg, resolve_device
    from ops.errors import SetupError
    with pytest.raises(argparse.ArgumentTypeError, match="'gpu': choose auto"):
        device_arg("gpu")
    assert device_arg("cuda:1") == "cuda:1"
    with pytest.raises(InputError, match="--device 'cdua': choose auto"):
        resolve_device("cdua")
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(SetupError, match="--device cuda:1: no CUDA GPU is visible"):
            resolve_device("cuda:1")
    else:
        count = torch.cuda.device_count()
        with pytest.raises(SetupError, match=f"this machine has {count} CUDA GPU"):
            resolve_device(f"cuda:{count}")
        with pytest.raises(InputError, match="under torchrun"):
            resolve_device("cuda:0", local_rank=0)
