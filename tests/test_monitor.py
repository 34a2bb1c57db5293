"""HealthMonitor: in a plain PyTorch loop, in fit, and each cause alone."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import contrastlab
from contrastlab import data as D
from contrastlab import losses as L
from contrastlab.monitor import MONITOR_CAUSES, HealthMonitor, HealthWarning


def simsiam_loop(stop_gradient: bool, *, steps: int = 200, seed: int = 0) -> tuple[HealthMonitor, list]:
    """SimSiam written out in plain PyTorch (a tiny MLP and predictor), the monitor called every step."""
    torch.manual_seed(seed)
    toy = D.vmf_mixture(512, n_classes=8, dim=16, concentration=15, view_noise=0.15, seed=seed)
    encoder = nn.Sequential(nn.Linear(16, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 32))
    predictor = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32))
    optimizer = torch.optim.SGD([*encoder.parameters(), *predictor.parameters()], lr=0.05, momentum=0.9)
    monitor = HealthMonitor(loss="simsiam", every=10)
    g = torch.Generator().manual_seed(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(steps):
            views = toy.views(torch.randint(0, len(toy), (128,), generator=g), generator=g)  # (B, 2, 16)
            z1, z2 = encoder(views[:, 0]), encoder(views[:, 1])  # (B, 32) each
            p1, p2 = predictor(z1), predictor(z2)
            t1, t2 = (z1.detach(), z2.detach()) if stop_gradient else (z1, z2)
            loss = -(F.cosine_similarity(p1, t2).mean() + F.cosine_similarity(p2, t1).mean()) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            monitor.update(step, z1, z2, loss=loss)
    return monitor, [w for w in caught if issubclass(w.category, HealthWarning)]


def test_simsiam_without_stop_gradient_is_caught_within_a_few_hundred_steps():
    monitor, caught = simsiam_loop(stop_gradient=False)
    assert set(monitor.causes) == {"collapsed_loss", "complete_collapse"}
    assert len(caught) == len(monitor.findings) == 2  # one warning per cause, not one per check
    messages = " ".join(str(w.message) for w in caught)
    assert "loss at its collapsed value" in messages and "complete collapse: std·√d = 0.0" in messages
    frame = monitor.frame
    assert len(frame) == 20 and frame["step"].tolist() == list(range(0, 200, 10))
    assert {"loss", "spread", "anisotropy", "erank", "directions_90", "alignment", "collapsed_loss",
            "raised"} <= set(frame.columns)
    assert frame["spread"].iloc[-1] < 0.1 < frame["spread"].iloc[0]


def test_simsiam_with_stop_gradient_stays_quiet():
    monitor, caught = simsiam_loop(stop_gradient=True)
    assert monitor.findings == [] and caught == []
    assert len(monitor.frame) == 20


def test_each_loss_cause_alone():
    z = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    ref = L.reference_values("nt_xent", batch_size=64, dim=16, temperature=0.5)
    cases = {"chance_loss": ref.chance, "floor_loss": ref.floor, "collapsed_loss": ref.collapsed}
    for cause, value in cases.items():
        monitor = HealthMonitor(loss="nt_xent", temperature=0.5, every=1, warmup=0, patience=1, warn=False)
        monitor.update(0, z, loss=value)
        assert monitor.causes == [cause], (cause, monitor.findings)
    quiet = HealthMonitor(loss="nt_xent", temperature=0.5, every=1, warmup=0, patience=1, warn=False)
    quiet.update(0, z, loss=(ref.chance + ref.floor) / 2)
    assert quiet.causes == []


def test_chance_waits_for_the_warmup_and_causes_for_their_patience():
    z = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    chance = L.reference_values("nt_xent", batch_size=64, dim=16, temperature=0.5).chance
    monitor = HealthMonitor(loss="simclr", temperature=0.5, every=5, warmup=20, patience=2, warn=False)
    for step in range(0, 40):
        monitor.update(step, z, loss=chance)
    (finding,) = monitor.findings
    assert finding.cause == "chance_loss" and finding.message.startswith("step 25: loss at chance level")


def test_a_temperature_pinned_at_its_clamp():
    z = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    monitor = HealthMonitor(temperature_range=(0.01, None), every=1, patience=1)
    monitor.update(0, z, temperature=0.05)
    with pytest.warns(HealthWarning, match=r"temperature pinned at its lower bound: τ = 0.01"):
        monitor.update(1, z, temperature=0.01)
    assert monitor.causes == ["temperature_pinned"]


def test_the_monitor_skips_steps_and_checks_its_arguments():
    monitor = HealthMonitor(every=10)
    assert monitor.update(5, torch.randn(8, 4)) == [] and monitor.records == []
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        HealthMonitor(every=0)
    with pytest.raises(ValueError, match="loss must be one of"):
        HealthMonitor(loss="nonsense")
    with pytest.raises(TypeError, match="z1 must be a torch.Tensor"):
        monitor.update(0, [[1.0, 2.0]])
    assert set(MONITOR_CAUSES) >= {"complete_collapse", "dimensional_collapse", "collapsed_loss", "chance_loss",
                                   "floor_loss", "temperature_pinned"}
    assert contrastlab.HealthMonitor is HealthMonitor


def test_fit_uses_the_same_monitor():
    toy = D.vmf_mixture(600, n_classes=8, concentration=15, view_noise=0.15)
    with pytest.warns(HealthWarning) as caught:
        history = contrastlab.fit(toy, "simsiam", steps=150, batch_size=128, use_predictor=False, progress=False,
                                  eval_every=0, monitor=True)
    assert "complete_collapse" in history.monitor.causes and history.monitor.loss == "negative_cosine"
    assert len(caught) == len(history.monitor.findings) and caught[0].filename.endswith("train.py")
    quiet = HealthMonitor(warn=False)
    history = contrastlab.fit(toy, "simclr", steps=100, batch_size=128, temperature=0.2, progress=False,
                              eval_every=0, monitor=quiet)
    assert history.monitor is quiet and quiet.causes == [] and len(quiet.frame) == 10
    assert quiet.frame["temperature"].iloc[0] == 0.2 and math.isfinite(quiet.frame["chance_loss"].iloc[0])
    assert contrastlab.fit(toy, "simclr", steps=2, batch_size=32, progress=False).monitor is None


def test_the_live_view_follows_the_monitor():
    from contrastlab.interactive.monitor import MonitorView

    monitor = HealthMonitor(loss="nt_xent", temperature=0.5, every=1, patience=1, warn=False)
    view = MonitorView(monitor)
    assert view.figure.layout.title.text == "Health checks (no checks yet)"
    g = torch.Generator().manual_seed(0)
    for step in range(4):
        monitor.update(step, torch.randn(32, 8, generator=g), loss=3.0)
    assert [len(t.x) for t in view.figure.data] == [4, 4, 4, 4]  # loss, spread, erank, anisotropy
    assert len(view.figure.layout.shapes) == 3  # collapsed, chance and floor values of NT-Xent
    monitor.update(4, torch.ones(32, 8) + 1e-5 * torch.randn(32, 8, generator=g), loss=3.0)
    assert view.figure.layout.title.text.endswith("complete_collapse") and "complete collapse" in view.findings.value
    view.close()
    monitor.update(5, torch.randn(32, 8, generator=g), loss=3.0)
    assert len(view.figure.data[0].x) == 5  # no longer listening


def test_a_dimensionally_collapsed_batch():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(64, 2, generator=g))[0]  # (64, 2)
    z = torch.randn(256, 2, generator=g) @ basis.T + 1e-3 * torch.randn(256, 64, generator=g)
    monitor = HealthMonitor(every=1, patience=1, warn=False)
    monitor.update(0, z)
    assert monitor.causes == ["dimensional_collapse"] and "in 2 of 64 directions" in str(monitor.findings[0])


def test_the_dashboards_show_the_monitors_findings():
    from contrastlab.interactive.widgets import CollapseLab

    app = CollapseLab(steps=120)
    app.predictor.value = False  # SimSiam without a predictor collapses
    app.start(background=False)
    assert "complete_collapse" in app.monitor.causes and not app.monitor.warn
    assert "complete collapse: std·√d" in app.health.value


def test_fit_tells_the_monitor_about_clips_clamp():
    monitor = HealthMonitor(warn=False)
    contrastlab.fit(D.paired_modalities(400), "clip", steps=30, batch_size=64, init_scale=99.9, progress=False,
                    eval_every=0, monitor=monitor)
    assert monitor.loss == "clip_loss" and monitor.temperature_range == (0.01, None)
    assert monitor.causes == ["temperature_pinned"] and "the clamp is 0.01" in str(monitor.findings[0])
