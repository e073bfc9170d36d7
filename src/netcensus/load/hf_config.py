"""Build a transformers config object from resolved values plus user overrides.

Overrides are config fields by their config.json names or their transformers aliases (GPT-2's
``hidden_size`` is ``n_embd``); a name that is neither is refused with the closest matches, because
transformers would otherwise keep a misspelt field silently. ``dtype`` (or ``torch_dtype``) picks the
parameter dtype instead of a config field. Values are merged before the config is constructed, so
fields the config class derives in ``__init__`` (a default ``head_dim``) follow the overrides.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import torch

from ..errors import ModelLoadError, SpecError
from .hf_resolve import ResolvedConfig
from .inputs import parse_dtype

_DTYPE_KEYS = ("dtype", "torch_dtype")
_HEAD_FIELDS = {"hidden_size", "num_attention_heads", "n_embd", "n_head", "d_model", "num_heads"}
_CONFIG_ARGUMENTS = frozenset({"attn_implementation"})
"""Arguments every transformers config takes that are not fields of its own (``--set
attn_implementation=flex_attention``, ``sdpa`` or ``eager``: which attention the model runs; the model
class refuses one it does not support)."""
_FLASH_PACKAGES = {"flash_attention_2": "flash_attn", "flash_attention_3": "flash_attn_interface"}
"""transformers' attention implementations that need a package of their own (and a CUDA GPU): without
it, traced as ``sdpa``."""


def config_classes(transformers: ModuleType) -> Mapping[str, Any]:
    """transformers' model type -> config class mapping (lazy)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    return CONFIG_MAPPING


def make_config(transformers: ModuleType, resolved: ResolvedConfig, overrides: Mapping[str, Any],
                where: str) -> tuple[Any, torch.dtype, list[str]]:
    """The config object, the parameter dtype, and notes on what was chosen or changed."""
    mapping = config_classes(transformers)
    try:
        config_cls = mapping[resolved.model_type]
    except KeyError:
        raise ModelLoadError(f"transformers {transformers.__version__} does not know the model type "
                             f"{resolved.model_type!r}", where=where,
                             fix="upgrade transformers (pip install -U transformers)") from None
    values = dict(resolved.values)
    dtype_text: Any = None
    dtype_origin = "the config"
    for key in _DTYPE_KEYS:
        if key in values:
            found = values.pop(key)
            dtype_text = found if found is not None else dtype_text
    notes: list[str] = []
    aliases: dict[str, str] = dict(getattr(config_cls, "attribute_map", {}) or {})
    defaults: Any = None
    changed: set[str] = set()
    plain: dict[str, Any] = {}
    for key, value in overrides.items():
        if "." in key:
            notes.append(_set_nested(transformers, config_cls, values, key, value, where))
        else:
            plain[key] = value
    for key, value in plain.items():
        if key in _DTYPE_KEYS:
            dtype_text, dtype_origin = value, "--set"
            continue
        if key == "model_type":
            raise SpecError("model_type cannot be overridden", where=where,
                            fix=f"start from that type instead: hf:{value}")
        package = _FLASH_PACKAGES.get(value) if key == "attn_implementation" else None
        if package is not None and not _importable(package):
            notes.append(f"attn_implementation={value!r} needs the {package} package and a CUDA GPU: "
                         "traced with 'sdpa', whose CUDA kernels keep the same tensors (q, k, v, output, "
                         "log-sum-exp) and do the same products")
            value = "sdpa"
        canonical = aliases.get(key, key)
        if canonical not in values and key not in values and key not in _CONFIG_ARGUMENTS:
            if defaults is None:
                defaults = _defaults(config_cls)
            if defaults is not None and not hasattr(defaults, canonical):
                fields = sorted(set(values) | {n for n in vars(defaults) if not n.startswith("_")}
                                | set(aliases))
                close = difflib.get_close_matches(key, fields, n=3, cutoff=0.6)
                hint = f"did you mean {', '.join(close)}?" if close else \
                    f"fields include {', '.join(fields[:15])} ..."
                raise SpecError(f"{config_cls.__name__} has no field {key!r}", where=where,
                                fix=f"{hint} (a misspelt field would be ignored silently by transformers)")
        old = values.pop(key, values.get(canonical, getattr(defaults, canonical, None)))
        values[canonical] = value
        changed.add(canonical)
        notes.append(f"set {key}={value!r}" + (f" (was {old!r})" if old is not None and old != value else ""))
    if "head_dim" in values and "head_dim" not in changed and changed & _HEAD_FIELDS:
        notes.append(f"head_dim stays {values['head_dim']!r} from the config; "
                     "--set head_dim=... to change it")
    try:
        config = config_cls(**values)
    except Exception as exc:
        raise ModelLoadError(f"{config_cls.__name__} rejected the configuration: {type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", where=where,
                             fix="check the config values and --set overrides") from exc
    dtype = _dtype(dtype_text, where)
    if dtype is None:
        dtype = torch.float32
        notes.insert(0, "parameters in float32 (the config names no dtype); --set dtype=bf16 to change")
    else:
        notes.insert(0, f"parameters in {str(dtype).removeprefix('torch.')}, as {dtype_origin} says "
                        "(what from_pretrained loads by default); --set dtype=float32 to change")
    return config, dtype, notes


