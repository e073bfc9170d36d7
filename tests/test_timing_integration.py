"""The time model reached from the API, the command line, JSON and HTML (the model itself:
tests/test_timing.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from torch import nn

import netcensus
from netcensus.analyses.memory import param_infos
from netcensus.analyses.timing import estimate_time
from netcensus.cli import run
from netcensus.options import OptimizerSpec, Precision


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(1024, 4096), nn.GELU(), nn.Linear(4096, 1024))


def test_profile_gpu_is_the_time_model_on_the_same_trace():
    model = _mlp()
    p = netcensus.profile(model, input_size=(64, 1024), train=True, gpu="H100 SXM")
    direct = estimate_time(p.trace, p.compute, "H100 SXM", precision=Precision.FP32,
                           optimizer=OptimizerSpec("adamw"), params=param_infos(model))
    assert p.time.step_s == direct.step_s and p.time.gpu == direct.gpu
    assert p.time.flops == p.flops  # MFU's numerator is the compute census's total


def test_gpu_compare_and_measured_step():
    p = netcensus.profile(_mlp(), input_size=(64, 1024), gpu="H200", gpu_compare=["A100 80GB"],
                          measured_step=0.002)
    assert [t.gpu for t in p.time_compare] == ["H200", "A100-80GB"]
    m = p.time.measured
    assert m.step_s == 0.002 and m.ratio == pytest.approx(p.time.step_s / 0.002)
    assert m.mfu == pytest.approx(p.time.flops / (0.002 * p.time.mfu_peak))


def test_time_survives_json_and_reaches_html():
    p = netcensus.profile(_mlp(), input_size=(8, 1024), gpu="L4")
    back = netcensus.Profile.from_json(p.to_json())
    assert back.time.step_s == p.time.step_s and back.time.gpu == "L4"
    html = p.to_html()
    assert "Step time on L4" in html and "<svg" in html


@pytest.mark.parametrize("kwargs,fragment", [
    ({"gpu": "H10 SXM"}, "did you mean"),
    ({"measured_step": 0.1}, "needs the GPU"),
    ({"gpu": "H200", "measured_step": -1.0}, "> 0"),
])
def test_bad_time_options_are_one_clear_error(kwargs, fragment):
    with pytest.raises(netcensus.SpecError, match=fragment):
        netcensus.profile(_mlp(), input_size=(8, 1024), **kwargs)


def test_cli_gpu_flags(tmp_path, capsys):
    chart = tmp_path / "roof.svg"
    assert run(["--gpu", "H100 SXM", "--gpu-compare", "H100 SXM,A100 80GB", "--roofline", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "Step time on H100-SXM" in out and "Step time by GPU" in out
    assert chart.read_text().lstrip().startswith("<svg")
    assert run(["--gpu", "list"]) == 0
    assert "H100-SXM" in capsys.readouterr().out
    assert run(["--roofline", str(chart)]) == 2
    assert "--roofline needs --gpu" in capsys.readouterr().err


def test_cli_measured_step_through_the_installed_command():
    done = subprocess.run([sys.executable, "-m", "netcensus", "--gpu", "H200", "--measured-step", "0.004"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "measured step 4 ms" in done.stdout and "achieved MFU" in done.stdout
