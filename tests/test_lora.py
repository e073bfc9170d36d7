"""LoRA without peft (netcensus.load.lora) against peft's published figure, peft itself and a real CPU run.

Published figure (peft's README, "Get started": Llama-2-7b-hf with LoraConfig(r=8) on q_proj and v_proj):
"trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622".
Arithmetic: each of the 32 layers adds A (8 x 4096) and B (4096 x 8) to q_proj and to v_proj:
32 * 2 * (8*4096 + 4096*8) = 4,194,304; Llama-2-7B has 6,738,415,616 parameters.
"""

from __future__ import annotations

import collections
import copy

import pytest
import torch
from test_hf_training import SMALL, ids, meta_step_matching_a_real_run, real_run

import netcensus
from netcensus.analyses.compute import analyze_compute
from netcensus.errors import SpecError
from netcensus.load.lora import LoraLinear, LoraSpec, add_lora, lora_counts
from netcensus.ops import expand
from netcensus.trace.tracer import trace_model

T = pytest.importorskip("transformers")
T.logging.set_verbosity_error()


def llama_2_7b() -> torch.nn.Module:
    config = T.LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                           num_attention_heads=32, vocab_size=32000)
    with torch.device("meta"):
        return T.LlamaForCausalLM(config)


def small_llama() -> torch.nn.Module:
    torch.manual_seed(0)
    return T.LlamaForCausalLM(T.LlamaConfig(**SMALL))


def test_peft_published_llama_2_7b_figure() -> None:
    model = llama_2_7b()
    assert sum(p.numel() for p in model.parameters()) == 6_738_415_616
    report = add_lora(model, LoraSpec(r=8, targets=("q_proj", "v_proj")))
    assert str(report) == "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622"
    assert len(report.wrapped) == 64
    profile = netcensus.profile(model, input_size="input_ids=1x16:int64")
    assert (profile.trainable_params, profile.total_params) == (4_194_304, 6_742_609_920)


def test_parse() -> None:
    assert LoraSpec.parse("r=16,alpha=32,targets=q_proj+k_proj+v_proj,dropout=0.05") == \
        LoraSpec(16, 32.0, ("q_proj", "k_proj", "v_proj"), 0.05)
    assert LoraSpec.parse("") == LoraSpec()  # peft's defaults: r=8, alpha=8
    for bad in ("r=0", "rank=8", "alpha=x", "dropout=1", "targets="):
        with pytest.raises(SpecError):
            LoraSpec.parse(bad)


def test_no_matching_target_names_the_linear_layers() -> None:
    with pytest.raises(SpecError, match="q_proj") as info:
        add_lora(small_llama(), "targets=query")
    assert "o_proj" in str(info.value)


def test_gpt2_conv1d_and_all_linear() -> None:
    model = T.GPT2LMHeadModel(T.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=97))
    report = add_lora(model, "r=4,targets=c_attn")
    # c_attn is a Conv1D 32 -> 96: A 4x32 + B 96x4 per layer
    assert report.trainable == 2 * (4 * 32 + 96 * 4)
    model = small_llama()
    report = add_lora(model, "r=2,targets=all-linear")
    assert "lm_head" not in report.wrapped and len(report.wrapped) == 2 * 7


def test_lora_step_on_meta_matches_a_real_cpu_run() -> None:
    model = small_llama()
    add_lora(model, "r=4,alpha=8,targets=q_proj+v_proj")
    kwargs = {"input_ids": ids(), "labels": ids()}
    meta_step_matching_a_real_run(model, kwargs)  # saved tensors and FLOPs equal a real CPU step


def test_frozen_base_gets_no_weight_gradient_and_adapters_get_the_optimizer() -> None:
    model = small_llama()
    report = add_lora(model, "r=4,targets=q_proj+v_proj")
    p = netcensus.profile(model, {"input_ids": ids(), "labels": ids()}, train=True, optimizer="adamw")
    assert p.trainable_params == report.trainable == 2 * 2 * (4 * 32 + 32 * 4)
    assert p.memory.gradients == 4 * report.trainable          # fp32 gradients of the adapters only
    assert p.memory.optimizer == 2 * 4 * report.trainable      # AdamW: two fp32 moments per parameter
    # The frozen base layers run no weight-gradient matmul. In layer 0 nothing before them needs a
    # gradient (frozen embedding and norm): no backward matmul at all; in layer 1 one, the input gradient
    # (grad_out (64 x 32) @ W (32 x 32)), where a trainable layer would run two.
    def backward_mms(path: str) -> list[tuple]:
        return [tuple(tuple(a.shape) for a in e.args) for e in p.trace.events
                if e.module == path and e.phase == "backward" and e.op == "aten.mm.default"]
    assert backward_mms("model.layers.0.self_attn.q_proj.base_layer") == []
    assert backward_mms("model.layers.1.self_attn.q_proj.base_layer") == [((64, 32), (32, 32))]
    assert len(backward_mms("model.layers.1.self_attn.k_proj")) == 1


def test_adapters_in_float32_beside_a_bf16_base() -> None:
    """peft's autocast_adapter_dtype=True (its default): fp16/bf16 bases get float32 adapters."""
    model = small_llama().to(torch.bfloat16)
    add_lora(model, "targets=q_proj")
    layer = model.model.layers[0].self_attn.q_proj
    assert isinstance(layer, LoraLinear) and layer.lora_A.weight.dtype == torch.float32
    trace = trace_model(model, (), {"input_ids": ids()}, train=False)
    out = next(c for c in trace.calls if c.path == "model.layers.0.self_attn.q_proj").outputs
    assert out.dtype == "bfloat16"


def test_peft_wrapped_model_profiles_as_our_lora() -> None:
    peft = pytest.importorskip("peft")
    base = small_llama()
    ours = copy.deepcopy(base)
    add_lora(ours, "r=4,alpha=8,dropout=0.1,targets=q_proj+v_proj")
    wrapped = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.1, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    assert lora_counts(wrapped).trainable == lora_counts(ours).trainable
    kwargs = {"input_ids": ids(), "labels": ids()}
    a = netcensus.profile(ours, kwargs, train=True)
    b = netcensus.profile(wrapped, kwargs, train=True)
    assert (a.trainable_params, a.total_params) == (b.trainable_params, b.total_params)
    assert [e.op for e in a.trace.events] == [e.op for e in b.trace.events]
    assert a.compute.totals.total.flops == b.compute.totals.total.flops
    assert (a.memory.gradients, a.memory.optimizer, a.memory.peak) == (b.memory.gradients, b.memory.optimizer,
                                                                      b.memory.peak)
    wrapped.train()
    trace = trace_model(wrapped, (), kwargs, train=True, expand=expand)  # (math attention, as the CPU run)
    flops, saved = real_run(wrapped, kwargs)
    assert collections.Counter((m.tensor.shape, m.tensor.dtype) for m in trace.saved) == saved
    assert 2 * analyze_compute(trace).totals.total.core_macs == flops
