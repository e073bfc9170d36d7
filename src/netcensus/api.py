"""``profile(model, ...)``: wires inputs -> trace -> analyses -> :class:`Profile`."""

from __future__ import annotations

import dataclasses
import functools
import gc
import inspect
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from . import formulas, ops
from .analyses.compute import analyze_compute
from .analyses.layers import build_layers, tensor_metas
from .analyses.memory import analyze_memory
from .analyses.params import census
from .errors import InputError, SpecError, TraceError, UnsupportedOpsError
from .memory import (
    Checkpointing,
    FitResult,
    OptimizerSpec,
    ParamInfo,
    Precision,
    Sharding,
    kv_cache,
    param_infos,
    trace_contexts,
)
from .memory import fit as memory_fit
from .memory.checkpoint import blocks, check_targets
from .memory.params import itemsize
from .results.profile import Profile
from .units import shape
from .spec import InputSpec, check_device, check_shape, make_input, parse_dtype, parse_input
from .trace.tracer import TraceFailure, trace_model

ShapeLike = Sequence[int]


def _collect_new_objects_only(fn: Any) -> Any:
    """Run ``fn`` with the objects that exist before it out of the cyclic garbage collector's sight.

    A trace allocates tens of thousands of small objects, which triggers full collections; in a process
    that has imported torch and transformers each full collection walks half a million objects that
    the trace did not create (0.2-0.3 s each, 15-25% of a Llama-3-70B-shaped profile). ``gc.freeze()``
    moves those into the permanent generation for the call, so collections still run and free cycles
    made during the trace, but only look at new objects; ``gc.unfreeze()`` puts them back. Skipped when
    the collector is disabled or the caller has frozen objects of its own (their state is theirs).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled() or gc.get_freeze_count():
            return fn(*args, **kwargs)
        gc.freeze()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.unfreeze()

    return wrapper


@_collect_new_objects_only
def profile(
    model: nn.Module,
    inputs: Any = None,
    input_size: ShapeLike | Sequence[ShapeLike] | str | Sequence[str] | None = None,
    dtype: torch.dtype | str | Sequence[torch.dtype | str] | None = None,
    device: str | torch.device = "meta",
    *,
    train: bool = False,
    mode: str | None = None,
    depth: int | None = 3,
    strict: bool = False,
    optimizer: str | OptimizerSpec | None = "default",
    precision: str | Precision | None = None,
    checkpointing: str | Sequence[str] | Checkpointing | None = None,
    shard: str | Sharding | None = None,
    devices: int = 1,
    kv_context: int | None = None,
    input_kwargs: Mapping[str, Any] | None = None,
) -> Profile:
    """Trace ``model`` once and return its census.

    Inputs are given either as ``inputs`` (a tensor, a tuple of positional inputs, or a dict of keyword
    inputs; real or meta tensors, nested tuples/lists/dicts allowed) or as ``input_size`` (a shape,
    a list of shapes, or specs such as ``"1x128:int64"``) with ``dtype`` (one, or one per shape).

    ``device="meta"`` (default) traces on meta tensors: no weight or activation memory is allocated and
    the model is not changed. Another device runs the model for real there (the model's tensors are
    aliased, not modified). ``mode`` is ``"eval"`` (default for inference) or ``"train"`` (default when
    ``train=True``). ``depth`` is the default depth of the table ``str(profile)`` shows.

    ``train=True`` also traces one backward pass (seeded with ones on the output's ``loss``, or on every
    floating output that requires grad): frozen parameters get no weight gradient, inputs that need no
    gradient get none. ``strict=True`` raises :class:`UnsupportedOpsError` when some op has no compute
    formula (the profile is attached to the error as ``error.profile``).

    Memory (``Profile.memory``, bytes, per device when sharded) is measured from the same trace: weights,
    buffers, gradients, optimizer state (``optimizer``: ``"adamw"`` by default for training, None for
    none, or ``"sgd"``, ``"sgd-momentum"``, ``"adam"``, ``"adagrad"``, ``"rmsprop"``, ``"adam8bit"``...),
    activations saved for backward and the peak of a liveness timeline. ``precision``: ``"fp32"``,
    ``"fp16"``, ``"bf16"`` (weights and compute in that dtype), ``"bf16-mixed"``, ``"fp16-mixed"``
    (fp32 weights, autocast compute); by default the dtype the model's floating parameters have.
    ``checkpointing``: None, ``"all"`` blocks, or module class names /
    paths. ``shard``: ``"ddp"``, ``"zero1"``, ``"zero2"``, ``"zero3"``, ``"fsdp-full"``,
    ``"fsdp-hybrid:<node size>"`` over ``devices``. ``kv_context``: a context length for which the KV
    cache of the attention layers seen in the trace is computed (``Profile.kv_cache``).
    ``input_kwargs`` adds keyword inputs to positional ``inputs``.
    """
    if not isinstance(model, nn.Module):
        raise SpecError(f"profile() needs a torch.nn.Module, got {type(model).__name__}",
                        fix="pass the model object (an nn.Module instance)")
    if mode not in (None, "eval", "train"):
        raise SpecError(f"mode must be 'eval', 'train' or None, got {mode!r}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise SpecError(f"depth must be a level >= 0 (0: the model alone, 1: its children, ...) or None "
                        f"for every level, got {depth!r}",
                        fix="give depth=0 or more, or depth=None for every level (CLI: --depth N, or --all)")
    if kv_context is not None and (isinstance(kv_context, bool) or not isinstance(kv_context, int)
                                   or kv_context < 0):
        raise SpecError(f"kv_context must be a number of tokens >= 0, got {kv_context!r}",
                        fix="give the context length the KV cache holds, e.g. kv_context=4096 "
                            "(CLI: --kv-context 4096)")
    device = check_device(device)
    if device != "meta":
        _check_real(model.named_parameters(), "the model's parameter", device)
        _check_real(model.named_buffers(), "the model's buffer", device)
    if optimizer == "default":
        optimizer = "adamw" if train else None
    policy = Precision.parse(precision if precision is not None else _model_precision(model))
    optimizer_spec = OptimizerSpec.parse(optimizer)
    checkpoint_spec = Checkpointing.parse(checkpointing)
    if checkpoint_spec is not None:  # (the module walk is only needed to check named targets)
        check_targets(checkpoint_spec, ((p, type(m).__name__) for p, m in model.named_modules()),
                      model=type(model).__name__, aliases=_module_aliases(model))
    sharding = Sharding.parse(shard, devices)
    args, kwargs, described = _build_inputs(inputs, input_size, dtype, device)
    if input_kwargs:
        kwargs = {**kwargs, **input_kwargs}
        extra = _describe_values((), dict(input_kwargs))
        described = f"{described}, {extra}" if described else extra
    name = type(model).__name__
    params = census(model)
    # a pure policy the user asked for traces with the floating stand-ins cast to its dtype (the model
    # is not converted); an inferred one is the model's own dtype, and a model that mixes dtypes on
    # purpose (a float64 head) is traced as it is
    wanted = getattr(torch, policy.weight_dtype) if policy.weight_dtype is not None else None
    floating = {p.dtype for p in model.parameters() if p.is_floating_point()}
    trace_dtype = wanted if precision is not None and wanted is not None and floating - {wanted} else None
    try:
        trace = trace_model(model, args, kwargs, device=device, train=train, mode=mode, expand=ops.expand,
                            contexts=trace_contexts(policy), dtype=trace_dtype)
    except TraceFailure as failure:
        raise _explain_failure(failure, name, described, model, args, kwargs) from failure.cause
    rows, warnings = build_layers(model, trace, params)
    compute = analyze_compute(trace)
    for row in rows:
        mc = compute.modules.get(row.path)
        if mc is not None:
            f = mc.figures
            row.macs, row.flops, row.core_macs = f.total.macs, f.total.flops, f.total.core_macs
            row.forward_flops, row.backward_flops = f.forward.flops, f.backward.flops
            row.unsupported_calls = mc.unsupported_calls
    infos = param_infos(model)
    if trace_dtype is not None:  # the trace ran on stand-ins cast to the policy's dtype
        infos = [_cast_info(i, str(trace_dtype).removeprefix("torch.")) if i.floating else i for i in infos]
    memory = analyze_memory(
        trace, infos, optimizer=optimizer_spec, precision=policy, checkpointing=checkpoint_spec,
        shard=sharding, devices=sharding.devices if sharding is not None else devices,
        module_flops={p: m.figures.forward.flops for p, m in compute.modules.items()},
    )
    by_path = {r.path: r for r in rows}
    for mm in memory.modules:
        row = by_path.get(mm.path)
        if row is not None:
            row.saved_bytes = mm.saved_total
            row.peak_bytes = max(mm.forward_peak, mm.backward_peak or 0)
    notes = []
    if params.tied:
        for group in params.tied:
            notes.append(f"tied: {' = '.join(group)} is one tensor, counted once")
    if params.aliased:
        for group in params.aliased:
            notes.append(f"aliased: {', '.join(group)} are distinct parameters sharing one storage; "
                         "counted once each, as model.parameters() does")
    notes.extend(_checkpointing_notes(checkpoint_spec, trace))
    never = [r.name for r in rows if r.not_called]
    if never:
        notes.append(f"not called in the trace: {', '.join(never[:8])}" + (" ..." if len(never) > 8 else ""))
    result = Profile(
        model=name, layers=rows, total_params=params.total, trainable_params=params.trainable,
        frozen_params=params.frozen, buffers=params.buffers, buffer_bytes=params.buffer_bytes,
        param_bytes_by_dtype=params.bytes_by_dtype, inputs=described, device=device,
        mode=mode or ("train" if train else "eval"), train=train,
        tied=[list(g) for g in params.tied], aliased=[list(g) for g in params.aliased],
        notes=notes + list(compute.notes), warnings=warnings, depth=depth, compute=compute, memory=memory,
        kv_cache=kv_cache(trace, _batch_of(args, kwargs), kv_context) if kv_context else None, trace=trace,
    )
    if strict and compute.coverage.unsupported:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(compute.coverage.unsupported_by_op.items()))
        error = UnsupportedOpsError(
            f"{compute.coverage.unsupported} op call(s) have no compute formula: {listed}",
            where=name, fix="drop strict to report them as unsupported, or add a formula with "
                            "netcensus.ops.register")
        error.profile = result  # type: ignore[attr-defined]
        raise error
    return result


def _module_aliases(model: nn.Module) -> dict[str, str]:
    """Second and later names of modules registered under several names -> the first name (the one
    ``named_modules()`` and the trace use)."""
    first: dict[int, str] = {}
    aliases: dict[str, str] = {}
    for path, m in model.named_modules(remove_duplicate=False):
        if id(m) in first:
            if path != first[id(m)]:
                aliases[path] = first[id(m)]
        else:
            first[id(m)] = path
    return aliases


def _checkpointing_notes(spec: Checkpointing | None, trace: Any) -> list[str]:
    """What a checkpointing choice that names real modules still left out: modules that never ran in
    the traced forward, or ``"all"`` on a model without blocks (nothing to checkpoint then)."""
    if spec is None or not trace.train or trace.backward_start is None:
        return []
    calls = [c for c in trace.calls if c.path]
    if spec.all_blocks:
        if blocks(calls):
            return []
        return ["checkpointing 'all': the model has no blocks (numbered children such as layers.0 of a "
                "container with at least two of one class), so nothing is checkpointed; name the modules "
                "to checkpoint by path or class name instead"]
    ran = {c.path for c in calls} | {c.type for c in calls}
    idle = sorted(t for t in spec.targets if t not in ran)
    if not idle:
        return []
    return [f"checkpointing: {', '.join(repr(t) for t in idle)} never ran in the traced forward, so "
            f"nothing is checkpointed for {'it' if len(idle) == 1 else 'them'}"]


def _model_precision(model: nn.Module) -> str:
    """The pure precision the model's floating parameters are in (fp32 when mixed or none)."""
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if len(dtypes) != 1:
        return "fp32"
    return {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float64: "fp64"}.get(dtypes.pop(), "fp32")


