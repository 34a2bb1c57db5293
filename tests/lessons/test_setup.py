"""lessons.setup: a notebook's first cell in one call (seed, device, thread policy, fast mode)."""

import dataclasses

import pytest
import torch

import contrastlab
from contrastlab.lessons import Lesson, setup
from contrastlab.runtime import default_device


@pytest.fixture(autouse=True)
def keep_threads_and_rng():
    """setup() changes process-wide state on purpose; put it back for the other tests."""
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    torch.set_num_threads(3)  # a count the policy never picks
    yield
    torch.set_num_threads(threads)
    torch.set_rng_state(rng)


def test_setup_seeds_torch_like_manual_seed(monkeypatch):
    monkeypatch.delenv("CONTRASTLAB_FAST", raising=False)
    setup(seed=7, quiet=True)
    a = torch.rand(5)
    torch.manual_seed(7)
    assert torch.equal(a, torch.rand(5))  # the notebooks' results stay what torch.manual_seed(0) gave


def test_setup_picks_the_default_device_and_one_thread_on_the_cpu(monkeypatch):
    monkeypatch.delenv("CONTRASTLAB_FAST", raising=False)
    lesson = setup(quiet=True)
    assert lesson.device == default_device() and lesson.seed == 0 and lesson.fast is False
    expected = 1 if lesson.device.type == "cpu" else 3  # the policy leaves an accelerator's host threads alone
    assert lesson.threads == torch.get_num_threads() == expected


def test_setup_on_an_accelerator_leaves_the_threads_alone_and_threads_overrides():
    assert setup(device="cuda", quiet=True).threads == 3  # no CUDA needed: nothing runs there
    assert setup(device="cpu", threads=2, quiet=True).threads == torch.get_num_threads() == 2


@pytest.mark.parametrize("value, fast", [("1", True), ("0", False), ("", False), ("yes", False)])
def test_fast_mode_comes_from_the_environment(monkeypatch, value, fast):
    monkeypatch.setenv("CONTRASTLAB_FAST", value)
    assert setup(quiet=True).fast is fast
    assert setup(fast=not fast, quiet=True).fast is (not fast)  # an explicit value wins


def test_setup_prints_one_line(monkeypatch, capsys):
    monkeypatch.setenv("CONTRASTLAB_FAST", "1")
    lesson = setup(device="cpu")
    assert capsys.readouterr().out == (f"contrastlab {contrastlab.__version__} · device cpu · 1 torch thread · "
                                       "fast mode on\n")
    assert str(dataclasses.replace(lesson, threads=2, fast=False)).endswith("· 2 torch threads · fast mode off")


def test_the_result_is_frozen(monkeypatch):
    lesson = setup(quiet=True)
    assert isinstance(lesson, Lesson)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lesson.fast = True


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"seed must be an int >= 0, got -1"):
        setup(seed=-1)
    with pytest.raises(ValueError, match=r"seed must be an int >= 0, got 0.5"):
        setup(seed=0.5)
    with pytest.raises(ValueError, match=r"threads must be None \(the policy\) or an int >= 1, got 0"):
        setup(threads=0)
    with pytest.raises(TypeError, match=r"threads must be"):
        setup(threads="1")
    with pytest.raises(TypeError, match=r"fast must be None \(read CONTRASTLAB_FAST\) or a bool, got '1'"):
        setup(fast="1")
    assert torch.get_num_threads() == 3  # a refused call changes nothing
