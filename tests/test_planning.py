"""contrastlab.plan: negatives per anchor by hand, accumulation adds none, and the memory estimates
against the peak measured on CPU (lessons.batch_size_and_memory.peak_memory, live tensor bytes)."""

import pytest
import torch

import contrastlab
import contrastlab.losses as L
from contrastlab.cli import main
from contrastlab.lessons.batch_size_and_memory import peak_memory
from contrastlab.planning import plan


def test_negatives_per_anchor_by_hand():
    assert plan(256).negatives_per_anchor == 2 * 256 - 2
    assert plan(256, loss="info_nce").negatives_per_anchor == 255
    assert plan(256, loss=L.clip_loss).negatives_per_anchor == 255
    assert plan(256, world_size=8).negatives_per_anchor == 2 * 256 * 8 - 2
    assert plan(256, world_size=8, gather=False).negatives_per_anchor == 2 * 256 - 2
    assert plan(64, loss="vicreg").negatives_per_anchor == 0


def test_accumulation_adds_samples_not_negatives():
    one, four = plan(128, accumulation_steps=1), plan(128, accumulation_steps=4)
    assert four.negatives_per_anchor == one.negatives_per_anchor
    assert four.samples_per_optimizer_step == 4 * one.samples_per_optimizer_step
    assert four.peak_bytes == one.peak_bytes and not four.accumulation_adds_negatives
    assert "adds negatives" in " ".join(four.notes) and "Cached" in " ".join(four.notes)


def test_gathering_grows_the_columns_not_the_rows():
    p = plan(256, world_size=4)
    assert p.logits_shape == (512, 2048) and p.anchors_per_device == 512
    assert p.logits_bytes == 512 * 2048 * 4
    assert plan(256, dtype=torch.float64).logits_bytes == 2 * plan(256).logits_bytes
    assert plan(256, dtype=torch.bfloat16).logits_bytes == plan(256).logits_bytes  # logits in float32


CALLS = {"nt_xent": lambda a, b, impl: L.nt_xent(a, b, impl=impl),
         "info_nce": lambda a, b, impl: L.info_nce(a, b, impl=impl),
         "clip_loss": lambda a, b, impl: L.clip_loss(a, b, logit_scale=10.0, impl=impl)}


@pytest.mark.parametrize("loss", sorted(CALLS))
@pytest.mark.parametrize("impl, n", [("dense", 512), ("dense", 1024), ("tiled", 2048)])
def test_memory_estimate_matches_the_measured_peak(loss, impl, n):
    g = torch.Generator().manual_seed(0)
    z1, z2 = (torch.randn(n, 64, generator=g).requires_grad_() for _ in range(2))
    measured = peak_memory(lambda: CALLS[loss](z1, z2, impl).backward()).peak_bytes
    estimate = plan(n, dim=64, loss=loss, impl=impl).peak_bytes
    assert 0.75 * estimate <= measured <= 1.3 * estimate, (measured, estimate)


def test_auto_picks_what_the_losses_pick():
    assert plan(256).impl == "dense" and plan(1024).impl == "tiled"  # 2048 x 2048 logits
    assert plan(512, loss="info_nce").impl == "dense" and plan(1024, loss="info_nce").impl == "tiled"
    assert plan(64, loss="vicreg").impl == "none" and plan(64, loss="vicreg").peak_bytes_tiled is None
    assert plan(8192).peak_bytes_tiled < plan(8192).peak_bytes_dense / 20


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="did you mean 'nt_xent'"):
        plan(8, loss="ntxent")
    with pytest.raises(ValueError, match="batch_size"):
        plan(0)
    with pytest.raises(ValueError, match="no tiled path"):
        plan(8, loss="barlow_twins", impl="tiled")
    with pytest.raises(TypeError, match="gather"):
        plan(8, gather=1)


def test_the_package_exports_plan_and_the_cli_prints_it(capsys):
    assert contrastlab.plan is plan
    assert main(["plan", "256", "--world-size", "8", "--accumulation-steps", "4"]) == 0
    out = capsys.readouterr().out
    assert "negatives per anchor        4094" in out and "accumulation adds no negatives" in out
    assert main(["plan", "256", "--loss", "ntxent"]) == 2
    assert "did you mean 'nt_xent'" in capsys.readouterr().err
