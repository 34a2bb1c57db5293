"""contrastlab: a kit for teaching and exploring contrastive representation learning.

- ``losses``: contrastive and non-contrastive losses on one log-sum-exp core;
- ``metrics``: alignment, uniformity, rank, collapse, tolerance, kNN and probe accuracy;
- ``data``: seeded toy datasets with knobs; ``samplers``: batch samplers, miners, the MoCo queue;
- ``models``: tiny encoders and heads; ``methods`` + ``train.fit``: training set-ups with live metrics;
- ``viz``, ``projection``, ``widgets``: figures, UMAP/PCA and live apps; ``sweep``: grids of runs with
  confidence intervals (``contrastlab.sweep(config)`` or ``contrastlab sweep CONFIG.yaml``).
"""

import importlib

from . import data, losses, methods, metrics, models, samplers, train
from .train import default_device, fit

__version__ = "0.1.0"

# Imported on first use: they pull in plotly, ipywidgets, umap-learn or pandas.
_LAZY = ("viz", "widgets", "projection", "sweep", "cli", "bounds", "geometry", "negatives", "temperature", "filtering",
         "collapse", "memory", "twotower", "sentences", "classgeometry", "exercises")

__all__ = ["data", "losses", "methods", "metrics", "models", "samplers", "train", "fit", "default_device",
           "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'contrastlab' has no attribute {name!r}")
