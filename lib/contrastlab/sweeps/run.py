r"""Sweeps: a grid of ``fit`` runs from one config, resumable, with a tidy table and an HTML report.

    contrastlab sweep examples/sweeps/temperature.yaml --set train.steps=100
    frame = contrastlab.sweep("examples/sweeps/temperature.yaml")   # the same, from Python

A config (a YAML file or a dict) has these sections; every option is checked before any run starts:

.. code-block:: yaml

    name: temperature               # default: the file's stem; the run folder is runs/<name>
    description: Does a smaller τ make the embedding more uniform?   # shown in the report
    out: runs/temperature           # optional: the run folder
    data:  {name: vmf_mixture, n: 2000, n_classes: 10}     # a generator of contrastlab.data + its knobs
    model: {out_dim: 32, feature_dim: 64, hidden: 128}     # the default encoder (build_method)
    loss:  {name: simclr, temperature: [0.05, 0.1, 0.5]}   # a METHODS key + its options
    train: {steps: 300, batch_size: 256, lr: 0.001, weight_decay: 1.0e-5, schedule: cosine,
            eval_every: 50, eval_size: 1024, device: cpu}  # fit's arguments; device: cpu|cuda|mps|auto
    metrics: [alignment, uniformity, knn]                  # what train.evaluate computes (METRICS)
    seeds: 3                                               # 0, 1, 2; or a list [0, 5, 7]
    grid: {"data.n_classes": [2, 10]}                      # more swept options, as dotted keys

**The grid rule.** A list written as an option's value in ``data``, ``model``, ``loss`` or ``train``
sweeps that option (``temperature: [0.05, 0.1]``), exactly like the same list under ``grid:`` with
a dotted key (``"loss.temperature": [0.05, 0.1]``). The one exception is an option whose value is
itself a list (``data.augmentations`` of ``digits``): an inline list is its value, and to sweep it
you list its values under ``grid:``. ``metrics`` and ``seeds`` are lists but never grids. The runs
are the Cartesian product of every swept option, times the seeds.

**Defaults.** Omitted options take the defaults of the generator, the set-up's ``__init__``,
``build_method`` and ``fit``, except ``train.device`` (``cpu``), BYOL's ``loss.total_steps`` (the
number of steps, as in ``fit``) and ``data.seed``, which is the run's seed unless you fix it: the
interval over seeds then covers both the draw of the dataset and the training. ``data.name`` and
``loss.name`` are required. ``train.device: auto`` picks cuda, then mps, then cpu when the sweep
is planned, and the run ids include the device chosen.

**The run folder.** Each run is one grid point and one seed; its id is a hash of its resolved
config (so extending a grid reuses the runs already done). ``runs/<run_id>.csv`` holds its
evaluations and is the only proof that it finished: a restarted sweep skips the runs that have
one (``rerun=True``, ``--rerun``, runs them all again). ``runs/<run_id>.json`` holds its config,
status (running, finished, failed with the traceback), wall time and ``code``, a short hash of the
contrastlab source that trained it: a sweep that reuses runs trained by another source warns
(``OtherCodeWarning``); the hash is not part of the run id, so editing the package keeps the runs.
At the end come ``results.csv`` (``results.parquet`` when pyarrow is installed; one row per run and
evaluation step), ``summary.csv`` (the last step, mean and 95% interval over seeds per grid point),
``config.yaml`` (the resolved config and the list of runs), ``environment.json`` (versions, the
source's hash, device, cores, dates) and ``report.html`` (self-contained, opens offline; skip it
with ``report=False``, ``--no-report``). Every file is written to a temporary name and renamed, so
a killed sweep never leaves a half-written file under a real name. One sweep at a time per folder.

**Intervals.** Over the n seeds of a grid point: mean ± t_{0.975, n-1} · s / √n (Student's t,
s the sample standard deviation). With one seed there is no interval, and the report says so.
``compare(frame, {"loss.beta": 0.0}, "knn")`` gives the same interval for the difference to a
baseline seed by seed, which is much narrower when the seeds' runs vary together.

**The returned frame** carries ``attrs``: ``params`` (the swept options), ``config`` (resolved) and
``folder``, so ``summarize(frame)``, ``compare(frame, ...)`` and ``figures(frame)`` need nothing
else; ``figures`` returns a dict: ``figs["knn", "loss.temperature"]``, ``figs["curves"]``.

**Processes.** Every run uses one torch thread, and the sweep's parallelism is ``workers``
processes (default: one per core on CPU, 1 on a GPU). The models are tiny: on an idle 2-core
machine a second thread saved under 10% (one 300-step run: 3.0 s on one thread, 2.8 s on two),
while on a busy one threads that fight for the cores slow a run down many times over (6 runs:
83-203 s on two threads, 12-18 s on one). One thread also makes a run's numbers the same whatever
the number of workers. ``workers=1`` runs in this process
(torch's thread count is restored afterwards); more spawn processes, so from a script call
``sweep`` under ``if __name__ == "__main__":`` (spawned workers re-import the main module).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import functools
import hashlib
import inspect
import itertools
import json
import math
import os
import re
import sys
import time
import traceback

import warnings
from pathlib import Path
from typing import Callable, Iterable, Mapping

from .. import data as D
from ..methods import METHODS, Method, build_method
from .report import _is_number, _metric_columns, _yaml, compare, figures, report_html, summarize  # noqa: F401
from ..train import DEFAULT_METRICS, fit

__all__ = ["sweep", "load_config", "apply_overrides", "validate", "expand", "summarize", "compare", "figures",
           "report_html", "SweepConfigError", "SweepRunError", "OtherCodeWarning", "DATASETS", "METRICS"]

DATASETS: dict[str, Callable] = {
    "vmf_mixture": D.vmf_mixture, "latent_mlp": D.latent_mlp, "feature_mix": D.feature_mix,
    "paired_modalities": D.paired_modalities, "digits": D.digits,
}
PAIRED_DATASETS = ("paired_modalities",)  # their views are (modality a, modality b): two-tower set-ups only
# The metric names that contrastlab.train.evaluate computes (tests check this list against it).
METRICS = ("alignment", "uniformity", "erank", "std", "mean_norm", "knn", "knn_projection", "top1", "modality_gap")
SECTIONS = ("name", "description", "out", "data", "model", "loss", "train", "metrics", "seeds", "grid")
OPTION_SECTIONS = ("data", "model", "loss", "train")
DEFAULT_SEEDS = 3
SCHEMA_VERSION = 1  # part of every run id: bump it when the meaning of a config changes


class SweepConfigError(ValueError):
    """An invalid sweep config; ``problems`` lists every problem found, one line each."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid sweep config ({len(self.problems)} problem"
                         f"{'s' if len(self.problems) != 1 else ''}):\n{lines}")


