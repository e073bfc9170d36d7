"""``netcensus sweep MODEL --batch 1,2,4,...,256 --seq 512..32768 [--budget 80GiB]``: peak memory, FLOPs
and parameters over a grid of sizes (and of ``--set`` configurations), answered from exact polynomials in
the batch size and sequence length (:mod:`netcensus.sweep`); a table, the formulas, CSV / JSON and a plot.

Size lists: ``1,2,4,8`` (values), ``1,2,4,...,256`` (the pattern continued: doubling, or a constant step),
``512..32768`` (doubling), ``512..4096:+512`` (a step), ``1..64:x4`` (a factor).
``--set NAME=V1,V2`` sweeps configurations too (every combination), in ``--jobs`` processes.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import SpecError
from . import arguments


def parse_sizes(text: str, what: str) -> list[int]:
    """``1,2,4,...,256`` / ``512..32768`` / ``512..4096:+512`` / ``1..64:x4`` / ``8`` -> sorted sizes."""
    fix = f"write --{what} as 1,2,4,8 or 1,2,4,...,256 or 512..32768 (doubling), 512..4096:+512, 1..64:x4"
    text = text.strip()
    try:
        if ".." in text and "," not in text and "..." not in text:
            span, _, step = text.partition(":")
            lo, hi = (int(x) for x in span.split(".."))
            if not step:
                step = "x2"
            n, out = lo, list[int]()
            kind, amount = step[0], int(step[1:] if step[0] in "+x*" else step)
            while n <= hi and len(out) <= 100_000:
                out.append(n)
                n = n * amount if kind in "x*" else n + amount
                if (kind in "x*" and amount < 2) or (kind not in "x*" and amount < 1):
                    raise ValueError
        else:
            parts = [p.strip() for p in text.split(",") if p.strip()]
            out = []
            for i, part in enumerate(parts):
                if part in ("...", "…"):
                    if i < 2 or i + 1 >= len(parts):
                        raise ValueError
                    end = int(parts[i + 1])
                    a, b = out[-2], out[-1]
                    if len(out) >= 3 and out[-3] * b == a * a and b > a:  # geometric: 1,2,4,...
                        if b % a:
                            raise ValueError
                        ratio, n = b // a, b * (b // a)
                        while n < end:
                            out.append(n)
                            n *= ratio
                    elif b > a and (len(out) < 3 or out[-2] - out[-3] == b - a):  # arithmetic: 8,16,...
                        n = b + (b - a)
                        while n < end:
                            out.append(n)
                            n += b - a
                    else:
                        raise ValueError
                else:
                    out.append(int(part))
    except ValueError:
        raise SpecError(f"cannot read --{what} {text!r}", fix=fix) from None
    if not out or min(out) < 1:
        raise SpecError(f"--{what} {text!r} has no positive size", fix=fix)
    return sorted(set(out))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netcensus sweep",
        description="Peak memory, FLOPs and parameters over batch sizes and sequence lengths (and --set "
                    "configurations), from exact polynomials recovered from a few traces (docs/scaling.md).",
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="as for `netcensus MODEL` (hf:NAME, pkg.module:attr, ...)")
    arguments.add_model_arguments(p)
    for action in p._actions:  # the sweep takes lists where the profile takes one size
        if action.dest == "batch":
            action.type, action.help = str, "batch sizes: 1,2,4,...,256 or 1..256 (doubling) or 8"
        elif action.dest == "seq":
            action.type, action.help = str, "sequence lengths: 512..32768 (doubling), 512..4096:+512, 1024"
        elif action.dest == "set":
            action.help = "a config field, or several values to sweep: --set num_hidden_layers=12,24,48"
    arguments.add_profile_arguments(p)
    g = p.add_argument_group("sweep")
    g.add_argument("--budget", default=None, metavar="BYTES",
                   help="a memory budget (80GiB): which points fit")
    g.add_argument("--exact", action="store_true", help="trace every point instead of the polynomials")
    g.add_argument("--jobs", type=int, default=1, metavar="N", help="processes for a --set grid (default 1)")
    g.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run the --set grid on the Dask cluster at ADDRESS (tcp://host:8786; needs "
                        "dask[distributed])")
    g.add_argument("--csv", metavar="FILE", help="write every point as CSV")
    g.add_argument("--json", metavar="FILE", help="write the sweep (points, formulas) as JSON")
    g.add_argument("--plot", metavar="FILE.png|svg",
                   help="plot peak memory against --along, the budget as a line")
    g.add_argument("--along", choices=("batch", "seq"), default=None,
                   help="the plot's x axis (default: the one with more values)")
    g.add_argument("--rows", type=int, default=60, help="table rows printed at most (default 60)")
    g.add_argument("--no-formulas", action="store_true", help="do not print the formulas")
    f = p.add_argument_group("fit from the polynomials (at most 5 traces)")
    f.add_argument("--fit", default=None, metavar="BUDGET",
                   help="the largest --fit-along size whose peak fits")
    f.add_argument("--fit-along", choices=("batch", "seq"), default="batch")
    f.add_argument("--multiple", type=int, default=1, metavar="M",
                   help="round the fit down to a multiple of M")
    arguments.add_common_arguments(p)
    return p


def _configs(pairs: Sequence[str]) -> tuple[list[str], list[tuple[tuple[str, str], ...]]]:
    """``--set`` pairs: those with one value (fixed) and the combinations of those with several."""
    fixed, swept = [], []
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq:
            raise SpecError(f"--set {pair!r} is not NAME=VALUE", fix="write --set num_hidden_layers=12,24")
        values = [v.strip() for v in value.split(",")] if not value.lstrip().startswith(("[", "(", "{")) \
            else [value]
        if len(values) > 1:
            swept.append([(name.strip(), v) for v in values])
        else:
            fixed.append(pair)
    return fixed, [tuple(c) for c in itertools.product(*swept)] if swept else [()]


def _sweep_one(shared: dict[str, Any], config: tuple[tuple[str, str], ...]) -> Any:
    """One configuration's sweep (module level: it runs in a worker process for --jobs)."""
    from ..sweep import sweep
    from .profile_cmd import input_sizes, load_from_args

    args = shared["args"]
    batch, seq = shared["batch"], shared["seq"]
    one = argparse.Namespace(**{**vars(args), "batch": batch[0], "seq": seq[0] if seq else None})
    loaded = load_from_args(args.model, one, list(shared["fixed"]) + [f"{k}={v}" for k, v in config])
    if loaded.tensors is not None:
        raise SpecError(f"{args.model} is a file of tensors: there is nothing to trace",
                        fix="sweep a model given by its code or an hf: config")
    sizes, extra = input_sizes(one, loaded, args.model)
    options = shared["options"]
    return sweep(loaded.model, batch, seq or None, input_size=sizes, budget=args.budget, exact=args.exact,
                 name=args.model, config=config, input_kwargs=extra or None, **options)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    from ..report.sweep import render_scaling_fit, render_sweep, save_sweep_plot, sweep_csv, sweep_json

    batch = parse_sizes(args.batch, "batch") if args.batch else [1]
    seq = parse_sizes(args.seq, "seq") if args.seq else []
    options = arguments.profile_options(args)
    for key in ("strict", "kv_context", "gpu", "gpu_compare", "measured_step", "depth"):
        options.pop(key, None)
    fixed, configs = _configs(args.set)
    shared = {"args": args, "batch": batch, "seq": seq, "fixed": fixed, "options": options}
    if args.fit is not None:
        from ..sweep import fit
        from .profile_cmd import input_sizes, load_from_args

        one = argparse.Namespace(**{**vars(args), "batch": batch[0], "seq": seq[0] if seq else None})
        loaded = load_from_args(args.model, one, fixed)
        sizes, extra = input_sizes(one, loaded, args.model)
        found = fit(loaded.model, args.fit, sizes, along=args.fit_along, multiple=args.multiple,
                    input_kwargs=extra or None, **options)
        print(render_scaling_fit(found, args.model, args.train))
        return 0 if found.value else 4
    from ..sweep import dask_client, sweep_grid

    job = functools.partial(_sweep_one, shared)
    if args.dask:
        with dask_client(args.dask) as client:
            results = sweep_grid(job, configs, executor=client.get_executor())
    else:
        results = sweep_grid(job, configs, jobs=args.jobs)
    print(render_sweep(results, max_rows=args.rows, formulas=not args.no_formulas))
    for path, text in ((args.csv, sweep_csv), (args.json, sweep_json)):
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text(results))
            print(f"netcensus: wrote {path}", file=sys.stderr)
    if args.plot:
        save_sweep_plot(results, args.plot, args.along)
        print(f"netcensus: wrote the plot to {args.plot}", file=sys.stderr)
    return 0
