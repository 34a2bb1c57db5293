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
# # 04 · Geometry on the hypersphere: alignment, uniformity and anisotropy
#
# Contrastive encoders put their embeddings on the unit sphere. Wang & Isola (2020) showed that what
# the contrastive loss asks of those points splits into two properties you can measure: **alignment**
# (the two views of an input land close together) and **uniformity** (all embeddings spread evenly over
# the sphere). This notebook measures both, watches them change during training, optimises them directly,
# and checks on a toy whether they predict downstream accuracy.
#
# **Learning goals.** You will be able to
#
# - (optional) explain why contrastive embeddings are normalised, and what the loss can "cheat" with when
#   they are not;
# - compute alignment and uniformity, and read a uniformity value against its best reachable value
#   (`metrics.uniform_sphere_uniformity`) and its worst (0, a collapsed set);
# - watch an embedding spread over the sphere $S^2$ during training, live;
# - train with $\mathcal L_{align} + \lambda\,\mathcal L_{uniform}$ directly and compare it with InfoNCE;
# - place many training runs in the alignment-uniformity plane and test, with rank correlations, whether
#   its lower-left corner holds the most accurate encoders;
# - state a decision rule before an experiment and read its verdict from an interval over seeds;
# - (optional) measure anisotropy (embeddings in a narrow cone) and test whether contrastive training
#   spreads it out.
#
# **Prerequisites.** Notebook 00 (InfoNCE as a cross-entropy over cosine similarities); PyTorch basics.
#
# **Expected run time.** Fast mode (`CONTRASTLAB_FAST=1`, what CI runs; 44 short training runs): about
# 25 s of kernel CPU time (measured 19 to 23 s), under half a minute on a 2-core laptop, kernel start included.
# Full mode (the default; 67 longer runs, three seeds per verdict): about 70 s of kernel CPU time
# (measured 59 to 67 s), one to two minutes on a 2-core laptop. No downloads.
#
# **Time in class.** The core path (through the two reproduced findings and Exercise 1) takes 60 to 90
# minutes. Sections titled "Optional:" (why normalise, the snapshot slider, Exercises 2 and 3,
# anisotropy) can be skipped without losing the thread; they still run when you run the whole notebook.

# %% [markdown]
# ## Setup
#
# `setup()` from `contrastlab.lessons` does the set-up in one call: it seeds torch, picks the device
# (CUDA or Apple MPS when present, else CPU), runs torch on one thread on a CPU (the models are tiny,
# and threads that compete for the cores slow them down: `contrastlab.runtime` has the measurement)
# and reads fast mode, which CI turns on with `CONTRASTLAB_FAST=1` to shrink the sizes.

# %%
import math
import random

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots
from scipy.stats import spearmanr

import contrastlab
from contrastlab import metrics
from contrastlab.lessons import hypersphere_geometry as geometry
from contrastlab.interactive import figures as viz
from contrastlab.data import vmf_mixture
from contrastlab.methods import build_method
from contrastlab.lessons.exercises import attempt
from contrastlab.lessons import setup, verdicts

lesson = setup(seed=0)  # torch.manual_seed(0), the device, the thread policy, fast mode; prints one line
device, FAST = lesson.device, lesson.fast

# %% [markdown]
# The toy data for the whole notebook: 1000 points on the sphere $S^{15}$ in 10 classes (von Mises-Fisher
# clusters); a view adds a little Gaussian noise and normalises again. The labels are never used for
# training, only to score the embeddings with a k-nearest-neighbour classifier.

# %%
data = vmf_mixture(1000, n_classes=10, dim=16, concentration=20.0, view_noise=0.1, seed=0, device=device)
ENCODER = dict(hidden=64, feature_dim=32)  # a small MLP encoder with a projection head
RAW_KNN = metrics.knn_accuracy(data.x, data.labels)  # leave-one-out, k = 20
print(f"{len(data)} samples, inputs {tuple(data.x.shape[1:])}, {int(data.labels.max()) + 1} classes; "
      f"kNN accuracy of the raw inputs {RAW_KNN:.3f}")

# %% [markdown]
# ## Optional: why normalise?
#
# *Skippable if your class has seen normalised embeddings before; the core path continues at
# "Alignment and uniformity".*
#
# InfoNCE compares similarities $s_{ij}$ through a softmax. With raw dot products $s_{ij} = z_i^\top z_j$,
# scaling every embedding by $c$ scales every logit by $c^2$:
#
# $$\ell_i(c) = -\log \frac{e^{c^2 s_{ii}/\tau}}{\sum_j e^{c^2 s_{ij}/\tau}} .$$
#
# So the loss can move without the directions changing at all: if each positive is its row's largest
# similarity, growing the norms drives the loss to 0, and where a negative wins, to $+\infty$. A network
# can lower such a loss by inflating norms instead of arranging directions. With cosine similarities
# $\hat z_i^\top \hat z_j \in [-1, 1]$ the logits are bounded, $\tau$ alone sets their scale, and the loss
# only sees where the points are on the sphere. The cell rescales two views of a batch by $c$.

# %%
idx = torch.arange(256, device=device)
views = data.views(idx, generator=data.generator(0))  # (256, 2, 16) two noisy views per input
z1, z2 = views[:, 0], views[:, 1]  # (256, 16) each
targets = torch.arange(256, device=device)
scales = np.logspace(-1, 1, 41)
raw = [F.cross_entropy((c * z1) @ (c * z2).T / 0.2, targets).item() for c in scales]  # dot products
cosine = [contrastlab.losses.info_nce(c * z1, c * z2, temperature=0.2).item() for c in scales]  # normalised
similarity = z1 @ z2.T  # (256, 256) cosines: the views are unit vectors
beaten = int((similarity.fill_diagonal_(-2).max(1).values > (z1 * z2).sum(1)).sum())  # a negative beats the positive
print(f"unnormalised: {raw[0]:.3f} at c = 0.1, {min(raw):.3f} at best, {raw[-1]:.3f} at c = 10;"
      f" normalised: between {min(cosine):.3f} and {max(cosine):.3f}; rows where a negative wins: {beaten} of 256")

