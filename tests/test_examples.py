"""The examples run as documented."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ddp_example_trains_with_two_gloo_processes():
    torchrun = Path(sys.executable).parent / "torchrun"
    result = subprocess.run([str(torchrun), "--nproc_per_node", "2", str(ROOT / "examples" / "ddp_simclr.py"),
                             "--steps", "20", "--cpu", "--batch-size", "64"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "global batch 128" in result.stdout and "kNN accuracy" in result.stdout
