"""project(): PCA, UMAP on a torch k-NN graph, t-SNE; cached by content."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from contrastlab.interactive import projection
from contrastlab.interactive.projection import knn_graph, project


def blobs(n=300, d=16, k=3, seed=0):
    g = np.random.default_rng(seed)
    centres = 6 * g.standard_normal((k, d))
    labels = np.arange(n) % k
    return (centres[labels] + g.standard_normal((n, d))).astype(np.float32), labels


def test_pca_recovers_the_dominant_axis():
    g = np.random.default_rng(1)
    x = np.zeros((200, 5), dtype=np.float32)
    x[:, 2] = 10 * g.standard_normal(200)
    x[:, 4] = 0.1 * g.standard_normal(200)
    xy = project(x, "pca")
    assert xy.shape == (200, 2)
    np.testing.assert_allclose(np.abs(xy[:, 0]), np.abs(x[:, 2] - x[:, 2].mean()), rtol=1e-4, atol=1e-4)


def test_knn_graph_is_exact_and_starts_with_self():
    x, _ = blobs(100)
    idx, dist = knn_graph(torch.from_numpy(x), 5, metric="euclidean", chunk_size=17)
    xt = torch.from_numpy(x)
    brute = torch.cdist(xt, xt, compute_mode="donot_use_mm_for_euclid_dist").topk(5, largest=False)
    assert (idx[:, 0] == np.arange(100)).all() and np.allclose(dist[:, 0], 0)
    np.testing.assert_allclose(dist, brute.values.numpy(), atol=1e-4)


@pytest.mark.parametrize("method", ["umap", "tsne"])
def test_nonlinear_projections_keep_clusters_apart(method):
    x, labels = blobs()
    xy = project(x, method, on_wait=lambda message: None)
    assert xy.shape == (300, 2) and np.isfinite(xy).all()
    centres = np.stack([xy[labels == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(xy[labels == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 2 * spread


def test_umap_is_deterministic_and_cached_by_content():
    x, _ = blobs(seed=2)
    projection._CACHE.clear()
    first = project(x, "umap", seed=3, on_wait=lambda m: None)
    assert len(projection._CACHE) == 1
    again = project(x.copy(), "umap", seed=3, on_wait=lambda m: None)
    np.testing.assert_array_equal(first, again)
    again[0, 0] = 1e9  # callers get copies: the cache cannot be corrupted
    assert project(x, "umap", seed=3)[0, 0] != 1e9
    project(x, "umap", seed=4, on_wait=lambda m: None)
    assert len(projection._CACHE) == 2  # different settings, different entry
    projection._CACHE.clear()
    recomputed = project(x, "umap", seed=3, on_wait=lambda m: None)
    np.testing.assert_allclose(recomputed, first, atol=1e-5)


def test_three_components_and_small_inputs():
    x, _ = blobs(60)
    assert project(x, "umap", n_components=3, on_wait=lambda m: None).shape == (60, 3)
    two_d = np.random.default_rng(0).standard_normal((10, 2)).astype(np.float32)
    np.testing.assert_array_equal(project(two_d, "umap"), two_d)  # nothing to reduce


def test_tensors_on_any_device(device):
    x, _ = blobs(50)
    assert project(torch.from_numpy(x).to(device), "pca").shape == (50, 2)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"method must be one of \('pca', 'umap', 'tsne'\), got 'mds'"):
        project(np.zeros((5, 3)), "mds")
    with pytest.raises(ValueError, match=r"embeddings must be a non-empty 2-d array \(N, D\), got shape \(5,\)"):
        project(np.zeros(5), "pca")
    with pytest.raises(ValueError, match="must be finite"):
        project(np.full((5, 3), np.nan), "pca")
    with pytest.raises(ValueError, match=r"n_components must be 1, 2 or 3"):
        project(np.zeros((5, 3)), "pca", n_components=4)


def test_umap_leaves_torch_thread_count_alone():
    """numba's OpenMP start-up in a fresh process resets torch to every core; a notebook that chose
    one thread must keep it (otherwise training after a UMAP cell slows down many times on 2 cores)."""
    code = ("import torch; torch.set_num_threads(1)\n"
            "from contrastlab.interactive.projection import project\n"
            "project(torch.randn(80, 8), 'umap', on_wait=lambda message: None)\n"
            "print(torch.get_num_threads())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "1"
