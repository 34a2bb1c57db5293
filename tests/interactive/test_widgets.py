"""The widgets' logic, called directly: figures update in place, debouncing keeps only the last value,
the choices come from the core's registries and the sliders start at the losses' defaults."""

import ast
import asyncio
import inspect
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastlab import augment as A
from contrastlab import data as D
from contrastlab import losses as L
from contrastlab import methods as Me
from contrastlab import metrics as M
from contrastlab.interactive import figures as viz
from contrastlab.interactive import widgets as Wd


def signature_default(fn, name):
    return inspect.signature(fn).parameters[name].default


def titles(fig):
    return fig.layout.title.text


def test_debouncer_without_a_loop_calls_at_once():
    seen = []
    d = Wd.Debouncer(seen.append)
    d(1)
    d(2)
    assert seen == [1, 2] and d.calls == 2


def test_debouncer_in_a_loop_computes_only_the_latest_value():
    seen = []

    async def burst():
        d = Wd.Debouncer(seen.append, delay=0.02)
        for value in range(20):  # a fast slider drag
            d(value)
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.1)
        return d.calls

    assert asyncio.run(burst()) == 1 and seen == [19]


def test_temperature_explorer_starts_at_info_nces_default():
    app = Wd.TemperatureExplorer()
    default = signature_default(L.info_nce, "temperature")
    assert app.temperature == default and app.slider.value == pytest.approx(default)
    assert f"τ = {default:.3g}" in titles(app.figure)


def test_temperature_explorer_shares_are_metrics_negative_shares():
    app = Wd.TemperatureExplorer(temperature=0.3)
    s = torch.tensor(Wd.DEFAULT_SIMILARITIES, dtype=torch.float64)
    shares = M.negative_shares(s[None], temperature=0.3, positive_index=torch.tensor([0]))[0, 1:].numpy()
    np.testing.assert_array_equal(app.figure.data[1].y, shares)
    e = np.exp(s.numpy()[1:] / 0.3)  # what the figure computed itself before: p_neg / sum(p_neg)
    np.testing.assert_allclose(app.figure.data[1].y, e / e.sum(), rtol=1e-12)


def test_temperature_explorer_updates_in_place():
    app = Wd.TemperatureExplorer(temperature=0.5)
    fig = app.figure
    bars_before = np.array(fig.data[0].y)
    app.set_temperature(0.05)
    assert app.figure is fig  # the same FigureWidget, redrawn in place
    assert "0.05" in titles(fig)
    bars_after = np.array(fig.data[0].y)
    assert bars_after.max() > bars_before.max()  # a sharper softmax at a lower temperature
    p = torch.softmax(torch.tensor(Wd.DEFAULT_SIMILARITIES) / 0.05, 0).numpy()
    np.testing.assert_allclose(bars_after, p, rtol=1e-6)


def test_temperature_explorer_on_the_learners_similarities():
    app = Wd.TemperatureExplorer()
    app.text.value = "0.9, 0.85, 0.1"  # as if typed into the box
    assert len(app.figure.data[0].y) == 3 and app.message.value == ""
    app.text.value = "0.9, banana"
    assert "numbers separated by commas" in app.message.value
    assert len(app.figure.data[0].y) == 3  # the last valid figure stays
    with pytest.raises(ValueError, match=r"lie in \[-1, 1\]"):
        Wd.parse_similarities("0.5, 2")


def test_temperature_explorer_slider_drives_the_figure():
    app = Wd.TemperatureExplorer(temperature=0.5)
    app.slider.value = 0.1  # no event loop here: the debouncer calls at once
    assert "0.1" in titles(app.figure)


