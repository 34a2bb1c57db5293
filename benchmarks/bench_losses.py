"""Forward+backward time and peak memory of the losses against the bare bound, the GEMM floor and peers.

    python benchmarks/bench_losses.py [--sizes 1024 4096 16384] [--dim 128] [--threads 1 2] [--repeats 5]

For each N the contenders run interleaved (one repeat of each in turn, so machine noise hits all
alike, in an order rotated every repeat, so none always follows the same neighbour); the table gives
the median and the spread (min-max) of fwd+bwd wall time, the ratio to the bare bound
``cross_entropy(z1 @ z2.T / tau, arange(N))``, and the achieved rate as a fraction of the measured
matmul rate (useful flops: the 3 GEMMs of the forward and backward of an N x N x D product).
Peak memory is measured in a fresh process per contender (ru_maxrss above the baseline after the
inputs exist), 1 thread. OMP_WAIT_POLICY=PASSIVE is set (before torch is imported) so that idle
OpenMP threads sleep instead of spinning: on a shared machine spinning threads make many-kernel
paths look far slower than they are. Set it yourself to override.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import contrastlab.losses as L  # noqa: E402

TAU = 0.1
# Contenders are skipped where their estimated memory would pass this many bytes.
DENSE_LIMIT_BYTES = 6 * 2**30


def dense_bytes(side: int) -> int:
    """About four float32 side x side matrices: logits, their softmax/gradient, a mask or a copy."""
    return 16 * side * side


def contenders(n: int, d: int) -> dict:
    """name -> (make_inputs, loss_fn, bytes): bytes estimates the largest memory it needs (0: O(N D))."""
    def two():
        g = torch.Generator().manual_seed(0)
        return [torch.randn(n, d, generator=g).requires_grad_() for _ in range(2)]

    def views():
        g = torch.Generator().manual_seed(0)
        return [torch.randn(n, 2, d, generator=g).requires_grad_(), torch.arange(n) % 100]

    out = {
        "bare bound CE(z1 z2ᵀ/τ)": (two, lambda a, b: F.cross_entropy(a @ b.T / TAU, torch.arange(n)), dense_bytes(n)),
        "info_nce dense": (two, lambda a, b: L.info_nce(a, b, temperature=TAU, impl="dense"), dense_bytes(n)),
        "info_nce tiled": (two, lambda a, b: L.info_nce(a, b, temperature=TAU, impl="tiled"), 0),
        "clip_loss dense": (two, lambda a, b: L.clip_loss(a, b, logit_scale=1 / TAU, impl="dense"), dense_bytes(n)),
        "clip_loss tiled": (two, lambda a, b: L.clip_loss(a, b, logit_scale=1 / TAU, impl="tiled"), 0),
        "nt_xent dense": (two, lambda a, b: L.nt_xent(a, b, temperature=TAU, impl="dense"), dense_bytes(2 * n)),
        "nt_xent tiled": (two, lambda a, b: L.nt_xent(a, b, temperature=TAU, impl="tiled"), 0),
        "supcon (ours)": (views, lambda f, y: L.supcon(f, y, temperature=TAU), dense_bytes(2 * n)),
    }
    try:
        from pytorch_metric_learning import losses as pml

        ntxent, supcon = pml.NTXentLoss(temperature=TAU), pml.SupConLoss(temperature=TAU)
        labels = torch.arange(n)
        out["PML NTXentLoss"] = (two, lambda a, b: ntxent(torch.cat([a, b]), torch.cat([labels, labels])),
                                   # its (positive pairs x negative pairs) matrix: cubic in N
                                   4 * (2 * n) * (2 * n) ** 2)
        out["PML SupConLoss"] = (views, lambda f, y: supcon(f.transpose(0, 1).reshape(2 * n, -1), y.repeat(2)), dense_bytes(2 * n))
    except ImportError:
        pass
    try:
        from lightly.loss import NTXentLoss as LightlyNTXent

        lightly_ntxent = LightlyNTXent(temperature=TAU)
        out["lightly NTXentLoss"] = (two, lambda a, b: lightly_ntxent(a, b), dense_bytes(2 * n))
    except Exception:  # not installed, or torchvision fails to load: see unavailable_peers()
        pass
    try:
        import info_nce

        peer = info_nce.InfoNCE(temperature=TAU)
        out["info-nce-pytorch InfoNCE"] = (two, lambda a, b: peer(a, b), dense_bytes(n))
    except ImportError:
        pass
    return out


def unavailable_peers() -> dict[str, str]:
    """Peers the table leaves out, with the import error that kept each out."""
    missing = {}
    peers = (("lightly NTXentLoss", "lightly.loss"), ("PML NTXentLoss / SupConLoss", "pytorch_metric_learning"),
             ("info-nce-pytorch InfoNCE", "info_nce"))
    for name, module in peers:
        try:
            __import__(module)
        except Exception as error:  # lightly imports torchvision, whose failures are not ImportErrors
            missing[name] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return missing


def skip_reason(needed: int) -> str | None:
    if needed > DENSE_LIMIT_BYTES:
        return f"skipped: needs about {needed / 2**30:.0f} GiB (limit {DENSE_LIMIT_BYTES / 2**30:.0f} GiB)"
    return None


def fwd_bwd(make, fn) -> float:
    inputs = make()
    started = time.perf_counter()
    fn(*inputs).backward()
    return time.perf_counter() - started


def gemm_rate(n: int, d: int, repeats: int = 5) -> float:
    a, b = torch.randn(n, d), torch.randn(n, d)
    a @ b.T
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b.T
        times.append(time.perf_counter() - started)
    return 2 * n * n * d / statistics.median(times)


def three_gemm_floor(n: int, d: int) -> float:
    a, b = torch.randn(n, d), torch.randn(n, d)
    started = time.perf_counter()
    s = a @ b.T  # forward
    s @ b  # d/da
    s.T @ a  # d/db
    return time.perf_counter() - started


def time_table(n: int, d: int, repeats: int) -> list[tuple]:
    cases = contenders(n, d)
    runnable = {k: v for k, v in cases.items() if skip_reason(v[2]) is None}
    for make, fn, _ in runnable.values():  # warm-up
        fwd_bwd(make, fn)
    times = {k: [] for k in runnable}
    floor = []
    names = list(runnable)
    for repeat in range(repeats):
        floor.append(three_gemm_floor(n, d))
        # rotate the order each repeat so no contender always runs right after the same neighbour
        # (a large free or a cold cache left by the previous one would otherwise bias it every time)
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            make, fn, _ = runnable[name]
            times[name].append(fwd_bwd(make, fn))
    rate = gemm_rate(n, d)
    useful = 3 * 2 * n * n * d  # flops of the three GEMMs
    bare = statistics.median(times["bare bound CE(z1 z2ᵀ/τ)"])
    rows = [("3-GEMM floor", statistics.median(floor), min(floor), max(floor), statistics.median(floor) / bare,
             useful / statistics.median(floor) / rate, "")]
    for name, (_, _, side) in cases.items():
        if name not in runnable:
            rows.append((name, None, None, None, None, None, skip_reason(side)))
            continue
        t = times[name]
        rows.append((name, statistics.median(t), min(t), max(t), statistics.median(t) / bare,
                     useful / statistics.median(t) / rate, ""))
    return rows


def peak_memory(name: str, n: int, d: int) -> float | None:
    """Peak resident memory (MiB) of one fwd+bwd above the resident memory just before it, in a fresh
    process (Linux: /proc/self/statm and VmHWM)."""
    code = f"""
