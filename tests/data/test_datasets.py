"""Each toy dataset is seeded and device-aware, and its knobs move what they claim to."""

import math

import pytest
import torch

import contrastlab.data as D
from contrastlab import metrics as M


def first_views(data, seed=0):
    v = data.views(generator=torch.Generator().manual_seed(seed))
    return v[:, 0], v[:, 1]


@pytest.mark.parametrize("make", [lambda **k: D.vmf_mixture(300, **k), lambda **k: D.latent_mlp(300, **k),
                                  lambda **k: D.feature_mix(300, **k), lambda **k: D.paired_modalities(300, **k),
                                  lambda **k: D.digits(n=300, **k)],
                         ids=["vmf", "latent", "features", "paired", "digits"])
def test_seeded_and_reproducible(make):
    a, b, c = make(seed=1), make(seed=1), make(seed=2)
    assert torch.equal(a.x, b.x) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.x, c.x)
    va = a.views(torch.arange(10), generator=torch.Generator().manual_seed(5))
    vb = b.views(torch.arange(10), generator=torch.Generator().manual_seed(5))
    if isinstance(va, tuple):
        assert all(torch.equal(x, y) for x, y in zip(va, vb))
    else:
        assert torch.equal(va, vb) and va.shape[:2] == (10, 2)


def test_vmf_shapes_and_unit_norm():
    d = D.vmf_mixture(500, n_classes=7, dim=12)
    assert d.x.shape == (500, 12) and d.labels.shape == (500,) and d.means.shape == (7, 12)
    torch.testing.assert_close(d.x.norm(dim=1), torch.ones(500))
    v1, v2 = first_views(d)
    torch.testing.assert_close(v1.norm(dim=1), torch.ones(500))


def test_vmf_class_imbalance():
    balanced = D.vmf_mixture(1000, n_classes=5).labels.bincount()
    assert balanced.tolist() == [200] * 5
    counts = D.vmf_mixture(1000, n_classes=5, imbalance=10).labels.bincount()
    assert counts.sum() == 1000
    assert counts.max() / counts.min() == pytest.approx(10, rel=0.1)


def test_vmf_concentration_tightens_the_clusters():
    def mean_cos_to_centre(kappa):
        d = D.vmf_mixture(2000, n_classes=4, dim=8, concentration=kappa)
        return float((d.x * d.means[d.labels]).sum(1).mean())
    loose, tight = mean_cos_to_centre(2.0), mean_cos_to_centre(100.0)
    assert tight > 0.9 > loose
    assert abs(mean_cos_to_centre(0.0)) < 0.05  # kappa = 0: uniform on the sphere


def test_vmf_sampler_matches_the_known_mean_cosine():
    """E[μᵀx] = I_{d/2}(κ) / I_{d/2-1}(κ) for a vMF on S^{d-1} (the mean resultant length)."""
    from scipy.special import ive

    for dim, kappa in [(3, 5.0), (16, 20.0)]:
        d = D.vmf_mixture(20000, n_classes=1, dim=dim, concentration=kappa, seed=3)
        expected = ive(dim / 2, kappa) / ive(dim / 2 - 1, kappa)
        assert float((d.x @ d.means[0]).mean()) == pytest.approx(expected, abs=0.01)


def test_view_noise_lowers_the_alignment_of_the_raw_views():
    values = [M.alignment(*first_views(D.vmf_mixture(500, view_noise=s))) for s in (0.0, 0.1, 0.3, 1.0)]
    assert values[0] == pytest.approx(0.0, abs=1e-10)
    assert values == sorted(values) and values[-1] > 3 * values[1]


@pytest.mark.parametrize("k", [2, 5, 20])
def test_the_number_of_classes_sets_the_collision_rate(k):
    d = D.vmf_mixture(2000, n_classes=k)
    assert M.collision_rate(d.labels) == pytest.approx(1 / k, rel=0.05)


