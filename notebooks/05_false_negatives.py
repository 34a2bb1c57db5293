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
# # 05 · False negatives: random, oracle and debiased negatives
#
# A contrastive loss treats every other sample in the batch as a negative. But when the data has
# classes, some of those "negatives" share the anchor's class: they are **false negatives**, and the
# loss pushes them away even though a downstream task wants them close. This notebook measures how
# often that happens, what it costs, and two remedies: the label-free **debiased** loss of Chuang et
# al. (2020) and **filtering** suspicious negatives by their similarity or their cluster (DCLR, ClusterNS).
#
# **Learning goals.** You will be able to
#
# - compute the class-collision rate of a batch and relate it to the number of classes $K$ ($\approx 1/K$);
# - write the three negative terms side by side: random (NT-Xent), oracle (true negatives only) and
#   debiased ($\tau^+$), and call `contrastlab.losses.nt_xent`, `oracle_nt_xent` and `debiased_nt_xent`;
# - run a small experiment that compares the three across $K$ and read its verdict critically;
# - measure the precision / recall trade-off of a similarity-threshold false-negative filter.
#
# **Prerequisites.** Notebook 00 (InfoNCE / NT-Xent as a cross-entropy over similarities); what a
# kNN accuracy measures.
#
# **Expected run time.** Fast mode (`CONTRASTLAB_FAST=1`): about 20 seconds on a laptop CPU
# (9 short training runs). Full mode: 1 to 2 minutes on a laptop CPU (45 training runs). No downloads.

# %% [markdown]
# ## Setup
#
# `setup()` from `contrastlab.lessons` does the set-up in one call: it seeds torch, picks the device
# (CUDA or Apple MPS when present, else CPU), runs torch on one thread on a CPU (the models are tiny,
# and threads that compete for the cores slow them down: `contrastlab.runtime` has the measurement)
# and reads fast mode, which CI turns on with `CONTRASTLAB_FAST=1` to shrink the sizes.

# %%
import math

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch

import torch.nn.functional as F

import contrastlab.data as D
import contrastlab.losses as L
import contrastlab.metrics as M
from contrastlab.lessons import false_negatives as filtering
from contrastlab.interactive import widgets
from contrastlab.losses.core import positive_nll, two_view_logits, twin_index
from contrastlab.samplers import spherical_kmeans
from contrastlab.train import fit
from contrastlab.lessons.exercises import attempt
from contrastlab.lessons import setup

lesson = setup(seed=0)  # torch.manual_seed(0), the device, the thread policy, fast mode; prints one line
device, FAST = lesson.device, lesson.fast

# %% [markdown]
# ## 1. Class collisions: how often is a random negative a false negative?
#
# Draw an anchor and a negative at random from data with class proportions $\pi_1, \dots, \pi_K$.
# They share a class with probability
#
# $$\tau^+ \;=\; \sum_{c=1}^{K} \pi_c^2 \;=\; \frac1K \quad\text{for balanced classes.}$$
#
# Chuang et al. call this class prior $\tau^+$. Inside a batch of $B$ samples with $n_c$ of class $c$,
# the share of same-class (anchor, negative) pairs is $\sum_c n_c(n_c-1) / (B(B-1))$:
# `metrics.collision_rate`. The cell measures it on random batches of 128 from `data.vmf_mixture`
# with $K$ balanced classes.

# %%
Ks = (2, 4, 8, 16, 32)
batch, n_batches = 128, (20 if FAST else 200)
g = torch.Generator().manual_seed(0)
measured, whole = [], []
for K in Ks:
    labels = D.vmf_mixture(2000, n_classes=K, seed=0).labels  # (2000,) balanced classes
    rates = [M.collision_rate(labels[torch.randperm(len(labels), generator=g)[:batch]]) for _ in range(n_batches)]
    measured.append((np.mean(rates), np.std(rates)))
    whole.append(M.collision_rate(labels))  # the same rate over the whole dataset
    print(f"K = {K:>2}: batch rate {np.mean(rates):.4f} ± {np.std(rates):.4f}   dataset {whole[-1]:.4f}"
          f"   1/K = {1 / K:.4f}")

fig = go.Figure([
    go.Scatter(x=Ks, y=[m for m, _ in measured], error_y=dict(array=[s for _, s in measured]), mode="markers",
               name=f"random batches of {batch} (mean ± std)"),
    go.Scatter(x=Ks, y=[1 / K for K in Ks], mode="lines", line=dict(dash="dash"), name="1/K"),
])
fig.update_layout(title="Class-collision rate of random negatives falls as 1/K", template="plotly_white",
                  xaxis=dict(title="number of classes K", type="log", tickvals=Ks),
                  yaxis=dict(title="share of negatives in the anchor's class", type="log"), height=360)
fig

# %% [markdown]
# **Question.** The batch rate sits slightly *below* $1/K$, and the dataset's own rate matches it.
# Why below? And would a long-tailed class distribution (`imbalance=10`) raise or lower it?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# An anchor is never its own negative: among the other samples, its class has one member fewer, so
# the rate is $\sum_c N_c(N_c-1)/(N(N-1)) < \sum_c (N_c/N)^2 = 1/K$. A random batch is an unbiased
# sample of pairs, so its expected rate is the dataset's. With unequal classes
# $\sum_c \pi_c^2 > 1/K$ (the sum of squares is smallest when all $\pi_c$ are equal): the big
# classes collide more, and the rate rises.
#
# </details>

