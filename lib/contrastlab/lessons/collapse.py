r"""Collapse: the pieces notebook 07 needs that the rest of the package lacks.

- ``collapse_report``: every collapse diagnostic of one embedding in one dict, with the per-dimension
  std read against :math:`1/\sqrt{d}`, its value for embeddings spread uniformly over the sphere;
- ``collapsed_loss``: the value each objective takes on a completely collapsed batch, to read a
  training loss against (for SimSiam, BYOL and VICReg without its variance term it is the minimum);
- ``anisotropic_gaussian``: a toy whose data variance falls off across directions while the
  augmentation adds the same noise in every direction, the setting of Jing et al. (2022)'s
  "strong augmentation" mechanism of dimensional collapse;
- ``encoder_with_projector``: a seeded encoder with no, a linear or an MLP projector, so that two
  arms share the same backbone initialisation;
- ``SupConSimCLR`` / ``supcon_simclr``: the weighted sum of the supervised and the unsupervised
  contrastive loss that Xue et al. (2023) show keeps both the class and the subclass features;
- ``variance_share`` and ``subclass_accuracy``: how much of the embedding's spread a factor (the
  class, or the subclass within each class) explains, and whether a linear probe can still read the
  subclass inside a class: the measures of class collapse and feature suppression;
- ``ablation_runs``: one ``fit`` per (arm, seed) of an ablation table, with the diagnostics of each
  trained model on one fixed probe batch (the rows the notebook's verdicts are judged on);
- ``log_spectrum``: :math:`\log_{10}(\sigma_k/\sigma_1)` floored at a stated value, so that one
  numerically-zero singular value does not squash the other lines of a spectrum plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import losses as L
from .. import metrics as M
from ..data.base import ToyData
from .. import validation as check
from ..methods import SupConSimCLR, loss_default
from ..models import Encoder, build_encoder, mlp

__all__ = ["ablation_runs", "collapse_report", "collapsed_loss", "encoder_with_projector", "log_spectrum",
           "supcon_simclr", "subclass_accuracy", "variance_share"]


# --- diagnostics -------------------------------------------------------------------------------

@torch.no_grad()
def collapse_report(z: Tensor) -> dict[str, float]:
    r"""The collapse diagnostics of an (N, D) embedding, N >= 2.

    Returns a dict with
    ``std`` (``metrics.collapse_std``: mean over dimensions of the batch std of :math:`z/\lVert z\rVert`),
    ``std_ratio`` (``std`` times :math:`\sqrt{D}`: about 1 for embeddings spread over the sphere, 0
    for a complete collapse), ``mean_norm`` (1 for a complete collapse), ``erank`` (effective rank
    of the *uncentred* embeddings, as ``fit`` records it: a complete collapse reads 1, a spread
    embedding up to min(N, D)), ``erank_centred`` (of the centred embeddings: the shape of the
    spread around the mean, the measure of dimensional collapse; it ignores a complete collapse's
    mean, so read it with ``std_ratio``) and ``uniformity`` (0 for a complete collapse, lower is
    more spread).
    """
    check.embeddings("z", z)
    check.batch_at_least("z", z, 2, "a standard deviation over the batch")
    std = M.collapse_std(z)
    return dict(std=std, std_ratio=std * math.sqrt(z.shape[1]), mean_norm=M.mean_norm(z),
                erank=M.effective_rank(z), erank_centred=M.effective_rank(z, center=True),
                uniformity=M.uniformity(z))


COLLAPSED_LOSS_METHODS = ("simsiam", "byol", "vicreg", "barlow", "simclr")


@torch.no_grad()
def collapsed_loss(method: str, *, batch_size: int = 128, dim: int = 32, **options) -> float:
    r"""The loss of ``method`` on a completely collapsed batch: every embedding (and every prediction)
    the same vector c.

    - ``"simsiam"``: :math:`D(c, c) = -1`, the minimum of the negative cosine;
    - ``"byol"``: :math:`2 - 2\cos(c, c) = 0`, the minimum;
    - ``"vicreg"``: ``var_weight`` :math:`\cdot (1 - \sqrt{10^{-4}})` (the variance hinge; invariance
      and covariance are 0): 0, the minimum, once ``var_weight=0``;
    - ``"barlow"``: D (every standardised dimension is 0, so every :math:`C_{ii} = 0`);
    - ``"simclr"``: :math:`\log(2N - 1)`, chance level, whatever the ``temperature``.

    Computed with ``contrastlab.losses`` on a constant (batch_size, dim) batch. ``options`` are the
    set-up's loss options (``var_weight``, ``cov_weight``, ``sim_weight``, ``lambda_``,
    ``temperature``); the others (``stop_gradient``, ``use_predictor``, ``ema``, ...) do not change
    the value and are ignored.
    """
    method = check.choice("method", method, COLLAPSED_LOSS_METHODS)
    batch_size = check.integer("batch_size", batch_size, 2)
    dim = check.integer("dim", dim, 1)
    c = torch.zeros(batch_size, dim, dtype=torch.float64)  # (N, D)
    c[:, 0] = 1.0  # every row the same unit vector e_1: cosines are exactly 1
    if method == "simsiam":
        return float(L.negative_cosine(c, c))
    if method == "byol":
        return float(2 + 2 * L.negative_cosine(c, c))
    if method == "vicreg":
        weights = {k: options[k] for k in ("sim_weight", "var_weight", "cov_weight") if k in options}
        return float(L.vicreg(c, c, **weights))
    if method == "barlow":
        return float(L.barlow_twins(c, c, **({"lambda_": options["lambda_"]} if "lambda_" in options else {})))
    return float(L.nt_xent(c, c, temperature=options.get("temperature", 0.1)))


# --- ablation tables -----------------------------------------------------------------------------

def ablation_runs(data: ToyData, arms: dict[str, tuple[str, dict]], probe: Tensor, probe_labels: Tensor, *,
                  seeds=(0,), steps: int = 400, batch_size: int = 128, lr: float = 3e-3, n_evals: int = 6,
                  device=None) -> tuple[dict, pd.DataFrame]:
    r"""Train every arm of an ablation on every seed and measure each trained model on one probe batch.

    Args:
        data: the toy to train on (a ``ToyData``).
        arms: {row name: (set-up name, options)}; options go to ``fit`` (e.g. ``stop_gradient=False``)
            and may override ``steps`` and ``lr`` for that arm: ``dict(steps=1, lr=0.0)`` is the
            untrained encoder (``fit`` seeds the initialisation, so its weights are those the trained arms
            start from; only BatchNorm's running statistics see that one batch).
        probe: (P, D_in) fixed inputs (one view) the trained models are measured on; probe_labels: (P,).
        seeds: the seeds; each (arm, seed) is one ``fit`` with that seed.
        steps, batch_size, lr: the optimisation; ``n_evals`` evaluations during training
            (metrics "std", "erank", "knn_projection", for the curves; none for a 1-step arm).
    Returns: ``(runs, table)``: ``runs[name, seed]`` is the ``fit`` History; ``table`` has one row per
        (arm, seed) (index ``arm``, ``seed``) with the final training ``loss``, ``knn`` (leave-one-out
        kNN accuracy of the probe's projections, ``metrics.knn_accuracy``) and every entry of
        ``collapse_report`` of the probe's (P, d) projections.
    """
    from ..train import fit  # the training loop sits above the metrics; imported where it is used

    check.instance("data", data, ToyData, "a ToyData (e.g. data.vmf_mixture())")
    check.instance("arms", arms, dict, "a dict {row name: (set-up name, options)}")
    if not arms:
        raise ValueError("arms: got an empty dict, expected at least one {row name: (set-up name, options)}")
    for name, arm in arms.items():
        if not (isinstance(arm, tuple) and len(arm) == 2 and isinstance(arm[0], str) and isinstance(arm[1], dict)):
            raise ValueError(f"arms[{name!r}]: got {arm!r}, expected a (set-up name, options dict) pair")
    check.embeddings("probe", probe)
    probe_labels = check.labels("probe_labels", probe_labels, len(probe), probe.device)
    seeds = [check.seed("seeds", s) for s in seeds]
    if not seeds:
        raise ValueError("seeds: got none, expected at least one seed")
    n_evals = check.integer("n_evals", n_evals, 1)
    runs, rows = {}, []
    for name, (method, options) in arms.items():
        options = dict(options)
        arm_steps, arm_lr = options.pop("steps", steps), options.pop("lr", lr)
        evals = arm_steps >= 2 * n_evals
        for seed in seeds:
            h = fit(data, method, steps=arm_steps, batch_size=batch_size, lr=arm_lr,
                    eval_every=arm_steps // n_evals if evals else 0, eval_size=min(512, len(data)),
                    metrics=("std", "erank", "knn_projection") if evals else (), seed=seed, progress=False,
                    device=device, **options)
            z = h.method.project(probe)  # (P, d) projections of the fixed probe
            runs[name, seed] = h
            rows.append(dict(arm=name, seed=seed, loss=h.last().get("loss", math.nan),
                             knn=M.knn_accuracy(z, probe_labels.to(z.device)), **collapse_report(z)))
    return runs, pd.DataFrame(rows).set_index(["arm", "seed"])


def log_spectrum(singular_values, *, floor: float = 1e-4) -> np.ndarray:
    r""":math:`\log_{10}\max(\sigma_k/\sigma_1, \text{floor})` for k = 1..K, as a numpy array.

    Args: singular_values (K,) in decreasing order (``metrics.singular_values``), the first > 0;
        floor in (0, 1]: ratios below it are drawn at ``log10(floor)``. Without a floor, one
        numerically-zero value (1e-12) would stretch the axis and squash every other line.
    """
    s = torch.as_tensor(singular_values).detach().double().cpu().flatten()  # (K,)
    if s.numel() == 0 or not torch.isfinite(s).all() or (s < 0).any():
        raise ValueError(f"singular_values: got {s.numel()} values {s[:4].tolist()}..., expected finite values >= 0")
    if not s[0] > 0:
        raise ValueError(f"singular_values: the first (largest) value is {float(s[0])}, expected > 0")
    floor = check.number("floor", floor, low=0.0, high=1.0, low_open=True)
    return np.log10(np.maximum((s / s[0]).numpy(), floor))


# --- encoders with and without a projector -------------------------------------------------------

PROJECTORS = ("none", "linear", "mlp")


def encoder_with_projector(input_dim: int, *, projector: str = "mlp", feature_dim: int = 32,
                           out_dim: int | None = None, hidden: int = 128, seed: int = 0) -> Encoder:
    """The default MLP backbone (``models.build_encoder``) with the projector ``projector``.

    ``"none"``: the loss sees the backbone output (the representation) itself; ``"linear"``: one
    ``nn.Linear(feature_dim, out_dim)``, the projector Jing et al. (2022) analyse; ``"mlp"``: SimCLR's
    Linear-BN-ReLU-Linear head. The backbone is initialised first from ``seed``, so the three arms
    start from the same backbone weights. ``out_dim`` defaults to ``feature_dim``.
    """
    input_dim = check.integer("input_dim", input_dim, 1)
    feature_dim = check.integer("feature_dim", feature_dim, 1)
    hidden = check.integer("hidden", hidden, 1)
    out_dim = feature_dim if out_dim is None else check.integer("out_dim", out_dim, 1)
    projector = check.choice("projector", projector, PROJECTORS)
    seed = check.seed("seed", seed)
    if projector == "none" and out_dim != feature_dim:
        raise ValueError(f"out_dim must equal feature_dim={feature_dim} when projector='none', got {out_dim}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = build_encoder((input_dim,), feature_dim=feature_dim, hidden=hidden, head=False).backbone
        head = {"none": lambda: None, "linear": lambda: nn.Linear(feature_dim, out_dim),
                "mlp": lambda: mlp(feature_dim, hidden, out_dim, n_layers=2, norm="batch")}[projector]()
    return Encoder(backbone, head)


# --- SupCon + SimCLR (Xue et al. 2023) -----------------------------------------------------------



def supcon_simclr(data: ToyData, *, weight: float = 0.5, temperature: float = loss_default(L.supcon, "temperature"), out_dim: int = 32,
                  feature_dim: int = 64, hidden: int = 128, seed: int = 0) -> SupConSimCLR:
    """A ``SupConSimCLR`` with the default encoder for ``data``, initialised from ``seed`` exactly as
    ``fit(data, "simclr", seed=seed)`` initialises its own: pass it to ``fit`` as the method."""
    check.instance("data", data, ToyData, "a ToyData (e.g. data.feature_mix())")
    seed = check.seed("seed", seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = build_encoder(tuple(data.x.shape[1:]), feature_dim=feature_dim, out_dim=out_dim, hidden=hidden)
    return SupConSimCLR(encoder, weight=weight, temperature=temperature)


@torch.no_grad()
def subclass_accuracy(z: Tensor, labels: Tensor, subclass: Tensor, *, seed: int = 0) -> float:
    """Linear-probe accuracy of the subclass among the samples of each class, averaged over classes.

    For each class c, ``metrics.linear_probe_accuracy`` is trained on a seeded half of the samples of
    class c and tested on the other half, with the subclass as the target. Chance is 1 / (number of
    subclasses) when the subclasses are balanced; a class-collapsed embedding scores about chance.
    Classes with fewer than 4 samples or a single subclass are skipped.
    Args: z (N, D) embeddings; labels (N,) classes; subclass (N,) subclass ids (any integers).
    """
    check.embeddings("z", z)
    labels = check.labels("labels", labels, len(z), z.device)
    subclass = check.labels("subclass", subclass, len(z), z.device)
    scores = []
    for c in torch.unique(labels):
        members = labels == c
        if int(members.sum()) < 4 or len(torch.unique(subclass[members])) < 2:
            continue
        scores.append(M.linear_probe_accuracy(z[members], subclass[members], seed=seed))
    if not scores:
        raise ValueError("subclass_accuracy needs a class with at least 4 samples and 2 subclasses; "
                         "got none in labels / subclass")
    return float(np.mean(scores))


@torch.no_grad()
def variance_share(z: Tensor, factor: Tensor, *, within: Tensor | None = None) -> float:
    r"""The share of the spread of the unit embeddings that ``factor`` explains (a between / total ratio).

    .. math:: S = \frac{\sum_g n_g \lVert \bar u_g - \bar u\rVert^2}{\sum_i \lVert u_i - \bar u\rVert^2},
              \qquad u_i = z_i / \lVert z_i\rVert

    where g runs over the values of ``factor``. 1: the embedding is a function of the factor (every
    group a single point); 0: the group means coincide (the factor is invisible). With ``within``
    (e.g. the class labels) both sums are taken inside each group of ``within`` (around the group's
    own mean) and pooled over the groups: ``variance_share(z, subclass, within=labels)`` is the
    subclass share of the within-class spread, which falls to 0 under class collapse.
    Args: z (N, D); factor (N,) and within (N,) integer ids.
    """
    check.embeddings("z", z)
    factor = check.labels("factor", factor, len(z), z.device)
    if within is None:
        within = torch.zeros_like(factor)
    within = check.labels("within", within, len(z), z.device)
    u = F.normalize(z.double(), dim=1)  # (N, D)
    between_sum, total_sum = 0.0, 0.0
    for c in torch.unique(within):
        members = within == c
        uc, fc = u[members], factor[members]  # (n_c, D), (n_c,)
        centred = uc - uc.mean(0)
        total = float(centred.pow(2).sum())
        if total <= 1e-24:
            continue
        _, inverse, counts = torch.unique(fc, return_inverse=True, return_counts=True)
        sums = torch.zeros(len(counts), u.shape[1], dtype=u.dtype, device=u.device).index_add_(0, inverse, centred)
        between = float((sums.pow(2).sum(1) / counts).sum())  # sum_g n_g |mean_g - mean|^2
        between_sum, total_sum = between_sum + between, total_sum + total
    if total_sum == 0.0:
        raise ValueError("variance_share needs embeddings with some spread; every group of within is a single point")
    return between_sum / total_sum
