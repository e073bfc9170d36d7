"""The result of one analysis: plain data, renderable without torch.

A :class:`Profile` holds one :class:`LayerRow` per module (execution order, then modules that were
never called), the parameter totals, and the notes and warnings the analyses produced. It keeps no
reference to the model or to any tensor.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
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


@dataclass
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
    trace: Any = field(default=None, repr=False, compare=False)
    """The :class:`netcensus.trace.events.Trace` the figures come from (not serialised)."""

    @property
    def param_bytes(self) -> int:
        return sum(self.param_bytes_by_dtype.values())

    def layer(self, path: str) -> LayerRow:
        for row in self.layers:
            if row.path == path:
                return row
        raise KeyError(f"no layer {path!r}; layers are: {', '.join(r.path for r in self.layers[:20])}")

    def table(self, depth: int | None = -1) -> str:
        from .report.table import render_table

        return render_table(self, self.depth if depth == -1 else depth)

    def explain(self) -> str:
        from .report.explain import render_explain

        return render_explain(self)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "trace"}
        data["layers"] = [dataclasses.asdict(r) for r in self.layers]
        return data

    def __str__(self) -> str:
        return self.table()
