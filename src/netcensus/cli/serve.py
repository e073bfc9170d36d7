"""``netcensus serve MODEL``: prefill and decode side by side for serving a causal language model, with
weights stored in a chosen format (int8, nf4, gptq, awq, fp8...), a KV cache dtype, mixtures of experts
routed uniformly, and the largest batch or context that fits a budget."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import arguments

WEIGHTS = ("fp32, fp16, bf16, int8, nf4, nf4-dq, fp4, fp4-dq, gptq[:GROUP], awq[:GROUP], fp8, fp8-channel, "
           "fp8-block")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netcensus serve",
        description="Serving cost of a causal language model (hf:NAME, a config, a Python source): the "
                    "prefill of the prompt and the decode of one token against a KV cache, side by side; "
                    "FLOPs per token, weights in the chosen format, KV cache and peak. Traced on meta.")
    p.add_argument("model", metavar="MODEL", help="hf:NAME or any causal-LM source netcensus loads")
    arguments.add_model_arguments(p)
    p.add_argument("--prompt", type=int, default=None,
                   help="prompt tokens per sequence (default --seq or 128)")
    p.add_argument("--kv-context", type=int, default=None,
                   help="cached positions the decoded token attends to (default: the prompt)")
    p.add_argument("--weights", default=None, help=f"weight format: {WEIGHTS} (default: the model's dtype)")
    p.add_argument("--kv-dtype", default=None,
                   help="KV cache dtype: fp16, bf16, fp8, int8 (default: as traced)")
    p.add_argument("--keep", default="lm_head", metavar="NAMES",
                   help="comma-separated modules left unquantised besides embeddings and norms "
                        "(default lm_head)")
    p.add_argument("--precision", default=None, help="compute dtype traced: fp32, fp16, bf16")
    p.add_argument("--routing", default=None, metavar="S1,S2,...",
                   help="mixtures of experts: each expert's share of the tokens (default uniform)")
    p.add_argument("--fit", default=None, metavar="BUDGET",
                   help="find the largest batch (or --fit-along context) whose decode peak fits, e.g. 80GiB")
    p.add_argument("--fit-along", choices=("batch", "context"), default="batch")
    p.add_argument("--target", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--explain", action="store_true", help="the bytes of every parameter with its formula")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--width", type=int, default=100)
    p.set_defaults(device="meta")
    arguments.add_common_arguments(p)
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    from ..serving import render, serve
    from .profile_cmd import load_from_args

    loaded = load_from_args(args.model, args, args.set)
    model = getattr(loaded, "model", None)
    if model is None:
        from ..errors import SpecError

        raise SpecError(f"{args.model} gives no model to trace", fix="serve needs a causal LM (hf:NAME)")
    from ..report.table import DEFAULT_WIDTH, wrap

    for note in (n for n in getattr(loaded, "notes", ()) if not str(n).startswith("inputs:")):
        print("\n".join(wrap(f"note: {note}", args.width or DEFAULT_WIDTH)), file=sys.stderr)
    shares = [float(x) for x in args.routing.split(",")] if args.routing else None
    result = serve(model, batch=args.batch or 1, prompt=args.prompt or args.seq or 128,
                   kv_context=args.kv_context, weights=args.weights, kv_dtype=args.kv_dtype,
                   precision=args.precision, routing=shares,
                   skip=tuple(x.strip() for x in args.keep.split(",") if x.strip()),
                   budget=args.fit, along=args.fit_along, target=args.target)
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=1))
    else:
        print(render(result, explain=args.explain, width=args.width))
    return 0
