"""The kernel-result cache: within one trace, each meta kernel runs once per (op, argument metadata).

On meta tensors an op's result is a function of its arguments' metadata only: shapes, strides,
dtypes, storage offsets and the non-tensor arguments (there are no values to read). Many meta
kernels are written in Python (elementwise ops through torch._refs, batch norm through its
decomposition) and cost 0.1-1 ms a call; a transformer runs the same op on the same shapes once per
layer. So, within one trace, the tracer runs each (op, argument metadata) once and afterwards makes
the outputs itself with ``empty_strided``: same shapes, strides, dtypes and storage sizes, fresh
storages, as the kernel would have returned.

On a miss, the outputs of the common ops own_kernels.py knows are made there (PyTorch's meta kernels
for them are Python, and their first call imports torch._dynamo and sympy), else by the kernel.

Only ops whose outputs are always new tensors qualify (no mutation, no alias annotation in the
schema, no randomness), only with every tensor argument a plain strided meta tensor, and an entry is
kept only when the kernel's outputs are what ``empty_strided`` would make (plain meta tensors at
offset 0 whose storages hold exactly their elements, none shared with an argument or another
output). The default dtype and grad mode are part of the key.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..tensors import fills_own_storage
from .meta_kernels import KERNELS
from .own_kernels import own_output

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


def run_kernel(cache: dict[Any, Any] | None, func: Any, args: tuple, kwargs: dict) -> Any:
    """``func(*args, **kwargs)``, from the kernel-result ``cache`` (None: not used) where it applies; the
    few meta kernels that return other outputs than the real ones are corrected (see meta_kernels.py)."""
    kernel = KERNELS.get(func, func)
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
    out = own_output(func, args, kwargs)
    if out is None:
        out = kernel(*args, **kwargs)
    cache[key] = _cache_entry(out, n, tensors)
    return out

# -- tensors -------------------------------------------------------------------------------
