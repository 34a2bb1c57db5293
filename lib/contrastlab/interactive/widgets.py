"""Live ipywidgets apps composed from ``figures`` and ``train``.

Each app is a class whose ``.widget`` is the thing to display (``display(app)`` works too). Its logic
lives in plain methods (``set_temperature``, ``start``, ...) that the tests call directly, and every
figure is a plotly ``FigureWidget`` built once by a builder of ``figures`` and then updated in place
by the same builder (``fig=``), so a slider move sends only the changed trace data, never a new page.
The apps build no figure of their own.

What the apps offer comes from the core's registries, never from a copy: the datasets from
``data.DATASETS`` (the unpaired ones), the set-ups from ``methods.METHODS`` (those that train on
unpaired data), the curves from ``metrics.DEFAULT_METRICS``, and every starting value of a
hyperparameter from the default of the loss or set-up it feeds (``methods.loss_default``). The one
thing kept here is ``DATASET_PRESETS``: smaller or easier knobs for a dataset, keyed by its name.

Rules every app follows:
- slider moves are debounced (``Debouncer``): only the latest value is computed, never a queue of
  stale ones;
- anything that may take more than about a second (training, UMAP) runs behind a button, in a
  background thread, with a progress bar and a Stop button;
- everything runs on the CPU; a GPU is used when present.
"""

from __future__ import annotations

import asyncio
import html
import inspect
import threading
import time
from typing import Callable

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch

from .. import augment as A
from .. import data as D
from .. import losses as L
from .. import metrics as M
from ..losses import hard_negative_from_logits, negative_logits
from ..methods import METHODS, loss_default
from ..monitor import HealthMonitor
from ..runtime import default_device
from ..samplers import mine_hard_negatives
from ..train import FitState, fit
from . import figures as viz
from .diagnosis import Diagnosis, diagnose, diagnosis_figure
from .projection import project

__all__ = ["Debouncer", "TemperatureExplorer", "TrainingDashboard", "CollapseLab", "HardNegativeExplorer",
           "EmbeddingExplorer", "DATASET_PRESETS", "training_datasets", "training_methods", "make_dataset",
           "method_temperature", "DiagnosisApp", "ViewsExplorer"]


