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

With no notebook given, every ``notebooks/[0-9][0-9]_*.ipynb`` under the current directory is run.
``--report FILE`` keeps a Markdown table of the per-notebook wall times (rows of notebooks not run
this time are kept), and ``dicmini course times FILE`` prints it.
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

from .utils import atomic_write

__all__ = [
    "KERNELSPEC",
    "ExecutionResult",
    "default_notebooks",
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
NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")


@dataclass(frozen=True)
class ExecutionResult:
    path: Path
    seconds: float
    code_cells: int


def default_notebooks(root: str | os.PathLike = "notebooks") -> list[Path]:
    """The numbered lesson notebooks ``root/NN_*.ipynb``, sorted by name (student copies excluded)."""
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


# ------------------------------------------------------------------------------------------ CLI
def run_execute(args: argparse.Namespace) -> int:
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    paths = [Path(p) for p in args.notebooks] if args.notebooks else default_notebooks(args.root)
    if not paths:
        raise ValueError(f"{args.root}: no NN_*.ipynb notebooks found")
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
    course = sub.add_parser("course", help="execute and time the lesson notebooks")
    course_sub = course.add_subparsers(dest="course_command", metavar="ACTION", required=True)

    ex = course_sub.add_parser(
        "execute", help="re-execute notebooks in place (headless, fresh kernel) and normalise their metadata")
    ex.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                    help="notebooks to run (default: every NN_*.ipynb in --root)")
    ex.add_argument("--root", default="notebooks", help="folder searched when no notebook is named")
    ex.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help="seconds per cell (default 600)")
    ex.add_argument("--report", metavar="FILE", help="merge per-notebook wall times into this Markdown table")
    ex.set_defaults(run=run_execute)

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
