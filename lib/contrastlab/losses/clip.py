r"""Two-tower (CLIP-style) losses: a batch of N pairs (a_i, b_i), e.g. image and caption embeddings.

With â, b̂ the L2-normalised (N, D) towers and t the logit scale (a multiplier, t = 1/temperature),
the (N, N) logits :math:`L_{ij} = t\,\hat a_i^\top \hat b_j` hold the pairs on their diagonal:

- ``clip_loss``: cross-entropy over the rows (a → b) and over the columns (b → a), averaged,

  .. math:: \mathcal L = \tfrac12\Big[\tfrac1N\sum_i \big(\log\sum_j e^{L_{ij}} - L_{ii}\big)
            + \tfrac1N\sum_j \big(\log\sum_i e^{L_{ij}} - L_{jj}\big)\Big]

- ``clip_loss_with_negatives`` (NegCLIP): the a → b rows also score M extra (M, D) negatives on the b side;
- ``siglip_loss``: each of the N² pairs an independent binary classification,
  :math:`-\frac1N\sum_{ij}\log\sigma(z_{ij}(L_{ij} + b))` with z = +1 on the diagonal, -1 elsewhere;
- ``LearnableLogitScale``: CLIP's t = exp(w), learned and capped at 100.

References: Radford et al. 2021 (CLIP); Yuksekgonul et al. 2023 (NegCLIP); Zhai et al. 2023 (SigLIP).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import validation as check
from .core import cast_scalar, compute_dtype, diagonal_column_nll, l2_normalize, normalized_towers, positive_nll
from .distributed import clip_loss_distributed, global_batch, local_index, should_gather
from .tiled import resolve_impl, sigmoid_pairs_tiled, symmetric_mean_nll_tiled


def clip_loss(a: Tensor, b: Tensor, *, logit_scale: float | Tensor, impl: str = "auto",
              gather_distributed: bool | None = None) -> Tensor:
    r"""The symmetric two-tower loss of CLIP: cross-entropy over rows and over columns, averaged.

    .. math:: L_{ij} = t\,\hat a_i^\top \hat b_j,\qquad
              \mathcal L = \tfrac12\Big[\tfrac1N\sum_i \big(\log\sum_j e^{L_{ij}} - L_{ii}\big)
              + \tfrac1N\sum_j \big(\log\sum_i e^{L_{ij}} - L_{jj}\big)\Big]

    Args:
        a: (N, D) embeddings of one modality (e.g. images); b: (N, D) the paired other modality.
        logit_scale: t > 0, a multiplier (t = 1/temperature): a float, or a scalar tensor such as
            the output of ``LearnableLogitScale`` so that it is learned.
        impl: "dense" builds the N x N logits; "tiled" never does (``tiled.py``: the same numbers, O(N D)
            memory, faster at large N); "auto" picks tiled from about 1024 x 1024 logits up.
        gather_distributed: under ``torch.distributed``, gather the batch from every rank (with the
            gradient flowing back) so the negatives span the global batch; None: whenever distributed.
    Returns: scalar, float32 or wider.
    Cost: 2 N^2 D flops; O(N^2) memory dense, O(N D) tiled.
    References: Radford et al. 2021 (CLIP); Zhai et al. 2022 (LiT) use the same loss.
    """
    logit_scale = check.positive_number("logit_scale", logit_scale)
    if should_gather(gather_distributed):
        return clip_loss_distributed(a, b, logit_scale=logit_scale, impl=impl)
    a_hat, b_hat = normalized_towers(a, b)  # (N, D), (N, D)
    if resolve_impl(impl, len(a_hat), len(b_hat), a_hat.device) == "tiled":
        scale = cast_scalar(logit_scale, a_hat.dtype)
        return symmetric_mean_nll_tiled(a_hat, b_hat, scale)
    logits = (a_hat * logit_scale) @ b_hat.T  # (N, N); pairs on the diagonal; scale folded into a: O(N D)
    target = torch.arange(len(a_hat), device=a_hat.device)
    return (positive_nll(logits, target).mean() + diagonal_column_nll(logits).mean()) / 2


def clip_loss_with_negatives(a: Tensor, b: Tensor, b_negatives: Tensor, *, logit_scale: float | Tensor) -> Tensor:
    r"""The CLIP loss with extra hard negatives on the b side (NegCLIP).

    a → b: each a_i picks its b_i among the N in-batch b's **and** the M extra negatives; b → a is
    the usual in-batch direction (a negative caption has no image of its own, so it is not a row):

    .. math:: \mathcal L = \tfrac12\Big[\tfrac1N\sum_i \Big(\log\!\!\sum_{k \in b \cup n}\! e^{t\,\hat a_i^\top \hat k}
              - t\,\hat a_i^\top\hat b_i\Big) + \tfrac1N\sum_j \Big(\log\sum_i e^{t\,\hat a_i^\top \hat b_j}
              - t\,\hat a_j^\top\hat b_j\Big)\Big]

    Negatives far from every a (t â_iᵀn̂_k ≪ the in-batch logits) leave ``clip_loss``.

    Args:
        a: (N, D) one tower (e.g. images), N >= 2; b: (N, D) the paired other tower (e.g. captions).
        b_negatives: (M, D) extra b-side negatives shared by every a_i (e.g. captions with swapped words).
        logit_scale: t > 0, a multiplier (a float or a scalar tensor such as ``LearnableLogitScale()()``).
    Returns: scalar, float32 or wider.
    Cost: 2 N (N + M) D flops, O(N (N + M)) memory.
    References: Yuksekgonul et al. 2023 (When and why vision-language models behave like bags-of-words, NegCLIP).
    """
    logit_scale = check.positive_number("logit_scale", logit_scale)
    check.towers(a, b)
    check.embeddings("b_negatives", b_negatives)
    if b_negatives.shape[1] != a.shape[1]:
        raise ValueError(f"b_negatives must have shape (M, {a.shape[1]}), got {tuple(b_negatives.shape)}")
    check.same_device(a=a, b_negatives=b_negatives)
    dtype = compute_dtype(a, b, b_negatives)
    a_hat, b_hat, n_hat = (l2_normalize(x, dtype) for x in (a, b, b_negatives))  # (N, D), (N, D), (M, D)
    logits = (a_hat * logit_scale) @ torch.cat([b_hat, n_hat]).T  # (N, N + M); pairs on the diagonal
    target = torch.arange(len(a_hat), device=a_hat.device)
    in_batch = logits[:, :len(b_hat)]  # (N, N) view: the b -> a direction never sees the negatives
    return (positive_nll(logits, target).mean() + diagonal_column_nll(in_batch).mean()) / 2


def siglip_loss(a: Tensor, b: Tensor, *, logit_scale: float | Tensor, logit_bias: float | Tensor,
                impl: str = "auto", gather_distributed: bool | None = None) -> Tensor:
    r"""The pairwise sigmoid loss of SigLIP: every pair is an independent binary classification.

    .. math:: \mathcal L = -\frac1N \sum_{i,j} \log\sigma\big(z_{ij}(t\,\hat a_i^\top\hat b_j + b)\big),
              \qquad z_{ij} = +1 \text{ if } i = j \text{ else } -1

    ``log σ`` is computed as ``-softplus(-x)``, a two-term log-sum-exp.

    Args:
        a, b: (N, D) paired embeddings (N = 1 is allowed: one positive pair, no negatives).
        logit_scale: t > 0, a multiplier (SigLIP initialises t = 10).
        logit_bias: b, a real offset (SigLIP initialises b = -10).
        impl: "dense" builds the N x N logits; "tiled" never does (``tiled.sigmoid_pairs_tiled``: the same
            numbers, O(N D) memory, the gradient formed tile by tile in the forward pass); "auto" picks
            tiled from about 1024 x 1024 logits up.
        gather_distributed: under ``torch.distributed``, this rank's a's against every rank's b's (gradients
            flow back), divided by the local n so that the mean over ranks is the global loss; None:
            whenever distributed.
    Returns: scalar: the sum over all N^2 pairs divided by N.
    Cost: 2 N^2 D flops; O(N^2) memory dense, O(N D) tiled.
    References: Zhai et al. 2023 (Sigmoid Loss for Language Image Pre-Training).
    """
    logit_scale = check.positive_number("logit_scale", logit_scale)
    logit_bias = check.real_number("logit_bias", logit_bias)
    a_hat, b_hat = normalized_towers(a, b, min_rows=1, why="at least one pair")  # (N, D), (N, D)
    gather = should_gather(gather_distributed)
    if gather or resolve_impl(impl, len(a_hat), len(b_hat), a_hat.device) == "tiled":
        b_all = global_batch(b_hat)[0] if gather else b_hat  # (N_global, D)
        positive = local_index(len(a_hat), a_hat.device) if gather else None  # (n,) each a's pair among b_all
        scale, bias = cast_scalar(logit_scale, a_hat.dtype), cast_scalar(logit_bias, a_hat.dtype)
        if resolve_impl(impl, len(a_hat), len(b_all), a_hat.device) == "tiled":
            return sigmoid_pairs_tiled(a_hat, b_all, scale, bias, positive=positive) / len(a_hat)
        logits = scale * (a_hat @ b_all.T) + bias  # (n, N_global)
        rows = torch.arange(len(a_hat), device=a_hat.device)  # (n,)
        signs = -torch.ones_like(logits)  # (n, N_global): +1 at each a's pair, -1 elsewhere
        signs[rows, rows if positive is None else positive] = 1
        return -F.logsigmoid(signs * logits).sum() / len(a_hat)
    logits = logit_scale * (a_hat @ b_hat.T) + logit_bias  # (N, N)
    signs = 2 * torch.eye(len(a_hat), dtype=logits.dtype, device=logits.device) - 1  # +1 diagonal, -1 elsewhere
    return -F.logsigmoid(signs * logits).sum() / len(a_hat)


class LearnableLogitScale(nn.Module):
    """CLIP's learnable logit scale t = exp(w), initialised to 1/0.07 and capped at 100.

    ``forward()`` returns the scale as a scalar tensor to pass as ``clip_loss(..., logit_scale=...)``.
    Like CLIP, the cap is applied to the parameter itself (clamped in place before each use), so
    the scale can come back down from the cap; ``temperature`` is 1/scale, for plotting.
    """

    def __init__(self, init_scale: float = 1 / 0.07, max_scale: float = 100.0):
        super().__init__()
        init_scale = float(check.positive_number("init_scale", init_scale))
        self.max_scale = float(check.positive_number("max_scale", max_scale))
        if init_scale > self.max_scale:
            raise ValueError(f"init_scale must be <= max_scale={self.max_scale}, got {init_scale}")
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def forward(self) -> Tensor:
        with torch.no_grad():
            self.log_scale.clamp_(max=math.log(self.max_scale))
        return self.log_scale.exp()

    @property
    def temperature(self) -> float:
        return math.exp(-min(float(self.log_scale.detach()), math.log(self.max_scale)))

    def extra_repr(self) -> str:
        return f"scale={math.exp(float(self.log_scale.detach())):.4g}, max_scale={self.max_scale:g}"
