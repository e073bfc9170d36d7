"""FlexAttention traced as its fused kernel (netcensus.trace.flex): on meta, in training, with block masks.

Oracles: closed forms written here (the products of every pair, of the pairs a causal or sliding-window
mask keeps); the same attention written with ``F.scaled_dot_product_attention`` (its region formula and
memory are checked elsewhere against PyTorch's decomposition and a real GPU); a real CPU run of
``flex_attention`` for the output values.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netcensus
from netcensus.trace import flex as flex_trace
from netcensus.trace.tracer import trace_model

flex = pytest.importorskip("torch.nn.attention.flex_attention")

B, H, L, D = 2, 4, 256, 16


def causal(b, h, q, kv):  # type: ignore[no-untyped-def]
    return q >= kv


def window(size: int):  # type: ignore[no-untyped-def]
    def mask(b, h, q, kv):  # type: ignore[no-untyped-def]
        return (q >= kv) & (q - kv < size)
    return mask


class Attention(nn.Module):
    """Self-attention over ``[B, L, H*D]`` with flex_attention (a mask function, or none) or SDPA."""

    def __init__(self, mask=None, sdpa_causal: bool | None = None, kv_heads: int = H):  # type: ignore[no-untyped-def]
        super().__init__()
        self.q = nn.Linear(H * D, H * D)
        self.kv = nn.Linear(H * D, 2 * kv_heads * D)
        self.o = nn.Linear(H * D, H * D)
        self.mask, self.sdpa_causal, self.kv_heads = mask, sdpa_causal, kv_heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q = self.q(x).view(b, n, H, D).transpose(1, 2)
        k, v = self.kv(x).view(b, n, 2, self.kv_heads, D).permute(2, 0, 3, 1, 4)
        gqa = self.kv_heads != H
        if self.sdpa_causal is not None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.sdpa_causal, enable_gqa=gqa)
        else:
            block = None
            if self.mask is not None:
                block = flex.create_block_mask(self.mask, None, None, n, n, device=x.device)
            y = flex.flex_attention(q, k, v, block_mask=block, enable_gqa=gqa)
        return self.o(y.transpose(1, 2).reshape(b, n, H * D))


def _x(device: str = "meta") -> torch.Tensor:
    return torch.randn(B, L, H * D, device=device)


def _region_row(prof):  # type: ignore[no-untyped-def]
    rows = [r for r in prof.compute.by_op if r.op == "flex_attention"]
    assert len(rows) == 1, [r.op for r in prof.compute.by_op]
    return rows[0]


def test_dense_flex_attention_counts_as_sdpa_does():
    flexed = netcensus.profile(Attention(), _x(), train=True)
    sdpa = netcensus.profile(Attention(sdpa_causal=False), _x(), train=True)
    row = _region_row(flexed)
    # forward: S = B*H*L*L = 2*4*256*256 = 524,288 scores; QK^T + PV = S*(D + D) = 16,777,216 MACs;
    # backward: dV, dP, dQ, dK = twice that; per score: scale 1 + softmax 5 forward
    scores = B * H * L * L
    assert row.figures.macs == 3 * scores * 2 * D
    sdpa_row = next(r for r in sdpa.compute.by_op if r.op == "scaled_dot_product_attention")
    assert (row.figures, row.causal) == (sdpa_row.figures, sdpa_row.causal)
    # every other op is the same, but for the few that build flex's default (empty) block mask
    a, b = flexed.compute.totals, sdpa.compute.totals
    assert a.total.macs == b.total.macs and 0 <= a.total.flops - b.total.flops < 16
    assert flexed.compute.coverage.unsupported == 0
    assert any("flex_attention: counted as its fused CUDA kernel" in n for n in flexed.notes)
    assert not any("score_mod" in n for n in flexed.notes)  # torch's default returns the score


class SoftCapped(Attention):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q = self.q(x).view(b, n, H, D).transpose(1, 2)
        k, v = self.kv(x).view(b, n, 2, H, D).permute(2, 0, 3, 1, 4)

        def softcap(score, b, h, q_idx, kv_idx):  # type: ignore[no-untyped-def]
            return 30 * torch.tanh(score / 30)
        return self.o(flex.flex_attention(q, k, v, score_mod=softcap).transpose(1, 2).reshape(b, n, H * D))


def test_a_score_mods_arithmetic_is_counted_per_score():
    capped = netcensus.profile(SoftCapped(), _x(), train=True)
    plain = netcensus.profile(Attention(), _x(), train=True)
    a, b = _region_row(capped), _region_row(plain)
    # softcap 30*tanh(s/30): forward div 1 + tanh 1 + mul 1 = 3 FLOPs per score; backward (the score's
    # gradient) mul 1 + tanh_backward 3 + div 1 = 5 (docs/conventions.md, pointwise costs)
    scores = B * H * L * L
    assert a.figures.flops - b.figures.flops == (3 + 5) * scores
    assert a.figures.macs == b.figures.macs
    assert "score_mod 3" in a.formula and not any("score_mod" in n for n in capped.notes)


class ReadsMeta(Attention):
    """A score_mod that reads a tensor given on meta (a bias table): its arithmetic cannot be run."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q = self.q(x).view(b, n, H, D).transpose(1, 2)
        k, v = self.kv(x).view(b, n, 2, H, D).permute(2, 0, 3, 1, 4)
        table = torch.zeros(n, n, device=x.device)

        def biased(score, b, h, q_idx, kv_idx):  # type: ignore[no-untyped-def]
            return score + table[q_idx, kv_idx]
        return self.o(flex.flex_attention(q, k, v, score_mod=biased).transpose(1, 2).reshape(b, n, H * D))


