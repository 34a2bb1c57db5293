"""Samplers, the hard-negative miner, the MoCo queue and the momentum update (contrastlab.samplers)."""

from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from contrastlab.samplers import (ClusterBatchSampler, HardNegatives, MoCoQueue, MPerClassSampler,
                                  NoDuplicatesSampler, make_target, mine_hard_negatives, momentum_update,
                                  spherical_kmeans)


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def epoch(sampler, e=None):
    if e is not None:
        sampler.set_epoch(e)
    return [list(b) for b in sampler]


def gaussian_clusters(n_clusters=8, per_cluster=64, dim=16, spread=0.1, seed=0):
    """(n_clusters * per_cluster, dim) points around random unit centres, and their true cluster."""
    g = torch.Generator().manual_seed(seed)
    centres = nn.functional.normalize(torch.randn(n_clusters, dim, generator=g), dim=1)  # (C, D)
    truth = torch.arange(n_clusters).repeat_interleave(per_cluster)  # (N,)
    x = centres[truth] + spread * torch.randn(len(truth), dim, generator=g)  # (N, D)
    perm = torch.randperm(len(truth), generator=g)
    return x[perm], truth[perm]


def purity(truth, ids):
    """Fraction of points whose found cluster's majority true cluster is their own (1.0: a refinement of the truth)."""
    return sum(Counter(truth[ids == c].tolist()).most_common(1)[0][1] for c in ids.unique().tolist()) / len(truth)


def mean_within_batch_cosine(x, batches):
    z = nn.functional.normalize(x.double(), dim=1)
    values = []
    for b in batches:
        s = z[b] @ z[b].T  # (B, B)
        values.append(float((s.sum() - s.diagonal().sum()) / (len(b) * (len(b) - 1))))
    return float(np.mean(values))


# ---------------------------------------------------------------------------------------------- MPerClassSampler

# 10 classes of sizes 5..14 (all >= m = 4)
LABELS = torch.cat([torch.full((5 + c,), c) for c in range(10)])
LABELS = LABELS[torch.randperm(95, generator=torch.Generator().manual_seed(1))]


@pytest.mark.parametrize("m, batch_size", [(4, 16), (2, 8), (1, 10), (4, 40)])
def test_m_per_class_exact_structure(m, batch_size):
    sampler = MPerClassSampler(LABELS, m=m, batch_size=batch_size, num_batches=30)
    batches = epoch(sampler)
    assert len(batches) == len(sampler) == 30
    for b in batches:
        assert len(b) == batch_size and len(set(b)) == batch_size  # every class has >= m samples: no repeats
        counts = Counter(int(LABELS[i]) for i in b)
        assert len(counts) == batch_size // m
        assert set(counts.values()) == {m}
        # laid out class by class
        blocks = [[int(LABELS[i]) for i in b[s:s + m]] for s in range(0, batch_size, m)]
        assert all(len(set(block)) == 1 for block in blocks)


def test_m_per_class_uses_classes_evenly():
    labels = torch.arange(8).repeat_interleave(10)  # 8 classes of 10
    sampler = MPerClassSampler(labels, m=2, batch_size=6, num_batches=8)  # 24 class slots = 3 decks of 8
    counts = Counter(int(labels[b[j]]) for b in sampler for j in range(0, 6, 2))
    assert set(counts.values()) == {3}


def test_m_per_class_small_class_is_topped_up_with_replacement():
    labels = torch.tensor([0, 0] + [1] * 6 + [2] * 6)  # class 0 has 2 < m = 4 samples
    sampler = MPerClassSampler(labels, m=4, batch_size=12, num_batches=5)
    for b in sampler:
        zeros = [i for i in b if labels[i] == 0]
        assert len(zeros) == 4 and set(zeros) == {0, 1}  # both samples, then draws with replacement
        assert len({i for i in b if labels[i] != 0}) == 8  # no repeats in the big classes


