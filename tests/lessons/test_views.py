"""The views lesson's helpers (contrastlab.lessons.views): the patch set at two resolutions, views
that crop at full resolution, the tiny CNN, SimCLR / supervised training, the probe and the grid."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from contrastlab import augment as A
from contrastlab import data as D
from contrastlab import metrics as M
from contrastlab.lessons import views as V


@pytest.fixture(scope="module")
def patches():
    return V.patch_set(n_classes=3, patches_per_class=20, size=8, factor=2, seed=0)


def test_patch_set_pools_the_cast_patches_and_splits(patches):
    assert patches.hires.shape == (60, 3, 16, 16) and patches.x.shape == (60, 3, 8, 8)
    torch.testing.assert_close(patches.x, F.avg_pool2d(patches.hires, 2))
    assert sorted(torch.cat([patches.train, patches.test]).tolist()) == list(range(60))
    assert len(patches.test) == 30 and patches.n_classes == 3
    plain = V.patch_set(n_classes=3, patches_per_class=20, size=8, factor=2, cast=0.0, seed=0)
    raw = D.image_patches(n_classes=3, patches_per_class=20, patch_size=16, ops=(), seed=0)
    torch.testing.assert_close(plain.hires, raw.x)  # no cast: the photographs' own pixels
    torch.testing.assert_close(plain.labels, raw.labels)
    # the cast recolours every patch differently: per-patch mean colours move, and by different amounts
    shift = (patches.hires - raw.x).mean((2, 3))  # (N, 3)
    assert float(shift.abs().mean()) > 0.02 and float(shift.std(0).mean()) > 0.02
    again = V.patch_set(n_classes=3, patches_per_class=20, size=8, factor=2, seed=0)
    assert torch.equal(again.hires, patches.hires) and torch.equal(again.test, patches.test)
    # zoom: each patch is a seeded square crop of itself, resized back (area share >= 0.25 at zoom 1)
    zoomed = V.patch_set(n_classes=3, patches_per_class=20, size=8, factor=2, cast=0.0, zoom=1.0, seed=0)
    want = A.random_resized_crop(raw.x, scale=(0.25, 1.0), ratio=(1.0, 1.0),
                                 generator=torch.Generator().manual_seed(20_000))
    torch.testing.assert_close(zoomed.hires, want)
    assert not torch.allclose(zoomed.hires, raw.x)
    with pytest.raises(ValueError, match="zoom"):
        V.patch_set(zoom=1.5)


def test_make_views_crops_at_full_resolution_and_is_seeded(patches):
    idx = torch.arange(6)
    g = lambda s: torch.Generator().manual_seed(s)
    torch.testing.assert_close(V.make_views(patches, idx, [], generator=g(0)), patches.x[idx])
    crop = V.make_views(patches, idx, ["crop"], generator=g(1))
    want = F.avg_pool2d(A.recipe(["crop"])(patches.hires[idx], generator=g(1)), 2)  # crop first, then pool
    torch.testing.assert_close(crop, want)
    assert torch.equal(crop, V.make_views(patches, idx, ["crop"], generator=g(1)))
    # color_strength sets the jitter apart: at 0 only the crop acts
    torch.testing.assert_close(V.make_views(patches, idx, ["crop", "color"], color_strength=0.0, generator=g(2)),
                               V.make_views(patches, idx, ["crop"], generator=g(2)))
    with pytest.raises(ValueError, match="color_strength"):
        V.make_views(patches, idx, ["color"], color_strength=2.0)
    with pytest.raises(TypeError, match="data"):
        V.make_views(patches.x, idx)
    with pytest.raises(ValueError, match="ops"):
        V.make_views(patches, idx, ["rotate"])


def test_tiny_cnn_shapes_and_seeding():
    backbone, head = V.tiny_cnn(width=4, out_dim=5, seed=1)
    x = torch.rand(3, 3, 8, 8)
    assert backbone.eval()(x).shape == (3, 8) and head(backbone(x)).shape == (3, 5)
    again, _ = V.tiny_cnn(width=4, out_dim=5, seed=1)
    other, _ = V.tiny_cnn(width=4, out_dim=5, seed=2)
    assert torch.equal(backbone[0].weight, again[0].weight) and not torch.equal(backbone[0].weight, other[0].weight)


def test_training_moves_the_features_and_the_probe_is_metrics_probe(patches):
    untrained, _ = V.tiny_cnn(width=4, seed=0)
    trained = V.train_views(patches, ["crop", "color"], steps=3, batch_size=8, width=4, seed=0)
    assert not torch.equal(untrained[0].weight, trained[0].weight)
    again = V.train_views(patches, ["crop", "color"], steps=3, batch_size=8, width=4, seed=0)
    assert torch.equal(trained[0].weight, again[0].weight)  # seeded: weights, batches, views
    supervised = V.train_views(patches, ["crop"], method="supervised", steps=3, batch_size=8, width=4, seed=0)
    assert not torch.equal(supervised[0].weight, trained[0].weight)
    f = V.features(trained, patches)
    want = M.linear_probe_accuracy(f[patches.train], patches.labels[patches.train], f[patches.test],
                                   patches.labels[patches.test])
    assert V.probe_accuracy(trained, patches) == want
    pixels = patches.x.flatten(1)
    assert V.pixel_probe_accuracy(patches) == M.linear_probe_accuracy(
        pixels[patches.train], patches.labels[patches.train], pixels[patches.test], patches.labels[patches.test])
    with pytest.raises(ValueError, match="method"):
        V.train_views(patches, method="byol", steps=1)


def test_supervised_training_learns_the_classes():
    """A can-fail check that the supervised arm trains: 60 steps (about 1.5 s of CPU) lift the probe
    above the same network untrained."""
    data = V.patch_set(n_classes=3, patches_per_class=30, size=8, factor=2, seed=1)
    backbone = V.train_views(data, ["crop"], method="supervised", steps=60, batch_size=32, width=8, seed=0, lr=1e-2)
    untrained, _ = V.tiny_cnn(width=8, seed=0)
    assert V.probe_accuracy(backbone, data) > V.probe_accuracy(untrained, data) + 0.08  # measured: 0.80 vs 0.69


def test_grid_keys_matrix_and_single_best(patches, monkeypatch):
    calls = []

    def fake_train(data, ops, *, seed, **options):
        calls.append((tuple(ops), seed))
        return ("net", tuple(ops), seed)

    scores = {("crop",): 0.5, ("color",): 0.6, ("blur",): 0.4, ("crop", "color"): 0.9, ("crop", "blur"): 0.7,
              ("color", "blur"): 0.8}
    monkeypatch.setattr(V, "train_views", fake_train)
    monkeypatch.setattr(V, "probe_accuracy",
                        lambda net, data: scores[tuple(o for o in A.OPS if o in net[1])] + 0.01 * net[2])
    grid = V.augmentation_grid(patches, ["blur", "crop", "color"], [0, 1], steps=2)
    assert list(grid) == [("crop", "crop"), ("crop", "color"), ("crop", "blur"), ("color", "color"),
                          ("color", "blur"), ("blur", "blur")]  # SimCLR's order, each pair once
    assert len(calls) == 12 and grid["crop", "color"] == [0.9, 0.91]
    m = V.pair_matrix(grid, ["crop", "color", "blur"])
    assert m.shape == (3, 3, 2) and m[0, 1, 1] == m[1, 0, 1] == 0.91 and m[2, 2, 0] == 0.4
    np.testing.assert_allclose(V.single_best(grid), [0.6, 0.61])
    with pytest.raises(ValueError, match="ops"):
        V.augmentation_grid(patches, ["crop"], [0])
