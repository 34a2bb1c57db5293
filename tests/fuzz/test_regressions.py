"""The bugs the fuzz suite found and that were fixed, one plain test each (they failed before the fix)."""

import math

import pytest
import torch

import contrastlab.metrics as M
from contrastlab import data as D
from contrastlab.train import fit


def test_singular_values_of_a_batch_of_1e20s_are_not_floored_to_zero():
    """The floor eps * ||z||_F overflowed float32 (1e40) and zeroed every centred singular value."""
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    assert M.effective_rank(1e20 * z, center=True) == pytest.approx(M.effective_rank(z, center=True), rel=1e-5)
    assert M.numerical_rank(1e20 * z) == M.numerical_rank(z) == 3
    torch.testing.assert_close(M.singular_values(1e20 * z) / 1e20, M.singular_values(z))


def test_linear_r2_with_collinear_features_and_no_ridge_is_finite():
    """torch.linalg.solve raised LinAlgError on the singular Gram matrix."""
    f = torch.randn(20, 1).repeat(1, 3)  # three copies of one column
    y = f[:, :1] * 2 + 1
    assert M.linear_r2(f, y, ridge=0.0) == pytest.approx(1.0)
    assert math.isfinite(M.linear_r2(6e19 * f, y))


def test_collision_rate_refuses_float_labels():
    with pytest.raises(TypeError, match="labels must be a 1-d integer tensor"):
        M.collision_rate(torch.tensor([0.0, 1.0, 1.0]))


@pytest.mark.parametrize("fn", [M.singular_values, M.effective_rank, M.numerical_rank])
def test_center_must_be_a_bool(fn):
    with pytest.raises(TypeError, match="center must be a bool, got int 1"):
        fn(torch.randn(4, 3), center=1)


@pytest.mark.parametrize("fn", [M.candidate_probabilities, M.negative_shares, M.negative_positive_coupling])
def test_similarity_is_checked_by_name(fn):
    with pytest.raises(TypeError, match="similarity must be a 2-d floating-point tensor"):
        fn([[0.1, 0.2], [0.3, 0.4]], temperature=0.1)
    with pytest.raises(ValueError, match="similarity must hold no NaN or \\+inf"):
        fn(torch.tensor([[math.nan, 0.2], [0.3, 0.4]]), temperature=0.1)


@pytest.mark.parametrize("fn", [M.negative_shares, M.negative_positive_coupling])
def test_positive_index_is_checked_by_name(fn):
    """A list or numpy positive_index failed with AttributeError ('.to' / '.shape')."""
    with pytest.raises(TypeError, match="positive_index must be a 1-d int64 or int32 tensor"):
        fn(torch.rand(2, 3), temperature=0.1, positive_index=[0, 1])
    with pytest.raises(ValueError, match=r"positive_index must be .* in \[0, 3\), got values from 0 to 3"):
        fn(torch.rand(2, 3), temperature=0.1, positive_index=torch.tensor([0, 3]))


def test_probabilities_of_huge_similarities_do_not_overflow():
    """s / tau overflowed to inf (softmax NaN) for scores near float32's top; the row max is subtracted first."""
    s = torch.tensor([[3e38, 1e38], [0.0, -3e38]])
    p = M.candidate_probabilities(s, temperature=0.07)
    assert bool(torch.isfinite(p).all()) and torch.allclose(p.sum(1), torch.ones(2))
    shares = M.negative_shares(s, temperature=0.07, positive_index=torch.tensor([0, 1]), beta=2.0)
    assert bool(torch.isfinite(shares).all())


def test_paired_modalities_refuses_a_one_dimensional_latent_by_name():
    """latent_dim=1 failed inside numpy's beta sampler with 'a <= 0'."""
    with pytest.raises(ValueError, match="latent_dim must be an integer >= 2, got 1"):
        D.paired_modalities(30, latent_dim=1)


def test_fit_refuses_a_one_modality_set_up_on_paired_data_by_name():
    """simclr on paired_modalities failed with "'tuple' object has no attribute 'transpose'"."""
    with pytest.raises(ValueError, match=r"method 'simclr' trains on views of one modality, but data .* is paired"):
        fit(D.paired_modalities(24, n_classes=3), "simclr", steps=1, batch_size=4, progress=False)


def test_linear_r2_refuses_equal_tiny_targets_whose_mean_rounds():
    features = torch.tensor([[1.5410e-30], [-2.9343e-31], [-2.1788e-30]], dtype=torch.float64)
    targets = torch.full((3, 1), 1.5410e-30, dtype=torch.float64)  # equal rows; their mean rounds
    with pytest.raises(ValueError, match="targets must vary"):
        M.linear_r2(features, targets, ridge=1.0)
