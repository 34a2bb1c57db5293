"""sweeps: config validation, the grid, the run folder, resuming after a kill, parallel runs and the report.

Through the public API (``S`` is ``contrastlab.sweeps``); the tests that stub a step reach into the module
that owns it (``runner`` is ``contrastlab.sweeps.run``)."""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats

import contrastlab
import contrastlab.sweeps as S
import contrastlab.sweeps.run as runner
from contrastlab import data as D
from contrastlab import methods, metrics
from contrastlab.sweeps import config as sweep_config
from contrastlab.sweeps import files, plan, provenance, report, schema
from contrastlab.train import evaluate

ROOT = Path(__file__).resolve().parents[2]
TINY = {  # 2 temperatures x 2 seeds = 4 runs of about a second each
    "name": "tiny",
    "data": {"name": "vmf_mixture", "n": 300, "n_classes": 5},
    "loss": {"name": "simclr", "temperature": [0.1, 0.5]},
    "train": {"steps": 20, "batch_size": 64, "eval_every": 10, "eval_size": 128},
    "metrics": ["alignment", "uniformity", "knn"],
    "seeds": 2,
}


def tiny(**changes) -> dict:
    config = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        section, _, option = key.partition("__")
        if option:
            config.setdefault(section, {})[option] = value
        else:
            config[section] = value
    return config


