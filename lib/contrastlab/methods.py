"""Training set-ups: what one step of each self-supervised method computes.

A ``Method`` owns the trainable modules of a set-up (encoder, predictor, learnable scale, ...) and
any state that is not trained (EMA target, queue). ``loss(views, labels, step)`` returns the loss of a
batch and the two projections it compared; ``after_step`` updates the untrained state;
``features(x)`` and ``project(x)`` embed inputs for evaluation. ``METHODS`` maps names to set-ups:
it is the one registry that ``fit``, the sweeps and the widgets read.

**Defaults.** A set-up's hyperparameters that its loss also takes (``temperature``, ``tau_plus``,
``lambda_``, ...) default to that loss's own default, read from the loss's signature (``objectives``
names the losses; ``tests/test_defaults.py`` checks every set-up), so ``fit(data, "simclr")`` and
``losses.nt_xent(z1, z2)`` optimise the same objective. The table is in CONVENTIONS.md.
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import losses as L
from . import validation as check
from .models import EMATarget, Encoder, build_encoder, make_target, momentum_update, predictor
from .samplers import MoCoQueue


def loss_default(loss: Callable, name: str):
    """The default value of ``loss``'s keyword argument ``name`` (a set-up starts from its loss's own)."""
    return inspect.signature(loss).parameters[name].default


def output_dim(encoder: nn.Module) -> int:
    """The embedding size of an encoder: the ``out_features`` of its last Linear layer."""
    linears = [m for m in encoder.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("cannot tell the encoder's output size (it has no nn.Linear); pass embedding_dim=")
    return linears[-1].out_features


class Method(nn.Module):
    """One-encoder, two-view set-up; subclasses define ``pair_loss``.

    ``objectives``: the losses the set-up optimises (its defaults are theirs); ``temperature``: τ of
    the loss (a number), or None when the loss has none.
    """

    needs_labels = False
    paired = False
    objectives: tuple[Callable, ...] = ()
    temperature: float | None = None

    def __init__(self, encoder: Encoder, **options):
        super().__init__()
        self.encoder = encoder
        if options:
            raise TypeError(f"{type(self).__name__} got unknown options {sorted(options)}")

    def pair_loss(self, z1: Tensor, z2: Tensor, labels: Tensor, step: int) -> Tensor:
        raise NotImplementedError

    def loss(self, views: Tensor, labels: Tensor, step: int) -> tuple[Tensor, Tensor, Tensor]:
        """views (B, 2, ...) -> (scalar loss, z1 (B, E), z2 (B, E))."""
        b = len(views)
        z = self.encoder(views.transpose(0, 1).reshape(2 * b, *views.shape[2:]))  # one pass: shared BN stats
        z1, z2 = z[:b], z[b:]
        return self.pair_loss(z1, z2, labels, step), z1, z2

    def after_step(self, step: int) -> None:
        pass

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """The optimiser's parameter groups (``fit`` passes them to AdamW): by default one group of
        every trainable parameter. Set-ups override it to give a parameter its own lr or no decay."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr, "weight_decay": weight_decay}]

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        return self.encoder.features(x)

    @torch.no_grad()
    def project(self, x: Tensor) -> Tensor:
        return self.encoder(x)


class _Tempered(Method):
    """A set-up whose loss divides by a temperature τ (checked here, so a bad value fails at build time)."""

    def __init__(self, encoder: Encoder, *, temperature: float, **options):
        super().__init__(encoder, **options)
        self.temperature = float(check.positive_number("temperature", temperature))


class SimCLR(_Tempered):
    """NT-Xent over both views (Chen et al. 2020)."""

    objectives = (L.nt_xent,)

    def __init__(self, encoder: Encoder, *, temperature: float = loss_default(L.nt_xent, "temperature"), **options):
        super().__init__(encoder, temperature=temperature, **options)

    def pair_loss(self, z1, z2, labels, step):
        return L.nt_xent(z1, z2, temperature=self.temperature)


class InfoNCE(_Tempered):
    """One-directional (or symmetric) in-batch InfoNCE."""

    objectives = (L.info_nce,)

    def __init__(self, encoder: Encoder, *, temperature: float = loss_default(L.info_nce, "temperature"),
                 symmetric: bool = loss_default(L.info_nce, "symmetric"), **options):
        super().__init__(encoder, temperature=temperature, **options)
        self.symmetric = symmetric

    def pair_loss(self, z1, z2, labels, step):
        return L.info_nce(z1, z2, temperature=self.temperature, symmetric=self.symmetric)


