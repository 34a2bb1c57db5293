"""Shared fixtures: the devices every device-agnostic test runs on."""

import pytest
import torch


def _devices():
    yield "cpu"
    yield pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device")])
    yield pytest.param("mps", marks=pytest.mark.skipif(
        not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()), reason="no MPS device"))


@pytest.fixture(params=list(_devices()))
def device(request):
    """Each test using this fixture runs on the CPU, and on CUDA / MPS where present."""
    return torch.device(request.param)


@pytest.fixture
def caller_threads():
    """The caller's own torch thread count, set to one the policy never picks (3), and put back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)
