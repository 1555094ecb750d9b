"""Hostile and careless inputs to the ``dicmini`` command line (files made here, in tmp_path).

Every case asserts the exit status, that stderr is one line naming the file or option and what was expected
(no traceback), and that no input file changed. The classes: images (formats, sizes, decompression bombs,
corrupt files), outputs that would overwrite inputs, checkpoints (corrupt, tampered, non-finite, oversized
configs, code), training settings and resume overrides, run folders (reuse, concurrent runs), devices, JSON
files, and the friction of a first use (help, --version). Ctrl-C and the lock across processes are tested in
subprocesses at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dicmini.cli import main
from dicmini.data.image_io import read_rgb
from dicmini.data.synthetic import render_face
from dicmini.models import DICNet, save_dicmini_checkpoint

ARCH = dict(mid_channels=4, num_blocks=1, hg_mid_channels=8, upscale_factor=2, num_fusion_blocks=1)
TINY = ["--set", "mid_channels=4", "--set", "num_blocks=1", "--set", "hg_mid_channels=8", "--set", "upscale_factor=2",
        "--set", "num_fusion_blocks=1", "--set", "batch_size=2", "--set", "train_size=4", "--set", "val_size=2",
        "--set", "init=default", "--set", "log_every=1", "--set", "threads=1", "--quiet",
        # no landmark-branch stage (the tiny recipe's stage trains a wider branch), no face pool, no freeze
        "--set", "hourglass_stage=", "--set", "face_pool=false", "--set", "release_hourglass_step=0"]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


# -- files the cases use ---------------------------------------------------------------------------------

def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width x height`` (a decompression bomb as far as any reader can tell)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def face16(seed: int = 0) -> np.ndarray:
    return np.asarray(Image.fromarray(render_face(seed)[0]).resize((16, 16), Image.BICUBIC))


def make_image(path: Path, kind: str) -> Path:
    """A 16x16 test image of the named kind."""
    rgb = face16()
    grey16 = (np.linspace(0, 65535, 256).reshape(16, 16)).astype(np.uint16)
    if kind == "rgb":
        Image.fromarray(rgb).save(path)
    elif kind == "grey16":
        Image.fromarray(grey16).save(path)  # mode I;16
    elif kind == "int32":
        Image.fromarray(grey16.astype(np.int32)).save(path, format="TIFF")
    elif kind == "palette":
        Image.fromarray(rgb).convert("P").save(path)
    elif kind == "palette_transparent":
        img = Image.fromarray(rgb).convert("P")
        img.info["transparency"] = 0
        img.save(path, transparency=0)
    elif kind == "cmyk":
        Image.fromarray(rgb).convert("CMYK").save(path, format="JPEG", quality=95)
    elif kind == "bilevel":
        Image.fromarray(rgb).convert("1").save(path)
    elif kind == "rgba":
        Image.fromarray(np.dstack([rgb, np.full((16, 16), 128, np.uint8)])).save(path)
    elif kind == "la":
        Image.fromarray(rgb).convert("LA").save(path)
    elif kind == "float":
        Image.fromarray(np.ones((16, 16), np.float32)).save(path, format="TIFF")
    elif kind == "truncated":
        Image.fromarray(rgb).save(path)
        path.write_bytes(path.read_bytes()[:60])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not an image\n")
    elif kind == "big":
        Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(path)
    elif kind == "odd":
        Image.fromarray(np.zeros((16, 24 + 1, 3), np.uint8)).save(path)
    elif kind == "bomb":
        png_header_only(path, 12000, 10000)  # 120 MP: above dicmini's limit, below Pillow's
    elif kind == "huge_bomb":
        png_header_only(path, 20000, 20000)  # 400 MP: Pillow's own DecompressionBombError
    else:
        raise ValueError(kind)
    return path


def snapshot(paths: list[Path]) -> dict[str, str]:
    """Hashes of every file under ``paths``."""
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, match: str) -> None:
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("dicmini: error:"), err
    assert match.lower() in lines[0].lower(), err


# -- shared fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_dicmini_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", DICNet(**ARCH))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished 2-iteration run (last.pt, best.pt, log.jsonl)."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", *TINY, "--set", "iterations=2", "--set", "val_every=2", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faces") / "faces"
    assert main(["data", "synth", "--out", str(out), "--n", "2", "--quiet"]) == 0
    return out


def tampered(src: Path, dst: Path, change: Callable[[dict], None]) -> Path:
    obj = torch.load(src, weights_only=True)
    change(obj)
    torch.save(obj, dst)
    return dst


# -- 1. images into `dicmini sr`: one loader, named errors ---------------------------------------------------

ACCEPTED_KINDS = ["rgb", "grey16", "int32", "palette", "cmyk", "bilevel"]
REFUSED_KINDS = [("rgba", "alpha channel"), ("la", "alpha channel"), ("palette_transparent", "alpha channel"),
                 ("float", "float image"), ("truncated", "truncated"), ("empty", "unreadable"),
                 ("text", "unreadable"), ("big", "is 128x128; DIC super-resolves 16x16"),
                 ("odd", "multiples of 8"), ("bomb", "MP limit"), ("huge_bomb", "MP")]


@pytest.mark.parametrize("kind", ACCEPTED_KINDS)
def test_sr_reads_every_image_mode(tmp_path, capsys, ckpt, kind):
    src = make_image(tmp_path / f"in.{dict(cmyk='jpg', int32='tif').get(kind, 'png')}", kind)
    before = snapshot([src])
    code, out, err = run(["sr", src, tmp_path / "out.png", "--checkpoint", ckpt], capsys)
    assert code == 0, err
    assert "Traceback" not in err and "wrote 1 image(s) of 128x128" in out
    assert Image.open(tmp_path / "out.png").size == (128, 128)
    assert snapshot([src]) == before


@pytest.mark.parametrize("kind,match", REFUSED_KINDS)
def test_sr_refuses_bad_images_with_one_line(tmp_path, capsys, ckpt, kind, match):
    suffix = ".tif" if kind == "float" else ".png"
    src = make_image(tmp_path / f"in{suffix}", kind)
    before = snapshot([src])
    code, _, err = run(["sr", src, tmp_path / "out.png", "--checkpoint", ckpt], capsys)
    assert code == 2
    assert_one_line_error(err, match)
    assert src.name in err
    assert snapshot([src]) == before and not (tmp_path / "out.png").exists()


def test_sr_refuses_to_write_a_non_finite_output(tmp_path, capsys, ckpt):
    huge = tampered(ckpt, tmp_path / "huge.pt", lambda o: [t.fill_(1e30) for k, t in o["model"].items()
                                                           if k.endswith("weight")])
    src = make_image(tmp_path / "in.png", "rgb")
    code, _, err = run(["sr", src, tmp_path / "out.png", "--checkpoint", huge], capsys)
    assert code == 2
    assert_one_line_error(err, "huge.pt: the model's output is not finite")
    assert not (tmp_path / "out.png").exists()


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    grey = read_rgb(make_image(tmp_path / "g16.png", "grey16"))
    assert grey.dtype == np.uint8 and grey.shape == (16, 16, 3)
    assert grey.min() == 0 and grey.max() == 255 and 100 < grey.mean() < 155  # a ramp, not all white
    assert len(np.unique(grey)) > 200


def test_sr_any_size_is_explicit(tmp_path, capsys, ckpt):
    src = make_image(tmp_path / "big.png", "big")
    code, out, _ = run(["sr", src, tmp_path / "out.png", "--checkpoint", ckpt, "--any-size"], capsys)
    assert code == 0 and "1024x1024" in out


# -- 2. outputs never overwrite inputs -----------------------------------------------------------------------

def _face_dir(tmp_path: Path, names: list[str]) -> Path:
    d = tmp_path / "faces16"
    d.mkdir()
    for name in names:
        Image.fromarray(face16(len(name))).save(d / name, quality=95)
    return d


@pytest.mark.parametrize("layout,match", [
    ("same_folder", "is the input folder"),
    ("same_file", "would overwrite the input"),
    ("file_into_its_folder", "would overwrite the input"),
    ("stem_clash", "two outputs would be written"),
    ("folder_into_file", "is a file"),
    ("dot_folder", "is the input folder"),
])
def test_sr_never_overwrites_inputs(tmp_path, capsys, ckpt, layout, match):
    d = _face_dir(tmp_path, ["a.png", "a.jpg", "b.png"] if layout == "stem_clash" else ["a.png", "b.png"])
    (tmp_path / "file.png").write_bytes(b"x")
    src, dst = {
        "same_folder": (d, d),
        "same_file": (d / "a.png", d / "a.png"),
        "file_into_its_folder": (d / "a.png", d),
        "stem_clash": (d, tmp_path / "out"),
        "folder_into_file": (d, tmp_path / "file.png"),
        "dot_folder": (d, d / "." / ".." / d.name),
    }[layout]
    before = snapshot([d, tmp_path / "file.png"])
    code, _, err = run(["sr", src, dst, "--checkpoint", ckpt], capsys)
    assert code == 2
    assert_one_line_error(err, match)
    assert snapshot([d, tmp_path / "file.png"]) == before
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("target", ["landmarks.json", "0000000.png"])
def test_data_show_never_overwrites_its_folder(tmp_path, capsys, faces, target):
    before = snapshot([faces])
    code, _, err = run(["data", "show", faces, "--out", faces / target], capsys)
    assert code == 2
    assert_one_line_error(err, "would overwrite the input")
    assert snapshot([faces]) == before


def test_test_json_never_overwrites_the_checkpoint(tmp_path, capsys, ckpt):
    before = snapshot([ckpt])
    code, _, err = run(["test", "--checkpoint", ckpt, "--n", "1", "--json", ckpt], capsys)
    assert code == 2
    assert_one_line_error(err, "--json")
    assert snapshot([ckpt]) == before


def test_prepare_never_writes_into_its_input(tmp_path, capsys):
    d = _face_dir(tmp_path, ["a.png"])
    before = snapshot([d])
    code, _, err = run(["data", "prepare", d, d, "--quiet"], capsys)
    assert code == 2
    assert_one_line_error(err, "is the input folder")
    assert snapshot([d]) == before


def test_sr_photo_never_overwrites_its_input(tmp_path, capsys, ckpt):
    photo = make_image(tmp_path / "photo.png", "big")
    before = snapshot([photo])
    code, _, err = run(["sr-photo", photo, photo, "--checkpoint", ckpt], capsys)
    assert code == 2
    assert_one_line_error(err, "would overwrite the input")
    assert snapshot([photo]) == before


# -- 3. checkpoints: validated before use --------------------------------------------------------------------

class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def _checkpoint_case(tmp_path: Path, ckpt: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.pt"
    if kind == "nan":
        return tampered(ckpt, path, lambda o: o["model"]["reconstruction.2.weight"].fill_(float("nan")))
    if kind == "inf":
        return tampered(ckpt, path, lambda o: o["model"]["lr_feature.0.bias"].fill_(float("inf")))
    if kind == "huge_channels":
        return tampered(ckpt, path, lambda o: o["config"].update(mid_channels=20000))
    if kind == "endless_steps":
        return tampered(ckpt, path, lambda o: o["config"].update(num_steps=10_000_000))
    if kind == "unknown_config_key":
        return tampered(ckpt, path, lambda o: o["config"].update(run_forever=True))
    if kind == "string_config":
        return tampered(ckpt, path, lambda o: o["config"].update(hg_mid_channels="lots"))
    if kind == "missing_key":
        return tampered(ckpt, path, lambda o: o["model"].pop("reconstruction.2.weight"))
    if kind == "wrong_shape":
        return tampered(ckpt, path, lambda o: o["model"].update({"reconstruction.2.weight": torch.zeros(2, 2)}))
    if kind == "hourglass_kind":
        return tampered(ckpt, path, lambda o: o.update(kind="hourglass"))
    if kind == "truncated":
        path.write_bytes(ckpt.read_bytes()[:500])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "code":
        path.write_bytes(pickle.dumps({"model": _RunsCode()}))
    elif kind == "text":
        path.write_text("{}")
    return path


CHECKPOINT_CASES = [("nan", "NaN"), ("inf", "NaN or infinite"), ("huge_channels", "mid_channels must be <= 512"),
                    ("endless_steps", "num_steps must be <= 32"), ("unknown_config_key", "run_forever"),
                    ("string_config", "hg_mid_channels"), ("missing_key", "missing keys"),
                    ("wrong_shape", "shape mismatches"), ("hourglass_kind", "not a DICNet"),
                    ("truncated", "corrupt"), ("empty", "corrupt"), ("directory", "directory"),
                    ("list", "expected a state dict"), ("code", "weights_only"), ("text", "checkpoint")]


@pytest.mark.parametrize("command", ["sr", "test"])
@pytest.mark.parametrize("kind,match", CHECKPOINT_CASES)
def test_bad_checkpoints_are_refused(tmp_path, capsys, monkeypatch, ckpt, command, kind, match):
    monkeypatch.chdir(tmp_path)
    bad = _checkpoint_case(tmp_path, ckpt, kind)
    src = make_image(tmp_path / "in.png", "rgb")
    argv = (["sr", src, tmp_path / "out.png", "--checkpoint", bad] if command == "sr"
            else ["test", "--checkpoint", bad, "--n", "1", "--no-identity"])
    code, _, err = run(argv, capsys)
    assert code == 2
    assert_one_line_error(err, match)
    assert bad.name in err
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


# -- 4. training settings, resume overrides, run folders -----------------------------------------------------

BAD_SETTINGS = [
    ("lr=inf", "config lr: expected a finite number"), ("lr=nan", "config lr"), ("lr=-1", "config lr"),
    ("time_limit_minutes=nan", "time_limit_minutes"), ("min_lr_ratio=5", "min_lr_ratio"),
    ("mid_channels=20000", "mid_channels: expected <= 512"), ("num_steps=1e7", "num_steps: expected <= 32"),
    ("betas=0.9,1.5", "betas"), ("iterations=0", "iterations"), ("gamma=nan", "gamma"),
    ("align_weight=inf", "align_weight"), ("pixel_weight=-1", "pixel_weight"), ("num_blocks=0", "num_blocks"),
    ("milestones=5,3", "milestones"), ("seed=-1", "seed"), ("iterations=many", "--set iterations"),
    ("learning_rate=1", "unknown config key"), ("lr", "expected key=value"), ("device=foo", "device foo"),
]


@pytest.mark.parametrize("setting,match", BAD_SETTINGS)
def test_bad_settings_are_one_line(tmp_path, capsys, setting, match):
    code, _, err = run(["train", *TINY, "--set", setting, "--out", tmp_path / "run"], capsys)
    assert code == 2
    assert_one_line_error(err, match)
    assert not (tmp_path / "run" / "last.pt").exists()


@NO_CUDA
@pytest.mark.parametrize("argv", [["train", *TINY, "--set", "device=cuda"],
                                  ["sr", "{img}", "{tmp}/o.png", "--device", "cuda"],
                                  ["test", "--checkpoint", "{ckpt}", "--device", "cuda:1"]])
def test_cuda_without_cuda_is_one_line(tmp_path, capsys, ckpt, argv):
    img = make_image(tmp_path / "in.png", "rgb")
    argv = [a.replace("{img}", str(img)).replace("{tmp}", str(tmp_path)).replace("{ckpt}", str(ckpt)) for a in argv]
    code, _, err = run(argv + (["--out", str(tmp_path / "run")] if argv[0] == "train" else []), capsys)
    assert code == 2
    assert_one_line_error(err, "CUDA is not available")


def test_a_used_run_folder_is_refused_then_overwritten_on_request(tmp_path, capsys, run_dir):
    out = tmp_path / "copy"
    out.mkdir()
    for f in run_dir.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    before = snapshot([out])
    code, _, err = run(["train", *TINY, "--set", "iterations=1", "--out", out], capsys)
    assert code == 2
    assert_one_line_error(err, "holds an earlier run")
    assert f"--resume {out / 'last.pt'}" in err and "--overwrite" in err
    assert snapshot([out]) == before
    code, _, err = run(["train", *TINY, "--set", "iterations=1", "--out", out, "--overwrite"], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["type"] for r in records].count("start") == 1  # a fresh log, not appended to


def test_resume_into_another_used_folder_is_refused(tmp_path, capsys, run_dir):
    other = tmp_path / "other"
    other.mkdir()
    (other / "last.pt").write_bytes(b"someone else's run")
    code, _, err = run(["train", "--resume", run_dir / "last.pt", "--out", other, "--quiet"], capsys)
    assert code == 2
    assert_one_line_error(err, "holds an earlier run")
    assert (other / "last.pt").read_bytes() == b"someone else's run"


@pytest.mark.parametrize("setting,key", [("mid_channels=8", "mid_channels"), ("seed=3", "seed"),
                                         ("task=hourglass", "task"), ("num_steps=2", "num_steps")])
def test_resume_refuses_overrides_it_cannot_apply(tmp_path, capsys, run_dir, setting, key):
    before = snapshot([run_dir])
    code, _, err = run(["train", "--resume", run_dir / "last.pt", "--set", setting, "--quiet"], capsys)
    assert code == 2
    assert_one_line_error(err, f"--set {key}=")
    assert "cannot change on --resume" in err
    assert snapshot([run_dir]) == before


def test_resume_applies_lr_and_iterations(tmp_path, capsys, run_dir):
    out = tmp_path / "resumed"
    code, printed, err = run(["train", "--resume", run_dir / "last.pt", "--out", out, "--set", "lr=1e-5",
                              "--set", "iterations=4", "--set", "lr_schedule=multistep",
                              "--set", "milestones=3", "--set", "gamma=0.5"], capsys)
    assert code == 0, err
    assert "resume: new lr=1e-05" in printed and "iteration 4/4 (completed)" in printed
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 4
    group = state["optimizers"]["generator"]["param_groups"][0]
    assert group["initial_lr"] == 1e-5 and group["lr"] == pytest.approx(0.5e-5)  # one milestone passed


def _training_case(tmp_path: Path, run_dir: Path, kind: str) -> Path:
    src, path = run_dir / "last.pt", tmp_path / f"{kind}.pt"
    if kind == "nan_weights":
        return tampered(src, path, lambda o: next(iter(o["model"].values())).fill_(float("nan")))
    if kind == "nan_optimizer":
        def poison(o):
            state = next(iter(o["optimizers"]["generator"]["state"].values()))
            state["exp_avg"].fill_(float("nan"))
        return tampered(src, path, poison)
    if kind == "bad_step":
        return tampered(src, path, lambda o: o.update(step="two"))
    if kind == "negative_step":
        return tampered(src, path, lambda o: o.update(step=-5))
    if kind == "huge_config":
        return tampered(src, path, lambda o: o["train_config"].update(mid_channels=20000))
    if kind == "nan_lr_config":
        return tampered(src, path, lambda o: o["train_config"].update(lr=float("nan")))
    if kind == "no_optimizer":
        return tampered(src, path, lambda o: o.update(optimizers={}))
    if kind == "bad_rng":
        return tampered(src, path, lambda o: o.update(rng={"python": "x"}))
    if kind == "model_only":
        return tampered(src, path, lambda o: [o.pop(k) for k in ("optimizers", "schedulers", "rng")])
    raise ValueError(kind)


@pytest.mark.parametrize("kind,match", [
    ("nan_weights", "NaN"), ("nan_optimizer", "optimizers"), ("bad_step", "'step'"), ("negative_step", "'step'"),
    ("huge_config", "mid_channels"), ("nan_lr_config", "config lr"), ("no_optimizer", "damaged training state"),
    ("bad_rng", "damaged training state"), ("model_only", "without training state"),
])
def test_tampered_training_checkpoints_are_refused(tmp_path, capsys, run_dir, kind, match):
    bad = _training_case(tmp_path, run_dir, kind)
    out = tmp_path / "out"
    code, _, err = run(["train", "--resume", bad, "--out", out, "--quiet"], capsys)
    assert code == 2
    assert_one_line_error(err, match)
    assert bad.name in err
    assert not (out / "last.pt").exists()


# -- 5. face folders and JSON --------------------------------------------------------------------------------

def _folder_case(tmp_path: Path, faces: Path, kind: str) -> Path:
    d = tmp_path / kind
    d.mkdir()
    for f in faces.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    marks = d / "landmarks.json"
    if kind == "deep_json":
        marks.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "bad_json":
        marks.write_text("{not json")
    elif kind == "json_list":
        marks.write_text("[1, 2]")
    elif kind == "nan_landmarks":
        data = json.loads(marks.read_text())
        data["0000000.png"][0] = [float("nan"), 1.0]
        marks.write_text(json.dumps(data))
    elif kind == "wrong_points":
        data = json.loads(marks.read_text())
        data["0000000.png"] = data["0000000.png"][:5]
        marks.write_text(json.dumps(data))
    elif kind == "bomb_image":
        png_header_only(d / "0000000.png", 12000, 10000)
    elif kind == "huge_bomb_image":
        png_header_only(d / "0000000.png", 20000, 20000)
    elif kind == "truncated_image":
        (d / "0000000.png").write_bytes((d / "0000000.png").read_bytes()[:100])
    elif kind == "alpha_image":
        Image.fromarray(np.zeros((128, 128, 4), np.uint8)).save(d / "0000000.png")
    elif kind == "landmarks_dir":
        marks.unlink()
        marks.mkdir()
    return d


FOLDER_CASES = [("deep_json", "nested too deeply"), ("bad_json", "not valid JSON"), ("json_list", "JSON object"),
                ("nan_landmarks", "NaN"), ("wrong_points", "68 [x, y] pairs"), ("bomb_image", "MP limit"),
                ("huge_bomb_image", "MP"), ("truncated_image", "0000000.png"), ("alpha_image", "alpha channel"),
                ("landmarks_dir", "directory")]


@pytest.mark.parametrize("command", ["test", "show", "train"])
@pytest.mark.parametrize("kind,match", FOLDER_CASES)
def test_bad_face_folders_are_one_line(tmp_path, capsys, ckpt, faces, command, kind, match):
    d = _folder_case(tmp_path, faces, kind)
    before = snapshot([d])
    if command == "test":
        argv = ["test", "--checkpoint", ckpt, "--data", d, "--no-identity"]
    elif command == "show":
        argv = ["data", "show", d, "--out", tmp_path / "sheet.png"]
    else:
        (tmp_path / "split").mkdir()
        os.symlink(d, tmp_path / "split" / "train")
        os.symlink(faces, tmp_path / "split" / "val")
        argv = ["train", *TINY, "--set", "iterations=1", "--set", f"data={tmp_path / 'split'}", "--out",
                tmp_path / "run"]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert_one_line_error(err, match)
    assert snapshot([d]) == before


def test_sixteen_bit_faces_are_read_not_whitened(tmp_path, capsys, ckpt, faces):
    d = tmp_path / "f16"
    d.mkdir()
    for f in faces.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    grey = np.asarray(Image.open(faces / "0000000.png").convert("L")).astype(np.uint16) * 257
    Image.fromarray(grey).save(d / "0000000.png")
    code, out, err = run(["test", "--checkpoint", ckpt, "--data", d, "--no-identity"], capsys)
    assert code == 0, err
    from dicmini.data.datasets import load_face_image

    np.testing.assert_array_equal(load_face_image(d / "0000000.png")[..., 0], grey // 257)


def test_prepare_lists_a_decompression_bomb_and_reruns(tmp_path, capsys):
    pytest.importorskip("dlib")
    photos = tmp_path / "photos"
    photos.mkdir()
    png_header_only(photos / "bomb.png", 20000, 20000)
    for attempt in range(2):
        code, out, err = run(["data", "prepare", photos, tmp_path / "out", "--quiet"], capsys)
        assert code == 0 and "Traceback" not in err, err
    assert "bomb.png" in (tmp_path / "out" / "not_found.txt").read_text()
    assert "MP" in (tmp_path / "out" / "not_found.txt").read_text()


# -- 6. command-line arguments -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,match", [
    (["test", "--checkpoint", "{ckpt}", "--n", "0"], "--n"),
    (["test", "--checkpoint", "{ckpt}", "--batch-size", "0"], "--batch-size"),
    (["test", "--checkpoint", "{ckpt}", "--crop-border", "-1"], "--crop-border"),
    (["test", "--checkpoint", "{ckpt}", "--crop-border", "500"], "--crop-border"),
    (["sr", "{tmp}/in.png", "{tmp}/o.png", "--checkpoint", "{ckpt}", "--device", "tpu9"], "--device tpu9"),
    (["data", "show", "{faces}", "--zoom", "1000"], "--zoom"),
    (["data", "show", "{faces}", "--cols", "0"], "--cols"),
    (["data", "show", "{faces}", "--n", "0"], "--n"),
    (["data", "synth", "--out", "{tmp}/s", "--n", "1", "--size", "100000"], "--size"),
    (["data", "synth", "--out", "{tmp}/s", "--n", "1", "--size", "17"], "--size"),
    (["demo", "--train", "nan", "--out", "{tmp}/demo"], "--train"),
    (["demo", "--train", "-1", "--out", "{tmp}/demo"], "--train"),
    (["demo", "--faces", "0", "--out", "{tmp}/demo"], "--faces"),
    (["sr", "{tmp}/empty_dir", "{tmp}/o", "--checkpoint", "{ckpt}"], "no images found"),
    (["sr", "{tmp}/missing.png", "{tmp}/o.png", "--checkpoint", "{ckpt}"], "no such image"),
    (["sr-photo", "{tmp}/in.png", "{tmp}/o.png", "--checkpoint", "{ckpt}", "--zoom", "1000"], "--zoom"),
    (["data", "prepare", "{tmp}/photos", "{tmp}/p", "--size", "100000"], "size"),
    (["data", "prepare", "{tmp}/photos", "{tmp}/p", "--scale", "inf"], "scale"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, ckpt, faces, argv, match):
    make_image(tmp_path / "in.png", "rgb")
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "photos").mkdir()
    make_image(tmp_path / "photos" / "a.png", "big")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{ckpt}", str(ckpt)).replace("{faces}", str(faces))
            for a in argv]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert_one_line_error(err, match)


def test_disk_full_is_one_line(tmp_path, capsys, monkeypatch, ckpt):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    src = make_image(tmp_path / "in.png", "rgb")
    monkeypatch.setattr(Image.Image, "save", full)
    code, _, err = run(["sr", src, tmp_path / "out.png", "--checkpoint", ckpt], capsys)
    assert code == 2
    assert_one_line_error(err, "no space left")
    assert not list(tmp_path.glob(".out.png*"))  # no temporary file left


def test_a_failed_checkpoint_write_is_one_line(tmp_path, capsys, monkeypatch):
    import dicmini.train.checkpoint as checkpoint

    def full(obj, f, *args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    out = tmp_path / "run"
    code, _, err = run(["train", *TINY, "--set", "iterations=1", "--out", out], capsys)
    assert code == 2
    assert_one_line_error(err, "the write failed (is the disk full?)")
    assert ".pt: the write failed" in err and not list(out.glob(".*.tmp"))


def test_training_says_where_it_writes_and_shows_validation(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [a for a in TINY if a != "--quiet"]
    code, printed, err = run(["train", *argv, "--set", "iterations=2", "--set", "val_every=1", "--out", out], capsys)
    assert code == 0, err
    assert f"writing {out}/" in printed.splitlines()[0]
    assert "iteration 1: validation last-step psnr" in err and "dB (new best)" in err


def test_unexpected_errors_are_one_line_too(tmp_path, capsys, monkeypatch, ckpt):
    import dicmini.train.inference as inference

    def boom(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(inference, "super_resolve", boom)
    src = make_image(tmp_path / "in.png", "rgb")
    code, _, err = run(["sr", src, tmp_path / "out.png", "--checkpoint", ckpt], capsys)
    assert code == 1
    assert_one_line_error(err, "unexpected KeyError")
    assert "DICMINI_DEBUG=1" in err


def test_bare_dicmini_prints_help_and_version(capsys):
    assert main([]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("usage: dicmini")
    commands = [line.split()[0] for line in printed.splitlines() if line.startswith("    ") and line[4] != " "]
    assert commands[:7] == ["demo", "sr", "sr-photo", "train", "test", "data", "course"]
    assert main(["data"]) == 0 and "synth" in capsys.readouterr().out  # a group alone lists its actions
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("dicmini 0.")


# -- 7. atomic writes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_keeps_the_umask(tmp_path, umask, mode):
    from dicmini.utils import atomic_write

    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / "f.txt", lambda tmp: tmp.write_text("x"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_atomic_write_removes_its_temp_file_on_ctrl_c(tmp_path):
    from dicmini.utils import atomic_write

    (tmp_path / "f.txt").write_text("old")

    def interrupted(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "f.txt", interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"] and (tmp_path / "f.txt").read_text() == "old"


def test_stale_temp_files_are_removed_when_a_run_starts(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".last.pt.abc123.tmp"
    stale.write_bytes(b"left by kill -9")
    assert main(["train", *TINY, "--set", "iterations=1", "--out", str(out)]) == 0
    assert not stale.exists() and (out / "last.pt").exists()


# -- 8. across processes: the lock and Ctrl-C ----------------------------------------------------------------

def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "dicmini", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            **kwargs)


def test_a_concurrent_run_into_the_same_folder_fails(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               f"fd = os.open({str(out / 'run.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
                               "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode())\n"
                               "print('locked', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = run(["train", *TINY, "--set", "iterations=1", "--out", out], capsys)
        assert code == 2
        assert_one_line_error(err, f"another run (pid {holder.pid})")
        assert not (out / "last.pt").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(["train", *TINY, "--set", "iterations=1", "--out", str(out)]) == 0  # free again


def test_ctrl_c_writes_last_pt_and_the_printed_resume_command_continues_exactly(tmp_path):
    out = tmp_path / "run"
    common = [*TINY, "--set", "lr_schedule=multistep", "--set", "val_every=1000000", "--set", "ckpt_every=1000000"]
    proc = _cli("train", *common, "--set", "iterations=100000", "--out", str(out))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        log = out / "log.jsonl"
        if log.exists() and sum(1 for line in log.read_text().splitlines() if '"train"' in line) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    resume_line = stderr.strip().splitlines()[-1]
    assert "continue with: dicmini train --resume" in resume_line and str(out / "last.pt") in resume_line
    step = torch.load(out / "last.pt", weights_only=True)["step"]
    assert step >= 2
    command = resume_line.split("continue with: ")[1].split()
    assert command[:3] == ["dicmini", "train", "--resume"]
    assert main([*command[1:], "--set", f"iterations={step + 2}", "--quiet"]) == 0
    straight = tmp_path / "straight"
    assert main(["train", *common, "--set", f"iterations={step + 2}", "--out", str(straight)]) == 0
    resumed = torch.load(out / "last.pt", weights_only=True)["model"]
    reference = torch.load(straight / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
