"""Text toy data: a topic-labelled corpus, graded sentence pairs, text views and a word-level tokeniser.

Everything is local and instant. The sentences and pairs ship in ``data/text/`` (written for
contrastlab, CC0-1.0; see its README). The views are pure functions of (sentence, strength,
generator). The tokeniser works on words, so a tiny BERT can be built from a config and trained
without downloading anything::

    sentences, topics, topic_ids = load_sentences()       # 600 sentences in 8 topics
    s1, s2, scores = load_sts_pairs()                     # 301 pairs, scores in [0, 5]
    views = TextViews(("deletion", "swap", "mask"), strength=0.2, seed=0)
    first, second = text_pairs(sentences[:4], views)      # two augmented copies of each sentence
    vocab = build_vocab(sentences)
    input_ids, attention_mask = encode(first, vocab, max_len=32)   # (4, 32), (4, 32)

The views work on whitespace-separated words, so punctuation stays attached to its word
("oven." is one word). They draw their randomness only from the ``generator`` they are given and
never touch the global RNG. For SimCSE's dropout-only views use ``TextViews(("identity",))``: the
two copies are the same text, and dropout inside the model makes them differ.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from .. import validation as check

__all__ = [
    "DATA_DIR", "load_sentences", "load_sts_pairs",
    "identity", "word_deletion", "word_swap", "span_mask", "VIEWS", "TextViews", "text_pairs",
    "SPECIALS", "simple_tokenize", "build_vocab", "encode",
]

DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "text"
"""The folder holding ``sentences.tsv`` and ``sts_pairs.tsv``: ``data/text/`` at the repository root."""

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""Default special tokens; ``build_vocab`` gives them ids 0..4 in this order, so [PAD] is 0."""


# --- files -------------------------------------------------------------------------------------

def _data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"text data file {name!r} not found at {path}. The data lives in the repository's "
            f"data/text/ folder, not inside the package, so use contrastlab from a checkout "
            f"(pip install -e .) rather than from a built wheel."
        )
    return path


def _read_tsv(name: str, header: tuple[str, ...]) -> list[list[str]]:
    """The rows of a tab-separated file whose first line is ``header``."""
    path = _data_file(name)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != header:
        got = lines[0].split("\t") if lines else []
        raise ValueError(f"{path}: the first line must be the header {list(header)}, got {got}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header) or not all(f.strip() for f in fields):
            raise ValueError(f"{path}, line {number}: expected {len(header)} non-empty tab-separated "
                             f"fields {list(header)}, got {fields}")
        rows.append(fields)
    return rows


def load_sentences(*, device: torch.device | str | None = None) -> tuple[list[str], list[str], Tensor]:
    """The shipped corpus: short English sentences, each labelled with one of 8 topics.

    Returns:
        sentences: list of N strings, in file order (grouped by topic).
        topics: list of N topic names (cooking, weather, sports, music, computing, animals,
            travel, health).
        topic_ids: (N,) long tensor. Ids follow the alphabetical order of the names, so
            ``sorted(set(topics))[topic_ids[i]] == topics[i]``.
    Raises FileNotFoundError if ``data/text/sentences.tsv`` is missing, ValueError if it is malformed.
    """
    rows = _read_tsv("sentences.tsv", ("topic", "sentence"))
    topics = [topic for topic, _ in rows]
    sentences = [sentence for _, sentence in rows]
    index = {name: i for i, name in enumerate(sorted(set(topics)))}
    topic_ids = torch.tensor([index[t] for t in topics], dtype=torch.long, device=device)  # (N,)
    return sentences, topics, topic_ids


def load_sts_pairs(*, device: torch.device | str | None = None) -> tuple[list[str], list[str], Tensor]:
    """The shipped sentence pairs with graded similarity, for an STS-style evaluation.

    The scores follow the STS-B scale: 5 means the same meaning, 4 mostly equivalent (a minor
    detail differs), 3 roughly equivalent (some important information differs), 2 not equivalent
    but sharing some details, 1 the same topic only, 0 unrelated. Half points sit in between.
    Evaluate with the Spearman correlation between cosine similarity and score.

    Returns:
        s1, s2: lists of P strings; pair i is (s1[i], s2[i]).
        scores: (P,) float32 tensor with values in [0, 5].
    Raises FileNotFoundError if ``data/text/sts_pairs.tsv`` is missing, ValueError if it is malformed.
    """
    rows = _read_tsv("sts_pairs.tsv", ("score", "sentence1", "sentence2"))
    values = []
    for number, (score, _, _) in enumerate(rows, start=2):
        try:
            value = float(score)
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= 5.0:  # also rejects NaN
            raise ValueError(f"{DATA_DIR / 'sts_pairs.tsv'}, line {number}: score must be a number "
                             f"in [0, 5], got {score!r}")
        values.append(value)
    scores = torch.tensor(values, dtype=torch.float32, device=device)  # (P,)
    return [r[1] for r in rows], [r[2] for r in rows], scores


# --- argument checks (the scalar checks are contrastlab.validation's) ----------------------------

def _check_generator(generator: object) -> torch.Generator:
    check.instance("generator", generator, torch.Generator, "a torch.Generator (e.g. torch.Generator().manual_seed(0))")
    if generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU generator (the views draw on the CPU), "
                         f"got one on {generator.device}")
    return generator


