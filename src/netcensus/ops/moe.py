"""Mixtures of experts: the grouped matrix product and the routing ops (top-k, sort, histogram).

``_grouped_mm(a, b, offs)`` multiplies consecutive groups of rows (or columns) of one operand by one
matrix each of the other; ``offs`` holds the groups' cumulative ends. Every row of ``a`` before
``offs[-1]`` goes to exactly one group, so the MACs do not depend on how the rows are split between
the groups, only on how many rows take part. The trace knows the shapes, not the offsets' values:
the formula counts every row (``offs[-1]`` = all rows: every token-expert pair is routed to an
expert, as transformers' experts do without expert parallelism). Layouts (PyTorch's schema):

* ``a[S,k]`` x ``b[G,k,n]`` -> ``[S,n]``: the forward of an expert layer: MACs = S*k*n;
* ``a[k,S]`` x ``b[S,n]`` -> ``[G,k,n]``: the weight gradient, S split into G groups: MACs = k*S*n;
* ``a[G,m,k]`` x ``b[k,N]`` -> ``[m,N]``: N split into G groups: MACs = m*k*N;
* ``a[G,m,k]`` x ``b[G,k,n]`` -> ``[G,m,n]``: a batched product: MACs = G*m*k*n.

FLOPs = 2*MACs, all core MACs (a matrix product).

Routing ops are counted by comparisons (1 FLOP each, the convention of ``argmax``):

* ``topk(x, k)``: ceil(log2(k+1)) comparisons per input element (a running top-k kept in a heap of k;
  k = 1 is ``argmax``'s one per element);
* ``sort`` / ``argsort`` of slices of length L: L*ceil(log2 L) comparisons per slice; ``median``,
  ``nanmedian`` and ``kthvalue`` the same (a selection counted as the sort of its slice, the whole
  tensor without ``dim``);
* ``histc``: 3 FLOPs per input element (subtract the lower edge, scale to a bin, increment it);
* ``bincount``: 1 per input element (an increment);
* ``nonzero``: 1 per input element (a comparison with zero).
"""

from __future__ import annotations

import math

from .call import Call
from .cost import FormulaError, OpCost, dims, n, prod
from .registry import aten_ops, register


@register(*aten_ops("_grouped_mm"), optional=True)
def grouped_mm(call: Call) -> OpCost:
    """``_grouped_mm(a, b, offs)``: MACs = (rows of a) * k * n for a[S,k] x b[G,k,n] (every row in one
    group), k*S*n for the 2-D x 2-D weight gradient, G*m*k*n batched; FLOPs = 2*MACs."""
    a = call.shape("self")
    b = call.shape("mat2")
    shape: tuple[int, ...]
    if len(a) == 2 and len(b) == 3:
        shape, what = (a[0], a[1], b[2]), "rows*k*n"
    elif len(a) == 2 and len(b) == 2:
        shape, what = (a[0], a[1], b[1]), "k*S*n (S split in groups)"
    elif len(a) == 3 and len(b) == 2:
        shape, what = (a[1], a[2], b[1]), "m*k*N (N split in groups)"
    elif len(a) == 3 and len(b) == 3:
        shape, what = (a[0], a[1], a[2], b[2]), "G*m*k*n"
    else:
        raise FormulaError(f"{call.label}: operands of shapes {a} and {b}")
    macs = prod(shape)
    return OpCost(macs, 2 * macs, macs,
                  f"{call.label}: MACs = {what} = {dims(shape)} = {n(macs)} (every row routed: "
                  f"offs[-1] = all rows); FLOPs = 2*MACs = {n(2 * macs)}")


def _dim_size(call: Call, shape: tuple[int, ...]) -> int:
    if not shape:
        return 1
    dim = call.arg("dim", -1)
    if not isinstance(dim, int) or not -len(shape) <= dim < len(shape):
        raise FormulaError(f"{call.label}: dim {dim!r} for a tensor of shape {shape}")
    return shape[dim]


@register(*aten_ops("topk"), optional=True)
def topk(call: Call) -> OpCost:
    """``topk(x, k)``: ceil(log2(k+1)) comparisons per input element."""
    x = call.first_tensor().numel
    k = int(call.arg("k"))
    per = max(1, math.ceil(math.log2(k + 1)))
    return OpCost(0, per * x, 0, f"{call.label}: ceil(log2(k+1)) = {per} comparisons/element (k = {k}) x "
                                 f"{n(x)} = {n(per * x)}")


def _sorted_slices(call: Call, shape: tuple[int, ...], length: int, how: str) -> OpCost:
    """L*ceil(log2 L) comparisons per slice of length ``length`` of a tensor of ``shape``."""
    slices = prod(shape) // length if length else 0
    per = max(1, math.ceil(math.log2(length))) if length > 1 else 0
    flops = slices * length * per
    return OpCost(0, flops, 0, f"{call.label}: {how}slices * L*ceil(log2 L) = {n(slices)} * {length}*{per} "
                               f"= {n(flops)} comparisons")


@register(*aten_ops("sort", "argsort"), optional=True)
def sort(call: Call) -> OpCost:
    """``sort``/``argsort``: L*ceil(log2 L) comparisons per slice of length L."""
    shape = call.first_tensor().shape
    return _sorted_slices(call, shape, _dim_size(call, shape), "")


@register(*aten_ops("median", "nanmedian", "kthvalue"), optional=True)
def selection(call: Call) -> OpCost:
    """``median`` / ``nanmedian`` / ``kthvalue``: the k-th value of each slice, counted as a sort of the
    slice (L*ceil(log2 L) comparisons; without ``dim``, the whole tensor is one slice)."""
    shape = call.first_tensor().shape
    length = prod(shape) if call.arg("dim", None) is None else _dim_size(call, shape)
    return _sorted_slices(call, shape, length, "as a sort, ")


@register(*aten_ops("histc"), optional=True)
def histc(call: Call) -> OpCost:
    """``histc``: 3 FLOPs per input element (subtract, scale, increment)."""
    x = call.first_tensor().numel
    return OpCost(0, 3 * x, 0, f"{call.label}: 3 FLOPs/element (subtract, scale, increment) x {n(x)} "
                               f"= {n(3 * x)}")


@register(*aten_ops("bincount"), optional=True)
def bincount(call: Call) -> OpCost:
    """``bincount``: 1 FLOP per input element (an increment)."""
    x = call.first_tensor().numel
    return OpCost(0, x, 0, f"{call.label}: 1 increment/element x {n(x)} = {n(x)}")


@register(*aten_ops("nonzero", "nonzero_static", "argwhere"), optional=True)
def nonzero(call: Call) -> OpCost:
    """``nonzero``: 1 FLOP per input element (a comparison with zero); routing loops over the experts
    a batch hit call it."""
    x = call.first_tensor().numel
    return OpCost(0, x, 0, f"{call.label}: 1 comparison/element x {n(x)} = {n(x)}")
