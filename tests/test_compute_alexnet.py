"""The notebook's AlexNet (seed/alexnet-parameter-count-notebook.txt) on a [1, 1, 224, 224] input: core
MACs computed here by hand from the layer shapes, the way the notebook computes parameters."""

from __future__ import annotations

import torch
from torch import nn

from netcensus.analyses.compute import analyze_compute
from netcensus.trace.tracer import trace_model


def notebook_alexnet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 10),
    )


def conv_out(size: int, k: int, p: int, s: int) -> int:
    return (size - k + 2 * p) // s + 1  # the notebook's formula


def test_alexnet_core_macs_by_hand() -> None:
    net = notebook_alexnet()
    result = analyze_compute(trace_model(net, (torch.randn(1, 1, 224, 224),)))

    # conv1: 224 -> (224 - 11 + 2)//4 + 1 = 54; MACs = C_out*H*W*C_in*k*k = 96*54*54*1*11*11 = 33,872,256
    s1 = conv_out(224, 11, 1, 4)
    conv1 = 96 * s1 * s1 * 1 * 11 * 11
    assert (s1, conv1) == (54, 33_872_256)
    p1 = conv_out(s1, 3, 0, 2)  # pool: 26
    # conv2: 26 -> 26; 256*26*26*96*5*5 = 415,334,400
    conv2 = 256 * p1 * p1 * 96 * 5 * 5
    assert conv2 == 415_334_400
    p2 = conv_out(p1, 3, 0, 2)  # pool: 12
    # conv3..5 at 12x12 with 3x3 kernels: 384*144*256*9, 384*144*384*9, 256*144*384*9
    conv3 = 384 * p2 * p2 * 256 * 9
    conv4 = 384 * p2 * p2 * 384 * 9
    conv5 = 256 * p2 * p2 * 384 * 9
    assert (conv3, conv4, conv5) == (127_401_984, 191_102_976, 127_401_984)
    p3 = conv_out(p2, 3, 0, 2)  # pool: 5; flatten 256*5*5 = 6,400
    assert 256 * p3 * p3 == 6_400
    # linear layers: in*out each, the biases are additions, not MACs
    fc = 6_400 * 4_096 + 4_096 * 4_096 + 4_096 * 10  # 26,214,400 + 16,777,216 + 40,960 = 43,032,576
    expected = conv1 + conv2 + conv3 + conv4 + conv5 + fc  # convolutions 895,113,600 + linear 43,032,576
    assert expected == 895_113_600 + 43_032_576 == 938_146_176

    assert result.totals.total.core_macs == expected
    assert result.totals.total.macs == expected
    per_layer = {path: mod.figures.total.core_macs for path, mod in result.modules.items()}
    assert (per_layer["0"], per_layer["3"], per_layer["6"], per_layer["8"], per_layer["10"]) == (
        conv1, conv2, conv3, conv4, conv5)
    assert (per_layer["14"], per_layer["17"], per_layer["20"]) == (26_214_400, 16_777_216, 40_960)
    assert per_layer["1"] == per_layer["2"] == 0  # relu and pooling have FLOPs, no MACs
    assert result.modules["2"].figures.total.flops == 96 * 26 * 26 * 9  # one comparison per window element
    # FLOPs: 2 per MAC + the bias adds (one per output element of each conv and linear) + relu + pooling
    biases = 96 * 54 * 54 + 256 * 26 * 26 + 384 * 144 + 384 * 144 + 256 * 144 + 4_096 + 4_096 + 10
    relus = 96 * 54 * 54 + 256 * 26 * 26 + 384 * 144 + 384 * 144 + 256 * 144 + 4_096 + 4_096
    pools = (96 * 26 * 26 + 256 * 12 * 12 + 256 * 5 * 5) * 9
    assert result.totals.total.flops == 2 * expected + biases + relus + pools
    assert result.coverage.unsupported == 0
