"""dicmini.faces without dlib: the crop rule and its exact point mapping (on synthetic faces with known
landmarks), folder preparation with a stand-in detector (resumability, not-found listing, workers),
blending, split lists, annotation readers and the one-line errors of the CLI."""

import functools
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dicmini.cli import main
from dicmini.data.datasets import FaceFolder
from dicmini.data.synthetic import render_face
from dicmini.data import crop as crop_mod
from dicmini.faces import detect as detect_mod
from dicmini.faces.assets import read_ljson, read_pts
from dicmini.data.crop import CROP_SCALE, CropBox, crop_face, crop_with_landmarks, extract, face_box
from dicmini.faces.photo import feather_mask, paste
from dicmini.faces.prepare import PrepareOptions, list_photos, prepare_folder, read_list

MISSING = "dlib is not installed: pip install 'dicmini[faces]'"


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


@functools.lru_cache(maxsize=None)
def pasted_face(seed, factor=3, offset=(101, 57), canvas=(600, 700)):
    """A synthetic face upscaled ``factor`` x (PIL bicubic) and pasted at ``offset`` = (x, y) into a
    gradient canvas; returns (canvas, landmarks in the canvas, original face, original landmarks)."""
    face, pts = render_face(seed)
    big = np.asarray(Image.fromarray(face).resize((128 * factor,) * 2, Image.BICUBIC))
    yy, xx = np.mgrid[0:canvas[0], 0:canvas[1]]
    img = np.stack([xx * 255 // canvas[1], yy * 255 // canvas[0], (xx + yy + seed * 40) % 256], -1).astype(np.uint8)
    x, y = offset
    n = big.shape[0]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + n, canvas[1]), min(y + n, canvas[0])
    img[y0:y1, x0:x1] = big[y0 - y:y1 - y, x0 - x:x1 - x]  # parts outside the canvas are cut off
    # pixel-centre convention: a point at x in the 128 image is at (x + 0.5) * factor - 0.5 in the big one
    big_pts = (pts.astype(np.float64) + 0.5) * factor - 0.5 + np.array(offset, dtype=np.float64)
    return img, big_pts, face, pts.astype(np.float64)


def test_box_mapping_is_exact_and_invertible():
    box = CropBox(-13, 40, 97)
    pts = np.random.default_rng(0).uniform(-50, 200, (68, 2))
    for size in (16, 128, 97, 300):
        np.testing.assert_allclose(box.from_crop(box.to_crop(pts, size), size), pts, atol=1e-10)
    # pixel centres of the box's first and last pixel -> pixel centres of the crop's first and last pixel
    np.testing.assert_allclose(CropBox(10, 20, 64).to_crop([[10, 20], [73, 83]], 64), [[0, 0], [63, 63]])
    np.testing.assert_allclose(CropBox(0, 0, 4).to_crop([[-0.5, 3.5]], 1), [[-0.5, 0.5]])  # edges -> edges


def test_known_region_maps_back_to_the_synthetic_face_exactly():
    img, big_pts, face, pts = pasted_face(3)
    box = CropBox(101, 57, 384)  # exactly the pasted region
    np.testing.assert_allclose(box.to_crop(big_pts, 128), pts, atol=1e-9)
    back = crop_face(img, box, 128)
    assert psnr(back, face) > 30  # bicubic x3 then /3: the same face, slightly softened


@pytest.mark.parametrize("seed,factor,offset", [(0, 3, (101, 57)), (5, 2, (-40, 300)), (7, 5, (30, -100))])
def test_crop_rule_on_pasted_synthetic_faces(seed, factor, offset):
    img, big_pts, face, pts = pasted_face(seed, factor, offset, canvas=(800, 900))
    crop, crop_pts, box = crop_with_landmarks(img, big_pts)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    # the rule: side = 1.6 x largest extent, centre between eye centre and mouth centre
    extent = (big_pts.max(0) - big_pts.min(0)).max()
    assert abs(box.side - CROP_SCALE * extent) <= 0.5
    centre = (big_pts[36:48].mean(0) + big_pts[48:68].mean(0)) / 2
    box_centre = np.array([box.left, box.top]) - 0.5 + box.side / 2
    assert np.abs(box_centre - centre).max() <= 0.5
    # points map back exactly, and fill the crop as on the synthetic training faces
    np.testing.assert_allclose(box.from_crop(crop_pts, 128), big_pts, atol=1e-9)
    assert abs((crop_pts.max(0) - crop_pts.min(0)).max() / 128 - 1 / CROP_SCALE) < 0.01
    assert crop_pts.min() > 0 and crop_pts.max() < 127
    # the same crop from the 128 face directly (a similar box scaled down) gives the same picture where
    # both crops see the face (not the padding or the canvas around it)
    small_box = face_box(pts)
    small = crop_face(face, small_box, 128)
    assert np.abs(small_box.side * factor - box.side) <= factor
    grid = np.stack(np.meshgrid(np.arange(128.0), np.arange(128.0)), -1).reshape(-1, 2)
    n = 128 * factor
    lo = np.maximum(np.array(offset), 0) + 3
    hi = np.minimum(np.array(offset) + n, [900, 800]) - 4
    src, src_small = box.from_crop(grid, 128), small_box.from_crop(grid, 128)
    valid = ((src >= lo) & (src <= hi)).all(1) & ((src_small >= 2) & (src_small <= 125)).all(1)
    assert valid.mean() > 0.3
    assert psnr(crop.reshape(-1, 3)[valid], small.reshape(-1, 3)[valid]) > 24


@pytest.mark.parametrize("box", [CropBox(100, 80, 97), CropBox(-20, 40, 210), CropBox(137, 61, 40)])
def test_image_content_follows_the_mapped_point(box):
    """A Gaussian blob at a sub-pixel position ends up, after crop + PIL bicubic resize, centred exactly
    where ``to_crop`` puts its centre (checks the pixel-centre convention against PIL)."""
    h, w = 300, 400
    cx, cy = box.left + box.side * 0.43 + 0.3, box.top + box.side * 0.58 - 0.2
    yy, xx = np.mgrid[0:h, 0:w]
    sigma = box.side / 12
    blob = 250 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2))
    img = np.repeat(np.rint(blob).astype(np.uint8)[:, :, None], 3, axis=2)
    out = crop_mod.crop_face(img, box, 128, pad_mode="constant")[:, :, 0].astype(np.float64)
    vv, uu = np.mgrid[0:128, 0:128]
    centroid = np.array([(out * uu).sum(), (out * vv).sum()]) / out.sum()
    np.testing.assert_allclose(centroid, box.to_crop([[cx, cy]], 128)[0], atol=0.05)