def cli(*args, cwd, check=True, **kwargs):
    result = subprocess.run([sys.executable, "-m", "contrastlab.cli", *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, timeout=300, **kwargs)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """One small sweep, run once, for the tests that read its outputs."""
    out = tmp_path_factory.mktemp("sweep") / "tiny"
    frame = S.sweep(tiny(), out=out, workers=1, progress=False)
    return out, frame


# ----------------------------------------------------------------------------- end to end

def test_sweep_returns_one_tidy_row_per_run_and_evaluation(done):
    out, frame = done
    assert len(frame) == 4 * 3  # 4 runs x evaluations at steps 0, 10, 20
    assert list(frame.columns[:8]) == ["run_id", "seed", "loss.temperature", "step", "loss", "alignment",
                                       "uniformity", "knn"]
    assert {"seconds", "lr", "temperature"} <= set(frame.columns)
    assert frame["run_id"].nunique() == 4 and sorted(frame["step"].unique()) == [0, 10, 20]
    per_run = frame.drop_duplicates("run_id")
    assert sorted(zip(per_run["loss.temperature"], per_run["seed"])) == [(0.1, 0), (0.1, 1), (0.5, 0), (0.5, 1)]
    assert (frame["temperature"] == frame["loss.temperature"]).all()  # fit's record agrees with the grid
    final = frame[frame["step"] == 20]
    assert final[["loss", "alignment", "uniformity", "knn"]].notna().all().all()


def test_run_folder_holds_every_output_and_the_csv_is_the_frame(done):
    out, frame = done
    for name in ("results.csv", "summary.csv", "config.yaml", "environment.json", "report.html"):
        assert (out / name).is_file(), name
    saved = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(saved, frame)
    runs = sorted((out / "runs").glob("*.csv"))
    assert [p.stem for p in runs] == sorted(frame["run_id"].unique())
    record = json.loads((out / "runs" / f"{runs[0].stem}.json").read_text())
    assert record["status"] == "finished" and record["seconds"] > 0 and record["config"]["loss"]["name"] == "simclr"
    assert record["code"] == provenance.code_fingerprint()
    assert not list(out.rglob("*.tmp"))

    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["loss"]["temperature"] == [0.1, 0.5] and config["grid"] == {"loss.temperature": [0.1, 0.5]}
    assert config["data"]["concentration"] == 20.0  # defaults filled in
    assert [r["run_id"] for r in config["runs"]] == list(frame["run_id"].unique())
    env = json.loads((out / "environment.json").read_text())
    assert env["torch"] == torch.__version__ and env["contrastlab"] == contrastlab.__version__
    assert env["device"] == "cpu" and env["cpu_count"] >= 1 and env["code"] == provenance.code_fingerprint()
    assert env["runs"] == {"total": 4, "already_finished": 0, "other_code": 0, "failed": 0}


def test_summary_is_mean_and_t_interval_over_seeds(done):
    out, frame = done
    summary = pd.read_csv(out / "summary.csv")
    final = frame[frame["step"] == 20]
    for temperature, row in summary.set_index("loss.temperature").iterrows():
        values = final.loc[final["loss.temperature"] == temperature, "uniformity"].to_numpy()
        assert row["n"] == 2
        assert row["uniformity"] == pytest.approx(values.mean())
        half = stats.t.ppf(0.975, 1) * values.std(ddof=1) / math.sqrt(2)  # 12.71 s / sqrt(2)
        assert row["uniformity_ci95"] == pytest.approx(half)


def test_report_is_self_contained_with_titles_and_interval_table(done):
    out, frame = done
    text = (out / "report.html").read_text()
    assert text.count("plotly.js v") == 1  # the library embedded once, for every figure
    assert "<script src" not in text and "cdn.plot.ly/plotly" not in text  # opens offline
    for metric in ("loss", "alignment", "uniformity", "knn"):
        assert f"{metric} at step 20 vs loss.temperature" in text
    assert "Training curves (mean over seeds)" in text and "Alignment and uniformity at step 20" in text
    assert text.count('class="plotly-graph-div"') == 4 + 2
    # the table cell of one grid point, computed here from the results
    final = frame[(frame["step"] == 20) & (frame["loss.temperature"] == 0.5)]["knn"].to_numpy()
    half = stats.t.ppf(0.975, 1) * final.std(ddof=1) / math.sqrt(2)
    assert f"{final.mean():.4g} ± {half:.2g}" in text
    assert "t<sub>0.975, n−1</sub>" in text and "no interval" not in text


def test_rerunning_a_finished_sweep_runs_nothing_and_returns_the_same_frame(done, monkeypatch):
    out, frame = done
    calls = []
    monkeypatch.setattr(runner, "_run_one", lambda run, runs_dir: calls.append(run))
    again = S.sweep(tiny(), out=out, progress=False)
    assert calls == []
    pd.testing.assert_frame_equal(again, frame)


def test_contrastlab_sweep_is_the_function_and_sweeps_the_package():
    assert contrastlab.sweep is contrastlab.sweeps.sweep is runner.sweep
    assert S.expand is plan.expand and S.validate is plan.validate and S.summarize is report.summarize
    assert S.load_config is sweep_config.load_config and S.apply_overrides is sweep_config.apply_overrides
    public = {"sweep", "load_config", "apply_overrides", "validate", "expand", "run_status", "summarize", "compare",
              "figures", "report_html", "SweepConfigError", "SweepRunError", "OtherCodeWarning", "DamagedRunWarning",
              "RunFolderError", "SweepLockedError", "LargeSweepError"}
    assert set(S.__all__) == public and all(hasattr(S, name) for name in public)


def copy_runs(out: Path, dest: Path) -> Path:
    """A new run folder holding the finished runs of ``out`` (a sweep over it trains nothing)."""
    shutil.copytree(out / "runs", dest / "runs")
    return dest


# ----------------------------------------------------------------------------- attrs, figures, compare

def test_the_frame_carries_what_the_report_functions_need(done):
    out, frame = done
    assert frame.attrs["params"] == ["loss.temperature"] and frame.attrs["folder"] == str(out)
    written = yaml.safe_load((out / "config.yaml").read_text())
    assert frame.attrs["config"] == {k: v for k, v in written.items() if k != "runs"}
    metrics = ["loss", "alignment", "uniformity", "knn"]
    pd.testing.assert_frame_equal(S.summarize(frame), S.summarize(frame, ["loss.temperature"], metrics))
    pd.testing.assert_frame_equal(S.summarize(frame), pd.read_csv(out / "summary.csv"), check_dtype=False)
    assert S.report_html(frame) == (out / "report.html").read_text()  # the page the sweep wrote
    assert list(S.figures(frame)) == list(S.figures(frame, frame.attrs["config"], ["loss.temperature"]))

    one_seed = frame[frame["seed"] == 0]  # a selection keeps the attrs
    assert S.summarize(one_seed)["n"].tolist() == [1, 1]
    read_back = pd.read_csv(out / "results.csv")  # has no attrs: the functions say what to pass
    with pytest.raises(ValueError, match=r"params: the frame has no attrs\['params'\].*pass params="):
        S.summarize(read_back)
    with pytest.raises(ValueError, match=r"config: the frame has no attrs\['config'\].*config\.yaml"):
        S.figures(read_back, params=["loss.temperature"])
    pd.testing.assert_frame_equal(S.summarize(read_back, ["loss.temperature"], metrics), S.summarize(frame))


def test_figures_are_keyed_by_what_they_show(done):
    out, frame = done
    figs = S.figures(frame)
    metrics = ["loss", "alignment", "uniformity", "knn"]
    assert list(figs) == [*((m, "loss.temperature") for m in metrics), "alignment_uniformity", "curves"]
    for m in metrics:
        assert figs[m, "loss.temperature"].layout.title.text == f"{m} at step 20 vs loss.temperature"
    assert figs["alignment_uniformity"].layout.title.text.startswith("Alignment and uniformity at step 20")
    assert figs["curves"].layout.title.text == "Training curves (mean over seeds)"
    assert {a.text for a in figs["curves"].layout.annotations} == set(metrics)  # one panel per metric

    only = S.figures(frame, metrics=["knn"])
    assert list(only) == [("knn", "loss.temperature"), "curves"]
    assert [a.text for a in only["curves"].layout.annotations] == ["knn"]
    assert only["knn", "loss.temperature"].to_plotly_json() == figs["knn", "loss.temperature"].to_plotly_json()
    with pytest.raises(ValueError, match=r"metrics: \['knnn'\] are not columns"):
        S.figures(frame, metrics=["knnn"])


def synthetic_sweep(seed_offsets=(0.0, 0.3, -0.2, 0.1), noise=0.0):
    """A frame shaped like a sweep's: options a in {0, 1} and b in {x, y}, 4 seeds, two steps. Each
    seed shifts all of its runs by one offset; a adds 0.1 and b = y adds 0.05 to knn."""
    rng = np.random.default_rng(0)
    rows = []
    for a in (0, 1):
        for b in ("x", "y"):
            for seed, offset in enumerate(seed_offsets):
                value = 0.5 + offset + 0.1 * a + 0.05 * (b == "y") + noise * rng.normal()
                for step in (0, 10):
                    rows.append({"run_id": f"{a}{b}{seed}", "seed": seed, "a": a, "b": b, "step": step,
                                 "loss": 1.0, "knn": value if step == 10 else 0.1})
    frame = pd.DataFrame(rows)
    frame.attrs.update(params=["a", "b"], config={"metrics": ["knn"]})
    return frame


def test_compare_pairs_each_point_with_its_baseline_seed_by_seed():
    frame = synthetic_sweep()
    table = S.compare(frame, {"a": 0}, "knn")
    assert list(table.columns) == ["a", "b", "n", "diff", "ci95", "low", "high"]
    assert table[["a", "b"]].values.tolist() == [[1, "x"], [1, "y"]]  # (1, x) - (0, x) and (1, y) - (0, y)
    assert table["n"].tolist() == [4, 4] and table["diff"].tolist() == pytest.approx([0.1, 0.1])
    assert table["ci95"].tolist() == pytest.approx([0, 0], abs=1e-12)  # the seeds' offsets cancel in the pairs
    per_point = S.summarize(frame)["knn_ci95"]
    assert (per_point > 0.3).all()  # while they dominate every point's own interval

    one_point = S.compare(frame, {"a": 0.0, "b": "x"}, "knn")  # 0.0 finds the grid's 0; every point vs one
    assert one_point[["a", "b"]].values.tolist() == [[0, "y"], [1, "x"], [1, "y"]]
    assert one_point["diff"].tolist() == pytest.approx([0.05, 0.1, 0.15])


def test_compare_gives_the_paired_t_interval_over_the_seeds_both_points_ran():
    frame = synthetic_sweep(noise=0.02)
    frame = frame[frame["run_id"] != "1y3"]  # (1, y) lost seed 3: its pairs are seeds 0-2
    table = S.compare(frame, {"a": 0}, "knn").set_index("b")
    finals = frame[frame["step"] == 10]
    for b, n in (("x", 4), ("y", 3)):
        point = finals[(finals["a"] == 1) & (finals["b"] == b)].set_index("seed")["knn"]
        base = finals[(finals["a"] == 0) & (finals["b"] == b)].set_index("seed")["knn"].loc[point.index]
        reference = stats.ttest_rel(point, base).confidence_interval(0.95)  # scipy's paired t-test
        row = table.loc[b]
        assert row["n"] == n and row["diff"] == pytest.approx((point - base).mean())
        assert (row["low"], row["high"]) == pytest.approx((reference.low, reference.high))
        assert row["ci95"] == pytest.approx((row["high"] - row["low"]) / 2)


def test_compare_on_a_sweep_and_its_errors(done):
    out, frame = done
    (row,) = S.compare(frame, {"loss.temperature": 0.1}, "uniformity").to_dict("records")
    finals = frame[frame["step"] == 20].set_index("seed")
    d = finals.loc[finals["loss.temperature"] == 0.5, "uniformity"] - \
        finals.loc[finals["loss.temperature"] == 0.1, "uniformity"]
    assert row["loss.temperature"] == 0.5 and row["n"] == 2 and row["diff"] == pytest.approx(d.mean())
    assert row["ci95"] == pytest.approx(stats.t.ppf(0.975, 1) * d.std(ddof=1) / math.sqrt(2))
    assert contrastlab.sweeps.compare is contrastlab.sweeps.report.compare
    with pytest.raises(ValueError, match=r"baseline: 'loss.beta' is not a swept option; the swept options are "
                                         r"\['loss.temperature'\]"):
        S.compare(frame, {"loss.beta": 0.0}, "knn")
    with pytest.raises(ValueError, match=r"baseline: loss.temperature=0.2 is not in the grid; its values are "
                                         r"\[0.1, 0.5\]"):
        S.compare(frame, {"loss.temperature": 0.2}, "knn")
    with pytest.raises(ValueError, match=r"metric: got 'knnn', not a column"):
        S.compare(frame, {"loss.temperature": 0.1}, "knnn")


# ----------------------------------------------------------------------------- the report and the progress line

def test_report_false_writes_no_report_and_removes_an_old_one(done, tmp_path, monkeypatch, capsys):
    out, frame = done
    folder = copy_runs(out, tmp_path)
    (folder / "report.html").write_text("an earlier sweep's report")
    monkeypatch.setattr(runner, "report_html", lambda *a, **k: pytest.fail("report_html was called"))
    again = S.sweep(tiny(), out=folder, progress=True, report=False)
    assert not (folder / "report.html").exists() and (folder / "summary.csv").is_file()
    pd.testing.assert_frame_equal(again, frame)
    captured = capsys.readouterr()
    assert captured.out == (f"sweep 'tiny': 4 runs, 4 already finished, 0 to run with 1 worker -> {folder}\n"
                            f"results: {folder / 'results.csv'}\n")  # the plan on stdout, no report line
    assert "already finished" not in captured.err  # stderr: only the progress bar


@pytest.mark.notebook
def test_progress_in_a_jupyter_kernel_writes_nothing_to_stderr(tmp_path):
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("contrastlab_tools_notebooks", ROOT / "tools" / "notebooks.py")
    tools = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, tools)  # dataclasses look their module up by name
    spec.loader.exec_module(tools)
    config = tiny(seeds=1, loss__temperature=0.5)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import contrastlab\nframe = contrastlab.sweep({config!r}, out='out', workers=1, progress=True)")])
    run = tools.execute(nb, cwd=tmp_path, timeout=120)
    assert run.error is None, run.error
    outputs = run.notebook.cells[0].outputs
    assert [o for o in outputs if o.get("name") == "stderr"] == []  # a notebook shows stderr as an error box
    printed = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    assert "sweep 'tiny': 1 runs, 0 already finished, 1 to run with 1 worker -> out" in printed
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)  # tqdm's widget
    assert (tmp_path / "out" / "report.html").is_file()


