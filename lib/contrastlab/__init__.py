"""contrastlab: a kit for teaching and exploring contrastive representation learning.

The package has four layers; each may import the ones below it, never one above (import-linter
contracts in ``pyproject.toml`` enforce this):

1. the **core**, at the root: ``validation`` (argument checks), ``losses`` (one log-sum-exp core),
   ``metrics``, ``data`` (toy datasets), ``augment`` (SimCLR's image augmentations), ``models``, ``samplers``, ``methods`` (training set-ups)
   and ``train`` (``fit``);
2. ``interactive``: plotly figures, 2-D projections and the widget apps;
3. ``sweeps``: grids of seeded runs with intervals (``contrastlab.sweep(config)`` or
   ``contrastlab sweep CONFIG.yaml``);
4. ``lessons``: the helpers of the numbered notebooks, one module each.
"""

import importlib

from . import (augment, conventions, data, diagnosis, losses, methods, metrics, models, monitor, planning, runtime, samplers,
               train, validation)
from .monitor import HealthMonitor
from .planning import plan
from .runtime import default_device
from .train import fit

__version__ = "0.1.0"

# Imported on first use: they pull in plotly, ipywidgets, umap-learn or pandas.
_LAZY_MODULES = ("interactive", "sweeps", "lessons", "cli")

__all__ = ["augment", "data", "diagnosis", "losses", "methods", "metrics", "models", "monitor", "runtime", "samplers", "train",
           "validation", "conventions", "planning", "plan", "fit", "default_device", "HealthMonitor", "diagnose",
           "sweep", "__version__", *_LAZY_MODULES]


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name == "sweep":  # the function: contrastlab.sweep(config) -> DataFrame
        return importlib.import_module(".sweeps", __name__).sweep
    if name == "diagnose":  # the function: contrastlab.diagnose(z) -> Diagnosis (its figure needs plotly)
        return importlib.import_module(".interactive.diagnosis", __name__).diagnose
    raise AttributeError(f"module 'contrastlab' has no attribute {name!r}")
