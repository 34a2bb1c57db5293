"""Forward+backward time and peak memory of the losses against the bare bound, each loss's own GEMM floor and peers.

    python benchmarks/bench_losses.py [--sizes 1024 4096 16384] [--dim 128] [--threads 1 2] [--repeats 5]
    python benchmarks/bench_losses.py --device cuda --dtypes float32 bfloat16 --sizes 4096 16384 65536

For each N the contenders run interleaved (one repeat of each in turn, so machine noise hits all
alike, in an order rotated every repeat, so none always follows the same neighbour); the table gives
the median and the spread (min-max) of fwd+bwd wall time, the ratio to the bare bound
``cross_entropy(z1 @ z2.T / tau, arange(N))``, the ratio to the loss's **own floor** and the achieved
rate as a fraction of the measured matmul rate (useful flops: the 3 GEMMs of the forward and backward
of an N x N x D product).

A loss's own floor is the three matrix products any exact in-batch loss needs (the logits Q Kᵀ, then
dQ = G K and dK = Gᵀ Q), on the same block structure as the loss (the row tiles ``tiled.tile_shape``
gives it, over an N x N matrix for info_nce and clip_loss, 2N x 2N for nt_xent and supcon), with
nothing else: no exp, no normalisation. The floors are contenders too (rows "floor: ..."), measured
in the same interleaved run. The dense losses are compared with the floor of one N x N (2N x 2N) block.

Peak memory: on CPU, in a fresh process per contender (VmHWM above the resident memory once the
inputs exist), 1 thread; on CUDA, ``torch.cuda.max_memory_allocated`` above the memory allocated once
the inputs exist. "of dense" is the share of the same loss's dense peak, or of the dense estimate
(``dense_bytes``) where the dense loss is skipped. ``--large-supcon`` runs tiled supcon alone at a
large N (CPU: 65536 by default in a full run, in a fresh process, with its time and peak memory).

OMP_WAIT_POLICY=PASSIVE is set (before torch is imported) so that idle OpenMP threads sleep instead of
spinning: on a shared machine spinning threads make many-kernel paths look far slower than they are.
Set it yourself to override. Only torch is needed; the peers are measured where installed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import contrastlab.losses as L  # noqa: E402
from contrastlab.losses import tiled as T  # noqa: E402

TAU = 0.1
# Contenders are skipped where their estimated memory would pass this many bytes (CPU; see --dense-limit-gib).
DENSE_LIMIT_BYTES = 6 * 2**30
BARE = "bare bound CE(z1 z2ᵀ/τ)"


def dense_bytes(side: int) -> int:
    """About four float32 side x side matrices: logits, their softmax/gradient, a mask or a copy."""
    return 16 * side * side


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def gemm_floor(rows: int, cols: int, d: int, tile: tuple[int, int], device: str):
    """The three products of an exact in-batch loss, (rows x cols) logits in ``tile`` blocks, nothing else:
    make_inputs, fn as for a loss (fn returns None: there is no backward to run)."""
    tile_rows, tile_cols = tile

    def make():
        g = torch.Generator(device=device).manual_seed(0)
        return [torch.randn(rows, d, generator=g, device=device), torch.randn(cols, d, generator=g, device=device)]

    def fn(q, k):
        buffer = q.new_empty(tile_rows * tile_cols)
        dq, dk = torch.zeros_like(q), torch.zeros_like(k)
        for r0 in range(0, rows, tile_rows):
            r1 = min(r0 + tile_rows, rows)
            for c0 in range(0, cols, tile_cols):
                c1 = min(c0 + tile_cols, cols)
                x = torch.mm(q[r0:r1], k[c0:c1].T, out=buffer[:(r1 - r0) * (c1 - c0)].view(r1 - r0, c1 - c0))
                dq[r0:r1].addmm_(x, k[c0:c1])  # dQ = G K
                dk[c0:c1].addmm_(x.T, q[r0:r1])  # dK = Gᵀ Q
    return make, fn


def contenders(n: int, d: int, device: str = "cpu", dtype: torch.dtype = torch.float32) -> dict:
    """name -> (make_inputs, loss_fn, bytes, own floor): bytes estimates the largest memory it needs (0: O(N D));
    own floor names the floor row it is compared with (None: none)."""
    def two():
        g = torch.Generator(device=device).manual_seed(0)
        return [torch.randn(n, d, generator=g, device=device).to(dtype).requires_grad_() for _ in range(2)]

    def views():
        g = torch.Generator(device=device).manual_seed(0)
        return [torch.randn(n, 2, d, generator=g, device=device).to(dtype).requires_grad_(),
                torch.arange(n, device=device) % 100]

    def floor(side, buffers):
        return T.mean_nll_tile_shape(side, side, 4) if buffers == 1 else T.tile_shape(side, side, 4, buffers=buffers)

    # the tiles the losses use: fused info_nce / nt_xent / supcon take full-width row tiles (1 buffer), clip
    # (rows and columns) 2 buffers; the dense losses are one block
    out = {
        BARE: (two, lambda a, b: F.cross_entropy(a.float() @ b.float().T / TAU, torch.arange(n, device=device)),
               dense_bytes(n), "floor: N x N, 1 block"),
        "floor: N x N, 1 block": (*gemm_floor(n, n, d, (n, n), device), 4 * n * n, None),
        "floor: 2N x 2N, 1 block": (*gemm_floor(2 * n, 2 * n, d, (2 * n, 2 * n), device), 4 * (2 * n) ** 2, None),
        "floor: info_nce tiled": (*gemm_floor(n, n, d, floor(n, 1), device), 0, None),
        "floor: clip_loss tiled": (*gemm_floor(n, n, d, floor(n, 2), device), 0, None),
        "floor: 2N rows tiled": (*gemm_floor(2 * n, 2 * n, d, floor(2 * n, 1), device), 0, None),
        "info_nce dense": (two, lambda a, b: L.info_nce(a, b, temperature=TAU, impl="dense"), dense_bytes(n),
                           "floor: N x N, 1 block"),
        "info_nce tiled": (two, lambda a, b: L.info_nce(a, b, temperature=TAU, impl="tiled"), 0,
                           "floor: info_nce tiled"),
        "clip_loss dense": (two, lambda a, b: L.clip_loss(a, b, logit_scale=1 / TAU, impl="dense"), dense_bytes(n),
                            "floor: N x N, 1 block"),
        "clip_loss tiled": (two, lambda a, b: L.clip_loss(a, b, logit_scale=1 / TAU, impl="tiled"), 0,
                            "floor: clip_loss tiled"),
        "nt_xent dense": (two, lambda a, b: L.nt_xent(a, b, temperature=TAU, impl="dense"), dense_bytes(2 * n),
                          "floor: 2N x 2N, 1 block"),
        "nt_xent tiled": (two, lambda a, b: L.nt_xent(a, b, temperature=TAU, impl="tiled"), 0, "floor: 2N rows tiled"),
        "supcon dense": (views, lambda f, y: L.supcon(f, y, temperature=TAU, impl="dense"), dense_bytes(2 * n),
                         "floor: 2N x 2N, 1 block"),
        "supcon tiled": (views, lambda f, y: L.supcon(f, y, temperature=TAU, impl="tiled"), 0, "floor: 2N rows tiled"),
    }
    try:
        from pytorch_metric_learning import losses as pml

        ntxent, supcon = pml.NTXentLoss(temperature=TAU), pml.SupConLoss(temperature=TAU)
        labels = torch.arange(n, device=device)
        out["PML NTXentLoss"] = (two, lambda a, b: ntxent(torch.cat([a, b]), torch.cat([labels, labels])),
                                 # its (positive pairs x negative pairs) matrix: cubic in N
                                 16 * (2 * n) ** 3, "floor: 2N x 2N, 1 block")
        out["PML SupConLoss"] = (views, lambda f, y: supcon(f.transpose(0, 1).reshape(2 * n, -1), y.repeat(2)),
                                 dense_bytes(2 * n), "floor: 2N x 2N, 1 block")
    except ImportError:
        pass
    try:
        from lightly.loss import NTXentLoss as LightlyNTXent

        lightly_ntxent = LightlyNTXent(temperature=TAU)
        out["lightly NTXentLoss"] = (two, lambda a, b: lightly_ntxent(a, b), dense_bytes(2 * n),
                                     "floor: 2N x 2N, 1 block")
    except Exception:  # not installed, or torchvision fails to load: see unavailable_peers()
        pass
    try:
        import info_nce

        peer = info_nce.InfoNCE(temperature=TAU)
        out["info-nce-pytorch InfoNCE"] = (two, lambda a, b: peer(a, b), dense_bytes(n), "floor: N x N, 1 block")
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


def skip_reason(needed: int, limit: int) -> str | None:
    if needed > limit:
        return f"skipped: needs about {needed / 2**30:.0f} GiB (limit {limit / 2**30:.0f} GiB)"
    return None


CLOCK = time.perf_counter  # --clock cpu: time.process_time, the CPU time of this process (all its threads)


def fwd_bwd(make, fn, device: str) -> float:
    """Seconds of one forward and backward (inf where CUDA runs out of memory)."""
    inputs = make()
    sync(device)
    started = CLOCK()
    try:
        out = fn(*inputs)
        if out is not None:
            out.backward()
        sync(device)
    except torch.cuda.OutOfMemoryError:
        return math.inf
    finally:
        if device == "cuda":  # hand the caching allocator's blocks back: the next contender may need them all
            inputs = out = None
            torch.cuda.empty_cache()
    return CLOCK() - started


def gemm_rate(n: int, d: int, device: str, repeats: int = 5) -> float:
    a, b = torch.randn(n, d, device=device), torch.randn(n, d, device=device)
    a @ b.T
    times = []
    for _ in range(repeats):
        sync(device)
        started = CLOCK()
        a @ b.T
        sync(device)
        times.append(CLOCK() - started)
    return 2 * n * n * d / statistics.median(times)


def time_table(n: int, d: int, repeats: int, device: str, dtype: torch.dtype, limit: int) -> list[tuple]:
    cases = contenders(n, d, device, dtype)
    runnable = {k: v for k, v in cases.items() if skip_reason(v[2], limit) is None}
    for name, (make, fn, _, _) in list(runnable.items()):  # warm-up
        if fwd_bwd(make, fn, device) == math.inf:
            del runnable[name]
    times = {k: [] for k in runnable}
    names = list(runnable)
    for repeat in range(repeats):
        # rotate the order each repeat so no contender always runs right after the same neighbour
        # (a large free or a cold cache left by the previous one would otherwise bias it every time)
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            make, fn, _, _ = runnable[name]
            times[name].append(fwd_bwd(make, fn, device))
    rate = gemm_rate(n, d, device)
    median = {k: statistics.median(v) for k, v in times.items()}
    rows = []
    for name, (_, _, side, floor) in cases.items():
        if name not in runnable:
            rows.append((name, None, None, None, None, None, None, skip_reason(side, limit) or "out of memory"))
            continue
        t = times[name]
        side = 2 * n if "2N" in (floor or name) else n  # the two-view losses' logits are 2N x 2N
        useful = 3 * 2 * side * side * d  # flops of the three GEMMs
        own = median[name] / median[floor] if floor in median else (1.0 if name.startswith("floor") else None)
        rows.append((name, median[name], min(t), max(t), median[name] / median[BARE] if BARE in median else None,
                     own, useful / median[name] / rate, ""))
    return rows


def peak_memory_cpu(name: str, n: int, d: int, dtype: str) -> float | None:
    """Peak resident memory (MiB) of one fwd+bwd above the resident memory just before it, in a fresh
    process (Linux: /proc/self/statm and VmHWM)."""
    code = f"""
