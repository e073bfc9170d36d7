"""The terminal table: collapsed repeated blocks, columns, sorting, fitting the width, colour."""

from __future__ import annotations

import re

import pytest
from report_models import BLOCK_PARAMS, BLOCKS, Repeated, TinyTransformer
from torch import nn

import netcensus
from netcensus.examples import ALEXNET_INPUT, alexnet
from netcensus.report.columns import ColumnError, choose_columns
from netcensus.report.style import Style, use_color
from netcensus.report.table import render_table
from netcensus.report.tree import GROUP, TOTAL, display_rows

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def alex():
    return netcensus.profile(alexnet(), input_size=ALEXNET_INPUT)


@pytest.fixture(scope="module")
def tiny():
    return netcensus.profile(TinyTransformer(), input_size="2x16:int64", depth=None)


@pytest.fixture(scope="module")
def repeated():
    return netcensus.profile(Repeated(), input_size=(4, 8), depth=None)


def test_identical_blocks_collapse_with_per_block_figures_and_a_total(tiny):
    rows = display_rows(tiny, None)
    group = next(d for d in rows if d.kind == GROUP)
    total = next(d for d in rows if d.kind == TOTAL)
    assert group.name == f"blocks.0-{BLOCKS - 1} x{BLOCKS}" and group.count == BLOCKS
    assert group.figure("params") == BLOCK_PARAMS  # per block, by hand in report_models
    assert total.figure("params") == BLOCKS * BLOCK_PARAMS == tiny.layer("blocks").params
    assert total.figure("flops") == tiny.layer("blocks").flops
    # under the group: the first block's modules, named with the range
    assert "blocks.0-2.attn.qkv" in [d.name for d in rows]
    assert not any(d.name.startswith("blocks.1") for d in rows)
    text = tiny.table()
    assert "blocks.0-2 x3" in text and "= blocks.0-2 total" in text and "--expand" in text


def test_expand_shows_every_block(tiny):
    text = tiny.table(expand=True)
    for k in range(BLOCKS):
        assert f"blocks.{k}.attn.qkv" in text
    assert " x3" not in text and "total" not in text.split("====")[0]
    assert len(display_rows(tiny, None, expand=True)) == len(tiny.layers)


def test_only_consecutive_identical_siblings_collapse(repeated):
    names = [d.name for d in display_rows(repeated, 2)]
    # blocks 0,1: Linear(8,8)+ReLU; block 2 differs (8->16->8); blocks 3,4 like 0,1 but not adjacent to them
    assert names == ["Repeated", "layers", "layers.0-1 x2", "= layers.0-1 total", "layers.2",
                     "layers.3-4 x2", "= layers.3-4 total"]
    total = [d for d in display_rows(repeated, 2) if d.kind == TOTAL][0]
    assert total.figure("params") == 2 * (8 * 8 + 8)


def test_a_module_called_twice_says_so():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(self.fc(x))

    text = netcensus.profile(Twice(), input_size=(1, 4)).table()
    assert "fc (2 calls)" in text


@pytest.mark.parametrize("width", [50, 60, 80, 100, 120, 160])
def test_table_fits_the_width_by_dropping_and_abbreviating_columns(tiny, width):
    text = render_table(tiny, None, width=width)
    lines = text.splitlines()
    head = next(i for i, x in enumerate(lines) if x.startswith("Layer"))
    assert all(len(line) <= width for line in lines), width  # the title and the lines under it too
    assert "Params" in lines[head]  # the most important columns stay
    full = render_table(tiny, None, columns=list(choose_columns(None, False)))  # no fitting at all
    if max(len(x) for x in full.splitlines()[1:]) > width:
        assert f"left out to fit {width} characters" in text or "..." in text


def test_narrow_table_drops_low_priority_columns_first(alex):
    text = render_table(alex, 1, width=60)
    header = next(line for line in text.splitlines() if line.startswith("Layer"))
    assert "Formula" not in header and "MACs" not in header and "Type" not in header
    assert "Params" in header and "FLOPs" in header and "Output shape" in header
    assert "left out to fit 60 characters: Type, MACs, Formula (own params)" in text.replace("\n    ", " ")


def test_columns_replace_add_and_remove(alex):
    assert choose_columns("params,flops", False) == ["name", "params", "flops"]
    cols = choose_columns("+calls,-formula", True)
    assert "calls" in cols and "formula" not in cols and "saved" in cols
    header = alex.table(columns="type,params").splitlines()[1].split()
    assert header == ["Layer", "Type", "Params"]
    with pytest.raises(ColumnError, match="unknown column 'nope'"):
        choose_columns("nope", False)


def test_sort_orders_siblings_and_keeps_the_tree(alex):
    rows = display_rows(alex, 1, sort=lambda d: d.figure("params"), descending=True)
    assert rows[0].name == "Sequential"
    params = [d.figure("params") for d in rows[1:]]
    assert params == sorted(params, reverse=True)
    assert rows[1].name == "14"  # Linear(6400, 4096): 26,218,496, the largest layer
    text = alex.table(sort="flops")
    first = text.splitlines()[4].split()
    assert first[0] == "3"  # Conv2d(96, 256, 5): 830.84 M FLOPs, the most of any layer
    with pytest.raises(ColumnError):
        alex.table(sort="colour")


def test_sort_keeps_children_under_their_parent(tiny):
    rows = display_rows(tiny, None, sort=lambda d: d.figure("flops"), descending=True)
    index = {d.key: i for i, d in enumerate(rows)}
    for d in rows:
        if d.parent_key is not None and d.kind != TOTAL:
            assert index[d.parent_key] < index[d.key]


def test_colour_only_when_asked_or_on_a_terminal(alex, monkeypatch):
    coloured = render_table(alex, 1, style=Style(True))
    assert "\x1b[1m" in coloured
    assert ANSI.sub("", coloured) == render_table(alex, 1)
    assert "\x1b[" not in render_table(alex, 1)

    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_color("auto", Tty()) and not use_color("auto", object())
    assert use_color("always", object()) and not use_color("never", Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color("auto", Tty())


def test_units_convention_is_stated(alex):
    text = alex.table()
    assert "K = 10^3" in text and "MiB = 2^20" in text and "1 MAC = 2 FLOPs" in text
    assert "46,764,746" in text  # thousands separators


def test_str_is_still_the_table(alex):
    assert str(alex) == alex.table()


@pytest.mark.parametrize("options,fragment", [({"depth": -2}, "got -2"), ({"depth": True}, "got True"),
                                              ({"width": -3}, "got -3"), ({"width": 0}, "got 0")])
def test_render_and_table_refuse_a_negative_depth_or_width(alex, options, fragment):
    from netcensus.report.render import FormatError

    with pytest.raises(FormatError, match=fragment):
        alex.render("table", **options)
    with pytest.raises(FormatError, match=fragment):
        alex.table(**options)


def test_depth_minus_one_is_still_the_profiles_own_depth(alex):
    assert alex.table(-1) == alex.table(alex.depth) == alex.render("table", depth=-1)
