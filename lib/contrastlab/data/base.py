"""The container every toy dataset returns: clean inputs, labels, latent factors and fresh views."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .. import validation as check


def per_sample(**kwargs):
    """A dataclass field holding one row per sample: indexed by ``subset`` and ``split``."""
    return field(metadata={"per_sample": True}, **kwargs)


@dataclass(kw_only=True)
class ToyData:
    """A seeded toy dataset.

    Attributes:
        x: (N, ...) clean inputs, what an encoder sees at evaluation time.
        labels: (N,) long class labels (ground truth for kNN, probes and oracle negatives).
        latents: (N, K) ground-truth latent factors, or None.
        knobs: the generator's arguments, for plots and sweep tables.

    ``views(idx, n_views=2, generator=g)`` draws fresh random views of the samples ``idx``;
    subclasses define how one view is made (``_view``). ``to(device)`` moves every tensor.
    """

    x: Tensor = per_sample()
    labels: Tensor = per_sample()
    latents: Tensor | None = per_sample(default=None)
    knobs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def name(self) -> str:
        return type(self).__name__

    def _view(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        """One random view of the samples ``idx``: (B, ...) like ``x[idx]``. Default: no augmentation."""
        return self.x[idx]

    def generator(self, seed: int = 0) -> torch.Generator:
        """A generator on the data's device, for reproducible views."""
        return torch.Generator(device=self.device).manual_seed(check.seed("seed", seed))

    def index(self, idx: Tensor | None) -> Tensor:
        """(B,) long row indices on the data's device: ``idx`` checked (a 1-d integer tensor of values in
        [0, N), ``validation.indices``), or every row when None."""
        if idx is None:
            return torch.arange(len(self), device=self.device)
        return check.indices("idx", idx, len(self), self.device)

    def views(self, idx: Tensor | None = None, *, n_views: int = 2,
              generator: torch.Generator | None = None) -> Tensor:
        """(B, V, ...) ``n_views`` independent random views of the samples ``idx`` (all samples if None).

        ``idx`` is a 1-d integer tensor of row indices in [0, N) (a list, a float or an index out of
        range is refused by name); ``generator`` a ``torch.Generator`` or None (then ``generator()``).
        """
        n_views = check.integer("n_views", n_views, 1)
        idx = self.index(idx)
        check.instance("generator", generator, torch.Generator, "a torch.Generator", optional=True)
        generator = generator or self.generator()
        return torch.stack([self._view(idx, generator) for _ in range(n_views)], dim=1)

    def _tensor_fields(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                yield f, value

    def to(self, device: torch.device | str) -> "ToyData":
        """A copy with every tensor on ``device``."""
        return dataclasses.replace(self, **{f.name: v.to(device) for f, v in self._tensor_fields()})

    def subset(self, idx: Tensor) -> "ToyData":
        """A copy restricted to the samples ``idx`` (per-sample fields indexed, the rest shared); ``idx`` is
        checked like ``views``'s."""
        idx = self.index(idx)
        return dataclasses.replace(self, **{f.name: v[idx] for f, v in self._tensor_fields()
                                            if f.metadata.get("per_sample")})

    def split(self, test_fraction: float = 0.25, *, seed: int = 0) -> tuple["ToyData", "ToyData"]:
        """A seeded random (train, test) split; both sides hold at least one sample.

        The test side gets ``round(test_fraction * N)`` samples, at least one; a fraction that would
        leave the training side empty (0.999 of 100 samples) is a ``ValueError`` naming ``test_fraction``.
        """
        test_fraction = check.probability("test_fraction", test_fraction, low_open=True, high_open=True)
        generator = torch.Generator().manual_seed(check.seed("seed", seed))
        n = len(self)
        if n < 2:
            raise ValueError(f"test_fraction cannot split {n} sample(s) into two non-empty sides: "
                             f"the data must hold at least 2 samples")
        n_test = max(1, round(test_fraction * n))
        if n_test > n - 1:
            raise ValueError(f"test_fraction must leave at least one training sample: {test_fraction} of {n} "
                             f"samples rounds to {n_test} test samples; use at most {(n - 1) / n:.4g}")
        order = torch.randperm(n, generator=generator).to(self.device)
        return self.subset(order[n_test:]), self.subset(order[:n_test])

    def dataset(self) -> torch.utils.data.TensorDataset:
        """A ``TensorDataset`` of (index, label) pairs for a standard ``DataLoader``; views are made
        from the indices (``views(idx)``), so every epoch sees fresh augmentations."""
        return torch.utils.data.TensorDataset(torch.arange(len(self), device=self.device), self.labels)


# --- helpers shared by the generators (their argument checks are contrastlab.validation's) -------

def rng(seed: int) -> np.random.Generator:
    """The datasets are built with NumPy in float64 on the CPU, so a seed gives the same data on every device.

    ``seed`` is checked by ``validation.seed``: every generator rejects ``seed=-1`` (ValueError) and
    ``seed="1"`` (TypeError) the same way.
    """
    return np.random.default_rng(check.seed("seed", seed))


def tensor(array: np.ndarray, device, dtype=torch.float32) -> Tensor:
    return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)


def class_counts(n: int, n_classes: int, imbalance: float) -> np.ndarray:
    """Class sizes summing to n with a geometric long tail: the largest class is ``imbalance`` times the
    smallest (1 = balanced); every class gets at least one sample."""
    imbalance = check.number("imbalance", imbalance, low=1.0)
    if n < n_classes:
        raise ValueError(f"n must be at least n_classes={n_classes} so that every class has a sample, got {n}")
    weights = float(imbalance) ** (-np.arange(n_classes) / max(n_classes - 1, 1))
    counts = np.maximum(1, np.floor(n * weights / weights.sum())).astype(int)
    counts[0] += n - counts.sum()  # rounding remainder to the largest class
    return counts


def random_unit_vectors(generator: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = generator.standard_normal((n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def sample_vmf(generator: np.random.Generator, mean: np.ndarray, kappa: float) -> np.ndarray:
    """Samples from von Mises-Fisher distributions on S^{d-1} (Wood 1994), one per row of ``mean`` (n, d)."""
    n, d = mean.shape
    if kappa == 0:
        return random_unit_vectors(generator, n, d)
    b = (d - 1) / (2 * kappa + np.sqrt(4 * kappa**2 + (d - 1) ** 2))
    x0 = (1 - b) / (1 + b)
    c = kappa * x0 + (d - 1) * np.log(1 - x0**2)
    w = np.empty(n)
    todo = np.arange(n)
    while len(todo):  # rejection sampling of the cosine w = muᵀx
        z = generator.beta((d - 1) / 2, (d - 1) / 2, size=len(todo))
        cand = (1 - (1 + b) * z) / (1 - (1 - b) * z)
        accept = kappa * cand + (d - 1) * np.log(1 - x0 * cand) - c >= np.log(generator.uniform(size=len(todo)))
        w[todo[accept]] = cand[accept]
        todo = todo[~accept]
    v = generator.standard_normal((n, d))
    v -= (v * mean).sum(1, keepdims=True) * mean  # tangent direction, orthogonal to the mean
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return w[:, None] * mean + np.sqrt(np.clip(1 - w**2, 0, None))[:, None] * v
