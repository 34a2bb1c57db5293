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
# # 07 · Collapse: what keeps a siamese network from mapping everything to one point
#
# A siamese network can satisfy "make the two views agree" in a useless way: map every input to
# the same point. That is **complete collapse**. Contrastive losses prevent it with negatives;
# non-contrastive methods (SimSiam, BYOL, Barlow Twins, VICReg) prevent it with other ingredients.
# This notebook measures collapse, reproduces SimSiam's finding that its stop-gradient and its
# predictor are what prevent it, and lets you switch the ingredients on and off live.
#
# **Learning goals.** You will be able to
#
# - explain why the loss value cannot reveal collapse (a collapsed batch gives SimSiam exactly −1,
#   its minimum) and read the diagnostics that can: the per-dimension std against $1/\sqrt{d}$, the
#   mean-vector norm and the effective rank;
# - test a published claim with a decision rule fixed before the runs: SimSiam collapses without its
#   stop-gradient or its predictor (Chen & He 2021);
# - say what stop-gradient, the predictor, an EMA target, variance/covariance terms and negatives each
#   do against collapse.
#
# **Prerequisites.** `00_start_here` (NT-Xent, reading a loss against its chance level) and
# `04_hypersphere_geometry` (uniformity); singular values; what kNN accuracy measures.
#
# **Time.** Core path (sections 1–3, the exercises, the summary): about 60–75 minutes in class. Three
# **Optional** sections after the summary can be skipped or set as homework: the other methods'
# guards, dimensional collapse (Jing et al. 2022), class collapse and feature suppression (Xue et al. 2023).
#
# **Expected run time** on a 2-core laptop CPU, kernel start included: fast mode
# (`CONTRASTLAB_FAST=1`, what CI runs) about 30 s, full mode (the default) about 1.5 minutes
# (measured: about 26 and 75 kernel-CPU seconds). No downloads.

# %% [markdown]
# ## Setup
#
# `setup()` seeds torch, picks the device, runs torch on one thread on a CPU and reads fast mode
# (`CONTRASTLAB_FAST=1`, small sizes).

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
from contrastlab.interactive import widgets
from contrastlab.lessons import collapse, setup, verdicts
from contrastlab.lessons.exercises import attempt
from contrastlab.train import fit

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
# Its minimum, $-1$, is reached by a network that outputs one constant vector $c$ for every input:
# $D(c, c) = -1$ exactly. A collapsed batch puts NT-Xent at its chance level $\log(2N-1)$ instead
# (notebook 00). The cell computes several objectives on a collapsed batch (`collapse.collapsed_loss`)
# next to the lowest value each can take.

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
print(f"\nNT-Xent of a collapsed float32 batch: {L.nt_xent(c, c, temperature=0.2).item():.4f} "
      f"= log(2N-1) = {math.log(2 * N - 1):.4f}")

# %% [markdown]
# So a SimSiam loss of $-0.99$ may mean "excellent" or "collapsed": the number alone cannot say. The
# diagnostics below can (all in `contrastlab.metrics`, gathered by `collapse.collapse_report`). With
# unit vectors $\hat z_i = z_i/\lVert z_i\rVert$ in $d$ dimensions:
#
# - **per-dimension std** $\frac1d\sum_j \mathrm{std}_i(\hat z_{ij})$ (Chen & He): about $1/\sqrt d$
#   for vectors spread over the sphere, 0 for collapse. We report it **times $\sqrt d$** (`std_ratio`,
#   written std·√d): about 1 when spread, 0 when collapsed, whatever $d$;
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
# (everything in a few directions). The centred rank of a *nearly* collapsed embedding measures the
# shape of its tiny residual spread and can look high (section 2's untrained row): read it with the std.
#
# </details>

# %% [markdown]
# ## 2 · Reproduce the finding: SimSiam needs its stop-gradient and its predictor
#
# **Paper.** X. Chen, K. He (2021), *Exploring Simple Siamese Representation Learning*. Claims
# (their Figure 2 and Table 1): without the stop-gradient the optimiser finds the degenerate solution,
# the std of the $\ell_2$-normalised output falls to 0 while with it the std stays near $1/\sqrt d$, and
# the kNN accuracy drops; removing the predictor also makes SimSiam collapse.
#
# **Toy.** `D.vmf_mixture`: 8 clusters on $S^{15}$. Three arms share everything (MLP encoder, projector
# to $d = 32$, batch 128, learning rate $3\cdot10^{-3}$) but the switch: full SimSiam,
# `stop_gradient=False`, `use_predictor=False`. Diagnostics and leave-one-out kNN accuracy are taken on
# the projections of one fixed view of 512 samples.
#
# **Baseline.** The same encoder, untrained (`lr = 0`, the same initialisation): full SimSiam must beat
# its kNN accuracy, or the toy cannot tell a collapsed run from one that learned nothing.
#
# **Decision rules**, written before the runs. A ratio is read on a log scale: the effect
# $\log_2(\text{std·√d ablated} / \text{std·√d full})$ is $-1$ when the ablation halves the spread, so
# the margin 1 asks for at least a halving on the whole interval.

