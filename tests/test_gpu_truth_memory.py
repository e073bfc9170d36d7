"""netcensus's CUDA memory estimates against what a real GPU reported, for every measured case.

Provenance: the figures below are copied from ``gpu-truth/h200.json`` of the shared ground-truth folder:
one NVIDIA H200 (141 GB), PyTorch 2.11.0+cu130, CUDA 13.0, cuDNN 9.19, transformers 5.17, measured
2026-12-04 with the protocol of ``benchmarks/gpu_truth.py`` (from a clean allocator: the model and
inputs moved to the GPU, then a first step, then a second; ``torch.cuda.max_memory_allocated`` over
each step and ``max_memory_reserved`` over the second). The cases themselves are ``tests/gpu_cases.py``.

Each case is traced on meta tensors for ``target="cuda"`` (the default) and compared, per figure:

* ``peak`` (steady state) with ``step2_peak``, within 5%;
* ``first_step_peak`` with ``step1_peak``, within 5%;
* ``reserved`` with ``step2_reserved``, within 15%.

A figure that is not met yet is an ``xfail(strict=True)`` in :data:`KNOWN_GAPS`, with the gap and the
numbers; a case that does not trace yet is skipped with the tracer's reason.
"""

from __future__ import annotations

import gpu_cases as G
import pytest

import netcensus
from netcensus.errors import NetcensusError

# case -> (resident, step1_peak, before_step2, step2_peak, step2_reserved), bytes, from h200.json
H200 = {
    "convnet-b64-infer-fp32": (85396480, 535011328, 119999488, 569614336, 805306368),
    "convnet-b64-train-fp32-adam": (85396480, 1588300800, 249140224, 1684150272, 2652897280),
    "convnet-b64-train-fp32-sgd": (85396480, 1588300800, 201756672, 1636635648, 2646605824),
    "convnet-b64-train-bf16mixed-adam": (85396480, 965177344, 248091648, 1060501504, 1507852288),
    "encoder-b32s512-infer-fp32": (390556160, 827812352, 425159168, 827812352, 1210056704),
    "encoder-b32s512-train-fp32-adam": (390556160, 11994109440, 1148861952, 12684257792, 12853444608),
    "encoder-b32s512-train-bf16mixed-adam": (390556160, 7215759360, 1145454080, 7894111232, 8187281408),
    "encoder-nodrop-b32s512-train-bf16mixed-adam": (390556160, 5111136256, 1143094784, 5792633856,
                                                    6211764224),
    "lstm-b64s256-train-fp32-adam": (134545920, 1780090368, 336528896, 1914964480, 2069889024),
    "lstm-b64s256-infer-fp32": (134545920, 763691520, 168100352, 797245952, 1327497216),
    "mlp-b4096-train-fp32-adamw": (503386112, 2315079680, 1443311616, 2454176256, 2824863744),
    "mlp-b4096-train-fp32-adam-fused": (503386112, 1879591936, 1443314688, 2454179328, 2556428288),
    "gpt2-b8s1024-infer-fp32": (498625024, 2809195008, 533228032, 2809195008, 3500146688),
    "gpt2-nocache-b8s1024-infer-fp32": (498625024, 2205215232, 533228032, 2205215232, 2845835264),
    "gpt2-b8s1024-train-fp32-adam": (498690560, 16394259968, 1563677184, 17424643584, 18171822080),
    "gpt2-b8s1024-train-bf16mixed-adam": (498690560, 13397802496, 1577308672, 14436846592, 15252586496),
    "gpt2-b8s1024-train-fp16mixed-adam": (498690560, 13397802496, 1577308672, 14436846592, 15252586496),
    "gpt2-b8s1024-train-bf16-adam": (259759104, 10778872320, 842190848, 11325914624, 12528386048),
    "gpt2-b8s1024-train-bf16mixed-adam-ckpt": (498690560, 6721238016, 1568133632, 7756094464, 8971616256),
    "gpt2-nodrop-b8s1024-train-fp32-adam": (498690560, 16236973568, 1563152896, 17266832896, 18004049920),
    "bert-b16s512-train-fp32-adamw": (439329792, 9596680192, 1383602176, 10506349568, 11674845184),
    "bert-b16s512-train-bf16mixed-adamw": (439329792, 7003850240, 1394350080, 7925877248, 9101639680),
    "bert-b16s512-padmask-train-bf16mixed-adamw": (439395328, 7105627648, 1391794176, 8023423488, 9206497280),
    "vit-b64-train-bf16mixed-adamw": (381737472, 5539576320, 1136297472, 6226961920, 6650068992),
    "vit-b64-infer-fp32": (381737472, 881646080, 416340480, 881646080, 1080033280),
    "llama-1b-b4s2048-train-bf16mixed-adamw": (4400326144, 30113956352, 13267822080, 38947897856,
                                               39814430720),
    "llama-1b-b4s2048-train-bf16mixed-adamw-ckpt": (4400326144, 22070306304, 13267822080, 22069257728,
                                                    25788678144),
    "llama-1b-b4s2048-train-bf16-adam-fused": (2201277952, 21750854144, 6668683264, 26185753600,
                                               28074573824),
    "llama-1b-b8s2048-infer-bf16": (2201277952, 3719616000, 2234832384, 3719616000, 6268387328),
    "llama-1b-nocache-b8s2048-infer-bf16": (2201277952, 3350517248, 2234832384, 3350517248, 6268387328),
    "t5-small-b16s512-train-fp32-adamw": (242108928, 6148910592, 793270784, 6666518016, 6973030400),
    "t5-small-b16s512-train-bf16mixed-adamw": (242108928, 5399185408, 793795072, 5916399616, 6192889856),
}

