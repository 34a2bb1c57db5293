"""Time and peak memory of ``contrastlab.diagnose`` against the input size: a row per size.

    python benchmarks/bench_diagnose.py [--sizes 1000 10000 100000] [--dim 768] [--labels]

Each size runs in a fresh process: random float32 embeddings (N, D) are made first, then one
``diagnose`` call is measured: its wall time and its peak resident memory above what was in use
before it (``lessons.batch_size_and_memory.peak_memory(method="rss")``, Linux). The input itself is
N·D·4 bytes; the diagnosis should need a small multiple of it (O(N·D): a unit-vector copy and
chunks), not N² (100,000² float32 similarities would be 40 GB). Statistics that need all pairs run
on a subsample of ``contrastlab.diagnosis.MAX_SAMPLE`` rows, so from that size on the time grows
as N·D² (the spectrum) and N·D (the rest).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CODE = """
import json, time, numpy as np, torch
from contrastlab import diagnose
from contrastlab.lessons.batch_size_and_memory import peak_memory
torch.set_num_threads({threads})
rng = np.random.default_rng(0)
x = rng.standard_normal(({n}, {dim}), dtype=np.float32)
labels = rng.integers(0, 10, {n}) if {labels} else None
diagnose(x[:200], labels=None if labels is None else labels[:200])  # imports and first calls, not measured
started = time.perf_counter()
peak = peak_memory(lambda: diagnose(x, labels=labels), method="rss")
seconds = time.perf_counter() - started
print(json.dumps(dict(seconds=seconds, peak=peak.peak_bytes, input=x.nbytes, sample=len(peak.result.sample))))
"""


def measure(n: int, dim: int, labels: bool, threads: int) -> dict:
    code = CODE.format(n=n, dim=dim, labels=labels, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--labels", action="store_true", help="also give 10-class labels (kNN accuracy)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()
    print(f"contrastlab.diagnose of N x {args.dim} float32 random embeddings"
          f"{' with labels' if args.labels else ''}, {args.threads} torch threads, one fresh process per size")
    print(f"{'N':>8} {'input MB':>9} {'time s':>8} {'peak MB':>9} {'peak / input':>13} {'O(N²) sample':>13}")
    for n in args.sizes:
        r = measure(n, args.dim, args.labels, args.threads)
        mb = 2 ** 20
        print(f"{n:>8} {r['input'] / mb:>9.0f} {r['seconds']:>8.2f} {r['peak'] / mb:>9.0f} "
              f"{r['peak'] / r['input']:>13.2f} {r['sample']:>13}")


if __name__ == "__main__":
    main()
