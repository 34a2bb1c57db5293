"""``contrastlab.validation``: one rule for every argument check in the package.

A wrong kind of thing (a str, a float where an int is needed, a bool as a number, a list where a
tensor is needed) is a TypeError; the right kind with a bad value (below a minimum, out of a range,
NaN, a wrong shape) is a ValueError. Every message starts with the argument's name and shows what it
got. The first half tests each validator; the second calls public functions of data, lessons,
models and samplers with the same mistakes and expects the same exception type everywhere.
(The losses' own checks are in tests/losses/test_validation.py.)
"""

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

from contrastlab import data as D
from contrastlab import models, samplers
from contrastlab import validation as check
from contrastlab.data import text
from contrastlab.lessons import collapse, false_negatives, hard_negatives, hypersphere_geometry, infonce_from_scratch
from contrastlab.lessons import sentence_embeddings, supervised_contrastive, temperature, two_towers_clip


def raises(error, name, *got):
    """pytest.raises for ``error`` whose message starts with "{name} must be" and contains each of ``got``."""
    pattern = "^" + "".join(f"(?=.*{re.escape(g)})" for g in got) + re.escape(f"{name} must be")
    return pytest.raises(error, match=pattern)


# --- the validators ----------------------------------------------------------------------------

@pytest.mark.parametrize("value, got", [("3", "str '3'"), (2.5, "float 2.5"), (2.0, "float 2.0"), (True, "bool True"),
                                        (None, "NoneType None"), (torch.tensor(3), "Tensor")])
def test_integer_refuses_a_wrong_kind_with_a_type_error(value, got):
    with raises(TypeError, "n", f"must be an int, got {got}"):
        check.integer("n", value, 1)


@pytest.mark.parametrize("minimum, maximum, value, expected", [
    (1, None, 0, "n must be an integer >= 1, got 0"),
    (0, None, -1, "n must be an integer >= 0, got -1"),
    (None, 4, 5, "n must be an integer <= 4, got 5"),
    (1, 4, 5, "n must be an integer in [1, 4], got 5"),
    (1, 4, np.int64(0), "n must be an integer in [1, 4], got 0"),
])
def test_integer_refuses_a_bad_value_with_a_value_error(minimum, maximum, value, expected):
    with pytest.raises(ValueError, match="^" + re.escape(expected) + "$"):
        check.integer("n", value, minimum, maximum)


def test_integer_accepts_numpy_integers_and_returns_a_python_int():
    for value in (3, np.int64(3), np.uint8(3)):
        assert check.integer("n", value, 1, 3) == 3 and type(check.integer("n", value, 1)) is int
    assert check.integer("n", -7) == -7  # no bounds: only the kind is checked


def test_seed_is_a_non_negative_int_and_nothing_else():
    assert check.seed("seed", 0) == 0 and check.seed("seed", np.int32(7)) == 7 and check.seed("seed", 2**40) == 2**40
    with raises(ValueError, "seed", "integer >= 0", "got -1"):
        check.seed("seed", -1)
    for bad, got in (("1", "str '1'"), (1.0, "float 1.0"), (True, "bool True"), (None, "NoneType")):
        with raises(TypeError, "seed", f"got {got}"):
            check.seed("seed", bad)


@pytest.mark.parametrize("value, got", [("0.5", "str '0.5'"), (True, "bool True"), (None, "NoneType None"),
                                        (torch.tensor(0.5), "Tensor"), ([0.5], "list [0.5]")])
def test_number_refuses_a_wrong_kind_with_a_type_error(value, got):
    with raises(TypeError, "x", f"must be a float, got {got}"):
        check.number("x", value)


@pytest.mark.parametrize("kwargs, value, expected", [
    ({}, math.nan, "x must be a finite number in [-inf, inf], got nan"),
    ({}, math.inf, "x must be a finite number in [-inf, inf], got inf"),
    (dict(low=0.0), -1, "x must be a finite number in [0.0, inf], got -1.0"),
    (dict(low=0.0, high=1.0), 1.5, "x must be a finite number in [0.0, 1.0], got 1.5"),
    (dict(low=-1.0, high=1.0, low_open=True, high_open=True), 1.0, "x must be a finite number in (-1.0, 1.0), got 1.0"),
    (dict(low=-1.0, high=1.0, low_open=True, high_open=True), -1, "x must be a finite number in (-1.0, 1.0), got -1.0"),
    (dict(low=0.0, low_open=True), 0, "x must be a finite number in (0.0, inf], got 0.0"),
])
def test_number_refuses_a_bad_value_with_a_value_error(kwargs, value, expected):
    with pytest.raises(ValueError, match="^" + re.escape(expected) + "$"):
        check.number("x", value, **kwargs)


