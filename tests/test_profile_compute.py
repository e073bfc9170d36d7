"""Compute through the public API and the CLI: totals, per-layer rows, training, coverage, strict."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import netcensus
from netcensus.cli import run
from netcensus.examples import ALEXNET_INPUT, alexnet


class Sorts(nn.Module):
    """Calls an op with no formula and no decomposition (an SVD: iterative, left unsupported on purpose)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return torch.linalg.svdvals(self.fc(x))


def test_alexnet_core_macs_by_hand_and_rows_are_inclusive():
    p = netcensus.profile(alexnet(), input_size=ALEXNET_INPUT)
    # conv MACs = H_out*W_out*C_out*(k*k*C_in): 54*54*96*121 + 26*26*256*2400 + 12*12*384*2304
    #             + 12*12*384*3456 + 12*12*256*3456; linear MACs = in*out
    convs = 54 * 54 * 96 * 121 + 26 * 26 * 256 * 2400 + 12 * 12 * 384 * 2304 + 12 * 12 * 384 * 3456 \
        + 12 * 12 * 256 * 3456
    linears = 6400 * 4096 + 4096 * 4096 + 4096 * 10
    assert p.core_macs == convs + linears == 938_146_176
    assert p.backward_flops == 0 and p.forward_flops == p.flops
    assert p.layers[0].core_macs == p.core_macs and p.layers[0].flops == p.flops
    assert sum(r.flops for r in p.layers[1:]) == p.flops  # children of a Sequential hold every op
    assert p.layer("0").core_macs == 54 * 54 * 96 * 121


def test_training_traces_backward_and_respects_frozen_parameters():
    frozen = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    frozen[0].weight.requires_grad_(False)
    frozen[0].bias.requires_grad_(False)
    p = netcensus.profile(frozen, input_size=(8, 16), train=True)
    # forward: 8*16*32 + 8*32*4 MACs. backward: nothing before the last Linear needs a gradient (the
    # first Linear is frozen and the input needs none), so only its grad_weight: 4*8*32 MACs.
    assert p.compute.totals.forward.core_macs == 8 * 16 * 32 + 8 * 32 * 4
    assert p.compute.totals.backward.core_macs == 4 * 8 * 32
    assert p.layer("0").backward_flops == 0
    frozen[0].weight.requires_grad_(True)
    p = netcensus.profile(frozen, input_size=(8, 16), train=True)
    # now the last Linear also needs grad_input (8*4*32) and the first its grad_weight (32*8*16)
    assert p.compute.totals.backward.core_macs == 4 * 8 * 32 + 8 * 4 * 32 + 32 * 8 * 16


def test_unsupported_op_is_reported_never_a_silent_zero(capsys):
    p = netcensus.profile(Sorts(), input_size=(2, 8))
    assert p.unsupported_ops == {"aten._linalg_svd.default": 1}
    assert p.layers[0].unsupported_calls == 1
    assert "1 unsupported" in str(p) and "aten._linalg_svd.default x1" in str(p)
    with pytest.raises(netcensus.UnsupportedOpsError, match="aten._linalg_svd"):
        netcensus.profile(Sorts(), input_size=(2, 8), strict=True)


def test_cli_strict_exits_3_after_printing_the_report(tmp_path, capsys):
    path = tmp_path / "sorts.py"
    path.write_text("import torch\nfrom torch import nn\n\nclass Net(nn.Module):\n"
                    "    def forward(self, x):\n        return torch.linalg.svdvals(x)\n")
    assert run([f"{path}:Net", "--input", "2x3", "--strict"]) == 3
    out, err = capsys.readouterr()
    assert "Coverage:" in out and "aten._linalg_svd" in err
    assert run([f"{path}:Net", "--input", "2x3"]) == 0


def test_cli_by_op_lists_ops_with_formulas(capsys):
    assert run(["--by-op"]) == 0
    out = capsys.readouterr().out
    assert "aten.convolution.default" in out and "aten.addmm.default" in out
    assert "zero by definition" in out


def test_train_flag_in_cli_shows_backward(capsys):
    assert run(["--train"]) == 0
    out = capsys.readouterr().out
    assert "backward FLOPs" in out and "forward + backward" in out
