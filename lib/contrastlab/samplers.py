r"""What goes into a batch: samplers, a hard-negative miner, a MoCo queue and a momentum encoder.

A contrastive loss only sees the negatives it is given, so the choice of batch is part of the
method. This file holds the pieces that choose them, each usable on its own:

- ``MPerClassSampler``: P classes x K samples per batch (supervised / metric learning).
- ``NoDuplicatesSampler``: no two items of a batch share a group id (no in-batch false negatives).
- ``ClusterBatchSampler``: batches built from k-means clusters of the current embeddings, so the
  in-batch negatives are hard (in the spirit of B3).
- ``mine_hard_negatives``: the top-k most similar candidates below a similarity ceiling.
- ``MoCoQueue``, ``momentum_update``, ``make_target``: negatives from past batches (MoCo) and the
  slowly moving target encoder of MoCo / BYOL.

The three samplers are *batch* samplers: pass them as ``DataLoader(ds, batch_sampler=sampler)``;
each yields lists of dataset indices. They follow ``DistributedSampler``'s convention: the order
is a function of ``(seed, epoch)`` only, so iterating twice gives the same batches until
``set_epoch(epoch)`` is called (call it at the start of every epoch).

Dependencies point one way: this module uses torch, numpy, ``validation``, ``losses.core`` and ``models``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Sampler

from . import validation as check
from .losses.core import compute_dtype, l2_normalize
from .models import make_target, momentum_update  # noqa: F401  (MoCo's momentum encoder helpers)

__all__ = [
    "MPerClassSampler", "NoDuplicatesSampler", "ClusterBatchSampler", "spherical_kmeans",
    "HardNegatives", "mine_hard_negatives", "MoCoQueue", "momentum_update", "make_target",
]

_QUERY_CHUNK = 1024  # rows of the (chunk, M) similarity matrix held at once by the miner / k-means


# ----------------------------------------------------------------------------------------------
# argument checks (the scalar and tensor checks come from contrastlab.validation)

def _id_array(name: str, values: object) -> np.ndarray:
    """(N,) int64 numpy copy of integer ids given as a tensor (any device), an array or a sequence."""
    if isinstance(values, Tensor):
        if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
            raise TypeError(f"{name} must have an integer dtype (e.g. torch.long), got {values.dtype}")
        array = values.detach().cpu().numpy()
    elif isinstance(values, (np.ndarray, Sequence)) and not isinstance(values, (str, bytes)):
        array = np.asarray(values)
        if array.size and array.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integers, got dtype {array.dtype}")
    else:
        raise TypeError(f"{name} must be a tensor, array or sequence of integers, got {type(values).__name__}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-d, one id per dataset item, got shape {tuple(array.shape)}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(array.shape)}")
    return array.astype(np.int64, copy=True)


# ----------------------------------------------------------------------------------------------
# batch samplers

class _EpochBatchSampler(Sampler[list[int]]):
    """Shared seed / epoch handling: the batches of an epoch depend on ``(seed, epoch)`` only."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = check.seed("seed", seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle of epoch ``epoch`` (reproducible: the same epoch gives the same batches)."""
        self.epoch = check.integer("epoch", epoch, 0)

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch])


