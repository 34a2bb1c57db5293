"""Browser-test fixtures: a throwaway JupyterLab server driven by Debian's headless Chromium.

    chromium_path    session   /usr/bin/chromium, or skip the whole browser suite
    jupyter_server   session   JupyterLab on 127.0.0.1:<free port>, fresh settings and workspaces
    browser_context  session   one persistent headless Chromium profile (Playwright sync API)
    page             function  a tab that records console errors, page errors and off-host requests;
                               at teardown saves build/screenshots/<test>.png and fails on errors
    scratch_dir      session   build/browser-notebooks/<run>/, where tests write their notebooks

Playwright never downloads a browser here: it launches `executable_path=/usr/bin/chromium`
(`make test-browser` runs tools/install_chromium.sh first). Nothing talks to the network: the
server's news feed, update check and PyPI extension manager are off, and the page fixture fails
a test whose page requested anything but the local server.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
NOTEBOOKS = REPO_ROOT / "build" / "browser-notebooks"
SERVER_START_TIMEOUT_S = 60
BROWSER_MARKER = "browser: drives JupyterLab in headless Chromium; run by `make test-browser`"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}

# Console errors that are not the code under test's fault, each with the reason it is harmless.
# Keep this short: every entry hides a whole class of messages. Filtered messages are printed.
CONSOLE_ALLOW = [
    # (no entry needed so far with JupyterLab 4.6.6, ipywidgets 8.1.9, plotly 7.1 / anywidget 0.11)
]


def pytest_configure(config):
    # pyproject.toml registers the marker; register it here too until it does, so that
    # --strict-markers accepts @pytest.mark.browser either way.
    if not any(line.split(":")[0].strip() == "browser" for line in config.getini("markers")):
        config.addinivalue_line("markers", BROWSER_MARKER)


# ---------------------------------------------------------------------------------------- Chromium

@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not found: the browser tests drive Debian's Chromium "
                    "(run tools/install_chromium.sh, or `make test-browser`, which does)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_context(chromium_path, tmp_path_factory):
    """One headless Chromium for the session; each test gets its own tab (the `page` fixture)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright")
    home = tmp_path_factory.mktemp("chromium")
    # Chromium keeps its crash database under $XDG_CONFIG_HOME whatever the profile dir: keep it here.
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache")}
    playwright = sync_api.sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            str(home / "profile"),
            executable_path=str(chromium_path),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            env=env,
        )
    except Exception:
        playwright.stop()
        raise
    yield context
    context.close()
    playwright.stop()


# ------------------------------------------------------------------------------------- JupyterLab

@dataclass
class JupyterServer:
    url: str        # http://127.0.0.1:<port>, no trailing slash
    token: str
    root: Path      # the server's root_dir (the repository)
    log: Path       # its stdout and stderr

    def api(self, path: str, method: str = "GET", timeout: float = 5.0):
        """JSON from the REST API, e.g. server.api("/api/kernels")."""
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


def _jupyter_env(home: Path) -> dict[str, str]:
    """Fresh config, data, runtime, settings and workspace dirs; kernels that run this Python."""
    env = dict(os.environ)
    for name in ("JUPYTER_TOKEN", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
        env.pop(name, None)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        IPYTHONDIR=str(home / "ipython"),  # no profile or startup files from the user's home
        # Search the user-level dirs above before the venv's share/jupyter, so that the kernelspecs
        # written below win over whatever `ipykernel install` left in the venv.
        JUPYTER_PREFER_ENV_PATH="0",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONUNBUFFERED="1",
        CONTRASTLAB_FAST="1",  # notebooks and apps use their small CI sizes
    )
    # Notebooks run in this interpreter whichever kernel they name (`python3` for scratch notebooks,
    # `contrastlab` for notebooks/). -Xfrozen_modules=off keeps the debugger quiet, as ipykernel does.
    for name, display in [("python3", "Python 3 (ipykernel)"), ("contrastlab", "Python (contrastlab)")]:
        _write_json(home / "data" / "kernels" / name / "kernel.json", {
            "argv": [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher",
                     "-f", "{connection_file}"],
            "display_name": display, "language": "python", "metadata": {"debugger": True},
        })
    # The front end asks "get notified about official Jupyter news?" in a toast that can cover the
    # page; answer "never", and never check for updates (the server-side switches are on the CLI).
    _write_json(home / "user-settings" / "@jupyterlab" / "apputils-extension"
                / "notification.jupyterlab-settings", {"fetchNews": "false", "checkForUpdates": False})
    return env


