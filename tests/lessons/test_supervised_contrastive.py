"""Class-mean geometry, imbalance, positives per anchor, the cross-entropy set-up and the
unconstrained-features model (contrastlab.lessons.supervised_contrastive)."""

import math

import numpy as np
import pytest
import torch

import contrastlab.data as D
import contrastlab.losses as L
from contrastlab.lessons.supervised_contrastive import (CrossEntropy, class_mean_geometry, expected_positives, imbalanced_indices,
                                       mlp_encoder, positives_per_anchor, simplex_cosine, unconstrained_features)
from contrastlab.train import fit


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def simplex(k: int, dim: int) -> torch.Tensor:
    """(K, dim) unit vertices of the regular simplex centred at 0, rotated at random into dim >= K."""
    e = torch.eye(k, dtype=torch.float64) - 1.0 / k  # (K, K) centred standard basis, rows sum to 0
    q, _ = torch.linalg.qr(randn(dim, k, seed=3, dtype=torch.float64))  # (dim, K) orthonormal columns
    v = e @ q.T  # (K, dim)
    return v / v.norm(dim=1, keepdim=True)


# ---------------------------------------------------------------------------------------------- simplex


@pytest.mark.parametrize("k, expected", [(2, -1.0), (3, -0.5), (10, -1 / 9)])
def test_simplex_cosine(k, expected):
    assert simplex_cosine(k) == pytest.approx(expected)


def test_simplex_cosine_is_the_cosine_of_the_simplex():
    v = simplex(6, 9)
    cos = v @ v.T
    off = cos[~torch.eye(6, dtype=torch.bool)]
    torch.testing.assert_close(off, torch.full_like(off, simplex_cosine(6)))


def test_simplex_cosine_validates_k():
    with pytest.raises(ValueError, match="k must be an integer >= 2, got 1"):
        simplex_cosine(1)
    with pytest.raises(TypeError, match="k must be an int"):
        simplex_cosine(3.0)


# ---------------------------------------------------------------------------------------------- geometry


def reference_geometry(z, labels, normalize, center):
    """Plain numpy loop over classes."""
    z = z.double().numpy()
    if normalize:
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    y = labels.numpy()
    classes = np.unique(y)
    means = np.stack([z[y == c].mean(0) for c in classes])
    if center:
        means = means - means.mean(0)
    norms = np.linalg.norm(means, axis=1)
    cos = np.array([[means[a] @ means[b] / (norms[a] * norms[b]) for b in range(len(classes))]
                    for a in range(len(classes))])
    np.fill_diagonal(cos, 1.0)
    return means, norms, cos


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("center", [True, False])
def test_geometry_matches_a_numpy_reference(normalize, center, device):
    z = randn(60, 7, seed=1).to(device) + 0.5
    labels = torch.randint(0, 4, (60,), generator=torch.Generator().manual_seed(2)).to(device)
    g = class_mean_geometry(z, labels, normalize=normalize, center=center)
    means, norms, cos = reference_geometry(z.cpu(), labels.cpu(), normalize, center)
    np.testing.assert_allclose(g.means.numpy(), means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g.norms.numpy(), norms, rtol=1e-10)
    np.testing.assert_allclose(g.cosines.numpy(), cos, rtol=1e-10, atol=1e-12)
    assert g.counts.tolist() == torch.bincount(labels.cpu(), minlength=4).tolist()
    np.testing.assert_allclose(g.angles.numpy(), np.degrees(np.arccos(np.clip(cos, -1, 1))), atol=1e-9)


def test_collapsed_simplex_has_zero_gap_and_unit_norms():
    k = 5
    v = simplex(k, 8).float()
    labels = torch.arange(k).repeat_interleave(torch.tensor([3, 10, 1, 7, 2]))  # imbalanced counts
    z = 4.0 * v[labels]  # every sample sits on its class's vertex, scaled (normalisation removes it)
    g = class_mean_geometry(z, labels)
    torch.testing.assert_close(g.norms, torch.ones(k, dtype=torch.float64), rtol=0, atol=1e-6)
    assert g.simplex_gap() < 1e-6
    assert g.mean_cosine() == pytest.approx(-1 / (k - 1), abs=1e-6)


def test_random_directions_are_far_from_the_simplex():
    z = randn(200, 32, seed=4)
    labels = torch.arange(10).repeat(20)
    g = class_mean_geometry(z, labels)
    assert g.simplex_gap() > 0.1  # random class means are nearly orthogonal, not at -1/9
    assert float(g.norms.max()) < 0.5  # 20 random unit vectors average to a short mean


