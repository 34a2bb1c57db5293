"""2-D (or 3-D) projections of high-dimensional embeddings for plotting: PCA, UMAP, t-SNE.

UMAP is fast from the first call in a fresh kernel because
- the k-nearest-neighbour graph is computed here with torch (exact, chunked) and handed to umap-learn
  as ``precomputed_knn``, so its approximate nearest-neighbour search never runs or compiles;
- numba's on-disk cache is switched on for umap-learn's compiled functions, and ``make lab`` /
  ``make test`` prime it once at install (``python -m contrastlab.interactive.projection --prime``), so a new
  kernel loads machine code instead of compiling it (about 20 s otherwise);
- results are cached by content: projecting the same embeddings with the same settings again is free.
PCA is the instant fallback.

    xy = project(embeddings, method="umap")   # (N, 2) numpy array
"""

from __future__ import annotations

import hashlib
import sys
import time
import warnings
from collections import OrderedDict
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .. import validation as check
from ..losses.core import l2_normalize

METHODS = ("pca", "umap", "tsne")
_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_CACHE_SIZE = 32
_UMAP_MODULES = ("umap.umap_", "umap.layouts", "umap.spectral", "umap.utils", "umap.distances", "umap.sparse")


def _as_tensor(embeddings) -> Tensor:
    """(N, D) float32 on the CPU: the data as it will be used, checked after the cast.

    A tensor or array of real numbers (ints are cast; bools, complex numbers, strings and objects are
    a ``TypeError``). NaN or inf is a ``ValueError``, and so is a finite value that overflows float32
    (a float64 1e200): it is checked after the cast, not before, so it fails here and not in the SVD.
    """
    try:
        x = torch.as_tensor(embeddings).detach()
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"embeddings must be a tensor or array of real numbers (N, D), "
                        f"got {type(embeddings).__name__} ({error})") from None
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"embeddings must be a tensor or array of real numbers (N, D), got dtype {x.dtype}")
    if x.ndim != 2 or min(x.shape) == 0:
        raise ValueError(f"embeddings must be a non-empty 2-d array (N, D), got shape {tuple(x.shape)}")
    finite_before = bool(torch.isfinite(x).all()) if x.is_floating_point() else True
    if not finite_before:
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"embeddings must be finite, got {bad} NaN or inf value(s) in shape {tuple(x.shape)}")
    x = x.to(device="cpu", dtype=torch.float32)  # (N, D), what every method computes on
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"embeddings must fit in float32 (|x| <= {torch.finfo(torch.float32).max:.3g}), the dtype "
                         f"the projections compute in: {bad} value(s) of {_dtype_name(embeddings)} input "
                         f"overflows float32, largest |x| = {float(torch.as_tensor(embeddings).abs().max()):.3g}")
    return x


def _dtype_name(embeddings) -> str:
    """The dtype of a tensor or array, as a word for messages."""
    return str(getattr(embeddings, "dtype", type(embeddings).__name__))


def _unit_scale(x: Tensor) -> tuple[Tensor, float]:
    """``x / s`` and ``s``, a power of two: 1 unless the largest |x| is beyond [2^-20, 2^20], where squared
    distances, norms or the SVD would overflow or underflow float32. Dividing by a power of two is exact,
    and every projection here is equivariant to a global scale (PCA) or invariant to it (UMAP, t-SNE)."""
    top = float(x.abs().max())
    if top == 0 or 2.0 ** -20 <= top <= 2.0 ** 20:
        return x, 1.0
    scale = 2.0 ** round(np.log2(top))
    return x / scale, scale


def _key(x: Tensor, **settings) -> str:
    digest = hashlib.blake2b(x.numpy().tobytes(), digest_size=16)
    digest.update(repr((tuple(x.shape), sorted(settings.items()))).encode())
    return digest.hexdigest()


