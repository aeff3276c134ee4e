"""The op layer: one framework-free definition per op family, on arrays.

Each module here owns one family (conv, pool, norm, activation, dropout, upsample, linear, loss):

- argument normalizers (ints or tuples, 'same', output sizes where the kernel does not compute them), on
  anything with `.ndim` and `.shape`, so they run on fastlayers Tensors and torch tensors alike;
- op definitions: classes whose static `forward(ctx, *args)` and `backward(ctx, *grads)` sit side by side,
  take arrays (numpy, CuPy, or torch tensors on a GPU) and call the kernels through `ctx.K` (`fastlayers._C`,
  or fastlayers.torch's per-device stand-in for it). `ctx` offers what torch's does: `save_for_backward`,
  `saved_tensors`, `needs_input_grad`, `mark_non_differentiable`; any other attribute may be set on it in
  forward and read in backward;
- front functions (`conv(A, op, nd, ...)`, ...) that reshape unbatched and 1-D inputs with tensor methods both
  frameworks have (`unsqueeze`, `squeeze`, `reshape`) and call `A.apply(op, Definition, *args)`, where `A` is
  an adapter: fastlayers.nn.functional's (fastlayers.autograd.Function) or fastlayers.torch's
  (torch.autograd.Function).

Nothing here imports fastlayers' autograd or torch; value checks of sizes belong to the C++ front doors.
"""
from . import activation, conv, linear, norm, pool, upsample

_FAMILIES = (conv, pool, norm, activation, upsample, linear)


def public_functions(A):
    """name -> function: every public function of the op families (torch.nn.functional's names, arguments and
    defaults) bound to adapter A (an ops.adapter.Adapter)."""
    functions = {}
    for family in _FAMILIES:
        functions.update(zip(family.PUBLIC, family.public_functions(A)))
    return functions


PUBLIC = tuple(name for family in _FAMILIES for name in family.PUBLIC)
