"""Why a trace failed, in the user's terms: a :class:`~netcensus.trace.tracer.TraceFailure` becomes an
:class:`~netcensus.errors.InputError` or :class:`~netcensus.errors.TraceError` naming the module, the op
and the fix."""

from __future__ import annotations

import inspect
import sys

import torch
from torch import nn

from .. import formulas
from ..errors import InputError, TraceError
from ..events import tensor_metas
from ..units import shape
from .tracer import TraceFailure

_DATA_DEPENDENT = ("item()", "data-dependent", "nonzero", "cannot be called on meta", "meta tensor",
                   "cannot copy out of meta", "is not implemented for meta", "on the meta device",
                   "expected device meta", "tensor on device", "meta device type tensor")
"""Fragments (lower case) of PyTorch errors that mean the op needs values meta tensors do not have."""


def needs_values(failure: TraceFailure) -> bool:
    """Whether a meta trace failed because an op or the forward needed values meta tensors lack."""
    text = str(failure.cause).lower()
    return failure.partial.device == "meta" and any(k in text for k in _DATA_DEPENDENT)


_NO_META_KERNEL = ("with meta tensors", "meta kernel", "'meta' backend", "no fake impl")
"""Fragments (lower case) of PyTorch errors that mean the op has no meta implementation."""

_DEVICE_MIX = ("expected device meta", "is not on the expected device", "tensor on device")


