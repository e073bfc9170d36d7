"""Nothing hangs or explodes: very deep, very wide and very repetitive models, and huge tensors on meta.

No timing assertions (machines differ); ``--durations=0`` shows what each case costs. What is asserted
is that each case completes with the right answer, and that the tracer's memory does not grow with
tensor sizes: the trace of a layer at sequence length 131,072 has exactly the events of the same layer
at 128, holds no tensors, and costs no more Python memory to build.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import tracemalloc
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netcensus


def _linear_relu_stack(n: int, width: int = 8) -> nn.Sequential:
    return nn.Sequential(*[nn.Linear(width, width) if i % 2 == 0 else nn.ReLU() for i in range(n)])


def test_a_thousand_layer_sequential():
    model = _linear_relu_stack(1000)
    p = netcensus.profile(model, input_size=(2, 8))
    assert len(p.layers) == 1001 and all(r.calls == 1 for r in p.layers)
    assert p.total_params == 500 * (8 * 8 + 8)
    assert p.layer("998").output_shapes == [(2, 8)]
    assert p.layer("0").macs == 2 * 8 * 8  # batch 2, in 8, out 8
    t = netcensus.profile(model, input_size=(2, 8), train=True)
    assert t.trace.backward_start is not None
    assert len(str(t)) > 0 and json.dumps(t.to_dict())


class _Wide(nn.Module):
    """1,000 blocks of 9 Identity modules and 1,000 Linear layers: 11,002 modules."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(*[nn.Identity() for _ in range(9)]) for _ in range(1000))
        self.heads = nn.ModuleList(nn.Linear(2, 2, bias=False) for _ in range(1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return sum(head(x) for head in self.heads[:10])


def test_ten_thousand_modules():
    model = _Wide()
    assert sum(1 for _ in model.modules()) >= 10_000
    p = netcensus.profile(model, input_size=(3, 2))
    assert len(p.layers) == sum(1 for _ in model.modules())
    assert p.total_params == 1000 * 4
    assert p.layer("blocks.999.8").calls == 1
    assert p.layer("heads.999").calls == 0
    assert str(p) and p.table(depth=None) and json.dumps(p.to_dict())


class _Loop(nn.Module):
    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.step = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.times):
            x = torch.tanh(self.step(x))
        return x


def test_a_submodule_called_five_thousand_times():
    few = netcensus.profile(_Loop(10), input_size=(2, 8))
    p = netcensus.profile(_Loop(5000), input_size=(2, 8))
    assert p.layer("step").calls == 5000
    per_call = len(few.trace.events) // 10
    assert len(p.trace.events) == 5000 * per_call  # linear in the calls, nothing extra per call
    assert p.layer("step").macs == 500 * few.layer("step").macs


def test_a_submodule_called_a_thousand_times_in_training():
    p = netcensus.profile(_Loop(1000), input_size=(2, 8), train=True)
    assert p.layer("step").calls == 1000
    assert p.trace.backward_start is not None


def test_two_hundred_and_thirty_levels_of_nesting():
    """PyTorch itself runs this nest within Python's default recursion limit; so must the trace."""
    model: nn.Module = nn.Linear(4, 4)
    for _ in range(230):
        model = nn.Sequential(model)
    with torch.no_grad():
        model(torch.zeros(1, 4))
    p = netcensus.profile(model, input_size=(1, 4), train=True)
    assert p.total_params == 20 and len(p.layers) == 231
    assert json.dumps(p.to_dict())


class _ManyParams(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.table = nn.ParameterList(nn.Parameter(torch.zeros(3)) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[0] + self.table[-1]


def test_twenty_thousand_parameter_tensors():
    model = _ManyParams(20_000)
    assert netcensus.profile(model, input_size=(2, 3)).total_params == 60_000
    p = netcensus.profile(model, input_size=(2, 3), train=True, optimizer=None)
    assert p.total_params == 60_000


def test_optimizer_state_for_two_thousand_parameter_tensors():
    """The optimizer state is measured by running torch.optim on meta stand-ins, about 2 ms per
    parameter tensor on a laptop core: 2,000 tensors here; 20,000 take some 40 s (see
    docs/reliability.md)."""
    p = netcensus.profile(_ManyParams(2_000), input_size=(2, 3), train=True)
    assert p.total_params == 6_000


def _encoder() -> nn.Module:
    return nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)


def test_a_transformer_layer_at_a_million_tokens_on_meta():
    """Shapes only: a 10^6 x 10^6 attention matrix costs nothing on meta."""
    layer = _encoder()  # target="cpu": the Python forward, whose self_attn row has the attention
    small = netcensus.profile(layer, input_size=(1, 128, 64), target="cpu")
    big = netcensus.profile(layer, input_size=(1, 1_000_000, 64), target="cpu")
    assert big.layers[0].output_shapes == [(1, 1_000_000, 64)]
    assert [e.op for e in big.trace.events] == [e.op for e in small.trace.events]
    assert big.layer("self_attn").macs > small.layer("self_attn").macs * (1_000_000 // 128) ** 2 // 2


class _CausalStack(nn.Module):
    """Four causal attention calls over a [1, 1, L, 8] sequence (no parameters)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(4):
            x = F.scaled_dot_product_attention(x, x, x, is_causal=True)
        return x


def test_causal_attention_at_two_million_tokens_on_meta():
    """MACs count the dense L x L products (docs/conventions.md); the causal figure beside them counts
    the L(L+1)/2 unmasked pairs, 2,000,001,000,000 per call here."""
    L = 2_000_000
    p = netcensus.profile(_CausalStack(), input_size=(1, 1, L, 8))
    assert p.layers[0].output_shapes == [(1, 1, L, 8)]
    assert p.layers[0].macs == 4 * 2 * L * L * 8  # four calls of QK^T and PV, E = 8


def test_llama_at_a_million_tokens_on_meta():
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                                      num_key_value_heads=2, intermediate_size=128, vocab_size=1000,
                                      max_position_embeddings=1_000_000)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    small = netcensus.profile(model, input_size="input_ids=1x128:int64")
    big = netcensus.profile(model, input_size="input_ids=1x1000000:int64")
    assert big.layers[0].output_shapes[0] == (1, 1_000_000, 1000)
    assert len(big.trace.events) == len(small.trace.events)


def _walk(value: Any, seen: set[int]) -> None:
    """Fail on any tensor, module or torch object held anywhere in a trace."""
    if id(value) in seen or value is None or isinstance(value, (bool, int, float, str, complex)):
        return
    seen.add(id(value))
    assert not isinstance(value, (torch.Tensor, nn.Module, torch.dtype, torch.device)), type(value)
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            _walk(getattr(value, f.name), seen)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(k, seen)
            _walk(v, seen)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            _walk(v, seen)
    else:
        raise AssertionError(f"unexpected object in the trace: {type(value).__name__}")


def _traced(layer: nn.Module, seq: int) -> tuple[Any, int]:
    gc.collect()
    tracemalloc.start()
    try:
        p = netcensus.profile(layer, input_size=(2, seq, 64), train=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return p, peak


def test_the_trace_does_not_grow_with_tensor_sizes():
    layer = _encoder()
    netcensus.profile(layer, input_size=(2, 16, 64), train=True)  # warm caches (imports, op tables)
    small, small_peak = _traced(layer, 128)
    big, big_peak = _traced(layer, 131_072)
    assert len(big.trace.events) == len(small.trace.events)
    assert [(e.op, e.module, e.phase) for e in big.trace.events] == \
        [(e.op, e.module, e.phase) for e in small.trace.events]
    assert len(big.trace.saved) == len(small.trace.saved)
    assert len(big.trace.frees) == len(small.trace.frees)
    _walk(big.trace, set())
    # Python memory to trace and analyse: the same order at 1,024x the tokens (no tensor is allocated)
    assert big_peak < 2 * small_peak + (1 << 20), (small_peak, big_peak)
