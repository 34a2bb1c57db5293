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
# # Live training dashboard
#
# Choose a dataset, a loss, the temperature and the batch size, then press Start: the embedding on the
# sphere (or circle), the loss, alignment, uniformity, effective rank and kNN accuracy are redrawn every
# few steps. Stop keeps what was learned so far.

# %%
from contrastlab.interactive.widgets import TrainingDashboard
from contrastlab.lessons import setup

FAST = setup(quiet=True).fast  # seeds torch, one torch thread on a CPU, fast mode from CONTRASTLAB_FAST=1
app = TrainingDashboard(steps=60 if FAST else 400)
app.widget
