"""contrastlab.lessons.two_towers_clip: the modality gap, Procrustes amending, the scaled logit scale, LiT and NegCLIP pieces."""

import math

import numpy as np
import pytest
import torch

import contrastlab
from contrastlab import data as D
from contrastlab import losses
from contrastlab import metrics as M
from contrastlab.lessons import two_towers_clip as TT
from contrastlab.methods import CLIP, NegCLIP


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def random_rotation(d, seed=0):
    q, _ = torch.linalg.qr(randn(d, d, seed=seed, dtype=torch.float64))
    return q


# ---------------------------------------------------------------------------------------- the gap

def test_shift_embeddings_closes_and_widens_the_gap():
    direction_a, direction_b = torch.zeros(16), torch.zeros(16)
    direction_a[0], direction_b[1] = 1.0, 1.0
    a = direction_a + 0.2 * randn(200, 16, seed=4)  # two narrow cones, gap about sqrt 2
    b = direction_b + 0.2 * randn(200, 16, seed=5)
    gap = M.modality_gap(a, b)
    same_a, same_b = TT.shift_embeddings(a, b, 0.0)
    torch.testing.assert_close(same_a, torch.nn.functional.normalize(a, dim=1))
    torch.testing.assert_close(same_b, torch.nn.functional.normalize(b, dim=1))
    closed = M.modality_gap(*TT.shift_embeddings(a, b, 1.0))
    wider = M.modality_gap(*TT.shift_embeddings(a, b, -0.5))
    assert closed < 0.05 * gap and wider > gap
    for x in TT.shift_embeddings(a, b, 0.6):
        torch.testing.assert_close(x.norm(dim=1), torch.ones(200))
    # numpy reference for one fraction
    ua, ub = unit(a.double().numpy()), unit(b.double().numpy())
    delta = ua.mean(0) - ub.mean(0)
    got_a, got_b = TT.shift_embeddings(a.double(), b.double(), 0.3)
    np.testing.assert_allclose(got_a.numpy(), unit(ua - 0.15 * delta), atol=1e-12)
    np.testing.assert_allclose(got_b.numpy(), unit(ub + 0.15 * delta), atol=1e-12)
    with pytest.raises(ValueError, match="fraction"):
        TT.shift_embeddings(a, b, float("inf"))


# ------------------------------------------------------------------------------- Procrustes, amend

def test_procrustes_recovers_a_known_rotation():
    r = random_rotation(8, seed=6)
    source = randn(50, 8, seed=7, dtype=torch.float64)
    got = TT.procrustes(source, source @ r)
    torch.testing.assert_close(got, r, atol=1e-10, rtol=0)
    torch.testing.assert_close(got.T @ got, torch.eye(8, dtype=torch.float64), atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="same shape"):
        TT.procrustes(randn(5, 4), randn(6, 4))


def test_rotate_output_rotates_the_embeddings_and_validates():
    tower = TT.tower(6, out_dim=5, seed=0)
    x = randn(10, 6, seed=8)
    r = random_rotation(5, seed=9).float()
    with torch.no_grad():
        before = tower(x)
        TT.rotate_output(tower, r)
        torch.testing.assert_close(tower(x), before @ r, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="rotation must be a \\(5, 5\\)"):
        TT.rotate_output(tower, torch.eye(4))
    with pytest.raises(ValueError, match="rotation must be orthogonal"):
        TT.rotate_output(tower, 2 * torch.eye(5))
    with pytest.raises(ValueError, match="no nn.Linear"):
        TT.rotate_output(torch.nn.ReLU(), torch.eye(5))


def test_amend_gap_removes_most_of_the_initial_gap(device):
    pairs = D.paired_modalities(400, seed=0, device=device)
    tower_a, tower_b = TT.tower_pair(pairs, seed=0)
    tower_b.train()
    before, after = TT.amend_gap(tower_a, tower_b, pairs.x, pairs.b)
    assert before > 1.0  # the cone effect of untrained 3-layer towers
    assert after < 0.1 * before
    assert tower_b.training  # mode kept
    with torch.no_grad():
        assert M.modality_gap(tower_a(pairs.x), tower_b(pairs.b)) == pytest.approx(after, abs=1e-6)


def test_towers_are_seeded_without_batchnorm_and_on_the_data_device(device):
    pairs = D.paired_modalities(50, seed=0, device=device)
    a1, b1 = TT.tower_pair(pairs, seed=3)
    a2, _ = TT.tower_pair(pairs, seed=3)
    state = torch.random.get_rng_state()
    TT.tower(4, seed=1)
    assert torch.equal(state, torch.random.get_rng_state())  # the global random state is untouched
    for p, q in zip(a1.parameters(), a2.parameters()):
        assert torch.equal(p, q)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in a1.modules())
    assert next(b1.parameters()).device.type == torch.device(device).type
    with pytest.raises(ValueError, match="depth"):
        TT.tower(4, depth=0)
    with pytest.raises(TypeError, match="data must be paired"):
        TT.tower_pair(D.vmf_mixture(50, seed=0))


# ---------------------------------------------------------------------------------- logit scale

def test_clip_method_learns_the_scale_at_its_own_learning_rate_without_weight_decay():
    method = TT.clip_method(TT.tower(4, seed=0), TT.tower(3, seed=1), init_temperature=0.1, scale_lr=30)
    groups = method.param_groups(1e-3, 1e-2)
    scale_group = next(g for g in groups if any(p is method.scale.log_scale for p in g["params"]))
    assert scale_group["lr"] == pytest.approx(3e-2) and scale_group["weight_decay"] == 0.0
    assert len(scale_group["params"]) == 1
    assert all(g["lr"] == pytest.approx(1e-3) for g in groups if g is not scale_group)
    with pytest.raises(ValueError, match="scale_lr"):
        TT.clip_method(TT.tower(4, seed=0), TT.tower(3, seed=1), scale_lr=0.0)


