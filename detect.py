"""Detect actions in new video files (no annotations needed) with any trained method of the pipeline.

Example::

    W=work_dirs/synthetic_demo
    python detect.py my_videos/*.mp4 --rgb_model $W/ssn_RGB/checkpoint_last.pth \\
        --flow_model $W/ssn_Flow/checkpoint_last.pth --rgb_actionness $W/binary_RGB/checkpoint_last.pth \\
        --flow_actionness $W/binary_Flow/checkpoint_last.pth --fusion_weights $W/fusion_weights.json \\
        --output detect_out
    python detect.py my_videos/*.mp4 --method ssad --rgb_ssad $W/ssad/decouple_RGB/checkpoint_last.pth \\
        --flow_ssad $W/ssad/decouple_Flow/checkpoint_last.pth --rgb_model $W/ssn_RGB/checkpoint_last.pth \\
        --flow_model $W/ssn_Flow/checkpoint_last.pth --output detect_ssad

``--method bmn | bsn | ssad`` (the feature-based methods): frames -> snippet features made as the models'
checkpoints say, with the backbone that made them (``--rgb_backbone``, default ``--rgb_model``; Flow alike)
-> BMN or BSN proposals labelled by a video classifier (``--classifier``) or by the SSN models, or SSAD's
detections (``bmn_test.py``, ``bsn_*_test.py``, ``ssad_test.py`` ... as in stages 9-13).  The default,
``--method ssn``, is described below.

Each step calls the main() of the pipeline's own stage script with its flags:
``extract_frames.py`` (RGB, plus flow when a Flow model is given),
``gen_sliding_window_proposals.py`` (windows, and the frame-based list naming
the videos), ``binary_test.py`` and ``gen_bottom_up_proposals.py`` +
``gen_proposal_list.py`` (TAG proposals; ``--proposals sliding`` uses the
sliding windows instead), ``ssn_test.py`` per SSN model, then the fusion
(``--fusion_weights FILE`` chosen by the demo's stage 8, or ``--score_weights``,
as ``eval_detection_results.py``) and the SSN
post-processing of ``ops/evaluation/postprocess.py`` (NMS, regression, top-k; defaults
from the dataset preset).  Any stream may be left out (``--rgbdiff_model``: a third, RGB differences); at least one SSN
model is needed, and TAG needs at least one actionness model.  The dataset
preset (class names, post-processing) is the one stored in the checkpoints
(``--dataset`` overrides it).  Defaults match the demo pipeline
(``scripts/config/synthetic_demo.sh``): frames at the videos' own size, flow
algorithm of the device, every 2nd frame scored, TAG with the stage defaults.

Writes ``OUTPUT/detections.json`` (ActivityNet layout, seconds),
``OUTPUT/detections.csv`` (``video,t_start,t_end,label,score``: seconds, class
name, score; sorted by video then score) and ``OUTPUT/timeline.png``.
Intermediate files go to ``OUTPUT/work``; re-running the command resumes: frame
folders are kept, and a step whose command and inputs are unchanged is not
run again.  See docs/detect.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

import argparse
import json
import logging
import shutil
from dataclasses import dataclass

import numpy as np

import binary_test
import bmn_test
import bsn_pem_test
import bsn_pgm
import bsn_tem_test
import classify_videos
import extract_features
import extract_frames
import gen_bottom_up_proposals
import gen_proposal_list
import gen_sliding_window_proposals
import proposals_to_detections
import proposals_to_list
import ssad_postprocess
import ssad_test
import ssn_test
from ops.device import DEVICE_HELP, device_arg
from ops.errors import InputError, nonnegative_int, positive_int, run_main
from ops.evaluation.fusion import FusionWeights, FusionWeightsError, fuse_results, read_fusion_weights
from ops.evaluation.postprocess import PostprocessConfig, results_to_detections
from ops.evaluation.timeline import draw_timeline, timeline_videos
from ops.formats.annotations import AnnotationDB, load_annotations, to_activitynet_json
from ops.formats.detections import Detections, read_activitynet_json, write_activitynet_json, write_detection_csv
from ops.formats.features import feature_extraction_settings, record_path, stream_geometries
from ops.formats.frames import META_NAME, count_frames, read_meta
from ops.formats.presets import load_preset, resolve
from ops.formats.results import read_results
from ops.io import atomic_open, atomic_write_json, id_too_long
from ops.log import setup_logging
from ops.models.backbones import MODALITIES   # SSN streams, in the order of the fusion weights
from ops.temporal import frames_to_seconds
from ops.train.dataset import checkpoint_input
from ops.train.engine import add_num_crops_arg, file_digest, load_checkpoint
from ops.video.flow import FLOW_ALGORITHMS
from ops.video.video import probe_video

logger = logging.getLogger("detect")
METHODS = ("ssn", "bmn", "bsn", "ssad")
SUBSET = "test"                       # the subset name of the generated video list
DEFAULT_FUSION_WEIGHTS = (1.0, 1.5)   # RGB : Flow for all outputs when no weights file is given


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="+", help="video files (or folders of videos, or list files of video paths)")
    p.add_argument("--output", type=Path, required=True, help="output folder (intermediate files in OUTPUT/work)")
    g = p.add_argument_group("models (checkpoints of ssn_train.py / binary_train.py)")
    g.add_argument("--rgb_model", type=Path, default=None, help="SSN RGB checkpoint")
    g.add_argument("--flow_model", type=Path, default=None, help="SSN Flow checkpoint")
    g.add_argument("--rgbdiff_model", type=Path, default=None,
                   help="SSN RGBDiff checkpoint (RGB differences, made from the RGB frames; stage 6 with "
                        "MODALITIES=\"RGB Flow RGBDiff\")")
    g.add_argument("--rgb_actionness", type=Path, default=None, help="actionness (binary) RGB checkpoint")
    g.add_argument("--flow_actionness", type=Path, default=None, help="actionness (binary) Flow checkpoint")
    g.add_argument("--dataset", default=None, help="dataset preset (default: the one stored in the checkpoints)")
    g.add_argument("--class_names", type=Path, default=None,
                   help="annotations (THUMOS14 folder, ActivityNet .json, .csv) naming the classes, for presets "
                        "without class names (ActivityNet)")
    g = p.add_argument_group("feature-based methods (--method bmn | bsn | ssad; docs/detect.md)")
    g.add_argument("--method", choices=METHODS, default="ssn",
                   help="ssn: TAG or sliding windows -> SSN; bmn, bsn: their proposals on snippet features, labelled "
                        "by a video classifier or by the SSN models; ssad: one-stage detection on snippet features")
    g.add_argument("--bmn_model", type=Path, default=None, help="checkpoint of bmn_train.py (--method bmn)")
    g.add_argument("--tem_model", type=Path, default=None, help="checkpoint of bsn_tem_train.py (--method bsn)")
    g.add_argument("--pem_model", type=Path, default=None, help="checkpoint of bsn_pem_train.py (--method bsn)")
    g.add_argument("--rgb_ssad", type=Path, default=None, help="RGB checkpoint of ssad_train.py (--method ssad)")
    g.add_argument("--flow_ssad", type=Path, default=None, help="Flow checkpoint of ssad_train.py (--method ssad)")
    g.add_argument("--classifier", type=Path, default=None,
                   help="checkpoint of classify_videos.py: labels BMN / BSN proposals with the video's classes")
    g.add_argument("--labels", choices=["classifier", "ssn"], default=None,
                   help="who labels BMN / BSN proposals (default: the classifier when given, else the SSN models)")
    g.add_argument("--label_top_k", type=positive_int, default=2,
                   help="classifier labels: classes per proposal (1: the best, score kept; more: score x class "
                        "score), as stage 13")
    g.add_argument("--rgb_backbone", type=Path, default=None,
                   help="checkpoint whose backbone made the models' RGB features (default: --rgb_model, as the "
                        "demo's stage 9)")
    g.add_argument("--flow_backbone", type=Path, default=None,
                   help="checkpoint whose backbone made the models' Flow features (default: --flow_model)")
    g = p.add_argument_group("frames (extract_frames.py)")
    g.add_argument("--new_width", type=int, default=0, help="frame width in pixels (0 = the video's; demo: 0)")
    g.add_argument("--new_height", type=int, default=0, help="frame height in pixels (0 = the video's; demo: 0)")
    g.add_argument("--fps", type=float, default=None, help="keep frames at this rate (default: every frame)")
    g.add_argument("--flow", choices=sorted(FLOW_ALGORITHMS), default=None,
                   help="flow algorithm (default: the device's, as the demo: dis_medium on CPU)")
    g.add_argument("--allow_truncated", action="store_true",
                   help="keep what decodes of a video that ends early (as extract_frames.py)")
    g = p.add_argument_group("proposals")
    g.add_argument("--proposals", choices=["tag", "sliding"], default="tag",
                   help="TAG from actionness (needs an actionness model) or sliding windows")
    g.add_argument("--actionness_weights", type=float, nargs="+", default=None,
                   help="weights of the RGB, Flow raw actionness scores summed in TAG (default: all 1, as the original)")
    g.add_argument("--tag_smooth", type=float, default=None, help="TAG smoothing sigma (default: the stage's, 3)")
    g.add_argument("--tag_thresholds", type=float, nargs="+", default=None,
                   help="TAG actionness levels (default: the stage's)")
    g.add_argument("--tag_tolerances", type=float, nargs="+", default=None,
                   help="TAG tolerances (default: the stage's)")
    g.add_argument("--tag_nms", type=float, default=None, help="TAG NMS IoU (default: the stage's, 0.9)")
    g.add_argument("--min_length_seconds", type=float, default=None, help="TAG: drop proposals not longer than this (s)")
    g = p.add_argument_group("scoring (binary_test.py, ssn_test.py)")
    g.add_argument("--frame_interval", type=positive_int, default=2, help="score every k-th frame (demo: 2)")
    add_num_crops_arg(g)
    g.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
    g.add_argument("-j", "--workers", type=nonnegative_int, default=2, help="frame-decoding processes / videos in parallel")
    g = p.add_argument_group("fusion and post-processing (defaults: the preset's, as eval_detection_results.py)")
    g.add_argument("--score_weights", type=float, nargs="+", default=None,
                   help="weights of the SSN models given, in the order RGB, Flow, RGBDiff, for all outputs (normalised; "
                        "default with RGB and Flow only and no --fusion_weights: 1 1.5; otherwise equal)")
    g.add_argument("--fusion_weights", default=None, metavar="FILE",
                   help="per-output weights (RGB, Flow, RGBDiff: those given) chosen on a training subset: WORK/fusion_weights.json of "
                        "the demo, or eval_detection_results.py --search_weights")
    g.add_argument("--top_k", type=int, default=None, help="(proposal, class) pairs kept per video; <=0: all")
    g.add_argument("--nms_threshold", type=float, default=None)
    g.add_argument("--softmax_before_filter", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--no_regression", action="store_true", help="skip location regression")
    g.add_argument("--min_score", type=float, default=0.0, help="detections scoring less are not written")
    g = p.add_argument_group("timeline picture")
    g.add_argument("--timeline_top_k", type=int, default=20, help="best detections drawn per video")
    g.add_argument("--timeline_min_score", type=float, default=0.0, help="detections scoring less are not drawn")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


# --------------------------------------------------------------------------- models and dataset


@dataclass
class Setup:
    """Checkpoints per modality, the preset and the class names (``classes[k - 1]`` has label k)."""

    ssn: dict[str, Path]
    actionness: dict[str, Path]
    preset: dict
    dataset: str
    classes: list[str]
    fusion: FusionWeights | None    # weights of the SSN models (None: one model)


def _check_checkpoint(path: Path, kind: str, modality: str, num_crops: int) -> dict:
    """The checkpoint's number of classes and dataset; InputError naming the file when it does not fit (its
    type, its modality, or mirrored crops for a model trained without flips)."""
    ckpt = load_checkpoint(path)
    flag = f"--{modality.lower()}_{'model' if kind == 'ssn' else 'actionness'}"
    checkpoint_input(ckpt, path, kind, modality, num_crops, flag)
    return {"num_classes": ckpt["model_config"].get("num_classes"), "dataset": ckpt.get("extra", {}).get("dataset")}


def class_names(preset: dict, num_classes: int, source: Path | None) -> list[str]:
    """Class names from ``source`` annotations, else the preset, else ``class_1 ..`` (with a warning)."""
    if source is not None:
        names = load_annotations(source, preset["test_subset"] if source.is_dir() else None).classes
    else:
        names = preset.get("classes") or []
    if len(names) != num_classes:
        if names:
            raise InputError(f"{len(names)} class names ({source or preset['name']}) for a model of "
                             f"{num_classes} classes")
        logger.warning("preset %s names no classes; give --class_names ANNOTATIONS (using class_1 ..)",
                       preset["name"])
        names = [f"class_{k}" for k in range(1, num_classes + 1)]
    return list(names)


def check_setup(args) -> Setup:
    """Validate the model flags and checkpoints; pick the preset and class names."""
    ssn = {m: p for m, p in zip(MODALITIES, (args.rgb_model, args.flow_model, args.rgbdiff_model)) if p is not None}
    act = {m: p for m, p in zip(MODALITIES, (args.rgb_actionness, args.flow_actionness)) if p is not None}
    if not ssn:
        raise InputError("give at least one SSN model (--rgb_model, --flow_model, --rgbdiff_model)")
    if args.proposals == "tag" and not act:
        raise InputError("TAG proposals need an actionness model (--rgb_actionness and/or "
                         "--flow_actionness); or pass --proposals sliding")
    if args.proposals == "sliding" and act:
        logger.info("--proposals sliding: the actionness models are not used")
        act = {}
    for flag, weights, models in (("--score_weights", args.score_weights, ssn),
                                  ("--actionness_weights", args.actionness_weights, act)):
        if weights is not None and len(weights) != len(models):
            raise InputError(f"{flag} has {len(weights)} weights for {len(models)} model(s) "
                             f"({', '.join(models)})")
    fusion = fusion_weights(args, ssn)
    infos = [_check_checkpoint(p, "ssn", m, args.num_crops) for m, p in ssn.items()]
    infos += [_check_checkpoint(p, "binary", m, args.num_crops) for m, p in act.items()]
    num_classes = {i["num_classes"] for i in infos if i["num_classes"] is not None}
    if len(num_classes) != 1:
        raise InputError(f"the SSN models have different numbers of classes {sorted(num_classes)}")
    stored = sorted({i["dataset"] for i in infos if i["dataset"]})
    if args.dataset is None and len(stored) != 1:
        raise InputError(f"the checkpoints name the datasets {stored}; give --dataset PRESET")
    dataset = args.dataset or stored[0]
    try:
        preset = load_preset(dataset)
    except ValueError as e:
        where = "--dataset" if args.dataset else "the checkpoints; give --dataset PRESET_JSON"
        raise InputError(f"{e} (preset {dataset!r} from {where})") from None
    return Setup(ssn, act, preset, dataset, class_names(preset, num_classes.pop(), args.class_names), fusion)


def fusion_weights(args, ssn: dict[str, Path]) -> FusionWeights | None:
    """The SSN models' fusion weights: --fusion_weights FILE, --score_weights (one per model, checked by
    :func:`check_setup`), or RGB : Flow 1 : 1.5 for those two models; None (equal) otherwise."""
    if args.fusion_weights and args.score_weights:
        raise InputError("give --fusion_weights FILE or --score_weights, not both")
    try:
        if args.fusion_weights:
            return read_fusion_weights(args.fusion_weights, len(ssn))
        if args.score_weights is not None:
            return FusionWeights.make(args.score_weights)
    except FusionWeightsError as e:
        flag = "--fusion_weights" if args.fusion_weights else "--score_weights"
        raise InputError(f"{flag} {e} (models: {', '.join(ssn)})") from None
    return FusionWeights.make(DEFAULT_FUSION_WEIGHTS) if list(ssn) == ["RGB", "Flow"] else None


# --------------------------------------------------------------------------- running stages with resume


def _fingerprint(path: Path) -> list:
    st = Path(path).stat()
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def _arg(value) -> str:
    """A command-line word; whole floats as integers (``2.0`` -> ``2``) for flags typed int."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def run_stage(module, argv: list, outputs: list[Path], inputs: list[Path], work: Path, verbose: int = 0,
              stamp: str | None = None) -> None:
    """Run ``module.main`` on ``argv`` unless ``outputs`` exist from a run with the same argv and inputs.

    A stamp (argv, and path, size and mtime of every input) is kept in ``work/stamps`` per first output
    (or under the name ``stamp``).
    """
    argv = [_arg(a) for a in argv]
    stamp_path = work / "stamps" / f"{stamp or Path(outputs[0]).name}.json"
    stamp = {"stage": module.__name__, "argv": argv, "inputs": [_fingerprint(p) for p in inputs]}
    if all(Path(o).exists() for o in outputs) and stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp:
        logger.info("%s: up to date, reusing %s", module.__name__, ", ".join(str(o) for o in outputs))
        return
    logger.info("running %s.py %s", module.__name__, " ".join(argv))
    rc = module.main(module.get_args_parser().parse_args(argv + ["-v"] * verbose))
    if rc:
        raise InputError(f"{module.__name__}.py failed (exit status {rc}); see the messages above")
    atomic_write_json(stamp_path, stamp)