# %%
SEEDS, STEPS = ((0, 1, 2), 120) if FAST else ((0, 1, 2, 3, 4), 400)
BASELINE = "the untrained encoder's kNN accuracy (full SimSiam's must beat it)"
rules = {ablated: verdicts.Rule(
    f"07_collapse:{rule_id}",
    claim=f"SimSiam {what} collapses: the std of its normalised output falls far below full SimSiam's "
          f"(Chen & He 2021, {where})",
    effect=f"log2(std·√d {what} / std·√d of full SimSiam)", direction=-1, margin=1.0, baseline=BASELINE)
    for ablated, rule_id, what, where in (
        ("SimSiam, no stop-gradient", "no_stop_gradient", "without the stop-gradient", "Fig. 2"),
        ("SimSiam, no predictor", "no_predictor", "without the predictor", "Table 1"))}
rules["knn"] = verdicts.Rule(
    "07_collapse:no_stop_gradient_knn",
    claim="without the stop-gradient SimSiam's kNN accuracy drops (Chen & He 2021, Fig. 2)",
    effect="kNN accuracy without the stop-gradient minus full SimSiam's", direction=-1, baseline=BASELINE)
for rule in rules.values():
    print(rule, end="\n\n")

# %%
toy = D.vmf_mixture(2000, n_classes=8, dim=16, concentration=15, view_noise=0.15, seed=0, device=device)
probe = toy.views(torch.arange(512, device=device), generator=toy.generator(7))[:, 0]  # (512, 16) fixed views
probe_y = toy.labels[:512]
ARMS = {"SimSiam": ("simsiam", {}), "SimSiam, no stop-gradient": ("simsiam", dict(stop_gradient=False)),
        "SimSiam, no predictor": ("simsiam", dict(use_predictor=False)),
        "untrained encoder": ("simsiam", dict(steps=1, lr=0.0))}
runs, per_seed = collapse.ablation_runs(toy, ARMS, probe, probe_y, seeds=SEEDS, steps=STEPS, device=device)
table = per_seed.groupby("arm", sort=False).mean()
print(f"means over seeds {list(SEEDS)}, {STEPS} steps")
print(table[["loss", "std_ratio", "mean_norm", "erank", "erank_centred", "knn"]].round(3).to_string())

# %%
arm = lambda name, column: per_seed.loc[name][column].to_numpy()  # noqa: E731  (one value per seed)
full_knn, untrained_knn = arm("SimSiam", "knn"), arm("untrained encoder", "knn")
raw_knn = M.knn_accuracy(probe, probe_y)
for ablated in ("SimSiam, no stop-gradient", "SimSiam, no predictor"):
    effect = np.log2(arm(ablated, "std_ratio") / arm("SimSiam", "std_ratio"))
    print(rules[ablated].judge(effect, seeds=SEEDS, model=full_knn, reference=untrained_knn,
                               detail=f"std·√d: full {table.std_ratio['SimSiam']:.3f}, ablated "
                                      f"{table.std_ratio[ablated]:.3f} (means over seeds)"), end="\n\n")
print(rules["knn"].judge(arm("SimSiam, no stop-gradient", "knn") - full_knn, seeds=SEEDS, model=full_knn,
                         reference=untrained_knn,
                         detail=f"for scale: chance is {1 / 8:.3f}; the raw inputs score {raw_knn:.3f}"))

# %% [markdown]
# Two more readings of the same runs: the training loss, and the untrained encoder every arm starts from.

# %%
siam = table.loc[["SimSiam", "SimSiam, no stop-gradient", "SimSiam, no predictor"]]
lowest = siam["loss"].idxmin()
print(f"lowest training loss: '{lowest}' at {siam.loss[lowest]:+.3f} (collapsed value -1), std·√d "
      f"{siam.std_ratio[lowest]:.2f}; full SimSiam: loss {siam.loss['SimSiam']:+.3f}, std·√d "
      f"{siam.std_ratio['SimSiam']:.2f}")
start = table.loc["untrained encoder"]
print(f"untrained encoder: std·√d {start.std_ratio:.3f}, mean-vector norm {start.mean_norm:.3f}; "
      "the ablated arms end at "
      + ", ".join(f"{table.std_ratio[a]:.3f}" for a in siam.index[1:])
      + f": {'below' if (siam.std_ratio[1:] < start.std_ratio).all() else 'NOT all below'} their starting point")

# %% [markdown]
# The figure puts the three arms (first seed) side by side as Chen & He's Figure 2 does: the training
# loss, std·√d with its reference 1 (std = $1/\sqrt d$, spread) and the kNN accuracy during training.

# %%
titles = ("training loss (collapsed value −1)", "std·√d (1: std = 1/√d, spread)",
          "kNN accuracy of the embedding")