import os, json, torch
torch.set_num_threads(1)
import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from bench_losses import contenders
small_make, small_fn, _, _ = contenders(8, {d}, "cpu", torch.{dtype})[{name!r}]
out = small_fn(*small_make())  # load every library and kernel first
out is None or out.backward()
make, fn, _, _ = contenders({n}, {d}, "cpu", torch.{dtype})[{name!r}]
inputs = make()
page_kib = os.sysconf("SC_PAGE_SIZE") / 1024
before = int(open("/proc/self/statm").read().split()[1]) * page_kib  # resident now, KiB
out = fn(*inputs)
out is None or out.backward()
# the high-water mark of this process's memory (VmHWM; ru_maxrss would carry the parent's over exec), KiB
after = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps(max(0.0, after - before) / 1024))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        return None
    return float(result.stdout.strip().splitlines()[-1])


def peak_memory_cuda(name: str, n: int, d: int, dtype: torch.dtype) -> float | None:
    """Peak CUDA memory (MiB) allocated by one fwd+bwd above what was allocated once the inputs existed."""
    make, fn, _, _ = contenders(n, d, "cuda", dtype)[name]
    inputs = make()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    try:
        out = fn(*inputs)
        if out is not None:
            out.backward()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    except torch.cuda.OutOfMemoryError:
        return None
    finally:
        inputs = out = None
        torch.cuda.empty_cache()


