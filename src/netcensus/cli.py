"""The ``netcensus`` command.

Exit codes: 0 success; 2 a usage error (bad spec, input that does not fit the model, ...); 1 an
internal error. Errors print one paragraph to stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence

from . import __version__

EXAMPLE = "netcensus.examples:alexnet"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netcensus",
        description="Layer-by-layer census of a PyTorch model: shapes and exact parameter counts with "
                    "their formulas, traced on meta tensors (no weights or activations allocated).",
        epilog="With no MODEL, profiles the built-in example: the tutorial notebook's AlexNet on a "
               "1x1x224x224 input.",
    )
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="pkg.module:attr or path/to/file.py:Name (an nn.Module instance, class or factory), "
                        "hf:NAME, torchvision:NAME, timm:NAME, a TorchScript or .pt2 file, or a checkpoint / "
                        ".safetensors file (parameter census only)")
    src = p.add_argument_group("model source (docs/sources.md)")
    src.add_argument("--arg", action="append", default=[], metavar="VALUE",
                     help="a positional argument for the model's class or factory (a Python literal); "
                          "for hf: the model class or task")
    src.add_argument("--kwarg", action="append", default=[], metavar="NAME=VALUE",
                     help="a keyword argument for the model's class or factory")
    src.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override a transformers config field (hf: models), e.g. --set num_hidden_layers=2")
    src.add_argument("--batch", type=int, default=None,
                     help="batch size of the inputs built for hf: and vision models")
    src.add_argument("--seq", type=int, default=None,
                     help="sequence length of the inputs built for hf: models")
    p.add_argument("-i", "--input", action="append", default=[], metavar="SHAPE",
                   help="an input shape, e.g. 1x3x224x224, 1x128:int64 or input_ids=1x128:int64; repeat for "
                        "several inputs")
    p.add_argument("--dtype", default=None, help="dtype of inputs given without one (default float32)")
    p.add_argument("--device", default="meta",
                   help="meta (default: nothing allocated) or a real device such as cpu to run for real")
    p.add_argument("--mode", choices=("eval", "train"), default=None,
                   help="module mode during the trace (default eval; train with --train)")
    p.add_argument("--train", action="store_true",
                   help="trace the backward pass too (compute and memory of a training step)")
    p.add_argument("--by-op", action="store_true",
                   help="print the table of aten ops: calls, MACs, FLOPs, formula, modules")
    p.add_argument("--strict", action="store_true",
                   help="exit 3 when some op has no compute formula (after printing the report)")
    mem = p.add_argument_group("memory (measured from the same trace; every assumption is printed)")
    mem.add_argument("--memory", action="store_true",
                     help="add per-layer memory columns (bytes saved for backward, live peak)")
    mem.add_argument("--optimizer", default="default",
                     help="optimizer whose state is counted for --train: adamw (default), adam, sgd, "
                          "sgd-momentum, adagrad, rmsprop, adam8bit, ..., or none")
    mem.add_argument("--precision", default=None,
                     help="fp32, fp16, bf16 (weights in that dtype), bf16-mixed, fp16-mixed (fp32 weights, "
                          "autocast compute); default: the dtype of the model's parameters")
    mem.add_argument("--checkpointing", default=None, metavar="WHAT",
                     help="activation checkpointing: 'all' blocks, or comma-separated module types or paths")
    mem.add_argument("--shard", default=None,
                     help="ddp, zero1, zero2, zero3, fsdp-full, fsdp-hybrid:NODE_SIZE (with --devices)")
    mem.add_argument("--devices", type=int, default=1, help="number of devices for --shard (default 1)")
    mem.add_argument("--fit", default=None, metavar="BUDGET",
                     help="find the largest batch (or --fit-along seq) whose peak fits BUDGET, e.g. 80GiB")
    mem.add_argument("--fit-along", choices=("batch", "seq"), default="batch",
                     help="the input dimension --fit varies: batch (dim 0, default) or seq (dim 1)")
    mem.add_argument("--kv-context", type=int, default=None, metavar="N",
                     help="KV cache bytes of the attention layers for a context of N tokens")
    p.add_argument("-d", "--depth", type=int, default=3, help="deepest level shown in the table (default 3)")
    p.add_argument("--all", action="store_true", help="show every level (overrides --depth)")
    p.add_argument("--explain", action="store_true",
                   help="print each layer's parameter and output-shape formulas with the numbers bound")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action="version", version=f"netcensus {__version__}")
    from .report.cli import add_report_arguments

    add_report_arguments(p)
    return p


def run(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("show", "diff"):  # before anything imports torch
        from .report.cli import main_diff, main_show

        return main_show(argv[1:]) if argv[0] == "show" else main_diff(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("netcensus: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # every error becomes one paragraph and an exit code
        from .errors import NetcensusError

        if args.debug:
            traceback.print_exc()
        if isinstance(exc, NetcensusError):
            print(f"netcensus: error: {exc}", file=sys.stderr)
            return exc.exit_code
        if isinstance(exc, OSError) and exc.filename is not None:  # a path the user gave: -o, --plot
            print(f"netcensus: error: {str(exc.filename)!r}: {exc.strerror or exc}. Fix: check the path (for "
                  "-o and --plot its folder must exist and be writable).", file=sys.stderr)
            return 2
        print(f"netcensus: internal error: {type(exc).__name__}: {exc}. This is a bug in netcensus; "
              "rerun with --debug and report the traceback.", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    import torch

    from .api import profile
    from .errors import SpecError
    from .examples import ALEXNET_INPUT
    from .load import load, split_pairs
    from .report.cli import check_display_args
    from .spec import InputSpec, parse_dtype, parse_input

    check_display_args(args)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    spec = args.model or EXAMPLE
    dtype = parse_dtype(args.dtype)
    loaded = load(spec, args=args.arg, kwargs=split_pairs(args.kwarg, "--kwarg"),
                  overrides=split_pairs(args.set, "--set"), device=args.device, batch=args.batch,
                  seq=args.seq)
    if loaded.tensors is not None:  # a checkpoint or safetensors file: a parameter census, nothing run
        from .report.cli import output_format

        if output_format(args) == "json":
            print(json.dumps(_tensor_json(loaded), indent=2))
        else:
            print(_tensor_census(loaded))
        return 0
    model = loaded.model
    extra: dict = {}
    if args.input:
        sizes = [parse_input(text, dtype or torch.float32) for text in args.input]
    elif args.model is None:
        sizes = [ALEXNET_INPUT]
    elif loaded.inputs is not None:
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
    else:
        raise SpecError(f"no input shape was given for {spec}",
                        fix="add --input with the model's input shape, e.g. --input 1x3x224x224 "
                            "(repeat --input for several inputs; NAME=SHAPE for keyword inputs)")
    if args.format == "table" and (args.model is not None):
        print(loaded.description)
        for note in loaded.notes:
            print(f"note: {note}")
    from .errors import UnsupportedOpsError

    options = {
        "dtype": dtype, "device": args.device, "train": args.train, "mode": args.mode,
        "depth": None if args.all else args.depth, "strict": args.strict,
        "optimizer": None if args.optimizer.lower() == "none" else args.optimizer,
        "precision": args.precision, "shard": args.shard, "devices": args.devices,
        "checkpointing": args.checkpointing, "kv_context": args.kv_context,
        "input_kwargs": extra or None,
    }
    if args.fit is not None:
        from .api import fit
        from .report.fit import render_fit

        options.pop("strict")
        options.pop("kv_context")
        found = fit(model, args.fit, input_size=sizes, along=args.fit_along, **options)
        print(render_fit(found, spec, args.fit_along, args.train))
        return 0
    failure = None
    try:
        result = profile(model, input_size=sizes, **options)
    except UnsupportedOpsError as exc:
        failure, result = exc, exc.profile  # type: ignore[attr-defined]
    from .report.cli import emit

    emit(result, args)
    if failure is not None:
        raise failure
    return 0


def _tensor_census(loaded) -> str:  # type: ignore[no-untyped-def]
    from .units import exact, nbytes, shape

    rows = [("Tensor", "Shape", "Dtype", "Elements", "Bytes")]
    tied = {name: group[0] for group in loaded.tied for name in group[1:]}
    for t in loaded.tensors:
        note = f" (= {tied[t.name]})" if t.name in tied else ""
        rows.append((t.name + note, shape(t.shape), t.dtype, exact(t.numel), exact(t.nbytes)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [loaded.description]
    for k, r in enumerate(rows):
        lines.append("  ".join(c.rjust(widths[i]) if i >= 3 else c.ljust(widths[i]) for i, c in enumerate(r)))
        if k == 0:
            lines.append("-" * len(lines[-1]))
    lines.append(f"Total: {exact(loaded.total_elements)} elements in {len(loaded.tensors)} tensors, "
                 f"{exact(loaded.total_bytes)} B = {nbytes(loaded.total_bytes)}"
                 + (" (tied tensors counted once)" if loaded.tied else ""))
    for dtype, b in sorted(loaded.bytes_by_dtype().items()):
        lines.append(f"  {dtype}: {exact(b)} B = {nbytes(b)}")
    lines.extend(f"note: {n}" for n in loaded.notes)
    lines.append("A parameter census from the file alone: no code was run, so no shapes of activations, "
                 "compute or memory; profile the model's code for those.")
    return "\n".join(lines)


def _tensor_json(loaded) -> dict:  # type: ignore[no-untyped-def]
    return {
        "source": loaded.description, "notes": list(loaded.notes),
        "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "nbytes": t.nbytes}
                    for t in loaded.tensors],
        "tied": [list(g) for g in loaded.tied],
        "total_elements": loaded.total_elements, "total_bytes": loaded.total_bytes,
        "bytes_by_dtype": loaded.bytes_by_dtype(),
    }


def main() -> None:
    sys.exit(run())
