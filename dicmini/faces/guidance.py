"""dlib's landmarks, found on the model's own SR image, to guide the recovery: a test-time option for real faces.

DIC's recovery is guided at steps 2..T by its own landmark branch (paper §3.2). On real photos that branch, trained
on synthetic faces, is the weak part: on the 62 faces of the real-face benchmark its last-step NME is 11.7-14.6 %
for the models of the lever table, and the same models guided by the true landmarks gain 0.04-0.17 dB more
(docs/real_faces.md). dlib's 68-point shape predictor, run on the model's last-step SR image inside the box of the
model's own landmarks, lands closer (NME 6.6-8.7 % on those faces). :func:`detected_landmarks` returns those
points; :func:`dicmini.models.test_time.run_model` (``guide_points``) guides a second pass with them. This is not
DIC: it needs the ``dicmini[faces]`` extra and one more pass, and the landmark branch no longer decides.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ..data.degrade import denormalize, to_uint8
from ..data.landmarks import heatmaps_to_landmarks
from .detect import detect_landmarks


@torch.no_grad()
def detected_landmarks(model: nn.Module, lr: Tensor) -> np.ndarray:
    """``[B, 68, 2]`` landmarks (SR pixels) that dlib finds on ``model(lr)``'s last-step images (``lr``
    ``[B, 3, h, w]`` normalised), each inside the bounding box of the model's own last-step landmarks. The model
    runs in eval mode; its training mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        out = model(lr)
    finally:
        model.train(was_training)
    size = out.sr[-1].shape[-1]
    own = heatmaps_to_landmarks(out.heatmaps[-1].float().cpu(), image_size=size).numpy()
    images = to_uint8(denormalize(out.sr[-1].float()))
    return np.stack([detect_landmarks(image, (p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()))
                     for image, p in zip(images, own)])
