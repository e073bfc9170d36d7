"""``netcensus serve``: the subcommand end to end, and the MoE families through serve()."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("transformers")
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

from netcensus.cli import run  # noqa: E402
from netcensus.serving import serve  # noqa: E402


def test_serve_command_mixtral(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["serve", "hf:mixtral", "--set", "num_hidden_layers=1", "--seq", "16", "--kv-context", "64",
                "--batch", "2", "--weights", "nf4-dq", "--kv-dtype", "fp8", "--format", "json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["weights"]["format"] == "nf4-dq"
    assert data["decode"]["context"] == 65 and data["prefill"]["new_tokens"] == 16
    # 1 layer: k and v of 8 kv heads * 128 dims, 2 sequences * 65 positions, 1 byte (fp8)
    assert data["decode"]["kv_cache"] == 2 * 2 * 65 * 8 * 128
    moe = data["moe"]
    assert moe["blocks"][0]["experts"] == 8 and moe["blocks"][0]["top_k"] == 2
    # one layer: experts 8 * 3 * 4096 * 14336 = 1,409,286,144, of which a token uses 2/8
    assert moe["total_params"] - moe["active_params"] == 1_409_286_144 * 6 // 8
    from netcensus.results.serving import ServingResult

    again = ServingResult.from_dict(data)  # the JSON rebuilds the result, MoE included
    assert again.moe is not None and again.moe.blocks[0].experts == 8
    assert json.loads(json.dumps(again.to_dict())) == data


def test_serve_command_table_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["serve", "hf:mixtral", "--set", "num_hidden_layers=1", "--seq", "8", "--weights", "gptq:64",
                "--explain"]) == 0
    out = capsys.readouterr().out
    assert "prefill" in out and "decode" in out and "Mixture of experts" in out
    assert "G = ceil(4,096/64)" in out  # the per-tensor arithmetic


def test_bad_weight_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["serve", "hf:mixtral", "--set", "num_hidden_layers=1", "--weights", "int3"]) == 2
    assert "unknown weight format" in capsys.readouterr().err


@pytest.mark.parametrize("model_type, kw", [
    ("qwen2_moe", dict(moe_intermediate_size=32, shared_expert_intermediate_size=64, num_experts=8,
                       num_experts_per_tok=2)),
    ("qwen3_moe", dict(moe_intermediate_size=32, num_experts=8, num_experts_per_tok=2, head_dim=16)),
    ("deepseek_v3", dict(moe_intermediate_size=32, first_k_dense_replace=1, n_routed_experts=8,
                         num_experts_per_tok=2, n_shared_experts=1, n_group=2, topk_group=1, q_lora_rank=32,
                         kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16)),
])
def test_moe_families_serve(model_type: str, kw: dict) -> None:
    cfg = AutoConfig.for_model(model_type, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=4,
                               num_key_value_heads=2 if model_type != "deepseek_v3" else 4,
                               vocab_size=128, **kw)
    with torch.device("meta"):
        m = AutoModelForCausalLM.from_config(cfg)
    r = serve(m, batch=2, prompt=16, kv_context=32, weights="fp8-block")
    assert r.moe is not None and r.moe.active_params < r.moe.total_params
    assert r.decode.flops > 0 and r.decode.kv_cache > 0 and r.prefill.flops > r.decode.flops
    # uniform routing: 2*16 tokens * top-2 / 8 experts = 8 pairs each
    assert r.moe.tokens_per_expert == (8.0,) * 8


def test_serve_needs_a_causal_lm() -> None:
    from netcensus.errors import SpecError

    with pytest.raises(SpecError, match="cache"):
        serve(torch.nn.Linear(4, 4))
