"""Fused recurrent kernels: oneDNN (``mkldnn_rnn_layer``), cuDNN (``_cudnn_rnn``) and the fused LSTM/GRU
cells.

On meta tensors (and on CPU for GRU/RNN) ``nn.LSTM``/``nn.GRU``/``nn.RNN`` decompose into ``addmm``
and pointwise ops, counted by those ops' formulas. The fused kernels below count the same work:

* MACs: every weight matrix (input-hidden, hidden-hidden, projection) is applied once per token
  (time step x batch element), so ``MACs = tokens * sum(numel of the weight matrices)``, all core.
* pointwise FLOPs per token and hidden unit, by the pointwise costs of pointwise.py (sigmoid 4,
  tanh 1, add/mul 1): LSTM 22 (gate sum 4, three sigmoids 12, tanh 1, cell update 3, tanh 1,
  output 1), GRU 16 (gate sums 2, two sigmoids 8, r*h 1, add 1, tanh 1, blend 3), RNN 2 (add and
  tanh or relu); each bias vector adds one FLOP per gate element: LSTM +8, GRU +6, RNN +2.
* backward: the input/hidden gradients and the weight gradients each cost the forward's MACs; the
  pointwise part is counted as twice the forward's (a stated approximation).
"""

from __future__ import annotations

from .call import Call
from .cost import FormulaError, OpCost, n, prod
from .registry import aten_ops, register

#: cuDNN/oneDNN mode -> (name, gates, pointwise FLOPs per hidden unit without biases, with biases)
MODES = {0: ("RNN_RELU", 1, 2, 4), 1: ("RNN_TANH", 1, 2, 4), 2: ("LSTM", 4, 22, 30), 3: ("GRU", 3, 16, 22)}


def _mode(call: Call) -> tuple[str, int, int, int]:
    mode = int(call.arg("mode"))
    if mode not in MODES:
        raise FormulaError(f"{call.label}: unknown RNN mode {mode}")
    return MODES[mode]


def _tokens(call: Call) -> int:
    sizes = call.arg("batch_sizes", ()) or ()
    if sizes:
        return int(sum(sizes))
    x = call.tensor("input").shape
    return prod(x[:2]) if len(x) >= 3 else x[0] if x else 1


def _rnn_cost(call: Call, matrices: list[tuple[int, ...]], units: int, biases: bool, phase_factor: int,
              weight_grads: bool = False) -> OpCost:
    name, _gates, per, per_bias = _mode(call)
    tokens = _tokens(call)
    params = sum(prod(m) for m in matrices)
    macs_one = tokens * params
    macs = macs_one * (phase_factor + (1 if weight_grads else 0))
    per_unit = per_bias if biases else per
    pointwise = per_unit * tokens * units * phase_factor
    flops = 2 * macs + pointwise
    factor = "" if phase_factor == 1 and not weight_grads else f" x {phase_factor + int(weight_grads)}"
    return OpCost(macs, flops, macs,
                  f"{call.label} ({name}): MACs = tokens*sum(numel(W)) = {n(tokens)}*{n(params)}{factor} = "
                  f"{n(macs)}; pointwise {per_unit}/token/unit x {n(tokens)}*{units}"
                  + (f" x {phase_factor}" if phase_factor != 1 else "") + f" = {n(pointwise)}; "
                  f"FLOPs = 2*MACs + pointwise = {n(flops)}")


@register(*aten_ops("mkldnn_rnn_layer"), optional=True)
def mkldnn_rnn_layer(call: Call) -> OpCost:
    """oneDNN RNN, one layer and direction: MACs = tokens * (numel(W_ih) + numel(W_hh))."""
    w = [call.shape("weight0"), call.shape("weight1")]
    return _rnn_cost(call, w, int(call.arg("hidden_size")), bool(call.arg("has_biases")), 1)


@register(*aten_ops("mkldnn_rnn_layer_backward"), optional=True)
def mkldnn_rnn_layer_backward(call: Call) -> OpCost:
    """oneDNN RNN backward, one layer and direction: twice the forward MACs (data and weight
    gradients), twice its pointwise FLOPs."""
    w = [call.shape("weight1"), call.shape("weight2")]
    return _rnn_cost(call, w, int(call.arg("hidden_size")), bool(call.arg("has_biases")), 1,
                     weight_grads=True)


def _cudnn_weights(call: Call) -> tuple[list[tuple[int, ...]], bool, int]:
    weights = call.arg("weight")
    stride = int(call.arg("weight_stride0"))
    matrices = [w.shape for w in weights if hasattr(w, "shape") and len(w.shape) == 2]
    directions = 2 if call.arg("bidirectional") else 1
    units = int(call.arg("hidden_size")) * int(call.arg("num_layers")) * directions
    return matrices, stride in (4, 5), units


@register(*aten_ops("_cudnn_rnn", "miopen_rnn"), optional=True)
def cudnn_rnn(call: Call) -> OpCost:
    """cuDNN RNN, all layers and directions: MACs = tokens * sum(numel of every weight matrix)."""
    matrices, biases, units = _cudnn_weights(call)
    return _rnn_cost(call, matrices, units, biases, 1)


@register(*aten_ops("_cudnn_rnn_backward", "miopen_rnn_backward"), optional=True)
def cudnn_rnn_backward(call: Call) -> OpCost:
    """cuDNN RNN backward: the forward's MACs for the data gradients, again for the weight gradients
    when ``output_mask[3]``; twice the forward's pointwise FLOPs."""
    matrices, biases, units = _cudnn_weights(call)
    mask = call.arg("output_mask", (True, True, True, True))
    return _rnn_cost(call, matrices, units, biases, 1, weight_grads=bool(mask[3]))


def _cell(call: Call, per: int, per_bias: int, gates: int, factor: int, name: str) -> OpCost:
    x = call.first_tensor().shape
    units = prod(x) // gates if "backward" not in call.event.op else call.out().numel // gates
    biases = sum(call.optional_tensor(b) is not None for b in ("input_bias", "hidden_bias"))
    if "backward" in call.event.op and call.arg("has_bias", False):
        biases = 2
    per_unit = (per + biases * per_bias) * factor
    flops = per_unit * units
    return OpCost(0, flops, 0, f"{call.label} ({name}): {per_unit} FLOP/unit x {n(units)} units = {n(flops)}")


@register(*aten_ops("_thnn_fused_lstm_cell"), optional=True)
def fused_lstm_cell(call: Call) -> OpCost:
    """Fused LSTM cell (pointwise part): 22 FLOPs per hidden unit + 4 per bias vector."""
    return _cell(call, 22, 4, 4, 1, "LSTM")


@register(*aten_ops("_thnn_fused_gru_cell"), optional=True)
def fused_gru_cell(call: Call) -> OpCost:
    """Fused GRU cell (pointwise part): 16 FLOPs per hidden unit + 3 per bias vector."""
    return _cell(call, 16, 3, 3, 1, "GRU")


@register(*aten_ops("_thnn_fused_lstm_cell_backward_impl", "_thnn_fused_lstm_cell_backward"), optional=True)
def fused_lstm_cell_backward(call: Call) -> OpCost:
    """Fused LSTM cell backward: twice the forward's pointwise FLOPs."""
    return _cell(call, 22, 4, 4, 2, "LSTM backward")


@register(*aten_ops("_thnn_fused_gru_cell_backward"), optional=True)
def fused_gru_cell_backward(call: Call) -> OpCost:
    """Fused GRU cell backward: twice the forward's pointwise FLOPs."""
    return _cell(call, 16, 3, 3, 2, "GRU backward")