def test_center_removes_a_shared_offset():
    """A simplex shifted by a common vector is no simplex; centring the class means restores it."""
    v = simplex(4, 6)
    z = v + 3.0 * torch.ones(6, dtype=torch.float64)  # all class means in a narrow cone
    labels = torch.arange(4)
    assert class_mean_geometry(z, labels, normalize=False).simplex_gap() > 0.5
    assert class_mean_geometry(z, labels, normalize=False, center=True).simplex_gap() < 1e-10


def test_mean_cosine_blocks():
    cos_target = torch.tensor([[1.0, 0.2, -0.4], [0.2, 1.0, 0.6], [-0.4, 0.6, 1.0]], dtype=torch.float64)
    # three unit vectors with exactly these cosines (Cholesky factor of the Gram matrix)
    z = torch.linalg.cholesky(cos_target)
    g = class_mean_geometry(z, torch.tensor([7, 8, 9]))
    assert g.mean_cosine() == pytest.approx((0.2 - 0.4 + 0.6) / 3)
    assert g.mean_cosine([8, 9], [8, 9]) == pytest.approx(0.6)
    assert g.mean_cosine([7], [8, 9]) == pytest.approx((0.2 - 0.4) / 2)
    with pytest.raises(ValueError, match=r"rows must be labels present in the geometry \[7, 8, 9\], got unknown \[3\]"):
        g.mean_cosine([3], [8])
    with pytest.raises(ValueError, match="at least one pair of different classes"):
        g.mean_cosine([7], [7])


