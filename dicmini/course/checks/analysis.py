"""Checks for the analysis exercises of notebooks 10 and 11 (paper §3, Fig. 2 and §4.3).

* ``my_landmark_motion(points) -> [T - 1, N]`` (notebook 10): ``points`` ``[T, N, K, 2]``; entry ``[t, i]`` is
  the mean over the ``K`` landmarks of the Euclidean distance between step ``t + 1`` and step ``t + 2`` on face
  ``i`` (reference :func:`dicmini.viz.explorer.landmark_motion`).
* ``my_effect_vs_noise(a, b) -> (delta, sigma)`` (notebook 11): ``delta = mean(a) - mean(b)`` and its standard
  error ``sqrt(s_a^2 / n_a + s_b^2 / n_b)`` with sample standard deviations (``n - 1``); ``sigma`` is ``nan``
  when either side has fewer than two values.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ...viz.explorer import landmark_motion
from ._core import Check, Outcome, Property

__all__ = ["check_effect_vs_noise", "check_landmark_motion", "reference_effect_vs_noise"]


def reference_effect_vs_noise(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Difference of the means of ``a`` and ``b`` and the standard error of that difference."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    delta = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return delta, math.nan
    return delta, float(math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))


# ------------------------------------------------------------------------------------- landmark motion
def _points(seed: int = 0, steps: int = 4, faces: int = 3, k: int = 68) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 128, (steps, faces, k, 2))


def _lm_shape(fn) -> Outcome:
    got = np.shape(fn(_points()))
    return Outcome(got == (3, 3), "[T, N, K, 2] -> [T - 1, N] (one value per step transition and face)",
                   f"got {got} for T = 4 steps, N = 3 faces: average over the landmarks only, not over faces")


def _lm_known(fn) -> Outcome:
    p = _points(1, steps=2, faces=2)
    p[1] = p[0] + np.array([3.0, 4.0])            # every landmark moves by (3, 4): 5 px
    p[1, 1] = p[0, 1]                             # face 1 stays put
    got = np.asarray(fn(p), dtype=np.float64)
    ok = got.shape == (1, 2) and np.allclose(got, [[5.0, 0.0]])
    return Outcome(ok, "a move of (3, 4) px is 5 px; landmarks that stay put move 0 px",
                   f"got {np.round(got, 3).tolist()}, expected [[5.0, 0.0]]: Euclidean distance (sqrt of the "
                   "summed squares of dx and dy) per landmark, then the mean")


def _lm_agree(fn) -> Outcome:
    p = _points(2)
    got, want = np.asarray(fn(p), dtype=np.float64), landmark_motion(p)
    ok = got.shape == want.shape and np.allclose(got, want, atol=1e-6)
    return Outcome(ok, "equals dicmini.viz.explorer.landmark_motion on random points",
                   "compare consecutive steps (t with t + 1), not every step with the first")


check_landmark_motion = Check(
    "landmark motion",
    [Property("shape", _lm_shape), Property("known motion", _lm_known), Property("agreement", _lm_agree)],
    landmark_motion, "dicmini.viz.explorer.landmark_motion",
    doc="Check ``my_landmark_motion(points)`` (notebook 10).")


# ------------------------------------------------------------------------------------- effect vs noise
def _ev_known(fn) -> Outcome:
    d, s = fn([1.0, 3.0], [0.0, 2.0])
    ok = math.isclose(float(d), 1.0) and math.isclose(float(s), math.sqrt(2.0))
    return Outcome(ok, "[1, 3] vs [0, 2]: difference 1, standard error sqrt(2) (sample std, n - 1)",
                   f"got ({float(d):.4f}, {float(s):.4f}): use var(ddof=1) / n for each side, add, take the sqrt")


def _ev_sign(fn) -> Outcome:
    d, _ = fn([5.0, 5.2], [4.0, 4.2])
    return Outcome(math.isclose(float(d), 1.0), "the difference is mean(a) - mean(b)",
                   f"got {float(d):.4f} for a = [5, 5.2], b = [4, 4.2]: subtract b's mean from a's")


def _ev_one_seed(fn) -> Outcome:
    d, s = fn([1.0], [0.0, 2.0])
    ok = math.isclose(float(d), 0.0, abs_tol=1e-12) and math.isnan(float(s))
    return Outcome(ok, "one seed on a side: the difference, and nan for the noise",
                   f"got ({float(d):.4f}, {float(s)}): with fewer than 2 values no spread can be estimated")


def _ev_agree(fn) -> Outcome:
    cases = [([26.1, 26.3, 26.2], [26.0, 26.4]), ([5.0, 5.0], [4.0, 4.0]), ([0.1, 0.4, 0.2, 0.9], [0.3, 0.35, 0.5])]
    ok = all(np.allclose([float(x) for x in fn(a, b)], reference_effect_vs_noise(a, b)) for a, b in cases)
    return Outcome(ok, "agrees with the reference on three more cases (different seed counts per side)",
                   "each side's variance is divided by its own number of seeds")


check_effect_vs_noise = Check(
    "effect vs noise",
    [Property("known case", _ev_known), Property("sign", _ev_sign), Property("one seed", _ev_one_seed),
     Property("agreement", _ev_agree)],
    reference_effect_vs_noise, "dicmini.course.checks.analysis.reference_effect_vs_noise",
    doc="Check ``my_effect_vs_noise(a, b)`` (notebook 11).")
