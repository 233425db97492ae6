"""The one training loop, shared by the actionness classifier and SSN.

Only the model and its loss differ between stages: a stage passes
``loss_fn(model, batch, device) -> (loss, {name: float})``.  The engine does
SGD (or Adam: ``TrainConfig.optimizer``) with a step learning-rate schedule or
an epoch-indexed ``lr_list``, gradient clipping, gradient accumulation
(``iter_size``), mixed precision and channels-last on CUDA,
DistributedDataParallel under ``torchrun`` (one process per GPU), per-epoch
validation loss and optional validation metrics (``Trainer(val_fn=...)``, e.g.
a proposal AUC; ``best_metric``/``best_mode`` choose checkpoint_best.pth),
CSV/JSON logs and checkpoints.

Checkpoint (``torch.save`` of plain containers and tensors, loadable with
``torch.load(..., weights_only=True)`` so a checkpoint cannot run code)::

    {"format": "ssn-toolkit-checkpoint", "version": 1,
     "model_config": dict,        # rebuilds the model: ops.models.builder.build_model(model_config)
     "train_config": dict, "epoch": int (epochs completed), "state_dict": ..., "optimizer": ...,
     "rng": {"torch": ByteTensor, "cuda": [ByteTensor], "python": tuple}, "history": [dict per epoch],
     "extra": dict,               # stage data, e.g. SSN regression statistics
     "fingerprint": dict}         # what decides the weights, flat (run_fingerprint); absent before it existed

``checkpoint_last.pth`` is rewritten after an epoch once ``CHECKPOINT_EVERY_S`` have passed since the last
write, after a new best and after the last epoch.  Resuming restores model, optimizer, epoch and every RNG,
so training N epochs
in one go or in several resumed runs gives the same weights (on CPU, bit for bit).
Re-running a command resumes ``OUTPUT/checkpoint_last.pth`` only when its
fingerprint matches the current run (:meth:`Trainer.resume_default`); a run
that changed a setting is refused rather than handed the stale model.
"""
from __future__ import annotations

import argparse

import csv
import hashlib
import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ops.device import DEVICE_HELP, device_arg, resolve_device
from ops.errors import InputError, nonnegative_int, positive_int
from ops.formats.frames import read_meta
from ops.io import atomic_open, atomic_write_json
from ops.log import progress
from ops.models.backbones import MODALITIES
from ops.train.transforms import NUM_CROPS

logger = logging.getLogger(__name__)
CHECKPOINT_FORMAT = "ssn-toolkit-checkpoint"
# what every reader relies on (resuming also reads epoch, history and rng, checked there)
CHECKPOINT_KEYS = {"model_config": dict, "train_config": dict, "state_dict": dict, "extra": dict}
LAST, BEST = "checkpoint_last.pth", "checkpoint_best.pth"
# checkpoint_last.pth is rewritten at most this often (and after the last epoch): a kill loses at most this much
# training, and a large model is not written every short epoch (Decouple-SSAD's 87 M parameters with Adam's
# state: 1 GB, about 5 s a write here, as long as half an epoch of the demo)
CHECKPOINT_EVERY_S = 60.0


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 4
    lr: float = 0.001
    lr_steps: list = field(default_factory=list)   # epochs where lr is multiplied by lr_gamma
    lr_gamma: float = 0.1
    lr_list: list | None = None                    # lr of epoch e = lr_list[min(e, len - 1)]; overrides lr/lr_steps
    optimizer: str = "sgd"                         # "sgd" (momentum) | "adam" (betas 0.9/0.999, eps 1e-8)
    momentum: float = 0.9                          # SGD only
    weight_decay: float = 5e-4
    clip_gradient: float | None = 20.0             # max total gradient norm; None = off
    iter_size: int = 1                             # batches accumulated per optimizer step
    workers: int = 2
    amp: bool = True                               # mixed precision (CUDA only)
    channels_last: bool = True                     # (CUDA only)
    seed: int = 0
    device: str = "auto"
    patience: int = 0                              # stop after this many epochs without a new best; 0 = off
    best_window: int = 1                           # best = best mean of the metric over this many epochs to date


