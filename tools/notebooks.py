"""Keep notebooks/NN_*.ipynb in step with their jupytext ``py:percent`` sources, and run them.

The ``.py`` file is the source of truth; the ``.ipynb`` next to it is generated from it with no
outputs, the ``contrastlab`` kernelspec and cell ids derived from the cells themselves, so that
regenerating an unchanged source gives a byte-identical file.

    python tools/notebooks.py sync     regenerate every .ipynb whose .py changed
    python tools/notebooks.py check    exit 1, listing the notebooks that are out of date or have outputs

``execute`` runs one notebook headless with nbclient (used by tools/build_book.py and by
tests/notebooks).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KERNEL_NAME = "contrastlab"
KERNELSPEC = {"display_name": "Python (contrastlab)", "language": "python", "name": KERNEL_NAME}
SOURCE_NAME = re.compile(r"^\d\d_.+\.py$")  # NN_topic.py
FAST_ENV = "CONTRASTLAB_FAST"
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # in IPython tracebacks


# --------------------------------------------------------------------------- sync / check


def sources(folder: Path = NOTEBOOKS) -> list[Path]:
    """The py:percent sources: the lessons ``folder/NN_*.py`` and the one-widget apps
    ``folder/apps/app_*.py`` (each servable alone with Voila), sorted."""
    lessons = sorted(p for p in Path(folder).glob("*.py") if SOURCE_NAME.match(p.name))
    return lessons + sorted(Path(folder, "apps").glob("app_*.py"))


def stable_ids(nb: nbformat.NotebookNode) -> None:
    """Give every cell an id derived from its type and source (a digest, de-duplicated in order).

    Content-derived rather than index-derived ids keep diffs small: inserting a cell adds one id
    instead of renumbering every cell after it.
    """
    seen: dict[str, int] = {}
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        seen[digest] = seen.get(digest, 0) + 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def render(source: Path) -> str:
    """The ``.ipynb`` text generated from a py:percent ``source``: no outputs, stable ids."""
    nb = jupytext.read(source, fmt="py:percent")
    nb.nbformat, nb.nbformat_minor = 4, 5  # the first minor version with cell ids
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    stable_ids(nb)
    nbformat.validate(nb)
    text = jupytext.writes(nb, fmt="ipynb")
    return text if text.endswith("\n") else text + "\n"


def ipynb_for(source: Path) -> Path:
    return source.with_suffix(".ipynb")


def has_outputs(ipynb: Path) -> bool:
    cells = json.loads(ipynb.read_text(encoding="utf-8")).get("cells", [])
    return any(c.get("outputs") or c.get("execution_count") is not None for c in cells if c.get("cell_type") == "code")


def problems(folder: Path = NOTEBOOKS, *, strict: bool = True) -> dict[str, str]:
    """``{notebook name: what is wrong}`` for every .ipynb that is missing, stale, has outputs or has no .py.

    ``strict=False`` tolerates what running a notebook in JupyterLab leaves behind (outputs, new
    metadata) and reports only cells whose code or text differ from the .py.
    """
    found: dict[str, str] = {}
    for source in sources(folder):
        ipynb = ipynb_for(source)
        if not ipynb.exists():
            found[ipynb.name] = f"missing: generate it from {source.name}"
            continue
        wrong = []
        if strict and has_outputs(ipynb):
            wrong.append("has outputs")
        if strict and ipynb.read_text(encoding="utf-8") != render(source):
            wrong.append(f"differs from what {source.name} generates")
        elif not strict and sources_differ(ipynb, render(source)):
            wrong.append(f"its cells differ from {source.name}")
        if wrong:
            found[ipynb.name] = " and ".join(wrong)
    for ipynb in sorted([*Path(folder).glob("[0-9][0-9]_*.ipynb"), *Path(folder, "apps").glob("app_*.ipynb")]):
        if not ipynb.with_suffix(".py").exists():
            found[ipynb.name] = f"has no {ipynb.with_suffix('.py').name}: the .py is the source of truth"
    return found


def sources_differ(ipynb: Path, text: str) -> bool:
    """Whether the cells of ``ipynb`` differ from ``text`` in more than outputs, ids and metadata."""
    def cells(nb: dict) -> list[tuple[str, str]]:
        return [(c["cell_type"], "".join(c["source"])) for c in nb.get("cells", [])]
    return cells(json.loads(ipynb.read_text(encoding="utf-8"))) != cells(json.loads(text))


def sync(folder: Path = NOTEBOOKS, *, force: bool = False) -> tuple[list[Path], list[Path]]:
    """Regenerate the stale ``.ipynb`` files in ``folder``; returns (written, skipped).

    An ``.ipynb`` whose cells were edited after its ``.py`` (say in JupyterLab without the jupytext
    pairing) is skipped rather than overwritten, unless ``force``: merge the edits into the .py first.
    """
    written, skipped = [], []
    for source in sources(folder):
        ipynb, text = ipynb_for(source), render(source)
        if ipynb.exists():
            if ipynb.read_text(encoding="utf-8") == text:
                continue
            edited_later = ipynb.stat().st_mtime > source.stat().st_mtime + 1
            if not force and edited_later and sources_differ(ipynb, text):
                skipped.append(ipynb)
                continue
        with open(ipynb, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        written.append(ipynb)
    return written, skipped


# --------------------------------------------------------------------------- execute


@contextlib.contextmanager
def current_python_kernel() -> Iterator[str]:
    """A temporary kernelspec directory whose ``python3`` kernel runs this very interpreter.

    Yields the directory, for ``KernelSpecManager(kernel_dirs=[...])``. Unlike the ``python3``
    kernel found on the Jupyter path, which may belong to another environment, it cannot pick up a
    different Python.
    """
    with tempfile.TemporaryDirectory(prefix="contrastlab-kernels-") as tmp:
        spec = Path(tmp) / "python3"
        spec.mkdir()
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python {sys.version_info.major}.{sys.version_info.minor} ({sys.executable})",
            "language": "python",
            "metadata": {"supported_encryption": ["curve"]},  # as ipykernel's own kernelspec declares
        }))
        yield tmp


def kernel_exists(name: str) -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return name in KernelSpecManager().find_kernel_specs()


@dataclass
class Run:
    """What ``execute`` returns: the executed notebook, wall seconds (kernel start included), error."""

    notebook: nbformat.NotebookNode
    seconds: float
    error: str | None = None

    def text(self) -> str:
        """Every stream and text/plain output of the executed notebook, concatenated."""
        parts = []
        for cell in self.notebook.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    parts.append(out.get("text", ""))
                elif "data" in out:
                    parts.append(out["data"].get("text/plain", ""))
                elif out.get("output_type") == "error":
                    parts.append("\n".join(out.get("traceback", [])))
        return "\n".join(parts)


def execute(
    notebook: Path | nbformat.NotebookNode,
    *,
    kernel_name: str | None = None,
    fast: bool = False,
    timeout: int = 600,
    cwd: Path = NOTEBOOKS,
) -> Run:
    """Execute a notebook (a path to .ipynb or .py, or a NotebookNode) top to bottom, headless.

    kernel_name: a registered kernel; None runs this interpreter through ``current_python_kernel``.
    fast: sets CONTRASTLAB_FAST=1 in the kernel's environment (CI's small sizes); otherwise the
        kernel inherits this process's environment unchanged.
    timeout: seconds allowed per cell (nbclient's meaning); the caller checks the total.
    A cell error is caught and reported in ``Run.error``; the notebook keeps the outputs so far.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    import zmq

    if isinstance(notebook, (str, Path)):
        path = Path(notebook)
        nb = jupytext.read(path) if path.suffix == ".py" else nbformat.read(path, as_version=4)
    else:
        nb = notebook
    env = dict(os.environ)
    if fast:
        env[FAST_ENV] = "1"
    # ipykernel's debugger otherwise warns on stderr that frozen modules may hide breakpoints.
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    error = None
    with contextlib.ExitStack() as stack:
        if kernel_name is None:
            manager = KernelSpecManager(kernel_dirs=[stack.enter_context(current_python_kernel())])
            km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=manager)
            if zmq.has("curve"):  # encrypt the kernel's sockets (ipykernel warns about plain TCP otherwise)
                km.transport_encryption = "auto"
            name = "python3"
        else:
            km, name = AsyncKernelManager(kernel_name=kernel_name), kernel_name
        client = NotebookClient(
            nb,
            km=km,
            kernel_name=name,
            timeout=timeout,
            resources={"metadata": {"path": str(cwd)}},
        )
        start = time.perf_counter()
        try:
            client.execute(cleanup_kc=True, env=env)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
            error = ANSI_COLOUR.sub("", f"{type(exc).__name__}: {exc}")
        finally:
            seconds = time.perf_counter() - start
    return Run(nb, seconds, error)


