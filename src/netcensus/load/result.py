"""What a model source yields: :class:`Loaded`, and :class:`TensorInfo` for parameter-only sources.

A source either builds a module (``model`` set, ``tensors`` None) or, for checkpoints and safetensors
files, lists the stored tensors without building anything (``model`` None, ``tensors`` set). Nothing
here holds tensor data: ``TensorInfo`` is plain names and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from torch import nn

from ..dtypes import numel


class TensorInfo(NamedTuple):
    """One stored tensor: its name (dotted path in the file), shape, dtype name (torch spelling, e.g.
    ``"bfloat16"``; an unknown safetensors code is kept lower-cased) and size in bytes as stored."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int

    @property
    def numel(self) -> int:
        return numel(self.shape)


@dataclass(frozen=True, eq=False)
class Loaded:
    """A loaded model source.

    ``model``: the module, built on the requested device (meta by default), or None for a parameter-only
    source. ``inputs``: example ``(args, kwargs)`` built to the model's needs, on the same device, or None
    when the source does not know them. ``description``: one line naming the source and what was built
    from it. ``notes``: facts the reader should know (dtype chosen, what was read, what was ignored).
    ``tensors``: for checkpoints and safetensors files, every stored tensor, in file order; None otherwise.
    ``tied``: groups of tensor names that are one stored tensor (counted once by the totals).
    ``source``: which adapter produced it (``python``, ``hf``, ``torchvision``, ``timm``, ``torchscript``,
    ``export``, ``checkpoint``, ``safetensors``).
    """

    model: nn.Module | None
    inputs: tuple[tuple[Any, ...], dict[str, Any]] | None
    description: str
    notes: tuple[str, ...] = ()
    tensors: tuple[TensorInfo, ...] | None = None
    tied: tuple[tuple[str, ...], ...] = ()
    source: str = ""

    def _unique(self) -> list[TensorInfo]:
        if self.tensors is None:
            return []
        repeats = {name for group in self.tied for name in group[1:]}
        return [t for t in self.tensors if t.name not in repeats]

    @property
    def total_elements(self) -> int | None:
        """Elements over the stored tensors, a tied group once; None when there are no tensors listed."""
        return None if self.tensors is None else sum(t.numel for t in self._unique())

    @property
    def total_bytes(self) -> int | None:
        """Bytes over the stored tensors, a tied group once; None when there are no tensors listed."""
        return None if self.tensors is None else sum(t.nbytes for t in self._unique())

    def bytes_by_dtype(self) -> dict[str, int]:
        """Stored bytes per dtype name, a tied group once."""
        out: dict[str, int] = {}
        for t in self._unique():
            out[t.dtype] = out.get(t.dtype, 0) + t.nbytes
        return out
