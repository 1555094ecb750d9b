"""Everything the painting stages share: the canvas, the shape, the random streams and the look."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..face_shape import FaceShape
from .canvas import Canvas
from .look import Look, sample_look


@dataclass(frozen=True)
class Scene:
    """One face being painted.

    ``rng`` is the face's stream (every drawing decision, in a fixed order); ``noise`` is a second stream
    for grain offsets only, so that the same seed draws the same face at every output size.
    """

    canvas: Canvas
    shape: FaceShape
    rng: np.random.Generator
    noise: np.random.Generator
    look: Look

    @property
    def params(self) -> dict[str, float]:
        """Identity and expression parameters of the image-left half (see :mod:`dicmini.data.face_shape`)."""
        return self.shape.params


def new_scene(shape: FaceShape, rng: np.random.Generator, factor: int) -> Scene:
    """Sample the look (and seed the grain stream) from ``rng``; a blank canvas ``factor`` x the output."""
    canvas = Canvas(shape, factor)
    look = sample_look(rng)
    noise = np.random.default_rng(int(rng.integers(0, 2**63)))
    return Scene(canvas=canvas, shape=shape, rng=rng, noise=noise, look=look)
