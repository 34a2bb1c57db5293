"""Lesson 06 helpers (contrastlab.lessons.false_negatives): filter scores, the debiased estimate, the clamp rate and the reproduction's arms."""

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


# --- the reproduction's helpers: clamp rate, recovered share, one arm ------------------------------

def clamp_rate_reference(z1, z2, temperature, tau_plus):
    """Float64 loop over anchors, written from Chuang et al.'s formula."""
    z = torch.nn.functional.normalize(torch.cat([z1, z2]).double(), dim=1).numpy()
    b, n_neg = len(z1), 2 * len(z1) - 2
    clamped = 0
    for a in range(2 * b):
        pos = np.exp(z[a] @ z[(a + b) % (2 * b)] / temperature)
        total = sum(np.exp(z[a] @ z[k] / temperature) for k in range(2 * b) if k not in (a, (a + b) % (2 * b)))
        clamped += (total - tau_plus * n_neg * pos) / (1 - tau_plus) <= n_neg * math.exp(-1 / temperature)
    return clamped / (2 * b)


@pytest.mark.parametrize("tau_plus", [0.0, 0.1, 0.3, 0.6])
def test_clamp_rate_matches_a_loop_reference(tau_plus):
    from contrastlab.lessons.false_negatives import clamp_rate

    z1 = randn(16, 5, seed=30)
    z2 = z1 + 0.4 * randn(16, 5, seed=31)  # related views: close positives, so large tau_plus clamps
    got = clamp_rate(z1, z2, temperature=0.5, tau_plus=tau_plus)
    assert got == pytest.approx(clamp_rate_reference(z1, z2, 0.5, tau_plus), abs=1e-12)
    if tau_plus == 0.0:
        assert got == 0.0  # the plain negative sum never reaches the floor
    if tau_plus == 0.6:
        assert got > 0.5  # the reference case is not a trivial zero


def test_clamp_rate_rises_with_tau_plus_and_refuses_bad_arguments():
    from contrastlab.lessons.false_negatives import clamp_rate

    z1 = randn(32, 8, seed=32)
    z2 = z1 + 0.5 * randn(32, 8, seed=33)
    rates = [clamp_rate(z1, z2, temperature=0.5, tau_plus=t) for t in (0.0, 0.2, 0.4, 0.6, 0.8)]
    assert rates == sorted(rates) and rates[-1] > rates[0]
    with pytest.raises(ValueError, match="tau_plus"):
        clamp_rate(z1, z2, tau_plus=1.0)
    with pytest.raises(ValueError, match="temperature"):
        clamp_rate(z1, z2, temperature=0.0)


def test_recovered_share_closed_forms_and_errors():
    from contrastlab.lessons.false_negatives import recovered_share

    share = recovered_share([0.8, 0.8], [0.85, 0.9], [0.9, 0.9])
    np.testing.assert_allclose(share, [0.5, 1.0])
    # the denominator is the mean gap (0.15), not each seed's own gap
    np.testing.assert_allclose(recovered_share([0.8, 0.8], [0.83, 0.83], [0.9, 1.0]), [0.2, 0.2])
    np.testing.assert_allclose(recovered_share([0.7], [0.65], [0.8]), [-0.5])  # worse than plain
    with pytest.raises(ValueError, match="debiased"):
        recovered_share([0.8, 0.8], [0.8], [0.9, 0.9])
    with pytest.raises(ValueError, match="oracle"):
        recovered_share([0.8, 0.9], [0.85, 0.9], [0.8, 0.85])  # no gap to recover
    with pytest.raises(ValueError, match="plain"):
        recovered_share([0.8, float("nan")], [0.85, 0.9], [0.9, 0.9])


def test_run_arm_scores_the_trained_model_on_held_out_points():
    import contrastlab.data as D
    import contrastlab.metrics as M
    from contrastlab.lessons.false_negatives import clamp_rate, run_arm

    train, test = D.vmf_mixture(240, n_classes=3, dim=8, seed=0).split(0.25, seed=0)
    with pytest.raises(ValueError, match="tau_plus"):
        run_arm(train, test, "plain", seed=0, steps=2, tau_plus=0.3)
    with pytest.raises(ValueError, match="tau_plus"):
        run_arm(train, test, "debiased", seed=0, steps=2)
    with pytest.raises(ValueError, match="arm"):
        run_arm(train, test, "simclr", seed=0, steps=2)
    plain = run_arm(train, test, "plain", seed=0, steps=3, batch_size=32, k=5)
    assert math.isnan(plain["clamp"]) and plain["arm"] == "plain" and plain["tau_plus"] is None
    f_train, f_test = plain["model"].features(train.x), plain["model"].features(test.x)
    assert plain["knn"] == M.knn_accuracy(f_train, train.labels, f_test, test.labels, k=5)
    assert plain["linear"] == M.linear_probe_accuracy(f_train, train.labels, f_test, test.labels)
    debiased = run_arm(train, test, "debiased", seed=0, steps=3, batch_size=32, tau_plus=0.3, k=5)
    v = train.views(torch.arange(32), generator=train.generator(1000))
    z1, z2 = debiased["model"].project(v[:, 0]), debiased["model"].project(v[:, 1])
    assert debiased["clamp"] == clamp_rate(z1, z2, temperature=0.5, tau_plus=0.3)
    assert 0.0 <= debiased["knn"] <= 1.0 and debiased["tau_plus"] == 0.3


def test_exercise_checks_pass_solutions_and_name_mistakes(capsys):
    import torch.nn.functional as F

    from contrastlab.lessons import false_negatives as fn

    def collision(labels):
        b = len(labels)
        return ((labels[:, None] == labels[None, :]).sum().item() - b) / (b * (b - 1))

    def collision_with_diagonal(labels):
        return (labels[:, None] == labels[None, :]).sum().item() / (len(labels) * (len(labels) - 1))

    assert fn.check_collision_rate(collision)
    assert not fn.check_collision_rate(collision_with_diagonal)
    assert "diagonal" in capsys.readouterr().out

    def ng(z1, z2, a, temperature, tau_plus, clamp=True):
        b = len(z1)
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        e = torch.exp(z @ z[a] / temperature)
        negatives = [k for k in range(2 * b) if k not in (a, (a + b) % (2 * b))]
        n = len(negatives)
        estimate = float((e[negatives].sum() - tau_plus * n * e[(a + b) % (2 * b)]) / (1 - tau_plus))
        return max(estimate, n * math.exp(-1 / temperature)) if clamp else estimate

    assert fn.check_debiased_ng(ng)
    assert not fn.check_debiased_ng(lambda *args: ng(*args, clamp=False))
    assert "clamp" in capsys.readouterr().out

    def keep(labels):
        b = len(labels)
        y = labels.repeat(2)
        mask = y[:, None] != y[None, :]
        rows = torch.arange(2 * b)
        mask[rows, (rows + b) % (2 * b)] = True
        return mask

    assert fn.check_oracle_keep(keep)
    assert not fn.check_oracle_keep(lambda labels: keep(labels) | torch.eye(2 * len(labels), dtype=torch.bool))
    assert "diagonal" in capsys.readouterr().out