# %%
fig = go.Figure([go.Scatter(x=scales, y=raw, name="dot products (unnormalised)"),
                 go.Scatter(x=scales, y=cosine, name="cosine similarities (normalised)")])
fig.update_layout(title="InfoNCE (τ = 0.2) of the same batch after scaling every embedding by c",
                  xaxis=dict(type="log", title="scale c of the embeddings"), yaxis_title="loss",
                  template="plotly_white", height=360)
fig.show()

# %% [markdown]
# **Question.** The directions of the 512 points never change above. Why does the unnormalised
# loss first fall and then rise again as $c$ grows? What would gradient descent on an unnormalised loss
# do to the norms of the embeddings?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# At small $c$ all logits are near 0 and the softmax is nearly uniform: the loss is close to $\log N$.
# As $c$ grows, rows whose positive is the largest similarity become confident and their loss falls
# towards 0; but in some rows (the printed count) a negative beats the positive, and their loss grows
# like $c^2 (s_{ij} - s_{ii})/\tau$, which eventually dominates the mean. Gradient descent would exploit
# the first effect and inflate the norms, sharpening the softmax without learning anything about
# directions. Normalising removes this degree of freedom; the temperature becomes the one knob for
# sharpness. Wang & Isola (2020, introduction) recall that fixed-norm features are known to make
# training more stable, and add a geometric reason: on the sphere, a class whose points are well
# clustered is linearly separable from the rest.
#
# </details>

# %% [markdown]
# ## Alignment and uniformity
#
# For an encoder $f$ with unit-norm outputs and positive pairs $(x, y)$, Wang & Isola (2020) define
#
# $$\mathcal L_{align} = \mathbb E_{(x, y)}\, \lVert f(x) - f(y) \rVert_2^{\alpha}, \qquad
#   \mathcal L_{uniform} = \log \mathbb E_{x, y\ \text{i.i.d.}}\, e^{-t \lVert f(x) - f(y)\rVert_2^2},$$
#
# with $\alpha = 2$ and $t = 2$ by default. On the sphere $\lVert u - v\rVert^2 = 2 - 2u^\top v$, so both
# are functions of cosine similarities. Alignment runs from 0 (each pair coincides) to 4 (antipodal
# pairs). Uniformity is a log-mean of a Gaussian potential: **0 for a collapsed set** (every distance 0)
# and, as the number of points grows, lowest for the uniform distribution on the sphere (Wang & Isola
# 2020), whose value has a closed form, `metrics.uniform_sphere_uniformity(d)`. It is the
# yardstick: a uniformity near it means the points are about as spread out as points on $S^{d-1}$ can be.

# %%
for d in (2, 3, 8, 16, 32):
    print(f"uniform on S^{d - 1:<2} (d = {d:>2}): L_uniform = {metrics.uniform_sphere_uniformity(d):.3f}")

# %% [markdown]
# Five sets of 3-d embeddings with their positives, from ideal to broken: a uniform set whose positives
# are close; the same set with unrelated positives; class clusters; a narrow cone; and a collapsed set.
# The figure places each, labelled, in the alignment-uniformity plane; the dashed line is the
# uniform-sphere value. The table adds the anisotropy (the mean cosine between points), which comes back
# in the optional section at the end.

# %%
n = 500 if FAST else 2000
g = torch.Generator().manual_seed(0)
near = lambda x: F.normalize(x + 0.15 * torch.randn(x.shape, generator=g), dim=1)  # a close positive
uniform = geometry.sphere_uniform(n, 3, seed=1)  # (n, 3)
clusters = vmf_mixture(n, n_classes=10, dim=3, concentration=20.0, seed=0).x  # (n, 3)
narrow = geometry.cone(n, 3, spread=0.2, seed=2)  # (n, 3)
point = F.normalize(torch.ones(n, 3), dim=1)  # (n, 3) all the same
sets = {"uniform, close positives": (uniform, near(uniform)),
        "uniform, unrelated positives": (uniform, geometry.sphere_uniform(n, 3, seed=3)),
        "10 class clusters": (clusters, near(clusters)), "narrow cone": (narrow, near(narrow)),
        "collapsed": (point, point)}
table = pd.DataFrame([dict(set=name, alignment=metrics.alignment(x, y), uniformity=metrics.uniformity(x),
                           anisotropy=metrics.anisotropy(x)) for name, (x, y) in sets.items()])
print(table.round(3).to_string(index=False))
fig = viz.alignment_uniformity_figure(table, dim=3, text="set", title="Five point sets on S² (lower-left is better)")
# label every point on the plot; positions chosen so that neighbouring labels do not overlap
fig.update_traces(selector=dict(name="runs"), mode="markers+text", textfont_size=12,
                  textposition=["bottom right", "bottom right", "top right", "top left", "bottom left"])
fig.update_layout(xaxis_range=[-2.45, 0.3], yaxis_range=[-0.3, 2.45])
fig

# %% [markdown]
# **Question.** The collapsed set has the best possible alignment, and the uniform set with unrelated
# positives is as uniform as the ideal one. Why does neither property alone make a good embedding?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Alignment alone is maximised by mapping everything to one point (alignment 0), which carries no
# information; uniformity alone is maximised by scattering points at random, which forgets which inputs
# belong together. A useful embedding needs both: positives together (invariance to the augmentation)
# and everything else spread (information kept). The class clusters sit in between: aligned, and spread
# at the level of clusters but not of points.
#
# </details>

