r"""Image augmentations in plain torch: batched (B, C, H, W), seeded by a ``torch.Generator``, on the
input's device, every random choice drawn independently per image.

SimCLR's default recipe (Chen et al. 2020, Appendix A), in this order:

=============  =============================================================  ===========
op name        what it does (at strength s = 1)                               applied with
=============  =============================================================  ===========
``crop``       random resized crop: area share in [0.08, 1], aspect ratio       always
               in [3/4, 4/3], resized back to (H, W) (bilinear)
``flip``       horizontal flip                                                 p = 0.5
``color``      colour jitter: brightness 0.8, contrast 0.8, saturation 0.8,    p = 0.8
               hue 0.2, in a random order per image
``grayscale``  luma (0.299 R + 0.587 G + 0.114 B) on every channel             p = 0.2
``blur``       Gaussian blur, sigma in [0.1, 2.0], kernel ~10% of the side     p = 0.5
=============  =============================================================  ===========

``strength`` s in [0, 1] scales every op toward the identity: the crop's smallest area share is
0.08 + 0.92 (1 - s) and its ratio range (3/4)^s .. (4/3)^s, the flip probability 0.5 s, the jitter amounts
(0.8 s, 0.8 s, 0.8 s, 0.2 s) (SimCLR's "colour distortion strength" s), the grayscale probability
0.2 s and blur's sigma range (0.1 s, 2.0 s). At s = 0 every op returns its input.

``recipe(["crop", "color"], strength=1.0)`` builds any subset (SimCLR Fig. 5 trains on every op and
every pair); ``recipe()`` is the full default. ``color_histogram`` and ``histogram_matching_accuracy``
show the shortcut that crop alone leaves open: two crops of one image share their colour statistics,
so a network can match them without learning anything else (SimCLR Fig. 6).

Values are kept in [0, 1] (each colour op clamps). Differences from torchvision's SimCLR transforms:
hue is a rotation of the chroma plane in YIQ space (batched, no HSV round trip), and a crop that does
not fit is clamped to the image instead of redrawn.
References: Chen et al. 2020 (SimCLR), Appendix A and Fig. 5-6; Szegedy et al. 2015 (random resized crop).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from . import validation as check

__all__ = ["OPS", "random_resized_crop", "horizontal_flip", "color_jitter", "random_grayscale", "gaussian_blur",
           "Op", "Compose", "recipe", "op_names", "view_grid", "color_histogram", "histogram_matching_accuracy", "LUMA"]

#: The op names of ``recipe``, in SimCLR's order.
OPS = ("crop", "flip", "color", "grayscale", "blur")
#: ITU-R 601 luma weights (torchvision's rgb_to_grayscale).
LUMA = (0.299, 0.587, 0.114)
_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


# --- argument checks -----------------------------------------------------------------------------

def _images(images: object, *, rgb: bool = False) -> Tensor:
    check.tensor("images", images, ndim=4, dtype="floating", dims="(B, C, H, W)")
    if rgb and images.shape[1] != 3:
        raise ValueError(f"images must have 3 (RGB) channels for colour ops, got shape {tuple(images.shape)}")
    if images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"images must have H, W >= 1, got shape {tuple(images.shape)}")
    return images


def _generator(generator: object, images: Tensor) -> torch.Generator:
    """``generator`` checked (None gives one seeded 0 on the images' device); it must live on their device type."""
    check.instance("generator", generator, torch.Generator, "a torch.Generator", optional=True)
    if generator is None:
        return torch.Generator(device=images.device).manual_seed(0)
    if generator.device.type != images.device.type:
        raise ValueError(f"generator must be on the images' device ({images.device.type}), got {generator.device}")
    return generator


def _range(name: str, value: object, *, low: float = 0.0, high: float = math.inf) -> tuple[float, float]:
    """A (min, max) pair of finite numbers in [low, high] with min <= max."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a (min, max) pair of floats, got {type(value).__name__} {value!r}")
    a, b = (check.number(name, v, low=low, high=high) for v in value)
    if a > b:
        raise ValueError(f"{name} must be a (min, max) pair with min <= max, got {tuple(value)}")
    return a, b


def _uniform(shape, low: float, high: float, generator, device) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator, device=device)


def _apply(p: float, b: int, generator, device) -> Tensor:
    """(B,) bool: which images an op with probability ``p`` touches (always drawn, so the stream is stable)."""
    return torch.rand(b, generator=generator, device=device) < p


def _where(mask: Tensor, new: Tensor, old: Tensor) -> Tensor:
    return torch.where(mask.view(-1, 1, 1, 1), new, old)


def _luma(x: Tensor) -> Tensor:
    w = torch.tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)  # (B, 1, H, W)


# --- the ops -------------------------------------------------------------------------------------

def random_resized_crop(images: Tensor, *, scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), size: tuple[int, int] | None = None,
                        generator: torch.Generator | None = None) -> Tensor:
    r"""Crop a random box of each image and resize it to ``size`` (default: the input's (H, W)).

    Area share a ~ U(scale), aspect r = w/h with log r ~ U(log ratio); the box's width and height as
    shares of the image are w = sqrt(a r), h = sqrt(a / r), each clamped to <= 1, and its centre is
    uniform over the positions that keep it inside. One bilinear ``grid_sample`` per batch with
    .. math:: \theta_b = \begin{pmatrix} w_b & 0 & c^x_b \\ 0 & h_b & c^y_b \end{pmatrix}
    scale = ratio = (1, 1) at the input's size is the identity. Returns (B, C, *size).
    """
    x = _images(images)
    scale, ratio = _range("scale", scale, high=1.0), _range("ratio", ratio)
    if scale[1] <= 0 or ratio[0] <= 0:
        raise ValueError(f"scale and ratio must be > 0, got scale={scale}, ratio={ratio}")
    size = tuple(x.shape[2:]) if size is None else check.shape("size", size)
    if len(size) != 2:
        raise ValueError(f"size must be a (H, W) pair, got {size}")
    g, b, dev = _generator(generator, x), len(x), x.device
    if b == 0:
        return x.new_empty((0, x.shape[1], *size))
    area = _uniform(b, *scale, g, dev)  # (B,)
    log_r = _uniform(b, math.log(ratio[0]), math.log(ratio[1]), g, dev)  # (B,)
    w = torch.sqrt(area * torch.exp(log_r)).clamp(max=1.0)  # (B,) width share
    h = torch.sqrt(area / torch.exp(log_r)).clamp(max=1.0)  # (B,) height share
    cx = _uniform(b, -1, 1, g, dev) * (1 - w)  # (B,) centre in [-1, 1] coordinates
    cy = _uniform(b, -1, 1, g, dev) * (1 - h)
    zero = torch.zeros_like(w)
    theta = torch.stack([torch.stack([w, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1).to(x.dtype)  # (B, 2, 3)
    grid = F.affine_grid(theta, [b, x.shape[1], *size], align_corners=False)  # (B, H', W', 2)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)  # (B, C, H', W')
    return out.clamp(x.min(), x.max())  # bilinear weights are convex; the clamp only removes rounding


def horizontal_flip(images: Tensor, *, p: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability ``p``: x[..., ::-1]. (B, C, H, W) -> same."""
    x, p = _images(images), check.probability("p", p)
    g = _generator(generator, x)
    return _where(_apply(p, len(x), g, x.device), x.flip(-1), x)


def _brightness(x: Tensor, f: Tensor) -> Tensor:
    return (x * f).clamp(0, 1)  # x' = f x


def _contrast(x: Tensor, f: Tensor) -> Tensor:
    mean = _luma(x).mean((2, 3), keepdim=True)  # (B, 1, 1, 1) mean grey level
    return ((x - mean) * f + mean).clamp(0, 1)  # x' = m + f (x - m)


def _saturation(x: Tensor, f: Tensor) -> Tensor:
    grey = _luma(x)  # (B, 1, H, W)
    return ((x - grey) * f + grey).clamp(0, 1)  # x' = y + f (x - y)


def _hue(x: Tensor, angle: Tensor) -> Tensor:
    """Rotate the chroma plane (I, Q) of YIQ by ``angle`` radians; luma Y is kept."""
    yiq = torch.tensor(_YIQ, device=x.device, dtype=x.dtype)  # (3, 3)
    c, s = torch.cos(angle).flatten(), torch.sin(angle).flatten()  # (B,)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    rot = torch.stack([torch.stack([one, zero, zero], 1), torch.stack([zero, c, -s], 1),
                       torch.stack([zero, s, c], 1)], 1)  # (B, 3, 3)
    m = torch.linalg.inv(yiq) @ rot @ yiq  # (B, 3, 3) RGB -> RGB
    return torch.einsum("bij,bjhw->bihw", m, x).clamp(0, 1)


