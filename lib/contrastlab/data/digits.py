"""scikit-learn's bundled 8x8 handwritten digits with image augmentations whose strength is one knob."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import validation as check
from .base import ToyData, tensor

AUGMENTATIONS = ("crop", "rotate", "noise", "blur", "cutout")


@dataclass(kw_only=True)
class Digits(ToyData):
    """x (N, 1, 8, 8) in [0, 1]; a view applies the chosen augmentations at ``strength``."""

    strength: float
    augmentations: tuple[str, ...]

    def _view(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        return augment_digits(self.x[idx], strength=self.strength, augmentations=self.augmentations,
                              generator=generator)


def _uniform(shape, low, high, generator, device):
    return low + (high - low) * torch.rand(shape, generator=generator, device=device)


def _augmentations(augmentations: object) -> tuple[str, ...]:
    """A tuple of names from ``AUGMENTATIONS`` (a single name is a one-element tuple; repeats are
    dropped). Each unknown name is refused with the closest known one ("shift" is part of "crop")."""
    if isinstance(augmentations, str):
        augmentations = (augmentations,)
    if not isinstance(augmentations, (tuple, list)) or not all(isinstance(a, str) for a in augmentations):
        raise TypeError(f"augmentations must be a name or a tuple of names from {AUGMENTATIONS}, "
                        f"got {type(augmentations).__name__} {augmentations!r}")
    for name in augmentations:
        if name in ("shift", "zoom", "translate", "scale"):
            raise ValueError(f"augmentations must be drawn from {AUGMENTATIONS}, got {name!r} "
                             f"(shifts and zooms are part of 'crop')")
        check.choice("augmentations", name, AUGMENTATIONS)
    if not augmentations:
        raise ValueError(f"augmentations must name at least one of {AUGMENTATIONS}, got an empty "
                         f"{type(augmentations).__name__} (for views without augmentation use strength=0)")
    return tuple(dict.fromkeys(augmentations))


def augment_digits(images: Tensor, *, strength: float = 0.5, augmentations: tuple[str, ...] = AUGMENTATIONS,
                   generator: torch.Generator | None = None) -> Tensor:
    """Random augmentations of a batch of (B, 1, 8, 8) images, each drawn independently per image.

    At strength s in [0, 1]: ``crop`` zooms in by up to 1 + 0.3 s and shifts by up to 2 s pixels;
    ``rotate`` turns by up to ±30 s degrees; ``blur`` mixes in a 3x3 Gaussian blur with weight up to s;
    ``cutout`` blanks a 3x3 square with probability s; ``noise`` adds Gaussian noise of std 0.2 s.
    s = 0 returns the images unchanged. Geometry uses one affine resampling per image.
    """
    s = check.probability("strength", strength)
    augmentations = _augmentations(augmentations)
    check.tensor("images", images, dtype="floating", dims="(B, 1, 8, 8)")
    if images.ndim != 4 or images.shape[1:] != (1, 8, 8):
        raise ValueError(f"images must have shape (B, 1, 8, 8), got {tuple(images.shape)}")
    check.instance("generator", generator, torch.Generator, "a torch.Generator", optional=True)
    x, b, dev = images, len(images), images.device
    generator = generator or torch.Generator(device=dev).manual_seed(0)
    if s == 0 or b == 0:
        return x.clone()
    if "crop" in augmentations or "rotate" in augmentations:
        angle = _uniform(b, -1, 1, generator, dev) * math.radians(30) * s * ("rotate" in augmentations)
        zoom = 1 / (1 + _uniform(b, 0, 0.3 * s, generator, dev) * ("crop" in augmentations))
        shift = _uniform((b, 2), -1, 1, generator, dev) * (2 * s / 4) * ("crop" in augmentations)  # 4 px = 1 unit
        cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                             torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(x.dtype)  # (B, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    if "blur" in augmentations:
        kernel = torch.tensor([1.0, 2.0, 1.0], device=dev, dtype=x.dtype)
        kernel = (kernel[:, None] * kernel[None, :] / 16).view(1, 1, 3, 3)
        weight = _uniform((b, 1, 1, 1), 0, s, generator, dev).to(x.dtype)
        x = (1 - weight) * x + weight * F.conv2d(x, kernel, padding=1)
    if "cutout" in augmentations:
        apply = torch.rand(b, generator=generator, device=dev) < s
        corner = torch.randint(0, 6, (b, 2), generator=generator, device=dev)  # top-left of a 3x3 square
        rows = torch.arange(8, device=dev)
        inside_r = (rows[None, :] >= corner[:, :1]) & (rows[None, :] < corner[:, :1] + 3)  # (B, 8)
        inside_c = (rows[None, :] >= corner[:, 1:]) & (rows[None, :] < corner[:, 1:] + 3)  # (B, 8)
        mask = (inside_r[:, :, None] & inside_c[:, None, :] & apply[:, None, None])[:, None]  # (B, 1, 8, 8)
        x = x.masked_fill(mask, 0.0)
    if "noise" in augmentations:
        x = x + 0.2 * s * torch.randn(x.shape, generator=generator, device=dev, dtype=x.dtype)
    return x


def digits(*, strength: float = 0.5, augmentations: tuple[str, ...] = AUGMENTATIONS, n: int | None = None,
           imbalance: float = 1.0, seed: int = 0, device: torch.device | str = "cpu") -> Digits:
    """The 1797 8x8 digits bundled with scikit-learn (no download), scaled to [0, 1].

    ``strength`` in [0, 1] sets how hard the augmentations are (see ``augment_digits``).
    ``imbalance`` >= 1 gives a geometric long tail: digit c keeps a seeded ``imbalance^(-c/9)`` share
    of its images (at least one), so digit 0 keeps all of them and has about ``imbalance`` times as
    many as digit 9. ``n`` then keeps a seeded random subset.
    Returns: ``Digits`` with x (N, 1, 8, 8), labels (N,) in 0..9, latents None.
    """
    from sklearn.datasets import load_digits

    strength = check.probability("strength", strength)
    augmentations = _augmentations(augmentations)
    imbalance = check.number("imbalance", imbalance, low=1.0)
    n = None if n is None else check.integer("n", n, 2)
    seed = check.seed("seed", seed)
    bunch = load_digits()
    images, labels = bunch.images / 16.0, bunch.target
    data = Digits(x=tensor(images[:, None], device), labels=tensor(labels, device, torch.long),
                  strength=strength, augmentations=augmentations,
                  knobs=dict(strength=strength, augmentations=augmentations, n=n, imbalance=imbalance, seed=seed))
    if imbalance > 1:
        order = torch.Generator().manual_seed(seed + 1)
        keep = []
        for c in range(10):
            members = torch.nonzero(data.labels.cpu() == c).squeeze(1)  # (n_c,)
            share = float(imbalance) ** (-c / 9)
            count = max(1, int(len(members) * share))
            keep.append(members[torch.randperm(len(members), generator=order)[:count]])
        data = data.subset(torch.cat(keep).sort().values)
    if n is not None:
        if n > len(data):
            raise ValueError(f"n must be at most {len(data)} (the digits set), got {n}")
        data = data.subset(torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n])
    return data
