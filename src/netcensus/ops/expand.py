"""``expand(op)``: the tracer's hook to decompose ops we cannot count, so their parts get counted.

For an op with a formula, in the zero set or in a tagged family, ``expand`` returns None (record the op
itself). Otherwise it returns a decomposition: ``torch._decomp.decomposition_table[op]`` when there is
one, else ``op.decompose`` for ops with a CompositeImplicitAutograd kernel, else None (the op is
recorded and reported unsupported).

The returned callable is guarded: a decomposition that re-enters the same op (directly or through
another decomposition) or raises returns ``NotImplemented``, and the tracer then runs and records the
op itself. Ops a decomposition recorded before raising stay recorded (the tracer has no rollback);
decompositions are pure functions of their arguments, so this does not happen in practice.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import torch
import torch._decomp

from .evaluate import UNSUPPORTED, resolve

_active = threading.local()


def _tags(op: Any) -> tuple[str, ...]:
    return tuple(t.name for t in getattr(op, "tags", ()))


@functools.lru_cache(maxsize=4096)
def _decomposition(op: Any) -> Callable[..., Any] | None:
    if not isinstance(op, torch._ops.OpOverload):
        return None
    if resolve(str(op), _tags(op)).status != UNSUPPORTED:
        return None
    fn = torch._decomp.decomposition_table.get(op)
    if fn is None:
        try:
            composite = torch._C._dispatch_has_kernel_for_dispatch_key(op.name(), "CompositeImplicitAutograd")
        except RuntimeError:
            composite = False
        if composite:
            fn = op.decompose
    if fn is None:
        return None
    return _guarded(op, fn)


def _guarded(op: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        stack: set[Any] = getattr(_active, "ops", None) or set()
        _active.ops = stack
        if op in stack:
            return NotImplemented
        stack.add(op)
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - any failure falls back to recording the op itself
            return NotImplemented
        finally:
            stack.discard(op)

    run.__name__ = f"expand[{op}]"
    return run


def expand(op: Any) -> Callable[..., Any] | None:
    """A decomposition for ``op`` when it has no formula, no zero-set entry and no tagged family;
    else None. Pass as ``trace_model(..., expand=expand)``."""
    try:
        return _decomposition(op)
    except TypeError:  # unhashable op-like objects
        return None
