"""OpenCV TV-L1 reference flow for the GPU benchmark (``bench/gpu_all.py``, section ``flow``).

The GPU machine's OpenCV has no contrib modules (no ``cv2.optflow``), so the
reference is computed here, on a machine that has them, and carried along:
a few synthetic frame pairs at the extraction size (340x256) with a known flow
(``bench_flow.pairs_for``: two translations, rotation + zoom, a moving square;
plus the first translation with independent Gaussian noise on both frames, as
in compressed video, where TV-L1 rarely meets its stopping test) and OpenCV's
Dual TV-L1 flow of each (default parameters, as DenseFlow).

File (one ``.npz``, written by :func:`write_reference`, read by
:func:`read_reference`; the folder ``.gpu_ref/`` is git-ignored)::

    names   (N,) str            pair names
    prev    (N, H, W) uint8     first frames (gray)
    nxt     (N, H, W) uint8     second frames
    truth   (N, H, W, 2) f32    true flow, pixels, prev[y, x] = nxt[(y, x) + flow]
    opencv  (N, H, W, 2) f32    OpenCV Dual TV-L1 flow prev -> nxt
    meta    () str              JSON: opencv version, width, height, noise, seconds per pair

Example::

    python bench/gpu_reference.py                    # -> .gpu_ref/flow_ref.npz (about 10 s)
    python bench/gpu_reference.py --out /tmp/ref.npz --width 64 --height 48
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench_flow import pairs_for  # noqa: E402
from ops.errors import InputError, run_main  # noqa: E402
from ops.io import atomic_open  # noqa: E402
from ops.video.flow import make_flow  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REF = REPO / ".gpu_ref" / "flow_ref.npz"
KEYS = ("names", "prev", "nxt", "truth", "opencv", "meta")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_REF)
    p.add_argument("--width", type=int, default=340)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--noise", type=float, default=3.0, help="std of the noisy pair's Gaussian noise (0..255 scale)")
    return p


def reference_pairs(h: int, w: int, noise: float) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """name -> (prev, nxt, true flow): bench_flow's pairs and a noisy copy of the first."""
    pairs = pairs_for(h, w)
    name, (prev, nxt, flow) = next(iter(pairs.items()))
    rng = np.random.default_rng(1)

    def noisy(img):
        return np.clip(np.rint(img + rng.normal(0.0, noise, img.shape)), 0, 255).astype(np.uint8)

    pairs[f"{name}+noise{noise:g}"] = (noisy(prev), noisy(nxt), flow)
    return pairs


def write_reference(path: Path, pairs: dict, opencv: np.ndarray, meta: dict) -> None:
    """Write the reference file (layout in the module docstring) atomically."""
    prev, nxt, truth = (np.stack([p[i] for p in pairs.values()]) for i in range(3))
    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, names=np.array(list(pairs)), prev=prev, nxt=nxt, truth=truth.astype(np.float32),
                            opencv=opencv.astype(np.float32), meta=np.array(json.dumps(meta)))


def read_reference(path: Path) -> dict:
    """The reference file as a dict of arrays (``names`` a list, ``meta`` a dict); InputError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in KEYS if k not in z.files]
            if missing:
                raise InputError(f"{path}: not a flow reference (missing {missing}); rerun bench/gpu_reference.py")
            ref = {k: z[k] for k in KEYS}
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable flow reference ({e}); rerun bench/gpu_reference.py") from None
    ref["names"], ref["meta"] = [str(n) for n in ref["names"]], json.loads(str(ref["meta"]))
    n = len(ref["names"])
    shapes = {k: ref[k].shape for k in ("prev", "nxt", "truth", "opencv")}
    if {s[0] for s in shapes.values()} != {n} or shapes["prev"] != shapes["nxt"] \
            or shapes["truth"] != shapes["opencv"] or shapes["truth"][1:3] != shapes["prev"][1:]:
        raise InputError(f"{path}: inconsistent shapes {shapes} for {n} pairs; rerun bench/gpu_reference.py")
    return ref


def main(args: argparse.Namespace) -> int:
    pairs = reference_pairs(args.height, args.width, args.noise)
    tvl1 = make_flow("tvl1")             # SetupError naming the fix when OpenCV lacks contrib
    start = time.perf_counter()
    opencv = np.stack([tvl1(prev[None], nxt[None])[0] for prev, nxt, _ in pairs.values()])
    seconds = (time.perf_counter() - start) / len(pairs)
    meta = {"opencv": cv2.__version__, "algorithm": "cv2.optflow.DualTVL1OpticalFlow_create() defaults",
            "width": args.width, "height": args.height, "noise": args.noise, "seconds_per_pair": round(seconds, 3)}
    write_reference(args.out, pairs, opencv, meta)
    print(f"{args.out}: {len(pairs)} pairs at {args.width}x{args.height}, OpenCV {cv2.__version__} TV-L1 "
          f"{seconds:.2f} s per pair")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
