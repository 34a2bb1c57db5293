r"""Alignment and uniformity on the hypersphere (Wang & Isola 2020): two numbers that describe embeddings.

For (N, D) embeddings L2-normalised to x̂ (and (N, D) positives ŷ):

.. math:: \mathcal L_{align} = \frac1N\sum_i \lVert \hat x_i - \hat y_i \rVert_2^{\alpha},\qquad
          \mathcal L_{uniform} = \log \frac{2}{N(N-1)} \sum_{i<j} e^{-t \lVert \hat x_i - \hat x_j \rVert_2^2}

Both are scalars; lower alignment means closer positives, lower uniformity a more even spread.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import validation as check
from .core import compute_dtype, l2_normalize


def alignment(x: Tensor, y: Tensor, *, alpha: float = 2) -> Tensor:
    r"""Alignment: the mean distance between positive pairs, on the unit sphere.

    .. math:: \mathcal L_{align} = \frac1N\sum_i \lVert \hat x_i - \hat y_i \rVert_2^{\alpha}

    Args:
        x, y: (N, D) paired embeddings; normalised inside.
        alpha: exponent > 0 (2 by default; for alpha < 2 the gradient at x = y is infinite).
    Returns: scalar in [0, 2^alpha]; 0 when every pair coincides.
    Cost: O(N D).
    References: Wang & Isola 2020 (Understanding Contrastive Representation Learning through
        Alignment and Uniformity on the Hypersphere).
    """
    check.embeddings("x", x)
    check.embeddings("y", y)
    check.same_shape("x", x, "y", y)
    check.same_device(x=x, y=y)
    alpha = check.positive_number("alpha", alpha)
    dtype = compute_dtype(x, y)
    squared = (l2_normalize(x, dtype) - l2_normalize(y, dtype)).pow(2).sum(1)  # (N,)
    return squared.pow(alpha / 2).mean()


def uniformity(x: Tensor, *, t: float = 2) -> Tensor:
    r"""Uniformity: the log of the mean Gaussian potential over all pairs, on the unit sphere.

    .. math:: \mathcal L_{uniform} = \log \frac{2}{N(N-1)} \sum_{i<j} e^{-t \lVert \hat x_i - \hat x_j \rVert_2^2}

    with ``‖x̂_i - x̂_j‖² = 2 - 2 x̂_iᵀx̂_j`` and the mean taken as a log-sum-exp.

    Args:
        x: (N, D) embeddings, N >= 2; normalised inside.
        t: scale > 0 of the Gaussian potential.
    Returns: scalar in [-4t, 0]; 0 for a collapsed set, lower is more uniform.
    Cost: N^2 D flops, O(N^2) memory.
    References: Wang & Isola 2020.
    """
    check.embeddings("x", x)
    check.batch_at_least("x", x, 2, "uniformity is a mean over pairs")
    t = check.positive_number("t", t)
    z = l2_normalize(x)  # (N, D)
    i, j = torch.triu_indices(len(z), len(z), offset=1, device=z.device)  # (2, P) pairs i < j
    squared = (2 - 2 * (z @ z.T)[i, j]).clamp_min(0)  # (P,)
    return torch.logsumexp(-t * squared, dim=0) - math.log(len(i))
