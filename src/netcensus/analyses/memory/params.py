"""A plain description of a model's parameters and buffers: what the memory analysis needs to know.

:class:`ParamInfo` is plain data (no tensors), so the memory analysis is a pure function of a trace and
a list of these. :func:`param_infos` builds the list from an ``nn.Module``:

* one entry per distinct tensor object (tied weights registered under several names count once; the
  other names are kept in ``also``), parameters first, then buffers, in ``named_parameters`` /
  ``named_buffers`` order;
* ``storage`` is a small id shared by the distinct tensors that view one storage (``b.weight =
  nn.Parameter(a.weight.data)``), so bytes can be deduplicated by storage while gradients and
  optimizer state stay per tensor (PyTorch gives each such tensor its own ``.grad`` and state);
* a tensor carrying the attribute named :data:`STORED_NBYTES` (a 4-bit weight that stands for its packed
  storage: ``netcensus.load.qlora``) takes that many bytes (``stored``, ``nbytes``, ``storage_nbytes``),
  whatever its dtype.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ...dtypes import FLOATING, itemsize, numel

STORED_NBYTES = "netcensus_stored_nbytes"
"""Attribute a parameter may carry: the bytes its storage really takes on the device (a quantised weight
kept at its logical shape and dtype so that parameter counts stay exact); :func:`param_infos` gives it as
``ParamInfo.stored``, unchanged by ``cast_to``."""
STORED_FORMAT = "netcensus_stored_format"
"""Attribute beside :data:`STORED_NBYTES`: the name of the stored layout (``"nf4"``...), for reports."""


def stored_bytes(t: torch.Tensor) -> tuple[str, int]:
    """(layout, bytes) of a tensor as stored: its dtype and ``numel * itemsize``, or the packed layout a
    quantised weight carries (:data:`STORED_NBYTES`, :data:`STORED_FORMAT`)."""
    packed = getattr(t, STORED_NBYTES, None)
    if packed is not None:
        return str(getattr(t, STORED_FORMAT, "packed")), int(packed)
    return str(t.dtype).removeprefix("torch."), t.numel() * t.element_size()


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """One distinct parameter or buffer tensor."""

    name: str
    """state_dict-style name (the first one when the tensor is registered under several)."""
    shape: tuple[int, ...]
    dtype: str
    requires_grad: bool
    kind: str = "parameter"
    """``"parameter"`` or ``"buffer"``."""
    storage: int = 0
    """Id shared by distinct tensors that view one storage; 0 means "its own storage"."""
    storage_nbytes: int | None = None
    """Bytes of the whole storage it views; None means ``numel * itemsize``."""
    also: tuple[str, ...] = ()
    """Other names the same tensor object is registered under (tied weights)."""
    stored: int | None = None
    """Bytes of its stored layout where that is not ``numel * itemsize`` (a packed 4-bit weight kept at
    its logical shape and dtype: :data:`STORED_NBYTES`); None otherwise."""

    @property
    def numel(self) -> int:
        return numel(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of this tensor's own elements (``stored`` when given)."""
        return self.numel * itemsize(self.dtype) if self.stored is None else self.stored

    @property
    def floating(self) -> bool:
        return self.dtype in FLOATING

    @property
    def trainable(self) -> bool:
        """A parameter that gets a gradient and optimizer state."""
        return self.kind == "parameter" and self.requires_grad


def distinct_bytes(infos: Iterable[ParamInfo], kind: str) -> int:
    """Bytes of the tensors of ``kind``, each shared storage counted once (with its full size)."""
    seen: dict[int, int] = {}
    total = 0
    for p in infos:
        if p.kind != kind:
            continue
        size = p.storage_nbytes if p.storage_nbytes is not None else p.nbytes
        if p.storage:
            seen[p.storage] = max(seen.get(p.storage, 0), size)
        else:
            total += size
    return total + sum(seen.values())


def _storage_key(t: torch.Tensor) -> int | None:
    try:
        return int(t.untyped_storage()._cdata)
    except Exception:  # sparse, nested and some subclasses have no plain storage
        return None


def param_infos(model: nn.Module, cast_to: str | None = None) -> list[ParamInfo]:
    """Describe ``model``'s parameters and buffers, deduplicated by tensor identity and storage.

    Reads only metadata (shape, dtype, requires_grad, storage identity); works for meta models.
    """
    by_tensor: dict[int, list[str]] = {}
    tensors: dict[int, tuple[torch.Tensor, str]] = {}
    for kind, items in (("parameter", model.named_parameters(remove_duplicate=False)),
                        ("buffer", model.named_buffers(remove_duplicate=False))):
        for name, t in items:
            if t is None:
                continue
            if id(t) not in tensors:
                tensors[id(t)] = (t, kind)
                by_tensor[id(t)] = []
            by_tensor[id(t)].append(name)
    storage_users: dict[int, int] = {}
    for t, _ in tensors.values():
        key = _storage_key(t)
        if key is not None:
            storage_users[key] = storage_users.get(key, 0) + 1
    storage_ids: dict[int, int] = {}
    out: list[ParamInfo] = []
    for tid, (t, kind) in tensors.items():
        names = by_tensor[tid]
        key = _storage_key(t)
        sid = 0
        storage_nbytes = None
        if key is not None:
            try:
                storage_nbytes = int(t.untyped_storage().nbytes())
            except Exception:
                storage_nbytes = None
            if storage_users.get(key, 0) > 1:
                sid = storage_ids.setdefault(key, len(storage_ids) + 1)
        dtype = str(t.dtype).removeprefix("torch.")
        if cast_to is not None and dtype in FLOATING:  # traced on stand-ins cast to another dtype
            if storage_nbytes is not None:
                storage_nbytes = storage_nbytes * itemsize(cast_to) // itemsize(dtype)
            dtype = cast_to
        stored = getattr(t, STORED_NBYTES, None)
        if stored is not None:
            storage_nbytes = stored = int(stored)
        out.append(ParamInfo(names[0], tuple(t.shape), dtype, bool(t.requires_grad), kind, sid,
                             storage_nbytes, tuple(names[1:]), stored))
    return out
