"""Optimizer state measured on meta tensors against real optimizers stepped on CPU."""

from __future__ import annotations

import math

import pytest
import torch
from test_memory_oracle import LiveStorages
from torch import nn

from netcensus.analyses.memory import ParamInfo, optimizer_state, param_infos
from netcensus.errors import MemoryConfigError
from netcensus.options import OptimizerSpec

CASES = [
    ("sgd", torch.optim.SGD, {"lr": 0.1}),
    ("sgd-momentum", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    ("adam", torch.optim.Adam, {}),
    ("adamw", torch.optim.AdamW, {}),
    ("adagrad", torch.optim.Adagrad, {}),
    ("rmsprop", torch.optim.RMSprop, {}),
    ("adamax", torch.optim.Adamax, {}),
    ("nadam", torch.optim.NAdam, {}),
    ("radam", torch.optim.RAdam, {}),
    ("adadelta", torch.optim.Adadelta, {}),
    ("rprop", torch.optim.Rprop, {}),
]


def _model() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(10, 20), nn.LayerNorm(20), nn.Linear(20, 3, bias=False))
    m[0].bias.requires_grad_(False)  # frozen: no state
    return m


def _real_state_bytes(opt: torch.optim.Optimizer) -> int:
    seen, total = set(), 0
    for state in opt.state.values():
        for v in state.values():
            if isinstance(v, torch.Tensor) and v.untyped_storage()._cdata not in seen:
                seen.add(v.untyped_storage()._cdata)
                total += v.untyped_storage().nbytes()
    return total


def _step(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    model(torch.randn(4, 10)).sum().backward()
    opt.step()


@pytest.mark.parametrize("name,cls,kwargs", CASES, ids=[c[0] for c in CASES])
def test_state_equals_a_real_optimizer_after_one_step(name, cls, kwargs):
    model = _model()
    opt = cls([p for p in model.parameters() if p.requires_grad], **kwargs)
    _step(model, opt)
    est = optimizer_state(param_infos(model), name)
    # On CPU every state tensor is on the host, step counters included: compare the sum.
    assert est.device_bytes + est.host_bytes == _real_state_bytes(opt)
    assert sum(est.by_key.values()) == _real_state_bytes(opt)


@pytest.mark.parametrize("foreach", [False, True])
def test_step_temporaries_equal_a_real_step(foreach):
    model = _model()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, foreach=foreach)
    _step(model, opt)  # the first step allocates the state
    model(torch.randn(4, 10)).sum().backward()
    before = params + [p.grad for p in params] + [v for s in opt.state.values() for v in s.values()]
    mode = LiveStorages(before)
    base = mode.current
    with mode:
        opt.step()
    est = optimizer_state(param_infos(model), OptimizerSpec("adam", {"foreach": foreach}))
    assert est.step_temporaries == mode.peak - base


def test_mixed_precision_keeps_a_float32_master_copy():
    # Apex O2 / DeepSpeed style: bfloat16 parameters, float32 master copy and state in the optimizer.
    info = [ParamInfo("w", (1000, 100), "bfloat16", True)]
    st = optimizer_state(info, "adam", "bf16-mixed")
    # master 4 + exp_avg 4 + exp_avg_sq 4 = 12 bytes per element (the ZeRO paper's K = 12).
    assert st.master_weights == 100_000 * 4
    assert st.device_bytes == 100_000 * 12
    # Pure bf16: PyTorch's Adam keeps its state in the parameter's dtype, no master copy.
    pure = optimizer_state(info, "adam", "bf16")
    assert pure.device_bytes == 100_000 * 2 * 2 and pure.master_weights == 0
    # float32 parameters with a mixed policy (PyTorch AMP): the parameters are the master copy.
    amp = optimizer_state([ParamInfo("w", (1000, 100), "float32", True)], "adam", "bf16-mixed")
    assert amp.device_bytes == 100_000 * 8 and amp.master_weights == 0


