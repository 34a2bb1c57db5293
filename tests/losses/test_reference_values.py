"""reference_values: the closed forms by hand, each value against the loss itself (collapsed: one
call on a constant batch; chance and floor: Monte Carlo means of the loss on random batches)."""

import math

import pytest
import torch

import contrastlab.losses as L
from contrastlab.losses import reference_values as reference  # the function (the package exports it)


def _sphere(shape, g):
    return torch.nn.functional.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


def _monte_carlo(draw, trials=120, seed=0):
    """(mean, standard error) of ``draw(g)`` over ``trials`` seeded draws."""
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor([float(draw(g)) for _ in range(trials)], dtype=torch.float64)
    return float(values.mean()), float(values.std() / math.sqrt(trials))


@pytest.mark.parametrize("n", [2, 7, 64])
def test_closed_forms_by_hand(n):
    assert reference("nt_xent", batch_size=n).collapsed == pytest.approx(math.log(2 * n - 1), rel=1e-15)
    assert reference("info_nce", batch_size=n).collapsed == pytest.approx(math.log(n), rel=1e-15)
    assert reference("clip_loss", batch_size=n).collapsed == pytest.approx(math.log(n), rel=1e-15)
    assert reference("decoupled_nt_xent", batch_size=n).collapsed == pytest.approx(math.log(2 * n - 2), rel=1e-15)
    assert reference("info_nce", batch_size=n, negatives=9).collapsed == pytest.approx(math.log(10), rel=1e-15)
    assert reference("supcon", batch_size=n, views=3).collapsed == pytest.approx(math.log(3 * n - 1), rel=1e-15)
    simsiam = reference("simsiam", batch_size=n)
    assert (simsiam.collapsed, simsiam.chance, simsiam.floor) == (-1.0, 0.0, -1.0)
    assert reference("barlow_twins", batch_size=n, dim=16).collapsed == 16.0
    assert reference("vicreg", batch_size=n, dim=16).collapsed == pytest.approx(25 * 0.99)


COLLAPSED_CALLS = {
    "nt_xent": lambda z, n: L.nt_xent(z, z, temperature=0.07),
    "info_nce": lambda z, n: L.info_nce(z, z, temperature=0.07),
    "decoupled_nt_xent": lambda z, n: L.decoupled_nt_xent(z, z, temperature=0.07),
    "clip_loss": lambda z, n: L.clip_loss(z, z, logit_scale=1 / 0.07),
    "siglip_loss": lambda z, n: L.siglip_loss(z, z, logit_scale=10.0, logit_bias=-10.0),
    "negative_cosine": lambda z, n: L.negative_cosine(z, z),
    "barlow_twins": lambda z, n: L.barlow_twins(z, z),
    "vicreg": lambda z, n: L.vicreg(z, z),
    "supcon": lambda z, n: L.supcon(torch.stack([z, z], 1), torch.arange(n) % 3, temperature=0.07),
}


@pytest.mark.parametrize("loss", sorted(COLLAPSED_CALLS))
def test_collapsed_value_is_the_loss_on_a_constant_batch(loss):
    n, d = 10, 6
    z = torch.ones(n, d, dtype=torch.float64) * torch.linspace(0.5, 2.0, d, dtype=torch.float64)
    values = reference(loss, batch_size=n, dim=d, **({"temperature": 0.07} if loss in (
        "nt_xent", "info_nce", "decoupled_nt_xent", "supcon") else {}))
    assert float(COLLAPSED_CALLS[loss](z, n)) == pytest.approx(values.collapsed, rel=1e-6, abs=1e-9)


LOG_SUM_EXP = [  # (loss, n, d, τ): typical and small-D/low-τ settings
    ("nt_xent", 32, 16, 0.1), ("nt_xent", 64, 2, 0.2), ("nt_xent", 16, 128, 0.05),
    ("info_nce", 32, 16, 0.1), ("decoupled_nt_xent", 32, 16, 0.2), ("clip_loss", 32, 16, 0.07),
]


def _two_view(loss, z1, z2, tau):
    if loss == "clip_loss":
        return L.clip_loss(z1, z2, logit_scale=1 / tau)
    return getattr(L, loss)(z1, z2, temperature=tau)


@pytest.mark.parametrize("loss, n, d, tau", LOG_SUM_EXP)
def test_chance_and_floor_match_monte_carlo(loss, n, d, tau):
    settings = {"logit_scale": 1 / tau} if loss == "clip_loss" else {"temperature": tau}
    values = reference(loss, batch_size=n, dim=d, **settings)
    chance, se = _monte_carlo(lambda g: _two_view(loss, _sphere((n, d), g), _sphere((n, d), g), tau))
    assert abs(values.chance - chance) < 4 * se + 0.01 * abs(chance), (values.chance, chance, se)
    floor, se = _monte_carlo(lambda g: _two_view(loss, *(2 * [_sphere((n, d), g)]), tau))  # aligned, uniform
    assert abs(values.floor - floor) < 4 * se + 0.02, (values.floor, floor, se)