def test_cli_progress_no_report_rerun_and_other_code(done, tmp_path, monkeypatch, capsys):
    from contrastlab.cli import main

    out, _ = done
    folder = copy_runs(out, tmp_path / "out")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    calls = []
    monkeypatch.setattr(runner, "_run_one", lambda run, runs_dir: calls.append(run["run_id"]))
    args = ["sweep", str(path), "--out", str(folder), "--workers", "1", "--set", "loss.temperature=0.5"]

    assert main([*args, "--no-report"]) == 0 and calls == []
    captured = capsys.readouterr()
    assert "sweep 'tiny': 2 runs, 2 already finished, 0 to run" in captured.out and "warning" not in captured.err
    assert not (folder / "report.html").exists()

    run_id = S.expand(S.apply_overrides(tiny(), ["loss.temperature=0.5"]))[0]["run_id"]
    record = json.loads((folder / "runs" / f"{run_id}.json").read_text())
    (folder / "runs" / f"{run_id}.json").write_text(json.dumps({**record, "code": "0123456789"}))
    assert main([*args, "--dry-run"]) == 0
    assert re.search(rf"{run_id} +0 +finished, other code", capsys.readouterr().out)
    assert main([*args, "--dry-run", "--rerun"]) == 0
    assert "2 runs (0 finished, 2 to run)" in capsys.readouterr().out
    assert main([*args, "--no-progress"]) == 0 and calls == []
    captured = capsys.readouterr()
    assert captured.out == "" and (folder / "report.html").is_file()
    assert captured.err.startswith("contrastlab sweep: warning: 1 of the 2 finished runs reused from")
    assert "contrastlab sweep --rerun" in captured.err

    assert main([*args, "--rerun", "--no-progress", "--no-report"]) == 0
    assert len(calls) == 2 and capsys.readouterr().err == ""  # every run again, and no warning about them