fig = make_subplots(rows=1, cols=3, subplot_titles=titles)
for color, name in zip(("#1f77b4", "#d62728", "#ff7f0e"), siam.index):
    frame = runs[name, SEEDS[0]].frame
    for col, y in enumerate((frame["loss"], frame["std"] * math.sqrt(d), frame["knn_projection"]), start=1):
        fig.add_scatter(x=frame["step"], y=y, name=name, legendgroup=name, showlegend=col == 1,
                        line=dict(color=color), row=1, col=col)
fig.add_hline(y=-1, line_dash="dash", line_color="grey", row=1, col=1)
fig.add_hline(y=1, line_dash="dash", line_color="grey", annotation_text="spread (1/√d)", row=1, col=2)
fig.update_layout(title="SimSiam with and without its stop-gradient and predictor (cf. Chen & He 2021, Fig. 2)",
                  template="plotly_white", height=380)
fig.update_xaxes(title_text="step")
fig

# %% [markdown]
# **Question.** The second printed line says where every arm started: the untrained encoder. Did the
# ablated networks *collapse* during training, or did they *fail to spread out* from an initialisation
# whose outputs already point mostly one way? Does the distinction matter for Chen & He's claim?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# This toy's randomly initialised MLP maps all inputs into a narrow cone (read the untrained row's
# std·√d and mean-vector norm). Full SimSiam spreads the embeddings out; without the stop-gradient or
# the predictor nothing pushes them apart, and the printed comparison says whether training moved them
# even further together on these seeds or left them about where they started. Chen & He's Figure 2
# shows the same end state, a std near 0; their claim is about where training goes, and the rule
# compares the arms after the same training. The untrained row is also why the rule has a baseline: a
# "collapsed" arm only tells you something if the full method demonstrably learned something.
#
# </details>
#
# **Question.** The kNN accuracy of the collapsed runs stays above chance ($1/8$), unlike in the paper.
# Why can a cosine kNN still work on embeddings that all sit in a tiny cap of the sphere?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# std·√d is small but not 0: the deviations inside the cap still carry some of the input's structure,
# and cosine kNN only ranks neighbours, blind to their scale. An accuracy does not show *how close* to
# a point the embedding is; the std and the mean-vector norm do.
#
# </details>

# %% [markdown]
# ## 3 · Live: the collapse lab
#
# `CollapseLab` trains on the same vMF toy in the background and redraws the loss, std·√d (with its
# reference 1, a std of $1/\sqrt d$), the effective rank, the uniformity and the spectrum every 10
# steps. The checkboxes pick the set-up: *negatives* → SimCLR; else *variance/covariance* → VICReg with
# those terms; else *EMA target* → BYOL; else SimSiam with the chosen stop-gradient and predictor.
# Press **Start**; untick *stop-gradient* and start again; then try the EMA target without a predictor
# (the Optional section A measures that case). The widget trains at the default learning rate
# ($10^{-3}$, a third of section 2's), so expect a collapse to take more steps.
#
# The cell prints the set-up the toggles describe (the app's plain `recipe_for()`) and shows the app;
# nothing trains until you press Start.

# %%
app = widgets.CollapseLab(steps=300)
print("set-up:", app.recipe_for())
app.ema.value, app.predictor.value = True, False
print("EMA target, no predictor:", app.recipe_for())
app.ema.value, app.predictor.value = False, True  # back to the defaults
app

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
              " Detach the targets (z.detach()); without it SimSiam collapses (section 2).")
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
# - The loss cannot reveal collapse: for SimSiam, BYOL and VICReg without its variance term a collapsed
#   batch *is* the minimum. Track std·√d (1 spread, 0 collapsed), the mean-vector norm and the rank.
# - What keeps SimSiam from collapsing is structural: the stop-gradient and the predictor. Switching
#   either off shows in the diagnostics, not in the loss; the verdicts of section 2 say how far this toy
#   agrees with Chen & He, judged against an untrained encoder.
# - A verdict is a measurement: the rule is printed before the runs, the outcome comes from an
#   interval over seeds. The core path ends here; the optional sections below are skippable.

# %% [markdown]
# ## Optional A · The other guards: EMA target, variance and covariance terms, negatives
#
# *Skippable (about 15 minutes).* Each method has its own guard against the constant solution:
#
# | set-up | loss | what prevents collapse |
# |---|---|---|
# | BYOL (Grill et al. 2020) | $2 - 2\cos(p_\theta, z'_\xi)$, target $\xi \leftarrow m\xi + (1-m)\theta$ | a slowly moving (EMA) target network, and the predictor |
# | VICReg (Bardes et al. 2022) | $\lambda s + \mu v + \nu c$ | the variance hinge $v = \frac1d\sum_j \max(0, 1 - \sqrt{\mathrm{Var}(z^j) + \epsilon})$; the covariance term $c = \frac1d\sum_{i\ne j}\mathrm{Cov}(Z)_{ij}^2$ decorrelates the dimensions |
# | Barlow Twins (Zbontar et al. 2021) | $\sum_i (1 - C_{ii})^2 + \lambda\sum_{i\ne j} C_{ij}^2$ | the cross-correlation of *standardised* dimensions must be the identity |
# | SimCLR (Chen et al. 2020) | NT-Xent | negatives: the other samples of the batch are pushed away |
#
# One run per arm (seed 0) on section 2's toy and settings, switching each guard off with the set-up's
# own options: `ema=False` (BYOL: the target is the online network itself, behind a stop-gradient),
# `use_predictor=False`, `var_weight=0`, `cov_weight=0`. One seed is a demonstration, not a verdict:
# this section has no decision rule.

