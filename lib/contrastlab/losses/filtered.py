r"""NT-Xent with suspected false negatives removed from the denominator (false-negative elimination).

``false_negative_mask`` decides which negatives to drop (a similarity threshold and/or shared cluster
ids); ``filtered_nt_xent`` is NT-Xent over the rest. With ``cluster_ids=labels`` it is
``oracle_nt_xent``; with no filter it is ``nt_xent``.

References: Zhou et al. 2022 (DCLR); Deng et al. 2023 (ClusterNS); Chuang et al. 2020 (the oracle).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import validation as check
from .core import l2_normalize, positive_nll, twin_index, two_view_logits, two_view_masks

__all__ = ["false_negative_mask", "filtered_nt_xent"]


def _threshold(value: object) -> float:
    return float(check.real_number("threshold", value, low=-1.0, high=1.0))


def _ids(name: str, ids: object, n: int, device: torch.device) -> Tensor:
    return check.labels(name, ids, n, device)


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
    """
    n = len(z1)
    device = z1.device
    drop = torch.zeros(2 * n, 2 * n, dtype=torch.bool, device=device)  # (2N, 2N)
    if threshold is not None:
        threshold = _threshold(threshold)
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
        c = _ids("cluster_ids", cluster_ids, n, device).repeat(2)  # (2N,)
        drop |= c[:, None] == c[None, :]
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
        temperature: tau > 0, a divisor.
        threshold, cluster_ids, reference: the filter, see ``false_negative_mask``. Neither filter gives
            ``nt_xent``; ``cluster_ids=labels`` gives ``oracle_nt_xent``.
    Returns: scalar mean over the 2N anchors (an anchor whose negatives were all dropped scores 0).
    Cost: 8 N^2 D flops, O(N^2) memory.
    References: Zhou et al. 2022 (DCLR); Deng et al. 2023 (ClusterNS); Chuang et al. 2020 (the oracle).
    """
    temperature = check.two_views(z1, z2, temperature)
    n = len(z1)
    drop = false_negative_mask(z1, z2, threshold=threshold, cluster_ids=cluster_ids, reference=reference)
    logits = two_view_logits(z1, z2, temperature)  # (2N, 2N)
    not_self, _ = two_view_masks(n, z1.device)
    keep = not_self & ~drop  # (2N, 2N): the positive and the kept negatives
    return positive_nll(logits, twin_index(n, z1.device), keep).mean()


