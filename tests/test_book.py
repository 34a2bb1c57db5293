"""The book build (tools/build_book.py, tools/book_render.py): offline figures, math and widget
pictures, and a failed notebook that still gets its page and a non-zero exit naming it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_render  # noqa: E402
import build_book  # noqa: E402


def test_math_becomes_mathml_and_code_is_left_alone():
    source = ("Inline $\\ell_i = \\log\\sum_j e^{s_{ij}/\\tau}$ and display\n\n$$\\frac{a}{b}$$\n\n"
              "Code `cost = $5` and\n```\nprice = '$x$'\n```\n")
    out, failures = book_render.math_to_mathml(source)
    assert failures == []
    assert out.count("<math") == 2 and 'display="block"' in out
    assert "`cost = $5`" in out and "price = '$x$'" in out  # untouched
    assert "\\tau" not in out.split("```")[0].split("`cost")[0]


def test_a_dollar_amount_is_not_math():
    out, _ = book_render.math_to_mathml("It costs $5 and $6 a day.")
    assert "<math" not in out


def test_widget_picture_rebuilds_figure_widget_buffers():
    import base64

    import numpy as np

    y = np.array([0.5, 0.25, 0.125])
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_fig"]}},
        "slider": {"model_name": "FloatSliderModel", "state": {"description": "τ", "value": 0.25}},
        "fig": {"model_name": "AnyModel", "buffers": [
            {"path": ["_widget_data", 0, "y", "buffer"], "encoding": "base64",
             "data": base64.b64encode(y.tobytes()).decode()}],
            "state": {"_anywidget_id": "plotly.graph_objs._figurewidget.FigureWidget",
                      "_widget_data": [{"type": "bar", "y": {"dtype": "float64", "shape": [3]}}],
                      "_widget_layout": {"title": {"text": "shares"}}}},
    }
    html = book_render.widget_html("box", state)
    assert book_render.LIVE_NOTE in html and "τ: <b>0.25</b>" in html
    data = json.loads(re.search(r'Plotly\.newPlot\("[^"]+", (\[.*?\]), ', html).group(1))
    assert data == [{"type": "bar", "y": [0.5, 0.25, 0.125]}]


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c[1:]) if c.startswith("#") else nbformat.v4.new_code_cell(c)
                for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.mark.notebook
def test_the_book_shows_figures_offline_and_pages_a_failed_notebook(tmp_path, capsys):
    source, out = tmp_path / "nbs", tmp_path / "book"
    source.mkdir()
    nbformat.write(_notebook("# # One\n\n**Learning goals.** You will be able to\n\n- draw a bar\n\nSo $e^{s/\\tau}$.",
                             "import plotly.graph_objects as go\ngo.Figure(go.Bar(y=[1, 2]))",
                             "print('Verdict: agrees — 2 > 1')"), source / "01_one.ipynb")
    nbformat.write(_notebook("# # Two", "raise RuntimeError('the toy broke')"), source / "02_two.ipynb")
    code = build_book.main(["--source", str(source), "--out", str(out), "--timeout", "120"])
    assert code == 1
    assert "02_two" in capsys.readouterr().err
    one, two = (out / "01_one.html").read_text(), (out / "02_two.html").read_text()
    assert "Plotly.newPlot" in one and "<math" in one and "$" not in re.sub(r"<script.*?</script>", "", one, flags=re.S)
    assert not re.search(r'<script[^>]+src="https?:', one), "a page must not load a script from outside"
    assert "the toy broke" in two and "failed while the book was built" in two
    assert (out / "plotly.min.js").stat().st_size > 1_000_000
    index = (out / "index.html").read_text()
    assert "Verdict: agrees" in index and "draw a bar" in index and "FAILED" in index
    summary = json.loads((out / "book.json").read_text())
    assert [(r["notebook"], r["figures"], r["failed"]) for r in summary] == [("01_one", 1, False), ("02_two", 0, True)]
    assert summary[0]["peak_mib"] > 10


def test_math_in_a_heading_stays_plain_mathml():
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    source, _ = book_render.math_to_mathml("## Watching on $S^2$\n\ntext $x$")
    page = book_render.plain_mathml(markdown2html_mistune(source))
    assert page.count("<math") == 2 and "ns0:" not in page and "xmlns:ns" not in page


def test_a_learning_goal_on_the_index_renders_its_math_and_code():
    html = book_render.inline_html("read a loss against $\\log(2N-1)$ with `nt_xent` & **care**")
    assert html.count("<math") == 1 and "<code>nt_xent</code>" in html and "&amp;" in html and "<b>care</b>" in html
    assert "$" not in html
