r"""Figures of contrastive learning: pure functions that return plotly figures.

Every builder takes its data (torch tensors on any device, or numpy arrays; they are moved to CPU
numpy inside and never modified) and returns a ``plotly.graph_objects.Figure``. Each figure has its
title in ``layout.title.text``, a compact layout (about 350-420 px high, small margins) and the
"plotly_white" template.

Updating in place. Every builder takes a keyword ``fig=None``. Given a figure that the same builder
returned earlier (typically wrapped by a widget as ``go.FigureWidget(fig)``), it writes the new data
and title into that figure's existing traces inside ``with fig.batch_update():`` and returns the same
object, so that a widget redraws without re-rendering. A builder never adds or removes traces when
it updates: its number of traces is fixed when the figure is made. Where the number of classes may
vary, the figure holds one trace per class of the labels given at creation; on update, classes are
matched to traces by name, a new class takes over a trace whose class has gone, and more classes
than traces raise ``ValueError`` (make a new figure with ``fig=None``). A figure is tagged with its
builder in ``layout.meta`` and passing another builder's figure raises ``ValueError``.

This module knows nothing of widgets: ``contrastlab.interactive.widgets`` composes these figures with
training, and builds none of its own.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.basedatatypes import BaseFigure
from plotly.colors import qualitative
from plotly.subplots import make_subplots
from torch import Tensor

from .. import losses as L
from .. import metrics as M
from .. import validation as check
from .projection import project

__all__ = [
    "circle_figure", "sphere_figure", "embedding_figure", "projection_figure", "candidate_roles",
    "similarity_figure", "softmax_bars", "negative_weights_figure", "training_curves", "spectrum_figure",
    "alignment_uniformity_figure", "similarity_histogram", "LOSSES", "POSITIVE", "NEGATIVE", "IGNORED",
    "history_reference", "spaced_labels", "view_montage", "view_grid_figure",
]

POSITIVE, NEGATIVE, IGNORED = 2, 1, 0  # the codes of candidate_roles
_ROLE_NAMES = np.array(["ignored", "negative", "positive"], dtype=object)  # indexed by code

# The layout of the batch each loss of ``contrastlab.losses`` sees, keyed by its function's name (a
# loss is passed by that name or as the function itself): "paired" (N x N, query i of z1 against
# candidate j of z2) or "two_view" (2N x 2N over cat(z1, z2)). ``candidate_roles`` holds the roles.
LOSSES: dict[str, str] = {loss.__name__: layout for loss, layout in (
    (L.info_nce, "paired"), (L.clip_loss, "paired"), (L.siglip_loss, "paired"),
    (L.nt_xent, "two_view"), (L.decoupled_nt_xent, "two_view"), (L.debiased_nt_xent, "two_view"),
    (L.hard_negative_nt_xent, "two_view"), (L.oracle_nt_xent, "two_view"), (L.supcon, "two_view"),
)}

_POSITIVE_COLOR = "#2ca02c"
_NEGATIVE_COLOR = "#4c78a8"
_SHARE_COLOR = "#f58518"
_IGNORED_COLOR = "#7f7f7f"
_META_KEY = "contrastlab.interactive.figures"


# ----------------------------------------------------------------------------- input helpers

def _to_numpy(x: object, name: str) -> np.ndarray:
    """A float64 CPU copy of a tensor (any device, any float dtype) or an array-like."""
    if isinstance(x, Tensor):
        return x.detach().to(device="cpu", dtype=torch.float64).numpy()
    try:
        return np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a torch.Tensor or a numeric array, got {type(x).__name__}") from error


def _array(x: object, name: str, *, ndim: int | None = None, cols: int | None = None,
           min_rows: int = 1) -> np.ndarray:
    """Check shape and finiteness; ``cols`` fixes the last axis of a 2-d array."""
    a = _to_numpy(x, name)
    expected = {1: "(C,)", 2: f"(N, {cols if cols else 'D'})"}.get(ndim, f"{ndim}-d")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array {expected}, got shape {a.shape}")
    if cols is not None and a.shape[-1] != cols:
        raise ValueError(f"{name} must have shape {expected}, got shape {a.shape}")
    if a.ndim and (len(a) < min_rows or 0 in a.shape[1:]):
        raise ValueError(f"{name} must have at least {min_rows} row(s) and no empty axis, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(a)).sum())} NaN or inf value(s)")
    return a


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; a zero row stays zero (as ``losses.core.l2_normalize``)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)  # (N, 1)
    return x / np.maximum(norm, 1e-12)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) cosine similarities of the rows of a (N, D) and b (M, D), clipped to [-1, 1]."""
    return np.clip(_unit_rows(a) @ _unit_rows(b).T, -1.0, 1.0)


def _labels(labels: object, n: int, name: str = "labels") -> np.ndarray:
    """A 1-d numpy array of n labels (integers, or any hashable values such as strings)."""
    if isinstance(labels, Tensor):
        labels = labels.detach().cpu().numpy()
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name} must be a 1-d array of {n} labels (one per sample), got shape {y.shape}")
    return y


def _positive_float(name: str, value: object) -> float:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = float(value.detach())
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number > 0, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _loss_name(loss: str | Callable) -> str:
    """The key in ``LOSSES`` of a loss given by its name or as the function of ``contrastlab.losses``."""
    name = getattr(loss, "__name__", None) if callable(loss) else loss
    known = isinstance(name, str) and name in LOSSES and (not callable(loss) or getattr(L, name, None) is loss)
    if not known:
        close = difflib.get_close_matches(name, list(LOSSES), n=1) if isinstance(name, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown loss {loss!r}{hint}; expected one of {', '.join(LOSSES)}, by name or as "
                         f"the function of contrastlab.losses")
    return name


# ----------------------------------------------------------------------------- figure helpers

def _reuse(fig: object, builder: str) -> bool:
    """True if ``fig`` is a figure made by ``builder`` to update in place; False for None."""
    if fig is None:
        return False
    if not isinstance(fig, BaseFigure):
        raise TypeError(f"fig must be None or a figure returned by {builder}, got {type(fig).__name__}")
    meta = fig.layout.meta
    made_by = meta.get(_META_KEY) if isinstance(meta, dict) else None
    if made_by != builder:
        raise ValueError(f"fig was made by {made_by or 'something else'}, not by {builder}; "
                         f"pass fig=None to make a new figure")
    return True


def _style(fig: BaseFigure, builder: str, *, height: int = 380, **layout) -> None:
    """The shared compact layout, and the tag that lets ``fig=`` recognise the figure."""
    layout = dict(dict(template="plotly_white", height=height, margin=dict(l=45, r=20, t=50, b=40),
                       title=dict(x=0.02, xanchor="left", font=dict(size=14)), meta={_META_KEY: builder}), **layout)
    fig.update_layout(**layout)


def _palette(k: int) -> list[str]:
    colors = qualitative.Plotly if k <= len(qualitative.Plotly) else qualitative.Alphabet
    return [colors[i % len(colors)] for i in range(k)]


def _class_keys(labels: np.ndarray | None) -> tuple[list[str], list[np.ndarray]]:
    """Trace names and row indices of each class (one unnamed class when there are no labels)."""
    if labels is None:
        return ["embeddings"], [None]
    values, inverse = np.unique(labels, return_inverse=True)
    return [str(v) for v in values], [np.flatnonzero(inverse == c) for c in range(len(values))]


