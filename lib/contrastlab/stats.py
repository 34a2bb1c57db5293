r"""Intervals over seeds: the one home of the kit's Student-t interval.

A seed fixes a run's data, initialisation and batches; the seeds of an experiment are a small
sample of what could have happened, so every effect the kit reports comes with the 95% interval
of its mean over seeds:

.. math:: \bar x \pm t_{0.975,\,n-1}\; s/\sqrt{n},\qquad s^2 = \tfrac{1}{n-1}\sum_s (x_s - \bar x)^2

Paired effects (arm A minus arm B on the same seed) go through ``paired`` first: what makes one
seed's runs all better or all worse cancels in the difference, so its interval is narrower than
either arm's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

__all__ = ["Interval", "mean_interval", "paired"]


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
    from scipy import stats

    if not isinstance(level, float) or not 0 < level < 1:
        raise ValueError(f"level: got {level!r}, expected a float in (0, 1) such as 0.95")
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
    half = float(stats.t.ppf((1 + level) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return Interval(mean, mean - half, mean + half, int(v.size), level)


def paired(a: Iterable[float], b: Iterable[float]) -> np.ndarray:
    """Seed-by-seed differences ``a[s] - b[s]`` (float64, shape (n,)); a and b list the same seeds in
    the same order. Raises ValueError when their lengths differ."""
    a = np.asarray(list(a), dtype=np.float64)
    b = np.asarray(list(b), dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a, b: got shapes {a.shape} and {b.shape}, expected two equal 1-d sequences "
                         "(one value per seed, the same seeds in the same order)")
    return a - b
