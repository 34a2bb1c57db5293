"""Training speed of ``fit`` on the vMF toy: steps per second, median and spread over repeats.

    python benchmarks/bench_fit.py [--steps 200] [--repeats 5] [--threads 1 2]

Each repeat is a fresh ``fit`` (model built, data on the device) with evaluation off, so the number is
the optimisation loop itself; the set-ups are run interleaved (one repeat of each in turn) so that
machine noise hits all of them alike.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import contrastlab
from contrastlab.data import vmf_mixture
from contrastlab.train import fit

SETUPS = [
    ("simclr", {"temperature": 0.2}),
    ("infonce", {"temperature": 0.1}),
    ("supcon", {"temperature": 0.1}),
    ("moco", {"temperature": 0.1, "queue_size": 4096}),
    ("simsiam", {}),
    ("byol", {}),
    ("barlow", {}),
    ("vicreg", {}),
]


def steps_per_second(data, name, options, steps, batch_size, device):
    started = time.perf_counter()
    fit(data, name, steps=steps, batch_size=batch_size, eval_every=0, metrics=(), progress=False,
        device=device, **options)
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    data = vmf_mixture(4096, n_classes=10, dim=16)
    print(f"fit on vmf_mixture(4096, n_classes=10, dim=16): batch {args.batch_size}, {args.steps} steps, "
          f"{args.repeats} repeats, device {args.device}")
    print(f"contrastlab {contrastlab.__version__}, torch {torch.__version__}, python {platform.python_version()}, "
          f"{platform.processor() or platform.machine()}")
    print(f"\n{'set-up':<10} {'threads':>7} {'steps/s median':>15} {'min':>8} {'max':>8}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, options in SETUPS:  # warm-up: first calls allocate and JIT-free paths settle
            steps_per_second(data, name, options, 5, args.batch_size, args.device)
        results = {name: [] for name, _ in SETUPS}
        for _ in range(args.repeats):
            for name, options in SETUPS:
                results[name].append(steps_per_second(data, name, options, args.steps, args.batch_size, args.device))
        for name, values in results.items():
            print(f"{name:<10} {threads:>7} {statistics.median(values):>15.1f} {min(values):>8.1f} {max(values):>8.1f}")


if __name__ == "__main__":
    main()
