"""The report side of the command line: output flags, ``emit``, ``netcensus show`` and ``netcensus diff``.

``add_report_arguments(parser)`` adds the output flags to the main parser (widening an existing
``--format``); ``emit(profile, args)`` renders and prints or writes. ``main_show(argv)`` renders a saved
JSON profile and never imports torch; ``main_diff(argv)`` compares two saved profiles, or two model
specs (those are profiled, which needs torch).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .columns import COLUMNS, SORT_KEYS
from .render import FORMATS, format_for_path, render
from .style import CHOICES, Style, use_color

if TYPE_CHECKING:
    from ..results.profile import Profile

FORMAT_HELP = ("output format: table (terminal), json (versioned schema, docs/json-schema.md), csv (one row "
               "per module), md (Markdown), html (one self-contained page); default table, or the --output "
               "file's extension")


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--format`` (or widen the parser's), ``--output``, ``--columns``, ``--sort``, ``--expand``,
    ``--color``, ``--width`` and ``--plot``."""
    existing = parser._option_string_actions.get("--format")
    if existing is not None:
        existing.choices = FORMATS
        existing.default = None
        existing.help = FORMAT_HELP
    else:
        parser.add_argument("--format", choices=FORMATS, default=None, help=FORMAT_HELP)
    g = parser.add_argument_group("output (formats, files, columns)")
    flags = parser._option_string_actions

    def add(*names: str, **kwargs: Any) -> None:
        fresh = [n for n in names if n not in flags]
        if fresh:
            g.add_argument(*fresh, **kwargs)

    add("-o", "--output", metavar="FILE",
        help="write the report to FILE instead of printing it; the format follows the extension (.txt, "
             ".json, .csv, .md, .html) unless --format is given")
    add("--columns", metavar="COLS",
        help="table columns, comma-separated: a list replaces the default, +col/-col adds or removes; "
             "columns: " + ", ".join(COLUMNS))
    add("--sort", metavar="KEY[:asc|:desc]",
        help="order the siblings of every level (the tree is kept), largest first for numbers; keys: "
             + ", ".join(SORT_KEYS))
    add("--expand", "--no-collapse", dest="expand", action="store_true",
        help="show every repeated block instead of one 'layers.0-79 x80' row")
    add("--color", "--colour", dest="color", choices=CHOICES, default="auto",
        help="colour the table: auto (when printing to a terminal; NO_COLOR turns it off), always, never")
    add("--width", type=int, default=None, metavar="N",
        help="fit the table into N characters (default: the terminal's width on a terminal, else no limit)")
    add("--plot", metavar="FILE.png|svg",
        help="also save bar charts of where the parameters, FLOPs and memory go (needs matplotlib: "
             "pip install 'netcensus[plot]')")


def check_display_args(args: argparse.Namespace) -> None:
    """Refuse a ``--depth`` below 0 and a ``--width`` below 1 (``SpecError``), before any work is done:
    argparse takes any integer, and a negative depth or width would otherwise pass silently."""
    from ..errors import SpecError

    depth = getattr(args, "depth", None)
    if depth is not None and depth < 0:
        raise SpecError(f"--depth must be 0 or more (0: the model alone, 1: its children, ...), got {depth}",
                        fix="give --depth 0 or more, or --all for every level")
    width = getattr(args, "width", None)
    if width is not None and width < 1:
        raise SpecError(f"--width must be a number of characters >= 1, got {width}",
                        fix="give --width N with N >= 1 (e.g. --width 100), or leave it out: the table "
                            "then fits the terminal, and is never cut in a pipe or a file")


def _depth(args: argparse.Namespace, profile: Profile) -> int | None:
    if getattr(args, "all", False):
        return None
    depth = getattr(args, "depth", None)
    return profile.depth if depth is None else depth


