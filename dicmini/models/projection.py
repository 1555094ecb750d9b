"""Projection units of the SRFBN feedback block: the up/down back-projection pair and 1x1 transitions.

DIC's recovery branch re-uses the feedback block of SRFBN (Li et al., CVPR 2019), paper §3.1 and
Fig. 2; reference code: docs/reference_implementations.md, Feedback blocks. Every unit is a convolution
followed by a single-slope PReLU:

* **up-projection**   ``ConvTranspose2d(k = s + 4, stride = s, padding = 2)`` + PReLU: ``n x n -> n·s x n·s``
* **down-projection** ``Conv2d(k = s + 4, stride = s, padding = 2)`` + PReLU:          ``n·s x n·s -> n x n``
* **transition**      ``Conv2d(k = 1)`` + PReLU (compression of concatenated features).

For ``s = 2, 3, 4, 8`` this gives the (kernel, stride, padding) table of the official SRFBN code
((6,2,2), (7,3,2), (8,4,2), (12,8,2)). The size identities ``(n - 1)·s - 4 + (s + 4) = n·s`` and
``(n·s + 4 - (s + 4)) / s + 1 = n`` hold for every ``n``, so the units work on any grid size.

Each unit is a two-element :class:`torch.nn.Sequential` (conv at index 0, PReLU at index 1) so that
the parameter names ``<unit>.0.weight``, ``<unit>.0.bias``, ``<unit>.1.weight`` match the reference
state dicts (docs/reference_implementations.md, State-dict layout).
"""

from __future__ import annotations

from torch import nn

from .prelu import PReLU

#: Padding of every projection unit (both references).
PROJECTION_PADDING = 2
#: PReLU slope used inside the feedback blocks; the reference hard-codes it
#: (docs/reference_implementations.md, Input and output layers).
BLOCK_PRELU_INIT = 0.2


def projection_kernel_size(upscale_factor: int) -> int:
    """Kernel size of the up/down projection units for an internal scale ``upscale_factor`` (= s + 4)."""
    return upscale_factor + 4


def up_projection(channels: int, upscale_factor: int, prelu_init: float = BLOCK_PRELU_INIT) -> nn.Sequential:
    """``Deconv(k=s+4, stride=s, padding=2) + PReLU``: ``[B, C, n, n] -> [B, C, n·s, n·s]``."""
    return nn.Sequential(
        nn.ConvTranspose2d(channels, channels, projection_kernel_size(upscale_factor), stride=upscale_factor,
                           padding=PROJECTION_PADDING),
        PReLU(init=prelu_init),
    )


def down_projection(channels: int, upscale_factor: int, prelu_init: float = BLOCK_PRELU_INIT) -> nn.Sequential:
    """``Conv(k=s+4, stride=s, padding=2) + PReLU``: ``[B, C, n·s, n·s] -> [B, C, n, n]``."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, projection_kernel_size(upscale_factor), stride=upscale_factor,
                  padding=PROJECTION_PADDING),
        PReLU(init=prelu_init),
    )


def conv1x1_prelu(in_channels: int, out_channels: int, prelu_init: float = BLOCK_PRELU_INIT) -> nn.Sequential:
    """``Conv(k=1) + PReLU``: the compression / transition unit of the feedback block."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), PReLU(init=prelu_init))
