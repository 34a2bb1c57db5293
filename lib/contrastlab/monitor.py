r"""``HealthMonitor``: cheap collapse and loss checks for any training loop, with a tidy history.

    monitor = HealthMonitor(loss="simsiam", every=10)
    for step, batch in enumerate(loader):
        z1, z2 = model(view1), model(view2)
        loss = criterion(z1, z2)
        ...
        monitor.update(step, z1, z2, loss=loss)   # every 10th step: a few ms; warns once per cause
    monitor.frame      # tidy pandas DataFrame, one row per check
    monitor.findings   # the first Finding of each cause raised

Every ``every`` steps it computes the batch's statistics (``contrastlab.diagnosis.batch_statistics``:
std·√d, anisotropy, effective rank, the directions that hold 90% of the variance, the alignment of
z1 with z2) and judges them with the same rules as ``contrastlab.diagnose`` (``diagnosis.judge``:
complete and dimensional collapse; anisotropy, duplicates and the kNN rules are left to the full
diagnosis). It adds the causes only a training loop has, read from
``contrastlab.losses.reference_values`` for this batch size, dimension and τ:

==================  ================================================================================
cause               raised when
==================  ================================================================================
collapsed_loss      the loss is within ``LOSS_TOLERANCE`` of the chance-to-floor range of its value
                    for a collapsed batch (SimSiam −1, NT-Xent log(2N−1)).
chance_loss         after ``warmup`` steps, the loss is still within that tolerance of its chance
                    value (random embeddings: where training starts): it is not learning.
floor_loss          the loss is within that tolerance of its floor (perfect alignment, uniform
                    negatives): this batch size and τ leave nothing to learn; try a larger batch or a
                    smaller τ.
temperature_pinned  a learnable τ sits within ``TEMPERATURE_TOLERANCE`` (1%) of a bound of
                    ``temperature_range`` (CLIP's clamp τ ≥ 1/100).
==================  ================================================================================

A cause is raised when it holds at ``patience`` checks in a row (default 2), and only once per
monitor: a ``HealthWarning`` (``warn=True``) and an entry in ``findings``. When the collapsed and the
chance values coincide (NT-Xent at large τ), or the collapsed value is the floor (SimSiam), the
loss is named by the closer one and the message says both. ``fit(monitor=...)`` and the training
dashboard use this same class, so their warnings and yours are one implementation.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from . import losses as L
from . import validation as check
from .diagnosis import Finding, batch_statistics, judge

__all__ = ["HealthMonitor", "HealthWarning", "LOSS_TOLERANCE", "TEMPERATURE_TOLERANCE", "MONITOR_CAUSES"]

LOSS_TOLERANCE = 0.01
"""A loss within this share of |chance − floor| (or of |chance − collapsed|) of a reference value is at it."""
TEMPERATURE_TOLERANCE = 0.01
"""τ within this relative distance of a bound of ``temperature_range`` is pinned there."""
MONITOR_CAUSES = ("complete_collapse", "dimensional_collapse", "collapsed_loss", "chance_loss", "floor_loss",
                  "temperature_pinned")
"""The causes a ``HealthMonitor`` checks, in the order it checks them."""


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError) as error:
        raise TypeError(f"loss must be a number or a one-element tensor, got {type(value).__name__}") from error


# The losses (and aliases) whose reference values take τ; the others' take none (or, SigLIP, a scale).
_TEMPERED = ("nt_xent", "simclr", "info_nce", "decoupled_nt_xent", "dcl", "supcon", "clip_loss", "clip")


class HealthWarning(UserWarning):
    """A ``HealthMonitor`` finding: the run is collapsing, stuck or saturated (the message says which)."""


def _loss_name(loss: object) -> str | None:
    if loss is None:
        return None
    name = getattr(loss, "__name__", loss)
    if not isinstance(name, str):
        raise TypeError(f"loss must be a loss name such as 'nt_xent' or 'simsiam', a loss function or None, "
                        f"got {type(loss).__name__}")
    L.reference_values(name, batch_size=4)  # unknown names fail here, listing the known ones
    return name


class HealthMonitor:
    """Cheap health checks of a training loop (see the module docstring for the causes).

    Args:
        every: check every ``every``-th step (step % every == 0); the other calls return at once.
        loss: the loss being optimised, by name (``"nt_xent"``, ``"simclr"``, ``"simsiam"``,
            ``"info_nce"``, ``"clip_loss"``, ...: ``losses.reference_values``' names) or function;
            None skips the loss causes.
        temperature: τ of the loss, for its reference values (None: the loss's default, or the τ
            passed to ``update``).
        temperature_range: (low, high) bounds of a learnable τ (either may be None); CLIP's clamp of
            the logit scale at 100 is (0.01, None).
        warmup: steps before ``chance_loss`` may be raised (training starts at chance).
        patience: consecutive checks a cause must hold before it is raised.
        warn: issue a ``HealthWarning`` per cause (False: only record it, e.g. for a dashboard).
        max_rows: the rows of a batch the checks use (the first ``max_rows``): the cost stays O(max_rows · D²).
    """

    def __init__(self, *, every: int = 10, loss: str | Callable | None = None, temperature: float | None = None,
                 temperature_range: tuple[float | None, float | None] | None = None, warmup: int = 50,
                 patience: int = 2, warn: bool = True, max_rows: int = 1024):
        self.every = check.integer("every", every, 1)
        self.loss = _loss_name(loss)
        self.temperature = None if temperature is None else float(check.positive_number("temperature", temperature))
        if temperature_range is not None:
            if not isinstance(temperature_range, (tuple, list)) or len(temperature_range) != 2:
                raise TypeError(f"temperature_range must be a pair (low, high) of numbers or None, got "
                                f"{temperature_range!r}")
            temperature_range = tuple(None if v is None else float(check.positive_number("temperature_range", v))
                                      for v in temperature_range)
        self.temperature_range = temperature_range
        self.warmup = check.integer("warmup", warmup, 0)
        self.patience = check.integer("patience", patience, 1)
        self.warn = check.boolean("warn", warn)
        self.max_rows = check.integer("max_rows", max_rows, 2)
        self.records: list[dict] = []
        self.findings: list[Finding] = []
        self.listeners: list[Callable[["HealthMonitor", dict], None]] = []
        self._streak: dict[str, int] = {}
        self._references: dict = {}

    # -- the history ---------------------------------------------------------------------------
    @property
    def frame(self):
        """The checks as a tidy pandas DataFrame: step, loss, spread (std·√d), anisotropy, erank,
        directions_90, alignment, temperature, the reference values of the loss, and ``raised``
        (the causes first raised at that check)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.records)

    @property
    def causes(self) -> list[str]:
        """The causes raised so far, in the order they were raised."""
        return [f.cause for f in self.findings]

    def reset(self) -> None:
        """Forget the history and the raised causes (a new run)."""
        self.records.clear()
        self.findings.clear()
        self._streak.clear()

    # -- the checks ----------------------------------------------------------------------------
    def _reference(self, batch_size: int, dim: int, temperature: float | None):
        key = (batch_size, dim, temperature)
        if key not in self._references:
            params = {}
            if temperature is not None and self.loss in _TEMPERED:
                params = {"temperature": temperature}
            elif temperature is not None and self.loss in ("siglip_loss", "siglip"):
                params = {"logit_scale": 1 / temperature}  # SigLIP's references take its scale
            self._references[key] = L.reference_values(self.loss, batch_size=batch_size, dim=dim, **params)
        return self._references[key]

    def _loss_findings(self, step: int, value: float, ref) -> list[Finding]:
        collapsed, chance, floor = ref.collapsed, ref.chance, ref.floor
        known = [v for v in (chance, floor, collapsed) if v is not None]
        if len(known) < 2:
            return []
        scale = max(abs(a - b) for a in known for b in known)
        tol = LOSS_TOLERANCE * scale if scale > 0 else 1e-6
        near = {name: abs(value - v) for name, v in (("collapsed", collapsed), ("chance", chance), ("floor", floor))
                if v is not None and abs(value - v) <= tol}
        if not near:
            return []
        which = min(near, key=near.get)
        also = [n for n in near if n != which]
        both = f" (also its {' and '.join(also)} value)" if also else ""
        where = ref.setting
        if which == "collapsed":
            return [Finding("collapsed_loss", f"loss at its collapsed value: {value:.4g} vs {collapsed:.4g} "
                                              f"({ref.collapsed_formula}; {where}){both}, within {tol:.2g} "
                                              f"({LOSS_TOLERANCE:.0%} of its range): every embedding may be the same",
                            value, collapsed)]
        if which == "chance" and step >= self.warmup:
            return [Finding("chance_loss", f"loss at chance level after {step} steps: {value:.4g} vs {chance:.4g} "
                                           f"for random embeddings ({where}){both}, within {tol:.2g}: not learning "
                                           f"(check the learning rate, the views and that the loss has gradients)",
                            value, chance)]
        if which == "floor":
            return [Finding("floor_loss", f"loss at its floor: {value:.4g} vs {floor:.4g} ({ref.floor_formula}; "
                                          f"{where}){both}, within {tol:.2g}: this batch size and τ leave nothing "
                                          f"to learn; try a larger batch or a smaller τ", value, floor)]
        return []

    def _temperature_findings(self, temperature: float | None) -> list[Finding]:
        if temperature is None or self.temperature_range is None:
            return []
        low, high = self.temperature_range
        for bound, side in ((low, "lower"), (high, "upper")):
            if bound is not None and abs(temperature - bound) <= TEMPERATURE_TOLERANCE * bound:
                return [Finding("temperature_pinned", f"temperature pinned at its {side} bound: "
                                                      f"τ = {temperature:.4g}, "
                                                      f"the clamp is {bound:.4g} (within {TEMPERATURE_TOLERANCE:.0%}): "
                                                      f"the learnable τ wants to go further; its gradient is lost",
                                temperature, bound)]
        return []

    @torch.no_grad()
    def update(self, step: int, z1: Tensor, z2: Tensor | None = None, loss: float | Tensor | None = None, *,
               temperature: float | None = None) -> list[Finding]:
        """Check the batch (z1 (B, D), its second view z2, the loss) if ``step`` is a check step.

        Returns the findings first raised at this call (each cause is raised once per monitor).
        ``temperature`` is the current τ of a learnable one (for ``temperature_pinned`` and the
        loss's reference values).
        """
        step = check.integer("step", step, 0)
        if step % self.every:
            return []
        z1 = check.embeddings("z1", z1.detach()[:self.max_rows] if isinstance(z1, Tensor) else z1)
        if z2 is not None:
            z2 = check.embeddings("z2", z2.detach()[:self.max_rows] if isinstance(z2, Tensor) else z2)
        if loss is not None:  # a NaN loss is recorded as it is (fit reports the divergence)
            if isinstance(loss, Tensor):
                loss = loss.detach().reshape(-1)[0] if loss.numel() == 1 else loss
            loss = float(check.number("loss", float(loss), low=-math.inf)) if _finite(loss) else float(loss)
        tau = self.temperature if temperature is None else float(check.positive_number("temperature", temperature))
        stats = batch_statistics(z1, z2)
        record = {"step": step, "loss": math.nan if loss is None else loss, "spread": stats["spread"],
                  "anisotropy": stats["anisotropy"], "erank": stats["erank"],
                  "directions_90": stats["directions_90"], "alignment": stats.get("alignment", math.nan),
                  "temperature": math.nan if tau is None else tau}
        candidates = [f for f in judge(stats) if f.cause in MONITOR_CAUSES]
        if self.loss is not None and loss is not None and math.isfinite(loss):
            ref = self._reference(len(z1), z1.shape[1], tau)
            record.update({f"{k}_loss": v for k, v in ref.lines().items()})
            candidates += self._loss_findings(step, loss, ref)
        candidates += self._temperature_findings(tau)
        holding = {f.cause: f for f in candidates}
        for cause in list(self._streak):
            if cause not in holding:
                self._streak[cause] = 0
        raised = []
        already = set(self.causes)
        for cause, finding in holding.items():
            self._streak[cause] = self._streak.get(cause, 0) + 1
            if cause not in already and self._streak[cause] >= self.patience:
                finding = Finding(finding.cause, f"step {step}: {finding.message}", finding.value, finding.threshold)
                self.findings.append(finding)
                raised.append(finding)
                if self.warn:
                    warnings.warn(str(finding), HealthWarning, stacklevel=3)  # the caller, past no_grad
        record["raised"] = ", ".join(f.cause for f in raised)
        self.records.append(record)
        for listener in list(self.listeners):
            listener(self, record)
        return raised
