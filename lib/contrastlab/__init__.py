"""contrastlab: a kit for teaching and exploring contrastive representation learning."""

from . import losses

__version__ = "0.1.0"

__all__ = ["losses", "__version__"]
