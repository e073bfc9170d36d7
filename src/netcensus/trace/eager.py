"""Compiled code runs eagerly while a model is traced.

A forward may call ``torch.compile`` itself (transformers compiles ``flex_attention`` on its first
call and keeps the result) or call functions compiled beforehand (an ``@torch.compile`` helper). Left
alone, TorchDynamo would trace through the tracer's own modes and hooks (seconds per call,
recompilation warnings) and the compiled graph would hide the aten ops from the recorder. Within
:func:`eager_compile` compiled functions and modules run their Python code
(``torch.compiler.set_stance("force_eager")``, which leaves TorchDynamo's caches as they were: they
compile as usual after the trace; before torch 2.6, ``torch._dynamo.config.disable``). TorchDynamo is
imported only when needed: when it already was (something was compiled before), or at the first
``torch.compile`` call of the forward, which also leaves :data:`COMPILED_CALL` in the trace's notes.
``torch.compile`` itself still returns what it returns outside (a function the caller may keep compiles
as usual after the trace). Everything is put back on exit. The counts are those of the eager code, as
for a compiled module (``profile`` notes that too): fusion changes memory and time, not the arithmetic.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from .common import note

COMPILED_CALL = ("torch.compile was called during the forward: the function it compiles was traced "
                 "eagerly (compiled code fuses pointwise ops into fewer kernels, which changes memory and "
                 "time, not the arithmetic)")


@contextmanager
def eager_compile() -> Iterator[None]:
    """See the module docstring."""
    with ExitStack() as stack:
        original = torch.compile

        def disable_dynamo() -> None:
            set_stance = getattr(torch.compiler, "set_stance", None)
            if set_stance is not None:  # torch >= 2.6: compiled code runs eagerly, its caches untouched
                stack.enter_context(set_stance("force_eager"))
            else:  # (older: the switch that exists; a frame it skipped may stay skipped)
                from torch._dynamo import config as dynamo_config

                stack.enter_context(dynamo_config.patch(disable=True))

        def compile_in_trace(*args: Any, **kwargs: Any) -> Any:
            # (the first call puts torch.compile back: later ones find compiled code forced eager; a
            # reference kept past the trace only compiles)
            if torch.compile is compile_in_trace:
                note(COMPILED_CALL)
                torch.compile = original  # type: ignore[assignment]
                disable_dynamo()
            return original(*args, **kwargs)

        torch.compile = compile_in_trace  # type: ignore[assignment]
        stack.callback(setattr, torch, "compile", original)
        if "torch._dynamo" in sys.modules:
            disable_dynamo()
        yield
