"""Encoders, heads and the momentum / EMA helpers."""

import pytest
import torch
from torch import nn

from contrastlab import models


def test_mlp_shapes_and_norms():
    x = torch.randn(5, 7)
    assert models.mlp(7, 16, 3)(x).shape == (5, 3)
    net = models.mlp(7, 16, 3, n_layers=3, norm="layer")
    assert sum(isinstance(m, nn.LayerNorm) for m in net) == 2 and net(x).shape == (5, 3)
    assert len(models.mlp(7, 16, 3, n_layers=1)) == 1
    with pytest.raises(ValueError, match="norm must be"):
        models.mlp(7, 16, 3, norm="group")


def test_small_cnn_and_default_encoders():
    images = torch.rand(4, 1, 8, 8)
    assert models.SmallCNN(out_dim=10)(images).shape == (4, 10)
    enc = models.build_encoder((1, 8, 8), feature_dim=24, out_dim=12)
    assert enc.features(images).shape == (4, 24) and enc(images).shape == (4, 12)
    vec = models.build_encoder((16,), head=False, feature_dim=8)
    assert vec(torch.randn(3, 16)).shape == (3, 8)
    rgb = models.build_encoder((3, 32, 32), feature_dim=8)
    assert rgb.features(torch.rand(2, 3, 32, 32)).shape == (2, 8)
    assert rgb.backbone.net[0].stride == (2, 2) and enc.backbone.net[0].stride == (1, 1)  # downsample above 16 px
    with pytest.raises(ValueError, match="build_encoder knows"):
        models.build_encoder((2, 32, 32))


def test_momentum_update_and_ema_schedule():
    online, target = nn.Linear(3, 2), nn.Linear(3, 2)
    before = target.weight.detach().clone()
    models.momentum_update(target, online, 0.5)
    torch.testing.assert_close(target.weight, (before + online.weight.detach()) / 2)
    models.momentum_update(target, online, 0.0)
    torch.testing.assert_close(target.weight, online.weight.detach())
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \[0.0, 1.0\], got 1.5"):
        models.momentum_update(target, online, 1.5)
    ema = models.EMATarget(online, base_momentum=0.9, total_steps=100)
    assert ema.momentum(0) == pytest.approx(0.9) and ema.momentum(100) == pytest.approx(1.0)
    assert ema.momentum(0) < ema.momentum(50) < ema.momentum(100)
    assert not any(p.requires_grad for p in ema.parameters())
