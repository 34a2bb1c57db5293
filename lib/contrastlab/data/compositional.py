"""Compositional pairs: "images" of two objects with attributes and "captions" that bind them, where a
bag of words retrieves well but does not bind (Yuksekgonul et al. 2023, NegCLIP)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .. import validation as check
from .base import per_sample, rng, tensor
from .paired import PairedModalities


@dataclass(kw_only=True)
class CompositionalPairs(PairedModalities):
    """Pairs of ("image", "caption") of two objects, each with an attribute.

    ``objects`` and ``attributes`` (N, 2) give the bindings in caption order: object ``objects[i, k]``
    has attribute ``attributes[i, k]``. The caption ``b`` is the concatenation of four one-hot tokens
    [object 1, attribute 1, object 2, attribute 2]; the image ``x`` places the two (object, attribute)
    slots in a random left/right order, then mixes them with a fixed random map.
    """

    objects: Tensor = per_sample()
    attributes: Tensor = per_sample()
    n_objects: int
    n_attributes: int

    def swap_attributes(self, captions: Tensor) -> Tensor:
        """``swap_attributes(captions, n_objects, n_attributes)`` for this dataset's captions."""
        return swap_attributes(captions, self.n_objects, self.n_attributes)

    def captions(self, idx: Tensor | None = None, *, swapped: bool = False) -> Tensor:
        """The clean captions of ``idx`` (all if None), or their attribute-swapped versions."""
        b = self.b if idx is None else self.b[idx.to(self.device)]
        return self.swap_attributes(b) if swapped else b


def _one_hot(index: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n)[index]


def compositional_pairs(n: int = 4000, *, n_objects: int = 10, n_attributes: int = 10, dim_a: int = 64,
                        hidden: int = 128, noise_a: float = 0.1, noise_b: float = 0.0, seed: int = 0,
                        device: torch.device | str = "cpu") -> CompositionalPairs:
    r"""A toy of compositional pairs where a bag of words retrieves well but does not bind.

    Each sample has two different objects :math:`o_1 \ne o_2` with two different attributes
    :math:`c_1 \ne c_2` (object :math:`o_k` has attribute :math:`c_k`), drawn uniformly.

    - caption b = [onehot(o1), onehot(c1), onehot(o2), onehot(c2)], (n, 2(O + A)); noise ``noise_b``;
    - image x = :math:`\tanh(s W_1) W_2` with s = [slot left, slot right], each slot [onehot(o), onehot(c)]
      of one object in a random left/right order, through a fixed random MLP to ``dim_a``; noise ``noise_a``.

    The attribute-swapped caption [o1, c2, o2, c1] has the same words, so among random in-batch
    negatives (which rarely share all four words) the words alone identify the pair; only the swap
    needs the binding. Labels: the unordered object pair (C(O, 2) classes); latents (o1, c1, o2, c2).
    """
    n = check.integer("n", n, 2)
    n_objects, n_attributes = check.integer("n_objects", n_objects, 2), check.integer("n_attributes", n_attributes, 2)
    dim_a, hidden = check.integer("dim_a", dim_a, 1), check.integer("hidden", hidden, 1)
    noise_a, noise_b = check.number("noise_a", noise_a, low=0.0), check.number("noise_b", noise_b, low=0.0)
    seed = check.seed("seed", seed)
    g = rng(seed)
    objects = np.stack([g.choice(n_objects, 2, replace=False) for _ in range(n)])  # (n, 2) distinct
    attributes = np.stack([g.choice(n_attributes, 2, replace=False) for _ in range(n)])  # (n, 2) distinct
    caption = np.concatenate([_one_hot(objects[:, 0], n_objects), _one_hot(attributes[:, 0], n_attributes),
                              _one_hot(objects[:, 1], n_objects), _one_hot(attributes[:, 1], n_attributes)], 1)
    slots = [np.concatenate([_one_hot(objects[:, k], n_objects), _one_hot(attributes[:, k], n_attributes)], 1)
             for k in (0, 1)]  # (n, O + A) each: one object and its attribute
    left_first = g.random(n) < 0.5  # the image's left/right order is independent of the caption's order
    scene = np.where(left_first[:, None], np.concatenate(slots, 1), np.concatenate(slots[::-1], 1))
    w1 = g.standard_normal((scene.shape[1], hidden)) / 2  # four active units per scene
    w2 = g.standard_normal((hidden, dim_a)) / np.sqrt(hidden)
    image = np.tanh(scene @ w1) @ w2
    lo, hi = objects.min(1), objects.max(1)
    pair_id = (lo * (2 * n_objects - lo - 1)) // 2 + (hi - lo - 1)  # index of {o1, o2} among C(O, 2)
    latents = np.stack([objects[:, 0], attributes[:, 0], objects[:, 1], attributes[:, 1]], 1)
    knobs = dict(n=n, n_objects=n_objects, n_attributes=n_attributes, dim_a=dim_a, hidden=hidden,
                 noise_a=noise_a, noise_b=noise_b, seed=seed)
    return CompositionalPairs(x=tensor(image, device), b=tensor(caption, device),
                              labels=tensor(pair_id, device, torch.long), latents=tensor(latents, device),
                              objects=tensor(objects, device, torch.long),
                              attributes=tensor(attributes, device, torch.long), noise_a=noise_a,
                              noise_b=noise_b, n_objects=n_objects, n_attributes=n_attributes, knobs=knobs)


