"""Per-iteration changes to a DIC training batch, and the random stream they draw from.

Each change applies, face by face, with the probability its :class:`~dicmini.train.config.TrainConfig` setting
gives (0 = never, as the references), before the batch reaches the model. Every draw comes from
:func:`iteration_rng`, a function of the seed, the iteration and a salt, so a resumed run sees the same faces. The
order is the one a photograph goes through: framing, the face itself, light, camera.

* :func:`crop_rule` (``hr_crop_rule``): the face re-framed by the crop rule of real photos
  (:mod:`dicmini.data.crop`); landmarks, heatmaps and input made again.
* :func:`soft_features` (``hr_soft_features``): the eyes, brows and lips softened to a photo's contrast
  (:mod:`dicmini.data.soft_features`); input made again.
* :func:`lighting` (``hr_lighting``): the HR face relit (:mod:`dicmini.data.lighting`); input made again.
* :func:`camera` (``hr_camera``): the HR face through a random camera (:mod:`dicmini.data.camera_effects`); input
  made again.

Each is dicmini's, for faces that look more like the real-face benchmark's (docs/real_faces.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ..data.camera_effects import camera_effects
from ..data.crop import crop_with_landmarks
from ..data.degrade import denormalize, downsample, normalize, to_uint8
from ..data.landmarks import landmarks_to_heatmaps
from ..data.lighting import relight
from ..data.soft_features import soften_features
from .config import TrainConfig

Batch = Mapping[str, Any]
#: a change of one uint8 HR face (given with its 68 landmarks) that moves no pixel, drawing from the stream it is given
FaceEffect = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


def iteration_rng(config: TrainConfig, step: int, salt: int) -> np.random.Generator:
    """A random stream that is a function of the seed, the iteration and ``salt`` only: resume-exact, and the
    same on every process."""
    return np.random.default_rng([int(config.seed or 0), step, salt])


def _picks(batch: Batch, config: TrainConfig, step: int, p: float,
           salt: int) -> tuple[np.ndarray, np.random.Generator] | None:
    """The faces of the batch that change this iteration (each with probability ``p``) and the stream to draw with;
    None when none does."""
    if p <= 0:
        return None
    rng = iteration_rng(config, step, salt)
    picks = np.flatnonzero(rng.random(batch["hr"].size(0)) < p)
    return (picks, rng) if len(picks) else None


def crop_rule(batch: Batch, config: TrainConfig, step: int) -> Batch:
    """Each face, with probability ``hr_crop_rule``, re-framed by the crop rule of real photos
    (:func:`dicmini.data.crop.crop_with_landmarks`: the square of side 1.6 x the landmarks' extent, centred between
    the eyes and the mouth, border pixels replicated, PIL bicubic back to the HR size); its landmarks, heatmaps and
    LR input are made again from the new HR face."""
    chosen = _picks(batch, config, step, config.hr_crop_rule, 0x6372)
    if chosen is None:
        return batch
    hr, lr, heat, points = (batch[k].clone() for k in ("hr", "lr", "heatmaps", "landmarks"))
    size, grid = hr.size(-1), heat.size(-1)
    scale = size // lr.size(-1)     # the SR factor of the data (x8)
    for i in chosen[0]:
        face, moved, _ = crop_with_landmarks(to_uint8(denormalize(hr[i])), points[i].numpy(), size)
        hr[i], lr[i] = normalize(face), normalize(downsample(face, scale))
        points[i] = torch.from_numpy(moved.astype(np.float32))
        heat[i] = torch.from_numpy(landmarks_to_heatmaps(moved, size, grid, config.heatmap_sigma))
    return {**batch, "hr": hr, "lr": lr, "heatmaps": heat, "landmarks": points}


def remake(batch: Batch, config: TrainConfig, step: int, p: float, salt: int, effect: FaceEffect) -> Batch:
    """Each face, with probability ``p``, through ``effect``; its LR input is made again from the new HR face by the
    x8 degradation. Landmarks and heatmaps are kept (the effect moves no pixel)."""
    chosen = _picks(batch, config, step, p, salt)
    if chosen is None:
        return batch
    picks, rng = chosen
    hr, lr = batch["hr"].clone(), batch["lr"].clone()
    scale = hr.size(-1) // lr.size(-1)     # the SR factor of the data (x8)
    for i in picks:
        face = effect(to_uint8(denormalize(hr[i])), batch["landmarks"][i].numpy(), rng)
        hr[i], lr[i] = normalize(face), normalize(downsample(face, scale))
    return {**batch, "hr": hr, "lr": lr}


def soft_features(batch: Batch, config: TrainConfig, step: int) -> Batch:
    """Each HR face, with probability ``hr_soft_features``, with its eyes, brows and lips softened
    (:func:`dicmini.data.soft_features.soften_features`, which reads the face's landmarks)."""
    return remake(batch, config, step, config.hr_soft_features, 0x7366, soften_features)


def lighting(batch: Batch, config: TrainConfig, step: int) -> Batch:
    """Each HR face, with probability ``hr_lighting``, under a random light (:func:`dicmini.data.lighting.relight`)."""
    return remake(batch, config, step, config.hr_lighting, 0x6c69, lambda face, _, rng: relight(face, rng))


def camera(batch: Batch, config: TrainConfig, step: int) -> Batch:
    """Each HR face, with probability ``hr_camera``, through a random camera
    (:func:`dicmini.data.camera_effects.camera_effects`: each effect with probability ``hr_camera_effects``, the
    blur's sigma drawn from ``hr_camera_blur``)."""
    def effect(face: np.ndarray, _: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return camera_effects(face, rng, config.hr_camera_blur, config.hr_camera_effects)

    return remake(batch, config, step, config.hr_camera, 0x6361, effect)


def jittered_guidance(batch: Batch, config: TrainConfig, step: int) -> torch.Tensor:
    """The ground-truth heatmaps of the batch made from landmarks moved as a real face's estimate is
    (``guidance_jitter`` = j): each face shifted by N(0, j), scaled by exp(N(0, j / 2)) and rotated by N(0, j / 2)
    radians about its centre, then each point by N(0, j / 2), all in units of its outer-eye-corner distance
    (points 36, 45). dicmini: on real faces the landmark branch is ~0.14 off, not ~0.03 as on synthetic ones,
    so steps 2..T must not trust the prior's exact place."""
    j = config.guidance_jitter
    if j <= 0:
        return batch["heatmaps"]
    points = batch["landmarks"].double()
    rng = iteration_rng(config, step, 0x6a74)
    n = points.size(0)
    scale = torch.linalg.vector_norm(points[:, 45] - points[:, 36], dim=-1)[:, None, None]
    centre = points.mean(dim=1, keepdim=True)
    angle = torch.from_numpy(rng.normal(0.0, j / 2, n))
    rot = torch.stack([torch.stack([angle.cos(), -angle.sin()], -1), torch.stack([angle.sin(), angle.cos()], -1)], -2)
    zoom = torch.from_numpy(np.exp(rng.normal(0.0, j / 2, n)))[:, None, None]
    shift = torch.from_numpy(rng.normal(0.0, j, (n, 1, 2))) * scale
    wobble = torch.from_numpy(rng.normal(0.0, j / 2, points.shape)) * scale
    moved = (points - centre) @ rot.transpose(-1, -2) * zoom + centre + shift + wobble
    heat = batch["heatmaps"]
    maps = landmarks_to_heatmaps(moved, batch["hr"].size(-1), heat.size(-1), config.heatmap_sigma)
    return maps.to(heat.dtype)


def augment(batch: Batch, config: TrainConfig, step: int) -> Batch:
    """All of them, in a photograph's order: framing, the face's features, light, camera (the batch itself is
    never changed)."""
    batch = soft_features(crop_rule(batch, config, step), config, step)
    return camera(lighting(batch, config, step), config, step)


__all__ = ["iteration_rng", "crop_rule", "remake", "soft_features", "lighting", "camera", "augment",
           "jittered_guidance"]
