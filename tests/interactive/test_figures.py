"""contrastlab.interactive.figures: each builder's traces, values and title; in-place updates; devices; bad inputs."""

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from contrastlab import losses as L
from contrastlab import metrics as M
from contrastlab.interactive import figures as viz
from contrastlab.train import History


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _cos_np(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def _check_layout(fig):
    assert isinstance(fig, go.Figure)
    assert fig.layout.template.layout.paper_bgcolor is not None  # a template is set
    assert 340 <= fig.layout.height <= 420
    assert fig.layout.title.text
    fig.to_html(include_plotlyjs=False)  # serialises


def _updated(builder, first_args, first_kwargs, second_args, second_kwargs):
    """Build, wrap as a FigureWidget, rebuild in place; return (widget, returned, n_traces_before, data_before)."""
    fig = go.FigureWidget(builder(*first_args, **first_kwargs))
    before = [t.to_plotly_json() for t in fig.data]
    returned = builder(*second_args, fig=fig, **second_kwargs)
    assert returned is fig
    assert len(fig.data) == len(before)
    assert [t.type for t in fig.data] == [b["type"] for b in before]
    assert fig.layout.title.text == second_kwargs["title"]
    return fig, before


def _changed(before, trace, key="y"):
    return not np.array_equal(np.asarray(before[key], dtype=float), np.asarray(trace[key], dtype=float))


# ----------------------------------------------------------------------------- circle and sphere

def test_circle_figure_points_on_circle_and_density_ring():
    z = _rand(40, 2) * 3
    labels = torch.arange(40) % 3
    fig = viz.circle_figure(z, labels, bins=36)
    _check_layout(fig)
    assert fig.layout.title.text == "Embeddings on the circle"
    assert len(fig.data) == 1 + 3 and [t.name for t in fig.data[1:]] == ["0", "1", "2"]
    assert sum(len(t.x) for t in fig.data[1:]) == 40
    for trace in fig.data[1:]:
        np.testing.assert_allclose(np.hypot(trace.x, trace.y), 1.0, atol=1e-12)
    ring_r = np.hypot(fig.data[0].x, fig.data[0].y)
    assert len(ring_r) == 36 + 1 and ring_r[0] == pytest.approx(ring_r[-1])  # a closed line
    assert ring_r.min() >= 1.15 - 1e-12 and ring_r.max() == pytest.approx(1.65)
    assert fig.layout.yaxis.scaleanchor == "x"
    # class 1's points are the unit rows with label 1
    u = z.numpy() / np.linalg.norm(z.numpy(), axis=1, keepdims=True)
    np.testing.assert_allclose(fig.data[2].x, u[labels.numpy() == 1, 0])


def test_circle_density_peaks_where_the_points_are():
    theta = np.full(50, 0.5)  # every point at 0.5 rad
    fig = viz.circle_figure(np.stack([np.cos(theta), np.sin(theta)], 1), bins=72)
    ring = np.hypot(fig.data[0].x, fig.data[0].y)[:-1]
    peak = np.arctan2(fig.data[0].y, fig.data[0].x)[:-1][ring.argmax()]
    assert abs(peak - 0.5) < 2 * np.pi / 72
    assert len(fig.data) == 2 and fig.data[1].name == "embeddings"


def test_circle_update_in_place_matches_classes_by_name():
    fig, before = _updated(viz.circle_figure, (_rand(30, 2), np.arange(30) % 3), {},
                           (_rand(20, 2, seed=1), np.arange(20) % 2), {"title": "step 2"})
    assert _changed(before[1], fig.data[1])
    assert [t.name for t in fig.data[1:]] == ["0", "1", "2"]
    assert len(fig.data[3].x) == 0  # class 2 has gone: its trace is empty, not removed
    viz.circle_figure(_rand(9, 2), np.array([5, 6, 7] * 3), fig=fig, title="new classes")  # reuse the traces
    assert sorted(t.name for t in fig.data[1:]) == ["5", "6", "7"]
    with pytest.raises(ValueError, match="make a new figure"):
        viz.circle_figure(_rand(8, 2), np.arange(8) % 4, fig=fig)


def test_circle_and_sphere_leave_room_for_classes():
    placeholder = go.FigureWidget(viz.sphere_figure(_rand(8, 3), torch.zeros(8, dtype=torch.long), classes=5))
    assert len(placeholder.data) == 1 + 5 and [t.showlegend for t in placeholder.data[1:]] == [True] + [False] * 4
    viz.sphere_figure(_rand(20, 3), np.arange(20) % 4, fig=placeholder)
    assert [t.name for t in placeholder.data[1:5]] == ["0", "1", "2", "3"] and placeholder.data[5].showlegend is False
    assert sum(len(t.x) for t in placeholder.data[1:]) == 20
    named = viz.circle_figure(_rand(6, 2), ["b"] * 6, classes=["a", "b", "c"])
    assert [t.name for t in named.data[1:]] == ["a", "b", "c"] and len(named.data[2].x) == 6
    with pytest.raises(ValueError, match="classes must be"):
        viz.circle_figure(_rand(6, 2), classes=0)


def test_sphere_figure():
    z = _rand(30, 3)
    fig = viz.sphere_figure(z, np.arange(30) % 2)
    _check_layout(fig)
    assert fig.layout.title.text == "Embeddings on the sphere"
    assert [t.type for t in fig.data] == ["surface", "scatter3d", "scatter3d"]
    assert fig.data[0].opacity == pytest.approx(0.15) and fig.data[0].showscale is False
    for trace in fig.data[1:]:
        np.testing.assert_allclose(np.sqrt(np.square(trace.x) + np.square(trace.y) + np.square(trace.z)), 1, atol=1e-12)
    fig, before = _updated(viz.sphere_figure, (z, np.arange(30) % 2), {}, (_rand(30, 3, seed=2), np.arange(30) % 2),
                           {"title": "later"})
    assert before[0]["x"].tolist() == list(map(list, fig.data[0].x))  # the sphere is untouched
    assert _changed(before[1], fig.data[1], "z")


# ----------------------------------------------------------------------------- candidate roles

P, N, I = viz.POSITIVE, viz.NEGATIVE, viz.IGNORED
PAIRED_3 = np.array([[P, N, N], [N, P, N], [N, N, P]])
TWO_VIEW_3 = np.array([  # cat(z1, z2), N = 3: rows 0-2 view 1, rows 3-5 view 2
    [I, N, N, P, N, N],
    [N, I, N, N, P, N],
    [N, N, I, N, N, P],
    [P, N, N, I, N, N],
    [N, P, N, N, I, N],
    [N, N, P, N, N, I]])
LABELS_3 = np.array([0, 0, 1])  # samples 0 and 1 share a class
ORACLE_3 = np.array([
    [I, I, N, P, I, N],
    [I, I, N, I, P, N],
    [N, N, I, N, N, P],
    [P, I, N, I, I, N],
    [I, P, N, I, I, N],
    [N, N, P, N, N, I]])
SUPCON_3 = np.array([
    [I, P, N, P, P, N],
    [P, I, N, P, P, N],
    [N, N, I, N, N, P],
    [P, P, N, I, P, N],
    [P, P, N, P, I, N],
    [N, N, P, N, N, I]])


@pytest.mark.parametrize("loss, expected", [
    (L.info_nce, PAIRED_3), (L.clip_loss, PAIRED_3), (L.siglip_loss, PAIRED_3),
    (L.nt_xent, TWO_VIEW_3), (L.decoupled_nt_xent, TWO_VIEW_3), (L.debiased_nt_xent, TWO_VIEW_3),
    (L.hard_negative_nt_xent, TWO_VIEW_3), (L.oracle_nt_xent, ORACLE_3), (L.supcon, SUPCON_3),
])
def test_candidate_roles_by_hand(loss, expected):
    for given in (loss, loss.__name__):  # the function itself or its name
        roles = viz.candidate_roles(given, 3, LABELS_3)
        assert roles.dtype == np.int8
        np.testing.assert_array_equal(roles, expected)


def test_losses_are_keyed_by_the_functions_of_contrastlab_losses():
    for name, layout in viz.LOSSES.items():
        assert callable(getattr(L, name, None)) and name in L.__all__, name
        assert layout in ("paired", "two_view")
    assert not hasattr(viz, "_ALIASES")  # one table: no second list of short names
    with pytest.raises(ValueError, match="unknown loss 'clip' \\(did you mean 'clip_loss'\\?\\)"):
        viz.candidate_roles("clip", 3)
    with pytest.raises(ValueError, match="did you mean 'decoupled_nt_xent'"):
        viz.similarity_figure(_rand(4, 3), _rand(4, 3), loss="decoupled")

    def nt_xent(z1, z2):  # a learner's own function is not the kit's, whatever its name
        return z1.sum()

    with pytest.raises(ValueError, match="unknown loss"):
        viz.candidate_roles(nt_xent, 3)


def test_candidate_roles_counts():
    n = 5
    nt = viz.candidate_roles("nt_xent", n)
    assert ((nt == P).sum(1) == 1).all() and ((nt == N).sum(1) == 2 * n - 2).all()
    info = viz.candidate_roles("info_nce", n)
    assert ((info == P).sum(1) == 1).all() and ((info == N).sum(1) == n - 1).all()
    labels = torch.tensor([0, 1, 0, 2, 1])
    oracle = viz.candidate_roles("oracle_nt_xent", n, labels)
    y = np.tile(labels.numpy(), 2)
    assert not ((oracle == N) & (y[:, None] == y[None, :])).any()  # no same-class negative is left
    assert ((oracle == P).sum(1) == 1).all()
    supcon = viz.candidate_roles("supcon", n, labels)
    same = (y[:, None] == y[None, :]) & ~np.eye(2 * n, dtype=bool)
    np.testing.assert_array_equal(supcon == P, same)
    single = viz.candidate_roles("supcon", n, labels, views=1)
    assert single.shape == (n, n) and (np.diag(single) == I).all()


def test_candidate_roles_bad_inputs():
    with pytest.raises(ValueError, match="unknown loss 'triplet'.*info_nce.*supcon"):
        viz.candidate_roles("triplet", 3)
    for loss in ("oracle_nt_xent", "supcon"):
        with pytest.raises(ValueError, match=f"{loss}.*needs labels"):
            viz.candidate_roles(loss, 3)
    with pytest.raises(ValueError, match="labels must be a 1-d array of 3"):
        viz.candidate_roles("supcon", 3, [0, 1])
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        viz.candidate_roles("nt_xent", 0)
    with pytest.raises(ValueError, match="views is only used by supcon"):
        viz.candidate_roles("nt_xent", 3, views=3)


# ----------------------------------------------------------------------------- similarity heatmap

def test_similarity_figure_two_view():
    z1, z2 = _rand(8, 5), _rand(8, 5, seed=1)
    fig = viz.similarity_figure(z1, z2)
    _check_layout(fig)
    assert fig.layout.title.text == "nt_xent: 2N = 16 anchors, 1 positive and 14 negatives each"
    assert [t.type for t in fig.data] == ["heatmap", "scatter", "scatter"]
    both = torch.cat([z1, z2]).numpy()
    np.testing.assert_allclose(np.asarray(fig.data[0].z), _cos_np(both, both), atol=1e-12)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-1, 1) and fig.data[0].reversescale
    assert sorted(zip(fig.data[1].y, fig.data[1].x)) == [(a, (a + 8) % 16) for a in range(16)]  # positives
    assert sorted(zip(fig.data[2].y, fig.data[2].x)) == [(a, a) for a in range(16)]  # self, ignored
    cd = np.asarray(fig.data[0].customdata)  # (2N, 2N) role names
    assert cd[0, 8] == "positive" and cd[0, 0] == "ignored (self)" and cd[0, 1] == "negative"


