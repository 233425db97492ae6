"""The GPU benchmark run (issue #27): the toolkit's speed figures in one run, one table, one JSON.

Example (GPU machine, repository root; docs/gpu.md says what each figure means)::

    OUT=/tmp/gpu bash bench/gpu_all.sh                         # every section but the demo
    python bench/gpu_all.py --out /tmp/gpu --demo              # ... and the demo end to end
    python bench/gpu_all.py --out /tmp/gpu --sections flow ssn_test --budget_s flow=30
    python bench/gpu_all.py --out /tmp/dry --dry_run           # CPU, tiny sizes, the same code paths

Sections (``--sections``; figures come from the benchmarks in bench/):

* ``machine``   device, versions, cores.
* ``flow``      ``tvl1_torch`` pairs/s at 340x256 in batches (pairs that converge, and the same pairs run to
                the full iteration count, as noisy real video does), and its end-point error against the true
                flow and against OpenCV's TV-L1 (``bench/gpu_reference.py``'s file, made where OpenCV has contrib).
* ``frames``    prepares synthetic frames at 340x256 for the SSN sections (``bench_common.prepare_frames``).
* ``ssn_train`` proposals/s fed by the data pipeline vs from memory, and peak memory, per batch size, with and
                without mixed precision (``bench_ssn_train``).
* ``ssn_test``  scoring frames/s end to end vs the backbone alone on the same frames (``bench_ssn_test``).
* ``demo``      (only with ``--demo``) ``./run_demo.sh`` stage by stage, with this python in a stand-in venv.

Each section runs in its own process (forked from this one, so imports are paid once) with its own time
budget (``--budget_s``): a failure, a crash or a timeout loses only that section, and a section saves each
figure as soon as it is measured, so one cut short keeps what it measured.  A section starts a measurement
only when the time left covers its estimate.  Writes ``OUT/gpu_all.json`` (every figure, status, settings;
rewritten after each section), ``OUT/gpu_all.log`` (every section's output) and ``OUT/gpu_all.txt`` (the
table, also printed at the end).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import logging
import multiprocessing
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_reference import DEFAULT_REF  # noqa: E402
from ops.errors import InputError, run_main  # noqa: E402
from ops.io import atomic_write_json, atomic_write_text  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GRACE_S = 20          # past its budget a section's process group is killed after this much more


@dataclass(frozen=True)
class Sizes:
    """What each section measures; ``FULL`` on the GPU, ``DRY`` for ``--dry_run`` (same code, tiny sizes)."""

    flow_batch: int = 64                    # pairs per tvl1_torch call (the extractor's CUDA batch)
    flow_batches: int = 4                   # timed batches at most, after one warm-up batch
    flow_size: tuple = (340, 256)           # pair size when there is no reference file
    tvl1: dict = field(default_factory=dict)    # TVL1Params overrides (none: OpenCV's defaults)
    preset: str = "tiny"                    # synthetic dataset of the SSN sections (8 videos)
    frame_size: tuple = (340, 256)
    arch: str = "bninception"
    jobs: int = 16                          # extraction processes (frames section)
    train_batch_sizes: tuple = (1, 2, 4, 8)
    train_steps: int = 15
    train_warmup: int = 3
    test_repeat: int = 32                   # copies of the test list scored end to end
    test_memory_chunks: int = 48            # 32-frame chunks held on the device for the backbone run
    demo_preset: str = "demo"
    demo_env: dict = field(default_factory=dict)


FULL = Sizes()
DRY = Sizes(flow_batch=2, flow_batches=1, flow_size=(64, 48),
            tvl1=dict(num_scales=2, num_warps=1, inner_iterations=5, outer_iterations=1, median_filter=3),
            frame_size=(128, 96), arch="tiny", jobs=2, train_batch_sizes=(1,), train_steps=1, train_warmup=1,
            test_repeat=1, test_memory_chunks=2, demo_preset="tiny",
            demo_env={"BINARY_ARGS": "--epochs 1 -b 4", "SSN_ARGS": "--epochs 1 -b 4", "SSN_ARGS_Flow": "",
                      "TEST_INTERVAL": "4"})


class Skip(Exception):
    """A section that cannot run here (a module not merged yet, no CUDA): reported as skipped, not failed."""


class Section:
    """What a running section reports.  Every call rewrites its part file, so a killed section keeps its figures.

    ``figure(key, value, unit, target, note)``: one number (``None`` with a note when it could not be
    measured); ``target`` is ``(">=", x)`` or ``("<=", x)``.  ``info(**kv)``: settings and context.
    ``can_afford(seconds)``: whether a measurement estimated at ``seconds`` fits in the time left.
    """

    def __init__(self, name: str, part: Path, budget_s: float):
        self.name, self.part, self.budget_s = name, part, budget_s
        self.start = time.perf_counter()
        self.data = {"status": "running", "figures": {}, "info": {}, "notes": []}

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.start)

    def can_afford(self, seconds: float) -> bool:
        return self.left() > 1.25 * seconds + 2.0

    def figure(self, key: str, value, unit: str, target: tuple | None = None, note: str | None = None) -> None:
        value = None if value is None else round(float(value), 4)
        self.data["figures"][key] = {"value": value, "unit": unit, "target": list(target) if target else None,
                                     "note": note}
        print(f"[{self.name}] {key}: {value} {unit}" + (f" ({note})" if note else ""), flush=True)
        self.save()

    def info(self, **kv) -> None:
        self.data["info"].update(kv)
        self.save()

    def note(self, text: str) -> None:
        self.data["notes"].append(text)
        print(f"[{self.name}] note: {text}", flush=True)
        self.save()

    def finish(self, status: str, **kv) -> None:
        self.data.update(status=status, **kv)
        self.save()

    def save(self) -> None:
        atomic_write_json(self.part, self.data)


# --------------------------------------------------------------------------- sections


def prepared(args, sz: Sizes, subset: str) -> Path | None:
    """The frames section's sliding-window list of ``subset``, or None (the benchmark then prepares it)."""
    from bench_common import prepared_list
    path = prepared_list(args.work / "bench_frames", tuple(sz.frame_size), subset)
    return path if path.is_file() else None


