"""The widgets' logic, called directly: figures update in place, debouncing keeps only the last value."""

import asyncio
import math

import numpy as np
import pytest
import torch

from contrastlab.interactive import widgets as Wd


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
    ({"variance": True}, ("vicreg", {"var_weight": 25.0, "cov_weight": 0.0})),
    ({"negatives": True}, ("simclr", {"temperature": 0.2})),
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


def test_negative_shares_reduce_to_the_softmax_at_beta_zero():
    s = np.array([0.5, 0.2, -0.1])
    np.testing.assert_allclose(Wd.negative_shares(s, temperature=0.5, beta=0.0),
                               torch.softmax(torch.tensor(s) / 0.5, 0).numpy())


def test_embedding_explorer():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(120) % 3
    z = torch.randn(120, 16, generator=g) + 4 * torch.eye(3, 16)[labels]
    images = torch.rand(120, 1, 8, 8, generator=g)
    app = Wd.EmbeddingExplorer(z, labels, images=images)
    assert "PCA" in titles(app.figure) and len(app.figure.data) == 3
    assert "<table" in app.sample_html(5) and "label 2" in app.sample_html(5)
    app.method.value = "umap"
    app.run()
    assert "UMAP" in titles(app.figure) and app.progress.value == 1.0
    texts = Wd.EmbeddingExplorer(z, labels, texts=[f"sentence {i}" for i in range(120)], label_names=["a", "b", "c"])
    assert "sentence 7" in texts.sample_html(7) and "<b>b</b>" in texts.sample_html(7)