def test_gaussian_kind():
    d = D.vmf_mixture(300, kind="gaussian", concentration=50)
    torch.testing.assert_close(d.x.norm(dim=1), torch.ones(300))
    assert float((d.x * d.means[d.labels]).sum(1).mean()) > 0.8


def test_latent_mlp_is_an_invertible_map_of_the_latent():
    d = D.latent_mlp(800, latent_dim=3, obs_dim=10, view_noise=0.05)
    assert d.x.shape == (800, 10) and d.latents.shape == (800, 3)
    torch.testing.assert_close(d.latents.norm(dim=1), torch.ones(800))
    torch.testing.assert_close(d.mix(d.latents), d.x)
    # invertible: distinct latents never map to the same observation, and nearby latents stay nearby
    dist_z = torch.cdist(d.latents[:200], d.latents[:200])
    dist_x = torch.cdist(d.x[:200], d.x[:200])
    off = ~torch.eye(200, dtype=torch.bool)
    # bi-Lipschitz from below: (min singular value 0.5)^3 layers x (leaky slope 0.2)^2 activations
    assert float((dist_x[off] / dist_z[off]).min()) >= 0.5**3 * 0.2**2
    # the views are g of perturbed latents: more noise, further apart
    near = M.alignment(*first_views(d))
    far = M.alignment(*first_views(D.latent_mlp(800, latent_dim=3, obs_dim=10, view_noise=0.5)))
    assert far > 3 * near


def test_feature_mix_knobs():
    d = D.feature_mix(1000, n_classes=3, n_subclasses=2, class_strength=1.0, easy_view_noise=0.0, view_noise=0.0)
    v1, v2 = first_views(d)
    torch.testing.assert_close(v1, v2)  # no noise at all: identical views
    blocks = d.clean[:, :8], d.clean[:, 8:12], d.clean[:, 12:]
    assert float(blocks[0].norm(dim=1).mean()) == pytest.approx(1.0)  # easy_strength 1
    assert float(blocks[1].norm(dim=1).mean()) == pytest.approx(1.0)  # class_strength 1
    assert float(blocks[2].norm(dim=1).mean()) == pytest.approx(0.5)  # subclass_strength 0.5
    same_class = d.labels[:, None] == d.labels[None, :]
    class_cos = M.similarity_matrix(blocks[1])
    assert float(class_cos[same_class].min()) == pytest.approx(1.0)  # the class block is the class direction
    assert set(d.subclass.tolist()) == {0, 1} and d.latents.shape == (1000, 3)
    noisy_easy = D.feature_mix(1000, easy_view_noise=0.5, view_noise=0.0)
    e1, e2 = first_views(noisy_easy)
    assert not torch.allclose(e1, e2)  # better views perturb the easy feature


def test_feature_mix_easy_feature_identifies_instances():
    d = D.feature_mix(500, class_strength=0.0, subclass_strength=0.0, easy_strength=1.0)
    v1, v2 = first_views(d)
    assert M.positive_rank_accuracy(v1, v2, topk=(1,))[1] > 0.95  # the shortcut: instances without classes


def test_paired_modalities():
    d = D.paired_modalities(400, dim_a=20, dim_b=12, noise_a=0.0, noise_b=0.5)
    a, b = d.views(torch.arange(50))
    assert a.shape == (50, 20) and b.shape == (50, 12)
    torch.testing.assert_close(a, d.x[:50])  # no noise on modality a
    assert not torch.allclose(b, d.b[:50])
    with pytest.raises(ValueError, match="exactly two views"):
        d.views(n_views=3)


def test_digits_and_augmentation_strength():
    d = D.digits(strength=0.0)
    assert d.x.shape == (1797, 1, 8, 8) and float(d.x.max()) == 1.0 and set(d.labels.tolist()) == set(range(10))
    v1, v2 = first_views(d)
    torch.testing.assert_close(v1, d.x)
    distances = []
    for s in (0.2, 0.5, 1.0):
        a, b = first_views(D.digits(strength=s))
        distances.append(float((a - b).pow(2).mean()))
    assert distances == sorted(distances) and distances[0] > 0


