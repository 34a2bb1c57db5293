"""Fuzz ``train.fit`` with tiny sizes: every set-up of ``methods.METHODS`` on small toys, its numeric
arguments valid and not. A valid run returns a ``History`` whose records are finite (or that is marked
``diverged``, the documented answer to a loss that stops being finite); an invalid argument is refused by
name before any training. A set-up that cannot train on a dataset (a two-tower set-up on one modality)
must say so by naming ``method`` or ``data``.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastlab import data as D
from contrastlab.methods import METHODS
from contrastlab.train import fit

from .contract import OUTCOMES, Call, Spec, draw_call, expect

TOYS = {
    "vmf_mixture": lambda: D.vmf_mixture(24, n_classes=3, dim=4),
    "paired_modalities": lambda: D.paired_modalities(24, n_classes=3, dim_a=5, dim_b=4, latent_dim=3, hidden=4),
    "compositional_pairs": lambda: D.compositional_pairs(24, n_objects=2, n_attributes=2, dim_a=6, hidden=4),
}
_DATA: dict = {}


def toy(name):
    if name not in _DATA:
        _DATA[name] = TOYS[name]()
    return _DATA[name]


@st.composite
def fit_call(draw):
    name = draw(st.sampled_from(sorted(TOYS)))
    paired = name != "vmf_mixture"
    methods = sorted(m for m, cls in METHODS.items()
                     if cls.paired == paired and (m != "negclip" or name == "compositional_pairs"))
    args = dict(data=toy(name), method=draw(st.sampled_from(methods)), steps=draw(st.integers(1, 3)),
                batch_size=draw(st.integers(2, 12)), lr=draw(st.floats(0.0, 1e-2)), weight_decay=draw(st.floats(0.0, 1e-3)),
                schedule=draw(st.sampled_from(["cosine", "constant"])), optimizer=draw(st.sampled_from(["adamw", "sgd"])),
                eval_every=draw(st.integers(0, 2)), eval_size=draw(st.integers(2, 24)),
                metrics=draw(st.sampled_from([("alignment",), ("uniformity", "knn"), ()])), seed=draw(st.integers(0, 99)),
                progress=False)
    return Call(args, group={"method": ("data",), "data": ("method",)})


def finite_history(call, history):
    assert history.records or history.diverged
    if history.diverged:
        return
    for record in history.records:
        for key, value in record.items():
            if key == "loss" and record.get("step") == 0:
                continue  # the evaluation before the first step has no training loss yet (NaN by design)
            if isinstance(value, float):
                assert math.isfinite(value), f"record {key} = {value} in a run not marked diverged"


class Run:
    """A History, opaque to the contract's generic finiteness walk (its step-0 loss is NaN by design):
    ``finite_history`` checks it instead."""

    def __init__(self, history):
        self.history = history


def fit_run(**kwargs):
    return Run(fit(**kwargs))


SPEC = Spec("fit", fit_run, fit_call(), {
    "steps": "count", "batch_size": [1, 0, 10 ** 6, 2.0, "8"], "lr": [-1e-3, math.nan, math.inf, "0.1", True],
    "weight_decay": [-1.0, math.nan, "0"], "schedule": ["linear", None], "optimizer": ["adam", 1],
    "eval_every": [-1, 1.5, "1"], "eval_size": [1, 0, 2.5], "metrics": [("acc",), "knn", 3],
    "seed": "seed", "method": ["simclrr", 3, None], "data": [None, torch.randn(8, 3), "vmf_mixture"],
    "progress": [1, "no"],
}, lambda call, run: finite_history(call, run.history))


@settings(max_examples=max(3, settings.default.max_examples // 3))
@given(data=st.data())
def test_fit_contract(data):
    call, bad = draw_call(data.draw, SPEC)
    expect(SPEC, call, bad)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("name", sorted(TOYS))
def test_a_set_up_and_a_dataset_that_do_not_fit_are_refused_by_name(method, name):
    """Every (set-up, dataset) pair either trains to a finite history or is refused naming method/data."""
    try:
        history = fit(toy(name), method, steps=1, batch_size=4, eval_size=4, metrics=(), progress=False)
    except ValueError as error:
        assert "method" in str(error) and ("data" in str(error) or "paired" in str(error)), str(error)
        OUTCOMES["fit", "invalid"] += 1
        return
    finite_history(Call({}), history)
    OUTCOMES["fit", "valid"] += 1