# --------------------------------------------------------------------------- frames and the video list


def collect(sources: list[str]) -> list[Path]:
    """Video paths from the positional arguments; exits naming the first unreadable or clashing video."""
    videos = [v.resolve() for s in sources for v in extract_frames.collect_videos(s)]
    extract_frames.check_unique_ids(videos)
    if not videos:
        raise InputError(f"no video files in {sources}")
    for v in videos:
        if id_too_long(v.stem):
            raise InputError(f"{v}: {id_too_long(v.stem)}")
        info = probe_video(v)
        if info.fps <= 0 or info.num_frames <= 0:
            raise InputError(f"{v}: no frame rate or no frames (unreadable video); re-encode it")
    return videos


def recorded_flow_args(checkpoints: list[Path]) -> list:
    """extract_frames.py's ``--bound`` and ``--frame_step`` as the Flow ``checkpoints`` were trained on.

    A model fed flow clipped at another bound (or over another frame step) sees its inputs rescaled: the
    values come from the frames' extraction settings each training stage records (``extra.data.frames``);
    none recorded (published weights): extract_frames.py's defaults.  InputError when they disagree.
    """
    found: dict[str, dict] = {}
    for path in checkpoints:
        for entry in load_checkpoint(path).get("extra", {}).get("data", {}).get("frames") or []:
            for key, flag in (("flow_bound", "--bound"), ("frame_step", "--frame_step")):
                if entry.get(key) is not None:
                    found.setdefault(flag, {}).setdefault(entry[key], path)
    for flag, values in found.items():
        if len(values) > 1:
            named = ", ".join(f"{v} ({p})" for v, p in values.items())
            raise InputError(f"the Flow models were trained on flow of different extract_frames.py {flag}: {named}; "
                             "give models trained on the same frames")
    return [x for flag, values in found.items() for x in (flag, next(iter(values)))]


