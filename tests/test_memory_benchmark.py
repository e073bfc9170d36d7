"""benchmarks/gpu_memory_check.py is import-safe and skips cleanly without a CUDA device."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from scripts import load_script
from torch import nn

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_memory_check.py"


def _load():
    return load_script("gpu_memory_check")


def test_skips_without_cuda():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no CUDA device" in done.stdout


def test_estimate_runs_on_any_machine():
    module = _load()
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    args = (torch.randn(8, 16),)
    # fp32 inference peak: weights (16*32 + 32 + 32*4 + 4) * 4 = 2704, x 512, hidden 1024 twice (the
    # linear output and the relu output alive together): 2704 + 512 + 1024 + 1024 = 5264.
    assert module.estimate(model, args, False, "fp32") == 5264
    assert module.estimate(model, args, True, "bf16-mixed") > 5264


def test_only_picks_models_and_flex_cases_estimate(capsys):
    pytest.importorskip("transformers")
    pytest.importorskip("torch.nn.attention.flex_attention")
    module = _load()
    assert module.main(["--dry-run", "--small", "--only", "llama-flex,llama-sdpa"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert {r[0] for r in rows} == {"llama-flex", "llama-sdpa"} and len(rows) == 8  # 2 precisions x 2 steps
