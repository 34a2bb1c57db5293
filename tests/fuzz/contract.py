"""The fuzz contract and the generators the per-module tables share.

The contract of every public function: a valid input gives a finite result (the caller's extra check
says which); an invalid one raises ``ValueError`` or ``TypeError`` whose message names the argument.
Any other exception, a refused valid input, an accepted invalid one or a NaN/inf result fails.

A table row (``Spec``) names a function, how to draw a valid call (``make(draw) -> Call``) and which
arguments may be corrupted. ``draw_call`` draws a valid call, then, half of the time, corrupts one
argument with a bad value of its kind (``BAD`` for scalars, ``tensor_corruptions`` for tensors).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Callable

import numpy as np
import torch
from hypothesis import event, note
from hypothesis import strategies as st

#: (function, "valid" | "invalid") -> calls; printed by conftest at the end of the run
OUTCOMES: Counter = Counter()

NAN, INF = float("nan"), float("inf")
# bad values of each kind of scalar argument (each must be refused, naming the argument)
BAD = {
    "positive": [0, 0.0, -1.0, NAN, INF, -INF, 1e-39, 1e39, "0.1", True, None, torch.ones(2), torch.tensor(1)],
    "nonnegative": [-1e-3, -1.0, NAN, INF, "1", True, None, torch.ones(2)],
    "probability_open": [-0.1, 1.0, 1.5, NAN, "0.1", True, None],  # [0, 1)
    "unit_interval": [-1.5, 1.5, NAN, INF, "0.3", True],  # [-1, 1]
    "real": [NAN, INF, -INF, "1", True, None],
    "bool": [1, 0, "yes", None, 1.0],
    "count": [0, -1, 1.5, "2", True, None],  # an int >= 1
    "seed": [-1, 1.5, "0", True, None],
}


@dataclass
class Call:
    """Arguments by name; ``positional`` are passed in that order, the rest as keywords."""

    args: dict
    positional: tuple[str, ...] = ()
    group: dict = field(default_factory=dict)  # name -> names an error about it may name instead

    def run(self, fn: Callable):
        return fn(*[self.args[n] for n in self.positional],
                  **{k: v for k, v in self.args.items() if k not in self.positional})


@dataclass
class Spec:
    name: str
    fn: Callable
    make: Callable  # draw -> Call (valid)
    corrupt: dict = field(default_factory=dict)  # argument -> kind of bad value ("tensor" or a BAD key or a list)
    check: Callable | None = None  # (call, result) -> None, an extra check of a valid result

    def __repr__(self) -> str:  # the test ids
        return self.name


# --- tensors -----------------------------------------------------------------------------------

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
MAGNITUDES = [1e-30, 1e-4, 1.0, 1e4, 1e20]


@st.composite
def magnitude(draw, dtype: torch.dtype = torch.float32):
    """A scale for the values: tiny to huge, but finite in ``dtype`` (fp16 tops out at 65504)."""
    top = float(torch.finfo(dtype).max) / 1e3
    return draw(st.sampled_from([m for m in MAGNITUDES if m < top]))


@st.composite
def dense(draw, shape, dtype=None, scale=None, structure=None):
    """A floating tensor of ``shape``: random, collapsed (every row alike), with a zero row, or low rank,
    at a drawn magnitude and dtype."""
    dtype = dtype or draw(st.sampled_from(DTYPES))
    scale = scale if scale is not None else draw(magnitude(dtype))
    structure = structure or draw(st.sampled_from(["random", "random", "collapsed", "zero_row", "rank1"]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 16)))
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    if structure == "collapsed" and len(shape) >= 2:
        x = x[:1].expand(shape).clone()
    elif structure == "zero_row" and len(shape) >= 2:
        x[0] = 0
    elif structure == "rank1" and len(shape) == 2:
        x = torch.randn(shape[0], 1, generator=g, dtype=torch.float64) * torch.randn(1, shape[1], generator=g,
                                                                                       dtype=torch.float64)
    note(f"tensor {tuple(shape)} {dtype} x{scale:g} {structure}")
    return (x * scale).to(dtype)


def tensor_corruptions(x: torch.Tensor, scores: bool = False) -> list:
    """Bad versions of a floating tensor argument: another kind (TypeError) or a bad value (ValueError).
    ``scores``: a similarity or logit matrix, where -inf is allowed (it masks a candidate out)."""
    bad = [x.tolist(), x.double().numpy(), None, "x", x.long(), x.bool(), x[..., :0]]
    if x.ndim == 2:
        bad.append(x[0])  # one dimension fewer ((N, M, D) negatives lose one and are valid shared ones)
    bad.append(x[None])  # one dimension more
    for v in (NAN, INF) if scores else (NAN, INF, -INF):
        y = x.clone()
        y.view(-1)[0] = v
        bad.append(y)
    return bad


def label_corruptions(y: torch.Tensor) -> list:
    return [y.tolist(), y.float(), y.bool(), y[:-1], y[None], None]


# --- the contract ------------------------------------------------------------------------------

def finite(value) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value).all()) if value.is_floating_point() else True
    if isinstance(value, np.ndarray):
        return bool(np.isfinite(value).all()) if value.dtype.kind == "f" else True
    if isinstance(value, (bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return all(finite(v) for v in value)
    if is_dataclass(value):
        return all(finite(getattr(value, f.name)) for f in fields(value))
    return True  # an object (a sampler, a module): its own checks run in the caller's ``check``


def expect(spec: Spec, call: Call, bad: str | None):
    """Run ``call`` and hold it to the contract; ``bad`` is the corrupted argument (None: a valid call)."""
    try:
        result = call.run(spec.fn)
    except (ValueError, TypeError) as error:
        if bad is None:
            raise AssertionError(f"{spec.name}: a valid call was refused: {type(error).__name__}: {error}") from error
        names = {bad, *call.group.get(bad, ())}
        assert any(n in str(error) for n in names), \
            f"{spec.name}: the {type(error).__name__} for a bad {bad} names none of {sorted(names)}: {error}"
        OUTCOMES[spec.name, "invalid"] += 1
        event(f"{spec.name}: refused")
        return None
    if bad is not None:
        raise AssertionError(f"{spec.name}: a bad {bad}={_short(call.args[bad])} was accepted, returned {_short(result)}")
    assert finite(result), f"{spec.name}: a valid call returned a non-finite result {_short(result)}"
    if spec.check is not None:
        spec.check(call, result)
    OUTCOMES[spec.name, "valid"] += 1
    event(f"{spec.name}: valid")
    return result


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:197] + "..."


def draw_call(draw, spec: Spec) -> tuple[Call, str | None]:
    """A valid call, or (half of the time) the same call with one argument corrupted."""
    call = draw(spec.make)
    names = sorted(spec.corrupt)
    if not names or not draw(st.booleans()):
        return call, None
    bad = draw(st.sampled_from(names))
    kind = spec.corrupt[bad]
    value = call.args.get(bad)
    if kind in ("tensor", "optional_tensor", "scores"):
        options = [v for v in tensor_corruptions(value, scores=kind == "scores")
                   if not (v is None and kind == "optional_tensor")]
    elif kind in ("labels", "optional_labels"):
        options = [v for v in label_corruptions(value) if not (v is None and kind == "optional_labels")]
    elif isinstance(kind, list):
        options = kind
    else:
        options = BAD[kind]
    call.args[bad] = draw(st.sampled_from(options))
    note(f"corrupted {bad} -> {_short(call.args[bad])}")
    return call, bad
