"""Synthetic faces: API, determinism, geometry, plausibility, content on the landmarks, detail lost at x8."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from dicmini import viz
from dicmini.data.contact_sheet import GROUP_COLOURS, contact_sheet, draw_landmarks
from dicmini.data.face_shape import MEAN_SHAPE, landmark_depth, sample_shape
from dicmini.data.synthetic import HELD_OUT_SEED_START, is_held_out, render_face, render_faces

SEEDS = list(range(32))
SIZE = 128


@pytest.fixture(scope="module")
def faces():
    return [render_face(s) for s in SEEDS]


def _upright(points: np.ndarray) -> np.ndarray:
    """Landmarks rotated so that the line between the eye centres is horizontal (undoes the roll)."""
    left, right = points[36:42].mean(0), points[42:48].mean(0)
    d = right - left
    a = -np.arctan2(d[1], d[0])
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (points - points.mean(0)) @ rot.T


def _luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _cheek_colour(image: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Bare-skin colour: the per-channel median of 3x3 patches on both cheeks, the chin and the nose bridge."""
    spots = [0.5 * p[31] + 0.5 * p[3], 0.5 * p[35] + 0.5 * p[13], 0.5 * p[57] + 0.5 * p[8], p[28]]
    patches = []
    for x, y in np.round(spots).astype(int):
        patches.append(image[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).astype(np.float64).mean(0))
    return np.median(patches, axis=0)


def _polygon_mean(image: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return image[mask > 0].astype(np.float64).mean(0)


# ------------------------------------------------------------------------------------------- API
def test_shapes_dtypes_and_landmarks_inside(faces):
    for image, points in faces:
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
        assert points.shape == (68, 2) and points.dtype == np.float32
        assert np.isfinite(points).all()
        assert points.min() >= 0.0 and points.max() <= SIZE - 1


def test_deterministic_within_and_across_processes():
    a, pa = render_face(7)
    b, pb = render_face(7)
    assert np.array_equal(a, b) and np.array_equal(pa, pb)
    digest = hashlib.sha256(a.tobytes() + pa.tobytes()).hexdigest()
    code = ("import hashlib; from dicmini.data.synthetic import render_face; a, p = render_face(7); "
            "print(hashlib.sha256(a.tobytes() + p.tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == digest


def test_render_faces_matches_render_face():
    images, points = render_faces([3, 11], size=64)
    assert images.shape == (2, 64, 64, 3) and points.shape == (2, 68, 2)
    for k, s in enumerate([3, 11]):
        image, pts = render_face(s, size=64)
        assert np.array_equal(images[k], image) and np.array_equal(points[k], pts)
    empty_images, empty_points = render_faces([], size=32)
    assert empty_images.shape == (0, 32, 32, 3) and empty_points.shape == (0, 68, 2)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True, np.float64(2.0)])
def test_bad_seed_raises_naming_the_argument(bad):
    with pytest.raises(ValueError, match="seed"):
        render_face(bad)


@pytest.mark.parametrize("bad", [0, 8, 64.0, "128"])
def test_bad_size_raises_naming_the_argument(bad):
    with pytest.raises(ValueError, match="size"):
        render_face(0, size=bad)


def test_numpy_integer_seed_is_accepted():
    a, _ = render_face(np.int64(5))
    b, _ = render_face(5)
    assert np.array_equal(a, b)


def test_held_out_seeds():
    assert HELD_OUT_SEED_START == 900_000
    assert not is_held_out(0) and not is_held_out(HELD_OUT_SEED_START - 1)
    assert is_held_out(HELD_OUT_SEED_START) and is_held_out(10**9)
    with pytest.raises(ValueError, match="seed"):
        is_held_out(-3)
    image, points = render_face(HELD_OUT_SEED_START)  # held-out seeds render like any other
    assert image.shape == (SIZE, SIZE, 3) and points.shape == (68, 2)


