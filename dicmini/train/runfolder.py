"""A run folder belongs to one run: a lock for its lifetime, and no silent reuse.

* :func:`lock_run_folder` takes an exclusive ``fcntl.flock`` on ``DIR/run.lock`` (the holder's pid is written
  in it) for as long as the run lives; a second run into the same folder, concurrent, fails at once with
  :class:`RunFolderError` instead of both writing ``last.pt``. A finished run removes the file; the kernel
  releases the lock when a process dies, so a killed run never leaves the folder locked. Taking it also removes
  the temporary files a killed write left behind (:func:`dicmini.utils.remove_stale_temp_files`). Re-entrant
  within one process.
* :func:`check_fresh_run` refuses a fresh run into a folder that already holds a run's checkpoints unless the
  user asked to overwrite it (then the old run's files are removed first, so no log is appended to).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ..utils import remove_stale_temp_files

LOCK_FILE = "run.lock"
#: the files of one run (:class:`dicmini.train.trainer.Trainer`); ``--overwrite`` removes exactly these
RUN_FILES = ("last.pt", "best.pt", "log.jsonl", "config.json")

_held: dict[Path, list[int]] = {}  # resolved folder -> [fd, depth]


class RunFolderError(ValueError):
    """A run folder is in use by another run, or holds a run the user did not ask to replace."""


@contextlib.contextmanager
def lock_run_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (created) for the ``with`` block; :class:`RunFolderError` if another
    process holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    if key in _held:
        _held[key][1] += 1
        try:
            yield folder
        finally:
            _held[key][1] -= 1
        return
    fd = _acquire(folder / LOCK_FILE)
    _held[key] = [fd, 1]
    try:
        remove_stale_temp_files(folder)
        yield folder
    finally:
        del _held[key]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / LOCK_FILE)  # while still holding it: a finished run leaves no lock file
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _acquire(path: Path) -> int:
    """Open and ``flock`` ``path``; retried when the file was removed by its previous holder in between (the
    lock must be on the file that is at ``path`` now)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunFolderError(f"{path.parent}: another run (pid {holder}) is writing to this folder; wait for "
                                 "it to finish or use another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def existing_run(folder: str | os.PathLike) -> list[str]:
    """The checkpoint files of an earlier run in ``folder`` (empty if none)."""
    folder = Path(folder)
    return [name for name in ("last.pt", "best.pt") if (folder / name).exists()]


def check_fresh_run(folder: str | os.PathLike, overwrite: bool, resume_hint: str) -> None:
    """Before a fresh run into ``folder`` (hold its lock): refuse if it holds an earlier run's checkpoints,
    unless ``overwrite``; then remove that run's files (:data:`RUN_FILES`). ``resume_hint`` is the command that
    would continue the earlier run."""
    folder = Path(folder)
    found = existing_run(folder)
    if found and not overwrite:
        raise RunFolderError(f"{folder}: holds an earlier run ({', '.join(found)}); continue it with "
                             f"`{resume_hint}`, replace it with --overwrite, or choose another --out")
    if overwrite:
        for name in RUN_FILES:
            with contextlib.suppress(FileNotFoundError):
                (folder / name).unlink()


__all__ = ["LOCK_FILE", "RUN_FILES", "RunFolderError", "check_fresh_run", "existing_run", "lock_run_folder"]
