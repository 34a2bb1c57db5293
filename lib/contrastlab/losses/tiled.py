r"""Tiled contrastive cross-entropy: the loss of an (R, C) logit matrix without ever holding it.

Every in-batch contrastive loss asks, for each row r of the logits :math:`x_{rc} = t\,\hat q_r^\top \hat k_c`
(t = 1/temperature, the logit scale), how probable its positive column is among its candidates:

.. math:: \ell_r = \log\sum_{c \in C(r)} e^{x_{rc}} - x_{r,\mathrm{pos}(r)}

The dense path (``info_nce``, ``nt_xent``, ``clip_loss``) builds the (R, C) matrix and autograd keeps
it (or its log-softmax) for the backward pass: O(R C) memory, 1 GiB at N = 16384 in float32.
This path walks over (Rb, Cb) tiles of the matrix instead, as Inf-CL and Cut Cross-Entropy do:

- **forward**: one matmul per tile, an *online* log-sum-exp per row (a running max and a running sum
  of ``exp(x - max)``, rescaled when the max grows), and each row's positive logit read from the
  tile that holds it, i.e. from the very numbers the log-sum-exp sums (never a separate dot product).
  Only Q, K and the (R,) log-sum-exps are saved for backward.
- **backward**: each tile is recomputed, already shifted by the row's log-sum-exp in the same
  matmul (``[t q_r, -lse_r] . [k_c, 1] = x_rc - lse_r``), so that one in-place ``exp`` gives the
  softmax P. With G = g (P - Y) the gradient of the loss w.r.t. the logits (Y one-hot at the positives),

  .. math:: \partial q_r = t \sum_c G_{rc} k_c,\quad \partial k_c = t \sum_r G_{rc} q_r,\quad
            \partial t = \sum_{rc} G_{rc}\, q_r^\top k_c = \sum_r q_r^\top (G K)_r

  two matmuls per tile (after the one that recomputes it); the one-hot part Y is applied once at
  the end as an O(R D) gather.

The tile is sized from a memory budget (default 64 MiB for all tile buffers together, and at most
8 MiB per buffer, which runs fastest); a tile spans the full width of the matrix (a few large
matmuls) and splits the columns only when 128 full rows would not fit (C > 16384 in float32).
``contrastive_nll_dense`` is the plain twin: the same contract in a few lines, which the tests (and
a reader) compare against.

Memory: saved for backward O((R + C) D); peak O((R + C) D) + the budget, instead of O(R C).
Time: one more matmul than the dense path (two with ``columns``: the recomputation), but no (R, C)
allocations and no pass over (R, C) memory that misses the cache; on CPU it is about half the time of
the dense path at N = 4096 (see the note on threads in ``contrastive_nll_tiled``).

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
# impl="auto" tiles when the dense logits would have at least this many entries (N = 1024 for a
# square matrix): measured on CPU, the tiled path is already faster there and its memory is flat.
AUTO_TILED_MIN_ENTRIES = 1024 * 1024
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


def resolve_impl(impl: str, rows: int, cols: int) -> str:
    """``"dense"`` or ``"tiled"``: ``impl`` itself, or for ``"auto"`` tiled from
    ``AUTO_TILED_MIN_ENTRIES`` logits on (N >= 1024 for a square matrix)."""
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of "dense", "tiled", "auto", got {impl!r}')
    if impl == "auto":
        return "tiled" if rows * cols >= AUTO_TILED_MIN_ENTRIES else "dense"
    return impl


# ---------------------------------------------------------------------------------------------
# the plain twin
# ---------------------------------------------------------------------------------------------

def contrastive_nll_dense(q: Tensor, k: Tensor, scale: float | Tensor, *, positive: Tensor | None = None,
                          exclude: Tensor | None = None, columns: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    r"""Per-row losses :math:`\ell_r = \log\sum_{c \ne \mathrm{exclude}(r)} e^{x_{rc}} - x_{r,\mathrm{pos}(r)}`
    with the (R, C) logits in memory. Same contract as ``contrastive_nll_tiled``."""
    logits = (q * scale) @ k.T  # (R, C); the scale folded into q: O(R D), not O(R C)
    rows = torch.arange(len(q), device=q.device)  # (R,)
    positive = rows if positive is None else positive  # (R,) column of each row's positive
    keep = None
    if exclude is not None:
        keep = torch.ones_like(logits, dtype=torch.bool)  # (R, C)
        keep[rows, exclude] = False
    row_loss = positive_nll(logits, positive, keep)  # (R,)
    if not columns:
        return row_loss
    return row_loss, positive_nll(logits.T, rows)  # (R,), (C,): column c's positive is row c


# ---------------------------------------------------------------------------------------------
# the tiled path
# ---------------------------------------------------------------------------------------------

def contrastive_nll_tiled(q: Tensor, k: Tensor, scale: float | Tensor, *, positive: Tensor | None = None,
                          exclude: Tensor | None = None, columns: bool = False, tile_size: TileSize = None,
                          memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> Tensor | tuple[Tensor, Tensor]:
    r"""Per-row contrastive losses of the logits :math:`x = t\,Q K^\top` without materialising them.

    Args:
        q: (R, D) anchors, L2-normalised, float32 or wider.  k: (C, D) candidates, same dtype.
        scale: t > 0, the logit scale (1/temperature): a float or a 0-d tensor (which gets a gradient).
        positive: (R,) long, the column of each row's positive; None for the diagonal (needs R <= C).
        exclude: (R,) long, one column per row left out of its candidates (e.g. its own copy in
            NT-Xent, where anchor a excludes column a); None keeps every column.
        columns: also return the (C,) column losses, column c against all rows with row c its
            positive (the second direction of CLIP / symmetric InfoNCE); needs R == C and the
            diagonal positives, no ``exclude``.
        tile_size, memory_budget_bytes: the tile; see ``tile_shape``.
    Returns: (R,) row losses, or ((R,), (C,)) with ``columns``; differentiable w.r.t. q, k and scale.

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
    return _TiledContrastiveNLL.apply(q.contiguous(), k.contiguous(), scale, positive, exclude, columns,
                                      tile_rows, tile_cols)


