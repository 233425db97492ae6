"""Where work runs: the one reading of ``--device`` (every stage that computes), and ``--shard K/N``.

``auto`` (a CUDA GPU when torch sees one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.  Anything else, and a
GPU that is not there, is a one-line error before any work starts: a typo must not silently run on the CPU,
``cuda`` without a GPU must not end in a traceback, and ``cuda:1`` must not silently become ``cuda:0``.
"""
from __future__ import annotations

import re

from ops.errors import InputError, SetupError

DEVICE_HELP = "auto (a CUDA GPU when present), cpu, cuda or cuda:N"
_DEVICE = re.compile(r"auto|cpu|cuda(?::(\d+))?")


def resolve_device(device: str = "auto", local_rank: int | None = None) -> str:
    """``device`` checked and resolved to ``"cpu"`` or ``"cuda:N"``.

    ``local_rank`` (under torchrun) picks the GPU of a bare ``cuda`` / ``auto``; an explicit ``cuda:N`` with
    several processes is refused (each process must take its own GPU).  Without ``local_rank``, ``cuda`` means
    the current CUDA device (``cuda:0`` unless ``CUDA_VISIBLE_DEVICES`` says otherwise).
    """
    m = _DEVICE.fullmatch(str(device))
    if m is None:
        raise InputError(f"--device {device!r}: choose {DEVICE_HELP}")
    if device == "cpu":
        return "cpu"
    import torch
    if not torch.cuda.is_available():
        if device == "auto":
            return "cpu"
        raise SetupError(f"--device {device}: no CUDA GPU is visible to torch on this machine; use --device cpu "
                         "(or auto)")
    count = torch.cuda.device_count()
    if m.group(1) is not None:
        if local_rank is not None:
            raise InputError(f"--device {device}: under torchrun each process uses the GPU of its local rank; "
                             "pass --device cuda")
        index = int(m.group(1))
        if index >= count:
            raise SetupError(f"--device {device}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
        return f"cuda:{index}"
    if local_rank is not None and local_rank >= count:
        raise SetupError(f"local rank {local_rank} has no GPU of its own ({count} visible); start as many "
                         "processes per node as there are GPUs")
    return f"cuda:{local_rank if local_rank is not None else torch.cuda.current_device()}"


def device_arg(text: str) -> str:
    """argparse ``type`` for ``--device``: checks the spelling at parse time (the GPU is checked when used)."""
    if _DEVICE.fullmatch(text) is None:
        import argparse
        raise argparse.ArgumentTypeError(f"{text!r}: choose {DEVICE_HELP}")
    return text


# --------------------------------------------------------------------------- splitting work across machines


def shard_arg(text: str) -> tuple[int, int]:
    """argparse ``type`` for ``--shard K/N``: the K-th (1-based) of N parts of the work (a job array's index)."""
    import argparse
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected K/N, e.g. 3/8") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"{text!r}: K must be in 1..N")
    return k, n


def take_shard(items: list, shard: tuple[int, int] | None = None, rank: int = 0, world_size: int = 1) -> list:
    """This process's part of ``items`` (kept in order): shard ``K/N`` takes every N-th item from the (K-1)-th,
    then, under torchrun, rank ``r`` of ``w`` every w-th of those.  The parts of all shards and ranks are
    disjoint and together are ``items``."""
    k, n = shard or (1, 1)
    return list(items)[k - 1::n][rank::world_size]
