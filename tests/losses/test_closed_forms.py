"""Closed-form values: numbers a learner can check by hand."""

import math

import pytest
import torch

import contrastlab.losses as L
from contrastlab.losses.core import positive_nll

TEMPERATURES = [0.005, 0.07, 0.5, 3.0]
IMPLS = ["dense", "tiled"]  # every in-batch loss's two paths: the closed forms hold for both


def identical(n, d=4, dtype=torch.float64):
    return torch.ones(n, d, dtype=dtype) * torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=dtype)[:d]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n", [2, 3, 16])
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_nt_xent_of_identical_embeddings_is_log_2n_minus_1(n, temperature, impl):
    z = identical(n)
    assert float(L.nt_xent(z, z, temperature=temperature, impl=impl)) == pytest.approx(math.log(2 * n - 1), abs=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n", [2, 5, 16])
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_info_nce_and_clip_of_identical_embeddings_are_log_n(n, temperature, impl):
    z = identical(n)
    assert float(L.info_nce(z, z, temperature=temperature, impl=impl)) == pytest.approx(math.log(n), abs=1e-12)
    assert float(L.info_nce(z, z, temperature=temperature, symmetric=True, impl=impl)) == pytest.approx(math.log(n),
                                                                                                        abs=1e-12)
    assert float(L.clip_loss(z, z, logit_scale=1 / temperature, impl=impl)) == pytest.approx(math.log(n), abs=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n", [2, 4, 8])
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_identical_positives_and_orthogonal_negatives(n, temperature, impl):
    z = torch.eye(8, dtype=torch.float64)[:n] * 3.0  # orthogonal rows, any length
    # log-sum-exp minus the positive logit is exact to a few ulps of the logits (about 1/tau)
    tol = 1e-14 * (1 + 1 / temperature)
    expected = math.log1p((2 * n - 2) * math.exp(-1 / temperature))
    assert float(L.nt_xent(z, z, temperature=temperature, impl=impl)) == pytest.approx(expected, abs=tol)
    # the decoupled loss drops the positive from the denominator: log(2N - 2) - 1/tau
    expected_dcl = math.log(2 * n - 2) - 1 / temperature
    assert float(L.decoupled_nt_xent(z, z, temperature=temperature, impl=impl)) == pytest.approx(expected_dcl, abs=tol)
    # one-directional in-batch InfoNCE has N - 1 negatives
    expected_nce = math.log1p((n - 1) * math.exp(-1 / temperature))
    assert float(L.info_nce(z, z, temperature=temperature, impl=impl)) == pytest.approx(expected_nce, abs=tol)


@pytest.mark.parametrize("impl", IMPLS)
def test_tau_plus_zero_recovers_nt_xent_and_beta_zero_recovers_debiased(impl):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 7, 5, generator=g, dtype=torch.float64)
    plain = L.nt_xent(z1, z2, temperature=0.3, impl=impl)
    debiased = L.debiased_nt_xent(z1, z2, temperature=0.3, tau_plus=0.0, impl=impl)
    assert float(debiased) == pytest.approx(float(plain), rel=1e-13)
    hard = L.hard_negative_nt_xent(z1, z2, temperature=0.3, tau_plus=0.0, beta=0.0, impl=impl)
    assert float(hard) == pytest.approx(float(plain), rel=1e-13)
    for tau_plus in (0.05, 0.2):
        debiased = L.debiased_nt_xent(z1, z2, temperature=0.3, tau_plus=tau_plus, impl=impl)
        hard = L.hard_negative_nt_xent(z1, z2, temperature=0.3, tau_plus=tau_plus, beta=0.0, impl=impl)
        assert float(hard) == pytest.approx(float(debiased), rel=1e-13)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n, v", [(3, 1), (4, 2), (2, 3)])
def test_supcon_of_one_collapsed_class_is_log_nv_minus_1(n, v, impl):
    features = identical(n * v).reshape(n, v, -1)
    labels = torch.zeros(n, dtype=torch.long)
    value = L.supcon(features, labels, temperature=0.1, impl=impl)
    assert float(value) == pytest.approx(math.log(n * v - 1), abs=1e-12)


@pytest.mark.parametrize("impl", IMPLS)
def test_siglip_of_identical_embeddings(impl):
    n, t, b = 5, 10.0, -10.0
    z = identical(n)
    x = t + b  # every logit
    log_sigmoid = lambda u: -math.log1p(math.exp(-u))  # noqa: E731
    expected = -(n * log_sigmoid(x) + (n * n - n) * log_sigmoid(-x)) / n
    assert float(L.siglip_loss(z, z, logit_scale=t, logit_bias=b, impl=impl)) == pytest.approx(expected, rel=1e-12)


def test_uniformity_and_alignment_reference_values():
    z = identical(6)
    assert float(L.uniformity(z)) == pytest.approx(0.0, abs=1e-12)  # collapsed set
    assert float(L.alignment(z, 2 * z)) == pytest.approx(0.0, abs=1e-12)  # identical directions
    orthonormal = torch.eye(5, dtype=torch.float64)
    assert float(L.uniformity(orthonormal, t=2)) == pytest.approx(-4.0, abs=1e-12)  # every distance^2 = 2
    assert float(L.alignment(orthonormal, -orthonormal)) == pytest.approx(4.0, abs=1e-12)  # antipodal pairs


def test_negative_cosine_of_a_collapsed_batch_is_minus_one():
    z = identical(4)
    assert float(L.negative_cosine(z, z)) == pytest.approx(-1.0, abs=1e-12)


def test_vicreg_invariance_term_vanishes_for_identical_views():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(16, 3, generator=g, dtype=torch.float64)
    only_invariance = L.vicreg(z, z, sim_weight=1.0, var_weight=0.0, cov_weight=0.0)
    assert float(only_invariance) == 0.0
    assert float(L.vicreg(z, z + 1, sim_weight=1.0, var_weight=0.0, cov_weight=0.0)) == pytest.approx(1.0)


def test_barlow_twins_of_decorrelated_identical_views_is_nearly_zero():
    # columns of a scaled Hadamard matrix: zero mean, unit biased variance, uncorrelated
    h = torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=torch.float64)
    z = h[:, 1:] * 5.0
    eps_share = 1e-5 / (25.0 + 1e-5)  # BatchNorm's eps leaves C_ii = 25 / (25 + eps)
    assert float(L.barlow_twins(z, z)) == pytest.approx(3 * eps_share**2, rel=1e-6)