def test_similarity_figure_paired_supcon_and_temperature():
    z1, z2 = _rand(6, 4), _rand(6, 4, seed=1)
    fig = viz.similarity_figure(z1, z2, loss=L.clip_loss, temperature=0.1)
    assert fig.layout.title.text == "clip_loss: N = 6 queries, 1 positive and 5 negatives each, τ = 0.1"
    np.testing.assert_allclose(np.asarray(fig.data[0].z), _cos_np(z1, z2), atol=1e-12)
    assert len(fig.data[2].x) == 0  # nothing ignored
    cd = np.asarray(fig.data[0].customdata)
    assert float(cd[1, 2, 1]) == pytest.approx(_cos_np(z1, z2)[1, 2] / 0.1)
    labels = np.array([0, 0, 1, 1, 2, 2])
    sup = viz.similarity_figure(z1, z2, loss="supcon", labels=labels)
    assert sup.layout.title.text == "supcon: 2N = 12 anchors, 3 positives and 8 negatives each"
    single = viz.similarity_figure(z1, loss="supcon", labels=labels)
    assert np.asarray(single.data[0].z).shape == (6, 6)
    assert single.layout.title.text == "supcon: N = 6 anchors, 1 positive and 4 negatives each"
    oracle = viz.similarity_figure(z1, z2, loss="oracle_nt_xent", labels=labels)
    assert "1 positive and 8 negatives each" in oracle.layout.title.text
    nt = viz.similarity_figure(z1, z2, labels=labels)  # labels only annotate false negatives
    assert np.asarray(nt.data[0].customdata)[0, 1] == "negative, same class (false negative)"
    assert np.asarray(oracle.data[0].customdata)[0, 1] == "ignored, same class"


