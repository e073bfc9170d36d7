"""The one set of ops that cost nothing by definition.

An op is here when it does no arithmetic on element values: it reinterprets, moves, copies,
allocates or fills memory, or reads metadata. Each entry names the packet (every overload) and its
category; in-place variants are listed explicitly. An op in this set must not also have a formula
(tests check this). Ops that do arithmetic but whose cost we chose to write as an explicit 0 with a
reason (``embedding``, nearest-neighbour upsampling) are formulas, not members of this set.

Categories
----------
view        returns a view of its input's storage (no element is read or written)
metadata    reads sizes, strides or a scalar value
copy        moves or copies elements without arithmetic, including dtype/device casts, concatenation,
            padding with a constant, gathers by index and masks that keep-or-zero elements
allocation  allocates memory, or fills it with a constant or an index sequence
random      fills with random numbers (RNG work is not model compute)
autograd    autograd bookkeeping (detach and its kin)
"""

from __future__ import annotations

_VIEW = """
    view _unsafe_view _reshape_alias reshape view_as as_strided alias expand expand_as permute transpose
    t numpy_T unsqueeze squeeze select slice narrow unbind split split_with_sizes unsafe_split
    unsafe_split_with_sizes chunk unsafe_chunk tensor_split diagonal unfold view_as_real view_as_complex
    _conj conj _neg_view real imag movedim swapaxes swapdims flatten unflatten _nested_view_from_buffer
    squeeze_ unsqueeze_ transpose_ t_ as_strided_ swapaxes_ swapdims_ _fw_primal _make_dual _unpack_dual
    _values _indices indices values crow_indices col_indices ccol_indices row_indices
"""
_METADATA = """
    size sym_size stride sym_stride numel sym_numel dim storage_offset sym_storage_offset is_contiguous
    sym_is_contiguous is_same_size is_strides_like_format is_non_overlapping_and_dense _local_scalar_dense
    item is_nonzero is_floating_point is_complex _has_same_storage_numel _nested_tensor_size
    _nested_tensor_strides _nested_tensor_storage_offsets _version set_ resize_ resize_as_
    _resize_output_ record_stream _assert_async _assert_scalar _functional_assert_async
    sym_constrain_range sym_constrain_range_for_size _assert_tensor_metadata
    _nested_tensor_from_mask_left_aligned _linalg_check_errors
"""
_COPY = """
    clone copy copy_ _copy_from _copy_from_and_resize _to_copy to contiguous lift_fresh_copy cat stack
    hstack vstack dstack column_stack concat concatenate repeat tile flip fliplr flipud roll rot90
    constant_pad_nd index_select gather index take masked_select _unsafe_index _unsafe_masked_index
    select_backward slice_backward diagonal_backward as_strided_scatter select_scatter slice_scatter
    diagonal_scatter expand_copy view_copy permute_copy t_copy transpose_copy unsqueeze_copy squeeze_copy
    split_copy split_with_sizes_copy unbind_copy alias_copy detach_copy as_strided_copy unfold_copy
    _reshape_copy tril triu tril_ triu_ masked_scatter masked_scatter_backward pixel_shuffle pixel_unshuffle
    channel_shuffle
    native_channel_shuffle im2col reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d
    replication_pad2d replication_pad3d _pad_circular _pad_enum pad narrow_copy repeat_interleave
    block_diag _to_dense to_dense to_sparse _to_sparse _pack_padded_sequence _pad_packed_sequence
    _pack_padded_sequence_backward
"""
_ALLOCATION = """
    empty empty_like empty_strided new_empty new_empty_strided zeros zeros_like new_zeros ones ones_like
    new_ones full full_like new_full fill fill_ zero_ scalar_tensor arange linspace logspace eye
    lift_fresh lift _efficientzerotensor empty_permuted _empty_affine_quantized
"""
_RANDOM = """
    bernoulli bernoulli_ rand rand_like randn randn_like randint randint_like randperm normal normal_
    uniform_ exponential_ geometric_ cauchy_ log_normal_ random_ multinomial poisson
"""
_AUTOGRAD = """
    detach detach_ _unsafe_set_version_counter
"""

#: packet name (``"aten.view"``) -> category. See the module docstring for what each category means.
ZERO_BY_DEFINITION: dict[str, str] = {}
for _category, _names in (("view", _VIEW), ("metadata", _METADATA), ("copy", _COPY),
                          ("allocation", _ALLOCATION), ("random", _RANDOM), ("autograd", _AUTOGRAD)):
    for _name in _names.split():
        ZERO_BY_DEFINITION.setdefault(f"aten.{_name}", _category)

#: non-aten ops that cost nothing (``prim.layout`` and kin).
ZERO_BY_DEFINITION.update({"prim.layout": "metadata", "prim.device": "metadata"})


def zero_category(op_name: str) -> str | None:
    """The category of ``op_name`` (``"aten.view.default"``) when it is zero by definition, else None."""
    parts = op_name.split(".")
    packet = ".".join(parts[:2]) if len(parts) >= 2 else op_name
    return ZERO_BY_DEFINITION.get(packet)
