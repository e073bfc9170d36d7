"""Closed-form parameter counts of standard ``torch.nn`` layers, with the arithmetic shown.

Contract of :func:`param_formula`:

* It counts the module's OWN parameters only (``named_parameters(recurse=False)``), so the counts of
  all modules of a model add up to the model's total without double counting parents and children
  (a tied weight is still seen by each module that owns it; de-duplicating by storage is the caller's
  job).
* The returned ``value`` always equals ``sum(p.numel())`` over those parameters, and the names in
  ``terms`` are exactly the parameter names the formula assumes. When the module is a known type
  but its parameters are not what the formula expects (a subclass adding a ``nn.Parameter``,
  ``weight_norm`` renaming ``weight``, an uninitialised lazy parameter), the answer is ``None``
  rather than a wrong number.
* A known type whose configuration leaves it without parameters (``BatchNorm2d(affine=False)``)
  gets a zero formula with a note, so the report can say *why* there are none. Types without a
  formula (activations, containers, user modules) get ``None``.

Conventions: ``symbolic`` names follow the constructor (``C_in``, ``C_out``, ``in``, ``out``,
``k_h``...); ``numbers`` is the same expression with the values bound, evaluated left to right with
``*`` and exact ``/`` (every division in it is exact); the bias is always a separate visible term
(``in*out + out``), and ``terms`` breaks the total into parameter names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from netcensus.formulas._util import has_lazy_params, own_parameters, prod
from netcensus.formulas.base import Formula

__all__ = ["param_formula"]


@dataclass
class _Build:
    """A formula under construction plus the exact parameter names it accounts for."""

    symbolic: str
    numbers: str
    short: str
    terms: list[tuple[str, int]]
    notes: list[str] = field(default_factory=list)
    names: set[str] | None = None
    """Expected own parameter names; ``None`` means: the names in ``terms``."""

    @property
    def value(self) -> int:
        return sum(n for _, n in self.terms)


def _zero(note: str) -> _Build:
    return _Build("0", "0", "0", [], [note], set())


def _conv(m: nn.modules.conv._ConvNd) -> _Build:
    nd = len(m.kernel_size)
    ks = [int(k) for k in m.kernel_size]
    kn = {1: ["k"], 2: ["k_h", "k_w"], 3: ["k_d", "k_h", "k_w"]}.get(nd, [f"k_{i}" for i in range(nd)])
    c_in, c_out, g = int(m.in_channels), int(m.out_channels), int(m.groups)
    k_sym, k_num = "*".join(kn), "*".join(str(k) for k in ks)
    bias = m.bias is not None
    if m.transposed:
        # weight: [C_in, C_out/groups, *k]
        weight = prod(ks) * c_in * c_out // g
        sym_w, num_w = f"{k_sym}*C_in*C_out/groups", f"{k_num}*{c_in}*{c_out}/{g}"
        short_w = f"{k_num}*{c_in}*{c_out}" + (f"/{g}" if g != 1 else "")
        sym = sym_w + (" + C_out" if bias else "")
        num = num_w + (f" + {c_out}" if bias else "")
        short = short_w + (f" + {c_out}" if bias else "")
    else:
        # weight: [C_out, C_in/groups, *k]
        weight = prod(ks) * c_in // g * c_out
        short_k = f"{k_num}*{c_in}" + (f"/{g}" if g != 1 else "")
        if bias:
            sym = f"({k_sym}*C_in/groups + 1)*C_out"
            num = f"({k_num}*{c_in}/{g} + 1)*{c_out}"
            short = f"({short_k} + 1)*{c_out}"
        else:
            sym = f"{k_sym}*C_in/groups*C_out"
            num = f"{k_num}*{c_in}/{g}*{c_out}"
            short = f"{short_k}*{c_out}"
    terms = [("weight", weight)] + ([("bias", c_out)] if bias else [])
    notes = [] if bias else ["bias=False: no bias term"]
    if g != 1:
        notes.append(f"groups={g}: each output channel sees C_in/groups = {c_in // g} input channels")
    return _Build(sym, num, short, terms, notes)


def _linear(m: nn.Linear) -> _Build:
    i, o = int(m.in_features), int(m.out_features)
    if m.bias is not None:
        return _Build("in*out + out", f"{i}*{o} + {o}", f"{i}*{o} + {o}", [("weight", i * o), ("bias", o)])
    return _Build("in*out", f"{i}*{o}", f"{i}*{o}", [("weight", i * o)], ["bias=False: no bias term"])


def _bilinear(m: nn.Bilinear) -> _Build:
    a, b, o = int(m.in1_features), int(m.in2_features), int(m.out_features)
    w = ("weight", a * b * o)
    if m.bias is not None:
        num = f"{a}*{b}*{o} + {o}"
        return _Build("in1*in2*out + out", num, num, [w, ("bias", o)])
    num = f"{a}*{b}*{o}"
    return _Build("in1*in2*out", num, num, [w], ["bias=False: no bias term"])


def _affine(c: int, name: str, weight: bool, bias: bool, off_note: str) -> _Build:
    """weight and/or bias of ``c`` elements each, named ``name`` in the formula."""
    if not weight and not bias:
        return _zero(off_note)
    if weight and bias:
        return _Build(f"{name} + {name}", f"{c} + {c}", f"{c} + {c}", [("weight", c), ("bias", c)])
    which = "weight" if weight else "bias"
    return _Build(name, str(c), str(c), [(which, c)])


def _batchnorm(m: nn.modules.batchnorm._NormBase) -> _Build:
    c = int(m.num_features)
    b = _affine(c, "C", m.affine, m.affine, "affine=False: no learnable weight or bias")
    if m.affine:
        b.notes.append("weight (gamma) and bias (beta), C each")
    if m.track_running_stats:
        b.notes.append("running_mean/running_var are buffers, not parameters")
    return b


def _normalized_shape(shape: tuple[int, ...]) -> tuple[str, str]:
    if len(shape) == 1:
        return "D", str(shape[0])
    return "*".join(f"D_{i + 1}" for i in range(len(shape))), "*".join(str(d) for d in shape)


def _layernorm(m: nn.LayerNorm) -> _Build:
    shape = tuple(int(d) for d in m.normalized_shape)
    d = prod(shape)
    has_w = m.weight is not None
    has_b = m.bias is not None
    if not has_w and not has_b:
        return _zero("elementwise_affine=False: no learnable weight or bias")
    sym1, num1 = _normalized_shape(shape)
    paren = len(shape) > 1
    sym_t = f"({sym1})" if paren else sym1
    num_t = f"({num1})" if paren else num1
    terms: list[tuple[str, int]] = []
    parts_s, parts_n = [], []
    if has_w:
        terms.append(("weight", d))
        parts_s.append(sym_t)
        parts_n.append(num_t)
    if has_b:
        terms.append(("bias", d))
        parts_s.append(sym_t)
        parts_n.append(num_t)
    notes = [] if has_b else ["bias=False: weight only"]
    num = " + ".join(parts_n)
    return _Build(" + ".join(parts_s), num, num, terms, notes)


def _groupnorm(m: nn.GroupNorm) -> _Build:
    c = int(m.num_channels)
    return _affine(c, "C", m.affine, m.affine, "affine=False: no learnable weight or bias")


def _rmsnorm(m: nn.RMSNorm) -> _Build:
    shape = tuple(int(d) for d in m.normalized_shape)
    if m.weight is None:
        return _zero("elementwise_affine=False: no learnable weight")
    sym, num = _normalized_shape(shape)
    return _Build(sym, num, num, [("weight", prod(shape))], ["RMSNorm has a weight (scale) and no bias"])


def _embedding(m: nn.Embedding | nn.EmbeddingBag) -> _Build:
    n, d = int(m.num_embeddings), int(m.embedding_dim)
    num = f"{n}*{d}"
    b = _Build("num_embeddings*embedding_dim", num, num, [("weight", n * d)])
    if m.padding_idx is not None:
        b.notes.append(f"padding_idx={m.padding_idx}: that row is still a parameter (it gets no gradient)")
    return b


def _mha(m: nn.MultiheadAttention) -> _Build:
    e = int(m.embed_dim)
    kd, vd = int(m.kdim), int(m.vdim)
    terms: list[tuple[str, int]] = []
    sym: list[str] = []
    num: list[str] = []
    if m._qkv_same_embed_dim:
        terms.append(("in_proj_weight", 3 * e * e))
        sym.append("3*E*E")
        num.append(f"3*{e}*{e}")
    else:
        terms += [("q_proj_weight", e * e), ("k_proj_weight", e * kd), ("v_proj_weight", e * vd)]
        sym.append("E*E + E*kdim + E*vdim")
        num.append(f"{e}*{e} + {e}*{kd} + {e}*{vd}")
    if m.in_proj_bias is not None:
        terms.append(("in_proj_bias", 3 * e))
        sym.append("3*E")
        num.append(f"3*{e}")
    if m.bias_k is not None:
        terms.append(("bias_k", e))
        sym.append("E")
        num.append(str(e))
    if m.bias_v is not None:
        terms.append(("bias_v", e))
        sym.append("E")
        num.append(str(e))
    out_proj = "E*E + E" if m.in_proj_bias is not None else "E*E"
    notes = [f"out_proj ({out_proj}) is a child Linear and is counted there"]
    if m.in_proj_bias is None:
        notes.insert(0, "bias=False: no in_proj_bias")
    if m.bias_k is not None:
        notes.append("add_bias_kv=True: bias_k and bias_v, E each")
    return _Build(" + ".join(sym), " + ".join(num), " + ".join(num), terms, notes)


_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _rnn(m: nn.RNNBase) -> _Build:
    g = _GATES[m.mode]
    i, h, p = int(m.input_size), int(m.hidden_size), int(m.proj_size)
    layers, dirs, bias = int(m.num_layers), 2 if m.bidirectional else 1, bool(m.bias)
    h_out = p if p > 0 else h

    def layer(sym_in: str, num_in: str) -> tuple[str, str]:
        s = [f"{g}*H*{sym_in}", f"{g}*H*{'P' if p else 'H'}"]
        n = [f"{g}*{h}*{num_in}", f"{g}*{h}*{h_out}"]
        if bias:
            s.append(f"2*{g}*H")
            n.append(f"2*{g}*{h}")
        if p:
            s.append("P*H")
            n.append(f"{p}*{h}")
        return " + ".join(s), " + ".join(n)

    def scaled(factor_s: str, factor_n: str, body: tuple[str, str]) -> tuple[str, str]:
        if not factor_s:
            return body
        return f"{factor_s}*({body[0]})", f"{factor_n}*({body[1]})"

    d_s, d_n = ("D", str(dirs)) if dirs == 2 else ("", "")
    s0, n0 = scaled(d_s, d_n, layer("I", str(i)))
    sym, num = [s0], [n0]
    if layers > 1:
        later = layer("D*" + ("P" if p else "H") if dirs == 2 else ("P" if p else "H"),
                      f"{dirs}*{h_out}" if dirs == 2 else str(h_out))
        fs = "D*(L-1)" if dirs == 2 else "(L-1)"
        fn = f"{dirs}*({layers}-1)" if dirs == 2 else f"({layers}-1)"
        s1, n1 = scaled(fs, fn, later)
        sym.append(s1)
        num.append(n1)

    w_ih = dirs * (g * h * i + (layers - 1) * g * h * dirs * h_out)
    w_hh = dirs * layers * g * h * h_out
    terms = [("weight_ih", w_ih), ("weight_hh", w_hh)]
    if bias:
        terms += [("bias_ih", dirs * layers * g * h), ("bias_hh", dirs * layers * g * h)]
    if p:
        terms.append(("weight_hr", dirs * layers * p * h))

    names: set[str] = set()
    for k in range(layers):
        for suffix in ("", "_reverse")[:dirs]:
            kinds = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else []) + (
                ["weight_hr"] if p else [])
            names.update(f"{kind}_l{k}{suffix}" for kind in kinds)

    gate_note = {4: "LSTM: 4 gates (i, f, g, o)", 3: "GRU: 3 gates (r, z, n)", 1: "RNN: 1 gate"}[g]
    notes = [gate_note]
    if bias:
        notes.append("two bias vectors per layer and direction (bias_ih and bias_hh)")
    else:
        notes.append("bias=False: no bias terms")
    if p:
        notes.append(f"proj_size={p}: hidden state projected to P by weight_hr")
    short = " + ".join(str(n) for _, n in terms)
    return _Build(" + ".join(sym), " + ".join(num), short, terms, notes, names)


def _prelu(m: nn.PReLU) -> _Build:
    n = int(m.num_parameters)
    notes = ["num_parameters=1: one slope shared by all channels"] if n == 1 else []
    return _Build("num_parameters", str(n), str(n), [("weight", n)], notes)


_DISPATCH: list[tuple[type[nn.Module], Callable[..., _Build]]] = [
    (nn.modules.conv._ConvNd, _conv),
    (nn.Linear, _linear),
    (nn.Bilinear, _bilinear),
    (nn.modules.batchnorm._NormBase, _batchnorm),  # BatchNorm*, SyncBatchNorm, InstanceNorm*
    (nn.LayerNorm, _layernorm),
    (nn.GroupNorm, _groupnorm),
    (nn.RMSNorm, _rmsnorm),
    (nn.Embedding, _embedding),
    (nn.EmbeddingBag, _embedding),
    (nn.MultiheadAttention, _mha),
    (nn.RNNBase, _rnn),
    (nn.PReLU, _prelu),
]


def param_formula(module: nn.Module) -> Formula | None:
    """The closed-form count of ``module``'s own parameters, or ``None`` (see the module docstring)."""
    builder = next((fn for cls, fn in _DISPATCH if isinstance(module, cls)), None)
    if builder is None or has_lazy_params(module):
        return None
    try:
        b = builder(module)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None  # a subclass that changed the attributes the formula reads
    own = own_parameters(module)
    expected = b.names if b.names is not None else {name for name, _ in b.terms}
    if {name for name, _ in own} != expected or sum(p.numel() for _, p in own) != b.value:
        return None
    return Formula(
        symbolic=b.symbolic,
        numbers=b.numbers,
        value=b.value,
        short=b.short,
        notes=tuple(b.notes),
        terms=tuple(b.terms),
    )
