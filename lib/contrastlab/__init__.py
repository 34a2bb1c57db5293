"""contrastlab: a kit for teaching and exploring contrastive representation learning.

- ``losses``: contrastive and non-contrastive losses on one log-sum-exp core;
- ``metrics``: alignment, uniformity, rank, collapse, tolerance, kNN and probe accuracy;
- ``data``: seeded toy datasets with knobs; ``samplers``: batch samplers, miners, the MoCo queue;
- ``models``: tiny encoders and heads; ``methods`` + ``train.fit``: training set-ups with live metrics.
"""

from . import data, losses, methods, metrics, models, samplers, train
from .train import fit

__version__ = "0.1.0"

__all__ = ["data", "losses", "methods", "metrics", "models", "samplers", "train", "fit", "__version__"]