# --------------------------------------------------------------------------- peak memory

PEAK_MARKER = "__contrastlab_peak_memory_kib__"
# The kernel's own peak is VmHWM (the high-water mark of its address space, which starts afresh at
# exec); ru_maxrss would not do: Linux carries it across fork and exec, so a kernel started by a
# large process (a pytest worker) would report its parent's size. Its children's (sweep workers)
# peak is RUSAGE_CHILDREN's ru_maxrss, an upper bound for the same reason.
PEAK_CELL = ("import json as _json, resource as _resource\n"
             "_hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
             f"print({PEAK_MARKER!r} + _json.dumps([_hwm, _resource.getrusage(_resource.RUSAGE_CHILDREN).ru_maxrss]))")


def with_peak_memory_cell(nb):
    """A copy of ``nb`` whose last cell prints the kernel's peak resident memory (and its children's)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    return nb


def pop_peak_memory_cell(nb) -> float | None:
    """Remove the cell ``with_peak_memory_cell`` added; return the peak in MiB (the kernel or one child, the
    larger), or None when the notebook stopped before it."""
    cell = nb.cells.pop()
    for output in cell.get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith(PEAK_MARKER):
                own, children = json.loads(line[len(PEAK_MARKER):])
                return max(own, children) / 1024
    return None



# --------------------------------------------------------------------------- CLI


def run_command(args) -> int:
    """``run``: execute each chosen notebook, print its output and one timing line. The kernel's CPU
    seconds (user + system, from RUSAGE_CHILDREN) are what a quiet 2-core machine's wall time would be
    for a single-threaded kernel: they do not grow when other processes compete for the cores."""
    import resource

    chosen = [p for p in sources(args.dir) if any(p.stem.startswith(o) for o in args.only)]
    if not chosen:
        print(f"no notebook in {args.dir} starts with {args.only}", file=sys.stderr)
        return 1
    failed = 0
    for source in chosen:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = execute(source, fast=args.fast, cwd=source.parent)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if not args.quiet:
            print(run.text())
        if run.error:
            failed += 1
            print(run.error[-3000:], file=sys.stderr)
        print(f"== {source.stem} ({'fast' if args.fast else 'full'} mode): wall {run.seconds:.1f} s, "
              f"kernel CPU {cpu:.1f} s{', FAILED' if run.error else ''}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sync_parser = commands.add_parser("sync", help="regenerate every notebooks/NN_*.ipynb from its .py")
    sync_parser.add_argument("--force", action="store_true", help="overwrite .ipynb files edited after their .py")
    commands.add_parser("check", help="exit 1 if an .ipynb is out of date with its .py or has outputs")
    run_parser = commands.add_parser("run", help="execute notebooks (by name prefix) and print their text "
                                     "output, wall seconds and the kernel's CPU seconds")
    run_parser.add_argument("only", nargs="+", metavar="NN", help="notebook name prefixes, e.g. 02 05")
    run_parser.add_argument("--fast", action="store_true", help="CONTRASTLAB_FAST=1 (CI's sizes)")
    run_parser.add_argument("--quiet", action="store_true", help="print only the timing line")
    for sub in commands.choices.values():
        sub.add_argument("--dir", type=Path, default=NOTEBOOKS, help="notebook folder (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.command == "sync":
        written, skipped = sync(args.dir, force=args.force)
        for path in written:
            print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
        for path in skipped:
            print(f"skipped {path.name}: its cells were edited after {path.with_suffix('.py').name}; "
                  "copy the edits into the .py (or pair them: jupytext --sync), or pass --force", file=sys.stderr)
        if not written and not skipped:
            print(f"{len(sources(args.dir))} notebooks already in sync")
        return 1 if skipped else 0

    if args.command == "run":
        return run_command(args)
    found = problems(args.dir)
    for name, what in found.items():
        print(f"{name}: {what}", file=sys.stderr)
    if found:
        print("Fix: python tools/notebooks.py sync (edit the .py, never the .ipynb)", file=sys.stderr)
        return 1
    print(f"{len(sources(args.dir))} notebooks in sync, no outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
