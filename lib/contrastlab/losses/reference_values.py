r"""Reference values of a loss: what it reads for a collapsed batch, at chance, and at its floor.

A loss curve means little without three horizontal lines beside it:

- **collapsed**: every embedding the same vector (``fit``'s failure mode). For NT-Xent every logit
  is 1/τ, so each anchor picks its twin among 2N - 1 equal candidates: log(2N - 1), for any τ.
- **chance**: random embeddings (directions uniform on the sphere S^{D-1}, the two views
  independent): the expected loss for this batch size and D. This is where training starts.
- **floor**: perfect alignment (the two views equal) and negatives spread uniformly on the sphere,
  the end point of Wang & Isola's analysis; for the decorrelation losses, their minimum.

The cosine s of two independent uniform directions in D dimensions has the density
p_D(s) ∝ (1 - s²)^{(D-3)/2}; every expectation here is a one-dimensional integral against it,
computed by quadrature over the angle (θ, with s = cos θ and weight sin^{D-2} θ) in float64.
The expected log of a sum of K such terms (a log-sum-exp over K random candidates) is exact too,
through Frullani's integral

.. math:: \mathbb E\log X = \int_0^\infty \big(e^{-u} - \mathbb E\,e^{-uX}\big)\,\frac{du}{u},\qquad
          X = c + w\sum_{k=1}^K e^{t s_k},\quad \mathbb E\,e^{-uX} = e^{-uc}\,\varphi(wu)^K,\quad
          \varphi(u) = \mathbb E\,e^{-u e^{t s}},

one integral over log u of a one-dimensional expectation: no approximation beyond the quadrature
(about 1e-11). The familiar large-D shortcut log K + t²/(2D) is far off at small τ and small D
(N = 32, D = 16, τ = 0.07: 9.8 against 7.7). ``tests/losses/test_reference_values.py`` checks every value
against Monte Carlo means of the losses themselves.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .. import validation as check
from . import clip, infonce, noncontrastive, supcon

__all__ = ["ReferenceValues", "reference_values", "REFERENCE_LOSSES"]

_GRID = 20001  # quadrature points over the angle: exact to ~1e-9 for D <= 10^4 and t <= 1000


@dataclass(frozen=True)
class ReferenceValues:
    """The reference values of one loss at one setting; a value that does not exist is None and its
    formula says why. ``lines()`` gives the ones that exist, e.g. for dashed lines on a loss curve."""

    loss: str
    collapsed: float | None
    chance: float | None
    floor: float | None
    collapsed_formula: str
    chance_formula: str
    floor_formula: str
    setting: str = ""

    def lines(self) -> dict[str, float]:
        """{"collapsed": ..., "chance": ..., "floor": ...} for the values that exist."""
        values = {"collapsed": self.collapsed, "chance": self.chance, "floor": self.floor}
        return {name: v for name, v in values.items() if v is not None}

    def __str__(self) -> str:
        def show(v):
            return "does not exist" if v is None else f"{v:.4f}"
        return "\n".join([f"{self.loss} ({self.setting})",
                          f"  collapsed  {show(self.collapsed):>14}   {self.collapsed_formula}",
                          f"  chance     {show(self.chance):>14}   {self.chance_formula}",
                          f"  floor      {show(self.floor):>14}   {self.floor_formula}"])


# --- expectations over the cosine of two random directions -------------------------------------

@functools.lru_cache(maxsize=16)
def _cosine_grid(dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, log w): cosines s = cos θ on a uniform θ grid and the log quadrature weights of p_D (cached;
    never modified in place)."""
    theta = torch.linspace(0.0, math.pi, _GRID, dtype=torch.float64)
    log_w = (dim - 2) * torch.log(torch.sin(theta)) if dim > 2 else torch.zeros_like(theta)
    log_w[[0, -1]] += math.log(0.5)  # trapezoid ends (their weight is 0 anyway for D > 2)
    return torch.cos(theta), log_w - torch.logsumexp(log_w, 0)


def _cosine_mean(f: Callable[[torch.Tensor], torch.Tensor], dim: int) -> float:
    s, log_w = _cosine_grid(dim)
    return float((f(s) * log_w.exp()).sum())


