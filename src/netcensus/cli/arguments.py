"""The command line's options, defined once and shared by every subcommand that profiles a model
(``netcensus MODEL``, ``netcensus diff A B``) and by those that render (``show``). Nothing here imports
torch: ``netcensus show`` runs without it."""

from __future__ import annotations

import argparse
from typing import Any

from ..options import DEFAULT
from ..report.columns import COLUMNS, SORT_KEYS
from ..report.render import FORMATS
from ..report.style import CHOICES
from ..version import __version__

FORMAT_HELP = ("output format: table (terminal), json (versioned schema, docs/json-schema.md), csv (one row "
               "per module), md (Markdown), html (one self-contained page); default table, or the --output "
               "file's extension")


def add_model_arguments(p: argparse.ArgumentParser, *, sides: bool = False) -> None:
    """Where the model comes from and what it is fed. ``sides``: also ``--set-a``/``--set-b`` (diff)."""
    src = p.add_argument_group("model source (docs/sources.md)")
    src.add_argument("--arg", action="append", default=[], metavar="VALUE",
                     help="a positional argument for the model's class or factory (a Python literal); "
                          "for hf: the model class or task")
    src.add_argument("--kwarg", action="append", default=[], metavar="NAME=VALUE",
                     help="a keyword argument for the model's class or factory")
    src.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override a transformers config field (hf: models), e.g. --set num_hidden_layers=2")
    if sides:
        src.add_argument("--set-a", action="append", default=[], metavar="NAME=VALUE",
                         help="like --set, for side A only (after --set)")
        src.add_argument("--set-b", action="append", default=[], metavar="NAME=VALUE",
                         help="like --set, for side B only (after --set)")
    src.add_argument("--lora", default=None, metavar="r=8,alpha=16,targets=q_proj+v_proj",
                     help="add LoRA adapters to the model's linear layers named by targets (or all-linear) and "
                          "freeze the rest, as peft does (optional: dropout=0.05); no peft package needed. "
                          "QLoRA: base=nf4 (or fp4, nf4-dq, fp4-dq: double quantisation) stores every linear "
                          "layer but the output head in 4 bits, as bitsandbytes' Linear4bit, compute=bf16 "
                          "(bnb_4bit_compute_dtype; default the weights' dtype when 16-bit, else bf16)")
    src.add_argument("--batch", type=int, default=None,
                     help="batch size of the inputs built for hf: and vision models")
    src.add_argument("--seq", type=int, default=None,
                     help="sequence length of the inputs built for hf: models")
    p.add_argument("-i", "--input", action="append", default=[], metavar="SHAPE",
                   help="an input shape, e.g. 1x3x224x224, 1x128:int64 or input_ids=1x128:int64; repeat for "
                        "several inputs")
    p.add_argument("--dtype", default=None, help="dtype of inputs given without one (default float32)")


