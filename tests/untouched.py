"""A snapshot of everything profiling must leave as it found: the model and torch's global state.

``snapshot(model)`` records, without changing anything (beyond calling the model's own state_dict hooks):

* every state_dict entry, parameter and buffer (persistent or not, duplicates included): the tensor
  object, device, dtype, shape, stride, requires_grad, version counter, data pointer and the value as
  raw bytes (so NaNs compare equal to themselves); its ``.grad`` (object and bytes); its tensor hooks;
* every submodule: its training flag, each of its hook dicts (the hook objects, not just how many),
  and every attribute in its ``__dict__`` (names, and the object bound to each: a plain tensor set by
  the forward, a cache or a counter all count as changes);
* torch's global state: global module hooks, grad / inference / anomaly mode, default dtype and
  device, CPU (and CUDA, when there is one) RNG state, the dispatch and function mode stacks, the
  saved-tensor hooks, deterministic flags, matmul precision, autocast, threads and the recursion limit.

``assert_same(before, after)`` raises AssertionError naming the first thing that differs.
``untouched(model)`` is both together, as a context manager around the code under test.
"""

from __future__ import annotations

import sys
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as nn_module
from torch.nn.parameter import UninitializedTensorMixin

_MODULE_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                      "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                      "_load_state_dict_post_hooks", "_forward_hooks_with_kwargs",
                      "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs")
_GLOBAL_HOOK_DICTS = tuple(sorted(name for name, value in vars(nn_module).items()
                                  if name.startswith("_global_") and isinstance(value, dict)))
"""Every module-level hook table of torch.nn.modules.module (``_global_forward_hooks``,
``_global_forward_hooks_with_kwargs``, ...: all of them, whatever this torch version has)."""
_PRIMITIVE = (bool, int, float, str, bytes, complex, type(None))


def _raw(t: torch.Tensor) -> torch.Tensor | None:
    """The tensor's values as bytes (a uint8 copy), or None for meta and uninitialized tensors."""
    if isinstance(t, UninitializedTensorMixin) or t.device.type == "meta" or t.is_sparse:
        return None
    flat = t.detach().reshape(-1).contiguous()
    return flat.view(torch.uint8).clone() if flat.numel() else flat.clone()


def _version(t: torch.Tensor) -> int | None:
    try:
        return t._version
    except RuntimeError:  # inference tensors keep no version counter
        return None


def _tensor(t: torch.Tensor) -> dict[str, Any]:
    lazy = isinstance(t, UninitializedTensorMixin)
    real = not lazy and t.device.type != "meta"
    grad = None if lazy else t.grad
    return {
        "id": id(t), "type": type(t).__name__, "device": t.device, "dtype": t.dtype,
        "shape": None if lazy else tuple(t.shape), "stride": None if lazy else t.stride(),
        "requires_grad": t.requires_grad, "version": None if lazy else _version(t),
        "data_ptr": t.data_ptr() if real else None, "bytes": _raw(t),
        "grad": None if grad is None else (id(grad), grad.dtype, tuple(grad.shape), _raw(grad)),
        "tensor_hooks": (len(t._backward_hooks or {}),
                         len(getattr(t, "_post_accumulate_grad_hooks", None) or {})),
    }


def _identity(value: Any, nested: bool = False) -> Any:
    """How an attribute is compared: primitives by value, a weak reference by its referent, a plain
    list, tuple or dict by its items (one level: each by identity), everything else by identity.

    One level, because PyTorch itself rebuilds some such containers with the same items when
    parameters are swapped and put back (RNNs' ``_flat_weights`` and ``_flat_weight_refs``).
    """
    if isinstance(value, _PRIMITIVE):
        return (type(value).__name__, repr(value))
    if isinstance(value, weakref.ref):
        return ("weakref", id(value()))
    if not nested and type(value) in (list, tuple):
        return (type(value).__name__, tuple(_identity(v, True) for v in value))
    if not nested and type(value) in (dict, OrderedDict):
        return ("dict", id(value), tuple((k, _identity(v, True)) for k, v in value.items()))
    return ("object", type(value).__name__, id(value))


def _shallow(identity: Any, contents: bool) -> Any:
    """An attribute's identity, with a container's items dropped (kept: type and length) unless
    ``contents``."""
    if contents or identity[0] not in ("list", "tuple", "dict"):
        return identity
    items = identity[-1]
    return identity[0], len(items)


def _hooks(m: nn.Module) -> tuple[Any, ...]:
    out = []
    for name in _MODULE_HOOK_DICTS:
        d = getattr(m, name, None) or {}
        out.append(tuple((k, id(v)) for k, v in d.items()))
    return tuple(out)


