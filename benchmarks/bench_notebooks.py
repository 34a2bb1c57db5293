"""Classroom sizing: each notebook's run time and peak memory in fast and in full mode, side by side.

    python benchmarks/bench_notebooks.py [--only 02 07] [--modes fast full]

Builds the book (tools/build_book.py) once per mode into build/bench-book-<mode>/ and prints one
table. Peak memory is the kernel's resident high-water mark (or its largest child process's, for
the sweep workers of notebook 12): what a hosted notebook tier's memory limit is checked against
(Binder and the free tiers give about 2 GB; JupyterLab's own server is not counted). The limit
column says whether each mode fits 2 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 2048  # Binder / free hosted notebook tiers: about 2 GB per user


def build(mode: str, only: list[str] | None) -> dict[str, dict]:
    out = ROOT / "build" / f"bench-book-{mode}"
    command = [sys.executable, str(ROOT / "tools" / "build_book.py"), "--out", str(out)]
    command += ["--fast"] if mode == "fast" else []
    command += ["--only", *only] if only else []
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        print(f"# {mode} mode: build_book exited {result.returncode}\n{result.stderr[-1500:]}", file=sys.stderr)
    return {row["notebook"]: row for row in json.loads((out / "book.json").read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, metavar="NN", help="notebook name prefixes")
    parser.add_argument("--modes", nargs="+", default=["fast", "full"], choices=["fast", "full"])
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M")
    results = {mode: build(mode, args.only) for mode in args.modes}
    names = sorted(set().union(*results.values()))
    print(f"# notebooks: run time (kernel start included) and peak memory, {started}; limit {LIMIT_MIB} MiB")
    header = "notebook".ljust(28) + "".join(f"{mode + ' s':>9}{mode + ' MiB':>11}" for mode in args.modes)
    print(header + "  fits 2 GB")
    for name in names:
        cells, fits = [], []
        for mode in args.modes:
            row = results[mode].get(name)
            if row is None or row["failed"]:
                cells.append(f"{'failed':>9}{'-':>11}")
                fits.append(f"{mode}: no")
                continue
            peak = row["peak_mib"]
            cells.append(f"{row['seconds']:>9.1f}{peak:>11.0f}")
            fits.append(f"{mode}: {'yes' if peak <= LIMIT_MIB else 'NO'}")
        print(name.ljust(28) + "".join(cells) + "  " + ", ".join(fits))
    for mode in args.modes:
        rows = [r for r in results[mode].values() if not r["failed"]]
        if rows:
            print(f"{mode}: total {sum(r['seconds'] for r in rows):.0f} s, largest peak "
                  f"{max(r['peak_mib'] for r in rows):.0f} MiB")


if __name__ == "__main__":
    main()