def test_digits_imbalance_is_a_geometric_tail():
    full = torch.bincount(D.digits().labels, minlength=10)
    counts = torch.bincount(D.digits(imbalance=10.0, seed=3).labels, minlength=10)
    expected = [max(1, int(int(full[c]) * 10.0 ** (-c / 9))) for c in range(10)]
    assert counts.tolist() == expected
    assert int(counts[0]) == int(full[0]) and 8 < int(counts[0]) / int(counts[9]) < 12
    again = D.digits(imbalance=10.0, seed=3)
    assert torch.equal(again.x, D.digits(imbalance=10.0, seed=3).x)  # seeded
    assert not torch.equal(again.x, D.digits(imbalance=10.0, seed=4).x)  # same counts, other images
    assert len(D.digits(imbalance=10.0, n=100).labels) == 100
    assert torch.equal(D.digits(imbalance=1).x, D.digits().x)
    with pytest.raises(ValueError, match=r"imbalance must be a finite number in \[1.0, inf\], got 0.5"):
        D.digits(imbalance=0.5)


@pytest.mark.parametrize("name", D.AUGMENTATIONS)
def test_each_digit_augmentation_changes_images(name):
    x = D.digits(n=64).x
    out = D.augment_digits(x, strength=1.0, augmentations=(name,), generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_split_subset_and_dataset():
    d = D.vmf_mixture(100)
    train, test = d.split(0.2, seed=1)
    assert len(train) == 80 and len(test) == 20
    assert set(train.x[:, 0].tolist()).isdisjoint(set(test.x[:, 0].tolist()))
    assert torch.equal(train.means, d.means)  # shared fields are not indexed
    loader = torch.utils.data.DataLoader(d.dataset(), batch_size=16, shuffle=True)
    idx, labels = next(iter(loader))
    assert torch.equal(d.labels[idx], labels) and d.views(idx).shape == (16, 2, 16)


def test_bad_knobs():
    with pytest.raises(ValueError, match=r"n_classes must be an integer >= 1, got 0"):
        D.vmf_mixture(100, n_classes=0)
    with pytest.raises(ValueError, match=r"imbalance must be a finite number in \[1.0, inf\], got 0.5"):
        D.vmf_mixture(100, imbalance=0.5)
    with pytest.raises(ValueError, match=r"concentration must be a finite number in \[0.0, inf\], got -1.0"):
        D.vmf_mixture(100, concentration=-1)
    with pytest.raises(ValueError, match=r"n must be at least n_classes=10"):
        D.vmf_mixture(5)
    with pytest.raises(ValueError, match=r"strength must be a finite number in \[0.0, 1.0\], got 2.0"):
        D.digits(strength=2)
    with pytest.raises(ValueError, match=r"augmentations must be one of 'crop', .* got 'flip'"):
        D.digits(augmentations=("flip",))
    with pytest.raises(ValueError, match=r"obs_dim must be an integer >= 4, got 2"):
        D.latent_mlp(100, latent_dim=4, obs_dim=2)
    with pytest.raises(TypeError, match=r"seed must be an int, got float 1.5"):
        D.vmf_mixture(100, seed=1.5)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, got -1"):  # not numpy's message
        D.vmf_mixture(100, seed=-1)
    with pytest.raises(ValueError, match=r"n_views must be an integer >= 1"):
        D.vmf_mixture(100).views(n_views=0)


def test_datasets_move_to_the_device(device):
    for data in (D.vmf_mixture(64), D.latent_mlp(64), D.feature_mix(64), D.digits(n=64)):
        moved = data.to(device)
        assert moved.x.device.type == device.type and moved.labels.device.type == device.type
        views = moved.views(torch.arange(8, device=device), generator=moved.generator(0))
        assert views.device.type == device.type
    built = D.vmf_mixture(64, device=device)
    assert built.x.device.type == device.type
    assert torch.equal(built.x.cpu(), D.vmf_mixture(64).x)  # the same data on every device
