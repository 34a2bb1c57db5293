"""Collapse helpers (contrastlab.lessons.collapse): diagnostics, collapsed-batch losses, encoders with and
without a projector, the SupCon + SimCLR builder, and the class-collapse measures."""

import math

import numpy as np
import pytest
import torch

import contrastlab.metrics as M
from contrastlab import data as D
from contrastlab.lessons.collapse import (ablation_runs, collapse_report, collapsed_loss, encoder_with_projector,
                                          log_spectrum, subclass_accuracy, supcon_simclr, variance_share)
from contrastlab.methods import VICReg, BarlowTwins, SimSiam, build_method
from contrastlab.models import build_encoder
from contrastlab.train import fit


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- collapse_report ---------------------------------------------------------------------------

def test_report_of_spread_dimensional_and_collapsed_batches(device):
    spread = randn(4000, 16, seed=1).to(device)  # isotropic: std·√d -> 1
    report = collapse_report(spread)
    assert report["std_ratio"] == pytest.approx(1.0, abs=0.02)
    assert report["mean_norm"] < 0.05
    assert report["erank"] > 15 and report["erank_centred"] > 15
    flat = spread[:, :3] @ randn(3, 16, seed=2).to(device)  # rank 3
    assert collapse_report(flat)["erank_centred"] < 3.0 + 1e-4
    point = torch.zeros(64, 16, device=device)
    point[:, 0] = 1.0  # one point, exactly
    collapsed = collapse_report(point)
    assert collapsed["std"] == 0.0 and collapsed["std_ratio"] == 0.0
    assert collapsed["mean_norm"] == pytest.approx(1.0)
    assert collapsed["erank"] == pytest.approx(1.0)
    assert collapsed["uniformity"] == pytest.approx(0.0, abs=1e-6)


def test_report_matches_the_metrics():
    z = randn(100, 8, seed=3) + 0.5
    report = collapse_report(z)
    assert report["std"] == pytest.approx(M.collapse_std(z))
    assert report["std_ratio"] == pytest.approx(M.collapse_std(z) * math.sqrt(8))
    assert report["erank"] == pytest.approx(M.effective_rank(z))
    assert report["erank_centred"] == pytest.approx(M.effective_rank(z, center=True))


def test_report_validates_its_input():
    with pytest.raises(ValueError, match="z must have at least 2 rows"):
        collapse_report(randn(1, 8))
    with pytest.raises(ValueError, match="z must be finite"):
        collapse_report(torch.full((4, 3), math.nan))


# --- collapsed_loss ----------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 7, 128])
def test_collapsed_losses_have_their_closed_forms(n):
    assert collapsed_loss("simsiam", batch_size=n) == -1.0
    assert collapsed_loss("byol", batch_size=n) == 0.0
    assert collapsed_loss("vicreg", batch_size=n) == pytest.approx(25 * (1 - math.sqrt(1e-4)), abs=1e-12)
    assert collapsed_loss("vicreg", batch_size=n, var_weight=0.0, cov_weight=0.0) == 0.0
    assert collapsed_loss("barlow", batch_size=n, dim=12) == pytest.approx(12.0)
    for tau in (0.05, 0.5, 2.0):
        assert collapsed_loss("simclr", batch_size=n, temperature=tau) == pytest.approx(math.log(2 * n - 1), abs=1e-9)


def test_collapsed_losses_match_the_set_ups_on_a_constant_batch():
    """The set-ups' own pair losses on a collapsed batch give the same values (SimSiam without its
    predictor, so that the prediction is the collapsed vector itself)."""
    c = torch.zeros(16, 8, dtype=torch.float64)
    c[:, 3] = 2.0
    labels = torch.zeros(16, dtype=torch.long)
    encoder = build_encoder((4,), out_dim=8)
    for options in ({}, dict(var_weight=3.0, cov_weight=0.0), dict(sim_weight=1.0, var_weight=0.0)):
        got = float(VICReg(encoder, **options).pair_loss(c, c, labels, 0))
        assert got == pytest.approx(collapsed_loss("vicreg", batch_size=16, dim=8, **options))
    assert float(BarlowTwins(encoder).pair_loss(c, c, labels, 0)) == pytest.approx(
        collapsed_loss("barlow", batch_size=16, dim=8))
    assert float(SimSiam(encoder, use_predictor=False).pair_loss(c, c, labels, 0)) == pytest.approx(
        collapsed_loss("simsiam"))


def test_collapsed_loss_validates():
    with pytest.raises(ValueError, match="method must be one of"):
        collapsed_loss("moco")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 2"):
        collapsed_loss("simclr", batch_size=1)
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        collapsed_loss("barlow", dim=0)