def test_training_dashboard_choices_are_the_registries_applicable_entries():
    app = Wd.TrainingDashboard()
    assert list(app.dataset.options) == [name for name in D.DATASETS
                                         if not D.is_paired(name) and not D.reads_files(name)]
    assert list(app.method.options) == [name for name, cls in Me.METHODS.items() if not cls.paired]
    assert "paired_modalities" not in app.dataset.options and "clip" not in app.method.options
    assert set(Wd.DATASET_PRESETS) <= set(app.dataset.options)  # presets are keyed by registry names
    assert app.CURVES == ("loss", *M.DEFAULT_METRICS) and set(app.CURVES[1:]) <= set(M.METRICS)
    assert set(Wd.CollapseLab.CURVES[1:]) <= set(M.METRICS)
    assert not hasattr(Wd, "DATASETS") and not hasattr(Wd.TrainingDashboard, "METHODS")  # no copies


def test_make_dataset_applies_the_presets():
    vmf = Wd.make_dataset("vmf_mixture", seed=1)
    assert len(vmf) == 2000 and int(vmf.labels.max()) + 1 == Wd.DATASET_PRESETS["vmf_mixture"]["n_classes"]
    plain = Wd.make_dataset("feature_mix")  # no preset: the generator's own defaults
    assert len(plain) == len(D.feature_mix())
    with pytest.raises(ValueError, match="dataset must be one of"):
        Wd.make_dataset("vMF clusters")


def test_training_dashboard_temperature_starts_at_and_follows_the_setups_default():
    app = Wd.TrainingDashboard()
    assert app.method.value == "simclr"
    assert app.temperature.value == pytest.approx(signature_default(Me.METHODS["simclr"], "temperature"))
    assert app.temperature.value == pytest.approx(signature_default(L.nt_xent, "temperature"))  # its loss's own
    for name in app.method.options:
        app.method.value = name
        cls = Me.METHODS[name]
        options = app._fit_arguments()[2]
        if "temperature" in inspect.signature(cls).parameters:
            default = Me.loss_default(cls, "temperature")
            assert not app.temperature.disabled and app.temperature.value == pytest.approx(default), name
            assert options["temperature"] == pytest.approx(default), name
        else:
            assert app.temperature.disabled and "temperature" not in options, name
    assert Wd.TrainingDashboard(method="debiased").temperature.value == pytest.approx(
        signature_default(L.debiased_nt_xent, "temperature"))


def test_training_dashboard_trains_and_redraws():
    app = Wd.TrainingDashboard(steps=30)
    app.out_dim.value = 2
    app.batch_size.value = 64
    app.start(background=False)
    assert app.history is not None and app.history.last()["step"] == 30
    assert app.progress.value == 30 and "done" in app.status.value
    curve = app.curves.data[0]  # the loss: every evaluation but the untrained one (no loss yet)
    assert list(curve.x) == [r["step"] for r in app.history.records if not math.isnan(r["loss"])]
    points = np.concatenate([np.array(t.x) for t in app.embedding_figure.data if t.mode == "markers"])
    assert len(points) == 512  # the evaluation subset, drawn on the circle


def test_training_dashboard_stops_from_the_stop_button():
    app = Wd.TrainingDashboard(steps=2000)
    app.start()  # background thread, as in the notebook
    deadline = __import__("time").time() + 30
    while app.progress.value < 10 and __import__("time").time() < deadline:
        __import__("time").sleep(0.05)
    app.stop_button.click()
    app.wait(30)
    assert not app.running and app.history.interrupted and app.history.last()["step"] < 2000
    assert not app.start_button.disabled and app.stop_button.disabled


@pytest.mark.parametrize("toggles, expected", [
    ({}, ("simsiam", {"stop_gradient": True, "use_predictor": True})),
    ({"stop_gradient": False}, ("simsiam", {"stop_gradient": False, "use_predictor": True})),
    ({"ema": True, "predictor": False}, ("byol", {"ema": True, "use_predictor": False})),
    ({"variance": True}, ("vicreg", {"var_weight": signature_default(L.vicreg, "var_weight"), "cov_weight": 0.0})),
    ({"covariance": True}, ("vicreg", {"var_weight": 0.0, "cov_weight": signature_default(L.vicreg, "cov_weight")})),
    ({"negatives": True}, ("simclr", {"temperature": signature_default(Me.SimCLR, "temperature")})),
])
def test_collapse_lab_recipes(toggles, expected):
    app = Wd.CollapseLab()
    for name, value in toggles.items():
        getattr(app, name).value = value
    assert app.recipe_for() == expected
    assert expected[0] in app.recipe.value


