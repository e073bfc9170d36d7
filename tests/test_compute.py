"""analyze_compute: attribution, inclusive module figures, coverage, regions, plain-data results."""

from __future__ import annotations

import dataclasses
import json

import torch
import torch.nn.functional as F
from torch import nn

from netcensus.analyses.compute import ComputeResult, Figures, analyze_compute
from netcensus.ops import expand
from netcensus.events import OpEvent, Region, TensorMeta, Trace
from netcensus.trace.tracer import trace_model


def _t(*shape: int, grad: bool = False) -> TensorMeta:
    numel = 1
    for d in shape:
        numel *= d
    return TensorMeta(shape, "float32", 1, 4 * numel, 4 * numel, grad)


def test_hand_written_events() -> None:
    """A pure function of the events: no model, no tracer."""
    events = (
        OpEvent(0, "aten.addmm.default", "net.fc", "forward", (_t(5), _t(2, 144), _t(144, 5)), {},
                (_t(2, 5),), ("core",)),
        OpEvent(1, "aten.relu.default", "net.act", "forward", (_t(2, 5),), {}, (_t(2, 5),), ("pointwise",)),
        OpEvent(2, "aten.view.default", "net", "forward", (_t(2, 5), (10,)), {}, (_t(10),), ("core",)),
        OpEvent(3, "aten.mm.default", "net.fc", "backward", (_t(2, 5), _t(5, 144)), {}, (_t(2, 144),),
                ("core",)),
        OpEvent(4, "aten._linalg_svd.default", "net.head", "forward", (_t(5, 2),), {},
                (_t(5, 2), _t(2), _t(2, 2))),
    )
    r = analyze_compute(Trace(events, ()))
    # addmm 2*144*5 = 1,440 MACs, 2*1,440 + 10 FLOPs; relu 10; mm 1,440 MACs backward
    assert r.totals.forward == Figures(1_440, 2_890 + 10, 1_440)
    assert r.totals.backward == Figures(1_440, 2_880, 1_440)
    assert r.modules["net.fc"].figures.total == Figures(2_880, 5_770, 2_880)
    assert r.modules["net"].figures.total == r.modules[""].figures.total == r.totals.total
    assert r.modules["net"].own == Figures()  # the view is zero by definition
    cov = r.coverage
    assert (cov.counted, cov.zero, cov.unsupported) == (3, 1, 1)
    assert cov.unsupported_by_op == {"aten._linalg_svd.default": 1}
    assert cov.unsupported_by_module == {"net.head": {"aten._linalg_svd.default": 1}}
    assert r.modules["net"].unsupported_calls == 1 and r.modules["net.fc"].unsupported_calls == 0
    assert not cov.complete
    assert any("_linalg_svd" in note for note in r.notes)


def test_region_without_a_formula_leaves_its_ops_counted_one_by_one() -> None:
    events = (OpEvent(0, "aten.mm.default", "", "forward", (_t(2, 3), _t(3, 4)), {}, (_t(2, 4),), (), 0),)
    regions = (Region(0, "some_unknown_function", "", (), {}, 0, 1),)
    r = analyze_compute(Trace(events, (), regions=regions))
    assert r.totals.total.core_macs == 24 and r.coverage.via_region == 0