class MPerClassSampler(_EpochBatchSampler):
    """P x K batches: ``batch_size // m`` distinct classes per batch, exactly ``m`` samples of each.

    Guarantees, for every batch:
      - exactly ``batch_size // m`` classes, all different, each with exactly ``m`` entries, laid out
        class by class (``[c1]*m + [c2]*m + ...``);
      - no repeated index inside a class block when the class has at least ``m`` samples; a class
        with fewer than ``m`` samples contributes all of them once, topped up by draws with
        replacement from the same class (the only place an index repeats).
    Over an epoch, classes are dealt from a shuffled deck (each class once per pass through the deck)
    and each class's samples likewise, so classes and samples are used as evenly as the sizes allow.

    Args:
        labels: (N,) integer class label of each dataset item (tensor, array or list).
        m: samples per class in a batch (K in the P x K notation), >= 1.
        batch_size: multiple of ``m``; there must be at least ``batch_size // m`` classes.
        num_batches: batches per epoch (``__len__``); default ``N // batch_size``.
        seed: int >= 0; the batches are a function of ``(seed, epoch)``; see ``set_epoch``.
    Yields: lists of ``batch_size`` dataset indices.
    References: Hermans et al. 2017 ("In Defense of the Triplet Loss", P x K batches); Khosla et al.
        2020 (SupCon needs several samples per class in a batch); pytorch-metric-learning's
        ``MPerClassSampler``.
    """

    def __init__(self, labels: object, *, m: int, batch_size: int, num_batches: int | None = None,
                 seed: int = 0) -> None:
        super().__init__(seed)
        self.labels = _id_array("labels", labels)  # (N,)
        self.m = check.integer("m", m, 1)
        self.batch_size = check.integer("batch_size", batch_size, 1)
        if self.batch_size % self.m:
            raise ValueError(f"batch_size must be a multiple of m, got batch_size={self.batch_size} and m={self.m} "
                             f"(remainder {self.batch_size % self.m})")
        self.classes_per_batch = self.batch_size // self.m
        self.classes, inverse = np.unique(self.labels, return_inverse=True)  # (C,), (N,)
        if len(self.classes) < self.classes_per_batch:
            raise ValueError(f"labels must contain at least batch_size // m = {self.classes_per_batch} distinct "
                             f"classes, got {len(self.classes)}; lower batch_size or raise m")
        self._members = [np.flatnonzero(inverse == c) for c in range(len(self.classes))]  # C arrays of indices
        if num_batches is None:
            if len(self.labels) < self.batch_size:
                raise ValueError(f"the default num_batches = len(labels) // batch_size is 0 "
                                 f"({len(self.labels)} // {self.batch_size}); pass num_batches explicitly")
            num_batches = len(self.labels) // self.batch_size
        self.num_batches = check.integer("num_batches", num_batches, 1)

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = self._rng()
        class_deck = _Deck(np.arange(len(self.classes)), rng)
        sample_decks = [_Deck(members, rng) for members in self._members]
        for _ in range(self.num_batches):
            batch: list[int] = []
            for c in class_deck.deal(self.classes_per_batch):
                if len(self._members[c]) >= self.m:
                    batch.extend(sample_decks[c].deal(self.m))
                else:  # every sample once, topped up with replacement
                    members = self._members[c]
                    extra = rng.choice(members, self.m - len(members), replace=True)
                    batch.extend(int(i) for i in np.concatenate([rng.permutation(members), extra]))
            yield batch


class _Deck:
    """Deal items from a shuffled deck; reshuffle when it runs out, never repeating within one deal."""

    def __init__(self, items: np.ndarray, rng: np.random.Generator) -> None:
        self.items, self.rng = items, rng
        self.order = rng.permutation(items)
        self.pos = 0

    def deal(self, n: int) -> list[int]:
        """``n`` distinct items (requires ``n <= len(items)``)."""
        hand = [int(i) for i in self.order[self.pos:self.pos + n]]
        self.pos += n
        if len(hand) < n:  # deck ran out: new shuffle, the items just dealt go to its end
            fresh = self.rng.permutation(self.items)
            dealt = np.isin(fresh, hand)
            self.order = np.concatenate([fresh[~dealt], fresh[dealt]])
            need = n - len(hand)
            hand.extend(int(i) for i in self.order[:need])
            self.pos = need
        return hand


