"""fit: reproducible, learns, shows collapse when an anti-collapse ingredient is removed, and stops cleanly."""

import math

import pytest
import torch

import contrastlab.data as D
from contrastlab.methods import METHODS
from contrastlab.samplers import MPerClassSampler
from contrastlab.train import StopTraining, fit

VMF = dict(n=1000, n_classes=10, dim=16, concentration=20.0, view_noise=0.1)


@pytest.fixture(scope="module")
def vmf():
    return D.vmf_mixture(**VMF)


def run(data, method="simclr", **kwargs):
    kwargs.setdefault("steps", 150)
    kwargs.setdefault("batch_size", 128)
    kwargs.setdefault("eval_every", 50)
    return fit(data, method, progress=False, **kwargs)


def without_time(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history.records]


def test_same_seed_same_history(vmf):
    a, b = run(vmf, steps=60, seed=3), run(vmf, steps=60, seed=3)
    assert without_time(a) == without_time(b)
    c = run(vmf, steps=60, seed=4)
    assert without_time(a) != without_time(c)


def test_untrained_evaluation_uses_real_batchnorm_statistics(vmf):
    """Step 0 is evaluated with running statistics of the data, not BatchNorm's defaults (0, 1),
    which would make an untrained network look collapsed."""
    first = run(vmf, steps=1, eval_every=1).records[0]
    assert first["step"] == 0 and first["std"] > 0.5 / math.sqrt(32)


def test_history_is_tidy(vmf):
    h = run(vmf, steps=100, eval_every=25)
    frame = h.frame
    assert list(frame["step"]) == [0, 25, 50, 75, 100]
    assert {"loss", "lr", "temperature", "alignment", "uniformity", "erank", "std", "knn"} <= set(frame.columns)
    assert math.isnan(frame["loss"][0]) and frame["loss"][1:].notna().all()
    assert h.encoder is h.method.encoder and not h.interrupted
    assert h.config["method"] == "simclr" and h.config["data.n_classes"] == 10


def test_simclr_learns_on_the_vmf_mixture(vmf):
    h = run(vmf, steps=300, temperature=0.2)
    first, last = h.records[1], h.last()
    assert last["loss"] < first["loss"]
    assert last["knn"] >= 0.9 and last["knn"] > h.records[0]["knn"]
    # training spreads the embedding over the 32-d sphere
    assert last["uniformity"] < h.records[0]["uniformity"] - 0.5 and last["uniformity"] < -3.0


@pytest.mark.parametrize("method, broken", [("simsiam", {"use_predictor": False}),
                                            ("byol", {"ema": False, "use_predictor": False})])
def test_non_contrastive_collapse_without_its_ingredient(vmf, method, broken):
    full = run(vmf, method, steps=300).last()
    ablated = run(vmf, method, steps=300, **broken).last()
    spread = 1 / math.sqrt(32)  # std of unit vectors spread over 32 dimensions
    assert full["std"] > 0.6 * spread and full["uniformity"] < -1.5
    assert ablated["std"] < 0.2 * spread and ablated["uniformity"] > -0.1


def test_vicreg_needs_its_variance_term(vmf):
    full = run(vmf, "vicreg", steps=300).last()
    invariance_only = run(vmf, "vicreg", steps=300, var_weight=0.0, cov_weight=0.0).last()
    assert full["std"] > 3 * invariance_only["std"]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_set_up_is_one_call(name):
    data = (D.compositional_pairs(200) if name == "negclip" else D.paired_modalities(200) if METHODS[name].paired
            else D.vmf_mixture(200))
    h = fit(data, name, steps=5, batch_size=32, eval_every=5, eval_size=64, progress=False)
    assert len(h) == 2 and math.isfinite(h.last()["loss"])


def test_clip_learns_its_temperature_and_can_lock_a_tower():
    data = D.paired_modalities(400)
    h = fit(data, "clip", steps=40, batch_size=64, eval_every=20, progress=False, metrics=("top1", "modality_gap"))
    assert h.records[0]["temperature"] == pytest.approx(0.07, rel=1e-3)
    assert h.last()["temperature"] != pytest.approx(0.07, rel=1e-3)
    assert "modality_gap" in h.last() and h.last()["top1"] > h.records[0]["top1"]
    locked = fit(data, "clip", steps=5, batch_size=64, lock_a=True, progress=False)
    before = D.paired_modalities(400)  # same seed: the same initial weights
    reference = fit(before, "clip", steps=1, batch_size=64, lock_a=True, lr=0.0, progress=False)
    for p, q in zip(locked.method.encoder.parameters(), reference.method.encoder.parameters()):
        assert torch.equal(p, q)


