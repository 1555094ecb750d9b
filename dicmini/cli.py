"""The ``dicmini`` command line (also ``python -m dicmini``).

Each sub-command group lives beside the code it drives and registers itself here (a group's action that needs a
higher layer, ``dicmini data prepare`` from :mod:`dicmini.faces`, is added to the group here). Every error is printed as
one line on stderr, without a traceback (``DICMINI_DEBUG=1`` or ``--debug`` shows it): errors a user can fix
(bad arguments, missing, malformed or busy files and folders) exit with status 2, others (out of memory, an
unexpected failure) with 1, Ctrl-C with 130. ``dicmini`` alone prints the help.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import torch

from . import __version__
from .course import tooling as course_tooling
from .data import commands as data_commands
from .errors import CLIError
from .faces import commands as faces_commands
from .train import commands as train_commands

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
#: the order ``dicmini --help`` lists the sub-commands in: first results, then training, then data and the course
COMMAND_ORDER = ("demo", "sr", "sr-photo", "train", "test", "data", "course")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicmini",
        description="DIC face super-resolution (Ma et al., CVPR 2020): data, models, training, evaluation.",
        epilog="Start with `dicmini demo`. Errors are one line; DICMINI_DEBUG=1 (or --debug) shows the traceback.")
    parser.add_argument("--version", action="version", version=f"dicmini {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    data_actions = data_commands.register(sub)
    faces_commands.register_prepare(data_actions)  # `dicmini data prepare`: real photos, needs the faces package
    faces_commands.register(sub)
    course_tooling.register(sub)
    train_commands.register(sub)
    rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
    sub._choices_actions.sort(key=lambda a: rank.get(a.dest, len(rank)))  # the help listing's order
    return parser


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def describe_error(err: BaseException) -> tuple[str, int]:
    """``(one-line message, exit status)`` of an exception escaping a command."""
    if isinstance(err, OSError) and err.strerror and err.filename is None:
        return err.strerror.strip().splitlines()[0], EXIT_USAGE  # ours: the message names the file
    if isinstance(err, (CLIError, ValueError, OSError)):
        return _first_line(err), EXIT_USAGE
    if isinstance(err, RecursionError):
        return "an input file is nested too deeply to read (RecursionError); is it really the expected file?", \
            EXIT_USAGE
    if isinstance(err, (MemoryError, torch.OutOfMemoryError)):
        return (f"out of memory ({_first_line(err)}); use a smaller model, batch (--set batch_size=...), "
                "--set gradient_checkpointing=true, or the CPU"), EXIT_FAILED
    return (f"unexpected {type(err).__name__}: {_first_line(err)} (rerun with DICMINI_DEBUG=1 for the traceback "
            "and please report it)"), EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        parser.print_help()
        return 0
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    if len(argv) == 1 and argv[0] in commands and any(isinstance(a, argparse._SubParsersAction)
                                                     for a in commands[argv[0]]._actions):
        commands[argv[0]].print_help()  # a command group alone (`dicmini data`): its actions
        return 0
    args = parser.parse_args(argv)
    debug = args.debug or bool(os.environ.get("DICMINI_DEBUG"))
    try:
        result = args.run(args)
    except KeyboardInterrupt:
        print("dicmini: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # every error is one line; DICMINI_DEBUG=1 shows the traceback
        if debug:
            raise
        message, status = describe_error(err)
        print(f"dicmini: error: {message}", file=sys.stderr)
        return status
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