def _match_classes(trace_names: list[str], labels: np.ndarray | None, n: int, builder: str
                   ) -> list[tuple[str, np.ndarray]]:
    """For each existing class trace, its (name, rows): classes keep their trace by name, new classes
    take the traces of classes that have gone, and leftover traces get no rows."""
    keys, rows = _class_keys(labels)
    rows = [np.arange(n) if r is None else r for r in rows]
    by_name = dict(zip(keys, rows))
    if len(keys) > len(trace_names):
        raise ValueError(f"labels have {len(keys)} classes but this {builder} figure was made with "
                         f"{len(trace_names)} class trace(s); make a new figure with fig=None, or make the "
                         f"first one with classes= to leave room")
    out: list[tuple[str, np.ndarray] | None] = [None] * len(trace_names)
    for i, name in enumerate(trace_names):
        if name in by_name:
            out[i] = (name, by_name.pop(name))
    free = (i for i, slot in enumerate(out) if slot is None)
    for name, r in by_name.items():
        out[next(free)] = (name, r)
    return [slot or (trace_names[i], np.arange(0)) for i, slot in enumerate(out)]


def _class_traces(fig: BaseFigure, first: int) -> list[str]:
    return [t.name for t in fig.data[first:]]


def _initial_classes(labels: np.ndarray | None, classes, n: int, builder: str) -> list[tuple[str, np.ndarray]]:
    """The (name, rows) of the class traces of a new figure: the classes of ``labels``, plus room from
    ``classes`` (a sequence of class values to give a trace each, or an int K for at least K traces)."""
    keys, _ = _class_keys(labels)
    if classes is None:
        names = keys
    elif isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        if classes < 1:
            raise ValueError(f"classes must be an int >= 1 or a sequence of class values, got {classes!r}")
        names = keys + [""] * (int(classes) - len(keys))  # "" = a free trace, for a class still to come
    else:
        if isinstance(classes, Tensor):
            classes = classes.detach().cpu().numpy()
        listed = [str(c) for c in np.asarray(classes).ravel()]
        names = listed + [k for k in keys if k not in listed]
    return _match_classes(names, labels, n, builder)


# ----------------------------------------------------------------------------- the circle and the sphere