def test_m_per_class_default_length_and_determinism():
    sampler = MPerClassSampler(LABELS, m=4, batch_size=16, seed=3)
    assert len(sampler) == 95 // 16
    first = epoch(sampler)
    assert epoch(sampler) == first  # same epoch, same batches
    assert epoch(MPerClassSampler(LABELS.tolist(), m=4, batch_size=16, seed=3)) == first  # list input, same seed
    assert epoch(MPerClassSampler(LABELS, m=4, batch_size=16, seed=4)) != first
    second = epoch(sampler, 1)
    assert second != first
    assert epoch(sampler, 1) == second and epoch(sampler, 0) == first


def test_m_per_class_with_dataloader():
    x = torch.arange(len(LABELS), dtype=torch.float32)[:, None] * torch.ones(1, 3)  # row i holds i
    loader = DataLoader(TensorDataset(x, LABELS), batch_sampler=MPerClassSampler(LABELS, m=4, batch_size=16))
    assert len(loader) == 5
    for xb, yb in loader:
        assert xb.shape == (16, 3)
        assert torch.equal(LABELS[xb[:, 0].long()], yb)
        assert sorted(Counter(yb.tolist()).values()) == [4, 4, 4, 4]


def test_m_per_class_bad_arguments():
    with pytest.raises(ValueError, match=r"batch_size must be a multiple of m, got batch_size=10 and m=4"):
        MPerClassSampler(LABELS, m=4, batch_size=10)
    with pytest.raises(ValueError, match=r"at least batch_size // m = 11 distinct classes, got 10"):
        MPerClassSampler(LABELS, m=2, batch_size=22)
    with pytest.raises(ValueError, match=r"m must be an integer >= 1, got 0"):
        MPerClassSampler(LABELS, m=0, batch_size=8)
    with pytest.raises(TypeError, match=r"m must be an int, got float 2.0"):
        MPerClassSampler(LABELS, m=2.0, batch_size=8)
    with pytest.raises(TypeError, match=r"labels must have an integer dtype .* got torch.float32"):
        MPerClassSampler(LABELS.float(), m=2, batch_size=8)
    with pytest.raises(ValueError, match=r"labels must be 1-d, one id per dataset item, got shape \(5, 19\)"):
        MPerClassSampler(LABELS.reshape(5, 19), m=2, batch_size=8)
    with pytest.raises(ValueError, match=r"num_batches must be an integer >= 1, got 0"):
        MPerClassSampler(LABELS, m=2, batch_size=8, num_batches=0)
    with pytest.raises(ValueError, match=r"default num_batches .* is 0 \(6 // 8\)"):
        MPerClassSampler(torch.arange(6), m=2, batch_size=8)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, got -1"):
        MPerClassSampler(LABELS, m=2, batch_size=8, seed=-1)
    with pytest.raises(ValueError, match=r"epoch must be an integer >= 0, got -2"):
        MPerClassSampler(LABELS, m=2, batch_size=8).set_epoch(-2)


# ---------------------------------------------------------------------------------------------- NoDuplicatesSampler

def group_ids_mixed():
    """Pairs (two views of a source), a few large groups and singletons: 200 items."""
    pairs = np.repeat(np.arange(60), 2)  # 120 items
    big = np.repeat(np.arange(100, 104), 15)  # 60 items in 4 groups of 15
    single = np.arange(200, 220)  # 20 items
    return torch.from_numpy(np.random.default_rng(0).permutation(np.concatenate([pairs, big, single])))


@pytest.mark.parametrize("batch_size", [1, 7, 16, 32])
@pytest.mark.parametrize("drop_last", [True, False])
def test_no_duplicates_invariants(batch_size, drop_last):
    groups = group_ids_mixed()
    sampler = NoDuplicatesSampler(groups, batch_size=batch_size, drop_last=drop_last, seed=5)
    for e in range(3):
        batches = epoch(sampler, e)
        assert len(batches) == len(sampler)
        for b in batches:
            assert len({int(groups[i]) for i in b}) == len(b)  # no repeated group in a batch
            assert len(b) == batch_size if drop_last else 1 <= len(b) <= batch_size
        used = [i for b in batches for i in b]
        assert len(used) == len(set(used))  # each index at most once per epoch
        if drop_last:
            # what is left out could not form one more batch without a duplicate group
            left_out = set(range(len(groups))) - set(used)
            assert len({int(groups[i]) for i in left_out}) < batch_size
        else:
            assert sorted(used) == list(range(len(groups)))  # exactly once