# %%
GUARDS = {"BYOL (EMA target)": ("byol", {}), "BYOL, no EMA target": ("byol", dict(ema=False)),
          "BYOL, no predictor": ("byol", dict(use_predictor=False)),
          "VICReg": ("vicreg", {}), "VICReg, invariance only": ("vicreg", dict(var_weight=0.0, cov_weight=0.0)),
          "VICReg, no covariance": ("vicreg", dict(cov_weight=0.0)),
          "Barlow Twins": ("barlow", {}), "SimCLR (negatives)": ("simclr", dict(temperature=0.2))}
guard_runs, guards = collapse.ablation_runs(toy, GUARDS, probe, probe_y, seeds=(0,), steps=STEPS, device=device)
guards = pd.concat([guards, per_seed.loc[[("SimSiam, no predictor", 0)]]]).droplevel("seed")
every_arm = {**ARMS, **GUARDS}
guards["collapsed"] = [collapse.collapsed_loss(every_arm[a][0], **every_arm[a][1]) for a in guards.index]
print(f"seed 0, {STEPS} steps; 'collapsed' = the loss of a collapsed batch (section 1)")
print(guards[["loss", "collapsed", "std_ratio", "mean_norm", "erank", "erank_centred", "knn"]].round(3).to_string())

# %% [markdown]
# The figure follows std·√d and the uncentred effective rank during training, one column per family
# (dotted: a guard switched off).

# %%
families = (["BYOL (EMA target)", "BYOL, no EMA target", "BYOL, no predictor", "SimSiam, no predictor"],
            ["VICReg", "VICReg, invariance only", "VICReg, no covariance", "Barlow Twins", "SimCLR (negatives)"])
palette = ("#1f77b4", "#d62728", "#ff7f0e", "#7f7f7f", "#2ca02c")
fig = make_subplots(rows=2, cols=2, shared_xaxes=True, vertical_spacing=0.1,
                    subplot_titles=("BYOL: EMA target and predictor", "VICReg, Barlow Twins, SimCLR",
                                    "", ""))
for col, family in enumerate(families, start=1):
    for color, name in zip(palette, family):
        frame = (guard_runs[name, 0] if (name, 0) in guard_runs else runs[name, 0]).frame
        dash = "dot" if ("no " in name or "only" in name) else "solid"
        for row, y in ((1, frame["std"] * math.sqrt(d)), (2, frame["erank"])):
            fig.add_scatter(x=frame["step"], y=y, name=name, legendgroup=name, showlegend=row == 1,
                            legend="legend" if col == 1 else "legend2", mode="lines+markers",
                            line=dict(color=color, dash=dash), marker=dict(size=4), row=row, col=col)
    fig.add_hline(y=1, line_dash="dash", line_color="grey", row=1, col=col)
fig.update_yaxes(title_text="std·√d (1 = spread)", row=1, col=1)
fig.update_yaxes(title_text="erank, uncentred (1 = one point)", row=2, col=1)
fig.update_xaxes(title_text="step", row=2)
fig.update_layout(title="Switching off one guard: std·√d and effective rank during training (seed 0)",
                  template="plotly_white", height=640, margin=dict(b=150),
                  legend=dict(x=0.0, y=-0.12, yanchor="top", xanchor="left"),
                  legend2=dict(x=0.55, y=-0.12, yanchor="top", xanchor="left"))
fig

# %%
ema_rows = ["BYOL (EMA target)", "BYOL, no EMA target", "BYOL, no predictor", "SimSiam, no predictor"]
no_ema, ema_only, neither = (guards.loc[row] for row in ema_rows[1:])
print(f"predictor without the EMA: std·√d {no_ema.std_ratio:.2f}, mean-vector norm {no_ema.mean_norm:.2f} "
      f"({'spread kept' if no_ema.std_ratio > 0.5 else 'collapsing'})")
print(f"EMA without the predictor: std·√d {ema_only.std_ratio:.2f} against {neither.std_ratio:.2f} with neither, "
      f"mean-vector norm {ema_only.mean_norm:.2f}: the EMA "
      f"{'slows' if ema_only.std_ratio > 2 * neither.std_ratio else 'does not slow'} the collapse and "
      f"{'does not stop it' if ema_only.mean_norm > 0.8 else 'stops it'}")