def pca(x: Tensor, n_components: int = 2) -> np.ndarray:
    """Coordinates on the top principal axes (centred SVD), with a deterministic sign per axis."""
    centred = x - x.mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    axes = vh[:n_components]  # (k, D)
    axes = axes * torch.sign(axes[torch.arange(len(axes)), axes.abs().argmax(1)])[:, None]
    coords = centred @ axes.T  # (N, k)
    if coords.shape[1] < n_components:  # fewer dimensions than asked: pad with zeros
        coords = torch.cat([coords, torch.zeros(len(coords), n_components - coords.shape[1])], 1)
    return coords.numpy()


def knn_graph(x: Tensor, k: int, *, metric: str = "cosine", chunk_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (each point's first neighbour is itself), computed in row chunks.

    Returns (indices (N, k) int64, distances (N, k) float32), the format of umap-learn's ``precomputed_knn``.
    """
    check.choice("metric", metric, ("cosine", "euclidean"))
    check.embeddings("x", x)  # (N, D) finite floating, no empty axis
    k = check.integer("k", k, 1, len(x))
    chunk_size = check.integer("chunk_size", chunk_size, 1)
    if metric == "cosine":
        z = l2_normalize(x, x.dtype)  # (N, D) unit rows; max-abs scaled first, so 1e30s do not overflow
    else:
        z = x
    indices, distances = [], []
    for start in range(0, len(z), chunk_size):
        rows = z[start:start + chunk_size]
        if metric == "cosine":
            d = (1 - rows @ z.T).clamp_min(0)  # (C, N) cosine distance
        else:
            d = torch.cdist(rows, z, compute_mode="donot_use_mm_for_euclid_dist")  # (C, N), no cancellation
        own = torch.arange(start, start + len(rows))
        d[torch.arange(len(rows)), own] = -1.0  # itself first, as umap-learn expects
        dist, idx = d.topk(k, dim=1, largest=False)
        indices.append(idx)
        distances.append(dist.clamp_min(0))
    return torch.cat(indices).numpy(), torch.cat(distances).numpy()


def enable_umap_cache() -> None:
    """Switch on numba's on-disk cache for umap-learn's compiled functions (idempotent)."""
    import importlib

    from numba.core.registry import CPUDispatcher

    for name in _UMAP_MODULES:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if isinstance(obj, CPUDispatcher) and not getattr(obj, "_contrastlab_cached", False):
                try:
                    obj.enable_caching()
                    obj._contrastlab_cached = True
                except Exception:  # a function numba cannot cache (e.g. it closes over globals): compile as usual
                    pass


def _umap(x: Tensor, n_components: int, n_neighbors: int, metric: str, seed: int, n_epochs: int | None,
          min_dist: float) -> np.ndarray:
    import umap  # noqa: F401  (the first import loads numba; about 3 s)

    enable_umap_cache()
    k = min(n_neighbors, len(x) - 1)
    indices, distances = knn_graph(x, k, metric=metric)
    threads = torch.get_num_threads()  # numba's OpenMP start-up resets torch's (1 -> all cores)
    try:
        with warnings.catch_warnings():  # n_jobs is 1 under a seed; no search index is needed without transform
            warnings.simplefilter("ignore", UserWarning)
            reducer = umap.UMAP(n_components=n_components, n_neighbors=k, metric=metric, min_dist=min_dist,
                                random_state=seed, n_epochs=n_epochs, precomputed_knn=(indices, distances, None),
                                init="spectral" if len(x) > n_components + 1 else "random")
            return reducer.fit_transform(x.numpy()).astype(np.float32)
    finally:
        torch.set_num_threads(threads)


def _tsne(x: Tensor, n_components: int, seed: int, perplexity: float) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = min(perplexity, (len(x) - 1) / 3)
    return TSNE(n_components=n_components, random_state=seed, perplexity=perplexity, init="pca").fit_transform(
        x.numpy()).astype(np.float32)


def project(embeddings, method: str = "umap", *, n_components: int = 2, n_neighbors: int = 15,
            metric: str = "cosine", min_dist: float = 0.1, n_epochs: int | None = 200, perplexity: float = 30.0,
            seed: int = 0, on_wait: Callable[[str], None] | None = None) -> np.ndarray:
    """Project (N, D) embeddings to (N, n_components) coordinates for a scatter plot.

    Args:
        embeddings: (N, D) tensor or array, any device.
        method: "pca" (instant), "umap" (umap-learn on a torch k-NN graph) or "tsne" (scikit-learn).
        n_neighbors, metric, min_dist, n_epochs: UMAP settings (metric "cosine" or "euclidean"; 200
            epochs, where umap-learn takes 500 below 10,000 points: the layout has settled by then).
        perplexity: t-SNE setting.
        seed: makes UMAP and t-SNE deterministic.
        on_wait: called with a short message before a step that may take more than a second (loading
            UMAP in a new kernel, a large UMAP or any t-SNE); default: print to stderr.
    Returns: (N, n_components) float32 numpy array. Embeddings with at most n_components dimensions are
    returned as they are (zero-padded).
    """
    check.choice("method", method, METHODS)
    n_components = check.integer("n_components", n_components, 1, 3)
    n_neighbors = check.integer("n_neighbors", n_neighbors, 2)  # umap-learn needs 2 or more
    check.choice("metric", metric, ("cosine", "euclidean"))
    min_dist = check.number("min_dist", min_dist, low=0.0, high=1.0)  # umap-learn: 0 <= min_dist <= spread = 1
    n_epochs = None if n_epochs is None else check.integer("n_epochs", n_epochs, 1)
    perplexity = check.number("perplexity", perplexity, low=0.0, low_open=True)
    seed = check.seed("seed", seed)
    if on_wait is not None and not callable(on_wait):
        raise TypeError(f"on_wait must be a callable or None, got {type(on_wait).__name__}")
    x = _as_tensor(embeddings)
    if x.shape[1] <= n_components or len(x) <= n_components + 1:
        out = np.zeros((len(x), n_components), dtype=np.float32)
        out[:, :min(x.shape[1], n_components)] = x.numpy()[:, :n_components]
        return out
    settings = dict(method=method, n_components=n_components, seed=seed)
    if method == "umap":
        settings.update(n_neighbors=n_neighbors, metric=metric, min_dist=min_dist, n_epochs=n_epochs)
    elif method == "tsne":
        settings.update(perplexity=perplexity)
    key = _key(x, **settings)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key].copy()
    say = on_wait or (lambda message: print(message, file=sys.stderr, flush=True))
    unit, scale = _unit_scale(x)  # (N, D); the same x unless its magnitude would overflow float32
    if method == "pca":
        out = pca(unit, n_components) * np.float64(scale)  # PCA is linear: coordinates scale back
        if not np.isfinite(out).all() or np.abs(out).max() > np.finfo(np.float32).max:
            raise ValueError(f"embeddings must have principal coordinates that fit in float32: their spread "
                             f"(largest |x| = {float(x.abs().max()):.3g}) overflows float32 after centring")
        out = out.astype(np.float32)
    elif method == "umap":
        if "umap" not in sys.modules:
            say("Loading UMAP (a few seconds in a new kernel)...")
        elif len(x) > 5000:
            say(f"Running UMAP on {len(x)} points...")
        out = _umap(unit, n_components, n_neighbors, metric, seed, n_epochs, min_dist)
    else:
        say(f"Running t-SNE on {len(x)} points...")
        out = _tsne(unit, n_components, seed, perplexity)
    _CACHE[key] = out
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out.copy()


def prime(verbose: bool = True) -> float:
    """Compile umap-learn's functions once and write them to numba's on-disk cache (run at install)."""
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    for dim in (2, 3):  # the compiled code is specialised by the output dimension
        project(rng.standard_normal((300, 16)).astype(np.float32), "umap", n_components=dim, n_epochs=20,
                on_wait=lambda message: None)
    seconds = time.perf_counter() - started
    if verbose:
        print(f"umap-learn compiled and cached in {seconds:.1f} s")
    return seconds


if __name__ == "__main__":
    if "--prime" in sys.argv[1:]:
        prime()
    else:
        print(__doc__)