# %% [markdown]
# ## 2. Three negative terms
#
# NT-Xent over the stacked batch $z = [z_1; z_2]$ (2B embeddings, anchor $a$, positive $a^+$, logits
# $s_{ak}/\tau$) differs between the three methods only in the **negative term** $N g_a$ of
#
# $$\ell_a = -\log\frac{e^{s_{a,a^+}/\tau}}{e^{s_{a,a^+}/\tau} + N g_a},\qquad N = 2B-2 .$$
#
# | method | negative term $N g_a$ | needs labels |
# |---|---|---|
# | random (`nt_xent`, "simclr") | $\sum_{k \ne a, a^+} e^{s_{ak}/\tau}$ | no |
# | oracle (`oracle_nt_xent`, "oracle") | $\sum_{k \ne a, a^+:\ y_k \ne y_a} e^{s_{ak}/\tau}$ | yes |
# | debiased (`debiased_nt_xent`, "debiased") | $\max\Big(\frac{1}{1-\tau^+}\big(\sum_{k} e^{s_{ak}/\tau} - \tau^+ N e^{s_{a,a^+}/\tau}\big),\ N e^{-1/\tau}\Big)$ | no, only $\tau^+$ |
#
# The debiased term (Chuang et al. 2020) writes the distribution of random negatives as a mixture,
# $p = \tau^+ p^+ + (1-\tau^+) p^-$, and solves for the true-negative part $p^-$. The same-class part
# $p^+$ is estimated with the one sample of the anchor's class it has: **the positive**. The clamp
# keeps the estimate above its smallest possible value on the sphere.
#
# On one batch of views of a 4-class `vmf_mixture` (the views are used directly as embeddings), the
# cell computes the random and oracle losses and the debiased loss for a range of $\tau^+$.

# %%
toy = D.vmf_mixture(256, n_classes=4, dim=8, concentration=8, view_noise=0.2, seed=0, device=device)
views = toy.views(generator=toy.generator(0))  # (256, 2, 8) two views per sample
z1, z2, y, tau = views[:, 0], views[:, 1], toy.labels, 0.5
random_loss = L.nt_xent(z1, z2, temperature=tau).item()
oracle_loss = L.oracle_nt_xent(z1, z2, y, temperature=tau).item()
tau_pluses = np.linspace(0, 0.6, 61)
debiased = np.array([L.debiased_nt_xent(z1, z2, temperature=tau, tau_plus=float(t)).item() for t in tau_pluses])
crossing = tau_pluses[np.argmin(np.abs(debiased - oracle_loss))]
print(f"random {random_loss:.4f}   oracle {oracle_loss:.4f}   debiased at tau+=0: {debiased[0]:.4f}")
print(f"the debiased loss is closest to the oracle loss at tau+ = {crossing:.2f};"
      f" the batch's collision rate is {M.collision_rate(y):.3f}")

fig = go.Figure([go.Scatter(x=tau_pluses, y=debiased, name="debiased"),
                 go.Scatter(x=[0, 0.6], y=[random_loss] * 2, mode="lines", line=dict(dash="dot"),
                            name="random (NT-Xent)"),
                 go.Scatter(x=[0, 0.6], y=[oracle_loss] * 2, mode="lines", line=dict(dash="dash"), name="oracle")])
fig.add_vline(x=M.collision_rate(y), line_color="grey", annotation_text="collision rate")
fig.update_layout(title="One batch: the debiased loss as τ⁺ grows, against the random and oracle losses",
                  template="plotly_white", xaxis_title="τ⁺", yaxis_title="loss", height=360)
fig

# %% [markdown]
# **Question.** At $\tau^+ = 0$ the debiased loss equals NT-Xent. Why does it *fall* as $\tau^+$ grows,
# and what happens to it once the clamp is reached for most anchors?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Raising $\tau^+$ subtracts more of the positive's weight from the negative sum, so the denominator,
# and with it the loss, shrinks. Once an anchor's estimate hits the floor $N e^{-1/\tau}$, its
# negative term no longer depends on the negatives at all: for that anchor the loss only pulls the
# positive closer and stops pushing negatives away. An over-large $\tau^+$ therefore switches off
# the repulsion that keeps embeddings spread out.
#
# </details>

# %% [markdown]
# ### Live: the τ⁺ slider
#
# `HardNegativeExplorer` shows one anchor's negatives, hardest first, with the same-class ones in red,
# and the NT-Xent, debiased, hard-negative and oracle losses of its batch (an 8-class `vmf_mixture`).
# Move **τ⁺** and see where the debiased loss lands relative to NT-Xent and the oracle; then lower and
# raise **τ** and watch both the losses and the share of the softmax weight on the red (false)
# negatives. (β and the ceiling belong to the hard-negative mining lesson.) Each slider move
# recomputes from a plain function, `app.state()`; the cell prints it for the starting settings.

