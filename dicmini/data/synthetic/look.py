"""A face's look: skin, hair, brow and iris colours, the key light and the sex (for hair and stubble)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SKIN_TONES = np.array([[0.98, 0.86, 0.77], [0.95, 0.78, 0.66], [0.88, 0.67, 0.53], [0.76, 0.55, 0.40],
                       [0.60, 0.41, 0.28], [0.44, 0.29, 0.19], [0.30, 0.20, 0.14]])
HAIR_COLOURS = np.array([[0.04, 0.035, 0.03], [0.13, 0.085, 0.055], [0.28, 0.18, 0.10], [0.48, 0.33, 0.18],
                         [0.80, 0.65, 0.42], [0.52, 0.20, 0.08], [0.62, 0.61, 0.60], [0.90, 0.88, 0.84],
                         [0.55, 0.12, 0.30], [0.15, 0.25, 0.55]])
HAIR_WEIGHTS = np.array([0.25, 0.25, 0.17, 0.11, 0.09, 0.05, 0.04, 0.02, 0.01, 0.01])
FIRST_DYED = 8  # hair colours from this index on are dyed (brows stay natural)
IRIS_COLOURS = np.array([[0.30, 0.17, 0.08], [0.16, 0.09, 0.05], [0.42, 0.32, 0.14], [0.28, 0.42, 0.24],
                         [0.30, 0.46, 0.66], [0.45, 0.50, 0.55]])
IRIS_WEIGHTS = np.array([0.3, 0.3, 0.12, 0.08, 0.13, 0.07])
LIPSTICKS = np.array([[0.70, 0.08, 0.12], [0.86, 0.38, 0.48], [0.45, 0.12, 0.22], [0.88, 0.42, 0.36]])


def pick_colour(rng: np.random.Generator, table: np.ndarray, weights: np.ndarray | None = None,
                jitter: float = 0.05) -> np.ndarray:
    """A random row of ``table`` (with probabilities ``weights``), each channel jittered by ``jitter``."""
    c = table[rng.choice(len(table), p=weights)]
    return np.clip(c * (1.0 + rng.normal(0.0, jitter, 3)), 0.0, 1.0)


@dataclass(frozen=True)
class Look:
    """Colours (RGB in [0, 1]) and lighting of one face."""

    skin: np.ndarray
    hair: np.ndarray
    brow: np.ndarray  # always darker than the skin
    iris: np.ndarray
    light: np.ndarray  # unit vector towards the key light, face frame (x right, y down, z to the camera)
    ambient: float
    male: bool


def sample_skin(rng: np.random.Generator) -> np.ndarray:
    """A skin colour from light to dark (lighter more often), jittered within natural skin hues."""
    t = (len(SKIN_TONES) - 1.0) * rng.uniform(0.0, 1.0) ** 1.6
    i = min(int(t), len(SKIN_TONES) - 2)
    skin = SKIN_TONES[i] + (SKIN_TONES[i + 1] - SKIN_TONES[i]) * (t - i)
    # lightness and hue jitter that stays within skin hues (R > G > B, G/R and B/G in natural ranges)
    skin = skin * rng.uniform(0.92, 1.06) * np.array([1.0, rng.uniform(0.95, 1.02), rng.uniform(0.9, 1.06)])
    skin[1] = np.clip(skin[1], 0.6 * skin[0], 0.84 * skin[0])
    skin[2] = np.clip(skin[2], 0.62 * skin[1], 0.88 * skin[1])
    return np.clip(skin, 0.05, 1.0)


def sample_hair_and_brows(rng: np.random.Generator, skin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hair colour (sometimes dyed) and a natural brow colour darker than ``skin``."""
    k = rng.choice(len(HAIR_COLOURS), p=HAIR_WEIGHTS)
    hair = np.clip(HAIR_COLOURS[k] * (1.0 + rng.normal(0.0, 0.08, 3)), 0.0, 1.0)
    natural = hair if k < FIRST_DYED else HAIR_COLOURS[1]
    brow = natural if natural.mean() < 0.5 else natural * 0.5 + 0.05
    return hair, np.minimum(brow, skin * 0.55)


def sample_look(rng: np.random.Generator) -> Look:
    """Skin, hair, brows, iris, the key light (mostly from above) and the ambient level."""
    skin = sample_skin(rng)
    hair, brow = sample_hair_and_brows(rng, skin)
    iris = pick_colour(rng, IRIS_COLOURS, IRIS_WEIGHTS, 0.1)
    lx, ly = rng.normal(0.0, 0.45), rng.normal(-0.25, 0.3)
    light = np.array([lx, ly, rng.uniform(0.7, 1.3)])
    ambient = rng.uniform(0.35, 0.6)
    male = rng.random() < 0.5
    return Look(skin=skin, hair=hair, brow=brow, iris=iris, light=light / np.linalg.norm(light), ambient=ambient,
                male=male)
