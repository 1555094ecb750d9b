"""The photographed expression of the synthetic faces (``synthetic_grin``): wider, smiling, often open mouths,
drawn from a stream of their own so that everything else about a face stays the same."""

import numpy as np
import pytest

from dicmini.data.face_shape import GRIN_MOUTH_WIDTH, grin, sample_params, sample_shape
from dicmini.data.synthetic import render_face
from dicmini.data.synthetic.render import expression_stream
from dicmini.train import apply_overrides, get_config

_EYES = slice(36, 48)


def _mouth_per_eye_distance(points: np.ndarray) -> tuple[float, float]:
    """(mouth width, lip opening) in eye-centre distances."""
    eyes = np.linalg.norm(points[42:48].mean(0) - points[36:42].mean(0))
    return (float(np.linalg.norm(points[54] - points[48]) / eyes),
            float(np.linalg.norm(points[66] - points[62]) / eyes))


def test_grin_widens_opens_and_lifts_the_mouth_and_keeps_the_chin_below_the_lips():
    left, right = sample_params(np.random.default_rng(4))
    before = dict(left)
    grin(np.random.default_rng(0), left, right)
    assert GRIN_MOUTH_WIDTH[0] <= left["mouth_w"] / before["mouth_w"] <= GRIN_MOUTH_WIDTH[1]
    assert left["smile"] >= 0.5 and left["teeth"] > before["teeth"]
    assert left["open"] == right["open"] and left["smile"] == right["smile"]
    for p in (left, right):
        assert p["chin_y"] >= p["nose_tip"] + 0.132 + p["mouth_gap"] + p["lip_u"] + p["lip_l"] + 0.3
    untouched = set(before) - {"mouth_w", "open", "smile", "teeth", "chin_y"}
    assert all(left[k] == before[k] for k in untouched)


def test_the_face_stream_draws_the_same_numbers_with_or_without_the_grin():
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    plain, smiling = sample_shape(a, 128), sample_shape(b, 128, expression=np.random.default_rng(1))
    assert a.random() == b.random()                                  # the same numbers were drawn
    assert plain.angle == smiling.angle and plain.yaw == smiling.yaw
    assert np.allclose(plain.landmarks[_EYES], smiling.landmarks[_EYES], atol=2.0)


def test_grin_faces_have_wider_and_more_open_mouths_like_photographed_faces():
    plain = np.array([_mouth_per_eye_distance(render_face(s)[1]) for s in range(40)])
    smiling = np.array([_mouth_per_eye_distance(render_face(s, grin=1.0)[1]) for s in range(40)])
    assert smiling[:, 0].mean() > plain[:, 0].mean() + 0.1          # the benchmark: 0.93 against 0.79
    assert smiling[:, 1].mean() > 2 * plain[:, 1].mean()            # the benchmark: 0.13 against 0.07
    assert (smiling[:, 1] > 0.1).mean() > 0.6


def test_the_grin_share_is_drawn_from_its_own_stream_and_the_default_faces_do_not_change():
    changed = []
    for seed in range(12):
        changed.append(not np.array_equal(render_face(seed)[1], render_face(seed, grin=0.5)[1]))
        assert changed[-1] == (expression_stream(seed).random() < 0.5)
    assert 0 < sum(changed) < 12
    image, points = render_face(3, grin=0.0)
    assert np.array_equal(image, render_face(3)[0]) and np.array_equal(points, render_face(3)[1])
    with pytest.raises(ValueError, match="grin"):
        render_face(0, grin=1.5)
    with pytest.raises(ValueError, match="synthetic_grin"):
        apply_overrides(get_config("tiny"), {"synthetic_grin": -0.1})

