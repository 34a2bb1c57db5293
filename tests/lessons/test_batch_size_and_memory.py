"""contrastlab.lessons.batch_size_and_memory: measured memory (live-tensor peaks, bytes saved for backward, CUDA and RSS
peaks) and the nuisance toy of lesson 07's reproduction."""

import pytest
import torch

import contrastlab.losses as L
from contrastlab.lessons.batch_size_and_memory import (NuisanceMixture, PeakMemory, nuisance_mixture, peak_memory,
                                                       rss_available, saved_tensor_bytes)
from contrastlab.metrics import knn_accuracy

MB = 1_000_000  # 250_000 float32 values


def views(n, d=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g).requires_grad_() for _ in range(2)]


# ---------------------------------------------------------------------------------------- "tensors"

def test_counts_new_storages_exactly_and_returns_the_result(device):
    def fn():
        a = torch.ones(1000, 250, device=device)  # 1 MB
        b = torch.ones(500, 500, device=device)  # 1 MB: 2 MB live, the peak
        del a
        c = torch.ones(250, 250, device=device)  # 0.25 MB: 1.25 MB live
        return float((b.sum() + c.sum()).item())

    got = peak_memory(fn, device=device, method="tensors")
    assert isinstance(got, PeakMemory) and got.method == "tensors"
    assert got.result == 250_000 + 62_500
    assert 2 * MB <= got.peak_bytes < 2 * MB + 64, f"expected 2 MB (+ a few scalars), got {got.peak_bytes}"
    assert got.mib == pytest.approx(got.peak_bytes / 2**20)


def test_views_in_place_and_out_ops_add_nothing():
    def fn():
        x = torch.ones(1000, 250)  # 1 MB
        y = x.view(250, 1000)
        y.mul_(2)
        torch.add(x, 1, out=x)
        return x[:10].T

    assert peak_memory(fn).peak_bytes == MB


def test_memory_that_existed_before_the_call_is_not_charged():
    big = torch.ones(1000, 1000)  # 4 MB, made outside
    got = peak_memory(lambda: big.add_(1)[0].clone())
    assert got.peak_bytes == 1000 * 4, f"only the 1000-float clone is new, got {got.peak_bytes} bytes"


def test_freed_memory_is_given_back():
    def fn():
        for _ in range(5):
            torch.ones(1000, 250)  # 1 MB, dropped at once

    assert peak_memory(fn).peak_bytes == MB, "five 1 MB tensors that never coexist peak at 1 MB"


def test_only_the_measured_device_type_counts():
    got = peak_memory(lambda: torch.ones(1000, 250), device="meta", method="tensors")
    assert got.peak_bytes == 0, "a CPU allocation must not count when measuring another device type"


def test_backward_and_custom_autograd_functions_are_seen():
    n = 512
    z1, z2 = views(n)
    dense = peak_memory(lambda: L.nt_xent(z1, z2, temperature=0.1, impl="dense").backward())
    matrix = (2 * n) ** 2 * 4  # one float32 (2N, 2N) matrix
    assert dense.peak_bytes >= 2 * matrix, "the logits and their gradient coexist during backward"
    tile = (64, 2 * n)  # the tiled path's backward allocates one (64, 2N) buffer in its custom Function
    tiled = peak_memory(lambda: _tiled(z1, z2, tile))
    assert tiled.peak_bytes >= tile[0] * tile[1] * 4, "the backward's tile buffer was not counted"
    assert tiled.peak_bytes < matrix, "the tiled path must stay below one (2N, 2N) matrix"


def _tiled(z1, z2, tile):
    from contrastlab.losses.tiled import nt_xent_tiled

    nt_xent_tiled(z1, z2, temperature=0.1, tile_size=tile).backward()


def test_tiled_peak_is_a_small_share_of_dense():
    """A deterministic memory ratio (allowed to gate CI): at N = 1024 the dense NT-Xent holds
    several (2N, 2N) float32 matrices (16 MiB each), the tiled one a tile buffer and O(N D)."""
    z1, z2 = views(1024)
    dense = peak_memory(lambda: L.nt_xent(z1, z2, temperature=0.1, impl="dense").backward())
    tiled = peak_memory(lambda: L.nt_xent(z1, z2, temperature=0.1, impl="tiled").backward())
    assert dense.peak_bytes >= 2 * (2048**2 * 4)
    assert tiled.peak_bytes < dense.peak_bytes / 2, (dense.mib, tiled.mib)


# ---------------------------------------------------------------------------------------- saved

def test_saved_bytes_count_each_storage_once():
    x = torch.randn(1000, 250, requires_grad=True)
    got = saved_tensor_bytes(lambda: (x * x).sum())  # mul saves x twice: one storage
    assert (got.bytes, got.count) == (MB, 1)
    assert got.result.shape == ()
    exp = saved_tensor_bytes(lambda: x.exp().sum())  # exp saves its output, a new 1 MB storage
    assert (exp.bytes, exp.count) == (MB, 1)
    assert saved_tensor_bytes(lambda: (x.detach() * 2).sum()).bytes == 0, "no graph, nothing saved"


def test_dense_saves_the_matrix_and_tiled_does_not():
    n = 512
    z1, z2 = views(n)
    dense = saved_tensor_bytes(lambda: L.nt_xent(z1, z2, temperature=0.1, impl="dense"))
    tiled = saved_tensor_bytes(lambda: L.nt_xent(z1, z2, temperature=0.1, impl="tiled"))
    assert dense.bytes >= (2 * n) ** 2 * 4, "the dense loss keeps a (2N, 2N) matrix for backward"
    assert tiled.bytes < 64 * (2 * n) * 32 * 4, "the tiled loss keeps O(N D): a few (2N, D) copies"
    assert tiled.bytes < dense.bytes / 8


