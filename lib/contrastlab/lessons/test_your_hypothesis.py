r"""Helpers of notebook 12 (test your own hypothesis): explicit top-K truncation of the negatives.

Wang & Liu (2021, "Understanding the Behaviour of Contrastive Loss") keep, for each
anchor, only its K most similar negatives in the denominator of the contrastive loss:

.. math:: \ell_a = \log\Big(e^{s_{a,a^+}/\tau} + \sum_{k \in \mathrm{top}_K(a)} e^{s_{ak}/\tau}\Big)
          - s_{a,a^+}/\tau,\qquad L = \frac{1}{2N}\sum_{a=1}^{2N}\ell_a

over the stacked, L2-normalised batch ``z = [z1; z2]`` (NT-Xent's convention: the positive of row
a is row a + N mod 2N, and the 2N - 2 other rows are its negatives). With K = 2N - 2 it is NT-Xent.
The choice of the K negatives is a hard cut that does not depend on τ; within it the weights are
still :math:`e^{s/\tau}`.

``TopKNegatives`` is the set-up (a ``Method``) that trains with it; ``run_top_k_grid`` trains it over a
grid of τ, k and seeds into a frame that ``contrastlab.sweeps``' readers accept (it is not a registered
set-up, so a sweep config cannot name it); ``log_tau_slopes`` is the notebook's statistic, the slope
of a metric against ln τ per seed and arm.

Dependencies point one way: the core (losses, data, models, methods, train, validation) only.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .. import validation as check
from .. import stats
from ..losses.core import positive_nll, twin_index, two_view_logits, two_view_masks
from ..methods import Method, loss_default
from ..data import ToyData
from ..models import Encoder, build_encoder
from ..train import fit

__all__ = ["top_k_nt_xent", "TopKNegatives", "run_top_k_grid", "log_tau_slopes"]


def top_k_nt_xent(z1: Tensor, z2: Tensor, *, temperature: float = 0.1, k: int = 16) -> Tensor:
    r"""NT-Xent with only each anchor's ``k`` hardest (most similar) negatives (Wang & Liu 2021).

    .. math:: \ell_a = \log\Big(e^{s_{a,a^+}/\tau} + \sum_{j \in \mathrm{top}_k(a)} e^{s_{aj}/\tau}\Big) - s_{a,a^+}/\tau

    Args:
        z1, z2: (N, D) two views of the same N samples, N >= 2.
        temperature: tau > 0, a divisor.
        k: the negatives kept per anchor, 1 <= k; k >= 2N - 2 keeps them all (plain NT-Xent).
    Returns: scalar mean over the 2N anchors, float32 or wider. The selection is by value (``topk``):
        the gradient flows through the kept similarities only.
    Cost: NT-Xent's 8 N^2 D flops plus a top-k over each of the 2N rows; O(N^2) memory.
    References: Wang & Liu 2021 (CVPR), their hard negative sampling.
    """
    temperature = check.two_views(z1, z2, temperature)
    k = check.integer("k", k, 1)
    n = len(z1)
    logits = two_view_logits(z1, z2, temperature)  # (2N, 2N) s/τ, self on the diagonal
    own = twin_index(n, z1.device)  # (2N,) the column of each row's positive
    if k >= 2 * n - 2:  # every negative kept: NT-Xent
        return positive_nll(logits.fill_diagonal_(float("-inf")), own).mean()
    _, negatives = two_view_masks(n, z1.device)  # (2N, 2N) True off the diagonal and the twin
    hardest = logits.masked_fill(~negatives, float("-inf")).topk(k, dim=1).values  # (2N, k)
    positive = logits.gather(1, own[:, None])  # (2N, 1)
    return (torch.logsumexp(torch.cat([positive, hardest], dim=1), dim=1) - positive[:, 0]).mean()


class TopKNegatives(Method):
    """SimCLR's two-view set-up with ``top_k_nt_xent``: each anchor keeps its ``k`` hardest negatives."""

    objectives = (top_k_nt_xent,)

    def __init__(self, encoder: Encoder, *, temperature: float = loss_default(top_k_nt_xent, "temperature"),
                 k: int = loss_default(top_k_nt_xent, "k"), **options):
        super().__init__(encoder, **options)
        self.temperature = float(check.positive_number("temperature", temperature))
        self.k = check.integer("k", k, 1)

    def pair_loss(self, z1, z2, labels, step):
        return top_k_nt_xent(z1, z2, temperature=self.temperature, k=self.k)


