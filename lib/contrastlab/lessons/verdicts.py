r"""The verdict standard of the lessons: a decision rule written before the runs, judged on an
interval over seeds, against a baseline the trained model must beat.

A notebook states its rule in a cell *before* the experiment::

    rule = verdicts.Rule(
        "03_temperature:uniformity",
        claim="a smaller τ makes the embedding more uniform (Wang & Liu 2021)",
        effect="uniformity at τ = 0.1 minus at τ = 1.0",
        direction=-1,                                    # the paper predicts a negative effect
        baseline="kNN accuracy of the raw inputs")
    print(rule)                                          # the rule, printed before any run

and after the runs hands it one number per seed::

    print(rule.judge(effect_per_seed, seeds=seeds, model=knn_trained, reference=knn_raw))

The outcome is computed, never written in advance:

- **agrees**: the 95% Student-t interval of the mean effect (``contrastlab.stats``) lies entirely on
  the paper's side of ``margin`` (0 unless the rule says otherwise), *and* the trained model beats
  its baseline (the interval of model − baseline lies above 0; with one seed, its value does);
- **disagrees**: the interval lies entirely on the other side of 0;
- **inconclusive**: the interval contains the margin or 0 (or there is one seed only);
- **not tested**: the trained model does not beat its baseline: the toy is too easy or the run too
  short, so the experiment cannot speak for the paper, whatever the effect.

Fast mode (CI's small sizes) is a smoke run: its verdict is printed as such and, beside it, the
full-mode result recorded in ``recorded_verdicts.json`` (numbers, seeds, date, run by
``python tools/record_verdicts.py``, which runs each notebook in full mode with
``CONTRASTLAB_RECORD_VERDICTS`` set so that every ``judge`` call appends its result).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..stats import Interval, mean_interval, paired
from .setup import fast_mode

__all__ = ["OUTCOMES", "RECORD_ENV", "RECORDED", "Rule", "Verdict", "classify", "recorded"]

#: The environment variable naming a JSON-lines file that every full-mode ``judge`` appends to.
RECORD_ENV = "CONTRASTLAB_RECORD_VERDICTS"
#: The full-mode verdicts of record, written by tools/record_verdicts.py.
RECORDED = Path(__file__).with_name("recorded_verdicts.json")
OUTCOMES = ("agrees", "disagrees", "inconclusive", "not tested")
FULL_MODE_MIN_SEEDS = 3


def classify(effect: Interval, direction: int, margin: float = 0.0, baseline_beaten: bool | None = None,
             threshold: float = 0.0) -> str:
    """The outcome of a rule for an effect interval (see the module docstring): one of ``OUTCOMES``.

    "No effect" is ``threshold`` (0 unless the rule says otherwise, e.g. a tolerance of 0.1 on a
    relative error); the paper's side starts ``margin`` beyond it. ``baseline_beaten`` None means the
    rule has no baseline."""
    if baseline_beaten is False:
        return "not tested"
    if effect.n < 2:
        return "inconclusive"
    if (effect.low > threshold + margin) if direction > 0 else (effect.high < threshold - margin):
        return "agrees"
    if (direction > 0 and effect.high < threshold) or (direction < 0 and effect.low > threshold):
        return "disagrees"
    return "inconclusive"


@dataclass(frozen=True)
class Rule:
    """A decision rule, fixed before the runs.

    Args:
        id: ``"<notebook stem>:<name>"``, unique in the kit (the key of its recorded full-mode result).
        claim: the paper's claim in words, with its source.
        effect: what one seed's number measures, e.g. "kNN accuracy, debiased minus plain".
        direction: +1 when the paper predicts a positive effect, -1 a negative one.
        margin: the smallest effect, in the paper's direction, that counts (>= 0; default 0).
        threshold: the value of "no effect" (default 0): e.g. 0.1 for "the relative error stays
            below 10%" (direction -1). Agrees beyond threshold + margin on the paper's side.
        baseline: what the trained model must beat, in words (None: the rule has no baseline).
        unit: printed after numbers ("" by default).
    """

    id: str
    claim: str
    effect: str
    direction: int
    margin: float = 0.0
    baseline: str | None = None
    threshold: float = 0.0
    unit: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or ":" not in self.id:
            raise ValueError(f"id: got {self.id!r}, expected '<notebook stem>:<name>' such as '03_temperature:uniformity'")
        if self.direction not in (1, -1) or isinstance(self.direction, bool):
            raise ValueError(f"direction: got {self.direction!r}, expected +1 (the paper predicts a positive "
                             "effect) or -1 (a negative one)")
        if not isinstance(self.margin, (int, float)) or not math.isfinite(self.margin) or self.margin < 0:
            raise ValueError(f"margin: got {self.margin!r}, expected a finite number >= 0")
        if not isinstance(self.threshold, (int, float)) or not math.isfinite(self.threshold):
            raise ValueError(f"threshold: got {self.threshold!r}, expected a finite number (the value of no effect)")

    def __str__(self) -> str:
        bound = self.threshold + self.direction * self.margin
        side = f"{'above' if self.direction > 0 else 'below'} {bound if bound else 0:g}"
        text = (f"Decision rule ({self.id}, fixed before the runs): the claim — {self.claim}.\n"
                f"  Effect per seed: {self.effect}. Agrees when its 95% interval over seeds lies entirely "
                f"{side}")
        if self.baseline:
            text += f" and the trained model beats {self.baseline} (model − baseline interval above 0)"
        return text + (f"; disagrees when the interval lies entirely on the other side of {self.threshold:g}; "
                       "otherwise inconclusive.")

    def judge(self, effects: Iterable[float], *, seeds: Sequence[int] | None = None,
              model: Iterable[float] | None = None, reference: Iterable[float] | None = None,
              fast: bool | None = None, detail: str = "") -> "Verdict":
        """Judge the rule on one effect per seed.

        Args:
            effects: (n,) the effect on each seed.
            seeds: the n seeds, in the same order (default 0..n-1), printed with the verdict.
            model, reference: (n,) the trained model's score and its baseline's on the same seeds
                (both or neither; required when the rule names a baseline).
            fast: None reads ``CONTRASTLAB_FAST``; fast mode marks the verdict a smoke run.
            detail: one more line printed under the verdict (a computed f-string).
        Returns: a ``Verdict``; in full mode with ``CONTRASTLAB_RECORD_VERDICTS`` set it is also
            appended to that file.
        """
        effects = [float(e) for e in effects]
        effect = mean_interval(effects)
        seeds = list(range(len(effects))) if seeds is None else [int(s) for s in seeds]
        if len(seeds) != len(effects):
            raise ValueError(f"seeds: got {len(seeds)} seeds for {len(effects)} effects, expected one per effect")
        if (model is None) != (reference is None):
            raise ValueError("model, reference: give both (the model's and its baseline's score per seed) or neither")
        if self.baseline and model is None:
            raise ValueError(f"model, reference: the rule names a baseline ({self.baseline}); pass the trained "
                             "model's and the baseline's score per seed")
        gap = None
        if model is not None:
            diffs = paired(model, reference)
            if len(diffs) != len(effects):
                raise ValueError(f"model, reference: got {len(diffs)} values, expected one per seed ({len(effects)})")
            gap = mean_interval(diffs)
        beaten = None if gap is None else (gap.low > 0 if gap.n >= 2 else gap.mean > 0)
        fast = fast_mode() if fast is None else bool(fast)
        verdict = Verdict(rule=self, effect=effect, seeds=seeds, per_seed=effects, baseline_gap=gap,
                          baseline_beaten=beaten,
                          outcome=classify(effect, self.direction, self.margin, beaten, self.threshold),
                          fast=fast, detail=detail)
        if not fast and os.environ.get(RECORD_ENV):
            with open(os.environ[RECORD_ENV], "a", encoding="utf-8") as out:
                out.write(json.dumps(verdict.record()) + "\n")
        return verdict


@dataclass(frozen=True)
class Verdict:
    """A rule's outcome on measured effects; ``print`` it."""

    rule: Rule
    effect: Interval
    seeds: list[int]
    per_seed: list[float]
    baseline_gap: Interval | None
    baseline_beaten: bool | None
    outcome: str
    fast: bool = False
    detail: str = ""
    date: str = field(default_factory=lambda: _dt.date.today().isoformat())

    @property
    def agrees(self) -> bool:
        return self.outcome == "agrees"

    def record(self) -> dict:
        """The JSON-able record of a full-mode verdict (what recorded_verdicts.json keeps)."""
        from .. import __version__

        out = {"id": self.rule.id, "outcome": self.outcome, "direction": self.rule.direction,
               "margin": self.rule.margin, "threshold": self.rule.threshold, "effect": asdict(self.effect), "seeds": self.seeds,
               "per_seed": self.per_seed, "baseline_beaten": self.baseline_beaten,
               "baseline_gap": None if self.baseline_gap is None else asdict(self.baseline_gap),
               "date": self.date, "version": __version__}
        return out

    def _lines(self) -> list[str]:
        rule, unit = self.rule, self.rule.unit
        seeds = ", ".join(str(s) for s in self.seeds)
        sign = f"{'>' if rule.direction > 0 else '<'} {rule.threshold:g}"
        lines = [f"  effect: {rule.effect} = {self.effect}{unit} (95% interval over {self.effect.n} "
                 f"seed{'s' if self.effect.n != 1 else ''}: {seeds}); the claim predicts {sign}",
                 "  per seed: " + ", ".join(f"{v:+.4g}" for v in self.per_seed)]
        if self.baseline_gap is not None:
            state = "beaten" if self.baseline_beaten else "NOT beaten: the toy is too easy or the run too short"
            lines.append(f"  baseline: model − {rule.baseline or 'baseline'} = {self.baseline_gap}: {state}")
        if self.detail:
            lines.append("  " + self.detail)
        return lines

    def __str__(self) -> str:
        head = f"Verdict: {self.outcome} — {self.rule.claim}"
        if self.fast:
            head = (f"Verdict: {self.outcome} in a fast-mode smoke run (small sizes: the verdict of record is "
                    "the full-mode one below)")
        lines = [head, *self._lines()]
        if self.fast:
            lines.append(recorded_text(self.rule.id))
        return "\n".join(lines)


def recorded(rule_id: str) -> dict | None:
    """The recorded full-mode result of a rule, or None when there is none."""
    if not RECORDED.exists():
        return None
    return json.loads(RECORDED.read_text(encoding="utf-8")).get("verdicts", {}).get(rule_id)


def recorded_text(rule_id: str) -> str:
    """One printed line: the recorded full-mode verdict of ``rule_id`` (or that there is none yet)."""
    rec = recorded(rule_id)
    if rec is None:
        return (f"  Full mode: no recorded full-mode result for {rule_id} yet "
                "(run `python tools/record_verdicts.py`).")
    e = Interval(**rec["effect"])
    seeds = rec["seeds"]
    seed_text = f"{seeds[0]}–{seeds[-1]}" if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2 \
        else ", ".join(map(str, seeds))
    base = ""
    if rec.get("baseline_gap"):
        base = f"; model − baseline {Interval(**rec['baseline_gap'])}"
    return (f"  Recorded full mode ({rec['date']}, seeds {seed_text}, contrastlab {rec['version']}): "
            f"{rec['outcome']} — effect {e}{base}")