class Net(nn.Module):
    """A conv stem, a causal attention block and a head, nested two deep."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = nn.ModuleDict({"qkv": nn.Linear(8, 24), "out": nn.Linear(8, 8)})
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x).flatten(2).transpose(1, 2)  # [B, 16, 8]
        q, k, v = self.block["qkv"](x).chunk(3, dim=-1)
        a = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), is_causal=True)
        return self.head(self.block["out"](a.squeeze(1)).mean(1))


def _census() -> tuple[Trace, ComputeResult]:
    trace = trace_model(Net(), (torch.randn(2, 3, 4, 4),), train=True, expand=expand)
    return trace, analyze_compute(trace)


def test_items_sum_to_the_root_and_the_root_is_the_total() -> None:
    _, r = _census()
    total = Figures()
    for item in r.items:
        total = total + item.figures
    assert total == r.totals.total == r.modules[""].figures.total
    assert r.totals.total == r.totals.forward + r.totals.backward
    row_total = Figures()
    for row in r.by_op:
        row_total = row_total + row.figures
    assert row_total == r.totals.total


def test_module_figures_are_inclusive() -> None:
    _, r = _census()
    for path, mod in r.modules.items():
        children = [m for p, m in r.modules.items() if p != path and p.rsplit(".", 1)[0] == path
                    or (path == "" and p and "." not in p)]
        summed = mod.own
        for child in children:
            summed = summed + child.figures.total
        assert summed == mod.figures.total, path
    assert r.modules["stem"].figures.total.core_macs == r.modules["stem.0"].figures.total.core_macs > 0
    assert r.modules["block"].figures.total.core_macs > r.modules["block.qkv"].figures.total.core_macs


def test_coverage_accounts_for_every_event() -> None:
    trace, r = _census()
    cov = r.coverage
    assert cov.counted + cov.zero + cov.unsupported + cov.via_region == len(trace.events)
    assert cov.unsupported == 0 and cov.complete
    assert cov.regions == 2  # the attention call, forward and backward


def test_causal_region_is_counted_once_with_its_causal_alternative() -> None:
    _, r = _census()
    (fwd,) = [i for i in r.items if i.op == "scaled_dot_product_attention" and i.phase == "forward"]
    assert fwd.module == ""  # called from the root's forward
    # B=2, one head, L=16, E=8: dense 2*16*16*(8+8) = 8,192 MACs; causal 2*136*16 = 4,352
    assert (fwd.figures.core_macs, fwd.causal.core_macs) == (8_192, 4_352)
    assert r.totals.total.core_macs - r.totals.causal_total.core_macs == 3 * (8_192 - 4_352)
    assert not any(i.op == "aten.bmm.default" for i in r.items)  # the decomposition is not counted again


def test_by_op_table() -> None:
    _, r = _census()
    rows = {(row.op, row.status): row for row in r.by_op}
    conv = rows[("aten.convolution.default", "counted")]
    assert (conv.calls, conv.forward_calls, conv.backward_calls, conv.modules) == (1, 1, 0, ("stem.0",))
    assert "numel(y)*(C_in/groups)*prod(k)" in conv.formula
    linear_modules = {m for (op, _), row in rows.items() if op in ("aten.addmm.default", "aten.mm.default")
                      for m in row.modules}
    assert linear_modules == {"block.qkv", "block.out", "head"}
    assert rows[("aten.view.default", "zero")].formula == "zero by definition (view)"
    assert rows[("aten.bmm.default", "via_region")].figures == Figures()


def test_result_is_plain_frozen_data() -> None:
    _, r = _census()
    text = json.dumps(dataclasses.asdict(r))
    assert "scaled_dot_product_attention" in text
    try:
        r.totals.total.macs = 0  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("ComputeResult must be frozen")


class Unsupported(nn.Module):
    """Calls ``linalg.svdvals`` (no formula: iterative; no decomposition) and ``glu`` (no formula,
    decomposable)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.glu(self.inner(x), dim=-1)
        return torch.linalg.svdvals(y)


def test_unsupported_ops_are_reported_per_op_and_module() -> None:
    r = analyze_compute(trace_model(Unsupported(), (torch.randn(3, 8),)))
    assert r.coverage.unsupported_by_op == {"aten.glu.default": 1, "aten._linalg_svd.default": 1}
    assert r.coverage.unsupported_by_module == {"": {"aten.glu.default": 1, "aten._linalg_svd.default": 1}}
    assert r.coverage.reasons["aten._linalg_svd.default"] == "no formula"
    assert [i.status for i in r.items if i.op == "aten._linalg_svd.default"] == ["unsupported"]
    assert r.modules[""].unsupported_calls == 2
    # with expand, glu is decomposed into counted ops; the SVD has no decomposition and stays reported
    r = analyze_compute(trace_model(Unsupported(), (torch.randn(3, 8),), expand=expand))
    assert r.coverage.unsupported_by_op == {"aten._linalg_svd.default": 1}
    assert r.totals.total.flops > 2 * r.totals.total.core_macs  # glu's parts are counted


def test_a_failing_formula_makes_the_call_unsupported_not_zero() -> None:
    bad = OpEvent(0, "aten.mm.default", "m", "forward", (_t(2, 3, 4), _t(3, 4)), {}, (_t(2, 4),))
    r = analyze_compute(Trace((bad,), ()))
    assert r.coverage.unsupported == 1
    assert "failed" in r.coverage.reasons["aten.mm.default"]