def test_geometry_validation():
    z = randn(6, 3)
    with pytest.raises(ValueError, match=r"labels must have shape \(6,\)"):
        class_mean_geometry(z, torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must contain at least 2 classes, got only \[0\]"):
        class_mean_geometry(z, torch.zeros(6, dtype=torch.long))
    with pytest.raises(TypeError, match="normalize must be a bool"):
        class_mean_geometry(z, torch.arange(6), normalize=1)
    with pytest.raises(TypeError, match="center must be a bool"):
        class_mean_geometry(z, torch.arange(6), center="yes")
    with pytest.raises(ValueError, match="z must be finite"):
        class_mean_geometry(torch.full((6, 3), float("nan")), torch.arange(6))


# ---------------------------------------------------------------------------------------------- imbalance


def test_step_imbalance_counts():
    labels = torch.arange(4).repeat_interleave(torch.tensor([40, 40, 40, 21]))
    idx = imbalanced_indices(labels, 10, minority=[2, 3], seed=1)
    counts = torch.bincount(labels[idx], minlength=4).tolist()
    assert counts == [40, 40, 4, 2]  # round(40 / 10) = 4; round(21 / 10) = 2
    assert torch.equal(idx, idx.sort().values) and len(idx.unique()) == len(idx)


def test_step_imbalance_min_count_ratio_one_and_seed():
    labels = torch.arange(3).repeat(30)  # 30 per class
    assert torch.equal(imbalanced_indices(labels, 1, minority=[0, 1]), torch.arange(90))
    idx = imbalanced_indices(labels, 1000, minority=[1], min_count=3)
    assert torch.bincount(labels[idx]).tolist() == [30, 3, 30]
    a = imbalanced_indices(labels, 5, minority=[1], seed=0)
    b = imbalanced_indices(labels, 5, minority=[1], seed=1)
    assert torch.equal(a, imbalanced_indices(labels, 5, minority=[1], seed=0))
    assert not torch.equal(a, b)


def test_step_imbalance_validation():
    labels = torch.arange(3).repeat(5)
    with pytest.raises(ValueError, match=r"ratio must be a finite number in \[1.0, inf\], got 0.5"):
        imbalanced_indices(labels, 0.5, minority=[0])
    with pytest.raises(ValueError, match=r"minority must list labels present in labels \[0, 1, 2\], got unknown \[5\]"):
        imbalanced_indices(labels, 2, minority=[5])
    with pytest.raises(ValueError, match="min_count must be an integer >= 1"):
        imbalanced_indices(labels, 2, minority=[0], min_count=0)
    with pytest.raises(TypeError, match="labels must be a 1-d integer tensor"):
        imbalanced_indices(labels.float(), 2, minority=[0])


# ---------------------------------------------------------------------------------------------- positives


@pytest.mark.parametrize("n_views", [1, 2, 3])
def test_positives_per_anchor_brute_force(n_views):
    labels = torch.tensor([0, 1, 0, 2, 2, 2, 5])
    y = labels.repeat(n_views)  # view-major, as losses.supcon
    same = (y[:, None] == y[None, :]) & ~torch.eye(len(y), dtype=torch.bool)
    assert positives_per_anchor(labels, n_views=n_views).tolist() == same.sum(1).tolist()


def test_positives_match_supcon_distinct_labels_reduce_to_nt_xent():
    """With distinct labels every anchor has one positive, its other view: SupCon is NT-Xent."""
    z1, z2 = randn(8, 5, seed=1), randn(8, 5, seed=2)
    labels = torch.arange(8)
    assert positives_per_anchor(labels).tolist() == [1] * 16
    torch.testing.assert_close(L.supcon(torch.stack([z1, z2], 1), labels, temperature=0.3),
                               L.nt_xent(z1, z2, temperature=0.3))


def test_expected_positives_closed_forms_and_monte_carlo():
    assert expected_positives(1, [5, 5]) == (1.0, pytest.approx(1.0))  # a batch of one: only its own view
    sizes = [30, 30, 10, 5]
    mean, none = expected_positives(12, sizes)
    labels = torch.arange(4).repeat_interleave(torch.tensor(sizes))
    g = torch.Generator().manual_seed(0)
    draws = [positives_per_anchor(labels[torch.randperm(75, generator=g)[:12]]) for _ in range(4000)]
    p = torch.stack(draws).double()  # (4000, 24)
    assert mean == pytest.approx(float(p.mean()), abs=0.03)
    assert none == pytest.approx(float((p == 1).double().mean()), abs=0.01)
    assert expected_positives(12, sizes, n_views=1)[0] == pytest.approx((mean - 1) / 2)


def test_expected_positives_validation():
    with pytest.raises(ValueError, match="batch_size must be <= the 10 samples of class_sizes, got 11"):
        expected_positives(11, [5, 5])
    with pytest.raises(ValueError, match="class_sizes must be a non-empty list of counts >= 1"):
        expected_positives(2, [5, 0])
    with pytest.raises(TypeError, match=r"labels must be a 1-d integer tensor \(B,\), got dtype torch.float32"):
        positives_per_anchor(torch.zeros(3))
    with pytest.raises(ValueError, match="labels must be a non-empty 1-d integer tensor"):
        positives_per_anchor(torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="n_views must be an integer >= 1"):
        positives_per_anchor(torch.arange(3), n_views=0)


# ---------------------------------------------------------------------------------------------- set-ups


def test_mlp_encoder_is_seeded_and_shaped():
    a, b = mlp_encoder((1, 8, 8), seed=3), mlp_encoder((1, 8, 8), seed=3)
    x = randn(5, 1, 8, 8)
    a.eval(), b.eval()
    torch.testing.assert_close(a(x), b(x))
    assert a(x).shape == (5, 32) and a.features(x).shape == (5, 64)
    assert not torch.allclose(mlp_encoder((1, 8, 8), seed=4).eval()(x), a(x))
    with pytest.raises(ValueError, match="input_shape must be a tuple of positive ints"):
        mlp_encoder((0, 8))


def test_cross_entropy_learns_the_digits():
    data = D.digits(strength=0.3, n=300)
    method = CrossEntropy(mlp_encoder((1, 8, 8), seed=0), n_classes=10)
    history = fit(data, method, steps=40, batch_size=64, lr=3e-3, eval_every=20, metrics=(), progress=False)
    assert history["loss"][-1] < 0.5 * math.log(10)  # well below the chance level log K
    accuracy = (method.logits(data.x).argmax(1) == data.labels).float().mean()
    assert accuracy > 0.8
    assert method.project(data.x).shape == (300, 32)


def test_cross_entropy_by_name_reads_the_number_of_classes_off_the_data():
    data = D.vmf_mixture(400, n_classes=4)
    history = fit(data, "ce", steps=30, batch_size=64, lr=3e-3, eval_every=0, metrics=(), progress=False)
    assert history.method.n_classes == 4 and history.method.classifier.out_features == 4
    assert history["loss"][-1] < 0.5 * math.log(4)


def test_cross_entropy_validation():
    enc = mlp_encoder((4,))
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        CrossEntropy(enc, n_classes=1)
    method = CrossEntropy(enc, n_classes=3)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\] \(n_classes = 3\), got min 0 and max 3"):
        method.loss(randn(4, 2, 4), torch.tensor([0, 1, 2, 3]), 0)
    with pytest.raises(TypeError, match="unknown options"):
        CrossEntropy(enc, n_classes=3, temperature=0.1)


