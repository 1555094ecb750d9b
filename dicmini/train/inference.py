"""Inference: load a DICNet from any supported checkpoint and super-resolve uint8 images.

DIC maps an ``h x w`` face (``h, w`` multiples of 8; 16x16 in the paper) to ``8h x 8w``; the answer is the
last recurrent step's image. Inputs should be made the way the training LR images were (PIL bicubic x1/8 of
the HR face, saved losslessly): the official test script warns "Please use png images as input" because JPEG
artefacts break the model (docs/reference_implementations.md,
Data and degradation).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.datasets import load_face_image
from ..data.degrade import denormalize, normalize, to_uint8
from ..data.image_io import is_jpeg
from ..models.convert import load_pretrained
from ..models.dic import INPUT_MULTIPLE, OUTPUT_SCALE
from ..models.test_time import run_model

#: the side of the LR faces DIC is trained on (``dicmini sr`` refuses other sizes unless ``--any-size``)
LR_SIDE = 16
#: the help of ``--flip`` (``dicmini sr``, ``test`` and ``sr-photo``)
FLIP_HELP = ("flip ensemble: also super-resolve the mirror image and average the two answers (twice the time; "
             "not part of DIC)")
#: the help of ``--consistent`` (the same commands)
CONSISTENT_HELP = ("correct each SR image so that its PIL-bicubic x1/8 downscale is exactly the input (right only for "
                   "inputs made that way, e.g. by the datasets or --simulate; not part of DIC)")

def load_model(checkpoint: str | os.PathLike | nn.Module, device: torch.device | str | None = None) -> nn.Module:
    """A DICNet in eval mode from a checkpoint path, a packaged name (``"tiny"``) or a model (returned as is,
    moved to ``device`` if given). Any format :func:`dicmini.models.load_pretrained` reads: dicmini (model or
    training checkpoints), MMagic/MMEditing, official. Raises ``FileNotFoundError`` / ``CheckpointError``
    (a ``ValueError``) with one line naming the file."""
    model = checkpoint if isinstance(checkpoint, nn.Module) else load_pretrained(checkpoint)
    if device is not None:
        model = model.to(device)
    return model


def check_lr_array(lr: np.ndarray, name: str = "lr") -> np.ndarray:
    """Validate a uint8 ``H x W x 3`` or ``B x H x W x 3`` image (sides multiples of 8) and return it."""
    arr = np.asarray(lr)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or arr.shape[-1] != 3:
        raise ValueError(f"{name}: expected a uint8 H x W x 3 or B x H x W x 3 RGB array, got "
                         f"{arr.dtype} {list(arr.shape)}")
    h, w = arr.shape[-3], arr.shape[-2]
    if h % INPUT_MULTIPLE or w % INPUT_MULTIPLE or h == 0 or w == 0:
        raise ValueError(f"{name}: image is {w}x{h}; DIC needs a width and height that are multiples of "
                         f"{INPUT_MULTIPLE} (16x16 faces in the paper)")
    return arr


@torch.no_grad()
def super_resolve(lr_uint8: np.ndarray, model: nn.Module | str | os.PathLike, *,
                  device: torch.device | str | None = None, batch_size: int = 16, flip: bool = False,
                  consistent: bool = False, guide_points: np.ndarray | None = None, sigma: float = 1.0) -> np.ndarray:
    """Super-resolve uint8 RGB faces with DIC: ``H x W x 3 -> 8H x 8W x 3`` or ``B x H x W x 3 ->
    B x 8H x 8W x 3`` (uint8, the last step's image, rounded). ``model`` is a DICNet or anything
    :func:`load_model` accepts; its training mode is restored afterwards. ``flip=True``: the mean of the answers
    for the face and its mirror image (:mod:`dicmini.models.flip_ensemble`; twice the time). ``consistent=True``:
    the image nearest to the model's whose PIL-bicubic downscale is the input (:mod:`dicmini.models.consistency`).
    ``guide_points``: ``[B, 68, 2]`` (or ``[68, 2]`` for one face) landmarks in SR pixels whose heatmaps (``sigma``)
    guide steps 2..T instead of the model's own (:mod:`dicmini.models.test_time`)."""
    arr = check_lr_array(lr_uint8)
    model = load_model(model, device)
    device = next(model.parameters()).device
    single = arr.ndim == 3
    batch = arr[None] if single else arr
    points = None if guide_points is None else np.asarray(guide_points, dtype=np.float64).reshape(-1, 68, 2)
    if points is not None and len(points) != len(batch):
        raise ValueError(f"guide_points: expected landmarks for {len(batch)} face(s), got {len(points)}")
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for start in range(0, batch.shape[0], batch_size):
            x = normalize(np.ascontiguousarray(batch[start:start + batch_size])).to(device)
            guide = None if guide_points is None else points[start:start + batch_size]
            sr = run_model(model, x, flip=flip, consistent=consistent, guide_points=guide, sigma=sigma).sr[-1]
            if not bool(torch.isfinite(sr).all()):
                raise ValueError("the model's output is not finite (NaN/inf): its weights are unusable")
            outputs.append(to_uint8(denormalize(sr.float())))
    finally:
        model.train(was_training)
    out = np.concatenate(outputs, axis=0) if outputs else np.zeros((0, *[s * OUTPUT_SCALE for s in batch.shape[1:3]],
                                                                      3), np.uint8)
    return out[0] if single else out


def read_lr_image(path: str | os.PathLike) -> tuple[np.ndarray, bool]:
    """Read an LR face for ``dicmini sr``: ``(uint8 H x W x 3, is_jpeg)``. Grayscale, 16-bit, palette and CMYK
    are converted (:func:`dicmini.data.image_io.read_rgb`); alpha and sides that are not multiples of 8 are
    refused, each with a one-line error naming the file."""
    path = Path(path)
    image = load_face_image(path)
    check_lr_array(image, str(path))
    return image, is_jpeg(path)