def add_profile_arguments(p: argparse.ArgumentParser) -> None:
    """What the trace does and what the memory analysis assumes."""
    p.add_argument("--device", default="meta",
                   help="meta (default: nothing allocated) or a real device such as cpu to run for real")
    p.add_argument("--mode", choices=("eval", "train"), default=None,
                   help="module mode during the trace (default eval; train with --train)")
    p.add_argument("--train", action="store_true",
                   help="trace the backward pass too (compute and memory of a training step)")
    p.add_argument("--strict", action="store_true",
                   help="exit 3 when some op has no compute formula (after printing the report)")
    mem = p.add_argument_group("memory (measured from the same trace; every assumption is printed)")
    mem.add_argument("--optimizer", default=None,
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
    mem.add_argument("--target", choices=("cuda", "cpu"), default="cuda",
                     help="the device the estimate is for: cuda (default) or cpu; it decides the kernels "
                          "(fused attention, autocast lists) the trace is routed to")
    mem.add_argument("--weights-cast-from", default=None, metavar="DTYPE",
                     help="the dtype the weights had when first put on the GPU, when they were cast there "
                          "(fp32 for a model built on the GPU, then cast to bf16): the freed copies stay in "
                          "the allocator's cache and count in the reserved estimate")
    mem.add_argument("--kv-context", type=int, default=None, metavar="N",
                     help="KV cache bytes of the attention layers for a context of N tokens")
    mem.add_argument("--decode", action="store_true",
                     help="profile one decode step instead of the prompt: --batch sequences each generating "
                          "one token against a cache of --kv-context positions (causal LMs; 'netcensus serve' "
                          "shows prefill and decode side by side)")


def add_time_arguments(p: argparse.ArgumentParser) -> None:
    """The step-time model (docs/time.md)."""
    g = p.add_argument_group("step time (a roofline model per op, fitted on measured steps; docs/time.md)")
    g.add_argument("--gpu", default=None, metavar="NAME|FILE",
                   help="predict the step's time on this GPU (e.g. 'H100 SXM', A100-80GB, or a .json/.toml "
                        "device file), and size the memory's GPU-dependent workspaces for it (default: "
                        "H100/H200); '--gpu list' shows the table of GPUs")
    g.add_argument("--gpu-compare", default=None, metavar="A,B,...",
                   help="predict the same step on these GPUs too, side by side")
    g.add_argument("--measured-step", type=float, default=None, metavar="SECONDS",
                   help="a step time you measured (with --gpu): the achieved MFU and how far the prediction is")
    g.add_argument("--roofline", default=None, metavar="FILE.svg|png",
                   help="save a roofline chart of the layers (with --gpu; PNG needs matplotlib)")


def add_fit_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fit")
    g.add_argument("--fit", default=None, metavar="BUDGET",
                   help="find the largest batch (or --fit-along seq) whose peak fits BUDGET, e.g. 80GiB")
    g.add_argument("--fit-along", choices=("batch", "seq"), default="batch",
                   help="the input dimension --fit varies: batch (dim 0, default) or seq (dim 1)")
    g.add_argument("--multiple", type=int, default=1, metavar="M",
                   help="round the --fit answer down to a multiple of M (e.g. 8 or 64)")


def add_display_arguments(p: argparse.ArgumentParser, *, depth_default: int | None = 3) -> None:
    """Which rows and blocks a report shows."""
    saved = " (default: the depth saved with the profile)" if depth_default is None else \
        f" (default {depth_default})"
    p.add_argument("-d", "--depth", type=int, default=depth_default,
                   help="deepest level shown in the table" + saved)
    p.add_argument("--all", action="store_true", help="show every level (overrides --depth)")
    p.add_argument("--explain", action="store_true",
                   help="print each layer's parameter and output-shape formulas with the numbers bound")
    p.add_argument("--by-op", action="store_true",
                   help="print the table of aten ops: calls, MACs, FLOPs, formula, modules")
    p.add_argument("--memory", action="store_true",
                   help="add per-layer memory columns (bytes saved for backward, live peak)")


def add_output_arguments(p: argparse.ArgumentParser, *, formats: tuple[str, ...] = FORMATS) -> None:
    """Formats, files, columns, colour and width."""
    g = p.add_argument_group("output (formats, files, columns)")
    g.add_argument("--format", choices=formats, default=None, help=FORMAT_HELP)
    g.add_argument("-o", "--output", metavar="FILE",
                   help="write the report to FILE instead of printing it; the format follows the extension "
                        "(.txt, .json, .csv, .md, .html) unless --format is given")
    g.add_argument("--columns", metavar="COLS",
                   help="table columns, comma-separated: a list replaces the default, +col/-col adds or "
                        "removes; columns: " + ", ".join(COLUMNS))
    g.add_argument("--sort", metavar="KEY[:asc|:desc]",
                   help="order the siblings of every level (the tree is kept), largest first for numbers; "
                        "keys: " + ", ".join(SORT_KEYS))
    g.add_argument("--expand", "--no-collapse", dest="expand", action="store_true",
                   help="show every repeated block instead of one 'layers.0-79 x80' row")
    g.add_argument("--color", "--colour", dest="color", choices=CHOICES, default="auto",
                   help="colour the table: auto (when printing to a terminal; NO_COLOR turns it off), always, "
                        "never")
    g.add_argument("--width", type=int, default=None, metavar="N",
                   help="fit the table into N characters (default: the terminal's width on a terminal, else "
                        "100; columns named with --columns are all shown)")
    g.add_argument("--verbose", "-v", action="store_true",
                   help="print every assumption of the memory estimate, not only those that changed a number")
    g.add_argument("--plot", metavar="FILE.png|svg",
                   help="also save bar charts of where the parameters, FLOPs and memory go (needs matplotlib: "
                        "pip install 'netcensus[plot]')")


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action="version", version=f"netcensus {__version__}")


def profile_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`netcensus.profile` the flags ask for (validated there, once)."""
    return {
        "device": args.device, "train": args.train, "mode": args.mode,
        "depth": None if getattr(args, "all", False) else (3 if getattr(args, "depth", None) is None else args.depth),
        "strict": args.strict, "optimizer": DEFAULT if args.optimizer is None else args.optimizer,
        "precision": args.precision, "shard": args.shard, "devices": args.devices,
        "checkpointing": args.checkpointing, "kv_context": args.kv_context, "target": args.target,
        "gpu": getattr(args, "gpu", None),
        "gpu_compare": [g.strip() for g in args.gpu_compare.split(",") if g.strip()]
        if getattr(args, "gpu_compare", None) else (),
        "measured_step": getattr(args, "measured_step", None),
        "weights_cast_from": getattr(args, "weights_cast_from", None),
    }
