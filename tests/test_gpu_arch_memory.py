"""The "cuda" memory figures follow the GPU named with gpu= / --gpu: its architecture sets the BLAS
workspace each handle keeps, its SM count and resident threads the reductions' staging buffers.

Oracles: PyTorch's rules written out by hand in each test (aten/src/ATen/cuda/CublasHandlePool.cpp for
the workspace; aten/src/ATen/native/cuda/Reduce.cuh's setReduceConfig for the staging, whose H200 case
was measured: tests/test_cuda_reduction_staging.py), and the difference between two profiles of the
same step, which isolates the workspace term.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import netcensus
from netcensus.analyses.memory.device import reduction_staging_of
from netcensus.devices import cuda, get_gpu, load_device
from netcensus.errors import SpecError

MiB = 1 << 20


def test_blas_workspace_per_architecture():
    # Hopper and Blackwell (compute capability 9 to 12): 4096 * 8 * 1024 = 32 MiB.
    assert cuda.cublas_workspace(cuda.arch_of(get_gpu("H100-SXM"))) == 33_554_432
    assert cuda.cublas_workspace(cuda.arch_of(None)) == 33_554_432
    # Ampere and Ada: the ":4096:2:16:8" configuration, 4096 KiB x 2 + 16 KiB x 8 = 8,519,680 bytes.
    for name in ("A100-80GB", "A100-40GB", "L4", "L40S", "RTX-4090", "RTX-3090"):
        assert cuda.cublas_workspace(cuda.arch_of(get_gpu(name))) == 4096 * 1024 * 2 + 16 * 1024 * 8
    assert 4096 * 1024 * 2 + 16 * 1024 * 8 == 8_519_680
    # ROCm: 128 MiB on gfx942 (MI300X), 32 MiB elsewhere (gfx90a: MI250X).
    assert cuda.cublas_workspace(cuda.arch_of(get_gpu("MI300X"))) == 128 * MiB
    assert cuda.cublas_workspace(cuda.CudaArch("gfx90a", 220, "MI250X")) == 32 * MiB


def test_architecture_facts_of_the_table():
    # Compute capability and SMs (CUDA cores / 128; the A100's SMs have 64).
    a100, l4, h100_pcie = (cuda.arch_of(get_gpu(n)) for n in ("A100-80GB", "L4", "H100-PCIe"))
    assert (a100.capability, a100.sms) == ((8, 0), 6912 // 64)
    assert (l4.capability, l4.sms) == ((8, 9), 7424 // 128)
    assert (h100_pcie.capability, h100_pcie.sms) == ((9, 0), 14592 // 128)
    assert cuda.threads_per_sm(a100) == 2048 and cuda.threads_per_sm(l4) == 1536


def _staging_by_hand(sms: int, threads_per_sm: int) -> int:
    """sum over dim 0 of a contiguous float32 4096 x 8192 tensor (a Linear(8192, 8192) bias gradient
    at batch 4096), following setReduceConfig: threads map to the 8192 outputs, vectorised by 4 (8192 % 4
    == 0): 2048 output columns, at most 512 / 4 = 128 threads per block; block 32 wide (a warp) and
    128 / 32 = 4 high; 4096 inputs per output >= min(4 * 16, 256), so the 4 warps split the input and
    each thread would sum 4096 / 4 = 1024 values; 2048 / 32 = 64 blocks of outputs. The target grid is
    sms * (threads_per_sm / 128) blocks, so ctas_per_output = max(min(ceil(target / 64), 1024 / 16),
    ceil(1024 / 256)); staging = 4 bytes * 8192 outputs * ctas * (32 * 4), plus 4 * 64 bytes of
    semaphores in one 512-byte block."""
    target = sms * (threads_per_sm // 128)
    ctas = max(min(-(-target // 64), 64), 4)
    return 4 * 8192 * ctas * 32 * 4 + 512


def test_reduction_staging_follows_the_sm_count():
    h200 = reduction_staging_of((4096, 8192), "float32", [0], cuda.arch_of(get_gpu("H200")))
    assert h200 == _staging_by_hand(132, 2048) == 4 * 8192 * 33 * 128 + 512  # measured on the H200
    a100 = reduction_staging_of((4096, 8192), "float32", [0], cuda.arch_of(get_gpu("A100-80GB")))
    assert a100 == _staging_by_hand(108, 2048) == 4 * 8192 * 27 * 128 + 512
    l4 = reduction_staging_of((4096, 8192), "float32", [0], cuda.arch_of(get_gpu("L4")))
    assert l4 == _staging_by_hand(58, 1536) == 4 * 8192 * 11 * 128 + 512
    # ROCm's launch constants differ (64-wide warps) and nothing measured them: not modelled.
    assert reduction_staging_of((4096, 8192), "float32", [0], cuda.arch_of(get_gpu("MI300X"))) == 0


def _mlp() -> nn.Module:
    with torch.device("meta"):
        return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


@pytest.mark.parametrize("train, handles", [(False, 1), (True, 2)])
def test_profile_peak_differs_by_the_workspaces_alone(train, handles):
    # A small MLP has no reduction large enough to stage (8 rows), so between an H100 and an A100 only
    # the cuBLAS workspaces differ: one handle in inference, two in training (autograd's thread).
    x = torch.empty(8, 64, device="meta")
    h100 = netcensus.profile(_mlp(), x, train=train, gpu="H100-SXM").memory
    a100 = netcensus.profile(_mlp(), x, train=train, gpu="A100-80GB").memory
    assert h100.peak - a100.peak == handles * (33_554_432 - 8_519_680)
    assert h100.workspaces - a100.workspaces == handles * (33_554_432 - 8_519_680)
    # No GPU named: the H100/H200 figures, as before.
    default = netcensus.profile(_mlp(), x, train=train).memory
    assert default.peak == h100.peak
    said = {a.name: a.value for a in a100.assumptions}
    assert said["cuBLAS workspace"] == f"{handles} x 8.12 MiB"  # 8,519,680 / 2**20 = 8.125
    target = next(a for a in a100.assumptions if a.name == "target")
    assert "A100-80GB (sm_80, 108 SMs)" in target.meaning


def test_device_file_gives_arch_and_sms(tmp_path):
    f = tmp_path / "gpu.json"
    f.write_text(json.dumps({"name": "my-a10", "bandwidth_tbs": 0.6, "peak_tflops": {"fp32": 31.2},
                             "arch": "sm_86", "sms": 72}))
    dev = load_device(f)
    assert (dev.arch, dev.sms) == ("sm_86", 72)
    assert cuda.cublas_workspace(cuda.arch_of(dev)) == 8_519_680
    based = tmp_path / "based.json"
    based.write_text(json.dumps({"name": "my-h100", "base": "H100-SXM", "memory_gb": 94}))
    assert (load_device(based).arch, load_device(based).sms) == ("sm_90", 132)
    # A device without them: the H100/H200 rules, and the assumption says so.
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"name": "mystery", "bandwidth_tbs": 1, "peak_tflops": {"fp32": 10}}))
    arch = cuda.arch_of(load_device(bare))
    assert (arch.arch, arch.sms) == ("sm_90", 132) and "mystery gives no arch and sms" in arch.name


def test_bad_arch_is_refused_with_the_form_to_use(tmp_path):
    f = tmp_path / "gpu.json"
    f.write_text(json.dumps({"name": "x", "bandwidth_tbs": 1, "peak_tflops": {"fp32": 10}, "arch": "8.6"}))
    with pytest.raises(SpecError) as err:
        load_device(f)
    assert "sm_90" in str(err.value) and "gpu.json" in str(err.value)


@pytest.mark.parametrize("config, per_handle", [
    (":4096:8", 4096 * 1024 * 8),            # cuBLAS's deterministic setting: 32 MiB
    (":16:8", 16 * 1024 * 8),                # the small one: 128 KiB
    (":4096:2:16:8", 4096 * 1024 * 2 + 16 * 1024 * 8),  # PyTorch's pre-Hopper default, spelled out
    ("nonsense", 8_519_680),                 # no pair parses: PyTorch warns and keeps its default
])
def test_cublas_workspace_config_from_the_environment(monkeypatch, config, per_handle):
    x = torch.empty(8, 64, device="meta")
    base = netcensus.profile(_mlp(), x, train=True, gpu="A100-80GB").memory
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", config)
    configured = netcensus.profile(_mlp(), x, train=True, gpu="A100-80GB").memory
    # two handles in training (forward thread, autograd's thread); the A100's default is 8,519,680 B each
    assert configured.workspaces - base.workspaces == 2 * (per_handle - 8_519_680)
    said = next(a for a in configured.assumptions if a.name == "cuBLAS workspace")
    assert (f"CUBLAS_WORKSPACE_CONFIG={config}" in said.meaning) == (config != "nonsense")
