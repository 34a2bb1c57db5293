"""Toy datasets with knobs: seeded, device-aware, nothing downloaded.

Every generator returns a ``ToyData`` (clean inputs ``x``, ``labels``, ``latents``, ``knobs``) whose
``views(idx, n_views=2, generator=g)`` draws fresh random views:

- ``vmf_mixture``: class clusters on the sphere (classes, imbalance, concentration, view noise, dim);
  the number of classes sets the false-negative (class-collision) rate, about 1/K.
- ``nuisance_clusters``: those clusters beside per-sample nuisance that every view redraws (optionally
  mixed by a fixed rotation): raw inputs that a trained encoder must beat (lessons 03 and 08).
- ``latent_mlp``: x = g(z) through a random invertible MLP (Zimmermann et al. 2021).
- ``feature_mix``: easy / class / subclass features (Xue et al. 2023).
- ``paired_modalities``: two modalities of one latent, for CLIP-style learning.
- ``digits``: scikit-learn's 8x8 digits with augmentations of adjustable strength.
- ``image_patches``: RGB patches of two real photographs (shipped in scikit-learn), labelled by
  region, with SimCLR's augmentations (``contrastlab.augment``) as views.
- ``anisotropic_gaussian``: variance falling across directions, isotropic views (dimensional collapse).
- ``compositional_pairs``: two objects with attributes, captions that bind them (NegCLIP).
- ``correlated_gaussians``: pairs with a known mutual information (InfoNCE's bound).
- ``text``: a shipped corpus of sentences in topics, text views and graded STS pairs.
- ``from_arrays`` / ``arrays``: your own inputs and labels (tensors, arrays or files) with a views
  function (``data.user``); ``arrays`` is the registry entry a sweep config names.

``DATASETS`` maps each generator's name to it: the one registry that ``fit``, the sweeps and the
widgets read; ``is_paired(name)`` tells the two-modality ones (two-tower set-ups only) and
``reads_files(name)`` the ones built from the user's files (``arrays``: the apps do not offer them).
"""

import typing
from typing import Callable

from . import text
from .anisotropic import AnisotropicGaussian, anisotropic_gaussian
from .base import ToyData
from .compositional import (CompositionalPairs, compositional_pairs, drop_swap_partners, swap_attributes,
                            swap_partner_rate)
from .gaussians import CorrelatedGaussians, correlated_gaussians
from .digits import AUGMENTATIONS, Digits, augment_digits, digits
from .images import REGIONS, ImagePatches, image_patches
from .features import FeatureMix, feature_mix
from .latent import LatentMLP, latent_mlp
from .nuisance import NuisanceClusters, nuisance_clusters
from .paired import PairedModalities, paired_modalities
from .spheres import SphereMixture, vmf_mixture
from .user import ArrayData, arrays, from_arrays, integer_labels, load_array

__all__ = [
    "text", "ToyData", "vmf_mixture", "SphereMixture", "nuisance_clusters", "NuisanceClusters",
    "latent_mlp", "LatentMLP", "feature_mix", "FeatureMix",
    "paired_modalities", "PairedModalities", "digits", "Digits", "augment_digits", "AUGMENTATIONS",
    "image_patches", "ImagePatches", "REGIONS",
    "anisotropic_gaussian", "AnisotropicGaussian", "compositional_pairs", "CompositionalPairs", "swap_attributes",
    "drop_swap_partners", "swap_partner_rate", "correlated_gaussians", "CorrelatedGaussians",
    "from_arrays", "arrays", "ArrayData", "load_array", "integer_labels", "DATASETS", "is_paired", "reads_files",
]

DATASETS: dict[str, Callable[..., ToyData]] = {
    fn.__name__: fn for fn in (vmf_mixture, nuisance_clusters, latent_mlp, feature_mix, digits, image_patches,
                               anisotropic_gaussian, paired_modalities, compositional_pairs, correlated_gaussians,
                               arrays)
}


def is_paired(name: str) -> bool:
    """Whether the dataset ``name`` holds two modalities (views are (a, b): two-tower set-ups only)."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return issubclass(typing.get_type_hints(DATASETS[name])["return"], PairedModalities)


def reads_files(name: str) -> bool:
    """Whether the dataset ``name`` is built from the user's files (``arrays``), not from knobs alone."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return bool(getattr(DATASETS[name], "reads_files", False))
