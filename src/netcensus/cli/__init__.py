"""The ``netcensus`` command: one program, subcommands sharing one loader and one set of options.

``netcensus [profile] MODEL ...`` (the default), ``netcensus show FILE.json``, ``netcensus diff A B``,
``netcensus serve MODEL`` (prefill and decode), ``netcensus sweep MODEL`` (batch x sequence, formulas).
Exit codes: 0 success; 2 a usage error (bad spec, input that does not fit the model, ...); 3 ``--strict``
found ops without a compute formula; 1 an internal error. Errors print one paragraph to stderr;
``--debug`` adds the traceback. Nothing is imported from torch until a command needs it, so ``show``
runs without torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from .output import fail
from .profile_cmd import build_parser

__all__ = ["COMMANDS", "build_parser", "main", "run"]


def _profile(argv: Sequence[str]) -> int:
    from .profile_cmd import main

    return main(argv)


def _show(argv: Sequence[str]) -> int:
    from .show import main

    return main(argv)


def _diff(argv: Sequence[str]) -> int:
    from .diff import main

    return main(argv)


def _serve(argv: Sequence[str]) -> int:
    from .serve import main

    return main(argv)


def _sweep(argv: Sequence[str]) -> int:
    from .sweep import main

    return main(argv)


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "profile": _profile, "show": _show, "diff": _diff, "serve": _serve, "sweep": _sweep,
}
"""Subcommand -> its entry; a first argument that is none of these is a MODEL for ``profile``."""


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(argv[0]) if argv else None
    entry, rest = (command, argv[1:]) if command is not None else (_profile, argv)
    try:
        return entry(rest)
    except SystemExit as exc:  # argparse: --help, --version, or a malformed command line (exit 2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        print("netcensus: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # every error becomes one paragraph and an exit code
        return fail(exc, "--debug" in argv)


def main() -> None:
    sys.exit(run())
