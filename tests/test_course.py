"""``dicmini course execute`` on a throwaway notebook (starts a real kernel: a few seconds)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from dicmini.course import tooling
from dicmini.cli import main


def _write_notebook(path: Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "conda-env-dicmini-py", "display_name": "Python [conda env:dicmini]",
                                 "language": "python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, str(path))
    return path


def _tiny(tmp_path: Path, name: str = "00_tiny.ipynb") -> Path:
    md = nbformat.v4.new_markdown_cell("# Tiny\nGoal, paper, runtime.")
    env = nbformat.v4.new_code_cell(
        "import os\nprint(os.environ.get('TQDM_DISABLE'), os.environ.get('PYTHONHASHSEED'), "
        "os.path.basename(os.getcwd()))")
    empty = nbformat.v4.new_code_cell("")
    stale = nbformat.v4.new_code_cell("x = 6 * 7\nx")
    stale.execution_count = 17
    stale.outputs = [nbformat.v4.new_output("stream", name="stdout", text="stale\n")]
    stale.metadata["execution"] = {"iopub.execute_input": "2024-01-01T00:00:00Z"}
    stale.metadata["ExecuteTime"] = {"end_time": "2024-01-01T00:00:00Z"}
    stale.metadata["tags"] = ["nbval-ignore-output"]
    return _write_notebook(tmp_path / name, [md, env, empty, stale])


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nbfolder")
    path = _tiny(folder)
    before = set(os.listdir(folder))
    result = tooling.execute_notebook(path, timeout=120)
    return path, result, before


def test_execute_counts_outputs_and_env(executed):
    path, result, _ = executed
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == [1, None, 2]
    assert code[1]["outputs"] == []
    out = "".join(code[0]["outputs"][0]["text"])
    assert out == f"1 0 {path.parent.name}\n"  # TQDM_DISABLE, PYTHONHASHSEED, cwd = the notebook's folder
    (res,) = code[2]["outputs"]  # the stale stdout is gone
    assert res["output_type"] == "execute_result" and res["execution_count"] == 2
    assert "".join(res["data"]["text/plain"]) == "42"
    assert result.code_cells == 2 and result.seconds > 0


def test_execute_normalises_metadata(executed):
    path, _, _ = executed
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"] == tooling.KERNELSPEC
    assert "widgets" not in nb["metadata"]
    assert "version" not in nb["metadata"].get("language_info", {})
    meta = nb["cells"][3]["metadata"]
    assert "execution" not in meta and "ExecuteTime" not in meta
    assert meta["tags"] == ["nbval-ignore-output"]  # tags are kept
    nbformat.validate(nbformat.reads(path.read_text(), as_version=4))


def test_execute_writes_atomically(executed):
    path, _, before = executed
    assert set(os.listdir(path.parent)) == before  # no temporary files left behind


def test_failing_notebook_is_left_untouched(tmp_path, capsys):
    path = _write_notebook(tmp_path / "01_fails.ipynb", [
        nbformat.v4.new_markdown_cell("# Fails"), nbformat.v4.new_code_cell("raise ValueError('boom')")])
    original = path.read_bytes()
    assert main(["course", "execute", str(path)]) == 1
    assert path.read_bytes() == original
    assert "ValueError: boom" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["01_fails.ipynb"]


def test_normalize_is_pure_metadata():
    nb = nbformat.v4.new_notebook()
    a, b, c = nbformat.v4.new_code_cell("1"), nbformat.v4.new_code_cell("  \n"), nbformat.v4.new_code_cell("2")
    a.execution_count, c.execution_count = 5, 9
    c.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=9)]
    nb.cells = [a, b, c]
    nb.metadata["widgets"] = {}
    tooling.normalize_notebook(nb)
    assert [x.execution_count for x in nb.cells] == [1, None, 2]
    assert c.outputs[0]["execution_count"] == 2
    assert nb.metadata["kernelspec"]["name"] == "python3" and "widgets" not in nb.metadata


def test_default_notebooks_and_report(tmp_path, capsys):
    for name in ("01_b.ipynb", "00_a.ipynb", "notes.ipynb", "0_x.ipynb", "00b_c.ipynb", "00B_x.ipynb",
                 "00bb_x.ipynb", "001_x.ipynb"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "00_a.ipynb").write_text("{}")
    # a lowercase letter after the number is a second part of that lesson, sorted right after it
    assert [p.name for p in tooling.default_notebooks(tmp_path)] == ["00_a.ipynb", "00b_c.ipynb", "01_b.ipynb"]
    with pytest.raises(ValueError):
        tooling.default_notebooks(tmp_path / "missing")

    report = tmp_path / "times.md"
    tooling.write_report(report, [tooling.ExecutionResult(Path("00_a.ipynb"), 12.34, 5)])
    tooling.write_report(report, [tooling.ExecutionResult(Path("01_b.ipynb"), 3.0, 2)])
    assert tooling.read_report(report) == {"00_a.ipynb": (12.3, 5), "01_b.ipynb": (3.0, 2)}
    assert main(["course", "times", str(report)]) == 0
    out = capsys.readouterr().out
    assert "00_a.ipynb" in out and "15.3 s" in out


def test_kernel_env():
    env = tooling.kernel_env({"MPLBACKEND": "Agg", "PATH": "/bin"})
    assert env == {"PATH": "/bin", "TQDM_DISABLE": "1", "PYTHONHASHSEED": "0"}