class NoDuplicatesSampler(_EpochBatchSampler):
    """Batches in which no two items share a group id.

    Use it when several dataset items come from one source (two views or paraphrases of the same
    sentence, several captions of one image) or share a class and should never be each other's
    in-batch negatives.

    Guarantees: every batch has pairwise different group ids; every index appears at most once per
    epoch; with ``drop_last=True`` every batch has exactly ``batch_size`` items; with
    ``drop_last=False`` every index appears exactly once and the batches at the end of the epoch may
    be shorter (the items that could not join a full batch without a duplicate group).

    The algorithm walks a shuffled order and defers an item whose group is already in the current
    batch; deferred items are offered first to the next batches. It is greedy: the items it leaves
    out (``drop_last=True``) have fewer than ``batch_size`` distinct groups, but when a few groups
    are large an optimal packing could leave out fewer. ``__len__`` builds the current
    epoch's batches (O(N)) because the number of full batches depends on the shuffle.

    Args:
        group_ids: (N,) integer group of each dataset item (tensor, array or list).
        batch_size: items per batch, >= 1; with ``drop_last`` at least this many distinct groups.
        drop_last: drop the items that cannot fill a complete batch.
        seed: int >= 0; the batches are a function of ``(seed, epoch)``; see ``set_epoch``.
    Yields: lists of dataset indices.
    References: sentence-transformers' ``NoDuplicatesBatchSampler`` (Reimers & Gurevych 2019);
        false negatives in contrastive batches: Chuang et al. 2020.
    """

    def __init__(self, group_ids: object, *, batch_size: int, drop_last: bool = True, seed: int = 0) -> None:
        super().__init__(seed)
        self.group_ids = _id_array("group_ids", group_ids)  # (N,)
        self.batch_size = check.integer("batch_size", batch_size, 1)
        self.drop_last = check.boolean("drop_last", drop_last)
        n_groups = len(np.unique(self.group_ids))
        if self.drop_last and n_groups < self.batch_size:
            raise ValueError(f"group_ids must contain at least batch_size = {self.batch_size} distinct groups "
                             f"to fill one batch without duplicates, got {n_groups}")
        self._cache: tuple[int, list[list[int]]] | None = None

    def _batches(self) -> list[list[int]]:
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        order = self._rng().permutation(len(self.group_ids))  # (N,)
        pending: dict[int, deque[int]] = {}  # group -> deferred indices, groups in first-deferred order
        batches: list[list[int]] = []
        batch: list[int] = []
        in_batch: set[int] = set()

        def emit() -> None:
            batches.append(batch.copy())
            batch.clear()
            in_batch.clear()

        def take_pending() -> None:  # one deferred item of each group not yet in the batch
            for g in list(pending):
                if len(batch) == self.batch_size:
                    return
                if g not in in_batch:
                    batch.append(pending[g].popleft())
                    in_batch.add(g)
                    if not pending[g]:
                        del pending[g]

        def start_batch() -> None:  # deferred items go first; they may fill whole batches
            take_pending()
            while len(batch) == self.batch_size:
                emit()
                take_pending()

        for i in order:
            if not batch:
                start_batch()
            g = int(self.group_ids[i])
            if g in in_batch:  # defer it to a later batch
                pending.setdefault(g, deque()).append(int(i))
                continue
            batch.append(int(i))
            in_batch.add(g)
            if len(batch) == self.batch_size:
                emit()
        if not batch:
            start_batch()
        # Now every pending group is already in the (short) batch: fewer than batch_size groups are
        # left, so no further batch can be full.
        while batch and not self.drop_last:
            emit()
            take_pending()
        self._cache = (self.epoch, batches)
        return batches

    def __len__(self) -> int:
        return len(self._batches())

    def __iter__(self) -> Iterator[list[int]]:
        yield from (list(b) for b in self._batches())


def _nearest_center(x: Tensor, centers: Tensor) -> tuple[Tensor, Tensor]:
    """(N,) best cosine and (N,) index of the nearest of the unit-norm ``centers``, in row chunks."""
    best, index = [], []
    for start in range(0, len(x), _QUERY_CHUNK):
        sims = x[start:start + _QUERY_CHUNK] @ centers.T  # (chunk, K)
        b, i = sims.max(dim=1)
        best.append(b)
        index.append(i)
    return torch.cat(best), torch.cat(index)


