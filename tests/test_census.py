"""The census end to end: parameter counts, shapes, calls, and the model left as found."""

from __future__ import annotations

import pytest
import torch
from models import ZOO, Case, CustomParams, FrozenBackbone, Reused, SharedSubmodule, TiedLM, call_inputs
from torch import nn
from untouched import assert_same, snapshot

import netcensus
from netcensus.examples import ALEXNET_INPUT, alexnet


def _profile(case: Case, **kw):
    model = case.build()
    args, kwargs = call_inputs(case)
    inputs = kwargs if kwargs else (args if len(args) != 1 else args[0])
    if len(args) == 1 and isinstance(args[0], tuple):
        inputs = args  # a single tuple-valued input must stay wrapped
    return model, netcensus.profile(model, inputs=inputs, **kw)


def test_alexnet_total_matches_the_true_count_not_the_notebook():
    p = netcensus.profile(alexnet(), input_size=ALEXNET_INPUT)
    # conv: (k*k*C_in + 1)*C_out
    convs = [(11 * 11 * 1 + 1) * 96,     # 11,712
             (5 * 5 * 96 + 1) * 256,     # 614,656
             (3 * 3 * 256 + 1) * 384,    # 885,120
             (3 * 3 * 384 + 1) * 384,    # 1,327,488
             (3 * 3 * 384 + 1) * 256]    # 884,992
    # linear: in*out + out (the notebook forgot the "+ out")
    linears = [6400 * 4096 + 4096, 4096 * 4096 + 4096, 4096 * 10 + 10]
    assert p.total_params == sum(convs) + sum(linears) == 46_764_746
    assert 46_764_746 - 46_756_544 == 4096 + 4096 + 10  # what the hand count missed
    assert [p.layer(k).params for k in ("0", "3", "6", "8", "10")] == convs
    assert [p.layer(k).params for k in ("14", "17", "20")] == linears
    assert p.trainable_params == p.total_params and p.frozen_params == 0
    assert p.param_bytes_by_dtype == {"float32": 46_764_746 * 4}


def test_alexnet_shapes_follow_the_notebook():
    p = netcensus.profile(alexnet(), input_size=ALEXNET_INPUT)
    # conv: floor((224 + 2*1 - 11)/4) + 1 = 54; pool: floor((54 - 3)/2) + 1 = 26; ... ; 5*5*256 = 6400
    expected = {"0": (1, 96, 54, 54), "2": (1, 96, 26, 26), "3": (1, 256, 26, 26), "5": (1, 256, 12, 12),
                "10": (1, 256, 12, 12), "12": (1, 256, 5, 5), "13": (1, 6400), "20": (1, 10)}
    for path, shape in expected.items():
        assert p.layer(path).output_shapes == [shape], path
    assert [r.path for r in p.layers] == [""] + [str(i) for i in range(21)]  # execution order


def test_explain_makes_the_linear_biases_visible():
    text = netcensus.profile(alexnet(), input_size=ALEXNET_INPUT).explain()
    assert "4096*4096 + 4096 = 16,781,312" in text
    assert "6400*4096 + 4096 = 26,218,496" in text
    assert "4096*10 + 10 = 40,970" in text
    assert "(11*11*1/1 + 1)*96 = 11,712" in text
    assert "floor((224 + 2*1 - 1*(11-1) - 1)/4) + 1 = 54" in text


@pytest.mark.parametrize("case", ZOO, ids=lambda c: c.name)
def test_total_equals_sum_of_numel_and_own_column_sums_to_it(case: Case):
    model, p = _profile(case)
    assert p.total_params == sum(q.numel() for q in model.parameters())
    assert p.trainable_params == sum(q.numel() for q in model.parameters() if q.requires_grad)
    assert sum(r.own_params for r in p.layers) == p.total_params
    assert p.layers[0].path == "" and p.layers[0].params == p.total_params
    assert p.buffers == sum(b.numel() for b in model.buffers())
    assert not p.warnings, p.warnings


