"""data.nuisance_clusters: class clusters beside per-sample nuisance that every view redraws, optionally
mixed by a fixed rotation (the toys of lessons 03 and 07)."""

import numpy as np
import pytest
import torch

import contrastlab.data as D
from contrastlab.metrics import knn_accuracy


def corr(p, q):
    """Pearson correlation of two tensors' entries."""
    return float(np.corrcoef(p.flatten().numpy(), q.flatten().numpy())[0, 1])


def test_registered_and_exported():
    assert D.DATASETS["nuisance_clusters"] is D.nuisance_clusters and not D.is_paired("nuisance_clusters")
    assert not D.reads_files("nuisance_clusters") and "NuisanceClusters" in D.__all__


@pytest.mark.parametrize("rotate", [False, True])
def test_seeded_and_the_signal_is_vmf_mixtures(rotate):
    a, b, c = (D.nuisance_clusters(300, n_classes=3, dim=6, n_nuisance=5, rotate=rotate, seed=s) for s in (2, 2, 3))
    assert isinstance(a, D.NuisanceClusters) and a.x.shape == (300, 11) and a.labels.shape == (300,)
    assert torch.equal(a.x, b.x) and torch.equal(a.labels, b.labels) and not torch.equal(a.x, c.x)
    clusters = D.vmf_mixture(300, n_classes=3, dim=6, seed=2)  # the same points, the same labels
    assert torch.equal(a.signal, clusters.x) and torch.equal(a.latents, clusters.x)
    assert torch.equal(a.labels, clusters.labels)
    assert a.nuisance.shape == (300, 5) and (a.mix is not None) == rotate
    assert a.knobs["rotate"] is rotate and a.knobs["n_nuisance"] == 5


def test_unrotated_inputs_are_signal_then_nuisance_from_their_own_stream():
    toy = D.nuisance_clusters(200, dim=4, n_nuisance=3, nuisance_scale=0.5, seed=7)
    torch.testing.assert_close(toy.x[:, :4], toy.signal, rtol=0, atol=0)
    expected = 0.5 * np.random.default_rng([7, 1]).standard_normal((200, 3))  # the documented stream
    torch.testing.assert_close(toy.x[:, 4:], torch.as_tensor(expected, dtype=torch.float32))


def test_the_rotation_is_orthogonal_and_mixes_the_unrotated_inputs():
    plain = D.nuisance_clusters(300, dim=32, n_nuisance=32, nuisance_scale=0.3, seed=1)
    mixed = D.nuisance_clusters(300, dim=32, n_nuisance=32, nuisance_scale=0.3, rotate=True, seed=1)
    q = mixed.mix.double()  # (64, 64)
    torch.testing.assert_close(q @ q.T, torch.eye(64, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(mixed.x @ mixed.mix.T, plain.x, atol=1e-5, rtol=0)  # rotate changes only the mixing
    assert float(mixed.x[:, :32].sub(plain.x[:, :32]).abs().mean()) > 0.05  # and it does mix
    assert float((mixed.x @ mixed.mix.T)[:, 32:].std()) == pytest.approx(0.3, rel=0.1)  # nuisance_scale
    assert not torch.equal(mixed.mix, D.nuisance_clusters(300, dim=32, n_nuisance=32, rotate=True, seed=2).mix)


@pytest.mark.parametrize("rotate", [False, True])
def test_views_keep_the_signal_and_redraw_the_nuisance(rotate):
    toy = D.nuisance_clusters(400, n_classes=3, dim=6, n_nuisance=5, nuisance_scale=0.5, view_noise=0.0,
                              rotate=rotate, seed=3)
    v = toy.views(generator=toy.generator(1))  # (400, 2, 11)
    if rotate:
        v = v @ toy.mix.T  # unmixed: [signal, nuisance]
    torch.testing.assert_close(v[:, 0, :6], toy.signal, atol=1e-5, rtol=0)  # view_noise 0: signal kept exactly
    torch.testing.assert_close(v[:, 1, :6], toy.signal, atol=1e-5, rtol=0)
    nu0, nu1 = v[:, 0, 6:], v[:, 1, 6:]  # (400, 5) each: fresh draws of std 0.5
    assert abs(corr(nu0, nu1)) < 0.06 and abs(corr(nu0, toy.nuisance)) < 0.06, "the nuisance must be redrawn"
    assert float(nu0.std()) == pytest.approx(0.5, rel=0.1)
    noisy = D.nuisance_clusters(400, n_classes=3, dim=6, n_nuisance=5, view_noise=0.2, rotate=rotate, seed=3)
    w = noisy.views(generator=toy.generator(1))
    w = w @ noisy.mix.T if rotate else w
    torch.testing.assert_close(w[:, 0, :6].norm(dim=1), torch.ones(400), atol=1e-5, rtol=0)  # unit signal
    assert float((w[:, 0, :6] - toy.signal).abs().mean()) > 0.02  # view_noise moves the signal


def test_the_nuisance_holds_the_raw_knn_down_and_scale_zero_removes_it():
    signal_knn = knn_accuracy(D.vmf_mixture(1000, seed=0).x, D.vmf_mixture(1000, seed=0).labels, k=20)
    for rotate in (False, True):
        clean = D.nuisance_clusters(1000, nuisance_scale=0.0, rotate=rotate, seed=0)
        noisy = D.nuisance_clusters(1000, nuisance_scale=0.4, rotate=rotate, seed=0)
        assert signal_knn > 0.9
        assert knn_accuracy(clean.x, clean.labels, k=20) == pytest.approx(signal_knn, abs=2e-3)  # padding / rotation
        assert knn_accuracy(noisy.x, noisy.labels, k=20) < signal_knn - 0.1


def test_subset_and_to_keep_signal_nuisance_and_mix_together():
    toy = D.nuisance_clusters(200, rotate=True, seed=4)
    part = toy.subset(torch.arange(10, 30))
    assert torch.equal(part.x, toy.x[10:30]) and torch.equal(part.signal, toy.signal[10:30])
    assert torch.equal(part.nuisance, toy.nuisance[10:30]) and torch.equal(part.mix, toy.mix)
    assert part.views(generator=part.generator(0)).shape == (20, 2, 32)
    assert D.nuisance_clusters(50, seed=0).subset(torch.arange(5)).mix is None


def test_moves_to_the_device(device):
    toy = D.nuisance_clusters(100, rotate=True, seed=0, device=device)
    assert toy.x.device.type == toy.signal.device.type == toy.mix.device.type == torch.device(device).type
    assert toy.views(generator=toy.generator(0)).device.type == torch.device(device).type
    torch.testing.assert_close(toy.x.cpu(), D.nuisance_clusters(100, rotate=True, seed=0).x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("knob, value, error", [
    ("n_nuisance", 0, ValueError), ("n_nuisance", 2.0, TypeError), ("nuisance_scale", -0.1, ValueError),
    ("nuisance_scale", "0.4", TypeError), ("dim", 1, ValueError), ("n_classes", 0, ValueError),
    ("concentration", -1.0, ValueError), ("view_noise", -0.1, ValueError), ("rotate", 1, TypeError),
    ("rotate", "yes", TypeError), ("seed", -1, ValueError), ("n", 1, ValueError),
])
def test_bad_knobs_are_refused_by_name(knob, value, error):
    with pytest.raises(error, match=knob):
        D.nuisance_clusters(50, **{knob: value}) if knob != "n" else D.nuisance_clusters(value)


def test_fewer_samples_than_classes_is_refused():
    with pytest.raises(ValueError, match="n must be at least n_classes"):
        D.nuisance_clusters(5, n_classes=10)
