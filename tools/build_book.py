"""Execute every notebook headless and publish it as an offline book: HTML pages and an index.

    python tools/build_book.py --out build/book [--fast] [--only 02 07]

Runs notebooks/NN_*.ipynb in order with nbclient (the ``contrastlab`` kernel when registered,
else this interpreter), cwd notebooks/, 600 s per cell. Each page is written by nbconvert with the
``book`` template after ``book_render.prepare``: figures drawn by the plotly.min.js copied beside
the pages, math as MathML, widgets as pictures of their final state, so a page opened from disk
with no network shows everything. OUT/index.html is the course's table of contents (goals, run
time, peak memory, verdict lines, a thumbnail of each key figure); OUT/book.json has the numbers.
Peak memory is the kernel's resident high-water mark (or its largest child process's, e.g. sweep
workers), read by a cell appended for the run and removed from the page.
A failed notebook is still written, with its outputs up to the error and the error at its top, and
the build exits 1 naming it.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_render  # noqa: E402  (tools/book_render.py)
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


@dataclass
class Page:
    """One notebook of the book: what the index shows."""

    name: str  # the html file
    title: str
    seconds: float
    error: str | None
    goals: list[str]
    verdicts: list[str]
    key_figure: dict | None
    peak_mib: float | None
    counts: dict


def write_index(out: Path, pages: list[Page], fast: bool) -> None:
    """index.html: the course's table of contents (goals, run time, peak memory, verdicts, key figure)."""
    mode = "fast mode (CONTRASTLAB_FAST=1, the CI sizes)" if fast else "full mode"
    items = []
    for page in pages:
        status = " · FAILED" if page.error else ""
        memory = f" · peak {page.peak_mib:.0f} MiB" if page.peak_mib else ""
        goals = "".join(f"<li>{book_render.inline_html(goal)}</li>" for goal in page.goals)
        verdicts = "".join(f'<p class="verdict">{html.escape(v)}</p>' for v in page.verdicts)
        thumb = book_render.figure_html(page.key_figure, thumbnail=True) if page.key_figure else ""
        items.append(
            f'<section class="lesson"><div class="thumb">{thumb}</div><div class="text">'
            f'<h2><a href="{html.escape(page.name)}">{html.escape(page.title)}</a></h2>'
            f'<p class="meta">{page.seconds:.0f} s to run{memory}{status}</p>'
            + (f"<p>You will be able to</p><ul>{goals}</ul>" if goals else "") + verdicts + "</div></section>")
    out.joinpath("index.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>contrastlab notebooks</title>\n"
        f'<script src="{book_render.PLOTLY_JS}"></script>\n<style>{INDEX_CSS}</style></head>\n'
        f"<body>\n<h1>contrastlab: the notebooks</h1>\n<p>Executed headless in {mode}; every figure, equation "
        "and widget picture is in the pages and needs no network. Run them live with <code>make lab</code>.</p>\n"
        + "\n".join(items) + "\n</body>\n</html>\n",
        encoding="utf-8",
    )