def test_extract_pads_and_refuses_boxes_off_the_image():
    img = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    out = extract(img, CropBox(-2, -1, 4))
    assert out.shape == (4, 4, 3)
    np.testing.assert_array_equal(out[1:, 2:], img[:3, :2])
    np.testing.assert_array_equal(out[0, 0], img[0, 0])  # edge replicated
    assert CropBox(-2, -1, 4).outside_fraction(6, 5) == pytest.approx(1 - 6 / 16)
    with pytest.raises(ValueError, match="does not overlap"):
        extract(img, CropBox(10, 0, 3))
    with pytest.raises(ValueError, match="68"):
        face_box(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="side"):
        CropBox(0, 0, 0)


def test_feathered_paste():
    m = feather_mask(40, 0.25)
    assert m.shape == (40, 40) and m[20, 20] == 1 and m[0, 0] < 0.01 and np.allclose(m, m.T)
    assert np.allclose(m, m[::-1, ::-1])
    canvas = np.zeros((30, 30, 3), np.uint8)
    patch = np.full((20, 20, 3), 200.0)
    paste(canvas, patch, -5, 20, np.ones((20, 20)))  # partly outside: clipped
    assert (canvas[20:, :15] == 200).all() and (canvas[:20] == 0).all() and (canvas[:, 15:] == 0).all()