def test_no_duplicates_determinism_and_epochs():
    groups = group_ids_mixed()
    sampler = NoDuplicatesSampler(groups, batch_size=16)
    first = epoch(sampler)
    assert epoch(sampler) == first
    assert epoch(NoDuplicatesSampler(groups.numpy(), batch_size=16)) == first
    assert epoch(NoDuplicatesSampler(groups, batch_size=16, seed=1)) != first
    assert epoch(sampler, 1) != first and epoch(sampler, 0) == first


def test_no_duplicates_with_dataloader():
    groups = group_ids_mixed()
    loader = DataLoader(TensorDataset(torch.arange(len(groups)), groups),
                        batch_sampler=NoDuplicatesSampler(groups, batch_size=16))
    seen = 0
    for idx, gb in loader:
        assert torch.equal(groups[idx], gb) and len(set(gb.tolist())) == 16
        seen += 1
    assert seen == len(loader)


def test_no_duplicates_bad_arguments():
    with pytest.raises(ValueError, match=r"at least batch_size = 5 distinct groups .* got 4"):
        NoDuplicatesSampler([0, 0, 1, 2, 3, 3], batch_size=5)
    NoDuplicatesSampler([0, 0, 1, 2, 3, 3], batch_size=5, drop_last=False)  # short batches are allowed
    with pytest.raises(TypeError, match=r"drop_last must be a bool, got int 1"):
        NoDuplicatesSampler([0, 1], batch_size=1, drop_last=1)
    with pytest.raises(TypeError, match=r"group_ids must hold integers, got dtype float64"):
        NoDuplicatesSampler([0.0, 1.0], batch_size=1)
    with pytest.raises(ValueError, match=r"group_ids must not be empty"):
        NoDuplicatesSampler([], batch_size=1)
    with pytest.raises(TypeError, match=r"group_ids must be a tensor, array or sequence of integers, got int"):
        NoDuplicatesSampler(3, batch_size=1)


# ---------------------------------------------------------------------------------------------- mine_hard_negatives

def brute_force(query, candidates, k, ceiling=None, in_batch=False):
    """Reference in float64 numpy: full sort of every row."""
    q = query.double().numpy()
    c = candidates.double().numpy()
    s = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (c / np.linalg.norm(c, axis=1, keepdims=True)).T
    idx, sims, dropped = [], [], []
    for i, row in enumerate(s):
        allowed = [j for j in range(len(row)) if not (in_batch and j == i)]
        over = [j for j in allowed if ceiling is not None and row[j] >= ceiling]
        passing = sorted((j for j in allowed if j not in over), key=lambda j: -row[j])[:k]
        idx.append(passing)
        sims.append(row[passing])
        dropped.append(len(over))
    return np.array(idx), np.array(sims), np.array(dropped)


@pytest.mark.parametrize("n, m, k", [(1, 5, 1), (7, 50, 3), (37, 50, 10), (1025, 40, 4)])
@pytest.mark.parametrize("ceiling", [None, 0.3])
def test_miner_matches_brute_force(n, m, k, ceiling):
    query, candidates = randn(n, 8, seed=1), randn(m, 8, seed=2)
    result = mine_hard_negatives(query, candidates, k=k, ceiling=ceiling)
    idx, sims, dropped = brute_force(query, candidates, k, ceiling)
    assert isinstance(result, HardNegatives)
    assert result.indices.shape == (n, k) and result.indices.dtype == torch.long
    assert np.array_equal(result.indices.numpy(), idx)
    np.testing.assert_allclose(result.similarities.numpy(), sims, atol=1e-6)
    assert np.array_equal(result.dropped_by_ceiling.numpy(), dropped)
    assert result.false_negatives_kept is None and result.false_negatives_dropped is None
    if ceiling is not None:
        assert bool((result.similarities < ceiling).all())
        assert n == 1 or int(result.dropped_by_ceiling.sum()) > 0


