"""The formula registry: its decorator's refusals, the zero set, resolution order and ``expand``."""

from __future__ import annotations

import pytest
import torch

from netcensus import ops
from netcensus.ops import registry
from netcensus.ops.evaluate import COUNTED, UNSUPPORTED, ZERO, resolve

aten = torch.ops.aten


def test_register_refuses_duplicates() -> None:
    with pytest.raises(ops.DuplicateFormulaError):
        ops.register(aten.mm)(lambda call: ops.OpCost(0, 0, 0, ""))
    assert registry.find("aten.mm.default")[1].__name__ == "mm"  # the original is still there


def test_register_refuses_duplicates_within_one_call() -> None:
    before = ops.registered()
    with pytest.raises(ops.DuplicateFormulaError):
        ops.register(aten.bmm, aten.bmm)(lambda call: ops.OpCost(0, 0, 0, ""))
    assert ops.registered() == before


@pytest.mark.parametrize("not_an_op", ["aten.mm", torch.mm, torch.nn.Linear, None, 3])
def test_register_refuses_non_ops(not_an_op: object) -> None:
    with pytest.raises(TypeError):
        ops.register(not_an_op)


def test_register_needs_an_op() -> None:
    with pytest.raises(TypeError):
        ops.register()


def test_region_register_refuses_duplicates() -> None:
    with pytest.raises(ops.DuplicateFormulaError):
        ops.register_region("scaled_dot_product_attention", "aten.scaled_dot_product_attention.default")(
            lambda call: ops.OpCost(0, 0, 0, ""))


def test_zero_set_and_registry_are_disjoint() -> None:
    overlap = [key for key in ops.registered() if ops.zero_category(key) is not None]
    assert overlap == []


def test_every_formula_states_its_convention() -> None:
    missing = sorted({key for key, fn in ops.registered().items() if not (fn.__doc__ or "").strip()})
    assert missing == []


def test_key_ops_are_registered() -> None:
    keys = set(ops.registered())
    for name in ["mm", "addmm", "bmm", "baddbmm", "convolution", "convolution_backward", "native_layer_norm",
                 "native_batch_norm", "native_group_norm", "_softmax", "_log_softmax", "embedding",
                 "max_pool2d_with_indices", "avg_pool2d", "upsample_bilinear2d", "upsample_nearest2d",
                 "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                 "_scaled_dot_product_cudnn_attention", "_flash_attention_forward",
                 "_efficient_attention_forward", "_scaled_dot_product_flash_attention_backward",
                 "_flash_attention_backward", "_efficient_attention_backward", "_native_multi_head_attention",
                 "_transformer_encoder_layer_fwd",
                 "mkldnn_rnn_layer", "_cudnn_rnn"]:
        assert f"aten.{name}" in keys, name


@pytest.mark.parametrize(("op", "tags", "status", "source"), [
    ("aten.mm.default", ("core",), COUNTED, "aten.mm"),
    # in-place variants use the functional op's formula
    ("aten.add_.Tensor", ("inplace", "pointwise"), COUNTED, "aten.add"),
    ("aten.sigmoid_.default", ("inplace", "pointwise"), COUNTED, "aten.sigmoid"),
    ("aten.clone.default", ("core", "pointwise"), ZERO, "copy"),  # the zero set wins over the pointwise tag
    ("aten.view.default", ("core",), ZERO, "view"),
    ("aten.fill_.Scalar", ("inplace",), ZERO, "allocation"),
    ("aten.bernoulli_.float", ("inplace",), ZERO, "random"),
    ("aten.exp.default", ("core", "pointwise"), COUNTED, "family:pointwise"),
    ("aten.amax.default", ("core", "reduction"), COUNTED, "family:reduction"),
    ("aten.linalg_eig.default", (), UNSUPPORTED, "no formula"),  # iterative: left unsupported
    ("custom.thing.default", (), UNSUPPORTED, "no formula"),
])
def test_resolution_order(op: str, tags: tuple[str, ...], status: str, source: str) -> None:
    res = resolve(op, tags)
    assert (res.status, res.source) == (status, source)


def test_expand_decomposes_only_unsupported_ops() -> None:
    assert ops.expand(aten.mm.default) is None  # has a formula
    assert ops.expand(aten.view.default) is None  # zero by definition
    assert ops.expand(aten.exp.default) is None  # pointwise family
    assert ops.expand(aten._softmax.default) is None  # has a formula although torch can decompose it
    assert callable(ops.expand(aten.glu.default))  # no formula, torch._decomp has a decomposition
    assert ops.expand(aten.linalg_eig.default) is None  # no formula, no decomposition: unsupported


def test_expanded_decomposition_computes_the_same_values() -> None:
    fn = ops.expand(aten.glu.default)
    assert fn is not None
    x = torch.randn(3, 8)
    torch.testing.assert_close(fn(x, -1), aten.glu.default(x, -1))
