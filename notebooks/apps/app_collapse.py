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
# # Collapse lab
#
# A siamese network without negatives can map every input to the same point. Switch the ingredients
# that prevent it on and off (stop-gradient, predictor, EMA target, variance and covariance terms,
# negatives), press Start and watch std·√d, the per-dimension std of the normalised embedding times
# √d (about 1 when spread, where the std is about 1/√d: the dashed line; 0 when collapsed), the
# effective rank and the singular-value spectrum.

# %%
from contrastlab.interactive.widgets import CollapseLab
from contrastlab.lessons import setup

FAST = setup(quiet=True).fast  # seeds torch, one torch thread on a CPU, fast mode from CONTRASTLAB_FAST=1
app = CollapseLab(steps=60 if FAST else 300)
app.widget
