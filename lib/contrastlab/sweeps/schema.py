"""The options a sweep config may set, read from the package's registries, and the check of one value.

Nothing here is a list of its own: the datasets are ``contrastlab.data.DATASETS``, the set-ups
``contrastlab.methods.METHODS``; each one's options, defaults and kinds (int, float, bool, str, null,
a list of strings) come from its signature's annotations. An argument whose annotation names no kind
that YAML can write (a torch dtype, an encoder, a function) is kept as an ``Option`` with ``kinds``
None: a config cannot set it, and it keeps its default or ``build_method`` fills it in. On top of the
kinds, ``RULES`` name the values that are impossible (τ <= 0, a batch of one, ...).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Callable, Iterable

from ..data import DATASETS
from ..methods import METHODS, Method, build_method
from ..train import fit
from .config import did_you_mean, is_number

__all__ = ["Option", "REQUIRED", "DATA_OPTIONS", "LOSS_OPTIONS", "MODEL_OPTIONS", "TRAIN_OPTIONS",
           "SEQUENCE_OPTIONS", "RULES", "check_section", "check_device"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()  # the default of an option the function has no default for


@dataclasses.dataclass(frozen=True)
class Option:
    """One keyword option: its default (``REQUIRED`` if none) and accepted kinds, of "int", "float",
    "bool", "str", "none", "seq"; () accepts anything, None means a config cannot set it."""

    default: object
    kinds: tuple[str, ...] | None
    annotation: str = ""

    @property
    def settable(self) -> bool:
        return self.kinds is not None


_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "none": "null", "seq": "a list"}


def _kinds(annotation: str, default: object) -> tuple[str, ...] | None:
    """The kinds a parameter accepts, read from its annotation (a string under future annotations) or,
    without one, from its default; None when YAML can write none of them ("Encoder", "torch.dtype")."""
    if not annotation:
        if default is None or default is inspect.Parameter.empty:
            return ()
        return {bool: ("bool",), int: ("int",), float: ("float",), str: ("str",)}.get(type(default))
    kinds = []
    for part in (p.strip() for p in annotation.split("|")):
        if part in ("int", "float", "bool", "str"):
            kinds.append(part)
        elif part == "None":
            kinds.append("none")
        elif part.startswith(("tuple", "list", "Sequence")):
            kinds.append("seq")
    return tuple(kinds) if any(k != "none" for k in kinds) else None


def _options(functions: Iterable[Callable], skip: Iterable[str] = ()) -> dict[str, Option]:
    """Keyword options of ``functions``, the first definition of a name winning (subclass before base);
    ``skip`` names the arguments the sweep sets itself."""
    skip, out = set(skip), {}
    for fn in functions:
        for name, p in inspect.signature(fn).parameters.items():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or name in skip or name in out:
                continue
            annotation = "" if p.annotation is p.empty else (
                p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", str(p.annotation)))
            out[name] = Option(REQUIRED if p.default is p.empty else p.default, _kinds(annotation, p.default),
                               annotation)
    return out


def _method_options(cls: type[Method]) -> dict[str, Option]:
    inits = [c.__init__ for c in cls.__mro__ if "__init__" in vars(c) and issubclass(c, Method)]
    return _options(inits, skip=("self",))


DATA_OPTIONS = {name: _options([fn], skip=("device",)) for name, fn in DATASETS.items()}  # device: train.device
for _spec in DATA_OPTIONS.values():  # None = the run's seed
    _spec["seed"] = Option(None, ("int", "none"), "int | None")
LOSS_OPTIONS = {name: _method_options(cls) for name, cls in METHODS.items()}
MODEL_OPTIONS = _options([build_method], skip=("name", "data"))
TRAIN_OPTIONS = _options([fit], skip=("data", "method", "metrics", "seed", "device", "progress",
                                      "threads"))  # a sweep runs each run on one thread (contrastlab.sweeps.run)
TRAIN_OPTIONS["device"] = Option("cpu", ("str",), "str")
# (section, option) of the options whose value is a list: an inline list is their value, not a grid
SEQUENCE_OPTIONS = {(section, name) for section, specs in
                    [("data", s) for s in DATA_OPTIONS.values()] + [("loss", s) for s in LOSS_OPTIONS.values()]
                    for name, opt in specs.items() if opt.kinds == ("seq",)}

# Impossible values, by section and option name: (test, what was expected). None always passes where allowed.
RULES: dict[tuple[str, str], tuple[Callable[[float], bool], str]] = {}


def _rule(section: str, names: str, test: Callable[[float], bool], expected: str) -> None:
    for name in names.split():
        RULES[section, name] = (test, expected)


_rule("loss", "temperature", lambda v: v > 0, "a number > 0 (τ divides the similarity)")
_rule("loss", "tau_plus", lambda v: 0 <= v < 1, "a class prior in [0, 1)")
_rule("loss", "momentum base_momentum", lambda v: 0 <= v <= 1, "a number in [0, 1]")
_rule("loss", "logit_scale init_scale alpha t", lambda v: v > 0, "a number > 0")
_rule("loss", "beta lam lambda_ sim_weight var_weight cov_weight", lambda v: v >= 0, "a number >= 0")
_rule("loss", "queue_size predictor_hidden embedding_dim total_steps", lambda v: v >= 1, "an integer >= 1")
_rule("model", "out_dim feature_dim hidden", lambda v: v >= 1, "an integer >= 1")
_rule("train", "steps", lambda v: v >= 1, "an integer >= 1")
_rule("train", "batch_size eval_size", lambda v: v >= 2, "an integer >= 2")
_rule("train", "eval_every", lambda v: v >= 0, "an integer >= 0 (0 = evaluate only at the end)")
_rule("train", "lr", lambda v: v > 0, "a number > 0")
_rule("train", "weight_decay", lambda v: v >= 0, "a number >= 0")
_rule("data", "seed", lambda v: v >= 0, "an integer >= 0, or null for the run's seed")


def _check_value(path: str, value: object, option: Option, section: str, name: str) -> tuple[object, list[str]]:
    """(the value normalised, problems): kind, finiteness and the rules above."""
    kinds = option.kinds
    ok = not kinds or any((k == "int" and isinstance(value, int) and not isinstance(value, bool))
                          or (k == "float" and is_number(value))
                          or (k == "bool" and isinstance(value, bool))
                          or (k == "str" and isinstance(value, str))
                          or (k == "none" and value is None)
                          or (k == "seq" and isinstance(value, (list, tuple))) for k in kinds)
    if not ok:
        expected = " or ".join(_KIND_WORDS[k] for k in kinds)
        hint = ""
        if isinstance(value, str) and {"int", "float"} & set(kinds):
            try:
                float(value)
                hint = " (YAML reads 1e-3 as text: write 1.0e-3 or 0.001)"
            except ValueError:
                pass
        elif isinstance(value, float) and "int" in kinds and value.is_integer():
            hint = f" (write {int(value)})"
        return value, [f"{path}: got {value!r} ({type(value).__name__}), expected {expected}{hint}"]
    if "seq" in kinds and isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) for v in value):
            return value, [f"{path}: got {value!r}, expected a list of strings (to sweep it, list its values "
                           f"under grid: {{{path}: [[...], [...]]}})"]
        return list(value), []
    if isinstance(value, float) and not math.isfinite(value):
        return value, [f"{path}: got {value!r}, expected a finite number"]
    if "float" in kinds and "int" not in kinds and is_number(value):
        value = float(value)  # 1 and 1.0 give the same run id
    rule = RULES.get((section, name))
    if rule is not None and is_number(value) and not rule[0](value):
        return value, [f"{path}: got {value!r}, expected {rule[1]}"]
    return value, []


def check_section(section: str, given: dict, specs: dict[str, Option], owner: str,
                  others: dict[str, dict[str, Option]] | None = None) -> tuple[dict, list[str]]:
    """Resolve one section's options against ``specs`` (defaults filled in, in signature order) and
    collect its problems; ``others`` (the other datasets' or set-ups' specs) give a hint for an option
    of another one. The options a config cannot set are left out of the result."""
    resolved, problems = {}, []
    settable = [k for k, o in specs.items() if o.settable]
    for key, value in given.items():
        path = f"{section}.{key}"
        if key in specs and not specs[key].settable:
            problems.append(f"{path}: cannot be set in a config (its type, {specs[key].annotation}, has no YAML "
                            f"form); {owner} takes its default, or build_method makes it")
            continue
        if key not in specs:
            elsewhere = [o for o, s in (others or {}).items() if key in s and s[key].settable]
            hint = did_you_mean(key, settable) or (f" ({key!r} is an option of {', '.join(elsewhere[:3])})"
                                                   if elsewhere else "")
            problems.append(f"{path}: unknown option for {owner}{hint}; its options are {sorted(settable)}")
            continue
        value, found = _check_value(path, value, specs[key], section, key)
        if found:
            problems += found  # the default stands in, so that the checks across options still run
        else:
            resolved[key] = value
    for key in settable:
        if key not in resolved:
            default = specs[key].default
            if default is REQUIRED:
                problems.append(f"{section}.{key}: missing, required by {owner}")
            else:
                resolved[key] = list(default) if isinstance(default, tuple) else default
    return {k: resolved[k] for k in specs if k in resolved}, problems


def check_device(value: object) -> tuple[str, list[str]]:
    """(``train.device`` with ``auto`` resolved to cuda, mps or cpu, problems): the device must exist here."""
    import torch

    if value == "auto":
        if torch.cuda.is_available():
            return "cuda", []
        mps = getattr(torch.backends, "mps", None)
        return ("mps" if mps is not None and mps.is_available() else "cpu"), []
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        return value, [f"train.device: got {value!r}, expected cpu, cuda, cuda:N, mps or auto"]
    if device.type == "cuda" and not torch.cuda.is_available():
        return value, [f"train.device: got {value!r}, but no CUDA device is available (use cpu or auto)"]
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        return value, [f"train.device: got {value!r}, but no MPS device is available (use cpu or auto)"]
    if device.type not in ("cpu", "cuda", "mps"):
        return value, [f"train.device: got {value!r}, expected cpu, cuda, cuda:N, mps or auto"]
    return value, []
