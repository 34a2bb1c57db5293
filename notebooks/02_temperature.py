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
# # 02 · Temperature: how τ decides which negatives matter
#
# Every contrastive loss in this kit divides its similarities by a temperature τ before the softmax.
# That one number decides *which* negatives the encoder learns from: a small τ hands almost all of the
# gradient to the few most similar ("hardest") negatives, a large τ spreads it evenly. This notebook
# computes that effect exactly, then trains at many temperatures to test a published claim about
# what it does to the embedding: the **uniformity–tolerance dilemma** (Wang & Liu 2021).
#
# **Learning goals.** You will be able to
#
# - write the gradient of InfoNCE with respect to each similarity and read the temperature as the
#   sharpness of a softmax over the negatives (Wang & Liu's *relative penalty*);
# - measure how much of the gradient goes to the hardest negatives, and show that this share grows
#   as τ falls;
# - run a τ sweep and read uniformity, tolerance and kNN accuracy against τ, and say where the
#   dilemma shows and where this toy departs from the paper;
# - explain what CLIP's *learnable* temperature does during training.
#
# **Prerequisites.** `00_start_here` (InfoNCE as a cross-entropy, uniformity); softmax and its
# gradient; what a kNN classifier is.
#
# **Expected run time.** Fast mode (`CONTRASTLAB_FAST=1`, what CI runs): about 15–20 s on a laptop CPU,
# kernel start included. Full mode: about 30–40 s (16 short SimCLR runs and 2 CLIP runs). No downloads.

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
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

import contrastlab
from contrastlab import data, losses, metrics
from contrastlab.lessons import temperature as temp
from contrastlab.interactive.widgets import TemperatureExplorer
from contrastlab.lessons.exercises import attempt
from contrastlab.lessons import setup

lesson = setup(seed=0)  # torch.manual_seed(0), the device, the thread policy, fast mode; prints one line
device, FAST = lesson.device, lesson.fast

# %% [markdown]
# ## 1 · τ is the sharpness of a softmax over the negatives
#
# Take one anchor $i$ with similarities $s_{ij}$ to its candidates, its positive $i^+$ among them.
# InfoNCE is $\ell_i = \log\sum_j e^{s_{ij}/\tau} - s_{i i^+}/\tau$, and its gradient with respect to
# each similarity is the softmax $P_{ij} = e^{s_{ij}/\tau} / \sum_k e^{s_{ik}/\tau}$ again:
#
# $$\frac{\partial \ell_i}{\partial s_{i i^+}} = -\frac{1 - P_{i i^+}}{\tau}, \qquad
#   \frac{\partial \ell_i}{\partial s_{ij}} = \frac{P_{ij}}{\tau}\quad (j \ne i^+).$$
#
# So the push on negative $j$, as a fraction of the total push on all negatives, is a softmax over
# **the negatives alone**, which Wang & Liu call the *relative penalty*:
#
# $$r_{ij} = \frac{e^{s_{ij}/\tau}}{\sum_{k \ne i^+} e^{s_{ik}/\tau}} .$$
#
# A more similar negative gets exponentially more push, and τ sets how steeply. To see real numbers we
# need a batch with structure: two noisy views of points from 20 clusters on the sphere
# (`data.vmf_mixture`), used directly as embeddings. A negative from the anchor's own cluster is
# similar to it: a *hard* negative.

# %%
toy = data.vmf_mixture(2000, n_classes=20, dim=16, concentration=20, view_noise=0.1, seed=0, device=device)
batch = torch.arange(256, device=device)
views = toy.views(batch, generator=toy.generator(1))  # (256, 2, 16) two views of each point
sim = metrics.similarity_matrix(views[:, 0], views[:, 1])  # (256, 256), positives on the diagonal
same_class = toy.labels[batch][:, None] == toy.labels[batch][None, :]  # (256, 256)

anchor = 0
negatives = torch.cat([sim[anchor, :anchor], sim[anchor, anchor + 1:]])  # (255,) the anchor's negatives
order = negatives.argsort(descending=True)  # hardest first
fig = go.Figure()
for tau in (0.05, 0.2, 1.0):
    r = temp.relative_penalty(sim, temperature=tau)[anchor]  # (256,), 0 at the positive
    r_neg = torch.cat([r[:anchor], r[anchor + 1:]])[order]  # (255,) hardest first
    fig.add_scatter(x=np.arange(1, 256), y=r_neg.cpu().numpy(), mode="lines+markers", marker_size=4, name=f"τ = {tau}")
