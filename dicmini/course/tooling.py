"""``dicmini course ...``: keep the lesson notebooks executed, normalised and timed.

``dicmini course execute [NOTEBOOK ...]`` re-runs notebooks top to bottom in a fresh headless kernel
(nbclient, the same path nbval uses), then normalises what a re-run would otherwise churn or what
breaks strict nbval (course_conventions §4.4, §4.8):

* kernelspec ``{"name": "python3", "display_name": "Python 3", "language": "python"}``;
* no ``metadata.widgets`` (saved widget state), no per-cell execution timings;
* ``language_info`` without the Python version;
* execution counts ``1..N`` over the code cells that have source, in order (empty code cells are
  left unrun and without outputs).

Outputs are kept. The kernel runs with its working directory in the notebook's folder, with
``TQDM_DISABLE=1`` and ``PYTHONHASHSEED=0``. A notebook that raises is reported and left untouched;
a finished one is written to a temporary file and renamed onto the original (atomic).

With no notebook given, every lesson under ``notebooks/`` is run: ``NN_*.ipynb``, or ``NNb_*.ipynb`` (a
lowercase letter after the number) for a second part of lesson ``NN`` that does not renumber the lessons after
it (``09_evaluation``, ``09b_claim_and_failures``, ``10_...``); names sort in course order.
``--report FILE`` keeps a Markdown table of the per-notebook wall times (rows of notebooks not run
this time are kept), and ``dicmini course times FILE`` prints it.

Student copies (course_conventions §4.5.2; nbgrader-compatible):

* ``dicmini course make-student [LESSON ...]`` writes ``notebooks/student/<lesson>.ipynb`` for every lesson that
  has solution regions (``### BEGIN SOLUTION`` ... ``### END SOLUTION``): each region becomes
  ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` at the indentation of its ``BEGIN`` line
  (nbgrader's ``ClearSolutions`` stub; a markdown region becomes ``YOUR ANSWER HERE``), relative links
  and images that do not point at another student copy get a ``../`` prefix (the copies live one folder
  down), and the header says what the file is. Then each copy is executed like a lesson, so that its
  outputs are stored (the exercise checks fall back to the dicmini reference: it runs to the end);
  ``--no-execute`` only writes the sources, ``--only-stale`` skips copies already in sync. Student copies
  whose lesson lost its regions are removed.
* ``dicmini course verify`` regenerates the student sources in memory and compares them, cell by cell
  (type, source and tags), with the committed copies; it prints one line per drifted notebook (naming the first
  differing cell) and exits with status 1 (the CI check, run from ``tests/test_course_student.py``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..utils import atomic_write

__all__ = [
    "KERNELSPEC",
    "ExecutionResult",
    "clear_solutions",
    "default_notebooks",
    "has_solutions",
    "make_student",
    "student_notebook",
    "student_sources",
    "verify_students",
    "execute_notebook",
    "kernel_env",
    "normalize_notebook",
    "read_report",
    "register",
    "write_report",
]

KERNELSPEC: dict[str, str] = {"name": "python3", "display_name": "Python 3", "language": "python"}
#: Per-cell metadata keys that only record when/how long a run took (nbclient, JupyterLab, extensions).
VOLATILE_CELL_METADATA: tuple[str, ...] = ("execution", "ExecuteTime", "collapsed", "scrolled")
DEFAULT_TIMEOUT = 600
#: A lesson's file name: two digits, an optional lowercase letter (``09b``: a second part of lesson 09), ``_``.
NOTEBOOK_PATTERN = re.compile(r"^\d\d[a-z]?_.+\.ipynb$")


@dataclass(frozen=True)
class ExecutionResult:
    path: Path
    seconds: float
    code_cells: int


def default_notebooks(root: str | os.PathLike = "notebooks") -> list[Path]:
    """The lesson notebooks ``root/NN_*.ipynb`` / ``root/NNb_*.ipynb``, sorted by name, which is course order
    (``09_...`` before ``09b_...``: ``_`` sorts before letters); student copies excluded."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder (run from the repository root or name the notebooks)")
    return sorted(p for p in root.iterdir() if p.is_file() and NOTEBOOK_PATTERN.match(p.name))


