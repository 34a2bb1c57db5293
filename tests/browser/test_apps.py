"""Each widget app, driven in JupyterLab as a person would, and one served alone by Voila.

The app notebooks are copied to a scratch folder first (JupyterLab autosaves what it runs, and the
committed notebooks must stay without outputs). The Plotly figures are read back from the page:
titles are SVG text, trace values come from the plot element's ``data``.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from . import lab
from .conftest import REPO_ROOT, _free_port, _jupyter_env, _stop

APPS = REPO_ROOT / "notebooks" / "apps"
# As in `make dashboard`: jupytext's JupyterLab extension needs JupyterLab's document manager, which
# Voila does not provide (a module-federation error in the console), and a dashboard has no use for it.
VOILA_ARGS = ["--VoilaConfiguration.extension_denylist=jupyterlab-jupytext"]
# Voila's "lab" template links Font Awesome from a CDN although its own bundle already carries the
# icons; offline the request fails and nothing on the page changes. Only these are tolerated.
VOILA_CDN = re.compile(r"cdn\.jsdelivr\.net/npm/@fortawesome/fontawesome-free")
LATENCY_FILE = REPO_ROOT / "build" / "benchmarks" / "widget_latency.json"

# In page time: every keydown, and every change of the title of the plot whose title starts with `prefix`.
WATCH_JS = """prefix => {
    const log = window.__latency = {keys: [], titles: []};
    document.addEventListener('keydown', () => log.keys.push(performance.now()), true);
    const current = () => [...document.querySelectorAll('.gtitle')].map(t => t.textContent)
        .find(t => t.startsWith(prefix));
    let last = current();
    new MutationObserver(() => {
        const now = current();
        if (now !== undefined && now !== last) { last = now; log.titles.push([now, performance.now()]); }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""

TRACES_JS = """prefix => {
    const plot = [...document.querySelectorAll('.js-plotly-plot')]
        .find(p => (p.querySelector('.gtitle')?.textContent || '').startsWith(prefix));
    return plot ? plot.data.map(t => ({name: t.name, type: t.type, x: Array.from(t.x || []), y: Array.from(t.y || [])})) : null;
}"""


def open_app(page, server, scratch_dir, name: str) -> None:
    copy = scratch_dir / f"{name}.ipynb"
    shutil.copy(APPS / f"{name}.ipynb", copy)
    lab.open_notebook(page, server, copy.relative_to(server.root))
    lab.run_all_cells(page, timeout=180)
    assert lab.output_errors(page) == []


def title_starting(page, prefix: str, timeout: float = 30.0) -> str:
    return lab.wait_for_text(page, ".gtitle", lambda text: text.startswith(prefix), timeout=timeout)


def traces(page, prefix: str) -> list[dict]:
    data = page.evaluate(TRACES_JS, prefix)
    assert data is not None, f"no plot titled {prefix!r}..."
    return data


def widget_html(page, contains: str, timeout: float = 60.0) -> str:
    return lab.wait_for_text(page, ".widget-html-content", lambda text: contains in text, timeout=timeout)


@pytest.mark.browser
def test_temperature_slider_redraws_the_softmax(page, jupyter_server, scratch_dir):
    open_app(page, jupyter_server, scratch_dir, "app_temperature")
    assert title_starting(page, "τ = 0.1")  # info_nce's default (0.1, or 0.1 snapped to the log slider's grid)
    page.evaluate(WATCH_JS, "τ =")
    latencies = []
    for _ in range(12):  # one key press at a time, each waiting for its redraw: 0.1 -> about 0.025
        before = title_starting(page, "τ =")
        lab.press_slider(page, "τ", "ArrowLeft")
        lab.wait_for_text(page, ".gtitle", lambda t: t.startswith("τ =") and t != before, timeout=10)
        log = page.evaluate("() => window.__latency")
        latencies.append(log["titles"][-1][1] - log["keys"][-1])
    readout = float(lab.slider_readout(page, "τ"))
    title = title_starting(page, "τ =")
    assert readout < 0.2 and title.startswith(f"τ = {readout:.3g}:")
    bars = np.array(traces(page, "τ =")[0]["y"])
    sims = np.array([0.8, 0.7, 0.6, 0.3, 0.1, 0.0, -0.2, -0.5])
    tau = 10 ** (round(np.log10(readout) / 0.05) * 0.05)  # the readout is rounded; the slider's grid is exact
    expected = np.exp(sims / tau) / np.exp(sims / tau).sum()
    np.testing.assert_allclose(bars, expected, rtol=1e-3)  # the figure shows the softmax at the new τ
    LATENCY_FILE.parent.mkdir(parents=True, exist_ok=True)
    LATENCY_FILE.write_text(json.dumps({"widget": "TemperatureExplorer", "key_to_redraw_ms": latencies,
                                        "date": time.strftime("%Y-%m-%d %H:%M")}, indent=1))
    print(f"\nslider -> figure latency over {len(latencies)} key presses: median "
          f"{statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms")


@pytest.mark.browser
def test_training_dashboard_start_and_stop(page, jupyter_server, scratch_dir):
    open_app(page, jupyter_server, scratch_dir, "app_training")
    lab.click_button(page, "Start")
    widget_html(page, "done:")  # the fast-mode run of 60 steps
    title = title_starting(page, "Training curves")
    assert "last step 60" in title
    curves = {t["name"]: t for t in traces(page, "Training curves")}
    assert curves["loss"]["y"][-1] < curves["loss"]["y"][0]  # it learned
    points = [t for t in traces(page, "Embeddings") if t["type"] == "scatter3d"]
    assert sum(len(t["x"]) for t in points) == 512  # the evaluation subset on the sphere
    steps = page.locator(".widget-inline-hbox").filter(
        has=page.locator(".widget-label", has_text=re.compile(r"^\s*steps\s*$"))).locator("input")
    steps.fill("20000")
    steps.press("Enter")
    lab.click_button(page, "Start")
    widget_html(page, "training")
    time.sleep(1.0)
    lab.click_button(page, "Stop")
    stopped = widget_html(page, "stopped:")
    assert int(re.search(r"stopped: (\d+) steps", stopped).group(1)) < 20000


@pytest.mark.browser
def test_collapse_lab_without_a_predictor_collapses(page, jupyter_server, scratch_dir):
    open_app(page, jupyter_server, scratch_dir, "app_collapse")
    assert lab.toggle_checkbox(page, "predictor") is False
    widget_html(page, "use_predictor=False", timeout=10)
    lab.click_button(page, "Start")
    widget_html(page, "done:", timeout=90)
    std = {t["name"]: t for t in traces(page, "Training curves")}["std·√d"]["y"]
    assert std[-1] < 0.2  # collapsed: std far below the 1/sqrt(d) of a spread embedding (std·√d = 1)
    assert lab.wait_for_text(page, ".annotation-text", lambda t: "1/√d" in t, timeout=10)  # the spread reference
    assert "effective rank" in title_starting(page, "Singular values")


@pytest.mark.browser
def test_hard_negative_sliders(page, jupyter_server, scratch_dir):
    open_app(page, jupyter_server, scratch_dir, "app_negatives")
    assert "β = 1.00" in title_starting(page, "Weight on each negative")
    lab.press_slider(page, "β", "ArrowRight", times=3)
    lab.wait_for_text(page, ".gtitle", lambda t: "β = 1.30" in t, timeout=10)
    before = widget_html(page, "false negatives")
    lab.press_slider(page, "ceiling", "ArrowLeft", times=30)
    lab.wait_for_text(page, ".widget-html-content", lambda t: "false negatives" in t and t != before, timeout=10)


@pytest.mark.browser
def test_embedding_explorer_umap_and_hover(page, jupyter_server, scratch_dir):
    open_app(page, jupyter_server, scratch_dir, "app_embeddings")
    assert title_starting(page, "PCA of 600") == "PCA of 600 embeddings"  # fast mode: 600 digits
    page.locator("button.widget-toggle-button", has_text=re.compile(r"^\s*umap\s*$")).click()
    lab.click_button(page, "Project")
    title_starting(page, "UMAP of 600", timeout=90)
    widget_html(page, "umap in")
    # Plotly finds the hovered point from mouse moves over its drag layer, which lies on top of the points
    box = page.locator(".scatterlayer .trace .point").nth(10).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2 - 3, box["y"] + box["height"] / 2)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert "label" in widget_html(page, "label", timeout=10)  # the digit under the mouse, with its label


def fill_text(page, description: str, value: str) -> None:
    """Type ``value`` into the ipywidgets Text box labelled ``description`` (replacing what it held)."""
    label = page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
    box = page.locator(".widget-inline-hbox").filter(has=label).locator("input")
    box.fill(value)
    box.press("Enter")


@pytest.mark.browser
def test_diagnose_app_loads_a_file_and_shows_its_findings(page, jupyter_server, scratch_dir):
    open_app(page, jupyter_server, scratch_dir, "app_diagnose")
    assert title_starting(page, "Diagnosis of 200 x 384", timeout=60)  # fast mode: 200 MiniLM sentences
    assert title_starting(page, "PCA of 200") == "PCA of 200 embeddings"  # the explorer of the rows
    widget_html(page, "findings")
    rng = np.random.default_rng(0)  # a collapsed embedding, written where the kernel runs (the notebook's folder)
    np.save(scratch_dir / "collapsed.npy", (1 + 1e-3 * rng.standard_normal((300, 32))).astype(np.float32))
    fill_text(page, "file", "collapsed.npy")
    for description in ("key", "labels", "labels key"):
        fill_text(page, description, "")
    lab.click_button(page, "Load")
    assert "complete collapse" in title_starting(page, "Diagnosis of 300 x 32", timeout=60)
    assert "complete collapse: std·√d = " in widget_html(page, "complete collapse", timeout=30)
    fill_text(page, "file", "missing.npy")
    lab.click_button(page, "Load")
    widget_html(page, "missing.npy: no such file", timeout=30)


# ----------------------------------------------------------------------------------------- Voila

@pytest.fixture
def voila_app(scratch_dir, tmp_path):
    """`make dashboard`'s command on a copy of the temperature app, on a free port."""
    copy = scratch_dir / "voila_temperature.ipynb"
    shutil.copy(APPS / "app_temperature.ipynb", copy)
    env = _jupyter_env(tmp_path)
    port = _free_port()
    log = tmp_path / "voila.log"
    command = [sys.executable, "-m", "voila", str(copy), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
               *VOILA_ARGS]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"voila exited with code {process.returncode}:\n{log.read_text()}")
        try:
            urllib.request.urlopen(f"{url}/voila/static/", timeout=2).close()
            break
        except urllib.error.HTTPError:
            break  # the server answers (a 404/403 for the folder is fine)
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"voila did not answer within 60 s:\n{log.read_text()}")
            time.sleep(0.2)

    class Server:  # enough of JupyterServer for _stop
        def api(self, path, method="GET", timeout=5.0):
            raise OSError("voila has no shutdown API")

    yield url
    _stop(process, Server())


@pytest.mark.browser
def test_voila_dashboard_serves_the_temperature_explorer(voila_app, page):  # page closes before the server
    page.goto(voila_app, timeout=120_000)
    title_starting(page, "τ = 0.1", timeout=120)  # info_nce's default
    assert "import" not in page.locator("body").inner_text()  # the code is hidden, only the app shows
    lab.press_slider(page, "τ", "ArrowLeft", times=2)
    lab.wait_for_text(page, ".gtitle", lambda t: t.startswith("τ =") and not t.startswith("τ = 0.1:"), timeout=15)
    # Voila may load its template's stylesheet links more than once (seen under load): what matters is that
    # those two Font Awesome files are the only thing asked of the outside, checked by the page fixture
    tolerated = {re.sub(r":\d+\)$", ")", m) for m in page.console_errors if VOILA_CDN.search(m)}
    assert all(m.endswith(("all.min.css)", "v4-shims.min.css)")) for m in tolerated), tolerated
    page.console_errors[:] = [m for m in page.console_errors if not VOILA_CDN.search(m)]
    page.offsite_requests[:] = [u for u in page.offsite_requests if not VOILA_CDN.search(u)]