# %% [markdown]
# ## Watching uniformity evolve on $S^2$
#
# Train an InfoNCE encoder whose output has 3 dimensions, so the embedding lives on the sphere $S^2$
# and can be drawn. The figure below is a `FigureWidget`: run it, then run the training cell after it,
# and a callback redraws the sphere in place at every evaluation (`viz.sphere_figure(..., fig=sphere)`).
# The title gives the uniformity at each evaluation next to the uniform-sphere value; the line printed
# after training says where the untrained encoder (step 0) started, between a collapsed set (0) and that
# value (`geometry.spread_share`).

# %%
sphere = go.FigureWidget(viz.sphere_figure(torch.randn(8, 3), torch.zeros(8, dtype=torch.long), classes=10,
                                           title="press run on the next cell"))
sphere

# %%
reference3 = metrics.uniform_sphere_uniformity(3)
snapshots = []  # (step, uniformity, (E, 3) embeddings, (E,) labels) at every evaluation


def redraw(state):
    u = state.record["uniformity"]
    snapshots.append((state.step, u, state.projections.cpu(), state.labels.cpu()))
    viz.sphere_figure(state.projections, state.labels, fig=sphere,
                      title=f"step {state.step}: uniformity {u:.2f} (uniform S²: {reference3:.2f})")


history3 = contrastlab.fit(data, "infonce", temperature=0.2, steps=150 if FAST else 400, batch_size=128,
                           eval_every=10, eval_size=600, out_dim=3, callbacks=[redraw], progress=False,
                           metrics=("alignment", "uniformity", "knn_projection"), seed=0, **ENCODER)

# %%
frame3 = history3.frame
peak = frame3.alignment.idxmax()
a_first, a_last, u_first, u_last = (frame3[m].iloc[i] for m in ("alignment", "uniformity") for i in (0, -1))
print(f"uniformity {u_first:.2f} at step 0, {geometry.spread_share(u_first, 3):.0%} of the way from a collapsed"
      f" set (0) to the uniform sphere ({reference3:.2f}); {u_last:.2f} at the end"
      f" ({geometry.spread_share(u_last, 3):.0%})")
print(f"alignment {a_first:.2f} at step 0, highest {frame3.alignment[peak]:.2f} at step {frame3.step[peak]}"
      f" ({'its starting value: it never rose above it' if peak == frame3.index[0] else 'it first rose'}),"
      f" {a_last:.2f} at the end; over training alignment {'fell' if a_last < a_first else 'rose'} and uniformity"
      f" {'fell (the points spread)' if u_last < u_first else 'rose (towards a collapsed set)'}")
viz.training_curves(history3, metrics=("loss", "alignment", "uniformity", "knn_projection"),
                    title="InfoNCE with a 3-d embedding: training curves")

# %% [markdown]
# **Question.** A lower alignment is better, but a collapsed encoder has the lowest alignment of all
# (0). Read the two printed lines: how do you tell, from the two numbers together, whether the fall
# of alignment in this run is the good kind? And where does the step-0 alignment of an untrained
# encoder come from?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Collapse lowers alignment *and* raises uniformity towards 0: every point, positives included, moves to
# the same place. A good fall of alignment happens while uniformity stays low or falls: the positives
# come together while the set spreads. The second printed line says which way each number moved in
# this run; compare it with the collapsed set of the five point sets. At step 0 the random encoder is not
# invariant to the view noise: it passes the noise of the two views through to different outputs, so
# positives start apart, and the untrained output covers only part of the sphere (the first printed
# line). InfoNCE removes both at once: its positive term pulls the views together, its log-sum-exp over
# negatives spreads the points. (If in another run alignment first *rises*, read it the same way: the
# spreading pulls some positives apart before the positive term brings them back.)
#
# </details>

# %% [markdown]
# ### Optional: scrub through the training
#
# Scrub through the saved snapshots with the slider: the figure is updated in place, only the points
# move. (To train other losses live, with your own τ and batch size, display
# `contrastlab.interactive.widgets.TrainingDashboard()` and press Start.)

# %%
scrub = go.FigureWidget(viz.sphere_figure(snapshots[-1][2], snapshots[-1][3], title="after training"))
slider = W.IntSlider(value=len(snapshots) - 1, min=0, max=len(snapshots) - 1, description="evaluation")


def show_snapshot(change):
    step, u, z, labels = snapshots[change["new"]]
    viz.sphere_figure(z, labels, fig=scrub, title=f"step {step}: uniformity {u:.2f} (uniform S²: {reference3:.2f})")


slider.observe(show_snapshot, names="value")
W.VBox([slider, scrub])

# %% [markdown]
# ## Reproduce the findings (Wang & Isola 2020)
#
# *Understanding Contrastive Representation Learning through Alignment and Uniformity on the
# Hypersphere* makes two claims tested here:
#
# 1. **Direct optimisation.** Training with $\mathcal L_{align} + \lambda\,\mathcal L_{uniform}$, no
#    softmax and no temperature, gives representations with "comparable or better" downstream
#    performance than the contrastive loss.
# 2. **The A-U plane predicts accuracy.** Across many encoders trained with different hyper-parameters,
#    those with lower alignment *and* lower uniformity loss have higher downstream accuracy.
#
# The toy: the vMF clusters above, an 8-dimensional embedding, short runs. Downstream accuracy is the
# leave-one-out kNN accuracy ($k = 20$) of the normalised embedding, the space alignment and uniformity
# are measured in. The **baseline** each trained encoder must beat is the same encoder untrained (same
# architecture and seed, step 0 of its run). The raw inputs are printed beside it: they are the 16-d
# points themselves, already in their clusters on the sphere, and the verdict says whether the 8-d
# embeddings beat them. This toy tests the geometry the objectives produce, not a gain over the inputs.
#
# ### 1. $\mathcal L_{align} + \lambda\,\mathcal L_{uniform}$ versus InfoNCE
#
# Each objective gets a small grid of its own knob (τ for InfoNCE, λ for the direct objective), the same
# budget and the same seeds, and each is compared at its best setting in the grid (the best mean over
# seeds). "Comparable" needs a tolerance: the rule counts the direct objective as on par when it is at
# most 0.02 below InfoNCE: the rule's threshold is −0.02 (a non-inferiority margin), and the paired
# difference's interval must lie entirely above it.