def _words(sentence: object) -> list[str]:
    if not isinstance(sentence, str):
        raise TypeError(f"sentence must be a str, got {type(sentence).__name__}")
    words = sentence.split()
    if not words:
        raise ValueError(f"sentence must contain at least one word, got {sentence!r}")
    return words


def _check_sentences(sentences: object) -> list[str]:
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of strings, got a single str; wrap it in a list")
    if not isinstance(sentences, Sequence):
        raise TypeError(f"sentences must be a list of strings, got {type(sentences).__name__}")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"sentences must be a list of strings, got {type(s).__name__} at index {i}")
    return list(sentences)


def _check_mask_token(mask_token: object) -> str:
    check.instance("mask_token", mask_token, str, "a str")
    if not mask_token or mask_token.split() != [mask_token]:
        raise ValueError(f"mask_token must be a non-empty string without whitespace, got {mask_token!r}")
    return mask_token


# --- text views --------------------------------------------------------------------------------

def identity(sentence: str, strength: float = 0.0, generator: torch.Generator | None = None) -> str:
    """The sentence unchanged: the SimCSE view, where dropout in the encoder is the only augmentation.

    It takes the same arguments as the other views so they can be swapped; it checks ``sentence``
    and ``strength``, ignores ``generator`` (which may be None) and draws nothing.
    """
    _words(sentence)
    check.probability("strength", strength)
    return sentence


def word_deletion(sentence: str, strength: float, generator: torch.Generator) -> str:
    """Delete each word independently with probability ``strength``, keeping at least one word.

    If every word is drawn for deletion (always so at strength 1), one word chosen uniformly at
    random is kept. The surviving words keep their order. Strength 0 returns ``sentence``
    unchanged and draws nothing from ``generator``.
    """
    words = _words(sentence)
    strength = check.probability("strength", strength)
    _check_generator(generator)
    if strength == 0.0:
        return sentence
    keep = torch.rand(len(words), generator=generator) >= strength  # (n,) bool
    if not keep.any():
        keep[torch.randint(len(words), (1,), generator=generator)] = True
    return " ".join(w for w, k in zip(words, keep.tolist()) if k)


def word_swap(sentence: str, strength: float, generator: torch.Generator) -> str:
    """Swap about ``strength * n / 2`` random pairs of adjacent words (n = number of words).

    The number of swaps is ``round(strength * n / 2)``, at least 1 when strength > 0 and at most
    n - 1. Each swap uses a different position, applied in a random order, so the swaps never
    undo each other: the word order always changes (the text stays the same only if the swapped
    words are identical). At strength 1 about half of the words move. A one-word sentence and
    strength 0 return ``sentence`` unchanged; strength 0 draws nothing from ``generator``.
    """
    words = _words(sentence)
    strength = check.probability("strength", strength)
    _check_generator(generator)
    n = len(words)
    if strength == 0.0 or n < 2:
        return sentence
    n_swaps = min(n - 1, max(1, math.floor(strength * n / 2 + 0.5)))
    positions = torch.randperm(n - 1, generator=generator)[:n_swaps]  # (n_swaps,) distinct, in random order
    for i in positions.tolist():
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def span_mask(sentence: str, strength: float, generator: torch.Generator, *, mask_token: str = "[MASK]") -> str:
    """Replace a random contiguous span of ``round(strength * n)`` words with ``mask_token``.

    Each word of the span becomes one ``mask_token``, so the sentence keeps its length, as in
    BERT and SpanBERT. The span has at least 1 word when strength > 0 and all n at strength 1.
    No synonyms or other outside resources are used. ``encode`` maps the default "[MASK]" to
    its special id. Strength 0 returns ``sentence`` unchanged and draws nothing from ``generator``.
    """
    words = _words(sentence)
    strength = check.probability("strength", strength)
    _check_generator(generator)
    mask_token = _check_mask_token(mask_token)
    if strength == 0.0:
        return sentence
    n = len(words)
    span = min(n, max(1, math.floor(strength * n + 0.5)))
    start = int(torch.randint(n - span + 1, (1,), generator=generator))
    words[start:start + span] = [mask_token] * span
    return " ".join(words)


