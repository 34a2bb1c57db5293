"""runtime: the default device and the thread policy for training the kit's small models."""

import pytest
import torch

import contrastlab
from contrastlab import runtime
from contrastlab.runtime import TRAINING_THREADS, check_threads, policy_threads, training_threads


def test_default_device_is_the_runtime_one():
    assert contrastlab.default_device is runtime.default_device
    assert runtime.default_device().type in ("cuda", "mps", "cpu")


def test_the_policy_is_one_thread_on_the_cpu_and_hands_off_on_accelerators():
    assert TRAINING_THREADS == 1
    assert policy_threads("cpu") == 1 and policy_threads(torch.device("cpu")) == 1
    assert policy_threads("cuda") is None and policy_threads("mps") is None  # the accelerator does the work
    assert policy_threads("cuda", threads=4) == 4 and policy_threads("cpu", threads=2) == 2
    assert policy_threads(None) == (1 if runtime.default_device().type == "cpu" else None)


def test_training_threads_sets_then_restores(caller_threads):
    with training_threads("cpu") as inside:
        assert inside == torch.get_num_threads() == 1
    assert torch.get_num_threads() == caller_threads
    with training_threads("cpu", threads=2) as inside:
        assert inside == torch.get_num_threads() == 2
    assert torch.get_num_threads() == caller_threads
    with training_threads("cuda") as inside:  # no CUDA needed: the policy leaves the count alone
        assert inside == torch.get_num_threads() == caller_threads


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_training_threads_restores_on_errors_and_after_a_reset_inside(caller_threads, error):
    with pytest.raises(error):
        with training_threads("cpu"):
            torch.set_num_threads(2)  # as numba's OpenMP start-up may do
            raise error()
    assert torch.get_num_threads() == caller_threads


def test_bad_thread_counts_are_refused_with_the_arguments_name():
    assert check_threads(None) is None and check_threads(4) == 4
    for bad in (0, -2):
        with pytest.raises(ValueError, match=rf"threads must be None \(the policy\) or an int >= 1, got {bad}"):
            check_threads(bad)
    for bad in (1.0, "1", True):
        with pytest.raises(TypeError, match=r"threads must be None \(the policy\) or an int >= 1, got"):
            check_threads(bad)
    with pytest.raises(ValueError, match="threads"):
        with training_threads("cpu", threads=0):
            pass
