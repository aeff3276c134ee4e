"""Transposed convolution modules with torch.nn's constructors, parameter names, shapes (weight
(in_channels, out_channels/groups, *kernel)), default initialization, repr and forward(input, output_size)."""
from .. import functional as F
from .conv import _ConvNd


class _ConvTransposeNd(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {self._nd} ints, "
                             f"got {padding!r}")
        # _ConvNd's default init is torch's: kaiming_uniform_(a=sqrt(5)) with fan_in from weight.shape[1:],
        # i.e. (out_channels/groups) * prod(kernel) for this layout, as torch computes it.
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype, transposed=True, output_padding=output_padding)

    def _output_padding(self, input, output_size):
        """output_padding for this call: the module's own, or what output_size asks for (as torch)."""
        nd = self._nd
        if output_size is None:
            return self.output_padding
        output_size = [int(v) for v in output_size]
        non_spatial = 2 if input.ndim == nd + 2 else 1
        if len(output_size) == non_spatial + nd:
            output_size = output_size[non_spatial:]
        if len(output_size) != nd:
            raise ValueError(f"ConvTranspose{nd}D: for {input.ndim}D input, output_size must have {nd} or "
                             f"{non_spatial + nd} elements (got {len(output_size)})")
        spatial = input.shape[input.ndim - nd:]
        min_sizes = [(spatial[d] - 1) * self.stride[d] - 2 * self.padding[d]
                     + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(nd)]
        max_sizes = [min_sizes[d] + self.stride[d] - 1 for d in range(nd)]
        for size, lo, hi in zip(output_size, min_sizes, max_sizes):
            if size < lo or size > hi:
                raise ValueError(f"requested an output size of {output_size}, but valid sizes range from "
                                 f"{min_sizes} to {max_sizes} (for an input of {tuple(spatial)})")
        return tuple(size - lo for size, lo in zip(output_size, min_sizes))


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution: input (N, C_in, H, W) -> (N, C_out, H_out, W_out)."""
    _nd = 2

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution: input (N, C_in, L) -> (N, C_out, L_out)."""
    _nd = 1

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)