# ------------------------------------------------------------------------------- sizes, geometry
@pytest.mark.parametrize("size", [64, 256])
def test_other_sizes_are_the_same_face_with_scaled_landmarks(size):
    base, p128 = render_face(9)
    image, points = render_face(9, size=size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    f = size / SIZE
    np.testing.assert_allclose(points, (p128 + 0.5) * f - 0.5, atol=1e-3)  # pixel-centre convention
    assert points.min() >= 0.0 and points.max() <= size - 1
    # and the picture itself agrees once brought to the same size
    a = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float64)
    b = cv2.resize(base, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float64)
    assert np.abs(a - b).mean() < 8.0


def test_landmarks_are_exactly_the_posed_shape():
    """What render_face returns is the shape it drew: the posed face-frame points, to float32 precision."""
    shape = sample_shape(np.random.default_rng(123), 128)
    posed = shape.project(shape.frame_points, landmark_depth(shape.frame_points))
    np.testing.assert_allclose(posed, shape.landmarks, atol=1e-9)
    _, points = render_face(123)
    np.testing.assert_allclose(points, shape.landmarks, atol=1e-4)


def test_mean_shape_is_symmetric_in_ibug_order():
    from dicmini.data.landmarks import flip_landmarks

    mirrored = flip_landmarks(MEAN_SHAPE, width=1)  # x -> 1 - 1 - x = -x, plus the left/right index swap
    np.testing.assert_allclose(mirrored, MEAN_SHAPE, atol=1e-9)


def test_faces_are_plausible_when_upright(faces):
    for image, points in faces:
        p = _upright(points.astype(np.float64))
        y = p[:, 1]
        brows, eyes = p[17:27, 1].mean(), p[36:48, 1].mean()
        assert brows < eyes < p[30, 1] < p[33, 1] < p[48:60, 1].mean() < p[8, 1]
        # image-left eye (36-41) left of the image-right eye (42-47); corners in iBUG order
        assert p[36:42, 0].max() < p[42:48, 0].min()
        assert p[36, 0] < p[39, 0] < p[42, 0] < p[45, 0]
        assert p[0, 0] < p[8, 0] < p[16, 0] and p[17, 0] < p[21, 0] < p[22, 0] < p[26, 0]
        assert p[31, 0] < p[33, 0] < p[35, 0] and p[48, 0] < p[51, 0] < p[54, 0]
        # upper lids above lower lids, inner lips inside the outer lips, lips not crossed
        assert y[37] < y[41] and y[38] < y[40] and y[43] < y[47] and y[44] < y[46]
        assert y[51] <= y[62] + 0.05 and y[62] <= y[66] + 0.05 and y[66] <= y[57] + 0.05
        assert p[48, 0] <= p[60, 0] and p[64, 0] <= p[54, 0]
        iod = np.linalg.norm(points[45] - points[36])
        assert 0.28 * SIZE < iod < 0.6 * SIZE


def test_faces_vary(faces):
    images = np.stack([f[0] for f in faces]).astype(np.float64)
    diffs = [np.abs(images[i] - images[j]).mean() for i in range(len(images)) for j in range(i)]
    assert min(diffs) > 15.0 and np.median(diffs) > 40.0
    # shapes vary beyond pose: normalise position, scale and roll, then look at the spread
    shapes = np.stack([_upright(f[1].astype(np.float64)) for f in faces])
    shapes /= np.linalg.norm(shapes, axis=(1, 2), keepdims=True)
    spread = shapes.std(axis=0).mean() / np.abs(shapes).mean()
    assert spread > 0.04
    rolls = [np.degrees(np.arctan2(*(f[1][42:48].mean(0) - f[1][36:42].mean(0))[::-1])) for f in faces]
    assert np.ptp(rolls) > 20.0 and max(abs(r) for r in rolls) <= 32.0
    colours = np.stack([_cheek_colour(*f) for f in faces])
    assert np.ptp(colours.mean(1)) > 60.0  # light to dark skin


# --------------------------------------------------------------------------- content on landmarks
def test_pupils_are_dark_at_the_eye_centres(faces):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for image, p in faces:
        luma = _luma(image)
        skin = _cheek_colour(image, p) @ np.array([0.299, 0.587, 0.114])
        for a, b in ((36, 42), (42, 48)):
            c = p[a:b].mean(0)
            near = (xx - c[0]) ** 2 + (yy - c[1]) ** 2 <= 1.5**2
            assert luma[near].min() < 0.6 * skin


