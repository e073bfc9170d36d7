"""transformers models as people train them, traced on meta: padded attention masks, ``use_cache=False``,
gradient checkpointing (transformers' and torch.utils.checkpoint, reentrant and not), labels.

Oracle: a real CPU run of the same small model with the same inputs (independent of netcensus): its
FLOPs from ``torch.utils.flop_counter.FlopCounterMode`` (matmul family: compared with ``2 * core_macs``)
and the tensors autograd saves, seen by ``saved_tensors_hooks`` (shape and dtype multiset). The CPU run
uses the MATH attention backend, the path SDPA takes on meta without netcensus' attention routing (no
``contexts`` here), so both run the same kernels.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.checkpoint import checkpoint
from torch.utils.flop_counter import FlopCounterMode

from netcensus.analyses.compute import analyze_compute
from netcensus.events import BACKWARD
from netcensus.ops import expand
from netcensus.trace.contexts import trace_contexts
from netcensus.trace.tracer import TraceFailure, trace_model

T = pytest.importorskip("transformers")
T.logging.set_verbosity_error()

SMALL = dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4, intermediate_size=64, vocab_size=97)
B, S = 4, 16


def ids() -> torch.Tensor:
    return torch.randint(0, 97, (B, S), generator=torch.Generator().manual_seed(0))


def padded_mask() -> torch.Tensor:
    """The gpu-truth padded case in small: the last quarter of every other row is padding."""
    m = torch.ones(B, S, dtype=torch.long)
    m[::2, S - S // 4:] = 0
    return m


def bert() -> nn.Module:
    return T.BertForMaskedLM(T.BertConfig(**SMALL))


def gpt2(**kw: Any) -> nn.Module:
    return T.GPT2LMHeadModel(T.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=97, **kw))


def llama(**kw: Any) -> nn.Module:
    return T.LlamaForCausalLM(T.LlamaConfig(**SMALL, **kw))


def hf_checkpointed(build: Any, reentrant: bool | None = None) -> Any:
    def make() -> nn.Module:
        model = build()
        kwargs = {} if reentrant is None else {"gradient_checkpointing_kwargs": {"use_reentrant": reentrant}}
        model.gradient_checkpointing_enable(**kwargs)
        return model
    return make


class Block(nn.Module):
    def __init__(self, d: int = 32):
        super().__init__()
        self.ln, self.qkv, self.out = nn.LayerNorm(d), nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln(x)).view(b, n, 3, 4, d // 4).permute(2, 0, 3, 1, 4)
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return x + self.out(torch.relu(y.transpose(1, 2).reshape(b, n, d)))


class TorchCheckpointed(nn.Module):
    """A model that checkpoints its own blocks with torch.utils.checkpoint."""

    def __init__(self, reentrant: bool):
        super().__init__()
        self.reentrant = reentrant
        self.emb = nn.Embedding(97, 32)
        self.blocks = nn.ModuleList(Block() for _ in range(2))
        self.head = nn.Linear(32, 97)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.emb(input_ids)
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=self.reentrant)
        logits = self.head(x)
        return {"loss": nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())}


CASES: dict[str, tuple[Any, Any]] = {
    "bert-padded-mask": (bert, lambda: {"input_ids": ids(), "attention_mask": padded_mask(),
                                        "labels": ids()}),
    "gpt2-no-cache": (lambda: gpt2(use_cache=False), lambda: {"input_ids": ids(), "labels": ids()}),
    "llama-no-cache": (lambda: llama(use_cache=False), lambda: {"input_ids": ids(), "labels": ids()}),
    "llama-padded-mask": (llama, lambda: {"input_ids": ids(), "attention_mask": padded_mask(),
                                          "labels": ids()}),
    "gpt2-grad-ckpt": (hf_checkpointed(gpt2), lambda: {"input_ids": ids(), "labels": ids()}),
    "llama-grad-ckpt": (hf_checkpointed(llama), lambda: {"input_ids": ids(), "labels": ids()}),
    "gpt2-grad-ckpt-reentrant": (hf_checkpointed(gpt2, True), lambda: {"input_ids": ids(), "labels": ids()}),
    "llama-grad-ckpt-reentrant": (hf_checkpointed(llama, True),
                                  lambda: {"input_ids": ids(), "labels": ids()}),
    "torch-ckpt": (lambda: TorchCheckpointed(False), lambda: {"input_ids": ids(), "labels": ids()}),
    "torch-ckpt-reentrant": (lambda: TorchCheckpointed(True), lambda: {"input_ids": ids(), "labels": ids()}),
}


def real_run(model: nn.Module, kwargs: dict[str, Any]) -> tuple[int, collections.Counter]:
    """FLOPs (FlopCounterMode) and saved tensors (shape, dtype) of one real CPU training step."""
    saved: collections.Counter = collections.Counter()

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved[(tuple(t.shape), str(t.dtype).removeprefix("torch."))] += 1
        return t

    model.train()
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, \
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(**kwargs)
        loss = out["loss"] if isinstance(out, dict) else out.loss
        loss.backward(torch.ones_like(loss))
    return counter.get_total_flops(), saved


def meta_step(model: nn.Module, kwargs: dict[str, Any], **options: Any) -> Any:
    model.train()
    return trace_model(model, (), kwargs, train=True, expand=expand, **options)


def meta_step_matching_a_real_run(model: nn.Module, kwargs: dict[str, Any]) -> Any:
    """The meta trace of one training step, after checking it against a real CPU step of the same model:
    the same saved tensors (shape, dtype) and the same FLOPs. Returns the trace."""
    trace = meta_step(model, kwargs)
    flops, saved = real_run(model, kwargs)
    assert collections.Counter((m.tensor.shape, m.tensor.dtype) for m in trace.saved) == saved
    assert 2 * analyze_compute(trace).totals.total.core_macs == flops
    return trace


@pytest.mark.parametrize("name", list(CASES))
def test_meta_trace_saves_and_computes_what_a_real_cpu_run_does(name: str) -> None:
    build, make_inputs = CASES[name]
    torch.manual_seed(0)
    model, kwargs = build(), make_inputs()
    trace = meta_step(model, kwargs)
    flops, saved = real_run(model, kwargs)
    ours = collections.Counter((m.tensor.shape, m.tensor.dtype) for m in trace.saved)
    assert ours == saved
    assert 2 * analyze_compute(trace).totals.total.core_macs == flops > 0
    assert trace.assumptions == ()  # every value read came from the inputs given (real tensors)


@pytest.mark.parametrize("name", ["bert-padded-mask", "llama-grad-ckpt", "gpt2-grad-ckpt-reentrant"])
def test_meta_trace_runs_the_ops_of_a_real_cpu_trace(name: str) -> None:
    """The same aten ops in the same order as netcensus' trace of the real CPU run: the meta trace took
    the path the real values take (mask built, not skipped; the same recomputation)."""
    build, make_inputs = CASES[name]
    torch.manual_seed(0)
    model, kwargs = build(), make_inputs()
    meta = meta_step(model, kwargs)
    with sdpa_kernel(SDPBackend.MATH):
        cpu = meta_step(model, kwargs, device="cpu")
    assert [e.op for e in meta.events] == [e.op for e in cpu.events]


def _sdpa_masks(trace: Any) -> list[Any]:
    fused = [e for e in trace.events if "_scaled_dot_product_" in e.op and e.phase != BACKWARD]
    return [e.args[3] if len(e.args) > 3 else e.kwargs.get("attn_bias") for e in fused]


def test_padded_bert_reaches_the_cuda_kernel_with_its_mask() -> None:
    """With padding, transformers builds a B x 1 x S x S mask and CUDA's kernel takes it; without, it
    drops the mask. Kernels as h200-ops.json reports them for BERT b16 s512: fp32 runs
    ``_efficient_attention_forward``; bf16-mixed, padded or not, ``_cudnn_attention_forward``."""
    from netcensus.options import Precision

    torch.manual_seed(0)
    model = bert()
    kernels = ((Precision.FP32, "efficient_attention"), (Precision.BF16_MIXED, "cudnn_attention"))
    for precision, kernel in kernels:
        contexts = trace_contexts(precision, device_type="cuda")
        padded = meta_step(model, {"input_ids": ids(), "attention_mask": padded_mask()}, contexts=contexts)
        masks = _sdpa_masks(padded)
        assert len(masks) == 2 and all(m is not None and tuple(m.shape) == (B, 4, S, S) for m in masks)
        assert all(kernel in e.op for e in padded.events if "_scaled_dot_product_" in e.op)
        plain = meta_step(model, {"input_ids": ids(), "attention_mask": torch.ones(B, S, dtype=torch.long)},
                          contexts=contexts)
        assert _sdpa_masks(plain) == [None, None]


def test_a_meta_mask_is_assumed_unpadded_and_the_assumption_is_named() -> None:
    torch.manual_seed(0)
    model = bert()
    given = meta_step(model, {"input_ids": ids(), "attention_mask": torch.ones(B, S, dtype=torch.long)})
    assumed = meta_step(model, {"input_ids": ids(), "attention_mask": torch.ones(B, S, dtype=torch.long,
                                                                               device="meta")})
    assert [e.op for e in assumed.events] == [e.op for e in given.events]
    assert given.assumptions == ()
    assert assumed.assumptions == (
        "attention_mask has no values (given on meta): assumed all ones (no padding)",)


class ReadsValues(nn.Module):
    """Value reads on integer inputs: nonzero, boolean indexing, item, tolist, an in-place write."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = ids.clone()
        keep[keep > 7] = 0                      # in place, on known values
        rows = keep.nonzero()                   # data-dependent shape
        n = int((keep != 0).sum().item())       # a scalar read
        firsts = keep[:, 0].tolist()            # a read no aten op sees
        x = self.emb(keep)[keep != 0]           # boolean indexing
        assert x.shape[0] == n == rows.shape[0] and len(firsts) == keep.shape[0]
        return x * float(max(firsts) + 1)


