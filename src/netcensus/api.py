"""``profile(model, ...)`` and ``fit(model, budget, ...)``: options are built once, then
load -> trace -> analyses -> one :class:`~netcensus.results.profile.Profile`."""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from . import ops
from .analyses.compute import analyze_compute
from .analyses.layers import build_layers
from .analyses.memory import FitResult, ParamInfo, analyze_memory, kv_cache, param_infos
from .analyses.memory import fit as search_fit
from .analyses.memory.checkpoint import check_targets
from .analyses.moe import expert_counts, moe_blocks, moe_info
from .analyses.notes import profile_notes
from .analyses.params import census
from .analyses.timing import estimate_time
from .devices import DeviceSpec
from .errors import SpecError, UnsupportedOpsError
from .events import Trace
from .gcscope import new_objects_only
from .load.inputs import (
    InputSpec,
    batch_of,
    build_inputs,
    check_device,
    check_real,
    describe_values,
    input_specs,
)
from .load.positions import check_positions, sequence_length
from .load.program_module import ProgramModule, original_type
from .options import DEFAULT, CheckpointingArg, OptimizerArg, Options, PrecisionArg, ShardArg
from .results.compute import ComputeResult
from .results.profile import Profile
from .results.timing import TimeResult
from .trace.contexts import trace_contexts
from .trace.contexts.allocator import AllocatorMeter
from .trace.contexts.routing import routing
from .trace.explain import explain_failure, needs_values
from .trace.tracer import TraceFailure, trace_model

ShapeLike = Sequence[int]


def _collect_new_objects_only(fn: Any) -> Any:
    """``fn`` run with the objects that exist before it out of the cyclic collector's sight
    (:func:`netcensus.gcscope.new_objects_only`): a trace allocates tens of thousands of small objects."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with new_objects_only():
            return fn(*args, **kwargs)

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
    optimizer: OptimizerArg = DEFAULT,
    precision: PrecisionArg = None,
    checkpointing: CheckpointingArg = None,
    shard: ShardArg = None,
    devices: int = 1,
    kv_context: int | None = None,
    input_kwargs: Mapping[str, Any] | None = None,
    target: str = "cuda",
    gpu: str | DeviceSpec | None = None,
    gpu_compare: Sequence[str | DeviceSpec] = (),
    measured_step: float | None = None,
    weights_cast_from: str | None = None,
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
    buffers, gradients, optimizer state (``optimizer``: AdamW by default for training, None for
    none, or ``"sgd"``, ``"sgd-momentum"``, ``"adam"``, ``"adagrad"``, ``"rmsprop"``, ``"adam8bit"``...),
    activations saved for backward and the peak of a liveness timeline. ``precision``: ``"fp32"``,
    ``"fp16"``, ``"bf16"`` (weights and compute in that dtype), ``"bf16-mixed"``, ``"fp16-mixed"``
    (fp32 weights, autocast compute); by default the dtype the model's floating parameters have.
    ``checkpointing``: None, ``"all"`` blocks, or module class names /
    paths. ``shard``: ``"ddp"``, ``"zero1"``, ``"zero2"``, ``"zero3"``, ``"fsdp-full"``,
    ``"fsdp-hybrid:<node size>"`` over ``devices``. ``kv_context``: a context length for which the KV
    cache of the attention layers seen in the trace is computed (``Profile.kv_cache``).
    ``input_kwargs`` adds keyword inputs to positional ``inputs``. ``target``: the device the memory
    estimate is for, ``"cuda"`` (default) or ``"cpu"``: it picks the kernels the trace is routed to.
    ``gpu``: a GPU name (``netcensus.devices.names()``) or a device file, to predict the step's time
    (``Profile.time``; docs/time.md); ``gpu_compare``: more GPUs for the same step
    (``Profile.time_compare``); ``measured_step``: a measured step time in seconds, compared with the
    prediction. ``weights_cast_from``: the dtype the weights had when first allocated on the GPU, when
    they were cast there (``"fp32"`` for ``Model(config).cuda().to(torch.bfloat16)``): the freed copies
    stay in the caching allocator, which changes the reserved estimate (``Profile.memory.reserved``).
    """
    if not isinstance(model, nn.Module):
        raise SpecError(f"profile() needs a torch.nn.Module, got {type(model).__name__}",
                        fix="pass the model object (an nn.Module instance)")
    options = Options.build(train=train, mode=mode, depth=depth, strict=strict, optimizer=optimizer,
                            precision=precision, model_precision=_model_precision(model),
                            checkpointing=checkpointing, shard=shard, devices=devices, kv_context=kv_context,
                            target=target, gpu=gpu, gpu_compare=gpu_compare, measured_step=measured_step,
                            weights_cast_from=weights_cast_from)
    model, compiled = _uncompiled(model)
    model, wrapped = _unwrapped(model)
    notes = [*compiled, *wrapped]
    device = check_device(device)
    script = _scripted(model, device)
    if script is not None:  # its forward runs in the TorchScript interpreter: profiled like a loaded program
        model = ProgramModule(script, "TorchScript")
        notes.append(SCRIPTED_NOTE)
        flags = [(m, m.training) for _, m in script.named_modules()]
    try:
        device = _check_model(model, options, device)
        args, kwargs, described = build_inputs(inputs, input_size, dtype, device)
        if input_kwargs:
            kwargs = {**kwargs, **input_kwargs}
            described = ", ".join(filter(None, (described, describe_values((), dict(input_kwargs)))))
        beyond = check_positions(model, sequence_length(args, kwargs), options.kv_context)
        return _profile(model, args, kwargs, described, device, options, beyond, notes)
    finally:
        if script is not None:  # the program's own train/eval flags, as they were
            for m, training in flags:
                m.training = training