@pytest.mark.parametrize("ceiling", [None, 0.5])
def test_miner_in_batch_excludes_self(device, ceiling):
    z = randn(64, 4, seed=3)
    noisy = z + 0.01 * randn(64, 4, seed=4)  # each query's own candidate is by far its most similar
    result = mine_hard_negatives(z.to(device), noisy.to(device), k=5, ceiling=ceiling)
    assert result.indices.device.type == device.type
    indices = result.indices.cpu()
    assert not bool((indices == torch.arange(64)[:, None]).any())
    idx, _, dropped = brute_force(z, noisy, 5, ceiling, in_batch=True)
    assert np.array_equal(indices.numpy(), idx)
    assert np.array_equal(result.dropped_by_ceiling.cpu().numpy(), dropped)
    # without the exclusion the positive comes first
    plain = mine_hard_negatives(z, noisy, k=5, exclude_self=False)
    assert torch.equal(plain.indices[:, 0], torch.arange(64))


def test_miner_counts_false_negatives_by_hand():
    angle = torch.deg2rad(torch.tensor([0.0, 10.0, 30.0, 60.0, 90.0, 180.0], dtype=torch.float64))
    candidates = torch.stack([angle.cos(), angle.sin()], dim=1)  # cos sim with [1, 0]: 1, .985, .866, .5, 0, -1
    query = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # second query: sims 0, .17, .5, .87, 1, 0
    labels = torch.tensor([0, 1])
    candidate_labels = torch.tensor([0, 0, 1, 0, 1, 1])
    result = mine_hard_negatives(query, candidates, k=2, ceiling=0.9, labels=labels, candidate_labels=candidate_labels)
    # query 0: drops candidates 0 (label 0) and 1 (label 0); keeps 2 (.866, label 1) and 3 (.5, label 0)
    # query 1: drops candidate 4 (1.0, label 1); keeps 3 (.866, label 0) and 2 (.5, label 1)
    assert result.indices.tolist() == [[2, 3], [3, 2]]
    assert result.dropped_by_ceiling.tolist() == [2, 1]
    assert result.false_negatives_kept == 2  # (q0, c3) and (q1, c2)
    assert result.false_negatives_dropped == 3  # (q0, c0), (q0, c1), (q1, c4)
    torch.testing.assert_close(result.similarities, torch.tensor([[0.5 * 3 ** 0.5, 0.5], [0.5 * 3 ** 0.5, 0.5]],
                                                                 dtype=torch.float64))
    # no ceiling: the false negatives all come first
    loose = mine_hard_negatives(query, candidates, k=2, labels=labels, candidate_labels=candidate_labels)
    assert loose.indices.tolist() == [[0, 1], [4, 3]] and loose.false_negatives_kept == 3
    assert loose.false_negatives_dropped == 0 and loose.dropped_by_ceiling.tolist() == [0, 0]


def test_miner_in_batch_labels_default_to_query_labels():
    z = randn(12, 6, seed=5)
    labels = torch.arange(12) % 3
    result = mine_hard_negatives(z, z, k=4, labels=labels)
    expected = int((labels[result.indices] == labels[:, None]).sum())
    assert result.false_negatives_kept == expected
    assert result.false_negatives_kept == mine_hard_negatives(z, z, k=4, labels=labels,
                                                              candidate_labels=labels).false_negatives_kept


@pytest.mark.parametrize("dtype, expected", [(torch.float16, torch.float32), (torch.float64, torch.float64)])
def test_miner_dtypes_and_no_grad(dtype, expected):
    q = randn(5, 4, seed=6).to(dtype).requires_grad_()
    result = mine_hard_negatives(q, q.detach(), k=2)
    assert result.similarities.dtype == expected and not result.similarities.requires_grad