def kernel_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the kernel gets: the caller's, plus no progress bars and a fixed hash seed.

    ``MPLBACKEND`` is removed so that matplotlib uses the inline backend of the kernel.
    """
    env = dict(os.environ if base is None else base)
    env.pop("MPLBACKEND", None)
    env["TQDM_DISABLE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    return env


def _has_source(cell) -> bool:
    return bool("".join(cell.get("source", "")).strip())


def normalize_notebook(nb):
    """Normalise an executed notebook in place (and return it); see the module docstring."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.pop("widgets", None)
    info = nb.metadata.get("language_info")
    if isinstance(info, dict):
        info.pop("version", None)
    count = 0
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        for key in VOLATILE_CELL_METADATA:
            meta.pop(key, None)
        if cell.get("cell_type") != "code":
            continue
        if not _has_source(cell):
            cell["execution_count"] = None
            cell["outputs"] = []
            continue
        count += 1
        cell["execution_count"] = count
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result":
                out["execution_count"] = count
    return nb


def execute_notebook(path: str | os.PathLike, timeout: int = DEFAULT_TIMEOUT,
                     kernel_name: str = "python3") -> ExecutionResult:
    """Execute ``path`` in place (see the module docstring) and return its wall time.

    Raises ``nbclient.exceptions.CellExecutionError`` (file untouched) if a cell fails.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such notebook")
    nb = nbformat.read(path, as_version=4)
    # Start from a clean slate so that no stale output survives a cell that now prints nothing.
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    client = NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name, allow_errors=False,
        record_timing=False, store_widget_state=False,
        resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.perf_counter()
    client.execute(env=kernel_env())
    seconds = time.perf_counter() - start
    normalize_notebook(nb)
    nbformat.validate(nb)
    atomic_write(path, lambda tmp: nbformat.write(nb, str(tmp)))
    code_cells = sum(1 for c in nb.cells if c.get("cell_type") == "code" and _has_source(c))
    return ExecutionResult(path, seconds, code_cells)


# ------------------------------------------------------------------------------------------ report
_ROW = re.compile(r"^\|\s*`?([^|`]+?)`?\s*\|\s*([0-9.]+)\s*\|\s*(\d+)\s*\|\s*$")


def read_report(path: str | os.PathLike) -> dict[str, tuple[float, int]]:
    """``{notebook name: (seconds, code cells)}`` from a report written by :func:`write_report`."""
    rows: dict[str, tuple[float, int]] = {}
    path = Path(path)
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            rows[m.group(1)] = (float(m.group(2)), int(m.group(3)))
    return rows


def write_report(path: str | os.PathLike, results: Iterable[ExecutionResult]) -> Path:
    """Merge ``results`` into the Markdown times table at ``path`` (atomic)."""
    rows = read_report(path)
    for r in results:
        rows[r.path.name] = (r.seconds, r.code_cells)
    total = sum(s for s, _ in rows.values())
    lines = ["# Notebook execution times (`dicmini course execute`)", "",
             "| notebook | seconds | code cells |", "|---|---:|---:|"]
    lines += [f"| `{name}` | {s:.1f} | {n} |" for name, (s, n) in sorted(rows.items())]
    lines += ["", f"Total: {total:.1f} s.", ""]
    text = "\n".join(lines)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# ------------------------------------------------------------------------------------------ student copies
STUDENT_DIR = "student"
BEGIN_SOLUTION = re.compile(r"^\s*###\s*BEGIN SOLUTION\s*$")
END_SOLUTION = re.compile(r"^\s*###\s*END SOLUTION\s*$")
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"
#: ``](target)`` of markdown links and images, ``src="target"`` / ``href="target"`` of HTML tags
_MD_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
_HTML_LINK = re.compile(r"""((?:src|href)=)(["'])([^"']+)(\2)""")
_STUDENT_NOTE = (
    "> **Student version**, generated by `dicmini course make-student` from the lesson `notebooks/{name}`. "
    "Replace every `# YOUR CODE HERE` / `raise NotImplementedError()` with your code and run the check cell "
    "after it: ✓ lines mean your code behaves like `dicmini`'s, ✗ lines come with a hint. Until an exercise is "
    "done its check falls back to the `dicmini` reference, so the rest of the notebook still runs.")


def clear_solutions(source: str, cell_type: str = "code") -> str:
    """``source`` with every solution region replaced by the nbgrader ``ClearSolutions`` stub.

    The stub keeps the indentation of the region's ``### BEGIN SOLUTION`` line. Raises ``ValueError`` on an
    unmatched or nested marker.
    """
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        if BEGIN_SOLUTION.match(line):
            if inside:
                raise ValueError(f"line {number}: nested ### BEGIN SOLUTION")
            inside = True
            indent = line[:len(line) - len(line.lstrip())]
            stub = CODE_STUB if cell_type == "code" else (MARKDOWN_STUB,)
            out.extend(indent + s for s in stub)
        elif END_SOLUTION.match(line):
            if not inside:
                raise ValueError(f"line {number}: ### END SOLUTION without ### BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("### BEGIN SOLUTION without ### END SOLUTION")
    return "\n".join(out)


def has_solutions(nb) -> bool:
    """Whether any cell of ``nb`` has a solution region."""
    return any(BEGIN_SOLUTION.match(line) for cell in nb.cells for line in cell.get("source", "").split("\n"))


def _relink(target: str, student_names: set[str]) -> str:
    """A relative link of a lesson, seen from ``student/``: another student copy stays, the rest gets ``../``."""
    if not target or target.startswith(("#", "/", "data:")) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
        return target
    path = target.split("#", 1)[0].split("?", 1)[0]
    if path in student_names:
        return target
    return "../" + target


def rewrite_links(markdown: str, student_names: set[str]) -> str:
    """Markdown/HTML links and images of ``markdown`` made valid from the ``student/`` folder."""
    markdown = _MD_LINK.sub(lambda m: m.group(1) + _relink(m.group(2), student_names) + m.group(3), markdown)
    return _HTML_LINK.sub(lambda m: m.group(1) + m.group(2) + _relink(m.group(3), student_names) + m.group(4),
                          markdown)


def student_notebook(nb, name: str, student_names: set[str]):
    """The student copy of the lesson ``nb`` (file name ``name``), unexecuted; ``nb`` is not modified.

    ``student_names``: file names of every lesson that gets a student copy (links to them stay relative).
    """
    import copy

    import nbformat

    out = copy.deepcopy(nb)
    for index, cell in enumerate(out.cells):
        try:
            cell.source = clear_solutions(cell.source, cell.cell_type)
        except ValueError as err:
            raise ValueError(f"{name}: cell {index}: {err}") from None
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, student_names)
    if out.cells and out.cells[0].cell_type == "markdown":
        lines = out.cells[0].source.split("\n")
        title = next((i for i, line in enumerate(lines) if line.startswith("# ")), 0)
        lines[title + 1:title + 1] = ["", _STUDENT_NOTE.format(name=name)]
        out.cells[0].source = "\n".join(lines)
    nbformat.validate(out)
    return out


def _lessons_with_solutions(root: Path) -> dict[str, object]:
    import nbformat

    lessons = {}
    for path in default_notebooks(root):
        nb = nbformat.read(path, as_version=4)
        if has_solutions(nb):
            lessons[path.name] = nb
    return lessons


def student_sources(root: str | os.PathLike = "notebooks") -> dict[str, object]:
    """``{file name: unexecuted student notebook}`` for every lesson of ``root`` with solution regions."""
    lessons = _lessons_with_solutions(Path(root))
    names = set(lessons)
    return {name: student_notebook(nb, name, names) for name, nb in lessons.items()}


def make_student(root: str | os.PathLike = "notebooks", lessons: Sequence[str | os.PathLike] | None = None,
                 execute: bool = True, timeout: int = DEFAULT_TIMEOUT,
                 only_stale: bool = False) -> list[ExecutionResult | Path]:
    """Write (and unless ``execute=False`` run) the student copies; see the module docstring.

    ``lessons``: restrict to these lesson notebooks (paths or names); default every lesson with regions.
    ``only_stale``: skip copies whose cells already match their lesson (what ``verify`` checks).
    Returns an :class:`ExecutionResult` per executed copy (the path when not executed).
    """
    import nbformat

    root = Path(root)
    sources = student_sources(root)
    folder = root / STUDENT_DIR
    if lessons:
        wanted = [Path(p).name for p in lessons]
        unknown = [n for n in wanted if n not in sources]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a lesson of {root} with ### BEGIN SOLUTION regions")
    else:
        wanted = sorted(sources)
        if folder.is_dir():
            for stale in sorted(folder.glob("*.ipynb")):
                if NOTEBOOK_PATTERN.match(stale.name) and stale.name not in sources:
                    stale.unlink()
                    print(f"{stale}: removed (its lesson has no solution regions)", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    results: list[ExecutionResult | Path] = []
    for name in wanted:
        path = folder / name
        nb = sources[name]
        if only_stale and path.is_file() and _first_difference(nb, nbformat.read(path, as_version=4)) is None:
            continue
        atomic_write(path, lambda tmp, nb=nb: nbformat.write(nb, str(tmp)))
        results.append(execute_notebook(path, timeout=timeout) if execute else path)
    return results


def _first_difference(expected, actual) -> str | None:
    """Where two notebooks' cells differ (type, source or tags: nbval reads the tags), or ``None``."""
    for index, (a, b) in enumerate(zip(expected.cells, actual.cells)):
        if a.cell_type != b.cell_type:
            return f"cell {index} is a {b.cell_type} cell, expected {a.cell_type}"
        if a.source != b.source:
            a_lines, b_lines = a.source.split("\n"), b.source.split("\n")
            line = next((i for i, (x, y) in enumerate(zip(a_lines, b_lines)) if x != y),
                        min(len(a_lines), len(b_lines)))
            return f"cell {index} ({a.cell_type}) differs at line {line + 1}"
        tags_a, tags_b = a.get("metadata", {}).get("tags", []), b.get("metadata", {}).get("tags", [])
        if list(tags_a) != list(tags_b):
            return f"cell {index} has tags {list(tags_b)}, expected {list(tags_a)}"
    if len(expected.cells) != len(actual.cells):
        return f"{len(actual.cells)} cells, expected {len(expected.cells)}"
    return None


def verify_students(root: str | os.PathLike = "notebooks") -> list[str]:
    """One message per student copy that is missing, stale or out of sync with its lesson (empty: in sync)."""
    import nbformat

    root = Path(root)
    folder = root / STUDENT_DIR
    problems = []
    sources = student_sources(root)
    for name, expected in sorted(sources.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing; run `dicmini course make-student {root / name}`")
            continue
        where = _first_difference(expected, nbformat.read(path, as_version=4))
        if where:
            problems.append(f"{path}: out of sync with its lesson: {where}; "
                            f"run `dicmini course make-student {root / name}`")
    if folder.is_dir():
        for path in sorted(folder.glob("*.ipynb")):
            if NOTEBOOK_PATTERN.match(path.name) and path.name not in sources:
                problems.append(f"{path}: no lesson {root / path.name} with solution regions; run "
                                "`dicmini course make-student` (it removes stale copies)")
    return problems


# ------------------------------------------------------------------------------------------ CLI
def run_execute(args: argparse.Namespace) -> int:
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    paths = [Path(p) for p in args.notebooks] if args.notebooks else default_notebooks(args.root)
    if not paths:
        raise ValueError(f"{args.root}: no NN_*.ipynb lesson notebooks found")
    results: list[ExecutionResult] = []
    failed: list[Path] = []
    for path in paths:
        try:
            res = execute_notebook(path, timeout=args.timeout)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            failed.append(path)
            what = f"{err.ename}: {err.evalue}" if isinstance(err, CellExecutionError) else \
                (str(err).strip().splitlines() or [type(err).__name__])[-1]
            print(f"{path}: FAILED ({what}); left unchanged", file=sys.stderr, flush=True)
            continue
        results.append(res)
        print(f"{path}: {res.code_cells} code cells, {res.seconds:.1f} s", flush=True)
    if len(results) > 1:
        print(f"total: {sum(r.seconds for r in results):.1f} s for {len(results)} notebooks")
    if args.report and results:
        print(f"times written to {write_report(args.report, results)}")
    return 1 if failed else 0


def run_make_student(args: argparse.Namespace) -> int:
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    try:
        results = make_student(args.root, args.lessons or None, execute=False, only_stale=args.only_stale)
    except ValueError as err:
        print(f"make-student: {err}", file=sys.stderr)
        return 2
    if not results:
        print("every student copy is in sync with its lesson; nothing to do")
        return 0
    if args.no_execute:
        for path in results:
            print(f"{path}: written (not executed)")
        return 0
    executed: list[ExecutionResult] = []
    failed = False
    for path in results:
        try:
            res = execute_notebook(path, timeout=args.timeout)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            failed = True
            what = f"{err.ename}: {err.evalue}" if isinstance(err, CellExecutionError) else type(err).__name__
            print(f"{path}: FAILED ({what}); written without outputs", file=sys.stderr, flush=True)
            continue
        executed.append(res)
        print(f"{path}: {res.code_cells} code cells, {res.seconds:.1f} s", flush=True)
    if args.report and executed:
        print(f"times written to {write_report(args.report, executed)}")
    return 1 if failed else 0


def run_verify(args: argparse.Namespace) -> int:
    problems = verify_students(args.root)
    for line in problems:
        print(line)
    if not problems:
        print(f"{Path(args.root) / STUDENT_DIR}: {len(student_sources(args.root))} student notebooks in sync")
    return 1 if problems else 0


def run_times(args: argparse.Namespace) -> int:
    rows = read_report(args.report)
    if not rows:
        raise ValueError(f"{args.report}: no times recorded (run `dicmini course execute --report {args.report}`)")
    width = max(len(n) for n in rows)
    for name, (s, n) in sorted(rows.items()):
        print(f"{name:<{width}}  {s:7.1f} s  {n:3d} cells")
    print(f"{'total':<{width}}  {sum(s for s, _ in rows.values()):7.1f} s")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    course = sub.add_parser("course", help="execute and time the lesson notebooks; make and verify student copies")
    course_sub = course.add_subparsers(dest="course_command", metavar="ACTION", required=True)

    ex = course_sub.add_parser(
        "execute", help="re-execute notebooks in place (headless, fresh kernel) and normalise their metadata")
    ex.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                    help="notebooks to run (default: every NN_*.ipynb in --root)")
    ex.add_argument("--root", default="notebooks", help="folder searched when no notebook is named")
    ex.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell (default 600)")
    ex.add_argument("--report", metavar="FILE", help="merge per-notebook wall times into this Markdown table")
    ex.set_defaults(run=run_execute)

    student = course_sub.add_parser(
        "make-student", help="write notebooks/student/ copies with the solutions cleared, then execute them")
    student.add_argument("lessons", nargs="*", metavar="LESSON",
                         help="lesson notebooks to copy (default: every lesson with solution regions)")
    student.add_argument("--root", default="notebooks", help="folder of the lesson notebooks")
    student.add_argument("--no-execute", action="store_true", help="only write the sources (no outputs)")
    student.add_argument("--only-stale", action="store_true",
                         help="skip copies already in sync with their lesson (what `verify` checks)")
    student.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell (default 600)")
    student.add_argument("--report", metavar="FILE", help="merge the wall times into this Markdown table")
    student.set_defaults(run=run_make_student)

    verify = course_sub.add_parser("verify", help="check that notebooks/student/ matches the lessons' sources")
    verify.add_argument("--root", default="notebooks", help="folder of the lesson notebooks")
    verify.set_defaults(run=run_verify)

    times = course_sub.add_parser("times", help="print the per-notebook times recorded by execute --report")
    times.add_argument("report", metavar="FILE", help="a report written by `execute --report FILE`")
    times.set_defaults(run=run_times)


def main(argv: Sequence[str] | None = None) -> int:  # ``python -m dicmini.course ...``
    parser = argparse.ArgumentParser(prog="python -m dicmini.course")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(["course", *(sys.argv[1:] if argv is None else argv)])
    return int(args.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
