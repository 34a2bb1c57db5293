"""Every lesson notebook, run in JupyterLab in a real browser as a student would, in fast mode.

For each ``notebooks/NN_*.ipynb`` from 01 on: Run All Cells must leave no traceback, no stderr and
no widget that failed to render; the page must show a Plotly figure, a live widget and the
notebook's computed ``Verdict:`` line; and moving the first slider one step (or, without a slider,
picking another option of the first dropdown, or else ticking the first checkbox) must change what
is on screen (a figure's data or title, or a widget's text) while the kernel stays alive. nbclient (tests/notebooks) checks the
numbers; this checks that the widgets work in the browser.
"""

from __future__ import annotations

import shutil
import time

import pytest

from . import lab
from .conftest import REPO_ROOT

LESSONS = sorted(p for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb") if not p.name.startswith("00_"))

# What the student sees that a widget can change: every figure's data and titles, every widget's text.
SCREEN_JS = """() => JSON.stringify({
    plots: [...document.querySelectorAll('.js-plotly-plot')].map(p => [
        (p.data || []).map(t => [t.x, t.y, t.z, t.text, t.marker && t.marker.color]),
        [...p.querySelectorAll('.gtitle, .g-xtitle, .g-ytitle')].map(t => t.textContent)]),
    html: [...document.querySelectorAll('.widget-html-content, .widget-readout, .widget-label')]
        .map(e => e.textContent),
})"""


def _settled(page, quiet: float = 1.0, timeout: float = 30.0) -> str:
    """The screen once nothing on it has changed for ``quiet`` seconds (figures still drawing after
    Run All would otherwise count as the widget's doing)."""
    deadline = time.monotonic() + timeout
    last = page.evaluate(SCREEN_JS)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = page.evaluate(SCREEN_JS)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the page kept changing for {timeout} s after Run All, with no input")


def _changed(page, before: str, timeout: float) -> bool:
    try:
        page.wait_for_function(f"before => ({SCREEN_JS})() !== before", arg=before, timeout=timeout * 1000,
                               polling=100)
        return True
    except Exception:  # playwright's TimeoutError
        return False


@pytest.mark.browser
@pytest.mark.parametrize("notebook", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_and_its_widget_responds(notebook, page, jupyter_server, scratch_dir):
    copy = scratch_dir / notebook.name
    shutil.copy(notebook, copy)
    lab.open_notebook(page, jupyter_server, copy.relative_to(jupyter_server.root))
    lab.run_all_cells(page, timeout=300)

    assert lab.output_errors(page) == []
    assert page.locator(".js-plotly-plot").count() > 0, "no Plotly figure on the page"
    lab.wait_for_text(page, ".jp-OutputArea-output", lambda text: "Verdict:" in text, timeout=10)
    sliders = page.locator(".widget-slider .noUi-handle")
    dropdowns = page.locator(".widget-dropdown select")
    checkboxes = page.locator(".widget-checkbox input[type=checkbox]")
    assert sliders.count() + dropdowns.count() + checkboxes.count() > 0, (
        "no slider, dropdown or checkbox: the notebook has no live widget")

    before = _settled(page)
    if sliders.count():
        handle = sliders.first
        handle.scroll_into_view_if_needed()
        handle.press("ArrowRight")
        if not _changed(page, before, timeout=20):  # at the right end already: step back instead
            handle.press("ArrowLeft")
            handle.press("ArrowLeft")
    elif dropdowns.count():
        select = dropdowns.first
        select.scroll_into_view_if_needed()
        options = select.locator("option").all_text_contents()
        current = select.evaluate("s => s.options[s.selectedIndex].text")
        select.select_option(label=next(o for o in options if o != current))
    else:
        box = checkboxes.first
        box.scroll_into_view_if_needed()
        box.click()
    assert _changed(page, before, timeout=30), "moving the widget changed nothing on screen"
    assert lab.output_errors(page) == []
