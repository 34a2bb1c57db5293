r"""The one numerical core every contrastive loss stands on.

A contrastive loss scores each anchor's candidates with logits and asks for the positive:

.. math:: \ell_i = \log\sum_{j \in C(i)} e^{x_{ij}} - x_{i,\mathrm{pos}(i)}

computed with ``logsumexp`` (never a raw ``exp``), and with the positive logit read from the same
matrix as the log-sum-exp, so that the two rounding errors cannot drift apart at small temperature.
Logits are float32 or wider even when the embeddings are bf16/fp16.

Shapes: logits (R, C), R anchors by C candidates; ``positive_index`` (R,) long; ``keep`` (R, C) bool.
The two-view losses stack z = [z1; z2] (2N, D), so their logits are (2N, 2N) and the positive of
row a is a + N mod 2N. The last section holds what the loss modules share before the core: their
argument checks (``contrastlab.validation``) followed by the normalised embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import validation as check


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """The dtype the loss is computed in: the inputs' common dtype, but never narrower than float32."""
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def l2_normalize(x: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """Rows (last axis) scaled to unit length, in ``dtype`` (default: ``compute_dtype(x)``).

    A zero row stays zero (its cosine with anything is 0) rather than becoming NaN.

    Each row is first divided by its largest absolute entry, so its squared norm is in [1, D] and
    cannot overflow or underflow: a row of 1e20s in float32 (squared norm 1e40 > float32's 3.4e38)
    or of 1e30s in bf16 gets the same unit row as the row divided by 1e20, where a plain
    ``x / ||x||`` would return a zero row. The max-abs scale is detached: ``x / ||x||`` does not
    depend on it, so the gradient is the same. The work is done in the wider of ``x.dtype`` and
    ``dtype``, so a float64 row of 1e200s asked for in float32 is scaled before it is narrowed.
    """
    dtype = dtype or compute_dtype(x)
    x = x.to(torch.promote_types(x.dtype, dtype))  # (..., D), never narrower than the answer
    if x.shape[-1] == 0:
        return x.to(dtype)
    scale = x.detach().abs().amax(dim=-1, keepdim=True)  # (..., 1) each row's max-abs entry
    scaled = x / torch.where(scale > 0, scale, torch.ones_like(scale))  # (..., D) entries in [-1, 1]
    return F.normalize(scaled, dim=-1, eps=1e-12).to(dtype)


def masked_logsumexp(logits: Tensor, keep: Tensor | None = None, dim: int = -1) -> Tensor:
    """``log sum exp`` over ``dim`` of the entries where ``keep`` is True (all entries if None)."""
    if keep is not None:
        logits = logits.masked_fill(~keep, float("-inf"))
    return torch.logsumexp(logits, dim=dim)


def positive_nll(logits: Tensor, positive_index: Tensor, keep: Tensor | None = None) -> Tensor:
    r"""Per-row negative log-likelihood of the positive among the kept candidates.

    .. math:: \ell_i = \log\sum_{j:\,\mathrm{keep}_{ij}} e^{x_{ij}} - x_{i,\mathrm{pos}(i)}

    Args:
        logits: (R, C) scores, already divided by the temperature.
        positive_index: (R,) long, the column of each row's positive (it should be kept).
        keep: (R, C) bool, the candidates of each row; None keeps every column. The positive is read
            whether kept or not (the decoupled loss leaves it out of the sum).
    Returns: (R,) losses.
    """
    if keep is None:
        # cross_entropy is exactly this: log_softmax (a fused, max-shifted log-sum-exp) read at the
        # positive, with a fused backward: one pass over the (R, C) matrix each way, not logsumexp's several.
        return F.cross_entropy(logits, positive_index, reduction="none")
    positive = logits.gather(1, positive_index[:, None]).squeeze(1)  # (R,)
    return masked_logsumexp(logits, keep) - positive


def diagonal_column_nll(logits: Tensor) -> Tensor:
    r"""Per-column loss of a square logits matrix whose positives are on the diagonal (the second
    direction of CLIP and of symmetric InfoNCE):

    .. math:: \ell_c = \log\sum_r e^{x_{rc}} - x_{cc}

    Equal to ``positive_nll(logits.T, arange(N))`` without the transposed copy (about 20% faster).

    Args:
        logits: (N, N).
    Returns: (N,) losses.
    """
    return -logits.log_softmax(dim=0).diagonal()


def twin_index(n: int, device: torch.device) -> Tensor:
    """(2N,) long: in the stacked batch ``cat([z1, z2])`` the positive of row a is row (a + N) mod 2N."""
    return (torch.arange(2 * n, device=device) + n) % (2 * n)


def two_view_logits(z1: Tensor, z2: Tensor, temperature: float | Tensor) -> Tensor:
    """(2N, 2N) cosine similarities of the stacked views ``cat([z1, z2])`` divided by the temperature.

    The diagonal (self-similarity) is left in; callers mask it out.
    Cost: 4 N^2 D multiply-adds, O(N^2) memory.
    """
    z = l2_normalize(torch.cat([z1, z2]), compute_dtype(z1, z2))  # (2N, D)
    return (z / temperature) @ z.T  # (2N, 2N); τ folded into one factor: O(N D) instead of O(N^2)


def two_view_masks(n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Masks of the stacked 2N x 2N batch: ``not_self`` (all but the diagonal) and ``negatives``
    (all but the diagonal and the twin), both (2N, 2N) bool."""
    eye = torch.eye(2 * n, dtype=torch.bool, device=device)  # (2N, 2N)
    twin = eye.roll(n, dims=1)  # (2N, 2N): True at (a, a+N mod 2N)
    return ~eye, ~(eye | twin)


# ---------------------------------------------------------------------------------------------
# prepared inputs: the checks of one argument convention, then the normalised embeddings
# ---------------------------------------------------------------------------------------------

def cast_scalar(value: float | Tensor, dtype: torch.dtype) -> float | Tensor:
    """A float as it is; a 0-d tensor (a learnable temperature or scale) cast to ``dtype``, gradient kept."""
    return value.to(dtype) if isinstance(value, Tensor) else value


def inverse_temperature(temperature: float | Tensor, dtype: torch.dtype) -> float | Tensor:
    """1 / temperature, the logit scale; a tensor is cast to ``dtype`` first (so float64 stays exact)."""
    return temperature.to(dtype).reciprocal() if isinstance(temperature, Tensor) else 1.0 / temperature


def normalized_towers(a: Tensor, b: Tensor, *, min_rows: int = 2,
                      why: str = "with N = 1 there is no other pair to contrast") -> tuple[Tensor, Tensor]:
    """The two-tower checks (``validation.towers``), then (N, D) â and b̂ in their compute dtype."""
    check.towers(a, b, min_rows=min_rows, why=why)
    dtype = compute_dtype(a, b)
    return l2_normalize(a, dtype), l2_normalize(b, dtype)


def normalized_in_batch_pair(query: Tensor, positive: Tensor, temperature: object,
                             symmetric: object) -> tuple[Tensor, Tensor, float | Tensor]:
    """In-batch ``info_nce``'s checks (``validation.in_batch_pair``), then (N, D) q̂, p̂ and the temperature."""
    temperature = check.in_batch_pair(query, positive, temperature, symmetric)
    dtype = compute_dtype(query, positive)
    return l2_normalize(query, dtype), l2_normalize(positive, dtype), temperature
