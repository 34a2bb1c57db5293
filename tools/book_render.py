"""Turn an executed notebook into a page that shows everything offline: figures, math and widgets.

nbconvert's HTML exporter drops plotly's ``application/vnd.plotly.v1+json`` outputs, asks a CDN for
MathJax and leaves live widgets blank. ``prepare(nb)`` rewrites an executed notebook in place so
that the exporter (with the ``book`` template beside this file) writes a page with no outside
request:

- every plotly figure becomes a ``<div>`` drawn by ``plotly.min.js``, one local copy shared by the
  pages (``copy_plotly``), interactive as in JupyterLab (hover, zoom);
- every ``$...$`` / ``$$...$$`` in markdown becomes MathML, rendered at build time by latex2mathml
  (browsers draw MathML natively, so the page needs no script and no font download for math);
- every live widget becomes a static picture of its initial state: its plotly
  figures (``FigureWidget`` state stored by nbclient) and its controls' values, with a one-line note
  that it is live in JupyterLab.

``verdicts(nb)`` and ``key_figure(nb)`` feed the index page.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
import shutil
from pathlib import Path

import numpy as np

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TEMPLATE_DIR = Path(__file__).resolve().parent / "book_template"
PLOTLY_JS = "plotly.min.js"
LIVE_NOTE = "Live widget: run this notebook in JupyterLab to use it. Shown here as a static picture of its figures as first drawn."

_ids = itertools.count()


# --------------------------------------------------------------------------- plotly

def copy_plotly(out: Path) -> Path:
    """Copy the plotly.js that ships inside the plotly package to ``out/plotly.min.js``."""
    import plotly

    source = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    target = out / PLOTLY_JS
    shutil.copyfile(source, target)
    return target


def _script_json(obj: object) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")


def figure_html(figure: dict, *, thumbnail: bool = False) -> str:
    """A ``<div>`` and the script that draws ``figure`` ({"data": [...], "layout": {...}}) with plotly.js."""
    div = f"contrastlab-fig-{next(_ids)}"
    layout = dict(figure.get("layout", {}))
    config = {"responsive": True, "displaylogo": False}
    if thumbnail:
        layout.update(width=320, height=200, showlegend=False, title=None, margin=dict(l=20, r=10, t=10, b=20))
        config = {"staticPlot": True}
    height = layout.get("height") or 450
    return (f'<div id="{div}" class="contrastlab-figure" style="min-height:{int(height)}px"></div>\n'
            f'<script>Plotly.newPlot("{div}", {_script_json(figure.get("data", []))}, '
            f'{_script_json(layout)}, {_script_json(config)});</script>')


# --------------------------------------------------------------------------- math

_CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]+`)", re.S)
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?![\s$])(.+?)(?<![\s\\])\$(?!\d)", re.S)


def math_to_mathml(markdown: str) -> tuple[str, list[str]]:
    """Replace the LaTeX math of a markdown source by MathML; code spans and blocks are left alone.

    Returns the new source and the LaTeX of every span that could not be converted (left as it was).
    """
    from latex2mathml.converter import convert

    failures: list[str] = []

    def render(match: re.Match) -> str:
        display, tex = (True, match.group(1)) if match.group(1) is not None else (False, match.group(2))
        try:
            mathml = convert(tex.strip(), display="block" if display else "inline")
        except Exception:  # noqa: BLE001 (any parser error: keep the source, report it)
            failures.append(tex)
            return match.group(0)
        return mathml.replace("\n", " ")

    parts = _CODE.split(markdown)  # odd items are code
    for i in range(0, len(parts), 2):
        parts[i] = _MATH.sub(render, parts[i])
    return "".join(parts), failures


_NAMESPACED = re.compile(r"(</?)ns\d+:")
_NAMESPACE_DECLARATION = re.compile(r' xmlns:ns\d+="http://www\.w3\.org/1998/Math/MathML"')


def plain_mathml(page: str) -> str:
    """Undo the ``ns0:math`` prefixes that nbconvert's heading renderer (an XML round trip, to add the
    anchor link) puts on MathML inside a heading: HTML draws ``<math>``, not ``<ns0:math>``."""
    return _NAMESPACE_DECLARATION.sub("", _NAMESPACED.sub(r"\1", page))


def inline_html(markdown: str) -> str:
    """One line of markdown (a learning goal) as HTML: math as MathML, `code`, **bold**, the rest escaped."""
    from latex2mathml.converter import convert

    parts, last = [], 0
    for match in _MATH.finditer(markdown):
        parts.append(_inline_text(markdown[last:match.start()]))
        tex = match.group(1) if match.group(1) is not None else match.group(2)
        try:
            parts.append(convert(tex.strip(), display="inline").replace("\n", " "))
        except Exception:  # noqa: BLE001 (keep the source, escaped, rather than fail the index)
            parts.append(html.escape(match.group(0)))
        last = match.end()
    parts.append(_inline_text(markdown[last:]))
    return "".join(parts)


def _inline_text(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


# --------------------------------------------------------------------------- widgets

_NUMPY_DTYPES = {"float64": "<f8", "float32": "<f4", "int64": "<i8", "int32": "<i4", "int16": "<i2", "int8": "i1",
                 "uint8": "u1", "uint16": "<u2", "uint32": "<u4", "bool": "?"}


def _with_buffers(model: dict) -> dict:
    """A widget model's state with its binary buffers put back in place, as plain lists."""
    state = json.loads(json.dumps(model.get("state", {})))
    for buffer in model.get("buffers", []):
        path = list(buffer["path"])
        if path and path[-1] == "buffer":  # plotly's typed-array spec {"dtype", "shape", "buffer"}
            path.pop()
        parent = state
        try:
            for key in path[:-1]:
                parent = parent[key]
            spec = parent[path[-1]] if isinstance(parent[path[-1]], dict) else {}
        except (KeyError, IndexError, TypeError):  # a buffer of a field the picture does not draw
            continue
        raw = base64.b64decode(buffer["data"])
        array = np.frombuffer(raw, dtype=_NUMPY_DTYPES.get(spec.get("dtype", "float64"), "<f8"))
        if spec.get("shape"):
            array = array.reshape(spec["shape"])
        parent[path[-1]] = array.tolist()
    return state


