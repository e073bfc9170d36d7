"""Run one forward (and optionally one backward) of a model and record it as a :class:`Trace`.

How the model is left alone
---------------------------
The model is never moved, copied or given hooks of its own. Its parameters and buffers are replaced
*for the duration of one forward and backward* by stand-ins, as :func:`torch.func.functional_call`
replaces them (``torch.nn.utils.stateless._reparametrize_module``), which restores the originals on
exit, also when the forward raises:

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

A model that checkpoints itself (torch.utils.checkpoint, transformers' gradient checkpointing) is
traced as it runs: the stand-ins stay in place through the backward, and its recomputations are
recorded as backward work of their modules (hooks.py). Where the forward reads tensor values (masks,
positions), the values a real run would have are followed (values.py).

The parts: recorder.py (the dispatch mode and what a trace records), hooks.py (module calls,
recomputations), regions.py (watched function calls), standins.py (parameter, buffer and input
stand-ins), values.py (known values of small tensors), kernel_cache.py (meta kernels run once per
argument metadata), own_kernels.py (the outputs of common ops made without PyTorch's Python meta
kernels, whose first call imports torch._dynamo and sympy).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as nn_module
from torch.nn.utils.stateless import _reparametrize_module
from torch.overrides import _get_current_function_mode_stack

from ..events import Trace
from .common import tensors_in
from .eager import eager_compile
from .flex import flex_in_trace
from .recorder import Recorder, Tracer
from .regions import Watcher, foldable
from .standins import convert_input, paired_inputs, restored_state, stand_in
from .values import KnownValues, unvalidated_distributions


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



def _backward_roots(output: Any) -> list[torch.Tensor]:
    loss = None
    if isinstance(output, Mapping):
        loss = output.get("loss")
    elif hasattr(output, "loss") and not isinstance(output, torch.Tensor):
        loss = getattr(output, "loss", None)
    if isinstance(loss, torch.Tensor) and loss.requires_grad:
        return [loss]
    return [t for t in tensors_in(output) if t.requires_grad and t.is_floating_point()]


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
    tracer = Tracer(paths, modules, expand)
    stand_ins = _stand_ins(model, tracer, device, dtype)
    run = _Run(model, tracer, device, train, stand_ins,
               convert_input(args, device, dtype), convert_input(kwargs, device, dtype))
    if device == "meta":
        tracer.values = KnownValues()
        for name, given, new in paired_inputs(args, kwargs, run.call_args, run.call_kwargs):
            tracer.values.seed_input(given, new, name)
    with ExitStack() as stack, restored_state(model):
        model.train(mode == "train")
        _enter_tracing(stack, tracer, device, train, contexts)
        run.forward_backward(on_output)
        result = run.result()
    return result


@dataclass
class _StandIns:
    """The tensors that replace the model's parameters and buffers for the trace, by name, and the
    trace's storage ids of the parameters and buffers."""

    replace: dict[str, torch.Tensor]
    param_storages: dict[str, int]
    buffer_storages: dict[str, int]


def _stand_ins(model: nn.Module, tracer: Tracer, device: str, dtype: torch.dtype | None) -> _StandIns:
    """Stand-ins, one per distinct tensor object (tied weights stay tied)."""
    stand_ins: dict[int, torch.Tensor] = {}
    out = _StandIns({}, {}, {})
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
                new = stand_ins[id(t)] = stand_in(t, device, kind == "param", dtype)
                storages = out.param_storages if kind == "param" else out.buffer_storages
                storages[name] = tracer.storage_id(new)
            out.replace[name] = new
    return out


