"""Checks for the analysis exercises of notebooks 09b, 10 and 11 (paper §3, Fig. 2, §4.3 and §4.4).

* ``my_paired(a, b) -> (mean, std_err, frac_b_greater)`` (notebook 09b): the same faces measured twice
  (``a``: before, ``b``: after, e.g. step 1 and the last step); the mean of the per-face differences ``b - a``,
  its standard error ``std(b - a, ddof=1) / sqrt(n)`` (``nan`` for one face) and the fraction of faces with
  ``b > a`` (reference :func:`dicmini.analysis.paired`).

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

from ...analysis import paired
from ...viz.explorer import landmark_motion
from ._core import Check, Outcome, Property

__all__ = ["check_effect_vs_noise", "check_landmark_motion", "check_paired", "reference_effect_vs_noise",
           "reference_paired"]


def reference_paired(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """:func:`dicmini.analysis.paired` as the exercise's tuple: mean of ``b - a``, its standard error, and the
    fraction of pairs with ``b > a``."""
    result = paired(a, b)
    return result.mean, result.std_err, result.frac_b_greater


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


# ------------------------------------------------------------------------------------- paired comparison
def _triple(fn, a, b) -> tuple[float, float, float]:
    out = tuple(float(x) for x in fn(a, b))
    if len(out) != 3:
        raise ValueError(f"expected (mean, std_err, frac_b_greater), got {len(out)} values")
    return out


def _pd_known(fn) -> Outcome:
    got = _triple(fn, [1.0, 2.0, 3.0], [2.0, 4.0, 3.0])        # differences 1, 2, 0
    want = (1.0, 1.0 / math.sqrt(3.0), 2.0 / 3.0)
    ok = np.allclose(got, want)
    return Outcome(ok, "a = [1, 2, 3], b = [2, 4, 3]: mean +1, standard error 1/sqrt(3), b > a on 2/3",
                   f"got ({got[0]:.4f}, {got[1]:.4f}, {got[2]:.4f}), expected (1.0000, 0.5774, 0.6667): the "
                   "differences are 1, 2, 0; their std (ddof=1) is 1, divided by sqrt(3); a tie (0) is not b > a")


def _pd_sign(fn) -> Outcome:
    mean, _, frac = _triple(fn, [26.0, 27.0], [25.0, 26.5])
    ok = math.isclose(mean, -0.75) and math.isclose(frac, 0.0)
    return Outcome(ok, "the difference is b - a (after minus before): a drop is negative",
                   f"got mean {mean:+.4f}, fraction {frac:.2f} for a = [26, 27], b = [25, 26.5]; expected -0.75 "
                   "and 0: subtract a from b, count the faces where b is larger")


def _pd_paired(fn) -> Outcome:
    a = [20.0, 24.0, 28.0, 32.0]                                  # faces of very different difficulty ...
    b = [20.5, 24.5, 28.5, 32.5]                                  # ... each improved by exactly 0.5
    mean, se, frac = _triple(fn, a, b)
    ok = math.isclose(mean, 0.5) and abs(se) < 1e-12 and math.isclose(frac, 1.0)
    return Outcome(ok, "paired: every face +0.5 gives standard error 0 however much the faces differ",
                   f"got standard error {se:.4f}: take the differences face by face first, then their spread "
                   "(an unpaired error from the two groups' spreads would be about 3.65)")


def _pd_one(fn) -> Outcome:
    mean, se, frac = _triple(fn, [3.0], [4.0])
    ok = math.isclose(mean, 1.0) and math.isnan(se) and math.isclose(frac, 1.0)
    return Outcome(ok, "one face: the difference, nan for the standard error",
                   f"got ({mean:.4f}, {se}, {frac:.2f}): with a single difference no spread can be estimated")


def _pd_agree(fn) -> Outcome:
    rng = np.random.default_rng(5)
    cases = [(rng.normal(25, 2, n), rng.normal(0.3, 0.4, n)) for n in (5, 24, 62)]
    ok = all(np.allclose(_triple(fn, a, a + d), reference_paired(a, a + d)) for a, d in cases)
    return Outcome(ok, "agrees with dicmini.analysis.paired on 5, 24 and 62 random faces",
                   "mean of b - a, std(b - a, ddof=1) / sqrt(n), mean of (b > a)")


check_paired = Check(
    "paired comparison",
    [Property("known case", _pd_known), Property("sign", _pd_sign), Property("paired", _pd_paired),
     Property("one face", _pd_one), Property("agreement", _pd_agree)],
    reference_paired, "dicmini.course.checks.analysis.reference_paired (dicmini.analysis.paired)",
    doc="Check ``my_paired(a, b) -> (mean, std_err, frac_b_greater)`` (notebook 09b).")