# ----------------------------------------------------------------------------- the source fingerprint

def test_the_fingerprint_hashes_the_package_sources_once_per_process(tmp_path, monkeypatch):
    package = Path(contrastlab.__file__).parent
    copy = tmp_path / "contrastlab"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = provenance.source_fingerprint(copy)
    assert before == provenance.source_fingerprint(package) == provenance.code_fingerprint.__wrapped__()  # the package's own
    assert re.fullmatch(r"[0-9a-f]{10}", provenance.code_fingerprint())
    hits = provenance.code_fingerprint.cache_info().hits
    provenance.code_fingerprint()
    assert provenance.code_fingerprint.cache_info().hits == hits + 1  # computed once per process, then remembered

    (copy / "notes.txt").write_text("not source")  # only .py files count
    assert provenance.source_fingerprint(copy) == before
    losses = next(copy.joinpath("losses").glob("*.py"))
    losses.write_text(losses.read_text() + "\n# an edit\n")  # a file in a subpackage
    assert provenance.source_fingerprint(copy) != before
    losses.write_text(losses.read_text().removesuffix("\n# an edit\n"))
    assert provenance.source_fingerprint(copy) == before

    ids = [r["run_id"] for r in S.expand(tiny())]
    monkeypatch.setattr(provenance, "code_fingerprint", lambda: "0123456789")
    monkeypatch.setattr(runner, "code_fingerprint", lambda: "0123456789")
    assert [r["run_id"] for r in S.expand(tiny())] == ids  # an edit to the package keeps every run


