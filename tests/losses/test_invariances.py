"""Invariances: permuting the batch, rescaling inputs, swapping the views."""

import pytest
import torch

from .cases import CASES, make_inputs


def _permute_together(inputs, seed):
    """Permute the rows of every input; inputs with the same batch size share one permutation."""
    g = torch.Generator().manual_seed(seed)
    perms = {}
    out = []
    for x in inputs:
        perm = perms.setdefault(len(x), torch.randperm(len(x), generator=g))
        out.append(x[perm])
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_permuting_the_batch_leaves_the_loss_unchanged(case):
    inputs = make_inputs(case, 7, 5, seed=11)
    permuted = _permute_together(inputs, seed=12)
    assert any(not torch.equal(a, b) for a, b in zip(inputs, permuted))
    torch.testing.assert_close(case.loss(*permuted, **case.kwargs), case.loss(*inputs, **case.kwargs),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c.scale_invariant], ids=lambda c: c.name)
def test_rescaling_embeddings_leaves_the_loss_unchanged(case):
    inputs = make_inputs(case, 6, 5, seed=13)
    g = torch.Generator().manual_seed(14)
    scaled = [x * torch.empty(x.shape[:-1] + (1,), dtype=x.dtype).uniform_(0.01, 100, generator=g)
              if x.is_floating_point() else x for x in inputs]
    torch.testing.assert_close(case.loss(*scaled, **case.kwargs), case.loss(*inputs, **case.kwargs),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c.swap_symmetric], ids=lambda c: c.name)
def test_swapping_the_views_leaves_the_loss_unchanged(case):
    a, b = make_inputs(case, 6, 5, seed=15)
    torch.testing.assert_close(case.loss(b, a, **case.kwargs), case.loss(a, b, **case.kwargs),
                               rtol=1e-12, atol=1e-12)


def test_one_directional_info_nce_is_not_symmetric():
    """The test above would be vacuous if the directions always agreed."""
    from contrastlab.losses import info_nce
    from .cases import BY_NAME
    a, b = make_inputs(BY_NAME["info_nce"], 6, 5, seed=15)
    assert abs(float(info_nce(a, b)) - float(info_nce(b, a))) > 1e-3


def test_inputs_are_not_modified():
    for case in CASES:
        inputs = make_inputs(case, 5, 4, seed=16)
        before = [x.clone() for x in inputs]
        case.loss(*inputs, **case.kwargs)
        for x, y in zip(inputs, before):
            assert torch.equal(x, y), case.name
