"""Optimizer state, measured by running PyTorch's own optimizer on meta tensors.

For ``torch.optim`` optimizers we build one meta parameter per trainable parameter (same shape and
dtype, or float32 when the optimizer keeps float32 master weights), give each a meta ``.grad``, and run
the real ``optimizer.step()`` twice. The state PyTorch allocates (``exp_avg``, ``momentum_buffer``...)
therefore has PyTorch's own shapes and dtypes; it is summed deduplicated by storage. Step counters
that PyTorch keeps on the host (``step`` as a CPU scalar unless ``capturable``/``fused``) are reported
apart as ``host_bytes``: they are not device memory.

The second step runs under a small liveness recorder, which gives the step's own temporaries (the
peak bytes it allocates beyond parameters, gradients and state): with ``foreach=True`` (PyTorch's
default on CUDA) they span all parameters at once, e.g. Adam's ``sqrt(exp_avg_sq)`` list; with
``foreach=False`` one parameter at a time. Unless the user sets ``foreach``, we run ``foreach=True``,
the CUDA default. ``fused=True`` cannot run on meta tensors: its state is measured with the for-loop
implementation (the same tensors), its step counters are device tensors and the fused kernel
allocates no temporaries (measured on an H200: the MLP's first-step peak is 1.88 GB with
``fused=True`` against 2.32 GB for foreach AdamW). ``capturable`` is refused.

bitsandbytes' ``Adam8bit`` is counted by formula (bitsandbytes 0.4x, blockwise quantization): for a
parameter of n elements, n >= ``min_8bit_size`` (4096): two uint8 states (2n bytes) plus two float32
absmax per block of 256 (2 * 4 * ceil(n / 256)); smaller parameters keep two float32 states (8n).
The two 256-entry float32 quantization maps are shared by all parameters (2 KiB once).
"""

from __future__ import annotations

import copy
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._pytree import tree_leaves

from ...errors import MemoryConfigError
from ...options import OptimizerSpec, Precision
from ...tensors import PlainDispatchMode, fills_own_storage
from .params import ParamInfo


@dataclass(frozen=True)
class OptimizerState:
    """Bytes an optimizer keeps between steps, and what one step allocates transiently."""

    device_bytes: int
    """State on the parameters' device (including float32 master weights when kept)."""
    host_bytes: int = 0
    """State PyTorch keeps on the host (non-capturable step counters)."""
    by_key: dict[str, int] = field(default_factory=dict)
    """Bytes per state name (``exp_avg``, ``step``, ``master_weights``...)."""
    master_weights: int = 0
    """Float32 master copy held by the optimizer (low-precision parameters with a mixed policy)."""
    step_temporaries: int = 0
    """Peak bytes one step allocates beyond parameters, gradients and state."""
    formula: str = ""
    """How the figure was obtained, for the report."""


