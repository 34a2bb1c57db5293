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
# # 01 · InfoNCE from scratch
#
# Contrastive learning turns "learn a good representation" into a classification: given one view of
# an input, pick its other view out of a line-up of candidates. This notebook builds that loss,
# InfoNCE, from a similarity matrix, compares its three common forms, shows how to read the number
# it prints, and checks the claim that made it famous: it is a lower bound on mutual information, and
# that bound can never exceed $\log N$.
#
# **Learning goals.** You will be able to
#
# - name the positives, negatives and ignored entries of a batch for NT-Xent (SimCLR), one-directional
#   InfoNCE and the symmetric CLIP loss, and count the negatives of each ($2N-2$ against $N-1$);
# - write InfoNCE and NT-Xent as a cross-entropy over a similarity matrix and check them against
#   `contrastlab.losses`;
# - read a loss value against its chance level, $\log N$ or $\log(2N-1)$;
# - turn a loss value into the mutual information it certifies, $\log N - \mathcal L$, and explain
#   why that estimate stalls at $\log N$ however much information there is.
#
# **Prerequisites.** [00 · Start here](00_start_here.ipynb); PyTorch tensors, softmax and
# cross-entropy; for the last section, what a Gaussian density is.
#
# **Expected run time.** About 15 s in fast mode (`CONTRASTLAB_FAST=1`, batches up to 512) and about
# a minute in full mode (batches up to 4096), on a laptop CPU, kernel start included; no downloads.
#
# **In class.** The core path is sections 1–6 and Exercises 1–2, about 80 minutes; section 7 (the
# peer libraries) and Exercise 3 (a loss value as a mutual-information bound) are optional.

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
from plotly.subplots import make_subplots

import contrastlab
from contrastlab.lessons import infonce_from_scratch as bounds
from contrastlab.interactive import figures as viz
from contrastlab.losses import clip_loss, info_nce, nt_xent
from contrastlab.losses.core import positive_nll
from contrastlab.interactive.widgets import Debouncer
from contrastlab.lessons.exercises import attempt
from contrastlab.lessons import setup, verdicts

lesson = setup(seed=0)  # torch.manual_seed(0), the device, the thread policy, fast mode; prints one line
device, FAST = lesson.device, lesson.fast

# %% [markdown]
# ## 1 · Positives, negatives and views
#
# Take a batch of $N$ inputs and look at each one twice, through two random augmentations (crops and
# colour changes for images, word dropout for sentences). Each look is a **view**. An encoder maps the
# views to embeddings $z_1, z_2 \in \mathbb R^{N\times D}$. Two views of the same input form a
# **positive pair**; a view of any other input is a **negative**. Everything is compared by cosine
# similarity,
#
# $$ s_{ij} = \hat z_i^\top \hat z_j, \qquad \hat z = z / \lVert z\rVert .$$
#
# We fake the encoder so the structure is easy to see: each input is a random point ("its content"),
# and a view is that point plus some noise ("the augmentation"). The figure shows the $2N\times 2N$
# similarity matrix of the stacked views $[z_1; z_2]$, the batch NT-Xent sees. Green circles mark the
# positives, grey crosses the entries that are ignored; every other cell is a negative. Hover over a
# cell to read its role and its logit $s/\tau$.

