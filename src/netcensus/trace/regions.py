"""Regions: the ops of watched torch-function calls (``scaled_dot_product_attention``) marked as one
:class:`~netcensus.events.Region`, in forward and, through the autograd nodes the call created, in
backward."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.overrides import TorchFunctionMode

from ..events import Region
from .common import NO_TORCH_FUNCTION, tensors_in
from .flex import flex_attention_region
from .values import FUNCTIONS as VALUE_FUNCTIONS

if TYPE_CHECKING:
    from .recorder import Tracer

#: torch functions whose calls are recorded as regions (see events.Region), by region name.
WATCHED_FUNCTIONS: dict[Any, str] = {
    torch.nn.functional.scaled_dot_product_attention: "scaled_dot_product_attention",
    flex_attention_region: "flex_attention",
}

def foldable(context: Any) -> bool:
    """A torch-function mode that acts on the functions in its ``intercepts`` (a frozenset) only,
    passes every other call through unchanged, and does nothing on enter or exit: the watcher can call
    its handler itself instead of pushing it (one Python mode less on every torch call)."""
    return isinstance(context, TorchFunctionMode) and isinstance(getattr(context, "intercepts", None),
                                                                 frozenset)


class Watcher(TorchFunctionMode):
    """Marks the ops of watched function calls as one region.

    ``inner`` is a foldable mode (see :func:`foldable`) that would otherwise sit directly beneath the
    watcher on the mode stack: its handler is called for the functions it intercepts, exactly as the
    stack would (the modes beneath both see its calls), and other calls skip it.
    """

    def __init__(self, tracer: Tracer, inner: TorchFunctionMode | None = None):
        super().__init__()
        self.tracer = tracer
        self.folded = inner  # (not ``inner``: TorchFunctionMode has an attribute of that name)
        self.inner_functions: frozenset[Any] = getattr(inner, "intercepts", frozenset())

    def _beneath(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        if func in self.inner_functions:
            return self.folded.__torch_function__(func, types, args, kwargs)  # type: ignore[union-attr]
        return func(*args, **kwargs)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        name = WATCHED_FUNCTIONS.get(func)
        tr = self.tracer
        if func in VALUE_FUNCTIONS and tr.values is not None:
            return tr.values.torch_function(func, args, kwargs)  # value reads (see values.py)
        if name is None or not tr.recording or torch._C._current_autograd_node() is not None:
            # (during backward, a checkpointed block's recomputation: its ops are counted one by one, as
            # the backward ops they are, not as a second forward call)
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
        with NO_TORCH_FUNCTION():
            self._close_region(index, name, module, start, args, kwargs, out)
        return out

    def _close_region(self, index: int, name: str, module: str, start: int, args: tuple, kwargs: dict,
               out: Any) -> None:
        tr = self.tracer
        tr.regions[index] = Region(index, name, module, tr.freeze(args),
                                   {k: tr.freeze(v) for k, v in kwargs.items()}, start, len(tr.events),
                                   tuple(tr.meta(t) for t in tensors_in(out)))
        if torch.is_grad_enabled():
            stop = {t.grad_fn for t in tensors_in((args, kwargs)) if t.grad_fn is not None}
            todo = [t.grad_fn for t in tensors_in(out) if t.grad_fn is not None]
            owner = tr.node_region
            while todo:
                node = todo.pop()
                if node is None or node in owner or node in stop or type(node).__name__ == "AccumulateGrad":
                    continue
                owner[node] = index
                todo.extend(n for n, _ in node.next_functions if n is not None)
