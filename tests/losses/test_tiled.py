"""The tiled losses equal their dense twins (values and gradients), pass gradcheck, stay finite at small
temperature, and save O(N D) for backward instead of O(N^2)."""

import functools
import inspect
import math

import pytest
import torch

import contrastlab.losses as L
from contrastlab.losses import tiled as T



def dense_path(loss):
    """``loss`` on its dense path, also once it has ``impl=`` (whose "auto" tiles large batches)."""
    return functools.partial(loss, impl="dense") if "impl" in inspect.signature(loss).parameters else loss


DENSE = {"info_nce": dense_path(L.info_nce), "info_nce_symmetric": functools.partial(dense_path(L.info_nce),
                                                                                      symmetric=True),
         "nt_xent": dense_path(L.nt_xent), "clip_loss": dense_path(L.clip_loss)}

# name -> (tiled loss, dense loss, the hyperparameter's value); s is the temperature (a divisor) or,
# for clip_loss, the logit scale (a multiplier)
LOSSES = {
    "info_nce": (lambda a, b, s, **kw: T.info_nce_tiled(a, b, temperature=s, **kw),
                 lambda a, b, s: DENSE["info_nce"](a, b, temperature=s), 0.1),
    "info_nce_symmetric": (lambda a, b, s, **kw: T.info_nce_tiled(a, b, temperature=s, symmetric=True, **kw),
                           lambda a, b, s: DENSE["info_nce_symmetric"](a, b, temperature=s), 0.2),
    "nt_xent": (lambda a, b, s, **kw: T.nt_xent_tiled(a, b, temperature=s, **kw),
                lambda a, b, s: DENSE["nt_xent"](a, b, temperature=s), 0.5),
    "clip_loss": (lambda a, b, s, **kw: T.clip_loss_tiled(a, b, logit_scale=s, **kw),
                  lambda a, b, s: DENSE["clip_loss"](a, b, logit_scale=s), 1 / 0.07),
}
NAMES = sorted(LOSSES)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tests force hundreds of tiny tiles; ATen runs each tile's exp as a parallel region from
    2048 elements, and on an oversubscribed CI machine every region can cost a scheduler time slice
    (8 s instead of 0.05 s for one test). One thread keeps them fast; threading is not under test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pair(n, d, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype), \
        torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype)


def value_and_grads(loss, a, b, s, **kwargs):
    """The loss and its gradients w.r.t. a, b and the (tensor) hyperparameter s."""
    a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
    s = torch.tensor(s, dtype=a.dtype, requires_grad=True)
    value = loss(a, b, s, **kwargs)
    return value.detach(), torch.autograd.grad(value, (a, b, s))


def assert_equal_to(got, want, rtol):
    """Values to ``rtol`` relative; each gradient to ``rtol`` relative to its largest entry."""
    (value, grads), (value_ref, grads_ref) = got, want
    torch.testing.assert_close(value, value_ref, rtol=rtol, atol=0)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=rtol, atol=rtol * float(g_ref.abs().max()))


# tile sizes that divide N and that don't: 64 divides 512 (8 tiles) but not 513 (9 tiles); 57 divides
# 513 but not 512; (5, 128) is non-square; None is the default (a single tile at these sizes)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n, tile", [(2, None), (2, 1), (7, 1), (7, 3), (7, (2, 5)), (512, None), (512, 64),
                                     (512, 57), (513, 64), (513, 57), (513, (5, 128))])
