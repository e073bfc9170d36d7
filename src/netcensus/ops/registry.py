"""The registry of cost formulas, keyed by aten op name, filled by decorators that refuse duplicates.

A formula is a small pure function of one call (:class:`~netcensus.ops.call.Call`) returning an
:class:`~netcensus.ops.cost.OpCost`. It is registered for an ``OpOverload`` (``aten.add.Tensor``:
that overload only) or an ``OpOverloadPacket`` (``aten.add``: every overload without one of its own).
In-place variants (``add_``) use their functional op's formula unless they have their own.

Region formulas count one call of a watched torch function (``Trace.regions``) as a whole; they are
registered by region name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch

from ..errors import SpecError
from .call import Args, Call
from .cost import OpCost

Formula = Callable[[Call], OpCost]
RegionFormula = Callable[["RegionCall"], OpCost]
F = TypeVar("F", bound=Callable[..., OpCost])


class DuplicateFormulaError(SpecError):
    """A second formula for an op (or region name) that already has one."""


class RegionCall(Args):
    """One watched-function call, for one phase, as a region formula sees it."""

    __slots__ = ("region", "phase")

    def __init__(self, region: Any, phase: str):
        from .call import signature

        sig = signature(_REGION_SCHEMAS.get(region.name, ""))
        super().__init__(region.name, region.args, region.kwargs, sig)
        self.region = region
        self.phase = phase


_FORMULAS: dict[str, Formula] = {}
_REGIONS: dict[str, RegionFormula] = {}
_REGION_SCHEMAS: dict[str, str] = {}


def op_key(op: object) -> str:
    """The registry key of an aten op object; TypeError for anything that is not an op."""
    if isinstance(op, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        return str(op)
    raise TypeError(f"not an aten op (OpOverload or OpOverloadPacket): {op!r}")


def register(*ops: object, optional: bool = False) -> Callable[[F], F]:
    """Decorator: register a formula for each op in ``ops``; refuses non-ops and duplicates.

    An empty ``ops`` is an error unless ``optional`` (ops looked up with :func:`aten_ops`, which
    this torch may lack).
    """
    if not ops and not optional:
        raise TypeError("register() needs at least one op")
    keys = [op_key(op) for op in ops]

    def decorate(fn: F) -> F:
        for key in keys:
            if key in _FORMULAS:
                raise DuplicateFormulaError(f"{key} already has a formula: {_FORMULAS[key].__qualname__}")
        for key in keys:
            _FORMULAS[key] = fn
        return fn

    return decorate


def register_region(name: str, schema_op: str) -> Callable[[F], F]:
    """Decorator: register a formula for regions called ``name``; arguments are read by the names of
    the schema of ``schema_op`` (an op name such as ``"aten.scaled_dot_product_attention.default"``)."""

    def decorate(fn: F) -> F:
        if name in _REGIONS:
            raise DuplicateFormulaError(f"region {name!r} already has a formula")
        _REGIONS[name] = fn
        _REGION_SCHEMAS[name] = schema_op
        return fn

    return decorate


def find(op_name: str) -> tuple[str, Formula] | None:
    """The formula that counts ``op_name`` (``"aten.add_.Tensor"``) and the key it was found under.

    Order: the overload itself, its packet, then the same two for the functional op of an in-place
    variant (``add_`` -> ``add``).
    """
    for key in _candidates(op_name):
        fn = _FORMULAS.get(key)
        if fn is not None:
            return key, fn
    return None


def _candidates(op_name: str) -> list[str]:
    parts = op_name.split(".")
    if len(parts) != 3:
        return [op_name]
    ns, name, overload = parts
    keys = [op_name, f"{ns}.{name}"]
    if name.endswith("_") and not name.endswith("__"):
        base = name[:-1]
        keys += [f"{ns}.{base}.{overload}", f"{ns}.{base}"]
    return keys


def find_region(name: str) -> RegionFormula | None:
    return _REGIONS.get(name)


def registered() -> dict[str, Formula]:
    """A copy of the registry: key -> formula."""
    return dict(_FORMULAS)


def registered_regions() -> dict[str, RegionFormula]:
    return dict(_REGIONS)


def aten_op(name: str) -> Any:
    """``torch.ops.aten.<name>`` (``"add"`` or ``"add.Tensor"``), or None when this torch lacks it.

    Formulas for ops that an older or newer torch does not have are skipped rather than failing
    the import.
    """
    packet_name, _, overload = name.partition(".")
    try:
        packet = getattr(torch.ops.aten, packet_name)
        return getattr(packet, overload) if overload else packet
    except (AttributeError, RuntimeError):
        return None


def aten_ops(*names: str) -> tuple[Any, ...]:
    """The ops among ``names`` that this torch has (see :func:`aten_op`)."""
    found = (aten_op(n) for n in names)
    return tuple(op for op in found if op is not None)
