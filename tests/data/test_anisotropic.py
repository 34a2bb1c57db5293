"""data.anisotropic_gaussian: the geometric variance spectrum, the view noise, seeding and labels."""

import numpy as np
import pytest
import torch

from contrastlab.data import anisotropic_gaussian


def test_anisotropic_gaussian_has_the_requested_spectrum_and_view_noise():
    toy = anisotropic_gaussian(20000, dim=8, top_variance=1.0, bottom_variance=0.01, view_noise=0.3, seed=1)
    expected = np.geomspace(1.0, 0.01, 8)
    assert np.allclose(toy.variances.numpy(), expected)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(toy.x.numpy().T)))[::-1]
    assert np.allclose(eigenvalues, expected, rtol=0.1)
    views = toy.views(torch.arange(20000), generator=toy.generator(0))  # (N, 2, 8)
    noise = (views[:, 0] - toy.x).numpy()
    assert noise.std() == pytest.approx(0.3, rel=0.02)
    assert toy.dominated_directions() == int((expected < 0.09).sum())
    assert anisotropic_gaussian(100, view_noise=0.0).dominated_directions() == 0


def test_anisotropic_gaussian_is_seeded_and_labelled():
    a, b = anisotropic_gaussian(300, seed=4), anisotropic_gaussian(300, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.x, anisotropic_gaussian(300, seed=5).x)
    assert set(a.labels.tolist()) <= set(range(8)) and len(set(a.labels.tolist())) > 1
    assert torch.allclose(a.x, a.latents @ a.rotation, atol=1e-6)


@pytest.mark.parametrize("kwargs, name", [(dict(bottom_variance=2.0), "bottom_variance"),
                                          (dict(bottom_variance=0.0), "bottom_variance"),
                                          (dict(class_dims=40), "class_dims"),
                                          (dict(view_noise=-0.1), "view_noise"),
                                          (dict(dim=1), "dim")])
def test_anisotropic_gaussian_validates(kwargs, name):
    with pytest.raises(ValueError, match=name):
        anisotropic_gaussian(100, **kwargs)
