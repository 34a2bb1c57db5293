"""contrastlab.lessons.batch_size_and_memory: measured memory (live-tensor peaks, bytes saved for backward, CUDA and RSS
peaks). The toy of lesson 08's reproduction is data.nuisance_clusters (tests/data/test_nuisance.py)."""

import pytest
import torch

import contrastlab.losses as L
from contrastlab.lessons.batch_size_and_memory import PeakMemory, peak_memory, rss_available, saved_tensor_bytes

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
