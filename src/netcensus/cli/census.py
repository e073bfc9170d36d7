"""A parameter census of a checkpoint or safetensors file, from the file alone: no code is run.

Tensors are grouped by module path down to ``--depth`` (``--all`` for every tensor); numbered blocks with
the same tensors (``layers.0`` ... ``layers.31``) are one row with their count, as in the profile table.
A file does not say which tensors are parameters: integer and boolean tensors, and the names PyTorch's
own layers give their buffers (BatchNorm's running statistics, rotary ``inv_freq``, ``position_ids``), are
counted as buffers, apart from the parameters, and the report says so.
"""

from __future__ import annotations

from typing import Any

from ..dtypes import FLOATING
from ..units import exact, nbytes, shape

BUFFER_NAMES = frozenset({"running_mean", "running_var", "num_batches_tracked", "inv_freq", "position_ids"})
"""Last name components that are buffers of PyTorch or transformers layers, not parameters."""


def is_buffer(t: Any) -> bool:
    return t.name.rsplit(".", 1)[-1] in BUFFER_NAMES or t.dtype not in FLOATING


def _groups(tensors: list[Any], depth: int | None) -> list[tuple[str, int, list[Any]]]:
    """(label, level, tensors) rows in file order: each module prefix down to ``depth`` levels, numbered
    siblings with identical contents collapsed into ``prefix.a-b xN``."""
    rows: list[tuple[str, int, list[Any]]] = []

    def walk(prefix: str, level: int, members: list[Any]) -> None:
        children: dict[str, list[Any]] = {}
        for t in members:
            rest = t.name[len(prefix) + 1:] if prefix else t.name
            children.setdefault(rest.split(".", 1)[0], []).append(t)
        keys = list(children)
        i = 0
        while i < len(keys):
            key, j = keys[i], i + 1
            if key.isdigit():  # a run of numbered siblings with the same tensors
                sig = _signature(children[key], f"{prefix}.{key}" if prefix else key)
                while j < len(keys) and keys[j].isdigit() and int(keys[j]) == int(keys[j - 1]) + 1 and \
                        _signature(children[keys[j]], f"{prefix}.{keys[j]}" if prefix else keys[j]) == sig:
                    j += 1
            path = f"{prefix}.{key}" if prefix else key
            block = [t for k in keys[i:j] for t in children[k]]
            label = path if j - i == 1 else f"{path}-{keys[j - 1]} x{j - i}"
            rows.append((label, level, block))
            leaf = len(children[key]) == 1 and children[key][0].name == path
            if not leaf and (depth is None or level < depth):
                walk(path, level + 1, children[key])
            i = j

    walk("", 1, sorted(tensors, key=_natural))
    return rows


def _natural(t: Any) -> tuple:
    """``layers.10.w`` after ``layers.9.w``: numbered components compare as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in t.name.split("."))


def _signature(tensors: list[Any], prefix: str) -> tuple:
    return tuple((t.name[len(prefix):], tuple(t.shape), t.dtype) for t in tensors)


def tensor_census(loaded: Any, depth: int | None = 3) -> str:
    unique = loaded._unique()
    tied = {name: group[0] for group in loaded.tied for name in group[1:]}
    table = [("Tensors", "Shape", "Dtype", "Elements", "Bytes")]
    for label, level, members in _groups(list(loaded.tensors), depth):
        counted = [t for t in members if t.name not in tied]
        if len(members) == 1 and members[0].name.endswith(label.split(" x")[0]) and " x" not in label:
            t = members[0]
            note = f" (= {tied[t.name]})" if t.name in tied else (" (buffer)" if is_buffer(t) else "")
            table.append(("  " * (level - 1) + label + note, shape(t.shape), t.dtype, exact(t.numel),
                          exact(t.nbytes)))
        else:
            table.append(("  " * (level - 1) + label, f"{len(members)} tensors", "",
                          exact(sum(t.numel for t in counted)), exact(sum(t.nbytes for t in counted))))
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    lines = [loaded.description]
    for k, r in enumerate(table):
        lines.append("  ".join(c.rjust(widths[i]) if i >= 3 else c.ljust(widths[i]) for i, c in enumerate(r)))
        if k == 0:
            lines.append("-" * len(lines[-1]))
    params = [t for t in unique if not is_buffer(t)]
    buffers = [t for t in unique if is_buffer(t)]
    p_el = sum(t.numel for t in params)
    lines.append(f"Parameters: {exact(p_el)} elements in {len(params)} tensors"
                 + (" (tied tensors counted once)" if loaded.tied else ""))
    if buffers:
        lines.append(f"Buffers: {exact(sum(t.numel for t in buffers))} elements in {len(buffers)} tensors "
                     f"(integer or boolean tensors, and {', '.join(sorted(BUFFER_NAMES))} by name)")
    lines.append(f"Total: {exact(loaded.total_elements)} elements in {len(unique)} tensors, "
                 f"{exact(loaded.total_bytes)} B = {nbytes(loaded.total_bytes)}")
    for dtype, b in sorted(loaded.bytes_by_dtype().items()):
        lines.append(f"  {dtype}: {exact(b)} B = {nbytes(b)}")
    lines.extend(f"note: {n}" for n in loaded.notes)
    lines.append("A parameter census from the file alone: no code was run, so no shapes of activations, "
                 "compute or memory; profile the model's code for those.")
    return "\n".join(lines)


def tensor_json(loaded: Any) -> dict[str, Any]:
    unique = loaded._unique()
    return {
        "source": loaded.description, "notes": list(loaded.notes),
        "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "nbytes": t.nbytes,
                     "kind": "buffer" if is_buffer(t) else "parameter"} for t in loaded.tensors],
        "tied": [list(g) for g in loaded.tied],
        "total_elements": loaded.total_elements, "total_bytes": loaded.total_bytes,
        "parameter_elements": sum(t.numel for t in unique if not is_buffer(t)),
        "buffer_elements": sum(t.numel for t in unique if is_buffer(t)),
        "bytes_by_dtype": loaded.bytes_by_dtype(),
    }
