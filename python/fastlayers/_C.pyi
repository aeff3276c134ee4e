"""
fastlayers C++ kernels
"""
from __future__ import annotations
import collections.abc
import typing
__all__: list[str] = ['activation_backward', 'activation_forward', 'adaptive_avg_pool2d_backward', 'adaptive_avg_pool2d_forward', 'adaptive_max_pool2d_forward', 'adaptive_pool2d_impl', 'avg_pool2d_backward', 'avg_pool2d_forward', 'batch_norm_backward', 'batch_norm_forward', 'build_info', 'conv2d_backward', 'conv2d_forward', 'conv2d_impl', 'conv_transpose2d_backward', 'conv_transpose2d_descriptor', 'conv_transpose2d_forward', 'cross_entropy_backward', 'cross_entropy_forward', 'cuda_device_count', 'cuda_get_stream', 'cuda_is_built', 'cuda_set_stream', 'dropout_mask', 'get_impl', 'get_num_threads', 'get_verbose', 'group_norm_backward', 'group_norm_forward', 'impl_ops', 'impls', 'linear_backward', 'linear_forward', 'linear_impl', 'lrn_backward', 'lrn_forward', 'max_pool2d_backward', 'max_pool2d_forward', 'max_simd_level', 'max_unpool2d_backward', 'max_unpool2d_forward', 'maxout_backward', 'maxout_forward', 'nll_loss_backward', 'nll_loss_forward', 'num_threads_source', 'pool2d_impl', 'prelu_backward', 'prelu_forward', 'set_activation_reference', 'set_array_hooks', 'set_flush_denormal', 'set_impl', 'set_norm_use_reference', 'set_num_threads', 'set_simd_level', 'set_verbose', 'simd_level', 'softmax_backward', 'softmax_forward', 'upsample2d_backward', 'upsample2d_forward']
def _set_log_sink(sink: typing.Any) -> None:
    """
    Where the implementation log goes: a callable taking one line (fastlayers installs logging.getLogger('fastlayers').info); None: stderr.
    """
def activation_backward(grad_output: typing.Any, saved: typing.Any, from_output: bool, kind: str, alpha: typing.SupportsFloat | typing.SupportsIndex = 1.0, scale: typing.SupportsFloat | typing.SupportsIndex = 1.0, input_scale: typing.SupportsFloat | typing.SupportsIndex = 1.0, beta: typing.SupportsFloat | typing.SupportsIndex = 1.0, threshold: typing.SupportsFloat | typing.SupportsIndex = 20.0, min_val: typing.SupportsFloat | typing.SupportsIndex = -1.0, max_val: typing.SupportsFloat | typing.SupportsIndex = 1.0) -> typing.Any:
    """
    Gradient of activation_forward from the saved input (or output when from_output).
    """
def activation_forward(input: typing.Any, kind: str, alpha: typing.SupportsFloat | typing.SupportsIndex = 1.0, scale: typing.SupportsFloat | typing.SupportsIndex = 1.0, input_scale: typing.SupportsFloat | typing.SupportsIndex = 1.0, beta: typing.SupportsFloat | typing.SupportsIndex = 1.0, threshold: typing.SupportsFloat | typing.SupportsIndex = 20.0, min_val: typing.SupportsFloat | typing.SupportsIndex = -1.0, max_val: typing.SupportsFloat | typing.SupportsIndex = 1.0, out: typing.Any = None) -> typing.Any:
    """
    Element-wise activation `kind`; out may be the input itself (in place).
    """
def adaptive_avg_pool2d_backward(grad_output: typing.Any, input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], impl: str = '') -> typing.Any:
    ...
def adaptive_avg_pool2d_forward(input: typing.Any, output_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], impl: str = '') -> typing.Any:
    ...
def adaptive_max_pool2d_forward(input: typing.Any, output_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], impl: str = '') -> tuple:
    ...
def adaptive_pool2d_impl(pass_: str, input_shape: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], output_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"]) -> str:
    ...
def avg_pool2d_backward(grad_output: typing.Any, input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: typing.SupportsInt | typing.SupportsIndex = 0, impl: str = '') -> typing.Any:
    """
    Gradient of avg_pool2d with respect to its input.
    """
def avg_pool2d_forward(input: typing.Any, kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: typing.SupportsInt | typing.SupportsIndex = 0, impl: str = '') -> typing.Any:
    """
    2-D average pooling (divisor_override 0 means none).
    """
