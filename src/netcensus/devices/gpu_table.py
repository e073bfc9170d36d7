"""The built-in GPU table (:data:`GPUS`): dense peaks per dtype and unit, memory bandwidth and size,
each row with the datasheet its figures come from (:mod:`.spec` says what each figure means).

``arch`` and ``sms`` (what the memory rules read, :mod:`.cuda`): the compute capability from NVIDIA's
"CUDA GPUs - Compute Capability" list (developer.nvidia.com/cuda-gpus: H100/H200 9.0, A100 8.0, L4,
L40S and RTX 4090 8.9, RTX 3090 8.6); the streaming multiprocessors from the CUDA core counts of the
same datasheets and whitepapers, 128 cores per SM (64 on the A100): H100 SXM 16,896 / 128 = 132, H100
PCIe 14,592 / 128 = 114, H200 as H100 SXM, A100 6,912 / 64 = 108, L4 7,424 / 128 = 58, L40S 18,176 /
128 = 142, RTX 4090 16,384 / 128 = 128, RTX 3090 10,496 / 128 = 82. MI300X: 304 compute units
(19,456 stream processors / 64), ISA gfx942 (AMD's data sheet; ROCm's GPU hardware specifications).

Pure data: nothing here imports torch.
"""

from __future__ import annotations

from .spec import GIGA, TERA, DeviceSpec


def _tf(**values: float) -> dict[str, float]:
    return {k: v * TERA for k, v in values.items()}


_H100_DS = (
    "NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100/, "
    "'H100 SXM / H100 NVL' table; dense = half the 'with sparsity' figures)"
)
_H200_DS = (
    "NVIDIA H200 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h200/, "
    "'H200 SXM' column; dense = half the 'with sparsity' figures)"
)
_A100_DS = (
    "NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/a100/, "
    "'A100 40GB / 80GB SXM' columns; dense = half the 'with sparsity' figures)"
)
_L4_DS = (
    "NVIDIA L4 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/l4/; "
    "dense = half the sparsity figures)"
)
_L40S_DS = "NVIDIA L40S GPU datasheet (nvidia.com/en-us/data-center/l40s/; dense = half the sparsity figures)"
_ADA_WP = (
    "NVIDIA Ada GPU Architecture whitepaper v2.1, Appendix A table 'GeForce RTX 4090' "
    "(FP32-accumulate tensor figures, dense)"
)
_GA102_WP = (
    "NVIDIA Ampere GA102 GPU Architecture whitepaper v2.0, table 'GeForce RTX 3090' "
    "(FP32-accumulate tensor figures, dense)"
)
_MI300X_DS = (
    "AMD Instinct MI300X accelerator data sheet (amd.com/en/products/accelerators/instinct/mi300/"
    "mi300x.html; dense figures, 'with structured sparsity' excluded)"
)