# --- encoder_with_projector --------------------------------------------------------------------

def test_the_arms_share_the_backbone_initialisation():
    encoders = {p: encoder_with_projector(10, projector=p, feature_dim=6, seed=3) for p in ("none", "linear", "mlp")}
    reference = encoders["none"].backbone.state_dict()
    for encoder in encoders.values():
        for key, value in encoder.backbone.state_dict().items():
            assert torch.equal(value, reference[key])
    x = randn(5, 10, seed=4)
    encoders["none"].eval()
    assert torch.equal(encoders["none"](x), encoders["none"].features(x))
    assert isinstance(encoders["linear"].head, torch.nn.Linear) and encoders["linear"](x).shape == (5, 6)
    assert encoder_with_projector(10, projector="mlp", feature_dim=6, out_dim=3)(x).shape == (5, 3)
    other = encoder_with_projector(10, projector="none", feature_dim=6, seed=4).backbone.state_dict()
    assert not all(torch.equal(other[k], reference[k]) for k in reference)


def test_encoder_with_projector_validates():
    with pytest.raises(ValueError, match="projector must be one of"):
        encoder_with_projector(4, projector="deep")
    with pytest.raises(ValueError, match="out_dim must equal feature_dim"):
        encoder_with_projector(4, projector="none", feature_dim=8, out_dim=4)
    with pytest.raises(ValueError, match="input_dim"):
        encoder_with_projector(0)


# --- SupCon + SimCLR ---------------------------------------------------------------------------

def test_supcon_simclr_starts_from_fits_initialisation_and_trains():
    toy = D.feature_mix(200, seed=0)
    joint = supcon_simclr(toy, out_dim=4, seed=5)
    torch.manual_seed(5)
    reference = build_method("simclr", toy, out_dim=4)
    for (name, a), (_, b) in zip(joint.encoder.state_dict().items(), reference.encoder.state_dict().items()):
        assert torch.equal(a, b), name
    history = fit(toy, joint, steps=3, batch_size=32, eval_every=0, metrics=("knn",), progress=False)
    assert math.isfinite(history.last()["loss"])


# --- variance_share and subclass_accuracy ------------------------------------------------------

def numpy_share(z, factor, within):
    """Plain float64 loops: sum of n_g |mean_g - mean_c|^2 over sum of |u_i - mean_c|^2, pooled over c."""
    u = z / np.linalg.norm(z, axis=1, keepdims=True)
    between = total = 0.0
    for c in np.unique(within):
        uc, fc = u[within == c], factor[within == c]
        mean = uc.mean(0)
        total += ((uc - mean) ** 2).sum()
        for g in np.unique(fc):
            between += (fc == g).sum() * ((uc[fc == g].mean(0) - mean) ** 2).sum()
    return between / total


def test_variance_share_matches_a_numpy_reference():
    z = randn(90, 6, seed=7)
    factor = torch.randint(0, 3, (90,), generator=torch.Generator().manual_seed(1))
    within = torch.randint(0, 2, (90,), generator=torch.Generator().manual_seed(2))
    assert variance_share(z, factor) == pytest.approx(numpy_share(z.numpy(), factor.numpy(), np.zeros(90)))
    assert variance_share(z, factor, within=within) == pytest.approx(
        numpy_share(z.numpy(), factor.numpy(), within.numpy()))
    assert variance_share(3.0 * z, factor) == pytest.approx(variance_share(z, factor))  # scale-free


def test_variance_share_extremes():
    points = randn(3, 5, seed=1)
    factor = torch.arange(30) % 3
    assert variance_share(points[factor], factor) == pytest.approx(1.0)  # each group a single point
    z = randn(40, 5, seed=2)
    groups = (torch.arange(80) >= 40).long()
    mirrored = torch.cat([z, z])  # both groups hold the same points: equal means
    assert variance_share(mirrored, groups) == pytest.approx(0.0, abs=1e-12)


def test_variance_share_validates():
    with pytest.raises(ValueError, match="factor must have shape"):
        variance_share(randn(10, 3), torch.zeros(9, dtype=torch.long))
    with pytest.raises(TypeError, match="within must have an integer dtype"):
        variance_share(randn(10, 3), torch.zeros(10, dtype=torch.long), within=torch.zeros(10))
    with pytest.raises(ValueError, match="needs embeddings with some spread"):
        variance_share(torch.ones(10, 3), torch.arange(10) % 2)


