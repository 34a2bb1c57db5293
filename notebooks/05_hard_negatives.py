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
# # 05 · Hard negatives: the negatives that teach, and the ones that lie
#
# Most negatives in a contrastive batch are easy: they are already far from the anchor, so the loss
# barely pushes on them. The few that sit close to the anchor, the **hard negatives**, carry most of
# the learning signal. They are also the most likely to be **false negatives**: samples of the
# anchor's own class that the loss pushes away by mistake. This notebook looks at four ways to get
# more out of hard negatives, and at what each one costs.
#
# **Learning goals.** You will be able to
#
# - say what makes a negative hard, and show on a labelled toy that the hardest negatives are the
#   ones most often of the anchor's own class;
# - reweight negatives by hardness with $\beta$ (Robinson et al. 2021; the HN-NCE loss of DiHT) with
#   `losses.hard_negative_nt_xent` or the training method `"debiased"`, and measure its effect on
#   kNN and linear-probe accuracy;
# - mine the top-$k$ negatives below a similarity ceiling with `samplers.mine_hard_negatives`, and
#   read the trade-off between false negatives and hardness;
# - (optional sections) make synthetic hard negatives by mixing (MoCHi) with
#   `contrastlab.lessons.hard_negatives`, and build batches from clusters (B3) with
#   `samplers.ClusterBatchSampler`.
#
# **Prerequisites.** `00_start_here` (InfoNCE and NT-Xent as cross-entropies over similarities
# divided by a temperature $\tau$). Knowing the debiased loss (Chuang et al. 2020) helps but is not needed.
#
# **Expected run time.** Under a minute in fast mode (`CONTRASTLAB_FAST=1`, what CI runs) and under two
# minutes in full mode on a 2-core laptop CPU; no downloads.
#
# **In class.** The core path is sections 1–4 and Exercises 1–2, about 75 minutes. Sections 5 and 6
# and Exercise 3 are optional (about 25 minutes more): they run either way, and nothing later needs them.

# %% [markdown]
# ## Setup
#
# `setup()` from `contrastlab.lessons` does the set-up in one call: it seeds torch, picks the device
# (CUDA or Apple MPS when present, else CPU), runs torch on one thread on a CPU (the models are tiny,
# and threads that compete for the cores slow them down: `contrastlab.runtime` has the measurement)
# and reads fast mode, which CI turns on with `CONTRASTLAB_FAST=1` to shrink the sizes.

# %%
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

import torch.nn.functional as F
from plotly.subplots import make_subplots

from contrastlab import data as D, losses as L, metrics as M, samplers
from contrastlab.interactive import figures as viz
from contrastlab.interactive.widgets import HardNegativeExplorer
from contrastlab.lessons import hard_negatives as NEG, setup, verdicts
from contrastlab.lessons.exercises import attempt
from contrastlab.stats import mean_interval
from contrastlab.train import fit

lesson = setup(seed=0)  # torch.manual_seed(0), the device, the thread policy, fast mode; prints one line
device, FAST = lesson.device, lesson.fast

# %% [markdown]
# ## 1. What makes a negative hard
#
# Take one anchor $a$ with positive similarity $s^+$ and negatives with similarities $s_j$. The
# InfoNCE loss $\ell_a = -\log \frac{e^{s^+/\tau}}{e^{s^+/\tau} + \sum_j e^{s_j/\tau}}$ pushes on
# negative $j$ with the gradient
#
# $$\frac{\partial \ell_a}{\partial s_j} = \frac{1}{\tau}\,\frac{e^{s_j/\tau}}{e^{s^+/\tau} + \sum_k e^{s_k/\tau}},$$
#
# so a negative's share of the push grows *exponentially* with its similarity to the anchor. A
# negative is **hard** when that similarity is high. On real data nobody knows which negatives share
# the anchor's class; on a toy we do. Below: a mixture of 10 classes on the sphere in 16
# dimensions, two noisy views of each point (the positives), and every other point as a negative.

# %%
toy = D.vmf_mixture(1024, n_classes=10, dim=16, concentration=20, view_noise=0.15, seed=0, device=device)
views = toy.views(generator=toy.generator(0))  # (N, 2, D) two views of every point
z1, z2, y = views[:, 0], views[:, 1], toy.labels  # (N, D), (N, D), (N,)
S = M.similarity_matrix(z1, z2)  # (N, N) cosine similarities; the diagonal holds the positives
negative = ~torch.eye(len(y), dtype=torch.bool, device=device)  # (N, N) every off-diagonal pair
false_negative = negative & (y[:, None] == y[None, :])  # (N, N) negatives of the anchor's class

tau, top = 0.2, 10  # temperature; "hardest" = each anchor's top 10 of 1023 negatives (1%)
share = torch.softmax((S / tau).masked_fill(~negative, -math.inf), dim=1)  # (N, N) share of the push
hardest = S.masked_fill(~negative, -math.inf).topk(top, dim=1).indices  # (N, top)
push_on_hardest = share.gather(1, hardest).sum(1).mean().item()
false_in_hardest = false_negative.gather(1, hardest).float().mean().item()
false_overall = (false_negative.sum() / negative.sum()).item()
print(f"the hardest 1% of the negatives receive {push_on_hardest:.0%} of the push at tau = {tau}, "
      f"{push_on_hardest / 0.01:.0f} times their fair share")
print(f"false negatives: {false_overall:.1%} of all negatives, {false_in_hardest:.0%} of the hardest 1%")
viz.similarity_histogram(z1, z2, labels=y, title="Positives, negatives and the false negatives among them")

