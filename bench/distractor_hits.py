"""Where a synthetic run's best detections lie: on actions, or on the generator's distractors (issue 21).

Example (a finished demo WORK folder; the wave family's the same way)::

    python bench/distractor_hits.py work_dirs/synthetic_demo --top 100

Reads ``WORK/data/generation.json`` (every drawn event, :func:`ops.video.synthetic.read_generation_events`)
and the detections ``WORK/detections_fused.json`` (``--detections``; ActivityNet layout, seconds).  Ground
truth: the ``--subset``'s actions; known negatives: its distractors (the first or last 25-45 % of an action,
then an abrupt cut; not ground truth).  Every detection gets its kind at ``--iou`` under the THUMOS14
protocol (:func:`ops.evaluation.detection_eval.false_positive_kinds`): true positive, duplicate, ``negative``
(on a distractor), localization, wrong class, background.  Prints the counts among the ``--top`` best
detections (by score, over all videos) and among all of them, and how many of the distractors, split by
kind (``start``: an action's beginning, ``end``: its end), one of the top detections covers, and the
detections' mAP at ``--iou`` with and without those on a distractor (what the distractors cost).

With ``--heads``, which of SSN's heads takes distractors for actions: for each stream's result file
(``WORK/ssn_{RGB,Flow}_<subset>.pkl``) the proposals at IoU >= ``--head_iou`` (0.7) with an action or with a
distractor, scored for that event's class: softmax activity, completeness, and their product as
post-processing ranks them (``p x exp(comp)``); their means and the AUC, the chance that an action's
proposal outscores a distractor's (0.5: the head cannot tell them apart; under 0.5: it prefers distractors).

With ``--train_list`` (a frame-based proposal list of the training videos, e.g. ``WORK/tag_validation.txt``),
also how SSN's sampling (:func:`ops.train.sampling.categorize`, default thresholds) sorts the training
proposals that lie on a distractor (IoU > ``--iou``): background teaches the activity head to reject them;
SSN's completeness head never sees background.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops.evaluation.detection_eval import (FP_KINDS, IGNORED, TRUE_POSITIVE, GroundTruth,  # noqa: E402
                                           evaluate_detections, false_positive_kinds)
from ops.evaluation.postprocess import softmax  # noqa: E402
from ops.formats.detections import read_activitynet_json  # noqa: E402
from ops.formats.proposal_list import read_proposal_list  # noqa: E402
from ops.formats.results import VideoResult, read_results  # noqa: E402
from ops.train.sampling import ProposalTable, SamplingConfig, categorize  # noqa: E402
from ops.temporal import pairwise_iou  # noqa: E402
from ops.video.synthetic import GENERATION_NAME, read_generation_events  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work", type=Path, help="a finished WORK folder of a synthetic run (stage 8 done)")
    p.add_argument("--detections", type=Path, help="default: WORK/detections_fused.json")
    p.add_argument("--generation", type=Path, help=f"default: WORK/data/{GENERATION_NAME}")
    p.add_argument("--subset", default="test", help="the videos the detections are of")
    p.add_argument("--top", type=int, default=100, help="how many of the best detections to break down")
    p.add_argument("--iou", type=float, default=0.5)
    p.add_argument("--train_list", type=Path, help="frame-based proposal list of the training videos")
    p.add_argument("--heads", action="store_true", help="how each stream's SSN heads score actions and distractors")
    p.add_argument("--head_iou", type=float, default=0.7, help="IoU of a proposal with its event for --heads")
    return p


def segments(record: dict, subset: str, kinds: tuple) -> tuple[GroundTruth, np.ndarray]:
    """The subset's events of ``kinds`` as a GroundTruth in seconds (every video of the subset listed), and
    each event's kind."""
    ev = record["events"]
    keep = (ev["subset"] == subset) & np.isin(ev["kind"], kinds)
    videos = sorted(v for v, s in record["videos"].items() if s == subset)
    return GroundTruth(ev["video"][keep], ev["t_start"][keep], ev["t_end"][keep], ev["label"][keep], videos,
                       len(record["classes"]), classes=record["classes"]), ev["kind"][keep]


