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
# # 06 · Collapse: complete, dimensional, class collapse and feature suppression
#
# A siamese network can satisfy "make the two views agree" in a useless way: map every input to
# the same point. That is **complete collapse**. Contrastive losses prevent it with negatives;
# non-contrastive methods (SimSiam, BYOL, Barlow Twins, VICReg) prevent it with other ingredients.
# Milder failures remain even when training works: the embeddings may fill only a few directions
# (**dimensional collapse**), a supervised loss may merge the subclasses of a class (**class
# collapse**), and an unsupervised one may learn an easy feature and ignore a harder useful one
# (**feature suppression**). This notebook trains each failure on a toy, measures it, and tests
# what prevents it.
#
# **Learning goals.** You will be able to
#
# - say what stop-gradient, the predictor, BYOL's EMA target, VICReg's variance and covariance terms,
#   Barlow Twins' decorrelation and negatives each do against collapse, and switch them off to see;
# - explain why the loss value cannot reveal collapse (a collapsed batch gives SimSiam exactly −1,
#   its minimum) and read the diagnostics that can: per-dimension std against $1/\sqrt{d}$, the
#   mean-vector norm, the effective rank and the singular-value spectrum;
# - show dimensional collapse in SimCLR as augmentation grows and compare the spectrum before and
#   after a projector (Jing et al. 2022);
# - reproduce class collapse under SupCon and feature suppression under SimCLR on the
#   easy/hard/subclass toy, and the remedies Xue et al. (2023) name: a larger embedding, better
#   views, and mixing the two losses.
#
# **Prerequisites.** `00_start_here` (NT-Xent, reading a loss against its chance level) and
# `03_hypersphere_geometry` (uniformity); singular values; what kNN and linear-probe accuracy measure.
#
# **Expected run time.** Fast mode (`CONTRASTLAB_FAST=1`, what CI runs): about 20–25 s on a laptop
# CPU, kernel start included (23 short training runs). Full mode (the default): about 1.5–3 minutes
# (71 runs, two or three seeds per arm). No downloads.

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

import contrastlab.data as D
import contrastlab.losses as L
import contrastlab.metrics as M
from contrastlab.lessons import collapse
from contrastlab.interactive import widgets
from contrastlab.train import fit
from contrastlab.lessons.exercises import attempt
from contrastlab.lessons import setup

lesson = setup(seed=0)  # torch.manual_seed(0), the device, the thread policy, fast mode; prints one line
device, FAST = lesson.device, lesson.fast

# %% [markdown]
# ## 1 · Complete collapse, and why the loss cannot see it
#
# SimSiam (Chen & He 2021) compares a prediction $p = h(z)$ of one view with the projection $z$ of the
# other through the negative cosine, with a stop-gradient $\mathrm{sg}$ on the target:
#
# $$D(p, z) = -\frac{p}{\lVert p\rVert}\cdot\frac{z}{\lVert z\rVert},\qquad
#   \mathcal L = \tfrac12 D\big(p_1, \mathrm{sg}(z_2)\big) + \tfrac12 D\big(p_2, \mathrm{sg}(z_1)\big).$$
#
# The loss only asks the two views to point the same way, and its minimum, $-1$, is reached by a
# network that outputs one constant vector $c$ for every input: then $p = z = c$ and
# $D(c, c) = -1$ exactly. A contrastive loss is different: a collapsed batch puts NT-Xent at its chance
# level $\log(2N-1)$, far above a trained value (notebook 00). The cell computes every objective of this
# notebook on a completely collapsed batch (`collapse.collapsed_loss`, which calls `contrastlab.losses`)
# next to the lowest value the objective can take.

# %%
N, d = 128, 32
objectives = {  # name: (set-up, options, lowest possible value)
    "SimSiam  D(p, sg z)": ("simsiam", {}, -1.0),
    "BYOL  2 - 2 cos": ("byol", {}, 0.0),
    "VICReg, invariance only": ("vicreg", dict(var_weight=0.0, cov_weight=0.0), 0.0),
    "VICReg (25, 25, 1)": ("vicreg", {}, 0.0),
    "Barlow Twins": ("barlow", {}, 0.0),
    "NT-Xent, tau = 0.2": ("simclr", dict(temperature=0.2), 0.0),
}
print(f"{'objective':<26} {'collapsed batch':>16} {'lowest possible':>16}   collapse is a minimum?")
for name, (method, options, lowest) in objectives.items():
    value = collapse.collapsed_loss(method, batch_size=N, dim=d, **options)
    print(f"{name:<26} {value:>16.4f} {lowest:>16.1f}   {'YES' if abs(value - lowest) < 1e-9 else 'no'}")
c = torch.randn(1, d, device=device).repeat(N, 1)  # (N, d) a collapsed batch: one random vector N times
print(f"\nSimSiam loss of a collapsed float32 batch: "
      f"{((L.negative_cosine(c, c) + L.negative_cosine(c, c)) / 2).item():+.6f}; NT-Xent: "
      f"{L.nt_xent(c, c, temperature=0.2).item():.4f} = log(2N-1) = {math.log(2 * N - 1):.4f}")

# %% [markdown]
# So a SimSiam loss of $-0.99$ may mean "excellent" or "collapsed": the number alone cannot say. The
# diagnostics below can (all in `contrastlab.metrics`, gathered by `collapse.collapse_report`). With
# unit vectors $\hat z_i = z_i/\lVert z_i\rVert$ in $d$ dimensions:
#
# - **per-dimension std** $\frac1d\sum_j \mathrm{std}_i(\hat z_{ij})$ (Chen & He): about $1/\sqrt d$
#   for vectors spread over the sphere, 0 for collapse. We report it times $\sqrt d$ (`std_ratio`, 1 = spread);
# - **mean-vector norm** $\lVert\frac1N\sum_i \hat z_i\rVert$: near 0 for a centred spread, 1 for collapse;
# - **effective rank** (Roy & Vetterli 2007) of the singular values $\sigma_k$:
#   $\mathrm{erank} = \exp(-\sum_k p_k\log p_k)$ with $p_k = \sigma_k/\sum_j\sigma_j$. Uncentred (as
#   `fit` records it) a complete collapse reads 1; centred, it measures how many directions the spread
#   around the mean fills: the measure of **dimensional** collapse.
#
# Three batches: spread over the sphere, spread inside a 3-d subspace only, and one point.

