"""The one reading of ``--device`` (every stage that computes: frames, training, scoring, features).

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
