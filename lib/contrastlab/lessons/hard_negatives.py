r"""Synthetic hard negatives by mixing (MoCHi, Kalantidis et al. 2020).

For each query, take its ``n_hardest`` most similar negatives (from a MoCo queue or any pool) and
make new points on the sphere between them:

.. math:: h_k = \frac{\alpha_k n_i + (1-\alpha_k) n_j}{\lVert \alpha_k n_i + (1-\alpha_k) n_j \rVert},
          \qquad n_i, n_j \in \tilde Q^{\,N}_q,\quad \alpha_k \sim U(0, 1)

and, harder still, points between the query itself and one of its hardest negatives:

.. math:: h'_k = \frac{\beta_k \hat q + (1-\beta_k) n_j}{\lVert \beta_k \hat q + (1-\beta_k) n_j \rVert},
          \qquad \beta_k \sim U(0, \beta_{max}),\ \beta_{max} = 0.5

(the query's share stays below one half, so a synthetic point is never closer to the query than to
its negative parent). The result is an (N, s + s', D) tensor of unit vectors, per query; concatenate
it with the real negatives and pass it to ``losses.info_nce(q, k, negatives=(N, M + s + s', D))``
(``with_real_negatives`` does that concatenation for a shared (M, D) queue).

Dependencies point one way: this module uses torch and ``contrastlab.losses`` helpers only.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import validation as check
from ..losses.core import compute_dtype, l2_normalize

__all__ = ["mix", "hardest_negatives", "mochi_negatives", "with_real_negatives"]


def mix(a: Tensor, b: Tensor, alpha: Tensor | float) -> Tensor:
    r"""The unit vector in the direction of :math:`\alpha \hat a + (1-\alpha)\hat b` (MoCHi's mixing).

    Args:
        a, b: (..., D) vectors of the same shape (scaled to unit length first).
        alpha: a number or a tensor broadcastable to (..., 1), the share of ``a``, in [0, 1].
    Returns: (..., D) unit vectors, in float32 or wider. For unit inputs the result lies on the
        shorter great-circle arc between them; antipodal inputs mixed half-half give a zero row.
    """
    check.tensor("a", a)
    check.tensor("b", b)
    check.same_shape("a", a, "b", b)
    if isinstance(alpha, Tensor):
        if bool(((alpha < 0) | (alpha > 1)).any()):
            raise ValueError(f"alpha must be in [0, 1], got values in [{float(alpha.min())}, {float(alpha.max())}]")
    else:
        alpha = check.probability("alpha", alpha)
    dtype = compute_dtype(a, b)
    return l2_normalize(alpha * l2_normalize(a, dtype) + (1 - alpha) * l2_normalize(b, dtype))


def hardest_negatives(query: Tensor, negatives: Tensor, n_hardest: int) -> tuple[Tensor, Tensor]:
    """The ``n_hardest`` negatives most similar to each query, hardest first.

    Args:
        query: (N, D).  negatives: (M, D) shared (a queue) or (N, M, D) per query.
        n_hardest: how many to keep per query, 1 <= n_hardest <= M.
    Returns: ((N, n_hardest, D) unit vectors, (N, n_hardest) their cosine similarities to the query).
    """
    check.embeddings("query", query)
    check.tensor("negatives", negatives, dims="(M, D) shared or (N, M, D) per query")
    if negatives.ndim not in (2, 3):
        raise ValueError(f"negatives must be (M, D) shared or (N, M, D) per query, got shape {tuple(negatives.shape)}")
    check.embeddings("negatives", negatives, ndim=negatives.ndim)
    check.same_device(query=query, negatives=negatives)
    n, d = query.shape
    if negatives.shape[-1] != d or (negatives.ndim == 3 and len(negatives) != n):
        raise ValueError(f"negatives must have shape (M, {d}) or ({n}, M, {d}), got {tuple(negatives.shape)}")
    m = negatives.shape[-2]
    n_hardest = check.integer("n_hardest", n_hardest, 1)
    if n_hardest > m:
        raise ValueError(f"n_hardest must be <= the {m} negatives per query, got {n_hardest}")
    dtype = compute_dtype(query, negatives)
    q, neg = l2_normalize(query, dtype), l2_normalize(negatives, dtype)  # (N, D), (M, D) | (N, M, D)
    if neg.ndim == 2:
        sims = q @ neg.T  # (N, M)
        top_s, top_i = sims.topk(n_hardest, dim=1)  # (N, n_hardest), hardest first
        return neg[top_i], top_s  # (N, n_hardest, D)
    sims = torch.einsum("nd,nmd->nm", q, neg)  # (N, M)
    top_s, top_i = sims.topk(n_hardest, dim=1)
    return neg.gather(1, top_i[..., None].expand(-1, -1, d)), top_s


def mochi_negatives(query: Tensor, negatives: Tensor, *, n_hardest: int, n_mixed: int, n_query_mixed: int = 0,
                    max_query_share: float = 0.5, generator: torch.Generator | None = None,
                    detach: bool = True) -> Tensor:
    r"""MoCHi: synthetic hard negatives mixed from each query's hardest negatives (and the query).

    For query i, with :math:`\tilde Q_i` its ``n_hardest`` most similar negatives:

    - ``n_mixed`` points :math:`\mathrm{normalise}(\alpha n_a + (1-\alpha) n_b)`, with
      :math:`n_a, n_b` drawn uniformly (with replacement) from :math:`\tilde Q_i` and
      :math:`\alpha \sim U(0, 1)`;
    - ``n_query_mixed`` points :math:`\mathrm{normalise}(\beta \hat q_i + (1-\beta) n_b)`, with
      :math:`\beta \sim U(0, \text{max\_query\_share})`: harder than any real negative they mix.

    Args:
        query: (N, D) queries (normalised inside).
        negatives: (M, D) shared pool (a MoCo queue) or (N, M, D) per query.
        n_hardest: N in the paper, the size of the pool of hardest negatives to mix, 1..M.
        n_mixed: s in the paper, >= 0.  n_query_mixed: s' in the paper, >= 0; s + s' >= 1.
        max_query_share: upper bound of the query's share beta, in (0, 1]; the paper uses 0.5.
        generator: a ``torch.Generator`` on the query's device, for reproducible draws.
        detach: return constants (no gradient into the query or the pool), like the queue they
            come from; ``False`` lets the gradient flow through both.
    Returns: (N, n_mixed + n_query_mixed, D) unit vectors, mixed negatives first, in float32 or wider.
    Cost: 2 N M D flops for the similarities, O(N (M + (s + s') D)) memory.
    References: Kalantidis et al. 2020 ("Hard Negative Mixing for Contrastive Learning", NeurIPS).
    """
    n_mixed = check.integer("n_mixed", n_mixed, 0)
    n_query_mixed = check.integer("n_query_mixed", n_query_mixed, 0)
    if n_mixed + n_query_mixed == 0:
        raise ValueError("n_mixed + n_query_mixed must be >= 1: there would be no synthetic negative")
    share = float(check.real_number("max_query_share", max_query_share, low=0.0, high=1.0))
    if share == 0.0:
        raise ValueError("max_query_share must be in (0, 1], got 0.0 (use n_query_mixed=0 for no query mixing)")
    detach = check.boolean("detach", detach)
    check.instance("generator", generator, torch.Generator, "a torch.Generator", optional=True)
    if detach:
        query, negatives = query.detach(), negatives.detach()
    pool, _ = hardest_negatives(query, negatives, n_hardest)  # (N, n_hardest, D)
    n, _, d = pool.shape
    rows = torch.arange(n, device=pool.device)[:, None]  # (N, 1)

    def draw(count: int) -> Tensor:  # (N, count) indices into each query's pool
        return torch.randint(0, pool.shape[1], (n, count), generator=generator, device=pool.device)

    def uniform(count: int) -> Tensor:  # (N, count, 1) in [0, 1)
        return torch.rand(n, count, 1, generator=generator, device=pool.device, dtype=pool.dtype)

    parts = []
    if n_mixed:
        alpha = uniform(n_mixed)  # (N, s, 1)
        parts.append(mix(pool[rows, draw(n_mixed)], pool[rows, draw(n_mixed)], alpha))  # (N, s, D)
    if n_query_mixed:
        beta = share * uniform(n_query_mixed)  # (N, s', 1) in [0, share)
        q = l2_normalize(query, pool.dtype)[:, None, :].expand(n, n_query_mixed, d)  # (N, s', D)
        parts.append(mix(q, pool[rows, draw(n_query_mixed)], beta))  # (N, s', D)
    return torch.cat(parts, dim=1)  # (N, s + s', D)


def with_real_negatives(negatives: Tensor, synthetic: Tensor) -> Tensor:
    """The per-query negatives for ``info_nce``: the real ones followed by the synthetic ones.

    Args:
        negatives: (M, D) shared or (N, M, D) per query.  synthetic: (N, S, D) from ``mochi_negatives``.
    Returns: (N, M + S, D), in the wider of the two dtypes.
    """
    check.embeddings("synthetic", synthetic, ndim=3)
    check.tensor("negatives", negatives, dims="(M, D) or (N, M, D)")
    if negatives.ndim not in (2, 3):
        raise ValueError(f"negatives must be an (M, D) or (N, M, D) tensor, got shape {tuple(negatives.shape)}")
    n, _, d = synthetic.shape
    if negatives.shape[-1] != d or (negatives.ndim == 3 and len(negatives) != n):
        raise ValueError(f"negatives must have shape (M, {d}) or ({n}, M, {d}) to go with synthetic "
                         f"{tuple(synthetic.shape)}, got {tuple(negatives.shape)}")
    check.same_device(negatives=negatives, synthetic=synthetic)
    dtype = torch.promote_types(negatives.dtype, synthetic.dtype)
    real = negatives if negatives.ndim == 3 else negatives[None].expand(n, -1, -1)  # (N, M, D)
    return torch.cat([real.to(dtype), synthetic.to(dtype)], dim=1)
