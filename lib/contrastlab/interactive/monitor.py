"""A live view of a ``HealthMonitor`` in Jupyter: its curves redrawn at each check, its findings listed.

    monitor = contrastlab.HealthMonitor(loss="simsiam")
    view = MonitorView(monitor)     # display(view) or view.widget, then run your loop
    for step, ...:
        monitor.update(step, z1, z2, loss=loss)   # the figure and the findings follow

The view listens to the monitor (``monitor.listeners``); the curves are
``figures.training_curves`` of ``monitor.records``, updated in place, with the loss's collapsed,
chance and floor values (``losses.reference_values``) as dashed lines once the monitor knows them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as W
import plotly.graph_objects as go

from ..monitor import HealthMonitor
from . import figures as viz

__all__ = ["MonitorView", "CURVES"]

CURVES = ("loss", "spread", "erank", "anisotropy")
"""The columns of ``monitor.records`` a view draws by default."""

_LINES = {"collapsed_loss": "#d62728", "chance_loss": "#7f7f7f", "floor_loss": "#2ca02c"}


class MonitorView:
    """The monitor's curves (``metrics``: columns of its records) and findings, live; ``.widget`` to display.

    ``refresh()`` redraws from the records (the monitor calls it after each check); ``close()`` stops
    listening."""

    def __init__(self, monitor: HealthMonitor, *, metrics: Sequence[str] = CURVES):
        if not isinstance(monitor, HealthMonitor):
            raise TypeError(f"monitor must be a contrastlab.HealthMonitor, got {type(monitor).__name__}")
        self.monitor = monitor
        self.metrics = tuple(metrics)
        self.figure = go.FigureWidget(viz.training_curves(monitor.records, metrics=self.metrics,
                                                          title="Health checks (no checks yet)"))
        self.findings = W.HTML()
        self.widget = W.VBox([self.findings, self.figure])
        self._listener = lambda _monitor, _record: self.refresh()
        monitor.listeners.append(self._listener)
        self.refresh()

    def refresh(self) -> None:
        records = self.monitor.records
        last = records[-1]["step"] if records else None
        title = (f"Health checks ({len(records)}, last step {last}): "
                 + (", ".join(self.monitor.causes) or "healthy")) if records else "Health checks (no checks yet)"
        viz.training_curves(records, metrics=self.metrics, title=title, fig=self.figure)
        if records and "loss" in self.metrics:
            self._reference_lines(records)
        items = "".join(f"<li style='color:#b00'>{html.escape(str(f))}</li>" for f in self.monitor.findings)
        self.findings.value = f"<ul>{items}</ul>" if items else ""

    def _reference_lines(self, records: list[dict]) -> None:
        """Dashed lines at the loss's reference values, in the loss's subplot (drawn once they are known)."""
        index = [t.name for t in self.figure.data].index("loss") if any(t.name == "loss" for t in self.figure.data) \
            else None
        if index is None:
            return
        trace = self.figure.data[index]
        xaxis, yaxis = trace.xaxis or "x", trace.yaxis or "y"
        shapes = []
        for column, color in _LINES.items():
            value = records[-1].get(column)
            if value is not None and value == value:
                shapes.append(dict(type="line", xref=f"{xaxis} domain", x0=0, x1=1, yref=yaxis, y0=value, y1=value,
                                   line=dict(color=color, dash="dash", width=1), name=column))
        self.figure.layout.shapes = shapes

    def close(self) -> None:
        if self._listener in self.monitor.listeners:
            self.monitor.listeners.remove(self._listener)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