def color_jitter(images: Tensor, *, brightness: float = 0.8, contrast: float = 0.8, saturation: float = 0.8,
                 hue: float = 0.2, p: float = 0.8, generator: torch.Generator | None = None) -> Tensor:
    r"""SimCLR's colour distortion: with probability ``p`` an image gets the four jitters in a random order.

    brightness x' = f x; contrast x' = m + f (x - m) (m: the image's mean luma); saturation
    x' = y + f (x - y) (y: the pixel's luma), each with f ~ U[max(0, 1 - amount), 1 + amount];
    hue rotates the YIQ chroma plane by 2 pi u, u ~ U[-hue, hue] (hue in [0, 0.5]). Clamped to [0, 1].
    Needs RGB input (B, 3, H, W).
    """
    x = _images(images, rgb=True)
    amounts = {k: check.number(k, v, low=0.0) for k, v in (("brightness", brightness), ("contrast", contrast),
                                                           ("saturation", saturation))}
    hue, p = check.number("hue", hue, low=0.0, high=0.5), check.probability("p", p)
    g, b, dev = _generator(generator, x), len(x), x.device
    if b == 0:
        return x.clone()
    apply = _apply(p, b, g, dev)  # (B,)
    factors = [_uniform((b, 1, 1, 1), max(0.0, 1 - a), 1 + a, g, dev).to(x.dtype) for a in amounts.values()]
    angle = (_uniform((b,), -hue, hue, g, dev) * 2 * math.pi).to(x.dtype)
    order = torch.argsort(torch.rand(b, 4, generator=g, device=dev), dim=1)  # (B, 4) a permutation per image
    ops = [lambda y: _brightness(y, factors[0]), lambda y: _contrast(y, factors[1]),
           lambda y: _saturation(y, factors[2]), lambda y: _hue(y, angle)]
    out = x
    for step in range(4):
        candidates = torch.stack([op(out) for op in ops])  # (4, B, C, H, W)
        out = candidates[order[:, step], torch.arange(b, device=dev)]  # (B, C, H, W)
    return _where(apply, out, x)


