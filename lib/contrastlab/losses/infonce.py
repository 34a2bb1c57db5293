r"""InfoNCE and its two-view forms: NT-Xent (SimCLR), the decoupled loss (DCL) and oracle negatives.

``info_nce``: (N, D) queries q and positives p; query i classifies its positive among its candidates C(i),
the N in-batch positives, or p_i plus (M, D) shared or (N, M, D) per-query negatives:

.. math:: \ell_i = \log\sum_{j \in C(i)} e^{s_{ij}/\tau} - s_{i,i^+}/\tau,\qquad s_{ij} = \hat q_i^\top \hat k_j

The two-view losses stack z = [z1; z2], two (N, D) views of N samples, into 2N anchors; anchor a's
positive is its twin a+ = a + N mod 2N, and they differ only in which k enter the (2N, 2N) log-sum-exp:

.. math:: \ell_a = \log\sum_{k \in K(a)} e^{s_{ak}/\tau} - s_{a,a^+}/\tau,\qquad L = \frac{1}{2N}\sum_a \ell_a

with K(a) every k ≠ a (``nt_xent``), every k ∉ {a, a+} (``decoupled_nt_xent``), or a+ and the k of
another class (``oracle_nt_xent``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import validation as check
from .core import (compute_dtype, diagonal_column_nll, inverse_temperature, l2_normalize, positive_nll,
                   two_view_logits, two_view_masks, twin_index)
from .distributed import info_nce_distributed, nt_xent_distributed, should_gather, two_view_candidates
from .tiled import mean_nll, mean_nll_tiled, resolve_impl, symmetric_mean_nll_tiled


def info_nce(query: Tensor, positive: Tensor, negatives: Tensor | None = None, *,
             temperature: float | Tensor = 0.1, symmetric: bool = False, impl: str = "auto",
             gather_distributed: bool | None = None) -> Tensor:
    r"""One-directional InfoNCE: classify each query's positive among its candidates.

    .. math:: \ell_i = \log\sum_{j \in C(i)} e^{s_{ij}/\tau} - s_{i,i^+}/\tau,
              \qquad s_{ij} = \hat q_i^\top \hat k_j,\ \hat x = x/\lVert x\rVert

    With ``negatives=None`` the candidates C(i) of query i are all N positives (in-batch negatives),
    so the loss equals ``cross_entropy(q̂ p̂ᵀ/τ, arange(N))``. With ``negatives`` given, C(i) is the
    positive of query i plus those negatives only.

    Args:
        query: (N, D) anchors.
        positive: (N, D); row i is the positive of query i.
        negatives: None for in-batch negatives; (M, D) shared by every query (e.g. a MoCo queue);
            or (N, M, D), M negatives per query.
        temperature: tau > 0, a divisor of the cosine similarities; default 0.1, SimCLR's (Chen et al. 2020).
        symmetric: in-batch only: the mean of the query->positive and positive->query directions.
        impl: "dense" builds the N x N logits; "tiled" never does (``tiled.py``: the same numbers, O(N D)
            memory, faster at large N); "auto" picks tiled from about 1024 x 1024 logits up.
        gather_distributed: under ``torch.distributed``, gather the batch from every rank (with the
            gradient flowing back) so the negatives span the global batch; None: whenever distributed.
    Returns: scalar mean over queries, float32 or wider, on the inputs' device.
    Cost: 2 N^2 D flops and O(N^2) memory in-batch; 2 N M D flops and O(N M) memory with negatives.
    References: van den Oord et al. 2018 (CPC); Chen et al. 2020 (SimCLR); Oord's bound
        I(q; p) >= log N - loss for in-batch negatives.
    """
    if negatives is None:
        temperature = check.in_batch_pair(query, positive, temperature, symmetric)
        if should_gather(gather_distributed):
            return info_nce_distributed(query, positive, temperature=temperature, symmetric=symmetric, impl=impl)
        q, p = (l2_normalize(x, compute_dtype(query, positive)) for x in (query, positive))  # (N, D), (N, D)
        if resolve_impl(impl, len(query), len(positive), query.device) == "tiled":  # tiled.info_nce_tiled, checked above
            scale = inverse_temperature(temperature, q.dtype)
            if symmetric:
                return symmetric_mean_nll_tiled(q, p, scale)
            return mean_nll_tiled(q, p, scale, weights=q.new_full((len(q),), 1 / len(q)),
                                  positive=torch.arange(len(q), device=q.device))
        logits = (q / temperature) @ p.T  # (N, N); row i's positive on the diagonal; τ folded into q: O(N D)
        target = torch.arange(len(q), device=q.device)
        loss = positive_nll(logits, target).mean()
        if symmetric:
            loss = (loss + diagonal_column_nll(logits).mean()) / 2
        return loss

    check.embeddings("query", query)
    check.embeddings("positive", positive)
    check.same_shape("query", query, "positive", positive)
    temperature = check.positive_number("temperature", temperature)
    if check.boolean("symmetric", symmetric):
        raise ValueError("symmetric=True needs in-batch negatives (negatives=None); got explicit negatives")
    if resolve_impl(impl, 1, 1) == "tiled":
        raise ValueError('impl="tiled" needs in-batch negatives (negatives=None): explicit negatives are O(N M) '
                         'already and stay dense')
    if not isinstance(negatives, Tensor):
        raise TypeError(f"negatives must be None or a torch.Tensor, got {type(negatives).__name__}")
    n, d = query.shape
    if (negatives.ndim not in (2, 3) or negatives.shape[-1] != d
            or (negatives.ndim == 3 and negatives.shape[0] != n)):
        raise ValueError(f"negatives must have shape (M, {d}) shared or ({n}, M, {d}) per query, "
                         f"got {tuple(negatives.shape)}")
    check.embeddings("negatives", negatives, ndim=negatives.ndim)
    check.same_device(query=query, positive=positive, negatives=negatives)
    dtype = compute_dtype(query, positive, negatives)
    q, p, neg = (l2_normalize(x, dtype) for x in (query, positive, negatives))
    pos_sim = (q * p).sum(-1, keepdim=True)  # (N, 1)
    if neg.ndim == 2:
        neg_sim = q @ neg.T  # (N, M)
    else:
        neg_sim = torch.einsum("nd,nmd->nm", q, neg)  # (N, M)
    logits = torch.cat([pos_sim, neg_sim], dim=1) / temperature  # (N, 1 + M); positive in column 0
    return positive_nll(logits, torch.zeros(n, dtype=torch.long, device=q.device)).mean()


def nt_xent(z1: Tensor, z2: Tensor, *, temperature: float | Tensor = 0.1, impl: str = "auto",
            gather_distributed: bool | None = None) -> Tensor:
    r"""NT-Xent, the SimCLR loss: 2N anchors, each view's positive is its twin, the other 2N-2 are negatives.

    .. math:: \ell_a = \log\sum_{k \ne a} e^{s_{ak}/\tau} - s_{a,a^+}/\tau,\qquad
              L = \frac{1}{2N}\sum_{a=1}^{2N} \ell_a

    over the stacked, L2-normalised batch z = [z1; z2], where a^+ = a + N mod 2N.
    A batch with all embeddings equal gives exactly log(2N - 1) for any tau.

    Args:
        z1, z2: (N, D) two views of the same N samples, N >= 2.
        temperature: tau > 0, a divisor; default 0.1, SimCLR's (Chen et al. 2020).
        impl: "dense" builds the N x N logits; "tiled" never does (``tiled.py``: the same numbers, O(N D)
            memory, faster at large N); "auto" picks tiled from about 1024 x 1024 logits up.
        gather_distributed: under ``torch.distributed``, gather the batch from every rank (with the
            gradient flowing back) so the negatives span the global batch; None: whenever distributed.
    Returns: scalar mean over the 2N anchors, float32 or wider.
    Cost: 8 N^2 D flops; O(N^2) memory dense, O(N D) tiled.
    References: Chen et al. 2020 (SimCLR); Sohn 2016 (N-pair).
    """
    temperature = check.two_views(z1, z2, temperature)
    if should_gather(gather_distributed):
        return nt_xent_distributed(z1, z2, temperature=temperature, impl=impl)
    n = len(z1)
    if resolve_impl(impl, 2 * n, 2 * n, z1.device) == "tiled":  # tiled.nt_xent_tiled, checked above
        z = l2_normalize(torch.cat([z1, z2]), compute_dtype(z1, z2))  # (2N, D)
        own = torch.arange(2 * n, device=z.device)  # (2N,)
        return mean_nll_tiled(z, z, inverse_temperature(temperature, z.dtype),
                              weights=z.new_full((2 * n,), 1 / (2 * n)), positive=twin_index(n, z.device), exclude=own)
    logits = two_view_logits(z1, z2, temperature).fill_diagonal_(float("-inf"))  # (2N, 2N), self excluded
    return positive_nll(logits, twin_index(n, z1.device)).mean()


def decoupled_nt_xent(z1: Tensor, z2: Tensor, *, temperature: float | Tensor = 0.1, impl: str = "auto",
                      gather_distributed: bool | None = None) -> Tensor:
    r"""Decoupled contrastive loss (DCL): NT-Xent with the positive removed from the denominator.

    .. math:: \ell_a = \log\sum_{k \notin \{a, a^+\}} e^{s_{ak}/\tau} - s_{a,a^+}/\tau,\qquad
              L = \frac{1}{2N}\sum_a \ell_a

    Removing the positive removes InfoNCE's negative-positive coupling factor
    q_a = 1 - softmax_{a^+}, which shrinks the gradient at small batches. The loss can be negative.

    Args:
        z1, z2: (N, D) two views, N >= 2.
        temperature: tau > 0, a divisor; default 0.1, as Yeh et al. 2022 (DCL).
        impl: "dense" builds the 2N x 2N logits; "tiled" never does (``tiled.mean_nll_tiled``: the same
            numbers, O(N D) memory); "auto" picks tiled from about 1024 x 1024 logits up.
        gather_distributed: under ``torch.distributed``, this rank's 2n anchors against the 2N candidates of
            every rank (gradients flow back), each rank's loss its own mean; None: whenever distributed.
    Returns: scalar mean over the 2N anchors.
    Cost: 8 N^2 D flops forward; O(N^2) memory dense, O(N D) tiled.
    References: Yeh et al. 2022 (Decoupled Contrastive Learning).
    """
    temperature = check.two_views(z1, z2, temperature)
    n = len(z1)
    gather = should_gather(gather_distributed)
    if gather or resolve_impl(impl, 2 * n, 2 * n, z1.device) == "tiled":
        dtype = compute_dtype(z1, z2)
        anchors, candidates, own, twin = two_view_candidates(l2_normalize(z1, dtype), l2_normalize(z2, dtype),
                                                             gather=gather)  # (2n, D), (2N, D), (2n,), (2n,)
        return mean_nll(anchors, candidates, inverse_temperature(temperature, dtype),
                        weights=anchors.new_full((2 * n,), 1 / (2 * n)), positive=twin,
                        exclude=torch.stack([own, twin], 1), impl=impl)
    logits = two_view_logits(z1, z2, temperature)  # (2N, 2N)
    _, negatives = two_view_masks(n, z1.device)
    return positive_nll(logits, twin_index(n, z1.device), negatives).mean()


def oracle_nt_xent(z1: Tensor, z2: Tensor, labels: Tensor, *, temperature: float | Tensor = 0.5) -> Tensor:
    r"""NT-Xent with oracle negatives: every negative that shares the anchor's class is removed.

    .. math:: \ell_a = \log\Big(e^{s_{a,a^+}/\tau} + \sum_{k:\,y_k \ne y_a} e^{s_{ak}/\tau}\Big) - s_{a,a^+}/\tau

    The "unbiased" loss that the debiased estimator approximates without labels (Chuang et al. 2020):
    with K balanced classes a random negative is a false negative with probability about 1/K.

    Args:
        z1, z2: (N, D) two views, N >= 2.
        labels: (N,) integer class labels of the samples.
        temperature: tau > 0, a divisor; default 0.5, as Chuang et al. 2020's code.
    Returns: scalar mean over the 2N anchors (an anchor whose negatives all share its class scores 0).
    Cost: 8 N^2 D flops, O(N^2) memory.
    References: Chuang et al. 2020 (Debiased Contrastive Learning).
    """
    temperature = check.two_views(z1, z2, temperature)
    n = len(z1)
    labels = check.labels("labels", labels, n, z1.device)
    logits = two_view_logits(z1, z2, temperature)  # (2N, 2N)
    y = labels.repeat(2)  # (2N,)
    not_self, _ = two_view_masks(n, z1.device)
    twin = twin_index(n, z1.device)
    keep = not_self & (y[:, None] != y[None, :])  # (2N, 2N) true negatives
    keep[torch.arange(2 * n, device=z1.device), twin] = True  # and the positive
    return positive_nll(logits, twin, keep).mean()
