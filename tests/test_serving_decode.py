"""Serving: decode FLOPs against the closed form, the KV cache by formula, sliding windows, round trips."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

from netcensus.results.serving import ServingResult  # noqa: E402
from netcensus.serving import render, serve  # noqa: E402


def _llama(**kw: object) -> torch.nn.Module:
    cfg = AutoConfig.for_model("llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, vocab_size=100, **kw)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(cfg)


def test_decode_matmul_flops_closed_form() -> None:
    m = _llama()
    b, n = 3, 40
    r = serve(m, batch=b, prompt=n)
    # non-embedding matmul parameters: per layer q 64*64 + k 64*32 + v 64*32 + o 64*64 = 12,288,
    # MLP 3*64*128 = 24,576 -> 36,864 * 2 layers = 73,728; lm_head 100*64 = 6,400 -> P = 80,128
    p = 2 * (4_096 + 2_048 + 2_048 + 4_096 + 3 * 64 * 128) + 6_400
    assert p == 80_128
    # decode core MACs = b * P (one token) + attention over the cache: per layer QK^T and AV,
    # each heads 4 * (n + 1) positions * head_dim 16 -> b * 2 layers * 2 * 4 * 41 * 16
    attention = b * 2 * 2 * 4 * (n + 1) * 16
    assert r.decode.core_macs == b * p + attention
    # decode FLOPs per token >= 2 * P + 2 * attention/b (the closed form); the rest are norms, softmax, rope
    assert r.decode.flops_per_token >= 2 * p + 2 * attention // b
    # the cache after the step: 2 (k, v) * 2 layers * b * (n + 1) * 2 kv heads * 16 * 4 bytes (float32)
    assert r.decode.kv_cache == 2 * 2 * b * (n + 1) * 2 * 16 * 4
    assert r.prefill.kv_cache == 2 * 2 * b * n * 2 * 16 * 4
    assert r.decode.peak == r.decode.weights + r.decode.kv_cache + r.decode.temporaries


def test_kv_dtype_and_weight_format() -> None:
    m = _llama()
    r = serve(m, batch=2, prompt=16, kv_context=64, weights="int8", kv_dtype="fp8")
    assert r.decode.context == 65
    assert r.decode.kv_cache == 2 * 2 * 2 * 65 * 2 * 16 * 1  # one byte per element
    # int8: 73,728 quantised weights + fp32 row scales 4 * (2 * (64 + 32 + 32 + 64 + 128 + 128 + 64)) = 4,096
    assert r.weights.quantized_bytes == 73_728 + 4 * 2 * (64 + 32 + 32 + 64 + 128 + 128 + 64)
    text = render(r, explain=True)
    assert "prefill" in text and "decode" in text and "N + 4*out" in text


def test_sliding_window_cache_has_its_real_size() -> None:
    cfg = AutoConfig.for_model("mistral", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, vocab_size=100,
                               sliding_window=16)
    with torch.device("meta"):
        m = AutoModelForCausalLM.from_config(cfg)
    r = serve(m, batch=1, prompt=8, kv_context=200)
    full = 2 * 2 * 1 * 201 * 2 * 16 * 4
    assert 0 < r.decode.kv_cache < full / 8  # the window keeps at most 16 positions per layer


def test_result_round_trip_and_fit() -> None:
    # (the cuda target counts a 32 MiB cuBLAS workspace)
    r = serve(_llama(), batch=1, prompt=8, budget=64 * 1024 * 1024)
    assert ServingResult.from_dict(r.to_dict()) == r
    assert r.fit is not None and r.fit.value >= 1 and r.fit.peak <= 64 * 1024 * 1024
    assert dict(r.fit.tries)[r.fit.value + 1] > 64 * 1024 * 1024  # one more sequence does not fit


def test_fit_from_the_polynomial_equals_the_traced_search() -> None:
    # the decode peak is a polynomial of the batch (KV cache and activations linear in it): three traced
    # sizes give it, two more confirm the answer; the doubling-and-bisection search over traces agrees.
    # (target="cpu": this model's tensors are a few bytes per sequence, which the CUDA allocator's
    # 512-byte blocks round into steps, and the search then traces: test_result_round_trip_and_fit)
    from netcensus.analyses.memory import fit as search_fit

    model = _llama()
    budget = 16 * 1024 * 1024
    r = serve(model, batch=1, prompt=8, budget=budget, target="cpu")
    assert r.fit is not None and r.fit.method.startswith("a quadratic through traced sizes"), r.fit.method
    assert len(r.fit.tries) <= 12
    old = search_fit(lambda n: serve(model, batch=n, prompt=8, target="cpu").decode.peak, budget)
    assert (r.fit.value, r.fit.peak) == (old.value, old.peak)


def test_decode_step_profile() -> None:
    from netcensus.serving import decode_step

    p = decode_step(_llama(), batch=3, kv_context=40)
    # the same closed form as above: b * P + b * layers * 2 * heads * (n + 1) * head_dim
    assert p.compute.totals.forward.core_macs == 3 * 80_128 + 3 * 2 * 2 * 4 * 41 * 16


def test_decode_peak_against_a_measured_h200_run() -> None:
    """Measured on an NVIDIA H200 (torch 2.11.0+cu130, transformers 5.17.0): a bf16 Llama (hidden 1024,
    intermediate 2816, 4 layers, 16 heads, 4 KV heads, vocab 32000), DynamicCache filled by a prefill of
    8 x 2048 tokens, then ``torch.cuda.reset_peak_memory_stats()`` and one decode step of 8 x 1 token:
    ``torch.cuda.max_memory_allocated()`` = 332,522,496 B (weights 221,267,968 B)."""
    cfg = AutoConfig.for_model("llama", hidden_size=1024, intermediate_size=2816, num_hidden_layers=4,
                               num_attention_heads=16, num_key_value_heads=4, vocab_size=32000)
    with torch.device("meta"):
        m = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    r = serve(m, batch=8, prompt=2048)
    assert r.decode.weights == 221_267_968
    # cache after the step: 2 * 4 layers * 8 * 2049 * 4 heads * 64 * 2 bytes = 67,141,632
    assert r.decode.kv_cache == 67_141_632
    assert r.decode.peak == pytest.approx(332_522_496, rel=0.01)  # predicted 330,429,184: -0.63%