def test_number_accepts_ints_and_numpy_reals_and_returns_a_float():
    assert check.number("x", 2) == 2.0 and type(check.number("x", 2)) is float
    assert check.number("x", np.float32(0.25), low=0.0, high=1.0) == 0.25
    assert check.number("x", 1.0, low=0.0, high=1.0) == 1.0  # closed ends are in


def test_probability_is_a_number_in_the_unit_interval():
    assert check.probability("p", 0) == 0.0 and check.probability("p", 1) == 1.0
    with raises(ValueError, "p", "[0.0, 1.0]", "got 1.5"):
        check.probability("p", 1.5)
    with raises(ValueError, "p", "(0.0, 1.0]", "got 0.0"):
        check.probability("p", 0.0, low_open=True)
    with raises(TypeError, "p", "got str"):
        check.probability("p", "0.5")


def test_positive_and_real_number_keep_a_scalar_tensor_for_autograd():
    t = torch.tensor(0.1, requires_grad=True)
    assert check.positive_number("temperature", t) is not None and check.positive_number("temperature", t).requires_grad
    assert torch.is_tensor(check.real_number("beta", torch.tensor([0.5]), low=0.0, high=1.0))
    with raises(ValueError, "temperature", "finite number > 0", "got 0.0"):
        check.positive_number("temperature", 0)
    with raises(TypeError, "temperature", "got str '0.1'"):
        check.positive_number("temperature", "0.1")
    with raises(TypeError, "temperature", "floating-point scalar"):
        check.positive_number("temperature", torch.tensor(1))
    with raises(ValueError, "temperature", "scalar", "shape (2,)"):
        check.positive_number("temperature", torch.ones(2))
    with raises(ValueError, "tau_plus", "[0.0, 1.0)", "got 1.0"):
        check.real_number("tau_plus", 1.0, low=0.0, high=1.0, high_open=True)
    with raises(ValueError, "x", "(0.0, inf]", "got 0.0"):
        check.real_number("x", torch.tensor(0.0), low=0.0, low_open=True)


def test_boolean():
    assert check.boolean("detach", True) is True and check.boolean("detach", np.bool_(False)) is False
    for bad, got in ((1, "int 1"), ("yes", "str 'yes'"), (None, "NoneType")):
        with raises(TypeError, "detach", f"must be a bool, got {got}"):
            check.boolean("detach", bad)


def test_choice_suggests_the_closest_name_and_refuses_a_wrong_kind():
    assert check.choice("kind", "vmf", ("vmf", "gaussian")) == "vmf"
    assert check.choice("norm", None, ("batch", "layer", None)) is None
    with pytest.raises(ValueError, match=r"^kind must be 'vmf' or 'gaussian', got 'vfm' \(did you mean 'vmf'\?\)$"):
        check.choice("kind", "vfm", ("vmf", "gaussian"))
    with pytest.raises(ValueError, match=r"^norm must be one of 'batch', 'layer' or None, got 'group'$"):
        check.choice("norm", "group", ("batch", "layer", None))
    for bad, got in ((3, "int 3"), (True, "bool True"), (["vmf"], "list ['vmf']")):
        with raises(TypeError, "kind", "'vmf' or 'gaussian'", f"got {got}"):
            check.choice("kind", bad, ("vmf", "gaussian"))


def test_instance_and_shape():
    g = torch.Generator()
    assert check.instance("generator", g, torch.Generator, "a torch.Generator") is g
    assert check.instance("generator", None, torch.Generator, "a torch.Generator", optional=True) is None
    with raises(TypeError, "generator", "a torch.Generator or None", "got int"):
        check.instance("generator", 3, torch.Generator, "a torch.Generator", optional=True)
    assert check.shape("input_shape", [1, 8, 8]) == (1, 8, 8)
    for bad in ("3", 3, (2.0,), (True,)):
        with raises(TypeError, "input_shape", "tuple of positive ints"):
            check.shape("input_shape", bad)
    for bad in ((), (0, 8)):
        with raises(ValueError, "input_shape", "tuple of positive ints"):
            check.shape("input_shape", bad)


