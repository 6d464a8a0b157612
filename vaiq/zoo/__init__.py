"""Model zoo: plain torch models written from published architectures, plus small coverage nets.

Every model takes `num_classes` and `seed` (identical parameters for the same seed) and exports with
`torch.export.export(model, (x,))`. The classifiers added for mobile and grouped architectures
(EfficientNet-B0, MobileNetV3-Small, ShuffleNetV2, MnasNet, RegNetX, ResNeXt), the YOLO-style detector
and the U-Net are written the way public model libraries write them (in-place activations and adds,
`nn.Sequential` blocks, stochastic depth, squeeze-excite, `chunk` and channel shuffle), each with a
`tiny_*` variant of the same block types for fast tests. `get_model(name)` also fills BatchNorm running statistics from
seeded random batches (`calibrate_bn_stats`) and returns the model in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from .common import calibrate_bn_stats, init_params
from .digits import DigitsCNN, digits_cnn, evaluate, load_digits_split, train_digits_cnn
from .efficientnet import EfficientNet, efficientnet_b0, tiny_efficientnet
from .ffn import FFN
from .inception import InceptionV3, TinyInception, inception_v3, tiny_inception
from .leaky import LeakyNet, leaky_net
from .mnasnet import MNASNet, mnasnet1_0, tiny_mnasnet
from .mobilenet import MobileNetV2, mobilenet_v2, tiny_mobilenet
from .mobilenet_v1 import MobileNetV1, mobilenet_v1
from .mobilenet_v3 import MobileNetV3, mobilenet_v3_small, tiny_mobilenet_v3
from .partial import PartialNet, partial_net
from .regnet import RegNet, regnet_widths, regnet_x_400mf, tiny_regnet
from .resnet import ResNet, resnet18, resnet50, tiny_resnet
from .resnext import ResNeXt, resnext50_32x4d, tiny_resnext
from .shufflenet import ShuffleNetV2, shufflenet_v2, tiny_shufflenet
from .squeezenet import SqueezeNet, squeezenet, tiny_squeezenet
from .unet import UNet, tiny_unet, unet
from .vgg import VGG, vgg16
from .yolo import YOLODetector, decode_yolo, tiny_yolo, yolo_tiny


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: name, factory(num_classes=..., seed=...), batch-1 input shape, description."""

    name: str
    factory: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    description: str


def _ffn(num_classes: int = 1, seed: int = 0) -> FFN:
    return FFN(num_classes=num_classes, seed=seed)


