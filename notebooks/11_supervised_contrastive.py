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
# # 11 · Supervised contrastive learning: labels as positives, batches as classes, imbalance as geometry
#
# SimCLR has one positive per anchor: the other view of the same image. With labels, every sample
# of the anchor's class can be a positive. That is **SupCon** (Khosla et al. 2020). This notebook
# compares SupCon with cross-entropy and SimCLR on small handwritten digits. It then looks at what a
# batch must contain for SupCon to work, and at the shape the loss gives the class means, with
# balanced and with imbalanced classes.
#
# **Learning goals.** You will be able to
#
# - write SupCon's $\mathcal L^{\text{out}}$ and call `contrastlab.losses.supcon`; count the positives
#   $|P(i)|$ of every anchor and show that SupCon with all-distinct labels is NT-Xent;
# - train SupCon, cross-entropy (the `"ce"` set-up) and SimCLR on the same encoder and
#   compare them fairly, paired seed by seed, with a linear probe and kNN on held-out digits seen
#   through augmentations (where raw pixels fail), and read the verdict's interval over seeds;
# - compute how many positives a random batch gives an anchor, and what `samplers.MPerClassSampler`
#   changes;
# - (optional section) measure the class-mean geometry (norms, pairwise cosines, the regular simplex
#   at $-1/(K-1)$) with `CG.class_mean_geometry`, and see what class imbalance does to it.
#
# **Prerequisites.** `00_start_here` (NT-Xent as a cross-entropy over similarities); `06_false_negatives`
# helps (same-class negatives). What a linear probe and kNN accuracy measure.
#
# **Expected run time.** Fast mode (`CONTRASTLAB_FAST=1`, what CI runs; 14 short training runs): about
# 20 s of kernel CPU time (measured 18 s), under half a minute on a 2-core laptop. Full mode (30 longer
# runs, five seeds for the verdicts): about 80 s of kernel CPU time (measured 68 to 81 s on a shared
# machine), one to two minutes on a 2-core laptop. No downloads.
#
# **In class.** The core path is sections 1–3 and Exercise 1, about 75 minutes; section 4 (imbalance
# and the class-mean geometry) with Exercise 2, and Exercise 3, are optional (about 30 minutes more).

# %% [markdown]
# ## Setup
#
# `setup()` from `contrastlab.lessons` does the set-up in one call: it seeds torch, picks the device
# (CUDA or Apple MPS when present, else CPU), runs torch on one thread on a CPU (the models are tiny,
# and threads that compete for the cores slow them down: `contrastlab.runtime` has the measurement)
# and reads fast mode, which CI turns on with `CONTRASTLAB_FAST=1` to shrink the sizes.
#
# All runs use the 1797 8×8 digits that ship with scikit-learn, split 75 / 25 into training and
# held-out digits, with the package's image augmentations at strength 0.5.
# The encoder is a small MLP on the 64 pixels with SimCLR's projection head (`CG.mlp_encoder`),
# chosen because it is cheaper per step on a CPU than the package's default CNN (`models.SmallCNN`).

# %%
import math

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

import contrastlab
from contrastlab import data as D, losses as L, metrics as M
from contrastlab.lessons import supervised_contrastive as CG
from contrastlab.methods import build_method
from contrastlab.samplers import MPerClassSampler
from contrastlab.train import fit
from contrastlab.lessons.exercises import attempt
from contrastlab.lessons import setup, verdicts

lesson = setup(seed=0)  # torch.manual_seed(0), the device, the thread policy, fast mode; prints one line
device, FAST = lesson.device, lesson.fast

STEPS, SEEDS = (100, (0, 1, 2)) if FAST else (400, (0, 1, 2, 3, 4))  # training steps per run, seeds per method
TAU, LR, BATCH = 0.3, 3e-3, 128  # temperature of SupCon and SimCLR, AdamW learning rate, batch size
STRENGTH = 0.5  # augmentation strength of the training views and of the test views
digits = D.digits(strength=STRENGTH, device=device)
train, test = digits.split(0.25, seed=0)
print(f"{len(train)} training digits, {len(test)} held-out digits, {int(train.labels.max()) + 1} classes")


def train_digits(name: str, data, seed: int, *, steps: int = STEPS, batch_size: int = BATCH, sampler=None):
    """Train 'supcon', 'simclr' or 'ce' on the same seeded MLP encoder; return the trained set-up."""
    encoder = CG.mlp_encoder((1, 8, 8), seed=seed)
    options = {} if name == "ce" else dict(temperature=TAU)  # "ce" reads its 10 classes off data.labels
    method = build_method(name, data, encoder=encoder, **options)
    fit(data, method, steps=steps, batch_size=batch_size, lr=LR, eval_every=0, metrics=(), seed=seed,
        sampler=sampler, device=device, progress=False)
    return method


def held_out_accuracy(method, seed: int) -> tuple[float, float]:
    """(linear probe, kNN) accuracy of the frozen backbone features f(x) of one augmented view of every
    digit (views drawn from `seed`): fitted on `train`, tested on `test`."""
    method.eval()
    return CG.augmented_scores(method.features, train, test, strength=STRENGTH, seed=seed)  # features (N, 64)

# %% [markdown]
# ## 1. SupCon: every same-class sample is a positive
#
# Take a batch of $B$ samples, each seen in $V = 2$ views: $2B$ unit embeddings $z_i$ with labels $y_i$.
# For anchor $i$, $A(i)$ is every other embedding and $P(i) \subset A(i)$ the ones with its label.
# Khosla et al. (2020) recommend the form that averages over the positives *outside* the log:
#
# $$\mathcal L^{\text{out}} = \frac{1}{|I|}\sum_{i} \frac{-1}{|P(i)|}\sum_{p \in P(i)}
#   \log \frac{e^{z_i^\top z_p/\tau}}{\sum_{a \in A(i)} e^{z_i^\top z_a/\tau}},
#   \qquad |P(i)| = V n_{y_i} - 1 ,$$
#
# where $n_c$ is the number of samples of class $c$ in the batch. If every label in the batch is
# different, each anchor's only positive is its other view, and $\mathcal L^{\text{out}}$ is SimCLR's
# NT-Xent. The cell counts $|P(i)|$ for a batch of six and checks that reduction.

