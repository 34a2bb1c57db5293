"""Bugs the fuzz suite found in the losses, kept as plain regression tests: a subnormal beta in the
hard-negative loss (0 * -inf in float32) and the unchecked arguments of ``negative_logits``."""

import pytest
import torch

import contrastlab.losses as L

Z = torch.tensor([[1.5410e-30], [-2.9343e-31]])
Z2 = torch.tensor([[6.6135e-31], [2.6692e-31]])


def test_hard_negative_nt_xent_with_a_subnormal_beta_is_finite():
    assert torch.isfinite(L.hard_negative_nt_xent(Z, Z, temperature=1.0, tau_plus=0.0, beta=2.4e-135))


def test_hard_negative_nt_xent_with_a_subnormal_beta_matches_float64():
    got = L.hard_negative_nt_xent(Z, Z2, temperature=1.0, tau_plus=0.5, beta=2.4e-135)
    want = L.hard_negative_nt_xent(Z.double(), Z2.double(), temperature=1.0, tau_plus=0.5, beta=2.4e-135)
    torch.testing.assert_close(got.double(), want, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("bad", [dict(temperature=0), dict(temperature="0.1"), dict(z1=None), dict(z1=[[1.0]])])
def test_negative_logits_refuses_bad_arguments_by_name(bad):
    args = {**dict(z1=torch.randn(3, 2), z2=torch.randn(3, 2), temperature=0.1), **bad}
    name = next(iter(bad))
    with pytest.raises((ValueError, TypeError), match=name):
        L.negative_logits(args["z1"], args["z2"], args["temperature"])

# barlow_twins and vicreg at 1e20: tests/losses/test_overflow.py