def _angle_density(theta: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres (bins,) and a lightly smoothed density (bins,) of the angles theta (M,) on [-pi, pi)."""
    edges = np.linspace(-np.pi, np.pi, bins + 1)  # (bins + 1,)
    counts, _ = np.histogram(np.mod(theta + np.pi, 2 * np.pi) - np.pi, bins=edges)  # (bins,)
    smooth = (np.roll(counts, 1) + 2 * counts + np.roll(counts, -1)) / 4  # circular [1, 2, 1] / 4
    density = smooth / (max(len(theta), 1) * (2 * np.pi / bins))  # integrates to 1 over the circle
    return (edges[:-1] + edges[1:]) / 2, density


def circle_figure(embeddings, labels=None, *, bins: int = 72, classes=None, title: str | None = None,
                  fig=None) -> go.Figure:
    r"""Embeddings on the unit circle S¹, coloured by class, with a ring showing their angle density.

    Args:
        embeddings: (N, 2), normalised onto the circle here (a zero row stays at the origin).
        labels: None or (N,) class labels; one scatter trace per class.
        bins: number of angle bins of the density ring (>= 3), smoothed with a circular [1, 2, 1]/4 kernel.
        classes: only at creation, room for classes that later updates may bring: a sequence of class
            values (one trace each, in that order) or an int K (at least K class traces, the spare ones
            empty and out of the legend). Default: the classes of ``labels``.
        title: default "Embeddings on the circle".
        fig: a figure from ``circle_figure`` to update in place (see the module docstring).
    Returns: a figure with trace 0 the density ring (a closed line at radius
        1.15 + 0.5 · density(θ) / max density) and then one scatter per class of the labels given at
        creation and ``classes`` (a single trace "embeddings" without either).
    """
    builder = "circle_figure"
    z = _array(embeddings, "embeddings", ndim=2, cols=2)  # (N, 2)
    y = None if labels is None else _labels(labels, len(z))
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 3:
        raise ValueError(f"bins must be an integer >= 3, got {bins!r}")
    u = _unit_rows(z)  # (N, 2)
    on_circle = np.linalg.norm(z, axis=1) > 0  # (N,)
    theta = np.arctan2(u[:, 1], u[:, 0])  # (N,)
    centres, density = _angle_density(theta[on_circle], int(bins))
    radius = 1.15 + 0.5 * density / max(density.max(), 1e-300)  # (bins,)
    ring_x = np.append(radius * np.cos(centres), radius[0] * np.cos(centres[0]))  # closed: (bins + 1,)
    ring_y = np.append(radius * np.sin(centres), radius[0] * np.sin(centres[0]))
    degrees = np.degrees(theta)
    title = "Embeddings on the circle" if title is None else title

    def points(rows):
        return dict(x=u[rows, 0], y=u[rows, 1], customdata=np.stack([rows, degrees[rows]], 1))

    if _reuse(fig, builder):
        with fig.batch_update():
            fig.data[0].update(x=ring_x, y=ring_y)
            for trace, (name, rows) in zip(fig.data[1:], _match_classes(_class_traces(fig, 1), y, len(z), builder)):
                trace.update(name=name, showlegend=len(rows) > 0, **points(rows))
            fig.layout.title.text = title
        return fig

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ring_x, y=ring_y, mode="lines", name="angle density", line=dict(color="#888", width=1.5),
                             fill="none", hoverinfo="skip"))
    slots = _initial_classes(y, classes, len(z), builder)
    for (name, rows), color in zip(slots, _palette(len(slots))):
        fig.add_trace(go.Scatter(mode="markers", name=name, showlegend=len(rows) > 0,
                                 marker=dict(size=7, color=color, opacity=0.8),
                                 hovertemplate="sample %{customdata[0]}<br>θ = %{customdata[1]:.0f}°"
                                               "<extra>%{fullData.name}</extra>",
                                 **points(rows)))
    axis = dict(range=[-1.75, 1.75], visible=False)
    _style(fig, builder, height=400, title_text=title, xaxis=axis, yaxis=dict(axis, scaleanchor="x", scaleratio=1),
           legend=dict(title=dict(text="class" if labels is not None else "")))
    fig.add_shape(type="circle", x0=-1, y0=-1, x1=1, y1=1, line=dict(color="#bbb", width=1, dash="dot"))
    return fig


def sphere_figure(embeddings, labels=None, *, classes=None, title: str | None = None, fig=None) -> go.Figure:
    r"""Embeddings on the unit sphere S², coloured by class, over a translucent sphere.

    Args:
        embeddings: (N, 3), normalised onto the sphere here (a zero row stays at the origin).
        labels: None or (N,) class labels; one Scatter3d trace per class.
        classes: only at creation, room for later classes, as in ``circle_figure``.
        title: default "Embeddings on the sphere".
        fig: a figure from ``sphere_figure`` to update in place (the sphere itself is never touched).
    Returns: a figure with trace 0 the unit sphere (a go.Surface, opacity 0.15) and then one
        Scatter3d per class of the labels (and ``classes``) given at creation.
    """
    builder = "sphere_figure"
    z = _array(embeddings, "embeddings", ndim=2, cols=3)  # (N, 3)
    y = None if labels is None else _labels(labels, len(z))
    u = _unit_rows(z)  # (N, 3)
    title = "Embeddings on the sphere" if title is None else title

    def points(rows):
        return dict(x=u[rows, 0], y=u[rows, 1], z=u[rows, 2], customdata=rows)

    if _reuse(fig, builder):
        with fig.batch_update():
            for trace, (name, rows) in zip(fig.data[1:], _match_classes(_class_traces(fig, 1), y, len(z), builder)):
                trace.update(name=name, showlegend=len(rows) > 0, **points(rows))
            fig.layout.title.text = title
        return fig

    azimuth, polar = np.meshgrid(np.linspace(0, 2 * np.pi, 41), np.linspace(0, np.pi, 21))  # (21, 41) each
    fig = go.Figure(go.Surface(x=np.cos(azimuth) * np.sin(polar), y=np.sin(azimuth) * np.sin(polar), z=np.cos(polar),
                               opacity=0.15, showscale=False, colorscale=[[0, "#aaaaaa"], [1, "#aaaaaa"]],
                               hoverinfo="skip", name="unit sphere", showlegend=False))
    slots = _initial_classes(y, classes, len(z), builder)
    for (name, rows), color in zip(slots, _palette(len(slots))):
        fig.add_trace(go.Scatter3d(mode="markers", name=name, showlegend=len(rows) > 0,
                                   marker=dict(size=3, color=color, opacity=0.9),
                                   hovertemplate="sample %{customdata}<extra>%{fullData.name}</extra>", **points(rows)))
    axis = dict(range=[-1.1, 1.1], showbackground=False, title=dict(text=""), showticklabels=False)
    _style(fig, builder, height=420, title_text=title, margin=dict(l=0, r=0, t=45, b=0),
           scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube"),
           legend=dict(title=dict(text="class" if labels is not None else "")))
    return fig


def embedding_figure(embeddings, labels=None, *, classes=None, title: str | None = None, fig=None) -> go.Figure:
    r"""Embeddings where they live: on the circle for D = 2, on the sphere for D = 3, else their PCA
    projection onto a plane, drawn normalised on the circle.

    A training app draws each evaluation with it, whatever the embedding size the learner chose.

    Args:
        embeddings: (N, D), D >= 2: ``circle_figure`` for D = 2, ``sphere_figure`` for D = 3, and for
            D > 3 ``circle_figure`` of the top-2 PCA coordinates (``projection.project(z, "pca")``).
        labels, classes: as in ``circle_figure``.
        title: default that of the builder used; "PCA of the embeddings (normalised)" for D > 3.
        fig: a figure from ``embedding_figure`` to update in place. It is the figure of the builder
            used, so it takes embeddings of the same kind (D = 3, or D = 2 and D > 3 alike); a figure of
            the other kind raises ``ValueError`` (make a new one with ``fig=None``).
    Returns: the figure of ``circle_figure`` (D = 2 and D > 3) or of ``sphere_figure`` (D = 3).
    """
    z = _array(embeddings, "embeddings", ndim=2)  # (N, D)
    d = z.shape[1]
    if d < 2:
        raise ValueError(f"embeddings must have shape (N, D) with D >= 2, got shape {z.shape}")
    if d == 2:
        return circle_figure(z, labels, classes=classes, title=title, fig=fig)
    if d == 3:
        return sphere_figure(z, labels, classes=classes, title=title, fig=fig)
    xy = project(z, "pca")  # (N, 2) top principal coordinates
    title = "PCA of the embeddings (normalised)" if title is None else title
    return circle_figure(xy, labels, classes=classes, title=title, fig=fig)


def projection_figure(coordinates, labels=None, *, text: Sequence[str] | None = None, classes=None,
                      title: str | None = None, fig=None) -> go.Figure:
    r"""A 2-D projection of embeddings (PCA, UMAP, t-SNE: ``projection.project``), one colour per class.

    Points are drawn where the projection puts them (not normalised). Each point carries its sample
    index in ``customdata``, so that a hover callback (``trace.on_hover``) can show the sample.

    Args:
        coordinates: (N, 2) projected points.
        labels: None or (N,) class labels (any hashable values, e.g. class names); one trace per class.
        text: None or N hover texts (e.g. the sentences); default "sample i".
        classes: only at creation, the order of the class traces and room for later classes, as in
            ``circle_figure``.
        title: default "Projection of N embeddings".
        fig: a figure from ``projection_figure`` to update in place.
    Returns: a figure with one marker trace per class of the labels (and ``classes``) given at creation.
    """
    builder = "projection_figure"
    xy = _array(coordinates, "coordinates", ndim=2, cols=2)  # (N, 2)
    n = len(xy)
    y = None if labels is None else _labels(labels, n)
    if text is None:
        hover = np.array([f"sample {i}" for i in range(n)], dtype=object)  # (N,)
    else:
        hover = np.array([str(v) for v in text], dtype=object)
        if len(hover) != n:
            raise ValueError(f"text must have {n} entries (one per point), got {len(hover)}")
    title = f"Projection of {n} embeddings" if title is None else title

    def points(rows):
        return dict(x=xy[rows, 0], y=xy[rows, 1], text=hover[rows], customdata=rows)

    if _reuse(fig, builder):
        with fig.batch_update():
            for trace, (name, rows) in zip(fig.data, _match_classes(_class_traces(fig, 0), y, n, builder)):
                trace.update(name=name, showlegend=len(rows) > 0, **points(rows))
            fig.layout.title.text = title
        return fig

    fig = go.Figure()
    slots = _initial_classes(y, classes, n, builder)
    for (name, rows), color in zip(slots, _palette(len(slots))):
        fig.add_trace(go.Scatter(mode="markers", name=name, showlegend=len(rows) > 0,
                                 marker=dict(size=5, color=color),
                                 hovertemplate="%{text}<extra>%{fullData.name}</extra>", **points(rows)))
    _style(fig, builder, height=420, title_text=title, margin=dict(l=30, r=10, t=50, b=30),
           legend=dict(title=dict(text="class" if labels is not None else "")))
    return fig


# ----------------------------------------------------------------------------- who is a negative

def candidate_roles(loss: str | Callable, n: int, labels=None, *, views: int = 2) -> np.ndarray:
    r"""The role of every candidate in the batch a loss sees: 2 = positive, 1 = negative, 0 = ignored.

    Rows are anchors (queries), columns candidates. Layouts (``LOSSES``):

    * ``info_nce`` (also with ``symmetric=True``), ``clip_loss``, ``siglip_loss``: (N, N), query i
      against candidate j of the other view; the diagonal is the positive, everything else a
      negative. (CLIP also reads the matrix by columns, with the same roles; SigLIP scores every
      cell as an independent binary pair, positive on the diagonal.)
    * ``nt_xent``, ``debiased_nt_xent``, ``hard_negative_nt_xent``: (2N, 2N) over ``cat([z1, z2])``:
      the diagonal is the anchor itself (ignored), its twin (a, (a + N) mod 2N) the positive, the
      other 2N - 2 negatives. Debiased and hard-negative losses reweight these negatives but keep
      the roles.
    * ``decoupled_nt_xent`` (Yeh et al.): as nt_xent. The positive is still the target in the
      numerator, but is removed from the denominator, which sums over the 2N - 2 negatives only; it
      is marked 2 here because it is the target, not a competitor.
    * ``oracle_nt_xent``: as nt_xent, but a negative that shares the anchor's label (a false
      negative) is ignored (0). Needs ``labels`` (N,).
    * ``supcon``: (V N, V N) with the V views stacked view-major (row v N + i is view v of sample i,
      as ``cat([z1, z2])`` for V = 2): self is ignored, every other row with the anchor's label is a
      positive, the rest negatives. Needs ``labels`` (N,); ``views`` (default 2) is V.

    Args:
        loss: a key of ``LOSSES`` (the loss function's name, e.g. "decoupled_nt_xent") or the
            function itself (``contrastlab.losses.decoupled_nt_xent``).
        n: N, the number of samples (pairs) in the batch, >= 1.
        labels: (N,) class labels; required by oracle_nt_xent and supcon, ignored by the others.
        views: V, only for supcon; 1 gives the single-view (N, N) matrix.
    Returns: (N, N), (2N, 2N) or (VN, VN) int8.
    """
    name = _loss_name(loss)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (the number of samples), got {n!r}")
    n = int(n)
    if views != 2 and name != "supcon":
        sees = "one pair" if LOSSES[name] == "paired" else "two views"
        raise ValueError(f"views is only used by supcon; {name} always sees {sees} per sample, got views={views!r}")
    if name in ("oracle_nt_xent", "supcon"):
        if labels is None:
            raise ValueError(f"loss {name!r} needs labels: a 1-d array of the {n} samples' classes")
        y = _labels(labels, n)
    if LOSSES[name] == "paired":
        roles = np.full((n, n), NEGATIVE, dtype=np.int8)  # (N, N)
        np.fill_diagonal(roles, POSITIVE)
        return roles
    if name == "supcon":
        if isinstance(views, bool) or not isinstance(views, (int, np.integer)) or views < 1:
            raise ValueError(f"views must be an integer >= 1, got {views!r}")
        yy = np.tile(y, int(views))  # (VN,) view-major
        roles = np.where(yy[:, None] == yy[None, :], POSITIVE, NEGATIVE).astype(np.int8)  # (VN, VN)
        np.fill_diagonal(roles, IGNORED)
        return roles
    m = 2 * n
    roles = np.full((m, m), NEGATIVE, dtype=np.int8)  # (2N, 2N)
    rows = np.arange(m)
    roles[rows, rows] = IGNORED
    roles[rows, (rows + n) % m] = POSITIVE
    if name == "oracle_nt_xent":
        yy = np.tile(y, 2)  # (2N,)
        roles[(yy[:, None] == yy[None, :]) & (roles == NEGATIVE)] = IGNORED
    return roles


def _counts_phrase(roles: np.ndarray) -> str:
    """'1 positive and 14 negatives each', or ranges when the rows differ."""
    def phrase(counts, word):
        lo, hi = int(counts.min()), int(counts.max())
        number = str(lo) if lo == hi else f"{lo}–{hi}"
        return f"{number} {word}{'' if hi == 1 else 's'}"
    return (f"{phrase((roles == POSITIVE).sum(1), 'positive')} and "
            f"{phrase((roles == NEGATIVE).sum(1), 'negative')} each")


def similarity_figure(z1, z2=None, *, loss: str | Callable = "nt_xent", labels=None, temperature: float | None = None,
                      title: str | None = None, fig=None) -> go.Figure:
    r"""The cosine-similarity matrix of the batch a loss sees, with who is a positive and who is ignored.

    Args:
        z1: (N, D) first view (queries / images).
        z2: (N, D) second view (positives / texts). None is allowed only for "supcon" (one view).
        loss: which batch layout and roles to show, by name or as the function (see
            ``candidate_roles``): (N, N) z1 vs z2 for info_nce / clip_loss / siglip_loss, (2N, 2N)
            over ``cat([z1, z2])`` for the two-view losses.
        labels: (N,) class labels; required by oracle_nt_xent and supcon. For the other losses they
            only add "same class" to the hover of false negatives.
        temperature: tau > 0, optional; the hover then also shows the logit s / tau and the title tau.
        title: default names the loss, the number of anchors and the counts of positives / negatives.
        fig: a figure from ``similarity_figure`` to update in place (the loss may change).
    Returns: a figure with three traces: the heatmap (z = cosine similarity, colour scale fixed to
        [-1, 1], reversed RdBu), a scatter of open green circles at positive cells and a scatter of
        grey crosses at ignored cells; negatives are the unmarked cells.
    Cost: the figure carries every one of the R^2 cells with its hover text (2-3 MB at R = 256),
        so it is meant for the small batches a learner can read, up to a few hundred anchors.
    """
    builder = "similarity_figure"
    name = _loss_name(loss)
    a = _array(z1, "z1", ndim=2)  # (N, D)
    if z2 is None:
        if name != "supcon":
            raise ValueError(f"loss {name!r} compares two views: pass z2, an (N, D) array like z1 {a.shape}")
        views, sim = 1, _cosine(a, a)  # (N, N)
    else:
        b = _array(z2, "z2", ndim=2)  # (N, D)
        if b.shape != a.shape:
            raise ValueError(f"z1 and z2 must have the same shape (N, D), got {a.shape} and {b.shape}")
        if LOSSES[name] == "paired":
            views, sim = 2, _cosine(a, b)  # (N, N): query i vs candidate j
        else:
            both = np.concatenate([a, b])  # (2N, D)
            views, sim = 2, _cosine(both, both)  # (2N, 2N)
    n = len(a)
    y = None if labels is None else _labels(labels, n)
    roles = candidate_roles(name, n, y, views=views if name == "supcon" else 2)  # same shape as sim
    tau = None if temperature is None else _positive_float("temperature", temperature)

    role_text = _ROLE_NAMES[roles]  # (R, R) object
    if y is not None:
        yy = y if LOSSES[name] == "paired" else np.tile(y, len(roles) // n)
        same = (yy[:, None] == yy[None, :]) & (roles != POSITIVE)  # (R, R)
        same &= ~np.eye(len(roles), dtype=bool)
        role_text = np.where(same & (roles == NEGATIVE), "negative, same class (false negative)", role_text)
        role_text = np.where(same & (roles == IGNORED), "ignored, same class", role_text)
    if LOSSES[name] == "two_view":  # the diagonal is the anchor itself
        role_text = np.where(np.eye(len(roles), dtype=bool), "ignored (self)", role_text)
    # (R, R) role names, or (R, R, 2) [role, logit] with a temperature (hover only; R^2 cells)
    customdata = role_text if tau is None else np.dstack([role_text, (sim / tau).astype(object)])
    pos_i, pos_j = np.nonzero(roles == POSITIVE)
    ign_i, ign_j = np.nonzero(roles == IGNORED)

    r = len(roles)
    if views == 1 or LOSSES[name] == "paired":
        prefix = f"{name}: N = {r} {'queries' if LOSSES[name] == 'paired' else 'anchors'}"
    else:
        prefix = f"{name}: {views}N = {r} anchors"
    default = f"{prefix}, {_counts_phrase(roles)}"
    if name == "decoupled_nt_xent":
        default += " (positive left out of the denominator)"
    if tau is not None:
        default += f", τ = {tau:.3g}"
    title = default if title is None else title
    hover = ("anchor i = %{y}, candidate j = %{x}<br>cos = %{z:.3f}<br>"
             + ("%{customdata}" if tau is None else "%{customdata[0]}<br>s/τ = %{customdata[1]:.2f}")
             + "<extra></extra>")
    size = float(np.clip(260 / r, 3, 14))

    if _reuse(fig, builder):
        with fig.batch_update():
            fig.data[0].update(z=sim, x=np.arange(r), y=np.arange(r), customdata=customdata, hovertemplate=hover)
            fig.data[1].update(x=pos_j, y=pos_i, marker=dict(size=size))
            fig.data[2].update(x=ign_j, y=ign_i, marker=dict(size=size * 0.8))
            fig.layout.title.text = title
        return fig

    fig = go.Figure([
        go.Heatmap(z=sim, x=np.arange(r), y=np.arange(r), zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                   customdata=customdata, hovertemplate=hover, colorbar=dict(title=dict(text="cos"), thickness=12)),
        go.Scatter(x=pos_j, y=pos_i, mode="markers", name="positive", hoverinfo="skip",
                   marker=dict(symbol="circle-open", color=_POSITIVE_COLOR, size=size, line=dict(width=2))),
        go.Scatter(x=ign_j, y=ign_i, mode="markers", name="ignored", hoverinfo="skip",
                   marker=dict(symbol="x", color=_IGNORED_COLOR, size=size * 0.8)),
    ])
    _style(fig, builder, height=420, title_text=title,
           xaxis=dict(title=dict(text="candidate j"), showgrid=False, zeroline=False, constrain="domain"),
           yaxis=dict(title=dict(text="anchor i"), autorange="reversed", showgrid=False, zeroline=False,
                      scaleanchor="x", scaleratio=1, constrain="domain"),
           legend=dict(orientation="h", y=-0.12, x=0))
    return fig


# ----------------------------------------------------------------------------- one anchor's softmax

def softmax_bars(similarities, *, temperature: float, positive_index: int = 0,
                 candidate_names: Sequence[str] | None = None, title: str | None = None, fig=None) -> go.Figure:
    r"""One anchor's softmax over its candidates, and how the gradient is shared among the negatives.

    Left: :math:`p_j = e^{s_j/\tau} / \sum_k e^{s_k/\tau}` over all C candidates (the positive in
    green), from ``metrics.candidate_probabilities``. Right: each negative's share of the push,
    :math:`p_j / \sum_{k \ne +} p_k` (Wang & Liu 2021's relative penalty), from
    ``metrics.negative_shares``: InfoNCE's gradient on negative j is :math:`p_j/\tau`, so a small
    tau hands it to the hardest negatives.

    Args:
        similarities: (C,) or (1, C) similarities of the anchor to its C >= 2 candidates.
        temperature: tau > 0.
        positive_index: which candidate is the positive.
        candidate_names: C names for the bars; default "pos" and "n1", "n2", ... for the negatives.
        title: default f"τ = {tau:.3g}: loss {loss:.3f}, positive p = {p_pos:.3f}", loss = -log p_pos.
        fig: a figure from ``softmax_bars`` to update in place.
    Returns: a 1 x 2 subplot figure with two bar traces: p over the C candidates, and the C - 1 shares.
    """
    builder = "softmax_bars"
    s = _array(similarities, "similarities")
    if s.ndim == 2 and s.shape[0] == 1:
        s = s[0]
    if s.ndim != 1 or len(s) < 2:
        raise ValueError(f"similarities must have shape (C,) or (1, C) with C >= 2 candidates, got {s.shape}")
    c = len(s)
    if isinstance(positive_index, bool) or not isinstance(positive_index, (int, np.integer)) \
            or not 0 <= positive_index < c:
        raise ValueError(f"positive_index must be an integer in [0, {c - 1}], got {positive_index!r}")
    tau = _positive_float("temperature", temperature)
    if candidate_names is None:
        names, k = [], 0
        for j in range(c):
            k += j != positive_index
            names.append("pos" if j == positive_index else f"n{k}")
    else:
        names = [str(v) for v in candidate_names]
        if len(names) != c:
            raise ValueError(f"candidate_names must have {c} names (one per candidate), got {len(names)}")

    p = M.candidate_probabilities(torch.from_numpy(s)[None], temperature=tau,  # (1, C) float64
                                  positive_index=torch.tensor([int(positive_index)]))[0].numpy()  # (C,)
    negative = np.arange(c) != positive_index  # (C,)
    share = M.negative_shares(torch.from_numpy(s)[None], temperature=tau,  # (1, C) float64, 0 at the positive
                              positive_index=torch.tensor([int(positive_index)]))[0].numpy()[negative]  # (C - 1,)
    p_pos = float(p[positive_index])
    loss = -math.log(p_pos) if p_pos > 0 else float(
        np.logaddexp.reduce(s / tau) - s[positive_index] / tau)  # the same value, when p_pos underflows
    title = f"τ = {tau:.3g}: loss {loss:.3f}, positive p = {p_pos:.3f}" if title is None else title
    colors = [_POSITIVE_COLOR if j == positive_index else _NEGATIVE_COLOR for j in range(c)]
    neg_names = [v for v, keep in zip(names, negative) if keep]
    left = dict(x=names, y=p, customdata=s, marker=dict(color=colors))
    right = dict(x=neg_names, y=share, customdata=s[negative])

    if _reuse(fig, builder):
        with fig.batch_update():
            fig.data[0].update(**left)
            fig.data[1].update(**right)
            fig.layout.title.text = title
        return fig

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("softmax over candidates p_j", "share of the negatives' gradient"))
    fig.add_trace(go.Bar(name="p_j", hovertemplate="%{x}: s = %{customdata:.3f}, p = %{y:.4f}<extra></extra>",
                         **left), row=1, col=1)
    fig.add_trace(go.Bar(name="gradient share", marker=dict(color=_SHARE_COLOR),
                         hovertemplate="%{x}: s = %{customdata:.3f}, share = %{y:.4f}<extra></extra>",
                         **right), row=1, col=2)
    _style(fig, builder, height=360, title_text=title, showlegend=False, bargap=0.15,
           margin=dict(l=45, r=20, t=70, b=40))
    fig.update_yaxes(range=[0, 1.02])
    fig.update_yaxes(title_text="probability", row=1, col=1)
    fig.update_annotations(font_size=12)
    return fig


_FALSE_NEGATIVE_COLOR = "#d62728"


def negative_weights_figure(similarities, *, temperature: float, beta: float = 0.0, same_class=None,
                            ceiling: float | None = None, title: str | None = None, fig=None) -> go.Figure:
    r"""One anchor's negatives, hardest first, and the share of its push that each one receives.

    The share is ``metrics.negative_shares`` at τ and β,
    :math:`r_j = e^{(1+\beta)s_j/\tau} / \sum_k e^{(1+\beta)s_k/\tau}` over the M negatives: β = 0 is
    InfoNCE's relative penalty, β > 0 the hard-negative loss's importance weights (Robinson et al.
    2021). Same-class negatives (false negatives) are drawn in red, with their total share in the
    title. A dashed vertical line marks a similarity ceiling: a miner with that ceiling drops the
    negatives left of it (similarity >= ceiling) and keeps those to its right.

    Args:
        similarities: (M,) similarities of the anchor to its M >= 1 negatives (the positive left out),
            in any order: they are sorted here, most similar first (a stable sort).
        temperature: τ > 0.  beta: β >= 0.
        same_class: None or (M,) booleans, True where the negative has the anchor's class.
        ceiling: None (the line is hidden) or a similarity.
        title: default "Weight on each negative (β = …, τ = …)", and with ``same_class``
            "; red = same class: …% of the weight".
        fig: a figure from ``negative_weights_figure`` to update in place.
    Returns: a figure with one bar trace (x = rank 0..M-1, hardest first; y = share; customdata =
        similarity) and one dashed line shape.
    """
    builder = "negative_weights_figure"
    s = _array(similarities, "similarities", ndim=1)  # (M,)
    tau = _positive_float("temperature", temperature)
    order = np.argsort(-s, kind="stable")  # (M,) hardest first
    s = s[order]
    false = np.zeros(len(s), dtype=bool)  # (M,)
    if same_class is not None:
        mask = same_class.detach().cpu().numpy() if isinstance(same_class, Tensor) else np.asarray(same_class)
        if mask.shape != (len(s),) or mask.dtype != bool:
            raise ValueError(f"same_class must be None or ({len(s)},) booleans (one per negative), "
                             f"got {mask.dtype} {mask.shape}")
        false = mask[order]
    share = M.negative_shares(torch.from_numpy(s)[None], temperature=tau, beta=beta)[0].numpy()  # (M,)
    colors = np.where(false, _FALSE_NEGATIVE_COLOR, _NEGATIVE_COLOR)  # (M,)
    if ceiling is None:
        line = dict(x0=-0.5, x1=-0.5, visible=False)
    else:
        below = s < float(ceiling)  # (M,) what the miner keeps
        kept = int(below.argmax()) if below.any() else len(s)  # the first kept rank
        line = dict(x0=kept - 0.5, x1=kept - 0.5, visible=True)
    default = f"Weight on each negative (β = {float(beta):.2f}, τ = {tau:.3f})"
    if same_class is not None:
        default += f"; red = same class: {share[false].sum():.0%} of the weight"
    title = default if title is None else title
    bars = dict(x=np.arange(len(s)), y=share, customdata=s, marker=dict(color=colors))

    if _reuse(fig, builder):
        with fig.batch_update():
            fig.data[0].update(**bars)
            fig.layout.shapes[0].update(**line)
            fig.layout.title.text = title
        return fig

    fig = go.Figure(go.Bar(name="share", hovertemplate="similarity %{customdata:.3f}<br>weight %{y:.3f}"
                                                       "<extra></extra>", **bars))
    fig.add_shape(type="line", xref="x", yref="paper", y0=0, y1=1, line=dict(dash="dash", color=_IGNORED_COLOR),
                  **line)
    _style(fig, builder, height=360, title_text=title,
           xaxis=dict(title=dict(text="negatives, hardest first")),
           yaxis=dict(title=dict(text="share of the negative weight")))
    return fig


# ----------------------------------------------------------------------------- training curves

def _records(history) -> list[dict]:
    """The records of a History, a pandas DataFrame, or a list of dicts."""
    if hasattr(history, "records") and isinstance(history.records, list):
        return list(history.records)
    if hasattr(history, "to_dict") and hasattr(history, "columns"):
        return history.to_dict("records")
    if isinstance(history, (list, tuple)) and all(isinstance(r, dict) for r in history):
        return list(history)
    raise TypeError(f"history must be a contrastlab.train.History, a pandas DataFrame or a list of dicts, "
                    f"got {type(history).__name__}")


def _finite(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _series(records: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the records with a finite value of ``metric``; x is the record index without "step"."""
    xs, ys = [], []
    for i, record in enumerate(records):
        value = _finite(record.get(metric))
        if value is not None:
            step = _finite(record.get("step"))
            xs.append(i if step is None else step)
            ys.append(value)
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


_REFERENCE_COLORS = {"collapsed": "#d62728", "chance": "#7f7f7f", "floor": "#2ca02c"}


def history_reference(history) -> L.ReferenceValues | None:
    """The reference values of a ``fit`` history's loss: its set-up's first objective at the run's batch size,
    temperature and embedding size; None when they cannot be told (not a History, a loss without them)."""
    from ..methods import output_dim

    method, config = getattr(history, "method", None), getattr(history, "config", None) or {}
    objectives = getattr(method, "objectives", ())
    if not objectives or "batch_size" not in config:
        return None
    settings = {}
    if getattr(method, "temperature", None) is not None and objectives[0].__name__ in (
            "nt_xent", "info_nce", "decoupled_nt_xent", "supcon"):
        settings["temperature"] = method.temperature
    try:
        dim = output_dim(method.encoder)
    except (ValueError, AttributeError):
        dim = None
    try:
        return L.reference_values(objectives[0], batch_size=config["batch_size"], dim=dim, **settings)
    except (ValueError, TypeError):
        return None


def _reference_lines(fig: BaseFigure, reference) -> None:
    """Dashed lines (and a label) at the reference values on the "loss" subplot: updated in place by name,
    added when new, so that a reused figure keeps its traces."""
    lines = reference.lines() if hasattr(reference, "lines") else dict(reference)
    loss = next((t for t in fig.data if t.name == "loss"), None)
    if loss is None:
        return
    xref, yref = f"{loss.xaxis or 'x'} domain", loss.yaxis or "y"
    shapes = {s.name: s for s in fig.layout.shapes if s.name}
    labels = {a.name: a for a in fig.layout.annotations if a.name}
    for name, value in lines.items():
        key, value = f"reference:{name}", float(value)
        if key in shapes:
            shapes[key].update(y0=value, y1=value)
            labels[key].update(y=value, text=f"{name} {value:.3g}")
            continue
        color = _REFERENCE_COLORS.get(name, "#7f7f7f")
        fig.add_shape(type="line", xref=xref, yref=yref, x0=0, x1=1, y0=value, y1=value, name=key,
                      line=dict(color=color, width=1, dash="dash"))
        fig.add_annotation(xref=xref, yref=yref, x=1, y=value, text=f"{name} {value:.3g}", name=key,
                           showarrow=False, xanchor="right", yanchor="bottom", font=dict(size=10, color=color))


def training_curves(history, *, metrics: Sequence[str] = ("loss", "alignment", "uniformity", "erank", "knn"),
                    title: str | None = None, fig=None, reference=None) -> go.Figure:
    """One small plot per metric against the training step.

    Args:
        history: a ``contrastlab.train.History``, a pandas DataFrame or a list of dict records, each
            with a "step" (else the record index is used) and some metrics.
        metrics: the columns to plot. Those with no finite value in the records are skipped (all are
            kept while there are no records yet); with three or fewer the plots sit in one row, else two.
        title: default "Training curves (K evaluations, last step S)".
        fig: a figure from ``training_curves`` to update in place: it keeps the metrics it was made
            with (a metric now absent gets an empty line) and ignores ``metrics``.
        reference: dashed lines on the "loss" plot at the loss's collapsed, chance and floor values: a
            ``losses.ReferenceValues``, a mapping {name: value}, "auto" (a ``fit`` History's own,
            ``history_reference``) or None for none. Lines are shapes, not traces: updating keeps them.
    Returns: a make_subplots figure with one lines+markers trace per metric, named after it.
    """
    if isinstance(reference, str):
        check.choice("reference", reference, ("auto",))
        reference = history_reference(history)
    builder = "training_curves"
    records = _records(history)
    last = _finite(records[-1].get("step")) if records else None
    default = ("Training curves (no records yet)" if not records else
               f"Training curves ({len(records)} evaluations, last step {last:g})" if last is not None else
               f"Training curves ({len(records)} evaluations)")
    title = default if title is None else title

    if _reuse(fig, builder):
        with fig.batch_update():
            for trace in fig.data:
                x, y = _series(records, trace.name)
                trace.update(x=x, y=y)
            fig.layout.title.text = title
            if reference is not None:
                _reference_lines(fig, reference)
        return fig

    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics or not all(isinstance(m, str) for m in metrics):
        raise ValueError(f"metrics must be a non-empty sequence of column names, got {metrics!r}")
    present = [m for m in metrics if not records or len(_series(records, m)[1])]
    if not present:
        columns = sorted({k for r in records for k in r})
        raise ValueError(f"none of the metrics {list(metrics)} has a finite value in the records; "
                         f"their columns are {columns}")
    k = len(present)
    rows, cols = (1, k) if k <= 3 else (2, math.ceil(k / 2))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=present, horizontal_spacing=0.07,
                        vertical_spacing=0.2 if rows == 2 else 0.0)
    colors = _palette(k)
    for i, metric in enumerate(present):
        x, y = _series(records, metric)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=metric, marker=dict(size=5, color=colors[i]),
                                 line=dict(color=colors[i]),
                                 hovertemplate="step %{x}: %{y:.4g}<extra>%{fullData.name}</extra>"),
                      row=i // cols + 1, col=i % cols + 1)
    _style(fig, builder, height=350 if rows == 1 else 420, title_text=title, showlegend=False,
           margin=dict(l=45, r=20, t=70, b=40))
    fig.update_xaxes(title_text="step", row=rows)
    fig.update_annotations(font_size=12)
    if reference is not None:
        _reference_lines(fig, reference)
    return fig