@pytest.mark.parametrize("case", ZOO, ids=lambda c: c.name)
def test_model_is_left_exactly_as_found(case: Case):
    model = case.build()
    model.train()
    children = list(model.children())
    if children:
        children[0].eval()  # mixed training flags must survive too
    args, kwargs = call_inputs(case)
    before = snapshot(model)
    netcensus.profile(model, inputs=kwargs if kwargs else args)
    assert_same(before, snapshot(model))
    netcensus.profile(model, inputs=kwargs if kwargs else args, train=True)
    assert_same(before, snapshot(model))


@pytest.mark.parametrize("case", ZOO, ids=lambda c: c.name)
def test_meta_trace_matches_a_real_cpu_run(case: Case):
    model = case.build()
    args, kwargs = call_inputs(case)
    inputs = kwargs if kwargs else args
    meta = netcensus.profile(model, inputs=inputs)
    real = netcensus.profile(model, inputs=inputs, device="cpu")
    assert [(r.path, r.calls, r.input_shapes, r.output_shapes) for r in meta.layers] == \
        [(r.path, r.calls, r.input_shapes, r.output_shapes) for r in real.layers]
    # the same aten ops ran in the same modules, except where the CPU has fused kernels (RNNs, the
    # attention fast paths) that meta tensors run decomposed
    assert len(meta.trace.events) > 0
    ops_meta = [(e.module, e.op) for e in meta.trace.events]
    ops_real = [(e.module, e.op) for e in real.trace.events]
    if case.name not in ("transformer_layer", "attention", "tuple_in_lstm", "gru"):
        assert ops_meta == ops_real


def test_model_untouched_when_forward_raises():
    model = alexnet()
    before = snapshot(model)
    with pytest.raises(netcensus.NetcensusError):
        netcensus.profile(model, input_size=(1, 1, 32, 32))
    assert_same(before, snapshot(model))


def test_real_weights_are_not_copied_or_moved():
    model = alexnet()
    ptrs = [p.data_ptr() for p in model.parameters()]
    p = netcensus.profile(model, input_size=(2, 1, 224, 224))
    assert [q.data_ptr() for q in model.parameters()] == ptrs
    assert all(q.device.type == "cpu" for q in model.parameters())
    assert p.device == "meta"
    assert all(e.outputs[0].storage for e in p.trace.events if e.outputs)


def test_model_on_meta_works_as_is():
    with torch.device("meta"):
        model = alexnet()
    p = netcensus.profile(model, input_size=ALEXNET_INPUT)
    assert p.total_params == 46_764_746


def test_tied_weights_counted_once_and_reported():
    model = TiedLM(vocab=50, dim=16)
    p = netcensus.profile(model, input_size=(2, 5), dtype=torch.int64)
    # embed 50*16 = 800 (shared with head), body 16*16 + 16 = 272
    assert p.total_params == 50 * 16 + 16 * 16 + 16 == 1072
    assert p.layer("head").params == 800 and p.layer("head").own_params == 0
    assert p.tied == [["embed.weight", "head.weight"]]
    assert any("embed.weight = head.weight" in n for n in p.notes)
    assert any("same tensor as embed.weight" in line for line in p.layer("head").explain)


def test_reused_module_listed_once_with_call_count():
    p = netcensus.profile(Reused(), input_size=(3, 8))
    block = p.layer("block")
    assert block.calls == 3
    assert block.params == 8 * 8 + 8 and p.total_params == (8 * 8 + 8) + (8 * 2 + 2)
    assert sum(1 for r in p.layers if r.path == "block") == 1


def test_same_submodule_under_two_names_is_one_row():
    p = netcensus.profile(SharedSubmodule(), input_size=(3, 4))
    assert p.layer("first").calls == 2
    assert p.total_params == (4 * 4 + 4) + (4 + 1)


def test_custom_parameters_frozen_and_buffers():
    p = netcensus.profile(CustomParams(), input_size=(2, 4, 6))
    # scale 6 + pos 4*6 + table 6*3 (frozen); mask 4*6 is a buffer
    assert p.total_params == 6 + 24 + 18
    assert p.trainable_params == 30 and p.frozen_params == 18
    assert p.buffers == 24 and p.buffer_bytes == 24 * 4
    assert p.layers[0].trainable == "partial"
    text = "\n".join(p.layers[0].explain)
    for name in ("scale", "pos", "table"):
        assert name in text  # no formula for a custom module: tensors listed one by one


