"""LightCNN-9: the DICGAN discriminator and the feature (identity) loss network.

Paper §3.4 ("DICGAN"): besides the pixel and alignment losses, DICGAN adds

* an **adversarial loss** from a discriminator ``D`` (``BCEWithLogits(D(SR), 1)``, weight 0.005), and
* a **feature loss** ``L1(F(SR), F(HR))`` (weight 0.1) measured by a face-recognition network ``F``.

Both reference implementations use the 9-layer LightCNN for ``D`` and its convolutional part for ``F``
(docs/reference_implementations.md, DICGAN networks). LightCNN replaces ReLU by the *max-feature-map* (MFM)
activation: a filter produces ``2 * out`` channels and the output keeps, element by element, the larger of the two
halves (:class:`MaxFeature`).

State-dict layout is MMagic's (docs/reference_implementations.md, State-dict layout):
``features.{0,2,3,5,6,8,9,10,11}.filter.*``, ``classifier.0.filter.*``, ``classifier.2.*``. The official
repository groups each 1x1 + 3x3 pair into a ``group`` module (``features.{2,4,6,7}.conv_a`` / ``.conv``);
:func:`lightcnn_from_official` converts.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .weights import load_state_dict_strict, read_state_dict

__all__ = [
    "MaxFeature",
    "LightCNN",
    "LightCNNFeature",
    "lightcnn_from_official",
    "read_lightcnn_weights",
    "LIGHTCNN_INPUT_SIZE",
]

#: LightCNN's classifier expects ``8 * 8 * 128`` features, i.e. a 128x128 input (four 2x poolings).
LIGHTCNN_INPUT_SIZE: int = 128

_WARNED_RANDOM_FEATURE = False  # warn once per process (see LightCNNFeature)


class MaxFeature(nn.Module):
    """Max-feature-map activation of LightCNN (official ``mfm``).

    ``filter`` is a ``Conv2d(in, 2*out, k, s, p)`` (``filter_type='conv2d'``) or a ``Linear(in, 2*out)``
    (``filter_type='linear'``); the output is the elementwise maximum of the two channel halves, so it has
    ``out_channels`` channels. Parameters are stored as ``filter.weight`` / ``filter.bias``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        filter_type: str = "conv2d",
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        if filter_type == "conv2d":
            self.filter: nn.Module = nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, padding)
        elif filter_type == "linear":
            self.filter = nn.Linear(in_channels, 2 * out_channels)
        else:
            raise ValueError(f"filter_type must be 'conv2d' or 'linear', got {filter_type!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.chunk(self.filter(x), 2, dim=1)
        return torch.max(a, b)


def _lightcnn_features(in_channels: int) -> nn.Sequential:
    """The 13-module convolutional trunk of LightCNN-9, ``[B,C,128,128] -> [B,128,8,8]``."""

    def pool() -> nn.MaxPool2d:
        return nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)

    return nn.Sequential(
        MaxFeature(in_channels, 48, 5, 1, 2),  # 0
        pool(),  # 1: 128 -> 64
        MaxFeature(48, 48, 1, 1, 0),  # 2  (official group 2, conv_a)
        MaxFeature(48, 96, 3, 1, 1),  # 3  (official group 2, conv)
        pool(),  # 4: -> 32
        MaxFeature(96, 96, 1, 1, 0),  # 5  (official group 4)
        MaxFeature(96, 192, 3, 1, 1),  # 6
        pool(),  # 7: -> 16
        MaxFeature(192, 192, 1, 1, 0),  # 8  (official group 6)
        MaxFeature(192, 128, 3, 1, 1),  # 9
        MaxFeature(128, 128, 1, 1, 0),  # 10 (official group 7)
        MaxFeature(128, 128, 3, 1, 1),  # 11
        pool(),  # 12: -> 8
    )


