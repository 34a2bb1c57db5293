r"""Views and augmentations on real image patches: the pieces of the views lesson (SimCLR Fig. 5, Table 1).

A *view* is an augmented copy of an image; SimCLR's positive pair is two views of one image, so the
representation learns to ignore whatever the augmentations change. This module holds what the
lesson needs around ``contrastlab.augment`` and ``contrastlab.data.image_patches``:

- ``patch_set``: patches cut at ``factor`` times the network's resolution (so that a crop takes real
  detail, as SimCLR crops a full-size photograph before resizing it to 224 px), average-pooled to
  ``size`` pixels for the network, with a seeded per-patch **colour cast** (random brightness,
  contrast, saturation and hue), so that colour varies within a class as lighting does across
  photographs, and a seeded train/test split;
- ``make_views``: a batch of views: the crop at full resolution, then pooled, then the other ops at
  the network's resolution; ``color_strength`` sets the colour distortion apart from the rest
  (SimCLR Table 1 varies only that);
- ``tiny_cnn``: a seeded 3-layer CNN (about 14k parameters) with SimCLR's projection head;
- ``train_views``: SimCLR (NT-Xent on two views) or supervised cross-entropy on the same views;
- ``probe_accuracy``: linear-probe accuracy of frozen features on the held-out patches;
- ``augmentation_grid``: SimCLR trained on every single op and every pair of ops (Fig. 5).

Dependencies point one way: torch, ``augment``, ``data``, ``losses``, ``metrics``; nothing of plotting.
References: Chen et al. 2020 (SimCLR), Sec. 3, Fig. 5-6, Table 1.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import augment as A
from .. import data as D
from .. import losses as L
from .. import metrics as M
from .. import validation as check

__all__ = ["PatchSet", "patch_set", "color_cast", "make_views", "tiny_cnn", "train_views", "probe_accuracy",
           "features", "augmentation_grid", "pair_matrix", "single_best", "pixel_probe_accuracy"]


@dataclass(frozen=True)
class PatchSet:
    """Image patches at two resolutions with a train/test split.

    Attributes:
        hires: (N, 3, factor S, factor S) in [0, 1], what a crop cuts from.
        x: (N, 3, S, S) in [0, 1], ``avg_pool2d(hires, factor)``: the network's input for a view
            without a crop, and the clean input of the linear probe.
        labels: (N,) long, the region (``data.REGIONS``) each patch comes from.
        train, test: (N_train,), (N_test,) long indices, disjoint, covering 0..N-1.
        factor: int, the pooling factor.
    """

    hires: Tensor
    x: Tensor
    labels: Tensor
    train: Tensor
    test: Tensor
    factor: int

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1


def color_cast(images: Tensor, *, strength: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """A per-image random colour cast: ``augment.color_jitter`` with brightness, contrast and saturation
    0.4 s and hue 0.5 s (every hue), applied to every image (p = 1). (B, 3, H, W) -> same, in [0, 1]."""
    s = check.probability("strength", strength)
    return A.color_jitter(images, brightness=0.4 * s, contrast=0.4 * s, saturation=0.4 * s, hue=0.5 * s, p=1.0,
                          generator=generator)


def patch_set(*, n_classes: int = 5, patches_per_class: int = 100, size: int = 16, factor: int = 3,
              cast: float = 1.0, zoom: float = 0.0, test_fraction: float = 0.5, seed: int = 0) -> PatchSet:
    """Patches of ``data.image_patches`` (``size * factor`` pixels, no views) with a colour cast of
    strength ``cast`` (``color_cast``, seeded by ``seed``), pooled to ``size`` pixels; a seeded split.

    Args:
        n_classes: 1..5 regions.  patches_per_class: >= 2.  size: S >= 4 pixels.
        factor: >= 1, so that S * factor is at most ``data.images.MAX_PATCH``.
        cast: colour-cast strength in [0, 1] (0: the photographs' own colours).
        test_fraction: in (0, 1), the held-out share.  seed: patches, cast and split.
    Returns: a ``PatchSet`` on the CPU.
    """
    size, factor = check.integer("size", size, 4), check.integer("factor", factor, 1)
    cast, seed = check.probability("cast", cast), check.seed("seed", seed)
    zoom = check.probability("zoom", zoom)
    test_fraction = check.probability("test_fraction", test_fraction, low_open=True, high_open=True)
    patches = D.image_patches(n_classes=n_classes, patches_per_class=patches_per_class, patch_size=size * factor,
                              ops=(), seed=seed)
    hires = patches.x  # (N, 3, S f, S f)
    if cast > 0:
        hires = color_cast(hires, strength=cast, generator=torch.Generator().manual_seed(seed + 10_000))
    if zoom > 0:  # each patch shows its region at its own scale: a square crop of area share in [1 - 0.75 zoom, 1]
        hires = A.random_resized_crop(hires, scale=(1 - 0.75 * zoom, 1.0), ratio=(1.0, 1.0),
                                      generator=torch.Generator().manual_seed(seed + 20_000))
    x = F.avg_pool2d(hires, factor)  # (N, 3, S, S)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = min(len(x) - 2, max(2, round(test_fraction * len(x))))
    return PatchSet(hires=hires, x=x, labels=patches.labels, train=order[n_test:].sort().values,
                    test=order[:n_test].sort().values, factor=factor)


def make_views(data: PatchSet, idx: Tensor, ops=A.OPS, *, strength: float = 1.0, color_strength: float | None = None,
               generator: torch.Generator | None = None) -> Tensor:
    """One random view of each patch ``idx``: (B, 3, S, S).

    The crop (if in ``ops``) is ``augment.random_resized_crop`` on the full-resolution patch, then
    average-pooled by ``data.factor``; without it the view starts from ``data.x``. The other ops follow
    at S pixels, in SimCLR's order, at ``strength``; the colour jitter at ``color_strength`` (default:
    ``strength``).
    """
    check.instance("data", data, PatchSet, "a PatchSet (views.patch_set)")
    idx = check.indices("idx", idx, len(data.x))
    names = A.op_names(ops)
    strength = check.probability("strength", strength)
    color_strength = strength if color_strength is None else check.probability("color_strength", color_strength)
    check.instance("generator", generator, torch.Generator, "a torch.Generator", optional=True)
    generator = generator or torch.Generator().manual_seed(0)
    if "crop" in names:
        x = A.recipe(["crop"], strength=strength)(data.hires[idx], generator=generator)  # (B, 3, S f, S f)
        x = F.avg_pool2d(x, data.factor)  # (B, 3, S, S)
    else:
        x = data.x[idx]
    for name in names:
        if name != "crop":
            x = A.recipe([name], strength=color_strength if name == "color" else strength)(x, generator=generator)
    return x


def tiny_cnn(*, width: int = 16, out_dim: int = 32, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """A seeded (backbone, projection head) for (B, 3, S, S) patches, S divisible by 4.

    backbone: conv3x3(3->w) BN ReLU maxpool, conv3x3(w->2w) BN ReLU maxpool, conv3x3(2w->2w) BN ReLU,
    global average pool -> (B, 2w) features. head: Linear(2w, 64) ReLU Linear(64, out_dim).
    About 4x cheaper per step than ``models.SmallCNN`` at S = 16 (its second conv runs at full size).
    """
    w, out_dim = check.integer("width", width, 1), check.integer("out_dim", out_dim, 1)
    seed = check.seed("seed", seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, S/2, S/2)
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),  # (B, 2w, S/4, S/4)
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 2w)
        head = nn.Sequential(nn.Linear(2 * w, 64), nn.ReLU(), nn.Linear(64, out_dim))
    return backbone, head


def train_views(data: PatchSet, ops=A.OPS, *, method: str = "simclr", strength: float = 1.0,
                color_strength: float | None = None, steps: int = 80, batch_size: int = 64, lr: float = 3e-3,
                temperature: float = 0.2, width: int = 16, seed: int = 0) -> nn.Module:
    r"""Train ``tiny_cnn`` on two views of each patch of a batch (``make_views``) and return the backbone.

    ``method="simclr"``: NT-Xent on the head's outputs, :math:`\tau` = ``temperature`` (no labels).
    ``method="supervised"``: cross-entropy of a linear classifier on the backbone features, on both views.
    Adam, batches drawn with replacement from ``data.train``; ``seed`` sets the weights, batches and views.
    Returns: the backbone in eval mode (B, 3, S, S) -> (B, 2 width).
    """
    method = check.choice("method", method, ("simclr", "supervised"))
    steps, batch_size = check.integer("steps", steps, 1), check.integer("batch_size", batch_size, 2)
    lr, seed = float(check.positive_number("lr", lr)), check.seed("seed", seed)
    temperature = float(check.positive_number("temperature", temperature))
    backbone, head = tiny_cnn(width=width, seed=seed)
    if method == "supervised":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            head = nn.Linear(2 * width, data.n_classes)
    optimizer = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    with torch.enable_grad():
        for _ in range(steps):
            idx = data.train[torch.randint(len(data.train), (batch_size,), generator=generator)]  # (B,)
            views = torch.cat([make_views(data, idx, ops, strength=strength, color_strength=color_strength,
                                          generator=generator) for _ in range(2)])  # (2B, 3, S, S)
            out = head(backbone(views))  # (2B, out_dim) or (2B, K)
            if method == "simclr":
                loss = L.nt_xent(out[:batch_size], out[batch_size:], temperature=temperature)
            else:
                loss = F.cross_entropy(out, data.labels[idx].repeat(2))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return backbone.eval()


@torch.no_grad()
def features(backbone: nn.Module, data: PatchSet) -> Tensor:
    """(N, F) frozen features of the clean patches ``data.x`` (the backbone in eval mode)."""
    was = backbone.training
    backbone.eval()
    out = backbone(data.x)
    backbone.train(was)
    return out


def probe_accuracy(backbone: nn.Module, data: PatchSet) -> float:
    """Held-out accuracy of a linear probe (``metrics.linear_probe_accuracy``) on the frozen features of
    the clean patches: trained on ``data.train``, tested on ``data.test``."""
    f = features(backbone, data)
    return M.linear_probe_accuracy(f[data.train], data.labels[data.train], f[data.test], data.labels[data.test])


def pixel_probe_accuracy(data: PatchSet) -> float:
    """The same linear probe on the raw pixels of the clean patches (3 S^2 inputs): the baseline without a network."""
    x = data.x.flatten(1)
    return M.linear_probe_accuracy(x[data.train], data.labels[data.train], x[data.test], data.labels[data.test])


def augmentation_grid(data: PatchSet, ops, seeds, **train_options) -> dict[tuple[str, str], list[float]]:
    """SimCLR trained with each single op and each pair of ops (SimCLR Fig. 5), probe accuracy per seed.

    Returns: {(a, b): [accuracy per seed]} for every a <= b in the order of ``ops`` (a == b: the single op;
    a pair applies both, in SimCLR's order). ``train_options`` go to ``train_views``.
    """
    names = A.op_names(ops)
    if len(names) < 2:
        raise ValueError(f"ops must name at least 2 different ops, got {ops!r}")
    seeds = [check.seed("seeds", s) for s in seeds]
    return {(a, b): [probe_accuracy(train_views(data, sorted({a, b}), seed=s, **train_options), data) for s in seeds]
            for a, b in itertools.combinations_with_replacement(names, 2)}


def pair_matrix(grid: dict[tuple[str, str], list[float]], ops) -> np.ndarray:
    """(K, K, S) accuracies of ``augmentation_grid``'s result, symmetric (cell [i, j] = cell [j, i])."""
    names = A.op_names(ops)
    out = np.full((len(names), len(names), len(next(iter(grid.values())))), np.nan)
    for (a, b), values in grid.items():
        i, j = names.index(a), names.index(b)
        out[i, j] = out[j, i] = values
    return out


def single_best(grid: dict[tuple[str, str], list[float]]) -> np.ndarray:
    """(S,) per seed, the best accuracy of any single op (the grid's diagonal)."""
    return np.max([v for (a, b), v in grid.items() if a == b], axis=0)
