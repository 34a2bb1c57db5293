"""The shipped text data, the text views and the word-level tokeniser (contrastlab.data.text)."""

import math
from collections import Counter

import pytest
import torch

from contrastlab.data import text
from contrastlab.data.text import (
    SPECIALS, TextViews, build_vocab, encode, identity, load_sentences, load_sts_pairs, simple_tokenize,
    span_mask, text_pairs, word_deletion, word_swap,
)

N_SENTENCES, N_TOPICS, N_PAIRS = 600, 8, 301  # the counts stated in data/text/README.md
RANDOM_VIEWS = [word_deletion, word_swap, span_mask]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def corpus():
    return load_sentences()


@pytest.fixture(scope="module")
def pairs():
    return load_sts_pairs()


# --- the files ---------------------------------------------------------------------------------

def test_sentence_file_has_a_header_and_two_columns():
    lines = (text.DATA_DIR / "sentences.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "topic\tsentence"
    assert all(len(line.split("\t")) == 2 for line in lines[1:])


def test_sentences_load_with_the_stated_counts(corpus):
    sentences, topics, topic_ids = corpus
    assert len(sentences) == len(topics) == N_SENTENCES
    assert topic_ids.dtype == torch.long and topic_ids.shape == (N_SENTENCES,)
    names = sorted(set(topics))
    assert len(names) == N_TOPICS
    assert [names[i] for i in topic_ids.tolist()] == topics  # ids follow the alphabetical order
    counts = Counter(topics)
    assert min(counts.values()) >= 50, counts


def test_sentences_are_distinct_short_plain_ascii(corpus):
    sentences, _, _ = corpus
    lowered = [" ".join(s.lower().split()) for s in sentences]
    duplicates = [s for s, c in Counter(lowered).items() if c > 1]
    assert not duplicates
    for s in sentences:
        assert s.isascii() and s == s.strip() and "\t" not in s, s
        assert 6 <= len(s.split()) <= 20, s


def test_sts_file_has_a_header_and_three_columns():
    lines = (text.DATA_DIR / "sts_pairs.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "score\tsentence1\tsentence2"
    assert all(len(line.split("\t")) == 3 for line in lines[1:])


def test_sts_pairs_load_with_scores_in_range_covering_every_integer(pairs):
    s1, s2, scores = pairs
    assert len(s1) == len(s2) == N_PAIRS
    assert scores.dtype == torch.float32 and scores.shape == (N_PAIRS,)
    assert bool(((scores >= 0) & (scores <= 5)).all())
    integers = {int(v) for v in scores.tolist() if v == int(v)}
    assert integers == {0, 1, 2, 3, 4, 5}
    buckets = Counter(min(4, math.floor(v)) if v < 5 else 5 for v in scores.tolist())
    assert min(buckets.values()) >= 40, buckets  # roughly balanced over 0-1, 1-2, ..., 4-5 and 5
    assert all(a != b for a, b in zip(s1, s2))
    assert len(set(zip(s1, s2))) == N_PAIRS


def test_loaders_put_tensors_on_the_device(device):
    assert load_sentences(device=device)[2].device.type == device.type
    assert load_sts_pairs(device=device)[2].device.type == device.type


def test_missing_data_folder_raises_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(text, "DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"sentences\.tsv.*nowhere.*data/text"):
        load_sentences()
    with pytest.raises(FileNotFoundError, match=r"sts_pairs\.tsv"):
        load_sts_pairs()


def test_malformed_files_raise_with_the_line(monkeypatch, tmp_path):
    monkeypatch.setattr(text, "DATA_DIR", tmp_path)
    (tmp_path / "sentences.tsv").write_text("topic\tsentence\ncooking\tFine.\ncooking only one column\n")
    with pytest.raises(ValueError, match="line 3"):
        load_sentences()
    (tmp_path / "sentences.tsv").write_text("label\ttext\ncooking\tFine.\n")
    with pytest.raises(ValueError, match="header"):
        load_sentences()
    (tmp_path / "sts_pairs.tsv").write_text("score\tsentence1\tsentence2\n5.5\tA b.\tC d.\n")
    with pytest.raises(ValueError, match=r"line 2: score must be a number in \[0, 5\], got '5.5'"):
        load_sts_pairs()


# --- the views ---------------------------------------------------------------------------------

@pytest.mark.parametrize("view", RANDOM_VIEWS)
def test_views_are_deterministic_under_a_seed(view, corpus):
    sentences = corpus[0][:60]
    g1, g2 = gen(3), gen(3)
    first = [view(s, 0.3, g1) for s in sentences]
    assert first == [view(s, 0.3, g2) for s in sentences]
    g3 = gen(4)
    assert first != [view(s, 0.3, g3) for s in sentences]


@pytest.mark.parametrize("view", [*RANDOM_VIEWS, identity])
def test_strength_zero_changes_nothing_and_draws_nothing(view, corpus):
    g = gen(0)
    state = g.get_state()
    for s in corpus[0]:
        assert view(s, 0.0, g) == s
    assert torch.equal(g.get_state(), state)


@pytest.mark.parametrize("view", RANDOM_VIEWS)
def test_positive_strength_changes_the_text(view, corpus):
    sentences, g = corpus[0], gen(0)
    assert all(view(s, 1.0, g) != s for s in sentences)
    changed = sum(view(s, 0.3, g) != s for s in sentences)
    assert changed >= 0.85 * len(sentences), changed


@pytest.mark.parametrize("view", RANDOM_VIEWS)
def test_views_leave_the_global_rng_alone(view):
    state = torch.random.get_rng_state()
    view("a small test sentence with seven words", 0.5, gen(0))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_identity_returns_the_sentence():
    assert identity("Dropout makes the two copies differ.", 0.7, None) == "Dropout makes the two copies differ."


def test_deletion_keeps_order_and_at_least_one_word(corpus):
    g = gen(0)
    assert word_deletion("alone", 1.0, g) == "alone"
    for s in corpus[0][:100]:
        words = s.split()
        for strength in (0.5, 1.0):
            kept = word_deletion(s, strength, g).split()
            assert 1 <= len(kept) <= len(words)
            it = iter(words)
            assert all(w in it for w in kept)  # a subsequence: order is kept
        assert len(word_deletion(s, 1.0, g).split()) == 1


def test_swap_permutes_adjacent_words(corpus):
    g = gen(0)
    assert word_swap("alone", 1.0, g) == "alone"
    assert word_swap("two words", 0.01, g) == "words two"
    for s in corpus[0][:100]:
        words = s.split()
        for strength in (0.2, 1.0):
            swapped = word_swap(s, strength, g).split()
            assert sorted(swapped) == sorted(words)
            n_swaps = max(1, math.floor(strength * len(words) / 2 + 0.5))
            moved = sum(a != b for a, b in zip(words, swapped))
            assert 2 <= moved <= 2 * n_swaps


def test_span_mask_replaces_one_contiguous_span(corpus):
    g = gen(0)
    for s in corpus[0][:100]:
        words = s.split()
        for strength in (0.2, 0.5, 1.0):
            masked = span_mask(s, strength, g).split()
            assert len(masked) == len(words)
            where = [i for i, w in enumerate(masked) if w == "[MASK]"]
            assert where == list(range(where[0], where[0] + len(where)))  # contiguous
            assert len(where) == max(1, math.floor(strength * len(words) + 0.5))
            assert all(m == w for i, (m, w) in enumerate(zip(masked, words)) if i not in where)
    assert span_mask("one two three four", 1.0, g, mask_token="<m>") == "<m> <m> <m> <m>"


def test_text_views_are_seeded_and_give_fresh_views_per_call(corpus):
    sentences = corpus[0][:50]
    views = TextViews(seed=1)
    first, second = views(sentences), views(sentences)
    assert first != second
    assert TextViews(seed=1)(sentences) == first
    assert views.reset()(sentences) == first
    assert TextViews(seed=2)(sentences) != first
    assert len(first) == len(sentences) and all(isinstance(s, str) for s in first)


def test_text_views_use_only_the_listed_kinds(corpus):
    sentences = corpus[0]
    assert TextViews("identity")(sentences) == sentences
    masked = TextViews(("mask",), strength=0.3)(sentences)
    assert all("[MASK]" in s for s in masked)
    swapped = TextViews(("swap",), strength=0.3)(sentences)
    assert all(sorted(a.split()) == sorted(b.split()) for a, b in zip(swapped, sentences))
    kinds_seen = Counter("[MASK]" in a for a in TextViews(("mask", "identity"), strength=0.3)(sentences))
    assert kinds_seen[True] > 200 and kinds_seen[False] > 200


def test_text_views_do_not_modify_the_input(corpus):
    sentences = list(corpus[0][:20])
    before = list(sentences)
    TextViews(strength=0.5)(sentences)
    assert sentences == before


def test_text_pairs_returns_n_views_aligned_copies(corpus):
    sentences = corpus[0][:30]
    copies = text_pairs(sentences, TextViews(strength=0.3), n_views=3)
    assert len(copies) == 3 and all(len(c) == len(sentences) for c in copies)
    assert copies[0] != copies[1]
    assert text_pairs(sentences, TextViews("identity")) == [sentences, sentences]


# --- bad arguments -----------------------------------------------------------------------------

@pytest.mark.parametrize("view", [*RANDOM_VIEWS, identity])
@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan")])
def test_strength_outside_unit_interval_raises(view, strength):
    with pytest.raises(ValueError, match=r"strength must be a finite number in \[0.0, 1.0\], got"):
        view("a fine sentence", strength, gen())


def test_bad_view_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match="strength must be a float, got str '0.2'"):
        word_swap("a fine sentence", "0.2", gen())
    with pytest.raises(TypeError, match="generator must be a torch.Generator.*NoneType"):
        word_deletion("a fine sentence", 0.2, None)
    with pytest.raises(ValueError, match="sentence must contain at least one word, got '  '"):
        span_mask("  ", 0.2, gen())
    with pytest.raises(TypeError, match="sentence must be a str, got list"):
        word_deletion(["a", "list"], 0.2, gen())
    with pytest.raises(ValueError, match="mask_token must be a non-empty string without whitespace, got '\\[ M \\]'"):
        span_mask("a fine sentence", 0.2, gen(), mask_token="[ M ]")


def test_bad_text_views_arguments_raise_clear_errors():
    names = r"kinds must be a non-empty sequence of names from \['deletion', 'identity', 'mask', 'swap'\]"
    with pytest.raises(ValueError, match=names + r", got \('deletion', 'shuffle'\)"):
        TextViews(("deletion", "shuffle"))
    with pytest.raises(ValueError, match=r"kinds must be .*got \(\)"):
        TextViews(())
    with pytest.raises(ValueError, match=r"strength must be a finite number in \[0.0, 1.0\], got 2.0"):
        TextViews(strength=2)
    with pytest.raises(TypeError, match="seed must be an int, got float 0.5"):
        TextViews(seed=0.5)
    with pytest.raises(TypeError, match="got a single str; wrap it in a list"):
        TextViews()("one sentence only")
    with pytest.raises(ValueError, match="sentence must contain at least one word"):
        TextViews("identity")(["fine", ""])
    with pytest.raises(ValueError, match="n_views must be an integer >= 1, got 0"):
        text_pairs(["a b c"], TextViews(), n_views=0)
    with pytest.raises(TypeError, match="views must be a callable"):
        text_pairs(["a b c"], "deletion")
    with pytest.raises(ValueError, match="views must return one sentence per input, got 0 for 1"):
        text_pairs(["a b c"], lambda xs: [])


# --- tokeniser ---------------------------------------------------------------------------------

def test_simple_tokenize_lowercases_and_splits_punctuation():
    assert simple_tokenize("It's [MASK] time, Again!") == ["it's", "[MASK]", "time", ",", "again", "!"]
    assert simple_tokenize("sixty-five degrees") == ["sixty", "-", "five", "degrees"]
    assert simple_tokenize("") == []


def test_build_vocab_puts_specials_first_and_is_deterministic(corpus):
    sentences = corpus[0]
    vocab = build_vocab(sentences)
    assert list(vocab)[:5] == list(SPECIALS) and [vocab[t] for t in SPECIALS] == [0, 1, 2, 3, 4]
    assert sorted(vocab.values()) == list(range(len(vocab)))
    assert build_vocab(list(reversed(sentences))) == vocab
    assert vocab["the"] == 5  # the most frequent word comes right after the specials
    assert len(build_vocab(sentences, min_count=3)) < len(vocab)
    assert build_vocab(["b a a", "c b a"]) == {**{t: i for i, t in enumerate(SPECIALS)}, "a": 5, "b": 6, "c": 7}


def test_encode_shapes_specials_and_padding(device):
    vocab = build_vocab(["the cat sat on the mat ."])
    ids, mask = encode(["The cat sat.", "A dog [MASK] on the mat!"], vocab, max_len=10, device=device)
    assert ids.shape == mask.shape == (2, 10) and ids.dtype == mask.dtype == torch.long
    assert ids.device.type == mask.device.type == device.type
    v = vocab
    assert ids[0].tolist() == [v["[CLS]"], v["the"], v["cat"], v["sat"], v["."], v["[SEP]"]] + [v["[PAD]"]] * 4
    assert ids[1].tolist() == [v["[CLS]"], v["[UNK]"], v["[UNK]"], v["[MASK]"], v["on"], v["the"], v["mat"],
                               v["[UNK]"], v["[SEP]"], v["[PAD]"]]
    assert mask.tolist() == [[1] * 6 + [0] * 4, [1] * 9 + [0]]
    assert bool(((ids == v["[PAD]"]) == (mask == 0)).all())


def test_encode_truncates_and_keeps_sep_last():
    vocab = build_vocab(["a b c d e f g h"])
    ids, mask = encode(["a b c d e f g h", "a"], vocab, max_len=5)
    assert ids[0].tolist() == [vocab[t] for t in ("[CLS]", "a", "b", "c", "[SEP]")]
    assert mask[0].tolist() == [1] * 5
    assert encode([], vocab, max_len=5)[0].shape == (0, 5)


def test_the_corpus_fits_in_32_tokens(corpus, pairs):
    sentences = corpus[0] + pairs[0] + pairs[1]
    vocab = build_vocab(corpus[0])
    ids, mask = encode(sentences, vocab, max_len=32)
    assert bool((mask[:, -1] == 0).all())  # nothing truncated
    assert bool((ids[:, 0] == vocab["[CLS]"]).all())
    last = mask.sum(1) - 1  # (N,) index of [SEP]
    assert bool((ids[torch.arange(len(ids)), last] == vocab["[SEP]"]).all())


def test_bad_tokeniser_arguments_raise_clear_errors():
    vocab = build_vocab(["a b"])
    with pytest.raises(ValueError, match="max_len must be an integer >= 2, got 1"):
        encode(["a"], vocab, max_len=1)
    with pytest.raises(ValueError, match=r"vocab must contain the special tokens.*missing \['\[PAD\]'\]"):
        encode(["a"], {k: v for k, v in vocab.items() if k != "[PAD]"})
    with pytest.raises(TypeError, match="vocab must be a mapping"):
        encode(["a"], ["[PAD]"])
    with pytest.raises(TypeError, match="got a single str"):
        encode("a b", vocab)
    with pytest.raises(ValueError, match="min_count must be an integer >= 1, got 0"):
        build_vocab(["a"], min_count=0)
    with pytest.raises(ValueError, match="specials must be distinct non-empty strings"):
        build_vocab(["a"], specials=("[PAD]", "[PAD]"))
