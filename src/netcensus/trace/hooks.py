"""Module attribution: PyTorch's global module hooks open and close a :class:`OpenCall` per module call.

A call is open from its forward pre-hook to its forward hook; the ops recorded in between belong to the
innermost open call. When a call returns with grad enabled, the autograd nodes created inside it (and
not yet claimed by a child) are attributed to it, which is how backward ops (including the forward a
checkpointed block recomputes during backward) find their module.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, cast

import torch
from torch import nn
from torch.overrides import _get_current_function_mode_stack

from .common import NO_TORCH_FUNCTION, tensors_in


@dataclasses.dataclass
class OpenCall:
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
    recomputed: bool = False
    """Called during backward (a checkpointed block's recomputation): not a call of the forward."""
    pushed: int = 0
    """Torch-function modes pushed for a recomputation, popped when it returns."""


class CallTracking:
    """The module hooks of the tracer (a mixin of ``recorder.Tracer``, whose state they update)."""

    paths: dict[int, str]
    recording: bool
    stack: list[OpenCall]
    calls: list[OpenCall]
    call_counts: dict[str, int]
    events: list[Any]
    failed_call: OpenCall | None
    node_module: dict[Any, str]
    function_modes: list[Any]
    recomputed_calls: int

    def structure(self, value: Any) -> Any:  # defined by the tracer
        raise NotImplementedError

    def pre_hook(self, module: nn.Module, args: tuple) -> None:
        path = self.paths.get(id(module))
        if path is None or not self.recording:
            return
        with NO_TORCH_FUNCTION():
            self._open_call(module, path, args)

    def _open_call(self, module: nn.Module, path: str, args: tuple) -> None:
        if torch._C._current_autograd_node() is not None:
            self._open_recomputation(module, path)
            return
        count = self.call_counts.get(path, 0)
        self.call_counts[path] = count + 1
        call = OpenCall(path, type(module).__name__, count, len(self.stack), len(self.events),
                         self.structure(args))
        self.calls.append(call)
        self.stack.append(call)

    def _open_recomputation(self, module: nn.Module, path: str) -> None:
        """A module called during backward: a checkpointed block running its forward again. Its ops are
        attributed to it (as backward ops: that is when they run), but it is not another call of the
        model's forward. The autograd engine runs backward without the torch-function modes the forward
        ran under (the tracer's watcher, the meta device, the contexts): they are put back for the call,
        so the recomputation takes the path the forward took (the same kernels, casts and saves)."""
        pushed = 0
        present = {id(m) for m in _get_current_function_mode_stack()}
        for mode in self.function_modes:
            if id(mode) not in present:
                torch._C._push_on_torch_function_stack(mode)
                pushed += 1
        self.recomputed_calls += 1
        call = OpenCall(path, type(module).__name__, -1, len(self.stack), len(self.events), None,
                        recomputed=True, pushed=pushed)
        self.stack.append(call)

    def post_hook(self, module: nn.Module, args: tuple, *rest: Any) -> None:
        # normally (module, args, kwargs, output); when the forward raised, PyTorch calls global
        # always_call hooks as (module, args, result) instead
        path = self.paths.get(id(module))
        if path is None or not self.stack or self.stack[-1].path != path:
            return
        with NO_TORCH_FUNCTION():
            self._close_call(path, rest)

    def _close_call(self, path: str, rest: tuple) -> None:
        call = self.stack.pop()
        call.end = len(self.events)
        if call.recomputed:
            for _ in range(call.pushed):
                torch._C._pop_torch_function_stack()
            if torch.is_grad_enabled() and sys.exc_info()[1] is None and rest:
                claim_recomputed_nodes(rest[-1], path)  # (reentrant checkpointing runs a backward of these)
            return
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
        todo = [t.grad_fn for t in tensors_in(output) if t.grad_fn is not None]
        owner = self.node_module
        while todo:
            node = todo.pop()
            if node is None or node in owner:
                continue
            owner[node] = path
            for nxt, _ in node.next_functions:
                if nxt is not None and nxt not in owner:
                    todo.append(nxt)


RECOMPUTED_MODULE = "netcensus.module"
"""Key of the module path in the ``metadata`` of autograd nodes made by a recomputation."""


def claim_recomputed_nodes(output: Any, path: str) -> None:
    """:meth:`CallTracking.claim_nodes` for the graph a recomputation builds, with the path kept in each
    node's own ``metadata``: the tracer holds no reference to these nodes. Non-reentrant checkpointing
    never runs this graph's backward, and its nodes hold the recomputed tensors (checkpoint's pack hook
    returns them): referenced from the tracer, they would outlive the recomputation, as they do not in a
    real run."""
    todo = [t.grad_fn for t in tensors_in(output) if t.grad_fn is not None]
    seen: set[int] = set()
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        metadata = cast(dict, node.metadata)  # a dict property (the stubs call it a method)
        if RECOMPUTED_MODULE in metadata:
            continue
        metadata[RECOMPUTED_MODULE] = path
        todo.extend(n for n, _ in node.next_functions if n is not None)
