"""What a slider move costs: the compute time of each widget callback, and the browser latency.

    python benchmarks/bench_widgets.py [--repeats 15]

Callback times are measured here, in-process, on the logic the widgets run (figures updated in place
on ``FigureWidget``s, without a front end). The browser latency (key press -> figure redrawn on
screen, through the kernel) is measured by ``make test-browser`` (tests/browser/test_apps.py), which
writes build/benchmarks/widget_latency.json; its numbers are printed here when that file exists.
Goals: callback ≤ 100 ms for N ≤ 2000; median browser latency ≤ 150 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from contrastlab.interactive import widgets

LATENCY = Path(__file__).resolve().parents[1] / "build" / "benchmarks" / "widget_latency.json"


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - started))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    rows = []

    for n in (8, 2000):
        sims = np.sort(np.random.default_rng(0).uniform(-1, 1, n))[::-1].copy()
        app = widgets.TemperatureExplorer(similarities=sims)
        taus = iter(np.geomspace(0.01, 10, 10 * args.repeats))
        rows.append((f"temperature explorer, {n} candidates", timed(lambda: app.set_temperature(next(taus)), args.repeats)))

    for n in (512, 2000):
        app = widgets.HardNegativeExplorer(n=n, n_classes=8)
        betas = iter(np.linspace(0, 5, 10 * args.repeats))
        rows.append((f"hard-negative explorer, β slider, N = {n}",
                     timed(lambda: setattr(app.beta, "value", float(next(betas))), args.repeats)))
        ceilings = iter(np.linspace(0.95, 0.3, 10 * args.repeats))
        rows.append((f"hard-negative explorer, ceiling slider, N = {n}",
                     timed(lambda: setattr(app.ceiling, "value", float(next(ceilings))), args.repeats)))

    z = torch.randn(2000, 32)
    labels = torch.arange(2000) % 10
    explorer = widgets.EmbeddingExplorer(z, labels)
    rows.append(("embedding explorer, PCA redraw, N = 2000", timed(explorer.run, args.repeats)))

    print(f"{'callback':<48} {'median ms':>10} {'min':>7} {'max':>7}")
    for name, values in rows:
        print(f"{name:<48} {statistics.median(values):>10.1f} {min(values):>7.1f} {max(values):>7.1f}")
    if LATENCY.exists():
        record = json.loads(LATENCY.read_text())
        values = record["key_to_redraw_ms"]
        print(f"\nbrowser: {record['widget']} key press -> redraw, {len(values)} presses ({record['date']}): "
              f"median {statistics.median(values):.0f} ms, min {min(values):.0f}, max {max(values):.0f}")
    else:
        print(f"\nbrowser latency: run `make test-browser` first (it writes {LATENCY})")


if __name__ == "__main__":
    main()
