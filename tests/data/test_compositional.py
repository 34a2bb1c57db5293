"""data.compositional_pairs: two objects with bound attributes, their captions, attribute swaps and swap partners."""

import numpy as np
import pytest
import torch

from contrastlab import data as D


def decode(captions, o, a):
    w = o + a
    return torch.stack([captions[:, :o].argmax(1), captions[:, o:w].argmax(1),
                        captions[:, w:w + o].argmax(1), captions[:, w + o:].argmax(1)], 1)


def test_compositional_pairs_are_consistent():
    comp = D.compositional_pairs(300, n_objects=5, n_attributes=4, seed=0)
    assert comp.x.shape == (300, 64) and comp.b.shape == (300, 18)
    assert torch.all(comp.objects[:, 0] != comp.objects[:, 1])
    assert torch.all(comp.attributes[:, 0] != comp.attributes[:, 1])
    assert torch.equal(comp.b.sum(1), torch.full((300,), 4.0))  # four one-hot tokens
    tokens = decode(comp.b, 5, 4)
    assert torch.equal(tokens, torch.stack([comp.objects[:, 0], comp.attributes[:, 0],
                                            comp.objects[:, 1], comp.attributes[:, 1]], 1))
    assert torch.equal(comp.latents.long(), tokens)
    assert comp.labels.min() >= 0 and comp.labels.max() < 10  # C(5, 2) unordered object pairs
    same_pair = comp.labels[:, None] == comp.labels[None, :]
    sets = [frozenset(o.tolist()) for o in comp.objects]
    assert all(same_pair[i, j] == (sets[i] == sets[j]) for i in range(40) for j in range(40))
    again = D.compositional_pairs(300, n_objects=5, n_attributes=4, seed=0)
    assert torch.equal(comp.x, again.x) and torch.equal(comp.b, again.b)
    with pytest.raises(ValueError, match="n_objects"):
        D.compositional_pairs(10, n_objects=1)


def test_same_bindings_in_either_caption_order_give_images_from_the_same_pair_of_slots():
    comp = D.compositional_pairs(4000, n_objects=3, n_attributes=3, noise_a=0.0, seed=1)
    key = [frozenset(zip(o.tolist(), c.tolist())) for o, c in zip(comp.objects, comp.attributes)]
    first = {}
    for i, k in enumerate(key):
        first.setdefault(k, []).append(i)
    group = max(first.values(), key=len)
    distinct = {tuple(np.round(comp.x[i].numpy(), 5)) for i in group}
    assert len(distinct) == 2  # left/right order only: the caption order does not reach the image


def test_swap_attributes_swaps_only_the_bindings():
    comp = D.compositional_pairs(50, n_objects=6, n_attributes=5, seed=2)
    swapped = comp.captions(swapped=True)
    tokens, swapped_tokens = decode(comp.b, 6, 5), decode(swapped, 6, 5)
    assert torch.equal(swapped_tokens, tokens[:, [0, 3, 2, 1]])
    assert torch.equal(comp.swap_attributes(swapped), comp.b)  # an involution
    assert torch.equal(swapped.sum(0)[:6] + swapped.sum(0)[11:17], comp.b.sum(0)[:6] + comp.b.sum(0)[11:17])
    with pytest.raises(ValueError, match="captions must be a \\(N, 22\\)"):
        D.swap_attributes(torch.zeros(3, 20), 6, 5)


def test_drop_swap_partners_leaves_no_swap_in_the_data():
    comp = D.compositional_pairs(2000, n_objects=4, n_attributes=4, seed=4)  # 72 compositions: many partners
    keys = lambda d, flip: [frozenset(zip(o.tolist(), (c.flip(0) if flip else c).tolist()))  # noqa: E731
                            for o, c in zip(d.objects, d.attributes)]
    assert set(keys(comp, True)) & set(keys(comp, False))  # the full data has swap partners
    assert D.swap_partner_rate(comp, 256) > 0.9
    kept = D.drop_swap_partners(comp)
    assert not set(keys(kept, True)) & set(keys(kept, False))
    assert D.swap_partner_rate(kept, 256) == 0.0
    assert len(D.drop_swap_partners(kept)) == len(kept)  # idempotent
    assert set(keys(kept, False)) | set(keys(kept, True)) == set(keys(comp, False)) | set(keys(comp, True))
    with pytest.raises(TypeError, match="data must be a CompositionalPairs"):
        D.drop_swap_partners(D.paired_modalities(10, seed=0))
    with pytest.raises(ValueError, match="batch_size"):
        D.swap_partner_rate(comp, 1)


def test_swap_partner_rate_matches_a_direct_count():
    comp = D.compositional_pairs(300, n_objects=3, n_attributes=3, seed=5)
    own = [frozenset(zip(o.tolist(), c.tolist())) for o, c in zip(comp.objects, comp.attributes)]
    swap = [frozenset(zip(o.tolist(), c.flip(0).tolist())) for o, c in zip(comp.objects, comp.attributes)]
    k = np.array([sum(s == o for o in own) for s in swap])
    assert D.swap_partner_rate(comp, 2) == pytest.approx(np.mean(k / 299))  # one other sample in the batch
