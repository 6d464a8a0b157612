"""Published DPUCZDX8G board throughput the timing model is checked against (docs/timing.md).

Source of every figure: the Vitis AI 1.4.1 model zoo README (github.com/Xilinx/Vitis-AI, release
commit da248ad33, file models/AI-Model-Zoo/README.md), section "Model Performance", column "E2E
throughput (fps) Multi Thread", measured with Vitis AI 1.4 and the Vitis AI Library 1.4 on:

* Kria KV260 SOM, DPU ``1 * B4096F @ 300MHz``;
* ZCU104, DPU ``2 * B4096 @ 300MHz``;
* ZCU102 (0432055-05), DPU ``3 * B4096 @ 281MHz`` (shown, not scored: see ``SCORED_BOARDS``).

Each model here is the zoo entry with the same architecture and input size as a vaiq.zoo model (the
first such row of the table when there are several), built with the input size and width multiplier
of that entry. Models are split into a fit half and a held-out half by one rule, fixed before any
fitting: sorted by published operations per image, alternately fit / held-out starting with fit, so
both halves span tiny to large models; both boards of a model are in the same half.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SOURCE = "Vitis AI 1.4.1 model zoo README (Xilinx/Vitis-AI da248ad33, models/AI-Model-Zoo/README.md)"
DPU_CONFIG = {"KV260": "1 x B4096F @ 300 MHz", "ZCU104": "2 x B4096 @ 300 MHz", "ZCU102": "3 x B4096 @ 281 MHz"}
#: boards whose figures are scored; ZCU102's three cores come out 20-30% below the per-core rate of
#: the one- and two-core boards at the same clock on every model, a board-level limit the per-core
#: model does not represent (docs/timing.md)
SCORED_BOARDS = ("KV260", "ZCU104")


@dataclass(frozen=True)
class ZooEntry:
    """One model of the published table and how to build it from vaiq.zoo."""

    key: str                    # this project's name of the variant
    zoo: str                    # vaiq.zoo model
    published_name: str         # the model zoo's name (framework_model_dataset_H_W_ops)
    gops: float                 # published operations per image (G)
    input_hw: tuple[int, int]
    fps: dict[str, float]       # board -> E2E multi-thread frames/s
    kwargs: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, 3, *self.input_hw)


ENTRIES = (
    ZooEntry("mobilenet_v1_0.25_128", "mobilenet_v1", "tf_mobilenetv1_0.25_imagenet_128_128_27.15M", 0.02715,
             (128, 128), {"KV260": 2053.8, "ZCU104": 4155.9, "ZCU102": 4147.4}, {"width": 0.25}),
    ZooEntry("mobilenet_v1_0.5_160", "mobilenet_v1", "tf_mobilenetv1_0.5_imagenet_160_160_150.07M", 0.15007,
             (160, 160), {"KV260": 1127.5, "ZCU104": 2264.2, "ZCU102": 2657.2}, {"width": 0.5}),
    ZooEntry("mobilenet_v2", "mobilenet_v2", "cf_mobilenetv2_imagenet_224_224_0.59G", 0.59,
             (224, 224), {"KV260": 310.4, "ZCU104": 610.6, "ZCU102": 734.0}),
    ZooEntry("squeezenet_227", "squeezenet", "cf_squeezenet_imagenet_227_227_0.76G", 0.76,
             (227, 227), {"KV260": 557.7, "ZCU104": 978.3, "ZCU102": 1069.0}),
    ZooEntry("mobilenet_v1", "mobilenet_v1", "tf_mobilenetv1_1.0_imagenet_224_224_1.14G", 1.14,
             (224, 224), {"KV260": 387.5, "ZCU104": 769.7, "ZCU102": 940.9}),
    ZooEntry("resnet18", "resnet18", "cf_resnet18_imagenet_224_224_3.65G", 3.65,
             (224, 224), {"KV260": 213.8, "ZCU104": 416.9, "ZCU102": 478.0}),
    ZooEntry("resnet50", "resnet50", "tf_mlperf_resnet50_imagenet_224_224_8.19G", 8.19,
             (224, 224), {"KV260": 75.8, "ZCU104": 148.2, "ZCU102": 168.5}),
    ZooEntry("inception_v3", "inception_v3", "cf_inceptionv3_imagenet_299_299_11.4G", 11.4,
             (299, 299), {"KV260": 63.7, "ZCU104": 122.0, "ZCU102": 135.9}),
    ZooEntry("vgg16", "vgg16", "tf_vgg16_imagenet_224_224_30.96G", 30.96,
             (224, 224), {"KV260": 19.5, "ZCU104": 37.1, "ZCU102": 41.1}),
)


def split() -> dict[str, str]:
    """Model key -> "fit" or "held-out": by published operations, alternately, starting with fit."""
    ranked = sorted(ENTRIES, key=lambda e: e.gops)
    return {e.key: "fit" if i % 2 == 0 else "held-out" for i, e in enumerate(ranked)}