def test_similarity_figure_update_in_place_even_across_losses():
    z1, z2 = _rand(8, 5), _rand(8, 5, seed=1)
    fig, before = _updated(viz.similarity_figure, (z1, z2), {}, (z2, z1), {"loss": "info_nce", "title": "swapped"})
    np.testing.assert_allclose(np.asarray(fig.data[0].z), _cos_np(z2, z1), atol=1e-12)
    assert len(fig.data[2].x) == 0


def test_similarity_figure_bad_inputs():
    z = _rand(4, 3)
    with pytest.raises(ValueError, match="unknown loss"):
        viz.similarity_figure(z, z, loss="nope")
    with pytest.raises(ValueError, match="needs labels"):
        viz.similarity_figure(z, z, loss="supcon")
    with pytest.raises(ValueError, match="compares two views: pass z2"):
        viz.similarity_figure(z)
    with pytest.raises(ValueError, match="same shape"):
        viz.similarity_figure(z, _rand(5, 3))
    with pytest.raises(ValueError, match=r"z1 must be a 2-d array"):
        viz.similarity_figure(torch.zeros(4))
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        viz.similarity_figure(z, z, temperature=0.0)
    with pytest.raises(ValueError, match="finite"):
        viz.similarity_figure(torch.full((4, 3), float("nan")), z)


# ----------------------------------------------------------------------------- softmax bars

