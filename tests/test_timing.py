"""The step-time model: the device table, the per-op model on hand-written events (closed forms), the
optimizer's bytes, the result's JSON round trip, the text/chart renderers, and the accuracy over the
steps measured on an H200 (figures copied below with their provenance)."""

from __future__ import annotations

import json
import math
import statistics
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from netcensus.analyses.compute import analyze_compute
from netcensus.analyses.memory import ParamInfo
from netcensus.analyses.timing import DEFAULT_CONSTANTS, OPTIMIZER_ROW, estimate_time
from netcensus.devices import GPUS, custom_device, get_gpu, load_device
from netcensus.errors import SpecError, TraceError
from netcensus.events import ModuleCall, OpEvent, TensorMeta, Trace
from netcensus.options import OptimizerSpec
from netcensus.report.timing import render_compare, render_measured, render_time, roofline_svg, write_roofline
from netcensus.results.timing import TimeConstants, TimeResult

C = DEFAULT_CONSTANTS
H200 = get_gpu("H200")
SIZE = {"float32": 4, "bfloat16": 2, "float16": 2}

# ---- the device table ------------------------------------------------------------------------------


def test_builtin_devices_have_sources_and_units() -> None:
    names = {d.name for d in GPUS}
    for wanted in (
        "H100-SXM",
        "H100-PCIe",
        "H200",
        "A100-40GB",
        "A100-80GB",
        "L4",
        "L40S",
        "RTX-4090",
        "RTX-3090",
        "MI300X",
    ):
        assert wanted in names
    for d in GPUS:
        assert d.sources and all(s for s in d.sources), d.name
        assert d.peak["fp32"] > 0 and d.peak["bf16"] > d.peak["fp32"], d.name
        assert d.bandwidth > 1e11 and d.memory > 1e10, d.name
        assert d.matmul_tf32 is False and d.cudnn_tf32 is True  # PyTorch's defaults


def test_datasheet_figures() -> None:
    """Dense = half the datasheet's 'with sparsity' figure: H100 SXM BF16 1,979 TFLOPS* -> 989.4;
    H100 PCIe 1,513* -> 756.5; A100 312 (624*); L4 242* -> 121; RTX 4090 FP32-accumulate 165.2."""
    assert get_gpu("h100").peak["bf16"] == pytest.approx(989.4e12)
    assert get_gpu("H100 PCIe").peak["bf16"] == pytest.approx(756.5e12)
    assert get_gpu("a100").peak["bf16"] == pytest.approx(312e12)
    assert get_gpu("L4").peak["bf16"] == pytest.approx(121e12)
    assert get_gpu("rtx4090").peak["bf16"] == pytest.approx(165.2e12)
    assert get_gpu("H200").bandwidth == pytest.approx(4.8e12)
    assert get_gpu("H200").memory == 141 * 10**9
    assert get_gpu("mi300x").fp32_matmul == pytest.approx(163.4e12)


def test_lookup_is_forgiving_and_errors_suggest() -> None:
    assert get_gpu("h200_sxm") is get_gpu("H200")
    assert get_gpu(" A100 80GB ") is get_gpu("A100-80GB")
    with pytest.raises(SpecError, match="did you mean 'H200'"):
        get_gpu("H2000")
    with pytest.raises(SpecError, match="unknown GPU"):
        get_gpu("toaster")


