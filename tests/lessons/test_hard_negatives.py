"""Synthetic hard negatives by mixing (contrastlab.lessons.hard_negatives, MoCHi)."""

import numpy as np
import pytest
import torch

from contrastlab.losses import info_nce
from contrastlab.lessons.hard_negatives import hardest_negatives, mix, mochi_negatives, with_real_negatives

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------- mix

def test_mix_matches_numpy_and_lies_on_the_arc():
    a, b = randn(50, 8, seed=1, dtype=torch.float64), randn(50, 8, seed=2, dtype=torch.float64)
    alpha = torch.rand(50, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    got = mix(a, b, alpha).numpy()
    an, bn = unit(a.numpy()), unit(b.numpy())
    expected = unit(alpha.numpy() * an + (1 - alpha.numpy()) * bn)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-12)
    cos_ab = (an * bn).sum(1)
    assert ((got * an).sum(1) >= cos_ab - 1e-12).all()  # closer to each parent than the parents are
    assert ((got * bn).sum(1) >= cos_ab - 1e-12).all()
    coeffs, *_ = np.linalg.lstsq(np.stack([an[0], bn[0]], 1), got[0], rcond=None)
    np.testing.assert_allclose(np.stack([an[0], bn[0]], 1) @ coeffs, got[0], atol=1e-12)  # in span(a, b)
    assert (coeffs >= 0).all()


def test_mix_end_points_and_scalar_alpha():
    a, b = randn(4, 6, seed=1), randn(4, 6, seed=2)
    torch.testing.assert_close(mix(a, b, 1.0), torch.nn.functional.normalize(a, dim=1))
    torch.testing.assert_close(mix(a, b, 0.0), torch.nn.functional.normalize(b, dim=1))
    torch.testing.assert_close(mix(a, b, 0.3), mix(b, a, 0.7))


def test_mix_validates():
    a = randn(4, 6)
    with pytest.raises(ValueError, match="same shape"):
        mix(a, randn(4, 5), 0.5)
    with pytest.raises(ValueError, match="alpha"):
        mix(a, a, 1.5)
    with pytest.raises(ValueError, match="alpha"):
        mix(a, a, torch.full((4, 1), -0.1))
    with pytest.raises(TypeError, match="alpha"):
        mix(a, a, "half")


# --------------------------------------------------------------------------------- hardest_negatives

@pytest.mark.parametrize("per_query", [False, True])
def test_hardest_negatives_matches_numpy(per_query):
    q, pool = randn(7, 5, seed=1, dtype=torch.float64), randn(30, 5, seed=2, dtype=torch.float64)
    negatives = pool[None].repeat(7, 1, 1) if per_query else pool
    got, sims = hardest_negatives(q, negatives, 4)
    s = unit(q.numpy()) @ unit(pool.numpy()).T  # (7, 30)
    order = np.argsort(-s, axis=1)[:, :4]
    np.testing.assert_allclose(sims.numpy(), np.take_along_axis(s, order, 1), atol=1e-12)
    np.testing.assert_allclose(got.numpy(), unit(pool.numpy())[order], atol=1e-12)
    assert (np.diff(sims.numpy(), axis=1) <= 0).all()  # hardest first


def test_hardest_negatives_validates():
    q = randn(3, 4)
    with pytest.raises(ValueError, match="n_hardest"):
        hardest_negatives(q, randn(5, 4), 6)
    with pytest.raises(ValueError, match="negatives must have shape"):
        hardest_negatives(q, randn(5, 3), 2)
    with pytest.raises(ValueError, match="negatives must have shape"):
        hardest_negatives(q, randn(2, 5, 4), 2)
    with pytest.raises(TypeError, match="n_hardest"):
        hardest_negatives(q, randn(5, 4), 2.0)


# ---------------------------------------------------------------------------------- mochi_negatives

@pytest.mark.parametrize("device", DEVICES)
def test_mochi_shape_unit_norm_and_reproducible(device):
    q, pool = randn(6, 8, seed=1).to(device), randn(40, 8, seed=2).to(device)
    make = lambda seed: mochi_negatives(q, pool, n_hardest=10, n_mixed=5, n_query_mixed=3,  # noqa: E731
                                        generator=torch.Generator(device=device).manual_seed(seed))
    h = make(0)
    assert h.shape == (6, 8, 8) and h.device.type == device and h.dtype == torch.float32
    torch.testing.assert_close(h.norm(dim=-1), torch.ones(6, 8, device=device))
    torch.testing.assert_close(make(0), h)
    assert not torch.equal(make(1), h)