VIEWS: dict[str, Callable[..., str]] = {
    "identity": identity, "deletion": word_deletion, "swap": word_swap, "mask": span_mask,
}
"""The views by the name ``TextViews`` uses for them."""


class TextViews:
    """A seeded callable that maps a list of sentences to a list of augmented sentences.

    Each sentence gets one view, drawn uniformly from ``kinds`` (a kind listed twice is drawn
    twice as often), applied at ``strength``. The object owns a CPU generator seeded with
    ``seed``. Each call advances it, so two calls on the same list give two different views (a
    positive pair), and a fresh object with the same seed repeats the same sequence of calls.
    ``reset()`` rewinds it.

    Args:
        kinds: names from ``VIEWS`` ("identity", "deletion", "swap", "mask"), or a single name.
        strength: in [0, 1], passed to every view.
        seed: integer seed of the generator.
        mask_token: the token ``span_mask`` writes; "[MASK]" matches ``SPECIALS``.
    """

    def __init__(self, kinds: Sequence[str] | str = ("deletion", "swap", "mask"), strength: float = 0.2,
                 seed: int = 0, *, mask_token: str = "[MASK]"):
        if isinstance(kinds, str):
            kinds = (kinds,)
        if not isinstance(kinds, Sequence):
            raise TypeError(f"kinds must be a sequence of names from {sorted(VIEWS)}, got {type(kinds).__name__}")
        if not kinds or any(k not in VIEWS for k in kinds):
            raise ValueError(f"kinds must be a non-empty sequence of names from {sorted(VIEWS)}, got {kinds!r}")
        self.kinds = tuple(kinds)
        self.strength = check.probability("strength", strength)
        self.seed = check.seed("seed", seed)
        self.mask_token = _check_mask_token(mask_token)
        self.generator = torch.Generator().manual_seed(self.seed)

    def reset(self) -> "TextViews":
        """Rewind the generator to ``seed``, so the next calls repeat the first ones."""
        self.generator.manual_seed(self.seed)
        return self

    def __call__(self, sentences: Sequence[str]) -> list[str]:
        sentences = _check_sentences(sentences)
        for s in sentences:
            _words(s)  # every view needs at least one word; fail the same way whichever kind is drawn
        choice = torch.randint(len(self.kinds), (len(sentences),), generator=self.generator)  # (N,)
        out = []
        for kind, sentence in zip((self.kinds[c] for c in choice.tolist()), sentences):
            if kind == "mask":
                out.append(span_mask(sentence, self.strength, self.generator, mask_token=self.mask_token))
            else:
                out.append(VIEWS[kind](sentence, self.strength, self.generator))
        return out

    def __repr__(self) -> str:
        return (f"TextViews(kinds={self.kinds!r}, strength={self.strength}, seed={self.seed}, "
                f"mask_token={self.mask_token!r})")


def text_pairs(sentences: Sequence[str], views: Callable[[list[str]], list[str]], n_views: int = 2) -> list[list[str]]:
    """``n_views`` augmented copies of ``sentences``: a list of n_views lists, each as long as ``sentences``.

    ``views`` is any callable from a list of sentences to a list of the same length, such as a
    ``TextViews``. It is called once per copy, so a seeded ``TextViews`` gives a different view each
    time. Row i of every copy comes from sentence i: these are the positives of a contrastive batch.
    """
    sentences = _check_sentences(sentences)
    if not callable(views):
        raise TypeError(f"views must be a callable from a list of sentences to a list, got {type(views).__name__}")
    n_views = check.integer("n_views", n_views, 1)
    copies = []
    for _ in range(n_views):
        copy = list(views(list(sentences)))
        if len(copy) != len(sentences):
            raise ValueError(f"views must return one sentence per input, got {len(copy)} for {len(sentences)}")
        copies.append(copy)
    return copies


