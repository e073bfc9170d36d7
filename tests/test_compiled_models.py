"""A torch.compile'd model (or one with compiled submodules) is profiled as its eager module: the compiler
is not invoked on meta tensors, the figures are the eager ops', and a note says so.

Oracle: the same module profiled uncompiled (the arithmetic is the same; compilation fuses kernels) and
``sum(p.numel())``.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import netcensus
from netcensus.api import COMPILED_NOTE

pytest.importorskip("torch._dynamo")


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def test_compiled_model_is_profiled_as_its_eager_module():
    with torch.device("meta"):
        eager = _mlp()
    compiled = torch.compile(eager)
    x = torch.empty(3, 8, device="meta")
    a = netcensus.profile(compiled, x, train=True)
    b = netcensus.profile(eager, x, train=True)
    assert a.model == "Sequential" and [r.path for r in a.layers] == [r.path for r in b.layers]
    assert a.total_params == sum(p.numel() for p in eager.parameters()) == 8 * 16 + 16 + 16 * 2 + 2
    assert a.compute.totals == b.compute.totals and a.memory.peak == b.memory.peak
    assert COMPILED_NOTE.format(where="") in a.notes and not any("torch.compile" in n for n in b.notes)


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = torch.compile(nn.Linear(8, 8))
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.block(x)))


def test_compiled_submodule_runs_eagerly_while_tracing():
    with torch.device("meta"):
        model = Outer()
    prof = netcensus.profile(model, torch.empty(3, 8, device="meta"), train=True)
    # forward MACs: 3 x 8 x 8 + 3 x 8 x 2 = 240
    assert prof.compute.totals.forward.core_macs == 3 * 8 * 8 + 3 * 8 * 2
    assert COMPILED_NOTE.format(where=" of block") in prof.notes
    assert torch._dynamo.config.disable is False  # the switch was for the trace only


def test_profiling_leaves_no_global_hook_behind_for_torch_compile():
    with torch.device("meta"):
        netcensus.profile(_mlp(), torch.empty(3, 8, device="meta"), train=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.compile warns when global module hooks exist
        torch.compile(nn.Linear(2, 2))
