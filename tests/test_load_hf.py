"""``hf:`` sources: transformers models built from configs on meta, offline, with example inputs.

Oracles: published parameter counts of the shipped configurations, and closed forms written here.
"""

from __future__ import annotations

import json

import pytest
import torch

from netcensus.errors import ModelLoadError, SpecError
from netcensus.load import load
from netcensus.load.hf_table import KNOWN

transformers = pytest.importorskip("transformers")

# Published totals (model.num_parameters() of the hub checkpoints' architectures; tied embeddings once).
PUBLISHED = {
    "openai-community/gpt2": 124_439_808,
    "openai-community/gpt2-medium": 354_823_168,
    "openai-community/gpt2-large": 774_030_080,
    "openai-community/gpt2-xl": 1_557_611_200,
    "google-bert/bert-base-uncased": 109_514_298,  # BertForMaskedLM
    "google-bert/bert-base-cased": 108_340_804,
    "google-bert/bert-large-uncased": 335_174_458,
    "google-bert/bert-large-cased": 333_610_308,
    "FacebookAI/roberta-base": 124_697_433,  # RobertaForMaskedLM
    "distilbert/distilbert-base-uncased": 66_985_530,  # DistilBertForMaskedLM
    "meta-llama/Llama-2-7b-hf": 6_738_415_616,
    "meta-llama/Llama-2-13b-hf": 13_015_864_320,
    "meta-llama/Llama-2-70b-hf": 68_976_648_192,
    "meta-llama/Meta-Llama-3-8B": 8_030_261_248,
    "meta-llama/Meta-Llama-3-70B": 70_553_706_496,
    "meta-llama/Llama-3.1-8B": 8_030_261_248,
    "meta-llama/Llama-3.1-70B": 70_553_706_496,
    "meta-llama/Llama-3.1-405B": 405_853_388_800,
    "meta-llama/Llama-3.2-1B": 1_235_814_400,
    "meta-llama/Llama-3.2-3B": 3_212_749_824,
    "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T": 1_100_048_384,
    "mistralai/Mistral-7B-v0.1": 7_241_732_096,
    "mistralai/Mistral-7B-v0.3": 7_248_023_552,
    "mistralai/Mixtral-8x7B-v0.1": 46_702_792_704,
    "Qwen/Qwen2-7B": 7_615_616_512,
    "Qwen/Qwen2.5-0.5B": 494_032_768,
    "Qwen/Qwen2.5-1.5B": 1_543_714_304,
    "Qwen/Qwen2.5-3B": 3_085_938_688,
    "Qwen/Qwen2.5-7B": 7_615_616_512,
    "Qwen/Qwen2.5-14B": 14_770_033_664,
    "Qwen/Qwen2.5-72B": 72_706_203_648,
    "google/gemma-2b": 2_506_172_416,
    "google/gemma-7b": 8_537_680_896,
    "google-t5/t5-small": 60_506_624,
    "google-t5/t5-base": 222_903_552,
    "google/vit-base-patch16-224": 86_567_656,
    "google/vit-large-patch16-224": 304_326_632,
}


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path, monkeypatch):
    """Every test sees an empty Hugging Face cache, whatever the machine has."""
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return hub


def write_config(folder, **values):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(values))
    return folder


def test_every_shipped_entry_has_a_published_figure():
    assert sorted(PUBLISHED) == sorted(e.repo for e in KNOWN)


@pytest.mark.parametrize("repo", sorted(PUBLISHED))
def test_shipped_config_matches_published_count(repo):
    loaded = load(f"hf:{repo}")
    assert params(loaded.model) == PUBLISHED[repo]
    assert {p.device.type for p in loaded.model.parameters()} == {"meta"}
    assert "shipped config table" in loaded.description


@pytest.mark.parametrize("name,count", [
    ("bert-base-uncased", 109_482_240),  # BertModel with its pooler
    ("bert-large-uncased", 335_141_888),
    ("roberta-base", 124_645_632),
    ("distilbert-base-uncased", 66_362_880),
])
def test_bare_encoders_by_task_argument(name, count):
    loaded = load(f"hf:{name}", args=["model"])
    assert params(loaded.model) == count
    assert "the model class, as asked" in loaded.notes[0]


