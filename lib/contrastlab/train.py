"""``fit``: a short training loop with live metrics, for any set-up in ``contrastlab.methods``.

    history = fit(vmf_mixture(), "simclr", steps=300, temperature=0.2)
    history.frame            # tidy pandas DataFrame: one row per evaluation
    history.method.encoder   # the trained encoder

Every ``eval_every`` steps it embeds a fixed evaluation subset and records the loss, alignment,
uniformity, effective rank, collapse std and kNN accuracy; callbacks receive each record as it is
made (the widgets draw from them). Ctrl-C or a callback returning True stops the run and keeps the
history so far.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from . import metrics as M
from . import validation as check
from .data.base import ToyData
from .methods import CLIP, METHODS, Method, SimCLR, SimSiam, build_method
from .monitor import HealthMonitor
from .runtime import check_threads, training_threads

DEFAULT_METRICS = M.DEFAULT_METRICS


OPTIMIZERS = {
    "adamw": torch.optim.AdamW,
    "sgd": lambda groups, **kwargs: torch.optim.SGD(groups, momentum=0.9, **kwargs),
}


class _Diverged(Exception):
    """Raised inside the loop when the loss or the weights stop being finite; ``fit`` catches it."""


class StopTraining(Exception):
    """Raise from a callback (or return True) to end ``fit`` early; the history is kept."""


@dataclass
class FitState:
    """What a callback sees after each evaluation: the record, the set-up and the evaluation embeddings."""

    step: int
    record: dict
    method: Method
    projections: Tensor  # (E, D) embeddings the loss sees, of the evaluation subset (first view)
    labels: Tensor  # (E,)
    history: "History"


@dataclass
class History:
    """The records of a run (one dict per evaluation) and the trained set-up."""

    records: list[dict] = field(default_factory=list)
    method: Method | None = None
    config: dict = field(default_factory=dict)
    interrupted: bool = False
    diverged: bool = False  # the run stopped because the loss or the weights stopped being finite
    monitor: HealthMonitor | None = None  # fit(monitor=...): its checks of the training batches

    @property
    def frame(self):
        """The records as a tidy pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame.from_records(self.records)

    @property
    def encoder(self):
        return None if self.method is None else self.method.encoder

    def last(self) -> dict:
        return self.records[-1] if self.records else {}

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, column: str) -> list:
        return [r.get(column, math.nan) for r in self.records]


def _batches(n: int, batch_size: int, generator: torch.Generator, sampler: Iterable | None):
    """Endless batches of indices: reshuffled epochs (drop_last), or the batch sampler's batches."""
    while True:
        if sampler is not None:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            yield from (torch.as_tensor(b) for b in sampler)
            continue
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


@torch.no_grad()
def evaluate(method: Method, data: ToyData, idx: Tensor, generator: torch.Generator,
             metrics: Iterable[str] = DEFAULT_METRICS) -> tuple[dict, Tensor]:
    """Metrics of the current model on the samples ``idx``: geometry on the projections of two fresh
    views (what the loss sees), kNN accuracy (leave-one-out) on the backbone features of clean inputs."""
    was_training = method.training
    method.eval()
    labels = data.labels[idx]
    if method.paired:
        a, b = data.views(idx, generator=generator)
        z1, z2 = method.project(a), method.project_b(b)
        features = method.features(data.x[idx])
    else:
        views = data.views(idx, n_views=2, generator=generator)
        z1, z2 = method.project(views[:, 0]), method.project(views[:, 1])
        features = method.features(data.x[idx])
    evaluation = M.Evaluation(z1=z1, z2=z2, features=features, labels=labels)
    record = {name: M.METRICS[name](evaluation) for name in metrics}
    method.train(was_training)
    return record, z1


