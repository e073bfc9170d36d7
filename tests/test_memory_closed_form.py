"""Memory of small models derived by hand, arithmetic in the comments.

Model: Linear(8, 16) -> ReLU -> Linear(16, 4), float32, input x of shape (2, 8).
Bytes: weight0 16*8*4 = 512, bias0 16*4 = 64, weight2 4*16*4 = 256, bias2 4*4 = 16: W = 848.
x = 2*8*4 = 64. Hidden h (2, 16) = 128, relu output r = 128, output y (2, 4) = 32.
"""

from __future__ import annotations

import torch
from torch import nn

from netcensus.analyses.memory import analyze_memory
from netcensus.options import OptimizerSpec, Precision, Sharding
from netcensus.analyses.memory import param_infos
from netcensus.trace.tracer import trace_model

W = 512 + 64 + 256 + 16
X = 2 * 8 * 4


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def _run(train: bool, **kw):
    m = _mlp()
    trace = trace_model(m, (torch.randn(2, 8),), train=train)
    return analyze_memory(trace, param_infos(m), **kw)


def test_inference_peak_and_end():
    r = _run(False)
    assert r.mode == "inference" and r.weights == W == 848 and r.inputs == X
    # addmm -> h (128); relu -> r (128) while h is still alive; h dies after relu.
    # Peak at relu: W + x + h + r = 848 + 64 + 128 + 128 = 1168.
    assert r.peak == r.inference_peak == 1168
    assert r.peak_at.op == "aten.relu.default" and r.peak_at.module == "1"
    # After the forward: W + x + y = 848 + 64 + 32 = 944 (r died after the last addmm).
    assert r.forward_end == 944
    assert r.activations == 0 and r.gradients == 0 and r.training_peak is None


def test_training_activations_and_peak_without_optimizer():
    r = _run(True)
    # Saved for backward: addmm0 saves x (an input: excluded) and weight0.t() (a parameter);
    # relu saves its output r; addmm2 saves r again and weight2.t(). Activations: r = 128.
    assert r.activations == 128
    # Forward end: W + x + r + y = 848 + 64 + 128 + 32 = 1072.
    assert r.forward_end == 1072
    # Backward, on top of W + x + y + the seed ones(2, 4) (32):
    #   mm -> grad_r 128, mm -> dW2 256, sum -> db2 16, threshold_backward -> grad_h 128,
    #   then r and grad_r die, mm -> dW0 512, sum -> db0 64.
    # Peak at the sum for db0: 848 + 64 + 32 + 32 + 256 + 16 + 128 + 512 + 64 = 1952.
    assert r.peak == r.training_peak == 1952
    assert r.peak_at.phase == "backward" and r.peak_at.module == "0"
    # Gradients: one per parameter, W bytes in all.
    assert r.gradients == 848 and r.peak_at.breakdown["gradients"] == 848


def test_training_peak_with_adam_is_the_optimizer_step():
    r = _run(True, optimizer=OptimizerSpec("adam"))
    # Adam: exp_avg and exp_avg_sq per parameter: 2 * 848 = 1696 on the device; a float32 step counter
    # per parameter tensor (4 tensors * 4 bytes) on the host.
    assert r.optimizer == 1696 and r.optimizer_host == 16
    assert r.optimizer_breakdown == {"exp_avg": 848, "exp_avg_sq": 848, "step": 16}
    # foreach Adam allocates sqrt(exp_avg_sq) for every parameter at once: 848.
    assert r.optimizer_step_temporaries == 848
    # Forward/backward peak: 1952 + 1696 = 3648. Step: W 848 + x 64 + y 32 + seed 32 + grads 848
    # + state 1696 + temporaries 848 = 4368, the training peak.
    assert r.step_peak == 4368 and r.peak == 4368 and r.peak_at.phase == "optimizer step"
    assert r.forward_end == 1072 + 1696


def test_module_figures():
    r = _run(True)
    mods = {m.path: m for m in r.modules}
    assert mods["1"].saved == 128 and mods["1"].type == "ReLU"
    assert mods[""].saved_total == 128 and mods["0"].saved_total == 0
    # Linear 0 runs t (a view) and addmm: W + x + h = 848 + 64 + 128 = 1040.
    assert mods["0"].forward_peak == 1040
    assert mods["1"].forward_peak == 1168
    assert mods["0"].backward_peak == 1952


def test_assumptions_name_every_choice():
    r = _run(True, optimizer=OptimizerSpec("sgd-momentum"), precision=Precision("fp32"), sharding=Sharding.parse("zero1", 2))
    names = [a.name for a in r.assumptions]
    for wanted in ("step", "precision", "optimizer", "sharding", "accounting"):
        assert wanted in names
    assert all(isinstance(a.value, str) and a.meaning for a in r.assumptions)
    # SGD momentum: one buffer per parameter (848), halved across two devices by ZeRO-1.
    assert r.totals["optimizer"] == 848 and r.optimizer == 424
