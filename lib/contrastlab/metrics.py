r"""Diagnostics of an embedding: geometry on the sphere, rank and collapse, and downstream accuracy.

All functions take embeddings as (N, D) tensors on any device, return Python floats or tensors on
that device, and never build a gradient. The ones whose cost grows as N^2 work in row chunks of
``chunk_size`` so that they run on large sets within a fixed memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from . import validation as check
from .losses import alignment as _alignment
from .losses import uniformity as _uniformity_dense
from .losses.core import compute_dtype, l2_normalize, twin_index, two_view_logits

__all__ = [
    "alignment", "uniformity", "uniform_sphere_uniformity", "singular_values", "effective_rank", "rankme",
    "numerical_rank", "collapse_std", "mean_norm", "anisotropy", "tolerance", "collision_rate",
    "similarity_matrix", "candidate_probabilities", "negative_shares", "negative_positive_coupling",
    "nt_xent_coupling", "gap_vector", "modality_gap", "positive_rank_accuracy", "knn_accuracy",
    "linear_probe_accuracy", "linear_r2", "Evaluation", "METRICS", "DEFAULT_METRICS",
]


@torch.no_grad()
def alignment(x: Tensor, y: Tensor, *, alpha: float = 2) -> float:
    r"""Mean :math:`\lVert\hat x_i - \hat y_i\rVert^\alpha` over positive pairs (Wang & Isola 2020);
    the value of ``contrastlab.losses.alignment``. 0 is perfect alignment, 4 (alpha=2) antipodal."""
    return float(_alignment(x, y, alpha=alpha))


@torch.no_grad()
def uniformity(x: Tensor, *, t: float = 2, chunk_size: int = 2048) -> float:
    r"""Uniformity :math:`\log \mathbb E_{i\ne j} e^{-t\lVert\hat x_i-\hat x_j\rVert^2}` (Wang & Isola 2020).

    Equal to ``contrastlab.losses.uniformity``, computed over row chunks so that it needs
    O(chunk_size * N) memory instead of O(N^2). Compare with ``uniform_sphere_uniformity(D, t)``.
    """
    check.embeddings("x", x)
    check.batch_at_least("x", x, 2, "uniformity is a mean over pairs")
    chunk_size = check.integer("chunk_size", chunk_size, 1)
    t = float(check.positive_number("t", t))
    if len(x) <= chunk_size:
        return float(_uniformity_dense(x, t=t))
    z = l2_normalize(x)  # (N, D)
    n = len(z)
    parts = []
    for start in range(0, n, chunk_size):
        rows = z[start:start + chunk_size]  # (C, D)
        logits = -t * (2 - 2 * rows @ z.T).clamp_min(0)  # (C, N)
        own = torch.arange(start, start + len(rows), device=z.device)
        logits[torch.arange(len(rows), device=z.device), own] = float("-inf")  # leave out i == j
        parts.append(torch.logsumexp(logits.flatten(), dim=0))
    return float(torch.logsumexp(torch.stack(parts), dim=0) - math.log(n * (n - 1)))


def uniform_sphere_uniformity(dim: int, *, t: float = 2) -> float:
    r"""The uniformity of the uniform distribution on :math:`S^{d-1}`: the best value an embedding
    of dimension ``dim`` can approach as N grows.

    With u = xᵀy for independent uniform x, y, ``‖x − y‖² = 2 − 2u`` and
    :math:`\mathbb E[e^{\kappa u}] = \Gamma(d/2)\,(2/\kappa)^{d/2-1} I_{d/2-1}(\kappa)`, so for κ = 2t

    .. math:: \mathcal L_{uniform} = \log\Gamma(d/2) + (1 - d/2)\log t + \log I^{e}_{d/2-1}(2t)

    where :math:`I^e_\nu(x) = e^{-x} I_\nu(x)` is the exponentially scaled Bessel function.
    d = 2 gives log I0e(2t); d = 3 gives log(sinh(2t)/(2t)) - 2t. Where that Bessel value underflows
    float64 (d above about 600 at t = 2), the same expectation is taken by quadrature over the angle θ
    between two uniform directions, whose density is proportional to :math:`\sin^{d-2}\theta`.
    """
    from scipy.special import ive  # lazy: only this reference value needs scipy

    dim = check.integer("dim", dim, 2)  # the sphere S^(dim-1)
    t = float(check.positive_number("t", t))
    bessel = float(ive(dim / 2 - 1, 2 * t))
    if bessel > 0 and math.isfinite(bessel):
        return math.lgamma(dim / 2) + (1 - dim / 2) * math.log(t) + math.log(bessel)
    theta = torch.linspace(0, math.pi, 200_001, dtype=torch.float64)[1:-1]  # (M,) open interval
    log_density = (dim - 2) * torch.log(torch.sin(theta))  # (M,) unnormalised
    return float(torch.logsumexp(log_density + 2 * t * (torch.cos(theta) - 1), 0) - torch.logsumexp(log_density, 0))


@torch.no_grad()
def singular_values(z: Tensor, *, center: bool = True) -> Tensor:
    """Singular values of the (N, D) embedding matrix, descending, as a (min(N, D),) float tensor.

    ``center=True`` subtracts the mean embedding first, giving the spectrum of the covariance
    (Jing et al. 2022 plot its log to show dimensional collapse: a tail of near-zero values).
    Centring leaves rounding residue of the size of the uncentred entries; singular values below
    ``eps · max(N, D) · ‖z‖_F`` (the uncentred norm, as in numpy's ``matrix_rank``) are that residue
    and are returned as 0, so a constant batch has an all-zero centred spectrum in any precision.
    """
    check.embeddings("z", z)
    center = check.boolean("center", center)
    z = z.to(torch.promote_types(z.dtype, torch.float32))
    # computed on z / max|z| and scaled back (sigma is linear in z): the norm of a batch of 1e20s in
    # float32 overflows (1e40), which would floor every singular value to 0
    scale = z.abs().max()
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    z = z / scale  # (N, D), entries in [-1, 1]
    if not center:
        return torch.linalg.svdvals(z) * scale
    floor = torch.finfo(z.dtype).eps * max(z.shape) * torch.linalg.norm(z)
    sigma = torch.linalg.svdvals(z - z.mean(0))
    return torch.where(sigma > floor, sigma, torch.zeros_like(sigma)) * scale


def _spectral_entropy_rank(sigma: Tensor, eps: float) -> float:
    total = sigma.sum()
    if float(total) == 0.0:
        return 0.0
    p = sigma / total + eps  # (K,)
    return float(torch.exp(-torch.special.xlogy(p, p).sum()))  # 0 log 0 = 0


@torch.no_grad()
def effective_rank(z: Tensor, *, center: bool = False) -> float:
    r"""Effective rank (Roy & Vetterli 2007): the exponential of the entropy of the normalised spectrum.

    .. math:: p_k = \sigma_k / \textstyle\sum_j \sigma_j,\qquad \mathrm{erank} = \exp\big(-\sum_k p_k\log p_k\big)

    Between 1 (rank one) and min(N, D) (a flat spectrum): the identity matrix I_n gives n.
    A constant (collapsed) batch gives 1 uncentred, and 0 when centred (no variance at all).
    """
    return _spectral_entropy_rank(singular_values(z, center=center), eps=0.0)


@torch.no_grad()
def rankme(z: Tensor, *, eps: float = 1e-7) -> float:
    r"""RankMe (Garrido et al. 2023): the effective rank of the uncentred embeddings with
    :math:`p_k = \sigma_k/\lVert\sigma\rVert_1 + \varepsilon`, used to predict downstream performance.
    ``eps`` > 0 keeps the logarithm finite on a spectrum with zeros."""
    eps = float(check.positive_number("eps", eps))
    return _spectral_entropy_rank(singular_values(z, center=False), eps=eps)


@torch.no_grad()
def numerical_rank(z: Tensor, *, tol: float = 1e-3, center: bool = True) -> int:
    """The number of singular values above ``tol`` times the largest one; ``tol`` in (0, 1)."""
    tol = float(check.real_number("tol", tol, low=0.0, high=1.0, high_open=True))
    center = check.boolean("center", center)
    if tol == 0.0:
        raise ValueError("tol must be a number in (0, 1) (a fraction of the largest singular value), got 0.0")
    sigma = singular_values(z, center=center)
    if float(sigma[0]) == 0.0:
        return 0
    return int((sigma > tol * sigma[0]).sum())


@torch.no_grad()
def collapse_std(z: Tensor) -> float:
    r"""SimSiam's collapse signal: the mean over dimensions of the batch std of :math:`\hat z = z/\lVert z\rVert`.

    About :math:`1/\sqrt{D}` when the embeddings spread over the sphere, 0 when they collapse to a point
    (Chen & He 2021). The unbiased std; N >= 2.
    """
    check.embeddings("z", z)
    check.batch_at_least("z", z, 2, "a standard deviation over the batch")
    return float(l2_normalize(z).std(0).mean())


@torch.no_grad()
def mean_norm(z: Tensor) -> float:
    r"""Norm of the mean unit embedding :math:`\lVert \frac1N\sum_i \hat z_i\rVert`: 0 for a centred
    spread, 1 for complete collapse."""
    check.embeddings("z", z)
    return float(l2_normalize(z).mean(0).norm())


@torch.no_grad()
def anisotropy(z: Tensor) -> float:
    r"""Mean cosine similarity over distinct pairs (Ethayarajh 2019): near 0 for an isotropic set,
    near 1 when the embeddings crowd into a narrow cone.

    .. math:: \frac{1}{N(N-1)}\sum_{i \ne j}\hat z_i^\top\hat z_j = \frac{\lVert\sum_i \hat z_i\rVert^2 - N}{N(N-1)}

    computed in O(N D) from the sum of the unit vectors.
    """
    check.embeddings("z", z)
    check.batch_at_least("z", z, 2, "a mean over pairs")
    u = l2_normalize(z).double()
    n = len(u)
    return float((u.sum(0).pow(2).sum() - u.pow(2).sum()) / (n * (n - 1)))


@torch.no_grad()
def tolerance(z: Tensor, labels: Tensor) -> float:
    r"""Tolerance (Wang & Liu 2021): the mean cosine similarity of distinct same-class pairs.

    .. math:: T = \frac{\sum_c \big(\lVert\sum_{i \in c}\hat z_i\rVert^2 - n_c\big)}{\sum_c n_c(n_c - 1)}

    High tolerance means semantically similar samples stay close (small temperatures lower it).
    O(N D). Classes with a single sample contribute no pair.
    """
    check.embeddings("z", z)
    labels = check.labels("labels", labels, len(z), z.device)
    u = l2_normalize(z).double()
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    sums = torch.zeros(len(counts), u.shape[1], dtype=u.dtype, device=u.device).index_add_(0, inverse, u)
    pairs = (counts * (counts - 1)).sum()
    if int(pairs) == 0:
        raise ValueError("tolerance needs at least one class with two samples; every label in labels is unique")
    return float((sums.pow(2).sum() - u.pow(2).sum()) / pairs)


def collision_rate(labels: Tensor) -> float:
    r"""Probability that a random negative (another sample drawn uniformly) shares the anchor's class:
    :math:`\sum_c \frac{n_c (n_c - 1)}{N (N - 1)}`, about 1/K for K balanced classes (Chuang et al.'s
    class prior tau+)."""
    check.tensor("labels", labels, ndim=1, dtype="integer", dims="(N,)")
    check.batch_at_least("labels", labels, 2, "a rate over pairs")
    _, counts = torch.unique(labels, return_counts=True)
    n = len(labels)
    return float((counts * (counts - 1)).sum()) / (n * (n - 1))


@torch.no_grad()
def similarity_matrix(a: Tensor, b: Tensor | None = None) -> Tensor:
    """Cosine similarities (N, M) between the rows of a (N, D) and b (M, D) (b = a if None)."""
    check.embeddings("a", a)
    if b is None:
        b = a
    check.embeddings("b", b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dimension D, got {tuple(a.shape)} and {tuple(b.shape)}")
    return l2_normalize(a) @ l2_normalize(b).T


def _positive_column(similarity: Tensor, positive_index: Tensor | None) -> Tensor:
    check.similarities("similarity", similarity)
    n, c = similarity.shape
    if positive_index is None:
        if n != c:
            raise ValueError(f"positive_index is required unless similarity is square, got shape {(n, c)}")
        return torch.arange(n, device=similarity.device)
    check.tensor("positive_index", positive_index, ndim=1, dtype="index", dims=f"({n},)")
    if positive_index.shape != (n,):
        raise ValueError(f"positive_index must be an int64 or int32 tensor of shape ({n},), got "
                         f"{positive_index.dtype} {tuple(positive_index.shape)}")
    return check.indices("positive_index", positive_index, c, similarity.device)


@torch.no_grad()
def candidate_probabilities(similarity: Tensor, *, temperature: float,
                            positive_index: Tensor | None = None) -> Tensor:
    r"""The softmax over each row's candidates, :math:`P_{ij} = e^{s_{ij}/\tau}/\sum_k e^{s_{ik}/\tau}`.

    These are the per-negative gradient weights of InfoNCE: :math:`\partial\ell_i/\partial s_{ij} = P_{ij}/\tau`
    for every negative j and :math:`-(1 - P_{i,i^+})/\tau` for the positive (Wang & Liu 2021). As tau falls
    the weight concentrates on the hardest negatives.

    Args:
        similarity: (N, C) similarities of each anchor to its candidates (positive included).
        temperature: tau > 0.
        positive_index: unused here (the softmax does not depend on it); accepted so calls mirror
            ``negative_positive_coupling``.
    Returns: (N, C) probabilities, rows summing to 1.
    """
    check.similarities("similarity", similarity)
    temperature = check.positive_number("temperature", temperature)
    s = similarity.to(torch.promote_types(similarity.dtype, torch.float32))  # (N, C)
    # shifted by each row's max first (the softmax is unchanged): s / tau itself may overflow to inf
    return torch.softmax((s - s.amax(1, keepdim=True)) / temperature, dim=1)


@torch.no_grad()
def negative_shares(similarity: Tensor, *, temperature: float, positive_index: Tensor | None = None,
                    beta: float = 0.0) -> Tensor:
    r"""Each negative's share of the softmax at τ: how InfoNCE splits an anchor's push among its negatives.

    .. math:: r_{ij} = \frac{e^{(1+\beta) s_{ij}/\tau}}{\sum_{k \ne i^+} e^{(1+\beta) s_{ik}/\tau}}
              \quad (j \ne i^+),\qquad r_{i i^+} = 0

    With β = 0 this is Wang & Liu's (2021) relative penalty: InfoNCE's gradient on negative j,
    :math:`P_{ij}/\tau`, divided by its sum over the negatives. β > 0 is the hard-negative loss's
    importance reweighting :math:`w_j \propto e^{\beta s_j/\tau}` (Robinson et al. 2021, the authors'
    code's convention), whose shares are the same softmax at τ / (1 + β). The one implementation of
    this softmax in the kit: the lessons, figures and widgets call it.

    Args:
        similarity: (N, C) similarities of each anchor to its candidates.
        temperature: τ > 0.  beta: β >= 0.
        positive_index: (N,) column of each anchor's positive, left out; None when every column is a
            negative.
    Returns: (N, C) float32 or wider; rows sum to 1 over the negatives, 0 in the positive's column.
    """
    check.similarities("similarity", similarity)
    n, c = similarity.shape
    tau = float(check.positive_number("temperature", temperature))
    beta = float(check.real_number("beta", beta, low=0.0))
    logits = similarity.to(torch.promote_types(similarity.dtype, torch.float32))  # (N, C), scaled below
    if positive_index is not None:
        if c < 2:
            raise ValueError(f"similarity must have a negative beside the positive (C >= 2), got shape {(n, c)}")
        pos = _positive_column(similarity, positive_index)
        if bool(((pos < 0) | (pos >= c)).any()):
            raise ValueError(f"positive_index must lie in [0, {c - 1}], got values outside it")
        logits = logits.clone()
        logits[torch.arange(n, device=logits.device), pos] = -math.inf  # the positive is no negative
        if not bool(torch.isfinite(logits).any(1).all()):
            raise ValueError("similarity must have a finite negative in every row (besides the positive), "
                             "got a row whose negatives are all -inf")
    # shifted by each row's max first (the softmax is unchanged): s (1 + beta) / tau may overflow to inf
    return torch.softmax((logits - logits.amax(1, keepdim=True)) * ((1 + beta) / tau), dim=1)


@torch.no_grad()
def negative_positive_coupling(similarity: Tensor, *, temperature: float,
                               positive_index: Tensor | None = None) -> Tensor:
    r"""The negative-positive coupling factor of InfoNCE (Yeh et al. 2022), per anchor.

    .. math:: q_i = 1 - \frac{e^{s_{i,i^+}/\tau}}{\sum_k e^{s_{ik}/\tau}}

    InfoNCE's gradient equals q_i times the decoupled loss's gradient; q_i -> 0 when the positive is
    easy or the batch is small, which slows learning. ``positive_index`` defaults to the diagonal.
    Every column is a candidate: for NT-Xent's stacked (2N, 2N) matrix, where an anchor is not its
    own candidate, use ``nt_xent_coupling`` (or set the diagonal to -inf first).
    Returns: (N,) in [0, 1).
    """
    pos = _positive_column(similarity, positive_index)
    probabilities = candidate_probabilities(similarity, temperature=temperature)
    return 1 - probabilities.gather(1, pos[:, None]).squeeze(1)


@torch.no_grad()
def nt_xent_coupling(z1: Tensor, z2: Tensor, *, temperature: float) -> Tensor:
    r"""``negative_positive_coupling`` of NT-Xent's 2N anchors: over the stacked batch [z1; z2], each
    anchor's candidates are the other 2N - 1 rows and its positive is its twin.

    Args:
        z1, z2: (N, D) two views.  temperature: tau > 0.
    Returns: (2N,) q in [0, 1); anchor a < N is z1[a], anchor N + a is z2[a].
    """
    temperature = check.two_views(z1, z2, temperature)
    logits = two_view_logits(z1, z2, temperature).fill_diagonal_(float("-inf"))  # (2N, 2N), self excluded
    probabilities = torch.softmax(logits, dim=1)
    return 1 - probabilities.gather(1, twin_index(len(z1), z1.device)[:, None]).squeeze(1)


def gap_vector(a: Tensor, b: Tensor) -> Tensor:
    r"""The modality gap vector :math:`\tfrac1N\sum_i \hat a_i - \tfrac1M\sum_j \hat b_j` (Liang et al. 2022).

    Args: a (N, D) embeddings of one modality, b (M, D) of the other (N and M may differ); rows are
    L2-normalised here. Returns: (D,), float32 or wider.
    """
    check.embeddings("a", a)
    check.embeddings("b", b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dimension D, got {tuple(a.shape)} and {tuple(b.shape)}")
    check.same_device(a=a, b=b)
    dtype = compute_dtype(a, b)
    return l2_normalize(a, dtype).mean(0) - l2_normalize(b, dtype).mean(0)


@torch.no_grad()
def modality_gap(a: Tensor, b: Tensor) -> float:
    r"""The modality gap :math:`\Delta = \lVert \tfrac1N\sum_i \hat a_i - \tfrac1M\sum_j \hat b_j\rVert \in [0, 2]`.

    0 when the two modalities have the same mean direction (e.g. both spread evenly over the sphere);
    up to 2 when each is collapsed onto opposite points. CLIP's is about 0.82 (Liang et al. 2022).
    """
    return float(gap_vector(a, b).norm())

@torch.no_grad()
def positive_rank_accuracy(query: Tensor, positive: Tensor, negatives: Tensor | None = None, *,
                           topk: tuple[int, ...] = (1, 5), chunk_size: int = 4096) -> dict[int, float]:
    """Top-k retrieval accuracy of each query's positive among its candidates (cosine similarity).

    Candidates are as in ``info_nce``: all positives (in-batch) or the positive plus ``negatives``
    (M, D). A candidate tied with the positive counts against it, so a collapsed batch scores 0,
    not 1. Returns {k: accuracy}.
    """
    check.embeddings("query", query)
    check.embeddings("positive", positive)
    check.same_shape("query", query, "positive", positive)
    if isinstance(topk, (int, bool)) or not isinstance(topk, (tuple, list)) or not topk:
        raise TypeError(f"topk must be a non-empty tuple of integers k >= 1, got {topk!r}")
    topk = tuple(check.integer("topk", k, 1) for k in topk)
    chunk_size = check.integer("chunk_size", chunk_size, 1)
    if negatives is not None:
        check.embeddings("negatives", negatives)
        if negatives.shape[1] != query.shape[1]:
            raise ValueError(f"negatives must have shape (M, {query.shape[1]}), got {tuple(negatives.shape)}")
    elif len(query) < 2:
        raise ValueError(f"query must have at least 2 rows for in-batch candidates, got shape {tuple(query.shape)}")
    q, p = l2_normalize(query), l2_normalize(positive)
    neg = None if negatives is None else l2_normalize(negatives)
    hits = {k: 0 for k in topk}
    for start in range(0, len(q), chunk_size):
        rows = slice(start, start + chunk_size)
        pos_sim = (q[rows] * p[rows]).sum(1, keepdim=True)  # (C, 1)
        if neg is None:
            others = q[rows] @ p.T  # (C, N)
            own = torch.arange(start, start + len(pos_sim), device=q.device)
            others[torch.arange(len(pos_sim), device=q.device), own] = float("-inf")
        else:
            others = q[rows] @ neg.T  # (C, M)
        rank = (others >= pos_sim).sum(1)  # candidates at least as similar as the positive
        for k in topk:
            hits[k] += int((rank < k).sum())
    return {k: hits[k] / len(q) for k in topk}


@torch.no_grad()
def knn_accuracy(train: Tensor, train_labels: Tensor, test: Tensor | None = None,
                 test_labels: Tensor | None = None, *, k: int = 20, temperature: float | None = 0.07,
                 chunk_size: int = 2048) -> float:
    r"""k-nearest-neighbour accuracy on frozen embeddings, by cosine similarity.

    Each test point takes its k most similar training points; their votes are weighted by
    :math:`e^{s/\tau}` (Wu et al. 2018; ``temperature=None`` gives plain majority votes). Without
    ``test`` it is the leave-one-out accuracy on ``train`` (each point's own entry is excluded).
    """
    check.embeddings("train", train)
    train_labels = check.labels("train_labels", train_labels, len(train), train.device)
    leave_one_out = test is None
    if leave_one_out:
        test, test_labels = train, train_labels
    else:
        check.embeddings("test", test)
        test_labels = check.labels("test_labels", test_labels, len(test), test.device)
        if test.shape[1] != train.shape[1]:
            raise ValueError(f"test must have shape (M, {train.shape[1]}) like train, got {tuple(test.shape)}")
    k = check.integer("k", k, 1)
    if k > len(train) - leave_one_out:
        raise ValueError(f"k must be an integer in [1, {len(train) - leave_one_out}], got {k} (k counts training "
                         f"points{', the query left out' if leave_one_out else ''})")
    if temperature is not None:
        temperature = float(check.positive_number("temperature", temperature))
    chunk_size = check.integer("chunk_size", chunk_size, 1)
    a, b = l2_normalize(train), l2_normalize(test)
    classes, y = torch.unique(train_labels, return_inverse=True)
    correct = 0
    for start in range(0, len(b), chunk_size):
        sim = b[start:start + chunk_size] @ a.T  # (C, N_train)
        if leave_one_out:
            rows = torch.arange(len(sim), device=sim.device)
            sim[rows, rows + start] = float("-inf")
        top_sim, top_idx = sim.topk(k, dim=1)  # (C, k)
        weights = torch.ones_like(top_sim) if temperature is None else torch.exp((top_sim - 1) / temperature)
        votes = torch.zeros(len(sim), len(classes), dtype=weights.dtype, device=sim.device)
        votes.scatter_add_(1, y[top_idx], weights)
        predicted = classes[votes.argmax(1)]
        correct += int((predicted == test_labels[start:start + chunk_size]).sum())
    return correct / len(b)


def linear_probe_accuracy(train: Tensor, train_labels: Tensor, test: Tensor | None = None,
                          test_labels: Tensor | None = None, *, weight_decay: float = 1e-4,
                          max_iter: int = 100, seed: int = 0) -> float:
    r"""Accuracy of a multinomial logistic regression trained on frozen, standardised embeddings.

    Minimises mean cross-entropy + weight_decay·‖W‖² with full-batch L-BFGS on the embeddings'
    device. Without ``test``, a seeded half of ``train`` trains the probe and the other half tests it.
    """
    check.embeddings("train", train)
    train_labels = check.labels("train_labels", train_labels, len(train), train.device)
    weight_decay = float(check.real_number("weight_decay", weight_decay, low=0.0))
    max_iter = check.integer("max_iter", max_iter, 1)
    seed = check.integer("seed", seed, 0)
    if test is None:
        if len(train) < 4:
            raise ValueError(f"train must have at least 4 rows when test is None (half trains the probe, half "
                             f"tests it, and a standardisation needs 2), got shape {tuple(train.shape)}")
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(train), generator=g).to(train.device)
        half = len(train) // 2
        test, test_labels = train[order[half:]], train_labels[order[half:]]
        train, train_labels = train[order[:half]], train_labels[order[:half]]
    else:
        check.embeddings("test", test)
        test_labels = check.labels("test_labels", test_labels, len(test), test.device)
        check.batch_at_least("train", train, 2, "the probe standardises by the training std")
        if test.shape[1] != train.shape[1]:
            raise ValueError(f"test must have shape (M, {train.shape[1]}) like train, got {tuple(test.shape)}")
    dtype = torch.promote_types(train.dtype, torch.float32)
    x, x_test = train.detach().to(dtype), test.detach().to(dtype)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    x, x_test = (x - mean) / std, (x_test - mean) / std
    classes, y = torch.unique(train_labels, return_inverse=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = torch.nn.Linear(x.shape[1], len(classes)).to(device=x.device, dtype=dtype)
    optimizer = torch.optim.LBFGS(probe.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(probe(x), y) + weight_decay * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        predicted = classes[probe(x_test).argmax(1)]
    return float((predicted == test_labels).float().mean())


@torch.no_grad()
def linear_r2(features: Tensor, targets: Tensor, *, ridge: float = 1e-6) -> float:
    r"""How much of ``targets`` a linear map of ``features`` explains: the R² of a least-squares fit.

    .. math:: R^2 = 1 - \frac{\lVert Y - \hat Y\rVert_F^2}{\lVert Y - \bar Y\rVert_F^2},\qquad
              \hat Y = [X, 1]\,W,\ W = \arg\min \lVert [X, 1]W - Y\rVert^2 + \text{ridge}\,\lVert W\rVert^2

    Zimmermann et al. 2021 use it to show that InfoNCE recovers the latent z of x = g(z) up to a
    linear (orthogonal) map: R² near 1. Fit and scored on the same samples (N should exceed D).
    Args: features (N, D); targets (N, K). Returns: R² in (-inf, 1].
    """
    check.embeddings("features", features)
    check.embeddings("targets", targets)
    if len(features) != len(targets):
        raise ValueError(f"features and targets must have the same number of rows, got {len(features)} and {len(targets)}")
    ridge = float(check.real_number("ridge", ridge, low=0.0))
    check.batch_at_least("targets", targets, 2, "R² compares the fit with the targets' variance")
    y64 = targets.double()
    spread = float((y64 - y64.mean(0)).pow(2).sum())  # the total sum of squares of R²'s denominator
    rounding = (64 * torch.finfo(torch.float64).eps * float(y64.abs().max())) ** 2 * y64.numel()
    if spread <= rounding:  # zero, or only the rounding of the mean of equal rows
        raise ValueError("targets must vary: every row is the same, so R² (explained variance) is undefined")
    x = torch.cat([features.double(), torch.ones(len(features), 1, dtype=torch.float64, device=features.device)], 1)
    y = targets.double()
    # the ridge problem as one least-squares system [X; sqrt(ridge) I] W = [Y; 0], solved by SVD (gelsd,
    # on the CPU: the matrices are small): collinear or collapsed features (a singular Gram matrix when
    # ridge = 0, or numerically singular at 1e20) get the minimum-norm fit instead of a LinAlgError
    x, y = x.cpu(), y.cpu()
    penalty = math.sqrt(ridge) * torch.eye(x.shape[1], dtype=torch.float64)  # (D+1, D+1)
    w = torch.linalg.lstsq(torch.cat([x, penalty]), torch.cat([y, torch.zeros(x.shape[1], y.shape[1],
                                                                               dtype=torch.float64)]),
                           driver="gelsd").solution  # (D+1, K)
    residual = (y - x @ w).pow(2).sum()
    total = (y - y.mean(0)).pow(2).sum()
    return float(1 - residual / total)


# --- the training metrics: the one registry that fit, the sweeps and the dashboards read ----------

@dataclass(frozen=True)
class Evaluation:
    """What a training metric is computed from: the projections of two fresh views of an evaluation
    subset (z1, z2: (E, D), what the loss sees), the backbone features of its clean inputs (E, F) and
    its labels (E,). For a two-tower set-up z1 is tower a's and z2 tower b's."""

    z1: Tensor
    z2: Tensor
    features: Tensor
    labels: Tensor


def _knn_k(e: Evaluation) -> int:
    return min(20, len(e.labels) - 1)


METRICS: dict[str, Callable[[Evaluation], float]] = {
    "alignment": lambda e: alignment(e.z1, e.z2),
    "uniformity": lambda e: uniformity(e.z1),
    "erank": lambda e: effective_rank(e.z1),  # uncentred: a complete collapse reads 1
    "std": lambda e: collapse_std(e.z1),
    "mean_norm": lambda e: mean_norm(e.z1),
    "anisotropy": lambda e: anisotropy(e.z1),
    "knn": lambda e: knn_accuracy(e.features, e.labels, k=_knn_k(e)),  # backbone features, leave-one-out
    "knn_projection": lambda e: knn_accuracy(e.z1, e.labels, k=_knn_k(e)),
    "top1": lambda e: positive_rank_accuracy(e.z1, e.z2, topk=(1,))[1],
    "modality_gap": lambda e: modality_gap(e.z1, e.z2),
}
"""Training metrics by name: ``fit(metrics=[...])``, a sweep's ``metrics:`` and the dashboards' curves."""

DEFAULT_METRICS = ("alignment", "uniformity", "erank", "std", "knn")