def test_tensor_kind_is_a_type_error_and_shape_a_value_error():
    x = torch.zeros(2, 3, dtype=torch.bool)
    assert check.tensor("removed", x, ndim=2, dtype="bool") is x
    with raises(TypeError, "removed", "a 2-d bool tensor (N, M)", "got list"):
        check.tensor("removed", [[True]], ndim=2, dtype="bool", dims="(N, M)")
    with raises(TypeError, "labels", "an integer tensor", "got dtype torch.float32"):
        check.tensor("labels", torch.zeros(3), dtype="integer")
    with raises(TypeError, "ids", "int64 or int32", "got dtype torch.uint8"):
        check.tensor("ids", torch.zeros(3, dtype=torch.uint8), dtype="index")
    with raises(ValueError, "removed", "2-d", "got shape (3,)"):
        check.tensor("removed", torch.zeros(3, dtype=torch.bool), ndim=2, dtype="bool")


def test_the_tensor_checks_the_losses_use_follow_the_rule():
    with raises(TypeError, "z", "torch.Tensor", "got list"):
        check.embeddings("z", [[1.0]])
    with raises(TypeError, "z", "floating-point", "torch.int64"):
        check.embeddings("z", torch.ones(2, 2, dtype=torch.long))
    with raises(ValueError, "z", "2-d", "got shape (3,)"):
        check.embeddings("z", torch.ones(3))
    with raises(ValueError, "z", "finite", "1 NaN"):
        check.embeddings("z", torch.tensor([[1.0, math.nan]]))
    with pytest.raises(TypeError, match=r"^labels must have an integer dtype .*got torch.float32$"):
        check.labels("labels", torch.zeros(3), 3, torch.device("cpu"))
    with pytest.raises(ValueError, match=r"^labels must have shape \(3,\), one label per sample, got \(2,\)$"):
        check.labels("labels", torch.zeros(2, dtype=torch.long), 3, torch.device("cpu"))
    with pytest.raises(ValueError, match=r"^a and b must have the same shape, got \(2, 3\) and \(2, 4\)$"):
        check.same_shape("a", torch.ones(2, 3), "b", torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"^z must have at least 2 rows \(a mean over pairs\), got shape \(1, 3\)$"):
        check.batch_at_least("z", torch.ones(1, 3), 2, "a mean over pairs")


def test_long_values_are_cut_in_messages():
    with pytest.raises(TypeError) as info:
        check.integer("n", "x" * 500, 1)
    assert len(str(info.value)) < 120 and str(info.value).endswith("...")


# --- the same mistake, the same exception, everywhere -------------------------------------------

_LABELS = torch.arange(12) % 3
_Q, _POOL = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.randn(9, 3)
_VOCAB = text.build_vocab(["a b c"])
_SIMS = torch.randn(4, 4, generator=torch.Generator().manual_seed(1))

