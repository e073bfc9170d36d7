"""Run one forward (and optionally one backward) of a model and record it as a :class:`Trace`.

How the model is left alone
---------------------------
The model is never moved, copied or given hooks of its own. Its parameters and buffers are replaced
*for the duration of one call* by stand-ins through :func:`torch.func.functional_call`, which restores
the originals on exit, also when the forward raises:

* ``device="meta"`` (the default): stand-ins are meta tensors of the same shape, dtype and
  ``requires_grad``; no weight or activation memory is allocated, whatever the model's size.
* a real device: parameters, buffers and inputs are detached copies on that device, so a backward
  fills the copy's ``.grad``, never the user's, running statistics of the user's model are not
  updated, and a forward that writes to its weights or its input in place (a max-norm clamp_, an
  in-place ReLU first, ``x /= 255``) writes to the copies. The price is one copy of the weights on
  that device for the duration of the call.

Module attribution uses PyTorch's global module hooks (removed in ``finally``), op recording a
``TorchDispatchMode``. Backward ops are attributed to the module whose forward created the autograd
node being executed (``torch._C._current_autograd_node``). Training flags, grad mode, the default
device and the RNG state are restored on exit.
"""

from __future__ import annotations

import dataclasses
import sys
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as nn_module
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

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
from ..tensors import fills_own_storage
from .meta_kernels import KERNELS

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

#: Entered around the tracer's own bookkeeping and around the kernel an op runs: torch-function modes
#: (the tracer's ``_Watcher``, ``torch.device("meta")``, the ``contexts``) act on the model's calls,
#: not on the tensor attribute reads of the recorder or the torch calls inside PyTorch's Python meta
#: kernels. Without it every such read and call goes through each mode in Python: a plain meta forward
#: (no mode) runs those kernels as they run here.
_NO_TORCH_FUNCTION = torch._C.DisableTorchFunction


def _tags(func: Any) -> tuple[str, ...]:
    tags = _TAG_CACHE.get(func)
    if tags is None:
        tags = tuple(t.name for t in getattr(func, "tags", ()))
        _TAG_CACHE[func] = tags
    return tags


# -- the kernel-result cache ------------------------------------------------------------------------
#
# On meta tensors an op's result is a function of its arguments' metadata only: shapes, strides,
# dtypes, storage offsets and the non-tensor arguments (there are no values to read). Many meta
# kernels are written in Python (elementwise ops through torch._refs, batch norm through its
# decomposition) and cost 0.1-1 ms a call; a transformer runs the same op on the same shapes once per
# layer. So, within one trace, the tracer runs each (op, argument metadata) once and afterwards makes
# the outputs itself with ``empty_strided``: same shapes, strides, dtypes and storage sizes, fresh
# storages, as the kernel would have returned.
#
# Only ops whose outputs are always new tensors qualify (no mutation, no alias annotation in the
# schema, no randomness), only with every tensor argument a plain strided meta tensor, and an entry is
# kept only when the kernel's outputs are what ``empty_strided`` would make (plain meta tensors at
# offset 0 whose storages hold exactly their elements, none shared with an argument or another
# output). The default dtype and grad mode are part of the key.

_FRESH: dict[Any, int] = {}
"""op -> number of tensors it returns when its outputs are always fresh (cacheable), else 0."""

_PLAIN_TENSORS = (torch.Tensor, nn.Parameter)
_KEY_SCALARS = frozenset({int, float, bool, str, type(None), torch.dtype, torch.device, torch.layout,
                          torch.memory_format})


#: Ops whose schema marks running statistics as written, which they are only in training: position of
#: the ``training`` flag. In eval mode their outputs are fresh and nothing is written (ResNet-50 runs 53
#: batch norms; on meta each is a Python decomposition).
_FRESH_UNLESS_TRAINING: dict[Any, int] = {
    torch.ops.aten.native_batch_norm.default: 5,
    torch.ops.aten._native_batch_norm_legit.default: 5,
}

_SELF: dict[Any, bool] = {}
"""op -> whether it is an in-place pointwise op (returns its first argument, metadata unchanged)."""