# %%
y = torch.tensor([0, 0, 1, 2, 2, 2], device=device)  # (6,) labels of a batch of six
z1, z2 = torch.randn(6, 8, device=device), torch.randn(6, 8, device=device)  # (6, 8) two views each
views = torch.stack([z1, z2], dim=1)  # (6, 2, 8): supcon takes (N, V, D)
print("|P(i)| of the 12 anchors (view 1, then view 2):", CG.positives_per_anchor(y).tolist())
print(f"supcon, these labels:        {L.supcon(views, y, temperature=TAU).item():.4f}")
print(f"supcon, all labels distinct: {L.supcon(views, torch.arange(6, device=device), temperature=TAU).item():.4f}")
print(f"nt_xent:                     {L.nt_xent(z1, z2, temperature=TAU).item():.4f}")

# %% [markdown]
# What does the loss want the classes to look like? Graf et al. (2021) prove that, with balanced
# classes, the embeddings that minimise SupCon are **collapsed** (every sample sits on its class
# mean, so the mean has norm 1) and the $K$ class means form a **regular simplex**: every pair has
# cosine $-1/(K-1)$, the lowest value $K$ unit vectors can share, reached exactly when they sum to 0.
#
# The *unconstrained-features model* tests this with no encoder at all: each sample gets a free
# vector, and the vectors are optimised directly with `losses.supcon` (`CG.unconstrained_features`).
# The heatmap shows the pairwise cosines of the 10 class means.

# %%
def cosine_heatmap(geometry, title: str, fig=None):
    """Heatmap of the (K, K) class-mean cosines of a ClassMeanGeometry; updates `fig` in place if given."""
    z = geometry.cosines.numpy()  # (K, K)
    names = [str(int(c)) for c in geometry.classes]
    if fig is None:
        fig = go.Figure(go.Heatmap(z=z, x=names, y=names, zmin=-1, zmax=1, colorscale="RdBu_r",
                                   texttemplate="%{z:.2f}", colorbar=dict(title="cosine")))
        fig.update_layout(template="plotly_white", height=430, width=520, xaxis_title="class",
                          yaxis=dict(title="class", autorange="reversed"))
    with fig.batch_update():
        fig.data[0].z = z
        fig.layout.title.text = title
    return fig


free = CG.unconstrained_features([20] * 10, loss="supcon", temperature=TAU)  # 200 free vectors in 16-d, Adam
geometry = CG.class_mean_geometry(free.features, free.labels)
print(f"class-mean norms {geometry.norms.min():.3f} to {geometry.norms.max():.3f} (1 = collapsed class);"
      f" mean pairwise cosine {geometry.mean_cosine():+.4f}, -1/(K-1) = {CG.simplex_cosine(10):+.4f};"
      f" RMS distance from it {geometry.simplex_gap():.4f}")
cosine_heatmap(geometry, "Free vectors trained with SupCon, 10 balanced classes: class-mean cosines")

# %% [markdown]
# **Question.** Why can ten unit vectors not all have pairwise cosines below $-1/9$? And why would
# a loss whose only wish is "same class close, other classes far" end up at exactly that value?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# $0 \le \lVert\sum_c \mu_c\rVert^2 = K + \sum_{c \ne c'} \mu_c^\top\mu_{c'}$, so the average
# pairwise cosine of $K$ unit vectors is at least $-1/(K-1)$. Pushing every other class away as far
# as possible, symmetrically, therefore ends where the means sum to zero with equal angles: the
# regular simplex. In 16 dimensions there is room for it (it needs $K-1 = 9$).
#
# </details>

# %% [markdown]
# ## 2. Reproduce the finding: does SupCon beat cross-entropy?
#
# **Paper.** Khosla et al. (2020), *Supervised Contrastive Learning*. Claim (abstract): SupCon
# followed by a linear classifier reaches 81.4 % top-1 on ImageNet with a ResNet-200, 0.8 % above the
# best number reported for that architecture, and outperforms cross-entropy consistently on other
# datasets and two other ResNets; SupCon is also more robust to image corruptions. Their self-supervised
# reference, SimCLR, stays well below both: labels add something that views alone do not.
#
# **A test that can fail.** On the clean digits, 64 raw pixels already give a linear probe near the
# ceiling (the cell after the rules prints it): every encoder, with or without labels, ends near it,
# and no comparison can show. So the test digits here are seen the way the training views are, through
# the augmentations at strength 0.5 (a shift of up to a pixel, a zoom of up to 15 %, a rotation of up
# to ±15°, blur, cutout, noise;
# `CG.augmented_scores`). A pixel classifier cannot undo a shift; an encoder has to have learnt the
# invariance. The **baseline** every trained model must beat is the raw pixels on the same augmented
# digits.
#
# **Toy.** Three set-ups on the same seeded MLP encoder, the same augmented views, batch 128, the
# same steps and learning rate:
#
# - `"supcon"`: $\mathcal L^{\text{out}}$ on the normalised projections, $\tau = 0.3$;
# - `"ce"`: `methods.CrossEntropy`, a linear classifier on the projection, trained with cross-entropy
#   on both views;
# - `"simclr"`: NT-Xent, $\tau = 0.3$, no labels: the unsupervised reference.
#
# Each is scored the same way: a linear probe (the paper's protocol) and a kNN classifier ($k = 20$) on
# the frozen backbone features of one augmented view of every training digit, tested on one augmented
# view of every held-out digit. A seed fixes the initialisation, the batches, the training views and the
# test views, so the three set-ups and the pixels meet the same test on each seed, and the effect is a
# **paired** difference, seed by seed. The two rules are printed before anything is trained.