# %% [markdown]
# The printed numbers say it: a handful of negatives get many times their fair share of the push,
# and most of those are not negatives at all but points of the anchor's class (the red density sits
# at the hard end of the blue one). Everything below is a way to lean on hard negatives *and* keep false ones in check.
#
# **Question.** The class-collision rate here is about $1/10$. What would you expect the share of
# false negatives among the hardest 1% to be with 100 classes? Does the hardness problem go away when
# the classes are many?

# %% [markdown]
# ## 2. Importance reweighting with β
#
# Robinson et al. (2021) sample negatives from a distribution tilted towards the hard ones,
# $q_\beta(x^-) \propto e^{\beta\, s(a, x^-)/\tau}\,p(x^-)$, and estimate it from the batch by
# **importance weights** on the $N$ negatives. (A convention to know when you compare numbers: the
# paper writes the tilt as $e^{\beta s}$, without $/\tau$; the authors' code applies $\beta$ to the
# tempered similarity, $e^{\beta s/\tau}$, and so does this kit, so that our $\beta$ is theirs in the
# code. With the paper's form, their $\beta$ is our $\beta\tau$.)
#
# $$\ell_a = -\log\frac{e^{s^+/\tau}}{e^{s^+/\tau} + N \sum_j w_j\, e^{s_j/\tau}},\qquad
#   w_j = \frac{e^{\beta s_j/\tau}}{\sum_k e^{\beta s_k/\tau}} .$$
#
# At $\beta = 0$ every $w_j = 1/N$ and this is NT-Xent. With a class prior $\tau^+ > 0$ the
# reweighted sum is also debiased (Chuang et al. 2020): $N g = \max\big(\frac{N\sum_j w_j
# e^{s_j/\tau} - \tau^+ N e^{s^+/\tau}}{1-\tau^+},\ N e^{-1/\tau}\big)$. DiHT's HN-NCE loss puts the
# same weights $w_j$ on the negatives of CLIP's image–text loss (Radenovic et al. 2023). In the package
# this is `losses.hard_negative_nt_xent(z1, z2, temperature=, tau_plus=, beta=)`, and the training
# method `"debiased"` with the options `tau_plus` and `beta`.
#
# Each negative's share of the negative term is $\propto w_j e^{s_j/\tau} = e^{(1+\beta)s_j/\tau}$:
# $\beta$ acts like a lower temperature on the negatives only. Two numbers show what that does: the
# **effective number of negatives** $1/\sum_j \pi_j^2$ (for shares $\pi_j$), and the share that lands
# on false negatives.

# %%
tau, betas = 0.5, np.linspace(0, 4, 17)  # tau = 0.5 as in Robinson et al.'s experiments
rows = []
for beta in betas:
    pi = torch.softmax(((1 + beta) * S / tau).masked_fill(~negative, -math.inf), dim=1)  # (N, N) shares
    rows.append(dict(beta=beta, effective=(1 / pi.pow(2).sum(1)).mean().item(),
                     on_false=(pi * false_negative).sum(1).mean().item(),
                     loss=L.hard_negative_nt_xent(z1, z2, temperature=tau, tau_plus=0.0, beta=float(beta)).item()))
reweighting = pd.DataFrame(rows)
same = math.isclose(reweighting.loss[0], L.nt_xent(z1, z2, temperature=tau).item(), rel_tol=1e-5)
print(f"beta = 0 gives NT-Xent: {same}; loss at beta = 0, 1, 2: "
      + ", ".join(f"{v:.3f}" for v in reweighting.set_index("beta").loss.loc[[0.0, 1.0, 2.0]]))

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("effective number of negatives", "share on false negatives"))
fig.add_scatter(x=betas, y=reweighting.effective, mode="lines+markers", row=1, col=1, showlegend=False)
fig.add_scatter(x=betas, y=reweighting.on_false, mode="lines+markers", row=1, col=2, showlegend=False)
fig.update_xaxes(title_text="β")
fig.update_layout(title="Raising β concentrates the negative term on a few, often false, negatives",
                  template="plotly_white", height=360)
fig

# %% [markdown]
# As $\beta$ grows, fewer negatives count and a larger share of the weight falls on same-class
# points: that is why Robinson et al. pair $\beta$ with the debiasing prior $\tau^+$. The loss value
# rises with $\beta$ (a sum tilted towards larger terms is larger); it is not comparable across
# $\beta$, only the trained representation is.
#
# ### Live: the weight on each negative
#
# The app below (`contrastlab.interactive.widgets.HardNegativeExplorer`) shows one anchor of a labelled batch
# (8 classes). Each bar is one negative, hardest first, with its share $\propto e^{(1+\beta)s_j/\tau}$;
# red bars are false negatives. Move β, τ and τ⁺ and watch the losses; lower the ceiling and top-$k$
# to see what the miner of section 4 keeps.

# %%
app = HardNegativeExplorer()
app.widget

# %% [markdown]
# The app's losses come from plain functions on its batch (`app.z1`, `app.z2`, `app.labels`), so we
# can compute them here too: NT-Xent, the debiased loss at $\tau^+$ equal to the batch's collision
# rate, and the oracle loss that removes the false negatives using the labels.

# %%
t, rate = float(app.temperature.value), M.collision_rate(app.labels)
print(f"tau = {t:.2f}, collision rate {rate:.3f}: NT-Xent {L.nt_xent(app.z1, app.z2, temperature=t).item():.3f}, "
      f"debiased {L.debiased_nt_xent(app.z1, app.z2, temperature=t, tau_plus=rate).item():.3f}, "
      f"oracle {L.oracle_nt_xent(app.z1, app.z2, app.labels, temperature=t).item():.3f}")