@torch.no_grad()
def refresh_batchnorm(method: Method, data: ToyData, idx: Tensor) -> None:
    """Set every BatchNorm's running statistics to those of the samples ``idx`` (one pass in train mode).

    A fresh network evaluated in eval mode would otherwise normalise with the default statistics
    (mean 0, variance 1), which makes the untrained embedding look collapsed; this gives the step-0
    evaluation the statistics training would give it. Weights are not touched, and neither are the
    BatchNorms that the set-up keeps in eval mode while training (a locked tower's).
    """
    was_training = method.training
    method.train()  # a set-up may keep parts in eval mode (a locked tower): their statistics stay
    norms = [m for m in method.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training]
    if not norms:
        method.train(was_training)
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the pass
    method.project(data.x[idx])
    if method.paired:
        method.project_b(data.b[idx])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    method.train(was_training)


def fit(data: ToyData, method: str | Method = "simclr", *, steps: int = 300, batch_size: int = 256,
        lr: float = 1e-3, weight_decay: float = 1e-5, schedule: str = "cosine", optimizer: str = "adamw",
        eval_every: int = 25,
        eval_size: int = 1024, metrics: Iterable[str] = DEFAULT_METRICS, seed: int = 0,
        device: torch.device | str | None = None, sampler: Iterable | None = None,
        callbacks: Iterable[Callable[[FitState], bool | None]] = (), progress: bool = True,
        threads: int | None = None, monitor: HealthMonitor | bool | None = None, **method_options) -> History:
    """Train a set-up on a toy dataset for ``steps`` steps and return its ``History``.

    Args:
        data: a ``ToyData`` (``contrastlab.data``).
        method: a name from ``contrastlab.methods.METHODS`` ("simclr", "infonce", "supcon", "moco",
            "clip", "simsiam", "byol", "barlow", "vicreg", ...) or a ready ``Method``.
        steps, batch_size, lr, weight_decay: the optimisation; ``schedule`` "cosine" or "constant".
        optimizer: "adamw" (default) or "sgd" (momentum 0.9, as most papers' large-batch recipes use
            before LARS: Adam's per-parameter scaling hides effects that act on gradient size).
        eval_every, eval_size, metrics: how often and on how many samples to evaluate (0 = only at the end).
        seed: seeds the model's initialisation (when ``method`` is a name), the batches and the views:
            same seed, same history on CPU. A ready ``Method`` keeps the weights it was built with, so
            seed it yourself before building it (``torch.manual_seed``).
        device: defaults to the data's device; the data is moved there.
        sampler: an optional batch sampler (e.g. ``samplers.MPerClassSampler``) yielding index lists.
        callbacks: called as ``callback(state)`` after each evaluation; return True to stop.
        progress: show a ``tqdm`` progress bar.
        threads: torch threads for the run. None applies the kit's policy (``contrastlab.runtime``): one
            thread on the CPU, where the tiny models gain under 10% from a second thread on an idle
            machine and slow down many times over on a busy one; untouched on CUDA/MPS. An int >= 1
            overrides it. The caller's thread count is restored when ``fit`` returns (also on an
            error or Ctrl-C).
        monitor: None (no checks), True (a ``HealthMonitor`` that warns) or your ``HealthMonitor``: it
            checks the training batch every ``monitor.every`` steps for collapse, a loss at its collapsed,
            chance or floor value and a τ pinned at its clamp (``contrastlab.monitor``), warning once per
            cause; fit tells it the set-up's loss and τ where it does not know them. ``history.monitor``.
        **method_options: passed to the set-up (``temperature=0.2``, ``stop_gradient=False``, ...) or to
            the default encoder (``out_dim``, ``feature_dim``, ``hidden``).
    """
    check.instance("data", data, ToyData, "a ToyData (a dataset from contrastlab.data, e.g. data.vmf_mixture())")
    if not isinstance(method, str):
        check.instance("method", method, Method, "a set-up name from contrastlab.methods.METHODS or a Method")
    _check_modalities(data, method)
    steps = check.integer("steps", steps, 1)
    batch_size = check.integer("batch_size", batch_size, 2, len(data))  # at most the dataset size
    lr = float(check.number("lr", lr, low=0.0))  # 0 trains nothing: a frozen baseline with the same history
    weight_decay = float(check.number("weight_decay", weight_decay, low=0.0))
    check.choice("schedule", schedule, ("cosine", "constant"))
    check.choice("optimizer", optimizer, tuple(OPTIMIZERS))
    eval_every = check.integer("eval_every", eval_every, 0)  # 0: only at the end
    eval_size = check.integer("eval_size", eval_size, 2)  # kNN accuracy leaves one out: two samples at least
    seed = check.seed("seed", seed)
    check.boolean("progress", progress)
    metrics = _metric_names(metrics)
    callbacks = list(check.instance("callbacks", callbacks, (list, tuple), "a list of functions"))
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}] must be a function of the FitState, got {type(callback).__name__}")
    check_threads(threads)
    if monitor is True:
        monitor = HealthMonitor()
    monitor = check.instance("monitor", monitor if monitor is not False else None, HealthMonitor,
                             "a contrastlab.HealthMonitor or True", optional=True)
    device = _device(device) if device is not None else data.device
    with training_threads(device, threads):
        return _train(data, method, device, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                      schedule=schedule, optimizer=optimizer, eval_every=eval_every, eval_size=eval_size,
                      metrics=metrics, seed=seed, sampler=sampler, callbacks=callbacks, progress=progress,
                      monitor=monitor, method_options=method_options)