# %%
rule_ce = verdicts.Rule(
    "11_supervised_contrastive:supcon_vs_ce",
    claim="SupCon outperforms cross-entropy under a linear probe (Khosla et al. 2020)",
    effect="linear-probe accuracy on augmented held-out digits, SupCon minus cross-entropy (same seed)",
    direction=+1, baseline="the raw pixels' linear probe on the same augmented digits")
rule_simclr = verdicts.Rule(
    "11_supervised_contrastive:supcon_vs_simclr",
    claim="labels add to contrastive learning: SupCon outperforms SimCLR (Khosla et al. 2020, Table 1)",
    effect="linear-probe accuracy on augmented held-out digits, SupCon minus SimCLR (same seed)",
    direction=+1, baseline="the raw pixels' linear probe on the same augmented digits")
print(rule_ce, rule_simclr, sep="\n\n")

# %%
METHODS = ("supcon", "ce", "simclr")
scores, balanced = {}, {}  # (method, seed) -> (probe, knn); method -> the seed-0 model, for section 4
pixels = {s: CG.augmented_scores(lambda x: x.flatten(1), train, test, strength=STRENGTH, seed=s) for s in SEEDS}
clean = CG.augmented_scores(lambda x: x.flatten(1), train, test, strength=0.0)
for name in METHODS:
    for seed in SEEDS:
        model = train_digits(name, train, seed)
        scores[name, seed] = held_out_accuracy(model, seed)
        balanced.setdefault(name, model)
    probe, knn = np.mean([scores[name, s] for s in SEEDS], axis=0)
    print(f"{name:<7} probe {probe:.3f}   kNN {knn:.3f}   (mean over seeds {SEEDS})")
print(f"raw pixels, augmented digits: probe {np.mean([pixels[s][0] for s in SEEDS]):.3f}"
      f"   kNN {np.mean([pixels[s][1] for s in SEEDS]):.3f};  clean digits: probe {clean[0]:.3f}   kNN {clean[1]:.3f}")

# %%
mean = {(m, j): float(np.mean([scores[m, s][j] for s in SEEDS])) for m in METHODS for j in (0, 1)}
spread = {(m, j): float(np.std([scores[m, s][j] for s in SEEDS])) for m in METHODS for j in (0, 1)}
names = {"supcon": "SupCon", "ce": "cross-entropy", "simclr": "SimCLR (no labels)"}
fig = go.Figure([go.Bar(name=names[m], x=["linear probe", "kNN (k = 20)"], y=[mean[m, 0], mean[m, 1]],
                        error_y=dict(array=[spread[m, 0], spread[m, 1]])) for m in METHODS])
fig.add_trace(go.Bar(name="raw pixels (baseline)", x=["linear probe", "kNN (k = 20)"],
                     y=[float(np.mean([pixels[s][j] for s in SEEDS])) for j in (0, 1)], marker_color="lightgrey"))
fig.update_layout(title=f"Accuracy on augmented held-out digits ({len(SEEDS)} seeds, {STEPS} steps; mean ± std)",
                  template="plotly_white", barmode="group", yaxis=dict(title="accuracy", range=[0, 1]), height=400)
fig

# %%
probe = {m: [scores[m, s][0] for s in SEEDS] for m in METHODS}  # (seeds,) per method
raw_probe = [pixels[s][0] for s in SEEDS]
knn_gap = np.mean([scores["supcon", s][1] - scores["ce", s][1] for s in SEEDS])
print(rule_ce.judge([a - b for a, b in zip(probe["supcon"], probe["ce"])], seeds=SEEDS, model=probe["supcon"],
                    reference=raw_probe, detail=f"kNN accuracy, SupCon minus cross-entropy, mean {knn_gap:+.3f};"
                    f" cross-entropy minus raw pixels (probe) {np.mean(probe['ce']) - np.mean(raw_probe):+.3f}"))
print()
print(rule_simclr.judge([a - b for a, b in zip(probe["supcon"], probe["simclr"])], seeds=SEEDS,
                        model=probe["supcon"], reference=raw_probe,
                        detail=f"SimCLR minus raw pixels (probe) {np.mean(probe['simclr']) - np.mean(raw_probe):+.3f}"))

# %% [markdown]
# **Question.** Read the two verdicts with their intervals. Why can a toy on 8×8 digits test "labels
# help" (the second rule) more sharply than "SupCon beats cross-entropy" (the first)? And why did we
# have to leave the clean digits to test anything at all?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# SupCon and cross-entropy see the same labels: both learn which digits belong together, and differ
# only in how the loss turns that into geometry. On a small, easy task a short run takes both to a
# similar place, so their gap is a few test digits (one digit is $1/n$ of the accuracy) and the
# interval over seeds is what tells whether it is real; Khosla et al.'s gap on ImageNet is under a
# point, measured with ResNets trained for hundreds of epochs. SimCLR has no labels: it only learns
# what the augmentations make invariant, so when two digits of a class look different it has no reason
# to put them together; whatever the labels add shows as the second effect, which compares a loss that
# sees the classes with one that does not.
# On the clean digits the raw pixels are already near the ceiling, so every model, good or bad,
# "matches" every other: a test that cannot fail. Try it:
# `CG.augmented_scores(balanced["supcon"].features, train, test, strength=0.0)`.
#
# </details>

