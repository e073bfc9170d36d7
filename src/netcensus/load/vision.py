"""``torchvision:NAME`` and ``timm:NAME``: architectures from those libraries, built without weights.

Constructor keyword arguments pass through (``num_classes=10``); pretrained weights are refused,
since they would be downloaded. The model is built under ``torch.device(device)``. The example input
is an image batch: torchvision's from the default weights' preset (crop size; resize size for
segmentation), timm's from the model's ``pretrained_cfg['input_size']``; other kinds (detection,
video, optical flow) are left to the user.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ModelLoadError, SpecError
from .extras import require
from .result import Loaded

DEFAULT_SIZE = 224


def _check_args(args: Sequence[Any], kwargs: Mapping[str, Any], where: str, library: str) -> None:
    if args:
        raise SpecError(f"{library}: models take keyword arguments only", where=where,
                        fix="give constructor arguments as --kwarg NAME=VALUE, e.g. --kwarg num_classes=10")
    for key in ("weights", "pretrained", "weights_backbone", "pretrained_cfg_overlay"):
        if kwargs.get(key) not in (None, False):
            raise SpecError(f"{key}={kwargs[key]!r} would download weights; netcensus never does",
                            where=where,
                            fix=f"drop --kwarg {key}: the architecture alone decides shapes and counts")


def _build(make: Any, name: str, device: str, where: str) -> nn.Module:
    try:
        with torch.device(device):
            return make()
    except Exception as exc:
        raise ModelLoadError(f"building {name} raised {type(exc).__name__}: {exc}", where=where,
                             fix="check the constructor arguments; on meta, a model that needs real values "
                                 "at construction can be built with --device cpu") from exc


def _image(shape: tuple[int, ...], model: nn.Module, device: str) -> torch.Tensor:
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    if device == "meta":
        return torch.zeros(shape, dtype=dtype, device=device)
    return torch.randn(shape, dtype=dtype, device=device)


def _unknown(name: str, names: list[str], library: str, where: str) -> ModelLoadError:
    close = difflib.get_close_matches(name, names, n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    lister = "torchvision.models.list_models()" if library == "torchvision" else "timm.list_models()"
    return ModelLoadError(f"{library} has no model {name!r}", where=where,
                          fix=f"{hint}list them with {lister}")


def load_torchvision(name: str, *, args: Sequence[Any], kwargs: Mapping[str, Any], device: str,
                     batch: int | None) -> Loaded:
    where = f"model 'torchvision:{name}'"
    tv = require("torchvision", purpose="torchvision: models", where=where)
    _check_args(args, kwargs, where, "torchvision")
    models = tv.models
    available = list(models.list_models())
    if name not in available:
        raise _unknown(name, available, "torchvision", where)
    builder = models.get_model_builder(name)
    model = _build(lambda: builder(weights=None, **kwargs), name, device, where)
    notes = [f"built by torchvision.models.get_model_builder({name!r})(weights=None"
             + "".join(f", {k}={v!r}" for k, v in kwargs.items()) + f") on {device}"]
    classification = set(models.list_models(module=models))
    segmentation = set(models.list_models(module=models.segmentation))
    size: int | None = None
    try:
        preset = models.get_model_weights(name).DEFAULT.transforms()
        crop = getattr(preset, "crop_size", None)
        resize = getattr(preset, "resize_size", None)
        if name in segmentation and resize:
            size = int(resize[0])
        elif crop:
            size = int(crop[0])
    except Exception:  # a builder without weights enums: fall back to the common size
        size = None
    b = batch or 1
    inputs: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    if name in classification or name in segmentation:
        side = size or DEFAULT_SIZE
        x = _image((b, 3, side, side), model, device)
        inputs = ((x,), {})
        notes.append(f"input: {b}x3x{side}x{side} image batch"
                     + ("" if size else f" ({DEFAULT_SIZE}, torchvision's usual size; no preset found)"))
    else:
        notes.append(f"inputs unknown for {name} (detection, video or optical-flow models take other "
                     "inputs); give them explicitly (CLI: --input)")
    return Loaded(model, inputs, f"torchvision:{name} ({type(model).__name__}, no weights)", tuple(notes),
                  source="torchvision")


def load_timm(name: str, *, args: Sequence[Any], kwargs: Mapping[str, Any], device: str,
              batch: int | None) -> Loaded:
    where = f"model 'timm:{name}'"
    timm = require("timm", purpose="timm: models", where=where)
    _check_args(args, kwargs, where, "timm")
    if not timm.is_model(name):
        raise _unknown(name, list(timm.list_models()), "timm", where)
    model = _build(lambda: timm.create_model(name, pretrained=False, **kwargs), name, device, where)
    cfg = getattr(model, "pretrained_cfg", None) or {}
    size = cfg.get("input_size") if isinstance(cfg, Mapping) else None
    notes = [f"built by timm.create_model({name!r}, pretrained=False"
             + "".join(f", {k}={v!r}" for k, v in kwargs.items()) + f") on {device}"]
    b = batch or 1
    if isinstance(size, (tuple, list)) and len(size) == 3:
        shape = (b, *(int(s) for s in size))
        origin = "the model's pretrained_cfg"
    else:
        shape = (b, 3, DEFAULT_SIZE, DEFAULT_SIZE)
        origin = "timm's usual size; the model declares none"
    x = _image(shape, model, device)
    notes.append(f"input: {'x'.join(map(str, shape))} image batch ({origin})")
    return Loaded(model, ((x,), {}), f"timm:{name} ({type(model).__name__}, no weights)", tuple(notes),
                  source="timm")