# %%
g = torch.Generator().manual_seed(0)
spread = F.normalize(torch.randn(N, d, generator=g), dim=1).to(device)  # (N, d) uniform on the sphere
flat = spread[:, :3] @ torch.randn(3, d, generator=g).to(device)  # (N, d) inside a 3-d subspace
batches = {"spread": spread, "dimensional collapse (3 of 32 dims)": flat, "complete collapse": c}
reports = {name: collapse.collapse_report(z) for name, z in batches.items()}
print(pd.DataFrame(reports).T.round(3).to_string())
shown = {"std_ratio": "std·√d", "mean_norm": "mean-vector norm", "erank": "erank / d (uncentred)",
         "erank_centred": "erank / d (centred)"}
fig = go.Figure([go.Bar(name=name, x=list(shown.values()),
                        y=[r[k] / (d if k.startswith("erank") else 1) for k in shown]) for name, r in reports.items()])
fig.update_layout(title=f"Collapse diagnostics of three batches (N = {N}, d = {d})", template="plotly_white",
                  barmode="group", yaxis_title="value (1 = fully spread for the std and the ranks)", height=360)
fig

# %% [markdown]
# **Question.** The dimensionally collapsed batch has a per-dimension std close to the spread one's,
# and a mean-vector norm near 0. Which diagnostic gives it away, and why does the std not?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# The effective rank (centred or not): its spectrum has 3 non-zero singular values, so the rank reads
# about 3 of 32. The std is an average over coordinates of the spread along each axis; three random
# directions in 32 dimensions project onto every axis, so each coordinate still varies. The std
# detects *complete* collapse (everything at one point), the rank detects *dimensional* collapse
# (everything in a few directions). Do not read the centred rank of a collapsed batch on its own: with
# no spread left around the mean it reads 0 here, and in a *nearly* collapsed embedding it measures the
# shape of the tiny residual spread, which can look full-rank (section 2 shows one). Read it with the std.
#
# </details>

# %% [markdown]
# ## 2 · What prevents complete collapse: switch each ingredient off
#
# Each method has its own guard against the constant solution:
#
# | set-up | loss | what prevents collapse |
# |---|---|---|
# | SimSiam (Chen & He 2021) | $\tfrac12 D(p_1, \mathrm{sg}\,z_2) + \tfrac12 D(p_2, \mathrm{sg}\,z_1)$ | the stop-gradient and the predictor $h$ |
# | BYOL (Grill et al. 2020) | $2 - 2\cos(p_\theta, z'_\xi)$, target $\xi \leftarrow m\xi + (1-m)\theta$ | a slowly moving (EMA) target network, and the predictor |
# | VICReg (Bardes et al. 2022) | $\lambda s + \mu v + \nu c$ | the variance hinge $v = \frac1d\sum_j \max(0, 1 - \sqrt{\mathrm{Var}(z^j) + \epsilon})$; the covariance term $c = \frac1d\sum_{i\ne j}\mathrm{Cov}(Z)_{ij}^2$ decorrelates the dimensions |
# | Barlow Twins (Zbontar et al. 2021) | $\sum_i (1 - C_{ii})^2 + \lambda\sum_{i\ne j} C_{ij}^2$ | the cross-correlation of *standardised* dimensions must be the identity |
# | SimCLR (Chen et al. 2020) | NT-Xent | negatives: the other samples of the batch are pushed away |
#
# Each row of the next cell is one `fit` run on the vMF-cluster toy that the live widget of the next
# section also uses (8 classes on $S^{15}$), with the set-up's own switches: `stop_gradient=False`,
# `use_predictor=False` (SimSiam, BYOL), `ema=False` (BYOL: the target is the online network itself,
# behind a stop-gradient), `var_weight=0` and `cov_weight=0` (VICReg). Every run has the
# same encoder (a 3-layer MLP and a projector to $d = 32$), batch 128, learning rate $3\cdot10^{-3}$.
# After training, the diagnostics are taken on the projections of one fixed view of 512 samples, and
# kNN accuracy is the leave-one-out accuracy on those projections (the embedding the loss sees).

# %%
ARMS = {  # row name: (set-up, options)
    "SimSiam": ("simsiam", {}), "SimSiam, no stop-gradient": ("simsiam", dict(stop_gradient=False)),
    "SimSiam, no predictor": ("simsiam", dict(use_predictor=False)),
    "BYOL (EMA target)": ("byol", {}), "BYOL, no EMA target": ("byol", dict(ema=False)),
    "BYOL, no predictor": ("byol", dict(use_predictor=False)),
    "VICReg": ("vicreg", {}), "VICReg, invariance only": ("vicreg", dict(var_weight=0.0, cov_weight=0.0)),
    "VICReg, no covariance": ("vicreg", dict(cov_weight=0.0)),
    "Barlow Twins": ("barlow", {}), "SimCLR (negatives)": ("simclr", dict(temperature=0.2)),
}
SEEDS, STEPS = ((0,), 120) if FAST else ((0, 1, 2), 400)
toy = D.vmf_mixture(2000, n_classes=8, dim=16, concentration=15, view_noise=0.15, seed=0, device=device)
probe = toy.views(torch.arange(512, device=device), generator=toy.generator(7))[:, 0]  # (512, 16) fixed views

# %%
runs, rows = {}, []
for name, (method, options) in ARMS.items():
    for seed in SEEDS:
        runs[name, seed] = h = fit(toy, method, steps=STEPS, batch_size=128, lr=3e-3, eval_every=STEPS // 6,
                                   eval_size=512, metrics=("std", "erank", "knn_projection"), seed=seed,
                                   progress=False, device=device, **options)
        rows.append(dict(arm=name, seed=seed, loss=h.last()["loss"], knn=h.last()["knn_projection"],
                         collapsed=collapse.collapsed_loss(method, **options),
                         **collapse.collapse_report(h.method.project(probe))))