# %% [markdown]
# ## 3. What a batch must contain: the m-per-class sampler
#
# SupCon only gets more than SimCLR when a batch holds other samples of the anchor's class. In a
# batch of $B$ drawn at random from $N$ samples with class sizes $n_c$, an anchor has on average
#
# $$\mathbb E\,|P(i)| = (V-1) + V\,(B-1)\sum_c \frac{n_c}{N}\frac{n_c-1}{N-1} \;\approx\; 1 + \frac{2(B-1)}{K}$$
#
# positives ($V = 2$; the approximation is for $K$ balanced classes), and with probability about
# $(1 - 1/K)^{B-1}$ its *only* positive is its own
# other view: for that anchor SupCon is SimCLR. An **m-per-class** sampler (P×K batches, Hermans et
# al. 2017) fills each batch with $B/m$ classes, $m$ samples each: every anchor has exactly $2m - 1$
# positives, but the batch holds only $B/m$ of the $K$ classes, so fewer kinds of negatives.
# The cell measures both on batches of the training digits (`CG.positives_per_anchor`) and
# compares the random batches with the formula (`CG.expected_positives`).

# %%
sizes, gen = torch.bincount(train.labels).cpu(), torch.Generator().manual_seed(0)
B_AXIS, M_VALUES = (8, 16, 32, 64, 128), (2, 4)
stats = {}  # (B, what) -> number
for b in B_AXIS:
    batches = [train.labels[torch.randperm(len(train), generator=gen)[:b]] for _ in range(50)]  # 50 random batches
    p = torch.cat([CG.positives_per_anchor(y_b) for y_b in batches]).float()  # (50 * 2B,) |P(i)| of every anchor
    stats[b, "random"], stats[b, "alone"] = p.mean().item(), (p == 1).float().mean().item()
    stats[b, "formula"], stats[b, "formula alone"] = CG.expected_positives(b, sizes)
    stats[b, "random classes"] = np.mean([len(y_b.unique()) for y_b in batches])
    for m in M_VALUES:  # an m-per-class batch needs B / m distinct classes: only B / m <= K = 10 is possible
        batch = next(iter(MPerClassSampler(train.labels, m=m, batch_size=b))) if b // m <= 10 else None
        stats[b, m] = None if batch is None else CG.positives_per_anchor(train.labels[batch]).float().mean().item()
    print(f"B = {b:>3}: random batch {stats[b, 'random']:5.2f} positives per anchor"
          f" (formula {stats[b, 'formula']:5.2f}), {stats[b, 'alone']:5.1%} of anchors with only their own view"
          f" (formula {stats[b, 'formula alone']:5.1%}), {stats[b, 'random classes']:4.1f} classes | m-per-class: "
          + ", ".join(f"m = {m}: {stats[b, m]:.0f} positives, {b // m} classes" for m in M_VALUES if stats[b, m]))

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=["positives per anchor, mean |P(i)|", "classes per batch"])
fig.add_scatter(x=B_AXIS, y=[stats[b, "random"] for b in B_AXIS], mode="markers", name="random batches (measured)")
fig.add_scatter(x=B_AXIS, y=[stats[b, "formula"] for b in B_AXIS], mode="lines", line_dash="dash",
                name="random (formula)")
fig.add_scatter(x=B_AXIS, y=[stats[b, "random classes"] for b in B_AXIS], mode="lines+markers",
                name="random: classes", row=1, col=2)