def run_top_k_grid(make_data: Callable[[int], ToyData], *, temperatures: Sequence[float], ks: Sequence[int],
                   seeds: Sequence[int], steps: int = 200, batch_size: int = 256, lr: float = 1e-3, eval_every: int = 0,
                   eval_size: int = 1024, metrics: Sequence[str] = ("knn",), out_dim: int = 32,
                   feature_dim: int = 64, hidden: int = 128):
    """Train ``TopKNegatives`` at every (τ, k, seed) and return a tidy frame shaped like a sweep's.

    ``top_k_nt_xent`` is not a registered set-up (``contrastlab.methods.METHODS``), so a sweep
    config cannot name it; this loop plays the sweep's part for it. The frame has one row per run and
    evaluation (``run_id``, ``seed``, ``step``, ``loss.temperature``, ``loss.k``, ``loss`` and the
    metrics) and carries ``attrs["params"]`` and ``attrs["config"]`` as a sweep's frame does, so
    ``contrastlab.sweeps.summarize``, ``compare`` and ``figures`` read it unchanged.

    Args:
        make_data: seed -> the run's dataset (each seed draws its own, as in a sweep).
        temperatures, ks: the grid; k >= 2 * batch_size - 2 keeps every negative (plain NT-Xent).
        seeds: one run per grid point and seed; the seed fixes the data, the initialisation, the
            batches and the views, the same for every grid point (so differences pair by seed).
        steps, batch_size, lr, eval_every, eval_size, metrics: ``fit``'s arguments.
        out_dim, feature_dim, hidden: the default encoder's sizes (``models.build_encoder``).
    Returns: a pandas DataFrame, runs in the order seed, τ, k.
    """
    import pandas as pd

    temperatures = [float(check.positive_number("temperatures", t)) for t in temperatures]
    ks = [check.integer("ks", k, 1) for k in ks]
    seeds = [check.seed("seeds", s) for s in seeds]
    if not temperatures or not ks or not seeds:
        raise ValueError(f"temperatures, ks, seeds: got {len(temperatures)}, {len(ks)} and {len(seeds)} values, "
                         "expected at least one of each")
    frames = []
    for seed in seeds:
        data = make_data(seed)
        check.instance("make_data(seed)", data, ToyData, "a ToyData (e.g. contrastlab.data.latent_mlp(seed=seed))")
        for tau in temperatures:
            for k in ks:
                torch.manual_seed(seed)  # the same initial weights for every grid point of a seed
                encoder = build_encoder(tuple(data.x.shape[1:]), feature_dim=feature_dim, out_dim=out_dim,
                                        hidden=hidden)
                history = fit(data, TopKNegatives(encoder, temperature=tau, k=k), steps=steps,
                              batch_size=batch_size, lr=lr, eval_every=eval_every, eval_size=eval_size,
                              metrics=list(metrics), seed=seed, progress=False)
                rows = history.frame.copy()
                rows.insert(0, "run_id", f"tau{tau:g}-k{k}-seed{seed}")
                rows.insert(1, "seed", seed)
                rows.insert(2, "loss.temperature", tau)
                rows.insert(3, "loss.k", k)
                frames.append(rows)
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs.update(params=["loss.temperature", "loss.k"],
                       config={"metrics": list(metrics), "model": {"out_dim": out_dim},
                               "train": {"steps": steps, "batch_size": batch_size, "lr": lr}})
    return frame


def log_tau_slopes(frame, metric: str = "knn", *, tau: str = "loss.temperature", by: str = "loss.k"):
    r"""Per seed and arm, the least-squares slope of the final ``metric`` against ln τ.

    .. math:: b = \frac{\sum_t (x_t - \bar x)(y_t - \bar y)}{\sum_t (x_t - \bar x)^2},\qquad x_t = \ln\tau_t

    b is the change of the metric per factor e of τ (× ln 2 per doubling); 0 means τ does not matter.

    Args:
        frame: a tidy frame (a sweep's, or ``run_top_k_grid``'s) with columns run_id, seed, step,
            ``tau``, ``by`` and ``metric``; each run's last step is used.
        metric, tau, by: the metric, the temperature column and the column that names the arm.
    Returns: a pandas DataFrame of slopes, index seed, one column per value of ``by``.
    """
    for name in ("run_id", "seed", "step", tau, by, metric):
        if name not in frame.columns:
            raise ValueError(f"frame: has no column {name!r}; its columns are {list(frame.columns)}")
    finals = frame.loc[frame.groupby("run_id")["step"].idxmax()]

    def slope(group):
        x = np.log(group[tau].to_numpy(dtype=float))  # (T,)
        y = group[metric].to_numpy(dtype=float)  # (T,)
        if len(np.unique(x)) < 2:
            raise ValueError(f"frame: seed {group['seed'].iloc[0]} has {len(np.unique(x))} temperature(s) in one "
                             "arm, expected at least 2 for a slope")
        return stats.slope(x, y)

    return finals.groupby(["seed", by])[[tau, metric, "seed"]].apply(slope).unstack(by)