# %% [markdown]
# **Question.** The debiased loss is meant to estimate the oracle loss without labels. Does it land
# on it here? In the app, move τ⁺ from 0 to the collision rate and watch where it goes.
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# It is an estimate, and with these settings it can overshoot. The same-class part of the negative
# term is estimated from the positive alone, $\tau^+ N e^{s^+/\tau}$; two views of one point are far
# more similar than two points of one class, so at a small $\tau$ it subtracts too much. The
# clamp at $N e^{-1/\tau}$ only stops it from going below the smallest possible value.
#
# </details>

# %% [markdown]
# ## 3. Reproduce the finding: does upweighting hard negatives help?
#
# **Claim** (Robinson et al. 2021, *Contrastive Learning with Hard Negative Samples*): sampling
# harder negatives, $\beta > 0$, gives representations with better downstream accuracy than
# $\beta = 0$, at the same temperature.
#
# **Toy.** Not the sphere mixture of section 1: there the raw inputs are already the classes' own
# coordinates, so a kNN on them sits near the top and no encoder, whatever its loss, has room to
# show an advantage (a verdict against that baseline would be "not tested"). Here the 50 classes
# live in a 4-d latent that the learner sees only through a random 3-layer MLP in 16 dimensions
# (`data.latent_mlp`), so the encoder must undo a nonlinear map, and the raw inputs' kNN, printed
# below, is a baseline it can beat. With 50 classes a random negative shares the anchor's class about
# 2% of the time; the next cell checks how many of the hardest negatives are false ones. We train the
# same MLP encoder with the method `"debiased"` at $\tau = 0.5$, $\tau^+ = 0$ and
# $\beta \in \{0, 0.5, 1, 2\}$, with the same seeds (same initialisation and batches) for every
# $\beta$, on 75% of the points. Then we measure, on the other 25%, the kNN accuracy (20 neighbours,
# cosine) and the linear-probe accuracy of the backbone features, the representation used downstream.
# The verdict uses kNN and is fixed in the next cell, before any run: the arm is $\beta = 1$ (chosen in
# advance; picking the best of four $\beta$ after the runs would favour $\beta > 0$ by selection
# alone), compared with $\beta = 0$ on the same seed. The probe is reported next to it, and the other
# $\beta$ values are shown, not judged.

# %%
rule = verdicts.Rule(
    "05_hard_negatives:reweighting",
    claim="upweighting hard negatives (β > 0) gives better downstream accuracy than β = 0 at the same τ "
          "(Robinson et al. 2021)",
    effect="held-out kNN accuracy at β = 1 minus at β = 0, same seed", direction=+1,
    baseline="the raw inputs' kNN accuracy")
print(rule)

# %%
toy100 = D.vmf_mixture(2000, n_classes=100, dim=16, concentration=30, view_noise=0.15, seed=0, device=device)  # section 6
hard_toy = D.latent_mlp(2000, latent_dim=4, obs_dim=16, n_layers=3, n_classes=50, view_noise=0.1, seed=0,
                        device=device)
views = hard_toy.views(generator=hard_toy.generator(0))  # (2000, 2, D)
S50 = M.similarity_matrix(views[:, 0], views[:, 1]).fill_diagonal_(-math.inf)  # (2000, 2000) negatives only
hardest = S50.topk(20, dim=1).indices  # (2000, 20) each anchor's hardest 1%
fn_hardest = (hard_toy.labels[hardest] == hard_toy.labels[:, None]).float().mean().item()
print(f"50 classes: {M.collision_rate(hard_toy.labels):.1%} of random negatives and {fn_hardest:.0%} of the hardest 1% "
      f"are false negatives (10 classes, section 1: {false_overall:.0%} and {false_in_hardest:.0%})")

# %%
train, test = hard_toy.split(0.25, seed=0)
raw_knn = M.knn_accuracy(train.x, train.labels, test.x, test.labels, k=20)  # the baseline to beat
BETAS, SEEDS, STEPS = (0.0, 0.5, 1.0, 2.0), ((0, 1) if FAST else (0, 1, 2, 3, 4)), (150 if FAST else 500)
runs = []
for beta in BETAS:
    for seed in SEEDS:
        history = fit(train, "debiased", steps=STEPS, batch_size=128, eval_every=0, metrics=("knn",),
                      seed=seed, progress=False, temperature=0.5, tau_plus=0.0, beta=beta)
        f_train, f_test = history.method.features(train.x), history.method.features(test.x)  # (n, 64)
        runs.append(dict(beta=beta, seed=seed,
                         knn=M.knn_accuracy(f_train, train.labels, f_test, test.labels, k=20),
                         probe=M.linear_probe_accuracy(f_train, train.labels, f_test, test.labels)))
runs = pd.DataFrame(runs)
summary = runs.groupby("beta")[["knn", "probe"]].agg(["mean", "std"])
print(f"raw inputs: kNN accuracy {raw_knn:.3f}")
summary.round(3)

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("kNN accuracy (held out)", "linear probe (held out)"))
for col, metric in enumerate(("knn", "probe"), start=1):
    fig.add_scatter(x=runs.beta, y=runs[metric], mode="markers", marker=dict(color="grey", size=7),
                    name="one seed", showlegend=col == 1, row=1, col=col)
    fig.add_scatter(x=summary.index, y=summary[(metric, "mean")], mode="lines+markers",
                    marker=dict(color="#d62728", size=10), name="mean over seeds", showlegend=col == 1,
                    row=1, col=col)