OPTIMIZERS = ("sgd", "adam")


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch``: ``lr x gamma^(number of steps <= epoch)``, or
    ``lr_list[min(epoch, len(lr_list) - 1)]`` when ``cfg.lr_list`` is given (the last value holds on).

    It does not depend on ``cfg.epochs``, which is why ``epochs`` is left out of
    the resume fingerprint: a schedule relative to the run's length (cosine,
    "drop at 50 %") would have to put it back (see RUNTIME_FIELDS).
    """
    if cfg.lr_list:
        return float(cfg.lr_list[min(epoch, len(cfg.lr_list) - 1)])
    return cfg.lr * cfg.lr_gamma ** sum(epoch >= s for s in cfg.lr_steps)


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum, or Adam (betas 0.9/0.999, eps 1e-8) with ``weight_decay`` as an L2 term added to the
    gradient, as ``torch.optim.Adam`` does (not AdamW's decoupled decay)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        params = list(params)
        # the fused kernel: same update, one pass over the weights (3.6x faster a step for Decouple-SSAD's
        # 87 M parameters on the CPU); the loop implementation where the fused one is not built
        fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point
                    for group in params for p in (group["params"] if isinstance(group, dict) else [group]))
        try:
            return torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay,
                                    fused=fused or None)
        except RuntimeError:
            return torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay)
    raise InputError(f"optimizer {cfg.optimizer!r}: unknown; choose one of {', '.join(OPTIMIZERS)}")


# --------------------------------------------------------------------------- resume fingerprint

# TrainConfig fields left out of the fingerprint, because changing them keeps the training recipe:
#   epochs        the schedule (lr_at) ignores it, so N epochs are the first N of a longer run and raising
#                 --epochs continues; fewer epochs than already trained is refused on its own (config_differences)
#   workers       data-loading processes: a different random stream for augmentation, the same recipe
#   device        where the same maths runs (amp, a precision choice, stays in)
#   channels_last memory layout only
#   patience      like epochs, only where the run stops: the epochs trained are the same either way
#   best_window   only which epoch is copied to checkpoint_best.pth
RUNTIME_FIELDS = ("epochs", "workers", "device", "channels_last", "patience", "best_window")
# Fields added after checkpoints existed, left out of the fingerprint while they hold these values (the behaviour
# before they existed), so every earlier SSN/classifier checkpoint keeps its fingerprint and still resumes.
LATER_DEFAULTS = {"optimizer": ("sgd",), "lr_list": (None, [])}
# ``extra`` entries left out: regression statistics are computed from the training list (whose digest is
# compared; float noise across library versions must not refuse a resume); ``paths`` only records where
# the lists were (moving a file changes nothing learned; the content digests under ``data`` are compared)
UNCOMPARED_EXTRA = ("reg_stats", "paths")


def _flatten(d: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values), so a difference names its leaf."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def run_fingerprint(model_config: dict, train_config: dict, extra: dict, world_size: int | None = None) -> dict:
    """Everything that decides the learned weights, as a flat JSON-valued dict.

    Keys: TrainConfig fields minus RUNTIME_FIELDS (``"lr"``) and minus LATER_DEFAULTS
    fields at their default (``"optimizer"`` appears for Adam only), ``"world_size"``
    (processes: the effective batch is world_size x batch_size; None for old
    checkpoints, which did not record it), ``"model.<key>"`` for the model config
    (``"model.backbone.arch"``) and ``extra`` minus UNCOMPARED_EXTRA
    (``"sampling.fg_iou_thresh"``, ``"data.train_list"``).  Values pass through
    JSON so tuples and lists, or 1 and 1.0, compare equal.
    """
    train = {k: v for k, v in train_config.items() if k not in RUNTIME_FIELDS
             and not (k in LATER_DEFAULTS and v in LATER_DEFAULTS[k])}
    if world_size is not None:
        train["world_size"] = world_size
    stage = {k: v for k, v in extra.items() if k not in UNCOMPARED_EXTRA}
    flat = {**_flatten(train), **_flatten({"model": model_config}), **_flatten(stage)}
    return json.loads(json.dumps(flat, default=str))


def fingerprint_differences(stored: dict, current: dict, stored_keys_only: bool = False) -> list[str]:
    """``"lr: stored 0.01, current 0.5"`` for each entry that differs or is set on one side only.

    ``stored_keys_only``: skip entries only in ``current``, for a checkpoint
    written before fingerprints, which did not record those settings.
    """
    def show(key, d):
        return json.dumps(d[key]) if key in d else "(not set)"

    keys = list(stored) + [k for k in current if k not in stored and not stored_keys_only]
    return [f"{k}: stored {show(k, stored)}, current {show(k, current)}"
            for k in keys if k not in current or k not in stored or current[k] != stored[k]]


def file_digest(path: str | os.PathLike | None) -> str | None:
    """First 16 hex digits of the file's SHA-256 (None for None): catches a list rewritten under the same name."""
    if path is None:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def extraction_settings(folders, modality: str) -> list[dict]:
    """The distinct frame-extraction settings (``meta.json``) of ``folders`` that ``modality`` reads, sorted.

    RGB and RGBDiff (made from the RGB frames): jpeg_quality; Flow also flow_algorithm, flow_bound and frame_step, so
    flow re-extracted in place with another algorithm changes the fingerprint.
    A folder without ``meta.json`` (DenseFlow) gives ``{"meta.json": None}``.
    """
    keys = ("jpeg_quality",) if modality != "Flow" else ("flow_algorithm", "flow_bound", "frame_step", "jpeg_quality")
    found = set()
    for folder in folders:
        meta = read_meta(folder)
        found.add(json.dumps({k: meta.get(k) for k in keys} if meta is not None else {"meta.json": None},
                             sort_keys=True))
    return [json.loads(s) for s in sorted(found)]


