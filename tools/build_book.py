"""Execute every notebook headless and publish it as HTML, with an index.

    python tools/build_book.py --out build/book [--fast]

Runs notebooks/NN_*.ipynb in order with nbclient (the ``contrastlab`` kernel when registered,
else this interpreter), cwd notebooks/, 600 s per cell, writes OUT/NN_name.html with nbconvert and
OUT/index.html linking them, prints a table of execution times and exits 1 if any notebook failed.
A failed notebook is still written, with its outputs up to the error, so that it can be read.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebooks  # noqa: E402  (tools/notebooks.py)


def title(nb, fallback: str) -> str:
    """The first markdown heading of the notebook, else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def goals(nb) -> list[str]:
    """The bullets under the notebook's "Learning goals" (the first markdown cell that has them)."""
    for cell in nb.cells:
        if cell.cell_type != "markdown" or "learning goals" not in cell.source.lower():
            continue
        lines = cell.source.splitlines()
        start = next(i for i, line in enumerate(lines) if "learning goals" in line.lower())
        bullets = []
        for line in lines[start + 1:]:
            if line.startswith(("- ", "* ")):
                bullets.append(line[2:].strip())
            elif bullets and line.startswith("  ") and line.strip():
                bullets[-1] += " " + line.strip()  # a wrapped bullet
            elif bullets and not line.strip():
                break
        return bullets
    return []


def write_index(out: Path, rows: list[tuple[str, str, float, str | None, list[str]]], fast: bool) -> None:
    """rows: (html file name, title, seconds, error or None, learning goals)."""
    items = "\n".join(
        f'  <li><a href="{html.escape(name)}">{html.escape(heading)}</a>'
        f' <small>({seconds:.1f} s{", FAILED" if error else ""})</small>'
        + ("<ul>" + "".join(f"<li>{html.escape(goal)}</li>" for goal in learning) + "</ul>" if learning else "")
        + "</li>"
        for name, heading, seconds, error, learning in rows
    )
    mode = " (fast mode)" if fast else ""
    out.joinpath("index.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>contrastlab notebooks</title></head>\n"
        f"<body>\n<h1>contrastlab notebooks</h1>\n<p>Executed headless{mode}.</p>\n<ol>\n{items}\n</ol>\n</body>\n</html>\n",
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/book"), help="output folder (default: %(default)s)")
    parser.add_argument("--fast", action="store_true", help="set CONTRASTLAB_FAST=1 for the kernels (CI sizes)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default: %(default)s)")
    args = parser.parse_args(argv)

    from nbconvert import HTMLExporter

    paths = sorted(notebooks.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"no notebooks found in {notebooks.NOTEBOOKS}", file=sys.stderr)
        return 1
    stale = notebooks.problems()
    if stale:  # the book is built from the .ipynb: say so when they lag behind their .py
        for name, what in stale.items():
            print(f"warning: {name} {what}; run python tools/notebooks.py sync", file=sys.stderr)

    kernel = notebooks.KERNEL_NAME if notebooks.kernel_exists(notebooks.KERNEL_NAME) else None
    print(f"kernel: {kernel or 'python3 (' + sys.executable + ')'}{', fast mode' if args.fast else ''}")
    args.out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    rows = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        run = notebooks.execute(path, kernel_name=kernel, fast=args.fast, timeout=args.timeout)
        body, _ = exporter.from_notebook_node(run.notebook, resources={"metadata": {"name": path.stem}})
        name = f"{path.stem}.html"
        args.out.joinpath(name).write_text(body, encoding="utf-8")
        rows.append((name, title(run.notebook, path.stem), run.seconds, run.error, goals(run.notebook)))
        if run.error:
            print(f"FAILED {path.name}:\n{run.error}", file=sys.stderr)
    write_index(args.out, rows, args.fast)

    width = max(len(Path(name).stem) for name, *_ in rows)
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  status")
    for name, _, seconds, error, _ in rows:
        print(f"{Path(name).stem:<{width}}  {seconds:>8.1f}  {'FAILED' if error else 'ok'}")
    print(f"{'total':<{width}}  {sum(r[2] for r in rows):>8.1f}")
    print(f"\nwrote {args.out / 'index.html'}")
    return 1 if any(error for _, _, _, error, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
