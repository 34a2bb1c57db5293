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
    with pytest.raises(ValueError, match=r"method must be one of 'pca', 'umap' or 'tsne', got 'mds'"):
        project(np.zeros((5, 3)), "mds")
    with pytest.raises(ValueError, match=r"embeddings must be a non-empty 2-d array \(N, D\), got shape \(5,\)"):
        project(np.zeros(5), "pca")
    with pytest.raises(ValueError, match="must be finite"):
        project(np.full((5, 3), np.nan), "pca")
    with pytest.raises(ValueError, match=r"n_components must be an integer in \[1, 3\], got 4"):
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


# --- every argument checked by name (issue "Reliability: no silent garbage") -------------------

@pytest.mark.parametrize("kwargs,error,match", [
    (dict(n_neighbors=-3), ValueError, r"n_neighbors must be an integer >= 2, got -3"),
    (dict(n_neighbors=1), ValueError, r"n_neighbors must be an integer >= 2, got 1"),
    (dict(n_neighbors=5.0), TypeError, r"n_neighbors must be an int, got float 5.0"),
    (dict(n_components=0), ValueError, r"n_components must be an integer in \[1, 3\], got 0"),
    (dict(n_components=2.0), TypeError, r"n_components must be an int, got float 2.0"),
    (dict(n_components=True), TypeError, r"n_components must be an int, got bool True"),
    (dict(method="tsne", perplexity=0), ValueError, r"perplexity must be a finite number in \(0.0, inf\], got 0.0"),
    (dict(method="tsne", perplexity=float("nan")), ValueError, r"perplexity must be a finite number"),
    (dict(method="tsne", perplexity="30"), TypeError, r"perplexity must be a float, got str '30'"),
    (dict(seed=-1), ValueError, r"seed must be an integer >= 0, got -1"),
    (dict(seed=1.5), TypeError, r"seed must be an int, got float 1.5"),
    (dict(metric="l1"), ValueError, r"metric must be 'cosine' or 'euclidean', got 'l1'"),
    (dict(metric=None), TypeError, r"metric must be 'cosine' or 'euclidean', got NoneType"),
    (dict(method=None), TypeError, r"method must be one of 'pca', 'umap' or 'tsne', got NoneType"),
    (dict(method="umpa"), ValueError, r"method must be .* got 'umpa' \(did you mean 'umap'\?\)"),
    (dict(min_dist=-0.1), ValueError, r"min_dist must be a finite number in \[0.0, 1.0\], got -0.1"),
    (dict(n_epochs=0), ValueError, r"n_epochs must be an integer >= 1, got 0"),
    (dict(on_wait="print"), TypeError, r"on_wait must be a callable or None, got str"),
])
def test_every_argument_is_checked_by_name(kwargs, error, match):
    kwargs = {"method": "umap", **kwargs}
    with pytest.raises(error, match=match):
        project(np.zeros((20, 5), dtype=np.float32), **kwargs)


def test_an_input_that_overflows_float32_is_refused_before_the_svd():
    """A float64 1e200 used to pass the finite check (run before the cast to float32) and fail in the SVD."""
    big = np.random.default_rng(0).standard_normal((30, 6)) * 1e200
    for method in ("pca", "umap", "tsne"):
        with pytest.raises(ValueError, match=r"embeddings must fit in float32 .* overflows float32"):
            project(big, method)
    with pytest.raises(ValueError, match=r"embeddings must be finite, got 1 NaN or inf"):
        project(np.array([[np.inf, 0.0, 0.0]] + [[1.0, 2.0, 3.0]] * 4), "pca")


@pytest.mark.parametrize("kind", [np.array([["a", "b"], ["c", "d"]]), np.ones((4, 3), dtype=complex),
                                  np.ones((4, 3), dtype=bool), [[1.0, 2.0], [3.0]], object()],
                         ids=["str", "complex", "bool", "ragged", "object"])
def test_embeddings_that_are_not_real_numbers_are_a_type_error(kind):
    with pytest.raises(TypeError, match=r"embeddings must be a tensor or array of real numbers"):
        project(kind, "pca")


@pytest.mark.parametrize("method", ["pca", "umap", "tsne"])
@pytest.mark.parametrize("scale", [2.0 ** 100, 2.0 ** -100], ids=["2^100", "2^-100"])
def test_large_and_small_finite_inputs_project_like_the_unscaled_ones(method, scale):
    """Float32 rows near 1e30 (or 1e-30) have squared norms beyond float32: the projection divides by a
    power of two first, so the layout is the unscaled one (PCA's coordinates scaled back)."""
    x, _ = blobs(60, d=8)
    got = project(x * np.float32(scale), method, seed=1, on_wait=lambda m: None)
    want = project(x, method, seed=1, on_wait=lambda m: None)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got / (scale if method == "pca" else 1.0), want, rtol=1e-5, atol=1e-5)


def test_knn_graph_checks_its_arguments_and_normalises_large_rows():
    x = torch.randn(12, 4)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 12\], got 13"):
        knn_graph(x, 13)
    with pytest.raises(ValueError, match=r"metric must be 'cosine' or 'euclidean'"):
        knn_graph(x, 3, metric="l2")
    idx, dist = knn_graph(x * 1e20, 4)
    ref_idx, ref_dist = knn_graph(x, 4)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, atol=1e-6)
