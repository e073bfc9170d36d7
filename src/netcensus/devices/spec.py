"""What one accelerator is, as data: :class:`DeviceSpec` and the figures it holds.

Every figure is the vendor's own datasheet figure for *dense* math (the "with sparsity" figures are
twice these and are never used). Units:

* ``tensor`` figures (``tf32``, ``bf16``, ``fp16``, ``fp8``) are the tensor-core / matrix-core peaks
  with the accumulation PyTorch uses (float32 accumulate: on GeForce cards that is half the fp16-
  accumulate figure the marketing quotes first).
* ``fp32`` is the non-tensor FP32 pipe (CUDA cores / vector ALUs): what elementwise kernels and, by
  PyTorch's default, float32 matmuls on NVIDIA GPUs run on.
* ``fp64`` is the FP64 tensor/matrix-core figure (what DGEMM runs on).
* ``fp32_matmul`` is what a float32 matmul runs at under PyTorch's defaults when it differs from the
  ``fp32`` pipe (AMD's MI300X runs float32 GEMMs on its FP32 matrix cores).

The framework defaults that decide which unit runs are data too (:data:`PYTORCH_DEFAULTS`): PyTorch
runs float32 matmuls without TF32 (``torch.backends.cuda.matmul.allow_tf32 = False`` since 1.12) and
cuDNN convolutions and RNNs with TF32 (``torch.backends.cudnn.allow_tf32 = True``).

Pure data: nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TERA = 10**12
GIGA = 10**9

PEAK_KEYS = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8")
"""The throughput figures a device may give, in FLOP/s (``fp32``: the non-tensor pipe)."""

PYTORCH_DEFAULTS: dict[str, Any] = {
    "matmul_tf32": False,
    "cudnn_tf32": True,
    "source": "PyTorch docs, 'TensorFloat-32 (TF32) on Ampere (and later) devices' "
    "(https://pytorch.org/docs/stable/notes/cuda.html#tensorfloat-32-tf32-on-ampere-and-later-devices): "
    "torch.backends.cuda.matmul.allow_tf32 defaults to False (since 1.12), "
    "torch.backends.cudnn.allow_tf32 defaults to True",
}
"""Which unit PyTorch runs float32 work on by default: matmuls (cuBLAS) on the FP32 pipe, cuDNN
convolutions and RNNs on TF32 tensor cores."""


@dataclass(frozen=True)
class DeviceSpec:
    """One accelerator: peak dense FLOP/s per dtype, memory bandwidth (B/s) and size (bytes)."""

    name: str
    peak: dict[str, float]
    """``PEAK_KEYS`` -> dense FLOP/s; a missing key means the device has no such unit."""
    bandwidth: float
    """Peak memory bandwidth, bytes/s."""
    memory: int
    """Memory size, bytes."""
    vendor: str = ""
    aliases: tuple[str, ...] = ()
    fp32_matmul: float | None = None
    """FLOP/s of a float32 matmul with TF32 off, when not the ``fp32`` pipe (AMD matrix cores)."""
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    matmul_tf32: bool = PYTORCH_DEFAULTS["matmul_tf32"]
    cudnn_tf32: bool = PYTORCH_DEFAULTS["cudnn_tf32"]
    user: bool = False
    """True for a device the user described (file or keyword values)."""
    arch: str = ""
    """The instruction-set architecture PyTorch sees: ``"sm_90"`` (CUDA compute capability 9.0),
    ``"gfx942"`` (ROCm); empty when unknown. The memory rules read it (library workspace sizes,
    :func:`netcensus.devices.cuda.arch_of`)."""
    sms: int = 0
    """Streaming multiprocessors (NVIDIA) or compute units (AMD); 0 when unknown. The reduction kernels'
    launch rule reads it."""

    def flops(self, key: str) -> float | None:
        return self.peak.get(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vendor": self.vendor,
            "peak_flops": dict(self.peak),
            "bandwidth": self.bandwidth,
            "memory": self.memory,
            "fp32_matmul": self.fp32_matmul,
            "matmul_tf32": self.matmul_tf32,
            "cudnn_tf32": self.cudnn_tf32,
            "sources": list(self.sources),
            "notes": list(self.notes),
            "user": self.user,
            "arch": self.arch,
            "sms": self.sms,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceSpec:
        return cls(
            name=d["name"],
            peak={k: float(v) for k, v in d["peak_flops"].items()},
            bandwidth=float(d["bandwidth"]),
            memory=int(d["memory"]),
            vendor=d.get("vendor", ""),
            fp32_matmul=d.get("fp32_matmul"),
            matmul_tf32=bool(d.get("matmul_tf32", False)),
            cudnn_tf32=bool(d.get("cudnn_tf32", True)),
            sources=tuple(d.get("sources", ())),
            notes=tuple(d.get("notes", ())),
            user=bool(d.get("user", False)),
            arch=str(d.get("arch", "")),
            sms=int(d.get("sms", 0)),
        )


__all__ = ["GIGA", "PEAK_KEYS", "PYTORCH_DEFAULTS", "TERA", "DeviceSpec"]
