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
# The 8x8 digits (all 1797; 600 in CI's fast mode) embedded by a small CNN trained for a few seconds with SimCLR, projected to the plane
# and coloured by label. Hover a point to see its digit; press Project for UMAP.

# %%
from contrastlab import data, fit
from contrastlab.interactive.widgets import EmbeddingExplorer
from contrastlab.lessons import setup

FAST = setup(quiet=True).fast  # seeds torch, one torch thread on a CPU, fast mode (CI's small sizes)
digits = data.digits(strength=0.5, n=600 if FAST else None)
history = fit(digits, "simclr", steps=20 if FAST else 200, batch_size=128, temperature=0.2, eval_every=0,
              progress=False)
app = EmbeddingExplorer(history.method.features(digits.x), digits.labels, images=digits.x)
app.widget