class Debouncer:
    """Call ``fn`` with the latest arguments once no new call has come for ``delay`` seconds.

    Inside a running event loop (a Jupyter kernel) calls are coalesced with ``loop.call_later``; with
    no loop (plain Python, tests) the call happens at once. Either way only the newest value is ever
    computed: a burst of slider events costs one update, not one per event.
    """

    def __init__(self, fn: Callable, delay: float = 0.04):
        self.fn, self.delay = fn, delay
        self._handle: asyncio.TimerHandle | None = None
        self.calls = 0  # how many times fn actually ran (the tests read it)

    def _run(self, *args, **kwargs):
        self._handle = None
        self.calls += 1
        self.fn(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.delay <= 0:
            self._run(*args, **kwargs)
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_later(self.delay, lambda: self._run(*args, **kwargs))


def _figure_widget(fig: go.Figure, width: int | None = None) -> go.FigureWidget:
    """Wrap a figure for in-place updates; a fixed ``width`` lets two figures sit side by side."""
    widget = go.FigureWidget(fig)
    if width is not None:
        widget.layout.width = width
    return widget


class _App:
    widget: W.Widget

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


# --- 1. temperature ----------------------------------------------------------------------------

DEFAULT_SIMILARITIES = (0.8, 0.7, 0.6, 0.3, 0.1, 0.0, -0.2, -0.5)  # the positive first, then negatives


def parse_similarities(text: str) -> np.ndarray:
    """'0.8, 0.5, -0.1' -> array; the first value is the positive. Raises ValueError with what is wrong."""
    try:
        values = np.array([float(v) for v in text.replace(";", ",").split(",") if v.strip()], dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"similarities must be numbers separated by commas, got {text!r}") from error
    if len(values) < 2:
        raise ValueError(f"need the positive and at least one negative, got {len(values)} value(s)")
    if np.any(np.abs(values) > 1):
        raise ValueError(f"cosine similarities lie in [-1, 1], got {values[np.abs(values) > 1].tolist()}")
    return values


class TemperatureExplorer(_App):
    """τ slider (log scale) -> the softmax over one anchor's candidates, the share of the gradient each
    negative receives, and the loss; on a fixed similarity set or the learner's own (edit the text box).
    τ starts at ``losses.info_nce``'s default."""

    def __init__(self, similarities=DEFAULT_SIMILARITIES,
                 temperature: float = loss_default(L.info_nce, "temperature")):
        self.similarities = np.asarray(similarities, dtype=np.float64)
        self.temperature = float(temperature)
        self.figure = _figure_widget(viz.softmax_bars(self.similarities, temperature=self.temperature))
        self.slider = W.FloatLogSlider(value=self.temperature, base=10, min=-2, max=1, step=0.05,
                                       description="τ", continuous_update=True, readout_format=".3g",
                                       layout=W.Layout(width="420px"))
        self.text = W.Text(value=", ".join(f"{v:g}" for v in self.similarities), description="similarities",
                           continuous_update=False, layout=W.Layout(width="420px"))
        self.message = W.HTML()
        self._debounced = Debouncer(self.set_temperature)
        self.slider.observe(lambda change: self._debounced(change["new"]), names="value")
        self.text.observe(lambda change: self.set_similarities(change["new"]), names="value")
        self.widget = W.VBox([W.HBox([self.slider, self.text]), self.message, self.figure])

    def set_temperature(self, temperature: float) -> None:
        self.temperature = float(temperature)
        self._redraw()

    def set_similarities(self, text_or_values) -> None:
        try:
            values = parse_similarities(text_or_values) if isinstance(text_or_values, str) else \
                np.asarray(text_or_values, dtype=np.float64)
        except ValueError as error:
            self.message.value = f"<span style='color:#b00'>{error}</span>"
            return
        self.message.value = ""
        self.similarities = values
        self._redraw()

    def _redraw(self) -> None:
        viz.softmax_bars(self.similarities, temperature=self.temperature, fig=self.figure)


# --- 2 and 3. training in the background ---------------------------------------------------------

# Knobs that make a dataset of ``data.DATASETS`` small or easy enough to train on live (keyed by its
# name; a dataset without an entry is drawn with its own defaults). Presets, not a list: the apps
# offer every unpaired dataset of the registry.
DATASET_PRESETS: dict[str, dict] = {
    "vmf_mixture": dict(n=2000, n_classes=8, concentration=15, view_noise=0.15),
    "latent_mlp": dict(n=2000),
}


def training_datasets() -> list[str]:
    """The datasets the training apps offer: every unpaired one of ``data.DATASETS`` that builds from its
    knobs alone (not ``arrays``, which reads the user's files: ``data.reads_files``), in its order."""
    return [name for name in D.DATASETS if not D.is_paired(name) and not D.reads_files(name)]


def training_methods() -> list[str]:
    """The set-ups the training dashboard offers: every one of ``methods.METHODS`` that trains on
    unpaired data (two views of one input), in its order."""
    return [name for name, cls in METHODS.items() if not cls.paired]


def make_dataset(name: str, seed: int = 0) -> D.ToyData:
    """The dataset ``name`` of ``data.DATASETS``, with its ``DATASET_PRESETS`` knobs."""
    if name not in D.DATASETS:
        raise ValueError(f"dataset must be one of {sorted(D.DATASETS)}, got {name!r}")
    return D.DATASETS[name](**DATASET_PRESETS.get(name, {}), seed=seed)


def method_temperature(name: str) -> float | None:
    """The default temperature of the set-up ``name`` (its loss's own), or None when it has none."""
    cls = METHODS[name]
    return loss_default(cls, "temperature") if "temperature" in inspect.signature(cls).parameters else None


class _Trainer(_App):
    """Runs ``fit`` in a background thread; the figures are redrawn from its callback.

    Each run has a ``HealthMonitor`` (``self.monitor``, the one ``fit(monitor=...)`` and your own loops
    use, without Python warnings); its findings are shown in ``self.health`` as they are raised."""

    eval_every = 10

    def _reference(self, state: FitState):
        """The loss's collapsed, chance and floor values for this run (``losses.reference_values``),
        worked out at its first evaluation and drawn as dashed lines on the loss curve."""
        if getattr(self, "_reference_run", None) is not state.history:
            self._reference_run, self._reference_values = state.history, viz.history_reference(state.history)
        return self._reference_values

    def _build_controls(self):
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=1, description="step", layout=W.Layout(width="300px"))
        self.status = W.HTML()
        self.health = W.HTML()
        self.monitor: HealthMonitor | None = None
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.history = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _fit_arguments(self) -> tuple[D.ToyData, str, dict]:
        raise NotImplementedError

    def _on_eval(self, state: FitState) -> None:
        raise NotImplementedError

    def _callback(self, state: FitState) -> bool:
        self.progress.value = state.step
        self._on_eval(state)
        self._show_health()
        return self._stop.is_set()

    def _show_health(self) -> None:
        """The monitor's findings so far, one line each (nothing while the run is healthy)."""
        findings = [] if self.monitor is None else self.monitor.findings
        self.health.value = "".join(f"<div style='color:#b00'>⚠ {html.escape(str(f))}</div>" for f in findings)

    def start(self, *, background: bool = True) -> None:
        """Train with the current settings; ``background=False`` blocks (tests, scripts)."""
        if self.running:
            return
        data, method, options = self._fit_arguments()
        steps = options.pop("steps")
        self._stop.clear()
        self.progress.max, self.progress.value = steps, 0
        self.start_button.disabled, self.stop_button.disabled = True, False
        self.status.value = f"training {method} on {data.name}..."
        self.monitor = HealthMonitor(warn=False)
        self.health.value = ""

        def run():
            started = time.perf_counter()
            try:
                self.history = fit(data, method, steps=steps, eval_every=self.eval_every, eval_size=512,
                                   progress=False, callbacks=[self._callback], device=default_device(),
                                   monitor=self.monitor, **options)
                self._show_health()
                what = "stopped" if self.history.interrupted else "done"
                self.status.value = f"{what}: {self.history.last()['step']} steps in {time.perf_counter() - started:.1f} s"
            except Exception as error:  # shown in the app rather than lost in the thread
                self.status.value = f"<span style='color:#b00'>{type(error).__name__}: {error}</span>"
                raise
            finally:
                self.start_button.disabled, self.stop_button.disabled = False, True

        if background:
            self._thread = threading.Thread(target=run, daemon=True)
            self._thread.start()
        else:
            run()

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


