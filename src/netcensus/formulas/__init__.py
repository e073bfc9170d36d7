"""Analytic formulas for modules: parameter counts, output shapes, and input diagnostics.

Public interface (pure functions; modules are only read, never run):

* :func:`describe` -- constructor-like text, ``"Conv2d(1, 96, k=11, s=4, p=1)"``.
* :func:`param_formula` -- the module's own parameter count with its arithmetic, or ``None``.
* :func:`shape_formula` -- the analytic output shape with a formula per computed dim, or ``None``.
* :func:`diagnose` -- after a failed forward, why these input shapes do not fit, or ``None``.
* :func:`explain_lines` -- the ``--explain`` lines of one layer.

The result types (:class:`Formula`, :class:`DimFormula`, :class:`ShapeFormula`) live in ``base``.
"""

from netcensus.formulas.base import DimFormula, Formula, ShapeFormula
from netcensus.formulas.describe import describe
from netcensus.formulas.diagnose import diagnose
from netcensus.formulas.explain import explain_lines
from netcensus.formulas.params import param_formula
from netcensus.formulas.shapes import shape_formula

__all__ = [
    "DimFormula",
    "Formula",
    "ShapeFormula",
    "describe",
    "diagnose",
    "explain_lines",
    "param_formula",
    "shape_formula",
]
