"""contrastlab.lessons.sentence_embeddings: pooling, the STS score, the compact vocabulary, the tiny BERT, SimCSE, and the
offline MiniLM encoder."""

import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from contrastlab import losses
from contrastlab import metrics as M
from contrastlab.lessons import sentence_embeddings as S

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach the network


# --- pooling and the STS score -----------------------------------------------------------------

def test_mean_pool_ignores_padding_whatever_it_holds():
    hidden = torch.randn(3, 5, 4, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    junk = hidden.clone()
    junk[mask == 0] = 1e6
    out = S.mean_pool(junk, mask)
    assert out.shape == (3, 4)
    assert torch.allclose(out[0], hidden[0].mean(0))
    assert torch.allclose(out[1], hidden[1, :2].mean(0))
    assert torch.equal(out[2], hidden[2, 0])


def test_mean_pool_rejects_bad_shapes_and_empty_rows():
    with pytest.raises(ValueError, match="hidden"):
        S.mean_pool(torch.randn(3, 4), torch.ones(3, 4))
    with pytest.raises(ValueError, match="attention_mask"):
        S.mean_pool(torch.randn(3, 5, 4), torch.ones(3, 4))
    with pytest.raises(ValueError, match="attention_mask"):
        S.mean_pool(torch.randn(2, 3, 4), torch.tensor([[1, 1, 0], [0, 0, 0]]))


def test_cosine_pairs_matches_torch_and_checks_shapes():
    a, b = torch.randn(7, 5), torch.randn(7, 5)
    assert torch.allclose(S.cosine_pairs(a, b), F.cosine_similarity(a, b, dim=1), atol=1e-6)
    with pytest.raises(ValueError, match="a and b"):
        S.cosine_pairs(a, b[:6])


def test_sts_spearman_is_a_rank_correlation_with_average_ranks_for_ties():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(40, 6, generator=g)
    b = a + 0.7 * torch.randn(40, 6, generator=g)
    scores = torch.randint(0, 6, (40,), generator=g).float()  # many ties, as in STS
    cos = F.cosine_similarity(a, b, dim=1)
    assert S.sts_spearman(a, b, scores) == pytest.approx(spearmanr(cos.numpy(), scores.numpy()).statistic, abs=1e-9)
    # any increasing function of the cosine scores 1; a decreasing one -1
    order = cos.argsort().argsort().float()
    assert S.sts_spearman(a, b, order * 3 + 1) == pytest.approx(1.0)
    assert S.sts_spearman(a, b, -order) == pytest.approx(-1.0)


def test_sts_spearman_validates_its_arguments():
    a = torch.randn(5, 3)
    with pytest.raises(ValueError, match="scores"):
        S.sts_spearman(a, a, torch.ones(4))
    with pytest.raises(ValueError, match="at least 3 pairs"):
        S.sts_spearman(a[:2], a[:2], torch.ones(2))


# --- the compact vocabulary --------------------------------------------------------------------

def test_compact_vocab_renumbers_in_order_and_keeps_what_is_asked():
    x = torch.tensor([[101, 2023, 7, 102, 0, 0]])
    y = torch.tensor([7, 999])
    kept, (x2, y2) = S.compact_vocab(x, y, keep=(0, 100, 101, 102, 103))
    assert kept.tolist() == [0, 7, 100, 101, 102, 103, 999, 2023]
    assert torch.equal(kept[x2], x) and torch.equal(kept[y2], y)  # new id k is old id kept[k]
    assert x2.shape == x.shape and y2.shape == y.shape
    assert int(x2[0, -1]) == 0  # [PAD] stays 0
    assert torch.equal(x, torch.tensor([[101, 2023, 7, 102, 0, 0]]))  # inputs untouched


def test_compact_vocab_validates():
    with pytest.raises(ValueError, match="input_ids"):
        S.compact_vocab()
    with pytest.raises(TypeError, match=r"input_ids\[0\] must be an int64 or int32 tensor, got dtype torch.float32"):
        S.compact_vocab(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"input_ids\[1\].*>= 0"):
        S.compact_vocab(torch.tensor([1]), torch.tensor([-1]))
    with pytest.raises(ValueError, match="keep"):
        S.compact_vocab(torch.tensor([1]), keep=(-3,))


# --- the tiny BERT, the encoder wrapper and embed ----------------------------------------------

def _batch(n=6, length=9, vocab=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (n, length), generator=g)
    lengths = torch.randint(3, length + 1, (n,), generator=g)
    mask = (torch.arange(length)[None] < lengths[:, None]).long()
    return ids * mask, mask  # padding id 0 where the mask is 0


def test_tiny_bert_follows_its_config_and_its_seed_without_touching_the_global_rng():
    state = torch.get_rng_state()
    bert = S.tiny_bert(50, hidden=32, layers=3, heads=4, dropout=0.25, seed=1)
    assert torch.equal(state, torch.get_rng_state())
    c = bert.config
    assert (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (50, 32, 3, 4, 128)
    assert c.hidden_dropout_prob == c.attention_probs_dropout_prob == 0.25
    same = S.tiny_bert(50, hidden=32, layers=3, heads=4, dropout=0.0, seed=1)  # dropout does not change the weights
    other = S.tiny_bert(50, hidden=32, layers=3, heads=4, dropout=0.25, seed=2)
    first = lambda m: m.embeddings.word_embeddings.weight
    assert torch.equal(first(bert), first(same)) and not torch.equal(first(bert), first(other))


@pytest.mark.parametrize("kwargs, name, error", [
    (dict(vocab_size=3), "vocab_size", ValueError),
    (dict(hidden=30, heads=4), "hidden must be divisible by heads", ValueError),
    (dict(dropout=1.0), "dropout", ValueError), (dict(dropout=-0.1), "dropout", ValueError),
    (dict(layers=0), "layers", ValueError), (dict(seed=-1), "seed", ValueError),
    (dict(dropout=float("nan")), "dropout", ValueError), (dict(max_position=True), "max_position", TypeError),
])
def test_tiny_bert_rejects_bad_arguments_by_name(kwargs, name, error):
    args = dict(vocab_size=50, hidden=32, heads=4) | kwargs
    with pytest.raises(error, match=name):
        S.tiny_bert(args.pop("vocab_size"), **args)


def test_sentence_encoder_pools_mean_or_cls():
    bert = S.tiny_bert(50, hidden=16, layers=1, heads=2, dropout=0.0).eval()
    ids, mask = _batch()
    hidden = bert(input_ids=ids, attention_mask=mask).last_hidden_state  # (6, 9, 16)
    assert torch.allclose(S.SentenceEncoder(bert)(ids, mask), S.mean_pool(hidden, mask), atol=1e-6)
    assert torch.allclose(S.SentenceEncoder(bert, pooling="cls")(ids, mask), hidden[:, 0], atol=1e-6)
    with pytest.raises(ValueError, match="pooling"):
        S.SentenceEncoder(bert, pooling="max")


def test_embed_is_deterministic_keeps_order_and_restores_the_mode():
    encoder = S.SentenceEncoder(S.tiny_bert(50, hidden=16, layers=2, heads=2, dropout=0.3, seed=0)).train()
    ids, mask = _batch(n=11)
    z1 = S.embed(encoder, ids, mask, batch_size=4)  # batches of similar length, trimmed padding
    z2 = S.embed(encoder, ids, mask, batch_size=11)
    assert encoder.training  # left as it was
    assert torch.allclose(z1, z2, atol=1e-5)  # no dropout in embed
    with torch.no_grad():
        direct = encoder.eval()(ids, mask)  # whole batch, full padding
    assert torch.allclose(z1, direct, atol=1e-5)


def test_embed_and_train_validate_token_batches():
    encoder = S.SentenceEncoder(S.tiny_bert(50, hidden=16, layers=1, heads=2))
    ids, mask = _batch()
    with pytest.raises(TypeError, match="input_ids must be a 2-d int64 or int32 tensor"):
        S.embed(encoder, ids.float(), mask)
    with pytest.raises(ValueError, match="same shape"):
        S.embed(encoder, ids, mask[:, :4])
    zero = mask.clone()
    zero[2] = 0
    with pytest.raises(ValueError, match="attention_mask"):
        S.embed(encoder, ids, zero)


# --- SimCSE ------------------------------------------------------------------------------------

def test_simcse_loss_is_in_batch_infonce_with_known_closed_forms():
    h, h_plus = torch.randn(8, 5), torch.randn(8, 5)
    assert torch.equal(S.simcse_loss(h, h_plus, temperature=0.05), losses.info_nce(h, h_plus, temperature=0.05))
    # identical passes of orthonormal sentences: positive cosine 1, negatives 0
    n, tau = 6, 0.05
    eye = torch.eye(n, dtype=torch.float64)
    assert float(S.simcse_loss(eye, eye.clone(), temperature=tau)) == pytest.approx(math.log(1 + (n - 1) * math.exp(-1 / tau)))
    # collapsed batch: every candidate equal, chance level log N
    same = torch.ones(n, 3, dtype=torch.float64)
    assert float(S.simcse_loss(same, same, temperature=tau)) == pytest.approx(math.log(n))
    with pytest.raises(ValueError, match="temperature"):
        S.simcse_loss(h, h_plus, temperature=0.0)


def test_identical_passes_give_the_positive_term_no_gradient():
    encoder = S.SentenceEncoder(S.tiny_bert(50, hidden=16, layers=1, heads=2, dropout=0.0)).train()
    ids, mask = _batch()
    h, h_plus = encoder(ids.repeat(2, 1), mask.repeat(2, 1)).chunk(2)
    assert torch.allclose(S.cosine_pairs(h, h_plus), torch.ones(len(h)), atol=1e-6)
    positive = (F.normalize(h, dim=1) * F.normalize(h_plus, dim=1)).sum(1).mean()
    (grad,) = torch.autograd.grad(positive, h)
    assert float(grad.abs().max()) < 1e-5


def test_simcse_step_updates_the_encoder_and_returns_the_loss():
    encoder = S.SentenceEncoder(S.tiny_bert(50, hidden=16, layers=1, heads=2, dropout=0.1))
    before = [p.detach().clone() for p in encoder.parameters()]
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-2)
    ids, mask = _batch()
    loss = S.simcse_step(encoder, ids, mask, optimizer)
    assert isinstance(loss, float) and 0 < loss < 2 * math.log(len(ids)) + 1
    assert any(not torch.equal(b, p) for b, p in zip(before, encoder.parameters()))


def _grads(encoder, loss):
    return [g.clone() for g in torch.autograd.grad(loss, [p for p in encoder.parameters() if p.requires_grad],
                                                   allow_unused=True) if g is not None]


def test_same_mask_equals_two_passes_under_one_dropout_mask_in_value_and_gradient():
    """masks="same" uses one pass as both views; check it against two real passes that replay one mask."""
    encoder = S.SentenceEncoder(S.tiny_bert(50, hidden=16, layers=1, heads=2, dropout=0.3, seed=1)).train()
    ids, mask = _batch()
    with torch.random.fork_rng():
        torch.manual_seed(7)
        first = encoder(ids, mask)  # (N, 16)
        torch.manual_seed(7)
        second = encoder(ids, mask)  # the same dropout mask replayed
        two_passes = S.simcse_loss(first, second)
        grads_two = _grads(encoder, two_passes)
        torch.manual_seed(7)
        one = encoder(ids, mask)
        one_pass = S.simcse_loss(one, one)
        grads_one = _grads(encoder, one_pass)
        fresh = encoder(ids, mask)  # a new mask: a different view
    assert torch.equal(first, second) and torch.allclose(S.cosine_pairs(first, second), torch.ones(len(ids)), atol=1e-6)
    assert float(S.cosine_pairs(first, fresh).min()) < 0.999  # independent masks do differ
    assert torch.allclose(one_pass, two_passes, atol=1e-6)
    assert len(grads_one) == len(grads_two) > 0
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads_one, grads_two))


