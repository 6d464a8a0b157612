"""Reference kernels: the one definition of every op's numerics (see docs/numerics.md).

Quantized kernels (``*_fix``) take integer NHWC arrays with their fix positions, compute the exact
dyadic value, apply the nonlinearity exactly, round once to the output fix position and saturate.
Float kernels (float_ops) compute in float64 and return float32.
"""

from .activation import (
    NONLINEARS,
    activation_fix,
    apply_nonlinear,
    check_nonlinear,
    hsigmoid_fix,
    hswish_fix,
    leaky_relu_fix,
    output_fix,
    relu6_fix,
    relu_fix,
)
from .concat import concat_fix
from .conv import conv2d_fix, dense_fix, depthwise_conv2d_fix, transposed_conv2d_fix
from .eltwise import eltwise_add_fix, eltwise_mul_fix
from .layout import (
    PAD_MODES,
    flatten_fix,
    nearest_indices,
    pad_fix,
    reshape_fix,
    resize_nearest_fix,
    transpose_fix,
    upsample_fix,
)
from .pool import avgpool_fix, global_avgpool_fix, maxpool_fix
from . import float_ops

__all__ = [
    "NONLINEARS",
    "PAD_MODES",
    "activation_fix",
    "apply_nonlinear",
    "avgpool_fix",
    "check_nonlinear",
    "concat_fix",
    "conv2d_fix",
    "dense_fix",
    "depthwise_conv2d_fix",
    "eltwise_add_fix",
    "eltwise_mul_fix",
    "flatten_fix",
    "float_ops",
    "global_avgpool_fix",
    "hsigmoid_fix",
    "hswish_fix",
    "leaky_relu_fix",
    "maxpool_fix",
    "nearest_indices",
    "output_fix",
    "pad_fix",
    "relu6_fix",
    "relu_fix",
    "reshape_fix",
    "resize_nearest_fix",
    "transpose_fix",
    "transposed_conv2d_fix",
    "upsample_fix",
]
