"""The shared training loop: resume equivalence, safe checkpoints, schedule, logs."""
from __future__ import annotations

import csv
import os
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ops.engine import LAST, TrainConfig, Trainer, load_checkpoint, lr_at, seed_everything


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


def make_trainer(out, epochs):
    seed_everything(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 2))
    cfg = TrainConfig(epochs=epochs, batch_size=4, lr=0.1, lr_steps=[1], workers=0, device="cpu", iter_size=2)
    return Trainer(model, loss_fn, cfg, out, {"type": "toy"}, extra={"stats": [1.0, 2.0]})


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