def test_read_list_and_list_photos(tmp_path):
    lst = tmp_path / "list_eval_partition.txt"
    lst.write_text("000001.jpg 0\n000002.jpg 2\n# comment\n\n000003.jpg 2\n")
    assert read_list(lst) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert read_list(lst, "2") == ["000002.jpg", "000003.jpg"]
    with pytest.raises(ValueError, match="partition 7"):
        read_list(lst, "7")
    d = tmp_path / "in"
    d.mkdir()
    for n in ("000002.png", "000003.jpg", "notes.txt"):
        (d / n).write_bytes(b"x")
    assert [p.name for p in list_photos(d)] == ["000002.png", "000003.jpg"]
    assert [p.name for p in list_photos(d, read_list(lst, "2"))] == ["000002.png", "000003.jpg"]  # by stem
    with pytest.raises(FileNotFoundError, match="000001.jpg"):
        list_photos(d, read_list(lst))


def test_annotation_readers(tmp_path):
    (tmp_path / "a.pts").write_text("version: 1\nn_points:  2\n{\n1 1\n10.5 20\n}\n")
    np.testing.assert_allclose(read_pts(tmp_path / "a.pts"), [[0, 0], [9.5, 19]])  # 1-based -> 0-based
    (tmp_path / "a.ljson").write_text(json.dumps(
        {"groups": {"LJSON": {"landmarks": {"points": [[5.0, 7.0], [1.0, 2.0]]}}}}))
    np.testing.assert_allclose(read_ljson(tmp_path / "a.ljson"), [[7, 5], [2, 1]])  # [y, x] -> (x, y)


# --------------------------------------------------------------------------------------------------
# prepare_folder with a stand-in detector (the real one is tested in test_faces_real.py)
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_detector(monkeypatch, tmp_path):
    """Photos of pasted synthetic faces whose landmarks are known, a blank photo, and a best_face that
    'detects' by looking the image up."""
    known = {}
    photos = tmp_path / "photos"
    photos.mkdir()
    expected = {}
    for i, (seed, factor, offset) in enumerate([(0, 3, (101, 57)), (1, 2, (20, 30)), (2, 4, (0, 0))]):
        img, pts, _, _ = pasted_face(seed, factor, offset)
        Image.fromarray(img).save(photos / f"p{i}.png")
        known[img.tobytes()] = pts
        expected[f"p{i}.png"] = (img, pts)
    Image.fromarray(np.full((200, 150, 3), 90, np.uint8)).save(photos / "blank.png")

    def best_face(image, upsample=1):
        pts = known.get(np.ascontiguousarray(image).tobytes())
        return None if pts is None else detect_mod.Face((0, 0, 1, 1), 1.0, 0, pts)

    monkeypatch.setattr(detect_mod, "best_face", best_face)
    monkeypatch.setattr(detect_mod, "import_dlib", lambda: None)
    monkeypatch.setattr(detect_mod, "shape_predictor", lambda: None)
    return photos, expected