def held_out(videos: list[str], fraction: float) -> set[str]:
    """A stable ``fraction`` of ``videos`` chosen by the hash of their names (the same on every run)."""
    if not 0 <= fraction < 1:
        raise InputError(f"--holdout must be in [0, 1), got {fraction}")
    ranked = sorted(videos, key=lambda v: hashlib.sha256(v.encode()).hexdigest())
    return set(ranked[:int(round(fraction * len(videos)))])


def data_extra(modality: str, videos, train_list, val_list=None, init_from=None) -> dict:
    """``extra`` entries describing a training stage's data (videos: the training list's blocks).

    ``data`` (compared on resume): content digests of the training and
    validation lists (the validation list decides the logged losses and the best
    checkpoint) and of the ``--init_from`` checkpoint, plus the frames'
    extraction settings.  ``paths`` (recorded, not compared): where they were.
    """
    files = {"train_list": train_list, "val_list": val_list, "init_from": init_from}
    data = {k: file_digest(v) for k, v in files.items()}
    data["frames"] = extraction_settings([v.video for v in videos], modality)
    return {"data": data, "paths": {k: None if v is None else str(v) for k, v in files.items()}}


# --------------------------------------------------------------------------- distributed helpers


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_runtime(device: str = "auto") -> Runtime:
    """Pick the device; join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(resolve_device(device, local if world > 1 else None))
    use_cuda = dev.type == "cuda"
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(dev)
    return Runtime(dev, dist.get_rank() if world > 1 else 0, world, local)


def seed_everything(seed: int, rank: int = 0) -> None:
    random.seed(seed + rank)
    torch.manual_seed(seed + rank)


def get_rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    state["cuda"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer, epoch: int, model_config: dict,
                    train_config: TrainConfig, history: list, extra: dict | None = None,
                    fingerprint: dict | None = None) -> None:
    """Write a checkpoint atomically (layout in the module docstring; ``fingerprint`` defaults to a
    single-process :func:`run_fingerprint` of the configs)."""
    module = model.module if hasattr(model, "module") else model
    if fingerprint is None:
        fingerprint = run_fingerprint(model_config, asdict(train_config), extra or {}, 1)
    ckpt = {"format": CHECKPOINT_FORMAT, "version": 1, "model_config": model_config,
            "train_config": asdict(train_config), "epoch": epoch, "state_dict": module.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "rng": get_rng_state(), "history": history, "extra": extra or {}, "fingerprint": fingerprint}
    with atomic_open(path, "wb") as f:
        torch.save(ckpt, f)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint with torch's weights-only loader; errors name the file."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path} does not exist") from None
    except Exception as e:  # the weights-only unpickler refuses anything that could run code
        first = next((line for line in str(e).splitlines() if line.strip()), "")   # torch's message runs over many lines
        raise InputError(f"{path}: not a loadable checkpoint ({type(e).__name__}: {first}); pass a "
                         "checkpoint_*.pth written by binary_train.py or ssn_train.py") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not a checkpoint of this toolkit (no model config inside)")
    wrong = [f"{key} ({'missing' if key not in ckpt else type(ckpt[key]).__name__}, expected {kind.__name__})"
             for key, kind in CHECKPOINT_KEYS.items() if not isinstance(ckpt.get(key), kind)]
    if wrong or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in ckpt["state_dict"].items()):
        what = ", ".join(wrong) if wrong else "state_dict holds something other than named tensors"
        raise InputError(f"{path}: a damaged checkpoint: {what}; train it again or use another checkpoint_*.pth")
    return ckpt


def load_weights(model: torch.nn.Module, ckpt: dict, path: str | os.PathLike) -> torch.nn.Module:
    """Load ``ckpt``'s weights into ``model`` (built from its config); a missing or misshapen tensor is one line."""
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:   # torch lists every key over many lines: the first problem names the damage
        detail = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
        raise InputError(f"{path}: its weights do not fit the model its config describes ({detail}); the file is "
                         "damaged or was edited: train it again or use another checkpoint_*.pth") from None
    return model


