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
# # 06 · False negatives: random, oracle and debiased negatives
#
# A contrastive loss treats every other sample in the batch as a negative. But when the data has
# classes, some of those "negatives" share the anchor's class: they are **false negatives**, and the
# loss pushes them away even though a downstream task wants them close. This notebook measures how
# often that happens, what it costs, and the label-free **debiased** loss of Chuang et al. (2020);
# an optional section adds **filtering** suspicious negatives by similarity or cluster (DCLR, ClusterNS).
#
# **Learning goals.** You will be able to
#
# - compute the class-collision rate of a batch and relate it to the number of classes $K$ ($\approx 1/K$);
# - write the three negative terms side by side: random (NT-Xent), oracle (true negatives only) and
#   debiased ($\tau^+$), and call `contrastlab.losses.nt_xent`, `oracle_nt_xent` and `debiased_nt_xent`;
# - test Chuang et al.'s claim on a toy where false negatives are the mechanism, with decision rules
#   fixed before the runs, and read the verdict against the raw-input baseline;
# - measure the clamp rate of the debiased loss and explain why a wrong $\tau^+$ makes it worse than
#   plain NT-Xent;
# - (optional) measure the precision / recall trade-off of a similarity-threshold false-negative filter.
#
# **Prerequisites.** Notebook 00 (InfoNCE / NT-Xent as a cross-entropy over similarities); what a
# kNN accuracy measures.
#
# **Expected run time.** Full mode: about 1 minute on a 2-core laptop (30 training runs of 300
# steps; 60 s of kernel CPU measured); fast mode (`CONTRASTLAB_FAST=1`): about 25 s (9 runs; 22 s of kernel CPU).
# No downloads.
# Core path: about 70 minutes with the exercises; the two "Optional" sections add about 30.

# %% [markdown]
# ## Setup
#
# `setup()` seeds torch, picks the device (CUDA or MPS when present, else one CPU thread) and reads
# fast mode (`CONTRASTLAB_FAST=1`, which CI sets to shrink the sizes).

# %%
import math

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

import torch.nn.functional as F

import contrastlab.data as D
import contrastlab.losses as L
import contrastlab.metrics as M
from contrastlab.interactive import widgets
from contrastlab.lessons import false_negatives as filtering
from contrastlab.lessons import setup, verdicts
from contrastlab.samplers import spherical_kmeans
from contrastlab.stats import mean_interval

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
# | random, or plain (`nt_xent`, "simclr") | $\sum_{k \ne a, a^+} e^{s_{ak}/\tau}$ | no |
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
# (abstract, Figure 1): with labels, drawing negatives only from other classes (the "unbiased", here
# **oracle**, loss) beats random negatives; the **debiased** loss, which corrects for same-class
# negatives knowing only the class prior $\tau^+$, recovers part of that gain without labels.
#
# **Toy: false negatives are the mechanism.** `data.vmf_mixture` with $K = 4$ classes in 128
# dimensions (concentration 30): a sample's only class information is the cluster it is near, and a
# quarter of the random negatives share the anchor's class. A view adds noise of 0.085 per coordinate.
# Plain NT-Xent pushes same-class samples apart; the oracle lets each class contract. We train on 2000
# points and score the backbone features on 1000 held-out points (so the oracle's labels cannot leak
# into the score) with **kNN** (20 neighbours, cosine) and a **linear probe**. All arms: $\tau = 0.5$
# (the paper's), batch 128, the same seeds; debiased with $\tau^+ = 1/K$, the true class prior.
#
# The baseline to beat is the **raw-input kNN**. The cell also prints the Bayes rule's accuracy (it
# knows the class means: no classifier does better) and how similar two views of one point are
# compared with two points of one class, which the debiased loss assumes alike (section 2).

