"""The result of one analysis: plain data, renderable without torch.

A :class:`Profile` holds one :class:`LayerRow` per module (execution order, then modules that were
never called), the parameter totals, and the notes and warnings the analyses produced. It keeps no
reference to the model or to any tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import schema


@dataclass(frozen=True)
class LayerRow:
    path: str
    """state_dict-style dotted path; ``""`` for the root."""
    type: str
    depth: int
    """0 for the root, 1 for its children, ..."""
    calls: int
    """How many times the module's forward ran in the trace."""
    input_shapes: list[tuple[int, ...]]
    """Shapes of the tensors of the first call's inputs (positional, then keyword), in order."""
    output_shapes: list[tuple[int, ...]]
    """Shapes of the tensors of the first call's output, flattened in order."""
    params: int
    """Parameters of the module and its children (a shared tensor counted once in the subtree)."""
    own_params: int
    """Parameters registered directly on the module, counted at their first owner only."""
    trainable_params: int
    """Trainable parameters of the subtree."""
    input_text: str = ""
    output_text: str = ""
    describe: str = ""
    formula: str = ""
    """Short parameter formula with numbers bound, for the table."""
    explain: list[str] = field(default_factory=list)
    """Lines of the --explain block for this layer."""
    warnings: list[str] = field(default_factory=list)
    buffers: int = 0
    """Elements of buffers registered directly on the module."""
    not_called: bool = False
    """True for a module with a forward of its own that never ran in the trace."""
    macs: int = 0
    """MACs of the module and its children, over every traced phase (forward, and backward with train)."""
    flops: int = 0
    core_macs: int = 0
    """Conv, linear, matmul and attention-product MACs only (the convention of papers and model zoos)."""
    forward_flops: int = 0
    backward_flops: int = 0
    unsupported_calls: int = 0
    """Op calls inside this module that have no formula (not counted; see Profile.unsupported_ops)."""
    saved_bytes: int = 0
    """Bytes of activations the module and its children save for backward (training traces)."""
    peak_bytes: int = 0
    """Highest live bytes on the device while the module runs (forward or backward)."""

    @property
    def name(self) -> str:
        return self.path or self.type

    @property
    def trainable(self) -> str:
        """``"yes"``, ``"no"``, ``"partial"``, or ``""`` when the subtree has no parameters."""
        if self.params == 0:
            return ""
        if self.trainable_params == self.params:
            return "yes"
        return "no" if self.trainable_params == 0 else "partial"

    def __repr__(self) -> str:
        from ..units import exact, si

        text = f"LayerRow({self.name!r} {self.type}: {exact(self.params)} params"
        if self.output_text:
            text += f", output {self.output_text}"
        if self.flops:
            text += f", {si(self.flops)} FLOPs"
        if self.calls != 1:
            text += ", not called" if not self.calls else f", {self.calls} calls"
        return text + ")"