class DCL(_Tempered):
    """Decoupled contrastive loss (Yeh et al. 2022)."""

    objectives = (L.decoupled_nt_xent,)

    def __init__(self, encoder: Encoder, *, temperature: float = loss_default(L.decoupled_nt_xent, "temperature"),
                 **options):
        super().__init__(encoder, temperature=temperature, **options)

    def pair_loss(self, z1, z2, labels, step):
        return L.decoupled_nt_xent(z1, z2, temperature=self.temperature)


class Debiased(_Tempered):
    """Debiased NT-Xent (Chuang et al. 2020) or, with ``beta`` > 0, hard-negative NT-Xent (Robinson et al. 2021)."""

    objectives = (L.debiased_nt_xent,)  # beta = 0; its hard-negative form is L.hard_negative_nt_xent

    def __init__(self, encoder: Encoder, *, temperature: float = loss_default(L.debiased_nt_xent, "temperature"),
                 tau_plus: float = loss_default(L.debiased_nt_xent, "tau_plus"), beta: float = 0.0, **options):
        super().__init__(encoder, temperature=temperature, **options)
        self.tau_plus, self.beta = tau_plus, beta

    def pair_loss(self, z1, z2, labels, step):
        return L.hard_negative_nt_xent(z1, z2, temperature=self.temperature, tau_plus=self.tau_plus, beta=self.beta)


class Oracle(_Tempered):
    """NT-Xent without false negatives: same-class negatives are removed using the labels."""

    needs_labels = True
    objectives = (L.oracle_nt_xent,)

    def __init__(self, encoder: Encoder, *, temperature: float = loss_default(L.oracle_nt_xent, "temperature"),
                 **options):
        super().__init__(encoder, temperature=temperature, **options)

    def pair_loss(self, z1, z2, labels, step):
        return L.oracle_nt_xent(z1, z2, labels, temperature=self.temperature)


class SupCon(_Tempered):
    """Supervised contrastive loss over both views (Khosla et al. 2020)."""

    needs_labels = True
    objectives = (L.supcon,)

    def __init__(self, encoder: Encoder, *, temperature: float = loss_default(L.supcon, "temperature"), **options):
        super().__init__(encoder, temperature=temperature, **options)

    def pair_loss(self, z1, z2, labels, step):
        return L.supcon(torch.stack([z1, z2], dim=1), labels, temperature=self.temperature)


class AlignUniform(Method):
    """L_align + λ·L_uniform optimised directly (Wang & Isola 2020); uniformity averaged over the views."""

    objectives = (L.alignment, L.uniformity)

    def __init__(self, encoder: Encoder, *, lam: float = 1.0, alpha: float = loss_default(L.alignment, "alpha"),
                 t: float = loss_default(L.uniformity, "t"), **options):
        super().__init__(encoder, **options)
        self.lam, self.alpha, self.t = lam, alpha, t

    def pair_loss(self, z1, z2, labels, step):
        uniform = (L.uniformity(z1, t=self.t) + L.uniformity(z2, t=self.t)) / 2
        return L.alignment(z1, z2, alpha=self.alpha) + self.lam * uniform


class MoCo(_Tempered):
    """InfoNCE against a queue of keys from a momentum encoder (He et al. 2020)."""

    objectives = (L.info_nce,)

    def __init__(self, encoder: Encoder, *, temperature: float = loss_default(L.info_nce, "temperature"),
                 queue_size: int = 1024, momentum: float = 0.99, **options):
        super().__init__(encoder, temperature=temperature, **options)
        self.key_encoder = make_target(encoder)
        self.momentum = momentum
        self.queue_size = queue_size
        self.queue: MoCoQueue | None = None  # made at the first step, once the key dimension is known

    def loss(self, views, labels, step):
        q = self.encoder(views[:, 0])  # (B, E)
        with torch.no_grad():
            momentum_update(self.key_encoder, self.encoder, self.momentum)
            k = self.key_encoder(views[:, 1])  # (B, E)
        if self.queue is None:
            self.queue = MoCoQueue(k.shape[1], self.queue_size).to(k.device)
        loss = L.info_nce(q, k, self.queue.negatives.to(q.dtype), temperature=self.temperature)
        self.queue.enqueue(k, labels=labels)
        return loss, q, k


