"""Class clusters beside per-sample nuisance that every view redraws (optionally mixed by a rotation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import validation as check
from .base import ToyData, per_sample, tensor
from .spheres import vmf_mixture


@dataclass(kw_only=True)
class NuisanceClusters(ToyData):
    r"""Class clusters on a sphere beside per-sample Gaussian nuisance; see ``nuisance_clusters``.

    ``signal`` (N, dim) holds the cluster points :math:`s_i` (also ``latents``), ``nuisance`` (N, K) the
    stored nuisance :math:`u_i`, and ``mix`` the (dim + K, dim + K) orthogonal matrix Q, or None when
    the coordinates are not mixed (``x = [s, u]``; otherwise ``x = [s, u] Q``).
    """

    signal: Tensor = per_sample()
    nuisance: Tensor = per_sample()
    mix: Tensor | None = None
    view_noise: float
    nuisance_scale: float

    def _view(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        s = self.signal[idx]  # (B, dim)
        noise = torch.randn(s.shape, generator=generator, device=s.device, dtype=s.dtype)  # (B, dim)
        fresh = torch.randn((len(idx), self.nuisance.shape[1]), generator=generator, device=s.device,
                            dtype=s.dtype)  # (B, K) a new draw of the nuisance
        view = torch.cat([F.normalize(s + self.view_noise * noise, dim=1), self.nuisance_scale * fresh], dim=1)
        return view if self.mix is None else view @ self.mix  # (B, dim + K)


def nuisance_clusters(n: int = 2000, *, n_classes: int = 10, dim: int = 16, n_nuisance: int = 16,
                      nuisance_scale: float = 0.4, concentration: float = 20.0, view_noise: float = 0.1,
                      rotate: bool = False, seed: int = 0, device: torch.device | str = "cpu") -> NuisanceClusters:
    r"""Class clusters that per-sample nuisance hides from the raw inputs; views keep the signal only.

    .. math:: x_i = [\,s_i,\ u_i\,]\ (\text{or } [\,s_i,\ u_i\,]\,Q),\qquad
              s_i \sim \mathrm{vMF}(\mu_{y_i}, \kappa)\ \text{on } S^{\text{dim}-1},\qquad
              u_i \sim \mathcal N(0, \sigma^2 I_K)

    The signal :math:`s_i` is a point of ``vmf_mixture`` (same seed, same points); σ is
    ``nuisance_scale`` and K ``n_nuisance``. With ``rotate=True``, Q is a fixed random orthogonal
    (dim + K, dim + K) matrix (Haar-distributed), so that no input coordinate is pure signal or pure
    nuisance. A view is :math:`[\,\mathrm{normalise}(s_i + \eta\,\varepsilon),\ \sigma\varepsilon'\,]`
    (times Q when rotated), with η = ``view_noise`` and fresh :math:`\varepsilon, \varepsilon'`: the
    augmentation keeps the content and redraws the nuisance, so a positive pair shares nothing of
    :math:`u`. kNN on the raw inputs suffers from the nuisance (it adds about :math:`2K\sigma^2` to every
    squared distance; a unit signal has about 1/√dim per coordinate), while an encoder that learns the
    views' invariance can ignore it: the raw inputs are a baseline that training must beat, which the
    clusters alone are not (their raw kNN is close to the best possible).

    Streams: the clusters come from ``seed`` (as ``vmf_mixture``), the nuisance from
    ``np.random.default_rng([seed, 1])`` and Q from ``default_rng([seed, 2])``, so ``rotate`` changes
    nothing but the mixing: ``x_rotated @ Q.T`` is the unrotated ``x``.

    Knobs:
        n: samples (>= 2 and >= n_classes); n_classes: K clusters (a random negative shares the anchor's
            class with probability about 1/K); dim: the dimension of the clusters' space (>= 2);
        n_nuisance: K >= 1 nuisance coordinates; nuisance_scale: σ >= 0 (0: the clusters alone, padded);
        concentration: κ >= 0 of the clusters; view_noise: η >= 0, the augmentation of the signal;
        rotate: a bool, mix all coordinates by Q; seed, device: as every toy dataset.
    Returns: ``NuisanceClusters`` with x (n, dim + K), labels (n,), latents = signal (n, dim),
    nuisance (n, K) and mix (dim + K, dim + K) or None.
    """
    n = check.integer("n", n, 2)
    n_classes = check.integer("n_classes", n_classes, 1)
    dim = check.integer("dim", dim, 2)
    n_nuisance = check.integer("n_nuisance", n_nuisance, 1)
    nuisance_scale = check.number("nuisance_scale", nuisance_scale, low=0.0)
    concentration = check.number("concentration", concentration, low=0.0)
    view_noise = check.number("view_noise", view_noise, low=0.0)
    rotate = check.boolean("rotate", rotate)
    seed = check.seed("seed", seed)
    clusters = vmf_mixture(n, n_classes=n_classes, dim=dim, concentration=concentration, view_noise=view_noise,
                           seed=seed, device=device)  # also checks n >= n_classes
    signal = clusters.x  # (n, dim)
    u = nuisance_scale * np.random.default_rng([seed, 1]).standard_normal((n, n_nuisance))  # (n, K)
    nuisance = tensor(u, signal.device)
    x = torch.cat([signal, nuisance], dim=1)  # (n, dim + K)
    mix = None
    if rotate:
        width = dim + n_nuisance
        q, r = np.linalg.qr(np.random.default_rng([seed, 2]).standard_normal((width, width)))
        q = q * np.where(np.diag(r) < 0, -1.0, 1.0)  # column signs fixed: Q is Haar-distributed
        mix = tensor(q, signal.device)  # (dim + K, dim + K)
        x = x @ mix
    knobs = dict(n=n, n_classes=n_classes, dim=dim, n_nuisance=n_nuisance, nuisance_scale=nuisance_scale,
                 concentration=concentration, view_noise=view_noise, rotate=rotate, seed=seed)
    return NuisanceClusters(x=x, labels=clusters.labels, latents=signal.clone(), signal=signal, nuisance=nuisance,
                            mix=mix, view_noise=view_noise, nuisance_scale=nuisance_scale, knobs=knobs)
