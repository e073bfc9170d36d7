"""Finding a device: the built-in table by name (case-insensitive, aliases, did-you-mean), or the
user's own device from keyword values (:func:`custom_device`) or a JSON/TOML file (:func:`load_device`).

The figures and what they mean: :mod:`.spec`; the built-in rows with their sources: :mod:`.gpu_table`.
Pure data: nothing here imports torch. Reading TOML needs Python 3.11+ (``tomllib``) or the ``tomli``
package on 3.10; JSON always works.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .gpu_table import GPUS
from .spec import GIGA, PEAK_KEYS, PYTORCH_DEFAULTS, TERA, DeviceSpec


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
    arch: str = "",
    sms: int = 0,
) -> DeviceSpec:
    """A device from keyword values: bandwidth in TB/s (10^12 B/s), dense peaks in TFLOP/s per key of
    :data:`PEAK_KEYS` (at least ``fp32``; a missing tensor dtype falls back to ``fp32``), memory in GB;
    ``arch`` (``"sm_80"``, ``"gfx942"``) and ``sms`` (streaming multiprocessors or compute units), when
    known, for the memory rules that depend on them."""
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
    if not isinstance(arch, str) or (arch and not re.fullmatch(r"sm_\d{2,3}[a-z]?|gfx\d+[a-z]?", arch)):
        raise SpecError(f"arch must name an architecture such as 'sm_90' or 'gfx942', got {arch!r}",
                        where=where, fix="use sm_<compute capability without the dot> (sm_80, sm_89, "
                        "sm_90) or the ROCm gfx name, or leave it out")
    if isinstance(sms, bool) or not isinstance(sms, int) or sms < 0:
        raise SpecError(f"sms must be a whole number >= 0 (streaming multiprocessors), got {sms!r}",
                        where=where)
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
        arch=arch,
        sms=sms,
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
    "arch",
    "sms",
}


def load_device(path: str | Path) -> DeviceSpec:
    """A device from a JSON or TOML file::

        name = "my-gpu"
        bandwidth_tbs = 2.0          # TB/s
        memory_gb = 48
        arch = "sm_89"               # optional: compute capability 8.9 (ROCm: "gfx942")
        sms = 142                    # optional: streaming multiprocessors
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
            arch=data.get("arch", base.arch),
            sms=data.get("sms", base.sms),
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
            arch=data.get("arch", ""),
            sms=data.get("sms", 0),
        )
    except SpecError as exc:
        raise SpecError(exc.what, where=where, fix=exc.fix) from None


def _toml(text: str, where: str) -> Any:
    """Parse a TOML device file: ``tomllib`` on Python 3.11+, the ``tomli`` package on 3.10."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        try:
            import tomli as tomllib
        except ImportError:
            raise SpecError(
                "reading a TOML device file needs Python 3.11+ or the tomli package",
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
        row["arch"] = d.arch
        row["sms"] = d.sms
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
