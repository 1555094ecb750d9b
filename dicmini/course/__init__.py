"""The course tooling: everything that serves the lesson notebooks, apart from the runtime library.

* :mod:`dicmini.course.tooling` — ``dicmini course execute / make-student / verify / times``: keep the lessons
  executed, normalised and timed, and their ``notebooks/student/`` copies in sync;
* :mod:`dicmini.course.checks` — the autograded exercise checks the lessons call
  (``from dicmini.course import checks``).

The library (models, data, training, evaluation, the CLI's other commands) never imports this package; only
``dicmini/cli.py`` does, to register the ``course`` command group. Nothing is re-exported here.
"""
