"""Closed forms for the matmul and convolution families, traced on meta tensors.

Each expected value is written out with its arithmetic; a MAC is one multiply-accumulate and
FLOPs = 2*MACs + the bias adds.
"""

from __future__ import annotations

import torch
from torch import nn

from netcensus.analyses.compute import ComputeResult, analyze_compute
from netcensus.trace.tracer import trace_model


def census(model: nn.Module, *inputs: torch.Tensor, train: bool = False) -> ComputeResult:
    return analyze_compute(trace_model(model, inputs, train=train))


def op_figures(result: ComputeResult, op: str, phase: str | None = None) -> tuple[int, int, int]:
    """(calls, core MACs, FLOPs) of the counted calls of ``op`` (``"aten.mm"`` matches every overload)."""
    calls = core = flops = 0
    for item in result.items:
        if item.op == op or item.op.startswith(op + "."):
            if phase is None or item.phase == phase:
                calls += 1
                core += item.figures.core_macs
                flops += item.figures.flops
    return calls, core, flops


class Fn(nn.Module):
    def __init__(self, fn):  # type: ignore[no-untyped-def]
        super().__init__()
        self.fn = fn

    def forward(self, *args):  # type: ignore[no-untyped-def]
        return self.fn(*args)


# -- convolution ------------------------------------------------------------------------------------


def test_conv2d_strided_with_bias() -> None:
    r = census(nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.randn(2, 3, 9, 9))
    # out 5x5: (9 + 2 - 3)//2 + 1 = 5; MACs = N*C_out*H*W*C_in*k*k = 2*8*5*5*3*3*3 = 10,800
    # FLOPs = 2*10,800 + bias 2*8*5*5 = 21,600 + 400 = 22,000
    assert op_figures(r, "aten.convolution") == (1, 10_800, 22_000)
    assert r.totals.total.core_macs == 10_800


def test_conv2d_grouped() -> None:
    r = census(nn.Conv2d(8, 12, 3, groups=4, bias=False), torch.randn(1, 8, 6, 6))
    # out 4x4; each output sums C_in/groups = 2 channels: MACs = 1*12*4*4*2*3*3 = 3,456
    assert op_figures(r, "aten.convolution") == (1, 3_456, 6_912)


def test_conv2d_depthwise() -> None:
    r = census(nn.Conv2d(6, 6, 5, padding=2, groups=6), torch.randn(2, 6, 7, 7))
    # out 7x7, one input channel per output: MACs = 2*6*7*7*1*5*5 = 14,700; bias 2*6*7*7 = 588
    assert op_figures(r, "aten.convolution") == (1, 14_700, 2 * 14_700 + 588)


def test_conv_transpose2d() -> None:
    r = census(nn.ConvTranspose2d(4, 6, 3, stride=2, bias=False), torch.randn(1, 4, 5, 5))
    # every input element scatters to C_out*k*k outputs: MACs = 1*4*5*5 * 6*3*3 = 5,400
    assert op_figures(r, "aten.convolution") == (1, 5_400, 10_800)


def test_conv_transpose1d_grouped() -> None:
    r = census(nn.ConvTranspose1d(4, 6, 3, groups=2, bias=False), torch.randn(2, 4, 10))
    # weight [4, 6/2, 3]: MACs = numel(x)*(C_out/groups)*k = 2*4*10 * 3*3 = 720
    assert op_figures(r, "aten.convolution") == (1, 720, 1_440)


def test_conv3d_dilated() -> None:
    r = census(nn.Conv3d(2, 4, 3, dilation=2, bias=False), torch.randn(1, 2, 7, 7, 7))
    # effective kernel 5: out 3x3x3; MACs = 1*4*27 * 2*27 = 5,832
    assert op_figures(r, "aten.convolution") == (1, 5_832, 11_664)


def test_conv1d_strided() -> None:
    r = census(nn.Conv1d(3, 5, 4, stride=3, bias=False), torch.randn(2, 3, 20))
    # out (20 - 4)//3 + 1 = 6; MACs = 2*5*6*3*4 = 720
    assert op_figures(r, "aten.convolution") == (1, 720, 1_440)