# ----------------------------------------------------------------------------- spectrum

_SPECTRUM_FLOOR = 1e-12  # sigma_k / sigma_1 below this (numerically zero) is drawn at log10 = -12


def spectrum_figure(embeddings=None, *, singular_values=None, center: bool = True, title: str | None = None,
                    fig=None) -> go.Figure:
    r"""The singular-value spectrum on a log scale: a tail that drops off shows dimensional collapse.

    Plots :math:`\log_{10}(\sigma_k/\sigma_1)` against k = 1..K (Jing et al. 2022), from
    ``metrics.singular_values`` and with ``metrics.effective_rank`` (same centring) in the title.
    Ratios below 1e-12 (numerically zero) are drawn at -12.

    Args:
        embeddings: (N, D) embeddings, or None when ``singular_values`` is given.
        singular_values: (K,) non-negative singular values instead of embeddings (any order).
        center: subtract the mean embedding first (the covariance spectrum); ignored with singular_values.
        title: default f"Singular values (effective rank {erank:.1f} of {d})", d = D (or K).
        fig: a figure from ``spectrum_figure`` to update in place.
    Returns: a figure with one lines+markers trace.
    """
    builder = "spectrum_figure"
    if (embeddings is None) == (singular_values is None):
        raise ValueError("pass exactly one of embeddings (N, D) and singular_values (K,)")
    if embeddings is not None:
        z = embeddings if isinstance(embeddings, Tensor) else torch.from_numpy(_array(embeddings, "embeddings", ndim=2))
        if z.ndim != 2:
            raise ValueError(f"embeddings must be a 2-d array (N, D), got shape {tuple(z.shape)}")
        sigma = M.singular_values(z, center=center).to(device="cpu", dtype=torch.float64).numpy()  # (min(N, D),)
        erank, d = M.effective_rank(z, center=center), z.shape[1]
    else:
        sigma = np.sort(_array(singular_values, "singular_values", ndim=1))[::-1].copy()  # (K,) descending
        if sigma[-1] < 0:
            raise ValueError(f"singular_values must be non-negative, got minimum {sigma[-1]}")
        # diag(sigma) has exactly these singular values: the same effective-rank code, uncentred.
        erank, d = M.effective_rank(torch.diag(torch.from_numpy(sigma)), center=False), len(sigma)
    ratio = sigma / sigma[0] if sigma[0] > 0 else np.zeros_like(sigma)  # (K,)
    log_ratio = np.log10(np.maximum(ratio, _SPECTRUM_FLOOR))  # (K,)
    k = np.arange(1, len(sigma) + 1)
    title = f"Singular values (effective rank {erank:.1f} of {d})" if title is None else title

    if _reuse(fig, builder):
        with fig.batch_update():
            fig.data[0].update(x=k, y=log_ratio, customdata=sigma)
            fig.layout.title.text = title
        return fig

    fig = go.Figure(go.Scatter(x=k, y=log_ratio, customdata=sigma, mode="lines+markers", name="log10 σ_k/σ_1",
                               marker=dict(size=5), hovertemplate="k = %{x}: σ = %{customdata:.3g}, "
                                                                  "log10 σ_k/σ_1 = %{y:.2f}<extra></extra>"))
    _style(fig, builder, height=350, title_text=title,
           xaxis=dict(title=dict(text="k (singular value index)")),
           yaxis=dict(title=dict(text="log10 σ_k / σ_1")))
    return fig


