"""A sharded checkpoint's index (``model.safetensors.index.json``, ``pytorch_model.bin.index.json``):
the census of every shard it names, merged.

The index is JSON: ``{"metadata": {...}, "weight_map": {tensor name: shard file}}``, shard files
relative to the index. Each shard is read as its own kind (safetensors header, or weights-only
``torch.load``); a shard that is missing, or a tensor the index names that no shard holds, is an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelLoadError
from .jsonfile import read_json_object
from .result import Loaded, TensorInfo


def census_index(path: str, census_file: Callable[[str], Loaded]) -> Loaded:
    """Merge ``census_file(shard)`` over the shards ``path`` lists."""
    where = f"file {path!r}"
    index = read_json_object(Path(path), where)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ModelLoadError("the index has no weight_map", where=where,
                             fix="give a sharded checkpoint's *.index.json, or one shard file")
    folder = os.path.dirname(os.path.abspath(path))
    shards = list(dict.fromkeys(str(v) for v in weight_map.values()))
    tensors: list[TensorInfo] = []
    tied: list[tuple[str, ...]] = []
    source = "checkpoint"
    for shard in shards:
        shard_path = os.path.join(folder, shard)
        if not os.path.isfile(shard_path):
            raise ModelLoadError(f"shard {shard!r} named by the index is missing", where=where,
                                 fix="download every shard next to the index")
        loaded = census_file(shard_path)
        source = loaded.source
        tensors.extend(loaded.tensors or ())
        tied.extend(loaded.tied)
    held = {t.name for t in tensors}
    missing = [name for name in weight_map if name not in held]
    if missing:
        raise ModelLoadError(f"{len(missing)} tensor(s) the index names are in no shard, e.g. {missing[0]!r}",
                             where=where, fix="download the shards again; one is incomplete or from another "
                                              "version")
    notes = [f"{len(shards)} shard(s) listed by the index; each read without executing code"]
    return Loaded(None, None, f"{path} (sharded checkpoint, {len(shards)} shards, {len(tensors)} tensors)",
                  tuple(notes), tuple(tensors), tuple(tied), source=source)