def batch_norm_backward(grad_output: typing.Any, input: typing.Any, mean: typing.Any, rstd: typing.Any, weight: typing.Any, training: bool, mask: typing.Annotated[collections.abc.Sequence[bool], "FixedSize(3)"] = [True, True, True]) -> tuple:
    """
    Gradients (input, weight, bias) of batch_norm_forward; mask selects which are computed.
    """
def batch_norm_forward(input: typing.Any, weight: typing.Any, bias: typing.Any, running_mean: typing.Any, running_var: typing.Any, training: bool, momentum: typing.SupportsFloat | typing.SupportsIndex = 0.1, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05) -> tuple:
    """
    Batch norm of an (N, C, *) input -> (output, mean, rstd). training: batch statistics, running ones updated in place when given; otherwise the running statistics are used (and returned as mean, rstd).
    """
def build_info() -> dict:
    """
    How this extension was built: git revision, compiler, OpenMP version, SIMD units, CUDA architectures.
    """
def conv2d_backward(grad_output: typing.Any, input: typing.Any, weight: typing.Any, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], groups: typing.SupportsInt | typing.SupportsIndex = 1, mask: typing.Annotated[collections.abc.Sequence[bool], "FixedSize(3)"] = [True, True, True]) -> tuple:
    """
    Gradients (input, weight, bias) of conv2d_forward; mask selects which are computed (others are None).
    """
def conv2d_forward(input: typing.Any, weight: typing.Any, bias: typing.Any = None, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], groups: typing.SupportsInt | typing.SupportsIndex = 1, out: typing.Any = None) -> typing.Any:
    """
    2-D convolution (cross-correlation) of an N x C x H x W input; symmetric zero padding.
    """
def conv2d_impl(input: typing.Any, weight: typing.Any, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], groups: typing.SupportsInt | typing.SupportsIndex = 1) -> str:
    """
    Which implementation conv2d picks for these operands, and the problem's descriptor string.
    """
def conv_transpose2d_backward(grad_output: typing.Any, input: typing.Any, weight: typing.Any, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], output_padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], groups: typing.SupportsInt | typing.SupportsIndex = 1, dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], mask: typing.Annotated[collections.abc.Sequence[bool], "FixedSize(3)"] = [True, True, True], reference: bool = False) -> tuple:
    """
    Gradients (input, weight, bias) of conv_transpose2d_forward; mask selects which are computed (others are None).
    """
def conv_transpose2d_descriptor(input: typing.Any, weight: typing.Any, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], output_padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], groups: typing.SupportsInt | typing.SupportsIndex = 1, dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1]) -> str:
    """
    The problem's descriptor string.
    """
def conv_transpose2d_forward(input: typing.Any, weight: typing.Any, bias: typing.Any = None, stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], output_padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], groups: typing.SupportsInt | typing.SupportsIndex = 1, dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], out: typing.Any = None, reference: bool = False) -> typing.Any:
    """
    Transposed 2-D convolution of an N x C x H x W input with a C x K/groups x kH x kW weight; reference=True runs the naive oracle instead of the convolution kernels.
    """
def cross_entropy_backward(grad_output: typing.Any, input: typing.Any, target: typing.Any, weight: typing.Any, lse: typing.Any, total_weight: typing.SupportsFloat | typing.SupportsIndex, ignore_index: typing.SupportsInt | typing.SupportsIndex = -100, label_smoothing: typing.SupportsFloat | typing.SupportsIndex = 0.0, reduction: str = 'mean', impl: str = '') -> typing.Any:
    """
    Gradient of cross_entropy_forward w.r.t. the input, from the saved lse.
    """
def cross_entropy_forward(input: typing.Any, target: typing.Any, weight: typing.Any = None, ignore_index: typing.SupportsInt | typing.SupportsIndex = -100, label_smoothing: typing.SupportsFloat | typing.SupportsIndex = 0.0, reduction: str = 'mean', impl: str = '') -> tuple:
    """
    Fused log-softmax + NLL (class-index int64 target) or soft-target cross-entropy (float target shaped like the input); returns (loss, lse, total_weight).
    """
def cuda_device_count() -> int:
    """
    Usable CUDA devices: 0 when not built, without a driver or without a device.
    """
def cuda_get_stream() -> typing.Any:
    """
    The override set by cuda_set_stream, or None.
    """
def cuda_is_built() -> bool:
    """
    Whether this build contains the CUDA kernels.
    """
def cuda_set_stream(stream: typing.SupportsInt | typing.SupportsIndex | None) -> None:
    """
    The cudaStream_t (as an integer; 0 is the legacy default) kernels launch on from this thread; None: no override, launches follow the arrays' framework (CuPy's current stream for CuPy arrays).
    """
