r"""What is wrong with an embedding? Its geometry as numbers, and findings in words with their reasons.

    geometry = measure(z, labels=y, pairs=z2)   # z (N, D) tensor or array, any float dtype
    geometry.table                              # tidy pandas DataFrame: statistic, value, reference, note
    for finding in geometry.findings: print(finding)

``contrastlab.diagnose`` (``contrastlab.interactive.diagnosis``) wraps ``measure`` and adds the
figure and the offline HTML report; this module is the core's half (no plotly), shared with
``contrastlab.monitor.HealthMonitor``, so a diagnosis and a training run's warnings are one
implementation: the same statistics (``batch_statistics``) and the same rules (``judge``).

**What is measured.** On all finite rows: the spread ``std·√d`` (below), the anisotropy (mean
pairwise cosine, Ethayarajh 2019, exact in O(N·D)), the singular-value spectrum (its effective rank,
Roy & Vetterli 2007, RankMe, Garrido et al. 2023, and how many directions hold 90% of the centred
variance, Jing et al. 2022), exact duplicate rows, and the alignment of each row with its ``pairs``
row (Wang & Isola 2020). On a seeded random subsample of at most ``max_sample`` rows (all rows when
N is smaller; the table says which): the uniformity (Wang & Isola 2020, beside its value for the
uniform distribution on the same sphere, ``metrics.uniform_sphere_uniformity``), near-duplicate rows,
the histogram of pairwise cosines and the leave-one-out kNN accuracy. Those need all pairs, O(N²)
time; on the subsample they cost a fixed time and O(max_sample·chunk) memory, so N = 100,000 rows
of 768 dims is diagnosed in O(N·D) memory.

**std·√d.** The per-dimension standard deviation of the unit vectors ẑ = z/‖z‖ over the rows, as a
root mean square over the d dimensions, times √d: :math:`\sqrt{\sum_j \mathrm{Var}(\hat z_j)} =
\sqrt{1 - \lVert\overline{\hat z}\rVert^2}` (N/(N-1) aside). About 1 for an embedding spread over
the sphere, 0 for complete collapse (Chen & He 2021 plot the mean std, about 1/√d when spread).
The root mean square is used because it does not depend on the basis: an embedding spread over 3
axis-aligned dimensions of 384 has a mean std·√d of 0.09, a collapse it is not. The mean (SimSiam's
``metrics.collapse_std``) is in the table beside it.

**Rows left out.** Rows with a NaN or an inf (in ``embeddings`` or in ``pairs``) and rows of norm 0
(no direction on the sphere) are left out of every statistic and listed by index
(``Geometry.dropped``) and in a finding; they are never used silently.

**The findings and their thresholds** (module constants, each finding quotes its own):

=====================  ===========================================================================
cause                  raised when
=====================  ===========================================================================
complete_collapse      std·√d < ``COMPLETE_COLLAPSE_SPREAD`` (0.1): the rows crowd into one point
                       (mean cosine > 0.99). It implies the three below, which are then not raised.
dimensional_collapse   90% of the centred variance lies in k <= ``DIMENSIONAL_COLLAPSE_SHARE`` (10%)
                       of the r = min(N - 1, d) directions there are (never for r < 10).
anisotropic            mean cosine > ``ANISOTROPY_THRESHOLD`` (0.3): a cone, as in pretrained
                       sentence encoders (Ethayarajh 2019); uniform on the sphere gives 0.
near_duplicates        more than ``NEAR_DUPLICATE_SHARE`` (1%) of the sampled rows have another
                       sampled row at cosine >= ``NEAR_DUPLICATE_COSINE`` (0.999).
duplicates             some rows repeat an earlier row exactly.
not_aligned            with pairs: alignment (mean ‖ẑ - ẑ⁺‖²) above ``ALIGNMENT_SHARE`` (0.8) of
                       the mean squared distance of random pairs: positives barely closer than chance.
knn_at_chance          with labels: kNN accuracy below ``KNN_CHANCE_FACTOR`` (1.5) times the
                       largest class's share: the neighbourhoods do not follow the labels.
left_out               some rows were not finite or had norm 0.
=====================  ===========================================================================

The monitor adds the loss and temperature causes (``contrastlab.monitor``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from . import metrics as M
from . import validation as check
from .losses.core import l2_normalize

__all__ = [
    "Finding", "Geometry", "measure", "batch_statistics", "judge", "as_embeddings", "nearest_neighbours",
    "uniform_sphere_reference",
    "COMPLETE_COLLAPSE_SPREAD", "DIMENSIONAL_COLLAPSE_SHARE", "DIMENSIONAL_COLLAPSE_MIN_RANK", "VARIANCE_SHARE",
    "ANISOTROPY_THRESHOLD", "NEAR_DUPLICATE_COSINE", "NEAR_DUPLICATE_SHARE", "ALIGNMENT_SHARE",
    "KNN_CHANCE_FACTOR", "MAX_SAMPLE", "HISTOGRAM_BINS",
]

COMPLETE_COLLAPSE_SPREAD = 0.1
"""std·√d below this is complete collapse; a spread embedding gives about 1 (mean cosine above 0.99)."""
VARIANCE_SHARE = 0.9
"""The share of the centred variance whose number of directions measures dimensional collapse."""
DIMENSIONAL_COLLAPSE_SHARE = 0.1
"""Dimensional collapse: ``VARIANCE_SHARE`` of the variance in at most this share of the directions."""
DIMENSIONAL_COLLAPSE_MIN_RANK = 10
"""Dimensional collapse is judged only when min(N - 1, d) is at least this (a circle has 2 directions)."""
ANISOTROPY_THRESHOLD = 0.3
"""Mean pairwise cosine above this is an anisotropic cone (uniform on the sphere: 0)."""
NEAR_DUPLICATE_COSINE = 0.999
"""Two rows at cosine at least this are near-duplicates."""
NEAR_DUPLICATE_SHARE = 0.01
"""Near-duplicates are a finding when more than this share of the sampled rows have one."""
ALIGNMENT_SHARE = 0.8
"""Positives are not aligned when their mean squared distance exceeds this share of random pairs'."""
KNN_CHANCE_FACTOR = 1.5
"""kNN accuracy below this times the largest class's share is at chance."""
MAX_SAMPLE = 5000
"""The most rows the O(N²) statistics (uniformity, near-duplicates, histogram, kNN) are computed on."""
HISTOGRAM_BINS = 80
"""Bins of the cosine histograms on [-1, 1]."""


