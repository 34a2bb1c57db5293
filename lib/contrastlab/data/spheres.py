"""Class clusters on the sphere: von Mises-Fisher (or Gaussian) mixtures with knobs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import validation as check
from .base import ToyData, class_counts, random_unit_vectors, rng, sample_vmf, tensor


@dataclass(kw_only=True)
class SphereMixture(ToyData):
    """Points on S^{D-1} around K class means; a view adds Gaussian noise and projects back.

    ``means`` (K, D) are the class directions; ``latents`` are the noise-free points themselves.
    """

    means: Tensor
    view_noise: float

    def _view(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        x = self.x[idx]  # (B, D)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return F.normalize(x + self.view_noise * noise, dim=1)


def vmf_mixture(n: int = 2000, *, n_classes: int = 10, dim: int = 16, concentration: float = 20.0,
                imbalance: float = 1.0, view_noise: float = 0.1, kind: str = "vmf", seed: int = 0,
                device: torch.device | str = "cpu") -> SphereMixture:
    r"""A mixture of K clusters on the unit sphere S^{dim-1}.

    Class means are uniform on the sphere; a sample of class c is drawn from vMF(mu_c, kappa)
    (density ∝ exp(kappa mu_cᵀx)) or, with ``kind="gaussian"``, as normalise(mu_c + ε/√kappa).
    A view is normalise(x + view_noise·ε): ``view_noise`` is the augmentation strength.

    Knobs:
        n_classes: K; for balanced classes a random negative shares the anchor's class with
            probability about 1/K (the false-negative rate; see ``metrics.collision_rate``).
        imbalance: largest / smallest class size (geometric long tail; 1 = balanced).
        concentration: kappa >= 0; larger is tighter clusters (0 = uniform on the sphere).
        view_noise: >= 0, the strength of the augmentation.
        dim: the dimension D of the ambient space (the sphere S^{D-1}).
    Returns: ``SphereMixture`` with x (n, dim) unit vectors, labels (n,), latents = x, means (K, dim).
    """
    n = check.integer("n", n, 2)
    n_classes = check.integer("n_classes", n_classes, 1)
    dim = check.integer("dim", dim, 2)
    concentration = check.number("concentration", concentration, low=0.0)
    view_noise = check.number("view_noise", view_noise, low=0.0)
    kind = check.choice("kind", kind, ("vmf", "gaussian"))
    imbalance = check.number("imbalance", imbalance, low=1.0)
    seed = check.seed("seed", seed)
    g = rng(seed)
    counts = class_counts(n, n_classes, imbalance)
    labels = g.permutation(np.repeat(np.arange(n_classes), counts))
    means = random_unit_vectors(g, n_classes, dim)
    if kind == "vmf":
        x = sample_vmf(g, means[labels], concentration)
    else:
        spread = 1 / np.sqrt(concentration) if concentration > 0 else 1e6
        x = means[labels] + spread * g.standard_normal((n, dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    x_t = tensor(x, device)
    knobs = dict(n=n, n_classes=n_classes, dim=dim, concentration=concentration, imbalance=imbalance,
                 view_noise=view_noise, kind=kind, seed=seed)
    return SphereMixture(x=x_t, labels=tensor(labels, device, torch.long), latents=x_t.clone(),
                         means=tensor(means, device), view_noise=view_noise, knobs=knobs)
