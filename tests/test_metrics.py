"""Each diagnostic on a case that can be computed by hand."""

import math

import numpy as np
import pytest
import torch

import contrastlab.losses as L
from contrastlab import metrics as M


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def collapsed(n=10, d=6):
    return torch.ones(n, d, dtype=torch.float64)


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_alignment_and_uniformity_are_the_loss_values():
    x, y = torch.randn(2, 20, 5, generator=gen(), dtype=torch.float64)
    assert M.alignment(x, y) == float(L.alignment(x, y))
    assert M.uniformity(x) == float(L.uniformity(x))


def test_chunked_uniformity_equals_the_dense_value():
    x = torch.randn(300, 4, generator=gen(1), dtype=torch.float64)
    assert M.uniformity(x, chunk_size=64) == pytest.approx(float(L.uniformity(x)), abs=1e-12)
    assert M.uniformity(x, t=0.5, chunk_size=7) == pytest.approx(float(L.uniformity(x, t=0.5)), abs=1e-12)


def test_collapsed_batch():
    z = collapsed()
    assert M.uniformity(z) == pytest.approx(0.0, abs=1e-12)
    assert M.collapse_std(z) == pytest.approx(0.0, abs=1e-12)
    assert M.mean_norm(z) == pytest.approx(1.0)
    assert M.anisotropy(z) == pytest.approx(1.0)
    assert M.effective_rank(z) == pytest.approx(1.0)
    assert M.rankme(z) == pytest.approx(1.0, abs=1e-5)
    assert M.numerical_rank(z, center=False) == 1
    assert M.effective_rank(z, center=True) == 0.0  # no variance left


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_centred_spectrum_of_a_constant_batch_is_zero_in_any_precision(dtype):
    # a row whose mean is not exactly representable: centring leaves rounding residue
    row = torch.tensor([[0.1, -2.7, 3.3, 1e-3, 7.9, -0.37, 0.61, 5.5]], dtype=torch.float64) * 3.7
    z = row.to(dtype).expand(257, 8).contiguous()
    assert float(M.singular_values(z).abs().max()) == 0.0
    assert M.effective_rank(z, center=True) == 0.0
    assert M.numerical_rank(z) == 0
    # ... while a real, tiny spread survives the floor
    noise = torch.randn(257, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = z.to(torch.float64) + 1e-6 * noise
    assert M.numerical_rank(z) == 8


@pytest.mark.parametrize("n", [1, 3, 16])
def test_effective_rank_of_the_identity_is_its_size(n):
    eye = torch.eye(n, dtype=torch.float64)
    assert M.effective_rank(eye) == pytest.approx(n, rel=1e-12)
    assert M.rankme(eye) == pytest.approx(n, rel=1e-5)
    assert M.numerical_rank(eye, center=False) == n


def test_effective_rank_of_a_two_level_spectrum():
    z = torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64))
    p = torch.tensor([0.75, 0.25], dtype=torch.float64)
    assert M.effective_rank(z) == pytest.approx(math.exp(float(-(p * p.log()).sum())))


def test_singular_values_are_sorted_and_centring_removes_the_mean():
    z = torch.randn(50, 5, generator=gen(2), dtype=torch.float64) + 10
    s_raw, s_centred = M.singular_values(z, center=False), M.singular_values(z)
    assert torch.all(s_raw[:-1] >= s_raw[1:])
    assert s_raw[0] > 5 * s_centred[0]  # the mean dominates the uncentred spectrum


def test_spread_embeddings_have_std_near_one_over_sqrt_d():
    d = 64
    z = torch.randn(20000, d, generator=gen(3), dtype=torch.float64)
    assert M.collapse_std(z) == pytest.approx(1 / math.sqrt(d), rel=0.02)
    assert M.mean_norm(z) < 0.02
    assert abs(M.anisotropy(z)) < 1e-3