# %%
rule_direct = verdicts.Rule(
    "04_hypersphere_geometry:direct_objective",
    claim="optimising L_align + λ·L_uniform directly performs comparably to or better than InfoNCE "
          "(Wang & Isola 2020)",
    effect="kNN accuracy, best L_align + λ·L_uniform setting minus best InfoNCE setting (same seed)",
    direction=+1, threshold=-0.02, baseline="the untrained encoder's kNN accuracy (same seed)")
print(rule_direct)

# %%
EVAL = ("alignment", "uniformity", "knn_projection")


def short_run(method, *, steps, batch_size, seed=0, **options):
    """Train once; return the final record with the run's settings and the untrained (step 0) kNN accuracy."""
    history = contrastlab.fit(data, method, steps=steps, batch_size=batch_size, seed=seed, eval_every=steps,
                              eval_size=len(data), metrics=EVAL, progress=False, out_dim=8, **ENCODER, **options)
    return dict(history.last(), untrained=history.frame.knn_projection.iloc[0], method=method, seed=seed,
                steps=steps, batch_size=batch_size, **options)


GRID = {"infonce": ("temperature", (0.1, 0.3, 1.0, 3.0)), "align_uniform": ("lam", (0.03, 0.1, 0.3, 1.0))}
SEEDS = (0, 1, 2)  # three seeds in both modes: fast mode shortens the runs instead
BUDGET = dict(steps=100, batch_size=128) if FAST else dict(steps=300, batch_size=256)
grid_runs = [short_run(method, seed=s, **BUDGET, **{knob: v})
             for method, (knob, values) in GRID.items() for v in values for s in SEEDS]

# %%
grid = pd.DataFrame(grid_runs)
grid["setting"] = [f"τ = {r.temperature:g}" if r.method == "infonce" else f"λ = {r.lam:g}" for r in grid.itertuples()]
summary = grid.groupby(["method", "setting"], sort=False)["knn_projection"].agg(["mean", "std", "count"]).reset_index()
print(summary.round(3).to_string(index=False))
best = summary.loc[summary.groupby("method", sort=False)["mean"].idxmax()].set_index("method")
fig = go.Figure([go.Bar(x=part["setting"], y=part["mean"], name=method, error_y=dict(array=part["std"].fillna(0)))
                 for method, part in summary.groupby("method", sort=False)])
fig.add_hline(y=grid.untrained.mean(), line_dash="dot", line_color="grey", annotation_text="untrained encoder")
fig.update_layout(title=f"kNN accuracy of the embedding ({len(SEEDS)} seeds, {BUDGET['steps']} steps; mean ± std)",
                  yaxis=dict(title="kNN accuracy", range=[0, 1]), template="plotly_white", height=360)
fig.show()

# %%
per_seed = {m: grid[(grid.method == m) & (grid.setting == best.loc[m, "setting"])].set_index("seed").knn_projection
            for m in GRID}  # method -> (seeds,) kNN accuracy at its best setting
untrained = grid.groupby("seed").untrained.mean()  # (seeds,) the step-0 encoder of each seed
gap = per_seed["align_uniform"] - per_seed["infonce"]
print(rule_direct.judge(gap[list(SEEDS)], seeds=SEEDS, model=per_seed["align_uniform"][list(SEEDS)],
                        reference=untrained[list(SEEDS)],
                        detail=f"best settings: {best.loc['align_uniform', 'setting']} ({best.loc['align_uniform', 'mean']:.3f}) vs "
                        f"{best.loc['infonce', 'setting']} ({best.loc['infonce', 'mean']:.3f}); the raw inputs ({RAW_KNN:.3f}) are "
                        f"{'above' if RAW_KNN > best['mean'].max() else 'not above'} both best settings"))
for method, (knob, values) in GRID.items():  # a best value at the end of its grid might improve further
    if best.loc[method, "setting"] in (f"{'τ' if knob == 'temperature' else 'λ'} = {v:g}" for v in (values[0], values[-1])):
        print(f"note: {method}'s best setting ({best.loc[method, 'setting']}) is at the edge of its grid")

# %% [markdown]
# ### 2. The alignment-uniformity plane across many short runs
#
# The claim "lower alignment *and* lower uniformity is better" is about both at once. Across runs the two
# metrics **trade off**: runs that spread more tend to pull positives apart more (the last line printed
# below measures it), so the plain (marginal) rank correlation of accuracy with one metric mixes in the
# other. The **partial** rank correlation asks the right question: the Spearman correlation of accuracy
# with alignment at equal uniformity (`geometry.partial_spearman`), and the other way round. The paper
# predicts both negative.
#
# A **sweep** is the grid runs of one seed plus runs with hyper-parameters drawn at random (the method,
# τ or λ, the batch size and the number of steps). Each seed gives its own sweep and its own two partial
# correlations; the rules judge their interval over the seeds. The baseline: the median run of a sweep
# must beat the median untrained encoder of that sweep.

