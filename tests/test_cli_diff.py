"""``netcensus diff`` takes every model source and option ``netcensus MODEL`` takes (one loader, one option
set): transformers configs with --set, per-side --set-a/--set-b, training options, and saved profiles."""

from __future__ import annotations

import json

import pytest

from netcensus.cli import run

pytest.importorskip("transformers", reason="hf: sources need transformers (pip install 'netcensus[hf]')")

D = 768  # GPT-2 small's width
GPT2_BLOCK = 12 * D * D + 13 * D
"""One GPT-2 block: ln_1 2d + c_attn (d*3d + 3d) + attn c_proj (d*d + d) + ln_2 2d + c_fc (d*4d + 4d)
+ mlp c_proj (4d*d + d) = 12d^2 + 13d = 7,087,872."""


def _diff_json(capsys, *argv: str) -> dict:
    code = run(["diff", *argv, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _total(data: dict, name: str) -> dict:
    return next(t for t in data["totals"] if t["name"] == name)


def test_diff_of_two_hf_configs_with_set_on_one_side(capsys):
    data = _diff_json(capsys, "hf:gpt2", "hf:gpt2", "--set", "n_layer=2", "--set-b", "n_layer=3", "--seq", "16")
    total = _total(data, "Total params")
    assert total["difference"] == GPT2_BLOCK
    assert total["b"] - total["a"] == GPT2_BLOCK


def test_diff_applies_shared_set_and_training_options_to_both_sides(capsys):
    data = _diff_json(capsys, "hf:gpt2", "hf:gpt2", "--set", "n_layer=1", "--set-a", "n_embd=384",
                      "--set-a", "n_head=6", "--seq", "8", "--train", "--precision", "bf16-mixed",
                      "--optimizer", "adam")
    a, b = _total(data, "Total params")["a"], _total(data, "Total params")["b"]
    vocab, positions = 50257, 1024
    # one block + token and position embeddings + the final layer norm (lm_head is tied to wte)
    for width, total in ((384, a), (768, b)):
        assert total == 12 * width * width + 13 * width + (vocab + positions) * width + 2 * width
    assert _total(data, "backward FLOPs")["a"] > 0  # --train reached both sides


def test_diff_of_a_saved_profile_and_an_hf_config(tmp_path, capsys):
    saved = tmp_path / "a.json"
    assert run(["hf:gpt2", "--set", "n_layer=2", "--seq", "16", "-o", str(saved)]) == 0
    capsys.readouterr()
    data = _diff_json(capsys, str(saved), "hf:gpt2", "--set", "n_layer=4", "--seq", "16")
    assert _total(data, "Total params")["difference"] == 2 * GPT2_BLOCK


def test_diff_rejects_an_unknown_option_value_like_the_main_command(capsys):
    code = run(["diff", "hf:gpt2", "hf:gpt2", "--seq", "8", "--precision", "bf16mixed"])
    assert code == 2
    assert "bf16mixed" in capsys.readouterr().err
