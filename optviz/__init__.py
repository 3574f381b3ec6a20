"""optviz — the toolkit behind the Russian course «Оптимизация в картинках».

Layout (data flows one way):
``optviz.optim`` (methods as torch optimizers) → ``optviz.problems`` (toys, finite sums, games,
a toy group-DRO problem) → ``optviz.run`` (traces of optimizers on problems).
"""

__version__ = "0.1.0"

from .run import GridResult, Trace, run, run_grid  # noqa: E402

__all__ = ["run", "run_grid", "Trace", "GridResult", "__version__"]
