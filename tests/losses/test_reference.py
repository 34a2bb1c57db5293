"""Every vectorised loss equals its plain-loop float64 reference to 1e-10."""

import math

import pytest
import torch

import contrastlab.losses as L

from . import reference as R
from .cases import BY_NAME, CASES, make_inputs


def assert_close_to_reference(value, expected, tol=1e-10):
    value = float(value)
    assert math.isfinite(value)
    assert abs(value - expected) <= tol * max(1.0, abs(expected)), f"got {value!r}, reference {expected!r}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("n, d, seed", [(2, 3, 0), (5, 4, 1), (9, 16, 2)])
def test_matches_float64_reference(case, n, d, seed):
    inputs = make_inputs(case, n, d, seed=seed)
    value = case.loss(*inputs, **case.kwargs)
    assert value.dtype == torch.float64
    assert_close_to_reference(value, case.reference(*inputs, **case.kwargs))


@pytest.mark.parametrize("temperature", [0.05, 0.3, 2.0])
@pytest.mark.parametrize("name", ["info_nce", "info_nce_symmetric", "info_nce_shared_negatives",
                                  "info_nce_per_query_negatives", "nt_xent", "decoupled_nt_xent", "supcon"])
def test_matches_reference_across_temperatures(name, temperature):
    case = BY_NAME[name]
    inputs = make_inputs(case, 7, 8, seed=3)
    kwargs = {**case.kwargs, "temperature": temperature}
    assert_close_to_reference(case.loss(*inputs, **kwargs), case.reference(*inputs, **kwargs))


@pytest.mark.parametrize("loss, reference", [(L.debiased_nt_xent, R.debiased_nt_xent),
                                             (L.hard_negative_nt_xent, R.hard_negative_nt_xent)])
@pytest.mark.parametrize("temperature, tau_plus", [(0.1, 0.0), (0.1, 0.05), (0.5, 0.1), (1.0, 0.3), (1.0, 0.9)])
def test_debiased_family_matches_reference_including_the_clamp(loss, reference, temperature, tau_plus):
    # Nearly identical views make the positive dominate, so large tau_plus drives the estimate
    # below its floor: both branches of the clamp are exercised.
    g = torch.Generator().manual_seed(4)
    z1 = torch.randn(6, 5, generator=g, dtype=torch.float64)
    z2 = z1 + 0.1 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    kwargs = {"temperature": temperature, "tau_plus": tau_plus}
    assert_close_to_reference(loss(z1, z2, **kwargs), reference(z1, z2, **kwargs))


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 3.0])
def test_hard_negative_matches_reference_across_beta(beta):
    z1, z2 = make_inputs(BY_NAME["nt_xent"], 8, 6, seed=5)
    kwargs = {"temperature": 0.3, "tau_plus": 0.1, "beta": beta}
    assert_close_to_reference(L.hard_negative_nt_xent(z1, z2, **kwargs), R.hard_negative_nt_xent(z1, z2, **kwargs))


def test_clamp_case_really_reaches_the_floor():
    """The near-identical views above drive some anchors to the clamp and leave others above it."""
    from contrastlab.losses.core import masked_logsumexp
    from contrastlab.losses.debiased import debiased_log_negatives, _two_view_parts

    g = torch.Generator().manual_seed(4)
    z1 = torch.randn(6, 5, generator=g, dtype=torch.float64)
    z2 = z1 + 0.1 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    logits, positive, negatives = _two_view_parts(z1, z2, 0.5)
    log_ng = debiased_log_negatives(masked_logsumexp(logits, negatives), positive, n_neg=10, tau_plus=0.1,
                                    temperature=0.5)
    floor = math.log(10) - 1 / 0.5
    clamped = (log_ng == floor)
    assert 0 < int(clamped.sum()) < len(clamped), log_ng


@pytest.mark.parametrize("alpha", [1.5, 2, 3])
def test_alignment_exponent(alpha):
    x, y = make_inputs(BY_NAME["alignment"], 5, 3, seed=6)
    assert_close_to_reference(L.alignment(x, y, alpha=alpha), R.alignment(x, y, alpha=alpha))


@pytest.mark.parametrize("t", [0.5, 2, 5])
def test_uniformity_scale(t):
    (x,) = make_inputs(BY_NAME["uniformity"], 7, 3, seed=7)
    assert_close_to_reference(L.uniformity(x, t=t), R.uniformity(x, t=t))


def test_supcon_with_singleton_classes_leaves_those_anchors_out():
    g = torch.Generator().manual_seed(8)
    features = torch.randn(5, 1, 4, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 2, 2])  # label 1 has no positive with one view
    assert_close_to_reference(L.supcon(features, labels), R.supcon(features, labels))
    with_singleton = float(L.supcon(features, labels))
    keep = torch.tensor([0, 1, 3, 4])
    assert with_singleton != pytest.approx(float(L.supcon(features[keep], labels[keep])))  # it stays a negative


def test_supcon_three_views():
    g = torch.Generator().manual_seed(9)
    features = torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    labels = torch.tensor([3, 1, 3, 7])
    assert_close_to_reference(L.supcon(features, labels, temperature=0.2), R.supcon(features, labels, temperature=0.2))
