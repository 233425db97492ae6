"""Convert snippet features between our layout and the published ones (csv_mean_100, ActionFormer/OpenTAD).

Our layout is ``ROOT/<stream>/<video>.npy`` + ``.json`` record (see ops/formats/features.py and
docs/features.md).  Examples::

    # BSN/BMN's released ActivityNet csv_mean_100 -> ours (the time of rows comes from the annotation)
    python convert_features.py csv_mean_100/ features/ --from csv_mean_100 --annotations anet_anno_action.json

    # ActionFormer/OpenTAD .npy folder -> ours, geometry from its config (feat_stride 4, num_frames 16),
    # fps (and frame counts) from its annotation file
    python convert_features.py i3d_features/ features/ --from actionformer --stream RGB+Flow \\
        --stride 4 --snippet_frames 16 --annotations thumos14.json

    # ours, RGB and Flow concatenated and rescaled to 100 rows by BSN's recipe -> csv_mean_100
    python convert_features.py features/ csv_out/ --to csv_mean_100 --streams RGB Flow --num_rows 100 \\
        --annotations anet_anno_action.json

Videos already converted are skipped, so a killed run resumes when the same command is run again; the
settings of a run are kept in ``DST/.convert_features.json`` and a run with other settings is refused
(``--overwrite`` redoes every video).  Exit status: 0 when every video converted, 1 when any failed (listed
at the end), 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from ops.errors import InputError, run_main
from ops.formats import features as ff
from ops.io import atomic_write_json
from ops.log import progress, setup_logging

logger = logging.getLogger("convert_features")
LAYOUTS = ("ours", "csv_mean_100", "actionformer")
SETTINGS_FILE = ".convert_features.json"
UNSAVED = ("src", "dst", "videos", "overwrite", "verbose")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="input folder (ours: the feature root holding RGB/, Flow/, ...)")
    p.add_argument("dst", help="output folder (ours: a feature root)")
    p.add_argument("--from", dest="src_layout", choices=LAYOUTS, default="ours", help="layout of SRC")
    p.add_argument("--to", dest="dst_layout", choices=LAYOUTS, default="ours", help="layout of DST")
    p.add_argument("--streams", nargs="+", default=["RGB", "Flow"],
                   help="--from ours: the stream(s) to read; RGB Flow are concatenated, RGB columns first")
    p.add_argument("--stream", default=None, choices=ff.STREAMS,
                   help="--from csv_mean_100/actionformer: what the columns are (csv default RGB+Flow; "
                        "actionformer: required unless --flow_src)")
    p.add_argument("--flow_src", default=None,
                   help="--from actionformer: a folder of Flow .npy, concatenated after SRC's (RGB)")
    p.add_argument("--annotations", default=None,
                   help="per-video lengths: BSN's anet_anno_action.json or video_info_new.csv, or an "
                        "ActionFormer/OpenTAD JSON (duration, fps); needed for --from csv_mean_100")
    geo = p.add_argument_group("geometry of --from actionformer (from its config)")
    geo.add_argument("--fps", type=float, default=None, help="frames per second when the annotation has none")
    geo.add_argument("--stride", type=float, default=None, help="frames between snippets (feat_stride)")
    geo.add_argument("--snippet_frames", type=int, default=None, help="frames one snippet reads (num_frames)")
    geo.add_argument("--centre", type=float, default=None,
                     help="frames from a snippet's start to its instant (default snippet_frames / 2)")
    geo.add_argument("--first_frame", type=float, default=0.0, help="0-based frame where snippet 0 starts")
    geo.add_argument("--backbone", default=None, help="record's backbone (csv default cuhk_tsn)")
    geo.add_argument("--output", default=None, choices=ff.OUTPUTS, help="record's output (csv default scores)")
    p.add_argument("--num_rows", type=int, default=None, help="rescale every video to this many rows")
    p.add_argument("--recipe", choices=ff.RECIPES, default="bsn",
                   help="rescale recipe (--num_rows); for --from csv_mean_100, the recipe that made the files")
    p.add_argument("--videos", nargs="+", default=None, help="convert only these videos (default: all in SRC)")
    p.add_argument("--overwrite", action="store_true", help="redo every video, replacing outputs of other settings")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def check_args(args) -> None:
    """Refuse flag combinations that cannot work, before touching any file."""
    if args.src_layout == "actionformer":
        if args.stride is None or args.snippet_frames is None:
            raise InputError("--from actionformer needs --stride and --snippet_frames (feat_stride and "
                             "num_frames of its config)")
        if args.stream is None and args.flow_src is None:
            raise InputError("--from actionformer needs --stream (RGB, Flow or RGB+Flow) or --flow_src")
        if args.fps is None and args.annotations is None:
            raise InputError("--from actionformer needs --fps or --annotations giving each video's fps")
    if args.src_layout == "csv_mean_100":
        if args.annotations is None:
            raise InputError("--from csv_mean_100 needs --annotations (duration_frame/duration_second per video)")
        if args.num_rows is not None:
            raise InputError("--from csv_mean_100: the rows are already rescaled; drop --num_rows")
    if args.src_layout == "ours" and tuple(args.streams) not in {(s,) for s in ff.STREAMS} | {("RGB", "Flow")}:
        raise InputError(f"--streams must be one of {', '.join(ff.STREAMS)} or 'RGB Flow', got {args.streams}")
    if args.num_rows is not None and args.num_rows < 1:
        raise InputError(f"--num_rows must be >= 1, got {args.num_rows}")


def out_stream(args) -> str:
    """The stream name of what is converted."""
    if args.src_layout == "ours":
        return "RGB+Flow" if len(args.streams) == 2 else args.streams[0]
    if args.src_layout == "actionformer" and args.flow_src is not None:
        return "RGB+Flow"
    return args.stream or "RGB+Flow"


def list_videos(args) -> list[str]:
    """The videos of SRC (or ``--videos``), sorted."""
    src = Path(args.src)
    if args.src_layout == "ours":
        folder, pattern = src / args.streams[0], "*.json"
    else:
        folder, pattern = src, "*.csv" if args.src_layout == "csv_mean_100" else "*.npy"
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; check SRC and --from")
    found = sorted(p.stem for p in folder.glob(pattern) if not p.name.startswith("."))
    if args.videos is None:
        return found
    missing = sorted(set(args.videos) - set(found))
    if missing:
        raise InputError(f"{folder}: no {pattern} for {', '.join(missing[:5])}")
    return list(args.videos)


def outputs_of(args, video: str) -> list[Path]:
    """The files a converted ``video`` leaves in DST (the last one written last)."""
    if args.dst_layout == "csv_mean_100":
        return [ff.csv_mean_100_path(args.dst, video)]
    if args.dst_layout == "actionformer":
        return [ff.actionformer_path(args.dst, video)]
    npy = ff.feature_path(args.dst, out_stream(args), video)
    return [npy, npy.with_suffix(".json")]


def load(args, video: str, info: dict | None) -> tuple[np.ndarray, ff.FeatureRecord]:
    """One video's features and record from SRC."""
    src = Path(args.src)
    if args.src_layout == "ours":
        return ff.read_two_stream(src, video, tuple(args.streams))
    if args.src_layout == "csv_mean_100":
        vinfo = ff.lookup_video(info, video, args.annotations)
        return ff.read_csv_mean_100(src / f"{video}.csv", vinfo, recipe=args.recipe, stream=args.stream or "RGB+Flow",
                                    backbone=args.backbone or "cuhk_tsn", output=args.output or "scores")
    if args.flow_src is None:
        return _load_actionformer(args, src, video, args.stream, info)
    return ff.concat_streams(_load_actionformer(args, src, video, "RGB", info),
                             _load_actionformer(args, Path(args.flow_src), video, "Flow", info))