# --------------------------------------------------------------------------- the loop


def make_loader(dataset: Dataset, cfg: TrainConfig, rt: Runtime, shuffle: bool, collate_fn=None) -> DataLoader:
    """The training/validation DataLoader of :meth:`Trainer.fit` (a DistributedSampler under torchrun)."""
    sampler = DistributedSampler(dataset, shuffle=shuffle, seed=cfg.seed) if rt.world_size > 1 else None
    return DataLoader(dataset, batch_size=cfg.batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=cfg.workers, pin_memory=rt.device.type == "cuda", drop_last=False,
                      collate_fn=collate_fn, persistent_workers=False)


def _write_logs(out_dir: Path, history: list) -> None:
    """Rewrite log.json and log.csv from the whole history, atomically.

    Rewritten rather than appended: after ``--restart`` or a resume from an
    older checkpoint the history is shorter than the files, whose later rows
    belong to another run.  Columns: every key in order of first appearance.
    """
    atomic_write_json(out_dir / "log.json", history)
    columns = list(dict.fromkeys(k for row in history for k in row))
    with atomic_open(out_dir / "log.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


def read_training_log(path: str | os.PathLike) -> list[dict]:
    """The per-epoch rows of a ``log.json`` written by :func:`_write_logs` (a list of objects with ``epoch``)."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not a training log ({e.msg} at line {e.lineno}); give OUTPUT/log.json") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "epoch" in r for r in rows):
        raise InputError(f"{path}: not a training log (a list of per-epoch objects with 'epoch')")
    return rows


def trailing_means(values: list, window: int) -> list:
    """Entry i: the mean of the entries i-window+1 .. i of ``values`` that are not None (fewer at the start), or
    None where entry i is None.  ``values``: a metric per epoch (None where an epoch logged none).

    The score that chooses checkpoint_best.pth: a validation metric measured on a few videos jumps from epoch to
    epoch, and the best single epoch is often a spike the next epochs do not confirm (issue 21: the 8-video
    validation mAP of the demo's Flow SSN peaked at epoch 19, which scored 8 points below epoch 40 on the test
    videos; the mean of 5 epochs chose epoch 40).  ``window`` 1 gives the values themselves.
    """
    out = []
    for i, value in enumerate(values):
        recent = [v for v in values[max(0, i - window + 1):i + 1] if v is not None]
        out.append(None if value is None else sum(recent) / len(recent))
    return out


class DivergedError(InputError):
    """The loss became NaN or infinite: nothing of the epoch is saved, the message says what to change."""


class ConfigMismatchError(InputError):
    """OUTPUT/checkpoint_last.pth was trained with other settings than the current run."""


class Trainer:
    """Runs epochs of ``loss_fn`` over a dataset with checkpointing; see the module docstring."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable, cfg: TrainConfig, out_dir: str | os.PathLike,
                 model_config: dict, extra: dict | None = None, param_groups=None, collate_fn=None,
                 val_fn: Callable | None = None, best_metric: str = "val_loss", best_mode: str = "min",
                 checkpoint_every_s: float = CHECKPOINT_EVERY_S):
        """``val_fn(model) -> {name: float}``: called on the main process after each epoch (model in eval
        mode, no gradients); its entries join the history row under their own names.  ``best_metric``: the
        history key that chooses checkpoint_best.pth (``"val_loss"``, or one of val_fn's names such as
        ``"auc"``), lower (``best_mode="min"``) or higher (``"max"``) being better.  ``checkpoint_every_s``:
        checkpoint_last.pth (and the logs) after an epoch when this many seconds have passed since the last
        write, after a new best, and after the last epoch; 0: after every epoch."""
        if best_mode not in ("min", "max"):
            raise ValueError(f"best_mode {best_mode!r}: choose min or max")
        self.cfg, self.loss_fn, self.model_config = cfg, loss_fn, model_config
        self.extra, self.collate_fn = extra or {}, collate_fn
        self.val_fn, self.best_metric, self.best_mode = val_fn, best_metric, best_mode
        self.checkpoint_every_s, self._last_write = checkpoint_every_s, time.monotonic()
        self.out_dir = Path(out_dir)
        self.rt = setup_runtime(cfg.device)
        self.amp = cfg.amp and self.rt.device.type == "cuda"
        model = model.to(self.rt.device)
        if cfg.channels_last and self.rt.device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.optimizer = make_optimizer(param_groups if param_groups is not None else model.parameters(), cfg)
        self.history: list[dict] = []
        self.start_epoch = 0
        self.best = self._worst()
        self.fingerprint = run_fingerprint(model_config, asdict(cfg), self.extra, self.rt.world_size)

    def _worst(self) -> float:
        return math.inf if self.best_mode == "min" else -math.inf

    def _better(self, value, than: float) -> bool:
        if value is None:
            return False
        return value < than if self.best_mode == "min" else value > than

    def _scores(self, history: list) -> list:
        """What chooses the best epoch, one per row of ``history``: ``best_metric`` averaged over the last
        ``cfg.best_window`` epochs (:func:`trailing_means`; None where a row has no ``best_metric``)."""
        return trailing_means([row.get(self.best_metric) for row in history], self.cfg.best_window)

    def _best_of(self, history: list) -> float:
        """The best score (:meth:`_scores`) in ``history`` (the worst possible value when none is logged)."""
        best = self._worst()
        for score in self._scores(history):
            if self._better(score, best):
                best = score
        return best

    def config_differences(self, ckpt: dict) -> list[str]:
        """What of ``ckpt``'s training differs from this run, one ``"name: stored X, current Y"`` each.

        Checkpoints without a fingerprint (older versions) are compared on the
        settings they store: the fingerprint of their configs, entries they lack
        skipped.  Also listed: more epochs trained than ``cfg.epochs`` asks for,
        which resuming cannot undo.
        """
        old = "fingerprint" not in ckpt
        stored = run_fingerprint(ckpt["model_config"], ckpt["train_config"], ckpt.get("extra", {})) if old \
            else ckpt["fingerprint"]
        diffs = fingerprint_differences(stored, self.fingerprint, stored_keys_only=old)
        if ckpt["epoch"] > self.cfg.epochs:
            diffs.append(f"epochs: stored {ckpt['epoch']} trained, current {self.cfg.epochs} "
                         "(training cannot be undone)")
        return diffs

    def resume(self, path: str | os.PathLike, strict: bool = False) -> None:
        """Restore model, optimizer, epoch, history and RNG from a checkpoint.

        A checkpoint trained with other settings (:meth:`config_differences`)
        raises :class:`ConfigMismatchError` when ``strict``, else is resumed with
        a warning (the user named it: e.g. continuing a run at a lower lr).
        """
        ckpt = load_checkpoint(path, map_location=self.rt.device)
        if not (isinstance(ckpt.get("epoch"), int) and isinstance(ckpt.get("history"), list)
                and isinstance(ckpt.get("rng"), dict)):
            raise InputError(f"{path}: a damaged checkpoint (epoch, history or rng missing): it cannot be resumed; "
                             "pass --restart to train from scratch")
        diffs = self.config_differences(ckpt)
        if diffs and strict:
            raise ConfigMismatchError(
                f"{path} was trained with other settings than this run: {'; '.join(diffs)}. Pass --restart to "
                f"train from scratch in {self.out_dir}, or choose another --output (--resume {path} continues "
                "it with the new settings)")
        if diffs:
            logger.warning("%s was trained with other settings; continuing it with the current ones: %s",
                           path, "; ".join(diffs))
        load_weights(self.model, ckpt, path)
        if ckpt.get("optimizer"):
            self.optimizer.load_state_dict(ckpt["optimizer"])
        self.start_epoch, self.history = ckpt["epoch"], list(ckpt["history"])
        self.best = self._best_of(self.history)
        set_rng_state(ckpt["rng"])
        logger.info("resumed %s at epoch %d", path, self.start_epoch)

    def resume_default(self, explicit: str | os.PathLike | None, restart: bool = False) -> None:
        """Resume from ``explicit`` (warning on other settings), else from ``out_dir/checkpoint_last.pth``
        if an earlier run of the same settings left one (ConfigMismatchError if its settings differ)."""
        if explicit is not None:
            self.resume(explicit)
        elif not restart and (self.out_dir / LAST).exists():
            logger.info("found %s: resuming (pass --restart to start over)", self.out_dir / LAST)
            self.resume(self.out_dir / LAST, strict=True)
        else:
            # from scratch: an earlier run's best checkpoint must not outlive it (the scripts take the best when
            # there is one, and a run without validation data writes none)
            (self.out_dir / BEST).unlink(missing_ok=True)
            return
        if self.start_epoch >= self.cfg.epochs:
            logger.info("%s: all %d epochs are trained, nothing left to train (pass --restart to train again "
                        "from scratch, or a larger --epochs to continue)", explicit or self.out_dir / LAST,
                        self.start_epoch)

    def _step_model(self):
        return torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[self.rt.device.index]
                                                         if self.rt.device.type == "cuda" else None) \
            if self.rt.world_size > 1 else self.model

    def _run_epoch(self, model, loader: DataLoader, train: bool, progress) -> dict:
        totals: dict[str, float] = {}
        count = 0
        model.train(train)
        if train and hasattr(self.model, "train_mode_hook"):
            self.model.train_mode_hook()    # e.g. partial BatchNorm freezing
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(progress(loader)):
            with torch.set_grad_enabled(train), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
                loss, logs = self.loss_fn(model, batch, self.rt.device)
            if not torch.isfinite(loss.detach()):
                raise DivergedError(f"{'training' if train else 'validation'} batch {i + 1}: the loss is "
                                    f"{float(loss.detach())}; training stopped before this epoch was saved (the "
                                    f"last saved epoch is in {self.out_dir / LAST}, if any). Lower --lr (now "
                                    f"{self.optimizer.param_groups[0]['lr']:g}), keep gradient clipping on, or "
                                    "check the inputs for NaN")
            if train:
                (loss / self.cfg.iter_size).backward()
                if (i + 1) % self.cfg.iter_size == 0 or i + 1 == len(loader):
                    if self.cfg.clip_gradient:
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_gradient)
                    self.optimizer.step()
                    self.optimizer.zero_grad(set_to_none=True)
            for k, v in {"loss": float(loss.detach()), **logs}.items():
                totals[k] = totals.get(k, 0.0) + float(v)
            count += 1
        return {k: v / max(count, 1) for k, v in totals.items()}

    def train_pass(self, batches, progress=iter) -> dict:
        """One training pass over any iterable of batches (a loader from :func:`make_loader`, or batches
        held in memory), with exactly the step of :meth:`fit`; returns the mean logs.  For benchmarks."""
        return self._run_epoch(self._step_model(), batches, True, progress)

    def fit(self, train_set: Dataset, val_set: Dataset | None = None) -> list[dict]:
        """Train from ``start_epoch`` to ``cfg.epochs``; checkpoint as :meth:`_save` says (main process)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.start_epoch == 0 and self.rt.is_main and (self.out_dir / BEST).exists():
            # training from scratch: without a validation score this run never replaces an earlier run's best
            logger.info("removing %s of an earlier run", self.out_dir / BEST)
            (self.out_dir / BEST).unlink()
        if self.cfg.patience and val_set is None and self.val_fn is None:
            logger.warning("--patience %d: no validation data, so nothing to stop on; training every epoch",
                           self.cfg.patience)
        if self._stopped_early():
            if self.rt.is_main:
                self._log_stop()
            return self.history
        model = self._step_model()
        train_loader = make_loader(train_set, self.cfg, self.rt, True, self.collate_fn)
        val_loader = make_loader(val_set, self.cfg, self.rt, False, self.collate_fn) if val_set is not None else None
        for epoch in range(self.start_epoch, self.cfg.epochs):
            lr = lr_at(self.cfg, epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr * group.get("lr_mult", 1.0)
            if isinstance(train_loader.sampler, DistributedSampler):
                train_loader.sampler.set_epoch(epoch)
            start = time.perf_counter()

            def bar(it, desc=f"epoch {epoch + 1}/{self.cfg.epochs}"):
                return progress(it, desc=desc, leave=False, disable=not self.rt.is_main)

            train_logs = self._run_epoch(model, train_loader, True, bar)
            val_logs = self._run_epoch(model, val_loader, False, lambda it: bar(it, "validation")) \
                if val_loader is not None else {}
            row = {"epoch": epoch + 1, "lr": lr, "seconds": round(time.perf_counter() - start, 3),
                   **{f"train_{k}": v for k, v in train_logs.items()},
                   "val_loss": val_logs.get("loss"), **{f"val_{k}": v for k, v in val_logs.items() if k != "loss"}}
            if self.val_fn is not None and self.rt.is_main:
                row.update(self._validate(row))
            if self.rt.is_main and self.best_metric not in row:
                raise ValueError(f"best_metric {self.best_metric!r} is not in the history row {sorted(row)}")
            self.history.append(row)
            stop = self._stopped_early()
            if self.rt.is_main:
                self._save(epoch + 1, row, force=stop)
            if stop:
                if self.rt.is_main:
                    self._log_stop()
                break
        return self.history

    def epochs_since_best(self) -> int | None:
        """Epochs logged after the best score (:meth:`_scores`; the first of equals); None while none is logged."""
        values = self._scores(self.history)
        best, where = self._worst(), None
        for i, value in enumerate(values):
            if self._better(value, best):
                best, where = value, i
        return None if where is None else len(values) - 1 - where

    def _stopped_early(self) -> bool:
        """Whether ``cfg.patience`` epochs have passed without a new best (decided on the main process, where
        val_fn runs, and shared with every rank so all stop together)."""
        if not self.cfg.patience:
            return False
        since = self.epochs_since_best() if self.rt.is_main else None
        stop = since is not None and since >= self.cfg.patience
        if self.rt.world_size > 1:
            flag = torch.tensor([int(stop)], device=self.rt.device)
            dist.broadcast(flag, 0)
            stop = bool(flag.item())
        return stop

    def _log_stop(self) -> None:
        since = self.epochs_since_best()
        logger.info("stopping early: no better %s for %d epoch(s) (--patience %d); the best is epoch %d, in %s",
                    self.best_metric, since, self.cfg.patience, len(self.history) - since, BEST)

    def _validate(self, row: dict) -> dict:
        """``val_fn``'s metrics as plain floats; a name that is already a column of the row is refused."""
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():   # full precision unless val_fn asks for autocast: metrics compare epochs
            metrics = self.val_fn(self.model)
        self.model.train(was_training)
        clash = sorted(set(metrics) & set(row))
        if clash:
            raise ValueError(f"val_fn returned {clash}, names the history row already has; rename them")
        return {k: float(v) for k, v in metrics.items()}

    def _save(self, epoch: int, row: dict, force: bool = False) -> None:
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                                                        if isinstance(v, float) and k != "epoch"))
        score = self._scores(self.history)[-1]     # the row was appended: score it with the epochs before
        better = self._better(score, self.best)
        due = time.monotonic() - self._last_write >= self.checkpoint_every_s
        if better or due or force or epoch >= self.cfg.epochs:
            # checkpoint first: a kill between the two must not leave a logged epoch that resume repeats; the
            # logs go with the checkpoint, so they never hold an epoch a resume would train again
            save_checkpoint(self.out_dir / LAST, self.model, self.optimizer, epoch, self.model_config, self.cfg,
                            self.history, self.extra, self.fingerprint)
            _write_logs(self.out_dir, self.history)
            self._last_write = time.monotonic()
        if better:
            self.best = score
            mean = f"mean of the last {self.cfg.best_window} epochs " if self.cfg.best_window > 1 else ""
            logger.info("epoch %d: best %s so far (%s%.4g): writing %s", epoch, self.best_metric, mean, self.best,
                        BEST)
            save_checkpoint(self.out_dir / BEST, self.model, self.optimizer, epoch, self.model_config, self.cfg,
                            self.history, self.extra, self.fingerprint)


