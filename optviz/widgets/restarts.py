r"""The restart explorer of lecture 07: Nesterov's ripple of period ≈ π√κ, and restarts that remove it.

::

    from optviz.widgets.restarts import restart_explorer
    restart_explorer(kappa=200, criterion="gradient")

Controls: the condition number κ of the quadratic (log slider), the restart criterion («нет» /
«функциональная схема» / «градиентная схема» / «фиксированный период»), the period P of the
fixed-period restarts and the number of steps (typed; 0 = six ripple periods 6π√κ, at least 100
and at most 1500). Nesterov's method is ``SGD(lr=1/L, nesterov=True)`` wrapped in
:class:`~optviz.optim.restarts.Restarts` with the momentum :math:`\mu_j = (j-1)/(j+2)` counted
from the last restart (:func:`nesterov_run`); the run without restarts is always drawn next to
the chosen criterion (cached per κ and number of steps).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import ipywidgets as W

from .._cache import LRUCache
from .._checks import check_choice, check_int, check_range
from ..optim.restarts import Restarts
from ..optim.sgd import SGD
from ..problems.toys import Quadratic
from ..run import Trace, run
from ..viz.phases import restart_figure, ripple_period
from ._base import log_slider
from ._base import Explorer

__all__ = ["RESTART_CRITERIA", "nesterov_factory", "nesterov_run", "auto_steps", "RestartExplorer", "restart_explorer"]

#: criterion key → label of the dropdown
RESTART_CRITERIA = OrderedDict([("none", "нет"), ("function", "функциональная схема"),
                                ("gradient", "градиентная схема"), ("period", "фиксированный период")])

_CACHE_SIZE = 32
_CACHE: LRUCache[tuple, Trace] = LRUCache(_CACHE_SIZE)


def nesterov_factory(problem: Quadratic, criterion: str, period: int | None = None):
    """``params -> Restarts(SGD(lr=1/L, nesterov=True), criterion, momentum_schedule="nesterov")``."""
    check_choice("criterion", criterion, tuple(RESTART_CRITERIA))
    lr = 1.0 / problem.L
    crit = None if criterion == "none" else criterion
    kw = {"period": check_int("period", period, 1)} if criterion == "period" else {}

    def factory(params):
        return Restarts(SGD(params, lr=lr, momentum=0.5, nesterov=True), crit, momentum_schedule="nesterov", **kw)

    return factory


def nesterov_run(problem: Quadratic, criterion: str, steps: int, period: int | None = None) -> Trace:
    """Nesterov's method (η = 1/L) with ``criterion`` on ``problem`` from ``problem.start`` (cached)."""
    key = (repr(problem), criterion, int(steps), int(period) if criterion == "period" else None)
    return _CACHE.get_or_compute(
        key, lambda: run(problem, nesterov_factory(problem, criterion, period), problem.start, int(steps)))


def auto_steps(problem: Quadratic) -> int:
    """Six ripple periods 6π√κ, clipped to [100, 1500]."""
    return int(min(1500, max(100, math.ceil(6 * ripple_period(problem)))))


class RestartExplorer(Explorer):
    """κ, criterion, period, steps → Nesterov with and without restarts on the quadratic."""

    def __init__(self, kappa: float, criterion: str, period: int, steps: int, angle_deg: float):
        check_choice("criterion", criterion, tuple(RESTART_CRITERIA))
        self.angle_deg = float(angle_deg)
        wide = {"description_width": "initial"}
        c = OrderedDict()
        c["kappa"] = log_slider(float(kappa), 10.0, 1e4, "число обусловленности κ", readout_format=".3g", steps=60)
        c["kappa"].continuous_update = False    # two runs of ~6π√κ steps: recompute on release
        c["criterion"] = W.Dropdown(options=[(lab, key) for key, lab in RESTART_CRITERIA.items()], value=criterion,
                                    description="рестарт", style=wide)
        c["period"] = W.IntSlider(value=int(period), min=5, max=500, step=5, description="период P", style=wide)
        c["steps"] = W.IntText(value=int(steps), description="шагов (0 — авто)", style=wide,
                               layout=W.Layout(width="200px"))
        box = W.VBox([W.HBox([c["kappa"], c["steps"]]), W.HBox([c["criterion"], c["period"]])])
        super().__init__(c, self._build, controls_box=box,
                         static_values={"kappa": [10.0, 30.0, 100.0, 300.0, 1000.0]})

    def problem_of(self, params: dict | None = None) -> Quadratic:
        p = self.params if params is None else params
        return Quadratic(kappa=float(check_range("kappa (κ)", p["kappa"], 1.0)), angle_deg=self.angle_deg)

    def _build(self, params: dict):
        q = self.problem_of(params)
        criterion = check_choice("criterion", params["criterion"], tuple(RESTART_CRITERIA))
        steps = check_int("steps (шагов)", params["steps"], 0, 5000)
        steps = steps or auto_steps(q)
        period = check_int("period (период P)", params["period"], 1)
        traces = {"none": nesterov_run(q, "none", steps)}
        if criterion != "none":
            traces[criterion] = nesterov_run(q, criterion, steps, period)
        return restart_figure(traces, q, period=period if criterion == "period" else None,
                              validate=not self.live)


def restart_explorer(kappa: float = 100.0, criterion: str = "gradient", *, period: int = 50, steps: int = 0,
                     angle_deg: float = 30.0) -> RestartExplorer:
    """A live restart view on ``Quadratic(kappa, angle_deg)``; ``steps=0`` picks six ripple periods."""
    return RestartExplorer(kappa, criterion, period, steps, angle_deg)
