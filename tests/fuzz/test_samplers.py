"""Fuzz every public function and class of ``contrastlab.samplers`` against the contract (``contract.py``).

A sampler is built and iterated (one epoch); every batch must hold valid row indices of the promised
size. The miner's, the k-means' and the queue's outputs must be finite and in range.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import contrastlab.samplers as S

from .contract import Call, Spec, dense, draw_call, expect

SEED = st.integers(0, 2 ** 31)


def _labels(draw, n, k):
    g = torch.Generator().manual_seed(draw(st.integers(0, 999)))
    labels = torch.randint(0, k, (n,), generator=g)
    labels[:k] = torch.arange(k)  # every class present
    return labels


def epoch(cls):
    def run(**kwargs):
        return [list(b) for b in cls(**kwargs)]
    run.__name__ = cls.__name__
    return run


@st.composite
def m_per_class(draw):
    k, m = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    n = draw(st.integers(max(k, 2), 30))
    labels = _labels(draw, n, k)
    c = draw(st.integers(1, k))
    args = dict(labels=draw(st.sampled_from([labels, labels.numpy(), labels.tolist()])), m=m, batch_size=m * c,
                num_batches=draw(st.integers(1, 5)), seed=draw(SEED))
    return Call(args, group={"batch_size": ("m", "labels"), "m": ("batch_size", "labels")})


def batches_in_range(size_of):
    def check(call, batches):
        n = len(call.args.get("labels", call.args.get("group_ids", call.args.get("embeddings"))))
        size = size_of(call)
        for b in batches:
            assert all(0 <= int(i) < n for i in b), f"index out of range in {b}"
            assert size is None or len(b) == size or (not call.args.get("drop_last", True) and len(b) <= size)
    return check


@st.composite
def no_duplicates(draw):
    k = draw(st.integers(2, 6))
    n = draw(st.integers(k, 30))
    groups = _labels(draw, n, k)
    return Call(dict(group_ids=groups, batch_size=draw(st.integers(1, k)), drop_last=draw(st.booleans()), seed=draw(SEED)),
                group={"batch_size": ("group_ids",)})


@st.composite
def cluster_batches(draw):
    n = draw(st.integers(2, 20))
    emb = draw(dense((n, draw(st.integers(1, 4)))))
    batch_size = draw(st.integers(1, n))
    return Call(dict(embeddings=emb, batch_size=batch_size,
                     n_clusters=draw(st.one_of(st.none(), st.integers(1, n))), seed=draw(SEED),
                     iters=draw(st.integers(1, 5)), init=draw(st.sampled_from(["k-means++", "random"])),
                     drop_last=draw(st.booleans())), group={"batch_size": ("embeddings",), "n_clusters": ("embeddings",)})


@st.composite
def kmeans(draw):
    n = draw(st.integers(1, 20))
    return Call(dict(embeddings=draw(dense((n, draw(st.integers(1, 4))))), n_clusters=draw(st.integers(1, n)),
                     iters=draw(st.integers(1, 5)), init=draw(st.sampled_from(["k-means++", "random"])), seed=draw(SEED)),
                ("embeddings", "n_clusters"), group={"n_clusters": ("embeddings",)})


def kmeans_ok(call, out):
    centres, assignments = out  # (K, D) unit centres, (N,) cluster of each row
    n, k = len(call.args["embeddings"]), call.args["n_clusters"]
    assert assignments.shape == (n,) and int(assignments.min()) >= 0 and int(assignments.max()) < k
    assert centres.shape[0] == k and bool(torch.isfinite(centres).all())


@st.composite
def mining(draw):
    n, d = draw(st.integers(2, 8)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.bfloat16]))
    query = draw(dense((n, d), dtype))
    same = draw(st.booleans())
    candidates = query if same else draw(dense((draw(st.integers(1, 8)), d), dtype))
    exclude_self = same and draw(st.booleans())
    available = len(candidates) - (1 if exclude_self else 0)
    args = dict(query=query, candidates=candidates, k=draw(st.integers(1, max(1, available))), exclude_self=exclude_self)
    if available < 1:
        args["exclude_self"] = False
    return Call(args, ("query", "candidates"), group={"k": ("candidates",), "candidates": ("query",), "query": ("candidates",)})


def mined_ok(call, out):
    m = len(call.args["candidates"])
    assert int(out.indices.min()) >= 0 and int(out.indices.max()) < m
    assert out.indices.shape == (len(call.args["query"]), call.args["k"])
    sims = out.similarities.double()
    assert bool(((sims >= -1.001) & (sims <= 1.001)).all())


@st.composite
def queue(draw):
    dim, size = draw(st.integers(1, 6)), draw(st.integers(1, 10))
    keys = draw(dense((draw(st.integers(1, 12)), dim)))
    return Call(dict(dim=dim, size=size, seed=draw(SEED), keys=keys), group={"keys": ("dim",)})


def fill_queue(dim, size, seed, keys):
    q = S.MoCoQueue(dim, size, seed=seed)
    q.enqueue(keys)
    return q.negatives


def unit_rows(call, negatives):
    norms = negatives.double().norm(dim=1)
    assert bool((((norms - 1).abs() < 1e-3) | (norms == 0)).all()), f"queue rows are not unit (or zero) rows: {norms}"


@st.composite
def momentum(draw):
    width = draw(st.integers(1, 4))
    online = nn.Sequential(nn.Linear(width, 3), nn.BatchNorm1d(3))
    return Call(dict(target=S.make_target(online), online=online, momentum=draw(st.floats(0.0, 1.0))),
                ("target", "online", "momentum"), group={"target": ("online",), "online": ("target",)})


SPECS = [
    Spec("MPerClassSampler", epoch(S.MPerClassSampler), m_per_class(),
         {"labels": [torch.tensor([0.5, 1.0]), "abc", None, torch.zeros(2, 2, dtype=torch.long), torch.tensor([], dtype=torch.long)],
          "m": "count", "batch_size": "count", "num_batches": [0, -1, 1.5, "2", True], "seed": "seed"},  # None: default
         batches_in_range(lambda c: c.args["batch_size"])),
    Spec("NoDuplicatesSampler", epoch(S.NoDuplicatesSampler), no_duplicates(),
         {"group_ids": [torch.tensor([0.5, 1.0]), None, 3], "batch_size": "count", "drop_last": "bool", "seed": "seed"},
         batches_in_range(lambda c: c.args["batch_size"])),
    Spec("ClusterBatchSampler", epoch(S.ClusterBatchSampler), cluster_batches(),
         {"embeddings": "tensor", "batch_size": "count", "n_clusters": [0, -1, 1.5, "2", 10 ** 6], "iters": "count",
          "init": ["kmeans", None, 1], "drop_last": "bool", "seed": "seed"},
         batches_in_range(lambda c: None)),
    Spec("spherical_kmeans", S.spherical_kmeans, kmeans(),
         {"embeddings": "tensor", "n_clusters": [0, 1.5, "2", 10 ** 6], "iters": "count", "init": ["kmeans", None],
          "seed": "seed"}, kmeans_ok),
    Spec("mine_hard_negatives", S.mine_hard_negatives, mining(),
         {"query": "tensor", "candidates": "tensor", "k": [0, -1, 1.5, "1", 10 ** 6], "exclude_self": "bool",
          "ceiling": [1.5, -1.5, float("nan"), "0.5"]}, mined_ok),
    Spec("MoCoQueue", fill_queue, queue(), {"dim": "count", "size": "count", "seed": "seed", "keys": "tensor"}, unit_rows),
    Spec("momentum_update", S.momentum_update, momentum(),
         {"momentum": [-0.1, 1.5, float("nan"), "0.9", None], "target": [None, 3, nn.Linear(7, 7)],
          "online": [None, "net", nn.Linear(9, 2)]}),
    Spec("make_target", S.make_target, st.builds(lambda w: Call(dict(online=nn.Linear(w, 2)), ("online",)), st.integers(1, 4)),
         {"online": [None, 3, torch.ones(2)]}),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@given(data=st.data())
def test_sampler_contract(spec, data):
    call, bad = draw_call(data.draw, spec)
    if spec.name == "mine_hard_negatives" and bad == "ceiling":
        pass
    expect(spec, call, bad)


def test_every_public_sampler_is_in_the_table():
    public = {n for n in S.__all__ if callable(getattr(S, n))} - {"HardNegatives"}  # a result record
    assert public - {s.name for s in SPECS} == set()