class OtherCodeWarning(UserWarning):
    """A sweep reused finished runs that a different contrastlab source recorded (``rerun=True`` redoes them)."""


class SweepRunError(RuntimeError):
    """Some runs raised; the others' results were written. ``failed`` maps run ids to error lines."""

    def __init__(self, failed: dict[str, str], folder: Path):
        self.failed, self.folder = failed, folder
        lines = "\n".join(f"  - {rid}: {err}" for rid, err in failed.items())
        super().__init__(f"{len(failed)} run(s) failed (tracebacks in {folder / 'runs'}/<run_id>.json; "
                         f"rerun to retry them):\n{lines}")


# ----------------------------------------------------------------------------- option specs

@dataclasses.dataclass(frozen=True)
class _Option:
    default: object  # _REQUIRED if the function has no default
    kinds: tuple[str, ...]  # of "int", "float", "bool", "str", "none", "seq"; () accepts anything


_REQUIRED = object()
_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "none": "null", "seq": "a list"}


def _kinds(param: inspect.Parameter) -> tuple[str, ...]:
    """The accepted kinds of a parameter, read from its annotation (a string under future annotations)."""
    annotation = param.annotation
    if annotation is inspect.Parameter.empty:
        default = param.default
        return {bool: ("bool",), int: ("int",), float: ("float",), str: ("str",)}.get(type(default), ())
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    kinds = []
    for part in (p.strip() for p in text.split("|")):
        if part in ("int", "float", "bool", "str"):
            kinds.append(part)
        elif part == "None":
            kinds.append("none")
        elif part.startswith(("tuple", "list", "Sequence")):
            kinds.append("seq")
    return tuple(kinds) if any(k != "none" for k in kinds) else ()  # e.g. "Encoder": not configurable


def _options(functions: Iterable[Callable], skip: Iterable[str] = ()) -> dict[str, _Option]:
    """Keyword options of ``functions``, the first definition of a name winning (subclass before base)."""
    skip, out = set(skip), {}
    for fn in functions:
        for name, p in inspect.signature(fn).parameters.items():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or name in skip or name in out:
                continue
            out[name] = _Option(_REQUIRED if p.default is p.empty else p.default, _kinds(p))
    return out


def _method_options(cls: type[Method]) -> dict[str, _Option]:
    inits = [c.__init__ for c in cls.__mro__ if "__init__" in vars(c) and issubclass(c, Method)]
    return _options(inits, skip=("self", "encoder", "encoder_b"))


DATA_OPTIONS = {name: _options([fn], skip=("device",)) for name, fn in DATASETS.items()}
for _spec in DATA_OPTIONS.values():  # None = the run's seed
    _spec["seed"] = _Option(None, ("int", "none"))
LOSS_OPTIONS = {name: _method_options(cls) for name, cls in METHODS.items()}
MODEL_OPTIONS = _options([build_method], skip=("name", "data", "encoder"))
TRAIN_OPTIONS = _options([fit], skip=("data", "method", "metrics", "seed", "device", "sampler", "callbacks",
                                      "progress"))
