r"""Two towers (CLIP-style): the modality gap, locked towers, swapped negatives.

Helpers for lesson 09, on top of ``losses.clip_loss`` and the ``clip`` set-up in ``methods``:

- ``tower``, ``tower_pair``: plain MLP towers (no BatchNorm, so a locked tower is a fixed function);
- ``modality_gap``, ``gap_vector``, ``shift_embeddings``: the gap of Liang et al. (2022),
  :math:`\Delta = \lVert \tfrac1N\sum_i \hat a_i - \tfrac1M\sum_j \hat b_j \rVert`, and their
  embedding-shift probe of the loss landscape;
- ``procrustes``, ``rotate_output``, ``amend_gap``: their "amended" initialisation, which rotates one
  tower's output so that the two cones coincide before training;
- ``clip_method``: the ``clip`` set-up on two given towers, with a fixed or a learned temperature
  (its own learning rate, ``scale_lr``), a locked tower a, or swapped hard negatives;
- ``NuisancePairs``, ``add_nuisance``, ``NoisyModality``, ``modality_views``: a modality a with
  irrelevant variation, and one modality on its own with views that redraw it, to pretrain a tower
  without pairs (the "good tower" that LiT locks);
- ``class_prompts``, ``zero_shot_accuracy``: zero-shot classification through the other tower;
- ``CompositionalPairs``, ``compositional_pairs``, ``swap_attributes``: "images" of two objects with
  attributes and "captions" that bind them (``drop_swap_partners``, ``swap_partner_rate``: how often
  a batch holds a caption's swap); ``clip_loss_with_negatives`` and ``NegCLIP`` add the
  attribute-swapped captions as hard negatives (Yuksekgonul et al. 2023); ``binding_accuracy`` is the
  two-way test (true caption against its swap).

Dependencies point one way: this module uses ``losses``, ``models``, ``methods`` and ``data.base``;
nothing here plots or trains.

References: Radford et al. 2021 (CLIP, arXiv:2103.00020); Liang et al. 2022 ("Mind the Gap",
arXiv:2203.02053); Zhai et al. 2022 (LiT, arXiv:2111.07991); Yuksekgonul et al. 2023 ("When and why
vision-language models behave like bags-of-words", arXiv:2210.01936).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.base import ToyData, per_sample, rng, tensor
from ..data.paired import PairedModalities
from .. import validation as check
from ..losses.core import compute_dtype, l2_normalize, positive_nll
from ..methods import CLIP, NegCLIP
from ..metrics import gap_vector, modality_gap
from ..models import Encoder, mlp

__all__ = [
    "tower", "tower_pair", "shift_embeddings", "procrustes", "rotate_output", "amend_gap", "clip_method",
    "NuisancePairs", "add_nuisance", "NoisyModality", "modality_views", "class_prompts", "zero_shot_accuracy",
    "binding_accuracy",
]


# ------------------------------------------------------------------------------------------ towers

def tower(in_dim: int, *, out_dim: int = 32, hidden: int = 64, depth: int = 3, norm: str | None = None,
          seed: int | None = None, device: torch.device | str | None = None) -> Encoder:
    """An MLP tower ``in_dim -> hidden -> ... -> out_dim`` with ``depth`` linear layers and ReLU.

    No BatchNorm by default (``norm=None``): its output then depends on the input alone, so a frozen
    tower is a fixed function (a frozen BatchNorm tower in train mode still moves with each batch).
    ``seed`` fixes the initialisation (PyTorch's default) without touching the global random state.
    Returns: an ``Encoder`` on ``device`` (default CPU) whose ``features`` and ``forward`` are the same MLP.
    """
    in_dim, out_dim, hidden = (check.integer(k, v, 1) for k, v in (("in_dim", in_dim), ("out_dim", out_dim),
                                                                     ("hidden", hidden)))
    depth = check.integer("depth", depth, 1)
    seed = None if seed is None else check.seed("seed", seed)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        encoder = Encoder(mlp(in_dim, hidden, out_dim, n_layers=depth, norm=norm))
    return encoder.to(device) if device is not None else encoder


def tower_pair(data: ToyData, *, seed: int = 0, **options) -> tuple[Encoder, Encoder]:
    """Two towers for paired data (``data.x`` is modality a, ``data.b`` modality b), seeded apart,
    on the data's device. ``options`` go to ``tower`` (``out_dim``, ``hidden``, ``depth``, ``norm``)."""
    if not isinstance(data, PairedModalities):
        raise TypeError(f"data must be paired (a PairedModalities, e.g. data.paired_modalities), "
                        f"got {type(data).__name__}")
    seed = check.seed("seed", seed)
    options.setdefault("device", data.device)
    return (tower(data.x.shape[1], seed=2 * seed, **options),
            tower(data.b.shape[1], seed=2 * seed + 1, **options))


# ------------------------------------------------------------------------------------ modality gap





@torch.no_grad()
def shift_embeddings(a: Tensor, b: Tensor, fraction: float) -> tuple[Tensor, Tensor]:
    r"""Liang et al.'s embedding shift: move both modalities towards each other along the gap, renormalise.

    .. math:: \hat a_i' = \mathrm{normalise}\big(\hat a_i - \tfrac{\lambda}{2}\vec\Delta\big),\qquad
              \hat b_j' = \mathrm{normalise}\big(\hat b_j + \tfrac{\lambda}{2}\vec\Delta\big)

    with :math:`\vec\Delta` = ``gap_vector(a, b)`` and :math:`\lambda` = ``fraction``: 0 leaves the
    embeddings as they are, 1 makes the two means coincide before renormalising (the gap then
    nearly closes), a negative fraction widens the gap.
    Returns: (a', b'), unit rows of the shapes of a and b.
    """
    fraction = float(check.real_number("fraction", fraction))
    delta = gap_vector(a, b)
    dtype = delta.dtype
    return (l2_normalize(l2_normalize(a, dtype) - fraction / 2 * delta),
            l2_normalize(l2_normalize(b, dtype) + fraction / 2 * delta))


@torch.no_grad()
def procrustes(source: Tensor, target: Tensor) -> Tensor:
    r"""The rotation R (D, D), orthogonal, that minimises :math:`\lVert \hat S R - \hat T\rVert_F` (Schönemann 1966).

    With :math:`\hat S^\top \hat T = U\Sigma V^\top`, :math:`R = UV^\top`. Rows are L2-normalised first,
    since only directions matter on the sphere. Liang et al. (2022) use it to amend the gap at
    initialisation: rotate one tower's embeddings onto the other's.
    Args: source, target (N, D) paired embeddings. Returns: (D, D) in float32 or wider.
    """
    check.embeddings("source", source)
    check.embeddings("target", target)
    check.same_shape("source", source, "target", target)
    dtype = torch.promote_types(compute_dtype(source, target), torch.float64)
    u, _, vh = torch.linalg.svd(l2_normalize(source, dtype).T @ l2_normalize(target, dtype))
    return (u @ vh).to(compute_dtype(source, target))


@torch.no_grad()
def rotate_output(module: nn.Module, rotation: Tensor) -> None:
    r"""Make ``module`` output :math:`y R` instead of :math:`y`, in place, by rotating its last ``nn.Linear``.

    :math:`y = Wh + c` becomes :math:`R^\top(Wh + c)`: weight :math:`R^\top W`, bias :math:`R^\top c`.
    An orthogonal R commutes with L2 normalisation, so the cosine geometry inside the modality is kept.
    """
    check.instance("module", module, nn.Module, "a torch.nn.Module")
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("module has no nn.Linear layer to rotate")
    last = linears[-1]
    d = last.out_features
    if check.tensor("rotation", rotation, dims=f"({d}, {d})").shape != (d, d):
        raise ValueError(f"rotation must be a ({d}, {d}) tensor (the last layer has {d} outputs), "
                         f"got {rotation.shape}")
    eye = torch.eye(d, dtype=torch.float64)
    r = rotation.detach().to("cpu", torch.float64)
    if not torch.allclose(r.T @ r, eye, atol=1e-4):
        raise ValueError("rotation must be orthogonal (R^T R = I), e.g. the output of procrustes")
    rt = r.T.to(device=last.weight.device, dtype=last.weight.dtype)
    last.weight.copy_(rt @ last.weight)
    if last.bias is not None:
        last.bias.copy_(rt @ last.bias)


@torch.no_grad()
def amend_gap(tower_a: nn.Module, tower_b: nn.Module, a: Tensor, b: Tensor) -> tuple[float, float]:
    """Rotate ``tower_b``'s output so its embeddings of ``b`` line up with ``tower_a``'s of the paired ``a``.

    Liang et al.'s (2022) amended initialisation: the gap left by the cone effect is (almost) removed
    before training starts. Modifies ``tower_b`` in place (its training mode is kept).
    Returns: (gap before, gap after) on these inputs.
    """
    modes = tower_a.training, tower_b.training
    tower_a.eval()
    tower_b.eval()
    za, zb = tower_a(a), tower_b(b)  # (N, D) each
    before = modality_gap(za, zb)
    rotate_output(tower_b, procrustes(zb, za))
    after = modality_gap(za, tower_b(b))
    tower_a.train(modes[0])
    tower_b.train(modes[1])
    return before, after


# ------------------------------------------------------------------------------- the clip set-up

def clip_method(tower_a: nn.Module, tower_b: nn.Module, *, temperature: float | None = None,
                init_temperature: float = 0.07, scale_lr: float = 1.0, lock_a: bool = False,
                negatives: Callable[[Tensor], Tensor] | None = None) -> CLIP:
    """The ``clip`` set-up of ``methods`` on two given towers, ready for ``fit(data, method)``.

    Args:
        tower_a, tower_b: the towers of modality a (``data.x``) and b (``data.b``).
        temperature: a fixed τ (logit scale 1/τ); None learns the scale (``LearnableLogitScale``,
            capped at 100), starting at 1 / ``init_temperature``.
        scale_lr: the learned scale's learning rate as a multiple of the towers' (``CLIP``'s
            ``scale_lr``; the scale also gets no weight decay). Under Adam, ``log t`` moves by about
            lr a step, so at lr = 1e-3 τ hardly changes in a few hundred steps unless this is 10-100.
        lock_a: freeze tower a (LiT); it stays in eval mode.
        negatives: a function of tower b's input batch giving hard-negative inputs for tower b (such
            as ``swap_attributes``); with it the set-up is ``NegCLIP``.
    """
    if temperature is not None:
        temperature = float(check.positive_number("temperature", temperature))
    init_temperature = float(check.positive_number("init_temperature", init_temperature))
    options = dict(encoder_b=tower_b, logit_scale=None if temperature is None else 1 / temperature,
                   init_scale=1 / init_temperature, scale_lr=scale_lr, lock_a=lock_a)
    return CLIP(tower_a, **options) if negatives is None else NegCLIP(tower_a, negatives=negatives, **options)


# ------------------------------------------------------------------------- one modality, for LiT

@dataclass(kw_only=True)
class NuisancePairs(PairedModalities):
    r"""Paired modalities whose modality a also carries per-sample nuisance ("background", "lighting").

    :math:`x_i = [s_i,\ \nu_i]\,Q`: the clean signal :math:`s_i` (the a-input of ``paired_modalities``)
    and a nuisance :math:`\nu_i \sim \mathcal N(0, \sigma^2 I_K)` that says nothing about modality b,
    mixed by a fixed random rotation Q so that no input coordinate is pure signal.
    """

    signal: Tensor = per_sample()
    mix: Tensor
    nuisance_scale: float


def add_nuisance(pairs: PairedModalities, n_nuisance: int = 64, *, scale: float = 1.0,
                 seed: int = 0) -> NuisancePairs:
    """``pairs`` with ``n_nuisance`` nuisance dimensions of standard deviation ``scale`` mixed into modality a.

    A tower trained from scratch on a few pairs can then memorise them through the nuisance; one
    pretrained with views that redraw the nuisance (``modality_views``) learns to ignore it.
    Returns: ``NuisancePairs`` with x of shape (n, dim_a + n_nuisance); b, labels and latents unchanged.
    """
    if not isinstance(pairs, PairedModalities):
        raise TypeError(f"pairs must be a PairedModalities (data.paired_modalities), got {type(pairs).__name__}")
    n_nuisance = check.integer("n_nuisance", n_nuisance, 1)
    scale = check.number("scale", scale, low=0.0)
    g = rng(seed)
    width = pairs.x.shape[1] + n_nuisance
    q, _ = np.linalg.qr(g.standard_normal((width, width)))  # (width, width) orthogonal
    nuisance = scale * g.standard_normal((len(pairs), n_nuisance))
    mix = tensor(q, pairs.device)
    x = torch.cat([pairs.x, tensor(nuisance, pairs.device)], 1) @ mix  # (n, width)
    fields = {f: getattr(pairs, f) for f in ("b", "labels", "latents", "noise_a", "noise_b")}
    return NuisancePairs(x=x, signal=pairs.x, mix=mix, nuisance_scale=scale,
                         knobs={**pairs.knobs, "n_nuisance": n_nuisance, "nuisance_scale": scale}, **fields)


@dataclass(kw_only=True)
class NoisyModality(ToyData):
    r"""One modality of a paired set as a single-modality toy whose views add Gaussian noise ``noise``.

    With ``mix`` set (from ``NuisancePairs``), a view is :math:`[s_i + \text{noise}\cdot\varepsilon,\ \nu']\,Q`:
    the signal plus noise, and a freshly drawn nuisance :math:`\nu' \sim \mathcal N(0, \sigma^2 I)`,
    an augmentation that changes everything but the content.
    """

    noise: float
    signal: Tensor | None = per_sample(default=None)
    mix: Tensor | None = None
    nuisance_scale: float = 0.0

    def _view(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        if self.mix is None:
            x = self.x[idx]
            return x + self.noise * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        s = self.signal[idx]  # (B, dim_a)
        s = s + self.noise * torch.randn(s.shape, generator=generator, device=s.device, dtype=s.dtype)
        nu = self.nuisance_scale * torch.randn(len(idx), self.mix.shape[0] - s.shape[1], generator=generator,
                                               device=s.device, dtype=s.dtype)
        return torch.cat([s, nu], 1) @ self.mix  # (B, dim_a + K)


def modality_views(data: PairedModalities, which: str = "a", *, noise: float | None = None) -> NoisyModality:
    """Modality ``which`` ("a": ``data.x``, "b": ``data.b``) of a paired set, for single-tower training
    (``fit(modality_views(pairs), "simclr", encoder=tower)``): views add Gaussian noise ``noise``
    (default: the modality's own noise level) and, for ``NuisancePairs`` modality a, redraw the nuisance."""
    if not isinstance(data, PairedModalities):
        raise TypeError(f"data must be a PairedModalities (data.paired_modalities), got {type(data).__name__}")
    which = check.choice("which", which, ("a", "b"))
    noise = (data.noise_a if which == "a" else data.noise_b) if noise is None else check.number("noise", noise, low=0.0)
    knobs = {**data.knobs, "modality": which, "view_noise": noise}
    if which == "b":
        return NoisyModality(x=data.b, labels=data.labels, latents=data.latents, noise=noise, knobs=knobs)
    if isinstance(data, NuisancePairs):
        return NoisyModality(x=data.x, labels=data.labels, latents=data.latents, noise=noise, signal=data.signal,
                             mix=data.mix, nuisance_scale=data.nuisance_scale, knobs=knobs)
    return NoisyModality(x=data.x, labels=data.labels, latents=data.latents, noise=noise, knobs=knobs)


@torch.no_grad()
def class_prompts(tower_b: nn.Module, b: Tensor, labels: Tensor, n_classes: int | None = None) -> Tensor:
    """One "prompt" per class for zero-shot classification: tower b's embedding of the class's mean b-input.

    Returns: (C, D) with row c the prompt of class c (C = ``n_classes``, default ``labels.max() + 1``);
    every class needs at least one sample.
    """
    check.embeddings("b", b)
    labels = check.labels("labels", labels, len(b), b.device)
    n_classes = int(labels.max()) + 1 if n_classes is None else check.integer("n_classes", n_classes, 1)
    counts = torch.bincount(labels, minlength=n_classes)[:n_classes]
    if bool((counts == 0).any()):
        missing = (counts == 0).nonzero().flatten().tolist()
        raise ValueError(f"labels must contain every class 0..{n_classes - 1}; missing {missing}")
    means = torch.zeros(n_classes, b.shape[1], dtype=b.dtype, device=b.device).index_add_(0, labels, b)
    was_training = tower_b.training
    tower_b.eval()
    prompts = tower_b(means / counts[:, None].to(b.dtype))
    tower_b.train(was_training)
    return prompts


@torch.no_grad()
def zero_shot_accuracy(queries: Tensor, labels: Tensor, prompts: Tensor) -> float:
    """Accuracy of classifying each query by its most similar class prompt (cosine), CLIP's zero-shot rule.

    Args: queries (N, D) tower-a embeddings, labels (N,) in [0, C), prompts (C, D) tower-b embeddings.
    """
    check.embeddings("queries", queries)
    check.embeddings("prompts", prompts)
    labels = check.labels("labels", labels, len(queries), queries.device)
    if prompts.shape[1] != queries.shape[1]:
        raise ValueError(f"prompts must have the queries' dimension {queries.shape[1]}, got {tuple(prompts.shape)}")
    if int(labels.max()) >= len(prompts) or int(labels.min()) < 0:
        raise ValueError(f"labels must lie in [0, {len(prompts) - 1}] (one prompt per class), got "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    predicted = (l2_normalize(queries) @ l2_normalize(prompts).T).argmax(1)
    return float((predicted == labels).float().mean())


# --------------------------------------------------------------- compositional pairs (NegCLIP)



















@torch.no_grad()
def binding_accuracy(images: Tensor, captions: Tensor, swapped: Tensor) -> float:
    """Fraction of images more similar to their own caption than to its attribute-swapped version.

    A two-way choice: chance is 0.5; a tie counts against (a bag-of-words model scores 0).
    Args: images, captions, swapped: (N, D) embeddings, row i of each about sample i.
    """
    check.embeddings("images", images)
    check.embeddings("captions", captions)
    check.embeddings("swapped", swapped)
    check.same_shape("images", images, "captions", captions)
    check.same_shape("images", images, "swapped", swapped)
    u, p, q = l2_normalize(images), l2_normalize(captions), l2_normalize(swapped)
    return float(((u * p).sum(1) > (u * q).sum(1)).float().mean())