@dataclass(frozen=True)
class Profile:
    model: str
    """The model's class name (the root's name in reports)."""
    layers: list[LayerRow]
    total_params: int
    trainable_params: int
    frozen_params: int
    buffers: int
    """Elements in buffers (deduplicated), reported apart from parameters."""
    buffer_bytes: int
    param_bytes_by_dtype: dict[str, int]
    inputs: str
    """How the inputs were given, e.g. ``[1, 1, 224, 224] float32``."""
    device: str = "meta"
    mode: str = "eval"
    train: bool = False
    tied: list[list[str]] = field(default_factory=list)
    aliased: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    depth: int | None = 3
    """Default depth of the table rendered by ``str(profile)``; None shows every level."""
    compute: Any = field(default=None, repr=False)
    """The :class:`netcensus.analyses.compute.ComputeResult` (totals, per module, by op, coverage)."""
    memory: Any = field(default=None, repr=False)
    """The :class:`netcensus.results.memory.MemoryResult`: weights, gradients, optimizer, activations, peak,
    with its assumptions (bytes, per device when sharded)."""
    kv_cache: Any = field(default=None, repr=False)
    """The :class:`netcensus.results.kv_cache.KVCache` for ``kv_context``, when asked for."""
    time: Any = field(default=None, repr=False)
    """The :class:`netcensus.results.timing.TimeResult` of the step on ``gpu=``, when asked for."""
    time_compare: tuple[Any, ...] = field(default=(), repr=False)
    """The same step on each GPU of ``gpu_compare`` (``gpu`` first when given), side by side."""
    trace: Any = field(default=None, repr=False, compare=False)
    """The :class:`netcensus.events.Trace` the figures come from (not serialised)."""

    @property
    def param_bytes(self) -> int:
        return sum(self.param_bytes_by_dtype.values())

    # -- compute (totals over what was traced: forward, or forward + backward with train=True) ----

    @property
    def macs(self) -> int:
        return self.compute.totals.total.macs

    @property
    def flops(self) -> int:
        return self.compute.totals.total.flops

    @property
    def core_macs(self) -> int:
        return self.compute.totals.total.core_macs

    @property
    def forward_flops(self) -> int:
        return self.compute.totals.forward.flops

    @property
    def backward_flops(self) -> int:
        return self.compute.totals.backward.flops

    @property
    def causal_flops(self) -> int:
        """FLOPs with causal attention counted on its unmasked query/key pairs only."""
        return self.compute.totals.causal_total.flops

    @property
    def unsupported_ops(self) -> dict[str, int]:
        """Op name -> calls that have no formula (not counted, never a silent zero)."""
        return dict(self.compute.coverage.unsupported_by_op)

    def by_op(self) -> list[Any]:
        """The aten ops with call counts, MACs, FLOPs, the formula used and the modules they ran in
        (:class:`netcensus.analyses.compute.OpRow`), most FLOPs first."""
        return sorted(self.compute.by_op, key=lambda r: (-r.figures.flops, r.op))

    def layer(self, path: str) -> LayerRow:
        for row in self.layers:
            if row.path == path:
                return row
        raise KeyError(f"no layer {path!r}; layers are: {', '.join(r.path for r in self.layers[:20])}")

    def table(self, depth: int | None = -1, memory_columns: bool | None = None, **options: Any) -> str:
        """The terminal table. ``depth=-1``: the profile's default depth (None: every level).
        ``options``: ``columns``, ``sort``, ``expand``, ``width``, ``verbose`` (see
        :func:`netcensus.report.render.render`)."""
        return self.render("table", depth=depth, memory_columns=memory_columns, **options)

    def explain(self) -> str:
        return self.render("table", explain=True)

    def render(self, fmt: str = "table", **options: Any) -> str:
        """This profile as ``table``, ``json``, ``csv``, ``md`` or ``html`` text
        (:func:`netcensus.report.render.render` lists the options). The one place results reach the
        renderers, lazily: the report layer sits above this one."""
        from ..report import render

        return render.render(self, fmt, **options)

    def to_markdown(self, **options: Any) -> str:
        return self.render("md", **options)

    def to_csv(self, **options: Any) -> str:
        return self.render("csv", **options)

    def to_html(self, **options: Any) -> str:
        """One self-contained HTML page: sortable, collapsible layer tree, totals, charts."""
        return self.render("html", **options)

    def save(self, path: str, fmt: str | None = None, **options: Any) -> None:
        """Write the profile to ``path``, in the format its extension names (.json, .csv, .md, .html,
        .txt) unless ``fmt`` is given."""
        from ..report import render

        text = self.render(fmt or render.format_for_path(str(path)), **options)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")

    # -- JSON (schema in docs/json-schema.md; no torch needed to read it back) ----------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data with a ``schema_version`` (docs/json-schema.md)."""
        return schema.to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Rebuild a profile from :meth:`to_dict` data; every renderer accepts it. Torch is not imported."""
        return schema.from_dict(data, cls, LayerRow)

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Profile:
        import json

        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str) -> Profile:
        """Read a profile saved with ``--format json`` or :meth:`save`."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read())

    def _repr_html_(self) -> str:
        return self.render("html-fragment")

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        """One line: the model, its input, parameters, FLOPs and peak (``print(profile)``: the table)."""
        from ..units import exact, nbytes, si

        parts = [f"{exact(self.total_params)} params ({si(self.total_params)})"]
        if self.compute is not None:
            what = "forward + backward" if self.train else "forward"
            parts.append(f"{si(self.flops)} FLOPs {what}")
        if self.memory is not None:
            per = f" per device of {self.memory.devices}" if self.memory.devices > 1 else ""
            parts.append(f"peak {nbytes(self.memory.peak)}{per}")
        return (f"Profile({self.model}, input {self.inputs}: {', '.join(parts)}; {len(self.layers)} layers; "
                "print() shows the table)")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython: the table, like ``print(profile)``."""
        printer.text(repr(self) if cycle else str(self))

    def __rich__(self) -> Any:
        """rich (``rich.print(profile)``, the rich console): the table as plain text, no markup read."""
        from rich.text import Text

        return Text(str(self))