# ----------------------------------------------------------------------------- alignment-uniformity plane

def _column_or_array(value, records: list[dict] | None, k: int, name: str) -> tuple[np.ndarray | None, str]:
    if value is None:
        return None, ""
    if isinstance(value, str):
        if records is None:
            raise ValueError(f"{name}={value!r} names a column, but points is an array; pass an array of {k} values")
        if k and not any(value in r for r in records):
            columns = sorted({c for r in records for c in r})
            raise ValueError(f"{name}={value!r} is not a column of points; columns are {columns}")
        return np.asarray([r.get(value) for r in records], dtype=object), value
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    values = np.asarray(value, dtype=object)
    if values.ndim != 1 or len(values) != k:
        raise ValueError(f"{name} must be a column name or a 1-d array of {k} values (one per point), "
                         f"got shape {values.shape}")
    return values, name


def alignment_uniformity_figure(points, *, dim: int | None = None, t: float = 2, color=None, text=None,
                                title: str | None = None, fig=None) -> go.Figure:
    r"""The alignment-uniformity plane of Wang & Isola (2020): x = uniformity, y = alignment; lower-left is better.

    Args:
        points: a pandas DataFrame, a ``History`` or a list of dicts with "alignment" and "uniformity"
            keys, or a (K, 2) array of [alignment, uniformity] rows (K may be 0).
        dim: D, optional: a dashed vertical line at ``metrics.uniform_sphere_uniformity(D, t=t)``, the
            uniformity of the uniform distribution on S^{D-1} (the best reachable as N grows).
        t: the uniformity's t, for that line.
        color: a column name or a (K,) array (e.g. kNN accuracy), shown with a colour bar.
        text: a column name or K hover labels (e.g. the temperature of each run).
        title: default "Alignment and uniformity (lower-left is better)".
        fig: a figure from ``alignment_uniformity_figure`` to update in place.
    Returns: a figure with two traces: the points, and the reference line (empty without dim).
    """
    builder = "alignment_uniformity_figure"
    records = None
    if isinstance(points, (list, tuple)) and points and all(isinstance(r, dict) for r in points) \
            or hasattr(points, "columns") or hasattr(points, "records"):
        records = _records(points)
        missing = [c for c in ("alignment", "uniformity") if records and not all(c in r for r in records)]
        if missing:
            raise ValueError(f"points must have 'alignment' and 'uniformity' columns; missing {missing}")
        align = np.array([_finite(r["alignment"]) for r in records], dtype=float)  # (K,) NaN where absent
        unif = np.array([_finite(r["uniformity"]) for r in records], dtype=float)
    else:
        a = _to_numpy(points, "points")
        if a.size == 0:
            a = a.reshape(0, 2)
        if a.ndim != 2 or a.shape[1] != 2:
            raise ValueError(f"points must be a (K, 2) array of [alignment, uniformity] rows, got shape {a.shape}")
        align, unif = a[:, 0], a[:, 1]
    k = len(align)
    colors, color_name = _column_or_array(color, records, k, "color")
    labels, _ = _column_or_array(text, records, k, "text")
    if colors is not None:
        colors = np.array([_finite(v) if _finite(v) is not None else np.nan for v in colors], dtype=float)
    labels = None if labels is None else [str(v) for v in labels]

    if dim is not None:
        reference = M.uniform_sphere_uniformity(dim, t=t)
        finite = align[np.isfinite(align)]
        top = max(float(finite.max()) if len(finite) else 0.0, 0.1) * 1.08
        label = f"uniform on S^{dim - 1}"
        line = dict(x=[reference, reference], y=[0.0, top], text=["", label], name=label)
    else:
        line = dict(x=[], y=[], text=[], name="uniform on the sphere")
    marker = (dict(color=colors, colorscale="Viridis", showscale=True,
                   colorbar=dict(title=dict(text=color_name), thickness=12)) if colors is not None
              else dict(color=_NEGATIVE_COLOR, showscale=False))
    hover = ("%{text}<br>" if labels is not None else "") + "uniformity %{x:.3f}<br>alignment %{y:.3f}" \
        + (f"<br>{color_name} = %{{marker.color:.3g}}" if colors is not None else "") + "<extra></extra>"
    data = dict(x=unif, y=align, text=labels, marker=marker, hovertemplate=hover)
    title = "Alignment and uniformity (lower-left is better)" if title is None else title

    if _reuse(fig, builder):
        with fig.batch_update():
            fig.data[0].update(**data)
            fig.data[1].update(**line)
            fig.layout.title.text = title
        return fig

    fig = go.Figure([
        go.Scatter(mode="markers", name="runs", **data),
        go.Scatter(mode="lines+text", line=dict(dash="dash", color=_IGNORED_COLOR), textposition="top right",
                   hoverinfo="name", **line),
    ])
    fig.data[0].marker.size = 9
    _style(fig, builder, height=380, title_text=title, showlegend=False,
           xaxis=dict(title=dict(text="uniformity (lower = more uniform, better) →")),
           yaxis=dict(title=dict(text="alignment (lower = positives closer, better)")))
    return fig