def test_softmax_bars_values_against_numpy():
    s = np.array([0.2, 0.9, -0.3, 0.5, 0.1])
    tau, pos = 0.2, 1
    fig = viz.softmax_bars(s, temperature=tau, positive_index=pos)
    _check_layout(fig)
    e = np.exp((s - s.max()) / tau)
    p = e / e.sum()
    neg = np.arange(5) != pos
    share = p[neg] / p[neg].sum()
    np.testing.assert_allclose(fig.data[0].y, p, rtol=1e-12)
    np.testing.assert_allclose(fig.data[1].y, share, rtol=1e-12)
    np.testing.assert_allclose(share, np.exp(s[neg] / tau) / np.exp(s[neg] / tau).sum(), rtol=1e-12)
    assert sum(fig.data[0].y) == pytest.approx(1) and sum(fig.data[1].y) == pytest.approx(1)
    shares = M.negative_shares(torch.from_numpy(s)[None], temperature=tau, positive_index=torch.tensor([pos]))
    np.testing.assert_array_equal(fig.data[1].y, shares[0].numpy()[neg])  # the one implementation, exactly
    assert list(fig.data[0].x) == ["n1", "pos", "n2", "n3", "n4"] and list(fig.data[1].x) == ["n1", "n2", "n3", "n4"]
    assert fig.data[0].marker.color[pos] != fig.data[0].marker.color[0]
    assert fig.layout.title.text == f"τ = 0.2: loss {-math.log(p[pos]):.3f}, positive p = {p[pos]:.3f}"


def test_softmax_bars_update_and_bad_inputs():
    s = torch.tensor([[0.8, 0.1, 0.3]])
    fig, before = _updated(viz.softmax_bars, (s,), {"temperature": 1.0},
                           (s,), {"temperature": 0.05, "title": "colder"})
    assert _changed(before[0], fig.data[0]) and _changed(before[1], fig.data[1])
    with pytest.raises(ValueError, match="C >= 2"):
        viz.softmax_bars([0.5], temperature=0.1)
    with pytest.raises(ValueError, match="positive_index must be an integer in"):
        viz.softmax_bars(s, temperature=0.1, positive_index=3)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        viz.softmax_bars(s, temperature=-1.0)
    with pytest.raises(ValueError, match="candidate_names must have 3"):
        viz.softmax_bars(s, temperature=0.1, candidate_names=["a"])
    with pytest.raises(ValueError, match="was made by softmax_bars, not by spectrum_figure"):
        viz.spectrum_figure(_rand(5, 3), fig=fig)


def test_softmax_bars_tiny_temperature_stays_finite():
    s = [1.0, -1.0, 0.99]
    fig = viz.softmax_bars(s, temperature=1e-3, positive_index=2)  # loss = log(1 + e^10 + e^-1990)
    assert math.isfinite(sum(fig.data[1].y)) and sum(fig.data[1].y) == pytest.approx(1)
    assert "loss 10.000" in fig.layout.title.text
    fig = viz.softmax_bars(s, temperature=1e-3, positive_index=1)  # p_pos = e^-2000 underflows float64
    assert fig.layout.title.text == "τ = 0.001: loss 2000.000, positive p = 0.000"


# ----------------------------------------------------------------------------- negative weights

def _old_widget_shares(s, tau, beta):
    """What the hard-negative app computed itself before metrics.negative_shares was the one softmax."""
    return torch.softmax(torch.as_tensor((1 + beta) * np.asarray(s, dtype=np.float64) / tau), 0).numpy()


def test_negative_weights_figure_values_order_and_line():
    s = np.array([0.1, 0.8, -0.4, 0.5, 0.3])
    same = np.array([False, True, False, False, True])
    fig = viz.negative_weights_figure(s, temperature=0.5, beta=1.0, same_class=same, ceiling=0.4)
    _check_layout(fig)
    order = np.argsort(-s)
    np.testing.assert_array_equal(fig.data[0].customdata, s[order])  # hardest first
    expected = M.negative_shares(torch.from_numpy(s[order])[None], temperature=0.5, beta=1.0)[0].numpy()
    np.testing.assert_array_equal(fig.data[0].y, expected)
    np.testing.assert_allclose(fig.data[0].y, _old_widget_shares(s[order], 0.5, 1.0), rtol=1e-12)
    assert list(fig.data[0].marker.color) == ["#d62728", "#4c78a8", "#d62728", "#4c78a8", "#4c78a8"]
    red = expected[same[order]].sum()
    assert fig.layout.title.text == ("Weight on each negative (β = 1.00, τ = 0.500); "
                                     f"red = same class: {red:.0%} of the weight")
    line = fig.layout.shapes[0]
    assert line.visible and line.x0 == line.x1 == 1.5  # 0.8 and 0.5 are >= 0.4: the miner drops them
    plain = viz.negative_weights_figure(s, temperature=0.1)
    assert plain.layout.shapes[0].visible is False and "red" not in plain.layout.title.text
    np.testing.assert_allclose(plain.data[0].y, _old_widget_shares(np.sort(s)[::-1], 0.1, 0.0), rtol=1e-12)