def _cast_info(info: ParamInfo, dtype: str) -> ParamInfo:
    size = info.storage_nbytes
    if size is not None:
        size = size * itemsize(dtype) // itemsize(info.dtype)
    return dataclasses.replace(info, dtype=dtype, storage_nbytes=size)


def _batch_of(args: tuple, kwargs: dict) -> int:
    """The batch size of the inputs: the first dimension of the first tensor."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return int(value.shape[0])
    return 1


def _build_inputs(inputs: Any, input_size: Any, dtype: Any, device: str) -> tuple[tuple, dict, str]:
    if inputs is not None and input_size is not None:
        raise SpecError("both inputs= and input_size= were given", fix="give one of them")
    if inputs is not None:
        if isinstance(inputs, Mapping):
            args, kwargs = (), dict(inputs)
        elif isinstance(inputs, tuple) and not hasattr(inputs, "_fields"):
            args, kwargs = inputs, {}
        elif isinstance(inputs, list) and inputs and all(isinstance(x, torch.Tensor) for x in inputs):
            args, kwargs = tuple(inputs), {}
        else:
            args, kwargs = (inputs,), {}
        if device != "meta":
            _check_real(enumerate(_live_tensors((args, kwargs))), "input tensor", device)
        return args, kwargs, _describe_values(args, kwargs)
    if input_size is None:
        raise SpecError("no inputs were given",
                        fix="pass inputs=tensor(s) or input_size=(1, 3, 224, 224) (CLI: --input 1x3x224x224)")
    specs = _input_specs(input_size, dtype)
    args = tuple(make_input(s, device) for s in specs if s.name is None)
    kwargs = {s.name: make_input(s, device) for s in specs if s.name is not None}
    return args, kwargs, ", ".join(_describe_spec(s) for s in specs)


def _live_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _live_tensors(v)]
    return []


def _check_real(named: Any, what: str, device: str) -> None:
    """A run on a real device copies values; meta tensors have none."""
    for name, t in named:
        if t.device.type == "meta":
            raise SpecError(f"{what} {name!r} is on the meta device, which holds no values, so it cannot "
                            f"run on {device}",
                            fix="profile on meta (the default device, which needs no values), or build the "
                                "model and inputs on a real device")


def _input_specs(input_size: Any, dtype: Any) -> list[InputSpec]:
    if isinstance(input_size, (str, InputSpec)) or (
        isinstance(input_size, Sequence) and all(isinstance(d, (int, float)) and not isinstance(d, bool)
                                                 for d in input_size)
    ):  # one shape (a float in it is then named as a non-integer dimension), else a list of them
        items = [input_size]
    elif isinstance(input_size, Sequence):
        items = list(input_size)
    else:
        raise SpecError(f"input_size {input_size!r} is not a shape or a list of shapes",
                        fix="give input_size=(1, 3, 224, 224) or [(1, 3), (1, 5)]")
    if dtype is None or isinstance(dtype, (str, torch.dtype)):
        dtypes = [parse_dtype(dtype)] * len(items)
    else:
        dtypes = [parse_dtype(d) for d in dtype]
        if len(dtypes) != len(items):
            raise SpecError(f"{len(dtypes)} dtypes for {len(items)} inputs", fix="give one dtype per input")
    specs = []
    for item, dt in zip(items, dtypes):
        if isinstance(item, InputSpec):
            specs.append(item)
        elif isinstance(item, str):
            specs.append(parse_input(item, dt or torch.float32))
        else:
            specs.append(InputSpec(check_shape(item), dt or torch.float32))
    return specs


def _describe_spec(s: InputSpec) -> str:
    text = f"{shape(s.shape)} {str(s.dtype).removeprefix('torch.')}"
    return f"{s.name}={text}" if s.name else text


def _describe_values(args: tuple, kwargs: dict) -> str:
    parts = []
    for v in args:
        parts.append(_describe_value(v))
    for k, v in kwargs.items():
        parts.append(f"{k}={_describe_value(v)}")
    return ", ".join(parts)


def _describe_value(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        return f"{shape(tuple(v.shape))} {str(v.dtype).removeprefix('torch.')}"
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(_describe_value(x) for x in v) + ")"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {_describe_value(x)}" for k, x in v.items()) + "}"
    return repr(v)


_DATA_DEPENDENT = ("item()", "data-dependent", "nonzero", "cannot be called on meta", "meta tensor",
                   "cannot copy out of meta", "is not implemented for meta", "on the meta device",
                   "expected device meta", "tensor on device", "meta device type tensor")
"""Fragments (lower case) of PyTorch errors that mean the op needs values meta tensors do not have."""

_NO_META_KERNEL = ("with meta tensors", "meta kernel", "'meta' backend", "no fake impl")
"""Fragments (lower case) of PyTorch errors that mean the op has no meta implementation."""

_DEVICE_MIX = ("expected device meta", "is not on the expected device", "tensor on device")


def _explain_failure(failure: TraceFailure, model_name: str, described: str, model: nn.Module | None = None,
                     args: tuple = (), kwargs: dict | None = None) -> Exception:
    cause = failure.cause
    where = model_name
    if failure.module_path is not None:
        where = f"{failure.module_path or model_name} ({failure.module_type})"
    msg = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}"
    if failure.module is not None and failure.phase == "forward":
        failed = [c for c in failure.partial.calls if c.failed and c.path == failure.module_path]
        call = failed[-1] if failed else None
        if call is not None:
            metas = tensor_metas(call.inputs)
            shapes = tuple(tuple(m.shape) for m in metas)
            reason = formulas.diagnose(failure.module, shapes)
            if reason:
                return InputError(reason, where=where,
                                  fix=f"change the input ({described}) or the layer's configuration")
            if isinstance(failure.module, (nn.Embedding, nn.EmbeddingBag)) and metas and \
                    metas[0].dtype not in ("int64", "int32"):
                size = "x".join(str(d) for d in metas[0].shape)
                return InputError(f"{type(failure.module).__name__} takes integer indices (int64 or int32), "
                                  f"got {metas[0].dtype} {shape(tuple(metas[0].shape))}", where=where,
                                  fix=f"give the ids an integer dtype: input_size='{size}:int64' "
                                      f"(CLI: --input {size}:int64)")
    if isinstance(cause, TypeError) and failure.phase == "forward" and model is not None:
        problem = _signature_problem(model, args, kwargs or {})
        if problem:
            return InputError(f"{problem} (inputs: {described})", where=model_name,
                              fix="give one input per parameter of forward, positional ones in order and "
                                  "keyword ones by name (CLI: one --input each; NAME=SHAPE for a keyword)")
    if isinstance(cause, RecursionError):
        return TraceError(f"the {failure.phase} went deeper than Python's recursion limit "
                          f"({sys.getrecursionlimit()} frames)", where=where,
                          fix="if the model is deeply nested, raise the limit (sys.setrecursionlimit) before "
                              "profiling; otherwise look for a forward that calls itself")
    text = str(cause).lower()
    cpu_fix = "trace with real small tensors instead: profile(..., device='cpu') (CLI: --device cpu)"
    if failure.partial.device == "meta" and any(k in text for k in _DEVICE_MIX):
        held = _plain_tensor_attributes(model if model is not None else failure.module)
        if held:
            listed = ", ".join(f"{path or model_name}.{name} ({dev})" for path, name, dev in held[:4])
            return TraceError(f"the forward mixes meta tensors with tensors kept as plain attributes, which "
                              f"are neither parameters nor buffers and so get no meta stand-in: {listed} "
                              f"({msg})", where=where,
                              fix="register each with self.register_buffer(name, tensor, persistent=False), "
                                  f"or {cpu_fix}")
    if failure.partial.device == "meta" and failure.op and any(k in text for k in _NO_META_KERNEL):
        return TraceError(f"op {failure.op} cannot run on meta tensors: PyTorch has no meta implementation "
                          f"for it ({msg})", where=where, fix=cpu_fix)
    if isinstance(cause, NotImplementedError) and 'missing the required "forward"' in str(cause):
        return TraceError(f"{failure.module_type or model_name} has no forward method", where=where,
                          fix="profile a module that defines forward: ModuleList, ModuleDict and "
                              "ParameterList are containers; profile the model that calls them")
    if failure.partial.device == "meta" and any(k in text for k in _DATA_DEPENDENT):
        op_text = f"; op {failure.op}" if failure.op else ""
        return TraceError(
            f"the forward needs real tensor values, which meta tensors do not have ({msg}{op_text})",
            where=where,
            fix=f"{cpu_fix}, or make the control flow independent of tensor values")
    op = f" in op {failure.op}" if failure.op else ""
    return TraceError(f"the model's {failure.phase} raised {msg}{op} (inputs: {described})", where=where,
                      fix="check that the inputs have the shapes and dtypes the model expects")


def _signature_problem(model: nn.Module, args: tuple, kwargs: dict) -> str | None:
    """Why ``model.forward`` cannot be called with these inputs, or None when it can."""
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return None
    params = signature.parameters
    names = [("*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else "") + n
             for n, p in params.items()]
    text = f"{type(model).__name__}.forward({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        positional_only = inspect.Parameter.POSITIONAL_ONLY
        unknown = [k for k in kwargs if k not in params or params[k].kind is positional_only]
        if unknown:
            return f"{text} has no parameter {unknown[0]!r}"
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        return f"{text} cannot take them: {exc}"
    return None


def _plain_tensor_attributes(model: nn.Module | None) -> list[tuple[str, str, str]]:
    """(module path, attribute, device) of tensors held as plain attributes, not on meta."""
    if model is None:
        return []
    found = []
    for path, m in model.named_modules():
        for name, value in vars(m).items():
            if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter) and \
                    value.device.type != "meta":
                found.append((path, name, value.device.type))
    return found


def fit(
    model: nn.Module,
    budget: str | int,
    input_size: ShapeLike | Sequence[ShapeLike] | str | Sequence[str] | None = None,
    dtype: torch.dtype | str | Sequence[torch.dtype | str] | None = None,
    *,
    inputs: Any = None,
    along: str = "batch",
    limit: int = 1 << 20,
    **options: Any,
) -> FitResult:
    """The largest batch size (``along="batch"``: dimension 0 of every input) or sequence length
    (``along="seq"``: dimension 1 of every input that has one) whose peak memory fits ``budget``
    ("80GiB", "80GB" or bytes), found by re-tracing on meta tensors: nothing runs for real.

    ``options`` are those of :func:`profile` (``train``, ``optimizer``, ``precision``,
    ``checkpointing``, ``shard``, ``devices``...). The peak compared is ``Profile.memory.peak``: the
    training step's with ``train=True``, else the inference peak. Each size tried is kept in
    ``FitResult.tries``.
    """
    if along not in ("batch", "seq"):
        raise SpecError(f"along must be 'batch' or 'seq', got {along!r}")
    dim = 0 if along == "batch" else 1
    if inputs is not None:
        if input_size is not None:
            raise SpecError("both inputs= and input_size= were given", fix="give one of them")
        args, kwargs, _ = _build_inputs(inputs, None, None, "meta")
        named = [(None, t) for t in args] + list(kwargs.items())
        specs = [InputSpec(tuple(t.shape), t.dtype, k) for k, t in named if isinstance(t, torch.Tensor)]
    elif input_size is not None:
        specs = _input_specs(input_size, dtype)
    else:
        raise SpecError("fit() needs the input shapes", fix="pass input_size=(1, 3, 224, 224) or inputs=")
    if not any(len(s.shape) > dim for s in specs):
        raise SpecError(f"no input has a dimension {dim} to vary along {along!r}",
                        fix="give inputs with a batch (and sequence) dimension")
    options.setdefault("depth", None)

    def scaled(n: int) -> list[InputSpec]:
        return [dataclasses.replace(s, shape=s.shape[:dim] + (n,) + s.shape[dim + 1:]) if len(s.shape) > dim
                else s for s in specs]

    def peak_at(n: int) -> int:
        return int(profile(model, input_size=scaled(n), **options).memory.peak)

    return memory_fit(peak_at, budget, limit=limit)
