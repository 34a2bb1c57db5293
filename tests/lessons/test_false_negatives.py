"""False-negative filtering (contrastlab.lessons.false_negatives): masks, the filtered loss and the filter's scores."""

import math

import numpy as np
import pytest
import torch

import contrastlab.losses as L
from contrastlab.lessons.false_negatives import FilterQuality, filter_quality, threshold_sweep


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


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
