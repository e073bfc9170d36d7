"""Configurations of well-known Hugging Face models, shipped with netcensus so that ``hf:NAME`` works
offline and without a download.

Each entry is the model's published ``config.json`` reduced to the fields that decide its architecture
and size (hidden size, layers, heads, key/value heads, intermediate size, vocabulary, positions, tied
embeddings, RoPE, norm epsilon, dtype), spelled as in that file. Fields left out take transformers'
defaults, which for these models equal the published values. Tests build every entry on meta and
compare its parameter count with the published figure.

Lookup is case-insensitive, by the hub id (``meta-llama/Llama-2-7b-hf``), the name without its
organisation (``Llama-2-7b-hf``), or an alias listed with the entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KnownConfig:
    """A shipped configuration: the hub id it comes from, extra names, and the config.json fields."""

    repo: str
    config: dict[str, Any]
    aliases: tuple[str, ...] = field(default=())


def _gpt2(n_embd: int, n_layer: int, n_head: int) -> dict[str, Any]:
    return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 50257,
            "n_positions": 1024, "n_ctx": 1024, "n_embd": n_embd, "n_layer": n_layer, "n_head": n_head,
            "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "bos_token_id": 50256,
            "eos_token_id": 50256}


def _bert(hidden: int, layers: int, heads: int, intermediate: int, vocab: int) -> dict[str, Any]:
    return {"model_type": "bert", "architectures": ["BertForMaskedLM"], "hidden_size": hidden,
            "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": intermediate,
            "vocab_size": vocab, "max_position_embeddings": 512, "type_vocab_size": 2,
            "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0}


_LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192}


def _llama(hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int, vocab: int,
           positions: int, *, rope_theta: float = 10000.0, dtype: str = "float16", tie: bool = False,
           **extra: Any) -> dict[str, Any]:
    return {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": hidden,
            "intermediate_size": intermediate, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kv_heads, "vocab_size": vocab, "max_position_embeddings": positions,
            "rms_norm_eps": 1e-5, "rope_theta": rope_theta, "hidden_act": "silu",
            "tie_word_embeddings": tie, "torch_dtype": dtype, **extra}


def _llama3(hidden: int, intermediate: int, layers: int, heads: int, *, positions: int = 8192,
            **extra: Any) -> dict[str, Any]:
    return _llama(hidden, intermediate, layers, heads, 8, 128256, positions, rope_theta=500000.0,
                  dtype="bfloat16", bos_token_id=128000, eos_token_id=128001, **extra)


def _qwen2(hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int, vocab: int,
           positions: int, tie: bool) -> dict[str, Any]:
    return {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": hidden,
            "intermediate_size": intermediate, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kv_heads, "vocab_size": vocab, "max_position_embeddings": positions,
            "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu",
            "tie_word_embeddings": tie, "use_sliding_window": False, "torch_dtype": "bfloat16"}


def _gemma(hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int) -> dict[str, Any]:
    return {"model_type": "gemma", "architectures": ["GemmaForCausalLM"], "hidden_size": hidden,
            "intermediate_size": intermediate, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kv_heads, "head_dim": 256, "vocab_size": 256000,
            "max_position_embeddings": 8192, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
            "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": True,
            "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, "torch_dtype": "bfloat16"}


def _t5(d_model: int, d_ff: int, layers: int, heads: int) -> dict[str, Any]:
    return {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "d_model": d_model,
            "d_kv": 64, "d_ff": d_ff, "num_layers": layers, "num_decoder_layers": layers,
            "num_heads": heads, "vocab_size": 32128, "relative_attention_num_buckets": 32,
            "feed_forward_proj": "relu", "layer_norm_epsilon": 1e-6, "tie_word_embeddings": True,
            "is_encoder_decoder": True, "n_positions": 512, "decoder_start_token_id": 0,
            "pad_token_id": 0, "eos_token_id": 1}


def _vit(hidden: int, layers: int, heads: int, intermediate: int) -> dict[str, Any]:
    return {"model_type": "vit", "architectures": ["ViTForImageClassification"], "hidden_size": hidden,
            "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": intermediate,
            "hidden_act": "gelu", "image_size": 224, "patch_size": 16, "num_channels": 3,
            "qkv_bias": True, "layer_norm_eps": 1e-12, "num_labels": 1000}


_MISTRAL = {"model_type": "mistral", "architectures": ["MistralForCausalLM"], "hidden_size": 4096,
            "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "max_position_embeddings": 32768, "rms_norm_eps": 1e-5,
            "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
            "bos_token_id": 1, "eos_token_id": 2}

KNOWN: tuple[KnownConfig, ...] = (
    KnownConfig("openai-community/gpt2", _gpt2(768, 12, 12), ("gpt2-small",)),
    KnownConfig("openai-community/gpt2-medium", _gpt2(1024, 24, 16)),
    KnownConfig("openai-community/gpt2-large", _gpt2(1280, 36, 20)),
    KnownConfig("openai-community/gpt2-xl", _gpt2(1600, 48, 25)),
    KnownConfig("google-bert/bert-base-uncased", _bert(768, 12, 12, 3072, 30522)),
    KnownConfig("google-bert/bert-base-cased", _bert(768, 12, 12, 3072, 28996)),
    KnownConfig("google-bert/bert-large-uncased", _bert(1024, 24, 16, 4096, 30522)),
    KnownConfig("google-bert/bert-large-cased", _bert(1024, 24, 16, 4096, 28996)),
    KnownConfig("FacebookAI/roberta-base", {
        "model_type": "roberta", "architectures": ["RobertaForMaskedLM"], "hidden_size": 768,
        "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 50265,
        "max_position_embeddings": 514, "type_vocab_size": 1, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
        "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}),
    KnownConfig("distilbert/distilbert-base-uncased", {
        "model_type": "distilbert", "architectures": ["DistilBertForMaskedLM"], "dim": 768, "n_layers": 6,
        "n_heads": 12, "hidden_dim": 3072, "vocab_size": 30522, "max_position_embeddings": 512,
        "activation": "gelu", "sinusoidal_pos_embds": False, "pad_token_id": 0}),
    KnownConfig("meta-llama/Llama-2-7b-hf", _llama(4096, 11008, 32, 32, 32, 32000, 4096,
                                                   bos_token_id=1, eos_token_id=2), ("llama-2-7b",)),
    KnownConfig("meta-llama/Llama-2-13b-hf", _llama(5120, 13824, 40, 40, 40, 32000, 4096,
                                                    bos_token_id=1, eos_token_id=2), ("llama-2-13b",)),
    KnownConfig("meta-llama/Llama-2-70b-hf", _llama(8192, 28672, 80, 64, 8, 32000, 4096,
                                                    bos_token_id=1, eos_token_id=2), ("llama-2-70b",)),
    KnownConfig("meta-llama/Meta-Llama-3-8B", _llama3(4096, 14336, 32, 32), ("llama-3-8b",)),
    KnownConfig("meta-llama/Meta-Llama-3-70B", _llama3(8192, 28672, 80, 64), ("llama-3-70b",)),
    KnownConfig("meta-llama/Llama-3.1-8B",
                _llama3(4096, 14336, 32, 32, positions=131072, rope_scaling=_LLAMA3_ROPE),
                ("meta-llama/Meta-Llama-3.1-8B", "llama-3.1-8b")),
    KnownConfig("meta-llama/Llama-3.1-70B",
                _llama3(8192, 28672, 80, 64, positions=131072, rope_scaling=_LLAMA3_ROPE),
                ("meta-llama/Meta-Llama-3.1-70B", "llama-3.1-70b")),
    KnownConfig("meta-llama/Llama-3.1-405B",
                _llama3(16384, 53248, 126, 128, positions=131072, rope_scaling=_LLAMA3_ROPE),
                ("meta-llama/Meta-Llama-3.1-405B", "llama-3.1-405b")),
    KnownConfig("meta-llama/Llama-3.2-1B",
                _llama3(2048, 8192, 16, 32, positions=131072, head_dim=64, tie_word_embeddings=True,
                        rope_scaling={**_LLAMA3_ROPE, "factor": 32.0}), ("llama-3.2-1b",)),
    KnownConfig("meta-llama/Llama-3.2-3B",
                _llama3(3072, 8192, 28, 24, positions=131072, head_dim=128, tie_word_embeddings=True,
                        rope_scaling={**_LLAMA3_ROPE, "factor": 32.0}), ("llama-3.2-3b",)),
    KnownConfig("TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T",
                _llama(2048, 5632, 22, 32, 4, 32000, 2048, dtype="float32", bos_token_id=1,
                       eos_token_id=2), ("tinyllama", "tinyllama-1.1b")),
    KnownConfig("mistralai/Mistral-7B-v0.1", {**_MISTRAL, "vocab_size": 32000, "rope_theta": 10000.0,
                                              "sliding_window": 4096}, ("mistral-7b",)),
    KnownConfig("mistralai/Mistral-7B-v0.3", {**_MISTRAL, "vocab_size": 32768, "rope_theta": 1000000.0,
                                              "sliding_window": None}),
    KnownConfig("mistralai/Mixtral-8x7B-v0.1", {
        **_MISTRAL, "model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "vocab_size": 32000,
        "rope_theta": 1000000.0, "sliding_window": None, "num_local_experts": 8,
        "num_experts_per_tok": 2, "router_aux_loss_coef": 0.02}, ("mixtral-8x7b",)),
    KnownConfig("Qwen/Qwen2-7B", _qwen2(3584, 18944, 28, 28, 4, 152064, 131072, False)),
    KnownConfig("Qwen/Qwen2.5-0.5B", _qwen2(896, 4864, 24, 14, 2, 151936, 32768, True)),
    KnownConfig("Qwen/Qwen2.5-1.5B", _qwen2(1536, 8960, 28, 12, 2, 151936, 131072, True)),
    KnownConfig("Qwen/Qwen2.5-3B", _qwen2(2048, 11008, 36, 16, 2, 151936, 32768, True)),
    KnownConfig("Qwen/Qwen2.5-7B", _qwen2(3584, 18944, 28, 28, 4, 152064, 131072, False)),
    KnownConfig("Qwen/Qwen2.5-14B", _qwen2(5120, 13824, 48, 40, 8, 152064, 131072, False)),
    KnownConfig("Qwen/Qwen2.5-72B", _qwen2(8192, 29568, 80, 64, 8, 152064, 131072, False)),
    KnownConfig("google/gemma-2b", _gemma(2048, 16384, 18, 8, 1)),
    KnownConfig("google/gemma-7b", _gemma(3072, 24576, 28, 16, 16)),
    KnownConfig("google-t5/t5-small", _t5(512, 2048, 6, 8)),
    KnownConfig("google-t5/t5-base", _t5(768, 3072, 12, 12)),
    KnownConfig("google/vit-base-patch16-224", _vit(768, 12, 12, 3072)),
    KnownConfig("google/vit-large-patch16-224", _vit(1024, 24, 16, 4096)),
)


def _index() -> dict[str, KnownConfig]:
    index: dict[str, KnownConfig] = {}
    for entry in KNOWN:
        for key in (entry.repo, entry.repo.rsplit("/", 1)[-1], *entry.aliases):
            key = key.lower()
            if key in index and index[key] is not entry:
                raise AssertionError(f"shipped config name {key!r} is ambiguous")
            index[key] = entry
    return index


_INDEX = _index()


def find_known(name: str) -> KnownConfig | None:
    """The shipped entry for ``name`` (hub id, bare name or alias, any case), or None."""
    return _INDEX.get(name.strip().lower())


def known_names() -> list[str]:
    """Every hub id in the table, in table order."""
    return [entry.repo for entry in KNOWN]
