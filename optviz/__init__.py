"""optviz — the toolkit behind the Russian course «Оптимизация в картинках».

Layout (data flows one way):
``optviz.optim`` (methods as torch optimizers) → ``optviz.problems`` (toys, finite sums, games,
a toy group-DRO problem) and ``optviz.data`` / ``optviz.models`` / ``optviz.objectives`` (networks,
heterogeneous data, DRO baselines) → ``optviz.run`` (traces) and ``optviz.train`` (training results)
→ ``optviz.viz`` (figure builders) → ``optviz.widgets`` (live explorers); ``optviz.landscape``
(loss-landscape projections), ``optviz.experiments`` (the seeds' comparisons), ``optviz.distributed``
(one process per client), ``optviz.site`` (static course site).
"""

__version__ = "0.1.0"

from .run import GridResult, Trace, run, run_grid  # noqa: E402
from .train import TrainResult, evaluate, train  # noqa: E402

__all__ = ["run", "run_grid", "Trace", "GridResult", "train", "TrainResult", "evaluate", "__version__"]
