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
# # Temperature explorer
#
# Move τ and watch the softmax over one anchor's candidates (left) and the share of the gradient each
# negative receives (right). Type your own similarities (the positive first) to explore other rows.
# Serve alone for a workshop: `make dashboard NB=notebooks/apps/app_temperature.ipynb`.

# %%
from contrastlab.interactive.widgets import TemperatureExplorer

app = TemperatureExplorer()
app.widget