per_seed = pd.DataFrame(rows).set_index(["arm", "seed"])
table = per_seed.groupby("arm", sort=False).mean()
print(f"means over {len(SEEDS)} seed(s), {STEPS} steps; 'collapsed' = the loss of a collapsed batch (section 1)")
print(table[["loss", "collapsed", "std_ratio", "mean_norm", "erank", "erank_centred", "knn"]].round(3).to_string())

# %% [markdown]
# The figure follows the per-dimension std (times $\sqrt d$) and the uncentred effective rank during
# training, for the first seed: the collapsing runs head for 0 and 1.

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("per-dimension std × √d (1 = spread)",
                                                    "effective rank, uncentred (1 = one point)"))
colors = [f"hsl({int(360 * i / len(ARMS))}, 65%, 45%)" for i in range(len(ARMS))]
for color, name in zip(colors, ARMS):
    frame = runs[name, SEEDS[0]].frame
    dash = "dot" if ("no " in name or "only" in name) else "solid"
    for col, y in ((1, frame["std"] * math.sqrt(32)), (2, frame["erank"])):
        fig.add_scatter(x=frame["step"], y=y, name=name, legendgroup=name, showlegend=col == 1, row=1, col=col,
                        mode="lines+markers", line=dict(color=color, dash=dash), marker=dict(size=4))
fig.update_layout(title="Switching off one ingredient: std and rank during training (dotted: ablated)",
                  template="plotly_white", height=420)
fig.update_xaxes(title_text="step")
fig

# %% [markdown]
# The loss column does not rank these runs by quality. The cell asks which SimSiam run reached the
# lowest loss, and what its diagnostics say.

# %%
siam = table.loc[[name for name in ARMS if name.startswith("SimSiam")]]
lowest = siam["loss"].idxmin()
print(f"lowest SimSiam loss: '{lowest}' at {siam.loss[lowest]:+.3f} (collapsed value -1): std·√d "
      f"{siam.std_ratio[lowest]:.2f}, mean-vector norm {siam.mean_norm[lowest]:.2f}, kNN {siam.knn[lowest]:.2f}")
print(f"full SimSiam: loss {siam.loss['SimSiam']:+.3f}, std·√d {siam.std_ratio['SimSiam']:.2f}, "
      f"mean-vector norm {siam.mean_norm['SimSiam']:.2f}, kNN {siam.knn['SimSiam']:.2f}")

# %% [markdown]
# **BYOL's EMA target.** Three rows isolate it. "BYOL, no EMA target" keeps the predictor but makes the
# target the online network itself, behind a stop-gradient (that is SimSiam with BYOL's loss); "BYOL,
# no predictor" keeps the EMA target and drops the predictor; "SimSiam, no predictor" has neither.

# %%
ema_rows = ["BYOL (EMA target)", "BYOL, no EMA target", "BYOL, no predictor", "SimSiam, no predictor"]
print(table.loc[ema_rows, ["loss", "std_ratio", "mean_norm", "erank", "knn"]].round(3).to_string())
no_ema, ema_only, neither = (table.loc[row] for row in ema_rows[1:])
print(f"predictor without the EMA: std·√d {no_ema.std_ratio:.2f}, mean-vector norm {no_ema.mean_norm:.2f} "
      f"({'spread kept' if no_ema.std_ratio > 0.5 else 'collapsing'})")
print(f"EMA without the predictor: std·√d {ema_only.std_ratio:.2f} against {neither.std_ratio:.2f} with neither, "
      f"mean-vector norm {ema_only.mean_norm:.2f}: the EMA "
      f"{'slows' if ema_only.std_ratio > 2 * neither.std_ratio else 'does not slow'} the collapse and "
      f"{'does not stop it' if ema_only.mean_norm > 0.8 else 'stops it'}")

# %% [markdown]
# **Question.** On this toy, which of BYOL's two ingredients is needed against complete collapse, and
# what does the other one do? Why does the kNN accuracy of "BYOL, no predictor" not show the problem?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Read the two printed lines. Where they say "spread kept" and "slows ... does not stop it", the predictor
# (with the stop-gradient that BYOL's target also has) is what prevents the collapse: without the EMA,
# BYOL behaves like SimSiam; without the predictor, the EMA target only makes the embeddings drift
# together more slowly than with neither. Chen & He (2021) draw the same conclusion at scale: SimSiam is
# "BYOL without the momentum encoder", and it does not collapse, so the momentum encoder is not needed
# to prevent collapse (it does raise BYOL's accuracy). The kNN accuracy ranks neighbours by cosine, and
# a cap of the sphere that still holds some structure ranks them well: section 4 returns to this.
#
# </details>

# %% [markdown]
# **Question.** Read two rows: "VICReg, invariance only" and "VICReg, no covariance". Which kind of
# collapse does each show (look at std·√d, the mean-vector norm and the *centred* rank), and which
# term of the VICReg loss prevents which kind?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# With invariance only, nothing stops the embeddings from shrinking together: std·√d falls and the
# mean-vector norm rises towards 1, a complete collapse in progress (its centred rank stays high
# because what is left of the spread is small noise around the mean: hence "read it with the std").
# The variance hinge alone keeps every dimension's std up, so there is no complete collapse, but the
# dimensions can carry the same information: the centred rank drops to a few directions out of 32,
# a dimensional collapse. The covariance term decorrelates the dimensions and restores the rank
# (compare with the full VICReg row). Bardes et al. give the two terms these two roles: the variance
# term prevents collapse, the covariance term stops the dimensions from encoding the same information.
#
# </details>

# %% [markdown]
# ## 3 · Live: the collapse lab
#
# `CollapseLab` trains on the same vMF toy in the background and redraws the loss, the per-dimension
# std, the effective rank, the uniformity and the spectrum every 10 steps. The checkboxes pick the
# set-up: *negatives* → SimCLR; else *variance/covariance* → VICReg with those terms; else *EMA
# target* → BYOL; else SimSiam with the chosen stop-gradient and predictor. Press **Start**; untick
# *stop-gradient* and start again; then try the EMA target without a predictor. The widget trains at
# the default learning rate ($10^{-3}$, a third of the table's), so expect a collapse to take more steps.
#
# The cell prints the set-up that a few toggle settings give (the app's plain `recipe_for()`), then
# shows the app with its default settings; nothing trains until you press Start.