@functools.lru_cache(maxsize=256)
def expected_log_sum(k: float, t: float, dim: int, *, weight: float = 1.0, log_constant: float = -math.inf,
                     step: float = 0.2, stride: int = 20) -> float:
    """E log(c + w Σ_{j=1}^K e^{t s_j}), K independent random cosines s_j in D dimensions, c = e^{log_constant}.

    Exact up to quadrature (1e-11 against a 20x finer grid), through E log X = ∫_0^∞ (e^{-u} - E e^{-uX}) du/u with
    E e^{-uX} = e^{-uc} φ(wu)^K and φ(u) = E e^{-u e^{t s}} (module docstring).
    """
    s, log_w = _cosine_grid(dim)
    s, log_w = s[::stride], log_w[::stride] - torch.logsumexp(log_w[::stride], 0)
    log_wk = math.log(weight * k)
    log_x_max = float(torch.logaddexp(torch.tensor(log_constant), torch.tensor(log_wk + t)))
    log_x_min = float(torch.logaddexp(torch.tensor(log_constant), torch.tensor(log_wk - t)))
    v = torch.arange(min(-log_x_max, 0.0) - 40, max(-log_x_min, 0.0) + 6, step, dtype=torch.float64)  # v = log u
    integrand = []
    for chunk in v.split(512):
        log_phi = torch.logsumexp(log_w - torch.exp(chunk[:, None] + math.log(weight) + t * s), dim=1)  # (chunk,)
        log_laplace = k * log_phi - torch.exp(chunk + log_constant)  # log E e^{-uX}
        integrand.append(torch.exp(-chunk.exp()) - log_laplace.exp())  # du/u = dv
    g = torch.cat(integrand)
    return float(((g[1:] + g[:-1]) / 2).sum() * step)