# %%
def two_views(n: int, dim: int = 16, noise: float = 0.6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two noisy views (n, dim) of n random inputs: row i of each is a view of input i."""
    g = torch.Generator().manual_seed(seed)
    content = torch.randn(n, dim, generator=g)  # (n, dim) what the two views share
    z1 = content + noise * torch.randn(n, dim, generator=g)  # (n, dim) view 1
    z2 = content + noise * torch.randn(n, dim, generator=g)  # (n, dim) view 2
    return z1.to(device), z2.to(device)


z1, z2 = two_views(6)
viz.similarity_figure(z1, z2, loss="nt_xent", temperature=0.5)

# %% [markdown]
# **Question.** Row 2 is view 1 of input 2. Where is its positive, and why is cell (2, 2) crossed out
# rather than counted as a negative? What are the two bright lines parallel to the diagonal?
#
# <details><summary>Answer (click to reveal)</summary>
#
# Its positive is column $2 + N = 8$: view 2 of the same input. Cell (2, 2) is the anchor compared with
# itself; its similarity is always 1, so it tells the model nothing and NT-Xent leaves it out. The two
# bright off-diagonal lines at $\pm N$ are exactly the positives: two views of one input are similar.
# </details>

# %% [markdown]
# ## 2 · InfoNCE is a classification of the positive among candidates
#
# For query $i$ (a row of $z_1$) the candidates are all $N$ rows of $z_2$: its positive $z_{2,i}$ and
# $N-1$ negatives. InfoNCE (van den Oord et al. 2018) is the cross-entropy of picking the positive with
# a softmax over the candidates' similarities, sharpened by a temperature $\tau$:
#
# $$\ell_i = -\log \frac{e^{s_{ii}/\tau}}{\sum_{j=1}^{N} e^{s_{ij}/\tau}}
#          = \log\sum_{j} e^{s_{ij}/\tau} - s_{ii}/\tau, \qquad
#   \mathcal L_{\text{InfoNCE}} = \frac1N \sum_i \ell_i .$$
#
# So it is ordinary classification with $N$ classes, where the "class" of query $i$ is $i$. Below we
# write it in three lines and check it against the package and against the package's numerical core,
# `positive_nll` (log-sum-exp minus the positive logit, read from the same matrix).

# %%
N, tau = 64, 0.2
z1, z2 = two_views(N)
q, k = F.normalize(z1, dim=1), F.normalize(z2, dim=1)  # (N, D) unit rows
logits = q @ k.T / tau  # (N, N) s_ij / tau; the positive of row i is column i
targets = torch.arange(N, device=device)  # (N,) "class" of query i is i
mine = F.cross_entropy(logits, targets)
package = info_nce(z1, z2, temperature=tau)
core = positive_nll(logits, targets).mean()  # (N,) per-query losses, averaged
print(f"from scratch {mine.item():.6f}   info_nce {package.item():.6f}   positive_nll {core.item():.6f}")
assert torch.allclose(mine, package, atol=1e-5) and torch.allclose(core, package, atol=1e-5)
print("Check passed: the cross-entropy over the (N, N) similarity matrix is contrastlab's info_nce.")

# %% [markdown]
# One query's classification problem, drawn for 12 of its candidates (the softmax here is over those
# 12, the positive in green), and how the push on the negatives is shared among them.

# %%
viz.softmax_bars((q[0] @ k.T)[:12], temperature=tau,
                 title=f"Query 0 against 12 of its {N} candidates, τ = {tau}: the positive is 'pos'")

# %% [markdown]
# **Question.** What is the loss of a query whose softmax gives its positive probability 0.5? And what
# is the smallest loss any query can have?
#
# <details><summary>Answer (click to reveal)</summary>
#
# $-\log 0.5 \approx 0.69$. The loss is a negative log-probability, so it is at least 0, reached only
# when the positive gets all the probability. This "at least 0" is what caps the mutual-information
# bound in section 6.
# </details>

# %% [markdown]
# ## 3 · Three forms, and who is a negative
#
# The same idea comes in three layouts.
#
# | form | used by | anchors | candidates per anchor | negatives per anchor |
# |---|---|---|---|---|
# | one-directional InfoNCE `info_nce` | CPC, SimCSE (Gao et al. 2021) | $N$ rows of $z_1$ | the $N$ rows of $z_2$ | $N-1$ |
# | symmetric CLIP `clip_loss` | CLIP (Radford et al. 2021) | $N$ rows, then $N$ columns | $N$ | $N-1$, in each direction |
# | NT-Xent `nt_xent` | SimCLR (Chen et al. 2020) | all $2N$ views | the other $2N-1$ views | $2N-2$ |
#
# CLIP's loss is InfoNCE read both ways (images pick their text, texts pick their image) and averaged;
# NT-Xent pools both views, so each anchor also competes against the *same-side* views of other
# inputs, and must skip itself. `viz.candidate_roles` returns these layouts as matrices
# (2 = positive, 1 = negative, 0 = ignored); the cell counts them and checks that CLIP is exactly the
# mean of the two InfoNCE directions.

# %%
n = 6
roles = {loss: viz.candidate_roles(loss, n) for loss in ("info_nce", "clip_loss", "nt_xent")}
for loss, r in roles.items():
    positives, negatives, ignored = ((r == role).sum(1) for role in (viz.POSITIVE, viz.NEGATIVE, viz.IGNORED))
    assert (positives == 1).all() and (negatives == negatives[0]).all()  # every anchor: 1 positive, same count
    print(f"{loss:>9}: {len(r):>2} anchors, each with 1 positive, {negatives[0]} negatives, {ignored[0]} ignored")
both_ways = (info_nce(z1, z2, temperature=tau) + info_nce(z2, z1, temperature=tau)) / 2
clip = clip_loss(z1, z2, logit_scale=1 / tau)  # CLIP speaks of a logit scale: 1 / tau
assert torch.allclose(both_ways, clip, atol=1e-5)
assert torch.allclose(clip, info_nce(z1, z2, temperature=tau, symmetric=True), atol=1e-5)
print(f"Check passed: clip_loss {clip.item():.5f} = mean of the two info_nce directions {both_ways.item():.5f}")

# %%
colors = [[0, "#eeeeee"], [0.33, "#eeeeee"], [0.33, "#4c78a8"], [0.67, "#4c78a8"], [0.67, "#2ca02c"], [1, "#2ca02c"]]
titles = [f"{loss}: {len(r)}×{len(r)}" + (", rows and columns" if loss == "clip_loss" else "") for loss, r in roles.items()]
fig = make_subplots(1, 3, subplot_titles=titles)
for col, r in enumerate(roles.values(), start=1):
    fig.add_trace(go.Heatmap(z=r, zmin=0, zmax=2, colorscale=colors, showscale=col == 3, colorbar=dict(
        tickvals=[0.33, 1, 1.67], ticktext=["ignored", "negative", "positive"])), row=1, col=col)
    fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col}", title_text="anchor" if col == 1 else None,
                     row=1, col=col)
fig.update_xaxes(title_text="candidate", constrain="domain", showgrid=False)
fig.update_layout(title=f"Who is a negative: candidate roles for N = {n} pairs", height=340,
                  template="plotly_white")
fig.show()

# %% [markdown]
# **Question.** NT-Xent gives every anchor about twice as many negatives as InfoNCE for the same batch.
# Does that make the NT-Xent loss of an untrained model larger, smaller or the same? (Section 4 measures
# it.)

# %% [markdown]
# ## 4 · Reading a loss number
#
# A cross-entropy over $C$ candidates has a **chance level**: the loss when the softmax is uniform,
# $\log C$. That is $\log N$ for InfoNCE and CLIP and $\log(2N-1)$ for NT-Xent, and it is the first
# number to compare a loss with. Two batches sit at chance:
#
# - **collapsed**, every embedding the same: all logits are equal, the softmax is exactly uniform and
#   the loss is exactly $\log C$ at any temperature;
# - **random**, the two views unrelated: in high dimension random directions are nearly orthogonal,
#   so the logits are nearly equal and the loss is close to $\log C$.
#
# Below, both for several batch sizes, against batches whose two views share content (as in section 2).
# In the figure the `clip_loss` markers hide the `info_nce` ones: on these batches the two are nearly equal.

# %%
forms = {"info_nce": lambda a, b, t: info_nce(a, b, temperature=t),
         "clip_loss": lambda a, b, t: clip_loss(a, b, logit_scale=1 / t),  # CLIP's logit scale is 1 / tau
         "nt_xent": lambda a, b, t: nt_xent(a, b, temperature=t)}
chance = {"info_nce": math.log, "clip_loss": math.log, "nt_xent": lambda n: math.log(2 * n - 1)}
sizes = [2, 4, 8, 16, 32, 64, 128, 256]
table = {(form, kind): [] for form in forms for kind in ("collapsed", "random", "shared content")}
for n in sizes:
    same = torch.randn(1, 256, device=device).repeat(n, 1)  # (n, 256) a collapsed batch
    unrelated = (torch.randn(n, 256, device=device), torch.randn(n, 256, device=device))  # (n, 256) x 2
    for form, loss in forms.items():
        table[form, "collapsed"].append(loss(same, same, tau).item())
        table[form, "random"].append(loss(*unrelated, tau).item())
        table[form, "shared content"].append(loss(*two_views(n, seed=n), tau).item())
worst = max(abs(v - chance[f](n)) for (f, kind), vs in table.items() if kind == "collapsed" for n, v in zip(sizes, vs))
print(f"Check passed: every collapsed batch sits at its chance level to within {worst:.1e}")
for form in forms:
    print(f"{form:>9} at N = 256: chance {chance[form](256):.3f}, random {table[form, 'random'][-1]:.3f},"
          f" shared content {table[form, 'shared content'][-1]:.3f}")

# %%
fig = go.Figure()
for form, color in zip(forms, ("#4c78a8", "#f58518", "#2ca02c")):
    fig.add_scatter(x=sizes, y=[chance[form](n) for n in sizes], mode="lines", line=dict(color=color, dash="dot"),
                    name=f"{form}: chance log{'(2N−1)' if form == 'nt_xent' else ' N'}")
    for kind, symbol in (("collapsed", "x"), ("random", "circle-open"), ("shared content", "diamond")):
        fig.add_scatter(x=sizes, y=table[form, kind], mode="markers", marker=dict(color=color, symbol=symbol, size=8),
                        name=f"{form}, {kind}")
fig.update_layout(title=f"Loss against batch size (τ = {tau}) for three kinds of batch, with each form's chance level",
                  xaxis=dict(type="log", title="batch size N (pairs)"), yaxis_title="loss (nats)",
                  template="plotly_white", height=420)
fig

# %% [markdown]
# **Question.** Two runs report a loss of 4.2. One trains one-directional InfoNCE with $N = 64$, the
# other NT-Xent with $N = 256$. Which has learned something?
#
# <details><summary>Answer (click to reveal)</summary>
#
# The chance levels are $\log 64 \approx 4.16$ and $\log 511 \approx 6.24$. The InfoNCE run sits at
# chance (it has learned nothing, or collapsed). The NT-Xent run is 2 nats below chance: on average
# (geometric mean) its positives get $e^{2} \approx 7$ times the probability of a uniform guess, so it has
# learned something. A loss means nothing without its $N$ and its form. This also
# answers section 3's question: more negatives raise the chance level, so NT-Xent's untrained loss is
# larger, $\log(2N-1)$ against $\log N$.
# </details>

# %% [markdown]
# ## 5 · Live: the batch each loss sees
#
# Pick a loss, a batch size and a temperature; the similarity matrix and its role overlay are redrawn
# in place (`viz.similarity_figure(..., fig=figure)`), and the readout compares the loss with its
# chance level. Hover over a cell for its logit $s/\tau$. `batch_view` is a plain function, so the cell
# after the widget calls it directly for all three losses.

# %%
pool1, pool2 = two_views(32, seed=1)  # a batch of N pairs is the first N rows of each view


def batch_view(loss: str, n: int, temperature: float, fig=None):
    """The similarity figure of the first n pairs as `loss` sees them, and a one-line readout."""
    a, b = pool1[:n], pool2[:n]  # (n, D) each
    value = forms[loss](a, b, temperature)  # the package's loss, scalar tensor
    fig = viz.similarity_figure(a, b, loss=loss, temperature=temperature, fig=fig)
    return fig, f"{loss}, N = {n}, τ = {temperature:.3g}: loss {value.item():.3f}, chance level {chance[loss](n):.3f}"


figure = go.FigureWidget(batch_view("nt_xent", 8, 0.5)[0])
loss_box = W.Dropdown(options=list(forms), value="nt_xent", description="loss")
n_slider = W.IntSlider(value=8, min=2, max=32, description="N")
tau_slider = W.FloatLogSlider(value=0.5, base=10, min=-2, max=0.5, step=0.05, description="τ", readout_format=".3f")
readout = W.HTML()


def redraw(*_):
    readout.value = batch_view(loss_box.value, n_slider.value, tau_slider.value, fig=figure)[1]


debounced = Debouncer(redraw)  # a burst of slider events costs one redraw
for control in (loss_box, n_slider, tau_slider):
    control.observe(lambda change: debounced(), names="value")
redraw()
W.VBox([W.HBox([loss_box, n_slider, tau_slider]), readout, figure])

# %%
for t in (3.0, 0.5, 0.03, 0.01):  # what the widget reads out for N = 32 as tau falls
    print(" | ".join(batch_view(loss, 32, t)[1] for loss in forms))
top1 = contrastlab.metrics.positive_rank_accuracy(pool1, pool2, topk=(1,))[1]
print(f"queries whose positive is their most similar candidate: {top1:.0%}")

# %% [markdown]
# **Question.** With $N = 32$, drag τ from 3 down to 0.01 (the readouts above). Every loss starts near
# its chance level, falls, and then rises again at the smallest τ. Why both ends?
#
# <details><summary>Answer (click to reveal)</summary>
#
# A large τ divides every similarity down towards 0, so all logits look alike and the softmax is nearly
# uniform: chance. A small τ sharpens the softmax until each anchor's loss is about
# $\frac1\tau\max(0,\ s_{\text{hardest negative}} - s_{\text{positive}})$: zero for the anchors whose
# positive ranks first, but growing like $1/\tau$ for the few whose positive is beaten (for `info_nce`
# the last line above counts the others). The same batch can look "good" or "bad" depending on τ alone.
# </details>

# %% [markdown]
# ## 6 · Reproduce the finding: InfoNCE bounds mutual information, and saturates at log N
#
# **The claim** (van den Oord et al. 2018, CPC): for any critic $f$ whose scores $f(x_i, y_j)$ form the
# logits, and a batch of $N$ pairs drawn from $p(x, y)$,
#
# $$ I(x; y) \;\ge\; \log N - \mathcal L_{\text{InfoNCE}} .$$
#
# Since every $\ell_i \ge 0$ (section 2), the estimate $\log N - \mathcal L$ can **never exceed
# $\log N$**: to certify 10 nats of mutual information you need $N \ge e^{10} \approx 22\,000$
# candidates. Poole et al. (2019) give a short proof, and McAllester & Stratos (2020) show
# that no distribution-free lower bound can do better than $O(\log N)$.
#
# **The toy.** $x \sim \mathcal N(0, I_d)$ and $y = \rho x + \sqrt{1-\rho^2}\,\varepsilon$: $d$
# coordinate pairs, each with correlation $\rho$, so the mutual information is known exactly,
#
# $$ I(x; y) = -\tfrac d2 \log(1-\rho^2) \text{ nats}, $$
#
# and so is the best critic, the log density ratio
#
# $$ f^*(x, y) = \log \frac{p(y\mid x)}{p(y)}
#   = -\tfrac d2 \log(1-\rho^2) - \frac{\lVert y-\rho x\rVert^2}{2(1-\rho^2)} + \frac{\lVert y\rVert^2}{2} .$$
#
# With $f^*$ there is no training and no critic error: whatever gap is left is the bound's own.
#
# **An honest note on the package.** `info_nce` L2-normalises its inputs, so its critic is always
# $\cos(x, y)/\tau$. That critic cannot express $f^*$, which depends on the norms, so on raw $x, y$ it
# gives a valid but looser bound. For the exact critic we therefore call the loss core
# `positive_nll` on our own logits matrix. The first cell checks that the two routes agree when they
# are given the same (cosine) critic.

# %%
dim = 10
pairs = contrastlab.data.correlated_gaussians(256, dim=dim, rho=0.9, seed=0, device=device)
x, y = pairs.x, pairs.b  # (256, d) each
cosine = F.normalize(x, dim=1) @ F.normalize(y, dim=1).T / 0.1  # (256, 256) info_nce's critic at tau = 0.1
targets = torch.arange(256, device=device)
assert torch.allclose(positive_nll(cosine, targets).mean(), info_nce(x, y, temperature=0.1), atol=1e-5)
optimal = bounds.gaussian_log_ratio(x, y, rho=0.9)  # (256, 256) f*(x_i, y_j)
print("Check passed: positive_nll on cosine logits equals info_nce on the raw pairs.")
print(f"true I = {bounds.gaussian_mutual_information(dim, 0.9):.3f} nats; mean f* on the positives ="
      f" {optimal.diagonal().mean().item():.3f} (its expectation is I); log 256 = {math.log(256):.3f}")
print(f"estimate log N - L: optimal critic {bounds.infonce_estimate(optimal).item():.3f},"
      f" package's cosine critic {bounds.mi_lower_bound(info_nce(x, y, temperature=0.1).item(), 256):.3f}")

# %% [markdown]
# Now the experiment: three toys with a small, a medium and a large mutual information (2, 6 and 16
# nats in $d = 10$), and the optimal-critic estimate over several independent batches (each drawn with
# its own seed) for $N = 2, 4, \dots$ up to 512 (fast mode) or 4096 (full mode). The package's cosine
# critic on the largest toy is drawn dashed for comparison.
#
# That the estimate never exceeds $\log N$ needs no experiment: it is the algebra above, and the code
# checks it as a plain assertion. What the experiment measures is how the estimate behaves *below*
# that ceiling. The three rules are fixed in the next cell, before any batch is drawn; each draw is one
# "seed" of the interval. There is no trained model in this experiment (the critic is the exact
# $f^*$), so there is no baseline to beat: the gaps are the bound's own.

# %%
rules = {
    "saturates": verdicts.Rule(
        "01_infonce_from_scratch:saturates",
        claim="when I(x; y) > log N, the estimate log N − L stalls just under log N instead of reaching I "
              "(van den Oord et al. 2018; Poole et al. 2019)",
        effect="log N − estimate at the largest N, I = 16 nats (nats below the ceiling)", direction=-1,
        threshold=0.25),
    "tightens": verdicts.Rule(
        "01_infonce_from_scratch:tightens",
        claim="a larger batch gives a tighter bound (the gap to I shrinks as N grows)",
        effect="estimate at the largest N minus at N = 16, I = 6 nats", direction=+1),
    "tight": verdicts.Rule(
        "01_infonce_from_scratch:tight",
        claim="once log N is well above I, the bound is nearly tight",
        effect="(I − estimate) / I at the largest N, I = 2 nats (relative gap)", direction=-1, threshold=0.10),
}
for rule in rules.values():
    print(rule)

# %%
batch_sizes = [2 ** k for k in range(1, 10 if FAST else 13)]
repeats = 3 if FAST else 8  # independent batches: the "seeds" of the intervals
curves = {mi: bounds.infonce_bound_curve(batch_sizes, dim=dim, rho=bounds.rho_for_mutual_information(mi, dim),
                                         repeats=repeats, seed=0, device=device) for mi in (2.0, 6.0, 16.0)}
cosine_curve = bounds.infonce_bound_curve(batch_sizes, dim=dim, rho=bounds.rho_for_mutual_information(16.0, dim),
                                          repeats=repeats, seed=0, critic="cosine", temperature=0.1, device=device)
assert all(np.all(c["per_batch"] <= c["log_n"][:, None] + 1e-12) for c in curves.values())
print(f"Check passed: no estimate exceeds log N ({len(batch_sizes)} batch sizes x {repeats} draws x 3 toys).")

# %%
fig = go.Figure()
for (mi, c), color in zip(curves.items(), ("#4c78a8", "#f58518", "#2ca02c")):
    fig.add_hline(y=mi, line=dict(color=color, width=1), annotation_text=f"true I = {mi:g} nats",
                  annotation_position="top left")
    fig.add_scatter(x=batch_sizes, y=c["estimate"], mode="lines+markers", line=dict(color=color),
                    error_y=dict(type="data", array=c["stderr"]), name=f"log N − L, optimal critic (I = {mi:g})")
fig.add_scatter(x=batch_sizes, y=cosine_curve["estimate"], mode="lines", line=dict(color="#2ca02c", dash="dash"),
                name="log N − L, info_nce cosine critic τ = 0.1 (I = 16)")
fig.add_scatter(x=batch_sizes, y=np.log(batch_sizes), mode="lines", name="log N (the ceiling)",
                line=dict(color="black", dash="dot", width=3))
fig.update_layout(title=f"InfoNCE's estimate log N − L of I(x; y) against batch size (d = {dim}, {repeats} batches each)",
                  xaxis=dict(type="log", title="batch size N", tickvals=batch_sizes[::2],
                             ticktext=[str(n) for n in batch_sizes[::2]]),
                  yaxis_title="nats", template="plotly_white", height=440)
fig

# %%
large, small, medium = curves[16.0], curves[2.0], curves[6.0]
draws = list(range(repeats))  # draw r used seed r
at16 = batch_sizes.index(16)
print(rules["saturates"].judge(large["log_n"][-1] - large["per_batch"][-1], seeds=draws,
                               detail=f"I − estimate at N = {batch_sizes[-1]}: "
                                      f"{16.0 - large['estimate'][-1]:.2f} nats short of I (log N = {large['log_n'][-1]:.2f})"))
print(rules["tightens"].judge(medium["per_batch"][-1] - medium["per_batch"][at16], seeds=draws,
                              detail=f"gap to I = 6: {6.0 - medium['estimate'][at16]:.2f} nats at N = 16, "
                                     f"{6.0 - medium['estimate'][-1]:.2f} at N = {batch_sizes[-1]}"))
print(rules["tight"].judge((2.0 - small["per_batch"][-1]) / 2.0, seeds=draws,
                           detail=f"estimate {small['estimate'][-1]:.3f} nats of I = 2 at N = {batch_sizes[-1]}"))

# %% [markdown]
# **Question.** The cosine critic's curve (dashed) sits below the optimal one. Is it still a valid lower
# bound on $I$? What would you have to change to make it climb higher: a bigger batch, a better critic,
# or both?
#
# <details><summary>Answer (click to reveal)</summary>
#
# Yes: the bound holds for every critic, a worse critic only makes it looser. Here two things cap it:
# $\log N$ (the batch) and the critic family (a cosine cannot see the norms that $f^*$ uses). For a
# large true $I$, no critic can lift the estimate above $\log N$, so the batch must grow too: certifying
# $I$ nats takes $N \ge e^{I}$ candidates (McAllester & Stratos 2020). And a tighter estimate is not the
# same as a better representation: Tschannen et al. (2020) show that representation quality depends on
# much more than the mutual-information bound.
# </details>

# %% [markdown]
# ## 7 · Optional: the same number in the libraries you will meet
#
# *Optional on the core path (about 10 minutes): for a class that will go on to use those libraries.*
#
# You will meet these losses under other names: `NTXentLoss` in pytorch-metric-learning,
# `MultipleNegativesRankingLoss` in sentence-transformers, `ClipLoss` in open_clip. Each makes its own
# choices: a default τ of 0.07, a `scale` of 20 that means τ = 0.05, a sum where we take a mean, labels
# instead of two views. `contrastlab.conventions.translate(library, loss, **params)` gives the
# contrastlab call that computes the peer's number, a callable that takes the peer's inputs, and each
# difference in words; `crosscheck` runs the peer itself, when it is installed, on random inputs.

# %%
from contrastlab.conventions import crosscheck, translate

z1, z2 = torch.randn(8, 16), torch.randn(8, 16)  # 8 pairs of raw embeddings
pml = translate("pytorch-metric-learning", "NTXentLoss", temperature=0.1)  # PML's default is 0.07
st = translate("sentence-transformers", "MultipleNegativesRankingLoss")  # its default scale=20
for t, value in ((pml, pml.loss(torch.cat([z1, z2]), torch.arange(8).repeat(2))), (st, st.loss([z1, z2]))):
    print(f"{t.peer}\n  is contrastlab's {t.code.split('  #')[0]} = {value:.4f}; first difference: {t.notes[0]}")
print(f"Check: nt_xent {nt_xent(z1, z2, temperature=0.1):.4f}, info_nce {info_nce(z1, z2, temperature=0.05):.4f}")
for library, name in (("pytorch-metric-learning", "NTXentLoss"),
                      ("sentence-transformers", "MultipleNegativesRankingLoss")):
    r = crosscheck(library, name, shapes=[(8, 16, 0), (33, 32, 1)])
    print(f"{library} {name}: " + (f"largest difference {r.max_value_diff:.0e} (values), {r.max_grad_diff:.0e} "
                                   f"(gradients) over {r.runs} runs" if r.ran else f"not installed here ({r.reason})"))

# %% [markdown]
# **Question.** A sentence-embedding run with `MultipleNegativesRankingLoss` at its defaults and
# batches of 64 pairs prints a loss of 4.1. Has it learned anything? (Use `st.notes` and section 4.)
#
# <details><summary>Answer (click to reveal)</summary>
#
# Its `scale=20` is τ = 0.05 and its loss is our one-directional `info_nce`, so its chance level is
# $\log 64 \approx 4.16$ whatever the scale: at 4.1 it sits at chance. The same number from
# pytorch-metric-learning's `NTXentLoss` on the two views of 64 samples would be 0.7 nats below its
# chance level, $\log 127 \approx 4.84$: the same loss value, another verdict.
# `contrastlab.losses.reference_values(loss, batch_size=N, dim=D)` gives each loss's collapsed, chance
# and floor values, with their formulas.
# </details>

# %% [markdown]
# ## Exercises
#
# ### Exercise 1 · NT-Xent from scratch
#
# Write NT-Xent over the stacked batch $z = [z_1; z_2]$ of $2N$ views:
#
# $$\ell_a = \log\sum_{k \ne a} e^{s_{ak}/\tau} - s_{a,a^+}/\tau, \qquad a^+ = (a + N) \bmod 2N,
#   \qquad \mathcal L = \frac{1}{2N}\sum_{a=1}^{2N} \ell_a .$$
#
# 1. stack and normalise: `z = F.normalize(torch.cat([z1, z2]), dim=1)`, shape `(2N, D)`;
# 2. `(2N, 2N)` logits `z @ z.T / temperature`, with the diagonal (self) set to `-inf`;
# 3. the target of row `a` is its twin `(a + N) % (2N)`; return the cross-entropy.

# %%
def my_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent of two (N, D) views: 2N anchors, self excluded, the twin view is the positive."""
    # Your code here.
    return None


# %%
def check_nt_xent(fn) -> bool:
    """Compare fn with contrastlab.losses.nt_xent and explain the first difference found."""
    g, t = torch.Generator().manual_seed(2), 0.3
    a = torch.randn(12, 8, generator=g).to(device)  # (12, 8)
    b = 2.0 * (a + 0.7 * torch.randn(12, 8, generator=g).to(device))  # (12, 8) not unit length on purpose
    expected = nt_xent(a, b, temperature=t).item()
    done, got = attempt(fn, a, b, temperature=t, name="my_nt_xent")
    if not done:
        return False
    got = torch.as_tensor(got)
    if got.numel() != 1:
        print(f"Not yet: expected a scalar (the mean over the 2N anchors), got shape {tuple(got.shape)}.")
        return False
    got = got.item()
    if math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
        print(f"Check passed: your NT-Xent {got:.5f} matches contrastlab.losses.nt_xent {expected:.5f}.")
        return True
    n, z = 12, F.normalize(torch.cat([a, b]), dim=1)  # (24, 8)
    twin, raw = (torch.arange(2 * n, device=device) + n) % (2 * n), torch.cat([a, b])
    with_self = z @ z.T / t  # (24, 24) self left in
    masked = with_self.clone().fill_diagonal_(float("-inf"))  # (24, 24) self excluded
    def no_self(logits):  # (2N, 2N) with the diagonal (self) set to -inf, in place
        return logits.fill_diagonal_(float("-inf"))

    mistakes = {  # the value of each common mistake, computed the wrong way on purpose
        "kept each anchor's similarity with itself in the denominator (set the diagonal to -inf)":
            F.cross_entropy(with_self, twin),
        "took the anchor itself as its positive (the target is the twin, (a + N) % 2N)":
            F.cross_entropy(with_self, torch.arange(2 * n, device=device)),
        "forgot to normalise the rows": F.cross_entropy(no_self(raw @ raw.T / t), twin),
        "multiplied by the temperature instead of dividing": F.cross_entropy(no_self(z @ z.T * t), twin),
        "averaged over the N anchors of view 1 only (NT-Xent uses all 2N)": F.cross_entropy(masked[:n], twin[:n]),
        "returned the sum instead of the mean": F.cross_entropy(masked, twin, reduction="sum"),
    }
    print(f"Not yet: your value {got:.5f} differs from contrastlab.losses.nt_xent {expected:.5f}.")
    if not math.isfinite(got):
        print("It is not finite: is the positive's column the -inf diagonal? Row a's target is (a + N) % 2N.")
        return False
    for mistake, value in mistakes.items():
        if math.isclose(got, value.item(), rel_tol=1e-4, abs_tol=1e-5):
            print(f"It matches what you get if you {mistake}.")
            return False
    print("Check the (2N, 2N) logits, the -inf diagonal and the twin targets on the inputs' device.")
    return False


check_nt_xent(my_nt_xent)

# %% [markdown]
# <details><summary>Solution (click to reveal)</summary>
#
# ```python
# def my_nt_xent(z1, z2, temperature=0.5):
#     n = len(z1)
#     z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, D) unit rows
#     logits = (z @ z.T / temperature).fill_diagonal_(float("-inf"))  # (2N, 2N), self excluded
#     twin = (torch.arange(2 * n, device=z.device) + n) % (2 * n)  # (2N,) the other view of the same input
#     return F.cross_entropy(logits, twin)
#
#
# check_nt_xent(my_nt_xent)
# ```
#
# `-inf` on the diagonal makes `exp` of it exactly 0, so self drops out of the softmax; the package does
# the same (`fill_diagonal_(-inf)` then `positive_nll`).
# </details>

# %% [markdown]
# ### Exercise 2 · Count the negatives
#
# Return how many negatives **one anchor** competes against in a batch of `n` pairs, for each form:
# `"info_nce"`, `"clip_loss"` and `"nt_xent"`. Use the table of section 3 only if you are stuck: try to
# derive it from "which candidates are left once the positive (and, where relevant, the anchor
# itself) are taken out". The check compares with `viz.candidate_roles` for several `n`.

# %%
def negatives_per_anchor(loss: str, n: int) -> int:
    """Number of negatives of one anchor of `loss` ("info_nce", "clip_loss" or "nt_xent") in a batch of n pairs."""
    # Your code here.
    return None


# %%
def check_negatives(fn) -> bool:
    """Compare fn with the role matrices of viz.candidate_roles and explain a wrong count."""
    for loss in ("info_nce", "clip_loss", "nt_xent"):
        for n in (2, 5, 64):
            expected = int((viz.candidate_roles(loss, n) == viz.NEGATIVE).sum(1)[0])  # the same for every row
            try:
                got = fn(loss, n)
            except Exception as error:  # report it, the learner fixes it
                print(f"Not yet: your function raised {type(error).__name__}: {error} (for loss={loss!r}, n={n})")
                return False
            if got is None:
                print("Not done yet: negatives_per_anchor returns None. Fill in its body (a solution is below).")
                return False
            if got == expected:
                continue
            print(f"Not yet: for {loss} with n = {n} you counted {got}, the role matrix has {expected}.")
            hints = {expected + 1: "You counted the positive (or, for nt_xent, the anchor itself) as a negative.",
                     expected + 2: "You counted both the anchor itself and its positive as negatives.",
                     2 * n - 2: "CLIP reads the matrix both ways, but each softmax is over N candidates: the two"
                                " directions are averaged, not pooled, so an anchor still has N - 1 negatives.",
                     n - 1: "NT-Xent pools both views: an anchor competes with the other views on its own side too."}
            print(hints.get(got, "List an anchor's candidates, then remove the positive and (for nt_xent) itself."))
            return False
    print("Check passed: N - 1 negatives per anchor for info_nce and clip_loss, 2N - 2 for nt_xent.")
    return True


check_negatives(negatives_per_anchor)

# %% [markdown]
# <details><summary>Solution (click to reveal)</summary>
#
# ```python
# def negatives_per_anchor(loss, n):
#     if loss == "nt_xent":
#         return 2 * n - 2  # 2N views, minus the anchor itself, minus its twin
#     return n - 1  # info_nce and clip_loss: N candidates of the other side, minus the positive
#
#
# check_negatives(negatives_per_anchor)
# ```
# </details>

# %% [markdown]
# ### Exercise 3 (optional) · From a loss value to a mutual-information bound
#
# A CPC-style run reports its one-directional InfoNCE loss $\mathcal L$ (in nats, like every loss in
# `contrastlab.losses`) at batch size $N$. Write the mutual information it certifies,
# $\log N - \mathcal L$, in nats. The check compares with `contrastlab.lessons.infonce_from_scratch.mi_lower_bound`, then
# applies your function to the losses of section 6.

# %%
def mi_estimate(loss: float, batch_size: int) -> float:
    """The InfoNCE lower bound on I(x; y), in nats, certified by `loss` at batch size `batch_size`."""
    # Your code here.
    return None


# %%
def check_mi_estimate(fn) -> bool:
    """Compare fn with contrastlab.lessons.infonce_from_scratch.mi_lower_bound and explain the first difference found."""
    for loss, n in ((2.1, 256), (0.0, 64), (4.0, 64), (0.35, 4096)):
        expected = bounds.mi_lower_bound(loss, n)
        done, got = attempt(fn, loss, n, name="mi_estimate")
        if not done:
            return False
        got = float(got)
        if math.isclose(got, expected, abs_tol=1e-9):
            continue
        print(f"Not yet: for loss {loss} at N = {n} you got {got:.4f}, expected log N - L = {expected:.4f}.")
        mistakes = {"used log2 (bits); the losses are in nats, use math.log": math.log2(n) - loss,
                    "flipped the sign: it is log N minus the loss": loss - math.log(n),
                    "used log(N - 1); the positive counts as a candidate, so there are N": math.log(n - 1) - loss,
                    "used log(2N - 1), NT-Xent's chance level; this is one-directional InfoNCE":
                        math.log(2 * n - 1) - loss}
        matches = [m for m, v in mistakes.items() if math.isclose(got, v, abs_tol=1e-9)]
        print(f"It matches what you get if you {matches[0]}." if matches
              else "The bound is the chance level log N minus the loss.")
        return False
    medium = curves[6.0]
    loss_at_max = float(medium["log_n"][-1] - medium["estimate"][-1])  # the mean loss behind section 6's last point
    print(f"Check passed: e.g. a loss of 2.1 at N = 256 certifies {fn(2.1, 256):.2f} nats; section 6's mean loss"
          f" {loss_at_max:.3f} at N = {batch_sizes[-1]} certifies {fn(loss_at_max, batch_sizes[-1]):.2f} nats"
          " (true I = 6).")
    return True


check_mi_estimate(mi_estimate)

# %% [markdown]
# <details><summary>Solution (click to reveal)</summary>
#
# ```python
# def mi_estimate(loss, batch_size):
#     return math.log(batch_size) - loss  # chance level minus the loss; never above log N since loss >= 0
#
#
# check_mi_estimate(mi_estimate)
# ```
# </details>

# %% [markdown]
# ## Summary
#
# - A contrastive loss is a classification: each anchor picks its positive among candidates with a
#   softmax over similarities divided by τ. One-directional InfoNCE gives each anchor $N-1$ negatives,
#   CLIP averages InfoNCE over both directions, and NT-Xent pools both views for $2N-2$ negatives,
#   skipping the anchor itself.
# - Read a loss against its chance level, $\log N$ (InfoNCE, CLIP) or $\log(2N-1)$ (NT-Xent): collapsed
#   and random batches sit there, and learning shows as the distance below it.
# - $\log N - \mathcal L$ is a lower bound on mutual information that can never exceed $\log N$: with
#   the optimal critic on a Gaussian toy it reaches a small $I$ but tracks $\log N$ when $I$ is large, so
#   certifying more information needs bigger batches as well as better critics.
#
# ## Further reading
#
# - A. van den Oord, Y. Li, O. Vinyals (2018). *Representation Learning with Contrastive Predictive
#   Coding* (CPC: InfoNCE and the bound). [arXiv:1807.03748](https://arxiv.org/abs/1807.03748)
# - T. Chen, S. Kornblith, M. Norouzi, G. Hinton (2020). *A Simple Framework for Contrastive Learning of
#   Visual Representations* (SimCLR, NT-Xent). [arXiv:2002.05709](https://arxiv.org/abs/2002.05709)
# - A. Radford et al. (2021). *Learning Transferable Visual Models From Natural Language Supervision*
#   (CLIP, the symmetric loss). [arXiv:2103.00020](https://arxiv.org/abs/2103.00020)
# - T. Gao, X. Yao, D. Chen (2021). *SimCSE: Simple Contrastive Learning of Sentence Embeddings*
#   (one-directional in-batch InfoNCE for text). [arXiv:2104.08821](https://arxiv.org/abs/2104.08821)
# - B. Poole, S. Ozair, A. van den Oord, A. Alemi, G. Tucker (2019). *On Variational Bounds of Mutual
#   Information* (the bound's proof and its log N limit). [arXiv:1905.06922](https://arxiv.org/abs/1905.06922)
# - D. McAllester, K. Stratos (2020). *Formal Limitations on the Measurement of Mutual Information*.
#   [arXiv:1811.04251](https://arxiv.org/abs/1811.04251)
# - M. Tschannen, J. Djolonga, P. K. Rubenstein, S. Gelly, M. Lucic (2020). *On Mutual Information
#   Maximization for Representation Learning*. [arXiv:1907.13625](https://arxiv.org/abs/1907.13625)
