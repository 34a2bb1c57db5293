r"""Contrastive losses over the global batch of all ranks: an all-gather that gradients flow back through.

In data-parallel training each of the W ranks holds n local samples, but an in-batch contrastive loss
gets better with more negatives. So each rank gathers every rank's (normalised) embeddings, the
*global batch* of N = W n rows, and scores its **own n anchors against all N candidates** (lightly's
``gather_distributed=True``, open_clip's ``local_loss=True``). Nothing is computed twice: the (n, N)
logits of the W ranks tile the (N, N) matrix of the single-process loss.

**Layout.** The global batch is the ranks' local batches concatenated in rank order, so local row i of
rank r is global row ``rank_offset(n) + i = r n + i``:

- ``info_nce`` / ``clip_loss``: local anchor i's positive is global candidate ``r n + i``; the second
  direction (symmetric / CLIP columns) scores the local positives against the gathered queries the
  same way.
- ``nt_xent``: the candidates are [Z1; Z2] (2N rows) with Z1, Z2 the gathered views. Local anchor i of
  view 1 is global row ``r n + i``: it excludes that column and its positive is ``N + r n + i``;
  local anchor i of view 2 is global row ``N + r n + i``: it excludes that one, its positive is ``r n + i``.

**Why the values match.** Each rank returns the mean over its own anchors, L_r. With equal local
batches the ranks' anchors partition the global ones, so (1/W) sum_r L_r is the single-process loss
L on the concatenated batch.

**Why the gradients match under DDP.** The gather's backward sums the gradient over ranks
(all_reduce SUM) and keeps this rank's slice, so rank s's embeddings receive
sum_r dL_r/dz_s = W dL/dz_s: the gradient of the *sum* of the ranks' losses. DDP then *averages*
the parameter gradients over ranks, dividing by W: the parameters see exactly dL/dθ, as if one
process had computed L on the global batch. So each rank's loss must be its local mean (as here):
do not multiply it by W, and do not average the gradient again. Parameters used outside the
gather (a learnable temperature or logit scale) get dL_r/dt on rank r, and DDP's average of those
is dL/dt too.

All ranks must hold the same number of rows (``gather_with_grad`` checks, as DDP with
``drop_last=True`` ensures). Without an initialised process group (or with one rank) every
function here is the single-process loss.

References: Chen et al. 2020 (SimCLR: global batch norm and gathered negatives); Radford et al. 2021
(CLIP); lightly ``GatherLayer``; open_clip ``gather_features``.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from .. import validation as check
from .core import (cast_scalar, compute_dtype, inverse_temperature, l2_normalize, normalized_in_batch_pair,
                   normalized_towers)
from .tiled import DEFAULT_MEMORY_BUDGET, TileSize, contrastive_nll, mean_nll


def is_distributed(group=None) -> bool:
    """True when ``torch.distributed`` is initialised with more than one rank (in ``group``)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def should_gather(gather_distributed: bool | None, group=None) -> bool:
    """A loss's ``gather_distributed`` argument resolved: True/False as given; None (the default) gathers
    exactly when ``is_distributed()``."""
    if gather_distributed is not None and not isinstance(gather_distributed, bool):
        raise TypeError(f"gather_distributed must be None or a bool, got {type(gather_distributed).__name__}")
    return is_distributed(group) if gather_distributed is None else gather_distributed


def rank_offset(n_local: int, group=None) -> int:
    """The global row of this rank's local row 0: ``rank * n_local`` (0 when not distributed)."""
    return dist.get_rank(group) * n_local if is_distributed(group) else 0


class _GatherWithGrad(torch.autograd.Function):
    """all_gather forward; backward sums the incoming gradient over ranks and keeps this rank's slice."""

    @staticmethod
    def forward(ctx, x, group):
        world, rank = dist.get_world_size(group), dist.get_rank(group)
        parts = [torch.empty_like(x) for _ in range(world)]  # W x (n, ...)
        dist.all_gather(parts, x.contiguous(), group=group)
        ctx.group, ctx.rows = group, slice(rank * len(x), (rank + 1) * len(x))
        return torch.cat(parts)  # (W n, ...)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()  # all_reduce works in place; the incoming gradient is not ours
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)  # sum_r dL_r / d(global batch)
        return grad[ctx.rows], None  # (n, ...)


