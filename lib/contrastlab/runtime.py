"""Where and how the kit's code runs: the default device and the torch thread policy.

**Thread policy.** On the CPU, training of the kit's small models runs on *one* torch thread
(``TRAINING_THREADS``). The models are tiny (a few MLP layers of width <= 256, batches of a few
hundred), so there is little inside one step to share out between threads, and threads that wait
on each other cost more than they save. Measured in this project (see ``contrastlab.sweeps.run``,
"Processes"): on an idle 2-core machine a second thread saved under 10% (one 300-step run: 3.0 s on
one thread, 2.8 s on two), while on a busy machine, where the threads compete for the cores with
other processes, two threads slowed runs many times over (6 runs: 83-203 s on two threads, 12-18 s
on one). One thread is never much slower and sometimes many times faster, and it also makes a run's
numbers independent of the core count. On CUDA and MPS the work runs on the accelerator, so the
thread count is left alone.

``fit`` applies the policy for the duration of a run (``training_threads``) and restores the
caller's thread count afterwards, also on an error or Ctrl-C; ``contrastlab.lessons.setup`` applies
it for a whole notebook session. ``threads=`` overrides it in both. numba's OpenMP start-up (UMAP)
can reset torch's thread count to all cores; ``interactive.projection`` puts it back.

This module is part of the core layer: it imports only torch and the standard library.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

#: torch threads for training the kit's small models on the CPU (see the module docstring).
TRAINING_THREADS = 1


def default_device() -> torch.device:
    """CUDA when present, else Apple's MPS when present, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_threads(threads: int | None) -> int | None:
    """``threads`` unchanged if it is None or an int >= 1; TypeError/ValueError naming it otherwise."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be None (the policy) or an int >= 1, got {type(threads).__name__} {threads!r}")
    if threads < 1:
        raise ValueError(f"threads must be None (the policy) or an int >= 1, got {threads!r}")
    return threads


def policy_threads(device: torch.device | str | None, threads: int | None = None) -> int | None:
    """The torch thread count to train with on ``device``: ``threads`` when given, else
    ``TRAINING_THREADS`` on the CPU (None, the default device, counts as the CPU only when
    ``default_device()`` is the CPU) and None (leave it alone) on CUDA or MPS."""
    threads = check_threads(threads)
    if threads is not None:
        return threads
    device = default_device() if device is None else torch.device(device)
    return TRAINING_THREADS if device.type == "cpu" else None


@contextlib.contextmanager
def training_threads(device: torch.device | str | None, threads: int | None = None) -> Iterator[int]:
    """Run the block with the policy's torch thread count for ``device`` (see ``policy_threads``),
    then restore the caller's count, also when the block raises (an error, Ctrl-C).

        with training_threads("cpu"):          # one thread inside
            ...
        with training_threads("cpu", threads=2):
            ...

    Yields the thread count in force inside the block.
    """
    wanted = policy_threads(device, threads)
    before = torch.get_num_threads()
    if wanted is not None and wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != before:  # also undoes a reset by numba inside the block
            torch.set_num_threads(before)


__all__ = ["TRAINING_THREADS", "default_device", "check_threads", "policy_threads", "training_threads"]