def _width(args: argparse.Namespace, stream: TextIO) -> int | None:
    if getattr(args, "width", None):
        return int(args.width)
    isatty = getattr(stream, "isatty", None)
    if (isatty and isatty()) or os.environ.get("COLUMNS"):
        return shutil.get_terminal_size().columns
    return None


def output_format(args: argparse.Namespace) -> str:
    """The format ``args`` ask for: ``--format``, else the ``--output`` file's extension, else ``table``."""
    output = getattr(args, "output", None)
    return getattr(args, "format", None) or (format_for_path(output) if output else "table")


def render_args(profile: Profile, args: argparse.Namespace, stream: TextIO | None = None) -> tuple[str, str]:
    """``(format, text)`` of ``profile`` as ``args`` ask."""
    stream = stream or sys.stdout
    output = getattr(args, "output", None)
    fmt = output_format(args)
    to_terminal = output is None
    style = Style(fmt == "table" and to_terminal and use_color(getattr(args, "color", "auto"), stream))
    text = render(
        profile, fmt, depth=_depth(args, profile),
        memory_columns=True if getattr(args, "memory", False) else None,
        columns=getattr(args, "columns", None), sort=getattr(args, "sort", None),
        expand=bool(getattr(args, "expand", False)), width=_width(args, stream) if to_terminal else None,
        style=style, explain=bool(getattr(args, "explain", False)), by_op=bool(getattr(args, "by_op", False)))
    return fmt, text


def emit(profile: Profile, args: argparse.Namespace, stream: TextIO | None = None) -> None:
    """Render ``profile`` as ``args`` ask; print it, or write it to ``--output``; save ``--plot``."""
    from ..errors import SpecError
    from .columns import ColumnError
    from .render import FormatError

    stream = stream or sys.stdout
    try:
        fmt, text = render_args(profile, args, stream)
    except (ColumnError, FormatError) as exc:
        raise SpecError(str(exc)) from None
    output = getattr(args, "output", None)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        print(f"netcensus: wrote the {fmt} report to {output}", file=sys.stderr)
    else:
        _print(text, stream)
    plot = getattr(args, "plot", None)
    if plot:
        from .plot import save_plot

        save_plot(profile, plot)
        print(f"netcensus: wrote the charts to {plot}", file=sys.stderr)


def _print(text: str, stream: TextIO) -> None:
    try:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()
    except BrokenPipeError:  # e.g. `netcensus ... | head`: the reader left; that is not an error
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass


def _fail(exc: BaseException, debug: bool) -> int:
    from ..errors import NetcensusError

    if debug:
        traceback.print_exc()
    if isinstance(exc, NetcensusError):
        print(f"netcensus: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, OSError):
        print(f"netcensus: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    print(f"netcensus: internal error: {type(exc).__name__}: {exc}. This is a bug in netcensus; rerun with "
          "--debug and report the traceback.", file=sys.stderr)
    return 1


def load_profile(path: str) -> Profile:
    """A profile saved as JSON (``-`` reads standard input)."""
    from ..errors import SpecError
    from ..results.profile import Profile

    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as exc:
        raise SpecError(f"cannot read {path!r}: {exc.strerror or exc}",
                        fix="give the path of a profile saved with --format json") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path!r} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                        fix="give a file written by netcensus --format json") from None
    return Profile.from_dict(data)


def _display_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--depth", type=int, default=None,
                   help="deepest level shown in the table (default: the depth saved with the profile)")
    p.add_argument("--all", action="store_true", help="show every level (overrides --depth)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def build_show_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netcensus show",
        description="Render a profile saved with --format json (no model, no torch needed): as a table, "
                    "Markdown, CSV, HTML or charts.")
    p.add_argument("file", metavar="FILE.json",
                   help="a profile saved with netcensus --format json ('-': standard input)")
    _display_flags(p)
    p.add_argument("--explain", action="store_true", help="each layer's formulas with the numbers bound")
    p.add_argument("--by-op", action="store_true", help="the table of aten ops")
    p.add_argument("--memory", action="store_true", help="add the per-layer memory columns")
    add_report_arguments(p)
    return p


