"""``--format md``: the layer table and the totals as GitHub-flavoured Markdown, for a README or a paper.

Paths, shapes and formulas are in code spans (their ``*`` and ``_`` stay literal); ``|`` is escaped.
Repeated blocks are collapsed as in the terminal table; the units convention is stated under the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..units import CONVENTION
from .columns import COLUMNS, MAX_SHAPE_WIDTH, parse_sort, table_keys
from .summary import assumptions, figures, notes
from .table import clip, runs
from .tree import GROUP, TOTAL, display_rows

if TYPE_CHECKING:
    from ..results.profile import Profile

CODE = {"name", "input", "output", "formula"}


def _cell(text: str, code: bool) -> str:
    text = text.strip()
    if not text:
        return ""
    if code:
        tick = "``" if "`" in text else "`"
        return f"{tick}{text}{tick}".replace("|", "\\|")
    return text.replace("|", "\\|")


def render_markdown(profile: Profile, depth: int | None = None, memory_columns: bool | None = None, *,
                    columns: str | Sequence[str] | None = None, sort: str | None = None,
                    expand: bool = False) -> str:
    keys = table_keys(profile, columns, memory_columns)
    cols = [COLUMNS[k] for k in keys]
    sort_key, descending = parse_sort(sort)
    shown = display_rows(profile, depth, sort_key, descending, expand)
    mode = f"{profile.mode} mode" + (", forward + backward" if profile.train else "")
    lines = [f"### {profile.model}", "",
             f"Input `{runs(profile.inputs)}`, traced on {profile.device}, {mode}.", ""]
    lines.append("| " + " | ".join(c.header for c in cols) + " |")
    lines.append("|" + "|".join("---:" if c.right else ":---" for c in cols) + "|")
    for d in shown:
        cells = []
        for c in cols:
            text = c.text(d)
            if c.key == "name":
                text = text.strip()
            elif c.key in ("input", "output"):
                text = clip(text, MAX_SHAPE_WIDTH)
            cell = _cell(text, c.key in CODE)
            if d.kind in (GROUP, TOTAL) and c.key == "name":
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if any(d.kind == GROUP for d in shown):
        lines += ["Rows `a.0-N xK` stand for K consecutive identical blocks: figures per block (memory: the "
                  "range over the blocks); the `= ... total` rows sum them.", ""]
    if depth is not None and any(r.depth > depth for r in profile.layers):
        lines += [f"Rows deeper than depth {depth} are not shown; their figures are in their parents' rows.",
                  ""]
    lines += ["| Total | exact | |", "|:---|---:|---:|"]
    section = None
    for f in figures(profile):
        if f.section != section:
            section = f.section
            lines.append(f"| **{section}** | | |")
        note = f" ({f.note})" if f.note else ""
        lines.append(f"| {_cell(f.label + note, False)} | {f.exact} | {f.human} |")
    lines += ["", f"*{CONVENTION} 1 MAC = 2 FLOPs (docs/conventions.md).*"]
    extra = [f"- {_cell(n, False)}" for n in notes(profile)]
    extra += [f"- assumption: {name} = {_cell(value, False)}: {_cell(meaning, False)}"
              for name, value, meaning in assumptions(profile)]
    extra += [f"- **warning**: {_cell(w, False)}" for w in profile.warnings]
    if extra:
        lines += [""] + extra
    return "\n".join(lines) + "\n"
