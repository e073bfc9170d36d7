"""Cost formulas for aten ops: a registry keyed by op, one file per family, and the tracer's ``expand``.

Public API
----------
* :class:`OpCost` - what a formula returns (macs, flops, core_macs, formula, causal, notes).
* :func:`register` / :func:`register_region` - the decorators that fill the registry (they refuse
  duplicates and non-ops).
* :func:`evaluate` - classify and count one ``OpEvent``: counted, zero by definition, or unsupported.
* :func:`evaluate_region` - count one watched-function call (``Trace.regions``) as a whole.
* :func:`resolve` - how an op name is handled, without a call.
* :func:`expand` - pass to ``trace_model(expand=...)`` so ops without a formula are decomposed.
* :data:`ZERO_BY_DEFINITION` - the one commented set of ops that cost nothing.

Conventions are in each family's module docstring and in docs/conventions.md.
"""

from . import (  # noqa: F401 - importing a family registers its formulas
    attention,
    conv,
    embedding,
    fft,
    interpolate,
    linalg,
    loss,
    matmul,
    moe,
    norm,
    pointwise,
    pooling,
    reduction,
    rnn,
    scatter,
    softmax,
)
from .call import Call
from .cost import FormulaError, OpCost
from .evaluate import COUNTED, UNSUPPORTED, ZERO, Evaluation, Resolution, evaluate, evaluate_region, resolve
from .expand import expand
from .registry import (
    DuplicateFormulaError,
    RegionCall,
    register,
    register_region,
    registered,
    registered_regions,
)
from .zero import ZERO_BY_DEFINITION, zero_category

__all__ = [
    "COUNTED",
    "UNSUPPORTED",
    "ZERO",
    "ZERO_BY_DEFINITION",
    "Call",
    "DuplicateFormulaError",
    "Evaluation",
    "FormulaError",
    "OpCost",
    "RegionCall",
    "Resolution",
    "evaluate",
    "evaluate_region",
    "expand",
    "register",
    "register_region",
    "registered",
    "registered_regions",
    "resolve",
    "zero_category",
]