@dataclass(frozen=True)
class Finding:
    """One thing wrong with an embedding: its ``cause`` (a short name, see the module docstring),
    the ``value`` measured, the ``threshold`` it crossed and the ``message`` in words with the reason."""

    cause: str
    message: str
    value: float = math.nan
    threshold: float = math.nan

    def __str__(self) -> str:
        return self.message


@dataclass
class Geometry:
    """The numbers of a diagnosis (``measure``): ``rows`` (the table's rows as dicts), ``findings``,
    ``dropped`` (indices of the rows left out), ``sample`` (indices of the subsampled rows),
    ``singular_values`` (uncentred, descending), ``centred_singular_values``, the cosine histograms
    (``histogram_edges``, ``pair_counts`` of distinct sampled pairs, ``positive_counts`` of the
    (row, pair) cosines or None), and ``sample_embeddings`` / ``sample_labels`` for the projection."""

    rows: list[dict]
    findings: list[Finding]
    stats: dict
    dropped: np.ndarray
    sample: np.ndarray
    singular_values: np.ndarray
    centred_singular_values: np.ndarray
    histogram_edges: np.ndarray
    pair_counts: np.ndarray
    positive_counts: np.ndarray | None
    sample_embeddings: Tensor
    sample_labels: Tensor | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def table(self):
        """The statistics as a tidy pandas DataFrame: statistic, value, reference, note."""
        import pandas as pd

        return pd.DataFrame.from_records(self.rows, columns=["statistic", "value", "reference", "note"])

    def text(self) -> str:
        """The table and the findings as plain text (what ``contrastlab diagnose`` prints)."""
        lines = []
        width = max(len(r["statistic"]) for r in self.rows)
        for r in self.rows:
            ref = f"  (reference {_fmt(r['reference'])})" if r["reference"] is not None else ""
            note = f"  {r['note']}" if r["note"] else ""
            lines.append(f"{r['statistic']:<{width}}  {_fmt(r['value'])}{ref}{note}")
        lines.append("")
        lines.append("findings:" if self.findings else "findings: none (no threshold crossed)")
        lines += [f"  - {f}" for f in self.findings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


# --- inputs ------------------------------------------------------------------------------------

def as_embeddings(name: str, x: object) -> Tensor:
    """A torch tensor or a NumPy array of any float dtype, (N, D) with no empty axis, as a tensor of
    float32 or wider on its device (a NumPy array shares its memory when it is float32/float64).
    Non-finite values are allowed here: ``measure`` lists and leaves out their rows."""
    check.instance(name, x, (Tensor, np.ndarray), "a torch.Tensor or a numpy.ndarray (N, D) of floats")
    if isinstance(x, np.ndarray):
        if x.dtype == np.float16:
            x = x.astype(np.float32)
        x = torch.from_numpy(np.ascontiguousarray(x)) if x.dtype.kind in "fiub" else x
        check.instance(name, x, Tensor, "an array of numbers")  # object or string arrays
    check.tensor(name, x, ndim=2, dtype="floating", dims="(N, D)")
    if any(size == 0 for size in x.shape):
        raise ValueError(f"{name} must not have an empty dimension, got shape {tuple(x.shape)}")
    return x.detach().to(torch.promote_types(x.dtype, torch.float32))


def _as_labels(labels: object, n: int, device: torch.device) -> Tensor:
    if isinstance(labels, np.ndarray):
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"labels must be integer class labels, got dtype {labels.dtype}")
        labels = torch.from_numpy(labels.astype(np.int64))
    check.instance("labels", labels, Tensor, "a torch.Tensor or a numpy.ndarray of integer class labels")
    return check.labels("labels", labels.to(device), n, device)


