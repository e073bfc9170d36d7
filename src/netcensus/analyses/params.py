"""Parameter census of a module tree: exact counts, per module, shared tensors counted once.

Conventions
-----------
* Every ``nn.Parameter`` counts, whatever its name. The grand total equals
  ``sum(p.numel() for p in model.parameters())``: PyTorch dedupes there by tensor identity, and so do
  we; a tensor registered under several names (tied weights) counts once.
* ``own`` of a module counts the parameters registered directly on it; a shared tensor is owned by the
  first module that registers it in ``named_parameters`` order, so the ``own`` column sums to the
  total. ``total`` of a module counts its whole subtree, deduplicated within that subtree, so a module
  that uses a tied weight shows it (``module.parameters()`` semantics).
* Distinct parameter tensors that alias one storage (``b.weight = nn.Parameter(a.weight.data)``) are
  counted as PyTorch counts them, once per tensor, and reported in ``aliased`` so the reader knows.
* Buffers are reported separately, never in parameter totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import InputError
from ..formulas._util import own_parameters
from .memory.params import stored_bytes


@dataclass(frozen=True, slots=True)
class ParamTensor:
    name: str
    """Full state_dict-style name (its first name when shared)."""
    shape: tuple[int, ...]
    dtype: str
    numel: int
    nbytes: int
    trainable: bool
    also: tuple[str, ...] = ()
    """Other names the same tensor is registered under (tied weights)."""


@dataclass(frozen=True, slots=True)
class ModuleParams:
    path: str
    type: str
    own: int
    own_trainable: int
    total: int
    total_trainable: int
    tensors: tuple[ParamTensor, ...]
    """The parameters registered directly on this module (including shared ones)."""
    shared_from: tuple[tuple[str, str], ...] = ()
    """(local name, owner's full name) for own tensors counted at another module."""
    buffers: int = 0
    """Elements of the buffers registered directly on this module."""


@dataclass(frozen=True)
class ParamCensus:
    total: int
    trainable: int
    frozen: int
    buffers: int
    """Elements in buffers (deduplicated)."""
    buffer_bytes: int
    bytes_by_dtype: dict[str, int]
    """Parameter bytes by dtype (deduplicated by tensor)."""
    buffer_bytes_by_dtype: dict[str, int]
    modules: dict[str, ModuleParams]
    tied: tuple[tuple[str, ...], ...] = ()
    """Groups of names that are one parameter tensor."""
    aliased: tuple[tuple[str, ...], ...] = ()
    """Groups of distinct parameter tensors that share one storage (counted once each)."""
    notes: tuple[str, ...] = field(default_factory=tuple)


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def census(model: nn.Module) -> ParamCensus:
    for name, p in model.named_parameters():
        if isinstance(p, nn.parameter.UninitializedParameter):
            raise InputError(
                f"parameter {name!r} is an uninitialized lazy parameter, whose size is not known yet",
                where=name.rpartition(".")[0] or type(model).__name__,
                fix="run the model once on a real input (or call it under torch.no_grad()) so lazy "
                    "modules materialise, then profile it")

    names: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(name)
    first_owner: dict[int, str] = {}
    for name, p in model.named_parameters():
        first_owner.setdefault(id(p), name)

    # Subtree totals: ``m.parameters()`` per module counts each distinct tensor once, at O(subtree) a
    # call. Where no parameter is reachable by two names, the totals simply add up from the leaves.
    module_items = list(model.named_modules())
    additive = all(len(v) == 1 for v in names.values()) and all(
        type(m).parameters is nn.Module.parameters and type(m).named_parameters is nn.Module.named_parameters
        for _, m in module_items)
    subtree_totals: dict[int, tuple[int, int]] = {}

    def subtree(m: nn.Module) -> tuple[int, int]:
        found = subtree_totals.get(id(m))
        if found is None:
            total = trainable = 0
            for _, p in own_parameters(m):
                total += p.numel()
                trainable += p.numel() if p.requires_grad else 0
            for child in m._modules.values():
                if child is not None:
                    t, tr = subtree(child)
                    total, trainable = total + t, trainable + tr
            found = subtree_totals[id(m)] = (total, trainable)
        return found

    modules: dict[str, ModuleParams] = {}
    for path, m in module_items:
        tensors = []
        own = own_tr = 0
        shared_from = []
        for local, p in own_parameters(m):
            full = f"{path}.{local}" if path else local
            owner = first_owner[id(p)]
            n = p.numel()
            others = tuple(x for x in names[id(p)] if x != full)
            tensors.append(ParamTensor(full, tuple(p.shape), _dtype(p), n, stored_bytes(p)[1],
                                       p.requires_grad, others))
            if owner == full:
                own += n
                own_tr += n if p.requires_grad else 0
            else:
                shared_from.append((local, owner))
        if additive:
            total, total_tr = subtree(m)
        else:
            in_subtree = list(m.parameters())
            total = sum(p.numel() for p in in_subtree)
            total_tr = sum(p.numel() for p in in_subtree if p.requires_grad)
        own_buffers = sum(b.numel() for b in m.buffers(recurse=False))
        modules[path] = ModuleParams(path, type(m).__name__, own, own_tr, total, total_tr, tuple(tensors),
                                     tuple(shared_from), own_buffers)

    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    by_dtype: dict[str, int] = {}
    for p in params:  # a quantised weight (QLoRA's base) counts its packed bytes under its format's name
        layout, nbytes = stored_bytes(p)
        by_dtype[layout] = by_dtype.get(layout, 0) + nbytes
    buffers = list(model.buffers())
    buf_by_dtype: dict[str, int] = {}
    for b in buffers:
        buf_by_dtype[_dtype(b)] = buf_by_dtype.get(_dtype(b), 0) + b.numel() * b.element_size()
    tied = tuple(tuple(v) for v in names.values() if len(v) > 1)
    return ParamCensus(
        total, trainable, total - trainable, sum(b.numel() for b in buffers),
        sum(buf_by_dtype.values()), by_dtype, buf_by_dtype, modules, tied, _aliased(model),
    )


def _aliased(model: nn.Module) -> tuple[tuple[str, ...], ...]:
    """Distinct parameter tensors whose storages overlap (only detectable off the meta device)."""
    groups: dict[tuple[str, int], list[str]] = {}
    for name, p in model.named_parameters():
        if p.device.type == "meta" or p.numel() == 0:
            continue
        try:
            key = (str(p.device), p.untyped_storage().data_ptr())
        except Exception:
            continue
        groups.setdefault(key, []).append(name)
    return tuple(tuple(v) for v in groups.values() if len(v) > 1)
