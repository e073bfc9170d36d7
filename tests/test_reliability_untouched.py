"""The model-untouched guarantee: profiling leaves the model and torch's global state exactly as found.

Every model of tests/zoo_big.py is profiled four ways (meta and cpu, inference and training) inside
``untouched(model)`` (tests/untouched.py), which compares a full snapshot before and after: tensors
(objects, values as bytes, devices, dtypes, requires_grad, version counters, ``.grad``, tensor hooks),
every submodule's training flag, hooks and attributes, and torch's global state. A second, independent
oracle runs the model for real in eval mode before and after profiling and compares the outputs byte
for byte.

Models whose forward raises (an exception or ``KeyboardInterrupt``) must see profile raise and must be
left untouched all the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from untouched import assert_same, snapshot, untouched
from zoo_big import ZOO, Case

import netcensus

VARIANTS = [("meta", False), ("meta", True), ("cpu", False), ("cpu", True)]


def _cases() -> Iterator[Any]:
    for case in ZOO:
        for device, train in VARIANTS:
            failing = case.xfail and device in case.xfail_on
            marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if failing else []
            yield pytest.param(case, device, train, marks=marks,
                               id=f"{case.name}-{device}-{'train' if train else 'infer'}")


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            yield from _tensors(getattr(value, name))


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _cloned(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_cloned(v) for v in value)
    if isinstance(value, dict):
        return {k: _cloned(v) for k, v in value.items()}
    return value


def _bytes(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1).contiguous().view(torch.uint8).clone()


def _eval_outputs(model: nn.Module, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """The model's real eval-mode outputs, as raw bytes (an oracle independent of the snapshot)."""
    rng = torch.get_rng_state()
    args, kwargs = _cloned((args, kwargs))  # a forward may write to its input
    with _eval_mode(model), torch.no_grad():
        out = model(*args, **kwargs)
    torch.set_rng_state(rng)
    return [_bytes(t) for t in _tensors(out)]


def test_the_zoo_is_big_enough():
    assert len(ZOO) >= 25
    assert len({c.name for c in ZOO}) == len(ZOO)


@pytest.mark.parametrize("case,device,train", list(_cases()))
def test_profile_leaves_the_model_untouched(case: Case, device: str, train: bool):
    model = case.make()
    args, kwargs = case.call_inputs()
    inputs = kwargs if kwargs else args
    expected = case.raises_train if train and case.raises_train else case.raises
    if device == "meta" and case.raises_meta:
        expected = case.raises_meta
    reference = _eval_outputs(model, args, kwargs) if case.raises is None else None
    given = [(t, t._version, _bytes(t)) for t in _tensors((args, kwargs))]
    with untouched(model):
        if expected is None:
            p = netcensus.profile(model, inputs=inputs, device=device, train=train)
            assert p.total_params == sum(q.numel() for q in model.parameters())
        else:
            with pytest.raises(expected):
                netcensus.profile(model, inputs=inputs, device=device, train=train)
    for t, version, raw in given:
        assert t._version == version and torch.equal(_bytes(t), raw), "an input was written to"
    if reference is not None:
        after = _eval_outputs(model, args, kwargs)
        assert len(after) == len(reference)
        assert all(torch.equal(a, b) for a, b in zip(after, reference)), "the model computes differently"


def test_profiling_twice_gives_the_same_answer_and_leaves_no_trace():
    case = next(c for c in ZOO if c.name == "resnet_like")
    model = case.make()
    args, _ = case.call_inputs()
    with untouched(model):
        first = netcensus.profile(model, inputs=args, train=True)
        second = netcensus.profile(model, inputs=args, train=True)
    assert first.to_dict() == second.to_dict()


def test_a_model_on_meta_is_untouched():
    with torch.device("meta"):
        model = next(c for c in ZOO if c.name == "cnn_bn_train").build()
    with untouched(model):
        netcensus.profile(model, input_size=(2, 3, 8, 8), train=True)
    assert all(p.device.type == "meta" for p in model.parameters())


def test_gradients_already_there_stay_as_they_were():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    model(torch.ones(3, 4)).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    with untouched(model):
        netcensus.profile(model, inputs=torch.ones(3, 4), device="cpu", train=True)
        netcensus.profile(model, inputs=torch.ones(3, 4), train=True)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))