# %%
K = 4
toy = D.vmf_mixture(3000, n_classes=K, dim=128, concentration=30, view_noise=0.085, seed=0, device=device)
train, test = toy.split(1 / 3, seed=0)  # 2000 to train on, 1000 held out
raw = filtering.held_out_scores(train.x, train.labels, test.x, test.labels)  # the baseline to beat
bayes = (test.x @ toy.means.T).argmax(1).eq(test.labels).float().mean().item()  # nearest class mean: Bayes
v = train.views(generator=train.generator(5))  # (2000, 2, 128)
view_cos = F.cosine_similarity(v[:, 0], v[:, 1]).mean().item()
same = train.labels[:, None] == train.labels[None, :]  # (2000, 2000)
same_cos = M.similarity_matrix(train.x)[same.fill_diagonal_(False)].mean().item()
print(f"raw inputs: held-out kNN {raw['knn']:.3f}, linear probe {raw['linear']:.3f}; Bayes rule {bayes:.3f}")
to_mean = (train.x * toy.means[train.labels]).sum(1).mean().item()  # cosine of a point to its class mean
print(f"collision rate {M.collision_rate(train.labels):.3f}; mean cosine of a point to its class mean {to_mean:.2f};"
      f" of two views of one point {view_cos:.2f}, of two points of one class {same_cos:.2f}")

# %% [markdown]
# The decision rules, fixed before the runs: the first checks that the mechanism is there, the second
# is the paper's claim. Its effect, the **share of the oracle gap recovered**, is each seed's
# debiased-minus-plain gain over the mean oracle gap (`filtering.recovered_share`; 1 = all of it).

# %%
rules = {
    "oracle_gap": verdicts.Rule(
        "06_false_negatives:oracle_gap",
        claim="dropping same-class negatives (oracle) beats random negatives (Chuang et al. 2020, Fig. 1)",
        effect="held-out kNN accuracy, oracle minus plain NT-Xent, same seed", direction=+1,
        baseline="the raw inputs' kNN accuracy"),
    "debiased": verdicts.Rule(
        "06_false_negatives:debiased",
        claim="the debiased loss with τ⁺ = the class prior recovers part of the oracle's gain without labels "
              "(Chuang et al. 2020)",
        effect="share of the oracle gap recovered, (debiased − plain) / mean(oracle − plain), held-out kNN",
        direction=+1, baseline="the raw inputs' kNN accuracy"),
}
for rule in rules.values():
    print(rule)

# %%
SEEDS, STEPS = ((0, 1) if FAST else (0, 1, 2, 3, 4)), 300
runs = [filtering.run_arm(train, test, arm, seed=seed, steps=STEPS, tau_plus=1 / K if arm == "debiased" else None)
        for seed in SEEDS for arm in filtering.ARMS]  # plain, debiased, oracle on each seed
table = pd.DataFrame([{k: r[k] for k in ("arm", "seed", "knn", "linear", "clamp")} for r in runs])
models = {(r["arm"], r["seed"]): r["model"] for r in runs}
knn = table.pivot(index="seed", columns="arm", values="knn")  # (seeds, arms)
linear = table.pivot(index="seed", columns="arm", values="linear")
table.groupby("arm", sort=False)[["knn", "linear", "clamp"]].agg(["mean", "std"]).round(3)

# %%
names = {"plain": "plain NT-Xent (random negatives)", "debiased": f"debiased, τ⁺ = 1/K = {1 / K:g}",
         "oracle": "oracle (true negatives only)"}
short = {"plain": "plain", "debiased": "debiased, τ⁺ = 1/K", "oracle": "oracle"}
fig = make_subplots(rows=1, cols=2, subplot_titles=("held-out kNN accuracy", "held-out linear probe"))
for col, frame in enumerate((knn, linear), start=1):
    for arm in filtering.ARMS:
        fig.add_scatter(x=[short[arm]] * len(frame), y=frame[arm], mode="markers", marker=dict(size=9),
                        name="one seed" if arm == "plain" else None, showlegend=False, row=1, col=col)
    fig.add_hline(y=raw["knn" if col == 1 else "linear"], line=dict(dash="dot", color="black"),
                  annotation_text="raw inputs", annotation_position="bottom right", row=1, col=col)
    fig.add_hline(y=bayes, line=dict(dash="dash", color="grey"), annotation_text="Bayes rule",
                  annotation_position="top right", row=1, col=col)
fig.update_xaxes(tickangle=0, tickfont=dict(size=10))
fig.update_layout(title=f"Three arms on 4 classes ({STEPS} steps, {len(SEEDS)} seeds, one dot per seed)",
                  template="plotly_white", height=420)
fig

# %%
gap = knn["oracle"] - knn["plain"]  # (seeds,)
print(rules["oracle_gap"].judge(gap, seeds=SEEDS, model=knn["oracle"], reference=[raw["knn"]] * len(SEEDS),
                                detail=f"linear probe, oracle minus plain: {mean_interval(linear['oracle'] - linear['plain'])}"
                                       " (reported, not judged)"))