# --- word-level tokeniser ----------------------------------------------------------------------

_TOKEN = re.compile(r"(?P<special>\[[A-Z]+\])|(?P<word>[^\W_]+(?:'[^\W_]+)*)|(?P<punct>[^\w\s]|_)")


def simple_tokenize(sentence: str) -> list[str]:
    """Lowercase word-level tokens: runs of letters and digits (with inner apostrophes, "it's"),
    and single punctuation marks. Bracketed upper-case tokens such as "[MASK]" are kept as they are.

    >>> simple_tokenize("It's [MASK] time, again!")
    ["it's", '[MASK]', 'time', ',', 'again', '!']
    """
    if not isinstance(sentence, str):
        raise TypeError(f"sentence must be a str, got {type(sentence).__name__}")
    return [m.group() if m.lastgroup == "special" else m.group().lower() for m in _TOKEN.finditer(sentence)]


def build_vocab(sentences: Sequence[str], min_count: int = 1, specials: Sequence[str] = SPECIALS) -> dict[str, int]:
    """A token -> id vocabulary of ``sentences`` under ``simple_tokenize``.

    The specials come first, with ids 0, 1, ... in the given order. The other tokens that occur at
    least ``min_count`` times follow, most frequent first, with ties in alphabetical order, so the
    same sentences always give the same vocabulary. ``encode`` needs [PAD], [UNK], [CLS] and [SEP].
    """
    sentences = _check_sentences(sentences)
    min_count = check.integer("min_count", min_count, 1)
    if isinstance(specials, str) or not isinstance(specials, Sequence):
        raise TypeError(f"specials must be a sequence of strings, got {type(specials).__name__} {specials!r}")
    if not all(isinstance(s, str) for s in specials):
        raise TypeError(f"specials must be a sequence of strings, got {specials!r}")
    if not all(specials) or len(set(specials)) != len(specials):
        raise ValueError(f"specials must be distinct non-empty strings, got {specials!r}")
    counts = Counter(t for s in sentences for t in simple_tokenize(s) if t not in specials)
    words = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return {token: i for i, token in enumerate([*specials, *words])}


def encode(sentences: Sequence[str], vocab: Mapping[str, int], max_len: int = 32, *,
           device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Token ids and attention mask for a batch, padded to ``max_len``: ``[CLS] w1 ... wk [SEP] [PAD] ...``.

    Tokens missing from ``vocab`` become [UNK]. A sentence with more than max_len - 2 tokens is
    cut to its first max_len - 2, and [SEP] stays last.

    Returns:
        input_ids: (N, max_len) long tensor.
        attention_mask: (N, max_len) long tensor: 1 on [CLS], the tokens and [SEP], 0 on padding.
    """
    sentences = _check_sentences(sentences)
    if not isinstance(vocab, Mapping):
        raise TypeError(f"vocab must be a mapping from token to id (see build_vocab), got {type(vocab).__name__}")
    missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if t not in vocab]
    if missing:
        raise ValueError(f"vocab must contain the special tokens [PAD], [UNK], [CLS] and [SEP], missing {missing}")
    max_len = check.integer("max_len", max_len, 2)
    pad, unk, cls, sep = (vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"))
    rows, lengths = [], []
    for s in sentences:
        ids = [cls, *(vocab.get(t, unk) for t in simple_tokenize(s))][: max_len - 1] + [sep]
        lengths.append(len(ids))
        rows.append(ids + [pad] * (max_len - len(ids)))
    input_ids = torch.tensor(rows, dtype=torch.long, device=device).reshape(len(rows), max_len)  # (N, L)
    lengths = torch.tensor(lengths, dtype=torch.long, device=device)  # (N,) real tokens incl. [CLS] and [SEP]
    positions = torch.arange(max_len, device=device)  # (L,)
    attention_mask = (positions[None, :] < lengths[:, None]).long()  # (N, L)
    return input_ids, attention_mask