def _check_modalities(data: ToyData, method: object) -> None:
    """A one-modality set-up on paired data (two towers' inputs) is refused by name, before training:
    its loss would otherwise fail deep inside on the (a, b) pair of views. (A two-tower set-up on
    one-modality data is refused by ``build_method``.)"""
    cls = METHODS.get(method) if isinstance(method, str) else type(method)
    if cls is not None and hasattr(data, "b") and not cls.paired:
        two_tower = sorted(name for name, c in METHODS.items() if c.paired)
        raise ValueError(f"method {method if isinstance(method, str) else cls.__name__!r} trains on views of one "
                         f"modality, but data {data.name} is paired (two modalities): use a two-tower set-up "
                         f"({', '.join(two_tower)})")


def _metric_names(metrics: object) -> tuple[str, ...]:
    """The names, checked against ``metrics.METRICS`` (a did-you-mean for a typo)."""
    if isinstance(metrics, str) or not isinstance(metrics, Iterable):
        raise TypeError(f"metrics must be a list of names from contrastlab.metrics.METRICS, got "
                        f"{type(metrics).__name__} {metrics!r}")
    return tuple(check.choice("metrics", name, tuple(M.METRICS)) for name in metrics)


def _device(device: object) -> torch.device:
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a torch.device or a name such as 'cpu' or 'cuda', got {type(device).__name__}")
    try:
        return torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device must be a device name such as 'cpu', 'cuda' or 'mps', got {device!r}") from error


class DivergedWarning(UserWarning):
    """``fit`` stopped because the loss or the weights stopped being finite."""


def _diverged(step: int, loss: float | None, last_finite: float | None) -> str:
    what = (f"the loss became {loss}" if loss is not None else "the embeddings of a finite batch stopped being "
            "finite (an optimiser step took the weights too far)")
    before = f" (the last finite loss was {last_finite:.4g})" if last_finite is not None else ""
    return (f"fit: training diverged at step {step}: {what}{before}. It stopped there and returns the history "
            f"so far, with history.diverged = True. Try a smaller lr, a larger temperature or fewer steps.")


# The loss each set-up's batch loss equals, for the monitor's reference values (a set-up not listed
# gets the embedding checks only: its loss has another scale, a queue or extra terms).
MONITORED_LOSSES: dict[type, str] = {SimCLR: "nt_xent", SimSiam: "negative_cosine", CLIP: "clip_loss"}


def _configure_monitor(monitor: HealthMonitor, model: Method) -> None:
    """Tell the monitor the set-up's loss, its τ and the clamp of a learnable τ, where it does not know them."""
    if monitor.loss is None:
        monitor.loss = MONITORED_LOSSES.get(type(model))
    if isinstance(model, CLIP) and model.scale is not None and monitor.temperature_range is None:
        monitor.temperature_range = (1 / model.scale.max_scale, None)