# ----------------------------------------------------------------------------- similarity histograms

def similarity_histogram(z1, z2, *, bins: int = 40, labels=None, title: str | None = None, fig=None) -> go.Figure:
    r"""Overlaid densities of the cosine similarity of positive pairs and of negative pairs.

    Positives are the pairs (z1_i, z2_i); negatives all pairs (z1_i, z2_j), i != j, as in-batch
    InfoNCE treats them. With labels, a third density shows the negatives that share the anchor's
    class (false negatives): a subset of the negatives. Densities integrate to 1 over [-1, 1] and use
    the same ``bins`` equal bins.

    Args:
        z1: (N, D), z2: (N, D), N >= 2.
        bins: number of bins on [-1, 1].
        labels: None or (N,) class labels. Whether there is a third trace is fixed at creation.
        title: default "Cosine similarity: positives mean …, negatives mean …".
        fig: a figure from ``similarity_histogram`` to update in place.
    Returns: a figure with two (three with labels) bar traces over the bin centres.
    """
    builder = "similarity_histogram"
    a = _array(z1, "z1", ndim=2, min_rows=2)  # (N, D)
    b = _array(z2, "z2", ndim=2, min_rows=2)  # (N, D)
    if a.shape != b.shape:
        raise ValueError(f"z1 and z2 must have the same shape (N, D), got {a.shape} and {b.shape}")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    n = len(a)
    y = None if labels is None else _labels(labels, n)
    sim = _cosine(a, b)  # (N, N)
    off = ~np.eye(n, dtype=bool)  # (N, N)
    groups = {"positives (i, i)": np.diag(sim), "negatives (i ≠ j)": sim[off]}
    if y is not None:
        groups["same-class negatives (false negatives)"] = sim[off & (y[:, None] == y[None, :])]
    edges = np.linspace(-1, 1, int(bins) + 1)  # (bins + 1,)
    width = edges[1] - edges[0]
    centres = (edges[:-1] + edges[1:]) / 2

    def density(values):
        counts, _ = np.histogram(values, bins=edges)
        return counts / (len(values) * width) if len(values) else np.zeros(len(centres))

    means = [float(v.mean()) for v in groups.values()]
    default = f"Cosine similarity: positives mean {means[0]:.2f}, negatives mean {means[1]:.2f}"
    if y is not None:
        default += f" ({len(groups['same-class negatives (false negatives)'])} false negatives)"
    title = default if title is None else title

    if _reuse(fig, builder):
        if y is not None and len(fig.data) < 3:
            raise ValueError("this similarity_histogram figure was made without labels, so it has no trace for "
                             "false negatives; make a new figure with fig=None")
        with fig.batch_update():
            for i, trace in enumerate(fig.data):
                values = list(groups.values())[i] if i < len(groups) else np.zeros(0)
                trace.update(x=centres, y=density(values), width=width)
            fig.layout.title.text = title
        return fig

    colors = [_POSITIVE_COLOR, _NEGATIVE_COLOR, "#d62728"]
    fig = go.Figure([go.Bar(x=centres, y=density(values), width=width, name=name, opacity=0.55,
                            marker=dict(color=color, line=dict(width=0)),
                            hovertemplate="cos ≈ %{x:.2f}: density %{y:.3f}<extra>%{fullData.name}</extra>")
                     for (name, values), color in zip(groups.items(), colors)])
    _style(fig, builder, height=360, title_text=title, barmode="overlay", bargap=0,
           xaxis=dict(title=dict(text="cosine similarity"), range=[-1, 1]),
           yaxis=dict(title=dict(text="density")),
           legend=dict(orientation="h", y=-0.2, x=0))
    return fig