def contrastive_nll(q: Tensor, k: Tensor, scale: float | Tensor, *, positive: Tensor | None = None,
                    exclude: Tensor | None = None, columns: bool = False, impl: str = "auto",
                    tile_size: TileSize = None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET):
    """``contrastive_nll_dense`` or ``contrastive_nll_tiled``, as ``resolve_impl(impl, R, C)`` says."""
    if resolve_impl(impl, len(q), len(k)) == "dense":
        return contrastive_nll_dense(q, k, scale, positive=positive, exclude=exclude, columns=columns)
    return contrastive_nll_tiled(q, k, scale, positive=positive, exclude=exclude, columns=columns,
                                 tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)


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


def _online_logsumexp_(x: Tensor, running_max: Tensor, running_sum: Tensor, dim: int, scratch: Tensor) -> None:
    """Fold tile ``x`` into a running log-sum-exp along ``dim``, in place.

    Invariant: running_sum * exp(running_max) = sum of exp(x) over the tiles seen so far.
    ``scratch`` (x's shape; may be x itself when x is no longer needed) receives exp(x - max).
    """
    new_max = torch.maximum(running_max, x.amax(dim))  # (Rb,) or (Cb,)
    new_max.clamp_(min=torch.finfo(x.dtype).min)  # a fully excluded tile (all -inf) must not give -inf - -inf
    running_sum.mul_((running_max - new_max).exp_())  # rescale the old sum to the new max
    running_sum.add_(torch.sub(x, new_max.unsqueeze(dim), out=scratch).exp_().sum(dim))
    running_max.copy_(new_max)


