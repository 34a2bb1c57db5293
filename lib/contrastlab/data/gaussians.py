r"""Pairs of correlated Gaussians, whose mutual information is known in closed form: the toy on which
InfoNCE's bound :math:`I(x; y) \ge \log N - \mathcal L` is checked (van den Oord et al. 2018)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import validation as check
from .paired import PairedModalities


@dataclass(kw_only=True)
class CorrelatedGaussians(PairedModalities):
    r"""Paired samples (x_i, y_i) with x ~ N(0, I_d), y = ρx + √(1-ρ²) ε: ``x`` is x, ``b`` is y.

    ``views(idx)`` returns (x[idx], y[idx]) (no noise: the pair is the two views). The mutual
    information is :math:`I(x; y) = -\tfrac d2 \log(1 - \rho^2)` nats (``mutual_information``).
    ``labels`` are all 0: the pairs have no classes.
    """

    rho: float

    def mutual_information(self) -> float:
        return -self.x.shape[1] / 2 * math.log1p(-self.rho ** 2)


def correlated_gaussians(n: int = 2000, *, dim: int = 4, rho: float = 0.9, seed: int = 0,
                         device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> CorrelatedGaussians:
    """``n`` pairs (x, y) of ``dim``-dimensional Gaussians with per-coordinate correlation ``rho``.

    Drawn on the CPU in float64 from ``seed`` (x first, then the noise ε: the same numbers on every
    device), then moved and cast to ``dtype``.
    Returns: ``CorrelatedGaussians`` with x (n, dim), b = y (n, dim), labels (n,) zeros.
    """
    n, dim = check.integer("n", n, 1), check.integer("dim", dim, 1)
    rho = check.number("rho", rho, low=-1.0, high=1.0, low_open=True, high_open=True)
    seed = check.seed("seed", seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=generator, dtype=torch.float64)  # (n, d)
    eps = torch.randn(n, dim, generator=generator, dtype=torch.float64)  # (n, d)
    y = rho * x + math.sqrt(1 - rho ** 2) * eps  # (n, d)
    knobs = dict(n=n, dim=dim, rho=rho, seed=seed)
    return CorrelatedGaussians(x=x.to(device=device, dtype=dtype), b=y.to(device=device, dtype=dtype),
                               labels=torch.zeros(n, dtype=torch.long, device=device), noise_a=0.0, noise_b=0.0,
                               rho=rho, knobs=knobs)