# %%
app = widgets.HardNegativeExplorer(n=256, n_classes=8)
s = app.state()
print(f"tau = {app.temperature.value}, tau+ = {app.tau_plus.value:.3f} (collision rate {s['collision_rate']:.3f}):"
      f" NT-Xent {s['nt_xent']:.3f}, debiased {s['debiased']:.3f}, oracle {s['oracle']:.3f}")
app

# %% [markdown]
# ## 3. Reproduce the finding: do true negatives help, and does debiasing recover the gain?
#
# **Paper.** Chuang, Robinson, Lin, Torralba, Jegelka (2020), *Debiased Contrastive Learning*. Claim
# (abstract and Figure 1): in a setting where labels are available, drawing the negatives from truly
# different labels (the "unbiased", here oracle, loss) improves performance over random negatives; the
# debiased objective, which corrects for same-label negatives with only the class prior $\tau^+$,
# beats random negatives on their vision, language and RL benchmarks. Here we test two statements:
# **(a)** oracle > random, most at small $K$; **(b)** debiased with $\tau^+ = 1/K$ recovers part of the gap.
#
# **Toy.** `data.feature_mix` (Xue et al. 2023) with $K$ classes: each input mixes an *easy*
# feature unique to each sample (a random unit vector in 8 dimensions; the augmentation adds noise of
# 0.3 per coordinate) with a weak *class* feature (the class direction times 0.3, noise 0.1 per
# coordinate), behind a random rotation. The easy feature alone tells every sample apart, so
# the class feature only helps against negatives of another class. With random negatives, a share
# $\approx 1/K$ of the negatives are of the same class, and those are the negatives the class feature
# makes *harder* to push away. Methods: `fit(..., "simclr")` (random), `"oracle"`, and `"debiased"` with
# $\tau^+ = 1/K$, all at $\tau = 0.5$ (the paper's value), batch 128. Accuracy: leave-one-out kNN on the
# backbone features of clean inputs (`fit`'s `knn`). For each $K$:
#
# $$\text{gap} = \text{acc}_\text{oracle} - \text{acc}_\text{random},\qquad
# \text{recovered} = \frac{\text{acc}_\text{debiased} - \text{acc}_\text{random}}{\text{gap}} .$$
#
# The data set of each $K$ is fixed (seed 0); the training seeds vary.

# %%
TOY = dict(n=2000, n_subclasses=1, easy_strength=1.0, class_strength=0.3, subclass_strength=0.0,
           class_dims=8, view_noise=0.1, easy_view_noise=0.3)
K_SWEEP, SEEDS, STEPS = ((2, 4, 10), (0,), 150) if FAST else ((2, 4, 8, 16, 32), (0, 1, 2), 300)
METHODS = ("simclr", "oracle", "debiased")
acc, models, datasets = {}, {}, {}
for K in K_SWEEP:
    datasets[K] = data = D.feature_mix(n_classes=K, seed=0, device=device, **TOY)
    for method in METHODS:
        for seed in SEEDS:
            options = {"tau_plus": 1 / K} if method == "debiased" else {}
            history = fit(data, method, steps=STEPS, batch_size=128, eval_every=0, seed=seed, temperature=0.5,
                          metrics=("knn",), progress=False, device=device, **options)
            acc[K, method, seed] = history.last()["knn"]
            models.setdefault((K, method), history.method)  # the first seed's model, for later sections
    print(f"K = {K:>2}: " + "  ".join(f"{m} {np.mean([acc[K, m, s] for s in SEEDS]):.3f}" for m in METHODS))

# %%
names = {"simclr": "random (SimCLR)", "oracle": "oracle (true negatives)", "debiased": "debiased, τ⁺ = 1/K"}
mean = {(K, m): float(np.mean([acc[K, m, s] for s in SEEDS])) for K in K_SWEEP for m in METHODS}
spread = {(K, m): float(np.std([acc[K, m, s] for s in SEEDS])) for K in K_SWEEP for m in METHODS}
raw = [M.knn_accuracy(datasets[K].x[:1024], datasets[K].labels[:1024], k=20) for K in K_SWEEP]
fig = go.Figure([go.Scatter(x=K_SWEEP, y=[mean[K, m] for K in K_SWEEP], name=names[m], mode="lines+markers",
                            error_y=dict(array=[spread[K, m] for K in K_SWEEP])) for m in METHODS])
fig.add_scatter(x=K_SWEEP, y=raw, name="kNN on the raw inputs", mode="lines", line=dict(dash="dot", color="grey"))
fig.update_layout(title=f"kNN accuracy after training, by number of classes ({len(SEEDS)} seed(s), {STEPS} steps)",
                  template="plotly_white", xaxis=dict(title="number of classes K", type="log", tickvals=K_SWEEP),
                  yaxis_title="kNN accuracy (backbone features)", height=380)
fig