# %%
app = widgets.CollapseLab(steps=300)
boxes = ("stop_gradient", "predictor", "ema", "variance", "covariance", "negatives")
defaults = {box: getattr(app, box).value for box in boxes}
for change in ({}, {"stop_gradient": False}, {"predictor": False}, {"ema": True, "predictor": False},
               {"variance": True}, {"variance": True, "covariance": True}, {"negatives": True}):
    for box, value in {**defaults, **change}.items():
        getattr(app, box).value = value
    print(f"{str(change or 'defaults'):<38} -> {app.recipe_for()}")
for box, value in defaults.items():
    getattr(app, box).value = value
app

# %% [markdown]
# ## 4 · Reproduce the finding: SimSiam needs its stop-gradient and its predictor
#
# **Paper.** X. Chen, K. He (2021), *Exploring Simple Siamese Representation Learning*. Claims
# (their Figure 2 and Table 1): without the stop-gradient the optimiser quickly finds the degenerate
# solution, the training loss reaches its minimum $-1$, the std of the $\ell_2$-normalised output
# falls to 0 while with the stop-gradient it stays near $1/\sqrt d$, and the kNN accuracy drops; removing the
# predictor also makes SimSiam collapse.
#
# **Toy.** The SimSiam rows of section 2 (vMF clusters, $d = 32$; one seed in fast mode, three in
# full mode). The claim holds for a seed when each ablated run (no stop-gradient; no predictor) has
# (i) a lower final loss than full SimSiam, (ii) less than half its std·√d, and (iii) a lower kNN
# accuracy.

# %%
def holds(seed: int, ablated: str) -> bool:
    full, off = per_seed.loc["SimSiam", seed], per_seed.loc[ablated, seed]
    return bool(off.loss < full.loss and off.std_ratio < 0.5 * full.std_ratio and off.knn < full.knn)


ABLATED = ("SimSiam, no stop-gradient", "SimSiam, no predictor")
passed = [holds(seed, ablated) for seed in SEEDS for ablated in ABLATED]
word = "agrees" if all(passed) else "disagrees" if not any(passed) else "partly agrees"
full = table.loc["SimSiam"]
numbers = "; ".join(f"{a.split(', ')[1]}: loss {table.loss[a]:+.3f}, std·√d {table.std_ratio[a]:.2f}, "
                    f"kNN {table.knn[a]:.2f}" for a in ABLATED)
print(f"Verdict: {word} — full SimSiam: loss {full.loss:+.3f}, std·√d {full.std_ratio:.2f}, kNN {full.knn:.2f}; "
      f"{numbers} ({sum(passed)}/{len(passed)} seed-ablation pairs meet all three conditions, {STEPS} steps)")

# %% [markdown]
# The figure puts the three SimSiam runs (first seed) side by side as Chen & He's Figure 2 does:
# the training loss, the per-dimension std and the kNN accuracy during training.

# %%
fig = make_subplots(rows=1, cols=3, subplot_titles=("training loss (collapsed value −1)", "std × √d",
                                                    "kNN accuracy of the embedding"))
for color, name in zip(("#1f77b4", "#d62728", "#ff7f0e"), ("SimSiam",) + ABLATED):
    frame = runs[name, SEEDS[0]].frame
    for col, y in enumerate((frame["loss"], frame["std"] * math.sqrt(32), frame["knn_projection"]), start=1):
        fig.add_scatter(x=frame["step"], y=y, name=name, legendgroup=name, showlegend=col == 1,
                        line=dict(color=color), row=1, col=col)
fig.add_hline(y=-1, line_dash="dash", line_color="grey", row=1, col=1)
fig.update_layout(title="SimSiam with and without its stop-gradient and predictor (cf. Chen & He 2021, Fig. 2)",
                  template="plotly_white", height=380)
fig.update_xaxes(title_text="step")
fig

# %% [markdown]
# **Question.** In this toy the kNN accuracy of the collapsed runs stays well above chance
# ($1/8$), unlike in the paper where it reaches chance. Look at std·√d: is the collapse complete?
# Why can a cosine kNN still work on embeddings that are all within a tiny cap of the sphere?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# std·√d is small but not 0: the embeddings sit in a small cap around one direction, and the
# residual deviations still carry some of the input's structure. Cosine kNN only ranks neighbours, so
# it is blind to the scale of those deviations; it fails only once they are numerically gone (much
# longer training, as in the paper's ImageNet runs; full mode trains 400 steps instead of 120). A linear
# probe on standardised features is blind to scale in the same way: neither accuracy shows *how close*
# to a point the embedding is, which is why the std and the mean-vector norm are tracked during training.
#
# </details>

# %% [markdown]
# ## 5 · Dimensional collapse in a contrastive loss (Jing et al. 2022)
#
# Negatives prevent complete collapse, but Jing, Vincent, LeCun and Tian (2022) show that SimCLR's
# embeddings still **collapse dimensionally**: the singular-value spectrum of the embedding matrix has a
# tail of near-zero values. They name two causes: **strong augmentation**, which makes the weights
# shrink along directions where the augmentation varies more than the data, and the **implicit
# regularisation** of stacked layers. Their DirectCLR drops the trainable projector; analysing a linear
# projector, they show it only needs to be diagonal and low-rank, that is, the embedding after it
# spans fewer directions than the representation before it.
#
# **Toy.** `D.anisotropic_gaussian`: 32-d Gaussian data whose variance along principal
# direction $k$ falls geometrically from $\lambda_1 = 1$ to $\lambda_{32} = 0.01$; a view adds noise
# $\sigma\varepsilon$ in every direction, so $\sigma$ is the augmentation strength and the data
# variance is below the augmentation variance in $\#\{k: \lambda_k < \sigma^2\}$ directions. SimCLR
# ($\tau = 0.2$) trains an MLP encoder whose 32-d output (the **representation**) goes through a
# **linear projector** to the 32-d **embedding** the loss sees; a second arm has **no projector** (the
# loss sees the representation). Both arms start from the same backbone weights
# (`collapse.encoder_with_projector`). We measure the centred spectrum $\sigma_k/\sigma_1$ and the
# centred effective rank of both, on 1024 clean inputs.

