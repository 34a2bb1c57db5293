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
# # Hard and false negatives
#
# One batch of a toy with 8 known classes: bars show how much weight each negative of one anchor gets
# (hardest first; red ones share the anchor's class, i.e. are false negatives). Raise β to concentrate
# on hard negatives, set τ⁺ to the class prior to debias, and lower the ceiling to drop the most
# similar candidates before mining the top-k.

# %%
from contrastlab.interactive.widgets import HardNegativeExplorer

app = HardNegativeExplorer()
app.widget