def _returns_self(func: Any) -> bool:
    """An in-place pointwise op (``relu_``, ``add_``): it returns its first argument and, being
    pointwise, cannot change that argument's shape, strides or dtype, so once its kernel has accepted
    some argument metadata, it accepts the same metadata again and returns the same tensor."""
    found = _SELF.get(func)
    if found is None:
        found = False
        if isinstance(func, torch._ops.OpOverload) and torch.Tag.pointwise in func.tags:
            schema = func._schema
            args, rets = schema.arguments, schema.returns
            found = bool(len(rets) == 1 and args and args[0].alias_info is not None
                         and args[0].alias_info.is_write and rets[0].alias_info is not None
                         and rets[0].alias_info.is_write
                         and rets[0].alias_info.before_set == args[0].alias_info.before_set
                         and not any(a.alias_info is not None for a in args[1:])
                         and torch.Tag.nondeterministic_seeded not in func.tags)
        _SELF[func] = found
    return found


def _fresh_returns(func: Any) -> int:
    n = _FRESH.get(func)
    if n is None:
        n = 0
        if isinstance(func, torch._ops.OpOverload):
            schema = func._schema
            if (not schema.is_mutable and schema.returns
                    and all(str(r.type) == "Tensor" and r.alias_info is None for r in schema.returns)
                    and not any(a.alias_info is not None for a in schema.arguments)
                    and torch.Tag.nondeterministic_seeded not in func.tags):
                n = len(schema.returns)
        _FRESH[func] = n
    return n


def _key_part(value: Any, tensors: list[torch.Tensor]) -> Any:
    """A hashable description of one argument, or the type ``_Uncacheable`` (a sentinel)."""
    tp = type(value)
    if tp in _PLAIN_TENSORS:
        if not value.is_meta or value.layout is not torch.strided or value.is_conj() or value.is_neg():
            return _Uncacheable
        tensors.append(value)
        return (value.shape, value.stride(), value.dtype, value.storage_offset(), value.requires_grad)
    if tp in _KEY_SCALARS:
        return (tp, value)
    if tp is list or tp is tuple:
        parts = []
        for v in value:
            part = _key_part(v, tensors)
            if part is _Uncacheable:
                return _Uncacheable
            parts.append(part)
        return (tp, tuple(parts))
    return _Uncacheable


class _Uncacheable:
    """Sentinel: an argument the kernel cache cannot describe."""


_ACCEPTED = ("accepted",)
"""Cache entry of an in-place pointwise op whose kernel returned its first argument for this key."""


def _cache_entry(out: Any, n: int, tensors: list[torch.Tensor]) -> tuple[Any, ...] | None:
    """(shape, stride, dtype) of each output when ``empty_strided`` reproduces them, else None."""
    outs = out if n > 1 else (out,)
    if n > 1 and (type(out) is not tuple or len(out) != n):
        return None
    taken = {t.untyped_storage()._cdata for t in tensors}
    entry = []
    for o in outs:
        if type(o) is not torch.Tensor or not o.is_meta or not fills_own_storage(o):
            return None
        key = o.untyped_storage()._cdata
        if key in taken:
            return None
        taken.add(key)
        entry.append((tuple(o.shape), o.stride(), o.dtype))
    return tuple(entry)


class TraceFailure(Exception):
    """Raised by :func:`trace_model` when the model's forward or backward raised.

    Carries what was recorded up to the failure, so the caller can say where it happened.
    """

    def __init__(self, cause: BaseException, module_path: str | None, module_type: str | None,
                 op: str | None, partial: Trace, module: nn.Module | None, phase: str):
        super().__init__(str(cause))
        self.cause = cause
        self.module_path = module_path
        self.module_type = module_type
        self.op = op
        self.partial = partial
        self.module = module
        self.phase = phase


@dataclasses.dataclass
class _OpenCall:
    path: str
    type: str
    call: int
    depth: int
    start: int
    inputs: Any
    kwargs: Any = None
    end: int = -1
    outputs: Any = None
    failed: bool = False


class _Recorder(TorchDispatchMode):
    """Records every aten op; attribution state is owned by the enclosing tracer."""

    def __init__(self, tracer: _Tracer):
        super().__init__()
        self.tracer = tracer

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
        with _NO_TORCH_FUNCTION():
            out = tr.run(func, args, kwargs)
            tr.current_op = None  # it ran: an exception raised later is not this op's (a failure names no op)
            if tr.recording:
                tr.record(func, args, kwargs, out)
        return out