def test_miner_bad_arguments():
    q, c = randn(4, 3), randn(6, 3)
    with pytest.raises(ValueError, match=r"query 0 has only 0 candidates with similarity < ceiling -1.0 "
                                         r".* fewer than k = 2"):
        mine_hard_negatives(q, c, k=2, ceiling=-1.0)
    with pytest.raises(ValueError, match=r"k must be <= the 5 candidates available per query "
                                         r"\(M - 1: self excluded\), got 6"):
        mine_hard_negatives(c, c, k=6)
    with pytest.raises(ValueError, match=r"k must be <= the 6 candidates available per query, got 7"):
        mine_hard_negatives(q, c, k=7)
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
        mine_hard_negatives(q, c, k=0)
    with pytest.raises(ValueError, match=r"ceiling must be a finite number in \[-1.0, 1.0\], got 1.5"):
        mine_hard_negatives(q, c, k=1, ceiling=1.5)
    with pytest.raises(ValueError, match=r"candidates must have the query's dimension D = 3, got shape \(6, 4\)"):
        mine_hard_negatives(q, randn(6, 4), k=1)
    with pytest.raises(ValueError, match=r"candidate_labels is required when candidates is not the query batch"):
        mine_hard_negatives(q, c, k=1, labels=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"candidate_labels was given without labels"):
        mine_hard_negatives(q, c, k=1, candidate_labels=torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"candidate_labels must have shape \(6,\)"):
        mine_hard_negatives(q, c, k=1, labels=torch.zeros(4, dtype=torch.long),
                            candidate_labels=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"query must be finite"):
        mine_hard_negatives(q / 0, c, k=1)


# ---------------------------------------------------------------------------------------------- MoCoQueue

def distinct_keys(count, dim=32, start=0):
    """Key j is 3 * e_(start + j): easy to recognise, norm 3 before the queue normalises it."""
    return 3.0 * torch.eye(dim)[start:start + count]


def key_ids(rows):
    return rows.argmax(dim=1).tolist()


def test_queue_initial_state_is_seeded_random_unit_vectors():
    queue = MoCoQueue(8, 10, seed=1)
    assert queue.negatives.shape == (10, 8)
    torch.testing.assert_close(queue.negatives.norm(dim=1), torch.ones(10))
    assert queue.ptr == 0 and queue.num_filled == 0 and queue.labels.tolist() == [-1] * 10
    assert torch.equal(MoCoQueue(8, 10, seed=1).negatives, queue.negatives)
    assert not torch.equal(MoCoQueue(8, 10, seed=2).negatives, queue.negatives)
    assert {"queue", "queue_labels", "queue_ptr", "queue_filled"} <= set(queue.state_dict())


def test_queue_fifo_with_wrap_around(device):
    queue = MoCoQueue(32, 10).to(device)
    initial = queue.negatives.clone()
    queue.enqueue(distinct_keys(3, start=0).to(device), labels=torch.tensor([0, 1, 2], device=device))
    queue.enqueue(distinct_keys(3, start=3).to(device), labels=torch.tensor([3, 4, 5], device=device))
    assert queue.ptr == 6 and queue.num_filled == 6
    assert key_ids(queue.negatives[4:]) == [0, 1, 2, 3, 4, 5]  # newest last
    assert torch.equal(queue.negatives[:4], initial[6:])  # the untouched random entries are the oldest
    assert queue.labels.tolist() == [-1] * 4 + [0, 1, 2, 3, 4, 5]
    queue.enqueue(distinct_keys(3, start=6).to(device))  # no labels: stored as -1
    queue.enqueue(distinct_keys(3, start=9).to(device), labels=torch.tensor([9, 10, 11], device=device))  # wraps
    assert queue.ptr == 2 and queue.num_filled == 10
    assert key_ids(queue.negatives) == list(range(2, 12))
    assert queue.labels.tolist() == [2, 3, 4, 5, -1, -1, -1, 9, 10, 11]
    torch.testing.assert_close(queue.negatives.norm(dim=1), torch.ones(10, device=device))  # normalised


