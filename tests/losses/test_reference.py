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
                                  "info_nce_per_query_negatives", "nt_xent", "decoupled_nt_xent", "supcon",
                                  "filtered_nt_xent_threshold", "filtered_nt_xent_clusters_and_threshold"])
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
    g = torch.Generator().manual_seed(4)
    z1 = torch.randn(6, 5, generator=g, dtype=torch.float64)
    z2 = z1 + 0.1 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    negatives, positive = L.negative_logits(z1, z2, 0.5)  # (12, 12) with -inf off the negatives, (12,)
    log_ng = L.debiased_log_negatives(torch.logsumexp(negatives, dim=1), positive, n_neg=10, tau_plus=0.1,
                                      temperature=0.5)
    floor = math.log(10) - 1 / 0.5
    clamped = (log_ng == floor)
    assert 0 < int(clamped.sum()) < len(clamped), log_ng


@pytest.mark.parametrize("scale", [0.5, 1 / 0.07, 100.0])
@pytest.mark.parametrize("m", [1, 20])
def test_clip_loss_with_negatives_across_scales_and_negative_counts(scale, m):
    g = torch.Generator().manual_seed(10)
    a, b = torch.randn(2, 7, 6, generator=g, dtype=torch.float64)
    negatives = torch.randn(m, 6, generator=g, dtype=torch.float64)
    assert_close_to_reference(L.clip_loss_with_negatives(a, b, negatives, logit_scale=scale),
                              R.clip_loss_with_negatives(a, b, negatives, logit_scale=scale))


@pytest.mark.parametrize("threshold", [-1.0, -0.2, 0.0, 0.4, 1.0])
def test_filtered_nt_xent_with_a_reference_model(threshold):
    """The threshold is decided on the (2N, D') embeddings of another model, not on z1, z2."""
    g = torch.Generator().manual_seed(11)
    z1, z2 = torch.randn(2, 7, 5, generator=g, dtype=torch.float64)
    reference = torch.randn(14, 3, generator=g, dtype=torch.float64)
    kwargs = {"temperature": 0.2, "threshold": threshold, "reference": reference}
    assert_close_to_reference(L.filtered_nt_xent(z1, z2, **kwargs), R.filtered_nt_xent(z1, z2, **kwargs))
    ids = torch.tensor([0, 1, 2, 0, 1, 2, 3])
    assert_close_to_reference(L.filtered_nt_xent(z1, z2, cluster_ids=ids, **kwargs),
                              R.filtered_nt_xent(z1, z2, cluster_ids=ids, **kwargs))


def test_false_negative_mask_is_the_references_filter():
    """Mask entry (a, k) is True exactly where the reference leaves negative k of anchor a out."""
    g = torch.Generator().manual_seed(12)
    z1, z2 = torch.randn(2, 6, 4, generator=g, dtype=torch.float64)
    ids = torch.tensor([0, 0, 1, 2, 2, 3])
    drop = L.false_negative_mask(z1, z2, threshold=0.3, cluster_ids=ids)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    c = ids.repeat(2)
    for a in range(12):
        for k in range(12):
            negative = k not in (a, (a + 6) % 12)
            expected = negative and (float(z[a] @ z[k]) >= 0.3 or int(c[a]) == int(c[k]))
            assert bool(drop[a, k]) == expected, (a, k)


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
