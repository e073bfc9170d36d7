"""What a CUDA device adds to the storage timeline: allocator rounding, library workspaces, the first
step, and the segments the caching allocator holds (reserved memory).

The rules and their sources are data in :mod:`netcensus.devices.cuda`; this module applies them to a
trace's lifetimes (:mod:`.timeline`). Everything here is used only for ``target="cuda"``: for
``"cpu"`` the analysis keeps exact storage bytes.

* Allocated bytes: every storage is rounded up to the allocator's 512-byte blocks.
* cuBLAS workspace: 32 MiB per thread that runs a matmul, from its first matmul on (the forward's
  thread; in training also autograd's backward thread), kept for the rest of the run: in the steady
  state (the second step on) both exist from the start.
* cuDNN convolution workspace: transient, at each convolution (forward and backward).
* First step: the optimizer state does not exist during the first forward and backward (the first
  ``optimizer.step()`` creates it), and the workspaces appear at their first use.
* Reserved: the allocation sequence of two steps replayed through a model of PyTorch's caching
  allocator (best fit, block splitting and merging, 2 MiB small-pool and 20 MiB / rounded large
  segments, never released): the peak of the segments held.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...devices import cuda
from ...events import OpEvent, TensorMeta, Trace
from .timeline import Life

MATMUL_OPS = frozenset({"mm", "addmm", "bmm", "baddbmm", "addbmm", "addmv", "mv", "addr", "_scaled_mm",
                        "_addmm_activation", "dot", "vdot", "linear", "matmul"})
RNN_TYPES = frozenset({"LSTM", "GRU", "RNN"})
CONV_OPS = frozenset({"convolution", "cudnn_convolution", "_convolution", "convolution_backward",
                      "cudnn_convolution_transpose"})
REDUCE_OPS = frozenset({"sum", "mean", "amax", "amin"})
"""Reductions that run PyTorch's generic CUDA reduction kernel (``gpu_reduce_kernel``)."""
_ACC_BYTES = {"float64": 8, "int64": 8, "int32": 8, "int16": 8, "int8": 8, "uint8": 8, "bool": 8}


def _name(op: str) -> str:
    """``aten.addmm.default`` -> ``addmm``."""
    parts = op.split(".")
    return parts[1] if len(parts) > 2 else parts[-1]


def rounded(lives: Sequence[Life]) -> list[Life]:
    """The lives with their sizes rounded to the allocator's blocks."""
    return [Life(x.storage, cuda.round_block(x.size), x.born, x.died, x.category) for x in lives]


@dataclass(frozen=True)
class Workspaces:
    forward_first: int | None
    """Position (event index + 1) of the first matmul of the forward, or None."""
    backward_first: int | None
    """Position of the first matmul of the backward (training), or None."""
    conv: dict[int, int]
    """Transient cuDNN convolution workspace bytes at a position."""
    reduce: dict[int, int] = field(default_factory=dict)
    """Transient staging buffers of CUDA reduction kernels at a position
    (:func:`netcensus.devices.cuda.reduction_staging`)."""
    arch: cuda.CudaArch = cuda.DEFAULT_ARCH
    """The GPU the sizes are for (the BLAS workspace size, the reductions' launch rule)."""
    blas_config: str | None = None
    """``CUBLAS_WORKSPACE_CONFIG`` as the environment had it when the analysis ran (None: unset)."""

    @property
    def transient(self) -> dict[int, int]:
        """Every transient workspace by position: convolutions' and reductions'."""
        out = dict(self.reduce)
        for pos, nbytes in self.conv.items():
            out[pos] = out.get(pos, 0) + nbytes
        return out

    @property
    def cublas_handles(self) -> int:
        return (self.forward_first is not None) + (self.backward_first is not None)

    @property
    def cublas_workspace(self) -> int:
        """One BLAS handle's workspace on this GPU (and the environment's CUBLAS_WORKSPACE_CONFIG)."""
        return cuda.cublas_workspace(self.arch, self.blas_config)

    @property
    def blas_configured(self) -> bool:
        """Whether the environment's CUBLAS_WORKSPACE_CONFIG sets the workspace (CUDA only)."""
        return not self.arch.rocm and cuda.parse_workspace_config(self.blas_config) is not None

    @property
    def cublas_bytes(self) -> int:
        return self.cublas_handles * self.cublas_workspace


