"""Matrix products: mm, addmm, bmm, baddbmm, addbmm, mv, addmv, dot, addr, linear, matmul.

Convention: a product of an (m x k) and a (k x n) matrix is ``m*k*n`` MACs, all of them core MACs;
FLOPs are ``2*MACs`` (a multiply and an add per MAC, as FlopCounterMode and fvcore count too), plus,
for the ``add*`` forms, one FLOP per output element for adding ``self`` (the bias of a Linear) when
``beta != 0``, and one more per output element for each of ``beta`` and ``alpha`` that is not 1.
``matmul`` and ``einsum`` are not seen in a trace (they decompose to mm/bmm below autograd); they have
formulas so that a trace that does record them is still counted.

``_trilinear`` (``nn.Bilinear``, three-operand ``einsum``) contracts as ATen does, in two pairwise
products: ``i1`` with ``i2`` over the summed dimensions ``i3`` does not have, then that result with
``i3`` over the rest; each pair costs the product of its broadcast sizes (summed dimensions included)
in MACs, core MACs too (ATen runs them as batched matmuls).
"""

from __future__ import annotations

import math

from .call import Call
from .cost import FormulaError, OpCost, dims, n
from .registry import aten_op, aten_ops, register


def _product(label: str, symbolic: str, shape: tuple[int, ...], macs: int, call: Call,
             add_self: bool) -> OpCost:
    text = f"{label}: MACs = {symbolic} = {dims(shape)} = {n(macs)}; FLOPs = 2*MACs"
    flops = 2 * macs
    if add_self:
        out = call.out().numel
        beta = call.arg("beta", 1)
        alpha = call.arg("alpha", 1)
        extra = 0
        terms = []
        if beta != 0:
            extra += out
            terms.append("input add")
            if beta != 1:
                extra += out
                terms.append("beta scale")
        if alpha != 1:
            extra += out
            terms.append("alpha scale")
        if extra:
            flops += extra
            text += f" + {n(extra)} ({', '.join(terms)}: 1 FLOP/output element each)"
    return OpCost(macs, flops, macs, f"{text} = {n(flops)}")


def _matrix(shape: tuple[int, ...], label: str, rank: int) -> tuple[int, ...]:
    if len(shape) != rank:
        raise FormulaError(f"{label}: expected a {rank}-D tensor, got shape {shape}")
    return shape


@register(*aten_ops("mm", "_int_mm"))
def mm(call: Call) -> OpCost:
    """``mm(a[m,k], b[k,n])``: MACs = m*k*n; FLOPs = 2*m*k*n."""
    m, k = _matrix(call.shape("self"), call.label, 2)
    k2, nn = _matrix(call.shape("mat2"), call.label, 2)
    return _product(call.label, "m*k*n", (m, k, nn), m * k * nn, call, add_self=False)


@register(aten_op("addmm"), *aten_ops("_addmm_activation"))
def addmm(call: Call) -> OpCost:
    """``addmm(c, a[m,k], b[k,n])``: MACs = m*k*n; FLOPs = 2*m*k*n + m*n (the add of ``c``), plus m*n
    per non-unit ``alpha``/``beta``; ``_addmm_activation`` adds its activation (relu 1, gelu 5 or 9
    FLOPs per output element, see pointwise.py)."""
    m, k = _matrix(call.shape("mat1"), call.label, 2)
    _, nn = _matrix(call.shape("mat2"), call.label, 2)
    cost = _product(call.label, "m*k*n", (m, k, nn), m * k * nn, call, add_self=True)
    if "_addmm_activation" in call.event.op:
        per = 5 if call.arg("use_gelu", False) else 1
        act = per * m * nn
        return OpCost(cost.macs, cost.flops + act, cost.core_macs,
                      f"{cost.formula} + activation {per}*m*n = {n(act)} -> {n(cost.flops + act)}")
    return cost


@register(aten_op("bmm"))
def bmm(call: Call) -> OpCost:
    """``bmm(a[b,m,k], c[b,k,n])``: MACs = b*m*k*n; FLOPs = 2*MACs."""
    b, m, k = _matrix(call.shape("self"), call.label, 3)
    _, _, nn = _matrix(call.shape("mat2"), call.label, 3)
    return _product(call.label, "b*m*k*n", (b, m, k, nn), b * m * k * nn, call, add_self=False)


@register(aten_op("baddbmm"), aten_op("addbmm"))
def baddbmm(call: Call) -> OpCost:
    """``baddbmm(c, a[b,m,k], d[b,k,n])``: MACs = b*m*k*n; FLOPs = 2*MACs + one per output element for
    adding ``c`` (``addbmm`` also sums over b, which the MACs' accumulation already counts)."""
    b, m, k = _matrix(call.shape("batch1"), call.label, 3)
    _, _, nn = _matrix(call.shape("batch2"), call.label, 3)
    return _product(call.label, "b*m*k*n", (b, m, k, nn), b * m * k * nn, call, add_self=True)


@register(aten_op("mv"))
def mv(call: Call) -> OpCost:
    """``mv(a[m,k], v[k])``: MACs = m*k."""
    m, k = _matrix(call.shape("self"), call.label, 2)
    return _product(call.label, "m*k", (m, k), m * k, call, add_self=False)