# %% [markdown]
# **Question.** On this toy, which of BYOL's two ingredients is needed against complete collapse, and
# what does the other one do?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Read the two printed lines. Where they say "spread kept" and "slows ... does not stop it", the
# predictor (with the stop-gradient that BYOL's target also has) is what prevents the collapse: without
# the EMA, BYOL behaves like SimSiam; without the predictor, the EMA target only makes the embeddings
# drift together more slowly. Chen & He (2021) draw the same conclusion at scale: SimSiam is "BYOL
# without the momentum encoder", and it does not collapse, so the momentum encoder is not needed to
# prevent collapse (it does raise BYOL's accuracy). With one seed, check the lines before you trust them.
#
# </details>
#
# **Question.** Read two rows: "VICReg, invariance only" and "VICReg, no covariance". Which kind of
# collapse does each show (std·√d, the mean-vector norm and the *centred* rank), and which term of the
# VICReg loss prevents which kind?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# With invariance only, nothing stops the embeddings from shrinking together: look for a falling std·√d
# and a mean-vector norm near 1, a complete collapse (its centred rank can stay high, because what is
# left of the spread is small noise around the mean: hence "read it with the std"). The variance hinge
# alone keeps every dimension's std up, but the dimensions can carry the same information: compare the
# centred rank with the full VICReg row. Bardes et al. give the two terms these two roles: the variance
# term prevents collapse, the covariance term stops the dimensions from encoding the same information.
#
# </details>

# %% [markdown]
# ## Optional B · Dimensional collapse in a contrastive loss (Jing et al. 2022)
#
# *Skippable (about 15 minutes).* Negatives prevent complete collapse, but Jing, Vincent, LeCun and
# Tian (2022) show that SimCLR's embeddings still **collapse dimensionally**: the singular-value
# spectrum of the embedding matrix has a tail of near-zero values. One cause they name is **strong
# augmentation**, which makes the weights shrink along directions where the augmentation varies more
# than the data. Analysing a linear projector, they show it becomes low-rank: the embedding after it
# spans fewer directions than the representation before it.
#
# **Toy.** `D.anisotropic_gaussian`: 32-d Gaussian data whose variance along principal direction $k$
# falls geometrically from 1 to 0.01; a view adds noise $\sigma\varepsilon$ in every direction, so
# $\sigma$ is the augmentation strength. SimCLR ($\tau = 0.2$, 300 steps) trains an MLP whose 32-d
# output (the **representation**) goes through a **linear projector** to the 32-d **embedding** the
# loss sees (`collapse.encoder_with_projector`). We measure the centred effective rank of both on 1024
# clean inputs (the same inputs for every $\sigma$).
#
# **Baseline.** A random square linear layer already lowers the effective rank (its singular values
# spread out), so the projector claim is judged against the same network untrained: the rank it loses
# across the projector *because of training*. The augmentation claim needs no such baseline: the
# untrained network sees the same clean inputs at every $\sigma$, so its rank does not depend on $\sigma$.

# %%
SIGMAS, JSEEDS, JSTEPS = ((0.05, 0.8), (0, 1), 150) if FAST else ((0.05, 0.2, 0.8), (0, 1, 2), 300)
jrules = [verdicts.Rule(
    "07_collapse:augmentation_rank",
    claim="stronger augmentation lowers the effective rank of a SimCLR embedding (Jing et al. 2022)",
    effect=f"centred effective rank of the embedding at σ = {SIGMAS[-1]} minus at σ = {SIGMAS[0]}", direction=-1),
    verdicts.Rule(
    "07_collapse:projector_rank",
    claim="training makes a linear projector low-rank: the embedding loses directions the representation "
          "keeps (Jing et al. 2022)",
    effect=f"rank lost across the projector (representation − embedding, centred erank) at σ = {SIGMAS[-1]}, "
           "trained minus untrained", direction=+1)]
for rule in jrules:
    print(rule, end="\n\n")

# %%
spectra, jrows = {}, []
for sigma in SIGMAS:
    data = D.anisotropic_gaussian(2000, dim=32, view_noise=sigma, seed=0, device=device)
    x = data.x[:1024]  # (1024, 32) clean inputs
    for seed in JSEEDS:
        for trained in (True, False):
            encoder = collapse.encoder_with_projector(32, projector="linear", feature_dim=32, seed=seed)
            h = fit(data, "simclr", steps=JSTEPS if trained else 1, lr=1e-3 if trained else 0.0, batch_size=128,
                    eval_every=0, metrics=(), temperature=0.2, seed=seed, progress=False, device=device,
                    encoder=encoder)
            rep, emb = h.method.features(x), h.method.project(x)  # (1024, 32) before / after the projector
            if trained:
                spectra[sigma, seed] = (M.singular_values(rep).cpu(), M.singular_values(emb).cpu())
            jrows.append(dict(sigma=sigma, seed=seed, trained=trained, dominated=data.dominated_directions(),
                              representation=M.effective_rank(rep, center=True),
                              embedding=M.effective_rank(emb, center=True)))
