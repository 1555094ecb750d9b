"""Rendering a face: sample the shape, paint it on a supersampled canvas in a fixed order, develop."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from ..face_shape import PORTRAIT_YAW, sample_shape
from ..landmarks import NUM_LANDMARKS
from .background import draw_background
from .body import draw_ears, draw_neck_and_clothes
from .brows import draw_brows
from .camera import develop
from .dead_leaves import backdrop_stream, dead_leaves
from .eyes import draw_eyes
from .hair import composite_hair, draw_front_hair, hair_texture, sample_hair
from .mouth import draw_mouth
from .nose import draw_nose
from .scene import Scene, new_scene
from .seeds import check_seed
from .skin import draw_skin, draw_skin_marks, forehead_arc


def check_size(size: object) -> int:
    """``size`` as an ``int``; a ``ValueError`` naming it unless it is an integer >= 16."""
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size: expected an integer >= 16, got {size!r}")
    return int(size)


def supersampling_factor(size: int) -> int:
    """Canvas / output ratio used for ``size``: at least 2, and a canvas of at least 256 pixels."""
    return max(2, -(-256 // size))


def paint(scene: Scene, backdrop: np.random.Generator | None = None) -> np.ndarray:
    """Paint the whole face, back to front; returns the canvas pixels.

    The order is part of the output: every stage draws from ``scene.rng`` in turn. With a ``backdrop`` stream the
    background is then replaced by a dead-leaves backdrop drawn from it (:mod:`.dead_leaves`).
    """
    draw_background(scene)
    if backdrop is not None:
        scene.canvas.pixels[:] = dead_leaves(backdrop, scene.canvas.size)
    hair = sample_hair(scene)
    texture = hair_texture(scene, hair)
    composite_hair(scene, hair, texture, hair.back)
    draw_neck_and_clothes(scene)
    draw_ears(scene, hair.style)
    shading = draw_skin(scene, forehead_arc(scene.params))
    draw_skin_marks(scene, shading)
    draw_nose(scene)
    draw_eyes(scene, shading)
    draw_brows(scene, shading)
    draw_mouth(scene, shading)
    draw_front_hair(scene, hair, texture)
    return scene.canvas.pixels


def expression_stream(seed: int) -> np.random.Generator:
    """The random stream of seed ``seed``'s photographed expression, independent of the face's own stream."""
    return np.random.default_rng([seed, 0x6772696E])


def _side_stream(name: str, make: Callable[[int], np.random.Generator], seed: int,
                 chance: float) -> np.random.Generator | None:
    """Seed ``seed``'s side stream ``make(seed)`` when its first number falls under ``chance`` (the share ``name`` of
    the faces that get it), else None; the stream is not made at all when ``chance`` is 0."""
    if not 0.0 <= chance <= 1.0:
        raise ValueError(f"{name}: expected a chance in [0, 1], got {chance!r}")
    if chance == 0:
        return None
    stream = make(seed)
    return stream if stream.random() < chance else None


def render_face(seed: int, size: int = 128, yaw: tuple[float, float] = PORTRAIT_YAW,
                backdrop: float = 0.0, grin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Render synthetic face ``seed``: ``(image uint8 size x size x 3 RGB, landmarks float32 68 x 2)``.

    Landmarks are ``(x, y)`` pixels of the returned image (pixel centres at integers), in the iBUG
    68-point order, and are exactly the points the face was drawn from. Deterministic per seed; seeds
    ``>= HELD_OUT_SEED_START`` are reserved for held-out evaluation. ``yaw`` = (standard deviation, limit) of
    the head's yaw in degrees (:func:`dicmini.data.face_shape.sample_shape`). ``backdrop`` is the chance (0-1) that
    the background is a dead-leaves backdrop (:mod:`.dead_leaves`); the face itself is the same either way.
    ``grin`` is the chance that the face wears a photographed expression (a wider, smiling, often open mouth:
    :func:`dicmini.data.face_shape.grin`); everything else about the face stays the same.
    """
    seed = check_seed(seed, "seed")
    size = check_size(size)
    leaves = _side_stream("backdrop", backdrop_stream, seed, backdrop)
    expression = _side_stream("grin", expression_stream, seed, grin)
    rng = np.random.default_rng(seed)
    shape = sample_shape(rng, size, yaw, expression)
    scene = new_scene(shape, rng, supersampling_factor(size))
    image = develop(paint(scene, leaves), size, rng, scene.noise)
    points = shape.landmarks.astype(np.float32)
    assert points.shape == (NUM_LANDMARKS, 2)
    return image, points


def render_faces(seeds: Iterable[int], size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Render several faces: ``(images uint8 N x size x size x 3, landmarks float32 N x 68 x 2)``."""
    out = [render_face(s, size) for s in seeds]
    if not out:
        size = check_size(size)
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, NUM_LANDMARKS, 2), np.float32)
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])
