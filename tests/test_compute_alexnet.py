"""The notebook's AlexNet (seed/alexnet-parameter-count-notebook.txt) on a [1, 1, 224, 224] input: core
MACs computed here by hand from the layer shapes, the way the notebook computes parameters, and checked
against the layer table of tests/alexnet_layers.py."""

from __future__ import annotations

import torch
from alexnet_layers import INPUT, LAYERS, conv_out, notebook_alexnet, of_kind
from torch import nn

from netcensus.analyses.compute import analyze_compute
from netcensus.trace.tracer import trace_model


def test_alexnet_core_macs_by_hand() -> None:
    net = notebook_alexnet()
    result = analyze_compute(trace_model(net, (torch.randn(*INPUT),)))
    conv1, conv2, conv3, conv4, conv5 = (layer.macs for layer in of_kind(nn.Conv2d))
    fc1, fc2, fc3 = (layer.macs for layer in of_kind(nn.Linear))

    # the table's sizes and MACs again, from the notebook's own formula applied layer by layer
    # conv1: 224 -> (224 - 11 + 2)//4 + 1 = 54; MACs = C_out*H*W*C_in*k*k = 96*54*54*1*11*11 = 33,872,256
    s1 = conv_out(224, 11, 1, 4)
    assert (s1, conv1) == (54, 96 * s1 * s1 * 1 * 11 * 11)
    p1 = conv_out(s1, 3, 0, 2)  # pool: 26
    # conv2: 26 -> 26; 256*26*26*96*5*5 = 415,334,400
    assert conv2 == 256 * p1 * p1 * 96 * 5 * 5
    p2 = conv_out(p1, 3, 0, 2)  # pool: 12
    # conv3..5 at 12x12 with 3x3 kernels: 384*144*256*9, 384*144*384*9, 256*144*384*9
    assert (conv3, conv4, conv5) == (
        384 * p2 * p2 * 256 * 9, 384 * p2 * p2 * 384 * 9, 256 * p2 * p2 * 384 * 9)
    p3 = conv_out(p2, 3, 0, 2)  # pool: 5; flatten 256*5*5 = 6,400
    assert 256 * p3 * p3 == 6_400
    sizes = [layer.out[2] for layer in of_kind(nn.Conv2d, nn.MaxPool2d)]
    assert sizes == [s1, p1, p1, p2, p2, p2, p2, p3]
    # linear layers: in*out each, the biases are additions, not MACs
    assert (fc1, fc2, fc3) == (6_400 * 4_096, 4_096 * 4_096, 4_096 * 10)
    fc = fc1 + fc2 + fc3  # 26,214,400 + 16,777,216 + 40,960 = 43,032,576
    expected = conv1 + conv2 + conv3 + conv4 + conv5 + fc  # convolutions 895,113,600 + linear 43,032,576
    assert expected == 895_113_600 + 43_032_576 == 938_146_176

    assert result.totals.total.core_macs == expected
    assert result.totals.total.macs == expected
    per_layer = {path: mod.figures.total.core_macs for path, mod in result.modules.items()}
    # every layer as the table says: the convs and linears their MACs, relu, pooling and the rest none
    assert {layer.path: per_layer.get(layer.path) for layer in LAYERS} == {
        layer.path: layer.macs for layer in LAYERS}
    assert (per_layer["0"], per_layer["3"], per_layer["6"], per_layer["8"], per_layer["10"]) == (
        conv1, conv2, conv3, conv4, conv5)
    assert (per_layer["14"], per_layer["17"], per_layer["20"]) == (fc1, fc2, fc3)
    assert per_layer["1"] == per_layer["2"] == 0  # relu and pooling have FLOPs, no MACs
    pool1 = LAYERS[2]  # 96*26*26 outputs, one comparison per window element (3*3)
    assert result.modules[pool1.path].figures.total.flops == pool1.numel * 3 * 3
    # FLOPs: 2 per MAC + the bias adds (one per output element of each conv and linear) + relu + pooling
    # 96*54*54 + 256*26*26 + 384*144 + 384*144 + 256*144 + 4_096 + 4_096 + 10
    biases = sum(layer.numel for layer in of_kind(nn.Conv2d, nn.Linear))
    # 96*54*54 + 256*26*26 + 384*144 + 384*144 + 256*144 + 4_096 + 4_096
    relus = sum(layer.numel for layer in of_kind(nn.ReLU))
    pools = sum(layer.numel for layer in of_kind(nn.MaxPool2d)) * 9  # (96*26*26 + 256*12*12 + 256*5*5)*9
    assert result.totals.total.flops == 2 * expected + biases + relus + pools
    assert result.coverage.unsupported == 0
