"""Weight initialisation schemes of the two references (docs/reference_implementations.md, Initialisation).

Measured caveat (dicmini): the official Kaiming-normal init is followed, in the official recipe, by loading a
*pretrained* hourglass. A Kaiming-initialised hourglass trained from scratch is not part of any recipe and
is numerically unusable: without normalisation layers its residual blocks amplify the signal, giving
heatmaps of ~1e11 at init for the default widths (and an infinite gradient at the first step for the tiny
widths). The 7 grouped residual blocks of the attentive fusion amplify the same way (measured in
``benchmarks/results/tiny_search/SUMMARY.md``: the alignment loss reached 1e11 within 50 iterations).
:func:`init_generator` therefore also offers ``"kaiming-sr"``: Kaiming on the projection/reconstruction path of
the SR branch, PyTorch's default on the landmark branch and the attentive fusion, for runs without a
pretrained hourglass.
"""

from __future__ import annotations

import torch
from torch import nn

#: Schemes of :func:`init_weights`: the values of ``TrainConfig.d_init``.
INIT_SCHEMES = ("kaiming", "default")
#: Schemes of :func:`init_generator`: the values of ``TrainConfig.init``.
GENERATOR_SCHEMES = (*INIT_SCHEMES, "kaiming-sr")

_INIT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
               nn.Linear)


def init_weights(module: nn.Module, scheme: str = "kaiming") -> nn.Module:
    """Initialise ``module`` in place and return it.

    * ``"kaiming"``: the official DIC init (``code/networks/__init__.py``, ``init_weights(net, 'kaiming')``):
      every convolution, transposed convolution and linear layer gets
      ``kaiming_normal_(weight, a=0, mode="fan_in")`` (scale 1) and a zero bias. The fan-in is PyTorch's
      (``weight.size(1) * kernel area``), as in the official code, also for transposed convolutions. PReLU
      slopes keep their constructor value (0.2). Draws from the global torch RNG in module order.
    * ``"default"``: leave PyTorch's constructor initialisation untouched (MMagic builds DIC without an
      ``init_cfg``; both references use it for the LightCNN discriminator).
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init scheme: expected {' or '.join(map(repr, INIT_SCHEMES))}, got {scheme!r}")
    if scheme == "default":
        return module
    for m in module.modules():
        if isinstance(m, _INIT_TYPES):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def init_generator(model: nn.Module, scheme: str, reconstruction_scale: float = 1.0) -> nn.Module:
    """Initialise a generator by a ``TrainConfig.init`` scheme: ``"kaiming"`` / ``"default"`` as
    :func:`init_weights` on the whole model, ``"kaiming-sr"`` = Kaiming on every layer except those of
    ``model.landmark_estimator`` and ``model.attention_block.fusion``, which keep PyTorch's default (see the
    module docstring). Then the weights of the last reconstruction conv are multiplied by
    ``reconstruction_scale`` (< 1 starts every step close to the bilinear skip path)."""
    if scheme not in GENERATOR_SCHEMES:
        raise ValueError(f"init scheme: expected one of {list(GENERATOR_SCHEMES)}, got {scheme!r}")
    if scheme != "kaiming-sr":
        init_weights(model, scheme)
    else:
        fusion = getattr(getattr(model, "attention_block", None), "fusion", None)
        keep = [getattr(model, "landmark_estimator", None), fusion]
        kept = {id(m) for k in keep if k is not None for m in k.modules()}
        for m in model.modules():
            if isinstance(m, _INIT_TYPES) and id(m) not in kept:
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    tail = getattr(model, "reconstruction", None)
    if reconstruction_scale != 1.0 and tail is not None:
        with torch.no_grad():
            tail[-1].weight.mul_(reconstruction_scale)
    return model
