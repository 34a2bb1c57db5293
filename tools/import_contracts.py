"""A custom import-linter contract: no private name crosses a module boundary.

import-linter's built-in contracts look at which modules import which; none looks at *what* is
imported. This one does (registered under ``contract_types`` in ``pyproject.toml``):

- ``from M import _name`` and ``M._name`` (M an imported module of the package) are broken
  whenever M is not the importing module itself: a leading underscore means "only this module
  uses it". Make the name public (and document it) or move the code that needs it into M.
- ``import P._mod`` / ``from P import _mod`` (a private *module*) is allowed only from inside its
  parent package P, the usual rule for private modules.
- Dunder names (``__version__``, ``__all__``) are public.

Exceptions go in the contract's ``allow`` list, one ``"importer -> module._name"`` string each,
with a comment saying why. An entry that no longer matches anything breaks the contract too, so
the list cannot go stale.

The sources are read with ``ast`` from the root package's directory (found with
``importlib.util.find_spec``, which does not import the package), so the check sees exactly the
files grimp analysed and runs in a fraction of a second.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


def is_private(name: str) -> bool:
    """``_x`` is private; ``__x__`` (a dunder) and ``x`` are not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True, order=True)
class Crossing:
    importer: str  # the module that reaches in, e.g. contrastlab.sweeps.run
    target: str  # the private name, fully qualified, e.g. contrastlab.sweeps.report._yaml
    line: int

    @property
    def key(self) -> str:
        return f"{self.importer} -> {self.target}"


def module_files(root: str) -> dict[str, Path]:
    """Every module of the root package and its source file, without importing anything."""
    spec = importlib.util.find_spec(root)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{root!r} is not an importable package")
    files: dict[str, Path] = {}
    for base in map(Path, spec.submodule_search_locations):
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files.setdefault(".".join([root, *parts]), path)
    return files


def _absolute(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module name of ``from <node.module> import ...`` written in ``importer``."""
    if not node.level:
        return node.module or ""
    package = importer if is_package else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _private_module_crossing(importer: str, module: str) -> str | None:
    """The first private component of ``module`` that ``importer`` is outside of, if any."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        parent = ".".join(parts[:i])
        if i and is_private(part) and not (importer == parent or importer.startswith(parent + ".")):
            return ".".join(parts[: i + 1])
    return None


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None for anything that is not a plain attribute chain."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(names)]


def crossings(importer: str, path: Path, modules: set[str]) -> list[Crossing]:
    """Every private name that ``importer`` (source at ``path``) takes from another module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Crossing] = []
    bound: dict[str, str] = {}  # local name -> the package module it is bound to

    def note(target: str, line: int) -> None:
        found.append(Crossing(importer, target, line))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in modules:
                    continue
                if (private := _private_module_crossing(importer, alias.name)) is not None:
                    note(private, node.lineno)
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    head = alias.name.partition(".")[0]
                    bound[head] = head
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(importer, is_package, node)
            if source not in modules:
                continue
            if (private := _private_module_crossing(importer, source)) is not None:
                note(private, node.lineno)
            for alias in node.names:
                if alias.name == "*":
                    continue
                full = f"{source}.{alias.name}"
                if full in modules:  # a submodule: the private-module rule
                    bound[alias.asname or alias.name] = full
                    if (private := _private_module_crossing(importer, full)) is not None:
                        note(private, node.lineno)
                elif is_private(alias.name) and source != importer:  # a private name
                    note(full, node.lineno)

    for node in ast.walk(tree):  # M._name on a module bound above
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        chain = _dotted(node.value)
        if not chain or chain[0] not in bound:
            continue
        owner = ".".join([bound[chain[0]], *chain[1:]])
        if owner in modules and owner != importer:
            note(f"{owner}.{node.attr}", node.lineno)
    return sorted(set(found))


class PrivateNamesContract(Contract):
    """No module uses another module's private names (``_x``) or a private module from outside
    its package.

    Configuration options:

        - allow: "importer -> module._name" strings, each a justified exception. (Optional.)
        - broken_contract_guidance: shown after the violations. (Optional.)
    """

    type_name = "private_names"

    allow = fields.SetField(subfield=fields.StringField(), required=False)
    broken_contract_guidance = fields.TextField(required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        allowed = {" ".join(entry.split()) for entry in (self.allow or ())}  # type: ignore[union-attr]
        found: list[Crossing] = []
        for root in self.session_options["root_packages"]:
            files = module_files(root)
            modules = set(files) | {m for m in graph.modules if m == root or m.startswith(root + ".")}
            for module, path in sorted(files.items()):
                output.verbose_print(verbose, f"Reading {module}...")
                found += crossings(module, path, modules)
        broken = [c for c in found if c.key not in allowed]
        stale = sorted(allowed - {c.key for c in found})
        return ContractCheck(
            kept=not broken and not stale,
            metadata={"crossings": broken, "stale": stale},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        crossings_: list[Crossing] = check.metadata["crossings"]
        if crossings_:
            output.print_error("Private names used outside their module:", bold=False)
            output.new_line()
            for c in crossings_:
                output.print_error(f"- {c.importer} (l.{c.line}) uses {c.target}", bold=False)
            output.new_line()
        if check.metadata["stale"]:
            output.print_error("Entries in `allow` that match nothing (remove them):", bold=False)
            output.new_line()
            for entry in check.metadata["stale"]:
                output.print_error(f"- {entry}", bold=False)
            output.new_line()
        if self.broken_contract_guidance:
            output.print(self.broken_contract_guidance)
