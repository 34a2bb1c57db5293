r"""Intervals over seeds: the one home of the kit's Student-t interval.

A seed fixes a run's data, initialisation and batches; the seeds of an experiment are a small
sample of what could have happened, so every effect the kit reports comes with the 95% interval
of its mean over seeds:

.. math:: \bar x \pm t_{0.975,\,n-1}\; s/\sqrt{n},\qquad s^2 = \tfrac{1}{n-1}\sum_s (x_s - \bar x)^2

Paired effects (arm A minus arm B on the same seed) go through ``paired`` first: what makes one
seed's runs all better or all worse cancels in the difference, so its interval is narrower than
either arm's. Before the runs, ``expected_half_width``, ``interval_power`` and ``seeds_needed`` plan
how many seeds that interval needs; ``slope`` is the per-seed least-squares slope that a sweep's
effect is often summarised by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from . import validation as check

__all__ = ["Interval", "mean_interval", "paired", "slope", "expected_half_width", "interval_power", "seeds_needed"]


@dataclass(frozen=True)
class Interval:
    """The mean of ``n`` values and the ends of its two-sided ``level`` Student-t interval
    (``low`` and ``high`` are NaN for n < 2: one value has no spread to measure)."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes(self, value: float) -> bool:
        """True when the whole interval lies strictly on one side of ``value`` (False for n < 2)."""
        return self.n >= 2 and (self.low > value or self.high < value)

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.mean:+.4g} (n = {self.n}, no interval)"
        return f"{self.mean:+.4g} [{self.low:+.4g}, {self.high:+.4g}]"


def mean_interval(values: Iterable[float], *, level: float = 0.95) -> Interval:
    """The mean of ``values`` (one per seed) and its Student-t interval at ``level``.

    Args:
        values: finite numbers, one per seed (a list, a NumPy array or a 1-d tensor).
        level: the interval's coverage, in (0, 1).
    Raises: ValueError for no values, a non-finite value or a level outside (0, 1).
    """
    _check_level(level)
    try:
        v = np.asarray([float(x) for x in values], dtype=np.float64)  # (n,)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"values: expected numbers, one per seed, got {values!r} ({exc})") from None
    if v.size == 0:
        raise ValueError("values: got none, expected at least one number (one per seed)")
    if not np.isfinite(v).all():
        raise ValueError(f"values: got a non-finite value in {v.tolist()}; a diverged run is not an effect")
    mean = float(v.mean())
    if v.size < 2:
        return Interval(mean, math.nan, math.nan, 1, level)
    half = _critical(level, v.size) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return Interval(mean, mean - half, mean + half, int(v.size), level)


def _check_level(level: object) -> float:
    if not isinstance(level, float) or not 0 < level < 1:
        raise ValueError(f"level: got {level!r}, expected a float in (0, 1) such as 0.95")
    return level


def _critical(level: float, n: int) -> float:
    """t_{(1+level)/2, n-1}: the quantile that scales s/sqrt(n) into the interval's half-width."""
    from scipy import stats

    return float(stats.t.ppf((1 + level) / 2, n - 1))


def paired(a: Iterable[float], b: Iterable[float]) -> np.ndarray:
    """Seed-by-seed differences ``a[s] - b[s]`` (float64, shape (n,)); a and b list the same seeds in
    the same order. Raises ValueError when their lengths differ."""
    a = np.asarray(list(a), dtype=np.float64)
    b = np.asarray(list(b), dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a, b: got shapes {a.shape} and {b.shape}, expected two equal 1-d sequences "
                         "(one value per seed, the same seeds in the same order)")
    return a - b


def slope(x: Iterable[float], y: Iterable[float]) -> float:
    r"""The least-squares slope of ``y`` against ``x``:
    :math:`b = \sum_k (x_k - \bar x)(y_k - \bar y) / \sum_k (x_k - \bar x)^2`.

    Pass ``np.log10(taus)`` or ``np.log(taus)`` as ``x`` for a slope per decade or per factor e of τ.
    Args: x, y: (n,) finite numbers, n >= 2, with at least two distinct x.
    Raises: ValueError for unequal lengths, fewer than two distinct x, or a non-finite value.
    """
    x = np.asarray(list(x), dtype=np.float64)
    y = np.asarray(list(y), dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x, y: got shapes {x.shape} and {y.shape}, expected two equal 1-d sequences")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f"x, y: got a non-finite value in {x.tolist()} / {y.tolist()}")
    if len(np.unique(x)) < 2:
        raise ValueError(f"x: got {x.tolist()}, expected at least two distinct values for a slope")
    dx = x - x.mean()  # (n,)
    return float((dx * (y - y.mean())).sum() / (dx * dx).sum())


def _seeds(n: object) -> int:
    return check.integer("n", n, 2)


def expected_half_width(sd: float, n: int, *, level: float = 0.95) -> float:
    """Half-width t_{(1+level)/2, n-1} * sd / sqrt(n) of the Student-t interval of the mean of n
    per-seed effects whose standard deviation is ``sd`` (what ``mean_interval`` would print).

    Args: sd: the per-seed standard deviation (>= 0), e.g. a pilot's; n: seeds (>= 2); level in (0, 1).
    """
    sd = check.number("sd", sd, low=0.0)
    n, level = _seeds(n), _check_level(level)
    return _critical(level, n) * sd / math.sqrt(n)


def interval_power(mean: float, sd: float, n: int, *, level: float = 0.95) -> float:
    """The probability that the interval of n per-seed effects drawn from N(mean, sd^2) lies entirely
    above 0: P(T' > t_{(1+level)/2, n-1}) with T' noncentral t, n - 1 degrees of freedom and
    noncentrality mean * sqrt(n) / sd (a positive ``mean``; use |mean| for a negative claim).

    Args: mean: the true mean effect (> 0); sd: its per-seed standard deviation (> 0); n: seeds (>= 2);
        level in (0, 1).
    """
    from scipy import stats

    mean = check.number("mean", mean, low=0.0, low_open=True)
    sd = check.number("sd", sd, low=0.0, low_open=True)
    n, level = _seeds(n), _check_level(level)
    return float(stats.nct.sf(_critical(level, n), n - 1, mean * math.sqrt(n) / sd))


def seeds_needed(mean: float, sd: float, *, power: float = 0.9, level: float = 0.95, max_seeds: int = 1000) -> int:
    """The smallest n (2 <= n <= max_seeds) with ``interval_power(mean, sd, n, level=level) >= power``.

    Raises ValueError when even max_seeds seeds do not reach ``power``.
    """
    power = check.number("power", power, low=0.0, high=1.0, low_open=True, high_open=True)
    max_seeds = check.integer("max_seeds", max_seeds, 2)
    for n in range(2, max_seeds + 1):
        if interval_power(mean, sd, n, level=level) >= power:
            return n
    raise ValueError(f"max_seeds: got {max_seeds}, but even that many seeds give power "
                     f"{interval_power(mean, sd, max_seeds, level=level):.3f} < {power} for mean {mean}, sd {sd}")