def _globals() -> dict[str, Any]:
    g: dict[str, Any] = {
        "global_hooks": tuple(tuple((k, id(v)) for k, v in (getattr(nn_module, d, None) or {}).items())
                              for d in _GLOBAL_HOOK_DICTS),
        "grad": torch.is_grad_enabled(),
        "inference": torch.is_inference_mode_enabled(),
        "anomaly": (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
        "default_dtype": torch.get_default_dtype(),
        "default_device": str(torch.get_default_device()),
        "rng": torch.get_rng_state(),
        "dispatch_modes": torch._C._len_torch_dispatch_stack(),
        "function_modes": torch._C._len_torch_function_stack(),
        "saved_tensor_hooks": torch._C._autograd._top_saved_tensors_default_hooks(False),
        "deterministic": (torch.are_deterministic_algorithms_enabled(),
                          torch.is_deterministic_algorithms_warn_only_enabled()),
        "matmul_precision": torch.get_float32_matmul_precision(),
        "autocast": (torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")),
        "threads": torch.get_num_threads(),
        "recursion_limit": sys.getrecursionlimit(),
    }
    if torch.cuda.is_available():
        g["cuda_rng"] = torch.cuda.get_rng_state_all()
    return g


def snapshot(model: nn.Module) -> dict[str, Any]:
    return {
        "state_keys": list(model.state_dict(keep_vars=True)),
        "state": {n: _tensor(t) for n, t in model.state_dict(keep_vars=True).items()},
        "params": [(n, _tensor(p)) for n, p in model.named_parameters(remove_duplicate=False)],
        "buffers": [(n, _tensor(b)) for n, b in model.named_buffers(remove_duplicate=False)],
        "modules": [(n, id(m), type(m).__name__) for n, m in model.named_modules(remove_duplicate=False)],
        "training": [(n, m.training) for n, m in model.named_modules(remove_duplicate=False)],
        "hooks": [(n, _hooks(m)) for n, m in model.named_modules(remove_duplicate=False)],
        "attrs": [(n, {k: _identity(v) for k, v in vars(m).items()})
                  for n, m in model.named_modules(remove_duplicate=False)],
        **_globals(),
    }


def _same_tensor(name: str, b: dict[str, Any], a: dict[str, Any]) -> None:
    for field in ("id", "type", "device", "dtype", "shape", "stride", "requires_grad", "version",
                  "data_ptr", "tensor_hooks"):
        assert b[field] == a[field], f"{name}: {field} changed from {b[field]!r} to {a[field]!r}"
    if b["bytes"] is not None:
        assert torch.equal(b["bytes"], a["bytes"]), f"{name}: values changed"
    if b["grad"] is None or a["grad"] is None:
        assert b["grad"] is None and a["grad"] is None, f"{name}: .grad changed"
    else:
        assert b["grad"][:3] == a["grad"][:3], f"{name}: .grad replaced"
        if b["grad"][3] is not None:
            assert torch.equal(b["grad"][3], a["grad"][3]), f"{name}: .grad values changed"


def assert_same(before: dict[str, Any], after: dict[str, Any], *, contents: bool = True) -> None:
    """Raise AssertionError naming the first difference between two snapshots.

    Attributes bound to a plain list, tuple or dict are compared item by item (each item by identity),
    which catches RNNs' ``_flat_weights`` left pointing at stand-ins; ``contents=False`` compares only
    their type and length.
    """
    assert before.keys() == after.keys(), "snapshots of different kinds"
    for key in before:
        b, a = before[key], after[key]
        if key == "state":
            assert b.keys() == a.keys(), "state_dict keys changed"
            for name in b:
                _same_tensor(f"state_dict[{name!r}]", b[name], a[name])
        elif key in ("params", "buffers"):
            assert [n for n, _ in b] == [n for n, _ in a], f"{key}: names changed"
            for (name, tb), (_, ta) in zip(b, a):
                _same_tensor(f"{key[:-1]} {name!r}", tb, ta)
        elif key == "attrs":
            for (name, attrs_b), (_, attrs_a) in zip(b, a):
                added = sorted(attrs_a.keys() - attrs_b.keys())
                removed = sorted(attrs_b.keys() - attrs_a.keys())
                assert not added and not removed, \
                    f"module {name!r}: attributes added {added}, removed {removed}"
                changed = sorted(k for k in attrs_b
                                 if _shallow(attrs_b[k], contents) != _shallow(attrs_a[k], contents))
                assert not changed, f"module {name!r}: attributes rebound: {changed}"
        elif key == "hooks":
            for (name, hb), (_, ha) in zip(b, a):
                for dict_name, db, da in zip(_MODULE_HOOK_DICTS, hb, ha):
                    assert db == da, f"module {name!r}: {dict_name} changed"
        elif key in ("rng", "cuda_rng"):
            same = torch.equal(b, a) if isinstance(b, torch.Tensor) else \
                len(b) == len(a) and all(torch.equal(x, y) for x, y in zip(b, a))
            assert same, f"global {key} state changed"
        else:
            assert b == a, f"{key} changed: {b!r} -> {a!r}"


@contextmanager
def untouched(model: nn.Module, *, contents: bool = True) -> Iterator[dict[str, Any]]:
    """Snapshot ``model`` and torch's global state, run the body, and assert nothing changed.

    The check runs when the body exits normally, so wrap an expected exception inside it:
    ``with untouched(m): with pytest.raises(KeyboardInterrupt): profile(m, ...)``.
    """
    before = snapshot(model)
    yield before
    assert_same(before, snapshot(model), contents=contents)
