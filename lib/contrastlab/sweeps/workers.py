"""Worker processes that end with the sweep that started them, however it ends.

A pool's idle worker waits on a pipe that every worker holds open, so when the parent dies without
shutting the pool down (SIGKILL, SIGTERM, a closed terminal, a restarted Jupyter kernel) nothing
would ever wake it: it would live on, re-parented, holding its memory. ``worker_pool`` starts each
worker with ``watch_parent``, which makes sure it ends within a second of its parent, two ways:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker when the thread that
  started it ends (``sweep`` blocks in that thread until the pool is shut down);
- everywhere, a daemon thread that waits on multiprocessing's parent sentinel (a pipe whose other
  end only the parent holds; the parent's process handle on Windows) and checks ``os.getppid()``,
  then exits the worker at once.

A worker killed this way leaves no half-written file (``files``): its run has no finished record, so
the next sweep runs it again.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["worker_pool", "watch_parent", "POLL_SECONDS"]

POLL_SECONDS = 0.5  # how often the watching thread also compares os.getppid() with the parent's pid
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def worker_pool(workers: int):
    """A ``ProcessPoolExecutor`` of ``workers`` spawned processes that end with this process."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=watch_parent, initargs=(os.getpid(),))


def watch_parent(parent_pid: int, pdeathsig: bool = True) -> None:
    """In a worker: end this process when ``parent_pid`` ends (see the module's docstring); with
    ``pdeathsig`` False only the watching thread does it, as where there is no prctl."""
    if pdeathsig and sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the thread below still watches
            pass
    if os.getppid() != parent_pid:  # the parent died before the kernel was told to watch it
        os._exit(1)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()


def _exit_with_parent(parent_pid: int) -> None:
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    while os.getppid() == parent_pid:
        if sentinel is None:
            threading.Event().wait(POLL_SECONDS)
        elif wait([sentinel], timeout=POLL_SECONDS):  # readable: the parent's end of the pipe closed
            break
    os._exit(1)  # no cleanup: the parent is gone and nothing of this worker's run is half-written
