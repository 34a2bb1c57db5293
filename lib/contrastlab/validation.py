"""Argument checks: the one home of every check in contrastlab (losses, metrics, data, lessons, models, samplers).

One rule decides the exception type:

- a wrong **kind** of thing -> ``TypeError``: a str, a float where an int is needed, a bool where a
  number is needed, a list where a tensor is needed, a float tensor where integer labels are needed,
  an int where one of some names is needed;
- the right kind with a bad **value** -> ``ValueError``: below a minimum, out of a range, NaN or inf,
  a wrong shape, a name that is not one of the options.

Every message names the argument, says what was expected and what it got, in one shape::

    {name} must be {expected}, got {value}            # a bad value:  n must be an integer >= 1, got 0
    {name} must be {expected}, got {type} {value!r}   # a wrong kind: n must be an int, got str '3'

A bool is never a number (``True`` is an ``int`` to Python, but ``n=True`` is a mistake); numpy
integers and floats are accepted wherever Python's are. Each check returns the checked value in its
plain form (``integer`` an ``int``, ``number`` a ``float``), so a caller writes
``n = check.integer("n", n, 1)``. They guard against the failures that would otherwise pass
silently or fail far away: a broadcast between mismatched shapes, a NaN loss from a non-finite input
or a zero temperature, a seed that numpy rejects with a message that does not name it.

Scalars: ``integer``, ``seed``, ``number``, ``probability``, ``positive_number``, ``real_number``
(the last two also take a one-element tensor, kept for autograd), ``boolean``, ``choice``,
``instance``, ``shape``. Tensors: ``tensor``, ``embeddings``, ``similarities``, ``labels``, ``indices``, ``same_shape``, ``same_device``,
``batch_at_least``, and the bundles of the losses ``two_views``, ``in_batch_pair``, ``towers``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import torch
from torch import Tensor


def _show(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a tensor or a long list would flood the message)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _kind(value: object) -> str:
    """What a wrong kind of thing was: its type name and its (short) repr, e.g. ``str '3'``."""
    return f"{type(value).__name__} {_show(value)}"


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    return f"{'(' if low_open else '['}{float(low)}, {float(high)}{')' if high_open else ']'}"


# --- scalars -----------------------------------------------------------------------------------

def integer(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """A Python or numpy integer (not a bool) in [``minimum``, ``maximum``] (either may be None), as an int.

    A float (even 2.0), a str or a bool is a ``TypeError``; an integer out of range a ``ValueError``.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {_kind(value)}")
    value = int(value)
    if minimum is not None and maximum is not None:
        if not minimum <= value <= maximum:
            raise ValueError(f"{name} must be an integer in [{minimum}, {maximum}], got {value}")
    elif minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    elif maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value}")
    return value


def seed(name: str, value: object) -> int:
    """A random seed: a Python or numpy integer >= 0 (not a bool), as an int.

    Every generator of the package (numpy's ``default_rng``, ``torch.Generator.manual_seed``) takes
    it, so ``seed=-1`` fails here, naming the argument, instead of deep inside numpy.
    """
    return integer(name, value, 0)


