import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dicmini.cli import main
from dicmini.data.synthetic import HELD_OUT_SEED_START, render_face


def test_synth_and_show(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(out), "--n", "5", "--seed", "3", "--quiet"]) == 0
    marks = json.loads((out / "landmarks.json").read_text())
    assert sorted(marks) == [f"{s:07d}.png" for s in range(3, 8)]
    img, pts = render_face(4)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "0000004.png")), img)
    np.testing.assert_allclose(marks["0000004.png"], pts, atol=1e-4)
    assert main(["data", "show", str(out), "--out", str(tmp_path / "sheet.png")]) == 0
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.width >= 4 * 128 and sheet.height >= 2 * 128
    assert "wrote" in capsys.readouterr().out


def test_synth_split_uses_held_out_seeds_for_test(tmp_path):
    assert main(["data", "synth", "--out", str(tmp_path), "--split", "3,1,2", "--quiet"]) == 0
    names = {sub: sorted(json.loads((tmp_path / sub / "landmarks.json").read_text()))
             for sub in ("train", "val", "test")}
    assert names["train"] == [f"{s:07d}.png" for s in range(3)]
    assert names["val"] == ["0000003.png"]
    assert names["test"] == [f"{s:07d}.png" for s in range(HELD_OUT_SEED_START, HELD_OUT_SEED_START + 2)]


@pytest.mark.parametrize("argv,match", [
    (["data", "show", "/nonexistent/folder"], "not a directory"),
    (["data", "synth", "--out", "{tmp}", "--n", "0"], "--n: expected a positive"),
    (["data", "synth", "--out", "{tmp}", "--n", "2", "--seed", "-1"], "--seed: expected >= 0"),
    (["data", "synth", "--out", "{tmp}", "--split", "899999,2,0", "--seed", "5"], "below 900000"),
])
def test_cli_errors_are_one_line_and_non_zero(tmp_path, capsys, argv, match):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dicmini: error:") and match in err and len(err.splitlines()) == 1


def test_python_m_dicmini_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dicmini", "data", "show", str(tmp_path / "missing")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "not a directory" in proc.stderr
    bad = subprocess.run([sys.executable, "-m", "dicmini", "data", "synth", "--split", "1,2"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--split" in bad.stderr


def test_make_synthetic_faces_script(tmp_path):
    script = Path(__file__).resolve().parents[1] / "data_scripts/make_synthetic_faces.py"
    proc = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--n", "2", "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads((tmp_path / "landmarks.json").read_text())) == 2
