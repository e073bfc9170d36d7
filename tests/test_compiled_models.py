"""A torch.compile'd model (or one with compiled submodules, or a forward that calls compiled functions or
torch.compile itself) is profiled as its eager code: the compiler is not invoked on meta tensors, the
figures are the eager ops', a note says so, and what was compiled still compiles after the trace.

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


# ---- compiled functions called by the forward ----------------------------------------------------------

def _graphs() -> int:
    from torch._dynamo.utils import counters
    return sum(counters["stats"].values())


@torch.compile(backend="eager")
def _scaled_gelu(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.gelu(x) * 2


class CallsCompiled(nn.Module):
    """A forward that calls a function compiled at import time."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _scaled_gelu(self.proj(x))


class CompilesInForward(nn.Module):
    """A forward that compiles on its first call and keeps the compiled function (as transformers does
    for flex_attention)."""

    cached = None

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if CompilesInForward.cached is None:
            CompilesInForward.cached = torch.compile(lambda y: torch.relu(y) + 1, backend="eager")
        return CompilesInForward.cached(self.proj(x))


def test_a_compiled_function_in_the_forward_runs_eagerly():
    with torch.device("meta"):
        model = CallsCompiled()
    before = _graphs()
    prof = netcensus.profile(model, torch.empty(4, 8, device="meta"), train=True)
    assert _graphs() == before  # TorchDynamo compiled nothing (it would trace the tracer's own modes)
    # forward MACs: the projection's 4 x 8 x 8 = 256; the gelu and the scaling are the eager ops
    assert prof.compute.totals.forward.core_macs == 4 * 8 * 8
    ops = {r.op for r in prof.compute.by_op}
    assert any("gelu" in op for op in ops) and any(op.startswith("aten.mul") for op in ops)
    assert torch._dynamo.config.disable is False
    # after the trace the function is compiled as before: a real call compiles one graph
    _scaled_gelu(torch.ones(2))
    assert _graphs() > before


def test_torch_compile_called_in_the_forward_is_noted_and_its_result_kept_compiled():
    CompilesInForward.cached = None
    with torch.device("meta"):
        model = CompilesInForward()
    original = torch.compile
    prof = netcensus.profile(model, torch.empty(4, 8, device="meta"))
    assert torch.compile is original and torch._dynamo.config.disable is False
    assert any("torch.compile was called during the forward" in n for n in prof.notes)
    assert prof.compute.totals.forward.core_macs == 4 * 8 * 8
    # what the model kept is torch.compile's own result (it compiles on a real call), not the bare lambda
    kept = CompilesInForward.cached
    assert kept is not None and getattr(kept, "_torchdynamo_orig_callable", None) is not None
    before = _graphs()
    assert torch.equal(kept(torch.zeros(3)), torch.ones(3))
    assert _graphs() > before


def test_a_compiled_submodule_still_compiles_after_the_trace():
    model = Outer()  # real weights on CPU, its block compiled
    model.block = torch.compile(nn.Linear(8, 8), backend="eager")
    netcensus.profile(model, input_size=(3, 8))
    before = _graphs()
    model(torch.ones(3, 8))  # a real call: TorchDynamo compiles the block now (the trace did not skip it)
    assert _graphs() > before