def test_value_reads_follow_the_real_values() -> None:
    torch.manual_seed(0)
    model = ReadsValues()
    x = torch.tensor([[1, 0, 9, 3], [0, 0, 5, 8]])
    real = model(x)  # 1, 3, 5 survive
    trace = trace_model(model, (x,))
    out = next(c for c in trace.calls if c.path == "").outputs
    assert tuple(out.shape) == tuple(real.shape) == (3, 4)


class ReadsWeights(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lin.weight.sum() > 0:  # a value of the (meta) weights: no run can know it
            return x
        return self.lin(x)


def test_values_of_the_weights_still_fail_with_their_op() -> None:
    with pytest.raises(TraceFailure) as info:
        trace_model(ReadsWeights(), (torch.randn(2, 4),))
    assert "_local_scalar_dense" in str(info.value.op)


@pytest.mark.parametrize("reentrant", [False, True], ids=["non-reentrant", "reentrant"])
def test_checkpoint_recomputation_is_backward_work_of_its_module(reentrant: bool) -> None:
    """The forward a checkpointed block runs again in backward: backward ops of the block's modules (its
    FLOPs counted there), not a second call of the forward."""
    torch.manual_seed(0)
    model = hf_checkpointed(llama, reentrant)()
    trace = meta_step(model, {"input_ids": ids(), "labels": ids()})
    q_proj = "model.layers.0.self_attn.q_proj"
    assert sum(1 for c in trace.calls if c.path == q_proj) == 1
    # each layer's children run again: norms, attention (q, k, v, o, rotary...), MLP (gate, up, act...)
    assert trace.recomputed_calls > 0
    # q_proj's forward mm runs twice: in the forward and again in backward, plus its two gradient mms
    mms = [e.phase for e in trace.events if e.module == q_proj and e.op == "aten.mm.default"]
    assert mms.count(BACKWARD) == 3 and len(mms) == 4
    plain = analyze_compute(meta_step(llama(), {"input_ids": ids(), "labels": ids()}))
    extra = analyze_compute(trace).totals.backward.core_macs - plain.totals.backward.core_macs
    layers = ("model.layers.0", "model.layers.1")
    layer_forward = sum(plain.modules[p].figures.forward.core_macs for p in layers)
    # Non-reentrant checkpointing stops recomputing once the last tensor backward needs is back: each
    # layer's final matmul (mlp.down_proj, whose output nothing saves) is not run again.
    skipped = 0 if reentrant else sum(plain.modules[f"{p}.mlp.down_proj"].figures.forward.core_macs
                                      for p in layers)
    assert extra == layer_forward - skipped > 0


def test_labels_put_the_loss_and_its_float32_logits_in_the_step() -> None:
    """transformers' causal-LM loss upcasts the logits to float32 (``logits.float()``) before
    cross-entropy: with bf16 weights the trace holds a B x S x V float32 copy of the logits."""
    torch.manual_seed(0)
    model = llama().to(torch.bfloat16)
    trace = meta_step(model, {"input_ids": ids(), "labels": ids()})
    forward = [e for e in trace.events if e.phase != BACKWARD]
    upcasts = [e for e in forward if e.op == "aten._to_copy.default" and e.outputs
               and e.outputs[0].dtype == "float32" and tuple(e.outputs[0].shape) == (B, S, 97)]
    assert len(upcasts) == 1
    assert any(e.op.startswith("aten.nll_loss") for e in forward)
    assert any(e.op.startswith("aten._log_softmax") and e.outputs[0].dtype == "float32" for e in forward)


@pytest.mark.parametrize("reentrant", [False, True], ids=["non-reentrant", "reentrant"])
def test_checkpointing_under_autocast_recomputes_in_bf16(reentrant: bool) -> None:
    """Real checkpointing recomputes under the forward's autocast state; the emulation does likewise
    (oracle: a real CPU ``torch.autocast`` run, CPU autocast's op lists on both sides)."""
    from netcensus.trace.contexts.autocast import CPU_LISTS, autocast_emulation

    torch.manual_seed(0)
    model = hf_checkpointed(llama, reentrant)()
    kwargs = {"input_ids": ids(), "labels": ids()}
    trace = meta_step(model, kwargs, contexts=(autocast_emulation(torch.bfloat16, CPU_LISTS),))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        flops, saved = real_run(model, kwargs)
    assert collections.Counter((m.tensor.shape, m.tensor.dtype) for m in trace.saved) == saved
    assert 2 * analyze_compute(trace).totals.total.core_macs == flops
    recomputed = [e for e in trace.events if e.phase == BACKWARD and e.module.endswith("q_proj")
                  and e.op == "aten.mm.default" and e.outputs[0].shape[-1] == 32]
    assert recomputed and all(e.outputs[0].dtype == "bfloat16" for e in recomputed)


@pytest.mark.parametrize("reentrant", [None, False, True], ids=["plain", "non-reentrant", "reentrant"])
def test_checkpointed_step_memory_matches_the_real_run(reentrant: bool | None) -> None:
    """The storages a checkpointed step holds live as long in the meta trace as in a real CPU run
    (oracle: tests/test_memory_oracle.measure, live storage bytes under a dispatch mode). A recomputation
    holds its tensors only while backward needs them: non-reentrant checkpointing never runs the
    backward of the graph it rebuilds, so that graph must die with the recomputation."""
    from test_memory_oracle import measure

    from netcensus.analyses.memory import analyze_memory, param_infos

    torch.manual_seed(0)
    build = llama if reentrant is None else hf_checkpointed(llama, reentrant)
    model = build()
    kwargs = {"input_ids": torch.randint(0, 97, (4, 64), generator=torch.Generator().manual_seed(0)),
              "labels": torch.randint(0, 97, (4, 64), generator=torch.Generator().manual_seed(1))}
    estimate = analyze_memory(meta_step(model, kwargs), param_infos(model), optimizer=None)
    with sdpa_kernel(SDPBackend.MATH):
        real = measure(model, (), train=True, kwargs=kwargs)
    assert abs(estimate.peak - real.peak) <= 0.01 * real.peak, (estimate.peak, real.peak)
    assert abs(estimate.forward_end - real.forward_end) <= 0.01 * real.forward_end