def explain_failure(failure: TraceFailure, model_name: str, described: str, model: nn.Module | None = None,
                     args: tuple = (), kwargs: dict | None = None) -> Exception:
    cause = failure.cause
    where = model_name
    if failure.module_path is not None:
        where = f"{failure.module_path or model_name} ({failure.module_type})"
    msg = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}"
    if failure.module is not None and failure.phase == "forward":
        failed = [c for c in failure.partial.calls if c.failed and c.path == failure.module_path]
        call = failed[-1] if failed else None
        if call is not None:
            metas = tensor_metas(call.inputs)
            shapes = tuple(tuple(m.shape) for m in metas)
            reason = formulas.diagnose(failure.module, shapes)
            if reason:
                return InputError(reason, where=where,
                                  fix=f"change the input ({described}) or the layer's configuration")
            if isinstance(failure.module, (nn.Embedding, nn.EmbeddingBag)) and metas and \
                    metas[0].dtype not in ("int64", "int32"):
                got = tuple(metas[0].shape)
                inputs = (*args, *(kwargs or {}).values())
                given = [tuple(t.shape) for t in inputs if isinstance(t, torch.Tensor)]
                if got in given:  # the user's own input reached the embedding: the same shape, as ids
                    size = "x".join(str(d) for d in got)
                    fix = (f"give the ids an integer dtype: input_size='{size}:int64' "
                           f"(CLI: --input {size}:int64)")
                else:  # the model reshaped its input before the embedding: advise on the model's input
                    fix = (f"the model's inputs ({described}) reached this embedding reshaped; give it "
                           "integer token ids instead, e.g. input_size='1x128:int64' for batch x sequence "
                           "(CLI: --input 1x128:int64)")
                return InputError(f"{type(failure.module).__name__} takes integer indices (int64 or int32), "
                                  f"got {metas[0].dtype} {shape(got)}", where=where, fix=fix)
    if isinstance(cause, TypeError) and failure.phase == "forward" and model is not None:
        problem = _signature_problem(model, args, kwargs or {})
        if problem:
            return InputError(f"{problem} (inputs: {described})", where=model_name,
                              fix="give one input per parameter of forward, positional ones in order and "
                                  "keyword ones by name (CLI: one --input each; NAME=SHAPE for a keyword)")
    if isinstance(cause, RecursionError):
        return TraceError(f"the {failure.phase} went deeper than Python's recursion limit "
                          f"({sys.getrecursionlimit()} frames)", where=where,
                          fix="if the model is deeply nested, raise the limit (sys.setrecursionlimit) before "
                              "profiling; otherwise look for a forward that calls itself")
    text = str(cause).lower()
    cpu_fix = "trace with real small tensors instead: profile(..., device='cpu') (CLI: --device cpu)"
    if failure.partial.device == "meta" and any(k in text for k in _DEVICE_MIX):
        held = _plain_tensor_attributes(model if model is not None else failure.module)
        if held:
            listed = ", ".join(f"{path or model_name}.{name} ({dev})" for path, name, dev in held[:4])
            return TraceError(f"the forward mixes meta tensors with tensors kept as plain attributes, which "
                              f"are neither parameters nor buffers and so get no meta stand-in: {listed} "
                              f"({msg})", where=where,
                              fix="register each with self.register_buffer(name, tensor, persistent=False), "
                                  f"or {cpu_fix}")
    if failure.partial.device == "meta" and failure.op and any(k in text for k in _NO_META_KERNEL):
        return TraceError(f"op {failure.op} cannot run on meta tensors: PyTorch has no meta implementation "
                          f"for it ({msg})", where=where, fix=cpu_fix)
    if isinstance(cause, NotImplementedError) and 'missing the required "forward"' in str(cause):
        return TraceError(f"{failure.module_type or model_name} has no forward method", where=where,
                          fix="profile a module that defines forward: ModuleList, ModuleDict and "
                              "ParameterList are containers; profile the model that calls them")
    if "numpy is not available" in text or "to numpy" in text:
        missing = "numpy is not available" in text
        return TraceError(
            "the forward converts a tensor to a NumPy array (Tensor.numpy()), which needs real tensor values"
            + (" and the numpy package, which is not installed" if missing else
               ", which meta tensors do not have") + f" ({msg})", where=where,
            fix=("pip install numpy, then " if missing else "") + cpu_fix
            + ", or keep the forward in torch operations")
    if failure.partial.device == "meta" and any(k in text for k in _DATA_DEPENDENT):
        op_text = f"; op {failure.op}" if failure.op else ""
        return TraceError(
            f"the forward needs real tensor values, which meta tensors do not have ({msg}{op_text})",
            where=where,
            fix=f"{cpu_fix}, or make the control flow independent of tensor values")
    op = f" in op {failure.op}" if failure.op else ""
    if failure.partial.device != "meta" and "backward" in text and "not support" in text \
            and failure.partial.device in text:
        # a kernel with no backward on this device (FlexAttention's on CPU): the meta trace needs none
        return TraceError(f"an op of the model has no backward on {failure.partial.device}: {msg}{op}",
                          where=where,
                          fix="trace on meta tensors (the default device; CLI: drop --device), which "
                              "models the CUDA kernels' backward")
    if failure.partial.device == "meta" and "meta" in text:
        # a check of the device (FlexAttention's, an op that wants a CPU tensor) rather than of the inputs
        return TraceError(f"the model's {failure.phase} refuses meta tensors: {msg}{op}", where=where,
                          fix=cpu_fix)
    return TraceError(f"the model's {failure.phase} raised {msg}{op} (inputs: {described})", where=where,
                      fix="check that the inputs have the shapes and dtypes the model expects")


def _signature_problem(model: nn.Module, args: tuple, kwargs: dict) -> str | None:
    """Why ``model.forward`` cannot be called with these inputs, or None when it can."""
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return None
    params = signature.parameters
    names = [("*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else "") + n
             for n, p in params.items()]
    text = f"{type(model).__name__}.forward({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        positional_only = inspect.Parameter.POSITIONAL_ONLY
        unknown = [k for k in kwargs if k not in params or params[k].kind is positional_only]
        if unknown:
            return f"{text} has no parameter {unknown[0]!r}"
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        return f"{text} cannot take them: {exc}"
    return None


def _plain_tensor_attributes(model: nn.Module | None) -> list[tuple[str, str, str]]:
    """(module path, attribute, device) of tensors held as plain attributes, not on meta."""
    if model is None:
        return []
    found = []
    for path, m in model.named_modules():
        for name, value in vars(m).items():
            if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter) and \
                    value.device.type != "meta":
                found.append((path, name, value.device.type))
    return found
