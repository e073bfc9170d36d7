"""``netcensus MODEL --decode --kv-context N`` and ``netcensus.decode_step``: one new token per sequence
against a cache of N positions, checked against the closed form."""

from __future__ import annotations

import json

import pytest

import netcensus
from netcensus.cli import run

transformers = pytest.importorskip("transformers", reason="decode needs a transformers causal LM")

D, FF, L, H, HKV, V = 256, 512, 2, 4, 2, 1000  # hidden, intermediate, layers, heads, kv heads, vocab
HD = D // H


def _matmul_params() -> int:
    # per layer: q (D*D) + k, v (D * HKV*HD each) + o (D*D) + gate, up, down (3*D*FF); plus lm_head D*V
    return L * (2 * D * D + 2 * D * HKV * HD + 3 * D * FF) + D * V


def _decode_macs(batch: int, context: int) -> int:
    # each new token: every matmul weight once, and per layer and head q.k and p.v over context + 1 keys
    return batch * (_matmul_params() + L * H * 2 * (context + 1) * HD)


def test_cli_decode_core_macs_follow_the_closed_form(capsys):
    argv = ["hf:llama", "--set", f"hidden_size={D}", "--set", f"intermediate_size={FF}", "--set",
            f"num_hidden_layers={L}", "--set", f"num_attention_heads={H}", "--set", f"num_key_value_heads={HKV}",
            "--set", f"vocab_size={V}", "--decode", "--kv-context", "300", "--batch", "3", "--format", "json"]
    assert run(argv) == 0
    out = capsys.readouterr().out
    data = json.loads(out[out.index("{"):])
    assert data["compute"]["totals"]["forward"]["core_macs"] == _decode_macs(3, 300)


def test_decode_needs_a_context(capsys):
    assert run(["hf:llama", "--set", "num_hidden_layers=1", "--decode"]) == 2
    assert "--kv-context" in capsys.readouterr().err


def test_decode_step_is_exported_by_the_package():
    config = transformers.LlamaConfig(hidden_size=D, intermediate_size=FF, num_hidden_layers=L,
                                      num_attention_heads=H, num_key_value_heads=HKV, vocab_size=V)
    import torch

    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    p = netcensus.decode_step(model, batch=2, kv_context=64)
    assert p.core_macs == _decode_macs(2, 64)