# %%
rule_align = verdicts.Rule(
    "04_hypersphere_geometry:au_alignment",
    claim="at equal uniformity, lower alignment goes with higher downstream accuracy (Wang & Isola 2020)",
    effect="partial Spearman correlation of kNN accuracy with alignment at equal uniformity, across one sweep's runs",
    direction=-1, baseline="the median untrained encoder of the sweep (kNN accuracy)")
rule_uniform = verdicts.Rule(
    "04_hypersphere_geometry:au_uniformity",
    claim="at equal alignment, lower uniformity loss goes with higher downstream accuracy (Wang & Isola 2020)",
    effect="partial Spearman correlation of kNN accuracy with uniformity at equal alignment, across one sweep's runs",
    direction=-1, baseline="the median untrained encoder of the sweep (kNN accuracy)")
print(rule_align, rule_uniform, sep="\n\n")

# %%
N_RANDOM = 5 if FAST else 12  # random runs per sweep, besides the 8 grid runs of its seed
random_runs = []
for s in SEEDS:
    rng = random.Random(s)
    for i in range(N_RANDOM):
        method = rng.choice(["infonce", "align_uniform"])
        knob = dict(temperature=rng.choice([0.05, 0.1, 0.2, 0.5, 1.0, 2.0])) if method == "infonce" \
            else dict(lam=rng.choice([0.03, 0.1, 0.3, 1.0, 3.0]))
        steps = rng.choice([25, 50, 100] if FAST else [25, 50, 100, 200, 400])
        batch_size = rng.choice([16, 32, 64, 128] if FAST else [16, 32, 64, 128, 256])
        random_runs.append(dict(short_run(method, steps=steps, batch_size=batch_size, seed=100 * (s + 1) + i, **knob),
                                sweep=s))
runs = pd.DataFrame([dict(r, sweep=r["seed"]) for r in grid_runs] + random_runs)
runs["label"] = [f"{r.method} {'τ' if r.method == 'infonce' else 'λ'}={r.temperature if r.method == 'infonce' else r.lam:g}"
                 f", B={r.batch_size}, {r.steps} steps" for r in runs.itertuples()]
viz.alignment_uniformity_figure(runs, dim=8, color="knn_projection", text="label",
                                title=f"{len(runs)} runs ({len(SEEDS)} sweeps) in the A-U plane, coloured by kNN accuracy")

# %%
partial = {m: [] for m in ("alignment", "uniformity")}  # metric -> (sweeps,) partial Spearman
for s, sweep in runs.groupby("sweep"):
    for metric, other in (("alignment", "uniformity"), ("uniformity", "alignment")):
        partial[metric].append(geometry.partial_spearman(sweep[metric], sweep.knn_projection, sweep[other]))
    print(f"sweep {s} ({len(sweep)} runs): partial Spearman, alignment {partial['alignment'][-1]:+.2f}, "
          f"uniformity {partial['uniformity'][-1]:+.2f}; plain Spearman, alignment "
          f"{spearmanr(sweep.alignment, sweep.knn_projection)[0]:+.2f}, uniformity "
          f"{spearmanr(sweep.uniformity, sweep.knn_projection)[0]:+.2f}")
print(f"rank correlation between alignment and uniformity across all runs: {spearmanr(runs.alignment, runs.uniformity)[0]:+.2f}")

# %%
median_run = runs.groupby("sweep").knn_projection.median()[list(SEEDS)]  # (sweeps,)
median_untrained = runs.groupby("sweep").untrained.median()[list(SEEDS)]
for rule, metric in ((rule_align, "alignment"), (rule_uniform, "uniformity")):
    print(rule.judge(partial[metric], seeds=SEEDS, model=median_run, reference=median_untrained))
    print()

# %% [markdown]
# **Question.** Suppose every run had been trained to convergence with the same λ. Which of the two
# plain correlations would you then expect to be the stronger one, and why does the answer depend on
# which hyper-parameters the sweep varies?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Long runs reach uniformity close to the dashed line, so they would differ mostly in alignment, and
# alignment would carry the plain correlation. A sweep that includes very short runs or a tiny λ instead
# contains near-collapsed encoders (good alignment, bad uniformity, bad accuracy), and uniformity carries
# it. Which metric "matters" in a plain correlation is a property of the sweep, not of the encoder; the
# partial correlations ask about both at once. Try it: draw the steps from `[200, 400]` only and rerun.
#
# </details>

# %% [markdown]
# ## Exercise 1: uniformity with `torch.pdist`
#
# `torch.pdist(z)` returns the $N(N-1)/2$ distances $\lVert z_i - z_j\rVert_2$ for $i < j$. Write
# $\mathcal L_{uniform}$ in one line from it, as in Wang & Isola's own code: normalise the rows, take the
# pairwise distances, square them, multiply by $-t$, exponentiate, average, take the log. The self-check
# compares your function with `metrics.uniformity` and names the mistake your value matches.