import os, json, torch
torch.set_num_threads(1)
import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from bench_losses import contenders
small_make, small_fn, _ = contenders(8, {d})[{name!r}]
small_fn(*small_make()).backward()  # load every library and kernel first
make, fn, side = contenders({n}, {d})[{name!r}]
inputs = make()
page_kib = os.sysconf("SC_PAGE_SIZE") / 1024
before = int(open("/proc/self/statm").read().split()[1]) * page_kib  # resident now, KiB
fn(*inputs).backward()
# the high-water mark of this process's memory (VmHWM; ru_maxrss would carry the parent's over exec), KiB
after = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps(max(0.0, after - before) / 1024))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        return None
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[4096, 16384])
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()

    print(f"# losses, fwd+bwd, float32, D = {args.dim}, τ = {TAU}; {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"# torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cpus, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    for name, why in unavailable_peers().items():
        print(f"# not measured: {name} ({why})")
    record = {"time": [], "memory": []}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for n in args.sizes:
            repeats = args.repeats if n <= 4096 else max(2, args.repeats // 2)
            print(f"\n## N = {n}, {threads} thread(s), {repeats} repeats")
            print(f"{'contender':<28} {'median ms':>10} {'min':>9} {'max':>9} {'x bare':>7} {'of matmul':>9}")
            for name, med, lo, hi, ratio, frac, note in time_table(n, args.dim, repeats):
                if med is None:
                    print(f"{name:<28} {note}")
                    continue
                print(f"{name:<28} {1000 * med:>10.1f} {1000 * lo:>9.1f} {1000 * hi:>9.1f} {ratio:>7.2f} {frac:>9.0%}")
                record["time"].append(dict(threads=threads, n=n, name=name, median_ms=1000 * med, ratio=ratio))
    for n in args.memory_sizes:
        print(f"\n## peak memory above the inputs, N = {n} (fresh process each, 1 thread)")
        cases = contenders(n, args.dim)
        base = None
        for name, (_, _, side) in cases.items():
            reason = skip_reason(side)
            mib = None if reason else peak_memory(name, n, args.dim)
            if name.startswith("bare"):
                base = mib
            share = f"{mib / base:>7.1%}" if (mib is not None and base) else ""
            print(f"{name:<28} {('%10.0f MiB' % mib) if mib is not None else (reason or 'failed'):>14} {share}")
            record["memory"].append(dict(n=n, name=name, mib=mib))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
