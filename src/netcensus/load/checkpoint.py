"""A parameter census of a ``torch.save`` checkpoint (``.pt``/``.pth``/``.bin``/``.ckpt``), with no
code executed.

The file is read only by ``torch.load(weights_only=True)``: its unpickler builds tensors, numbers,
strings and containers and refuses every other global, so a pickle that would import ``os.system``
(or a whole pickled ``nn.Module``) is refused, not run. Zip-format files are memory-mapped
(``mmap=True``, ``map_location="cpu"``): tensor data stays on disk and is never touched, and tensors
that share storage (tied weights) are recognised. Legacy (pre-1.6) files cannot be mapped and load
with ``map_location="meta"``; ties are then not detected.

Tensors are found at any depth of dicts, lists and tuples and named by their dotted path (a Lightning
checkpoint's ``state_dict.layer.weight``); other values are skipped and mentioned in the notes.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from ..errors import ModelLoadError
from .result import Loaded, TensorInfo


def _fix_refused() -> str:
    return ("if the file holds a whole pickled model (torch.save(model)), save model.state_dict() instead, "
            "or point netcensus at the code that builds the model (pkg.module:Class); only unpickle a file "
            "you trust, and then outside netcensus")


def _refusal(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for key in ("GLOBAL", "Unsupported", "unsupported"):
        for line in lines:
            if key in line and "weights_only" not in line:
                return line
    return lines[-1] if lines else text


def load_tensors(path: str, *, zip_format: bool) -> Any:
    """``torch.load`` the file with the weights-only unpickler; clear errors for refusals and damage."""
    where = f"file {path!r}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's note on unexpected pickle protocols
            if zip_format:
                return torch.load(path, weights_only=True, mmap=True, map_location="cpu")
            return torch.load(path, weights_only=True, map_location="meta")
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(f"refused: torch.load(weights_only=True) rejects its pickle "
                             f"({_refusal(str(exc))}); netcensus never unpickles a file any other way, so "
                             "no code from it runs",
                             where=where, fix=_fix_refused()) from exc
    except EOFError as exc:
        raise ModelLoadError("the file ends before its pickle does: it is truncated", where=where,
                             fix="copy or save the file again") from exc
    except RuntimeError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "zip archive" in text or "PytorchStreamReader" in text:
            raise ModelLoadError(f"a damaged zip archive ({text.split('. ')[0]}): the file is truncated or "
                                 "corrupt", where=where, fix="copy or save the file again") from exc
        if "EOF" in text:
            raise ModelLoadError(f"the file ends early ({text.split('. ')[0]}): it is truncated", where=where,
                                 fix="copy or save the file again") from exc
        raise ModelLoadError(f"torch.load could not read it: {text}", where=where,
                             fix="check that the file is a PyTorch checkpoint") from exc
    except Exception as exc:
        raise ModelLoadError(f"torch.load failed ({type(exc).__name__}: {exc}): the file is truncated, "
                             "corrupt or not a checkpoint", where=where,
                             fix="check that the file is a complete torch.save checkpoint") from exc


def walk(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, leaf)`` for every leaf under nested dicts, lists and tuples."""
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from walk(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        for i, value in enumerate(obj):
            yield from walk(value, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, obj


def census_checkpoint(path: str, *, zip_format: bool) -> Loaded:
    """A parameter-only :class:`Loaded` for the ``torch.save`` file at ``path``."""
    obj = load_tensors(path, zip_format=zip_format)
    tensors: list[TensorInfo] = []
    groups: dict[tuple, list[str]] = {}
    skipped: list[str] = []
    for name, leaf in walk(obj):
        if not isinstance(leaf, torch.Tensor):
            if leaf is not None:
                skipped.append(f"{name or '<root>'} ({type(leaf).__name__})")
            continue
        if leaf.layout != torch.strided:
            skipped.append(f"{name} ({leaf.layout} tensor)")
            continue
        tensors.append(TensorInfo(name or "<root>", tuple(leaf.shape), str(leaf.dtype).removeprefix("torch."),
                                  leaf.numel() * leaf.element_size()))
        if leaf.device.type != "meta":
            key = (leaf.untyped_storage().data_ptr(), leaf.storage_offset(), tuple(leaf.shape),
                   leaf.stride(), leaf.dtype)
            groups.setdefault(key, []).append(name)
    tied = tuple(tuple(g) for g in groups.values() if len(g) > 1)
    fmt = "zip format, memory-mapped" if zip_format else "legacy format"
    notes = [f"read with torch.load(weights_only=True) ({fmt}); no tensor data read, nothing executed"]
    for group in tied:
        notes.append(f"tied: {' = '.join(group)} is one stored tensor, counted once")
    if not zip_format:
        notes.append("legacy format: tensors sharing storage cannot be recognised; each counts")
    if isinstance(obj, Mapping) and any(isinstance(v, (Mapping, list, tuple)) for v in obj.values()):
        tops: dict[str, int] = {}
        for t in tensors:
            top = t.name.split(".", 1)[0]
            tops[top] = tops.get(top, 0) + 1
        notes.append("tensors per top-level entry: " + ", ".join(f"{k} {v}" for k, v in tops.items()))
    if skipped:
        notes.append(f"skipped {len(skipped)} non-tensor value(s): {', '.join(skipped[:6])}"
                     + (" ..." if len(skipped) > 6 else ""))
    if not tensors:
        notes.append("the file holds no tensors")
    return Loaded(None, None, f"{path} (torch.save checkpoint, {len(tensors)} tensors)", tuple(notes),
                  tuple(tensors), tied, source="checkpoint")