def number(name: str, value: object, *, low: float = -math.inf, high: float = math.inf,
           low_open: bool = False, high_open: bool = False) -> float:
    """A finite Python or numpy real (not a bool, not a tensor) in [low, high], as a float.

    ``low_open`` / ``high_open`` leave an end out: ``number("rho", rho, low=-1, high=1, low_open=True,
    high_open=True)`` is a correlation in (-1, 1). NaN and inf are ``ValueError`` (right kind, bad value).
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a float, got {_kind(value)}")
    return _in_range(name, float(value), low, high, low_open, high_open)


def _in_range(name: str, x: float, low: float, high: float, low_open: bool, high_open: bool) -> float:
    too_low = x <= low if low_open else x < low
    too_high = x >= high if high_open else x > high
    if not math.isfinite(x) or too_low or too_high:
        raise ValueError(f"{name} must be a finite number in {_interval(low, high, low_open, high_open)}, got {x}")
    return x


def probability(name: str, value: object, *, low_open: bool = False, high_open: bool = False) -> float:
    """A number in [0, 1] (a probability, a share, a strength), as a float; the ends may be left out."""
    return number(name, value, low=0.0, high=1.0, low_open=low_open, high_open=high_open)


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
    raise TypeError(f"{name} must be a float, got {_kind(value)}")


#: The smallest positive number ``positive_number`` accepts: float32's smallest normal number,
#: ``torch.finfo(torch.float32).tiny`` (about 1.18e-38). The losses compute in float32 or wider; below
#: it a number is subnormal or zero there, and the reciprocal of a temperature (the logit scale 1/tau)
#: overflows to inf, so a loss would return NaN instead of failing.
SMALLEST_POSITIVE = torch.finfo(torch.float32).tiny
#: The largest number ``positive_number`` accepts: float32's largest finite number (about 3.4e38). Above
#: it a logit scale is inf in float32 and the logits inf * 0 = NaN.
LARGEST_POSITIVE = torch.finfo(torch.float32).max


def positive_number(name: str, value: object) -> float | Tensor:
    """A finite number > 0 (temperatures, logit scales, learning rates); a one-element tensor is kept.

    "> 0" means at least ``SMALLEST_POSITIVE`` (float32's smallest normal number): a temperature of
    1e-39 would make 1/tau overflow float32 and the loss NaN, so it is refused by name; and "finite"
    means finite in float32 (at most ``LARGEST_POSITIVE``): a logit scale of 1e39 is inf there.
    """
    number_, checked = _scalar(name, value)
    if not (math.isfinite(number_) and number_ > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {number_}")
    if number_ < SMALLEST_POSITIVE:
        raise ValueError(f"{name} must be a finite number > 0 and at least the smallest normal float32, "
                         f"torch.finfo(torch.float32).tiny = {SMALLEST_POSITIVE} (below it 1/{name} overflows "
                         f"float32), got {number_}")
    if number_ > LARGEST_POSITIVE:
        raise ValueError(f"{name} must be a finite number > 0 and at most the largest float32, "
                         f"torch.finfo(torch.float32).max = {LARGEST_POSITIVE} (it is inf in float32), got {number_}")
    return checked


def real_number(name: str, value: object, *, low: float = -math.inf, high: float = math.inf,
                low_open: bool = False, high_open: bool = False) -> float | Tensor:
    """A finite number in [low, high] (ends left out with ``low_open`` / ``high_open``), like ``number``
    but a one-element floating tensor is accepted and returned as a 0-d tensor (for autograd)."""
    number_, checked = _scalar(name, value)
    _in_range(name, number_, low, high, low_open, high_open)
    return checked


def boolean(name: str, value: object) -> bool:
    """A bool (or a numpy bool), as a bool: ``1`` and ``"yes"`` are ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_kind(value)}")
    return bool(value)


def _options(options: Sequence) -> str:
    shown = [_show(o) for o in options]
    if len(shown) == 1:
        return shown[0]
    listed = ", ".join(shown[:-1]) + " or " + shown[-1]
    return listed if len(shown) == 2 else "one of " + listed


def choice(name: str, value: object, options: Sequence) -> object:
    """One of ``options`` (names, or None), returned as given.

    A value of a kind no option has (an int where names are expected) is a ``TypeError``; a name
    that is not an option is a ``ValueError`` that suggests the closest option ("did you mean").
    """
    options = tuple(options)
    kinds = tuple({type(o) for o in options})
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {_options(options)}, got {_kind(value)}")
    if any(value is o or value == o for o in options):
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [o for o in options if isinstance(o, str)], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"{name} must be {_options(options)}, got {_show(value)}{hint}")


def instance(name: str, value: object, kind: type | tuple[type, ...], expected: str, *,
             optional: bool = False) -> object:
    """``value`` if it is a ``kind`` (or None when ``optional``), else a ``TypeError`` saying ``expected``,
    e.g. ``instance("generator", g, torch.Generator, "a torch.Generator", optional=True)``."""
    if (value is None and optional) or isinstance(value, kind):
        return value
    raise TypeError(f"{name} must be {expected}{' or None' if optional else ''}, got {type(value).__name__}")