class SimSiam(Method):
    """Negative cosine between a predictor output and the other view's projection (Chen & He 2021).

    ``stop_gradient=False`` or ``use_predictor=False`` removes the ingredient that prevents collapse.
    """

    objectives = (L.negative_cosine,)

    def __init__(self, encoder: Encoder, *, stop_gradient: bool = True, use_predictor: bool = True,
                 predictor_hidden: int = 32, embedding_dim: int | None = None, **options):
        super().__init__(encoder, **options)
        self.stop_gradient, self.use_predictor = stop_gradient, use_predictor
        dim = embedding_dim or output_dim(encoder)
        self.predictor = predictor(dim, predictor_hidden) if use_predictor else nn.Identity()

    def _predict(self, z: Tensor) -> Tensor:
        return self.predictor(z)

    def _distance(self, p: Tensor, z: Tensor) -> Tensor:
        if self.stop_gradient:
            return L.negative_cosine(p, z)  # z detached inside
        return -F.cosine_similarity(p, z, dim=1).mean()

    def pair_loss(self, z1, z2, labels, step):
        p1, p2 = self._predict(z1), self._predict(z2)
        return (self._distance(p1, z2) + self._distance(p2, z1)) / 2


class BYOL(Method):
    """Predict an EMA target network's projection of the other view (Grill et al. 2020): 2 - 2 cos.

    ``ema=False`` makes the target the online network itself (with a stop-gradient), i.e. SimSiam.
    """

    objectives = (L.negative_cosine,)

    def __init__(self, encoder: Encoder, *, ema: bool = True, base_momentum: float = 0.99, total_steps: int = 1000,
                 use_predictor: bool = True, predictor_hidden: int = 32, embedding_dim: int | None = None,
                 **options):
        super().__init__(encoder, **options)
        self.target = EMATarget(encoder, base_momentum=base_momentum, total_steps=total_steps) if ema else None
        dim = embedding_dim or output_dim(encoder)
        self.predictor = predictor(dim, predictor_hidden) if use_predictor else nn.Identity()

    def loss(self, views, labels, step):
        b = len(views)
        stacked = views.transpose(0, 1).reshape(2 * b, *views.shape[2:])
        z = self.encoder(stacked)  # (2B, E)
        p = self.predictor(z)  # (2B, E)
        with torch.no_grad():
            t = (self.target(stacked) if self.target is not None else z).detach()
        t_swapped = torch.cat([t[b:], t[:b]])  # each view predicts the other view's target
        loss = 2 + 2 * L.negative_cosine(p, t_swapped)  # mean over both directions
        return loss, z[:b], z[b:]

    def after_step(self, step):
        if self.target is not None:
            self.target.update(self.encoder, step)


class BarlowTwins(Method):
    """Cross-correlation towards the identity (Zbontar et al. 2021)."""

    objectives = (L.barlow_twins,)

    def __init__(self, encoder: Encoder, *, lambda_: float = loss_default(L.barlow_twins, "lambda_"), **options):
        super().__init__(encoder, **options)
        self.lambda_ = lambda_

    def pair_loss(self, z1, z2, labels, step):
        return L.barlow_twins(z1, z2, lambda_=self.lambda_)


class VICReg(Method):
    """Invariance + variance + covariance (Bardes et al. 2022); zero a weight to switch a term off."""

    objectives = (L.vicreg,)

    def __init__(self, encoder: Encoder, *, sim_weight: float = loss_default(L.vicreg, "sim_weight"),
                 var_weight: float = loss_default(L.vicreg, "var_weight"),
                 cov_weight: float = loss_default(L.vicreg, "cov_weight"), **options):
        super().__init__(encoder, **options)
        self.weights = dict(sim_weight=sim_weight, var_weight=var_weight, cov_weight=cov_weight)

    def pair_loss(self, z1, z2, labels, step):
        return L.vicreg(z1, z2, **self.weights)