MAX_CLASSES = 10  # class traces the embedding figures reserve (the digits have 10 classes)


def _placeholder_embedding(dim: int) -> go.FigureWidget:
    """An embedding figure of the right kind for ``dim``, before the first evaluation."""
    return _figure_widget(viz.embedding_figure(torch.randn(8, dim), torch.zeros(8, dtype=torch.long),
                                               classes=MAX_CLASSES), width=440)


class TrainingDashboard(_Trainer):
    """Choose a dataset, a set-up, τ and the batch size; Start/Stop; the embedding, the loss and the
    training metrics (``metrics.DEFAULT_METRICS``) are redrawn in place every few steps.

    The τ slider starts at the selected set-up's default (its loss's own) and moves to the new
    set-up's default when another is chosen; it is disabled for a set-up without a temperature."""

    CURVES = ("loss", *M.DEFAULT_METRICS)

    def __init__(self, *, steps: int = 400, seed: int = 0, method: str = "simclr"):
        self._build_controls()
        self.seed = seed
        self.dataset = W.Dropdown(options=training_datasets(), value="vmf_mixture", description="data")
        self.method = W.Dropdown(options=training_methods(), value=method, description="set-up")
        self.temperature = W.FloatLogSlider(value=0.1, base=10, min=-2, max=0, step=0.05, description="τ",
                                            readout_format=".3g")
        self._follow_method()
        self.method.observe(lambda change: self._follow_method(), names="value")
        self.batch_size = W.Dropdown(options=[16, 32, 64, 128, 256, 512], value=128, description="batch")
        self.out_dim = W.Dropdown(options=[("2 (circle)", 2), ("3 (sphere)", 3), ("32 (PCA view)", 32)], value=3,
                                  description="embedding")
        self.steps = W.IntText(value=steps, description="steps", layout=W.Layout(width="180px"))
        self.embedding_figure = _placeholder_embedding(self.out_dim.value)
        self.curves = _figure_widget(viz.training_curves([], metrics=self.CURVES), width=660)
        self.out_dim.observe(lambda change: self._reset_embedding_figure(), names="value")
        controls = W.VBox([W.HBox([self.dataset, self.method, self.temperature]),
                           W.HBox([self.batch_size, self.out_dim, self.steps]),
                           W.HBox([self.start_button, self.stop_button, self.progress, self.status]), self.health])
        self._figures = W.HBox([self.embedding_figure, self.curves])
        self.widget = W.VBox([controls, self._figures])

    def _follow_method(self) -> None:
        """Put the τ slider at the selected set-up's default, or disable it if the set-up has no τ."""
        default = method_temperature(self.method.value)
        self.temperature.disabled = default is None
        if default is not None:
            self.temperature.value = default

    def _reset_embedding_figure(self):
        # a circle and a sphere have different traces: a new embedding size needs a new figure
        self.embedding_figure = _placeholder_embedding(self.out_dim.value)
        self._figures.children = (self.embedding_figure, self.curves)

    def _fit_arguments(self):
        data = make_dataset(self.dataset.value, self.seed)
        options = dict(steps=int(self.steps.value), batch_size=min(int(self.batch_size.value), len(data)),
                       out_dim=int(self.out_dim.value), seed=self.seed)
        if method_temperature(self.method.value) is not None:
            options["temperature"] = float(self.temperature.value)
        return data, self.method.value, options

    def _on_eval(self, state: FitState) -> None:
        viz.embedding_figure(state.projections, state.labels, fig=self.embedding_figure)
        viz.training_curves(state.history, metrics=self.CURVES, fig=self.curves, reference=self._reference(state))