# %%
SIGMAS, JSEEDS, JSTEPS = ((0.05, 0.3, 0.8), (0,), 150) if FAST else ((0.05, 0.1, 0.2, 0.4, 0.8), (0, 1), 300)
spectra, ranks = {}, []
for sigma in SIGMAS:
    data = D.anisotropic_gaussian(2000, dim=32, view_noise=sigma, seed=0, device=device)
    x = data.x[:1024]  # (1024, 32) clean inputs
    for projector in ("linear", "none"):
        for seed in JSEEDS:
            encoder = collapse.encoder_with_projector(32, projector=projector, feature_dim=32, seed=seed)
            h = fit(data, "simclr", steps=JSTEPS, batch_size=128, eval_every=0, metrics=(), temperature=0.2,
                    seed=seed, progress=False, device=device, encoder=encoder)
            rep, emb = h.method.features(x), h.method.project(x)  # (1024, 32) before / after the projector
            spectra[sigma, projector, seed] = (M.singular_values(rep).cpu(), M.singular_values(emb).cpu())
            ranks.append(dict(sigma=sigma, projector=projector, seed=seed, dominated=data.dominated_directions(),
                              representation=M.effective_rank(rep, center=True),
                              embedding=M.effective_rank(emb, center=True)))
ranks = pd.DataFrame(ranks).groupby(["projector", "sigma"]).mean().drop(columns="seed")
print(ranks.round(2).to_string())

# %%
panels = (("linear", 1, "embedding, after the linear projector"), ("linear", 0, "representation, before it"),
          ("none", 0, "representation, no projector"))
fig = make_subplots(rows=1, cols=3, shared_yaxes=True, subplot_titles=[title for *_, title in panels])
for i, sigma in enumerate(SIGMAS):
    color = f"hsl({int(240 - 240 * i / max(1, len(SIGMAS) - 1))}, 70%, 45%)"  # blue (weak) to red (strong)
    for col, (projector, which, _) in enumerate(panels, start=1):
        s = spectra[sigma, projector, JSEEDS[0]][which]
        fig.add_scatter(x=np.arange(1, len(s) + 1), y=np.log10((s / s[0]).clamp_min(1e-12).numpy()),
                        name=f"σ = {sigma}", legendgroup=str(sigma), showlegend=col == 1, line=dict(color=color),
                        row=1, col=col)
fig.update_layout(title="Centred singular-value spectra, log10 σ_k/σ_1, as the augmentation σ grows (seed 0)",
                  template="plotly_white", height=400)
fig.update_xaxes(title_text="k")
fig.update_yaxes(title_text="log10 σ_k / σ_1", col=1)
fig

# %%
emb_lin, rep_lin = ranks.loc["linear", "embedding"], ranks.loc["linear", "representation"]
rep_none = ranks.loc["none", "representation"]


def falls(series) -> bool:  # over 10 % lower at the strongest σ, and never up by more than 0.5 from one σ to the next
    v = series.to_numpy()
    return bool(v[-1] < 0.9 * v[0] and np.all(np.diff(v) < 0.5))


a_ok, b_ok = falls(emb_lin) and falls(rep_none), bool((emb_lin < rep_lin).all())
word = "agrees" if a_ok and b_ok else "partly agrees" if a_ok or b_ok else "disagrees"
print(f"Verdict: {word} (Jing et al. 2022) — (a) stronger augmentation "
      f"{'lowers' if a_ok else 'does NOT consistently lower'} the embedding's effective rank: "
      f"{emb_lin.iloc[0]:.1f} → {emb_lin.iloc[-1]:.1f} after a linear projector, {rep_none.iloc[0]:.1f} → "
      f"{rep_none.iloc[-1]:.1f} without one, for σ = {SIGMAS[0]} → {SIGMAS[-1]}; (b) the embedding after the linear "
      f"projector has {'a lower' if b_ok else 'NOT always a lower'} rank than the representation before it: "
      + ", ".join(f"{e:.1f} vs {r:.1f}" for e, r in zip(emb_lin, rep_lin)))
print("representation rank without / with a linear projector: "
      + ", ".join(f"σ = {s}: {a:.1f} / {b:.1f}" for s, a, b in zip(SIGMAS, rep_none, rep_lin)))

# %% [markdown]
# **Question.** At the strongest augmentation, the data variance is below the augmentation variance in
# most directions (the `dominated` column), yet the effective rank stays far above the number of
# remaining directions. Jing et al.'s argument is for a linear encoder trained to convergence; what
# differs here? And compare the representation with and without a projector: which keeps more
# directions at weak and at strong augmentation, on this toy?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Our encoder is a non-linear MLP trained for a few hundred steps, and the effective rank is an
# entropy: a direction whose singular value has fallen by 10× still counts for a good part of one
# "effective" dimension. The spectra show the trend the theory predicts (the tail drops as σ grows)
# without the sharp cut-off of the linear, converged case. On the projector, read the last printed
# line: on this toy the representation *without* a projector keeps more directions than the one
# before a linear projector at weak augmentation, and about as many at strong augmentation; what the
# linear projector changes is mainly where the rank is lost: after it rather than before it. Whether
# a projector protects the representation's rank in a deep network (Jing et al. work with a ResNet
# on ImageNet) is not something this 3-layer MLP can test.
#
# </details>

