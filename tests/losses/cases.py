"""One table of every loss, its float64 loop reference and how to make inputs for it.

The property tests iterate over this table, so a new loss gets the reference, gradcheck, dtype,
device and invariance tests by adding one ``Case``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Callable

import torch

import contrastlab.losses as L

from . import reference as R


@dataclass(frozen=True)
class Case:
    name: str
    loss: Callable
    reference: Callable
    # make(generator, n, d, dtype) -> positional inputs
    make: Callable
    kwargs: dict = field(default_factory=dict)
    # inputs are L2-normalised inside: scaling a row by c > 0 leaves the loss unchanged
    scale_invariant: bool = True
    # loss(a, b) == loss(b, a)
    swap_symmetric: bool = False


def _two(g, n, d, dtype):
    return (torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype))


def _shared_negatives(g, n, d, dtype):
    return _two(g, n, d, dtype) + (torch.randn(n + 3, d, generator=g, dtype=dtype),)


def _per_query_negatives(g, n, d, dtype):
    return _two(g, n, d, dtype) + (torch.randn(n, 4, d, generator=g, dtype=dtype),)


def _supcon(g, n, d, dtype):
    labels = torch.arange(n) % max(1, n // 2)  # every class appears at least twice when n >= 2
    return torch.randn(n, 2, d, generator=g, dtype=dtype), labels


def _two_with_labels(g, n, d, dtype):
    return _two(g, n, d, dtype) + (torch.arange(n) % 3,)


def _one(g, n, d, dtype):
    return (torch.randn(n, d, generator=g, dtype=dtype),)


# filtered_nt_xent's cluster ids are keyword-only; as a positional input they are permuted with the batch
def _filtered_by_cluster(z1, z2, cluster_ids, **kwargs):
    return L.filtered_nt_xent(z1, z2, cluster_ids=cluster_ids, **kwargs)


def _filtered_by_cluster_reference(z1, z2, cluster_ids, **kwargs):
    return R.filtered_nt_xent(z1, z2, cluster_ids=cluster_ids, **kwargs)


CASES = [
    Case("info_nce", L.info_nce, R.info_nce, _two, {"temperature": 0.1}),
    Case("info_nce_symmetric", L.info_nce, R.info_nce, _two, {"temperature": 0.2, "symmetric": True},
         swap_symmetric=True),
    Case("info_nce_shared_negatives", L.info_nce, R.info_nce, _shared_negatives, {"temperature": 0.1}),
    Case("info_nce_per_query_negatives", L.info_nce, R.info_nce, _per_query_negatives, {"temperature": 0.3}),
    Case("nt_xent", L.nt_xent, R.nt_xent, _two, {"temperature": 0.5}, swap_symmetric=True),
    Case("decoupled_nt_xent", L.decoupled_nt_xent, R.decoupled_nt_xent, _two, {"temperature": 0.1},
         swap_symmetric=True),
    Case("debiased_nt_xent", L.debiased_nt_xent, R.debiased_nt_xent, _two,
         {"temperature": 0.5, "tau_plus": 0.1}, swap_symmetric=True),
    Case("hard_negative_nt_xent", L.hard_negative_nt_xent, R.hard_negative_nt_xent, _two,
         {"temperature": 0.5, "tau_plus": 0.1, "beta": 1.0}, swap_symmetric=True),
    Case("oracle_nt_xent", L.oracle_nt_xent, R.oracle_nt_xent, _two_with_labels, {"temperature": 0.5}),
    # a threshold of 0.3 drops about a third of the negatives of random directions in D = 3..16
    Case("filtered_nt_xent_threshold", L.filtered_nt_xent, R.filtered_nt_xent, _two,
         {"temperature": 0.1, "threshold": 0.3}, swap_symmetric=True),
    Case("filtered_nt_xent_clusters_and_threshold", _filtered_by_cluster, _filtered_by_cluster_reference,
         _two_with_labels, {"temperature": 0.2, "threshold": 0.5}),
    Case("clip_loss", L.clip_loss, R.clip_loss, _two, {"logit_scale": 1 / 0.07}, swap_symmetric=True),
    Case("clip_loss_with_negatives", L.clip_loss_with_negatives, R.clip_loss_with_negatives, _shared_negatives,
         {"logit_scale": 1 / 0.07}),
    Case("siglip_loss", L.siglip_loss, R.siglip_loss, _two, {"logit_scale": 10.0, "logit_bias": -10.0},
         swap_symmetric=True),
    Case("supcon", L.supcon, R.supcon, _supcon, {"temperature": 0.1}),
    Case("alignment", L.alignment, R.alignment, _two, {"alpha": 2}, swap_symmetric=True),
    Case("uniformity", L.uniformity, R.uniformity, _one, {"t": 2}),
    Case("negative_cosine", L.negative_cosine, R.negative_cosine, _two, {}, swap_symmetric=True),
    Case("barlow_twins", L.barlow_twins, R.barlow_twins, _two, {"lambda_": 0.0051},
         scale_invariant=False, swap_symmetric=True),
    Case("vicreg", L.vicreg, R.vicreg, _two, {}, scale_invariant=False, swap_symmetric=True),
]

# every in-batch loss with a tiled path runs the whole property suite on that path too (reference, gradcheck,
# small temperature, half precision, devices, invariances); test_tiled*.py adds the tile boundaries
TILED = ["info_nce", "info_nce_symmetric", "nt_xent", "decoupled_nt_xent", "debiased_nt_xent",
         "hard_negative_nt_xent", "clip_loss", "siglip_loss", "supcon"]
CASES += [replace(case, name=f"{case.name}_tiled", loss=functools.partial(case.loss, impl="tiled"))
          for case in CASES if case.name in TILED]

BY_NAME = {case.name: case for case in CASES}


def make_inputs(case: Case, n: int = 6, d: int = 5, *, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return case.make(g, n, d, dtype)


def float_inputs(inputs):
    """The positions of the floating inputs (labels are left alone)."""
    return [i for i, x in enumerate(inputs) if x.is_floating_point()]
