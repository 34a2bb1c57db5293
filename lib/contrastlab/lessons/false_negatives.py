r"""Helpers of lesson 06 (false negatives): the debiased loss's clamp, the reproduction's arms and
scores, and scoring false-negative filters.

Random in-batch negatives include same-class samples (with K balanced classes, about 1/K of them;
``metrics.collision_rate``). Lesson 06 compares three ways to treat them, all on the NT-Xent of the
stacked two-view batch ``cat([z1, z2])``:

- **plain** NT-Xent (``losses.nt_xent``, set-up "simclr"): every other sample is a negative (biased);
- **debiased** (``losses.debiased_nt_xent``, set-up "debiased", Chuang et al. 2020): the negative term
  is corrected with the class prior :math:`\tau^+`, using the positive as its same-class estimate,
  and clamped at :math:`N e^{-1/\tau}` (``clamp_rate`` measures how often the clamp bites);
- **oracle** (``losses.oracle_nt_xent``, set-up "oracle"): same-class negatives are dropped with the
  labels.

``run_arm`` trains one arm and scores it on held-out samples (``held_out_scores``: kNN and linear
probe); ``recovered_share`` is the share of the oracle's gain over plain that the debiased loss
recovers. ``debiased_negative_term`` compares the debiased estimate with the true-negative term it
stands for (labels known).

Filters (``losses.false_negative_mask`` / ``losses.filtered_nt_xent`` drop suspected false negatives
by a similarity threshold, as DCLR, or by cluster, as ClusterNS): ``filter_quality`` scores a filter
against the true labels: what fraction of the removed negatives were really false negatives
(precision), what fraction of the false negatives it caught (recall), and how many true negatives
it threw away (the cost); ``threshold_sweep`` does so for a range of thresholds.

``check_collision_rate``, ``check_debiased_ng`` and ``check_oracle_keep`` are the lesson's exercise
self-checks: each compares a learner's function with the package and names the first mistake found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import losses as L
from .. import metrics as M
from .. import validation as check
from ..data.base import ToyData
from ..losses.core import masked_logsumexp, positive_nll, two_view_logits, two_view_masks, twin_index
from ..losses.debiased import debiased_log_negatives
from ..train import fit
from .exercises import attempt

__all__ = ["ARMS", "held_out_scores", "clamp_rate", "run_arm", "recovered_share", "FilterQuality",
           "filter_quality", "threshold_sweep", "NegativeTerm", "debiased_negative_term", "check_collision_rate",
           "check_debiased_ng", "check_oracle_keep"]

#: The reproduction's arms: name -> the ``fit`` set-up that trains it.
ARMS = {"plain": "simclr", "debiased": "debiased", "oracle": "oracle"}


@torch.no_grad()
def held_out_scores(train_features: Tensor, train_labels: Tensor, test_features: Tensor, test_labels: Tensor, *,
                    k: int = 20) -> dict[str, float]:
    """Held-out accuracy of frozen features: kNN (cosine, ``k`` neighbours among the training rows) and a
    linear probe (logistic regression fitted on the training rows).

    Args:
        train_features: (N, F); train_labels: (N,).  test_features: (M, F); test_labels: (M,).
        k: neighbours of the kNN vote (``metrics.knn_accuracy``).
    Returns: {"knn": float, "linear": float}, each the share of test rows classified right.
    """
    return {"knn": M.knn_accuracy(train_features, train_labels, test_features, test_labels, k=k),
            "linear": M.linear_probe_accuracy(train_features, train_labels, test_features, test_labels)}


@torch.no_grad()
def clamp_rate(z1: Tensor, z2: Tensor, *, temperature: float = 0.5, tau_plus: float = 0.1) -> float:
    r"""Share of the 2B anchors whose debiased negative term sits at its floor (label-free).

    .. math:: N g_a = \max\Big(\frac{\sum_k e^{s_{ak}/\tau} - \tau^+ N e^{s_{a,a^+}/\tau}}{1-\tau^+},
              N e^{-1/\tau}\Big),\qquad N = 2B - 2

    An anchor at the floor has a constant negative term: its loss no longer pushes any negative away.

    Args:
        z1, z2: (B, D) two views (normalised inside), B >= 2.
        temperature: tau > 0.  tau_plus: class prior in [0, 1).
    Returns: a float in [0, 1].
    """
    temperature = float(check.two_views(z1, z2, temperature))
    tau_plus = float(check.real_number("tau_plus", tau_plus, low=0.0, high=1.0, high_open=True))
    b = len(z1)
    logits = two_view_logits(z1, z2, temperature)  # (2B, 2B)
    positive = logits.gather(1, twin_index(b, z1.device)[:, None]).squeeze(1)  # (2B,)
    _, negatives = two_view_masks(b, z1.device)  # (2B, 2B) the 2B-2 negatives of each anchor
    n_neg = 2 * b - 2
    log_ng = debiased_log_negatives(masked_logsumexp(logits, negatives), positive, n_neg=n_neg,
                                    tau_plus=tau_plus, temperature=temperature)  # (2B,)
    floor = math.log(n_neg) - 1.0 / temperature
    return float((log_ng <= floor + 1e-6).float().mean())


def run_arm(train: ToyData, test: ToyData, arm: str, *, seed: int, steps: int, tau_plus: float | None = None,
            temperature: float = 0.5, batch_size: int = 128, k: int = 20,
            device: torch.device | str | None = None) -> dict:
    """Train one arm on ``train`` and score its backbone features on ``test``.

    Args:
        train, test: the two sides of a ``ToyData.split`` (fresh views of ``train`` feed the loss).
        arm: a key of ``ARMS`` ("plain", "debiased", "oracle").
        seed: the training seed (initialisation, batches, views).  steps, batch_size: the optimisation.
        tau_plus: the debiased arm's class prior (required for it, refused for the others).
        temperature: tau of every arm's loss (Chuang et al. use 0.5).
        k: kNN neighbours.  device: None keeps the data's.
    Returns: {"arm", "seed", "tau_plus", "knn", "linear", "clamp", "model"}: held-out kNN and linear-probe
        accuracy of the backbone features, the clamp rate (``clamp_rate``) of a fresh batch of
        ``batch_size`` training samples at the end of training (debiased arm only, else NaN), and the
        trained set-up.
    """
    check.instance("train", train, ToyData, "a ToyData (e.g. one side of data.vmf_mixture(...).split())")
    check.instance("test", test, ToyData, "a ToyData (e.g. one side of data.vmf_mixture(...).split())")
    arm = check.choice("arm", arm, tuple(ARMS))
    if (arm == "debiased") != (tau_plus is not None):
        raise ValueError(f"tau_plus: got {tau_plus!r} for arm {arm!r}; expected a class prior in [0, 1) for the "
                         "debiased arm and None for the others")
    options = {"tau_plus": tau_plus} if arm == "debiased" else {}
    history = fit(train, ARMS[arm], steps=steps, batch_size=batch_size, eval_every=0, metrics=(), seed=seed,
                  temperature=temperature, progress=False, device=device, **options)
    model = history.method
    scores = held_out_scores(model.features(train.x), train.labels, model.features(test.x.to(train.x.device)),
                             test.labels.to(train.x.device), k=k)
    clamp = math.nan
    if arm == "debiased":
        idx = torch.arange(min(batch_size, len(train)), device=train.x.device)
        views = train.views(idx, generator=train.generator(seed + 1000))  # (B, 2, ...) fresh views
        clamp = clamp_rate(model.project(views[:, 0]), model.project(views[:, 1]), temperature=temperature,
                           tau_plus=tau_plus)
    return {"arm": arm, "seed": seed, "tau_plus": tau_plus, **scores, "clamp": clamp, "model": model}


def recovered_share(plain, debiased, oracle) -> np.ndarray:
    r"""Share of the oracle's gain over plain that the debiased loss recovers, one value per seed.

    .. math:: r_s = \frac{a^{deb}_s - a^{plain}_s}{\bar g},\qquad
              \bar g = \frac1n\sum_s (a^{oracle}_s - a^{plain}_s)

    The numerator is paired by seed; the denominator is the mean oracle gap, so the mean of the r_s is
    the mean gain over the mean gap (a per-seed ratio would explode on a seed whose gap is near 0).
    0 means no gain, 1 all of the oracle's gain, < 0 worse than plain.

    Args:
        plain, debiased, oracle: (n,) accuracies of the three arms on the same n seeds, in the same order.
    Returns: (n,) float64.
    Raises: ValueError when the lengths differ, a value is not finite, or the mean oracle gap is not
        positive (then there is no gap to recover).
    """
    a = {name: np.asarray(list(v), dtype=np.float64) for name, v in
         (("plain", plain), ("debiased", debiased), ("oracle", oracle))}
    n = len(a["plain"])
    for name, v in a.items():
        if v.ndim != 1 or len(v) != n or n == 0:
            raise ValueError(f"{name}: got shape {v.shape}, expected ({n},): one accuracy per seed, as for plain")
        if not np.isfinite(v).all():
            raise ValueError(f"{name}: got a non-finite value in {v.tolist()}, expected accuracies")
    gap = float((a["oracle"] - a["plain"]).mean())
    if gap <= 0:
        raise ValueError(f"oracle: the mean oracle gap (oracle - plain) is {gap:+.4g}, expected > 0: with no gain "
                         "from dropping false negatives there is no share to recover")
    return (a["debiased"] - a["plain"]) / gap


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


# --- the exercises' self-checks (each prints what is wrong, or "Check passed") ----------------------

def check_collision_rate(fn) -> bool:
    """Compare fn with metrics.collision_rate on a few batches and explain the first difference found."""
    gen = torch.Generator().manual_seed(3)
    for K, B in ((2, 10), (4, 128), (10, 64)):
        labels = torch.randint(0, K, (B,), generator=gen)  # (B,)
        expected = M.collision_rate(labels)
        done, got = attempt(fn, labels)
        if not done:
            return False
        got = float(got)
        if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9):
            continue
        same = (labels[:, None] == labels[None, :]).sum().item()  # diagonal included
        hints = {same / B**2: "you counted each sample as its own negative (keep i != j only) and divided by B^2",
                 (same - B) / B**2: "you divided by B^2; there are only B(B-1) ordered pairs i != j",
                 same / (B * (B - 1)): "you counted the diagonal (i == j); leave it out",
                 (same - B) / (B * (B - 1)) / 2: "you halved the count; ordered pairs count (i, j) and (j, i) both",
                 float(same - B): "you returned the count; divide it by the number of pairs B(B-1)"}
        hint = next((h for v, h in hints.items() if math.isclose(got, v, rel_tol=1e-6)), "check the pair count")
        print(f"Not yet: for K = {K}, B = {B} you got {got:.5f}, metrics.collision_rate gives {expected:.5f}: {hint}.")
        return False
    print(f"Check passed: your collision rate matches metrics.collision_rate (last batch: {got:.4f} for K = {K},"
          f" 1/K = {1 / K:.4f}; a small random batch scatters around 1/K).")
    return True


def check_debiased_ng(fn) -> bool:
    """Rebuild debiased_nt_xent from fn's N g_a and explain the first difference found."""
    gen = torch.Generator().manual_seed(5)
    b, tau, tau_plus = 12, 0.5, 0.25
    z1 = torch.randn(b, 6, generator=gen, dtype=torch.float64)  # (B, 6)
    z2 = z1 + 0.7 * torch.randn(b, 6, generator=gen, dtype=torch.float64)  # (B, 6) related views
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, 6)
    n = 2 * b - 2
    try:
        got = [fn(z1, z2, a, tau, tau_plus) for a in range(2 * b)]
    except Exception as error:  # report it, the learner fixes it
        print(f"Not yet: your function raised {type(error).__name__}: {error}")
        return False
    if any(v is None for v in got):
        print("Not done yet: your function returns None. Fill in its body (a solution is below).")
        return False
    got = torch.tensor([float(v) for v in got], dtype=torch.float64)  # (2B,)
    pos = torch.stack([(z[a] @ z[(a + b) % (2 * b)]) / tau for a in range(2 * b)]).exp()  # (2B,)
    loss = -torch.log(pos / (pos + got)).mean()
    expected = L.debiased_nt_xent(z1, z2, temperature=tau, tau_plus=tau_plus)
    if math.isclose(float(loss), float(expected), rel_tol=1e-8):
        print(f"Check passed: the loss built from your N g ({float(loss):.6f}) matches"
              f" losses.debiased_nt_xent ({float(expected):.6f}).")
        return True
    e = (z @ z.T / tau).exp()  # (2B, 2B)
    neg = [torch.tensor([e[a, k] for k in range(2 * b) if k not in (a, (a + b) % (2 * b))]).sum() for a in range(2 * b)]
    neg = torch.stack(neg)  # (2B,) sums over the 2B-2 negatives
    floor = n * math.exp(-1 / tau)
    variants = {
        "forgot the clamp at N e^(-1/tau)": (neg - tau_plus * n * pos) / (1 - tau_plus),
        "used N = B (the batch size) instead of the 2B-2 negatives":
            ((neg - tau_plus * b * pos) / (1 - tau_plus)).clamp_min(b * math.exp(-1 / tau)),
        "forgot to divide by (1 - tau+)": (neg - tau_plus * n * pos).clamp_min(floor),
        "kept the positive in the negative sum": ((neg + pos - tau_plus * n * pos) / (1 - tau_plus)).clamp_min(floor),
        "returned the plain negative sum (no debiasing)": neg,
        "returned log(N g) instead of N g": ((neg - tau_plus * n * pos) / (1 - tau_plus)).clamp_min(floor).log(),
    }
    print(f"Not yet: the loss from your N g is {float(loss):.6f}, losses.debiased_nt_xent gives {float(expected):.6f}.")
    for mistake, value in variants.items():
        if torch.allclose(got, value, rtol=1e-6):
            print(f"Your values match what you get if you {mistake}.")
            return False
    print("Check the normalisation of the rows and which rows count as negatives (not a, not (a + B) % 2B).")
    return False


