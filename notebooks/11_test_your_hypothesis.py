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
# # 11 · Test your own hypothesis: a quick, honest check with the sweep tool
#
# You have a hunch about contrastive learning ("hard negatives make τ matter less", "a bigger batch
# helps DCL less than InfoNCE", ...). This notebook is a **template** for checking such a hunch in
# minutes without fooling yourself: write the prediction and the rule that will judge it *before*
# any run, pick a toy and a metric that can show an effect, run several seeds through
# `contrastlab.sweeps`, read the confidence intervals, and let the rule print the verdict. It is
# worked on one example: *hard-negative reweighting makes the result less sensitive to τ.*
#
# **Learning goals.** You will be able to
#
# - turn a hunch into a falsifiable prediction: a metric, a direction, and a decision rule written
#   in code before looking at any result;
# - check with a positive control that a toy and a metric can show an effect at all;
# - run a multi-seed grid with `contrastlab.sweeps` (a config dict, overrides, workers, resuming) and
#   read its summary table, its 95% intervals and its figures;
# - compute a paired confidence interval across seeds (by hand and with `contrastlab.sweeps.compare`),
#   and list what a toy result can and cannot say.
#
# **Prerequisites.** `02_temperature` (what τ does) and `04_hard_negatives` (the β reweighting);
# a mean, a standard deviation and the idea of a confidence interval.
#
# **Expected run time.** Fast mode (`CONTRASTLAB_FAST=1`, what CI runs): about 10–15 s on a 2-core
# laptop CPU, kernel start included (24 runs of 40 steps). Full mode: about 2–4 minutes on 2 cores
# (48 runs of 300 steps in two worker processes). No downloads.

# %% [markdown]
# ## Setup
#
# `setup()` from `contrastlab.lessons` does the set-up in one call: it seeds torch, picks the device
# (CUDA or Apple MPS when present, else CPU), runs torch on one thread on a CPU (the models are tiny,
# and threads that compete for the cores slow them down: `contrastlab.runtime` has the measurement)
# and reads fast mode, which CI turns on with `CONTRASTLAB_FAST=1` to shrink the sizes. Each run of
# the sweep uses one torch thread too (the sweep tool's docstring explains why).

# %%
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from scipy import stats

import contrastlab
import contrastlab.sweeps  # contrastlab.sweep(config) runs a sweep; contrastlab.sweeps also validates, expands, compares
from contrastlab import data as D, metrics as M
from contrastlab.interactive.widgets import Debouncer
from contrastlab.lessons.exercises import attempt
from contrastlab.lessons import setup

lesson = setup(seed=0)  # torch.manual_seed(0), the device, the thread policy, fast mode; prints one line
device, FAST = lesson.device, lesson.fast

# %% [markdown]
# ## 1 · State the hypothesis, and the rule that will judge it, before looking
#
# **The hunch.** Robinson et al. (2021) reweight each negative by $w_j \propto e^{\beta s_j/\tau}$.
# Notebook 04 showed that a negative's share of the loss is then
#
# $$\pi_j \;\propto\; w_j\, e^{s_j/\tau} \;=\; e^{(1+\beta)\,s_j/\tau},$$
#
# so $\beta$ acts like a *lower temperature on the negatives*. If what a small τ buys is hardness,
# reweighting could buy it at any τ, and the result should then depend less on τ.
#
# **The prediction, made precise.** Four choices, each written down now:
#
# 1. *metric*: kNN accuracy (20 neighbours, cosine, on the encoder's features) at the last step;
# 2. *sensitivity to τ*: for one seed and one $\beta$, the **spread** over the τ grid,
#    $S = \max_\tau \text{kNN} - \min_\tau \text{kNN}$;
# 3. *direction*: per seed $s$, $d_s = S_s(\beta{=}0) - S_s(\beta{=}1)$; the hypothesis says $d > 0$.
#    The same seed gives both $\beta$ the same dataset, initialisation and batches, so the
#    difference is **paired**;
# 4. *rule*: the 95% Student-t interval of the mean of $d$, $\bar d \pm t_{0.975,\,n-1}\, s_d/\sqrt n$.
#
# Before that, a **positive control**: if τ hardly moves kNN accuracy at $\beta = 0$, there is no
# sensitivity to reduce and the test says nothing. So the control, kNN at the largest τ minus kNN at
# the smallest (β = 0, per seed), must have an interval that excludes 0. We also fix a **smallest
# effect of interest**: one point of kNN accuracy (0.01). An interval inside $\pm 0.01$ says
# "no effect that matters", which is a stronger statement than "not shown".

# %%
LEVEL, SESOI = 0.95, 0.01  # interval level; smallest effect of interest (kNN accuracy)


