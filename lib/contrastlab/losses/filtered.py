r"""NT-Xent with suspected false negatives removed from the denominator (false-negative elimination).

Over the stacked views z = [z1; z2] (2N, D), anchor a with twin a+ = a + N mod 2N:

.. math:: \mathrm{drop}_{ak} = \big[\cos(r_a, r_k) \ge \phi\big] \lor \big[c_{a \bmod N} = c_{k \bmod N}\big],\qquad
          \ell_a = \log\Big(e^{s_{a,a^+}/\tau} + \sum_{k \ne a, a^+:\ \lnot\mathrm{drop}_{ak}} e^{s_{ak}/\tau}\Big)
          - s_{a,a^+}/\tau

``false_negative_mask`` returns drop, (2N, 2N) bool: a similarity threshold phi on r (z itself, or
(2N, D') embeddings of a frozen reference model) and/or shared (N,) cluster ids c;
``filtered_nt_xent`` is the mean of the 2N losses. With ``cluster_ids=labels`` it is ``oracle_nt_xent``;
with no filter (or one that drops nothing, e.g. threshold 1 on distinct directions) it is ``nt_xent``.

References: Zhou et al. 2022 (DCLR); Deng et al. 2023 (ClusterNS); Chuang et al. 2020 (the oracle).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import validation as check
from .core import l2_normalize, positive_nll, twin_index, two_view_logits, two_view_masks

__all__ = ["false_negative_mask", "filtered_nt_xent"]


def false_negative_mask(z1: Tensor, z2: Tensor, *, threshold: float | None = None,
                        cluster_ids: Tensor | None = None, reference: Tensor | None = None) -> Tensor:
    r"""Which candidates of the stacked batch ``cat([z1, z2])`` a filter treats as false negatives.

    .. math:: \mathrm{drop}_{ak} = \big[\cos(r_a, r_k) \ge \text{threshold}\big] \lor
              \big[c_{a \bmod N} = c_{k \bmod N}\big],\qquad k \ne a,\ k \ne a^+

    Args:
        z1, z2: (N, D) two views, N >= 2; used (detached) as the reference when ``reference`` is None.
        threshold: in [-1, 1]; drop negatives at least this similar to the anchor. None: no threshold.
        cluster_ids: (N,) integer cluster (or class) of each sample; drop negatives of the anchor's
            cluster. None: no cluster filter.
        reference: (2N, D') embeddings of the stacked views from another (frozen) model whose
            similarities decide the threshold filter, as DCLR's complementary model. Never differentiated.
    Returns: (2N, 2N) bool, True where a negative is dropped. The diagonal (self) and the positive
        (twin) are always False: they are never negatives.
    Cost: 4 N^2 D' flops with a threshold, O(N^2) memory.
    """
    check.embeddings("z1", z1)
    check.embeddings("z2", z2)
    check.same_shape("z1", z1, "z2", z2)
    check.same_device(z1=z1, z2=z2)
    check.batch_at_least("z1", z1, 2, "each anchor needs at least one negative: 2N - 2 >= 1")
    return _drop_mask(z1, z2, threshold, cluster_ids, reference)


def _drop_mask(z1: Tensor, z2: Tensor, threshold: object, cluster_ids: object, reference: object) -> Tensor:
    """``false_negative_mask`` once z1 and z2 are checked: checks the filter's own arguments."""
    n, device = len(z1), z1.device
    drop = torch.zeros(2 * n, 2 * n, dtype=torch.bool, device=device)  # (2N, 2N)
    if threshold is not None:
        threshold = float(check.real_number("threshold", threshold, low=-1.0, high=1.0))
        if reference is None:
            r = l2_normalize(torch.cat([z1, z2]).detach())  # (2N, D)
        else:
            check.embeddings("reference", reference)
            if len(reference) != 2 * n:
                raise ValueError(f"reference must have 2N = {2 * n} rows (the stacked views cat([z1, z2])), "
                                 f"got shape {tuple(reference.shape)}")
            check.same_device(z1=z1, reference=reference)
            r = l2_normalize(reference.detach())  # (2N, D')
        drop |= (r @ r.T) >= threshold  # (2N, 2N)
    if cluster_ids is not None:
        c = check.labels("cluster_ids", cluster_ids, n, device).repeat(2)  # (2N,)
        drop |= c[:, None] == c[None, :]  # (2N, 2N)
    _, negatives = two_view_masks(n, device)  # (2N, 2N): neither self nor twin
    return drop & negatives


def filtered_nt_xent(z1: Tensor, z2: Tensor, *, temperature: float | Tensor = 0.1, threshold: float | None = None,
                     cluster_ids: Tensor | None = None, reference: Tensor | None = None) -> Tensor:
    r"""NT-Xent whose suspected false negatives are removed from the denominator.

    .. math:: \ell_a = \log\Big(e^{s_{a,a^+}/\tau} + \sum_{k \ne a, a^+:\ \lnot\mathrm{drop}_{ak}} e^{s_{ak}/\tau}\Big)
              - s_{a,a^+}/\tau

    with ``drop`` from ``false_negative_mask`` (a similarity threshold and/or shared cluster ids). The
    filter is a hard, non-differentiable decision; the loss is differentiable in z1, z2 as usual.

    Args:
        z1, z2: (N, D) two views, N >= 2.
        temperature: tau > 0, a divisor; default 0.1, as ``nt_xent`` (SimCLR, Chen et al. 2020).
        threshold, cluster_ids, reference: the filter, see ``false_negative_mask``. Neither filter gives
            ``nt_xent``; ``cluster_ids=labels`` gives ``oracle_nt_xent``.
    Returns: scalar mean over the 2N anchors (an anchor whose negatives were all dropped scores 0).
    Cost: 8 N^2 D flops, O(N^2) memory.
    References: Zhou et al. 2022 (DCLR); Deng et al. 2023 (ClusterNS); Chuang et al. 2020 (the oracle).
    """
    temperature = check.two_views(z1, z2, temperature)
    n = len(z1)
    drop = _drop_mask(z1, z2, threshold, cluster_ids, reference)  # (2N, 2N), z1 and z2 checked above
    logits = two_view_logits(z1, z2, temperature)  # (2N, 2N)
    not_self, _ = two_view_masks(n, z1.device)  # (2N, 2N)
    keep = not_self & ~drop  # (2N, 2N): the positive and the kept negatives
    return positive_nll(logits, twin_index(n, z1.device), keep).mean()


