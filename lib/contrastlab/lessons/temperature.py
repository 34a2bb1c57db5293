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
- ``monotone_from``: from which τ on a swept metric is monotone (to state a trend honestly);
- ``sweep_temperature``: ``fit`` at several τ and seeds -> one tidy row per run, with tolerance.

References: Wang & Liu 2021, "Understanding the Behaviour of Contrastive Loss" (CVPR, arXiv:2012.09740).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch import Tensor

from .. import metrics as M
from .. import validation as check

__all__ = ["relative_penalty", "hardest_share", "monotone_from", "sweep_temperature"]


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
                      metrics: Sequence[str] = ("uniformity", "knn", "knn_projection"),
                      **options):
    """Train ``method`` once per (τ, seed) with ``contrastlab.fit`` and tabulate the final evaluation.

    Args:
        data: a ``ToyData``, or a function ``seed -> ToyData`` (a fresh draw of the dataset per seed).
        temperatures: the τ values; seeds: the seeds (each seeds the data draw, if a function, and fit).
        method, steps, batch_size, eval_size, metrics, **options: passed to ``fit`` (e.g. ``out_dim=8``).
    Returns: a pandas DataFrame, one row per run: tau, seed, the final record of ``fit`` (loss,
        uniformity, knn, ...) and ``tolerance`` (``metrics.tolerance``) of the same evaluation
        embeddings as uniformity: the projections of one view of the evaluation subset.
    """
    import pandas as pd

    from ..train import fit

    make: Callable = data if callable(data) else (lambda seed: data)
    rows = []
    for seed in seeds:
        dataset = make(seed)
        for tau in temperatures:
            def add_tolerance(state):
                state.record["tolerance"] = M.tolerance(state.projections, state.labels)

            history = fit(dataset, method, steps=steps, batch_size=batch_size, eval_every=0, eval_size=eval_size,
                          metrics=metrics, seed=seed, progress=False, callbacks=[add_tolerance],
                          temperature=tau, **options)
            rows.append({"tau": float(tau), "seed": seed, **history.last()})
    return pd.DataFrame.from_records(rows)