def test_reusing_runs_of_another_source_warns_once_and_rerun_redoes_them(done, tmp_path, monkeypatch):
    out, frame = done
    folder = copy_runs(out, tmp_path)
    stale = frame.loc[frame["loss.temperature"] == 0.5, "run_id"].unique()  # both seeds at τ = 0.5
    for run_id, code in zip(stale, ("0123456789", None)):  # another source; a run from before fingerprints
        path = folder / "runs" / f"{run_id}.json"
        record = json.loads(path.read_text())
        record["code"] = code
        if code is None:
            del record["code"]
        path.write_text(json.dumps(record))
    real, calls = runner._run_one, []
    monkeypatch.setattr(runner, "_run_one", lambda run, runs_dir: (calls.append(run["run_id"]), real(run, runs_dir))[1])

    with pytest.warns(S.OtherCodeWarning) as caught:
        again = S.sweep(tiny(), out=folder, workers=1, progress=False)
    assert len(caught) == 1 and calls == []  # one warning for the sweep; the runs are still reused
    message = str(caught[0].message)
    assert message.startswith(f"2 of the 4 finished runs reused from {folder / 'runs'} were recorded with a "
                              "different (or unrecorded) contrastlab source") and "rerun=True" in message
    pd.testing.assert_frame_equal(again, frame)
    assert json.loads((folder / "environment.json").read_text())["runs"]["other_code"] == 2

    redone = S.sweep(tiny(loss__temperature=0.5), out=folder, workers=1, progress=False, rerun=True)
    assert sorted(calls) == sorted(stale)
    assert all(json.loads((folder / "runs" / f"{r}.json").read_text())["code"] == provenance.code_fingerprint() for r in stale)
    same = frame[frame["loss.temperature"] == 0.5].drop(columns=["loss.temperature", "seconds"])
    pd.testing.assert_frame_equal(redone.drop(columns="seconds"), same.reset_index(drop=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error", S.OtherCodeWarning)
        S.sweep(tiny(), out=folder, workers=1, progress=False, report=False)  # all from this source now


# ----------------------------------------------------------------------------- resume

def test_resume_after_an_interrupt_runs_only_the_rest(tmp_path, monkeypatch):
    real, calls = runner._run_one, []

    def killed_at_the_third(run, runs_dir):
        calls.append(run["run_id"])
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if Ctrl-C or a kill arrived during the third run
        return real(run, runs_dir)

    monkeypatch.setattr(runner, "_run_one", killed_at_the_third)
    threads = torch.get_num_threads()
    with pytest.raises(KeyboardInterrupt):
        S.sweep(tiny(), out=tmp_path, workers=1, progress=False)
    written = {p.name: p.read_bytes() for p in (tmp_path / "runs").glob("*.csv")}
    assert len(written) == 2 and not (tmp_path / "results.csv").exists()

    calls.clear()
    monkeypatch.setattr(runner, "_run_one", lambda run, runs_dir: (calls.append(run["run_id"]), real(run, runs_dir)))
    frame = S.sweep(tiny(), out=tmp_path, workers=1, progress=False)
    assert len(calls) == 2 and not {f"{c}.csv" for c in calls} & set(written)  # only the two missing runs
    assert frame["run_id"].nunique() == 4
    assert {p.name: p.read_bytes() for p in (tmp_path / "runs").glob("*.csv") if p.name in written} == written
    assert json.loads((tmp_path / "environment.json").read_text())["runs"]["already_finished"] == 2
    assert torch.get_num_threads() == threads  # runs use one thread in-process, then restore the setting


def test_a_run_stopped_early_is_not_recorded_as_finished(tmp_path, monkeypatch):
    real_fit = runner.fit

    def fit_stopped_at_step_10(*args, **kwargs):  # what Ctrl-C inside fit does: it returns early
        return real_fit(*args, callbacks=[lambda state: state.step >= 10], **kwargs)

    monkeypatch.setattr(runner, "fit", fit_stopped_at_step_10)
    with pytest.raises(KeyboardInterrupt):
        S.sweep(tiny(seeds=1, loss__temperature=0.1), out=tmp_path, workers=1, progress=False)
    assert not list((tmp_path / "runs").glob("*.csv"))
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert record["status"] == "interrupted"


def finished_csvs(out: Path) -> list[Path]:
    """The run CSVs whose record says finished (the record is written last: the run's proof)."""
    found = []
    for path in (out / "runs").glob("*.json"):
        try:
            if json.loads(path.read_text()).get("status") == "finished":
                found.append(path.with_suffix(".csv"))
        except (OSError, ValueError):
            pass
    return found


def test_sigkill_then_restart_keeps_finished_runs(tmp_path):
    config = tiny()  # 4 runs; killed once the first has finished
    path = tmp_path / "killme.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "contrastlab.cli", "sweep", path, "--out", out,
                                "--workers", "1", "--no-progress"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not finished_csvs(out) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in finished_csvs(out)}
    assert 1 <= len(before) < 4, "the kill came too late to test resuming"
    for p in (out / "runs").glob("*.csv"):
        pd.read_csv(p)  # every result file under its real name is whole

    cli("sweep", path, "--out", out, "--workers", "1", "--no-progress", cwd=tmp_path)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "runs").glob("*.csv")}
    assert len(after) == 4 and {k: after[k] for k in before} == before  # nothing redone, nothing lost
    results = pd.read_csv(out / "results.csv")
    assert results["run_id"].nunique() == 4 and not list(out.rglob("*.tmp"))


# ----------------------------------------------------------------------------- atomic writes

def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("old,complete\n")

    def half_then_fail(tmp):
        tmp.write_text("new,par")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(target, half_then_fail)
    assert target.read_text() == "old,complete\n" and list(tmp_path.iterdir()) == [target]