class LightCNN(nn.Module):
    """LightCNN-9 discriminator of DICGAN (paper §3.4 adversarial loss).

    ``features`` maps a ``[B, in_channels, 128, 128]`` image (dicmini's normalised space) to
    ``[B, 128, 8, 8]``; ``classifier`` = ``MaxFeature(8192, 256, 'linear')``, ``LeakyReLU(0.2)``,
    ``Linear(256, 1)``. ``forward`` returns raw logits ``[B, 1]`` (use ``BCEWithLogits``).
    No normalisation layers, no spectral norm; 5,485,921 parameters for ``in_channels=3``.
    PyTorch default initialisation (as both references; docs/reference_implementations.md, Initialisation).
    """

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.features = _lightcnn_features(in_channels)
        self.classifier = nn.Sequential(
            MaxFeature(8 * 8 * 128, 256, filter_type="linear"),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Linear(256, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[-2:]) != (128, 128):
            raise ValueError(
                f"LightCNN: input x must have shape [B, {self.in_channels}, {LIGHTCNN_INPUT_SIZE}, "
                f"{LIGHTCNN_INPUT_SIZE}] (the classifier expects 8*8*128 features), got {list(x.shape)}"
            )
        feat = self.features(x)
        return self.classifier(feat.reshape(feat.shape[0], -1))


# --------------------------------------------------------------------------------------------------
# Official <-> MMagic key layout
# --------------------------------------------------------------------------------------------------

#: official ``group`` index -> (MMagic index of its 1x1 ``conv_a``, MMagic index of its 3x3 ``conv``)
_OFFICIAL_GROUPS: dict[int, tuple[int, int]] = {2: (2, 3), 4: (5, 6), 6: (8, 9), 7: (10, 11)}
_OFFICIAL_GROUP_KEY = re.compile(r"^features\.(\d+)\.(conv_a|conv)\.(.+)$")


def lightcnn_from_official(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert an official-repo LightCNN-9 state dict (``network_9layers``) to the MMagic layout.

    Rules (the ones listed in ``official_to_mmagic_lightcnn_keymap.txt``): the official ``group(a, b)``
    modules at ``features.{2,4,6,7}`` hold a 1x1 ``conv_a`` and a 3x3 ``conv``; MMagic flattens them, so
    ``features.g.conv_a.* -> features.m.*`` and ``features.g.conv.* -> features.(m+1).*`` with
    ``(g, m) in {(2,2), (4,5), (6,8), (7,10)}``. ``features.0.*`` and ``classifier.{0,2}.*`` are unchanged.
    Keys that match no rule are passed through unchanged (a strict load then reports them).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new_key = key
        m = _OFFICIAL_GROUP_KEY.match(key)
        if m is not None and int(m.group(1)) in _OFFICIAL_GROUPS:
            conv_a_idx, conv_idx = _OFFICIAL_GROUPS[int(m.group(1))]
            idx = conv_a_idx if m.group(2) == "conv_a" else conv_idx
            new_key = f"features.{idx}.{m.group(3)}"
        if new_key in out:
            raise ValueError(f"lightcnn_from_official: two keys map to {new_key!r}")
        out[new_key] = value
    return out


def _is_official_layout(keys) -> bool:
    return any(_OFFICIAL_GROUP_KEY.match(k) for k in keys)


def read_lightcnn_weights(weights: str | Path | Mapping) -> dict[str, torch.Tensor]:
    """Read LightCNN weights and return them in the MMagic layout.

    Accepts a file path or a dict; a checkpoint wrapped in ``'state_dict'`` (mmcv) or ``'model'``; a
    ``module.`` (DataParallel) prefix; the MMagic layout (``features.*`` / ``classifier.*``) or the official
    grouped layout (converted with :func:`lightcnn_from_official`). The result can be loaded into
    :class:`LightCNN` or :class:`LightCNNFeature` with ``load_state_dict(..., strict=True)``.
    """
    sd, _ = read_state_dict(weights)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    if _is_official_layout(sd):
        sd = lightcnn_from_official(sd)
    return sd


class LightCNNFeature(nn.Module):
    """Frozen LightCNN-9 trunk for the DICGAN feature loss (paper §3.4;
    docs/reference_implementations.md, DICGAN networks).

    Output ``[B, 128, 8, 8]`` for a 128x128 input; state-dict keys ``features.*`` exactly as in
    :class:`LightCNN`. All parameters have ``requires_grad=False`` and the module always stays in eval mode
    (``train()`` is overridden), but gradients flow to the *input*, as the feature loss
    ``0.1 * L1(F(SR), F(HR).detach())`` needs. Inputs are dicmini's normalised images (``x/255 - MEAN``),
    as the generator produces them.

    ``weights``:

    * ``None``: random initialisation, ``pretrained = False`` and a one-time warning — the loss is then
      *not* an identity loss. Supply MMagic's ``light_cnn_feature.pth``
      (https://download.openmmlab.com/mmediting/restorers/dic/light_cnn_feature.pth) or the official
      ``LightCNN_feature.pth`` (authors' Drive, ``models/``).
    * a path or a dict: loaded with ``torch.load(weights_only=True, map_location='cpu')``; MMagic layout
      (optionally wrapped in ``'state_dict'``), or the official grouped layout (converted by
      :func:`lightcnn_from_official`); a bare trunk without the ``features.`` prefix is accepted too.
      Loading is **strict**: a missing or unexpected key is an error (the official code loads with
      ``strict=False``, which silently leaves mismatched weights random). Deliberate exception:
      ``classifier.*`` entries (a full discriminator/recognition state dict) are ignored, since this network
      has no classifier. ``pretrained = True``.
    """

    def __init__(self, weights: str | Path | Mapping | None = None, in_channels: int = 3) -> None:
        super().__init__()
        self.features = _lightcnn_features(in_channels)
        self.pretrained: bool = False
        if weights is None:
            _warn_random_feature_once()
        else:
            sd = read_lightcnn_weights(weights)
            if sd and not any(k.startswith(("features.", "classifier.")) for k in sd):
                sd = {f"features.{k}": v for k, v in sd.items()}  # bare trunk (``features`` module itself)
                if _is_official_layout(sd):
                    sd = lightcnn_from_official(sd)
            sd = {k: v for k, v in sd.items() if not k.startswith("classifier.")}
            source = str(weights) if isinstance(weights, (str, Path)) else "the given state dict"
            load_state_dict_strict(self, sd, source, hint="expected the MMagic layout features.{0,2,3,5,6,8,9,10,11}."
                                   "filter.* or the official grouped layout features.{0,2,4,6,7} with conv_a/conv")
            self.pretrained = True
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LightCNNFeature:
        """Always stays in eval mode (frozen loss network)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"LightCNNFeature: input x must be [B, C, H, W], got {list(x.shape)}")
        return self.features(x)


def _warn_random_feature_once() -> None:
    global _WARNED_RANDOM_FEATURE
    if _WARNED_RANDOM_FEATURE:
        return
    _WARNED_RANDOM_FEATURE = True
    warnings.warn(
        "LightCNNFeature: the DICGAN feature loss uses RANDOM weights because no pretrained file was "
        "supplied (pretrained=False); it is then not an identity loss. Pass weights=<path> with MMagic's "
        "light_cnn_feature.pth (https://download.openmmlab.com/mmediting/restorers/dic/light_cnn_feature.pth) "
        "or the official LightCNN_feature.pth (Deep-Iterative-Collaboration, authors' Drive, models/).",
        UserWarning,
        stacklevel=3,
    )
