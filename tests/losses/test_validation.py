"""Bad input raises a clear ValueError/TypeError naming the argument, what it got and what was expected."""

import math

import pytest
import torch

import contrastlab.losses as L

from .cases import CASES, make_inputs

TWO_VIEW = [L.nt_xent, L.decoupled_nt_xent, L.debiased_nt_xent, L.hard_negative_nt_xent, L.filtered_nt_xent]
PAIRED = {  # loss -> (names of its two tensor arguments, extra kwargs)
    L.info_nce: (("query", "positive"), {}),
    L.nt_xent: (("z1", "z2"), {}),
    L.decoupled_nt_xent: (("z1", "z2"), {}),
    L.debiased_nt_xent: (("z1", "z2"), {}),
    L.hard_negative_nt_xent: (("z1", "z2"), {}),
    L.filtered_nt_xent: (("z1", "z2"), {"threshold": 0.5}),
    L.clip_loss: (("a", "b"), {"logit_scale": 10.0}),
    L.clip_loss_with_negatives: (("a", "b"), {"b_negatives": torch.ones(5, 3), "logit_scale": 10.0}),
    L.siglip_loss: (("a", "b"), {"logit_scale": 10.0, "logit_bias": -10.0}),
    L.alignment: (("x", "y"), {}),
    L.negative_cosine: (("p", "z"), {}),
    L.barlow_twins: (("z1", "z2"), {}),
    L.vicreg: (("z1", "z2"), {}),
}
PAIRED_IDS = [f.__name__ for f in PAIRED]


