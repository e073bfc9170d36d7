"""A TorchScript module passed to profile() (torch.jit.script / torch.jit.trace in memory) is profiled like a
loaded TorchScript file: its parameters per layer, its ops at the root. On meta its weights must be meta
(the interpreter's tensors cannot be swapped without changing the user's module): a real-weight module
gets a clear error that recommends device='cpu', which works and leaves the module's flags as they were.

Oracle: the eager module it was scripted from, profiled the same way, and ``sum(p.numel())``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import netcensus
from netcensus import SpecError
from netcensus.api import SCRIPTED_NOTE


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def test_scripted_meta_module_counts_as_its_eager_self():
    with torch.device("meta"):
        eager = _mlp()
    scripted = torch.jit.script(eager)
    x = torch.empty(3, 8, device="meta")
    a = netcensus.profile(scripted, x)
    b = netcensus.profile(eager, x)
    assert a.total_params == b.total_params == sum(p.numel() for p in eager.parameters())
    assert a.compute.totals.forward.core_macs == b.compute.totals.forward.core_macs == 3 * 8 * 16 + 3 * 16 * 2
    assert a.model == "Sequential" and SCRIPTED_NOTE in a.notes


def test_real_weights_on_meta_is_one_clear_error_and_cpu_works():
    torch.manual_seed(0)
    scripted = torch.jit.script(_mlp()).eval()
    with pytest.raises(SpecError) as err:
        netcensus.profile(scripted, torch.empty(3, 8, device="meta"))
    assert "device='cpu'" in str(err.value) and "0.weight is on cpu" in str(err.value)
    prof = netcensus.profile(scripted, torch.randn(3, 8), device="cpu", train=True)
    # forward 3*8*16 + 3*16*2 MACs; backward: both weight gradients and the hidden input's gradient
    assert prof.compute.totals.forward.core_macs == 480
    assert prof.compute.totals.backward.core_macs == 3 * 8 * 16 + 3 * 16 * 2 + 3 * 16 * 2
    assert not any(m.training for m in scripted.modules())  # eval, as the user left it
