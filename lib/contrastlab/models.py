"""Tiny encoders, heads and the EMA target network: a few lines each, fast on a laptop CPU."""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from . import validation as check

__all__ = ["mlp", "SmallCNN", "projection_head", "predictor", "Encoder", "make_target", "momentum_update",
           "EMATarget", "build_encoder"]


def mlp(in_dim: int, hidden: int, out_dim: int, *, n_layers: int = 2, norm: str | None = "batch",
        activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A plain MLP: (Linear -> norm -> activation) x (n_layers - 1), then a final Linear.

    ``norm`` is "batch", "layer" or None. Input (B, in_dim) -> output (B, out_dim).
    """
    in_dim, hidden, out_dim = (check.integer(k, v, 1) for k, v in (("in_dim", in_dim), ("hidden", hidden),
                                                                     ("out_dim", out_dim)))
    n_layers = check.integer("n_layers", n_layers, 1)
    norms = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm, None: None}
    norm = check.choice("norm", norm, tuple(norms))
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(n_layers - 1):
        layers.append(nn.Linear(width, hidden))
        if norms[norm] is not None:
            layers.append(norms[norm](hidden))
        layers.append(activation())
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """A three-layer CNN for (B, C, H, W) images -> (B, out_dim) features (about 60k parameters):
    (B, 1, 8, 8) digits, or (B, 3, P, P) image patches with ``in_channels=3`` (global pooling at the end);
    ``stride`` > 1 downsamples in the first layer (``build_encoder`` uses 2 above 16 pixels: 4x fewer flops)."""

    def __init__(self, out_dim: int = 64, width: int = 32, in_channels: int = 1, stride: int = 1):
        super().__init__()
        out_dim, width = check.integer("out_dim", out_dim, 1), check.integer("width", width, 1)
        in_channels, stride = check.integer("in_channels", in_channels, 1), check.integer("stride", stride, 1)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=stride, padding=1), nn.BatchNorm2d(width), nn.ReLU(),  # (B, w, 8, 8)
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 2w, 4, 4)
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 2w)
            nn.Linear(2 * width, out_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def projection_head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """SimCLR's projection head g(h): Linear -> BN -> ReLU -> Linear. The loss sees g(h); downstream
    tasks use h, which keeps information the loss would discard (Chen et al. 2020)."""
    return mlp(in_dim, hidden, out_dim, n_layers=2, norm="batch")


def predictor(dim: int, hidden: int) -> nn.Sequential:
    """The SimSiam/BYOL predictor q(z): an MLP bottleneck dim -> hidden -> dim."""
    return mlp(dim, hidden, dim, n_layers=2, norm="batch")


class Encoder(nn.Module):
    """backbone f then an optional head g: ``forward(x)`` returns the projection g(f(x)) that the loss
    sees; ``features(x)`` returns f(x), the representation used for evaluation."""

    def __init__(self, backbone: nn.Module, head: nn.Module | None = None):
        super().__init__()
        check.instance("backbone", backbone, nn.Module, "a torch.nn.Module")
        check.instance("head", head, nn.Module, "a torch.nn.Module", optional=True)
        self.backbone = backbone
        self.head = head if head is not None else nn.Identity()

    def features(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


def build_encoder(input_shape: tuple[int, ...], *, feature_dim: int = 64, out_dim: int = 32,
                  hidden: int = 128, head: bool = True) -> Encoder:
    """A default encoder for an input of shape ``input_shape`` (without the batch axis): ``SmallCNN``
    for (C, H, W) images with C in {1, 3} (digits, RGB patches), else an MLP; with a projection head to ``out_dim`` when ``head``."""
    input_shape, head = check.shape("input_shape", input_shape), check.boolean("head", head)
    if len(input_shape) == 3 and input_shape[0] in (1, 3) and min(input_shape[1:]) >= 2:
        stride = 2 if min(input_shape[1:]) > 16 else 1  # (B, w, H/2, W/2) after the first layer
        backbone: nn.Module = SmallCNN(feature_dim, in_channels=input_shape[0], stride=stride)
    elif len(input_shape) == 1:
        backbone = mlp(input_shape[0], hidden, feature_dim, n_layers=3)
    else:
        raise ValueError(f"build_encoder knows (D,) vectors and (C, H, W) images with C in (1, 3) and H, W >= 2, got input_shape {input_shape}")
    return Encoder(backbone, projection_head(feature_dim, hidden, out_dim) if head else None)


@torch.no_grad()
def momentum_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    r"""Exponential moving average of the online network's parameters into the target, in place.

    .. math:: \theta_t \leftarrow m\,\theta_t + (1 - m)\,\theta_o

    Buffers (e.g. BatchNorm running statistics) are copied from the online network.
    ``momentum=0`` makes the target a copy; ``momentum=1`` freezes it.

    Args:
        target: the momentum (key / target) encoder, updated in place.
        online: the encoder trained by gradient descent; not modified.
        momentum: m in [0, 1] (MoCo: 0.999; BYOL: 0.996 rising to 1).
    Raises: ValueError if the two networks' parameter or buffer names or shapes differ.
    References: He et al. 2020 (MoCo); Grill et al. 2020 (BYOL); Tarvainen & Valpola 2017 (mean teacher).
    """
    for name, module in (("target", target), ("online", online)):
        check.instance(name, module, nn.Module, "a torch.nn.Module")
    m = float(check.real_number("momentum", momentum, low=0.0, high=1.0))
    for kind, t_items, o_items in (("parameters", target.named_parameters(), online.named_parameters()),
                                   ("buffers", target.named_buffers(), online.named_buffers())):
        t_items, o_items = dict(t_items), dict(o_items)
        if t_items.keys() != o_items.keys():
            missing, extra = sorted(o_items.keys() - t_items.keys()), sorted(t_items.keys() - o_items.keys())
            raise ValueError(f"target and online must have the same {kind}; target lacks {missing}, "
                             f"has extra {extra}")
        for name, t in t_items.items():
            o = o_items[name]
            if t.shape != o.shape:
                raise ValueError(f"target and online {kind[:-1]} {name!r} must have the same shape, "
                                 f"got {tuple(t.shape)} and {tuple(o.shape)}")
            if kind == "buffers" or m == 0.0:
                t.copy_(o)
            elif m != 1.0:
                t.mul_(m).add_(o.to(t.dtype), alpha=1.0 - m)


def make_target(online: nn.Module) -> nn.Module:
    """A deep copy of ``online`` with ``requires_grad=False`` on every parameter (the momentum encoder).

    The copy shares no storage with ``online`` and keeps its train/eval mode.
    """
    check.instance("online", online, nn.Module, "a torch.nn.Module")
    target = copy.deepcopy(online)
    target.requires_grad_(False)
    return target


class EMATarget(nn.Module):
    """BYOL's target network: an exponential moving average of ``online`` whose momentum rises from
    ``base_momentum`` to 1 on a cosine schedule over ``total_steps`` (Grill et al. 2020)."""

    def __init__(self, online: nn.Module, *, base_momentum: float = 0.99, total_steps: int = 1000):
        super().__init__()
        self.target = make_target(online)
        self.base_momentum = check.probability("base_momentum", base_momentum)
        self.total_steps = max(1, check.integer("total_steps", total_steps, 0))

    def momentum(self, step: int) -> float:
        progress = min(check.integer("step", step, 0), self.total_steps) / self.total_steps
        return 1 - (1 - self.base_momentum) * (math.cos(math.pi * progress) + 1) / 2

    def update(self, online: nn.Module, step: int) -> None:
        momentum_update(self.target, online, self.momentum(step))

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return self.target(x)
