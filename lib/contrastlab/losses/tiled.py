r"""Tiled contrastive losses: the loss of an (R, C) logit matrix without ever holding it.

Every in-batch contrastive loss asks, for each row r of the logits :math:`x_{rc} = t\,\hat q_r^\top \hat k_c`
(t = 1/temperature, the logit scale), how probable its positive column is among its candidates:

.. math:: \ell_r = \log\sum_{c \in C(r)} e^{x_{rc}} - x_{r,\mathrm{pos}(r)}

The dense paths build the (R, C) matrix and autograd keeps it (or its log-softmax) for the backward
pass: O(R C) memory, 1 GiB at N = 16384 in float32. The paths here walk over (Rb, Cb) tiles of the
matrix instead, as Inf-CL and Cut Cross-Entropy do, and keep O((R + C) D). Three kinds:

- ``mean_nll_tiled`` (InfoNCE, NT-Xent, DCL, SupCon): a fixed-weight mean of row losses. A tile that
  spans whole rows holds each row's complete softmax, so the **forward pass forms the gradient** there,
  G = w (P - Y), in the two matmuls dQ += G K, dK += Gᵀ Q, and backward only scales the saved (R, D) and
  (C, D) results by the upstream gradient: the three matmuls of the dense path, no recomputation.
  Logits of unit rows satisfy |x| <= t, so for t <= 40 (float32) exp(x) needs no max shift: one exp
  per tile, and the row sums are plain sums.
- ``symmetric_mean_nll_tiled`` (CLIP, symmetric InfoNCE): a column's normaliser is known only after the
  last row tile, so backward recomputes each tile (four matmuls in all); ``contrastive_logsumexp_tiled``
  (debiased and hard-negative NT-Xent, whose upstream gradient per row is a function of the sums) and
  ``contrastive_nll_tiled`` (per-row losses) are the general form: forward keeps an *online*
  log-sum-exp per row (a running max and a running sum of ``exp(x - max)``, rescaled when the max
  grows) for each multiplier m (lse(m x), the hard-negative weights), and backward recomputes each tile
  already shifted by its log-sum-exp in the same matmul (``[m t q_r, -lse_r] . [k_c, 1] = m x_rc - lse_r``).
- ``sigmoid_pairs_tiled`` (SigLIP): no normaliser at all, so every tile forms its gradient in the forward pass.

Every path reads each row's positive logit from the tile that holds it, i.e. from the very numbers the
log-sum-exp sums (never a separate dot product), and keeps the probability mass *off* the positive as a
sum of its own (``rest``). The gradient at the positive, p_pos - 1, is then written -rest: a saturated
row (tau = 0.001, rest ~ 1e-140) gets exactly dense's 0, not the rounding of 1 - p_pos. (Formed as
exp(recomputed x_pos - lse) - 1, it was off by an ulp of |x| ~ 1/tau: 6e-5 at tau = 0.001, a gradient
noise floor of 2e-3 where dense and float64 give 0 and 1e-142.)

The tile is sized from a memory budget (default 64 MiB for all tile buffers together, and at most
8 MiB per buffer, which runs fastest); a tile spans the full width of the matrix (a few large
matmuls) and splits the columns only when 128 full rows would not fit (C > 16384 in float32;
``mean_nll_tiled`` keeps full rows while 64 fit the whole budget). ``contrastive_nll_dense`` and the
other ``*_dense`` functions are the plain twins: the same contract in a few lines, which the tests
(and a reader) compare against.

Memory: saved for backward O((R + C) D); peak O((R + C) D) + the budget, instead of O(R C).
Time (CPU, N = 4096, D = 128; benchmarks/RESULTS.md): the fused paths within about 1.1x of the three
matmuls alone, about half the time of the dense path; CLIP about 1.5x (its fourth matmul).

References: Cheng et al. 2024, "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for
Contrastive Loss" (Inf-CL); Wijmans et al. 2024, "Cut Your Losses in Large-Vocabulary Language Models"
(Cut Cross-Entropy); Milakov & Gimelshein 2018, "Online normalizer calculation for softmax".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .. import validation as check
from .core import (cast_scalar, compute_dtype, inverse_temperature, l2_normalize, normalized_in_batch_pair,
                   normalized_towers, positive_nll, twin_index)

DEFAULT_MEMORY_BUDGET = 64 * 2**20  # bytes: the most that all (Rb, Cb) tile buffers together may take
FAST_TILE_BYTES = 8 * 2**20  # bytes per tile buffer that run fastest on CPU (cache-sized, large matmuls)
MIN_TILE_ROWS = 128  # split the columns only when fewer full rows than this fit
MIN_FUSED_ROWS = 64  # mean_nll_tiled keeps full-width rows (no recomputation) while this many fit the budget
# impl="auto" tiles when the dense logits would have at least this many entries (N = 1024 for a
# square matrix): measured on CPU, the tiled path is already faster there and its memory is flat.
AUTO_TILED_MIN_ENTRIES = 1024 * 1024
# CUDA: the dense paths peaked at 12-17 bytes per float32 logit (the matrix, its softmax, its gradient)
# in the benchmarks; twice that, within half of the free memory, leaves room for the rest of a step.
AUTO_DENSE_BYTES_PER_LOGIT = 32
AUTO_DENSE_FREE_SHARE = 0.5
IMPLS = ("dense", "tiled", "auto")

TileSize = int | tuple[int, int] | None


# ---------------------------------------------------------------------------------------------
# choosing the tile and the implementation
# ---------------------------------------------------------------------------------------------

def tile_shape(rows: int, cols: int, element_size: int, *, buffers: int = 1, tile_size: TileSize = None,
               memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> tuple[int, int]:
    """(Rb, Cb), the tile of an (rows, cols) logit matrix.

    ``tile_size`` wins when given: an int t for (t, t) tiles, or a pair (Rb, Cb); either is clipped
    to the matrix. Otherwise each of the ``buffers`` tile buffers gets the smaller of its share of
    ``memory_budget_bytes`` and ``FAST_TILE_BYTES`` (a tile that stays in cache is faster than one
    that does not: measured on CPU, 8 MiB tiles run 1.5x faster than one 64 MiB tile at N = 4096),
    as full-width row blocks (Cb = cols) when at least ``MIN_TILE_ROWS`` rows (or all) fit, else
    ``MIN_TILE_ROWS`` rows (fewer if even a column of them does not fit) by as many columns as fit.
    """
    if tile_size is not None:
        pair = (tile_size, tile_size) if not isinstance(tile_size, (tuple, list)) else tuple(tile_size)
        if len(pair) != 2 or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 1 for t in pair):
            raise ValueError(f"tile_size must be None, a positive int or a pair of positive ints, got {tile_size!r}")
        return min(pair[0], rows), min(pair[1], cols)
    if (not isinstance(memory_budget_bytes, int) or isinstance(memory_budget_bytes, bool)
            or memory_budget_bytes < 1):
        raise ValueError(f"memory_budget_bytes must be a positive int, got {memory_budget_bytes!r}")
    entries = max(1, min(memory_budget_bytes // buffers, FAST_TILE_BYTES) // element_size)  # Rb * Cb
    if entries >= cols * min(rows, MIN_TILE_ROWS):
        return min(rows, entries // cols), cols
    tile_rows = min(rows, MIN_TILE_ROWS, entries)
    return tile_rows, min(cols, entries // tile_rows)


def mean_nll_tile_shape(rows: int, cols: int, element_size: int, *, tile_size: TileSize = None,
                        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> tuple[int, int]:
    """The tile of ``mean_nll_tiled``: ``tile_shape``'s, except that where that splits the columns but
    ``MIN_FUSED_ROWS`` full-width rows fit the budget, full-width rows (at least that many, or as many as
    fit ``FAST_TILE_BYTES``): a full-width tile lets the forward pass form the gradient (no recomputation)."""
    tile_rows, tile_cols = tile_shape(rows, cols, element_size, tile_size=tile_size,
                                      memory_budget_bytes=memory_budget_bytes)
    row_bytes = cols * element_size
    if tile_size is None and tile_cols < cols and memory_budget_bytes // row_bytes >= min(rows, MIN_FUSED_ROWS):
        return min(rows, max(MIN_FUSED_ROWS, FAST_TILE_BYTES // row_bytes)), cols
    return tile_rows, tile_cols


def resolve_impl(impl: str, rows: int, cols: int, device: torch.device | str | None = None) -> str:
    """``"dense"`` or ``"tiled"``: ``impl`` itself, or what ``"auto"`` picks for an (rows, cols) logit matrix.

    On a CUDA device, ``"auto"`` keeps the dense path while its working set,
    ``AUTO_DENSE_BYTES_PER_LOGIT`` bytes per logit, fits in ``AUTO_DENSE_FREE_SHARE`` of the device's
    free memory (``torch.cuda.mem_get_info``): on a GPU the dense path is 2-9x faster wherever it fits
    (benchmarks/RESULTS.md, "Losses on CUDA"), because the tiles are a Python loop of small launches.
    Elsewhere (CPU, MPS, or no device given) it switches to tiled from ``AUTO_TILED_MIN_ENTRIES`` logits
    on (N >= 1024 for a square matrix), where tiled is also the faster path on a CPU."""
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of "dense", "tiled", "auto", got {impl!r}')
    if impl != "auto":
        return impl
    if device is not None and torch.device(device).type == "cuda":
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return "dense" if rows * cols * AUTO_DENSE_BYTES_PER_LOGIT <= AUTO_DENSE_FREE_SHARE * free else "tiled"
    return "tiled" if rows * cols >= AUTO_TILED_MIN_ENTRIES else "dense"


# ---------------------------------------------------------------------------------------------
# the plain twins
# ---------------------------------------------------------------------------------------------

def exclude_columns(exclude: Tensor | None) -> Tensor | None:
    """``exclude`` as (R, m) long: one (R,) column per left-out candidate of each row (None stays None)."""
    return exclude if exclude is None or exclude.ndim == 2 else exclude[:, None]


def contrastive_nll_dense(q: Tensor, k: Tensor, scale: float | Tensor, *, positive: Tensor | None = None,
                          exclude: Tensor | None = None, columns: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    r"""Per-row losses :math:`\ell_r = \log\sum_{c \notin \mathrm{exclude}(r)} e^{x_{rc}} - x_{r,\mathrm{pos}(r)}`
    with the (R, C) logits in memory. Same contract as ``contrastive_nll_tiled``."""
    logits = (q * scale) @ k.T  # (R, C); the scale folded into q: O(R D), not O(R C)
    rows = torch.arange(len(q), device=q.device)  # (R,)
    positive = rows if positive is None else positive  # (R,) column of each row's positive
    keep = None
    if exclude is not None:
        keep = torch.ones_like(logits, dtype=torch.bool)  # (R, C)
        keep[rows[:, None], exclude_columns(exclude)] = False
    row_loss = positive_nll(logits, positive, keep)  # (R,)
    if not columns:
        return row_loss
    return row_loss, positive_nll(logits.T, rows)  # (R,), (C,): column c's positive is row c


def contrastive_logsumexp_dense(q: Tensor, k: Tensor, scale: float | Tensor, *, positive: Tensor | None = None,
                                exclude: Tensor | None = None, multipliers: tuple[float, ...] = (1.0,)
                                ) -> tuple[Tensor, Tensor | None]:
    r"""(J, R) log-sum-exps :math:`\log\sum_{c \notin \mathrm{exclude}(r)} e^{m_j x_{rc}}` and the (R,) positive
    logits :math:`x_{r,\mathrm{pos}(r)}` (None without ``positive``), with the (R, C) logits in memory.
    Same contract as ``contrastive_logsumexp_tiled``."""
    logits = (q * scale) @ k.T  # (R, C)
    pos = None if positive is None else logits.gather(1, positive[:, None]).squeeze(1)  # (R,), before exclusion
    if exclude is not None:
        logits = logits.scatter(1, exclude_columns(exclude), -math.inf)  # (R, C)
    return torch.stack([torch.logsumexp(logits if m == 1 else m * logits, 1) for m in multipliers]), pos


# ---------------------------------------------------------------------------------------------
# the tiled paths
# ---------------------------------------------------------------------------------------------

def contrastive_logsumexp_tiled(q: Tensor, k: Tensor, scale: float | Tensor, *, positive: Tensor | None = None,
                                exclude: Tensor | None = None, multipliers: tuple[float, ...] = (1.0,),
                                tile_size: TileSize = None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET
                                ) -> tuple[Tensor, Tensor | None]:
    r"""(J, R) log-sum-exps of the logits :math:`x = t\,Q K^\top` over each row's kept columns, at each multiplier
    m_j (:math:`\log\sum_c e^{m_j x_{rc}}`), and the (R,) positive logits read from the same tiles.

    The building block of the losses whose gradient depends on the log-sum-exp itself (debiased and
    hard-negative NT-Xent): the result is differentiable w.r.t. q, k and scale, and autograd carries
    any function of it. Memory O((R + C) D) + the tile budget.

    Args:
        q: (R, D) anchors, k: (C, D) candidates, L2-normalised, float32 or wider; scale: t > 0.
        positive: (R,) long, each row's positive column (None: no positive logits).
        exclude: (R,) or (R, m) long, columns left out of each row's sums (the positive may be one).
        multipliers: m_j > 0, one log-sum-exp each (the hard-negative weights use 1 + beta and beta).
    Returns: ((J, R), (R,) or None).
    """
    tile_rows, tile_cols = tile_shape(len(q), len(k), q.element_size(), buffers=2, tile_size=tile_size,
                                      memory_budget_bytes=memory_budget_bytes)
    lse, _, pos = _TiledLogSumExp.apply(q.contiguous(), k.contiguous(), scale, positive, exclude_columns(exclude),
                                        False, tuple(float(m) for m in multipliers), tile_rows, tile_cols)
    return lse, (pos if positive is not None else None)


def contrastive_logsumexp(q: Tensor, k: Tensor, scale: float | Tensor, *, positive: Tensor | None = None,
                          exclude: Tensor | None = None, multipliers: tuple[float, ...] = (1.0,), impl: str = "auto",
                          tile_size: TileSize = None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET):
    """``contrastive_logsumexp_dense`` or ``_tiled``, as ``resolve_impl(impl, R, C)`` says."""
    if resolve_impl(impl, len(q), len(k), q.device) == "dense":
        return contrastive_logsumexp_dense(q, k, scale, positive=positive, exclude=exclude, multipliers=multipliers)
    return contrastive_logsumexp_tiled(q, k, scale, positive=positive, exclude=exclude, multipliers=multipliers,
                                       tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)


def contrastive_nll_tiled(q: Tensor, k: Tensor, scale: float | Tensor, *, positive: Tensor | None = None,
                          exclude: Tensor | None = None, columns: bool = False, tile_size: TileSize = None,
                          memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> Tensor | tuple[Tensor, Tensor]:
    r"""Per-row contrastive losses of the logits :math:`x = t\,Q K^\top` without materialising them.

    Args:
        q: (R, D) anchors, L2-normalised, float32 or wider.  k: (C, D) candidates, same dtype.
        scale: t > 0, the logit scale (1/temperature): a float or a 0-d tensor (which gets a gradient).
        positive: (R,) long, the column of each row's positive; None for the diagonal (needs R <= C).
        exclude: (R,) or (R, m) long, columns per row left out of its candidates (e.g. its own copy in
            NT-Xent, where anchor a excludes column a); None keeps every column.
        columns: also return the (C,) column losses, column c against all rows with row c its
            positive (the second direction of CLIP / symmetric InfoNCE); needs R == C and the
            diagonal positives, no ``exclude``.
        tile_size, memory_budget_bytes: the tile; see ``tile_shape``.
    Returns: (R,) row losses, or ((R,), (C,)) with ``columns``; differentiable w.r.t. q, k and scale.
    For a weighted *sum* of the row losses, ``mean_nll_tiled`` is faster (three matmuls, not four).

    Threads: each tile runs a handful of parallel (OpenMP) kernels, the dense path a handful in all.
    On a CPU shared with other busy processes, OpenMP's default spin-waiting can then cost far more
    than the work; ``OMP_WAIT_POLICY=PASSIVE`` (or fewer threads) avoids it.
    """
    n_rows, n_cols = len(q), len(k)
    if positive is None:
        if n_rows > n_cols:
            raise ValueError(f"positive=None means the diagonal, which needs R <= C, got q {tuple(q.shape)} "
                             f"and k {tuple(k.shape)}")
        positive = torch.arange(n_rows, device=q.device)
    if columns and (n_rows != n_cols or exclude is not None):
        raise ValueError("columns=True needs a square matrix with diagonal positives and exclude=None")
    buffers = 2 if columns else 1  # backward: the row softmax (and the column softmax)
    tile_rows, tile_cols = tile_shape(n_rows, n_cols, q.element_size(), buffers=buffers, tile_size=tile_size,
                                      memory_budget_bytes=memory_budget_bytes)
    row_lse, col_lse, pos = _TiledLogSumExp.apply(q.contiguous(), k.contiguous(), scale, positive,
                                                  exclude_columns(exclude), columns, (1.0,), tile_rows, tile_cols)
    if not columns:
        return row_lse[0] - pos  # (R,)
    return row_lse[0] - pos, col_lse - pos  # (R,), (C,): column c's positive is x[c, c]


def contrastive_nll(q: Tensor, k: Tensor, scale: float | Tensor, *, positive: Tensor | None = None,
                    exclude: Tensor | None = None, columns: bool = False, impl: str = "auto",
                    tile_size: TileSize = None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET):
    """``contrastive_nll_dense`` or ``contrastive_nll_tiled``, as ``resolve_impl(impl, R, C)`` says."""
    if resolve_impl(impl, len(q), len(k), q.device) == "dense":
        return contrastive_nll_dense(q, k, scale, positive=positive, exclude=exclude, columns=columns)
    return contrastive_nll_tiled(q, k, scale, positive=positive, exclude=exclude, columns=columns,
                                 tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)


def mean_nll_tiled(q: Tensor, k: Tensor, scale: float | Tensor, *, weights: Tensor, positive: Tensor | None = None,
                   exclude: Tensor | None = None, tile_size: TileSize = None,
                   memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    r"""The weighted sum :math:`\sum_r w_r (\log\sum_{c \notin \mathrm{exclude}(r)} e^{x_{rc}} - x_{r,\mathrm{pos}(r)})`
    of the logits :math:`x = t\,Q K^\top` (without the positive term when ``positive`` is None), tiled.

    A loss that is a fixed-weight mean of row losses (InfoNCE, NT-Xent, DCL, SupCon's log-sum-exp
    part) needs no upstream gradient per row: when a tile spans whole rows, each row's softmax is
    complete inside it, so the forward pass forms the gradient right there and the backward pass
    only scales it. That is the three matmuls of the dense path (logits, dQ, dK) and no
    recomputation. When the columns have to be split (C > 16384 in float32 at the default budget) it
    falls back to ``contrastive_logsumexp_tiled`` (four matmuls).

    Args:
        q: (R, D), k: (C, D), L2-normalised; scale: t > 0 (a float or a 0-d tensor).
        weights: (R,) fixed weights w_r (no gradient flows to them), e.g. 1/R for a mean.
        positive: (R,) long or None; exclude: (R,) or (R, m) long or None.
    Returns: a 0-d tensor, differentiable w.r.t. q, k and scale.
    """
    n_rows, n_cols = len(q), len(k)
    tile_rows, tile_cols = mean_nll_tile_shape(n_rows, n_cols, q.element_size(), tile_size=tile_size,
                                               memory_budget_bytes=memory_budget_bytes)
    exclude = exclude_columns(exclude)
    weights = weights.detach().to(q.dtype)
    if tile_cols == n_cols:
        need_grad = torch.is_grad_enabled() and any(
            isinstance(x, Tensor) and x.requires_grad for x in (q, k, scale))
        return _FusedMeanNLL.apply(q.contiguous(), k.contiguous(), scale, positive, exclude, weights, tile_rows,
                                   need_grad)
    lse, pos = contrastive_logsumexp_tiled(q, k, scale, positive=positive, exclude=exclude, tile_size=tile_size,
                                           memory_budget_bytes=memory_budget_bytes)
    return (weights * (lse[0] if pos is None else lse[0] - pos)).sum()


def mean_nll_dense(q: Tensor, k: Tensor, scale: float | Tensor, *, weights: Tensor, positive: Tensor | None = None,
                   exclude: Tensor | None = None) -> Tensor:
    """The plain twin of ``mean_nll_tiled``."""
    lse, pos = contrastive_logsumexp_dense(q, k, scale, positive=positive, exclude=exclude)
    return (weights.detach().to(lse.dtype) * (lse[0] if pos is None else lse[0] - pos)).sum()


def mean_nll(q: Tensor, k: Tensor, scale: float | Tensor, *, weights: Tensor, positive: Tensor | None = None,
             exclude: Tensor | None = None, impl: str = "auto", tile_size: TileSize = None,
             memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    """``mean_nll_dense`` or ``mean_nll_tiled``, as ``resolve_impl(impl, R, C)`` says."""
    if resolve_impl(impl, len(q), len(k), q.device) == "dense":
        return mean_nll_dense(q, k, scale, weights=weights, positive=positive, exclude=exclude)
    return mean_nll_tiled(q, k, scale, weights=weights, positive=positive, exclude=exclude, tile_size=tile_size,
                          memory_budget_bytes=memory_budget_bytes)


def symmetric_mean_nll_tiled(q: Tensor, k: Tensor, scale: float | Tensor, *, tile_size: TileSize = None,
                             memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    r"""CLIP's (and symmetric InfoNCE's) loss of x = t Q Kᵀ (R = C, positives on the diagonal), tiled:

    .. math:: \tfrac12\Big[\tfrac1N\sum_r \big(\log\sum_c e^{x_{rc}} - x_{rr}\big)
              + \tfrac1N\sum_c \big(\log\sum_r e^{x_{rc}} - x_{cc}\big)\Big]

    A column's normaliser is known only after every row tile, so the backward pass recomputes each tile:
    four matmuls in all, one more than the dense path. Where the logits cannot overflow exp (t <= 40 in
    float32, unit rows) each tile takes one exp forward (both directions' sums from it) and one backward;
    otherwise (small temperatures) ``contrastive_nll_tiled`` with its max-shifted sums.
    Returns: a 0-d tensor, differentiable w.r.t. q, k and scale.
    """
    n = len(q)
    if _scalar(scale) > NO_SHIFT_BOUND.get(q.dtype, 0.0):
        rows, cols = contrastive_nll_tiled(q, k, scale, columns=True, tile_size=tile_size,
                                           memory_budget_bytes=memory_budget_bytes)  # (N,), (N,)
        return (rows.mean() + cols.mean()) / 2
    tile_rows, tile_cols = tile_shape(n, n, q.element_size(), buffers=2, tile_size=tile_size,
                                      memory_budget_bytes=memory_budget_bytes)
    return _SymmetricMeanNLL.apply(q.contiguous(), k.contiguous(), scale, tile_rows, tile_cols)


def sigmoid_pairs_tiled(a: Tensor, b: Tensor, scale: float | Tensor, bias: float | Tensor, *,
                        positive: Tensor | None = None, tile_size: TileSize = None,
                        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    r"""SigLIP's pairwise sum :math:`\sum_{rc} -\log\sigma(z_{rc}(t\,a_r^\top b_c + \beta))`, z = +1 at each row's
    positive column and -1 elsewhere, tiled. No normaliser couples the entries, so every tile forms its
    part of the gradient in the forward pass (three matmuls in all, as dense).

    Args:
        a: (R, D), b: (C, D); scale t (a multiplier) and bias: floats or 0-d tensors.
        positive: (R,) long; None for the diagonal (R <= C).
    Returns: a 0-d tensor (the sum, not divided), differentiable w.r.t. a, b, scale and bias.
    """
    if positive is None:
        positive = torch.arange(len(a), device=a.device)
    tile_rows, tile_cols = tile_shape(len(a), len(b), a.element_size(), tile_size=tile_size,
                                      memory_budget_bytes=memory_budget_bytes)
    need_grad = torch.is_grad_enabled() and any(isinstance(x, Tensor) and x.requires_grad for x in (a, b, scale, bias))
    return _FusedSigmoidPairs.apply(a.contiguous(), b.contiguous(), scale, bias, positive, tile_rows, tile_cols,
                                    need_grad)


def _spans(n: int, step: int):
    """(start, stop) of consecutive blocks of ``step`` covering range(n)."""
    return [(start, min(start + step, n)) for start in range(0, n, step)]


def _tile(buffer: Tensor, rows: int, cols: int) -> Tensor:
    """A contiguous (rows, cols) view at the start of a flat buffer (edge tiles are smaller)."""
    return buffer[: rows * cols].view(rows, cols)


def _in_tile(index: Tensor, start: int, width: int) -> tuple[Tensor, Tensor]:
    """For (Rb,) global column indices: their (Rb, 1) local column in a tile of ``width`` columns
    starting at ``start`` (clamped to a valid column) and (Rb, 1) whether it is really in the tile."""
    local = (index - start)[:, None]  # (Rb, 1)
    return local.clamp(0, width - 1), (local >= 0) & (local < width)


def _set_(x: Tensor, dim: int, local: Tensor, hit: Tensor, value) -> None:
    """x[local] = value along ``dim`` where ``hit`` (elsewhere unchanged); one entry per row (column)."""
    x.scatter_(dim, local, torch.where(hit, value, x.gather(dim, local)))


def _exclude_(x: Tensor, exclude: Tensor | None, c0: int, value: float) -> None:
    """Each row's excluded columns that fall in this tile (which starts at column c0) -> ``value``."""
    if exclude is not None:
        for j in range(exclude.shape[1]):
            local, hit = _in_tile(exclude[:, j], c0, x.shape[1])
            _set_(x, 1, local, hit, value)


def _scalar(value: float | Tensor) -> float:
    return float(value.detach()) if isinstance(value, Tensor) else float(value)


def _online_logsumexp_(x: Tensor, running_max: Tensor, running_sum: Tensor, dim: int, scratch: Tensor,
                       positive: tuple[Tensor, Tensor, Tensor] | None = None) -> None:
    """Fold tile ``x`` into a running log-sum-exp along ``dim``, in place.

    Invariant: running_sum * exp(running_max) = sum of exp(x) over the tiles seen so far, *without*
    the positive entries when ``positive`` = (local index, hit, running positive term) is given: their
    exp goes to the running positive term instead, so that sum / (sum + positive) is each row's
    probability mass off its positive to full relative precision, even when it is 1e-40.
    ``scratch`` (x's shape; may be x itself when x is no longer needed) receives exp(x - max).
    """
    new_max = torch.maximum(running_max, x.amax(dim))  # (Rb,) or (Cb,)
    new_max.clamp_(min=torch.finfo(x.dtype).min)  # a fully excluded tile (all -inf) must not give -inf - -inf
    rescale = (running_max - new_max).exp_()  # (Rb,) or (Cb,)
    e = torch.sub(x, new_max.unsqueeze(dim), out=scratch).exp_()
    if positive is not None:
        local, hit, running_pos = positive
        e_pos = e.gather(dim, local)  # (Rb, 1) or (1, Cb)
        e.scatter_(dim, local, torch.where(hit, 0.0, e_pos))
        running_pos.copy_(torch.where(hit, e_pos, (running_pos * rescale).unsqueeze(dim)).squeeze(dim))
    running_sum.mul_(rescale).add_(e.sum(dim))
    running_max.copy_(new_max)


class _TiledLogSumExp(torch.autograd.Function):
    """Row log-sum-exps (one per multiplier), column log-sum-exps and positive logits of x = scale q kᵀ,
    tile by tile; the backward recomputes each tile (see the module docstring)."""

    @staticmethod
    def forward(ctx, q, k, scale, positive, exclude, columns, multipliers, tile_rows, tile_cols):
        n_rows, n_cols = len(q), len(k)
        t = _scalar(scale)
        q_scaled = q * t  # (R, D): then x = q_scaled @ k.T
        n_mult = len(multipliers)
        row_max = q.new_full((n_mult, n_rows), -math.inf)  # (J, R) running max of each row
        row_sum = q.new_zeros(n_mult, n_rows)  # (J, R) running sum of exp(m x - row_max), positives left out
        row_pos = q.new_zeros(n_mult, n_rows)  # (J, R) exp(m x_pos - row_max)
        pos_logit = q.new_zeros(n_rows)  # (R,) x[r, positive[r]], read from its tile
        if columns:
            col_max, col_sum, col_pos = q.new_full((n_cols,), -math.inf), q.new_zeros(n_cols), q.new_zeros(n_cols)
        x_buffer = q.new_empty(tile_rows * tile_cols)
        separate = columns or n_mult > 1 or multipliers[0] != 1.0
        e_buffer = q.new_empty(tile_rows * tile_cols) if separate else x_buffer

        for r0, r1 in _spans(n_rows, tile_rows):
            for c0, c1 in _spans(n_cols, tile_cols):
                x = torch.mm(q_scaled[r0:r1], k[c0:c1].T, out=_tile(x_buffer, r1 - r0, c1 - c0))  # (Rb, Cb)
                e = _tile(e_buffer, r1 - r0, c1 - c0)  # (Rb, Cb) scratch; x itself unless x is still needed
                pos = None
                if positive is not None:
                    local, hit = _in_tile(positive[r0:r1], c0, c1 - c0)  # (Rb, 1), (Rb, 1)
                    pos_logit[r0:r1] = torch.where(hit, x.gather(1, local), pos_logit[r0:r1, None]).squeeze(1)
                _exclude_(x, exclude[r0:r1] if exclude is not None else None, c0, -math.inf)
                for j, m in enumerate(multipliers):
                    y = x if m == 1.0 else torch.mul(x, m, out=e)
                    if positive is not None:
                        pos = (local, hit, row_pos[j, r0:r1])
                    _online_logsumexp_(y, row_max[j, r0:r1], row_sum[j, r0:r1], 1, scratch=e, positive=pos)
                if columns:  # column c's positive is row c (the diagonal)
                    local_c, hit_c = _in_tile(torch.arange(c0, c1, device=q.device), r0, r1 - r0)  # (Cb, 1)
                    _online_logsumexp_(x, col_max[c0:c1], col_sum[c0:c1], 0, scratch=e,
                                       positive=(local_c.T, hit_c.T, col_pos[c0:c1]))

        row_total = row_sum + row_pos  # (J, R)
        row_lse = row_max + row_total.log()  # (J, R)
        row_rest = row_sum / row_total  # (J, R) probability mass off the positive (1 where it is excluded)
        col_lse = col_rest = q.new_empty(0)
        if columns:
            col_lse = col_max + (col_sum + col_pos).log()  # (C,)
            col_rest = col_sum / (col_sum + col_pos)  # (C,)
        ctx.save_for_backward(q, k, positive, exclude, row_lse, row_rest, col_lse, col_rest)
        ctx.scale, ctx.multipliers, ctx.columns = t, multipliers, columns
        ctx.scale_meta = (scale.shape, scale.dtype) if isinstance(scale, Tensor) else None
        ctx.tile = (tile_rows, tile_cols)
        return row_lse, col_lse, (pos_logit if positive is not None else q.new_empty(0))

    @staticmethod
    @once_differentiable
    def backward(ctx, g_row, g_col, g_pos):
        q, k, positive, exclude, row_lse, row_rest, col_lse, col_rest = ctx.saved_tensors
        t, multipliers, columns, (tile_rows, tile_cols) = ctx.scale, ctx.multipliers, ctx.columns, ctx.tile
        n_rows, n_cols = len(q), len(k)
        g_row = g_row * g_row.new_tensor(multipliers)[:, None]  # (J, R): d lse(m x) / dx = m softmax(m x)
        # shifted logits in one matmul: [m t q_r, -lse_r] . [k_c, 1] = m x_rc - lse_r (and likewise per column)
        q_rows = [torch.cat([q * (m * t), -lse[:, None]], 1) for m, lse in zip(multipliers, row_lse)]  # J x (R, D+1)
        k_row = torch.cat([k, k.new_ones(n_cols, 1)], 1)  # (C, D+1)
        if columns:
            q_col = torch.cat([q * t, q.new_ones(n_rows, 1)], 1)  # (R, D+1)
            k_col = torch.cat([k, -col_lse[:, None]], 1)  # (C, D+1): [t q_r, 1] . [k_c, -lse_c] = x_rc - lse_c
        need_dq = ctx.needs_input_grad[0] or ctx.needs_input_grad[2]
        need_dk = ctx.needs_input_grad[1]
        dq_sum = q.new_zeros(q.shape)  # (R, D): sum_c G_rc k_c
        dk_sum = k.new_zeros(k.shape) if need_dk else None  # (C, D): sum_r G_rc q_r
        g_buffer = q.new_empty(tile_rows * tile_cols)
        p_buffer = q.new_empty(tile_rows * tile_cols) if columns or len(multipliers) > 1 else None

        for r0, r1 in _spans(n_rows, tile_rows):
            for c0, c1 in _spans(n_cols, tile_cols):
                g = None  # (Rb, Cb) G without its positive entries
                for j, q_row in enumerate(q_rows):
                    buffer = g_buffer if g is None else p_buffer
                    p = torch.mm(q_row[r0:r1], k_row[c0:c1].T, out=_tile(buffer, r1 - r0, c1 - c0)).exp_()
                    g = p.mul_(g_row[j, r0:r1, None]) if g is None else g.addcmul_(p, g_row[j, r0:r1, None])
                if columns:
                    pc = torch.mm(q_col[r0:r1], k_col[c0:c1].T, out=_tile(p_buffer, r1 - r0, c1 - c0))
                    g.addcmul_(pc.exp_(), g_col[None, c0:c1])  # + g_c * column softmax_c
                _exclude_(g, exclude[r0:r1] if exclude is not None else None, c0, 0.0)
                if positive is not None:  # the positive's entry is added exactly below
                    local, hit = _in_tile(positive[r0:r1], c0, c1 - c0)
                    _set_(g, 1, local, hit, 0.0)
                if need_dq:
                    dq_sum[r0:r1].addmm_(g, k[c0:c1])  # (Rb, D)
                if need_dk:
                    dk_sum[c0:c1].addmm_(g.T, q[r0:r1])  # (Cb, D)

        if positive is not None:
            # G at (r, pos r) = g_pos + sum_j g_j softmax_j(pos) (+ g_col softmax_col(pos)), with each softmax
            # written 1 - rest: the terms that cancel (g_pos = -sum g in an NLL) are summed first, exactly,
            # so a saturated row (rest ~ 1e-40) gets G = -g rest, not the rounding of 1 - softmax.
            g_at = g_pos + g_row.sum(0) - (g_row * row_rest).sum(0)  # (R,)
            if columns:
                g_at = g_pos + g_row.sum(0) + g_col - (g_row * row_rest).sum(0) - g_col * col_rest
            dq_sum.add_(g_at[:, None] * k[positive])  # (R, D)
            if need_dk:
                dk_sum.index_add_(0, positive, g_at[:, None] * q)  # (C, D)
        dq = dq_sum * t if ctx.needs_input_grad[0] else None
        dk = dk_sum * t if need_dk else None
        d_scale = None
        if ctx.needs_input_grad[2]:
            shape, dtype = ctx.scale_meta
            d_scale = (q * dq_sum).sum().reshape(shape).to(dtype)  # sum_rc G_rc q_r . k_c
        return dq, dk, d_scale, None, None, None, None, None, None


# exp(x) of |x| <= this cannot overflow (or underflow to 0) in the dtype: logits of unit vectors, |x| <= t,
# can then skip the max shift of the log-sum-exp (one pass over each tile less)
NO_SHIFT_BOUND = {torch.float32: 40.0, torch.float64: 300.0}


class _FusedMeanNLL(torch.autograd.Function):
    """sum_r w_r (lse_r - x_r,pos(r)) over full-width row tiles, its gradient formed in the forward pass."""

    @staticmethod
    def forward(ctx, q, k, scale, positive, exclude, weights, tile_rows, need_grad):
        n_rows = len(q)
        t = _scalar(scale)
        q_scaled = q * t  # (R, D)
        shift = t > NO_SHIFT_BOUND.get(q.dtype, 0.0)  # |x| <= t for unit rows: exp(x) is safe without a max
        total_loss = q.new_zeros(())
        dq_sum = q.new_empty(q.shape) if need_grad else None  # (R, D) sum_c G_rc k_c
        dk_sum = k.new_zeros(k.shape) if need_grad else None  # (C, D)
        x_buffer = q.new_empty(tile_rows * len(k))
        for r0, r1 in _spans(n_rows, tile_rows):
            x = torch.mm(q_scaled[r0:r1], k.T, out=_tile(x_buffer, r1 - r0, len(k)))  # (Rb, C)
            excl = exclude[r0:r1] if exclude is not None else None
            if positive is not None:
                local = positive[r0:r1, None]  # (Rb, 1)
                pos_x = x.gather(1, local).squeeze(1)  # (Rb,) x_pos, read from the tile before any exclusion
            if shift:  # the max over the kept columns only (a left-out self-similarity t would underflow the rest)
                _exclude_(x, excl, 0, -math.inf)
                row_max = x.amax(1, keepdim=True)  # (Rb, 1)
                lse_base = row_max.squeeze(1)  # (Rb,)
                e = x.sub_(row_max)
            else:
                lse_base = 0.0
                e = x
            e.exp_()  # (Rb, C)
            if not shift:
                _exclude_(e, excl, 0, 0.0)
            if positive is not None:
                e_pos = e.gather(1, local).squeeze(1)  # (Rb,) 0 where the positive is excluded
                e.scatter_(1, local, 0.0)
            rest = e.sum(1)  # (Rb,) the mass off the positive, to full relative precision
            total = rest + e_pos if positive is not None else rest  # (Rb,)
            lse = total.log() + lse_base  # (Rb,)
            loss = lse - pos_x if positive is not None else lse  # (Rb,)
            w = weights[r0:r1]
            total_loss += (w * loss).sum()
            if need_grad:  # G = w softmax - w onehot; at the positive w (p_pos - 1) = -w rest / total, exactly
                if positive is not None:
                    e.scatter_(1, local, -rest[:, None])
                coef = (w / total)[:, None]  # (Rb, 1): G = coef * e
                torch.mm(e, k, out=dq_sum[r0:r1]).mul_(coef)  # (Rb, D)
                dk_sum.addmm_(e.T, q[r0:r1] * coef)  # (C, D)
        if need_grad:
            ctx.save_for_backward(dq_sum, dk_sum, (q * dq_sum).sum())
        ctx.scale = t
        ctx.scale_meta = (scale.shape, scale.dtype) if isinstance(scale, Tensor) else None
        return total_loss

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        dq_sum, dk_sum, d_scale_sum = ctx.saved_tensors
        dq = dq_sum * (g * ctx.scale) if ctx.needs_input_grad[0] else None
        dk = dk_sum * (g * ctx.scale) if ctx.needs_input_grad[1] else None
        d_scale = None
        if ctx.needs_input_grad[2]:
            shape, dtype = ctx.scale_meta
            d_scale = (g * d_scale_sum).reshape(shape).to(dtype)
        return dq, dk, d_scale, None, None, None, None, None


class _SymmetricMeanNLL(torch.autograd.Function):
    """(mean row NLL + mean column NLL) / 2 of x = scale q kᵀ with diagonal positives, unshifted exp (|x| <= 40)."""

    @staticmethod
    def forward(ctx, q, k, scale, tile_rows, tile_cols):
        n = len(q)
        t = _scalar(scale)
        q_scaled = q * t  # (N, D)
        row_rest, col_rest = q.new_zeros(n), q.new_zeros(n)  # (N,), (N,) sums of exp(x) off the diagonal
        diag_e, diag_x = q.new_zeros(n), q.new_zeros(n)  # (N,) exp(x_ii), x_ii read from their tiles
        buffer = q.new_empty(tile_rows * tile_cols)
        for r0, r1 in _spans(n, tile_rows):
            rows = torch.arange(r0, r1, device=q.device)  # (Rb,) the diagonal's columns
            for c0, c1 in _spans(n, tile_cols):
                x = torch.mm(q_scaled[r0:r1], k[c0:c1].T, out=_tile(buffer, r1 - r0, c1 - c0))  # (Rb, Cb)
                local, hit = _in_tile(rows, c0, c1 - c0)  # (Rb, 1), (Rb, 1)
                diag_x[r0:r1] = torch.where(hit, x.gather(1, local), diag_x[r0:r1, None]).squeeze(1)
                e = x.exp_()
                diag_e[r0:r1] = torch.where(hit, e.gather(1, local), diag_e[r0:r1, None]).squeeze(1)
                _set_(e, 1, local, hit, 0.0)
                row_rest[r0:r1] += e.sum(1)
                col_rest[c0:c1] += e.sum(0)
        row_total, col_total = row_rest + diag_e, col_rest + diag_e  # (N,), (N,)
        ctx.save_for_backward(q, k, row_rest, col_rest, row_total, col_total)
        ctx.scale, ctx.tile = t, (tile_rows, tile_cols)
        ctx.scale_meta = (scale.shape, scale.dtype) if isinstance(scale, Tensor) else None
        return ((row_total.log() - diag_x).mean() + (col_total.log() - diag_x).mean()) / 2

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        q, k, row_rest, col_rest, row_total, col_total = ctx.saved_tensors
        t, (tile_rows, tile_cols) = ctx.scale, ctx.tile
        n = len(q)
        row_coef, col_coef = g / (2 * n) / row_total, g / (2 * n) / col_total  # (N,): G = e (row_coef + col_coef)
        q_scaled = q * t
        dq_sum, dk_sum = torch.zeros_like(q), torch.zeros_like(k)  # (N, D), (N, D)
        buffer, coef = q.new_empty(tile_rows * tile_cols), q.new_empty(tile_rows * tile_cols)
        for r0, r1 in _spans(n, tile_rows):
            rows = torch.arange(r0, r1, device=q.device)
            for c0, c1 in _spans(n, tile_cols):
                e = torch.mm(q_scaled[r0:r1], k[c0:c1].T, out=_tile(buffer, r1 - r0, c1 - c0)).exp_()  # as forward
                e.mul_(torch.add(row_coef[r0:r1, None], col_coef[None, c0:c1], out=_tile(coef, r1 - r0, c1 - c0)))
                local, hit = _in_tile(rows, c0, c1 - c0)
                _set_(e, 1, local, hit, 0.0)  # the diagonal is added exactly below
                dq_sum[r0:r1].addmm_(e, k[c0:c1])
                dk_sum[c0:c1].addmm_(e.T, q[r0:r1])
        # G_ii = row_coef (p_row - 1) T + ... = -(row_coef row_rest + col_coef col_rest), with no 1 - p to round
        g_diag = -(row_coef * row_rest + col_coef * col_rest)  # (N,)
        dq_sum.add_(g_diag[:, None] * k)
        dk_sum.add_(g_diag[:, None] * q)
        dq = dq_sum * t if ctx.needs_input_grad[0] else None
        dk = dk_sum * t if ctx.needs_input_grad[1] else None
        d_scale = None
        if ctx.needs_input_grad[2]:
            shape, dtype = ctx.scale_meta
            d_scale = (q * dq_sum).sum().reshape(shape).to(dtype)
        return dq, dk, d_scale, None, None


class _FusedSigmoidPairs(torch.autograd.Function):
    """SigLIP's pairwise sum tile by tile, its gradient formed in the forward pass."""

    @staticmethod
    def forward(ctx, a, b, scale, bias, positive, tile_rows, tile_cols, need_grad):
        t, beta = _scalar(scale), _scalar(bias)
        a_scaled = a * t  # (R, D)
        total = a.new_zeros(())
        da_sum = a.new_zeros(a.shape) if need_grad else None  # (R, D) sum_c G_rc b_c
        db_sum = b.new_zeros(b.shape) if need_grad else None  # (C, D) sum_r G_rc a_r
        d_bias = a.new_zeros(())
        x_buffer = a.new_empty(tile_rows * tile_cols)
        for r0, r1 in _spans(len(a), tile_rows):
            for c0, c1 in _spans(len(b), tile_cols):
                x = torch.mm(a_scaled[r0:r1], b[c0:c1].T, out=_tile(x_buffer, r1 - r0, c1 - c0)).add_(beta)
                local, hit = _in_tile(positive[r0:r1], c0, c1 - c0)  # (Rb, 1), (Rb, 1)
                x_pos = x.gather(1, local)  # (Rb, 1)
                loss = torch.nn.functional.softplus(x)  # (Rb, Cb): -log sigmoid(-x), the negatives' term
                _set_(loss, 1, local, hit, torch.nn.functional.softplus(-x_pos))  # -log sigmoid(x) at the positive
                total += loss.sum()
                if need_grad:  # G = sigmoid(x) off the positive, -sigmoid(-x) on it (not sigmoid(x) - 1)
                    g = x.sigmoid_()
                    _set_(g, 1, local, hit, -torch.sigmoid(-x_pos))
                    da_sum[r0:r1].addmm_(g, b[c0:c1])
                    db_sum[c0:c1].addmm_(g.T, a[r0:r1])
                    d_bias += g.sum()
        if need_grad:
            ctx.save_for_backward(da_sum, db_sum, (a * da_sum).sum(), d_bias)
        ctx.scale = t
        ctx.meta = tuple((x.shape, x.dtype) if isinstance(x, Tensor) else None for x in (scale, bias))
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        da_sum, db_sum, d_scale_sum, d_bias = ctx.saved_tensors
        da = da_sum * (g * ctx.scale) if ctx.needs_input_grad[0] else None
        db = db_sum * (g * ctx.scale) if ctx.needs_input_grad[1] else None
        d_scale = d_bias_out = None
        if ctx.needs_input_grad[2]:
            d_scale = (g * d_scale_sum).reshape(ctx.meta[0][0]).to(ctx.meta[0][1])
        if ctx.needs_input_grad[3]:
            d_bias_out = (g * d_bias).reshape(ctx.meta[1][0]).to(ctx.meta[1][1])
        return da, db, d_scale, d_bias_out, None, None, None, None


# ---------------------------------------------------------------------------------------------
# the losses, tiled: same arguments, checks and values as the dense ones (in-batch forms only)
# ---------------------------------------------------------------------------------------------

def info_nce_tiled(query: Tensor, positive: Tensor, *, temperature: float | Tensor = 0.1, symmetric: bool = False,
                   tile_size: TileSize = None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    r"""``info_nce`` with in-batch negatives, tiled: the same value and gradients in O(N D) memory.

    .. math:: \ell_i = \log\sum_j e^{s_{ij}/\tau} - s_{ii}/\tau,\qquad s_{ij} = \hat q_i^\top \hat p_j

    Args:
        query: (N, D) anchors, N >= 2.  positive: (N, D); row i is the positive of query i.
        temperature: tau > 0, a divisor (a float, or a 0-d tensor to learn it); default 0.1, as ``info_nce``.
        symmetric: the mean of the query->positive and positive->query directions.
        tile_size, memory_budget_bytes: the tile; see ``tile_shape``.
    Returns: scalar mean over queries, float32 or wider.
    Cost: 6 N^2 D flops, as the dense path, all in the forward pass (``mean_nll_tiled``; symmetric: 8 N^2 D,
        ``symmetric_mean_nll_tiled``), O(N D) memory plus the tile budget.
    Explicit negatives ((M, D) or (N, M, D)) stay with ``info_nce``: they are O(N M) anyway.
    """
    q, p, temperature = normalized_in_batch_pair(query, positive, temperature, symmetric)  # (N, D), (N, D)
    scale = inverse_temperature(temperature, q.dtype)
    if not symmetric:
        weights = q.new_full((len(q),), 1 / len(q))  # (N,) the mean
        return mean_nll_tiled(q, p, scale, weights=weights, positive=torch.arange(len(q), device=q.device),
                              tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)
    return symmetric_mean_nll_tiled(q, p, scale, tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)


def nt_xent_tiled(z1: Tensor, z2: Tensor, *, temperature: float | Tensor = 0.1, tile_size: TileSize = None,
                  memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    r"""``nt_xent`` (SimCLR), tiled: over z = [ẑ1; ẑ2] (2N rows), anchor a excludes itself and its
    positive is a + N mod 2N.

    .. math:: \ell_a = \log\sum_{k \ne a} e^{s_{ak}/\tau} - s_{a,a^+}/\tau,\qquad L = \frac{1}{2N}\sum_a \ell_a

    Args:
        z1, z2: (N, D) two views, N >= 2.
        temperature: tau > 0, a divisor; default 0.1, as ``nt_xent`` (SimCLR, Chen et al. 2020).
        tile_size, memory_budget_bytes: the tile; see ``tile_shape``.
    Returns: scalar mean over the 2N anchors, float32 or wider.
    Cost: 24 N^2 D flops, as the dense path, all in the forward pass (``mean_nll_tiled``), O(N D) memory plus
        the tile budget.
    """
    temperature = check.two_views(z1, z2, temperature)
    n = len(z1)
    z = l2_normalize(torch.cat([z1, z2]), compute_dtype(z1, z2))  # (2N, D)
    self_index = torch.arange(2 * n, device=z.device)  # (2N,)
    return mean_nll_tiled(z, z, inverse_temperature(temperature, z.dtype), weights=z.new_full((2 * n,), 1 / (2 * n)),
                          positive=twin_index(n, z.device), exclude=self_index, tile_size=tile_size,
                          memory_budget_bytes=memory_budget_bytes)


def clip_loss_tiled(a: Tensor, b: Tensor, *, logit_scale: float | Tensor, tile_size: TileSize = None,
                    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    r"""``clip_loss``, tiled: cross-entropy over rows and over columns of t â b̂ᵀ, averaged, with both
    log-sum-exps accumulated from the same tiles.

    Args:
        a, b: (N, D) paired embeddings, N >= 2.
        logit_scale: t > 0, a multiplier (a float or a 0-d tensor such as ``LearnableLogitScale()()``).
        tile_size, memory_budget_bytes: the tile; see ``tile_shape``.
    Returns: scalar, float32 or wider.
    Cost: 2 N^2 D flops forward, 6 N^2 D backward (the dense path: 4; ``symmetric_mean_nll_tiled``), O(N D)
        memory plus the tile budget.
    """
    logit_scale = check.positive_number("logit_scale", logit_scale)
    a_hat, b_hat = normalized_towers(a, b)  # (N, D), (N, D)
    scale = cast_scalar(logit_scale, a_hat.dtype)
    return symmetric_mean_nll_tiled(a_hat, b_hat, scale, tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)
