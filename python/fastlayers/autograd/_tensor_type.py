"""The Tensor type the autograd wraps results in. fastlayers.tensor (which imports the autograd) registers it
when it is imported, so the autograd never imports fastlayers.tensor and the two form no import cycle."""

Tensor = None
make = None  # make(array, requires_grad=False, grad_fn=None, output_nr=0): a Tensor around an array, unchecked


def register(tensor_type, make_tensor):
    global Tensor, make
    Tensor, make = tensor_type, make_tensor