# %% [markdown]
# ## 6 · Class collapse and feature suppression (Xue et al. 2023)
#
# **Paper.** Y. Xue, S. Joshi, E. Gan, P.-Y. Chen, B. Mirzasoleiman (2023), *Which Features are Learnt
# by Contrastive Learning? On the Role of Simplicity Bias in Class Collapse and Feature Suppression*.
# Claims: supervised contrastive learning (SupCon) can **collapse the subclasses** of a class onto each
# other; unsupervised contrastive learning (SimCLR) can **suppress** a harder class-relevant feature
# when an easier class-irrelevant one is enough to tell the samples apart. Remedies they name: mixing
# the supervised and unsupervised losses (against class collapse), a larger embedding dimension and
# better augmentations (against feature suppression).
#
# **Toy.** `data.feature_mix`: each input is a rotation of three blocks, an *easy* per-sample feature,
# the *class* direction (2 classes) and the *subclass* direction (2 per class), each with its strength.
#
# - *Class collapse*: no easy feature (`easy_strength=0`). We measure the **subclass share** of the
#   within-class spread, `collapse.variance_share(z, subclass, within=class)`:
#   $S = \sum_g n_g\lVert\bar u_g - \bar u_c\rVert^2 / \sum_i \lVert u_i - \bar u_c\rVert^2$ over the unit
#   embeddings $u$ of each class $c$ and its subclasses $g$: 1 when each subclass is one point, 0 when
#   the subclasses coincide. The joint loss is $w\,\mathcal L_{SupCon} + (1-w)\,\mathcal L_{SimCLR}$ with
#   $w = 0.5$ (the set-up `"supcon_simclr"`, `methods.SupConSimCLR`).
# - *Feature suppression*: the easy feature at strength 1, identical in both views. We measure the
#   class kNN accuracy of a 4-d embedding, then give the encoder a 32-d embedding, or better views
#   (`easy_view_noise=0.5` makes the easy feature differ between views, so it no longer identifies the
#   sample).
#
# All runs: $\tau = 0.1$, batch 128; metrics on the embeddings of one fresh view of 1000 samples.

# %%
XSEEDS, XSTEPS = ((0,), 150) if FAST else ((0, 1, 2), 300)
plain = D.feature_mix(2000, easy_strength=0.0, seed=0, device=device)  # class + subclass only
easy = D.feature_mix(2000, seed=0, device=device)  # + an easy per-sample feature, same in both views
better = D.feature_mix(2000, easy_view_noise=0.5, seed=0, device=device)  # the easy feature differs between views
XARMS = {  # name: (data, set-up, embedding dimension)
    "SimCLR": (plain, "simclr", 4), "SupCon": (plain, "supcon", 4), "SupCon + SimCLR": (plain, "joint", 4),
    "SimCLR, easy feature": (easy, "simclr", 4), "SimCLR, easy feature, d = 32": (easy, "simclr", 32),
    "SimCLR, easy feature, better views": (better, "simclr", 4),
}

# %%
xrows = []
for name, (data, method, out_dim) in XARMS.items():
    idx = torch.arange(1000, device=device)
    view = data.views(idx, n_views=1, generator=data.generator(99))[:, 0]  # (1000, 16) one fresh view
    y, sub = data.labels[idx], data.subclass[idx]
    for seed in XSEEDS:
        joint = method == "joint"
        model = (collapse.supcon_simclr(data, weight=0.5, temperature=0.1, out_dim=out_dim, seed=seed)
                 if joint else method)
        h = fit(data, model, steps=XSTEPS, batch_size=128, eval_every=0, metrics=(), seed=seed, progress=False,
                device=device, **({} if joint else dict(temperature=0.1, out_dim=out_dim)))
        z = h.method.project(view)  # (1000, out_dim)
        xrows.append(dict(arm=name, seed=seed, class_knn=M.knn_accuracy(z, y, k=20),
                          subclass_share=collapse.variance_share(z, sub, within=y),
                          subclass_probe=collapse.subclass_accuracy(z, y, sub)))
xtable = pd.DataFrame(xrows).groupby("arm", sort=False).mean().drop(columns="seed")
print(f"means over {len(XSEEDS)} seed(s), {XSTEPS} steps; embedding d = 4 unless named")
print(xtable.round(3).to_string())

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("class collapse: subclass share of the within-class spread",
                                                    "feature suppression: class kNN accuracy"))
first, second = list(XARMS)[:3], list(XARMS)[3:]
fig.add_bar(x=first, y=xtable.subclass_share[first], marker_color=["#1f77b4", "#d62728", "#2ca02c"], row=1, col=1)
fig.add_bar(x=["SimCLR, no easy feature"] + second, y=[xtable.class_knn["SimCLR"], *xtable.class_knn[second]],
            marker_color=["#1f77b4", "#d62728", "#2ca02c", "#2ca02c"], row=1, col=2)
fig.update_layout(title="Xue et al. on the feature_mix toy: the two failures and their remedies (red: the failure)",
                  template="plotly_white", showlegend=False, height=420)
fig.update_yaxes(range=[0, 1.05])
fig

# %%
t = xtable
share = t.subclass_share
collapse_ok = (share["SupCon"] < 0.25 * share["SimCLR"] and share["SupCon + SimCLR"] > 0.5 * share["SimCLR"]
               and t.class_knn["SupCon"] > 0.95)
base = t.class_knn["SimCLR, easy feature"]
suppressed = base < t.class_knn["SimCLR"] - 0.1
fixes = {f: t.class_knn[f"SimCLR, easy feature, {f}"] for f in ("d = 32", "better views")}
fixes_ok = all(v > base + 0.1 for v in fixes.values())
word = ("agrees" if collapse_ok and suppressed and fixes_ok
        else "disagrees" if not (collapse_ok or suppressed) else "partly agrees")
print(f"Verdict: {word} (Xue et al. 2023) — class collapse {'shown' if collapse_ok else 'NOT shown'}: "
      f"the subclass share is {share['SupCon']:.3f} under SupCon vs {share['SimCLR']:.3f} under SimCLR and "
      f"{share['SupCon + SimCLR']:.3f} with the joint loss (SupCon class kNN {t.class_knn['SupCon']:.2f}); "
      f"feature suppression {'shown' if suppressed else 'NOT shown'}: SimCLR's class kNN is {base:.2f} with the easy "
      f"feature vs {t.class_knn['SimCLR']:.2f} without; remedies {'work' if fixes_ok else 'do NOT both work'}: "
      + ", ".join(f"{f} → {v:.2f}" for f, v in fixes.items()))