@pytest.mark.parametrize("temperature", [0.05, 0.5])
def test_gradient_identity_of_the_core(temperature):
    """d l_i / d s_ik = p_ik / tau for every negative k and -(1 - p_ii) / tau for the positive (Wang & Liu 2021)."""
    g = torch.Generator().manual_seed(2)
    s = torch.empty(5, 5, dtype=torch.float64).uniform_(-1, 1, generator=g).requires_grad_()
    target = torch.arange(5)
    for i in range(5):
        (grad,) = torch.autograd.grad(positive_nll(s / temperature, target)[i], s)
        p = torch.softmax(s[i].detach() / temperature, dim=0)
        expected = p / temperature
        expected[i] = -(1 - p[i]) / temperature
        torch.testing.assert_close(grad[i], expected, rtol=1e-12, atol=0)
        assert float(grad[torch.arange(5) != i].abs().max()) == 0.0  # only row i moves


def test_info_nce_gradient_on_the_sphere():
    """For unit-norm inputs, d loss / d q_i = (1 - q_i q_iᵀ) Σ_j (p_ij - δ_ij) p_j / (N tau)."""
    g = torch.Generator().manual_seed(3)
    n, tau = 6, 0.2
    q = torch.nn.functional.normalize(torch.randn(n, 4, generator=g, dtype=torch.float64), dim=1).requires_grad_()
    p = torch.nn.functional.normalize(torch.randn(n, 4, generator=g, dtype=torch.float64), dim=1)
    (grad,) = torch.autograd.grad(L.info_nce(q, p, temperature=tau), q)
    probs = torch.softmax(q.detach() @ p.T / tau, dim=1)  # (N, N)
    euclidean = (probs - torch.eye(n, dtype=torch.float64)) @ p / (n * tau)  # (N, D)
    qd = q.detach()
    tangent = euclidean - (euclidean * qd).sum(1, keepdim=True) * qd
    torch.testing.assert_close(grad, tangent, rtol=1e-10, atol=1e-12)