class CollapseLab(_Trainer):
    """Toggle the ingredients that keep a siamese network from collapsing and watch std·√d (the
    per-dimension std of the normalised embedding times √d, drawn against its spread value 1, a std of
    1/√d; 0 when collapsed), the effective rank and the singular-value spectrum live.

    The toggles map to a set-up: negatives on -> SimCLR (contrastive); else variance/covariance on ->
    VICReg with those terms; else EMA on -> BYOL; else SimSiam with the chosen stop-gradient/predictor.
    """

    CURVES = ("loss", "std", "erank", "uniformity")  # what fit records; "std" is drawn as std·√d
    SHOWN = ("loss", "std·√d", "erank", "uniformity")  # the curves on screen
    SPREAD_LABEL = "spread: std = 1/√d"

    def __init__(self, *, steps: int = 300, seed: int = 0):
        self._build_controls()
        self.seed = seed
        self.stop_gradient = W.Checkbox(value=True, description="stop-gradient")
        self.predictor = W.Checkbox(value=True, description="predictor")
        self.ema = W.Checkbox(value=False, description="EMA target")
        self.variance = W.Checkbox(value=False, description="variance term")
        self.covariance = W.Checkbox(value=False, description="covariance term")
        self.negatives = W.Checkbox(value=False, description="negatives")
        self.steps = W.IntText(value=steps, description="steps", layout=W.Layout(width="180px"))
        self.recipe = W.HTML()
        for box in self.toggles:
            box.observe(lambda change: self._describe(), names="value")
        self._describe()
        self.spectrum = _figure_widget(viz.spectrum_figure(torch.randn(64, 32), center=False), width=420)
        self.curves = _figure_widget(viz.training_curves([], metrics=self.SHOWN), width=640)
        self._spread_reference(self.curves)
        self.widget = W.VBox([W.HBox(self.toggles[:3]), W.HBox(self.toggles[3:]), self.recipe,
                              W.HBox([self.steps, self.start_button, self.stop_button, self.progress, self.status]),
                              self.health, W.HBox([self.curves, self.spectrum])])

    @property
    def toggles(self) -> list[W.Checkbox]:
        return [self.stop_gradient, self.predictor, self.ema, self.variance, self.covariance, self.negatives]

    def recipe_for(self) -> tuple[str, dict]:
        """The set-up the toggles describe: (method name, options); a term that is on has its
        set-up's default weight (and SimCLR its default τ)."""
        if self.negatives.value:
            return "simclr", {"temperature": method_temperature("simclr")}
        if self.variance.value or self.covariance.value:
            vicreg = METHODS["vicreg"]
            return "vicreg", {"var_weight": loss_default(vicreg, "var_weight") if self.variance.value else 0.0,
                              "cov_weight": loss_default(vicreg, "cov_weight") if self.covariance.value else 0.0}
        if self.ema.value:
            return "byol", {"ema": True, "use_predictor": self.predictor.value}
        return "simsiam", {"stop_gradient": self.stop_gradient.value, "use_predictor": self.predictor.value}

    def _describe(self) -> None:
        method, options = self.recipe_for()
        settings = ", ".join(f"{k}={v}" for k, v in options.items())
        self.recipe.value = f"set-up: <b>{method}</b>({settings})"

    def _fit_arguments(self):
        method, options = self.recipe_for()
        data = make_dataset("vmf_mixture", self.seed)
        return data, method, dict(options, steps=int(self.steps.value), batch_size=128, seed=self.seed)

    @staticmethod
    def curve_records(history, dim: int) -> list[dict]:
        r"""The records of ``history`` with "std·√d" added: the per-dimension std of the normalised
        embedding (``metrics.collapse_std``, recorded as "std") times :math:`\sqrt{dim}`. It is about 1
        for embeddings spread over the sphere (std :math:`\approx 1/\sqrt{d}`) and 0 for a complete
        collapse, whatever the dimension d (notebook 07 reads it the same way)."""
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1 (the embedding dimension), got {dim!r}")
        scale = float(np.sqrt(dim))
        return [dict(r, **{"std·√d": r["std"] * scale}) if r.get("std") is not None else dict(r)
                for r in history.records]

    def _spread_reference(self, fig) -> None:
        """A dashed line at std·√d = 1 (std = 1/√d, a spread embedding) on the std·√d plot; a shape,
        so redrawing the curves keeps it."""
        trace = next(t for t in fig.data if t.name == "std·√d")
        xref, yref = f"{trace.xaxis or 'x'} domain", trace.yaxis or "y"
        fig.add_shape(type="line", xref=xref, yref=yref, x0=0, x1=1, y0=1, y1=1, name="spread",
                      line=dict(color="#2ca02c", width=1, dash="dash"))
        fig.add_annotation(xref=xref, yref=yref, x=1, y=1, text=self.SPREAD_LABEL, name="spread", showarrow=False,
                           xanchor="right", yanchor="bottom", font=dict(size=10, color="#2ca02c"))

    def _on_eval(self, state: FitState) -> None:
        records = self.curve_records(state.history, state.projections.shape[1])
        viz.training_curves(records, fig=self.curves, reference=self._reference(state))
        # uncentred, like the "erank" curve: a collapsed batch is one dominant singular value (the mean)
        viz.spectrum_figure(state.projections, center=False, fig=self.spectrum)