for m in M_VALUES:
    fig.add_scatter(x=B_AXIS, y=[stats[b, m] for b in B_AXIS], mode="lines+markers", name=f"m-per-class, m = {m}")
    fig.add_scatter(x=B_AXIS, y=[b // m if stats[b, m] else None for b in B_AXIS], mode="lines+markers",
                    name=f"m = {m}: classes", row=1, col=2)
fig.update_xaxes(type="log", tickvals=B_AXIS, title="batch size B")
fig.update_layout(title="What a SupCon batch contains (two views, 10 classes)", template="plotly_white", height=380)
fig

# %% [markdown]
# At small $B$ a random batch leaves a sizeable share of the anchors with no same-class partner
# (printed above), and an m-per-class batch of $B/m$ classes only exists while $B/m \le K$. Does
# filling the batch by class help SupCon at small batch? The cell trains SupCon at $B = 16$ with
# random batches and with `MPerClassSampler` at $m = 2$ (8 classes per batch) and $m = 4$ (4 classes
# per batch), passed to `fit(..., sampler=...)`.

# %%
SMALL_B, SAMPLER_STEPS = 16, (100 if FAST else 400)
SAMPLER_SEEDS = SEEDS[:1] if FAST else SEEDS[:3]
samplings = {"random": None, "m = 2": 2, "m = 4": 4}
small = {}  # (sampling, seed) -> (probe, knn)
for label, m in samplings.items():
    for seed in SAMPLER_SEEDS:
        sampler = None if m is None else MPerClassSampler(train.labels, m=m, batch_size=SMALL_B, seed=seed)
        small[label, seed] = held_out_accuracy(train_digits("supcon", train, seed, steps=SAMPLER_STEPS,
                                                            batch_size=SMALL_B, sampler=sampler), seed)
    print(f"{label:<7} probe {np.mean([small[label, s][0] for s in SAMPLER_SEEDS]):.3f}"
          f"   kNN {np.mean([small[label, s][1] for s in SAMPLER_SEEDS]):.3f}   ({len(SAMPLER_SEEDS)} seed(s))")
small_mean = {(k, j): np.mean([small[k, s][j] for s in SAMPLER_SEEDS]) for k in samplings for j in (0, 1)}
small_std = {(k, j): np.std([small[k, s][j] for s in SAMPLER_SEEDS]) for k in samplings for j in (0, 1)}
fig = go.Figure([go.Bar(name=metric, x=list(samplings), y=[small_mean[k, j] for k in samplings],
                        error_y=dict(array=[small_std[k, j] for k in samplings]))
                 for j, metric in enumerate(("linear probe", "kNN (k = 20)"))])
fig.update_layout(title=f"SupCon at batch {SMALL_B}: random batches vs m-per-class ({len(SAMPLER_SEEDS)} seed(s),"
                  f" {SAMPLER_STEPS} steps)", template="plotly_white", barmode="group", height=380,
                  yaxis=dict(title="accuracy, augmented held-out digits"), xaxis_title="how the batch is filled")
fig

# %% [markdown]
# **Question.** $m = 4$ gives every anchor 7 positives instead of about 3, yet it need not be the
# best choice. What does a batch of 4 classes never show the loss? How would you pick $m$ for a
# given $B$ and $K$?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# With $B/m = 4$ classes per batch, each anchor sees negatives from only 3 other classes; pairs of
# classes that rarely share a batch are rarely pushed apart, and the push is estimated from few
# samples. More positives per anchor and more negative classes per batch compete for the same $B$
# slots. A common rule is to keep $m$ small (2 to 4) and $B/m$ as close to $K$ as the batch allows;
# the bars above show which side wins on this toy (read them with the seed spread in mind).
#
# </details>

# %% [markdown]
# ## 4. Optional: imbalance and the class-mean geometry
#
# *Optional: the core path goes from section 3 to Exercise 1; nothing later needs this section.*
#
# With balanced classes both losses give symmetric class means: SupCon the simplex of section 1,
# cross-entropy a simplex of its centred features and classifier rows ("neural collapse", Papyan et
# al. 2020). Under imbalance, Fang et al. (2021) showed for cross-entropy that the classifier rows of
# the **minority** classes move towards each other as the imbalance grows, until they merge
# ("minority collapse"); Kini et al. (2023) report that SupCon's symmetry also breaks under imbalance.
# We measure with a **step imbalance**: digits 0–4 keep all their samples, digits 5–9 keep $1/\rho$ of
# theirs (`CG.imbalanced_indices`). The numbers to watch:
#
# $$\bar c_{\text{min}} = \operatorname{mean}_{c \ne c' \in \text{minority}} \cos(\mu_c, \mu_{c'}),\qquad
#   \bar c_{\text{maj}} = \operatorname{mean}_{c \ne c' \in \text{majority}} \cos(\mu_c, \mu_{c'}),$$
#
# both $-1/9$ for a balanced simplex; a minority collapse drives $\bar c_{\text{min}}$ towards 1.
#
# First the loss alone: free vectors with SupCon, and free features with a free linear classifier and
# cross-entropy with weight decay (Fang et al.'s layer-peeled model), 40 samples per majority class
# (for SupCon, ratio 1 is the balanced run of section 1: its simplex does not depend on the class size).

# %%
MINORITY, MAJORITY = [5, 6, 7, 8, 9], [0, 1, 2, 3, 4]


def blocks(g) -> str:
    """Minority-minority and majority-majority mean cosines of a ClassMeanGeometry, as text."""
    return f"minority {g.mean_cosine(MINORITY, MINORITY):+.2f} / majority {g.mean_cosine(MAJORITY, MAJORITY):+.2f}"


FREE_RATIOS = (1, 5, 20) if FAST else (1, 2, 5, 10, 20)
free_curves = {"SupCon class means": [], "CE classifier rows": []}
for ratio in FREE_RATIOS:
    counts = [40] * 5 + [max(2, round(40 / ratio))] * 5  # step imbalance: classes 5-9 are the minority
    sup = free if ratio == 1 else CG.unconstrained_features(counts, loss="supcon", temperature=TAU)
    ce = CG.unconstrained_features(counts, loss="ce")
    free_curves["SupCon class means"].append(CG.class_mean_geometry(sup.features, sup.labels))
    free_curves["CE classifier rows"].append(CG.class_mean_geometry(ce.classifier, torch.arange(10), normalize=False))
    print(f"ratio {ratio:>2} (minority classes of {counts[-1]:>2}): "
          + "   ".join(f"{what}: {blocks(curve[-1])}" for what, curve in free_curves.items()))

# %% [markdown]
# Now the digits. The cell trains SupCon and cross-entropy on step-imbalanced training sets (the
# balanced runs of section 2 are ratio 1) and measures, on the clean training digits they saw,
# SupCon's class means of the normalised projections, cross-entropy's classifier rows, and
# cross-entropy's class means of the penultimate features $g(f(x))$, centred as in neural collapse.

# %%
RATIOS = (1, 20) if FAST else (1, 5, 20, 60)
WHATS = ("SupCon class means", "CE classifier rows", "CE class means (centred)")
geo = {}  # (ratio, what) -> ClassMeanGeometry
for ratio in RATIOS:
    data = train if ratio == 1 else train.subset(CG.imbalanced_indices(train.labels, ratio, minority=MINORITY))
    sup = balanced["supcon"] if ratio == 1 else train_digits("supcon", data, 0)
    ce = balanced["ce"] if ratio == 1 else train_digits("ce", data, 0)
    geo[ratio, "SupCon class means"] = CG.class_mean_geometry(sup.project(data.x), data.labels)
    geo[ratio, "CE classifier rows"] = CG.class_mean_geometry(ce.classifier.weight.detach(),
                                                              torch.arange(10, device=device), normalize=False)
    geo[ratio, "CE class means (centred)"] = CG.class_mean_geometry(ce.project(data.x), data.labels,
                                                                    normalize=False, center=True)
    print(f"ratio {ratio:>2} ({len(data)} digits): " + "   ".join(f"{w}: {blocks(geo[ratio, w])}" for w in WHATS))

# %%
fig = go.Figure()
for what, curve in free_curves.items():
    fig.add_scatter(x=FREE_RATIOS, y=[g.mean_cosine(MINORITY, MINORITY) for g in curve], mode="lines+markers",
                    line_dash="dot", name=f"free vectors: {what}")
for what in WHATS:
    fig.add_scatter(x=RATIOS, y=[geo[r, what].mean_cosine(MINORITY, MINORITY) for r in RATIOS],
                    mode="lines+markers", name=f"digits: {what}")
fig.add_hline(y=CG.simplex_cosine(10), line_dash="dash", line_color="grey",
              annotation_text="-1/(K-1): balanced simplex")
fig.update_layout(title="Minority classes move together: mean minority-minority cosine vs imbalance",
                  template="plotly_white", height=420, yaxis_title="mean cosine between minority classes",
                  xaxis=dict(title="imbalance ratio ρ (majority / minority class size)", type="log"))
fig

# %%
worst = RATIOS[-1]
fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                    subplot_titles=["ρ = 1 (balanced)", f"ρ = {worst} (digits 5-9 minority)"])
for col, ratio in enumerate((1, worst), start=1):
    g = geo[ratio, "SupCon class means"]
    fig.add_trace(go.Heatmap(z=g.cosines.numpy(), x=list(range(10)), y=list(range(10)), zmin=-1, zmax=1,
                             colorscale="RdBu_r", texttemplate="%{z:.1f}", showscale=col == 2), row=1, col=col)