def extract(videos: list[Path], frames: Path, work: Path, flow: list | None, args) -> dict[str, float]:
    """Frame folders of ``videos`` under ``frames`` (resumable); returns video id -> duration (s).

    ``flow``: None for RGB only, else extract_frames.py's flow flags (:func:`recorded_flow_args`)."""
    settings = ["--new_width", args.new_width, "--new_height", args.new_height, "--device", args.device,
                "--modality", "RGB", *(["Flow", *flow] if flow is not None else [])]
    settings += (["--fps", args.fps] if args.fps else []) + (["--flow", args.flow] if args.flow else [])
    settings += ["--allow_truncated"] if args.allow_truncated else []
    settings = [str(s) for s in settings]
    stamp = work / "stamps" / "frames.json"
    if frames.exists() and (not stamp.is_file() or json.loads(stamp.read_text()) != settings):
        logger.warning("%s was extracted with other settings; extracting again", frames)
        shutil.rmtree(frames)
    for v in videos:   # a folder of another video with the same name is redone
        meta = read_meta(frames / v.stem) if (frames / v.stem).is_dir() else None
        if meta is not None and meta.get("video") != str(v):
            shutil.rmtree(frames / v.stem)
    atomic_write_json(stamp, settings)
    listing = work / "videos.txt"
    with atomic_open(listing, "w", encoding="utf-8") as f:
        f.write("".join(f"{v}\n" for v in videos))
    argv = [str(listing), str(frames), *settings, "-j", str(max(1, args.workers)), *["-v"] * args.verbose]
    extract_frames.main(extract_frames.get_args_parser().parse_args(argv))
    failed = [str(v) for v in videos if not (frames / v.stem / META_NAME).is_file()]
    if failed:
        raise InputError(f"could not extract the frames of {failed}; see the messages above")
    durations = {}
    for v in videos:
        counts = count_frames(frames / v.stem)
        durations[v.stem] = float(frames_to_seconds(counts.num_frames, counts.fps))
    return durations