fig.add_hline(y=raw_knn, line=dict(color="black", dash="dot"), annotation_text="raw inputs",
              annotation_position="bottom right", row=1, col=1)
fig.update_xaxes(title_text="β")
fig.update_layout(title=f"Hard-negative reweighting on 50 latent classes ({STEPS} steps, {len(SEEDS)} seeds)",
                  template="plotly_white", height=380)
fig

# %%
knn = runs.pivot(index="seed", columns="beta", values="knn")  # (seeds, betas)
probe = runs.pivot(index="seed", columns="beta", values="probe")
probe_gain = mean_interval(probe[1.0] - probe[0.0])
print(rule.judge(knn[1.0] - knn[0.0], seeds=list(knn.index), model=knn[1.0], reference=[raw_knn] * len(knn),
                 detail=f"linear probe, β = 1 minus β = 0: {probe_gain} (reported, not judged); mean kNN per β: "
                        + ", ".join(f"{b:g}: {knn[b].mean():.3f}" for b in BETAS)))

# %% [markdown]
# **Reading the result.** Read the verdict line, not the table's best column: the mean kNN per $\beta$
# moves by about as much as one seed differs from another, and only the interval over paired seeds can
# tell a gain from that noise. Whatever the outcome, the cell above printed the share of the hardest
# 1% that are false negatives on this toy: $\beta$ moves weight exactly onto them (section 2), which
# is why Robinson et al. pair $\beta$ with the debiasing prior $\tau^+$ (the method's `tau_plus`).
#
# **Question.** Rerun this section with `n_classes=10` (and the same number of points). The
# hardest negatives are then mostly false negatives (section 1). What do you expect for $\beta = 2$,
# and which knob of the `"debiased"` method would you turn to fix it?

# %% [markdown]
# ## 4. Mining with a false-negative ceiling
#
# Instead of reweighting all negatives, a **miner** keeps only the $k$ hardest for each query. To
# avoid the false negatives that crowd the top, it first drops every candidate whose similarity is at
# or above a **ceiling** $c$ (as in NV-Retriever's absolute threshold, Moreira et al. 2024):
#
# $$\mathrm{neg}(i) = \operatorname{top-}k\ \{\, j \ne i : s_{ij} < c \,\}.$$
#
# With the labels of the toy from section 1, `samplers.mine_hard_negatives(..., labels=y)` counts the
# false negatives that got through. We sweep the ceiling down from 1 and record two numbers: the share
# of the mined negatives that are false, and their **hardness** (mean similarity to the query). Two
# reference points: the *oracle* (the $k$ hardest negatives that truly are of another class) and $k$
# random negatives.

# %%
k, ceilings = 16, np.round(np.arange(1.0, 0.25, -0.05), 2)
mining = []
for c in ceilings:
    mined = samplers.mine_hard_negatives(z1, z2, k=k, ceiling=float(c), labels=y)
    mining.append(dict(ceiling=c, false_share=mined.false_negatives_kept / mined.indices.numel(),
                       hardness=mined.similarities.mean().item()))
mining = pd.DataFrame(mining)
true_negative = negative & ~false_negative  # (N, N)
oracle = S.masked_fill(~true_negative, -math.inf).topk(k, dim=1).values.mean().item()  # labels' best
mining

# %%
fig = go.Figure(go.Scatter(x=mining.hardness, y=mining.false_share, mode="lines+markers+text", name="ceiling sweep",
                           text=viz.spaced_labels(mining.hardness, mining.false_share,
                                                  [f"c = {c:.2f}" for c in mining.ceiling]),
                           textposition="top left"))
fig.add_scatter(x=[oracle], y=[0.0], mode="markers", marker=dict(size=12, symbol="star"), name="oracle (labels)")
fig.add_scatter(x=[S[negative].mean().item()], y=[false_overall], mode="markers", marker=dict(size=10),
                name="random negatives")
fig.update_layout(title=f"Top-{k} mining: lowering the ceiling trades hardness for fewer false negatives",
                  xaxis_title="hardness: mean similarity of the mined negatives",
                  yaxis_title="share of false negatives", template="plotly_white", height=400)
fig

# %%
first, last = mining.iloc[0], mining.iloc[-1]
falls = bool((np.diff(mining.false_share) <= 1e-9).all() and last.false_share < first.false_share)
softens = bool((np.diff(mining.hardness) <= 1e-9).all() and last.hardness < first.hardness)
clean = mining[mining.false_share <= 0.2]  # the first ceiling that lets at most 20% false negatives through
reach = (f"the first ceiling with <= 20% false negatives ({clean.ceiling.iloc[0]:.2f}) leaves hardness "
         f"{clean.hardness.iloc[0]:.2f}, below the oracle's {oracle:.2f}" if len(clean) else
         "no ceiling in the sweep gets false negatives below 20%")
print(f"Mining trade-off: {'holds' if falls and softens else 'does not hold cleanly'} — from ceiling "
      f"{first.ceiling:.2f} to {last.ceiling:.2f} the false negatives kept fall from {first.false_share:.0%} to "
      f"{last.false_share:.0%} and the hardness from {first.hardness:.2f} to {last.hardness:.2f}; {reach}.")

# %% [markdown]
# A ceiling cannot tell a false negative from a true hard negative: both are similar to the query,
# and their similarities overlap (section 1's histogram). So it removes both, and the curve never
# reaches the oracle's star. Only information from outside the similarity (labels, a cross-encoder,
# a second view) can.
#
# **Question.** Why does the curve barely move for ceilings between 1.0 and about 0.8? Look at
# section 1's histogram: how many negatives are that similar to their anchor?

