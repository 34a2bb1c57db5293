"""What trained a run: the fingerprint of the contrastlab source, and the environment of a sweep.

Each run's ``runs/<run_id>.json`` records ``code``, a short hash of the package's source; it is not
part of the run ids, so an edit to the package keeps the finished runs, and a sweep that reuses runs
recorded with another source says so (``OtherCodeWarning``). ``environment.json`` records the
versions, the device, the cores and the dates.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
from pathlib import Path

__all__ = ["source_fingerprint", "code_fingerprint", "environment", "cpu_count", "now"]


def source_fingerprint(package: Path) -> str:
    """A short hash of every ``*.py`` under ``package``: their paths and contents, in path order."""
    digest = hashlib.sha1()
    for path in sorted(package.rglob("*.py"), key=lambda p: p.relative_to(package).as_posix()):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:10]


@functools.cache
def code_fingerprint() -> str:
    """The fingerprint of this contrastlab's source (``lib/contrastlab/**/*.py``), computed once per process."""
    return source_fingerprint(Path(__file__).resolve().parents[1])  # the whole package, not only sweeps/


def now() -> str:
    """The time in UTC, to the second, as the run records write it."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def cpu_count() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def environment(device: str, workers: int) -> dict:
    """The versions, device, cores and start time of a sweep, for ``environment.json``."""
    import platform

    import numpy
    import pandas
    import plotly
    import scipy
    import torch

    from .. import __version__

    name = device
    if "cuda" in device and torch.cuda.is_available():
        name = f"{device} ({torch.cuda.get_device_name()})"
    return {"contrastlab": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "numpy": numpy.__version__, "pandas": pandas.__version__,
            "scipy": scipy.__version__, "plotly": plotly.__version__, "device": name, "cpu_count": cpu_count(),
            "torch_threads_per_run": 1, "workers": workers, "started": now()}