def test_a_run_whose_result_write_fails_leaves_no_partial_file_and_reruns(tmp_path, monkeypatch):
    real_to_csv = pd.DataFrame.to_csv

    def fails_mid_write(self, path, **kwargs):
        Path(path).write_text("run_id,step\nabc,")  # a partial file under the temporary name
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", fails_mid_write)
    config = tiny(seeds=1, loss__temperature=0.1)
    with pytest.raises(S.SweepRunError, match="disk full"):
        S.sweep(config, out=tmp_path, workers=1, progress=False)
    assert sorted(p.suffix for p in (tmp_path / "runs").iterdir()) == [".json"]  # no csv, no tmp
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert record["status"] == "failed" and "disk full" in record["traceback"]

    monkeypatch.setattr(pd.DataFrame, "to_csv", real_to_csv)
    assert S.sweep(config, out=tmp_path, workers=1, progress=False)["run_id"].nunique() == 1


# ----------------------------------------------------------------------------- validation

def test_all_problems_are_reported_together_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = {
        "name": "bad",
        "modle": {},
        "data": {"name": "vmf_mixture", "n": 100, "n_clases": 4},
        "loss": {"name": "simclr", "temperature": [0.1, -0.5, 0]},
        "train": {"steps": "many", "batch_size": 256, "lr": "1e-3"},
        "metrics": ["alignment", "knnn"],
        "seeds": 2,
    }
    with pytest.raises(S.SweepConfigError) as info:
        S.sweep(bad, progress=False)
    problems = info.value.problems
    expected = [
        r"^modle: unknown section \(did you mean 'model'\?\)",
        r"^data\.n_clases: unknown option for dataset 'vmf_mixture' \(did you mean 'n_classes'\?\)",
        r"^loss\.temperature: got -0\.5, expected a number > 0",
        r"^loss\.temperature: got 0(\.0)?, expected a number > 0",
        r"^train\.steps: got 'many' \(str\), expected an integer",
        r"^train\.lr: got '1e-3' \(str\), expected a number \(YAML reads 1e-3 as text",
        r"^train\.batch_size: got 256, expected at most 100, the size of the dataset",
        r"^metrics: unknown metric 'knnn' \(did you mean 'knn'\?\)",
    ]
    for pattern in expected:
        assert any(re.search(pattern, p) for p in problems), (pattern, problems)
    assert len(problems) == len(expected), problems  # each once, though the grid repeats them
    assert not (tmp_path / "runs").exists()  # nothing ran, no folder was made
    assert S.validate(bad) == problems
    assert "invalid sweep config (8 problems)" in str(info.value)


@pytest.mark.parametrize("changes, pattern", [
    ({"loss__name": "simclrr"}, r"loss\.name: unknown loss 'simclrr' \(did you mean 'simclr'\?\)"),
    ({"data__name": "vmf_mixtur"}, r"data\.name: unknown dataset 'vmf_mixtur' \(did you mean 'vmf_mixture'\?\)"),
    ({"loss": {"name": "clip"}}, r"loss\.name: 'clip' trains two towers on paired data, but data\.name is "
                                 r"'vmf_mixture'; use data\.name: compositional_pairs, correlated_gaussians or "
                                 r"paired_modalities"),
    ({"loss": {"name": "simclr", "beta": 1.0}}, r"loss\.beta: unknown option for loss 'simclr' \('beta' is an "
                                                r"option of debiased\)"),
    ({"loss": {"name": "debiased", "tau_plus": 1.0}}, r"loss\.tau_plus: got 1\.0, expected a class prior in \[0, 1\)"),
    ({"data__n_classes": 500}, r"data: vmf_mixture\(n=300, n_classes=500\) cannot be built: n must be at least"),
    ({"train__steps": 0}, r"train\.steps: got 0, expected an integer >= 1"),
    ({"train__schedule": "cosin"}, r"train\.schedule: got 'cosin', expected 'cosine' or 'constant' \(did you mean"),
    ({"seeds": [0, 0]}, r"seeds: got \[0, 0\], expected each seed once"),
    ({"loss__temperature": [0.1, 0.1]}, r"loss\.temperature: the value 0\.1 is listed twice"),
    ({"grid": {"loss.temperature": [0.2]}}, r"grid\.loss\.temperature: .* also set in loss:"),
    ({"grid": {"seeds": [1, 2]}}, r"grid\.seeds: not a sweepable key \(seeds: and metrics: are lists"),
    ({"model__out_dim": 1.5}, r"model\.out_dim: got 1\.5 \(float\), expected an integer"),
    ({"train__device": "tpu"}, r"train\.device: got 'tpu', expected cpu, cuda"),
])
def test_each_kind_of_problem_has_a_clear_message(changes, pattern):
    problems = S.validate(tiny(**changes))
    assert any(re.search(pattern, p) for p in problems), problems


def test_missing_sections_are_reported_with_everything_else():
    problems = S.validate({"train": {"steps": -1}, "seeds": 0})
    assert problems[0] == "seeds: got 0, expected a count >= 1 or a list of seeds"
    assert f"data.name: missing; expected one of {sorted(D.DATASETS)}" in problems
    assert f"loss.name: missing; expected one of {sorted(methods.METHODS)}" in problems
    assert "train.steps: got -1, expected an integer >= 1" in problems


def test_swept_values_are_normalised_like_the_options():
    runs = S.expand(tiny(loss__temperature=[1, 0.5], seeds=1))
    assert [r["params"]["loss.temperature"] for r in runs] == [1.0, 0.5]
    assert isinstance(runs[0]["params"]["loss.temperature"], float)


