"""Turn a normalized proposal list into a frame-based one for training/testing SSN.

Example::

    python gen_proposal_list.py thumos14 /data/frames \\
        --input data/thumos14_tag_val_normalized_proposal_list.txt \\
        --output work/thumos14_tag_val_proposal_list.txt \\
        --annotations /data/thumos14/annotations --subset validation

Start/end fractions become frame indices ``floor(fraction * num_frames)``
using the real frame count of each extracted folder (``--modality`` picks the
RGB or the flow count), and the video field becomes the folder's path.

Before anything is written a pre-flight check looks at every video of the
list and reports each one that is missing, has zero frames, whose RGB and
flow counts differ by more than one, or whose frame count disagrees with
duration x fps (duration from ``--annotations``; fps from the folder's
``meta.json`` or ``--fps``).  With problems the script stops (exit code 2)
unless ``--skip_bad`` is given, which drops those videos from the output.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ops.errors import InputError, run_main
from ops.formats.annotations import add_video_dir_arg, load_dataset_annotations
from ops.formats.frames import add_preflight_args, preflight
from ops.formats.presets import load_preset
from ops.formats.proposal_list import (ListVariantError, ProposalList, check_fractions, read_proposal_list,
                                       to_frame_based, write_proposal_list)
from ops.log import setup_logging

logger = logging.getLogger("gen_proposal_list")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or path to a preset JSON")
    p.add_argument("frame_path", type=Path, help="root of the extracted frame folders (one per video)")
    p.add_argument("--input", type=Path, required=True, nargs="+", help="normalized proposal list(s)")
    p.add_argument("--output", type=Path, required=True, nargs="+", help="frame-based list(s), one per input")
    p.add_argument("--modality", choices=["RGB", "Flow"], default="RGB",
                   help="whose frame count scales the list (RGB frames or flow frames)")
    p.add_argument("--annotations", type=Path, default=None,
                   help="annotations giving video durations for the duration x fps check")
    p.add_argument("--subset", default=None, help="subset of --annotations (default: all)")
    add_video_dir_arg(p)
    add_preflight_args(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def convert(plist: ProposalList, frame_path: Path, counts: dict[str, int]) -> ProposalList:
    """Frame-based copy of ``plist`` keeping only the videos in ``counts``."""
    videos = [to_frame_based(b, counts[b.video_id], str(frame_path / b.video_id))
              for b in plist if b.video_id in counts]
    return ProposalList(videos=videos, normalized=False, first_index=plist.first_index)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    if len(args.input) != len(args.output):
        raise InputError(f"--input has {len(args.input)} lists but --output {len(args.output)}: give one output per input")
    durations = {}
    if args.annotations is not None:
        db = load_dataset_annotations(preset, args.annotations, args.subset, video_dir=args.video_dir)
        durations = dict(zip(db.videos["video"], db.videos["duration"]))
    else:
        logger.info("no --annotations: the duration x fps check is skipped")
    plans, all_problems = [], []
    for src, dst in zip(args.input, args.output):
        try:
            plist = read_proposal_list(src, normalized=True)   # also a list without any box (TAG found none)
        except ListVariantError:
            raise InputError(f"{src} is already frame-based; gen_proposal_list needs a normalized list") from None
        check_fractions(plist, src)
        counts, problems = preflight([b.video_id for b in plist], args.frame_path, args.modality, durations,
                                     args.fps, args.count_tolerance)
        plans.append((src, dst, plist, counts))
        all_problems += problems
    if all_problems:
        for p in all_problems:
            logger.warning("pre-flight: %s: %s", p.video, p.reason)
        summary = f"pre-flight found {len(all_problems)} problem video(s) in {[str(s) for s in args.input]}"
        if not args.skip_bad:
            logger.error("%s; nothing written. Fix them, or re-run with --skip_bad to drop them.", summary)
            return 2
        logger.warning("%s; --skip_bad: these videos are left out.", summary)
    for src, dst, plist, counts in plans:
        write_proposal_list(dst, convert(plist, args.frame_path, counts))
        logger.info("%s -> %s: %d videos (%d dropped)", src, dst, len(counts), len(plist) - len(counts))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
