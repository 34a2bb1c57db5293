r"""Point sets on the hypersphere and the statistics of lesson 04 (alignment, uniformity, anisotropy).

- ``sphere_uniform``: samples of the uniform distribution on :math:`S^{d-1}`, the set whose uniformity
  ``metrics.uniform_sphere_uniformity`` gives in closed form;
- ``cone``: unit vectors crowded around one direction, an *anisotropic* set (Ethayarajh 2019);
- ``offset_last_layer``: pushes an encoder's outputs into such a cone by adding a constant to the bias
  of its last linear layer, the toy of a pretrained encoder whose embeddings are anisotropic;
- ``partial_spearman``: the rank correlation of two quantities with a third held fixed, for reading
  the alignment-uniformity plane (both axes trade off against each other across runs);
- ``spread_share``: where a uniformity value lies between a collapsed set (0) and the uniform sphere.

Like ``metrics``, nothing here knows about training or plotting.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import rankdata
from torch import Tensor, nn

from .. import validation as check

__all__ = ["sphere_uniform", "cone", "offset_last_layer", "partial_spearman", "spread_share"]


def _generator(generator: torch.Generator | None, seed: int) -> torch.Generator:
    """``generator`` if given, else a CPU generator seeded with ``seed`` (both checked)."""
    check.instance("generator", generator, torch.Generator, "a torch.Generator", optional=True)
    seed = check.seed("seed", seed)
    return generator if generator is not None else torch.Generator().manual_seed(seed)


def sphere_uniform(n: int, dim: int, *, generator: torch.Generator | None = None, seed: int = 0,
                   device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    r"""n samples of the uniform distribution on the unit sphere :math:`S^{dim-1} \subset \mathbb R^{dim}`.

    A standard Gaussian vector is rotation invariant, so its direction :math:`g/\lVert g\rVert` is
    uniform on the sphere (Muller 1959). Drawn on the CPU from ``generator`` (or ``seed``), so a seed
    gives the same points on every device. Returns: (n, dim) unit rows.
    """
    n, dim = check.integer("n", n, 1), check.integer("dim", dim, 2)
    g = torch.randn(n, dim, generator=_generator(generator, seed), dtype=torch.float64)  # (n, dim)
    return (g / g.norm(dim=1, keepdim=True)).to(device=device, dtype=dtype)


def cone(n: int, dim: int, *, spread: float = 0.2, direction: Tensor | None = None,
         generator: torch.Generator | None = None, seed: int = 0, device: torch.device | str = "cpu",
         dtype: torch.dtype = torch.float32) -> Tensor:
    r"""n unit vectors in a cone around ``direction``: :math:`\hat x_i = \mathrm{normalise}(e + \text{spread}\cdot\varepsilon_i)`.

    With :math:`\varepsilon_i \sim \mathcal N(0, I_{dim})`, the mean cosine between two points (the
    anisotropy) is about :math:`1/(1 + \text{spread}^2\,dim)`: near 1 for a narrow cone, near 0 as
    spread grows (the set tends to ``sphere_uniform``). ``direction`` defaults to the first axis.
    Returns: (n, dim) unit rows.
    """
    n, dim = check.integer("n", n, 1), check.integer("dim", dim, 2)
    spread = check.number("spread", spread, low=0.0)
    if direction is None:
        e = torch.zeros(dim, dtype=torch.float64)
        e[0] = 1.0
    else:
        check.tensor("direction", direction, ndim=1, dims=f"({dim},)")
        if direction.shape != (dim,):
            raise ValueError(f"direction must be a tensor of shape ({dim},), got shape {tuple(direction.shape)}")
        e = direction.detach().to("cpu", torch.float64)
        if not float(e.norm()) > 0 or not bool(torch.isfinite(e).all()):
            raise ValueError("direction must be a finite non-zero vector")
        e = e / e.norm()
    x = e + spread * torch.randn(n, dim, generator=_generator(generator, seed), dtype=torch.float64)  # (n, dim)
    return (x / x.norm(dim=1, keepdim=True)).to(device=device, dtype=dtype)


@torch.no_grad()
def offset_last_layer(module: nn.Module, offset: float, *, direction: Tensor | None = None,
                      generator: torch.Generator | None = None, seed: int = 0) -> Tensor:
    r"""Add ``offset`` times a unit vector to the bias of ``module``'s last ``nn.Linear``, in place.

    Every output then shares the constant vector ``offset * direction``: once the outputs are
    normalised they sit in a cone around ``direction``, narrower the larger ``offset`` is compared with
    the spread of the outputs. This is the toy of an anisotropic pretrained encoder (Ethayarajh 2019;
    Gao et al. 2021, SimCSE) that contrastive training should spread out again. The bias stays a
    trainable parameter.

    Args:
        module: a network whose last ``nn.Linear`` (in ``modules()`` order) has a bias.
        offset: the norm of the constant added, >= 0.
        direction: (out_features,) the direction (normalised here); default a random one from
            ``generator`` (or ``seed``).
    Returns: the unit direction (out_features,), on the CPU.
    """
    check.instance("module", module, nn.Module, "a torch.nn.Module")
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("module has no nn.Linear layer to offset")
    last = linears[-1]
    if last.bias is None:
        raise ValueError("the last nn.Linear of module has no bias (bias=False); nothing to offset")
    offset = check.number("offset", offset, low=0.0)
    out = last.out_features
    if direction is None:
        direction = torch.randn(out, generator=_generator(generator, seed), dtype=torch.float64)
    elif check.tensor("direction", direction, dims=f"({out},)").shape != (out,):
        raise ValueError(f"direction must be a tensor of shape ({out},), got shape {tuple(direction.shape)}")
    direction = direction.detach().to("cpu", torch.float64)
    if not float(direction.norm()) > 0:
        raise ValueError("direction must be a non-zero vector")
    direction = direction / direction.norm()
    last.bias.add_((offset * direction).to(device=last.bias.device, dtype=last.bias.dtype))
    return direction.to(torch.float32)


def _values(name: str, values: object) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one value per run (1-d), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(array)).sum())} NaN or inf value(s)")
    return array


def partial_spearman(x, y, control) -> float:
    r"""The Spearman correlation of ``x`` and ``y`` with ``control`` held fixed (a partial rank correlation).

    Ranks (ties averaged) of each quantity; the ranks of x and of y are regressed on the ranks of
    ``control`` and the Pearson correlation of the two residuals is returned. It equals

    .. math:: \rho_{xy\cdot z} = \frac{\rho_{xy} - \rho_{xz}\rho_{yz}}{\sqrt{(1 - \rho_{xz}^2)(1 - \rho_{yz}^2)}}

    with :math:`\rho` the Spearman correlations. Across training runs alignment and uniformity trade
    off, so the plain correlation of accuracy with one of them mixes in the other; the partial one
    asks "at equal uniformity, do better-aligned runs score higher?".

    Args: x, y, control: sequences (or 1-d tensors) of the same length n >= 4, one value per run.
    Returns: a float in [-1, 1]; NaN when x or y is constant once control is accounted for.
    """
    a, b, c = _values("x", x), _values("y", y), _values("control", control)
    if not len(a) == len(b) == len(c):
        raise ValueError(f"x, y and control must have the same length, got {len(a)}, {len(b)} and {len(c)}")
    if len(a) < 4:
        raise ValueError(f"a partial correlation needs at least 4 runs, got {len(a)}")
    design = np.column_stack([np.ones(len(c)), rankdata(c)])  # (n, 2) intercept and control ranks

    def residual(v: np.ndarray) -> np.ndarray:
        r = rankdata(v)
        return r - design @ np.linalg.lstsq(design, r, rcond=None)[0]

    ra, rb = residual(a), residual(b)
    denominator = math.sqrt(float(ra @ ra) * float(rb @ rb))
    if denominator <= 1e-12 * len(a) ** 3:
        return math.nan
    return float(np.clip(ra @ rb / denominator, -1.0, 1.0))


def spread_share(uniformity: float, dim: int, *, t: float = 2.0) -> float:
    r"""Where a uniformity value lies between a collapsed set and the uniform sphere :math:`S^{dim-1}`:

    .. math:: \text{share} = \mathcal L_{uniform} / \mathcal L_{uniform}(\text{uniform on } S^{dim-1}),

    0 for a collapsed set (every distance 0, :math:`\mathcal L_{uniform} = 0`), 1 at the uniform-sphere
    value (``metrics.uniform_sphere_uniformity(dim, t=t)``, the lowest value as the number of points
    grows). A finite sample can land slightly above 1.

    Args:
        uniformity: a value of ``metrics.uniformity`` (<= 0, finite).  dim: D >= 2.  t: > 0.
    Returns: a float, 0 (collapsed) to about 1 (uniform).
    """
    from .. import metrics

    u = check.number("uniformity", uniformity, high=0.0)
    dim = check.integer("dim", dim, 2)
    return float(u / metrics.uniform_sphere_uniformity(dim, t=t)) + 0.0  # + 0.0: a collapsed set gives 0.0, not -0.0
