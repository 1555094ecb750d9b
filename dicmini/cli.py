"""The ``dicmini`` command line (also ``python -m dicmini``).

Each sub-command group lives beside the code it drives and registers itself here; errors a user can
fix (bad arguments, missing or malformed files) are printed as one line on stderr and the command
exits with status 2, without a traceback (set ``DICMINI_DEBUG=1`` to see it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import course
from .data import commands as data_commands
from .faces import commands as faces_commands
from .train import commands as train_commands

EXIT_USAGE = 2


class CLIError(Exception):
    """An error the user can fix; printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicmini",
        description="DIC face super-resolution (Ma et al., CVPR 2020): data, models, training, evaluation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    data_commands.register(sub)
    faces_commands.register(sub)
    course.register(sub)
    train_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.run(args)
    except KeyboardInterrupt:
        print("dicmini: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError) as err:
        if os.environ.get("DICMINI_DEBUG"):
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"dicmini: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