# %%
gaps = {K: mean[K, "oracle"] - mean[K, "simclr"] for K in K_SWEEP}
recovered = {K: (mean[K, "debiased"] - mean[K, "simclr"]) / gaps[K] if gaps[K] > 0.02 else math.nan for K in K_SWEEP}
print(f"{'K':>3} {'1/K':>6} {'random':>7} {'oracle':>7} {'debiased':>9} {'gap':>7} {'recovered':>10}")
for K in K_SWEEP:
    print(f"{K:>3} {1 / K:>6.3f} {mean[K, 'simclr']:>7.3f} {mean[K, 'oracle']:>7.3f} {mean[K, 'debiased']:>9.3f}"
          f" {gaps[K]:>+7.3f} {recovered[K]:>+10.0%}")

half = max(1, len(K_SWEEP) // 2)
small, large = np.mean([gaps[K] for K in K_SWEEP[:half]]), np.mean([gaps[K] for K in K_SWEEP[-half:]])
oracle_helps = all(gaps[K] > 0.02 for K in K_SWEEP)
a_holds = oracle_helps and small > large
a_text = (f"(a) {'agrees' if a_holds else 'disagrees'} — oracle minus random kNN accuracy is "
          + ", ".join(f"{gaps[K]:+.2f} at K={K}" for K in K_SWEEP)
          + f" ({'positive at every K' if oracle_helps else 'not positive at every K'}; mean {small:+.2f} at the"
          f" smallest K vs {large:+.2f} at the largest)")
usable = [recovered[K] for K in K_SWEEP if not math.isnan(recovered[K])]
mean_recovered = float(np.mean(usable)) if usable else math.nan
b_word = ("agrees" if 0.1 <= mean_recovered <= 1 else "agrees (recovers all of it)" if mean_recovered > 1
          else "disagrees (it lowers accuracy)" if mean_recovered < -0.1 else "disagrees")
b_text = (f"(b) {b_word} — the debiased loss with τ⁺ = 1/K recovers "
          + ", ".join(f"{recovered[K]:+.0%} at K={K}" for K in K_SWEEP if not math.isnan(recovered[K]))
          + f" of the gap (mean {mean_recovered:+.0%}; 'part' needs at least +10%)")
print(f"Verdict: {a_text}; {b_text}")

# %% [markdown]
# **Question.** Read the verdict line above, not the text around it: which half of the claim does
# this toy support? Where the gap is large, is it a small-$K$ effect (more collisions) or could the
# task's difficulty at that $K$ also play a part (compare with the raw-input kNN line)?

# %% [markdown]
# ## 4. Why the debiased estimate can miss: the positive is not a typical same-class sample
#
# The debiased term subtracts $\tau^+ N e^{s_{a,a^+}/\tau}$, i.e. it assumes the same-class negatives
# are, on average, as similar to the anchor as its positive. If the positive is much closer than a
# typical same-class sample (likely when the augmentation changes a sample little), the correction
# over-subtracts and the estimate can fall to its floor (the clamp). With labels we can check this:
# `filtering.debiased_negative_term` returns, per anchor, the estimate $N g_a$ and the truth it stands
# for, $N$ times the mean of $e^{s/\tau}$ over the anchor's true negatives. The cell evaluates both on
# a batch embedded by each debiased-trained model of the sweep.

# %%
fig = go.Figure()
for K in K_SWEEP:
    data, model = datasets[K], models[K, "debiased"]
    idx = torch.arange(128, device=device)
    v = data.views(idx, generator=data.generator(7))  # (128, 2, d) fresh views
    term = filtering.debiased_negative_term(model.project(v[:, 0]), model.project(v[:, 1]), data.labels[idx],
                                            temperature=0.5, tau_plus=1 / K)
    ratio = (term.log_estimate - term.log_truth).exp()  # (256,) estimate / truth, 1 = unbiased
    print(f"K = {K:>2}: estimate / truth median {ratio.median():.2f} (IQR {ratio.quantile(0.25):.2f}"
          f"-{ratio.quantile(0.75):.2f}); clamped anchors {term.clamped.float().mean():.0%}")
    fig.add_scatter(x=term.log_truth.cpu().numpy(), y=term.log_estimate.cpu().numpy(), mode="markers", name=f"K = {K}",
                    marker=dict(size=4, opacity=0.6))
lo, hi = float(min(t.x.min() for t in fig.data)), float(max(t.x.max() for t in fig.data))
fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(dash="dash", color="grey"), name="estimate = truth")
fig.update_layout(title="Debiased estimate of the true-negative term vs its true value (per anchor)",
                  template="plotly_white", xaxis_title="log true-negative term (from labels)",
                  yaxis_title="log debiased estimate N g", height=400)
fig

# %% [markdown]
# **Question.** Points on a horizontal line at the bottom are clamped anchors. For those anchors,
# what does the loss still do, and what does it no longer do? Chuang et al. also average the
# same-class term over $M > 1$ extra positives (their $M$); why would that help here?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# A clamped anchor's negative term is a constant: the loss still pulls its positive closer but no
# longer pushes *any* negative away, true or false. So the debiased loss does not remove the false
# negatives from the gradient. It changes how strongly each anchor counts, and at the clamp it turns
# the repulsion off. Extra positives drawn from the same class (not augmentations of the same sample)
# are typical same-class samples, so their mean similarity is what the subtraction assumes; one
# augmented positive can be much closer than that (the printed estimate / truth ratios show by how much
# on this toy).
#
# </details>

