"""The JSON form of a :class:`~netcensus.results.profile.Profile`: versioned, documented in docs/json-schema.md.

``to_dict(profile)`` gives plain JSON data (ints, strings, lists, dicts; tuples become lists);
``from_dict(data)`` rebuilds a Profile that every renderer accepts, without importing torch: the
compute, memory and KV-cache results come back as the analyses' own result classes (they live in the
torch-free :mod:`netcensus.results`), with what the JSON does not keep left empty: a loaded
``compute.modules`` is ``{}`` (the layer rows carry each module's figures) and ``compute.items`` is ``()``
(one item per op call).

Versioning: ``schema_version`` is ``"MAJOR.MINOR"``. A minor bump only adds keys (readers ignore keys
they do not know); a major bump renames, removes or changes the meaning of a key, and ``from_dict``
refuses a major it does not know.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import SpecError
from ..version import __version__
from .compute import ComputeFigures, ComputeResult, Coverage, Figures, OpRow
from .kv_cache import KVCache, KVLayer
from .memory import Assumption, MemoryResult, ModuleMemory, PeakPoint
from .timing import TimeResult

TOP_OPS = 200
"""Op rows of a time prediction kept in the JSON (the slowest first), so a large model's file stays small."""


SCHEMA_VERSION = "1.0"

UNITS = {
    "counts": "exact integers (parameters, elements, op calls)",
    "compute": "exact integers; 1 MAC = one multiply-accumulate = 2 FLOPs (docs/conventions.md)",
    "bytes": "exact integers, bytes (B)",
}

_NOT_FIELDS = ("layers", "compute", "memory", "kv_cache", "trace", "time", "time_compare")


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses as dicts, tuples as lists and dict keys as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def to_dict(profile: Any) -> dict[str, Any]:
    """The JSON data of a :class:`~netcensus.results.profile.Profile` (see docs/json-schema.md)."""
    data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "netcensus_version": __version__,
                            "units": dict(UNITS)}
    for f in dataclasses.fields(profile):
        if f.name not in _NOT_FIELDS:
            data[f.name] = jsonable(getattr(profile, f.name))
    data["layers"] = [jsonable(r) for r in profile.layers]
    c = profile.compute
    data["compute"] = None if c is None else {
        "totals": jsonable(c.totals),
        "by_op": jsonable(list(c.by_op)),
        "coverage": jsonable(c.coverage),
        "notes": list(c.notes),
    }
    data["memory"] = None if profile.memory is None else jsonable(profile.memory)
    data["kv_cache"] = None if profile.kv_cache is None else jsonable(profile.kv_cache)
    data["time"] = None if profile.time is None else profile.time.to_dict(top_ops=TOP_OPS)
    data["time_compare"] = [t.to_dict(top_ops=TOP_OPS) for t in profile.time_compare]
    return data


def check_version(data: dict[str, Any]) -> str:
    """The schema version of ``data``; raises :class:`SpecError` for a major this netcensus cannot read."""
    version = str(data.get("schema_version", "1.0"))
    major = version.split(".")[0]
    ours = SCHEMA_VERSION.split(".")[0]
    if major != ours:
        raise SpecError(
            f"the profile has JSON schema version {version}; this netcensus reads {ours}.x",
            fix="open it with the netcensus version that wrote it (its netcensus_version field), or "
                "re-profile the model")
    return version


def _pick(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that are fields of ``cls`` (a newer minor schema version may add keys)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _figures(data: dict[str, Any] | None) -> Figures:
    return Figures(**_pick(Figures, data or {}))


def _op_row(data: dict[str, Any]) -> OpRow:
    d = _pick(OpRow, data)
    d["figures"] = _figures(d.get("figures"))
    d["causal"] = _figures(d.get("causal"))
    d["modules"] = tuple(d.get("modules", ()))
    return OpRow(**d)


def _compute(data: dict[str, Any]) -> ComputeResult:
    totals = data["totals"]
    return ComputeResult(
        totals=ComputeFigures(**{f.name: _figures(totals.get(f.name))
                                 for f in dataclasses.fields(ComputeFigures)}),
        modules={},  # not saved: the layer rows carry each module's figures
        by_op=tuple(_op_row(r) for r in data.get("by_op", ())),
        coverage=Coverage(**_pick(Coverage, data["coverage"])),
        items=(),  # not saved: one item per op call
        notes=tuple(data.get("notes", ())),
    )


def _memory(data: dict[str, Any]) -> MemoryResult:
    d = _pick(MemoryResult, data)
    d["peak_at"] = PeakPoint(**_pick(PeakPoint, d["peak_at"]))
    d["checkpointed"] = tuple(d.get("checkpointed", ()))
    d["modules"] = tuple(ModuleMemory(**_pick(ModuleMemory, m)) for m in d.get("modules", ()))
    d["assumptions"] = tuple(Assumption(**_pick(Assumption, a)) for a in d.get("assumptions", ()))
    d["notes"] = tuple(d.get("notes", ()))
    return MemoryResult(**d)


def _kv_cache(data: dict[str, Any]) -> KVCache:
    d = _pick(KVCache, data)
    d["per_layer"] = tuple(KVLayer(**_pick(KVLayer, x)) for x in d.get("per_layer", ()))
    return KVCache(**d)


def from_dict(data: dict[str, Any], profile_cls: Any, row_cls: Any) -> Any:
    """Rebuild a profile of class ``profile_cls`` (rows of ``row_cls``) from :func:`to_dict`'s data (no
    torch needed): ``Profile.from_dict`` passes its own classes, so this module needs no import of them."""
    LayerRow, Profile = row_cls, profile_cls  # noqa: N806 - the classes, by their usual names
    if not isinstance(data, dict) or "layers" not in data or "model" not in data:
        raise SpecError("this JSON is not a netcensus profile (no 'model' and 'layers' keys)",
                        fix="give a file written by netcensus --format json")
    check_version(data)
    row_fields = {f.name for f in dataclasses.fields(LayerRow)}
    layers = []
    for r in data["layers"]:
        row = {k: v for k, v in r.items() if k in row_fields}
        row["input_shapes"] = [tuple(s) for s in row.get("input_shapes", ())]
        row["output_shapes"] = [tuple(s) for s in row.get("output_shapes", ())]
        layers.append(LayerRow(**row))
    names = {f.name for f in dataclasses.fields(Profile)} - set(_NOT_FIELDS)
    kwargs = {k: v for k, v in data.items() if k in names}
    compute = data.get("compute")
    memory = data.get("memory")
    kv = data.get("kv_cache")
    return Profile(
        layers=layers,
        compute=None if compute is None else _compute(compute),
        memory=None if memory is None else _memory(memory),
        kv_cache=None if kv is None else _kv_cache(kv),
        time=TimeResult.from_dict(data["time"]) if data.get("time") else None,
        time_compare=tuple(TimeResult.from_dict(t) for t in data.get("time_compare") or ()),
        **kwargs,
    )


__all__ = ["SCHEMA_VERSION", "UNITS", "check_version", "from_dict", "jsonable", "to_dict"]
