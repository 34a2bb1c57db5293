"""Fuzz ``interactive.projection.project`` (and ``knn_graph``, ``pca``) against the contract.

Valid calls draw the input kind (tensor or array, any float or int dtype), magnitude (1e-30 to 1e30,
and float64 1e200, which must be refused: it overflows float32, the dtype the projections compute in),
size and every setting; the result must be a finite (N, n_components) float32 array.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastlab.interactive import projection as P

from .contract import OUTCOMES, Call, Spec, dense, draw_call, expect


@st.composite
def project_call(draw):
    n, d = draw(st.integers(1, 30)), draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.bfloat16, torch.float16]))
    x = draw(dense((n, d), dtype))
    kind = draw(st.sampled_from(["tensor", "numpy", "int"]))
    if kind == "numpy":
        x = x.float().numpy() if dtype == torch.bfloat16 else x.numpy()
    elif kind == "int":
        x = torch.randint(-5, 5, (n, d), generator=torch.Generator().manual_seed(draw(st.integers(0, 99))))
    method = draw(st.sampled_from(["pca", "pca", "umap", "tsne"]))
    args = dict(embeddings=x, method=method, n_components=draw(st.integers(1, 3)), seed=draw(st.integers(0, 99)),
                on_wait=lambda message: None)
    if method == "umap":
        args.update(n_neighbors=draw(st.integers(2, 20)), metric=draw(st.sampled_from(["cosine", "euclidean"])),
                    min_dist=draw(st.floats(0.0, 1.0)), n_epochs=draw(st.sampled_from([None, 5, 20])))
    elif method == "tsne":
        args.update(perplexity=draw(st.floats(1.0, 50.0)))
    return Call(args, ("embeddings",))


def shaped(call, out):
    n = len(call.args["embeddings"])
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (n, call.args["n_components"])


SPEC = Spec("project", P.project, project_call(), {
    # arrays and lists are valid here: the bad embeddings are other kinds, shapes and values
    "embeddings": [np.array([["a", "b"], ["c", "d"]]), np.ones((4, 3), dtype=complex), torch.ones(4, 3, dtype=torch.bool),
                   [[1.0, 2.0], [3.0]], object(), None, np.ones(5), np.ones((2, 3, 4)), np.ones((0, 3)),
                   np.array([[np.nan, 1.0], [2.0, 3.0]]), torch.tensor([[1.0, math.inf], [2.0, 3.0]]),
                   np.full((4, 3), 1e200)],
    "method": ["mds", "UMAP", None, 1], "n_components": [0, 4, 2.0, "2", True, None],
    "n_neighbors": [1, 0, -3, 5.0, "15"], "metric": ["l2", None], "min_dist": [-0.1, 1.5, math.nan, "0.1"],
    "n_epochs": [0, -5, 2.5, "200"], "perplexity": [0.0, -1.0, math.nan, math.inf, "30"], "seed": "seed",
    "on_wait": ["print", 3],
}, shaped)


@settings(max_examples=max(4, settings.default.max_examples // 2))
@given(data=st.data())
def test_project_contract(data):
    call, bad = draw_call(data.draw, SPEC)
    if bad in ("n_neighbors", "metric", "min_dist", "n_epochs", "perplexity"):
        pass  # every setting is checked whatever the method (a typo in an unused one is still a typo)
    expect(SPEC, call, bad)


@given(scale=st.sampled_from([1e39, 1e200, 1e300]), method=st.sampled_from(["pca", "umap", "tsne"]),
       n=st.integers(3, 12), seed=st.integers(0, 99))
@settings(max_examples=max(3, settings.default.max_examples // 3))
def test_float64_values_beyond_float32_are_refused_by_name(scale, method, n, seed):
    x = np.random.default_rng(seed).standard_normal((n, 5)) * scale
    with pytest.raises(ValueError, match=r"embeddings must fit in float32 .* overflows float32"):
        P.project(x, method, on_wait=lambda m: None)
    OUTCOMES["project", "invalid"] += 1


@st.composite
def knn_call(draw):
    n = draw(st.integers(1, 20))
    x = draw(dense((n, draw(st.integers(1, 5))), draw(st.sampled_from([torch.float32, torch.float64]))))
    return Call(dict(x=x, k=draw(st.integers(1, n)), metric=draw(st.sampled_from(["cosine", "euclidean"])),
                     chunk_size=draw(st.integers(1, 8))), ("x", "k"), group={"k": ("x",)})


def neighbours_ok(call, out):
    idx, dist = out
    n, k = len(call.args["x"]), call.args["k"]
    assert idx.shape == (n, k) and (idx >= 0).all() and (idx < n).all() and (dist >= 0).all()


KNN = Spec("knn_graph", P.knn_graph, knn_call(),
           {"x": "tensor", "k": [0, -1, 10 ** 6, 2.0], "metric": ["l1", None], "chunk_size": "count"}, neighbours_ok)


@given(data=st.data())
def test_knn_graph_contract(data):
    call, bad = draw_call(data.draw, KNN)
    expect(KNN, call, bad)