def write_video_list(path: Path, durations: dict[str, float], classes: list[str]) -> None:
    """The videos as an annotation file without instances (ActivityNet layout), rewritten only on change."""
    data = to_activitynet_json(AnnotationDB.without_instances(durations, SUBSET, classes, "detect"),
                               version="detect.py")
    if not path.is_file() or json.loads(path.read_text()) != data:
        atomic_write_json(path, data)


# --------------------------------------------------------------------------- proposals and scoring


def proposal_list(setup: Setup, frames: Path, ann: Path, work: Path, metas: list[Path], args) -> Path:
    """Frame-based proposal list of every video: TAG (from actionness) or sliding windows."""
    ds = setup.dataset
    sw = work / "sliding_windows.txt"
    run_stage(gen_sliding_window_proposals, [ds, SUBSET, sw, "--annotations", ann, "--frame_path", frames,
                                             "--all_videos"], [sw], [ann, *metas], work, args.verbose)
    if args.proposals == "sliding":
        return sw
    scores = []
    for mod, ckpt in setup.actionness.items():
        out = work / f"actionness_{mod}.npz"
        run_stage(binary_test, [ds, mod, sw, ckpt, out, "--frame_interval", args.frame_interval, "--num_crops",
                                args.num_crops, "-j", args.workers, "--device", args.device],
                  [out], [sw, ckpt, *metas], work, args.verbose)
        scores.append(out)
    norm, tag = work / "tag_normalized.txt", work / "tag.txt"
    flags = [("--score_weights", args.actionness_weights), ("--smooth", args.tag_smooth),
             ("--thresholds", args.tag_thresholds), ("--tolerances", args.tag_tolerances), ("--nms", args.tag_nms),
             ("--min_length_seconds", args.min_length_seconds)]
    extra = [x for flag, value in flags if value is not None
             for x in [flag, *(value if isinstance(value, list) else [value])]]
    run_stage(gen_bottom_up_proposals, [*scores, "--dataset", ds, "--subset", SUBSET, "--annotations", ann,
                                        "--all_videos", "--write_proposals", norm, *extra], [norm], [*scores, ann],
              work, args.verbose)
    run_stage(gen_proposal_list, [ds, frames, "--input", norm, "--output", tag, "--annotations", ann,
                                  "--subset", SUBSET], [tag], [norm, ann, *metas], work, args.verbose)
    return tag