def test_subclass_accuracy_separates_kept_and_collapsed_subclasses():
    g = torch.Generator().manual_seed(0)
    labels, subclass = torch.arange(400) % 2, (torch.arange(400) // 2) % 2
    noise = 0.1 * torch.randn(400, 4, generator=g)
    kept = torch.stack([labels, subclass], 1).float() @ torch.randn(2, 4, generator=g) + noise  # subclass visible
    collapsed = labels[:, None].float() * torch.randn(1, 4, generator=g) + noise  # only the class
    assert subclass_accuracy(kept, labels, subclass) > 0.95
    assert abs(subclass_accuracy(collapsed, labels, subclass) - 0.5) < 0.15


def test_subclass_accuracy_validates():
    with pytest.raises(ValueError, match="labels must have shape"):
        subclass_accuracy(randn(10, 3), torch.zeros(4, dtype=torch.long), torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 4 samples and 2 subclasses"):
        subclass_accuracy(randn(10, 3), torch.arange(10) % 2, torch.zeros(10, dtype=torch.long))


# --- ablation_runs -------------------------------------------------------------------------------

def small_toy():
    toy = D.vmf_mixture(300, n_classes=3, dim=8, concentration=10, view_noise=0.1, seed=0)
    probe = toy.views(torch.arange(64), generator=toy.generator(1))[:, 0]  # (64, 8)
    return toy, probe, toy.labels[:64]


def test_ablation_runs_rows_match_a_direct_fit():
    toy, probe, y = small_toy()
    arms = {"no sg": ("simsiam", dict(stop_gradient=False)), "untrained": ("simsiam", dict(steps=1, lr=0.0))}
    runs, table = ablation_runs(toy, arms, probe, y, seeds=(0, 3), steps=12, batch_size=32, n_evals=3)
    assert list(table.index) == [(a, s) for a in arms for s in (0, 3)] and set(runs) == set(table.index)
    # an independent computation: the same fit by hand, then the metrics on the probe
    h = fit(toy, "simsiam", steps=12, batch_size=32, lr=3e-3, eval_every=4, eval_size=300, seed=3, progress=False,
            metrics=("std", "erank", "knn_projection"), stop_gradient=False)  # 3 evaluations, as n_evals=3
    z = h.method.project(probe)
    row = table.loc[("no sg", 3)]
    assert row["knn"] == pytest.approx(M.knn_accuracy(z, y))
    assert row["std_ratio"] == pytest.approx(M.collapse_std(z) * math.sqrt(z.shape[1]), rel=1e-5)
    assert row["mean_norm"] == pytest.approx(M.mean_norm(z), rel=1e-5)
    assert len(runs["no sg", 0].frame) >= 3 and "std" in runs["no sg", 0].frame  # curves for the trained arms
    # lr = 0 is the untrained encoder: the weights of the trained arm's initialisation for that seed
    untrained = runs["untrained", 0].method
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fresh = build_method("simsiam", toy)
    weights, initial = dict(untrained.named_parameters()), dict(fresh.named_parameters())
    assert weights.keys() == initial.keys()
    for name, value in weights.items():
        torch.testing.assert_close(value, initial[name], rtol=0, atol=0, msg=name)
    trained = dict(runs["no sg", 0].method.named_parameters())
    assert any(not torch.equal(trained[name], initial[name]) for name in initial)  # the trained arm moved


def test_ablation_runs_validates():
    toy, probe, y = small_toy()
    with pytest.raises(ValueError, match="arms: got an empty dict"):
        ablation_runs(toy, {}, probe, y)
    with pytest.raises(ValueError, match=r"arms\['bad'\]: got 'simsiam'"):
        ablation_runs(toy, {"bad": "simsiam"}, probe, y)
    with pytest.raises(ValueError, match="seeds: got none"):
        ablation_runs(toy, {"a": ("simsiam", {})}, probe, y, seeds=())
    with pytest.raises(TypeError, match="data"):
        ablation_runs(probe, {"a": ("simsiam", {})}, probe, y)


# --- log_spectrum --------------------------------------------------------------------------------

def test_log_spectrum_floors_the_ratios():
    s = torch.tensor([4.0, 2.0, 4e-3, 1e-14, 0.0], dtype=torch.float64)
    got = log_spectrum(s, floor=1e-4)
    expected = np.log10(np.array([1.0, 0.5, 1e-3, 1e-4, 1e-4]))  # by hand: ratios 1, 1/2, 1e-3, then the floor
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert log_spectrum(s, floor=1.0).tolist() == [0.0] * 5


def test_log_spectrum_validates():
    with pytest.raises(ValueError, match="first .* expected > 0"):
        log_spectrum(torch.zeros(3))
    with pytest.raises(ValueError, match="floor"):
        log_spectrum(torch.ones(3), floor=0.0)
    with pytest.raises(ValueError, match="singular_values"):
        log_spectrum(torch.tensor([1.0, float("nan")]))