def test_simcse_step_with_the_same_mask_returns_the_identical_view_loss():
    ids, mask = _batch()
    for masks in ("same", "independent"):
        encoder = S.SentenceEncoder(S.tiny_bert(50, hidden=16, layers=1, heads=2, dropout=0.3, seed=2))
        optimizer = torch.optim.SGD(encoder.parameters(), lr=0.0)  # no change: the loss is all we read
        with torch.random.fork_rng():
            torch.manual_seed(3)
            z = encoder.train()(ids, mask)  # (N, 16): the pass simcse_step will make with masks="same"
            torch.manual_seed(3)
            loss = S.simcse_step(encoder, ids, mask, optimizer, masks=masks)
        identical = float(S.simcse_loss(z, z).detach())
        if masks == "same":
            assert loss == pytest.approx(identical, rel=1e-6)
        else:  # two different masks: the positive cosine is below 1, so the loss is above the identical-view one
            assert loss > identical + 1e-3


@pytest.mark.parametrize("masks, error", [("fixed", ValueError), (1, TypeError)])
def test_simcse_step_and_train_simcse_reject_unknown_masks(masks, error):
    ids, mask = _corpus()
    encoder = S.SentenceEncoder(S.tiny_bert(60, hidden=16, layers=1, heads=2))
    with pytest.raises(error, match="masks"):
        S.simcse_step(encoder, ids, mask, torch.optim.SGD(encoder.parameters(), lr=0.1), masks=masks)
    with pytest.raises(error, match="masks"):
        S.train_simcse(encoder, ids, mask, steps=1, batch_size=8, masks=masks)


