"""Saved programs: TorchScript files and ``torch.export`` ``.pt2`` archives, traced like any module.

TorchScript: ``torch.jit.load(path, map_location=device)``; the weights are read from the file and
placed on the device (meta by default: no memory kept). TorchScript's loader builds only tensors and
TorchScript classes, and the program's code runs in the TorchScript interpreter, not as Python. The
program is wrapped by :class:`.program_module.ProgramModule`: parameters per layer, ops at the root.
TorchScript files carry no example inputs.

Exported programs: ``torch.export.load`` unpickles parts of the archive with the full unpickler, so
netcensus first checks every pickle in it with the weights-only unpickler (:mod:`.pt2_guard`) and
refuses the file if one asks for more than tensors and containers. The program is unflattened back to
its original module tree (``torch.export.unflatten``), so rows are per layer; if that fails, its flat
graph module is wrapped like a TorchScript program. Example inputs are the ones saved with the
program, else built from its input placeholders when their shapes are static.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ModelLoadError
from .program_module import ProgramModule, original_type
from .pt2_guard import check_pt2
from .result import Loaded


def load_torchscript(path: str, device: str) -> Loaded:
    where = f"file {path!r}"
    try:
        program = torch.jit.load(path, map_location=device)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"torch.jit.load could not read it: {first}", where=where,
                             fix="check that the file is a complete TorchScript archive "
                                 "(torch.jit.save)") from exc
    name = original_type(program)
    notes = (f"TorchScript program {name}, loaded with torch.jit.load(map_location={device!r}): its weights "
             f"were read from the file and placed on {device}",
             "its forward runs in the TorchScript interpreter, so layers inside it are not hooked: rows show "
             "each layer's parameters, and the root all the program's ops",
             "TorchScript files carry no example inputs; give them explicitly (CLI: --input)")
    return Loaded(ProgramModule(program, "TorchScript"), None, f"{path} (TorchScript {name})", notes,
                  source="torchscript")


def load_export(path: str, device: str) -> Loaded:
    where = f"file {path!r}"
    checked = check_pt2(path)
    try:
        program = torch.export.load(path)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"torch.export.load could not read it: {first}", where=where,
                             fix="check that the file was written by torch.export.save with a compatible "
                                 "torch version") from exc
    notes = [f"exported program: checked {checked} pickle(s) in the archive with the weights-only unpickler "
             "before torch.export.load; its weights were read from the archive"]
    model: nn.Module
    try:
        model = torch.export.unflatten(program)
        notes.append("unflattened to its original module tree: rows are per layer")
    except Exception as exc:
        model = ProgramModule(program.module(), "exported graph")
        notes.append(f"could not be unflattened ({type(exc).__name__}: {exc}); its flat graph runs as one "
                     "step at the root, and rows show each layer's parameters")
    inputs, how = _example_inputs(program, device)
    notes.append(how)
    return Loaded(model, inputs, f"{path} (torch.export program)", tuple(notes), source="export")


def _like(value: Any, device: str) -> Any:
    """A copy of ``value``'s structure with each tensor replaced by one of the same shape and dtype on
    ``device`` (its values kept on real devices)."""
    if isinstance(value, torch.Tensor):
        if device == "meta":
            return torch.empty_like(value, device="meta")
        return value.detach().to(device)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_like(v, device) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_like(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _like(v, device) for k, v in value.items()}
    return value


def _example_inputs(program: Any, device: str) -> tuple[tuple[tuple, dict] | None, str]:
    saved = getattr(program, "example_inputs", None)
    if saved is not None:
        args, kwargs = saved
        return (tuple(_like(tuple(args), device)), dict(_like(dict(kwargs), device))), \
            "inputs: the example inputs saved with the program"
    try:
        from torch.utils import _pytree as pytree

        user = set(program.graph_signature.user_inputs)
        flat = []
        for node in program.graph.nodes:
            if node.op == "placeholder" and node.name in user:
                val = node.meta.get("val")
                if isinstance(val, torch.Tensor):
                    shape = tuple(int(d) for d in val.shape)  # raises for a symbolic size
                    flat.append(torch.zeros(shape, dtype=val.dtype, device=device))
                else:
                    flat.append(val)
        args, kwargs = pytree.tree_unflatten(flat, program.call_spec.in_spec)
        return (tuple(args), dict(kwargs)), "inputs: built from the program's input placeholders"
    except Exception:
        return None, ("inputs unknown: the program saved no example inputs and its input shapes are not "
                      "static; give them explicitly (CLI: --input)")
