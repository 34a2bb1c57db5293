"""The tables, figures and HTML report of a sweep: everything ``sweep`` writes after the runs.

``summarize`` turns the tidy frame of evaluations into one row per grid point (the last step, mean
and 95% Student-t interval over seeds); ``compare`` pairs each grid point with a baseline seed by
seed (a much tighter interval for a difference); ``figures`` draws each metric against each swept
option and the training curves; ``report_html`` puts the config, the environment, the table and the
figures in one self-contained page that opens offline.

A frame returned by ``sweep`` carries what these functions need in ``frame.attrs``: ``params`` (the
swept options), ``config`` (the resolved config) and ``folder`` (the run folder), so
``summarize(frame)``, ``compare(frame, ...)`` and ``figures(frame)`` need no more arguments. A frame
read back from ``results.csv`` has no attrs: pass ``params`` (the keys of ``grid:`` in the folder's
``config.yaml``) and ``config`` (that file, read as YAML).

**Intervals.** Over the n seeds of a grid point: mean ± t_{0.975, n-1} · s / √n (Student's t,
s the sample standard deviation). With one seed there is no interval, and the report says so.
``compare(frame, {"loss.beta": 0.0}, "knn")`` gives the same interval for the difference to a
baseline seed by seed, which is much narrower when the seeds' runs vary together.
"""

from __future__ import annotations

import html
import json
import math
from typing import Mapping

from ..stats import mean_interval
from .config import is_number
from .files import to_yaml

__all__ = ["summarize", "compare", "figures", "report_html", "metric_columns"]


def metric_columns(frame, metrics: list[str]) -> list[str]:
    """The columns of ``frame`` to summarise: ``loss`` and ``metrics``, those it has, in that order."""
    return [m for m in ["loss", *metrics] if m in frame.columns]


def _params(frame, params) -> list[str]:
    """``params`` as given, else the swept options a sweep's frame carries."""
    if params is not None:
        return [params] if isinstance(params, str) else list(params)
    if "params" not in frame.attrs:
        raise ValueError("params: the frame has no attrs['params'] (sweep() sets it; a frame read back from "
                         "results.csv has none); pass params=[the swept options], the keys of grid: in config.yaml")
    return list(frame.attrs["params"])


def _config(frame, config) -> dict:
    """``config`` as given, else the resolved config a sweep's frame carries."""
    if config is not None:
        return config
    if "config" not in frame.attrs:
        raise ValueError("config: the frame has no attrs['config'] (sweep() sets it; a frame read back from "
                         "results.csv has none); pass config=, the run folder's config.yaml read as YAML")
    return frame.attrs["config"]


def _interval(values) -> tuple[int, float, float]:
    """(n, mean, half-width of the 95% t-interval; NaN for n < 2) of the finite values."""
    finite = [x for x in values if x is not None and math.isfinite(x)]
    if not finite:
        return 0, math.nan, math.nan
    interval = mean_interval(finite)
    return interval.n, interval.mean, interval.half_width


def _finals(frame):
    """The last evaluation of each run."""
    return frame.loc[frame.groupby("run_id", sort=False)["step"].idxmax()]


def _points(frame, params: list[str]) -> list[tuple[dict, list[str]]]:
    """The grid points in run order: (swept values, run ids)."""
    points: dict[str, tuple[dict, list[str]]] = {}
    for row in frame.drop_duplicates("run_id")[["run_id", *params]].to_dict("records"):
        values = {p: _plain(row[p]) for p in params}
        points.setdefault(json.dumps(values, sort_keys=True), (values, []))[1].append(row["run_id"])
    return list(points.values())


