"""Every in-batch loss's tiled path (``impl="tiled"``) equals its dense path, values and gradients, at tile
boundaries; a saturated row's gradient is exactly dense's (no noise floor); memory stays O(N D).

The public losses choose their tile from a memory budget, so these tests force one by wrapping
``tiled.tile_shape``: a full-width tile takes the fused path (``mean_nll_tiled`` forms the gradient in
the forward pass), a narrower one the generic path that recomputes each tile in the backward pass.
"""

import contextlib

import pytest
import torch

import contrastlab.losses as L
from contrastlab.losses import tiled as T

from .test_tiled import assert_equal_to, saved_bytes

# name -> (loss(a, b, s, impl=...), the hyperparameter's value): s is the temperature, or for the two-tower
# losses the logit scale; supcon takes (N, 2, D) views stacked from a and b, with 3 classes
LOSSES = {
    "info_nce": (lambda a, b, s, **kw: L.info_nce(a, b, temperature=s, **kw), 0.1),
    "info_nce_symmetric": (lambda a, b, s, **kw: L.info_nce(a, b, temperature=s, symmetric=True, **kw), 0.2),
    "nt_xent": (lambda a, b, s, **kw: L.nt_xent(a, b, temperature=s, **kw), 0.5),
    "decoupled_nt_xent": (lambda a, b, s, **kw: L.decoupled_nt_xent(a, b, temperature=s, **kw), 0.1),
    "debiased_nt_xent": (lambda a, b, s, **kw: L.debiased_nt_xent(a, b, temperature=s, tau_plus=0.1, **kw), 0.5),
    "hard_negative_nt_xent": (lambda a, b, s, **kw: L.hard_negative_nt_xent(a, b, temperature=s, tau_plus=0.1,
                                                                            beta=1.0, **kw), 0.5),
    "clip_loss": (lambda a, b, s, **kw: L.clip_loss(a, b, logit_scale=s, **kw), 1 / 0.07),
    "siglip_loss": (lambda a, b, s, **kw: L.siglip_loss(a, b, logit_scale=s, logit_bias=-0.5 * s, **kw), 10.0),
    "supcon": (lambda a, b, s, **kw: L.supcon(torch.stack([a, b], 1), torch.arange(len(a)) % 3, temperature=s,
                                              **kw), 0.1),
}
NAMES = sorted(LOSSES)
TWO_TOWER = {"clip_loss", "siglip_loss"}  # s is a multiplier there


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@contextlib.contextmanager
def forced_tile(tile):
    """Every tiled path uses ``tile`` (an int or (rows, cols), clipped to the matrix) instead of its budget's."""
    if tile is None:
        yield
        return
    original = T.tile_shape

    def tile_shape(rows, cols, element_size, *, buffers=1, tile_size=None, memory_budget_bytes=0):
        return original(rows, cols, element_size, buffers=buffers, tile_size=tile)

    T.tile_shape = tile_shape
    try:
        yield
    finally:
        T.tile_shape = original


def pair(n, d, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype) for _ in range(2))


def value_and_grads(name, a, b, s, impl, tile=None):
    loss, _ = LOSSES[name]
    a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
    s = torch.tensor(s, dtype=a.dtype if a.dtype == torch.float64 else torch.float32, requires_grad=True)
    with forced_tile(tile):
        value = loss(a, b, s, impl=impl)
    return value.detach(), torch.autograd.grad(value, (a, b, s))


# full-width tiles (None at these sizes, and (64, 10**6)) take the fused path; the others the generic one
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n, tile", [(1, None), (2, None), (2, 1), (7, 1), (7, 3), (7, (2, 5)), (512, None),
                                     (512, 57), (513, (64, 10**6)), (513, 64), (513, (5, 128))])
