"""Toy datasets with knobs: seeded, device-aware, nothing downloaded.

Every generator returns a ``ToyData`` (clean inputs ``x``, ``labels``, ``latents``, ``knobs``) whose
``views(idx, n_views=2, generator=g)`` draws fresh random views:

- ``vmf_mixture``: class clusters on the sphere (classes, imbalance, concentration, view noise, dim);
  the number of classes sets the false-negative (class-collision) rate, about 1/K.
- ``latent_mlp``: x = g(z) through a random invertible MLP (Zimmermann et al. 2021).
- ``feature_mix``: easy / class / subclass features (Xue et al. 2023).
- ``paired_modalities``: two modalities of one latent, for CLIP-style learning.
- ``digits``: scikit-learn's 8x8 digits with augmentations of adjustable strength.
- ``text``: a shipped corpus of sentences in topics, text views and graded STS pairs.
"""

from . import text
from .base import ToyData
from .digits import AUGMENTATIONS, Digits, augment_digits, digits
from .features import FeatureMix, feature_mix
from .latent import LatentMLP, latent_mlp
from .paired import PairedModalities, paired_modalities
from .spheres import SphereMixture, vmf_mixture

__all__ = [
    "text", "ToyData", "vmf_mixture", "SphereMixture", "latent_mlp", "LatentMLP", "feature_mix", "FeatureMix",
    "paired_modalities", "PairedModalities", "digits", "Digits", "augment_digits", "AUGMENTATIONS",
]
