"""The lines of an ``--explain`` block for one layer: its parameter arithmetic and output shape.

Contract of :func:`explain_lines`: a pure function (the module is only read) returning plain text
lines, each starting with a tag (``params``, ``output``, ``WARNING:``)::

    params  (k_h*k_w*C_in/groups + 1)*C_out = (11*11*1/1 + 1)*96 = 11,712
    output  floor((224 + 2*1 - 1*(11-1) - 1)/4) + 1 = 54  ->  [1, 96, 54, 54]

Parameters come from param_formula() (notes follow in parentheses); a module with own parameters
but no formula has them listed tensor by tensor. Output dims that share the same arithmetic (a
square conv on a square input) print once, otherwise one line per dim (``H:``, ``W:``). When the
analytic shape differs from the traced one, a WARNING line says so: the trace is the truth and the
formula, or its assumptions, are wrong.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn.parameter import UninitializedParameter

from netcensus.formulas._util import Shape, fmt_shape, own_parameters
from netcensus.formulas.base import DimFormula
from netcensus.formulas.params import param_formula
from netcensus.formulas.shapes import shape_formula

__all__ = ["explain_lines"]


_COMPUTE: Any = object()
"""Default of ``explain_lines``'s precomputed formulas: compute them."""


def _params_line(module: nn.Module, formula: Any = _COMPUTE) -> str | None:
    if formula is _COMPUTE:
        formula = param_formula(module)
    if formula is not None:
        notes = f"  ({'; '.join(formula.notes)})" if formula.notes else ""
        if formula.value == 0:
            return f"params  0{notes}"
        return f"params  {formula.line()}{notes}"
    own = own_parameters(module)
    if not own:
        return None
    parts, total = [], 0
    for name, p in own:
        if isinstance(p, UninitializedParameter):
            parts.append(f"{name} [uninitialized]")
            total = -1
            continue
        n = p.numel()
        parts.append(f"{name} {fmt_shape(p.shape)} = {n:,}")
        if total >= 0:
            total += n
    parts.append(f"total {total:,}" if total >= 0 else "total unknown until the lazy parameters are set")
    return "params  " + "; ".join(parts)


def _dim_text(dim: DimFormula) -> str:
    if dim.numbers == str(dim.value):
        return f"{dim.symbolic} = {dim.value}"
    return f"{dim.numbers} = {dim.value}"


def explain_lines(
    module: nn.Module,
    input_shapes: tuple[Shape, ...],
    output_shapes: tuple[Shape, ...],
    *,
    formula: Any = _COMPUTE,
    predicted: Any = _COMPUTE,
) -> list[str]:
    """The ``--explain`` lines for ``module`` given its input and traced output shapes.

    ``formula`` and ``predicted``: ``param_formula(module)`` and ``shape_formula(module, input_shapes)``
    where the caller has them already."""
    lines: list[str] = []
    params = _params_line(module, formula)
    if params is not None:
        lines.append(params)
    traced = tuple(output_shapes[0]) if output_shapes else None
    sf = shape_formula(module, input_shapes) if predicted is _COMPUTE else predicted
    if sf is None:
        if traced is not None:
            lines.append(f"output  {fmt_shape(traced)}  (traced; no analytic formula)")
        return lines
    arrow = f"  ->  {fmt_shape(sf.shape)}"
    dims = sf.dims
    if not dims:
        lines.append(f"output  same shape as input{arrow}")
    elif len(dims) == 1 or len({(d.numbers, d.value) for d in dims}) == 1:
        lines.append(f"output  {_dim_text(dims[0])}{arrow}")
    else:
        for i, d in enumerate(dims):
            lines.append(f"output  {d.name}: {_dim_text(d)}" + (arrow if i == len(dims) - 1 else ""))
    if traced is not None and tuple(sf.shape) != traced:
        lines.append(f"WARNING: analytic output shape {fmt_shape(sf.shape)} differs from traced"
                     f" {fmt_shape(traced)}; trust the trace")
    return lines