def _load_actionformer(args, folder: Path, video: str, stream: str, info: dict | None):
    fps, num_frames = args.fps, None
    if info is not None:
        vinfo = ff.lookup_video(info, video, args.annotations)
        fps = vinfo.fps or (vinfo.duration_frame / vinfo.duration_second
                            if vinfo.duration_frame and vinfo.duration_second else fps)
        if vinfo.duration_frame:
            num_frames = vinfo.duration_frame
        elif vinfo.duration_second and fps:
            num_frames = round(vinfo.duration_second * fps)
    if fps is None:
        raise InputError(f"{args.annotations}: no fps for {video}; pass --fps")
    return ff.read_actionformer(ff.actionformer_path(folder, video), stream, fps=fps, stride=args.stride,
                                snippet_frames=args.snippet_frames, centre=args.centre,
                                first_frame=args.first_frame, num_frames=num_frames,
                                backbone=args.backbone or "", output=args.output or "pool")


def rescale(args, x: np.ndarray, rec: ff.FeatureRecord, info: dict | None):
    """``x`` and ``rec`` rescaled to ``--num_rows`` (BSN's recipe takes the annotation's durations if any)."""
    if "rescale" in rec.extra:
        raise InputError(f"{rec.video}: already rescaled ({rec.extra['rescale'].get('recipe')}); rescale from "
                         f"the snippet features instead")
    frames, seconds = rec.num_frames, rec.num_frames / rec.fps
    if info is not None and args.recipe == "bsn":
        vinfo = ff.lookup_video(info, rec.video, args.annotations)
        if vinfo.duration_frame and vinfo.duration_second:
            frames, seconds = vinfo.duration_frame, vinfo.duration_second
    y = ff.rescale_features(x, args.num_rows, args.recipe, duration_frame=frames, duration_second=seconds,
                            snippet_frames=rec.stride)
    return y, ff.rescaled_record(rec, args.num_rows, args.recipe)