fig.update_yaxes(autorange="reversed", title_text="class", col=1)
fig.update_xaxes(title_text="class")
fig.update_layout(title="SupCon on the digits: cosines between class means, balanced vs imbalanced",
                  template="plotly_white", height=420, width=900)
fig

# %%
g1, gw = geo[1, "SupCon class means"], geo[worst, "SupCon class means"]
print(f"Measured (SupCon, digits): mean minority-minority cosine {g1.mean_cosine(MINORITY, MINORITY):+.2f} at ρ = 1,"
      f" {gw.mean_cosine(MINORITY, MINORITY):+.2f} at ρ = {worst}; majority-majority"
      f" {g1.mean_cosine(MAJORITY, MAJORITY):+.2f} -> {gw.mean_cosine(MAJORITY, MAJORITY):+.2f}"
      f" (-1/4 would be a simplex of the 5 majority classes alone); minority class-mean norms"
      f" {g1.norms[5:].mean():.2f} -> {gw.norms[5:].mean():.2f}")

# %% [markdown]
# ### Live: move the imbalance
#
# The slider picks an imbalance ratio among the runs above (nothing is retrained), the buttons pick
# which class means to show; the heatmap updates in place. `geometry_view(ratio, what)` is the plain
# function behind it.

# %%
def geometry_view(ratio: int, what: str, fig=None):
    """The class-mean cosine heatmap of one cached run, with its minority / majority averages in the title."""
    g = geo[ratio, what]
    title = f"{what}, ρ = {ratio}: {blocks(g)}, norms {g.norms.min():.2f} to {g.norms.max():.2f}"
    return cosine_heatmap(g, title, fig)


ratio_slider = W.SelectionSlider(options=list(RATIOS), value=RATIOS[-1], description="ratio ρ")
what_buttons = W.ToggleButtons(options=list(WHATS), value=WHATS[0])
live = geometry_view(ratio_slider.value, what_buttons.value, go.FigureWidget(cosine_heatmap(geo[1, WHATS[0]], "")))


def redraw(_change) -> None:
    geometry_view(ratio_slider.value, what_buttons.value, live)


ratio_slider.observe(redraw, names="value")
what_buttons.observe(redraw, names="value")
W.VBox([W.HBox([ratio_slider, what_buttons]), live])

# %% [markdown]
# **Question.** In the SupCon loss, how much weight does the pair (minority class $a$, minority class
# $b$) get compared with a (majority, minority) pair? Use that to explain the SupCon curves. Then
# compare the cross-entropy curves for the free vectors and for the digits: what does a short
# training run of a real network lack that the layer-peeled model has?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Every term of the loss is an (anchor, other sample) pair, so the repulsion between two classes is
# weighted by the product of their sizes: $n_a n_b$ for two minority classes is $\rho^2$ times
# smaller than for two majority classes, and $\rho$ times smaller than for a majority-minority pair.
# The majority classes spread out among themselves (their cosines head towards $-1/4$) and push the
# minority classes away from them, into what room is left, where little pushes them apart: their
# means drift together. Fang et al.'s minority collapse of the cross-entropy classifier appears in the
# layer-peeled model, which is optimised to convergence with weight decay; a few hundred steps of a
# real network are far from that terminal phase, so expect its classifier rows to move less (read the
# printed numbers). Kini et al. (2023) show that a ReLU on SupCon's output restores a
# symmetric geometry (an orthogonal frame) under imbalance.
#
# </details>

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: positives per anchor
#
# Write `my_positives_per_anchor(labels, n_views)`: for a batch of `(B,)` labels seen in `n_views`
# views, return the `(V B,)` counts $|P(i)|$ in SupCon's view-major order (row `v * B + i` is view
# `v` of sample `i`). Repeat the labels for the views, compare every pair, and leave the anchor itself
# out.

# %%
def my_positives_per_anchor(labels: torch.Tensor, n_views: int = 2) -> torch.Tensor:
    """(V B,) number of other embeddings with the anchor's label, in view-major order."""
    # Your code here.
    return None


