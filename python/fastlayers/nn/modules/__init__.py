from .container import Sequential
from .conv import Conv1d, Conv2d
from .module import Module

__all__ = ["Module", "Sequential", "Conv1d", "Conv2d"]
# ---- normalization ----
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm1d, InstanceNorm2d, LayerNorm  # noqa: E402
__all__ += ["BatchNorm1d", "BatchNorm2d", "InstanceNorm1d", "InstanceNorm2d", "LayerNorm", "GroupNorm"]
# ---- transposed convolution ----
from .conv_transpose import ConvTranspose1d, ConvTranspose2d  # noqa: E402
__all__ += ["ConvTranspose1d", "ConvTranspose2d"]
# ---- pooling ----
from .pooling import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d,
                      MaxUnpool2d)

__all__ += ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
            "MaxUnpool2d"]
# ---- activations ----
from .activation import (CELU, ELU, GELU, SELU, Dropout, Dropout2d, Hardsigmoid, Hardswish, Hardtanh,  # noqa: E402
                         LeakyReLU, LogSoftmax, Maxout, Mish, PReLU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus,
                         Tanh)
from .activation import __all__ as _activation_all  # noqa: E402

__all__ += _activation_all
# ---- normalization: local response norm, batch-instance norm ----
from .norm import BatchInstanceNorm2d, LocalResponseNorm  # noqa: E402
__all__ += ["LocalResponseNorm", "BatchInstanceNorm2d"]
# ---- upsampling ----
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: E402

__all__ += ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]
# ---- linear ----
from .container import ModuleDict, ModuleList  # noqa: E402
from .linear import Flatten, Identity, Linear, Unflatten  # noqa: E402

__all__ += ["Identity", "Linear", "Flatten", "Unflatten", "ModuleList", "ModuleDict"]
# ---- losses ----
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss,  # noqa: E402
                   MarginRankingLoss, MSELoss, MultiMarginLoss, NLLLoss, SmoothL1Loss)
from .loss import __all__ as _loss_all  # noqa: E402

__all__ += _loss_all
