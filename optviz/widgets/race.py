r"""The method race and the single-method explorer: sliders → :func:`optviz.run.run` → a trajectory figure.

::

    from optviz.widgets.race import race_explorer, method_explorer
    race_explorer("rosenbrock", methods=("GD", "Momentum", "Adam"))    # display it in a notebook
    method_explorer("Momentum")                                        # with «оптимальный шаг»

Race explorer
-------------
Pick a 2-D toy (its Russian title in a dropdown), a start (two fields, or a click on the contour),
the methods (checkboxes) and their hyperparameters (a log-scale step size per method, shared
momentum, β₁, β₂, ε, λ, L₀, L₁ and the period P of the restarted Nesterov/Adam —
:class:`optviz.optim.Restarts` with :class:`~optviz.optim.FixedPeriod`). The figure — contour,
paths, loss vs iteration — is updated in place.

**Live widget vs static page.** A plotly ``FigureWidget`` cannot play animation frames, so the live
explorer draws the race at a chosen step: a «шаг» slider (with a ▶ Play button that moves it)
cuts every path at that step and puts the current points there; the finished race is the default.
Moving it reuses the computed runs (only the figure is rebuilt). :meth:`RaceExplorer.static_figure`
(used for the static site) is the same race as an animated figure with plotly frames.

Speed
-----
Every run is cached by (problem, start, steps, method, its hyperparameters): moving one method's
step size re-runs only that method; the step slider, a checkbox switched back on, or a repeated
setting re-run nothing. The contour of a problem is computed once
(:func:`optviz.viz.trajectories.contour_grid`) and never re-sent to the browser while the problem is
unchanged (:class:`Explorer` skips traces whose ``meta['optviz_static']`` key did not change).
``benchmarks/bench_widgets.py`` measures slider-to-figure times.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict

import ipywidgets as W
import numpy as np

from .._cache import LRUCache
from ..optim.adaptive import Adagrad, Adam, AdamW, RMSProp
from ..optim.l0l1 import L0L1GD
from ..optim.restarts import FixedPeriod, Restarts
from ..optim.sgd import SGD
from ..optim.shampoo import Shampoo
from ..problems.toys import TOYS, Quadratic, make_toy
from ..run import run
from ..viz._style import color_for, describe, fmt_num, method_label
from ..viz.regime import heavy_ball_theory
from ..viz.trajectories import trajectory_figure
from ._base import Explorer, log_slider

__all__ = [
    "RACE_METHODS",
    "RACE_PROBLEMS",
    "Explorer",
    "MethodExplorer",
    "RaceExplorer",
    "method_explorer",
    "race_explorer",
    "SHARED_DEFAULTS",
    "method_spec",
    "run_method",
    "theory_rate",
]


# ---------------------------------------------------------------------------------------------
# an Explorer that batches control changes, re-sends only what changed and keeps click hooks
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# methods and problems of the race
# ---------------------------------------------------------------------------------------------


def _restarted(inner_cls, reset):
    def factory(params, period, **kw):
        return Restarts(inner_cls(params, **kw), FixedPeriod(period), reset=reset)

    return factory


_nesterov_restarted = _restarted(SGD, ("momentum",))
_adam_restarted = _restarted(Adam, ("moments", "step"))

#: method key → (display name, default step size on Rosenbrock, hyperparameters it uses)
RACE_METHODS = OrderedDict([
    ("GD", ("GD", 1e-3, ())),
    ("Momentum", ("Momentum", 1e-3, ("momentum",))),
    ("Nesterov", ("Nesterov", 1e-3, ("momentum",))),
    ("Adagrad", ("Adagrad", 0.5, ("eps",))),
    ("RMSProp", ("RMSProp", 1e-2, ("beta2", "eps"))),
    ("Adam", ("Adam", 5e-2, ("beta1", "beta2", "eps"))),
    ("AdamW", ("AdamW", 5e-2, ("beta1", "beta2", "eps", "weight_decay"))),
    ("L0L1GD", ("L0L1GD", 1.0, ("L0", "L1"))),
    ("Shampoo", ("Shampoo", 5e-2, ())),
    ("NesterovRestart", ("Nesterov + рестарты", 1e-3, ("momentum", "period"))),
    ("AdamRestart", ("Adam + рестарты", 5e-2, ("beta1", "beta2", "eps", "period"))),
])
_EXTRA_COLORS = {"NesterovRestart": "#ff9896", "AdamRestart": "#c49c94"}

#: defaults of the hyperparameters the race methods share (momentum, β₁, β₂, ε, λ, L₀, L₁, restart period)
SHARED_DEFAULTS = dict(momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, L0=1.0, L1=1.0, period=50)


def _problem_factories():
    out = OrderedDict()
    for name, cls in TOYS.items():
        if name == "quadratic":
            out[name] = lambda: Quadratic(kappa=10, angle_deg=30)
        elif getattr(cls, "dim", 2) == 2:
            out[name] = (lambda n=name: make_toy(n))
    return out


#: 2-D problems offered by the race (name → factory)
RACE_PROBLEMS = _problem_factories()


def _method_color(key, index):
    if key in _EXTRA_COLORS:
        return _EXTRA_COLORS[key]
    return color_for(key, index)


def method_spec(key: str, lr: float, shared: dict):
    """``(optimizer spec, keyword arguments, hyperparameters shown in the legend)`` of race method ``key``.

    ``shared`` holds every key of :data:`SHARED_DEFAULTS`; the spec is what :func:`optviz.run.run` takes.
    """
    m, b1, b2, eps = shared["momentum"], shared["beta1"], shared["beta2"], shared["eps"]
    if key == "GD":
        return SGD, dict(lr=lr), dict(lr=lr)
    if key == "Momentum":
        return SGD, dict(lr=lr, momentum=m), dict(lr=lr, momentum=m)
    if key == "Nesterov":
        return SGD, dict(lr=lr, momentum=m, nesterov=True), dict(lr=lr, momentum=m)
    if key == "Adagrad":
        return Adagrad, dict(lr=lr, eps=eps), dict(lr=lr, eps=eps)
    if key == "RMSProp":
        return RMSProp, dict(lr=lr, alpha=b2, eps=eps), dict(lr=lr, alpha=b2, eps=eps)
    if key == "Adam":
        return Adam, dict(lr=lr, betas=(b1, b2), eps=eps), dict(lr=lr, beta1=b1, beta2=b2, eps=eps)
    if key == "AdamW":
        wd = shared["weight_decay"]
        return (AdamW, dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd),
                dict(lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd))
    if key == "L0L1GD":
        L0, L1 = shared["L0"], shared["L1"]
        return L0L1GD, dict(L0=L0, L1=L1, lr=lr), dict(lr=lr, L0=L0, L1=L1)
    if key == "Shampoo":
        return Shampoo, dict(lr=lr), dict(lr=lr)
    if key == "NesterovRestart":
        P = int(shared["period"])
        return _nesterov_restarted, dict(lr=lr, momentum=m, nesterov=True, period=P), dict(lr=lr, momentum=m, period=P)
    if key == "AdamRestart":
        P = int(shared["period"])
        return (_adam_restarted, dict(lr=lr, betas=(b1, b2), eps=eps, period=P),
                dict(lr=lr, beta1=b1, beta2=b2, eps=eps, period=P))
    allowed = ", ".join(RACE_METHODS)
    raise ValueError(f"Неизвестный метод {key!r}; доступны: {allowed}.")


_RUN_CACHE_SIZE = 128
_RUN_CACHE: LRUCache[tuple, object] = LRUCache(_RUN_CACHE_SIZE)


def _freeze(v):
    if isinstance(v, (tuple, list)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return v


def run_method(problem, key: str, start, steps: int, lr: float, **shared):
    """Run race method ``key`` (a key of :data:`RACE_METHODS`) and return its trace (cached).

    The trace's ``method`` is the display name («Nesterov + рестарты»), its ``hyper`` the values
    shown in the legend. Shared hyperparameters not given take the race's defaults.
    """
    sh = dict(SHARED_DEFAULTS)
    sh.update(shared)
    spec, kwargs, shown = method_spec(key, float(lr), sh)
    start = np.asarray(start, dtype=float).reshape(-1)
    cache_key = (type(problem), repr(problem), tuple(start.tolist()), int(steps), key,
                 tuple(sorted((k, _freeze(v)) for k, v in kwargs.items())))

    def compute():
        tr = run(problem, spec, start, int(steps), **kwargs)
        return dataclasses.replace(tr, method=RACE_METHODS[key][0], hyper=shown)

    return _RUN_CACHE.get_or_compute(cache_key, compute)


def _check_start(problem, x, y):
    (x0, x1), (y0, y1) = problem.window
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError("Стартовая точка должна состоять из конечных чисел.")
    if not (x0 <= x <= x1 and y0 <= y <= y1):
        raise ValueError(f"Стартовая точка ({fmt_num(x)}, {fmt_num(y)}) вне окна графика: x ∈ [{fmt_num(x0)}, "
                         f"{fmt_num(x1)}], y ∈ [{fmt_num(y0)}, {fmt_num(y1)}].")


# ---------------------------------------------------------------------------------------------
# the race explorer
# ---------------------------------------------------------------------------------------------


class RaceExplorer(Explorer):
    """The race of methods from a shared start (see the module docstring); build with :func:`race_explorer`."""

    def __init__(self, problems: dict, methods, start, steps: int):
        self.problems = problems          # name -> problem instance
        first = next(iter(problems))
        problem = problems[first]
        start = problem.start if start is None else np.asarray(start, dtype=float).reshape(2)
        wide = {"description_width": "initial"}
        c = OrderedDict()
        c["problem"] = W.Dropdown(options=[(p.title, n) for n, p in problems.items()], value=first,
                                  description="функция", style=wide)
        c["x0"] = W.FloatText(value=float(start[0]), description="x₀", step=0.1, layout=W.Layout(width="150px"))
        c["y0"] = W.FloatText(value=float(start[1]), description="y₀", step=0.1, layout=W.Layout(width="150px"))
        c["steps"] = W.IntSlider(value=int(steps), min=10, max=1000, step=10, description="шагов", style=wide,
                                 continuous_update=False)
        c["step"] = W.IntSlider(value=int(steps), min=0, max=int(steps), description="текущий шаг", style=wide)
        for key, (name, lr, _) in RACE_METHODS.items():
            c[f"use_{key}"] = W.Checkbox(value=key in methods, description=method_label(name), indent=False,
                                         layout=W.Layout(width="190px"))
            c[f"lr_{key}"] = log_slider(lr, 1e-5, 10.0, "η", readout_format=".1e")
        c["momentum"] = W.FloatSlider(value=SHARED_DEFAULTS["momentum"], min=0.0, max=0.99, step=0.01,
                                      description="импульс β", style=wide)
        c["beta1"] = W.FloatSlider(value=SHARED_DEFAULTS["beta1"], min=0.0, max=0.99, step=0.01, description="β₁", style=wide)
        c["beta2"] = W.FloatSlider(value=SHARED_DEFAULTS["beta2"], min=0.5, max=0.9999, step=0.0001, readout_format=".4f",
                                   description="β₂ (у RMSProp — α)", style=wide)
        c["eps"] = log_slider(SHARED_DEFAULTS["eps"], 1e-10, 1e-1, "ε", readout_format=".0e")
        c["weight_decay"] = log_slider(SHARED_DEFAULTS["weight_decay"], 1e-4, 1.0, "λ (AdamW)", readout_format=".0e")
        c["L0"] = log_slider(SHARED_DEFAULTS["L0"], 1e-2, 1e3, "L₀", readout_format=".2g")
        c["L1"] = log_slider(SHARED_DEFAULTS["L1"], 1e-2, 1e2, "L₁", readout_format=".2g")
        c["period"] = W.IntSlider(value=SHARED_DEFAULTS["period"], min=5, max=300, step=5, description="период рестарта P",
                                  style=wide)
        self.play = W.Play(value=int(steps), min=0, max=int(steps), step=max(int(steps) // 100, 1), interval=80,
                           description="▶")
        W.jslink((self.play, "value"), (c["step"], "value"))
        rows = [W.HBox([c[f"use_{k}"], c[f"lr_{k}"]]) for k in RACE_METHODS]
        box = W.VBox([
            W.HBox([c["problem"], c["x0"], c["y0"]]),
            W.HTML("<small>старт можно выбрать и щелчком по линиям уровня</small>"),
            W.HBox([c["steps"], self.play, c["step"]]),
            W.HBox([W.VBox(rows[: (len(rows) + 1) // 2]), W.VBox(rows[(len(rows) + 1) // 2:])]),
            W.HBox([W.VBox([c["momentum"], c["beta1"], c["beta2"], c["eps"]]),
                    W.VBox([c["weight_decay"], c["L0"], c["L1"], c["period"]])]),
        ])
        super().__init__(c, self._build, controls_box=box)

    # -- compute + draw ----------------------------------------------------------------------
    def problem_of(self, params=None) -> object:
        params = self.params if params is None else params
        return self.problems[params["problem"]]

    def traces(self, params=None):
        """The traces of the selected methods (cached runs) and their colours."""
        params = self.params if params is None else params
        problem = self.problem_of(params)
        x, y = float(params["x0"]), float(params["y0"])
        _check_start(problem, x, y)
        keys = [k for k in RACE_METHODS if params.get(f"use_{k}")]
        if not keys:
            raise ValueError("Выберите хотя бы один метод.")
        shared = {k: params[k] for k in SHARED_DEFAULTS}
        traces = [run_method(problem, k, (x, y), int(params["steps"]), params[f"lr_{k}"], **shared) for k in keys]
        colors = [_method_color(k, list(RACE_METHODS).index(k)) for k in keys]
        return traces, colors

    def _build(self, params):
        problem = self.problem_of(params)
        traces, colors = self.traces(params)
        animate = bool(params.get("_animate", False))
        step = None if animate or int(params["step"]) >= int(params["steps"]) else int(params["step"])
        return trajectory_figure(problem, traces, animate=animate, step=step, colors=colors,
                                 validate=not self.live)

    # -- dependent controls ------------------------------------------------------------------
    def before_update(self, change) -> None:
        owner = change.get("owner") if isinstance(change, dict) else getattr(change, "owner", None)
        if owner is self.controls["problem"]:   # a new problem starts from its own default start
            start = self.problem_of().start
            self.controls["x0"].value, self.controls["y0"].value = float(start[0]), float(start[1])
        if owner is self.controls["steps"]:     # the step slider follows the number of steps
            n = int(self.controls["steps"].value)
            self.controls["step"].max = n
            self.controls["step"].value = n
            self.play.max, self.play.step = n, max(n // 100, 1)

    def after_sync(self) -> None:
        fw = self._fig
        if fw is not None and len(fw.data) and fw.data[0].type == "contour":
            fw.data[0].on_click(self._on_contour_click)

    def _on_contour_click(self, trace, points, selector=None) -> None:
        xs, ys = list(getattr(points, "xs", []) or []), list(getattr(points, "ys", []) or [])
        if xs and ys:
            self.set(x0=float(xs[0]), y0=float(ys[0]))

    def static_figure(self, values=None):
        """The current race as an *animated* figure (plotly frames: ▶/❚❚ and a step slider)."""
        if values:
            return super().static_figure(values)
        return self.figure(_animate=True)


def race_explorer(problem="rosenbrock", methods=("GD", "Momentum", "Adam"), start=None, steps: int = 300,
                  **values) -> RaceExplorer:
    """A live race of ``methods`` on a 2-D toy from one start (display the returned explorer).

    ``problem`` is a name of :data:`RACE_PROBLEMS` (``"rosenbrock"``, ``"himmelblau"``, …) or a 2-D
    problem instance (then it is added to the dropdown under its ``name``). ``methods`` are keys of
    :data:`RACE_METHODS`. Other control values may be given as keywords (``lr_Adam=0.1``,
    ``momentum=0.95``, ``period=30``…).
    """
    problems = OrderedDict((n, f()) for n, f in RACE_PROBLEMS.items())
    if isinstance(problem, str):
        if problem not in problems:
            raise ValueError(f"Неизвестная функция {problem!r}; доступны: {', '.join(problems)}.")
        name = problem
    else:
        if getattr(problem, "dim", None) != 2 or getattr(problem, "window", None) is None:
            raise ValueError("Для гонки нужна двумерная задача с окном window.")
        name = getattr(problem, "name", "problem")
        problems[name] = problem
    problems.move_to_end(name, last=False)
    unknown = [m for m in methods if m not in RACE_METHODS]
    if unknown:
        raise ValueError(f"Неизвестные методы {unknown}; доступны: {', '.join(RACE_METHODS)}.")
    ex = RaceExplorer(problems, tuple(methods), start, steps)
    if values:
        ex.set(**values)
    return ex


# ---------------------------------------------------------------------------------------------
# the single-method explorer
# ---------------------------------------------------------------------------------------------


def theory_rate(key: str, hyper: dict, problem) -> float | None:
    r"""Theoretical error contraction per step of GD / heavy ball / Nesterov on a quadratic, else None.

    GD and heavy ball: :func:`optviz.viz.regime.heavy_ball_theory`. Nesterov (``SGD(nesterov=True)``,
    whose iterate is the extrapolated point y): along an eigenvalue λ the characteristic polynomial is
    :math:`z^2 - (1+\beta)(1-\alpha\lambda)\,z + \beta(1-\alpha\lambda)`; the rate is its largest root
    modulus over λ ∈ {μ, L}.
    """
    if not isinstance(problem, Quadratic):
        return None
    lr = float(hyper["lr"])
    if key == "GD":
        return float(heavy_ball_theory(lr, 0.0, problem.mu, problem.L)[0])
    if key == "Momentum":
        return float(heavy_ball_theory(lr, float(hyper["momentum"]), problem.mu, problem.L)[0])
    if key == "Nesterov":
        b = float(hyper["momentum"])
        return max(float(np.abs(np.roots([1.0, -(1 + b) * (1 - lr * lam), b * (1 - lr * lam)])).max())
                   for lam in (problem.mu, problem.L))
    return None


def _measured_rate(trace) -> float:
    from ..viz.regime import measured_error_rate

    return measured_error_rate(trace)


class MethodExplorer(Explorer):
    """One method on one problem with its hyperparameters; «оптимальный шаг» for quadratics."""

    def __init__(self, key: str, problem, start, steps: int, lr: float | None):
        if key not in RACE_METHODS:
            raise ValueError(f"Неизвестный метод {key!r}; доступны: {', '.join(RACE_METHODS)}.")
        if getattr(problem, "dim", None) != 2 or getattr(problem, "window", None) is None:
            raise ValueError("Для исследования метода нужна двумерная задача с окном window.")
        self.key, self.problem = key, problem
        self.start = problem.start if start is None else np.asarray(start, dtype=float).reshape(2)
        quad = isinstance(problem, Quadratic)
        if lr is None:
            lr = 1.0 / problem.L if quad and key in ("GD", "Momentum", "Nesterov", "NesterovRestart") \
                else RACE_METHODS[key][1]
        lo, hi = ((1e-3 / problem.L, 10.0 / problem.L) if quad and key in ("GD", "Momentum", "Nesterov",
                                                                             "NesterovRestart") else (1e-5, 10.0))
        wide = {"description_width": "initial"}
        c = OrderedDict()
        c["lr"] = log_slider(float(np.clip(lr, lo, hi)), lo, hi, "шаг η", readout_format=".3g")
        uses = RACE_METHODS[key][2]
        if "momentum" in uses:
            c["momentum"] = W.FloatSlider(value=SHARED_DEFAULTS["momentum"], min=0.0, max=0.99, step=0.001,
                                          readout_format=".3f", description="импульс β", style=wide)
        if "beta1" in uses:
            c["beta1"] = W.FloatSlider(value=SHARED_DEFAULTS["beta1"], min=0.0, max=0.99, step=0.01, description="β₁",
                                       style=wide)
        if "beta2" in uses:
            c["beta2"] = W.FloatSlider(value=SHARED_DEFAULTS["beta2"], min=0.5, max=0.9999, step=0.0001, readout_format=".4f",
                                       description="β₂", style=wide)
        if "eps" in uses:
            c["eps"] = log_slider(SHARED_DEFAULTS["eps"], 1e-10, 1e-1, "ε", readout_format=".0e")
        if "weight_decay" in uses:
            c["weight_decay"] = log_slider(SHARED_DEFAULTS["weight_decay"], 1e-4, 1.0, "λ", readout_format=".0e")
        if "L0" in uses:
            c["L0"] = log_slider(SHARED_DEFAULTS["L0"], 1e-2, 1e3, "L₀", readout_format=".2g")
            c["L1"] = log_slider(SHARED_DEFAULTS["L1"], 1e-2, 1e2, "L₁", readout_format=".2g")
        if "period" in uses:
            c["period"] = W.IntSlider(value=SHARED_DEFAULTS["period"], min=5, max=300, step=5, description="период P",
                                      style=wide)
        c["steps"] = W.IntSlider(value=int(steps), min=10, max=1000, step=10, description="шагов", style=wide,
                                 continuous_update=False)
        self.optimal_button = W.Button(description="оптимальный шаг", icon="star",
                                       tooltip="η = 2/(μ+L) для GD; (α*, β*) для тяжёлого шарика",
                                       layout=W.Layout(width="auto"))
        self.optimal_button.disabled = not (quad and key in ("GD", "Momentum"))
        self.optimal_button.on_click(lambda _b: self.set_optimal())
        super().__init__(c, self._build, extra=[self.optimal_button], static_values=self._static_lrs(lo, hi))

    def _static_lrs(self, lo, hi):
        if isinstance(self.problem, Quadratic) and self.key in ("GD", "Momentum", "Nesterov"):
            base = self.problem.optimal_step if self.key == "GD" else self.problem.heavy_ball_params[0]
            return {"lr": [float(np.clip(base * f, lo, hi)) for f in (0.1, 0.5, 1.0, 1.5, 1.9)]}
        return {"lr": list(np.geomspace(lo, hi, 5))}

    def set_optimal(self) -> None:
        """Set the theoretically optimal step (GD) or heavy-ball pair (Momentum) on a quadratic."""
        if not isinstance(self.problem, Quadratic) or self.key not in ("GD", "Momentum"):
            self.status.value = ("<span style='color:#b00'>⚠ Оптимальный шаг известен только для GD и тяжёлого "
                                 "шарика (Momentum) на квадратичной функции.</span>")
            return
        if self.key == "GD":
            self.set(lr=self.problem.optimal_step)
        else:
            a, b = self.problem.heavy_ball_params
            self.set(lr=a, momentum=b)

    def trace(self, params=None):
        params = self.params if params is None else params
        shared = {k: params[k] for k in SHARED_DEFAULTS if k in params}
        return run_method(self.problem, self.key, self.start, int(params["steps"]), params["lr"], **shared)

    def caption(self, trace) -> str:
        """«скорость сходимости: теория …, измерено …» for the current run."""
        th = theory_rate(self.key, trace.hyper, self.problem)
        meas = _measured_rate(trace)
        th_txt = fmt_num(th, 4) if th is not None else "— (нет формулы для этого метода и задачи)"
        if th is not None and th >= 1:
            th_txt += " (≥ 1: расходится)"
        return f"скорость сходимости ошибки за шаг: теория {th_txt}, измерено {fmt_num(meas, 4)}"

    def _build(self, params):
        tr = self.trace(params)
        label = describe(tr.method, tr.hyper)
        title = (f"{self.problem.title}: {label}<br><sup>{tr.steps} шагов · {self.caption(tr)}"
                 + (f" · {'расходится'}" if (tr.diverged_at >= 0).any() else "") + "</sup>")
        color = _method_color(self.key, list(RACE_METHODS).index(self.key))
        return trajectory_figure(self.problem, [tr], animate=bool(params.get("_animate", False)), title=title,
                                 colors=[color], validate=not self.live)


def method_explorer(method: str = "GD", problem=None, start=None, steps: int = 100, lr: float | None = None,
                    **values) -> MethodExplorer:
    """A live explorer of one method (a key of :data:`RACE_METHODS`) on one 2-D problem.

    ``problem`` defaults to ``Quadratic(kappa=10, angle_deg=30)``; on a quadratic the
    «оптимальный шаг» button sets η = 2/(μ+L) for GD and (α*, β*) for Momentum, and the caption
    compares the theoretical rate with the measured one.
    """
    problem = Quadratic(kappa=10, angle_deg=30) if problem is None else problem
    if isinstance(problem, str):
        problem = RACE_PROBLEMS[problem]() if problem in RACE_PROBLEMS else make_toy(problem)
    ex = MethodExplorer(method, problem, start, steps, lr)
    if values:
        ex.set(**values)
    return ex

