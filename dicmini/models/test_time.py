"""The test-time options of every command that runs a model: the flip ensemble and consistency with the input.

Neither is part of DIC (the paper reports single passes). Each can be switched on alone or both together: the
ensemble averages the two passes (:mod:`~dicmini.models.flip_ensemble`), then every step's image is projected onto
the images consistent with the input (:mod:`~dicmini.models.consistency`). The order does not matter: the
bicubic downscaling is mirror-symmetric and the projection is affine, so projecting each pass and then averaging
gives the same images.
"""

from __future__ import annotations

from torch import Tensor, nn

from .consistency import consistent_output
from .dic import DICOutput
from .flip_ensemble import flip_ensemble


def run_model(model: nn.Module, lr: Tensor, *, flip: bool = False, consistent: bool = False) -> DICOutput:
    """``model(lr)`` (``lr`` ``[B, 3, h, w]``, normalised), with the flip ensemble if ``flip`` and every step's
    image made consistent with ``lr`` if ``consistent``. Runs under the caller's grad mode."""
    out = flip_ensemble(model, lr) if flip else model(lr)
    return consistent_output(out, lr) if consistent else out