def ssn_bench_argv(args, sz: Sizes, subset: str) -> list[str]:
    """Flags of bench_ssn_train / bench_ssn_test for the prepared frames and the benchmarked model."""
    return ["--root", str(args.work / "bench_frames"), "--preset", sz.preset, "--size", *map(str, sz.frame_size),
            "--subset", subset, "--arch", sz.arch, "-j", str(args.workers), "--device", args.device]


def section_machine(sec: Section, args, sz: Sizes) -> None:
    import cv2
    import torch

    from ops.video.flow import has_opencv_tvl1
    sec.info(python=platform.python_version(), torch=torch.__version__, cuda=torch.version.cuda,
             cudnn=torch.backends.cudnn.version(), opencv=cv2.__version__, opencv_tvl1=has_opencv_tvl1(),
             platform=platform.platform())
    sec.figure("CPU cores", os.cpu_count(), "cores")
    if not torch.cuda.is_available():
        sec.info(device="CPU")
        sec.note("no CUDA device visible to torch: every figure below is a CPU figure")
        return
    props = torch.cuda.get_device_properties(0)
    sec.info(device=props.name, capability=f"{props.major}.{props.minor}", gpus=torch.cuda.device_count())
    sec.figure("GPU memory", props.total_memory / 2 ** 30, "GiB")


def _flow_pairs(sec: Section, args, sz: Sizes):
    """(names, prev, nxt, truth, opencv or None) from the reference file, else generated (no OpenCV column)."""
    import numpy as np

    from gpu_reference import read_reference, reference_pairs
    if args.flow_ref.is_file():
        ref = read_reference(args.flow_ref)
        sec.info(reference=str(args.flow_ref), reference_meta=ref["meta"])
        return ref["names"], ref["prev"], ref["nxt"], ref["truth"], ref["opencv"]
    pairs = reference_pairs(sz.flow_size[1], sz.flow_size[0], 3.0)
    sec.note(f"no OpenCV reference at {args.flow_ref} (make it with `python bench/gpu_reference.py` where "
             "OpenCV has contrib, and carry .gpu_ref): EPE vs OpenCV not measured")
    prev, nxt, truth = (np.stack([p[i] for p in pairs.values()]) for i in range(3))
    return list(pairs), prev, nxt, truth, None