def test_a_score_mod_that_cannot_run_on_cpu_is_noted_as_not_counted():
    prof = netcensus.profile(ReadsMeta(), _x())
    assert any(flex_trace.SCORE_MOD_NOTE in n for n in prof.notes)
    assert _region_row(prof).figures == _region_row(netcensus.profile(Attention(), _x())).figures


def test_causal_block_mask_gives_the_causal_pairs():
    flexed = netcensus.profile(Attention(mask=causal), _x(), train=True)
    sdpa = netcensus.profile(Attention(sdpa_causal=True), _x(), train=True)
    row = _region_row(flexed)
    # kept pairs: L(L+1)/2 = 256*257/2 = 32,896 per (batch, head), 8 of them: 263,168
    kept = B * H * L * (L + 1) // 2
    assert row.causal.macs == 3 * kept * 2 * D
    assert "[mask keeps 32,896 of 65,536 pairs per mask (50.2%), evaluated on CPU]" in row.formula
    # the mask-aware figures equal SDPA's causal-aware ones; the dense ones too (a mask op per score)
    assert flexed.compute.totals.causal_forward.core_macs == sdpa.compute.totals.causal_forward.core_macs
    assert flexed.compute.totals.causal_backward.core_macs == sdpa.compute.totals.causal_backward.core_macs
    sdpa_row = next(r for r in sdpa.compute.by_op if r.op == "scaled_dot_product_attention")
    assert row.figures == sdpa_row.figures and row.causal == sdpa_row.causal


def test_sliding_window_mask_closed_form():
    w = 64
    prof = netcensus.profile(Attention(mask=window(w)), _x(), train=False)
    row = _region_row(prof)
    # query i sees keys max(0, i-w+1)..i: min(i+1, w) pairs; sum = w(w+1)/2 + (L-w)*w = 2,080 + 12,288
    per_head = w * (w + 1) // 2 + (L - w) * w
    assert per_head == sum(min(i + 1, w) for i in range(L))
    assert row.causal.core_macs == B * H * per_head * 2 * D
    assert row.figures.core_macs == B * H * L * L * 2 * D