def _stop(process: subprocess.Popen, server: JupyterServer) -> None:
    """Ask the server to shut down (it stops its kernels), then end its process group."""
    if process.poll() is None:
        try:
            server.api("/api/shutdown", method="POST")
            process.wait(timeout=15)
        except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
            pass
    for sig, wait_s in [(signal.SIGTERM, 10), (signal.SIGKILL, 5)]:
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)  # the process group we started (start_new_session=True)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            pass


def _report(config, title: str, text: str) -> None:
    """Write to the terminal even while pytest captures output."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter else print
    write(f"\n{'=' * 20} {title} {'=' * 20}\n{text}")


@pytest.fixture(scope="session")
def jupyter_server(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyter")
    env = _jupyter_env(home)
    port, token = _free_port(), secrets.token_hex(24)
    log = home / "server.log"
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # fail loudly rather than serve on a port we don't know
        "--ServerApp.allow_root=True",  # CI runs as root; the server refuses root without it
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={REPO_ROOT}",
        "--LabApp.news_url=None",  # no announcements feed (jupyterlab.github.io)
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",  # no pypi.org version check
        "--LabApp.extension_manager=readonly",  # the default "pypi" manager queries pypi.org
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = JupyterServer(url=f"http://127.0.0.1:{port}", token=token, root=REPO_ROOT, log=log)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with code {process.returncode}:\n{server.log_text()}")
            try:
                urllib.request.urlopen(f"{server.url}/api/status?token={token}", timeout=2).close()
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer /api/status within "
                                f"{SERVER_START_TIMEOUT_S} s:\n{server.log_text()}")
                time.sleep(0.2)
        yield server
    finally:
        _stop(process, server)
    if request.session.testsfailed:
        _report(request.config, f"jupyter lab log ({log})", server.log_text())


# ----------------------------------------------------------------------------------------- a tab

def _allowed(message: str) -> bool:
    return any(re.search(pattern, message) for pattern, _reason in CONSOLE_ALLOW)


@pytest.fixture
def page(browser_context, jupyter_server, request):
    """A new tab. `page.console_errors` collects console errors and uncaught page errors,
    `page.offsite_requests` any request that does not go to the local server."""
    page = browser_context.new_page()
    page.console_errors = []
    page.offsite_requests = []
    local = ("http://127.0.0.1:", "data:", "blob:", "about:")  # JupyterLab and Voila servers of this run

    def on_console(message):
        if message.type == "error":
            location = message.location or {}
            where = f" ({location['url']}:{location.get('lineNumber', '')})" if location.get("url") else ""
            page.console_errors.append(f"console: {message.text}{where}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.console_errors.append(f"pageerror: {error}"))
    page.on("request", lambda r: None if r.url.startswith(local) else page.offsite_requests.append(r.url))
    yield page

    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    except Exception as error:  # a crashed tab must not hide the test's own failure
        print(f"screenshot of {name} failed: {error}")
    page.close()

    filtered = [m for m in page.console_errors if _allowed(m)]
    errors = [m for m in page.console_errors if not _allowed(m)]
    if filtered:
        print(f"\n{name}: {len(filtered)} allow-listed console error(s):\n  " + "\n  ".join(filtered))
    problems = errors + [f"off-site request: {url}" for url in page.offsite_requests]
    assert not problems, f"{name}: console errors or network use in the page:\n  " + "\n  ".join(problems)


@pytest.fixture(scope="session")
def scratch_dir(request):
    """A fresh folder under the server's root for the notebooks a test writes; removed at the end
    unless a test failed (then it is kept for a look in JupyterLab)."""
    NOTEBOOKS.mkdir(parents=True, exist_ok=True)
    folder = NOTEBOOKS / f"run-{os.getpid()}-{secrets.token_hex(3)}"  # concurrent runs don't collide
    folder.mkdir()
    yield folder
    if not request.session.testsfailed:
        shutil.rmtree(folder, ignore_errors=True)
