r"""Negatives corrected for false negatives (debiased) and reweighted towards hard ones.

Both losses replace the negative term of NT-Xent, :math:`\sum_k e^{s_{ak}/\tau}` over the 2N-2
negatives, by an estimate :math:`N_{neg}\, g_a` and compute

.. math:: \ell_a = -\log\frac{e^{s_{a,a^+}/\tau}}{e^{s_{a,a^+}/\tau} + N_{neg} g_a}
         = \mathrm{softplus}(\log(N_{neg} g_a) - s_{a,a^+}/\tau)

entirely in log space: the subtraction of the positive's share and the clamp are done on
log-sum-exps, so tau = 0.005 is as finite as tau = 0.5.

Shapes: two (N, D) views stacked to 2N anchors (a+ = a + N mod 2N), N_neg = 2N - 2; the building
blocks work on (2N, 2N) logits and (2N,) positive logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import validation as check
from .core import compute_dtype, inverse_temperature, l2_normalize, two_view_logits, twin_index
from .distributed import should_gather, two_view_candidates
from .tiled import contrastive_logsumexp, resolve_impl


def debiased_log_negatives(log_negatives: Tensor, positive: Tensor, *, n_neg: int, tau_plus: float,
                           temperature: float | Tensor) -> Tensor:
    r"""log of Chuang et al.'s clamped estimate of the true-negative term, per anchor.

    .. math:: N g = \max\Big(\frac{\sum_k e^{s_k/\tau} - \tau^+ N e^{s^+/\tau}}{1-\tau^+},\ N e^{-1/\tau}\Big)

    Args:
        log_negatives: (R,) log of the (possibly reweighted) negative sum.
        positive: (R,) the positive logit s+/tau.
    Returns: (R,) log(N g).
    """
    floor = math.log(n_neg) - 1.0 / temperature  # log(N e^{-1/tau}), the minimum of N g
    if tau_plus == 0.0:
        return torch.maximum(log_negatives, torch.as_tensor(floor, dtype=log_negatives.dtype,
                                                             device=log_negatives.device))
    # log(e^L - e^A) = L + log(1 - e^{-(L - A)}) where the difference is positive, else the clamp.
    gap = log_negatives - (math.log(tau_plus * n_neg) + positive)  # (R,) L - A
    valid = gap > 0
    safe_gap = torch.where(valid, gap, torch.ones_like(gap))  # keeps the unused branch's gradient finite
    estimate = log_negatives + torch.log(-torch.expm1(-safe_gap)) - math.log1p(-tau_plus)
    estimate = torch.where(valid, estimate, torch.full_like(estimate, float("-inf")))
    return torch.maximum(estimate, torch.as_tensor(floor, dtype=estimate.dtype, device=estimate.device))


def negative_logits(z1: Tensor, z2: Tensor, temperature: float | Tensor) -> tuple[Tensor, Tensor]:
    """(2N, 2N) logits with self and twin set to -inf (only the 2N-2 negatives left), and the (2N,)
    positive logits read from the same matrix. One copy of the matrix, no boolean masks."""
    temperature = check.two_views(z1, z2, temperature)
    n = len(z1)
    logits = two_view_logits(z1, z2, temperature)  # (2N, 2N)
    twin = twin_index(n, z1.device)  # (2N,)
    positive = logits.gather(1, twin[:, None]).squeeze(1)  # (2N,)
    negatives = logits.clone().fill_diagonal_(float("-inf"))  # (2N, 2N)
    negatives[torch.arange(2 * n, device=z1.device), twin] = float("-inf")
    return negatives, positive


def debiased_nt_xent(z1: Tensor, z2: Tensor, *, temperature: float | Tensor = 0.5,
                     tau_plus: float = 0.1, impl: str = "auto", gather_distributed: bool | None = None) -> Tensor:
    r"""Debiased contrastive loss: NT-Xent whose negative term is corrected for false negatives.

    .. math:: N g_a = \max\Big(\frac{1}{1-\tau^+}\big(\textstyle\sum_{k} e^{s_{ak}/\tau}
              - \tau^+ N e^{s_{a,a^+}/\tau}\big),\ N e^{-1/\tau}\Big),\quad N = 2B-2

    with the positive itself as the estimate of the same-class term (M = 1, as in the authors' code),
    and the clamp at N e^{-1/tau}, the smallest value the true sum can take on the sphere.
    ``tau_plus`` is the class prior: the chance that a random negative shares the anchor's class.
    ``tau_plus=0`` gives ``nt_xent``.

    Args:
        z1, z2: (B, D) two views, B >= 2.
        temperature: tau > 0, a divisor; default 0.5, as Chuang et al. 2020's code.
        tau_plus: class prior in [0, 1); default 0.1, as Chuang et al. 2020's code.
        impl: "dense" builds the 2B x 2B logits; "tiled" never does (``tiled.contrastive_logsumexp_tiled``:
            the same numbers, O(B D) memory); "auto" picks tiled from about 1024 x 1024 logits up.
        gather_distributed: under ``torch.distributed``, this rank's 2b anchors against the 2B candidates of
            every rank (gradients flow back), each rank's loss its own mean; None: whenever distributed.
    Returns: scalar mean over the 2B anchors.
    Cost: 8 B^2 D flops; O(B^2) memory dense, O(B D) tiled.
    References: Chuang et al. 2020 (Debiased Contrastive Learning).
    """
    temperature = check.two_views(z1, z2, temperature)
    tau_plus = float(check.real_number("tau_plus", tau_plus, low=0.0, high=1.0, high_open=True))
    if should_gather(gather_distributed) or resolve_impl(impl, 2 * len(z1), 2 * len(z1), z1.device) == "tiled":
        return debiased_global(z1, z2, temperature=temperature, tau_plus=tau_plus, beta=0.0, impl=impl,
                               gather=should_gather(gather_distributed))
    negatives, positive = negative_logits(z1, z2, temperature)
    log_ng = debiased_log_negatives(torch.logsumexp(negatives, dim=1), positive, n_neg=2 * len(z1) - 2,
                     tau_plus=tau_plus, temperature=temperature)
    return F.softplus(log_ng - positive).mean()


def hard_negative_nt_xent(z1: Tensor, z2: Tensor, *, temperature: float | Tensor = 0.5,
                          tau_plus: float = 0.1, beta: float = 1.0, impl: str = "auto",
                          gather_distributed: bool | None = None) -> Tensor:
    r"""Hard-negative contrastive loss: debiased NT-Xent with negatives reweighted by their hardness.

    The negative sum is replaced by an importance-weighted one,

    .. math:: N \sum_k w_k e^{s_{ak}/\tau},\qquad w_k = \frac{e^{\beta s_{ak}/\tau}}{\sum_j e^{\beta s_{aj}/\tau}}

    (beta applied to s/tau as in the authors' code), then debiased and clamped as in
    ``debiased_nt_xent``. ``beta=0`` gives the debiased loss; ``tau_plus=0, beta=0`` gives ``nt_xent``.

    Args:
        z1, z2: (B, D) two views, B >= 2.
        temperature: tau > 0, a divisor; default 0.5, as Robinson et al. 2021's code.
        tau_plus: class prior in [0, 1); default 0.1, as Robinson et al. 2021's code.
        beta: concentration >= 0 on hard negatives; default 1.0, as Robinson et al. 2021's code.
        impl: "dense" builds the 2B x 2B logits; "tiled" never does (``tiled.contrastive_logsumexp_tiled``:
            the same numbers, O(B D) memory); "auto" picks tiled from about 1024 x 1024 logits up.
        gather_distributed: under ``torch.distributed``, this rank's 2b anchors against the 2B candidates of
            every rank (gradients flow back), each rank's loss its own mean; None: whenever distributed.
    Returns: scalar mean over the 2B anchors.
    Cost: 8 B^2 D flops; O(B^2) memory dense, O(B D) tiled (its two log-sum-exps, at (1 + beta)/tau and
        beta/tau, accumulate in one streaming pass over the same tiles).
    References: Robinson et al. 2021 (Contrastive Learning with Hard Negative Samples).
    """
    temperature = check.two_views(z1, z2, temperature)
    tau_plus = float(check.real_number("tau_plus", tau_plus, low=0.0, high=1.0, high_open=True))
    beta = float(check.real_number("beta", beta, low=0.0))
    if beta < torch.finfo(torch.float32).tiny:  # e^{beta s/tau} = 1 to every float's precision: beta = 0,
        beta = 0.0  # and a float32 product beta * (-inf) would otherwise be 0 * -inf = NaN
    if should_gather(gather_distributed) or resolve_impl(impl, 2 * len(z1), 2 * len(z1), z1.device) == "tiled":
        return debiased_global(z1, z2, temperature=temperature, tau_plus=tau_plus, beta=beta, impl=impl,
                               gather=should_gather(gather_distributed))
    negatives, positive = negative_logits(z1, z2, temperature)  # (2B, 2B) with -inf off the negatives
    return hard_negative_from_logits(negatives, positive, temperature=temperature, tau_plus=tau_plus, beta=beta)


def hard_negative_from_logits(negatives: Tensor, positive: Tensor, *, temperature: float | Tensor,
                              tau_plus: float, beta: float) -> Tensor:
    """``hard_negative_nt_xent`` from precomputed logits: ``negatives`` (R, C) holds s/tau at the negatives
    and -inf elsewhere, ``positive`` (R,) the positive logits. Lets an app that keeps the embeddings
    fixed reuse the matrix while it moves tau_plus or beta (arguments are not re-checked here)."""
    n_neg = int(torch.isfinite(negatives[0]).sum())
    if beta == 0.0:  # the weights are uniform: the plain negative sum (and 0 * -inf would be NaN)
        log_reweighted = torch.logsumexp(negatives, dim=1)  # (R,)
    else:
        # in row blocks, so that the scaled copies stay small enough to live in the cache
        log_reweighted = torch.cat([torch.logsumexp((1 + beta) * rows, dim=1) - torch.logsumexp(beta * rows, dim=1)
                                    for rows in negatives.split(256)]) + math.log(n_neg)  # (R,)
    log_ng = debiased_log_negatives(log_reweighted, positive, n_neg=n_neg, tau_plus=tau_plus, temperature=temperature)
    return F.softplus(log_ng - positive).mean()


def debiased_global(z1: Tensor, z2: Tensor, *, temperature: float | Tensor, tau_plus: float, beta: float,
                    impl: str = "auto", gather: bool = True) -> Tensor:
    r"""``hard_negative_nt_xent`` (``debiased_nt_xent`` at beta = 0) of this rank's 2b anchors against the 2B
    candidates of the global batch (every rank's when ``gather`` and distributed, else its own), with the
    negative sums from ``contrastive_logsumexp`` (dense or tiled as ``impl`` says):

    .. math:: \log\sum_k w_k e^{s_k/\tau} = \mathrm{lse}_k((1+\beta)s_k/\tau) - \mathrm{lse}_k(\beta s_k/\tau) + \log N

    both log-sum-exps accumulated over the same tiles in one pass. Arguments are checked by the callers.
    Returns this rank's mean over its anchors (the mean over ranks is the loss of the global batch).
    """
    dtype = compute_dtype(z1, z2)
    anchors, candidates, own, twin = two_view_candidates(l2_normalize(z1, dtype), l2_normalize(z2, dtype),
                                                         gather=gather)  # (2b, D), (2B, D), (2b,), (2b,)
    n_neg = len(candidates) - 2
    multipliers = (1.0,) if beta == 0.0 else (1.0 + beta, beta)
    lse, positive = contrastive_logsumexp(anchors, candidates, inverse_temperature(temperature, dtype),
                                          positive=twin, exclude=torch.stack([own, twin], 1),
                                          multipliers=multipliers, impl=impl)  # (J, 2b), (2b,)
    log_negatives = lse[0] if beta == 0.0 else lse[0] - lse[1] + math.log(n_neg)  # (2b,)
    log_ng = debiased_log_negatives(log_negatives, positive, n_neg=n_neg, tau_plus=tau_plus, temperature=temperature)
    return F.softplus(log_ng - positive).mean()
