"""The staging buffer of CUDA reduction kernels (netcensus.devices.cuda.reduction_staging).

Oracle: an H200 memory snapshot of the MLP case of tests/test_gpu_truth_memory.py showed, in the
backward of its Linear(8192, 8192) at batch 4096 (fp32), one block of 138,412,032 bytes allocated by C++
that the trace did not hold: the bias gradient's ``sum`` over dim 0 of a 4096 x 8192 tensor.
"""

from __future__ import annotations

import torch
from torch import nn

import netcensus
from netcensus.devices.cuda import reduction_staging

MEASURED_H200_BLOCK = 138_412_032  # bytes, H200 memory snapshot (PyTorch 2.11, 132 SMs)


def test_the_bias_gradient_of_a_wide_linear_stages_what_the_h200_allocated() -> None:
    # PyTorch's launch rule by hand (Reduce.cuh, setReduceConfig), sum over dim 0 of 4096 x 8192 fp32:
    # outputs are the fastest dim: 4 outputs per thread (8192 / 4 = 2048 columns of work); block
    # 32 x 4 threads (512 / 4 = 128 threads at most); 32 lanes split the outputs, 4 warps split the
    # 4096 inputs -> 1024 values per thread (>= 256); grid 2048 / 32 = 64 blocks <= 132 SMs x 2048 / 128
    # = 2112 -> ctas_per_output = max(min(ceil(2112 / 64) = 33, ceil(1024 / 16) = 64), ceil(1024 / 256))
    # = 33. Staging: 4 bytes x 8192 outputs x 33 x (32 lanes x 4 outputs) = 138,412,032.
    # Semaphores: 4 bytes x 64 blocks, one 512-byte block.
    assert reduction_staging(8192, 4096, on_fastest_dim=False, acc_bytes=4) == MEASURED_H200_BLOCK + 512


def test_small_or_wide_reductions_stage_nothing() -> None:
    assert reduction_staging(8192, 64, on_fastest_dim=False, acc_bytes=4) == 0  # 16 values per thread
    assert reduction_staging(1 << 20, 4096, on_fastest_dim=False, acc_bytes=4) == 0  # grid > 2112 blocks
    # a loss's mean over 2^20 values: one output; 512 threads per block, 2048 values each, split over
    # max(min(ceil(528 / 1), ceil(2048 / 16)), ceil(2048 / 256)) = 128 blocks: 4 x 128 = 512 bytes of
    # partial sums, + a 512-byte semaphore block
    assert reduction_staging(1, 1 << 20, on_fastest_dim=True, acc_bytes=4) == 1024


def test_more_sms_stage_more() -> None:
    # ctas_per_output follows the SM count (target grid = SMs x blocks per SM)
    a100 = reduction_staging(8192, 4096, on_fastest_dim=False, acc_bytes=4, sms=108)
    assert a100 < reduction_staging(8192, 4096, on_fastest_dim=False, acc_bytes=4)
    # 108 SMs: ctas = ceil(108 x 16 / 64) = 27 -> 4 x 8192 x 27 x 128 bytes, + one semaphore block
    assert a100 == 4 * 8192 * 27 * 128 + 512


def test_the_mlp_backward_holds_the_staging_buffer_at_its_bias_gradient() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4096, 8192), nn.GELU(), nn.Linear(8192, 8192))
    m = netcensus.profile(model, input_size=(4096, 4096), train=True, optimizer="sgd", target="cuda").memory
    assert any(a.name == "reduction staging" for a in m.assumptions)
    cpu = netcensus.profile(model, input_size=(4096, 4096), train=True, optimizer="sgd", target="cpu").memory
    assert not any(a.name == "reduction staging" for a in cpu.assumptions)
