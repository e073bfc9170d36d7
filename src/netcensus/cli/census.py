"""A parameter census of a checkpoint or safetensors file, from the file alone: no code is run."""

from __future__ import annotations

from typing import Any

from ..units import exact, nbytes, shape


def tensor_census(loaded: Any) -> str:
    rows = [("Tensor", "Shape", "Dtype", "Elements", "Bytes")]
    tied = {name: group[0] for group in loaded.tied for name in group[1:]}
    for t in loaded.tensors:
        note = f" (= {tied[t.name]})" if t.name in tied else ""
        rows.append((t.name + note, shape(t.shape), t.dtype, exact(t.numel), exact(t.nbytes)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [loaded.description]
    for k, r in enumerate(rows):
        lines.append("  ".join(c.rjust(widths[i]) if i >= 3 else c.ljust(widths[i]) for i, c in enumerate(r)))
        if k == 0:
            lines.append("-" * len(lines[-1]))
    lines.append(f"Total: {exact(loaded.total_elements)} elements in {len(loaded.tensors)} tensors, "
                 f"{exact(loaded.total_bytes)} B = {nbytes(loaded.total_bytes)}"
                 + (" (tied tensors counted once)" if loaded.tied else ""))
    for dtype, b in sorted(loaded.bytes_by_dtype().items()):
        lines.append(f"  {dtype}: {exact(b)} B = {nbytes(b)}")
    lines.extend(f"note: {n}" for n in loaded.notes)
    lines.append("A parameter census from the file alone: no code was run, so no shapes of activations, "
                 "compute or memory; profile the model's code for those.")
    return "\n".join(lines)


def tensor_json(loaded: Any) -> dict[str, Any]:
    return {
        "source": loaded.description, "notes": list(loaded.notes),
        "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "nbytes": t.nbytes}
                    for t in loaded.tensors],
        "tied": [list(g) for g in loaded.tied],
        "total_elements": loaded.total_elements, "total_bytes": loaded.total_bytes,
        "bytes_by_dtype": loaded.bytes_by_dtype(),
    }