def test_bert_masked_lm_head_closed_form():
    base = params(load("hf:bert-base-uncased", args=["BertModel"]).model)
    mlm = params(load("hf:bert-base-uncased").model)
    # BertForMaskedLM drops the pooler (768*768 + 768) and adds the head transform (768*768 + 768),
    # its LayerNorm (2*768) and the decoder bias (30522); the decoder weight is tied to the embedding.
    assert mlm == base - (768 * 768 + 768) + (768 * 768 + 768) + 2 * 768 + 30522


def test_gpt2_description_and_meta_inputs():
    loaded = load("hf:gpt2")
    assert loaded.description == ("hf:gpt2 (GPT2LMHeadModel from the shipped config table, entry "
                                  "openai-community/gpt2)")
    args, kwargs = loaded.inputs
    assert args == () and list(kwargs) == ["input_ids", "attention_mask"]
    ids = kwargs["input_ids"]
    assert ids.shape == (1, 128) and ids.dtype == torch.int64 and ids.device.type == "meta"
    assert kwargs["attention_mask"].shape == (1, 128) and kwargs["attention_mask"].device.type == "meta"
    assert any("attention_mask" in n and "no padding" in n for n in loaded.notes)
    assert loaded.source == "hf" and loaded.tensors is None


def test_batch_and_seq():
    _, kwargs = load("hf:gpt2", batch=4, seq=32).inputs
    assert kwargs["input_ids"].shape == (4, 32)
    # GPT-2's learned position table (wpe) has 1,024 rows: a real run at 2,048 raises IndexError
    with pytest.raises(SpecError, match=r"length 2,048 is longer than the 1,024 positions .*n_positions"):
        load("hf:gpt2", seq=2048)
    # Llama's positions are rotary: past max_position_embeddings it runs, with a warning
    overrides = {"max_position_embeddings": 2048, "num_hidden_layers": 1}
    notes = load("hf:llama", seq=4096, overrides=overrides).notes
    assert any("4,096 is longer than the 2,048 positions" in n and "trained for" in n for n in notes)


def test_t5_gets_decoder_inputs():
    _, kwargs = load("hf:t5-small", batch=2, seq=16).inputs
    assert kwargs["input_ids"].shape == (2, 16) and kwargs["decoder_input_ids"].shape == (2, 16)


def test_vit_gets_pixel_values():
    loaded = load("hf:google/vit-base-patch16-224", batch=2, seq=7)
    pixels = loaded.inputs[1]["pixel_values"]
    assert pixels.shape == (2, 3, 224, 224) and pixels.dtype == torch.float32
    assert any("seq does not apply" in n for n in loaded.notes)


def test_dtype_follows_config_and_can_be_overridden():
    assert next(load("hf:meta-llama/Llama-2-7b-hf").model.parameters()).dtype == torch.float16
    llama3 = load("hf:llama-3-8b")
    assert next(llama3.model.parameters()).dtype == torch.bfloat16
    assert "bfloat16, as the config says" in " ".join(llama3.notes)
    forced = load("hf:llama-3-8b", overrides={"dtype": "float32"})
    assert {p.dtype for p in forced.model.parameters()} == {torch.float32}


def test_model_type_with_overrides_closed_form():
    d, layers, heads, kv, inter, vocab = 256, 3, 8, 2, 688, 1000
    loaded = load("hf:llama", overrides={"hidden_size": str(d), "num_hidden_layers": str(layers),
                                         "num_attention_heads": str(heads), "num_key_value_heads": str(kv),
                                         "intermediate_size": str(inter), "vocab_size": str(vocab)})
    head_dim = d // heads
    # q and o: d*d each; k and v: d*(kv*head_dim) each; gate, up, down: 3*d*inter; two RMSNorms: 2*d
    block = 2 * d * d + 2 * d * kv * head_dim + 3 * d * inter + 2 * d
    # embedding and untied lm_head: 2*vocab*d; final norm: d
    assert params(loaded.model) == layers * block + 2 * vocab * d + d
    assert "transformers' default llama config" in loaded.description
    assert type(loaded.model).__name__ == "LlamaForCausalLM"