# %%
def check_positives_per_anchor(fn) -> bool:
    """Compare fn with CG.positives_per_anchor and explain the first difference found."""
    for labels, v in ((torch.tensor([0, 0, 1, 2, 2, 2]), 2), (torch.tensor([3, 1, 3, 3, 0]), 3),
                      (torch.tensor([4, 4, 7]), 1)):
        expected = CG.positives_per_anchor(labels, n_views=v)
        done, got = attempt(fn, labels, v)
        if not done:
            return False
        got = torch.as_tensor(got).reshape(-1).long()
        if got.shape != expected.shape:
            print(f"Not yet: for B = {len(labels)} and V = {v} expected {len(expected)} counts (one per"
                  f" embedding), got {len(got)}. Repeat the labels V times: labels.repeat(V).")
            return False
        if torch.equal(got, expected):
            continue
        counts = torch.bincount(labels)[labels]  # (B,) class size in the batch of each sample
        hints = [(expected + 1, "you counted the anchor as its own positive: leave out the diagonal"),
                 ((counts - 1).repeat(v), "you counted only the other samples, not the other views"),
                 ((v * counts - 1).repeat_interleave(v), "the order is view-major (labels.repeat(V)), not"
                                                         " sample-major (repeat_interleave)")]
        hint = next((h for value, h in hints if torch.equal(got, value)), "compare with the formula V n_c - 1")
        print(f"Not yet: for labels {labels.tolist()} and V = {v} you got {got.tolist()}, expected"
              f" {expected.tolist()}: {hint}.")
        return False
    print("Check passed: your counts match CG.positives_per_anchor (|P(i)| = V n_c - 1).")
    return True


check_positives_per_anchor(my_positives_per_anchor)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_positives_per_anchor(labels, n_views=2):
#     y = labels.repeat(n_views)  # (V B,) view-major: row v * B + i
#     same = y[:, None] == y[None, :]  # (V B, V B) same label, the diagonal included
#     return same.sum(1) - 1  # leave the anchor itself out
#
#
# check_positives_per_anchor(my_positives_per_anchor)
# ```
#
# </details>

# %% [markdown]
# ### Exercise 2 (optional, with section 4): the cosines between class means
#
# Write `my_class_mean_cosines(z, labels)`: scale each row of `z` to unit length, average the rows of
# each class (classes in sorted order), and return the `(K, K)` matrix of cosines between those means.
# The check compares it with `CG.class_mean_geometry(z, labels).cosines`.

# %%
def my_class_mean_cosines(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(K, K) cosine similarities between the class means of the unit rows of z."""
    # Your code here.
    return None


# %%
def check_class_mean_cosines(fn) -> bool:
    """Compare fn with class_mean_geometry(...).cosines and explain the first difference found."""
    gen = torch.Generator().manual_seed(2)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])  # (10,) unequal classes
    z = torch.randn(10, 4, generator=gen) * torch.linspace(0.2, 5, 10)[:, None] + 0.3  # rows of very different norms
    expected = CG.class_mean_geometry(z, labels).cosines.float()
    done, got = attempt(fn, z, labels)
    if not done:
        return False
    got = torch.as_tensor(got).float()
    if got.shape != (3, 3):
        print(f"Not yet: expected a (K, K) = (3, 3) matrix, got shape {tuple(got.shape)}.")
        return False
    if torch.allclose(got, expected, atol=1e-5):
        off = expected[~torch.eye(3, dtype=torch.bool)]  # (6,) the pairs of different classes
        print(f"Check passed: your cosines match class_mean_geometry (off-diagonal mean {off.mean():+.3f}).")
        return True
    raw = torch.stack([z[labels == c].mean(0) for c in range(3)])  # means of the raw rows
    unit_means = torch.stack([F.normalize(z[labels == c], dim=1).mean(0) for c in range(3)])
    if torch.allclose(got, F.normalize(raw, dim=1) @ F.normalize(raw, dim=1).T, atol=1e-5):
        print("Not yet: you averaged the raw rows; scale each row to unit length first (F.normalize(z, dim=1)).")
    elif torch.allclose(got, unit_means @ unit_means.T, atol=1e-5):
        print("Not yet: those are dot products of the means; divide by their norms to get cosines.")
    else:
        print(f"Not yet: your matrix differs from class_mean_geometry's by up to {(got - expected).abs().max():.3f}.")
    return False


check_class_mean_cosines(my_class_mean_cosines)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_class_mean_cosines(z, labels):
#     u = F.normalize(z, dim=1)  # (N, D) unit rows
#     means = torch.stack([u[labels == c].mean(0) for c in labels.unique()])  # (K, D), sorted classes
#     means = F.normalize(means, dim=1)  # (K, D) unit means
#     return means @ means.T  # (K, K) cosines
#
#
# check_class_mean_cosines(my_class_mean_cosines)
# ```
#
# </details>

# %% [markdown]
# ### Exercise 3 (optional): SupCon from scratch
#
# Write $\mathcal L^{\text{out}}$ from section 1 for `features` of shape `(N, V, D)`:
#
# 1. stack the views view-major, `z = features.transpose(0, 1).reshape(N * V, D)`, normalise the rows,
#    and repeat the labels `labels.repeat(V)`;
# 2. form the `(NV, NV)` logits $z_i^\top z_a/\tau$ and give the diagonal $-\infty$ (an anchor is not in $A(i)$);
# 3. `log_prob = logits - logsumexp(logits, dim=1)`; average it over each anchor's positives, then
#    over the anchors, and negate.

# %%
def my_supcon(features: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SupCon L_out of (N, V, D) features with (N,) labels."""
    # Your code here.
    return None


# %%
def check_supcon(fn) -> bool:
    """Compare fn with contrastlab.losses.supcon and explain the first difference found."""
    gen, tau = torch.Generator().manual_seed(4), 0.5
    features = torch.randn(9, 2, 5, generator=gen)  # (9, 2, 5) two views of 9 samples
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1])
    expected = L.supcon(features, labels, temperature=tau).item()
    done, got = attempt(fn, features, labels, temperature=tau)
    if not done:
        return False
    got = float(torch.as_tensor(got).reshape(-1)[0]) if torch.as_tensor(got).numel() == 1 else None
    if got is None:
        print("Not yet: return a scalar, the mean over the anchors.")
        return False
    if math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-6):
        print(f"Check passed: your SupCon {got:.5f} matches contrastlab.losses.supcon {expected:.5f}.")
        return True
    z = F.normalize(features.transpose(0, 1).reshape(18, 5), dim=1)  # (18, 5)
    y = labels.repeat(2)
    pos = (y[:, None] == y[None, :]) & ~torch.eye(18, dtype=torch.bool)  # (18, 18)
    logits = z @ z.T / tau
    masked = logits.masked_fill(torch.eye(18, dtype=torch.bool), float("-inf"))
    log_prob = masked - masked.logsumexp(1, keepdim=True)
    raw = features.transpose(0, 1).reshape(18, 5)
    raw_logits = (raw @ raw.T / tau).masked_fill(torch.eye(18, dtype=torch.bool), float("-inf"))
    raw_log_prob = raw_logits - raw_logits.logsumexp(1, keepdim=True)
    variants = {
        "kept each anchor in its own denominator (the diagonal must be -inf)":
            -(logits - logits.logsumexp(1, keepdim=True)).masked_fill(~pos, 0).sum(1).div(pos.sum(1)).mean(),
        "averaged inside the log (that is L_in, which is <= L_out)":
            -(log_prob.masked_fill(~pos, float("-inf")).logsumexp(1) - pos.sum(1).log()).mean(),
        "summed over the positives instead of averaging": -log_prob.masked_fill(~pos, 0).sum(1).mean(),
        "forgot to normalise the rows": -raw_log_prob.masked_fill(~pos, 0).sum(1).div(pos.sum(1)).mean(),
    }
    print(f"Not yet: your value {got:.5f} differs from contrastlab.losses.supcon {expected:.5f}.")
    for mistake, value in variants.items():
        if math.isclose(got, float(value), rel_tol=1e-4):
            print(f"It matches what you get if you {mistake}.")
            return False
    print("Check the view-major stacking (transpose(0, 1)) and that the labels are repeated the same way.")
    return False


