"""``dicmini train | test | sr | demo``: happy paths on tiny models and one-line errors for bad inputs."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from dicmini.cli import main
from dicmini.models import DICNet, LightCNN, save_dicmini_checkpoint
from dicmini.models import convert

ARCH = dict(mid_channels=4, num_blocks=1, hg_mid_channels=8, upscale_factor=2, num_fusion_blocks=1)
TINY_SET = ["--set", "mid_channels=4", "--set", "num_blocks=1", "--set", "hg_mid_channels=8", "--set",
            "upscale_factor=2", "--set", "num_fusion_blocks=1", "--set", "batch_size=2", "--set", "train_size=4",
            "--set", "val_size=2", "--set", "init=default", "--set", "log_every=1",
            # no landmark-branch stage, no face pool (the tiny recipe's stage trains a wider branch)
            "--set", "hourglass_stage=", "--set", "face_pool=false", "--set", "release_hourglass_step=0"]


@pytest.fixture(autouse=True)
def _quiet():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_dicmini_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", DICNet(**ARCH))


def one_line_error(capsys, match):
    err = capsys.readouterr().err.strip()
    assert err.startswith("dicmini: error:") and len(err.splitlines()) == 1, err
    assert match in err, err
    return err


def test_train_then_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--config", "tiny", *TINY_SET, "--set", "iterations=2", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "iteration 2/2 (completed)" in printed and str(out / "last.pt") in printed
    assert main(["train", "--resume", str(out / "last.pt"), "--set", "iterations=3", "--quiet"]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["type"] == "train"] == [1, 2, 3]
    assert records[-1]["type"] == "end" and records[-1]["step"] == 3


def test_print_config(capsys):
    assert main(["train", "--config", "mmagic-dicgan", "--set", "iterations=7", "--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["iterations"] == 7 and config["d_lr"] == 1e-5 and config["disc_repeat"] == 2


@pytest.mark.parametrize("argv,match", [
    (["train", "--config", "tinyy"], "unknown config 'tinyy'; did you mean tiny"),
    (["train", "--config", "tiny", "--set", "learning_rate=1"], "unknown config key 'learning_rate'"),
    (["train", "--config", "tiny", "--set", "iterations=many"], "--set iterations: expected an integer"),
    (["train", "--resume", "{tmp}/missing.pt"], "checkpoint not found"),
    (["test", "--checkpoint", "{tmp}/missing.pt"], "checkpoint not found"),
    (["test", "--checkpoint", "{tmp}/lightcnn.pt"], "LightCNN"),
    (["test", "--checkpoint", "{tmp}/corrupt.pt"], "corrupt"),
    (["test", "--checkpoint", "{ckpt}", "--data", "{tmp}/nowhere"], "not a directory"),
    (["sr", "{tmp}/odd.png", "{tmp}/out.png", "--checkpoint", "{ckpt}"], "multiples of 8"),
    (["sr", "{tmp}/nothing.png", "{tmp}/out.png", "--checkpoint", "{ckpt}"], "no such image or folder"),
])
def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, tiny_checkpoint, argv, match):
    torch.save(LightCNN().state_dict(), tmp_path / "lightcnn.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"\x00not a checkpoint" * 10)
    Image.fromarray(np.zeros((16, 17, 3), np.uint8)).save(tmp_path / "odd.png")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{ckpt}", str(tiny_checkpoint)) for a in argv]
    assert main(argv) == 2
    one_line_error(capsys, match)


def test_python_m_dicmini_bad_checkpoint_has_no_traceback(tmp_path):
    (tmp_path / "corrupt.pt").write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "dicmini", "test", "--checkpoint", str(tmp_path / "corrupt.pt")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().startswith("dicmini: error:")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_test_command_prints_per_step_table_with_protocol(tmp_path, capsys, tiny_checkpoint):
    out_json = tmp_path / "metrics.json"
    assert main(["test", "--checkpoint", str(tiny_checkpoint), "--data", "synthetic", "--n", "2",
                 "--protocol", "y", "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in printed.splitlines() if line.startswith("| ")}
    assert {"bicubic", "step 1", "step 2", "step 3", "step 4"} <= set(rows)
    header = next(line for line in printed.splitlines() if line.startswith("| | PSNR"))
    assert header.count("[y]") == 2  # the PSNR and SSIM columns name the protocol, not every cell
    assert all("[" not in rows[name] for name in ("bicubic", "step 1", "step 4"))
    table = [line for line in printed.splitlines() if line.startswith("|") or "protocol `y`" in line]
    assert "protocol `y`" in printed and all(len(line) <= 100 for line in table)
    data = json.loads(out_json.read_text())
    assert data["protocol"] == "y" and data["num_images"] == 2 and len(data["psnr"]) == 4 and len(data["nme"]) == 4


def test_test_command_reports_lpips(tmp_path, capsys, tiny_checkpoint, lpips_weights):
    out_json = tmp_path / "metrics.json"
    assert main(["test", "--checkpoint", str(tiny_checkpoint), "--n", "2", "--no-identity", "--json",
                 str(out_json)]) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("| | PSNR"))
    assert header.endswith("| LPIPS | NME |") and all(len(line) <= 100 for line in printed.splitlines()
                                                       if line.startswith("|"))
    data = json.loads(out_json.read_text())
    assert len(data["lpips"]) == 4 and data["bicubic_lpips"] > 0.1
    # the stored LPIPS of the last step is the mean of dicmini.metrics.lpips over the two faces
    from dicmini.data.datasets import SyntheticFaces
    from dicmini.data.degrade import denormalize, to_uint8
    from dicmini.metrics import lpips
    from dicmini.models import load_pretrained

    faces = SyntheticFaces(2, first_seed=0, held_out=True)
    lr = torch.stack([faces[i]["lr"] for i in range(2)])
    hr = to_uint8(denormalize(torch.stack([faces[i]["hr"] for i in range(2)])))
    with torch.no_grad():
        sr = denormalize(load_pretrained(tiny_checkpoint).eval()(lr).sr[-1])
    assert float(np.mean(lpips(sr, hr))) == pytest.approx(data["lpips"][-1], abs=1e-5)
    assert main(["test", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--no-identity", "--no-lpips"]) == 0
    assert "LPIPS" not in capsys.readouterr().out


def test_test_command_says_how_to_fetch_missing_lpips_weights(tmp_path, capsys, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("DICMINI_WEIGHTS", str(tmp_path))
    assert main(["test", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--no-identity"]) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("| | PSNR"))
    assert "LPIPS" not in header and header.endswith("| NME |")
    assert "LPIPS not measured" in printed and "python -m dicmini.models.vgg_weights fetch" in printed


def test_test_command_on_a_folder(tmp_path, capsys, tiny_checkpoint):
    assert main(["data", "synth", "--out", str(tmp_path / "faces"), "--n", "2", "--quiet"]) == 0
    assert main(["test", "--checkpoint", str(tiny_checkpoint), "--data", str(tmp_path / "faces"),
                 "--protocol", "official"]) == 0
    assert "[official]" in capsys.readouterr().out


def test_sr_file_and_folder(tmp_path, capsys, tiny_checkpoint):
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(src / "a.png")
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(src / "b.jpg", quality=95)
    assert main(["sr", str(src / "a.png"), str(tmp_path / "a_sr.png"), "--checkpoint", str(tiny_checkpoint)]) == 0
    assert Image.open(tmp_path / "a_sr.png").size == (128, 128)
    assert main(["sr", str(src), str(tmp_path / "out"), "--checkpoint", str(tiny_checkpoint)]) == 0
    captured = capsys.readouterr()
    assert "JPEG" in captured.err and "warning" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "a.png")),
                                  np.asarray(Image.open(tmp_path / "a_sr.png")))


def test_demo_without_tiny_checkpoint_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(convert.PRETRAINED_NAMES, "tiny", tmp_path / "absent.pt")
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2
    err = one_line_error(capsys, "absent")
    assert "--train" in err


def test_demo_with_a_tiny_checkpoint(tmp_path, capsys, monkeypatch, tiny_checkpoint):
    monkeypatch.setitem(convert.PRETRAINED_NAMES, "tiny", tiny_checkpoint)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--faces", "2", "--n", "2"]) == 0
    printed = capsys.readouterr().out
    assert str(out / "figure.png") in printed and "[mmagic]" in printed
    figure = Image.open(out / "figure.png")
    assert figure.format == "PNG" and figure.width > figure.height  # 2 rows x 7 columns
    assert "| step 4 |" in (out / "metrics.md").read_text()
    assert json.loads((out / "metrics.json").read_text())["num_images"] == 2


def test_diverged_training_exits_1_with_one_line(tmp_path, capsys, monkeypatch):
    import dicmini.train.tasks as trainer_module  # the DIC task computes the loss

    def nan_loss(*args, **kwargs):
        return torch.tensor(float("nan"), requires_grad=True), {"total": float("nan")}

    monkeypatch.setattr(trainer_module, "dic_generator_loss", nan_loss)
    assert main(["train", *TINY_SET, "--set", "iterations=2", "--out", str(tmp_path), "--quiet"]) == 1
    one_line_error(capsys, "non-finite loss at iteration 1")
    assert not (tmp_path / "last.pt").exists()