# %%
def my_uniformity(z: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """log of the mean of exp(-t ||ẑ_i - ẑ_j||²) over pairs i < j, for (N, D) embeddings z."""
    # Your code here: F.normalize, torch.pdist, .pow(2), .mul(-t), .exp(), .mean(), .log()
    return None


# %%
def check_uniformity(fn) -> bool:
    """Compare fn with metrics.uniformity on a batch that is not unit-norm, and explain a difference."""
    z = 3.0 * torch.randn(200, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    expected = metrics.uniformity(z, t=2.0)
    done, got = attempt(fn, z, t=2.0, name="my_uniformity")
    if not done:
        return False
    got = float(torch.as_tensor(got))
    if math.isclose(got, expected, abs_tol=1e-6):
        print(f"Check passed: your uniformity {got:.5f} matches metrics.uniformity {expected:.5f}.")
        return True
    u, x = F.normalize(z, dim=1), z
    mistakes = {
        "did not normalise the rows first": torch.pdist(x).pow(2).mul(-2).exp().mean().log(),
        "used the distance, not its square": torch.pdist(u).mul(-2).exp().mean().log(),
        "left out the log": torch.pdist(u).pow(2).mul(-2).exp().mean(),
        "left out t (t = 1 instead of 2)": torch.pdist(u).pow(2).neg().exp().mean().log(),
        "took the sum over pairs instead of the mean": torch.pdist(u).pow(2).mul(-2).exp().sum().log(),
        "averaged the exponent before exponentiating (mean of the distances)": torch.pdist(u).pow(2).mul(-2).mean(),
    }
    print(f"Not yet: your value {got:.5f} differs from metrics.uniformity {expected:.5f}.")
    for mistake, value in mistakes.items():
        if math.isclose(got, float(value), rel_tol=1e-6, abs_tol=1e-6):
            print(f"It matches what you get if you {mistake}.")
            return False
    print("Check each step: unit rows, squared distances of pairs i < j, times -t, exp, mean, log.")
    return False


check_uniformity(my_uniformity)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_uniformity(z, t=2.0):
#     u = F.normalize(z, dim=1)  # (N, D) on the sphere
#     return torch.pdist(u).pow(2).mul(-t).exp().mean().log()  # pdist: (N(N-1)/2,) distances
#
#
# check_uniformity(my_uniformity)
# ```
#
# The package computes the same mean as a `logsumexp` of the exponents minus the log of the number of
# pairs, which cannot underflow when $t$ is large: $e^{-4t}$ is below float32's range for $t > 22$.
#
# </details>

# %% [markdown]
# ## Optional: Exercise 2, the two ends of the uniformity scale
#
# Return two `(n, d)` sets: a **collapsed** one (every row the same unit vector) and a sample of the
# **uniform distribution on the sphere** $S^{d-1}$, drawn from `generator` without the package (hint: the
# direction of a standard Gaussian vector is uniform). The check verifies that the collapsed set has
# uniformity exactly 0, and that your uniform sample approaches `metrics.uniform_sphere_uniformity(d)`
# as $n$ grows.

# %%
def two_ends(n: int, d: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(collapsed (n, d), uniform on S^{d-1} (n, d)); every row of unit length."""
    # Your code here
    return None


# %%
def check_two_ends(fn) -> bool:
    """Test fn at a few (n, d), comparing with the closed-form uniformity of the uniform sphere."""
    done, result = attempt(fn, 3000, 3, torch.Generator().manual_seed(5), name="two_ends")
    if not done:
        return False
    collapsed, uniform = result
    if collapsed.shape != (3000, 3) or uniform.shape != (3000, 3):
        print(f"Not yet: expected two (3000, 3) tensors, got {tuple(collapsed.shape)} and {tuple(uniform.shape)}.")
        return False
    norms = uniform.double().norm(dim=1)
    if not torch.allclose(norms, torch.ones_like(norms), atol=1e-5):
        print(f"Not yet: the uniform rows must have norm 1 (they range from {norms.min():.3f} to {norms.max():.3f}).")
        return False
    u_collapsed = metrics.uniformity(collapsed.double())
    if abs(u_collapsed) > 1e-9:
        print(f"Not yet: the collapsed set has uniformity {u_collapsed:.4f}, not 0: are all its rows identical?")
        return False
    if metrics.mean_norm(uniform) > 0.1:
        print(f"Not yet: the mean of your 'uniform' points has norm {metrics.mean_norm(uniform):.2f}; a uniform "
              "sample is centred (about 0). torch.rand is uniform on [0, 1), which is not centred; use torch.randn.")
        return False
    for d in (3, 8):
        gaps = [metrics.uniformity(fn(n, d, torch.Generator().manual_seed(n))[1]) - metrics.uniform_sphere_uniformity(d)
                for n in (100, 3000)]
        if abs(gaps[1]) > 0.03:
            print(f"Not yet: in d = {d}, 3000 points are {gaps[1]:+.3f} from the uniform-sphere value. "
                  "Normalising a uniform draw from a cube is not uniform on the sphere: it favours the corners.")
            return False
        print(f"d = {d}: uniformity minus its reference {gaps[0]:+.4f} at n = 100, {gaps[1]:+.4f} at n = 3000")
    print("Check passed: collapsed gives 0 and a uniform sample approaches uniform_sphere_uniformity(d).")
    return True


check_two_ends(two_ends)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def two_ends(n, d, generator):
#     collapsed = F.normalize(torch.ones(n, d), dim=1)  # (n, d) one point, repeated
#     uniform = F.normalize(torch.randn(n, d, generator=generator), dim=1)  # (n, d) rotation invariant
#     return collapsed, uniform
#
#
# check_two_ends(two_ends)
# ```
#
# The reference value is a limit: a finite sample fluctuates around it, by a few hundredths at $n = 100$
# and a few thousandths at $n = 3000$ (the printed gaps), so a measured uniformity a little *below* the
# reference is no contradiction.
#
# </details>

# %% [markdown]
# ## Optional: anisotropy — contrastive training spreads a narrow cone (SimCSE)
#
# *Skippable: the core path ended with Exercise 1; the summary is at the end. Notebook 10 returns to
# anisotropy with sentences.*
#
# Pretrained language models produce **anisotropic** embeddings: they occupy a narrow cone, so even
# unrelated sentences have a high cosine similarity (Ethayarajh 2019). Gao et al. (2021, SimCSE) argue
# that the contrastive objective flattens this: its uniformity term pushes the embeddings apart. The
# anisotropy of a set is its mean cosine over pairs,
#
# $$\mathrm{aniso} = \frac{1}{N(N-1)}\sum_{i \ne j} \hat z_i^\top \hat z_j ,$$
#
# about 0 for an isotropic set and 1 for a collapsed one (`metrics.anisotropy`). The toy: an encoder whose
# last layer gets a large constant bias (`geometry.offset_last_layer`), so every output shares one
# vector and the normalised embeddings sit in a cone. Train it with InfoNCE and, as a control, with
# alignment alone ($\lambda = 0$, no force that spreads), from the same cone on each seed.

# %%
rule_cone = verdicts.Rule(
    "04_hypersphere_geometry:anisotropy",
    claim="contrastive training spreads an anisotropic (narrow-cone) embedding (Gao et al. 2021, SimCSE)",
    effect="anisotropy after training, InfoNCE minus alignment only (same seed, same starting cone)",
    direction=-1, baseline="the starting cone's kNN accuracy (same seed)")
print(rule_cone)

# %%
arms = {"InfoNCE (τ = 0.2)": ("infonce", dict(temperature=0.2)), "alignment only (λ = 0)": ("align_uniform", dict(lam=0.0))}
CONE_STEPS, CONE_SEEDS = (150, (0, 1)) if FAST else (400, (0, 1, 2))
cone_runs, start, models = {}, {}, {}  # (arm, seed) -> curves / (N, 8) starting embedding / trained set-up
for seed in CONE_SEEDS:
    for name, (method, options) in arms.items():
        torch.manual_seed(seed)
        model = build_method(method, data, out_dim=8, **ENCODER, **options)
        geometry.offset_last_layer(model.encoder, 2.0, seed=seed)  # every output += 2 · (a unit vector)
        start[name, seed], models[name, seed] = model.eval().project(data.x), model  # (N, 8) the cone before training
        track = []  # (step, anisotropy, uniformity) at every evaluation
        record = lambda s, track=track: track.append((s.step, metrics.anisotropy(s.projections), s.record["uniformity"]))
        contrastlab.fit(data, model, steps=CONE_STEPS, batch_size=128, eval_every=10 if seed == 0 else CONE_STEPS,
                        eval_size=len(data), metrics=("uniformity",), progress=False, seed=seed, callbacks=[record])
        cone_runs[name, seed] = pd.DataFrame(track, columns=["step", "anisotropy", "uniformity"])

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("anisotropy (mean cosine)", "uniformity"))
for i, name in enumerate(arms):
    frame = cone_runs[name, 0]
    for col, metric in enumerate(("anisotropy", "uniformity"), start=1):
        fig.add_trace(go.Scatter(x=frame.step, y=frame[metric], name=name, legendgroup=name, showlegend=col == 1,
                                 line=dict(color=("#4c78a8", "#f58518")[i])), row=1, col=col)
fig.add_hline(y=metrics.uniform_sphere_uniformity(8), line_dash="dash", row=1, col=2)
fig.update_layout(title="Training from a narrow cone, seed 0 (dashed: uniform S⁷)", template="plotly_white", height=360)
fig.update_xaxes(title_text="step")
fig.show()

# %%
nce, ctl = "InfoNCE (τ = 0.2)", "alignment only (λ = 0)"
end = {(a, s): cone_runs[a, s].iloc[-1] for a in arms for s in CONE_SEEDS}  # the last evaluation of each run
knn_cone = {s: (metrics.knn_accuracy(models[nce, s].project(data.x), data.labels),
                metrics.knn_accuracy(start[nce, s], data.labels)) for s in CONE_SEEDS}  # (trained, start)
print(rule_cone.judge([end[nce, s].anisotropy - end[ctl, s].anisotropy for s in CONE_SEEDS], seeds=CONE_SEEDS,
                      model=[knn_cone[s][0] for s in CONE_SEEDS], reference=[knn_cone[s][1] for s in CONE_SEEDS],
                      detail=f"anisotropy at the start {np.mean([cone_runs[nce, s].anisotropy.iloc[0] for s in CONE_SEEDS]):.2f},"
                      f" after InfoNCE {np.mean([end[nce, s].anisotropy for s in CONE_SEEDS]):.2f}, after alignment only"
                      f" {np.mean([end[ctl, s].anisotropy for s in CONE_SEEDS]):.2f} (means over seeds)"))
cone0 = start[nce, 0] - start[nce, 0].mean(0)  # (N, 8) centred
eigenvalues, vectors = torch.linalg.eigh(cone0.T @ cone0 / len(cone0))  # (8,), (8, 8) covariance
white = cone0 @ vectors / eigenvalues.clamp_min(1e-12).sqrt()  # (N, 8) whitened, no training
print(f"seed 0, whitening the starting cone instead (no training): anisotropy {metrics.anisotropy(white):.2f}, uniformity "
      f"{metrics.uniformity(white):.2f}; kNN accuracy {knn_cone[0][1]:.3f} at the start, "
      f"{metrics.knn_accuracy(white, data.labels):.3f} whitened, {knn_cone[0][0]:.3f} after InfoNCE")

# %% [markdown]
# **Question.** Whitening (subtract the mean embedding, then decorrelate the dimensions) also removes
# anisotropy, with no training at all. What does contrastive training do that whitening cannot?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# Whitening is a fixed linear map of the embedding: it spreads the cone but keeps the neighbourhoods the
# encoder already had, good or bad. Contrastive training changes the encoder itself: it spreads the
# points *and* pulls each input's views together, so what ends up close is what the augmentations
# say should be close. Su et al. (2021) whiten sentence embeddings; the last printed line above
# whitens the cone this toy started from.
#
# </details>

# %% [markdown]
# ## Optional: Exercise 3, alignment from cosine similarities
#
# For unit vectors $\lVert u - v\rVert^2 = u^\top u - 2u^\top v + v^\top v = 2 - 2u^\top v$. Use this to
# write $\mathcal L_{align}$ (with $\alpha = 2$) from the cosine similarities of the positive pairs only,
# without subtracting vectors: `F.cosine_similarity(x, y, dim=1)` gives them as an `(N,)` tensor.

# %%
def my_alignment(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean ||x̂_i - ŷ_i||² over the N positive pairs, from their cosine similarities."""
    # Your code here
    return None


# %%
def check_alignment(fn) -> bool:
    """Compare fn with metrics.alignment and explain the difference if there is one."""
    gen = torch.Generator().manual_seed(6)
    x = 2.0 * torch.randn(300, 8, generator=gen, dtype=torch.float64)  # (300, 8), not unit-norm on purpose
    y = x + 1.5 * torch.randn(300, 8, generator=gen, dtype=torch.float64)  # (300, 8) noisy positives
    expected = metrics.alignment(x, y)
    done, got = attempt(fn, x, y, name="my_alignment")
    if not done:
        return False
    got = float(torch.as_tensor(got))
    if math.isclose(got, expected, abs_tol=1e-6):
        print(f"Check passed: your alignment {got:.5f} matches metrics.alignment {expected:.5f}.")
        return True
    cos = F.cosine_similarity(x, y, dim=1)  # (300,)
    all_pairs = F.normalize(x, dim=1) @ F.normalize(y, dim=1).T  # (300, 300)
    mistakes = {"used 1 - cos instead of 2 - 2 cos": (1 - cos).mean(), "used the dot product of the raw vectors":
                (2 - 2 * (x * y).sum(1)).mean(), "averaged over all N² pairs, not the N positives": (2 - 2 * all_pairs).mean(),
                "returned the mean cosine itself": cos.mean(), "took the square root (alpha = 1)": (2 - 2 * cos).sqrt().mean()}
    print(f"Not yet: your value {got:.5f} differs from metrics.alignment {expected:.5f}.")
    for mistake, value in mistakes.items():
        if math.isclose(got, float(value), rel_tol=1e-6, abs_tol=1e-6):
            print(f"It matches what you get if you {mistake}.")
            return False
    print("Use the cosine of each pair (x_i, y_i): alignment = mean(2 - 2 cos).")
    return False


check_alignment(my_alignment)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_alignment(x, y):
#     cos = F.cosine_similarity(x, y, dim=1)  # (N,) cosine of each positive pair
#     return (2 - 2 * cos).mean()  # ||x̂ - ŷ||² = 2 - 2 x̂ᵀŷ
#
#
# check_alignment(my_alignment)
# ```
#
# So alignment is an affine function of the mean positive cosine: $\mathcal L_{align} = 2 - 2\,\overline{\cos}_{pos}$,
# and the positive term of InfoNCE, $-s_{ii}/\tau$, is alignment in disguise (up to constants). Wang &
# Isola (Theorem 1) show that, as the number of negatives grows, the rest of InfoNCE (the log-sum-exp
# over negatives) is minimised by uniformly distributed embeddings, when such an encoder exists.
#
# </details>

# %% [markdown]
# ## Summary
#
# - Contrastive embeddings live on the unit sphere: normalising removes a degree of freedom (the norm)
#   that a dot-product loss can exploit, and makes τ the one knob for sharpness. On the sphere, a good
#   embedding is **aligned** (positives close, $\mathcal L_{align}$ low) and **uniform** (points spread,
#   $\mathcal L_{uniform}$ near `metrics.uniform_sphere_uniformity(d)`); either alone is trivial to achieve.
# - $\mathcal L_{align} + \lambda\,\mathcal L_{uniform}$ can be optimised directly, with no softmax and no
#   temperature; the first verdict compares its best setting with InfoNCE's, paired seed by seed. Across
#   many short runs, the plain correlation of accuracy with each metric depends on the sweep, because the
#   two trade off; the partial rank correlations, one per sweep, ask whether the lower-left of the A-U
#   plane is best (the two A-U verdicts).
# - Anisotropy (a narrow cone, high mean cosine) is the opposite of uniformity; the optional section
#   measures whether contrastive training spreads it out more than alignment alone, which has no force
#   that spreads.
#
# ## Further reading
#
# - T. Wang, P. Isola (2020). *Understanding Contrastive Representation Learning through Alignment and
#   Uniformity on the Hypersphere*. ICML. [arXiv:2005.10242](https://arxiv.org/abs/2005.10242)
# - T. Gao, X. Yao, D. Chen (2021). *SimCSE: Simple Contrastive Learning of Sentence Embeddings*. EMNLP.
#   [arXiv:2104.08821](https://arxiv.org/abs/2104.08821)
# - K. Ethayarajh (2019). *How Contextual are Contextualized Word Representations? Comparing the Geometry
#   of BERT, ELMo, and GPT-2 Embeddings*. EMNLP. [arXiv:1909.00512](https://arxiv.org/abs/1909.00512)
# - J. Su, J. Cao, W. Liu, Y. Ou (2021). *Whitening Sentence Representations for Better Semantics and
#   Faster Retrieval*. [arXiv:2103.15316](https://arxiv.org/abs/2103.15316)
# - F. Wang, H. Liu (2021). *Understanding the Behaviour of Contrastive Loss*. CVPR (uniformity and
#   tolerance against the temperature). [arXiv:2012.09740](https://arxiv.org/abs/2012.09740)
