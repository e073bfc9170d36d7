"""The totals of a profile as labelled figures, for the Markdown and HTML renderers.

Each :class:`Figure` has the exact value (thousands separators) and a human one (SI for counts and
FLOPs, IEC for bytes), as the terminal's totals block prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..units import exact, nbytes, si
from .memory import peak_where, peak_workspaces
from .table import coverage_line

if TYPE_CHECKING:
    from ..results.memory import MemoryResult
    from ..results.profile import Profile


@dataclass(frozen=True)
class Figure:
    section: str
    label: str
    value: int
    exact: str
    human: str
    note: str = ""


def _count(section: str, label: str, n: int, note: str = "") -> Figure:
    return Figure(section, label, n, exact(n), si(n), note)


def _bytes(section: str, label: str, n: int, note: str = "") -> Figure:
    return Figure(section, label, n, exact(n) + " B", nbytes(n), note)


def figures(profile: Profile) -> list[Figure]:
    out = [
        _count("Parameters", "Total params", profile.total_params),
        _count("Parameters", "trainable", profile.trainable_params),
        _count("Parameters", "frozen", profile.frozen_params),
        _count("Parameters", "buffers (elements, not parameters)", profile.buffers),
    ]
    for dtype, b in sorted(profile.param_bytes_by_dtype.items()):
        out.append(_bytes("Parameters", f"param bytes ({dtype})", b))
    c = profile.compute
    if c is not None:
        what = "forward + backward" if profile.train else "forward"
        t = c.totals
        out += [_count("Compute", f"MACs ({what})", t.total.macs),
                _count("Compute", "core MACs", t.total.core_macs, "conv, linear, matmul, attention products"),
                _count("Compute", f"FLOPs ({what})", t.total.flops, "1 MAC = 2 FLOPs")]
        if profile.train:
            out += [_count("Compute", "forward FLOPs", t.forward.flops),
                    _count("Compute", "backward FLOPs", t.backward.flops)]
        if t.causal_total.flops != t.total.flops:
            out.append(_count("Compute", "FLOPs causal-aware", t.causal_total.flops,
                              "causal attention on unmasked pairs only"))
    m = profile.memory
    if m is not None:
        sec = f"Memory ({m.mode} step" + (f", per device of {m.devices})" if m.devices > 1 else ")")
        out += [_bytes(sec, "weights", m.weights)]
        if m.buffers:
            out.append(_bytes(sec, "buffers", m.buffers))
        out.append(_bytes(sec, "inputs", m.inputs))
        if m.mode == "training":
            out += [_bytes(sec, "gradients", m.gradients), _bytes(sec, "optimizer state", m.optimizer),
                    _bytes(sec, "activations saved for backward", m.activations)]
            if m.weight_copies:
                out.append(_bytes(sec, "low-precision weight copies", m.weight_copies))
        out.append(_bytes(sec, "temporaries at the peak", m.temporaries))
        out += _device_figures(sec, m)
        out.append(_bytes(sec, "peak" + (" (steady state)" if m.first_step_peak is not None else ""), m.peak,
                          f"at {peak_where(m, profile.model)}"))
        if m.first_step_peak is not None and m.mode == "training":
            out.append(_bytes(sec, "first step's peak", m.first_step_peak))
        if m.reserved is not None:
            out.append(_bytes(sec, "reserved by the allocator (est.)", m.reserved,
                              "nvidia-smi shows this plus the CUDA context"))
        if m.inference_peak is not None and m.mode == "training":
            out.append(_bytes(sec, "inference peak (no_grad)", m.inference_peak))
        if m.recompute_flops:
            out.append(_count(sec, "recompute FLOPs (checkpointing)", m.recompute_flops))
    if profile.kv_cache is not None:
        kv = profile.kv_cache
        out.append(_bytes("KV cache", f"batch {kv.batch}, context {kv.context}", kv.bytes, kv.formula))
    return out


def _device_figures(sec: str, m: MemoryResult) -> list[Figure]:
    """What a CUDA target adds to the peak: library workspaces live at it and the allocator's rounding."""
    out = []
    workspaces = peak_workspaces(m)
    if workspaces:
        out.append(_bytes(sec, "library workspaces (in the peak)", workspaces))
    if m.rounding:
        out.append(_bytes(sec, "allocator rounding (in the peak)", m.rounding))
    return out


def assumptions(profile: Profile) -> list[tuple[str, str, str]]:
    m = profile.memory
    return [] if m is None else [(a.name, a.value, a.meaning) for a in m.assumptions]


def notes(profile: Profile) -> list[str]:
    """Notes of the profile and of the memory analysis, and the coverage line."""
    out = list(profile.notes)
    if profile.memory is not None:
        out += list(profile.memory.notes)
    if profile.compute is not None:
        out.append(coverage_line(profile))
    return out