def spaced_labels(x, y, labels: Sequence[str], *, min_gap: float = 0.06) -> list[str]:
    """Point labels with the crowded ones blanked, so that no two printed labels overlap.

    Walks the points in order and keeps a label only when its point lies at least ``min_gap`` (a
    fraction of each axis's range, Chebyshev distance) from every point whose label was kept (the last
    point's label is kept first: it ends a sweep). For ``text=`` of a ``mode="markers+text"`` trace.

    Args:
        x, y: (n,) the points' coordinates.  labels: n strings.
        min_gap: in (0, 1), the smallest distance between two labelled points, per axis range.
    Returns: n strings, "" where a label was dropped.
    """
    xs, ys = _array(x, "x", ndim=1), _array(y, "y", ndim=1)
    if len(xs) != len(ys) or len(labels) != len(xs):
        raise ValueError(f"x, y, labels: got lengths {len(xs)}, {len(ys)}, {len(labels)}; expected equal lengths")
    if not isinstance(min_gap, (int, float)) or not 0 < min_gap < 1:
        raise ValueError(f"min_gap: got {min_gap!r}, expected a fraction of the axis range in (0, 1)")
    if not len(xs):
        return []
    span_x, span_y = np.ptp(xs) or 1.0, np.ptp(ys) or 1.0
    scaled = np.stack([xs / span_x, ys / span_y], axis=1)  # (n, 2), in axis ranges
    order = [len(xs) - 1] + list(range(len(xs) - 1))  # the last point's label is kept first
    kept: list[int] = []
    for i in order:
        if all(np.abs(scaled[i] - scaled[j]).max() >= min_gap for j in kept):
            kept.append(i)
    return [str(labels[i]) if i in kept else "" for i in range(len(xs))]