def test_mochi_mixed_negatives_are_at_least_as_hard_as_the_pool():
    """A convex mix of two vectors each with cosine >= c >= 0 to q has cosine >= c once normalised;
    a query mix is at least as similar to q as its negative parent."""
    q = randn(32, 16, seed=1, dtype=torch.float64)
    pool = torch.nn.functional.normalize(q[:, None, :] + 1.2 * randn(32, 200, 16, seed=2, dtype=torch.float64),
                                         dim=-1)  # (32, 200, 16) per-query pools, mostly positive cosines
    hardest, sims = hardest_negatives(q, pool, 20)
    assert (sims[:, -1] > 0).all()
    h = mochi_negatives(q, pool, n_hardest=20, n_mixed=30, n_query_mixed=30,
                        generator=torch.Generator().manual_seed(0))
    cos = torch.einsum("nd,nkd->nk", torch.nn.functional.normalize(q, dim=1), h)  # (32, 60)
    assert (cos[:, :30] >= sims[:, -1:] - 1e-12).all()  # mixed: no easier than the 20th hardest
    assert (cos[:, 30:] >= sims[:, -1:] - 1e-12).all()
    assert cos[:, 30:].mean() > sims.mean()  # query mixes: harder on average than the hardest 20


def test_mochi_with_one_hardest_reproduces_it():
    q, pool = randn(5, 6, seed=1, dtype=torch.float64), randn(25, 6, seed=2, dtype=torch.float64)
    hardest, _ = hardest_negatives(q, pool, 1)  # (5, 1, 6)
    h = mochi_negatives(q, pool, n_hardest=1, n_mixed=4)  # mixing a negative with itself
    torch.testing.assert_close(h, hardest.expand(-1, 4, -1))
    hq = mochi_negatives(q, pool, n_hardest=1, n_mixed=0, n_query_mixed=50, max_query_share=0.5,
                         generator=torch.Generator().manual_seed(0))
    qn = torch.nn.functional.normalize(q, dim=1)[:, None, :]
    to_q, to_n = (hq * qn).sum(-1), (hq * hardest).sum(-1)  # (5, 50)
    assert (to_n >= to_q - 1e-12).all()  # the query's share stays below one half


def test_mochi_per_query_equals_shared_pool():
    q, pool = randn(4, 8, seed=1), randn(30, 8, seed=2)
    shared = mochi_negatives(q, pool, n_hardest=6, n_mixed=3, n_query_mixed=2,
                             generator=torch.Generator().manual_seed(5))
    per_query = mochi_negatives(q, pool[None].expand(4, -1, -1), n_hardest=6, n_mixed=3, n_query_mixed=2,
                                generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(per_query, shared)


def test_mochi_detach():
    q, pool = randn(4, 8, seed=1).requires_grad_(), randn(30, 8, seed=2).requires_grad_()
    assert not mochi_negatives(q, pool, n_hardest=6, n_mixed=3, n_query_mixed=2).requires_grad
    h = mochi_negatives(q, pool, n_hardest=6, n_mixed=3, n_query_mixed=2, detach=False)
    h.sum().backward()
    assert q.grad is not None and pool.grad is not None


def test_mochi_keeps_float64():
    q, pool = randn(3, 4, dtype=torch.float64), randn(9, 4, seed=1, dtype=torch.float64)
    assert mochi_negatives(q, pool, n_hardest=3, n_mixed=2).dtype == torch.float64


def test_mochi_validates():
    q, pool = randn(3, 4), randn(9, 4, seed=1)
    with pytest.raises(ValueError, match="n_mixed \\+ n_query_mixed"):
        mochi_negatives(q, pool, n_hardest=3, n_mixed=0)
    with pytest.raises(ValueError, match="n_hardest"):
        mochi_negatives(q, pool, n_hardest=10, n_mixed=2)
    with pytest.raises(ValueError, match="max_query_share"):
        mochi_negatives(q, pool, n_hardest=3, n_mixed=0, n_query_mixed=2, max_query_share=0.0)
    with pytest.raises(ValueError, match="max_query_share"):
        mochi_negatives(q, pool, n_hardest=3, n_mixed=0, n_query_mixed=2, max_query_share=1.5)
    with pytest.raises(ValueError, match="n_mixed"):
        mochi_negatives(q, pool, n_hardest=3, n_mixed=-1)
    with pytest.raises(ValueError, match="finite"):
        mochi_negatives(q, torch.full((9, 4), float("nan")), n_hardest=3, n_mixed=1)


# ------------------------------------------------------------------------------ with_real_negatives

def test_with_real_negatives_feeds_info_nce():
    q, k, queue = randn(6, 8, seed=1), randn(6, 8, seed=2), randn(40, 8, seed=3)
    synthetic = mochi_negatives(q, queue, n_hardest=10, n_mixed=5, n_query_mixed=3)
    negatives = with_real_negatives(queue, synthetic)  # (6, 48, 8)
    assert negatives.shape == (6, 48, 8)
    torch.testing.assert_close(negatives[:, :40], queue[None].expand(6, -1, -1))
    plain, harder = info_nce(q, k, queue, temperature=0.2), info_nce(q, k, negatives, temperature=0.2)
    assert harder > plain  # more, and harder, candidates: the loss can only rise
    torch.testing.assert_close(with_real_negatives(queue[None].expand(6, -1, -1), synthetic), negatives)


def test_with_real_negatives_validates():
    synthetic = randn(6, 3, 8)
    with pytest.raises(ValueError, match="negatives must have shape"):
        with_real_negatives(randn(40, 7), synthetic)
    with pytest.raises(ValueError, match="negatives must have shape"):
        with_real_negatives(randn(5, 40, 8), synthetic)