class SupConSimCLR(Method):
    r"""The weighted sum of the supervised and unsupervised contrastive losses (Xue et al. 2023):

    .. math:: \mathcal L = w\,\mathcal L_{SupCon} + (1 - w)\,\mathcal L_{NT\text{-}Xent}

    ``weight`` w in [0, 1]: 1 is SupCon alone (class collapse), 0 is SimCLR alone (feature
    suppression); both at the same ``temperature`` (SupCon's default, which NT-Xent shares).
    """

    needs_labels = True
    objectives = (L.supcon, L.nt_xent)

    def __init__(self, encoder: Encoder, *, weight: float = 0.5,
                 temperature: float = loss_default(L.supcon, "temperature"), **options):
        super().__init__(encoder, **options)
        self.weight = float(check.real_number("weight", weight, low=0.0, high=1.0))
        self.temperature = float(check.positive_number("temperature", temperature))

    def pair_loss(self, z1, z2, labels, step):
        supervised = L.supcon(torch.stack([z1, z2], dim=1), labels, temperature=self.temperature)
        unsupervised = L.nt_xent(z1, z2, temperature=self.temperature)
        return self.weight * supervised + (1 - self.weight) * unsupervised


class CrossEntropy(Method):
    r"""Supervised baseline: cross-entropy of a linear classifier on the projection, on both views.

    .. math:: \mathcal L = \frac{1}{2B}\sum_{v=1}^{2}\sum_{i=1}^{B} -\log
              \frac{e^{w_{y_i}^\top z_{v,i} + b_{y_i}}}{\sum_c e^{w_c^\top z_{v,i} + b_c}}

    The same encoder and two augmented views as SimCLR / SupCon, so that only the loss differs.
    ``project(x)`` is the classifier's input :math:`z = g(f(x))` (not normalised), ``features`` the
    backbone :math:`f(x)`, ``logits(x)`` the classifier's output.

    Args:
        encoder: an ``Encoder``.  n_classes: K >= 2 (``build_method`` reads it off the data's labels).
        embedding_dim: the projection size (default: the encoder's last Linear).
        label_smoothing: in [0, 1), passed to ``F.cross_entropy``.
    """

    needs_labels = True

    def __init__(self, encoder: Encoder, *, n_classes: int, embedding_dim: int | None = None,
                 label_smoothing: float = 0.0, **options):
        super().__init__(encoder, **options)
        if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        if not isinstance(label_smoothing, (int, float)) or not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
        self.n_classes = n_classes
        self.label_smoothing = float(label_smoothing)
        self.classifier = nn.Linear(embedding_dim or output_dim(encoder), n_classes)

    def pair_loss(self, z1: Tensor, z2: Tensor, labels: Tensor, step: int) -> Tensor:
        if int(labels.max()) >= self.n_classes or int(labels.min()) < 0:
            raise ValueError(f"labels must be in [0, {self.n_classes - 1}] (n_classes = {self.n_classes}), "
                             f"got min {int(labels.min())} and max {int(labels.max())}")
        logits = self.classifier(torch.cat([z1, z2]))  # (2B, K)
        return F.cross_entropy(logits, labels.repeat(2), label_smoothing=self.label_smoothing)

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        return self.classifier(self.encoder(x))


class CLIP(Method):
    """Two towers on paired modalities with the symmetric CLIP loss (Radford et al. 2021).

    The logit scale is learnable (``LearnableLogitScale``) unless ``logit_scale`` is given; it is
    trained without weight decay (as in CLIP) and with ``scale_lr`` times the encoders' learning rate
    (1 by default: over a few hundred toy steps τ then barely moves; 10-100 shows its trajectory).
    ``lock_a=True`` freezes tower a (LiT, Zhai et al. 2022): no gradient, and it stays in eval mode, so
    its BatchNorm statistics stay those it was pretrained with.
    """

    paired = True
    objectives = (L.clip_loss,)

    def __init__(self, encoder: Encoder, *, encoder_b: Encoder, logit_scale: float | None = None,
                 init_scale: float = loss_default(L.LearnableLogitScale, "init_scale"), scale_lr: float = 1.0, lock_a: bool = False, **options):
        super().__init__(encoder, **options)
        if not isinstance(scale_lr, (int, float)) or isinstance(scale_lr, bool) or not scale_lr > 0:
            raise ValueError(f"scale_lr must be a number > 0 (a multiplier of the learning rate), got {scale_lr!r}")
        self.encoder_b = encoder_b
        self.scale = L.LearnableLogitScale(init_scale) if logit_scale is None else None
        self.fixed_scale = logit_scale
        self.scale_lr = float(scale_lr)
        self.lock_a = lock_a
        if lock_a:
            for p in self.encoder.parameters():
                p.requires_grad_(False)
            self.encoder.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.lock_a:
            self.encoder.eval()  # a locked tower keeps its (pretrained) BatchNorm statistics and no dropout
        return self

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        scale = list(self.scale.parameters()) if self.scale is not None else []
        others = [p for p in self.parameters() if p.requires_grad and all(p is not q for q in scale)]
        groups = [{"params": others, "lr": lr, "weight_decay": weight_decay}]
        if scale:
            groups.append({"params": scale, "lr": lr * self.scale_lr, "weight_decay": 0.0})
        return groups

    def current_scale(self):
        return self.scale() if self.scale is not None else self.fixed_scale

    def loss(self, views, labels, step):
        a, b = views
        za, zb = self.encoder(a), self.encoder_b(b)
        return L.clip_loss(za, zb, logit_scale=self.current_scale()), za, zb

    @property
    def temperature(self) -> float:
        """τ = 1 / the logit scale: the learned one, or the fixed ``logit_scale``."""
        return self.scale.temperature if self.scale is not None else 1 / self.fixed_scale

    @torch.no_grad()
    def project_b(self, b: Tensor) -> Tensor:
        return self.encoder_b(b)


