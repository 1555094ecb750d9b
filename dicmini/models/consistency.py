"""Consistency with the input: correct an SR image so that shrinking it again gives back the LR face exactly.

A test-time option, not part of DIC: the paper reports the network's images as they are. When the input was made
the way the datasets make it (PIL bicubic x1/8, :func:`dicmini.data.degrade.downsample`), the true face ``x``
satisfies ``A x = y``: ``A`` is that downscaling (linear, one matrix per axis,
:func:`~dicmini.data.degrade.resize_matrix`) and ``y`` the input. An SR image ``s`` usually does not. Its
*projection* onto the images that do,

    ``s' = s + A⁺ (y - A s)``,   ``A⁺ = Aᵀ (A Aᵀ)⁻¹`` (per axis),

is the consistent image nearest to ``s``. It keeps every detail the network invented in the null space of ``A``
(what the downscaling cannot see) and replaces only what the input pins down. The true face is consistent too, so
the projection never moves ``s`` away from it: ``‖s' - x‖ ≤ ‖s - x‖`` over the whole image (Pythagoras), up to the
rounding of the 8-bit input; clipping to [0, 255] afterwards keeps that. This is the back-projection of classical
multi-frame SR (Irani & Peleg, 1991) solved in one step, the "data consistency" of learned reconstruction; not to be
confused with the up- and down-projection units inside the feedback block (:mod:`dicmini.models.projection`), which
are learned.

It is right only for inputs made by PIL's bicubic x1/8. On a real small face from a camera the degradation is
unknown, and forcing the bicubic one can add ringing.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ..data.degrade import resize_matrix
from .dic import DICOutput


@functools.lru_cache(maxsize=16)
def _operators(size_in: int, size_out: int) -> tuple[Tensor, Tensor]:
    """The downscaling ``R`` (``size_out x size_in``) and its pseudo-inverse ``Rᵀ (R Rᵀ)⁻¹``, float64, cached."""
    down = torch.tensor(resize_matrix(size_in, size_out))   # a copy: the cached matrix is read-only
    return down, down.T @ torch.linalg.inv(down @ down.T)


def make_consistent(sr: Tensor, lr: Tensor) -> Tensor:
    """Project ``sr`` ``[..., 3, H, W]`` onto the images whose PIL-bicubic downscaling to ``lr``'s size
    ``[..., 3, h, w]`` equals ``lr``: ``sr + A⁺ (lr - A sr)``. Works on 0..255 images and on the normalised space
    alike (``A`` keeps constants, so the mean shift commutes). Computed in float64, returned in ``sr``'s dtype."""
    if sr.dim() < 3 or lr.dim() != sr.dim() or sr.shape[:-2] != lr.shape[:-2]:
        raise ValueError(f"sr and lr: expected [..., C, H, W] and [..., C, h, w] with the same leading sizes, "
                         f"got {list(sr.shape)} and {list(lr.shape)}")
    (height, width), (h, w) = sr.shape[-2:], lr.shape[-2:]
    if not (0 < h <= height and 0 < w <= width):
        raise ValueError(f"lr: expected at most the SR image's size {height} x {width}, got {h} x {w}")
    down_h, pinv_h = (t.to(sr.device) for t in _operators(height, h))
    down_w, pinv_w = (t.to(sr.device) for t in _operators(width, w))
    image = sr.double()
    residual = lr.double() - down_h @ image @ down_w.T
    return (image + pinv_h @ residual @ pinv_w.T).to(sr.dtype)


def consistent_output(out: DICOutput, lr: Tensor) -> DICOutput:
    """:func:`make_consistent` applied to every step's image of ``out`` (the model's answer for ``lr``); the
    heatmaps are kept."""
    return DICOutput([make_consistent(sr, lr) for sr in out.sr], out.heatmaps)