def _train(data: ToyData, method: str | Method, device: torch.device, *, steps: int, batch_size: int, lr: float,
           weight_decay: float, schedule: str, optimizer: str, eval_every: int, eval_size: int,
           metrics: tuple[str, ...], seed: int, sampler: Iterable | None,
           callbacks: Iterable[Callable[[FitState], bool | None]], progress: bool, monitor: HealthMonitor | None,
           method_options: dict) -> History:
    """``fit`` after its arguments are checked, under the thread policy."""
    data = data.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(method, str):
            if method == "byol":
                method_options.setdefault("total_steps", steps)
            model = build_method(method, data, **method_options)
        else:
            if method_options:
                raise TypeError(f"options {sorted(method_options)} only apply when method is a name")
            model = method
    model.to(device).train()
    opt = OPTIMIZERS[optimizer](model.param_groups(lr, weight_decay), lr=lr, weight_decay=weight_decay)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if schedule == "cosine"
                 else torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0))

    batch_gen = torch.Generator().manual_seed(seed)
    view_gen = data.generator(seed + 1)
    eval_gen_seed = seed + 2
    eval_idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed + 3))[:eval_size].to(device)
    config = {f"data.{k}": v for k, v in data.knobs.items()}
    config.update(data=data.name, method=method if isinstance(method, str) else type(method).__name__,
                  steps=steps, batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed, **method_options)
    history = History(method=model, config=config, monitor=monitor)
    if monitor is not None:
        _configure_monitor(monitor, model)
    callbacks = list(callbacks)
    losses_since_eval: list[float] = []
    started = time.perf_counter()

    def record_eval(step: int) -> bool:
        loss = sum(losses_since_eval) / len(losses_since_eval) if losses_since_eval else math.nan
        record = {"step": step, "loss": loss,
                  "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - started}
        temperature = model.temperature
        if temperature is not None:
            record["temperature"] = float(temperature)
        values, projections = evaluate(model, data, eval_idx, torch.Generator(device=device).manual_seed(eval_gen_seed),
                                       metrics)
        record.update(values)
        history.records.append(record)
        losses_since_eval.clear()
        state = FitState(step, record, model, projections, data.labels[eval_idx], history)
        return any(bool(cb(state)) for cb in callbacks)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=history.config["method"], leave=False)
    batches = _batches(len(data), batch_size, batch_gen, sampler)
    step, last_finite = 0, None
    try:
        if eval_every:  # the untrained model, for reference
            refresh_batchnorm(model, data, eval_idx)
            if record_eval(0):
                raise StopTraining
        while step < steps:
            idx = next(batches).to(device)
            views = data.views(idx, n_views=2, generator=view_gen)
            try:
                loss, z1, z2 = model.loss(views, data.labels[idx], step)
            except check.NonFiniteError:
                batch = views if isinstance(views, (tuple, list)) else (views,)
                if not all(bool(torch.isfinite(v).all()) for v in batch):
                    raise  # the data itself is not finite: not a divergence
                raise _Diverged(_diverged(step, None, last_finite)) from None
            if not bool(torch.isfinite(loss.detach())):
                raise _Diverged(_diverged(step, float(loss.detach()), last_finite))
            last_finite = float(loss.detach())
            if monitor is not None:
                monitor.update(step, z1, z2 if z2.shape == z1.shape else None, loss=last_finite,
                               temperature=model.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            scheduler.step()
            model.after_step(step)
            step += 1
            losses_since_eval.append(float(loss.detach()))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses_since_eval[-1]:.3f}", refresh=False)
            if (eval_every and step % eval_every == 0) or step == steps:
                if record_eval(step):
                    raise StopTraining
    except (KeyboardInterrupt, StopTraining):
        history.interrupted = step < steps
        if losses_since_eval:
            record_eval(step)
    except _Diverged as diverged:
        history.diverged = history.interrupted = True
        warnings.warn(str(diverged), DivergedWarning, stacklevel=3)
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    return history
