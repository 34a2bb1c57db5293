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
# # Embedding explorer
#
# The 8x8 digits embedded by a small CNN trained for a few seconds with SimCLR, projected to the plane
# and coloured by label. Hover a point to see its digit; press Project for UMAP.

# %%
import os

from contrastlab import data, fit
from contrastlab.widgets import EmbeddingExplorer

digits = data.digits(strength=0.5)
history = fit(digits, "simclr", steps=40 if os.environ.get("CONTRASTLAB_FAST") == "1" else 200,
              temperature=0.2, eval_every=0, progress=False)
app = EmbeddingExplorer(history.method.features(digits.x), digits.labels, images=digits.x)
app.widget