def test_a_large_mask_is_estimated_from_sampled_rows(monkeypatch):
    monkeypatch.setattr(flex_trace, "MASK_EVAL_LIMIT", L * L // 8)  # every 8th query row
    prof = netcensus.profile(Attention(mask=window(64)), _x(), train=False)
    row = _region_row(prof)
    # the sample: the middle row of each group of 8 (rows 4, 12, ..., 252), each standing for 8 rows
    estimate = 8 * sum(min(i + 1, 64) for i in range(4, L, 8))
    exact = 64 * 65 // 2 + (L - 64) * 64
    assert "estimated from 32 of 256 query rows, 1 in 8" in row.formula
    assert row.causal.core_macs == B * H * estimate * 2 * D
    assert abs(estimate - exact) / exact < 3e-3  # (the ramp's 8 groups each over by 4 of 8 rows' half)


class DocumentMask(nn.Module):
    """A mask that reads a tensor: documents given as ids on meta have no values."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = Attention()

    def forward(self, x: torch.Tensor, doc: torch.Tensor) -> torch.Tensor:
        def same_doc(b, h, q, kv):  # type: ignore[no-untyped-def]
            return doc[b, q] == doc[b, kv]
        self.attn.mask = same_doc
        return self.attn(x)


def test_a_mask_that_reads_meta_tensors_counts_every_pair_and_says_why():
    doc = torch.zeros(B, L, dtype=torch.long, device="meta")
    prof = netcensus.profile(DocumentMask(), (_x(), doc))
    row = _region_row(prof)
    assert row.causal == row.figures  # no mask-aware figure beside the dense one
    assert "not evaluable on CPU" in row.formula


def test_no_score_matrix_is_kept_and_memory_matches_sdpa():
    flexed = netcensus.profile(Attention(mask=causal), _x(), train=True, optimizer="adamw")
    sdpa = netcensus.profile(Attention(sdpa_causal=True), _x(), train=True, optimizer="adamw")
    scores_bytes = B * H * L * L * 4  # one float32 score matrix: 2 MiB
    assert flexed.memory.peak < sdpa.memory.peak + scores_bytes // 4
    # what the attention saves for backward: q, k, v, out (the efficient kernel's too) and a float32
    # log-sum-exp per query row; within a few per cent of SDPA's (its log-sum-exp rows are padded to 32)
    assert abs(flexed.memory.activations - sdpa.memory.activations) <= 0.03 * sdpa.memory.activations


def test_grouped_query_attention_matches_sdpa():
    flexed = netcensus.profile(Attention(kv_heads=2), _x(), train=True)
    sdpa = netcensus.profile(Attention(sdpa_causal=False, kv_heads=2), _x(), train=True)
    a, b = _region_row(flexed), next(r for r in sdpa.compute.by_op if r.op == "scaled_dot_product_attention")
    # backward adds the sum of dK/dV over the 2 query heads sharing each key/value head
    assert a.figures == b.figures


class Checkpointed(Attention):
    """The attention core under activation checkpointing: recomputed in backward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q = self.q(x).view(b, n, H, D).transpose(1, 2)
        k, v = self.kv(x).view(b, n, 2, H, D).permute(2, 0, 3, 1, 4)
        block = flex.create_block_mask(causal, None, None, n, n, device=x.device)

        def core(q, k, v):  # type: ignore[no-untyped-def]
            return flex.flex_attention(q, k, v, block_mask=block)
        y = torch.utils.checkpoint.checkpoint(core, q, k, v, use_reentrant=False)
        return self.o(y.transpose(1, 2).reshape(b, n, H * D))


def test_a_checkpointed_flex_attention_counts_its_recomputation():
    plain = netcensus.profile(Attention(mask=causal), _x(), train=True)
    ckpt = netcensus.profile(Checkpointed(), _x(), train=True)
    region = _region_row(ckpt)
    assert (region.forward_calls, region.backward_calls) == (1, 1)
    assert region.figures == _region_row(plain).figures
    # backward also runs the forward kernel again: its own op, counted with the same formula
    again = next(r for r in ckpt.compute.by_op if r.op == "netcensus.flex_attention.default"
                 and r.backward_calls)
    # forward of one call: 2 * S * (D + D) + 7 * S FLOPs (scale, mask, softmax), S = B*H*L*L
    scores = B * H * L * L
    assert again.backward_calls == 1 and again.figures.flops == 2 * scores * 2 * D + 7 * scores
    assert again.causal.core_macs == B * H * L * (L + 1) // 2 * 2 * D


def test_bf16_mixed_casts_query_key_value_as_the_operator_does():
    trace = trace_model(Attention(mask=causal), (_x(),), train=True, device="meta", contexts=_mixed())
    region = next(r for r in trace.regions if r.name == "flex_attention")
    assert {region.kwargs[k].dtype for k in ("query", "key", "value")} == {"bfloat16"}
    assert {t.dtype for t in region.outputs} == {"bfloat16", "float32"}  # out; log-sum-exp, maxima


def _mixed():  # type: ignore[no-untyped-def]
    from netcensus.options import Precision
    from netcensus.trace.contexts import trace_contexts
    return trace_contexts(Precision.parse("bf16-mixed"))


def test_a_real_cpu_run_keeps_flex_attentions_values():
    torch.manual_seed(0)
    model = Attention(mask=causal)
    x = torch.randn(B, L, H * D)
    seen: list[torch.Tensor] = []
    handle = model.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
    try:
        prof = netcensus.profile(model, x, device="cpu")
    finally:
        handle.remove()
    with torch.no_grad():
        expected = model(x)
    assert len(seen) == 1 and torch.allclose(seen[0], expected, atol=1e-6)
    meta = netcensus.profile(Attention(mask=causal), _x())
    assert _region_row(prof).figures == _region_row(meta).figures
    assert _region_row(prof).causal == _region_row(meta).causal


def test_torch_is_left_as_it_was():
    hop, validate = flex.flex_attention_hop, flex._validate_device
    debug = flex._FLEX_ATTENTION_DISABLE_COMPILE_DEBUG
    netcensus.profile(Attention(mask=causal), _x(), train=True)
    assert flex.flex_attention_hop is hop and flex._validate_device is validate
    assert flex._FLEX_ATTENTION_DISABLE_COMPILE_DEBUG is debug
    with pytest.raises(ValueError, match="meta"):  # the device check is back
        flex.flex_attention(*(torch.empty(1, 1, 8, 8, device="meta") for _ in range(3)))


def _transformers_llama(impl: str):  # type: ignore[no-untyped-def]
    T = pytest.importorskip("transformers")
    cfg = T.LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, vocab_size=512)
    cfg._attn_implementation = impl
    with torch.device("meta"):
        return T.LlamaForCausalLM(cfg)