check_supcon(my_supcon)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_supcon(features, labels, temperature=0.1):
#     n, v, d = features.shape
#     z = F.normalize(features.transpose(0, 1).reshape(n * v, d), dim=1)  # (NV, D) view-major unit rows
#     y = labels.repeat(v)  # (NV,)
#     self_mask = torch.eye(n * v, dtype=torch.bool, device=z.device)  # (NV, NV)
#     logits = (z @ z.T / temperature).masked_fill(self_mask, float("-inf"))  # (NV, NV), self not in A(i)
#     log_prob = logits - logits.logsumexp(dim=1, keepdim=True)  # (NV, NV)
#     positives = (y[:, None] == y[None, :]) & ~self_mask  # (NV, NV) P(i)
#     mean_log_prob = log_prob.masked_fill(~positives, 0).sum(1) / positives.sum(1)  # (NV,)
#     return -mean_log_prob.mean()
#
#
# check_supcon(my_supcon)
# ```
#
# The package computes the positives' sum without the `(NV, NV)` mask, through per-class sums of the
# embeddings (`losses/supcon.py`); both give the same number.
#
# </details>

# %% [markdown]
# ## Summary
#
# - SupCon makes every same-class sample a positive: $|P(i)| = V n_c - 1$, and with all-distinct
#   labels it is NT-Xent. Its minimisers with balanced classes are collapsed classes at the vertices
#   of a regular simplex, pairwise cosine $-1/(K-1)$ (Graf et al. 2021); the free-vector model shows it.
# - What SupCon learns depends on the batch: a small random batch leaves many anchors without a
#   same-class partner; an m-per-class sampler guarantees $2m - 1$ positives at the price of fewer
#   classes per batch.
# - A fair comparison needs a test that can fail: on clean digits raw pixels are at the ceiling, so
#   the verdicts use augmented digits, paired seeds and the raw pixels as the baseline. The two printed
#   verdicts say whether SupCon beats cross-entropy and whether it beats SimCLR on this toy.
# - Imbalance bends the geometry: repulsion between two classes is weighted by the product of their
#   sizes; the printed cosines show whether the minority class means of SupCon move towards each
#   other as the ratio grows.
#
# ## Further reading
#
# - P. Khosla, P. Teterwak, C. Wang, A. Sarna, Y. Tian, P. Isola, A. Maschinot, C. Liu, D. Krishnan (2020).
#   *Supervised Contrastive Learning*. NeurIPS. [arXiv:2004.11362](https://arxiv.org/abs/2004.11362)
# - F. Graf, C. Hofer, M. Niethammer, R. Kwitt (2021). *Dissecting Supervised Contrastive Learning*.
#   ICML. [arXiv:2102.08817](https://arxiv.org/abs/2102.08817)
# - C. Fang, H. He, Q. Long, W. J. Su (2021). *Exploring Deep Neural Networks via Layer-Peeled Model:
#   Minority Collapse in Imbalanced Training*. PNAS. [arXiv:2101.12699](https://arxiv.org/abs/2101.12699)
# - V. Papyan, X. Y. Han, D. L. Donoho (2020). *Prevalence of Neural Collapse during the Terminal Phase
#   of Deep Learning Training*. PNAS. [arXiv:2008.08186](https://arxiv.org/abs/2008.08186)
# - G. R. Kini, V. Vakilian, T. Behnia, J. Gill, C. Thrampoulidis (2023). *Symmetric Neural-Collapse
#   Representations with Supervised Contrastive Loss: The Impact of ReLU and Batching*. ICLR 2024.
#   [arXiv:2306.07960](https://arxiv.org/abs/2306.07960)
# - A. Hermans, L. Beyer, B. Leibe (2017). *In Defense of the Triplet Loss for Person
#   Re-Identification* (P×K batches). [arXiv:1703.07737](https://arxiv.org/abs/1703.07737)