# ---------------------------------------------------------------------------------------- rss, cuda

@pytest.mark.skipif(not rss_available(), reason="needs Linux's /proc/self/clear_refs")
def test_rss_sees_a_large_touched_allocation():
    # 64 MiB is above glibc's largest mmap threshold (32 MiB): fresh pages, resident once written
    got = peak_memory(lambda: float(torch.ones(16 * 2**20).sum()), method="rss")
    assert got.method == "rss"
    assert got.peak_bytes >= 60 * 2**20, f"expected about 64 MiB resident, got {got.mib:.1f} MiB"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_peak_matches_the_allocation():
    got = peak_memory(lambda: torch.ones(1000, 250, device="cuda").sum().item(), device="cuda")
    assert got.method == "cuda"
    assert MB <= got.peak_bytes < MB + 2**21, f"1 MB (rounded to the allocator's blocks), got {got.peak_bytes}"


# ---------------------------------------------------------------------------------------- validation

def test_validation_names_the_argument():
    with pytest.raises(TypeError, match="fn must be a callable"):
        peak_memory(None)
    with pytest.raises(TypeError, match="fn must be a callable"):
        saved_tensor_bytes(3)
    with pytest.raises(ValueError, match="method must be one of"):
        peak_memory(lambda: None, method="gpu")
    with pytest.raises(ValueError, match="device must be"):
        peak_memory(lambda: None, device="not-a-device")
    with pytest.raises(ValueError, match='method="cuda"'):
        peak_memory(lambda: None, device="cpu", method="cuda")


# ---------------------------------------------------------------------------------- the toy of section 3



def test_nuisance_mixture_is_seeded_and_the_rotation_is_orthogonal():
    a, b, c = nuisance_mixture(300, seed=1), nuisance_mixture(300, seed=1), nuisance_mixture(300, seed=2)
    assert isinstance(a, NuisanceMixture) and a.x.shape == (300, 64) and a.signal.shape == (300, 32)
    assert torch.equal(a.x, b.x) and torch.equal(a.labels, b.labels) and not torch.equal(a.x, c.x)
    q = a.mix.double()
    assert torch.allclose(q @ q.T, torch.eye(64, dtype=torch.float64), atol=1e-5)
    unmixed = a.x @ a.mix.T  # (300, 64): [signal, nuisance], since Q is orthogonal
    assert torch.allclose(unmixed[:, :32], a.signal, atol=1e-5)
    assert unmixed[:, 32:].std().item() == pytest.approx(0.3, rel=0.1)  # nuisance_scale


def test_views_keep_the_signal_and_redraw_the_nuisance():
    toy = nuisance_mixture(400, view_noise=0.0, nuisance_scale=0.5, seed=3)
    v = toy.views(generator=toy.generator(1)) @ toy.mix.T  # (400, 2, 64) unmixed views
    assert torch.allclose(v[:, 0, :32], toy.signal, atol=1e-5) and torch.allclose(v[:, 1, :32], toy.signal, atol=1e-5)
    nuisance = toy.x @ toy.mix.T
    nu0, nu1 = v[:, 0, 32:], v[:, 1, 32:]
    corr = lambda p, q: float(((p - p.mean()) * (q - q.mean())).mean() / (p.std() * q.std()))  # noqa: E731
    assert abs(corr(nu0, nu1)) < 0.05 and abs(corr(nu0, nuisance[:, 32:])) < 0.05, "the nuisance must be redrawn"
    assert nu0.std().item() == pytest.approx(0.5, rel=0.1)
    noisy = nuisance_mixture(400, view_noise=0.2, seed=3).views(generator=toy.generator(1)) @ toy.mix.T
    assert torch.allclose(noisy[:, 0, :32].norm(dim=1), torch.ones(400), atol=1e-5), "the signal of a view is unit"
    assert not torch.allclose(noisy[:, 0, :32], toy.signal, atol=1e-2)


def test_the_nuisance_holds_the_raw_knn_down_and_scale_zero_removes_it():
    clean, noisy = nuisance_mixture(1000, nuisance_scale=0.0, seed=0), nuisance_mixture(1000, seed=0)
    signal_knn = knn_accuracy(clean.signal, clean.labels, k=20)
    assert knn_accuracy(clean.x, clean.labels, k=20) == pytest.approx(signal_knn, abs=1e-9)  # a rotation only
    assert knn_accuracy(noisy.x, noisy.labels, k=20) < signal_knn - 0.1


def test_subset_keeps_signal_and_inputs_together():
    toy = nuisance_mixture(200, seed=4)
    part = toy.subset(torch.arange(10, 30))
    assert torch.equal(part.x, toy.x[10:30]) and torch.equal(part.signal, toy.signal[10:30])
    assert torch.equal(part.mix, toy.mix)


@pytest.mark.parametrize("knob, value, error", [("n_nuisance", 0, ValueError), ("n_nuisance", 2.0, TypeError),
                                                ("nuisance_scale", -0.1, ValueError), ("seed", -1, ValueError),
                                                ("concentration", -1.0, ValueError), ("dim", 1, ValueError)])
def test_bad_knobs_are_refused_by_name(knob, value, error):
    with pytest.raises(error, match=knob):
        nuisance_mixture(50, **{knob: value})
