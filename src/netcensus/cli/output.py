"""Writing what a command made: ``emit(profile, args)`` renders a profile as the flags ask and prints it or
writes it to ``--output``; ``load_profile`` reads a saved JSON profile; ``fail`` turns an exception into one
paragraph on stderr and an exit status. Nothing here imports torch."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import traceback
from typing import TYPE_CHECKING, TextIO

from ..errors import NetcensusError, SpecError
from ..report.render import format_for_path, render
from ..report.style import Style, use_color

if TYPE_CHECKING:
    from ..results.profile import Profile


def check_display_args(args: argparse.Namespace) -> None:
    """Refuse a ``--depth`` below 0 and a ``--width`` below 1 (``SpecError``), before any work is done:
    argparse takes any integer, and a negative depth or width would otherwise pass silently."""
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
    return terminal_width(stream)


def terminal_width(stream: TextIO) -> int | None:
    """The terminal's width when ``stream`` is one (or COLUMNS is set), else None (the renderers' default)."""
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
        style=style, explain=bool(getattr(args, "explain", False)), by_op=bool(getattr(args, "by_op", False)),
        **({"verbose": True} if getattr(args, "verbose", False) else {}))
    return fmt, text


def emit(profile: Profile, args: argparse.Namespace, stream: TextIO | None = None) -> None:
    """Render ``profile`` as ``args`` ask; print it, or write it to ``--output``; save ``--plot``."""
    stream = stream or sys.stdout
    fmt, text = render_args(profile, args, stream)
    output = getattr(args, "output", None)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        print(f"netcensus: wrote the {fmt} report to {output}", file=sys.stderr)
    else:
        print_text(text, stream)
    plot = getattr(args, "plot", None)
    if plot:
        from ..report.plot import save_plot

        save_plot(profile, plot)
        print(f"netcensus: wrote the charts to {plot}", file=sys.stderr)


def print_text(text: str, stream: TextIO) -> None:
    try:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()
    except BrokenPipeError:  # e.g. `netcensus ... | head`: the reader left; that is not an error
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass


def fail(exc: BaseException, debug: bool) -> int:
    """Print ``exc`` as one paragraph (and its traceback with ``debug``); the exit status it means."""
    if debug:
        traceback.print_exc()
    if isinstance(exc, NetcensusError):
        print(f"netcensus: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, OSError) and exc.filename is not None:  # a path the user gave: -o, --plot
        print(f"netcensus: error: {str(exc.filename)!r}: {exc.strerror or exc}. Fix: check the path (for "
              "-o and --plot its folder must exist and be writable).", file=sys.stderr)
        return 2
    print(f"netcensus: internal error: {type(exc).__name__}: {exc}. This is a bug in netcensus; rerun with "
          "--debug and report the traceback.", file=sys.stderr)
    return 1


def load_profile(path: str) -> Profile:
    """A profile saved as JSON (``-`` reads standard input)."""
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
