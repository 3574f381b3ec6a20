r"""Exercise 07-2: the optimal period of fixed restarts of Nesterov's method.

Tasks (the functions the student writes)::

    bound_period(kappa) -> (P_star, rho_star)                      2e√κ and the bound per step (4κ/P*²)^(1/P*)
    nesterov_period(A, x_star, x0, lr, steps, period)              x-iterates (steps+1, d), restart every P steps
    steps_to_eps(gap, tol) -> int | None                           first k from which gap stays ≤ tol·gap[0]
    best_period(A, x_star, x0, lr, steps, periods, tol) -> int     the period of ``periods`` that needs fewest steps

The references (in the answer key ``solutions/hidden/07-2-optimalnyi-period.py``): Nesterov's method is
the textbook form of exercise 07-1 (:func:`ex07_1.nesterov_textbook`, built on ``torch.optim.SGD``) with
the criterion ``optviz.optim.FixedPeriod``; the bound-optimal period is
``optviz.course.lecture_07.bound_optimal_period`` and the measure ``lecture_07.steps_to_tolerance``.
The bound, the measure and the search of the best period may not use ``optviz.course.lecture_07``; the
method and the search may use neither ``torch.optim``, ``optviz.optim`` nor the restart runs of
``optviz.widgets.restarts``.
"""

from __future__ import annotations

import math

import numpy as np

from ...problems import Quadratic
from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array, as_pair
from ._common import race_figure

__all__ = ["EXERCISE", "period_run", "LECTURE_RULES", "METHOD_RULES"]

#: what the closed forms and the measure may not use (besides optviz.grading): the lecture's helpers
LECTURE_RULES = ("optviz.course.lecture_07",)
#: what the method may not use: torch's and the library's optimizers, the library's restart runs
METHOD_RULES = ("torch.optim", "optviz.optim", "optviz.widgets.restarts")


# -- drivers ------------------------------------------------------------------------------------

def bound(fn, *, kappa):
    """Driver of ``bound_period``: ``{"P": P*, "rho": ρ*}``."""
    P, rho = as_pair(fn(float(kappa)), "(P_star, rho_star)")
    return {"P": as_float_array(P, "P_star", ()), "rho": as_float_array(rho, "rho_star", ())}


def period_run(fn, *, A, x_star, x0, lr, steps, period):
    """Driver of ``nesterov_period``: ``{"x": (steps+1, d)}``."""
    d = len(x0)
    pts = fn(np.array(A, dtype=np.float64), np.array(x_star, dtype=np.float64), np.array(x0, dtype=np.float64),
             float(lr), int(steps), int(period))
    if pts is None:
        raise AnswerError("функция должна вернуть массив точек формы (steps + 1, d), а вернула None")
    return {"x": as_float_array(pts, "массив точек", (int(steps) + 1, d))}


def _int_or_none(value, what):
    """An integer answer (``None`` → −1, meaning «never»), else :class:`AnswerError`."""
    if value is None:
        return -1
    v = as_float_array(value, what, ())
    if not np.isfinite(v) or float(v) != int(v):
        raise AnswerError(f"{what} должно быть целым числом или None, получено {float(v)!r}")
    return int(v)


def tolerance_steps(fn, *, gap, tol):
    """Driver of ``steps_to_eps``: ``{"k": k}`` (−1 when the answer is None)."""
    return {"k": _int_or_none(fn(np.array(gap, dtype=np.float64), float(tol)), "число шагов")}


def best(fn, *, A, x_star, x0, lr, steps, periods, tol):
    """Driver of ``best_period``: ``{"P": P}`` (−1 when the answer is None)."""
    out = fn(np.array(A, dtype=np.float64), np.array(x_star, dtype=np.float64), np.array(x0, dtype=np.float64),
             float(lr), int(steps), [int(p) for p in periods], float(tol))
    return {"P": _int_or_none(out, "лучший период")}


# -- figure -------------------------------------------------------------------------------------

