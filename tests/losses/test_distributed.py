"""Two gloo processes on CPU, each with half of a fixed batch, reproduce the single-process loss on the
whole batch: values, input gradients and (under DDP) parameter gradients.

What is compared, and why:
- value: the mean of the ranks' losses == the single-process loss (each rank's loss is the mean over
  its own anchors, and the ranks' anchors partition the global ones);
- input gradients: rank r's gradient w.r.t. its half is sum_s dL_s/dz_r, because the gather's backward
  sums over ranks. That is the gradient of sum_s L_s = W * L, so the ranks' gradients, concatenated and
  divided by the world size W (= what DDP's averaging does to them), == the single-process gradient;
- the temperature / logit scale is replicated, so rank r's gradient is dL_r/dt and their mean == dL/dt;
- DDP end to end: a linear encoder wrapped in DistributedDataParallel (which averages gradients over
  ranks) ends up with exactly the single-process parameter gradient.
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import os
import tempfile
import time
import traceback
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import contrastlab.losses as L
from contrastlab.losses import distributed as DL
from contrastlab.losses import tiled as T

WORLD = 2
N, D = 8, 5  # global batch; 4 rows per rank
TIMEOUT_S = 60

LABELS = torch.arange(N) % 3  # supcon's global labels: every rank holds some of each class


def supcon_of_views(a, b, *, labels, **kwargs):
    """supcon on the (n, 2, D) views [a, b] (so that every loss here takes two (n, D) tensors)."""
    return L.supcon(torch.stack([a, b], 1), labels, **kwargs)


# name -> (distributed loss, single-process loss, hyperparameter name and value, other keywords); the losses
# with a ``gather_distributed`` argument are their own distributed form (they gather whenever distributed)
LOSSES = {
    "info_nce": (DL.info_nce_distributed, L.info_nce, "temperature", 0.2, {}),
    "info_nce_symmetric": (DL.info_nce_distributed, L.info_nce, "temperature", 0.3, {"symmetric": True}),
    "nt_xent": (DL.nt_xent_distributed, L.nt_xent, "temperature", 0.5, {}),
    "clip_loss": (DL.clip_loss_distributed, L.clip_loss, "logit_scale", 1 / 0.07, {}),
    "decoupled_nt_xent": (L.decoupled_nt_xent, L.decoupled_nt_xent, "temperature", 0.3, {}),
    "debiased_nt_xent": (L.debiased_nt_xent, L.debiased_nt_xent, "temperature", 0.5, {"tau_plus": 0.1}),
    "hard_negative_nt_xent": (L.hard_negative_nt_xent, L.hard_negative_nt_xent, "temperature", 0.5,
                              {"tau_plus": 0.1, "beta": 1.0}),
    "siglip_loss": (L.siglip_loss, L.siglip_loss, "logit_scale", 5.0, {"logit_bias": -2.0}),
    "supcon": (supcon_of_views, supcon_of_views, "temperature", 0.2, {}),
}
# tile_size=3: the generic path (each tile recomputed in backward); (3, 10**6): full-width row tiles, the
# fused one. The losses without a tile_size argument get it by forcing tiled.tile_shape (``forced_tile``).
IMPLS = {"dense": {"impl": "dense"}, "tiled": {"impl": "tiled", "tile_size": 3},
         "tiled_full_rows": {"impl": "tiled", "tile_size": (3, 10**6)}}


@contextlib.contextmanager
def forced_tile(loss, kwargs):
    """``loss`` called with ``kwargs``: a ``tile_size`` it does not take becomes every tiled path's tile."""
    kwargs = dict(kwargs)
    tile = kwargs.pop("tile_size", None) if "tile_size" not in inspect.signature(loss).parameters else None
    if tile is None:
        yield kwargs
        return
    original = T.tile_shape
    T.tile_shape = lambda rows, cols, element_size, **kw: original(rows, cols, element_size,
                                                                  buffers=kw.get("buffers", 1), tile_size=tile)
    try:
        yield kwargs
    finally:
        T.tile_shape = original


