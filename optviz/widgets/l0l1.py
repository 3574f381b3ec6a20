r"""The (L0, L1) explorer of lecture 06: the two phases of :math:`\eta_k = 1/(L_0 + L_1|f'(x_k)|)`.

::

    from optviz.widgets.l0l1 import l0l1_explorer
    l0l1_explorer()                 # x⁴ from x₀ = 10 with (L0, L1) = (4, 2)

Controls: the problem (x⁴ or eˣ + e⁻ˣ), L0 and L1 (log sliders), the start x₀ (typed) and the
number of steps. The figure (:func:`optviz.viz.phases.l0l1_phase_figure`) shows the linear phase
while :math:`|f'(x_k)| \ge L_0/L_1` and the sublinear one after, the effective step, and GD with the
**best fixed step**: the step of a log grid of 61 values in :math:`[10^{-6}, 1]` with the smallest
worst final :math:`f - f^*` over five starts in :math:`[x_0/2, x_0]` (see :func:`best_fixed_step`;
one vectorised run, cached per problem, start and number of steps).
"""

from __future__ import annotations

from collections import OrderedDict

import ipywidgets as W
import numpy as np

from .._cache import LRUCache
from .._checks import check_choice, check_int, check_range
from ..optim.l0l1 import L0L1GD
from ..optim.sgd import SGD
from ..problems.toys import ExpCosh, Quartic
from ..run import Trace, run
from ..viz._style import describe, fmt_num
from ..viz.phases import l0l1_phase_figure
from ..viz.sgd import first_exit
from ._base import log_slider
from ._base import Explorer

__all__ = ["L0L1_PROBLEMS", "best_fixed_step", "L0L1Explorer", "l0l1_explorer"]

#: problems of the explorer: key → (label in the dropdown, class)
L0L1_PROBLEMS = OrderedDict([("quartic", ("x⁴", Quartic)), ("exp_cosh", ("eˣ + e⁻ˣ", ExpCosh))])

_GD_CACHE_SIZE = 16
_GD_CACHE: LRUCache[tuple, tuple] = LRUCache(_GD_CACHE_SIZE)


def _exit_window(problem, x0: float):
    """The problem's window, widened to contain the start (a run leaving it is «расходится»)."""
    (lo, hi), = problem.window
    c, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    half = max(half, 1.05 * abs(x0 - c))
    return ((c - half, c + half),)


def best_fixed_step(problem, x0: float, steps: int, lrs=None, n_starts: int = 5) -> tuple[Trace, float]:
    """The fixed GD step of ``lrs`` (default 61 log-spaced in [1e-6, 1]) tuned for starts in [x₀/2, x₀].

    A step is scored by its *worst* final f − f* over ``n_starts`` starts evenly spaced in
    [x₀/2, x₀] (a run leaving the window scores ∞): on a 1-D function a step tuned to one start
    alone can land next to the minimum in a single lucky step (on x⁴, η = 1/(4x₀²)), which is not
    what a fixed step does in general. All ``len(lrs) × n_starts`` runs are one vectorised
    computation. Returns ``(the trace of GD from x₀ with the chosen step, the step)`` (cached).
    """
    lrs = np.geomspace(1e-6, 1.0, 61) if lrs is None else np.asarray(lrs, dtype=float).reshape(-1)
    n_starts = check_int("n_starts", n_starts, 1)
    key = (repr(problem), float(x0), int(steps), lrs.tobytes(), n_starts)

    def compute():
        starts = np.linspace(0.5 * x0, x0, n_starts) if n_starts > 1 else np.array([x0])
        grid = run(problem, SGD, np.repeat(starts, lrs.size)[:, None], int(steps), lr=np.tile(lrs, n_starts))
        window = _exit_window(problem, x0)
        left = np.array([first_exit(grid.points[:, i], window, int(grid.diverged_at[i])) >= 0
                         for i in range(grid.n_runs)])
        final = np.where(left | ~np.isfinite(grid.final_loss), np.inf, grid.final_loss - problem.f_star)
        worst = final.reshape(n_starts, lrs.size).max(0)
        i = int(np.argmin(worst))
        return grid.select((n_starts - 1) * lrs.size + i), float(lrs[i])     # the run from x₀ itself

    return _GD_CACHE.get_or_compute(key, compute)


