"""Drive JupyterLab 4.6 and ipywidgets 8 the way a person does, with Playwright's sync API.

What each helper relies on (checked against JupyterLab 4.6.6, ipywidgets 8.1.9, plotly 7.1):

- kernel state: the notebook toolbar's execution indicator, `.jp-Notebook-ExecutionIndicator`,
  carries `data-status` ("idle", "busy", "connecting", ...). It also reads "idle" while no kernel
  is attached yet, so "ready" additionally needs the toolbar's kernel name (`.jp-Toolbar-kernelName`)
  to be something other than "No Kernel", and both to hold for KERNEL_SETTLE_MS.
- run all: the menu bar's "Run" menu, item `.lm-Menu-item[data-command="runmenu:run-all"]`.
  Queued cells show the prompt `[*]:` at once; a finished cell shows `[<n>]:`; an empty code cell
  is not sent to the kernel and keeps `[ ]:`; after an error the cells below are not run.
- outputs: `.jp-OutputArea-output`; stderr streams and tracebacks both carry
  `data-mime-type="application/vnd.jupyter.stderr"`.
- widgets: `.widget-slider` > `label.widget-label` (the description) + noUiSlider `.noUi-handle`
  (role="slider"; focused, it moves one step per ArrowRight / ArrowLeft) + `.widget-readout`;
  `.widget-checkbox` > `label.widget-label-basic` > `input[type=checkbox]` + `span` (the
  description); `button.widget-button` (its text is the description).
- plotly: titles are SVG `text.gtitle`.

Timeouts are in seconds, as in the rest of the test suite.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Callable
from urllib.parse import quote

STDERR = 'application/vnd.jupyter.stderr'
KERNEL_SETTLE_MS = 300

# The notebook on screen: one panel per tab, hidden tabs are not visible.
_PANEL_JS = "[...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.checkVisibility())"

_KERNEL_READY_JS = f"""settle => {{
    const panel = {_PANEL_JS};
    const name = panel?.querySelector('.jp-Toolbar-kernelName')?.textContent.trim();
    const status = panel?.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status;
    const ready = !!panel && !!panel.querySelector('.jp-Notebook') && !!name && name !== 'No Kernel'
                  && status === 'idle';
    if (!ready) {{ window.__labIdleSince = null; return false; }}
    window.__labIdleSince ??= performance.now();
    return performance.now() - window.__labIdleSince >= settle;
}}"""

_PROMPTS_JS = f"""() => [...({_PANEL_JS})?.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt') ?? []]
    .map(e => e.textContent.trim()).join('|')"""

_RUN_DONE_JS = f"""before => {{
    const panel = {_PANEL_JS};
    if (!panel) return false;
    const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
        .map(e => e.textContent.trim());
    return !prompts.some(p => p.includes('*'))
        && panel.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status === 'idle'
        && prompts.join('|') !== before;
}}"""


def _exactly(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def open_notebook(page, server, path, *, timeout: float = 60.0, workspace: str | None = None) -> None:
    """Open `path` (relative to the server's root) in JupyterLab and wait until its kernel is idle.

    Each call uses a new, empty workspace (unless `workspace` names one), so tabs that an earlier
    test left open are not restored next to this notebook.
    """
    workspace = workspace or f"test-{secrets.token_hex(4)}"
    url = f"{server.url}/lab/workspaces/{quote(workspace)}/tree/{quote(str(path))}?token={server.token}"
    page.goto(url)
    page.wait_for_function(_KERNEL_READY_JS, arg=KERNEL_SETTLE_MS, timeout=timeout * 1000, polling=100)


def run_all_cells(page, *, timeout: float = 120.0) -> None:
    """Run → Run All Cells, then wait until no cell shows `[*]` and the kernel is idle again."""
    before = page.evaluate(_PROMPTS_JS)
    page.locator(".lm-MenuBar-itemLabel", has_text=_exactly("Run")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    page.wait_for_function(_RUN_DONE_JS, arg=before, timeout=timeout * 1000, polling=100)


def wait_for_text(page, selector: str, predicate: str | re.Pattern | Callable[[str], bool], *,
                  timeout: float = 10.0, interval: float = 0.05) -> str:
    """Poll the text of every element matching `selector` until one satisfies `predicate`
    (a string: equal after stripping; a regex: found in it; or a callable); return that text."""
    if isinstance(predicate, str):
        wanted = predicate.strip()
        test = lambda text: text.strip() == wanted  # noqa: E731
    elif isinstance(predicate, re.Pattern):
        test = lambda text: predicate.search(text) is not None  # noqa: E731
    else:
        test = predicate
    deadline = time.monotonic() + timeout
    while True:
        texts = page.locator(selector).all_text_contents()
        for text in texts:
            if test(text):
                return text
        if time.monotonic() > deadline:
            raise AssertionError(f"no {selector!r} matched {predicate!r} within {timeout} s; "
                                 f"last seen: {texts!r}")
        time.sleep(interval)


def plotly_titles(page) -> list[str]:
    """The text of every Plotly title (SVG `text.gtitle`) in the page."""
    return page.locator(".gtitle").all_text_contents()


def output_errors(page) -> list[str]:
    """The text of every stderr / traceback output, and of every widget that failed to render."""
    texts = page.locator(f'.jp-OutputArea-output[data-mime-type="{STDERR}"]').all_text_contents()
    texts += page.locator(".jp-OutputArea-output", has_text="Error displaying widget").all_text_contents()
    return texts


def slider(page, description: str):
    """The ipywidgets 8 slider whose description is `description` (a Locator of `.widget-slider`).

    `.locator(".noUi-handle")` is its handle, `.locator(".widget-readout")` its value as shown.
    """
    label = page.locator(".widget-label", has_text=_exactly(description))
    return page.locator(".widget-slider").filter(has=label)


def press_slider(page, description: str, key: str = "ArrowRight", times: int = 1) -> None:
    """Focus the slider's handle and press `key` (ArrowRight / ArrowLeft: one step) `times` times."""
    handle = slider(page, description).locator(".noUi-handle")
    for _ in range(times):
        handle.press(key)


def slider_readout(page, description: str) -> str:
    return slider(page, description).locator(".widget-readout").inner_text().strip()


def click_button(page, text: str) -> None:
    """Click the ipywidgets Button whose label is `text` (not JupyterLab's own toolbar buttons)."""
    page.locator("button.widget-button").filter(has_text=_exactly(text)).click()


def toggle_checkbox(page, description: str) -> bool:
    """Click the ipywidgets Checkbox labelled `description`; return whether it is now checked."""
    label = page.locator(".widget-label-basic span", has_text=_exactly(description))
    box = page.locator(".widget-checkbox").filter(has=label).locator("input[type=checkbox]")
    box.click()
    return box.is_checked()
