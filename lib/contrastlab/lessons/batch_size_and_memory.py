r"""Lesson 08's helpers: memory, measured.

(The lesson's toy, class clusters beside nuisance that the views redraw, mixed by a fixed rotation, is
``data.nuisance_clusters(..., rotate=True)``.)

A dense in-batch contrastive loss builds an (N, N) logit matrix (``(2N, 2N)`` for NT-Xent) and
autograd keeps it, or its log-softmax, until the backward pass: O(N^2) bytes. The tiled path
(``losses/tiled.py``) never holds it. These helpers measure the difference on any device:

- ``peak_memory(fn)``: the peak, over one call of ``fn()``, of the bytes of tensor memory allocated
  inside the call and still alive (what was allocated before the call is not counted). Three ways:

  * ``"cuda"``: ``torch.cuda.max_memory_allocated`` minus ``memory_allocated`` before the call
    (bytes handed out by the CUDA caching allocator: tensor storage, rounded to its blocks);
  * ``"tensors"``: on any device, a ``TorchDispatchMode`` sees every operator (forward and backward,
    custom ``autograd.Function`` included), adds the size of each *new* storage an operator returns
    and subtracts it when a weak reference says the storage was freed. Views, in-place ops and
    ``out=`` ops return an existing storage and add nothing. This counts tensor bytes exactly as
    the allocator is asked for them, without allocator caching or fragmentation;
  * ``"rss"`` (Linux): the process's resident-set high-water mark (``VmHWM`` after resetting it
    through ``/proc/self/clear_refs``) minus its resident set before the call: what the operating
    system saw, allocator overheads and all (it can under-count when freed memory is reused).

- ``saved_tensor_bytes(fn)``: the bytes of the distinct storages autograd saves for the backward
  pass while ``fn()`` runs (``torch.autograd.graph.saved_tensors_hooks``): the memory a training step
  must keep between its forward and its backward, which the loss's formula alone does not show.

All three peaks measure one call; run a small warm-up call first so that one-off allocations
(kernels, thread pools, caches) are not charged to the measured one.

Planning the seeds of section 3's paired test (the power of its interval, from a pilot) is
``contrastlab.stats.expected_half_width``, ``interval_power`` and ``seeds_needed``.

References: Cheng et al. 2024 (Inf-CL) and Gao et al. 2021 (GradCache) on the memory of large
contrastive batches; PyTorch's ``torch.cuda.memory`` notes on the caching allocator.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

from .. import validation as check

__all__ = ["PeakMemory", "SavedTensors", "peak_memory", "saved_tensor_bytes", "rss_available", "METHODS"]

METHODS = ("auto", "cuda", "tensors", "rss")
_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"


@dataclass(frozen=True)
class PeakMemory:
    """What ``peak_memory`` measured: ``peak_bytes`` above the memory in use before the call, the
    ``method`` that measured it ("cuda", "tensors" or "rss"), and ``fn``'s return value."""

    peak_bytes: int
    method: str
    result: Any = field(default=None, repr=False, compare=False)

    @property
    def mib(self) -> float:
        """The peak in MiB (2**20 bytes)."""
        return self.peak_bytes / 2**20


@dataclass(frozen=True)
class SavedTensors:
    """What ``saved_tensor_bytes`` measured: the bytes and number of distinct storages saved for
    backward, and ``fn``'s return value."""

    bytes: int
    count: int
    result: Any = field(default=None, repr=False, compare=False)

    @property
    def mib(self) -> float:
        return self.bytes / 2**20


# ---------------------------------------------------------------------------------------------
# checks

def _callable(fn: object) -> Callable[[], Any]:
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no arguments (e.g. a lambda), got {type(fn).__name__}")
    return fn


def _device(device: object) -> torch.device:
    if device is None:
        return torch.device("cpu")
    check.instance("device", device, (str, torch.device), "a torch.device or a device string like 'cpu' or 'cuda'",
                   optional=True)
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be None, a torch.device or a device string like 'cpu' or 'cuda', "
                         f"got {device!r}") from error


def rss_available() -> bool:
    """Whether the ``"rss"`` method works here (Linux with a writable ``/proc/self/clear_refs``)."""
    return os.path.exists(_CLEAR_REFS) and os.access(_CLEAR_REFS, os.W_OK) and os.path.exists(_STATUS)


def _resolve(method: object, device: torch.device) -> str:
    method = check.choice("method", method, METHODS)
    if method == "auto":
        return "cuda" if device.type == "cuda" else "tensors"
    if method == "cuda" and device.type != "cuda":
        raise ValueError(f'method="cuda" measures a CUDA device, got device={str(device)!r}')
    if method == "cuda" and not torch.cuda.is_available():
        raise ValueError('method="cuda" needs CUDA, which is not available here')
    if method == "rss" and not rss_available():
        raise ValueError('method="rss" needs Linux\'s /proc/self/clear_refs (not available here); '
                         'use method="tensors"')
    return method