def score(setup: Setup, plist: Path, work: Path, metas: list[Path], args) -> list[Path]:
    """Run ssn_test.py per SSN model; returns the result files (RGB first)."""
    outs = []
    for mod, ckpt in setup.ssn.items():
        out = work / f"ssn_{mod}.pkl"
        run_stage(ssn_test, [setup.dataset, mod, plist, ckpt, out, "--frame_interval", args.frame_interval,
                             "--num_crops", args.num_crops, "-j", args.workers, "--device", args.device],
                  [out], [plist, ckpt, *metas], work, args.verbose)
        outs.append(out)
    return outs


def detections(setup: Setup, result_files: list[Path], durations: dict[str, float], order: list[str],
               args) -> Detections:
    """Fuse, post-process and convert to seconds; rows sorted by video (``order``) then score descending."""
    ev = setup.preset["evaluation"]
    cfg = PostprocessConfig(top_k=resolve(args.top_k, ev["top_k"]),
                            nms_threshold=resolve(args.nms_threshold, ev["nms_threshold"]),
                            softmax_before_filter=resolve(args.softmax_before_filter, ev["softmax_before_filter"]),
                            regression=not args.no_regression)
    fused = fuse_results([read_results(r) for r in result_files], setup.fusion, [str(r) for r in result_files])
    return in_order(results_to_detections(fused, cfg).scaled(durations, "seconds", "detect"), order, args.min_score)