def test_collapse_lab_shows_collapse():
    app = Wd.CollapseLab(steps=200)
    app.predictor.value = False
    app.start(background=False)
    assert app.history.last()["std"] < 0.2 / math.sqrt(32)
    assert "effective rank" in titles(app.spectrum)
    # the figure shows std·√d (d = 32, the projection's size), read against its spread value 1 = std of 1/√d
    curve = next(t for t in app.curves.data if t.name == "std·√d")
    recorded = [(r["step"], r["std"]) for r in app.history.records if r.get("std") is not None]
    assert list(curve.x) == [step for step, _ in recorded]
    np.testing.assert_allclose(curve.y, [std * math.sqrt(32) for _, std in recorded], rtol=1e-6)
    assert curve.y[-1] < 0.2 and "std" not in [t.name for t in app.curves.data]
    spread = [s for s in app.curves.layout.shapes if s.name == "spread"]
    assert len(spread) == 1 and spread[0].y0 == spread[0].y1 == 1 and spread[0].yref == curve.yaxis
    assert Wd.CollapseLab.SPREAD_LABEL in [a.text for a in app.curves.layout.annotations]


def test_collapse_lab_curve_records_scale_the_std():
    records = [{"step": 0, "std": 0.25, "loss": float("nan")}, {"step": 10, "std": None}, {"step": 20, "std": 0.0}]
    history = type("History", (), {"records": records})()
    out = Wd.CollapseLab.curve_records(history, 16)
    assert [r.get("std·√d") for r in out] == [1.0, None, 0.0]  # 0.25 · √16 = 1: spread
    assert "std·√d" not in records[0]  # the history is not modified
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        Wd.CollapseLab.curve_records(history, 0)


def test_hard_negative_explorer():
    app = Wd.HardNegativeExplorer(n=128, n_classes=4)
    s = app.state()
    assert s["oracle"] < s["nt_xent"]  # removing false negatives lowers the loss
    assert s["collision_rate"] == pytest.approx(0.25, abs=0.02)
    share_before = titles(app.figure)
    app.beta.value = 5.0
    assert titles(app.figure) != share_before and "β = 5.00" in titles(app.figure)
    weights = np.array(app.figure.data[0].y)
    assert weights.sum() == pytest.approx(1.0) and weights[0] == weights.max()  # hardest first, most weight
    kept_high = app.state()["false_negatives_kept"]
    app.ceiling.value = 0.5
    assert app.state()["false_negatives_kept"] <= kept_high
    assert "false negatives" in app.summary.value


def test_hard_negative_explorer_starts_at_the_losss_defaults_and_draws_metrics_negative_shares():
    app = Wd.HardNegativeExplorer(n=64, n_classes=4)
    assert app.temperature.value == pytest.approx(signature_default(L.hard_negative_nt_xent, "temperature"))
    assert app.beta.value == signature_default(L.hard_negative_nt_xent, "beta")
    assert app.tau_plus.value == 1 / 4
    app.temperature.value, app.beta.value = 0.1, 2.0
    sims, false = app._anchor_negatives()
    assert np.all(np.diff(sims) <= 0) and len(sims) == 63  # hardest first, the anchor's own positive left out
    shares = M.negative_shares(torch.from_numpy(sims)[None], temperature=0.1, beta=2.0)[0].numpy()
    np.testing.assert_array_equal(app.figure.data[0].y, shares)
    old = torch.softmax(torch.as_tensor(3.0 * sims / 0.1), 0).numpy()  # the app's own formula before
    np.testing.assert_allclose(app.figure.data[0].y, old, rtol=1e-12)
    assert f"{shares[false].sum():.0%} of the weight" in titles(app.figure)


def _relative_imports(path):
    return [(node.level, node.module) for node in ast.walk(ast.parse(Path(path).read_text()))
            if isinstance(node, ast.ImportFrom) and node.level > 0]


