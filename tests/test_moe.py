"""Mixtures of experts: total and active parameters against published figures; the meta trace against a
real CPU run with the same forced routing; the grouped kernel against the per-expert loop."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

import netcensus  # noqa: E402
from netcensus.analyses.moe import moe_info  # noqa: E402
from netcensus.trace.contexts.routing import assignment, counts, routing  # noqa: E402


def _meta(model_type: str, **kw: object) -> torch.nn.Module:
    cfg = AutoConfig.for_model(model_type, **kw)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(cfg)


@pytest.mark.parametrize("model_type, total, active", [
    # Mixtral-8x7B (MixtralConfig defaults: hidden 4096, intermediate 14336, 32 layers, 8 experts, top-2,
    # vocab 32000, GQA 32/8): Mistral AI publishes 46.7B parameters, 12.9B active per token.
    ("mixtral", 46.7e9, 12.9e9),
    # Qwen2-MoE defaults = Qwen1.5-MoE-A2.7B: 14.3B total, 2.7B active (Qwen's model card)
    ("qwen2_moe", 14.3e9, 2.7e9),
    # DeepSeek-V3 defaults: 671B total, 37B activated per token (DeepSeek-V3 technical report)
    ("deepseek_v3", 671e9, 37e9),
])
def test_published_total_and_active(model_type: str, total: float, active: float) -> None:
    info = moe_info(_meta(model_type))
    assert info is not None
    assert info.total_params == pytest.approx(total, rel=0.002)
    assert info.active_params == pytest.approx(active, rel=0.02)


def test_mixtral_active_arithmetic() -> None:
    info = moe_info(_meta("mixtral"))
    # experts per layer 8 * 3 * 4096 * 14336 = 1,409,286,144; a token uses 2 of 8: 6/8 of them are idle
    assert info.blocks[0].expert_params == 1_409_286_144
    assert info.total_params - info.active_params == 32 * 1_409_286_144 * 6 // 8
    assert info.total_params == 46_702_792_704


def _small_jetmoe():
    return AutoConfig.for_model("jetmoe", num_hidden_layers=2, hidden_size=64, kv_channels=16,
                                intermediate_size=128, num_key_value_heads=2, vocab_size=500,
                                num_local_experts=4, num_experts_per_tok=2)


def test_jetmoe_mixtures_of_mlp_and_attention_experts() -> None:
    # JetMoE has two mixtures per layer: the MLP's (input_linear [E, 2I, H] and output_linear [E, H, I],
    # no "experts" child) and the attention's (its "experts" child, with its own router inside).
    # Small config: H = 64, I = 128, E = 4, top-2, kv_channels 16 x 2 key/value heads = 32.
    # MLP experts: input 4 x (2*128) x 64 + output 4 x 64 x 128 = 98,304. Attention experts: input
    # 4 x 32 x 64 + output 4 x 64 x 32 + a bias of 64 = 16,448 (its router, 4 x 64, is apart).
    cfg = _small_jetmoe()
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    info = moe_info(model)
    assert [(b.path, b.experts, b.top_k) for b in info.blocks] == [
        ("model.layers.0.mlp", 4, 2), ("model.layers.0.self_attention", 4, 2),
        ("model.layers.1.mlp", 4, 2), ("model.layers.1.self_attention", 4, 2)]
    layer = model.model.layers[0]
    mlp = layer.mlp.input_linear.weight.numel() + layer.mlp.output_linear.weight.numel()
    assert mlp == 4 * 2 * 128 * 64 + 4 * 64 * 128 == 98_304
    moa = layer.self_attention.experts
    attention = moa.input_linear.weight.numel() + moa.output_linear.weight.numel() + moa.bias.numel()
    assert attention == 4 * 32 * 64 + 4 * 64 * 32 + 64 == 16_448
    assert info.blocks[0].expert_params == mlp and info.blocks[1].expert_params == attention
    # the routers (the MLP's, and the one inside the attention's experts) are always active
    assert info.blocks[1].router_params == moa.router.layer.weight.numel() == 4 * 64
    total = sum(p.numel() for p in model.parameters())
    assert info.total_params == total
    # a token uses 2 of 4 experts in each of the 4 mixtures: half of their parameters idle
    assert info.active_params == total - 2 * (mlp + attention) // 2


def test_routing_counts() -> None:
    assert counts(16 * 2, 4, 16) == [8, 8, 8, 8]  # uniform: 16 tokens * top-2 / 4 experts
    assert counts(10, 4, 5) == [3, 3, 2, 2]
    assert counts(32, 4, 16, [0.5, 0.25, 0.125, 0.125]) == [16, 8, 4, 4]
    table = assignment(16, 2, 4)
    assert all(len(set(row.tolist())) == 2 for row in table)  # a token's two experts differ
    assert torch.bincount(table.flatten(), minlength=4).tolist() == [8, 8, 8, 8]


def _small(impl: str) -> torch.nn.Module:
    cfg = AutoConfig.for_model("mixtral", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, vocab_size=128,
                               num_local_experts=4, num_experts_per_tok=2)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg, experts_implementation=impl)


@pytest.mark.parametrize("impl", ["eager", "grouped_mm"])
def test_meta_trace_equals_a_real_cpu_run_with_forced_routing(impl: str) -> None:
    """The mixture-of-experts layers (router + experts: ``model.layers.N.mlp``) of a meta trace against a
    real CPU run routed the same way: equal FLOPs (forward and backward) and equal saved tensors. (The
    attention around them follows the target's kernels, compared in the attention tests.)"""
    model = _small(impl)
    ids = torch.zeros(2, 16, dtype=torch.long)
    with routing([4], target="cpu") as forced:
        meta = netcensus.profile(model, input_size=[(2, 16)], dtype=torch.long, train=True, target="cpu")
    assert forced.calls == 2  # one router per layer
    with routing([4], target="cpu"):
        real = netcensus.profile(model, inputs=ids, device="cpu", train=True, target="cpu")
    paths = [f"model.layers.{i}.mlp" for i in range(2)]
    for path in paths:
        a, b = meta.compute.modules[path].figures, real.compute.modules[path].figures
        for phase in ("forward", "backward"):
            fa, fb = getattr(a, phase), getattr(b, phase)
            assert fa == fb
        assert meta.compute.modules[path].figures.forward.core_macs > 0
    saved = lambda p: {m.path: m.saved for m in p.memory.modules if m.path.startswith(tuple(paths))}  # noqa: E731
    assert saved(meta) == saved(real) and sum(saved(meta).values()) > 0
    assert meta.compute.coverage.unsupported == 0


def test_grouped_kernel_and_expert_loop_cost_the_same() -> None:
    # 2*16 tokens * top-2 = 64 token-expert pairs, each through gate_up (64 -> 256) and down (128 -> 64)
    figures = []
    for impl in ("eager", "grouped_mm"):
        with routing([4]):
            p = netcensus.profile(_small(impl), input_size=[(2, 16)], dtype=torch.long)
        figures.append(p.compute.totals.forward.core_macs)
    assert figures[0] == figures[1]


def test_grouped_mm_is_counted() -> None:
    # without forced routing, transformers' grouped_mm experts trace on meta (float32) and are counted:
    # per layer 64 pairs * (64*256 + 128*64) MACs = 1,572,864
    p = netcensus.profile(_small("grouped_mm"), input_size=[(2, 16)], dtype=torch.long)
    grouped = [r for r in p.compute.by_op if r.op == "aten._grouped_mm.default"]
    assert grouped and grouped[0].figures.core_macs == 2 * 64 * (64 * 256 + 128 * 64)
    assert p.compute.coverage.unsupported == 0


def test_training_counts_every_expert() -> None:
    # training: every expert's weights, gradients and AdamW state (two fp32 moments) are on the device,
    # not only the top_k a token uses
    model = _small("grouped_mm")
    params = sum(p.numel() for p in model.parameters())
    p = netcensus.profile(model, input_size=[(2, 16)], dtype=torch.long, train=True, target="cpu")
    assert p.memory.weights == 4 * params
    assert p.memory.gradients == 4 * params
    assert p.memory.optimizer == 2 * 4 * params


def test_grouped_mm_meta_kernel_matches_the_cpu_kernel() -> None:
    from netcensus.trace.meta_kernels import KERNELS

    kernel = KERNELS[torch.ops.aten._grouped_mm.default]
    a, w = torch.randn(64, 32), torch.randn(4, 32, 48)
    offs = torch.tensor([16, 32, 48, 64], dtype=torch.int32)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        real = torch.ops.aten._grouped_mm.default(a.to(dtype), w.to(dtype), offs)
        meta = kernel(a.to(dtype).to("meta"), w.to(dtype).to("meta"), offs.to("meta"))
        assert (meta.shape, meta.dtype, meta.stride()) == (real.shape, real.dtype, real.stride())
    # the weight gradient's layout: a[k, S] x b[S, n] -> [groups, k, n]
    real = torch.ops.aten._grouped_mm.default(a.t(), torch.randn(64, 48), offs)
    meta = kernel(a.t().to("meta"), torch.randn(64, 48, device="meta"), offs.to("meta"))
    assert (meta.shape, meta.dtype) == (real.shape, real.dtype) == ((4, 32, 48), torch.float32)
    with pytest.raises(RuntimeError, match="different dtypes"):
        kernel(a.to("meta"), w.to(torch.float16).to("meta"), offs.to("meta"))


class _Expert(torch.nn.Module):
    def __init__(self, h: int) -> None:
        super().__init__()
        self.up = torch.nn.Linear(h, 2 * h)
        self.down = torch.nn.Linear(2 * h, h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.relu(self.up(x)))


class PerExpertMoE(torch.nn.Module):
    """Per-expert modules and a loop over them, as older transformers MoEs and custom code route."""

    def __init__(self, h: int = 16, experts: int = 4, top_k: int = 2) -> None:
        super().__init__()
        self.gate = torch.nn.Linear(h, experts, bias=False)
        self.experts = torch.nn.ModuleList(_Expert(h) for _ in range(experts))
        self.top_k = top_k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        flat = x.reshape(-1, h)
        weights, index = torch.topk(self.gate(flat).softmax(-1), self.top_k, dim=-1)
        out = torch.zeros_like(flat)
        mask = torch.nn.functional.one_hot(index, len(self.experts)).permute(2, 1, 0)
        for e, expert in enumerate(self.experts):
            slot, token = torch.where(mask[e])
            out = out.index_add(0, token, expert(flat[token]) * weights[token, slot, None])
        return out.view(b, t, h)


def test_per_expert_modules_meta_equals_cpu_with_forced_routing() -> None:
    torch.manual_seed(0)
    model = PerExpertMoE()
    x = torch.randn(2, 8, 16)
    with routing([4], target="cpu"):
        meta = netcensus.profile(model, input_size=(2, 8, 16), train=True, target="cpu")
    with routing([4], target="cpu"):
        real = netcensus.profile(model, inputs=x, device="cpu", train=True, target="cpu")
    assert meta.compute.totals == real.compute.totals
    assert meta.memory.activations == real.memory.activations
    assert meta.compute.coverage.unsupported == 0
    # each expert gets 16 tokens * 2 / 4 = 8 rows: up 8*16*32 + down 8*32*16 MACs per expert, 4 experts,
    # + the gate 16*16*4
    assert meta.compute.totals.forward.core_macs == 4 * (8 * 16 * 32 + 8 * 32 * 16) + 16 * 16 * 4
    info = moe_info(model)
    assert info is not None and info.blocks[0].experts == 4 and info.blocks[0].top_k == 2


def test_a_router_whose_choices_are_read_is_routed_uniformly_on_meta() -> None:
    # JetMoE counts the tokens of each expert with .tolist() of the router's choices: no values on meta.
    # profile traces it again with tokens routed uniformly, and says so. Oracle: a real CPU run, where the
    # router decides; each token goes to top_k experts either way, so the FLOPs are the same.
    cfg = _small_jetmoe()
    torch.manual_seed(0)
    real = AutoModelForCausalLM.from_config(cfg)
    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(cfg)
    ids = torch.randint(0, 500, (2, 16))
    on_cpu = netcensus.profile(real, inputs={"input_ids": ids, "labels": ids}, device="cpu", train=True)
    on_meta = netcensus.profile(meta, input_size=["input_ids=2x16:int64", "labels=2x16:int64"], train=True)
    assert on_meta.compute.totals.forward.flops == on_cpu.compute.totals.forward.flops
    assert on_meta.compute.totals.backward.flops == on_cpu.compute.totals.backward.flops
    assert on_meta.memory.peak == pytest.approx(on_cpu.memory.peak, rel=1e-4)
    assert any("tokens routed uniformly" in n for n in on_meta.notes)
    assert not any("tokens routed uniformly" in n for n in on_cpu.notes)


def test_a_dense_model_that_needs_values_still_gets_the_meta_error() -> None:
    class ReadsValues(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x) * float(x.sum())

    with pytest.raises(netcensus.errors.TraceError, match="needs real tensor values"):
        netcensus.profile(ReadsValues(), input_size=(2, 4))
