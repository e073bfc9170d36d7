"""Scaling in closed form: FLOPs and peak memory as exact polynomials in the batch size ``b`` and the
sequence length ``s``, sweeps over (b, s) answered from them, and fits answered from them.

* :func:`scaling_model` traces a model at the sizes of a small grid (2 batch sizes x 3 sequence lengths),
  recovers every quantity's polynomial exactly (:mod:`netcensus.analyses.scaling`) and checks it on one
  more traced size; a model that is not polynomial (an op sequence that depends on the size, padding to a
  multiple, a sliding window) raises :class:`~netcensus.analyses.scaling.NotPolynomial` with the reason.
* :func:`sweep` evaluates every point of a sweep from the polynomials (or, when the model is not
  polynomial, traces every point and says why): a :class:`~netcensus.results.scaling.SweepResult`.
* :func:`fit` answers "the largest batch / sequence that fits" from the polynomials (3 traces), then
  confirms it with a trace at the answer and one at the next size (5 traces in all); when a
  confirmation disagrees it falls back to the re-tracing search of :func:`netcensus.api.fit`.
* :func:`sweep_grid` runs :func:`sweep` over model configurations in a pool of processes (or any
  :class:`concurrent.futures.Executor`).

How sizes vary: dimension 0 of every input is the batch, dimension 1 (of inputs that have one) the
sequence, as :func:`netcensus.api.fit` does. Every figure is the one :func:`netcensus.profile` gives at
that size (``Profile.flops``, ``Profile.memory.peak``, ``Profile.total_params``).
"""

from ..analyses.scaling import NotPolynomial
from .core import ScalingModel, dask_client, scaling_model, sweep, sweep_grid
from .fit import fit

__all__ = ["NotPolynomial", "ScalingModel", "dask_client", "fit", "scaling_model", "sweep", "sweep_grid"]
