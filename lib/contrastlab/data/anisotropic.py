"""Gaussian data whose variance falls across directions, with isotropic views: the toy of dimensional
collapse (Jing et al. 2022)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .base import ToyData, non_negative, positive_int, rng, tensor


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
    n = positive_int("n", n, 2)
    dim = positive_int("dim", dim, 2)
    n_classes = positive_int("n_classes", n_classes)
    class_dims = positive_int("class_dims", class_dims)
    if class_dims > dim:
        raise ValueError(f"class_dims must be at most dim={dim}, got {class_dims}")
    view_noise = non_negative("view_noise", view_noise)
    top, bottom = non_negative("top_variance", top_variance), non_negative("bottom_variance", bottom_variance)
    if not 0 < bottom <= top:
        raise ValueError(f"bottom_variance must be in (0, top_variance={top}], got {bottom}")
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


