"""``contrastlab.diagnose``: the diagnosis of your own embeddings, with its figure and an offline report.

    d = contrastlab.diagnose(z, labels=y, pairs=z2)   # z: (N, D) tensor or NumPy array, any float dtype
    d.table                 # tidy DataFrame: statistic, value, reference, note
    d.findings              # [Finding]: what is wrong, with the threshold and the reason
    d.figure()              # spectrum, cosine histogram, PCA of the rows coloured by label
    d.to_html("report.html")  # one self-contained page, plotly.js embedded (opens offline)

The numbers and the rules are the core's (``contrastlab.diagnosis.measure``, shared with
``contrastlab.monitor.HealthMonitor``); this module adds what needs plotly.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..diagnosis import Geometry, measure
from .projection import project

__all__ = ["Diagnosis", "diagnose", "diagnosis_figure"]

_SPECTRUM_FLOOR = 1e-12


class Diagnosis(Geometry):
    """A ``Geometry`` (``table``, ``findings``, ``text()``, ...) with ``figure()`` and ``to_html(path)``."""

    def figure(self, *, label_names=None) -> go.Figure:
        """The three views of the diagnosis in one figure (``diagnosis_figure``)."""
        return diagnosis_figure(self, label_names=label_names)

    def to_html(self, path, *, title: str = "Embedding diagnosis", label_names=None) -> Path:
        """Write the table, the findings and the figure to ``path``: one HTML page with plotly.js
        embedded (about 5 MB), so it opens with no network. Returns the path."""
        path = Path(path)
        fig = self.figure(label_names=label_names)
        findings = "".join(f"<li>{html.escape(str(f))}</li>" for f in self.findings) or \
            "<li>none: no threshold crossed</li>"
        notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in self.notes)
        table = self.table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}}
.findings li{{margin:4px 0}}.note{{color:#555}}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Findings</h2><ul class="findings">{findings}</ul>
<h2>Statistics</h2>{table}{notes}
<h2>Figures</h2>{fig.to_html(full_html=False, include_plotlyjs=True)}
</body></html>"""
        path.write_text(page, encoding="utf-8")
        return path


def diagnose(embeddings, *, labels=None, pairs=None, **options) -> Diagnosis:
    """Diagnose an embedding: ``contrastlab.diagnosis.measure`` (its arguments and what it computes),
    returned as a ``Diagnosis`` with ``figure()`` and ``to_html(path)``.

    Args:
        embeddings: (N, D) torch tensor or NumPy array, any float dtype; rows with NaN/inf are listed
            (``dropped``) and left out.
        labels: None or (N,) integer labels: kNN accuracy and the colours of the projection.
        pairs: None or (N, D), row i the second view of row i: alignment and positive cosines.
        **options: ``max_sample``, ``seed``, ``chunk_size``, ``k`` of ``measure``.
    """
    geometry = measure(embeddings, labels=labels, pairs=pairs, **options)
    return Diagnosis(**{f.name: getattr(geometry, f.name) for f in dataclasses.fields(Geometry)})


def diagnosis_figure(diagnosis: Geometry, *, label_names=None) -> go.Figure:
    """Spectrum (log10 σ_k/σ_1, uncentred and centred), the cosine histogram of distinct pairs (and of
    the positive pairs when given) and a PCA of the (sampled) rows coloured by label, side by side."""
    if not isinstance(diagnosis, Geometry):
        raise TypeError(f"diagnosis must be a Diagnosis (contrastlab.diagnose), got {type(diagnosis).__name__}")
    d = diagnosis
    stats = d.stats
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=(
        f"Singular values (effective rank {stats['erank']:.1f} of {stats['dim']})",
        f"Cosine similarity (mean {stats['anisotropy']:.2f})",
        f"PCA of {len(d.sample)} rows"))
    for sigma, name, color in ((d.singular_values, "uncentred", "#4c78a8"),
                               (d.centred_singular_values, "centred", "#f58518")):
        ratio = sigma / sigma[0] if len(sigma) and sigma[0] > 0 else np.zeros_like(sigma)
        fig.add_trace(go.Scatter(x=np.arange(1, len(sigma) + 1), y=np.log10(np.maximum(ratio, _SPECTRUM_FLOOR)),
                                 mode="lines", name=f"σ {name}", line=dict(color=color),
                                 hovertemplate="k = %{x}: log10 σ_k/σ_1 = %{y:.2f}<extra>" + name + "</extra>"),
                      row=1, col=1)
    edges = d.histogram_edges
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]

    def density(counts):
        total = counts.sum()
        return counts / (total * width) if total else counts

    fig.add_trace(go.Bar(x=centres, y=density(d.pair_counts), width=width, name="all pairs", opacity=0.6,
                         marker=dict(color="#4c78a8", line=dict(width=0))), row=1, col=2)
    if d.positive_counts is not None:
        fig.add_trace(go.Bar(x=centres, y=density(d.positive_counts), width=width, name="positive pairs",
                             opacity=0.6, marker=dict(color="#2ca02c", line=dict(width=0))), row=1, col=2)
    xy = project(d.sample_embeddings, "pca") if len(d.sample) >= 3 else np.zeros((len(d.sample), 2))
    xy = np.asarray(xy)
    if d.sample_labels is None:
        groups = [("rows", np.arange(len(xy)))]
    else:
        y = d.sample_labels.numpy()
        groups = [(str(label_names[c]) if label_names is not None else str(c), np.flatnonzero(y == c))
                  for c in np.unique(y)]
    palette = qualitative.Plotly + qualitative.D3
    for i, (name, rows) in enumerate(groups):
        fig.add_trace(go.Scattergl(x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=name,
                                   marker=dict(size=4, color=palette[i % len(palette)]),
                                   customdata=d.sample[rows],
                                   hovertemplate="row %{customdata}<extra>%{fullData.name}</extra>"), row=1, col=3)
    fig.update_xaxes(title_text="k", row=1, col=1)
    fig.update_yaxes(title_text="log10 σ_k / σ_1", row=1, col=1)
    fig.update_xaxes(title_text="cosine", range=[-1, 1], row=1, col=2)
    fig.update_yaxes(title_text="density", row=1, col=2)
    title = "; ".join(f.cause.replace("_", " ") for f in d.findings) or "no finding"
    fig.update_layout(template="plotly_white", height=420, barmode="overlay", bargap=0,
                      title_text=f"Diagnosis of {stats['rows']} x {stats['dim']}: {title}",
                      margin=dict(l=50, r=20, t=80, b=40), legend=dict(orientation="h", y=-0.2))
    fig.update_annotations(font_size=12)
    return fig