def _kmeans_plus_plus(x: Tensor, k: int, gen: torch.Generator) -> Tensor:
    """(K, D) initial centres by greedy k-means++ on unit rows (squared distance d^2 = 2 - 2 cos).

    Each step draws ``2 + log K`` candidates with probability proportional to d^2 to the nearest
    chosen centre and keeps the one that lowers the total d^2 most (scikit-learn's variant, far less
    likely than plain k-means++ to put two centres in one cluster).
    """
    n = len(x)
    trials = 2 + int(math.log(k))
    first = int(torch.randint(n, (), generator=gen))
    chosen = [first]
    d2 = (2 - 2 * (x @ x[first])).clamp_min(0)  # (N,) squared distance to the nearest chosen centre
    for _ in range(1, k):
        cdf = torch.cumsum(d2.double(), 0)  # (N,)
        if float(cdf[-1]) <= 0:  # every point sits on a centre: draw uniformly
            candidates = torch.randint(n, (trials,), generator=gen).to(x.device)  # (T,)
        else:
            u = torch.rand(trials, generator=gen, dtype=torch.float64).to(x.device) * cdf[-1]  # (T,)
            candidates = torch.searchsorted(cdf, u, right=True).clamp_max(n - 1)  # (T,)
        cand_d2 = torch.minimum(d2[None, :], (2 - 2 * (x[candidates] @ x.T)).clamp_min(0))  # (T, N)
        best = int(cand_d2.sum(1).argmin())
        chosen.append(int(candidates[best]))
        d2 = cand_d2[best]
    return x[torch.tensor(chosen, device=x.device)]


def spherical_kmeans(embeddings: Tensor, n_clusters: int, *, iters: int = 20, init: str = "k-means++",
                     seed: int = 0) -> tuple[Tensor, Tensor]:
    r"""k-means with cosine similarity on L2-normalised rows (Lloyd iterations on the sphere).

    Assignment: :math:`a_i = \arg\max_c \hat x_i^\top \mu_c`; update: :math:`\mu_c` = the normalised
    sum of its members. An empty cluster is re-seeded with the point farthest from its centre.
    Stops early when no assignment changes.

    Args:
        embeddings: (N, D) floating, any device; not modified and not differentiated.
        n_clusters: K, 1 <= K <= N.
        iters: at most this many Lloyd updates, >= 1.
        init: ``"k-means++"`` (Arthur & Vassilvitskii 2007, the greedy variant of scikit-learn,
            with d^2 = 2 - 2 cos) or ``"random"`` (K distinct rows).
        seed: int >= 0 for the initialisation (CPU generator, so the result does not depend on the
            device's RNG).
    Returns: ``(centroids (K, D) unit-norm, cluster_ids (N,) long)`` on the embeddings' device, in
        float32 or wider.
    Cost: O(iters N K D) flops, O(min(N, 1024) K) extra memory.
    """
    check.embeddings("embeddings", embeddings)
    n = len(embeddings)
    k = check.integer("n_clusters", n_clusters, 1)
    if k > n:
        raise ValueError(f"n_clusters must be <= the number of embeddings {n}, got {k}")
    iters = check.integer("iters", iters, 1)
    init = check.choice("init", init, ("k-means++", "random"))
    gen = torch.Generator().manual_seed(check.seed("seed", seed))
    with torch.no_grad():
        x = l2_normalize(embeddings.detach())  # (N, D)
        if init == "random":
            centers = x[torch.randperm(n, generator=gen)[:k].to(x.device)]  # (K, D)
        else:
            centers = _kmeans_plus_plus(x, k, gen)  # (K, D)
        best, assign = _nearest_center(x, centers)  # (N,), (N,)
        for _ in range(iters):
            sums = torch.zeros_like(centers).index_add_(0, assign, x)  # (K, D)
            empty = torch.bincount(assign, minlength=k) == 0  # (K,)
            if bool(empty.any()):  # re-seed each empty cluster with a far-away point
                farthest = torch.argsort(best)[: int(empty.sum())]
                sums[empty] = x[farthest]
            centers = l2_normalize(sums)
            best, new_assign = _nearest_center(x, centers)
            if torch.equal(new_assign, assign):
                break
            assign = new_assign
    return centers, assign


