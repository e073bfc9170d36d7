"""--lora on any model source from the command line, checked against PEFT's published figure."""

from __future__ import annotations

import json

import pytest

from netcensus.cli import run

pytest.importorskip("transformers", reason="hf: sources need transformers")


def test_lora_on_llama2_7b_matches_peft(capsys):
    # PEFT's README example, LoraConfig(r=8, target_modules=["q_proj", "v_proj"]) on Llama-2-7B, prints
    # "trainable params: 4,194,304 || all params: 6,742,609,920": 32 layers x 2 projections x
    # 8 x (4096 + 4096) = 4,194,304 adapter weights on top of the 6,738,415,616 of the model.
    code = run(["hf:meta-llama/Llama-2-7b-hf", "--seq", "8", "--lora", "r=8,alpha=16,targets=q_proj+v_proj",
                "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data["trainable_params"] == 4_194_304 == 32 * 2 * 8 * (4096 + 4096)
    assert data["total_params"] == 6_742_609_920 == 6_738_415_616 + 4_194_304
    assert data["frozen_params"] == 6_738_415_616


def test_lora_training_step_has_no_weight_gradient_for_the_frozen_base(capsys):
    code = run(["hf:gpt2", "--set", "n_layer=1", "--seq", "16", "--train", "--lora", "r=4,targets=c_attn",
                "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    adapters = 4 * (768 + 3 * 768)  # A: r x in, B: out x r for c_attn (768 -> 2304)
    assert data["trainable_params"] == adapters
    # gradients and AdamW state (2 x fp32 moments) for the adapters only
    assert data["memory"]["gradients"] == 4 * adapters
    assert data["memory"]["optimizer"] >= 8 * adapters
    assert data["memory"]["optimizer"] < 8 * adapters + 4096


def test_lora_targets_that_match_nothing_are_one_clear_error(capsys):
    assert run(["hf:gpt2", "--set", "n_layer=1", "--seq", "8", "--lora", "r=8,targets=q_proj"]) == 2
    err = capsys.readouterr().err
    assert "matches the LoRA targets q_proj" in err and "c_attn" in err
