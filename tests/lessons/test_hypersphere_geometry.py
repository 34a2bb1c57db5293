"""contrastlab.lessons.hypersphere_geometry: point sets with known statistics, the cone offset, the partial rank correlation."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from contrastlab.lessons import hypersphere_geometry as G
from contrastlab import metrics as M
from contrastlab.models import build_encoder


def test_sphere_uniform_is_unit_seeded_and_reaches_the_reference_uniformity():
    x = G.sphere_uniform(4000, 3, seed=1, dtype=torch.float64)
    assert x.shape == (4000, 3)
    assert torch.allclose(x.norm(dim=1), torch.ones(4000, dtype=torch.float64))
    assert torch.equal(x, G.sphere_uniform(4000, 3, seed=1, dtype=torch.float64))
    assert not torch.equal(x, G.sphere_uniform(4000, 3, seed=2, dtype=torch.float64))
    assert M.mean_norm(x) < 0.05
    for dim in (2, 3, 8):
        z = G.sphere_uniform(4000, dim, seed=dim)
        assert M.uniformity(z) == pytest.approx(M.uniform_sphere_uniformity(dim), abs=0.02)


def test_sphere_uniform_uses_the_generator_and_the_device_and_dtype():
    a = G.sphere_uniform(5, 4, generator=torch.Generator().manual_seed(3))
    b = G.sphere_uniform(5, 4, seed=3)
    assert torch.equal(a, b) and a.dtype == torch.float32 and a.device.type == "cpu"


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError),
                                        ("3", TypeError)])
def test_sphere_uniform_rejects_bad_sizes(bad, error):
    with pytest.raises(error, match="n must be"):  # a wrong kind is a TypeError, a bad int a ValueError
        G.sphere_uniform(bad, 3)
    with pytest.raises(error, match="dim must be"):
        G.sphere_uniform(3, bad if bad != 2.5 else 1.5)


def test_cone_anisotropy_follows_its_spread():
    narrow = G.cone(2000, 8, spread=0.05, seed=0)
    wide = G.cone(2000, 8, spread=3.0, seed=0)
    assert torch.allclose(narrow.norm(dim=1), torch.ones(2000), atol=1e-6)
    assert M.anisotropy(narrow) > 0.95
    assert abs(M.anisotropy(wide)) < 0.05
    for spread in (0.1, 0.3):
        expected = 1 / (1 + spread**2 * 8)
        assert M.anisotropy(G.cone(4000, 8, spread=spread, seed=1)) == pytest.approx(expected, abs=0.05)
    assert M.uniformity(narrow) > M.uniformity(wide)


def test_cone_spread_zero_is_collapsed_on_the_direction():
    d = torch.tensor([0.0, 3.0, 4.0])
    x = G.cone(10, 3, spread=0.0, direction=d)
    assert torch.allclose(x, torch.tensor([0.0, 0.6, 0.8]).expand(10, 3))
    assert M.uniformity(x) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(spread=-1.0), "spread"), (dict(spread=math.nan), "spread"),
    (dict(direction=torch.zeros(3)), "non-zero"), (dict(direction=torch.ones(4)), "shape"),
])
def test_cone_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        G.cone(5, 3, **kwargs)


def test_offset_last_layer_moves_every_output_by_the_same_vector():
    torch.manual_seed(0)
    encoder = build_encoder((16,), out_dim=8, hidden=32, feature_dim=16).train()  # batch statistics in BN
    x = torch.randn(64, 16)
    before = encoder(x)
    direction = G.offset_last_layer(encoder, 5.0, seed=1)
    after = encoder(x)
    assert direction.shape == (8,) and float(direction.norm()) == pytest.approx(1.0)
    assert torch.allclose(after - before, 5.0 * direction.expand(64, 8), atol=1e-5)
    assert M.anisotropy(before) < 0.5 < 0.9 < M.anisotropy(after)
    assert all(p.requires_grad for p in encoder.parameters())


def test_offset_last_layer_with_a_given_direction_and_zero_offset():
    layer = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    bias = layer[2].bias.detach().clone()
    d = G.offset_last_layer(layer, 2.0, direction=torch.tensor([3.0, 4.0]))
    assert torch.allclose(d, torch.tensor([0.6, 0.8]))
    assert torch.allclose(layer[2].bias, bias + torch.tensor([1.2, 1.6]))
    G.offset_last_layer(layer, 0.0)
    assert torch.allclose(layer[2].bias, bias + torch.tensor([1.2, 1.6]))


def test_offset_last_layer_rejects_what_it_cannot_offset():
    with pytest.raises(ValueError, match="no nn.Linear"):
        G.offset_last_layer(nn.ReLU(), 1.0)
    with pytest.raises(ValueError, match="no bias"):
        G.offset_last_layer(nn.Linear(3, 2, bias=False), 1.0)
    with pytest.raises(ValueError, match="offset"):
        G.offset_last_layer(nn.Linear(3, 2), -1.0)
    with pytest.raises(ValueError, match="shape"):
        G.offset_last_layer(nn.Linear(3, 2), 1.0, direction=torch.ones(3))
    with pytest.raises(TypeError, match="nn.Module"):
        G.offset_last_layer("encoder", 1.0)


def _partial_from_formula(x, y, z):
    rxy, rxz, ryz = (spearmanr(a, b)[0] for a, b in ((x, y), (x, z), (y, z)))
    return (rxy - rxz * ryz) / math.sqrt((1 - rxz**2) * (1 - ryz**2))


def test_partial_spearman_equals_the_closed_form():
    rng = np.random.default_rng(0)
    for _ in range(5):
        z = rng.normal(size=30)
        x = z + rng.normal(size=30)
        y = -z + 0.5 * x + rng.normal(size=30)
        assert G.partial_spearman(x, y, z) == pytest.approx(_partial_from_formula(x, y, z), abs=1e-10)


def test_partial_spearman_sees_through_a_trade_off():
    # accuracy falls with both a and b, but a and b trade off across runs, so a's plain correlation is positive
    rng = np.random.default_rng(1)
    b = rng.uniform(size=200)
    a = 1 - b + 0.3 * rng.uniform(size=200)
    accuracy = -a - 2 * b
    assert spearmanr(a, accuracy)[0] > 0
    assert G.partial_spearman(a, accuracy, b) < -0.9
    assert G.partial_spearman(b, accuracy, a) < -0.9


def test_partial_spearman_is_rank_based_and_accepts_tensors():
    rng = np.random.default_rng(2)
    x, y, z = rng.normal(size=(3, 20))
    value = G.partial_spearman(x, y, z)
    assert G.partial_spearman(np.exp(x), y**3, z * 10) == pytest.approx(value, abs=1e-12)
    assert G.partial_spearman(torch.tensor(x), torch.tensor(y), torch.tensor(z)) == pytest.approx(value, abs=1e-12)


def test_partial_spearman_degenerate_and_bad_inputs():
    assert math.isnan(G.partial_spearman([1, 2, 3, 4], [4, 3, 2, 1], [1, 2, 3, 4]))
    with pytest.raises(ValueError, match="same length"):
        G.partial_spearman([1, 2, 3, 4], [1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="at least 4"):
        G.partial_spearman([1, 2, 3], [1, 2, 3], [3, 1, 2])
    with pytest.raises(ValueError, match="finite"):
        G.partial_spearman([1, 2, math.nan, 4], [1, 2, 3, 4], [4, 3, 1, 2])
    with pytest.raises(ValueError, match="1-d"):
        G.partial_spearman(np.ones((2, 2)), [1, 2, 3, 4], [1, 2, 3, 4])


def test_spread_share_runs_from_collapsed_to_the_uniform_sphere():
    collapsed = torch.nn.functional.normalize(torch.ones(50, 3, dtype=torch.float64), dim=1)
    assert G.spread_share(M.uniformity(collapsed), 3) == pytest.approx(0.0, abs=1e-9)
    assert G.spread_share(0.0, 3) == 0.0
    for dim in (3, 8):
        u = M.uniformity(G.sphere_uniform(4000, dim, seed=dim))
        assert G.spread_share(u, dim) == pytest.approx(1.0, abs=0.01)
        assert G.spread_share(u / 2, dim) == pytest.approx(0.5, abs=0.01)  # linear in the uniformity
    assert G.spread_share(-1.0, 3) == pytest.approx(-1.0 / M.uniform_sphere_uniformity(3))


def test_spread_share_validation():
    with pytest.raises(ValueError, match="uniformity must be a finite number"):
        G.spread_share(0.5, 3)
    with pytest.raises(ValueError, match="dim must be"):
        G.spread_share(-1.0, 1)
    with pytest.raises(TypeError, match="uniformity must be a float"):
        G.spread_share("low", 3)
