"""Positions beyond what a model has: an error where a real run fails (a learned position table), a
warning where it runs past the trained context (rotary positions). Oracle: the real CPU run of the same
small model."""

from __future__ import annotations

import pytest
import torch

from netcensus.errors import SpecError
from netcensus.load.positions import check_positions, position_limit, sequence_length

T = pytest.importorskip("transformers")
T.logging.set_verbosity_error()


def gpt2() -> torch.nn.Module:
    return T.GPT2LMHeadModel(T.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=32))


def test_gpt2_past_its_table_is_an_error_as_the_real_run_is() -> None:
    model = gpt2()
    with pytest.raises(IndexError):  # the oracle: a real run 1 position past the table
        model(torch.zeros(1, 33, dtype=torch.long))
    assert position_limit(model).learned and position_limit(model).table == "transformer.wpe"
    assert check_positions(model, 32) == []
    with pytest.raises(SpecError, match=r"sequence length 33 is longer than the 32 positions of the model "
                                        r"\(config.n_positions\)"):
        check_positions(model, 33)
    with pytest.raises(SpecError, match=r"KV-cache context \(kv_context\) 8,192 is longer than the 32"):
        check_positions(model, 16, kv_context=8192)


def test_bert_table() -> None:
    model = T.BertModel(T.BertConfig(num_hidden_layers=1, hidden_size=16, num_attention_heads=2,
                                     intermediate_size=32, vocab_size=50, max_position_embeddings=24))
    with pytest.raises(SpecError, match="max_position_embeddings"):
        check_positions(model, 25)


def test_rotary_positions_run_past_the_limit_with_a_warning() -> None:
    model = T.LlamaForCausalLM(T.LlamaConfig(num_hidden_layers=1, hidden_size=16, num_attention_heads=2,
                                             intermediate_size=32, vocab_size=50, max_position_embeddings=8))
    model(torch.zeros(1, 12, dtype=torch.long))  # the oracle: runs
    assert not position_limit(model).learned
    (warning,) = check_positions(model, 12)
    assert "12 is longer than the 8 positions" in warning and "max_position_embeddings" in warning


def test_models_without_a_config_and_sequence_length() -> None:
    assert check_positions(torch.nn.Linear(2, 2), 10**6) == []
    assert sequence_length((), {"input_ids": torch.zeros(2, 7, dtype=torch.long)}) == 7
    assert sequence_length((torch.zeros(2, 5, dtype=torch.long),), {}) == 5
    assert sequence_length((torch.zeros(2, 5),), {}) is None