def randn(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("loss", PAIRED, ids=PAIRED_IDS)
def test_mismatched_shapes(loss):
    (a, b), kwargs = PAIRED[loss]
    with pytest.raises(ValueError, match=rf"{a} and {b} must have the same shape, got \(4, 3\) and \(4, 5\)"):
        loss(randn(4, 3), randn(4, 5), **kwargs)
    with pytest.raises(ValueError, match=rf"{a} and {b} must have the same shape, got \(4, 3\) and \(6, 3\)"):
        loss(randn(4, 3), randn(6, 3), **kwargs)


@pytest.mark.parametrize("loss", PAIRED, ids=PAIRED_IDS)
def test_wrong_rank(loss):
    (a, b), kwargs = PAIRED[loss]
    with pytest.raises(ValueError, match=rf"{a} must be a 2-d tensor \(N, D\), got shape \(12,\)"):
        loss(randn(12), randn(12), **kwargs)
    with pytest.raises(ValueError, match=rf"{b} must be a 2-d tensor \(N, D\), got shape \(2, 2, 3\)"):
        loss(randn(4, 3), randn(2, 2, 3), **kwargs)


@pytest.mark.parametrize("loss", PAIRED, ids=PAIRED_IDS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values(loss, bad):
    (a, b), kwargs = PAIRED[loss]
    x = randn(4, 3)
    x[1, 2] = bad
    with pytest.raises(ValueError, match=rf"{b} must be finite, got 1 NaN or inf value\(s\) in shape \(4, 3\)"):
        loss(randn(4, 3), x, **kwargs)


@pytest.mark.parametrize("loss", PAIRED, ids=PAIRED_IDS)
def test_integer_and_non_tensor_inputs(loss):
    (a, b), kwargs = PAIRED[loss]
    with pytest.raises(TypeError, match=rf"{a} must be a floating-point tensor, got dtype torch.int64"):
        loss(torch.ones(4, 3, dtype=torch.long), randn(4, 3), **kwargs)
    with pytest.raises(TypeError, match=rf"{b} must be a torch.Tensor, got list"):
        loss(randn(2, 2), [[1.0, 2.0], [3.0, 4.0]], **kwargs)


def test_empty_dimension():
    with pytest.raises(ValueError, match=r"z1 must not have an empty dimension, got shape \(4, 0\)"):
        L.nt_xent(torch.zeros(4, 0), torch.zeros(4, 0))


@pytest.mark.parametrize("loss, arg", [(L.info_nce, "query"), (L.nt_xent, "z1"), (L.decoupled_nt_xent, "z1"),
                                       (L.debiased_nt_xent, "z1"), (L.hard_negative_nt_xent, "z1"),
                                       (L.filtered_nt_xent, "z1"), (L.clip_loss, "a"),
                                       (L.clip_loss_with_negatives, "a"), (L.barlow_twins, "z1"), (L.vicreg, "z1")],
                         ids=lambda x: x if isinstance(x, str) else x.__name__)
def test_a_single_sample_where_the_loss_is_undefined(loss, arg):
    kwargs = {L.clip_loss: {"logit_scale": 10.0},
              L.clip_loss_with_negatives: {"b_negatives": randn(5, 3), "logit_scale": 10.0}}.get(loss, {})
    with pytest.raises(ValueError, match=rf"{arg} must have at least 2 rows \(.+\), got shape \(1, 3\)"):
        loss(randn(1, 3), randn(1, 3), **kwargs)


def test_single_sample_uniformity_and_the_losses_defined_for_one_pair():
    with pytest.raises(ValueError, match=r"x must have at least 2 rows \(uniformity is a mean over pairs\), got shape \(1, 3\)"):
        L.uniformity(randn(1, 3))
    one_a, one_b = randn(1, 3), randn(1, 3)
    assert torch.isfinite(L.siglip_loss(one_a, one_b, logit_scale=10.0, logit_bias=-10.0))
    assert torch.isfinite(L.alignment(one_a, one_b))
    assert torch.isfinite(L.negative_cosine(one_a, one_b))
    assert torch.isfinite(L.info_nce(one_a, one_b, randn(5, 3)))  # explicit negatives: N = 1 is fine


TEMPERATURE_LOSSES = [L.info_nce, *TWO_VIEW]


@pytest.mark.parametrize("loss", TEMPERATURE_LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [0.0, -0.1, math.nan, math.inf])
def test_temperature_must_be_positive_and_finite(loss, bad):
    with pytest.raises(ValueError, match=rf"temperature must be a finite number > 0, got {bad}"):
        loss(randn(4, 3), randn(4, 3), temperature=bad)


@pytest.mark.parametrize("loss", TEMPERATURE_LOSSES, ids=lambda f: f.__name__)
def test_temperature_type(loss):
    with pytest.raises(TypeError, match=r"temperature must be a float, got str '0.1'"):
        loss(randn(4, 3), randn(4, 3), temperature="0.1")
    with pytest.raises(ValueError, match=r"temperature must be a scalar, got a tensor of shape \(2,\)"):
        loss(randn(4, 3), randn(4, 3), temperature=torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0, got -1.0"):
        loss(randn(4, 3), randn(4, 3), temperature=torch.tensor(-1.0))


def test_supcon_temperature():
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0, got 0.0"):
        L.supcon(randn(4, 2, 3), torch.arange(4), temperature=0.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_logit_scale_must_be_positive(bad):
    with pytest.raises(ValueError, match=rf"logit_scale must be a finite number > 0, got {bad}"):
        L.clip_loss(randn(4, 3), randn(4, 3), logit_scale=bad)
    with pytest.raises(ValueError, match=rf"logit_scale must be a finite number > 0, got {bad}"):
        L.siglip_loss(randn(4, 3), randn(4, 3), logit_scale=bad, logit_bias=0.0)
    with pytest.raises(ValueError, match=rf"logit_scale must be a finite number > 0, got {bad}"):
        L.clip_loss_with_negatives(randn(4, 3), randn(4, 3), randn(5, 3), logit_scale=bad)


def test_logit_bias_must_be_finite():
    with pytest.raises(ValueError, match=r"logit_bias must be a finite number in \[-inf, inf\], got nan"):
        L.siglip_loss(randn(4, 3), randn(4, 3), logit_scale=10.0, logit_bias=math.nan)


@pytest.mark.parametrize("loss", [L.debiased_nt_xent, L.hard_negative_nt_xent], ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_tau_plus_must_be_a_probability_below_one(loss, bad):
    with pytest.raises(ValueError, match=rf"tau_plus must be a finite number in \[0.0, 1.0\), got {bad}"):
        loss(randn(4, 3), randn(4, 3), tau_plus=bad)


def test_beta_must_be_non_negative():
    with pytest.raises(ValueError, match=r"beta must be a finite number in \[0.0, inf\], got -1.0"):
        L.hard_negative_nt_xent(randn(4, 3), randn(4, 3), beta=-1.0)


@pytest.mark.parametrize("name, kwargs", [("alpha", {"alpha": 0}), ("t", {"t": -2})])
def test_alignment_and_uniformity_parameters(name, kwargs):
    with pytest.raises(ValueError, match=rf"{name} must be a finite number > 0"):
        if name == "alpha":
            L.alignment(randn(4, 3), randn(4, 3), **kwargs)
        else:
            L.uniformity(randn(4, 3), **kwargs)


@pytest.mark.parametrize("name", ["sim_weight", "var_weight", "cov_weight"])
def test_vicreg_weights_are_non_negative(name):
    with pytest.raises(ValueError, match=rf"{name} must be a finite number in \[0.0, inf\], got -1.0"):
        L.vicreg(randn(4, 3), randn(4, 3), **{name: -1.0})


def test_barlow_lambda_is_non_negative():
    with pytest.raises(ValueError, match=r"lambda_ must be a finite number in \[0.0, inf\], got -0.5"):
        L.barlow_twins(randn(4, 3), randn(4, 3), lambda_=-0.5)


class TestInfoNCENegatives:
    def test_wrong_feature_size(self):
        with pytest.raises(ValueError, match=r"negatives must have shape \(M, 3\) shared or \(4, M, 3\) per query, "
                                             r"got \(10, 5\)"):
            L.info_nce(randn(4, 3), randn(4, 3), randn(10, 5))

    def test_per_query_negatives_for_another_batch(self):
        with pytest.raises(ValueError, match=r"got \(5, 2, 3\)"):
            L.info_nce(randn(4, 3), randn(4, 3), randn(5, 2, 3))

    def test_wrong_rank(self):
        with pytest.raises(ValueError, match=r"got \(3,\)"):
            L.info_nce(randn(4, 3), randn(4, 3), randn(3))

    def test_not_a_tensor(self):
        with pytest.raises(TypeError, match=r"negatives must be None or a torch.Tensor, got list"):
            L.info_nce(randn(4, 3), randn(4, 3), [[0.0, 1.0, 2.0]])

    def test_non_finite(self):
        negatives = randn(6, 3)
        negatives[0, 0] = math.nan
        with pytest.raises(ValueError, match=r"negatives must be finite"):
            L.info_nce(randn(4, 3), randn(4, 3), negatives)

    def test_symmetric_needs_in_batch_negatives(self):
        with pytest.raises(ValueError, match=r"symmetric=True needs in-batch negatives"):
            L.info_nce(randn(4, 3), randn(4, 3), randn(6, 3), symmetric=True)

    def test_symmetric_must_be_a_bool(self):
        with pytest.raises(TypeError, match=r"symmetric must be a bool, got str"):
            L.info_nce(randn(4, 3), randn(4, 3), symmetric="yes")


class TestFilteredInputs:
    @pytest.mark.parametrize("bad", [1.5, -1.01, math.nan, math.inf])
    def test_threshold_is_a_cosine(self, bad):
        """A cosine lies in [-1, 1]: a threshold outside is a mistake, not "drop nothing"/"drop all"."""
        with pytest.raises(ValueError, match=rf"threshold must be a finite number in \[-1.0, 1.0\], got {bad}"):
            L.filtered_nt_xent(randn(4, 3), randn(4, 3), threshold=bad)

    def test_threshold_type(self):
        with pytest.raises(TypeError, match=r"threshold must be a float, got str"):
            L.filtered_nt_xent(randn(4, 3), randn(4, 3), threshold="0.5")

    def test_cluster_ids(self):
        with pytest.raises(ValueError, match=r"cluster_ids must have shape \(4,\), one label per sample, got \(3,\)"):
            L.filtered_nt_xent(randn(4, 3), randn(4, 3), cluster_ids=torch.zeros(3, dtype=torch.long))
        with pytest.raises(TypeError, match=r"cluster_ids must have an integer dtype"):
            L.filtered_nt_xent(randn(4, 3), randn(4, 3), cluster_ids=torch.zeros(4))
        with pytest.raises(TypeError, match=r"cluster_ids must be a torch.Tensor of integer class labels, got list"):
            L.filtered_nt_xent(randn(4, 3), randn(4, 3), cluster_ids=[0, 1, 0, 1])

    def test_reference(self):
        with pytest.raises(ValueError, match=r"reference must have 2N = 8 rows \(the stacked views "
                                             r"cat\(\[z1, z2\]\)\), got shape \(5, 2\)"):
            L.filtered_nt_xent(randn(4, 3), randn(4, 3), threshold=0.5, reference=randn(5, 2))
        reference = randn(8, 2)
        reference[3, 1] = math.nan
        with pytest.raises(ValueError, match=r"reference must be finite"):
            L.filtered_nt_xent(randn(4, 3), randn(4, 3), threshold=0.5, reference=reference)

    def test_the_mask_checks_its_views(self):
        with pytest.raises(ValueError, match=r"z1 and z2 must have the same shape, got \(4, 3\) and \(6, 3\)"):
            L.false_negative_mask(randn(4, 3), randn(6, 3), threshold=0.5)
        with pytest.raises(ValueError, match=r"z1 must have at least 2 rows"):
            L.false_negative_mask(randn(1, 3), randn(1, 3))
        with pytest.raises(TypeError, match=r"z2 must be a torch.Tensor, got list"):
            L.false_negative_mask(randn(2, 2), [[1.0, 2.0], [3.0, 4.0]])


class TestNegativesOfNegCLIP:
    def test_wrong_feature_size(self):
        with pytest.raises(ValueError, match=r"b_negatives must have shape \(M, 3\), got \(2, 5\)"):
            L.clip_loss_with_negatives(randn(4, 3), randn(4, 3), randn(2, 5), logit_scale=1.0)

    @pytest.mark.parametrize("shape", [(5,), (2, 2, 3)])
    def test_wrong_rank(self, shape):
        with pytest.raises(ValueError, match=r"b_negatives must be a 2-d tensor"):
            L.clip_loss_with_negatives(randn(4, 3), randn(4, 3), randn(*shape), logit_scale=1.0)

    def test_non_finite_and_not_a_tensor(self):
        negatives = randn(6, 3)
        negatives[2, 0] = math.inf
        with pytest.raises(ValueError, match=r"b_negatives must be finite, got 1 NaN or inf value\(s\)"):
            L.clip_loss_with_negatives(randn(4, 3), randn(4, 3), negatives, logit_scale=1.0)
        with pytest.raises(TypeError, match=r"b_negatives must be a torch.Tensor, got list"):
            L.clip_loss_with_negatives(randn(4, 3), randn(4, 3), [[0.0, 1.0, 2.0]], logit_scale=1.0)


class TestSupConInputs:
    def test_features_rank(self):
        with pytest.raises(ValueError, match=r"features must be a 3-d tensor \(N, M, D\) or \(N, V, D\), got shape \(4, 3\)"):
            L.supcon(randn(4, 3), torch.arange(4))

    def test_labels_length(self):
        with pytest.raises(ValueError, match=r"labels must have shape \(4,\), one label per sample, got \(3,\)"):
            L.supcon(randn(4, 2, 3), torch.arange(3))

    def test_labels_rank(self):
        with pytest.raises(ValueError, match=r"labels must have shape \(4,\), one label per sample, got \(4, 1\)"):
            L.supcon(randn(4, 2, 3), torch.arange(4)[:, None])

    @pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
    def test_labels_dtype(self, dtype):
        with pytest.raises(TypeError, match=rf"labels must have an integer dtype \(e.g. torch.long\), got {dtype}"):
            L.supcon(randn(4, 2, 3), torch.zeros(4, dtype=dtype))

    def test_labels_type(self):
        with pytest.raises(TypeError, match=r"labels must be a torch.Tensor of integer class labels, got list"):
            L.supcon(randn(4, 2, 3), [0, 1, 0, 1])

    def test_no_anchor_has_a_positive(self):
        with pytest.raises(ValueError, match=r"supcon needs at least one anchor with a positive; got V=1 view\(s\)"):
            L.supcon(randn(4, 1, 3), torch.arange(4))


def test_learnable_logit_scale_arguments():
    with pytest.raises(ValueError, match=r"init_scale must be <= max_scale=100.0, got 200.0"):
        L.LearnableLogitScale(init_scale=200.0)
    with pytest.raises(ValueError, match=r"init_scale must be a finite number > 0, got 0.0"):
        L.LearnableLogitScale(init_scale=0.0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("case", [c for c in CASES if c.name != "uniformity"], ids=lambda c: c.name)
def test_inputs_on_different_devices(case):
    inputs = make_inputs(case, 4, 3)
    moved = [inputs[0].cuda(), *inputs[1:]]
    with pytest.raises(ValueError, match=r"must be on one device|must be on the features' device"):
        case.loss(*moved, **case.kwargs)
