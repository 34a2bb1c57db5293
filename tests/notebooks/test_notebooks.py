"""The notebooks: committed .ipynb match their py:percent sources, and each runs top to bottom in fast mode.

Execution uses this interpreter (a temporary ``python3`` kernelspec pointing at sys.executable), so
it needs no registered kernel. Every revealable solution (a ```python block inside <details>) ends
with a call to its self-check; the test runs it after the notebook and expects "Check passed".
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUDGET_S = 60  # per notebook in fast mode, kernel start included
MEMORY_BUDGET_MIB = 2048  # Binder and the free hosted notebook tiers give about 2 GB

_spec = importlib.util.spec_from_file_location("contrastlab_tools_notebooks", ROOT / "tools" / "notebooks.py")
tools = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = tools  # dataclasses look their module up by name
_spec.loader.exec_module(tools)

SOURCES = tools.sources()
# Text each notebook must print when its own checks pass (beyond running without error).
EXPECTED_OUTPUT = {
    "00_start_here": ["Check passed: a collapsed batch gives log(2N-1) to within"],
}
SOLUTION = re.compile(r"<details>.*?```python\n(.*?)```.*?</details>", re.DOTALL)


def test_ipynb_in_sync_with_py_and_without_outputs():
    """Strict in CI (what is committed has no outputs); on a learner's machine, where running a
    notebook in JupyterLab saves its outputs, only the cells' code and text must match the .py."""
    assert SOURCES, f"no notebooks/NN_*.py found in {tools.NOTEBOOKS}"
    found = tools.problems(strict=os.environ.get("CI", "").lower() == "true")
    assert not found, "notebooks out of date (run `python tools/notebooks.py sync`):\n" + "\n".join(
        f"  {name}: {what}" for name, what in found.items())


def test_expected_output_names_existing_notebooks():
    missing = set(EXPECTED_OUTPUT) - {p.stem for p in SOURCES}
    assert not missing, f"EXPECTED_OUTPUT names notebooks that do not exist: {sorted(missing)}"


RULE_ID = re.compile(r"Decision rule \(([^,()]+:[^,()]+), fixed before the runs\)")


def check_recorded_verdicts(stem: str, text: str) -> None:
    """The verdict standard in fast mode: every verdict comes from a ``verdicts.Rule`` printed before its
    runs, and each has its full-mode result recorded (tools/record_verdicts.py), printed beside the
    smoke run; the record holds no rule that the notebook no longer has."""
    from contrastlab.lessons import verdicts

    printed = RULE_ID.findall(text)
    assert printed, f"{stem} printed no decision rule (a verdicts.Rule printed before its runs)"
    assert "no recorded full-mode result" not in text, (
        f"{stem} has a rule without a recorded full-mode result: run `python tools/record_verdicts.py --only {stem[:2]}`")
    assert text.count("Verdict:") >= len(set(printed)), (
        f"{stem}: a printed rule was never judged")
    recorded = json.loads(verdicts.RECORDED.read_text())["notebooks"].get(stem, {}).get("rules", [])
    assert sorted(set(printed)) == sorted(recorded), (
        f"{stem}: rules printed {sorted(set(printed))} but recorded {sorted(recorded)}; "
        f"rerun `python tools/record_verdicts.py --only {stem[:2]}`")


def solutions(nb: nbformat.NotebookNode) -> list[str]:
    """The code of every revealable solution (a ```python block inside <details>), in order."""
    return [code for cell in nb.cells if cell.cell_type == "markdown" for code in SOLUTION.findall(cell.source)]


@pytest.mark.notebook
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_runs_in_fast_mode(source: Path):
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    n_cells = len(nb.cells)
    nb.cells.extend(nbformat.v4.new_code_cell(code) for code in solutions(nb))
    run = tools.execute(tools.with_peak_memory_cell(nb), fast=True, timeout=BUDGET_S)
    peak_mib = tools.pop_peak_memory_cell(run.notebook)

    if run.error:
        pytest.fail(f"{source.stem} failed in fast mode:\n{run.error}", pytrace=False)
    assert run.seconds < BUDGET_S, f"{source.stem} took {run.seconds:.1f} s in fast mode, budget {BUDGET_S} s"
    assert peak_mib is not None and peak_mib < MEMORY_BUDGET_MIB, (
        f"{source.stem} peaked at {peak_mib} MiB in fast mode, budget {MEMORY_BUDGET_MIB} MiB (a Binder-sized tier)")
    text = run.text()
    stderr = [out.get("text", "") for cell in run.notebook.cells[:n_cells] for out in cell.get("outputs", [])
              if out.get("output_type") == "stream" and out.get("name") == "stderr"]
    assert not stderr, f"{source.stem} wrote to stderr (a warning box for the student):\n" + "".join(stderr)
    lesson = source.parent == tools.NOTEBOOKS and source.stem[:2] not in ("00",)
    if lesson:  # every lesson reproduces a finding and prints its computed verdict
        assert "Verdict:" in text, f"{source.stem} printed no 'Verdict:' line"
        check_recorded_verdicts(source.stem, text)
    for expected in EXPECTED_OUTPUT.get(source.stem, []):
        assert expected in text, f"{source.stem} never printed {expected!r}; its output was:\n{text}"
    for cell in run.notebook.cells[n_cells:]:
        printed = "".join(out.get("text", "") for out in cell.outputs)
        assert "Check passed" in printed, (
            f"{source.stem}: a revealed solution does not pass its self-check.\n"
            f"Solution:\n{cell.source}\nPrinted:\n{printed}")
    print(f"{source.stem}: {run.seconds:.1f} s, peak {peak_mib:.0f} MiB")