def test_alias_override_on_a_named_config():
    loaded = load("hf:gpt2", overrides={"hidden_size": "256", "n_layer": "2", "n_head": "4"})
    d, v, p = 256, 50257, 1024
    # GPT-2: wte v*d, wpe p*d, per block 12*d*d + 13*d, final LayerNorm 2*d; lm_head tied
    assert params(loaded.model) == v * d + p * d + 2 * (12 * d * d + 13 * d) + 2 * d
    assert "set hidden_size=256 (was 768)" in loaded.notes


def test_misspelt_override_is_refused_with_a_suggestion():
    with pytest.raises(SpecError) as info:
        load("hf:llama", overrides={"hidden_sise": "8"})
    assert "hidden_size" in info.value.fix


def test_attention_implementation_can_be_chosen():
    loaded = load("hf:llama", overrides={"num_hidden_layers": "1", "attn_implementation": "flex_attention"})
    assert loaded.model.config._attn_implementation == "flex_attention"
    assert "set attn_implementation='flex_attention'" in loaded.notes
    # a class that does not support it is refused by transformers, as a load error that says so
    with pytest.raises(ModelLoadError, match="flex_attention"):
        load("hf:gpt2", overrides={"n_layer": "1", "attn_implementation": "flex_attention"})


def test_flash_attention_2_without_its_package_is_traced_with_sdpa():
    import importlib.util
    if importlib.util.find_spec("flash_attn") is not None:
        pytest.skip("flash-attn is installed: transformers builds the model with it")
    loaded = load("hf:llama", overrides={"num_hidden_layers": "1",
                                         "attn_implementation": "flash_attention_2"})
    assert loaded.model.config._attn_implementation == "sdpa"
    assert any("needs the flash_attn package" in n for n in loaded.notes)


def test_local_directory_with_and_without_prefix(tmp_path):
    folder = write_config(tmp_path / "tiny", model_type="bert", architectures=["BertModel"], hidden_size=32,
                          num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=100,
                          max_position_embeddings=40)
    for spec in (f"hf:{folder}", str(folder)):
        loaded = load(spec)
        assert type(loaded.model).__name__ == "BertModel"
        assert "local config" in loaded.description
        assert loaded.inputs[1]["input_ids"].shape == (1, 40)  # seq = min(128, 40 positions)


def test_hub_cache_wins_over_the_shipped_table(empty_hub_cache):
    repo = empty_hub_cache / "models--openai-community--gpt2"
    write_config(repo / "snapshots" / "abc123", model_type="gpt2", architectures=["GPT2LMHeadModel"],
                 n_layer=2, n_embd=64, n_head=4, vocab_size=100, n_positions=32)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    loaded = load("hf:gpt2")
    assert loaded.model.config.n_layer == 2
    assert "Hugging Face cache" in loaded.description


def test_unknown_architecture_name_falls_back_to_the_task_class(tmp_path):
    folder = write_config(tmp_path / "old_t5", model_type="t5", architectures=["T5WithLMHeadModel"],
                          d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, vocab_size=100)
    loaded = load(f"hf:{folder}")
    assert type(loaded.model).__name__ == "T5ForConditionalGeneration"
    assert "T5WithLMHeadModel" in loaded.notes[0]


def test_profile_end_to_end_on_meta_and_cpu(tmp_path):
    import netcensus

    folder = write_config(tmp_path / "tiny_llama", model_type="llama", architectures=["LlamaForCausalLM"],
                          hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, vocab_size=100, max_position_embeddings=64)
    for device in ("meta", "cpu"):
        loaded = load(f"hf:{folder}", device=device, batch=2, seq=8)
        args, kwargs = loaded.inputs
        assert "attention_mask" in kwargs  # on meta without values: assumed all ones where they are read
        p = netcensus.profile(loaded.model, inputs=kwargs, device=device)
        assert p.total_params == params(loaded.model)
        assert p.layers[0].output_shapes[0] == (2, 8, 100)