# %% [markdown]
# **Question.** Under SupCon the subclass share is near 0, yet the subclass linear probe
# (`subclass_probe`) is still above its chance level of 0.5. Is the subclass gone? Which of the two
# numbers would you use to *detect* class collapse, and which to decide whether a downstream task on
# subclasses could still work?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# The subclass has not vanished: a small offset between the subclass means survives, and a linear
# probe on standardised features can amplify it. But it is tiny compared with the spread of the views
# within a class, which is what the share measures: the geometry has collapsed, the information is
# nearly gone. The share detects the collapse; the probe tells you what a downstream classifier can
# still recover. The joint loss keeps both the class (SupCon's pull) and the subclass (SimCLR's
# instance discrimination needs it to tell the samples apart).
#
# </details>

# %% [markdown]
# ## Exercises
#
# ### Exercise 1: the per-dimension std
#
# Write `my_collapse_std(z)`: scale each row of the `(N, D)` batch to unit length, take the standard
# deviation of each dimension **over the batch** (the unbiased one, `torch.std`'s default), and
# return its mean over the dimensions as a float. The check compares it with `metrics.collapse_std`.

# %%
def my_collapse_std(z: torch.Tensor) -> float:
    """Mean over the D dimensions of the batch std of the unit rows of z (N, D)."""
    # Your code here.
    return None


# %%
def check_collapse_std(fn) -> bool:
    """Compare fn with metrics.collapse_std and explain the first difference found."""
    gen = torch.Generator().manual_seed(2)
    z = 3.0 * torch.randn(64, 16, generator=gen) + 1.0  # (64, 16), not unit rows on purpose
    expected = M.collapse_std(z)
    done, got = attempt(fn, z)
    if not done:
        return False
    got = torch.as_tensor(got)
    if got.numel() != 1:
        print(f"Not yet: expected one number (the mean over dimensions), got shape {tuple(got.shape)}.")
        return False
    got = float(got)
    if math.isclose(got, expected, rel_tol=1e-5):
        point = M.collapse_std(torch.ones(8, 16))
        print(f"Check passed: your std {got:.5f} matches metrics.collapse_std; a spread batch gives about "
              f"1/sqrt(D) = {1 / math.sqrt(16):.3f}, a collapsed one {point:.1f}.")
        return True
    u = F.normalize(z, dim=1)
    mistakes = {"forgot to scale the rows to unit length": z.std(0).mean(),
                "took the std over the dimensions (dim=1) instead of over the batch (dim=0)": u.std(1).mean(),
                "used the biased std (unbiased=False)": u.std(0, unbiased=False).mean(),
                "normalised the columns (dim=0) instead of the rows": F.normalize(z, dim=0).std(0).mean()}
    print(f"Not yet: you got {got:.5f}, metrics.collapse_std gives {expected:.5f}.")
    for mistake, value in mistakes.items():
        if math.isclose(got, float(value), rel_tol=1e-5):
            print(f"It matches what you get if you {mistake}.")
            return False
    print("Normalise the rows with F.normalize(z, dim=1), then .std(0).mean().")
    return False


check_collapse_std(my_collapse_std)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_collapse_std(z):
#     u = F.normalize(z, dim=1)  # (N, D) unit rows
#     return float(u.std(0).mean())  # (D,) std over the batch, then the mean over dimensions
#
#
# check_collapse_std(my_collapse_std)
# ```
#
# </details>

# %% [markdown]
# ### Exercise 2: the effective rank
#
# Write `my_effective_rank(z)` for the **uncentred** `(N, D)` matrix: its singular values
# `torch.linalg.svdvals(z)`, the distribution $p_k = \sigma_k / \sum_j \sigma_j$, and
# $\exp(-\sum_k p_k \log p_k)$ (skip the $p_k = 0$ terms). The check compares it with
# `metrics.effective_rank` on a batch of known rank.

# %%
def my_effective_rank(z: torch.Tensor) -> float:
    """exp of the entropy of the normalised singular values of z (N, D), uncentred."""
    # Your code here.
    return None


# %%
def check_effective_rank(fn) -> bool:
    """Compare fn with metrics.effective_rank and explain the first difference found."""
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(200, 4, generator=gen) @ torch.randn(4, 12, generator=gen) + 0.5  # (200, 12) rank <= 5
    expected = M.effective_rank(z)
    done, got = attempt(fn, z)
    if not done:
        return False
    got = float(got)
    if math.isclose(got, expected, rel_tol=1e-4):
        print(f"Check passed: your effective rank {got:.3f} matches metrics.effective_rank "
              f"(the identity I_6 gives {fn(torch.eye(6)):.3f}; one repeated row gives {fn(torch.ones(5, 3)):.3f}).")
        return True
    s = torch.linalg.svdvals(z)
    entropy = lambda q: float(-(q * q.log()).sum())  # noqa: E731
    mistakes = {"used the squared singular values (eigenvalues) for p": math.exp(entropy(s**2 / (s**2).sum())),
                "returned the entropy, not its exponential": entropy(s / s.sum()),
                "centred the matrix first (this exercise is uncentred)": M.effective_rank(z, center=True)}
    print(f"Not yet: you got {got:.4f}, metrics.effective_rank gives {expected:.4f}.")
    for mistake, value in mistakes.items():
        if math.isclose(got, value, rel_tol=1e-4):
            print(f"It matches what you get if you {mistake}.")
            return False
    print("p = s / s.sum(); return exp(-(p * log p).sum()) over the p > 0.")
    return False


check_effective_rank(my_effective_rank)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_effective_rank(z):
#     s = torch.linalg.svdvals(z.float())  # (min(N, D),) singular values
#     p = s / s.sum()
#     p = p[p > 0]  # 0 log 0 = 0
#     return float(torch.exp(-(p * p.log()).sum()))
#
#
# check_effective_rank(my_effective_rank)
# ```
#
# </details>

# %% [markdown]
# ### Exercise 3: SimSiam's loss and its stop-gradient
#
# Write `my_simsiam_loss(p1, p2, z1, z2)`
# $= \tfrac12 D(p_1, \mathrm{sg}\,z_2) + \tfrac12 D(p_2, \mathrm{sg}\,z_1)$ with
# $D(p, z) = -\mathrm{mean}_i \cos(p_i, z_i)$. The stop-gradient is `.detach()`. The check compares the
# value with `losses.negative_cosine` **and** runs a backward pass: no gradient may reach `z1` or `z2`.