def test_adam8bit_formula():
    big, small = ParamInfo("w", (4096, 10), "float32", True), ParamInfo("b", (100,), "float32", True)
    st = optimizer_state([big, small], "adam8bit")
    n = 40960
    # n >= 4096: two uint8 states (2n) + two float32 absmax per block of 256 (2 * 4 * ceil(n / 256));
    # n < 4096: two float32 states (8 * 100); the two 256-entry float32 quantization maps once (2048).
    assert st.device_bytes == 2 * n + 2 * 4 * math.ceil(n / 256) + 8 * 100 + 2048


def test_huge_parameters_cost_nothing_to_measure():
    # 70e9 parameters in one meta tensor: no memory is allocated to measure Adam's state.
    st = optimizer_state([ParamInfo("w", (70_000_000_000,), "bfloat16", True)], "adamw", "bf16-mixed")
    assert st.device_bytes == 70_000_000_000 * 12


def test_choices_validate_themselves():
    with pytest.raises(MemoryConfigError, match="'adamw'"):
        OptimizerSpec("adamm")
    with pytest.raises(MemoryConfigError, match="capturable=True"):
        optimizer_state([ParamInfo("w", (3,), "float32", True)], OptimizerSpec("adam", {"capturable": True}))
    # fused=True: the same exp_avg/exp_avg_sq (2 x 3 x 4 bytes) plus a float32 step counter on the device
    # (4 bytes), and no step temporaries
    fused = optimizer_state([ParamInfo("w", (3,), "float32", True)], OptimizerSpec("adam", {"fused": True}))
    assert (fused.device_bytes, fused.host_bytes, fused.step_temporaries) == (2 * 3 * 4 + 4, 0, 0)
    assert optimizer_state([ParamInfo("w", (3,), "float32", False)], "adam").device_bytes == 0
    assert OptimizerSpec.parse("SGD", momentum=0.9).describe() == "torch.optim.SGD(lr=0.1, momentum=0.9)"


def _repeated() -> nn.Module:
    # four identical blocks: many parameters, four distinct (shape, dtype) keys, as in a transformer
    torch.manual_seed(0)
    return nn.Sequential(*[nn.Sequential(nn.Linear(16, 16), nn.LayerNorm(16)) for _ in range(4)],
                         nn.Linear(16, 5))


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("name,cls,kwargs", CASES, ids=[c[0] for c in CASES])
def test_representative_steps_give_what_stepping_every_parameter_gives(monkeypatch, name, cls, kwargs,
                                                                       foreach):
    # the estimate steps one parameter per distinct shape and scales the step's temporaries by the
    # counts; with the shortcut switched off every parameter is stepped: all figures must be equal
    from netcensus.analyses.memory import optimizer as module

    infos = param_infos(_repeated())
    spec = OptimizerSpec(name, {"foreach": foreach})
    fast = optimizer_state(infos, spec)
    monkeypatch.setattr(module, "_PER_PARAMETER", frozenset())
    full = optimizer_state(infos, spec)
    assert (fast.device_bytes, fast.host_bytes, fast.by_key, fast.step_temporaries) == \
        (full.device_bytes, full.host_bytes, full.by_key, full.step_temporaries)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("name", ["adam", "adamw", "sgd-momentum", "rmsprop"])
def test_step_temporaries_of_repeated_shapes_equal_a_real_step(name, foreach):
    model = _repeated()
    cls, kwargs = {c[0]: (c[1], c[2]) for c in CASES}[name]
    params = list(model.parameters())
    opt = cls(params, foreach=foreach, **kwargs)

    def step() -> None:
        model(torch.randn(4, 16)).sum().backward()
        opt.step()

    step()  # the first step allocates the state
    model(torch.randn(4, 16)).sum().backward()
    before = params + [p.grad for p in params] + [v for s in opt.state.values() for v in s.values()
                                                  if isinstance(v, torch.Tensor)]
    mode = LiveStorages(before)
    base = mode.current
    with mode:
        opt.step()
    est = optimizer_state(param_infos(model), OptimizerSpec(name, {"foreach": foreach}))
    # foreach: every op runs over all 14 parameters before the next, so the peak is the sum over
    # parameters; a per-parameter loop frees each one's temporaries first (the largest one's peak)
    assert est.step_temporaries == mode.peak - base
    assert est.device_bytes + est.host_bytes == _real_state_bytes(opt)
