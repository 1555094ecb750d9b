"""The flip ensemble: super-resolve a face and its mirror image, mirror the second answer back, average.

A test-time option, not part of DIC: the paper reports single passes. Averaging over mirrored inputs is the
"self-ensemble" of example-based SR (Timofte, Rothe & Van Gool, CVPR 2016, "Seven ways to improve example-based
single image super resolution"; Lim et al., CVPRW 2017, EDSR+, which also uses rotations). A face is close to
mirror-symmetric, so its mirror image is a face of the same kind, and the model's two answers differ where it
guesses. The squared error of their mean is never above the mean of their squared errors, and below it wherever the
two guesses differ. Rotations are left out: a face on its side is no portrait.

It doubles the cost of a forward pass. Only the images are averaged; the heatmaps are those of the plain pass.
The heatmap grid puts cell ``u`` at image column ``u * image_size / grid`` (:mod:`dicmini.data.landmarks`), so a
mirrored heatmap sits ``image_size / grid - 1`` pixels off; averaging it in would blur the points.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .dic import DICOutput


def flip_ensemble(model: nn.Module, lr: Tensor, guidance: Tensor | None = None,
                  mirrored_guidance: Tensor | None = None) -> DICOutput:
    """``model(lr)`` with every step's image replaced by the mean of that image and the mirrored image of
    ``model(mirrored lr)``; heatmaps from ``model(lr)``. ``lr``: ``[B, 3, h, w]``; ``model`` returns a
    :class:`~dicmini.models.DICOutput`. The result is mirror-equivariant: mirroring ``lr`` mirrors every image.
    ``guidance`` / ``mirrored_guidance``: heatmaps that guide steps 2..T of the two passes (both or neither)."""
    if (guidance is None) != (mirrored_guidance is None):
        raise ValueError("flip_ensemble: give guidance for both passes or for neither")
    plain = model(lr) if guidance is None else model(lr, guidance=guidance)
    flipped = torch.flip(lr, dims=[-1])
    mirrored = model(flipped) if mirrored_guidance is None else model(flipped, guidance=mirrored_guidance)
    images: list[Tensor] = [(a + torch.flip(b, dims=[-1])) / 2 for a, b in zip(plain.sr, mirrored.sr)]
    return DICOutput(images, plain.heatmaps)
