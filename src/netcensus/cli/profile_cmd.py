"""``netcensus [profile] MODEL ...``: load a model from any source, profile it, print or write the report.

``profile_from_args(spec, args)`` is the one path from flags to a :class:`~netcensus.results.profile.Profile`;
``netcensus diff`` profiles each of its sides through it, so both accept every source and option.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import SpecError, UnsupportedOpsError
from . import arguments
from .census import tensor_census, tensor_json
from .output import check_display_args, emit, output_format, terminal_width

EXAMPLE = "netcensus.examples:alexnet"

COMMANDS_HELP = """commands:
  netcensus [profile] MODEL ...   profile a model (the default command; see the options below)
  netcensus show FILE.json ...    render a profile saved with --format json (no torch needed)
  netcensus diff A B ...          compare two profiles or two models (each side: a saved .json or any MODEL)
  netcensus sweep MODEL ...       peak memory and FLOPs over batch x seq (and --set) grids, as formulas
  netcensus serve MODEL ...       prefill and decode for serving: weight formats, KV cache, MoE, fit
Run `netcensus COMMAND --help` for a command's options.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netcensus",
        description="Layer-by-layer census of a PyTorch model: shapes and exact parameter counts with "
                    "their formulas, compute and memory, traced on meta tensors (no weights or activations "
                    "allocated).",
        epilog=COMMANDS_HELP + "\nWith no MODEL, profiles the built-in example: the tutorial notebook's "
                               "AlexNet on a 1x1x224x224 input.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="pkg.module:attr or path/to/file.py:Name (an nn.Module instance, class or factory), "
                        "hf:NAME, torchvision:NAME, timm:NAME, a TorchScript or .pt2 file, or a checkpoint / "
                        ".safetensors file (parameter census only)")
    arguments.add_model_arguments(p)
    arguments.add_profile_arguments(p)
    arguments.add_time_arguments(p)
    arguments.add_fit_arguments(p)
    arguments.add_display_arguments(p)
    arguments.add_output_arguments(p)
    arguments.add_common_arguments(p)
    return p


def main(argv: Sequence[str]) -> int:
    """Run the profile command; raises what the command line turns into an exit status."""
    args = build_parser().parse_args(list(argv))
    return run_profile(args)


NOTHING_FITS = 4
"""Exit status of ``--fit`` when not even size 1 fits the budget."""


def run_profile(args: argparse.Namespace) -> int:
    check_display_args(args)
    if args.gpu is not None and args.gpu.strip().lower() == "list":
        from ..devices import table_rows
        from ..report.timing import render_device_table

        print(render_device_table(table_rows()))
        return 0
    if args.roofline and not args.gpu:
        raise SpecError("--roofline needs --gpu: the chart's roofs are the GPU's peaks",
                        fix="add --gpu NAME (--gpu list shows the names)")
    check_options(args)  # before the model is built: a typo costs nothing
    loaded = load_from_args(args.model or EXAMPLE, args, args.set)
    if loaded.tensors is not None:  # a checkpoint or safetensors file: a parameter census, nothing run
        if output_format(args) == "json":
            print(json.dumps(tensor_json(loaded), indent=2))
        else:
            print(tensor_census(loaded, None if args.all else args.depth))
        return 0
    if output_format(args) == "table" and args.model is not None:
        print_source(loaded, args)
    if args.fit is not None:  # from the scaling polynomials: at most 5 traces (netcensus.sweep.fit)
        from ..report.sweep import render_scaling_fit
        from ..sweep import fit

        sizes, extra = input_sizes(args, loaded, args.model)
        options = arguments.profile_options(args)
        for key in ("strict", "kv_context", "gpu", "gpu_compare", "measured_step", "depth"):
            options.pop(key)
        found = fit(loaded.model, args.fit, sizes, along=args.fit_along, multiple=args.multiple,
                    input_kwargs=extra or None, **options)
        print(render_scaling_fit(found, args.model or EXAMPLE, args.train))
        if not found.value:
            from ..report.table import wrap

            hints = "what could make it fit: " + "; ".join(fit_hints(args))
            print("\n".join(wrap(hints, args.width or terminal_width(sys.stdout) or 100)))
        return 0 if found.value else NOTHING_FITS
    failure = None
    try:
        result = decode_loaded(loaded, args) if args.decode else profile_loaded(loaded, args, args.model)
    except UnsupportedOpsError as exc:
        failure, result = exc, exc.profile  # type: ignore[attr-defined]
    emit(result, args)
    if args.roofline:
        from ..report.timing import write_roofline

        write_roofline(result.time, args.roofline)
        print(f"netcensus: wrote the roofline chart to {args.roofline}", file=sys.stderr)
    if failure is not None:
        raise failure
    return 0


def print_source(loaded: Any, args: argparse.Namespace) -> None:
    """What the source built and the loader's notes, wrapped as the table is; with ``--decode`` the
    note on the example inputs is left out (the decode step builds its own: one new token per sequence
    and a cache, named in the table's title)."""
    from ..report.table import DEFAULT_WIDTH, wrap

    width = args.width or terminal_width(sys.stdout) or DEFAULT_WIDTH
    notes = [n for n in loaded.notes if not (args.decode and n.startswith("inputs:"))]
    for line in [loaded.description, *(f"note: {n}" for n in notes)]:
        print("\n".join(wrap(line, width)))


