r"""The SGD explorer of lecture 02: step size, batch size, schedule and seed → the two-panel view.

::

    from optviz.widgets.sgd import sgd_explorer, schedule_traces
    sgd_explorer()                                   # display it in a notebook

    from optviz.viz.sgd import sgd_schedule_figure
    p = LinearRegression()
    sgd_schedule_figure(p, schedule_traces(p, lr=0.3, batch_size=1, steps=300, seeds=range(4)))

Controls: the step size η (α₀ for the decreasing schedules, log slider), the batch size b, the
schedule («постоянный» / «убывающий α₀/√(k+1)» / «убывающий (2k+1)/(2μ(k+1)²)»), the seed of
the mini-batches (typed) and the iteration k shown (slider with ▶). Moving k only redraws: the run
for the other settings is cached. The static version (``OPTVIZ_STATIC=1``) is the animated
two-panel figure of the current settings.

Decreasing steps are a ``torch.optim.lr_scheduler.LambdaLR`` passed to :func:`optviz.run.run`
(``scheduler=``): see :func:`lr_scheduler`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable

import ipywidgets as W
import torch

from .._cache import LRUCache
from .._checks import check_choice, check_int, check_range
from ..optim.sgd import SGD
from ..problems.finite_sums import LinearRegression
from ..run import Trace, run
from ..viz.sgd import SCHEDULE_LABELS, sgd_two_panel
from ._base import Explorer, log_slider

__all__ = ["SCHEDULES", "step_schedule", "lr_scheduler", "schedule_traces", "SGDExplorer", "sgd_explorer"]

SCHEDULES = tuple(SCHEDULE_LABELS)


def step_schedule(kind: str, lr: float, mu: float | None = None) -> Callable[[int], float]:
    r"""The step :math:`\alpha_k` of the k-th step (k = 0, 1, …) as a function.

    * ``"constant"``: :math:`\alpha_k = \alpha`;
    * ``"sqrt"``: :math:`\alpha_k = \alpha_0/\sqrt{k+1}`;
    * ``"strongly_convex"``: :math:`\alpha_k = \min\{\alpha_0,\ (2k+1)/(2\mu(k+1)^2)\}` — the
      lecture's schedule for a μ-strongly convex f, capped at α₀ = ``lr`` (its first values,
      up to 1/(2μ), may exceed the stable step 2/L; the cap plays the role of the constant phase
      of the schedules in the literature).
    """
    check_choice("kind", kind, SCHEDULES)
    check_range("lr", lr, 0.0, low_open=True)
    if kind == "constant":
        return lambda k: lr
    if kind == "sqrt":
        return lambda k: lr / math.sqrt(k + 1)
    if mu is None:
        raise ValueError("Для шага (2k+1)/(2μ(k+1)²) нужна константа сильной выпуклости μ > 0 (параметр mu).")
    check_range("mu", mu, 0.0, low_open=True)
    return lambda k: min(lr, (2 * k + 1) / (2 * mu * (k + 1) ** 2))


def lr_scheduler(kind: str, lr: float, mu: float | None = None):
    """``callable(opt) -> LambdaLR`` realising :func:`step_schedule` (None for a constant step).

    ``LambdaLR`` multiplies the optimizer's initial ``lr`` by ``α_k / lr`` before the k-th step
    (:func:`optviz.run.run` steps the scheduler after every optimizer step).
    """
    schedule = step_schedule(kind, lr, mu)
    if kind == "constant":
        return None
    return lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda k: schedule(k) / lr)


def schedule_traces(problem, lr: float, batch_size: int, steps: int, *, seeds: Iterable[int] = (0,),
                    kinds: Iterable[str] = SCHEDULES, x0=None) -> dict[str, list[Trace]]:
    """SGD runs for :func:`optviz.viz.sgd.sgd_schedule_figure`: ``{kind: [trace per seed]}``.

    Every kind sees the same mini-batches for a given seed (a fair comparison).
    """
    check_int("batch_size", batch_size, 1, problem.n_samples)
    check_int("steps", steps, 1)
    start = problem.starts[0] if x0 is None else x0
    out: dict[str, list[Trace]] = {}
    for kind in kinds:
        sched = lr_scheduler(kind, lr, problem.mu)
        out[kind] = [run(problem, SGD, start, steps, batches=problem.sample_batches(steps, batch_size, int(s)),
                         lr=lr, scheduler=sched) for s in seeds]
    return out


class SGDExplorer(Explorer):
    """η, b, schedule, seed → one SGD run (cached); the iteration slider k moves through it."""

    _CACHE_SIZE = 24

    def __init__(self, problem: LinearRegression, *, lr: float, batch_size: int, steps: int, seed: int,
                 schedule: str, x0=None):
        self.problem = problem
        self.steps = check_int("steps", steps, 1, 2000)
        self.x0 = problem.starts[0] if x0 is None else x0
        self._runs: LRUCache[tuple, Trace] = LRUCache(self._CACHE_SIZE)
        wide = {"description_width": "initial"}
        c = OrderedDict()
        c["lr"] = log_slider(float(lr), 1e-3, 2.0, "шаг η (α₀)", readout_format=".3g", steps=90)
        c["batch_size"] = W.IntSlider(value=int(batch_size), min=1, max=problem.n_samples, description="батч b",
                                      style=wide, continuous_update=False)
        c["schedule"] = W.Dropdown(options=[("постоянный", "constant"), ("убывающий α₀/√(k+1)", "sqrt"),
                                            ("убывающий (2k+1)/(2μ(k+1)²)", "strongly_convex")],
                                   value=schedule, description="шаг", style=wide)
        c["seed"] = W.IntText(value=int(seed), description="зерно батчей", style=wide,
                              layout=W.Layout(width="180px"))
        c["step"] = W.IntSlider(value=0, min=0, max=self.steps - 1, description="итерация k", style=wide)
        self.play = W.Play(value=0, min=0, max=self.steps - 1, interval=350, description="▶ Пуск")
        W.jslink((self.play, "value"), (c["step"], "value"))
        box = W.VBox([W.HBox([c["lr"], c["batch_size"]]), W.HBox([c["schedule"], c["seed"]]),
                      W.HBox([self.play, c["step"]])])
        super().__init__(c, self._build, controls_box=box)

    # -- compute -----------------------------------------------------------------------------
    def trace_for(self, params: dict | None = None) -> Trace:
        """The SGD run of the settings ``params`` (default: the current ones), cached."""
        p = self.params if params is None else params
        lr = float(check_range("lr", p["lr"], 0.0, low_open=True))
        b = check_int("batch_size", p["batch_size"], 1, self.problem.n_samples)
        seed = check_int("seed (зерно батчей)", p["seed"], 0)
        kind = check_choice("schedule", p["schedule"], SCHEDULES)
        key = (lr, b, seed, kind)

        def compute():
            batches = self.problem.sample_batches(self.steps, b, seed)
            return run(self.problem, SGD, self.x0, self.steps, batches=batches, lr=lr,
                       scheduler=lr_scheduler(kind, lr, self.problem.mu))

        return self._runs.get_or_compute(key, compute)

    def _build(self, params: dict):
        tr = self.trace_for(params)
        k = check_int("step (итерация k)", params["step"], 0, self.steps - 1)
        return sgd_two_panel(self.problem, tr, step=k, validate=not self.live,
                             schedule=None if params["schedule"] == "constant" else params["schedule"])

    def static_figure(self, values=None):
        """The animated two-panel figure of the current settings (▶ / step slider), for HTML export;
        with ``values`` — a slider over those settings, as :meth:`Explorer.static_figure`."""
        if values:
            return Explorer.static_figure(self, values)
        p = self.params
        return sgd_two_panel(self.problem, self.trace_for(p),
                             schedule=None if p["schedule"] == "constant" else p["schedule"])


def sgd_explorer(problem: LinearRegression | None = None, *, lr: float = 0.1, batch_size: int = 4, steps: int = 50,
                 seed: int = 0, schedule: str = "constant", x0=None) -> SGDExplorer:
    """A live two-panel SGD view on ``problem`` (default ``LinearRegression()``); display the result."""
    check_choice("schedule", schedule, SCHEDULES)
    return SGDExplorer(problem if problem is not None else LinearRegression(), lr=lr, batch_size=batch_size,
                       steps=steps, seed=seed, schedule=schedule, x0=x0)