def test_user_device_files(tmp_path) -> None:
    toml = tmp_path / "mine.toml"
    toml.write_text(
        'name = "my-gpu"\nbandwidth_tbs = 2.0\nmemory_gb = 48\nsource = "sheet p.3"\n'
        "[peak_tflops]\nfp32 = 60\nbf16 = 400\n"
    )
    d = load_device(toml)
    assert (d.name, d.bandwidth, d.memory, d.peak["bf16"], d.user) == (
        "my-gpu",
        2e12,
        48 * 10**9,
        400e12,
        True,
    )
    assert get_gpu(str(toml)).name == "my-gpu"  # a path works wherever a name does
    js = tmp_path / "based.json"
    js.write_text(json.dumps({"base": "H100-SXM", "bandwidth_tbs": 4.0}))
    b = load_device(js)
    assert b.bandwidth == 4e12 and b.peak["bf16"] == pytest.approx(989.4e12) and b.name == "based"
    assert custom_device("k", bandwidth_tbs=1, peak_tflops={"fp32": 10}).peak == {"fp32": 10e12}


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"bandwidth_tbs": 2}', "missing 'peak_tflops'"),
        ('{"bandwidth_tbs": 2, "peak_tflops": {"bf16": 100}}', "needs an 'fp32'"),
        ('{"bandwidth_tbs": -1, "peak_tflops": {"fp32": 1}}', "must be a positive number"),
        ('{"bandwidth_tbs": 2, "peak_tflops": {"fp32": 1, "bf61": 3}}', "unknown peak key"),
        ('{"bandwith_tbs": 2, "peak_tflops": {"fp32": 1}}', "did you mean 'bandwidth_tbs'"),
        ("{not json", "not a valid JSON"),
    ],
)
def test_user_device_errors(tmp_path, text: str, match: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(text)
    with pytest.raises(SpecError, match=match):
        load_device(f)


def test_missing_device_file() -> None:
    with pytest.raises(SpecError, match="cannot read device file"):
        load_device("/nonexistent/dev.toml")


# ---- the per-op model on hand-written events -------------------------------------------------------

_storage = iter(range(1, 10**6))


def _t(*shape: int, dtype: str = "float32", storage: int | None = None) -> TensorMeta:
    n = math.prod(shape)
    s = next(_storage) if storage is None else storage
    return TensorMeta(shape, dtype, s, n * SIZE[dtype], n * SIZE[dtype])


def _trace(*events: OpEvent, train: bool = False, calls: tuple[ModuleCall, ...] = ()) -> Trace:
    calls = calls or (ModuleCall("", "Net", 0, 0, 0, len(events), (events[0].inputs[0],), {}, None),)
    return Trace(events=events, calls=calls, train=train)


def _time(trace: Trace, **kw):
    return estimate_time(trace, analyze_compute(trace), kw.pop("gpu", "H200"), **kw)


def _one(r: TimeResult):
    (op,) = [o for o in r.ops if o.kernels]
    return op


def test_fp32_matmul_runs_on_the_fp32_pipe() -> None:
    """mm [4096, 4096] x [4096, 4096] fp32: 2*4096^3 = 137.4 GFLOP at 67e12 * fp32_efficiency, vs
    3 * 4096^2 * 4 B = 201 MB at 4.8e12 * memory_efficiency: compute-bound; plus one kernel overhead."""
    a, b, out = _t(4096, 4096), _t(4096, 4096), _t(4096, 4096)
    r = _time(_trace(OpEvent(0, "aten.mm.default", "fc", "forward", (a, b), {}, (out,))))
    op = _one(r)
    flops = 2 * 4096**3
    assert op.flops == flops and op.bytes == 3 * 4096 * 4096 * 4
    expected = flops / (67e12 * C.fp32_efficiency) + C.kernel_overhead_s
    assert op.time_s == pytest.approx(expected)
    assert op.unit == "fp32" and op.bound == "compute"
    assert r.gpu_s == pytest.approx(expected)
    # MFU against the fp32 pipe: flops / (step * 67e12)
    assert r.mfu == pytest.approx(flops / (r.step_s * 67e12))


def test_bf16_matmul_on_tensor_cores_and_tf32_switch() -> None:
    """The same mm in bf16: 137.4 GFLOP at 989.4e12 * tensor_efficiency. Turning TF32 on for matmuls
    (a user device) moves the fp32 mm to 494.7e12 * tensor_efficiency."""
    a, b, out = (_t(4096, 4096, dtype="bfloat16") for _ in range(3))
    op = _one(_time(_trace(OpEvent(0, "aten.mm.default", "fc", "forward", (a, b), {}, (out,)))))
    assert op.unit == "bf16"
    assert op.time_s == pytest.approx(2 * 4096**3 / (989.4e12 * C.tensor_efficiency) + C.kernel_overhead_s)
    tf32 = replace(H200, matmul_tf32=True)
    a, b, out = _t(4096, 4096), _t(4096, 4096), _t(4096, 4096)
    op = _one(_time(_trace(OpEvent(0, "aten.mm.default", "fc", "forward", (a, b), {}, (out,))), gpu=tf32))
    assert op.unit == "tf32"
    assert op.time_s == pytest.approx(2 * 4096**3 / (494.7e12 * C.tensor_efficiency) + C.kernel_overhead_s)


def test_misaligned_matmul() -> None:
    """A vocabulary of 50,257 in bf16 (100,514 B rows, not a multiple of 16): misaligned_efficiency."""
    x, w, out = (
        _t(8192, 768, dtype="bfloat16"),
        _t(768, 50257, dtype="bfloat16"),
        _t(8192, 50257, dtype="bfloat16"),
    )
    op = _one(_time(_trace(OpEvent(0, "aten.mm.default", "lm_head", "forward", (x, w), {}, (out,)))))
    flops = 2 * 8192 * 768 * 50257
    assert op.time_s == pytest.approx(flops / (989.4e12 * C.misaligned_efficiency) + C.kernel_overhead_s)


def test_elementwise_is_memory_bound() -> None:
    """add of two [64M] fp32 tensors: reads 2 x 256 MiB, writes 256 MiB = 805,306,368 B at
    4.8e12 * memory_efficiency; 67,108,864 FLOPs are negligible."""
    n = 64 * 2**20
    x, y, out = _t(n), _t(n), _t(n)
    op = _one(
        _time(_trace(OpEvent(0, "aten.add.Tensor", "m", "forward", (x, y), {}, (out,), ("pointwise",))))
    )
    assert op.bytes == 3 * n * 4
    assert op.time_s == pytest.approx(3 * n * 4 / (4.8e12 * C.memory_efficiency) + C.kernel_overhead_s)
    assert op.bound == "memory"


def test_expanded_input_reads_its_storage() -> None:
    """A bias broadcast to [1024, 1024] reads its 1,024 elements, not a million."""
    x, out = _t(1024, 1024), _t(1024, 1024)
    bias = TensorMeta((1024, 1024), "float32", next(_storage), 1024 * 1024 * 4, 1024 * 4)
    op = _one(
        _time(_trace(OpEvent(0, "aten.add.Tensor", "m", "forward", (x, bias), {}, (out,), ("pointwise",))))
    )
    assert op.bytes == (2 * 1024 * 1024 + 1024) * 4


def test_views_launch_nothing_and_the_host_can_bound() -> None:
    """A view shares its input's storage: no kernel. 1,000 tiny adds: GPU 1,000 x (overhead + ~0) vs host
    1,000 x host_op_s + the module call: host-bound (launch) when host_op_s > kernel time."""
    x = _t(4, 4)
    v = TensorMeta((16,), "float32", x.storage, 64, 64)
    r = _time(_trace(OpEvent(0, "aten.view.default", "m", "forward", (x, (16,)), {}, (v,))))
    assert r.kernels == 0 and r.gpu_s == 0
    assert r.host_s == pytest.approx(C.host_view_s + C.host_module_s)
    events = tuple(
        OpEvent(i, "aten.add.Tensor", "m", "forward", (_t(4), _t(4)), {}, (_t(4),), ("pointwise",))
        for i in range(1000)
    )
    r = _time(_trace(*events))
    assert r.kernels == 1000
    assert r.host_s == pytest.approx(1000 * C.host_op_s + C.host_module_s)
    assert r.step_s == max(r.gpu_s, r.host_s)
    assert r.bound == ("launch" if r.host_s > r.gpu_s else r.bound)


def test_dropout_is_one_kernel_with_a_byte_mask() -> None:
    """Meta's dropout (bernoulli_ into a mask, div_ by 1-p, mul) is CUDA's one native_dropout kernel:
    the mul reads x (4 B/elem) and the mask at 1 B/elem and writes y (4 B/elem): 9 B per element."""
    n = 1 << 20
    x = _t(n)
    mask = _t(n)
    y = _t(n)
    events = (
        OpEvent(0, "aten.empty_like.default", "drop", "forward", (x,), {}, (mask,)),
        OpEvent(1, "aten.bernoulli_.float", "drop", "forward", (mask, 0.9), {}, (mask,)),
        OpEvent(2, "aten.div_.Scalar", "drop", "forward", (mask, 0.9), {}, (mask,), ("pointwise",)),
        OpEvent(3, "aten.mul.Tensor", "drop", "forward", (x, mask), {}, (y,), ("pointwise",)),
    )
    r = _time(_trace(*events))
    op = _one(r)
    assert r.kernels == 1 and op.bytes == 9 * n


def _params(*shapes: tuple[int, ...], dtype: str = "float32") -> list[ParamInfo]:
    return [ParamInfo(f"p{i}", s, dtype, True) for i, s in enumerate(shapes)]


@pytest.mark.parametrize(
    "optimizer, passes",
    [
        (OptimizerSpec("adam"), 18),  # lerp 3, mul 2, addcmul 3, sqrt 2, div 2, add 2, addcdiv 4
        (OptimizerSpec("adamw"), 20),  # + the weight-decay mul 2
        (OptimizerSpec("adam", {"fused": True}), 7),  # read p, g, m, v; write p, m, v
        (OptimizerSpec("sgd-momentum"), 8),  # mul 2, add 3, add 3
        (OptimizerSpec("sgd"), 3),  # add 3
    ],
)
def test_optimizer_bytes(optimizer: OptimizerSpec, passes: int) -> None:
    """The optimizer step's bytes: passes x 4 B x 10M parameters (two tensors, fp32)."""
    x, w, out = _t(8, 8), _t(8, 8), _t(8, 8)
    trace = _trace(OpEvent(0, "aten.mm.default", "fc", "forward", (x, w), {}, (out,)), train=True)
    params = _params((1000, 5000), (5000, 1000))
    r = _time(trace, optimizer=optimizer, params=params)
    rows = [o for o in r.ops if o.module == OPTIMIZER_ROW]
    assert sum(o.bytes for o in rows) == passes * 4 * 10_000_000
    memory = passes * 4 * 10_000_000 / (4.8e12 * C.memory_efficiency)
    assert r.optimizer_s == pytest.approx(memory + sum(o.kernels for o in rows) * C.kernel_overhead_s)
    # bf16 weights (pure bf16): every state tensor is bf16, half the bytes
    r16 = _time(
        trace,
        optimizer=optimizer,
        params=_params((1000, 5000), (5000, 1000), dtype="bfloat16"),
        precision="bf16",
    )
    assert sum(o.bytes for o in r16.ops if o.module == OPTIMIZER_ROW) == passes * 2 * 10_000_000


def test_measured_step_and_json_round_trip() -> None:
    a, b, out = _t(2048, 2048), _t(2048, 2048), _t(2048, 2048)
    trace = _trace(OpEvent(0, "aten.mm.default", "fc", "forward", (a, b), {}, (out,)))
    r = _time(trace, measured_step=0.01)
    m = r.measured
    assert m is not None
    assert m.mfu == pytest.approx(2 * 2048**3 / (0.01 * 67e12))  # achieved: flops / (measured x fp32 peak)
    assert m.ratio == pytest.approx(r.step_s / 0.01)
    d = json.loads(json.dumps(r.to_dict()))
    assert TimeResult.from_dict(d) == r
    assert d["constants"] == C.to_dict()
    assert "measured step 10 ms" in render_time(r)
    assert "achieved MFU" in render_measured(r)


def test_constants_are_the_documented_ones() -> None:
    """docs/time.md states these values: a change here must change the docs' table too."""
    assert TimeConstants().to_dict() == {
        "tensor_efficiency": 0.61,
        "fp32_efficiency": 0.73,
        "memory_efficiency": 0.87,
        "conv_efficiency": 0.29,
        "attention_efficiency": 0.38,
        "misaligned_efficiency": 0.08,
        "norm_memory_efficiency": 0.16,
        "mixed_batch_norm_efficiency": 0.05,
        "dropout_rng_flops": 0.0,
        "kernel_overhead_s": 4.8e-6,
        "host_op_s": 13.8e-6,
        "host_view_s": 12.3e-6,
        "host_module_s": 52e-6,
    }


def test_renderers() -> None:
    x, w, out = (
        _t(4096, 4096, dtype="bfloat16"),
        _t(4096, 4096, dtype="bfloat16"),
        _t(4096, 4096, dtype="bfloat16"),
    )
    y = _t(4096, 4096, dtype="bfloat16")
    trace = _trace(
        OpEvent(0, "aten.mm.default", "fc", "forward", (x, w), {}, (out,)),
        OpEvent(1, "aten.relu.default", "act", "forward", (out,), {}, (y,), ("pointwise",)),
    )
    h200 = _time(trace, precision="bf16")
    a100 = _time(trace, precision="bf16", gpu="A100-80GB")
    text = render_time(h200)
    assert "Step time on H200" in text and "fc" in text and "compute" in text and "memory" in text
    side = render_compare([h200, a100])
    assert "H200" in side and "A100-80GB" in side and "speed vs first" in side
    assert a100.step_s > h200.step_s  # 312 vs 989 TFLOP/s, 2.0 vs 4.8 TB/s
    root = ET.fromstring(roofline_svg(h200))
    assert root.tag.endswith("svg") and len(root.findall(".//{http://www.w3.org/2000/svg}circle")) >= 2


def test_roofline_files(tmp_path) -> None:
    x, w, out = _t(512, 512), _t(512, 512), _t(512, 512)
    r = _time(_trace(OpEvent(0, "aten.mm.default", "fc", "forward", (x, w), {}, (out,))))
    assert write_roofline(r, tmp_path / "r.svg").read_text().startswith("<svg")
    pytest.importorskip("matplotlib")
    assert (write_roofline(r, tmp_path / "r.png", by="ops").read_bytes()[:4]) == b"\x89PNG"
    with pytest.raises(SpecError, match=r"\.svg or \.png"):
        write_roofline(r, tmp_path / "r.gif")


# ---- accuracy over the measured H200 steps ---------------------------------------------------------

MEASURED_H200_STEP_S = {
    # step_s (median of 5 synchronized steps) from gpu-truth/h200.json: one NVIDIA H200 (141 GB),
    # PyTorch 2.11.0+cu130, CUDA 13.0, cuDNN 9.19, transformers 5.17.0, measured 2026-12-04 with
    # gpu-truth/measure.py. The cases are tests/gpu_cases.py (a copy of gpu-truth/cases.py).
    "convnet-b64-infer-fp32": 0.00357,
    "convnet-b64-train-fp32-adam": 0.01494,
    "convnet-b64-train-fp32-sgd": 0.01433,
    "convnet-b64-train-bf16mixed-adam": 0.0146,
    "encoder-b32s512-infer-fp32": 0.06781,
    "encoder-b32s512-train-fp32-adam": 0.23955,
    "encoder-b32s512-train-bf16mixed-adam": 0.04416,
    "encoder-nodrop-b32s512-train-bf16mixed-adam": 0.04104,
    "lstm-b64s256-train-fp32-adam": 0.02556,
    "lstm-b64s256-infer-fp32": 0.00974,
    "mlp-b4096-train-fp32-adamw": 0.05027,
    "mlp-b4096-train-fp32-adam-fused": 0.04859,
    "gpt2-b8s1024-infer-fp32": 0.05715,
    "gpt2-nocache-b8s1024-infer-fp32": 0.05652,
    "gpt2-b8s1024-train-fp32-adam": 0.17899,
    "gpt2-b8s1024-train-bf16mixed-adam": 0.06408,
    "gpt2-b8s1024-train-fp16mixed-adam": 0.06683,
    "gpt2-b8s1024-train-bf16-adam": 0.05422,
    "gpt2-b8s1024-train-bf16mixed-adam-ckpt": 0.08184,
    "gpt2-nodrop-b8s1024-train-fp32-adam": 0.17446,
    "bert-b16s512-train-fp32-adamw": 0.148,
    "bert-b16s512-train-bf16mixed-adamw": 0.04468,
    "bert-b16s512-padmask-train-bf16mixed-adamw": 0.04153,
    "vit-b64-train-bf16mixed-adamw": 0.03883,
    "vit-b64-infer-fp32": 0.05833,
    "llama-1b-b4s2048-train-bf16mixed-adamw": 0.1938,
    "llama-1b-b4s2048-train-bf16mixed-adamw-ckpt": 0.2374,
    "llama-1b-b4s2048-train-bf16-adam-fused": 0.15563,
    "llama-1b-b8s2048-infer-bf16": 0.09443,
    "llama-1b-nocache-b8s2048-infer-bf16": 0.09343,
    "t5-small-b16s512-train-fp32-adamw": 0.05878,
    "t5-small-b16s512-train-bf16mixed-adamw": 0.0635,
}

MEASURED_AFTER_FIT_H200_STEP_S = {
    # Cases constructed after the constants were fitted (tests/gpu_cases.py EXTRA_CASES), measured once
    # on an H200 (141 GB) lent to this project, 2026-12-04, PyTorch 2.11.0+cu130, cuDNN 9.19,
    # transformers 5.17.0: two warm-up steps, then the median of 5 synchronized steps, the step as in
    # gpu-truth/measure.py. Predictions were written down before the measurement (docs/time.md).
    "llama3b-b1s4096-train-bf16mixed-adamw": 0.30447,
    "gpt2-b1s128-infer-fp32": 0.01133,
    "convnet-b256-train-bf16mixed-adam": 0.046,
    "gpt2medium-b4s1024-train-bf16mixed-adamw": 0.09272,
    "encoder1536-b16s1024-infer-fp16mixed": 0.02101,
    "vit-b128-infer-bf16mixed": 0.01584,
    "bert-b32s128-infer-fp32": 0.02367,
    "llama1b-b1s512-infer-bf16": 0.02932,
    "mlp-b8192-train-bf16-sgdmomentum": 0.00684,
    "lstm-b16s512-train-bf16mixed-adamw": 0.051,
}

_PREDICTED: dict[str, float] = {}


def predict(name: str) -> float:
    """The model's step time for a measured case, traced on meta at its real size."""
    if name in _PREDICTED:
        return _PREDICTED[name]
    import gpu_cases as G

    import netcensus
    from netcensus.analyses.memory import param_infos

    case = G.CASES_BY_NAME[name]
    if (why := G.needs_transformers(case)) is not None:
        pytest.skip(why)
    built = G.build(case)
    kwargs = built.profile_kwargs()
    if built.optimizer is not None and built.optimizer.kwargs.get("fused"):
        # the memory analysis refuses Adam(fused=True) on meta; its state is the same as foreach Adam's,
        # and the time model takes the fused recipe from the spec below
        kwargs["optimizer"] = OptimizerSpec(built.optimizer.name)
    try:
        p = netcensus.profile(built.model, **kwargs)
    except TraceError as exc:  # a known gap of the meta tracer (NOT_ON_META): counted once it is closed
        pytest.skip(f"{NOT_ON_META.get(name, 'cannot be traced on meta')}: {exc.what[:120]}")
    r = estimate_time(
        p.trace,
        p.compute,
        "H200",
        precision=built.precision,
        optimizer=built.optimizer,
        params=param_infos(built.model),
    )
    _PREDICTED[name] = r.step_s
    return r.step_s


NOT_ON_META = {  # the tracer gaps that made these cases untraceable on meta (a skip names them)
    "gpt2-nocache-b8s1024-infer-fp32": "transformers' use_cache=False path calls .item() on meta",
    "gpt2-b8s1024-train-bf16mixed-adam-ckpt": "gradient checkpointing cannot be traced on meta yet",
    "bert-b16s512-padmask-train-bf16mixed-adamw": "BERT with a padding attention_mask calls .item() on meta",
    "llama-1b-b4s2048-train-bf16mixed-adamw-ckpt": "gradient checkpointing cannot be traced on meta yet",
    "llama-1b-nocache-b8s2048-infer-bf16": "transformers' use_cache=False path calls .item() on meta",
}


MEASURED = {**MEASURED_H200_STEP_S, **MEASURED_AFTER_FIT_H200_STEP_S}


@pytest.mark.parametrize("name", list(MEASURED))
def test_case_within_1_5x(name: str) -> None:
    """Every measured case the tracer can follow on meta is predicted within 1.5x either way: the
    shared table (the fit) and the cases measured after the fit."""
    ratio = predict(name) / MEASURED[name]
    assert 1 / 1.5 <= ratio <= 1.5, f"{name}: predicted/measured = {ratio:.2f}"


@pytest.mark.parametrize("table", [MEASURED_H200_STEP_S, MEASURED_AFTER_FIT_H200_STEP_S],
                         ids=["shared-table", "after-fit"])
def test_median_error_at_most_20_percent(table: dict[str, float]) -> None:
    errors = []
    for name in table:
        try:
            errors.append(abs(predict(name) / table[name] - 1))
        except pytest.skip.Exception:
            continue
    if len(errors) < 5:
        pytest.skip("transformers is not installed: too few cases")
    assert statistics.median(errors) <= 0.20, sorted(errors)
