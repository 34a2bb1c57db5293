"""ToyData's split, views and subset, and digits' augmentations: refused by name, never an empty side.

Reproducers (issue "Reliability: no silent garbage"): ``split(0.999)`` on 100 samples returned an
empty training split; ``views`` with an index out of range, a float or a list raised IndexError or
AttributeError from deep inside torch.
"""

import pytest
import torch

from contrastlab import data as D


@pytest.fixture(scope="module")
def toy():
    return D.vmf_mixture(100, n_classes=4, dim=8)


@pytest.mark.parametrize("fraction", [0.999, 0.995, 0.9999999])
def test_a_split_that_would_leave_no_training_sample_is_refused(toy, fraction):
    with pytest.raises(ValueError, match=r"test_fraction must leave at least one training sample.*at most 0.99"):
        toy.split(fraction)


@pytest.mark.parametrize("fraction", [1e-9, 0.004, 0.25, 0.99])
def test_both_sides_of_a_split_are_non_empty_and_disjoint(toy, fraction):
    train, test = toy.split(fraction, seed=1)
    assert len(train) >= 1 and len(test) >= 1 and len(train) + len(test) == len(toy)
    rows = torch.cat([train.x, test.x])
    assert torch.equal(rows.unique(dim=0), toy.x.unique(dim=0))


def test_a_single_sample_cannot_be_split(toy):
    with pytest.raises(ValueError, match=r"test_fraction cannot split 1 sample"):
        toy.subset(torch.tensor([3])).split(0.5)


@pytest.mark.parametrize("idx,error,match", [
    (torch.tensor([0, 100]), ValueError, r"idx must be a 1-d integer tensor of indices in \[0, 100\), got values from 0 to 100"),
    (torch.tensor([-1]), ValueError, r"idx must be .* in \[0, 100\), got values from -1 to -1"),
    (torch.tensor([0.5]), TypeError, r"idx must be .*, got dtype torch.float32"),
    (torch.tensor([True, False]), TypeError, r"idx must be .*, got dtype torch.bool"),
    ([1, 2], TypeError, r"idx must be a 1-d integer tensor .*, got list \[1, 2\]"),
    (3, TypeError, r"idx must be .*, got int 3"),
    (torch.tensor(3), ValueError, r"idx must be .*, got shape \(\)"),
    (torch.zeros(2, 2, dtype=torch.long), ValueError, r"idx must be .*, got shape \(2, 2\)"),
])
@pytest.mark.parametrize("name", ["vmf_mixture", "paired_modalities", "digits"])
def test_views_refuse_a_bad_index_by_name(name, idx, error, match):
    data = D.DATASETS[name](n=100) if name != "digits" else D.digits(n=100)
    with pytest.raises(error, match=match):
        data.views(idx)
    with pytest.raises(error, match=match):
        data.subset(idx)


def test_views_take_int32_and_empty_indices_and_refuse_a_bad_generator(toy):
    assert toy.views(torch.tensor([1, 2], dtype=torch.int32)).shape == (2, 2, 8)
    assert toy.views(torch.tensor([], dtype=torch.long)).shape == (0, 2, 8)
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator or None, got int"):
        toy.views(generator=0)


def test_digits_takes_a_single_augmentation_name():
    assert D.digits(augmentations="crop", n=20).augmentations == ("crop",)
    assert D.digits(augmentations=["noise", "noise"], n=20).augmentations == ("noise",)


@pytest.mark.parametrize("augmentations,error,match", [
    ("shift", ValueError, r"augmentations must be drawn from .* got 'shift' \(shifts and zooms are part of 'crop'\)"),
    ("crpo", ValueError, r"augmentations must be one of .* got 'crpo' \(did you mean 'crop'\?\)"),
    ((), ValueError, r"augmentations must name at least one of .* use strength=0"),
    (3, TypeError, r"augmentations must be a name or a tuple of names .* got int 3"),
    (("crop", None), TypeError, r"augmentations must be a name or a tuple of names"),
])
def test_digits_refuses_unknown_augmentations_clearly(augmentations, error, match):
    with pytest.raises(error, match=match):
        D.digits(augmentations=augmentations, n=20)
    with pytest.raises(error, match=match):
        D.augment_digits(torch.zeros(2, 1, 8, 8), augmentations=augmentations)