def in_order(dets: Detections, order: list[str], min_score: float) -> Detections:
    """Detections scoring at least ``min_score``, sorted by video (``order``) then score descending."""
    dets = dets.take(dets.score >= min_score)
    rank = {v: k for k, v in enumerate(order)}
    codes = np.array([rank[v] for v in dets.video], dtype=np.int64)
    return dets.take(np.lexsort((-dets.score, codes)))


# --------------------------------------------------------------------------- feature-based methods


@dataclass
class FeatureSetup:
    """A feature-based method's checkpoints, the features they read, and who labels BMN / BSN proposals."""

    method: str
    models: dict[str, Path]          # bmn | tem, pem | RGB, Flow (SSAD's streams) -> checkpoint
    geometries: dict[str, dict]      # stream -> the feature geometry its readers were trained on
    backbones: dict[str, Path]       # stream -> checkpoint whose backbone makes those features
    labels: str | None               # "classifier" or "ssn" (BMN, BSN); None (SSAD labels its own)
    ssn: Setup | None                # the SSN models labelling proposals (labels "ssn")
    dataset: str
    classes: list[str]


# method -> (role, flag, model type) of its checkpoints; SSAD needs one stream at least, the others all
METHOD_MODELS = {"bmn": (("bmn", "--bmn_model", "bmn"),),
                 "bsn": (("tem", "--tem_model", "bsn_tem"), ("pem", "--pem_model", "bsn_pem")),
                 "ssad": (("RGB", "--rgb_ssad", "ssad"), ("Flow", "--flow_ssad", "ssad"))}


def _extra_of(path: Path, flag: str, model_type: str) -> dict:
    """The ``extra`` of a checkpoint of ``model_type``; InputError naming the flag for another kind."""
    ckpt = load_checkpoint(path)
    found = ckpt.get("model_config", {}).get("type")
    if found != model_type:
        raise InputError(f"{flag} {path}: a {found or 'unknown'} checkpoint; give a {model_type} checkpoint")
    return ckpt.get("extra", {})


def _method_checkpoints(args) -> dict[str, tuple[Path, dict]]:
    """role -> (checkpoint, its extra) of ``--method``; InputError for a missing or wrong one."""
    found = {}
    for role, flag, model_type in METHOD_MODELS[args.method]:
        path = getattr(args, flag[2:])
        if path is not None:
            extra = _extra_of(path, flag, model_type)
            if model_type == "ssad" and extra.get("modality") != role:
                raise InputError(f"{flag} {path}: an SSAD model of {extra.get('modality')} features")
            found[role] = (path, extra)
        elif args.method != "ssad":
            raise InputError(f"--method {args.method} needs {flag} (checkpoint of "
                             f"{'bmn_train.py' if role == 'bmn' else f'bsn_{role}_train.py'})")
    if not found:
        raise InputError("--method ssad needs --rgb_ssad and/or --flow_ssad (checkpoints of ssad_train.py)")
    return found


def _merged_geometries(readers: dict[str, tuple[Path, dict]]) -> dict[str, dict]:
    """stream -> geometry over every checkpoint that reads snippet features; InputError when two differ."""
    merged, source = {}, {}
    for path, extra in readers.values():
        for stream, geometry in stream_geometries(extra["feature_record"]).items():
            if stream in merged and merged[stream] != geometry:
                raise InputError(f"{source[stream]} and {path} were trained on different {stream} features; "
                                 f"give models trained on the same features")
            merged[stream], source[stream] = geometry, path
    return dict(sorted(merged.items(), key=lambda kv: MODALITIES.index(kv[0])))


def _backbones(args, geometries: dict[str, dict]) -> dict[str, Path]:
    """stream -> the checkpoint whose backbone made the features; InputError when it is not given or not that one."""
    out = {}
    for stream, geometry in geometries.items():
        low = stream.lower()
        path = getattr(args, f"{low}_backbone") or getattr(args, f"{low}_model")
        if path is None:
            raise InputError(f"the {args.method.upper()} models read {stream} features: give --{low}_backbone "
                             f"(the checkpoint that made them, e.g. WORK/ssn_{stream}/checkpoint_last.pth)")
        want = feature_extraction_settings(geometry)["checkpoint"]
        if want and file_digest(path) != want:
            flag = f"--{low}_backbone" if getattr(args, f"{low}_backbone") else f"--{low}_model"
            raise InputError(f"{flag} {path} is not the checkpoint whose backbone made the {stream} features the "
                             f"{args.method.upper()} models were trained on (digest {file_digest(path)}, theirs "
                             f"{want}); give that checkpoint with --{low}_backbone")
        out[stream] = path
    return out


