"""``netcensus show FILE.json``: render a saved profile as a table, Markdown, CSV, HTML or charts. Torch is
never imported."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import arguments
from .output import check_display_args, emit, load_profile


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netcensus show",
        description="Render a profile saved with --format json (no model, no torch needed): as a table, "
                    "Markdown, CSV, HTML or charts.")
    p.add_argument("file", metavar="FILE.json",
                   help="a profile saved with netcensus --format json ('-': standard input)")
    arguments.add_display_arguments(p, depth_default=None)
    arguments.add_output_arguments(p)
    arguments.add_common_arguments(p)
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    check_display_args(args)
    emit(load_profile(args.file), args)
    return 0
