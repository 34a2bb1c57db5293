"""Large but finite inputs and extreme temperatures: the right answer or a named error, never log N.

Reproducers (issue "Reliability: no silent garbage"): ``info_nce(1e20 * q, 1e20 * p)`` in float32 (squared
norm 1e40 > float32's 3.4e38) and bf16 rows near 1e30 used to normalise to zero rows and return log N
(``negative_cosine`` -0.0); a temperature of 1e-39 passed the check and gave NaN.
"""

from __future__ import annotations

import math

import pytest
import torch

import contrastlab.losses as L
from contrastlab import validation as check
from contrastlab.losses.core import l2_normalize

from .cases import CASES, float_inputs, make_inputs

# barlow_twins and vicreg do not normalise rows: their batch statistics would overflow float32 (a
# variance of 1e40), so they compute them in float64 for inputs that large.
NOT_NORMALISED = {"barlow_twins", "vicreg"}

# (input dtype, scale): a float32 row of 1e20s and a bf16 row of 2**100 (about 1.3e30, a power of two,
# so the bf16 values are exactly the unscaled bf16 values times 2**100)
SCALES = [(torch.float32, 1e20), (torch.bfloat16, 2.0 ** 100)]


def _scaled_and_unscaled(case, dtype, scale):
    inputs = list(make_inputs(case, n=6, d=5, seed=3, dtype=torch.float32))
    floats = float_inputs(inputs)
    base = [x.to(dtype) if i in floats else x for i, x in enumerate(inputs)]  # what the caller holds
    scaled = [x * scale if i in floats else x for i, x in enumerate(base)]
    unscaled = [x.double() if i in floats else x for i, x in enumerate(base)]  # exact: the same values / scale
    assert all(bool(torch.isfinite(scaled[i]).all()) for i in floats)
    return scaled, unscaled


@pytest.mark.parametrize("dtype,scale", SCALES, ids=["float32-1e20", "bf16-1e30"])
@pytest.mark.parametrize("case", [c for c in CASES if c.name not in NOT_NORMALISED], ids=lambda c: c.name)
def test_large_finite_inputs_give_the_unscaled_loss(case, dtype, scale):
    scaled, unscaled = _scaled_and_unscaled(case, dtype, scale)
    got = case.loss(*scaled, **case.kwargs)
    want = case.loss(*unscaled, **case.kwargs)  # float64, from the same values divided by the scale
    assert torch.isfinite(got), f"{case.name}: {got}"
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype,scale", SCALES, ids=["float32-1e20", "bf16-1e30"])
@pytest.mark.parametrize("case", [c for c in CASES if c.name in NOT_NORMALISED], ids=lambda c: c.name)
def test_losses_without_normalisation_do_not_overflow_silently(case, dtype, scale):
    scaled, unscaled = _scaled_and_unscaled(case, dtype, scale)
    got = case.loss(*scaled, **case.kwargs)
    if case.name == "barlow_twins":  # standardised per column: scale-invariant up to BatchNorm's eps
        torch.testing.assert_close(got.double(), case.loss(*unscaled, **case.kwargs), rtol=1e-3, atol=1e-4)
    else:  # vicreg grows with the scale: the float64 value of the scaled inputs, never inf or NaN
        want = case.loss(*[x.double() if x.is_floating_point() else x for x in scaled], **case.kwargs)
        assert torch.isfinite(got)
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=0)


def test_the_reproducers():
    g = torch.Generator().manual_seed(0)
    q, p = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    assert L.info_nce(1e20 * q, 1e20 * p).item() == pytest.approx(L.info_nce(q, p).item(), rel=1e-5)
    assert L.info_nce(1e20 * q, 1e20 * p).item() != pytest.approx(math.log(8))
    assert L.negative_cosine(1e20 * q, 1e20 * p).item() == pytest.approx(L.negative_cosine(q, p).item(), rel=1e-5)
    qb, pb = q.bfloat16(), p.bfloat16()
    assert L.info_nce(qb * 2.0 ** 100, pb * 2.0 ** 100).item() == pytest.approx(L.info_nce(qb, pb).item(), rel=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e18, 1e30])