def workspaces(trace: Trace, arch: cuda.CudaArch = cuda.DEFAULT_ARCH) -> Workspaces:
    fwd = bwd = None
    conv: dict[int, int] = {}
    reduce: dict[int, int] = {}
    bs = trace.backward_start if trace.backward_start is not None else len(trace.events)
    rnn = [c for c in trace.calls if c.type in RNN_TYPES and not c.failed]
    rnn_fwd = {i for c in rnn for i in range(c.start, c.end)}
    rnn_paths = tuple(c.path for c in rnn)

    def in_rnn(e: OpEvent) -> bool:  # cuDNN runs these (one _cudnn_rnn call), not cuBLAS
        if e.index < bs:
            return e.index in rnn_fwd
        return any(e.module == p or e.module.startswith(p + ".") for p in rnn_paths)

    for e in trace.events:
        name = _name(e.op)
        if name in MATMUL_OPS and not in_rnn(e):
            if e.index < bs and fwd is None:
                fwd = e.index + 1
            elif e.index >= bs and bwd is None:
                bwd = e.index + 1
        elif name in CONV_OPS:
            largest = max([t.nbytes for t in e.outputs if t is not None] + [t.nbytes for t in e.inputs] + [0])
            conv[e.index + 1] = cuda.conv_workspace(largest)
        elif name in REDUCE_OPS:
            staging = _reduction_staging(e, arch)
            if staging:
                reduce[e.index + 1] = staging
    return Workspaces(fwd, bwd, conv, reduce, arch, os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


def _reduction_staging(e: OpEvent, arch: cuda.CudaArch) -> int:
    if not e.args or not isinstance(e.args[0], TensorMeta):
        return 0
    x = e.args[0]
    dims = e.args[1] if len(e.args) > 1 else e.kwargs.get("dim")
    return reduction_staging_of(tuple(x.shape), x.dtype, dims, arch)


def reduction_staging_of(shape: tuple[int, ...], dtype: str, dims: Any,
                         arch: cuda.CudaArch = cuda.DEFAULT_ARCH) -> int:
    """The staging buffer of a reduction over a contiguous input of ``shape`` and ``dtype`` (a
    netcensus dtype name) along ``dims`` (None or empty: all) on ``arch``: the reduced dimensions
    (size-1 dimensions aside) must be leading (threads map to outputs) or trailing (to the reduced
    dimension); anything else counts nothing. ROCm GPUs: not modelled (0), the launch constants
    (warp size 64) differ and no measurement checks them."""
    if arch.rocm:
        return 0
    rank = len(shape)
    if rank == 0:
        return 0
    if dims is None or dims == [] or dims == ():
        reduced = set(range(rank))
    else:
        try:
            reduced = {int(d) % rank for d in ([dims] if isinstance(dims, int) else dims)}
        except (TypeError, ValueError):
            return 0
    kept = [i for i in range(rank) if shape[i] != 1]
    flags = [i in reduced for i in kept]
    if not any(flags):
        return 0
    ipo = math.prod(shape[i] for i in kept if i in reduced)
    outputs = math.prod(shape[i] for i in kept if i not in reduced)
    first_kept = flags.index(False) if False in flags else len(flags)
    if all(flags[:first_kept]) and not any(flags[first_kept:]):  # leading block
        on_fastest = first_kept == len(flags)
    elif not flags[0] and all(flags[flags.index(True):]):  # trailing block
        on_fastest = True
    else:
        return 0
    return cuda.reduction_staging(outputs, ipo, on_fastest, _ACC_BYTES.get(dtype, 4), arch.sms,
                                  cuda.threads_per_sm(arch))


# ---- the caching allocator -------------------------------------------------------------------------

class CachingAllocator:
    """A model of PyTorch's CUDA caching allocator, for one stream (see the module docstring)."""

    def __init__(self) -> None:
        self.free: dict[bool, list[tuple[int, int]]] = {True: [], False: []}  # small? -> sorted (size, addr)
        self.blocks: dict[int, list] = {}   # addr -> [size, free, segment end, small]
        self.by_end: dict[int, int] = {}    # end addr -> addr
        self.next_base = 0
        self.reserved = 0
        self.peak_reserved = 0
        self.allocated = 0
        self.peak_allocated = 0

    def _add_free(self, addr: int) -> None:
        size, _, _, small = self.blocks[addr]
        self.blocks[addr][1] = True
        bisect.insort(self.free[small], (size, addr))

    def _remove_free(self, addr: int) -> None:
        size, _, _, small = self.blocks[addr]
        lst = self.free[small]
        i = bisect.bisect_left(lst, (size, addr))
        del lst[i]
        self.blocks[addr][1] = False

    def malloc(self, nbytes: int) -> int | None:
        size = cuda.round_block(nbytes)
        if size == 0:
            return None
        small = size <= cuda.SMALL_SIZE
        lst = self.free[small]
        i = bisect.bisect_left(lst, (size, -1))
        if i < len(lst):
            addr = lst[i][1]
            self._remove_free(addr)
        else:
            seg = cuda.segment_size(size)
            addr = self.next_base
            self.next_base += seg + cuda.SMALL_SEGMENT  # a gap: blocks of two segments never merge
            self.blocks[addr] = [seg, False, addr + seg, small]
            self.by_end[addr + seg] = addr
            self.reserved += seg
            self.peak_reserved = max(self.peak_reserved, self.reserved)
        block = self.blocks[addr]
        if block[0] > size and cuda.can_split(block[0], size):
            rest = addr + size
            self.blocks[rest] = [block[0] - size, False, block[2], small]
            self.by_end[rest + block[0] - size] = rest
            block[0] = size
            self.by_end[addr + size] = addr
            self._add_free(rest)
        self.allocated += block[0]
        self.peak_allocated = max(self.peak_allocated, self.allocated)
        return addr

    def release(self, addr: int | None) -> None:
        if addr is None:
            return
        block = self.blocks[addr]
        self.allocated -= block[0]
        nxt = addr + block[0]
        if nxt < block[2] and nxt in self.blocks and self.blocks[nxt][1]:
            self._remove_free(nxt)
            block[0] += self.blocks.pop(nxt)[0]
            self.by_end[addr + block[0]] = addr
        prev = self.by_end.get(addr)
        if prev is not None and prev != addr and prev in self.blocks and self.blocks[prev][1] \
                and self.blocks[prev][2] == block[2] and prev + self.blocks[prev][0] == addr:
            self._remove_free(prev)
            self.blocks[prev][0] += block[0]
            del self.blocks[addr]
            addr = prev
            self.by_end[addr + self.blocks[addr][0]] = addr
        self._add_free(addr)


def replay_reserved(lives: Sequence[Life], n: int, persistent: Sequence[int], step_start: Sequence[int],
                    step_temporaries: Sequence[int], once: Sequence[tuple[int, int]],
                    transient: dict[int, int], cast_from: Sequence[int] = ()) -> tuple[int, int]:
    """(peak reserved, peak allocated) over the second of two replayed steps.

    ``persistent``: sizes allocated before the first step and kept (weights, buffers, inputs).
    ``step_start``: sizes allocated when the first optimizer step runs and kept (optimizer state).
    ``step_temporaries``: sizes allocated and freed by each optimizer step. ``once``: (position, size)
    allocated at that position of the first step and kept (workspaces). ``transient``: position ->
    size allocated and freed at that position (convolution workspaces). ``lives``: the trace's
    storages other than weights, buffers and inputs, replayed every step in order of birth.
    ``cast_from``: the sizes the first ``len(cast_from)`` persistent tensors had when first allocated
    on the device, before a cast there (a model built in float32 on the GPU, then ``.to(bfloat16)``):
    all of them are allocated first, then each is replaced by its cast copy and freed, as
    ``Module.to`` does tensor by tensor; the freed blocks stay cached. A size of 0: not cast.
    """
    alloc = CachingAllocator()
    originals = [alloc.malloc(size) if size else None for size in cast_from]
    for i, size in enumerate(persistent):
        alloc.malloc(size)
        if i < len(originals):
            alloc.release(originals[i])
    born: dict[int, list[Life]] = {}
    dying: dict[int, list[Life]] = {}
    for x in lives:
        if x.category in ("weights", "buffers", "inputs") or x.size == 0:
            continue
        born.setdefault(max(x.born + 1, 0), []).append(x)
        if x.died <= n:  # else alive after the trace (gradients): through the optimizer step, then freed
            dying.setdefault(x.died + 1, []).append(x)
    once_at: dict[int, list[int]] = {}
    for pos, size in once:
        once_at.setdefault(pos, []).append(size)
    peak_reserved = peak_allocated = 0
    for step in (1, 2):
        if step == 2:
            alloc.peak_reserved = alloc.reserved
            alloc.peak_allocated = alloc.allocated
        addr: dict[int, int | None] = {}
        for pos in range(n + 2):
            for x in dying.get(pos, ()):
                alloc.release(addr.pop(x.storage, None))
            if step == 1:
                for size in once_at.get(pos, ()):
                    alloc.malloc(size)
            for x in born.get(pos, ()):
                addr[x.storage] = alloc.malloc(x.size)
            if pos in transient:
                alloc.release(alloc.malloc(transient[pos]))
        if step == 1:
            for size in step_start:
                alloc.malloc(size)
        temps = [alloc.malloc(s) for s in step_temporaries]
        for a in temps:
            alloc.release(a)
        for a in addr.values():  # what the step left alive (gradients: zero_grad(set_to_none=True))
            alloc.release(a)
        peak_reserved, peak_allocated = alloc.peak_reserved, alloc.peak_allocated
    return peak_reserved, peak_allocated


# ---- cuDNN RNNs ------------------------------------------------------------------------------------

def _metas(value: object) -> list:
    from .timeline import _metas as walk
    return list(walk(value))


def cudnn_rnn(trace: Trace, lives: list[Life], params: Sequence, training: bool
              ) -> tuple[list[Life], list[str]]:
    """The lives with each ``nn.LSTM``/``GRU``/``RNN`` call as cuDNN runs it (one ``_cudnn_rnn`` call):
    the per-step tensors of meta's decomposition (born inside the call and not among its outputs;
    in training, also the decomposition's backward temporaries) are replaced by cuDNN's workspace
    and, in training, its reserve space kept until the module's backward is done
    (:func:`netcensus.devices.cuda.rnn_buffers`). Returns the lives and one line per call."""
    calls = [c for c in trace.calls if c.type in RNN_TYPES and not c.failed]
    if not calls:
        return lives, []
    bs = trace.backward_start if trace.backward_start is not None else len(trace.events)
    out_lines: list[str] = []
    next_id = min(min((x.storage for x in lives), default=0), 0) - 1  # below any synthetic id already used
    for c in calls:
        names = {p.name: p for p in params if p.name.startswith(c.path + ".weight_")}
        layer_ids = {int(n.rsplit("_l", 1)[1].split("_")[0]) for n in names if "_l" in n.rsplit(".", 1)[-1]}
        w_hh = names.get(f"{c.path}.weight_hh_l0")
        outs = _metas(c.outputs)
        if not layer_ids or w_hh is None or not outs:
            continue
        layers = max(layer_ids) + 1
        directions = 2 if any(n.endswith("_reverse") for n in names) else 1
        hidden = w_hh.shape[1]
        y = outs[0]
        steps = y.numel // (hidden * directions) if hasattr(y, "numel") else 0
        if not steps:
            continue
        itemsize = y.nbytes // y.numel if y.numel else 4
        shape = tuple(y.shape)
        batch = shape[0] if len(shape) == 3 else 1
        seq = steps // batch
        w_ih = names.get(f"{c.path}.weight_ih_l0")
        buf = cuda.rnn_buffers(c.type, seq, batch, hidden, layers, directions, itemsize, training,
                               w_ih.shape[1] if w_ih is not None else 0)
        keep_ids = {m.storage for m in outs}
        bwd = [e.index for e in trace.events[bs:] if e.module == c.path or e.module.startswith(c.path + ".")]
        has_bwd = bool(bwd)
        b_first, b_last = (bwd[0], bwd[-1] + 1) if bwd else (0, 0)
        new: list[Life] = []
        for x in lives:
            inside_fwd = c.start <= x.born < c.end and x.storage not in keep_ids and x.category not in (
                "weights", "buffers", "inputs", "gradients", "weight_copies")
            inside_bwd = (has_bwd and b_first <= x.born < b_last and x.died <= b_last + 1
                          and x.category in ("temporaries", "activations"))
            if not (inside_fwd or inside_bwd):
                new.append(x)
        new.append(Life(next_id, buf.workspace, c.start, c.end, "temporaries"))
        next_id -= 1
        if buf.layer_outputs:
            new.append(Life(next_id, buf.layer_outputs, c.start, c.end, "temporaries"))
            next_id -= 1
        if training and has_bwd:
            new.append(Life(next_id, buf.reserve, c.start, b_last, "activations"))
            next_id -= 1
            new.append(Life(next_id, buf.backward_workspace, b_first, b_last, "temporaries"))
            next_id -= 1
        lives = new
        out_lines.append(f"{c.path} ({c.type}, {layers} layers, hidden {hidden}, {seq} x {batch}): workspace "
                         f"{buf.workspace:,} B" + (f", reserve {buf.reserve:,} B, backward workspace "
                                                   f"{buf.backward_workspace:,} B" if training else ""))
    return lives, out_lines