# (id, the call with the integer argument replaced by v, its name, its minimum)
INTEGER_ARGUMENTS = [
    # data
    ("vmf_mixture n", lambda v: D.vmf_mixture(v), "n", 2),
    ("vmf_mixture n_classes", lambda v: D.vmf_mixture(50, n_classes=v), "n_classes", 1),
    ("vmf_mixture dim", lambda v: D.vmf_mixture(50, dim=v), "dim", 2),
    ("vmf_mixture seed", lambda v: D.vmf_mixture(50, seed=v), "seed", 0),
    ("latent_mlp n_layers", lambda v: D.latent_mlp(50, n_layers=v), "n_layers", 1),
    ("feature_mix easy_dims", lambda v: D.feature_mix(50, easy_dims=v), "easy_dims", 1),
    ("paired_modalities hidden", lambda v: D.paired_modalities(50, hidden=v), "hidden", 1),
    ("anisotropic_gaussian class_dims", lambda v: D.anisotropic_gaussian(50, class_dims=v), "class_dims", 1),
    ("compositional_pairs n_objects", lambda v: D.compositional_pairs(10, n_objects=v), "n_objects", 2),
    ("correlated_gaussians n", lambda v: D.correlated_gaussians(v), "n", 1),
    ("correlated_gaussians seed", lambda v: D.correlated_gaussians(10, seed=v), "seed", 0),
    ("digits n", lambda v: D.digits(n=v), "n", 2),
    ("ToyData.views n_views", lambda v: D.vmf_mixture(20).views(n_views=v), "n_views", 1),
    ("ToyData.split seed", lambda v: D.vmf_mixture(20).split(0.5, seed=v), "seed", 0),
    ("swap_attributes n_objects", lambda v: D.swap_attributes(torch.zeros(2, 8), v, 2), "n_objects", 1),
    ("text_pairs n_views", lambda v: text.text_pairs(["a b"], text.TextViews(), n_views=v), "n_views", 1),
    ("build_vocab min_count", lambda v: text.build_vocab(["a"], min_count=v), "min_count", 1),
    ("encode max_len", lambda v: text.encode(["a"], _VOCAB, max_len=v), "max_len", 2),
    ("TextViews seed", lambda v: text.TextViews(seed=v), "seed", 0),
    # lessons
    ("sphere_uniform n", lambda v: hypersphere_geometry.sphere_uniform(v, 3), "n", 1),
    ("cone dim", lambda v: hypersphere_geometry.cone(5, v), "dim", 2),
    ("sphere_uniform seed", lambda v: hypersphere_geometry.sphere_uniform(3, 3, seed=v), "seed", 0),
    ("hardest_negatives n_hardest", lambda v: hard_negatives.hardest_negatives(_Q, _POOL, v), "n_hardest", 1),
    ("mochi_negatives n_mixed", lambda v: hard_negatives.mochi_negatives(_Q, _POOL, n_hardest=2, n_mixed=v),
     "n_mixed", 0),
    ("gaussian_mutual_information dim", lambda v: infonce_from_scratch.gaussian_mutual_information(v, 0.5), "dim", 1),
    ("mi_lower_bound batch_size", lambda v: infonce_from_scratch.mi_lower_bound(1.0, v), "batch_size", 1),
    ("infonce_bound_curve repeats", lambda v: infonce_from_scratch.infonce_bound_curve([4], dim=2, rho=0.5, repeats=v),
     "repeats", 1),
    ("infonce_bound_curve batch_sizes", lambda v: infonce_from_scratch.infonce_bound_curve([v], dim=2, rho=0.5),
     "batch_sizes", 2),
    ("tiny_bert layers", lambda v: sentence_embeddings.tiny_bert(50, hidden=8, heads=2, layers=v), "layers", 1),
    ("simplex_cosine k", lambda v: supervised_contrastive.simplex_cosine(v), "k", 2),
    ("positives_per_anchor n_views", lambda v: supervised_contrastive.positives_per_anchor(_LABELS, n_views=v),
     "n_views", 1),
    ("expected_positives batch_size", lambda v: supervised_contrastive.expected_positives(v, [5, 5]), "batch_size", 1),
    ("imbalanced_indices seed", lambda v: supervised_contrastive.imbalanced_indices(_LABELS, 2, minority=[0], seed=v),
     "seed", 0),
    ("mlp_encoder seed", lambda v: supervised_contrastive.mlp_encoder((4,), seed=v), "seed", 0),
    ("unconstrained_features dim", lambda v: supervised_contrastive.unconstrained_features([3, 3], dim=v), "dim", 1),
    ("collapsed_loss batch_size", lambda v: collapse.collapsed_loss("simclr", batch_size=v), "batch_size", 2),
    ("encoder_with_projector input_dim", lambda v: collapse.encoder_with_projector(v), "input_dim", 1),
    ("encoder_with_projector seed", lambda v: collapse.encoder_with_projector(4, seed=v), "seed", 0),
    ("hardest_share k", lambda v: temperature.hardest_share(_SIMS, temperature=0.1, k=v), "k", 1),
    ("tower in_dim", lambda v: two_towers_clip.tower(v), "in_dim", 1),
    ("tower seed", lambda v: two_towers_clip.tower(4, seed=v), "seed", 0),
    ("tower_pair seed", lambda v: two_towers_clip.tower_pair(D.paired_modalities(10), seed=v), "seed", 0),
    # models
    ("mlp in_dim", lambda v: models.mlp(v, 8, 4), "in_dim", 1),
    ("mlp n_layers", lambda v: models.mlp(4, 8, 4, n_layers=v), "n_layers", 1),
    ("SmallCNN out_dim", lambda v: models.SmallCNN(out_dim=v), "out_dim", 1),
    ("EMATarget total_steps", lambda v: models.EMATarget(nn.Linear(2, 2), total_steps=v), "total_steps", 0),
    # samplers
    ("MPerClassSampler m", lambda v: samplers.MPerClassSampler(_LABELS, m=v, batch_size=4), "m", 1),
    ("MPerClassSampler seed", lambda v: samplers.MPerClassSampler(_LABELS, m=2, batch_size=4, seed=v), "seed", 0),
    ("NoDuplicatesSampler batch_size", lambda v: samplers.NoDuplicatesSampler(_LABELS, batch_size=v), "batch_size", 1),
    ("spherical_kmeans n_clusters", lambda v: samplers.spherical_kmeans(_POOL, v), "n_clusters", 1),
    ("mine_hard_negatives k", lambda v: samplers.mine_hard_negatives(_Q, _POOL, k=v), "k", 1),
    ("MoCoQueue dim", lambda v: samplers.MoCoQueue(v, 8), "dim", 1),
    ("MoCoQueue seed", lambda v: samplers.MoCoQueue(4, 8, seed=v), "seed", 0),
]