FIGURES = {"step2_peak": (3, 0.05), "step1_peak": (1, 0.05), "step2_reserved": (4, 0.15)}

_CONV_RES = ("the caching-allocator replay does not reproduce the fragmentation of cuDNN's backward "
             "convolution workspaces (the chosen algorithms' sizes are not known on meta)")
KNOWN_GAPS: dict[tuple[str, str], str] = {
    ("convnet-b64-train-fp32-adam", "step2_reserved"): _CONV_RES + ": 2.204 GB estimated vs 2.653 GB (0.831)",
    ("convnet-b64-train-fp32-sgd", "step2_reserved"): _CONV_RES + ": 2.198 GB estimated vs 2.647 GB (0.830)",
    ("convnet-b64-train-bf16mixed-adam", "step2_reserved"):
        _CONV_RES + ": 1.267 GB vs 1.508 GB (0.840)",
}


def _params() -> list:
    out = []
    for case in G.CASES:
        for figure in FIGURES:
            gap = KNOWN_GAPS.get((case.name, figure))
            marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap else []
            out.append(pytest.param(case.name, figure, marks=marks, id=f"{case.name}:{figure}"))
    return out


_CACHE: dict[str, object] = {}


def _memory(name: str):
    if name not in _CACHE:
        case = G.CASES_BY_NAME[name]
        why = G.needs_transformers(case)
        if why:
            pytest.skip(why)
        built = G.build(case)
        try:
            _CACHE[name] = netcensus.profile(built.model, **built.profile_kwargs()).memory
        except NetcensusError as exc:
            _CACHE[name] = exc
    got = _CACHE[name]
    if isinstance(got, NetcensusError):
        pytest.skip(f"does not trace yet (tracing is fixed elsewhere): {str(got)[:200]}")
    return got


def test_every_measured_case_is_here():
    assert set(H200) == {c.name for c in G.CASES}


@pytest.mark.parametrize(("name", "figure"), _params())
def test_estimate_matches_the_h200(name: str, figure: str) -> None:
    m = _memory(name)
    column, tolerance = FIGURES[figure]
    measured = H200[name][column]
    estimate = {"step2_peak": m.peak, "step1_peak": m.first_step_peak, "step2_reserved": m.reserved}[figure]
    assert estimate is not None
    ratio = estimate / measured
    assert abs(ratio - 1) <= tolerance, f"{name} {figure}: {estimate:,} / {measured:,} = {ratio:.3f}"


def test_fit_finds_the_largest_gpt2_batch_under_60_gib():
    # Measured (H200): GPT-2 124M, s1024, fp32, Adam: batch 8 peaks at 17,424,643,584 B and batch 16 at
    # 33.3 GB (issue 13); the peak grows by (33.3e9 - 17.42e9) / 8 = 1.985e9 B per sample, so 60 GiB
    # (64.42e9 B) holds 16 + (64.42e9 - 33.3e9) / 1.985e9 = 31.7: batch 31. Within 5%: 30 to 32.
    if G.needs_transformers(G.CASES_BY_NAME["gpt2-b8s1024-train-fp32-adam"]):
        pytest.skip("transformers is not installed")
    built = G.build(G.CASES_BY_NAME["gpt2-b8s1024-train-fp32-adam"])
    result = netcensus.fit(built.model, "60GiB", inputs=built.inputs, train=True, optimizer=built.optimizer)
    assert 30 <= result.value <= 32, result.tries
    assert abs(dict(result.tries)[16] / 33.3e9 - 1) <= 0.05  # batch 16, measured 33.3 GB (issue 13)