def check_options(args: argparse.Namespace) -> None:
    """Validate the profiling options and the --fit budget as the API will (same errors), before any work."""
    import re

    from ..options import Options, parse_bytes

    options = arguments.profile_options(args)
    options.pop("device")
    Options.build(**options)  # (names GPUs too: --gpu and --gpu-compare are looked up here)
    if args.fit is not None:
        if re.fullmatch(r"\s*[0-9]*\.?[0-9]+\s*", args.fit):
            n = args.fit.strip()
            raise SpecError(f"--fit {args.fit} has no unit",
                            fix=f"write the budget with its unit: --fit {n}GiB (powers of 1024) or {n}GB "
                                f"(powers of 1000); bytes are {n}B")
        parse_bytes(args.fit)


def fit_hints(args: argparse.Namespace) -> list[str]:
    """What could make a step fit that the flags do not use yet."""
    hints = []
    if args.train and args.shard is None:
        hints.append("shard the model states over several devices (--shard zero3 --devices N)")
    if args.train and args.checkpointing is None:
        hints.append("recompute activations in backward (--checkpointing all)")
    if args.precision is None or args.precision.lower() in ("fp32", "float32"):
        hints.append("compute in 16 bits (--precision bf16-mixed) or store weights in 16 bits "
                     "(--precision bf16)")
    if args.train and (args.optimizer is None or args.optimizer.lower() in ("adam", "adamw")):
        hints.append("an optimizer with less state (--optimizer adam8bit, or sgd)")
    if args.fit_along == "seq":
        hints.append("a smaller batch size (--batch, or the input's dim 0)")
    elif args.seq is not None or (args.model or "").startswith("hf:"):  # dim 1 is a sequence only there
        hints.append("a shorter sequence (--seq)")
    return hints


def load_from_args(spec: str, args: argparse.Namespace, overrides: Sequence[str]) -> Any:
    """The :class:`~netcensus.load.Loaded` source ``spec`` names, built as the flags ask."""
    from ..load import load, split_pairs

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    loaded = load(spec, args=args.arg, kwargs=split_pairs(args.kwarg, "--kwarg"),
                  overrides=split_pairs(list(overrides), "--set"), device=args.device, batch=args.batch,
                  seq=args.seq)
    if getattr(args, "lora", None) and loaded.model is not None:
        from dataclasses import replace

        from ..load.lora import add_lora

        report = add_lora(loaded.model, args.lora)  # our own freshly built model: changed in place
        loaded = replace(loaded, notes=(*loaded.notes, f"LoRA {args.lora}: {report}", *report.notes))
    return loaded


def input_sizes(args: argparse.Namespace, loaded: Any, spec: str | None) -> tuple[list[Any], dict[str, Any]]:
    """The input specs the flags give (else those the source built, else the built-in example's when no
    ``spec`` was given) and the keyword inputs that are not tensors."""
    import torch

    from ..examples import ALEXNET_INPUT
    from ..load.inputs import InputSpec, parse_dtype, parse_input

    dtype = parse_dtype(args.dtype)
    extra: dict[str, Any] = {}
    if args.input:
        return [parse_input(text, dtype or torch.float32) for text in args.input], extra
    if spec is None:
        return [ALEXNET_INPUT], extra
    if loaded.inputs is None:
        raise SpecError(f"no input shape was given for {spec}",
                        fix="add --input with the model's input shape, e.g. --input 1x3x224x224 "
                            "(repeat --input for several inputs; NAME=SHAPE for keyword inputs)")
    sizes = []
    positional, keywords = loaded.inputs
    for value in positional:
        if not isinstance(value, torch.Tensor):
            raise SpecError(f"{spec} takes a positional input that is not a tensor ({value!r})",
                            fix="give the inputs with --input")
        sizes.append(InputSpec(tuple(value.shape), value.dtype))
    for key, value in keywords.items():
        if isinstance(value, torch.Tensor):
            sizes.append(InputSpec(tuple(value.shape), value.dtype, key))
        else:
            extra[key] = value
    return sizes, extra


def profile_loaded(loaded: Any, args: argparse.Namespace, spec: str | None) -> Any:
    """Profile a loaded model with the flags' inputs and options."""
    from ..api import profile
    from ..load.inputs import parse_dtype

    sizes, extra = input_sizes(args, loaded, spec)
    return profile(loaded.model, input_size=sizes, dtype=parse_dtype(args.dtype),
                   input_kwargs=extra or None, **arguments.profile_options(args))


def decode_loaded(loaded: Any, args: argparse.Namespace) -> Any:
    """The profile of one decode step (``--decode``) with the flags' options."""
    from ..serving import decode_step

    if args.kv_context is None:
        raise SpecError("--decode needs the length of the cache the new token attends to",
                        fix="add --kv-context N, e.g. --kv-context 4096")
    options = arguments.profile_options(args)
    options.pop("kv_context")
    return decode_step(loaded.model, batch=args.batch or 1, kv_context=args.kv_context, **options)


def profile_from_args(spec: str, args: argparse.Namespace, overrides: Sequence[str]) -> Any:
    """Load ``spec`` and profile it as the flags ask (``overrides``: the ``--set`` pairs for this side)."""
    loaded = load_from_args(spec, args, overrides)
    if loaded.tensors is not None:
        raise SpecError(f"{spec} is a file of tensors, with no code to profile",
                        fix="compare models given by their code or hf: configs, or saved .json profiles")
    return profile_loaded(loaded, args, spec)