fig.update_layout(title=f"Relative penalty r_ij of anchor {anchor}'s 255 negatives, hardest first",
                  xaxis_title="negative, by rank of similarity (1 = hardest)", yaxis_title="share of the push r_ij",
                  xaxis_type="log", yaxis_type="log", template="plotly_white", height=380)
fig

# %% [markdown]
# At τ = 1 the curve is nearly flat: every negative gets close to 1/255 of the push. At τ = 0.05 the
# first few negatives take most of it (section 2 measures how much) and the easy ones get almost
# nothing. **Question.** Two negatives have similarities 0.8 and 0.6 to the anchor. What is the
# ratio of their pushes at τ = 1, and at τ = 0.05?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# $r_{ij}/r_{ik} = e^{(s_{ij} - s_{ik})/\tau}$: $e^{0.2} \approx 1.22$ at τ = 1, but $e^{4} \approx 55$
# at τ = 0.05. Only differences of similarities matter, measured in units of τ.
#
# </details>

# %% [markdown]
# ## 2 · The hardness-aware gradient, exactly
#
# Wang & Liu call the loss **hardness-aware**: the share of the push that the $k$ hardest negatives
# receive, $\sum_{j \in \text{top-}k} r_{ij}$, grows as τ falls, from $k/(C-1)$ (every negative alike)
# towards 1 (the hardest negatives only). It grows *monotonically*: with $\beta = 1/\tau$,
#
# $$\frac{d}{d\beta} \log \sum_{j \in \text{top-}k} r_{ij} = \bar s_{\text{top-}k} - \textstyle\sum_j r_{ij} s_{ij} \;\ge\; 0,$$
#
# because the top-$k$ similarities average at least as much as any weighted average of all of them.
# The cell computes the share for every anchor of the batch over a grid of τ and checks that it
# never decreases as τ falls.

# %%
taus = torch.logspace(-2, 1, 31).tolist()  # 0.01 ... 10
ks = (1, 5, 25)
shares = {k: torch.stack([temp.hardest_share(sim, temperature=t, k=k) for t in taus]) for k in ks}  # (31, 256) each
fig = go.Figure()
for k, s in shares.items():
    fig.add_scatter(x=taus, y=s.mean(1).cpu().numpy(), mode="lines+markers", name=f"top {k} of 255")
    fig.add_scatter(x=taus, y=[k / 255] * len(taus), mode="lines", line_dash="dot", showlegend=False,
                    line_color="gray", hoverinfo="skip")
fig.update_layout(title="Share of the negatives' gradient on the k hardest negatives (mean over 256 anchors)",
                  xaxis_title="temperature τ", yaxis_title="share", xaxis_type="log", template="plotly_white",
                  height=380)
fig

# %%
falls = {k: bool((s[:-1] >= s[1:] - 1e-6).all()) for k, s in shares.items()}  # taus ascending: share never rises
print("Check: the top-k share never decreases as τ falls, for every anchor:", falls)
nearest = lambda value: min(range(len(taus)), key=lambda i: abs(taus[i] - value))  # noqa: E731
i_small, i_large = nearest(0.05), nearest(1.0)
for k in ks:
    print(f"  top {k:>2}: {shares[k][i_large].mean():.1%} of the push at τ = {taus[i_large]:.2f}, "
          f"{shares[k][i_small].mean():.1%} at τ = {taus[i_small]:.3f} (uniform weighting: {k / 255:.1%})")
off_diagonal = ~torch.eye(256, dtype=torch.bool, device=device)  # (256, 256) the negatives
hardest5 = sim.masked_fill(~off_diagonal, -math.inf).topk(5, dim=1).indices  # (256, 5)
print(f"Same-cluster negatives: {same_class[off_diagonal].float().mean():.1%} of all negatives, "
      f"{same_class.gather(1, hardest5).float().mean():.1%} of each anchor's 5 hardest.")