jranks = pd.DataFrame(jrows)
jranks["lost"] = jranks.representation - jranks.embedding
print(jranks.groupby(["trained", "sigma"]).mean().drop(columns="seed").round(2).to_string())

# %%
panels = ((1, "embedding, after the linear projector"), (0, "representation, before it"))
FLOOR = 1e-4
fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=[title for _, title in panels])
for i, sigma in enumerate(SIGMAS):
    color = f"hsl({int(240 - 240 * i / max(1, len(SIGMAS) - 1))}, 70%, 45%)"  # blue (weak) to red (strong)
    for col, (which, _) in enumerate(panels, start=1):
        s = spectra[sigma, JSEEDS[0]][which]
        fig.add_scatter(x=np.arange(1, len(s) + 1), y=collapse.log_spectrum(s, floor=FLOOR), name=f"σ = {sigma}",
                        legendgroup=str(sigma), showlegend=col == 1, line=dict(color=color), row=1, col=col)
fig.update_layout(title=f"Centred singular-value spectra as the augmentation σ grows (seed {JSEEDS[0]}; "
                        f"ratios below {FLOOR:g} drawn at the floor)", template="plotly_white", height=400)
fig.update_xaxes(title_text="k")
fig.update_yaxes(title_text="σ_k / σ_1 (log scale)", col=1, range=[math.log10(FLOOR) - 0.1, 0.1],
                 tickvals=[0, -1, -2, -3, -4], ticktext=["1", "0.1", "0.01", "0.001", "≤ 0.0001"])
fig

# %%
trained_rows = jranks[jranks.trained].set_index(["sigma", "seed"])
untrained_rows = jranks[~jranks.trained].set_index(["sigma", "seed"])
emb = lambda sigma: trained_rows.loc[sigma].embedding.loc[list(JSEEDS)].to_numpy()  # noqa: E731  (per seed)
print(jrules[0].judge(emb(SIGMAS[-1]) - emb(SIGMAS[0]), seeds=JSEEDS,
                      detail=f"embedding rank {emb(SIGMAS[0]).mean():.1f} → {emb(SIGMAS[-1]).mean():.1f} "
                             f"for σ = {SIGMAS[0]} → {SIGMAS[-1]} (means over seeds)"), end="\n\n")
lost_trained = trained_rows.loc[SIGMAS[-1]].lost.loc[list(JSEEDS)].to_numpy()
lost_untrained = untrained_rows.loc[SIGMAS[-1]].lost.loc[list(JSEEDS)].to_numpy()
print(jrules[1].judge(lost_trained - lost_untrained, seeds=JSEEDS,
                      detail=f"rank lost across the projector: {lost_trained.mean():.1f} trained, "
                             f"{lost_untrained.mean():.1f} untrained (means over seeds)"))

# %% [markdown]
# **Question.** Read the table's `lost` column for the trained and the untrained network. What would
# you have concluded from "the embedding has a lower rank than the representation" without the
# untrained row? And at the strongest augmentation, the data variance is below the augmentation
# variance in most directions (the `dominated` column), yet the rank stays far above the number of
# remaining directions: what differs from Jing et al.'s setting?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# A random square matrix has singular values spread between small and large, so an untrained linear
# projector already lowers the entropy-based effective rank. "Embedding below representation" is then
# true before any training and says nothing about what SimCLR learns; the rule compares the loss across
# the projector with its untrained value, and the verdict says whether training adds to it on this toy.
# On the second point: Jing et al.'s argument is for a linear encoder trained to convergence; ours is a
# non-linear MLP trained for a few hundred steps, and the effective rank is an entropy, so a direction
# whose singular value has fallen by 10× still counts for part of one dimension. The spectra show the
# tail dropping as σ grows without the sharp cut-off of the converged linear case.
#
# </details>