def test_conv_backward_counts_only_requested_gradients() -> None:
    conv = nn.Conv2d(3, 4, 3)  # x [2,3,8,8] -> y [2,4,6,6]; forward MACs = 2*4*36*3*9 = 7,776
    # input without grad: weight gradient only (7,776 MACs) + bias gradient numel(gy) = 288 FLOPs
    r = census(conv, torch.randn(2, 3, 8, 8), train=True)
    assert op_figures(r, "aten.convolution_backward") == (1, 7_776, 2 * 7_776 + 288)
    # input with grad: input and weight gradients, 2*7,776 MACs
    r = census(conv, torch.randn(2, 3, 8, 8, requires_grad=True), train=True)
    assert op_figures(r, "aten.convolution_backward") == (1, 15_552, 2 * 15_552 + 288)
    # frozen weight and no bias, input with grad: the input gradient only
    frozen = nn.Conv2d(3, 4, 3, bias=False).requires_grad_(False)
    r = census(frozen, torch.randn(2, 3, 8, 8, requires_grad=True), train=True)
    assert op_figures(r, "aten.convolution_backward") == (1, 7_776, 15_552)


def test_grouped_conv_backward_equals_forward_per_gradient() -> None:
    conv = nn.Conv2d(6, 6, 3, groups=3, bias=False)
    r = census(conv, torch.randn(1, 6, 5, 5, requires_grad=True), train=True)
    # forward: 1*6*3*3 * 2*3*3 = 972 MACs; backward: input and weight gradients, 972 each
    assert op_figures(r, "aten.convolution", "forward") == (1, 972, 1_944)
    assert op_figures(r, "aten.convolution_backward") == (1, 1_944, 3_888)


# -- matrix products --------------------------------------------------------------------------------


def test_linear_with_bias() -> None:
    r = census(nn.Linear(144, 5), torch.randn(2, 144))
    # addmm: MACs = 2*144*5 = 1,440; FLOPs = 2*1,440 + bias 2*5 = 2,890
    assert op_figures(r, "aten.addmm") == (1, 1_440, 2_890)


def test_linear_without_bias() -> None:
    r = census(nn.Linear(144, 5, bias=False), torch.randn(2, 144))
    assert op_figures(r, "aten.mm") == (1, 1_440, 2_880)


def test_linear_on_3d_input() -> None:
    r = census(nn.Linear(16, 32), torch.randn(2, 7, 16))
    # tokens 2*7 = 14: MACs = 14*16*32 = 7,168; bias 14*32 = 448
    assert r.totals.total.core_macs == 7_168
    assert r.totals.total.flops == 2 * 7_168 + 448


def test_linear_backward() -> None:
    r = census(nn.Linear(144, 5), torch.randn(2, 144, requires_grad=True), train=True)
    # dX = dY W: 2*5*144 = 1,440 MACs; dW = dY^T X: 5*2*144 = 1,440 MACs; db = sum over batch: 2*5 = 10 FLOPs
    assert op_figures(r, "aten.mm", "backward") == (2, 2_880, 5_760)
    assert op_figures(r, "aten.sum", "backward") == (1, 0, 10)
    assert r.totals.backward.core_macs == 2 * r.totals.forward.core_macs


def test_bmm_and_baddbmm() -> None:
    a, b, c = torch.randn(4, 5, 6), torch.randn(4, 6, 7), torch.randn(4, 5, 7)
    r = census(Fn(torch.bmm), a, b)
    # MACs = b*m*k*n = 4*5*6*7 = 840
    assert op_figures(r, "aten.bmm") == (1, 840, 1_680)
    r = census(Fn(lambda c, a, b: torch.baddbmm(c, a, b, beta=0.5, alpha=2.0)), c, a, b)
    # 2*840 + 140 (add c) + 140 (beta scale) + 140 (alpha scale) = 2,100
    assert op_figures(r, "aten.baddbmm") == (1, 840, 2_100)


def test_matmul_and_einsum_decompose_to_counted_products() -> None:
    a, b = torch.randn(3, 1, 5, 6), torch.randn(4, 6, 2)
    r = census(Fn(torch.matmul), a, b)
    # broadcast result [3, 4, 5, 2], contracted k = 6: MACs = 3*4*5*2*6 = 720
    assert r.totals.total.core_macs == 720
    assert r.coverage.unsupported == 0
    x, y = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    r = census(Fn(lambda x, y: torch.einsum("bij,bjk->bik", x, y)), x, y)
    assert r.totals.total.core_macs == 2 * 3 * 4 * 5  # 120
    r = census(Fn(lambda x, w: torch.einsum("bij,kj->bik", x, w)), x, torch.randn(6, 4))
    assert r.totals.total.core_macs == 2 * 3 * 4 * 6  # 144


def test_mv_dot_addr() -> None:
    m, v, u = torch.randn(5, 6), torch.randn(6), torch.randn(5)
    assert census(Fn(torch.mv), m, v).totals.total.core_macs == 30  # 5*6
    assert census(Fn(torch.dot), v, v).totals.total.core_macs == 6
    r = census(Fn(torch.addr), torch.randn(5, 6), u, v)
    assert (r.totals.total.core_macs, r.totals.total.flops) == (30, 60)  # one multiply-add per element