def test_negative_weights_figure_update_and_bad_inputs():
    s = _rand(20, seed=3).tanh()
    fig, before = _updated(viz.negative_weights_figure, (s,), {"temperature": 0.5, "ceiling": 0.9},
                           (s,), {"temperature": 0.05, "beta": 2.0, "ceiling": 0.0, "title": "colder"})
    assert _changed(before[0], fig.data[0]) and fig.layout.shapes[0].x0 == int((s >= 0).sum()) - 0.5
    with pytest.raises(ValueError, match="same_class must be None or \\(20,\\) booleans"):
        viz.negative_weights_figure(s, temperature=0.1, same_class=[True])
    with pytest.raises(ValueError, match="beta"):
        viz.negative_weights_figure(s, temperature=0.1, beta=-1.0)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        viz.negative_weights_figure(s, temperature=0.0)


# ----------------------------------------------------------------------------- embeddings and projections

def test_embedding_figure_picks_the_circle_the_sphere_or_pca():
    labels = np.arange(12) % 3
    circle = viz.embedding_figure(_rand(12, 2), labels)
    assert circle.layout.meta[viz._META_KEY] == "circle_figure"
    assert circle.layout.title.text == "Embeddings on the circle"
    sphere = viz.embedding_figure(_rand(12, 3), labels, classes=5)
    assert sphere.layout.meta[viz._META_KEY] == "sphere_figure" and len(sphere.data) == 1 + 5
    z = _rand(12, 32)
    pca = go.FigureWidget(viz.embedding_figure(z, labels))
    assert pca.layout.title.text == "PCA of the embeddings (normalised)"
    from contrastlab.interactive.projection import project
    u = project(z, "pca")
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    np.testing.assert_allclose(pca.data[1].x, u[labels == 0, 0], rtol=1e-6)
    returned = viz.embedding_figure(_rand(12, 2, seed=1), labels, fig=pca)  # D = 2 draws on the same circle
    assert returned is pca and pca.layout.title.text == "Embeddings on the circle"
    with pytest.raises(ValueError, match="made by circle_figure, not by sphere_figure"):
        viz.embedding_figure(_rand(12, 3), labels, fig=pca)
    with pytest.raises(ValueError, match="D >= 2"):
        viz.embedding_figure(_rand(12, 1))


def test_projection_figure():
    xy = _rand(30, 2) * 5
    labels = np.array(["cat", "dog", "eel"] * 10)
    fig = viz.projection_figure(xy, labels, text=[f"sentence {i}" for i in range(30)], classes=["eel", "dog", "cat"])
    _check_layout(fig)
    assert [t.name for t in fig.data] == ["eel", "dog", "cat"]
    assert fig.layout.title.text == "Projection of 30 embeddings"
    rows = np.flatnonzero(labels == "dog")
    np.testing.assert_array_equal(fig.data[1].customdata, rows)  # the sample index, for a hover callback
    np.testing.assert_allclose(fig.data[1].x, xy.numpy()[rows, 0])  # not normalised
    assert fig.data[1].text[0] == "sentence 1"
    fig, before = _updated(viz.projection_figure, (xy, labels), {}, (xy * 2, labels), {"title": "UMAP"})
    assert _changed(before[0], fig.data[0], "x") and fig.data[0].text[0] == "sample 0"
    with pytest.raises(ValueError, match="text must have 30 entries"):
        viz.projection_figure(xy, labels, text=["a"])
    with pytest.raises(ValueError, match=r"coordinates must have shape \(N, 2\)"):
        viz.projection_figure(_rand(30, 3))


# ----------------------------------------------------------------------------- training curves

RECORDS = [{"step": s, "loss": 5 - s / 10, "alignment": 1 / (s + 1), "knn": 0.5 + s / 100, "lr": 0.1}
           for s in (0, 10, 20)]


@pytest.mark.parametrize("kind", ["history", "frame", "list"])
def test_training_curves_inputs_and_skipped_metrics(kind):
    history = {"history": History(records=RECORDS), "frame": pd.DataFrame(RECORDS), "list": RECORDS}[kind]
    fig = viz.training_curves(history)
    _check_layout(fig)
    assert [t.name for t in fig.data] == ["loss", "alignment", "knn"]  # uniformity and erank absent
    assert fig.layout.title.text == "Training curves (3 evaluations, last step 20)"
    assert list(fig.data[0].x) == [0, 10, 20] and list(fig.data[0].y) == [5, 4, 3]
    assert fig.data[0].mode == "lines+markers"


def test_training_curves_update_keeps_traces_and_layout_rows():
    fig = viz.training_curves(RECORDS, metrics=("loss", "alignment", "knn", "lr"))
    assert len(fig.data) == 4 and fig.layout.height >= 400  # two rows
    widget = go.FigureWidget(fig)
    more = RECORDS + [{"step": 30, "loss": 2.0, "knn": 0.9}]
    returned = viz.training_curves(more, metrics=("loss",), fig=widget, title="now 4")
    assert returned is widget and len(widget.data) == 4
    assert list(widget.data[0].y) == [5, 4, 3, 2] and list(widget.data[1].x) == [0, 10, 20]
    assert widget.layout.title.text == "now 4"
    empty = viz.training_curves([], metrics=("loss", "knn"))
    assert len(empty.data) == 2 and empty.layout.title.text == "Training curves (no records yet)"
    with pytest.raises(ValueError, match="none of the metrics"):
        viz.training_curves(RECORDS, metrics=("uniformity",))
    with pytest.raises(TypeError, match="History"):
        viz.training_curves(42)