# %% [markdown]
# ## 5. Optional: synthetic hard negatives by mixing (MoCHi)
#
# *Optional: skip to the exercises on the core path.*
#
# With a queue of negatives (MoCo), hard negatives can also be *made*. Kalantidis et al. (2020) take
# the $N$ hardest negatives of a query, $\tilde Q$, and add $s$ points mixed from pairs of them and
# $s'$ points mixed with the query itself:
#
# $$h = \frac{\alpha n_i + (1-\alpha) n_j}{\lVert \alpha n_i + (1-\alpha) n_j\rVert},\ \alpha \sim U(0,1);
#   \qquad h' = \frac{\beta q + (1-\beta) n_j}{\lVert \beta q + (1-\beta) n_j\rVert},\ \beta \sim U(0, \tfrac12).$$
#
# `negatives.mochi_negatives(q, queue, n_hardest=, n_mixed=, n_query_mixed=)` returns them as an
# $(N, s + s', D)$ tensor; `NEG.with_real_negatives` appends them to the queue for
# `losses.info_nce(q, k, negatives=(N, M + s + s', D))`. Here the first 256 points of section 1's
# toy are the queries and the other 768 form the queue.

# %%
q, k_pos, queue = z1[:256], z2[:256], z2[256:]  # (256, D) queries and positives, (768, D) queue
synthetic = NEG.mochi_negatives(q, queue, n_hardest=64, n_mixed=32, n_query_mixed=16,
                                generator=torch.Generator(device=device).manual_seed(0))  # (256, 48, D)
queue_sims = M.similarity_matrix(q, queue)  # (256, 768)
pool_sims, pool_idx = queue_sims.topk(64, dim=1)  # (256, 64) the hardest 64: what MoCHi mixes
to_query = torch.einsum("nd,nkd->nk", F.normalize(q, dim=1), synthetic)  # (256, 48) similarity to the query
groups = {"whole queue": queue_sims, "hardest 64": pool_sims,
          "mixed pairs (s = 32)": to_query[:, :32], "mixed with the query (s' = 16)": to_query[:, 32:]}
for name, v in groups.items():
    print(f"{name:<32} mean similarity to the query {v.mean().item():.2f}")
plain = L.info_nce(q, k_pos, queue, temperature=0.2).item()
harder = L.info_nce(q, k_pos, NEG.with_real_negatives(queue, synthetic), temperature=0.2).item()
print(f"InfoNCE with the queue {plain:.3f}; with the queue + 48 synthetic negatives per query {harder:.3f}")
same_in_pool = (y[256:][pool_idx] == y[:256, None]).float().mean().item()
print(f"same-class points among each query's hardest 64: {same_in_pool:.0%} (vs {false_overall:.0%} in the queue)")

# %%
fig = go.Figure([go.Histogram(x=v.flatten().cpu().numpy(), name=name, histnorm="probability density",
                              opacity=0.6, xbins=dict(start=-1, end=1, size=0.025)) for name, v in groups.items()])
fig.update_layout(barmode="overlay", title="MoCHi: synthetic negatives sit at the hard end of the queue",
                  xaxis_title="cosine similarity to the query", yaxis_title="density", template="plotly_white",
                  height=380)
fig

# %% [markdown]
# The synthetic negatives are harder than the real ones they come from, and the query mixes are the
# hardest of all; the loss rises because the task got harder, which is the point. They cost no
# encoder pass: they are mixed from embeddings already in memory.
#
# **Question.** The last printed line says how many of the hardest 64 share the query's class. What
# are the points mixed from them, and what would you need to keep MoCHi from manufacturing false
# negatives?

# %% [markdown]
# ## 6. Optional: batches built from clusters (B3)
#
# *Optional, like section 5.*
#
# With in-batch negatives, the batch *is* the set of negatives. At a small batch size a random batch
# rarely holds two points from neighbouring classes, so its negatives are easy. B3 (Thirukovalluru et
# al. 2025) builds batches from communities of a teacher's similarity graph so that each batch is full
# of strong negatives. `samplers.ClusterBatchSampler` is a simple version of the idea: k-means on
# the current embeddings, batches cut from clusters visited in nearest-centroid order. We compare it
# with random batches on the 100-class toy of section 3 (its clean points stand in for a teacher's
# embeddings), by the **mean in-batch negative similarity** and the share of in-batch pairs that
# are false negatives.

# %%
def in_batch_stats(batches, x, labels):
    """Mean over batches of the mean negative similarity and of the same-class share of the pairs."""
    hard, false = [], []
    for b in batches:
        b = torch.as_tensor(b, device=x.device)
        off = ~torch.eye(len(b), dtype=torch.bool, device=x.device)  # (B, B) the in-batch negative pairs
        hard.append(M.similarity_matrix(x[b])[off].mean().item())
        false.append((labels[b][:, None] == labels[b][None, :])[off].float().mean().item())
    return np.mean(hard), np.mean(false)


# %%
batching = []
for B in (8, 16, 32, 64, 128):
    clustered = list(samplers.ClusterBatchSampler(toy100.x, batch_size=B, seed=0, drop_last=True))
    order = torch.randperm(len(toy100), generator=torch.Generator().manual_seed(0))
    shuffled = [order[i:i + B] for i in range(0, len(order) - B + 1, B)]
    for name, batches in (("cluster batches", clustered), ("random batches", shuffled)):
        hard, false = in_batch_stats(batches, toy100.x, toy100.labels)
        batching.append(dict(batch_size=B, batches=name, hardness=hard, false_share=false))