# --- 4. hard and false negatives -----------------------------------------------------------------

class HardNegativeExplorer(_App):
    """β, τ⁺, τ and a similarity ceiling on one batch of a class-structured toy whose labels are known:
    which negatives get the weight, how many of them are really same-class (false) negatives, and what
    the miner keeps below the ceiling.

    τ and β start at ``losses.hard_negative_nt_xent``'s defaults; τ⁺ starts at 1/K, the true share
    of same-class negatives of K balanced classes (the quantity τ⁺ estimates)."""

    def __init__(self, *, n: int = 256, n_classes: int = 8, anchor: int = 0, seed: int = 0):
        toy = D.vmf_mixture(n, n_classes=n_classes, dim=8, concentration=8, view_noise=0.2, seed=seed)
        views = toy.views(generator=toy.generator(seed))
        self.z1, self.z2, self.labels = views[:, 0], views[:, 1], toy.labels
        self.anchor = anchor
        self._cache: dict = {}
        loss = L.hard_negative_nt_xent
        self.beta = W.FloatSlider(value=loss_default(loss, "beta"), min=0.0, max=5.0, step=0.1, description="β")
        self.tau_plus = W.FloatSlider(value=1 / n_classes, min=0.0, max=0.5, step=0.01, description="τ⁺")
        self.temperature = W.FloatLogSlider(value=loss_default(loss, "temperature"), base=10, min=-2, max=0,
                                            step=0.05, description="τ", readout_format=".3g")
        self.ceiling = W.FloatSlider(value=0.9, min=0.0, max=1.0, step=0.01, description="ceiling")
        self.k = W.IntSlider(value=16, min=1, max=64, description="top-k")
        self.summary = W.HTML()
        self.figure = _figure_widget(self._bars_figure())
        debounced = Debouncer(self.update)
        for slider in (self.beta, self.tau_plus, self.temperature, self.ceiling, self.k):
            slider.observe(lambda change: debounced(), names="value")
        self.widget = W.VBox([W.HBox([self.beta, self.tau_plus, self.temperature]), W.HBox([self.ceiling, self.k]),
                              self.summary, self.figure])
        self.update()

    def _anchor_negatives(self):
        return self._cached(("anchor",), self._sorted_anchor_negatives)

    def _sorted_anchor_negatives(self) -> tuple[np.ndarray, np.ndarray]:
        """The anchor's similarities to its N - 1 negatives, hardest first (N - 1,), and which of them
        share its class (N - 1,) bool."""
        s = M.similarity_matrix(self.z1[self.anchor:self.anchor + 1], self.z2)[0].double().numpy()  # (N,)
        others = np.array([j for j in range(len(s)) if j != self.anchor])  # (N - 1,)
        order = others[np.argsort(-s[others], kind="stable")]  # hardest first
        false = (self.labels[order] == self.labels[self.anchor]).numpy()  # (N - 1,)
        return s[order], false

    def _bars_figure(self, fig=None):
        sims, false = self._anchor_negatives()
        return viz.negative_weights_figure(sims, temperature=float(self.temperature.value),
                                           beta=float(self.beta.value), same_class=false,
                                           ceiling=float(self.ceiling.value), fig=fig)

    def _cached(self, key: tuple, compute: Callable):
        """Each quantity is recomputed only when a slider it depends on moves: the β slider costs one
        loss, the ceiling slider one mining pass."""
        if key not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = compute()
        return self._cache[key]

    @torch.no_grad()
    def state(self) -> dict:
        """The numbers the app shows, computed from the current settings."""
        tau, tau_plus, beta = float(self.temperature.value), float(self.tau_plus.value), float(self.beta.value)
        ceiling, k = float(self.ceiling.value), int(self.k.value)
        z1, z2, y = self.z1, self.z2, self.labels
        mined = self._cached(("miner", ceiling, k), lambda: mine_hard_negatives(z1, z2, k=k, ceiling=ceiling, labels=y))
        return dict(
            nt_xent=self._cached(("nt_xent", tau), lambda: float(L.nt_xent(z1, z2, temperature=tau))),
            debiased=self._cached(("debiased", tau, tau_plus), lambda: float(
                L.debiased_nt_xent(z1, z2, temperature=tau, tau_plus=tau_plus))),
            hard_negative=self._cached(("hard", tau, tau_plus, beta), lambda: float(hard_negative_from_logits(
                *self._cached(("logits", tau), lambda: negative_logits(z1, z2, tau)),
                temperature=tau, tau_plus=tau_plus, beta=beta))),
            oracle=self._cached(("oracle", tau), lambda: float(L.oracle_nt_xent(z1, z2, y, temperature=tau))),
            false_negatives_kept=mined.false_negatives_kept, false_negatives_dropped=mined.false_negatives_dropped,
            mined=int(mined.indices.numel()), collision_rate=M.collision_rate(y))

    def update(self) -> None:
        s = self.state()
        self.summary.value = (
            f"losses on this batch: NT-Xent {s['nt_xent']:.3f} · debiased {s['debiased']:.3f} · "
            f"hard-negative {s['hard_negative']:.3f} · oracle (no false negatives) {s['oracle']:.3f}<br>"
            f"miner: top-{self.k.value} below similarity {self.ceiling.value:.2f} kept "
            f"<b>{s['false_negatives_kept']}</b> false negatives of {s['mined']} mined "
            f"(the ceiling dropped {s['false_negatives_dropped']}); class-collision rate "
            f"{s['collision_rate']:.3f}")
        self._bars_figure(fig=self.figure)


