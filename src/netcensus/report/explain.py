"""``--explain``: per layer, the parameter and output-shape formulas with the numbers bound.

Repeated identical blocks are collapsed as in the table (:mod:`.tree`): the first block's layers are
explained once, under the group's name (``h.0-11.attn``), and the total groups their terms
(``12 x 7,087,872``). ``verbose`` lists every layer and every term.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .table import compress_paths, runs, short_totals_lines, totals_lines, wrap
from .tree import GROUP, LAYER, TOTAL, display_rows

if TYPE_CHECKING:
    from ..results.profile import LayerRow, Profile


def _block(name: str, row: LayerRow, count: int) -> list[str]:
    head = f"{name}  {row.describe}".rstrip()
    if count > 1:
        head += f"  ({count} identical blocks; the first is explained)"
    if row.calls > 1:
        head += f"  (called {row.calls} times; parameters counted once)"
    return [head] + [f"  {line}" for line in row.explain] + [f"  WARNING: {w}" for w in row.warnings]


def _terms(profile: Profile, verbose: bool) -> list[str]:
    """The own-parameter terms of the total, in tree order; a collapsed group is one ``K x S`` term,
    S being one block's own parameters."""
    if verbose:
        return [f"{r.own_params:,}" for r in profile.layers if r.own_params]
    terms: list[str] = []
    block: dict[str, int] = {}
    inside = ""
    for d in display_rows(profile, None):
        if d.kind == TOTAL:
            key = d.key.replace("#total", "#group")
            if block.get(key):
                terms.append(f"{d.count} x {block[key]:,}")
            inside = ""
            continue
        if d.kind == GROUP:
            inside = d.key
            block[inside] = d.row.own_params
            continue
        if inside and d.count > 1:
            block[inside] += d.row.own_params
        elif d.row.own_params:
            terms.append(f"{d.row.own_params:,}")
    return terms


def render_explain(profile: Profile, verbose: bool = False, width: int | None = None) -> str:
    lines = [f"{profile.model} | input {runs(profile.inputs)}", ""]
    if verbose:
        for row in profile.layers:
            if row.explain or row.warnings:
                lines += _block(row.name, row, 1)
    else:
        for d in display_rows(profile, None):
            if d.kind in (LAYER, GROUP) and (d.row.explain or d.row.warnings):
                name = d.name.split(" x")[0] if d.kind == GROUP else d.name
                lines += _block(name.strip(), d.row, d.count if d.kind == GROUP else 1)
    own_sum = sum(r.own_params for r in profile.layers)
    terms = _terms(profile, verbose)
    lines.append("")
    if terms:
        lines.append(f"Total = sum of own params = {' + '.join(terms)} = {own_sum:,}")
    lines += totals_lines(profile) if verbose else short_totals_lines(profile)
    lines += [f"note: {n if verbose else compress_paths(n)}" for n in profile.notes]
    out: list[str] = []
    for line in lines:
        out.extend(wrap(line, width or (None if verbose else 100)))
    return "\n".join(out)
