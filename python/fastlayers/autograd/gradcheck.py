"""Finite-difference check of analytical gradients."""
import numpy as np

from . import _tensor_type as _tensor
from . import engine as _engine
from .grad_mode import enable_grad, no_grad

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """The analytical Jacobian of a function differs from its finite-difference estimate."""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compare, for every input that requires grad and every float output of `fn(*inputs)`, the Jacobian
    computed by backward with the central finite difference (f(x + eps) - f(x - eps)) / (2 eps).

    Inputs that require grad must be float64. An element passes when |analytical - numerical| <=
    atol + rtol * |numerical|. Returns True, or raises GradcheckError naming the input, the output,
    the largest error and where it is (returns False instead when raise_exception is False).
    """
    Tensor = _tensor.Tensor
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [index for index, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, "
                         "but none of them have requires_grad=True")
    for index in checked:
        if inputs[index].dtype != np.float64:
            raise TypeError(f"gradcheck: input {index} requires grad but has dtype {inputs[index].dtype}; "
                            "finite differences need float64 inputs (use .double())")

    with enable_grad():
        outputs = _float_outputs(fn(*inputs))
    analytical = _analytical_jacobians(outputs, [inputs[index] for index in checked])
    numerical = _numerical_jacobians(fn, inputs, checked, outputs, eps)

    for position, input_index in enumerate(checked):
        for output_index, output in enumerate(outputs):
            exact = analytical[output_index][position]
            estimate = numerical[output_index][position]
            error = np.abs(exact - estimate)
            failed = ~(error <= atol + rtol * np.abs(estimate))  # also catches NaN
            if failed.any():
                if not raise_exception:
                    return False
                raise GradcheckError(_mismatch_message(
                    input_index, inputs[input_index].shape, output_index, output.shape,
                    exact, estimate, error, atol, rtol))
    return True


def _float_outputs(result):
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    for index, output in enumerate(outputs):
        if not isinstance(output, _tensor.Tensor):
            raise TypeError(f"gradcheck: output {index} of fn is a {type(output).__name__}, not a Tensor")
    return [output for output in outputs if output.dtype.kind == "f"]


def _analytical_jacobians(outputs, inputs):
    """[output][input] -> array of shape (output.numel(), input.numel()), one backward per output element."""
    jacobians = []
    for output in outputs:
        rows = [np.zeros((output.numel(), x.numel())) for x in inputs]
        if output.requires_grad:
            for k in range(output.numel()):
                unit = np.zeros(output.numel(), dtype=output.dtype)
                unit[k] = 1
                grads = _engine.grad(output, inputs, unit.reshape(output.shape),
                                     retain_graph=True, allow_unused=True)
                for row, gradient in zip(rows, grads):
                    if gradient is not None:
                        row[k] = gradient.data.ravel()
        jacobians.append(rows)
    return jacobians


def _numerical_jacobians(fn, inputs, checked, outputs, eps):
    """[output][input] -> array of shape (output.numel(), input.numel()) by central differences."""
    jacobians = [[np.zeros((output.numel(), inputs[index].numel())) for index in checked] for output in outputs]
    with no_grad():
        for position, input_index in enumerate(checked):
            data = inputs[input_index].data
            for column, element in enumerate(np.ndindex(data.shape)):
                original = data[element].copy()
                data[element] = original + eps
                plus = _evaluate(fn, inputs)
                data[element] = original - eps
                minus = _evaluate(fn, inputs)
                data[element] = original
                for output_index, (high, low) in enumerate(zip(plus, minus)):
                    jacobians[output_index][position][:, column] = (high - low) / (2 * eps)
    return jacobians


def _evaluate(fn, inputs):
    # copies: an output may be a view of an input that the next perturbation changes
    return [np.array(output.data, dtype=np.float64).ravel() for output in _float_outputs(fn(*inputs))]


def _mismatch_message(input_index, input_shape, output_index, output_shape, exact, estimate, error, atol, rtol):
    worst = np.unravel_index(np.nanargmax(np.where(np.isnan(error), np.inf, error)), error.shape)
    out_element = np.unravel_index(worst[0], output_shape) if output_shape else ()
    in_element = np.unravel_index(worst[1], input_shape) if input_shape else ()
    message = (f"Jacobian mismatch for output {output_index} (shape {tuple(output_shape)}) with respect to "
               f"input {input_index} (shape {tuple(input_shape)}): largest error {error[worst]:.3e} at output "
               f"element {tuple(int(i) for i in out_element)}, input element {tuple(int(i) for i in in_element)}: "
               f"analytical {exact[worst].item()!r} vs numerical {estimate[worst].item()!r} (atol={atol}, rtol={rtol})")
    if exact.size <= 64:
        message += f"\nnumerical:\n{estimate}\nanalytical:\n{exact}"
    return message
