"""sweeps under kills and damage: workers end with their parent, damaged run files run again, an
unwritable folder, a very large grid, two sweeps on one folder, and every config problem at once."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import contrastlab.cli
import contrastlab.sweeps as S
import contrastlab.sweeps.run as runner
from contrastlab.sweeps import guard, records

from .test_sweep import tiny

LONG = {"train__steps": 100_000, "train__eval_every": 0}  # runs that a test kills long before they end


def start_cli(config: dict, out: Path, *args, cwd: Path) -> subprocess.Popen:
    path = cwd / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.Popen([sys.executable, "-m", "contrastlab.cli", "sweep", str(path), "--out", str(out),
                             "--no-progress", *map(str, args)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def running_records(out: Path) -> list[dict]:
    found = []
    for path in (out / "runs").glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("status") == "running":
            found.append(record)
    return found


def wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    """A process that runs (a zombie, killed but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.add(int(entry.name))
    return found


# ----------------------------------------------------------------------------- workers end with their parent

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_worker_processes_end_when_the_sweep_is_killed(tmp_path, sig):
    out, workers = tmp_path / "out", set()
    sweep = start_cli(tiny(seeds=2, loss__temperature=0.1, **LONG), out, "--workers", 2, cwd=tmp_path)
    try:
        started = wait_for(lambda: len(running_records(out)) == 2 and running_records(out), "two runs to start")
        workers = {record["pid"] for record in started} | children(sweep.pid)  # the workers and their helper
        assert {record["pid"] for record in started} <= children(sweep.pid) and os.getpid() not in workers
        os.kill(sweep.pid, sig)  # a closed terminal, a restarted Jupyter kernel
        sweep.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in workers if alive(pid)] == [], "worker processes outlived the sweep"
    finally:
        for pid in workers:  # only what this test started, should the check above fail
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")
@pytest.mark.parametrize("pdeathsig", [True, False], ids=["prctl", "watching thread alone"])
def test_each_way_of_watching_the_parent_ends_an_orphaned_worker(pdeathsig):
    """Either mechanism of workers.watch_parent alone ends a worker (the thread is all macOS has)."""
    code = ("import os, time, multiprocessing\n"
            "from concurrent.futures import ProcessPoolExecutor\n"
            "from contrastlab.sweeps.workers import watch_parent\n"
            "pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn'), "
            f"initializer=watch_parent, initargs=(os.getpid(), {pdeathsig}))\n"
            "print(pool.submit(os.getpid).result(), flush=True)  # the worker is up and watching\n"
            "pool.submit(time.sleep, 600)\n"
            "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        worker = int(parent.stdout.readline())
        assert alive(worker)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        wait_for(lambda: not alive(worker), "the orphaned worker to end", timeout=10)
    finally:
        if worker is not None and alive(worker):
            os.kill(worker, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()


# ----------------------------------------------------------------------------- damaged run files

@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Two finished runs (two seeds) with 5 evaluations each, and their frame."""
    out = tmp_path_factory.mktemp("finished") / "out"
    config = tiny(loss__temperature=0.1, train__steps=40, train__eval_every=10)
    return config, out, S.sweep(config, out=out, workers=1, progress=False, report=False)


def damage(folder: Path, run_id: str, how: str) -> None:
    csv, record = folder / "runs" / f"{run_id}.csv", folder / "runs" / f"{run_id}.json"
    data = csv.read_bytes()
    if how == "truncated":  # head -c 250
        csv.write_bytes(data[:250])
    elif how == "whole lines cut":  # a cut at a line end, under a record from before checksums
        csv.write_bytes(b"".join(data.splitlines(keepends=True)[:3]))
        old = json.loads(record.read_text())
        record.write_text(json.dumps({k: v for k, v in old.items() if k not in ("rows", "sha256")}))
    elif how == "empty":
        csv.write_bytes(b"")
    elif how == "garbled":
        csv.write_bytes(bytes(range(256)) * 4)
    elif how == "garbled text":
        csv.write_text("#@!%\nnot, a, table\n")
    elif how == "a value changed":  # the same shape, another number: only the checksum sees it
        lines = data.decode().splitlines(keepends=True)
        lines[-1] = re.sub(r",(\d)\.(\d)", lambda m: f",{m[1]}.{(int(m[2]) + 1) % 10}", lines[-1], count=1)
        csv.write_text("".join(lines))
    elif how == "no record":
        record.unlink()
    elif how == "record says running":  # killed between its two writes
        record.write_text(json.dumps({**json.loads(record.read_text()), "status": "running"}))


@pytest.mark.parametrize("how, reason", [
    ("truncated", r"truncated: a line is cut short"),
    ("whole lines cut", r"truncated: 2 of its 5 evaluations, the last at step 10 of 40"),
    ("empty", r"empty"),
    ("garbled", r"garbled: 'utf-8' codec can't decode"),
    ("garbled text", r"garbled: its header has no run_id and step columns"),
    ("a value changed", r"its SHA-256 differs from its record's"),
    ("no record", r"no readable record runs/\w+\.json says it finished"),
    ("record says running", r"its record says 'running', not 'finished'"),
])
def test_a_damaged_run_file_is_named_and_run_again(finished, tmp_path, monkeypatch, how, reason):
    config, out, frame = finished
    folder = tmp_path / "out"
    shutil.copytree(out / "runs", folder / "runs")
    run_id = frame["run_id"].iloc[-1]
    damage(folder, run_id, how)
    assert S.run_status(S.expand(config), folder)[run_id] == "damaged, to run"

    real, calls = runner._run_one, []
    monkeypatch.setattr(runner, "_run_one", lambda run, runs_dir: (calls.append(run["run_id"]), real(run, runs_dir))[1])
    with pytest.warns(S.DamagedRunWarning, match=rf"runs/{run_id}\.csv is damaged \({reason}.*\): running it again"):
        again = S.sweep(config, out=folder, workers=1, progress=False, report=False)
    assert calls == [run_id]  # only the damaged run, and the same numbers as before (seeded, one thread)
    pd.testing.assert_frame_equal(again.drop(columns="seconds"), frame.drop(columns="seconds"))
    assert pd.read_csv(folder / "summary.csv")["n"].tolist() == [2]
    assert records.check_run(folder / "runs", S.expand(config)[1]).state == "finished"


def test_finished_records_keep_the_csvs_rows_and_checksum_and_older_ones_still_verify(finished, tmp_path):
    config, out, frame = finished
    run = S.expand(config)[0]
    record = json.loads((out / "runs" / f"{run['run_id']}.json").read_text())
    data = (out / "runs" / f"{run['run_id']}.csv").read_bytes()
    assert record["status"] == "finished" and record["rows"] == 5 == len(data.splitlines()) - 1
    assert record["sha256"] == records.csv_fingerprint(data)["sha256"]
    assert records.expected_steps(run["config"]["train"]) == [0, 10, 20, 30, 40]
    assert records.expected_steps({"steps": 25, "eval_every": 10}) == [0, 10, 20, 25]
    assert records.expected_steps({"steps": 25, "eval_every": 0}) == [25]

    folder = tmp_path / "old"  # records written before rows and sha256 were kept
    shutil.copytree(out / "runs", folder / "runs")
    for path in (folder / "runs").glob("*.json"):
        old = json.loads(path.read_text())
        path.write_text(json.dumps({k: v for k, v in old.items() if k not in ("rows", "sha256")}))
    assert set(S.run_status(S.expand(config), folder).values()) == {"finished"}


def test_the_dry_run_counts_damaged_runs(finished, tmp_path, capsys):
    from contrastlab.cli import main

    config, out, frame = finished
    folder = tmp_path / "out"
    shutil.copytree(out / "runs", folder / "runs")
    damage(folder, frame["run_id"].iloc[0], "empty")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["sweep", str(path), "--out", str(folder), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert re.search(rf"{frame['run_id'].iloc[0]} +0 +damaged, to run", printed)
    assert "2 runs (1 finished, 1 to run, 1 of them damaged files that run again)" in printed


# ----------------------------------------------------------------------------- an unwritable folder

def test_a_run_folder_that_cannot_be_made_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    from contrastlab.cli import main

    (tmp_path / "a-file").write_text("not a folder")  # as root too: no folder can be made under a file
    monkeypatch.setattr(runner, "_run_one", lambda *a: pytest.fail("a run started"))
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny(seeds=1)))
    assert main(["sweep", str(path), "--out", str(tmp_path / "a-file" / "sweep")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"contrastlab sweep: run folder {tmp_path / 'a-file' / 'sweep'} is not writable")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for folder in (tmp_path / "a-file" / "sweep", tmp_path / "a-file"):  # under a file; a file itself
        with pytest.raises(S.RunFolderError, match=rf"^run folder {re.escape(str(folder))} is not writable: "):
            S.sweep(tiny(seeds=1), out=folder, workers=1, progress=False)


def test_a_read_only_run_folder_is_refused(tmp_path):
    folder = tmp_path / "out"
    (folder / "runs").mkdir(parents=True)
    for place in (folder / "runs", folder):
        place.chmod(0o555)
    try:
        try:
            (folder / "probe").write_text("")
        except PermissionError:
            pass
        else:
            pytest.skip("this user writes whatever the permissions (root): the test above covers an unwritable "
                        "folder another way")
        with pytest.raises(S.RunFolderError, match=rf"run folder {re.escape(str(folder))} is not writable: "
                                                   r"Permission denied"):
            S.sweep(tiny(seeds=1), out=folder, workers=1, progress=False)
    finally:
        for place in (folder, folder / "runs"):
            place.chmod(0o755)


# ----------------------------------------------------------------------------- a very large grid

def test_a_large_sweep_says_its_size_and_time_and_needs_confirming(tmp_path, monkeypatch, capsys):
    from contrastlab.cli import main

    monkeypatch.setattr(runner, "_run_one", lambda *a: pytest.fail("a run started"))
    big = tiny(name="big", seeds=1, loss__temperature=[round(0.01 * (i + 1), 2) for i in range(600)])
    with pytest.raises(S.LargeSweepError) as info:
        S.sweep(big, out=tmp_path / "big", workers=1, progress=False)
    assert str(info.value).startswith("sweep 'big': 600 runs to run (12000 train steps), about 2.0 min with "
                                      "1 worker (0.01 s a step, a guess: no run here has finished yet). More "
                                      f"than {guard.CONFIRM_ABOVE} runs need confirming: pass --yes (confirm=False")
    assert not (tmp_path / "big").exists()  # nothing written
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(big))
    assert main(["sweep", str(path), "--out", str(tmp_path / "big"), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "600 runs to run" in err and "with 2 workers" in err and "--yes" in err and not (tmp_path / "big").exists()
    assert f"more than {guard.CONFIRM_ABOVE} runs" in contrastlab.cli.__doc__  # the CLI's help says the threshold


def test_a_confirmed_large_sweep_runs_and_the_estimate_uses_finished_runs(tmp_path, monkeypatch, capsys):
    from contrastlab.cli import main

    S.sweep(tiny(seeds=1, loss__temperature=0.1), out=tmp_path, workers=1, progress=False, report=False)
    monkeypatch.setattr(guard, "CONFIRM_ABOVE", 2)
    with pytest.raises(S.LargeSweepError, match=r"3 runs to run \(60 train steps\), about .* \(.* s a step, the "
                                                r"median of the 1 finished runs here\)"):
        S.sweep(tiny(), out=tmp_path, workers=1, progress=False)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    assert main(["sweep", str(path), "--out", str(tmp_path), "--workers", "1", "--yes", "--no-report"]) == 0
    assert capsys.readouterr().out.startswith("sweep 'tiny': 3 runs to run (60 train steps), about")
    assert set(S.run_status(S.expand(tiny()), tmp_path).values()) == {"finished"}

    done = [{"seconds": 2.0, "config": {"train": {"steps": 20}}}, {"seconds": 4.0, "config": {"train": {"steps": 20}}},
            {"seconds": 30.0, "config": {"train": {"steps": 100}}}]
    todo = [{"config": {"train": {"steps": 100}}}] * 4
    assert guard.estimate(todo, done, 2) == (pytest.approx(4 * 100 * 0.2 / 2), "0.2 s a step, the median of the "
                                                                               "3 finished runs here")


# ----------------------------------------------------------------------------- one sweep per folder

def test_a_second_sweep_on_a_folder_in_use_is_refused_and_a_dead_ones_lock_taken_over(tmp_path):
    out = tmp_path / "out"
    first = start_cli(tiny(name="first", seeds=1, loss__temperature=0.1, **LONG), out, "--workers", 1, cwd=tmp_path)
    try:
        wait_for(lambda: running_records(out), "the first sweep's run to start")
        path = tmp_path / "second.yaml"
        path.write_text(yaml.safe_dump(tiny(name="second", seeds=1, loss__temperature=0.1)))
        second = subprocess.run([sys.executable, "-m", "contrastlab.cli", "sweep", str(path), "--out", str(out),
                                 "--no-progress"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"run folder {out} is in use by another sweep (PID {first.pid}" in second.stderr
        assert "--wait" in second.stderr and len(running_records(out)) == 1  # it trained nothing
        assert first.poll() is None
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert json.loads((out / guard.LOCK_NAME).read_text())["pid"] == first.pid  # left by a killed sweep
    frame = S.sweep(tiny(name="second", seeds=1, loss__temperature=0.1), out=out, workers=1, progress=False,
                    report=False)
    assert frame["run_id"].nunique() == 1 and not (out / guard.LOCK_NAME).exists()


def test_wait_true_waits_for_the_holder_then_reuses_its_runs(tmp_path, monkeypatch, capsys):
    config = tiny(seeds=1, loss__temperature=0.1)
    holder = guard.FolderLock(tmp_path).__enter__()  # another open file: flock conflicts as between processes
    with pytest.raises(S.SweepLockedError, match=rf"in use by another sweep \(PID {os.getpid()} on ") as info:
        S.sweep(config, out=tmp_path, workers=1, progress=False)
    assert info.value.pid == os.getpid()

    S.sweep(config, out=tmp_path / "elsewhere", workers=1, progress=False, report=False)

    def finish_and_release():  # what the other sweep does: it finishes the run and ends
        time.sleep(0.5)
        shutil.copytree(tmp_path / "elsewhere" / "runs", tmp_path / "runs", dirs_exist_ok=True)
        holder.release()

    calls = []
    monkeypatch.setattr(runner, "_run_one", lambda run, runs_dir: calls.append(run))
    thread = threading.Thread(target=finish_and_release)
    thread.start()
    try:
        frame = S.sweep(config, out=tmp_path, workers=1, progress=False, report=False, wait=True)
    finally:
        thread.join()
    assert calls == [] and frame["run_id"].nunique() == 1  # trained once, by the holder
    assert "waiting for it to end" in capsys.readouterr().err


def test_without_fcntl_the_lock_file_is_the_lock_and_a_dead_holders_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(guard, "fcntl", None)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = tmp_path / guard.LOCK_NAME
        lock.write_text(json.dumps({"pid": sleeper.pid}))
        with pytest.raises(S.SweepLockedError, match=rf"PID {sleeper.pid}\b"):
            guard.FolderLock(tmp_path).__enter__()
    finally:
        sleeper.kill()
        sleeper.wait()
    with guard.FolderLock(tmp_path):  # its holder is dead: taken over
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


# ----------------------------------------------------------------------------- every config problem at once

def test_override_problems_are_reported_with_the_configs_own(tmp_path, monkeypatch, capsys):
    from contrastlab.cli import main

    monkeypatch.chdir(tmp_path)
    bad = tiny(train__steps="many")
    overrides = ["los.temperature=0.1", "seeds", "loss.temperature=-1"]
    expected = ["--set los.temperature: unknown section 'los' (did you mean 'loss'?)",
                "--set 'seeds': expected key=value, e.g. loss.temperature=0.1",
                "loss.temperature: got -1.0, expected a number > 0 (τ divides the similarity)",
                "train.steps: got 'many' (str), expected an integer"]
    with pytest.raises(S.SweepConfigError) as info:
        S.sweep(bad, overrides=overrides, progress=False)
    assert info.value.problems == expected
    assert S.validate(bad, overrides) == expected and not (tmp_path / "runs").exists()
    with pytest.raises(S.SweepConfigError) as info:
        S.expand(bad, overrides)
    assert info.value.problems == expected
    with pytest.raises(S.SweepConfigError, match="los"):  # alone, apply_overrides still checks the overrides
        S.apply_overrides(bad, overrides)

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    for extra in ([], ["--dry-run"]):
        assert main(["sweep", str(path), *(a for o in overrides for a in ("--set", o)), *extra]) == 2
        err = capsys.readouterr().err
        assert f"invalid sweep config ({len(expected)} problems)" in err and all(p in err for p in expected)
    assert not (tmp_path / "runs").exists()