# ----------------------------------------------------------------------------- spectrum

def test_spectrum_figure():
    z = _rand(50, 8) * torch.tensor([5.0, 3, 1, 1, 0.5, 0.1, 0.01, 0.001])
    fig = viz.spectrum_figure(z)
    _check_layout(fig)
    y = np.asarray(fig.data[0].y)
    assert y[0] == 0.0 and (np.diff(y) <= 1e-12).all()
    sigma = M.singular_values(z, center=True).numpy()
    np.testing.assert_allclose(y, np.log10(sigma / sigma[0]), atol=1e-6)
    erank = M.effective_rank(z, center=True)
    assert fig.layout.title.text == f"Singular values (effective rank {erank:.1f} of 8)"
    from_sigma = viz.spectrum_figure(singular_values=sigma[::-1])  # order does not matter
    np.testing.assert_allclose(from_sigma.data[0].y, y, atol=1e-12)
    assert from_sigma.layout.title.text == f"Singular values (effective rank {erank:.1f} of 8)"
    collapsed = viz.spectrum_figure(torch.ones(10, 4) + _rand(10, 4) * torch.tensor([1.0, 0, 0, 0]))
    assert collapsed.data[0].y[-1] == -12  # numerically zero, drawn at the floor without warnings


def test_spectrum_update_and_bad_inputs():
    fig, before = _updated(viz.spectrum_figure, (_rand(20, 6),), {}, (_rand(20, 6, seed=3),), {"title": "later"})
    assert _changed(before[0], fig.data[0])
    with pytest.raises(ValueError, match="exactly one of"):
        viz.spectrum_figure()
    with pytest.raises(ValueError, match="non-negative"):
        viz.spectrum_figure(singular_values=[1.0, -0.5])


# ----------------------------------------------------------------------------- alignment-uniformity plane

def test_alignment_uniformity_figure():
    frame = pd.DataFrame({"alignment": [0.5, 0.9, 1.2], "uniformity": [-3.5, -2.0, -1.0],
                          "knn": [0.9, 0.7, 0.5], "tau": [0.1, 0.5, 1.0]})
    fig = viz.alignment_uniformity_figure(frame, dim=3, color="knn", text="tau")
    _check_layout(fig)
    assert len(fig.data) == 2
    assert list(fig.data[0].x) == [-3.5, -2.0, -1.0] and list(fig.data[0].y) == [0.5, 0.9, 1.2]
    assert list(fig.data[0].marker.color) == [0.9, 0.7, 0.5] and fig.data[0].marker.showscale
    reference = M.uniform_sphere_uniformity(3)
    assert list(fig.data[1].x) == [reference, reference] and fig.data[1].line.dash == "dash"
    assert "uniform on S^2" in fig.data[1].text
    assert "lower" in fig.layout.xaxis.title.text and "lower" in fig.layout.yaxis.title.text
    array_fig = viz.alignment_uniformity_figure(np.array([[0.5, -3.5], [0.9, -2.0]]))
    assert list(array_fig.data[0].x) == [-3.5, -2.0] and len(array_fig.data[1].x) == 0
    widget = go.FigureWidget(array_fig)
    assert viz.alignment_uniformity_figure(frame.to_dict("records"), dim=2, color=[1, 2, 3], fig=widget,
                                           title="runs") is widget
    assert len(widget.data) == 2 and len(widget.data[0].x) == 3 and len(widget.data[1].x) == 2
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        viz.alignment_uniformity_figure(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="missing \\['uniformity'\\]"):
        viz.alignment_uniformity_figure([{"alignment": 1.0}])
    with pytest.raises(ValueError, match="not a column"):
        viz.alignment_uniformity_figure(frame, color="acc")


# ----------------------------------------------------------------------------- similarity histogram

def test_similarity_histogram():
    z1 = _rand(30, 4)
    z2 = z1 + 0.3 * _rand(30, 4, seed=1)
    labels = np.arange(30) % 3
    fig = viz.similarity_histogram(z1, z2, bins=20, labels=labels)
    _check_layout(fig)
    assert len(fig.data) == 3
    width = 2 / 20
    for trace in fig.data:
        assert sum(trace.y) * width == pytest.approx(1)
        assert trace.x[0] == pytest.approx(-1 + width / 2)
    sim = _cos_np(z1, z2)
    off = ~np.eye(30, dtype=bool)
    expected, _ = np.histogram(np.diag(sim), bins=np.linspace(-1, 1, 21), density=True)
    np.testing.assert_allclose(fig.data[0].y, expected, atol=1e-9)
    assert fig.layout.title.text.startswith(
        f"Cosine similarity: positives mean {np.diag(sim).mean():.2f}, negatives mean {sim[off].mean():.2f}")
    assert "(270 false negatives)" in fig.layout.title.text  # 3 classes of 10: 10 * 9 * 3 pairs
    plain = viz.similarity_histogram(z1, z2)
    assert len(plain.data) == 2
    fig, before = _updated(viz.similarity_histogram, (z1, z2), {"labels": labels}, (z1, _rand(30, 4, seed=5)),
                           {"title": "shuffled"})
    assert _changed(before[0], fig.data[0]) and sum(fig.data[2].y) == 0  # no labels now: third trace emptied
    with pytest.raises(ValueError, match="made without labels"):
        viz.similarity_histogram(z1, z2, labels=labels, fig=go.FigureWidget(plain))
    with pytest.raises(ValueError, match="at least 2 row"):
        viz.similarity_histogram(z1[:1], z2[:1])