def test_widgets_compose_public_pieces_and_build_no_figure():
    for level, module in _relative_imports(Wd.__file__):
        if level == 2:  # the core: a package's public face, never a file inside it such as losses.debiased
            assert module is None or "." not in module, module
    tree = ast.parse(Path(Wd.__file__).read_text())
    built = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
             and node.func.value.id == "go"}
    assert built <= {"FigureWidget"}, built  # every figure comes from a builder of interactive.figures
    assert not hasattr(Wd, "negative_shares") and not hasattr(Wd, "_embedding_figure")


def test_embedding_explorer():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(120) % 3
    z = torch.randn(120, 16, generator=g) + 4 * torch.eye(3, 16)[labels]
    images = torch.rand(120, 1, 8, 8, generator=g)
    app = Wd.EmbeddingExplorer(z, labels, images=images)
    assert "PCA" in titles(app.figure) and len(app.figure.data) == 3
    assert "<table" in app.sample_html(5) and "label 2" in app.sample_html(5)

    class Hovered:  # what plotly passes to a hover callback
        point_inds = [1]

    app._hover(app.figure.data[2], Hovered, None)
    assert "label 2" in app.sample.value and int(app.figure.data[2].customdata[1]) == 5
    app.method.value = "umap"
    app.run()
    assert "UMAP" in titles(app.figure) and app.progress.value == 1.0
    texts = Wd.EmbeddingExplorer(z, labels, texts=[f"sentence {i}" for i in range(120)], label_names=["a", "b", "c"])
    assert "sentence 7" in texts.sample_html(7) and "<b>b</b>" in texts.sample_html(7)


def test_the_training_apps_draw_the_losss_reference_values():
    dashboard = Wd.TrainingDashboard(steps=20)
    dashboard.start(background=False)
    lines = {shape.name: shape.y0 for shape in dashboard.curves.layout.shapes if shape.name}
    assert {"reference:collapsed", "reference:chance", "reference:floor"} <= set(lines), lines
    assert lines["reference:collapsed"] == pytest.approx(math.log(2 * 128 - 1))  # nt_xent, batch 128


def test_views_explorer_draws_the_image_and_its_views_in_place():
    images = torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    app = Wd.ViewsExplorer(images, ops=("crop", "color"), n_views=5, columns=3, labels=["a", "b", "c"])
    assert app.ops == ("crop", "color") and len(app.figure.data) == 1
    views = app.views()  # (1 + 5, 3, 12, 12): the image, then augment.view_grid's views
    assert views.shape == (6, 3, 12, 12) and torch.equal(views[0], images[0])
    torch.testing.assert_close(views[1:], A.view_grid(images[0], ("crop", "color"), n_views=5, seed=0))
    montage = app.montage()  # 2 rows x 3 columns of 12-pixel tiles, 2-pixel gaps
    assert montage.shape == (26, 40, 3) and montage.dtype == np.uint8
    np.testing.assert_array_equal(montage[:12, :12], (images[0].permute(1, 2, 0) * 255).round().byte().numpy())
    assert (montage[12:14] == 255).all()  # the gap between the rows
    np.testing.assert_array_equal(np.array(app.figure.data[0].z), montage)
    assert viz.view_grid_figure(views.clamp(0, 1), columns=3, fig=app.figure) is app.figure  # the builder's own figure
    trace = app.figure.data[0]
    before = np.array(trace.z)
    app.strength.value = 0.0  # identity: every tile is the image itself
    assert app.figure.data[0] is trace  # the same trace, new data
    after = np.array(app.figure.data[0].z)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after[:12, 14:26], after[:12, :12])
    app.image.value = 2
    assert "image 2 (c)" in app.figure.layout.title.text and "crop + color" in app.figure.layout.title.text
    app.checks["color"].value = False
    app.strength.value = 1.0
    assert app.ops == ("crop",) and "crop" in app.summary.value and "color" not in app.summary.value
    with pytest.raises(ValueError, match="images"):
        Wd.ViewsExplorer(torch.rand(3, 12, 12))
