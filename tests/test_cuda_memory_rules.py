"""The CUDA rules of netcensus.devices.cuda and how the analysis applies them, against closed forms.

Sources of the rules: PyTorch's c10/cuda/CUDACachingAllocator.cpp (512-byte rounding, 2 MiB small
segments, 20 MiB large segments under 10 MiB, 2 MiB rounding above), aten/src/ATen/cuda/CublasHandlePool.cpp
(32 MiB cuBLAS workspace on sm90) and the kernels the H200 ran (gpu-truth/h200-ops.json).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import netcensus
from netcensus.analyses.memory.device import CachingAllocator
from netcensus.devices import cuda
from netcensus.trace.contexts import trace_contexts
from netcensus.trace.tracer import trace_model

MiB = 1 << 20


def test_allocator_rounding_and_segments():
    assert [cuda.round_block(n) for n in (0, 1, 512, 513, 4000)] == [0, 512, 512, 1024, 4096]
    assert cuda.segment_size(512) == 2 * MiB            # small pool: 2 MiB segments
    assert cuda.segment_size(MiB) == 2 * MiB            # 1 MiB is still small
    assert cuda.segment_size(MiB + 512) == 20 * MiB     # large under 10 MiB: 20 MiB segments
    assert cuda.segment_size(10 * MiB) == 10 * MiB      # 10 MiB and more: own segment, rounded to 2 MiB
    assert cuda.segment_size(11 * MiB) == 12 * MiB


def test_caching_allocator_reuses_splits_and_merges():
    a = CachingAllocator()
    x = a.malloc(3 * MiB)      # a 20 MiB segment, split: 3 MiB used, 17 MiB cached
    y = a.malloc(5 * MiB)      # from the cached 17 MiB: no new segment
    assert a.reserved == 20 * MiB
    a.release(x)
    a.release(y)               # both free again, merged with the rest: one 20 MiB block
    z = a.malloc(18 * MiB)     # fits only if the blocks merged; 2 MiB left (> 1 MiB) is split off
    assert a.reserved == 20 * MiB and a.allocated == 18 * MiB
    a.release(z)
    z = a.malloc(19 * MiB)     # 1 MiB left is not split off (large blocks split only above 1 MiB):
    assert a.allocated == 20 * MiB   # the whole block counts as allocated, as the real allocator counts it
    a.release(z)
    a.malloc(600)              # a small request never takes a large block: a 2 MiB segment
    assert a.reserved == 22 * MiB and a.peak_reserved == 22 * MiB


def test_sdpa_kernel_choice():
    assert cuda.sdpa_backend("float32", 64, 64, False, True, True) == "efficient"   # GPT-2 fp32, dropout
    assert cuda.sdpa_backend("bfloat16", 64, 64, False, True, True) == "cudnn"     # GPT-2 bf16
    assert cuda.sdpa_backend("bfloat16", 256, 256, False, False, True) == "flash"  # head 256: not cuDNN
    assert cuda.sdpa_backend("bfloat16", 256, 256, True, False, True) == "efficient"  # and a mask: not flash
    assert cuda.sdpa_backend("float32", 64, 64, True, True, True, mask_grad=True) == "math"  # T5's bias
    assert cuda.sdpa_backend("float64", 64, 64, False, False, True) == "math"


def test_rnn_buffers_reproduce_the_measured_lstm():
    # 2-layer LSTM, hidden 1024, batch 64, seq 256, fp32: out = 256 * 64 * 1024 * 4 = 67,108,864 B.
    b = cuda.rnn_buffers("LSTM", 256, 64, 1024, 2, 1, 4, True, 1024)
    out = 67_108_864
    assert b.workspace == 7 * out + 21 * MiB == 491_782_144    # measured allocation: 491,782,912 B
    assert b.layer_outputs == out                                # measured allocation: 67,108,864 B
    assert b.reserve == 2 * 6 * out
    assert b.backward_workspace == b.workspace + 2 * out + out  # inner output and its grad; the input's grad
    # H200 inference step2_peak 797,245,952 B: weights + input + cuBLAS + output + workspace + inner output
    # come to 3 MiB less (h_n, c_n and what cuDNN keeps beside: not modelled)
    assert 67_437_056 + 67_108_864 + 33_554_432 + out + b.workspace + out == 797_245_952 - 3 * MiB


class _Attn(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.qkv, self.p = nn.Linear(64, 192), p

    def forward(self, x):
        q, k, v = self.qkv(x).view(2, 128, 3, 4, 16).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.p, is_causal=True)


def _ops(model: nn.Module, x: torch.Tensor, target: str) -> set[str]:
    t = trace_model(model, (x,), train=True, contexts=trace_contexts(device_type=target))
    return {e.op.split(".")[1] for e in t.events}


def test_attention_with_dropout_runs_the_cuda_kernel():
    with torch.device("meta"):
        model, x = _Attn(0.1), torch.empty(2, 128, 64)
    cuda_ops = _ops(model, x, "cuda")
    assert "_scaled_dot_product_efficient_attention" in cuda_ops and "_softmax" not in cuda_ops
    cpu_ops = _ops(model, x, "cpu")   # CPU's flash kernel takes no dropout: the math path, as on CPU
    assert "_scaled_dot_product_efficient_attention" not in cpu_ops


def test_multihead_attention_reaches_the_fused_kernel_on_cuda():
    with torch.device("meta"):
        layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.1, batch_first=True)
        x = torch.empty(2, 128, 64)
    assert "_scaled_dot_product_efficient_attention" in _ops(layer, x, "cuda")
    assert "_scaled_dot_product_efficient_attention" not in _ops(layer, x, "cpu")


def test_dropout_keeps_a_bool_mask_on_cuda():
    # nn.Dropout on 1,000,000 fp32 elements: CUDA's native_dropout keeps a 1-byte mask (1,000,000 B);
    # meta's generic dropout would keep 4-byte noise. Saved for backward: the mask only.
    with torch.device("meta"):
        model, x = nn.Sequential(nn.Linear(1000, 1000), nn.Dropout(0.1)), torch.empty(1000, 1000)
    m = netcensus.profile(model, inputs=(x,), train=True, target="cuda").memory
    # saved: the Linear's input is a model input (not counted), its weight (not counted); the mask
    assert m.activations == cuda.round_block(1_000_000)


def test_target_cpu_keeps_exact_storage_bytes():
    with torch.device("meta"):
        model = nn.Linear(1000, 1000)
    cpu = netcensus.profile(model, input_size=(8, 1000), target="cpu").memory
    gpu = netcensus.profile(model, input_size=(8, 1000), target="cuda").memory
    # weights 4,004,000 + input 32,000 + output 32,000 exactly on CPU
    assert cpu.peak == 4_004_000 + 32_000 + 32_000 and cpu.reserved is None and cpu.workspaces == 0
    # CUDA: the same in 512-byte blocks (4,000,000 -> 4,000,256; 4,000 -> 4,096; 32,000 -> 32,256 twice)
    # plus one cuBLAS workspace (inference: one thread)
    assert gpu.peak == 4_000_256 + 4_096 + 2 * 32_256 + 32 * MiB
    assert gpu.first_step_peak == gpu.peak
