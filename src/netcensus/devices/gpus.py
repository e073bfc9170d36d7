"""The GPU table: peak dense throughput per dtype and unit, memory bandwidth and size, with sources.

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

Users add their own device with :func:`load_device` (a JSON or TOML file) or :func:`custom_device`
(keyword values). Pure data: nothing here imports torch.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import SpecError

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
        )


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
        sources=(_MI300X_DS,),
        notes=(
            "192 GB HBM3, 5.3 TB/s; float32 GEMMs run on the FP32 matrix cores (163.4 TFLOP/s); "
            "fp32 vector 81.7 TFLOP/s",
        ),
    ),
)
"""The built-in devices (dense peaks; the datasheet each figure comes from in ``sources``)."""


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def _index() -> dict[str, DeviceSpec]:
    out: dict[str, DeviceSpec] = {}
    for d in GPUS:
        for n in (d.name, *d.aliases):
            out[_key(n)] = d
    return out


def names() -> list[str]:
    """The built-in devices' names."""
    return [d.name for d in GPUS]


def get_gpu(name: str | DeviceSpec) -> DeviceSpec:
    """The device called ``name`` (case and ``-``/``_``/space insensitive; aliases such as ``h100``), a
    :class:`DeviceSpec` as it is, or a device file (``.json``/``.toml``) when ``name`` is a path to one.
    Raises :class:`SpecError` with the closest names otherwise."""
    if isinstance(name, DeviceSpec):
        return name
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"a GPU must be named, got {name!r}", fix=f"use one of {', '.join(names())}")
    if name.lower().endswith((".json", ".toml")):
        return load_device(name)
    index = _index()
    found = index.get(_key(name))
    if found is not None:
        return found
    close = difflib.get_close_matches(_key(name), list(index), n=3, cutoff=0.5)
    close_names = list(dict.fromkeys(index[c].name for c in close))
    hint = f"did you mean {' or '.join(map(repr, close_names))}? " if close_names else ""
    raise SpecError(
        f"unknown GPU {name!r}",
        fix=f"{hint}use one of {', '.join(names())}, or describe yours in a JSON/TOML file "
        f"(--gpu my-gpu.toml; keys name, bandwidth_tbs, memory_gb, [peak_tflops] fp32/tf32/bf16...)",
    )


def custom_device(
    name: str,
    *,
    bandwidth_tbs: float,
    peak_tflops: dict[str, float],
    memory_gb: float = 0.0,
    fp32_matmul_tflops: float | None = None,
    matmul_tf32: bool = PYTORCH_DEFAULTS["matmul_tf32"],
    cudnn_tf32: bool = PYTORCH_DEFAULTS["cudnn_tf32"],
    source: str = "user",
) -> DeviceSpec:
    """A device from keyword values: bandwidth in TB/s (10^12 B/s), dense peaks in TFLOP/s per key of
    :data:`PEAK_KEYS` (at least ``fp32``; a missing tensor dtype falls back to ``fp32``), memory in GB."""
    where = f"device {name!r}"
    if not isinstance(peak_tflops, dict) or not peak_tflops:
        raise SpecError(
            "peak_tflops must map dtypes to dense TFLOP/s, e.g. {fp32 = 67, bf16 = 989}", where=where
        )
    unknown = sorted(set(peak_tflops) - set(PEAK_KEYS))
    if unknown:
        raise SpecError(
            f"unknown peak key(s) {', '.join(map(repr, unknown))}",
            where=where,
            fix=f"use {', '.join(PEAK_KEYS)}",
        )
    if "fp32" not in peak_tflops:
        raise SpecError("peak_tflops needs an 'fp32' figure (the non-tensor FP32 pipe)", where=where)
    values = {"bandwidth_tbs": bandwidth_tbs, **{f"peak_tflops.{k}": v for k, v in peak_tflops.items()}}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise SpecError(f"{k} must be a positive number, got {v!r}", where=where)
    if isinstance(memory_gb, bool) or not isinstance(memory_gb, (int, float)) or memory_gb < 0:
        raise SpecError(f"memory_gb must be a number >= 0, got {memory_gb!r}", where=where)
    return DeviceSpec(
        name=name,
        peak={k: float(v) * TERA for k, v in peak_tflops.items()},
        bandwidth=float(bandwidth_tbs) * TERA,
        memory=int(memory_gb * GIGA),
        vendor="user",
        fp32_matmul=fp32_matmul_tflops * TERA if fp32_matmul_tflops else None,
        matmul_tf32=bool(matmul_tf32),
        cudnn_tf32=bool(cudnn_tf32),
        sources=(source,),
        user=True,
    )


