"""The definition shared by the ops with a weight and a bias whose kernels follow one pattern (convolution,
transposed convolution, linear): `<name>_forward(input, weight, bias, *params)` and
`<name>_backward(grad_output, input, weight, *params, mask=(input, weight, bias))`."""


class WeightedOp:
    """Subclasses set `name`; forward saves input and weight, backward asks the kernel for the gradients of
    input, weight and bias that are needed (the params get none)."""
    name = None

    def __init_subclass__(cls):
        cls.forward_kernel, cls.backward_kernel = cls.name + "_forward", cls.name + "_backward"

    @classmethod
    def forward(cls, ctx, input, weight, bias, *params):
        ctx.save_for_backward(input, weight)
        ctx.params = params
        return getattr(ctx.K, cls.forward_kernel)(input, weight, bias, *params)

    @classmethod
    def backward(cls, ctx, grad_output):
        input, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        grads = getattr(ctx.K, cls.backward_kernel)(grad_output, input, weight, *ctx.params,
                                                    mask=(needs[0], needs[1], needs[2]))
        return tuple(grads) + (None,) * len(ctx.params)