# %% [markdown]
# ## 5. Filtering false negatives by similarity (DCLR) or cluster (ClusterNS), and what it costs
#
# Without labels, a negative that is *very* similar to the anchor is a suspect. DCLR (Zhou et al. 2022)
# gives weight 0 to negatives whose similarity under a frozen reference model exceeds a threshold
# $\phi$. ClusterNS (Deng et al. 2023) runs k-means and treats the anchor's cluster-mates as false
# negatives. `L.filtered_nt_xent` implements both as a keep mask on the NT-Xent core:
#
# $$\ell_a = \log\Big(e^{s_{a,a^+}/\tau} + \sum_{k \ne a, a^+:\ \cos(r_a, r_k) < \phi} e^{s_{ak}/\tau}\Big) - s_{a,a^+}/\tau .$$
#
# A filter is a classifier of negatives, so it has **precision** (share of the dropped negatives that
# really were false negatives), **recall** (share of the false negatives it caught) and a **cost**
# (share of the true negatives it threw away). The cell sweeps $\phi$ on the $K=4$ data with two
# reference models from the sweep: the one trained with random negatives, and the oracle one, which
# stands in for a better pretrained model (DCLR's reference is a pretrained sentence encoder).

# %%
K, idx = 4, torch.arange(512, device=device)
x, y4 = datasets[K].x[idx], datasets[K].labels[idx]
thresholds = np.round(np.linspace(-0.2, 1.0, 61), 3)
curves, kmeans = {}, {}
for method in ("simclr", "oracle"):
    r = models[K, method].project(x)  # (512, E) reference embeddings of clean inputs
    curves[method] = filtering.threshold_sweep(M.similarity_matrix(r), y4, thresholds)
    _, ids = spherical_kmeans(r, K, seed=0)  # ClusterNS-style: drop the anchor's cluster-mates
    kmeans[method] = filtering.filter_quality(ids[:, None] == ids[None, :], y4)
    half_caught = next(q for q in reversed(curves[method]) if q.recall >= 0.5)  # highest φ with recall >= 0.5
    print(f"{names[method]:<24} same-class cosine {M.tolerance(r, y4):+.2f} | to catch half the false negatives:"
          f" φ = {half_caught.threshold:+.2f}, precision {half_caught.precision:.2f},"
          f" true negatives lost {half_caught.true_negative_loss:.0%} | k-means: precision"
          f" {kmeans[method].precision:.2f}, recall {kmeans[method].recall:.2f},"
          f" true negatives lost {kmeans[method].true_negative_loss:.0%}")


def filter_figure(threshold: float, fig=None):
    """ROC-style curves (recall vs true negatives lost) with a marker at ``threshold``; updates ``fig`` in place."""
    i = int(np.argmin(np.abs(thresholds - threshold)))
    if fig is None:
        fig = go.FigureWidget()
        for method in curves:
            q = curves[method]
            fig.add_scatter(x=[c.true_negative_loss for c in q], y=[c.recall for c in q], mode="lines",
                            name=f"threshold, reference: {names[method]}", customdata=thresholds,
                            hovertemplate="φ = %{customdata}<br>recall %{y:.2f}<br>TN lost %{x:.2f}")
        for method in curves:
            fig.add_scatter(x=[kmeans[method].true_negative_loss], y=[kmeans[method].recall], mode="markers",
                            marker=dict(symbol="diamond", size=11), name=f"k-means (K={K}): {names[method]}")
        fig.add_scatter(mode="markers", marker=dict(size=12, color="black"), name="current φ")
        fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="grey"), name="chance")
        fig.update_layout(template="plotly_white", height=420, xaxis_title="true negatives wrongly dropped (cost)",
                          yaxis_title="false negatives dropped (recall)")
    with fig.batch_update():
        fig.data[4].x = [curves[m][i].true_negative_loss for m in curves]
        fig.data[4].y = [curves[m][i].recall for m in curves]
        fig.layout.title.text = (f"Similarity filter at φ = {thresholds[i]:.2f}: precision "
                                 + ", ".join(f"{curves[m][i].precision:.2f} ({m})" for m in curves))
    return fig


filter_fig = filter_figure(0.3)
filter_fig

# %% [markdown]
# `L.filtered_nt_xent` puts a filter into the loss. On one batch of $K=4$ views embedded by the
# random-negative model, the cell compares NT-Xent, the threshold filter (deciding with the oracle
# model's similarities, at the $\phi$ that catches half the false negatives, as printed above), the
# k-means filter, and the oracle loss.