def test_transformers_flex_attention_trains_on_meta_like_sdpa():
    ids = {"input_ids": torch.zeros(2, 512, dtype=torch.long, device="meta")}
    flexed = netcensus.profile(_transformers_llama("flex_attention"), ids, train=True)
    sdpa = netcensus.profile(_transformers_llama("sdpa"), ids, train=True)
    a = _region_row(flexed)
    b = next(r for r in sdpa.compute.by_op if r.op == "scaled_dot_product_attention")
    assert (a.calls, a.figures, a.causal) == (b.calls, b.figures, b.causal)
    assert flexed.compute.coverage.unsupported == 0
    # what transformers kept from torch.compile is a compiled function, not the bare flex_attention
    from transformers.integrations import flex_attention as hf_flex
    kept = hf_flex.WrappedFlexAttention._instance._compiled_flex_attention
    assert kept is not None and kept is not flex.flex_attention
    assert getattr(kept, "_torchdynamo_orig_callable", None) is flex.flex_attention


def test_kv_cache_reads_flex_attention_calls():
    ids = {"input_ids": torch.zeros(1, 64, dtype=torch.long, device="meta")}
    flexed = netcensus.profile(_transformers_llama("flex_attention"), ids, kv_context=1024)
    sdpa = netcensus.profile(_transformers_llama("sdpa"), ids, kv_context=1024)
    # 2 * layers * batch * context * kv_heads * head_dim * bytes = 2 * 2 * 1 * 1024 * 2 * 32 * 4
    assert flexed.kv_cache is not None and sdpa.kv_cache is not None
    assert flexed.kv_cache.bytes == sdpa.kv_cache.bytes == 2 * 2 * 1 * 1024 * 2 * 32 * 4


def test_a_learned_bias_in_score_mod_gets_its_gradient():
    T = pytest.importorskip("transformers")
    cfg = T.T5Config(d_model=64, d_ff=128, num_layers=1, num_decoder_layers=1, num_heads=4, d_kv=16,
                     vocab_size=128, decoder_start_token_id=0, pad_token_id=0, dropout_rate=0.0)
    cfg._attn_implementation = "flex_attention"
    with torch.device("meta"):
        model = T.T5ForConditionalGeneration(cfg)
    inputs = {"input_ids": torch.zeros(2, 32, dtype=torch.long, device="meta"),
              "labels": torch.zeros(2, 16, dtype=torch.long, device="meta")}
    prof = netcensus.profile(model, inputs, train=True)
    assert prof.compute.coverage.unsupported == 0
    bias = [e for e in prof.trace.events if e.phase == "backward"
            and e.op.startswith("aten.embedding_dense_backward")
            and e.module.endswith("relative_attention_bias")]
    assert bias, "the position bias embedding gets no gradient"
    # under autocast only q, k and v are cast (torch's operator rule): the bias stays float32
    mixed = netcensus.profile(model, inputs, train=True, precision="bf16-mixed")
    region = next(r for r in mixed.trace.regions if r.name == "flex_attention")
    assert region.kwargs["query"].dtype == "bfloat16"
    assert [t.dtype for t in region.kwargs["captured"]] == ["float32"]


def test_gemma2_softcap_on_flex_counts_what_eager_counts_op_by_op():
    T = pytest.importorskip("transformers")
    counted = {}
    for impl in ("flex_attention", "eager"):
        cfg = T.Gemma2Config(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, vocab_size=512, head_dim=32,
                             sliding_window=64, attn_implementation=impl)
        with torch.device("meta"):
            model = T.Gemma2ForCausalLM(cfg)
        ids = torch.zeros(2, 256, dtype=torch.long, device="meta")
        counted[impl] = netcensus.profile(model, {"input_ids": ids}).compute.totals.forward
    flexed, eager = counted["flex_attention"], counted["eager"]
    # eager materialises the scores and counts the softcap's div, tanh and mul, the mask add, the
    # softmax and the products op by op; flex counts them per score in one region
    assert flexed.core_macs == eager.core_macs
    assert abs(flexed.flops - eager.flops) / eager.flops < 1e-4