def test_a_valid_config_has_no_problems_and_expands_in_order():
    assert S.validate(tiny()) == []
    runs = S.expand(tiny(grid={"data.concentration": [5.0, 20.0]}, loss__temperature=[0.1, 0.5]))
    assert len(runs) == 2 * 2 * 2
    assert [(r["params"]["loss.temperature"], r["params"]["data.concentration"], r["seed"]) for r in runs[:3]] == \
        [(0.1, 5.0, 0), (0.1, 5.0, 1), (0.1, 20.0, 0)]
    assert len({r["run_id"] for r in runs}) == 8 and all(re.fullmatch(r"[0-9a-f]{10}", r["run_id"]) for r in runs)
    first = runs[0]["config"]
    assert first["data"]["seed"] == 0 and runs[1]["config"]["data"]["seed"] == 1  # data drawn per seed
    assert first["loss"] == {"name": "simclr", "temperature": 0.1}
    assert first["train"]["lr"] == 1e-3 and first["model"] == {"out_dim": 32, "feature_dim": 64, "hidden": 128}


def test_run_ids_are_stable_and_ignore_how_a_value_was_written():
    a = S.expand(tiny(loss__temperature=1, seeds=[3]))
    b = S.expand(tiny(loss__temperature=[1.0], seeds=[3]))  # 1 vs 1.0, scalar vs one-value list
    c = S.expand(tiny(loss__temperature=1.0, seeds=[3], data__concentration=20.0))  # a default written out
    assert a[0]["run_id"] == b[0]["run_id"] == c[0]["run_id"]


def test_a_list_valued_option_is_a_value_inline_and_a_grid_under_grid():
    config = {"data": {"name": "digits", "augmentations": ["crop", "noise"], "n": 200},
              "loss": {"name": "simclr"}, "train": {"batch_size": 64}, "seeds": 1}
    (run,) = S.expand(config)
    assert run["config"]["data"]["augmentations"] == ["crop", "noise"] and run["params"] == {}
    config["data"].pop("augmentations")
    config["grid"] = {"data.augmentations": [["crop"], ["noise", "blur"]]}
    assert [r["params"]["data.augmentations"] for r in S.expand(config)] == [["crop"], ["noise", "blur"]]


def test_overrides_set_sweep_and_replace_grid_entries():
    config = tiny(grid={"data.concentration": [5.0, 20.0]})
    changed = S.apply_overrides(config, ["loss.temperature=0.3", "data.concentration=10", "seeds=1",
                                         "grid.train.lr=[1.0e-3, 1.0e-2]"])
    assert changed["loss"]["temperature"] == 0.3 and changed["seeds"] == 1
    assert changed["grid"] == {"train.lr": [1e-3, 1e-2]} and changed["data"]["concentration"] == 10
    assert config["grid"] == {"data.concentration": [5.0, 20.0]}  # the input is not modified
    assert [r["params"] for r in S.expand(changed)] == [{"train.lr": 1e-3}, {"train.lr": 1e-2}]
    with pytest.raises(S.SweepConfigError, match=r"unknown section 'los' \(did you mean 'loss'\?\)"):
        S.apply_overrides(config, ["los.temperature=0.1"])
    with pytest.raises(S.SweepConfigError, match="expected key=value"):
        S.apply_overrides(config, ["loss.temperature"])


def test_metric_names_are_what_evaluate_computes():
    toy = D.vmf_mixture(60, n_classes=3)
    method = methods.build_method("simclr", toy)
    record, _ = evaluate(method, toy, torch.arange(60), torch.Generator().manual_seed(0), list(metrics.METRICS))
    assert set(record) == set(metrics.METRICS)  # every name a config may list, evaluate computes



# ----------------------------------------------------------------------------- the registries

def test_the_choices_are_exactly_the_registries_keys():
    assert list(schema.DATA_OPTIONS) == list(D.DATASETS)
    assert list(schema.LOSS_OPTIONS) == list(methods.METHODS)
    problems = S.validate(tiny(data__name="?", loss__name="?", metrics=["?"]))
    assert f"data.name: unknown dataset '?'; expected one of {sorted(D.DATASETS)}" in problems
    assert f"loss.name: unknown loss '?'; expected one of {sorted(methods.METHODS)}" in problems
    assert f"metrics: unknown metric '?'; known: {list(metrics.METRICS)}" in problems
    config = tiny()
    del config["metrics"]
    assert S.expand(config)[0]["config"]["metrics"] == list(metrics.DEFAULT_METRICS)


def pairing(dataset: str, setup: str) -> dict:
    loss = {"name": setup, **({"n_classes": 4} if setup == "ce" else {})}
    return {"data": {"name": dataset, "n": 200}, "loss": loss, "train": {"batch_size": 32}, "seeds": 1}


