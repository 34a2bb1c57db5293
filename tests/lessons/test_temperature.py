"""contrastlab.lessons.temperature: the relative penalty against autograd and numpy, limits, the trend helper, the sweep."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from contrastlab import data as D
from contrastlab.lessons import temperature as T


def sims(n=6, c=None, seed=0, dtype=torch.float64):
    c = n if c is None else c
    return torch.rand(n, c, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 2 - 1  # (n, c) in [-1, 1)


@pytest.mark.parametrize("tau", [0.05, 0.3, 2.0])
def test_relative_penalty_is_the_normalised_infonce_gradient(tau, device):
    s = sims(7).to(device).requires_grad_(True)
    target = torch.arange(7, device=device)
    F.cross_entropy(s / tau, target, reduction="sum").backward()  # sum: row i's loss only touches row i
    grad = s.grad.clone()  # (7, 7) = P_ij / tau off the diagonal, -(1 - P_ii) / tau on it
    grad.fill_diagonal_(0)
    expected = grad / grad.sum(1, keepdim=True)
    r = T.relative_penalty(s.detach(), temperature=tau)
    torch.testing.assert_close(r, expected)
    torch.testing.assert_close(r.sum(1), torch.ones(7, dtype=r.dtype, device=device))
    assert torch.all(r.diagonal() == 0)


def test_relative_penalty_matches_a_numpy_reference_with_explicit_positives():
    s = sims(4, 9, seed=3)
    pos = torch.tensor([0, 8, 3, 3])
    r = T.relative_penalty(s, temperature=0.1, positive_index=pos).numpy()
    x = s.numpy() / 0.1
    for i, p in enumerate(pos.tolist()):
        neg = np.delete(np.arange(9), p)
        e = np.exp(x[i, neg] - x[i, neg].max())
        np.testing.assert_allclose(r[i, neg], e / e.sum(), rtol=1e-12)
        assert r[i, p] == 0


def test_relative_penalty_is_metrics_negative_shares_with_the_diagonal_default():
    from contrastlab import metrics as M

    s = sims(6, seed=4)
    for tau in (0.05, 0.5):
        r = T.relative_penalty(s, temperature=tau)
        torch.testing.assert_close(r, M.negative_shares(s, temperature=tau, positive_index=torch.arange(6)),
                                   rtol=0, atol=0)
        before = (s / tau).fill_diagonal_(float("-inf")).softmax(1)  # the lesson's own softmax, before it was shared
        torch.testing.assert_close(r, before, rtol=1e-12, atol=1e-15)


def test_relative_penalty_is_finite_at_tiny_temperature_in_float32():
    s = sims(5, dtype=torch.float32)
    r = T.relative_penalty(s, temperature=1e-4)
    assert torch.isfinite(r).all() and r.dtype == torch.float32
    torch.testing.assert_close(r.sum(1), torch.ones(5))


def test_hardest_share_limits_and_monotonicity():
    s = sims(8, 30, seed=1)
    pos = torch.zeros(8, dtype=torch.long)
    for k in (1, 3):
        shares = [T.hardest_share(s, temperature=t, k=k, positive_index=pos) for t in (100.0, 1.0, 0.3, 0.1, 0.01, 1e-4)]
        torch.testing.assert_close(shares[0], torch.full((8,), k / 29, dtype=torch.float64), atol=2e-3, rtol=0)
        torch.testing.assert_close(shares[-1], torch.ones(8, dtype=torch.float64))
        for hot, cold in zip(shares, shares[1:]):
            assert torch.all(cold >= hot - 1e-12), "the top-k share must grow as tau falls"
    every = T.hardest_share(s, temperature=0.2, k=29, positive_index=pos)
    torch.testing.assert_close(every, torch.ones(8, dtype=torch.float64))


def test_hardest_share_ignores_the_positive_even_when_it_is_the_most_similar():
    s = torch.tensor([[0.9, 0.5, 0.1], [0.2, 0.95, 0.3]], dtype=torch.float64)
    share = T.hardest_share(s, temperature=0.1, k=1, positive_index=torch.tensor([0, 1]))
    expected = [1 / (1 + math.exp(-4.0)), 1 / (1 + math.exp(-1.0))]
    torch.testing.assert_close(share, torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature=0.0), "temperature"),
    (dict(temperature=-1.0), "temperature"),
    (dict(temperature=0.1, positive_index=torch.tensor([0, 1])), "positive_index"),
    (dict(temperature=0.1, positive_index=torch.tensor([0, 1, 2, 9])), "positive_index"),
])
def test_relative_penalty_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.relative_penalty(sims(4), **kwargs)


def test_bad_shapes_and_k():
    with pytest.raises(ValueError, match="positive_index is required"):
        T.relative_penalty(sims(3, 5), temperature=0.1)
    with pytest.raises(ValueError, match="at least 2 candidates"):
        T.relative_penalty(sims(3, 1), temperature=0.1, positive_index=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="finite"):
        T.relative_penalty(torch.full((2, 2), float("nan")), temperature=0.1)
    with pytest.raises(ValueError, match="k must be"):
        T.hardest_share(sims(4), temperature=0.1, k=4)


@pytest.mark.parametrize("values, increasing, slack, expected", [
    ([3.0, 1.0, 2.0, 4.0], True, 0.0, 0.2),
    ([1.0, 2.0, 3.0, 4.0], True, 0.0, 0.1),
    ([1.0, 2.0, 3.0, 2.9], True, 0.0, 1.0),
    ([1.0, 2.0, 3.0, 2.9], True, 0.2, 0.1),
    ([4.0, 3.0, 2.0, 5.0], False, 0.0, 1.0),
    ([1.0, 3.0, 2.0, 1.0], False, 0.0, 0.2),
])
def test_monotone_from(values, increasing, slack, expected):
    assert T.monotone_from([0.1, 0.2, 0.5, 1.0], values, increasing=increasing, slack=slack) == expected


def test_monotone_from_sorts_by_tau_and_checks_lengths():
    assert T.monotone_from([1.0, 0.1, 0.5], [4.0, 5.0, 3.0]) == 0.5
    with pytest.raises(ValueError, match="same length"):
        T.monotone_from([0.1, 0.2], [1.0])


def test_log_slope_against_numpy_polyfit_and_a_closed_form():
    taus = [0.07, 0.1, 0.2, 0.5, 1.0]
    values = [-3.7, -3.75, -3.6, -3.1, -2.4]
    expected = np.polyfit(np.log10(taus), values, 1)[0]
    assert math.isclose(T.log_slope(taus, values), expected, rel_tol=1e-12)
    assert math.isclose(T.log_slope([0.01, 0.1, 1.0], [1.0, 3.0, 5.0]), 2.0, rel_tol=1e-12)  # +2 per decade
    assert T.log_slope([0.1, 1.0], [5.0, 5.0]) == 0.0


@pytest.mark.parametrize("taus, values, error, match", [
    ([0.1], [1.0], ValueError, "length"),
    ([0.1, 1.0], [1.0], ValueError, "length"),
    ([0.0, 1.0], [1.0, 2.0], ValueError, "taus must be > 0"),
    ([0.5, 0.5], [1.0, 2.0], ValueError, "distinct"),
    ([0.1, 1.0], [1.0, float("nan")], ValueError, "values must be finite"),
    ([0.1, 1.0], "ab", TypeError, "values"),
])
def test_log_slope_rejects_bad_input(taus, values, error, match):
    with pytest.raises(error, match=match):
        T.log_slope(taus, values)


def test_last_stretch_absolute_and_relative():
    steps = [0, 100, 200, 300, 400]
    loss = [float("nan"), 4.0, 2.0, 1.5, 1.0]  # the step-0 loss is NaN (no step yet) and is dropped
    assert T.last_stretch(steps, loss) == -0.5  # from step 300 (75% of 400) to 400
    assert math.isclose(T.last_stretch(steps, loss, relative=True), 0.5 / 3.0)  # of the fall 4.0 -> 1.0
    assert math.isclose(T.last_stretch(steps, loss, fraction=0.5, relative=True), 1.0 / 3.0)  # from step 200
    assert math.isnan(T.last_stretch([0, 1, 2], [1.0, 1.0, 1.0], relative=True))  # no change at all: undefined
    with pytest.raises(ValueError, match="ascend"):
        T.last_stretch([0, 2, 1], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="fraction"):
        T.last_stretch(steps, loss, fraction=1.0)
    with pytest.raises(ValueError, match="same length"):
        T.last_stretch(steps, loss[:3])


def test_sweep_temperature_table_is_seeded_and_has_tolerance():
    make = lambda seed: D.vmf_mixture(64, n_classes=4, dim=8, seed=seed)  # noqa: E731
    kwargs = dict(seeds=(0, 1), steps=3, batch_size=32, eval_size=64, out_dim=4, feature_dim=8, hidden=16)
    first = T.sweep_temperature(make, [0.1, 1.0], **kwargs)
    again = T.sweep_temperature(make, [0.1, 1.0], **kwargs)
    assert list(first[["tau", "seed"]].itertuples(index=False, name=None)) == [(0.1, 0), (1.0, 0), (0.1, 1), (1.0, 1)]
    for column in ("uniformity", "tolerance", "knn", "knn_projection", "knn_raw", "temperature", "step"):
        assert column in first.columns
    assert (first["step"] == 3).all() and (first["temperature"] == first["tau"]).all()
    assert first["tolerance"].between(-1, 1).all()
    np.testing.assert_allclose(first[["uniformity", "tolerance", "knn"]].to_numpy(),
                               again[["uniformity", "tolerance", "knn"]].to_numpy())
    from contrastlab import metrics as M

    for seed in (0, 1):  # the baseline: raw inputs of every sample, fit's k = min(20, E - 1)
        toy = make(seed)
        assert (first.loc[first.seed == seed, "knn_raw"] == M.knn_accuracy(toy.x, toy.labels, k=20)).all()


def test_sweep_temperature_curves_and_eval_size_check():
    make = lambda seed: D.vmf_mixture(48, n_classes=3, dim=6, seed=seed)  # noqa: E731
    curves = T.sweep_temperature(make, [0.5], steps=4, batch_size=16, eval_size=48, eval_every=2,
                                 out_dim=4, feature_dim=8, hidden=16)
    assert curves["step"].tolist() == [0, 2, 4]
    assert math.isnan(curves["loss"].iloc[0]) and curves["loss"].iloc[1:].notna().all()
    with pytest.raises(ValueError, match="eval_size"):
        T.sweep_temperature(make, [0.5], steps=2, batch_size=16, eval_size=20, out_dim=4)


def test_check_relative_penalty_passes_the_solution_and_explains_mistakes(capsys):
    s = sims(8, seed=5, dtype=torch.float32)

    def solution(similarity, temperature):
        eye = torch.eye(len(similarity), dtype=torch.bool)
        return torch.softmax((similarity / temperature).masked_fill(eye, float("-inf")), dim=1)

    assert T.check_relative_penalty(solution, s) is True
    assert "Check passed" in capsys.readouterr().out
    with_positive = lambda similarity, temperature: torch.softmax(similarity / temperature, dim=1)  # noqa: E731
    assert T.check_relative_penalty(with_positive, s) is False
    assert "diagonal" in capsys.readouterr().out
    no_tau = lambda similarity, temperature: solution(similarity, 1.0)  # noqa: E731
    assert T.check_relative_penalty(no_tau, s) is False
    assert "τ = 1" in capsys.readouterr().out
    assert T.check_relative_penalty(lambda similarity, temperature: None, s) is False
    with pytest.raises(ValueError, match="square"):
        T.check_relative_penalty(solution, sims(3, 5))


def test_check_triplet_limit_passes_the_solution_and_names_a_missing_clamp(capsys):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(16, 8, generator=g)
    k = q + 0.8 * torch.randn(16, 8, generator=g)  # noisy: some positives are beaten

    def solution(similarity, temperature):
        eye = torch.eye(len(similarity), dtype=torch.bool)
        hardest = similarity.masked_fill(eye, float("-inf")).max(dim=1).values
        return ((hardest - similarity.diagonal()).clamp_min(0) / temperature).mean()

    assert T.check_triplet_limit(solution, q, k) is True
    assert "Check passed" in capsys.readouterr().out

    def no_clamp(similarity, temperature):
        eye = torch.eye(len(similarity), dtype=torch.bool)
        hardest = similarity.masked_fill(eye, float("-inf")).max(dim=1).values
        return ((hardest - similarity.diagonal()) / temperature).mean()

    assert T.check_triplet_limit(no_clamp, q, k) is False
    assert "max with 0" in capsys.readouterr().out
