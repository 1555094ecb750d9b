import json

import numpy as np
import pytest
import torch
from PIL import Image

from dicmini.data.datasets import FaceDataError, FaceFolder, SyntheticFaces, make_sample
from dicmini.data.face_folder import PARTIAL_FILE, write_face_folder
from dicmini.data.landmarks import landmarks_to_heatmaps
from dicmini.data.synthetic import HELD_OUT_SEED_START, render_face


def _face(key: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(key)
    return (rng.integers(0, 256, (128, 128, 3), dtype=np.uint8),
            rng.uniform(10, 118, (68, 2)).astype(np.float32))


def _folder(tmp_path, n=3):
    write_face_folder(tmp_path, range(n), _face, progress=False)
    return tmp_path


def test_make_sample_shapes():
    img, pts = _face(0)
    s = make_sample(img, pts, "x.png")
    assert s["lr"].shape == (3, 16, 16) and s["hr"].shape == (3, 128, 128)
    assert s["heatmaps"].shape == (68, 32, 32) and s["landmarks"].shape == (68, 2)
    torch.testing.assert_close(s["heatmaps"], torch.from_numpy(landmarks_to_heatmaps(pts)))


def test_synthetic_dataset_is_deterministic_and_guards_held_out_seeds():
    ds = SyntheticFaces(4, first_seed=10)
    a, b = ds[1], ds[1]
    assert a["name"] == "seed_11"
    assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["landmarks"], b["landmarks"])
    img, pts = render_face(11)
    torch.testing.assert_close(a["landmarks"], torch.from_numpy(pts))
    held = SyntheticFaces(2, held_out=True)
    assert held.seed(0) == HELD_OUT_SEED_START
    with pytest.raises(ValueError, match="held-out"):
        SyntheticFaces(10, first_seed=HELD_OUT_SEED_START - 5)
    with pytest.raises(IndexError):
        ds.seed(4)
    with pytest.raises(ValueError, match="length"):
        SyntheticFaces(0)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch["lr"].shape == (2, 3, 16, 16) and batch["name"] == ["seed_10", "seed_11"]


def test_folder_round_trip(tmp_path):
    ds = FaceFolder(_folder(tmp_path))
    assert len(ds) == 3
    s = ds[2]
    img, pts = _face(2)
    torch.testing.assert_close(s["landmarks"], torch.from_numpy(pts), atol=1e-4, rtol=0)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "0000002.png")), img)
    assert not (tmp_path / PARTIAL_FILE).exists()


def test_writer_resumes_and_is_idempotent(tmp_path):
    calls = []

    def make(k):
        calls.append(k)
        return _face(k)

    write_face_folder(tmp_path, range(2), make, progress=False)
    # simulate a run killed after the first image of a longer job: partial log, no final update
    (tmp_path / "landmarks.json").unlink()
    (tmp_path / "0000001.png").unlink()
    log = tmp_path / PARTIAL_FILE
    log.write_text(json.dumps({"file": "0000000.png", "landmarks": _face(0)[1].tolist()}) + "\n{\"file\": \"00")
    calls.clear()
    write_face_folder(tmp_path, range(4), make, progress=False)
    assert calls == [1, 2, 3]
    calls.clear()
    before = (tmp_path / "landmarks.json").stat().st_mtime_ns
    write_face_folder(tmp_path, range(4), make, progress=False)
    assert calls == [] and (tmp_path / "landmarks.json").stat().st_mtime_ns == before
    assert len(FaceFolder(tmp_path)) == 4
    assert not list(tmp_path.glob("*.tmp"))


def _edit_landmarks(folder, fn):
    path = folder / "landmarks.json"
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("breakage,match", [
    (lambda d: d.pop("0000001.png"), r"no landmarks for 1 image"),
    (lambda d: d.__setitem__("ghost.png", d["0000000.png"]), r"without an image.*ghost.png"),
    (lambda d: d.__setitem__("0000000.png", d["0000000.png"][:5]), r"'0000000.png' has shape \[5, 2\]"),
    (lambda d: d["0000002.png"][3].__setitem__(0, float("nan")), r"'0000002.png' contains NaN"),
    (lambda d: d.__setitem__("0000000.png", "abc"), r"'0000000.png'"),
])
def test_folder_bad_landmarks(tmp_path, breakage, match):
    folder = _folder(tmp_path)
    _edit_landmarks(folder, breakage)
    with pytest.raises(FaceDataError, match=match):
        FaceFolder(folder)


def test_folder_bad_files(tmp_path):
    with pytest.raises(FaceDataError, match="not a directory"):
        FaceFolder(tmp_path / "nope")
    with pytest.raises(FaceDataError, match="no images found"):
        FaceFolder(tmp_path)
    folder = _folder(tmp_path)
    (folder / "landmarks.json").write_text("{not json")
    with pytest.raises(FaceDataError, match="landmarks.json: not valid JSON"):
        FaceFolder(folder)
    (folder / "landmarks.json").unlink()
    with pytest.raises(FaceDataError, match="landmarks file not found"):
        FaceFolder(folder)


def test_folder_image_checks(tmp_path):
    folder = _folder(tmp_path)
    name = folder / "0000001.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(name)
    with pytest.raises(FaceDataError, match=r"0000001.png: image is 64x64, expected 128x128"):
        FaceFolder(folder)
    Image.fromarray(np.zeros((128, 128, 4), np.uint8)).save(name)
    with pytest.raises(FaceDataError, match=r"0000001.png: image has an alpha channel"):
        FaceFolder(folder)
    gray = np.arange(128 * 128, dtype=np.uint32).reshape(128, 128) % 256
    Image.fromarray(gray.astype(np.uint8)).save(name)
    sample = FaceFolder(folder)[1]  # grayscale is converted: the channel is replicated
    assert torch.allclose(sample["hr"][0] - sample["hr"][1], torch.tensor(0.509 - 0.424) * -1, atol=1e-6)
    good = _face(1)[0]
    Image.fromarray(good).save(name)
    data = name.read_bytes()
    name.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(FaceDataError, match=r"0000001.png: unreadable or truncated"):
        FaceFolder(folder)[1]
    name.write_bytes(b"not an image at all")
    with pytest.raises(FaceDataError, match=r"0000001.png: unreadable"):
        FaceFolder(folder)
