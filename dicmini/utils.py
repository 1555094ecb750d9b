"""Small helpers shared by the package, scripts, tests and notebooks."""

from __future__ import annotations

import errno
import os
import random
import tempfile
import time
from pathlib import Path
from collections.abc import Callable, Iterable

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed ``random``, NumPy and PyTorch (CPU and CUDA); with ``deterministic`` also make cuDNN deterministic
    (no autotuning). The trainer passes its ``deterministic`` setting (default off: cuDNN autotuning)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        if deterministic:
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False


def parse_device(name: str, option: str = "--device") -> torch.device:
    """``torch.device(name)``, checked: an unknown name, or CUDA / a CUDA index this machine does not have,
    raises a one-line ``ValueError`` naming ``option``."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"{option} {name}: expected cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{option} {name}: CUDA is not available on this machine (use cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{option} {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"{option} {name}: MPS is not available on this machine (use cpu)")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{option} {name}: expected cpu, cuda, cuda:N or mps")
    return device


def pick_device(prefer: str | None = None) -> torch.device:
    """Return ``prefer`` if given (checked by :func:`parse_device`), else CUDA when available, else the CPU."""
    if prefer is not None:
        return parse_device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def refuse_overwriting(targets: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike],
                       option: str = "OUT") -> None:
    """Raise a one-line ``ValueError`` if any of ``targets`` (files about to be written) is one of ``inputs``
    (files read by the same command), or if two targets are the same file: outputs never replace inputs."""
    def key(p: str | os.PathLike) -> Path:
        return Path(p).resolve()

    sources = {key(p): Path(p) for p in inputs}
    seen: dict[Path, Path] = {}
    for target in targets:
        k = key(target)
        if k in sources:
            raise ValueError(f"{option} {target}: would overwrite the input {sources[k]}; choose another output")
        if k in seen:
            raise ValueError(f"{option}: two outputs would be written to {target}; rename one input")
        seen[k] = Path(target)


#: temporary files of :func:`atomic_write` are named ``.<target name>.<random>.tmp`` beside the target
TEMP_PREFIX, TEMP_SUFFIX = ".", ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    A run killed half-way therefore never leaves a half-written ``path`` behind: either the old file (or
    nothing) or the complete new one is there. The temporary file lies beside ``path`` (same file system),
    is flushed to disk before the rename, gets the permissions of a plain ``open()`` (``0o666 & ~umask``), and
    is removed on any exception, ``KeyboardInterrupt`` included; a full disk raises ``OSError`` naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise OSError(err.errno, f"{path}: no space left on the device; nothing was written") from None
        raise
    except RuntimeError as err:  # torch.save reports a failed write (e.g. a full disk) as a RuntimeError
        if "write failed" not in str(err):
            raise
        raise OSError(errno.EIO, f"{path}: the write failed (is the disk full?); nothing was written") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def remove_stale_temp_files(folder: str | os.PathLike, min_age_s: float = 0.0) -> list[Path]:
    """Delete the temporary files :func:`atomic_write` left in ``folder`` when a process was killed mid-write
    (``.<name>.<random>.tmp``, older than ``min_age_s`` seconds); returns them. Call it only while holding the
    folder (e.g. under :class:`dicmini.train.runfolder.RunFolder`'s lock), so no live write is removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    removed = []
    for p in folder.iterdir():
        if p.name.startswith(TEMP_PREFIX) and p.name.endswith(TEMP_SUFFIX) and p.is_file():
            try:
                if now - p.stat().st_mtime >= min_age_s:
                    p.unlink()
                    removed.append(p)
            except FileNotFoundError:
                continue
    return removed
