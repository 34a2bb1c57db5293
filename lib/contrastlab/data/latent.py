"""Observations x = g(z) of a latent z on the sphere through a random invertible MLP (Zimmermann et al. 2021)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import validation as check
from .base import ToyData, random_unit_vectors, rng, tensor

_SLOPE = 0.2  # leaky-ReLU slope: invertible, and far enough from linear to matter


@dataclass(kw_only=True)
class LatentMLP(ToyData):
    """x = g(z) for z uniform on S^{d-1}; a view perturbs z on the sphere and maps it through g again.

    ``weights`` are the square layers of g (each a (d, d) matrix with singular values in [0.5, 1.5]),
    ``lift`` (d, obs_dim) has orthonormal rows and embeds the output in obs_dim dimensions.
    """

    weights: Tensor  # (L, d, d)
    lift: Tensor  # (d, obs_dim)
    view_noise: float

    def mix(self, z: Tensor) -> Tensor:
        """g(z): (B, d) latents -> (B, obs_dim) observations."""
        h = z
        for layer, w in enumerate(self.weights):
            h = h @ w
            if layer < len(self.weights) - 1:
                h = F.leaky_relu(h, _SLOPE)
        return h @ self.lift

    def _view(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        z = self.latents[idx]  # (B, d)
        noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        return self.mix(F.normalize(z + self.view_noise * noise, dim=1))


def latent_mlp(n: int = 4000, *, latent_dim: int = 4, obs_dim: int = 16, n_layers: int = 3,
               view_noise: float = 0.1, n_classes: int = 8, seed: int = 0,
               device: torch.device | str = "cpu") -> LatentMLP:
    r"""The setting of Zimmermann et al. 2021 ("Contrastive Learning Inverts the Data Generating Process").

    z is uniform on S^{latent_dim-1}; x = g(z) with g a random invertible MLP (square layers with
    well-conditioned weights and leaky ReLUs, then an orthonormal lift to ``obs_dim``). Positive pairs
    are g(z) and g(z') with z' = normalise(z + view_noise·ε), close to a vMF around z. Their claim: an
    encoder trained with InfoNCE recovers z up to an orthogonal map, so a linear regression from the
    embedding to z has R² near 1 (``metrics.linear_r2``).

    ``labels`` are coarse classes for kNN/probes: the nearest of ``n_classes`` random directions to z.
    Returns: ``LatentMLP`` with x (n, obs_dim), latents z (n, latent_dim), labels (n,).
    """
    n = check.integer("n", n, 2)
    latent_dim = check.integer("latent_dim", latent_dim, 2)
    obs_dim = check.integer("obs_dim", obs_dim, latent_dim)
    n_layers = check.integer("n_layers", n_layers, 1)
    n_classes = check.integer("n_classes", n_classes, 1)
    view_noise = check.number("view_noise", view_noise, low=0.0)
    seed = check.seed("seed", seed)
    g = rng(seed)
    z = random_unit_vectors(g, n, latent_dim)
    weights = []
    for _ in range(n_layers):
        u, _, vt = np.linalg.svd(g.standard_normal((latent_dim, latent_dim)))
        weights.append(u @ np.diag(g.uniform(0.5, 1.5, latent_dim)) @ vt)
    lift = np.linalg.qr(g.standard_normal((obs_dim, latent_dim)))[0].T  # (d, obs_dim), orthonormal rows
    directions = random_unit_vectors(g, n_classes, latent_dim)
    labels = np.argmax(z @ directions.T, axis=1)
    data = LatentMLP(x=tensor(np.zeros((n, obs_dim)), device), labels=tensor(labels, device, torch.long),
                     latents=tensor(z, device), weights=tensor(np.stack(weights), device),
                     lift=tensor(lift, device), view_noise=view_noise,
                     knobs=dict(n=n, latent_dim=latent_dim, obs_dim=obs_dim, n_layers=n_layers,
                                view_noise=view_noise, n_classes=n_classes, seed=seed))
    data.x = data.mix(data.latents)
    return data
