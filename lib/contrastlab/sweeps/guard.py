"""What a sweep makes sure of before it trains anything: a large grid is wanted, the run folder can be
written, and no other sweep uses it.

- **Size.** A sweep with more than ``CONFIRM_ABOVE`` runs to run says how many and about how long
  they take (``estimate``), and goes on only with ``confirm=False`` (``contrastlab sweep --yes``).
- **Writable.** ``ensure_writable`` makes the folder and ``runs/`` and writes a probe file in each;
  if that fails it raises ``RunFolderError``, one line naming the folder.
- **One sweep per folder.** ``FolderLock`` holds ``sweep.lock`` in the folder (``fcntl.flock``; the
  file says the holder's PID, host and start) from the plan to the report. A second sweep on the
  folder raises ``SweepLockedError`` naming that PID, or with ``wait=True`` waits for it. The kernel
  drops the lock of a process that dies however it dies, so a lock left by a killed sweep is simply
  taken over. Where ``fcntl`` is missing (Windows) the file itself is the lock, and one whose PID is
  no longer running is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from .provenance import now

__all__ = ["CONFIRM_ABOVE", "SECONDS_PER_STEP", "LOCK_NAME", "RunFolderError", "SweepLockedError",
           "LargeSweepError", "estimate", "check_size", "ensure_writable", "FolderLock"]

CONFIRM_ABOVE = 500  # runs to run; a larger sweep needs confirm=False (contrastlab sweep --yes)
SECONDS_PER_STEP = 0.01  # the guess before any run has finished: 3.0 s for 300 steps of the defaults, one thread
LOCK_NAME = "sweep.lock"


class RunFolderError(OSError):
    """The run folder cannot be used: it is not writable, or another sweep holds it (``SweepLockedError``)."""


class SweepLockedError(RunFolderError):
    """Another sweep runs in this folder; ``pid`` is its process id (None if it has not written it yet)."""

    def __init__(self, message: str, pid: int | None):
        super().__init__(message)
        self.pid = pid


class LargeSweepError(ValueError):
    """A sweep of more than ``CONFIRM_ABOVE`` runs was not confirmed (``confirm=False``, ``--yes``)."""


# ----------------------------------------------------------------------------- size

def estimate(todo: list[dict], records: list[dict], workers: int) -> tuple[float, str]:
    """(seconds, how they were estimated) to train ``todo`` on ``workers`` processes: the median seconds
    per train step of the finished runs' ``records``, else ``SECONDS_PER_STEP``."""
    rates = [r["seconds"] / r["config"]["train"]["steps"] for r in records
             if isinstance(r.get("seconds"), (int, float)) and r.get("config", {}).get("train", {}).get("steps")]
    rate = statistics.median(rates) if rates else SECONDS_PER_STEP
    how = (f"{rate:.3g} s a step, the median of the {len(rates)} finished runs here" if rates
           else f"{rate:.3g} s a step, a guess: no run here has finished yet")
    steps = sum(run["config"]["train"]["steps"] for run in todo)
    return steps * rate / max(workers, 1), how


def duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def check_size(name: str, todo: list[dict], records: list[dict], workers: int, *, confirm: bool) -> str | None:
    """None for a sweep of at most ``CONFIRM_ABOVE`` runs to run; else its size and time as one line,
    or, with ``confirm``, ``LargeSweepError`` saying so and how to go on."""
    if len(todo) <= CONFIRM_ABOVE:
        return None
    seconds, how = estimate(todo, records, workers)
    steps = sum(run["config"]["train"]["steps"] for run in todo)
    line = (f"sweep {name!r}: {len(todo)} runs to run ({steps} train steps), about {duration(seconds)} with "
            f"{workers} worker{'s' if workers > 1 else ''} ({how})")
    if confirm:
        raise LargeSweepError(f"{line}. More than {CONFIRM_ABOVE} runs need confirming: pass --yes "
                              "(confirm=False in Python) to run them, or make the grid smaller "
                              "(--dry-run lists the runs)")
    return line


# ----------------------------------------------------------------------------- the folder

def ensure_writable(folder: Path) -> None:
    """Make ``folder/runs`` and write (then remove) a probe file there and in ``folder``; RunFolderError if not."""
    folder = Path(folder)
    try:
        (folder / "runs").mkdir(parents=True, exist_ok=True)
        for place in (folder, folder / "runs"):
            probe = place / f".write-test.{os.getpid()}.tmp"  # a .tmp name: a leftover is cleaned up
            probe.write_bytes(b"")
            probe.unlink()
    except OSError as error:
        what = error.strerror or type(error).__name__
        where = f" ({error.filename})" if error.filename and Path(error.filename) != folder else ""
        raise RunFolderError(f"run folder {folder} is not writable: {what}{where}; choose another with "
                             "out= (contrastlab sweep --out DIR)") from None


class FolderLock:
    """``with FolderLock(folder, wait=False):`` holds the folder's ``sweep.lock`` (see the module's docstring)."""

    def __init__(self, folder: str | Path, *, wait: bool = False, poll: float = 0.2):
        self.path, self.wait, self.poll = Path(folder) / LOCK_NAME, wait, poll
        self.fd: int | None = None

    def __enter__(self) -> "FolderLock":
        said = False
        while not self.try_acquire():
            holder = self.holder()
            message = (f"run folder {self.path.parent} is in use by another sweep (PID {holder.get('pid', '?')}"
                       f"{' on ' + holder['host'] if holder.get('host') else ''}"
                       f"{', since ' + holder['started'] if holder.get('started') else ''}; its lock: {self.path})")
            if not self.wait:
                raise SweepLockedError(f"{message}: wait for it to end, pass wait=True (contrastlab sweep --wait) "
                                       "to wait, or choose another folder", holder.get("pid"))
            if not said:
                print(f"{message}: waiting for it to end", file=sys.stderr, flush=True)
                said = True
            time.sleep(self.poll)
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def try_acquire(self) -> bool:
        flags = os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL)
        try:
            fd = os.open(self.path, flags, 0o644)
        except FileExistsError:  # without fcntl: the file is the lock; a dead holder's is taken over
            pid = self.holder().get("pid")
            if pid is None or pid_alive(pid):
                return False
            self.path.unlink(missing_ok=True)
            return self.try_acquire()
        if fcntl:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # held by another sweep
                os.close(fd)
                return False
            except OSError as error:  # a file system without locks
                os.close(fd)
                raise RunFolderError(f"run folder {self.path.parent}: cannot lock {self.path}: "
                                     f"{error.strerror or error}") from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:  # a releasing holder unlinked it after we opened it: take the new file
                os.close(fd)
                return self.try_acquire()
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": now()}).encode())
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            if fcntl:
                self.path.unlink(missing_ok=True)  # while still held: the next sweep opens a new file
            os.close(self.fd)
            if not fcntl:
                self.path.unlink(missing_ok=True)  # Windows removes no open file
            self.fd = None

    def holder(self) -> dict:
        """What the lock file says of its holder (pid, host, started); empty while it is being written."""
        for _ in range(5):
            try:
                found = json.loads(self.path.read_text())
                return found if isinstance(found, dict) else {}
            except FileNotFoundError:
                return {}
            except (OSError, ValueError):
                time.sleep(0.02)
        return {}


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (for the lock without fcntl)."""
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x100000, False, pid)  # SYNCHRONIZE
        if not handle:
            return False
        alive = ctypes.windll.kernel32.WaitForSingleObject(handle, 0) == 0x102  # WAIT_TIMEOUT
        ctypes.windll.kernel32.CloseHandle(handle)
        return alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