batching = pd.DataFrame(batching)

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("mean in-batch negative similarity", "share of false negatives"))
for name, color in (("cluster batches", "#d62728"), ("random batches", "#1f77b4")):
    part = batching[batching.batches == name]
    for col, metric in ((1, "hardness"), (2, "false_share")):
        fig.add_scatter(x=part.batch_size, y=part[metric], mode="lines+markers", name=name, legendgroup=name,
                        line=dict(color=color), showlegend=col == 1, row=1, col=col)
fig.update_xaxes(title_text="batch size", type="log")
fig.update_layout(title="Cluster-built batches hold harder (and more false) negatives", template="plotly_white",
                  height=380)
fig

# %%
small = batching[batching.batch_size == 16].set_index("batches")
c, r = small.loc["cluster batches"], small.loc["random batches"]
print(f"B3 check: {'holds' if c.hardness > r.hardness else 'does not hold'} — at batch size 16, cluster-built "
      f"batches have mean in-batch negative similarity {c.hardness:.2f} vs {r.hardness:.2f} for random batches; "
      f"{c.false_share:.0%} vs {r.false_share:.0%} of their pairs are false negatives.")

# %% [markdown]
# Random batches have a mean negative similarity near 0 at every batch size; cluster-built batches
# are far harder, most of all at small batch sizes. The price is the same as in every section above:
# the harder the negatives, the more of them are false. With clusters of about one batch and only
# 20 points per class, many in-batch pairs share a class (printed above); B3 builds its graph from a
# pretrained teacher's ranking, and faces the same risk.
#
# **Question.** `ClusterBatchSampler` clusters fixed embeddings. During training the embeddings
# move; how often would you call `sampler.update(new_embeddings)`, and what does each call cost?

# %% [markdown]
# ## Exercise 1: importance weights
#
# Write `importance_weights(neg_sims, temperature, beta)`: for one anchor's negative similarities
# `neg_sims` (a 1-d tensor), return the weights $w_j = e^{\beta s_j/\tau} / \sum_k e^{\beta s_k/\tau}$
# (they sum to 1). The self-check plugs your weights into the loss of section 2 for every anchor of a
# batch, debiases with $\tau^+ = 0.1$, and compares with `losses.hard_negative_nt_xent` at
# $\beta \in \{0, 1, 2\}$; at $\beta = 0$ it must also equal `losses.debiased_nt_xent`.

# %%
def importance_weights(neg_sims: torch.Tensor, temperature: float, beta: float) -> torch.Tensor:
    """(M,) importance weights of one anchor's M negatives, summing to 1."""
    # Your code here: one line with torch.softmax.
    return None


# %%
def check_importance_weights(fn) -> bool:
    """Rebuild the hard-negative loss from fn's weights and compare with the package."""
    g = torch.Generator().manual_seed(3)
    a = F.normalize(torch.randn(24, 8, generator=g, dtype=torch.float64), dim=1)  # (24, 8) view 1
    b = F.normalize(a + 0.6 * torch.randn(24, 8, generator=g, dtype=torch.float64), dim=1)  # (24, 8) view 2
    z = torch.cat([a, b])  # (48, 8) the 2N anchors of NT-Xent
    sims, twin = z @ z.T, torch.arange(48).roll(24)  # (48, 48), (48,) index of each anchor's positive
    tau, tau_plus, n_neg = 0.5, 0.1, 46
    for beta in (0.0, 1.0, 2.0):
        losses = []
        for i in range(48):
            keep = torch.ones(48, dtype=torch.bool)
            keep[i] = keep[twin[i]] = False  # neither the anchor itself nor its positive
            s_neg, s_pos = sims[i, keep], sims[i, twin[i]]  # (46,), ()
            done, w = attempt(fn, s_neg, tau, beta, name="importance_weights")
            if not done:
                return False
            w = torch.as_tensor(w, dtype=torch.float64)
            if w.shape != s_neg.shape:
                print(f"Not yet: expected one weight per negative, shape {tuple(s_neg.shape)}, got {tuple(w.shape)}.")
                return False
            if not math.isclose(w.sum().item(), 1.0, abs_tol=1e-6):
                print(f"Not yet: the weights sum to {w.sum().item():.4f}; divide by their sum (or use softmax).")
                return False
            if beta == 0.0 and not torch.allclose(w, torch.full_like(w, 1 / n_neg)):
                if torch.allclose(w, torch.softmax(s_neg / tau, 0), atol=1e-9):
                    print("Not yet: you used (1 + beta): that is each negative's share of the sum, w_j e^{s_j/tau}, "
                          "not the weight w_j; at beta = 0 every weight should be 1/M.")
                else:
                    print("Not yet: at beta = 0 every weight should be 1/M (no preference for hard negatives).")
                return False
            if beta > 0:
                hint = {"forgot the temperature (use beta * s / tau)": torch.softmax(beta * s_neg, 0),
                        "used (1 + beta): that is each negative's share of the sum, w_j e^{s_j/tau}, not the weight "
                        "w_j": torch.softmax((1 + beta) * s_neg / tau, 0),
                        "got the sign wrong: hard (similar) negatives must get the larger weights":
                            torch.softmax(-beta * s_neg / tau, 0)}
                for mistake, wrong in hint.items():
                    if torch.allclose(w, wrong, atol=1e-9) and not torch.allclose(wrong, torch.softmax(beta * s_neg / tau, 0)):
                        print(f"Not yet at beta = {beta}: you {mistake}.")
                        return False
            reweighted = n_neg * (w * torch.exp(s_neg / tau)).sum()
            ng = torch.clamp((reweighted - tau_plus * n_neg * torch.exp(s_pos / tau)) / (1 - tau_plus),
                             min=n_neg * math.exp(-1 / tau))
            losses.append(-torch.log(torch.exp(s_pos / tau) / (torch.exp(s_pos / tau) + ng)))
        got = torch.stack(losses).mean().item()
        expected = L.hard_negative_nt_xent(a, b, temperature=tau, tau_plus=tau_plus, beta=beta).item()
        if not math.isclose(got, expected, rel_tol=1e-6):
            print(f"Not yet: at beta = {beta} your weights give the loss {got:.6f}, the package {expected:.6f}. "
                  "Check that the weights grow as exp(beta * s / tau).")
            return False
        if beta == 0.0:
            debiased = L.debiased_nt_xent(a, b, temperature=tau, tau_plus=tau_plus).item()
            assert math.isclose(got, debiased, rel_tol=1e-6), "package inconsistency: please report it"
    print(f"Check passed: your weights reproduce hard_negative_nt_xent at beta = 0, 1, 2 (tau_plus = {tau_plus}), "
          f"and at beta = 0 the debiased loss ({debiased:.4f}).")
    return True


