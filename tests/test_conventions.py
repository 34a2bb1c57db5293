"""contrastlab.conventions: every translation gives the peer's number.

Where the peer imports (a test dependency: pytorch-metric-learning, info-nce-pytorch; sentence-transformers
and transformers come with the environment), ``crosscheck`` runs both on fresh random inputs and compares
values and gradients. Where it does not (lightly and open_clip need torchvision; SupContrast and SimCLR
are reference code), ``.loss`` is checked against a formula written here from the peer's code.
Adding a peer check is one line in ``CROSSCHECKS``.
"""

import math
import runpy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import contrastlab.losses as L
from contrastlab import conventions as C

ROOT = Path(__file__).resolve().parents[1]

# (library, loss, params): every table row at the peer's defaults, plus the settings that change the layout
CROSSCHECKS = [(lib, name, {"memory_bank_size": 64} if "memory" in name else {}) for lib, name in C.PEERS] + [
    ("pytorch-metric-learning", "SelfSupervisedLoss", {"symmetric": False}),
    ("info-nce-pytorch", "InfoNCE", {"negative_mode": "paired"}),
    ("info-nce-pytorch", "InfoNCE", {"reduction": "sum", "temperature": 0.05}),
    ("sentence-transformers", "MultipleNegativesRankingLoss",
     {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"}),
    ("sentence-transformers", "MultipleNegativesRankingLoss",
     {"directions": ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")}),
    ("sentence-transformers", "CachedMultipleNegativesRankingLoss", {"mini_batch_size": 5}),
    ("SupContrast", "SupConLoss", {"base_temperature": 0.1, "temperature": 0.1}),
]
IDS = [f"{lib}-{name}-{'-'.join(f'{k}={v}' for k, v in params.items())}" for lib, name, params in CROSSCHECKS]


def _runnable(library):
    return C.peer_available(library) is None and C.LIBRARIES[library]["module"]


@pytest.mark.parametrize("library, loss, params", CROSSCHECKS, ids=IDS)
def test_the_translation_gives_the_peers_number(library, loss, params):
    if _runnable(library):
        result = C.crosscheck(library, loss, **params)
        assert result.ran and result.runs >= 4
        assert result.max_value_diff < 1e-10 and result.max_grad_diff < 1e-10, result.rows
    else:
        key = (library, loss)
        assert key in FORMULAS, f"{library} does not import here ({C.peer_available(library)}): write its formula"
        translation = C.translate(library, loss, **params)
        merged = dict(C.PEERS[key].params, **params)
        for n, d, k, scale in [(2, 4, 0, 0.5), (8, 16, 1, 0.1), (13, 8, 2, 10.0)]:
            g = torch.Generator().manual_seed(n)
            args = C.PEERS[key].inputs(n, d, k, scale, g, torch.float64, merged)
            ours, theirs = translation.loss(*args), FORMULAS[key](merged, *args)
            torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
            leaves = C.leaves(args)
            for a, b in zip(torch.autograd.grad(ours, leaves), torch.autograd.grad(theirs, leaves)):
                torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_every_peer_has_a_check():
    for library, loss in C.PEERS:
        assert _runnable(library) or (library, loss) in FORMULAS, (library, loss)


# --- the peers' formulas, for the peers that do not import here (written from their code) --------

def _lightly_ntxent(p, out0, out1, bank=None):
    tau = p["temperature"]
    out0, out1 = F.normalize(out0, dim=1), F.normalize(out1, dim=1)
    n = len(out0)
    if bank is not None:
        logits = torch.cat([(out0 * out1).sum(1, keepdim=True), out0 @ bank.T], 1) / tau
        return F.cross_entropy(logits, torch.zeros(n, dtype=torch.long))
    eye = torch.eye(n, dtype=torch.bool)
    l00, l01, l10, l11 = (a @ b.T / tau for a, b in ((out0, out0), (out0, out1), (out1, out0), (out1, out1)))
    l00, l11 = l00[~eye].view(n, -1), l11[~eye].view(n, -1)
    logits = torch.cat([torch.cat([l01, l00], 1), torch.cat([l10, l11], 1)])
    return F.cross_entropy(logits, torch.arange(n).repeat(2))


def _lightly_dcl(p, out0, out1, weighted=False):
    tau = p["temperature"]
    out0, out1 = F.normalize(out0, dim=1), F.normalize(out1, dim=1)

    def one(a, b):
        n = len(a)
        eye = torch.eye(n, dtype=torch.bool)
        s00, s01 = a @ a.T / tau, a @ b.T / tau
        positive = -s01[eye]
        if weighted:
            positive = positive * (2 - n * torch.softmax((a.detach() * b.detach()).sum(1) / p["sigma"], 0))
        negatives = torch.cat([s00[~eye].view(n, -1), s01[~eye].view(n, -1)], 1)
        return (positive + torch.logsumexp(negatives, 1)).mean()

    return 0.5 * (one(out0, out1) + one(out1, out0))


def _lightly_barlow(p, z_a, z_b):
    n = len(z_a)
    a, b = (F.batch_norm(z, None, None, training=True) for z in (z_a, z_b))
    c = a.T @ b / n
    off = ~torch.eye(len(c), dtype=torch.bool)
    return (c.diagonal() - 1).pow(2).sum() + p["lambda_param"] * c[off].pow(2).sum()


def _lightly_vicreg(p, z_a, z_b):
    def var(x):
        return F.relu(1 - torch.sqrt(x.var(0) + p["eps"])).mean()

    def cov(x):
        x = x - x.mean(0)
        c = x.T @ x / (len(x) - 1)
        return c[~torch.eye(x.shape[1], dtype=torch.bool)].pow(2).sum() / x.shape[1]

    return (p["lambda_param"] * F.mse_loss(z_a, z_b) + p["mu_param"] * 0.5 * (var(z_a) + var(z_b))
            + p["nu_param"] * (cov(z_a) + cov(z_b)))


def _lightly_hypersphere(p, z_a, z_b):
    x, y = F.normalize(z_a), F.normalize(z_b)

    def uniform(z):
        return torch.pdist(z, p=2).pow(2).mul(-p["t"]).exp().mean().log()

    return (x - y).norm(dim=1).pow(p["alpha"]).mean() + p["lam"] * (uniform(x) + uniform(y)) / 2


def _open_clip(p, image, text, scale, bias=None):
    image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)  # open_clip's models normalise
    labels = torch.arange(len(image))
    return (F.cross_entropy(scale * image @ text.T, labels) + F.cross_entropy(scale * text @ image.T, labels)) / 2


def _siglip(p, image, text, scale, bias):
    image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    n = len(image)
    labels = 2 * torch.eye(n, dtype=image.dtype) - 1
    return -F.logsigmoid(labels * (scale * image @ text.T + bias)).sum() / n


def _supcontrast(p, features, labels=None):  # HobbitLong/SupContrast master, contrast_mode='all'
    n, v, _ = features.shape
    features = F.normalize(features, dim=-1)  # SupConResNet's head normalises
    labels = torch.arange(n) if labels is None else labels
    mask = (labels[:, None] == labels[None, :]).to(features.dtype).repeat(v, v)
    contrast = torch.cat(torch.unbind(features, dim=1), 0)
    logits = contrast @ contrast.T / p["temperature"]
    logits = logits - logits.max(1, keepdim=True)[0].detach()
    logits_mask = 1 - torch.eye(n * v, dtype=features.dtype)
    mask = mask * logits_mask
    log_prob = logits - torch.log((torch.exp(logits) * logits_mask).sum(1, keepdim=True))
    pairs = torch.where(mask.sum(1) < 1e-6, torch.ones_like(mask.sum(1)), mask.sum(1))
    loss = -(p["temperature"] / p["base_temperature"]) * (mask * log_prob).sum(1) / pairs
    return loss.view(v, n).mean()


def _simclr(p, hidden):  # google-research/simclr tf2/objective.py, one replica
    hidden = F.normalize(hidden, dim=-1)
    h1, h2 = hidden.chunk(2)
    n, tau = len(h1), p["temperature"]
    masks = torch.eye(n, dtype=hidden.dtype)
    aa, bb = h1 @ h1.T / tau - masks * 1e9, h2 @ h2.T / tau - masks * 1e9
    ab, ba = h1 @ h2.T / tau, h2 @ h1.T / tau
    labels = torch.arange(n)
    loss_a = F.cross_entropy(torch.cat([ab, aa], 1), labels, reduction="none")
    loss_b = F.cross_entropy(torch.cat([ba, bb], 1), labels, reduction="none")
    return (loss_a + loss_b).mean()


FORMULAS = {
    ("lightly", "NTXentLoss"): _lightly_ntxent,
    ("lightly", "NTXentLoss(memory_bank_size=M)"): _lightly_ntxent,
    ("lightly", "DCLLoss"): _lightly_dcl,
    ("lightly", "DCLWLoss"): lambda p, a, b: _lightly_dcl(p, a, b, weighted=True),
    ("lightly", "NegativeCosineSimilarity"): lambda p, x0, x1: -F.cosine_similarity(x0, x1, 1, p["eps"]).mean(),
    ("lightly", "BarlowTwinsLoss"): _lightly_barlow,
    ("lightly", "VICRegLoss"): _lightly_vicreg,
    ("lightly", "HypersphereLoss"): _lightly_hypersphere,
    ("open_clip", "ClipLoss"): _open_clip,
    ("open_clip", "SigLipLoss"): _siglip,
    ("SupContrast", "SupConLoss"): _supcontrast,
    ("SimCLR", "add_contrastive_loss"): _simclr,
}


def test_the_formulas_here_are_not_the_translations_in_disguise():
    """A formula that returns our loss would pass anything: each differs from the plain contrastlab call
    exactly where the notes say it should."""
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    assert float(_simclr({"temperature": 0.5}, torch.cat([z1, z2]))) == pytest.approx(
        2 * float(L.nt_xent(z1, z2, temperature=0.5)))
    features = F.normalize(torch.randn(6, 2, 4, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert float(_supcontrast({"temperature": 0.1, "base_temperature": 0.07}, features, labels)) == pytest.approx(
        0.1 / 0.07 * float(L.supcon(features, labels, temperature=0.1)))


# --- the differences the notes name -------------------------------------------------------------

def test_pml_supcon_is_zero_on_a_one_class_batch_where_ours_and_supcontrast_are_not():
    g = torch.Generator().manual_seed(3)
    features = F.normalize(torch.randn(6, 2, 8, generator=g, dtype=torch.float64), dim=-1)
    one_class = torch.zeros(6, dtype=torch.long)
    pml = C.translate("pml", "SupConLoss", temperature=0.1)
    assert float(pml.loss(features.transpose(0, 1).reshape(12, 8), one_class.repeat(2))) == 0.0
    ours = float(L.supcon(features, one_class, temperature=0.1))
    supcontrast = C.translate("SupContrast", "SupConLoss", temperature=0.1, base_temperature=0.1)
    assert ours > 0 and float(supcontrast.loss(features, one_class)) == pytest.approx(ours)
    assert any("ONE class" in note for note in pml.notes)
    if _runnable("pytorch-metric-learning"):
        from pytorch_metric_learning.losses import SupConLoss
        assert float(SupConLoss(temperature=0.1)(features.transpose(0, 1).reshape(12, 8), one_class.repeat(2))) == 0


def test_notes_name_the_differences():
    def notes(*args, **kwargs):
        return " ".join(C.translate(*args, **kwargs).notes)
    assert "twice" in notes("SimCLR", "add_contrastive_loss")
    assert "log" in notes("transformers", "CLIPModel") and "exp()" in notes("transformers", "CLIPModel")
    assert "-10" in notes("open_clip", "SigLipLoss") and "by N, not N²" in notes("open_clip", "SigLipLoss")
    assert "base_temperature" in notes("SupContrast", "SupConLoss")
    assert "L_out" in notes("pml", "SupConLoss") and "L_in" in notes("pml", "NTXentLoss")
    assert "τ = 0.05" in notes("st", "MultipleNegativesRankingLoss")
    assert "normalise" in notes("open_clip", "ClipLoss")
    assert "N times" in notes("info-nce", "InfoNCE", reduction="sum")
    assert "bank" in notes("lightly", "NTXentLoss", memory_bank_size=4096)


def test_code_is_the_contrastlab_call():
    assert C.translate("st", "MultipleNegativesRankingLoss").code.startswith("info_nce(anchor, positive, "
                                                                            "temperature=0.05)")
    assert C.translate("pml", "SelfSupervisedLoss", temperature=0.2).code == \
        "nt_xent(embeddings, ref_emb, temperature=0.2)"
    assert C.translate("lightly", "NTXentLoss").code == "nt_xent(out0, out1, temperature=0.5)"
    assert C.translate("SupContrast", "SupConLoss", temperature=0.1).code.startswith("1.42857 * supcon(")
    assert "logit_scale.exp()" in C.translate("transformers", "CLIPModel").code


def test_unknown_names_are_refused_with_what_is_known():
    with pytest.raises(ValueError, match="did you mean 'lightly'"):
        C.translate("lighty", "NTXentLoss")
    with pytest.raises(ValueError, match="did you mean 'NTXentLoss'.*known: NTXentLoss"):
        C.translate("pml", "NTXentLos")
    with pytest.raises(ValueError, match="no parameter 'temprature' \\(did you mean 'temperature'\\?\\); its "
                                         "parameters: temperature"):
        C.translate("pml", "NTXentLoss", temprature=0.1)
    with pytest.raises(ValueError, match="only cos_sim"):
        C.translate("st", "MultipleNegativesRankingLoss", similarity_fct="dot_score")
    with pytest.raises(ValueError, match="contrast_mode"):
        C.translate("SupContrast", "SupConLoss", contrast_mode="one")
    with pytest.raises(ValueError, match="temperature"):
        C.translate("pml", "NTXentLoss", temperature=0)


def test_a_peer_that_does_not_import_says_why():
    result = C.crosscheck("SimCLR", "add_contrastive_loss")
    assert not result.ran and result.max_value_diff is None and "reference code" in result.reason


# --- CONVENTIONS.md ------------------------------------------------------------------------------

def test_conventions_md_is_what_the_generator_writes():
    render = runpy.run_path(str(ROOT / "tools" / "conventions.py"))["render"]
    assert (ROOT / "CONVENTIONS.md").read_text() == render(), "CONVENTIONS.md is stale: run `make conventions`"


def test_every_translation_is_in_conventions_md():
    text = (ROOT / "CONVENTIONS.md").read_text()
    for (library, loss) in C.PEERS:
        params = {"memory_bank_size": 4096} if "memory" in loss else {}
        assert C.translate(library, loss, **params).code.split("  #")[0] in text, (library, loss)


def test_float32_crosscheck_at_a_typical_size():
    result = C.crosscheck("pml", "NTXentLoss", shapes=[(128, 64, 0)], dtype=torch.float32, temperature=0.1)
    assert result.max_value_diff < 1e-5 and math.isfinite(result.max_grad_diff)