def test_clip_method_options():
    tower_a, tower_b = TT.tower(4, seed=0), TT.tower(3, seed=1)
    fixed = TT.clip_method(tower_a, tower_b, temperature=0.05)
    assert isinstance(fixed, CLIP) and fixed.temperature == pytest.approx(0.05)
    learned = TT.clip_method(tower_a, tower_b, init_temperature=0.1, scale_lr=5)
    assert isinstance(learned.scale, losses.LearnableLogitScale) and learned.temperature == pytest.approx(0.1)
    assert learned.scale_lr == 5.0
    locked = TT.clip_method(TT.tower(4, seed=2), tower_b, lock_a=True)
    assert not any(p.requires_grad for p in locked.encoder.parameters())
    assert all(p.requires_grad for p in locked.encoder_b.parameters())
    assert isinstance(TT.clip_method(tower_a, tower_b, negatives=lambda x: x.flip(1)), NegCLIP)
    with pytest.raises(ValueError, match="temperature"):
        TT.clip_method(tower_a, tower_b, temperature=0.0)


def test_a_faster_scale_moves_the_temperature_further_under_fit():
    pairs = D.paired_modalities(300, seed=0)
    ends = {}
    for m in (1, 30):
        method = TT.clip_method(*TT.tower_pair(pairs, seed=0), scale_lr=m)
        history = contrastlab.fit(pairs, method, steps=20, batch_size=64, eval_every=0, metrics=("top1",),
                                  seed=0, progress=False)
        ends[m] = abs(math.log(history.last()["temperature"] / 0.07))  # how far log τ moved
    assert ends[30] > 5 * ends[1] > 0


# -------------------------------------------------------------------------------- nuisance, LiT

def test_add_nuisance_keeps_the_signal_and_views_redraw_the_nuisance(device):
    pairs = D.paired_modalities(100, seed=0, device=device)
    world = TT.add_nuisance(pairs, 12, scale=2.0, seed=1)
    assert world.x.shape == (100, 32 + 12) and torch.equal(world.b, pairs.b)
    q = world.mix.double()
    torch.testing.assert_close(q.T @ q, torch.eye(44, dtype=torch.float64, device=q.device), atol=1e-6, rtol=0)
    unmixed = world.x @ world.mix.T  # (100, 44): [signal, nuisance]
    torch.testing.assert_close(unmixed[:, :32], pairs.x, atol=1e-4, rtol=0)
    assert unmixed[:, 32:].std() == pytest.approx(2.0, rel=0.15)
    views = TT.modality_views(world, noise=0.0).views(torch.arange(100, device=device))  # (100, 2, 44)
    parts = views @ world.mix.T
    torch.testing.assert_close(parts[:, 0, :32], pairs.x, atol=1e-4, rtol=0)  # signal kept
    assert (parts[:, 0, 32:] - parts[:, 1, 32:]).abs().mean() > 1.0  # nuisance redrawn per view
    sub = world.subset(torch.arange(10, 20, device=device))
    torch.testing.assert_close(sub.x @ sub.mix.T, unmixed[10:20])
    plain = TT.modality_views(pairs, "b", noise=0.5).views(torch.arange(5, device=device))
    assert plain.shape == (5, 2, 24)
    with pytest.raises(ValueError, match="n_nuisance"):
        TT.add_nuisance(pairs, 0)
    with pytest.raises(ValueError, match="which"):
        TT.modality_views(pairs, "c")
    with pytest.raises(TypeError, match="pairs must be a PairedModalities"):
        TT.add_nuisance(D.vmf_mixture(50, seed=0))


def test_class_prompts_and_zero_shot_accuracy():
    centres = torch.eye(3, 6) * 5
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    b = centres[labels] + 0.1 * randn(7, 6, seed=12)
    identity = torch.nn.Identity()
    prompts = TT.class_prompts(identity, b, labels)
    torch.testing.assert_close(prompts, torch.stack([b[labels == c].mean(0) for c in range(3)]))
    assert TT.zero_shot_accuracy(b, labels, prompts) == 1.0
    assert TT.zero_shot_accuracy(b, (labels + 1) % 3, prompts) == 0.0
    with pytest.raises(ValueError, match="labels must lie in"):
        TT.zero_shot_accuracy(b, labels + 1, prompts)
    with pytest.raises(ValueError, match="labels must contain every class"):
        TT.class_prompts(identity, b, labels, n_classes=5)
    with pytest.raises(ValueError, match="prompts must have"):
        TT.zero_shot_accuracy(b, labels, prompts[:, :4])


# ------------------------------------------------------------------------------- NegCLIP pieces

def test_binding_accuracy():
    images = torch.eye(4, 6)
    assert TT.binding_accuracy(images, images, torch.eye(4, 6).roll(1, 1)) == 1.0
    assert TT.binding_accuracy(images, images, images) == 0.0  # a tie counts against
    rng = np.random.default_rng(0)
    u, p, q = (torch.tensor(rng.standard_normal((50, 3))) for _ in range(3))
    expected = np.mean((unit(u.numpy()) * unit(p.numpy())).sum(1) > (unit(u.numpy()) * unit(q.numpy())).sum(1))
    assert TT.binding_accuracy(u, p, q) == pytest.approx(expected)
    with pytest.raises(ValueError, match="images and swapped must have the same shape"):
        TT.binding_accuracy(u, p, q[:10])
