"""Gradients (gradcheck), small temperatures, half-precision inputs and devices."""

import functools

import pytest
import torch

import contrastlab.losses as L

from .cases import BY_NAME, CASES, TILED, float_inputs, make_inputs


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_gradcheck_float64(case):
    inputs = make_inputs(case, 4, 3, seed=21)
    which = float_inputs(inputs)
    if case.name == "negative_cosine":
        which = [0]  # the target is detached inside: its gradient is zero by design

    def f(*xs):
        args = list(inputs)
        for i, x in zip(which, xs):
            args[i] = x
        return case.loss(*args, **case.kwargs)

    leaves = [inputs[i].clone().requires_grad_() for i in which]
    assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_negative_cosine_detaches_the_target():
    p, z = (x.requires_grad_() for x in make_inputs(BY_NAME["negative_cosine"], 4, 3, seed=22))
    L.negative_cosine(p, z).backward()
    assert p.grad is not None and float(p.grad.abs().sum()) > 0
    assert z.grad is None


@pytest.mark.parametrize("loss", [L.info_nce, L.nt_xent, L.decoupled_nt_xent, L.debiased_nt_xent,
                                  L.hard_negative_nt_xent, functools.partial(L.filtered_nt_xent, threshold=0.3)],
                         ids=["info_nce", "nt_xent", "decoupled_nt_xent", "debiased_nt_xent", "hard_negative_nt_xent",
                              "filtered_nt_xent"])
def test_gradcheck_through_a_learnable_temperature(loss):
    z1, z2 = make_inputs(BY_NAME["nt_xent"], 4, 3, seed=23)
    temperature = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: loss(z1, z2, temperature=t), [temperature])


def test_gradcheck_through_a_learnable_logit_scale_and_bias():
    a, b = make_inputs(BY_NAME["clip_loss"], 4, 3, seed=24)
    scale = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: L.clip_loss(a, b, logit_scale=s), [scale])
    negatives = make_inputs(BY_NAME["clip_loss_with_negatives"], 4, 3, seed=24)[2]
    assert torch.autograd.gradcheck(lambda s: L.clip_loss_with_negatives(a, b, negatives, logit_scale=s), [scale])
    assert torch.autograd.gradcheck(lambda s, c: L.siglip_loss(a, b, logit_scale=s, logit_bias=c), [scale, bias])


SMALL_TAU = {
    "info_nce": {"temperature": 0.005},
    "info_nce_symmetric": {"temperature": 0.005, "symmetric": True},
    "info_nce_shared_negatives": {"temperature": 0.005},
    "info_nce_per_query_negatives": {"temperature": 0.005},
    "nt_xent": {"temperature": 0.005},
    "decoupled_nt_xent": {"temperature": 0.005},
    "debiased_nt_xent": {"temperature": 0.005, "tau_plus": 0.1},
    "hard_negative_nt_xent": {"temperature": 0.005, "tau_plus": 0.1, "beta": 1.0},
    "filtered_nt_xent_threshold": {"temperature": 0.005, "threshold": 0.3},
    "filtered_nt_xent_clusters_and_threshold": {"temperature": 0.005, "threshold": 0.5},
    "clip_loss": {"logit_scale": 200.0},
    "clip_loss_with_negatives": {"logit_scale": 200.0},
    "siglip_loss": {"logit_scale": 200.0, "logit_bias": -10.0},
    "supcon": {"temperature": 0.005},
}
SMALL_TAU.update({f"{name}_tiled": SMALL_TAU[name] for name in TILED})


@pytest.mark.parametrize("name", sorted(SMALL_TAU))
def test_small_temperature_in_float32_is_finite_and_correct(name):
    """At tau = 0.005 the logits reach 200: exp would overflow float32, log-sum-exp does not."""
    case, kwargs = BY_NAME[name], SMALL_TAU[name]
    inputs64 = make_inputs(case, 16, 8, seed=25)
    grads = {}
    values = {}
    for dtype in (torch.float32, torch.float64):
        inputs = [x.to(dtype).requires_grad_() if x.is_floating_point() else x for x in inputs64]
        value = case.loss(*inputs, **kwargs)
        value.backward()
        values[dtype] = value.detach()
        grads[dtype] = [x.grad for x in inputs if x.is_floating_point()]
        assert value.dtype == dtype
        assert torch.isfinite(value)
        assert all(torch.isfinite(g).all() for g in grads[dtype])
    # float32 rounding of the logits is about 1e-7 * 200; the loss and gradients inherit that
    torch.testing.assert_close(values[torch.float32].double(), values[torch.float64], rtol=1e-4, atol=1e-3)
    for g32, g64 in zip(grads[torch.float32], grads[torch.float64]):
        scale = float(g64.abs().max())
        torch.testing.assert_close(g32.double(), g64, rtol=0, atol=2e-3 * max(scale, 1e-3))


@pytest.mark.parametrize("half", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_half_precision_inputs_are_computed_in_float32(case, half):
    inputs = [x.to(half) if x.is_floating_point() else x for x in make_inputs(case, 6, 5, seed=26)]
    leaves = [x.requires_grad_() if x.is_floating_point() else x for x in inputs]
    value = case.loss(*leaves, **case.kwargs)
    assert value.dtype == torch.float32
    upcast = [x.detach().float() if x.is_floating_point() else x for x in inputs]
    torch.testing.assert_close(value.detach(), case.loss(*upcast, **case.kwargs), rtol=1e-6, atol=1e-6)
    value.backward()
    grad = leaves[0].grad
    assert grad is not None and grad.dtype == half and torch.isfinite(grad).all()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_runs_on_the_inputs_device(case, device):
    inputs64 = make_inputs(case, 8, 6, seed=27)
    dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    inputs = [x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device) for x in inputs64]
    leaves = [x.requires_grad_() if x.is_floating_point() else x for x in inputs]
    value = case.loss(*leaves, **case.kwargs)
    assert value.device.type == device.type
    value.backward()
    assert leaves[0].grad.device.type == device.type
    expected = case.loss(*inputs64, **case.kwargs)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(value.detach().cpu().double(), expected, rtol=tol, atol=tol)


def test_learnable_logit_scale():
    module = L.LearnableLogitScale()
    assert float(module().detach()) == pytest.approx(1 / 0.07)
    assert module.temperature == pytest.approx(0.07)
    with torch.no_grad():
        module.log_scale.fill_(10.0)  # an optimiser step past the cap
    assert float(module().detach()) == pytest.approx(100.0)
    assert float(module.log_scale.detach()) == pytest.approx(torch.log(torch.tensor(100.0)).item())  # parameter clamped
    a, b = make_inputs(BY_NAME["clip_loss"], 6, 4, seed=28)
    # a gradient that lowers the scale still reaches the parameter at the cap
    loss = L.clip_loss(-a, a, logit_scale=module())
    loss.backward()
    assert float(module.log_scale.grad) > 0