# %%
v = datasets[K].views(idx[:128], generator=datasets[K].generator(11))  # (128, 2, d)
z1, z2 = models[K, "simclr"].project(v[:, 0]), models[K, "simclr"].project(v[:, 1])  # (128, E) each
reference = models[K, "oracle"].project(torch.cat([v[:, 0], v[:, 1]]))  # (256, E) DCLR-style frozen reference
phi_half = next(q.threshold for q in reversed(curves["oracle"]) if q.recall >= 0.5)
_, ids = spherical_kmeans(reference[:128], K, seed=0)  # (128,) clusters of the first views
tau = 0.5
print(f"NT-Xent {L.nt_xent(z1, z2, temperature=tau).item():.4f} | threshold φ = {phi_half:.2f}:"
      f" {L.filtered_nt_xent(z1, z2, temperature=tau, threshold=phi_half, reference=reference).item():.4f}"
      f" | k-means: {L.filtered_nt_xent(z1, z2, temperature=tau, cluster_ids=ids).item():.4f}"
      f" | oracle {L.oracle_nt_xent(z1, z2, y4[:128], temperature=tau).item():.4f}  (all at tau = {tau})")

# %% [markdown]
# ### Live: move the threshold
#
# The slider moves the black markers along both curves (the figure updates in place). A perfect
# filter would reach the top-left corner: every false negative dropped, no true negative lost.

# %%
phi = W.FloatSlider(value=0.3, min=-0.2, max=1.0, step=0.02, description="φ", continuous_update=True)
phi.observe(lambda change: filter_figure(change["new"], filter_fig), names="value")
W.VBox([phi, filter_fig])

# %% [markdown]
# **Question.** The two curves use the same filter on the same samples. Compare each with the chance
# diagonal and with the same-class cosines printed above. What does that say about filtering false
# negatives with the similarities of the very model that random negatives are training?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# A similarity filter can only find the false negatives that its reference model already places
# close to the anchor. Where a model's same-class cosine is near that of random pairs, false negatives
# look like any other negative to it, and the filter drops true and false negatives alike: its
# precision is then close to the collision rate (0.25 at $K = 4$), the precision of dropping negatives
# at random. A reference whose same-class samples are close gives a useful filter; that is why DCLR
# uses a separately pretrained reference model rather than the one being trained. Every threshold is a
# trade: a lower $\phi$ catches more false negatives but also throws away true negatives, and with
# them some of the repulsion the loss needs.
#
# </details>

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: the collision rate by hand
#
# Write `my_collision_rate(labels)`: the share of ordered pairs $(i, j)$, $i \ne j$, of a batch that
# share a label. Count same-label pairs with a `(B, B)` comparison, leave out the diagonal, and divide
# by the number of pairs $B(B-1)$. The check compares it with `metrics.collision_rate` and with $1/K$.

# %%
def my_collision_rate(labels: torch.Tensor) -> float:
    """Share of ordered pairs i != j of the (B,) labels that have the same label."""
    # Your code here.
    return None


# %%
def check_collision_rate(fn) -> bool:
    """Compare fn with metrics.collision_rate on a few batches and explain the first difference found."""
    gen = torch.Generator().manual_seed(3)
    for K, B in ((2, 10), (4, 128), (10, 64)):
        labels = torch.randint(0, K, (B,), generator=gen)  # (B,)
        expected = M.collision_rate(labels)
        done, got = attempt(fn, labels)
        if not done:
            return False
        got = float(got)
        if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9):
            continue
        same = (labels[:, None] == labels[None, :]).sum().item()  # diagonal included
        hints = {same / B**2: "you counted each sample as its own negative (keep i != j only) and divided by B^2",
                 (same - B) / B**2: "you divided by B^2; there are only B(B-1) ordered pairs i != j",
                 same / (B * (B - 1)): "you counted the diagonal (i == j); leave it out",
                 (same - B) / (B * (B - 1)) / 2: "you halved the count; ordered pairs count (i, j) and (j, i) both",
                 float(same - B): "you returned the count; divide it by the number of pairs B(B-1)"}
        hint = next((h for v, h in hints.items() if math.isclose(got, v, rel_tol=1e-6)), "check the pair count")
        print(f"Not yet: for K = {K}, B = {B} you got {got:.5f}, metrics.collision_rate gives {expected:.5f}: {hint}.")
        return False
    print(f"Check passed: your collision rate matches metrics.collision_rate (last batch: {got:.4f} for K = {K},"
          f" 1/K = {1 / K:.4f}; a small random batch scatters around 1/K).")
    return True


check_collision_rate(my_collision_rate)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_collision_rate(labels):
#     b = len(labels)
#     same = labels[:, None] == labels[None, :]  # (B, B) same-label pairs, diagonal included
#     pairs = same.sum().item() - b  # leave out the B pairs (i, i)
#     return pairs / (b * (b - 1))
#
#
# check_collision_rate(my_collision_rate)
# ```
#
# </details>

# %% [markdown]
# ### Exercise 2: the debiased negative term for one anchor
#
# Write `my_debiased_ng(z1, z2, a, temperature, tau_plus)`: the debiased negative term $N g_a$ (a
# number, not its log) of anchor `a` of the stacked batch `cat([z1, z2])`, from the table in section 2:
# normalise the rows, take the anchor's similarities to its $N = 2B-2$ negatives (all rows but `a` and its
# positive `(a + B) % 2B`), subtract $\tau^+ N e^{s_{a,a^+}/\tau}$, divide by $1-\tau^+$, and clamp at
# $N e^{-1/\tau}$. The check builds the loss from your $N g_a$ for every anchor and compares it with
# `losses.debiased_nt_xent`.

