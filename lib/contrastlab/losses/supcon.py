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
from .core import l2_normalize


def supcon(features: Tensor, labels: Tensor, *, temperature: float | Tensor = 0.1) -> Tensor:
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
    Returns: scalar mean over the anchors that have a positive.
    Raises: ValueError if no anchor has a positive (V = 1 and all labels distinct).
    Cost: 2 (NV)^2 D flops, O((NV)^2) memory for the log-sum-exp; the positives' sum is O(NV D)
        through per-class sums, with no (NV)^2 positives mask.
    References: Khosla et al. 2020 (Supervised Contrastive Learning).
    """
    check.embeddings("features", features, ndim=3)
    n, v, _ = features.shape
    labels = check.labels("labels", labels, n, features.device)
    temperature = check.positive_number("temperature", temperature)
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
