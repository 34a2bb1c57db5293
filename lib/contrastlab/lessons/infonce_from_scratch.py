r"""InfoNCE as a mutual-information lower bound, on a toy whose mutual information is known.

van den Oord et al. (2018, CPC) show that for any critic f and a batch of N pairs whose positives
sit on the diagonal of the logits :math:`f(x_i, y_j)`,

.. math:: I(x; y) \;\ge\; \log N - \mathcal L_{\mathrm{InfoNCE}},
          \qquad \mathcal L_{\mathrm{InfoNCE}} = \frac1N\sum_i \Big(\log\sum_j e^{f(x_i, y_j)} - f(x_i, y_i)\Big)

(in expectation over batches; Poole et al. 2019 give a short proof). Every term of the loss is
a cross-entropy and so positive, hence the estimate :math:`\log N - \mathcal L` is below
:math:`\log N` for every batch: the bound saturates at log N however large the true information.

The toy: x ~ N(0, I_d) and y = rho x + sqrt(1 - rho^2) eps, i.e. d independent coordinate pairs
with correlation rho, so that :math:`I(x; y) = -\tfrac d2 \log(1 - \rho^2)` nats, and the optimal
critic (the one that makes the bound tightest) is the log density ratio

.. math:: f^*(x, y) = \log\frac{p(y\mid x)}{p(y)}
          = -\tfrac d2\log(1-\rho^2) - \frac{\lVert y - \rho x\rVert^2}{2(1-\rho^2)} + \frac{\lVert y\rVert^2}{2}.

``contrastlab.losses.info_nce`` uses the cosine critic :math:`\hat x^\top \hat y / \tau` (it normalises
the embeddings), which cannot express :math:`f^*` (a function of the norms too), so the exact
critic goes through the loss core ``positive_nll`` on its own logits matrix instead.

References: van den Oord, Li, Vinyals 2018 (arXiv:1807.03748); Poole, Ozair, van den Oord, Alemi,
Tucker 2019, "On Variational Bounds of Mutual Information" (arXiv:1905.06922); McAllester & Stratos
2020, "Formal Limitations on the Measurement of Mutual Information" (arXiv:1811.04251).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from .. import validation as check
from ..data.gaussians import correlated_gaussians
from ..losses import info_nce
from ..losses.core import positive_nll

__all__ = [
    "gaussian_mutual_information", "rho_for_mutual_information",
    "gaussian_log_ratio", "infonce_estimate", "mi_lower_bound", "infonce_bound_curve",
]


def _rho(rho: object) -> float:
    """A correlation in (-1, 1), as ``correlated_gaussians`` checks it."""
    return check.number("rho", rho, low=-1.0, high=1.0, low_open=True, high_open=True)


def gaussian_mutual_information(dim: int, rho: float) -> float:
    r"""I(x; y) in nats of d coordinate pairs with correlation rho: :math:`-\tfrac d2\log(1-\rho^2)`."""
    return -check.integer("dim", dim, 1) / 2 * math.log1p(-_rho(rho) ** 2)


def rho_for_mutual_information(mi: float, dim: int) -> float:
    r"""The correlation rho >= 0 that gives ``mi`` nats in ``dim`` dimensions: :math:`\sqrt{1 - e^{-2I/d}}`."""
    mi = check.number("mi", mi, low=0.0)
    return math.sqrt(-math.expm1(-2 * mi / check.integer("dim", dim, 1)))




def gaussian_log_ratio(x: Tensor, y: Tensor, *, rho: float) -> Tensor:
    r"""(N, M) logits :math:`f^*(x_i, y_j) = \log p(y_j \mid x_i) - \log p(y_j)`, the optimal critic.

    Args:
        x: (N, d); y: (M, d), from ``correlated_gaussians`` with the same rho.
    Returns: (N, M) in the inputs' dtype (float32 or wider). The diagonal of a batch of pairs has mean
        I(x; y) in expectation. Cost: 2 N M d flops.
    """
    rho = _rho(rho)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be (N, d) and (M, d) with the same d, got {tuple(x.shape)} and {tuple(y.shape)}")
    dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)
    x, y = x.to(dtype), y.to(dtype)
    var = 1 - rho ** 2  # conditional variance of each coordinate of y given x
    x2 = (x * x).sum(1, keepdim=True)  # (N, 1)
    y2 = (y * y).sum(1)[None, :]  # (1, M)
    sq = y2 - 2 * rho * (x @ y.T) + rho ** 2 * x2  # (N, M) squared distance |y_j - rho x_i|^2
    return -x.shape[1] / 2 * math.log(var) - sq / (2 * var) + y2 / 2  # (N, M)


def infonce_estimate(logits: Tensor) -> Tensor:
    r"""The InfoNCE estimate :math:`\log N - \mathcal L` of a square logits matrix with the positives
    on its diagonal (rows: queries, columns: candidates). Never above log N. Returns a scalar tensor."""
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"logits must be a square (N, N) matrix, positives on the diagonal, got {tuple(logits.shape)}")
    n = logits.shape[0]
    loss = positive_nll(logits, torch.arange(n, device=logits.device)).mean()  # InfoNCE with critic = logits
    return math.log(n) - loss


def mi_lower_bound(loss: float, batch_size: int) -> float:
    r"""The mutual information (nats) that an in-batch InfoNCE loss certifies: :math:`\log N - \mathcal L`.

    ``loss`` in nats (natural log, as every loss in ``contrastlab.losses``), ``batch_size`` N = the
    number of candidates per query (the positive and N - 1 negatives)."""
    batch_size = check.integer("batch_size", batch_size, 1)
    return math.log(batch_size) - float(loss)


def infonce_bound_curve(batch_sizes: Sequence[int], *, dim: int, rho: float, repeats: int = 4, seed: int = 0,
                        critic: str = "optimal", temperature: float = 0.1,
                        device: torch.device | str | None = None) -> dict[str, np.ndarray]:
    r"""The InfoNCE estimate log N - L against the batch size N, averaged over ``repeats`` batches.

    Args:
        batch_sizes: the N to try (each >= 2).
        dim, rho: the toy (``correlated_gaussians``); its true I is ``gaussian_mutual_information``.
        repeats: independent batches per N (batch r of every N uses seed ``seed + r``, so curves are nested).
        critic: "optimal" (``gaussian_log_ratio`` through ``positive_nll``) or "cosine"
            (``contrastlab.losses.info_nce(x, y, temperature=temperature)``, the package's cosine critic).
        temperature: only for the cosine critic.
    Returns: a dict of (len(batch_sizes),) float64 arrays: "batch_size", "log_n", "estimate" (the mean
        over batches), "stderr" (its standard error; 0 when repeats = 1), "mi" (the true I repeated),
        and "per_batch", the (len(batch_sizes), repeats) estimates of every batch (for paired comparisons
        between batch sizes: row k and row k + 1 share the draws of each column).
    """
    critic = check.choice("critic", critic, ("optimal", "cosine"))
    repeats = check.integer("repeats", repeats, 1)
    seed = check.seed("seed", seed)
    sizes = [check.integer("batch_sizes", n, 2) for n in batch_sizes]
    if not sizes:
        raise ValueError("batch_sizes must be a non-empty list of integers >= 2, got []")
    mi = gaussian_mutual_information(dim, rho)
    estimates = np.empty((len(sizes), int(repeats)))  # (len(sizes), repeats)
    with torch.no_grad():
        for r in range(int(repeats)):
            pairs = correlated_gaussians(max(sizes), dim=dim, rho=rho, seed=seed + r, device=device or "cpu")
            x_all, y_all = pairs.x, pairs.b  # (n, d) each
            if critic == "optimal":  # the logits of the first n pairs are the top-left n x n block
                logits = gaussian_log_ratio(x_all, y_all, rho=rho)  # (max N, max N), positives on the diagonal
            for k, n in enumerate(sizes):
                if critic == "optimal":
                    loss = positive_nll(logits[:n, :n], torch.arange(n, device=logits.device)).mean()
                else:  # x_all[:n], y_all[:n]: the first n pairs of this draw
                    loss = info_nce(x_all[:n], y_all[:n], temperature=temperature)
                estimates[k, r] = mi_lower_bound(float(loss), n)  # log N in float64: never above log N
    stderr = estimates.std(1, ddof=1) / math.sqrt(repeats) if repeats > 1 else np.zeros(len(sizes))
    return {"batch_size": np.array(sizes, dtype=np.float64), "log_n": np.log(sizes), "estimate": estimates.mean(1),
            "stderr": stderr, "mi": np.full(len(sizes), mi), "per_batch": estimates}