# --- the statistics ----------------------------------------------------------------------------

def _spectrum(x: Tensor, chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(uncentred, centred) singular values of x (N, D), descending, float64, each of length min(N, D).

    Small inputs go through ``metrics.singular_values`` (an SVD); large ones through the D x D Gram
    matrix accumulated in float64 over row chunks (O(D²) memory), whose eigenvalues are σ². Values
    below ``metrics.singular_values``' floor (eps · max(N, D) · ‖x‖_F) are rounding and set to 0.
    """
    n, d = x.shape
    if n * d <= 4_000_000:
        return (M.singular_values(x, center=False).double().cpu().numpy(),
                M.singular_values(x, center=True).double().cpu().numpy())
    mean = torch.zeros(d, dtype=torch.float64, device=x.device)
    for start in range(0, n, chunk_size):
        mean += x[start:start + chunk_size].double().sum(0)
    mean /= n  # (D,)
    gram = torch.zeros(d, d, dtype=torch.float64, device=x.device)  # (D, D) centred
    for start in range(0, n, chunk_size):
        rows = x[start:start + chunk_size].double() - mean  # (C, D)
        gram += rows.T @ rows
    uncentred = gram + n * torch.outer(mean, mean)  # (D, D)
    frobenius = float(uncentred.diagonal().sum().clamp_min(0).sqrt())
    floor = torch.finfo(x.dtype).eps * max(n, d) * frobenius

    def sigma(g: Tensor) -> np.ndarray:
        s = torch.linalg.eigvalsh(g).clamp_min(0).sqrt().flip(0)[:min(n, d)]  # descending
        return torch.where(s > floor, s, torch.zeros_like(s)).cpu().numpy()

    return sigma(uncentred), sigma(gram)


def _entropy_rank(sigma: np.ndarray, eps: float = 0.0) -> float:
    total = sigma.sum()
    if total == 0:
        return 0.0
    p = sigma / total + eps
    nz = p[p > 0]
    return float(np.exp(-(nz * np.log(nz)).sum()))


def _directions_for(sigma_centred: np.ndarray, share: float = VARIANCE_SHARE) -> int:
    """How many centred directions hold ``share`` of the variance (0 when there is no variance)."""
    variance = sigma_centred.astype(np.float64) ** 2
    total = variance.sum()
    if total == 0:
        return 0
    return int(np.searchsorted(np.cumsum(variance) / total, share - 1e-12) + 1)


def batch_statistics(z: Tensor, z2: Tensor | None = None) -> dict:
    """The cheap statistics of a (B, D) batch, O(B·D + B·D²), what ``HealthMonitor`` computes every
    few steps: ``spread`` (std·√d, root mean square), ``anisotropy``, ``erank`` (uncentred effective
    rank), ``directions_90`` and ``rank`` (min(B - 1, D)), ``dim`` and ``alignment`` (with z2)."""
    check.embeddings("z", z)
    check.batch_at_least("z", z, 2, "a spread needs two rows")
    z = z.detach()
    unit = l2_normalize(z)
    n, d = z.shape
    sigma_c = M.singular_values(z, center=True).double().cpu().numpy()
    sigma = M.singular_values(z, center=False).double().cpu().numpy()
    out = {"spread": _spread(unit), "anisotropy": M.anisotropy(z), "erank": _entropy_rank(sigma),
           "directions_90": _directions_for(sigma_c), "rank": min(n - 1, d), "dim": d}
    if z2 is not None:
        check.embeddings("z2", z2)
        check.same_shape("z", z, "z2", z2)
        out["alignment"] = M.alignment(z, z2.detach())
    return out


def _spread(unit: Tensor) -> float:
    """std·√d of unit rows (N, D): √(Σ_j Var_j), the unbiased variance, in float64."""
    n = len(unit)
    total = unit.double().sum(0)  # (D,)
    sum_sq = float(unit.double().pow(2).sum())
    variance = (sum_sq - float(total.pow(2).sum()) / n) / (n - 1)
    return math.sqrt(max(variance, 0.0))


def judge(stats: dict) -> list[Finding]:
    """The findings the statistics call for (the rules of the module docstring), most serious first.

    ``stats`` needs ``spread``, ``dim``; and uses, when present, ``directions_90`` with ``rank``,
    ``anisotropy``, ``near_duplicate_share``, ``duplicates``, ``alignment`` with
    ``random_pair_distance``, ``knn`` with ``majority_share``, ``left_out``. ``HealthMonitor`` and
    ``measure`` both call it."""
    findings = []
    d = stats["dim"]
    spread = stats["spread"]
    collapsed = spread < COMPLETE_COLLAPSE_SPREAD
    if stats.get("left_out"):
        k = stats["left_out"]
        shown = ", ".join(map(str, stats.get("left_out_rows", [])[:10])) + (" ..." if k > 10 else "")
        findings.append(Finding("left_out", f"left out: {k} row(s) with NaN, inf or norm 0 (rows {shown}); "
                                            f"every statistic is of the other rows", k, 0))
    if collapsed:
        findings.append(Finding(
            "complete_collapse", f"complete collapse: std·√d = {spread:.3g}, a spread embedding gives ≈ 1 "
                                 f"(threshold {COMPLETE_COLLAPSE_SPREAD}): the rows crowd into one point",
            spread, COMPLETE_COLLAPSE_SPREAD))
    rank = stats.get("rank", 0)
    k90 = stats.get("directions_90")
    if (not collapsed and k90 is not None and rank >= DIMENSIONAL_COLLAPSE_MIN_RANK
            and k90 <= DIMENSIONAL_COLLAPSE_SHARE * rank):
        findings.append(Finding(
            "dimensional_collapse", f"dimensional collapse: {VARIANCE_SHARE:.0%} of the variance in {k90} of {d} "
                                    f"directions (threshold: at most {DIMENSIONAL_COLLAPSE_SHARE:.0%} of the "
                                    f"{rank} there are); the other directions carry almost nothing",
            k90, DIMENSIONAL_COLLAPSE_SHARE * rank))
    anisotropy = stats.get("anisotropy")
    if not collapsed and anisotropy is not None and anisotropy > ANISOTROPY_THRESHOLD:
        findings.append(Finding(
            "anisotropic", f"anisotropic: mean cosine {anisotropy:.2f} (threshold {ANISOTROPY_THRESHOLD}) — a cone, "
                           f"as in pretrained sentence encoders; uniform on the sphere gives 0",
            anisotropy, ANISOTROPY_THRESHOLD))
    share = stats.get("near_duplicate_share")
    if not collapsed and share is not None and share > NEAR_DUPLICATE_SHARE:
        findings.append(Finding(
            "near_duplicates", f"near-duplicates: {share:.1%} of the sampled rows have another at cosine ≥ "
                               f"{NEAR_DUPLICATE_COSINE} (threshold {NEAR_DUPLICATE_SHARE:.0%})",
            share, NEAR_DUPLICATE_SHARE))
    if stats.get("duplicates"):
        findings.append(Finding("duplicates", f"duplicates: {stats['duplicates']} row(s) repeat an earlier row "
                                              f"exactly (threshold: any)", stats["duplicates"], 0))
    alignment, random = stats.get("alignment"), stats.get("random_pair_distance")
    if alignment is not None and random is not None and random > 0 and alignment > ALIGNMENT_SHARE * random:
        findings.append(Finding(
            "not_aligned", f"positives not aligned: alignment {alignment:.3g} vs {random:.3g} for random pairs "
                           f"(threshold {ALIGNMENT_SHARE:.0%} of it): a row is barely closer to its pair than to "
                           f"any other row", alignment, ALIGNMENT_SHARE * random))
    knn, majority = stats.get("knn"), stats.get("majority_share")
    if knn is not None and majority is not None and majority < 1 and knn < KNN_CHANCE_FACTOR * majority:
        findings.append(Finding(
            "knn_at_chance", f"kNN at chance: accuracy {knn:.3f} vs {majority:.3f} for always guessing the "
                             f"largest class (threshold {KNN_CHANCE_FACTOR}x that): neighbours do not share labels",
            knn, KNN_CHANCE_FACTOR * majority))
    return findings


@torch.no_grad()
def measure(embeddings: object, *, labels: object = None, pairs: object = None, max_sample: int = MAX_SAMPLE,
            seed: int = 0, chunk_size: int = 1024, k: int = 20) -> Geometry:
    """Diagnose an embedding: the statistics, the findings and what the figures need.

    Args:
        embeddings: (N, D) torch tensor (any device) or NumPy array, any float dtype.
        labels: None or (N,) integer class labels (tensor or array): kNN accuracy.
        pairs: None or (N, D): row i is the second view of row i (alignment, positive cosines).
        max_sample: the O(N²) statistics use a seeded random subsample of this many rows (all if fewer).
        seed: the subsample's seed.  chunk_size: rows per chunk (memory O(chunk_size · max(D, max_sample))).
        k: neighbours of the kNN vote (at most the sample size - 1).
    Returns: a ``Geometry``.
    Raises: TypeError / ValueError naming the argument for a wrong kind or shape, and ValueError when
    fewer than 2 rows are left after the non-finite ones are left out.
    """
    x = as_embeddings("embeddings", embeddings)
    n_all, d = x.shape
    max_sample = check.integer("max_sample", max_sample, 2)
    seed = check.seed("seed", seed)
    chunk_size = check.integer("chunk_size", chunk_size, 1)
    k = check.integer("k", k, 1)
    y = None if labels is None else _as_labels(labels, n_all, x.device)
    p = None
    if pairs is not None:
        p = as_embeddings("pairs", pairs).to(x.device)
        if p.shape != x.shape:
            raise ValueError(f"pairs must have the shape of embeddings {tuple(x.shape)} (row i is the second view "
                             f"of row i), got {tuple(p.shape)}")

    keep = _usable_rows(x, chunk_size)  # (N,) finite and of norm > 0
    if p is not None:
        keep &= _usable_rows(p, chunk_size)
    dropped = torch.nonzero(~keep).flatten().cpu().numpy()
    if len(dropped):
        x = x[keep]
        p = None if p is None else p[keep]
        y = None if y is None else y[keep]
    n = len(x)
    if n < 2:
        raise ValueError(f"embeddings must have at least 2 finite rows of norm > 0, got {n} of {n_all} "
                         f"(rows left out: {dropped[:10].tolist()}{' ...' if len(dropped) > 10 else ''})")
    kept_index = torch.nonzero(keep).flatten().cpu().numpy()  # position in the input of each kept row

    stats: dict = {"dim": d, "rows": n, "left_out": len(dropped), "left_out_rows": dropped.tolist()}
    sums = _unit_sums(x, p, chunk_size)  # one pass over the rows, O(chunk · D) memory
    variance = ((sums["sq"] - sums["sum"].pow(2) / n) / (n - 1)).clamp_min(0)  # (D,) per-dimension, unbiased
    stats["spread"] = math.sqrt(float(variance.sum()))
    stats["spread_mean"] = float(variance.sqrt().mean()) * math.sqrt(d)
    mean_unit = sums["sum"] / n  # (D,)
    stats["anisotropy"] = float((n * n * mean_unit.pow(2).sum() - n) / (n * (n - 1)))
    sigma, sigma_c = _spectrum(x, max(1, 4_000_000 // max(d, 1)))
    stats["erank"] = _entropy_rank(sigma)
    stats["rankme"] = _entropy_rank(sigma, eps=1e-7)
    stats["directions_90"] = _directions_for(sigma_c)
    stats["rank"] = min(n - 1, d)
    stats["duplicates"] = _exact_duplicates(x, chunk_size)
    positive_counts = None
    if p is not None:
        stats["alignment"] = sums["alignment"] / n
        stats["random_pair_distance"] = float(2 - 2 * (mean_unit @ (sums["sum_p"] / n)))  # E‖û_i - v̂_j‖², i ≠ j
        positive_counts = sums["positive_counts"].numpy()

    generator = torch.Generator().manual_seed(seed)
    sampled = n > max_sample
    sample = torch.randperm(n, generator=generator)[:max_sample].sort().values if sampled else torch.arange(n)
    s_unit = l2_normalize(x[sample.to(x.device)])  # (S, D)
    edges = np.linspace(-1, 1, HISTOGRAM_BINS + 1)
    counts, nearest = _pair_pass(s_unit, chunk_size)
    stats["near_duplicate_share"] = float((nearest >= NEAR_DUPLICATE_COSINE).float().mean())
    stats["uniformity"] = M.uniformity(s_unit, chunk_size=chunk_size)
    stats["uniform_sphere"] = uniform_sphere_reference(d)
    s_labels = None
    if y is not None:
        s_labels = y[sample.to(y.device)]
        kk = min(k, len(sample) - 1)
        stats["knn"] = M.knn_accuracy(s_unit, s_labels, k=kk, chunk_size=chunk_size)
        _, class_counts = torch.unique(s_labels, return_counts=True)
        stats["majority_share"] = float(class_counts.max()) / len(s_labels)
        stats["classes"] = len(class_counts)

    where = f"on a random subsample of {len(sample)} of {n} rows (seed {seed})" if sampled else f"on all {n} rows"
    findings = judge(stats)
    rows = _rows(stats, where, n_all)
    notes = [f"O(N²) statistics (uniformity, near-duplicates, cosine histogram, kNN) {where}"]
    return Geometry(rows=rows, findings=findings, stats=stats, dropped=dropped,
                    sample=kept_index[sample.numpy()], singular_values=sigma, centred_singular_values=sigma_c,
                    histogram_edges=edges, pair_counts=counts, positive_counts=positive_counts,
                    sample_embeddings=x[sample.to(x.device)].float().cpu(),
                    sample_labels=None if s_labels is None else s_labels.cpu(), notes=notes)


def uniform_sphere_reference(dim: int, *, t: float = 2) -> float:
    """``metrics.uniform_sphere_uniformity(dim, t=t)``; NaN for d < 2 (no sphere to compare with)."""
    return math.nan if dim < 2 else M.uniform_sphere_uniformity(dim, t=t)


def _usable_rows(x: Tensor, chunk_size: int) -> Tensor:
    """(N,) bool: the rows that are finite and of norm > 0, computed chunk by chunk."""
    return torch.cat([torch.isfinite(rows).all(1) & (rows.abs().amax(1) > 0)
                      for rows in x.split(chunk_size)])


def _unit_sums(x: Tensor, p: Tensor | None, chunk_size: int) -> dict:
    """One pass over the unit rows in chunks (float64 sums): ``sum`` and ``sq`` (D,) of û and û²; with
    pairs ``sum_p`` (D,), ``alignment`` (Σ‖û − v̂‖²) and ``positive_counts`` (the histogram of û·v̂)."""
    d = x.shape[1]
    out = {"sum": torch.zeros(d, dtype=torch.float64, device=x.device),
           "sq": torch.zeros(d, dtype=torch.float64, device=x.device)}
    if p is not None:
        out.update(sum_p=torch.zeros(d, dtype=torch.float64, device=x.device), alignment=0.0,
                   positive_counts=torch.zeros(HISTOGRAM_BINS, dtype=torch.float64))
    for start in range(0, len(x), chunk_size):
        u = l2_normalize(x[start:start + chunk_size]).double()  # (C, D)
        out["sum"] += u.sum(0)
        out["sq"] += u.pow(2).sum(0)
        if p is not None:
            v = l2_normalize(p[start:start + chunk_size]).double()  # (C, D)
            out["sum_p"] += v.sum(0)
            out["alignment"] += float((u - v).pow(2).sum())
            cos = (u * v).sum(1).clamp(-1, 1).float().cpu()  # (C,)
            out["positive_counts"] += torch.histc(cos, bins=HISTOGRAM_BINS, min=-1, max=1).double()
    return out


def _pair_pass(unit: Tensor, chunk_size: int) -> tuple[np.ndarray, Tensor]:
    """Over the distinct pairs of the unit rows (S, D), in row chunks: the histogram of their cosines
    (counts per bin on [-1, 1]) and each row's largest cosine to another row (S,)."""
    s = len(unit)
    counts = torch.zeros(HISTOGRAM_BINS, dtype=torch.float64)
    nearest = torch.empty(s, dtype=torch.float32)
    for start in range(0, s, chunk_size):
        sim = (unit[start:start + chunk_size] @ unit.T).float().clamp(-1, 1)  # (C, S)
        rows = torch.arange(len(sim), device=sim.device)
        sim[rows, rows + start] = float("-inf")  # not a row with itself
        nearest[start:start + len(sim)] = sim.max(1).values.cpu()
        finite = sim[torch.isfinite(sim)]
        counts += torch.histc(finite.cpu(), bins=HISTOGRAM_BINS, min=-1, max=1).double()
    return counts.numpy(), nearest


def _exact_duplicates(x: Tensor, chunk_size: int) -> int:
    """How many rows repeat an earlier row exactly: each row's bytes hashed chunk by chunk (O(N) memory
    for the hashes), and a row whose hash was seen compared byte for byte with the rows it collides with."""
    first: dict[int, list[int]] = {}
    repeats = 0
    for start in range(0, len(x), chunk_size):
        chunk = np.ascontiguousarray(x[start:start + chunk_size].cpu().numpy())
        for i, row in enumerate(chunk):
            raw = row.tobytes()
            seen = first.setdefault(hash(raw), [])
            if any(x[j].cpu().numpy().tobytes() == raw for j in seen):
                repeats += 1
            else:
                seen.append(start + i)
    return repeats


def _rows(stats: dict, where: str, n_all: int) -> list[dict]:
    d = stats["dim"]
    rows = [
        ("rows", stats["rows"], None, f"of {n_all}; {stats['left_out']} left out (NaN, inf or norm 0)"),
        ("dimensions", d, None, ""),
        ("std·√d (spread)", stats["spread"], 1.0, "rms over dims of the std of the unit vectors; 0 = collapse"),
        ("std·√d (mean over dims)", stats["spread_mean"], 1.0, "SimSiam's collapse std (metrics.collapse_std) · √d"),
        ("anisotropy (mean cosine)", stats["anisotropy"], 0.0, "uniform on the sphere: 0; a cone: near 1"),
        ("effective rank", stats["erank"], float(min(stats["rows"], d)), "uncentred spectrum (Roy & Vetterli)"),
        ("RankMe", stats["rankme"], float(min(stats["rows"], d)), "Garrido et al. 2023"),
        (f"directions for {VARIANCE_SHARE:.0%} of variance", stats["directions_90"], stats["rank"],
         "centred spectrum; reference: the directions there are"),
        ("duplicate rows", stats["duplicates"], 0, "rows equal to an earlier row"),
        ("near-duplicate rows (share)", stats["near_duplicate_share"], 0.0,
         f"another row at cosine ≥ {NEAR_DUPLICATE_COSINE}, {where}"),
        ("uniformity (t = 2)", stats["uniformity"], stats["uniform_sphere"],
         f"reference: uniform on S^{d - 1}; {where}"),
    ]
    if "alignment" in stats:
        rows.append(("alignment (pairs)", stats["alignment"], stats["random_pair_distance"],
                     "mean ‖ẑ − ẑ⁺‖²; reference: random pairs"))
    if "knn" in stats:
        rows.append(("kNN accuracy", stats["knn"], stats["majority_share"],
                     f"leave-one-out, {stats['classes']} classes, {where}; reference: the largest class's share"))
    return [{"statistic": s, "value": v, "reference": r, "note": note} for s, v, r, note in rows]


@torch.no_grad()
def nearest_neighbours(embeddings: object, queries, *, k: int = 5,
                       chunk_size: int = 4096) -> list[list[tuple[int, float]]]:
    """For each row index in ``queries``, its ``k`` most similar other rows by cosine: [(row, cosine), ...],
    most similar first. Rows are compared in chunks (O(chunk_size) memory per query)."""
    x = as_embeddings("embeddings", embeddings)
    n = len(x)
    queries = [check.integer("queries", q, 0, n - 1) for q in queries]
    k = check.integer("k", k, 1, max(1, n - 1))
    chunk_size = check.integer("chunk_size", chunk_size, 1)
    q = l2_normalize(x[queries])  # (Q, D)
    best_sim = torch.full((len(queries), 0), -math.inf, device=x.device)
    best_idx = torch.zeros((len(queries), 0), dtype=torch.long, device=x.device)
    for start in range(0, n, chunk_size):
        sim = q @ l2_normalize(x[start:start + chunk_size]).T  # (Q, C)
        idx = torch.arange(start, start + sim.shape[1], device=x.device).expand_as(sim)
        sim = torch.where(idx == torch.tensor(queries, device=x.device)[:, None], -math.inf, sim)  # not itself
        sims, order = torch.cat([best_sim, sim], 1).topk(min(k, best_sim.shape[1] + sim.shape[1]), dim=1)
        best_idx = torch.cat([best_idx, idx], 1).gather(1, order)
        best_sim = sims
    return [[(int(i), float(s)) for i, s in zip(row_i, row_s)] for row_i, row_s in zip(best_idx.tolist(),
                                                                                     best_sim.tolist())]