def _plain(value):
    """numpy / pandas scalars to Python values (NaN read back from a CSV for null becomes None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def summarize(frame, params: list[str] | None = None, metrics: list[str] | None = None):
    """Per grid point, at each run's last step: n seeds, and per metric the mean and the half-width
    of its 95% t-interval over seeds (``<metric>_ci95``; NaN with one seed).

    ``params`` (the swept options) and ``metrics`` default to what a sweep's frame carries in its
    attrs (``loss`` and the config's metrics)."""
    import pandas as pd

    params = _params(frame, params)
    if metrics is None:
        metrics = metric_columns(frame, _config(frame, None)["metrics"])
    finals = _finals(frame)
    rows = []
    for values, run_ids in _points(frame, params):
        sel = finals[finals["run_id"].isin(run_ids)]
        row = {**values, "n": len(sel), "step": int(sel["step"].max())}
        for m in metrics:
            _, row[m], row[f"{m}_ci95"] = _interval(sel[m].tolist())
        rows.append(row)
    return pd.DataFrame(rows)


def compare(frame, baseline: Mapping[str, object], metric: str, *, params: list[str] | None = None):
    r"""Each grid point against its baseline, seed by seed: the mean paired difference of ``metric``
    at the last step, with its 95% Student-t interval.

    .. math:: d_s = m_s(\text{point}) - m_s(\text{baseline}),\qquad
              \bar d \pm t_{0.975,\,n-1}\, s_d/\sqrt{n}\quad\text{over the seeds } s \text{ both ran}

    A point's baseline is the point with the options of ``baseline`` set to the given values:
    ``{"loss.beta": 0.0}`` pairs (τ, β = 1) with (τ, β = 0) at every τ; a baseline that names every
    swept option is one point that all others are compared with. A seed fixes the dataset, the
    initialisation and the batches of every grid point alike, so what makes one seed's runs all
    better or all worse cancels in d: the interval of a paired difference is usually much narrower
    than the per-point intervals of ``summarize``.

    Args:
        frame: a sweep's tidy frame (``sweep`` returns it), one row per run and evaluation.
        baseline: swept option -> its baseline value, e.g. ``{"loss.beta": 0.0}``; each value must be
            in the grid.
        metric: a metric column (``knn``, ``uniformity``, ``loss``, ...).
        params: the swept options; default: the frame's ``attrs["params"]``.
    Returns: a pandas DataFrame, one row per grid point that is not a baseline (in run order): the
        swept options, ``n`` (seeds both points ran, with a finite value), ``diff`` (the mean of d),
        ``ci95`` (the interval's half-width; NaN for n < 2), ``low`` and ``high`` (its ends).
    """
    import pandas as pd

    params = _params(frame, params)
    if metric not in frame.columns:
        raise ValueError(f"metric: got {metric!r}, not a column of the frame; expected one of "
                         f"{[c for c in frame.columns if c not in ('run_id', 'seed', 'step', *params)]}")
    if not isinstance(baseline, Mapping) or not baseline:
        raise ValueError(f"baseline: got {baseline!r}, expected a non-empty mapping of swept options to values, "
                         f"e.g. {{{params[0] if params else 'loss.beta'!r}: 0.0}}")
    points = _points(frame, params)
    fixed = {}
    for key, value in baseline.items():
        if key not in params:
            raise ValueError(f"baseline: {key!r} is not a swept option; the swept options are {params}")
        grid = list(dict.fromkeys(values[key] for values, _ in points))
        value = json.dumps(value) if isinstance(value, (list, tuple)) else value  # lists are JSON text in the frame
        match = [g for g in grid if g == value and isinstance(g, bool) == isinstance(value, bool)]
        if not match:
            raise ValueError(f"baseline: {key}={value!r} is not in the grid; its values are {grid}")
        fixed[key] = match[0]  # the grid's own value: 0 finds 0.0
    finals = _finals(frame)
    by_point = {json.dumps(values, sort_keys=True): run_ids for values, run_ids in points}

    def by_seed(run_ids: list[str]):
        return finals[finals["run_id"].isin(run_ids)].set_index("seed")[metric].astype(float)

    rows = []
    for values, run_ids in points:
        partner = {**values, **fixed}
        if partner == values:
            continue  # a baseline point
        partner_ids = by_point.get(json.dumps(partner, sort_keys=True), [])
        d = (by_seed(run_ids) - by_seed(partner_ids)).dropna()  # (shared seeds,) aligned on the seed
        n, mean, half = _interval(d.tolist())
        rows.append({**values, "n": n, "diff": mean, "ci95": half, "low": mean - half, "high": mean + half})
    out = pd.DataFrame(rows, columns=[*params, "n", "diff", "ci95", "low", "high"])
    out.attrs.update(baseline=dict(fixed), metric=metric)
    return out


def _label(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "all runs"


def _fmt(mean: float, half: float, n: int) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.4g} ± {half:.2g}" if math.isfinite(half) else f"{mean:.4g} (n={n}, no interval)"


def _numeric(values: list) -> bool:
    return all(is_number(v) for v in values)


def _param_figure(summary, finals, points, metric: str, param: str, params: list[str]):
    """``metric`` at the last step against ``param``: mean ± 95% interval per line (one line per
    setting of the other swept options) and each seed's value as a faint dot."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    others = [p for p in params if p != param]
    lines: dict[str, list[int]] = {}
    for i, (values, _) in enumerate(points):
        lines.setdefault(_label({p: values[p] for p in others}), []).append(i)
    xs_all = [values[param] for values, _ in points]
    numeric = _numeric(xs_all)
    positive = numeric and all(x > 0 for x in xs_all)
    log_x = positive and max(xs_all) / min(xs_all) >= 10
    fig = go.Figure()
    palette = qualitative.Plotly
    for j, (label, idx) in enumerate(lines.items()):
        if numeric:
            idx = sorted(idx, key=lambda i: points[i][0][param])
        x = [points[i][0][param] if numeric else str(points[i][0][param]) for i in idx]
        mean = [summary.iloc[i][metric] for i in idx]
        half = [summary.iloc[i][f"{metric}_ci95"] for i in idx]
        color = palette[j % len(palette)]
        fig.add_trace(go.Scatter(
            x=x, y=mean, mode="lines+markers", name=label, legendgroup=label, line=dict(color=color),
            error_y=dict(type="data", array=[h if math.isfinite(h) else 0 for h in half], visible=True),
            hovertemplate=f"{param}=%{{x}}<br>{metric} %{{y:.4g}} ± %{{error_y.array:.2g}}<extra>{label}</extra>"))
        seed_x, seed_y = [], []
        for i in idx:
            sel = finals[finals["run_id"].isin(points[i][1])]
            seed_x += [points[i][0][param] if numeric else str(points[i][0][param])] * len(sel)
            seed_y += sel[metric].tolist()
        fig.add_trace(go.Scatter(x=seed_x, y=seed_y, mode="markers", name=f"{label} (seeds)", legendgroup=label,
                                 showlegend=False, marker=dict(color=color, size=6, opacity=0.5),
                                 hovertemplate=f"one seed: %{{y:.4g}}<extra>{label}</extra>"))
    step = int(summary["step"].max())
    fig.update_layout(template="plotly_white", height=360, margin=dict(l=55, r=20, t=60, b=45),
                      title_text=f"{metric} at step {step} vs {param}",
                      xaxis=dict(title=dict(text=param), type="log" if log_x else ("linear" if numeric else "category"),
                                 **(dict(tickvals=sorted(set(xs_all))) if numeric and len(set(xs_all)) <= 12 else {})),
                      yaxis=dict(title=dict(text=f"{metric} (mean ± 95% CI)")), showlegend=bool(others))
    return fig


def _curves_figure(frame, points, metrics: list[str]):
    """Each metric against the step, one line per grid point (the mean over its seeds)."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=metrics, horizontal_spacing=0.08,
                        vertical_spacing=0.25 / max(rows - 1, 1) if rows > 1 else 0.0)
    palette = qualitative.Plotly
    for j, (values, run_ids) in enumerate(points):
        label, color = _label(values), palette[j % len(palette)]
        mean = frame[frame["run_id"].isin(run_ids)].groupby("step")[metrics].mean()
        for k, m in enumerate(metrics):
            fig.add_trace(go.Scatter(x=mean.index, y=mean[m], mode="lines+markers", name=label, legendgroup=label,
                                     showlegend=k == 0, line=dict(color=color), marker=dict(size=4),
                                     hovertemplate=f"step %{{x}}: %{{y:.4g}}<extra>{label}</extra>"),
                          row=k // cols + 1, col=k % cols + 1)
    fig.update_layout(template="plotly_white", height=300 * rows + 80, margin=dict(l=45, r=20, t=70, b=40),
                      title_text="Training curves (mean over seeds)")
    fig.update_xaxes(title_text="step", row=rows)
    return fig


def figures(frame, config: dict | None = None, params: list[str] | None = None, *,
            metrics: list[str] | None = None) -> dict:
    """The report's figures, keyed by what they show:

    - ``(metric, option)``: the metric at the last step against one swept option, e.g.
      ``figs["knn", "loss.temperature"]`` (every metric against every option);
    - ``"alignment_uniformity"``: the grid points in the alignment-uniformity plane (when both are
      measured and there are two points or more);
    - ``"curves"``: every metric against the step, one line per grid point (the mean over seeds).

    ``config`` (the resolved config) and ``params`` (the swept options) default to what a sweep's
    frame carries in its attrs. ``metrics`` draws only these metric columns (default: ``loss`` and
    the config's metrics), e.g. ``figures(frame, metrics=["knn"])["knn", "loss.temperature"]``.
    Returns: a dict of plotly figures in the report's order (the figures against options, metric
    by metric, then the plane, then the curves).
    """
    from ..interactive.figures import alignment_uniformity_figure

    config, params = _config(frame, config), _params(frame, params)
    if metrics is None:
        metrics = metric_columns(frame, config["metrics"])
    else:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        missing = [m for m in metrics if m not in frame.columns]
        if missing:
            raise ValueError(f"metrics: {missing} are not columns of the frame; measured: "
                             f"{metric_columns(frame, config['metrics'])}")
    points = _points(frame, params)
    summary = summarize(frame, params, metrics)
    finals = _finals(frame)
    out: dict = {(m, p): _param_figure(summary, finals, points, m, p, params) for m in metrics for p in params}
    if {"alignment", "uniformity"} <= set(metrics) and len(points) > 1:
        dims = {v for v in [config["model"]["out_dim"]] if not isinstance(v, list)}
        records = [{"alignment": summary.iloc[i]["alignment"], "uniformity": summary.iloc[i]["uniformity"],
                    "label": _label(values), **({"knn": summary.iloc[i]["knn"]} if "knn" in metrics else {})}
                   for i, (values, _) in enumerate(points)]
        out["alignment_uniformity"] = alignment_uniformity_figure(
            records, dim=dims.pop() if dims else None, text="label", color="knn" if "knn" in metrics else None,
            title=f"Alignment and uniformity at step {int(summary['step'].max())}, mean over seeds "
                  "(lower-left is better)")
    out["curves"] = _curves_figure(frame, points, metrics)
    return out


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } .muted { color: #666; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 4px 9px; text-align: right; } th { background: #f4f4f4; }
td.left, th.left { text-align: left; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.figure { margin: 1.2em 0; min-width: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 0 1em; }
"""


def _table(header: list[str] | None, rows: list[list[str]], left: int = 0) -> str:
    cls = lambda j: ' class="left"' if j < left else ""  # noqa: E731
    head = "".join(f"<th{cls(j)}>{html.escape(h)}</th>" for j, h in enumerate(header or []))
    body = "".join("<tr>" + "".join(f"<td{cls(j)}>{html.escape(str(c))}</td>" for j, c in enumerate(r)) + "</tr>"
                   for r in rows)
    head = f"<thead><tr>{head}</tr></thead>" if header else ""
    return f"<table>{head}<tbody>{body}</tbody></table>"


def report_html(frame, config: dict | None = None, environment: dict | None = None, params: list[str] | None = None,
                failed: Mapping[str, str] = ()) -> str:
    """One self-contained HTML page (plotly.js embedded once, nothing fetched): the question, the final
    metrics per grid point with 95% intervals, the figures, the runs, the config and the environment.

    ``config`` and ``params`` default to the frame's attrs; ``environment`` to the run folder's
    ``environment.json`` (the folder named by ``attrs["folder"]``), else nothing."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    config, params = _config(frame, config), _params(frame, params)
    if environment is None:
        from pathlib import Path

        path = Path(frame.attrs.get("folder", "")) / "environment.json"
        environment = json.loads(path.read_text()) if "folder" in frame.attrs and path.is_file() else {}
    metrics = metric_columns(frame, config["metrics"])
    summary = summarize(frame, params, metrics)
    points = _points(frame, params)
    n_seeds = sorted(set(summary["n"]))
    step = int(summary["step"].max())
    name = html.escape(config["name"])
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Sweep {name}</title>",
             f"<style>{_CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
             f"<h1>Sweep {name}</h1>",
             f"<p class='muted'>{environment.get('finished', environment.get('started', ''))} · "
             f"{frame['run_id'].nunique()} runs · device {html.escape(str(environment.get('device')))} · "
             f"contrastlab {html.escape(str(environment.get('contrastlab')))}</p>"]
    if config.get("description"):
        parts.append(f"<p><b>Question.</b> {html.escape(config['description'])}</p>")
    swept = ", ".join(f"<code>{html.escape(p)}</code>" for p in params) or "nothing (seeds only)"
    setup = " ".join(f"{s}.name={config[s]['name']}" for s in ("loss", "data"))
    parts.append(f"<p>Swept: {swept}; seeds {html.escape(str(config['seeds']))}; {html.escape(setup)}.</p>")
    if failed:
        parts.append(f"<p><b>{len(failed)} run(s) failed</b> and are left out: "
                     + "; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in failed.items()) + "</p>")

    parts.append(f"<h2>Final metrics</h2><p>At step {step}: mean ± the half-width of the 95% interval over seeds, "
                 "mean ± t<sub>0.975, n−1</sub>·s/√n (Student's t, s the sample standard deviation).")
    if n_seeds == [1]:
        parts.append(" <b>Each grid point has one seed, so there is no interval</b>: add seeds to see the spread.")
    parts.append("</p>")
    rows = [[*(values[p] for p in params), int(summary.iloc[i]["n"]),
             *(_fmt(summary.iloc[i][m], summary.iloc[i][f"{m}_ci95"], int(summary.iloc[i]["n"])) for m in metrics)]
            for i, (values, _) in enumerate(points)]
    parts.append(_table([*params, "n", *metrics], rows, left=len(params)))

    parts.append("<h2>Figures</h2><p>Each metric at the last step against each swept option: the mean over seeds "
                 "with its 95% interval as error bars, each seed as a faint dot, one line per setting of the other "
                 "swept options.</p><div class='grid'>")
    in_grid = True
    for i, (key, fig) in enumerate(figures(frame, config, params, metrics=metrics).items()):
        if in_grid and not isinstance(key, tuple):  # the plane and the curves: full width, after the grid
            parts.append("</div>")
            in_grid = False
        height = fig.layout.height or 400
        parts.append("<div class='figure'>" + pio.to_html(fig, include_plotlyjs=False, full_html=False,
                                                          div_id=f"figure-{i}", default_height=f"{height}px",
                                                          config={"responsive": True}) + "</div>")

    runs = _finals(frame)
    parts.append("<h2>Runs</h2><details><summary>one row per run (last evaluation)</summary>")
    rows = [[r["run_id"], r["seed"], *(r[p] for p in params), r["step"], f"{r.get('seconds', math.nan):.1f}"]
            for r in runs.to_dict("records")]
    parts.append(_table(["run_id", "seed", *params, "step", "seconds"], rows, left=1) + "</details>")
    parts.append("<h2>Config</h2><pre>" + html.escape(to_yaml(config)) + "</pre>")
    parts.append("<h2>Environment</h2>" + _table(None, [[k, v] for k, v in environment.items()], left=2))
    parts.append("</body></html>")
    return "\n".join(parts)