@pytest.mark.parametrize("workers", [1, 2])
def test_prepare_folder_resumes_and_lists_faces_not_found(fake_detector, tmp_path, workers):
    photos, expected = fake_detector
    out = tmp_path / "out"
    r = prepare_folder(photos, out, workers=workers, progress=False)
    assert sorted(r.prepared) == ["p0.png", "p1.png", "p2.png"] and r.already_done == 0
    assert r.not_found == {"blank.png": "no face found (upsample <= 1)"}
    assert (out / "not_found.txt").read_text() == "blank.png\tno face found (upsample <= 1)\n"
    folder = FaceFolder(out)
    assert folder.files == ["p0.png", "p1.png", "p2.png"]
    for name, (img, pts) in expected.items():
        crop, crop_pts, _ = crop_with_landmarks(img, pts)
        np.testing.assert_array_equal(np.asarray(Image.open(out / name)), crop)
        np.testing.assert_allclose(folder.landmarks[name], crop_pts, atol=1e-4)
    assert json.loads((out / "prepare.json").read_text()) == {"protocol": "crop", "size": 128, "scale": 1.6,
                                                              "pad_mode": "edge"}
    # a re-run does nothing
    r2 = prepare_folder(photos, out, workers=workers, progress=False)
    assert r2.prepared == [] and r2.already_done == 3 and "blank.png" in r2.not_found
    # an interrupted run (one PNG and the final index missing, its entry in the partial log) is completed
    marks = json.loads((out / "landmarks.json").read_text())
    (out / "p1.png").unlink()
    (out / "landmarks.json").unlink()
    with open(out / "landmarks.partial.jsonl", "w") as log:
        for n in ("p0.png", "p2.png"):
            log.write(json.dumps({"file": n, "landmarks": marks[n]}) + "\n")
        log.write('{"file": "p1.png", "landm')  # cut short by the kill
    r3 = prepare_folder(photos, out, workers=workers, progress=False)
    assert r3.prepared == ["p1.png"] and r3.already_done == 2
    assert json.loads((out / "landmarks.json").read_text()) == marks
    assert not (out / "landmarks.partial.jsonl").exists()
    assert "1 prepared now, 2 already done" in r3.summary()


def test_prepare_refuses_other_options_and_retries_not_found(fake_detector, tmp_path):
    photos, _ = fake_detector
    out = tmp_path / "out"
    prepare_folder(photos, out, progress=False)
    with pytest.raises(ValueError, match="prepared with other options: scale=1.6 \\(now 1.4\\)"):
        prepare_folder(photos, out, options=PrepareOptions(scale=1.4), progress=False)
    Image.fromarray(np.asarray(Image.open(photos / "p0.png"))).save(photos / "blank.png")  # now has a face
    assert prepare_folder(photos, out, progress=False).prepared == []  # listed as not found: skipped
    r = prepare_folder(photos, out, retry_not_found=True, progress=False)
    assert r.prepared == ["blank.png"] and r.not_found == {} and not (out / "not_found.txt").exists()


def test_prepare_aligned_protocol_needs_square_images(fake_detector, tmp_path):
    photos, _ = fake_detector
    r = prepare_folder(photos, tmp_path / "out", options=PrepareOptions(protocol="aligned"), progress=False)
    assert r.prepared == [] and "not square (150x200)" in r.not_found["blank.png"]


def test_prepare_refuses_two_photos_with_one_stem(fake_detector, tmp_path):
    photos, _ = fake_detector
    Image.open(photos / "p0.png").save(photos / "p0.jpg")
    with pytest.raises(ValueError, match="p0.jpg and p0.png would both be written as p0.png"):
        prepare_folder(photos, tmp_path / "out", progress=False)


# --------------------------------------------------------------------------------------------------
# CLI errors
# --------------------------------------------------------------------------------------------------
def _one_line_error(capsys, match):
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1, err
    return err


