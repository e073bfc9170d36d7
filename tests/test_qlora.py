"""QLoRA (netcensus.load.qlora): LoRA on a base whose linear layers are stored in 4 bits, as transformers'
BitsAndBytesConfig(load_in_4bit=True) + peft run it.

Oracles: peft's published figure (its print_trainable_parameters counts a 4-bit weight at its logical
size, so the figure does not change), closed forms of the bitsandbytes layouts written out below, and a
real CPU run of the same model compared with the meta trace (FLOPs from FlopCounterMode, the tensors
autograd saves seen by saved_tensors_hooks).
"""

from __future__ import annotations

import collections
import copy
import json

import pytest
import torch
import torch.nn.functional as F
from test_hf_training import SMALL, ids, meta_step_matching_a_real_run

import netcensus
from netcensus.analyses.memory import distinct_bytes, param_infos
from netcensus.cli import run
from netcensus.errors import SpecError
from netcensus.load.lora import LoraLinear4bit, LoraSpec, add_lora
from netcensus.load.qlora import Linear4bit
from netcensus.trace.tracer import trace_model

T = pytest.importorskip("transformers")
T.logging.set_verbosity_error()


def small_llama() -> torch.nn.Module:
    torch.manual_seed(0)
    return T.LlamaForCausalLM(T.LlamaConfig(**SMALL))


def test_peft_published_figure_is_unchanged_on_a_4bit_base() -> None:
    """peft's README (Llama-2-7b-hf, LoraConfig(r=8) on q_proj and v_proj) prints "trainable params:
    4,194,304 || all params: 6,742,609,920"; with the base in nf4 peft prints the same (a Params4bit counts
    numel x 2, its logical size)."""
    config = T.LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                           num_attention_heads=32, vocab_size=32000)
    with torch.device("meta"):
        model = T.LlamaForCausalLM(config).to(torch.bfloat16)
    report = add_lora(model, "r=8,targets=q_proj+v_proj,base=nf4")
    assert str(report) == "trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622"
    # Weights stored: per layer q, k, v, o are 4096 x 4096 (T = 16,777,216): T/2 + 4*T/64 = 8,388,608 +
    # 1,048,576 = 9,437,184 bytes; gate, up, down are 11008 x 4096 (T = 45,088,768): 22,544,384 +
    # 2,818,048 = 25,362,432. Per layer 4*9,437,184 + 3*25,362,432 = 113,836,032; x 32 = 3,642,753,024.
    # Kept in bf16: embed_tokens and lm_head (32000 x 4096 each) and 65 norms of 4096:
    # 2 * (262,144,000 + 266,240) = 524,820,480. Adapters in float32: 4 * 4,194,304 = 16,777,216.
    assert distinct_bytes(param_infos(model), "parameter") == 3_642_753_024 + 524_820_480 + 16_777_216
    assert "3,642,753,024 bytes" in report.notes[0] and "12,952,010,752 bytes in 16 bits" in report.notes[0]


@pytest.mark.parametrize(("base", "per_layer"), [
    # SMALL: hidden 32, intermediate 64, 4 heads of 8 (k, v: 32 wide). Per layer: q, k, v, o are 32 x 32
    # (T = 1024), gate, up, down 64 x 32 (T = 2048).
    # nf4: ceil(T/2) + 4*ceil(T/64): 512 + 64 = 576 and 1024 + 128 = 1152; 4*576 + 3*1152 = 5760.
    ("nf4", 5760),
    # nf4-dq: ceil(T/2) + B + 4*ceil(B/256) + 4, B = ceil(T/64): 512 + 16 + 4 + 4 = 536 and
    # 1024 + 32 + 4 + 4 = 1064; 4*536 + 3*1064 = 5336.
    ("nf4-dq", 5336),
])
def test_weight_memory_is_the_layouts_closed_form(base: str, per_layer: int) -> None:
    model = small_llama().to(torch.bfloat16)
    add_lora(model, f"r=4,targets=q_proj+v_proj,base={base}")
    p = netcensus.profile(model, {"input_ids": ids()}, target="cpu")
    # Kept in bf16: embed_tokens and lm_head (97 x 32 each), 5 norms of 32: 2 * (6208 + 160) = 12,736.
    # Adapters (float32, beside a 16-bit base): 2 layers x (q, v) x (A 4x32 + B 32x4): 4 * 1024 = 4096.
    assert p.memory.weights == 2 * per_layer + 12_736 + 4096
    assert (p.total_params, p.trainable_params) == (
        sum(q.numel() for q in small_llama().parameters()) + 1024, 1024)


