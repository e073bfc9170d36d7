"""The real-memory oracle of the memory tests, and its own checks.

:func:`measure` runs a model for real on CPU and follows every storage it allocates: a
``TorchDispatchMode`` sees each op's outputs, a weakref finalizer on each storage sees it die. Live
bytes are summed by storage (views count once) after every op; the peak is the largest sum. What
autograd saves is recorded with ``saved_tensors_hooks``. This shares no code with netcensus: it is the
independent side of the meta-versus-real comparisons.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveStorages(TorchDispatchMode):
    """Live bytes of real storages, sampled after every op."""

    def __init__(self, preexisting: Iterable[torch.Tensor] = ()):
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0
        self.casts_of: set[int] = set()  # storages of params, to spot autocast's weight copies
        self.weight_copies: set[int] = set()
        for t in preexisting:
            self.track(t)
        self.peak = self.current

    def track(self, t: torch.Tensor) -> int | None:
        try:
            st = t.untyped_storage()
        except Exception:
            return None
        key = st._cdata
        if key not in self.live:
            self.live[key] = st.nbytes()
            self.current += st.nbytes()
            weakref.finalize(st, self._died, key)
        return key

    def _died(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        for t in tree_leaves((args, kwargs)):
            if isinstance(t, torch.Tensor):
                self.track(t)
        out = func(*args, **kwargs)
        keys = [self.track(t) for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        if func is torch.ops.aten._to_copy.default and isinstance(args[0], torch.Tensor):
            if args[0].untyped_storage()._cdata in self.casts_of:
                self.weight_copies.update(k for k in keys if k is not None)
        self.peak = max(self.peak, self.current)
        return out


@dataclass
class Measured:
    peak: int
    forward_end: int
    saved: int
    """Bytes saved for backward, by storage, excluding parameters, buffers, inputs and weight copies."""


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if hasattr(value, "to_tuple"):
        return _tensors(value.to_tuple())
    return []


def measure(model: nn.Module, args: tuple, *, train: bool, kwargs: dict | None = None,
            contexts: Iterable[Callable[[], object]] = ()) -> Measured:
    """Run ``model(*args, **kwargs)`` for real (and a backward seeded with ones, like the tracer) and
    measure. ``contexts`` (e.g. ``torch.autocast``) are entered around the forward only."""
    model.train(train)
    for p in model.parameters():
        p.grad = None
    state = list(model.parameters()) + list(model.buffers())
    inputs = [t for t in _tensors(args)]
    mode = LiveStorages(state + inputs)
    mode.casts_of = {p.untyped_storage()._cdata for p in model.parameters()}
    excluded = {t.untyped_storage()._cdata for t in state + inputs}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        saved.setdefault(st._cdata, st.nbytes())
        return t

    with ExitStack() as stack:
        stack.enter_context(torch.set_grad_enabled(train))
        if train:
            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t))
        stack.enter_context(mode)
        with ExitStack() as forward:  # like `with torch.autocast(...): out = model(x)`
            for factory in contexts:
                forward.enter_context(factory())
            out = model(*args, **(kwargs or {}))
        forward_end = mode.current
        if train:
            loss = getattr(out, "loss", None)
            roots = [loss] if isinstance(loss, torch.Tensor) else \
                [t for t in _tensors(out) if t.requires_grad and t.is_floating_point()]
            torch.autograd.backward(roots, [torch.ones_like(r) for r in roots])
        peak = mode.peak
    kept = sum(b for k, b in saved.items() if k not in excluded and k not in mode.weight_copies)
    for p in model.parameters():
        p.grad = None
    return Measured(peak, forward_end, kept)


def test_oracle_counts_a_closed_form_run():
    # y = relu(x @ w.t()): x (4, 8), w (16, 8), float32.
    w = nn.Parameter(torch.randn(16, 8))
    x = torch.randn(4, 8)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = w

        def forward(self, x):
            return torch.relu(x @ self.w.t())

    m = measure(Net(), (x,), train=True)
    # Start: w 16*8*4 = 512, x 4*8*4 = 128. Forward: mm -> 4*16*4 = 256, relu -> 256; the mm output
    # dies after relu (relu saves its output; mm saved x and the view w.t()). Saved: the relu output
    # (x and w are excluded). Forward end: 512 + 128 + 256 = 896.
    # Backward: seed ones 256; threshold_backward -> 256; mm for dW -> 512. The relu output stays: it
    # is the model's output, held by the caller. Peak at that mm:
    # w 512 + x 128 + output 256 + seed 256 + grad 256 + dW 512 = 1920.
    assert m.saved == 256
    assert m.forward_end == 896
    assert m.peak == 1920


def test_oracle_sees_storages_die():
    mode = LiveStorages()
    with mode:
        a = torch.ones(1000)
        b = a * 2
        del a
        c = b + 1
    assert mode.peak == 8000  # a and b (4000 each) live together; c is born after a died
    del b, c
    assert mode.current == 0
