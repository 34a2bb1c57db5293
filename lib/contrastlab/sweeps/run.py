"""Running a sweep: the runs a plan lists, in worker processes, resumable, then the tables and report.

    frame = contrastlab.sweep("examples/sweeps/temperature.yaml")     # or: contrastlab sweep CONFIG.yaml

The config format is ``contrastlab.sweeps.config``; ``plan`` expands it into runs and ``report``
summarises them.

**The run folder.** Each run is one grid point and one seed, with an id that hashes its resolved
config (``contrastlab.sweeps.plan``). ``runs/<run_id>.csv`` holds its evaluations, and
``runs/<run_id>.json``, written after it, its record: config, status (running, finished, failed
with the traceback, interrupted), wall time, the CSV's row count and SHA-256, and ``code``, a short
hash of the contrastlab source that trained it. **A run is finished when its CSV verifies against
its record** (``contrastlab.sweeps.records``: the record says finished, the CSV is whole, its steps
are fit's evaluation schedule, its rows and SHA-256 match; a record older than these two fields
is checked without them). A restarted sweep skips the finished runs (``rerun=True``,
``--rerun``, runs them all again; ``run_status`` tells which will run) and runs again, with a
``DamagedRunWarning`` naming each, every CSV that does not verify (truncated, empty, garbled, or
without a finished record). A sweep that reuses runs trained by another source warns
(``OtherCodeWarning``); the hash is not part of the run id, so editing the package keeps the runs.
At the end come ``results.csv`` (``results.parquet`` when pyarrow is installed; one row per run and
evaluation step), ``summary.csv`` (the last step, mean and 95% interval over seeds per grid point),
``config.yaml`` (the resolved config and the list of runs), ``environment.json`` (versions, the
source's hash, device, cores, dates) and ``report.html`` (self-contained, opens offline; skip it
with ``report=False``, ``--no-report``). Every file is written to a temporary name and renamed, so
a killed sweep never leaves a half-written file under a real name.

**Before anything runs** (``contrastlab.sweeps.guard``): a sweep of more than ``CONFIRM_ABOVE`` (500)
runs to run says its size and estimated time and needs ``confirm=False`` (``--yes``); the folder must
be writable (``RunFolderError``, naming it); and one sweep at a time holds the folder (``sweep.lock``,
with its PID): a second one raises ``SweepLockedError`` naming that PID, or waits with ``wait=True``
(``--wait``). A lock left by a killed sweep is taken over.

**The returned frame** carries ``attrs``: ``params`` (the swept options), ``config`` (resolved) and
``folder``, so ``summarize(frame)``, ``compare(frame, ...)`` and ``figures(frame)`` need nothing
else; ``figures`` returns a dict: ``figs["knn", "loss.temperature"]``, ``figs["curves"]``.

**Processes.** Every run uses one torch thread, and the sweep's parallelism is ``workers``
processes (default: one per core on CPU, 1 on a GPU). The models are tiny: on an idle 2-core
machine a second thread saved under 10% (one 300-step run: 3.0 s on one thread, 2.8 s on two),
while on a busy one threads that fight for the cores slow a run down many times over (6 runs:
83-203 s on two threads, 12-18 s on one). One thread also makes a run's numbers the same whatever
the number of workers. ``workers=1`` runs in this process
(torch's thread count is restored afterwards); more spawn processes, so from a script call
``sweep`` under ``if __name__ == "__main__":`` (spawned workers re-import the main module). The
workers end with the sweep however it ends, a kill included (``contrastlab.sweeps.workers``).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable, Iterable, Mapping

from ..data import DATASETS
from ..train import fit
from .config import as_config
from .files import atomic_write, read_csv, to_yaml, write_json, write_text
from .guard import FolderLock, check_size, ensure_writable
from .plan import plan_sweep
from .provenance import code_fingerprint, cpu_count, environment, now
from .records import DamagedRunWarning, RunCheck, check_run, csv_fingerprint
from .report import metric_columns, report_html, summarize
from .workers import worker_pool

__all__ = ["sweep", "run_status", "SweepRunError", "OtherCodeWarning"]


class OtherCodeWarning(UserWarning):
    """A sweep reused finished runs that a different contrastlab source recorded (``rerun=True`` redoes them)."""


class SweepRunError(RuntimeError):
    """Some runs raised; the others' results were written. ``failed`` maps run ids to error lines."""

    def __init__(self, failed: dict[str, str], folder: Path):
        self.failed, self.folder = failed, folder
        lines = "\n".join(f"  - {rid}: {err}" for rid, err in failed.items())
        super().__init__(f"{len(failed)} run(s) failed (tracebacks in {folder / 'runs'}/<run_id>.json; "
                         f"rerun to retry them):\n{lines}")