def dropout_mask(like: typing.Any, shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], p: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, offset: typing.SupportsInt | typing.SupportsIndex = 0) -> typing.Any:
    """
    A mask of `shape` with like's dtype and device: 0 with probability p, else 1/(1-p), from a counter-based hash of (seed, offset + i): the same mask on every device for a seed.
    """
def get_impl(op: str) -> str:
    """
    The forced implementation of `op` ('' when the front door chooses).
    """
def get_num_threads() -> int:
    """
    Threads used by every kernel: set_num_threads, else FASTLAYERS_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs this process may run on (physical cores where they can be told apart).
    """
def get_verbose() -> bool:
    ...
def group_norm_backward(grad_output: typing.Any, input: typing.Any, mean: typing.Any, rstd: typing.Any, weight: typing.Any, num_groups: typing.SupportsInt | typing.SupportsIndex, mask: typing.Annotated[collections.abc.Sequence[bool], "FixedSize(3)"] = [True, True, True]) -> tuple:
    """
    Gradients (input, weight, bias) of group_norm_forward; mask selects which are computed.
    """
def group_norm_forward(input: typing.Any, num_groups: typing.SupportsInt | typing.SupportsIndex, weight: typing.Any, bias: typing.Any, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05) -> tuple:
    """
    Group norm of an (N, C, *) input -> (output, mean[N, G], rstd[N, G]).
    """
def impl_ops() -> list[str]:
    """
    The ops that have implementation lists (the names set_impl takes).
    """
def impls(op: str) -> list[str]:
    """
    The implementations of `op`, fastest first, the reference last.
    """
def linear_backward(grad_output: typing.Any, input: typing.Any, weight: typing.Any, mask: typing.Annotated[collections.abc.Sequence[bool], "FixedSize(3)"] = [True, True, True]) -> tuple:
    """
    Gradients (input, weight, bias) of linear_forward; mask selects which are computed (others are None).
    """
def linear_forward(input: typing.Any, weight: typing.Any, bias: typing.Any = None, out: typing.Any = None) -> typing.Any:
    """
    y = input @ weight.T + bias for a 2-D input (rows, in_features).
    """
def linear_impl(input: typing.Any, weight: typing.Any, pass: str = 'forward') -> str:
    """
    Which implementation linear picks for a pass ('forward', 'backward_data', 'backward_weight'), and the problem's descriptor string.
    """
def lrn_backward(grad_output: typing.Any, input: typing.Any, scale: typing.Any, size: typing.SupportsInt | typing.SupportsIndex, alpha: typing.SupportsFloat | typing.SupportsIndex = 0.0001, beta: typing.SupportsFloat | typing.SupportsIndex = 0.75, k: typing.SupportsFloat | typing.SupportsIndex = 1.0) -> typing.Any:
    """
    Gradient of the input of lrn_forward, given its scale.
    """
def lrn_forward(input: typing.Any, size: typing.SupportsInt | typing.SupportsIndex, alpha: typing.SupportsFloat | typing.SupportsIndex = 0.0001, beta: typing.SupportsFloat | typing.SupportsIndex = 0.75, k: typing.SupportsFloat | typing.SupportsIndex = 1.0) -> tuple:
    """
    Local response norm across the channels of an (N, C, *) input -> (output, scale).
    """
def max_pool2d_backward(grad_output: typing.Any, indices: typing.Any, input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"]) -> typing.Any:
    """
    Gradient of max_pool2d / adaptive_max_pool2d: grad_output scattered by indices.
    """
def max_pool2d_forward(input: typing.Any, kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], ceil_mode: bool = False, impl: str = '') -> tuple:
    """
    2-D max pooling of an N x C x H x W input: (output, int64 indices into each H*W plane). impl forces an implementation by name ('reference', ...).
    """
def max_simd_level() -> str:
    ...
def max_unpool2d_backward(grad_output: typing.Any, indices: typing.Any) -> typing.Any:
    ...
