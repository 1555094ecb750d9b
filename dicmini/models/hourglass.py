"""Recursive hourglass and the feedback hourglass landmark estimator of DIC.

Paper §3 ("recurrent alignment branch", Fig. 2): a single hourglass (Newell et al., ECCV 2016)
estimates 68 landmark heatmaps from the current SR image; half of its output channels are fed back
to the next step, which makes the alignment branch recurrent like the SR branch. Reference code:
docs/reference_implementations.md, Feedback hourglass (MMagic ``FeedbackHourglass`` / ``Hourglass`` /
``ResBlock``; official ``FeedbackHourGlass`` with the flat ``HourGlass(4, C, need_bn=False)``). No normalisation
layers (``need_bn=False``).

Sizes with ``M = mid_channels`` (256 in DIC) for an SR image of ``H x W`` (128 x 128)::

    pre_conv_block: Conv(3 -> M/4, k7, s2, p3), ReLU, ResBlock(M/4 -> M/2), MaxPool(2),
                    ResBlock(M/2 -> M/2), ResBlock(M/2 -> M)              -> [B, M, H/4, W/4]
    first_conv:     Conv(2M -> 2M, k1) on cat(feature, hidden or feature)
    hg:             Hourglass(depth 4, 2M)                                -> [B, 2M, H/4, W/4]
    last:           ResBlock(M -> M), Conv(M -> M, k1), ReLU, Conv(M -> K, k1) on the first M channels
    heatmaps = last(out[:, :M])  [B, K, H/4, W/4]     new hidden = out[:, M:]  [B, M, H/4, W/4]

The four 2x poolings of the hourglass need ``H/4`` and ``W/4`` divisible by 16, i.e. SR sides that
are multiples of 64 (LR sides multiples of 8 for DIC's x8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Depth of the hourglass used by DIC (four 2x down-samplings); the official code has no other depth.
HOURGLASS_DEPTH = 4


class ResBlock(nn.Module):
    """Bottleneck residual block of the hourglass: ``skip(x) + conv_block(x)``.

    ``conv_block = Conv(cin -> cout/2, k1), ReLU, Conv(cout/2 -> cout/2, k3, p1), Conv(cout/2 -> cout, k1)``
    (only one ReLU, as in both references); ``skip_layer = Conv(cin -> cout, k1)`` when ``cin != cout``,
    else the identity (and no parameters).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        self.conv_block = nn.Sequential(
            nn.Conv2d(in_channels, mid, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1),
            nn.Conv2d(mid, out_channels, 1),
        )
        self.skip_layer = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.skip_layer is None else self.skip_layer(x)
        return residual + self.conv_block(x)


class Hourglass(nn.Module):
    """Recursive hourglass: ``up1(x) + upsample2(low3(low2(low1(maxpool2(x)))))``.

    ``low2`` is a ``Hourglass(depth - 1)`` or, at depth 1, a :class:`ResBlock`. The upsampling is
    bilinear with ``align_corners=True`` (both references). ``[B, C, h, w] -> [B, C, h, w]`` with
    ``h, w`` divisible by ``2**depth``.
    """

    def __init__(self, depth: int, channels: int) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth = depth
        self.up1 = ResBlock(channels, channels)
        self.pool = nn.MaxPool2d(2, 2)
        self.low1 = ResBlock(channels, channels)
        self.low2: Hourglass | ResBlock = Hourglass(depth - 1, channels) if depth > 1 else ResBlock(channels, channels)
        self.low3 = ResBlock(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        low = self.low3(self.low2(self.low1(self.pool(x))))
        return self.up1(x) + F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=True)


class FeedbackHourglass(nn.Module):
    """The feedback hourglass landmark estimator of DIC, usable on its own.

    Args:
        mid_channels: ``M`` (256 in DIC); must be divisible by 4.
        num_keypoints: number of heatmaps ``K`` (68).
        in_channels: channels of the input image (3; the reference hard-codes 3).

    ``forward(image, hidden=None) -> (heatmaps, new_hidden)``: ``image`` ``[B, 3, H, W]`` (the SR image
    in the normalised space ``x/255 - mean``), ``hidden`` ``[B, M, H/4, W/4]`` or ``None`` at the first
    step (then the image feature is duplicated in its place); ``heatmaps`` ``[B, K, H/4, W/4]`` are raw
    (no sigmoid/softmax). Parameters (256, 68): 11,999,172.
    """

    def __init__(self, mid_channels: int = 256, num_keypoints: int = 68, in_channels: int = 3) -> None:
        super().__init__()
        if mid_channels < 4 or mid_channels % 4:
            raise ValueError(f"hg_mid_channels / mid_channels must be a positive multiple of 4, got {mid_channels}")
        if num_keypoints < 1:
            raise ValueError(f"num_keypoints must be positive, got {num_keypoints}")
        self.mid_channels = mid_channels
        self.num_keypoints = num_keypoints
        quarter, half = mid_channels // 4, mid_channels // 2
        self.pre_conv_block = nn.Sequential(
            nn.Conv2d(in_channels, quarter, 7, stride=2, padding=3),
            nn.ReLU(inplace=True),
            ResBlock(quarter, half),
            nn.MaxPool2d(2, 2),
            ResBlock(half, half),
            ResBlock(half, mid_channels),
        )
        self.first_conv = nn.Conv2d(2 * mid_channels, 2 * mid_channels, 1)
        self.hg = Hourglass(HOURGLASS_DEPTH, 2 * mid_channels)
        self.last = nn.Sequential(
            ResBlock(mid_channels, mid_channels),
            nn.Conv2d(mid_channels, mid_channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, num_keypoints, 1),
        )

    def forward(self, image: Tensor, hidden: Tensor | None = None) -> tuple[Tensor, Tensor]:
        feature = self.pre_conv_block(image)
        feature = self.first_conv(torch.cat([feature, feature if hidden is None else hidden], dim=1))
        feature = self.hg(feature)
        heatmaps = self.last(feature[:, :self.mid_channels])
        return heatmaps, feature[:, self.mid_channels:]


def run_hourglass(hourglass: nn.Module, image: Tensor, num_steps: int) -> list[Tensor]:
    """Apply a feedback hourglass ``num_steps`` times to the same image, feeding its hidden state back
    (how the ``hourglass`` pre-training recipe uses it); returns the heatmaps of every step."""
    heatmaps, hidden = [], None
    for _ in range(num_steps):
        h, hidden = hourglass(image, hidden)
        heatmaps.append(h)
    return heatmaps
