"""``--format html``: one self-contained page (inline CSS, JS and SVG; nothing fetched).

The page has the totals, bar charts of where the parameters, FLOPs and memory go (:mod:`.charts`), and
the layer tree: rows expand and collapse (repeated blocks are collapsed as in the terminal table),
headers sort the siblings of every level, hovering a name shows the layer's configuration and
formulas, and the formula cell expands to the full arithmetic. ``render_fragment`` is the same table
and totals without script, for Jupyter (``Profile._repr_html_``). Every number shown is formatted by
:mod:`.units`; the script only sorts and toggles, reading the raw integers from ``data-v``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from ..units import CONVENTION, percent
from .charts import Chart, charts
from .columns import COLUMNS, Column, table_keys
from .summary import assumptions, figures, notes
from .table import runs
from .tree import GROUP, TOTAL, DisplayRow, display_rows

if TYPE_CHECKING:
    from ..results.profile import Profile

CSS = """
.nc{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;max-width:100%}
.nc h1{font-size:1.5em;margin:.2em 0}.nc h2{font-size:1.15em;margin:1.2em 0 .4em}
.nc .meta{color:#5b6570;margin:0 0 .8em}
.nc table{border-collapse:collapse;font-variant-numeric:tabular-nums}
.nc th,.nc td{padding:2px 8px;border-bottom:1px solid #e6e9ed;text-align:left;vertical-align:top;
  white-space:nowrap}
.nc td.n,.nc th.n{text-align:right}
.nc thead th{position:sticky;top:0;background:#f4f6f8;border-bottom:2px solid #c9d0d6;cursor:pointer;
  user-select:none}
.nc thead th[aria-sort=descending]::after{content:" \\25BE"}
.nc thead th[aria-sort=ascending]::after{content:" \\25B4"}
.nc tbody tr:hover{background:#f2f7ff}
.nc td.name{padding-left:calc(var(--d,0)*.9em + 8px);font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.nc tr.group td.name{color:#0b61a4;font-weight:600}
.nc tr.total td{font-weight:600;color:#36414c;background:#fafbfc}
.nc button.tg{border:0;background:none;cursor:pointer;width:1.2em;padding:0;color:#5b6570;font:inherit}
.nc span.sp{display:inline-block;width:1.2em}
.nc td.bar{background:linear-gradient(90deg,#dbe9f7 var(--p),transparent var(--p))}
.nc td.f{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;white-space:normal;min-width:8em;
  max-width:18em}
.nc details summary{cursor:pointer}.nc details pre{margin:.2em 0;font-size:.92em;white-space:pre-wrap}
.nc .warn{color:#a4400b}.nc .unsup{color:#b3261e}
.nc .charts{display:flex;flex-wrap:wrap;gap:12px}
.nc figure{margin:0;padding:8px 10px;border:1px solid #e6e9ed;border-radius:6px;background:#fff}
.nc figcaption{font-weight:600;margin-bottom:4px}
.nc svg text{font:12px system-ui,sans-serif;fill:#1d232a}
.nc svg.params rect{fill:#3b7dd8}.nc svg.flops rect{fill:#d8873b}
.nc svg.memory rect,.nc svg.saved rect{fill:#4aa068}
.nc svg.params_type rect{fill:#7aa7e6}.nc svg.flops_type rect{fill:#e8b07a}
.nc .toolbar button{margin-right:6px}
.nc td.s{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:13em;font-size:.93em}
.nc td.s.type{max-width:11em}
.nc thead th{white-space:normal;vertical-align:bottom}
.nc .scroll{max-width:100%;overflow-x:auto}
.nc .top{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.nc ul{margin:.3em 0;padding-left:1.3em}
"""

SCRIPT = r"""
(function () {
  document.querySelectorAll("table.nc-layers").forEach(function (table) {
    var tbody = table.tBodies[0], rows = Array.prototype.slice.call(tbody.rows);
    var kids = {}, totals = {}, top = null;
    rows.forEach(function (tr) {
      var d = tr.dataset;
      if (d.kind === "total") { totals[d.group] = tr; return; }
      if (d.parent === undefined) { top = tr; return; }
      (kids[d.parent] = kids[d.parent] || []).push(tr);
    });
    function refresh() {
      (function visit(tr, visible) {
        tr.hidden = !visible;
        var open = tr.classList.contains("open");
        (kids[tr.dataset.key] || []).forEach(function (c) { visit(c, visible && open); });
        var t = totals[tr.dataset.key];
        if (t) { t.hidden = !visible; }
      })(top, true);
      rows.forEach(function (tr) {
        var b = tr.querySelector("button.tg");
        if (b) { var o = tr.classList.contains("open"); b.textContent = o ? "\u25BE" : "\u25B8";
                 b.setAttribute("aria-expanded", o ? "true" : "false"); }
      });
    }
    tbody.addEventListener("click", function (e) {
      var b = e.target.closest("button.tg");
      if (!b) { return; }
      b.closest("tr").classList.toggle("open");
      refresh();
    });
    function value(tr, col) {
      var td = tr.cells[col];
      return td.dataset.v !== undefined ? Number(td.dataset.v) : td.textContent.trim().toLowerCase();
    }
    function place(tr) {
      tbody.appendChild(tr);
      (kids[tr.dataset.key] || []).forEach(place);
      var t = totals[tr.dataset.key];
      if (t) { tbody.appendChild(t); }
    }
    var ths = Array.prototype.slice.call(table.tHead.rows[0].cells);
    ths.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var desc = th.getAttribute("aria-sort") !== "descending";
        if (!th.classList.contains("n") && th.getAttribute("aria-sort") === null) { desc = false; }
        ths.forEach(function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", desc ? "descending" : "ascending");
        Object.keys(kids).forEach(function (k) {
          kids[k].sort(function (a, b) {
            var x = value(a, col), y = value(b, col);
            if (x === y) { return Number(a.dataset.i) - Number(b.dataset.i); }
            return (x < y ? -1 : 1) * (desc ? -1 : 1);
          });
        });
        place(top);
      });
    });
    var bar = table.closest(".nc").querySelector(".toolbar");
    if (bar) {
      bar.addEventListener("click", function (e) {
        var b = e.target.closest("button[data-act]");
        if (!b) { return; }
        var act = b.dataset.act;
        rows.forEach(function (tr) {
          if (!tr.querySelector("button.tg")) { return; }
          if (act === "expand") { tr.classList.add("open"); }
          else if (act === "collapse") { tr.classList.toggle("open", tr === top); }
          else if (act === "reset") { tr.classList.toggle("open", tr.dataset.open === "1"); }
        });
        if (act === "reset") {
          ths.forEach(function (o) { o.removeAttribute("aria-sort"); });
          Object.keys(kids).forEach(function (k) {
            kids[k].sort(function (a, b) { return Number(a.dataset.i) - Number(b.dataset.i); });
          });
          place(top);
        }
        refresh();
      });
    }
    refresh();
  });
})();
"""


def _explain(d: DisplayRow) -> str:
    r = d.row
    parts = [f"{d.name}: {r.describe or r.type}"]
    parts += r.explain
    parts += [f"WARNING: {w}" for w in r.warnings]
    return "\n".join(parts)


def _base(d: DisplayRow) -> str:
    """The path a row's children are named under (a group's range, without its `` xK``)."""
    if d.key == "":
        return ""
    return d.name.split(" x")[0] if d.kind == GROUP else d.name


def relative_name(d: DisplayRow, parent: DisplayRow | None) -> str:
    """The name under its parent in the tree, as a file browser shows it: ``q_proj`` under
    ``model.layers.0-31.self_attn``, ``0-31 x32`` under ``model.layers``; the full path is in the tooltip."""
    base = _base(parent) if parent is not None else ""
    if not base:
        return d.name
    if d.kind == TOTAL:
        inner = d.name[2:-6] if d.name.startswith("= ") and d.name.endswith(" total") else d.name
        return f"= {inner[len(base) + 1:]} total" if inner.startswith(base + ".") else d.name
    return d.name[len(base) + 1:] if d.name.startswith(base + ".") else d.name


def _td(col: Column, d: DisplayRow, shares: dict[str, int], js: bool, open_: bool,
        parent: DisplayRow | None = None) -> str:
    text = col.text(d)
    if col.key == "name":
        text = relative_name(d, parent) + text.strip()[len(d.name):]  # keep '(2 calls)', '(not called)'
        tip = escape(_explain(d), quote=True)
        button = ""
        if js:
            button = '<span class="sp"></span>'
            if d.has_children:
                button = (f'<button class="tg" aria-expanded="{"true" if open_ else "false"}">'
                          f'{"&#9662;" if open_ else "&#9656;"}</button>')
        return f'<td class="name" style="--d:{d.depth}" title="{tip}">{button}{escape(text.strip())}</td>'
    if col.numeric:
        value = col.value(d)
        attrs = f' data-v="{value}"'
        cls = "n"
        whole = shares.get(col.key)
        if whole:
            cls += " bar"
            attrs += f' style="--p:{percent(value, whole)}"'
        if col.key == "flops" and d.row.unsupported_calls:
            cls += " unsup"
            attrs += ' title="some ops here have no formula and are not counted"'
        return f'<td class="{cls}"{attrs}>{escape(text)}</td>'
    if col.key == "formula":
        lines = d.row.explain if d.kind != TOTAL else []
        if not lines:
            return f'<td class="f">{escape(text)}</td>'
        summary = escape(text) if text else "explain"
        pre = escape("\n".join(lines))
        return f'<td class="f"><details><summary>{summary}</summary><pre>{pre}</pre></details></td>'
    if col.key in ("input", "output", "type"):  # one line, cut with an ellipsis; the whole text on hover
        return f'<td class="s {col.key}" title="{escape(text, quote=True)}">{escape(text)}</td>'
    return f"<td>{escape(text)}</td>"


def _layers_table(profile: Profile, keys: Sequence[str], depth: int | None, expand: bool, js: bool,
                  open_depth: int | None) -> str:
    cols = [COLUMNS[k] for k in keys]
    shown = display_rows(profile, depth, None, True, expand)
    shares = {"params": profile.total_params}
    if profile.compute is not None:
        shares["flops"] = profile.compute.totals.total.flops
        shares["macs"] = profile.compute.totals.total.macs
    head = "".join(f'<th class="{"n" if c.numeric else ""}" title="{escape(c.help)}">{escape(c.header)}</th>'
                   for c in cols)
    body = []
    by_key = {d.key: d for d in shown}
    for i, d in enumerate(shown):
        open_ = d.kind != GROUP and (open_depth is None or d.depth < open_depth)
        classes = [d.kind] + (["open"] if open_ and d.has_children else [])
        attrs = f' data-key="{escape(d.key)}" data-kind="{d.kind}" data-i="{i}"'
        if d.kind == TOTAL:
            attrs += f' data-group="{escape(d.key.replace("#total", "#group"))}"'
        elif d.parent_key is not None:
            attrs += f' data-parent="{escape(d.parent_key)}"'
        attrs += f' data-open="{1 if open_ else 0}"'
        cells = "".join(_td(c, d, shares, js, open_, by_key.get(d.parent_key or "\0")) for c in cols)
        body.append(f'<tr class="{" ".join(classes)}"{attrs}>{cells}</tr>')
    return (f'<table class="nc-layers"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body)
            + "\n</tbody></table>")


def _totals(profile: Profile) -> str:
    rows = []
    section = None
    for f in figures(profile):
        if f.section != section:
            section = f.section
            rows.append(f'<tr><th colspan="4">{escape(section)}</th></tr>')
        rows.append(f"<tr><td>{escape(f.label)}</td><td class=\"n\">{escape(f.exact)}</td>"
                    f"<td class=\"n\">{escape(f.human)}</td><td>{escape(f.note)}</td></tr>")
    return '<table class="nc-totals">' + "".join(rows) + "</table>"


def _notes(profile: Profile) -> str:
    items = [f"<li>{escape(n)}</li>" for n in notes(profile)]
    items += [f"<li>assumption: <b>{escape(n)}</b> = {escape(v)}: {escape(m)}</li>"
              for n, v, m in assumptions(profile)]
    items += [f'<li class="warn">WARNING: {escape(w)}</li>' for w in profile.warnings]
    items.append(f"<li>{escape(CONVENTION)} 1 MAC = 2 FLOPs; core MACs = conv, linear, matmul and attention "
                 "products (docs/conventions.md).</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _short(label: str, n: int = 34) -> str:
    """A chart label in at most ``n`` characters, cut at word and path boundaries, never mid-word:
    leading path components first (``\u2026h.0-11.attn (GPT2Attention x12)``), then the class name
    (``(x12)``); the full label is in the bar's tooltip."""
    if len(label) <= n:
        return label
    path, sep, rest = label.partition(" (")
    suffix = sep + rest
    parts = path.split(".")
    while len(parts) > 1 and len("\u2026." + ".".join(parts) + suffix) > n:
        parts = parts[1:]
    head = ("\u2026." if len(parts) < len(path.split(".")) else "") + ".".join(parts)
    if len(head + suffix) > n and suffix:
        times = [w for w in rest.rstrip(")").split() if w.startswith("x") and w[1:].isdigit()]
        suffix = f" ({times[-1]})" if times else ""
    text = head + suffix
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def svg_chart(chart: Chart, width: int = 600) -> str:
    """A horizontal bar chart as inline SVG: label, bar (relative to the largest), value and share."""
    label_w, value_w, row = 230, 140, 22
    bar_w = width - label_w - value_w
    top = max((b.value for b in chart.bars), default=0) or 1
    height = row * len(chart.bars) + 6
    parts = [f'<svg class="{chart.key}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(chart.title)}" xmlns="http://www.w3.org/2000/svg">']
    for i, b in enumerate(chart.bars):
        y = 3 + i * row
        w = max(bar_w * b.value / top, 1.0)
        parts.append(f"<g><title>{escape(b.label)}: {escape(b.text)}</title>"
                     f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">'
                     f"{escape(_short(b.label))}</text>"
                     f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="14" rx="2"></rect>'
                     f'<text x="{label_w + w + 6:.1f}" y="{y + 14}">{escape(b.text)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _charts(profile: Profile) -> str:
    figs = []
    for c in charts(profile):
        if not c.bars:
            continue
        figs.append(f"<figure><figcaption>{escape(c.title)}: {escape(c.total_text)}</figcaption>"
                    f"{svg_chart(c)}</figure>")
    return '<div class="charts">' + "".join(figs) + "</div>"


def _ops(profile: Profile) -> str:
    if profile.compute is None or not profile.compute.by_op:
        return ""
    from ..units import exact, si

    rows = []
    for r in profile.by_op():
        modules = ", ".join(m or profile.model for m in r.modules[:4])
        modules += " ..." if len(r.modules) > 4 else ""
        rows.append(f"<tr><td>{escape(r.op)}</td><td>{escape(r.status)}</td>"
                    f'<td class="n" data-v="{r.calls}">{exact(r.calls)}</td>'
                    f'<td class="n" data-v="{r.figures.macs}">{si(r.figures.macs)}</td>'
                    f'<td class="n" data-v="{r.figures.flops}">{si(r.figures.flops)}</td>'
                    f'<td class="f">{escape(r.formula)}</td><td>{escape(modules)}</td></tr>')
    head = "".join(f"<th>{h}</th>" for h in ("Op", "Status", "Calls", "MACs", "FLOPs", "Formula (first call)",
                                              "Modules"))
    return (f"<details><summary>Ops of the trace ({len(rows)}), most FLOPs first</summary>"
            f'<table class="nc-ops"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            "</details>")


def _meta(profile: Profile) -> str:
    mode = f"{profile.mode} mode" + (", forward + backward" if profile.train else "")
    return f"input {runs(profile.inputs)} | traced on {profile.device}, {mode}"


def _keys(profile: Profile, columns: str | Sequence[str] | None, memory_columns: bool | None) -> list[str]:
    return table_keys(profile, columns, memory_columns)


def _time(profile: Profile) -> str:
    """The step-time prediction (``gpu=``): its text and the roofline chart; nothing without one."""
    if profile.time is None:
        return ""
    from .timing import render_time, roofline_html

    return (f"<h2>Step time on {escape(profile.time.gpu)}</h2><pre>{escape(render_time(profile.time))}</pre>"
            + roofline_html(profile.time))


def render_html(profile: Profile, *, columns: str | Sequence[str] | None = None,
                memory_columns: bool | None = None, expand: bool = False, open_depth: int | None = None,
                version: str | None = None) -> str:
    """The page. Every module is in the tree; ``open_depth`` (default: the profile's depth) sets how
    deep it starts expanded."""
    keys = _keys(profile, columns, memory_columns)
    if open_depth is None:
        open_depth = profile.depth
    made = f"netcensus {version}" if version else "netcensus"
    body = [
        '<div class="nc">',
        f"<h1>{escape(profile.model)}</h1>",
        f'<p class="meta">{escape(_meta(profile))} | {escape(made)}</p>',
        '<div class="top"><div><h2>Totals</h2>', _totals(profile), "</div>",
        "<div><h2>Where it goes</h2>", _charts(profile), "</div></div>",
        "<h2>Layers</h2>",
        '<div class="toolbar"><button data-act="expand">Expand all</button>'
        '<button data-act="collapse">Collapse all</button><button data-act="reset">Reset</button>'
        "<span class=\"meta\"> Click a header to sort (within each level); hover a name for its formulas."
        "</span></div>",
        '<div class="scroll">', _layers_table(profile, keys, None, expand, True, open_depth), "</div>",
        _ops(profile),
        _time(profile),
        "<h2>Notes</h2>", _notes(profile),
        "</div>",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>netcensus: {escape(profile.model)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{SCRIPT}</script>\n</body></html>\n")


def render_fragment(profile: Profile, depth: int | None = -1) -> str:
    """The layer table (to the profile's depth) and the totals, without script: for Jupyter."""
    if depth == -1:
        depth = profile.depth
    keys = _keys(profile, None, None)
    return (f'<div class="nc"><style>{CSS}</style><b>{escape(profile.model)}</b> '
            f'<span class="meta">{escape(_meta(profile))}</span>'
            + _layers_table(profile, keys, depth, False, False, None)
            + "<details><summary>Totals</summary>" + _totals(profile) + _notes(profile) + "</details></div>")