def check_oracle_keep(fn) -> bool:
    """Compare fn's mask with the oracle's candidates and rebuild oracle_nt_xent from it."""
    gen = torch.Generator().manual_seed(9)
    b = 10
    labels = torch.randint(0, 3, (b,), generator=gen)  # (B,)
    z1, z2 = torch.randn(b, 4, generator=gen), torch.randn(b, 4, generator=gen)  # (B, 4) each
    done, keep = attempt(fn, labels)
    if not done:
        return False
    keep = torch.as_tensor(keep)
    if keep.shape != (2 * b, 2 * b) or keep.dtype != torch.bool:
        print(f"Not yet: expected a bool tensor of shape (2B, 2B) = {(2 * b, 2 * b)},"
              f" got {keep.dtype} {tuple(keep.shape)}."
              " The stacked batch cat([z1, z2]) has 2B rows: repeat the labels for the second view.")
        return False
    y = labels.repeat(2)  # (2B,)
    twin = twin_index(b, torch.device("cpu"))  # (2B,)
    rows = torch.arange(2 * b)
    expected = (y[:, None] != y[None, :])  # (2B, 2B) other-class candidates
    expected[rows, twin] = True  # and the positive
    if keep[rows, rows].any():
        print("Not yet: some anchors keep themselves (the diagonal must be False).")
        return False
    if not keep[rows, twin].all():
        print("Not yet: some anchors lost their positive: it has the anchor's label, but it must be kept.")
        return False
    if (keep & ~expected).any():
        print("Not yet: your mask keeps same-class negatives; the oracle drops every negative of the anchor's class.")
        return False
    if (expected & ~keep).any():
        print("Not yet: your mask drops some negatives of another class; those are true negatives, keep them.")
        return False
    loss = positive_nll(two_view_logits(z1, z2, 0.5), twin, keep).mean()
    reference = L.oracle_nt_xent(z1, z2, labels, temperature=0.5)
    print(f"Check passed: your mask rebuilds oracle_nt_xent ({loss.item():.5f} vs {reference.item():.5f});"
          f" it keeps {int(keep.sum(1).float().mean())} of the {2 * b - 1} other rows per anchor on average.")
    return True
