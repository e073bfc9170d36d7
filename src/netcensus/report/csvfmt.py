"""``--format csv``: one row per module (every module, no collapsing, no depth limit), raw numbers.

Numbers are exact integers without separators (counts, MACs, FLOPs, bytes); shapes are written
``1x3x224x224`` with ``;`` between tensors; ``path`` is ``""`` for the root, whose class name is in
``type``. ``--columns`` picks columns by their table keys (``params``, ``flops``...).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..results.profile import LayerRow, Profile

FIELDS = ("path", "type", "depth", "calls", "input_shapes", "output_shapes", "params", "own_params",
          "trainable_params", "buffers", "macs", "core_macs", "flops", "forward_flops", "backward_flops",
          "unsupported_calls", "saved_bytes", "peak_bytes", "not_called", "describe", "formula")

BY_KEY = {"name": "path", "type": "type", "input": "input_shapes", "output": "output_shapes",
          "params": "params", "own": "own_params", "train": "trainable_params", "calls": "calls",
          "macs": "macs", "core_macs": "core_macs", "flops": "flops", "fwd_flops": "forward_flops",
          "bwd_flops": "backward_flops", "saved": "saved_bytes", "peak": "peak_bytes", "buffers": "buffers",
          "formula": "formula", "describe": "describe"}


def _shapes(shapes: list[tuple[int, ...]]) -> str:
    return ";".join("x".join(str(x) for x in s) for s in shapes)


def _value(row: LayerRow, name: str) -> Any:
    v = getattr(row, name)
    if name in ("input_shapes", "output_shapes"):
        return _shapes(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def csv_fields(columns: Sequence[str] | None) -> list[str]:
    if not columns:
        return list(FIELDS)
    fields = ["path"] + [BY_KEY[k] for k in columns if k != "name"]
    return list(dict.fromkeys(fields))


def render_csv(profile: Profile, columns: Sequence[str] | None = None) -> str:
    fields = csv_fields(columns)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for row in profile.layers:
        writer.writerow([_value(row, f) for f in fields])
    return buf.getvalue()