def shape(name: str, value: object) -> tuple[int, ...]:
    """A non-empty tuple (or list, or ``torch.Size``) of ints >= 1, such as an input shape, as a tuple."""
    if not isinstance(value, (tuple, list, torch.Size)) or \
            any(isinstance(s, bool) or not isinstance(s, Integral) for s in value):
        raise TypeError(f"{name} must be a tuple of positive ints, got {_kind(value)}")
    if not value or min(value) < 1:
        raise ValueError(f"{name} must be a tuple of positive ints, got {tuple(value)}")
    return tuple(int(s) for s in value)


# --- tensors -----------------------------------------------------------------------------------

_DTYPE_KINDS = {
    "floating": (Tensor.is_floating_point, "floating-point"),
    "integer": (lambda t: not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool), "integer"),
    "index": (lambda t: t.dtype in (torch.int64, torch.int32), "int64 or int32"),
    "bool": (lambda t: t.dtype == torch.bool, "bool"),
}


def tensor(name: str, value: object, *, ndim: int | None = None, dtype: str | None = None,
           dims: str | None = None) -> Tensor:
    """A ``torch.Tensor`` (else ``TypeError``) of dtype kind ``dtype`` ("floating", "integer", "index"
    (int64 or int32, what indexing and embedding lookups take) or "bool"; else ``TypeError``) with
    ``ndim`` dimensions (else ``ValueError``). ``dims`` names the axes in the message, e.g. "(N, M)"."""
    what = f"{_DTYPE_KINDS[dtype][1]} " if dtype is not None else ""
    shape = f"{ndim}-d " if ndim is not None else ""
    kind = f"{shape}{what}tensor{' ' + dims if dims else ''}"
    expected = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    if dtype is not None and not _DTYPE_KINDS[dtype][0](value):
        raise TypeError(f"{name} must be {expected}, got dtype {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must be {expected}, got shape {tuple(value.shape)}")
    return value


class NonFiniteError(ValueError):
    """A tensor argument holds NaN or inf (a ``ValueError``): ``fit`` reads it as divergence when the
    batch it fed the model was finite."""


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
        raise NonFiniteError(f"{name} must be finite, got {bad} NaN or inf value(s) in shape {tuple(x.shape)}")
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


def similarities(name: str, x: object) -> Tensor:
    """A 2-d floating tensor (N, C) of scores (similarities or logits) whose rows each hold a finite entry.

    -inf is allowed (it masks a candidate out); NaN and +inf are a ``NonFiniteError`` (a ``ValueError``),
    and so is a row with no finite entry (its softmax would be 0 / 0).
    """
    tensor(name, x, ndim=2, dtype="floating", dims="(N, C)")
    if any(size == 0 for size in x.shape):
        raise ValueError(f"{name} must not have an empty dimension, got shape {tuple(x.shape)}")
    bad = torch.isnan(x) | (x == math.inf)
    if bool(bad.any()):
        raise NonFiniteError(f"{name} must hold no NaN or +inf (-inf masks a candidate), got {int(bad.sum())} "
                             f"in shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).any(1).all()):
        raise ValueError(f"{name} must have a finite entry in every row, got a row of -inf only")
    return x


def indices(name: str, idx: object, n: int, device: torch.device | None = None) -> Tensor:
    """A 1-d integer tensor of row indices into ``n`` rows, each in [0, n), as int64 on ``device``.

    A list, a float tensor or a bool mask is a ``TypeError``; another shape or an index out of range
    (negative ones included: -1 here is nearly always a bug, not "the last row") a ``ValueError``.
    An empty index is allowed (it selects no row).
    """
    expected = f"a 1-d integer tensor of indices in [0, {n})"
    if not isinstance(idx, Tensor):
        raise TypeError(f"{name} must be {expected}, got {_kind(idx)}")
    if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
        raise TypeError(f"{name} must be {expected}, got dtype {idx.dtype}")
    if idx.ndim != 1:
        raise ValueError(f"{name} must be {expected}, got shape {tuple(idx.shape)}")
    if idx.numel():
        low, high = int(idx.min()), int(idx.max())
        if low < 0 or high >= n:
            raise ValueError(f"{name} must be {expected}, got values from {low} to {high}")
    return idx.to(device=device if device is not None else idx.device, dtype=torch.long)


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
    boolean("symmetric", symmetric)
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
