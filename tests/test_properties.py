"""Randomly drawn conv/pool stacks: the meta trace, a real CPU run and the analytic formulas agree."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn
from untouched import assert_same, snapshot

import netcensus
from netcensus import formulas


@st.composite
def stacks(draw):
    dims = draw(st.sampled_from([1, 2]))
    conv = (nn.Conv1d, nn.Conv2d)[dims - 1]
    tconv = (nn.ConvTranspose1d, nn.ConvTranspose2d)[dims - 1]
    maxpool = (nn.MaxPool1d, nn.MaxPool2d)[dims - 1]
    avgpool = (nn.AvgPool1d, nn.AvgPool2d)[dims - 1]
    norm = (nn.BatchNorm1d, nn.BatchNorm2d)[dims - 1]
    channels = first_channels = draw(st.integers(1, 4))
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "tconv", "max", "avg", "norm", "act"]))
        k = draw(st.integers(1, 3))
        s = draw(st.integers(1, 2))
        if kind == "conv":
            groups = draw(st.sampled_from([g for g in (1, 2) if channels % g == 0]))
            out = groups * draw(st.integers(1, 3))
            layers.append(conv(channels, out, k, stride=s, padding=draw(st.integers(0, k // 2)),
                               dilation=draw(st.integers(1, 2)), groups=groups,
                               bias=draw(st.booleans())))
            channels = out
        elif kind == "tconv":
            out = draw(st.integers(1, 3))
            layers.append(tconv(channels, out, k, stride=s, output_padding=draw(st.integers(0, s - 1))))
            channels = out
        elif kind == "max":
            layers.append(maxpool(k, stride=s, padding=draw(st.integers(0, k // 2)),
                                  dilation=draw(st.integers(1, 2)), ceil_mode=draw(st.booleans())))
        elif kind == "avg":
            layers.append(avgpool(k, stride=s, padding=draw(st.integers(0, k // 2)),
                                  ceil_mode=draw(st.booleans())))
        elif kind == "norm":
            layers.append(norm(channels, affine=draw(st.booleans())))
        else:
            layers.append(nn.ReLU())
    layers.append(nn.Flatten())
    size = draw(st.integers(6, 14))
    return nn.Sequential(*layers), (2, first_channels) + (size,) * dims


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_meta_trace_equals_real_run_and_formulas(case):
    model, shape = case
    x = torch.randn(shape)
    try:
        real_out = model.eval()(x)
    except RuntimeError:
        assume(False)  # the drawn stack is invalid for this input; covered by the error tests
    before = snapshot(model)
    meta = netcensus.profile(model, input_size=shape)
    assert_same(before, snapshot(model))
    assert meta.layers[0].output_shapes == [tuple(real_out.shape)]
    assert meta.total_params == sum(p.numel() for p in model.parameters())
    assert not meta.warnings, meta.warnings
    real = netcensus.profile(model, input_size=shape, device="cpu")
    assert [r.output_shapes for r in real.layers] == [r.output_shapes for r in meta.layers]
    assert [e.op for e in real.trace.events] == [e.op for e in meta.trace.events]
    for row, module in zip(meta.layers[1:], model):
        predicted = formulas.shape_formula(module, tuple(row.input_shapes))
        if predicted is not None:
            assert tuple(predicted.shape) == row.output_shapes[0], (module, row.input_shapes)