# %% [markdown]
# The dotted lines are the shares under uniform weighting. **Question.** The last line printed above
# compares how often a negative comes from the anchor's own cluster, overall and among its 5 hardest.
# What does that mean for "hard negatives" at a small τ, if the clusters were the classes you care
# about?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# The hardest negatives of an anchor are far more often its cluster-mates than a random negative is,
# so at a small τ much of the push
# separates points of the *same* class. That is the root of the dilemma in section 3: a small τ
# spreads the embedding out (uniformity) by breaking up semantic neighbourhoods (tolerance).
#
# </details>
#
# ### Live: move τ yourself
#
# The explorer shows one anchor's softmax over its candidates (left, the positive in green) and each
# negative's share of the push (right). It starts on anchor 0's positive and 12 of its negatives,
# from the hardest to the easiest; type your own similarities in the box (the positive first).

# %%
picked = negatives[order][torch.linspace(0, 254, 12).round().long()]  # 12 negatives, hardest to easiest
explorer = TemperatureExplorer(similarities=[float(sim[anchor, anchor])] + picked.tolist(), temperature=0.2)
explorer.widget

# %% [markdown]
# ## 3 · Reproduce the finding: the uniformity–tolerance dilemma
#
# **The claim** (Wang & Liu 2021, *Understanding the Behaviour of Contrastive Loss*). Because a small
# τ concentrates the push on the nearest negatives, training with a small τ gives a more **uniform**
# embedding but a lower **tolerance**: samples of the same class are pushed apart. A large τ does the
# opposite. Downstream accuracy, which needs both separable classes and intact neighbourhoods, peaks
# at an **intermediate** τ. The two measures:
#
# $$\mathcal L_{\text{uniform}} = \log \mathbb E_{i \ne j}\, e^{-2\lVert \hat z_i - \hat z_j\rVert^2}
#   \ \text{(lower = more uniform)}, \qquad
#   T = \mathbb E_{y_i = y_j}\big[\hat z_i^\top \hat z_j\big]\ \text{(higher = more tolerant)}.$$
#
# **The toy.** SimCLR (NT-Xent) on the 20 clusters of section 1 with an 8-dimensional embedding, at
# τ from 0.02 to 5, two seeds in full mode (one seed and four τ in fast mode). We score the embedding
# the loss sees (`metrics.uniformity`, `metrics.tolerance`, and kNN accuracy of the cluster labels,
# `knn_projection`), on 1000 held-fixed evaluation points. `temp.sweep_temperature` runs
# `contrastlab.fit` once per (τ, seed).

