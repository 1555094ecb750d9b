"""``python -m dicmini.data.synthetic``: see :func:`dicmini.data.synthetic.cli.main`."""

from .cli import main

raise SystemExit(main())
