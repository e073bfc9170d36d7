"""What a CUDA device adds to a step's memory, as data and rules a reader can check.

Every figure names its source. "Measured" means the H200 ground truth (NVIDIA H200, PyTorch
2.11.0+cu130, CUDA 13.0, cuDNN 9.19, measured 2026-12-04; copied into tests/test_gpu_truth_memory.py);
"PyTorch source" means the file named in the comment. Figures for other PyTorch, CUDA or cuDNN versions
may differ: :data:`MEASURED_WITH` says which ones these are.

This module imports nothing from torch: it is data and small pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from .spec import DeviceSpec

MEASURED_WITH = "NVIDIA H200 (sm90), PyTorch 2.11.0+cu130, CUDA 13.0, cuDNN 9.19"

MiB = 1 << 20


# ---- the GPU the rules are for -------------------------------------------------------------------

@dataclass(frozen=True)
class CudaArch:
    """What the memory rules read about the GPU: its architecture (``"sm_90"``: compute capability 9.0;
    ``"gfx942"``: a ROCm GPU), its streaming multiprocessors (compute units), and how the assumptions
    name it."""

    arch: str
    sms: int
    name: str

    @property
    def rocm(self) -> bool:
        return self.arch.startswith("gfx")

    @property
    def capability(self) -> tuple[int, int]:
        """``sm_90`` -> (9, 0), ``sm_89`` -> (8, 9), ``sm_120`` -> (12, 0); (0, 0) for a ROCm GPU."""
        digits = self.arch[3:].rstrip("abcdefghijklmnopqrstuvwxyz") if self.arch.startswith("sm_") else ""
        return (int(digits[:-1]), int(digits[-1])) if len(digits) >= 2 else (0, 0)


DEFAULT_ARCH = CudaArch("sm_90", 132, "H100/H200 SXM (sm_90, 132 SMs)")
"""The GPU assumed when none is named (``gpu=``/``--gpu``): the one the ground truth was measured on."""


def arch_of(gpu: DeviceSpec | None) -> CudaArch:
    """The architecture facts of ``gpu`` (a built-in or user device); :data:`DEFAULT_ARCH` when none is
    named or the device does not give both ``arch`` and ``sms`` (the name then says so)."""
    if gpu is None:
        return DEFAULT_ARCH
    if not gpu.arch or not gpu.sms:
        return CudaArch(DEFAULT_ARCH.arch, DEFAULT_ARCH.sms,
                        f"{DEFAULT_ARCH.name}, assumed: {gpu.name} gives no arch and sms")
    unit = "CUs" if gpu.arch.startswith("gfx") else "SMs"
    return CudaArch(gpu.arch, gpu.sms, f"{gpu.name} ({gpu.arch}, {gpu.sms} {unit})")

# ---- scaled_dot_product_attention: which kernel the CUDA dispatcher picks ---------------------------
# PyTorch source: aten/src/ATen/native/transformers/cuda/sdp_utils.cpp (select_sdp_backend,
# priority_order, can_use_{cudnn,flash,mem_efficient}_attention). On sm90 with cuDNN >= 9.9 cuDNN
# attention comes first; then flash, then memory-efficient, then math. Measured (h200-ops.json): fp32
# GPT-2/BERT/nn.TransformerEncoder run fmha_cutlassF/B (memory-efficient, with dropout); bf16/fp16 run
# cuDNN's flash kernels; neither keeps the attention probabilities.

SDPA_ORDER = ("cudnn", "flash", "efficient", "math")
LOW_PRECISION = frozenset({"float16", "bfloat16"})
CUDNN_MAX_HEAD_DIM = 128
FLASH_MAX_HEAD_DIM = 256
EFFICIENT_HEAD_DIM_MULTIPLE = {"float32": 4, "float16": 8, "bfloat16": 8}
"""Memory-efficient attention needs the head size to be a multiple of this (alignment of the cutlass
kernel; sdp_utils.cpp check_head_dim_size_mem_efficient)."""


def sdpa_backend(dtype: str, head_dim: int, head_dim_v: int, has_mask: bool, dropout: bool,
                 same_heads: bool, mask_grad: bool = False) -> str:
    """The kernel ``F.scaled_dot_product_attention`` runs on an sm90 GPU: ``"cudnn"``, ``"flash"``,
    ``"efficient"`` or ``"math"``. ``same_heads``: q, k and v have the same number of heads, or
    ``enable_gqa`` was given (the routing sends grouped-query calls to cuDNN only).

    * cuDNN: fp16/bf16, q/k/v head size equal, <= 128 and a multiple of 8; masks, dropout and
      grouped-query attention (``enable_gqa``, fewer key/value heads) supported: measured, Llama-1B
      (32 query heads, 4 key/value heads, bf16) runs ``_cudnn_attention_forward`` (h200-ops.json).
    * flash: fp16/bf16, head size <= 256 and a multiple of 8, no attn_mask.
    * memory-efficient: fp32/fp16/bf16, head size a multiple of 4 (fp32) or 8 (fp16/bf16), masks
      and dropout supported, same number of heads.
    * otherwise the math path (which materialises the probabilities). A mask that needs a gradient
      (T5's learned position bias) always takes the math path: measured, T5-small fp32 training runs
      6 ``_efficient_attention_forward`` calls (cross-attention, whose bias needs no gradient) and 12
      math attentions (``_softmax`` x 12, ``bmm`` x 72) for its 12 self-attentions (h200-ops.json).
    """
    if mask_grad:
        return "math"
    for kind in SDPA_ORDER:
        if kind == "cudnn" and dtype in LOW_PRECISION and head_dim == head_dim_v \
                and head_dim <= CUDNN_MAX_HEAD_DIM and head_dim % 8 == 0 and same_heads:
            return kind
        if kind == "flash" and dtype in LOW_PRECISION and not has_mask and head_dim == head_dim_v \
                and head_dim <= FLASH_MAX_HEAD_DIM and head_dim % 8 == 0:
            return kind
        if kind == "efficient" and dtype in EFFICIENT_HEAD_DIM_MULTIPLE and same_heads \
                and head_dim % EFFICIENT_HEAD_DIM_MULTIPLE[dtype] == 0 \
                and head_dim_v % EFFICIENT_HEAD_DIM_MULTIPLE[dtype] == 0:
            return kind
    return "math"


# ---- library workspaces ---------------------------------------------------------------------------

CUBLAS_WORKSPACE = 32 * MiB
"""cuBLAS workspace per (handle, stream) on Hopper and Blackwell (compute capability 9 to 12),
allocated through the caching allocator at the first matmul and kept: PyTorch source
aten/src/ATen/cuda/CublasHandlePool.cpp (``4096 * 8 * 1024`` bytes unless CUBLAS_WORKSPACE_CONFIG says
otherwise; cuBLASLt shares it). Handles are per thread: the forward runs on the caller's thread,
backward on autograd's device thread, so a training step holds two. Measured: ``before_step2 -
resident`` is 32 MiB (LSTM, Llama inference) or 33 MiB in inference, and 2 x 32 MiB plus the optimizer
state (+ 0-3 MiB) in training."""
CUBLAS_WORKSPACE_OLDER = 4096 * 1024 * 2 + 16 * 1024 * 8
"""The same workspace on earlier GPUs (Volta, Turing, Ampere, Ada: compute capability below 9): the
``:4096:2:16:8`` configuration, 2 x 4 MiB + 8 x 16 KiB = 8,519,680 bytes (same PyTorch source)."""
HIPBLAS_WORKSPACE = 32 * MiB
HIPBLAS_WORKSPACE_LARGE = 128 * MiB
HIPBLAS_LARGE_ARCHS = frozenset({"gfx942", "gfx950", "gfx1250"})
"""ROCm: 32 MiB, and 128 MiB on these (MI300X/MI325X is gfx942): the ROCm branch of the same source."""


def cublas_workspace(arch: CudaArch = DEFAULT_ARCH, config: str | None = None) -> int:
    """Bytes of one BLAS handle's workspace on ``arch``: PyTorch's default (the constants above), or what
    ``config``, a ``CUBLAS_WORKSPACE_CONFIG`` value, asks for (:func:`parse_workspace_config`; CUDA
    only)."""
    if arch.rocm:
        return HIPBLAS_WORKSPACE_LARGE if arch.arch in HIPBLAS_LARGE_ARCHS else HIPBLAS_WORKSPACE
    configured = parse_workspace_config(config)
    if configured is not None:
        return configured
    return CUBLAS_WORKSPACE if 9 <= arch.capability[0] <= 12 else CUBLAS_WORKSPACE_OLDER


def parse_workspace_config(config: str | None) -> int | None:
    """Bytes a ``CUBLAS_WORKSPACE_CONFIG`` value gives each handle, as PyTorch reads it (the same
    source): every ``:SIZE:COUNT`` pair adds SIZE KiB x COUNT (``:4096:8`` is 32 MiB, ``:16:8`` 128 KiB,
    the values cuBLAS documents for deterministic runs); None when unset or when no pair parses
    (PyTorch then warns and keeps its default)."""
    if not config:
        return None
    pairs = re.findall(r":([0-9]+):([0-9]+)", config)
    if not pairs:
        return None
    return sum(int(size) * 1024 * int(count) for size, count in pairs)


CUBLAS_THREADS_TRAINING = 2
CUBLAS_THREADS_INFERENCE = 1

CONV_WORKSPACE_FRACTION = Fraction(77, 64)
"""cuDNN convolution workspace (torch.backends.cudnn.benchmark off, cudnnFind's heuristics choice): a
transient buffer per convolution call. Not documented as a formula; fitted to the measured ResNet-18-
shaped net at batch 64 (1.2; see :func:`conv_workspace`). Written as 77/64 = 1.203 so that the bytes
stay an exact polynomial of the tensor's size wherever that size is a multiple of 64 bytes (a sweep
recovers the peak's polynomials from three sizes: a truncated 1.2 x n is not one)."""


def conv_workspace(output_bytes: int) -> int:
    """Transient workspace of one cuDNN convolution (forward or a backward part), as a fraction of the
    larger of its output and input bytes; an estimate fitted to the measured convnet cases (no cuDNN
    formula exists: the algorithm choice sets it)."""
    return output_bytes * CONV_WORKSPACE_FRACTION.numerator // CONV_WORKSPACE_FRACTION.denominator


# ---- reduction kernels ---------------------------------------------------------------------------

REDUCE_SMS = DEFAULT_ARCH.sms
"""Streaming multiprocessors the reduction launch rule assumes when no GPU is named: H100 SXM and H200
(A100: 108, H100 PCIe: 114; :func:`arch_of` gives the named GPU's). The staging buffer grows with it."""
REDUCE_THREADS_PER_SM = 2048
"""``maxThreadsPerMultiProcessor`` of sm80/sm90 (:func:`threads_per_sm` for the others)."""
THREADS_PER_SM = {(7, 0): 2048, (7, 5): 1024, (8, 0): 2048, (8, 6): 1536, (8, 7): 2048, (8, 9): 1536,
                  (9, 0): 2048, (10, 0): 2048, (10, 3): 2048, (12, 0): 1536}
"""Maximum resident threads per SM by compute capability: the CUDA C++ Programming Guide, table
"Technical Specifications per Compute Capability" (``maxThreadsPerMultiProcessor``)."""


def threads_per_sm(arch: CudaArch) -> int:
    """``maxThreadsPerMultiProcessor`` of ``arch`` (2048 for a capability the table lacks)."""
    return THREADS_PER_SM.get(arch.capability, REDUCE_THREADS_PER_SM)


_REDUCE_MAX_THREADS = 512
_MIN_VALUES_PER_THREAD = 16
_MAX_VALUES_PER_THREAD = 256


def _last_pow2(n: int) -> int:
    return max(1, 1 << (max(n, 1).bit_length() - 1))


def reduction_staging(num_outputs: int, inputs_per_output: int, on_fastest_dim: bool, acc_bytes: int,
                      sms: int = REDUCE_SMS, sm_threads: int = REDUCE_THREADS_PER_SM) -> int:
    """Bytes of the global-memory staging buffer (plus its semaphores) one CUDA reduction kernel
    (``sum``, ``mean``, ``amax``...: ``gpu_reduce_kernel``) allocates through the caching allocator and
    frees when it returns; 0 when the kernel reduces within thread blocks only.

    PyTorch's launch rule (aten/src/ATen/native/cuda/Reduce.cuh, ``setReduceConfig``): threads map to
    outputs (or to the reduced dimension when it is the fastest-moving one), warps split the input
    when each thread would sum at least 16 values, and when a thread would still sum 256 or more values
    and the grid is small, the input is split over ``ctas_per_output`` blocks whose partial results go
    to a staging buffer of ``acc_bytes * num_outputs * ctas_per_output`` bytes (times the block width
    and vector size when threads map to outputs). Example: the bias gradient of a Linear(8192, 8192) at
    batch 4096 in float32 (``sum`` over dim 0 of a 4096 x 8192 tensor) stages 132 MiB on an H200,
    measured in its memory snapshot. The input is taken as contiguous (row-major). ``sms`` and
    ``sm_threads``: the GPU's streaming multiprocessors and resident threads per SM.
    """
    if num_outputs < 1 or inputs_per_output < 2:
        return 0
    vec = 1
    dim0, dim1 = (inputs_per_output, num_outputs) if on_fastest_dim else (num_outputs, inputs_per_output)
    if on_fastest_dim:
        if dim0 > 128:
            dim0 //= 4  # vectorised loads along the input
    else:
        vec = 4 if num_outputs % 4 == 0 else 2 if num_outputs % 2 == 0 else 1
        dim0 //= vec
    max_threads = _REDUCE_MAX_THREADS // vec
    p0 = _last_pow2(dim0) if dim0 < max_threads else max_threads
    p1 = _last_pow2(dim1) if dim1 < max_threads else max_threads
    width = min(p0, 32)
    height = min(p1, max_threads // width)
    width = min(p0, max_threads // height)
    step_in, step_out = (width, 1) if on_fastest_dim else (1, width)
    warps_split_input = -(-inputs_per_output // step_in) >= min(height * _MIN_VALUES_PER_THREAD,
                                                                  _MAX_VALUES_PER_THREAD)
    if warps_split_input:
        step_in *= height
    else:
        step_out *= height
    per_thread = -(-inputs_per_output // step_in)
    grid = -(-(num_outputs // vec) // step_out)
    target = sms * (sm_threads // (width * height))
    if not warps_split_input or per_thread < _MAX_VALUES_PER_THREAD or grid > target:
        return 0
    ctas = max(min(-(-target // grid), -(-per_thread // _MIN_VALUES_PER_THREAD)),
               -(-per_thread // _MAX_VALUES_PER_THREAD))
    if ctas <= 1:
        return 0
    staging = acc_bytes * num_outputs * ctas * (1 if on_fastest_dim else width * vec)
    return round_block(staging) + round_block(4 * grid)


# ---- cuDNN RNN -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RnnBuffers:
    """cuDNN's buffers for one ``_cudnn_rnn`` call (all layers at once)."""

    workspace: int
    """Transient, while the forward call runs."""
    layer_outputs: int
    """Transient, while the forward call runs: the inner layers' outputs, a buffer of their own."""
    reserve: int
    """Training only: saved for backward (the activations of every gate, step and layer)."""
    backward_workspace: int
    """Transient, while ``_cudnn_rnn_backward`` runs."""


RNN_WORKSPACE_EXTRA = 21 * MiB
"""What the measured LSTM's workspace holds beyond (layers x gates - (layers - 1)) x out (below):
491,782,912 B measured (an H200 memory snapshot: one allocation per call) against 469,762,048 B.
Not explained; kept as a measured constant."""


def rnn_buffers(mode: str, seq: int, batch: int, hidden: int, layers: int, directions: int,
                itemsize: int, training: bool, input_size: int = 0) -> RnnBuffers:
    """cuDNN RNN workspace and reserve space (``cudnnGetRNNTempSpaceSizes``) for LSTM/GRU/RNN.

    cuDNN does not publish the formula. With ``out`` = seq x batch x hidden x directions elements (one
    layer's output) and ``gates`` = 4 (LSTM), 3 (GRU) or 1 (RNN):

    * workspace = (layers x gates - (layers - 1)) x out + 21 MiB, and beside it a buffer for the inner
      layers' outputs, (layers - 1) x out: two allocations, as an H200 memory snapshot shows them
      (491,782,912 B and 67,108,864 B for the measured LSTM);
    * reserve (training) = layers x (gates + 2) x out (the gates, the cell and the hidden state of
      every step and layer: what the backward reads);
    * backward workspace = workspace + 2 x (layers - 1) x out (the inner layers' outputs and their
      gradients)
      + seq x batch x input_size (the input's gradient, which PyTorch allocates for cuDNN's backward-data
      call even when the input needs no gradient; aten/src/ATen/native/cudnn/RNN.cpp).

    Checked against the measured 2-layer LSTM (1024 -> 1024, batch 64, seq 256, fp32, H200): inference
    ``step2_peak`` 797,245,952 B = weights 67,437,056 + input 67,108,864 + cuBLAS 33,554,432 + output
    67,108,864 + workspace 491,782,912 + inner output 67,108,864 (the formula gives 768 B less);
    training ``step2_peak`` 1,914,964,480 B is met within 0.2% at the backward.
    """
    gates = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    out = seq * batch * hidden * directions * itemsize
    workspace = (layers * gates - (layers - 1)) * out + RNN_WORKSPACE_EXTRA
    inner = (layers - 1) * out
    reserve = layers * (gates + 2) * out if training else 0
    dx = seq * batch * input_size * itemsize
    return RnnBuffers(workspace, inner, reserve, workspace + 2 * inner + dx if training else 0)


# ---- the caching allocator -----------------------------------------------------------------------
# PyTorch source: c10/cuda/CUDACachingAllocator.cpp (kMinBlockSize, kSmallSize, kSmallBuffer,
# kLargeBuffer, kMinLargeAlloc, kRoundLarge; round_size, get_allocation_size).

MIN_BLOCK = 512
"""Every allocation is rounded up to a multiple of 512 bytes (``round_size``); 0 bytes take none."""
SMALL_SIZE = 1 * MiB
"""Requests up to 1 MiB come from the small pool."""
SMALL_SEGMENT = 2 * MiB
"""The small pool grows by 2 MiB segments."""
LARGE_SEGMENT = 20 * MiB
"""Large requests under 10 MiB are carved from 20 MiB segments."""
MIN_LARGE_ALLOC = 10 * MiB
ROUND_LARGE = 2 * MiB
"""Large requests of 10 MiB or more get their own segment, rounded up to 2 MiB."""


def round_block(nbytes: int) -> int:
    """Bytes the caching allocator hands out for a request of ``nbytes`` (``round_size``)."""
    if nbytes <= 0:
        return 0
    return -(-nbytes // MIN_BLOCK) * MIN_BLOCK


def segment_size(nbytes: int) -> int:
    """Size of the segment ``cudaMalloc``'d when no cached block fits a (rounded) request."""
    if nbytes <= SMALL_SIZE:
        return SMALL_SEGMENT
    if nbytes < MIN_LARGE_ALLOC:
        return LARGE_SEGMENT
    return -(-nbytes // ROUND_LARGE) * ROUND_LARGE


def can_split(block: int, request: int) -> bool:
    """Whether a cached block is split to serve a request (``should_split``): the rest is kept as a
    free block when at least 512 bytes (small pool) or more than 1 MiB (large pool) remain."""
    rest = block - request
    return rest >= MIN_BLOCK if request <= SMALL_SIZE else rest > SMALL_SIZE


COMPARE_WITH_NVIDIA_SMI = (
    "nvidia-smi shows reserved memory (segments the caching allocator holds) plus the CUDA context "
    "(about 0.5 GiB, not estimated): compare it with the reserved estimate, not the allocated peak")
