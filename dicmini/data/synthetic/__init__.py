"""Procedural 128x128 faces whose 68 iBUG landmarks are exact by construction.

:func:`render_face` samples a face shape (:mod:`dicmini.data.face_shape`: identity, expression, pose)
and then *draws the face from those very points*: the jaw polygon is the skin boundary, the eye
contours pass through 36-47, the lips are filled between the outer (48-59) and inner (60-67)
contours, the brow hairs grow along 17-26, the nose is shaded along the bridge 27-30 with nostrils
beside 31-35. Hair, ears, neck, clothes and background are posed with the same transform.

Rendering happens on a canvas ``f`` times larger than the output (``f >= 2``, canvas >= 256 px) with
OpenCV anti-aliased drawing and NumPy shading, then an exact ``f x f`` box (area) downsample. A point
at hi-res pixel-centre coordinate ``X`` is at ``(X + 0.5) / f - 0.5`` in the output, so the returned
landmarks are in the output's convention: ``(x, y)`` = (column, row), pixel centres at integers.

What is drawn, back to front (one module each): a background (gradient, blobs, shapes, stripes or
grain; :mod:`.background`), hair (styles from buzz cut to long, fringes, partings, a strand texture
radiating from the crown, a sheen band, flyaways; :mod:`.hair`), neck, clothes and ears (:mod:`.body`),
skin (lit ellipsoid shading, specular, blush, eye-socket shadows, pore grain, freckles, moles, stubble;
:mod:`.skin`), the nose (bridge shading, tip highlight, nostrils, alar creases; :mod:`.nose`), eyes
(sclera, iris fibres, limbal ring, pupil, highlight, caruncle, lid shadow, crease, lid margin, lashes;
:mod:`.eyes`), brows as hundreds of thin hair strokes (:mod:`.brows`), and lips (two tones, highlight,
vertical creases, the line between the lips, an open mouth with teeth; :mod:`.mouth`); then the camera
(:mod:`.camera`). The fine detail (lashes, iris, brow hairs, lip creases, grain) is exactly what an x8
downsampling destroys. :mod:`.render` fixes the order; :mod:`.scene`, :mod:`.canvas`, :mod:`.look`,
:mod:`.curves` and :mod:`.grain` are what the stages share.

Everything random comes from ``np.random.default_rng(seed)``, drawn in a fixed order: the same seed
gives the same image, bit for bit, in every call and process (on one machine and library build), and
the same face at every output size (``tests/test_synthetic_pinned.py`` pins the pixels of a few
seeds). About 100+ faces/s on one CPU core at 128x128 (``python benchmarks/bench_synthetic.py``).
``python -m dicmini.data.synthetic --out FILE.png`` writes a contact sheet with the landmarks overlaid.
"""

from __future__ import annotations

from ..face_shape import FaceShape, sample_shape
from .cli import main
from .render import render_face, render_faces, supersampling_factor
from .seeds import HELD_OUT_SEED_START, is_held_out

__all__ = ["HELD_OUT_SEED_START", "is_held_out", "render_face", "render_faces", "sample_shape", "FaceShape",
           "supersampling_factor", "main"]