def test_inputs_are_untouched():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True))
    x = torch.randn(2, 4, requires_grad=True)
    ids = {"input": x}
    before = (x.clone(), x._version, x.grad)
    netcensus.profile(model, inputs=ids, device="cpu", train=True)
    netcensus.profile(model, inputs=(x,), train=True)
    assert torch.equal(x, before[0]) and x._version == before[1] and x.grad is None
    assert ids == {"input": x}


class _CountingFunctionMode(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        self.calls += 1
        return func(*args, **(kwargs or {}))


class _CountingDispatchMode(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        self.calls += 1
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    old = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old[0], warn_only=old[1])


@contextlib.contextmanager
def _matmul_precision(value: str) -> Iterator[None]:
    old = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(value)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(old)


USER_CONTEXTS: dict[str, Callable[[], contextlib.AbstractContextManager[Any]]] = {
    "no_grad": torch.no_grad,
    "enable_grad": torch.enable_grad,
    "inference_mode": torch.inference_mode,
    "default_device_cpu": lambda: torch.device("cpu"),
    "default_dtype_float64": lambda: _default_dtype(torch.float64),
    "deterministic": _deterministic,
    "anomaly_mode": lambda: torch.autograd.detect_anomaly(check_nan=False),
    "matmul_precision": lambda: _matmul_precision("medium"),
    "autocast_cpu": lambda: torch.autocast("cpu", dtype=torch.bfloat16),
    "saved_tensors_hooks": lambda: torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t),
    "user_function_mode": _CountingFunctionMode,
    "user_dispatch_mode": _CountingDispatchMode,
}


@pytest.mark.parametrize("name", list(USER_CONTEXTS))
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_profile_inside_user_contexts_restores_them(name: str, device: str):
    """Whatever state the caller is in (grad mode, default dtype or device, a mode of their own),
    profile leaves it as it was, on success and on failure."""
    case = next(c for c in ZOO if c.name == "cnn_bn_train")
    model = case.make()
    args, _ = case.call_inputs()
    with USER_CONTEXTS[name]():
        before = snapshot(model)
        for train in (False, True):
            try:
                netcensus.profile(model, inputs=args, device=device, train=train)
            except netcensus.NetcensusError:
                pass  # some contexts (inference mode + backward) may refuse; the state must still hold
            assert_same(before, snapshot(model), contents=True)
        with pytest.raises(netcensus.NetcensusError):
            netcensus.profile(model, inputs=torch.zeros(1, 3, 1, 1), device=device)
        assert_same(before, snapshot(model), contents=True)


def test_user_modes_see_the_forward_but_stay_on_their_stack():
    model = nn.Linear(3, 3)
    with _CountingDispatchMode() as mode:
        depth = torch._C._len_torch_dispatch_stack()
        netcensus.profile(model, input_size=(2, 3))
        assert torch._C._len_torch_dispatch_stack() == depth
    assert mode.calls > 0


class _InterruptAfter(TorchDispatchMode):
    """Raises KeyboardInterrupt at the (n+1)-th aten op it sees."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        if self.left <= 0:
            raise KeyboardInterrupt
        self.left -= 1
        return func(*args, **(kwargs or {}))


def test_global_hooks_are_gone_after_a_keyboard_interrupt_anywhere():
    """Interrupt the trace at every op in turn: each time profile re-raises KeyboardInterrupt and
    leaves nothing behind."""
    case = next(c for c in ZOO if c.name == "resnet_like")
    model = case.make()
    args, _ = case.call_inputs()
    ops = len(netcensus.profile(model, inputs=args, train=True).trace.events)
    for stop in range(0, ops, max(1, ops // 25)):
        with untouched(model), _InterruptAfter(stop):
            with pytest.raises(KeyboardInterrupt):
                netcensus.profile(model, inputs=args, train=True)


def test_real_run_rng_is_untouched_when_inputs_are_tensors():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    with untouched(model):
        netcensus.profile(model, inputs=torch.ones(2, 4), device="cpu", train=True)


def test_real_run_rng_is_untouched_when_inputs_are_made_from_shapes():
    """``input_size`` with ``device='cpu'`` draws random inputs: from a private generator, not the
    caller's global RNG (which a training script relies on for reproducibility)."""
    model = nn.Linear(4, 4)
    with untouched(model):
        netcensus.profile(model, input_size=(2, 4), device="cpu")


def test_case_inputs_are_reproducible():
    for case in ZOO:
        a, b = case.call_inputs(), case.call_inputs()
        assert all(torch.equal(x, y) for x, y in zip(_tensors(a), _tensors(b))), case.name
