"""One row per module: what the trace saw (calls, shapes) beside what the formulas predict.

Rows come in execution order (a module's first call), then the modules that never ran. Every
analytic value (parameter formula, output shape) is compared with the fact (the tensors' numel, the
traced shape); a disagreement becomes a warning on the row and in the report, never hidden.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .. import formulas
from ..results.profile import LayerRow
from ..units import exact, shape
from ..events import ModuleCall, TensorMeta, Trace
from .params import ParamCensus


def tensor_metas(structure: Any) -> list[TensorMeta]:
    found: list[TensorMeta] = []

    def walk(v: Any) -> None:
        if isinstance(v, TensorMeta):
            found.append(v)
        elif isinstance(v, (tuple, list)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(structure)
    return found


def structure_text(structure: Any) -> str:
    """Tensors as shapes, dict keys as labels, other leaves dropped (None kept in sequences)."""
    if isinstance(structure, TensorMeta):
        return shape(structure.shape)
    if isinstance(structure, dict):
        parts = [f"{k}: {structure_text(v)}" for k, v in structure.items() if tensor_metas(v)]
        return ", ".join(parts)
    if isinstance(structure, (tuple, list)):
        parts = [structure_text(v) for v in structure if tensor_metas(v) or v is None]
        parts = [p or "None" for p in parts]
        return ", ".join(parts)
    return ""


def _call_inputs(call: ModuleCall) -> tuple[list[TensorMeta], str]:
    metas = tensor_metas(call.inputs) + tensor_metas(call.kwargs)
    text = structure_text(call.inputs)
    if call.kwargs and tensor_metas(call.kwargs):
        kw = structure_text(call.kwargs)
        text = f"{text}, {kw}" if text else kw
    return metas, text


def build_layers(model: nn.Module, trace: Trace, params: ParamCensus) -> tuple[list[LayerRow], list[str]]:
    first: dict[str, ModuleCall] = {}
    calls: dict[str, int] = {}
    for c in trace.calls:
        first.setdefault(c.path, c)
        calls[c.path] = calls.get(c.path, 0) + 1
    modules = dict(model.named_modules())
    order = _tree_order(list(modules), list(first))

    rows: list[LayerRow] = []
    warnings: list[str] = []
    for path in order:
        module = modules.get(path)
        if module is None:
            continue
        mp = params.modules[path]
        call = first.get(path)
        if call is not None:
            in_metas, in_text = _call_inputs(call)
            out_metas = tensor_metas(call.outputs)
            out_text = structure_text(call.outputs)
        else:
            in_metas, in_text, out_metas, out_text = [], "", [], ""
        in_shapes = [m.shape for m in in_metas]
        out_shapes = [m.shape for m in out_metas]
        row = LayerRow(
            path=path, type=type(module).__name__, depth=path.count(".") + 1 if path else 0,
            calls=calls.get(path, 0), input_shapes=in_shapes, output_shapes=out_shapes,
            params=mp.total, own_params=mp.own, trainable_params=mp.total_trainable,
            input_text=in_text, output_text=out_text, describe=formulas.describe(module),
            buffers=mp.buffers,
        )
        _check(row, module, mp, tuple(tuple(m.shape) for m in tensor_metas(call.inputs)) if call else ())
        if call is None and _has_forward(module):
            row.explain.insert(0, "not called during the trace")
            row.not_called = True
        warnings.extend(f"{row.name}: {w}" for w in row.warnings)
        rows.append(row)
    return rows, warnings


def _has_forward(module: nn.Module) -> bool:
    """Containers such as ModuleList have no forward of their own and are never called."""
    return type(module).forward is not nn.Module.forward


def _tree_order(paths: list[str], called: list[str]) -> list[str]:
    """Execution order of first calls; a module that was not called (a ModuleList, say) goes just
    before its first called descendant, and one with none at the end, in registration order."""
    seq = {p: float(i) for i, p in enumerate(called)}
    was_called = set(called)
    known = set(paths)
    for i, p in enumerate(called):  # walk up from each call to its uncalled ancestors
        while p:
            p = p.rpartition(".")[0]
            if p in was_called:
                break
            if p in known and p not in seq:
                seq[p] = i - 0.5 + 0.001 * p.count(".")
    end = float(len(called))
    for p in paths:
        if p not in seq:
            seq[p] = end
            end += 1
    return sorted(paths, key=lambda p: seq[p])


def _check(row: LayerRow, module: nn.Module, mp: Any, positional: tuple[tuple[int, ...], ...]) -> None:
    """Fill the formula column and explanation, comparing each analytic value with the fact."""
    own_numel = sum(t.numel for t in mp.tensors)
    formula = formulas.param_formula(module)
    if formula is not None:
        row.formula = formula.short or formula.numbers
        if formula.value != own_numel:
            row.warnings.append(f"parameter formula gives {exact(formula.value)} but the module's own "
                                f"tensors hold {exact(own_numel)}")
    if row.calls:
        predicted = formulas.shape_formula(module, positional) if positional else None
        traced = tuple(row.output_shapes[0]) if row.output_shapes else None
        if predicted is not None and traced is not None and tuple(predicted.shape) != traced:
            row.warnings.append(f"analytic output shape {shape(predicted.shape)} differs from the traced "
                                f"{shape(row.output_shapes[0])}")
        row.explain.extend(formulas.explain_lines(module, positional, tuple(row.output_shapes),
                                                  formula=formula, predicted=predicted))
    elif mp.tensors:
        row.explain.extend(formulas.explain_lines(module, (), (), formula=formula))
    for local, owner in mp.shared_from:
        row.explain.append(f"shared  {local} is the same tensor as {owner}: counted there, not here")
