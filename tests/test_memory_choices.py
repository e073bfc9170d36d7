"""Precision policies, checkpointing choices and the trace setup helpers."""

from __future__ import annotations

import pytest
import torch
from test_memory_oracle import measure
from torch import nn

from netcensus.analyses.memory import analyze_memory
from netcensus.memory import (
    Checkpointing,
    MemoryConfigError,
    Precision,
    low_precision_parameters,
    param_infos,
    trace_contexts,
)
from netcensus.memory.autocast import AutocastEmulation
from netcensus.trace.tracer import trace_model


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 32))


def test_precision_parse_and_errors():
    assert Precision.parse("BF16_mixed") is Precision.BF16_MIXED
    assert Precision.parse(None) is Precision.FP32
    assert Precision.parse("bfloat16") is Precision.BF16
    with pytest.raises(MemoryConfigError, match="'bf16-mixed'"):
        Precision.parse("int8")


def test_checkpointing_parse():
    assert Checkpointing.parse(None) is None
    assert Checkpointing.parse("all").all_blocks
    assert Checkpointing.parse({"Block", "layers.0"}).targets == {"Block", "layers.0"}
    assert Checkpointing.parse([nn.Linear]).targets == {"Linear"}
    with pytest.raises(MemoryConfigError, match="class names or paths"):
        Checkpointing.parse([3])


def test_pure_low_precision_needs_low_precision_parameters():
    m = _mlp()
    trace = trace_model(m, (torch.randn(4, 32),), train=True)
    with pytest.raises(MemoryConfigError, match="bfloat16"):
        analyze_memory(trace, param_infos(m), precision="bf16")


def test_pure_bf16_matches_a_real_bf16_run():
    m = _mlp()
    x = torch.randn(16, 32, dtype=torch.bfloat16)
    before = [p for p in m.parameters()]
    with low_precision_parameters(m, torch.bfloat16):
        infos = param_infos(m)
        trace = trace_model(m, (x,), train=True)
        est = analyze_memory(trace, infos, precision="bf16")
        adam = analyze_memory(trace, infos, precision="bf16", optimizer="adam")
        real = measure(m, (x,), train=True)
    assert [p for p in m.parameters()] == before and all(p.dtype == torch.float32 for p in m.parameters())
    # bfloat16 weights: (32*128 + 128 + 128*32 + 32) * 2 bytes = 8352 * 2 = 16,704; Adam keeps its two
    # states in the parameters' dtype: 2 * 16,704.
    assert est.weights == 16_704 and adam.optimizer == 2 * 16_704
    assert abs(est.peak - real.peak) <= 0.05 * real.peak
    assert abs(est.activations - real.saved) <= 0.05 * real.saved


def test_mixed_precision_trace_without_emulation_is_flagged():
    m = _mlp()
    trace = trace_model(m, (torch.randn(4, 32),), train=True)
    r = analyze_memory(trace, param_infos(m), precision="bf16-mixed")
    assert any("trace_contexts" in n for n in r.notes)


def test_autocast_emulation_casts_like_autocast():
    # Real CPU autocast vs the emulation with the CUDA lists on meta, for ops both lists agree on.
    x = torch.empty(4, 8, device="meta")
    w = nn.Parameter(torch.empty(16, 8, device="meta"))
    with AutocastEmulation(torch.bfloat16) as mode:
        y = torch.nn.functional.linear(x, w)
        assert y.dtype == torch.bfloat16
        assert torch.softmax(y, -1).dtype == torch.float32  # CUDA: softmax runs in float32
        assert torch.nn.functional.layer_norm(y, (16,)).dtype == torch.float32
        assert (y + 1).dtype == torch.bfloat16  # not listed: unchanged
        assert torch.cat([y, x.new_empty(4, 16)]).dtype == torch.float32
        first = torch.nn.functional.linear(x, w)
        assert len(mode.cache) == 1  # the weight's bfloat16 copy is cached, as autocast does
        assert first.dtype == torch.bfloat16
    assert not mode.cache


def test_trace_contexts_validates():
    assert len(trace_contexts("fp32")) == 1 and len(trace_contexts("bf16-mixed")) == 2
    assert trace_contexts("fp32", attention="math") == ()
    with pytest.raises(MemoryConfigError):
        trace_contexts("fp32", attention="flash3")
