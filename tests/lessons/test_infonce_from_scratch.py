"""contrastlab.lessons.infonce_from_scratch: the Gaussian toy's closed forms, the optimal critic, and the InfoNCE bound."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from contrastlab.data import correlated_gaussians
from contrastlab.lessons import infonce_from_scratch as B


def gaussians(*args, **kwargs):
    """(x, y) of ``data.correlated_gaussians``."""
    pairs = correlated_gaussians(*args, **kwargs)
    return pairs.x, pairs.b
from contrastlab.losses import info_nce


@pytest.mark.parametrize("dim, rho", [(1, 0.5), (4, 0.9), (10, -0.3), (32, 0.99)])
def test_mutual_information_closed_form_and_inverse(dim, rho):
    mi = B.gaussian_mutual_information(dim, rho)
    assert mi == pytest.approx(-dim / 2 * math.log(1 - rho ** 2), rel=1e-12)
    assert B.rho_for_mutual_information(mi, dim) == pytest.approx(abs(rho), rel=1e-12)
    assert B.gaussian_mutual_information(dim, 0.0) == 0.0


def test_log_ratio_equals_the_densities():
    """f*(x_i, y_j) = log N(y_j; rho x_i, (1 - rho^2) I) - log N(y_j; 0, I), from torch.distributions."""
    rho, dim = 0.7, 5
    x, y = gaussians(6, dim=dim, rho=rho, seed=2, dtype=torch.float64)
    conditional = torch.distributions.Normal(rho * x[:, None, :], math.sqrt(1 - rho ** 2))  # batch (6, 1, d)
    marginal = torch.distributions.Normal(torch.zeros(dim, dtype=torch.float64), 1.0)
    expected = conditional.log_prob(y[None, :, :]).sum(-1) - marginal.log_prob(y).sum(-1)[None, :]  # (6, 6)
    got = B.gaussian_log_ratio(x, y, rho=rho)
    assert got.dtype == torch.float64
    assert torch.allclose(got, expected, atol=1e-10)


def test_positive_log_ratio_averages_to_the_mutual_information():
    rho, dim = 0.9, 4
    x, y = gaussians(200000, dim=dim, rho=rho, seed=3, dtype=torch.float64)
    var = 1 - rho ** 2
    diagonal = -dim / 2 * math.log(var) - ((y - rho * x) ** 2).sum(1) / (2 * var) + (y ** 2).sum(1) / 2  # (n,)
    assert torch.allclose(torch.diagonal(B.gaussian_log_ratio(x[:50], y[:50], rho=rho)), diagonal[:50])
    assert diagonal.mean().item() == pytest.approx(B.gaussian_mutual_information(dim, rho), abs=0.03)


def test_estimate_is_log_n_minus_cross_entropy_and_below_log_n(device):
    logits = torch.randn(17, 17, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(device)
    expected = math.log(17) - F.cross_entropy(logits, torch.arange(17, device=device))
    assert torch.allclose(B.infonce_estimate(logits), expected)
    easy = logits + 1e4 * torch.eye(17, dtype=torch.float64, device=device)  # perfectly separated positives
    assert B.infonce_estimate(easy).item() <= math.log(17)
    assert B.infonce_estimate(easy).item() == pytest.approx(math.log(17), abs=1e-9)


def test_estimate_on_a_cosine_critic_matches_the_package(device):
    x, y = gaussians(33, dim=6, rho=0.8, seed=4, device=device)
    cosine = F.normalize(x, dim=1) @ F.normalize(y, dim=1).T / 0.2  # (33, 33), info_nce's critic
    expected = B.mi_lower_bound(info_nce(x, y, temperature=0.2).item(), 33)
    assert B.infonce_estimate(cosine).item() == pytest.approx(expected, abs=1e-5)


def test_mi_lower_bound():
    assert B.mi_lower_bound(0.0, 64) == pytest.approx(math.log(64))
    assert B.mi_lower_bound(math.log(64), 64) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="batch_size"):
        B.mi_lower_bound(1.0, 0)


def test_curve_saturates_at_log_n_and_reaches_a_small_mi():
    sizes = [2, 8, 32, 128, 512]
    small = B.infonce_bound_curve(sizes, dim=4, rho=B.rho_for_mutual_information(1.0, 4), repeats=4)
    large = B.infonce_bound_curve(sizes, dim=10, rho=B.rho_for_mutual_information(20.0, 10), repeats=2)
    for curve in (small, large):
        assert np.all(curve["estimate"] <= curve["log_n"])  # every batch (equal once the loss underflows to 0)
        assert set(curve) == {"batch_size", "log_n", "estimate", "stderr", "mi", "per_batch"}
        assert np.allclose(curve["per_batch"].mean(1), curve["estimate"])
    assert np.all(np.diff(large["estimate"]) > 0)  # rises with N
    assert np.all(large["log_n"] - large["estimate"] < 0.05)  # tracks log N, far below I = 20
    assert small["estimate"][-1] == pytest.approx(1.0, abs=0.1)  # log 512 >> I: the bound is nearly tight
    assert np.all(small["estimate"] <= small["mi"] + 3 * small["stderr"] + 1e-9)
    cosine = B.infonce_bound_curve(sizes, dim=10, rho=B.rho_for_mutual_information(20.0, 10), repeats=2,
                                   critic="cosine", temperature=0.1)
    assert np.all(cosine["estimate"] <= large["estimate"] + 1e-6)  # a worse critic, a looser bound


@pytest.mark.parametrize("call, match", [
    (lambda: B.gaussian_mutual_information(0, 0.5), "dim"),
    (lambda: B.gaussian_mutual_information(2, 1.0), "rho"),
    (lambda: B.rho_for_mutual_information(-1.0, 2), "mi"),
    (lambda: gaussians(0, dim=2, rho=0.5), "n must"),
    (lambda: B.gaussian_log_ratio(torch.zeros(3, 2), torch.zeros(3, 4), rho=0.5), "same d"),
    (lambda: B.infonce_estimate(torch.zeros(3, 4)), "square"),
    (lambda: B.infonce_bound_curve([1, 4], dim=2, rho=0.5), "batch_sizes"),
    (lambda: B.infonce_bound_curve([4], dim=2, rho=0.5, critic="mlp"), "critic"),
    (lambda: B.infonce_bound_curve([4], dim=2, rho=0.5, repeats=0), "repeats"),
])
def test_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()