def _auto_causal_lm(model_type: str):
    """The oracle: what transformers' own Auto class builds for the model type's default config."""
    config = transformers.AutoConfig.for_model(model_type)
    with torch.device("meta"):
        return transformers.AutoModelForCausalLM.from_config(config)


def test_the_class_transformers_maps_a_model_type_to_is_trusted():
    # EXAONE's causal-LM class in transformers' own mapping is LlamaForCausalLM, built from an
    # ExaoneConfig: the Auto class builds it, so must we (it was refused: "built from a LlamaConfig")
    loaded = load("hf:exaone")
    oracle = _auto_causal_lm("exaone")
    assert type(loaded.model) is type(oracle) is transformers.LlamaForCausalLM
    assert type(loaded.model.config).__name__ == "ExaoneConfig"
    assert params(loaded.model) == params(oracle)
    # a class asked for by name is still checked against the config
    with pytest.raises(SpecError, match="built from a LlamaConfig, but this config is a GPT2Config"):
        load("hf:gpt2", args=["LlamaForCausalLM"])


@pytest.mark.parametrize("model_type", ["emu3", "dots3_note"])
def test_a_causal_lm_built_from_the_configs_text_part(model_type):
    # multimodal configs whose causal-LM class takes the text sub-config, as the Auto class passes it
    loaded = load(f"hf:{model_type}")
    oracle = _auto_causal_lm(model_type)
    assert type(loaded.model) is type(oracle)
    assert type(loaded.model.config) is type(oracle.config) is type(
        transformers.AutoConfig.for_model(model_type).get_text_config())
    assert params(loaded.model) == params(oracle)
    assert any("built from the config's text part" in n for n in loaded.notes)


def test_set_a_field_of_a_sub_config():
    # --set text_config.num_hidden_layers=2: the text part of a multimodal config, the part Emu3's
    # causal-LM class is built from. Oracle: the class built by hand from that text config.
    loaded = load("hf:emu3", overrides={"text_config.num_hidden_layers": "2"})
    assert loaded.model.config.num_hidden_layers == 2
    with torch.device("meta"):
        oracle = transformers.Emu3ForCausalLM(transformers.Emu3TextConfig(num_hidden_layers=2))
    assert params(loaded.model) == params(oracle)
    assert "set text_config.num_hidden_layers=2 (was 32)" in loaded.notes


@pytest.mark.parametrize("overrides,match", [
    ({"text_config.num_hiden_layers": "2"}, "did you mean text_config.num_hidden_layers"),
    ({"txt_config.num_hidden_layers": "2"}, "its sub-configs: text_config, vq_config"),
    ({"text_config.a.b": "2"}, "one level of sub-config at most"),
])
def test_sub_config_mistakes(overrides, match):
    with pytest.raises(SpecError, match=match):
        load("hf:emu3", overrides=overrides)


@pytest.mark.parametrize("spec,kwargs,error,match", [
    ("hf:definitely-not-a-model-xyz", {}, ModelLoadError, "huggingface-cli download"),
    ("hf:gpt2", {"kwargs": {"x": "1"}}, SpecError, "--set"),
    ("hf:gpt2", {"args": ["a", "b"]}, SpecError, "at most one"),
    ("hf:gpt2", {"args": ["BertModel"]}, SpecError, "BertConfig"),
    ("hf:gpt2", {"args": ["NotAClass"]}, SpecError, "not a transformers model class"),
    ("hf:gpt2", {"overrides": {"model_type": "llama"}}, SpecError, "hf:llama"),
    ("hf:gpt2", {"overrides": {"dtype": "float7"}}, SpecError, "unknown dtype"),
    ("hf:./no/such/dir", {}, ModelLoadError, "no such directory"),
])
def test_errors(spec, kwargs, error, match):
    with pytest.raises(error, match=match):
        load(spec, **kwargs)


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load(f"hf:{tmp_path}")
