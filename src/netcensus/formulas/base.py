"""The shape of an explained number: a formula, the same formula with the numbers bound, the value.

Every analytic figure netcensus shows can explain itself with one of these. ``symbolic`` uses the
names of the module's constructor arguments (``k_h*k_w*C_in/groups``); ``numbers`` is the same text
with the values substituted, so a reader can redo the arithmetic; ``short`` is a compact form for a
table column.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Formula:
    """An analytic count, e.g. the parameters of one module."""

    symbolic: str
    numbers: str
    value: int
    short: str = ""
    notes: tuple[str, ...] = ()
    """Facts a reader needs, e.g. ``"bias=False: no bias term"``."""
    terms: tuple[tuple[str, int], ...] = ()
    """Optional break-down of ``value`` into named parts (``("weight", 16777216), ("bias", 4096)``)."""

    def line(self) -> str:
        """``symbolic = numbers = value`` with thousands separators."""
        return f"{self.symbolic} = {self.numbers} = {self.value:,}"


@dataclass(frozen=True, slots=True)
class DimFormula:
    """How one output dimension is computed."""

    name: str
    """What the dimension is: ``"H"``, ``"W"``, ``"L"``, ``"D"``, ``"features"``..."""
    symbolic: str
    numbers: str
    value: int


@dataclass(frozen=True, slots=True)
class ShapeFormula:
    """The analytic output shape of a module for given input shapes."""

    shape: tuple[int, ...]
    dims: tuple[DimFormula, ...] = field(default_factory=tuple)
