"""Closed forms for the per-element families: pointwise, reductions, softmax, norms, pooling,
interpolation, embeddings, recurrent layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from netcensus.analyses.compute import ComputeResult, analyze_compute
from netcensus.trace.tracer import trace_model


class Fn(nn.Module):
    def __init__(self, fn):  # type: ignore[no-untyped-def]
        super().__init__()
        self.fn = fn

    def forward(self, *args):  # type: ignore[no-untyped-def]
        return self.fn(*args)


def census(model: nn.Module, *inputs: torch.Tensor, train: bool = False,
           device: str = "meta") -> ComputeResult:
    return analyze_compute(trace_model(model, inputs, train=train, device=device))


def flops_of(result: ComputeResult, op: str, phase: str = "forward") -> int:
    found = [i for i in result.items if (i.op == op or i.op.startswith(op + ".")) and i.phase == phase]
    assert found, f"{op} not in {[i.op for i in result.items]}"
    return sum(i.figures.flops for i in found)


X = torch.randn(2, 3, 4, 5)  # 120 elements


@pytest.mark.parametrize(("fn", "op", "per_element"), [
    (torch.relu, "aten.relu", 1),
    (torch.exp, "aten.exp", 1),  # the pointwise family's default
    (lambda x: x + x, "aten.add", 1),
    (lambda x: torch.add(x, x, alpha=2), "aten.add", 2),  # a + alpha*b
    (lambda x: x / 3, "aten.div", 1),
    (torch.sigmoid, "aten.sigmoid", 4),  # 1/(1+exp(-x))
    (F.silu, "aten.silu", 5),  # x*sigmoid(x)
    (F.gelu, "aten.gelu", 5),  # 0.5*x*(1+erf(x/sqrt 2))
    (lambda x: F.gelu(x, approximate="tanh"), "aten.gelu", 9),
    (F.hardswish, "aten.hardswish", 5),
    (lambda x: F.leaky_relu(x, 0.1), "aten.leaky_relu", 2),
    (torch.tanh, "aten.tanh", 1),
    (lambda x: x.clamp(-1, 1), "aten.clamp", 2),
])
def test_pointwise_costs_per_output_element(fn, op: str, per_element: int) -> None:  # type: ignore[no-untyped-def]
    assert flops_of(census(Fn(fn), X), op) == per_element * 120


def test_copies_and_views_are_zero_by_definition() -> None:
    r = census(Fn(lambda x: x.clone().transpose(0, 1).contiguous().view(-1).float()), X)
    assert r.totals.total.flops == 0
    assert r.coverage.counted == 0 and r.coverage.unsupported == 0 and r.coverage.zero >= 3


def test_reductions() -> None:
    # sum: one add per input element; mean: plus a divide per output element
    assert flops_of(census(Fn(lambda x: x.sum(-1)), X), "aten.sum") == 120
    assert flops_of(census(Fn(lambda x: x.mean(-1)), X), "aten.mean") == 120 + 24
    assert flops_of(census(Fn(lambda x: x.amax(-1)), X), "aten.amax") == 120


def test_softmax_family() -> None:
    # softmax 5 per element; log-softmax 5 per element + 1 per row (24 rows of 5)
    assert flops_of(census(Fn(lambda x: x.softmax(-1)), X), "aten._softmax") == 600
    assert flops_of(census(Fn(lambda x: x.log_softmax(-1)), X), "aten._log_softmax") == 600 + 24
    r = census(Fn(lambda x: x.softmax(-1)), X.clone().requires_grad_(), train=True)
    assert flops_of(r, "aten._softmax_backward_data", "backward") == 4 * 120


def test_layer_norm() -> None:
    x = torch.randn(2, 5, 16)  # 160 elements, 10 rows
    # statistics 4 + normalise 2 + weight 1 + bias 1 = 8 per element; 4 per row
    assert flops_of(census(nn.LayerNorm(16), x), "aten.native_layer_norm") == 8 * 160 + 4 * 10
    plain = census(nn.LayerNorm(16, elementwise_affine=False), x)
    assert flops_of(plain, "aten.native_layer_norm") == 6 * 160 + 40
    r = census(nn.LayerNorm(16), x.clone().requires_grad_(), train=True)
    # input gradient 9 + 1 (weight), weight gradient 2, bias gradient 1 per element
    assert flops_of(r, "aten.native_layer_norm_backward", "backward") == (10 + 2 + 1) * 160


def test_batch_norm_train_and_eval() -> None:
    x = torch.randn(4, 3, 5, 5)  # 300 elements, 3 channels
    bn = nn.BatchNorm2d(3)
    # training: 8 per element + 4 per channel + 6 per channel for the running statistics
    assert flops_of(census(bn, x, train=True), "aten.native_batch_norm") == 8 * 300 + 4 * 3 + 6 * 3
    # eval: normalise 2 + affine 2 per element, 2 per channel
    ops = {i.op for i in census(bn.eval(), x).items}
    (op,) = [o for o in ops if "batch_norm" in o]
    assert flops_of(census(bn, x), op.rsplit(".", 1)[0]) == 4 * 300 + 2 * 3


def test_group_norm() -> None:
    # 3 samples x 2 groups = 6 rows; 60 elements: 8*60 + 4*6
    assert flops_of(census(nn.GroupNorm(2, 4), torch.randn(3, 4, 5)), "aten.native_group_norm") == 504


def test_pooling() -> None:
    x = torch.randn(1, 2, 9, 9)
    # max 3x3 stride 2: out 4x4; one comparison per window element: 2*16*9 = 288
    assert flops_of(census(nn.MaxPool2d(3, stride=2), x), "aten.max_pool2d_with_indices") == 288
    # average 2x2 on 8x8: out 4x4; (4 adds + 1 divide) per output: 2*16*5 = 160
    assert flops_of(census(nn.AvgPool2d(2), torch.randn(1, 2, 8, 8)), "aten.avg_pool2d") == 160


@pytest.mark.parametrize(("size", "out"), [(7, 3), (5, 3), (6, 4), (4, 4)])
def test_adaptive_average_pool_counts_its_exact_windows(size: int, out: int) -> None:
    # oracle: every (output, input) pair inside a window has a non-zero derivative
    x = torch.randn(1, 1, size, size)
    jac = torch.autograd.functional.jacobian(lambda t: F.adaptive_avg_pool2d(t, out), x)
    windows = int(jac.count_nonzero())
    assert flops_of(census(nn.AdaptiveAvgPool2d(out), x), "aten._adaptive_avg_pool2d") == windows + out * out


def test_interpolation() -> None:
    x = torch.randn(1, 2, 4, 4)
    r = census(Fn(lambda t: F.interpolate(t, scale_factor=2, mode="bilinear")), x)
    # 2*8*8 = 128 outputs, 4 neighbours each: 512 MACs, not core
    assert (r.totals.total.macs, r.totals.total.core_macs, r.totals.total.flops) == (512, 0, 1024)
    r = census(Fn(lambda t: F.interpolate(t, scale_factor=2, mode="nearest")), x)
    assert r.totals.total.flops == 0 and r.coverage.counted == 1  # an explicit zero, not a missing op


def test_embedding() -> None:
    ids = torch.randint(0, 10, (2, 7))
    r = census(nn.Embedding(10, 8), ids, train=True)
    # the lookup costs 0; its gradient adds 2*7*8 = 112 elements into rows
    assert flops_of(r, "aten.embedding") == 0
    assert flops_of(r, "aten.embedding_dense_backward", "backward") == 112


@pytest.mark.parametrize(("cls", "gates"), [(nn.LSTM, 4), (nn.GRU, 3), (nn.RNN, 1)])
def test_recurrent_layers_decompose_on_meta(cls, gates: int) -> None:  # type: ignore[no-untyped-def]
    r = census(cls(8, 16, num_layers=2), torch.randn(5, 2, 8))
    # tokens 5*2 = 10; layer 1: gates*16*(8+16), layer 2: gates*16*(16+16) MACs per token
    assert r.totals.total.core_macs == 10 * gates * 16 * ((8 + 16) + (16 + 16))
    assert r.coverage.unsupported == 0


def test_lstm_fused_cpu_kernel_matches_the_meta_decomposition() -> None:
    lstm, x = nn.LSTM(8, 16), torch.randn(5, 2, 8)
    cpu = census(lstm, x, device="cpu")
    if not any("mkldnn_rnn_layer" in i.op for i in cpu.items):
        pytest.skip("this torch build runs LSTM without oneDNN")
    meta = census(lstm, x)
    assert cpu.totals.forward == meta.totals.forward  # MACs and the pointwise FLOPs
    # the fused backward computes every gradient: input and weights, twice the forward MACs
    cpu_train = census(lstm, x, device="cpu", train=True)
    assert cpu_train.totals.backward.core_macs == 2 * cpu_train.totals.forward.core_macs


def test_weight_norm_forward_and_backward() -> None:
    # nn.utils.parametrizations.weight_norm on a Conv1d(8, 6, 3): v is 6 x 8 x 3 = 144 elements, normed per
    # output channel (dim 0): 6 slices. Forward 3 x 144 + 2 x 6 = 444; backward 5 x 144 + 3 x 6 = 738.
    with torch.device("meta"):
        conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(8, 6, 3))
    result = census(conv, torch.empty(2, 8, 10, device="meta", requires_grad=True), train=True)
    assert flops_of(result, "aten._weight_norm_interface") == 3 * 144 + 2 * 6 == 444
    assert flops_of(result, "aten._weight_norm_interface_backward", "backward") == 5 * 144 + 3 * 6 == 738
    assert result.coverage.unsupported == 0


def test_prims_ops_count_as_their_aten_twins() -> None:
    # PyTorch's Python decompositions call prims ops (prims.where in a meta kernel's backward); they cost
    # what the aten op of the same name costs: where is pointwise, 1 FLOP per output element (2x3x4x5).
    fn = Fn(lambda x: torch.ops.prims.where(x > 0, x, torch.zeros_like(x)))
    result = census(fn, torch.empty(2, 3, 4, 5, device="meta"))
    assert flops_of(result, "prims.where") == 120
    assert result.coverage.unsupported == 0


class _Scatter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.src = nn.Parameter(torch.empty(30))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(4, 6, dtype=torch.bool, device=x.device)
        torch._check_tensor_all(mask)
        return x.masked_scatter(mask, self.src)


def test_all_true_and_masked_scatter_backward() -> None:
    # torch._check_tensor_all (transformers' checks that image tokens match features) reduces a bool
    # tensor: one comparison per element (4 x 6 = 24). The gradient of masked_scatter's source is
    # masked_scatter_backward, a gather of 24 elements: a copy, zero by definition.
    with torch.device("meta"):
        model = _Scatter()
    result = census(model, torch.empty(4, 6, device="meta"), train=True)
    assert result.coverage.unsupported == 0
    assert flops_of(result, "aten._is_all_true") == 24
    rows = {r.op: r.status for r in result.by_op}
    assert rows["aten.masked_scatter_backward.default"] == "zero"


def test_fft_family() -> None:
    # FFTW's convention: 5 N log2 N per complex transform of N points, 2.5 N log2 N per real one.
    x8 = torch.randn(3, 8, dtype=torch.cfloat)
    # fft of length 8 (no normalisation forward), batch 3: 3 * 5 * 8 * 3 = 360
    assert flops_of(census(Fn(lambda x: torch.fft.fft(x)), x8), "aten._fft_c2c") == 360
    # ifft scales by 1/n: + 2 FLOPs per complex element, 24 elements: 360 + 48 = 408
    assert flops_of(census(Fn(lambda x: torch.fft.ifft(x)), x8), "aten._fft_c2c") == 408
    r16 = torch.randn(2, 16)
    # rfft of 16 real points, batch 2: 2 * 2.5 * 16 * 4 = 320
    assert flops_of(census(Fn(lambda x: torch.fft.rfft(x)), r16), "aten._fft_r2c") == 320
    # irfft back to 16 points with 1/n: 320 + 1 per real output element (32) = 352
    spectrum = torch.randn(2, 9, dtype=torch.cfloat)
    assert flops_of(census(Fn(lambda s: torch.fft.irfft(s, n=16)), spectrum), "aten._fft_c2r") == 352
    # a 2-d transform of 4 x 8 = 32 points, batch 2: 2 * 5 * 32 * 5 = 1600
    x2 = torch.randn(2, 4, 8, dtype=torch.cfloat)
    assert flops_of(census(Fn(lambda x: torch.fft.fft2(x)), x2), "aten._fft_c2c") == 1600


class _Sampler(nn.Module):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.grid = nn.Parameter(torch.zeros(2, 5, 6, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.grid_sample(x, self.grid, mode=self.mode, align_corners=False)


@pytest.mark.parametrize(("mode", "taps"), [("bilinear", 4), ("bicubic", 16)])
def test_grid_sample(mode: str, taps: int) -> None:
    # output 2 x 3 x 5 x 6 = 180 elements; forward taps MACs each; backward: the input's gradient taps and
    # the grid's 2 x taps per output-gradient element (both requested: x and the grid need gradients)
    with torch.device("meta"):
        model = _Sampler(mode)
    result = census(model, torch.empty(2, 3, 7, 7, device="meta", requires_grad=True), train=True)
    assert flops_of(result, "aten.grid_sampler_2d") == 2 * taps * 180
    assert flops_of(result, "aten.grid_sampler_2d_backward", "backward") == 2 * (taps + 2 * taps) * 180
    assert result.coverage.unsupported == 0


def test_grid_sample_nearest_gathers() -> None:
    with torch.device("meta"):
        model = _Sampler("nearest")
    result = census(model, torch.empty(2, 3, 7, 7, device="meta", requires_grad=True), train=True)
    rows = {r.op: r for r in result.by_op}
    assert rows["aten.grid_sampler_2d.default"].figures.flops == 0
    # the input's gradient adds each output gradient into one element (180); the grid's is 0
    assert flops_of(result, "aten.grid_sampler_2d_backward", "backward") == 180


def test_bilinear_counts_both_contractions() -> None:
    # nn.Bilinear(8, 6, 4) at batch 3 runs _trilinear: x1 with the weight over I1 (3*4*8*6 = 576 MACs),
    # then with x2 over I2 (3*4*6 = 72). torch's FlopCounterMode counts 0 for it; the same contraction
    # written as a two-step einsum runs two bmm, which it counts: the oracle.
    from torch.utils.flop_counter import FlopCounterMode

    layer = nn.Bilinear(8, 6, 4, bias=False)
    x1, x2 = torch.randn(3, 8), torch.randn(3, 6)
    result = census(layer, x1, x2)
    assert result.totals.forward.core_macs == 3 * 4 * 8 * 6 + 3 * 4 * 6 == 648
    with FlopCounterMode(display=False) as counter:
        torch.einsum("bi,oij,bj->bo", x1, layer.weight, x2)
    assert counter.get_total_flops() == 2 * 648 == result.totals.forward.flops


def test_linear_algebra_counts() -> None:
    # LAPACK's classic counts, per matrix of a batch of 3 matrices of 8 x 8:
    a = torch.randn(3, 8, 8)
    assert flops_of(census(Fn(torch.linalg.inv), a), "aten.linalg_inv_ex") == 3 * 2 * 8**3  # 2n^3
    # Cholesky n^3/3 = 170.67 -> 171 per matrix
    assert flops_of(census(Fn(torch.linalg.cholesky), a), "aten.linalg_cholesky_ex") == 3 * 171
    # solve with 2 right-hand sides: 2n^3/3 + 2n^2 k = 341.33 + 256 -> 597 per matrix
    b = torch.randn(3, 8, 2)
    assert flops_of(census(Fn(torch.linalg.solve), a, b), "aten._linalg_solve_ex") == 3 * 597
    # Householder QR of 8 x 8, Q formed: 2 x (2mn^2 - 2n^3/3) = 2 x 682.67 -> 1365 per matrix
    assert flops_of(census(Fn(torch.linalg.qr), a), "aten.linalg_qr") == 3 * 1365
    # Q of 6 x 4 from 4 reflectors (LAPACK xORGQR): 4mnk - 2(m+n)k^2 + 4k^3/3 = 384 - 320 + 85.33 -> 149
    # per matrix (square m = n = k gives the textbook 4n^3/3)
    h, tau = torch.randn(3, 6, 4), torch.randn(3, 4)
    assert flops_of(census(Fn(torch.linalg.householder_product), h, tau),
                    "aten.linalg_householder_product") == 3 * 149


def test_cdist() -> None:
    # 2 batches of 5 x 7 pairs in 4 coordinates: 3 per (pair, coordinate) + 1 per pair = 70 * 13 = 910
    x1, x2 = torch.randn(2, 5, 4), torch.randn(2, 7, 4)
    assert flops_of(census(Fn(torch.cdist), x1, x2), "aten._cdist_forward") == 2 * 5 * 7 * (3 * 4 + 1)


def test_selection_fractional_pooling_and_margin_loss_counts() -> None:
    x = torch.randn(4, 16)
    # median of all 64 elements, as a sort of one slice: 64 * ceil(log2 64) = 64 * 6 = 384
    assert flops_of(census(Fn(torch.median), x), "aten.median") == 384
    # kthvalue along the last dim: 4 slices of 16: 4 * 16 * 4 = 256
    assert flops_of(census(Fn(lambda t: torch.kthvalue(t, 3).values), x), "aten.kthvalue") == 256
    # fractional max pooling 2x2 windows to 3x3 over 2 x 5 channels: numel(y) * prod(k) = 90 * 4 = 360
    pool = nn.FractionalMaxPool2d(2, output_size=(3, 3))
    assert flops_of(census(pool, torch.randn(2, 5, 8, 8)), "aten.fractional_max_pool2d") == 360
    # its backward routes each output gradient to one input: 90 accumulates
    assert flops_of(census(pool, torch.randn(2, 5, 8, 8, requires_grad=True), train=True),
                    "aten.fractional_max_pool2d_backward", "backward") == 90
    # multi-margin loss backward: 5 FLOPs per input element, 4 x 16 = 64 elements
    target = torch.tensor([1, 0, 3, 2])
    loss = Fn(lambda t: torch.nn.functional.multi_margin_loss(t, target))
    assert flops_of(census(loss, torch.randn(4, 16, requires_grad=True), train=True, device="cpu"),
                    "aten.multi_margin_loss_backward", "backward") == 320
