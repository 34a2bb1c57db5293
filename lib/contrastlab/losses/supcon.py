r"""Supervised contrastive loss (SupCon): every same-class sample is a positive.

Features (N, V, D), V views of N samples with (N,) labels, flattened to NV L2-normalised anchors;
A(i) is every anchor but i and P(i) those of i's class:

.. math:: \ell_i = -\frac{1}{|P(i)|}\sum_{p \in P(i)} \Big(s_{ip}/\tau - \log\sum_{a \in A(i)} e^{s_{ia}/\tau}\Big)

averaged over the anchors with |P(i)| > 0 (the L_out form of Khosla et al. 2020).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import validation as check
from .core import inverse_temperature, l2_normalize
from .distributed import gather_with_grad, global_batch, is_distributed, rank_offset, should_gather
from .tiled import DEFAULT_MEMORY_BUDGET, TileSize, mean_nll, resolve_impl


def supcon(features: Tensor, labels: Tensor, *, temperature: float | Tensor = 0.1, impl: str = "auto",
           gather_distributed: bool | None = None) -> Tensor:
    r"""SupCon, the L_out form: average the log-likelihood over each anchor's positives, outside the log.

    .. math:: \ell_i = -\frac{1}{|P(i)|}\sum_{p \in P(i)}
              \Big(s_{ip}/\tau - \log\sum_{a \in A(i)} e^{s_{ia}/\tau}\Big),\qquad
              L = \frac{1}{|I^+|}\sum_{i \in I^+} \ell_i

    over the N·V L2-normalised embeddings of all views, where A(i) is every embedding but i, P(i)
    the ones in A(i) with i's label, and I+ the anchors with at least one positive (anchors with
    none are left out of the mean). There is no (tau / base_temperature) factor.

    Args:
        features: (N, V, D), V >= 1 views of N samples.
        labels: (N,) integer class labels.
        temperature: tau > 0, a divisor; default 0.1, as Khosla et al. 2020.
        impl: "dense" builds the NV x NV logits; "tiled" never does (``tiled.mean_nll_tiled``: the same
            numbers, O(NV D) memory, faster at large N); "auto" picks tiled from about 1024 x 1024 logits up.
        gather_distributed: under ``torch.distributed``, gather features and labels from every rank (with
            the gradient flowing back) so positives and negatives span the global batch; None: whenever
            distributed. Each rank's loss is then weighted so that the mean over ranks is the loss of
            the global batch.
    Returns: scalar mean over the anchors that have a positive.
    Raises: ValueError if no anchor has a positive (V = 1 and all labels distinct).
    Cost: 2 (NV)^2 D flops forward, 4 (NV)^2 D backward; O((NV)^2) memory dense, O(NV D) tiled; the
        positives' sum is O(NV D) through per-class sums, with no (NV)^2 positives mask.
    References: Khosla et al. 2020 (Supervised Contrastive Learning).
    """
    check.embeddings("features", features, ndim=3)
    n, v, _ = features.shape
    labels = check.labels("labels", labels, n, features.device)
    temperature = check.positive_number("temperature", temperature)
    if should_gather(gather_distributed) or resolve_impl(impl, n * v, n * v, features.device) == "tiled":
        return supcon_global(features, labels, temperature=temperature, impl=impl,
                             gather=should_gather(gather_distributed))
    z = l2_normalize(features.transpose(0, 1).reshape(n * v, -1))  # (NV, D), view-major: row v*N + i
    y = labels.repeat(v)  # (NV,)
    classes, y_index, counts = torch.unique(y, return_inverse=True, return_counts=True)
    n_pos = counts[y_index] - 1  # (NV,) |P(i)|: same-class embeddings other than i
    has_pos = n_pos > 0
    if not bool(has_pos.any()):
        raise ValueError(f"supcon needs at least one anchor with a positive; got V={v} view(s) and "
                         f"{n} distinct labels (use V >= 2 views or repeat labels in the batch)")
    logits = (z @ z.T / temperature).fill_diagonal_(float("-inf"))  # (NV, NV), self left out of A(i)
    lse = torch.logsumexp(logits, dim=1)  # (NV,) log sum over A(i)
    # sum over positives of s_ip / tau without a positives mask: z_i . (sum of i's class - z_i) / tau
    class_sums = torch.zeros(len(classes), z.shape[1], dtype=z.dtype, device=z.device).index_add(0, y_index, z)
    positive_sum = (z * (class_sums[y_index] - z)).sum(1) / temperature  # (NV,)
    mean_log_prob_pos = positive_sum[has_pos] / n_pos[has_pos] - lse[has_pos]  # (|I+|,)
    return -mean_log_prob_pos.mean()


def supcon_global(features: Tensor, labels: Tensor, *, temperature: float | Tensor = 0.1, impl: str = "auto",
                  gather: bool = True, tile_size: TileSize = None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
                  group=None) -> Tensor:
    r"""``supcon`` of this rank's anchors against the global batch (every rank's features and labels when
    ``gather`` and distributed, else this process's own): the tiled path, and the distributed one.

    Anchor i's log-sum-exp runs over every candidate but itself (``mean_nll``, dense or tiled as ``impl``
    says); its positives' sum is :math:`\hat z_i^\top(\sum_{p:\,y_p = y_i} \hat z_p - \hat z_i)/\tau`, from
    per-class sums of the candidates. The anchors with a positive are weighted W / |I+| (W ranks, I+
    counted over the global batch), so that the mean of the ranks' losses is ``supcon`` of the global
    batch, whatever each rank's share of I+.
    Arguments are ``supcon``'s (checked there); returns this rank's scalar loss.
    """
    n, v, _ = features.shape
    distributed = gather and is_distributed(group)
    world = torch.distributed.get_world_size(group) if distributed else 1
    z_local = l2_normalize(features)  # (n, V, D)
    z_global = global_batch(z_local, group=group)[0] if distributed else z_local  # (N, V, D)
    y_global = gather_with_grad(labels, group) if distributed else labels  # (N,)
    big_n = len(z_global)
    anchors = z_local.transpose(0, 1).reshape(n * v, -1)  # (nV, D), view-major: row v*n + i
    candidates = z_global.transpose(0, 1).reshape(big_n * v, -1)  # (NV, D), view-major: row v*N + j
    offset = rank_offset(n, group) if distributed else 0  # global row of local sample 0
    own = (torch.arange(v, device=anchors.device)[:, None] * big_n + offset
           + torch.arange(n, device=anchors.device)).reshape(-1)  # (nV,) each anchor's own global row
    y = y_global.repeat(v)  # (NV,)
    classes, y_index, counts = torch.unique(y, return_inverse=True, return_counts=True)
    n_with_pos = int((counts * (counts > 1)).sum())  # |I+| over the global batch
    if n_with_pos == 0:
        raise ValueError(f"supcon needs at least one anchor with a positive; got V={v} view(s) and "
                         f"{n} distinct labels (use V >= 2 views or repeat labels in the batch)")
    anchor_class = y_index[own]  # (nV,)
    n_pos = counts[anchor_class] - 1  # (nV,) |P(i)|
    weights = (n_pos > 0).to(anchors.dtype) * (world / n_with_pos)  # (nV,)
    class_sums = torch.zeros(len(classes), anchors.shape[1], dtype=anchors.dtype,
                             device=anchors.device).index_add(0, y_index, candidates)  # (K, D)
    positive_sum = (anchors * (class_sums[anchor_class] - anchors)).sum(1) / temperature  # (nV,)
    positive_term = (weights * positive_sum / n_pos.clamp(min=1)).sum()
    lse_term = mean_nll(anchors, candidates, inverse_temperature(temperature, anchors.dtype), weights=weights,
                        exclude=own, impl=impl, tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)
    return lse_term - positive_term