# --- 5. embeddings ------------------------------------------------------------------------------

class EmbeddingExplorer(_App):
    """A projection of embeddings coloured by label; hovering a point shows its sample (a digit image or
    a sentence). UMAP runs behind a button (PCA is drawn at once)."""

    def __init__(self, embeddings, labels, *, images=None, texts=None, label_names=None):
        self.embeddings = torch.as_tensor(embeddings).detach().float().cpu()
        self.labels = torch.as_tensor(labels).cpu()
        self.images = None if images is None else torch.as_tensor(images).detach().cpu().reshape(len(self.labels), 8, 8)
        self.texts = texts
        self.label_names = label_names
        self.method = W.ToggleButtons(options=["pca", "umap"], value="pca", description="projection")
        self.run_button = W.Button(description="Project", icon="refresh")
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="200px"))
        self.status = W.HTML()
        self.sample = W.HTML(layout=W.Layout(width="240px"))
        self.coordinates = project(self.embeddings, "pca")
        self.figure = _figure_widget(self._scatter(), width=620)
        for trace in self.figure.data:
            trace.on_hover(self._hover)
        self.run_button.on_click(lambda _: self.run())
        self.widget = W.VBox([W.HBox([self.method, self.run_button, self.progress, self.status]),
                              W.HBox([self.figure, self.sample])])

    def _class_name(self, label: int) -> str:
        return self.label_names[label] if self.label_names is not None else str(label)

    def _scatter(self, fig=None):
        classes = sorted(set(self.labels.tolist()))  # class traces in label order
        return viz.projection_figure(self.coordinates, [self._class_name(c) for c in self.labels.tolist()],
                                     text=self.texts, classes=[self._class_name(c) for c in classes],
                                     title=f"{self.method.value.upper()} of {len(self.labels)} embeddings", fig=fig)

    def run(self) -> None:
        """Compute the chosen projection (UMAP behind this button: it may take a few seconds)."""
        self.progress.value = 0.1
        self.status.value = f"computing {self.method.value}..."
        started = time.perf_counter()
        self.coordinates = project(self.embeddings, self.method.value,
                                   on_wait=lambda message: setattr(self.status, "value", message))
        self._scatter(fig=self.figure)
        self.progress.value = 1.0
        self.status.value = f"{self.method.value} in {time.perf_counter() - started:.1f} s"

    def sample_html(self, index: int) -> str:
        """What hovering sample ``index`` shows."""
        name = self._class_name(int(self.labels[index]))
        if self.images is not None:
            image = self.images[index].numpy()
            cells = "".join(
                "<tr>" + "".join(f"<td style='width:16px;height:16px;padding:0;background:rgb({255 - int(255 * v)},"
                                 f"{255 - int(255 * v)},{255 - int(255 * v)})'></td>" for v in row) + "</tr>"
                for row in np.clip(image, 0, 1))
            return f"<b>label {name}</b><table style='border-collapse:collapse'>{cells}</table>"
        text = self.texts[index] if self.texts is not None else f"sample {index}"
        return f"<b>{name}</b><p>{text}</p>"

    def _hover(self, trace, points, state):
        if points.point_inds:
            self.sample.value = self.sample_html(int(trace.customdata[points.point_inds[0]]))


