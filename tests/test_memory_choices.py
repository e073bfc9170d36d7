"""Precision policies, checkpointing choices and the trace setup helpers."""

from __future__ import annotations

import pytest
import torch
from test_memory_oracle import measure
from torch import nn

import netcensus
from netcensus.analyses.memory import analyze_memory
from netcensus.analyses.memory import param_infos
from netcensus.analyses.memory.checkpoint import check_targets
from netcensus.errors import MemoryConfigError
from netcensus.options import Checkpointing, OptimizerSpec, Precision
from netcensus.trace.contexts import low_precision_parameters, trace_contexts
from netcensus.trace.contexts.autocast import AutocastEmulation
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
    with pytest.raises(MemoryConfigError, match="got 3"):
        Checkpointing.parse(3)


@pytest.mark.parametrize("value", ["all", "ALL", "blocks", " all ", ["all"], ("blocks",), True])
def test_checkpointing_keywords_mean_every_block_in_any_spelling(value):
    # the CLI passes its text through as it is, so "--checkpointing blocks" is the keyword too
    assert Checkpointing.parse(value) == Checkpointing(frozenset(), True)


@pytest.mark.parametrize("value", ["none", "off", "", " , ", ["none"], [], False])
def test_checkpointing_keywords_for_none(value):
    assert Checkpointing.parse(value) is None


def test_checkpointing_comma_text_and_lists_agree():
    assert Checkpointing.parse("layers.0, Block").targets == {"layers.0", "Block"}
    assert Checkpointing.parse([" layers.0", "Block "]).targets == {"layers.0", "Block"}


def test_checkpointing_keyword_with_names_is_refused():
    with pytest.raises(MemoryConfigError) as info:
        Checkpointing.parse("all,Linear")
    assert "'all'" in info.value.what and "'Linear'" in info.value.what
    assert info.value.fix and "alone" in info.value.fix


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        return self.norm(self.fc(x).relu())


class _Stack(nn.Module):
    """Twelve blocks (layers.0 .. layers.11), a head, a module registered twice and one never called."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([_Block() for _ in range(12)])
        self.head = nn.Linear(8, 2)
        self.out = self.head  # a second name of the head
        self.unused = nn.Linear(8, 8)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def _refused(checkpointing, train=True) -> MemoryConfigError:
    with pytest.raises(MemoryConfigError) as info:
        netcensus.profile(_Stack(), input_size=(2, 8), train=train, checkpointing=checkpointing)
    error = info.value
    assert error.exit_code == 2 and error.where == "_Stack"
    assert "\n" not in str(error)
    return error


def test_checkpointing_a_path_that_does_not_exist_is_refused_with_close_matches():
    error = _refused(["layers.99"])
    assert "'layers.99'" in error.what and "matches no module" in error.what
    assert "did you mean 'layers.9'" in error.fix
    # the fix lists the kinds of names that are valid, from this model
    assert "'layers.0', 'layers.1'" in error.fix and "'_Block'" in error.fix and "'all'" in error.fix
    assert "ModuleList" not in error.fix  # a container has no forward to checkpoint


def test_checkpointing_refused_before_the_trace_also_for_inference():
    error = _refused("layers.99", train=False)
    assert "'layers.99'" in error.what


@pytest.mark.parametrize("target,hint", [
    ("_Blok", "did you mean '_Block'"),
    ("torch.nn.Linear", "did you mean 'Linear'"),
    ("_Stack", "is the model itself"),
    ("out", "another name of 'head'"),
])
def test_checkpointing_hints_for_near_misses(target, hint):
    error = _refused([target])
    assert repr(target) in error.what
    assert hint in error.fix


def test_checkpointing_names_every_unmatched_target():
    error = _refused("layers.1,nosuch,layers.99")
    assert "targets 'layers.99', 'nosuch' match no module" in error.what
    assert "'layers.1'" not in error.what


def test_checkpointing_on_a_model_without_submodules():
    with pytest.raises(MemoryConfigError) as info:
        netcensus.profile(nn.Linear(4, 3), input_size=(2, 4), train=True, checkpointing="x")
    assert "'x'" in info.value.what and "no submodules" in info.value.fix


def test_check_targets_takes_plain_module_lists():
    modules = [("", "Net"), ("h", "ModuleList"), ("h.0", "Block"), ("h.1", "Block")]
    check_targets(Checkpointing.parse("h.0,Block"), modules)
    check_targets(Checkpointing.parse("all"), modules)
    check_targets(None, modules)
    with pytest.raises(MemoryConfigError, match="'h.2'"):
        check_targets(Checkpointing.parse("h.2"), modules, model="Net")


@pytest.mark.parametrize("checkpointing", ["all", "blocks", ["all"], "layers.3,_Block", [_Block], "Linear"])
def test_checkpointing_valid_forms_still_checkpoint(checkpointing):
    p = netcensus.profile(_Stack(), input_size=(2, 8), train=True, checkpointing=checkpointing)
    assert p.memory.checkpointed
    assert not [n for n in p.notes if n.startswith("checkpointing")]


def test_checkpointing_that_selects_nothing_says_so():
    p = netcensus.profile(_Stack(), input_size=(2, 8), train=True, checkpointing=["unused"])
    assert p.memory.checkpointed == ()
    assert any("'unused' never ran" in n for n in p.notes)
    q = netcensus.profile(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), input_size=(2, 4), train=True,
                          checkpointing="all")
    assert q.memory.checkpointed == ()
    assert any("checkpointing 'all': the model has no blocks" in n for n in q.notes)


def test_pure_low_precision_needs_low_precision_parameters():
    m = _mlp()
    trace = trace_model(m, (torch.randn(4, 32),), train=True)
    with pytest.raises(MemoryConfigError, match="bfloat16"):
        analyze_memory(trace, param_infos(m), precision=Precision("bf16"))


def test_pure_bf16_matches_a_real_bf16_run():
    m = _mlp()
    x = torch.randn(16, 32, dtype=torch.bfloat16)
    before = [p for p in m.parameters()]
    with low_precision_parameters(m, torch.bfloat16):
        infos = param_infos(m)
        trace = trace_model(m, (x,), train=True)
        est = analyze_memory(trace, infos, precision=Precision("bf16"))
        adam = analyze_memory(trace, infos, precision=Precision("bf16"), optimizer=OptimizerSpec("adam"))
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
    r = analyze_memory(trace, param_infos(m), precision=Precision("bf16-mixed"))
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
    # fp32 on CUDA: the encoder fast path and the fused attention; bf16-mixed: fused attention and the
    # autocast emulation (autocast turns the encoder fast path off); on a CPU target: attention only
    assert len(trace_contexts(Precision("fp32"))) == 2 and len(trace_contexts(Precision("bf16-mixed"))) == 2
    assert len(trace_contexts(Precision("fp32"), device_type="cpu")) == 1
    assert trace_contexts(Precision("fp32"), attention="math") == ()
    with pytest.raises(MemoryConfigError):
        trace_contexts(Precision("fp32"), attention="flash3")