def _corpus(n=40, length=10, vocab=60):
    return _batch(n=n, length=length, vocab=vocab, seed=3)


def test_train_simcse_is_seeded_records_evaluations_and_restores_the_rng():
    ids, mask = _corpus()
    records = []
    state = torch.get_rng_state()
    runs = []
    for callback in (records.append, None):
        encoder = S.SentenceEncoder(S.tiny_bert(60, hidden=16, layers=1, heads=2, dropout=0.1, seed=0))
        evaluate = lambda enc: {"norm": float(S.embed(enc, ids, mask).norm())}
        runs.append(S.train_simcse(encoder, ids, mask, steps=6, batch_size=8, lr=1e-3, seed=5, eval_every=2,
                                   evaluate=evaluate, callback=callback))
    assert torch.equal(state, torch.get_rng_state())
    first, second = runs
    assert [r["step"] for r in first] == [0, 2, 4, 6]
    assert math.isnan(first[0]["loss"]) and all(r["loss"] > 0 for r in first[1:])
    assert first == second  # same seed, same run (dropout included)
    assert records == first  # the callback saw every record
    assert not encoder.training


def test_train_simcse_lowers_the_loss():
    ids, mask = _corpus()
    encoder = S.SentenceEncoder(S.tiny_bert(60, hidden=32, layers=1, heads=2, dropout=0.1, seed=0))
    records = S.train_simcse(encoder, ids, mask, steps=40, batch_size=16, lr=3e-3, seed=0, eval_every=20)
    assert records[-1]["loss"] < records[1]["loss"]


