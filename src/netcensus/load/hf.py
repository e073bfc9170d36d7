"""``hf:NAME``: a transformers model built from its configuration on meta, with no weights read.

NAME is a hub id (``gpt2``, ``meta-llama/Llama-2-7b-hf``), a local directory holding config.json,
or a transformers model type (``llama``) whose defaults ``overrides`` adjust. See :mod:`.hf_resolve`
for where configs are looked for (never the network), :mod:`.hf_config` for overrides and dtype,
:mod:`.hf_model` for the class, :mod:`.hf_inputs` for the example inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import SpecError
from .extras import require
from .hf_config import config_classes, make_config
from .hf_inputs import example_inputs
from .hf_model import build_model, choose_class, model_config
from .hf_resolve import resolve_config
from .result import Loaded


def load_hf(name: str, *, args: Sequence[Any], kwargs: Mapping[str, Any], overrides: Mapping[str, Any],
            device: str, batch: int | None, seq: int | None) -> Loaded:
    """Build ``hf:name``; ``args`` may name the class or task; ``overrides`` are config fields."""
    where = f"model 'hf:{name}'"
    if kwargs:
        raise SpecError(f"hf: models take no keyword arguments (got {', '.join(kwargs)})", where=where,
                        fix="set config fields with overrides (CLI: --set NAME=VALUE)")
    transformers = require("transformers", purpose="hf: models", where=where)
    resolved = resolve_config(name, list(config_classes(transformers).keys()), where)
    config, dtype, config_notes = make_config(transformers, resolved, overrides, where)
    cls, why = choose_class(transformers, resolved.model_type, config, args, where)
    config, part = model_config(cls, config)
    model = build_model(cls, config, dtype, device, where)
    inputs, input_notes = example_inputs(model, config, batch=batch, seq=seq, device=device)
    notes = [f"class {cls.__name__}: {why}", *([part] if part else []), *config_notes, *input_notes]
    if resolved.from_type and not overrides:
        notes.append(f"no config named {name!r}: these are transformers' {resolved.model_type} defaults; "
                     "--set fields to describe a real model")
    return Loaded(model, inputs, f"hf:{name} ({cls.__name__} from {resolved.origin})", tuple(notes),
                  source="hf")