# %%
def my_simsiam_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Symmetric negative cosine between predictions and the other view's stop-gradient projections."""
    # Your code here.
    return None


# %%
def check_simsiam_loss(fn) -> bool:
    """Check the value against losses.negative_cosine and that no gradient reaches the targets."""
    gen = torch.Generator().manual_seed(6)
    p1, p2, z1, z2 = (torch.randn(16, 8, generator=gen).requires_grad_() for _ in range(4))
    expected = float((L.negative_cosine(p1, z2) + L.negative_cosine(p2, z1)).detach() / 2)
    done, loss = attempt(fn, p1, p2, z1, z2)
    if not done:
        return False
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        print("Not yet: return a scalar tensor (so that it can be backpropagated).")
        return False
    got = float(loss)
    if not math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-7):
        cos = lambda a, b: F.cosine_similarity(a, b, dim=1).mean()  # noqa: E731
        mistakes = {"paired each prediction with its own view (p1 with z1)": -(cos(p1, z1) + cos(p2, z2)) / 2,
                    "forgot the minus sign": (cos(p1, z2) + cos(p2, z1)) / 2,
                    "left out the normalisation (dot products, not cosines)":
                        -((p1 * z2).sum(1).mean() + (p2 * z1).sum(1).mean()) / 2,
                    "summed the two terms instead of averaging them": -(cos(p1, z2) + cos(p2, z1))}
        print(f"Not yet: your loss is {got:.5f}, the expected value is {expected:.5f}.")
        for mistake, value in mistakes.items():
            if math.isclose(got, float(value), rel_tol=1e-5):
                print(f"It matches what you get if you {mistake}.")
                return False
        print("Use -F.cosine_similarity(p, z, dim=1).mean() for D(p, z).")
        return False
    if not loss.requires_grad:
        print("Not yet: the value is right but the loss has no gradient at all; do not detach the predictions.")
        return False
    loss.backward()
    leaked = [name for name, t in (("z1", z1), ("z2", z2)) if t.grad is not None and t.grad.abs().max() > 0]
    if leaked:
        print(f"Not yet: the value is right, but gradient flows into {', '.join(leaked)}: the stop-gradient is missing."
              " Detach the targets (z.detach()); without it SimSiam collapses (section 4).")
        return False
    print(f"Check passed: your loss {got:.5f} matches, and the targets get no gradient (the predictions do: "
          f"|grad p1| = {p1.grad.norm():.3f}).")
    return True


check_simsiam_loss(my_simsiam_loss)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_simsiam_loss(p1, p2, z1, z2):
#     def D(p, z):
#         return -F.cosine_similarity(p, z.detach(), dim=1).mean()  # stop-gradient on the target
#     return (D(p1, z2) + D(p2, z1)) / 2
#
#
# check_simsiam_loss(my_simsiam_loss)
# ```
#
# </details>

# %% [markdown]
# ## Summary
#
# - The loss value cannot reveal collapse: for SimSiam, BYOL and VICReg without its variance term, a
#   collapsed batch *is* the minimum (SimSiam: exactly −1). Track the per-dimension std against
#   $1/\sqrt d$, the mean-vector norm and the effective rank instead; what keeps these objectives
#   from collapsing is structural (stop-gradient with a predictor, an EMA target, variance and
#   covariance terms, or negatives), and switching it off shows in the diagnostics, not in the loss.
# - Negatives prevent complete collapse but not dimensional collapse: the spectrum of a contrastive
#   embedding loses its tail as the augmentation grows, and after a linear projector the embedding
#   keeps fewer directions than the representation before it (Jing et al. 2022).
# - Which features a contrastive loss learns depends on what is easiest: SupCon can merge the
#   subclasses of a class, SimCLR can ignore a hard class feature when an easy feature identifies the
#   sample. Mixing the two losses, a larger embedding and better views counter them (Xue et al. 2023);
#   the verdict lines above say how far this toy agrees.
#
# ## Further reading
#
# - X. Chen, K. He (2021). *Exploring Simple Siamese Representation Learning* (SimSiam). CVPR.
#   [arXiv:2011.10566](https://arxiv.org/abs/2011.10566)
# - J.-B. Grill et al. (2020). *Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning*
#   (BYOL). NeurIPS. [arXiv:2006.07733](https://arxiv.org/abs/2006.07733)
# - J. Zbontar, L. Jing, I. Misra, Y. LeCun, S. Deny (2021). *Barlow Twins: Self-Supervised Learning via
#   Redundancy Reduction*. ICML. [arXiv:2103.03230](https://arxiv.org/abs/2103.03230)
# - A. Bardes, J. Ponce, Y. LeCun (2022). *VICReg: Variance-Invariance-Covariance Regularization for
#   Self-Supervised Learning*. ICLR. [arXiv:2105.04906](https://arxiv.org/abs/2105.04906)
# - Y. Tian, X. Chen, S. Ganguli (2021). *Understanding Self-Supervised Learning Dynamics without
#   Contrastive Pairs* (why the predictor and stop-gradient avoid collapse). ICML.
#   [arXiv:2102.06810](https://arxiv.org/abs/2102.06810)
# - L. Jing, P. Vincent, Y. LeCun, Y. Tian (2022). *Understanding Dimensional Collapse in Contrastive
#   Self-supervised Learning* (DirectCLR). ICLR. [arXiv:2110.09348](https://arxiv.org/abs/2110.09348)
# - Q. Garrido, R. Balestriero, L. Najman, Y. LeCun (2023). *RankMe: Assessing the Downstream Performance
#   of Pretrained Self-Supervised Representations by Their Rank*. ICML.
#   [arXiv:2210.02885](https://arxiv.org/abs/2210.02885)
# - Y. Xue, S. Joshi, E. Gan, P.-Y. Chen, B. Mirzasoleiman (2023). *Which Features are Learnt by
#   Contrastive Learning? On the Role of Simplicity Bias in Class Collapse and Feature Suppression*.
#   ICML. [arXiv:2305.16536](https://arxiv.org/abs/2305.16536)
# - O. Roy, M. Vetterli (2007). *The Effective Rank: a Measure of Effective Dimensionality*. EUSIPCO
#   (no arXiv version).