#: torch functions whose calls are recorded as regions (see events.Region), by region name.
WATCHED_FUNCTIONS: dict[Any, str] = {
    torch.nn.functional.scaled_dot_product_attention: "scaled_dot_product_attention",
}


def _foldable(context: Any) -> bool:
    """A torch-function mode that acts on the functions in its ``intercepts`` (a frozenset) only,
    passes every other call through unchanged, and does nothing on enter or exit: the watcher can call
    its handler itself instead of pushing it (one Python mode less on every torch call)."""
    return isinstance(context, TorchFunctionMode) and isinstance(getattr(context, "intercepts", None),
                                                                 frozenset)


class _Watcher(TorchFunctionMode):
    """Marks the ops of watched function calls as one region.

    ``inner`` is a foldable mode (see :func:`_foldable`) that would otherwise sit directly beneath the
    watcher on the mode stack: its handler is called for the functions it intercepts, exactly as the
    stack would (the modes beneath both see its calls), and other calls skip it.
    """

    def __init__(self, tracer: _Tracer, inner: TorchFunctionMode | None = None):
        super().__init__()
        self.tracer = tracer
        self.inner = inner
        self.inner_functions: frozenset[Any] = getattr(inner, "intercepts", frozenset())

    def _beneath(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        if func in self.inner_functions:
            return self.inner.__torch_function__(func, types, args, kwargs)  # type: ignore[union-attr]
        return func(*args, **kwargs)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        name = WATCHED_FUNCTIONS.get(func)
        tr = self.tracer
        if name is None or not tr.recording:
            # Calls nested inside another torch function (SDPA inside F.multi_head_attention_forward)
            # are not seen: re-entering the mode would recurse through handle_torch_function. Their ops
            # are still recorded and counted one by one.
            return self._beneath(func, types, args, kwargs)
        index = len(tr.regions)
        module = tr.stack[-1].path if tr.stack else ""
        tr.regions.append(None)
        tr.region_stack.append(index)
        start = len(tr.events)
        try:
            out = self._beneath(func, types, args, kwargs)
        finally:
            tr.region_stack.pop()
        with _NO_TORCH_FUNCTION():
            self._close_region(index, name, module, start, args, kwargs, out)
        return out

    def _close_region(self, index: int, name: str, module: str, start: int, args: tuple, kwargs: dict,
               out: Any) -> None:
        tr = self.tracer
        tr.regions[index] = Region(index, name, module, tr.freeze(args),
                                   {k: tr.freeze(v) for k, v in kwargs.items()}, start, len(tr.events),
                                   tuple(tr.meta(t) for t in _tensors(out)))
        if torch.is_grad_enabled():
            stop = {t.grad_fn for t in _tensors((args, kwargs)) if t.grad_fn is not None}
            todo = [t.grad_fn for t in _tensors(out) if t.grad_fn is not None]
            owner = tr.node_region
            while todo:
                node = todo.pop()
                if node is None or node in owner or node in stop or type(node).__name__ == "AccumulateGrad":
                    continue
                owner[node] = index
                todo.extend(n for n, _ in node.next_functions if n is not None)


class _Tracer:
    def __init__(self, paths: dict[int, str], modules: dict[int, nn.Module],
                 expand: Callable[[Any], Callable[..., Any] | None] | None = None):
        self.expand = expand
        self.paths = paths
        self.modules = modules
        self.events: list[OpEvent] = []
        self.calls: list[_OpenCall] = []
        self.stack: list[_OpenCall] = []
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
        self.failed_call: _OpenCall | None = None
        self.backward_start: int | None = None
        self.kernels: dict[Any, tuple[Any, ...] | None] | None = None
        """The kernel-result cache (see ``_fresh_returns``), or None where it is not used."""

    # -- kernels -------------------------------------------------------------------------------

    def run(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """``func(*args, **kwargs)``, from the kernel-result cache where it applies; the few meta kernels
        that return other outputs than the real ones are corrected (see meta_kernels.py)."""
        kernel = KERNELS.get(func, func)
        cache = self.kernels
        if cache is None:
            return kernel(*args, **kwargs)
        n = _FRESH.get(func)
        if n is None:
            n = _fresh_returns(func)
        in_place = False
        if not n:
            training_at = _FRESH_UNLESS_TRAINING.get(func)
            if training_at is not None and len(args) > training_at and args[training_at] is False:
                n = 3
            elif _returns_self(func) and args and type(args[0]) in _PLAIN_TENSORS:
                in_place = True
            else:
                return kernel(*args, **kwargs)
        tensors: list[torch.Tensor] = []
        parts = [func, torch.get_default_dtype(), torch.is_grad_enabled()]
        for v in args:
            part = _key_part(v, tensors)
            if part is _Uncacheable:
                return kernel(*args, **kwargs)
            parts.append(part)
        for k, v in kwargs.items():
            part = _key_part(v, tensors)
            if part is _Uncacheable:
                return kernel(*args, **kwargs)
            parts.append((k, part))
        if not tensors:
            return kernel(*args, **kwargs)
        key = tuple(parts)
        entry = cache.get(key)
        if in_place:
            if entry is _ACCEPTED:
                return args[0]
            out = kernel(*args, **kwargs)
            if out is args[0]:
                cache[key] = _ACCEPTED
            return out
        if entry is not None:
            outs = tuple(torch.empty_strided(shape, stride, dtype=dtype, device="meta")
                         for shape, stride, dtype in entry)
            return outs if n > 1 else outs[0]
        if key in cache:  # seen, and the kernel's outputs are not reproducible
            return kernel(*args, **kwargs)
        out = kernel(*args, **kwargs)
        cache[key] = _cache_entry(out, n, tensors)
        return out

    # -- tensors -------------------------------------------------------------------------------

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
        return repr(value)

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
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."

    # -- ops -----------------------------------------------------------------------------------

    def record(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        node = torch._C._current_autograd_node()
        if node is not None:
            phase = BACKWARD
            module = self.node_module.get(node, "")
            region = self.node_region.get(node)
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

    # -- module hooks --------------------------------------------------------------------------

    def pre_hook(self, module: nn.Module, args: tuple) -> None:
        path = self.paths.get(id(module))
        if path is None or not self.recording:
            return
        with _NO_TORCH_FUNCTION():
            self._open_call(module, path, args)

    def _open_call(self, module: nn.Module, path: str, args: tuple) -> None:
        count = self.call_counts.get(path, 0)
        self.call_counts[path] = count + 1
        call = _OpenCall(path, type(module).__name__, count, len(self.stack), len(self.events),
                         self.structure(args))
        self.calls.append(call)
        self.stack.append(call)

    def post_hook(self, module: nn.Module, args: tuple, *rest: Any) -> None:
        # normally (module, args, kwargs, output); when the forward raised, PyTorch calls global
        # always_call hooks as (module, args, result) instead
        path = self.paths.get(id(module))
        if path is None or not self.stack or self.stack[-1].path != path:
            return
        with _NO_TORCH_FUNCTION():
            self._close_call(path, rest)

    def _close_call(self, path: str, rest: tuple) -> None:
        call = self.stack.pop()
        call.end = len(self.events)
        kwargs = rest[0] if len(rest) == 2 else {}
        output = rest[-1] if rest else None
        call.kwargs = self.structure(kwargs) if kwargs else {}
        if sys.exc_info()[1] is not None:
            call.failed = True
            if self.failed_call is None:
                self.failed_call = call
            return
        call.outputs = self.structure(output)
        if torch.is_grad_enabled():
            self.claim_nodes(output, path)

    def claim_nodes(self, output: Any, path: str) -> None:
        """Attribute the autograd nodes created inside this call (not yet claimed by a child)."""
        todo = [t.grad_fn for t in _tensors(output) if t.grad_fn is not None]
        owner = self.node_module
        while todo:
            node = todo.pop()
            if node is None or node in owner:
                continue
            owner[node] = path
            for nxt, _ in node.next_functions:
                if nxt is not None and nxt not in owner:
                    todo.append(nxt)

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        if self.recording:
            module = self.stack[-1].path if self.stack else ""
            with _NO_TORCH_FUNCTION():
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
        return Trace(tuple(self.events), calls, tuple(self.frees), tuple(self.saved), regions,
                     param_storages, buffer_storages, input_storages, device, train, self.backward_start)


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _tensors(v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _tensors(getattr(value, f.name))


def _cast(t: torch.Tensor, dtype: torch.dtype | None) -> torch.dtype:
    return dtype if dtype is not None and t.is_floating_point() else t.dtype


def _stand_in(t: torch.Tensor, device: str, is_param: bool, dtype: torch.dtype | None = None) -> torch.Tensor:
    if device == "meta":
        if t.layout is torch.strided and t.is_contiguous():
            # what empty_like makes of a dense tensor (its strides, also those of size-1 dimensions, which
            # layout choices read), without running its meta kernel (Python, ~50 us a tensor)
            new = torch.empty_strided(t.shape, t.stride(), dtype=_cast(t, dtype), device="meta")
        else:
            new = torch.empty_like(t, device="meta", dtype=_cast(t, dtype))
    else:  # a copy: the forward may write to its weights in place
        new = t.detach().to(device, _cast(t, dtype), copy=True)
    if is_param:
        return nn.Parameter(new, requires_grad=t.requires_grad)
    return new


def _convert_input(value: Any, device: str, dtype: torch.dtype | None = None) -> Any:
    if isinstance(value, torch.Tensor):
        if device == "meta":
            new = torch.empty_like(value, device="meta", dtype=_cast(value, dtype))
        else:  # a copy: the forward may write to its input in place
            new = value.detach().to(device, _cast(value, dtype), copy=True)
        if value.requires_grad:
            new.requires_grad_(True)
        return new
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_convert_input(v, device, dtype) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_convert_input(v, device, dtype) for v in value)
    if isinstance(value, dict):
        return type(value)((k, _convert_input(v, device, dtype)) for k, v in value.items())
    return value


_MISSING = object()


@contextmanager
def _restored_state(model: nn.Module) -> Iterator[None]:
    modules = list(model.modules())
    flags = [(m, m.training) for m in modules]
    # A forward may bind attributes (a cache, a call counter, the deprecated weight_norm's plain
    # ``module.weight``), and PyTorch rebinds some while parameters are swapped (RNNs' ``_flat_weights``
    # would keep pointing at the stand-ins): put every module's __dict__ back, entry by entry, without
    # going through __setattr__. The dicts of parameters, buffers and submodules are restored in place
    # by functional_call and keep their identity.
    attrs = [(m, dict(m.__dict__)) for m in modules]
    rng = torch.get_rng_state()
    grad = torch.is_grad_enabled()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag
        for m, saved in attrs:
            current = m.__dict__
            for name in [n for n in current if n not in saved]:
                del current[name]
            for name, value in saved.items():
                if current.get(name, _MISSING) is not value:
                    current[name] = value
        torch.set_rng_state(rng)
        torch.set_grad_enabled(grad)


def _backward_roots(output: Any) -> list[torch.Tensor]:
    loss = None
    if isinstance(output, Mapping):
        loss = output.get("loss")
    elif hasattr(output, "loss") and not isinstance(output, torch.Tensor):
        loss = getattr(output, "loss", None)
    if isinstance(loss, torch.Tensor) and loss.requires_grad:
        return [loss]
    return [t for t in _tensors(output) if t.requires_grad and t.is_floating_point()]


def trace_model(
    model: nn.Module,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    device: str = "meta",
    train: bool = False,
    mode: str | None = None,
    on_output: Callable[[Any], None] | None = None,
    expand: Callable[[Any], Callable[..., Any] | None] | None = None,
    contexts: Sequence[Callable[[], AbstractContextManager[Any]]] = (),
    dtype: torch.dtype | None = None,
) -> Trace:
    """Trace one forward of ``model(*args, **kwargs)`` (and a backward when ``train``).

    ``mode`` is ``"train"`` or ``"eval"`` (the module training flags used during the trace);
    by default ``"train"`` when ``train`` else ``"eval"``. The backward is seeded with ones on the
    output's ``loss`` when it has one that requires grad, else on every floating output that
    requires grad.

    ``expand(op)`` may return a decomposition for an aten op; the tracer then records the ops it runs
    instead of the op itself (used for ops that have no compute formula). ``contexts`` are factories
    of context managers entered around the forward and backward, outside the op recorder (e.g. a
    mode that emulates autocast: ``torch.autocast`` itself has no effect on meta tensors).
    ``dtype`` casts the floating parameters, buffers and inputs of the trace (not the model) to that
    dtype, e.g. to trace pure bf16 training.
    """
    kwargs = kwargs or {}
    device = str(torch.device(device))
    if mode is None:
        mode = "train" if train else "eval"
    paths: dict[int, str] = {}
    modules: dict[int, nn.Module] = {}
    for name, m in model.named_modules():
        paths.setdefault(id(m), name)
        modules.setdefault(id(m), m)
    tracer = _Tracer(paths, modules, expand)

    # stand-ins, one per distinct tensor object (tied weights stay tied)
    stand_ins: dict[int, torch.Tensor] = {}
    replace: dict[str, torch.Tensor] = {}
    param_storages: dict[str, int] = {}
    buffer_storages: dict[str, int] = {}
    # One entry per (module object, attribute): a submodule registered under two names must be swapped
    # once, or functional_call's restore of the second name would put back the stand-in.
    slots: set[tuple[int, str]] = set()
    for kind, named in (("param", model.named_parameters(remove_duplicate=False)),
                        ("buffer", model.named_buffers(remove_duplicate=False))):
        for name, t in named:
            owner_path, _, local = name.rpartition(".")
            slot = (id(model.get_submodule(owner_path)), local)
            if slot in slots:
                continue
            slots.add(slot)
            new = stand_ins.get(id(t))
            if new is None:
                new = stand_ins[id(t)] = _stand_in(t, device, kind == "param", dtype)
                storages = param_storages if kind == "param" else buffer_storages
                storages[name] = tracer.storage_id(new)
            replace[name] = new
    call_args = _convert_input(args, device, dtype)
    call_kwargs = _convert_input(kwargs, device, dtype)
    input_storages = tuple(tracer.storage_id(t) for t in _tensors((call_args, call_kwargs)))

    def fail(exc: BaseException, phase: str) -> TraceFailure:
        where = tracer.failed_call
        mod = None
        if where is not None:
            for m_id, p in paths.items():
                if p == where.path:
                    mod = modules[m_id]
                    break
        partial = tracer.result(device=device, train=train, param_storages=param_storages,
                                buffer_storages=buffer_storages, input_storages=input_storages)
        return TraceFailure(exc, where.path if where else None, where.type if where else None,
                            str(tracer.current_op) if tracer.current_op is not None else None,
                            partial, mod, phase)

    with ExitStack() as stack, _restored_state(model):
        model.train(mode == "train")
        handles = [
            nn_module.register_module_forward_pre_hook(tracer.pre_hook),
            nn_module.register_module_forward_hook(tracer.post_hook, with_kwargs=True, always_call=True),
        ]
        stack.callback(lambda: [h.remove() for h in handles])
        # The hooks add a Python frame per level of module nesting and the recorder some per op: give a
        # deeply nested model (which runs within Python's limit without us) that headroom, for this call.
        nesting = max((p.count(".") + 1 for p in paths.values() if p), default=0)
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 2 * nesting + 300)
        stack.callback(sys.setrecursionlimit, limit)
        if device == "meta":
            stack.enter_context(torch.device("meta"))
        stack.enter_context(torch.set_grad_enabled(train))
        folded = None  # the last context, when the watcher can stand in for it (see _foldable)
        for i, factory in enumerate(contexts):
            context = factory()
            if i == len(contexts) - 1 and _foldable(context):
                folded = context
            else:
                stack.enter_context(context)
        if train:
            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(tracer.pack, lambda t: t))
        stack.enter_context(_Watcher(tracer, folded))
        if device == "meta" and torch._C._len_torch_dispatch_stack() == 0:
            # a dispatch mode of the caller's would see empty_strided where the kernel ran
            tracer.kernels = {}
        stack.enter_context(_Recorder(tracer))
        stack.callback(setattr, tracer, "alive", False)
        tracer.recording = True
        try:
            output = torch.func.functional_call(model, replace, tuple(call_args), call_kwargs,
                                                strict=False, tie_weights=False)
        except Exception as exc:
            tracer.recording = False
            raise fail(exc, "forward") from exc
        if on_output is not None:
            on_output(output)
        if train:
            roots = _backward_roots(output)
            if roots:
                tracer.recording = False
                seeds = [torch.ones_like(r) for r in roots]
                tracer.recording = True
                try:
                    torch.autograd.backward(roots, seeds)
                except Exception as exc:
                    tracer.recording = False
                    raise fail(exc, "backward") from exc
        tracer.recording = False
        tracer.alive = False  # what the forward returned is the caller's: it does not die in the step
        del output
        result = tracer.result(device=device, train=train, param_storages=param_storages,
                               buffer_storages=buffer_storages, input_storages=input_storages)
    return result
