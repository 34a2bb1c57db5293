r"""The sweep config: its format (this docstring is the reference), reading it and ``--set`` overrides.

    contrastlab sweep examples/sweeps/temperature.yaml --set train.steps=100
    frame = contrastlab.sweep("examples/sweeps/temperature.yaml")   # the same, from Python

A config (a YAML file or a dict) has these sections; every option is checked before any run starts:

.. code-block:: yaml

    name: temperature               # default: the file's stem; the run folder is runs/<name>
    description: Does a smaller τ make the embedding more uniform?   # shown in the report
    out: runs/temperature           # optional: the run folder
    data:  {name: vmf_mixture, n: 2000, n_classes: 10}     # a contrastlab.data.DATASETS key + its knobs
    model: {out_dim: 32, feature_dim: 64, hidden: 128}     # the default encoder (build_method)
    loss:  {name: simclr, temperature: [0.05, 0.1, 0.5]}   # a contrastlab.methods.METHODS key + its options
    train: {steps: 300, batch_size: 256, lr: 0.001, weight_decay: 1.0e-5, schedule: cosine,
            eval_every: 50, eval_size: 1024, device: cpu}  # fit's arguments; device: cpu|cuda|mps|auto
    metrics: [alignment, uniformity, knn]                  # contrastlab.metrics.METRICS keys
    seeds: 3                                               # 0, 1, 2; or a list [0, 5, 7]
    grid: {"data.n_classes": [2, 10]}                      # more swept options, as dotted keys

The choices are the package's registries, nothing else: ``data.name`` is a key of
``contrastlab.data.DATASETS``, ``loss.name`` one of ``contrastlab.methods.METHODS`` and ``metrics``
names from ``contrastlab.metrics.METRICS`` (default ``DEFAULT_METRICS``). The options of each are
read from the signatures: the generator's keywords, the set-up's ``__init__``, ``build_method``'s
encoder sizes and ``fit``'s arguments, with the kinds their annotations name. A two-tower set-up
(``clip``, ``negclip``) needs a paired dataset (``contrastlab.data.is_paired``) and the others an
unpaired one; ``negclip`` takes its hard negatives from the data's ``swap_attributes``
(``compositional_pairs``).

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
``loss.name`` are required, and so is any option without a default (``ce``'s ``n_classes``).
``train.device: auto`` picks cuda, then mps, then cpu when the sweep is planned, and the run ids
include the device chosen.

**What a config does not set.** The sweep sets some arguments itself: the dataset's ``device``
(from ``train.device``), and ``fit``'s ``data``, ``method``, ``metrics``, ``seed`` (the run's seed),
``device``, ``progress`` and ``threads`` (one per run). Arguments whose type YAML cannot write are left to their defaults or to
``build_method``, and setting one is an error that says so: the encoders (``encoder``,
``encoder_b``: ``build_method`` makes them from ``model:``), ``negclip``'s ``negatives`` (the data's
``swap_attributes``), ``correlated_gaussians``' ``dtype`` (float32) and ``fit``'s ``sampler`` and
``callbacks``.

**Run ids.** Each run is one grid point and one seed; its id is a hash of its resolved config (every
option, defaults included), so extending a grid reuses the runs already done, and writing a default
out, or 1 for 1.0, changes nothing. What the sweep writes in the run folder, how it runs and resumes:
``contrastlab.sweeps.run``; the intervals, tables and report: ``contrastlab.sweeps.report``.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Iterable, Mapping

__all__ = ["load_config", "apply_overrides", "overrides_applied", "as_config", "SweepConfigError", "SECTIONS",
           "OPTION_SECTIONS", "DEFAULT_SEEDS", "is_number", "did_you_mean"]

SECTIONS = ("name", "description", "out", "data", "model", "loss", "train", "metrics", "seeds", "grid")
OPTION_SECTIONS = ("data", "model", "loss", "train")  # the sections of options, and of dotted grid keys
DEFAULT_SEEDS = 3


class SweepConfigError(ValueError):
    """An invalid sweep config; ``problems`` lists every problem found, one line each."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid sweep config ({len(self.problems)} problem"
                         f"{'s' if len(self.problems) != 1 else ''}):\n{lines}")


def is_number(value: object) -> bool:
    """An int or a float, not a bool (YAML's true is no number)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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


def as_config(config: Mapping | str | Path) -> dict:
    """A config given as a dict or a YAML path, as a deep copy in plain types (the input is never modified)."""
    if isinstance(config, (str, Path)):
        return load_config(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dict or the path of a YAML file, got {type(config).__name__}")
    return json.loads(json.dumps(config, default=list))


def apply_overrides(config: Mapping, overrides: Iterable[str]) -> dict:
    """A copy of ``config`` with ``"section.option=value"`` overrides, each value read as YAML.

    ``loss.temperature=0.2`` sets an option (and drops ``grid["loss.temperature"]``: the override
    wins); ``loss.temperature=[0.1,0.2]`` sweeps it; ``seeds=5``, ``name=x`` set top-level keys;
    ``grid.data.n=[500,1000]`` adds a grid axis. Raises ``SweepConfigError`` listing every bad override;
    ``sweep``, ``validate`` and ``expand`` take ``overrides`` too and report them with the config's own problems.
    """
    config, problems = overrides_applied(config, overrides)
    if problems:
        raise SweepConfigError(problems)
    return config


def overrides_applied(config: Mapping, overrides: Iterable[str]) -> tuple[dict, list[str]]:
    """(a copy of ``config`` with the overrides that can be applied, the problems of the others): what
    ``apply_overrides`` does without raising, so that a plan can report them with the config's problems."""
    import yaml

    config, problems = as_config(config), []
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
            problems.append(f"--set {key}: unknown section {section!r}{did_you_mean(section, SECTIONS)}")
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
    return config, problems