@pytest.mark.parametrize("kwargs, name, error", [
    (dict(batch_size=41), "batch_size", ValueError), (dict(batch_size=1), "batch_size", ValueError),
    (dict(steps=-1), "steps", ValueError), (dict(lr=0.0), "lr", ValueError),
    (dict(temperature=-1.0), "temperature", ValueError), (dict(eval_every=-2), "eval_every", ValueError),
    (dict(seed=1.5), "seed", TypeError),
])
def test_train_simcse_rejects_bad_arguments_by_name(kwargs, name, error):
    ids, mask = _corpus()
    encoder = S.SentenceEncoder(S.tiny_bert(60, hidden=16, layers=1, heads=2))
    with pytest.raises(error, match=name):
        S.train_simcse(encoder, ids, mask, **(dict(batch_size=8) | kwargs))


def test_train_simcse_rejects_an_evaluate_that_is_not_callable():
    ids, mask = _corpus()
    encoder = S.SentenceEncoder(S.tiny_bert(60, hidden=16, layers=1, heads=2))
    with pytest.raises(TypeError, match="evaluate"):
        S.train_simcse(encoder, ids, mask, steps=1, batch_size=8, evaluate={"sts": 0.5})


# --- the pretrained encoder, offline -----------------------------------------------------------

def test_importing_contrastlab_and_sentences_does_not_import_transformers():
    code = "import sys, contrastlab, contrastlab.lessons.sentence_embeddings; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_minilm_files_ship_with_the_package():
    path = S.minilm_path()
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def minilm():
    return S.load_minilm()