def run_status(runs: Iterable[dict], folder: str | Path, *, rerun: bool = False) -> dict[str, str]:
    """What a sweep over ``folder`` would do with each of ``runs`` (as ``expand`` gives them), by run id:
    ``"to run"``; ``"finished"`` (its CSV verifies: reused); ``"finished, other code"`` (reused, but
    recorded by another contrastlab source than this one); ``"damaged, to run"`` (its CSV does not
    verify, ``contrastlab.sweeps.records``: it runs again). With ``rerun`` all are to run."""
    return {run_id: _status(check, rerun) for run_id, check in _check_all(runs, Path(folder) / "runs").items()}


def _check_all(runs: Iterable[dict], runs_dir: Path) -> dict[str, RunCheck]:
    return {run["run_id"]: check_run(runs_dir, run) for run in runs}


def _status(check: RunCheck, rerun: bool) -> str:
    if check.state == "damaged":
        return "damaged, to run"
    if rerun or check.state == "to run":
        return "to run"
    return "finished" if check.record.get("code") == code_fingerprint() else "finished, other code"


# ----------------------------------------------------------------------------- one run

class _Interrupted(Exception):
    """fit stopped early (Ctrl-C): the run is not finished and must not be recorded as such."""


def _run_one(run: dict, runs_dir: str) -> dict:
    """Train one run on one torch thread and write its files; the record, written last, marks it finished."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_and_write(run, Path(runs_dir))
    finally:
        torch.set_num_threads(threads)


def _train_and_write(run: dict, runs_dir: Path) -> dict:
    import torch

    from .. import __version__

    config, run_id = run["config"], run["run_id"]
    record = {"run_id": run_id, "seed": run["seed"], "params": run["params"], "config": config,
              "status": "running", "pid": os.getpid(), "contrastlab": __version__, "code": code_fingerprint(),
              "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "started": now()}
    csv_path = runs_dir / f"{run_id}.csv"
    csv_path.unlink(missing_ok=True)  # an earlier or damaged result: never left beside a failed run's record
    write_json(runs_dir / f"{run_id}.json", record)
    started = time.perf_counter()
    try:
        data_cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in config["data"].items() if k != "name"}
        train = dict(config["train"])
        device = train.pop("device")
        toy = DATASETS[config["data"]["name"]](**data_cfg, device=device)
        loss = {k: v for k, v in config["loss"].items() if k != "name"}
        history = fit(toy, config["loss"]["name"], **train, metrics=config["metrics"], seed=run["seed"],
                      device=device, progress=False, **config["model"], **loss)
        if history.interrupted:
            raise _Interrupted(run_id)
        frame = history.frame
        frame.insert(0, "run_id", run_id)
        atomic_write(csv_path, lambda tmp: frame.to_csv(tmp, index=False))
        written = csv_fingerprint(csv_path.read_bytes())  # rows and SHA-256 of what is on disk
    except BaseException as error:
        status = "interrupted" if isinstance(error, (_Interrupted, KeyboardInterrupt)) else "failed"
        record.update(status=status, seconds=time.perf_counter() - started,
                      error="".join(traceback.format_exception_only(type(error), error)).strip(),
                      traceback=traceback.format_exc())
        write_json(runs_dir / f"{run_id}.json", record)
        raise
    record.update(status="finished", seconds=time.perf_counter() - started, finished=now(), **written)
    write_json(runs_dir / f"{run_id}.json", record)  # last: from here on the run counts as finished
    return {"run_id": run_id, "seconds": record["seconds"]}


# ----------------------------------------------------------------------------- the sweep

def _default_workers(n_todo: int, device: str) -> int:
    """One process per core (each run uses one thread), never more than the runs; one on an accelerator."""
    if device != "cpu":
        return 1
    return max(1, min(n_todo, cpu_count()))


def sweep(config: Mapping | str | Path, *, out: str | Path | None = None, overrides: Iterable[str] = (),
          workers: int | None = None, progress: bool = True, report: bool = True, rerun: bool = False,
          confirm: bool = True, wait: bool = False):
    """Run every grid point x seed of ``config`` (a dict or a YAML path) and return the tidy results.

    Args:
        config: see ``contrastlab.sweeps.config`` for the format; validated in full before anything runs.
        out: the run folder (default: the config's ``out``, else ``runs/<name>``). Runs finished there
            (their CSV verifies against their record) are skipped, so rerunning resumes; damaged ones
            run again (``DamagedRunWarning``).
        overrides: ``"section.option=value"`` strings applied first (``apply_overrides``); their
            problems are reported with the config's.
        workers: processes to use (default: one per core, at most the number of runs to do; 1 on
            CUDA/MPS); 1 runs in this process. Each run uses one torch thread.
        progress: a line saying what will run (on stdout) and a progress bar over runs with the time
            left (tqdm's widget inside a Jupyter kernel, a text bar on stderr elsewhere).
        report: write ``report.html`` (it embeds plotly.js, about 5 MB, and takes a second or two);
            with False an older ``report.html`` in the folder is removed, so it never describes
            other results than ``results.csv``.
        rerun: run every run again, finished or not. A finished run is reused whatever contrastlab
            source it was trained with (the run ids leave the source out, so an edit to the package
            keeps the runs); when some were recorded with another source than this one, the sweep
            warns once (``OtherCodeWarning``), and ``rerun=True`` redoes them.
        confirm: refuse a sweep of more than ``guard.CONFIRM_ABOVE`` (500) runs to run, saying its size
            and estimated time (``LargeSweepError``); False runs it (``contrastlab sweep --yes``).
        wait: if another sweep holds the folder, wait for it to end (its finished runs are then
            reused) instead of raising ``SweepLockedError``.
    Returns: a pandas DataFrame, one row per run and evaluation step: run_id, seed, one column per
        swept option (named by its dotted key), step, loss, the metrics, then lr, temperature and
        seconds (time since the run's start). The same table is written to ``results.csv``.
        ``frame.attrs`` holds ``params`` (the swept options), ``config`` (the resolved config) and
        ``folder`` (the run folder), which ``summarize``, ``compare`` and ``figures`` read.
    Raises: before any run, SweepConfigError (every problem of the config and overrides),
        LargeSweepError, RunFolderError (the folder is not writable) or SweepLockedError (another
        sweep holds it); SweepRunError after writing the other runs' results if some runs raised;
        KeyboardInterrupt (nothing half-written) on Ctrl-C.
    """
    plan = plan_sweep(as_config(config), overrides)
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers must be an integer >= 1 or None, got {workers!r}")
    folder = Path(out) if out is not None else Path(plan.config["out"])
    plan.config["out"] = str(folder)
    checks = _check_all(plan.runs, folder / "runs")  # a first look, for the size of a large sweep
    todo = [r for r in plan.runs if rerun or checks[r["run_id"]].state != "finished"]
    size = check_size(plan.config["name"], todo, [c.record for c in checks.values() if c.state == "finished"],
                      _workers(workers, todo, plan.runs), confirm=confirm)
    if size and progress:
        print(size, flush=True)
    ensure_writable(folder)
    with FolderLock(folder, wait=wait):
        return _sweep_locked(plan, folder, workers, progress=progress, report=report, rerun=rerun)


def _workers(workers: int | None, todo: list[dict], runs: list[dict]) -> int:
    device = ", ".join(dict.fromkeys(r["config"]["train"]["device"] for r in runs))
    workers = workers or _default_workers(len(todo), device)
    return max(1, min(workers, len(todo))) if todo else 1


def _sweep_locked(plan, folder: Path, workers: int | None, *, progress: bool, report: bool, rerun: bool):
    """The sweep once it holds the folder: what to run, running it, then the tables and the report."""
    resolved, runs, params = plan.config, plan.runs, plan.params
    runs_dir = folder / "runs"
    for stale in [*folder.glob(".*.tmp"), *runs_dir.glob(".*.tmp")]:  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    checks = _check_all(runs, runs_dir)
    status = {run_id: _status(check, rerun) for run_id, check in checks.items()}
    finished = [r for r in runs if checks[r["run_id"]].state == "finished"]
    todo = [r for r in runs if not status[r["run_id"]].startswith("finished")]
    damaged = {run_id: c.reason for run_id, c in checks.items() if c.state == "damaged"}
    if damaged:
        lines = [f"runs/{run_id}.csv is damaged ({reason}): running it again" for run_id, reason in damaged.items()]
        lines = lines[:10] + ([f"... and {len(lines) - 10} more"] if len(lines) > 10 else [])
        head = f"{folder}: " if len(damaged) == 1 else f"{folder}: {len(damaged)} run files did not verify:\n  "
        warnings.warn(head + "\n  ".join(lines), DamagedRunWarning, stacklevel=3)
    code = code_fingerprint()
    other_code = [r for r in finished if status[r["run_id"]] == "finished, other code"]
    if other_code:
        warnings.warn(f"{len(other_code)} of the {len(finished)} finished runs reused from {runs_dir} were recorded "
                      f"with a different (or unrecorded) contrastlab source than this one (code {code}), so their "
                      "numbers may differ from what it gives; to run them again, pass rerun=True "
                      "(contrastlab sweep --rerun)", OtherCodeWarning, stacklevel=3)
    device = ", ".join(dict.fromkeys(r["config"]["train"]["device"] for r in runs))
    workers = _workers(workers, todo, runs)

    listing = [{"run_id": r["run_id"], "seed": r["seed"], **r["params"]} for r in runs]
    write_text(folder / "config.yaml", to_yaml({**resolved, "runs": listing}))
    env = environment(device, workers)
    env["code"] = code
    env["runs"] = {"total": len(runs), "already_finished": len(runs) - len(todo), "other_code": len(other_code)}
    write_json(folder / "environment.json", env)
    if progress:
        reused = f"rerunning all ({len(finished)} finished)" if rerun else f"{len(finished)} already finished"
        print(f"sweep {resolved['name']!r}: {len(runs)} runs, {reused}, {len(todo)} to run with {workers} "
              f"worker{'s' if workers > 1 else ''} -> {folder}", flush=True)

    started = time.perf_counter()
    failed = _execute(todo, runs_dir, workers, progress, total=len(runs), name=resolved["name"])
    env.update(finished=now(), seconds=round(time.perf_counter() - started, 3))
    env["runs"]["failed"] = len(failed)
    write_json(folder / "environment.json", env)

    frame = _collect([r for r in runs if r["run_id"] not in failed], params, resolved["metrics"], runs_dir)
    if frame is not None:
        frame.attrs.update(params=list(params), config=json.loads(json.dumps(resolved)), folder=str(folder))
        results = folder / ("results.parquet" if _have_pyarrow() else "results.csv")
        if results.suffix == ".parquet":
            atomic_write(results, lambda tmp: frame.to_parquet(tmp, index=False))
        else:
            atomic_write(results, lambda tmp: frame.to_csv(tmp, index=False))
        summary = summarize(frame, params, metric_columns(frame, resolved["metrics"]))
        atomic_write(folder / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False))
        if report:
            write_text(folder / "report.html", report_html(frame, resolved, env, params, failed))
        else:
            (folder / "report.html").unlink(missing_ok=True)  # it would describe an earlier sweep
        if progress:
            print(f"results: {results}" + (f"\nreport:  {folder / 'report.html'}" if report else ""), flush=True)
    if failed:
        raise SweepRunError(failed, folder)
    return frame


def _have_pyarrow() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def _in_jupyter_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code), where stderr shows as an error box."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and hasattr(shell, "kernel")


def _progress_bar(*, total: int, initial: int, desc: str, disable: bool):
    """tqdm's widget inside a Jupyter kernel (a text bar on stdout if ipywidgets is missing), else its
    text bar on stderr: in a notebook nothing goes to stderr."""
    from tqdm.std import tqdm as text_bar

    kwargs = dict(total=total, initial=initial, desc=desc, unit="run", disable=disable)
    if disable or not _in_jupyter_kernel():
        return text_bar(**kwargs, file=sys.stderr)
    try:
        from tqdm.notebook import tqdm as widget_bar

        return widget_bar(**kwargs)  # an ipywidgets bar; raises ImportError without ipywidgets
    except ImportError:
        return text_bar(**kwargs, file=sys.stdout)


def _execute(todo: list[dict], runs_dir: Path, workers: int, progress: bool, *, total: int, name: str) -> dict:
    """Run ``todo``; returns {run_id: error line} of the runs that raised. Ctrl-C stops everything."""
    failed: dict[str, str] = {}
    bar = _progress_bar(total=total, initial=total - len(todo), desc=f"sweep {name}", disable=not progress)

    def done(run_id: str, error: BaseException | None) -> None:
        if error is not None:
            failed[run_id] = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]
        bar.update(1)

    try:
        if workers == 1:
            for run in todo:
                try:
                    _run_one(run, str(runs_dir))
                except _Interrupted:
                    raise KeyboardInterrupt from None
                except Exception as error:  # noqa: BLE001 - recorded in the run's json, the sweep goes on
                    done(run["run_id"], error)
                else:
                    done(run["run_id"], None)
        else:
            _execute_pool(todo, runs_dir, workers, done)
    finally:
        bar.close()
    return failed


def _execute_pool(todo: list[dict], runs_dir: Path, workers: int, done: Callable) -> None:
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = worker_pool(workers)  # spawned processes that end with this one, however it ends
    queue, pending = iter(todo), {}

    def submit_next() -> None:  # one run per worker at a time: after Ctrl-C there is no backlog to drain
        run = next(queue, None)
        if run is not None:
            pending[pool.submit(_run_one, run, str(runs_dir))] = run["run_id"]

    try:
        for _ in range(workers):
            submit_next()
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                run_id = pending.pop(future)
                error = future.exception()
                if isinstance(error, _Interrupted):
                    raise KeyboardInterrupt
                if isinstance(error, BrokenProcessPool):
                    raise RuntimeError(
                        "a worker process died before finishing its run (finished runs are kept). Either it ran "
                        "out of memory, or it could not re-import the main module: spawned workers re-run the "
                        "main script, so call sweep() under `if __name__ == \"__main__\":` (not from stdin), "
                        "or pass workers=1") from error
                done(run_id, error)
                submit_next()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _collect(runs: list[dict], params: list[str], metrics: list[str], runs_dir: Path):
    """The finished runs' evaluations in run order, with run_id, seed and the swept options in front."""
    import pandas as pd

    parts = []
    for run in runs:
        path = runs_dir / f"{run['run_id']}.csv"
        if not path.exists():
            continue
        part = read_csv(path).drop(columns="run_id")
        front = {"run_id": run["run_id"], "seed": run["seed"],
                 **{k: json.dumps(v) if isinstance(v, list) else v for k, v in run["params"].items()}}
        for i, (key, value) in enumerate(front.items()):
            part.insert(i, key, pd.Series([value] * len(part), dtype=object if value is None else None))
        parts.append(part)
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True)
    first = ["run_id", "seed", *params, "step", "loss", *(m for m in metrics if m in frame.columns)]
    return frame[first + [c for c in frame.columns if c not in first]]