# ----------------------------------------------------------------------------- views of one image

def view_montage(views, *, columns: int = 4, gap: int = 2) -> np.ndarray:
    """Tile RGB views row by row into one uint8 image, with white ``gap``-pixel gaps between the tiles.

    Each value v in [0, 1] becomes round(255 v) (computed in the views' own float dtype). Tile k sits at
    row k // columns, column k % columns; the cells after the last view stay white.

    Args:
        views: (N, 3, H, W) floating tensor (any device) or numpy array, RGB values in [0, 1], N >= 1.
        columns: tiles per row, >= 1.  gap: white pixels between neighbouring tiles, >= 0.
    Returns: (R (H + gap) - gap, C (W + gap) - gap, 3) uint8 array, R = ceil(N / C) rows, C = ``columns``.
    """
    x = torch.from_numpy(views) if isinstance(views, np.ndarray) else views
    x = check.tensor("views", x, ndim=4, dtype="floating", dims="(N, 3, H, W)")
    columns, gap = check.integer("columns", columns, 1), check.integer("gap", gap, 0)
    if x.shape[1] != 3 or 0 in x.shape:
        raise ValueError(f"views must have shape (N, 3, H, W) with N, H, W >= 1 (RGB views), got {tuple(x.shape)}")
    x = x.detach().cpu()
    if not torch.isfinite(x).all():
        raise ValueError(f"views must be finite, got {int((~torch.isfinite(x)).sum())} NaN or inf value(s)")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1:
        raise ValueError(f"views must hold RGB values in [0, 1], got values in [{low:.4g}, {high:.4g}] "
                         f"(clamp them, or divide 0-255 images by 255)")
    tiles = x.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
    n, h, w, _ = tiles.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return out


def view_grid_figure(views, *, columns: int = 4, gap: int = 2, title: str | None = None, fig=None) -> go.Figure:
    """A grid of RGB views of one image (e.g. the image, then ``augment.view_grid``'s views of it).

    The views are tiled row by row by ``view_montage`` and drawn as one image trace, without axes,
    160 px wide per column and 170 px high per row (plus 60 px for the title).

    Args:
        views: (N, 3, H, W) floating tensor (any device) or numpy array, RGB values in [0, 1], N >= 1.
        columns: tiles per row, >= 1.  gap: white pixels between neighbouring tiles, >= 0.
        title: default f"{N} views".
        fig: a figure from ``view_grid_figure`` to update in place (its image trace gets the new pixels).
    Returns: a figure with one ``go.Image`` trace whose ``z`` is the (rows, cols, 3) uint8 montage.
    """
    builder = "view_grid_figure"
    montage = view_montage(views, columns=columns, gap=gap)  # checks views, columns, gap
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    n = len(views)
    rows = -(-n // columns)
    title = f"{n} views" if title is None else title
    size = dict(width=160 * columns, height=170 * rows + 60)

    if _reuse(fig, builder):
        with fig.batch_update():
            fig.data[0].z = montage
            fig.layout.title.text = title
            fig.update_layout(**size)
        return fig

    fig = go.Figure(go.Image(z=montage, hoverinfo="skip", name="views"))
    _style(fig, builder, title_text=title, margin=dict(l=10, r=10, t=40, b=10),
           xaxis=dict(visible=False), yaxis=dict(visible=False), **size)
    return fig
