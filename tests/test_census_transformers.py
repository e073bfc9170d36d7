"""Real architectures from transformers config classes, built on meta (no download, no weights)."""

from __future__ import annotations

import pytest
import torch

import netcensus

transformers = pytest.importorskip("transformers")


def _build(config_cls, model_cls, **cfg):
    config = getattr(transformers, config_cls)(**cfg)
    with torch.device("meta"):
        return getattr(transformers, model_cls)(config)


CASES = [
    ("GPT2Config", "GPT2LMHeadModel", dict(n_layer=2, n_embd=64, n_head=4, vocab_size=500, n_positions=64)),
    ("BertConfig", "BertForMaskedLM", dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                                           intermediate_size=128, vocab_size=500)),
    ("LlamaConfig", "LlamaForCausalLM", dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                                             num_key_value_heads=2, intermediate_size=128, vocab_size=500)),
]


@pytest.mark.parametrize("config_cls,model_cls,cfg", CASES, ids=[c[1] for c in CASES])
def test_transformers_models_census(config_cls, model_cls, cfg):
    model = _build(config_cls, model_cls, **cfg)
    p = netcensus.profile(model, input_size="input_ids=2x16:int64")
    assert p.total_params == sum(q.numel() for q in model.parameters())
    assert sum(r.own_params for r in p.layers) == p.total_params
    assert p.layers[0].output_shapes[0] == (2, 16, 500)  # logits: batch, sequence, vocab
    assert not p.warnings, p.warnings
    assert all(q.device.type == "meta" for q in model.parameters())


def test_gpt2_tied_head_is_reported_and_counted_once():
    cfg = CASES[0][2]
    model = _build("GPT2Config", "GPT2LMHeadModel", **cfg)
    p = netcensus.profile(model, input_size="input_ids=1x8:int64")
    assert ["transformer.wte.weight", "lm_head.weight"] in p.tied
    assert p.layer("lm_head").own_params == 0
    assert p.layer("lm_head").params == 500 * 64  # the tied embedding, shown where it is used
    # per block: ln 2*64*2, c_attn 64*192+192, c_proj 64*64+64, c_fc 64*256+256, mlp c_proj 256*64+64
    block = 2 * (2 * 64) + (64 * 192 + 192) + (64 * 64 + 64) + (64 * 256 + 256) + (256 * 64 + 64)
    # wte 500*64, wpe 64*64, 2 blocks, final ln 2*64
    assert p.total_params == 500 * 64 + 64 * 64 + 2 * block + 2 * 64
    assert p.layer("transformer.h.0").calls == 1 and p.layer("transformer.h.1").params == block