def save(args, video: str, x: np.ndarray, rec: ff.FeatureRecord) -> None:
    if args.dst_layout == "csv_mean_100":
        ff.write_csv_mean_100(args.dst, video, x)
    elif args.dst_layout == "actionformer":
        ff.write_actionformer(args.dst, video, x)
    else:
        ff.write_features(args.dst, x, rec)


def convert_one(args, video: str, info: dict | None) -> None:
    x, rec = load(args, video, info)
    if args.num_rows is not None:
        x, rec = rescale(args, x, rec, info)
    elif args.dst_layout == "csv_mean_100" and "rescale" not in rec.extra:
        raise InputError(f"{video}: {rec.num_rows} rows never rescaled; csv_mean_100 needs --num_rows (100)")
    save(args, video, x, rec)


def settings_of(args) -> dict:
    return {k: v for k, v in vars(args).items() if k not in UNSAVED}


def claim_output(args, videos: list[str]) -> None:
    """Refuse DST made with other settings (unless --overwrite: then its outputs for ``videos`` go first)."""
    path = Path(args.dst) / SETTINGS_FILE
    new = settings_of(args)
    old = None
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = {"unreadable": True}
    if old is None and not args.overwrite:
        foreign = [v for v in videos if any(out.exists() for out in outputs_of(args, v))]
        if foreign:
            raise InputError(f"{args.dst}: {len(foreign)} output(s) not made by convert_features.py (e.g. "
                             f"{foreign[0]}); choose another output folder or pass --overwrite")
    if old is not None and old != new and not args.overwrite:
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise InputError(f"{args.dst} was converted with other settings ({', '.join(diff)}); choose another "
                         f"output folder or pass --overwrite")
    if args.overwrite:
        path.unlink(missing_ok=True)
        for video in videos:  # a killed --overwrite run must not leave old outputs that look done
            for out in outputs_of(args, video)[::-1]:
                out.unlink(missing_ok=True)
    atomic_write_json(path, new)


def main(args) -> int:
    setup_logging(args.verbose)
    check_args(args)
    info = ff.read_video_info(args.annotations) if args.annotations else None
    videos = list_videos(args)
    if not videos:
        raise InputError(f"{args.src}: no {args.src_layout} feature files found")
    claim_output(args, videos)
    todo = [v for v in videos if not outputs_of(args, v)[-1].exists()]
    logger.info("%d video(s), %d already converted, converting %d: %s -> %s (%s)", len(videos),
                len(videos) - len(todo), len(todo), args.src_layout, args.dst_layout, args.dst)
    failures = []
    for video in progress(todo, desc="convert", unit="video", disable=len(todo) < 20):
        try:
            convert_one(args, video, info)
        except InputError as e:
            failures.append(f"{video}: {e}")
    if failures:
        logger.error("%d of %d video(s) failed:\n  %s", len(failures), len(todo), "\n  ".join(failures))
        return 1
    logger.info("done: %d video(s) in %s", len(videos), args.dst)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
