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
    found = [p for p in notebooks.sources() if not p.stem.startswith("00")]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, metavar="NN", help="notebook name prefixes")
    args = parser.parse_args(argv)
    path = verdicts.RECORDED
    data = json.loads(path.read_text()) if path.exists() else {"verdicts": {}, "notebooks": {}}
    failed = 0
    for source in lessons(args.only):
        timing, rows, error = record(source)
        if error:
            failed += 1
            print(f"{source.stem}: FAILED, its record is kept as it was:\n{error[-2000:]}", file=sys.stderr)
            continue
        data["verdicts"] = {k: v for k, v in data["verdicts"].items() if not k.startswith(source.stem + ":")}
        data["verdicts"].update({r["id"]: r for r in rows})
        data["notebooks"][source.stem] = {**timing, "rules": [r["id"] for r in rows]}
        print(f"{source.stem}: wall {timing['wall_s']} s, kernel CPU {timing['kernel_cpu_s']} s")
        for r in rows:
            e = r["effect"]
            print(f"  {r['id']}: {r['outcome']} — effect {e['mean']:+.4g} [{e['low']:+.4g}, {e['high']:+.4g}] "
                  f"over seeds {r['seeds']}")
        path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    known = {p.stem for p in notebooks.sources()}
    stale = [k for k in data["notebooks"] if k not in known]
    if stale:
        print(f"note: records of notebooks that no longer exist: {stale}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