def main_show(argv: Sequence[str] | None = None) -> int:
    """``netcensus show FILE.json [options]``; the exit status."""
    args = build_show_parser().parse_args(argv)
    try:
        check_display_args(args)
        emit(load_profile(args.file), args)
        return 0
    except Exception as exc:
        return _fail(exc, args.debug)


def build_diff_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netcensus diff",
        description="Compare two profiles layer by layer: saved JSON profiles, or model specs profiled with "
                    "the same --input. Differences in parameters, FLOPs and memory are marked.")
    p.add_argument("a", metavar="A",
                   help="a saved profile (.json) or a model spec (pkg.mod:attr, file.py:Name)")
    p.add_argument("b", metavar="B", help="the same, for the other side")
    p.add_argument("-i", "--input", action="append", default=[], metavar="SHAPE",
                   help="input shape for model specs (as for netcensus MODEL); repeat for several inputs")
    p.add_argument("--dtype", default=None, help="dtype of inputs given without one (default float32)")
    p.add_argument("--train", action="store_true", help="profile model specs for a training step")
    _display_flags(p)
    p.add_argument("--changed", action="store_true", help="show only the layers that differ")
    p.add_argument("--format", choices=("table", "json"), default=None,
                   help="table (default) or json; default from the --output extension")
    p.add_argument("-o", "--output", metavar="FILE", help="write the diff to FILE")
    p.add_argument("--color", "--colour", dest="color", choices=CHOICES, default="auto",
                   help="colour the differences: auto, always, never")
    return p


def _side(spec: str, args: argparse.Namespace) -> Profile:
    if spec == "-" or (spec.lower().endswith(".json") and os.path.isfile(spec)):
        return load_profile(spec)
    from ..api import profile
    from ..errors import SpecError
    from ..spec import load_model, parse_dtype, parse_input

    if not args.input:
        raise SpecError(f"{spec!r} is not a saved .json profile, so it is a model spec and needs --input",
                        fix="add --input with the model's input shape, e.g. --input 1x3x224x224")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    import torch

    dtype = parse_dtype(args.dtype)
    sizes = [parse_input(text, dtype or torch.float32) for text in args.input]
    return profile(load_model(spec, device="meta"), input_size=sizes,  # type: ignore[arg-type]
                   train=args.train, depth=None)


def main_diff(argv: Sequence[str] | None = None) -> int:
    """``netcensus diff A B [options]``; the exit status (0 whether or not they differ)."""
    from .diff import diff_dict, render_diff

    args = build_diff_parser().parse_args(argv)
    try:
        check_display_args(args)
        a, b = _side(args.a, args), _side(args.b, args)
        depth = None if args.all else args.depth
        fmt = args.format or (format_for_path(args.output) if args.output else "table")
        if fmt == "json":
            text = json.dumps(diff_dict(a, b, depth, args.changed), indent=2)
        elif fmt == "table":
            style = Style(args.output is None and use_color(args.color, sys.stdout))
            text = render_diff(a, b, depth=depth, changed_only=args.changed, style=style,
                               labels=(_label(args.a), _label(args.b)) if args.a != args.b else ("A", "B"))
        else:
            from ..errors import SpecError

            raise SpecError(f"netcensus diff writes table or json, not {fmt}")
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            print(f"netcensus: wrote the diff to {args.output}", file=sys.stderr)
        else:
            _print(text, sys.stdout)
        return 0
    except Exception as exc:
        return _fail(exc, args.debug)


def _label(spec: str) -> str:
    """A short name for one side: the file name without .json, or the spec's attribute."""
    base = os.path.basename(spec)
    if base.lower().endswith(".json"):
        base = base[:-5]
    if ":" in spec and not base.lower().endswith(".json"):
        base = spec.rsplit(":", 1)[-1]
    return base[:24] or spec[:24]