def test_supcon_chance_and_floor_match_monte_carlo():
    n, d, tau, classes = 32, 16, 0.1, 4
    labels = torch.arange(n) % classes
    values = reference("supcon", batch_size=n, dim=d, temperature=tau, num_classes=classes)
    chance, se = _monte_carlo(lambda g: L.supcon(_sphere((n, 2, d), g), labels, temperature=tau))
    assert abs(values.chance - chance) < 4 * se + 0.01 * chance
    # the floor: each class at one uniform point, both views on it
    floor, se = _monte_carlo(lambda g: L.supcon(_sphere((classes, d), g)[labels][:, None].expand(n, 2, d), labels,
                                                temperature=tau))
    assert abs(values.floor - floor) < 4 * se + 0.02
    assert reference("supcon", batch_size=n, dim=d).floor is None  # needs the labels: says so
    assert "num_classes" in reference("supcon", batch_size=n, dim=d).floor_formula


def test_siglip_chance_and_floor_match_monte_carlo():
    n, d = 16, 8
    values = reference("siglip_loss", batch_size=n, dim=d)
    chance, se = _monte_carlo(lambda g: L.siglip_loss(_sphere((n, d), g), _sphere((n, d), g),
                                                      logit_scale=10.0, logit_bias=-10.0))
    assert abs(values.chance - chance) < 4 * se + 1e-3
    z = lambda g: _sphere((n, d), g)  # noqa: E731
    floor, se = _monte_carlo(lambda g: L.siglip_loss(*(2 * [z(g)]), logit_scale=10.0, logit_bias=-10.0))
    assert abs(values.floor - floor) < 4 * se + 1e-3


@pytest.mark.parametrize("n, d", [(64, 16), (16, 32)])
def test_barlow_twins_and_vicreg_match_monte_carlo(n, d):
    def normal(g):
        return torch.randn(n, d, generator=g, dtype=torch.float64)
    bt, vic = reference("barlow_twins", batch_size=n, dim=d), reference("vicreg", batch_size=n, dim=d)
    chance, se = _monte_carlo(lambda g: L.barlow_twins(normal(g), normal(g)))
    assert abs(bt.chance - chance) < 4 * se + 1e-3 * chance
    chance, se = _monte_carlo(lambda g: L.vicreg(normal(g), normal(g)))
    assert abs(vic.chance - chance) < 4 * se + 1e-3 * chance
    # the floor is a lower bound for aligned views, reached with N - 1 >= D only up to the sampling noise
    aligned, _ = _monte_carlo(lambda g: L.barlow_twins(*(2 * [normal(g)])), trials=20)
    assert bt.floor <= aligned
    if n - 1 < d:
        assert bt.floor > 0 and vic.floor > 0


def test_more_candidates_more_chance_and_the_floor_is_below_chance():
    for loss in ("nt_xent", "info_nce", "clip_loss", "decoupled_nt_xent"):
        small, large = (reference(loss, batch_size=n, dim=32) for n in (16, 256))
        assert small.chance < large.chance and small.floor < small.collapsed < small.chance


def test_without_dim_chance_and_floor_do_not_exist_and_say_why():
    values = reference("nt_xent", batch_size=8)
    assert values.chance is None and values.floor is None and "dim" in values.chance_formula
    assert values.lines() == {"collapsed": pytest.approx(math.log(15))}
    assert "does not exist" in str(values)


def test_bad_requests_are_refused_with_what_is_known():
    with pytest.raises(ValueError, match="did you mean 'nt_xent'"):
        reference("nt_xnet", batch_size=8)
    with pytest.raises(ValueError, match="its settings are batch_size, dim, temperature"):
        reference("nt_xent", batch_size=8, tau=0.1)
    with pytest.raises(ValueError, match="batch_size"):
        reference("nt_xent", batch_size=1)
    with pytest.raises(ValueError, match="temperature"):
        reference(L.nt_xent, batch_size=8, temperature=0.0)
    with pytest.raises(ValueError, match="dim"):
        reference("nt_xent", batch_size=8, dim=1)


def test_defaults_are_the_losses_own():
    assert reference(L.nt_xent, batch_size=8, dim=4) == reference("nt_xent", batch_size=8, dim=4, temperature=0.1)
    assert reference("clip", batch_size=8, dim=4) == reference("clip_loss", batch_size=8, dim=4,
                                                               logit_scale=1 / 0.07)
    with pytest.raises(Exception):  # frozen
        reference("nt_xent", batch_size=8).collapsed = 0.0