def _labellers(args) -> tuple[str | None, Setup | None, dict | None]:
    """Who labels the proposals: ("classifier", None, its extra), ("ssn", the SSN setup, None), or Nones (SSAD)."""
    if args.method == "ssad":
        return None, None, None
    labels = args.labels or ("classifier" if args.classifier else "ssn")
    if labels == "classifier":
        if args.classifier is None:
            raise InputError("--labels classifier needs --classifier (checkpoint of classify_videos.py)")
        return labels, None, _extra_of(args.classifier, "--classifier", "video_classifier")
    if args.rgb_model is None and args.flow_model is None and args.rgbdiff_model is None:
        raise InputError(f"--method {args.method}: label the proposals with --classifier CKPT or with SSN models "
                         f"(--rgb_model, --flow_model, --rgbdiff_model)")
    ssn_args = argparse.Namespace(**{**vars(args), "proposals": "sliding", "rgb_actionness": None,
                                     "flow_actionness": None})
    return labels, check_setup(ssn_args), None


def check_feature_setup(args) -> FeatureSetup:
    """Validate a feature-based method's flags and checkpoints before anything runs."""
    models = _method_checkpoints(args)
    labels, ssn, classifier = _labellers(args)
    readers = {k: v for k, v in models.items() if k != "pem"}     # PEM reads PGM's features, not snippets
    if classifier is not None:
        readers["classifier"] = (args.classifier, classifier)
    geometries = _merged_geometries(readers)
    stored = sorted({e.get("dataset") for _, e in models.values() if e.get("dataset")})
    if args.dataset is None and len(stored) != 1:
        raise InputError(f"the checkpoints name the datasets {stored}; give --dataset PRESET")
    dataset = args.dataset or stored[0]
    load_preset(dataset)              # a name or file that is not a preset is refused before anything runs
    if ssn is not None:
        classes = ssn.classes
    elif classifier is not None:
        classes = list(classifier["classes"])
    else:
        classes = list(next(iter(models.values()))[1]["classes"])
    return FeatureSetup(args.method, {k: p for k, (p, _) in models.items()}, geometries,
                        _backbones(args, geometries), labels, ssn, dataset, classes)


def snippet_features(fs: FeatureSetup, frames: Path, ann: Path, work: Path, videos: list[str], metas: list[Path],
                     args) -> tuple[Path, list[Path]]:
    """Each stream's features of every video as the models' were made (extract_features.py); returns the root
    and the records written."""
    root, records = work / "features", []
    for stream, geometry in fs.geometries.items():
        st = feature_extraction_settings(geometry)
        outputs = [record_path(root, stream, v) for v in videos]
        run_stage(extract_features, [fs.dataset, frames, root, "--modality", stream, "--checkpoint",
                                     fs.backbones[stream], "--stride", st["stride"], "--offset", st["offset"],
                                     "--flow_shift", st["flow_shift"], "--resize", st["resize"], "--num_crops",
                                     st["num_crops"], "--output_kind", st["output_kind"], "--annotations", ann,
                                     "--subset", SUBSET, "-j", args.workers, "--device", args.device, "--overwrite"],
                  outputs, [ann, fs.backbones[stream], *metas], work, args.verbose, stamp=f"features_{stream}")
        records += outputs
    return root, records


def method_proposals(fs: FeatureSetup, feats: Path, ann: Path, work: Path, records: list[Path], args) -> Path:
    """BMN's or BSN's proposals of every video (ActivityNet JSON, seconds)."""
    out, where = work / f"{fs.method}_proposals.json", ["--annotations", ann, "--subset", SUBSET]
    dev = ["--device", args.device]
    if fs.method == "bmn":
        run_stage(bmn_test, [fs.dataset, "--features", feats, "--checkpoint", fs.models["bmn"], "--output", out,
                             *where, *dev], [out], [fs.models["bmn"], ann, *records], work, args.verbose)
        return out
    tem, pgm = work / "bsn_tem", work / "bsn_pgm"
    run_stage(bsn_tem_test, [fs.dataset, "--features", feats, "--checkpoint", fs.models["tem"], "--output", tem,
                             *where, "--overwrite", *dev], [tem], [fs.models["tem"], ann, *records], work, args.verbose)
    run_stage(bsn_pgm, [fs.dataset, "--tem", tem, "--output", pgm, *where], [pgm], [tem / bsn_tem_test.STAMP, ann],
              work, args.verbose)
    run_stage(bsn_pem_test, [fs.dataset, "--pgm", pgm, "--checkpoint", fs.models["pem"], "--output", out, *where,
                             *dev], [out], [fs.models["pem"], ann, work / "stamps" / "bsn_pgm.json"], work,
              args.verbose)
    return out


