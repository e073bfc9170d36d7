"""A snapshot of everything profiling must leave as it found: the model and torch's global state."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as nn_module

_MODULE_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                      "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                      "_load_state_dict_post_hooks", "_forward_hooks_with_kwargs",
                      "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs")
_GLOBAL_HOOK_DICTS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                      "_global_backward_pre_hooks", "_global_forward_hooks_always_called",
                      "_global_parameter_registration_hooks", "_global_buffer_registration_hooks",
                      "_global_module_registration_hooks")


def snapshot(model: nn.Module) -> dict[str, Any]:
    state = {}
    for name, t in model.state_dict(keep_vars=True).items():
        real = t.device.type != "meta"
        state[name] = (id(t), t.device, t.dtype, t.requires_grad, tuple(t.shape),
                       t.detach().clone() if real else None, t.grad is None)
    return {
        "state": state,
        "params": [(n, id(p)) for n, p in model.named_parameters(remove_duplicate=False)],
        "buffers": [(n, id(b)) for n, b in model.named_buffers(remove_duplicate=False)],
        "training": [(n, m.training) for n, m in model.named_modules()],
        "hooks": [(n, tuple(len(getattr(m, d, {}) or {}) for d in _MODULE_HOOK_DICTS))
                  for n, m in model.named_modules()],
        "attrs": [(n, sorted(vars(m))) for n, m in model.named_modules()],
        "global_hooks": tuple(len(getattr(nn_module, d, {}) or {}) for d in _GLOBAL_HOOK_DICTS),
        "grad": torch.is_grad_enabled(),
        "inference": torch.is_inference_mode_enabled(),
        "default_dtype": torch.get_default_dtype(),
        "default_device": str(torch.get_default_device()),
        "rng": torch.get_rng_state(),
        "dispatch_modes": torch._C._len_torch_dispatch_stack(),
        "function_modes": torch._C._len_torch_function_stack(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    for key in before:
        if key == "state":
            assert before[key].keys() == after[key].keys(), "state_dict keys changed"
            for name, (b, a) in ((n, (before[key][n], after[key][n])) for n in before[key]):
                assert b[:5] == a[:5], f"{name}: identity, device, dtype, requires_grad or shape changed"
                assert b[6] == a[6], f"{name}: .grad changed"
                if b[5] is not None:
                    assert torch.equal(b[5], a[5]), f"{name}: values changed"
        elif key == "rng":
            assert torch.equal(before[key], after[key]), "global RNG state changed"
        else:
            assert before[key] == after[key], f"{key} changed"
