r"""Temperature: how τ shares InfoNCE's gradient among the negatives, and τ sweeps of a training run.

InfoNCE with temperature τ gives anchor i, with candidates j (its positive :math:`i^+` included), the
gradient

.. math:: \frac{\partial \ell_i}{\partial s_{ij}} = \frac{P_{ij}}{\tau}\ (j \ne i^+),\qquad
          P_{ij} = \frac{e^{s_{ij}/\tau}}{\sum_k e^{s_{ik}/\tau}}

so the push on negative j, relative to the total push on the negatives, is Wang & Liu's (2021)
*relative penalty*, a softmax over the negatives alone:

.. math:: r_{ij} = \frac{e^{s_{ij}/\tau}}{\sum_{k \ne i^+} e^{s_{ik}/\tau}}

As τ falls, r concentrates on the most similar (hardest) negatives: with :math:`\beta = 1/\tau`, the
share of any top-k set H obeys :math:`\frac{d}{d\beta}\log\sum_{j\in H} r_{ij} = \bar s_H - \bar s_r \ge 0`
(mean similarity over H minus the r-weighted mean over all negatives), so it grows monotonically.

- ``relative_penalty``, ``hardest_share``: these weights, exactly, from a similarity matrix;
- ``sweep_temperature``: ``fit`` at several τ and seeds -> one tidy row per evaluation, with tolerance
  and the raw-input kNN baseline;
- ``log_slope``: the per-seed effect of the sweep, the least-squares slope of a metric against log10 τ;
- ``last_stretch``: how much the loss and the metrics still moved over the last part of training;
- ``monotone_from``: from which τ on a swept metric is monotone (to describe a trend honestly);
- ``check_relative_penalty``, ``check_triplet_limit``: the self-checks of the notebook's exercises.

The toy of the lesson's τ sweep, class clusters beside nuisance that every view redraws, is
``data.nuisance_clusters``.

References: Wang & Liu 2021, "Understanding the Behaviour of Contrastive Loss" (CVPR, arXiv:2012.09740).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import losses as L
from .. import metrics as M
from .. import stats
from .. import validation as check
from .exercises import attempt

__all__ = ["relative_penalty", "hardest_share", "log_slope",
           "last_stretch", "monotone_from", "sweep_temperature", "check_relative_penalty", "check_triplet_limit"]


def _similarity_and_positive(similarity: object, positive_index: Tensor | None) -> tuple[Tensor, Tensor]:
    check.embeddings("similarity", similarity)
    n, c = similarity.shape
    if c < 2:
        raise ValueError(f"similarity must have at least 2 candidates per row (the positive and a negative), "
                         f"got shape {(n, c)}")
    if positive_index is None:
        if n != c:
            raise ValueError(f"positive_index is required unless similarity is square (positives on the "
                             f"diagonal), got shape {(n, c)}")
        return similarity, torch.arange(n, device=similarity.device)
    check.tensor("positive_index", positive_index, dtype="index", dims=f"({n},)")
    if positive_index.shape != (n,):
        raise ValueError(f"positive_index must be an integer tensor of shape ({n},), got shape "
                         f"{tuple(positive_index.shape)}")
    if bool(((positive_index < 0) | (positive_index >= c)).any()):
        raise ValueError(f"positive_index must lie in [0, {c - 1}], got values outside it")
    return similarity, positive_index.to(similarity.device)


@torch.no_grad()
def relative_penalty(similarity: Tensor, *, temperature: float,
                     positive_index: Tensor | None = None) -> Tensor:
    r"""Wang & Liu's relative penalty :math:`r_{ij}`: each negative's share of anchor i's push.

    A softmax of :math:`s_{ij}/\tau` over the negatives only. It equals the InfoNCE gradient
    :math:`\partial\ell_i/\partial s_{ij}` divided by its sum over the negatives. This is
    ``metrics.negative_shares`` (β = 0) with the lesson's default of positives on the diagonal.

    Args:
        similarity: (N, C) similarities of each anchor to its C candidates, positive included.
        temperature: τ > 0.
        positive_index: (N,) column of each anchor's positive; None means the diagonal (N == C).
    Returns: (N, C) float32 or wider, 0 in the positive's column, each row summing to 1.
    """
    s, pos = _similarity_and_positive(similarity, positive_index)
    return M.negative_shares(s, temperature=temperature, positive_index=pos)


@torch.no_grad()
def hardest_share(similarity: Tensor, *, temperature: float, k: int = 1,
                  positive_index: Tensor | None = None) -> Tensor:
    r"""The share of each anchor's push on the negatives that goes to its ``k`` most similar negatives.

    :math:`\sum_{j \in \text{top-}k} r_{ij}`: k/(C-1) when τ → ∞ (every negative weighted alike), 1 when
    τ → 0 (for distinct similarities), and monotone in between (module docstring).

    Args: as ``relative_penalty``; k in [1, C-1].
    Returns: (N,) shares in (0, 1].
    """
    s, pos = _similarity_and_positive(similarity, positive_index)
    c = s.shape[1]
    k = check.integer("k", k, 1, c - 1)  # at most the number of negatives
    r = relative_penalty(s, temperature=temperature, positive_index=pos)  # (N, C)
    masked = s.to(r.dtype).clone()
    masked[torch.arange(len(s), device=s.device), pos] = float("-inf")  # the positive is never a negative
    top = masked.topk(k, dim=1).indices  # (N, k) the hardest negatives
    return r.gather(1, top).sum(1)


def _finite_floats(name: str, values: object) -> np.ndarray:
    try:
        array = np.asarray([float(v) for v in values], dtype=np.float64)  # (n,)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from None
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite numbers, got {array.tolist()}")
    return array


def log_slope(taus: Sequence[float], values: Sequence[float]) -> float:
    r"""The least-squares slope of ``values`` against :math:`\log_{10}\tau`: the change per tenfold τ.

    .. math:: b = \frac{\sum_k (x_k - \bar x)(v_k - \bar v)}{\sum_k (x_k - \bar x)^2},\qquad x_k = \log_{10}\tau_k

    One number per seed that uses every τ of the grid (the lesson's effect for the uniformity and the
    tolerance rules): positive when the metric rises with τ.

    Args: taus: (n,) temperatures > 0, at least two distinct; values: (n,) finite numbers, one per τ.
    Returns: the slope, a float.
    """
    t, v = _finite_floats("taus", taus), _finite_floats("values", values)
    if len(t) != len(v) or len(t) < 2:
        raise ValueError(f"taus and values must have the same length >= 2, got {len(t)} and {len(v)}")
    if (t <= 0).any():
        raise ValueError(f"taus must be > 0 (temperatures), got {t.tolist()}")
    if np.ptp(t) == 0:
        raise ValueError(f"taus must hold at least two distinct temperatures, got {t.tolist()}")
    return stats.slope(np.log10(t), v)


def last_stretch(steps: Sequence[float], values: Sequence[float], *, fraction: float = 0.25,
                 relative: bool = False) -> float:
    r"""How much a training curve still moved over its last ``fraction`` of steps.

    With :math:`v_{\text{end}}` the last value and :math:`v_{\text{late}}` the value recorded at the
    step closest to :math:`(1 - \text{fraction})` of the last step, returns
    :math:`v_{\text{end}} - v_{\text{late}}`; with ``relative=True``, that change as a share of the
    whole change from the first value, :math:`(v_{\text{end}} - v_{\text{late}}) / (v_{\text{end}} - v_{\text{first}})`
    (for a falling loss: the share of its total fall that came in the last stretch; near 0 on a plateau).

    Args:
        steps: (n,) the steps of the records, ascending, n >= 2; NaN values (a loss at step 0, before
            any training step) are dropped with their step first.
        values: (n,) the curve; fraction: in (0, 1); relative: as above.
    Returns: a float.
    """
    s, v = np.asarray([float(x) for x in steps]), np.asarray([float(x) for x in values])
    if len(s) != len(v):
        raise ValueError(f"steps and values must have the same length, got {len(s)} and {len(v)}")
    keep = ~np.isnan(v)
    s, v = s[keep], v[keep]
    if len(s) < 2 or not np.isfinite(s).all() or not np.isfinite(v).all() or (np.diff(s) <= 0).any():
        raise ValueError(f"steps must ascend with at least 2 finite (non-NaN) values, got steps {s.tolist()} "
                         f"and values {v.tolist()}")
    fraction = check.number("fraction", fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    relative = check.boolean("relative", relative)
    late = int(np.argmin(np.abs(s - (s[0] + (1 - fraction) * (s[-1] - s[0])))))
    change = float(v[-1] - v[late])
    if not relative:
        return change
    whole = float(v[-1] - v[0])
    return change / whole if whole != 0 else math.nan


def monotone_from(taus: Sequence[float], values: Sequence[float], *, increasing: bool = True,
                  slack: float = 0.0) -> float:
    """The smallest τ from which ``values`` are monotone in τ up to the largest τ.

    With the points sorted by τ, returns ``taus[k]`` for the smallest k such that every later step
    goes the stated way (``increasing``: v[j+1] >= v[j] - slack; else v[j+1] <= v[j] + slack). The
    largest τ is returned when even the last step breaks the trend. ``slack`` >= 0 tolerates noise.

    >>> monotone_from([0.1, 0.2, 0.5, 1.0], [3.0, 1.0, 2.0, 4.0])
    0.2
    """
    pairs = sorted(zip((float(t) for t in taus), (float(v) for v in values)))
    if len(pairs) < 2 or len(pairs) != len(taus) or len(taus) != len(values):
        raise ValueError(f"taus and values must have the same length >= 2, got {len(taus)} and {len(values)}")
    slack = check.number("slack", slack, low=0.0)
    increasing = check.boolean("increasing", increasing)
    sign = 1.0 if increasing else -1.0
    start = len(pairs) - 1
    while start > 0 and sign * (pairs[start][1] - pairs[start - 1][1]) >= -slack:
        start -= 1
    return pairs[start][0]


def sweep_temperature(data, temperatures: Iterable[float], *, seeds: Iterable[int] = (0,),
                      method: str = "simclr", steps: int = 200, batch_size: int = 256, eval_size: int = 1000,
                      eval_every: int = 0, metrics: Sequence[str] = ("uniformity", "knn", "knn_projection"),
                      **options):
    """Train ``method`` once per (τ, seed) with ``contrastlab.fit`` and tabulate its evaluations.

    Args:
        data: a ``ToyData``, or a function ``seed -> ToyData`` (a fresh draw of the dataset per seed).
        temperatures: the τ values; seeds: the seeds (each seeds the data draw, if a function, and fit).
        eval_every: 0 keeps only the final evaluation (one row per run); k > 0 evaluates every k steps
            (one row per evaluation, for training curves: ``last_stretch``).
        method, steps, batch_size, eval_size, metrics, **options: passed to ``fit`` (e.g. ``out_dim=64``).
    Returns: a pandas DataFrame, one row per evaluation: tau, seed, the record of ``fit`` (step, loss,
        uniformity, knn, ...), ``tolerance`` (``metrics.tolerance``) of the same evaluation embeddings
        as uniformity (the projections of one view of the evaluation subset) and ``knn_raw``, the kNN
        accuracy of the raw inputs with fit's k (min(20, E - 1)), the baseline a trained encoder must beat.
        ``knn_raw`` needs ``eval_size >= len(data)``: the evaluation subset is then every sample (in
        fit's order, which no metric here depends on), so the raw inputs are scored on the same points.
    """
    import pandas as pd

    from ..train import fit

    make: Callable = data if callable(data) else (lambda seed: data)
    eval_every = check.integer("eval_every", eval_every, 0)
    rows = []
    for seed in seeds:
        dataset = make(seed)
        if eval_size < len(dataset):
            raise ValueError(f"eval_size must be at least len(data) = {len(dataset)} (the raw-input baseline is "
                             f"scored on the same points as the model), got {eval_size}")
        k = min(20, len(dataset) - 1)
        knn_raw = M.knn_accuracy(dataset.x.flatten(1), dataset.labels, k=k)  # leave-one-out on every sample
        for tau in temperatures:
            def add_tolerance(state):
                state.record["tolerance"] = M.tolerance(state.projections, state.labels)

            history = fit(dataset, method, steps=steps, batch_size=batch_size, eval_every=eval_every,
                          eval_size=eval_size, metrics=metrics, seed=seed, progress=False,
                          callbacks=[add_tolerance], temperature=tau, **options)
            records = history.records if eval_every else [history.last()]
            rows += [{"tau": float(tau), "seed": seed, **record, "knn_raw": knn_raw} for record in records]
    return pd.DataFrame.from_records(rows)


def check_relative_penalty(fn: Callable, similarity: Tensor, *, temperature: float = 0.1) -> bool:
    """Self-check of the exercise "the relative penalty": ``fn(similarity, temperature)`` must return the
    (N, N) matrix r_ij, compared with the autograd gradient of InfoNCE normalised over the negatives.

    Args: fn: the learner's function; similarity: (N, N) similarities, positives on the diagonal;
        temperature: τ of the check. Prints what is wrong (or "Check passed") and returns True on success.
    """
    check.similarities("similarity", similarity)
    n = similarity.shape[0]
    if similarity.shape != (n, n):
        raise ValueError(f"similarity must be square (positives on the diagonal), got shape {tuple(similarity.shape)}")
    s = similarity.detach().double().cpu().requires_grad_(True)  # (N, N)
    F.cross_entropy(s / temperature, torch.arange(n), reduction="sum").backward()
    grad = s.grad.clone().fill_diagonal_(0)  # (N, N) the push on each negative, P_ij / tau
    expected = grad / grad.sum(1, keepdim=True)
    done, got = attempt(fn, s.detach(), temperature)
    if not done:
        return False
    got = torch.as_tensor(got).detach().double().cpu()
    if got.shape != expected.shape:
        print(f"Not yet: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}.")
        return False
    if torch.allclose(got, expected, atol=1e-6):
        print("Check passed: your r_ij equals the InfoNCE gradient on each negative divided by the total, "
              "and matches temp.relative_penalty.")
        return True
    if got.diagonal().abs().max() > 1e-6:
        print("Not yet: the diagonal (the positive) is not 0. The positive is not a negative: leave it out "
              "of the softmax, e.g. set its logit to -inf before softmax.")
    elif torch.allclose(got, expected.T, atol=1e-6) or torch.allclose(got.sum(0), torch.ones(n, dtype=got.dtype)):
        print("Not yet: your columns sum to 1, not your rows. Take the softmax along dim=1.")
    elif torch.allclose(got, relative_penalty(s.detach(), temperature=1.0), atol=1e-6):
        print("Not yet: that is the softmax at τ = 1. Divide the similarities by the temperature first.")
    else:
        print(f"Not yet: largest difference {float((got - expected).abs().max()):.3g}. Each row should be "
              "exp(s_ij/τ) over the sum of exp(s_ik/τ) over the negatives k of that row.")
    return False


def check_triplet_limit(fn: Callable, query: Tensor, key: Tensor) -> bool:
    r"""Self-check of the exercise "the τ → 0 limit": ``fn(similarity, temperature)`` must return
    :math:`\frac{1}{N}\sum_i \max(\max_{j \ne i} s_{ij} - s_{ii}, 0)/\tau`, and InfoNCE minus it must stay
    in [0, log N] (``losses.info_nce`` at τ = 0.1, 0.03, 0.01, 0.003).

    Args: fn: the learner's function; query, key: (N, D) the two views, row i of key the positive of
        row i of query. Prints a table and what is wrong (or "Check passed"); returns True on success.
    """
    s = M.similarity_matrix(query, key)  # (N, N)
    n = len(s)
    eye = torch.eye(n, dtype=torch.bool, device=s.device)
    gap = s.masked_fill(eye, -math.inf).max(1).values - s.diagonal()  # (N,) hardest negative minus positive
    mistakes = {"forgot the max with 0 (an anchor whose positive wins contributes 0, not a negative number)":
                lambda tau: float(gap.mean() / tau),
                "forgot to divide by τ": lambda tau: float(gap.clamp_min(0).mean()),
                "summed over the anchors instead of taking the mean": lambda tau: float(gap.clamp_min(0).sum() / tau)}
    rows = []
    for tau in (0.1, 0.03, 0.01, 0.003):
        done, got = attempt(fn, s, tau)
        if not done:
            return False
        rows.append((tau, float(L.info_nce(query, key, temperature=tau)), float(got),
                     float(gap.clamp_min(0).mean() / tau)))
    if not all(math.isclose(got, ref, rel_tol=1e-4, abs_tol=1e-6) for _, _, got, ref in rows):
        tau, _, got, _ = rows[-1]
        wrong = [m for m, value in mistakes.items() if math.isclose(got, value(tau), rel_tol=1e-4, abs_tol=1e-6)]
        print(f"Not yet: at τ = {tau} your limit is {got:.4f}, expected {rows[-1][3]:.4f}. "
              + (f"It matches what you get if you {wrong[0]}." if wrong else
                 "Use the hardest negative of each row (the max off the diagonal), not the mean of the negatives."))
        return False
    print(f"{'τ':>6} {'InfoNCE':>10} {'limit':>10} {'difference':>11}")
    for tau, exact, got, _ in rows:
        print(f"{tau:>6} {exact:>10.3f} {got:>10.3f} {exact - got:>11.4f}")
    if not all(-1e-4 <= exact - got <= math.log(n) for _, exact, got, _ in rows):
        print(f"Not yet: InfoNCE minus your limit left [0, log {n}]; compare your function with the formula.")
        return False
    print(f"Check passed: InfoNCE minus the limit stays in [0, log {n} = {math.log(n):.2f}] and the limit takes "
          f"over as τ → 0: at τ = 0.003 it is {rows[-1][2] / rows[-1][1]:.1%} of InfoNCE.")
    return True