# --------------------------------------------------------------------------- command-line flags shared by training stages


def add_train_args(parser, epochs: int = 10, lr: float = 0.001, batch_size: int = 4, optimizer: str | None = None,
                   weight_decay: float = 5e-4, lr_steps: list | None = None, lr_gamma: float = 0.1,
                   clip_gradient: float = 20.0, best_window: int = 1) -> None:
    """Flags of :class:`TrainConfig` (the same in binary_train.py and ssn_train.py).

    ``optimizer``: also offer ``--optimizer`` (with this default) and ``--lr_list`` -- the feature-based
    methods (BMN, BSN, SSAD) train with Adam and per-epoch lr lists; the frame stages keep SGD and no flag.
    """
    g = parser.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=epochs)
    g.add_argument("-b", "--batch_size", type=int, default=batch_size, help="videos per batch")
    g.add_argument("--lr", type=float, default=lr)
    g.add_argument("--lr_steps", type=int, nargs="*", default=list(lr_steps or []),
                   help="epochs where lr drops by --lr_gamma")
    g.add_argument("--lr_gamma", type=float, default=lr_gamma)
    if optimizer is not None:
        g.add_argument("--optimizer", choices=OPTIMIZERS, default=optimizer)
        g.add_argument("--lr_list", type=float, nargs="*", default=None,
                       help="lr of each epoch (the last one holds on); replaces --lr and --lr_steps")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    g.add_argument("--weight_decay", type=float, default=weight_decay, help="L2 term (SGD and Adam alike)")
    g.add_argument("--clip_gradient", type=float, default=clip_gradient, help="max gradient norm; 0 = off")
    g.add_argument("--iter_size", type=int, default=1, help="batches accumulated per optimizer step")
    g.add_argument("--patience", type=nonnegative_int, default=0,
                   help="stop when the validation metric that chooses checkpoint_best.pth has not improved for "
                        "this many epochs (needs validation data); 0 = train every epoch")
    g.add_argument("--best_window", type=positive_int, default=best_window,
                   help="checkpoint_best.pth is the epoch where the validation metric averaged over the last "
                        "this many epochs is best, so that one lucky epoch on a small validation set is not "
                        "taken; --patience counts on the same average; 1 = each epoch's own value")
    g.add_argument("-j", "--workers", type=nonnegative_int, default=2, help="data-loading processes")
    g.add_argument("--no_amp", action="store_true", help="full precision on CUDA")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
    g.add_argument("--resume", type=Path, default=None,
                   help="checkpoint to continue from, with the current settings even if it was trained with "
                        "others (default: OUTPUT/checkpoint_last.pth when it exists and its settings match)")
    g.add_argument("--restart", action="store_true",
                   help="train from scratch, ignoring an existing OUTPUT/checkpoint_last.pth")