def test_anisotropy_matches_the_pairwise_mean():
    z = torch.randn(30, 4, generator=gen(4), dtype=torch.float64) + 1
    s = M.similarity_matrix(z)
    off = s[~torch.eye(30, dtype=torch.bool)]
    assert M.anisotropy(z) == pytest.approx(float(off.mean()), abs=1e-12)


def test_tolerance_matches_the_same_class_pairwise_mean():
    z = torch.randn(40, 5, generator=gen(5), dtype=torch.float64)
    labels = torch.randint(0, 4, (40,), generator=gen(6))
    s = M.similarity_matrix(z)
    same = (labels[:, None] == labels[None, :]) & ~torch.eye(40, dtype=torch.bool)
    assert M.tolerance(z, labels) == pytest.approx(float(s[same].mean()), abs=1e-12)
    assert M.tolerance(collapsed(6), torch.tensor([0, 0, 1, 1, 2, 2])) == pytest.approx(1.0)


def test_tolerance_needs_a_pair():
    with pytest.raises(ValueError, match="at least one class with two samples"):
        M.tolerance(torch.randn(3, 2), torch.tensor([0, 1, 2]))


@pytest.mark.parametrize("k", [2, 5, 10])
def test_collision_rate_is_about_one_over_k(k):
    labels = torch.arange(1000) % k
    per_class = 1000 // k
    assert M.collision_rate(labels) == pytest.approx(k * per_class * (per_class - 1) / (1000 * 999))
    assert M.collision_rate(labels) == pytest.approx(1 / k, rel=0.01)


@pytest.mark.parametrize("dim", [2, 3])
def test_uniform_sphere_uniformity_closed_forms(dim):
    t = 2.0
    if dim == 2:
        expected = math.log(torch.special.i0e(torch.tensor(2 * t, dtype=torch.float64)).item())
    else:
        expected = math.log(math.sinh(2 * t) / (2 * t)) - 2 * t
    assert M.uniform_sphere_uniformity(dim, t=t) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dim", [2, 8, 32])
def test_uniform_sphere_uniformity_matches_samples(dim):
    z = torch.randn(6000, dim, generator=gen(dim), dtype=torch.float64)
    assert M.uniformity(z) == pytest.approx(M.uniform_sphere_uniformity(dim), abs=0.02)


def test_candidate_probabilities_are_the_gradient_weights():
    s = torch.empty(6, 6, dtype=torch.float64).uniform_(-1, 1, generator=gen(7))
    p = M.candidate_probabilities(s, temperature=0.2)
    torch.testing.assert_close(p.sum(1), torch.ones(6, dtype=torch.float64))
    leaf = s.clone().requires_grad_()
    from contrastlab.losses.core import positive_nll
    (grad,) = torch.autograd.grad(positive_nll(leaf / 0.2, torch.arange(6)).sum(), leaf)
    off = ~torch.eye(6, dtype=torch.bool)
    torch.testing.assert_close(grad[off], (p / 0.2)[off])


def test_lower_temperature_concentrates_weight_on_the_hardest_negative():
    s = torch.tensor([[1.0, 0.9, 0.5, 0.1, -0.3]])
    hardest = [float(M.candidate_probabilities(s, temperature=t, positive_index=torch.tensor([0]))[0, 1]
                     / M.candidate_probabilities(s, temperature=t, positive_index=torch.tensor([0]))[0, 1:].sum())
               for t in (1.0, 0.3, 0.05)]
    assert hardest[0] < hardest[1] < hardest[2]


def test_negative_positive_coupling():
    n, tau = 8, 0.5
    eye = torch.eye(n, dtype=torch.float64)  # s_ii = 1, s_ij = 0
    q = M.negative_positive_coupling(eye, temperature=tau)
    expected = 1 - math.exp(1 / tau) / (math.exp(1 / tau) + n - 1)
    torch.testing.assert_close(q, torch.full((n,), expected, dtype=torch.float64))
    small = M.negative_positive_coupling(torch.eye(2, dtype=torch.float64), temperature=tau)
    assert float(small[0]) < expected  # fewer negatives: weaker coupling factor, smaller gradient