@pytest.mark.parametrize("call, name, minimum", [c[1:] for c in INTEGER_ARGUMENTS],
                         ids=[c[0] for c in INTEGER_ARGUMENTS])
def test_an_integer_argument_fails_the_same_way_everywhere(call, name, minimum):
    for wrong_kind, got in (("3", "str '3'"), (2.5, "float 2.5"), (True, "bool True")):
        with raises(TypeError, name, f"must be an int, got {got}"):
            call(wrong_kind)
    with raises(ValueError, name, "must be an integer ", f"got {minimum - 1}"):  # ">= 1" or "in [1, 3]"
        call(minimum - 1)


_PAIRS = D.paired_modalities(10)

# (id, the call with the number argument replaced by v, its name, a value of the right kind out of range)
NUMBER_ARGUMENTS = [
    ("vmf_mixture concentration", lambda v: D.vmf_mixture(50, concentration=v), "concentration", -1.0),
    ("vmf_mixture imbalance", lambda v: D.vmf_mixture(50, imbalance=v), "imbalance", 0.5),
    ("correlated_gaussians rho", lambda v: D.correlated_gaussians(10, rho=v), "rho", 1.0),
    ("digits strength", lambda v: D.digits(strength=v), "strength", 1.5),
    ("ToyData.split test_fraction", lambda v: D.vmf_mixture(20).split(v), "test_fraction", 1.0),
    ("word_deletion strength", lambda v: text.word_deletion("a b", v, torch.Generator()), "strength", -0.1),
    ("cone spread", lambda v: hypersphere_geometry.cone(5, 3, spread=v), "spread", -1.0),
    ("offset_last_layer offset", lambda v: hypersphere_geometry.offset_last_layer(nn.Linear(2, 2), v), "offset", -1.0),
    ("mix alpha", lambda v: hard_negatives.mix(_Q, _Q, v), "alpha", 1.5),
    ("rho_for_mutual_information mi", lambda v: infonce_from_scratch.rho_for_mutual_information(v, 2), "mi", -1.0),
    ("tiny_bert dropout", lambda v: sentence_embeddings.tiny_bert(50, hidden=8, heads=2, dropout=v), "dropout", -0.1),
    ("imbalanced_indices ratio", lambda v: supervised_contrastive.imbalanced_indices(_LABELS, v, minority=[0]),
     "ratio", 0.5),
    ("unconstrained_features weight_decay",
     lambda v: supervised_contrastive.unconstrained_features([3, 3], weight_decay=v), "weight_decay", -1.0),
    ("monotone_from slack", lambda v: temperature.monotone_from([0.1, 0.2], [1.0, 2.0], slack=v), "slack", -1.0),
    ("add_nuisance scale", lambda v: two_towers_clip.add_nuisance(_PAIRS, 2, scale=v), "scale", -1.0),
    ("modality_views noise", lambda v: two_towers_clip.modality_views(_PAIRS, noise=v), "noise", -1.0),
    ("EMATarget base_momentum", lambda v: models.EMATarget(nn.Linear(2, 2), base_momentum=v), "base_momentum", 1.5),
]


@pytest.mark.parametrize("call, name, out_of_range", [c[1:] for c in NUMBER_ARGUMENTS],
                         ids=[c[0] for c in NUMBER_ARGUMENTS])
def test_a_number_argument_fails_the_same_way_everywhere(call, name, out_of_range):
    for wrong_kind, got in (("0.5", "str '0.5'"), (True, "bool True"), ([0.5], "list [0.5]")):
        with raises(TypeError, name, f"got {got}"):
            call(wrong_kind)
    for bad in (out_of_range, math.nan):
        with raises(ValueError, name, "must be a finite number in", f"got {float(bad)}"):
            call(bad)