if gap.mean() > 0:
    share = filtering.recovered_share(knn["plain"], knn["debiased"], knn["oracle"])  # (seeds,)
    clamp = table.loc[table.arm == "debiased", "clamp"]
    print(rules["debiased"].judge(
        share, seeds=SEEDS, model=knn["debiased"], reference=[raw["knn"]] * len(SEEDS),
        detail=f"clamp rate of the debiased arm at the end of training: {clamp.mean():.0%} of anchors "
               f"(seeds {clamp.min():.0%}-{clamp.max():.0%}); kNN gain debiased − plain "
               f"{mean_interval(knn['debiased'] - knn['plain'])}"))
else:
    print(f"Verdict: not tested — the oracle gap is {gap.mean():+.3f}, not positive, so there is no gain to "
          "recover; run more steps (full mode) before reading the debiased rule.")
above = [arm for arm in filtering.ARMS if (linear[arm] > raw["linear"]).all()]
print(f"Linear probe (reported, not judged): raw inputs {raw['linear']:.3f}; "
      + ", ".join(f"{arm} {linear[arm].mean():.3f}" for arm in filtering.ARMS)
      + f"; above the raw inputs' probe on every seed: {', '.join(above) if above else 'no arm'}")

# %% [markdown]
# **Question.** Read the two verdicts and the clamp rate printed under the second. If the debiased
# estimate were exact, what clamp rate would you expect? What does the rate measured here tell you about
# the assumption that the positive looks like a typical same-class sample (compare the two cosines
# printed at the start of this section)?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# The true-negative term can only sit at the floor $N e^{-1/\tau}$ when every true negative is exactly
# opposite the anchor, which practically never happens: an exact estimate is (almost) never clamped.
# Every clamped anchor is one where the subtraction $\tau^+ N e^{s_{a,a^+}/\tau}$ was larger than the
# whole same-class share of the negative sum, because the positive, two views of *one* point, is
# more similar to the anchor than a typical point of its class (the cosines printed above, in the
# input space; the optional section below measures it in the embedding). The correction
# over-subtracts, and for a
# clamped anchor the loss stops pushing any negative away. Section 4 measures what that costs as
# $\tau^+$ grows.
#
# </details>

# %% [markdown]
# ## 4. Where a wrong τ⁺ and the clamp stop it working
#
# $\tau^+$ is a guess of the class prior. Too small and the correction does little; too large and
# the subtraction hits the floor for more and more anchors. The cell reruns the debiased arm on the
# same seeds with other values of $\tau^+$ (the runs at $0$, which is plain NT-Xent, and at $1/K$
# come from section 3) and records the held-out kNN accuracy and the clamp rate. This is a measurement,
# not a verdict: the cell prints each $\tau^+$ against plain NT-Xent with its interval over seeds.

# %%
SWEEP_SEEDS = SEEDS[:1] if FAST else SEEDS
sweep = [filtering.run_arm(train, test, "debiased", seed=seed, steps=STEPS, tau_plus=t)
         for t in (0.1, 0.4, 0.6) for seed in SWEEP_SEEDS]
# τ⁺ = 0 is plain NT-Xent, which never clamps: a sum of N terms e^{s/τ} >= e^{-1/τ} is at least N e^{-1/τ}
sweep += [dict(r, tau_plus=0.0, clamp=0.0) if r["arm"] == "plain" else r for r in runs
          if r["seed"] in SWEEP_SEEDS and r["arm"] in ("plain", "debiased")]
by_tau = pd.DataFrame([{k: r[k] for k in ("tau_plus", "seed", "knn", "clamp")} for r in sweep])
curve = by_tau.groupby("tau_plus")[["knn", "clamp"]].mean()  # (5, 2): mean over the sweep's seeds
wide = by_tau.pivot(index="seed", columns="tau_plus", values="knn")  # (seeds, 5)
oracle_knn = knn.loc[list(SWEEP_SEEDS), "oracle"].mean()
for t in curve.index[1:]:
    print(f"τ⁺ = {t:<4g} clamp {curve.clamp[t]:>4.0%}  kNN {curve.knn[t]:.3f}, minus plain (same seed)"
          f" {mean_interval(wide[t] - wide[0.0])}")

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("held-out kNN accuracy", "clamped anchors (end of training)"))
fig.add_scatter(x=by_tau.tau_plus, y=by_tau.knn, mode="markers", marker=dict(color="grey", size=6),
                name="one seed", row=1, col=1)