_FIG_Q = Quadratic(kappa=100.0, angle_deg=30)
_FIG_P, _FIG_STEPS = 40, 250


def _draw(reference, student):
    return race_figure(_FIG_Q, reference["x"], student["x"],
                       f"Нестеров с рестартом каждые P = {_FIG_P} шагов на квадратичной функции κ = 100",
                       reference_label="эталон: FixedPeriod из optviz")


_FIGURE = Figure("period_run", dict(A=_FIG_Q.matrix, x_star=_FIG_Q.center, x0=_FIG_Q.start, lr=1 / _FIG_Q.L,
                                    steps=_FIG_STEPS, period=_FIG_P), _draw)


def _rot(deg: float) -> np.ndarray:
    t = math.radians(deg)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


_A_PUB = _rot(30) @ np.diag([1.0, 30.0]) @ _rot(30).T
_RUN_PUB = dict(A=_A_PUB, x_star=[1.0, -1.0], x0=[-2.0, 1.0], lr=1 / 30.0)
# a ripple that dips below 1e-3 and comes back: only «stays below» counts
_GAP_PUB = [1.0, 0.5, 0.1, 5e-4, 2e-3, 8e-4, 3e-4, 1e-4]

EXERCISE = Exercise(
    id="07-2-optimalnyi-period",
    title="Оптимальный период рестартов",
    tasks=[
        Task("bound_period", "Период P* = 2e√κ из оценки скорости", {"bound": bound}, [
            Check("bound_period", "κ = 100", "bound", dict(kappa=100.0), rtol=1e-10,
                  hint="минимизируйте по P множитель за шаг (4κ/P²)^(1/P): продифференцируйте его логарифм"),
            Check("bound_period", "κ = 1", "bound", dict(kappa=1.0), rtol=1e-10,
                  hint="ρ* — множитель оценки за один шаг при P = P*"),
        ], forbid=LECTURE_RULES),
        Task("nesterov_period", "Метод Нестерова с рестартом каждые P шагов",
             {"period_run": period_run}, [
                 Check("nesterov_period", "период больше числа шагов: рестартов нет", "period_run",
                       dict(_RUN_PUB, steps=30, period=100), steps=True,
                       hint="β_j = (j − 1)/(j + 2) с j = 1 на первом шаге; градиент берётся в y"),
                 Check("nesterov_period", "рестарт каждые 12 шагов, 60 шагов", "period_run",
                       dict(_RUN_PUB, steps=60, period=12), steps=True, weight=2,
                       hint="рестарт после шагов P, 2P, 3P, …: следующий шаг снова с j = 1, без импульса"),
             ], figure=_FIGURE, forbid=METHOD_RULES),
        Task("steps_to_eps", "Число шагов, после которого ошибка остаётся ниже ε",
             {"tolerance_steps": tolerance_steps}, [
                 Check("steps_to_eps", "горб ряби возвращается выше порога", "tolerance_steps",
                       dict(gap=_GAP_PUB, tol=1e-3),
                       hint="нужен первый k, начиная с которого ВСЕ следующие значения не выше tol·gap[0]"),
                 Check("steps_to_eps", "точность не достигнута", "tolerance_steps",
                       dict(gap=[1.0, 0.5, 0.2, 0.1], tol=1e-3),
                       hint="если последнее значение выше порога, верните None"),
             ], forbid=LECTURE_RULES),
        Task("best_period", "Лучший период рестартов по измерению", {"best": best}, [
            Check("best_period", "κ = 30, восемь периодов", "best",
                  dict(_RUN_PUB, steps=250, periods=[3, 6, 10, 15, 20, 30, 45, 70], tol=1e-10),
                  hint="для каждого P запустите метод, посчитайте f(x_k) − f* и число шагов до точности; "
                       "периоды, не достигшие точности, пропускайте"),
        ], forbid=METHOD_RULES + LECTURE_RULES),
    ],
)