def gather_with_grad(x: Tensor, group=None) -> Tensor:
    """(W n, ...) the concatenation of every rank's ``x`` (n, ...) in rank order, differentiable:
    this rank's ``x`` receives the sum over ranks of the gradients w.r.t. its slice.

    Returns ``x`` itself when not distributed. Raises ``ValueError`` (on every rank) when the ranks'
    shapes differ, which would otherwise fail inside the backend or hang.
    """
    if not is_distributed(group):
        return x
    shape = torch.tensor(x.shape, dtype=torch.long, device=x.device)  # (ndim,)
    shapes = [torch.empty_like(shape) for _ in range(dist.get_world_size(group))]
    dist.all_gather(shapes, shape, group=group)
    if any(not torch.equal(s, shape) for s in shapes):
        listed = ", ".join(str(tuple(s.tolist())) for s in shapes)
        raise ValueError(f"every rank must gather the same shape (equal local batches, e.g. drop_last=True), "
                         f"got {listed}")
    return _GatherWithGrad.apply(x, group)


def global_batch(*tensors: Tensor, group=None) -> tuple[Tensor, ...]:
    """Each tensor's global batch (``gather_with_grad``), in one collective; the tensors themselves
    when not distributed. They must share their first dimension, dtype and device."""
    if not is_distributed(group):
        return tensors
    flat = torch.cat([t.reshape(len(t), -1) for t in tensors], 1)  # (n, sum of row sizes)
    gathered = gather_with_grad(flat, group)  # (W n, sum of row sizes)
    widths = [t[0].numel() for t in tensors]
    return tuple(part.reshape(-1, *t.shape[1:]) for part, t in zip(gathered.split(widths, 1), tensors))


def local_index(n: int, device: torch.device, group=None) -> Tensor:
    """(n,) the global rows of this rank's local rows (``arange(n)`` when not distributed)."""
    return rank_offset(n, group) + torch.arange(n, device=device)


