"""``plan``: what a batch set-up gives a contrastive loss, before you run it.

How many negatives each anchor sees, and what the logits cost per device, dense and tiled:

    >>> print(plan(256, world_size=8))          # doctest: +SKIP
    >>> contrastlab plan 256 --world-size 8     # the same, from the shell

Three facts it makes explicit: gathering across devices multiplies the negatives (every device scores its
anchors against the global batch); gradient accumulation does not (each micro-batch's loss sees only its
own batch, so accumulating k steps of N is not a batch of kN for a contrastive loss); and the tiled path
(``impl="tiled"``) keeps the same numbers at O(N D) memory instead of O(N²).

The memory figures are estimates of one forward and backward call of the loss (the embeddings' own
storage excluded): dense, about three logits-sized buffers (the logits, the softmax saved for backward and
its gradient; four for ``clip_loss``, which normalises the columns too); tiled, one tile buffer (two for
``clip_loss``) plus the normalised embeddings and their gradients. ``tests/test_planning.py`` checks them
against measured peaks.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch

from . import losses as L
from . import validation as check
from .losses import tiled

__all__ = ["Plan", "plan", "PLAN_LOSSES"]

# loss: (logit rows per sample, logit columns per sample, the row's own column left out,
#        logits-sized buffers dense, tile-sized buffers tiled): the buffer counts measured on CPU
PLAN_LOSSES: dict[str, tuple[int, int, bool, int, int]] = {
    "nt_xent": (2, 2, True, 3, 1),  # 2N anchors against the other 2N - 1 rows: the twin and 2N - 2 negatives
    "decoupled_nt_xent": (2, 2, True, 3, 1),
    "supcon": (2, 2, True, 3, 1),  # two views, each sample its own class: as nt_xent (shared classes: fewer)
    "info_nce": (1, 1, False, 3, 1),
    "clip_loss": (1, 1, False, 4, 2),  # rows and columns both normalised
    "siglip_loss": (1, 1, False, 3, 1),
    "negative_cosine": (1, 0, False, 0, 0),
    "barlow_twins": (1, 0, False, 0, 0),
    "vicreg": (1, 0, False, 0, 0),
}


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n}"


@dataclass(frozen=True)
class Plan:
    """The negatives and the logits memory of one set-up (all per device unless the name says global)."""

    loss: str
    batch_size: int
    world_size: int
    gather: bool
    accumulation_steps: int
    dim: int
    dtype: torch.dtype
    impl: str  # what impl="auto" (or the given impl) runs: "dense", "tiled", or "none" (no logits)
    anchors_per_device: int
    candidates_per_anchor: int
    negatives_per_anchor: int
    samples_per_optimizer_step: int
    logits_shape: tuple[int, int]
    logits_bytes: int
    peak_bytes_dense: int
    peak_bytes_tiled: int | None  # None: the loss has no tiled path
    accumulation_adds_negatives: bool = False
    notes: tuple[str, ...] = field(default=(), repr=False)

    @property
    def peak_bytes(self) -> int:
        """The estimate for the implementation that runs."""
        return self.peak_bytes_tiled if self.impl == "tiled" and self.peak_bytes_tiled is not None \
            else self.peak_bytes_dense

    def __str__(self) -> str:
        rows, cols = self.logits_shape
        tiled_text = "no tiled path" if self.peak_bytes_tiled is None else _bytes(self.peak_bytes_tiled)
        lines = [
            f"{self.loss}: batch {self.batch_size} per device x {self.world_size} device(s), "
            f"gather={self.gather}, accumulation_steps={self.accumulation_steps}, D={self.dim}, "
            f"{str(self.dtype).replace('torch.', '')}",
            f"  negatives per anchor        {self.negatives_per_anchor}  (candidates {self.candidates_per_anchor})",
            f"  anchors per device          {self.anchors_per_device}",
            f"  samples per optimizer step  {self.samples_per_optimizer_step}  (accumulation adds no negatives)",
            f"  logits per device           {rows} x {cols} = {_bytes(self.logits_bytes)}",
            f"  peak memory per device      dense {_bytes(self.peak_bytes_dense)}, tiled {tiled_text}"
            f"  -> impl={self.impl}",
        ] if cols else [f"{self.loss}: batch {self.batch_size} per device x {self.world_size} device(s), "
                        f"D={self.dim}: no logits, no negatives"]
        return "\n".join(lines + [f"  - {note}" for note in self.notes])


def plan(batch_size: int, *, world_size: int = 1, gather: bool = True, accumulation_steps: int = 1,
         dim: int = 128, loss: str = "nt_xent", impl: str = "auto", dtype: torch.dtype = torch.float32) -> Plan:
    """Negatives per anchor and logits memory per device for ``loss`` at this batch set-up.

    Args:
        batch_size: N, samples (pairs) per device per micro-batch.
        world_size: devices; with ``gather`` each scores its anchors against all N·world_size samples.
        gather: gather the batch across devices (contrastlab's losses do under torch.distributed).
        accumulation_steps: micro-batches per optimizer step: more samples per step, the same negatives.
        dim: D, the embedding dimension.
        loss: one of ``PLAN_LOSSES`` (a name or the loss function).
        impl: "auto", "dense" or "tiled", as the losses take it ("auto": the CPU rule, tiled from 1024 x
            1024 logits up; on a CUDA device the losses' "auto" stays dense while the matrix fits in
            free memory, see ``losses.tiled.resolve_impl``).
        dtype: the embeddings' dtype; logits are float32 or wider.
    Returns: a frozen ``Plan``; ``print`` it for a summary.
    """
    name = getattr(loss, "__name__", loss)
    check.choice("loss", name, list(PLAN_LOSSES))
    n = check.integer("batch_size", batch_size, 1)
    world = check.integer("world_size", world_size, 1)
    gather = check.boolean("gather", gather)
    accumulation = check.integer("accumulation_steps", accumulation_steps, 1)
    d = check.integer("dim", dim, 1)
    check.choice("impl", impl, tiled.IMPLS)
    check.instance("dtype", dtype, torch.dtype, "a torch.dtype")
    rows_per, cols_per, leaves_self_out, buffers, tile_buffers = PLAN_LOSSES[name]
    global_n = n * world if gather else n
    rows, cols = rows_per * n, cols_per * global_n
    candidates = cols - leaves_self_out  # the positive and the negatives
    negatives = max(0, candidates - 1)
    element = torch.empty((), dtype=L.core.compute_dtype(torch.empty((), dtype=dtype))).element_size()
    logits_bytes = rows * cols * element
    embeddings = 2 * (rows + cols) * d * element  # normalised copies and their gradients
    has_tiled = "impl" in inspect.signature(getattr(L, name)).parameters
    chosen = "none" if not cols else (tiled.resolve_impl(impl, rows, cols) if has_tiled else "dense")
    if not has_tiled and impl == "tiled":
        tiled_losses = [k for k in PLAN_LOSSES if "impl" in inspect.signature(getattr(L, k)).parameters]
        raise ValueError(f"impl='tiled': {name} has no tiled path (tiled: {', '.join(tiled_losses)})")
    peak_tiled = None
    if has_tiled:
        tile_rows, tile_cols = tiled.tile_shape(rows, cols, element, buffers=2)
        peak_tiled = tile_buffers * tile_rows * tile_cols * element + 2 * embeddings
    notes = []
    if accumulation > 1:
        notes.append(f"accumulating {accumulation} micro-batches gives {n * world * accumulation} samples per step "
                     f"but each loss still sees {negatives} negatives per anchor (GradCache-style caching, "
                     "e.g. sentence-transformers' Cached losses, is what adds negatives at the same memory)")
    if world > 1:
        notes.append(f"gather={gather}: each device's anchors see {'the global' if gather else 'only its own'} batch "
                     f"({global_n} samples)")
    if not cols:
        notes.append(f"{name} has no negatives: its cost is O(N D) (negative_cosine) or O(D²) (barlow_twins, "
                     "vicreg), not O(N²)")
    return Plan(name, n, world, gather, accumulation, d, dtype, chosen, rows, candidates, negatives,
                n * world * accumulation, (rows, cols), logits_bytes, buffers * logits_bytes + embeddings
                if cols else 0, peak_tiled, False, tuple(notes))
