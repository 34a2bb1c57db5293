"""contrastlab.stats: the Student-t interval over seeds, against scipy's own interval and by hand."""

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from contrastlab.stats import Interval, mean_interval, paired, slope


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


# ---------------------------------------------------------------------------------------- planning the seeds

def test_half_width_is_what_mean_interval_prints():
    import numpy as np

    from contrastlab.stats import expected_half_width
    from contrastlab.stats import mean_interval

    x = np.random.default_rng(0).normal(0.02, 0.017, size=12)
    iv = mean_interval(x)
    assert expected_half_width(float(x.std(ddof=1)), 12) == pytest.approx((iv.high - iv.low) / 2, rel=1e-12)
    assert expected_half_width(0.017, 10) == pytest.approx(2.2622 * 0.017 / 10**0.5, rel=1e-4)  # t(9) from a table


def test_power_matches_a_simulation_of_the_verdict():
    import numpy as np

    from contrastlab.stats import interval_power
    from scipy import stats

    rng = np.random.default_rng(1)
    for mean, sd, n in ((0.016, 0.015, 12), (0.02, 0.017, 5), (0.01, 0.02, 8)):
        x = rng.normal(mean, sd, size=(40_000, n))  # 40 000 simulated experiments of n seeds
        low = x.mean(1) - stats.t.ppf(0.975, n - 1) * x.std(1, ddof=1) / np.sqrt(n)
        assert interval_power(mean, sd, n) == pytest.approx((low > 0).mean(), abs=0.01)


def test_seeds_needed_is_the_smallest_n_reaching_the_power():
    from contrastlab.stats import interval_power, seeds_needed

    n = seeds_needed(0.0163, 0.0151, power=0.9)
    assert interval_power(0.0163, 0.0151, n) >= 0.9 > interval_power(0.0163, 0.0151, n - 1)
    assert seeds_needed(0.05, 0.001) == 2  # a huge effect needs the minimum
    with pytest.raises(ValueError, match="max_seeds"):
        seeds_needed(0.001, 1.0, max_seeds=20)


def test_power_validation_names_the_argument():
    from contrastlab.stats import expected_half_width, interval_power, seeds_needed

    with pytest.raises(ValueError, match="^n must be an integer >= 2, got 1"):
        interval_power(0.02, 0.017, 1)
    with pytest.raises(ValueError, match="^sd"):
        interval_power(0.02, 0.0, 5)
    with pytest.raises(ValueError, match="^level"):
        expected_half_width(0.017, 5, level=95)
    with pytest.raises(ValueError, match="^power"):
        seeds_needed(0.02, 0.017, power=90)
    with pytest.raises(TypeError, match="^mean"):
        interval_power("0.02", 0.017, 5)


def test_slope_recovers_a_line_and_refuses_what_has_none():
    x = np.log10([0.07, 0.15, 0.4, 1.0])
    assert slope(x, 2.5 * x - 1.0) == pytest.approx(2.5, rel=1e-12)
    assert slope(x, np.polyval([0.7, 0.1], x) + [0.01, -0.02, 0.0, 0.01]) == pytest.approx(
        np.polyfit(x, np.polyval([0.7, 0.1], x) + [0.01, -0.02, 0.0, 0.01], 1)[0], rel=1e-12)
    for bad, match in (([1.0, 1.0], "distinct"), ([1.0, 2.0, 3.0], "shapes"), ([1.0, float("nan")], "non-finite")):
        with pytest.raises(ValueError, match=match):
            slope(bad, [0.0, 1.0])
