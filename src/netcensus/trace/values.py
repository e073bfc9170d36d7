"""Known values: the small tensors of a meta trace whose values a real run would have.

Meta tensors have no values, yet forwards read values while they build masks and positions:
transformers' ``padding_mask.all()`` (may the mask be skipped?),
``(packed_sequence_mask[:, -1] == 0).all()`` (are sequences packed?), ``.item()``, ``bool(t)``,
``nonzero``, boolean indexing. The values read there come from the integer inputs (token ids,
attention masks) and from tensors the forward makes itself (``arange`` positions), not from the
weights. So beside each such meta tensor the tracer keeps a CPU tensor holding its value, and computes
it as the real run would:

* an integer or bool input the user gave as a real tensor: its values (a copy);
* an integer or bool input given on meta (a shape, no values): an **assumption**: an input whose keyword
  name contains ``mask`` is all ones (no padding), any other is all zeros (the value netcensus gives
  integer inputs it makes on a real device). The assumption is reported (``Trace.assumptions``) only
  when a value the forward read depends on it;
* the output of a deterministic factory op (``arange``, ``zeros``, ``ones``, ``full``...);
* the outputs of any other op whose tensor arguments are all known: the op is run on the CPU values,
  so views stay views and in-place writes reach their base, as on a real device. Outputs of more than
  :data:`LIMIT` elements are left unknown (they are masks handed to attention, not values read), and so
  is everything computed from the weights.

A value read of a known tensor (``aten._local_scalar_dense``, which ``.item()``, ``bool(t)`` and
``int(t)`` reach, ``aten.equal``, ``Tensor.tolist``) returns the CPU value; an op whose meta kernel
cannot size its output without values (``nonzero``, boolean indexing, ``masked_select``, ``unique``,
``repeat_interleave``) is run on the CPU values and given a meta output of that shape; where only the
indices or mask decide the shape (``hidden[mask]``), the other arguments may be unknown. The path the
forward then takes is the one a real run with these inputs takes.

An assumption on random draws: a small uniform draw (``torch.rand([])``, at most :data:`DRAW_LIMIT`
elements) takes the largest value below 1. Forwards read such a draw for LayerDrop (``if
torch.rand([]) < layerdrop: skip the layer``: wav2vec2, HuBERT, WavLM and others default to 0.1), so
every layer runs, the most a training step costs; a real step skips each with that probability. The
trace names the assumption (:data:`DRAWS`) when a value read depends on it.

``nn.TransformerEncoder`` in eval with a padding mask would pack the valid positions into a nested
tensor (after ``aten._nested_tensor_from_mask_left_aligned`` checks the mask's layout); nested tensors
have no meta form, so the check answers "not left aligned" and the encoder runs on the padded tensors,
which the trace names (:data:`PADDED`).

``torch.distributions`` validates its parameters when built (``scale > 0`` ... ``.all()``, a value read of
activations): on meta the checks are skipped (:func:`unvalidated_distributions`), the parameters assumed
valid, and the trace says so (:data:`DISTRIBUTIONS`) when a distribution was built.

One more assumption, on activations: ``torch.isinf/isnan/isfinite`` of a tensor with no known value
(T5's and BART's fp16 overflow clamps: ``if not torch.isfinite(h).all()``) answer "finite", as a
healthy run's would, and the trace names it (:data:`FINITE`). Any other value read of a tensor computed
from the weights still fails as before: no run of the model can know it without its weights.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils._python_dispatch import _disable_current_modes

from .common import NO_TORCH_FUNCTION, note

LIMIT = 1 << 20
"""Elements: larger tensors get no CPU value (what is read for control flow is small)."""

_FACTORY: dict[Any, bool] = {}
_PLAIN = (torch.Tensor, torch.nn.Parameter)


def _is_factory(func: Any) -> bool:
    """A deterministic op with no tensor argument that returns one initialised tensor."""
    found = _FACTORY.get(func)
    if found is None:
        found = False
        if isinstance(func, torch._ops.OpOverload):
            schema = func._schema
            name = schema.name.split("::")[-1]
            found = (not any("Tensor" in str(a.type) for a in schema.arguments)
                     and len(schema.returns) == 1 and str(schema.returns[0].type) == "Tensor"
                     and torch.Tag.nondeterministic_seeded not in func.tags
                     and not name.startswith(("empty", "_empty", "new_empty")))
        _FACTORY[func] = found
    return found


_aten = torch.ops.aten
_SHAPE_FREE: dict[Any, tuple[int, ...]] = {
    _aten.index.Tensor: (0,),
    _aten.index_put_.default: (0, 2),
    _aten.index_put.default: (0, 2),
    _aten._index_put_impl_.default: (0, 2),
    _aten.masked_select.default: (0,),
    _aten.repeat_interleave.self_Tensor: (0,),
    _aten._pack_padded_sequence.default: (0,),
    _aten._pad_packed_sequence.default: (0,),
    _aten._ctc_loss.default: (0, 2),
    _aten._ctc_loss.Tensor: (0, 2),
    _aten._ctc_loss_backward.default: (0, 1, 3, 5, 6),
    _aten._ctc_loss_backward.Tensor: (0, 1, 3, 5, 6),
}
"""Ops whose output shape depends on the values of some arguments only (boolean indices, a mask, the
repeats): positions of the others, whose values may be unknown (``x[mask]`` of hidden states ``x``)."""

_HOST_RESULTS: dict[Any, frozenset[int]] = {
    _aten._pack_padded_sequence.default: frozenset({1}),
    _aten._pad_packed_sequence.default: frozenset({1}),
}
"""Ops whose real kernels return some outputs on the CPU whatever the device (a PackedSequence's
``batch_sizes``, the lengths ``pad_packed_sequence`` gives back): their output positions. They are
returned as CPU tensors, as a real run has them (the RNN that reads ``batch_sizes`` needs the values),
computed from the known arguments only."""

_WRITES: dict[Any, tuple[int, ...]] = {}


def _written(func: Any) -> tuple[int, ...]:
    """Positions of the arguments ``func`` writes to (in-place and out= ops)."""
    found = _WRITES.get(func)
    if found is None:
        found = ()
        if isinstance(func, torch._ops.OpOverload):
            found = tuple(i for i, a in enumerate(func._schema.arguments)
                          if a.alias_info is not None and a.alias_info.is_write)
        _WRITES[func] = found
    return found


class _Unknown(Exception):
    """An argument of the op has no known value."""


class KnownValues:
    """The CPU values of the meta tensors of one trace that have one (see the module docstring)."""

    def __init__(self) -> None:
        self.table: dict[int, tuple[weakref.ref, torch.Tensor, frozenset[str]]] = {}
        self.poisoned: set[int] = set()
        """CPU storages written by an op with an unknown argument: their values are no longer known."""
        self.poisoned_keep: list[Any] = []
        """Those storages, kept alive so that their addresses are not reused."""
        self.used: dict[str, None] = {}
        """The assumptions that values read so far depended on (ordered, no repeats)."""

    # -- the table ---------------------------------------------------------------------------------

    def give(self, t: torch.Tensor, value: torch.Tensor, assumed: frozenset[str] = frozenset()) -> None:
        key = id(t)
        table = self.table

        def died(_ref: weakref.ref, key: int = key) -> None:
            entry = table.get(key)
            if entry is not None and entry[0] is _ref:
                del table[key]

        try:
            ref = weakref.ref(t, died)
        except TypeError:
            return
        table[key] = (ref, value, assumed)

    def get(self, t: torch.Tensor) -> tuple[torch.Tensor, frozenset[str]] | None:
        if t.device.type != "meta":
            return (t, frozenset()) if t.device.type == "cpu" else None
        entry = self.table.get(id(t))
        if entry is None or entry[0]() is not t:
            return None
        value = entry[1]
        if self.poisoned and value.untyped_storage().data_ptr() in self.poisoned:
            return None
        return value, entry[2]

    def seed_input(self, given: torch.Tensor, stand_in: torch.Tensor, name: str) -> None:
        """An input of the trace: ``given`` as the user passed it, ``stand_in`` its meta stand-in."""
        if given.is_floating_point() or given.is_complex() or given.numel() > LIMIT:
            return
        if given.device.type == "cpu":
            self.give(stand_in, given.detach().clone())
        elif given.device.type == "meta":
            if "mask" in name.lower():
                fill, what = 1, f"{name} has no values (given on meta): assumed all ones (no padding)"
            else:
                fill, what = 0, f"{name} has no values (given on meta): assumed all zeros"
            self.give(stand_in, torch.full(tuple(given.shape), fill, dtype=given.dtype), frozenset({what}))

    # -- ops -----------------------------------------------------------------------------------------

    def _cpu(self, value: Any, assumed: set[str], budget: list[int]) -> Any:
        if isinstance(value, torch.Tensor):
            known = self.get(value)
            if known is None:
                raise _Unknown
            budget[0] += min(known[0].numel(), known[0].untyped_storage().nbytes() // known[0].element_size())
            if budget[0] > LIMIT:
                raise _Unknown
            assumed.update(known[1])
            return known[0]
        if isinstance(value, (list, tuple)):
            return type(value)(self._cpu(v, assumed, budget) for v in value)
        if isinstance(value, torch.device) and value.type == "meta":
            return torch.device("cpu")
        return value

    def evaluate(self, func: Callable[..., Any], args: tuple, kwargs: dict, free: tuple[int, ...] = ()
                 ) -> tuple[Any, frozenset[str], bool]:
        """``func`` run on the CPU values of its arguments: (its result, the assumptions they rest on,
        whether the result's values are known). Raises :class:`_Unknown` when an argument has no known
        value, except at the positions ``free`` (arguments whose values do not decide the output's
        shape): there a stand-in of zeros is used, and the result's values are not known."""
        assumed: set[str] = set()
        budget = [0]
        exact = True
        cpu_args = []
        written = _written(func)
        for i, a in enumerate(args):
            if i in free and isinstance(a, torch.Tensor) and self.get(a) is None:
                exact = False
                if i in written:  # written in place: a real tensor (one element per address)
                    if a.numel() > 8 * LIMIT:
                        raise _Unknown
                    cpu_args.append(torch.zeros(a.shape, dtype=a.dtype))
                else:  # read only: one zero seen through every index, nothing allocated
                    cpu_args.append(torch.zeros((), dtype=a.dtype).expand(a.shape))
            else:
                cpu_args.append(self._cpu(a, assumed, budget))
        cpu_kwargs = {k: self._cpu(v, assumed, budget) for k, v in kwargs.items()}
        with NO_TORCH_FUNCTION(), torch.no_grad():
            out = func(*cpu_args, **cpu_kwargs)
        return out, frozenset(assumed), exact

    def after(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        """Give the outputs of an op that ran on meta their CPU values, when its arguments have them."""
        table = self.table
        if func in _UNIFORM_DRAWS:
            if isinstance(out, torch.Tensor) and out.is_meta and out.is_floating_point() \
                    and out.numel() <= DRAW_LIMIT:
                top = torch.nextafter(torch.ones((), dtype=out.dtype), torch.zeros((), dtype=out.dtype))
                self.give(out, top.expand(out.shape), frozenset({DRAWS}))
            return
        if not table and not _is_factory(func) and not any(type(a) in _PLAIN and a.device.type == "cpu"
                                                           for a in args):
            return  # nothing known yet, and no CPU tensor (a value) among the arguments
        written = _written(func)
        if not written:
            for a in args:  # the common case, quickly: an argument with no known value (an activation)
                if type(a) in _PLAIN and a.device.type == "meta" and id(a) not in table:
                    return
        if not written and not _any_tensor_out(out):
            return
        if not any(isinstance(o, torch.Tensor) and o.numel() > LIMIT for o in _flat(out)):
            try:
                cpu_out, assumed, _ = self.evaluate(func, args, kwargs)
            except _Unknown:
                pass
            except Exception:  # a CPU kernel that refuses what the meta kernel took: leave it unknown
                pass
            else:
                self._give_outputs(out, cpu_out, assumed)
                return
        for i in written:  # not computed: what the op wrote is no longer known
            self._forget(args[i] if i < len(args) else None)
        for name, value in kwargs.items():  # out= arguments
            if name == "out" and isinstance(value, torch.Tensor) and value.device.type == "meta":
                self.table.pop(id(value), None)

    def _give_outputs(self, out: Any, cpu_out: Any, assumed: frozenset[str]) -> None:
        metas, cpus = list(_flat(out)), list(_flat(cpu_out))
        if len(metas) != len(cpus):
            return
        for m, c in zip(metas, cpus):
            if isinstance(m, torch.Tensor) and isinstance(c, torch.Tensor) and m.device.type == "meta" \
                    and m.shape == c.shape:
                self.give(m, c, assumed)

    def _forget(self, target: Any) -> None:
        """``target`` was written with values that are not known: so are its own, and its aliases'."""
        known = self.get(target) if isinstance(target, torch.Tensor) else None
        if known is not None and target.device.type == "meta":
            storage = known[0].untyped_storage()
            self.poisoned.add(storage.data_ptr())
            self.poisoned_keep.append(storage)

    def read(self, func: Any, args: tuple, kwargs: dict, error: BaseException) -> Any:
        """The result of an op whose meta kernel raised ``error`` for want of values: computed from the
        known values (meta tensors for tensor outputs), or ``error`` raised again when some are unknown."""
        if func in _ASSUMED_RESULTS:
            value, assumption = _ASSUMED_RESULTS[func]
            self.used[assumption] = None
            return value
        written = _written(func)
        try:
            cpu_out, assumed, exact = self.evaluate(func, args, kwargs, _SHAPE_FREE.get(func, ()))
        except Exception:  # unknown values, or an error the CPU kernel also raises: the meta kernel's
            raise error from None
        self.used.update(dict.fromkeys(sorted(assumed)))
        if written:  # in place: the op returns what it wrote to, whose shape it does not change
            target = args[written[0]]
            if not exact:
                self._forget(target)
            return target
        host = _HOST_RESULTS.get(func)
        if host and isinstance(cpu_out, tuple):
            return tuple(o if i in host else self._to_meta(o, assumed if exact else None)
                         for i, o in enumerate(cpu_out))
        return self._to_meta(cpu_out, assumed if exact else None)

    def _to_meta(self, value: Any, assumed: frozenset[str] | None) -> Any:
        """Meta tensors shaped as the CPU results, holding them as known values unless ``assumed`` is None
        (values computed from stand-ins)."""
        if isinstance(value, torch.Tensor):
            meta = torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device="meta")
            if assumed is not None and value.numel() <= LIMIT:
                self.give(meta, value, assumed)
            return meta
        if isinstance(value, (list, tuple)):
            return type(value)(self._to_meta(v, assumed) for v in value)
        return value

    def torch_function(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """A call of one of :data:`FUNCTIONS` (seen at the torch-function level, by the tracer's watcher)."""
        if func is _TOLIST:
            t = args[0]
            return self.tolist(t) if isinstance(t, torch.Tensor) and t.is_meta else func(*args, **kwargs)
        out = func(*args, **kwargs)
        x = args[0] if args else kwargs.get("input")
        if isinstance(x, torch.Tensor) and x.is_meta and x.is_floating_point() \
                and isinstance(out, torch.Tensor) and out.is_meta and self.get(x) is None:
            # an activation checked for inf/nan: a healthy run has none (T5's and BART's fp16 clamps)
            with NO_TORCH_FUNCTION(), _disable_current_modes():  # (not an op of the model: not recorded)
                value = torch.full((), _FINITE[func], dtype=torch.bool, device="cpu").expand(out.shape)
            self.give(out, value, frozenset({FINITE}))
        return out

    def tolist(self, t: torch.Tensor) -> Any:
        """``t.tolist()`` for a known meta tensor (the torch-function level read, which no aten op sees)."""
        known = self.get(t)
        if known is None:
            raise NotImplementedError("Cannot copy out of meta tensor; no data! (the value read comes from "
                                      "tensors that have no values on meta)")
        self.used.update(dict.fromkeys(sorted(known[1])))
        return known[0].tolist()


PADDED = ("nn.TransformerEncoder with a padding mask in eval: traced on the padded tensors (the "
          "figures include the padded positions; PyTorch's fast path packs the valid ones into a nested "
          "tensor on a real device, which the trace does not model)")
_ASSUMED_RESULTS: dict[Any, tuple[Any, str]] = {
    _aten._nested_tensor_from_mask_left_aligned.default: (False, PADDED),
}
"""Ops with no meta form whose answer is assumed (the result, the assumption the trace names)."""
DISTRIBUTIONS = ("torch.distributions argument checks were skipped (they read values meta tensors do "
                 "not have): the distributions' parameters were assumed valid")
DRAW_LIMIT = 16
"""Elements: a uniform draw of at most this many gets the assumed value (LayerDrop draws one scalar)."""
DRAWS = ("random draws the forward reads (LayerDrop's torch.rand([]) < p) were taken as the largest value "
         "below 1: no layer is skipped, the most a step costs (a real step skips each with probability p)")
_UNIFORM_DRAWS = frozenset({_aten.rand.default, _aten.rand.generator, _aten.rand_like.default})
FINITE = ("activations were assumed finite (no inf or nan) where the forward checks them "
          "(torch.isinf/isnan/isfinite on values meta tensors do not have)")
_TOLIST = torch.Tensor.tolist
_FINITE: dict[Any, bool] = {}
for _name, _finite in (("isinf", False), ("isnan", False), ("isposinf", False), ("isneginf", False),
                       ("isfinite", True)):
    for _namespace in (torch, torch.Tensor):
        if hasattr(_namespace, _name):
            _FINITE[getattr(_namespace, _name)] = _finite
FUNCTIONS: frozenset[Any] = frozenset({_TOLIST, *_FINITE})
"""Torch functions the tracer's watcher hands to :meth:`KnownValues.torch_function`: ``Tensor.tolist``
(a value read no aten op sees) and the inf/nan checks (whose answer on activations is assumed)."""


def _flat(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    return [value]


def _any_tensor_out(out: Any) -> bool:
    return isinstance(out, torch.Tensor) or (isinstance(out, (list, tuple))
                                             and any(isinstance(o, torch.Tensor) for o in _flat(out)))


_NO_SHAPE = torch.Size()


@contextmanager
def unvalidated_distributions() -> Iterator[None]:
    """Within the block, ``torch.distributions`` objects are built without checking their arguments
    (those checks read values); the first that would have checked leaves :data:`DISTRIBUTIONS` in the
    trace's notes. ``Distribution.__init__`` is put back on exit."""
    from torch.distributions import Distribution

    original = Distribution.__init__
    default = Distribution._validate_args

    def init(self: Any, batch_shape: torch.Size = _NO_SHAPE, event_shape: torch.Size = _NO_SHAPE,
             validate_args: bool | None = None) -> None:
        if validate_args or (validate_args is None and default):
            note(DISTRIBUTIONS)
        original(self, batch_shape, event_shape, validate_args=False)

    Distribution.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        Distribution.__init__ = original  # type: ignore[method-assign]
