"""The definition shared by the ops with a weight and a bias whose kernels follow one pattern (convolution,
transposed convolution, linear): `<name>_forward(input, weight, bias, *params)` and
`<name>_backward(grad_output, input, weight, *params, mask=(input, weight, bias))`."""


class WeightedOp:
    """Subclasses set `name`; forward saves input and weight, backward asks the kernel for the gradients of
    input, weight and bias that are needed (the params get none)."""
    name = None

    @classmethod
    def forward(cls, ctx, K, input, weight, bias, *params):
        ctx.save_for_backward(input, weight)
        ctx.params = params
        return getattr(K, cls.name + "_forward")(input, weight, bias, *params)

    @classmethod
    def backward(cls, ctx, K, grad_output):
        input, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        grads = getattr(K, cls.name + "_backward")(grad_output, input, weight, *ctx.params,
                                                   mask=(needs[0], needs[1], needs[2]))
        return tuple(grads) + (None,) * len(ctx.params)
