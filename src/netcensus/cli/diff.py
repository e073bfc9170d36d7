"""``netcensus diff A B``: compare two profiles layer by layer. Each side is a saved JSON profile or any
model source ``netcensus MODEL`` accepts, profiled with the same options (``--set-a``/``--set-b`` change
one side)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import SpecError
from ..report.render import format_for_path
from ..report.style import Style, use_color
from . import arguments
from .output import check_display_args, load_profile, print_text, terminal_width


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netcensus diff",
        description="Compare two profiles layer by layer: saved JSON profiles, or models from any source "
                    "(profiled with the same options; --set-a/--set-b change one side). Differences in "
                    "parameters, FLOPs and memory are marked.")
    p.add_argument("a", metavar="A", help="a saved profile (.json) or any MODEL of `netcensus MODEL`")
    p.add_argument("b", metavar="B", help="the same, for the other side")
    arguments.add_model_arguments(p, sides=True)
    arguments.add_profile_arguments(p)
    p.add_argument("-d", "--depth", type=int, default=None,
                   help="deepest level shown (default: the depth saved with A, or 3 for models)")
    p.add_argument("--all", action="store_true", help="show every level (overrides --depth)")
    p.add_argument("--changed", action="store_true", help="show only the layers that differ")
    p.add_argument("--format", choices=("table", "json"), default=None,
                   help="table (default) or json; default from the --output extension")
    p.add_argument("-o", "--output", metavar="FILE", help="write the diff to FILE")
    p.add_argument("--color", "--colour", dest="color", choices=("auto", "always", "never"), default="auto",
                   help="colour the differences: auto, always, never")
    p.add_argument("--width", type=int, default=None, metavar="N",
                   help="fit the table into N characters (default: the terminal's width, else 100)")
    p.add_argument("--expand", "--no-collapse", dest="expand", action="store_true",
                   help="show every repeated block instead of one 'h.0-11 x12' row")
    arguments.add_common_arguments(p)
    return p


def _side(spec: str, args: argparse.Namespace, overrides: Sequence[str]) -> Any:
    if spec == "-" or (spec.lower().endswith(".json") and os.path.isfile(spec)):
        return load_profile(spec)
    from .profile_cmd import profile_from_args

    return profile_from_args(spec, args, overrides)


def main(argv: Sequence[str]) -> int:
    """The exit status (0 whether or not the two sides differ)."""
    from ..report.diff import diff_dict, render_diff

    args = build_parser().parse_args(list(argv))
    check_display_args(args)
    a = _side(args.a, args, [*args.set, *args.set_a])
    b = _side(args.b, args, [*args.set, *args.set_b])
    depth = None if args.all else (args.depth if args.depth is not None else a.depth)
    fmt = args.format or (format_for_path(args.output) if args.output else "table")
    if fmt == "json":
        text = json.dumps(diff_dict(a, b, depth, args.changed), indent=2)
    elif fmt == "table":
        style = Style(args.output is None and use_color(args.color, sys.stdout))
        labels = (_label(args.a), _label(args.b)) if args.a != args.b else ("A", "B")
        text = render_diff(a, b, depth=depth, changed_only=args.changed, style=style, labels=labels,
                           width=args.width or (terminal_width(sys.stdout) if args.output is None else None),
                           expand=args.expand)
    else:
        raise SpecError(f"netcensus diff writes table or json, not {fmt}",
                        fix="give --format table or json, or an --output file ending in .txt or .json")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"netcensus: wrote the diff to {args.output}", file=sys.stderr)
    else:
        print_text(text, sys.stdout)
    return 0


def _label(spec: str) -> str:
    """A short name for one side: the file name without .json, or the spec's attribute."""
    base = os.path.basename(spec)
    if base.lower().endswith(".json"):
        base = base[:-5]
    if ":" in spec and not base.lower().endswith(".json"):
        base = spec.rsplit(":", 1)[-1]
    return base[:24] or spec[:24]