def _pairs_per_second(sec: Section, fn, prev, nxt, max_batches: int) -> tuple[float | None, str]:
    """pairs/s of ``fn`` over whole batches (one warm-up batch first), as many as the budget allows."""
    start = time.perf_counter()
    fn(prev, nxt)                                    # warm-up: kernels, allocator, cuDNN
    warm = time.perf_counter() - start
    if not sec.can_afford(warm):
        return len(prev) / warm, f"warm-up batch only ({warm:.1f} s; budget)"
    done, secs = 0, 0.0
    while done < max_batches and sec.can_afford(secs / max(done, 1) or warm):
        start = time.perf_counter()
        fn(prev, nxt)                                # numpy in and out: it synchronises like the extractor
        secs += time.perf_counter() - start
        done += 1
    return done * len(prev) / secs, f"{done} timed batch(es) of {len(prev)} after a warm-up of {warm:.1f} s"


def section_flow(sec: Section, args, sz: Sizes) -> None:
    import numpy as np

    from ops.device import resolve_device
    from ops.video.flow import end_point_error, make_flow
    from ops.video.tvl1_torch import TVL1Params, iterations_upper_bound
    device = resolve_device(args.device)
    names, prev, nxt, truth, opencv = _flow_pairs(sec, args, sz)
    h, w = prev.shape[1:]
    sec.info(device=device, pairs=names, size=f"{w}x{h}", batch=sz.flow_batch, tvl1_overrides=sz.tvl1,
             iterations_upper_bound=iterations_upper_bound(TVL1Params(**sz.tvl1)))
    fn = make_flow("tvl1_torch", device=device, **sz.tvl1)
    out = fn(prev, nxt)                              # accuracy: every pair once, in one batch
    epe = {n: end_point_error(out[i], truth[i], 8) for i, n in enumerate(names)}
    sec.info(epe_vs_truth=epe)
    sec.figure("tvl1_torch EPE vs true flow (mean)", np.mean(list(epe.values())), "px",
               note=f"{len(names)} pairs, 8-px border excluded")
    if opencv is None:
        sec.figure("tvl1_torch EPE vs OpenCV TV-L1 (mean)", None, "px", note="no reference file")
    else:
        vs_cv = {n: end_point_error(out[i], opencv[i], 8) for i, n in enumerate(names)}
        cv_truth = {n: end_point_error(opencv[i], truth[i], 8) for i, n in enumerate(names)}
        sec.info(epe_vs_opencv=vs_cv, opencv_epe_vs_truth=cv_truth)
        sec.figure("tvl1_torch EPE vs OpenCV TV-L1 (mean)", np.mean(list(vs_cv.values())), "px")
        sec.figure("OpenCV TV-L1 EPE vs true flow (mean, reference)", np.mean(list(cv_truth.values())), "px")
    idx = np.arange(sz.flow_batch) % len(names)      # a batch mixing every pair
    speed, how = _pairs_per_second(sec, fn, prev[idx], nxt[idx], sz.flow_batches)
    sec.figure(f"tvl1_torch pairs/s, batch {sz.flow_batch}, {w}x{h}", speed, "pairs/s", (">=", 300), how)
    full = make_flow("tvl1_torch", device=device, **{**sz.tvl1, "epsilon": 0.0})   # never stops early
    speed, how = _pairs_per_second(sec, full, prev[idx], nxt[idx], max(1, sz.flow_batches // 2))
    sec.figure(f"tvl1_torch pairs/s, batch {sz.flow_batch}, every iteration run", speed, "pairs/s",
               note=f"epsilon 0, as on real video; {how}")


def section_frames(sec: Section, args, sz: Sizes) -> None:
    from bench_common import prepare_lists
    root = args.work / "bench_frames"
    prepare_lists(root, sz.preset, tuple(sz.frame_size), ["validation", "test"], sz.jobs, "dis_fast")
    w, h = sz.frame_size
    folders = [d for d in (root / f"frames_{w}x{h}").iterdir() if d.is_dir()]
    sec.info(root=str(root), preset=sz.preset)
    sec.figure("videos prepared", len(folders), "videos")
    sec.figure("RGB frames prepared", sum(len(list(d.glob("img_*"))) for d in folders), "frames",
               note=f"{w}x{h} JPEG")


def section_ssn_train(sec: Section, args, sz: Sizes) -> None:
    import bench_ssn_train as bt
    targs = bt.get_args_parser().parse_args(ssn_bench_argv(args, sz, "validation") + [
        "--steps", str(sz.train_steps), "--warmup", str(sz.train_warmup)])
    dataset = bt.train_dataset(targs, prepared(args, sz, "validation"))
    from ops.train.engine import setup_runtime
    cuda = setup_runtime(args.device).device.type == "cuda"
    sec.info(arch=sz.arch, frame_size=sz.frame_size, videos=len(dataset.videos), workers=args.workers,
             proposals_per_video=dataset.sampler.cfg.proposals_per_video, steps=sz.train_steps,
             warmup=sz.train_warmup, channels_last=cuda)
    if not cuda:
        sec.note("CPU: mixed precision is off in both runs")
    took: dict[tuple[bool, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for amp in (True, False):
            targs.no_amp = not amp
            tag = "AMP bf16" if amp else "FP32"
            for b in sz.train_batch_sizes:
                guess = took.get((True, b), 0) * (3 if cuda else 1) if not amp else max(
                    [s * b / k for (a, k), s in took.items() if a] or [0])
                if not sec.can_afford(guess):
                    sec.note(f"{tag} batch {b}: not run (estimated {guess:.0f} s, {sec.left():.0f} s left)")
                    continue
                start = time.perf_counter()
                row = bt.bench_batch_size(targs, dataset, b, Path(tmp))
                took[(amp, b)] = time.perf_counter() - start
                sec.figure(f"{tag} batch {b}: pipeline", row["pipeline_proposals_s"], "proposals/s")
                sec.figure(f"{tag} batch {b}: from memory", row["memory_proposals_s"], "proposals/s")
                sec.figure(f"{tag} batch {b}: pipeline / memory", row["ratio"], "ratio", (">=", 0.9))
                sec.figure(f"{tag} batch {b}: peak memory", row["peak_mib"], "MiB",
                           note=None if cuda else "CPU: not measured")


def section_ssn_test(sec: Section, args, sz: Sizes) -> None:
    import bench_ssn_test as bs
    targs = bs.get_args_parser().parse_args(ssn_bench_argv(args, sz, "test") + [
        "--repeat", str(sz.test_repeat), "--memory_chunks", str(sz.test_memory_chunks)])
    m = bs.measure(targs, prepared(args, sz, "test"))
    sec.info(arch=sz.arch, videos=m["videos"], frames=m["frames"], proposals=m["proposals"], chunk=targs.chunk,
             workers=args.workers, end_to_end_s=m["end_to_end_s"], backbone_s=m["backbone_s"])
    sec.figure("end to end (ssn_test loop)", m["end_to_end_frames_s"], "frames/s")
    sec.figure("backbone alone, same frames", m["backbone_frames_s"], "frames/s")
    sec.figure("end to end / backbone alone", m["ratio"], "ratio", (">=", 0.9))


def fake_venv(folder: Path, python: str) -> Path:
    """A folder scripts/setup_venv.sh accepts as the project's venv: ``bin/python`` runs ``python`` and the
    stamp matches requirements.txt, so nothing is installed (the GPU machine has no package index)."""
    import hashlib
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    # a wrapper, not a symlink: a symlink to a venv's python loses that venv's site-packages
    atomic_write_text(folder / "bin" / "python", f'#!/bin/sh\nexec "{python}" "$@"\n')
    os.chmod(folder / "bin" / "python", 0o755)
    digest = hashlib.sha256((REPO / "requirements.txt").read_bytes()).hexdigest()
    atomic_write_text(folder / ".requirements.sha256", digest + "\n")
    return folder


def parse_stage_log(text: str) -> tuple[dict[str, int], int | None]:
    """run_demo.sh's ``=== STAGE done in N s`` lines -> {stage: seconds}, and the total when it finished."""
    import re
    stages = {m[1]: int(m[2]) for m in re.finditer(r"^=== (\S+) done in (\d+) s$", text, re.M)}
    total = re.search(r"^=== demo finished in (\d+) s$", text, re.M)
    return stages, int(total[1]) if total else None


def _run_logged(cmd: list[str], env: dict, log: Path, timeout: float, on_start: Callable) -> int | None:
    """Run ``cmd`` in its own process group with output to ``log`` (``on_start(pid)`` once started); kill the
    group at ``timeout`` (returns None then, else the exit status)."""
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        on_start(proc.pid)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None


def section_demo(sec: Section, args, sz: Sizes) -> None:
    work = args.work / f"demo_{sz.demo_preset}"
    env = {**os.environ, **sz.demo_env, "VENV": str(fake_venv(args.work / "venv", sys.executable)),
           "JOBS": str(args.demo_jobs), "WORK": str(work), "SYNTH_PRESET": sz.demo_preset,
           "PIP_NO_INDEX": "1", "PYTHONUNBUFFERED": "1"}   # were pip ever reached, it must not go online
    if args.demo_flow:
        env["FLOW"] = args.demo_flow
    sec.info(script=str(args.demo_script), work=str(work), jobs=args.demo_jobs, preset=sz.demo_preset,
             flow=args.demo_flow or "the device's default", overrides=sz.demo_env)
    log = args.work / "demo_stages.log"
    status = _run_logged(["bash", str(args.demo_script)], env, log, max(sec.left() - 15, 1),
                         lambda pid: sec.info(process_groups=[pid]))
    text = log.read_text(errors="replace")
    print(text[-20000:], flush=True)
    stages, total = parse_stage_log(text)
    for stage, secs in stages.items():
        sec.figure(f"stage {stage}", secs, "s")
    sec.figure("demo end to end", total, "s", note=None if total is not None else "did not finish")
    _demo_map(sec, work)
    if status is None:
        sec.note(f"stopped at the budget ({sec.budget_s:.0f} s) after {len(stages)} stages")
    elif status != 0:
        raise RuntimeError(f"run_demo.sh exited with status {status} after {len(stages)} stages (see the log)")


def _demo_map(sec: Section, work: Path) -> None:
    """The fused detection mAP of the demo's evaluation, when it got that far."""
    path = work / "eval_fused.json"
    if path.is_file():
        metrics = json.loads(path.read_text())["metrics"]
        sec.figure("demo fused average mAP", metrics["average_mAP"], "fraction",
                   note=f"IoU {metrics['iou_thresholds']}")


@dataclass(frozen=True)
class Spec:
    name: str
    fn: Callable
    budget_s: float
    on_request: bool = False          # runs only when asked for (--demo or --sections)


SECTIONS = [Spec("machine", section_machine, 20), Spec("flow", section_flow, 60),
            Spec("frames", section_frames, 40), Spec("ssn_train", section_ssn_train, 100),
            Spec("ssn_test", section_ssn_test, 40), Spec("demo", section_demo, 540, on_request=True)]


# --------------------------------------------------------------------------- running sections


def _child(spec: Spec, args, sz: Sizes, budget: float, part: Path, log: Path) -> None:
    """Body of a section's process: own process group (killed whole at the timeout), output to the log."""
    os.setsid()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)              # the file descriptors: for the section's subprocesses
    os.dup2(fd, 2)
    sys.stdout = sys.stderr = os.fdopen(fd, "w", buffering=1)     # Python's own (pytest may have replaced them)
    from ops.log import setup_logging
    setup_logging(args.verbose)
    logging.captureWarnings(True)
    print(f"\n===== section {spec.name} (budget {budget:.0f} s) {datetime.datetime.now():%H:%M:%S}", flush=True)
    sec = Section(spec.name, part, budget)
    try:
        spec.fn(sec, args, sz)
        sec.finish("ok")
    except Skip as e:
        sec.finish("skipped", reason=str(e))
    except BaseException as e:   # noqa: B902 - a section must report whatever stopped it
        traceback.print_exc()
        sec.finish("failed", error=f"{type(e).__name__}: {e}"[:2000], traceback=traceback.format_exc()[-3000:])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)         # no atexit of the forked parent's state


def run_section(spec: Spec, args, sz: Sizes, budget: float, parts: Path, log: Path, grace: float = GRACE_S) -> dict:
    """Run one section in a forked process, killed with its descendants at ``budget + grace`` seconds;
    its result dict (status, seconds, figures, ...)."""
    part = parts / f"{spec.name}.json"
    ctx = multiprocessing.get_context("fork")
    start, cpu = time.perf_counter(), _children_cpu_s()
    proc = ctx.Process(target=_child, args=(spec, args, sz, budget, part, log), name=f"gpu_all-{spec.name}")
    proc.start()
    proc.join(budget + grace)
    timed_out = proc.is_alive()
    result = json.loads(part.read_text()) if part.is_file() else {"figures": {}, "info": {}, "notes": []}
    if timed_out:
        for group in [proc.pid, *result["info"].get("process_groups", [])]:    # the section's, and the demo's
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        proc.join()
    if timed_out:
        result.update(status="timeout", error=f"killed at its budget of {budget:.0f} s (+{grace:g} s)")
    elif result.get("status") in (None, "running"):
        result.update(status="failed", error=f"the section's process died (exit code {proc.exitcode}); see the log")
    result.update(seconds=round(time.perf_counter() - start, 1), budget_s=budget,
                  cpu_s=round(_children_cpu_s() - cpu, 1))
    return result


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished children and their waited-for descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parse_budgets(items: list[str], names: list[str]) -> dict[str, float]:
    """``--budget_s`` values: ``SECONDS`` (every section) or ``NAME=SECONDS``; the section budgets."""
    budgets = {s.name: s.budget_s for s in SECTIONS}
    for item in items:
        name, _, value = item.rpartition("=")
        try:
            seconds = float(value)
        except ValueError:
            raise InputError(f"--budget_s {item}: expected SECONDS or NAME=SECONDS") from None
        if name and name not in budgets:
            raise InputError(f"--budget_s {item}: no section {name!r}; sections: {', '.join(budgets)}")
        budgets.update({name: seconds} if name else dict.fromkeys(names, seconds))
    return budgets


def chosen_sections(args) -> list[Spec]:
    by_name = {s.name: s for s in SECTIONS}
    if args.sections:
        unknown = [n for n in args.sections if n not in by_name]
        if unknown:
            raise InputError(f"--sections: unknown {unknown}; sections: {', '.join(by_name)}")
        return [s for s in SECTIONS if s.name in args.sections or s.name == "machine"]
    return [s for s in SECTIONS if not s.on_request or (s.name == "demo" and args.demo)]


# --------------------------------------------------------------------------- report


def _target_text(fig: dict) -> tuple[str, str]:
    if not fig["target"]:
        return "", ""
    op, x = fig["target"]
    if fig["value"] is None:
        return f"{op} {x:g}", "n/a"
    met = fig["value"] >= x if op == ">=" else fig["value"] <= x
    return f"{op} {x:g}", "met" if met else "MISSED"


def format_table(report: dict) -> str:
    """One row per figure: section (status, seconds of budget), figure, value, unit, target, met/MISSED."""
    head = ("section", "figure", "value", "unit", "target", "")
    rows = []
    for name, res in report["sections"].items():
        where = f"{name} ({res['status']}, {res['seconds']:.0f}/{res['budget_s']:.0f} s)"
        for key, fig in res["figures"].items():
            value = "null" if fig["value"] is None else f"{fig['value']:.4g}" if abs(fig["value"]) < 1e4 \
                else f"{fig['value']:.0f}"
            rows.append((where, key, value, fig["unit"], *_target_text(fig)))
            where = ""
        for text in [*(res.get("notes") or []), res.get("reason"), res.get("error")]:
            if text:
                rows.append((where, f"  - {text.splitlines()[0][:150]}", "", "", "", ""))
                where = ""
        if where:
            rows.append((where, "(no figures)", "", "", "", ""))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("{:<%d}" % w for w in widths)
    out = [line.format(*head), line.format(*("-" * w for w in widths))]
    out += [line.format(*r).rstrip() for r in rows]
    return "\n".join(out)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or REPO / "work_dirs" / "gpu_all_out"),
                   help="gpu_all.json, gpu_all.log, gpu_all.txt go here (default: $OUT)")
    p.add_argument("--work", type=Path, default=REPO / "work_dirs" / "gpu_all",
                   help="prepared data, reused by a second run (frames, demo outputs, the stand-in venv)")
    p.add_argument("--dry_run", action="store_true", help="tiny sizes on the CPU: checks every code path quickly")
    p.add_argument("--sections", nargs="+", default=None,
                   help=f"run only these (machine always runs): {' '.join(s.name for s in SECTIONS)}")
    p.add_argument("--demo", action="store_true", help="also run ./run_demo.sh end to end (minutes)")
    p.add_argument("--budget_s", nargs="+", default=[], metavar="[NAME=]SECONDS",
                   help="time budget of every section, or of one: " +
                        ", ".join(f"{s.name}={s.budget_s:g}" for s in SECTIONS))
    p.add_argument("--flow_ref", type=Path, default=DEFAULT_REF, help="OpenCV TV-L1 reference (gpu_reference.py)")
    p.add_argument("--device", default=None, help="default: auto (cpu with --dry_run)")
    p.add_argument("-j", "--workers", type=int, default=None,
                   help="data-loading processes of the SSN sections (default: 12, dry run 1)")
    p.add_argument("--demo_jobs", type=int, default=None, help="JOBS of run_demo.sh (default: CPU cores)")
    p.add_argument("--demo_flow", default="", help="FLOW of run_demo.sh (default: the device's, tvl1_torch on CUDA)")
    p.add_argument("--demo_script", type=Path, default=REPO / "run_demo.sh", help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def main(args: argparse.Namespace) -> int:
    sz = DRY if args.dry_run else FULL
    args.device = args.device or ("cpu" if args.dry_run else "auto")
    args.workers = args.workers if args.workers is not None else (1 if args.dry_run else 12)
    args.demo_jobs = args.demo_jobs or os.cpu_count()
    args.out, args.work = args.out.resolve(), args.work.resolve()
    specs = chosen_sections(args)
    budgets = parse_budgets(args.budget_s, [s.name for s in specs])
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.out / "gpu_all.log"
    log.write_text("")
    _preload()
    report = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "dry_run": args.dry_run, "settings": {k: str(v) for k, v in vars(args).items()},
              "sizes": asdict(sz), "sections": {}}
    print(f"gpu_all: sections {' '.join(s.name for s in specs)}; budgets "
          + ", ".join(f"{s.name} {budgets[s.name]:g} s" for s in specs)
          + f" (at most {sum(budgets[s.name] for s in specs):g} s); log {log}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu_all_parts_") as parts:
        for spec in specs:
            res = run_section(spec, args, sz, budgets[spec.name], Path(parts), log)
            report["sections"][spec.name] = res
            print(f"gpu_all: {spec.name} {res['status']} in {res['seconds']:.0f} s ({res['cpu_s']:.0f} CPU s)"
                  + (f": {res.get('error') or res.get('reason')}" if res["status"] != "ok" else ""), flush=True)
            atomic_write_json(args.out / "gpu_all.json", report)
    table = format_table(report)
    report["table"] = table
    atomic_write_json(args.out / "gpu_all.json", report)
    atomic_write_text(args.out / "gpu_all.txt", table + "\n")
    print(table)
    return 0 if all(r["status"] in ("ok", "skipped") for r in report["sections"].values()) else 1


def _preload() -> None:
    """Import the heavy modules once, here, so each forked section starts warm.  Nothing here touches CUDA:
    a CUDA context made before a fork would be unusable in the children."""
    for name in ("torch", "cv2", "bench_ssn_train", "bench_ssn_test", "gpu_reference"):
        importlib.import_module(name)


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