# %%
def my_debiased_ng(z1: torch.Tensor, z2: torch.Tensor, a: int, temperature: float, tau_plus: float) -> float:
    """Chuang et al.'s clamped estimate N g_a of anchor a's true-negative term (not its log)."""
    # Your code here.
    return None


# %%
def check_debiased_ng(fn) -> bool:
    """Rebuild debiased_nt_xent from fn's N g_a and explain the first difference found."""
    gen = torch.Generator().manual_seed(5)
    b, tau, tau_plus = 12, 0.5, 0.25
    z1 = torch.randn(b, 6, generator=gen, dtype=torch.float64)  # (B, 6)
    z2 = z1 + 0.7 * torch.randn(b, 6, generator=gen, dtype=torch.float64)  # (B, 6) related views
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, 6)
    n = 2 * b - 2
    try:
        got = [fn(z1, z2, a, tau, tau_plus) for a in range(2 * b)]
    except Exception as error:  # report it, the learner fixes it
        print(f"Not yet: your function raised {type(error).__name__}: {error}")
        return False
    if any(v is None for v in got):
        print("Not done yet: your function returns None. Fill in its body (a solution is below).")
        return False
    got = torch.tensor([float(v) for v in got], dtype=torch.float64)  # (2B,)
    pos = torch.stack([(z[a] @ z[(a + b) % (2 * b)]) / tau for a in range(2 * b)]).exp()  # (2B,)
    loss = -torch.log(pos / (pos + got)).mean()
    expected = L.debiased_nt_xent(z1, z2, temperature=tau, tau_plus=tau_plus)
    if math.isclose(float(loss), float(expected), rel_tol=1e-8):
        print(f"Check passed: the loss built from your N g ({float(loss):.6f}) matches"
              f" losses.debiased_nt_xent ({float(expected):.6f}).")
        return True
    e = (z @ z.T / tau).exp()  # (2B, 2B)
    neg = [torch.tensor([e[a, k] for k in range(2 * b) if k not in (a, (a + b) % (2 * b))]).sum() for a in range(2 * b)]
    neg = torch.stack(neg)  # (2B,) sums over the 2B-2 negatives
    floor = n * math.exp(-1 / tau)
    variants = {
        "forgot the clamp at N e^(-1/tau)": (neg - tau_plus * n * pos) / (1 - tau_plus),
        "used N = B (the batch size) instead of the 2B-2 negatives":
            ((neg - tau_plus * b * pos) / (1 - tau_plus)).clamp_min(b * math.exp(-1 / tau)),
        "forgot to divide by (1 - tau+)": (neg - tau_plus * n * pos).clamp_min(floor),
        "kept the positive in the negative sum": ((neg + pos - tau_plus * n * pos) / (1 - tau_plus)).clamp_min(floor),
        "returned the plain negative sum (no debiasing)": neg,
        "returned log(N g) instead of N g": ((neg - tau_plus * n * pos) / (1 - tau_plus)).clamp_min(floor).log(),
    }
    print(f"Not yet: the loss from your N g is {float(loss):.6f}, losses.debiased_nt_xent gives {float(expected):.6f}.")
    for mistake, value in variants.items():
        if torch.allclose(got, value, rtol=1e-6):
            print(f"Your values match what you get if you {mistake}.")
            return False
    print("Check the normalisation of the rows and which rows count as negatives (not a, not (a + B) % 2B).")
    return False


check_debiased_ng(my_debiased_ng)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_debiased_ng(z1, z2, a, temperature, tau_plus):
#     b = len(z1)
#     z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D) unit rows
#     e = torch.exp(z @ z[a] / temperature)  # (2B,) e^{s_ak / tau}
#     positive = (a + b) % (2 * b)
#     negatives = [k for k in range(2 * b) if k not in (a, positive)]  # the 2B-2 negatives
#     n = len(negatives)
#     estimate = (e[negatives].sum() - tau_plus * n * e[positive]) / (1 - tau_plus)
#     return max(float(estimate), n * math.exp(-1 / temperature))  # the clamp
#
#
# check_debiased_ng(my_debiased_ng)
# ```
#
# </details>

# %% [markdown]
# ### Exercise 3: the oracle keep-mask
#
# The oracle loss is the NT-Xent core `positive_nll(logits, twin, keep)` with a `(2B, 2B)` boolean
# `keep` mask of each anchor's candidates: its positive (row `(a + B) % 2B`) and every negative of
# another class, never itself. Write `my_oracle_keep(labels)` from the `(B,)` labels. Careful: the
# positive has the *same* label as the anchor, yet it must be kept.

# %%
def my_oracle_keep(labels: torch.Tensor) -> torch.Tensor:
    """(2B, 2B) bool: True where column k is a candidate of anchor a in the oracle loss."""
    # Your code here.
    return None