def test_queue_batch_larger_than_queue_keeps_the_newest():
    queue = MoCoQueue(32, 10)
    queue.enqueue(distinct_keys(4))
    queue.enqueue(distinct_keys(25, start=4), labels=torch.arange(4, 29))
    assert queue.num_filled == 10 and queue.ptr == 4
    assert key_ids(queue.negatives) == list(range(19, 29))
    assert queue.labels.tolist() == list(range(19, 29))
    queue.enqueue(distinct_keys(10, start=0))  # exactly size
    assert key_ids(queue.negatives) == list(range(10)) and queue.ptr == 4


def test_queue_detaches_and_keeps_its_dtype():
    queue = MoCoQueue(4, 6)
    keys = randn(3, 4, dtype=torch.float64).requires_grad_()
    queue.enqueue(keys)
    assert not queue.negatives.requires_grad and queue.negatives.dtype == torch.float32
    torch.testing.assert_close(queue.negatives[-3:], nn.functional.normalize(keys.detach(), dim=1).float())


def test_queue_bad_arguments():
    queue = MoCoQueue(4, 6)
    with pytest.raises(ValueError, match=r"keys must have shape \(B, 4\), got \(3, 5\)"):
        queue.enqueue(randn(3, 5))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        queue.enqueue(randn(3, 4), labels=torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must be >= 0 \(-1 marks an unknown label\), got min -1"):
        queue.enqueue(randn(3, 4), labels=torch.tensor([0, -1, 2]))
    with pytest.raises(ValueError, match=r"size must be an integer >= 1, got 0"):
        MoCoQueue(4, 0)
    assert queue.num_filled == 0  # failed calls changed nothing


# ---------------------------------------------------------------------------------------------- momentum encoder

def encoder(seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    net[1].running_mean.normal_()
    return net


def flat(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9, 1.0])
def test_momentum_update(momentum):
    online, target = encoder(0), encoder(1)
    before_online, before_target = flat(online).clone(), flat(target).clone()
    momentum_update(target, online, momentum)
    expected = momentum * before_target + (1 - momentum) * before_online
    if momentum in (0.0, 1.0):
        assert torch.equal(flat(target), before_online if momentum == 0.0 else before_target)  # exact
    else:
        torch.testing.assert_close(flat(target), expected)
    assert torch.equal(flat(online), before_online)
    assert torch.equal(target[1].running_mean, online[1].running_mean)  # buffers are copied


def test_make_target():
    online = encoder(0)
    target = make_target(online)
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in online.parameters())
    assert torch.equal(flat(target), flat(online))
    with torch.no_grad():
        online[0].weight.add_(1.0)
    assert not torch.equal(flat(target), flat(online))  # no shared storage
    momentum_update(target, online, 0.0)
    assert torch.equal(flat(target), flat(online))


def test_momentum_update_bad_arguments():
    online, target = encoder(0), encoder(1)
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \[0.0, 1.0\], got 1.5"):
        momentum_update(target, online, 1.5)
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \[0.0, 1.0\], got -0.1"):
        momentum_update(target, online, -0.1)
    other = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(3))
    with pytest.raises(ValueError, match=r"target and online parameter '0.weight' must have the same shape, "
                                         r"got \(5, 4\) and \(3, 4\)"):
        momentum_update(other, online, 0.5)
    with pytest.raises(ValueError, match=r"target and online must have the same parameters; target lacks \['1.bias'"):
        momentum_update(nn.Sequential(nn.Linear(4, 3)), online, 0.5)
    with pytest.raises(TypeError, match=r"online must be a torch.nn.Module, got Tensor"):
        momentum_update(target, torch.zeros(3), 0.5)
    with pytest.raises(TypeError, match=r"online must be a torch.nn.Module, got str"):
        make_target("net")


# ---------------------------------------------------------------------------------------------- ClusterBatchSampler

@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("seed", range(5))
def test_spherical_kmeans_recovers_separated_clusters(init, seed):
    x, truth = gaussian_clusters(seed=seed)
    centroids, ids = spherical_kmeans(x, 8, init=init, seed=seed)
    assert centroids.shape == (8, 16) and ids.shape == (512,)
    torch.testing.assert_close(centroids.norm(dim=1), torch.ones(8))
    # k-means finds a local optimum: k-means++ recovers these clusters, random init only mostly
    assert purity(truth, ids) >= (1.0 if init == "k-means++" else 0.7)
    assert torch.equal(spherical_kmeans(x, 8, init=init, seed=seed)[1], ids)  # seeded


