"""Op recording: a ``TorchDispatchMode`` sees every aten op of the forward and backward, runs its
kernel and records it as an :class:`~netcensus.events.OpEvent`, with the module and region it belongs
to; :class:`Tracer` holds what one trace records."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Mapping
from typing import Any, cast

import torch
from torch import nn

from ..events import (
    BACKWARD,
    FORWARD,
    ModuleCall,
    OpEvent,
    Region,
    SavedTensor,
    StorageFree,
    TensorMeta,
    Trace,
)
from ..tensors import PlainDispatchMode
from .common import NO_TORCH_FUNCTION, RECOMPUTING, TRACE_NOTES
from .hooks import RECOMPUTED_MODULE, CallTracking, OpenCall
from .kernel_cache import run_kernel
from .values import KnownValues

_DTYPE_NAMES: dict[torch.dtype, str] = {}


def dtype_name(dtype: torch.dtype) -> str:
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = str(dtype).removeprefix("torch.")
        _DTYPE_NAMES[dtype] = name
    return name


_TAG_CACHE: dict[Any, tuple[str, ...]] = {}
_NAMES: dict[Any, tuple[str, tuple[str, ...]]] = {}
"""op -> (its name as events carry it, its tags)."""
_DTYPES: dict[torch.dtype, tuple[str, int]] = {}
"""dtype -> (name, bytes per element)."""
_ATOMS = frozenset({bool, int, float, str, complex, type(None)})
"""Argument types ``freeze`` keeps as they are (exact types; subclasses take the general path)."""


def _tags(func: Any) -> tuple[str, ...]:
    tags = _TAG_CACHE.get(func)
    if tags is None:
        tags = tuple(t.name for t in getattr(func, "tags", ()))
        _TAG_CACHE[func] = tags
    return tags



class Recorder(PlainDispatchMode):
    """Records every aten op; attribution state is owned by the enclosing tracer."""

    def __init__(self, tracer: Tracer):
        super().__init__()
        self.tracer = tracer
        self.tokens: list[Any] = []

    def __enter__(self) -> Recorder:
        self.tokens.append(TRACE_NOTES.set(self.tracer.notes))
        return cast(Recorder, super().__enter__())

    def __exit__(self, *exc: Any) -> None:
        try:
            super().__exit__(*exc)
        finally:
            TRACE_NOTES.reset(self.tokens.pop())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        tr = self.tracer
        tr.current_op = func
        if tr.expand is not None and tr.recording:
            decomposition = tr.expand(func)
            if decomposition is not None:
                mark = len(tr.events)
                try:
                    with self:  # record the ops the decomposition runs instead of this one
                        out = decomposition(*args, **kwargs)
                except Exception:
                    out = NotImplemented
                if out is not NotImplemented:
                    return out
                del tr.events[mark:]  # the op itself is recorded below; drop the partial expansion
        tr.current_op = func
        with NO_TORCH_FUNCTION():
            values = tr.values
            if values is None:
                out = tr.run(func, args, kwargs)
            else:
                try:
                    out = tr.run(func, args, kwargs)
                except Exception as exc:  # a value read, or a kernel needing values to size its output
                    out = values.read(func, args, kwargs, exc)
                else:
                    values.after(func, args, kwargs, out)
            tr.current_op = None  # it ran: an exception raised later is not this op's (a failure names no op)
            if tr.recording:
                tr.record(func, args, kwargs, out)
        return out


class Tracer(CallTracking):
    """The state of one trace: what was recorded, and what attribution needs while recording."""

    def __init__(self, paths: dict[int, str], modules: dict[int, nn.Module],
                 expand: Callable[[Any], Callable[..., Any] | None] | None = None):
        self.expand = expand
        self.paths = paths
        self.modules = modules
        self.events: list[OpEvent] = []
        self.calls: list[OpenCall] = []
        self.stack: list[OpenCall] = []
        self.call_counts: dict[str, int] = {}
        self.frees: list[StorageFree] = []
        self.saved: list[SavedTensor] = []
        self.node_module: dict[Any, str] = {}
        self.node_region: dict[Any, int] = {}
        self.regions: list[Region | None] = []
        self.region_stack: list[int] = []
        self.live: dict[int, int] = {}
        self.refs: dict[int, weakref.ref] = {}
        self.metas: dict[tuple[Any, ...], TensorMeta] = {}
        self.next_storage = 1
        self.recording = False
        self.alive = True
        self.current_op: Any = None
        self.failed_call: OpenCall | None = None
        self.backward_start: int | None = None
        self.recomputed_calls = 0
        self.function_modes: list[Any] = []
        """The torch-function modes of the forward, outermost first (put back for recomputations)."""
        self.notes: dict[str, None] = {}
        """What trace contexts did in place of the model's code (``common.note``), for the report."""
        self.values: KnownValues | None = None
        """The CPU values of small meta tensors (see values.py); None when tracing on a real device."""
        self.kernels: dict[Any, tuple[Any, ...] | None] | None = None
        """The kernel-result cache (see kernel_cache.py), or None where it is not used."""

    # -- kernels -------------------------------------------------------------------------------

    # -- kernels -------------------------------------------------------------------------------

    def run(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """``func(*args, **kwargs)``: see :func:`~netcensus.trace.kernel_cache.run_kernel`."""
        return run_kernel(self.kernels, func, args, kwargs)

    def storage_id(self, t: torch.Tensor) -> int:
        try:
            st = t.untyped_storage()
        except Exception:  # sparse, nested and some subclasses have no plain storage
            return 0
        key = st._cdata
        sid = self.live.get(key)
        if sid is not None:
            return sid
        sid = self.next_storage
        self.next_storage += 1
        self.live[key] = sid

        def died(_ref: weakref.ref, key: int = key, sid: int = sid) -> None:
            if self.live.get(key) == sid:
                del self.live[key]
            self.refs.pop(key, None)
            if self.alive:
                self.frees.append(StorageFree(sid, len(self.events)))

        try:
            self.refs[key] = weakref.ref(st, died)
        except TypeError:
            pass
        return sid

    def meta(self, t: torch.Tensor) -> TensorMeta:
        sid = self.storage_id(t)
        try:
            storage_nbytes = t.untyped_storage().nbytes() if sid else 0
        except Exception:
            storage_nbytes = 0
        dtype = t.dtype
        described = _DTYPES.get(dtype)
        if described is None:
            described = _DTYPES[dtype] = (dtype_name(dtype), t.element_size())
        shape = tuple(t.shape)
        key = (shape, described[0], sid, t.numel() * described[1], storage_nbytes, t.requires_grad)
        # one TensorMeta per distinct description (frozen, compared by value): a tensor read by several
        # ops is described once, and the trace holds fewer objects
        found = self.metas.get(key)
        if found is None:
            found = self.metas[key] = TensorMeta(*key)
        return found

    def freeze(self, value: Any) -> Any:
        """Arguments with tensors replaced by TensorMeta (see events.py)."""
        if type(value) in _ATOMS:
            return value
        if isinstance(value, torch.Tensor):
            return self.meta(value)
        if isinstance(value, (list, tuple)):
            return tuple([self.freeze(v) for v in value])
        if value is None or isinstance(value, (bool, int, float, str, complex)):
            return value
        if isinstance(value, (torch.dtype, torch.device, torch.layout, torch.memory_format)):
            return str(value).removeprefix("torch.")
        return _safe_repr(value)

    def structure(self, value: Any) -> Any:
        """A module's inputs or outputs with tensors as TensorMeta, containers kept."""
        if isinstance(value, torch.Tensor):
            return self.meta(value)
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(self.structure(v) for v in value)
        if isinstance(value, list):
            return [self.structure(v) for v in value]
        if isinstance(value, Mapping):
            return {str(k): self.structure(v) for k, v in value.items()}
        if hasattr(value, "_fields"):  # namedtuple
            return {f: self.structure(getattr(value, f)) for f in value._fields}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: self.structure(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        text = _safe_repr(value)
        return text if len(text) <= 60 else text[:57] + "..."

    # -- ops -----------------------------------------------------------------------------------

    def record(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        node = torch._C._current_autograd_node()
        if node is not None:
            phase = BACKWARD
            # a module open during backward is a checkpointed block's recomputation (see hooks.py)
            module = self.stack[-1].path if self.stack else self.node_module.get(node)
            if module is None:  # a node of a recomputation's graph (reentrant checkpointing), or none
                metadata = cast(dict, node.metadata)  # a dict property (the stubs call it a method)
                module = metadata.get(RECOMPUTED_MODULE, "") if self.recomputed_calls else ""
            # grad mode on inside a backward node: a checkpointed block's recomputation (the engine runs
            # backward formulas with it off), whose ops belong to no region, even when the node whose
            # saved tensors triggered it does (RECOMPUTING: the same, said by a trace context)
            recomputing = torch.is_grad_enabled() or RECOMPUTING.get()
            region = None if recomputing else self.node_region.get(node)
            if self.backward_start is None:
                self.backward_start = len(self.events)
        else:
            phase = FORWARD
            module = self.stack[-1].path if self.stack else ""
            region = self.region_stack[-1] if self.region_stack else None
        outs: list[TensorMeta] = []
        if isinstance(out, torch.Tensor):
            outs.append(self.meta(out))
        elif isinstance(out, (tuple, list)):
            for o in out:
                if isinstance(o, torch.Tensor):
                    outs.append(self.meta(o))
                elif isinstance(o, (tuple, list)):
                    outs.extend(self.meta(x) for x in o if isinstance(x, torch.Tensor))
        named = _NAMES.get(func)
        if named is None:
            named = _NAMES[func] = (str(func), _tags(func))
        self.events.append(OpEvent(
            len(self.events), named[0], module, phase,
            self.freeze(args), {k: self.freeze(v) for k, v in kwargs.items()}, tuple(outs), named[1],
            region,
        ))

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        if self.recording:
            module = self.stack[-1].path if self.stack else ""
            with NO_TORCH_FUNCTION():
                self.saved.append(SavedTensor(self.meta(t), module, len(self.events)))
        return t

    # -- result --------------------------------------------------------------------------------

    def result(self, *, device: str, train: bool, param_storages: dict[str, int],
               buffer_storages: dict[str, int], input_storages: tuple[int, ...]) -> Trace:
        calls = tuple(
            ModuleCall(c.path, c.type, c.call, c.depth, c.start, c.end if c.end >= 0 else len(self.events),
                       c.inputs, c.kwargs if c.kwargs is not None else {}, c.outputs, c.failed)
            for c in self.calls
        )
        regions = tuple(r for r in self.regions if r is not None)
        assumptions = (tuple(self.values.used) if self.values is not None else ()) + tuple(self.notes)
        return Trace(tuple(self.events), calls, tuple(self.frees), tuple(self.saved), regions,
                     param_storages, buffer_storages, input_storages, device, train, self.backward_start,
                     assumptions, self.recomputed_calls)


def _safe_repr(value: Any) -> str:
    """``repr(value)``, or ``<TypeName>`` when that fails: a user object's repr may read tensor values
    meta tensors lack (FlexAttention's BlockMask prints its sparsity)."""
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - any failure of a user's __repr__
        return f"<{type(value).__name__}>"