# %%
sweep_taus = (0.02, 0.1, 0.5, 5.0) if FAST else (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
seeds = (0,) if FAST else (0, 1)
make_toy = lambda seed: data.vmf_mixture(2000, n_classes=20, dim=16, concentration=20,  # noqa: E731
                                         view_noise=0.1, seed=seed, device=device)
table = temp.sweep_temperature(make_toy, sweep_taus, seeds=seeds, method="simclr", steps=100 if FAST else 200,
                               batch_size=256, out_dim=8)
columns = ["uniformity", "tolerance", "knn_projection", "knn"]
mean = table.groupby("tau")[columns].mean()  # one row per τ, averaged over seeds
print(mean.round(3).to_string())

# %%
fig = make_subplots(rows=1, cols=3, subplot_titles=("uniformity (lower = more uniform)",
                                                    "tolerance (same-class cosine)", "kNN accuracy"))
for col, name in enumerate(("uniformity", "tolerance", "knn_projection"), start=1):
    fig.add_scatter(x=mean.index, y=mean[name], mode="lines+markers", name=f"{name}, mean",
                    row=1, col=col, line_color="#4c78a8")
    fig.add_scatter(x=table["tau"], y=table[name], mode="markers", marker=dict(color="#4c78a8", opacity=0.35),
                    name=f"{name}, each seed", showlegend=False, row=1, col=col)
fig.add_scatter(x=mean.index, y=mean["knn"], mode="lines+markers", line_dash="dash", line_color="#f58518",
                name="kNN on backbone features", row=1, col=3)
fig.update_xaxes(type="log", title_text="τ")
fig.update_layout(title=f"SimCLR on 20 clusters: the embedding against τ ({len(seeds)} seed(s))",
                  template="plotly_white", height=380, legend=dict(orientation="h", y=-0.25))
fig

# %% [markdown]
# The verdict below is computed from the table: for each sub-claim it finds the range of τ over
# which the numbers go the way the paper says (`temp.monotone_from`), and whether kNN accuracy
# peaks strictly inside the grid (also seed by seed).

# %%
grid = list(mean.index)
u, t, knn = mean["uniformity"], mean["tolerance"], mean["knn_projection"]
u_from = temp.monotone_from(grid, u, increasing=True)  # uniformity rises with τ (less uniform) from here on
t_from = temp.monotone_from(grid, t, increasing=True)  # tolerance rises with τ from here on
best = float(knn.idxmax())
per_seed = [float(g.set_index("tau")["knn_projection"].idxmax()) for _, g in table.groupby("seed")]
interior = all(grid[0] < b < grid[-1] for b in [best, *per_seed])
lo, hi = grid[0], grid[-1]
print(f"uniformity falls as τ falls: {'holds on the whole grid' if u_from == lo else f'holds for τ ≥ {u_from:g}'}"
      f" ({u[hi]:.2f} at τ = {hi:g} -> {u[u_from]:.2f} at τ = {u_from:g}; {u[lo]:.2f} at τ = {lo:g})")
print(f"tolerance rises with τ:      {'holds on the whole grid' if t_from == lo else f'holds for τ ≥ {t_from:g}'}"
      f" ({t[t_from]:.2f} at τ = {t_from:g} -> {t[hi]:.2f} at τ = {hi:g}; {t[lo]:.2f} at τ = {lo:g})")
print(f"kNN peaks at an interior τ:  {'yes' if interior else 'no'}: best τ = {best:g} ({knn[best]:.3f}); "
      f"per seed {per_seed}; ends {knn[lo]:.3f} at τ = {lo:g}, {knn[hi]:.3f} at τ = {hi:g}")
seed_from = {seed: (temp.monotone_from(g["tau"], g["uniformity"]), temp.monotone_from(g["tau"], g["tolerance"]))
             for seed, g in table.groupby("seed")}
print(f"seed by seed, (uniformity, tolerance) trends hold from τ = {seed_from}")
print(f"kNN range over τ: {knn.max() - knn.min():.3f} on the embedding, "
      f"{mean['knn'].max() - mean['knn'].min():.3f} on the backbone features")

# %%
trend_from = max(u_from, t_from)  # both trends hold from here up to the largest τ
numbers = (f"uniformity {u[trend_from]:.2f} at τ = {trend_from:g} vs {u[hi]:.2f} at τ = {hi:g}, tolerance "
           f"{t[trend_from]:.2f} vs {t[hi]:.2f}; kNN accuracy best at τ = {best:g} ({knn[best]:.3f}) against "
           f"{knn[lo]:.3f} at τ = {lo:g} and {knn[hi]:.3f} at τ = {hi:g}")
if interior and trend_from == lo:
    word, caveat = "agrees", ""
elif interior and sum(g >= trend_from for g in grid) >= 3:
    word, caveat = "partly agrees", (f"; but below τ = {trend_from:g} both trends reverse (uniformity "
                                     f"{u[lo]:.2f}, tolerance {t[lo]:.2f} at τ = {lo:g})")
else:
    word = "disagrees"
    caveat = "; kNN accuracy does not peak inside the grid" if not interior else \
        f"; the trends hold only for τ ≥ {trend_from:g}"
print(f"Verdict: {word} — {numbers}{caveat}")

# %% [markdown]
# **Reading the result.** In our runs (the verdict gives the numbers), from τ ≈ 0.1 upwards the toy
# behaves as the paper describes: raising τ makes the embedding less uniform and more tolerant, and
# the best kNN accuracy sits in between, where the clusters are spread apart but not torn apart. Two
# further observations:
#
# - **Below τ ≈ 0.1 this toy leaves the paper's picture:** the embedding gets *less* uniform and
#   *more* tolerant again (the τ = 0.02 row of the table). Section 2 suggests why: by τ = 0.05 most
#   of the push already goes to the 5 nearest negatives, and the share only grows as τ falls;
#   Exercise 3 shows that as τ → 0 the loss becomes a triplet loss on the single hardest negative.
#   Such a loss says nothing about the far-away bulk of the negatives, so nothing spreads the
#   embedding over the whole sphere.
#   This is our reading of the numbers, not a claim from the paper.
# - The dashed line is kNN accuracy on the backbone features (before the projection head). Its range
#   over τ (the last line printed above the verdict) is smaller than that of the embedding the loss
#   shapes: in this toy the head absorbs part of the effect.
#
# **Question.** The paper tunes τ per dataset. Which knob of this toy would you expect to move the
# best τ, and in which direction? (Try `n_classes=5` or `view_noise=0.2` in `make_toy`.)
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Anything that changes how many hard negatives are false negatives. With fewer classes more of the
# nearest negatives share the anchor's class, so tolerance matters more and a larger τ should win;
# with stronger views (more noise) the positives are harder and the balance shifts again. Run it
# and see: the verdict cell recomputes itself.
#
# </details>

# %% [markdown]
# ## 4 · CLIP learns its temperature
#
# CLIP (Radford et al. 2021) does not tune τ: it learns a logit scale $t = 1/\tau = e^{w}$ with the
# rest of the model, starting at τ = 0.07 and capped at $t = 100$ (τ = 0.01). Its gradient is the
# derivative of the loss with respect to the sharpness, so τ moves towards the value that best fits
# the *current* embeddings: the τ at which the softmax's confidence matches how well the pairs can be
# told apart. Here are two two-tower runs on `data.paired_modalities`, one started at τ = 0.07 and one
# at τ = 1; `History` records the temperature at every evaluation. For the final embeddings of each
# run, the cell also finds the τ that minimises the loss on a batch of 256 pairs with the encoders
# frozen.

# %%
pairs = data.paired_modalities(2000, seed=0, device=device)
a, b = pairs.views(torch.arange(256, device=device), generator=pairs.generator(7))  # 256 held-out-style pairs
grid_tau = torch.logspace(-2.5, 0.5, 61).tolist()  # 0.003 ... 3
fig, learned, best = go.Figure(), {}, {}
for tau0 in (0.07, 1.0):
    history = contrastlab.fit(pairs, "clip", steps=150 if FAST else 300, batch_size=256, lr=1e-2, schedule="constant",
                              eval_every=10, metrics=("top1",), seed=0, progress=False, init_scale=1 / tau0)
    fig.add_scatter(x=history.frame["step"], y=history.frame["temperature"], mode="lines", name=f"start τ = {tau0}")
    za, zb = history.method.project(a), history.method.project_b(b)  # (256, 32) each, encoders frozen
    best[tau0] = min(grid_tau, key=lambda g: float(losses.clip_loss(za, zb, logit_scale=1 / g)))
    learned[tau0] = history.last()["temperature"]
    print(f"start τ = {tau0}: learned τ {learned[tau0]:.3f}, top-1 retrieval {history.last()['top1']:.3f}; "
          f"the frozen final embeddings have their lowest loss at τ = {best[tau0]:.3f}")
print("Check: τ fell in both runs:", all(learned[t0] < t0 for t0 in learned),
      "| both end above the τ that fits their final embeddings best:", all(learned[t0] > best[t0] for t0 in learned))
fig.add_scatter(x=[0, history.last()["step"]], y=[0.01, 0.01], mode="lines", line_dash="dot", line_color="gray",
                name="CLIP's cap, τ = 0.01")
fig.update_layout(title="CLIP's learnable temperature during training", xaxis_title="step",
                  yaxis_title="temperature τ = 1 / logit scale", yaxis_type="log", template="plotly_white", height=380)
fig

# %% [markdown]
# Both runs lower their temperature, and both end *above* the τ that would best fit their final
# embeddings. That target is lower for the better-trained towers (compare the two runs), so as
# training improves the embeddings the learnable τ keeps being pulled down; Radford et al. clip the
# scale at 100 because they found it necessary to keep training stable. In our runs the one started
# at τ = 1 ends at a higher τ and retrieves worse (the printed top-1): a learnable τ does not make
# its starting value irrelevant.
#
# **Question.** The learnable τ is whatever lowers the training loss. Why does that not settle the
# uniformity–tolerance trade-off of section 3?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# τ is fitted to the training objective: it calibrates the softmax of *instance* discrimination, so
# it settles where the pairs are told apart most confidently. Nothing in that objective knows about
# classes, so nothing stops it from going to a τ that hurts tolerance. iSogCLR (Qiu et al. 2023)
# changes the objective instead: a robust loss whose per-sample temperatures come out larger for
# samples with frequent semantics (to keep their neighbourhoods) and smaller for rare ones.
#
# </details>

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: the relative penalty, checked by autograd
#
# Write `my_relative_penalty(similarity, temperature)` for an `(N, N)` similarity matrix whose
# positives sit on the diagonal: return the `(N, N)` matrix $r_{ij}$, a softmax of $s_{ij}/\tau$ over
# each row's **negatives only**, with 0 on the diagonal. The check compares it with the gradient of
# InfoNCE computed by autograd, normalised over the negatives, exactly as in section 1.

# %%
def my_relative_penalty(similarity: torch.Tensor, temperature: float) -> torch.Tensor:
    """(N, N) similarities, positives on the diagonal -> (N, N) relative penalties, 0 on the diagonal."""
    # Your code here: mask the diagonal out of a softmax over each row.
    return None


# %%
def check_relative_penalty(fn) -> bool:
    """Compare fn with the autograd gradient of InfoNCE, normalised over the negatives."""
    tau = 0.1
    s = sim[:32, :32].detach().double().cpu().requires_grad_(True)  # (32, 32) positives on the diagonal
    F.cross_entropy(s / tau, torch.arange(32), reduction="sum").backward()
    grad = s.grad.clone().fill_diagonal_(0)  # (32, 32) the push on each negative, P_ij / tau
    expected = grad / grad.sum(1, keepdim=True)
    done, got = attempt(fn, s.detach(), tau)
    if not done:
        return False
    got = torch.as_tensor(got).detach().double().cpu()
    if got.shape != expected.shape:
        print(f"Not yet: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}.")
        return False
    if torch.allclose(got, expected, atol=1e-6):
        print("Check passed: your r_ij equals the InfoNCE gradient on each negative divided by the total, "
              "and matches temp.relative_penalty.")
        return True
    if got.diagonal().abs().max() > 1e-6:
        print("Not yet: the diagonal (the positive) is not 0. The positive is not a negative: leave it out "
              "of the softmax, e.g. set its logit to -inf before softmax.")
    elif torch.allclose(got, expected.T, atol=1e-6) or torch.allclose(got.sum(0), torch.ones(32, dtype=got.dtype)):
        print("Not yet: your columns sum to 1, not your rows. Take the softmax along dim=1.")
    elif torch.allclose(got, temp.relative_penalty(s.detach(), temperature=1.0), atol=1e-6):
        print("Not yet: that is the softmax at τ = 1. Divide the similarities by the temperature first.")
    else:
        print(f"Not yet: largest difference {float((got - expected).abs().max()):.3g}. Each row should be "
              "exp(s_ij/τ) over the sum of exp(s_ik/τ) over the negatives k of that row.")
    return False


check_relative_penalty(my_relative_penalty)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_relative_penalty(similarity, temperature):
#     logits = similarity / temperature  # (N, N)
#     eye = torch.eye(len(logits), dtype=torch.bool, device=logits.device)
#     logits = logits.masked_fill(eye, float("-inf"))  # the positive is not a negative
#     return torch.softmax(logits, dim=1)  # (N, N), rows sum to 1, 0 on the diagonal
#
#
# check_relative_penalty(my_relative_penalty)
# ```
#
# The common factor $1/\tau$ and the positive's term cancel in the normalisation: the relative
# penalty depends only on the negatives' similarities and τ.
#
# </details>

# %% [markdown]
# ### Exercise 2: at which τ does the hardest negative get half the push?
#
# For anchor 0 of section 1, find the temperature $\tau_{1/2}$ at which its hardest negative receives
# exactly half of the push on all 255 negatives, $\max_j r_{0j} = 1/2$. Section 2 showed that this
# share falls steadily as τ rises, so a bisection on $\log\tau$ between $10^{-4}$ and $10^{2}$ finds it.
# `temp.hardest_share(sim[:1], temperature=τ, k=1)` gives the share at any τ.

# %%
def half_weight_temperature(similarity_row: torch.Tensor, positive_index: int = 0) -> float:
    """τ at which the hardest negative of this anchor gets half of the negatives' push."""
    # Your code here: bisection on log(τ) using temp.hardest_share (or your own softmax).
    return None


# %%
def check_half_weight(fn) -> bool:
    row = sim[anchor]  # (256,) anchor 0: its positive is column 0
    done, got = attempt(fn, row, positive_index=anchor)
    if not done:
        return False
    got = float(got)
    if not got > 0:
        print(f"Not yet: a temperature must be > 0, got {got}.")
        return False
    position = torch.tensor([anchor], device=device)
    share = float(temp.hardest_share(row[None], temperature=got, k=1, positive_index=position))
    if abs(share - 0.5) < 1e-3:
        hardest = float(negatives.max())
        print(f"Check passed: at τ = {got:.4f} the hardest negative (s = {hardest:.3f}) gets {share:.4f} of the "
              f"push; below this τ it gets more than the other 254 negatives together.")
        return True
    p = metrics.candidate_probabilities(row[None], temperature=got, positive_index=position)[0]  # (256,)
    with_positive = float(torch.cat([p[:anchor], p[anchor + 1:]]).max())  # hardest negative, positive counted
    if abs(with_positive - 0.5) < 1e-3:
        print("Not yet: at your τ the hardest negative has P = 0.5 among all candidates, positive included. "
              "The relative penalty is a softmax over the negatives only.")
    else:
        print(f"Not yet: at τ = {got:.4g} the hardest negative gets {share:.4f} of the push, not 0.5. "
              "If the share is too large, τ is too small (and the other way round).")
    return False


check_half_weight(half_weight_temperature)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def half_weight_temperature(similarity_row, positive_index=0):
#     row = similarity_row[None]  # (1, C)
#     position = torch.tensor([positive_index], device=row.device)
#     low, high = math.log(1e-4), math.log(1e2)  # share > 1/2 at low, < 1/2 at high
#     for _ in range(60):
#         middle = (low + high) / 2
#         share = float(temp.hardest_share(row, temperature=math.exp(middle), k=1, positive_index=position))
#         low, high = (middle, high) if share > 0.5 else (low, middle)
#     return math.exp((low + high) / 2)
#
#
# check_half_weight(half_weight_temperature)
# ```
#
# </details>

# %% [markdown]
# ### Exercise 3: the τ → 0 limit is a triplet loss
#
# Write the limit of InfoNCE as τ → 0: with the positive on the diagonal,
#
# $$\ell_i \;\approx\; \frac{1}{\tau}\max\Big(\max_{j \ne i} s_{ij} - s_{ii},\; 0\Big),$$
#
# a triplet loss with margin 0 on the single hardest negative. Return its mean over the anchors. The
# check compares it with `losses.info_nce` at smaller and smaller τ: since
# $\ell_i = m_i/\tau + \log\sum_j e^{(s_{ij} - s_{ii})/\tau - m_i/\tau}$ with $m_i$ the max above, the
# difference must stay in $[0, \log N]$, so the limit takes over as τ → 0.

# %%
def triplet_limit(similarity: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over anchors of max(hardest negative - positive, 0) / τ, positives on the diagonal."""
    # Your code here.
    return None


# %%
def check_triplet_limit(fn) -> bool:
    q, k = views[:64, 0], views[:64, 1]  # (64, 16) each: a noisy batch, some positives are beaten
    s = metrics.similarity_matrix(q, k)  # (64, 64)
    gap = s.masked_fill(torch.eye(64, dtype=torch.bool, device=device), -math.inf).max(1).values - s.diagonal()  # (64,)
    mistakes = {"forgot the max with 0 (an anchor whose positive wins contributes 0, not a negative number)":
                lambda tau: float(gap.mean() / tau),
                "forgot to divide by τ": lambda tau: float(gap.clamp_min(0).mean()),
                "summed over the anchors instead of taking the mean": lambda tau: float(gap.clamp_min(0).sum() / tau)}
    rows = []
    for tau in (0.1, 0.03, 0.01, 0.003):
        done, got = attempt(fn, s, tau)
        if not done:
            return False
        rows.append((tau, float(losses.info_nce(q, k, temperature=tau)), float(got), float(gap.clamp_min(0).mean() / tau)))
    if not all(math.isclose(got, ref, rel_tol=1e-4, abs_tol=1e-6) for _, _, got, ref in rows):
        tau, _, got, _ = rows[-1]
        wrong = [m for m, value in mistakes.items() if math.isclose(got, value(tau), rel_tol=1e-4, abs_tol=1e-6)]
        print(f"Not yet: at τ = {tau} your limit is {got:.4f}, expected {rows[-1][3]:.4f}. "
              + (f"It matches what you get if you {wrong[0]}." if wrong else
                 "Use the hardest negative of each row (the max off the diagonal), not the mean of the negatives."))
        return False
    print(f"{'τ':>6} {'InfoNCE':>10} {'limit':>10} {'difference':>11}")
    for tau, exact, got, _ in rows:
        print(f"{tau:>6} {exact:>10.3f} {got:>10.3f} {exact - got:>11.4f}")
    if not all(-1e-4 <= exact - got <= math.log(64) for _, exact, got, _ in rows):
        print("Not yet: InfoNCE minus your limit left [0, log 64]; compare your function with the formula.")
        return False
    print(f"Check passed: InfoNCE minus the limit stays in [0, log 64 = {math.log(64):.2f}] and the limit takes "
          f"over as τ → 0: at τ = 0.003 it is {rows[-1][2] / rows[-1][1]:.1%} of InfoNCE.")
    return True


check_triplet_limit(triplet_limit)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def triplet_limit(similarity, temperature):
#     positive = similarity.diagonal()  # (N,)
#     eye = torch.eye(len(similarity), dtype=torch.bool, device=similarity.device)
#     hardest = similarity.masked_fill(eye, float("-inf")).max(dim=1).values  # (N,)
#     return ((hardest - positive).clamp_min(0) / temperature).mean()
#
#
# check_triplet_limit(triplet_limit)
# ```
#
# An anchor whose positive already beats every negative contributes nothing in this limit, however
# close the negatives are: nothing pushes them further. That is one way to read section 3's
# small-τ rows.
#
# </details>

# %% [markdown]
# ## Summary
#
# - The temperature is the sharpness of a softmax over the negatives: InfoNCE pushes negative $j$ in
#   proportion to $e^{s_{ij}/\tau}$, so as τ falls the push concentrates on the hardest negatives,
#   monotonically, and as τ → 0 the loss becomes a triplet loss on the single hardest one.
# - In the τ sweep the uniformity–tolerance dilemma shows from τ ≈ 0.1 up: a larger τ gives a less
#   uniform, more tolerant embedding, and kNN accuracy peaks in between. In this toy the very smallest
#   τ breaks the pattern (read the verdict for the numbers).
# - A learnable temperature (CLIP) fits the instance-discrimination objective: it falls during
#   training towards the τ that best calibrates the current embeddings, and needs a cap.
#
# ## Further reading
#
# - F. Wang, H. Liu (2021). *Understanding the Behaviour of Contrastive Loss*. CVPR.
#   [arXiv:2012.09740](https://arxiv.org/abs/2012.09740)
# - T. Wang, P. Isola (2020). *Understanding Contrastive Representation Learning through Alignment
#   and Uniformity on the Hypersphere*. ICML. [arXiv:2005.10242](https://arxiv.org/abs/2005.10242)
# - A. Radford et al. (2021). *Learning Transferable Visual Models From Natural Language Supervision*
#   (CLIP, the learnable logit scale). [arXiv:2103.00020](https://arxiv.org/abs/2103.00020)
# - Z.-H. Qiu, Q. Hu, Z. Yuan, D. Zhou, L. Zhang, T. Yang (2023). *Not All Semantics are Created
#   Equal: Contrastive Self-supervised Learning with Automatic Temperature Individualization*
#   (iSogCLR). ICML. [arXiv:2305.11965](https://arxiv.org/abs/2305.11965)
