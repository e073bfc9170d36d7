"""Choose the transformers model class for a config and build it on a device without weights.

The class is the one asked for (a class name, or a task such as ``causal-lm``), else the first of the
config's ``architectures`` that this transformers has, else the model type's class for the first task
that has one, in the order image classification, sequence-to-sequence LM, masked LM, causal LM, bare
model (so encoders such as BERT get their masked-LM head and decoders their causal-LM head).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import torch
from torch import nn

from ..errors import ModelLoadError, SpecError

#: task name -> transformers' auto-mapping (model type -> class name) that serves it.
TASKS = {
    "image-classification": "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    "seq2seq-lm": "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "masked-lm": "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "causal-lm": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "model": "MODEL_MAPPING_NAMES",
    "sequence-classification": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "token-classification": "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES",
    "question-answering": "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
}
DEFAULT_ORDER = ("image-classification", "seq2seq-lm", "masked-lm", "causal-lm", "model")


def task_class_name(model_type: str, task: str) -> str | None:
    """The class name transformers' auto-mapping gives ``model_type`` for ``task``, or None."""
    from transformers.models.auto import modeling_auto

    mapping = getattr(modeling_auto, TASKS[task], {})
    name = mapping.get(model_type)
    if isinstance(name, (tuple, list)):
        name = name[0] if name else None
    return name


def choose_class(transformers: ModuleType, model_type: str, config: Any, args: Sequence[Any],
                 where: str) -> tuple[type[nn.Module], str]:
    """The model class and a phrase saying why it was chosen."""
    if len(args) > 1:
        raise SpecError(f"hf: takes at most one argument (a model class or task), got {len(args)}",
                        where=where, fix=f"give one --arg: a class such as BertModel or a task: {_tasks()}")
    if args:
        choice = str(args[0])
        if choice in TASKS:
            name = task_class_name(model_type, choice)
            if name is None:
                raise SpecError(f"transformers has no {choice} model for model type {model_type!r}",
                                where=where, fix=f"pick another task ({_tasks()}) or a class name")
            return _class(transformers, name, config, where, mapped=True), f"the {choice} class, as asked"
        return _class(transformers, choice, config, where), "as asked"
    listed = [a for a in (getattr(config, "architectures", None) or []) if isinstance(a, str)]
    for name in listed:
        cls = getattr(transformers, name, None)
        if isinstance(cls, type):
            return _class(transformers, name, config, where), "the config's architectures"
    for task in DEFAULT_ORDER:
        name = task_class_name(model_type, task)
        if name is not None and isinstance(getattr(transformers, name, None), type):
            why = f"transformers' {task} class for {model_type}"
            if listed:
                why += (f"; the config's architectures {listed} are not in transformers "
                        f"{transformers.__version__}")
            return _class(transformers, name, config, where, mapped=True), why
    raise ModelLoadError(f"transformers has no model class for model type {model_type!r}", where=where,
                         fix="name a class with --arg, e.g. --arg LlamaModel")


def _tasks() -> str:
    return ", ".join(TASKS)


def _class(transformers: ModuleType, name: str, config: Any, where: str, mapped: bool = False
           ) -> type[nn.Module]:
    """The class ``name``, checked against ``config``: built from that config's class, or from its text
    part (:func:`model_config`); ``mapped``: transformers' own auto-mapping names this class for the
    config's model type (EXAONE's is ``LlamaForCausalLM``, built from an ``ExaoneConfig``), so it is
    trusted as the Auto classes trust it."""
    cls = getattr(transformers, name, None)
    if not isinstance(cls, type) or not issubclass(cls, nn.Module) or not hasattr(cls, "config_class"):
        raise SpecError(f"{name!r} is not a transformers model class", where=where,
                        fix=f"give a class such as BertModel or LlamaForCausalLM, or a task: {_tasks()}")
    expected = getattr(cls, "config_class", None)
    if isinstance(expected, type) and not mapped and model_config(cls, config)[0] is config \
            and not isinstance(config, expected):
        raise SpecError(f"{name} is built from a {expected.__name__}, but this config is a "
                        f"{type(config).__name__}", where=where,
                        fix=f"pick a class of the config's model type, or a task: {_tasks()}")
    return cls


def model_config(cls: type[nn.Module], config: Any) -> tuple[Any, str]:
    """The config ``cls`` is built from, and a note: ``config`` itself (no note), or its text part when
    ``cls`` is built from that (the causal-LM class of a multimodal model such as Emu3), which is what
    transformers' Auto classes pass it."""
    expected = getattr(cls, "config_class", None)
    get_text = getattr(config, "get_text_config", None)
    if isinstance(expected, type) and not isinstance(config, expected) and callable(get_text):
        try:
            text = get_text()
        except Exception:  # noqa: BLE001 - a config that cannot say: keep it whole
            return config, ""
        if text is not config and isinstance(text, expected):
            return text, (f"{cls.__name__} is built from the config's text part ({type(text).__name__}), "
                          "as transformers' Auto classes build it")
    return config, ""


def build_model(cls: type[nn.Module], config: Any, dtype: torch.dtype, device: str, where: str) -> nn.Module:
    """``cls`` built from ``config`` with parameters of ``dtype`` created on ``device`` (meta: none
    allocated). transformers' ``_from_config`` is what its Auto classes call; it honours
    ``_keep_in_fp32_modules`` and float32 buffers such as RoPE frequencies. transformers 5 spells its
    dtype argument ``dtype``, transformers 4 ``torch_dtype``."""
    import transformers

    major = int(str(transformers.__version__).split(".", 1)[0] or 0)
    dtype_kw = "dtype" if major >= 5 else "torch_dtype"
    try:
        with torch.device(device):
            from_config = getattr(cls, "_from_config", None)
            if from_config is not None:
                return from_config(config, **{dtype_kw: dtype})
            model = cls(config)  # type: ignore[call-arg]
            return model.to(dtype)
    except Exception as exc:
        raise ModelLoadError(f"building {cls.__name__} raised {type(exc).__name__}: {exc}", where=where,
                             fix="check the config values; on meta, a model that needs real values at "
                                 "construction can be built with --device cpu") from exc
