"""Transformers models built from config classes on meta (no download), traced for one training step.

Oracle: a training step's matmul FLOPs are ``6 * tokens * P`` (P: parameters of the matmuls; forward
2 per MAC, backward twice that for the input and weight gradients) plus the attention products,
``12 * B * L^2 * D`` per layer (Q K^T and P V are ``B*L*L*D`` MACs each with D = heads * head_dim;
forward 2 products * 2 FLOPs, backward twice the forward). The causal-aware figure replaces ``L^2``
by ``L(L+1)/2``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netcensus.analyses.compute import ComputeResult, analyze_compute
from netcensus.ops import expand
from netcensus.trace.tracer import trace_model

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

B, L, VOCAB, D, LAYERS, HEADS = 2, 16, 100, 64, 2, 4


def matmul_params(model: nn.Module, skip: tuple[str, ...] = ()) -> int:
    """Weights of every Linear (and GPT-2's Conv1D), each counted where it is used."""
    total = 0
    for name, module in model.named_modules():
        if name.startswith(skip):
            continue
        if isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D":
            total += module.weight.numel()
    return total


def step(model: nn.Module, with_labels: bool = True) -> ComputeResult:
    ids = torch.randint(0, VOCAB, (B, L))
    kwargs = {"labels": ids} if with_labels else {}
    result = analyze_compute(trace_model(model, (ids,), kwargs, train=True, expand=expand))
    assert result.coverage.unsupported == 0, result.coverage.unsupported_by_op
    return result


def attention_flops(pairs: int) -> int:
    return 12 * B * pairs * D * LAYERS


def assert_close(ours: int, expected: int) -> None:
    assert abs(ours - expected) <= 0.01 * expected, (ours, expected)


def test_gpt2() -> None:
    cfg = transformers.GPT2Config(n_embd=D, n_layer=LAYERS, n_head=HEADS, vocab_size=VOCAB, n_positions=32)
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(cfg)
    r = step(model)
    p = matmul_params(model)  # 2 layers * (64*192 + 64*64 + 64*256 + 256*64) + lm_head 64*100 = 104,704
    assert p == 104_704
    expected = 6 * B * L * p + attention_flops(L * L)
    assert_close(2 * r.totals.total.core_macs, expected)
    assert_close(2 * r.totals.causal_total.core_macs, 6 * B * L * p + attention_flops(L * (L + 1) // 2))
    assert r.coverage.regions == 2 * LAYERS  # one attention call per layer, forward and backward


def test_bert_with_pooler() -> None:
    cfg = transformers.BertConfig(hidden_size=D, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                  intermediate_size=2 * D, vocab_size=VOCAB, max_position_embeddings=32)
    with torch.device("meta"):
        model = transformers.BertModel(cfg)
    r = step(model, with_labels=False)
    p = matmul_params(model, skip=("pooler",))  # 2 * (3*64*64 + 64*64 + 2*64*128) = 65,536
    assert p == 65_536
    pooler = 6 * B * D * D  # the pooler sees one token per sequence
    expected = 6 * B * L * p + pooler + attention_flops(L * L)
    assert_close(2 * r.totals.total.core_macs, expected)
    assert r.totals.causal_total == r.totals.total  # bidirectional: no causal mask


def test_llama_grouped_query_attention() -> None:
    cfg = transformers.LlamaConfig(hidden_size=D, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                   num_key_value_heads=2, intermediate_size=2 * D, vocab_size=VOCAB)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    r = step(model)
    # per layer q 64*64, k and v 64*32 (2 kv heads of 16), o 64*64, gate/up/down 3*64*128; lm_head 64*100
    p = matmul_params(model)
    assert p == LAYERS * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128) + 64 * 100 == 80_128
    # attention products are counted per query head: D = 4 heads * 16 = 64
    assert_close(2 * r.totals.total.core_macs, 6 * B * L * p + attention_flops(L * L))
    assert_close(2 * r.totals.causal_total.core_macs, 6 * B * L * p + attention_flops(L * (L + 1) // 2))
    attn = [i for i in r.items if i.op == "scaled_dot_product_attention"]
    assert len(attn) == 2 * LAYERS and all("GQA" in i.formula for i in attn if i.phase == "backward")