def test_info_nce_mutual_information_bound():
    """The in-batch loss lies in [0, log N], and a perfectly aligned, spread batch gives about 0."""
    n = 16
    z = torch.eye(n, dtype=torch.float64)
    loss = float(L.info_nce(z, z, temperature=0.01))
    assert 0 <= loss < 1e-30
    g = torch.Generator().manual_seed(4)
    noise = torch.randn(n, 32, generator=g, dtype=torch.float64)
    assert 0 < math.log(n) - float(L.info_nce(noise, noise, temperature=0.1)) <= math.log(n)


def test_oracle_negatives():
    g = torch.Generator().manual_seed(5)
    z1, z2 = torch.randn(2, 6, 4, generator=g, dtype=torch.float64)
    distinct = torch.arange(6)
    assert float(L.oracle_nt_xent(z1, z2, distinct, temperature=0.3)) == pytest.approx(
        float(L.nt_xent(z1, z2, temperature=0.3)), rel=1e-13)
    one_class = torch.zeros(6, dtype=torch.long)
    assert float(L.oracle_nt_xent(z1, z2, one_class)) == 0.0  # no true negative: only the positive remains
    with pytest.raises(ValueError, match=r"labels must have shape \(6,\)"):
        L.oracle_nt_xent(z1, z2, torch.arange(5))


# ------------------------------------------------------------------------------------------------
# filtered_nt_xent: a filter that drops nothing is nt_xent; the labels as clusters are the oracle
# ------------------------------------------------------------------------------------------------