def test_load_minilm_gives_an_eval_mode_bert_and_meaningful_embeddings(minilm):
    tokenizer, model = minilm
    assert not model.training and model.config.hidden_size == 384
    texts = ["The cat is sleeping in the sun.", "A cat is asleep in the sunlight.", "The server crashed at midnight."]
    z = S.encode(model, tokenizer, texts)
    assert z.shape == (3, 384) and not model.training
    cos = M.similarity_matrix(z)
    assert float(cos[0, 1]) > float(cos[0, 2]) + 0.3  # a paraphrase beats an unrelated sentence
    with pytest.raises(TypeError, match="sentences"):
        S.encode(model, tokenizer, "one string")
    with pytest.raises(ValueError, match="sentences"):
        S.encode(model, tokenizer, [])


def test_wordpiece_average_is_the_mean_of_the_input_table_rows(minilm):
    tokenizer, model = minilm
    text = "Staying well hydrated helps you avoid headaches."
    ids = tokenizer(text)["input_ids"]  # [CLS] ... [SEP]
    table = model.get_input_embeddings().weight.detach()
    got = S.wordpiece_average(model, tokenizer, [text, "Hi."])
    assert torch.allclose(got[0], table[ids[1:-1]].mean(0), atol=1e-6)
    with_specials = S.wordpiece_average(model, tokenizer, [text], special_tokens=True)
    assert torch.allclose(with_specials[0], table[ids].mean(0), atol=1e-6)


@pytest.mark.slow
def test_minilm_beats_wordpiece_averages_on_the_shipped_pairs_and_is_less_anisotropic(minilm):
    from contrastlab.data.text import load_sts_pairs

    tokenizer, model = minilm
    a, b, scores = load_sts_pairs()
    z_a, z_b = S.encode(model, tokenizer, a), S.encode(model, tokenizer, b)
    w_a, w_b = S.wordpiece_average(model, tokenizer, a), S.wordpiece_average(model, tokenizer, b)
    assert S.sts_spearman(z_a, z_b, scores) > 0.85
    assert S.sts_spearman(z_a, z_b, scores) > S.sts_spearman(w_a, w_b, scores) + 0.05
    assert M.anisotropy(torch.cat([w_a, w_b])) > 0.3 > 0.15 > M.anisotropy(torch.cat([z_a, z_b]))


@pytest.mark.slow
def test_simcse_with_independent_masks_beats_identical_views_on_sts(minilm):
    """The finding of notebook 10 on one seed (0, one of the seeds its setting was chosen on): the same tiny
    BERT with independent dropout masks (p = 0.3), no dropout, and one mask shared by both views."""
    from contrastlab.data.text import load_sentences, load_sts_pairs

    tokenizer, _ = minilm
    corpus = load_sentences()[0]
    a, b, scores = load_sts_pairs()
    (ids, mask), (a_ids, a_mask), (b_ids, b_mask) = (S.tokenize(tokenizer, t) for t in (corpus, a, b))
    kept, (ids, a_ids, b_ids) = S.compact_vocab(ids, a_ids, b_ids, keep=tokenizer.all_special_ids)
    sts = {}
    for arm, p, masks in (("independent", 0.3, "independent"), ("none", 0.0, "independent"), ("same", 0.3, "same")):
        encoder = S.SentenceEncoder(S.tiny_bert(len(kept), hidden=64, layers=2, heads=4, dropout=p, seed=0))
        if arm == "independent":
            sts["untrained"] = S.sts_spearman(S.embed(encoder, a_ids, a_mask), S.embed(encoder, b_ids, b_mask), scores)
        S.train_simcse(encoder, ids, mask, steps=100, batch_size=64, lr=3e-3, seed=0, masks=masks)
        sts[arm] = S.sts_spearman(S.embed(encoder, a_ids, a_mask), S.embed(encoder, b_ids, b_mask), scores)
    assert sts["independent"] > sts["untrained"] + 0.02, sts
    assert sts["independent"] > sts["none"] + 0.02, sts
    assert sts["independent"] > sts["same"] + 0.05, sts