# %% [markdown]
# ## Optional C · Class collapse and feature suppression (Xue et al. 2023)
#
# *Skippable (about 15 minutes).* **Paper.** Y. Xue, S. Joshi, E. Gan, P.-Y. Chen, B. Mirzasoleiman
# (2023), *Which Features are Learnt by Contrastive Learning?* Claims: supervised contrastive learning
# (SupCon) can **collapse the subclasses** of a class onto each other; unsupervised contrastive
# learning (SimCLR) can **suppress** a harder class-relevant feature when an easier class-irrelevant
# one is enough to tell the samples apart. Remedies they name: mixing the supervised and unsupervised
# losses (against class collapse), a larger embedding and better augmentations (against suppression).
#
# **Toy.** `data.feature_mix`: each input is a rotation of three blocks, an *easy* per-sample feature,
# the *class* direction (2 classes) and the *subclass* direction (2 per class).
#
# - *Class collapse*: no easy feature (`easy_strength=0`). The **subclass share** of the within-class
#   spread, `collapse.variance_share(z, subclass, within=class)`, is
#   $S = \sum_g n_g\lVert\bar u_g - \bar u_c\rVert^2 / \sum_i \lVert u_i - \bar u_c\rVert^2$ over the unit
#   embeddings $u$ of each class $c$ and its subclasses $g$: 1 when each subclass is one point, 0 when
#   they coincide. The joint loss is $0.5\,\mathcal L_{SupCon} + 0.5\,\mathcal L_{SimCLR}$.
# - *Feature suppression*: the easy feature at strength 1, identical in both views. We measure the
#   class kNN accuracy of a 4-d embedding, then give it a 32-d embedding, or better views
#   (`easy_view_noise=0.5`: the easy feature differs between views, so it no longer identifies the sample).
#
# All runs: $\tau = 0.1$, batch 128, 300 steps; metrics on one fresh view of 1000 samples.
#
# **Baseline.** The raw inputs hold every feature (the cell prints their class kNN: no encoder can beat
# it), and an *untrained* encoder with the same embedding size already loses some class information
# (the table's `untrained_knn`). So the suppression rules measure what *training* does: each arm's
# class kNN minus that of the same encoder untrained (`lr = 0`, same seed and data), the "kNN gained by
# training" (`gained`). The class-collapse rules compare two trained arms on the same data.

# %%
XSEEDS, XSTEPS = ((0, 1), 150) if FAST else ((0, 1, 2), 300)
xrules = {
    "class_collapse": verdicts.Rule(
        "07_collapse:class_collapse", claim="SupCon collapses the subclasses of a class (Xue et al. 2023)",
        effect="subclass share of the within-class spread, SupCon minus SimCLR", direction=-1),
    "joint": verdicts.Rule(
        "07_collapse:joint_loss", claim="adding SimCLR's loss to SupCon's keeps the subclasses (Xue et al. 2023)",
        effect="subclass share, SupCon + SimCLR minus SupCon", direction=+1),
    "feature_suppression": verdicts.Rule(
        "07_collapse:feature_suppression",
        claim="with an easy per-sample feature, SimCLR training suppresses the class feature (Xue et al. 2023)",
        effect="class kNN gained by training, SimCLR with the easy feature (d = 4)", direction=-1),
    "d = 32": verdicts.Rule(
        "07_collapse:larger_embedding", claim="a larger embedding counters feature suppression (Xue et al. 2023)",
        effect="class kNN gained by training with the easy feature, d = 32 minus d = 4", direction=+1),
    "better views": verdicts.Rule(
        "07_collapse:better_views", claim="better views counter feature suppression (Xue et al. 2023)",
        effect="class kNN gained by training with the easy feature, views that vary it minus views that keep it",
        direction=+1)}
for rule in xrules.values():
    print(rule, end="\n\n")

# %%
plain = D.feature_mix(2000, easy_strength=0.0, seed=0, device=device)  # class + subclass only
easy = D.feature_mix(2000, seed=0, device=device)  # + an easy per-sample feature, same in both views
better = D.feature_mix(2000, easy_view_noise=0.5, seed=0, device=device)  # the easy feature differs between views
XARMS = {  # name: (data, set-up, embedding dimension)
    "SimCLR": (plain, "simclr", 4), "SupCon": (plain, "supcon", 4), "SupCon + SimCLR": (plain, "joint", 4),
    "SimCLR, easy feature": (easy, "simclr", 4), "SimCLR, easy feature, d = 32": (easy, "simclr", 32),
    "SimCLR, easy feature, better views": (better, "simclr", 4),
}
idx = torch.arange(1000, device=device)
xrows = []
for name, (data, method, out_dim) in XARMS.items():
    view = data.views(idx, n_views=1, generator=data.generator(99))[:, 0]  # (1000, 16) one fresh view
    y, sub = data.labels[idx], data.subclass[idx]
    for seed in XSEEDS:
        joint = method == "joint"
        model = (collapse.supcon_simclr(data, weight=0.5, temperature=0.1, out_dim=out_dim, seed=seed)
                 if joint else method)
        h = fit(data, model, steps=XSTEPS, batch_size=128, eval_every=0, metrics=(), seed=seed, progress=False,
                device=device, **({} if joint else dict(temperature=0.1, out_dim=out_dim)))
        z = h.method.project(view)  # (1000, out_dim)
        start = fit(data, "simclr", steps=1, lr=0.0, batch_size=128, eval_every=0, metrics=(), seed=seed,
                    progress=False, device=device, temperature=0.1, out_dim=out_dim)  # the same encoder, untrained
        xrows.append(dict(arm=name, seed=seed, class_knn=M.knn_accuracy(z, y, k=20),
                          untrained_knn=M.knn_accuracy(start.method.project(view), y, k=20),
                          subclass_share=collapse.variance_share(z, sub, within=y),
                          subclass_probe=collapse.subclass_accuracy(z, y, sub)))
