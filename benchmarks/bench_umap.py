"""UMAP through contrastlab.interactive.projection.project against umap-learn's default, cold and warm.

    python benchmarks/bench_umap.py [--n 2000] [--dim 32] [--repeats 3]

"Cold" is a fresh Python process: import, then the first projection (for project, numba's cache
was primed at install: `python -m contrastlab.interactive.projection --prime`). "Warm" is a further call in the
same process on new data of the same size (the content cache is bypassed). Each cold measurement
runs in its own subprocess; the contenders alternate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CODE = """
import time, json, warnings
warnings.filterwarnings("ignore")
started = time.perf_counter()
import numpy as np
x = np.random.default_rng({seed}).standard_normal(({n}, {dim})).astype(np.float32)
if {ours}:
    from contrastlab.interactive.projection import project
    run = lambda data: project(data, "umap", on_wait=lambda m: None)
else:
    import umap
    run = lambda data: umap.UMAP(random_state=0).fit_transform(data)
run(x)
cold = time.perf_counter() - started
warm = []
for i in range({repeats}):
    t = time.perf_counter(); run(x + 1e-3 * (i + 1)); warm.append(time.perf_counter() - t)
print(json.dumps([cold, warm]))
"""


def measure(ours: bool, n: int, dim: int, repeats: int, seed: int) -> tuple[float, list[float]]:
    code = CODE.format(seed=seed, n=n, dim=dim, ours=ours, repeats=repeats)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=True)
    cold, warm = json.loads(out.stdout.strip().splitlines()[-1])
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results = {True: ([], []), False: ([], [])}
    for round_ in range(args.rounds):
        for ours in (True, False):
            cold, warm = measure(ours, args.n, args.dim, args.repeats, seed=round_)
            results[ours][0].append(cold)
            results[ours][1].extend(warm)
    print(f"UMAP of {args.n} x {args.dim} random points, {args.rounds} fresh processes each, "
          f"{args.repeats} warm calls per process")
    print(f"{'contender':<44} {'cold s (median)':>16} {'warm s (median)':>16}")
    names = {True: "contrastlab project(method='umap')", False: "umap-learn UMAP() default"}
    for ours in (True, False):
        cold, warm = results[ours]
        print(f"{names[ours]:<44} {statistics.median(cold):>16.2f} {statistics.median(warm):>16.2f}")
    ratio = statistics.median(results[True][1]) / statistics.median(results[False][1])
    print(f"warm ratio (ours / default): {ratio:.2f}  (goal <= 0.2); cold goal: first call in a new kernel <= 5 s")


if __name__ == "__main__":
    main()