# (id, the call with the option replaced by v, its name, a misspelt option, the option it should suggest)
CHOICE_ARGUMENTS = [
    ("vmf_mixture kind", lambda v: D.vmf_mixture(50, kind=v), "kind", "gausian", "gaussian"),
    ("collapsed_loss method", lambda v: collapse.collapsed_loss(v), "method", "simclrr", "simclr"),
    ("encoder_with_projector projector", lambda v: collapse.encoder_with_projector(4, projector=v), "projector",
     "linaer", "linear"),
    ("unconstrained_features loss", lambda v: supervised_contrastive.unconstrained_features([3, 3], loss=v), "loss",
     "supcn", "supcon"),
    ("infonce_bound_curve critic", lambda v: infonce_from_scratch.infonce_bound_curve([4], dim=2, rho=0.5, critic=v),
     "critic", "optimal_", "optimal"),
    ("modality_views which", lambda v: two_towers_clip.modality_views(_PAIRS, v), "which", "c", None),
    ("mlp norm", lambda v: models.mlp(4, 8, 4, norm=v), "norm", "batchnorm", "batch"),
    ("spherical_kmeans init", lambda v: samplers.spherical_kmeans(_POOL, 2, init=v), "init", "kmeans++", "k-means++"),
]


@pytest.mark.parametrize("call, name, misspelt, suggestion", [c[1:] for c in CHOICE_ARGUMENTS],
                         ids=[c[0] for c in CHOICE_ARGUMENTS])
def test_an_option_argument_fails_the_same_way_everywhere(call, name, misspelt, suggestion):
    with raises(TypeError, name, "got int 3"):
        call(3)
    hint = [f"(did you mean {suggestion!r}?)"] if suggestion else []
    with raises(ValueError, name, f"got {misspelt!r}", *hint):
        call(misspelt)


@pytest.mark.parametrize("name", sorted(D.DATASETS))
def test_every_dataset_checks_its_seed_the_same_way(name):
    make = D.DATASETS[name]
    with pytest.raises(ValueError, match=r"^seed must be an integer >= 0, got -1$"):  # not numpy's message
        make(seed=-1)
    for bad, got in (("1", "str '1'"), (1.5, "float 1.5"), (True, "bool True")):
        with raises(TypeError, "seed", f"must be an int, got {got}"):
            make(seed=bad)


# (id, the call with the tensor argument replaced by v, its name, a tensor of the wrong dtype, one of the wrong shape)
TENSOR_ARGUMENTS = [
    ("filter_quality removed", lambda v: false_negatives.filter_quality(v, torch.zeros(3, dtype=torch.long)), "removed",
     torch.zeros(3, 3), torch.zeros(3, dtype=torch.bool)),
    ("imbalanced_indices labels", lambda v: supervised_contrastive.imbalanced_indices(v, 2, minority=[0]), "labels",
     torch.zeros(4), torch.zeros(2, 2, dtype=torch.long)),
    ("embed input_ids", lambda v: sentence_embeddings.embed(nn.Linear(2, 2), v, torch.ones(2, 3, dtype=torch.long)),
     "input_ids", torch.ones(2, 3), torch.ones(6, dtype=torch.long)),
    ("hardest_share positive_index", lambda v: temperature.hardest_share(_SIMS, temperature=0.1, positive_index=v),
     "positive_index", torch.zeros(4), torch.zeros(3, dtype=torch.long)),
    ("cone direction", lambda v: hypersphere_geometry.cone(5, 3, direction=v), "direction", None, torch.ones(4)),
    ("mean_pool hidden", lambda v: sentence_embeddings.mean_pool(v, torch.ones(2, 3)), "hidden",
     torch.ones(2, 3, 4, dtype=torch.long), torch.ones(2, 3)),
]


@pytest.mark.parametrize("call, name, wrong_dtype, wrong_shape", [c[1:] for c in TENSOR_ARGUMENTS],
                         ids=[c[0] for c in TENSOR_ARGUMENTS])
def test_a_tensor_argument_fails_the_same_way_everywhere(call, name, wrong_dtype, wrong_shape):
    with raises(TypeError, name, "tensor", "got list"):
        call([[0, 1], [1, 0]])
    if wrong_dtype is not None:
        with raises(TypeError, name, "got dtype"):
            call(wrong_dtype)
    with raises(ValueError, name, "got shape"):
        call(wrong_shape)