def test_prepare_missing_input_folder_is_one_line(tmp_path, capsys):
    assert main(["data", "prepare", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "input folder not found")
    assert not (tmp_path / "out").exists()


def test_prepare_bad_options_are_one_line(tmp_path, capsys):
    assert main(["data", "prepare", str(tmp_path), str(tmp_path / "out"), "--partition", "2"]) == 2
    _one_line_error(capsys, "--partition needs --list")
    assert main(["data", "prepare", str(tmp_path), str(tmp_path / "out"), "--scale", "0"]) == 2
    _one_line_error(capsys, "scale: expected > 0")


def test_missing_extra_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # `import dlib` now raises ImportError
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(photos / "a.png")
    assert main(["data", "prepare", str(photos), str(tmp_path / "out")]) == 2
    assert _one_line_error(capsys, MISSING).startswith("dicmini: error:")
    assert main(["sr-photo", str(photos / "a.png"), str(tmp_path / "o.png"), "--checkpoint", "x.pt"]) == 2
    _one_line_error(capsys, MISSING)
    from dicmini.faces import FacesExtraMissing, identity_distance

    with pytest.raises(FacesExtraMissing, match=r"^dlib is not installed: pip install 'dicmini\[faces\]'$"):
        identity_distance(np.zeros((128, 128, 3), np.uint8), np.zeros((128, 128, 3), np.uint8))


def test_sr_photo_missing_input_is_one_line(tmp_path, capsys):
    assert main(["sr-photo", str(tmp_path / "none.jpg"), str(tmp_path / "o.png"), "--checkpoint", "x.pt"]) == 2
    _one_line_error(capsys, "photo not found")


def test_identity_available_reflects_the_extra(monkeypatch):
    import importlib.util

    from dicmini.faces import identity_available

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "dlib" else real(name, *a))
    assert identity_available() is False


def test_prepare_script_is_the_cli(tmp_path, capsys, monkeypatch):
    script = Path(__file__).resolve().parents[1] / "data_scripts" / "prepare_faces.py"
    monkeypatch.setattr(sys, "argv", [str(script), str(tmp_path / "nope"), str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name="__main__")
    assert exit_info.value.code == 2
    _one_line_error(capsys, "input folder not found")


def test_sr_photo_selects_small_faces_and_simulates_large_ones():
    """sr-photo's split without dlib: low scores always out; small faces pasted, larger ones only simulated."""
    from dicmini.faces.detect import Face
    from dicmini.faces.photo import SMALL_FACE_MAX, _select, face_size

    def face(side, score):
        return Face((10, 10, 10 + side - 1, 10 + side - 1), score, 1, np.zeros((68, 2)))

    small, large, badge = face(SMALL_FACE_MAX, 0.5), face(SMALL_FACE_MAX + 1, 1.5), face(90, 0.12)
    assert face_size(small.box) == SMALL_FACE_MAX
    kept, skipped = _select([small, large, badge], 0.2, SMALL_FACE_MAX, small=True)
    assert kept == [small] and [s.score for s in skipped] == [1.5, 0.12]
    assert "--simulate" in skipped[0].reason and "--min-score" in skipped[1].reason
    kept, skipped = _select([small, large, badge], 0.2, SMALL_FACE_MAX, small=False)
    assert kept == [large] and "without --simulate" in skipped[0].reason
    kept, _ = _select([badge], 0.1, SMALL_FACE_MAX, small=False)
    assert kept == [badge]


def test_side_by_side_figure_layout():
    from dicmini.data.crop import CropBox
    from dicmini.faces.photo import LR_SIZE, SR_SIZE, PhotoFace, side_by_side

    rng = np.random.default_rng(0)
    faces = [PhotoFace((0, 0, 99, 99), 1.0, CropBox(0, 0, 160), rng.integers(0, 256, (LR_SIZE, LR_SIZE, 3), np.uint8),
                       rng.integers(0, 256, (SR_SIZE, SR_SIZE, 3), np.uint8),
                       rng.integers(0, 256, (SR_SIZE, SR_SIZE, 3), np.uint8)) for _ in range(2)]
    fig = side_by_side(faces, gap=4)
    assert fig.dtype == np.uint8 and fig.shape[1] == 4 * SR_SIZE + 5 * 4
    assert fig.shape[0] > 2 * SR_SIZE
    # the original crop of the first face is the fourth panel of the first row, unchanged
    top = next(y for y in range(fig.shape[0]) if np.array_equal(fig[y, 3 * (SR_SIZE + 4) + 4:][:SR_SIZE],
                                                                 faces[0].hr[0]))
    np.testing.assert_array_equal(fig[top:top + SR_SIZE, 3 * (SR_SIZE + 4) + 4:3 * (SR_SIZE + 4) + 4 + SR_SIZE],
                                  faces[0].hr)
