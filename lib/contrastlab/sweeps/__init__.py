"""The sweep tool: a grid of ``fit`` runs from one config, resumable, with a tidy table and a report.

    frame = contrastlab.sweep("examples/sweeps/temperature.yaml")      # or: contrastlab sweep CONFIG.yaml
    contrastlab.sweeps.summarize(frame); contrastlab.sweeps.compare(frame, {"loss.beta": 0.0}, "knn")

``run`` holds the config schema, planning and the process pool; ``report`` the tables, figures and
the HTML report. The config format is documented in ``contrastlab.sweeps.run``.
"""

from .report import compare, figures, report_html, summarize
from .run import (OtherCodeWarning, SweepConfigError, SweepRunError, apply_overrides, expand, load_config, sweep,
                  validate)

__all__ = ["sweep", "load_config", "apply_overrides", "validate", "expand", "summarize", "compare", "figures",
           "report_html", "SweepConfigError", "SweepRunError", "OtherCodeWarning"]