fig.add_scatter(x=curve.index, y=curve.knn, mode="lines+markers", name="debiased, mean", line=dict(color="#d62728"),
                row=1, col=1)
fig.add_hline(y=oracle_knn, line=dict(dash="dash", color="#2ca02c"), annotation_text="oracle",
              annotation_position="top right", row=1, col=1)
fig.add_hline(y=raw["knn"], line=dict(dash="dot", color="black"), annotation_text="raw inputs",
              annotation_position="bottom right", row=1, col=1)
fig.add_scatter(x=curve.index, y=curve.clamp, mode="lines+markers", name="clamp rate, mean",
                line=dict(color="#1f77b4"), row=1, col=2)
fig.add_vline(x=1 / K, line=dict(dash="dot", color="grey"), annotation_text="true prior 1/K", row=1, col=1)
fig.add_vline(x=1 / K, line=dict(dash="dot", color="grey"), row=1, col=2)
fig.update_xaxes(title_text="τ⁺ (0 = plain NT-Xent)", tickvals=list(curve.index))
fig.update_yaxes(tickformat=".0%", range=[0, 1], row=1, col=2)
fig.update_layout(title=f"The debiased loss as τ⁺ grows ({len(SWEEP_SEEDS)} seed(s), {STEPS} steps)",
                  template="plotly_white", height=380)
fig

# %% [markdown]
# **Question.** Where the clamp rate is high, what is left of the loss for those anchors, and why does
# the accuracy fall below plain NT-Xent there rather than merely back to it?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# A clamped anchor's loss is $\log(e^{s^+/\tau} + N e^{-1/\tau}) - s^+/\tau$: it only pulls the
# positive closer. Its repulsion is off for *all* negatives, true ones included, so the embedding
# loses the spreading force that keeps other classes away; plain NT-Xent at least repels everything.
# With one positive per anchor as the same-class estimate ($M = 1$), a larger $\tau^+$ subtracts more
# and clamps more anchors; the printed intervals say from which $\tau^+$ on this toy the loss does
# worse than plain NT-Xent. Chuang et al.'s remedy for the estimate is more same-class samples
# ($M > 1$), which a label-free method does not have.
#
# </details>

# %% [markdown]
# ## Optional: the estimate against the truth, anchor by anchor
#
# *Skippable (about 10 minutes).* With labels we can check the estimate directly:
# `filtering.debiased_negative_term` returns, per anchor, the debiased estimate $N g_a$ and the truth
# it stands for, $N$ times the mean of $e^{s/\tau}$ over the anchor's true (other-class) negatives.
# The cell evaluates both on a fresh training batch, embedded by the plain and the debiased model of
# seed 0, at $\tau^+ = 1/K$.

# %%
idx = torch.arange(128, device=device)
v = train.views(idx, generator=train.generator(7))  # (128, 2, 128) fresh views
fig = go.Figure()
for arm in ("plain", "debiased"):
    model = models[arm, SEEDS[0]]
    term = filtering.debiased_negative_term(model.project(v[:, 0]), model.project(v[:, 1]), train.labels[idx],
                                            temperature=0.5, tau_plus=1 / K)
    ratio = (term.log_estimate - term.log_truth).exp()  # (256,) estimate / truth, 1 = unbiased
    print(f"{names[arm]:<34} estimate / truth median {ratio.median():.2f} (IQR {ratio.quantile(0.25):.2f}"
          f"-{ratio.quantile(0.75):.2f}); clamped anchors {term.clamped.float().mean():.0%}")
    fig.add_scatter(x=term.log_truth.cpu().numpy(), y=term.log_estimate.cpu().numpy(), mode="markers",
                    name=f"embedded by the {arm} model", marker=dict(size=4, opacity=0.6))
lo, hi = float(min(t.x.min() for t in fig.data)), float(max(t.x.max() for t in fig.data))
fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(dash="dash", color="grey"), name="estimate = truth")
fig.update_layout(title="Debiased estimate of the true-negative term vs its true value (per anchor, τ⁺ = 1/K)",
                  template="plotly_white", xaxis_title="log true-negative term (from labels)",
                  yaxis_title="log debiased estimate N g", height=400)
fig

