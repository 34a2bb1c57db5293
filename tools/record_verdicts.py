"""Record each lesson's full-mode verdicts: what fast mode prints beside its smoke run.

    python tools/record_verdicts.py [--only 02 05]

Runs each numbered lesson (notebooks/NN_*.py from 01 on) top to bottom in full mode, with
``CONTRASTLAB_RECORD_VERDICTS`` set so that every ``Rule.judge`` appends its verdict, and writes them
into lib/contrastlab/lessons/recorded_verdicts.json together with the notebook's wall seconds and
kernel CPU seconds. A notebook that fails keeps its previous record and the tool exits 1. Run it on a
quiet machine: the seconds it writes are the full-mode run times the instructor's guide quotes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from contrastlab.lessons import verdicts  # noqa: E402

_spec = importlib.util.spec_from_file_location("contrastlab_tools_notebooks", ROOT / "tools" / "notebooks.py")
notebooks = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = notebooks
_spec.loader.exec_module(notebooks)


def lessons(only: list[str] | None) -> list[Path]:
    found = [p for p in notebooks.sources() if p.parent == notebooks.NOTEBOOKS and p.stem[:2].isdigit()
             and not p.stem.startswith("00")]  # the numbered lessons; not 00, not the apps
    return [p for p in found if not only or any(p.stem.startswith(o) for o in only)]


def record(source: Path) -> tuple[dict | None, list[dict], str | None]:
    """Run one notebook in full mode; (its timing, its verdict records, an error or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "verdicts.jsonl"
        out.touch()
        os.environ[verdicts.RECORD_ENV] = str(out)
        os.environ.pop("CONTRASTLAB_FAST", None)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            run = notebooks.execute(source, fast=False, cwd=source.parent)
        finally:
            os.environ.pop(verdicts.RECORD_ENV, None)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    timing = {"date": dt.datetime.now().isoformat(timespec="minutes"), "wall_s": round(run.seconds, 1),
              "kernel_cpu_s": round(cpu, 1), "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    error = run.error
    wrong = [r["id"] for r in rows if r["id"].split(":")[0] != source.stem]
    if not error and wrong:
        error = f"rule ids {wrong} do not start with the notebook's name {source.stem!r}"
    if not error and not rows:
        error = "no verdict was judged (no Rule.judge call ran in full mode)"
    if not error and len({r["id"] for r in rows}) != len(rows):
        error = "a rule was judged twice in one run"
    return timing, rows, error


GUIDE = ROOT / "INSTRUCTORS.md"
START, END = "<!-- recorded:start (tools/record_verdicts.py writes this table) -->", "<!-- recorded:end -->"


def render_table(data: dict) -> str:
    """The guide's table of recorded full-mode runs: one row per notebook, its run time and verdicts."""
    rows = ["| notebook | full mode: wall / kernel CPU | recorded | verdicts of record (effect, 95% interval, seeds) |",
            "| --- | --- | --- | --- |"]
    for stem in sorted(data["notebooks"]):
        nb = data["notebooks"][stem]
        verdict_text = []
        for rule_id in nb["rules"]:
            r = data["verdicts"][rule_id]
            e = r["effect"]
            verdict_text.append(f"{rule_id.split(':', 1)[1]}: **{r['outcome']}**, {e['mean']:+.3g} "
                                f"[{e['low']:+.3g}, {e['high']:+.3g}], n = {len(r['seeds'])}")
        rows.append(f"| `{stem}` | {nb['wall_s']:.0f} s / {nb['kernel_cpu_s']:.0f} s | {nb['date'][:10]} | "
                    + "<br>".join(verdict_text) + " |")
    return "\n".join(rows)


def write_guide_table(data: dict) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{GUIDE.name}: the markers {START!r} and {END!r} are missing")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    GUIDE.write_text(f"{head}{START}\n{render_table(data)}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, metavar="NN", help="notebook name prefixes")
    parser.add_argument("--table-only", action="store_true", help="only rewrite INSTRUCTORS.md's table from the record")
    args = parser.parse_args(argv)
    path = verdicts.RECORDED
    data = json.loads(path.read_text()) if path.exists() else {"verdicts": {}, "notebooks": {}}
    if args.table_only:
        write_guide_table(data)
        return 0
    failed = 0
    for source in lessons(args.only):
        timing, rows, error = record(source)
        if error:
            failed += 1
            print(f"{source.stem}: FAILED, its record is kept as it was:\n{error[-2000:]}", file=sys.stderr)
            continue
        if path.exists():  # re-read: another run of this tool may have written other notebooks meanwhile
            data = json.loads(path.read_text())
        data["verdicts"] = {k: v for k, v in data["verdicts"].items() if not k.startswith(source.stem + ":")}
        data["verdicts"].update({r["id"]: r for r in rows})
        data["notebooks"][source.stem] = {**timing, "rules": [r["id"] for r in rows]}
        print(f"{source.stem}: wall {timing['wall_s']} s, kernel CPU {timing['kernel_cpu_s']} s")
        for r in rows:
            e = r["effect"]
            print(f"  {r['id']}: {r['outcome']} — effect {e['mean']:+.4g} [{e['low']:+.4g}, {e['high']:+.4g}] "
                  f"over seeds {r['seeds']}")
        path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        write_guide_table(data)
    known = {p.stem for p in notebooks.sources()}
    stale = [k for k in data["notebooks"] if k not in known]
    if stale:
        print(f"note: records of notebooks that no longer exist: {stale}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