GPUS: tuple[DeviceSpec, ...] = (
    DeviceSpec(
        "H100-SXM",
        _tf(fp64=67.0, fp32=67.0, tf32=494.7, bf16=989.4, fp16=989.4, fp8=1978.9),
        3.35e12,
        80 * GIGA,
        "NVIDIA",
        ("h100", "h100-sxm5", "h100-80gb", "h100-sxm-80gb"),
        arch="sm_90",
        sms=132,
        sources=(_H100_DS,),
        notes=("80 GB HBM3, 3.35 TB/s",),
    ),
    DeviceSpec(
        "H100-PCIe",
        _tf(fp64=51.2, fp32=51.2, tf32=378.0, bf16=756.5, fp16=756.5, fp8=1513.0),
        2.0e12,
        80 * GIGA,
        "NVIDIA",
        ("h100-pcie-80gb",),
        arch="sm_90",
        sms=114,
        sources=(_H100_DS,),
        notes=("80 GB HBM2e, 2.0 TB/s",),
    ),
    DeviceSpec(
        "H200",
        _tf(fp64=67.0, fp32=67.0, tf32=494.7, bf16=989.4, fp16=989.4, fp8=1978.9),
        4.8e12,
        141 * GIGA,
        "NVIDIA",
        ("h200-sxm", "h200-141gb", "nvidia-h200"),
        arch="sm_90",
        sms=132,
        sources=(_H200_DS,),
        notes=("141 GB HBM3e, 4.8 TB/s; same SMs and clocks as H100 SXM",),
    ),
    DeviceSpec(
        "A100-40GB",
        _tf(fp64=19.5, fp32=19.5, tf32=156.0, bf16=312.0, fp16=312.0),
        1.555e12,
        40 * GIGA,
        "NVIDIA",
        ("a100-sxm-40gb", "a100-40"),
        arch="sm_80",
        sms=108,
        sources=(_A100_DS,),
        notes=("40 GB HBM2, 1,555 GB/s; fp64 = the FP64 tensor-core figure",),
    ),
    DeviceSpec(
        "A100-80GB",
        _tf(fp64=19.5, fp32=19.5, tf32=156.0, bf16=312.0, fp16=312.0),
        2.039e12,
        80 * GIGA,
        "NVIDIA",
        ("a100", "a100-sxm-80gb", "a100-80"),
        arch="sm_80",
        sms=108,
        sources=(_A100_DS,),
        notes=("80 GB HBM2e, 2,039 GB/s (SXM)",),
    ),
    DeviceSpec(
        "L4",
        _tf(fp32=30.3, tf32=60.0, bf16=121.0, fp16=121.0, fp8=242.5),
        300e9,
        24 * GIGA,
        "NVIDIA",
        ("nvidia-l4",),
        arch="sm_89",
        sms=58,
        sources=(_L4_DS,),
        notes=("24 GB GDDR6, 300 GB/s",),
    ),
    DeviceSpec(
        "L40S",
        _tf(fp32=91.6, tf32=183.0, bf16=362.05, fp16=362.05, fp8=733.0),
        864e9,
        48 * GIGA,
        "NVIDIA",
        ("nvidia-l40s",),
        arch="sm_89",
        sms=142,
        sources=(_L40S_DS,),
        notes=("48 GB GDDR6, 864 GB/s",),
    ),
    DeviceSpec(
        "RTX-4090",
        _tf(fp32=82.6, tf32=82.6, bf16=165.2, fp16=165.2, fp8=330.3),
        1008e9,
        24 * GIGA,
        "NVIDIA",
        ("4090", "geforce-rtx-4090", "rtx4090"),
        arch="sm_89",
        sms=128,
        sources=(_ADA_WP,),
        notes=(
            "24 GB GDDR6X, 1,008 GB/s; fp16/bf16 with FP32 accumulate "
            "(330.3 TFLOP/s with FP16 accumulate, which PyTorch does not use)",
        ),
    ),
    DeviceSpec(
        "RTX-3090",
        _tf(fp32=35.6, tf32=35.6, bf16=71.0, fp16=71.0),
        936e9,
        24 * GIGA,
        "NVIDIA",
        ("3090", "geforce-rtx-3090", "rtx3090"),
        arch="sm_86",
        sms=82,
        sources=(_GA102_WP,),
        notes=("24 GB GDDR6X, 936 GB/s; fp16/bf16 with FP32 accumulate",),
    ),
    DeviceSpec(
        "MI300X",
        _tf(fp64=163.4, fp32=81.7, tf32=653.7, bf16=1307.4, fp16=1307.4, fp8=2614.9),
        5.3e12,
        192 * GIGA,
        "AMD",
        ("amd-mi300x", "instinct-mi300x"),
        fp32_matmul=163.4 * TERA,
        arch="gfx942",
        sms=304,
        sources=(_MI300X_DS,),
        notes=(
            "192 GB HBM3, 5.3 TB/s; float32 GEMMs run on the FP32 matrix cores (163.4 TFLOP/s); "
            "fp32 vector 81.7 TFLOP/s",
        ),
    ),
)
"""The built-in devices (dense peaks; the datasheet each figure comes from in ``sources``)."""


__all__ = ["GPUS"]
