"""The ``contrastlab`` command: one subcommand per task.

    contrastlab sweep CONFIG.yaml [--out DIR] [--set key=value ...] [--workers N] [--rerun] [--no-report]
                                  [--no-progress] [--dry-run] [--yes] [--wait]
    contrastlab diagnose FILE [--key NAME] [--labels FILE [--labels-key NAME]] [--pairs FILE [--pairs-key NAME]]
                              [--out report.html] [--max-sample N]
    contrastlab diagnose --sentences TEXT [--model DIR] [--neighbours Q] [--out report.html]
    contrastlab plan BATCH_SIZE [--world-size W] [--no-gather] [--accumulation-steps K] [--dim D] [--loss NAME]
                                [--impl auto|dense|tiled] [--dtype float32]
    contrastlab --version

What will run and where the results are goes to stdout; the progress bar, warnings (finished runs
reused from another contrastlab source, damaged run files that run again) and errors go to stderr.

Exit status: 0 on success; 2 when nothing ran: an invalid config or command line (every problem is
printed, the config's and the --set overrides' together), a sweep of more than 500 runs without
--yes, a run folder that is not writable or that another sweep holds (without --wait); 1 when some
runs failed (the others' results are written); 130 on Ctrl-C (rerun the same command to resume).
``diagnose`` exits 0 after printing the table and the findings (and writing the report), and 2 with
one line on stderr for a file it cannot read or shapes that do not match.
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
    _diagnose_parser(commands)
    _plan_parser(commands)
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


# --- contrastlab diagnose ------------------------------------------------------------------------

def _diagnose_parser(commands) -> None:
    p = commands.add_parser(
        "diagnose", help="diagnose your own embeddings (collapse, anisotropy, rank, duplicates, kNN)",
        description="Print the geometry of an embedding file as a table and what is wrong with it in words (each "
                    "finding with its threshold), and write an offline HTML report. Reads .npy, .npz, .pt, "
                    ".csv/.tsv and .parquet (with pyarrow). With --sentences, embeds a text file (one sentence "
                    "a line) with a sentence-transformers model folder (--model; default: the MiniLM that ships "
                    "with the kit, offline) and prints the nearest neighbours of a few sentences.",
        epilog="Example: contrastlab diagnose emb.npz --key train --labels emb.npz --labels-key y --out report.html")
    p.add_argument("file", nargs="?", help="the embeddings (N, D); omit with --sentences")
    p.add_argument("--key", help="the array (an .npz/.pt key) or column (.csv/.parquet) of FILE to use")
    p.add_argument("--labels", metavar="FILE", help="(N,) integer labels: kNN accuracy, colours (may be FILE)")
    p.add_argument("--labels-key", metavar="NAME", help="the array or column of the labels file")
    p.add_argument("--pairs", metavar="FILE", help="(N, D) second views, row i of row i: alignment")
    p.add_argument("--pairs-key", metavar="NAME", help="the array or column of the pairs file")
    p.add_argument("--out", metavar="REPORT.html", help="write the report there (plotly.js embedded: opens offline)")
    p.add_argument("--max-sample", type=int, default=None,
                   help="rows the O(N²) statistics use at most (a seeded subsample; default 5000)")
    p.add_argument("--sentences", metavar="TEXT", help="a text file, one sentence a line, to embed and diagnose")
    p.add_argument("--model", metavar="DIR", help="a sentence-transformers model folder (default: the shipped MiniLM)")
    p.add_argument("--neighbours", type=int, default=3, metavar="Q",
                   help="with --sentences: print the nearest neighbours of the first Q sentences (default 3)")
    p.set_defaults(handler=_diagnose)


def encode_sentences(sentences: list[str], model: str | None = None):
    """Embeddings (N, H) of ``sentences`` by a sentence-transformers model folder (its own pooling and
    normalisation, from modules.json), a Hugging Face encoder folder (mean pooling), or, with
    ``model=None``, the all-MiniLM-L6-v2 that ships with the kit. Offline: nothing is downloaded."""
    import os
    from pathlib import Path

    from .lessons.sentence_embeddings import encode, load_minilm

    if model is None:
        tokenizer, encoder = load_minilm()
        return encode(encoder, tokenizer, sentences)
    folder = Path(model)
    if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
        raise FileNotFoundError(f"{folder}: not a model folder (no config.json or modules.json)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if (folder / "modules.json").is_file():
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(folder), device="cpu", local_files_only=True).encode(
            sentences, convert_to_tensor=True, show_progress_bar=False)
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return encode(AutoModel.from_pretrained(folder, local_files_only=True).eval(), tokenizer, sentences)


def _diagnose(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data.user import ArrayFileError, integer_labels, load_array
    from .diagnosis import nearest_neighbours
    from .interactive.diagnosis import diagnose

    def fail(message: str) -> int:
        print(f"contrastlab diagnose: {message}", file=sys.stderr)
        return 2

    if (args.file is None) == (args.sentences is None):
        return fail("give an embeddings FILE or --sentences TEXT (one of them)")
    sentences = None
    try:
        if args.sentences is not None:
            sentences = [line.strip() for line in Path(args.sentences).read_text(encoding="utf-8").splitlines()
                         if line.strip()]
            if len(sentences) < 2:
                return fail(f"{args.sentences}: needs at least 2 non-empty lines (one sentence a line)")
            embeddings = encode_sentences(sentences, args.model)
            source = f"{args.sentences} ({len(sentences)} sentences, {args.model or 'all-MiniLM-L6-v2'})"
        else:
            embeddings = load_array(args.file, args.key)
            source = args.file + (f" [{args.key}]" if args.key else "")
            if embeddings.ndim != 2 or not (embeddings.dtype.kind == "f" or embeddings.dtype.kind in "iu"):
                return fail(f"{source}: expected a 2-d array (N, D) of numbers, got shape {embeddings.shape}")
            embeddings = embeddings.astype("float32") if embeddings.dtype.kind in "iu" else embeddings
        labels = None if args.labels is None else integer_labels(load_array(args.labels, args.labels_key), args.labels)
        pairs = None if args.pairs is None else load_array(args.pairs, args.pairs_key)
        if pairs is not None and pairs.dtype.kind in "iu":
            pairs = pairs.astype("float32")
        options = {} if args.max_sample is None else {"max_sample": args.max_sample}
        result = diagnose(embeddings, labels=labels, pairs=pairs, **options)
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError, ArrayFileError) as error:
        return fail(str(error))
    except (ValueError, TypeError) as error:  # shapes that do not match, labels that are no labels
        return fail(f"{source if 'source' in locals() else args.file}: {error}")
    print(f"diagnosis of {source}: {result.stats['rows']} rows x {result.stats['dim']} dims")
    print(result.text())
    for note in result.notes:
        print(f"note: {note}")
    if sentences is not None and args.neighbours > 0:
        kept = [i for i in range(len(sentences)) if i not in set(result.dropped.tolist())][:args.neighbours]
        print("\nnearest neighbours (cosine):")
        for query, neighbours in zip(kept, nearest_neighbours(embeddings, kept, k=min(3, len(sentences) - 1))):
            print(f"  {sentences[query]!r}")
            for row, cosine in neighbours:
                print(f"    {cosine:.3f}  {sentences[row]!r}")
    if args.out:
        try:
            path = result.to_html(args.out)
        except OSError as error:
            return fail(f"cannot write the report: {error}")
        print(f"report: {path}")
    return 0


def _plan_parser(commands) -> None:
    p = commands.add_parser(
        "plan", help="negatives per anchor and logits memory per device for a batch set-up",
        description="Print what a batch set-up gives a contrastive loss: negatives per anchor (gathering across "
                    "devices multiplies them, gradient accumulation does not) and the logits' peak memory per "
                    "device, dense and tiled (contrastlab.plan).",
        epilog="Example: contrastlab plan 256 --world-size 8 --accumulation-steps 4 --loss clip_loss")
    p.add_argument("batch_size", type=int, help="samples (pairs) per device per micro-batch")
    p.add_argument("--world-size", type=int, default=1, help="devices (default 1)")
    p.add_argument("--no-gather", dest="gather", action="store_false",
                   help="do not gather the batch across devices (each device sees only its own negatives)")
    p.add_argument("--accumulation-steps", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--dim", type=int, default=128, help="embedding dimension D (default 128)")
    p.add_argument("--loss", default="nt_xent", help="nt_xent (default), info_nce, clip_loss, siglip_loss, ...")
    p.add_argument("--impl", default="auto", help="auto (default), dense or tiled")
    p.add_argument("--dtype", default="float32", help="the embeddings' dtype (default float32)")
    p.set_defaults(handler=_plan)


def _plan(args: argparse.Namespace) -> int:
    import torch

    from .planning import plan

    dtype = getattr(torch, args.dtype, None)
    try:
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"--dtype must be a torch dtype such as float32 or bfloat16, got {args.dtype!r}")
        print(plan(args.batch_size, world_size=args.world_size, gather=args.gather,
                   accumulation_steps=args.accumulation_steps, dim=args.dim, loss=args.loss, impl=args.impl,
                   dtype=dtype))
    except (ValueError, TypeError) as error:
        print(f"contrastlab plan: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``contrastlab`` console script."""
    args = _parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