def two_views(n=7, d=5, seed=6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_filtered_nt_xent_without_a_filter_is_nt_xent(temperature):
    z1, z2 = two_views()
    plain = float(L.nt_xent(z1, z2, temperature=temperature))
    assert float(L.filtered_nt_xent(z1, z2, temperature=temperature)) == pytest.approx(plain, rel=1e-12)
    # a cosine reaches 1 only for parallel rows: threshold 1 drops nothing among distinct directions
    assert not L.false_negative_mask(z1, z2, threshold=1.0).any()
    assert float(L.filtered_nt_xent(z1, z2, temperature=temperature, threshold=1.0)) == pytest.approx(plain, rel=1e-12)


@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("labels", [[0, 1, 2, 0, 1, 2, 0], [0, 0, 0, 1, 1, 1, 1], [4, 4, 4, 4, 4, 4, 4],
                                    [0, 1, 2, 3, 4, 5, 6]])
def test_filtered_nt_xent_with_the_labels_as_clusters_is_the_oracle(temperature, labels):
    z1, z2 = two_views()
    labels = torch.tensor(labels)
    oracle = float(L.oracle_nt_xent(z1, z2, labels, temperature=temperature))
    got = float(L.filtered_nt_xent(z1, z2, temperature=temperature, cluster_ids=labels))
    assert got == pytest.approx(oracle, rel=1e-12, abs=1e-15)


def test_filtered_nt_xent_that_drops_every_negative_is_zero():
    """Threshold -1 (every cosine is >= -1), one cluster, or a collapsed batch under any threshold <= 0.99:
    each anchor keeps only its positive, so every anchor scores log(e^x) - x = 0."""
    z1, z2 = two_views(n=6)
    drop = L.false_negative_mask(z1, z2, threshold=-1.0)
    assert drop.shape == (12, 12)  # (2N, 2N): anchor by candidate
    assert int(drop.sum()) == 12 * 10  # all 2N - 2 negatives of all 2N anchors
    index = torch.arange(12)
    assert not drop[index, index].any() and not drop[index, (index + 6) % 12].any()  # never self or twin
    assert float(L.filtered_nt_xent(z1, z2, threshold=-1.0)) == 0.0
    assert float(L.filtered_nt_xent(z1, z2, cluster_ids=torch.zeros(6, dtype=torch.long))) == 0.0
    z = identical(6)
    assert float(L.filtered_nt_xent(z, z, temperature=0.1)) == pytest.approx(math.log(11), abs=1e-12)
    assert float(L.filtered_nt_xent(z, z, temperature=0.1, threshold=0.99)) == 0.0


def test_filters_combine_as_a_union():
    z1, z2 = two_views(n=8)
    ids = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    both = L.false_negative_mask(z1, z2, threshold=0.4, cluster_ids=ids)
    either = L.false_negative_mask(z1, z2, threshold=0.4) | L.false_negative_mask(z1, z2, cluster_ids=ids)
    assert torch.equal(both, either) and 0 < int(both.sum()) < 16 * 14


# ------------------------------------------------------------------------------------------------
# clip_loss_with_negatives (NegCLIP): far negatives leave clip_loss; b -> a never sees the negatives
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n, m", [(2, 1), (5, 3), (16, 40)])
@pytest.mark.parametrize("scale", [0.5, 1 / 0.07, 200.0])
def test_clip_with_negatives_of_identical_embeddings(n, m, scale):
    """Every logit is t (in-batch) or -t (antipodal negatives): a -> b is log(N + M e^{-2t}), b -> a log N;
    negatives equal to the batch instead give log(N + M)."""
    z = identical(n)
    antipodal = -identical(m)
    expected = (math.log(n + m * math.exp(-2 * scale)) + math.log(n)) / 2
    assert float(L.clip_loss_with_negatives(z, z, antipodal, logit_scale=scale)) == pytest.approx(expected, abs=1e-12)
    expected_same = (math.log(n + m) + math.log(n)) / 2
    assert float(L.clip_loss_with_negatives(z, z, identical(m), logit_scale=scale)) == pytest.approx(expected_same,
                                                                                                    abs=1e-12)


def test_clip_with_far_negatives_tends_to_clip_loss():
    """Towers in a cone around e0 and negatives around -e0: each a_i's extra mass M e^{t a_i.n_k} vanishes
    against its in-batch mass, and the gap is at most half the largest ratio of the two (log(1 + x) <= x)."""
    g = torch.Generator().manual_seed(7)
    e0 = torch.zeros(6, dtype=torch.float64)
    e0[0] = 1.0
    a, b = (e0 + 0.3 * torch.randn(8, 6, generator=g, dtype=torch.float64) for _ in range(2))
    negatives = -e0 + 0.3 * torch.randn(5, 6, generator=g, dtype=torch.float64)
    normalize = torch.nn.functional.normalize
    assert float((normalize(a, dim=1) @ normalize(negatives, dim=1).T).max()) < 0  # far from every a
    gaps = []
    for scale in (1.0, 5.0, 10.0, 30.0):
        with_negatives = L.clip_loss_with_negatives(a, b, negatives, logit_scale=scale)
        gap = float(with_negatives - L.clip_loss(a, b, logit_scale=scale))
        extra = torch.logsumexp(scale * normalize(a, dim=1) @ normalize(negatives, dim=1).T, dim=1)  # (N,)
        in_batch = torch.logsumexp(scale * normalize(a, dim=1) @ normalize(b, dim=1).T, dim=1)  # (N,)
        assert 0 <= gap <= float((extra - in_batch).exp().max()) / 2 + 1e-14  # + the rounding of two losses
        gaps.append(gap)
    assert gaps == sorted(gaps, reverse=True) and gaps[0] > 0.05 and gaps[-1] < 1e-12


def test_clip_with_negatives_is_two_info_nce_directions_and_b_to_a_ignores_the_negatives():
    """a -> b is InfoNCE with per-query negatives (the other b's and the M extra ones); b -> a is the
    plain in-batch InfoNCE(b, a), whatever the negatives."""
    g = torch.Generator().manual_seed(8)
    a, b = torch.randn(2, 6, 4, generator=g, dtype=torch.float64)
    scale = 4.0  # temperature 0.25, exact in binary
    b_to_a = float(L.info_nce(b, a, temperature=1 / scale))
    for m, seed in [(1, 9), (7, 10)]:
        negatives = torch.randn(m, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        others = torch.stack([torch.cat([b[torch.arange(6) != i], negatives]) for i in range(6)])  # (N, N-1+M, D)
        a_to_b = float(L.info_nce(a, b, others, temperature=1 / scale))
        value = float(L.clip_loss_with_negatives(a, b, negatives, logit_scale=scale))
        assert value == pytest.approx((a_to_b + b_to_a) / 2, rel=1e-13)
        assert value > float(L.clip_loss(a, b, logit_scale=scale))  # more candidates for a -> b: a larger loss
        assert 2 * value - a_to_b == pytest.approx(b_to_a, rel=1e-12)  # the same b -> a term for every negative set
