"""``load(spec, ...)``: route a model spec to the adapter for its source.

Routing, in order: ``hf:``, ``torchvision:`` and ``timm:`` prefixes; an existing file, by its content
(:mod:`.sniff`); an existing directory holding ``config.json`` (as ``hf:``); a path with a model-file
suffix that does not exist (an error naming it); ``MODULE:NAME`` (Python code). Adapters import their
optional packages themselves, so ``import netcensus.load`` needs only torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

from ..errors import ModelLoadError, SpecError
from .literals import parse_args, parse_kwargs
from .result import Loaded
from .sniff import SUFFIXES, FileKind, sniff

_PREFIXES = ("hf", "torchvision", "timm")


def load(spec: str, *, args: Sequence[str] = (), kwargs: Mapping[str, str] | None = None,
         overrides: Mapping[str, str] | None = None, device: str = "meta", batch: int | None = None,
         seq: int | None = None) -> Loaded:
    """Load the model ``spec`` names, building it on ``device`` without reading weights where possible.

    ``args``/``kwargs``: constructor arguments as strings (read as Python literals, else kept as strings);
    for ``hf:`` one ``args`` item may name the model class or task. ``overrides``: config fields for
    ``hf:`` models. ``batch``/``seq``: the shape of the example inputs built for ``hf:`` and vision
    models (defaults 1 and min(128, max positions)).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError("no model spec given", fix=_forms())
    spec = spec.strip()
    kwargs = kwargs or {}
    overrides = overrides or {}
    device = _device(device)
    for name, value in (("batch", batch), ("seq", seq)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SpecError(f"{name} must be a positive integer, got {value!r}")
    pargs, pkwargs = parse_args(args), parse_kwargs(kwargs)
    povers = parse_kwargs(overrides, "--set", dotted=True)
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in _PREFIXES and not os.path.exists(spec):
        if povers and prefix != "hf":
            raise _no_overrides(spec)
        if prefix == "hf":
            from .hf import load_hf

            return load_hf(rest, args=pargs, kwargs=pkwargs, overrides=povers, device=device, batch=batch,
                           seq=seq)
        from .vision import load_timm, load_torchvision

        loader = load_torchvision if prefix == "torchvision" else load_timm
        return loader(rest.strip(), args=pargs, kwargs=pkwargs, device=device, batch=batch)
    path = os.path.expanduser(spec)
    if os.path.isfile(path) and path.endswith(".py"):
        raise SpecError(f"{spec!r} is a Python file; name the model in it", where=f"model {spec!r}",
                        fix=f"write {spec}:Name, where Name is an nn.Module class, instance or factory")
    if os.path.isfile(path):
        if pargs or pkwargs or povers:
            raise SpecError("arguments and overrides do not apply to a saved file", where=f"model {spec!r}",
                            fix="drop --arg/--kwarg/--set: the file fixes the model")
        return load_file(path, device)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "config.json")):
            from .hf import load_hf

            return load_hf(path, args=pargs, kwargs=pkwargs, overrides=povers, device=device, batch=batch,
                           seq=seq)
        raise ModelLoadError(f"{spec!r} is a directory without config.json", where=f"model {spec!r}",
                             fix="name a model file inside it, or a directory with a transformers "
                                 "config.json")
    if spec.lower().endswith(SUFFIXES):
        raise ModelLoadError(f"no such file {spec!r}", where=f"model {spec!r}", fix="check the path")
    if ":" in spec:
        if povers:
            raise _no_overrides(spec)
        from .python_source import load_python

        return load_python(spec, pargs, pkwargs, device)
    raise SpecError(f"{spec!r} is not a model spec: no such file, and no ':'", fix=_forms())


def load_file(path: str, device: str = "meta") -> Loaded:
    """Load a saved file by its content: a program (TorchScript, ``.pt2``) or a parameter census."""
    kind = sniff(path)
    if kind is FileKind.TORCHSCRIPT:
        from .programs import load_torchscript

        return load_torchscript(path, device)
    if kind is FileKind.EXPORT:
        from .programs import load_export

        return load_export(path, device)
    if kind is FileKind.SAFETENSORS:
        from .safetensors_file import census_safetensors

        return census_safetensors(path)
    if kind is FileKind.INDEX:
        from .shards import census_index

        return census_index(path, lambda shard: load_file(shard, device))
    from .checkpoint import census_checkpoint

    return census_checkpoint(path, zip_format=kind is FileKind.CHECKPOINT)


def _device(device: Any) -> str:
    """Checked before anything is built on it: an unavailable accelerator is the user's to fix, not a
    failure of their factory (``calling alexnet() raised AssertionError: Torch not compiled with CUDA``)."""
    from .inputs import check_device

    return check_device(device)


def _no_overrides(spec: str) -> SpecError:
    return SpecError("config overrides apply to hf: models only", where=f"model {spec!r}",
                     fix="drop --set, or pass constructor arguments with --arg/--kwarg")


def _forms() -> str:
    return ("give pkg.module:attr, path/to/file.py:Name, hf:ORG/NAME, hf:path/to/dir, hf:MODEL_TYPE, "
            "torchvision:NAME, timm:NAME, or a saved file (.safetensors, .pt/.pth/.bin checkpoint, "
            "TorchScript, .pt2 program, *.index.json)")


def load_model(spec: str, *, device: str = "meta") -> nn.Module:
    """Build the model a spec names: ``pkg.module:attr`` or ``path/to/file.py:attr`` (an instance, used as
    is; a class or a factory, called with no arguments under ``torch.device(device)``). A shorthand for
    :func:`netcensus.load.load` with Python sources only."""
    from .python_source import load_python

    model = load_python(spec, (), {}, device).model
    assert model is not None
    return model
