"""A run's two files and what proves it finished: ``runs/<run_id>.csv`` checked against ``runs/<run_id>.json``.

A run writes its CSV first, then its record (``.json``), each whole (``files.atomic_write``). The
record says ``status: finished`` and holds the CSV's ``rows`` and ``sha256``. A run counts as finished
only when its CSV verifies:

1. its record exists, can be read and says ``finished``;
2. the CSV is UTF-8 text, ends with a newline, and every line has the header's number of fields;
3. its ``run_id`` column is the run's id and its ``step`` column is ``fit``'s evaluation schedule for the
   run's ``train.steps`` and ``train.eval_every`` (0, every ``eval_every`` steps, and the last step);
4. its row count and SHA-256 are those of the record (records written before these fields were kept
   are verified by 1-3 alone).

Anything else is damaged (a truncated, emptied or garbled CSV, or one without a finished record,
e.g. a run killed between its two writes): ``check_run`` says why, and ``sweep`` warns
(``DamagedRunWarning``) and runs it again.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from pathlib import Path

__all__ = ["RunCheck", "check_run", "expected_steps", "csv_fingerprint", "DamagedRunWarning"]


class DamagedRunWarning(UserWarning):
    """Some run files in the run folder did not verify (``contrastlab.sweeps.records``); those runs run again."""


@dataclasses.dataclass
class RunCheck:
    """What the run folder holds for one run: ``state`` is ``"to run"`` (no CSV), ``"finished"``
    (verified) or ``"damaged"`` (``reason`` says why); ``record`` is its .json when it could be read."""

    state: str
    reason: str = ""
    record: dict | None = None


def expected_steps(train: dict) -> list[int]:
    """The steps at which ``fit`` evaluates a run that trains to the end: 0 and every ``eval_every``
    steps, and the last step; only the last when ``eval_every`` is 0."""
    steps, every = int(train["steps"]), int(train.get("eval_every") or 0)
    if not every:
        return [steps]
    return [0, *range(every, steps + 1, every), *([steps] if steps % every else [])]


def csv_fingerprint(data: bytes) -> dict:
    """The ``rows`` (lines after the header) and ``sha256`` that a finished record keeps of its CSV."""
    return {"rows": max(data.count(b"\n") - 1, 0), "sha256": hashlib.sha256(data).hexdigest()}


def check_run(runs_dir: str | Path, run: dict) -> RunCheck:
    """Verify one run (a dict of ``expand``) in ``runs_dir`` by the rules of this module's docstring."""
    runs_dir, run_id = Path(runs_dir), run["run_id"]
    path = runs_dir / f"{run_id}.csv"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return RunCheck("to run")
    except OSError as error:
        return RunCheck("damaged", f"cannot be read: {error.strerror or error}")
    try:
        record = json.loads((runs_dir / f"{run_id}.json").read_text())
        record = record if isinstance(record, dict) else None
    except (OSError, ValueError):
        record = None
    if record is None:
        return RunCheck("damaged", f"no readable record runs/{run_id}.json says it finished")
    if record.get("status") != "finished":
        return RunCheck("damaged", f"its record says {record.get('status')!r}, not 'finished'", record)
    problem = _content_problem(data, run_id, expected_steps(run["config"]["train"]))
    if problem is None and "rows" in record and csv_fingerprint(data)["rows"] != record["rows"]:
        problem = f"{csv_fingerprint(data)['rows']} rows, its record says {record['rows']}"
    if problem is None and "sha256" in record and csv_fingerprint(data)["sha256"] != record["sha256"]:
        problem = "its SHA-256 differs from its record's"
    return RunCheck("damaged", problem, record) if problem else RunCheck("finished", "", record)


def _content_problem(data: bytes, run_id: str, steps: list[int]) -> str | None:
    """Rules 2 and 3: why the CSV's bytes are not a whole evaluation table of this run, or None."""
    if not data.strip():
        return "empty"
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error) as error:
        return f"garbled: {error}"
    header, body = rows[0], rows[1:]
    if "run_id" not in header or "step" not in header:
        return "garbled: its header has no run_id and step columns"
    if not data.endswith(b"\n") or any(len(row) != len(header) for row in body):
        return "truncated: a line is cut short"
    id_col, step_col = header.index("run_id"), header.index("step")
    if any(row[id_col] != run_id for row in body):
        return "garbled: its run_id column names another run"
    try:
        found = [int(row[step_col]) for row in body]
    except ValueError:
        return "garbled: its step column is not whole numbers"
    if found == steps:
        return None
    if found == steps[:len(found)]:
        return f"truncated: {len(found)} of its {len(steps)} evaluations, the last at step " \
               f"{found[-1] if found else '-'} of {steps[-1]}"
    return f"garbled: its steps are not fit's evaluation schedule (0 to {steps[-1]})"
