"""``setup()``: the first code cell of every notebook, in one call.

    from contrastlab.lessons import setup

    lesson = setup(seed=0)   # contrastlab 0.1.0 · device cpu · 1 torch thread · fast mode on
    device, FAST = lesson.device, lesson.fast
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..runtime import check_threads, default_device, policy_threads

#: The environment variable that turns fast mode on (CI sets it): exactly "1" means on.
FAST_ENV = "CONTRASTLAB_FAST"


@dataclass(frozen=True)
class Lesson:
    """What a notebook's set-up chose: the device, fast mode, the seed and the torch thread count."""

    device: torch.device
    fast: bool
    seed: int
    threads: int  # torch.get_num_threads() after the set-up

    def __str__(self) -> str:
        from .. import __version__

        threads = f"{self.threads} torch thread{'s' if self.threads != 1 else ''}"
        return (f"contrastlab {__version__} · device {self.device} · {threads} · "
                f"fast mode {'on' if self.fast else 'off'}")


def fast_mode() -> bool:
    """True when the environment variable ``CONTRASTLAB_FAST`` is "1" (CI's small sizes)."""
    return os.environ.get(FAST_ENV, "0") == "1"


def setup(seed: int = 0, *, threads: int | None = None, fast: bool | None = None,
          device: torch.device | str | None = None, quiet: bool = False) -> Lesson:
    """Prepare a notebook session: seed, device, torch threads and fast mode; print them on one line.

    - **Seed**: ``torch.manual_seed(seed)`` (the CPU and every CUDA/MPS device). NumPy's and Python's
      global generators are left alone: the lessons draw from explicit ones
      (``np.random.default_rng(seed)``, ``random.Random(seed)``, ``torch.Generator``).
    - **Device**: ``contrastlab.runtime.default_device()`` (CUDA, else MPS, else the CPU) unless given.
    - **Threads**: the kit's policy (``contrastlab.runtime``), here for the whole session: on the CPU
      one torch thread, because the models are tiny and a second thread saved under 10% on an idle
      2-core machine while threads competing for a busy machine's cores slowed runs many times over
      (6 runs: 83-203 s on two threads, 12-18 s on one). On CUDA/MPS the count is left alone.
      ``threads=`` overrides the policy. ``fit`` applies the same policy on its own and restores
      the count afterwards, so the kit's training does not depend on this call.
    - **Fast mode**: ``CONTRASTLAB_FAST=1`` in the environment (what CI sets), unless ``fast`` is given.

    Args:
        seed: an int >= 0 for ``torch.manual_seed``.
        threads: None for the policy, or an int >= 1.
        fast: None to read ``CONTRASTLAB_FAST``, or a bool.
        device: None for the default device, or one to use.
        quiet: skip the printed line.
    Returns: a frozen ``Lesson`` with ``.device``, ``.fast``, ``.seed`` and ``.threads``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    check_threads(threads)
    if fast is not None and not isinstance(fast, bool):
        raise TypeError(f"fast must be None (read {FAST_ENV}) or a bool, got {fast!r}")
    device = default_device() if device is None else torch.device(device)
    torch.manual_seed(seed)
    wanted = policy_threads(device, threads)
    if wanted is not None and wanted != torch.get_num_threads():
        torch.set_num_threads(wanted)
    lesson = Lesson(device=device, fast=fast_mode() if fast is None else fast, seed=seed,
                    threads=torch.get_num_threads())
    if not quiet:
        print(lesson)
    return lesson


__all__ = ["FAST_ENV", "Lesson", "fast_mode", "setup"]