def test_equals_dense_in_float64(name, n, tile):
    tiled, dense, s = LOSSES[name]
    a, b = pair(n, 16, seed=n)
    assert_equal_to(value_and_grads(tiled, a, b, s, tile_size=tile), value_and_grads(dense, a, b, s), rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n, tile", [(2, 1), (7, 3), (512, 64), (513, 64), (513, None)])
def test_equals_dense_in_float32(name, n, tile):
    tiled, dense, s = LOSSES[name]
    a, b = pair(n, 32, torch.float32, seed=n)
    got = value_and_grads(tiled, a, b, s, tile_size=tile)
    assert got[0].dtype == torch.float32
    assert_equal_to(got, value_and_grads(dense, a, b, s), rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_a_memory_budget_that_splits_the_columns(name):
    """A 4 KiB budget gives (128, 4) or (128, 8) tiles: the online log-sum-exp runs over 100+ column tiles."""
    tiled, dense, s = LOSSES[name]
    a, b = pair(300, 8, seed=1)
    assert_equal_to(value_and_grads(tiled, a, b, s, memory_budget_bytes=4096), value_and_grads(dense, a, b, s),
                    rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tile", [1, 2, (3, 2)])
def test_gradcheck_float64(name, tile):
    tiled, _, s = LOSSES[name]
    a, b = pair(5, 3, seed=2)
    leaves = [a.requires_grad_(), b.requires_grad_(), torch.tensor(s, dtype=torch.float64, requires_grad=True)]
    assert torch.autograd.gradcheck(lambda x, y, t: tiled(x, y, t, tile_size=tile), leaves,
                                    eps=1e-6, atol=1e-7, rtol=1e-5)


def test_the_core_with_its_plain_twin_on_a_rectangle():
    """R != C, arbitrary positives and excluded columns, 1-column tiles: some tiles are fully excluded."""
    g = torch.Generator().manual_seed(3)
    q = torch.nn.functional.normalize(torch.randn(6, 4, generator=g, dtype=torch.float64), dim=1)
    k = torch.nn.functional.normalize(torch.randn(11, 4, generator=g, dtype=torch.float64), dim=1)
    positive = torch.tensor([3, 0, 10, 5, 5, 7])
    exclude = torch.tensor([4, 1, 9, 6, 0, 8])
    for tile in [1, (1, 1), (2, 3), (4, 11), None]:
        leaves = [q.clone().requires_grad_(), k.clone().requires_grad_(), torch.tensor(7.0, dtype=torch.float64,
                                                                                      requires_grad=True)]
        got = T.contrastive_nll_tiled(*leaves, positive=positive, exclude=exclude, tile_size=tile)
        want = T.contrastive_nll_dense(*leaves, positive=positive, exclude=exclude)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        weights = torch.linspace(-1, 2, 6, dtype=torch.float64)  # per-row upstream gradients, not just a mean
        grads_got, grads_want = (torch.autograd.grad(f @ weights, leaves) for f in (got, want))
        for g_got, g_want in zip(grads_got, grads_want):
            torch.testing.assert_close(g_got, g_want, rtol=1e-12, atol=1e-12)
        assert torch.autograd.gradcheck(
            lambda x, y, t: T.contrastive_nll_tiled(x, y, t, positive=positive, exclude=exclude, tile_size=tile),
            leaves)


@pytest.mark.parametrize("name", NAMES)
def test_small_temperature_in_float32_is_finite_and_correct(name):
    """At tau = 0.005 (logit scale 200) the logits reach 200: exp would overflow float32, the online
    log-sum-exp does not; float32 agrees with the float64 dense loss to 1e-4."""
    tiled, dense, s = LOSSES[name]
    s = 200.0 if name == "clip_loss" else 0.005
    a, b = pair(40, 8, seed=4)
    value, grads = value_and_grads(tiled, a.float(), b.float(), s, tile_size=(16, 24))
    value_ref, grads_ref = value_and_grads(dense, a, b, s)
    assert torch.isfinite(value) and all(torch.isfinite(g).all() for g in grads)
    torch.testing.assert_close(value.double(), value_ref, rtol=1e-4, atol=0)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g.double(), g_ref, rtol=0, atol=2e-3 * float(g_ref.abs().max()))


@pytest.mark.parametrize("half", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", NAMES)
def test_half_precision_inputs_are_computed_in_float32(name, half):
    tiled, _, s = LOSSES[name]
    a, b = (x.to(half).requires_grad_() for x in pair(9, 8, seed=5))
    value = tiled(a, b, s, tile_size=4)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value.detach(), tiled(a.detach().float(), b.detach().float(), s, tile_size=4),
                               rtol=1e-6, atol=1e-6)
    value.backward()
    assert a.grad.dtype == half and torch.isfinite(a.grad).all() and float(a.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", NAMES)
def test_closed_forms(name):
    """Identical embeddings: log N for InfoNCE, log(2N - 1) for NT-Xent, log N for CLIP, any scale."""
    tiled, _, s = LOSSES[name]
    x = torch.randn(1, 6, dtype=torch.float64).repeat(9, 1)
    expected = math.log(2 * 9 - 1) if name == "nt_xent" else math.log(9)
    assert float(tiled(x, x, s, tile_size=4)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_runs_without_autograd(name):
    tiled, dense, s = LOSSES[name]
    a, b = pair(10, 4, seed=6)
    with torch.no_grad():
        value = tiled(a.requires_grad_(), b, s, tile_size=3)
    assert not value.requires_grad
    torch.testing.assert_close(value, dense(a.detach(), b, s), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_runs_on_the_inputs_device(name, device):
    tiled, dense, s = LOSSES[name]
    dtype = torch.float32 if device.type == "mps" else torch.float64
    a, b = (x.to(device=device, dtype=dtype) for x in pair(70, 8, seed=7))
    value = tiled(a, b, s, tile_size=32)
    assert value.device.type == device.type
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(value.cpu().double(), dense(a.cpu().double(), b.cpu().double(), s), rtol=tol, atol=0)


# ------------------------------------------------------------------------------------------------
# memory: what autograd keeps for backward
# ------------------------------------------------------------------------------------------------

def saved_bytes(loss, a, b, s, **kwargs):
    """Bytes of the distinct storages autograd saves for backward while computing ``loss``."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss(a, b, s, **kwargs)
    return sum(storages.values())


@pytest.mark.parametrize("name", NAMES)
def test_saved_for_backward_is_linear_in_n(name):
    """At N = 4096, D = 32 (float32) the dense loss keeps N x N matrices (64 MiB each) for backward;
    the tiled one keeps the inputs, the normalised embeddings and a log-sum-exp per row: O(N D)."""
    tiled, dense, s = LOSSES[name]
    n, d = 4096, 32
    a, b = pair(n, d, torch.float32, seed=8)
    tiled_bytes, dense_bytes = saved_bytes(tiled, a, b, s), saved_bytes(dense, a, b, s)
    rows = 2 * n if name == "nt_xent" else n
    assert dense_bytes >= rows * rows * 4  # at least one N x N float32 matrix
    assert tiled_bytes <= 8 * rows * (d + 2) * 4  # a few (N, D) tensors and (N,) vectors
    assert tiled_bytes <= 0.1 * dense_bytes


def test_the_tiled_function_saves_q_k_indices_and_the_log_sum_exps():
    q, k = (torch.nn.functional.normalize(x, dim=1).requires_grad_() for x in pair(300, 5))
    shapes = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: shapes.append(tuple(t.shape)) or t, lambda t: t):
        T.contrastive_nll_tiled(q, k, 3.0, columns=True, tile_size=64)
    # q, k, positive, the row log-sum-exps and off-positive masses (one per multiplier), the column ones
    assert sorted(shapes) == sorted([(300, 5), (300, 5), (300,), (1, 300), (1, 300), (300,), (300,)])


# ------------------------------------------------------------------------------------------------
# tile choice, impl choice, validation
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows, cols, element_size, buffers, budget", [
    (4096, 4096, 4, 1, T.DEFAULT_MEMORY_BUDGET), (16384, 16384, 4, 2, T.DEFAULT_MEMORY_BUDGET),
    (100_000, 100_000, 4, 2, T.DEFAULT_MEMORY_BUDGET), (513, 513, 8, 2, 4096), (10, 10, 4, 1, 1)])
def test_tile_shape_respects_the_budget(rows, cols, element_size, buffers, budget):
    tile_rows, tile_cols = T.tile_shape(rows, cols, element_size, buffers=buffers, memory_budget_bytes=budget)
    assert 1 <= tile_rows <= rows and 1 <= tile_cols <= cols
    assert buffers * tile_rows * tile_cols * element_size <= max(budget, buffers * element_size)


def test_tile_shape_prefers_full_width_row_blocks():
    assert T.tile_shape(4096, 4096, 4) == (512, 4096)  # 8 MiB, one (512, D) @ (D, 4096) matmul per tile
    assert T.tile_shape(16384, 16384, 4, buffers=2) == (128, 16384)
    assert T.tile_shape(65536, 65536, 4) == (128, 16384)  # wider than 128 rows fit: split the columns
    assert T.tile_shape(7, 5, 4) == (7, 5)
    assert T.tile_shape(513, 513, 4, tile_size=64) == (64, 64)
    assert T.tile_shape(513, 513, 4, tile_size=(5, 1000)) == (5, 513)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, (1, 2, 3), (4, 0), "64"])
def test_bad_tile_size(bad):
    a, b = pair(4, 3)
    with pytest.raises(ValueError, match="tile_size must be None, a positive int or a pair of positive ints"):
        T.info_nce_tiled(a, b, tile_size=bad)


@pytest.mark.parametrize("bad", [0, -1, 1.5, None])
def test_bad_memory_budget(bad):
    a, b = pair(4, 3)
    with pytest.raises(ValueError, match="memory_budget_bytes must be a positive int"):
        T.nt_xent_tiled(a, b, memory_budget_bytes=bad)


def test_resolve_impl():
    assert T.resolve_impl("dense", 10**6, 10**6) == "dense"
    assert T.resolve_impl("tiled", 2, 2) == "tiled"
    assert T.resolve_impl("auto", 1023, 1023) == "dense"
    assert T.resolve_impl("auto", 1024, 1024) == "tiled"
    with pytest.raises(ValueError, match=r'impl must be one of "dense", "tiled", "auto", got \'flash\''):
        T.resolve_impl("flash", 2, 2)


def test_resolve_impl_on_cuda_switches_on_free_memory(monkeypatch):
    """On CUDA, auto keeps dense while AUTO_DENSE_BYTES_PER_LOGIT per logit fit in half the free memory
    (the device query is replaced, so this runs without a GPU); the CPU rule ignores memory."""
    free = 64 * 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 2 * free))
    fits = int((T.AUTO_DENSE_FREE_SHARE * free / T.AUTO_DENSE_BYTES_PER_LOGIT) ** 0.5)  # largest square N
    assert T.resolve_impl("auto", fits, fits, "cuda") == "dense"
    assert T.resolve_impl("auto", fits + 1, fits + 1, "cuda") == "tiled"
    assert T.resolve_impl("auto", 4096, 4096, "cuda") == "dense"  # tiled on the CPU
    assert T.resolve_impl("auto", 4096, 4096, "cpu") == "tiled"
    assert T.resolve_impl("tiled", 8, 8, "cuda") == "tiled" and T.resolve_impl("dense", 10**6, 10**6, "cuda") == "dense"
    free = 2**20  # a nearly full device: tiled even for a small matrix
    assert T.resolve_impl("auto", 256, 256, torch.device("cuda", 0)) == "tiled"


@pytest.mark.parametrize("impl", ["dense", "tiled", "auto"])
def test_contrastive_nll_dispatch(impl):
    q, k = (torch.nn.functional.normalize(x, dim=1) for x in pair(9, 4))
    torch.testing.assert_close(T.contrastive_nll(q, k, 5.0, impl=impl, tile_size=2),
                               T.contrastive_nll_dense(q, k, 5.0), rtol=1e-12, atol=1e-12)


def test_core_argument_errors():
    q, k = pair(5, 3)
    with pytest.raises(ValueError, match="positive=None means the diagonal, which needs R <= C"):
        T.contrastive_nll_tiled(q, k[:3], 1.0)
    with pytest.raises(ValueError, match="columns=True needs a square matrix"):
        T.contrastive_nll_tiled(q[:4], k, 1.0, columns=True)


# the dense functions' own messages, raised by the tiled ones (argument names included)
BAD_CALLS = [
    ("info_nce", lambda f, x, y: f(x, y), "query", "positive", {"temperature": 0.1}),
    ("info_nce_symmetric", lambda f, x, y: f(x, y), "query", "positive", {"temperature": 0.1, "symmetric": True}),
    ("nt_xent", lambda f, x, y: f(x, y), "z1", "z2", {"temperature": 0.5}),
    ("clip_loss", lambda f, x, y: f(x, y), "a", "b", {"logit_scale": 10.0}),
]
TILED = {"info_nce": T.info_nce_tiled, "info_nce_symmetric": T.info_nce_tiled, "nt_xent": T.nt_xent_tiled,
         "clip_loss": T.clip_loss_tiled}


def same_error(name, *args, **kwargs):
    """Both implementations raise the same exception type with the same message."""
    errors = []
    for f in (DENSE[name], TILED[name]):
        with pytest.raises((TypeError, ValueError)) as info:
            f(*args, **kwargs)
        errors.append((info.type, str(info.value)))
    assert errors[0] == errors[1]
    return errors[1]


@pytest.mark.parametrize("name, _, first, second, kwargs", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_validation_errors_equal_the_dense_ones(name, _, first, second, kwargs):
    x, y = pair(4, 3, torch.float32)
    # a single sample: undefined for in-batch losses
    kind, message = same_error(name, x[:1], y[:1], **kwargs)
    assert kind is ValueError and f"{first} must have at least 2 rows" in message and "got shape (1, 3)" in message
    kind, message = same_error(name, x, y[:, :2], **kwargs)
    assert f"{first} and {second} must have the same shape" in message
    bad = y.clone()
    bad[1, 2] = math.nan
    kind, message = same_error(name, x, bad, **kwargs)
    assert f"{second} must be finite" in message
    kind, message = same_error(name, x.long(), y, **kwargs)
    assert kind is TypeError and f"{first} must be a floating-point tensor" in message
    kind, message = same_error(name, x[0], y[0], **kwargs)
    assert f"{first} must be a 2-d tensor" in message
    hyper = "logit_scale" if name == "clip_loss" else "temperature"
    for bad_value in (0.0, -1.0, math.inf, torch.tensor([0.1, 0.2])):
        kind, message = same_error(name, x, y, **{**kwargs, hyper: bad_value})
        assert message.startswith(hyper)
    if name.startswith("info_nce"):
        kind, message = same_error(name, x, y, temperature=0.1, symmetric=1)
        assert kind is TypeError and "symmetric must be a bool" in message
