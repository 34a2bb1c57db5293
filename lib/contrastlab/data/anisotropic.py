"""Gaussian data whose variance falls across directions, with isotropic views: the toy of dimensional
collapse (Jing et al. 2022)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .. import validation as check
from .base import ToyData, rng, tensor


@dataclass(kw_only=True)
class AnisotropicGaussian(ToyData):
    """x = R diag(sqrt(variances)) ε; a view adds ``view_noise``·ε' in every direction.

    ``variances`` (D,) is the data variance along each principal direction (the rows of
    ``rotation``), largest first; ``latents`` are the coordinates before the rotation.
    """

    variances: Tensor  # (D,)
    rotation: Tensor  # (D, D) orthogonal
    view_noise: float

    def _view(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        x = self.x[idx]  # (B, D)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + self.view_noise * noise

    def dominated_directions(self) -> int:
        """How many principal directions have less data variance than augmentation variance."""
        return int((self.variances < self.view_noise ** 2).sum())


def anisotropic_gaussian(n: int = 2000, *, dim: int = 32, top_variance: float = 1.0,
                         bottom_variance: float = 0.01, view_noise: float = 0.2, n_classes: int = 8,
                         class_dims: int = 3, seed: int = 0,
                         device: torch.device | str = "cpu") -> AnisotropicGaussian:
    r"""Gaussian data whose variance falls geometrically across directions, and isotropic views.

    The data variance along principal direction k is
    :math:`\lambda_k = \lambda_{top}\,(\lambda_{bottom}/\lambda_{top})^{(k-1)/(D-1)}`; a view adds
    :math:`\sigma\,\varepsilon` with :math:`\sigma` = ``view_noise`` in every direction. Jing et al.
    (2022) show that, for a linear encoder trained with InfoNCE, the directions where the augmentation
    variance :math:`\sigma^2` exceeds the data variance shrink away: the stronger the augmentation,
    the fewer directions the embedding keeps (dimensional collapse).

    ``labels``: the nearest of ``n_classes`` random directions in the ``class_dims`` highest-variance
    coordinates (for kNN accuracy). A fixed random rotation mixes the coordinates.
    Returns: ``AnisotropicGaussian`` with x (n, dim), labels (n,), latents (n, dim), variances (dim,).
    """
    n = check.integer("n", n, 2)
    dim = check.integer("dim", dim, 2)
    n_classes = check.integer("n_classes", n_classes, 1)
    class_dims = check.integer("class_dims", class_dims, 1, dim)
    view_noise = check.number("view_noise", view_noise, low=0.0)
    top = check.number("top_variance", top_variance, low=0.0, low_open=True)
    bottom = check.number("bottom_variance", bottom_variance, low=0.0, high=top, low_open=True)
    seed = check.seed("seed", seed)
    g = rng(seed)
    variances = np.geomspace(top, bottom, dim)  # (D,) largest first
    latents = g.standard_normal((n, dim)) * np.sqrt(variances)  # (n, D)
    rotation = np.linalg.qr(g.standard_normal((dim, dim)))[0]  # (D, D)
    centres = g.standard_normal((n_classes, class_dims))
    labels = np.argmax(latents[:, :class_dims] @ centres.T, axis=1)
    knobs = dict(n=n, dim=dim, top_variance=top, bottom_variance=bottom, view_noise=view_noise,
                 n_classes=n_classes, class_dims=class_dims, seed=seed)
    latents_t, rotation_t = tensor(latents, device), tensor(rotation, device)
    return AnisotropicGaussian(x=latents_t @ rotation_t, labels=tensor(labels, device, torch.long), latents=latents_t,
                               variances=tensor(variances, device), rotation=rotation_t, view_noise=view_noise,
                               knobs=knobs)


