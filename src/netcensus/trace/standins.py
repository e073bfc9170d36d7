"""Stand-ins: what the model's parameters, buffers and inputs are replaced by for one traced call.

On meta, a stand-in is a meta tensor of the same shape, strides, dtype and ``requires_grad``; on a
real device, a detached copy there (the forward may write to its weights or inputs in place). The
model's own state (training flags, attributes a forward binds, the RNG and grad mode) is put back by
:func:`restored_state`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


def cast_dtype(t: torch.Tensor, dtype: torch.dtype | None) -> torch.dtype:
    return dtype if dtype is not None and t.is_floating_point() else t.dtype


def meta_like(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``torch.empty_like(t, device="meta", dtype=dtype)``. For a contiguous strided tensor that is a
    tensor of its strides (also those of size-1 dimensions, which layout choices read), made here
    without running the meta kernel of ``empty_like``: it is Python, ~50 us a tensor, and its first call
    in a process imports sympy (0.3-0.5 s)."""
    if t.layout is torch.strided and t.is_contiguous():
        return torch.empty_strided(t.shape, t.stride(), dtype=dtype, device="meta")
    return torch.empty_like(t, device="meta", dtype=dtype)


def stand_in(t: torch.Tensor, device: str, is_param: bool, dtype: torch.dtype | None = None) -> torch.Tensor:
    if device == "meta":
        new = meta_like(t, cast_dtype(t, dtype))
    else:  # a copy: the forward may write to its weights in place
        new = t.detach().to(device, cast_dtype(t, dtype), copy=True)
    if is_param:
        return nn.Parameter(new, requires_grad=t.requires_grad)
    return new


def convert_input(value: Any, device: str, dtype: torch.dtype | None = None) -> Any:
    if isinstance(value, torch.Tensor):
        if device == "meta":
            if type(value) in (torch.Tensor, nn.Parameter):
                new = meta_like(value, cast_dtype(value, dtype))
            else:  # a subclass: its own empty_like, as before
                new = torch.empty_like(value, device="meta", dtype=cast_dtype(value, dtype))
        else:  # a copy: the forward may write to its input in place
            new = value.detach().to(device, cast_dtype(value, dtype), copy=True)
        if value.requires_grad:
            new.requires_grad_(True)
        return new
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(convert_input(v, device, dtype) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(convert_input(v, device, dtype) for v in value)
    if isinstance(value, dict):
        return type(value)((k, convert_input(v, device, dtype)) for k, v in value.items())
    return value


_MISSING = object()


@contextmanager
def restored_state(model: nn.Module) -> Iterator[None]:
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


def paired_inputs(args: tuple, kwargs: dict, call_args: Any, call_kwargs: Any
                  ) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, tensor as given, its stand-in) for each input tensor; a keyword input is named by its
    keyword (``attention_mask``), a positional one by its position (``input 0``), nested ones by path."""

    def walk(name: str, given: Any, new: Any) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        if isinstance(given, torch.Tensor) and isinstance(new, torch.Tensor):
            yield name, given, new
        elif isinstance(given, (tuple, list)) and isinstance(new, (tuple, list)) and len(given) == len(new):
            for i, (g, n) in enumerate(zip(given, new)):
                yield from walk(f"{name}[{i}]", g, n)
        elif isinstance(given, dict) and isinstance(new, dict):
            for k, g in given.items():
                if k in new:
                    yield from walk(f"{name}.{k}" if name else str(k), g, new[k])

    for i, (g, n) in enumerate(zip(args, call_args)):
        yield from walk(f"input {i}", g, n)
    yield from walk("", kwargs, call_kwargs)
