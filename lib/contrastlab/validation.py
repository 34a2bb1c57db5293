"""Argument checks shared by the losses.

Every check raises ``TypeError`` (wrong kind of thing) or ``ValueError`` (right kind, wrong shape or
value) with a message that names the argument, says what it got and what was expected. They guard
against the failures that would otherwise pass silently: a broadcast between mismatched shapes, a
NaN loss from a non-finite input or a zero temperature.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
from torch import Tensor


def embeddings(name: str, x: object, *, ndim: int = 2) -> Tensor:
    """Check that ``x`` is a finite floating tensor with ``ndim`` dimensions and no empty axis."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim != ndim:
        dims = {2: "(N, D)", 3: "(N, M, D) or (N, V, D)"}.get(ndim, f"{ndim}-d")
        raise ValueError(f"{name} must be a {ndim}-d tensor {dims}, got shape {tuple(x.shape)}")
    if any(size == 0 for size in x.shape):
        raise ValueError(f"{name} must not have an empty dimension, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or inf value(s) in shape {tuple(x.shape)}")
    return x


def same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def same_device(**tensors: Tensor) -> None:
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        listed = ", ".join(f"{name} on {dev}" for name, dev in devices.items())
        raise ValueError(f"inputs must be on one device, got {listed}")


def batch_at_least(name: str, x: Tensor, minimum: int, why: str) -> None:
    if x.shape[0] < minimum:
        raise ValueError(f"{name} must have at least {minimum} rows ({why}), got shape {tuple(x.shape)}")


def integer(name: str, value: object, minimum: int) -> int:
    """A Python or numpy integer (not a bool) >= ``minimum``, as an int."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _scalar(name: str, value: object) -> tuple[float, float | Tensor]:
    """Read a Python real or a one-element floating tensor; the tensor is kept for autograd."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point scalar, got dtype {value.dtype}")
        return float(value.detach()), value.reshape(())
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value), float(value)
    raise TypeError(f"{name} must be a float, got {type(value).__name__} {value!r}")


def positive_number(name: str, value: object) -> float | Tensor:
    """A finite number > 0 (temperatures, logit scales)."""
    number, checked = _scalar(name, value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {number}")
    return checked


def real_number(name: str, value: object, *, low: float = -math.inf, high: float = math.inf,
                high_open: bool = False) -> float | Tensor:
    """A finite number in [low, high] (or [low, high) when ``high_open``)."""
    number, checked = _scalar(name, value)
    too_high = number >= high if high_open else number > high
    if not math.isfinite(number) or number < low or too_high:
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be a finite number in [{low}, {high}{bracket}, got {number}")
    return checked


def labels(name: str, y: object, n: int, device: torch.device) -> Tensor:
    """Integer class labels of shape (n,)."""
    if not isinstance(y, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer class labels, got {type(y).__name__}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} must have an integer dtype (e.g. torch.long), got {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one label per sample, got {tuple(y.shape)}")
    if y.device != device:
        raise ValueError(f"{name} must be on the features' device {device}, got {y.device}")
    return y


def two_views(z1: object, z2: object, temperature: object) -> float | Tensor:
    """The checks of the two-view losses (NT-Xent and its variants); returns the checked temperature."""
    embeddings("z1", z1)
    embeddings("z2", z2)
    same_shape("z1", z1, "z2", z2)
    same_device(z1=z1, z2=z2)
    batch_at_least("z1", z1, 2, "each anchor needs at least one negative: 2N - 2 >= 1")
    return positive_number("temperature", temperature)


def in_batch_pair(query: object, positive: object, temperature: object, symmetric: object) -> float | Tensor:
    """The checks of in-batch ``info_nce``; returns the checked temperature."""
    embeddings("query", query)
    embeddings("positive", positive)
    same_shape("query", query, "positive", positive)
    temperature = positive_number("temperature", temperature)
    if not isinstance(symmetric, bool):
        raise TypeError(f"symmetric must be a bool, got {type(symmetric).__name__}")
    same_device(query=query, positive=positive)
    batch_at_least("query", query, 2, "in-batch negatives need N >= 2: with N = 1 there is nothing to contrast")
    return temperature


def towers(a: object, b: object, *, min_rows: int = 2,
           why: str = "with N = 1 there is no other pair to contrast") -> None:
    """The checks of the two-tower losses (CLIP, SigLIP)."""
    embeddings("a", a)
    embeddings("b", b)
    same_shape("a", a, "b", b)
    same_device(a=a, b=b)
    batch_at_least("a", a, min_rows, why)