def test_a_locked_tower_keeps_its_batchnorm_statistics():
    from contrastlab.methods import build_method

    data = D.paired_modalities(400)
    torch.manual_seed(0)
    method = build_method("clip", data, lock_a=True)
    tower = method.encoder
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in tower.modules()), "the test needs a BatchNorm tower"
    with torch.no_grad():  # "pretrain" the statistics: one pass over the data in train mode
        tower.train()
        tower(data.x)
    probe = data.x[:32]
    before = tower.eval()(probe).clone()
    fit(data, method, steps=20, batch_size=64, progress=False)
    assert not tower.training
    assert torch.equal(tower.eval()(probe), before)


def test_clip_scale_has_its_own_learning_rate_and_no_weight_decay():
    from contrastlab.methods import build_method

    data = D.paired_modalities(400)
    groups = build_method("clip", data, scale_lr=30).param_groups(1e-3, 1e-5)
    assert [(len(g["params"]), g["lr"], g["weight_decay"]) for g in groups][1] == (1, pytest.approx(3e-2), 0.0)
    moved = {lr: abs(fit(data, "clip", steps=30, batch_size=64, scale_lr=lr, progress=False).last()["temperature"]
                     - 0.07) for lr in (1, 30)}
    assert moved[30] > 5 * moved[1]
    with pytest.raises(ValueError, match="scale_lr must be a number > 0"):
        build_method("clip", data, scale_lr=0)


def test_supcon_with_an_m_per_class_sampler(vmf):
    sampler = MPerClassSampler(vmf.labels, m=8, batch_size=64, seed=0)
    h = run(vmf, "supcon", steps=60, sampler=sampler)
    assert h.last()["knn"] > 0.9


def test_a_callback_can_stop_and_the_history_is_kept(vmf):
    seen = []

    def stop_at_50(state):
        seen.append(state.step)
        assert state.projections.shape[0] == len(state.labels)
        return state.step >= 50

    h = run(vmf, steps=200, eval_every=25, callbacks=[stop_at_50])
    assert seen == [0, 25, 50] and h.interrupted and h.last()["step"] == 50


def test_keyboard_interrupt_keeps_the_history(vmf):
    def interrupt(state):
        if state.step == 50:
            raise KeyboardInterrupt

    h = run(vmf, steps=200, eval_every=25, callbacks=[interrupt])
    assert h.interrupted and [r["step"] for r in h.records] == [0, 25, 50]


def test_stop_training_exception(vmf):
    def stop(state):
        if state.step == 25:
            raise StopTraining

    assert run(vmf, steps=100, eval_every=25, callbacks=[stop]).interrupted


def test_bad_arguments(vmf):
    with pytest.raises(ValueError, match=r"method must be one of .* got 'simclrr' \(did you mean 'simclr'\?\)"):
        run(vmf, "simclrr")
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[2, 1000\]"):
        run(vmf, batch_size=5000)
    with pytest.raises(ValueError, match=r"needs paired data"):
        run(vmf, "clip")
    with pytest.raises(TypeError, match=r"unknown options \['temprature'\]"):
        run(vmf, temprature=0.1)


def test_fit_runs_on_the_device(device):
    data = D.vmf_mixture(200).to(device)
    h = fit(data, "simclr", steps=10, batch_size=32, eval_every=10, progress=False)
    assert next(h.encoder.parameters()).device.type == device.type and math.isfinite(h.last()["loss"])


def test_digits_train_with_the_cnn():
    data = D.digits(n=400, strength=0.5)
    h = fit(data, "simclr", steps=30, batch_size=64, eval_every=30, eval_size=400, progress=False, temperature=0.2)
    assert h.last()["knn"] > 0.5  # ten classes: chance is 0.1


def test_default_device_prefers_an_accelerator():
    import contrastlab
    from contrastlab.runtime import default_device

    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert default_device().type == expected and contrastlab.default_device() == default_device()


def test_sgd_optimizer_trains_and_bad_names_are_refused(vmf):
    sgd = run(vmf, steps=60, eval_every=30, optimizer="sgd", lr=0.05)
    assert sgd.config["optimizer"] == "sgd"
    assert sgd.last()["knn"] > 0.5 and sgd.last()["loss"] < 0.5 * math.log(2 * 128 - 1)  # far below chance
    assert without_time(sgd) != without_time(run(vmf, steps=60, eval_every=30, lr=0.05))  # not AdamW after all
    with pytest.raises(ValueError, match=r"optimizer must be 'adamw' or 'sgd', got 'lars'"):
        run(vmf, optimizer="lars")


