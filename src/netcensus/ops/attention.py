"""Attention: ``scaled_dot_product_attention`` counted as a whole (a traced region or a fused aten op),
and the fused multi-head-attention and encoder-layer ops.

Convention. With query ``[..., L_q, E]``, key ``[..., L_kv, E]``, value ``[..., L_kv, E_v]`` and
``BH`` = the product of the query's leading dimensions (batch * query heads):

* forward products: ``Q K^T`` = ``BH*L_q*L_kv*E`` MACs and ``P V`` = ``BH*L_q*L_kv*E_v`` MACs, all core;
* per score element (``S = BH*L_q*L_kv``): scale 1 FLOP, mask 1 (when a mask or ``is_causal`` is
  given), softmax 5, dropout 2 (when ``dropout_p > 0``);
* backward, per gradient requested: ``dV = P^T dO`` (S*E_v MACs) for the value; ``dP = dO V^T``
  (S*E_v) plus softmax backward 4, scale 1 and dropout 2 per score for the query or key; ``dQ = dS K``
  (S*E) and ``dK = dS^T Q`` (S*E). That is twice the forward products when all three are requested.
  Kernels that recompute ``Q K^T`` in backward (flash, memory-efficient) do one more product; we
  count the algorithm, not the kernel (FlopCounterMode counts the recomputation for fused backward
  ops). With grouped-query attention the key/value gradients are summed over the query heads that
  share a key/value head: one FLOP per summed element.
* GQA (fewer key/value heads than query heads): products are counted per query head, as the key/value
  heads are broadcast.
* causal-aware figure: ``is_causal`` masks the upper triangle of PyTorch's top-left aligned mask
  (``tril(ones(L_q, L_kv))``: query i sees keys 0..i), so only ``pairs = sum_i min(i+1, L_kv)`` of
  the ``L_q*L_kv`` score elements are needed (``L(L+1)/2`` when ``L_q = L_kv = L``). The causal-aware
  figure counts products and per-score work for those pairs only (and no mask add). The dense figure
  is the headline; the causal-aware one is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .call import Args, Call
from .cost import FormulaError, OpCost, combine, dims, n, prod
from .registry import RegionCall, aten_ops, register, register_region
from .softmax import SOFTMAX, SOFTMAX_BACKWARD


@dataclass(frozen=True, slots=True)
class AttentionShape:
    bh: int
    """Batch * query heads (the product of the query's leading dimensions)."""
    bh_kv: int
    """Batch * key/value heads."""
    lq: int
    lkv: int
    e: int
    ev: int

    @property
    def scores(self) -> int:
        return self.bh * self.lq * self.lkv


def attention_shape(q: tuple[int, ...], k: tuple[int, ...], v: tuple[int, ...], label: str,
                    seq_first: bool = False) -> AttentionShape:
    """Shapes ``[..., L, E]`` (``seq_first``: the fused kernels' ``[B, L, H, E]``)."""
    if seq_first:
        if len(q) != 4 or len(k) != 4 or len(v) != 4:
            raise FormulaError(f"{label}: expected [B, L, H, E] tensors, got {q}, {k}, {v}")
        q, k, v = ((t[0], t[2], t[1], t[3]) for t in (q, k, v))
    if len(q) < 2 or len(k) < 2 or len(v) < 2:
        raise FormulaError(f"{label}: query/key/value need at least 2 dimensions: {q}, {k}, {v}")
    if k[-1] != q[-1] or k[-2] != v[-2]:
        raise FormulaError(f"{label}: incompatible query/key/value shapes {q}, {k}, {v}")
    return AttentionShape(prod(q[:-2]), prod(k[:-2]), q[-2], k[-2], q[-1], v[-1])


def causal_pairs(lq: int, lkv: int, bottom_right: bool = False) -> int:
    """Unmasked (query, key) pairs of a causal mask.

    Top-left aligned (PyTorch's ``is_causal``): query i sees keys 0..i, ``sum_i min(i+1, L_kv)``.
    Bottom-right aligned: query i sees keys 0..i+L_kv-L_q, ``sum_i clamp(i+1+L_kv-L_q, 0, L_kv)``.
    """
    # Closed form (a loop over the queries takes seconds per call at a million tokens): with
    # j = i + 1 + shift running over [a, b], the sum of clamp(j, 0, L_kv) is the sum of j over
    # [max(a, 1), min(b, L_kv)] plus L_kv for every j above L_kv.
    shift = lkv - lq if bottom_right else 0
    a, b = 1 + shift, lq + shift
    lo, hi = max(a, 1), min(b, lkv)
    inside = (lo + hi) * (hi - lo + 1) // 2 if hi >= lo else 0
    above = max(0, b - max(a, lkv + 1) + 1)
    return inside + lkv * above


def _pairs_text(lq: int, lkv: int, pairs: int) -> str:
    if lq == lkv:
        return f"L(L+1)/2 = {lq}*{lq + 1}/2 = {n(pairs)} of {n(lq * lkv)} pairs"
    return f"sum_i min(i+1, L_kv) = {n(pairs)} of L_q*L_kv = {n(lq * lkv)} pairs"


def _forward(label: str, s: AttentionShape, pairs: int, masked: bool, dropout: bool,
             causal: bool, total: int | None = None, score_mod: int = 0) -> OpCost:
    """``total``: the scores counted over all of ``BH`` (pairs that differ between batch elements or
    heads: a flex_attention mask), in place of ``BH * pairs``. ``score_mod``: FLOPs of a flex_attention
    score modification per score."""
    scores = s.bh * pairs if total is None else total
    qk, pv = scores * s.e, scores * s.ev
    per = [("scale", 1)] + ([("mask", 1)] if masked else []) + [("softmax", SOFTMAX)]
    if score_mod:
        per.append(("score_mod", score_mod))
    if dropout:
        per.append(("dropout", 2))
    per_score = sum(c for _, c in per)
    macs = qk + pv
    flops = 2 * macs + per_score * scores
    head = f"S = BH*L_q*L_kv = {s.bh}*{s.lq}*{s.lkv}" if not causal else f"S = BH*pairs = {s.bh}*{pairs}"
    if total is not None:
        head = "S = pairs kept"
    text = (f"{label}: {head} = {n(scores)} scores; QK^T S*E = {n(scores)}*{s.e} = {n(qk)} MACs; "
            f"PV S*E_v = {n(scores)}*{s.ev} = {n(pv)} MACs; per score "
            f"{' + '.join(f'{k} {c}' for k, c in per)} = {per_score} FLOPs; "
            f"FLOPs = 2*{n(macs)} + {per_score}*{n(scores)} = {n(flops)}")
    return OpCost(macs, flops, macs, text)


def attention_forward(label: str, s: AttentionShape, *, is_causal: bool, masked: bool, dropout: bool,
                      bottom_right: bool = False) -> OpCost:
    """One attention forward: dense figure, with the causal-aware one when ``is_causal``."""
    dense = _forward(label, s, s.lkv * s.lq, masked or is_causal, dropout, False)
    if not is_causal:
        return dense
    pairs = causal_pairs(s.lq, s.lkv, bottom_right)
    aware = _forward(label + " causal-aware [" + _pairs_text(s.lq, s.lkv, pairs) + "]", s, pairs,
                     masked, dropout, True)
    return OpCost(dense.macs, dense.flops, dense.core_macs, dense.formula, aware)


def _backward(label: str, s: AttentionShape, pairs: int, grads: tuple[bool, bool, bool],
              dropout: bool, causal: bool, total: int | None = None, score_mod: int = 0) -> OpCost:
    gq, gk, gv = grads
    scores = s.bh * pairs if total is None else total
    macs = 0
    parts: list[str] = []
    flops_extra = 0
    if score_mod and (gq or gk):
        flops_extra += score_mod * scores
        parts.append(f"score_mod backward {score_mod} per score = {n(score_mod * scores)} FLOPs")
    if gv:
        macs += scores * s.ev
        parts.append(f"dV S*E_v = {n(scores * s.ev)}")
    if gq or gk:
        macs += scores * s.ev
        per = SOFTMAX_BACKWARD + 1 + (2 if dropout else 0)
        flops_extra += per * scores
        parts.append(f"dP S*E_v = {n(scores * s.ev)}; softmax backward {SOFTMAX_BACKWARD} + scale 1"
                     + (" + dropout 2" if dropout else "") + f" per score = {n(per * scores)} FLOPs")
    if gq:
        macs += scores * s.e
        parts.append(f"dQ S*E = {n(scores * s.e)}")
    if gk:
        macs += scores * s.e
        parts.append(f"dK S*E = {n(scores * s.e)}")
    shared = s.bh - s.bh_kv
    if shared > 0 and (gk or gv):
        reduce = shared * s.lkv * ((s.e if gk else 0) + (s.ev if gv else 0))
        flops_extra += reduce
        parts.append(f"GQA sum of dK/dV over shared heads = {n(reduce)} FLOPs")
    flops = 2 * macs + flops_extra
    head = f"S = {s.bh}*{s.lq}*{s.lkv}" if not causal else f"S = BH*pairs = {s.bh}*{pairs}"
    if total is not None:
        head = "S = pairs kept"
    grads_text = ",".join(name for name, g in zip("qkv", grads, strict=True) if g) or "none"
    text = (f"{label} (grads {grads_text}): {head} = {n(scores)}; " + "; ".join(parts)
            + f"; MACs = {n(macs)}; FLOPs = 2*MACs + {n(flops_extra)} = {n(flops)}")
    return OpCost(macs, flops, macs, text)


def attention_backward(label: str, s: AttentionShape, grads: tuple[bool, bool, bool], *, is_causal: bool,
                       dropout: bool, bottom_right: bool = False) -> OpCost:
    """One attention backward for the gradients ``(query, key, value)`` requested."""
    dense = _backward(label, s, s.lkv * s.lq, grads, dropout, False)
    if not is_causal:
        return dense
    pairs = causal_pairs(s.lq, s.lkv, bottom_right)
    aware = _backward(label + " causal-aware [" + _pairs_text(s.lq, s.lkv, pairs) + "]", s, pairs, grads,
                      dropout, True)
    return OpCost(dense.macs, dense.flops, dense.core_macs, dense.formula, aware)


def _dropout(args: Args) -> bool:
    p = args.arg("dropout_p", 0.0)
    return isinstance(p, (int, float)) and p > 0


# -- the traced region --------------------------------------------------------------------------


@register_region("scaled_dot_product_attention", "aten.scaled_dot_product_attention.default")
def sdpa_region(call: RegionCall) -> OpCost:
    """One ``F.scaled_dot_product_attention`` call, forward or backward (see the module docstring).

    Backward counts the gradients of the query, key and value that require grad."""
    q, k, v = call.tensor("query"), call.tensor("key"), call.tensor("value")
    s = attention_shape(q.shape, k.shape, v.shape, "sdpa")
    masked = call.optional_tensor("attn_mask") is not None
    is_causal = bool(call.arg("is_causal", False))
    if call.phase == "backward":
        return attention_backward("sdpa backward", s, (q.requires_grad, k.requires_grad, v.requires_grad),
                                  is_causal=is_causal, dropout=_dropout(call))
    return attention_forward("sdpa", s, is_causal=is_causal, masked=masked, dropout=_dropout(call))


def _flex_cost(args: Args, backward: bool) -> OpCost:
    q, k, v = args.tensor("query"), args.tensor("key"), args.tensor("value")
    s = attention_shape(q.shape, k.shape, v.shape, "flex_attention")
    kept = args.arg("pairs", None)
    mask = str(args.arg("mask", ""))
    masked = kept is not None and kept < s.scores or kept is None and not mask.startswith("no mask")
    extra = int(args.arg("score_mod_backward" if backward else "score_mod_forward", 0) or 0)
    if backward:
        grads = (q.requires_grad, k.requires_grad, v.requires_grad)
        dense = _backward("flex_attention backward", s, s.lq * s.lkv, grads, False, False, score_mod=extra)
        aware = _backward("flex_attention backward mask-aware", s, 0, grads, False, True,
                          total=kept, score_mod=extra) if kept is not None and kept != s.scores else None
    else:
        dense = _forward("flex_attention", s, s.lq * s.lkv, masked, False, False, score_mod=extra)
        aware = _forward("flex_attention mask-aware", s, 0, False, False, True,
                         total=kept, score_mod=extra) if kept is not None and kept != s.scores else None
    return OpCost(dense.macs, dense.flops, dense.core_macs, f"{dense.formula} [{mask}]", aware)


@register_region("flex_attention", "netcensus.flex_attention.default")
def flex_region(call: RegionCall) -> OpCost:
    """One ``flex_attention`` call (:mod:`netcensus.trace.flex`), forward or backward: the products and
    per-score work of every ``L_q x L_kv`` pair (the dense figure, with a mask op per score when a mask
    is given) and, as the mask-aware figure, of the pairs the mask keeps (``pairs``: evaluated on CPU;
    None when unknown, then the dense figure stands alone), with ``score_mod``'s own FLOPs per score
    (``score_mod_forward`` / ``score_mod_backward``, counted by the trace; 0 when they could not be,
    which the trace notes)."""
    return _flex_cost(call, call.phase == "backward")


# The kernels of a flex_attention region, as ops: what they allocate, for a trace (outputs in the
# query's dimension order, float32 log-sum-exp and row maxima; the gradients of q, k, v and of the
# tensors score_mod captures). Inside a region they are counted by the region; alone (a checkpointed
# block recomputed in backward) by their own formulas, the same ones.

def flex_output_like(query: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """An empty ``[B, H_q, L, E_v]`` tensor laid out in the query's dimension order, the last dimension
    innermost: the layout torch gives flex_attention's output (``_permute_strides``), which makes the
    usual ``out.transpose(1, 2).reshape(...)`` a view when the query was such a transpose."""
    shape = (*query.shape[:-1], value.shape[-1])
    order = sorted(range(len(shape)), key=lambda d: query.stride(d))  # innermost first
    last = len(shape) - 1
    order = [last] + [d for d in order if d != last]
    strides = [0] * len(shape)
    step = 1
    for d in order:
        strides[d] = step
        step *= shape[d]
    return torch.empty_strided(shape, strides, dtype=query.dtype, device=query.device)


def _flex_forward_outputs(query: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, ...]:
    rows = query.shape[:-1]
    return (flex_output_like(query, value), query.new_empty(rows, dtype=torch.float32),
            query.new_empty(rows, dtype=torch.float32))


@torch.library.custom_op("netcensus::flex_attention", mutates_args=())
def flex_attention_op(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, pairs: int | None,
                      mask: str, score_mod_forward: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """flex_attention's forward kernel as an op: ``(out, logsumexp, max_scores)``, uninitialised (a
    real-device trace fills them with torch's own results)."""
    out, lse, max_scores = _flex_forward_outputs(query, value)
    return out, lse, max_scores


@flex_attention_op.register_fake
def _flex_attention_fake(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, pairs: int | None,
                         mask: str, score_mod_forward: int,
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    out, lse, max_scores = _flex_forward_outputs(query, value)
    return out, lse, max_scores


def _flex_gradients(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    captured: list[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.empty_like(t) for t in (query, key, value, *captured)]


@torch.library.custom_op("netcensus::flex_attention_backward", mutates_args=())
def flex_attention_backward_op(grad_out: torch.Tensor, query: torch.Tensor, key: torch.Tensor,
                               value: torch.Tensor, out: torch.Tensor, logsumexp: torch.Tensor,
                               pairs: int | None, mask: str, score_mod_backward: int,
                               captured: list[torch.Tensor]) -> list[torch.Tensor]:
    """flex_attention's backward kernel as an op: the gradients of q, k, v and of ``captured``."""
    return _flex_gradients(query, key, value, captured)


@flex_attention_backward_op.register_fake
def _flex_attention_backward_fake(grad_out: torch.Tensor, query: torch.Tensor, key: torch.Tensor,
                                  value: torch.Tensor, out: torch.Tensor, logsumexp: torch.Tensor,
                                  pairs: int | None, mask: str, score_mod_backward: int,
                                  captured: list[torch.Tensor]) -> list[torch.Tensor]:
    return _flex_gradients(query, key, value, captured)


@register(flex_attention_op._opoverload)
def flex_attention_forward_op(call: Call) -> OpCost:
    """netcensus::flex_attention: one flex_attention forward (as :func:`flex_region`)."""
    return _flex_cost(call, False)


@register(flex_attention_backward_op._opoverload)
def flex_attention_backward_cost(call: Call) -> OpCost:
    """netcensus::flex_attention_backward: one flex_attention backward (as :func:`flex_region`)."""
    return _flex_cost(call, True)


# -- fused aten ops (real-device traces) --------------------------------------------------------


def _fused_shape(call: Call, seq_first: bool) -> AttentionShape:
    return attention_shape(call.shape("query"), call.shape("key"), call.shape("value"), call.label, seq_first)


def _packed_shape(call: Call) -> AttentionShape | None:
    """Variable-length (packed) batches (``cum_seq_q``/``cu_seqlens_q`` given): the sequence lengths are
    data, so every query is counted as seeing ``max_k`` keys, an upper bound. None when not packed."""
    if call.optional_tensor("cum_seq_q") is None and call.optional_tensor("cu_seqlens_q") is None:
        return None
    q, k, v = call.shape("query"), call.shape("key"), call.shape("value")
    if len(q) == 4:  # [1, T, H, E]
        q, k, v = q[1:], k[1:], v[1:]
    max_k = call.arg("max_k", None) or call.arg("max_seqlen_k", None) or k[0]
    return AttentionShape(q[1], k[1], q[0], int(max_k), q[-1], v[-1])


_PACKED_NOTE = ("variable-length batch: every query counted as seeing max_k keys (an upper bound)",)


def _seq_first_shape(call: Call) -> tuple[AttentionShape, tuple[str, ...]]:
    packed = _packed_shape(call)
    if packed is not None:
        return packed, _PACKED_NOTE
    return _fused_shape(call, True), ()


def _with_notes(cost: OpCost, notes: tuple[str, ...]) -> OpCost:
    if not notes:
        return cost
    return OpCost(cost.macs, cost.flops, cost.core_macs, cost.formula + " [" + "; ".join(notes) + "]",
                  cost.causal, notes)


@register(*aten_ops("_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
                    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
                    "_scaled_dot_product_fused_attention_overrideable"), optional=True)
def sdpa_fused(call: Call) -> OpCost:
    """Fused SDPA forward ops, ``[B, H, L, E]`` layout: as one attention forward."""
    s = _fused_shape(call, False)
    masked = call.optional_tensor("attn_bias") is not None or call.optional_tensor("attn_mask") is not None
    return attention_forward(call.label, s, is_causal=bool(call.arg("is_causal", False)), masked=masked,
                             dropout=_dropout(call))


_REQUEST_ALL = (True, True, True)


@register(*aten_ops("_scaled_dot_product_flash_attention_backward",
                    "_scaled_dot_product_flash_attention_for_cpu_backward",
                    "_scaled_dot_product_efficient_attention_backward",
                    "_scaled_dot_product_cudnn_attention_backward",
                    "_scaled_dot_product_fused_attention_overrideable_backward"), optional=True)
def sdpa_fused_backward(call: Call) -> OpCost:
    """Fused SDPA backward ops, ``[B, H, L, E]`` layout: as one attention backward (``grad_input_mask``
    where the op has one, else all three gradients); the kernel's recomputation of ``Q K^T`` is not
    counted."""
    s = _fused_shape(call, False)
    mask = call.arg("grad_input_mask", None)
    grads = tuple(bool(m) for m in mask[:3]) if mask is not None else _REQUEST_ALL
    return attention_backward(call.label, s, grads, is_causal=bool(call.arg("is_causal", False)),  # type: ignore[arg-type]
                              dropout=_dropout(call))


@register(*aten_ops("_flash_attention_forward"), optional=True)
def flash_forward(call: Call) -> OpCost:
    """``_flash_attention_forward``, ``[B, L, H, E]`` layout (packed ``[T, H, E]`` with ``cum_seq_q``)."""
    s, notes = _seq_first_shape(call)
    cost = attention_forward(call.label, s, is_causal=bool(call.arg("is_causal", False)), masked=False,
                             dropout=_dropout(call))
    return _with_notes(cost, notes)


@register(*aten_ops("_flash_attention_backward"), optional=True)
def flash_backward(call: Call) -> OpCost:
    """``_flash_attention_backward``: all three gradients; recomputation not counted."""
    s, notes = _seq_first_shape(call)
    cost = attention_backward(call.label, s, _REQUEST_ALL, is_causal=bool(call.arg("is_causal", False)),
                              dropout=_dropout(call))
    return _with_notes(cost, notes)


def _efficient_mask(call: Call) -> tuple[bool, bool]:
    """(causal, bottom_right) from ``custom_mask_type``: 0 none, 1 top-left causal, 2 bottom-right."""
    kind = int(call.arg("custom_mask_type", 0) or 0)
    return kind in (1, 2), kind == 2


@register(*aten_ops("_efficient_attention_forward"), optional=True)
def efficient_forward(call: Call) -> OpCost:
    """``_efficient_attention_forward``, ``[B, L, H, E]`` layout; ``custom_mask_type`` 1/2 is causal
    (top-left/bottom-right aligned)."""
    s, notes = _seq_first_shape(call)
    causal, bottom_right = _efficient_mask(call)
    cost = attention_forward(call.label, s, is_causal=causal, masked=call.optional_tensor("bias") is not None,
                             dropout=_dropout(call), bottom_right=bottom_right)
    return _with_notes(cost, notes)


@register(*aten_ops("_efficient_attention_backward"), optional=True)
def efficient_backward(call: Call) -> OpCost:
    """``_efficient_attention_backward``: all three gradients; recomputation not counted."""
    s, notes = _seq_first_shape(call)
    causal, bottom_right = _efficient_mask(call)
    cost = attention_backward(call.label, s, _REQUEST_ALL, is_causal=causal, dropout=_dropout(call),
                              bottom_right=bottom_right)
    return _with_notes(cost, notes)


# -- fused multi-head attention and encoder layer (CPU/CUDA inference fast path) ---------------------


def _projection(label: str, tokens: int, d_in: int, d_out: int, bias: bool) -> OpCost:
    macs = tokens * d_in * d_out
    extra = tokens * d_out if bias else 0
    return OpCost(macs, 2 * macs + extra, macs,
                  f"{label} tokens*in*out = {dims((tokens, d_in, d_out))} = {n(macs)} MACs"
                  + (f" + bias {n(extra)}" if bias else ""))


def _elementwise(label: str, per: int, count: int) -> OpCost:
    return OpCost(0, per * count, 0, f"{label} {per}x{n(count)} = {n(per * count)}")


def _mha_parts(q: tuple[int, ...], kv: tuple[int, ...], embed: int, heads: int, masked: bool,
               qkv_bias: bool, proj_bias: bool) -> list[tuple[str, OpCost]]:
    """Parts of ``_native_multi_head_attention`` with batch-first ``[B, L, E]`` inputs."""
    if len(q) != 3 or len(kv) != 3 or embed % heads:
        raise FormulaError(f"multi-head attention: unexpected shapes {q}, {kv} for E={embed}, H={heads}")
    b, lq, _ = q
    lkv = kv[1]
    dh = embed // heads
    s = AttentionShape(b * heads, b * heads, lq, lkv, dh, dh)
    return [
        ("q projection", _projection("q", b * lq, embed, embed, qkv_bias)),
        ("k,v projections", _projection("k,v", 2 * b * lkv, embed, embed, qkv_bias)),
        ("attention", attention_forward("attention", s, is_causal=False, masked=masked, dropout=False)),
        ("out projection", _projection("out", b * lq, embed, embed, proj_bias)),
    ]


@register(*aten_ops("_native_multi_head_attention"), optional=True)
def native_mha(call: Call) -> OpCost:
    """``_native_multi_head_attention`` (nn.MultiheadAttention's inference fast path): the input
    projections, one attention forward and the output projection (+ S adds when averaged weights
    are returned)."""
    q = call.shape("query")
    kv = call.shape("key")
    embed, heads = int(call.arg("embed_dim")), int(call.arg("num_head"))
    has = call.optional_tensor
    parts = _mha_parts(q, kv, embed, heads, has("mask") is not None, has("qkv_bias") is not None,
                       has("proj_bias") is not None)
    if call.arg("need_weights", True) and call.arg("average_attn_weights", True):
        parts.append(("head average", _elementwise("average weights", 1, q[0] * heads * q[1] * kv[1])))
    return combine(call.label, parts)


def _layer_norm(label: str, tokens: int, dim: int) -> OpCost:
    """A layer norm with weight and bias, per norm.py: 8 FLOPs/element + 4 per row."""
    flops = 8 * tokens * dim + 4 * tokens
    return OpCost(0, flops, 0, f"{label} 8x{n(tokens * dim)} + 4x{n(tokens)} = {n(flops)}")


@register(*aten_ops("_transformer_encoder_layer_fwd"), optional=True)
def transformer_encoder_layer(call: Call) -> OpCost:
    """``_transformer_encoder_layer_fwd`` (nn.TransformerEncoderLayer's inference fast path): the
    multi-head attention, two layer norms (8 FLOPs/element + 4/row), the feed-forward
    (``E*F + F*E`` MACs per token, biases, relu 1 or gelu 5 FLOPs per hidden element) and two
    residual adds."""
    src = call.shape("src")
    embed, heads = int(call.arg("embed_dim")), int(call.arg("num_heads"))
    hidden = call.shape("ffn_weight_1")[0]
    tokens = prod(src[:-1])
    parts = _mha_parts(src, src, embed, heads, call.optional_tensor("mask") is not None, True, True)
    act = 5 if call.arg("use_gelu", False) else 1
    parts += [
        ("norms", _layer_norm("two layer norms: 2x", 2 * tokens, embed)),
        ("ffn in", _projection("ffn in", tokens, embed, hidden, True)),
        ("activation", _elementwise("activation", act, tokens * hidden)),
        ("ffn out", _projection("ffn out", tokens, hidden, embed, True)),
        ("residuals", _elementwise("residual adds", 1, 2 * tokens * embed)),
    ]
    return combine(call.label, parts)