TRAIN_OPTIONS["device"] = _Option("cpu", ("str",))
_SEQUENCE_OPTIONS = {(section, name) for section, specs in
                     [("data", s) for s in DATA_OPTIONS.values()] + [("loss", s) for s in LOSS_OPTIONS.values()]
                     for name, opt in specs.items() if opt.kinds == ("seq",)}

# Impossible values, by section and option name: (test, what was expected). None always passes where allowed.
_RULES: dict[tuple[str, str], tuple[Callable[[float], bool], str]] = {}


def _rule(section: str, names: str, test: Callable[[float], bool], expected: str) -> None:
    for name in names.split():
        _RULES[section, name] = (test, expected)


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


# ----------------------------------------------------------------------------- loading and overrides

def load_config(path: str | Path) -> dict:
    """Read a YAML config; ``name`` defaults to the file's stem."""
    import yaml

    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SweepConfigError([f"{path}: not valid YAML: {error}"]) from None
    if not isinstance(config, dict):
        raise SweepConfigError([f"{path}: expected a mapping of sections (data:, loss:, ...), "
                                f"got {type(config).__name__}"])
    config.setdefault("name", path.stem)
    return config


def _as_config(config: Mapping | str | Path) -> dict:
    if isinstance(config, (str, Path)):
        return load_config(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict or the path of a YAML file, got {type(config).__name__}")
    return json.loads(json.dumps(config, default=list))  # a deep copy in plain types; the input is never modified


def apply_overrides(config: Mapping, overrides: Iterable[str]) -> dict:
    """A copy of ``config`` with ``"section.option=value"`` overrides, each value read as YAML.

    ``loss.temperature=0.2`` sets an option (and drops ``grid["loss.temperature"]``: the override
    wins); ``loss.temperature=[0.1,0.2]`` sweeps it; ``seeds=5``, ``name=x`` set top-level keys;
    ``grid.data.n=[500,1000]`` adds a grid axis.
    """
    import yaml

    config, problems = _as_config(config), []
    for item in ([overrides] if isinstance(overrides, str) else overrides):
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"--set {item!r}: expected key=value, e.g. loss.temperature=0.1")
            continue
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            problems.append(f"--set {item!r}: the value is not valid YAML ({error})")
            continue
        section, dot, option = key.partition(".")
        if section not in SECTIONS:
            problems.append(f"--set {key}: unknown section {section!r}{_did_you_mean(section, SECTIONS)}")
        elif not dot:
            config[section] = value
        elif section in OPTION_SECTIONS:
            if not isinstance(config.get(section, {}), dict):
                problems.append(f"--set {key}: {section} is not a mapping in the config")
                continue
            config.setdefault(section, {})[option] = value
            if isinstance(config.get("grid"), dict):
                config["grid"].pop(key, None)
        elif section == "grid":
            if not isinstance(config.get("grid", {}), dict):
                problems.append(f"--set {key}: grid is not a mapping in the config")
                continue
            config.setdefault("grid", {})[option] = value
        else:
            problems.append(f"--set {key}: {section} takes no sub-keys; write --set {section}=VALUE")
    if problems:
        raise SweepConfigError(problems)
    return config


# ----------------------------------------------------------------------------- validation

def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_value(path: str, value: object, option: _Option, section: str, name: str) -> tuple[object, list[str]]:
    """(the value normalised, problems): kind, finiteness and the rules above."""
    kinds = option.kinds
    ok = not kinds or any((k == "int" and isinstance(value, int) and not isinstance(value, bool))
                          or (k == "float" and _is_number(value))
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
    if "float" in kinds and "int" not in kinds and _is_number(value):
        value = float(value)  # 1 and 1.0 give the same run id
    rule = _RULES.get((section, name))
    if rule is not None and _is_number(value) and not rule[0](value):
        return value, [f"{path}: got {value!r}, expected {rule[1]}"]
    return value, []


def _check_section(section: str, given: dict, specs: dict[str, _Option], owner: str,
                   others: dict[str, dict[str, _Option]] | None = None) -> tuple[dict, list[str]]:
    """Resolve one section's options against ``specs`` (defaults filled in) and collect its problems."""
    resolved, problems = {}, []
    for key, value in given.items():
        path = f"{section}.{key}"
        if key not in specs:
            elsewhere = [o for o, s in (others or {}).items() if key in s]
            hint = _did_you_mean(key, specs) or (f" ({key!r} is an option of {', '.join(elsewhere[:3])})"
                                                 if elsewhere else "")
            problems.append(f"{path}: unknown option for {owner}{hint}; its options are {sorted(specs)}")
            continue
        value, found = _check_value(path, value, specs[key], section, key)
        if found:
            problems += found  # the default stands in, so that the checks across options still run
        else:
            resolved[key] = value
    for key, option in specs.items():
        if key not in resolved:
            if option.default is _REQUIRED:
                problems.append(f"{section}.{key}: missing, required by {owner}")
            else:
                resolved[key] = list(option.default) if isinstance(option.default, tuple) else option.default
    return {k: resolved[k] for k in specs if k in resolved}, problems


def _check_device(value: object) -> tuple[str, list[str]]:
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


def _dataset_size(name: str, knobs: dict, cache: dict) -> tuple[int | None, str | None]:
    """Build the dataset once per setting (cheap toy data) to learn its size and let its generator
    check its own knobs (n >= n_classes, imbalance >= 1, ...). Returns (size, problem)."""
    fixed = {k: v for k, v in knobs.items() if k != "seed"}
    key = json.dumps([name, fixed], sort_keys=True)
    if key not in cache:
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in fixed.items()}
        try:
            cache[key] = (len(DATASETS[name](**args, seed=knobs.get("seed") or 0)), None)
        except (ValueError, TypeError) as error:
            given = ", ".join(f"{k}={v!r}" for k, v in fixed.items() if v != DATA_OPTIONS[name][k].default)
            cache[key] = (None, f"data: {name}({given}) cannot be built: {error}")
    return cache[key]


