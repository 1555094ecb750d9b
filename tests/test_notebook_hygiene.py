"""Notebook hygiene (course_conventions §4.2, §4.4): what strict nbval and the course rely on.

Checked for every notebook under ``notebooks/`` (the numbered lessons) and ``notebooks/student/`` (the
generated student copies, when present); names starting with a dot (scratch copies) are ignored:

* it was executed top to bottom: code cells with source have execution counts 1..N in order (empty
  code cells are unrun and have no outputs);
* no ``error`` outputs and no ``stderr`` streams are stored (deliberate error demonstrations catch the
  exception and print its message);
* no SVG/PDF outputs (they embed timestamps; figures are PNG);
* ``metadata.kernelspec.name == "python3"`` and no ``metadata.widgets`` (saved widget state);
* cell tags come from :data:`ALLOWED_TAGS`, and nbval markers are tags, not source comments;
* no ``!pip`` / ``%pip`` / ``!conda`` / ``%conda`` lines (no installs or downloads at run time);
* each notebook is at most 2 MB;
* the first cell is the markdown header: a ``# `` title line, the goal, the paper section and the
  runtime (the words "Goal", "Paper" and "Runtime" appear), and a link to the next lesson once that
  lesson exists (in a student copy: to the next student copy or to ``../`` the lesson), and one to the
  previous lesson;
* every relative markdown link and image resolves from the notebook's folder;
* a student copy names itself ("Student version") and has a lesson of the same name;
* lessons are numbered consecutively from 00 with no duplicates; a lesson in two parts adds a letter to the
  second part's number (``09_evaluation``, ``09b_claim_and_failures``), and the letters of one number run
  b, c, ... (course order = name order, as ``dicmini course execute`` and ``make-student`` see it).

Regenerate a notebook with ``dicmini course execute notebooks/NN_name.ipynb``, the student copies with
``dicmini course make-student`` (their sync with the lessons is tested in ``tests/test_course_student.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

#: Tags a cell may carry:
#: * ``nbval-ignore-output``: the cell runs but its output is not compared (widget cells; cells whose
#:   output is inherently timing- or log-heavy);
#: * ``nbval-skip``: the cell is not run under nbval (opt-in long training only: a full GPU recipe, 07's
#:   five-minute own run; later cells must not depend on it).
#: Nothing else: no ``raises-exception`` (catch and print instead), no presentation tags.
ALLOWED_TAGS: frozenset[str] = frozenset({"nbval-ignore-output", "nbval-skip"})
MAX_BYTES = 2 * 1024 * 1024
LESSON = re.compile(r"^(\d\d)([a-z]?)_.+\.ipynb$")   # as dicmini.course.tooling.NOTEBOOK_PATTERN
INSTALL_LINE = re.compile(r"^\s*[!%]+\s*(pip|pip3|conda|mamba|micromamba)\b", re.MULTILINE)
NBVAL_COMMENT = re.compile(r"#\s*NBVAL_[A-Z_]+")


def lesson_key(path: Path) -> tuple[int, str]:
    """``(number, letter)`` of a lesson file name: ``09b_x.ipynb`` -> ``(9, "b")``."""
    match = LESSON.match(path.name)
    return int(match.group(1)), match.group(2)


def lesson_notebooks() -> list[Path]:
    """The lessons in course order (which is also name order: ``09_`` sorts before ``09b_``)."""
    if not NOTEBOOKS.is_dir():
        return []
    return sorted((p for p in NOTEBOOKS.glob("*.ipynb") if LESSON.match(p.name)), key=lesson_key)


def _visible(paths) -> list[Path]:
    """Notebooks whose name does not start with a dot (scratch copies, editor files are not course material)."""
    return sorted(p for p in paths if not p.name.startswith("."))


def all_notebooks() -> list[Path]:
    extra = _visible((NOTEBOOKS / "student").glob("*.ipynb")) if (NOTEBOOKS / "student").is_dir() else []
    others = [p for p in _visible(NOTEBOOKS.glob("*.ipynb")) if not LESSON.match(p.name)] if NOTEBOOKS.is_dir() else []
    return lesson_notebooks() + others + extra


def _id(path: Path) -> str:
    return str(path.relative_to(NOTEBOOKS))


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_there_are_lesson_notebooks():
    assert lesson_notebooks(), f"no NN_*.ipynb lesson notebooks found in {NOTEBOOKS}"


def test_lessons_numbered_consecutively():
    keys = [lesson_key(p) for p in lesson_notebooks()]
    numbers = sorted({n for n, _ in keys})
    assert numbers == list(range(len(numbers))), (
        f"lesson numbers must be 00, 01, ... without gaps; found {numbers}")
    for number in numbers:
        letters = [letter for n, letter in keys if n == number]
        expected = [""] + [chr(ord("b") + i) for i in range(len(letters) - 1)]
        found, wanted = [f"{number:02d}{x}" for x in letters], [f"{number:02d}{x}" for x in expected]
        assert letters == expected, f"lesson {number:02d}: parts {found}, expected {wanted} (then b, c, ...)"
    assert [p.name for p in lesson_notebooks()] == sorted(p.name for p in lesson_notebooks()), \
        "course order differs from name order"


@pytest.mark.parametrize("path", all_notebooks(), ids=_id)
def test_executed_in_order(path):
    nb = _load(path)
    expected = 0
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if not _source(cell).strip():
            assert cell.get("execution_count") is None and not cell.get("outputs"), \
                f"cell {i}: empty code cell with an execution count or outputs"
            continue
        expected += 1
        assert cell.get("execution_count") == expected, (
            f"cell {i}: execution count {cell.get('execution_count')}, expected {expected} "
            f"(re-run with `dicmini course execute {path.relative_to(NOTEBOOKS.parent)}`)")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result":
                assert out.get("execution_count") == expected, f"cell {i}: stale execute_result count"


@pytest.mark.parametrize("path", all_notebooks(), ids=_id)
def test_no_errors_stderr_or_vector_outputs(path):
    nb = _load(path)
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            assert kind != "error", f"cell {i}: stored error output {out.get('ename')}: {out.get('evalue')}"
            if kind == "stream":
                assert out.get("name") != "stderr", \
                    f"cell {i}: stored stderr output {''.join(out.get('text', ''))[:200]!r}"
            data = out.get("data", {})
            for mime in ("image/svg+xml", "application/pdf"):
                assert mime not in data, f"cell {i}: {mime} output (use PNG figures)"


@pytest.mark.parametrize("path", all_notebooks(), ids=_id)
def test_metadata_kernelspec_and_widgets(path):
    meta = _load(path).get("metadata", {})
    assert meta.get("kernelspec", {}).get("name") == "python3", f"kernelspec: {meta.get('kernelspec')}"
    assert "widgets" not in meta, "saved widget state in metadata.widgets"


@pytest.mark.parametrize("path", all_notebooks(), ids=_id)
def test_tags_and_markers(path):
    for i, cell in enumerate(_load(path)["cells"]):
        tags = set(cell.get("metadata", {}).get("tags", []))
        assert tags <= ALLOWED_TAGS, f"cell {i}: tags {sorted(tags - ALLOWED_TAGS)} not in {sorted(ALLOWED_TAGS)}"
        if cell["cell_type"] == "code":
            src = _source(cell)
            assert not NBVAL_COMMENT.search(src), f"cell {i}: nbval marker as a comment; use a cell tag"
            assert not INSTALL_LINE.search(src), f"cell {i}: package install line in a notebook"


@pytest.mark.parametrize("path", all_notebooks(), ids=_id)
def test_size(path):
    size = path.stat().st_size
    assert size <= MAX_BYTES, f"{size / 1e6:.2f} MB > 2 MB (smaller figures, fewer outputs)"


@pytest.mark.parametrize("path", all_notebooks(), ids=_id)
def test_header_cell(path):
    cells = _load(path)["cells"]
    assert cells and cells[0]["cell_type"] == "markdown", "the first cell must be the markdown header"
    header = _source(cells[0])
    assert re.search(r"^# \S", header, re.MULTILINE), "header: no '# Title' line"
    for word in ("goal", "paper", "runtime"):
        assert word in header.lower(), f"header: no {word!r} (title, goal, paper section, runtime, links)"
    if LESSON.match(path.name) and path.parent in (NOTEBOOKS, NOTEBOOKS / "student"):
        names = [p.name for p in lesson_notebooks()]
        if path.name not in names:
            return  # a student copy without its lesson: test_student_copy_says_what_it_is reports it
        index = names.index(path.name)
        # a student copy links to another student copy, or to the lesson one folder up
        targets = (lambda n: [f"({n})"]) if path.parent == NOTEBOOKS else (lambda n: [f"({n})", f"(../{n})"])
        if index + 1 < len(names):
            following = names[index + 1]
            assert any(t in header for t in targets(following)), f"header: no link to the next lesson {following}"
        if index > 0:
            previous = names[index - 1]
            assert any(t in header for t in targets(previous)), \
                f"header: no link to the previous lesson {previous}"


#: ``](target)`` of markdown links/images and ``src=``/``href=`` of HTML tags
MD_LINK = re.compile(r"\]\(([^)\s]+)\)|(?:src|href)=[\"']([^\"']+)[\"']")


@pytest.mark.parametrize("path", all_notebooks(), ids=_id)
def test_relative_links_resolve(path):
    """Every relative link or image of a markdown cell points at an existing file or folder (seen from the
    notebook's own folder: student copies link ``../figures/...``, ``../NN_lesson.ipynb`` or each other)."""
    for i, cell in enumerate(_load(path)["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for m in MD_LINK.finditer(_source(cell)):
            target = (m.group(1) or m.group(2)).split("#", 1)[0]
            if not target or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("/"):
                continue
            assert (path.parent / target).exists(), f"cell {i}: link to {target!r} does not resolve"


@pytest.mark.parametrize("path", _visible((NOTEBOOKS / "student").glob("*.ipynb")) if (NOTEBOOKS / "student").is_dir()
                         else [], ids=_id)
def test_student_copy_says_what_it_is(path):
    """Student copies (``dicmini course make-student``) carry the note and the exercise stubs."""
    cells = _load(path)["cells"]
    assert "**Student version**" in _source(cells[0]), "header: no student-version note (regenerate it)"
    assert LESSON.match(path.name) and (NOTEBOOKS / path.name).is_file(), "a student copy without its lesson"
