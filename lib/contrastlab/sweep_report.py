"""The tables, figures and HTML report of a sweep: everything ``sweep`` writes after the runs.

``summarize`` turns the tidy frame of evaluations into one row per grid point (the last step, mean
and 95% Student-t interval over seeds); ``figures`` draws each metric against each swept option and
the training curves; ``report_html`` puts the config, the environment, the table and the figures in
one self-contained page that opens offline.
"""

from __future__ import annotations

import html
import json
import math
from typing import Mapping

__all__ = ["summarize", "figures", "report_html"]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _yaml(obj: object) -> str:
    """YAML in the config's own order, without anchors (a swept list appears twice)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    return yaml.dump(obj, Dumper=Dumper, sort_keys=False, allow_unicode=True)


def _metric_columns(frame, metrics: list[str]) -> list[str]:
    return [m for m in ["loss", *metrics] if m in frame.columns]


def _interval(values) -> tuple[int, float, float]:
    """(n, mean, half-width of the 95% t-interval; NaN for n < 2) of the finite values."""
    import numpy as np
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    n = len(v)
    if n == 0:
        return 0, math.nan, math.nan
    mean = float(v.mean())
    if n < 2:
        return n, mean, math.nan
    return n, mean, float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))


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


def summarize(frame, params: list[str], metrics: list[str]):
    """Per grid point, at each run's last step: n seeds, and per metric the mean and the half-width
    of its 95% t-interval over seeds (``<metric>_ci95``; NaN with one seed)."""
    import pandas as pd

    finals = _finals(frame)
    rows = []
    for values, run_ids in _points(frame, params):
        sel = finals[finals["run_id"].isin(run_ids)]
        row = {**values, "n": len(sel), "step": int(sel["step"].max())}
        for m in metrics:
            _, row[m], row[f"{m}_ci95"] = _interval(sel[m].tolist())
        rows.append(row)
    return pd.DataFrame(rows)


def _label(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "all runs"


def _fmt(mean: float, half: float, n: int) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.4g} ± {half:.2g}" if math.isfinite(half) else f"{mean:.4g} (n={n}, no interval)"


def _numeric(values: list) -> bool:
    return all(_is_number(v) for v in values)


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


def figures(frame, config: dict, params: list[str]) -> list:
    """The report's figures: each metric at the last step against each swept option, the
    alignment-uniformity plane of the grid points (when both are measured) and the training curves."""
    from .viz import alignment_uniformity_figure

    metrics = _metric_columns(frame, config["metrics"])
    points = _points(frame, params)
    summary = summarize(frame, params, metrics)
    finals = _finals(frame)
    out = [_param_figure(summary, finals, points, m, p, params) for m in metrics for p in params]
    if {"alignment", "uniformity"} <= set(metrics) and len(points) > 1:
        dims = {v for v in [config["model"]["out_dim"]] if not isinstance(v, list)}
        records = [{"alignment": summary.iloc[i]["alignment"], "uniformity": summary.iloc[i]["uniformity"],
                    "label": _label(values), **({"knn": summary.iloc[i]["knn"]} if "knn" in metrics else {})}
                   for i, (values, _) in enumerate(points)]
        out.append(alignment_uniformity_figure(
            records, dim=dims.pop() if dims else None, text="label", color="knn" if "knn" in metrics else None,
            title=f"Alignment and uniformity at step {int(summary['step'].max())}, mean over seeds "
                  "(lower-left is better)"))
    out.append(_curves_figure(frame, points, metrics))
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


def report_html(frame, config: dict, environment: dict, params: list[str], failed: Mapping[str, str] = ()) -> str:
    """One self-contained HTML page (plotly.js embedded once, nothing fetched): the question, the final
    metrics per grid point with 95% intervals, the figures, the runs, the config and the environment."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    metrics = _metric_columns(frame, config["metrics"])
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
    n_param_figures = len(metrics) * len(params)
    for i, fig in enumerate(figures(frame, config, params)):  # the training curves always come last
        if i == n_param_figures:
            parts.append("</div>")
        height = fig.layout.height or 400
        parts.append("<div class='figure'>" + pio.to_html(fig, include_plotlyjs=False, full_html=False,
                                                          div_id=f"figure-{i}", default_height=f"{height}px",
                                                          config={"responsive": True}) + "</div>")

    runs = _finals(frame)
    parts.append("<h2>Runs</h2><details><summary>one row per run (last evaluation)</summary>")
    rows = [[r["run_id"], r["seed"], *(r[p] for p in params), r["step"], f"{r.get('seconds', math.nan):.1f}"]
            for r in runs.to_dict("records")]
    parts.append(_table(["run_id", "seed", *params, "step", "seconds"], rows, left=1) + "</details>")
    parts.append("<h2>Config</h2><pre>" + html.escape(_yaml(config)) + "</pre>")
    parts.append("<h2>Environment</h2>" + _table(None, [[k, v] for k, v in environment.items()], left=2))
    parts.append("</body></html>")
    return "\n".join(parts)
