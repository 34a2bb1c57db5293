"""data.correlated_gaussians: the moments of the correlated Gaussian pairs and their seeding."""

import torch

from contrastlab.data import correlated_gaussians


def gaussians(*args, **kwargs):
    """(x, y) of ``data.correlated_gaussians``."""
    pairs = correlated_gaussians(*args, **kwargs)
    return pairs.x, pairs.b


def test_correlated_gaussians_moments_and_seed(device):
    x, y = gaussians(20000, dim=3, rho=0.8, seed=1, device=device, dtype=torch.float64)
    assert x.shape == y.shape == (20000, 3) and x.device.type == device.type
    x, y = x.cpu(), y.cpu()
    corr = ((x - x.mean(0)) * (y - y.mean(0))).mean(0) / (x.std(0) * y.std(0))  # (3,)
    assert torch.allclose(corr, torch.full((3,), 0.8, dtype=torch.float64), atol=0.02)
    assert torch.allclose(y.std(0), torch.ones(3, dtype=torch.float64), atol=0.03)
    again, _ = gaussians(20000, dim=3, rho=0.8, seed=1, dtype=torch.float64)
    assert torch.equal(x, again)  # the same numbers on every device
