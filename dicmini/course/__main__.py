"""``python -m dicmini.course ...`` (the same as ``dicmini course ...``)."""

import sys

from .tooling import main

sys.exit(main())
