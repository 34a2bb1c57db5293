"""The sweep tool: a grid of ``fit`` runs from one config, resumable, with a tidy table and a report.

    frame = contrastlab.sweep("examples/sweeps/temperature.yaml")      # or: contrastlab sweep CONFIG.yaml
    contrastlab.sweeps.summarize(frame); contrastlab.sweeps.compare(frame, {"loss.beta": 0.0}, "knn")

One module per job, each using only the ones above it:

- ``config``: the config format (its docstring is the reference), ``load_config``, ``apply_overrides``;
- ``schema``: the options a config may set, read from ``data.DATASETS``, ``methods.METHODS``,
  ``build_method`` and ``fit``, and the check of one value;
- ``plan``: the whole config checked and expanded into runs with stable ids (``validate``, ``expand``);
- ``files`` and ``provenance``: the run folder's files written whole, the source's fingerprint and
  the environment;
- ``records``: what proves a run finished (its CSV verified against its record), and why not;
- ``guard``: the checks before anything runs (a large sweep confirmed, the folder writable) and the
  folder's lock, one sweep at a time;
- ``workers``: worker processes that end with the sweep, however it ends;
- ``report``: the summary table with intervals, ``compare``, the figures and the HTML report;
- ``run``: ``sweep`` itself (running the runs, resuming, collecting) and ``run_status``.
"""

from .config import SweepConfigError, apply_overrides, load_config
from .guard import LargeSweepError, RunFolderError, SweepLockedError
from .plan import expand, validate
from .records import DamagedRunWarning
from .report import compare, figures, report_html, summarize
from .run import OtherCodeWarning, SweepRunError, run_status, sweep

__all__ = ["sweep", "load_config", "apply_overrides", "validate", "expand", "run_status", "summarize", "compare",
           "figures", "report_html", "SweepConfigError", "SweepRunError", "OtherCodeWarning", "DamagedRunWarning",
           "RunFolderError", "SweepLockedError", "LargeSweepError"]