@pytest.mark.parametrize("dataset", sorted(D.DATASETS))
def test_every_dataset_takes_the_set_ups_of_its_kind(dataset):
    """Each registry entry's options are read from its signature (a run id needs JSON values), and a
    two-tower set-up goes with a paired dataset (data.is_paired), NegCLIP with swap_attributes."""
    if D.reads_files(dataset):
        pytest.skip("arrays reads the user's files (tests/data/test_user.py runs it in a sweep)")
    for setup, cls in methods.METHODS.items():
        problems = S.validate(pairing(dataset, setup))
        fits = cls.paired == D.is_paired(dataset) and (setup != "negclip" or dataset == "compositional_pairs")
        if fits:
            assert problems == [], (dataset, setup, problems)
        else:
            assert len(problems) == 1 and re.match(r"(loss|data)\.name: ", problems[0]), (dataset, setup, problems)


def test_options_yaml_cannot_write_are_left_to_their_defaults_and_documented():
    (run,) = S.expand(pairing("correlated_gaussians", "clip"))
    assert "dtype" not in run["config"]["data"] and "encoder_b" not in run["config"]["loss"]
    (problem,) = S.validate({**pairing("correlated_gaussians", "clip"), "data": {"name": "correlated_gaussians",
                                                                                  "n": 200, "dtype": "float64"}})
    assert problem.startswith("data.dtype: cannot be set in a config (its type, torch.dtype, has no YAML form)")
    unsettable = {name for specs in [*schema.DATA_OPTIONS.values(), *schema.LOSS_OPTIONS.values(),
                                     schema.MODEL_OPTIONS, schema.TRAIN_OPTIONS]
                  for name, option in specs.items() if not option.settable}
    assert unsettable == {"dtype", "encoder", "encoder_b", "negatives", "sampler", "callbacks"}
    for name in unsettable:  # the config reference says what a config cannot set
        assert f"``{name}``" in sweep_config.__doc__, name


def test_the_new_registry_entries_run_in_a_sweep(tmp_path):
    for dataset, setup in (("compositional_pairs", "negclip"), ("correlated_gaussians", "clip"),
                           ("anisotropic_gaussian", "supcon_simclr")):
        config = {**pairing(dataset, setup), "name": setup, "metrics": ["alignment", "uniformity"],
                  "train": {"steps": 2, "batch_size": 32, "eval_every": 0, "eval_size": 64}}
        frame = S.sweep(config, out=tmp_path / setup, workers=1, progress=False, report=False)
        assert frame["step"].tolist() == [2] and frame[["alignment", "uniformity"]].notna().all().all()

# ----------------------------------------------------------------------------- processes and the CLI

def test_two_worker_processes_give_the_same_runs(done, tmp_path):
    out, frame = done
    config = tiny(loss__temperature=0.5)
    parallel = S.sweep(config, out=tmp_path, workers=2, progress=False)
    assert json.loads((tmp_path / "environment.json").read_text())["workers"] == 2
    serial = frame[frame["loss.temperature"] == 0.5].reset_index(drop=True)
    assert list(parallel["run_id"]) == list(serial["run_id"])  # same configs, same ids
    # every run uses one torch thread, in a worker or in-process: the same numbers
    pd.testing.assert_frame_equal(parallel.drop(columns="seconds"),
                                  serial.drop(columns=["loss.temperature", "seconds"]))


def test_cli_runs_a_sweep_with_overrides(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    run = cli("sweep", path, "--set", "loss.temperature=0.2", "--set", "seeds=1", "--no-progress", cwd=tmp_path)
    assert run.stderr == ""  # --no-progress: quiet
    results = pd.read_csv(tmp_path / "runs" / "tiny" / "results.csv")
    assert results["run_id"].nunique() == 1 and "loss.temperature" not in results.columns
    assert (results["temperature"] == 0.2).all()
    report = (tmp_path / "runs" / "tiny" / "report.html").read_text()
    assert "one seed, so there is no interval" in report


def test_cli_dry_run_errors_and_version(tmp_path, monkeypatch, capsys):
    from contrastlab.cli import main

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    assert main(["sweep", str(path), "--dry-run", "--set", "loss.temperature=[0.2,0.3,0.4]"]) == 0
    out = capsys.readouterr().out
    assert "6 runs (0 finished, 6 to run) -> runs/tiny" in out and "loss.temperature" in out
    assert not (tmp_path / "runs").exists()

    assert main(["sweep", str(path), "--set", "loss.temperature=-1", "--set", "train.batch_size=5000"]) == 2
    err = capsys.readouterr().err
    assert "loss.temperature: got -1" in err and "train.batch_size: got 5000" in err
    assert main(["sweep", str(tmp_path / "nope.yaml")]) == 2 and "nope.yaml" in capsys.readouterr().err
    assert main(["sweep", str(path), "--set", "nokey"]) == 2 and "expected key=value" in capsys.readouterr().err
    assert main(["sweep", str(path), "--workers", "0"]) == 2 and "workers" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"contrastlab {contrastlab.__version__}"


def test_the_examples_are_valid():
    for path in sorted((ROOT / "examples" / "sweeps").glob("*.yaml")):
        assert S.validate(path) == [], path


def test_console_script_points_at_the_cli():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("scripts")
    if not scripts:
        pytest.skip("pyproject.toml declares no [project.scripts] yet (add contrastlab = \"contrastlab.cli:main\")")
    assert scripts["contrastlab"] == "contrastlab.cli:main"