def test_lips_differ_from_the_skin(faces):
    """Lips (between the outer and inner contours) are redder than the cheek skin or clearly different."""
    ratios = []
    for image, p in faces:
        upper = np.concatenate([p[48:55], p[64:59:-1]])
        lower = np.concatenate([p[54:60], p[48:49], p[60:61], p[67:63:-1]])
        lips = 0.5 * (_polygon_mean(image, upper) + _polygon_mean(image, lower))
        skin = _cheek_colour(image, p)
        redder = (lips[0] / max(lips[1], 1.0)) / (skin[0] / max(skin[1], 1.0))
        ratios.append(redder)
        assert redder > 1.1 or np.linalg.norm(lips - skin) > max(8.0, 0.12 * np.linalg.norm(skin))
    assert np.median(ratios) > 1.2


def test_brows_and_eye_corners_sit_on_darker_features(faces):
    brow, corner = [], []
    for image, p in faces:
        luma = _luma(image)
        skin = _cheek_colour(image, p) @ np.array([0.299, 0.587, 0.114])
        q = np.round(p).astype(int)
        brow.append(np.mean([luma[y:y + 2, x - 1:x + 2].mean() for x, y in q[17:27]]) / skin)
        corner.append(np.mean([luma[y - 1:y + 2, x - 1:x + 2].min() for x, y in q[[36, 39, 42, 45]]]) / skin)
    assert np.median(brow) < 0.8 and np.mean(np.asarray(brow) < 1.0) >= 0.9
    assert np.median(corner) < 0.6


def test_x8_bicubic_round_trip_destroys_detail(faces):
    """What SR must recover: PIL bicubic 128 -> 16 -> 128 loses a lot on the face."""
    psnrs = []
    for image, p in faces:
        lr = Image.fromarray(image).resize((16, 16), Image.BICUBIC).resize((128, 128), Image.BICUBIC)
        (x0, y0), (x1, y1) = np.floor(p.min(0)).astype(int), np.ceil(p.max(0)).astype(int) + 1
        err = np.asarray(lr, np.float64)[y0:y1, x0:x1] - image[y0:y1, x0:x1]
        psnrs.append(10 * np.log10(255.0**2 / np.mean(err**2)))
    assert max(psnrs) < 31.0 and np.mean(psnrs) < 27.0


# ---------------------------------------------------------------------------------- contact sheet
def test_contact_sheet_and_landmark_dots(faces):
    images = [f[0] for f in faces[:6]]
    points = [f[1] for f in faces[:6]]
    sheet = contact_sheet(images, points, cols=4, zoom=2, labels=[str(s) for s in SEEDS[:6]])
    assert sheet.dtype == np.uint8 and sheet.shape == (2 * 256 + 3 * 2, 4 * 256 + 5 * 2, 3)
    assert np.array_equal(sheet, contact_sheet(images, points, cols=4, zoom=2, labels=[str(s) for s in SEEDS[:6]]))
    dotted = draw_landmarks(images[0], points[0], radius=2.0)
    assert dotted.shape == images[0].shape and not np.array_equal(dotted, images[0])
    x, y = np.round(points[0][36]).astype(int)
    assert tuple(dotted[y, x]) == GROUP_COLOURS["right_eye"]  # point 36 in its group's colour, as in the figures
    assert GROUP_COLOURS["right_eye"] == tuple(round(255 * c) for c in viz.GROUP_COLORS["right_eye"])
    with pytest.raises(ValueError, match="landmarks"):
        contact_sheet(images, points[:2])


def test_module_entry_point_writes_a_contact_sheet(tmp_path):
    """``python -m dicmini.data.synthetic`` (the package's ``__main__``) writes the sheet of the faces it renders."""
    out = tmp_path / "sheet.png"
    subprocess.run([sys.executable, "-m", "dicmini.data.synthetic", "--out", str(out), "--n", "2", "--size", "32",
                    "--cols", "2", "--zoom", "1", "--no-landmarks"], capture_output=True, text=True, check=True)
    images, _ = render_faces([0, 1], size=32)
    assert np.array_equal(np.asarray(Image.open(out)), contact_sheet(list(images), None, cols=2, zoom=1,
                                                                     labels=["0", "1"]))
