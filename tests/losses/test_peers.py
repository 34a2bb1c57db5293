"""Agreement with the peer libraries researchers compare against (see CONVENTIONS.md).

pytorch-metric-learning and info-nce-pytorch are test dependencies; the calls below are the
ones CONVENTIONS.md documents for getting our number out of each.
"""

import pytest
import torch

import contrastlab.losses as L

info_nce_pytorch = pytest.importorskip("info_nce")
pml_losses = pytest.importorskip("pytorch_metric_learning.losses")


def _views(n, d, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype)


@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.5])
@pytest.mark.parametrize("n", [2, 8, 33])
def test_nt_xent_equals_pml_ntxent(n, temperature):
    z1, z2 = _views(n, 16, seed=n)
    labels = torch.arange(n)
    theirs = pml_losses.NTXentLoss(temperature=temperature)(torch.cat([z1, z2]), torch.cat([labels, labels]))
    torch.testing.assert_close(L.nt_xent(z1, z2, temperature=temperature), theirs, rtol=1e-10, atol=1e-12)


def test_nt_xent_equals_pml_self_supervised_wrapper():
    z1, z2 = _views(12, 8, seed=1)
    theirs = pml_losses.SelfSupervisedLoss(pml_losses.NTXentLoss(temperature=0.2))(z1, z2)
    torch.testing.assert_close(L.nt_xent(z1, z2, temperature=0.2), theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n, v", [(8, 2), (10, 3), (6, 1)])
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_supcon_equals_pml_supcon(n, v, temperature):
    g = torch.Generator().manual_seed(n * v)
    features = torch.randn(n, v, 16, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (n,), generator=g)
    if v == 1:
        labels[-1] = 99  # an anchor without a positive: both leave it out
    flat = features.transpose(0, 1).reshape(n * v, -1)
    theirs = pml_losses.SupConLoss(temperature=temperature)(flat, labels.repeat(v))
    torch.testing.assert_close(L.supcon(features, labels, temperature=temperature), theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("temperature", [0.05, 0.1, 1.0])
def test_info_nce_in_batch_equals_info_nce_pytorch(temperature):
    q, p = _views(9, 12, seed=2)
    theirs = info_nce_pytorch.InfoNCE(temperature=temperature)(q, p)
    torch.testing.assert_close(L.info_nce(q, p, temperature=temperature), theirs, rtol=1e-10, atol=1e-12)
    symmetric = (theirs + info_nce_pytorch.InfoNCE(temperature=temperature)(p, q)) / 2
    torch.testing.assert_close(L.info_nce(q, p, temperature=temperature, symmetric=True), symmetric,
                               rtol=1e-10, atol=1e-12)


def test_info_nce_with_shared_negatives_equals_info_nce_pytorch_unpaired():
    q, p = _views(7, 12, seed=3)
    negatives = torch.randn(20, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    theirs = info_nce_pytorch.InfoNCE(temperature=0.1, negative_mode="unpaired")(q, p, negatives)
    torch.testing.assert_close(L.info_nce(q, p, negatives, temperature=0.1), theirs, rtol=1e-10, atol=1e-12)


def test_info_nce_with_per_query_negatives_equals_info_nce_pytorch_paired():
    q, p = _views(7, 12, seed=5)
    negatives = torch.randn(7, 5, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    theirs = info_nce_pytorch.InfoNCE(temperature=0.2, negative_mode="paired")(q, p, negatives)
    torch.testing.assert_close(L.info_nce(q, p, negatives, temperature=0.2), theirs, rtol=1e-10, atol=1e-12)


def test_clip_loss_equals_the_two_info_nce_pytorch_directions():
    a, b = _views(10, 8, seed=7)
    scale = 1 / 0.07
    loss = info_nce_pytorch.InfoNCE(temperature=1 / scale)
    torch.testing.assert_close(L.clip_loss(a, b, logit_scale=scale), (loss(a, b) + loss(b, a)) / 2,
                               rtol=1e-10, atol=1e-12)


def test_vicreg_equals_pml_vicreg():
    z1, z2 = _views(32, 8, seed=8)
    theirs = pml_losses.VICRegLoss()(z1, ref_emb=z2)
    torch.testing.assert_close(L.vicreg(z1, z2), theirs, rtol=1e-10, atol=1e-12)


def test_float32_agreement_with_pml_at_a_typical_size():
    z1, z2 = _views(256, 128, seed=9, dtype=torch.float32)
    labels = torch.arange(256)
    theirs = pml_losses.NTXentLoss(temperature=0.1)(torch.cat([z1, z2]), torch.cat([labels, labels]))
    torch.testing.assert_close(L.nt_xent(z1, z2, temperature=0.1), theirs, rtol=1e-5, atol=1e-5)