def classifier_detections(fs: FeatureSetup, props: Path, feats: Path, ann: Path, work: Path, records: list[Path],
                          args) -> Detections:
    """Every proposal with its video's best classes (classify_videos.py, proposals_to_detections.py)."""
    scores, out = work / "video_scores.json", work / f"{fs.method}_classifier_detections.json"
    run_stage(classify_videos, [fs.dataset, "--features", feats, "--annotations", ann, "--subset", SUBSET,
                                "--checkpoint", args.classifier, "--write_scores", scores, "--device", args.device],
              [scores], [args.classifier, ann, *records], work, args.verbose)
    run_stage(proposals_to_detections, [props, scores, out, "--dataset", fs.dataset, "--annotations", ann,
                                        "--subset", SUBSET, "--top_k_classes", args.label_top_k],
              [out], [props, scores, ann], work, args.verbose)
    return read_activitynet_json(out, fs.classes)


def ssn_on_proposals(fs: FeatureSetup, props: Path, frames: Path, ann: Path, work: Path, metas: list[Path],
                     durations: dict[str, float], order: list[str], args) -> Detections:
    """The SSN models score the method's proposals (as stage 13): list, frames, ssn_test.py, fusion."""
    norm, plist = work / f"{fs.method}_normalized.txt", work / f"{fs.method}_list.txt"
    run_stage(proposals_to_list, [props, norm, "--dataset", fs.dataset, "--subset", SUBSET, "--annotations", ann,
                                  "--all_videos"], [norm], [props, ann], work, args.verbose)
    run_stage(gen_proposal_list, [fs.dataset, frames, "--input", norm, "--output", plist, "--annotations", ann,
                                  "--subset", SUBSET], [plist], [norm, ann, *metas], work, args.verbose)
    return detections(fs.ssn, score(fs.ssn, plist, work, metas, args), durations, order, args)


def ssad_detections(fs: FeatureSetup, feats: Path, ann: Path, work: Path, records: list[Path], args) -> Detections:
    """Each SSAD stream's predictions (ssad_test.py), fused and post-processed (ssad_postprocess.py)."""
    csvs = []
    for stream, ckpt in fs.models.items():
        out = work / f"ssad_{stream}.csv"
        run_stage(ssad_test, [fs.dataset, "--features", feats, "--annotations", ann, "--subset", SUBSET,
                              "--checkpoint", ckpt, "--output", out, "--device", args.device],
                  [out], [ckpt, ann, *records], work, args.verbose)
        csvs.append(out)
    out = work / "ssad_detections.json"
    run_stage(ssad_postprocess, [fs.dataset, *csvs, "--features", feats, "--output", out], [out], csvs, work,
              args.verbose)
    return read_activitynet_json(out, fs.classes)


def feature_method_detections(fs: FeatureSetup, frames: Path, ann: Path, work: Path, metas: list[Path],
                              durations: dict[str, float], order: list[str], args) -> Detections:
    """Features, then the method's detections; rows sorted by video (``order``) then score descending."""
    feats, records = snippet_features(fs, frames, ann, work, order, metas, args)
    if fs.method == "ssad":
        return in_order(ssad_detections(fs, feats, ann, work, records, args), order, args.min_score)
    props = method_proposals(fs, feats, ann, work, records, args)
    if fs.labels == "ssn":
        return ssn_on_proposals(fs, props, frames, ann, work, metas, durations, order, args)
    return in_order(classifier_detections(fs, props, feats, ann, work, records, args), order, args.min_score)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    videos = collect(args.videos)
    if args.method == "ssn":
        setup = check_setup(args)
        flow_models = [setup.ssn.get("Flow"), setup.actionness.get("Flow")]
        dataset, classes = setup.dataset, setup.classes
    else:
        fs = check_feature_setup(args)
        flow_models = [fs.backbones.get("Flow"), fs.ssn.ssn.get("Flow") if fs.ssn is not None else None]
        dataset, classes = fs.dataset, fs.classes
    flow_models = [p for p in flow_models if p is not None]
    flow = recorded_flow_args(flow_models) if flow_models else None
    out, work = args.output, args.output / "work"
    work.mkdir(parents=True, exist_ok=True)
    frames = work / "frames"
    durations = extract(videos, frames, work, flow, args)
    ann = work / "videos.json"
    write_video_list(ann, durations, classes)
    metas = [frames / v.stem / META_NAME for v in videos]
    order = [v.stem for v in videos]
    if args.method == "ssn":
        plist = proposal_list(setup, frames, ann, work, metas, args)
        dets = detections(setup, score(setup, plist, work, metas, args), durations, order, args)
    else:
        dets = feature_method_detections(fs, frames, ann, work, metas, durations, order, args)
    write_activitynet_json(out / "detections.json", dets, classes)
    write_detection_csv(out / "detections.csv", dets, classes)
    draw_timeline(timeline_videos(dets, durations, order), classes, out / "timeline.png",
                  min_score=args.timeline_min_score, top_k=args.timeline_top_k,
                  title=f"detect.py --method {args.method}: {len(order)} video(s), {dataset}")
    logger.info("%d detections in %d videos: %s, %s, %s", len(dets), len(order), out / "detections.json",
                out / "detections.csv", out / "timeline.png")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
