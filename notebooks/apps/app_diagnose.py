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
# # Diagnose your own embeddings
#
# Name a file of embeddings (.npy, .npz, .pt, .csv, .tsv or .parquet; a key picks the array or column of a
# file that holds several) and, optionally, a file of labels, then press Load: the findings (what is
# wrong, with the threshold and the reason), the spectrum, the cosine histogram and a projection of the
# rows, coloured by label, that you can explore (PCA at once, UMAP behind Project). The same diagnosis
# runs from the shell: `contrastlab diagnose FILE --labels FILE --out report.html`.
#
# To start with, it shows the shipped sentence encoder (all-MiniLM-L6-v2, offline) on the kit's corpus of
# sentences in 8 topics, written to a file first as yours would be.

# %%
import tempfile
from pathlib import Path

import numpy as np

from contrastlab.data.text import load_sentences
from contrastlab.interactive.widgets import DiagnosisApp
from contrastlab.lessons import setup
from contrastlab.lessons.sentence_embeddings import encode, load_minilm

FAST = setup(quiet=True).fast  # seeds torch, one torch thread on a CPU, fast mode from CONTRASTLAB_FAST=1
sentences, topics, labels = load_sentences()
rows = slice(None, None, 3 if FAST else 1)  # every third sentence in fast mode (200 of 600)
tokenizer, model = load_minilm()
demo = Path(tempfile.mkdtemp()) / "minilm_corpus.npz"
np.savez(demo, embeddings=encode(model, tokenizer, sentences[rows]).numpy(), topics=labels[rows].numpy())
app = DiagnosisApp()
app.load(str(demo), key="embeddings", labels=str(demo), labels_key="topics", texts=sentences[rows],
         label_names=sorted(set(topics)))
app.widget