# --- 6. diagnose your own embeddings ------------------------------------------------------------

class DiagnosisApp(_App):
    """Load an embedding file (or pass arrays), see its diagnosis (``contrastlab.diagnose``: the findings,
    the table and the figure) and explore its rows (an ``EmbeddingExplorer`` of the diagnosed sample,
    hover for the sentence when ``texts`` are given). Load reads what the text boxes name, with
    ``data.load_array`` (the reader of ``contrastlab diagnose``)."""

    def __init__(self, embeddings=None, labels=None, *, texts=None, label_names=None):
        self.file = W.Text(description="file", placeholder="embeddings.npy / .npz / .pt / .csv / .parquet",
                           layout=W.Layout(width="420px"))
        self.key = W.Text(description="key", placeholder="array or column", layout=W.Layout(width="220px"))
        self.labels_file = W.Text(description="labels", placeholder="optional: a file of labels",
                                  layout=W.Layout(width="420px"))
        self.labels_key = W.Text(description="labels key", layout=W.Layout(width="220px"))
        self.load_button = W.Button(description="Load", icon="folder-open")
        self.status = W.HTML()
        self.findings = W.HTML()
        self.table = W.HTML()
        self.figure_box = W.Box()
        self.explorer_box = W.Box()
        self.diagnosis: Diagnosis | None = None
        self.explorer: EmbeddingExplorer | None = None
        self.load_button.on_click(lambda _: self.load())
        self.widget = W.VBox([W.HBox([self.file, self.key]), W.HBox([self.labels_file, self.labels_key,
                                                                     self.load_button]),
                              self.status, self.findings, self.figure_box, self.explorer_box, self.table])
        if embeddings is not None:
            self.show(embeddings, labels, texts=texts, label_names=label_names)

    def load(self, path: str | None = None, *, key: str | None = None, labels: str | None = None,
             labels_key: str | None = None, texts=None, label_names=None) -> None:
        """Read the files (the text boxes' values unless given) and show their diagnosis; a file that
        cannot be read is named in the status line. ``texts`` (one per row) are shown on hover."""
        path = path if path is not None else self.file.value.strip()
        key = key if key is not None else (self.key.value.strip() or None)
        labels = labels if labels is not None else (self.labels_file.value.strip() or None)
        labels_key = labels_key if labels_key is not None else (self.labels_key.value.strip() or None)
        self.file.value, self.key.value = path, key or ""
        self.labels_file.value, self.labels_key.value = labels or "", labels_key or ""
        try:
            x = D.load_array(path, key)
            y = None if labels is None else D.integer_labels(D.load_array(labels, labels_key), labels)
            self.show(x, y, texts=texts, label_names=label_names)
        except (OSError, ValueError, TypeError) as error:
            self.status.value = f"<span style='color:#b00'>{html.escape(str(error))}</span>"

    def show(self, embeddings, labels=None, *, texts=None, label_names=None) -> Diagnosis:
        """Diagnose ``embeddings`` (and ``labels``) and redraw everything."""
        started = time.perf_counter()
        self.status.value = "diagnosing..."
        d = diagnose(embeddings, labels=labels)
        self.diagnosis = d
        items = "".join(f"<li>{html.escape(str(f))}</li>" for f in d.findings) or "<li>none: no threshold crossed</li>"
        self.findings.value = f"<b>findings</b><ul>{items}</ul>"
        self.table.value = d.table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
        self.figure_box.children = (_figure_widget(diagnosis_figure(d, label_names=label_names), width=1100),)
        sample_labels = d.sample_labels if d.sample_labels is not None else torch.zeros(len(d.sample), dtype=torch.long)
        sample_texts = None if texts is None else [texts[i] for i in d.sample]
        self.explorer = EmbeddingExplorer(d.sample_embeddings, sample_labels, texts=sample_texts,
                                          label_names=label_names)
        self.explorer_box.children = (self.explorer.widget,)
        self.status.value = (f"{d.stats['rows']} rows x {d.stats['dim']} dims diagnosed in "
                             f"{time.perf_counter() - started:.1f} s; {d.notes[0]}")
        return d


