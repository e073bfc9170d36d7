"""One row per module: what the trace saw (calls, shapes) beside what the formulas predict.

Rows come in execution order (a module's first call), then the modules that never ran. Every
analytic value (parameter formula, output shape) is compared with the fact (the tensors' numel, the
traced shape); a disagreement becomes a warning on the row and in the report, never hidden.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .. import formulas
from ..events import ModuleCall, TensorMeta, Trace, tensor_metas
from ..results.compute import ComputeResult
from ..results.memory import MemoryResult
from ..results.profile import LayerRow
from ..units import exact, shape
from .params import ParamCensus


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
    """The input tensors and their text: tensors only (positional as shapes, keyword ones ``name: shape``),
    then ``(+N args)`` when N other arguments (None, flags, caches) were passed."""
    metas = tensor_metas(call.inputs) + tensor_metas(call.kwargs)
    args = list(call.inputs) if isinstance(call.inputs, (tuple, list)) else [call.inputs]
    kwargs = call.kwargs if isinstance(call.kwargs, dict) else {}
    def one(v: Any) -> str:  # a tuple of several tensors in one argument is bracketed
        text = structure_text(v)
        return f"({text})" if isinstance(v, (tuple, list)) and len(tensor_metas(v)) > 1 else text

    parts = [one(v) for v in args if tensor_metas(v)]
    parts += [f"{k}: {one(v)}" for k, v in kwargs.items() if tensor_metas(v)]
    others = sum(1 for v in [*args, *kwargs.values()] if not tensor_metas(v))
    text = ", ".join(parts)
    if others:
        text += f"{' ' if text else ''}(+{others} arg{'s' if others > 1 else ''})"
    return metas, text


def build_layers(model: nn.Module, trace: Trace, params: ParamCensus, compute: ComputeResult | None = None,
                 memory: MemoryResult | None = None) -> tuple[list[LayerRow], list[str]]:
    """One finished row per module, in tree order, with its compute and memory figures joined in (when
    given), and the warnings of every row."""
    first: dict[str, ModuleCall] = {}
    calls: dict[str, int] = {}
    for c in trace.calls:
        first.setdefault(c.path, c)
        calls[c.path] = calls.get(c.path, 0) + 1
    modules = dict(model.named_modules())
    order = _tree_order(list(modules), list(first))
    by_module = compute.modules if compute is not None else {}
    held = {m.path: m for m in memory.modules} if memory is not None else {}

    rows: list[LayerRow] = []
    warnings: list[str] = []
    read: set[int] = set()  # storages ops read, filled on first need
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
        out_shapes = [m.shape for m in out_metas]
        n_calls = calls.get(path, 0)
        positional = tuple(tuple(m.shape) for m in tensor_metas(call.inputs)) if call else ()
        formula, explain, row_warnings = _check(module, mp, n_calls, out_shapes, positional)
        not_called = call is None and _has_forward(module)
        if not_called and mp.tensors and _read_by_parent(mp, trace, read):
            not_called = False  # its weights were used directly, e.g. MultiheadAttention's out_proj
            explain.insert(0, "its forward was not called: its parent used its parameters directly")
        if not_called:
            explain.insert(0, "not called during the trace")
        mc = by_module.get(path)
        figures = mc.figures if mc is not None else None
        mm = held.get(path)
        row = LayerRow(
            path=path, type=type(module).__name__, depth=path.count(".") + 1 if path else 0,
            calls=n_calls, input_shapes=[m.shape for m in in_metas], output_shapes=out_shapes,
            params=mp.total, own_params=mp.own, trainable_params=mp.total_trainable,
            input_text=in_text, output_text=out_text, describe=formulas.describe(module),
            formula=formula, explain=explain, warnings=row_warnings, buffers=mp.buffers,
            not_called=not_called,
            macs=figures.total.macs if figures else 0, flops=figures.total.flops if figures else 0,
            core_macs=figures.total.core_macs if figures else 0,
            forward_flops=figures.forward.flops if figures else 0,
            backward_flops=figures.backward.flops if figures else 0,
            unsupported_calls=mc.unsupported_calls if mc is not None else 0,
            saved_bytes=mm.saved_total if mm is not None else 0,
            peak_bytes=max(mm.forward_peak, mm.backward_peak or 0) if mm is not None else 0,
        )
        warnings.extend(f"{row.name}: {w}" for w in row.warnings)
        rows.append(row)
    return rows, warnings


def _read_by_parent(mp: Any, trace: Trace, read: set[int]) -> bool:
    """Whether some op of the trace read one of the module's own parameters (``read`` caches the storages
    every op read, gathered on the first call)."""
    if not read:
        for e in trace.events:
            read.update(m.storage for m in e.inputs)
        read.add(-1)  # (gathered, even when no op read anything)
    return any(trace.param_storages.get(t.name) in read for t in mp.tensors)


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


def _check(module: nn.Module, mp: Any, calls: int, output_shapes: list[tuple[int, ...]],
           positional: tuple[tuple[int, ...], ...]) -> tuple[str, list[str], list[str]]:
    """The formula column, the explanation and the warnings of one row, comparing each analytic value
    with the fact."""
    explain: list[str] = []
    warnings: list[str] = []
    short = ""
    own_numel = sum(t.numel for t in mp.tensors)
    formula = formulas.param_formula(module)
    if formula is not None:
        short = formula.short or formula.numbers
        if formula.value != own_numel:
            warnings.append(f"parameter formula gives {exact(formula.value)} but the module's own "
                            f"tensors hold {exact(own_numel)}")
    if calls:
        predicted = formulas.shape_formula(module, positional) if positional else None
        traced = tuple(output_shapes[0]) if output_shapes else None
        if predicted is not None and traced is not None and tuple(predicted.shape) != traced:
            warnings.append(f"analytic output shape {shape(predicted.shape)} differs from the traced "
                            f"{shape(output_shapes[0])}")
        explain.extend(formulas.explain_lines(module, positional, tuple(output_shapes),
                                              formula=formula, predicted=predicted))
    elif mp.tensors:
        explain.extend(formulas.explain_lines(module, (), (), formula=formula))
    for local, owner in mp.shared_from:
        explain.append(f"shared  {local} is the same tensor as {owner}: counted there, not here")
    return short, explain, warnings
