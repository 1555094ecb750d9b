"""Error types shared across the package's layers (they import nothing from dicmini)."""

from __future__ import annotations

__all__ = ["CLIError"]


class CLIError(Exception):
    """An error the user can fix; the ``dicmini`` command prints it as one line (exit status 2)."""