def l0l1_controls(problems: dict, problem: str, L0: float | None, L1: float | None, x0: float | None,
                  steps: int) -> tuple[OrderedDict, W.Widget]:
    """The controls of a 1-D (L0, L1) explorer and their layout: a function dropdown (``problems``:
    key → (Russian label, problem class with ``L0``, ``L1``, ``starts``)), log sliders L₀ and L₁
    (defaults: the class's constants), the start x₀ and the number of steps."""
    check_choice("problem", problem, tuple(problems))
    cls = problems[problem][1]
    wide = {"description_width": "initial"}
    c = OrderedDict()
    c["problem"] = W.Dropdown(options=[(lab, key) for key, (lab, _) in problems.items()], value=problem,
                              description="функция", style=wide)
    c["L0"] = log_slider(float(cls.L0 if L0 is None else L0), 1e-2, 1e2, "L₀", readout_format=".3g", steps=80)
    c["L1"] = log_slider(float(cls.L1 if L1 is None else L1), 1e-2, 1e2, "L₁", readout_format=".3g", steps=80)
    c["x0"] = W.FloatText(value=float(cls.starts[0, 0] if x0 is None else x0), description="старт x₀",
                          style=wide, layout=W.Layout(width="170px"))
    c["steps"] = W.IntSlider(value=int(steps), min=10, max=300, step=10, description="шагов", style=wide,
                             continuous_update=False)
    return c, W.VBox([W.HBox([c["problem"], c["x0"], c["steps"]]), W.HBox([c["L0"], c["L1"]])])


class L0L1Explorer(Explorer):
    """problem, L0, L1, x₀, steps → the (L0, L1) run and the best fixed-step GD, two phases marked."""

    def __init__(self, problem: str, L0: float | None, L1: float | None, x0: float | None, steps: int):
        c, box = l0l1_controls(L0L1_PROBLEMS, problem, L0, L1, x0, steps)
        super().__init__(c, self._build, controls_box=box,
                         static_values={"L1": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]})

    @staticmethod
    def problem_of(key: str):
        check_choice("problem", key, tuple(L0L1_PROBLEMS))
        return L0L1_PROBLEMS[key][1]()

    def _build(self, params: dict):
        problem = self.problem_of(params["problem"])
        L0 = float(check_range("L0", params["L0"], 0.0, low_open=True))
        L1 = float(check_range("L1", params["L1"], 0.0, low_open=True))
        steps = check_int("steps", params["steps"], 1, 2000)
        (lo, hi), = problem.window
        x0 = float(check_range("x0 (старт x₀)", params["x0"], lo, hi))
        adaptive = run(problem, L0L1GD, x0, steps, L0=L0, L1=L1)
        gd, lr = best_fixed_step(problem, x0, steps)
        traces = {describe("L0L1GD", {"L0": L0, "L1": L1}): adaptive,
                  f"GD, лучший постоянный шаг η = {fmt_num(lr)} (для стартов из [x₀/2, x₀])": gd}
        return l0l1_phase_figure(problem, traces, L0, L1, validate=not self.live)

    def before_update(self, change) -> None:
        """Choosing another function moves L0, L1 and x₀ to that function's own constants and start."""
        if change is not None and getattr(change, "owner", None) is self.controls["problem"] \
                or isinstance(change, dict) and change.get("owner") is self.controls["problem"]:
            cls = L0L1_PROBLEMS[self.controls["problem"].value][1]
            self.controls["L0"].value = float(cls.L0)
            self.controls["L1"].value = float(cls.L1)
            self.controls["x0"].value = float(cls.starts[0, 0])


def l0l1_explorer(problem: str = "quartic", *, L0: float | None = None, L1: float | None = None,
                  x0: float | None = None, steps: int = 60) -> L0L1Explorer:
    """A live (L0, L1) phase view; ``problem`` is ``"quartic"`` (x⁴) or ``"exp_cosh"`` (eˣ + e⁻ˣ).

    L0, L1 and x₀ default to the problem's constants ((4, 2) and (2, 1)) and its first start.
    """
    return L0L1Explorer(problem, L0, L1, x0, steps)