def test_frozen_backbone_split():
    model = FrozenBackbone()
    p = netcensus.profile(model, input_size=(2, 3, 8, 8))
    frozen = (3 * 3 * 3 * 8 + 8) + (8 + 8)  # conv 224 + BN affine 16
    assert p.frozen_params == frozen
    assert p.trainable_params == 8 * 5 + 5
    assert p.layer("backbone").trainable == "no"
    # BN running_mean, running_var (8 each) and num_batches_tracked (1)
    assert p.buffers == 8 + 8 + 1


def test_multiple_and_keyword_inputs_and_nested_outputs():
    from models import DataclassOut, DictIO

    p = netcensus.profile(DictIO(), inputs={"left": torch.randn(2, 4), "right": torch.randn(2, 5)})
    assert p.layers[0].input_shapes == [(2, 4), (2, 5)]
    assert p.layers[0].output_shapes == [(2, 3), (2, 3)]
    assert "sum:" in p.layers[0].output_text
    p = netcensus.profile(DataclassOut(), input_size=(2, 6))
    assert p.layers[0].output_shapes == [(2, 3), (2, 6), (2, 6)]
    assert "logits: [2, 3]" in p.layers[0].output_text


def test_input_size_list_and_dtype_strings():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.e = nn.Embedding(10, 4)
            self.l = nn.Linear(4, 4)

        def forward(self, ids, x):
            return self.e(ids).sum(1) + self.l(x)

    p = netcensus.profile(Two(), input_size=["2x7:int64", (2, 4)])
    assert p.layer("e").input_shapes == [(2, 7)]
    assert p.layer("e").output_shapes == [(2, 7, 4)]


@pytest.mark.parametrize("bad,fragment", [
    (dict(), "no inputs"),
    (dict(input_size=(1, -3)), "negative"),
    (dict(input_size=(1, 10**12)), "absurd"),
    (dict(input_size="1xq"), "not a shape"),
    (dict(input_size=(1, 1, 224, 224), dtype="float33"), "unknown dtype"),
])
def test_bad_arguments_are_explained(bad, fragment):
    with pytest.raises(netcensus.SpecError, match=fragment):
        netcensus.profile(alexnet(), **bad)


def test_input_too_small_names_the_layer_and_formula():
    with pytest.raises(netcensus.InputError) as info:
        netcensus.profile(alexnet(), input_size=(1, 1, 32, 32))
    text = str(info.value)
    assert "MaxPool2d" in text and "5" in text  # features 5 is the pool that gets a 2x2 input
    assert "floor(" in text


def test_channel_mismatch_names_the_layer():
    with pytest.raises(netcensus.InputError) as info:
        netcensus.profile(alexnet(), input_size=(1, 3, 224, 224))
    assert "0 (Conv2d)" in str(info.value) and "3" in str(info.value)


def test_data_dependent_forward_offers_the_cpu_fallback():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.l = nn.Linear(4, 4)

        def forward(self, x):
            y = self.l(x)
            return y * 2 if y.sum().item() > 0 else y

    with pytest.raises(netcensus.TraceError, match="device='cpu'"):
        netcensus.profile(DataDependent(), input_size=(2, 4))
    p = netcensus.profile(DataDependent(), input_size=(2, 4), device="cpu")
    assert p.total_params == 20


def test_not_a_module():
    with pytest.raises(netcensus.SpecError, match="nn.Module"):
        netcensus.profile(lambda x: x, input_size=(1,))


def test_lazy_module_needs_materialising():
    model = nn.Sequential(nn.LazyLinear(4))
    with pytest.raises(netcensus.InputError, match="lazy"):
        netcensus.profile(model, input_size=(2, 3))
    model(torch.randn(2, 3))  # materialise: LazyLinear becomes Linear(3, 4)
    assert netcensus.profile(model, input_size=(2, 3)).total_params == 3 * 4 + 4
