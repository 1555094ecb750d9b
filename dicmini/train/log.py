"""The JSON-lines training log: one object per line (``{"type": "train" | "val" | ..., "step": N, ...}``)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..utils import atomic_write


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``None`` (strict JSON has no inf/nan) and tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class JsonlLog:
    """Append-only JSON-lines log; a disabled log (processes other than rank 0) writes nothing."""

    def __init__(self, path: str | os.PathLike, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def write(self, record: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(json_safe(record), sort_keys=False) + "\n")
            f.flush()

    def truncate_after(self, step: int) -> None:
        """Drop records of iterations after ``step`` (a resumed run re-does them); keeps unparsable lines out."""
        if not self.enabled or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short when the previous run was killed
            if record.get("step", 0) <= step:
                kept.append(line)
        atomic_write(self.path, lambda tmp: tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8"))

    def read(self) -> list[dict[str, Any]]:
        """All records (for tests and summaries)."""
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
