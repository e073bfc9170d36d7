"""Attention: closed forms for SDPA (dense, causal, GQA, L_q != L_kv), the region against the ops it
decomposes into, the fused aten ops against FlopCounterMode's shape formulas, and the fused
multi-head-attention / encoder-layer ops against the modules traced on meta."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import flop_counter

from netcensus.analyses.compute import ComputeResult, analyze_compute
from netcensus.ops import evaluate
from netcensus.ops.attention import causal_pairs
from netcensus.events import OpEvent, TensorMeta
from netcensus.trace.tracer import trace_model


class SDPA(nn.Module):
    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__()
        self.kwargs = kwargs

    def forward(self, q, k, v):  # type: ignore[no-untyped-def]
        return F.scaled_dot_product_attention(q, k, v, **self.kwargs)


def qkv(b: int, hq: int, hkv: int, lq: int, lkv: int, e: int, ev: int,
        grad: bool = True) -> tuple[torch.Tensor, ...]:
    return (torch.randn(b, hq, lq, e, requires_grad=grad), torch.randn(b, hkv, lkv, e, requires_grad=grad),
            torch.randn(b, hkv, lkv, ev, requires_grad=grad))


def census(model: nn.Module, inputs: tuple, train: bool = True, device: str = "meta") -> ComputeResult:
    return analyze_compute(trace_model(model, inputs, train=train, device=device))


@pytest.mark.parametrize(("lq", "lkv"), [(1, 1), (5, 5), (8, 8), (5, 7), (7, 3), (16, 4)])
def test_causal_pairs_match_pytorchs_masks(lq: int, lkv: int) -> None:
    mask = torch.ones(lq, lkv, dtype=torch.bool)
    # PyTorch's is_causal mask is tril(ones(L, S)) (top-left aligned); bottom-right shifts the diagonal
    assert causal_pairs(lq, lkv) == int(mask.tril().sum())
    assert causal_pairs(lq, lkv, bottom_right=True) == int(mask.tril(diagonal=lkv - lq).sum())


def test_causal_self_attention_closed_form() -> None:
    r = census(SDPA(is_causal=True), qkv(2, 3, 3, 8, 8, 4, 4))
    # dense: S = B*H*L*L = 2*3*8*8 = 384 scores; QK^T 384*4 + PV 384*4 = 3,072 MACs
    # causal: L(L+1)/2 = 36 of 64 pairs: 2*3*36*(4+4) = 1,728 MACs
    assert r.totals.forward.core_macs == 3_072
    assert r.totals.causal_forward.core_macs == 1_728
    # backward with q, k, v all requiring grad: dV, dP, dQ, dK = twice the forward products
    assert r.totals.backward.core_macs == 6_144
    assert r.totals.causal_backward.core_macs == 3_456
    # forward FLOPs: 2*MACs + per score (scale 1, mask 1, softmax 5) = 6,144 + 7*384 = 8,832
    assert r.totals.forward.flops == 8_832
    assert r.coverage.regions == 2 and r.coverage.unsupported == 0


def test_causal_with_fewer_queries_than_keys() -> None:
    r = census(SDPA(is_causal=True), qkv(1, 2, 2, 5, 7, 8, 6), train=False)
    # top-left aligned: query i sees keys 0..i: 1+2+3+4+5 = 15 of 35 pairs
    # dense 1*2*5*7*(8+6) = 980; causal 1*2*15*(8+6) = 420
    assert (r.totals.forward.core_macs, r.totals.causal_forward.core_macs) == (980, 420)


def test_gqa_counts_products_per_query_head() -> None:
    r = census(SDPA(enable_gqa=True), qkv(2, 8, 2, 6, 6, 4, 4))
    # 8 query heads share 2 key/value heads: S = 2*8*6*6 = 576; MACs = 576*(4+4) = 4,608
    assert r.totals.forward.core_macs == 4_608
    assert r.totals.backward.core_macs == 9_216
    # no causal mask: the causal-aware figures equal the dense ones
    assert r.totals.causal_total == r.totals.total


def test_backward_counts_only_inputs_that_require_grad() -> None:
    q, k, v = qkv(1, 2, 2, 4, 4, 8, 8, grad=False)
    v.requires_grad_(True)
    r = census(SDPA(), (q, k, v))
    # only dV = P^T dO: S*E_v = 1*2*4*4*8 = 256 MACs
    assert r.totals.backward.core_macs == 256


@pytest.mark.parametrize("kwargs", [{}, {"is_causal": True}, {"enable_gqa": True, "is_causal": True}])
def test_region_equals_the_products_it_decomposes_into(kwargs: dict) -> None:
    """Oracle: PyTorch's own math decomposition, whose bmm calls carry the region's index."""
    hkv = 2 if kwargs.get("enable_gqa") else 4
    trace = trace_model(SDPA(**kwargs), qkv(2, 4, hkv, 5, 7, 8, 6), train=True)
    r = analyze_compute(trace)
    for phase in ("forward", "backward"):
        inner = sum(evaluate(e).cost.core_macs for e in trace.events  # type: ignore[union-attr]
                    if e.region == 0 and e.phase == phase and e.op == "aten.bmm.default")
        ours = getattr(r.totals, phase).core_macs
        assert ours == inner > 0
    # the inner calls are not counted twice
    assert r.coverage.via_region == sum(1 for e in trace.events if e.region == 0)
    assert sum(i.figures.core_macs for i in r.items) == r.totals.total.core_macs


def test_fused_cpu_kernel_matches_the_region() -> None:
    """A real CPU trace of the fused kernel agrees with the meta trace of F.scaled_dot_product_attention."""

    class Fused(nn.Module):
        def forward(self, q, k, v):  # type: ignore[no-untyped-def]
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, True)[0]

    inputs = qkv(2, 4, 4, 6, 6, 8, 8)
    fused = census(Fused(), inputs, device="cpu")
    assert {i.op for i in fused.items} >= {"aten._scaled_dot_product_flash_attention_for_cpu.default",
                                            "aten._scaled_dot_product_flash_attention_for_cpu_backward.default"}
    region = census(SDPA(is_causal=True), inputs)
    assert fused.totals == region.totals


def _meta(shape: tuple[int, ...]) -> TensorMeta:
    numel = 1
    for d in shape:
        numel *= d
    return TensorMeta(shape, "float16", 1, 2 * numel, 2 * numel, True)


def _event(op: str, args: tuple, kwargs: dict | None = None, phase: str = "forward") -> OpEvent:
    return OpEvent(0, op, "", phase, args, kwargs or {}, ())  # type: ignore[arg-type]


B, H, LQ, LKV, E = 2, 4, 64, 48, 32
Q, K, V = (B, H, LQ, E), (B, H, LKV, E), (B, H, LKV, E)
DENSE_FORWARD = B * H * LQ * LKV * 2 * E  # QK^T + PV products: 2*4*64*48*64 = 1,572,864 MACs


@pytest.mark.parametrize("op", ["aten._scaled_dot_product_flash_attention.default",
                                "aten._scaled_dot_product_efficient_attention.default",
                                "aten._scaled_dot_product_cudnn_attention.default"])
def test_fused_forward_ops_match_flopcounter(op: str) -> None:
    args: tuple = (_meta(Q), _meta(K), _meta(V))
    if "flash" not in op:
        args += (None, False)  # attn_bias, compute_log_sumexp
    cost = evaluate(_event(op, args)).cost
    assert cost is not None
    assert cost.core_macs == DENSE_FORWARD
    assert 2 * cost.core_macs == flop_counter.sdpa_flop_count(Q, K, V)


def test_fused_backward_ops_match_flopcounter_less_the_recomputation() -> None:
    gy = _meta((B, H, LQ, E))
    op = "aten._scaled_dot_product_flash_attention_backward.default"
    args = (gy, _meta(Q), _meta(K), _meta(V), gy, None, None, None, LQ, LKV, 0.0, False, None, None)
    cost = evaluate(_event(op, args, phase="backward")).cost
    assert cost is not None
    assert cost.core_macs == 2 * DENSE_FORWARD
    # FlopCounterMode also counts the kernel's recomputation of Q K^T (B*H*LQ*LKV*E MACs); we count the
    # algorithm's four products
    recompute = 2 * B * H * LQ * LKV * E
    assert 2 * cost.core_macs + recompute == flop_counter.sdpa_backward_flop_count(gy.shape, Q, K, V)


def test_flash_and_efficient_ops_read_the_seq_first_layout() -> None:
    q, k = _meta((B, LQ, H, E)), _meta((B, LKV, H, E))
    flash = _event("aten._flash_attention_forward.default",
                   (q, k, k, None, None, LQ, LKV, 0.0, True, False))
    cost = evaluate(flash).cost
    assert cost is not None and cost.core_macs == DENSE_FORWARD
    assert cost.causal is not None
    assert cost.causal.core_macs == B * H * causal_pairs(LQ, LKV) * 2 * E
    # custom_mask_type 2: causal, bottom-right aligned
    args = (q, k, k, None, None, None, None, None, 0.0, 2)
    efficient = _event("aten._efficient_attention_forward.default", args)
    cost = evaluate(efficient).cost
    assert cost is not None and cost.causal is not None
    assert cost.causal.core_macs == B * H * causal_pairs(LQ, LKV, bottom_right=True) * 2 * E


def test_native_multi_head_attention_matches_the_module_on_meta() -> None:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 4, batch_first=True)
    x = torch.randn(2, 5, 16)

    class Native(nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return torch.ops.aten._native_multi_head_attention(
                x, x, x, 16, 4, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias,
                None, False)[0]

    native = census(Native(), (x,), train=False, device="cpu")
    assert [i.op for i in native.items] == ["aten._native_multi_head_attention.default"]
    module = census(mha, (x, x, x), train=False)
    # in-projection 3*10*16*16 = 7,680; attention 2*4*5*5*(4+4) = 1,600; out-projection 10*16*16 = 2,560
    assert native.totals.total.core_macs == module.totals.total.core_macs == 11_840


def test_transformer_encoder_layer_fast_path_matches_the_module_on_meta() -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True).eval()
    x = torch.randn(2, 5, 16)
    a, n1, n2 = layer.self_attn, layer.norm1, layer.norm2

    class Native(nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return torch._transformer_encoder_layer_fwd(
                x, 16, 4, a.in_proj_weight, a.in_proj_bias, a.out_proj.weight, a.out_proj.bias, False, False,
                1e-5, n1.weight, n1.bias, n2.weight, n2.bias, layer.linear1.weight, layer.linear1.bias,
                layer.linear2.weight, layer.linear2.bias, None)

    with torch.no_grad():
        native = census(Native(), (x,), train=False, device="cpu")
    assert [i.op for i in native.items] == ["aten._transformer_encoder_layer_fwd.default"]
    module = census(layer, (x,), train=False)
    # attention block 11,840 (as above) + feed-forward 10*16*32*2 = 10,240
    assert native.totals.total.core_macs == module.totals.total.core_macs == 22_080