def labels_of(name, rows=slice(None)):
    return {"labels": LABELS[rows]} if name == "supcon" else {}


def batch():
    """The fixed global batch (float64) and encoder weight every process builds identically."""
    g = torch.Generator().manual_seed(1234)
    x1, x2 = torch.randn(N, D, generator=g, dtype=torch.float64), torch.randn(N, D, generator=g, dtype=torch.float64)
    weight = torch.randn(3, D, generator=g, dtype=torch.float64)
    return x1, x2, weight


def _worker(rank, init_file, out_dir):
    """One rank: every loss and impl on its half of the batch; results saved to out_dir/rank{rank}.pt."""
    out = Path(out_dir) / f"rank{rank}.pt"
    try:
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD,
                                timeout=datetime.timedelta(seconds=TIMEOUT_S))
    except Exception as error:  # an environment without a usable loopback: the test skips, saying why
        torch.save({"init_error": f"{type(error).__name__}: {error}"}, out)
        return
    try:
        torch.set_num_threads(1)
        x1, x2, weight = batch()
        n = N // WORLD
        rows = slice(rank * n, (rank + 1) * n)
        results = {"offset": DL.rank_offset(n), "is_distributed": DL.is_distributed() and DL.should_gather(None)}
        for name, (loss, _, hyper, value, kwargs) in LOSSES.items():
            for impl, impl_kwargs in IMPLS.items():
                a, b = x1[rows].clone().requires_grad_(), x2[rows].clone().requires_grad_()
                t = torch.tensor(value, dtype=torch.float64, requires_grad=True)
                with forced_tile(loss, impl_kwargs) as impl_kwargs:
                    result = loss(a, b, **{hyper: t}, **kwargs, **labels_of(name, rows), **impl_kwargs)
                result.backward()
                results[name, impl] = (result.detach(), a.grad, b.grad, t.grad)
            # end to end with DDP: a shared linear encoder, gradients averaged over ranks by DDP
            encoder = torch.nn.Linear(D, 3, bias=False).double()
            with torch.no_grad():
                encoder.weight.copy_(weight)
            ddp = torch.nn.parallel.DistributedDataParallel(encoder)
            loss(ddp(x1[rows]), ddp(x2[rows]), **{hyper: value}, **kwargs, **labels_of(name, rows)).backward()
            results[name, "ddp"] = encoder.weight.grad.clone()
        try:  # unequal local batches are refused on every rank, not left to hang
            DL.gather_with_grad(torch.zeros(3 + rank, D))
        except ValueError as error:
            results["unequal"] = str(error)
        torch.save(results, out)
    except Exception:
        torch.save({"error": traceback.format_exc()}, out)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks():
    """The two ranks' results, computed once for the module (about 5 s, most of it process start-up)."""
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available in this build of torch")
    with tempfile.TemporaryDirectory() as tmp:
        context = mp.start_processes(_worker, args=(os.path.join(tmp, "init"), tmp), nprocs=WORLD, join=False,
                                     start_method="spawn")
        deadline = time.monotonic() + TIMEOUT_S
        try:
            while not context.join(timeout=1):
                if time.monotonic() > deadline:
                    pytest.fail(f"the {WORLD} gloo processes did not finish within {TIMEOUT_S} s")
        finally:
            for process in context.processes:
                if process.is_alive():
                    process.kill()
        results = [torch.load(Path(tmp) / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    for r, result in enumerate(results):
        if "init_error" in result:
            pytest.skip(f"gloo could not start a process group on this machine: {result['init_error']}")
        assert "error" not in result, f"rank {r} failed:\n{result['error']}"
    return results


def single_process(name):
    """The single-process loss on the whole batch: value and gradients w.r.t. x1, x2, the hyperparameter."""
    _, loss, hyper, value, kwargs = LOSSES[name]
    x1, x2, _ = batch()
    a, b = x1.clone().requires_grad_(), x2.clone().requires_grad_()
    t = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    result = loss(a, b, **{hyper: t}, **kwargs, **labels_of(name))
    return result.detach(), torch.autograd.grad(result, (a, b, t))


def close(got, want):
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_each_rank_knows_where_its_rows_are(ranks):
    assert [r["offset"] for r in ranks] == [0, N // WORLD]
    assert all(r["is_distributed"] for r in ranks)


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_mean_over_ranks_equals_the_single_process_loss(ranks, name, impl):
    value, (grad_a, grad_b, grad_t) = single_process(name)
    results = [r[name, impl] for r in ranks]
    close(torch.stack([r[0] for r in results]).mean(), value)
    # rank r's input gradient is d(sum_s L_s)/dz_r = W dL/dz_r; DDP's average divides it by W
    close(torch.cat([r[1] for r in results]) / WORLD, grad_a)
    close(torch.cat([r[2] for r in results]) / WORLD, grad_b)
    # the replicated temperature / logit scale: dL_r/dt on rank r, averaged by DDP
    close(torch.stack([r[3] for r in results]).mean(), grad_t)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_ddp_parameter_gradients_equal_the_single_process_ones(ranks, name):
    _, loss, hyper, value, kwargs = LOSSES[name]
    x1, x2, weight = batch()
    encoder = torch.nn.Linear(D, 3, bias=False).double()
    with torch.no_grad():
        encoder.weight.copy_(weight)
    loss(encoder(x1), encoder(x2), **{hyper: value}, **kwargs, **labels_of(name)).backward()
    for r in ranks:
        close(r[name, "ddp"], encoder.weight.grad)


def test_unequal_local_batches_are_refused(ranks):
    for r in ranks:
        assert "every rank must gather the same shape" in r["unequal"]
        assert "(3, 5), (4, 5)" in r["unequal"]


# ------------------------------------------------------------------------------------------------
# without a process group the distributed losses are the single-process ones (no processes spawned)
# ------------------------------------------------------------------------------------------------

def test_not_distributed_is_a_no_op():
    x = torch.randn(4, 3)
    assert not DL.is_distributed()
    assert DL.rank_offset(4) == 0
    assert DL.should_gather(None) is False and DL.should_gather(True) is True and DL.should_gather(False) is False
    with pytest.raises(TypeError, match="gather_distributed must be None or a bool, got int"):
        DL.should_gather(1)
    assert DL.gather_with_grad(x) is x
    assert all(y is x for y in DL.global_batch(x, x))


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_one_process_equals_the_single_process_loss(name, impl):
    loss, _, hyper, value, kwargs = LOSSES[name]
    x1, x2, _ = batch()
    a, b = x1.clone().requires_grad_(), x2.clone().requires_grad_()
    t = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    with forced_tile(loss, IMPLS[impl]) as impl_kwargs:
        result = loss(a, b, **{hyper: t}, **kwargs, **labels_of(name), **impl_kwargs)
    want_value, want_grads = single_process(name)
    close(result.detach(), want_value)
    for got, want in zip(torch.autograd.grad(result, (a, b, t)), want_grads):
        close(got, want)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_validation_errors_equal_the_dense_ones(name):
    loss, dense, hyper, value, kwargs = LOSSES[name]
    if loss is dense:
        pytest.skip("the loss is its own distributed form: one function, one set of checks")
    x1, x2, _ = batch()
    for args, extra in [((x1[:1], x2[:1]), {}), ((x1, x2[:, :2]), {}), ((x1, x2), {hyper: 0.0})]:
        messages = []
        for f in (dense, loss):
            with pytest.raises(ValueError) as info:
                f(*args, **{hyper: value, **kwargs, **labels_of(name, slice(len(args[0]))), **extra})
            messages.append(str(info.value))
        assert messages[0] == messages[1]