def swap_attributes(captions: Tensor, n_objects: int, n_attributes: int) -> Tensor:
    """Captions [o1, c1, o2, c2] (one-hot blocks) -> [o1, c2, o2, c1]: same words, swapped bindings.

    A column permutation, so it also applies to noisy captions. Args: captions (N, 2(O + A)).
    """
    n_objects, n_attributes = check.integer("n_objects", n_objects, 1), check.integer("n_attributes", n_attributes, 1)
    width = n_objects + n_attributes
    check.instance("captions", captions, Tensor, f"a (N, {2 * width}) tensor")
    if captions.ndim != 2 or captions.shape[1] != 2 * width:
        raise ValueError(f"captions must be a (N, {2 * width}) tensor (four one-hot blocks of sizes "
                         f"{n_objects}, {n_attributes}, {n_objects}, {n_attributes}), got "
                         f"{getattr(captions, 'shape', type(captions).__name__)}")
    o, c = n_objects, n_attributes
    return torch.cat([captions[:, :o], captions[:, width + o:], captions[:, width:width + o], captions[:, o:width]], 1)


def _bindings(objects: Tensor, attributes: Tensor) -> list[tuple]:
    """Each sample's set of (object, attribute) bindings, as a sorted tuple (order-free)."""
    return [tuple(sorted(zip(o, c))) for o, c in zip(objects.tolist(), attributes.tolist())]


def drop_swap_partners(data: CompositionalPairs) -> CompositionalPairs:
    """The subset in which no sample's attribute-swapped caption describes another sample.

    Greedy in index order: sample i is kept unless a kept sample already has the bindings of i's
    swap. Web captions are like this: the caption with the same words and swapped bindings is almost
    never in the data, so in-batch negatives never ask for the binding.
    """
    if not isinstance(data, CompositionalPairs):
        raise TypeError(f"data must be a CompositionalPairs (compositional_pairs), got {type(data).__name__}")
    kept_bindings, keep = set(), []
    own = _bindings(data.objects, data.attributes)
    swapped = _bindings(data.objects, data.attributes.flip(1))
    for i, (mine, partner) in enumerate(zip(own, swapped)):
        if partner not in kept_bindings:
            kept_bindings.add(mine)
            keep.append(i)
    return data.subset(torch.tensor(keep, dtype=torch.long, device=data.device))


def swap_partner_rate(data: CompositionalPairs, batch_size: int = 256) -> float:
    r"""The chance that a random batch of ``batch_size`` holds, for a random anchor, a sample whose
    bindings are the anchor's swap: :math:`\mathbb E_i[1 - (1 - k_i/(n-1))^{B-1}]`, with :math:`k_i` the
    number of such samples in ``data``. Plain CLIP only gets a binding signal from these anchors."""
    if not isinstance(data, CompositionalPairs):
        raise TypeError(f"data must be a CompositionalPairs (compositional_pairs), got {type(data).__name__}")
    batch_size = check.integer("batch_size", batch_size, 2)
    counts: dict[tuple, int] = {}
    for key in _bindings(data.objects, data.attributes):
        counts[key] = counts.get(key, 0) + 1
    k = np.array([counts.get(key, 0) for key in _bindings(data.objects, data.attributes.flip(1))], dtype=float)
    return float(np.mean(1 - (1 - k / (len(data) - 1)) ** (batch_size - 1)))