class _TiledContrastiveNLL(torch.autograd.Function):
    """Per-row (and per-column) losses of x = scale * q @ k.T, tile by tile; see the module docstring."""

    @staticmethod
    def forward(ctx, q, k, scale, positive, exclude, columns, tile_rows, tile_cols):
        n_rows, n_cols = len(q), len(k)
        t = float(scale.detach()) if isinstance(scale, Tensor) else float(scale)
        q_scaled = q * t  # (R, D): then x = q_scaled @ k.T
        row_max = q.new_full((n_rows,), -math.inf)  # (R,) running max of each row
        row_sum = q.new_zeros(n_rows)  # (R,) running sum of exp(x - row_max)
        pos_logit = q.new_zeros(n_rows)  # (R,) x[r, positive[r]], read from its tile
        if columns:
            col_max, col_sum = q.new_full((n_cols,), -math.inf), q.new_zeros(n_cols)  # (C,), (C,)
        x_buffer = q.new_empty(tile_rows * tile_cols)
        e_buffer = q.new_empty(tile_rows * tile_cols) if columns else x_buffer

        for r0, r1 in _spans(n_rows, tile_rows):
            for c0, c1 in _spans(n_cols, tile_cols):
                x = torch.mm(q_scaled[r0:r1], k[c0:c1].T, out=_tile(x_buffer, r1 - r0, c1 - c0))  # (Rb, Cb)
                if exclude is not None:  # each row's excluded column, where it falls in this tile, -> -inf
                    local, hit = _in_tile(exclude[r0:r1], c0, c1 - c0)  # (Rb, 1), (Rb, 1)
                    x.scatter_(1, local, torch.where(hit, -math.inf, x.gather(1, local)))
                local, hit = _in_tile(positive[r0:r1], c0, c1 - c0)  # (Rb, 1), (Rb, 1)
                pos_logit[r0:r1] = torch.where(hit, x.gather(1, local), pos_logit[r0:r1, None]).squeeze(1)
                e = _tile(e_buffer, r1 - r0, c1 - c0)  # (Rb, Cb); x itself unless x is still needed
                _online_logsumexp_(x, row_max[r0:r1], row_sum[r0:r1], 1, scratch=e)
                if columns:
                    _online_logsumexp_(x, col_max[c0:c1], col_sum[c0:c1], 0, scratch=e)

        row_lse = row_max + row_sum.log()  # (R,)
        col_lse = col_max + col_sum.log() if columns else None  # (C,)
        ctx.save_for_backward(q, k, positive, exclude, row_lse, col_lse)
        ctx.scale = t
        ctx.scale_meta = (scale.shape, scale.dtype) if isinstance(scale, Tensor) else None
        ctx.tile = (tile_rows, tile_cols)
        if not columns:
            return row_lse - pos_logit  # (R,)
        return row_lse - pos_logit, col_lse - pos_logit  # (R,), (C,): column c's positive is x[c, c]

    @staticmethod
    @once_differentiable
    def backward(ctx, g_row, g_col=None):
        q, k, positive, exclude, row_lse, col_lse = ctx.saved_tensors
        t, (tile_rows, tile_cols) = ctx.scale, ctx.tile
        columns = col_lse is not None
        n_rows, n_cols = len(q), len(k)
        q_scaled = q * t  # (R, D)
        # shifted logits in one matmul: [t q_r, -lse_r] . [k_c, 1] = x_rc - lse_r (and likewise per column)
        q_row = torch.cat([q_scaled, -row_lse[:, None]], 1)  # (R, D+1)
        k_row = torch.cat([k, k.new_ones(n_cols, 1)], 1)  # (C, D+1)
        if columns:
            q_col = torch.cat([q_scaled, q.new_ones(n_rows, 1)], 1)  # (R, D+1)
            k_col = torch.cat([k, -col_lse[:, None]], 1)  # (C, D+1): [t q_r, 1] . [k_c, -lse_c] = x_rc - lse_c
        del q_scaled
        need_dq = ctx.needs_input_grad[0] or ctx.needs_input_grad[2]
        need_dk = ctx.needs_input_grad[1]
        dq_sum = q.new_zeros(q.shape)  # (R, D): sum_c G_rc k_c
        dk_sum = k.new_zeros(k.shape) if need_dk else None  # (C, D): sum_r G_rc q_r
        p_buffer = q.new_empty(tile_rows * tile_cols)
        pc_buffer = q.new_empty(tile_rows * tile_cols) if columns else None

        for r0, r1 in _spans(n_rows, tile_rows):
            for c0, c1 in _spans(n_cols, tile_cols):
                p = torch.mm(q_row[r0:r1], k_row[c0:c1].T, out=_tile(p_buffer, r1 - r0, c1 - c0))  # (Rb, Cb)
                if exclude is not None:
                    local, hit = _in_tile(exclude[r0:r1], c0, c1 - c0)
                    p.scatter_(1, local, torch.where(hit, -math.inf, p.gather(1, local)))
                g = p.exp_().mul_(g_row[r0:r1, None])  # (Rb, Cb) g_r * softmax_r: G without its one-hot part
                if columns:
                    pc = torch.mm(q_col[r0:r1], k_col[c0:c1].T, out=_tile(pc_buffer, r1 - r0, c1 - c0))
                    g.addcmul_(pc.exp_(), g_col[None, c0:c1])  # + g_c * column softmax_c
                if need_dq:
                    dq_sum[r0:r1].addmm_(g, k[c0:c1])  # (Rb, D)
                if need_dk:
                    dk_sum[c0:c1].addmm_(g.T, q[r0:r1])  # (Cb, D)

        # the one-hot part: -y_r at (r, positive[r]), y = g_row (+ g_col of the same diagonal entry)
        y = g_row + g_col if columns else g_row  # (R,)
        dq_sum.sub_(y[:, None] * k[positive])  # (R, D)
        if need_dk:
            dk_sum.index_add_(0, positive, -y[:, None] * q)  # (C, D)
        dq = dq_sum * t if ctx.needs_input_grad[0] else None
        dk = dk_sum * t if need_dk else None
        d_scale = None
        if ctx.needs_input_grad[2]:
            shape, dtype = ctx.scale_meta
            d_scale = (q * dq_sum).sum().reshape(shape).to(dtype)  # sum_rc G_rc q_r . k_c
        return dq, dk, d_scale, None, None, None, None, None


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
    Cost: 2 N^2 D flops forward, 6 N^2 D backward (8 if symmetric; the dense path: 4), O(N D) memory
        plus the tile budget.
    Explicit negatives ((M, D) or (N, M, D)) stay with ``info_nce``: they are O(N M) anyway.
    """
    q, p, temperature = normalized_in_batch_pair(query, positive, temperature, symmetric)  # (N, D), (N, D)
    losses = contrastive_nll_tiled(q, p, inverse_temperature(temperature, q.dtype), columns=symmetric,
                                   tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)
    if not symmetric:
        return losses.mean()
    rows, cols = losses  # (N,), (N,)
    return (rows.mean() + cols.mean()) / 2


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
    Cost: 8 N^2 D flops forward, 24 N^2 D backward (the dense path: 16), O(N D) memory plus the tile budget.
    """
    temperature = check.two_views(z1, z2, temperature)
    n = len(z1)
    z = l2_normalize(torch.cat([z1, z2]), compute_dtype(z1, z2))  # (2N, D)
    self_index = torch.arange(2 * n, device=z.device)  # (2N,)
    losses = contrastive_nll_tiled(z, z, inverse_temperature(temperature, z.dtype), positive=twin_index(n, z.device),
                                   exclude=self_index, tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)
    return losses.mean()


def clip_loss_tiled(a: Tensor, b: Tensor, *, logit_scale: float | Tensor, tile_size: TileSize = None,
                    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    r"""``clip_loss``, tiled: cross-entropy over rows and over columns of t â b̂ᵀ, averaged, with both
    log-sum-exps accumulated from the same tiles.

    Args:
        a, b: (N, D) paired embeddings, N >= 2.
        logit_scale: t > 0, a multiplier (a float or a 0-d tensor such as ``LearnableLogitScale()()``).
        tile_size, memory_budget_bytes: the tile; see ``tile_shape``.
    Returns: scalar, float32 or wider.
    Cost: 2 N^2 D flops forward, 8 N^2 D backward (the dense path: 4), O(N D) memory plus the tile budget.
    """
    logit_scale = check.positive_number("logit_scale", logit_scale)
    a_hat, b_hat = normalized_towers(a, b)  # (N, D), (N, D)
    scale = cast_scalar(logit_scale, a_hat.dtype)
    rows, cols = contrastive_nll_tiled(a_hat, b_hat, scale, columns=True, tile_size=tile_size,
                                       memory_budget_bytes=memory_budget_bytes)  # (N,), (N,)
    return (rows.mean() + cols.mean()) / 2