_FILE_KEYS = {
    "name",
    "bandwidth_tbs",
    "peak_tflops",
    "memory_gb",
    "fp32_matmul_tflops",
    "matmul_tf32",
    "cudnn_tf32",
    "source",
    "base",
}


def load_device(path: str | Path) -> DeviceSpec:
    """A device from a JSON or TOML file::

        name = "my-gpu"
        bandwidth_tbs = 2.0          # TB/s
        memory_gb = 48
        source = "vendor datasheet, table 3"
        [peak_tflops]                # dense
        fp32 = 60
        bf16 = 400

    ``base = "H100-SXM"`` starts from a built-in device and overrides what the file gives.
    """
    p = Path(path)
    where = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            f"cannot read device file ({exc.strerror or exc})",
            where=where,
            fix="give the path of a .json or .toml device file",
        ) from None
    try:
        if p.suffix.lower() == ".toml":
            data = _toml(text, where)
        else:
            data = json.loads(text)
    except ValueError as exc:
        raise SpecError(
            f"not a valid {p.suffix.lstrip('.').upper() or 'JSON'} device file: {exc}", where=where
        ) from None
    if not isinstance(data, dict):
        raise SpecError("a device file must hold one table/object", where=where)
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        close = {u: difflib.get_close_matches(u, sorted(_FILE_KEYS), n=1) for u in unknown}
        hints = "; ".join(f"{u!r} (did you mean {c[0]!r}?)" if c else repr(u) for u, c in close.items())
        raise SpecError(f"unknown key(s) {hints}", where=where, fix=f"use {', '.join(sorted(_FILE_KEYS))}")
    name = str(data.get("name") or p.stem)
    source = str(data.get("source") or f"user file {p.name}")
    if "base" in data:
        base = get_gpu(str(data["base"]))
        peak = {k: v / TERA for k, v in base.peak.items()}
        peak.update(data.get("peak_tflops") or {})
        dev = custom_device(
            name,
            bandwidth_tbs=data.get("bandwidth_tbs", base.bandwidth / TERA),
            peak_tflops=peak,
            memory_gb=data.get("memory_gb", base.memory / GIGA),
            fp32_matmul_tflops=data.get(
                "fp32_matmul_tflops", base.fp32_matmul / TERA if base.fp32_matmul else None
            ),
            matmul_tf32=data.get("matmul_tf32", base.matmul_tf32),
            cudnn_tf32=data.get("cudnn_tf32", base.cudnn_tf32),
            source=source,
        )
        return replace(dev, sources=(source, *base.sources), vendor=base.vendor)
    for k in ("bandwidth_tbs", "peak_tflops"):
        if k not in data:
            raise SpecError(
                f"missing {k!r}",
                where=where,
                fix="give bandwidth_tbs (TB/s) and a [peak_tflops] table with at least fp32, "
                "or base = 'H100-SXM' to start from a built-in device",
            )
    try:
        return custom_device(
            name,
            bandwidth_tbs=data["bandwidth_tbs"],
            peak_tflops=data["peak_tflops"],
            memory_gb=data.get("memory_gb", 0.0),
            fp32_matmul_tflops=data.get("fp32_matmul_tflops"),
            matmul_tf32=data.get("matmul_tf32", PYTORCH_DEFAULTS["matmul_tf32"]),
            cudnn_tf32=data.get("cudnn_tf32", PYTORCH_DEFAULTS["cudnn_tf32"]),
            source=source,
        )
    except SpecError as exc:
        raise SpecError(exc.what, where=where, fix=exc.fix) from None


def _toml(text: str, where: str) -> Any:
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            raise SpecError(
                "reading a TOML device file needs Python 3.11 or the tomli package",
                where=where,
                fix="pip install tomli, or write the device as JSON",
            ) from None
    return tomllib.loads(text)


def table_rows() -> list[dict[str, Any]]:
    """The built-in table as rows (TFLOP/s, TB/s, GB) for docs and ``--gpu list``."""
    rows = []
    for d in GPUS:
        row: dict[str, Any] = {"name": d.name, "vendor": d.vendor}
        for k in PEAK_KEYS:
            row[k] = d.peak[k] / TERA if k in d.peak else None
        row["fp32_matmul"] = (d.fp32_matmul or d.peak["fp32"]) / TERA
        row["bandwidth_tbs"] = d.bandwidth / TERA
        row["memory_gb"] = d.memory / GIGA
        row["sources"] = list(d.sources)
        rows.append(row)
    return rows


__all__ = [
    "GPUS",
    "PEAK_KEYS",
    "PYTORCH_DEFAULTS",
    "DeviceSpec",
    "custom_device",
    "get_gpu",
    "load_device",
    "names",
    "table_rows",
]
