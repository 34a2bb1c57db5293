"""data.image_patches: RGB patches of scikit-learn's two photographs, labelled by region."""

import pytest
import torch

from contrastlab import augment as A
from contrastlab import data as D
from contrastlab import train
from contrastlab.data.images import MAX_PATCH


@pytest.fixture(scope="module")
def patches():
    return D.image_patches(patches_per_class=6, patch_size=16)


def test_shapes_labels_and_range(patches):
    assert patches.x.shape == (30, 3, 16, 16) and patches.x.dtype == torch.float32
    assert float(patches.x.min()) >= 0 and float(patches.x.max()) <= 1
    assert patches.labels.tolist() == [c for c in range(5) for _ in range(6)]
    assert patches.latents.shape == (30, 2) and patches.knobs["patch_size"] == 16
    assert "image_patches" in D.DATASETS and not D.is_paired("image_patches")


def test_seeded_and_the_same_on_every_device(patches, device):
    again = D.image_patches(patches_per_class=6, patch_size=16, device=device)
    assert again.x.device.type == torch.device(device).type
    assert torch.equal(again.x.cpu(), patches.x)
    assert not torch.equal(D.image_patches(patches_per_class=6, patch_size=16, seed=1).x, patches.x)


def test_knobs_move_what_they_claim():
    assert len(D.image_patches(n_classes=2, patches_per_class=3, patch_size=8)) == 6
    assert D.image_patches(n=7, patch_size=8).labels.bincount().tolist() == [3, 1, 1, 1, 1]
    assert MAX_PATCH == 137 and D.image_patches(n_classes=1, patches_per_class=2, patch_size=137).x.shape[-1] == 137
    assert D.image_patches(ops="crop", patches_per_class=2).ops == ("crop",)


def test_classes_differ_in_colour(patches):
    means = torch.stack([patches.x[patches.labels == c].mean((0, 2, 3)) for c in range(5)])  # (5, 3)
    assert float(torch.cdist(means, means).add(torch.eye(5)).min()) > 0.05


def test_views_use_the_recipe(patches, device):
    data = patches.to(device)
    views = data.views(torch.arange(4, device=device), generator=data.generator(3))
    assert views.shape == (4, 2, 3, 16, 16) and views.device.type == torch.device(device).type
    assert float(views.min()) >= 0 and float(views.max()) <= 1
    assert torch.equal(views, data.views(torch.arange(4, device=device), generator=data.generator(3)))
    still = D.image_patches(patches_per_class=6, patch_size=16, strength=0.0, device=device)
    torch.testing.assert_close(still.views(torch.arange(4, device=device))[:, 0], still.x[:4], atol=1e-5, rtol=0)


@pytest.mark.parametrize("knobs,error,match", [
    (dict(n_classes=6), ValueError, r"n_classes must be an integer in \[1, 5\], got 6"),
    (dict(patch_size=7), ValueError, r"patch_size must be an integer in \[8, 137\], got 7"),
    (dict(patch_size=32.0), TypeError, r"patch_size must be an int, got float"),
    (dict(patches_per_class=0), ValueError, r"patches_per_class must be an integer >= 1"),
    (dict(n=3), ValueError, r"n must be an integer >= 5, got 3"),
    (dict(ops=["crop", "rotate"]), ValueError, r"ops must be one of .* got 'rotate'"),
    (dict(strength=2.0), ValueError, r"strength must be a finite number in \[0.0, 1.0\]"),
    (dict(seed=-1), ValueError, r"seed must be an integer >= 0"),
])
def test_bad_knobs_are_refused_by_name(knobs, error, match):
    with pytest.raises(error, match=match):
        D.image_patches(**knobs)


def test_fit_trains_the_default_encoder_on_it():
    data = D.image_patches(patches_per_class=8, patch_size=16, ops=("crop", "color"))
    assert A.recipe(data.ops).names == ("crop", "color")
    history = train.fit(data, steps=2, batch_size=16, eval_every=0, eval_size=40, progress=False, device="cpu")
    assert history is not None
