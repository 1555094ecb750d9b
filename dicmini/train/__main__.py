"""``python -m dicmini.train ARGS`` is ``dicmini train ARGS`` (handy with ``torchrun -m dicmini.train``)."""

import sys

from ..cli import main

sys.exit(main(["train", *sys.argv[1:]]))
