"""Smoke test of the browser harness: a slider drives a Plotly figure through the kernel.

Writes a two-cell notebook (an IntSlider "n" whose observer retitles a FigureWidget bar chart),
runs it in JupyterLab, presses ArrowRight twice on the slider's handle, and expects the Plotly
title on screen to go "n = 3" -> "n = 4" -> "n = 5". Prints the latency from each key press to the
title change (measured in the page: a keydown listener and a MutationObserver on the figure).
"""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from . import lab

SETUP = '''\
import ipywidgets as widgets
import plotly.graph_objects as go

slider = widgets.IntSlider(value=3, min=1, max=10, description="n")
fig = go.FigureWidget(go.Bar(x=list(range(3)), y=[1] * 3), layout=dict(title=dict(text="n = 3")))


def on_n(change):
    with fig.batch_update():
        fig.data[0].x, fig.data[0].y = list(range(change.new)), [1] * change.new  # n bars
        fig.layout.title.text = f"n = {change.new}"


slider.observe(on_n, names="value")
slider'''

# Record, in page time, every ArrowRight keydown and every new Plotly title text.
WATCH_JS = """plot => {
    const log = window.__smoke = {keys: [], titles: []};
    document.addEventListener('keydown', e => {
        if (e.key === 'ArrowRight') log.keys.push(performance.now());
    }, true);
    const title = () => plot.querySelector('.gtitle')?.textContent;
    let last = title();
    new MutationObserver(() => {
        const now = title();
        if (now !== last) { last = now; log.titles.push([now, performance.now()]); }
    }).observe(plot, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def write_notebook(path):
    nb = new_notebook(cells=[new_code_cell(SETUP), new_code_cell("fig")], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
    nbformat.write(nb, path)


@pytest.mark.browser
def test_slider_retitles_plotly_figure(page, jupyter_server, scratch_dir):
    notebook = scratch_dir / "smoke.ipynb"
    write_notebook(notebook)

    lab.open_notebook(page, jupyter_server, notebook.relative_to(jupyter_server.root))
    lab.run_all_cells(page)
    assert lab.output_errors(page) == []
    lab.wait_for_text(page, ".gtitle", "n = 3")
    assert lab.slider_readout(page, "n") == "3"

    page.locator(".js-plotly-plot").evaluate(WATCH_JS)
    for n in (4, 5):
        lab.press_slider(page, "n", "ArrowRight")
        lab.wait_for_text(page, ".gtitle", f"n = {n}", timeout=10)
    assert lab.plotly_titles(page) == ["n = 5"]
    assert lab.slider_readout(page, "n") == "5"

    log = page.evaluate("window.__smoke")
    changed = {text: t for text, t in log["titles"]}
    assert len(log["keys"]) == 2, log
    latencies = [changed[f"n = {n}"] - key for n, key in zip((4, 5), log["keys"])]
    print("\nkey press -> plotly title on screen: "
          + ", ".join(f"n = {n}: {ms:.0f} ms" for n, ms in zip((4, 5), latencies)))