def large_supcon(n: int, d: int, threads: int) -> tuple[float, float] | None:
    """Time (s) and peak resident memory (MiB, above the inputs) of one fwd+bwd of tiled supcon on CPU at N,
    in a fresh process."""
    code = f"""
import os, json, time, torch
torch.set_num_threads({threads})
import contrastlab.losses as L
g = torch.Generator().manual_seed(0)
features = torch.randn({n}, 2, {d}, generator=g).requires_grad_()
labels = torch.arange({n}) % 100
page_kib = os.sysconf("SC_PAGE_SIZE") / 1024
before = int(open("/proc/self/statm").read().split()[1]) * page_kib
started = time.perf_counter()
L.supcon(features, labels, temperature={TAU}, impl="tiled").backward()
seconds = time.perf_counter() - started
after = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps([seconds, max(0.0, after - before) / 1024]))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return None
    return tuple(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1024, 4096, 16384], help="N for the time tables")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU only")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float32", "bfloat16", "float16"],
                        help="input dtypes (the logits are float32 either way)")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=None,
                        help="N for the peak-memory tables (default: 4096 16384 on CPU, --sizes on CUDA)")
    parser.add_argument("--large-supcon", type=int, nargs="*", default=None,
                        help="N for a lone tiled supcon run with its time and memory (default: 65536 on CPU when "
                             "--sizes reaches 16384)")
    parser.add_argument("--dense-limit-gib", type=float, default=None,
                        help="skip contenders whose estimated memory passes this (default: 6 on CPU, 70%% of the GPU)")
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                        help="cpu: CPU time of the process (steadier on a shared machine; with 1 thread it "
                             "excludes the time spent waiting for a core)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" and args.device == "cpu" else time.perf_counter
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        parser.error("--device cuda: torch.cuda.is_available() is False")
    limit = (int(args.dense_limit_gib * 2**30) if args.dense_limit_gib is not None else
             int(0.7 * torch.cuda.get_device_properties(0).total_memory) if cuda else DENSE_LIMIT_BYTES)
    memory_sizes = args.memory_sizes if args.memory_sizes is not None else (args.sizes if cuda else [4096, 16384])
    # by default only a full CPU run (one that times N = 16384) adds the lone N = 65536 supcon run
    large = (args.large_supcon if args.large_supcon is not None else
             [65536] if not cuda and max(args.sizes, default=0) >= 16384 else [])
    threads_list = [torch.get_num_threads()] if cuda else args.threads

    where = torch.cuda.get_device_name(0) if cuda else f"{platform.machine()}, {os.cpu_count()} cpus"
    print(f"# losses, fwd+bwd ({args.clock} clock), inputs {' '.join(args.dtypes)}, D = {args.dim}, τ = {TAU}, "
          f"{args.device}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"# torch {torch.__version__}, python {platform.python_version()}, {where}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    for name, why in unavailable_peers().items():
        print(f"# not measured: {name} ({why})")
    record = {"time": [], "memory": [], "large_supcon": []}
    for dtype_name in args.dtypes:
        dtype = getattr(torch, dtype_name)
        for threads in threads_list:
            torch.set_num_threads(threads)
            for n in args.sizes:
                repeats = args.repeats if (n <= 4096 or cuda) else max(2, args.repeats // 2)
                what = args.device if cuda else f"{threads} thread(s)"
                print(f"\n## N = {n}, {dtype_name}, {what}, {repeats} repeats")
                print(f"{'contender':<28} {'median ms':>10} {'min':>9} {'max':>9} {'x bare':>7} {'x own floor':>11} "
                      f"{'of matmul':>9}")
                for name, med, lo, hi, ratio, own, frac, note in time_table(n, args.dim, repeats, args.device,
                                                                             dtype, limit):
                    if med is None:
                        print(f"{name:<28} {note}")
                        continue
                    bare = f"{ratio:>7.2f}" if ratio is not None else f"{'':>7}"
                    own_text = f"{own:>11.2f}" if own is not None else f"{'':>11}"
                    print(f"{name:<28} {1000 * med:>10.1f} {1000 * lo:>9.1f} {1000 * hi:>9.1f} {bare} {own_text} "
                          f"{frac:>9.0%}")
                    record["time"].append(dict(device=args.device, dtype=dtype_name, threads=threads, n=n, name=name,
                                               median_ms=1000 * med, ratio=ratio, own_floor=own))
        for n in memory_sizes:
            how = "torch.cuda.max_memory_allocated" if cuda else "fresh process each, 1 thread"
            print(f"\n## peak memory above the inputs, N = {n}, {dtype_name} ({how})")
            print(f"{'contender':<28} {'peak':>14} {'x bare':>7} {'of dense':>9}")
            cases = {k: v for k, v in contenders(n, args.dim, args.device, dtype).items()
                     if not k.startswith("floor")}
            peaks = {}
            for name, (_, _, side, _) in cases.items():
                reason = skip_reason(side, limit)
                mib = None if reason else (peak_memory_cuda(name, n, args.dim, dtype) if cuda else
                                           peak_memory_cpu(name, n, args.dim, dtype_name))
                peaks[name] = mib
                base = peaks.get(BARE)
                share = f"{mib / base:>7.1%}" if (mib is not None and base) else f"{'':>7}"
                of_dense = ""
                if name.endswith(" tiled") and mib is not None:
                    dense_name = name.replace(" tiled", " dense")
                    dense_mib = peaks.get(dense_name)
                    if dense_mib:
                        of_dense = f"{mib / dense_mib:>9.1%}"
                    else:  # dense skipped: its estimate
                        of_dense = f"{mib / (cases[dense_name][2] / 2**20):>8.1%}e"
                text = ('%10.0f MiB' % mib) if mib is not None else (reason or 'failed')
                print(f"{name:<28} {text:>14} {share} {of_dense}")
                record["memory"].append(dict(device=args.device, dtype=dtype_name, n=n, name=name, mib=mib))
    for n in large:
        threads = max(threads_list)
        print(f"\n## tiled supcon alone, N = {n} (2N = {2 * n} anchors), float32, {threads} thread(s), fresh process")
        result = large_supcon(n, args.dim, threads)
        if result is None:
            print("failed (see stderr)")
            continue
        seconds, mib = result
        print(f"fwd+bwd {seconds:.1f} s, peak memory above the inputs {mib:.0f} MiB "
              f"(dense estimate {dense_bytes(2 * n) / 2**30:.0f} GiB)")
        record["large_supcon"].append(dict(n=n, threads=threads, seconds=seconds, mib=mib))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