def _resolve_point(point: dict, metrics: list, data_cache: dict) -> tuple[dict, list[str]]:
    """One grid point (sections with scalar values) -> (resolved sections, problems)."""
    problems: list[str] = []
    out: dict = {}
    for section, registry in (("data", DATA_OPTIONS), ("loss", LOSS_OPTIONS)):
        given = dict(point.get(section) or {})
        name = given.pop("name", None)
        kind = "dataset" if section == "data" else "loss"
        if name is None:
            problems.append(f"{section}.name: missing; expected one of {sorted(registry)}")
        elif not isinstance(name, str) or name not in registry:
            problems.append(f"{section}.name: unknown {kind} {name!r}{_did_you_mean(name, registry)}; "
                            f"expected one of {sorted(registry)}")
            name = None
        if name is None:
            out[section] = None
            continue
        owner = f"{kind} {name!r}"
        resolved, found = _check_section(section, given, registry[name], owner, registry)
        out[section] = {"name": name, **resolved}
        problems += found
    out["model"], found = _check_section("model", point.get("model") or {}, MODEL_OPTIONS, "the default encoder")
    problems += found
    out["train"], found = _check_section("train", point.get("train") or {}, TRAIN_OPTIONS, "fit")
    problems += found
    train = out["train"]
    if isinstance(train.get("device"), str):
        train["device"], found = _check_device(train["device"])
        problems += found
    if train.get("schedule") not in ("cosine", "constant") and isinstance(train.get("schedule"), str):
        problems.append(f"train.schedule: got {train['schedule']!r}, expected 'cosine' or 'constant'"
                        f"{_did_you_mean(train['schedule'], ('cosine', 'constant'))}")
    loss, data = out["loss"], out["data"]
    if loss is not None and loss["name"] == "byol" and "total_steps" not in (point.get("loss") or {}):
        loss["total_steps"] = train.get("steps")  # fit's own default for BYOL's momentum schedule
    if loss is not None and data is not None:
        paired_loss, paired_data = METHODS[loss["name"]].paired, data["name"] in PAIRED_DATASETS
        if paired_loss and not paired_data:
            problems.append(f"loss.name: {loss['name']!r} trains two towers on paired data, but data.name is "
                            f"{data['name']!r}; use data.name: {PAIRED_DATASETS[0]}")
        elif paired_data and not paired_loss:
            two_tower = sorted(n for n, c in METHODS.items() if c.paired)
            problems.append(f"data.name: {data['name']!r} gives pairs of modalities, which only "
                            f"{two_tower} train on; got loss.name {loss['name']!r}")
    if data is not None:
        size, problem = _dataset_size(data["name"], {k: v for k, v in data.items() if k != "name"}, data_cache)
        if problem:
            problems.append(problem)
        batch_size = train.get("batch_size")
        if size is not None and _is_number(batch_size) and batch_size > size:
            problems.append(f"train.batch_size: got {batch_size}, expected at most {size}, the size of the "
                            f"dataset ({data['name']} with n={size})")
    out["metrics"] = metrics
    return out, problems