xseed = pd.DataFrame(xrows).set_index(["arm", "seed"])
xseed["gained"] = xseed.class_knn - xseed.untrained_knn  # class kNN gained by training
print(f"means over seeds {list(XSEEDS)}, {XSTEPS} steps; embedding d = 4 unless named")
print(xseed.groupby("arm", sort=False).mean().round(3).to_string())

# %%
xs = lambda name, column: xseed.loc[name][column].to_numpy()  # noqa: E731  (one value per seed)
raw = {name: M.knn_accuracy(data.views(idx, n_views=1, generator=data.generator(99))[:, 0], data.labels[idx], k=20)
       for name, data in (("no easy feature", plain), ("easy feature", easy))}
gained = lambda name: xs(name, "gained")  # noqa: E731
effects = {
    "class_collapse": xs("SupCon", "subclass_share") - xs("SimCLR", "subclass_share"),
    "joint": xs("SupCon + SimCLR", "subclass_share") - xs("SupCon", "subclass_share"),
    "feature_suppression": gained("SimCLR, easy feature"),
    "d = 32": gained("SimCLR, easy feature, d = 32") - gained("SimCLR, easy feature"),
    "better views": gained("SimCLR, easy feature, better views") - gained("SimCLR, easy feature")}
for key, effect in effects.items():
    detail = ""
    if key == "feature_suppression":
        detail = (f"class kNN {xs('SimCLR, easy feature', 'class_knn').mean():.3f} trained, "
                  f"{xs('SimCLR, easy feature', 'untrained_knn').mean():.3f} untrained; without the easy feature "
                  f"{xs('SimCLR', 'class_knn').mean():.3f} trained; raw inputs {raw['easy feature']:.3f} with the easy "
                  f"feature, {raw['no easy feature']:.3f} without (means over seeds)")
    print(xrules[key].judge(effect, seeds=XSEEDS, detail=detail), end="\n\n")

# %%
xtable = xseed.groupby("arm", sort=False).mean()
fig = make_subplots(rows=1, cols=2, subplot_titles=("class collapse: subclass share of the within-class spread",
                                                    "feature suppression: class kNN accuracy"))
first, second = list(XARMS)[:3], list(XARMS)[3:]
fig.add_bar(x=first, y=xtable.subclass_share[first], marker_color=["#1f77b4", "#d62728", "#2ca02c"], row=1, col=1)
knn_arms = ["SimCLR"] + second
labels = ["SimCLR, no easy feature"] + second
fig.add_bar(x=labels, y=xtable.class_knn[knn_arms], name="trained", marker_color=["#1f77b4", "#d62728", "#2ca02c",
                                                                                  "#2ca02c"], row=1, col=2)
fig.add_bar(x=labels, y=xtable.untrained_knn[knn_arms], name="same encoder, untrained", marker_color="#c7c7c7",
            row=1, col=2)
fig.update_layout(title=f"Xue et al. on the feature_mix toy, means over {len(XSEEDS)} seeds "
                        "(red: the failure the paper describes; grey: untrained)",
                  template="plotly_white", showlegend=False, height=420, barmode="group")
fig.update_yaxes(range=[0, 1.05])
fig

# %% [markdown]
# **Question.** Under SupCon the subclass share is near 0, yet the subclass linear probe
# (`subclass_probe`) can stay above its chance level of 0.5. Is the subclass gone? Which of the two
# numbers would you use to *detect* class collapse, and which to decide whether a downstream task on
# subclasses could still work?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# A small offset between the subclass means can survive, and a linear probe on standardised features
# can amplify it. But it is tiny compared with the spread of the views within a class, which is what
# the share measures: the geometry has collapsed, the information is nearly gone. The share detects
# the collapse; the probe tells you what a downstream classifier can still recover. The joint loss
# keeps both the class (SupCon's pull) and the subclass (SimCLR's instance discrimination needs it to
# tell the samples apart).
#
# </details>

# %% [markdown]
# **Question.** Read the `untrained_knn` column. Without it, "SimCLR's class kNN falls when the easy
# feature is added" and "d = 32 scores higher than d = 4" look like suppression and its remedy. What
# else could explain each, and what do the `feature_suppression` and `larger_embedding` verdicts, which
# use the kNN *gained by training*, say on this toy?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# The easy feature fills part of the input, so even a random encoder keeps less of the class
# direction; and a wider random projection keeps more of every feature. Both change the *untrained*
# score, before any contrastive training. Suppression is a claim about training, so the rules subtract
# the same encoder's untrained score. Read their outcomes and per-seed numbers: where the gain is not
# reliably below 0 (or, for d = 32, not reliably above d = 4's), the drop and the "remedy" come from
# the input and the projection width, not from what SimCLR learns. Better views pass the stricter
# test: training then gains class accuracy. (Xue et al. analyse trained networks on real data; this
# toy can only say what a 300-step MLP does here.)
#
# </details>

# %% [markdown]
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