SCRIPTED_NOTE = ("TorchScript module: its forward runs in the TorchScript interpreter, so layers inside it "
                 "are not hooked: rows show each layer's parameters, and the root all its ops")


def _scripted(model: nn.Module, device: str) -> torch.jit.ScriptModule | None:
    """``model`` when it is a TorchScript module (None otherwise). On meta its tensors must be meta
    already (a program loaded with map_location='meta'): the interpreter's weights cannot be swapped
    for stand-ins without changing the user's module."""
    if not isinstance(model, torch.jit.ScriptModule):
        return None
    real = [(n, t.device) for n, t in [*model.named_parameters(), *model.named_buffers()] if not t.is_meta]
    if device == "meta" and real:
        raise SpecError(f"a TorchScript module with real weights cannot be traced on meta tensors "
                        f"({real[0][0]} is on {real[0][1]})", where=type(model).__name__,
                        fix="profile it with real small inputs: profile(..., device='cpu'), or profile the "
                            "nn.Module before torch.jit.script / torch.jit.trace")
    return model


COMPILED_NOTE = ("torch.compile: profiled the eager module{where} (compiled code fuses pointwise ops "
                 "into fewer kernels, which changes memory and time, not the arithmetic)")


def _uncompiled(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """A ``torch.compile``'d model's original module, and a note for each compiled module found (the
    model itself, or submodules that stay compiled inside it and run eagerly while tracing)."""
    if "torch._dynamo" not in sys.modules:  # nothing can have been compiled
        return model, []
    notes = []
    original = getattr(model, "_orig_mod", None)
    if type(model).__name__ == "OptimizedModule" and isinstance(original, nn.Module):
        model = original
        notes.append(COMPILED_NOTE.format(where=""))
    inner = [p for p, m in model.named_modules() if type(m).__name__ == "OptimizedModule"]
    if inner:
        shown = ", ".join(inner[:3]) + (f" and {len(inner) - 3} more" if len(inner) > 3 else "")
        notes.append(COMPILED_NOTE.format(where=f" of {shown}"))
    return model, notes


WRAPPED_NOTE = ("{wrapper}: profiled the module it wraps (paths without 'module.'), with the whole batch "
                "on one device; with N GPUs each replica runs batch/N (give that batch; --shard ddp "
                "--devices N adds the gradient all-reduce's buckets)")


def _unwrapped(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """A ``DataParallel`` / ``DistributedDataParallel``'s wrapped module (their forward runs it on the
    inputs, scattered over the GPUs), and a note; any other model as it is."""
    wrappers = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    notes = []
    while isinstance(model, wrappers) and isinstance(getattr(model, "module", None), nn.Module):
        notes.append(WRAPPED_NOTE.format(wrapper=type(model).__name__))
        model = model.module
    return model, notes


def _profile(model: nn.Module, args: tuple, kwargs: dict, described: str, device: str,
             options: Options, input_warnings: Sequence[str] = (),
             model_notes: Sequence[str] = ()) -> Profile:
    """The pipeline, once the options and inputs are valid: trace, analyses, one Profile."""
    tree = _module_tree(model)
    params = census(model)
    cast_to = _trace_dtype(model, options)
    meter = AllocatorMeter(device) if device.startswith("cuda") else None
    trace, routed = _trace(model, args, kwargs, described, device, options, cast_to, meter)
    if routed:
        model_notes = [*model_notes, routed]
    rebuilt = _rebuilt_note(tree, _module_tree(model))
    if rebuilt:  # the census and the rows follow the model as its forward left it
        params = census(model)
        model_notes = [*model_notes, rebuilt]
    compute = analyze_compute(trace)
    infos = param_infos(model, cast_to)
    memory = analyze_memory(
        trace, infos, optimizer=options.optimizer, precision=options.precision,
        checkpointing=options.checkpointing, sharding=options.sharding, target=options.target,
        module_flops={p: m.figures.forward.flops for p, m in compute.modules.items()},
        measured=meter.measured if meter is not None else None, weights_cast_from=options.weights_cast_from,
        gpu=options.gpu)
    rows, warnings = build_layers(model, trace, params, compute, memory)
    kv = kv_cache(trace, batch_of(args, kwargs), options.kv_context) if options.kv_context else None
    kv_note = [f"kv_context={options.kv_context} gave no KV cache: the trace has no "
               "scaled_dot_product_attention or flex_attention call, whose keys and values size the cache"] \
        if options.kv_context and kv is None else []
    times = _times(trace, compute, infos, options)
    result = Profile(
        model=original_type(model.program) if isinstance(model, ProgramModule) else type(model).__name__,
        layers=rows, total_params=params.total,
        trainable_params=params.trainable, frozen_params=params.frozen, buffers=params.buffers,
        buffer_bytes=params.buffer_bytes, param_bytes_by_dtype=params.bytes_by_dtype, inputs=described,
        device=device, mode=options.trace_mode, train=options.train,
        tied=[list(g) for g in params.tied], aliased=[list(g) for g in params.aliased],
        notes=[*model_notes, *options.idle(),
               *profile_notes(params, rows, trace, options.checkpointing, moe_info(model)),
               *compute.notes, *kv_note],
        warnings=[*input_warnings, *warnings], depth=options.depth, compute=compute, memory=memory,
        kv_cache=kv,
        time=times[0] if options.gpu else None, time_compare=tuple(times) if options.gpu_compare else (),
        trace=trace)
    if options.strict and compute.coverage.unsupported:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(compute.coverage.unsupported_by_op.items()))
        error = UnsupportedOpsError(
            f"{compute.coverage.unsupported} op call(s) have no compute formula: {listed}",
            where=result.model, fix="drop strict to report them as unsupported, or add a formula with "
                                    "netcensus.ops.register")
        error.profile = result  # type: ignore[attr-defined]
        raise error
    return result


def _module_tree(model: nn.Module) -> dict[str, int]:
    """Each submodule's path and identity."""
    return {path: id(m) for path, m in model.named_modules()}


def _rebuilt_note(before: Mapping[str, int], after: Mapping[str, int]) -> str:
    """A note when the model's own forward replaced, added or removed submodules (BigBird switches to
    full attention on short sequences by swapping its attention modules), else ''. A real forward
    does the same; the figures are those of the model the trace ran."""
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    if not changed:
        return ""
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return (f"the model's forward replaced or added submodules ({shown}), as it does in a real run: the "
            "layers and parameters shown are the model as that forward left it")


def _trace(model: nn.Module, args: tuple, kwargs: dict, described: str, device: str, options: Options,
           cast_to: str | None, meter: AllocatorMeter | None) -> tuple[Trace, str]:
    """One traced step, in the contexts the options' precision and target ask for (and, on a real GPU,
    with the allocator's peaks measured), and a note when tokens had to be routed by assumption; a
    failure becomes an error in the user's terms. Compiled submodules and functions run their original
    code (:mod:`netcensus.trace.eager`).

    A mixture of experts whose forward reads the router's choices (JetMoE counts tokens per expert with
    ``.tolist()``) cannot go on on meta, where the choices have no values: it is traced again with
    tokens routed uniformly (:func:`netcensus.trace.contexts.routing.routing`), as ``netcensus serve``
    routes them, and the note says so."""
    contexts = trace_contexts(options.precision, device_type=options.target)
    if meter is not None:
        contexts = (*contexts, lambda: meter)
    try:
        return _traced(model, args, kwargs, device, options, cast_to, contexts), ""
    except TraceFailure as failure:
        experts = expert_counts(moe_blocks(model)) if device == "meta" else []
        if not experts or not needs_values(failure):
            raise explain_failure(failure, type(model).__name__, described, model, args, kwargs) \
                from failure.cause
        first = failure
    try:
        with routing(experts, target=options.target):
            trace = _traced(model, args, kwargs, device, options, cast_to, contexts)
    except TraceFailure:
        raise explain_failure(first, type(model).__name__, described, model, args, kwargs) from first.cause
    where = first.module_path or "model"
    return trace, (f"mixture of experts: the forward reads the router's choices ({where}), "
                   "which have no values on meta: tokens routed uniformly over the experts, as 'netcensus "
                   "serve' routes them (--device cpu routes them as the router decides)")


def _traced(model: nn.Module, args: tuple, kwargs: dict, device: str, options: Options,
            cast_to: str | None, contexts: tuple) -> Trace:
    """:func:`trace_model` with the options' step, mode and dtype."""
    return trace_model(model, args, kwargs, device=device, train=options.train, mode=options.mode,
                       expand=ops.expand, contexts=contexts,
                       dtype=getattr(torch, cast_to) if cast_to else None)


def _times(trace: Trace, compute: ComputeResult, infos: list[ParamInfo],
           options: Options) -> list[TimeResult]:
    """The step's predicted time on ``gpu`` (first) and each GPU of ``gpu_compare``."""
    gpus = (options.gpu, *options.gpu_compare) if options.gpu else options.gpu_compare
    return [estimate_time(trace, compute, gpu, precision=options.precision,
                          optimizer=options.optimizer if options.train else None, params=infos,
                          measured_step=options.measured_step) for gpu in gpus]


def _check_model(model: nn.Module, options: Options, device: str) -> str:
    """The options that depend on the model, checked against it: tensors that can run on ``device``,
    checkpointing targets that name its modules."""
    if device != "meta":
        check_real(model.named_parameters(), "the model's parameter", device)
        check_real(model.named_buffers(), "the model's buffer", device)
    if options.checkpointing is not None:  # (the module walk is only needed to check named targets)
        check_targets(options.checkpointing, ((p, type(m).__name__) for p, m in model.named_modules()),
                      model=type(model).__name__, aliases=_module_aliases(model))
    return device


def _trace_dtype(model: nn.Module, options: Options) -> str | None:
    """The dtype the floating stand-ins are cast to: a pure precision the user asked for, when the model's
    parameters are in another (the model is not converted). An inferred precision is the model's own
    dtype, and a model that mixes dtypes on purpose (a float64 head) is traced as it is."""
    wanted = options.precision.weight_dtype
    if not options.precision_given or wanted is None:
        return None
    floating = {str(p.dtype).removeprefix("torch.") for p in model.parameters() if p.is_floating_point()}
    return wanted if floating - {wanted} else None


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


def _model_precision(model: nn.Module) -> str:
    """The pure precision the model's floating parameters are in (fp32 when mixed or none)."""
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if len(dtypes) != 1:
        return "fp32"
    return {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float64: "fp64"}.get(dtypes.pop(), "fp32")


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
    ("80GiB", "80GB" or bytes), found by re-tracing on meta tensors: nothing runs for real. The peak
    compared is the larger of the steady-state and the first step's (on CUDA the first step allocates the
    optimizer state and one-time workspaces).

    ``options`` are those of :func:`profile` (``train``, ``optimizer``, ``precision``,
    ``checkpointing``, ``shard``, ``devices``...). The peak compared is the larger of
    ``Profile.memory.peak`` (the steady-state training step's with ``train=True``, else the inference
    peak) and ``first_step_peak`` (on CUDA the first step allocates the optimizer state and one-time
    workspaces). Each size tried is kept in ``FitResult.tries``.
    """
    if along not in ("batch", "seq"):
        raise SpecError(f"along must be 'batch' or 'seq', got {along!r}")
    dim = 0 if along == "batch" else 1
    if inputs is not None:
        if input_size is not None:
            raise SpecError("both inputs= and input_size= were given", fix="give one of them")
        args, kwargs, _ = build_inputs(inputs, None, None, "meta")
        named = [(None, t) for t in args] + list(kwargs.items())
        specs = [InputSpec(tuple(t.shape), t.dtype, k) for k, t in named if isinstance(t, torch.Tensor)]
    elif input_size is not None:
        specs = input_specs(input_size, dtype)
    else:
        raise SpecError("fit() needs the input shapes", fix="pass input_size=(1, 3, 224, 224) or inputs=")
    if not any(len(s.shape) > dim for s in specs):
        raise SpecError(f"no input has a dimension {dim} to vary along {along!r}",
                        fix="give inputs with a batch (and sequence) dimension")
    options.setdefault("depth", None)

    def scaled(n: int) -> list[InputSpec]:
        return [dataclasses.replace(s, shape=s.shape[:dim] + (n,) + s.shape[dim + 1:]) if len(s.shape) > dim
                else s for s in specs]

    def peak_at(n: int) -> int:  # the first step must fit too (its workspaces and new optimizer state)
        memory = profile(model, input_size=scaled(n), **options).memory
        return int(max(memory.peak, memory.first_step_peak or 0))

    return search_fit(peak_at, budget, limit=limit)