def _structure(config: Mapping) -> tuple[dict, list[tuple[str, list]], list[str], list[int], list[str]]:
    """Top-level checks -> (base sections with the swept options removed, axes, metrics, seeds, problems)."""
    problems: list[str] = []
    if not isinstance(config, Mapping):
        return {}, [], [], [], [f"config: expected a mapping of sections, got {type(config).__name__}"]
    for key in config:
        if key not in SECTIONS:
            problems.append(f"{key}: unknown section{_did_you_mean(key, SECTIONS)}; sections are {list(SECTIONS)}")
    name = config.get("name", "sweep")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        problems.append(f"name: got {name!r}, expected a folder-safe name (letters, digits, _ . -)")
    for key in ("description", "out"):
        if key in config and not isinstance(config[key], str):
            problems.append(f"{key}: got {config[key]!r}, expected a string")

    metrics = config.get("metrics", list(DEFAULT_METRICS))
    metrics = [metrics] if isinstance(metrics, str) else metrics
    if not isinstance(metrics, list) or not metrics:
        problems.append(f"metrics: got {metrics!r}, expected a non-empty list of names from {list(METRICS)}")
        metrics = []
    for m in metrics:
        if m not in METRICS:
            problems.append(f"metrics: unknown metric {m!r}{_did_you_mean(m, METRICS)}; known: {list(METRICS)}")
    if len(set(map(str, metrics))) != len(metrics):
        problems.append(f"metrics: got {metrics!r}, expected each name once")

    seeds = config.get("seeds", DEFAULT_SEEDS)
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            problems.append(f"seeds: got {seeds}, expected a count >= 1 or a list of seeds")
        seeds = list(range(max(seeds, 0)))
    elif (not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                               and s >= 0 for s in seeds)):
        problems.append(f"seeds: got {seeds!r}, expected a count (3 means 0, 1, 2) or a list of integers >= 0")
        seeds = []
    elif len(set(seeds)) != len(seeds):
        problems.append(f"seeds: got {seeds!r}, expected each seed once")

    base: dict = {}
    axes: list[tuple[str, list]] = []
    for section in OPTION_SECTIONS:  # a missing data: or loss: is reported as a missing data.name / loss.name
        given = config.get(section) or {}
        base[section] = {}
        if not isinstance(given, dict):
            problems.append(f"{section}: got {given!r}, expected a mapping of options")
            continue
        for key, value in given.items():
            if isinstance(value, list) and (section, key) not in _SEQUENCE_OPTIONS:
                axes.append((f"{section}.{key}", value))
            else:
                base[section][key] = value
    grid = config.get("grid", {})
    if not isinstance(grid, dict):
        problems.append(f"grid: got {grid!r}, expected a mapping of dotted keys to lists, "
                        f"e.g. {{loss.temperature: [0.1, 0.5]}}")
        grid = {}
    for key, values in grid.items():
        section, dot, option = str(key).partition(".")
        if section not in OPTION_SECTIONS or not dot or not option:
            where = "seeds: and metrics: are lists but not grids" if section in ("seeds", "metrics") else \
                f"expected section.option with section one of {list(OPTION_SECTIONS)}"
            problems.append(f"grid.{key}: not a sweepable key ({where})")
            continue
        if key in {a for a, _ in axes} or option in (config.get(section) or {}):
            problems.append(f"grid.{key}: {key} is also set in {section}:; set it in one place")
            continue
        if not isinstance(values, list):
            problems.append(f"grid.{key}: got {values!r}, expected a list of values to sweep")
            continue
        axes.append((key, values))
    for key, values in axes:
        if not values:
            problems.append(f"{key}: an empty list sweeps nothing; give at least one value")
        for i, v in enumerate(values):
            if any(_same(v, w) for w in values[:i]):
                problems.append(f"{key}: the value {v!r} is listed twice")
    return base, axes, metrics, seeds, problems


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b or (_is_number(a) and _is_number(b) and a == b)


def _plan(config: Mapping) -> dict:
    """Validate and expand: the resolved config, the grid points and the runs. Raises SweepConfigError."""
    base, axes, metrics, seeds, problems = _structure(config)
    problems = dict.fromkeys(problems)  # ordered, without repeats
    points, data_cache = [], {}
    for values in itertools.product(*(v for _, v in axes)):
        point = json.loads(json.dumps(base))
        for (key, _), value in zip(axes, values):
            section, _, option = key.partition(".")
            point[section][option] = value
        resolved, found = _resolve_point(point, metrics, data_cache)
        problems.update(dict.fromkeys(found))
        params = {}  # the swept values as they run (1 -> 1.0 where a float is meant)
        for (key, _), value in zip(axes, values):
            section, _, option = key.partition(".")
            params[key] = (resolved[section] or {}).get(option, value)
        points.append((params, resolved))
    if problems:
        raise SweepConfigError(problems)
    runs = []
    for params, resolved in points:
        for seed in seeds:
            run = json.loads(json.dumps(resolved))
            if run["data"]["seed"] is None:
                run["data"]["seed"] = seed
            run["seed"] = seed
            run_id = _run_id(run)
            runs.append({"run_id": run_id, "seed": seed, "params": params, "config": run})
    seen: dict[str, dict] = {}
    for run in runs:
        if run["run_id"] in seen:
            raise SweepConfigError([f"grid: {seen[run['run_id']]['params']} and {run['params']} (seed "
                                    f"{run['seed']}) resolve to the same run; remove one"])
        seen[run["run_id"]] = run
    name = config.get("name", "sweep")
    resolved_config = {"name": name, **({"description": config["description"]} if "description" in config else {}),
                       "out": config.get("out", str(Path("runs") / name)),
                       **{s: _with_axes(points[0][1][s], s, axes) for s in OPTION_SECTIONS},
                       "metrics": metrics, "seeds": seeds, "grid": {k: v for k, v in axes}}
    return {"config": resolved_config, "params": [k for k, _ in axes], "runs": runs}