# %%
def check_oracle_keep(fn) -> bool:
    """Compare fn's mask with the oracle's candidates and rebuild oracle_nt_xent from it."""
    gen = torch.Generator().manual_seed(9)
    b = 10
    labels = torch.randint(0, 3, (b,), generator=gen)  # (B,)
    z1, z2 = torch.randn(b, 4, generator=gen), torch.randn(b, 4, generator=gen)  # (B, 4) each
    done, keep = attempt(fn, labels)
    if not done:
        return False
    keep = torch.as_tensor(keep)
    if keep.shape != (2 * b, 2 * b) or keep.dtype != torch.bool:
        print(f"Not yet: expected a bool tensor of shape (2B, 2B) = {(2 * b, 2 * b)},"
              f" got {keep.dtype} {tuple(keep.shape)}."
              " The stacked batch cat([z1, z2]) has 2B rows: repeat the labels for the second view.")
        return False
    y = labels.repeat(2)  # (2B,)
    twin = twin_index(b, torch.device("cpu"))  # (2B,)
    rows = torch.arange(2 * b)
    expected = (y[:, None] != y[None, :])  # (2B, 2B) other-class candidates
    expected[rows, twin] = True  # and the positive
    if keep[rows, rows].any():
        print("Not yet: some anchors keep themselves (the diagonal must be False).")
        return False
    if not keep[rows, twin].all():
        print("Not yet: some anchors lost their positive: it has the anchor's label, but it must be kept.")
        return False
    if (keep & ~expected).any():
        print("Not yet: your mask keeps same-class negatives; the oracle drops every negative of the anchor's class.")
        return False
    if (expected & ~keep).any():
        print("Not yet: your mask drops some negatives of another class; those are true negatives, keep them.")
        return False
    loss = positive_nll(two_view_logits(z1, z2, 0.5), twin, keep).mean()
    reference = L.oracle_nt_xent(z1, z2, labels, temperature=0.5)
    print(f"Check passed: your mask rebuilds oracle_nt_xent ({loss.item():.5f} vs {reference.item():.5f});"
          f" it keeps {int(keep.sum(1).float().mean())} of the {2 * b - 1} other rows per anchor on average.")
    return True


check_oracle_keep(my_oracle_keep)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_oracle_keep(labels):
#     b = len(labels)
#     y = labels.repeat(2)  # (2B,) labels of the stacked views
#     keep = y[:, None] != y[None, :]  # (2B, 2B) other-class candidates (the diagonal is False)
#     rows = torch.arange(2 * b)
#     keep[rows, (rows + b) % (2 * b)] = True  # the positive, although it shares the label
#     return keep
#
#
# check_oracle_keep(my_oracle_keep)
# ```
#
# </details>

# %% [markdown]
# ## Summary
#
# - With $K$ balanced classes about $1/K$ of random negatives share the anchor's class
#   (`metrics.collision_rate`); at small $K$ that is a large share of the negatives.
# - Removing them with labels (the oracle loss) and correcting for them without labels (the debiased
#   loss, $\tau^+$) change the negative term in different ways. The debiased loss rescales each
#   anchor's negative sum using the positive as its same-class estimate and, at the clamp, stops the
#   repulsion. Whether either helps on this toy is in the printed verdict, not in this summary.
# - A similarity-threshold or cluster filter trades false negatives caught against true negatives
#   lost, and it is only as good as the similarities it reads: a reference model that already keeps
#   classes together filters well, the model that random negatives are shaping does not.
#
# ## Further reading
#
# - C.-Y. Chuang, J. Robinson, L. Yen-Chen, A. Torralba, S. Jegelka (2020). *Debiased Contrastive
#   Learning*. NeurIPS. [arXiv:2007.00224](https://arxiv.org/abs/2007.00224)
# - S. Arora, H. Khandeparkar, M. Khodak, O. Plevrakis, N. Saunshi (2019). *A Theoretical Analysis of
#   Contrastive Unsupervised Representation Learning* (class collisions in the theory).
#   [arXiv:1902.09229](https://arxiv.org/abs/1902.09229)
# - J. Robinson, C.-Y. Chuang, S. Sra, S. Jegelka (2021). *Contrastive Learning with Hard Negative
#   Samples*. ICLR. [arXiv:2010.04592](https://arxiv.org/abs/2010.04592)
# - K. Zhou, B. Zhang, W. X. Zhao, J.-R. Wen (2022). *Debiased Contrastive Learning of Unsupervised
#   Sentence Representations* (DCLR). ACL. [arXiv:2205.00656](https://arxiv.org/abs/2205.00656)
# - J. Deng, F. Wan, T. Yang, X. Quan, R. Wang (2023). *Clustering-Aware Negative Sampling for
#   Unsupervised Sentence Representation* (ClusterNS). Findings of ACL. [arXiv:2305.09892](https://arxiv.org/abs/2305.09892)
# - Y. Xue, S. Joshi, E. Gan, P.-Y. Chen, B. Mirzasoleiman (2023). *Which Features are Learnt by
#   Contrastive Learning? On the Role of Simplicity Bias in Class Collapse and Feature Suppression*
#   (the `feature_mix` toy). ICML. [arXiv:2305.16536](https://arxiv.org/abs/2305.16536)
