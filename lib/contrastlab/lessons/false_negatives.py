r"""False-negative filtering: drop the negatives that probably share the anchor's class.

Random in-batch negatives include same-class samples (with K balanced classes, about 1/K of them;
``metrics.collision_rate``). Two label-free ways to find and drop them, in the stacked two-view
batch ``cat([z1, z2])`` of NT-Xent:

- **similarity threshold** (in the spirit of DCLR, Zhou et al. 2022, which gives weight 0 to
  negatives whose similarity under a frozen "complementary" model exceeds a threshold): drop
  negative k of anchor a when :math:`\cos(r_a, r_k) \ge \text{threshold}`, where r are reference
  embeddings (a frozen model's, or the current ones, detached);
- **same cluster** (in the spirit of ClusterNS, Deng et al. 2023, which finds false negatives as the
  in-batch samples of the anchor's k-means cluster; ClusterNS then constrains them with a margin
  loss, here they are simply dropped): drop negative k of anchor a when ``cluster_ids`` agree.

``filtered_nt_xent`` is NT-Xent over the kept candidates, on the log-sum-exp core of
``contrastlab.losses`` (``positive_nll`` with a keep mask). With no filter it equals ``nt_xent``;
with ``cluster_ids=labels`` it equals ``oracle_nt_xent``. ``filter_quality`` scores a filter
against the true labels: what fraction of the removed negatives were really false negatives
(precision), what fraction of the false negatives it caught (recall), and how many true negatives
it threw away (the cost).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .. import validation as check
from ..losses.core import l2_normalize, masked_logsumexp, positive_nll, two_view_logits, two_view_masks, twin_index
from ..losses.debiased import debiased_log_negatives

__all__ = ["false_negative_mask", "filtered_nt_xent", "FilterQuality", "filter_quality", "threshold_sweep",
           "NegativeTerm", "debiased_negative_term"]










@dataclass(frozen=True)
class FilterQuality:
    """How a false-negative filter did against the true labels, counted over (anchor, negative) pairs.

    Attributes:
        threshold: the threshold scored (None when the filter was given as a mask).
        removed: negatives the filter dropped.
        false_negatives_removed: dropped negatives that really share the anchor's label (hits).
        false_negatives: all negatives that share the anchor's label.
        true_negatives_removed: dropped negatives of another label (the cost: lost true negatives).
        true_negatives: all negatives of another label.
    """

    threshold: float | None
    removed: int
    false_negatives_removed: int
    false_negatives: int
    true_negatives_removed: int
    true_negatives: int

    @property
    def precision(self) -> float:
        """Share of the dropped negatives that were false negatives (nan if nothing was dropped)."""
        return self.false_negatives_removed / self.removed if self.removed else math.nan

    @property
    def recall(self) -> float:
        """Share of the false negatives that were dropped (nan if there were none)."""
        return self.false_negatives_removed / self.false_negatives if self.false_negatives else math.nan

    @property
    def true_negative_loss(self) -> float:
        """Share of the true negatives that were wrongly dropped (nan if there were none)."""
        return self.true_negatives_removed / self.true_negatives if self.true_negatives else math.nan


def _pair_labels(labels: Tensor, candidate_labels: Tensor | None, shape: tuple[int, int],
                 device: torch.device) -> tuple[Tensor, Tensor]:
    n, m = shape
    labels = check.labels("labels", labels, n, device)
    if candidate_labels is None:
        if m != n:
            raise ValueError(f"candidate_labels is required when there are M = {m} != N = {n} candidates")
        candidate_labels = labels
    candidate_labels = check.labels("candidate_labels", candidate_labels, m, device)
    same = labels[:, None] == candidate_labels[None, :]  # (N, M)
    negatives = torch.ones(n, m, dtype=torch.bool, device=device)
    if m == n:
        negatives.fill_diagonal_(False)  # in-batch: candidate i is anchor i's positive, not a negative
    return same, negatives


def filter_quality(removed: Tensor, labels: Tensor, candidate_labels: Tensor | None = None, *,
                   threshold: float | None = None) -> FilterQuality:
    """Score a filter given as an (N, M) bool mask of dropped candidates against the labels.

    Args:
        removed: (N, M) bool, True where the filter drops candidate j of anchor i. In the square
            in-batch case (M == N) the diagonal is anchor i's positive and is ignored.
        labels: (N,) integer labels of the anchors.
        candidate_labels: (M,) labels of the candidates; defaults to ``labels`` when M == N.
        threshold: recorded in the result, for sweeps.
    Returns: ``FilterQuality`` with counts; ``.precision``, ``.recall``, ``.true_negative_loss``.
    """
    check.tensor("removed", removed, ndim=2, dtype="bool", dims="(N, M)")
    same, negatives = _pair_labels(labels, candidate_labels, tuple(removed.shape), removed.device)
    removed = removed & negatives
    fn, tn = same & negatives, ~same & negatives
    return FilterQuality(threshold=threshold, removed=int(removed.sum()),
                         false_negatives_removed=int((removed & fn).sum()), false_negatives=int(fn.sum()),
                         true_negatives_removed=int((removed & tn).sum()), true_negatives=int(tn.sum()))


@torch.no_grad()
def threshold_sweep(similarity: Tensor, labels: Tensor, thresholds, *,
                    candidate_labels: Tensor | None = None) -> list[FilterQuality]:
    """``filter_quality`` of the similarity-threshold filter (drop when similarity >= t) for each t.

    Args:
        similarity: (N, M) cosine similarities of anchors to candidates (e.g. ``metrics.similarity_matrix``);
            in the square in-batch case the diagonal (the positive) is ignored.
        labels, candidate_labels: as in ``filter_quality``.
        thresholds: an iterable of numbers in [-1, 1].
    Returns: one ``FilterQuality`` per threshold, in order.
    """
    check.tensor("similarity", similarity, ndim=2, dtype="floating", dims="(N, M)")
    return [filter_quality(similarity >= t, labels, candidate_labels, threshold=t)
            for t in (check.number("threshold", t, low=-1.0, high=1.0) for t in thresholds)]


@dataclass(frozen=True)
class NegativeTerm:
    """Per-anchor negative terms of the stacked batch, in log space, all (2N,) tensors.

    Attributes:
        positive: s_{a,a+}/tau, the positive logit.
        log_estimate: log(N g_a), Chuang et al.'s debiased estimate (what ``debiased_nt_xent`` uses).
        log_truth: log of N times the mean of e^{s/tau} over the anchor's true (other-class) negatives,
            the quantity the estimate stands for; NaN where an anchor has no true negative.
        log_random: log of the plain sum over all 2N-2 negatives (what ``nt_xent`` uses).
        clamped: True where the estimate sits at its floor N e^{-1/tau}.
    """

    positive: Tensor
    log_estimate: Tensor
    log_truth: Tensor
    log_random: Tensor
    clamped: Tensor


@torch.no_grad()
def debiased_negative_term(z1: Tensor, z2: Tensor, labels: Tensor, *, temperature: float = 0.5,
                           tau_plus: float = 0.1) -> NegativeTerm:
    r"""Compare the debiased estimate of the true-negative term with its true value (known labels).

    .. math:: N g_a = \max\Big(\frac{\sum_k e^{s_{ak}/\tau} - \tau^+ N e^{s_{a,a^+}/\tau}}{1-\tau^+},
              N e^{-1/\tau}\Big) \quad\text{vs}\quad
              N\,\frac{1}{|T_a|}\sum_{k \in T_a} e^{s_{ak}/\tau},\qquad N = 2B-2

    where T_a are the anchor's negatives of another class. The estimate uses the positive as a stand-in
    for a same-class sample (M = 1); it is unbiased only when the positive is as similar to the anchor
    as a typical same-class negative. ``softplus(log_estimate - positive).mean()`` is
    ``debiased_nt_xent``; ``softplus(log_random - positive).mean()`` is ``nt_xent``.

    Args:
        z1, z2: (B, D) two views, B >= 2.  labels: (B,) integer classes.
        temperature: tau > 0.  tau_plus: class prior in [0, 1).
    Returns: ``NegativeTerm`` of (2B,) tensors.
    References: Chuang et al. 2020 (Debiased Contrastive Learning).
    """
    temperature = float(check.two_views(z1, z2, temperature))
    tau_plus = float(check.real_number("tau_plus", tau_plus, low=0.0, high=1.0, high_open=True))
    b = len(z1)
    y = check.labels("labels", labels, b, z1.device).repeat(2)  # (2B,)
    logits = two_view_logits(z1, z2, temperature)  # (2B, 2B)
    positive = logits.gather(1, twin_index(b, z1.device)[:, None]).squeeze(1)  # (2B,)
    _, negatives = two_view_masks(b, z1.device)
    n_neg = 2 * b - 2
    log_random = masked_logsumexp(logits, negatives)  # (2B,)
    log_estimate = debiased_log_negatives(log_random, positive, n_neg=n_neg, tau_plus=tau_plus, temperature=temperature)
    true_neg = negatives & (y[:, None] != y[None, :])  # (2B, 2B)
    count = true_neg.sum(1)  # (2B,)
    log_truth = masked_logsumexp(logits, true_neg) + math.log(n_neg) - count.clamp_min(1).to(logits.dtype).log()
    log_truth = torch.where(count > 0, log_truth, torch.full_like(log_truth, math.nan))
    floor = math.log(n_neg) - 1.0 / temperature
    return NegativeTerm(positive=positive, log_estimate=log_estimate, log_truth=log_truth, log_random=log_random,
                        clamped=log_estimate <= floor + 1e-6)