# ----------------------------------------------------------------------------- devices and dtypes

def test_every_builder_on_device(device):
    gen = torch.Generator().manual_seed(0)
    z2d = torch.randn(12, 2, generator=gen).to(device)
    z3d = torch.randn(12, 3, generator=gen).to(device)
    a, b = torch.randn(12, 6, generator=gen).to(device), torch.randn(12, 6, generator=gen).to(device)
    labels = (torch.arange(12) % 3).to(device)
    figs = [
        viz.circle_figure(z2d, labels),
        viz.sphere_figure(z3d.half(), labels),
        viz.similarity_figure(a, b, loss="supcon", labels=labels, temperature=torch.tensor(0.5)),
        viz.softmax_bars(a[0] @ b.T, temperature=0.5),
        viz.spectrum_figure(a),
        viz.similarity_histogram(a.bfloat16(), b, labels=labels),
        viz.negative_weights_figure(a[0] @ b[1:].T, temperature=0.5, beta=1.0, same_class=labels[1:] == labels[0]),
        viz.embedding_figure(a, labels),
        viz.projection_figure(z2d, labels),
    ]
    for fig in figs:
        assert isinstance(fig, go.Figure) and fig.layout.title.text
    np.testing.assert_allclose(np.asarray(figs[4].data[0].y)[0], 0.0)
    both = torch.cat([a, b]).cpu().numpy()
    np.testing.assert_allclose(np.asarray(figs[2].data[0].z), _cos_np(both, both), atol=1e-5)


def test_training_curves_draw_reference_lines_and_keep_them_on_update():
    reference = L.reference_values("nt_xent", batch_size=8, dim=4)
    fig = viz.training_curves(RECORDS, metrics=("loss", "knn"), reference=reference)
    lines = {s.name: s.y0 for s in fig.layout.shapes if (s.name or "").startswith("reference:")}
    assert lines == {f"reference:{k}": pytest.approx(v) for k, v in reference.lines().items()}
    assert all(s.line.dash == "dash" and s.yref == fig.data[0].yaxis for s in fig.layout.shapes if s.name)
    widget = go.FigureWidget(fig)
    viz.training_curves(RECORDS + [{"step": 30, "loss": 2.0}], fig=widget, reference={"chance": 3.0})
    assert len(widget.data) == 2 and list(widget.data[0].y) == [5, 4, 3, 2]
    assert {s.name: s.y0 for s in widget.layout.shapes}["reference:chance"] == 3.0
    assert len([s for s in widget.layout.shapes if s.name]) == 3  # updated in place, nothing added
    partial = viz.training_curves(RECORDS, metrics=("loss",), reference=L.reference_values("nt_xent", batch_size=8))
    assert [s.name for s in partial.layout.shapes] == ["reference:collapsed"]  # chance and floor need dim


def test_training_curves_auto_reference_from_a_fit_history():
    from contrastlab import data, fit
    history = fit(data.vmf_mixture(64, n_classes=4, dim=8), "simclr", steps=2, batch_size=16, eval_every=2)
    fig = viz.training_curves(history, metrics=("loss",), reference="auto")
    names = sorted(s.name for s in fig.layout.shapes if s.name)
    assert names == ["reference:chance", "reference:collapsed", "reference:floor"]
    collapsed = next(s.y0 for s in fig.layout.shapes if s.name == "reference:collapsed")
    assert collapsed == pytest.approx(math.log(2 * 16 - 1))


def test_spaced_labels_keep_no_two_close_labels():
    x = np.array([0.90, 0.90, 0.89, 0.88, 0.70, 0.50, 0.30])
    y = np.array([0.50, 0.50, 0.49, 0.48, 0.30, 0.10, 0.00])
    got = viz.spaced_labels(x, y, list("abcdefg"), min_gap=0.06)
    assert got == ["a", "", "", "", "e", "f", "g"]
    kept = [i for i, t in enumerate(got) if t]
    scaled = np.stack([x / np.ptp(x), y / np.ptp(y)], 1)
    assert all(np.abs(scaled[i] - scaled[j]).max() >= 0.06 for i in kept for j in kept if i < j)
    assert viz.spaced_labels([1.0], [2.0], ["only"]) == ["only"]  # one point: no range, still labelled


@pytest.mark.parametrize("kwargs, match", [(dict(labels=["a"]), "equal lengths"), (dict(min_gap=0), "min_gap"),
                                           (dict(min_gap=1.5), "min_gap")])