def random_grayscale(images: Tensor, *, p: float = 0.2, generator: torch.Generator | None = None) -> Tensor:
    """With probability ``p`` replace an image by its luma 0.299 R + 0.587 G + 0.114 B on all three channels."""
    x, p = _images(images, rgb=True), check.probability("p", p)
    g = _generator(generator, x)
    return _where(_apply(p, len(x), g, x.device), _luma(x).expand_as(x), x)


def gaussian_blur(images: Tensor, *, sigma: tuple[float, float] = (0.1, 2.0), p: float = 0.5,
                  kernel_size: int | None = None, generator: torch.Generator | None = None) -> Tensor:
    r"""With probability ``p`` blur an image with a Gaussian of sigma ~ U(sigma) (in pixels).

    Separable: a 1-d kernel k_i \propto exp(-i^2 / 2 sigma^2), normalised to sum 1, along W then H,
    with reflect padding (so a constant image stays constant and the mean is kept up to the border).
    ``kernel_size`` (odd) defaults to SimCLR's 10% of the shorter side, at least 3. sigma = 0 is the
    identity.
    """
    x = _images(images)
    lo, hi = _range("sigma", sigma)
    p = check.probability("p", p)
    side = min(x.shape[2:])
    k = max(3, int(0.1 * side) // 2 * 2 + 1) if kernel_size is None else check.integer("kernel_size", kernel_size, 1)
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd, got {k}")
    g, (b, c, hh, ww), dev = _generator(generator, x), x.shape, x.device
    if b == 0:
        return x.clone()
    apply = _apply(p, b, g, dev)
    s = _uniform((b, 1), lo, hi, g, dev).clamp(min=1e-6)  # (B, 1); sigma 0 -> a delta kernel
    taps = torch.arange(k, device=dev) - k // 2  # (k,)
    kernel = torch.exp(-taps[None] ** 2 / (2 * s ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).to(x.dtype).repeat_interleave(c, 0)  # (B C, k)
    pad = k // 2
    y = x.reshape(1, b * c, hh, ww)  # one group per (image, channel)
    if pad:
        mode = "reflect" if min(hh, ww) > pad else "replicate"
        y = F.conv2d(F.pad(y, (pad, pad, 0, 0), mode=mode), kernel[:, None, None, :], groups=b * c)  # along W
        y = F.conv2d(F.pad(y, (0, 0, pad, pad), mode=mode), kernel[:, None, :, None], groups=b * c)  # along H
    y = y.reshape(b, c, hh, ww).clamp(x.min(), x.max())  # the kernel is convex; the clamp only removes rounding
    return _where(apply, y, x)


# --- recipes -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One named op with its arguments: ``op(images, generator=g)`` calls ``fn(images, **kwargs, generator=g)``."""

    name: str
    fn: Callable[..., Tensor] = field(repr=False)
    kwargs: dict = field(default_factory=dict)

    def __call__(self, images: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return self.fn(images, **self.kwargs, generator=generator)


@dataclass(frozen=True)
class Compose:
    """Ops applied in turn, all drawing from one generator: ``Compose(ops)(images, generator=g)``."""

    ops: tuple[Op, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(op.name for op in self.ops)

    def __call__(self, images: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        x = _images(images)
        generator = _generator(generator, x)
        for op in self.ops:
            x = op(x, generator=generator)
        return x


def op_names(ops: object) -> tuple[str, ...]:
    """A tuple of names from ``OPS`` in SimCLR's order (a single name is a one-element tuple; repeats dropped)."""
    if isinstance(ops, str):
        ops = (ops,)
    if not isinstance(ops, (tuple, list)) or not all(isinstance(o, str) for o in ops):
        raise TypeError(f"ops must be a name or a list of names from {OPS}, got {type(ops).__name__} {ops!r}")
    for name in ops:
        check.choice("ops", name, OPS)
    return tuple(o for o in OPS if o in ops)


def recipe(ops: Sequence[str] | str = OPS, *, strength: float = 1.0) -> Compose:
    """SimCLR's augmentation with only the ``ops`` named (any subset of ``OPS``, applied in SimCLR's order)
    at ``strength`` in [0, 1] (see the module docstring for what it scales). ``recipe([])`` is the identity."""
    names = op_names(ops)
    s = check.probability("strength", strength)
    table = {
        "crop": (random_resized_crop, dict(scale=(0.08 + 0.92 * (1 - s), 1.0), ratio=((3 / 4) ** s, (4 / 3) ** s))),
        "flip": (horizontal_flip, dict(p=0.5 * s)),
        "color": (color_jitter, dict(brightness=0.8 * s, contrast=0.8 * s, saturation=0.8 * s, hue=0.2 * s, p=0.8)),
        "grayscale": (random_grayscale, dict(p=0.2 * s)),
        "blur": (gaussian_blur, dict(sigma=(0.1 * s, 2.0 * s), p=0.5)),
    }
    return Compose(tuple(Op(name, *table[name]) for name in names))


def view_grid(image: Tensor, ops: Sequence[str] | str = OPS, *, strength: float = 1.0, n_views: int = 8,
              seed: int = 0) -> Tensor:
    """``n_views`` independent views of one (C, H, W) ``image`` by ``recipe(ops, strength=strength)``, drawn
    from a generator seeded ``seed`` on the image's device: (n_views, C, H, W). What the views widget shows."""
    check.tensor("image", image, ndim=3, dtype="floating", dims="(C, H, W)")
    n_views, seed = check.integer("n_views", n_views, 1), check.seed("seed", seed)
    batch = image.unsqueeze(0).expand(n_views, *image.shape).contiguous()  # (V, C, H, W) copies
    generator = torch.Generator(device=image.device).manual_seed(seed)
    return recipe(ops, strength=strength)(batch, generator=generator)

# --- the colour-histogram shortcut ---------------------------------------------------------------

def color_histogram(images: Tensor, *, bins: int = 8, joint: bool = False) -> Tensor:
    """Per-image colour histograms of (B, C, H, W) images in [0, 1].

    ``joint=False``: one ``bins``-bin histogram per channel, concatenated, (B, C * bins), each channel's
    part summing to 1. ``joint=True``: the joint histogram over (R, G, B) cells, (B, bins^C), summing to 1.
    """
    x = _images(images)
    bins, joint = check.integer("bins", bins, 1), check.boolean("joint", joint)
    b, c = x.shape[:2]
    idx = (x.clamp(0, 1) * bins).long().clamp(max=bins - 1).flatten(2)  # (B, C, H W) bin of each value
    n = idx.shape[2]
    if joint:
        powers = bins ** torch.arange(c - 1, -1, -1, device=x.device)  # (C,)
        cell = (idx * powers[None, :, None]).sum(1)  # (B, H W)
        hist = torch.zeros(b, bins ** c, device=x.device, dtype=x.dtype)
        return hist.scatter_add_(1, cell, torch.ones_like(cell, dtype=x.dtype)) / n  # (B, bins^C)
    hist = torch.zeros(b, c, bins, device=x.device, dtype=x.dtype)
    hist.scatter_add_(2, idx, torch.ones_like(idx, dtype=x.dtype))
    return (hist / n).flatten(1)  # (B, C bins)


def histogram_matching_accuracy(first: Tensor, second: Tensor, *, bins: int = 8, joint: bool = False) -> float:
    """The shortcut: the share of images in ``first`` whose nearest neighbour among ``second`` by colour
    histogram (L1 distance of ``color_histogram``) is its own partner (row i of ``second``).

    With ``first``, ``second`` two crops of the same B images this is high: colour statistics alone
    solve the contrastive task. Chance is 1 / B.
    """
    a, b_ = color_histogram(first, bins=bins, joint=joint), color_histogram(second, bins=bins, joint=joint)
    check.same_shape("first", first, "second", second)
    distance = torch.cdist(a, b_, p=1)  # (B, B)
    return float((distance.argmin(1) == torch.arange(len(a), device=a.device)).float().mean())