@register(aten_op("addmv"))
def addmv(call: Call) -> OpCost:
    """``addmv(c, a[m,k], v[k])``: MACs = m*k; FLOPs = 2*MACs + m for adding ``c``."""
    m, k = _matrix(call.shape("mat"), call.label, 2)
    return _product(call.label, "m*k", (m, k), m * k, call, add_self=True)


@register(aten_op("dot"), aten_op("vdot"))
def dot(call: Call) -> OpCost:
    """``dot(a[k], b[k])``: MACs = k."""
    (k,) = _matrix(call.shape("self"), call.label, 1)
    return _product(call.label, "k", (k,), k, call, add_self=False)


@register(aten_op("addr"))
def addr(call: Call) -> OpCost:
    """``addr(c, u[m], v[n])`` = beta*c + alpha*outer(u, v): one multiply and one add per output element,
    counted as m*n MACs (FLOPs = 2*m*n, plus m*n per non-unit alpha/beta)."""
    (m,) = _matrix(call.shape("vec1"), call.label, 1)
    (nn,) = _matrix(call.shape("vec2"), call.label, 1)
    cost = _product(call.label, "m*n", (m, nn), m * nn, call, add_self=False)
    extra = m * nn * ((call.arg("beta", 1) not in (0, 1)) + (call.arg("alpha", 1) != 1))
    if extra:
        return OpCost(cost.macs, cost.flops + extra, cost.core_macs, f"{cost.formula} + {n(extra)} (scales)")
    return cost


@register(*aten_ops("_scaled_mm"))
def scaled_mm(call: Call) -> OpCost:
    """``_scaled_mm(a[m,k], b[k,n], scale_a, scale_b, bias?)``: MACs = m*k*n; FLOPs = 2*MACs + 2*m*n
    (the two scales) + m*n with a bias."""
    m, k = _matrix(call.shape("self"), call.label, 2)
    _, nn = _matrix(call.shape("mat2"), call.label, 2)
    macs = m * k * nn
    extra = 2 * m * nn + (m * nn if call.optional_tensor("bias") is not None else 0)
    return OpCost(macs, 2 * macs + extra, macs,
                  f"{call.label}: MACs = m*k*n = {dims((m, k, nn))} = {n(macs)}; FLOPs = 2*MACs + "
                  f"{n(extra)} (scales, bias) = {n(2 * macs + extra)}")


@register(aten_op("linear"))
def linear(call: Call) -> OpCost:
    """``linear(x[..., in], W[out, in], b?)``: MACs = (elements of y) * in; FLOPs = 2*MACs + (elements of
    y) with a bias."""
    in_features = call.shape("weight")[-1]
    out = call.out().numel
    macs = out * in_features
    bias = call.optional_tensor("bias") is not None
    flops = 2 * macs + (out if bias else 0)
    text = f"{call.label}: MACs = numel(y)*in = {n(out)}*{in_features} = {n(macs)}; FLOPs = 2*MACs"
    text += f" + numel(y) (bias) = {n(flops)}" if bias else f" = {n(flops)}"
    return OpCost(macs, flops, macs, text)


@register(aten_op("matmul"))
def matmul(call: Call) -> OpCost:
    """``matmul(a, b)`` with broadcasting: MACs = (elements of the result) * k, k the contracted size."""
    a = call.shape("self")
    if not a:
        raise FormulaError(f"{call.label}: 0-D operand")
    k = a[-1]
    out = call.out().numel if call.outputs else 1
    macs = out * k
    return OpCost(macs, 2 * macs, macs,
                  f"{call.label}: MACs = numel(out)*k = {n(out)}*{k} = {n(macs)}; "
                  f"FLOPs = 2*MACs = {n(2 * macs)}")




@register(*aten_ops("_trilinear"), optional=True)
def trilinear(call: Call) -> OpCost:
    """``_trilinear``: two pairwise contractions, each the product of its broadcast sizes in MACs."""
    shapes = []
    rank = 0
    for name, expand in (("i1", "expand1"), ("i2", "expand2"), ("i3", "expand3")):
        shape = list(call.shape(name))
        for d in sorted(int(e) for e in call.arg(expand)):
            shape.insert(d, 1)
        shapes.append(shape)
        rank = max(rank, len(shape))
    if any(len(sh) != rank for sh in shapes):
        raise FormulaError(f"{call.label}: operands of different ranks after expansion")
    summed = {int(d) for d in call.arg("sumdim")}
    first = [max(a, b) for a, b in zip(shapes[0], shapes[1])]
    macs1 = math.prod(first)
    inner = [1 if d in summed and shapes[2][d] == 1 else size for d, size in enumerate(first)]
    macs2 = math.prod(max(a, b) for a, b in zip(inner, shapes[2]))
    macs = macs1 + macs2
    text = (f"{call.label}: MACs = i1*i2 over {dims(tuple(first))} + (i1 i2)*i3 = {n(macs1)} + {n(macs2)} "
            f"= {n(macs)}; FLOPs = 2*MACs")
    return OpCost(macs, 2 * macs, macs, f"{text} = {n(2 * macs)}")

