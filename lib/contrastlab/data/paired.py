"""Two modalities of one shared latent, for CLIP-style two-tower learning and the modality gap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .. import validation as check
from .base import ToyData, class_counts, per_sample, random_unit_vectors, rng, sample_vmf, tensor


def _random_mlp(g: np.random.Generator, d_in: int, d_out: int, hidden: int) -> list[np.ndarray]:
    return [g.standard_normal((d_in, hidden)) / np.sqrt(d_in), g.standard_normal((hidden, d_out)) / np.sqrt(hidden)]


@dataclass(kw_only=True)
class PairedModalities(ToyData):
    """Paired samples (a_i, b_i) of two modalities; ``x`` is modality a, ``b`` modality b.

    ``views(idx)`` returns a pair of tensors (a-view (B, Da), b-view (B, Db)) with fresh modality noise.
    """

    b: Tensor = per_sample()
    noise_a: float
    noise_b: float

    def views(self, idx: Tensor | None = None, *, n_views: int = 2,
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        if check.integer("n_views", n_views, 1) != 2:
            raise ValueError(f"paired data has exactly two views (one per modality), got n_views={n_views}")
        idx = self.index(idx)
        check.instance("generator", generator, torch.Generator, "a torch.Generator", optional=True)
        generator = generator or self.generator()
        a, b = self.x[idx], self.b[idx]
        a = a + self.noise_a * torch.randn(a.shape, generator=generator, device=a.device, dtype=a.dtype)
        b = b + self.noise_b * torch.randn(b.shape, generator=generator, device=b.device, dtype=b.dtype)
        return a, b


def paired_modalities(n: int = 2000, *, latent_dim: int = 8, dim_a: int = 32, dim_b: int = 24,
                      n_classes: int = 10, concentration: float = 10.0, noise_a: float = 0.1,
                      noise_b: float = 0.1, hidden: int = 64, seed: int = 0,
                      device: torch.device | str = "cpu") -> PairedModalities:
    r"""Two "modalities" a = f_a(z), b = f_b(z) of a shared latent z, through two different random MLPs.

    z is drawn from a vMF mixture of ``n_classes`` clusters on S^{latent_dim-1} (labels = cluster);
    f_a, f_b are random two-layer tanh MLPs to ``dim_a`` and ``dim_b`` dimensions. Each view adds
    modality-specific Gaussian noise (``noise_a``, ``noise_b``). A CLIP-style two-tower model learns to
    align a_i with b_i; the modality gap (Liang et al. 2022) is the distance between the towers' mean
    embeddings.
    Returns: ``PairedModalities`` with x = a (n, dim_a), b (n, dim_b), latents z, labels.
    """
    n = check.integer("n", n, 2)
    latent_dim = check.integer("latent_dim", latent_dim, 2)  # the vMF clusters live on S^(latent_dim-1)
    dim_a, dim_b, hidden = (check.integer(k, v, 1) for k, v in (("dim_a", dim_a), ("dim_b", dim_b), ("hidden", hidden)))
    n_classes = check.integer("n_classes", n_classes, 1)
    concentration = check.number("concentration", concentration, low=0.0)
    noise_a, noise_b = check.number("noise_a", noise_a, low=0.0), check.number("noise_b", noise_b, low=0.0)
    seed = check.seed("seed", seed)
    g = rng(seed)
    labels = g.permutation(np.repeat(np.arange(n_classes), class_counts(n, n_classes, 1.0)))
    z = sample_vmf(g, random_unit_vectors(g, n_classes, latent_dim)[labels], concentration)
    maps = [_random_mlp(g, latent_dim, d, hidden) for d in (dim_a, dim_b)]
    a, b = (np.tanh(z @ w1) @ w2 for w1, w2 in maps)
    knobs = dict(n=n, latent_dim=latent_dim, dim_a=dim_a, dim_b=dim_b, n_classes=n_classes,
                 concentration=concentration, noise_a=noise_a, noise_b=noise_b, hidden=hidden, seed=seed)
    return PairedModalities(x=tensor(a, device), b=tensor(b, device), labels=tensor(labels, device, torch.long),
                            latents=tensor(z, device), noise_a=noise_a, noise_b=noise_b, knobs=knobs)