def max_unpool2d_forward(input: typing.Any, indices: typing.Any, output_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"]) -> typing.Any:
    """
    Places each input value at its index in a zero output plane of output_size.
    """
def maxout_backward(grad_output: typing.Any, input: typing.Any, pieces: typing.SupportsInt | typing.SupportsIndex, dim: typing.SupportsInt | typing.SupportsIndex = 1) -> typing.Any:
    ...
def maxout_forward(input: typing.Any, pieces: typing.SupportsInt | typing.SupportsIndex, dim: typing.SupportsInt | typing.SupportsIndex = 1) -> typing.Any:
    ...
def nll_loss_backward(grad_output: typing.Any, input: typing.Any, target: typing.Any, weight: typing.Any, total_weight: typing.SupportsFloat | typing.SupportsIndex, ignore_index: typing.SupportsInt | typing.SupportsIndex = -100, reduction: str = 'mean', impl: str = '') -> typing.Any:
    ...
def nll_loss_forward(input: typing.Any, target: typing.Any, weight: typing.Any = None, ignore_index: typing.SupportsInt | typing.SupportsIndex = -100, reduction: str = 'mean', impl: str = '') -> tuple:
    """
    Negative log-likelihood of log-probabilities; returns (loss, total_weight).
    """
def num_threads_source() -> str:
    """
    Where get_num_threads() came from.
    """
def pool2d_impl(pass_: str, input_shape: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(4)"], kernel_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], stride: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], padding: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [0, 0], dilation: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"] = [1, 1], ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: typing.SupportsInt | typing.SupportsIndex = 0) -> str:
    """
    Which implementation pooling picks ('max_forward', 'avg_forward', 'avg_backward'), and the descriptor.
    """
def prelu_backward(grad_output: typing.Any, input: typing.Any, weight: typing.Any, mask: typing.Annotated[collections.abc.Sequence[bool], "FixedSize(2)"] = [True, True]) -> tuple:
    ...
def prelu_forward(input: typing.Any, weight: typing.Any) -> typing.Any:
    ...
def set_activation_reference(use_reference: bool) -> None:
    """
    Route the activation family's front doors to the naive reference kernels (tests).
    """
def set_array_hooks(empty: typing.Any, ascontiguousarray: typing.Any, cupy_stream: typing.Any) -> None:
    """
    The callables _C uses for GPU arrays of the caller's framework: empty(like, shape, dtype_name), ascontiguousarray(a), cupy_stream(a); `import fastlayers` installs fastlayers._device's.
    """
def set_flush_denormal(mode: bool) -> bool:
    """
    Flush denormal floats to zero in the kernels (x86 FTZ/DAZ); returns False where unsupported.
    """
def set_impl(op: str, name: str) -> None:
    """
    Forces implementation `name` of `op` for every later call ('' restores the automatic choice); as FASTLAYERS_IMPL=op:name. A forced implementation that does not accept a problem raises ValueError.
    """
def set_norm_use_reference(on: bool) -> None:
    """
    Run the naive reference kernels of the norm family instead of the fast ones (a test oracle).
    """
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Threads used by every kernel (n >= 1).
    """
def set_simd_level(level: str) -> str:
    """
    Forces a SIMD path (clamped to what the CPU supports); returns the path now in use.
    """
def set_verbose(on: bool) -> None:
    """
    Log every implementation choice (and why the faster ones declined) to the 'fastlayers' logger; as FASTLAYERS_VERBOSE=1.
    """
def simd_level() -> str:
    """
    The SIMD path kernels run: 'portable', 'avx2' or 'avx512'.
    """
def softmax_backward(grad_output: typing.Any, output: typing.Any, dim: typing.SupportsInt | typing.SupportsIndex, log: bool = False) -> typing.Any:
    ...
def softmax_forward(input: typing.Any, dim: typing.SupportsInt | typing.SupportsIndex, log: bool = False) -> typing.Any:
    ...
def upsample2d_backward(grad_output: typing.Any, input_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], scales: typing.Annotated[collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], "FixedSize(2)"] = [0.0, 0.0], mode: str = 'nearest', align_corners: bool = False, size_shortcuts: bool = True, impl: str = '') -> typing.Any:
    """
    Gradient of upsample2d_forward with respect to its input (N x C x input_size).
    """
def upsample2d_forward(input: typing.Any, output_size: typing.Annotated[collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], "FixedSize(2)"], scales: typing.Annotated[collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], "FixedSize(2)"] = [0.0, 0.0], mode: str = 'nearest', align_corners: bool = False, size_shortcuts: bool = True, impl: str = '') -> typing.Any:
    """
    Nearest or bilinear resampling of an N x C x H x W input to output_size. scales: the user's scale factors (0 = none; torch then uses 1/scale for the source index). size_shortcuts: nearest copies an axis that keeps its size and reads dst/2 on one that doubles (torch's 2-D rule; not its 1-D forward). impl forces 'direct' or 'reference'.
    """