def threads_seen(vmf, **kwargs):
    seen = []
    run(vmf, steps=20, eval_every=10, device="cpu", callbacks=[lambda state: seen.append(torch.get_num_threads())],
        **kwargs)
    return seen


def test_fit_trains_on_one_thread_on_the_cpu_and_restores_the_callers_count(vmf, caller_threads):
    assert threads_seen(vmf) == [1, 1, 1]  # the policy (contrastlab.runtime): one thread for tiny models
    assert torch.get_num_threads() == caller_threads  # the user's code afterwards is unaffected


def test_fit_honours_an_explicit_thread_count(vmf, caller_threads):
    assert threads_seen(vmf, threads=2) == [2, 2, 2]
    assert torch.get_num_threads() == caller_threads


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt, StopTraining])
def test_fit_restores_the_thread_count_when_a_run_ends_early(vmf, caller_threads, error):
    def fail(state):
        if state.step == 10:
            raise error("stop")

    if error is RuntimeError:
        with pytest.raises(RuntimeError, match="stop"):
            run(vmf, steps=20, eval_every=10, callbacks=[fail])
    else:
        assert run(vmf, steps=20, eval_every=10, callbacks=[fail]).interrupted
    assert torch.get_num_threads() == caller_threads


def test_fit_refuses_bad_thread_counts(vmf, caller_threads):
    for bad, error in [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError)]:
        with pytest.raises(error, match=r"threads must be None \(the policy\) or an int >= 1"):
            run(vmf, steps=5, threads=bad)
    assert torch.get_num_threads() == caller_threads


# --- bad arguments and diverging runs -------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, name", [
    (dict(metrics=["knn", "foo"]), ValueError, "metrics"),
    (dict(metrics="knn"), TypeError, "metrics"),
    (dict(eval_every=-1), ValueError, "eval_every"),
    (dict(eval_size=0), ValueError, "eval_size"),
    (dict(lr="1e-3"), TypeError, "lr"),
    (dict(lr=-1e-3), ValueError, "lr"),
    (dict(weight_decay=-1.0), ValueError, "weight_decay"),
    (dict(steps=2.5), TypeError, "steps"),
    (dict(batch_size=10_000), ValueError, "batch_size"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(schedule="cosinus"), ValueError, "schedule"),
    (dict(optimizer="adam"), ValueError, "optimizer"),
    (dict(progress="yes"), TypeError, "progress"),
    (dict(callbacks=[1]), TypeError, "callbacks"),
    (dict(device="gpu0"), ValueError, "device"),
    (dict(method=3), TypeError, "method"),
    (dict(method="simclr2"), ValueError, "method"),
])
def test_fit_refuses_bad_arguments_by_name(kwargs, error, name):
    data = D.vmf_mixture(64, seed=0)
    with pytest.raises(error, match=rf"\b{name}\b"):
        fit(data, **{"steps": 2, "batch_size": 16, "progress": False, **kwargs})


def test_an_unknown_metric_gets_a_did_you_mean():
    with pytest.raises(ValueError, match="did you mean 'knn'"):
        fit(D.vmf_mixture(64), steps=2, batch_size=16, progress=False, metrics=["knnn"])


@pytest.mark.parametrize("data", [None, torch.randn(10, 3)])
def test_fit_needs_a_toy_dataset(data):
    with pytest.raises(TypeError, match=r"data must be a ToyData"):
        fit(data, steps=2, progress=False)


def test_a_diverging_run_stops_names_the_step_and_keeps_its_history():
    data = D.vmf_mixture(256, seed=0)
    with pytest.warns(UserWarning, match=r"diverged at step \d+") as caught:
        h = fit(data, "simclr", steps=200, batch_size=64, lr=1e6, eval_every=5, progress=False, optimizer="sgd")
    assert "history.diverged = True" in str(caught[0].message)
    assert h.diverged and h.interrupted and len(h) >= 1 and h.records[0]["step"] == 0
    assert all(math.isfinite(r["loss"]) for r in h.records[1:])  # nothing after the divergence was recorded
    healthy = fit(data, "simclr", steps=5, batch_size=64, progress=False)
    assert not healthy.diverged
