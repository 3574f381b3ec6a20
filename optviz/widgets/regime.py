r"""The regime-map explorer: heavy ball on a quadratic, the (η, β) map beside the chosen trajectory.

::

    from optviz.widgets.regime import regime_explorer
    regime_explorer(kappa=100)          # display it in a notebook

Sliders: the condition number κ and the number of steps (these recompute the map: a
``run_grid`` of ``SGD`` over a ``n × n`` grid of (lr, momentum), one vectorised run), and the
chosen (η, β) — by sliders or by clicking a cell of the map — whose trajectory is drawn on the
contour beside it, with its theoretical and measured rates in the caption
(:func:`optviz.viz.regime.regime_map`).

Speed: maps are cached per (κ, angle, steps, n), so moving η or β runs one trajectory only, and the
map's heatmaps are not re-sent to the browser while the map is unchanged. The step-size axis spans
:math:`[10^{-2}/L, 6/L]`: it follows κ (μ = 1, L = κ).
"""

from __future__ import annotations

from collections import OrderedDict

import ipywidgets as W
import numpy as np

from .._cache import LRUCache
from ..optim.sgd import SGD
from ..problems.toys import Quadratic
from ..run import run, run_grid
from ..viz.regime import regime_map
from ._base import log_slider
from ._base import Explorer

__all__ = ["RegimeExplorer", "regime_explorer", "regime_grid"]

_GRID_CACHE_SIZE = 12
_GRID_CACHE: LRUCache[tuple, object] = LRUCache(_GRID_CACHE_SIZE)


def regime_grid(problem: Quadratic, steps: int, n: int = 30):
    """``run_grid`` of heavy ball (``SGD(lr, momentum)``) on ``problem`` over η ∈ [10⁻²/L, 6/L] (log)
    × β ∈ [0, 0.99], ``n × n`` cells, from ``problem.start`` (cached)."""
    key = (repr(problem), int(steps), int(n))

    def compute():
        lrs = np.geomspace(1e-2 / problem.L, 6.0 / problem.L, n)
        moms = np.linspace(0.0, 0.99, n)
        return run_grid(problem, SGD, problem.start, int(steps), grid={"lr": lrs, "momentum": moms})

    return _GRID_CACHE.get_or_compute(key, compute)


class RegimeExplorer(Explorer):
    """κ and steps → the regime map; (η, β) by sliders or a click → its trajectory beside the map."""

    def __init__(self, kappa: float, steps: int, angle_deg: float, n: int, lr: float | None, momentum: float | None):
        self.angle_deg, self.n = float(angle_deg), int(n)
        q = Quadratic(kappa=kappa, angle_deg=angle_deg)
        a_star, b_star = q.heavy_ball_params
        wide = {"description_width": "initial"}
        c = OrderedDict()
        c["kappa"] = log_slider(float(kappa), 1.0, 1e4, "число обусловленности κ", readout_format=".3g", steps=40)
        c["steps"] = W.IntSlider(value=int(steps), min=20, max=500, step=10, description="шагов", style=wide,
                                 continuous_update=False)
        c["lr"] = log_slider(float(lr if lr is not None else a_star), 1e-6, 10.0, "шаг η", readout_format=".3g",
                             steps=140)
        c["momentum"] = W.FloatSlider(value=float(momentum if momentum is not None else b_star), min=0.0, max=0.99,
                                      step=0.001, readout_format=".3f", description="импульс β", style=wide)
        box = W.VBox([W.HBox([c["kappa"], c["steps"]]), W.HBox([c["lr"], c["momentum"]]),
                      W.HTML("<small>щелчок по клетке карты выбирает её (η, β)</small>")])
        super().__init__(c, self._build, controls_box=box,
                         static_values={"kappa": [1.0, 10.0, 100.0, 1000.0, 10000.0]})

    def problem_of(self, params=None) -> Quadratic:
        params = self.params if params is None else params
        return Quadratic(kappa=float(params["kappa"]), angle_deg=self.angle_deg)

    def _build(self, params):
        q = self.problem_of(params)
        steps = int(params["steps"])
        grid = regime_grid(q, steps, self.n)
        tr = run(q, SGD, q.start, steps, lr=float(params["lr"]), momentum=float(params["momentum"]))
        return regime_map(grid, q, trace=tr, validate=not self.live)

    def after_sync(self) -> None:
        fw = self._fig
        if fw is None:
            return
        for tr in fw.data[:2]:       # the ρ heatmap and the diverged-cells layer over it
            if tr.type == "heatmap":
                tr.on_click(self._on_map_click)

    def _on_map_click(self, trace, points, selector=None) -> None:
        xs, ys = list(getattr(points, "xs", []) or []), list(getattr(points, "ys", []) or [])
        if xs and ys:   # the map's x axis is lg η
            self.set(lr=float(10.0 ** float(xs[0])), momentum=float(ys[0]))

    def static_figure(self, values=None):
        """A plotly slider over κ (the chosen (η, β) set to the optimum of each κ), for HTML export."""
        from ..viz._plotly import frames_figure
        from ..viz._style import fmt_num

        kappas = list((values or {}).get("kappa", self.static_values["kappa"]))
        figs = []
        for k in kappas:
            a, b = Quadratic(kappa=k, angle_deg=self.angle_deg).heavy_ball_params
            figs.append(self.figure(kappa=k, lr=a, momentum=b))
        return frames_figure(figs, [fmt_num(k) for k in kappas], label="κ")


def regime_explorer(kappa: float = 100.0, steps: int = 200, *, angle_deg: float = 30.0, n: int = 30,
                    lr: float | None = None, momentum: float | None = None) -> RegimeExplorer:
    """A live regime map of heavy ball on ``Quadratic(kappa, angle_deg)`` (display the returned explorer).

    ``n × n`` grid cells; the chosen (η, β) starts at the theoretical optimum unless given.
    """
    return RegimeExplorer(kappa, steps, angle_deg, n, lr, momentum)