def _enter_tracing(stack: ExitStack, tracer: Tracer, device: str, train: bool,
                   contexts: Sequence[Callable[[], AbstractContextManager[Any]]]) -> None:
    """Enter, on ``stack``, everything the trace runs under: the module hooks, a deeper recursion limit,
    the meta device, grad mode, the caller's contexts, the saved-tensor hooks, the region watcher and the
    op recorder; then start recording."""
    handles = [
        nn_module.register_module_forward_pre_hook(tracer.pre_hook),
        nn_module.register_module_forward_hook(tracer.post_hook, with_kwargs=True, always_call=True),
    ]
    def remove_hooks() -> None:
        for h in handles:
            h.remove()
        # PyTorch's handle of a global hook registered with_kwargs leaves its id in this table (the
        # handle only cleans _global_forward_hooks and always_called); a leftover entry makes the
        # user's later torch.compile warn that global hooks exist
        getattr(nn_module, "_global_forward_hooks_with_kwargs", {}).pop(handles[1].id, None)

    stack.callback(remove_hooks)
    # The hooks add a Python frame per level of module nesting and the recorder some per op: give a
    # deeply nested model (which runs within Python's limit without us) that headroom, for this call.
    nesting = max((p.count(".") + 1 for p in tracer.paths.values() if p), default=0)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 2 * nesting + 300)
    stack.callback(sys.setrecursionlimit, limit)
    outer_modes = torch._C._len_torch_function_stack()
    if device == "meta":
        stack.enter_context(torch.device("meta"))
        stack.enter_context(unvalidated_distributions())
    stack.enter_context(torch.set_grad_enabled(train))
    stack.enter_context(eager_compile())
    stack.enter_context(flex_in_trace())
    folded = _enter_contexts(stack, contexts)
    if train:
        stack.enter_context(torch.autograd.graph.saved_tensors_hooks(tracer.pack, lambda t: t))
    stack.enter_context(Watcher(tracer, folded))
    tracer.function_modes = _get_current_function_mode_stack()[outer_modes:]
    if device == "meta" and torch._C._len_torch_dispatch_stack() == 0:
        # a dispatch mode of the caller's would see empty_strided where the kernel ran
        tracer.kernels = {}
    stack.enter_context(Recorder(tracer))
    stack.callback(setattr, tracer, "alive", False)
    tracer.recording = True


def _enter_contexts(stack: ExitStack, contexts: Sequence[Callable[[], AbstractContextManager[Any]]]) -> Any:
    """Enter the caller's contexts; return the last one instead when the watcher can stand in for it
    (see regions.foldable), else None."""
    folded: Any = None
    for i, factory in enumerate(contexts):
        context = factory()
        if i == len(contexts) - 1 and foldable(context):
            folded = context
        else:
            stack.enter_context(context)
    return folded


class _Run:
    """One forward (and backward) of the model with its stand-ins in place, and what it recorded."""

    def __init__(self, model: nn.Module, tracer: Tracer, device: str, train: bool, stand_ins: _StandIns,
                 call_args: Any, call_kwargs: Any):
        self.model, self.tracer, self.device, self.train = model, tracer, device, train
        self.stand_ins, self.call_args, self.call_kwargs = stand_ins, call_args, call_kwargs
        self.input_storages = tuple(tracer.storage_id(t) for t in tensors_in((call_args, call_kwargs)))

    def forward_backward(self, on_output: Callable[[Any], None] | None) -> None:
        """Run the forward, then the backward when training; a failure raises :class:`TraceFailure`."""
        tracer = self.tracer
        # The stand-ins stay in place through the backward too: a checkpointed block (torch.utils.checkpoint,
        # transformers' gradient checkpointing) runs its forward again during backward, and must find them.
        with _reparametrize_module(self.model, self.stand_ins.replace, tie_weights=False, strict=False):
            try:
                output = self.model(*self.call_args, **self.call_kwargs)
            except Exception as exc:
                tracer.recording = False
                raise self.failure(exc, "forward") from exc
            if on_output is not None:
                on_output(output)
            if self.train:
                roots = _backward_roots(output)
                if roots:
                    tracer.recording = False
                    seeds = [torch.ones_like(r) for r in roots]
                    tracer.recording = True
                    try:
                        torch.autograd.backward(roots, seeds)
                    except Exception as exc:
                        tracer.recording = False
                        raise self.failure(exc, "backward") from exc
        tracer.recording = False
        tracer.alive = False  # what the forward returned is the caller's: it does not die in the step
        del output

    def result(self) -> Trace:
        """The trace recorded so far."""
        return self.tracer.result(device=self.device, train=self.train,
                                  param_storages=self.stand_ins.param_storages,
                                  buffer_storages=self.stand_ins.buffer_storages,
                                  input_storages=self.input_storages)

    def failure(self, exc: BaseException, phase: str) -> TraceFailure:
        """``exc`` raised in ``phase``, with where it happened and the partial trace."""
        tracer = self.tracer
        where = tracer.failed_call
        mod = None
        if where is not None:
            for m_id, p in tracer.paths.items():
                if p == where.path:
                    mod = tracer.modules[m_id]
                    break
        partial = self.result()
        return TraceFailure(exc, where.path if where else None, where.type if where else None,
                            str(tracer.current_op) if tracer.current_op is not None else None,
                            partial, mod, phase)
