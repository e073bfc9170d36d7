"""KV cache from the attention calls in a trace, against the closed form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netcensus.analyses.memory import kv_cache
from netcensus.trace.tracer import trace_model


class RepeatKV(nn.Module):
    """Grouped-query attention that repeats k/v heads before the call (expand + reshape)."""

    def __init__(self, d=64, heads=8, kv_heads=2):
        super().__init__()
        self.h, self.kv, self.hd = heads, kv_heads, d // heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, kv_heads * self.hd)
        self.v = nn.Linear(d, kv_heads * self.hd)

    def forward(self, x):
        b, n, _ = x.shape
        q = self.q(x).view(b, n, self.h, self.hd).transpose(1, 2)
        k = self.k(x).view(b, n, self.kv, self.hd).transpose(1, 2)
        v = self.v(x).view(b, n, self.kv, self.hd).transpose(1, 2)
        rep = self.h // self.kv
        k = k[:, :, None].expand(b, self.kv, rep, n, self.hd).reshape(b, self.h, n, self.hd)
        v = v[:, :, None].expand(b, self.kv, rep, n, self.hd).reshape(b, self.h, n, self.hd)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return y.transpose(1, 2).reshape(b, n, self.h * self.hd)


def test_repeated_kv_heads_are_cached_unrepeated():
    m = nn.Sequential(RepeatKV(), RepeatKV())
    trace = trace_model(m, (torch.randn(1, 16, 64),))
    kv = kv_cache(trace, batch=4, context=1024)
    # 2 (K and V) * 2 layers * 4 batch * 1024 tokens * 2 kv heads * 8 head dim * 4 bytes = 1,048,576.
    assert kv.bytes == 2 * 2 * 4 * 1024 * 2 * 8 * 4 == 1_048_576
    assert [layer.kv_heads for layer in kv.per_layer] == [2, 2]
    assert kv.formula.startswith("2 * layers * batch * context * kv_heads * head_dim * bytes")
    assert kv_cache(trace, 4, 1024, kv_heads=8).bytes == 4 * 1_048_576
    assert kv_cache(trace, 4, 1024, dtype="float8_e4m3fn").bytes == 1_048_576 // 4


def test_llama_gqa_and_gpt2():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    llama = transformers.LlamaForCausalLM(cfg).to(torch.bfloat16)
    kv = kv_cache(trace_model(llama, (torch.randint(0, 128, (1, 8)),)), batch=2, context=4096)
    # 2 * 3 layers * 2 * 4096 * 2 kv heads * 16 head dim * 2 bytes (bfloat16) = 3,145,728.
    assert kv.bytes == 2 * 3 * 2 * 4096 * 2 * 16 * 2 == 3_145_728
    gcfg = transformers.GPT2Config(vocab_size=128, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                                   bos_token_id=0, eos_token_id=0)
    gpt2 = transformers.GPT2LMHeadModel(gcfg)
    kv = kv_cache(trace_model(gpt2, (torch.randint(0, 128, (1, 8)),)), batch=1, context=64)
    # 2 * 2 layers * 1 * 64 * 4 heads * 16 * 4 bytes = 65,536.
    assert kv.bytes == 65_536 and kv.layers == 2


def test_no_attention_no_cache():
    trace = trace_model(nn.Linear(4, 4), (torch.randn(2, 4),))
    assert kv_cache(trace, 1, 10) is None