# %% [markdown]
# **Question.** Points on the horizontal line at the bottom are clamped anchors. Are the other points
# above or below the diagonal, and what does that say about the sign of the estimate's bias?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Read the printed medians: a ratio below 1 means the estimate is too small, i.e. the subtraction of
# $\tau^+ N e^{s^+/\tau}$ removed more than the same-class negatives contribute. That is the
# over-subtraction of section 3's answer, measured anchor by anchor; the clamp is its extreme.
#
# </details>

# %% [markdown]
# ## Optional: filtering false negatives by similarity (DCLR) or cluster (ClusterNS)
#
# *Skippable (about 20 minutes).*
# Without labels, a negative that is *very* similar to the anchor is a suspect. DCLR (Zhou et al. 2022)
# gives weight 0 to negatives whose similarity under a frozen reference model exceeds a threshold
# $\phi$. ClusterNS (Deng et al. 2023) runs k-means and treats the anchor's cluster-mates as false
# negatives. `L.filtered_nt_xent` implements both as a keep mask on the NT-Xent core:
#
# $$\ell_a = \log\Big(e^{s_{a,a^+}/\tau} + \sum_{k \ne a, a^+:\ \cos(r_a, r_k) < \phi} e^{s_{ak}/\tau}\Big) - s_{a,a^+}/\tau .$$
#
# A filter is a classifier of negatives, so it has **precision** (share of the dropped negatives that
# really were false negatives), **recall** (share of the false negatives it caught) and a **cost**
# (share of the true negatives it threw away). The cell sweeps $\phi$ on held-out points of section 3's
# toy with two reference models of seed 0: the one trained with random negatives, and the oracle one,
# which stands in for a better pretrained model (DCLR's reference is a pretrained sentence encoder).

# %%
idx = torch.arange(512, device=device)
x, y4 = test.x[idx], test.labels[idx]  # (512, 128), (512,) held-out points
thresholds = np.round(np.linspace(-0.2, 1.0, 61), 3)
curves, kmeans = {}, {}
for method in ("plain", "oracle"):
    r = models[method, SEEDS[0]].project(x)  # (512, E) reference embeddings of clean inputs
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
# plain (random-negative) model, the cell compares NT-Xent, the threshold filter (deciding with the oracle
# model's similarities, at the $\phi$ that catches half the false negatives, as printed above), the
# k-means filter, and the oracle loss.

# %%
v = test.views(idx[:128], generator=test.generator(11))  # (128, 2, d)
z1, z2 = models["plain", SEEDS[0]].project(v[:, 0]), models["plain", SEEDS[0]].project(v[:, 1])  # (128, E) each
reference = models["oracle", SEEDS[0]].project(torch.cat([v[:, 0], v[:, 1]]))  # (256, E) DCLR-style frozen reference
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
filtering.check_collision_rate(my_collision_rate)

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
# filtering.check_collision_rate(my_collision_rate)
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
filtering.check_debiased_ng(my_debiased_ng)

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
# filtering.check_debiased_ng(my_debiased_ng)
# ```
#
# </details>

# %% [markdown]
# ## Optional: exercise 3, the oracle keep-mask
#
# *Skippable (about 10 minutes).*
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
filtering.check_oracle_keep(my_oracle_keep)

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
# filtering.check_oracle_keep(my_oracle_keep)
# ```
#
# </details>

# %% [markdown]
# ## Summary
#
# - With $K$ balanced classes about $1/K$ of random negatives share the anchor's class
#   (`metrics.collision_rate`); at small $K$ that is a large share of the negatives.
# - Removing them with labels (the oracle loss) and correcting for them without labels (the debiased
#   loss, $\tau^+$) change the negative term in different ways; on a class-cluster toy the printed
#   verdicts say whether each helps, with an interval over seeds and against the raw-input baseline.
# - The debiased loss uses the positive as its same-class estimate. Positives are closer than typical
#   same-class pairs, so it over-subtracts; the clamp rate measures how often an anchor's repulsion is
#   switched off, and it grows with $\tau^+$ until the loss does worse than plain NT-Xent.
# - (Optional) A similarity or cluster filter trades false negatives caught against true negatives
#   lost, and it is only as good as the similarities of its reference model.
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
#   (`data.feature_mix`, the kit's feature-suppression toy, whose positives share a per-sample
#   feature). ICML. [arXiv:2305.16536](https://arxiv.org/abs/2305.16536)