class ClusterBatchSampler(_EpochBatchSampler):
    """Batches of similar items, built from k-means clusters of the current embeddings.

    Items of one cluster are close to each other, so a batch made of one cluster (or of two
    neighbouring clusters) has hard in-batch negatives. Each epoch: the clusters are visited in a
    greedy nearest-centroid tour (random start), each cluster's members are shuffled, the
    concatenation is cut into consecutive batches, and the full batches are shuffled. Call
    ``update(embeddings)`` to re-cluster with the model's newer embeddings (e.g. every epoch).

    Guarantees: every index appears exactly once per epoch (``drop_last=False``; the one short batch
    comes last) or at most once (``drop_last=True``, all batches full); consecutive members of a
    batch come from the same cluster or the nearest not-yet-used one.

    B3 ranks the data with a pretrained teacher, builds a sparse similarity graph and finds
    communities with a graph algorithm; here spherical k-means on the current embeddings plays the
    role of that community detection. Hard batches also contain more false negatives: pair this
    with labels or a similarity ceiling when they exist.

    Args:
        embeddings: (N, D) current embedding of every dataset item (not kept; only the clustering is).
        batch_size: items per batch, >= 1.
        n_clusters: default ``max(1, N // batch_size)``, so a cluster is about one batch.
        seed: int >= 0; k-means depends on (embeddings, seed), the batches on (seed, epoch).
        iters: Lloyd iterations per clustering.
        init: ``"k-means++"`` or ``"random"``.
        drop_last: drop the final short batch.
    Attributes: ``cluster_ids`` (N,) long and ``centroids`` (K, D), both on the CPU.
    References: Thirukovalluru et al. 2025 ("Breaking the Batch Barrier (B3) of Contrastive
        Learning via Smart Batch Mining"); Arthur & Vassilvitskii 2007 (k-means++).
    """

    def __init__(self, embeddings: Tensor, *, batch_size: int, n_clusters: int | None = None, seed: int = 0,
                 iters: int = 20, init: str = "k-means++", drop_last: bool = False) -> None:
        super().__init__(seed)
        self.batch_size = check.integer("batch_size", batch_size, 1)
        self.drop_last = check.boolean("drop_last", drop_last)
        self.iters = check.integer("iters", iters, 1)
        self.init = check.choice("init", init, ("k-means++", "random"))
        check.embeddings("embeddings", embeddings)
        self.num_items = len(embeddings)
        if self.drop_last and self.batch_size > self.num_items:
            raise ValueError(f"batch_size must be <= the number of embeddings {self.num_items} with "
                             f"drop_last=True (otherwise there is no batch), got {self.batch_size}")
        self.n_clusters = (max(1, self.num_items // self.batch_size) if n_clusters is None
                           else check.integer("n_clusters", n_clusters, 1))
        if self.n_clusters > self.num_items:
            raise ValueError(f"n_clusters must be <= the number of embeddings {self.num_items}, got {self.n_clusters}")
        self.update(embeddings)

    def update(self, embeddings: Tensor) -> None:
        """Re-cluster with new (N, D) embeddings of the same N items (D may change)."""
        check.embeddings("embeddings", embeddings)
        if len(embeddings) != self.num_items:
            raise ValueError(f"embeddings must have one row per dataset item ({self.num_items}), "
                             f"got shape {tuple(embeddings.shape)}")
        centers, ids = spherical_kmeans(embeddings, self.n_clusters, iters=self.iters, init=self.init, seed=self.seed)
        self.centroids = centers.cpu()  # (K, D)
        self.cluster_ids = ids.cpu()  # (N,)

    def __len__(self) -> int:
        full, rest = divmod(self.num_items, self.batch_size)
        return full + (0 if self.drop_last or rest == 0 else 1)

    def _tour(self, rng: np.random.Generator) -> list[int]:
        """Clusters in a greedy nearest-centroid order from a random start."""
        c = self.centroids.double().numpy()  # (K, D)
        sims = c @ c.T  # (K, K)
        current = int(rng.integers(len(c)))
        tour, unvisited = [current], np.ones(len(c), dtype=bool)
        unvisited[current] = False
        while unvisited.any():
            current = int(np.flatnonzero(unvisited)[np.argmax(sims[current, unvisited])])
            tour.append(current)
            unvisited[current] = False
        return tour

    def __iter__(self) -> Iterator[list[int]]:
        rng = self._rng()
        ids = self.cluster_ids.numpy()  # (N,)
        sizes = np.bincount(ids, minlength=self.n_clusters)  # (K,)
        members = np.split(np.argsort(ids, kind="stable"), np.cumsum(sizes)[:-1])  # K arrays of indices
        order = np.concatenate([rng.permutation(members[c]) for c in self._tour(rng)])  # (N,)
        cuts = range(0, self.num_items, self.batch_size)
        batches = [order[s:s + self.batch_size].tolist() for s in cuts]  # consecutive slices of the tour
        short = batches.pop() if len(batches[-1]) < self.batch_size else None
        for b in rng.permutation(len(batches)):
            yield batches[b]
        if short is not None and not self.drop_last:
            yield short


# ----------------------------------------------------------------------------------------------
# hard-negative mining

@dataclass(frozen=True)
class HardNegatives:
    """Result of ``mine_hard_negatives``.

    Attributes:
        indices: (N, k) long, candidate indices, hardest (most similar) first.
        similarities: (N, k) their cosine similarities, detached, float32 or wider.
        dropped_by_ceiling: (N,) long, per query: candidates with similarity >= ceiling (self excluded).
        false_negatives_kept: with labels, how many of the N*k mined negatives share the query's
            label (true false negatives that got through); else None.
        false_negatives_dropped: with labels, how many candidates removed by the ceiling share the
            query's label (false negatives the ceiling caught); else None.
    """

    indices: Tensor
    similarities: Tensor
    dropped_by_ceiling: Tensor
    false_negatives_kept: int | None = None
    false_negatives_dropped: int | None = None


def mine_hard_negatives(query: Tensor, candidates: Tensor, *, k: int, ceiling: float | None = None,
                        labels: Tensor | None = None, candidate_labels: Tensor | None = None,
                        exclude_self: bool = True) -> HardNegatives:
    r"""For each query, the ``k`` most similar candidates whose cosine similarity is below a ceiling.

    .. math:: \mathrm{neg}(i) = \operatorname{top\text{-}k}_{j \in C(i)}\ \hat q_i^\top \hat c_j,
              \qquad C(i) = \{j : \hat q_i^\top \hat c_j < \text{ceiling}\} \setminus \{i \text{ if in-batch}\}

    The most similar candidates are the most informative negatives but also the likeliest to be
    unlabelled positives (false negatives); the ceiling drops candidates so similar that they
    probably are. With ``labels`` the result counts how many false negatives were kept / dropped,
    to tune the ceiling. Runs under ``torch.no_grad``: gather the returned indices from your
    embeddings to put them into a loss.

    Args:
        query: (N, D) anchors.  candidates: (M, D) pool (the batch's positives, a queue, a corpus).
        k: negatives per query, >= 1.
        ceiling: drop candidates with similarity >= ceiling, a number in [-1, 1]; None: no ceiling.
        labels: (N,) integer labels of the queries; with it, the false-negative counts are computed.
        candidate_labels: (M,) labels of the candidates; may be left out in the in-batch case
            (M == N), where it defaults to ``labels``.
        exclude_self: if M == N (in-batch: candidate i is query i's positive), never pick j = i.
    Returns: ``HardNegatives``; indices (N, k) hardest first, on the inputs' device.
    Raises: ValueError if some query has fewer than k candidates left after the ceiling and the
        self exclusion (it says how many passed).
    Cost: 2 N M D flops in chunks of 1024 queries, O(1024 M) memory (a float and a bool per pair).
    References: Karpukhin et al. 2020 (DPR, mined hard negatives); Moreira et al. 2024
        (NV-Retriever: positive-aware mining, the absolute-threshold "TopK-Abs" variant is this
        ceiling); Chuang et al. 2020 (false negatives).
    """
    check.embeddings("query", query)
    check.embeddings("candidates", candidates)
    check.same_device(query=query, candidates=candidates)
    (n, d), m = query.shape, len(candidates)
    if candidates.shape[1] != d:
        raise ValueError(f"candidates must have the query's dimension D = {d}, got shape {tuple(candidates.shape)}")
    k = check.integer("k", k, 1)
    exclude_self = check.boolean("exclude_self", exclude_self)
    in_batch = exclude_self and m == n
    available = m - 1 if in_batch else m
    if k > available:
        raise ValueError(f"k must be <= the {available} candidates available per query"
                         f"{' (M - 1: self excluded)' if in_batch else ''}, got {k}")
    if ceiling is not None:
        ceiling = float(check.real_number("ceiling", ceiling, low=-1.0, high=1.0))
    if candidate_labels is not None and labels is None:
        raise ValueError("candidate_labels was given without labels: pass the queries' labels too")
    if labels is not None:
        check.labels("labels", labels, n, query.device)
        if candidate_labels is None:
            if m != n:
                raise ValueError(f"candidate_labels is required when candidates is not the query batch "
                                 f"(M = {m} != N = {n})")
            candidate_labels = labels
        check.labels("candidate_labels", candidate_labels, m, query.device)

    dtype = compute_dtype(query, candidates)
    indices, sims, dropped = [], [], []
    fn_kept = fn_dropped = 0
    with torch.no_grad():
        q_all, c = l2_normalize(query.detach(), dtype), l2_normalize(candidates.detach(), dtype)  # (N, D), (M, D)
        for start in range(0, n, _QUERY_CHUNK):
            q = q_all[start:start + _QUERY_CHUNK]  # (R, D)
            r = torch.arange(len(q), device=q.device)  # (R,)
            s = q @ c.T  # (R, M) cosine similarities
            if in_batch:
                s[r, start + r] = float("-inf")  # the query's own positive is never a negative
            if ceiling is None:
                over = None
                dropped.append(torch.zeros(len(q), dtype=torch.long, device=q.device))
            else:
                over = s >= ceiling  # (R, M) likely false negatives
                s.masked_fill_(over, float("-inf"))
                n_over = over.sum(1)  # (R,)
                dropped.append(n_over)
                passed = available - n_over  # (R,)
                if bool((passed < k).any()):
                    worst = int(passed.argmin())
                    raise ValueError(
                        f"query {start + worst} has only {int(passed[worst])} candidates with similarity < ceiling "
                        f"{ceiling} (of {available}), fewer than k = {k}; raise the ceiling or lower k")
            top_s, top_i = s.topk(k, dim=1)  # (R, k), hardest first; every entry passed the ceiling
            indices.append(top_i)
            sims.append(top_s)
            if labels is not None:
                query_labels = labels[start:start + len(q), None]  # (R, 1)
                fn_kept += int((candidate_labels[top_i] == query_labels).sum())
                if over is not None:
                    fn_dropped += int((over & (candidate_labels[None, :] == query_labels)).sum())
    counted = labels is not None
    return HardNegatives(indices=torch.cat(indices), similarities=torch.cat(sims),
                         dropped_by_ceiling=torch.cat(dropped).long(),
                         false_negatives_kept=fn_kept if counted else None,
                         false_negatives_dropped=fn_dropped if counted else None)


# ----------------------------------------------------------------------------------------------
# MoCo queue and momentum encoder

class MoCoQueue(nn.Module):
    """A first-in-first-out queue of ``size`` unit-norm keys: the negatives of MoCo.

    Each step, the keys of the current batch (from the momentum encoder) replace the oldest
    entries. Before ``size`` real keys have been enqueued, the rest of the queue holds the random
    unit vectors it was initialised with (as in MoCo's code); ``num_filled`` says how many are real.

    State (buffers, so ``.to(device)`` and ``state_dict`` carry them): ``queue`` (size, dim) in
    ring-buffer order, ``queue_labels`` (size,) long (-1 = unknown, e.g. the random initial
    entries), ``queue_ptr`` (next slot to write), ``queue_filled``.

    Args:
        dim: D, the key dimension.  size: number of keys kept (MoCo: 65536).
        seed: int >= 0 for the random initial entries.
    References: He et al. 2020 (MoCo); Chen et al. 2020 (MoCo v2); Wu et al. 2018 (memory bank).
    """

    queue: Tensor
    queue_labels: Tensor
    queue_ptr: Tensor
    queue_filled: Tensor

    def __init__(self, dim: int, size: int, *, seed: int = 0) -> None:
        super().__init__()
        self.dim = check.integer("dim", dim, 1)
        self.size = check.integer("size", size, 1)
        gen = torch.Generator().manual_seed(check.seed("seed", seed))
        self.register_buffer("queue", l2_normalize(torch.randn(self.size, self.dim, generator=gen)))  # (S, D)
        self.register_buffer("queue_labels", torch.full((self.size,), -1, dtype=torch.long))  # (S,)
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long))

    @property
    def ptr(self) -> int:
        """The slot the next key goes into (= the oldest entry)."""
        return int(self.queue_ptr)

    @property
    def num_filled(self) -> int:
        """How many real keys the queue holds (capped at ``size``)."""
        return int(self.queue_filled)

    @property
    def negatives(self) -> Tensor:
        """(size, dim) the keys, oldest first (the random initial entries count as oldest); a copy."""
        return self.queue.roll(-self.ptr, dims=0)

    @property
    def labels(self) -> Tensor:
        """(size,) long labels in the order of ``negatives``; -1 where unknown."""
        return self.queue_labels.roll(-self.ptr, dims=0)

    @torch.no_grad()
    def enqueue(self, keys: Tensor, labels: Tensor | None = None) -> None:
        """Append (B, dim) keys (detached, L2-normalised) over the oldest entries.

        With B > size only the newest ``size`` keys are kept. ``labels`` (B,) integer >= 0 are stored
        alongside (-1 when not given), so the false negatives in the queue can be counted.
        """
        check.embeddings("keys", keys)
        if keys.shape[1] != self.dim:
            raise ValueError(f"keys must have shape (B, {self.dim}), got {tuple(keys.shape)}")
        check.same_device(keys=keys, queue=self.queue)
        if labels is not None:
            check.labels("labels", labels, len(keys), keys.device)
            if bool((labels < 0).any()):
                raise ValueError(f"labels must be >= 0 (-1 marks an unknown label), got min {int(labels.min())}")
        b = min(len(keys), self.size)
        new = l2_normalize(keys.detach()[-b:]).to(self.queue.dtype)  # (b, D), the newest b keys
        slots = (self.ptr + torch.arange(b, device=self.queue.device)) % self.size  # (b,)
        self.queue[slots] = new
        self.queue_labels[slots] = labels[-b:].long() if labels is not None else -1
        self.queue_ptr.fill_((self.ptr + b) % self.size)
        self.queue_filled.fill_(min(self.num_filled + b, self.size))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, size={self.size}, num_filled={self.num_filled}"