INDEX_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
.lesson { display: flex; gap: 1.2em; border-top: 1px solid #ddd; padding: 1em 0; }
.thumb { flex: 0 0 320px; min-height: 200px; }
.text h2 { margin: 0 0 0.2em; font-size: 1.2em; }
.meta { color: #666; margin: 0 0 0.4em; }
.verdict { background: #f4f8fb; border-left: 3px solid #4c78a8; padding: 0.3em 0.6em; font-size: 0.92em; }
"""


def build(path: Path, out: Path, exporter, *, kernel: str | None, fast: bool, timeout: int, cwd: Path) -> Page:
    """Execute one notebook, write its offline page to ``out`` and return what the index shows."""
    nb = notebooks.with_peak_memory_cell(nbformat.read(path, as_version=4))
    run = notebooks.execute(nb, kernel_name=kernel, fast=fast, timeout=timeout, cwd=cwd)
    peak = notebooks.pop_peak_memory_cell(run.notebook)
    learning = goals(run.notebook)  # as markdown, before prepare turns its math into MathML
    counts = book_render.prepare(run.notebook)
    if run.error:  # the page shows the cells up to the error; say so at the top as well
        run.notebook.cells.insert(0, nbformat.v4.new_markdown_cell(
            f"**This notebook failed while the book was built.** The error is shown below the cell that "
            f"raised it:\n\n```\n{run.error[:2000]}\n```"))
    body, _ = exporter.from_notebook_node(run.notebook, resources={"metadata": {"name": path.stem}})
    body = book_render.plain_mathml(body)
    name = f"{path.stem}.html"
    out.joinpath(name).write_text(body, encoding="utf-8")
    return Page(name, title(run.notebook, path.stem), run.seconds, run.error, learning,
                book_render.verdicts(run.notebook), book_render.key_figure(run.notebook), peak, counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/book"), help="output folder (default: %(default)s)")
    parser.add_argument("--fast", action="store_true", help="set CONTRASTLAB_FAST=1 for the kernels (CI sizes)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default: %(default)s)")
    parser.add_argument("--source", type=Path, default=notebooks.NOTEBOOKS,
                        help="folder of the NN_*.ipynb to build (default: notebooks/)")
    parser.add_argument("--only", nargs="*", default=None, metavar="NN",
                        help="build only the notebooks whose name starts with these prefixes (e.g. 02 07)")
    args = parser.parse_args(argv)

    from nbconvert import HTMLExporter

    paths = sorted(args.source.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if p.name.startswith(tuple(args.only))]
    if not paths:
        print(f"no notebooks found in {args.source}", file=sys.stderr)
        return 1
    stale = notebooks.problems(args.source) if args.source == notebooks.NOTEBOOKS else {}
    for name, what in stale.items():  # the book is built from the .ipynb: say so when they lag behind their .py
        print(f"warning: {name} {what}; run python tools/notebooks.py sync", file=sys.stderr)

    kernel = notebooks.KERNEL_NAME if notebooks.kernel_exists(notebooks.KERNEL_NAME) else None
    print(f"kernel: {kernel or 'python3 (' + sys.executable + ')'}{', fast mode' if args.fast else ''}")
    args.out.mkdir(parents=True, exist_ok=True)
    book_render.copy_plotly(args.out)
    exporter = HTMLExporter(template_name="book", extra_template_basedirs=[str(book_render.TEMPLATE_DIR)])
    pages = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        page = build(path, args.out, exporter, kernel=kernel, fast=args.fast, timeout=args.timeout, cwd=args.source)
        pages.append(page)
        if page.error:
            print(f"FAILED {path.name} (its page shows the error):\n{page.error}", file=sys.stderr)
        for tex in page.counts["math_failures"]:
            print(f"warning: {path.name}: LaTeX left unrendered: {tex[:120]!r}", file=sys.stderr)
    write_index(args.out, pages, args.fast)
    args.out.joinpath("book.json").write_text(json.dumps(
        [{"notebook": Path(p.name).stem, "seconds": round(p.seconds, 1), "peak_mib": p.peak_mib,
          "figures": p.counts["figures"], "widgets": p.counts["widgets"], "math": p.counts["math"],
          "failed": bool(p.error)} for p in pages], indent=1) + "\n", encoding="utf-8")

    width = max(len(Path(p.name).stem) for p in pages)
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  {'peak MiB':>8}  {'figures':>7}  {'widgets':>7}  status")
    for p in pages:
        peak = f"{p.peak_mib:.0f}" if p.peak_mib else "-"
        print(f"{Path(p.name).stem:<{width}}  {p.seconds:>8.1f}  {peak:>8}  {p.counts['figures']:>7}  "
              f"{p.counts['widgets']:>7}  {'FAILED' if p.error else 'ok'}")
    print(f"{'total':<{width}}  {sum(p.seconds for p in pages):>8.1f}")
    print(f"\nwrote {args.out / 'index.html'}")
    failed = [Path(p.name).stem for p in pages if p.error]
    if failed:
        print(f"build_book: {len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
