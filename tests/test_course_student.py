"""``dicmini course make-student`` / ``verify`` (course_conventions §4.5.2): the generator clears solution
regions like nbgrader's ClearSolutions, rewrites links for the ``student/`` folder, executes the copies,
and ``verify`` catches any drift. The last tests hold the committed ``notebooks/student/`` to its lessons."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from dicmini.course import tooling
from dicmini.cli import main

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

METHOD = '''class Block:
    def forward(self, x):
        """doc"""
        ### BEGIN SOLUTION
        y = x + 1
        if y:
            return y
        ### END SOLUTION

def f():
    ### BEGIN SOLUTION
    return 1
    ### END SOLUTION
kept = True'''


# ------------------------------------------------------------------------------------------ clearing
def test_clear_solutions_keeps_indentation_and_everything_outside():
    assert tooling.clear_solutions(METHOD) == '''class Block:
    def forward(self, x):
        """doc"""
        # YOUR CODE HERE
        raise NotImplementedError()

def f():
    # YOUR CODE HERE
    raise NotImplementedError()
kept = True'''


def test_clear_solutions_markdown_and_no_regions():
    md = "Answer:\n### BEGIN SOLUTION\nforty-two\n### END SOLUTION\nend"
    assert tooling.clear_solutions(md, "markdown") == "Answer:\nYOUR ANSWER HERE\nend"
    assert tooling.clear_solutions("x = 1\n# ### BEGIN SOLUTION in a comment is not a marker") == \
        "x = 1\n# ### BEGIN SOLUTION in a comment is not a marker"


@pytest.mark.parametrize("bad", ["### BEGIN SOLUTION\nx", "x\n### END SOLUTION",
                                 "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_clear_solutions_rejects_unbalanced_markers(bad):
    with pytest.raises(ValueError, match="SOLUTION"):
        tooling.clear_solutions(bad)


def test_rewrite_links():
    md = ('[next](02_b.ipynb) · [map](00_a.ipynb#map) · [web](https://example.org/x.png) · [here](#top) '
          '![fig](figures/x.png) <img src="figures/y.png" width="100"> [readme](../README.md)')
    assert tooling.rewrite_links(md, {"02_b.ipynb"}) == (
        '[next](02_b.ipynb) · [map](../00_a.ipynb#map) · [web](https://example.org/x.png) · [here](#top) '
        '![fig](../figures/x.png) <img src="../figures/y.png" width="100"> [readme](../../README.md)')


# ------------------------------------------------------------------------------------------ a tiny course
def _lesson(folder: Path, name: str, body: str, with_region: bool = True) -> Path:
    nb = nbformat.v4.new_notebook()
    header = nbformat.v4.new_markdown_cell(
        f"# {name}\n\nGoal, paper, runtime.\n\n[next](01_b.ipynb) · ![diagram](figures/d.png)")
    code = ("def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\n" if with_region
            else "def answer():\n    return 42\n")
    check = nbformat.v4.new_code_cell(body)
    solved = nbformat.v4.new_code_cell(code)
    solved.outputs = [nbformat.v4.new_output("stream", name="stdout", text="stale\n")]
    solved.execution_count = 3
    nb.cells = [header, solved, check]
    nb.metadata["kernelspec"] = dict(tooling.KERNELSPEC)
    path = folder / name
    nbformat.write(nb, str(path))
    return path


FALLBACK = ("import os\ntry:\n    value = answer()\nexcept NotImplementedError:\n"
            "    print('answer is not implemented yet; using 42')\n    value = 42\n"
            "print(value, os.path.basename(os.getcwd()))")


@pytest.fixture
def tiny_course(tmp_path):
    _lesson(tmp_path, "00_a.ipynb", "print(answer())", with_region=False)
    _lesson(tmp_path, "01_b.ipynb", FALLBACK)
    return tmp_path


def test_student_copy_of_a_lesson(tiny_course):
    lesson = nbformat.read(tiny_course / "01_b.ipynb", as_version=4)
    before = nbformat.writes(lesson)
    nb = tooling.student_notebook(lesson, "01_b.ipynb", {"01_b.ipynb"})
    assert nbformat.writes(lesson) == before                      # the lesson is not modified
    assert nb.cells[1].source == "def answer():\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None
    header = nb.cells[0].source
    assert header.startswith("# 01_b.ipynb\n\n> **Student version**")
    assert "[next](01_b.ipynb)" in header and "![diagram](../figures/d.png)" in header
    assert nb.cells[2].source == FALLBACK


def test_make_student_writes_only_lessons_with_regions_and_executes(tiny_course, capsys):
    (tiny_course / "student").mkdir()
    stale = _lesson(tiny_course / "student", "07_gone.ipynb", "print(1)")
    assert main(["course", "make-student", "--root", str(tiny_course)]) == 0
    student = tiny_course / "student"
    assert sorted(p.name for p in student.iterdir()) == ["01_b.ipynb"]
    assert not stale.exists()
    nb = json.loads((student / "01_b.ipynb").read_text())
    check = nb["cells"][2]
    assert check["execution_count"] == 2
    assert "".join(check["outputs"][0]["text"]) == "answer is not implemented yet; using 42\n42 student\n"
    assert tooling.verify_students(tiny_course) == []
    assert "01_b.ipynb: 2 code cells" in capsys.readouterr().out


def test_make_student_no_execute_and_unknown_lesson(tiny_course, capsys):
    assert main(["course", "make-student", "--root", str(tiny_course), "--no-execute"]) == 0
    nb = json.loads((tiny_course / "student" / "01_b.ipynb").read_text())
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    assert main(["course", "make-student", "--root", str(tiny_course), str(tiny_course / "00_a.ipynb")]) == 2
    assert "00_a.ipynb: not a lesson" in capsys.readouterr().err


def test_make_student_only_stale(tiny_course, capsys):
    tooling.make_student(tiny_course, execute=False)
    assert tooling.make_student(tiny_course, execute=False, only_stale=True) == []
    assert main(["course", "make-student", "--root", str(tiny_course), "--only-stale"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    student = tiny_course / "student" / "01_b.ipynb"
    nb = nbformat.read(student, as_version=4)
    nb.cells[2].source = "print('edited')"
    nbformat.write(nb, str(student))
    assert tooling.make_student(tiny_course, execute=False, only_stale=True) == [student]
    assert tooling.verify_students(tiny_course) == []


def test_verify_detects_drift(tiny_course, capsys):
    tooling.make_student(tiny_course, execute=False)
    student = tiny_course / "student" / "01_b.ipynb"
    assert main(["course", "verify", "--root", str(tiny_course)]) == 0
    assert "1 student notebooks in sync" in capsys.readouterr().out

    # an edited student copy
    nb = nbformat.read(student, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("raise NotImplementedError()", "return 41")
    nbformat.write(nb, str(student))
    (line,) = tooling.verify_students(tiny_course)
    assert line.startswith(f"{student}: out of sync with its lesson: cell 1 (code) differs at line 3;")

    # a tag added to a cell of the copy (nbval reads tags)
    tooling.make_student(tiny_course, execute=False)
    nb = nbformat.read(student, as_version=4)
    nb.cells[2].metadata["tags"] = ["nbval-ignore-output"]
    nbformat.write(nb, str(student))
    (line,) = tooling.verify_students(tiny_course)
    assert "cell 2 has tags ['nbval-ignore-output'], expected []" in line

    # a changed lesson (the copy is now stale), then a missing copy, then an orphan copy
    tooling.make_student(tiny_course, execute=False)
    lesson = nbformat.read(tiny_course / "01_b.ipynb", as_version=4)
    lesson.cells.append(nbformat.v4.new_markdown_cell("## Exercises"))
    nbformat.write(lesson, str(tiny_course / "01_b.ipynb"))
    (line,) = tooling.verify_students(tiny_course)
    assert "3 cells, expected 4" in line and "make-student" in line
    student.unlink()
    assert tooling.verify_students(tiny_course)[0].endswith("missing; run `dicmini course make-student "
                                                           f"{tiny_course / '01_b.ipynb'}`")
    tooling.make_student(tiny_course, execute=False)
    _lesson(tiny_course / "student", "05_orphan.ipynb", "print(1)")
    (line,) = tooling.verify_students(tiny_course)
    assert "05_orphan.ipynb: no lesson" in line
    capsys.readouterr()
    assert main(["course", "verify", "--root", str(tiny_course)]) == 1
    assert capsys.readouterr().out.count("\n") == 1


# ------------------------------------------------------------------------------------------ the committed copies
def test_committed_student_notebooks_are_in_sync():
    """The CI drift check: regenerate every student source and compare (fix: `dicmini course make-student`)."""
    problems = tooling.verify_students(NOTEBOOKS)
    assert not problems, "\n".join(problems)


def test_committed_student_notebooks_hold_no_solutions():
    for path in sorted((NOTEBOOKS / "student").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert not tooling.has_solutions(nb), f"{path.name}: a solution region survived"
        assert any("raise NotImplementedError()" in c.source for c in nb.cells if c.cell_type == "code"), path.name
