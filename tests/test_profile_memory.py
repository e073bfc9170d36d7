"""Memory through the public API and the CLI."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from untouched import assert_same, snapshot

import netcensus
from netcensus.cli import run
from netcensus.examples import alexnet

ALEX_PARAMS = 46_764_746


def test_inference_and_training_model_states():
    p = netcensus.profile(alexnet(), input_size=(2, 1, 224, 224))
    m = p.memory
    assert m.mode == "inference" and m.weights == ALEX_PARAMS * 4 == p.param_bytes
    assert m.gradients == 0 and m.optimizer == 0 and m.activations == 0
    assert m.peak >= m.weights + m.inputs
    t = netcensus.profile(alexnet(), input_size=(2, 1, 224, 224), train=True)
    # AdamW keeps exp_avg and exp_avg_sq: 2 * 4 bytes per trainable parameter, gradients 4 bytes each
    assert t.memory.gradients == ALEX_PARAMS * 4
    assert t.memory.optimizer == ALEX_PARAMS * 8
    assert any(a.name == "optimizer" and "AdamW" in a.value for a in t.memory.assumptions)
    assert t.memory.activations > 0 and t.memory.peak > m.peak
    assert t.layers[0].saved_bytes == t.memory.activations  # the root's subtree saves everything


def test_sgd_without_momentum_has_no_state_and_frozen_parts_have_no_gradients():
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    model[0].requires_grad_(False)
    p = netcensus.profile(model, input_size=(4, 10), train=True, optimizer="sgd")
    assert p.memory.optimizer == 0
    assert p.memory.gradients == (20 * 3 + 3) * 4  # only the trainable Linear gets gradients


def test_pure_bf16_halves_the_weights_and_leaves_the_model_in_fp32():
    model = alexnet()
    before = snapshot(model)
    p = netcensus.profile(model, input_size=(1, 1, 224, 224), train=True, precision="bf16")
    assert_same(before, snapshot(model))
    assert p.memory.weights == ALEX_PARAMS * 2 and p.memory.gradients == ALEX_PARAMS * 2


def test_sharding_divides_model_states_per_device():
    p = netcensus.profile(alexnet(), input_size=(1, 1, 224, 224), train=True, shard="zero3", devices=64)
    # ZeRO-3 partitions weights, gradients and optimizer state over the 64 devices (rounded up)
    assert p.memory.weights == -(-ALEX_PARAMS * 4 // 64)
    assert p.memory.optimizer == -(-ALEX_PARAMS * 8 // 64)
    with pytest.raises(netcensus.NetcensusError, match="zero3"):
        netcensus.profile(alexnet(), input_size=(1, 1, 224, 224), train=True, shard="zero9")


def test_fit_finds_the_boundary():
    model = alexnet()
    found = netcensus.fit(model, "1GiB", input_size=(1, 1, 224, 224), train=True)
    assert found.value > 1

    def peak(n):
        return netcensus.profile(model, input_size=(n, 1, 224, 224), train=True).memory.peak

    assert peak(found.value) <= 1 << 30 < peak(found.value + 1)


def test_kv_cache_closed_form():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(num_hidden_layers=3, hidden_size=64, num_attention_heads=8,
                                   num_key_value_heads=2, intermediate_size=128, vocab_size=100)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    p = netcensus.profile(model, input_size="input_ids=2x16:int64", kv_context=1024)
    # K and V: 2 * layers 3 * batch 2 * context 1024 * kv heads 2 * head dim 8 * 4 bytes
    assert p.kv_cache.bytes == 2 * 3 * 2 * 1024 * 2 * 8 * 4


def test_cli_memory_options(capsys):
    assert run(["--train", "--memory", "--optimizer", "sgd-momentum", "--precision", "bf16-mixed"]) == 0
    out = capsys.readouterr().out
    assert "Saved for bwd" in out and "optimizer state" in out and "bf16-mixed" in out
    assert run(["--fit", "1GiB", "--train"]) == 0
    out = capsys.readouterr().out
    assert "largest batch" in out and "tried" in out
    assert run(["--train", "--optimizer", "lion"]) == 2
    assert "unknown optimizer" in capsys.readouterr().err