def _children(state: dict) -> list[str]:
    ids = []
    for key in ("children", "_children"):
        for ref in state.get(key, []) or []:
            if isinstance(ref, str) and ref.startswith("IPY_MODEL_"):
                ids.append(ref[len("IPY_MODEL_"):])
    return ids


def _control_text(name: str, state: dict) -> str | None:
    """'description: value' of a control, or None for layout and style models."""
    if name.endswith(("LayoutModel", "StyleModel")) or name in ("HBoxModel", "VBoxModel", "BoxModel", "AnyModel",
                                                                  "OutputModel", "GridBoxModel", "TabModel"):
        return None
    label = state.get("description") or state.get("tooltip") or ""
    if name in ("HTMLModel", "HTMLMathModel", "LabelModel"):
        text = re.sub(r"<[^>]+>", " ", str(state.get("value", ""))).strip()
        return html.escape(text) if text else None
    if name == "ButtonModel":
        return f"[{html.escape(label or 'button')}]"
    if "value" not in state:
        return None
    value = state["value"]
    if "options" in state or "_options_labels" in state:
        labels = state.get("_options_labels") or []
        index = state.get("index")
        if isinstance(index, int) and 0 <= index < len(labels):
            value = labels[index]
    if isinstance(value, float):
        value = f"{value:.4g}"
    return f"{html.escape(str(label))}: <b>{html.escape(str(value))}</b>" if label else html.escape(str(value))


def widget_html(model_id: str, widget_state: dict) -> str:
    """A static picture of the widget ``model_id``: its plotly figures and its controls' values."""
    figures, controls, seen = [], [], set()
    stack = [model_id]
    while stack:
        mid = stack.pop(0)
        if mid in seen or mid not in widget_state:
            continue
        seen.add(mid)
        model = widget_state[mid]
        name, state = model.get("model_name", ""), model.get("state", {})
        if str(state.get("_anywidget_id", "")).endswith("FigureWidget"):
            full = _with_buffers(model)
            figures.append(figure_html({"data": full.get("_widget_data") or [],
                                        "layout": full.get("_widget_layout") or {}}))
            continue
        text = _control_text(name, state)
        if text:
            controls.append(text)
        stack.extend(_children(state))
    parts = [f'<div class="contrastlab-widget"><p class="contrastlab-live-note">{html.escape(LIVE_NOTE)}</p>']
    if controls:
        parts.append('<p class="contrastlab-controls">' + " · ".join(controls) + "</p>")
    parts.extend(figures)
    parts.append("</div>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- the notebook

def prepare(nb) -> dict:
    """Rewrite an executed notebook in place for the offline page; returns counts of what was done:
    {"figures", "widgets", "math", "math_failures": [LaTeX...]}."""
    counts = {"figures": 0, "widgets": 0, "math": 0, "math_failures": []}
    widget_state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            source, failures = math_to_mathml(cell.source)
            counts["math"] += source.count("<math")
            counts["math_failures"] += failures
            cell.source = source
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                figure = data[PLOTLY_MIME]
                output["data"] = {"text/html": figure_html(figure), "text/plain": data.get("text/plain", "")}
                output.setdefault("metadata", {})["contrastlab_figure"] = figure
                counts["figures"] += 1
            elif WIDGET_MIME in data:
                model_id = data[WIDGET_MIME].get("model_id", "")
                output["data"] = {"text/html": widget_html(model_id, widget_state)}
                counts["widgets"] += 1
    nb.metadata.pop("widgets", None)  # the page draws its own pictures; no widget manager is loaded
    return counts


def verdicts(nb) -> list[str]:
    """The ``Verdict:`` lines the notebook printed."""
    lines = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            lines += [line.strip() for line in text.splitlines() if line.strip().startswith("Verdict")]
    return lines


def key_figure(nb) -> dict | None:
    """The figure of the cell tagged ``key-figure``; else the last figure of the notebook."""
    last = None
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            figure = output.get("metadata", {}).get("contrastlab_figure")
            if figure is not None:
                if "key-figure" in cell.get("metadata", {}).get("tags", []):
                    return figure
                last = figure
    return last