def test_equals_dense_in_float64(name, n, tile):
    if n == 1 and name != "siglip_loss":
        pytest.skip("in-batch losses need N >= 2 (siglip takes one pair)")
    a, b = pair(n, 16, seed=n)
    assert_equal_to(value_and_grads(name, a, b, LOSSES[name][1], "tiled", tile),
                    value_and_grads(name, a, b, LOSSES[name][1], "dense"), rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n, tile", [(2, 1), (7, 3), (513, 64), (513, None)])
def test_equals_dense_in_float32(name, n, tile):
    a, b = pair(n, 32, torch.float32, seed=n)
    got = value_and_grads(name, a, b, LOSSES[name][1], "tiled", tile)
    assert got[0].dtype == torch.float32
    assert_equal_to(got, value_and_grads(name, a, b, LOSSES[name][1], "dense"), rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tile", [1, (2, 3), (3, 10**6)])
def test_gradcheck_float64(name, tile):
    loss, s = LOSSES[name]
    a, b = pair(5, 3, seed=2)
    leaves = [a.requires_grad_(), b.requires_grad_(), torch.tensor(s, dtype=torch.float64, requires_grad=True)]

    def f(x, y, t):
        with forced_tile(tile):
            return loss(x, y, t, impl="tiled")
    assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tile", [(16, 24), (16, 10**6)])
def test_small_temperature_in_float32(name, tile):
    """tau = 0.005 (scale 200): float32 tiled agrees with float64 dense as float32 dense does."""
    s = 200.0 if name in TWO_TOWER else 0.005
    a, b = pair(40, 8, seed=4)
    value, grads = value_and_grads(name, a.float(), b.float(), s, "tiled", tile)
    value_ref, grads_ref = value_and_grads(name, a, b, s, "dense")
    assert torch.isfinite(value) and all(torch.isfinite(g).all() for g in grads)
    torch.testing.assert_close(value.double(), value_ref, rtol=1e-4, atol=1e-4)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g.double(), g_ref, rtol=0, atol=2e-3 * max(float(g_ref.abs().max()), 1e-3))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tile", [None, (1, 3)])
def test_a_saturated_row_has_exactly_the_dense_gradient(name, tile):
    """The issue's example: at tau = 0.001 each row's positive takes all the probability. Dense float32 gives
    a gradient of exactly 0 (float64: ~1e-142); the tiled backward used to leave 2e-3 of rounding noise,
    because it formed the positive's entry as softmax - 1 from a recomputed, differently rounded logit."""
    torch.manual_seed(0)
    a = torch.randn(2, 7)
    b = a + 0.5 * torch.randn(2, 7)
    s = 1000.0 if name in TWO_TOWER else 0.001
    grads = {impl: value_and_grads(name, a, b, s, impl, tile if impl == "tiled" else None)[1][:2]
             for impl in ("dense", "tiled")}
    grads64 = value_and_grads(name, a.double(), b.double(), s, "dense")[1][:2]
    for g_tiled, g_dense, g64 in zip(grads["tiled"], grads["dense"], grads64):
        scale = max(float(g64.abs().max()), 1e-30)
        assert float((g_tiled.double() - g64).abs().max()) <= max(float((g_dense.double() - g64).abs().max()),
                                                                   1e-6 * scale)


def test_the_issue_example_gives_zero():
    torch.manual_seed(0)
    a = torch.randn(2, 7)
    b = a + 0.5 * torch.randn(2, 7)
    for impl in ("dense", "tiled"):
        x, y = a.clone().requires_grad_(), b.clone().requires_grad_()
        L.info_nce(x, y, temperature=0.001, impl=impl).backward()
        assert float(x.grad.abs().max()) == 0.0 and float(y.grad.abs().max()) == 0.0, impl
        with forced_tile(1):  # the generic path too
            x, y = a.clone().requires_grad_(), b.clone().requires_grad_()
            L.info_nce(x, y, temperature=0.001, impl="tiled").backward()
        assert float(x.grad.abs().max()) == 0.0 and float(y.grad.abs().max()) == 0.0


@pytest.mark.parametrize("half", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", NAMES)
def test_half_precision_inputs_are_computed_in_float32(name, half):
    loss, s = LOSSES[name]
    a, b = (x.to(half).requires_grad_() for x in pair(9, 8, seed=5))
    with forced_tile(4):
        value = loss(a, b, s, impl="tiled")
        want = loss(a.detach().float(), b.detach().float(), s, impl="tiled")
    assert value.dtype == torch.float32
    torch.testing.assert_close(value.detach(), want, rtol=1e-6, atol=1e-6)
    value.backward()
    assert a.grad.dtype == half and torch.isfinite(a.grad).all() and float(a.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", NAMES)
def test_runs_without_autograd(name):
    loss, s = LOSSES[name]
    a, b = pair(10, 4, seed=6)
    with torch.no_grad(), forced_tile(3):
        value = loss(a.requires_grad_(), b, s, impl="tiled")
    assert not value.requires_grad
    torch.testing.assert_close(value, loss(a.detach(), b, s, impl="dense"), rtol=1e-12, atol=0)


def test_impl_auto_switches_at_the_same_size_as_info_nce():
    """resolve_impl's rule: tiled from 1024 x 1024 logits (the two-view losses have 2N rows)."""
    assert T.resolve_impl("auto", 2 * 511, 2 * 511) == "dense" and T.resolve_impl("auto", 2 * 512, 2 * 512) == "tiled"
    a, b = pair(4, 3)
    for name in NAMES:
        with pytest.raises(ValueError, match='impl must be one of "dense", "tiled", "auto"'):
            LOSSES[name][0](a, b, LOSSES[name][1], impl="flash")


# ------------------------------------------------------------------------------------------------
# memory: what autograd keeps for backward
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_saved_for_backward_is_linear_in_n(name):
    n, d = 2048, 32
    a, b = pair(n, d, torch.float32, seed=8)
    s = LOSSES[name][1]
    loss = LOSSES[name][0]
    tiled_bytes, dense_bytes = saved_bytes(loss, a, b, s, impl="tiled"), saved_bytes(loss, a, b, s, impl="dense")
    rows = n if name in TWO_TOWER or name.startswith("info_nce") else 2 * n
    assert dense_bytes >= rows * rows * 4  # at least one N x N float32 matrix
    assert tiled_bytes <= 16 * rows * (d + 2) * 4  # a few (N, D) tensors and (N,) vectors
    assert tiled_bytes <= 0.1 * dense_bytes
