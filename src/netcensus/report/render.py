"""One entry to every text renderer: ``render(profile, fmt, ...)`` and the format of a file name."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import SpecError
from .style import PLAIN, Style

if TYPE_CHECKING:
    from ..results.profile import Profile

FORMATS = ("table", "json", "csv", "md", "html")
EXTENSIONS = {".txt": "table", ".text": "table", ".json": "json", ".csv": "csv", ".md": "md",
              ".markdown": "md", ".html": "html", ".htm": "html"}


class FormatError(SpecError):
    """A format, file extension, depth or width the renderers cannot use."""


def format_for_path(path: str) -> str:
    """The format a file name asks for, by its extension."""
    lower = path.lower()
    for ext, fmt in EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    raise FormatError(f"cannot tell the format of {path!r} from its extension; use one of "
                      f"{', '.join(EXTENSIONS)} or give --format")


def time_block(profile: Profile, depth: int | None, width: int | None = None) -> str:
    """The step-time prediction under the table (and the GPUs side by side), or nothing; it fits
    ``width`` characters (default 100), as the table does."""
    from .table import DEFAULT_WIDTH
    from .timing import render_compare, render_time

    parts = []
    if profile.time is not None:
        parts.append(render_time(profile.time, depth=min(depth, 2) if depth is not None else 2,
                                 width=width or DEFAULT_WIDTH))
    if len(profile.time_compare) > 1:
        parts.append(render_compare(list(profile.time_compare)))
    return "".join("\n\n" + p for p in parts)


def check_display(depth: int | None, width: int | None = None) -> None:
    """``depth``: None (every level), -1 (the profile's default) or a level >= 0; ``width``: None or >= 1."""
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < -1):
        raise FormatError(f"depth must be a level >= 0, None for every level or -1 for the profile's "
                          f"default, got {depth!r}")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width < 1):
        raise FormatError(f"width must be a number of characters >= 1 or None, got {width!r}")


def render(profile: Profile, fmt: str = "table", *, depth: int | None = -1,
           memory_columns: bool | None = None, columns: str | Sequence[str] | None = None,
           sort: str | None = None, expand: bool = False,
           width: int | None = None, style: Style = PLAIN, explain: bool = False, by_op: bool = False,
           verbose: bool = False) -> str:
    """``profile`` in ``fmt`` (``table``, ``json``, ``csv``, ``md`` or ``html``). ``depth=-1`` is the
    profile's own default depth. ``explain`` and ``by_op`` replace the table (text format only).
    ``verbose``: under the table every total, the units convention and what each memory assumption
    means; with ``explain``, every layer and every term (no collapsing)."""
    check_display(depth, width)
    if depth == -1:
        depth = profile.depth
    if fmt == "table":
        if explain:
            from .explain import render_explain

            return render_explain(profile, verbose=verbose, width=width)
        if by_op:
            from .byop import render_by_op

            return render_by_op(profile, width)
        from .table import render_table

        text = render_table(profile, depth, memory_columns, columns=columns, sort=sort, expand=expand,
                            width=width, style=style, verbose=verbose)
        return text + time_block(profile, depth, width)
    if fmt == "json":
        return json.dumps(profile.to_dict(), indent=2)
    if fmt == "csv":
        from .columns import choose_columns
        from .csvfmt import render_csv

        keys = choose_columns(columns, False) if isinstance(columns, str) else columns
        return render_csv(profile, keys)
    if fmt == "md":
        from .markdown import render_markdown

        return render_markdown(profile, depth, memory_columns, columns=columns, sort=sort, expand=expand)
    if fmt == "html-fragment":  # the HTML a notebook shows for a profile (Profile._repr_html_)
        from .htmlpage import render_fragment

        return render_fragment(profile)
    if fmt == "html":
        from ..version import __version__
        from .htmlpage import render_html

        return render_html(profile, columns=columns, memory_columns=memory_columns, expand=expand,
                           open_depth=depth, version=__version__)
    raise FormatError(f"unknown format {fmt!r}; the formats are: {', '.join(FORMATS)}")
