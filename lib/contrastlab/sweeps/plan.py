"""Planning a sweep: a config checked in full and expanded into its runs, each with a stable id.

``plan_sweep`` reads the top level (sections, name, metrics, seeds, the swept options), expands the
grid, resolves every grid point against the schema (defaults filled in, values normalised, the
dataset built once per setting to check its knobs and size) and pairs each point with each seed.
Every problem of the whole config, ``--set`` overrides included, is collected before anything raises
(``SweepConfigError``).
A run's id is a hash of its resolved config and ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import typing
from pathlib import Path
from typing import Iterable, Mapping

from ..data import DATASETS, is_paired, reads_files
from ..data.user import ARRAY_SUFFIXES
from ..methods import METHODS, NegCLIP
from ..metrics import DEFAULT_METRICS, METRICS
from .config import (DEFAULT_SEEDS, OPTION_SECTIONS, SECTIONS, SweepConfigError, as_config, did_you_mean, is_number,
                     overrides_applied)
from .schema import (DATA_OPTIONS, LOSS_OPTIONS, MODEL_OPTIONS, SEQUENCE_OPTIONS, TRAIN_OPTIONS, check_device,
                     check_section)

__all__ = ["Plan", "plan_sweep", "validate", "expand", "run_id", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1  # part of every run id: bump it when the meaning of a config changes


@dataclasses.dataclass
class Plan:
    """A valid config, resolved: ``config`` (every section with defaults, swept options as their lists,
    ``grid`` the swept options), ``params`` (the swept options' dotted keys) and ``runs`` (see ``expand``)."""

    config: dict
    params: list[str]
    runs: list[dict]


def validate(config: Mapping | str | Path, overrides: Iterable[str] = ()) -> list[str]:
    """Every problem of a config and its ``overrides`` (unknown keys with a did-you-mean, wrong types,
    impossible values, unknown names, loss/data mismatches, malformed overrides), one line each; an
    empty list when it is valid."""
    try:
        plan_sweep(as_config(config), overrides)
    except SweepConfigError as error:
        return error.problems
    return []


def expand(config: Mapping | str | Path, overrides: Iterable[str] = ()) -> list[dict]:
    """The runs of a valid config (with ``overrides`` applied), in order (grid points in product order,
    then seeds): dicts with ``run_id``, ``seed``, ``params`` (dotted key -> value of the swept options)
    and ``config`` (the resolved run: data, model, loss, train, metrics, seed). Raises ``SweepConfigError``."""
    return plan_sweep(as_config(config), overrides).runs


def run_id(run: dict) -> str:
    """The id of a resolved run (its config and seed): 10 hex digits of a hash of it and SCHEMA_VERSION."""
    text = json.dumps({"v": SCHEMA_VERSION, **run}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def plan_sweep(config: Mapping, overrides: Iterable[str] = ()) -> Plan:
    """Apply ``overrides``, validate and expand: the resolved config, the grid points and the runs.
    Raises SweepConfigError with every problem, the overrides' first, then the config's."""
    config, early = overrides_applied(config, overrides) if overrides else (config, [])
    base, axes, metrics, seeds, problems = _structure(config)
    problems = dict.fromkeys(early + problems)  # ordered, without repeats
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
            runs.append({"run_id": run_id(run), "seed": seed, "params": params, "config": run})
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
    return Plan(resolved_config, [k for k, _ in axes], runs)


def _structure(config: Mapping) -> tuple[dict, list[tuple[str, list]], list[str], list[int], list[str]]:
    """Top-level checks -> (base sections with the swept options removed, axes, metrics, seeds, problems)."""
    problems: list[str] = []
    if not isinstance(config, Mapping):
        return {}, [], [], [], [f"config: expected a mapping of sections, got {type(config).__name__}"]
    for key in config:
        if key not in SECTIONS:
            problems.append(f"{key}: unknown section{did_you_mean(key, SECTIONS)}; sections are {list(SECTIONS)}")
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
            problems.append(f"metrics: unknown metric {m!r}{did_you_mean(m, METRICS)}; known: {list(METRICS)}")
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
            if isinstance(value, list) and (section, key) not in SEQUENCE_OPTIONS:
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
            problems.append(f"{section}.name: unknown {kind} {name!r}{did_you_mean(name, registry)}; "
                            f"expected one of {sorted(registry)}")
            name = None
        if name is None:
            out[section] = None
            continue
        owner = f"{kind} {name!r}"
        resolved, found = check_section(section, given, registry[name], owner, registry)
        out[section] = {"name": name, **resolved}
        if section == "data" and reads_files(name):
            out[section] = _absolute_paths(out[section])
        problems += found
    out["model"], found = check_section("model", point.get("model") or {}, MODEL_OPTIONS, "the default encoder")
    problems += found
    out["train"], found = check_section("train", point.get("train") or {}, TRAIN_OPTIONS, "fit")
    problems += found
    train = out["train"]
    if isinstance(train.get("device"), str):
        train["device"], found = check_device(train["device"])
        problems += found
    if train.get("schedule") not in ("cosine", "constant") and isinstance(train.get("schedule"), str):
        problems.append(f"train.schedule: got {train['schedule']!r}, expected 'cosine' or 'constant'"
                        f"{did_you_mean(train['schedule'], ('cosine', 'constant'))}")
    loss, data = out["loss"], out["data"]
    if loss is not None and loss["name"] == "byol" and "total_steps" not in (point.get("loss") or {}):
        loss["total_steps"] = train.get("steps")  # fit's own default for BYOL's momentum schedule
    if loss is not None and data is not None:
        problems += _pairing_problems(loss["name"], data["name"])
    if data is not None:
        size, problem = _dataset_size(data["name"], {k: v for k, v in data.items() if k != "name"}, data_cache)
        if problem:
            problems.append(problem)
        batch_size = train.get("batch_size")
        if size is not None and is_number(batch_size) and batch_size > size:
            problems.append(f"train.batch_size: got {batch_size}, expected at most {size}, the size of the "
                            f"dataset ({data['name']} with n={size})")
    out["metrics"] = metrics
    return out, problems


def _pairing_problems(setup: str, dataset: str) -> list[str]:
    """A two-tower set-up needs a paired dataset and the others an unpaired one (``data.is_paired``);
    NegCLIP's negatives come from the data's ``swap_attributes`` (as in ``build_method``)."""
    paired_setup, paired_data = METHODS[setup].paired, is_paired(dataset)
    if paired_setup and not paired_data:
        return [f"loss.name: {setup!r} trains two towers on paired data, but data.name is {dataset!r}; use "
                f"data.name: {_either(_datasets_for(setup))}"]
    if paired_data and not paired_setup:
        two_tower = sorted(n for n, c in METHODS.items() if c.paired)
        return [f"data.name: {dataset!r} gives pairs of modalities, which only {two_tower} train on; "
                f"got loss.name {setup!r}"]
    if issubclass(METHODS[setup], NegCLIP) and not _has_swap_attributes(dataset):
        return [f"loss.name: {setup!r} takes its hard negatives from the data's swap_attributes, which "
                f"{dataset!r} has not; use data.name: {_either(_datasets_for(setup))}"]
    return []


def _either(names: list[str]) -> str:
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def _has_swap_attributes(dataset: str) -> bool:
    return hasattr(typing.get_type_hints(DATASETS[dataset])["return"], "swap_attributes")


def _datasets_for(setup: str) -> list[str]:
    """The datasets a set-up trains on, by the rules of ``_pairing_problems``."""
    return [d for d in sorted(DATASETS) if is_paired(d) == METHODS[setup].paired
            and (not issubclass(METHODS[setup], NegCLIP) or _has_swap_attributes(d))]


def _dataset_size(name: str, knobs: dict, cache: dict) -> tuple[int | None, str | None]:
    """Build the dataset once per setting (cheap toy data) to learn its size and let its generator
    check its own knobs (n >= n_classes, imbalance >= 1, ...). Returns (size, problem)."""
    fixed = {k: v for k, v in knobs.items() if k != "seed"}
    key = json.dumps([name, fixed], sort_keys=True)
    if key not in cache:
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in fixed.items()}
        try:
            cache[key] = (len(DATASETS[name](**args, seed=knobs.get("seed") or 0)), None)
        except (ValueError, TypeError, OSError) as error:  # OSError: a data file that is missing
            given = ", ".join(f"{k}={v!r}" for k, v in fixed.items() if v != DATA_OPTIONS[name][k].default)
            cache[key] = (None, f"data: {name}({given}) cannot be built: {error}")
    return cache[key]


def _absolute_paths(options: dict) -> dict:
    """A dataset read from files (``data.reads_files``, e.g. ``arrays``): each option naming a data file
    (x: features.npy) becomes its absolute path, read from the folder the sweep is started in, so that
    the workers and a resumed sweep read the same file. The run id holds the path, not the content."""
    return {k: str(Path(v).expanduser().resolve()) if isinstance(v, str) and Path(v).suffix.lower() in ARRAY_SUFFIXES
            else v for k, v in options.items()}


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b or (is_number(a) and is_number(b) and a == b)


def _with_axes(section: dict, name: str, axes: list) -> dict:
    """A resolved section for config.yaml: the first grid point's values, swept options shown as their lists."""
    out = dict(section)
    for key, values in axes:
        s, _, option = key.partition(".")
        if s == name:
            out[option] = values
    return out
