"""A YOLO-style single-stage detector in the layout of YOLOv5 (v6.0 and later) at its "n" scale, and the
decode step that turns its three raw heads into boxes.

Backbone: a 6x6 stride-2 stem conv, four stride-2 3x3 convs each followed by a CSP block (C3: two 1x1
branches, one through a chain of bottlenecks, concatenated and fused by a 1x1 conv), then SPPF (three
chained 5x5 stride-1 max-pools, all four tensors concatenated). Neck (FPN + PAN): 1x1 lateral conv,
nearest x2 upsample, concat with the backbone's stride-16 map, C3; again down to stride 8; then
stride-2 convs back up with concats of the lateral maps, giving stride 8, 16 and 32 maps. Heads: one
1x1 conv per scale to anchors x (5 + classes) channels. `forward` returns the three raw head maps as a
tuple; `decode_yolo` (outside the model, as post-processing) applies the sigmoid, grid and anchors.

Every conv unit is conv (no bias) -> BN -> activation; the activation is a constructor argument:
"leaky" (LeakyReLU 0.1, the default, which DPUs run) or "silu" (YOLOv5's own). Both in place.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvBNAct, init_params

# Anchor (width, height) pairs in input pixels for the stride-8, -16 and -32 heads.
DEFAULT_ANCHORS = (
    ((10, 13), (16, 30), (33, 23)),
    ((30, 61), (62, 45), (59, 119)),
    ((116, 90), (156, 198), (373, 326)),
)
DEFAULT_STRIDES = (8, 16, 32)

_ACTIVATIONS = {
    "leaky": lambda: nn.LeakyReLU(0.1, inplace=True),
    "silu": lambda: nn.SiLU(inplace=True),
}


def _act_factory(act: str):
    try:
        return _ACTIVATIONS[act]
    except KeyError:
        raise ValueError(f"unknown activation {act!r}; choose one of {', '.join(_ACTIVATIONS)}") from None


def _unit(cin: int, cout: int, kernel: int, stride: int, act, padding: int | None = None) -> ConvBNAct:
    return ConvBNAct(cin, cout, kernel, stride, padding, act=act(), eps=1e-3)


class Bottleneck(nn.Module):
    """1x1 conv, 3x3 conv, plus the input when `shortcut` (and the widths match)."""

    def __init__(self, cin: int, cout: int, shortcut: bool, act):
        super().__init__()
        self.cv1 = _unit(cin, cout, 1, 1, act)
        self.cv2 = _unit(cout, cout, 3, 1, act)
        self.add = shortcut and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP block: cv3(cat(bottlenecks(cv1(x)), cv2(x))), both branches cout // 2 wide."""

    def __init__(self, cin: int, cout: int, repeats: int, shortcut: bool, act):
        super().__init__()
        hidden = cout // 2
        self.cv1 = _unit(cin, hidden, 1, 1, act)
        self.cv2 = _unit(cin, hidden, 1, 1, act)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, act) for _ in range(repeats)))
        self.cv3 = _unit(2 * hidden, cout, 1, 1, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): 1x1 conv to cin // 2, three chained k x k stride-1 max-pools,
    concat of the four tensors, 1x1 conv to cout."""

    def __init__(self, cin: int, cout: int, act, kernel: int = 5):
        super().__init__()
        hidden = cin // 2
        self.cv1 = _unit(cin, hidden, 1, 1, act)
        self.m = nn.MaxPool2d(kernel, 1, kernel // 2)
        self.cv2 = _unit(4 * hidden, cout, 1, 1, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class YOLODetector(nn.Module):
    """CSP backbone, SPPF, FPN/PAN neck, three 1x1 heads; returns (stride-8, stride-16, stride-32) maps
    of shape (N, anchors * (5 + num_classes), H / s, W / s).

    `widths` are the five backbone widths (stem, then strides 4, 8, 16, 32); `depths` the bottleneck
    counts of the four backbone C3 blocks; the neck's C3 blocks have `neck_depth` bottlenecks and no
    shortcut. Inputs must have H and W divisible by 32.
    """

    def __init__(
        self,
        num_classes: int = 80,
        widths: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256),
        depths: tuple[int, int, int, int] = (1, 2, 3, 1),
        neck_depth: int = 1,
        act: str = "leaky",
        anchors: tuple = DEFAULT_ANCHORS,
        seed: int = 0,
    ):
        super().__init__()
        a = _act_factory(act)
        c1, c2, c3, c4, c5 = widths
        self.num_classes = num_classes
        self.anchors = anchors
        self.strides = DEFAULT_STRIDES
        outputs = len(anchors[0]) * (5 + num_classes)
        self.stem = _unit(3, c1, 6, 2, a, padding=2)
        self.stage2 = nn.Sequential(_unit(c1, c2, 3, 2, a), C3(c2, c2, depths[0], True, a))
        self.stage3 = nn.Sequential(_unit(c2, c3, 3, 2, a), C3(c3, c3, depths[1], True, a))
        self.stage4 = nn.Sequential(_unit(c3, c4, 3, 2, a), C3(c4, c4, depths[2], True, a))
        self.stage5 = nn.Sequential(_unit(c4, c5, 3, 2, a), C3(c5, c5, depths[3], True, a), SPPF(c5, c5, a))
        self.lateral5 = _unit(c5, c4, 1, 1, a)
        self.upsample5 = nn.Upsample(scale_factor=2, mode="nearest")
        self.top_down4 = C3(2 * c4, c4, neck_depth, False, a)
        self.lateral4 = _unit(c4, c3, 1, 1, a)
        self.upsample4 = nn.Upsample(scale_factor=2, mode="nearest")
        self.top_down3 = C3(2 * c3, c3, neck_depth, False, a)
        self.down3 = _unit(c3, c3, 3, 2, a)
        self.bottom_up4 = C3(2 * c3, c4, neck_depth, False, a)
        self.down4 = _unit(c4, c4, 3, 2, a)
        self.bottom_up5 = C3(2 * c4, c5, neck_depth, False, a)
        self.heads = nn.ModuleList(nn.Conv2d(c, outputs, 1) for c in (c3, c4, c5))
        init_params(self, seed)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p3 = self.stage3(self.stage2(self.stem(x)))
        p4 = self.stage4(p3)
        l5 = self.lateral5(self.stage5(p4))
        l4 = self.lateral4(self.top_down4(torch.cat((self.upsample5(l5), p4), 1)))
        n3 = self.top_down3(torch.cat((self.upsample4(l4), p3), 1))
        n4 = self.bottom_up4(torch.cat((self.down3(n3), l4), 1))
        n5 = self.bottom_up5(torch.cat((self.down4(n4), l5), 1))
        return tuple(head(f) for head, f in zip(self.heads, (n3, n4, n5)))


def decode_yolo(
    heads: tuple[torch.Tensor, ...] | list[torch.Tensor],
    anchors: tuple = DEFAULT_ANCHORS,
    strides: tuple[int, ...] = DEFAULT_STRIDES,
) -> torch.Tensor:
    """Boxes from raw head maps (NCHW tensors or arrays): (N, sum over heads of anchors*H*W, 5 + classes),
    each row (cx, cy, w, h) in input pixels, objectness and class probabilities; rows run over heads,
    then anchors, then cells in row-major order.

    Per cell (i, j) and anchor (aw, ah) with sigmoid outputs s: cx = (2*s_x - 0.5 + j) * stride,
    cy = (2*s_y - 0.5 + i) * stride, w = (2*s_w)^2 * aw, h = (2*s_h)^2 * ah; objectness and class
    scores are the sigmoids. Raises ValueError when a head's channels are not anchors x (5 + classes).
    """
    if len(heads) != len(anchors) or len(heads) != len(strides):
        raise ValueError(f"decode_yolo: {len(heads)} heads for {len(anchors)} anchor sets and {len(strides)} strides")
    rows = []
    for head, level_anchors, stride in zip(heads, anchors, strides):
        head = torch.as_tensor(head, dtype=torch.float32)
        if head.dim() != 4:
            raise ValueError(f"decode_yolo: a head must be (N, C, H, W), got shape {tuple(head.shape)}")
        n, channels, h, w = head.shape
        na = len(level_anchors)
        if channels % na or channels // na < 6:
            raise ValueError(f"decode_yolo: a head with {channels} channels is not {na} anchors x (5 + classes)")
        per_anchor = channels // na
        s = head.reshape(n, na, per_anchor, h, w).permute(0, 1, 3, 4, 2).sigmoid()
        ys, xs = torch.meshgrid(torch.arange(h, dtype=s.dtype), torch.arange(w, dtype=s.dtype), indexing="ij")
        grid = torch.stack((xs, ys), -1).view(1, 1, h, w, 2)
        anchor_wh = torch.tensor(level_anchors, dtype=s.dtype).view(1, na, 1, 1, 2)
        xy = (s[..., 0:2] * 2 - 0.5 + grid) * stride
        wh = (s[..., 2:4] * 2) ** 2 * anchor_wh
        rows.append(torch.cat((xy, wh, s[..., 4:]), -1).reshape(n, -1, per_anchor))
    return torch.cat(rows, 1)


def yolo_tiny(num_classes: int = 80, seed: int = 0, act: str = "leaky") -> YOLODetector:
    """The detector at YOLOv5n's widths and depths (1,872,157 parameters with 80 classes);
    input 3x320x320 (any multiple of 32)."""
    return YOLODetector(num_classes, act=act, seed=seed)


def tiny_yolo(num_classes: int = 3, seed: int = 0, act: str = "leaky") -> YOLODetector:
    """Same blocks at widths 6, 10, 18, 26, 34 (odd CSP halves 5, 9, 13, 17), one bottleneck per C3;
    input 3x64x64 (heads 8x8, 4x4, 2x2)."""
    return YOLODetector(num_classes, widths=(6, 10, 18, 26, 34), depths=(1, 1, 1, 1), act=act, seed=seed)