_SPECS = [
    ModelSpec("ffn", _ffn, (1, 2), "tutorial toy FFN: Linear 2->6->4->1 with ReLU"),
    ModelSpec("digits_cnn", digits_cnn, (1, 1, 8, 8), "small CNN for the 8x8 scikit-learn digits"),
    ModelSpec("resnet18", resnet18, (1, 3, 224, 224), "ResNet-18 (BasicBlock)"),
    ModelSpec("resnet50", resnet50, (1, 3, 224, 224), "ResNet-50 (Bottleneck)"),
    ModelSpec("mobilenet_v2", mobilenet_v2, (1, 3, 224, 224), "MobileNetV2 (depthwise, ReLU6)"),
    ModelSpec("inception_v3", inception_v3, (1, 3, 299, 299), "Inception v3 without aux head"),
    ModelSpec("squeezenet", squeezenet, (1, 3, 224, 224), "SqueezeNet 1.1 (fire modules)"),
    ModelSpec("partial_net", partial_net, (1, 3, 32, 32), "CNN with sigmoid gate and softmax (DPU+CPU)"),
    ModelSpec("tiny_resnet", tiny_resnet, (1, 3, 32, 32), "two BasicBlocks"),
    ModelSpec("tiny_mobilenet", tiny_mobilenet, (1, 3, 32, 32), "two inverted residuals, hard-swish head"),
    ModelSpec("tiny_inception", tiny_inception, (1, 3, 32, 32), "one inception block with avg-pool branch"),
    ModelSpec("tiny_squeezenet", tiny_squeezenet, (1, 3, 32, 32), "two fire modules, ceil-mode pools"),
    ModelSpec("leaky_net", leaky_net, (1, 3, 32, 32), "LeakyReLU, hard-sigmoid, upsample, deconv, concat"),
    ModelSpec("efficientnet_b0", efficientnet_b0, (1, 3, 224, 224),
              "EfficientNet-B0 (MBConv, SiLU, sigmoid squeeze-excite, stochastic depth)"),
    ModelSpec("mobilenet_v3_small", mobilenet_v3_small, (1, 3, 224, 224),
              "MobileNetV3-Small (hard-swish/ReLU, hard-sigmoid squeeze-excite)"),
    ModelSpec("shufflenet_v2", shufflenet_v2, (1, 3, 224, 224),
              "ShuffleNetV2 x1.0 (chunk channel split, channel shuffle)"),
    ModelSpec("mnasnet", mnasnet1_0, (1, 3, 224, 224), "MNASNet 1.0 (inverted residuals, 3x3 and 5x5)"),
    ModelSpec("regnet_x_400mf", regnet_x_400mf, (1, 3, 224, 224),
              "RegNetX-400MF (grouped 3x3 convs, group width 16)"),
    ModelSpec("resnext50", resnext50_32x4d, (1, 3, 224, 224), "ResNeXt-50 32x4d (grouped bottlenecks)"),
    ModelSpec("vgg16", vgg16, (1, 3, 224, 224),
              "VGG-16 (configuration D; fc6 a 7x7 conv, fc7 and fc8 1x1 convs, as TF-slim)"),
    ModelSpec("mobilenet_v1", mobilenet_v1, (1, 3, 224, 224),
              "MobileNetV1 (depthwise-separable blocks, ReLU6; width multiplier `width`)"),
    ModelSpec("yolo_tiny", yolo_tiny, (1, 3, 320, 320),
              "YOLOv5n-layout detector (C3, SPPF, FPN/PAN, 3 heads; LeakyReLU or SiLU)"),
    ModelSpec("unet", unet, (1, 3, 128, 128), "U-Net 64..1024 (skip concats, transposed-conv or nearest up)"),
    ModelSpec("tiny_efficientnet", tiny_efficientnet, (1, 3, 32, 32), "five MBConv blocks with SE"),
    ModelSpec("tiny_mobilenet_v3", tiny_mobilenet_v3, (1, 3, 32, 32), "five V3 blocks, ReLU/hard-swish, SE"),
    ModelSpec("tiny_shufflenet", tiny_shufflenet, (1, 3, 32, 32), "two stages of strided + split units"),
    ModelSpec("tiny_mnasnet", tiny_mnasnet, (1, 3, 32, 32), "separable stem, four inverted residuals"),
    ModelSpec("tiny_regnet", tiny_regnet, (1, 3, 32, 32), "three X blocks with 3 and 5 groups"),
    ModelSpec("tiny_resnext", tiny_resnext, (1, 3, 32, 32), "two grouped bottlenecks (3 groups)"),
    ModelSpec("tiny_yolo", tiny_yolo, (1, 3, 64, 64), "YOLO layout at widths 6..34, 3 heads"),
    ModelSpec("tiny_unet", tiny_unet, (1, 3, 32, 32), "three-level U-Net, widths 5, 9, 17"),
]

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def list_models() -> list[str]:
    """Names of all registered models, in registry order."""
    return list(MODELS)


def get_model(
    name: str,
    *,
    seed: int = 0,
    input_shape: tuple[int, ...] | None = None,
    bn_batches: int = 4,
    **kwargs,
) -> nn.Module:
    """Build model `name` with `seed` (and factory kwargs such as num_classes), fill its BatchNorm
    statistics from `bn_batches` random batches of `input_shape` (default: the spec's), return it in
    eval mode. Unknown names raise ValueError listing the known ones."""
    spec = MODELS.get(name)
    if spec is None:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    model = spec.factory(seed=seed, **kwargs)
    return calibrate_bn_stats(model, input_shape or spec.input_shape, batches=bn_batches, seed=seed)


__all__ = [
    "MODELS",
    "ModelSpec",
    "get_model",
    "list_models",
    "calibrate_bn_stats",
    "init_params",
    "FFN",
    "DigitsCNN",
    "ResNet",
    "MobileNetV1",
    "MobileNetV2",
    "VGG",
    "InceptionV3",
    "TinyInception",
    "SqueezeNet",
    "PartialNet",
    "LeakyNet",
    "digits_cnn",
    "resnet18",
    "resnet50",
    "tiny_resnet",
    "mobilenet_v1",
    "mobilenet_v2",
    "vgg16",
    "tiny_mobilenet",
    "inception_v3",
    "tiny_inception",
    "squeezenet",
    "tiny_squeezenet",
    "partial_net",
    "leaky_net",
    "EfficientNet",
    "MobileNetV3",
    "ShuffleNetV2",
    "MNASNet",
    "RegNet",
    "ResNeXt",
    "YOLODetector",
    "UNet",
    "efficientnet_b0",
    "tiny_efficientnet",
    "mobilenet_v3_small",
    "tiny_mobilenet_v3",
    "shufflenet_v2",
    "tiny_shufflenet",
    "mnasnet1_0",
    "tiny_mnasnet",
    "regnet_widths",
    "regnet_x_400mf",
    "tiny_regnet",
    "resnext50_32x4d",
    "tiny_resnext",
    "yolo_tiny",
    "tiny_yolo",
    "decode_yolo",
    "unet",
    "tiny_unet",
    "load_digits_split",
    "train_digits_cnn",
    "evaluate",
]
