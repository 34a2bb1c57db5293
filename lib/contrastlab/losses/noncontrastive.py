r"""Losses without negatives: SimSiam/BYOL's negative cosine, Barlow Twins and VICReg.

All take two (N, D) tensors and return a scalar:

.. math:: D(p, z) = -\frac1N\sum_i \hat p_i^\top \mathrm{sg}(\hat z_i),\qquad
          \mathcal L_{BT} = \sum_i (1 - C_{ii})^2 + \lambda \sum_{i \ne j} C_{ij}^2,\qquad
          \mathcal L_{VICReg} = \lambda s + \mu v + \nu c

with C the (D, D) cross-correlation of the batch-standardised views, and s, v, c VICReg's invariance,
variance and covariance terms (see each function). Nothing pushes samples apart except the
(de)correlation and variance terms, so a collapsed batch is not penalised by ``negative_cosine``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import validation as check
from .core import compute_dtype, l2_normalize


def _pair(name_a: str, a: Tensor, name_b: str, b: Tensor, min_rows: int, why: str) -> torch.dtype:
    check.embeddings(name_a, a)
    check.embeddings(name_b, b)
    check.same_shape(name_a, a, name_b, b)
    check.same_device(**{name_a: a, name_b: b})
    check.batch_at_least(name_a, a, min_rows, why)
    return compute_dtype(a, b)


# Above this magnitude a batch variance or a D x D product could overflow float32 (its largest value is
# about 3.4e38, the square of 1.8e19): the statistics are then computed in float64.
_SAFE_IN_FLOAT32 = 1e15


def _statistics_dtype(dtype: torch.dtype, *xs: Tensor) -> torch.dtype:
    """``dtype``, or float64 when the inputs are large enough for their squares to overflow it."""
    if dtype == torch.float64:
        return dtype
    largest = max(float(x.detach().abs().max()) for x in xs)
    return torch.float64 if largest > _SAFE_IN_FLOAT32 else dtype


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    r"""SimSiam's D(p, z): the negative cosine between a prediction and a stop-gradient target.

    .. math:: D(p, z) = -\frac1N\sum_i \frac{p_i}{\lVert p_i\rVert}\cdot\frac{\mathrm{sg}(z_i)}{\lVert z_i\rVert}

    ``z`` is detached inside. SimSiam's loss is ``(negative_cosine(p1, z2) + negative_cosine(p2, z1)) / 2``;
    BYOL's normalised MSE is ``2 + 2 * negative_cosine(p, z)``. A collapsed batch gives -1: the loss
    value alone cannot detect collapse.

    Args:
        p: (N, D) predictor outputs; z: (N, D) targets (projections of the other view).
    Returns: scalar in [-1, 1].
    Cost: O(N D).
    References: Chen & He 2021 (SimSiam); Grill et al. 2020 (BYOL).
    """
    dtype = _pair("p", p, "z", z, 1, "at least one pair")
    return -(l2_normalize(p, dtype) * l2_normalize(z.detach(), dtype)).sum(1).mean()


def _off_diagonal_sum_of_squares(c: Tensor) -> Tensor:
    eye = torch.eye(c.shape[0], dtype=torch.bool, device=c.device)
    return c.pow(2).masked_fill(eye, 0).sum()


def barlow_twins(z1: Tensor, z2: Tensor, *, lambda_: float = 0.0051) -> Tensor:
    r"""Barlow Twins: push the cross-correlation matrix of the two views towards the identity.

    .. math:: \tilde z = \frac{z - \bar z}{\sqrt{\mathrm{Var}_b(z) + 10^{-5}}},\quad
              C = \tfrac1N \tilde z_1^\top \tilde z_2,\quad
              \mathcal L = \sum_i (1 - C_{ii})^2 + \lambda \sum_{i \ne j} C_{ij}^2

    with the biased batch variance and eps = 1e-5 of the official code's affine-free BatchNorm.

    Args:
        z1, z2: (N, D) projections of two views, N >= 2 (not normalised).
        lambda_: weight >= 0 of the redundancy-reduction (off-diagonal) term.
    Returns: scalar.
    Cost: 2 N D^2 flops, O(D^2) memory.
    References: Zbontar et al. 2021 (Barlow Twins).
    """
    dtype = _pair("z1", z1, "z2", z2, 2, "the batch statistics need N >= 2")
    lambda_ = check.real_number("lambda_", lambda_, low=0.0)
    n = len(z1)
    stats = _statistics_dtype(dtype, z1, z2)  # float64 for inputs whose variance would overflow
    a, b = (F.batch_norm(z.to(stats), None, None, training=True, eps=1e-5) for z in (z1, z2))  # (N, D)
    c = a.T @ b / n  # (D, D), entries in [-1, 1]
    on_diagonal = (torch.diagonal(c) - 1).pow(2).sum()
    return (on_diagonal + lambda_ * _off_diagonal_sum_of_squares(c)).to(dtype)


def vicreg(z1: Tensor, z2: Tensor, *, sim_weight: float = 25.0, var_weight: float = 25.0,
           cov_weight: float = 1.0) -> Tensor:
    r"""VICReg: invariance + variance + covariance, as in the official code.

    .. math:: s = \tfrac{1}{ND}\lVert Z - Z'\rVert_F^2,\quad
              v = \tfrac12\big[\tfrac1D\textstyle\sum_j \max(0, 1 - \sqrt{\mathrm{Var}(z^j) + 10^{-4}})
              + (\text{same for } Z')\big],\quad
              c = \tfrac1D\textstyle\sum_{i\ne j} \mathrm{Cov}(Z)_{ij}^2 + (\text{same for } Z')

    .. math:: \mathcal L = \lambda s + \mu v + \nu c

    with the unbiased variance and covariance (divisor N - 1).

    Args:
        z1, z2: (N, D) projections of two views, N >= 2 (not normalised).
        sim_weight, var_weight, cov_weight: lambda, mu, nu >= 0.
    Returns: scalar, float32 or wider (float64 for inputs beyond 1e15, whose loss can exceed float32).
    Cost: 4 N D^2 flops, O(D^2) memory.
    References: Bardes, Ponce & LeCun 2022 (VICReg).
    """
    dtype = _pair("z1", z1, "z2", z2, 2, "the variance and covariance need N >= 2")
    weights = [check.real_number(name, w, low=0.0) for name, w in
               (("sim_weight", sim_weight), ("var_weight", var_weight), ("cov_weight", cov_weight))]
    # float64 when the inputs are so large that their squares overflow: the loss then grows past float32's
    # range too, and is returned in float64 rather than as inf
    stats = _statistics_dtype(dtype, z1, z2)
    x, y = z1.to(stats), z2.to(stats)
    n, d = x.shape
    invariance = F.mse_loss(x, y)
    x, y = x - x.mean(0), y - y.mean(0)  # (N, D) centred
    std_x, std_y = (torch.sqrt(z.var(0) + 1e-4) for z in (x, y))  # (D,)
    variance = F.relu(1 - std_x).mean() / 2 + F.relu(1 - std_y).mean() / 2
    covariance = (_off_diagonal_sum_of_squares(x.T @ x / (n - 1))
                  + _off_diagonal_sum_of_squares(y.T @ y / (n - 1))) / d
    return weights[0] * invariance + weights[1] * variance + weights[2] * covariance