def test_spaced_labels_bad_input(kwargs, match):
    args = dict(x=[0.0, 1.0], y=[0.0, 1.0], labels=["a", "b"])
    with pytest.raises(ValueError, match=match):
        viz.spaced_labels(**{**args, **kwargs})


def _views(n=5, h=6, w=4, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))  # (N, 3, H, W) in [0, 1]


def test_view_montage_tiles_row_by_row_with_white_gaps():
    views = _views()
    out = viz.view_montage(views, columns=3, gap=2)
    assert out.shape == (2 * 6 + 2, 3 * 4 + 2 * 2, 3) and out.dtype == np.uint8  # 2 rows x 3 columns
    for k in range(5):  # an independent loop: tile k at row k // 3, column k % 3, pixel = round(255 v)
        r, c = divmod(k, 3)
        expected = np.rint(views[k].numpy().transpose(1, 2, 0).astype(np.float64) * 255).astype(np.uint8)
        np.testing.assert_array_equal(out[r * 8:r * 8 + 6, c * 6:c * 6 + 4], expected)
    assert (out[6:8] == 255).all() and (out[:, 4:6] == 255).all()  # the gaps
    assert (out[8:, 12:] == 255).all()  # the empty cell after the last view
    np.testing.assert_array_equal(viz.view_montage(views.numpy(), columns=3), out)  # numpy in, same pixels
    assert viz.view_montage(views[:1], columns=4, gap=0).shape == (6, 4 * 4 + 0, 3)
    np.testing.assert_array_equal(viz.view_montage(torch.zeros(1, 3, 2, 2, dtype=torch.float64), gap=0)[:, :2],
                                  np.zeros((2, 2, 3), np.uint8))


def test_view_grid_figure_one_image_trace_of_the_montage():
    views = _views(8, 12, 12)
    fig = viz.view_grid_figure(views, columns=4, title="eight views")
    assert isinstance(fig, go.Figure) and len(fig.data) == 1 and fig.data[0].type == "image"
    np.testing.assert_array_equal(np.array(fig.data[0].z), viz.view_montage(views, columns=4))
    assert fig.layout.title.text == "eight views" and fig.layout.width == 4 * 160 and fig.layout.height == 2 * 170 + 60
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    assert viz.view_grid_figure(views[:3], columns=2).layout.title.text == "3 views"  # the default title
    fig.to_html(include_plotlyjs=False)


def test_view_grid_figure_updates_in_place():
    widget = go.FigureWidget(viz.view_grid_figure(_views(seed=0), columns=3))
    trace = widget.data[0]
    before = np.array(trace.z)
    returned = viz.view_grid_figure(_views(seed=1), columns=3, title="new draw", fig=widget)
    assert returned is widget and widget.data[0] is trace and len(widget.data) == 1  # same figure, same trace
    after = np.array(widget.data[0].z)
    assert after.shape == before.shape and not np.array_equal(after, before)
    np.testing.assert_array_equal(after, viz.view_montage(_views(seed=1), columns=3))
    assert widget.layout.title.text == "new draw"
    with pytest.raises(ValueError, match="not by view_grid_figure"):
        viz.view_grid_figure(_views(), fig=viz.spectrum_figure(_rand(20, 4)))
    with pytest.raises(TypeError, match="fig must be None"):
        viz.view_grid_figure(_views(), fig="figure")


def test_view_grid_figure_on_device(device):
    views = _views()
    fig = viz.view_grid_figure(views.to(device), columns=3)
    np.testing.assert_array_equal(np.array(fig.data[0].z), viz.view_montage(views, columns=3))
    assert views.device.type == "cpu" and torch.equal(views, _views())  # the input is not modified


@pytest.mark.parametrize("views, kwargs, error, match", [
    (torch.rand(3, 6, 6), {}, ValueError, r"views must be a 4-d floating-point tensor \(N, 3, H, W\)"),
    (torch.rand(2, 1, 6, 6), {}, ValueError, r"\(N, 3, H, W\).*got \(2, 1, 6, 6\)"),
    (torch.rand(0, 3, 6, 6), {}, ValueError, "N, H, W >= 1"),
    (torch.full((1, 3, 2, 2), 255.0), {}, ValueError, r"in \[0, 1\], got values in \[255, 255\]"),
    (torch.tensor(float("nan")).expand(1, 3, 2, 2), {}, ValueError, "finite"),
    (torch.zeros(1, 3, 2, 2, dtype=torch.uint8), {}, TypeError, "floating-point"),
    ([[[[0.5]]]], {}, TypeError, "views must be a 4-d"),
    (torch.rand(2, 3, 4, 4), {"columns": 0}, ValueError, "columns"),
    (torch.rand(2, 3, 4, 4), {"columns": 2.5}, TypeError, "columns"),
    (torch.rand(2, 3, 4, 4), {"gap": -1}, ValueError, "gap"),
    (torch.rand(2, 3, 4, 4), {"title": 3}, TypeError, "title"),
])
def test_view_grid_figure_bad_input(views, kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.view_grid_figure(views, **kwargs)
