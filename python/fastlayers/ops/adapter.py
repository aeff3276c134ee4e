"""What the op layer asks of a framework: the adapter protocol. fastlayers.nn.functional's adapter
(nn/functional/_adapter.py) and fastlayers.torch's (torch/_adapter.py) subclass Adapter."""


class Adapter:
    """apply, pad and activation are each framework's; the checks made before reaching `_C` default to none
    (the torch adapter leaves dtypes to its device and dtype check in apply)."""

    @staticmethod
    def apply(op, definition, *args):
        """Runs the op definition `definition` (a class with forward(ctx, *args) and backward(ctx, *grads), which
        call the kernels through ctx.K) on the framework's tensors, recording it for backward where the
        framework does."""
        raise NotImplementedError

    @staticmethod
    def pad(input, pads):
        """Constant zero padding (torch.nn.functional.pad's `pad` argument), for an asymmetric 'same'."""
        raise NotImplementedError

    @staticmethod
    def activation(op, input, inplace, kind, params):
        """Applies fastlayers.ops.activation.Activation with kernel `kind`, in place when asked (each framework
        has its own in-place rule)."""
        raise NotImplementedError

    @staticmethod
    def check_tensor(value, op, arg, optional=False):
        """A TypeError naming op and arg unless value is one of the framework's tensors (or None if optional)."""
        raise NotImplementedError

    @classmethod
    def check_operands(cls, op, input, weight=None, bias=None):
        """check_tensors for the common argument names: input, and optional weight and bias."""
        cls.check_tensors(op, input=input, weight=weight, bias=bias)

    @classmethod
    def check_tensors(cls, op, **tensors):
        """Each keyword a tensor of the framework; those after the first may be None (optional parameters)."""
        first = True
        for name, value in tensors.items():
            cls.check_tensor(value, op, name, optional=not first)
            first = False

    @staticmethod
    def check_float(op, input, message=None):
        """The input has a dtype the kernels take."""

    @staticmethod
    def check_like_input(op, input, **params):
        """Parameters (None allowed) have the input's dtype."""

    @staticmethod
    def check_stats(op, input, **stats):
        """Running statistics (None allowed) have a dtype the kernels take with this input."""

    @staticmethod
    def check_indices(op, indices):
        """indices is an int64 tensor of the framework."""
        raise NotImplementedError