@pytest.mark.parametrize("batch_size, drop_last", [(64, False), (50, False), (50, True), (1000, False)])
def test_cluster_batches_cover_every_index_once(batch_size, drop_last):
    x, _ = gaussian_clusters()
    sampler = ClusterBatchSampler(x, batch_size=batch_size, drop_last=drop_last)
    for e in range(2):
        batches = epoch(sampler, e)
        assert len(batches) == len(sampler)
        used = [i for b in batches for i in b]
        if drop_last:
            assert all(len(b) == batch_size for b in batches) and len(used) == len(set(used)) == 500
        else:
            assert sorted(used) == list(range(512))
            assert all(len(b) == batch_size for b in batches[:-1])


def test_cluster_batches_are_harder_than_random_batches():
    x, _ = gaussian_clusters()
    sampler = ClusterBatchSampler(x, batch_size=32)
    assert sampler.n_clusters == 16 and sampler.cluster_ids.shape == (512,)
    random_batches = torch.randperm(512, generator=torch.Generator().manual_seed(0)).reshape(16, 32).tolist()
    clustered, random = mean_within_batch_cosine(x, list(sampler)), mean_within_batch_cosine(x, random_batches)
    assert clustered > 0.8 and random < 0.3, (clustered, random)


def test_cluster_sampler_runs_on_the_embeddings_device(device):
    x, truth = gaussian_clusters()
    sampler = ClusterBatchSampler(x.to(device), batch_size=64)
    assert sampler.cluster_ids.device.type == "cpu" and sampler.centroids.device.type == "cpu"
    assert purity(truth, sampler.cluster_ids) == 1.0
    assert sorted(i for b in sampler for i in b) == list(range(512))


def test_cluster_sampler_determinism_update_and_dataloader():
    x, truth = gaussian_clusters()
    sampler = ClusterBatchSampler(x, batch_size=64, seed=2)
    first = epoch(sampler)
    assert epoch(ClusterBatchSampler(x, batch_size=64, seed=2)) == first
    assert epoch(sampler, 1) != first and epoch(sampler, 0) == first
    # new embeddings (a different clustering): update follows them
    y, _ = gaussian_clusters(seed=7)
    sampler.update(y)
    assert torch.equal(sampler.cluster_ids, spherical_kmeans(y, 8, seed=2)[1])
    loader = DataLoader(TensorDataset(torch.arange(512), truth), batch_sampler=sampler)
    assert sorted(torch.cat([idx for idx, _ in loader]).tolist()) == list(range(512))


def test_cluster_sampler_bad_arguments():
    x = randn(20, 4)
    with pytest.raises(ValueError, match=r"n_clusters must be <= the number of embeddings 20, got 21"):
        ClusterBatchSampler(x, batch_size=4, n_clusters=21)
    with pytest.raises(ValueError, match=r"n_clusters must be an integer >= 1, got 0"):
        ClusterBatchSampler(x, batch_size=4, n_clusters=0)
    with pytest.raises(ValueError, match=r"init must be 'k-means\+\+' or 'random', got 'kmeans'"):
        ClusterBatchSampler(x, batch_size=4, init="kmeans")
    with pytest.raises(ValueError, match=r"iters must be an integer >= 1, got 0"):
        ClusterBatchSampler(x, batch_size=4, iters=0)
    with pytest.raises(ValueError, match=r"embeddings must be a 2-d tensor \(N, D\), got shape \(20,\)"):
        ClusterBatchSampler(x[:, 0], batch_size=4)
    with pytest.raises(ValueError, match=r"batch_size must be <= the number of embeddings 20 with drop_last=True"):
        ClusterBatchSampler(x, batch_size=21, drop_last=True)
    sampler = ClusterBatchSampler(x, batch_size=4)
    with pytest.raises(ValueError, match=r"embeddings must have one row per dataset item \(20\), got shape \(19, 4\)"):
        sampler.update(x[:19])
