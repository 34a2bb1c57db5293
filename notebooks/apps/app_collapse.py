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
# negatives), press Start and watch the per-dimension std (≈ 1/√d when spread, 0 when collapsed), the
# effective rank and the singular-value spectrum.

# %%
import os

from contrastlab.interactive.widgets import CollapseLab

app = CollapseLab(steps=60 if os.environ.get("CONTRASTLAB_FAST") == "1" else 300)
app.widget
