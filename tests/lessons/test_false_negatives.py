"""False-negative filtering (contrastlab.lessons.false_negatives): masks, the filtered loss and the filter's scores."""

import math

import numpy as np
import pytest
import torch

import contrastlab.losses as L
from contrastlab.lessons.false_negatives import FilterQuality, filter_quality, threshold_sweep
from contrastlab.losses import false_negative_mask, filtered_nt_xent


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def reference_filtered(z1, z2, tau, drop):
    """Plain float64 numpy loop: NT-Xent over the positive and the negatives not in ``drop``."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n2 = len(z)
    n = n2 // 2
    losses = []
    for a in range(n2):
        pos = (a + n) % n2
        terms = [z[a] @ z[pos] / tau] + [z[a] @ z[k] / tau for k in range(n2)
                                         if k not in (a, pos) and not drop[a][k]]
        m = max(terms)
        losses.append(m + math.log(sum(math.exp(t - m) for t in terms)) - z[a] @ z[pos] / tau)
    return float(np.mean(losses))


def test_no_filter_is_nt_xent(device):
    z1, z2 = randn(16, 8, seed=1).to(device), randn(16, 8, seed=2).to(device)
    got = filtered_nt_xent(z1, z2, temperature=0.3)
    torch.testing.assert_close(got, L.nt_xent(z1, z2, temperature=0.3), rtol=1e-5, atol=1e-6)


def test_cluster_ids_equal_to_labels_is_the_oracle(device):
    z1, z2 = randn(24, 8, seed=3).to(device), randn(24, 8, seed=4).to(device)
    y = torch.arange(24, device=device) % 3
    got = filtered_nt_xent(z1, z2, temperature=0.2, cluster_ids=y)
    torch.testing.assert_close(got, L.oracle_nt_xent(z1, z2, y, temperature=0.2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [2, 7, 33])
@pytest.mark.parametrize("threshold", [-1.0, 0.0, 0.3, 1.0])
def test_threshold_filter_matches_numpy_reference(n, threshold):
    z1, z2 = randn(n, 5, seed=n, dtype=torch.float64), randn(n, 5, seed=n + 1, dtype=torch.float64)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    drop = (z @ z.T >= threshold).numpy()
    got = filtered_nt_xent(z1, z2, temperature=0.25, threshold=threshold)
    assert got.dtype == torch.float64
    expected = reference_filtered(z1.numpy(), z2.numpy(), 0.25, drop)
    assert math.isclose(float(got), expected, rel_tol=1e-10, abs_tol=1e-12)


def test_reference_embeddings_decide_the_threshold():
    z1, z2 = randn(10, 6, seed=5), randn(10, 6, seed=6)
    reference = randn(20, 3, seed=7)
    r = torch.nn.functional.normalize(reference, dim=1)
    expected_drop = (r @ r.T >= 0.2).numpy()
    got = filtered_nt_xent(z1, z2, temperature=0.5, threshold=0.2, reference=reference)
    assert math.isclose(float(got), reference_filtered(z1.numpy(), z2.numpy(), 0.5, expected_drop), rel_tol=1e-5)


def test_mask_never_drops_self_or_positive_and_threshold_minus_one_drops_every_negative():
    z1, z2 = randn(6, 4, seed=8), randn(6, 4, seed=9)
    drop = false_negative_mask(z1, z2, threshold=-1.0)
    assert drop.shape == (12, 12)
    assert int(drop.sum()) == 12 * 10  # every one of the 2N-2 negatives of every anchor
    idx = torch.arange(12)
    assert not drop[idx, idx].any() and not drop[idx, (idx + 6) % 12].any()
    # with every negative dropped each anchor has only its positive: the loss is exactly 0
    assert float(filtered_nt_xent(z1, z2, threshold=-1.0)) == 0.0


def test_filters_combine_as_a_union():
    z1, z2 = randn(8, 4, seed=10), randn(8, 4, seed=11)
    ids = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    both = false_negative_mask(z1, z2, threshold=0.4, cluster_ids=ids)
    assert torch.equal(both, false_negative_mask(z1, z2, threshold=0.4) | false_negative_mask(z1, z2, cluster_ids=ids))


def test_gradients_flow_and_gradcheck():
    z1 = randn(5, 3, seed=12, dtype=torch.float64).requires_grad_()
    z2 = randn(5, 3, seed=13, dtype=torch.float64).requires_grad_()
    ids = torch.tensor([0, 1, 0, 1, 2])
    assert torch.autograd.gradcheck(lambda a, b: filtered_nt_xent(a, b, temperature=0.5, cluster_ids=ids), (z1, z2))
    # the threshold decision is made on detached similarities; away from the boundary the loss is smooth
    assert torch.autograd.gradcheck(lambda a, b: filtered_nt_xent(a, b, temperature=0.5, threshold=0.95), (z1, z2))


def test_small_temperature_is_finite_and_inputs_untouched():
    z1, z2 = randn(32, 16, seed=14), randn(32, 16, seed=15)
    before = z1.clone()
    loss = filtered_nt_xent(z1, z2, temperature=0.005, threshold=0.5)
    assert torch.isfinite(loss)
    assert torch.equal(z1, before)


def test_half_precision_inputs_compute_in_float32():
    z1, z2 = randn(8, 4, seed=16).half(), randn(8, 4, seed=17).half()
    loss = filtered_nt_xent(z1, z2, threshold=0.5)
    assert loss.dtype == torch.float32


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature=0.0), "temperature"),
    (dict(threshold=1.5), "threshold"),
    (dict(cluster_ids=torch.zeros(3, dtype=torch.long)), "cluster_ids"),
    (dict(cluster_ids=torch.zeros(4)), "cluster_ids"),
    (dict(threshold=0.5, reference=torch.zeros(5, 2)), "reference"),
])
def test_validation(kwargs, match):
    z1, z2 = randn(4, 3, seed=18), randn(4, 3, seed=19)
    with pytest.raises((ValueError, TypeError), match=match):
        filtered_nt_xent(z1, z2, **kwargs)


def test_filter_quality_counts_by_hand():
    labels = torch.tensor([0, 0, 1, 1])
    # negatives of each anchor: 3 (diagonal is the positive); same-label pairs off the diagonal: 4
    removed = torch.zeros(4, 4, dtype=torch.bool)
    removed[0, 1] = True  # a false negative (both label 0): a hit
    removed[0, 2] = True  # a true negative: a cost
    removed[3, 3] = True  # the diagonal: ignored
    q = filter_quality(removed, labels)
    assert (q.removed, q.false_negatives_removed, q.false_negatives) == (2, 1, 4)
    assert (q.true_negatives_removed, q.true_negatives) == (1, 8)
    assert q.precision == 0.5 and q.recall == 0.25 and q.true_negative_loss == 1 / 8


def test_threshold_sweep_is_monotone_and_hits_the_ends():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (64,), generator=g)
    sim = torch.nn.functional.normalize(randn(64, 8, seed=20) + 2 * torch.eye(4)[labels].repeat(1, 2), dim=1)
    similarity = sim @ sim.T
    curve = threshold_sweep(similarity, labels, np.linspace(-1, 1, 9))
    assert all(isinstance(q, FilterQuality) for q in curve)
    recalls = [q.recall for q in curve]
    assert recalls == sorted(recalls, reverse=True)  # a higher threshold drops fewer negatives
    assert curve[0].recall == 1.0 and curve[0].true_negative_loss == 1.0  # t = -1 drops everything
    nothing = threshold_sweep(similarity.clamp(max=0.99), labels, [1.0])[0]  # no pair reaches t = 1
    assert nothing.removed == 0 and nothing.recall == 0.0 and math.isnan(nothing.precision)


def test_filter_quality_rectangular_needs_candidate_labels():
    with pytest.raises(ValueError, match="candidate_labels"):
        filter_quality(torch.zeros(3, 5, dtype=torch.bool), torch.zeros(3, dtype=torch.long))
    q = filter_quality(torch.ones(2, 3, dtype=torch.bool), torch.tensor([0, 1]), torch.tensor([0, 0, 1]))
    assert (q.false_negatives, q.true_negatives, q.removed) == (3, 3, 6)


def test_debiased_negative_term_reproduces_both_losses():
    from contrastlab.lessons.false_negatives import debiased_negative_term

    z1, z2 = randn(12, 6, seed=21), randn(12, 6, seed=22)
    y = torch.arange(12) % 3
    term = debiased_negative_term(z1, z2, y, temperature=0.5, tau_plus=0.2)
    softplus = torch.nn.functional.softplus
    torch.testing.assert_close(softplus(term.log_estimate - term.positive).mean(),
                               L.debiased_nt_xent(z1, z2, temperature=0.5, tau_plus=0.2), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(softplus(term.log_random - term.positive).mean(),
                               L.nt_xent(z1, z2, temperature=0.5), rtol=1e-5, atol=1e-6)


def test_debiased_negative_term_truth_and_clamp_by_hand():
    from contrastlab.lessons.false_negatives import debiased_negative_term

    z1, z2 = randn(6, 4, seed=23, dtype=torch.float64), randn(6, 4, seed=24, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    term = debiased_negative_term(z1, z2, y, temperature=0.4, tau_plus=0.3)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1).numpy()
    yy = np.concatenate([y.numpy(), y.numpy()])
    n_neg = 10
    for a in range(12):
        true = [k for k in range(12) if k not in (a, (a + 6) % 12) and yy[k] != yy[a]]
        truth = n_neg * np.mean([np.exp(z[a] @ z[k] / 0.4) for k in true])
        assert math.isclose(float(term.log_truth[a]), math.log(truth), rel_tol=1e-10)
        pos = np.exp(z[a] @ z[(a + 6) % 12] / 0.4)
        total = sum(np.exp(z[a] @ z[k] / 0.4) for k in range(12) if k not in (a, (a + 6) % 12))
        raw = (total - 0.3 * n_neg * pos) / 0.7
        floor = n_neg * math.exp(-1 / 0.4)
        assert bool(term.clamped[a]) == (raw <= floor)
        assert math.isclose(float(term.log_estimate[a]), math.log(max(raw, floor)), rel_tol=1e-9)
    # an anchor whose negatives all share its class has no true negative
    single = debiased_negative_term(z1[:2], z2[:2], torch.tensor([0, 0]), temperature=0.4, tau_plus=0.3)
    assert torch.isnan(single.log_truth).all()
