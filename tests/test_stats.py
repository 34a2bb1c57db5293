"""contrastlab.stats: the Student-t interval over seeds, against scipy's own interval and by hand."""

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from contrastlab.stats import Interval, mean_interval, paired


def test_mean_interval_matches_scipy():
    values = [0.61, 0.58, 0.66, 0.63, 0.59]
    got = mean_interval(values)
    low, high = sps.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sps.sem(values))
    assert got.n == 5 and math.isclose(got.mean, np.mean(values))
    assert math.isclose(got.low, low, rel_tol=1e-12) and math.isclose(got.high, high, rel_tol=1e-12)


def test_two_values_by_hand():
    got = mean_interval([1.0, 3.0])  # mean 2, s = sqrt(2), t_{0.975,1} = 12.706...
    half = 12.706204736174707 * math.sqrt(2) / math.sqrt(2)
    assert math.isclose(got.half_width, half, rel_tol=1e-9)
    assert got.excludes(-20.0) and not got.excludes(0.0)


def test_one_value_has_no_interval():
    got = mean_interval(torch.tensor([0.5]))
    assert got.n == 1 and math.isnan(got.low) and not got.excludes(0.0)
    assert "no interval" in str(got)


def test_level_changes_width():
    v = [0.1, 0.3, 0.2, 0.25]
    assert mean_interval(v, level=0.99).half_width > mean_interval(v).half_width > mean_interval(v, level=0.5).half_width


@pytest.mark.parametrize("bad, match", [([], "got none"), ([1.0, float("nan")], "non-finite"),
                                        (["a"], "expected numbers")])
def test_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        mean_interval(bad)


@pytest.mark.parametrize("level", [0, 1.0, 95, "0.95"])
def test_bad_level(level):
    with pytest.raises(ValueError, match="level"):
        mean_interval([1.0, 2.0], level=level)


def test_paired():
    assert paired([3, 2], [1, 1]).tolist() == [2.0, 1.0]
    with pytest.raises(ValueError, match="expected two equal 1-d sequences"):
        paired([1, 2, 3], [1, 2])


def test_interval_str():
    assert str(Interval(0.5, 0.25, 0.75, 3)) == "+0.5 [+0.25, +0.75]"