# --- 7. views of one image ------------------------------------------------------------------------

class ViewsExplorer(_App):
    """Compose SimCLR's augmentations (``augment.OPS``, one checkbox each) at a strength and see one image
    beside ``n_views`` random views of it; every control redraws the same image trace in place.

    ``views()`` and ``montage()`` are the plain functions underneath (``augment.view_grid``); the ``draw``
    slider is the views' seed. Starts from SimCLR's full recipe at strength 1 unless ``ops`` says otherwise.
    """

    def __init__(self, images: torch.Tensor, *, ops=A.OPS, strength: float = 1.0, n_views: int = 7,
                 columns: int = 4, seed: int = 0, labels: list[str] | None = None):
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3 or len(images) < 1:
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be a (N, 3, H, W) tensor of RGB images in [0, 1], got {got}")
        self.images, self.n_views, self.columns = images.detach().float().cpu(), int(n_views), int(columns)
        self.labels = labels
        chosen = A.op_names(ops)
        self.image = W.IntSlider(value=0, min=0, max=len(images) - 1, description="image", continuous_update=True)
        self.strength = W.FloatSlider(value=float(strength), min=0.0, max=1.0, step=0.05, description="strength",
                                      continuous_update=True)
        self.seed = W.IntSlider(value=int(seed), min=0, max=99, description="draw", continuous_update=True)
        self.checks = {name: W.Checkbox(value=name in chosen, description=name, indent=False,
                                        layout=W.Layout(width="110px")) for name in A.OPS}
        self.summary = W.HTML()
        self.figure = _figure_widget(viz.view_grid_figure(self._shown(), columns=self.columns, title=self._title()))
        debounced = Debouncer(self.update)
        for control in (self.image, self.strength, self.seed, *self.checks.values()):
            control.observe(lambda change: debounced(), names="value")
        self.widget = W.VBox([W.HBox([self.image, self.strength, self.seed]), W.HBox(list(self.checks.values())),
                              self.summary, self.figure])
        self.update()

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(name for name, box in self.checks.items() if box.value)

    def views(self) -> torch.Tensor:
        """(1 + n_views, 3, H, W): the chosen image, then its views under the current settings."""
        image = self.images[int(self.image.value)]  # (3, H, W)
        views = A.view_grid(image, self.ops, strength=float(self.strength.value), n_views=self.n_views,
                            seed=int(self.seed.value))
        return torch.cat([image[None], views])

    def _shown(self) -> torch.Tensor:
        """``views()`` clamped to [0, 1], as the figure draws them."""
        return self.views().clamp(0, 1)

    def montage(self) -> np.ndarray:
        """(rows H + gaps, columns W + gaps, 3) uint8: ``views()`` tiled row by row, white 2-pixel gaps
        (``figures.view_montage``, what the figure's image trace shows)."""
        return viz.view_montage(self._shown(), columns=self.columns)

    def _title(self) -> str:
        name = "" if self.labels is None else f" ({self.labels[int(self.image.value)]})"
        ops = " + ".join(self.ops) or "no op (identity)"
        return (f"image {int(self.image.value)}{name}, then {self.n_views} views: {ops}, "
                f"strength {self.strength.value:.2f}")

    def update(self) -> None:
        """Redraw the montage and the title in place (``figures.view_grid_figure``: the same trace, new data)."""
        recipe = A.recipe(self.ops, strength=float(self.strength.value))
        def value(v) -> str:
            return f"({v[0]:.2f}, {v[1]:.2f})" if isinstance(v, tuple) else f"{v:.3g}"

        parts = [f"<b>{op.name}</b> " + ", ".join(f"{k}={value(v)}" for k, v in op.kwargs.items()) for op in recipe.ops]
        self.summary.value = "the recipe: " + (" → ".join(parts) or "identity (no op ticked)")
        viz.view_grid_figure(self._shown(), columns=self.columns, title=self._title(), fig=self.figure)