def add_num_crops_arg(parser) -> None:
    """``--num_crops`` of the scoring scripts (binary_test.py, ssn_test.py, detect.py)."""
    parser.add_argument("--num_crops", type=int, default=1, choices=NUM_CROPS,
                        help="1 centre, 5 corners + centre, 10 with their mirrors (not for models trained "
                             "without flips)")


def train_config_from_args(args) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_steps=list(args.lr_steps),
                       lr_gamma=args.lr_gamma, momentum=args.momentum, weight_decay=args.weight_decay,
                       clip_gradient=args.clip_gradient or None, iter_size=args.iter_size, workers=args.workers,
                       amp=not args.no_amp, seed=args.seed, device=args.device, patience=getattr(args, "patience", 0),
                       best_window=getattr(args, "best_window", 1),
                       optimizer=getattr(args, "optimizer", "sgd"), lr_list=getattr(args, "lr_list", None) or None)


def add_stage_args(parser, training: bool, output_help: str = "") -> None:
    """Positional dataset and modality, then the list/checkpoint/output flags of a training or scoring stage."""
    parser.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    parser.add_argument("modality", choices=MODALITIES)
    if training:
        parser.add_argument("--train_list", type=Path, required=True, help="frame-based proposal list (training)")
        parser.add_argument("--val_list", type=Path, default=None, help="frame-based list for the validation loss")
        parser.add_argument("--output", type=Path, required=True, help="folder for checkpoints and logs")
        parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                            help="random horizontal flips (default: the preset's augmentation.flip)")
        return
    parser.add_argument("proposal_list", type=Path, help="frame-based list naming the videos (and proposals)")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("output", type=Path, help=output_help)
    parser.add_argument("--frame_interval", type=positive_int, default=6, help="score every k-th frame")
    add_num_crops_arg(parser)
    parser.add_argument("--chunk", type=positive_int, default=32, help="frames per backbone batch")
    parser.add_argument("-j", "--workers", type=nonnegative_int, default=2, help="frame-decoding processes")
    parser.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
