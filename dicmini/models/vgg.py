"""VGG19 convolutional trunk for an optional perceptual loss (SRGAN/ESRGAN style).

Not part of DIC/DICGAN itself (paper §3.4 uses the LightCNN feature loss, see :mod:`dicmini.models.lightcnn`);
offered as the common alternative perceptual loss. Written from the VGG19 description (Simonyan & Zisserman,
configuration "E"), without torchvision: the module reproduces torchvision's ``vgg19().features`` state-dict
layout, ``features.N.weight`` / ``features.N.bias`` for the conv indices
``N in {0,2,5,7,10,12,14,16,19,21,23,25,28,30,32,34}``, so the ImageNet file ``vgg19-dcbb9e9d.pth`` loads.

Layer numbering (torchvision ``features`` indices)::

    block 1: conv1_1 0, relu1_1 1, conv1_2 2, relu1_2 3, pool1 4
    block 2: conv2_1 5, relu 6, conv2_2 7, relu 8, pool2 9
    block 3: conv3_1 10 ... conv3_4 16, relu3_4 17, pool3 18
    block 4: conv4_1 19 ... conv4_4 25, relu4_4 26, pool4 27
    block 5: conv5_1 28 ... conv5_4 34, relu5_4 35, pool5 36

Design choices:

* The **whole** 16-conv trunk (37 modules, 20,024,384 parameters) is always built, so the torchvision file
  loads strictly; ``forward`` stops at the deepest requested layer, so unused layers cost nothing.
* Loading is strict on ``features.*`` (every conv key must be present with the right shape). The
  ``classifier.*`` keys of the torchvision file (the fully connected head) are deliberately ignored; any other
  extra key is an error.
* ReLUs are not in-place, so a pre-activation output (e.g. the default ``conv5_4``, index 34) is not
  overwritten when a later layer is also requested.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from dicmini.data.degrade import MEAN

from .weights import load_state_dict_strict, read_state_dict

__all__ = ["VGG19Features", "VGG19_LAYER_NAMES", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# VGG19 configuration "E": channels of each conv, "M" = 2x2 max-pool.
_CFG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                         512, 512, 512, 512, "M"]


def _layer_names() -> list[str]:
    names: list[str] = []
    block, conv = 1, 1
    for v in _CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


#: name of every ``features`` index, e.g. ``VGG19_LAYER_NAMES[34] == 'conv5_4'``.
VGG19_LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())

_WARNED_RANDOM_VGG = False  # warn once per process


class VGG19Features(nn.Module):
    """Frozen VGG19 trunk returning intermediate features (for a perceptual loss).

    Args:
        weights: ``None`` (random init, ``pretrained = False``, one warning per process), a path to a
            torchvision-layout file such as ``vgg19-dcbb9e9d.pth`` (``torch.load(weights_only=True,
            map_location='cpu')``) or a state dict. ``classifier.*`` keys are ignored, ``features.*`` is
            loaded strictly.
        layer: the layer to return, a ``features`` index (int) or a name from :data:`VGG19_LAYER_NAMES`
            (``'conv5_4'``, ``'relu3_4'``, ``'pool2'``...). Default 34 = ``conv5_4`` *before* its ReLU, the
            layer of the ESRGAN perceptual loss. A list/tuple of layers returns a dict ``{layer: tensor}``
            keyed by the given entries.
        input_space: how inputs are normalised. ``'dicmini'`` (default): dicmini's space ``x/255 - MEAN``
            with ``MEAN = (0.509, 0.424, 0.378)`` (see :mod:`dicmini.data.degrade`), i.e. what DICNet
            produces; ``'unit'``: RGB in ``[0, 1]``; ``'imagenet'``: already ImageNet-normalised. The first
            two are converted internally to ImageNet normalisation ``(rgb01 - IMAGENET_MEAN) / IMAGENET_STD``
            with ``rgb01 = x + MEAN`` (resp. ``x``), which is what the ImageNet weights expect.

    Parameters are frozen (``requires_grad=False``) and the module stays in eval mode (``train()`` is
    overridden); gradients still flow to the input.
    """

    def __init__(
        self,
        weights: str | Path | Mapping | None = None,
        layer: str | int | Sequence[str | int] = 34,
        input_space: str = "dicmini",
    ) -> None:
        super().__init__()
        if input_space not in ("dicmini", "unit", "imagenet"):
            raise ValueError(f"input_space must be 'dicmini', 'unit' or 'imagenet', got {input_space!r}")
        self.input_space = input_space
        self.return_dict = isinstance(layer, (list, tuple))
        requested = list(layer) if self.return_dict else [layer]
        if not requested:
            raise ValueError("layer: give at least one layer")
        self.layers: list[str | int] = requested
        self._indices = [self._resolve(lay) for lay in requested]

        modules: list[nn.Module] = []
        in_ch = 3
        for v in _CFG:
            if v == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                modules += [nn.Conv2d(in_ch, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                in_ch = int(v)
        self.features = nn.Sequential(*modules)

        # non-persistent: not in the state dict, so the torchvision layout loads strictly
        offset = torch.tensor(MEAN if input_space == "dicmini" else (0.0, 0.0, 0.0)).view(1, 3, 1, 1)
        self.register_buffer("_offset", offset, persistent=False)
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        self.pretrained: bool = False
        if weights is None:
            _warn_random_vgg_once()
        else:
            self._load(weights)
            self.pretrained = True
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def _resolve(layer: str | int) -> int:
        if isinstance(layer, bool) or not isinstance(layer, (int, str)):
            raise TypeError(f"layer must be an int index or a layer name, got {layer!r}")
        if isinstance(layer, int):
            if not 0 <= layer < len(VGG19_LAYER_NAMES):
                raise ValueError(f"layer index must be in 0..{len(VGG19_LAYER_NAMES) - 1}, got {layer}")
            return layer
        if layer not in VGG19_LAYER_NAMES:
            raise ValueError(f"unknown VGG19 layer {layer!r}; valid names: {', '.join(VGG19_LAYER_NAMES)}")
        return VGG19_LAYER_NAMES.index(layer)

    def _load(self, weights: str | Path | Mapping) -> None:
        sd, source = read_state_dict(weights)
        sd = {k: v for k, v in sd.items() if not k.startswith("classifier.")}  # FC head: ignored on purpose
        load_state_dict_strict(self, sd, source, hint="expected torchvision's vgg19 layout, e.g. "
                               "vgg19-dcbb9e9d.pth; classifier.* is ignored")

    def train(self, mode: bool = True) -> VGG19Features:
        """Always stays in eval mode (frozen loss network)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str | int, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG19Features: input x must be [B, 3, H, W], got {list(x.shape)}")
        if self.input_space != "imagenet":
            x = (x + self._offset - self._mean) / self._std
        wanted = {idx: lay for idx, lay in zip(self._indices, self.layers)}
        out: dict[int, torch.Tensor] = {}
        last = max(self._indices)
        for idx, module in enumerate(self.features):
            x = module(x)
            if idx in wanted:
                out[idx] = x
            if idx == last:
                break
        if not self.return_dict:
            return out[self._indices[0]]
        return {lay: out[idx] for idx, lay in zip(self._indices, self.layers)}


def _warn_random_vgg_once() -> None:
    global _WARNED_RANDOM_VGG
    if _WARNED_RANDOM_VGG:
        return
    _WARNED_RANDOM_VGG = True
    warnings.warn(
        "VGG19Features: RANDOM weights because no pretrained file was supplied (pretrained=False); a "
        "perceptual loss on random VGG features is not meaningful. Pass weights=<path> with torchvision's "
        "ImageNet file vgg19-dcbb9e9d.pth (https://download.pytorch.org/models/vgg19-dcbb9e9d.pth).",
        UserWarning,
        stacklevel=3,
    )
