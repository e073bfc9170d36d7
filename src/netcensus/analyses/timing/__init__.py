"""Step time on a named GPU: a roofline model of the traced kernels, plus the host that issues them.

``estimate_time(trace, compute, gpu, precision=..., optimizer=..., params=...)`` is a pure function of
the trace events, the compute census, the device's figures and the typed options. The model
(docs/time.md has the full account and the accuracy table):

* Every aten op that launches a kernel on CUDA is one kernel with ``F`` FLOPs (the compute census's
  figure for that call: causal-aware, so fused attention skips masked blocks) and ``B`` bytes: every
  input read once at its dtype (an expanded view reads its storage, not its expanded size) and every
  output written once. Its time is::

      t = max(F / (peak[unit] * eff[unit]), B / (bandwidth * memory_efficiency)) + kernel_overhead_s

  ``unit`` is where the op's products run: bf16/fp16/fp8 tensor cores for those dtypes; for float32,
  the FP32 pipe for matmuls (PyTorch's default: TF32 off for cuBLAS) and TF32 tensor cores for cuDNN
  convolutions and RNNs (TF32 on for cuDNN by default); the FP32 pipe for everything elementwise.
* Views, ``detach`` and allocations launch no kernel. Fused kernels count once: a
  ``scaled_dot_product_attention`` or ``flex_attention`` call (a trace region) is one kernel per phase
  (forward reads q, k, v and the mask and writes the output; backward moves twice that); dropout
  (``bernoulli_``, ``div_``, ``mul`` on meta) is CUDA's one ``native_dropout`` kernel with a one-byte
  mask; the ops of an
  ``nn.LSTM``/``GRU``/``RNN`` call are cuDNN's RNN: its matmuls are kernels, its gate arithmetic is
  fused into them.
* The optimizer step (not in the trace) is counted from the parameter list: a foreach optimizer reads
  and writes every state tensor once per ``torch._foreach_*`` op (Adam: 18 tensor passes, AdamW 20,
  fused Adam 7, SGD with momentum 8), in launches of at most 320 x 65,536 elements.
* The host issues the ops: ``host_op_s`` per op that launches a kernel and ``host_view_s`` per op
  that does not. The GPU runs ahead of a fast host and waits for a slow one, so the step takes the
  larger of the two totals.

The constants (:class:`~netcensus.results.timing.TimeConstants`) were fitted once on the 32 measured
H200 steps (docs/time.md); nothing in them is per model.
"""

from .estimate import estimate_time
from .kernels import FILLS, NO_KERNEL, RNN_TYPES
from .model import DEFAULT_CONSTANTS
from .optimizer import OPTIMIZER_ROW

__all__ = ["DEFAULT_CONSTANTS", "FILLS", "NO_KERNEL", "OPTIMIZER_ROW", "RNN_TYPES", "estimate_time"]
