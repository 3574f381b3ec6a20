"""Graded exercises of the course: self-check, generation of exercises, sandboxed grading, release.

* :func:`check` — the student's one-line self-check in a notebook (Russian report, partial
  credit, the student's trajectory over the reference one);
* ``python -m optviz.grading generate [--check]`` — ``solutions/`` → ``exercises/``;
* ``python -m optviz.grading grade DIR --out grades.csv`` — grade a folder of submissions against
  the hidden checks in ``solutions/hidden/`` (one sandboxed process per submission);
* ``python -m optviz.grading release OUT_DIR`` — the student release (no solutions, no hidden tests).

The authoring format is documented in ``solutions/README.md``.
"""

from .selfcheck import SelfCheck, check
from .spec import AnswerError, Check, Exercise, Task

__all__ = ["check", "SelfCheck", "Check", "Task", "Exercise", "AnswerError"]