def paired_interval(diffs, level=LEVEL):
    """(mean, low, high): the Student-t interval of the mean of paired differences (one per seed)."""
    d = np.asarray(diffs, dtype=float)
    half = stats.t.ppf((1 + level) / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def verdict_word(low, high, sesoi=SESOI):
    """What an interval of a difference (predicted > 0) says."""
    if low > 0:
        return "holds"
    if high < 0:
        return "reversed"
    return "negligible" if -sesoi < low and high < sesoi else "inconclusive"


def decide(d, control):
    """The rule, fixed before any run, on two intervals (mean, low, high): that of d and that of the
    positive control. 'untestable' unless the control's interval excludes 0."""
    _, c_low, c_high = control
    return "untestable" if c_low <= 0 <= c_high else verdict_word(d[1], d[2])


# %% [markdown]
# The figure applies `verdict_word` to five made-up intervals, to show what each outcome looks like
# (these are illustrations, not results).

# %%
examples = {"A": (0.004, 0.020), "B": (-0.015, -0.002), "C": (-0.006, 0.007), "D": (-0.02, 0.03), "E": (0.0, 0.012)}
fig = go.Figure()
fig.add_vrect(x0=-SESOI, x1=SESOI, fillcolor="lightgrey", opacity=0.4, line_width=0)
for name, (low, high) in examples.items():
    fig.add_scatter(x=[(low + high) / 2], y=[f"{name}: {verdict_word(low, high)}"], mode="markers",
                    error_x=dict(type="data", symmetric=False, array=[(high - low) / 2], arrayminus=[(high - low) / 2]),
                    marker=dict(size=9, color="black"), showlegend=False)
fig.add_vline(x=0, line_dash="dot")
fig.update_layout(title="The decision rule on five example 95% intervals of d (grey: ±0.01, no effect that matters)",
                  xaxis_title="d = spread(β = 0) − spread(β = 1)", template="plotly_white", height=300)
fig

# %% [markdown]
# **Question.** Interval E touches 0 at its lower end. Why does the rule call it "inconclusive"
# rather than "holds"? And what would you need to turn D into one of the other four outcomes?

# %% [markdown]
# ## 2 · Choose the toy and the metric
#
# **Toy.** The one of `examples/sweeps/hard_negatives.yaml`: 10 classes drawn from von Mises–Fisher
# clusters on the sphere $S^{15}$ (concentration κ = 20), each view the point plus noise 0.1, an MLP
# encoder, and the loss `"debiased"` (Chuang et al. 2020) with class prior $\tau^+ = 0.1$ (1 in 10
# random negatives shares the anchor's class) and $\beta \in \{0, 1\}$. A run takes seconds, so
# several seeds are cheap, and the labels are known, so kNN accuracy can be measured directly.
#
# **Metric.** `fit` measures `knn` as leave-one-out kNN accuracy on the encoder's features of
# `eval_size` clean training points. A metric is only useful if it moves when the thing it measures
# moves. A first sanity check needs no training: the kNN accuracy of the **raw inputs** must rise
# from chance (0.1) as the clusters tighten (larger κ), and it tells us the ceiling an encoder can
# reach on our toy.

# %%
n_check = 1000 if FAST else 2000
kappas = [0.0, 2.0, 5.0, 10.0, 20.0, 50.0]
raw_knn = []
for kappa in kappas:
    toy = D.vmf_mixture(n_check, n_classes=10, dim=16, concentration=kappa, seed=0, device=device)
    raw_knn.append(M.knn_accuracy(toy.x, toy.labels, k=20))  # leave-one-out, as fit's `knn`
fig = go.Figure(go.Scatter(x=kappas, y=raw_knn, mode="lines+markers", name="raw inputs"))
fig.add_hline(y=0.1, line_dash="dot", annotation_text="chance (10 classes)")
fig.add_vline(x=20, line_dash="dash", annotation_text="our toy")
fig.update_layout(title="Positive control for the metric: kNN accuracy of the raw inputs against κ",
                  xaxis_title="concentration κ (larger: tighter clusters)", yaxis_title="kNN accuracy",
                  template="plotly_white", height=340)
print(f"raw-input kNN accuracy at κ = 0: {raw_knn[0]:.3f} (chance 0.1), at κ = 20: {raw_knn[4]:.3f}")
fig

# %% [markdown]
# The metric passes: it sits at chance on structureless data and rises with cluster tightness. The
# second number is a warning for later: at κ = 20 the raw inputs are already very separable, so a
# trained encoder can only move kNN accuracy within a narrow band below that ceiling.
#
# The **experiment's** positive control (does τ move kNN at β = 0 with this many seeds and steps?)
# needs the sweep's runs; section 5 checks it before it looks at the hypothesis.
#
# **Question.** If the raw inputs gave 0.99, what would you expect the spreads across τ to look
# like, and would "reweighting makes the result less sensitive to τ" still be a fair test?

# %% [markdown]
# ## 3 · The sweep: one config, several seeds
#
# The config is a plain dict, with the same sections as a YAML file for the `contrastlab sweep`
# command. A list as an option's value sweeps it: here 4 temperatures × 2 values of β, times the
# seeds. Fast mode shrinks it with **overrides** (`"section.option=value"`, the value read as YAML),
# the same strings the command line takes after `--set`.

# %%
CONFIG = {
    "name": "hypothesis_hard_negatives",
    "description": "Does hard-negative reweighting (β = 1) make kNN accuracy less sensitive to τ than β = 0?",
    "data": {"name": "vmf_mixture", "n": 2000, "n_classes": 10, "dim": 16, "concentration": 20.0, "view_noise": 0.1},
    "model": {"out_dim": 32, "feature_dim": 64, "hidden": 128},
    "loss": {"name": "debiased", "tau_plus": 0.1, "temperature": [0.1, 0.2, 0.5, 1.0], "beta": [0.0, 1.0]},
    "train": {"steps": 300, "batch_size": 256, "lr": 1e-3, "eval_every": 50, "eval_size": 1024, "device": "auto"},
    "metrics": ["knn", "alignment", "uniformity"],  # knn decides; the other two are for looking only
    "seeds": 6,
}
FAST_OVERRIDES = ["seeds=4", "data.n=1000", "train.steps=40", "train.batch_size=128", "train.eval_every=20",
                  "train.eval_size=500", "loss.temperature=[0.1,0.5,1.0]"]
OVERRIDES = FAST_OVERRIDES if FAST else []
runs = contrastlab.sweeps.expand(contrastlab.sweeps.apply_overrides(CONFIG, OVERRIDES))  # validates everything
print(f"{len(runs)} runs, for example {runs[0]['params']} with seed {runs[0]['seed']} -> run id {runs[0]['run_id']}")

# %% [markdown]
# Each run's id is a hash of its resolved config, so the same run has the same id from Python and
# from the command line. The repository ships this config as
# `examples/sweeps/hypothesis_hard_negatives.yaml`; the cell checks that the file and the dict give
# the very same runs, so `contrastlab sweep examples/sweeps/hypothesis_hard_negatives.yaml` (plus
# the same `--set` overrides in fast mode) reproduces this notebook's sweep.

# %%
yaml_path = Path("..") / "examples" / "sweeps" / "hypothesis_hard_negatives.yaml"  # notebooks/ is the cwd
if yaml_path.exists():
    from_file = contrastlab.sweeps.expand(contrastlab.sweeps.apply_overrides(contrastlab.sweeps.load_config(yaml_path),
                                                                           OVERRIDES))
    same = [r["run_id"] for r in from_file] == [r["run_id"] for r in runs]
    print(f"{yaml_path.name} gives {'the same' if same else 'DIFFERENT'} {len(from_file)} run ids")
else:
    print(f"{yaml_path} not found (run the notebook from the repository's notebooks/ folder to compare)")

# %% [markdown]
# **Workers.** The sweep runs `workers` processes, each run on one thread. More than one worker
# spawns fresh Python processes, and each must import PyTorch before its first run; that only pays
# when the runs take longer than the start. Fast mode's runs are short (the cell prints their mean
# length), so they run in this process (`workers=1`); in full mode the default is one worker per core
# (one on a GPU). In full mode the cell after the sweep measures what a fresh process pays here.
#
# The run folder is a temporary one here, deleted when the kernel stops. Rerunning `sweep` with the
# same folder skips every run whose results file exists, so an interrupted sweep resumes, and a grown
# grid only runs what is new (Exercise 3 uses this).

# %%
RUN_DIR = tempfile.TemporaryDirectory(prefix="contrastlab-11-")  # deleted when the kernel stops
OUT = Path(RUN_DIR.name)  # or a folder of your own, e.g. Path("../runs/hypothesis"), to keep the report
WORKERS = 1 if FAST else None
started = time.perf_counter()
frame = contrastlab.sweep(CONFIG, out=OUT, overrides=OVERRIDES, workers=WORKERS,
                          progress=not FAST)  # full mode: a bar with the time left; fast mode is over in seconds
sweep_seconds = time.perf_counter() - started
run_seconds = frame.groupby("run_id")["seconds"].max()  # each run's length
print(f"{len(run_seconds)} runs in {sweep_seconds:.1f} s (one run: {run_seconds.mean():.2f} s on average); "
      f"files: {sorted(p.name for p in OUT.iterdir())}")
print(f"report (open it in a browser): {OUT / 'report.html'}")

# %%
if not FAST:  # the start-up price of one spawned worker (fast mode runs in this process and skips it)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import contrastlab.train"], check=True)
    print(f"a fresh Python process imports PyTorch and contrastlab in {time.perf_counter() - t0:.1f} s")
environment = json.loads((OUT / "environment.json").read_text())
print(f"workers {environment['workers']}, device {environment['device']}, cores {environment['cpu_count']}")

# %% [markdown]
# `sweep` returns a tidy frame (one row per run and evaluation step) and writes the same table,
# a summary, the resolved config, the environment and an HTML report into the folder. The frame
# carries what the report's functions need in `frame.attrs`: the swept options (`params`), the
# resolved config with every default filled in (`config`) and the run folder (`folder`). So
# `contrastlab.sweeps.figures(frame)` draws the report's figures, in a dict keyed by what each shows:
# `(metric, option)` for a metric against a swept option, `"curves"` for the training curves.
# Below: the training curves, mean over seeds.

# %%
PARAMS = frame.attrs["params"]  # the swept options: ['loss.temperature', 'loss.beta']
TAU, BETA = PARAMS
report_figures = contrastlab.sweeps.figures(frame)
print(list(report_figures))
report_figures["curves"]

# %% [markdown]
# **Question.** The curves are short in fast mode. Do they look finished (flat) at the last step?
# What would it mean for the hypothesis if they were not?

# %% [markdown]
# ## 4 · The summary table and its confidence intervals
#
# `summary.csv` has one row per grid point: the mean of each metric over seeds at the last step and
# the half-width of its 95% interval, $t_{0.975,\,n-1}\, s/\sqrt n$ (`<metric>_ci95`). Here it is for
# kNN accuracy, one column per β.

# %%
summary = pd.read_csv(OUT / "summary.csv")
cell = summary.assign(knn=[f"{m:.3f} ± {h:.3f}" for m, h in zip(summary.knn, summary.knn_ci95)])
table = cell.pivot(index=TAU, columns=BETA, values="knn").rename(columns=lambda b: f"kNN, β = {b:g}")
print(f"kNN accuracy at step {int(summary.step.max())}, mean ± 95% half-width over {int(summary.n.min())} seeds")
table

# %%
knn_figure = report_figures["knn", TAU]  # kNN accuracy at the last step against τ
knn_figure

# %% [markdown]
# Each line is one β: the mean over seeds with its 95% interval as error bars; the faint dots are the
# single seeds. Overlapping error bars between two *points* do not settle a *paired* question: the
# hypothesis is about the spread of each seed's line, which section 5 computes seed by seed.
#
# ### Live: a metric, and how many seeds
#
# The same figure, re-drawn in place by the sweep's own figure builder. The dropdown picks a metric
# (only kNN decides; the others are for looking). The slider keeps only the first $k$ seeds of the
# runs already done, so you can watch the intervals, and the interval of $d$ printed above the figure,
# shrink as seeds are added, roughly like $t_{0.975,\,k-1}/\sqrt{k}$.

# %%
finals = frame.loc[frame.groupby("run_id")["step"].idxmax()]  # each run's last evaluation
SEEDS = sorted(finals.seed.unique())


def spreads(finals, metric="knn"):
    """(seeds, betas): the spread max - min of the metric across τ, per seed and β."""
    return finals.groupby([BETA, "seed"])[metric].agg(lambda v: v.max() - v.min()).unstack(BETA)


def seed_interval(metric="knn", n_seeds=len(SEEDS)):
    """(mean, low, high) of d, the spread at β = 0 minus at β = 1, over the first n_seeds seeds."""
    s = spreads(finals[finals.seed.isin(SEEDS[:n_seeds])], metric)
    return paired_interval(s[0.0] - s[1.0])


def seed_figure(metric="knn", n_seeds=len(SEEDS)):
    """The sweep's own figure of `metric` against τ, drawn from the first n_seeds seeds only."""
    keep = frame[frame.seed.isin(SEEDS[:n_seeds])]  # a selection keeps the frame's attrs
    return contrastlab.sweeps.figures(keep, metrics=[metric])[metric, TAU]


# %%
live = go.FigureWidget(knn_figure)  # the figure above: kNN, every seed
metric_box = W.Dropdown(options=["knn", "alignment", "uniformity", "loss"], value="knn", description="metric")
seed_slider = W.IntSlider(value=len(SEEDS), min=2, max=len(SEEDS), description="seeds")
note = W.HTML()


def show_interval():
    mean, low, high = seed_interval(metric_box.value, seed_slider.value)
    note.value = (f"{metric_box.value} spread, β = 0 minus β = 1, over {seed_slider.value} seeds: "
                  f"<b>{mean:+.4f}</b>, 95% interval [{low:+.4f}, {high:+.4f}]")


def redraw():
    fig = seed_figure(metric_box.value, seed_slider.value)
    with live.batch_update():  # same traces, new numbers: update in place
        for trace, new in zip(live.data, fig.data):
            trace.update(x=new.x, y=new.y, error_y=new.error_y, hovertemplate=new.hovertemplate)
        live.layout.title.text, live.layout.yaxis.title.text = fig.layout.title.text, fig.layout.yaxis.title.text
    show_interval()


debounced = Debouncer(redraw)
for control in (metric_box, seed_slider):
    control.observe(lambda change: debounced(), names="value")
show_interval()
W.VBox([W.HBox([metric_box, seed_slider]), note, live])

# %% [markdown]
# **Question.** Move the slider from 2 seeds up. Why is the interval at 2 seeds so wide, even when
# the two seeds agree closely? (Look up $t_{0.975,\,1}$.) What happens to the conclusion if you pick
# the metric *after* seeing which one gives a narrow interval?

# %% [markdown]
# ## 5 · Reproduce the finding: the verdict
#
# **Claim** (Robinson et al. 2021, *Contrastive Learning with Hard Negative Samples*,
# arXiv:2010.04592): tilting the negatives towards hard ones, with a concentration $\beta > 0$ on
# top of the debiased loss, improves downstream classification over $\beta = 0$, across images,
# graphs and sentences, for a few extra lines of code and no extra compute. **Our hypothesis** is a
# consequence one might draw from it, not their claim: if β does the work of a small τ, the result
# should depend less on τ. Wang & Liu (2021) make a related point, proposing explicit hard-negative
# sampling as a way to balance the uniformity–tolerance trade-off that τ alone has to strike.
#
# The rule of section 1, unchanged: first the positive control, then the interval of $d$.
#
# The control is a difference between two grid points, paired by seed, and that is what
# `contrastlab.sweeps.compare(frame, baseline, metric)` computes for every grid point at once: the
# point minus its baseline (the same point with the options in `baseline` changed), seed by seed,
# with the Student-t interval of the mean. The spread is a statistic of its own, so $d$ stays ours.

# %%
def tau_control(frame):
    """(mean, low, high): kNN at the largest τ minus at the smallest, at β = 0, paired by seed."""
    taus = sorted(frame[TAU].unique())
    table = contrastlab.sweeps.compare(frame, baseline={TAU: taus[0]}, metric="knn")  # each τ vs the smallest
    row = table[(table[TAU] == taus[-1]) & (table[BETA] == 0.0)].iloc[0]
    return row["diff"], row["low"], row["high"]


S = spreads(finals)  # (seeds, betas) spread of kNN accuracy across τ
d = S[0.0] - S[1.0]  # (seeds,) > 0 if reweighting makes kNN less sensitive to τ
taus = sorted(finals[TAU].unique())
c_mean, c_low, c_high = control = tau_control(frame)  # what τ does at β = 0
d_mean, d_low, d_high = paired_interval(d)
word = decide((d_mean, d_low, d_high), control)
alone = summary.set_index([TAU, BETA]).knn_ci95  # each grid point's own 95% half-width
print(f"positive control: kNN(τ = {taus[-1]:g}) − kNN(τ = {taus[0]:g}) at β = 0: "
      f"{c_mean:+.4f} [{c_low:+.4f}, {c_high:+.4f}] (paired: ±{(c_high - c_low) / 2:.4f}; the two points "
      f"alone: ±{alone[taus[-1], 0.0]:.4f} and ±{alone[taus[0], 0.0]:.4f})")
print(f"spread of kNN across τ: {S[0.0].mean():.4f} at β = 0, {S[1.0].mean():.4f} at β = 1; "
      f"d = {d_mean:+.4f} [{d_low:+.4f}, {d_high:+.4f}] over {len(d)} seeds -> {word}")

# %%
beta_effect = contrastlab.sweeps.compare(frame, baseline={BETA: 0.0}, metric="knn")  # β = 1 minus β = 0, per τ
by_tau = finals.pivot_table(index="seed", columns=[BETA, TAU], values="knn")  # (seeds, betas x taus)
by_hand = paired_interval(by_tau[1.0][taus[0]] - by_tau[0.0][taus[0]])  # section 1's formula, at the smallest τ
first = beta_effect[beta_effect[TAU] == taus[0]].iloc[0]
assert np.allclose(by_hand, [first["diff"], first["low"], first["high"]]), "paired_interval disagrees with compare"
print("kNN at β = 1 minus β = 0, per τ: " + "; ".join(f"τ = {r[TAU]:g}: {r['diff']:+.4f} [{r['low']:+.4f}, "
                                                     f"{r['high']:+.4f}]" for _, r in beta_effect.iterrows()))
print(f"β = 1 has the lower mean kNN accuracy at {(beta_effect['diff'] < 0).sum()} of {len(taus)} temperatures")
fig = go.Figure()
for seed in S.index:
    fig.add_scatter(x=["β = 0", "β = 1"], y=[S.loc[seed, 0.0], S.loc[seed, 1.0]], mode="lines+markers",
                    line=dict(color="grey"), name=f"seed {seed}", showlegend=False)
fig.add_scatter(x=["β = 0", "β = 1"], y=[S[0.0].mean(), S[1.0].mean()], mode="lines+markers",
                line=dict(color="#d62728", width=4), marker=dict(size=11), name="mean over seeds")
fig.update_layout(title=f"Spread of kNN accuracy across τ, seed by seed (d = {d_mean:+.4f}, "
                        f"95% interval [{d_low:+.4f}, {d_high:+.4f}])",
                  yaxis_title="kNN spread over τ", template="plotly_white", height=360)
fig

# %%
numbers = (f"spread of kNN accuracy across τ {S[0.0].mean():.3f} at β = 0 vs {S[1.0].mean():.3f} at β = 1, "
           f"d = {d_mean:+.4f}, 95% CI [{d_low:+.4f}, {d_high:+.4f}], {len(d)} seeds, {int(finals.step.max())} steps; "
           f"positive control {c_mean:+.3f} [{c_low:+.3f}, {c_high:+.3f}]")
meaning = {"holds": "holds — reweighting makes kNN accuracy less sensitive to τ on this toy",
           "reversed": "does not hold — reweighting makes kNN accuracy MORE sensitive to τ on this toy",
           "negligible": f"does not hold — any change in sensitivity is smaller than {SESOI} on this toy",
           "inconclusive": f"inconclusive — the interval of d holds 0 and also effects beyond ±{SESOI}: "
                           f"neither shown nor ruled out with {len(d)} seeds",
           "untestable": "untestable — τ does not move kNN at β = 0 here (the positive control failed)"}
print(f"Verdict: {meaning[word]}: {numbers}")

# %% [markdown]
# **Reading the result.** The rule wrote the verdict; two numbers help to read it. The positive
# control says whether τ moves kNN at β = 0 at all. The per-τ line (printed above the figure) says
# whether β = 1 changed the *level* of the kNN-against-τ curve rather than its *shape*: if β = 1
# lowers kNN at most temperatures while $d$ stays near 0, the curve moved down without flattening.
# For the record, when we ran it (CPU, fixed seeds): in full mode the control passed
# (+0.029 [+0.021, +0.036]), β = 1 had the lower mean kNN accuracy at 4 of 4 temperatures, and
# $d = -0.003$ [−0.007, +0.001] over 6 seeds lay within ±0.01, so the rule said "negligible"; in fast
# mode (4 seeds, 40 steps) the interval of $d$ was too wide to say more ("inconclusive"). Compare
# with the lines printed above: they are your run's. A possible reason, our reading rather than a
# result: notebook 04 found that on 10 classes β puts a large share of the weight on false
# negatives, and τ⁺ = 0.1 corrects the size of the negative term, not which points get pushed hardest.
#
# **Question.** The full run has 6 seeds and the fast run 4. If the two modes gave different
# verdicts, which would you report, and what would you add to the report?

# %% [markdown]
# ## 6 · Threats to validity: what this result can and cannot say
#
# - **A toy, not a benchmark.** One synthetic dataset, one encoder, one metric, 300 steps at most.
#   The verdict is about *this* toy; it neither confirms nor refutes Robinson et al., who measure
#   linear-probe accuracy on real images after hundreds of epochs.
# - **The spread is biased by noise.** Even if τ did nothing, the max − min of noisy numbers is
#   positive. Both β see the same number of τ values, so the bias is similar in both arms and the
#   paired difference cancels most of it, but a spread close to the noise floor means little. The cell
#   below estimates the floor. The noise that matters is the one *within* a seed: each seed draws its
#   own dataset, and how easy that dataset is shifts all of the seed's runs together, which the
#   spread (and the pairing) ignores.
# - **Seeds are the unit of replication.** The interval covers the variation from the seed (the
#   dataset draw, the initialisation, the batches, the views) *at these settings*; it says nothing
#   about other κ, batch sizes or step counts. With $n$ seeds, $t_{0.975,\,n-1}$ is 12.7 for $n = 2$
#   and 2.57 for $n = 6$: a few more seeds narrow the interval far more than the square root suggests.
# - **Multiple comparisons.** We fixed one metric and one statistic in advance. The widget shows four
#   metrics; testing each at 95% would find at least one "effect" by chance with probability up to
#   $1 - 0.95^m$ (computed below), unless the level is corrected (Bonferroni: $0.05/m$ each).
# - **Choices made after looking** (the τ grid, the steps, the metric) would invalidate the interval:
#   change them only in a new, separately reported experiment.

# %%
def within_seed_sigma(table):
    """(seeds, taus) -> the noise left after removing each seed's and each τ's mean (two-way residual)."""
    r = table.values - table.values.mean(1, keepdims=True) - table.values.mean(0, keepdims=True) + table.values.mean()
    return math.sqrt((r**2).sum() / ((table.shape[0] - 1) * (table.shape[1] - 1)))


between = math.sqrt(finals.groupby([TAU, BETA]).knn.var(ddof=1).mean())  # scatter of one grid point over seeds
sigma = math.sqrt(np.mean([within_seed_sigma(by_tau[b]) ** 2 for b in (0.0, 1.0)]))
floor = np.ptp(np.random.default_rng(0).normal(0, sigma, size=(100_000, len(taus))), axis=1)  # no τ effect at all
m = 4  # metrics in the widget
print(f"scatter over seeds: {between:.4f} for one grid point, {sigma:.4f} within a seed once its common offset is removed")
print(f"noise alone gives a spread of {floor.mean():.4f} on average (95th percentile {np.quantile(floor, 0.95):.4f}); "
      f"observed {S[0.0].mean():.4f} (β = 0), {S[1.0].mean():.4f} (β = 1)")
print(f"{m} metrics each at 95%: P(at least one false 'effect') up to {1 - 0.95**m:.2f}; Bonferroni level {0.05 / m:.4f}")
fig = go.Figure(go.Histogram(x=floor, nbinsx=60, histnorm="probability", name="noise alone", marker_color="lightgrey"))
for beta, color in ((0.0, "#1f77b4"), (1.0, "#d62728")):
    for value in S[beta]:
        fig.add_vline(x=value, line_color=color, opacity=0.7)
fig.update_layout(title="Spreads across τ: noise alone (grey) vs each seed's observed spread (blue β = 0, red β = 1)",
                  xaxis_title="max − min of kNN accuracy over τ", template="plotly_white", height=330, showlegend=False)
fig

# %% [markdown]
# **Question.** If the observed spreads at β = 0 sat inside the grey histogram, which part of the
# decision rule would have caught it?

# %% [markdown]
# ## Exercise 1: a bootstrap interval for a paired difference
#
# The t-interval assumes the mean of $d$ is roughly normal. The **percentile bootstrap** assumes
# less: resample the $n$ differences *with replacement* many times, take the mean of each resample,
# and report the 2.5% and 97.5% quantiles of those means. Write `bootstrap_interval(diffs, n_boot, seed)`
# returning `(low, high)`. Use `rng = np.random.default_rng(seed)` and draw all indices at once with
# `rng.integers(0, n, size=(n_boot, n))` so that your numbers match the check's.

# %%
def bootstrap_interval(diffs, n_boot: int = 10_000, seed: int = 0):
    """(low, high): the 95% percentile-bootstrap interval of the mean of diffs."""
    # Your code here: resample indices with replacement, average each resample, take two quantiles.
    return None


# %%
def check_bootstrap_interval(fn) -> bool:
    """Compare fn with a reference bootstrap on two arrays, and explain the usual slips."""
    def reference(x, n_boot=10_000, seed=0):
        x = np.asarray(x, dtype=float)
        means = x[np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
        return tuple(np.quantile(means, [0.025, 0.975]))

    mine = None
    for x in (np.asarray(d, dtype=float), np.random.default_rng(1).normal(0.02, 0.03, 12)):
        done, got = attempt(fn, x, 10_000, 0, name="bootstrap_interval")
        if not done:
            return False
        try:
            low, high = (float(v) for v in got)
        except (TypeError, ValueError):
            print(f"Not yet: return two numbers (low, high); got {got!r}.")
            return False
        ref_low, ref_high = reference(x)
        if math.isclose(low, high, abs_tol=1e-12):
            print("Not yet: low equals high. Resample WITH replacement (rng.integers), or every resample has the same mean.")
            return False
        if np.allclose([low, high], np.quantile(x, [0.025, 0.975])):
            print("Not yet: those are quantiles of the differences themselves (the spread of the seeds), "
                  "not of the resampled MEANS (the uncertainty of the average).")
            return False
        tolerance = 0.05 * (ref_high - ref_low)  # a different random stream is close, not equal
        if abs(low - ref_low) > tolerance or abs(high - ref_high) > tolerance:
            print(f"Not yet: on {len(x)} differences expected about ({ref_low:+.4f}, {ref_high:+.4f}), got "
                  f"({low:+.4f}, {high:+.4f}). Average each resample (axis=1) and take the 0.025 and 0.975 quantiles.")
            return False
        mine = (low, high) if mine is None else mine  # the first array is d
    _, t_low, t_high = paired_interval(d)
    print(f"Check passed: your bootstrap interval of d is [{mine[0]:+.4f}, {mine[1]:+.4f}]; "
          f"the t-interval is [{t_low:+.4f}, {t_high:+.4f}] ({len(d)} seeds).")
    return True


check_bootstrap_interval(bootstrap_interval)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def bootstrap_interval(diffs, n_boot=10_000, seed=0):
#     x = np.asarray(diffs, dtype=float)  # (n,)
#     idx = np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))  # (n_boot, n)
#     means = x[idx].mean(axis=1)  # (n_boot,) one mean per resample
#     return tuple(np.quantile(means, [0.025, 0.975]))
#
#
# check_bootstrap_interval(bootstrap_interval)
# ```
#
# With 4 or 6 seeds the bootstrap interval is *narrower* than the t-interval: it cannot know that a
# handful of seeds underestimates the spread (the $t$ factor corrects for exactly that). With so few
# seeds, prefer the t-interval; the bootstrap earns its keep with dozens of seeds or skewed data.
#
# </details>

# %% [markdown]
# ## Exercise 2: a decision rule for Robinson et al.'s own claim
#
# Their claim is about accuracy, not sensitivity. One fair reading of it: with τ tuned for each,
# β > 0 beats β = 0. On the runs we already have, write `best_tau_gain(finals)`: a pandas Series indexed by seed, the best kNN
# accuracy over τ at β = 1 minus the best over τ at β = 0 (columns `TAU`, `BETA`, `"seed"`, `"knn"`).
# The check then applies `verdict_word` to its interval: no new runs needed.

# %%
def best_tau_gain(finals: pd.DataFrame) -> pd.Series:
    """(seeds,) max over τ of kNN at β = 1 minus max over τ of kNN at β = 0, paired by seed."""
    # Your code here: group by seed and β, take the max of knn, then subtract the two columns.
    return None


# %%
def check_best_tau_gain(fn) -> bool:
    """Compare fn with the reference on the sweep's final evaluations and explain the first difference."""
    best = finals.groupby(["seed", BETA]).knn.max().unstack(BETA)  # (seeds, betas)
    expected = best[1.0] - best[0.0]
    done, got = attempt(fn, finals.copy(), name="best_tau_gain")
    if not done:
        return False
    if np.ndim(got) == 0:
        print("Not yet: return one difference per seed (a Series indexed by seed), not one number: "
              "the interval needs the pairs.")
        return False
    if len(got) != len(expected):
        print(f"Not yet: expected {len(expected)} values (one per seed), got {len(got)}.")
        return False
    if isinstance(got, pd.Series) and set(got.index) != set(expected.index):
        print(f"Not yet: index the Series by seed ({list(expected.index)}); got the index {list(got.index)}.")
        return False
    got = got.astype(float).reindex(expected.index) if isinstance(got, pd.Series) else \
        pd.Series(np.asarray(got, dtype=float), index=expected.index)
    if np.allclose(got, -expected):
        print("Not yet: wrong sign. The claim is that β = 1 is better: compute best(β = 1) − best(β = 0).")
        return False
    mean_gain = finals.groupby(["seed", BETA]).knn.mean().unstack(BETA)
    if np.allclose(got, mean_gain[1.0] - mean_gain[0.0]):
        print("Not yet: you averaged over τ. This reading compares each β at its own best τ: take the max.")
        return False
    if not np.allclose(got, expected):
        print(f"Not yet: expected {np.round(expected.values, 4).tolist()}, got {np.round(got.values, 4).tolist()}.")
        return False
    mean, low, high = paired_interval(got)
    print(f"Check passed: best-τ kNN gain of β = 1 over β = 0: {mean:+.4f}, 95% interval [{low:+.4f}, {high:+.4f}] "
          f"over {len(got)} seeds -> {verdict_word(low, high)}.")
    return True


check_best_tau_gain(best_tau_gain)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def best_tau_gain(finals):
#     best = finals.groupby(["seed", BETA])["knn"].max().unstack(BETA)  # (seeds, betas) best over τ
#     return best[1.0] - best[0.0]  # (seeds,) paired by seed
#
#
# check_best_tau_gain(best_tau_gain)
# ```
#
# Taking the best τ *per seed* picks the maximum of noisy numbers, which flatters both arms about
# equally; a stricter version would choose τ on some seeds and measure on others.
#
# </details>

# %% [markdown]
# ## Exercise 3: a variant, and a tiny sweep that reuses the runs
#
# Variant: *stronger* reweighting, β = 2, might flatten the curve where β = 1 did not. Write
# `variant_overrides()`, the list of override strings that turns this notebook's sweep into the
# variant: β ∈ {0, 2} at the two end temperatures 0.1 and 1.0, everything else as in the main sweep
# (start from `OVERRIDES`). Because a run's id is a hash of its config, the β = 0 runs already in
# `OUT` are reused and only the β = 2 runs are new. The check runs the tiny sweep into `OUT` and
# applies `decide`. (Running it rewrites the folder's report and summary for the variant; every run
# stays in `OUT / "runs"`.)

# %%
def variant_overrides() -> list[str]:
    """Overrides for the β = 2 variant at τ = 0.1 and 1.0, reusing the main sweep's β = 0 runs."""
    # Your code here: OVERRIDES plus two strings, for loss.beta and loss.temperature.
    return None


# %%
def check_variant(fn) -> bool:
    """Validate the overrides, count the runs reused from OUT, run the rest and apply the rule."""
    done, overrides = attempt(fn, name="variant_overrides")
    if not done:
        return False
    try:
        planned = contrastlab.sweeps.expand(contrastlab.sweeps.apply_overrides(CONFIG, list(overrides)))
    except (contrastlab.sweeps.SweepConfigError, TypeError) as error:
        print(f"Not yet: the sweep tool rejects these overrides: {error}")
        return False
    betas = sorted({r["params"].get(BETA, r["config"]["loss"]["beta"]) for r in planned})
    temps = sorted({r["config"]["loss"]["temperature"] for r in planned})
    if betas != [0.0, 2.0]:
        print(f"Not yet: the variant compares β = 0 with β = 2 ('loss.beta=[0.0,2.0]'); your runs have β in {betas}.")
        return False
    if temps != [0.1, 1.0]:
        print(f"Not yet: keep it tiny, two temperatures ('loss.temperature=[0.1,1.0]'); yours are {temps}.")
        return False
    finished = {p.stem for p in (OUT / "runs").glob("*.csv")}
    reused = sum(r["run_id"] in finished for r in planned)
    if reused == 0:
        print("Not yet: none of these runs is in OUT, so nothing is reused. Start from OVERRIDES "
              "(OVERRIDES + [...]) so that the β = 0 runs resolve to the same config, hence the same ids.")
        return False
    variant = contrastlab.sweep(CONFIG, out=OUT, overrides=list(overrides), workers=WORKERS, progress=False)
    last = variant.loc[variant.groupby("run_id")["step"].idxmax()]
    s = spreads(last)
    mean, low, high = interval = paired_interval(s[0.0] - s[2.0])
    word = decide(interval, tau_control(variant))
    print(f"Check passed: {reused} β = 0 runs reused, {len(planned) - reused} new. Variant (β = 2): spread "
          f"{s[0.0].mean():.3f} -> {s[2.0].mean():.3f}, d = {mean:+.4f} [{low:+.4f}, {high:+.4f}] -> {word}.")
    return True


check_variant(variant_overrides)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def variant_overrides():
#     return OVERRIDES + ["loss.beta=[0.0,2.0]", "loss.temperature=[0.1,1.0]"]
#
#
# check_variant(variant_overrides)
# ```
#
# From the command line the same variant is
# `contrastlab sweep examples/sweeps/hypothesis_hard_negatives.yaml --out DIR --set 'loss.beta=[0.0,2.0]'
# --set 'loss.temperature=[0.1,1.0]'`
# (plus the fast-mode `--set`s), and with the same `--out` it reuses the same runs. Testing a
# variant after seeing the first result is exploration: report it as such, and count it among
# the comparisons of section 6.
#
# </details>

# %% [markdown]
# ## Summary
#
# - An honest check is decided before it runs: a metric, a direction, a paired statistic and a rule
#   in code (with a positive control and a smallest effect of interest), so the numbers, not the
#   author, write the verdict.
# - `contrastlab.sweeps` turns one config (a dict or YAML file, shrunk with overrides) into a grid of
#   seeded runs, resumable by run id, with a summary of 95% intervals, figures and an HTML report;
#   more workers pay only when runs outlast a process start.
# - Worked example: in our full run, hard-negative reweighting (β = 1, Robinson et al.) did not make
#   kNN accuracy less sensitive to τ on this toy (the verdict line gives your run's numbers); a toy
#   verdict is about the toy, so list its threats: noise-biased statistics, few seeds, many looks.
#
# ## Further reading
#
# - J. Robinson, C.-Y. Chuang, S. Sra, S. Jegelka (2021). *Contrastive Learning with Hard Negative
#   Samples*. ICLR. [arXiv:2010.04592](https://arxiv.org/abs/2010.04592)
# - F. Wang, H. Liu (2021). *Understanding the Behaviour of Contrastive Loss*. CVPR.
#   [arXiv:2012.09740](https://arxiv.org/abs/2012.09740)
# - C.-Y. Chuang, J. Robinson, L. Yen-Chen, A. Torralba, S. Jegelka (2020). *Debiased Contrastive
#   Learning*. NeurIPS. [arXiv:2007.00224](https://arxiv.org/abs/2007.00224)
# - X. Bouthillier et al. (2021). *Accounting for Variance in Machine Learning Benchmarks*. MLSys.
#   [arXiv:2103.03098](https://arxiv.org/abs/2103.03098)
# - P. Henderson, R. Islam, P. Bachman, J. Pineau, D. Precup, D. Meger (2018). *Deep Reinforcement
#   Learning that Matters* (seeds and significance). AAAI. [arXiv:1709.06560](https://arxiv.org/abs/1709.06560)
# - D. Lakens (2017). *Equivalence Tests: A Practical Primer for t Tests, Correlations, and
#   Meta-Analyses* (the smallest effect of interest). Social Psychological and Personality Science.
#   [doi:10.1177/1948550617697177](https://doi.org/10.1177/1948550617697177)
