"""Run every benchmark and write benchmarks/RESULTS.md (date, machine, versions, each table as printed).

    python benchmarks/run_all.py [--quick]

``--quick`` uses smaller sizes and fewer repeats (a smoke run, not for RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        kib = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
        memory = f"{kib / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        memory = "?"
    try:
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return f"{cpu}, {os.cpu_count()} cores, {memory}; load average at start {load}"


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def versions() -> str:
    names = ["torch", "numpy", "umap-learn", "pytorch-metric-learning", "info-nce-pytorch", "plotly", "ipywidgets"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return f"python {platform.python_version()}, " + ", ".join(found)


def run(title: str, command: list[str]) -> str:
    print(f"== {title}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    text = result.stdout.strip() + (f"\n(exit {result.returncode})\n{result.stderr.strip()[-2000:]}"
                                    if result.returncode else "")
    print(text, flush=True)
    return f"## {title}\n\n`{' '.join(command[1:])}` ({seconds:.0f} s)\n\n```\n{text}\n```\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    py = sys.executable
    if args.quick:
        plan = [("Losses", [py, "benchmarks/bench_losses.py", "--sizes", "1024", "--threads", "1", "--repeats", "2",
                            "--memory-sizes", "4096"]),
                ("Training speed of fit", [py, "benchmarks/bench_fit.py", "--steps", "50", "--repeats", "2"]),
                ("UMAP", [py, "benchmarks/bench_umap.py", "--rounds", "1", "--repeats", "1"]),
                ("Widgets", [py, "benchmarks/bench_widgets.py", "--repeats", "3"]),
                ("Diagnosing N x 768 embeddings", [py, "benchmarks/bench_diagnose.py", "--sizes", "1000", "10000"])]
    else:
        plan = [("Losses", [py, "benchmarks/bench_losses.py"]),
                ("Training speed of fit", [py, "benchmarks/bench_fit.py"]),
                ("UMAP", [py, "benchmarks/bench_umap.py"]),
                ("Widgets", [py, "benchmarks/bench_widgets.py"]),
                ("Diagnosing N x 768 embeddings: time and peak memory", [py, "benchmarks/bench_diagnose.py", "--labels"]),
                ("Notebooks: time and peak memory, fast and full mode", [py, "benchmarks/bench_notebooks.py"])]
    header = (f"# Benchmark results\n\nMeasured by `make bench` (`python benchmarks/run_all.py`) on "
              f"{time.strftime('%Y-%m-%d %H:%M %Z')}.\n\n- machine: {machine()}\n- versions: {versions()}\n"
              f"- the CUDA tables come from `bench_losses.py --device cuda --dtypes float32 bfloat16 --sizes 4096 16384 "
              f"65536` on a machine with a GPU; this run is on {'CUDA' if _cuda() else 'the CPU only'}.\n\n")
    sections = [run(title, command) for title, command in plan]
    if not args.quick:
        (HERE / "RESULTS.md").write_text(header + "\n".join(sections))
        print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