# ---------------------------------------------------------------------------------------------- free features


def test_free_supcon_features_form_a_regular_simplex():
    """Graf et al. 2021: with balanced classes SupCon's minimiser is a collapsed regular simplex."""
    free = unconstrained_features([6] * 5, loss="supcon", dim=8, temperature=0.3)
    g = class_mean_geometry(free.features, free.labels)
    assert g.simplex_gap() < 0.01
    assert float(g.norms.min()) > 0.99  # class collapse
    assert free.classifier is None


def test_free_supcon_minority_classes_move_together():
    free = unconstrained_features([20, 20, 20, 2, 2, 2], loss="supcon", dim=8, temperature=0.3)
    g = class_mean_geometry(free.features, free.labels)
    assert g.mean_cosine([3, 4, 5], [3, 4, 5]) > g.mean_cosine([0, 1, 2], [0, 1, 2]) + 0.2


def test_free_cross_entropy_balanced_is_a_centred_simplex():
    free = unconstrained_features([8] * 4, loss="ce", dim=6)
    assert free.classifier.shape == (4, 6)
    assert class_mean_geometry(free.features, free.labels, normalize=False, center=True).simplex_gap() < 0.02
    assert class_mean_geometry(free.classifier, torch.arange(4), normalize=False).simplex_gap() < 0.02


def test_free_features_validation():
    with pytest.raises(ValueError, match=r"counts must be >= 2 for loss='supcon'.*got \[3, 1\]"):
        unconstrained_features([3, 1])
    with pytest.raises(ValueError, match="loss must be 'supcon' or 'ce', got 'mse'"):
        unconstrained_features([3, 3], loss="mse")
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got 0.0"):
        unconstrained_features([3, 3], temperature=0)
    with pytest.raises(ValueError, match="counts must list at least 2 class sizes"):
        unconstrained_features([3])


# ---------------------------------------------------------------------------------------------- augmented scores


def _small_digits(strength=0.5):
    return D.digits(strength=strength, n=400).split(0.3, seed=0)


def test_augmented_scores_at_strength_zero_are_the_clean_scores():
    from contrastlab.lessons.supervised_contrastive import augmented_scores
    import contrastlab.metrics as M
    train, test = _small_digits()
    a, b = train.x.flatten(1), test.x.flatten(1)
    expected = (M.linear_probe_accuracy(a, train.labels, b, test.labels), M.knn_accuracy(a, train.labels, b, test.labels, k=20))
    assert augmented_scores(lambda x: x.flatten(1), train, test, strength=0.0, seed=3) == expected
    assert expected[0] > 0.9


def test_augmented_scores_draw_the_documented_views_and_raw_pixels_fail_on_them():
    from contrastlab.lessons.supervised_contrastive import TEST_SEED_OFFSET, augmented_scores
    import contrastlab.metrics as M
    train, test = _small_digits()
    got = augmented_scores(lambda x: x.flatten(1), train, test, strength=0.5, seed=2)
    a = D.augment_digits(train.x, strength=0.5, generator=torch.Generator().manual_seed(2)).flatten(1)
    b = D.augment_digits(test.x, strength=0.5, generator=torch.Generator().manual_seed(2 + TEST_SEED_OFFSET)).flatten(1)
    assert got == (M.linear_probe_accuracy(a, train.labels, b, test.labels), M.knn_accuracy(a, train.labels, b, test.labels))
    # the clean-pixel probe is above 0.9 on these digits (the test above); a pixel classifier cannot undo
    # shifts and rotations
    assert got[0] < 0.75
    other = D.augment_digits(train.x, strength=0.5, generator=torch.Generator().manual_seed(5)).flatten(1)
    assert not torch.equal(other, a)  # another seed, other views


def test_augmented_scores_validation():
    from contrastlab.lessons.supervised_contrastive import augmented_scores
    train, test = _small_digits()
    with pytest.raises(TypeError, match="features must be a function"):
        augmented_scores("pixels", train, test)
    with pytest.raises(TypeError, match="test must be digits data with .x"):
        augmented_scores(lambda x: x.flatten(1), train, test.x)
    with pytest.raises(ValueError, match="strength"):
        augmented_scores(lambda x: x.flatten(1), train, test, strength=1.5)
    with pytest.raises(ValueError, match="k must be"):
        augmented_scores(lambda x: x.flatten(1), train, test, k=0)
