"""The ``contrastlab`` command: one subcommand per task (``sweep`` for now).

    contrastlab sweep CONFIG.yaml [--out DIR] [--set key=value ...] [--workers N] [--rerun] [--no-report]
                                  [--no-progress] [--dry-run] [--yes] [--wait]
    contrastlab --version

What will run and where the results are goes to stdout; the progress bar, warnings (finished runs
reused from another contrastlab source, damaged run files that run again) and errors go to stderr.

Exit status: 0 on success; 2 when nothing ran: an invalid config or command line (every problem is
printed, the config's and the --set overrides' together), a sweep of more than 500 runs without
--yes, a run folder that is not writable or that another sweep holds (without --wait); 1 when some
runs failed (the others' results are written); 130 on Ctrl-C (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import sys

from . import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contrastlab", description="contrastlab: contrastive learning on toy data.")
    parser.add_argument("--version", action="version", version=f"contrastlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    p = commands.add_parser(
        "sweep", help="run a grid of training runs from a YAML config (resumable)",
        description="Run every grid point x seed of CONFIG, skipping runs already finished in the run folder "
                    "(a damaged run file runs again, with a warning); write results.csv, summary.csv, "
                    "config.yaml, environment.json and report.html there. One sweep at a time per folder.",
        epilog="Example: contrastlab sweep examples/sweeps/temperature.yaml --set train.steps=100 "
               "--set 'loss.temperature=[0.1,0.5]'")
    p.add_argument("config", help="the sweep's YAML file (its format: contrastlab.sweeps.config)")
    p.add_argument("--out", help="the run folder (default: the config's out, else runs/<name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override an option, the value read as YAML: loss.temperature=0.1, "
                        "'loss.temperature=[0.1,0.2]' (sweeps it), seeds=5; repeatable")
    p.add_argument("--workers", type=int,
                   help="processes, each run on one torch thread (default: one per core, 1 on a GPU)")
    p.add_argument("--rerun", action="store_true",
                   help="run every run again, also those already finished (e.g. after changing contrastlab)")
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="do not write report.html (it embeds plotly.js, about 5 MB; an older one is removed)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no plan line, no progress bar")
    p.add_argument("--dry-run", action="store_true", help="validate, print the runs and exit without running")
    p.add_argument("--yes", action="store_true",
                   help="run a sweep of more than 500 runs to run (without it, such a sweep prints its size and "
                        "estimated time and exits)")
    p.add_argument("--wait", action="store_true",
                   help="if another sweep uses the run folder, wait for it to end instead of exiting")
    p.set_defaults(handler=_sweep)
    return parser


def _sweep(args: argparse.Namespace) -> int:
    import warnings
    from pathlib import Path

    from . import sweeps as S

    try:
        config = S.load_config(args.config)
        if args.dry_run:
            return _dry_run(config, args.overrides, args.out, rerun=args.rerun)
        with warnings.catch_warnings():  # one plain line, without the source location
            warnings.showwarning = lambda message, *_, **__: print(f"contrastlab sweep: warning: {message}",
                                                                    file=sys.stderr)
            S.sweep(config, overrides=args.overrides, out=args.out, workers=args.workers, progress=args.progress,
                    report=args.report, rerun=args.rerun, confirm=not args.yes, wait=args.wait)
    except FileNotFoundError as error:
        print(f"contrastlab sweep: {error}", file=sys.stderr)
        return 2
    except S.SweepConfigError as error:
        print(f"contrastlab sweep: {Path(args.config)}: {error}", file=sys.stderr)
        return 2
    except (S.LargeSweepError, S.RunFolderError) as error:  # refused before anything ran
        print(f"contrastlab sweep: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:  # SweepRunError (some runs raised) or a worker process that died
        print(f"contrastlab sweep: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # e.g. --workers 0
        print(f"contrastlab sweep: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncontrastlab sweep: interrupted; finished runs are kept, rerun the same command to resume",
              file=sys.stderr)
        return 130
    return 0


def _dry_run(config: dict, overrides: list[str], out: str | None, *, rerun: bool = False) -> int:
    from pathlib import Path

    from . import sweeps as S

    runs = S.expand(config, overrides)  # every problem of the config and the overrides, together
    config = S.apply_overrides(config, overrides)  # valid now
    folder = Path(out or config.get("out") or Path("runs") / config.get("name", "sweep"))
    status = S.run_status(runs, folder, rerun=rerun)
    params = list(runs[0]["params"])
    rows = [[r["run_id"], str(r["seed"]), *(str(r["params"][p]) for p in params), status[r["run_id"]]]
            for r in runs]
    header = ["run_id", "seed", *params, "status"]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    n_done = sum(r[-1].startswith("finished") for r in rows)
    n_other = sum(r[-1] == "finished, other code" for r in rows)
    n_damaged = sum(r[-1] == "damaged, to run" for r in rows)
    other = f", {n_other} of them by another contrastlab source: --rerun runs them again" if n_other else ""
    damaged = f", {n_damaged} of them damaged files that run again" if n_damaged else ""
    print(f"{len(rows)} runs ({n_done} finished{other}, {len(rows) - n_done} to run{damaged}) -> {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``contrastlab`` console script."""
    args = _parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
