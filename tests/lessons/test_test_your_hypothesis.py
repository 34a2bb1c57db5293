"""Notebook 12's helpers: top-K truncated NT-Xent, its set-up, the grid runner and the log-τ slopes."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from contrastlab import data as D
from contrastlab.losses import nt_xent
from contrastlab.lessons.test_your_hypothesis import TopKNegatives, log_tau_slopes, run_top_k_grid, top_k_nt_xent
from contrastlab.models import build_encoder


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def reference(z1, z2, temperature, k):
    """Float64 loop from the formula: each anchor's positive plus its k most similar negatives."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for a in range(n2):
        pos = (a + n) % n2
        neg = sorted((float(z[a] @ z[j]) for j in range(n2) if j not in (a, pos)), reverse=True)[:k]
        terms = [float(z[a] @ z[pos]) / temperature] + [s / temperature for s in neg]
        m = max(terms)
        total += m + math.log(sum(math.exp(t - m) for t in terms)) - terms[0]
    return total / n2


@pytest.mark.parametrize("n, k, tau", [(2, 1, 0.1), (7, 3, 0.5), (7, 12, 0.05), (16, 5, 1.0), (16, 30, 0.2)])
def test_top_k_matches_the_float64_loop(n, k, tau):
    z1, z2 = randn(n, 5, seed=1, dtype=torch.float64), randn(n, 5, seed=2, dtype=torch.float64)
    got = top_k_nt_xent(z1, z2, temperature=tau, k=k).item()
    assert got == pytest.approx(reference(z1.numpy(), z2.numpy(), tau, k), rel=1e-10, abs=1e-12)


def test_float32_agrees_with_float64_at_a_small_temperature():
    z1, z2 = randn(32, 8, seed=3), randn(32, 8, seed=4)
    got = top_k_nt_xent(z1, z2, temperature=0.02, k=4).item()
    want = reference(z1.double().numpy(), z2.double().numpy(), 0.02, 4)
    assert got == pytest.approx(want, rel=1e-4)


def test_all_negatives_is_nt_xent_and_fewer_lower_the_loss():
    z1, z2 = randn(10, 6, seed=5), randn(10, 6, seed=6)
    full = nt_xent(z1, z2, temperature=0.3).item()
    assert top_k_nt_xent(z1, z2, temperature=0.3, k=18).item() == pytest.approx(full, rel=1e-6)
    assert top_k_nt_xent(z1, z2, temperature=0.3, k=100).item() == pytest.approx(full, rel=1e-6)
    losses = [top_k_nt_xent(z1, z2, temperature=0.3, k=k).item() for k in (1, 4, 17)]
    assert losses[0] < losses[1] < losses[2] < full  # each kept negative adds a positive term


def test_collapsed_batch_gives_log_k_plus_1():
    z = torch.ones(6, 4)  # every similarity is 1: the positive and k negatives tie
    for k in (1, 3, 9):
        assert top_k_nt_xent(z, z.clone(), temperature=0.1, k=k).item() == pytest.approx(math.log(k + 1), rel=1e-6)


def test_gradcheck_in_float64():
    z1 = randn(4, 3, seed=7, dtype=torch.float64).requires_grad_()
    z2 = randn(4, 3, seed=8, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: top_k_nt_xent(a, b, temperature=0.5, k=2), (z1, z2))


def test_bad_inputs_are_refused_by_name():
    z = randn(4, 3)
    with pytest.raises(ValueError, match="k"):
        top_k_nt_xent(z, z, temperature=0.1, k=0)
    with pytest.raises(ValueError, match="temperature"):
        top_k_nt_xent(z, z, temperature=0.0, k=2)
    with pytest.raises(ValueError, match="z2"):
        top_k_nt_xent(z, randn(5, 3), temperature=0.1, k=2)
    with pytest.raises(ValueError, match="temperature"):
        TopKNegatives(build_encoder((3,)), temperature=-1.0, k=2)


def test_set_up_uses_the_loss():
    torch.manual_seed(0)
    method = TopKNegatives(build_encoder((6,), feature_dim=8, out_dim=4, hidden=8), temperature=0.2, k=3)
    z1, z2 = randn(5, 4, seed=9), randn(5, 4, seed=10)
    assert method.pair_loss(z1, z2, None, 0).item() == pytest.approx(
        top_k_nt_xent(z1, z2, temperature=0.2, k=3).item())


def test_log_tau_slopes_recover_known_lines():
    rows = []
    for seed, (a_all, a_top) in enumerate([(-0.02, 0.001), (-0.01, 0.003)]):
        for tau in (0.1, 0.2, 0.5, 1.0):
            for k, slope in ((510, a_all), (16, a_top)):
                rows.append(dict(run_id=f"{tau}-{k}-{seed}", seed=seed, step=100, **{"loss.temperature": tau,
                                 "loss.k": k, "knn": 0.5 + slope * math.log(tau)}))
                rows.append(dict(run_id=f"{tau}-{k}-{seed}", seed=seed, step=50, **{"loss.temperature": tau,
                                 "loss.k": k, "knn": 9.0}))  # an earlier step, ignored
    slopes = log_tau_slopes(pd.DataFrame(rows))
    np.testing.assert_allclose(slopes[510].to_numpy(), [-0.02, -0.01], atol=1e-12)
    np.testing.assert_allclose(slopes[16].to_numpy(), [0.001, 0.003], atol=1e-12)
    with pytest.raises(ValueError, match="column"):
        log_tau_slopes(pd.DataFrame(rows).drop(columns="knn"))


def test_grid_is_shaped_like_a_sweep_and_pairs_by_seed():
    import contrastlab.sweeps

    frame = run_top_k_grid(lambda s: D.latent_mlp(100, n_classes=4, seed=s), temperatures=[0.2, 0.5], ks=[4, 30],
                           seeds=[0, 1], steps=2, batch_size=16, eval_every=1, eval_size=60)
    assert frame.attrs["params"] == ["loss.temperature", "loss.k"]
    assert frame.run_id.nunique() == 8 and sorted(frame.step.unique()) == [0, 1, 2]
    gain = contrastlab.sweeps.compare(frame, {"loss.k": 30}, "knn")
    assert list(gain.n) == [2, 2]
    again = run_top_k_grid(lambda s: D.latent_mlp(100, n_classes=4, seed=s), temperatures=[0.2], ks=[4],
                           seeds=[1], steps=2, batch_size=16, eval_every=1, eval_size=60)
    first = frame[(frame.seed == 1) & (frame["loss.temperature"] == 0.2) & (frame["loss.k"] == 4)]
    np.testing.assert_allclose(first.knn.to_numpy(), again.knn.to_numpy())  # a seed reproduces its run
    with pytest.raises(ValueError, match="temperatures"):
        run_top_k_grid(lambda s: D.latent_mlp(200, seed=s), temperatures=[], ks=[4], seeds=[0])