def test_stand_in_computes_f_linear_and_gives_no_weight_gradient() -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(32, 48)
    x = torch.randn(4, 5, 32, requires_grad=True)
    layer = Linear4bit(linear.weight, linear.bias, "nf4", compute="float32")
    linear.requires_grad_(False)
    y = layer(x)
    assert torch.equal(y, F.linear(x, linear.weight, linear.bias))
    g = torch.randn_like(y)
    y.backward(g)
    assert x.grad is not None and torch.allclose(x.grad, g @ linear.weight)
    assert linear.weight.grad is None and linear.bias.grad is None
    # bf16 compute on fp32 weights: input, weight and bias in bf16, the output back in fp32
    y = Linear4bit(linear.weight, linear.bias, "fp4")(x)
    assert y.dtype == torch.float32
    assert torch.equal(y, F.linear(x.bfloat16(), linear.weight.bfloat16(), linear.bias.bfloat16()).float())


def test_gradients_reach_the_adapters_and_the_input_not_the_base() -> None:
    model = small_llama()
    add_lora(model, "r=4,targets=q_proj+v_proj,base=nf4")
    layer = model.model.layers[1].self_attn.q_proj
    assert isinstance(layer, LoraLinear4bit) and isinstance(layer.base_layer, Linear4bit)
    torch.nn.init.normal_(layer.lora_B.weight)  # (B starts at zero: A's gradient would be zero too)
    x = torch.randn(2, 3, 32, requires_grad=True)
    layer(x).sum().backward()
    assert layer.lora_A.weight.grad is not None and layer.lora_B.weight.grad is not None
    assert x.grad is not None and layer.base_layer.weight.grad is None


def test_gpt2_conv1d_becomes_out_by_in_and_the_tied_head_is_kept() -> None:
    torch.manual_seed(0)
    model = T.GPT2LMHeadModel(T.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=97))
    model.eval()
    before = model(ids()).logits
    report = add_lora(model, "r=4,targets=c_attn,base=nf4,compute=fp32")
    attn = model.transformer.h[0].attn
    assert isinstance(attn.c_attn.base_layer, Linear4bit) and attn.c_attn.base_layer.weight.shape == (96, 32)
    assert isinstance(attn.c_proj, Linear4bit) and isinstance(model.transformer.h[0].mlp.c_fc, Linear4bit)
    assert type(model.lm_head) is torch.nn.Linear  # tied to wte, and the output head: kept
    # lora_B starts at zero and the dequantised copy is exact: the same logits (addmm(b, x, W) before,
    # F.linear(x, W.t(), b) now: the same products, summed in possibly another order)
    torch.testing.assert_close(model(ids()).logits, before)
    assert "8 linear layers" in report.notes[0]


@pytest.mark.parametrize("base", ["nf4", "fp4-dq"])
def test_qlora_step_on_meta_matches_a_real_cpu_run(base: str) -> None:
    model = small_llama()  # float32 weights: compute in bf16 (fp32 dequantised, then cast), output fp32
    add_lora(model, f"r=4,alpha=8,targets=q_proj+v_proj,base={base}")
    kwargs = {"input_ids": ids(), "labels": ids()}
    trace = meta_step_matching_a_real_run(model, kwargs)
    # Each of the 14 4-bit layers dequantises once in forward, and again in backward where its input needs
    # a gradient: all 7 of layer 1, and in layer 0 o_proj, gate, up and down (downstream of the adapters;
    # q, k, v read the frozen embedding through a frozen norm): 11.
    empties = [e for e in trace.events if e.op == "aten.empty.memory_format" and len(e.outputs[0].shape) == 2]
    phases = collections.Counter(e.phase for e in empties)
    assert (phases["forward"], phases["backward"]) == (14, 11)