check_importance_weights(importance_weights)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def importance_weights(neg_sims, temperature, beta):
#     return torch.softmax(beta * neg_sims / temperature, dim=0)  # (M,) e^{beta s/tau}, normalised
#
#
# check_importance_weights(importance_weights)
# ```
#
# At $\beta = 0$ the softmax of a constant is uniform, $w_j = 1/M$, so $M\sum_j w_j e^{s_j/\tau}$ is the
# plain sum of the negatives and the loss is the debiased loss (NT-Xent when $\tau^+ = 0$).
#
# </details>

# %% [markdown]
# ## Exercise 2: a top-k miner with a ceiling
#
# Write `mine_one(similarities, k, ceiling, self_index)`: given one query's similarities to all
# candidates (a 1-d tensor), return the indices of the `k` most similar candidates whose similarity is
# **strictly below** `ceiling`, hardest first, never `self_index` (the query's own positive). The
# self-check compares it with `samplers.mine_hard_negatives` on a batch and on a hand-made row.

# %%
def mine_one(similarities: torch.Tensor, k: int, ceiling: float, self_index: int) -> torch.Tensor:
    """(k,) long indices of the k hardest candidates with similarity < ceiling, hardest first."""
    # Your code here: mask self and everything >= ceiling with -inf, then topk.
    return None


# %%
def check_mine_one(fn) -> bool:
    """Compare fn with samplers.mine_hard_negatives and explain the first difference."""
    def run(row, k, ceiling, self_index):
        try:
            got = fn(row.clone(), k, ceiling, self_index)
        except Exception as error:
            print(f"Not yet: your function raised {type(error).__name__}: {error}")
            return None
        if got is None:
            print("Not done yet: mine_one returns None. Fill in its body (a solution is below).")
            return None
        return torch.as_tensor(got).long().flatten().cpu()

    row = torch.tensor([0.95, 0.10, 0.70, 0.60, 0.70 - 1e-4, 0.30, 0.50, 0.65])  # index 7 is self
    got = run(row, 3, 0.7, 7)
    if got is None:
        return False
    if 7 in got.tolist():
        print("Not yet: you returned the query's own positive (self_index); it is never a negative.")
        return False
    if 0 in got.tolist() or 2 in got.tolist():
        print("Not yet: candidates at or above the ceiling must be dropped (0.95 and exactly 0.70 here): use s < ceiling.")
        return False
    if sorted(got.tolist()) == [1, 5, 6]:
        print("Not yet: you kept the easiest candidates; the hard negatives are the most similar ones (topk, largest).")
        return False
    if got.tolist() != [4, 3, 6]:
        order = " Same candidates, different order: sort hardest first." if sorted(got.tolist()) == [3, 4, 6] else ""
        print(f"Not yet: on the row {[round(v, 4) for v in row.tolist()]} with k = 3, ceiling 0.7, self 7, "
              f"expected [4, 3, 6] (hardest first), got {got.tolist()}.{order}")
        return False
    mined = samplers.mine_hard_negatives(z1[:128].cpu(), z2[:128].cpu(), k=8, ceiling=0.6)  # (128, 8)
    sims = M.similarity_matrix(z1[:128], z2[:128]).cpu()  # (128, 128)
    for i in range(0, 128, 9):
        got = run(sims[i], 8, 0.6, i)
        if got is None:
            return False
        if i in got.tolist():
            print(f"Not yet: query {i}: you returned its own positive (index {i}); it is never a negative.")
            return False
        if got.tolist() != mined.indices[i].tolist():
            same_set = set(got.tolist()) == set(mined.indices[i].tolist())
            print(f"Not yet: query {i}: expected {mined.indices[i].tolist()}, got {got.tolist()}."
                  + (" Same candidates, different order: sort hardest first." if same_set else ""))
            return False
    print("Check passed: your miner matches samplers.mine_hard_negatives (ceiling, self exclusion, order).")
    return True


check_mine_one(mine_one)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def mine_one(similarities, k, ceiling, self_index):
#     s = similarities.clone()  # (M,) never modify the input
#     s[self_index] = -math.inf  # the query's own positive is not a negative
#     s[s >= ceiling] = -math.inf  # likely false negatives
#     return s.topk(k).indices  # (k,) hardest first
#
#
# check_mine_one(mine_one)
# ```
#
# The package does the same for a whole batch at once, in chunks of 1024 queries, and raises an
# error when fewer than `k` candidates pass the ceiling (here `topk` would silently return `-inf` ones).
#
# </details>