class _Liveness(PlainDispatchMode):
    """Peak bytes of op outputs whose storages are not in ``known`` (pre-existing tensors)."""

    def __init__(self, known: set[int]):
        super().__init__()
        self.known = known
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0

    def _died(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            try:
                st = t.untyped_storage()
            except Exception:
                continue
            key = st._cdata
            if key in self.known or key in self.live:
                continue
            size = st.nbytes()
            self.live[key] = size
            self.current += size
            weakref.finalize(st, self._died, key)
        self.peak = max(self.peak, self.current)
        return out


def _storage_bytes(values: Sequence[Any], seen: set[int]) -> tuple[int, int]:
    """(device bytes, host bytes) of the tensors in values, skipping storages already seen."""
    device = host = 0
    for v in values:
        if not isinstance(v, torch.Tensor):
            continue
        st = v.untyped_storage()
        if st._cdata in seen:
            continue
        seen.add(st._cdata)
        if v.device.type == "meta":
            device += st.nbytes()
        else:
            host += st.nbytes()
    return device, host


def _torch_dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def optimizer_state(params: Sequence[ParamInfo], spec: OptimizerSpec | str | None,
                    precision: Precision | str = Precision.FP32) -> OptimizerState:
    """The state ``spec`` keeps for the trainable parameters in ``params``.

    With a mixed precision policy and low-precision parameters, the optimizer works on a float32
    master copy: its state is float32 and the copy (4 bytes per element) is added as
    ``master_weights``.
    """
    spec = OptimizerSpec.parse(spec)
    precision = Precision.parse(precision)
    trainable = [p for p in params if p.trainable and p.floating]
    if spec is None or not trainable:
        return OptimizerState(0, formula="no optimizer" if spec is None else "no trainable parameters")
    master = precision.mixed and any(p.dtype != "float32" for p in trainable)
    dtypes = ["float32" if master and p.dtype != "float32" else p.dtype for p in trainable]
    master_bytes = sum(p.numel * 4 for p in trainable if p.dtype != "float32") if master else 0
    if spec.name == "adam8bit":
        state = _adam8bit(trainable, spec)
    else:
        state = _run_torch(trainable, dtypes, spec)
    if master_bytes:
        by_key = {**state.by_key, "master_weights": master_bytes}
        state = OptimizerState(state.device_bytes + master_bytes, state.host_bytes, by_key, master_bytes,
                               state.step_temporaries,
                               state.formula + " + float32 master weights (4 bytes per element)")
    return state


def _run_torch(trainable: Sequence[ParamInfo], dtypes: Sequence[str], spec: OptimizerSpec) -> OptimizerState:
    cls = getattr(torch.optim, spec.torch_class)
    kwargs = spec.constructor_kwargs()
    fused = bool(kwargs.pop("fused", False))
    if kwargs.get("capturable"):
        raise MemoryConfigError(f"{spec.torch_class}(capturable=True) cannot run on meta tensors",
                                fix="leave capturable unset: the state it keeps is the same "
                                    "(with the step counter on the device)")
    if fused:
        # the fused kernel (aten._fused_adam_ etc.) cannot run on meta; its state is the for-loop
        # implementation's, with the step counters on the device, and it allocates no temporaries
        kwargs["foreach"] = False
    kwargs.setdefault("foreach", True)
    # Factories inside step() (step counters) must not follow a caller's torch.device("meta").
    with torch.device("cpu"), torch.no_grad():
        metas: list[torch.Tensor] = []
        for p, dtype in zip(trainable, dtypes):
            t = torch.nn.Parameter(torch.empty(p.shape, dtype=_torch_dtype(dtype), device="meta"))
            t.grad = torch.empty_like(t)
            metas.append(t)
        try:
            opt, seed = _first_step(cls, metas, kwargs)
        except TypeError as exc:
            raise MemoryConfigError(f"torch.optim.{spec.torch_class} does not take these arguments: {exc}",
                                    fix="pass only keyword arguments its constructor accepts") from None
        # by parts: a step per distinct shape plus one over all of them twice, which costs more than
        # the full step unless shapes repeat (4x or more: a transformer's layers; not AlexNet's 16)
        by_parts = seed is not None and len(metas) >= 4 * len(seed)
        peak = _peak_by_parts(cls, kwargs, metas, seed) if by_parts and seed is not None else None
        if peak is None:
            peak = _recorded_step(opt, metas)
        seen: set[int] = set()
        by_key: dict[str, int] = {}
        device = host = 0
        for s in opt.state.values():
            for key, v in s.items():
                d, h = _storage_bytes([v], seen)
                if d or h:
                    by_key[key] = by_key.get(key, 0) + d + h
                device += d
                host += h
    names = sorted(by_key)
    formula = f"{spec.describe()} run on meta tensors: " + ", ".join(names) if names else \
        f"{spec.describe()} keeps no state"
    if fused:
        steps = by_key.get("step", 0)
        device, host, peak = device + steps if host >= steps else device, max(host - steps, 0), 0
        formula += " (fused: step counters on the device, no step temporaries)"
    return OptimizerState(device, host, by_key, 0, peak, formula)


#: torch.optim classes whose state is per parameter: after one step, a parameter's state depends only
#: on its shape, dtype and the hyperparameters (a step counter is the same for all).
_PER_PARAMETER = frozenset({"SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adamax", "NAdam", "RAdam",
                            "Adadelta", "Rprop"})


def _key(t: torch.Tensor) -> tuple[Any, ...]:
    return tuple(t.shape), t.stride(), t.dtype


def _first_step(cls: type, metas: list[torch.Tensor], kwargs: dict[str, Any]) -> tuple[Any, dict | None]:
    """An optimizer over ``metas`` in the state one ``step()`` leaves it in (the steady state the second,
    measured step starts from), and, when that state was made from representatives, each distinct
    (shape, stride, dtype)'s state after one step (else None).

    On meta tensors a step costs about a millisecond per parameter in PyTorch's Python meta kernels,
    and models repeat shapes (a transformer has a handful of distinct ones over hundreds of
    parameters). For a per-parameter optimizer the first step therefore runs on one parameter per
    distinct (shape, stride, dtype), and every parameter gets fresh tensors of that one's state: same
    shapes, strides, dtypes, storage sizes, and the same values for host-side step counters. Anything
    that makes the copies inexact (state that views a larger storage or shares one) falls back to
    stepping every parameter.
    """
    if cls.__name__ not in _PER_PARAMETER or cls.__module__.split(".")[:2] != ["torch", "optim"]:
        opt = cls(metas, **kwargs)
        opt.step()
        return opt, None
    first: dict[tuple[Any, ...], torch.Tensor] = {}
    for t in metas:
        first.setdefault(_key(t), t)
    if len(first) == len(metas):
        opt = cls(metas, **kwargs)
        opt.step()
        return opt, None
    reps = list(first.values())
    seed = cls(reps, **kwargs)
    seed.step()
    copies = {id(t): _copied_state(seed.state[t]) for t in reps}
    opt = cls(metas, **kwargs)
    if any(c is None for c in copies.values()):
        opt.step()
        return opt, None
    for t in metas:
        rep = first[_key(t)]
        opt.state[t] = _copied_state(seed.state[rep]) if t is not rep else copies[id(rep)]
    return opt, {key: seed.state[rep] for key, rep in first.items()}


def _recorded_step(opt: Any, params: Sequence[torch.Tensor]) -> int:
    """Peak bytes of the tensors ``opt.step()`` allocates beyond the parameters, gradients and state."""
    known = {t.untyped_storage()._cdata for t in params}
    known |= {t.grad.untyped_storage()._cdata for t in params if t.grad is not None}
    for s in opt.state.values():
        known |= {v.untyped_storage()._cdata for v in s.values() if isinstance(v, torch.Tensor)}
    recorder = _Liveness(known)
    with recorder:
        opt.step()
    return recorder.peak


def _step_over(cls: type, kwargs: dict[str, Any],
               entries: Sequence[tuple[tuple[Any, ...], Any]]) -> int | None:
    """The recorded peak of a step over fresh parameters, one per ``(key, state)`` in ``entries``, each
    starting from a copy of that state; None when a state cannot be copied exactly."""
    params = []
    for (shape, stride, dtype), _ in entries:
        t = torch.nn.Parameter(torch.empty_strided(shape, stride, dtype=dtype, device="meta"))
        t.grad = torch.empty_like(t)
        params.append(t)
    opt = cls(params, **kwargs)
    for t, (_, state) in zip(params, entries):
        copied = _copied_state(state)
        if copied is None:
            return None
        opt.state[t] = copied
    return _recorded_step(opt, params)


def _peak_by_parts(cls: type, kwargs: dict[str, Any], metas: Sequence[torch.Tensor],
                   seed: dict[tuple[Any, ...], Any]) -> int | None:
    """The peak temporaries of one step over ``metas``, from steps over a few parameters, or None.

    A multi-tensor (foreach) step runs every op over all parameters of one dtype before the next op,
    so at its peak each parameter holds the temporaries a step over it alone holds at that point:
    the peak is the sum, over parameters, of their lone peaks. That is measured, not assumed: the lone
    peak of each distinct (shape, stride, dtype) is recorded, then a step over every one of them twice
    must peak at exactly twice their sum (a per-parameter loop, which frees each parameter's
    temporaries before the next, would not). Only then is the answer the count-weighted sum; with
    several dtypes (grouped steps) or any mismatch, the full step is recorded instead.
    """
    if len({t.dtype for t in metas}) != 1:
        return None
    alone: dict[tuple[Any, ...], int] = {}
    for key, state in seed.items():
        peak = _step_over(cls, kwargs, [(key, state)])
        if peak is None:
            return None
        alone[key] = peak
    doubled = _step_over(cls, kwargs, [(key, state) for key, state in seed.items() for _ in range(2)])
    if doubled is None or doubled != 2 * sum(alone.values()):
        return None
    counts = Counter(_key(t) for t in metas)
    return sum(n * alone[key] for key, n in counts.items())


def _copied_state(state: Any) -> dict[str, Any] | None:
    """Fresh tensors with the metadata (and, on the host, the values) of ``state``'s; None when a copy
    would not hold the same bytes (a view into a larger storage, or storage shared between entries)."""
    out: dict[str, Any] = {}
    seen: set[int] = set()
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            out[key] = copy.deepcopy(value)
            continue
        if not fills_own_storage(value):
            return None
        storage = value.untyped_storage()._cdata
        if storage in seen:
            return None
        seen.add(storage)
        shape, stride = tuple(value.shape), value.stride()
        if value.device.type == "meta":
            out[key] = torch.empty_strided(shape, stride, dtype=value.dtype, device="meta")
        else:
            out[key] = value.clone()
            if out[key].stride() != stride:
                return None
    return out


def _adam8bit(trainable: Sequence[ParamInfo], spec: OptimizerSpec) -> OptimizerState:
    kw = spec.constructor_kwargs()
    min_8bit = int(kw.get("min_8bit_size", 4096))
    block = int(kw.get("block_size", 256))
    by_key = {"state1": 0, "state2": 0, "absmax1": 0, "absmax2": 0, "qmap1+qmap2": 0}
    for p in trainable:
        n = p.numel
        if n >= min_8bit:
            blocks = -(-n // block)
            by_key["state1"] += n
            by_key["state2"] += n
            by_key["absmax1"] += 4 * blocks
            by_key["absmax2"] += 4 * blocks
        else:
            by_key["state1"] += 4 * n
            by_key["state2"] += 4 * n
    if any(p.numel >= min_8bit for p in trainable):
        by_key["qmap1+qmap2"] = 2 * 256 * 4
    by_key = {k: v for k, v in by_key.items() if v}
    formula = (f"bitsandbytes Adam8bit formula: n >= {min_8bit}: 2n (uint8) + 8*ceil(n/{block}) (absmax); "
               f"n < {min_8bit}: 8n (float32); + 2 KiB of quantization maps")
    return OptimizerState(sum(by_key.values()), 0, by_key, 0, 0, formula)

