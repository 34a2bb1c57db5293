"""The verdict standard: outcomes from intervals, the baseline gate, recording and the recorded file."""

import json

import pytest

from contrastlab.lessons import verdicts as V
from contrastlab.stats import Interval, mean_interval

RULE = V.Rule("03_temperature:test", claim="a smaller τ makes the embedding more uniform",
              effect="uniformity at small τ minus at large τ", direction=-1, baseline="raw-input kNN")
BEATEN = dict(model=[0.8, 0.82, 0.81], reference=[0.7, 0.71, 0.7])


@pytest.mark.parametrize("effects, outcome", [
    ([-0.30, -0.40, -0.35], "agrees"),        # interval entirely below 0
    ([0.30, 0.40, 0.35], "disagrees"),        # entirely above
    ([-0.30, 0.40, -0.35], "inconclusive"),   # straddles 0
    ([-0.30], "inconclusive"),                # one seed: no interval
])
def test_outcomes(effects, outcome):
    n = len(effects)
    got = RULE.judge(effects, model=BEATEN["model"][:n], reference=BEATEN["reference"][:n], fast=False)
    assert got.outcome == outcome
    assert str(got).startswith(f"Verdict: {outcome} — ")


def test_baseline_not_beaten_is_not_tested_whatever_the_effect():
    got = RULE.judge([-0.3, -0.4, -0.35], model=[0.7, 0.71, 0.69], reference=[0.7, 0.7, 0.7], fast=False)
    assert got.outcome == "not tested" and "NOT beaten" in str(got)


def test_margin_and_direction():
    rule = V.Rule("06_false_negatives:x", claim="c", effect="e", direction=1, margin=0.05)
    assert rule.judge([0.04, 0.05, 0.045], fast=False).outcome == "inconclusive"  # above 0 but not the margin
    assert rule.judge([0.10, 0.12, 0.11], fast=False).outcome == "agrees"
    assert V.classify(Interval(-0.1, -0.2, -0.05, 3), 1) == "disagrees"
    assert V.classify(mean_interval([1, 2, 3]), 1, baseline_beaten=False) == "not tested"


def test_threshold_moves_no_effect():
    rule = V.Rule("01_infonce_from_scratch:x", claim="c", effect="relative error", direction=-1, threshold=0.1)
    assert rule.judge([0.02, 0.03, 0.025], fast=False).outcome == "agrees"  # entirely below 0.1
    assert rule.judge([0.2, 0.25, 0.22], fast=False).outcome == "disagrees"
    assert rule.judge([0.05, 0.15, 0.1], fast=False).outcome == "inconclusive"
    assert "below 0.1" in str(rule) and "other side of 0.1" in str(rule)


def test_rule_prints_before_runs():
    text = str(RULE)
    assert "fixed before the runs" in text and "below 0" in text and "raw-input kNN" in text


@pytest.mark.parametrize("kwargs, match", [
    (dict(id="no-colon"), "id"), (dict(direction=0), "direction"), (dict(direction=True), "direction"),
    (dict(margin=-1), "margin")])
def test_bad_rules(kwargs, match):
    base = dict(id="a:b", claim="c", effect="e", direction=1)
    with pytest.raises(ValueError, match=match):
        V.Rule(**{**base, **kwargs})


def test_bad_judge_input():
    with pytest.raises(ValueError, match="pass the trained model's and the baseline's score"):
        RULE.judge([-0.3, -0.2], fast=False)
    with pytest.raises(ValueError, match="seeds"):
        RULE.judge([-0.3, -0.2], seeds=[0], fast=False, **{k: v[:2] for k, v in BEATEN.items()})
    with pytest.raises(ValueError, match="one per seed"):
        RULE.judge([-0.3, -0.2], fast=False, **BEATEN)


def test_full_mode_records_and_fast_mode_does_not(tmp_path, monkeypatch):
    out = tmp_path / "record.jsonl"
    monkeypatch.setenv(V.RECORD_ENV, str(out))
    RULE.judge([-0.3, -0.4, -0.35], seeds=[3, 4, 5], fast=False, **BEATEN)
    RULE.judge([-0.3], fast=True, model=[0.8], reference=[0.7])
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["id"] == RULE.id and rec["outcome"] == "agrees" and rec["seeds"] == [3, 4, 5]


def test_fast_mode_prints_the_recorded_full_result(tmp_path, monkeypatch):
    rec = RULE.judge([-0.3, -0.4, -0.35], fast=False, **BEATEN).record()
    path = tmp_path / "recorded.json"
    path.write_text(json.dumps({"verdicts": {RULE.id: rec}}))
    monkeypatch.setattr(V, "RECORDED", path)
    text = str(RULE.judge([-0.3], fast=True, model=[0.8], reference=[0.7]))
    assert text.startswith("Verdict: inconclusive in a fast-mode smoke run")
    assert "Recorded full mode (" in text and "seeds 0–2" in text and "agrees — effect -0.35" in text
    monkeypatch.setattr(V, "RECORDED", tmp_path / "missing.json")
    assert "no recorded full-mode result" in str(RULE.judge([-0.3], fast=True, model=[0.8], reference=[0.7]))


def test_recorded_file_is_consistent():
    """Every recorded full-mode verdict: at least 3 seeds, and an outcome that its own numbers give."""
    assert V.RECORDED.exists(), "no recorded verdicts: run `python tools/record_verdicts.py`"
    recorded = json.loads(V.RECORDED.read_text())["verdicts"]
    assert recorded, "recorded_verdicts.json holds no verdict"
    for rule_id, rec in recorded.items():
        assert rec["id"] == rule_id
        assert len(rec["seeds"]) >= V.FULL_MODE_MIN_SEEDS, f"{rule_id}: {len(rec['seeds'])} seeds in full mode"
        effect = mean_interval(rec["per_seed"])
        assert abs(effect.mean - rec["effect"]["mean"]) < 1e-12, f"{rule_id}: effect does not match its per-seed values"
        outcome = V.classify(effect, rec["direction"], rec["margin"], rec["baseline_beaten"], rec["threshold"])
        assert outcome == rec["outcome"], rule_id