def _softplus(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.softplus(x)


def _expected_relu_one_minus_std(n: int, eps: float = 1e-4) -> float:
    """E max(0, 1 - sqrt(S + eps)), S the unbiased variance of n standard normals (S ~ χ²_{n-1}/(n-1))."""
    k = n - 1
    u = torch.linspace(0.0, math.sqrt(k) * 1.2, _GRID, dtype=torch.float64)  # χ = sqrt(χ²), density of u
    log_p = (math.log(2) + torch.xlogy(torch.tensor(k - 1.0, dtype=torch.float64), u) - u ** 2 / 2
             - (k / 2) * math.log(2) - math.lgamma(k / 2))
    w = log_p.exp() * (u[1] - u[0])
    w[[0, -1]] /= 2
    return float((torch.relu(1 - torch.sqrt(u ** 2 / k + eps)) * w).sum())


# --- the table ---------------------------------------------------------------------------------

def _default(loss: Callable, name: str) -> float:
    return inspect.signature(loss).parameters[name].default


NO_DIM = "needs dim (the embedding dimension D): pass dim="


def _contrastive(name: str, k: int, n_neg_points: int, multiplicity: int, positive_in_sum: bool, t: float,
                 dim: int | None, collapsed_words: str, setting: str) -> ReferenceValues:
    """The log-sum-exp losses: K candidates per anchor (including the positive when ``positive_in_sum``);
    at the floor the negatives are ``n_neg_points`` uniform points, each counted ``multiplicity`` times."""
    collapsed = math.log(k)
    chance = floor = None
    if dim is not None:
        chance = expected_log_sum(k, t, dim)
        if n_neg_points == 0:
            floor = 0.0 if positive_in_sum else None
        elif positive_in_sum:
            floor = expected_log_sum(n_neg_points, t, dim, weight=multiplicity, log_constant=t) - t
        else:
            floor = expected_log_sum(n_neg_points, t, dim, weight=multiplicity) - t
    chance_words = (f"E log Σ_{{k=1}}^{{K}} e^{{t·s_k}} with K = {k} candidates, t = {t:.4g} and s_k the cosine "
                    "of two random directions in D dimensions (the positive's E s = 0 drops out); "
                    "by quadrature, exact to ~1e-11" if dim else NO_DIM)
    if positive_in_sum:
        floor_words = (f"E log(e^t + {multiplicity}·Σ_{{j=1}}^{{{n_neg_points}}} e^{{t·s_j}}) − t: the positive "
                       f"at cosine 1, {n_neg_points} uniform negatives (each seen {multiplicity}×); "
                       "a regular simplex (N ≤ D + 1) goes lower" if dim else NO_DIM)
    else:
        floor_words = (f"log {multiplicity} + E log Σ_{{j=1}}^{{{n_neg_points}}} e^{{t·s_j}} − t: the positive "
                       "at cosine 1 (outside the sum), uniform negatives; can be negative" if dim else NO_DIM)
    return ReferenceValues(name, collapsed, chance, floor, collapsed_words, chance_words, floor_words, setting)


def _nt_xent(n, t, dim, **_):
    return _contrastive("nt_xent", 2 * n - 1, n - 1, 2, True, t, dim,
                        "log(2N − 1): every logit equals t = 1/τ, so each of the 2N anchors picks its twin "
                        "among 2N − 1 equal candidates (any τ)", f"N={n}, τ={1 / t:.4g}, D={dim}")


def _info_nce(n, t, dim, negatives=None, **_):
    if negatives is None:
        return _contrastive("info_nce", n, n - 1, 1, True, t, dim,
                            "log N: each query picks its positive among N equal candidates (any τ)",
                            f"N={n}, τ={1 / t:.4g}, D={dim}")
    m = check.integer("negatives", negatives, 1)
    return _contrastive("info_nce", m + 1, m, 1, True, t, dim,
                        "log(M + 1): the positive among itself and M equal negatives (any τ)",
                        f"N={n}, M={m} negatives, τ={1 / t:.4g}, D={dim}")


def _decoupled(n, t, dim, **_):
    return _contrastive("decoupled_nt_xent", 2 * n - 2, n - 1, 2, False, t, dim,
                        "log(2N − 2): the positive's logit t is subtracted from a log-sum-exp over "
                        "2N − 2 negatives, each also at t", f"N={n}, τ={1 / t:.4g}, D={dim}")


def _supcon(n, t, dim, views=2, num_classes=None, **_):
    v = check.integer("views", views, 1)
    total = n * v
    setting = f"N={n}, V={v}, τ={1 / t:.4g}, D={dim}, classes={num_classes}"
    collapsed_words = ("log(NV − 1): every anchor's positives and the rest of A(i) sit at the same logit; "
                       "independent of the labels")
    values = _contrastive("supcon", total - 1, 0, 1, True, t, dim, collapsed_words, setting)
    if num_classes is None or dim is None:
        floor, floor_words = None, ("depends on the labels: pass num_classes= (balanced classes) and dim="
                                    if num_classes is None else NO_DIM)
    else:
        c = check.integer("num_classes", num_classes, 1)
        per_class = total / c  # embeddings per class
        if c == 1:
            floor = math.log(total - 1)
        else:
            floor = expected_log_sum(c - 1, t, dim, weight=per_class,
                                     log_constant=math.log(per_class - 1) + t if per_class > 1 else -math.inf) - t
        floor_words = (f"E log((m − 1)e^t + m·Σ_{{c=1}}^{{C−1}} e^{{t·s_c}}) − t with m = NV/C = {per_class:g}: "
                       "each class collapsed to one point, the C points uniform on the sphere")
    return ReferenceValues("supcon", values.collapsed, values.chance, floor, collapsed_words,
                           values.chance_formula, floor_words, setting)


def _clip(n, t, dim, **_):
    return _contrastive("clip_loss", n, n - 1, 1, True, t, dim,
                        "log N: in both directions each row (column) picks its pair among N equal "
                        "candidates (any logit scale)", f"N={n}, logit_scale={t:.4g}, D={dim}")


def _siglip(n, t, dim, *, logit_bias, **_):
    b = float(check.real_number("logit_bias", logit_bias))
    sp = _softplus(torch.tensor([-(t + b), t + b], dtype=torch.float64)).tolist()
    collapsed = sp[0] + (n - 1) * sp[1]
    setting = f"N={n}, logit_scale={t:.4g}, logit_bias={b:.4g}, D={dim}"
    collapsed_words = ("softplus(−(t + b)) + (N − 1)·softplus(t + b): every pair at cosine 1, the N positives "
                       "and N(N − 1) negatives summed, divided by N")
    chance = floor = None
    if dim is not None:
        chance = (_cosine_mean(lambda s: _softplus(-(t * s + b)), dim)
                  + (n - 1) * _cosine_mean(lambda s: _softplus(t * s + b), dim))
        floor = sp[0] + (n - 1) * _cosine_mean(lambda s: _softplus(t * s + b), dim)
    return ReferenceValues(
        "siglip_loss", collapsed, chance, floor, collapsed_words,
        "E softplus(−(t·s + b)) + (N − 1)·E softplus(t·s + b), s a random cosine (exact quadrature)"
        if dim else NO_DIM,
        "softplus(−(t + b)) + (N − 1)·E softplus(t·s + b): positives at cosine 1, uniform negatives"
        if dim else NO_DIM, setting)


def _negative_cosine(n, t, dim, **_):
    return ReferenceValues(
        "negative_cosine", -1.0, 0.0, -1.0,
        "−1: p̂ᵢ·ẑᵢ = 1 for every pair; the same as the floor, so the value cannot detect collapse",
        "0: E cos(p, z) = 0 for independent random directions (any D)",
        "−1: perfect alignment; there are no negatives, and a collapsed batch reaches it too",
        f"N={n}")


def _barlow(n, t, dim, *, lambda_, **_):
    lam = float(check.real_number("lambda_", lambda_, low=0.0))
    if n < 2:
        raise ValueError("batch_size must be >= 2 for barlow_twins (batch statistics), got 1")
    setting = f"N={n}, D={dim}, λ={lam:g}"
    if dim is None:
        return ReferenceValues("barlow_twins", None, None, None, NO_DIM, NO_DIM, NO_DIM, setting)
    d = dim
    return ReferenceValues(
        "barlow_twins", float(d), d * (1 + 1 / (n - 1)) + lam * d * (d - 1) / (n - 1),
        lam * max(0.0, d * (d - n + 1) / (n - 1)),
        "D: a constant batch standardises to 0 (BatchNorm's eps), so C = 0 and each of the D diagonal "
        "terms is (0 − 1)²",
        "D(1 + 1/(N − 1)) + λ·D(D − 1)/(N − 1): independent views give E C_ij² = 1/(N − 1) for every "
        "entry (any exchangeable distribution; BatchNorm's eps ignored)",
        "λ·max(0, D(D − N + 1)/(N − 1)): the views equal (C_ii = 1) and the features decorrelated; with "
        "N − 1 < D the standardised features span only N − 1 dimensions, so Σ_{i≠j} C_ij² ≥ D²/(N − 1) − D",
        setting)


def _vicreg(n, t, dim, *, sim_weight, var_weight, cov_weight, **_):
    lam, mu, nu = (float(check.real_number(k, w, low=0.0)) for k, w in
                   (("sim_weight", sim_weight), ("var_weight", var_weight), ("cov_weight", cov_weight)))
    if n < 2:
        raise ValueError("batch_size must be >= 2 for vicreg (variance and covariance), got 1")
    setting = f"N={n}, D={dim}, λ={lam:g}, μ={mu:g}, ν={nu:g}"
    collapsed = mu * (1 - math.sqrt(1e-4))
    collapsed_words = "μ(1 − √1e-4) = 0.99μ: the views equal (s = 0), every std is √eps, no covariance"
    if dim is None:
        return ReferenceValues("vicreg", collapsed, None, None, collapsed_words, NO_DIM, NO_DIM, setting)
    d = dim
    chance = 2 * lam + mu * _expected_relu_one_minus_std(n) + 2 * nu * (d - 1) / (n - 1)
    floor = 2 * nu * max(0.0, d / (n - 1) - 1)
    return ReferenceValues(
        "vicreg", collapsed, chance, floor, collapsed_words,
        "2λ + μ·E max(0, 1 − √(S + 1e-4)) + 2ν(D − 1)/(N − 1), for independent standard-normal views "
        "(VICReg does not normalise, so chance depends on the scale; unit variance is its target); "
        "S ~ χ²_{N−1}/(N − 1), by quadrature",
        "2ν·max(0, D/(N − 1) − 1): the views equal, every std 1, the features decorrelated (possible "
        "when N − 1 ≥ D; otherwise a tight frame; trading variance can go slightly lower)",
        setting)


REFERENCE_LOSSES: dict[str, tuple[Callable, Callable, str]] = {
    # name: (the loss, its reference values, the scale it is given)
    "nt_xent": (infonce.nt_xent, _nt_xent, "temperature"),
    "info_nce": (infonce.info_nce, _info_nce, "temperature"),
    "decoupled_nt_xent": (infonce.decoupled_nt_xent, _decoupled, "temperature"),
    "supcon": (supcon.supcon, _supcon, "temperature"),
    "clip_loss": (clip.clip_loss, _clip, "logit_scale"),
    "siglip_loss": (clip.siglip_loss, _siglip, "logit_scale"),
    "negative_cosine": (noncontrastive.negative_cosine, _negative_cosine, ""),
    "barlow_twins": (noncontrastive.barlow_twins, _barlow, ""),
    "vicreg": (noncontrastive.vicreg, _vicreg, ""),
}
_ALIASES = {"simsiam": "negative_cosine", "byol": "negative_cosine", "simclr": "nt_xent", "clip": "clip_loss",
            "siglip": "siglip_loss", "dcl": "decoupled_nt_xent"}


_PARAMS = {  # the settings each loss's reference values read, besides batch_size and dim
    "nt_xent": ("temperature",), "info_nce": ("temperature", "negatives"),
    "decoupled_nt_xent": ("temperature",), "supcon": ("temperature", "views", "num_classes"),
    "clip_loss": ("logit_scale", "temperature"), "siglip_loss": ("logit_scale", "logit_bias"),
    "negative_cosine": (), "barlow_twins": ("lambda_",), "vicreg": ("sim_weight", "var_weight", "cov_weight"),
}
_INITIAL = {"clip_loss": {"logit_scale": 1 / 0.07},  # CLIP's initial scale (LearnableLogitScale's)
            "siglip_loss": {"logit_scale": 10.0, "logit_bias": -10.0}}  # SigLIP's initial scale and bias


def reference_values(loss: str | Callable, *, batch_size: int, dim: int | None = None, **params) -> ReferenceValues:
    """The collapsed, chance and floor values of ``loss`` for a batch of ``batch_size`` (N) pairs.

    Args:
        loss: a name (``nt_xent``, ``info_nce``, ``decoupled_nt_xent``, ``supcon``, ``clip_loss``,
            ``siglip_loss``, ``negative_cosine``, ``barlow_twins``, ``vicreg``; also ``simclr``,
            ``simsiam``, ``clip``, ...) or the loss function itself.
        batch_size: N, the samples (pairs) per batch (for ``supcon``: samples, each with ``views`` views).
        dim: D, the embedding dimension: chance and floor depend on it (None: those are None, and say so).
        **params: the loss's settings, each defaulting to the loss's own default: ``temperature``;
            ``logit_scale`` (``clip_loss``: CLIP's initial 1/0.07, or 1/``temperature``) and ``logit_bias``
            (``siglip_loss``: SigLIP's initial 10 and −10); ``negatives`` (``info_nce`` with M explicit
            negatives); ``views`` (default 2) and ``num_classes`` (balanced; ``supcon``'s floor needs it);
            ``lambda_``; ``sim_weight``, ``var_weight``, ``cov_weight``.
    Returns: a frozen ``ReferenceValues`` with each value and its formula in words.
    Raises: ValueError for an unknown loss or a setting the loss does not have (with the known ones).
    """
    name = getattr(loss, "__name__", loss)
    name = _ALIASES.get(name, name) if isinstance(name, str) else name
    check.choice("loss", name, list(REFERENCE_LOSSES))
    function, values, scale_kind = REFERENCE_LOSSES[name]
    unknown = sorted(set(params) - set(_PARAMS[name]))
    if unknown:
        raise ValueError(f"reference_values({name!r}) has no setting {unknown[0]!r}; its settings are "
                         f"batch_size, dim{''.join(', ' + p for p in _PARAMS[name])}")
    n = check.integer("batch_size", batch_size, 1)
    if name in ("nt_xent", "info_nce", "clip_loss", "decoupled_nt_xent") and n < 2 \
            and params.get("negatives") is None:
        raise ValueError(f"batch_size must be >= 2 for {name} (N = 1 has nothing to contrast), got {n}")
    dim = None if dim is None else check.integer("dim", dim, 2)
    signature = inspect.signature(function).parameters
    settings = {k: p.default for k, p in signature.items() if k in _PARAMS[name]
                and p.default is not inspect.Parameter.empty}
    settings.update(_INITIAL.get(name, {}))
    if name == "clip_loss" and params.get("temperature") is not None and params.get("logit_scale") is None:
        params = {"logit_scale": 1 / float(check.positive_number("temperature", params["temperature"]))}
    settings.update({k: v for k, v in params.items() if v is not None or k in ("negatives", "num_classes")})
    if scale_kind == "temperature":
        t = 1 / float(check.positive_number("temperature", settings.pop("temperature")))
    elif scale_kind == "logit_scale":
        settings.pop("temperature", None)
        t = float(check.positive_number("logit_scale", settings.pop("logit_scale")))
    else:
        t = 1.0
    return values(n, t, dim, **settings)
