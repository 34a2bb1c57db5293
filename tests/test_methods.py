"""The set-ups of contrastlab.methods: SupConSimCLR's joint loss and NegCLIP's swapped-caption negatives."""

import math

import pytest
import torch

import contrastlab
import contrastlab.losses as L
from contrastlab import data as D
from contrastlab.methods import NegCLIP, SupConSimCLR, build_method
from contrastlab.models import build_encoder


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- SupConSimCLR ("supcon_simclr") ------------------------------------------------------------

def test_joint_loss_is_the_weighted_sum():
    z1, z2 = randn(12, 5, seed=1), randn(12, 5, seed=2)
    labels = torch.tensor([0, 1, 2] * 4)
    encoder = build_encoder((4,), out_dim=5)
    supcon = L.supcon(torch.stack([z1, z2], 1), labels, temperature=0.2)
    simclr = L.nt_xent(z1, z2, temperature=0.2)
    for w in (0.0, 0.3, 1.0):
        got = SupConSimCLR(encoder, weight=w, temperature=0.2).pair_loss(z1, z2, labels, 0)
        torch.testing.assert_close(got, w * supcon + (1 - w) * simclr)
    assert SupConSimCLR.needs_labels


def test_joint_loss_validates():
    encoder = build_encoder((4,))
    with pytest.raises(ValueError, match="weight"):
        SupConSimCLR(encoder, weight=1.5)
    with pytest.raises(ValueError, match="temperature"):
        SupConSimCLR(encoder, temperature=0.0)


# --- NegCLIP ("negclip") -----------------------------------------------------------------------

def test_negclip_method_uses_the_swapped_captions_and_trains():
    comp = D.compositional_pairs(400, n_objects=6, n_attributes=6, seed=3)
    method = build_method("negclip", comp, logit_scale=10.0)  # negatives: the data's own swap_attributes
    assert method.negatives == comp.swap_attributes
    a, b = comp.views(torch.arange(16), generator=comp.generator(0))
    loss, za, zb = method.loss((a, b), comp.labels[:16], 0)
    expected = L.clip_loss_with_negatives(method.encoder(a), method.encoder_b(b),
                                           method.encoder_b(comp.swap_attributes(b)), logit_scale=10.0)
    torch.testing.assert_close(loss, expected)
    history = contrastlab.fit(comp, method, steps=5, batch_size=64, eval_every=0, metrics=("top1",), seed=0,
                              progress=False)
    assert math.isfinite(history.last()["loss"])
    with pytest.raises(TypeError, match="negatives must be a function"):
        NegCLIP(build_encoder((4,)), encoder_b=build_encoder((4,)), negatives=3)