def test_l2_normalize_gives_unit_rows_at_any_finite_scale(dtype, scale):
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    big = (x * scale).to(dtype)
    if not bool(torch.isfinite(big).all()) or not bool((big != 0).all()):
        pytest.skip(f"{scale} is not representable in {dtype}")
    u = l2_normalize(big)
    assert u.dtype == torch.promote_types(dtype, torch.float32)
    torch.testing.assert_close(u.double().norm(dim=1), torch.ones(5, dtype=torch.float64), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(u.double(), l2_normalize(big.double()), rtol=1e-6, atol=1e-6)


def test_l2_normalize_keeps_zero_rows_and_narrows_after_scaling():
    x = torch.tensor([[0.0, 0.0], [3e200, 4e200]], dtype=torch.float64)
    u = l2_normalize(x, torch.float32)  # a float64 row of 1e200s asked for in float32: scaled, then narrowed
    assert u.dtype == torch.float32
    torch.testing.assert_close(u, torch.tensor([[0.0, 0.0], [0.6, 0.8]]))


def test_l2_normalize_gradient_is_that_of_x_over_its_norm():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: l2_normalize(t), (x,))
    big = (1e150 * x).detach().requires_grad_(True)
    (l2_normalize(big) * torch.arange(3.0, dtype=torch.float64)).sum().backward()
    x.grad = None
    (x / x.norm(dim=1, keepdim=True) * torch.arange(3.0, dtype=torch.float64)).sum().backward()
    torch.testing.assert_close(big.grad * 1e150, x.grad)


# --- temperatures below float32's smallest normal number ----------------------------------------

TEMPERED = [c for c in CASES if "temperature" in c.kwargs]
SCALED = [c for c in CASES if "logit_scale" in c.kwargs]


@pytest.mark.parametrize("case", TEMPERED, ids=lambda c: c.name)
@pytest.mark.parametrize("temperature", [1e-39, 3e-39, 1e-45, torch.tensor(1e-39, dtype=torch.float64)],
                         ids=["1e-39", "3e-39", "1e-45", "tensor"])
def test_a_subnormal_temperature_is_refused_by_name(case, temperature):
    inputs = make_inputs(case, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"temperature must be .*torch\.finfo\(torch\.float32\)\.tiny"):
        case.loss(*inputs, **{**case.kwargs, "temperature": temperature})


@pytest.mark.parametrize("case", TEMPERED, ids=lambda c: c.name)
def test_the_smallest_accepted_temperature_gives_no_nan(case):
    inputs = make_inputs(case, dtype=torch.float32)
    got = case.loss(*inputs, **{**case.kwargs, "temperature": check.SMALLEST_POSITIVE})
    assert not torch.isnan(got), f"{case.name}: {got}"  # +inf is float32's honest answer for a loss ~1e38


@pytest.mark.parametrize("case", SCALED, ids=lambda c: c.name)
def test_a_logit_scale_beyond_float32_is_refused_by_name(case):
    inputs = make_inputs(case, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"logit_scale must be .*torch\.finfo\(torch\.float32\)\.max"):
        case.loss(*inputs, **{**case.kwargs, "logit_scale": 1e39})


@pytest.mark.parametrize("fn,kwargs", [
    (L.info_nce, dict(impl="tiled")), (L.nt_xent, dict(impl="tiled")), (L.nt_xent, {}),
    (L.supcon, None), (L.decoupled_nt_xent, {}),
], ids=["info_nce_tiled", "nt_xent_tiled", "nt_xent", "supcon", "decoupled"])
def test_tiled_and_other_paths_refuse_a_subnormal_temperature(fn, kwargs):
    z1, z2 = torch.randn(6, 4), torch.randn(6, 4)
    args = (torch.stack([z1, z2], 1), torch.arange(6) % 3) if kwargs is None else (z1, z2)
    with pytest.raises(ValueError, match="temperature"):
        fn(*args, **(kwargs or {}), temperature=1e-39)
