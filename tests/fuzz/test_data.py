"""Fuzz every toy dataset of ``data.DATASETS`` (knobs), and ``ToyData.views`` / ``split`` / ``subset``.

A valid call of a generator must give finite inputs of N rows with integer labels; its views must be
finite and shaped (B, V, ...) (paired data: two (B, D) tensors); a split must leave both sides
non-empty. Invalid calls corrupt one knob, the index, ``n_views``, the generator or the fraction.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contrastlab import data as D

from .contract import BAD, Call, Spec, draw_call, expect, finite

SEED = st.integers(0, 2 ** 31)
NOISE = st.floats(0.0, 1.0)

# each generator's knobs: a valid strategy and the kind of bad value (a key of contract.BAD or a list)
KNOBS = {
    "vmf_mixture": dict(n=(st.integers(2, 40), "count"), n_classes=(st.integers(1, 4), "count"),
                        dim=(st.integers(2, 6), [1, 0, 2.5, "3"]), concentration=(st.floats(0.0, 50.0), "nonnegative"),
                        imbalance=(st.floats(1.0, 5.0), [0.5, -1.0, float("nan"), "2"]), view_noise=(NOISE, "nonnegative"),
                        kind=(st.sampled_from(["vmf", "gaussian"]), ["vfm", 1, None]), seed=(SEED, "seed")),
    "nuisance_clusters": dict(n=(st.integers(2, 40), "count"), n_classes=(st.integers(1, 4), "count"),
                              dim=(st.integers(2, 6), [1, 0, 2.5, "3"]), n_nuisance=(st.integers(1, 6), "count"),
                              nuisance_scale=(NOISE, "nonnegative"), concentration=(st.floats(0.0, 50.0), "nonnegative"),
                              view_noise=(NOISE, "nonnegative"), rotate=(st.booleans(), "bool"), seed=(SEED, "seed")),
    "latent_mlp": dict(n=(st.integers(2, 40), "count"), latent_dim=(st.integers(2, 4), [1, 0, 2.0]),
                       obs_dim=(st.integers(4, 8), [1, 2.0, "8"]), n_layers=(st.integers(1, 3), "count"),
                       n_classes=(st.integers(1, 4), "count"), view_noise=(NOISE, "nonnegative"), seed=(SEED, "seed")),
    "feature_mix": dict(n=(st.integers(2, 40), "count"), n_classes=(st.integers(1, 3), "count"),
                        n_subclasses=(st.integers(1, 3), "count"), easy_strength=(NOISE, "nonnegative"),
                        class_strength=(NOISE, "nonnegative"), easy_dims=(st.integers(1, 4), "count"),
                        class_dims=(st.integers(1, 4), "count"), view_noise=(NOISE, "nonnegative"),
                        easy_view_noise=(NOISE, "nonnegative"), seed=(SEED, "seed")),
    "digits": dict(strength=(NOISE, [-0.1, 1.5, float("nan"), "0.5"]), n=(st.integers(2, 40), [1, 0, 10 ** 6, 2.0]),
                   augmentations=(st.sampled_from(["crop", ("noise", "blur"), ("rotate", "cutout")]),
                                  ["shift", (), 3, ("crop", None)]),
                   imbalance=(st.floats(1.0, 3.0), [0.5, "2"]), seed=(SEED, "seed")),
    "image_patches": dict(n=(st.integers(1, 40), [0, -1, 1.5, "2", True]), n_classes=(st.integers(1, 5), [0, 6, 1.5, "2", None]),
                          patches_per_class=(st.integers(1, 5), "count"), patch_size=(st.integers(8, 40), [7, 200, 8.0, "32", None]),
                          strength=(NOISE, [-0.1, 1.5, float("nan"), "0.5"]),
                          ops=(st.sampled_from(["crop", ("color", "blur"), ()]), ["shift", 3, ("crop", None)]),
                          seed=(SEED, "seed")),
    "anisotropic_gaussian": dict(n=(st.integers(2, 40), "count"), dim=(st.integers(3, 8), [1, 0, 3.0]),
                                 top_variance=(st.floats(0.5, 2.0), [0.0, -1.0, "1"]),
                                 bottom_variance=(st.floats(1e-3, 0.5), [0.0, 5.0, float("inf")]),
                                 view_noise=(NOISE, "nonnegative"), n_classes=(st.integers(1, 3), "count"),
                                 class_dims=(st.integers(1, 3), [0, 100, 1.0]), seed=(SEED, "seed")),
    "paired_modalities": dict(n=(st.integers(2, 40), "count"), latent_dim=(st.integers(2, 4), [1, 0, 2.0, "3"]),
                              dim_a=(st.integers(1, 6), "count"), dim_b=(st.integers(1, 6), "count"),
                              n_classes=(st.integers(1, 3), "count"), concentration=(st.floats(0.0, 20.0), "nonnegative"),
                              noise_a=(NOISE, "nonnegative"), noise_b=(NOISE, "nonnegative"),
                              hidden=(st.integers(1, 8), "count"), seed=(SEED, "seed")),
    "compositional_pairs": dict(n=(st.integers(2, 40), "count"), n_objects=(st.integers(2, 4), [1, 0, 2.0]),
                                n_attributes=(st.integers(2, 4), [1, 0, 2.0]), dim_a=(st.integers(1, 8), "count"),
                                hidden=(st.integers(1, 8), "count"), noise_a=(NOISE, "nonnegative"),
                                noise_b=(NOISE, "nonnegative"), seed=(SEED, "seed")),
    "correlated_gaussians": dict(n=(st.integers(1, 40), [0, -1, 2.0, "5"]), dim=(st.integers(1, 4), "count"),
                                 rho=(st.floats(-0.99, 0.99), [1.0, -1.0, 2.0, float("nan"), "0.5"]), seed=(SEED, "seed")),
}


def generator_spec(name):
    knobs = KNOBS[name]

    @st.composite
    def make(draw):
        chosen = {k: draw(s) for k, (s, _) in knobs.items() if draw(st.booleans())}  # the rest at their defaults
        if name == "anisotropic_gaussian" and "class_dims" in chosen:
            chosen["dim"] = max(chosen.get("dim", 32), chosen["class_dims"])
        if name == "latent_mlp":
            chosen.setdefault("n", 30)
            if chosen.get("obs_dim", 16) < chosen.get("latent_dim", 4):
                chosen["obs_dim"] = chosen.get("latent_dim", 4)
        if name == "digits":
            chosen.setdefault("n", 30)
        if name != "digits":
            chosen.setdefault("n", 30)
            defaults = inspect.signature(D.DATASETS[name]).parameters
            classes = chosen.get("n_classes", defaults["n_classes"].default if "n_classes" in defaults else 1)
            chosen["n"] = max(chosen["n"], classes * chosen.get("n_subclasses", 1))  # a sample per class
        return Call(chosen)

    def well_formed(call, toy):
        assert isinstance(toy, D.ToyData) and finite(toy.x) and len(toy) == len(toy.labels)
        if "n" in call.args and name != "digits":
            assert len(toy) == call.args["n"]
        assert not toy.labels.is_floating_point()

    corrupt = {k: kind for k, (_, kind) in knobs.items()}
    return Spec(name, D.DATASETS[name], make(), corrupt, well_formed)


SPECS = [generator_spec(name) for name in KNOBS]


def test_every_registered_dataset_is_fuzzed():
    from_files = {n for n in D.DATASETS if D.reads_files(n)} if hasattr(D, "reads_files") else set()
    assert set(D.DATASETS) - from_files - set(KNOBS) == set()


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@given(data=st.data())
def test_generator_contract(spec, data):
    call, bad = draw_call(data.draw, spec)
    expect(spec, call, bad)


# --- views, split and subset of every dataset -----------------------------------------------------

_CACHE: dict = {}


def toy(name):
    if name not in _CACHE:
        _CACHE[name] = D.DATASETS[name](n=24) if name != "digits" else D.digits(n=24)
    return _CACHE[name]


@st.composite
def views_call(draw, name):
    t = toy(name)
    idx = torch.tensor(draw(st.lists(st.integers(0, len(t) - 1), max_size=8)), dtype=torch.long)
    paired = isinstance(t, D.PairedModalities)
    args = {"idx": idx, "n_views": 2 if paired else draw(st.integers(1, 3)),
            "generator": draw(st.one_of(st.none(), st.integers(0, 9).map(lambda s: torch.Generator().manual_seed(s))))}
    return Call(args)


def views_spec(name):
    t = toy(name)
    n = len(t)

    def shaped(call, out):
        b = len(call.args["idx"])
        if isinstance(out, tuple):
            assert len(out) == 2 and all(len(o) == b and finite(o) for o in out)
        else:
            assert out.shape[:2] == (b, call.args["n_views"]) and finite(out)

    bad_idx = [torch.tensor([n]), torch.tensor([-1]), torch.tensor([0.5]), [0, 1], 3, torch.tensor(0),
               torch.zeros(2, 2, dtype=torch.long), torch.tensor([True])]
    corrupt = {"idx": bad_idx, "generator": [0, "g", torch.ones(1)],
               "n_views": [0, -1, 1.5, "2", True] + ([1, 3] if isinstance(t, D.PairedModalities) else [])}
    return Spec(f"{name}.views", t.views, views_call(name), corrupt, shaped)


def split_spec(name):
    t = toy(name)

    def both_sides(call, out):
        train, test = out
        assert len(train) >= 1 and len(test) >= 1 and len(train) + len(test) == len(t)

    make = st.builds(lambda f, s: Call({"test_fraction": f, "seed": s}), st.floats(1e-6, 0.95), SEED)
    return Spec(f"{name}.split", t.split, make,
                {"test_fraction": [0.0, 1.0, 0.999, 1.5, -0.2, float("nan"), "0.2", True], "seed": "seed"}, both_sides)


SPLIT_VIEWS = [views_spec(n) for n in KNOBS] + [split_spec(n) for n in KNOBS]


@pytest.mark.parametrize("spec", SPLIT_VIEWS, ids=repr)
@given(data=st.data())
def test_views_and_split_contract(spec, data):
    call, bad = draw_call(data.draw, spec)
    if spec.name.endswith(".split") and bad is None and round(call.args["test_fraction"] * 24) > 23:
        bad = "test_fraction"
    expect(spec, call, bad)