def test_one_token_without_gradient_takes_gemv_without_a_temporary() -> None:
    model = small_llama().to(torch.bfloat16)
    add_lora(model, "targets=q_proj,base=nf4")
    def dequantised(n: int) -> int:
        trace = trace_model(model, (), {"input_ids": ids()[:1, :n]}, train=False)
        return sum(e.op == "aten.empty.memory_format" for e in trace.events)
    # one token: only down_proj (in = 64) takes gemv_4bit; the 12 others have in = 32, not a multiple of
    # the 64-weight block, and fall back to MatMul4Bit as bitsandbytes does; two tokens: all 14 dequantise
    assert (dequantised(1), dequantised(2)) == (12, 14)


def test_training_peak_drops_by_the_weight_bytes() -> None:
    """The nf4 step runs the bf16 LoRA step's ops plus, inside each 4-bit layer, a dequantised [out, in]
    temporary freed before the layer returns (at most one alive at a time), and peft's 4-bit LoRA forward
    (the base output cloned, the adapters' output cast to bf16 before the sum, where the plain forward
    sums in float32: [tokens, out] temporaries of the layer's forward). Neither saves anything for
    backward, so at every point of the step the bytes other than the weights differ by at most the largest
    such temporary D, and so do the two peaks once the weight bytes are taken out."""
    base = small_llama().to(torch.bfloat16)
    kwargs = {"input_ids": ids(), "labels": ids()}
    peaks, weights = {}, {}
    for spec in ("r=4,targets=q_proj+v_proj", "r=4,targets=q_proj+v_proj,base=nf4"):
        model = copy.deepcopy(base)
        add_lora(model, spec)
        p = netcensus.profile(model, kwargs, train=True, target="cpu")
        peaks[spec], weights[spec] = p.memory.peak, p.memory.weights
    plain, nf4 = peaks.values()
    # 20,480 linear weights: 40,960 bytes in bf16, 11,520 in nf4 (test above): 29,440 bytes less
    assert weights["r=4,targets=q_proj+v_proj"] - weights["r=4,targets=q_proj+v_proj,base=nf4"] == 29_440
    tokens = 4 * 16
    largest = max(2 * 64 * 32,   # the largest dequantised weight, gate/up/down in bf16
                  4 * tokens * 32)  # the float32 sum of a targeted layer's plain forward, [64 tokens, 32]
    assert abs((plain - nf4) - 29_440) <= largest
    assert nf4 < plain


def test_parse_and_errors() -> None:
    spec = LoraSpec.parse("r=16,targets=q_proj+v_proj,base=NF4+DQ,compute=bf16")
    assert (spec.base, spec.compute) == ("nf4-dq", "bfloat16")
    assert LoraSpec.parse("base=fp4").base == "fp4" and LoraSpec().base is None
    with pytest.raises(SpecError, match="nf4, base=fp4, base=nf4-dq, base=fp4-dq"):
        LoraSpec.parse("base=nf3")
    with pytest.raises(SpecError, match="not modelled"):
        LoraSpec(base="int8")
    with pytest.raises(SpecError, match="not a 4-bit base"):
        LoraSpec(base="gptq")
    with pytest.raises(SpecError, match="no base"):
        LoraSpec.parse("compute=bf16")
    with pytest.raises(SpecError, match="compute dtype"):
        LoraSpec.parse("base=nf4,compute=int8")


def test_cli_qlora_training_step(capsys) -> None:
    argv = ["hf:meta-llama/Llama-2-7b-hf", "--set", "num_hidden_layers=2", "--seq", "16", "--train",
            "--lora", "r=8,targets=q_proj+v_proj,base=nf4"]
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "note: QLoRA base nf4" in out and "these temporaries are traced" in out
    assert run([*argv, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # 2 layers x 113,836,032 nf4 bytes (first test) = 227,672,064; kept in float16 (the config's dtype):
    # 2 * (2 * 131,072,000 + 5 * 4096) = 524,328,960; float32 adapters: 4 * 2 * 2 * 8 * 8192 = 1,048,576.
    assert data["memory"]["weights"] == 227_672_064 + 524_328_960 + 1_048_576
    assert data["trainable_params"] == 2 * 2 * 8 * 8192


@pytest.mark.parametrize("bad", ["nf3", "int8"])
def test_cli_bad_base_is_one_clear_error(capsys, bad: str) -> None:
    assert run(["hf:gpt2", "--set", "n_layer=1", "--seq", "8", "--lora", f"targets=c_attn,base={bad}"]) == 2
    err = capsys.readouterr().err
    assert f"base={bad}" in err and "nf4-dq" in err
