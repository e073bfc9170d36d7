"""Weight formats: bytes per tensor against the libraries' documented layouts, arithmetic in comments.

Measured oracle: bitsandbytes 0.50.2 on CPU (``pip install bitsandbytes``), a float16 [300, 200] tensor:
``quantize_4bit(w, blocksize=64, quant_type="nf4")`` -> packed uint8 [30000, 1] + absmax float32 [938]
= 33,752 B; with ``compress_statistics=True`` -> 30,000 + absmax uint8 [938] + state2.absmax float32 [4]
+ offset float32 [] = 30,958 B; ``Int8Params`` -> CB int8 [300, 200] + SCB float32 [300].
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netcensus.analyses.quantization import matrix_bytes, parse_format, quantize
from netcensus.errors import SpecError


def test_bitsandbytes_4bit_layouts() -> None:
    # T = 300*200 = 60,000: ceil(T/2) = 30,000 packed bytes; B = ceil(60,000/64) = 938 blocks
    # nf4: 30,000 + 4*938 = 33,752 (bitsandbytes measured: 33,752)
    assert matrix_bytes(parse_format("nf4"), 300, 200)[0] == 33_752
    assert matrix_bytes(parse_format("fp4"), 300, 200)[0] == 33_752
    # double quantisation: 30,000 + 938 (uint8 absmax) + 4*ceil(938/256) = 16 + 4 (offset) = 30,958 (measured)
    assert matrix_bytes(parse_format("nf4-dq"), 300, 200)[0] == 30_958


def test_llm_int8_layout() -> None:
    # CB int8 300*200 = 60,000 + SCB float32 4*300 = 1,200 -> 61,200
    assert matrix_bytes(parse_format("int8"), 300, 200)[0] == 61_200


def test_gptq_and_awq_layouts() -> None:
    out = inp = 4096
    # GPTQ, g = 128: G = 32; qweight int32 [4096/8, 4096] = 4*512*4096 = 8,388,608; qzeros int32 [32, 4096/8]
    # = 4*32*512 = 65,536; scales fp16 [32, 4096] = 2*32*4096 = 262,144; g_idx int32 [4096] = 16,384
    assert matrix_bytes(parse_format("gptq"), out, inp)[0] == 8_388_608 + 65_536 + 262_144 + 16_384
    # AWQ: qweight int32 [4096, 4096/8] = 8,388,608; qzeros 65,536; scales 262,144; no g_idx
    assert matrix_bytes(parse_format("awq"), out, inp)[0] == 8_388_608 + 65_536 + 262_144
    # group 64: G = 64: 8,388,608 + 4*64*512 = 131,072 + 2*64*4096 = 524,288 + 16,384
    assert matrix_bytes(parse_format("gptq:64"), out, inp)[0] == 8_388_608 + 131_072 + 524_288 + 16_384


def test_fp8_layouts() -> None:
    n = 4096 * 4096
    assert matrix_bytes(parse_format("fp8"), 4096, 4096)[0] == n + 4  # one fp32 scale per tensor
    assert matrix_bytes(parse_format("fp8-channel"), 4096, 4096)[0] == n + 4 * 4096  # one per row
    assert matrix_bytes(parse_format("fp8-block"), 4096, 4096)[0] == n + 4 * 32 * 32  # 128x128 blocks


def test_bitsandbytes_itself_when_installed() -> None:
    F = pytest.importorskip("bitsandbytes.functional")
    w = torch.randn(300, 200, dtype=torch.float16)
    q, state = F.quantize_4bit(w, blocksize=64, quant_type="nf4")
    measured = q.numel() * q.element_size() + state.absmax.numel() * state.absmax.element_size()
    assert measured == matrix_bytes(parse_format("nf4"), 300, 200)[0]


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 64)
        self.up = nn.Linear(64, 256)
        self.norm = nn.LayerNorm(256)
        self.down = nn.Linear(256, 64, bias=False)
        self.lm_head = nn.Linear(64, 100, bias=False)


def test_which_parameters_stay_unquantised() -> None:
    m = Tiny().to(torch.float16)
    q = quantize(m, "int8")
    kinds = {t.name: t.quantized for t in q.tensors}
    assert kinds == {"embed.weight": False, "up.weight": True, "up.bias": False, "norm.weight": False,
                     "norm.bias": False, "down.weight": True, "lm_head.weight": False}
    # quantised: up 256*64 + 4*256 = 17,408; down 64*256 + 4*64 = 16,640
    assert q.quantized_bytes == 17_408 + 16_640
    # kept in fp16: embed 6,400 + up.bias 256 + norm 512 + lm_head 6,400 = 13,568 elements * 2
    assert q.kept_bytes == 2 * 13_568
    assert q.original_bytes == 2 * sum(p.numel() for p in m.parameters())
    # the lm_head can be quantised too when not skipped
    assert quantize(m, "int8", skip=()).quantized_bytes == 17_408 + 16_640 + 100 * 64 + 4 * 100


def test_plain_formats_and_errors() -> None:
    m = Tiny()
    assert quantize(m, "bf16").bytes == 2 * sum(p.numel() for p in m.parameters())
    with pytest.raises(SpecError):
        parse_format("int3")
    with pytest.raises(SpecError):
        parse_format("nf4:64")
    with pytest.raises(SpecError):
        parse_format("gptq:0")