def covered(dets, negatives: GroundTruth, iou: float) -> np.ndarray:
    """(A,) True where one of ``dets`` meets ``iou`` (>, THUMOS14) with that negative segment."""
    out = np.zeros(len(negatives), dtype=bool)
    for video in np.unique(negatives.video.astype(str)):     # per video: a few dozen videos, not a hot path
        n, d = negatives.video == video, dets.video == video
        if d.any():
            iou_nd = pairwise_iou(np.c_[negatives.t_start[n], negatives.t_end[n]], np.c_[dets.t_start[d], dets.t_end[d]])
            out[n] = (iou_nd > iou).any(axis=1)
    return out


def rank_auc(pos, neg) -> float:
    """P(a random ``pos`` score > a random ``neg`` score), ties counting half (Mann-Whitney); nan if one is empty."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.sort(np.asarray(neg, dtype=np.float64))
    if not len(pos) or not len(neg):
        return float("nan")
    below, not_above = np.searchsorted(neg, pos, "left"), np.searchsorted(neg, pos, "right")
    return float((below + not_above).sum() / (2 * len(pos) * len(neg)))


def scores_on_events(result: VideoResult, duration: float, bounds: np.ndarray, labels: np.ndarray,
                     iou: float) -> np.ndarray:
    """(M, 3) p(class), completeness and p x exp(completeness) of the video's proposals at IoU >= ``iou`` with
    one of its events (``bounds`` (E, 2) seconds, ``labels`` (E,) 1-based), each for its best event's class.

    ``result`` holds SSN's raw logits (:mod:`ops.formats.results`); ``duration`` (s) scales its relative bounds.
    """
    props = np.asarray(result.rel_props, dtype=np.float64).reshape(-1, 2) * duration
    if not len(props) or not len(bounds):
        return np.zeros((0, 3))
    overlap = pairwise_iou(props, bounds)
    rows = np.flatnonzero(overlap.max(axis=1) >= iou)
    cls = labels[overlap[rows].argmax(axis=1)] - 1
    prob = softmax(result.act_scores[rows], axis=1)[np.arange(len(rows)), cls + 1]
    comp = result.comp_scores[rows, cls]
    return np.c_[prob, comp, prob * np.exp(comp)]


def head_table(record: dict, results: dict, subset: str, iou: float) -> dict:
    """{"action": (M, 3), "distractor": (M', 3)} of :func:`scores_on_events` over a result file's videos."""
    ev, out = record["events"], {"action": [], "distractor": []}
    for key, result in results.items():                   # per video: a few dozen videos, not a hot path
        video = Path(key).name                               # frame-based lists key videos by their folder
        if record["videos"].get(video) != subset:
            continue
        duration = record["num_frames"][video] / record["fps"][video]
        for name, kinds in (("action", ("action",)), ("distractor", ("start", "end"))):
            m = (ev["video"] == video) & np.isin(ev["kind"], kinds)
            out[name].append(scores_on_events(result, duration, np.c_[ev["t_start"][m], ev["t_end"][m]],
                                              ev["label"][m], iou))
    return {k: np.concatenate(v) if v else np.zeros((0, 3)) for k, v in out.items()}


def print_heads(args, record: dict) -> None:
    print(f"SSN heads on proposals at IoU >= {args.head_iou} with an action / a distractor, for its class "
          f"(AUC: P(action's > distractor's)):")
    print(f"{'stream':<8}{'actions':>8}{'distr.':>8}{'p(class)':>16}{'AUC':>7}{'completeness':>16}{'AUC':>7}"
          f"{'p x exp(comp) AUC':>19}")
    for modality in ("RGB", "Flow"):
        path = args.work / f"ssn_{modality}_{args.subset}.pkl"
        if not path.exists():
            print(f"{modality:<8}(no {path.name})")
            continue
        t = head_table(record, read_results(path), args.subset, args.head_iou)
        a, d = t["action"], t["distractor"]
        mean = [f"{a[:, c].mean() if len(a) else np.nan:.3f}/{d[:, c].mean() if len(d) else np.nan:.3f}"
                for c in (0, 1)]
        auc = [rank_auc(a[:, c], d[:, c]) for c in range(3)]
        print(f"{modality:<8}{len(a):>8}{len(d):>8}{mean[0]:>16}{auc[0]:>7.3f}{mean[1]:>16}{auc[1]:>7.3f}{auc[2]:>19.3f}")


def training_kinds(record: dict, fps: dict, train_list: Path, iou: float) -> dict:
    """Counts of the training proposals on a distractor by SSN sampling kind, and of all background ones."""
    cfg, ev = SamplingConfig(), record["events"]
    counts = {"on_distractor": 0, "fg": 0, "incomplete": 0, "bg": 0, "bg_all": 0}
    for v in read_proposal_list(train_list):                 # per video: a few dozen videos, not a hot path
        table = ProposalTable.from_video(v, cfg.include_gt)
        kinds = categorize(table, v.num_frames, cfg)
        counts["bg_all"] += len(kinds["bg"])
        mine = (ev["video"] == v.video_id) & np.isin(ev["kind"], ("start", "end"))
        if not mine.any() or not len(table.bounds):
            continue
        frames = np.c_[ev["t_start"][mine], ev["t_end"][mine]] * fps[v.video_id]
        on = pairwise_iou(table.bounds, frames).max(axis=1) > iou
        counts["on_distractor"] += int(on.sum())
        for k in ("fg", "incomplete", "bg"):
            counts[k] += int(on[kinds[k]].sum())
    return counts


def main(args: argparse.Namespace) -> int:
    record = read_generation_events(args.generation or args.work / "data" / GENERATION_NAME)
    gt, _ = segments(record, args.subset, ("action",))
    negatives, negative_kind = segments(record, args.subset, ("start", "end"))
    dets = read_activitynet_json(args.detections or args.work / "detections_fused.json", record["classes"])
    kind = false_positive_kinds(dets, gt, "thumos14", args.iou, negatives)
    top = np.argsort(-dets.score, kind="stable")[:args.top]
    names = ["true_positive", *FP_KINDS, "ignored"]
    codes = [TRUE_POSITIVE, *range(len(FP_KINDS)), IGNORED]
    print(f"{args.work}: {len(gt)} actions, {len(negatives)} distractors, {len(dets)} detections "
          f"({args.subset}, IoU > {args.iou}; 'negative' = on a distractor)")
    print(f"{'kind':<14}{'top ' + str(len(top)):>10}{'all':>10}")
    for name, code in zip(names, codes):
        print(f"{name:<14}{int((kind[top] == code).sum()):>10}{int((kind == code).sum()):>10}")
    hit = covered(dets.take(top), negatives, args.iou)
    for k in ("start", "end"):
        print(f"distractors of kind {k!r} covered by a top detection: "
              f"{int(hit[negative_kind == k].sum())} of {int((negative_kind == k).sum())}")
    without = kind != FP_KINDS.index("negative")
    maps = [float(evaluate_detections(d, gt, "thumos14", [args.iou]).mean_ap[0]) * 100
            for d in (dets, dets.take(without))]
    print(f"mAP@{args.iou:g} {maps[0]:.2f}; without the {int((~without).sum())} detections on a distractor "
          f"{maps[1]:.2f}")
    if args.heads:
        print_heads(args, record)
    if args.train_list:
        c = training_kinds(record, record["fps"], args.train_list, args.iou)
        print(f"training proposals on a distractor ({args.train_list.name}): {c['on_distractor']}, of which "
              f"foreground {c['fg']}, incomplete {c['incomplete']}, background {c['bg']} "
              f"(of {c['bg_all']} background proposals in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