# %% [markdown]
# ## Exercise 3 (optional, with section 5): mix two negatives, MoCHi-style
#
# Write `mix_two(a, b, alpha)`: the unit vector in the direction of $\alpha\,\hat a + (1-\alpha)\,\hat b$
# (hats: scaled to unit length). The self-check tests that the result lies on the sphere, between its
# two parents, and equals `NEG.mix`.

# %%
def mix_two(a: torch.Tensor, b: torch.Tensor, alpha: float) -> torch.Tensor:
    """(D,) unit vector between the (D,) vectors a and b; alpha is the share of a."""
    # Your code here: normalise a and b, mix, normalise again.
    return None


# %%
def check_mix_two(fn) -> bool:
    """On the sphere, between the parents, and equal to contrastlab.lessons.hard_negatives.mix."""
    g = torch.Generator().manual_seed(4)
    for trial in range(5):
        a, b = 2.0 * torch.randn(16, generator=g), 0.5 * torch.randn(16, generator=g)  # (16,), not unit length
        alpha = float(torch.rand(1, generator=g))
        done, h = attempt(fn, a, b, alpha, name="mix_two")
        if not done:
            return False
        h = torch.as_tensor(h, dtype=torch.float32).flatten()
        if not math.isclose(h.norm().item(), 1.0, abs_tol=1e-5):
            print(f"Not yet: the result has length {h.norm().item():.4f}; normalise it onto the unit sphere.")
            return False
        a_hat, b_hat = F.normalize(a, dim=0), F.normalize(b, dim=0)
        expected = NEG.mix(a, b, alpha)
        if torch.allclose(h, F.normalize(alpha * a + (1 - alpha) * b, dim=0), atol=1e-5) and \
                not torch.allclose(h, expected, atol=1e-5):
            print("Not yet: normalise a and b before mixing, or the longer vector dominates the mix.")
            return False
        if torch.allclose(h, NEG.mix(b, a, alpha), atol=1e-5) and not torch.allclose(h, expected, atol=1e-5):
            print("Not yet: alpha is the share of a; you gave it to b.")
            return False
        cos_ab = (a_hat @ b_hat).item()
        if (h @ a_hat).item() < cos_ab - 1e-5 or (h @ b_hat).item() < cos_ab - 1e-5:
            print("Not yet: the mix should lie between its parents (closer to each than they are to each other).")
            return False
        if not torch.allclose(h, expected, atol=1e-5):
            print(f"Not yet: trial {trial}: your vector differs from negatives.mix(a, b, alpha) by "
                  f"{(h - expected).abs().max().item():.2e}.")
            return False
    print("Check passed: your mix lies on the sphere between its parents and equals negatives.mix.")
    return True


check_mix_two(mix_two)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def mix_two(a, b, alpha):
#     a, b = F.normalize(a, dim=0), F.normalize(b, dim=0)  # (D,) unit parents
#     return F.normalize(alpha * a + (1 - alpha) * b, dim=0)  # (D,) back onto the sphere
#
#
# check_mix_two(mix_two)
# ```
#
# Why a mix of two hard negatives is hard: if $q^\top n_i \ge c$ and $q^\top n_j \ge c$ with $c \ge 0$,
# then $q^\top(\alpha n_i + (1-\alpha) n_j) \ge c$, and normalising divides by a length $\le 1$, which
# can only raise it.
#
# </details>

# %% [markdown]
# ## Summary
#
# - A negative is hard when it is similar to the anchor; InfoNCE's push on it grows like
#   $e^{s/\tau}$, so a few hard negatives carry most of the signal, and on class-structured data
#   they are also the likeliest false negatives.
# - Reweighting with $\beta$ (Robinson et al.; DiHT's HN-NCE) tilts the negative term towards hard
#   negatives; on a 100-class toy it changed the kNN accuracy as the verdict above reports. Pair it
#   with $\tau^+$ when classes are few.
# - Mining under a ceiling, mixing synthetic negatives (MoCHi) and cluster-built batches (B3) all
#   raise hardness, and each one shows the same trade-off: the harder the negatives, the more false
#   negatives come with them unless information beyond the similarity filters them.
#
# ## Further reading
#
# - J. Robinson, C.-Y. Chuang, S. Sra, S. Jegelka (2021). *Contrastive Learning with Hard Negative
#   Samples*. ICLR. [arXiv:2010.04592](https://arxiv.org/abs/2010.04592)
# - C.-Y. Chuang, J. Robinson, L. Yen-Chen, A. Torralba, S. Jegelka (2020). *Debiased Contrastive
#   Learning*. NeurIPS. [arXiv:2007.00224](https://arxiv.org/abs/2007.00224)
# - F. Radenovic et al. (2023). *Filtering, Distillation, and Hard Negatives for Vision-Language
#   Pre-Training* (DiHT, HN-NCE). CVPR. [arXiv:2301.02280](https://arxiv.org/abs/2301.02280)
# - Y. Kalantidis, M. B. Sariyildiz, N. Pion, P. Weinzaepfel, D. Larlus (2020). *Hard Negative Mixing
#   for Contrastive Learning* (MoCHi). NeurIPS. [arXiv:2010.01028](https://arxiv.org/abs/2010.01028)
# - R. Thirukovalluru et al. (2025). *Breaking the Batch Barrier (B3) of Contrastive Learning via
#   Smart Batch Mining*. [arXiv:2505.11293](https://arxiv.org/abs/2505.11293)
# - G. Moreira et al. (2024). *NV-Retriever: Improving text embedding models with effective
#   hard-negative mining*. [arXiv:2407.15831](https://arxiv.org/abs/2407.15831)