def test_positive_rank_accuracy():
    q = torch.eye(4)
    assert M.positive_rank_accuracy(q, q) == {1: 1.0, 5: 1.0}
    shifted = q.roll(1, dims=0)  # every positive is someone else's
    assert M.positive_rank_accuracy(q, shifted, topk=(1, 2)) == {1: 0.0, 2: 0.0}
    assert M.positive_rank_accuracy(collapsed(5), collapsed(5), topk=(1, 5)) == {1: 0.0, 5: 1.0}  # ties count against
    negatives = torch.tensor([[1.0, 0.1, 0, 0]])  # closer to query 0 than its positive below
    positive = torch.tensor([[1.0, 0.5, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    assert M.positive_rank_accuracy(q, positive, negatives, topk=(1, 2)) == {1: 0.75, 2: 1.0}


def test_positive_rank_accuracy_chunks_agree():
    q, p = torch.randn(2, 100, 8, generator=gen(8))
    assert M.positive_rank_accuracy(q, p, chunk_size=13) == M.positive_rank_accuracy(q, p)


def test_knn_accuracy_on_separated_clusters():
    centres = torch.eye(3, 8) * 10
    labels = torch.arange(90) % 3
    z = centres[labels] + torch.randn(90, 8, generator=gen(9))
    assert M.knn_accuracy(z, labels, k=5) == 1.0
    assert M.knn_accuracy(z[:60], labels[:60], z[60:], labels[60:], k=5, temperature=None) == 1.0
    shuffled = labels[torch.randperm(90, generator=gen(10))]
    assert M.knn_accuracy(z, shuffled, k=5) < 0.6
    assert M.knn_accuracy(z, labels, k=5, chunk_size=7) == 1.0


def test_knn_leave_one_out_excludes_self():
    z = torch.eye(4)
    labels = torch.tensor([0, 1, 2, 3])  # each point's only same-label neighbour is itself
    assert M.knn_accuracy(z, labels, k=1, temperature=None) == 0.0


def test_linear_probe_accuracy():
    g = gen(11)
    labels = torch.arange(200) % 2
    z = torch.randn(200, 5, generator=g)
    z[:, 0] += 4 * (2 * labels - 1)  # linearly separable along one axis
    assert M.linear_probe_accuracy(z, labels) > 0.97
    noise = torch.randn(200, 5, generator=g)
    assert M.linear_probe_accuracy(noise, labels) < 0.7


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"z must have at least 2 rows"):
        M.collapse_std(torch.randn(1, 3))
    with pytest.raises(ValueError, match=r"labels must have shape \(5,\)"):
        M.tolerance(torch.randn(5, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 4\], got 5"):
        M.knn_accuracy(torch.randn(5, 3), torch.zeros(5, dtype=torch.long), k=5)
    with pytest.raises(ValueError, match=r"dim must be an integer >= 2"):
        M.uniform_sphere_uniformity(1)
    with pytest.raises(ValueError, match=r"positive_index is required unless similarity is square"):
        M.negative_positive_coupling(torch.zeros(3, 4), temperature=0.1)
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
        M.candidate_probabilities(torch.zeros(3, 3), temperature=0)


def test_metrics_run_on_the_inputs_device(device):
    z = torch.randn(64, 8, generator=gen(12)).to(device)
    labels = (torch.arange(64) % 4).to(device)
    assert math.isfinite(M.uniformity(z, chunk_size=16))
    assert math.isfinite(M.effective_rank(z)) and math.isfinite(M.tolerance(z, labels))
    assert 0 <= M.knn_accuracy(z, labels, k=3) <= 1
    assert 0 <= M.linear_probe_accuracy(z, labels) <= 1
    assert M.negative_positive_coupling(M.similarity_matrix(z), temperature=0.1).device.type == device.type


def test_linear_r2():
    z = torch.randn(500, 3, generator=gen(13), dtype=torch.float64)
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=gen(14), dtype=torch.float64))[0]
    assert M.linear_r2(z @ rotation + 5, z) == pytest.approx(1.0, abs=1e-9)  # a linear map of z: R² = 1
    assert M.linear_r2(torch.randn(500, 3, generator=gen(15), dtype=torch.float64), z) < 0.05
    assert 0.3 < M.linear_r2(z[:, :1], z[:, :2]) < 0.7  # explains one of two unit-variance targets


def test_nt_xent_coupling_against_a_loop_and_a_closed_form():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    q = M.nt_xent_coupling(z1, z2, temperature=0.3)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    for a in range(10):
        others = [k for k in range(10) if k != a]
        weights = torch.stack([torch.exp(z[a] @ z[k] / 0.3) for k in others])
        twin = (a + 5) % 10
        assert float(q[a]) == pytest.approx(1 - float(torch.exp(z[a] @ z[twin] / 0.3) / weights.sum()), abs=1e-12)
    # a collapsed batch: the positive is one of 2N - 1 equal candidates
    same = torch.ones(4, 3)
    assert torch.allclose(M.nt_xent_coupling(same, same, temperature=0.1), torch.full((8,), 1 - 1 / 7))
    with pytest.raises(ValueError, match="temperature"):
        M.nt_xent_coupling(z1, z2, temperature=0.0)


# --- bad arguments: a clear ValueError/TypeError naming the argument, never a plausible number ---------

def _toy(n=24, d=4, classes=3, seed=0):
    g = gen(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.arange(n) % classes


@pytest.mark.parametrize("call, error, name", [
    (lambda z, y: M.knn_accuracy(z, y, k=3, temperature=0), ValueError, "temperature"),
    (lambda z, y: M.knn_accuracy(z, y, k=3, temperature=-1), ValueError, "temperature"),
    (lambda z, y: M.knn_accuracy(z, y, k=3.0), TypeError, "k"),
    (lambda z, y: M.knn_accuracy(z, y, k=3, chunk_size=0), ValueError, "chunk_size"),
    (lambda z, y: M.knn_accuracy(z, y, z[:, :2], y, k=3), ValueError, "test"),
    (lambda z, y: M.linear_r2(z, torch.ones(len(z), 2, dtype=z.dtype)), ValueError, "targets"),
    (lambda z, y: M.linear_r2(z, z, ridge=-1), ValueError, "ridge"),
    (lambda z, y: M.rankme(z, eps=-1), ValueError, "eps"),
    (lambda z, y: M.rankme(z, eps=0), ValueError, "eps"),
    (lambda z, y: M.numerical_rank(z, tol=0), ValueError, "tol"),
    (lambda z, y: M.numerical_rank(z, tol=2), ValueError, "tol"),
    (lambda z, y: M.linear_probe_accuracy(z, y, weight_decay=-1), ValueError, "weight_decay"),
    (lambda z, y: M.linear_probe_accuracy(z, y, max_iter=0), ValueError, "max_iter"),
    (lambda z, y: M.linear_probe_accuracy(z, y, max_iter=2.5), TypeError, "max_iter"),
    (lambda z, y: M.linear_probe_accuracy(z[:1], y[:1]), ValueError, "train"),
    (lambda z, y: M.linear_probe_accuracy(z[:1], y[:1], z, y), ValueError, "train"),
    (lambda z, y: M.positive_rank_accuracy(z, z, topk=(0,)), ValueError, "topk"),
    (lambda z, y: M.positive_rank_accuracy(z, z, topk=1), TypeError, "topk"),
    (lambda z, y: M.positive_rank_accuracy(z, z, chunk_size=0), ValueError, "chunk_size"),
    (lambda z, y: M.positive_rank_accuracy(z, z, z[:, :2]), ValueError, "negatives"),
    (lambda z, y: M.uniformity(z, chunk_size=0), ValueError, "chunk_size"),
    (lambda z, y: M.uniformity(z, t=0), ValueError, "t"),
    (lambda z, y: M.uniform_sphere_uniformity(2.0), TypeError, "dim"),
])
def test_bad_metric_arguments_are_refused_by_name(call, error, name):
    z, y = _toy()
    with pytest.raises(error, match=rf"\b{name}\b"):
        call(z, y)


def test_valid_edge_arguments_still_work():
    z, y = _toy()
    assert 0 <= M.knn_accuracy(z, y, k=3, temperature=None, chunk_size=1) <= 1
    assert M.positive_rank_accuracy(z, z, topk=[1, 24]) == {1: 1.0, 24: 1.0}
    assert M.linear_r2(z, 2 * z + 1, ridge=0) == pytest.approx(1.0, abs=1e-9)
    assert 0 <= M.linear_probe_accuracy(z[:4], y[:4], max_iter=1) <= 1
    assert M.numerical_rank(z, tol=0.999) == 1


# --- the modality gap ----------------------------------------------------------------------------------

def test_modality_gap_matches_numpy_with_different_row_counts(device):
    a, b = randn(40, 6, seed=1, dtype=torch.float64), randn(25, 6, seed=2, dtype=torch.float64) + 0.5
    expected = np.linalg.norm(unit(a.numpy()).mean(0) - unit(b.numpy()).mean(0))
    assert M.modality_gap(a.to(device), b.to(device)) == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(M.gap_vector(a, b).numpy(), unit(a.numpy()).mean(0) - unit(b.numpy()).mean(0))


def test_modality_gap_closed_forms_and_scale_invariance():
    a = randn(30, 5, seed=3)
    assert M.modality_gap(a, a) == pytest.approx(0.0, abs=1e-7)
    assert M.modality_gap(a, 7.0 * a[torch.randperm(30)]) == pytest.approx(0.0, abs=1e-6)  # rows rescaled, shuffled
    e = torch.eye(5)
    assert M.modality_gap(e[:1].repeat(4, 1), -e[:1].repeat(3, 1)) == pytest.approx(2.0)  # opposite points
    assert M.modality_gap(e[:1].repeat(4, 1), e[1:2].repeat(4, 1)) == pytest.approx(math.sqrt(2))  # orthogonal


def test_modality_gap_validates():
    with pytest.raises(ValueError, match="same dimension"):
        M.modality_gap(randn(4, 3), randn(4, 5))
    with pytest.raises(ValueError, match="b must be finite"):
        M.modality_gap(randn(4, 3), torch.full((4, 3), float("nan")))
    with pytest.raises(TypeError, match="a must be a torch.Tensor"):
        M.modality_gap(np.ones((4, 3)), randn(4, 3))


@pytest.mark.parametrize("dim", [384, 768, 4096])
def test_uniform_sphere_uniformity_in_high_dimensions_is_finite_and_matches_a_monte_carlo_mean(dim):
    value = M.uniform_sphere_uniformity(dim)
    assert math.isfinite(value) and value < 0
    g = gen(dim)
    x = torch.nn.functional.normalize(torch.randn(4000, dim, generator=g, dtype=torch.float64), dim=1)
    y = torch.nn.functional.normalize(torch.randn(4000, dim, generator=g, dtype=torch.float64), dim=1)
    monte_carlo = float(torch.log(torch.exp(-2 * (x - y).pow(2).sum(1)).mean()))
    assert value == pytest.approx(monte_carlo, abs=0.02)


def test_uniform_sphere_uniformity_is_continuous_where_the_quadrature_takes_over():
    below, above = M.uniform_sphere_uniformity(600), M.uniform_sphere_uniformity(700)
    assert above < below and abs(above - below) < 0.5