def _with_axes(section: dict, name: str, axes: list) -> dict:
    """A resolved section for config.yaml: the first grid point's values, swept options shown as their lists."""
    out = dict(section)
    for key, values in axes:
        s, _, option = key.partition(".")
        if s == name:
            out[option] = values
    return out


def _run_id(run: dict) -> str:
    text = json.dumps({"v": SCHEMA_VERSION, **run}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def validate(config: Mapping | str | Path) -> list[str]:
    """Every problem of a config (unknown keys with a did-you-mean, wrong types, impossible values,
    unknown names, loss/data mismatches), one line each; an empty list when it is valid."""
    try:
        _plan(_as_config(config))
    except SweepConfigError as error:
        return error.problems
    return []


def expand(config: Mapping | str | Path) -> list[dict]:
    """The runs of a valid config, in order (grid points in product order, then seeds): dicts with
    ``run_id``, ``seed``, ``params`` (dotted key -> value of the swept options) and ``config`` (the
    resolved run: data, model, loss, train, metrics, seed). Raises ``SweepConfigError``."""
    return _plan(_as_config(config))["runs"]


# ----------------------------------------------------------------------------- files

def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then rename onto ``path``: readers see the old file or the whole new one, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _write_json(path: Path, obj: object) -> None:
    _write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def _read_csv(path: Path):
    import pandas as pd

    return pd.read_csv(path)  # pandas 3 parses floats exactly: the frame survives a round trip


def _have_pyarrow() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def _environment(device: str, workers: int) -> dict:
    import platform

    import numpy
    import pandas
    import plotly
    import scipy
    import torch

    from .. import __version__

    name = device
    if "cuda" in device and torch.cuda.is_available():
        name = f"{device} ({torch.cuda.get_device_name()})"
    return {"contrastlab": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "numpy": numpy.__version__, "pandas": pandas.__version__,
            "scipy": scipy.__version__, "plotly": plotly.__version__, "device": name, "cpu_count": _cpu_count(),
            "torch_threads_per_run": 1, "workers": workers,
            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _source_fingerprint(package: Path) -> str:
    """A short hash of every ``*.py`` under ``package``: their paths and contents, in path order."""
    digest = hashlib.sha1()
    for path in sorted(package.rglob("*.py"), key=lambda p: p.relative_to(package).as_posix()):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:10]


@functools.cache
def _code_fingerprint() -> str:
    """The fingerprint of this contrastlab's source (``lib/contrastlab/**/*.py``), computed once per process.

    Each run's ``.json`` records it as ``code``; it is not part of the run ids, so an edit to the
    package keeps the finished runs, and a sweep that reuses runs recorded with another fingerprint
    says so (``OtherCodeWarning``)."""
    return _source_fingerprint(Path(__file__).resolve().parents[1])  # the whole package, not only sweeps/


def _recorded_code(runs_dir: Path, run_id: str) -> str | None:
    """The ``code`` a run's .json recorded; None if it has none (older runs) or cannot be read."""
    try:
        return json.loads((runs_dir / f"{run_id}.json").read_text()).get("code")
    except (OSError, ValueError, AttributeError):
        return None


# ----------------------------------------------------------------------------- one run

class _Interrupted(Exception):
    """fit stopped early (Ctrl-C): the run is not finished and must not be recorded as such."""


def _run_one(run: dict, runs_dir: str) -> dict:
    """Train one run on one torch thread and write its files; the CSV, written last, marks it finished."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_and_write(run, Path(runs_dir))
    finally:
        torch.set_num_threads(threads)


def _train_and_write(run: dict, runs_dir: Path) -> dict:
    import torch

    from .. import __version__

    config, run_id = run["config"], run["run_id"]
    record = {"run_id": run_id, "seed": run["seed"], "params": run["params"], "config": config,
              "status": "running", "pid": os.getpid(), "contrastlab": __version__, "code": _code_fingerprint(),
              "torch": torch.__version__,
              "torch_threads": torch.get_num_threads(),
              "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    _write_json(runs_dir / f"{run_id}.json", record)
    started = time.perf_counter()
    try:
        data_cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in config["data"].items() if k != "name"}
        train = dict(config["train"])
        device = train.pop("device")
        toy = DATASETS[config["data"]["name"]](**data_cfg, device=device)
        loss = {k: v for k, v in config["loss"].items() if k != "name"}
        history = fit(toy, config["loss"]["name"], **train, metrics=config["metrics"], seed=run["seed"],
                      device=device, progress=False, **config["model"], **loss)
        if history.interrupted:
            raise _Interrupted(run_id)
        frame = history.frame
        frame.insert(0, "run_id", run_id)
        _atomic_write(runs_dir / f"{run_id}.csv", lambda tmp: frame.to_csv(tmp, index=False))
    except BaseException as error:
        status = "interrupted" if isinstance(error, (_Interrupted, KeyboardInterrupt)) else "failed"
        record.update(status=status, seconds=time.perf_counter() - started,
                      error="".join(traceback.format_exception_only(type(error), error)).strip(),
                      traceback=traceback.format_exc())
        _write_json(runs_dir / f"{run_id}.json", record)
        raise
    record.update(status="finished", seconds=time.perf_counter() - started,
                  finished=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    _write_json(runs_dir / f"{run_id}.json", record)
    return {"run_id": run_id, "seconds": record["seconds"]}


# ----------------------------------------------------------------------------- the sweep

def _default_workers(n_todo: int, device: str) -> int:
    """One process per core (each run uses one thread), never more than the runs; one on an accelerator."""
    if device != "cpu":
        return 1
    return max(1, min(n_todo, _cpu_count()))


def sweep(config: Mapping | str | Path, *, out: str | Path | None = None, overrides: Iterable[str] = (),
          workers: int | None = None, progress: bool = True, report: bool = True, rerun: bool = False):
    """Run every grid point x seed of ``config`` (a dict or a YAML path) and return the tidy results.

    Args:
        config: see the module docstring for the sections; validated in full before anything runs.
        out: the run folder (default: the config's ``out``, else ``runs/<name>``). Runs whose
            ``runs/<run_id>.csv`` already exists there are skipped, so rerunning resumes.
        overrides: ``"section.option=value"`` strings applied first (``apply_overrides``).
        workers: processes to use (default: one per core, at most the number of runs to do; 1 on
            CUDA/MPS); 1 runs in this process. Each run uses one torch thread.
        progress: a line saying what will run (on stdout) and a progress bar over runs with the time
            left (tqdm's widget inside a Jupyter kernel, a text bar on stderr elsewhere).
        report: write ``report.html`` (it embeds plotly.js, about 5 MB, and takes a second or two);
            with False an older ``report.html`` in the folder is removed, so it never describes
            other results than ``results.csv``.
        rerun: run every run again, finished or not. A finished run is reused whatever contrastlab
            source it was trained with (the run ids leave the source out, so an edit to the package
            keeps the runs); when some were recorded with another source than this one, the sweep
            warns once (``OtherCodeWarning``), and ``rerun=True`` redoes them.
    Returns: a pandas DataFrame, one row per run and evaluation step: run_id, seed, one column per
        swept option (named by its dotted key), step, loss, the metrics, then lr, temperature and
        seconds (time since the run's start). The same table is written to ``results.csv``.
        ``frame.attrs`` holds ``params`` (the swept options), ``config`` (the resolved config) and
        ``folder`` (the run folder), which ``summarize``, ``compare`` and ``figures`` read.
    Raises: SweepConfigError before any run if the config is invalid; SweepRunError after writing
        the other runs' results if some runs raised; KeyboardInterrupt (nothing half-written) on Ctrl-C.
    """
    config = apply_overrides(_as_config(config), overrides)
    plan = _plan(config)
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers must be an integer >= 1 or None, got {workers!r}")
    resolved, runs, params = plan["config"], plan["runs"], plan["params"]
    folder = Path(out) if out is not None else Path(resolved["out"])
    resolved["out"] = str(folder)
    runs_dir = folder / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob(".*.tmp"), *runs_dir.glob(".*.tmp")]:  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    finished = [r for r in runs if (runs_dir / f"{r['run_id']}.csv").exists()]
    todo = list(runs) if rerun else [r for r in runs if not (runs_dir / f"{r['run_id']}.csv").exists()]
    code = _code_fingerprint()
    other_code = [] if rerun else [r for r in finished if _recorded_code(runs_dir, r["run_id"]) != code]
    if other_code:
        warnings.warn(f"{len(other_code)} of the {len(finished)} finished runs reused from {runs_dir} were recorded "
                      f"with a different (or unrecorded) contrastlab source than this one (code {code}), so their "
                      "numbers may differ from what it gives; to run them again, pass rerun=True "
                      "(contrastlab sweep --rerun)", OtherCodeWarning, stacklevel=2)
    device = ", ".join(dict.fromkeys(r["config"]["train"]["device"] for r in runs))
    workers = workers or _default_workers(len(todo), device)
    workers = max(1, min(workers, len(todo))) if todo else 1

    listing = [{"run_id": r["run_id"], "seed": r["seed"], **r["params"]} for r in runs]
    _write_text(folder / "config.yaml", _yaml({**resolved, "runs": listing}))
    environment = _environment(device, workers)
    environment["code"] = code
    environment["runs"] = {"total": len(runs), "already_finished": len(runs) - len(todo),
                           "other_code": len(other_code)}
    _write_json(folder / "environment.json", environment)
    if progress:
        reused = f"rerunning all ({len(finished)} finished)" if rerun else f"{len(finished)} already finished"
        print(f"sweep {resolved['name']!r}: {len(runs)} runs, {reused}, {len(todo)} to run with {workers} "
              f"worker{'s' if workers > 1 else ''} -> {folder}", flush=True)

    started = time.perf_counter()
    failed = _execute(todo, runs_dir, workers, progress, total=len(runs), name=resolved["name"])
    environment.update(finished=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                       seconds=round(time.perf_counter() - started, 3))
    environment["runs"]["failed"] = len(failed)
    _write_json(folder / "environment.json", environment)

    frame = _collect(runs, params, resolved["metrics"], runs_dir)
    if frame is not None:
        frame.attrs.update(params=list(params), config=json.loads(json.dumps(resolved)), folder=str(folder))
        results = folder / ("results.parquet" if _have_pyarrow() else "results.csv")
        if results.suffix == ".parquet":
            _atomic_write(results, lambda tmp: frame.to_parquet(tmp, index=False))
        else:
            _atomic_write(results, lambda tmp: frame.to_csv(tmp, index=False))
        summary = summarize(frame, params, _metric_columns(frame, resolved["metrics"]))
        _atomic_write(folder / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False))
        if report:
            _write_text(folder / "report.html", report_html(frame, resolved, environment, params, failed))
        else:
            (folder / "report.html").unlink(missing_ok=True)  # it would describe an earlier sweep
        if progress:
            print(f"results: {results}" + (f"\nreport:  {folder / 'report.html'}" if report else ""), flush=True)
    if failed:
        raise SweepRunError(failed, folder)
    return frame


def _in_jupyter_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code), where stderr shows as an error box."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and hasattr(shell, "kernel")


def _progress_bar(*, total: int, initial: int, desc: str, disable: bool):
    """tqdm's widget inside a Jupyter kernel (a text bar on stdout if ipywidgets is missing), else its
    text bar on stderr: in a notebook nothing goes to stderr."""
    from tqdm.std import tqdm as text_bar

    kwargs = dict(total=total, initial=initial, desc=desc, unit="run", disable=disable)
    if disable or not _in_jupyter_kernel():
        return text_bar(**kwargs, file=sys.stderr)
    try:
        from tqdm.notebook import tqdm as widget_bar

        return widget_bar(**kwargs)  # an ipywidgets bar; raises ImportError without ipywidgets
    except ImportError:
        return text_bar(**kwargs, file=sys.stdout)


def _execute(todo: list[dict], runs_dir: Path, workers: int, progress: bool, *, total: int, name: str) -> dict:
    """Run ``todo``; returns {run_id: error line} of the runs that raised. Ctrl-C stops everything."""
    failed: dict[str, str] = {}
    bar = _progress_bar(total=total, initial=total - len(todo), desc=f"sweep {name}", disable=not progress)

    def done(run_id: str, error: BaseException | None) -> None:
        if error is not None:
            failed[run_id] = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]
        bar.update(1)

    try:
        if workers == 1:
            for run in todo:
                try:
                    _run_one(run, str(runs_dir))
                except _Interrupted:
                    raise KeyboardInterrupt from None
                except Exception as error:  # noqa: BLE001 - recorded in the run's json, the sweep goes on
                    done(run["run_id"], error)
                else:
                    done(run["run_id"], None)
        else:
            _execute_pool(todo, runs_dir, workers, done)
    finally:
        bar.close()
    return failed


def _execute_pool(todo: list[dict], runs_dir: Path, workers: int, done: Callable) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    queue, pending = iter(todo), {}

    def submit_next() -> None:  # one run per worker at a time: after Ctrl-C there is no backlog to drain
        run = next(queue, None)
        if run is not None:
            pending[pool.submit(_run_one, run, str(runs_dir))] = run["run_id"]

    try:
        for _ in range(workers):
            submit_next()
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                run_id = pending.pop(future)
                error = future.exception()
                if isinstance(error, _Interrupted):
                    raise KeyboardInterrupt
                if isinstance(error, BrokenProcessPool):
                    raise RuntimeError(
                        "a worker process died before finishing its run (finished runs are kept). Either it ran "
                        "out of memory, or it could not re-import the main module: spawned workers re-run the "
                        "main script, so call sweep() under `if __name__ == \"__main__\":` (not from stdin), "
                        "or pass workers=1") from error
                done(run_id, error)
                submit_next()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _collect(runs: list[dict], params: list[str], metrics: list[str], runs_dir: Path):
    """The finished runs' evaluations in run order, with run_id, seed and the swept options in front."""
    import pandas as pd

    parts = []
    for run in runs:
        path = runs_dir / f"{run['run_id']}.csv"
        if not path.exists():
            continue
        part = _read_csv(path).drop(columns="run_id")
        front = {"run_id": run["run_id"], "seed": run["seed"],
                 **{k: json.dumps(v) if isinstance(v, list) else v for k, v in run["params"].items()}}
        for i, (key, value) in enumerate(front.items()):
            part.insert(i, key, pd.Series([value] * len(part), dtype=object if value is None else None))
        parts.append(part)
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True)
    first = ["run_id", "seed", *params, "step", "loss", *(m for m in metrics if m in frame.columns)]
    return frame[first + [c for c in frame.columns if c not in first]]
