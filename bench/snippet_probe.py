"""Do a stream's snippet features show how an action begins and ends?  A linear probe (issue 21).

Example (a finished synthetic WORK folder; features of stage 6's Flow SSN backbone, both subsets)::

    python extract_features.py synthetic_wave WORK/frames WORK/probe_features --modality Flow \\
        --checkpoint WORK/ssn_Flow/checkpoint_last.pth --annotations WORK/data/annotations \\
        --subset validation test
    python bench/snippet_probe.py WORK/probe_features Flow --generation WORK/data/generation.json

A synthetic action fades in (its first 15 % of the path, ``ops.video.synthetic.FADE``: the actor grows) and
fades out (its last 15 %: it shrinks); a distractor is the first or last 25-45 % of an action, with one fade,
cut off abruptly at its other end.  What tells them apart is the fades, so the question is whether a
backbone's snippet features hold them.  Every feature row (its instant from the feature record) gets the
phase of the drawn event it falls in (:func:`row_phases`): ``fade-in``, ``middle``, ``fade-out`` of an action;
``cut``: a distractor's rows outside its fade (the actor at full size, as in an action's middle);
``distractor fade``; ``background``.  For each task below a class-balanced multinomial logistic regression
(L2 1e-3 on standardised features, LBFGS) is fit on the ``--train_subset``'s rows and scored on the
``--subset``'s; printed: balanced accuracy (the mean of the per-class recalls; chance = 1 / classes) on both.

- ``fade-in / middle / fade-out``: where in an action a snippet lies;
- ``middle / cut``: an action's middle against a distractor's full-size part;
- ``fade-out / cut``: how an action ends against the last moments before a distractor's cut.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops.formats.features import read_features, rows_to_seconds  # noqa: E402
from ops.video.synthetic import FADE, GENERATION_NAME, read_generation_events  # noqa: E402

PHASES = ("background", "fade-in", "middle", "fade-out", "cut", "distractor fade")
BACKGROUND, FADE_IN, MIDDLE, FADE_OUT, CUT, DISTRACTOR_FADE = range(len(PHASES))
TASKS = {"fade-in / middle / fade-out": (FADE_IN, MIDDLE, FADE_OUT), "middle / cut": (MIDDLE, CUT),
         "fade-out / cut": (FADE_OUT, CUT)}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("features", type=Path, help="feature root of extract_features.py: FEATURES/<stream>/<video>.npy")
    p.add_argument("stream", help="the stream folder under FEATURES (RGB, Flow)")
    p.add_argument("--generation", type=Path, required=True, help=f"the dataset's {GENERATION_NAME}")
    p.add_argument("--train_subset", default="validation")
    p.add_argument("--subset", default="test")
    return p


def row_phases(t: np.ndarray, t_start: np.ndarray, t_end: np.ndarray, kind: np.ndarray, u0: np.ndarray,
               u1: np.ndarray, fade: float = FADE) -> np.ndarray:
    """Phase code (index of :data:`PHASES`) of each of one video's rows.

    t (R,) row instants, seconds; t_start, t_end (E,) its events' bounds, seconds; kind (E,) ``action``,
    ``start`` or ``end``; u0, u1 (E,) the part of the path each event shows (0..1).  A row in an event lies at
    path position ``u = u0 + (t - t_start) / (t_end - t_start) x (u1 - u0)``; ``u < fade`` is a fade-in,
    ``u >= 1 - fade`` a fade-out.  Rows outside every event (events do not overlap) are background."""
    t = np.asarray(t, np.float64)[:, None]
    length = np.maximum(np.asarray(t_end, np.float64) - t_start, 1e-9)
    inside = (t >= t_start) & (t < t_end)                                            # (R, E)
    u = u0 + (t - t_start) / length * (np.asarray(u1) - u0)
    faded = (u < fade) | (u >= 1 - fade)
    action = np.asarray(kind) == "action"
    code = np.where(action, np.where(u < fade, FADE_IN, np.where(u >= 1 - fade, FADE_OUT, MIDDLE)),
                    np.where(faded, DISTRACTOR_FADE, CUT))
    code = np.where(inside, code, BACKGROUND)
    return code.max(axis=1) if code.shape[1] else np.zeros(len(t), np.int64)


def subset_rows(features: Path, stream: str, record: dict, subset: str) -> tuple[np.ndarray, np.ndarray]:
    """Features (R, C) and phases (R,) of every row of the subset's videos."""
    ev = record["events"]
    xs, ys = [], []
    for video in sorted(v for v, s in record["videos"].items() if s == subset):
        x, rec = read_features(features, stream, video)
        mine = ev["video"] == video
        ys.append(row_phases(rows_to_seconds(rec, np.arange(len(x))), ev["t_start"][mine], ev["t_end"][mine],
                             ev["kind"][mine], ev["u0"][mine], ev["u1"][mine]))
        xs.append(x)
    if not xs:
        raise SystemExit(f"snippet_probe: error: no {subset} videos in the generation record")
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def balanced_accuracy(pred: np.ndarray, target: np.ndarray, num_classes: int) -> float:
    """Mean over the classes present in ``target`` of the share of their rows predicted right."""
    recalls = [float((pred[target == c] == c).mean()) for c in range(num_classes) if (target == c).any()]
    return float(np.mean(recalls)) if recalls else float("nan")


def probe(x_train, y_train, x_test, y_test, classes) -> tuple[float, float]:
    """Fit the linear probe on the rows of ``classes`` (phase codes); balanced accuracy on train and test."""
    keep_tr, keep_te = np.isin(y_train, classes), np.isin(y_test, classes)
    index = np.full(len(PHASES), -1)
    index[list(classes)] = np.arange(len(classes))
    mean, std = x_train[keep_tr].mean(0), x_train[keep_tr].std(0) + 1e-6
    xtr = torch.from_numpy((x_train[keep_tr] - mean) / std)
    ytr = torch.from_numpy(index[y_train[keep_tr]])
    counts = torch.bincount(ytr, minlength=len(classes)).float()
    weight = counts.sum() / (len(classes) * counts.clamp(min=1))
    w = torch.zeros(xtr.shape[1], len(classes), requires_grad=True)
    b = torch.zeros(len(classes), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xtr @ w + b, ytr, weight=weight) + 1e-3 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        scores = []
        for x, y, keep in ((x_train, y_train, keep_tr), (x_test, y_test, keep_te)):
            pred = (torch.from_numpy((x[keep] - mean) / std) @ w + b).argmax(1).numpy()
            scores.append(balanced_accuracy(pred, index[y[keep]], len(classes)))
    return scores[0], scores[1]


def main(args: argparse.Namespace) -> int:
    torch.manual_seed(0)
    record = read_generation_events(args.generation)
    x_train, y_train = subset_rows(args.features, args.stream, record, args.train_subset)
    x_test, y_test = subset_rows(args.features, args.stream, record, args.subset)
    counts = ", ".join(f"{name} {int((y_train == c).sum())}/{int((y_test == c).sum())}" for c, name in enumerate(PHASES))
    print(f"{args.features / args.stream}: rows per phase ({args.train_subset}/{args.subset}): {counts}")
    print(f"{'task':<30}{'chance':>8}{args.train_subset:>12}{args.subset:>10}")
    for task, classes in TASKS.items():
        train_acc, test_acc = probe(x_train, y_train, x_test, y_test, classes)
        print(f"{task:<30}{1 / len(classes):>8.3f}{train_acc:>12.3f}{test_acc:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
