"""Golden outputs of the text, Markdown, CSV and JSON renderers, for AlexNet and a small transformer.

Regenerate after an intended change with ``NETCENSUS_REGEN_GOLDEN=1 python -m pytest
tests/test_report_golden.py`` and review the diff. Besides matching its golden file, every output is
checked on its own: the rows' own parameters sum to the total, which equals sum(p.numel()) of the model,
and the root's FLOPs equal the compute total.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import re

import pytest
from report_models import TOTAL_PARAMS, TinyTransformer

import netcensus
from netcensus.examples import ALEXNET_INPUT, alexnet
from netcensus.units import si

GOLDEN = pathlib.Path(__file__).parent / "golden"
REGEN = os.environ.get("NETCENSUS_REGEN_GOLDEN") == "1"

ALEXNET_PARAMS = 46_764_746  # the notebook's figure, biases included (README)


def _alexnet():
    return netcensus.profile(alexnet(), input_size=ALEXNET_INPUT), ALEXNET_PARAMS


def _transformer():
    model = TinyTransformer()
    assert sum(p.numel() for p in model.parameters()) == TOTAL_PARAMS
    return netcensus.profile(model, input_size="2x16:int64", train=True, depth=None), TOTAL_PARAMS


MODELS = {"alexnet": _alexnet, "transformer": _transformer}


@pytest.fixture(scope="module", params=list(MODELS))
def case(request):
    profile, total = MODELS[request.param]()
    return request.param, profile, total


def _normalise(text: str) -> str:
    return re.sub(r'"netcensus_version": "[^"]*"', '"netcensus_version": "<version>"', text)


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    text = _normalise(text)
    if REGEN or not path.exists():
        if not REGEN:
            pytest.fail(f"{path} is missing; create it with NETCENSUS_REGEN_GOLDEN=1")
        path.write_text(text, encoding="utf-8")
        return
    assert text == path.read_text(encoding="utf-8"), \
        f"{name} differs from its golden file; if intended, regenerate with NETCENSUS_REGEN_GOLDEN=1"


def _int(cell: str) -> int:
    return int(cell.replace(",", "") or 0)


GROUP = re.compile(r"^(\S+\.\d+-\d+) x(\d+)$")


def _sum_own(names: list[str], owns: list[int]) -> int:
    """Own params summed as a reader would: rows inside a collapsed group 'a.0-2 x3' (the group row and
    the 'a.0-2.*' rows under it) are per block, so they count K times; '= ... total' rows are skipped."""
    total, groups = 0, {}
    for name, own in zip(names, owns):
        name = name.strip()
        m = GROUP.match(name)
        if m:
            groups[m.group(1)] = int(m.group(2))
            total += own * int(m.group(2))
        elif not name.startswith("= "):
            k = next((n for prefix, n in groups.items() if name.startswith(prefix + ".")), 1)
            total += own * k
    return total


def test_text_golden(case):
    name, p, total = case
    text = p.table(depth=None)
    _check_golden(f"{name}.txt", text)
    assert max(len(line) for line in text.splitlines()) <= 100  # the default fits 100 columns
    full = p.table(depth=None, columns="+own")  # columns asked for by name: all shown, none cut
    lines = full.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("Layer"))
    header = lines[start]
    body = lines[start + 2: next(i for i, x in enumerate(lines) if x.startswith("===="))]
    own_end = header.index("Own") + len("Own")
    flops_end = header.index("FLOPs") + len("FLOPs")
    names = [row[: header.index("Type")] for row in body]
    owns = [_int(row[own_end - 14: own_end].split()[-1]) if row[own_end - 14: own_end].strip() else 0
            for row in body]
    assert _sum_own(names, owns) == total == p.total_params
    assert body[0][flops_end - 10: flops_end].strip() == si(p.flops)
    assert f"Total params{'':14}{total:>20,}" in text


def test_markdown_golden(case):
    name, p, total = case
    text = p.to_markdown(depth=None)
    _check_golden(f"{name}.md", text)
    full = p.to_markdown(depth=None, columns="+own")
    rows = [line for line in full.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in rows[0].strip("|").split(" | ")]
    table = []
    for line in rows[1:]:
        if line.startswith("| Total |"):
            break
        table.append([c.strip() for c in line.strip("|").split(" | ")])
    names = [r[0].strip("*`") for r in table]
    owns = [_int(r[header.index("Own")]) for r in table]
    assert _sum_own(names, owns) == total
    assert table[0][header.index("FLOPs")] == si(p.flops)
    assert f"| Total params | {total:,} |" in text


def test_csv_golden(case):
    name, p, total = case
    text = p.to_csv()
    _check_golden(f"{name}.csv", text)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(p.layers)
    assert sum(int(r["own_params"]) for r in rows) == total
    root = rows[0]
    assert root["path"] == "" and int(root["flops"]) == p.flops == p.compute.totals.total.flops
    assert int(root["params"]) == total


def test_json_golden(case):
    name, p, total = case
    text = json.dumps(p.to_dict(), indent=2)
    _check_golden(f"{name}.json", text)
    data = json.loads(text)
    assert data["schema_version"] == "1.0"
    assert sum(r["own_params"] for r in data["layers"]) == total == data["total_params"]
    assert data["layers"][0]["flops"] == data["compute"]["totals"]["total"]["flops"]
    assert data["layers"][0]["macs"] == data["compute"]["totals"]["total"]["macs"]
    assert "/" not in json.dumps(data.get("inputs"))  # no paths in the golden


def test_goldens_have_no_volatile_text():
    for path in GOLDEN.glob("*"):
        text = path.read_text(encoding="utf-8")
        assert "/work/" not in text and "/tmp/" not in text and "/home/" not in text, path
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), f"a date in {path}"