def two_view_candidates(z1_hat: Tensor, z2_hat: Tensor, *, gather: bool, group=None
                        ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The stacked two-view batch of the NT-Xent family, local anchors against global candidates.

    Args:
        z1_hat, z2_hat: (n, D) this rank's normalised views. gather: use every rank's (``global_batch``).
    Returns: anchors [ẑ1; ẑ2] (2n, D), candidates [Z1; Z2] (2N, D) (the anchors themselves when not
        gathering), and per anchor its own global row (2n,) and its twin's (2n,), its positive.
    """
    anchors = torch.cat([z1_hat, z2_hat])  # (2n, D)
    if not (gather and is_distributed(group)):
        n = len(z1_hat)
        own = torch.arange(2 * n, device=anchors.device)  # (2n,)
        return anchors, anchors, own, (own + n) % (2 * n)
    z1_all, z2_all = global_batch(z1_hat, z2_hat, group=group)  # (N, D), (N, D)
    view1 = local_index(len(z1_hat), z1_hat.device, group)  # (n,) global rows of the local view-1 anchors
    view2 = view1 + len(z1_all)  # (n,) ... and of the local view-2 anchors
    return anchors, torch.cat([z1_all, z2_all]), torch.cat([view1, view2]), torch.cat([view2, view1])


def info_nce_distributed(query: Tensor, positive: Tensor, *, temperature: float | Tensor = 0.1,
                         symmetric: bool = False, impl: str = "auto", tile_size: TileSize = None,
                         memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET, group=None) -> Tensor:
    r"""``info_nce`` (in-batch) with the negatives of every rank: this rank's (n, D) queries against
    the (N, D) gathered positives; query i's positive is global column ``rank_offset(n) + i``.

    Returns this rank's mean over its queries; its mean over ranks (what DDP's gradient averaging
    optimises) is ``info_nce`` on the concatenated batch. ``impl``: "dense", "tiled" or "auto".
    ``temperature``: default 0.1, as ``info_nce``.
    """
    q, p, temperature = normalized_in_batch_pair(query, positive, temperature, symmetric)  # (n, D), (n, D)
    scale = inverse_temperature(temperature, q.dtype)
    q_all, p_all = global_batch(q, p, group=group) if symmetric else (None, *global_batch(p, group=group))
    index = local_index(len(q), q.device, group)  # (n,)
    kw = dict(impl=impl, tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)
    if not symmetric:  # local queries vs global positives, this rank's mean
        return mean_nll(q, p_all, scale, weights=q.new_full((len(q),), 1 / len(q)), positive=index, **kw)
    rows = contrastive_nll(q, p_all, scale, positive=index, **kw)  # (n,) local queries vs global positives
    cols = contrastive_nll(p, q_all, scale, positive=index, **kw)  # (n,) local positives vs global queries
    return (rows.mean() + cols.mean()) / 2


def nt_xent_distributed(z1: Tensor, z2: Tensor, *, temperature: float | Tensor = 0.1, impl: str = "auto",
                        tile_size: TileSize = None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
                        group=None) -> Tensor:
    r"""``nt_xent`` with the negatives of every rank: this rank's 2n anchors [ẑ1; ẑ2] against the 2N
    candidates [Z1; Z2] of the global batch (see the module docstring for the indices).

    Returns this rank's mean over its 2n anchors; its mean over ranks is ``nt_xent`` on the
    concatenated batch. ``temperature``: default 0.1, as ``nt_xent`` (SimCLR, Chen et al. 2020).
    """
    temperature = check.two_views(z1, z2, temperature)
    dtype = compute_dtype(z1, z2)
    z1_hat, z2_hat = l2_normalize(z1, dtype), l2_normalize(z2, dtype)  # (n, D), (n, D)
    z1_all, z2_all = global_batch(z1_hat, z2_hat, group=group)  # (N, D), (N, D)
    anchors = torch.cat([z1_hat, z2_hat])  # (2n, D)
    candidates = torch.cat([z1_all, z2_all])  # (2N, D)
    view1 = local_index(len(z1), z1.device, group)  # (n,) global rows of the local view-1 anchors
    view2 = view1 + len(z1_all)  # (n,) ... and of the local view-2 anchors
    weights = anchors.new_full((len(anchors),), 1 / len(anchors))  # (2n,) this rank's mean
    return mean_nll(anchors, candidates, inverse_temperature(temperature, dtype), weights=weights,
                    positive=torch.cat([view2, view1]), exclude=torch.cat([view1, view2]),
                    impl=impl, tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)


def clip_loss_distributed(a: Tensor, b: Tensor, *, logit_scale: float | Tensor, impl: str = "auto",
                          tile_size: TileSize = None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
                          group=None) -> Tensor:
    r"""``clip_loss`` with the negatives of every rank: local â against the gathered B̂ (rows) and local
    b̂ against the gathered Â (columns); pair i's positive is global index ``rank_offset(n) + i``.

    Returns this rank's (rows mean + columns mean) / 2; its mean over ranks is ``clip_loss`` on the
    concatenated batch.
    """
    logit_scale = check.positive_number("logit_scale", logit_scale)
    a_hat, b_hat = normalized_towers(a, b)  # (n, D), (n, D)
    scale = cast_scalar(logit_scale, a_hat.dtype)
    a_all, b_all = global_batch(a_hat, b_hat, group=group)  # (N, D), (N, D)
    index = local_index(len(a_hat), a_hat.device, group)  # (n,)
    kw = dict(impl=impl, tile_size=tile_size, memory_budget_bytes=memory_budget_bytes)
    rows = contrastive_nll(a_hat, b_all, scale, positive=index, **kw)  # (n,)
    cols = contrastive_nll(b_hat, a_all, scale, positive=index, **kw)  # (n,)
    return (rows.mean() + cols.mean()) / 2