class NegCLIP(CLIP):
    """The ``clip`` set-up plus one hard negative for tower b per pair, made from each batch by
    ``negatives(b)`` (Yuksekgonul et al. 2023). ``build_method("negclip", data)`` uses the data's own
    ``swap_attributes`` (``data.compositional_pairs``) unless ``negatives`` is given."""

    objectives = (L.clip_loss_with_negatives,)

    def __init__(self, encoder: Encoder, *, negatives: Callable[[Tensor], Tensor], **options):
        super().__init__(encoder, **options)
        if not callable(negatives):
            raise TypeError(f"negatives must be a function of the b batch, got {type(negatives).__name__}")
        self.negatives = negatives

    def loss(self, views, labels, step):
        a, b = views
        za, zb = self.encoder(a), self.encoder_b(b)  # (B, D) each
        zn = self.encoder_b(self.negatives(b))  # (B, D) one hard negative per pair
        return L.clip_loss_with_negatives(za, zb, zn, logit_scale=self.current_scale()), za, zb


METHODS: dict[str, type[Method]] = {
    "simclr": SimCLR, "infonce": InfoNCE, "dcl": DCL, "debiased": Debiased, "oracle": Oracle,
    "supcon": SupCon, "align_uniform": AlignUniform, "moco": MoCo, "simsiam": SimSiam, "byol": BYOL,
    "barlow": BarlowTwins, "vicreg": VICReg, "clip": CLIP, "ce": CrossEntropy, "supcon_simclr": SupConSimCLR,
    "negclip": NegCLIP,
}


def build_method(name: str, data, *, encoder: Encoder | None = None, out_dim: int = 32, feature_dim: int = 64,
                 hidden: int = 128, **options) -> Method:
    """The set-up ``name`` with a default encoder for ``data`` unless one is given."""
    if name not in METHODS:
        import difflib

        close = difflib.get_close_matches(name, METHODS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {name!r}{hint}")
    cls = METHODS[name]
    if encoder is None:
        encoder = build_encoder(tuple(data.x.shape[1:]), feature_dim=feature_dim, out_dim=out_dim, hidden=hidden)
    if cls is CrossEntropy and "n_classes" not in options:
        options["n_classes"] = max(2, int(data.labels.max()) + 1)
    if cls is NegCLIP and "negatives" not in options:
        if not hasattr(data, "swap_attributes"):
            raise ValueError(f"method 'negclip' needs negatives= or data with swap_attributes "
                             f"(data.compositional_pairs), got {data.name}")
        options["negatives"] = data.swap_attributes
    if cls.paired:
        if not hasattr(data, "b"):
            raise ValueError(f"method {name!r} needs paired data (e.g. data.paired_modalities), got {data.name}")
        options.setdefault("encoder_b", build_encoder(tuple(data.b.shape[1:]), feature_dim=feature_dim,
                                                      out_dim=out_dim, hidden=hidden))
    return cls(encoder, **options)


__all__ = ["Method", "METHODS", "build_method", *[c.__name__ for c in METHODS.values()]]