def _set_nested(transformers: ModuleType, config_cls: Any, values: dict[str, Any], key: str, value: Any,
                where: str) -> str:
    """``--set text_config.num_hidden_layers=2``: a field of a sub-config (a multimodal model's text or
    vision part), set in ``values`` as the dict transformers builds that sub-config from; a note."""
    sub, _, field = key.partition(".")
    if "." in field:
        raise SpecError(f"--set {key!r}: one level of sub-config at most", where=where,
                        fix="write --set SUBCONFIG.FIELD=VALUE, e.g. --set text_config.num_hidden_layers=2")
    defaults = _defaults(config_cls)
    current = values.get(sub)
    if current is None:
        current = getattr(defaults, sub, None) if defaults is not None else None
    to_dict = getattr(current, "to_dict", None)
    if callable(to_dict):
        current = to_dict()
    if not isinstance(current, dict):
        made = set() if defaults is None else {n for n, v in vars(defaults).items() if hasattr(v, "to_dict")}
        subs = sorted({n for n, v in values.items() if isinstance(v, dict)} | made)
        raise SpecError(f"{config_cls.__name__} has no sub-config {sub!r}", where=where,
                        fix=f"its sub-configs: {', '.join(subs)}" if subs else
                        "set the field without a dot: this config has no sub-configs")
    known = set(current)
    sub_type = current.get("model_type")
    if isinstance(sub_type, str) and sub_type:
        try:  # the sub-config's class: its fields, defaults and aliases, beyond what the dict spells out
            sub_cls = config_classes(transformers)[sub_type]
            known |= set(getattr(sub_cls, "attribute_map", {}) or {})
            sub_defaults = _defaults(sub_cls)
            if sub_defaults is not None:
                known |= {n for n in vars(sub_defaults) if not n.startswith("_")}
        except KeyError:
            pass
    if field not in known:
        close = difflib.get_close_matches(field, sorted(known), n=3, cutoff=0.6)
        raise SpecError(f"{sub} has no field {field!r}", where=where,
                        fix=(f"did you mean {', '.join(sub + '.' + c for c in close)}?" if close else
                             f"fields include {', '.join(sorted(known)[:15])} ...")
                        + " (a misspelt field would be ignored silently by transformers)")
    old = current.get(field)
    values[sub] = {**current, field: value}
    return f"set {key}={value!r}" + (f" (was {old!r})" if old is not None and old != value else "")


def _importable(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None


def _defaults(config_cls: Any) -> Any:
    try:
        return config_cls()
    except Exception:  # a composite config that cannot be built empty: skip the field check
        return None


def _dtype(text: Any, where: str) -> torch.dtype | None:
    if text is None or isinstance(text, torch.dtype):
        return text
    if str(text).lower() == "auto":
        return None
    try:
        return parse_dtype(str(text))
    except SpecError as exc:
        raise SpecError(f"unknown dtype {text!r} for the parameters", where=where, fix=exc.fix) from exc
