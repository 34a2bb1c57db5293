"""The import contracts in pyproject.toml hold, and breaking one makes lint-imports fail.

The broken cases run lint-imports on a copy of the package with one bad import added: the copy's
folder is the working directory, which lint-imports puts first on sys.path, so it shadows the
editable install; PYTHONPATH carries the repository root for tools/import_contracts.py.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, *args: str, config: Path = CONFIG) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", *args, str(config)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def contract_names() -> dict[str, str]:
    import tomllib

    contracts = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]
    return {contract["id"]: contract["name"] for contract in contracts}


@pytest.fixture
def package_copy(tmp_path):
    """A throwaway copy of lib/contrastlab; returns (working dir, package dir)."""
    shutil.copytree(ROOT / "lib" / "contrastlab", tmp_path / "contrastlab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path, tmp_path / "contrastlab"


def test_lint_imports_passes_on_the_repository():
    result = lint_imports(ROOT)
    assert result.returncode == 0, f"lint-imports failed (run `make lint-imports`):\n{result.stdout}{result.stderr}"
    for name in contract_names().values():
        assert f"{name} KEPT" in result.stdout, f"contract {name!r} was not checked:\n{result.stdout}"


# (file in the package, the line added to it, the contract it breaks, what the report must name)
BREAKS = {
    "core imports interactive": ("metrics.py", "from contrastlab.interactive import figures", "layers",
                                 "contrastlab.metrics -> contrastlab.interactive.figures"),
    "losses import metrics": ("losses/supcon.py", "from .. import metrics", "losses",
                              "contrastlab.losses.supcon -> contrastlab.metrics"),
    "lesson imports lesson": ("lessons/temperature.py", "from . import collapse", "lessons",
                              "contrastlab.lessons.temperature -> contrastlab.lessons.collapse"),
    "interactive imports sweeps": ("interactive/figures.py", "from ..sweeps import report", "sweeps",
                                   "contrastlab.interactive.figures -> contrastlab.sweeps.report"),
    "private name imported": ("metrics.py", "from .losses.core import _private_probe", "private",
                              "contrastlab.metrics (l.{line}) uses contrastlab.losses.core._private_probe"),
    "private name as attribute": ("samplers.py", "from .losses import core as C\nC._private_probe", "private",
                                  "contrastlab.samplers (l.{line}) uses contrastlab.losses.core._private_probe"),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_breaking_a_contract_fails_lint_imports(package_copy, case):
    cwd, package = package_copy
    relative, line, contract, expected = BREAKS[case]
    source = package / relative
    text = source.read_text()
    source.write_text(text + ("" if text.endswith("\n") else "\n") + line + "\n")
    last_line = len(source.read_text().splitlines())  # where the injected import or attribute sits
    result = lint_imports(cwd, "--contract", contract)
    out = result.stdout + result.stderr
    assert result.returncode != 0, f"{case}: lint-imports passed:\n{out}"
    assert f"{contract_names()[contract]} BROKEN" in out, out
    assert expected.format(line=last_line) in out, out


def test_an_allowed_private_name_passes_and_a_stale_exception_fails(package_copy, tmp_path):
    cwd, package = package_copy
    (package / "metrics.py").write_text("from .losses.core import _private_probe\n")
    entry = "contrastlab.metrics -> contrastlab.losses.core._private_probe"

    def config(*allow: str) -> Path:
        path = tmp_path / "contracts.toml"
        path.write_text(
            '[tool.importlinter]\nroot_package = "contrastlab"\n'
            'contract_types = ["private_names: tools.import_contracts.PrivateNamesContract"]\n'
            '[[tool.importlinter.contracts]]\nname = "private names"\ntype = "private_names"\n'
            f"allow = {list(allow)!r}\n".replace("'", '"'))
        return path

    # Elsewhere the copy may hold other helpers' crossings; only the probe matters here.
    allowed = lint_imports(cwd, config=config(entry)).stdout
    assert "_private_probe" not in allowed, allowed
    stale = lint_imports(cwd, config=config(entry, "contrastlab.metrics -> contrastlab.nowhere._gone"))
    assert stale.returncode != 0 and "contrastlab.nowhere._gone" in stale.stdout, stale.stdout
