"""The test-time options of every command that runs a model: the flip ensemble, consistency with the input, and
landmarks from elsewhere to guide the recovery.

None is part of DIC (the paper reports single passes guided by the model's own landmarks). They combine: the
ensemble averages the two passes (:mod:`~dicmini.models.flip_ensemble`), then every step's image is projected onto
the images consistent with the input (:mod:`~dicmini.models.consistency`). The order does not matter: the bicubic
downscaling is mirror-symmetric and the projection is affine, so projecting each pass and then averaging gives the
same images. Given landmarks (``guide_points``), steps 2..T are guided by their heatmaps instead of the model's
own estimate (the ``guidance`` of :meth:`~dicmini.models.DICNet.forward`); the mirrored pass gets the mirrored
points (:func:`~dicmini.data.landmarks.flip_landmarks`), rendered anew rather than flipped as maps.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ..data.landmarks import flip_landmarks, landmarks_to_heatmaps
from .consistency import consistent_output
from .dic import DICOutput
from .flip_ensemble import flip_ensemble


def guidance_maps(points: np.ndarray, lr: Tensor, sigma: float) -> Tensor:
    """Heatmaps ``[B, 68, 2h, 2w]`` on ``lr``'s feature grid (``lr``: ``[B, 3, h, w]``) of ``points``
    ``[B, 68, 2]`` given in SR pixels (``8h x 8w``), Gaussians of ``sigma`` (the one the model was trained with)."""
    b, _, h, w = lr.shape
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (b, 68, 2):
        raise ValueError(f"guide_points: expected [{b}, 68, 2] landmarks, got {list(points.shape)}")
    if h != w:
        raise ValueError(f"guide_points: guidance needs square faces, got {w} x {h}")
    maps = np.stack([landmarks_to_heatmaps(p, 8 * h, 2 * h, sigma) for p in points])
    return torch.from_numpy(maps).to(device=lr.device, dtype=lr.dtype)


def run_model(model: nn.Module, lr: Tensor, *, flip: bool = False, consistent: bool = False,
              guide_points: np.ndarray | None = None, sigma: float = 1.0) -> DICOutput:
    """``model(lr)`` (``lr`` ``[B, 3, h, w]``, normalised) with the flip ensemble if ``flip``, steps 2..T guided by
    the landmarks ``guide_points`` (``[B, 68, 2]`` in SR pixels, heatmaps of ``sigma``) if given, and every step's
    image made consistent with ``lr`` if ``consistent``. Runs under the caller's grad mode."""
    if guide_points is None:
        out = flip_ensemble(model, lr) if flip else model(lr)
    else:
        guide = guidance_maps(guide_points, lr, sigma)
        if flip:
            mirrored = guidance_maps(flip_landmarks(guide_points, 8 * lr.shape[-1]), lr, sigma)
            out = flip_ensemble(model, lr, guide, mirrored)
        else:
            out = model(lr, guidance=guide)
    return consistent_output(out, lr) if consistent else out
