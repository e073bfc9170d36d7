"""The report side of the command line: output flags on the main parser, files by extension,
``netcensus show`` and ``netcensus diff``, ``--plot``."""

from __future__ import annotations

import argparse
import json
import textwrap

import pytest
from torch import nn

import netcensus
from netcensus.cli import build_parser, run
from netcensus.cli.output import emit
from netcensus.examples import ALEXNET_INPUT, alexnet
from netcensus.report.diff import match_layers


@pytest.fixture(scope="module")
def alex():
    return netcensus.profile(alexnet(), input_size=ALEXNET_INPUT)


@pytest.fixture(scope="module")
def saved(alex, tmp_path_factory):
    path = tmp_path_factory.mktemp("profiles") / "alexnet.json"
    alex.save(str(path))
    return path


def _narrow_alexnet() -> nn.Module:
    m = alexnet()
    m[14] = nn.Linear(6400, 2048)  # was 6400 -> 4096
    m[17] = nn.Linear(2048, 4096)  # was 4096 -> 4096
    return m


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def main_show(argv: list[str]) -> int:
    return run(["show", *argv])


def main_diff(argv: list[str]) -> int:
    return run(["diff", *argv])


def test_report_flags_join_the_main_parser_and_widen_format():
    args = _args("--format", "md", "--columns", "params,flops", "--sort", "flops", "--expand", "--color",
                 "never", "-o", "x.html", "--explain", "--depth", "2")
    assert args.format == "md" and args.columns == "params,flops" and args.expand and args.output == "x.html"
    assert args.explain and args.depth == 2  # the lead's flags keep working
    assert _args().format is None  # so that --output's extension can decide
    assert _args("--no-collapse").expand


@pytest.mark.parametrize("ext,start", [("md", "### Sequential"), ("csv", "path,type,depth"),
                                       ("html", "<!DOCTYPE html>"), ("json", "{"), ("txt", "Sequential |")])
def test_output_file_format_follows_the_extension(alex, tmp_path, ext, start, capsys):
    out = tmp_path / f"report.{ext}"
    emit(alex, _args("-o", str(out)))
    assert out.read_text().startswith(start)
    assert capsys.readouterr().out == ""


def test_explicit_format_beats_the_extension(alex, tmp_path):
    out = tmp_path / "report.txt"
    emit(alex, _args("-o", str(out), "--format", "csv"))
    assert out.read_text().startswith("path,")


def test_unknown_extension_is_a_usage_error(alex, tmp_path):
    with pytest.raises(netcensus.SpecError, match="extension"):
        emit(alex, _args("-o", str(tmp_path / "report.docx")))


def test_emit_prints_the_table_without_colour_to_a_pipe(alex, capsys):
    emit(alex, _args())
    out = capsys.readouterr().out
    assert out == alex.table() + "\n" and "\x1b[" not in out


def test_show_renders_a_saved_profile_like_the_live_one(alex, saved, capsys):
    assert main_show([str(saved), "--color", "never"]) == 0
    assert capsys.readouterr().out == alex.table() + "\n"
    assert main_show([str(saved), "--format", "md", "--all"]) == 0
    assert capsys.readouterr().out == alex.to_markdown(depth=None)


def test_show_reports_a_bad_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main_show([str(bad)]) == 2
    assert "is not JSON" in capsys.readouterr().err
    assert main_show([str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_diff_marks_the_changed_layers_and_totals(alex, saved, tmp_path, capsys):
    other = tmp_path / "narrow.json"
    netcensus.profile(_narrow_alexnet(), input_size=ALEXNET_INPUT).save(str(other))
    assert main_diff([str(saved), str(other), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # params by hand: Linear 6400*4096 + 4096 -> 6400*2048 + 2048, Linear 4096*4096 + 4096 -> 2048*4096 + 4096
    delta = (6400 * 2048 + 2048 + 2048 * 4096 + 4096) - (6400 * 4096 + 4096 + 4096 * 4096 + 4096)
    total = next(t for t in data["totals"] if t["name"] == "Total params")
    assert total["a"] == 46_764_746 and total["difference"] == delta
    marks = {(e["a"] or e["b"])["path"]: e["mark"] for e in data["layers"]}
    assert marks["14"] == "~" and marks["17"] == "~" and marks["0"] == "=" and marks["3"] == "="
    assert marks["15"] == "~"  # ReLU after the narrower Linear: output [1, 2048], half the FLOPs
    assert main_diff([str(saved), str(other), "--changed", "--color", "never"]) == 0
    text = capsys.readouterr().out
    assert f"{delta:+,}" in text and "-46.0%" in text
    rows = [line for line in text.splitlines() if line.startswith("~ ") or line.startswith("  ")]
    assert not any(line.split()[0] == "3" for line in rows)  # unchanged rows are left out


def test_diff_matches_renamed_layers_by_type_in_order():
    class A(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.fc = nn.Linear(4, 2)

    class B(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 4, 3)
            self.extra = nn.ReLU()
            self.fc = nn.Linear(4, 2)

    from netcensus.results.profile import LayerRow

    def rows(m):
        return [LayerRow(path, type(mod).__name__ if path else "M", 0 if not path else 1, 1, [], [],
                         sum(p.numel() for p in mod.parameters()), 0, 0) for path, mod in m.named_modules()]

    pairs = match_layers(rows(A()), rows(B()))
    got = [((p.a.path if p.a else None), (p.b.path if p.b else None), p.matched_by) for p in pairs]
    # 'extra' is only in B: it comes after the pair of the B row before it (stem)
    assert got == [("", "", "path"), ("conv", "stem", "type"), (None, "extra", ""), ("fc", "fc", "path")]


def test_diff_of_two_model_specs_with_one_input(tmp_path, capsys):
    spec = tmp_path / "narrow.py"
    spec.write_text(textwrap.dedent("""
        from torch import nn
        from netcensus.examples import alexnet

        def narrow():
            m = alexnet()
            m[20] = nn.Linear(4096, 5)
            return m
    """))
    code = main_diff(["netcensus.examples:alexnet", f"{spec}:narrow", "--input", "1x1x224x224",
                      "--format", "json"])
    assert code == 0, capsys.readouterr().err
    data = json.loads(capsys.readouterr().out)
    total = next(t for t in data["totals"] if t["name"] == "Total params")
    assert total["difference"] == (4096 * 5 + 5) - (4096 * 10 + 10)


def test_diff_of_a_spec_without_input_says_what_to_add(saved, capsys):
    assert main_diff([str(saved), "netcensus.examples:alexnet"]) == 2
    assert "--input" in capsys.readouterr().err


def test_plot_writes_png_and_svg(alex, tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs the 'plot' extra (matplotlib)")
    png, svg = tmp_path / "p.png", tmp_path / "p.svg"
    emit(alex, _args("-o", str(tmp_path / "t.txt"), "--plot", str(png)))
    emit(alex, _args("-o", str(tmp_path / "t.txt"), "--plot", str(svg)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    assert "<svg" in text and "Parameters by module" in text
    with pytest.raises(netcensus.SpecError, match="png or .svg"):
        emit(alex, _args("-o", str(tmp_path / "t.txt"), "--plot", str(tmp_path / "p.pdf")))
