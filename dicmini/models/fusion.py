"""Attentive fusion of the SR feature with the 5 facial-component maps, and a plain-concat ablation.

Paper §3, Fig. 3 ("attentive fusion module"): the feature is expanded into one feature group per
facial component (left eye, right eye, nose, mouth, face outline), the groups are refined
independently by grouped residual blocks, and the groups are summed with per-pixel weights given by
a softmax over the 5 component maps. Reference code: docs/reference_implementations.md, Attentive fusion
(MMagic ``FeatureHeatmapFusingBlock``, official ``FeatureHeatmapFusingBlock`` in ``blocks.py``).

Channel group ``g`` = channels ``[g·C, (g+1)·C)`` belongs to component map ``g``; the grouped
convolutions (``groups = num_heatmaps``) never mix groups.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .projection import conv1x1_prelu


class GroupResBlock(nn.Module):
    """Residual block of two grouped 3x3 convolutions: ``x + res_scale · conv(lrelu(conv(x)))``.

    Parameter names ``res.0.*`` and ``res.2.*`` match the reference (index 1 is the LeakyReLU).
    ``[B, channels, h, w] -> [B, channels, h, w]``; 207,840 parameters for (240, groups=5).
    """

    def __init__(self, channels: int, groups: int, res_scale: float = 1.0) -> None:
        super().__init__()
        if channels % groups:
            raise ValueError(f"channels ({channels}) must be divisible by groups ({groups})")
        self.res_scale = res_scale
        self.res = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=groups),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, groups=groups),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res(x) * self.res_scale


class AttentiveFusion(nn.Module):
    """The attentive fusion module (paper §3, Fig. 3), ``fusion_block`` in MMagic.

    ``conv_first`` = 1x1 conv ``C -> K·C`` + LeakyReLU(0.2); ``body`` = ``num_blocks`` :class:`GroupResBlock`
    with ``K`` groups; then ``sum_g softmax(attention)_g · feature_g``.

    Args:
        in_channels: feature channels ``C`` (48).
        num_heatmaps: number of component maps ``K`` (5).
        num_blocks: number of grouped residual blocks (7).

    Shapes: ``feature`` ``[B, C, h, w]``, ``attention`` ``[B, K, h, w]`` -> ``[B, C, h, w]``.
    Parameters (48, 5, 7): 1,466,640.
    """

    def __init__(self, in_channels: int = 48, num_heatmaps: int = 5, num_blocks: int = 7) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_heatmaps = num_heatmaps
        channels = in_channels * num_heatmaps
        self.conv_first = nn.Sequential(nn.Conv2d(in_channels, channels, 1), nn.LeakyReLU(0.2, inplace=True))
        self.body = nn.Sequential(*[GroupResBlock(channels, groups=num_heatmaps) for _ in range(num_blocks)])

    def forward(self, feature: Tensor, attention: Tensor) -> Tensor:
        if attention.dim() != 4 or attention.size(1) != self.num_heatmaps:
            raise ValueError(f"attention: expected [B, {self.num_heatmaps}, h, w], got {list(attention.shape)}")
        groups = self.body(self.conv_first(feature))                         # [B, K·C, h, w]
        b, _, h, w = groups.shape
        weights = torch.softmax(attention, dim=1).unsqueeze(2)               # [B, K, 1, h, w]
        groups = groups.view(b, self.num_heatmaps, self.in_channels, h, w)   # [B, K, C, h, w]
        return (groups * weights).sum(dim=1)


class ConcatFusion(nn.Module):
    """Ablation of the attentive fusion: plain concatenation of the component maps (``DICNet(fusion="concat")``).

    ``body(cat([feature, attention], dim=1))`` with ``body`` = 1x1 conv ``(C + K) -> C`` + PReLU(0.2).
    The attention maps enter exactly as the attentive fusion receives them (the max-normalised
    component sums of :func:`dicmini.data.landmarks.merge_to_components`, no softmax). It is the
    simplest way to inject a landmark prior, kept as an ablation baseline for the attentive fusion;
    it has no reference counterpart, so its weights cannot be exchanged with MMagic/official checkpoints.

    Shapes: ``feature`` ``[B, C, h, w]``, ``attention`` ``[B, K, h, w]`` -> ``[B, C, h, w]``.
    """

    def __init__(self, in_channels: int = 48, num_heatmaps: int = 5) -> None:
        super().__init__()
        self.num_heatmaps = num_heatmaps
        self.body = conv1x1_prelu(in_channels + num_heatmaps, in_channels)

    def forward(self, feature: Tensor, attention: Tensor) -> Tensor:
        if attention.dim() != 4 or attention.size(1) != self.num_heatmaps:
            raise ValueError(f"attention: expected [B, {self.num_heatmaps}, h, w], got {list(attention.shape)}")
        return self.body(torch.cat([feature, attention], dim=1))