# ---------------------------------------------------------------------------------------------
# the three measurements

class _LiveTensorBytes(TorchDispatchMode):
    """Counts the bytes of storages created by operators while active, and their peak.

    A storage seen first as an operator's *input* existed before (or came from outside the
    dispatcher) and counts 0; one seen first as an *output* is new and counts its size until a weak
    reference reports it freed.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # PyTorch wraps a mode's __torch_dispatch__ in torch._dynamo.disable unless this says False;
        # that wrapper imports torch._dynamo on first use (seconds). Nothing here is ever compiled.
        return False

    def __init__(self, device_type: str) -> None:
        super().__init__()
        self.device_type = device_type
        self.current = 0
        self.peak = 0
        self._bytes: WeakIdKeyDictionary = WeakIdKeyDictionary()  # storage -> bytes counted for it
        self._refs: dict[int, Any] = {}  # keeps the weakrefs (and their callbacks) alive

    def _storages(self, tree) -> list:
        found = []
        for t in tree_flatten(tree)[0]:
            if isinstance(t, Tensor) and t.device.type == self.device_type:
                try:
                    found.append(t.untyped_storage())
                except (RuntimeError, NotImplementedError):  # e.g. sparse or meta tensors
                    pass
        return found

    def _freed(self, key: int, nbytes: int) -> None:
        self.current -= nbytes
        self._refs.pop(key, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        for storage in self._storages((args, kwargs)):
            if storage not in self._bytes:
                self._bytes[storage] = 0  # existed before: not charged to the call
        out = func(*args, **(kwargs or {}))
        for storage in self._storages(out):
            if storage in self._bytes:
                continue
            nbytes = storage.nbytes()
            self._bytes[storage] = nbytes
            key = id(storage)
            self._refs[key] = weakref.ref(storage, lambda _, key=key, nbytes=nbytes: self._freed(key, nbytes))
            self.current += nbytes
            self.peak = max(self.peak, self.current)
        return out


def _status_kib(field_name: str) -> int:
    with open(_STATUS) as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{_STATUS} has no {field_name} line")


def peak_memory(fn: Callable[[], Any], *, device: torch.device | str | None = None,
                method: str = "auto") -> PeakMemory:
    """The peak memory of one call of ``fn()`` above what was in use before it.

    Args:
        fn: a callable taking no arguments, e.g. ``lambda: loss(z1, z2).backward()``.
        device: the device whose memory to measure; None for the CPU.
        method: "auto" ("cuda" on a CUDA device, else "tensors"), "cuda", "tensors" or "rss"
            (see the module docstring for what each counts).
    Returns: ``PeakMemory(peak_bytes, method, result)``.
    """
    fn = _callable(fn)
    device = _device(device)
    how = _resolve(method, device)
    if how == "cuda":
        gc.collect()  # garbage freed during the call would otherwise hide part of its peak
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        result = fn()
        torch.cuda.synchronize(device)
        return PeakMemory(max(0, torch.cuda.max_memory_allocated(device) - before), how, result)
    if how == "rss":
        gc.collect()
        with open(_CLEAR_REFS, "w") as f:
            f.write("5")  # reset VmHWM to the current resident set
        before = _status_kib("VmRSS")
        result = fn()
        return PeakMemory(max(0, _status_kib("VmHWM") - before) * 1024, how, result)
    tracker = _LiveTensorBytes(device.type)
    with tracker:
        result = fn()
    return PeakMemory(tracker.peak, how, result)


def saved_tensor_bytes(fn: Callable[[], Any]) -> SavedTensors:
    """The bytes of the distinct storages autograd saves for backward while ``fn()`` runs.

    Every tensor an operator (or a custom ``autograd.Function``) saves for its backward passes
    through ``torch.autograd.graph.saved_tensors_hooks``; a storage saved twice (or through two
    views) counts once. Inputs that are saved count too: the backward pass needs them kept.

    Args:
        fn: a callable taking no arguments that runs a forward pass, e.g. ``lambda: loss(z1, z2)``.
    Returns: ``SavedTensors(bytes, count, result)``.
    """
    fn = _callable(fn)
    seen: WeakIdKeyDictionary = WeakIdKeyDictionary()
    total = {"bytes": 0, "count": 0}

    def pack(t: Tensor) -> Tensor:
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return t
        if storage not in seen:
            seen[storage] = True
            total["bytes"] += storage.nbytes()
            total["count"] += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    return SavedTensors(total["bytes"], total["count"], result)
