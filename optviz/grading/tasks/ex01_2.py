"""Exercise 01-2: μ, L of a quadratic, the optimal step 2/(μ+L), the rate (κ−1)/(κ+1), GD run.

Tasks (the functions the student writes)::

    mu_L(A) -> (mu, L)                          extreme eigenvalues of a symmetric A ≻ 0
    optimal_step(mu, L) -> (eta, rho)           2/(μ+L) and (κ−1)/(κ+1)
    gd_trajectory(A, x_star, x0, lr, steps)     GD iterates on ½(x−x*)ᵀA(x−x*), shape (steps+1, d)
    iterations_ratio(kappa) -> float            how many times more steps η = 1/L needs than η*

The references (in the answer key ``solutions/hidden/01-2-optimalnyi-shag.py``) use
``numpy.linalg.eigvalsh``, the ``optviz.problems.Quadratic`` formulas and ``torch.optim.SGD``; the task
functions may not use the library's closed forms (``optviz.problems``, ``optviz.course.lecture_01``)
nor, for the GD run, ``torch.optim`` / ``optviz.optim`` / ``optviz.run``.
"""

from __future__ import annotations

import math

import numpy as np

from ...problems import Quadratic
from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array, as_pair
from ._common import race_figure

__all__ = ["EXERCISE", "THEORY_RULES", "RUN_RULES"]

#: what the closed-form tasks may not use (besides optviz.grading): the problems' μ, L, 2/(μ+L), rates
THEORY_RULES = ("optviz.problems", "optviz.course.lecture_01")
#: what the GD run may not use: the optimizers and the runner
RUN_RULES = ("torch.optim", "optviz.optim", "optviz.run")


# -- drivers ------------------------------------------------------------------------------------

def bounds(fn, *, A):
    """Driver of ``mu_L``: ``{"mu": μ, "L": L}``."""
    mu, L = as_pair(fn(np.array(A, dtype=np.float64)), "(mu, L)")
    return {"mu": as_float_array(mu, "mu", ()), "L": as_float_array(L, "L", ())}


def step_and_rate(fn, *, mu, L):
    """Driver of ``optimal_step``: ``{"eta": η*, "rho": ρ*}``."""
    eta, rho = as_pair(fn(float(mu), float(L)), "(eta, rho)")
    return {"eta": as_float_array(eta, "eta", ()), "rho": as_float_array(rho, "rho", ())}


def trajectory(fn, *, A, x_star, x0, lr, steps):
    """Driver of ``gd_trajectory``: ``{"x": (steps+1, d)}``."""
    d = len(x0)
    pts = fn(np.array(A, dtype=np.float64), np.array(x_star, dtype=np.float64), np.array(x0, dtype=np.float64),
             float(lr), int(steps))
    if pts is None:
        raise AnswerError("функция должна вернуть массив точек формы (steps + 1, d), а вернула None")
    return {"x": as_float_array(pts, "массив точек", (int(steps) + 1, d))}


def ratio(fn, *, kappa):
    """Driver of ``iterations_ratio``: ``{"ratio": r}``."""
    return {"ratio": as_float_array(fn(float(kappa)), "отношение", ())}


# -- figure -------------------------------------------------------------------------------------

_FIG_Q = Quadratic(kappa=20, angle_deg=30)


def _gd_draw(reference, student):
    return race_figure(_FIG_Q, reference["x"], student["x"],
                       f"GD с шагом 2/(μ+L) = {_FIG_Q.optimal_step:.4f} на квадратичной функции κ = 20",
                       reference_label="эталон: optviz.optim.SGD")


_GD_FIGURE = Figure("trajectory", dict(A=_FIG_Q.matrix, x_star=_FIG_Q.center, x0=_FIG_Q.start,
                                       lr=_FIG_Q.optimal_step, steps=30), _gd_draw)


def _rot(deg: float) -> np.ndarray:
    t = math.radians(deg)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


_A_PUB = _rot(20) @ np.diag([0.5, 4.0]) @ _rot(20).T

EXERCISE = Exercise(
    id="01-2-optimalnyi-shag",
    title="Оптимальный шаг и скорость градиентного спуска",
    tasks=[
        Task("mu_L", "Константы μ и L квадратичной функции", {"bounds": bounds}, [
            Check("mu_L", "повёрнутая матрица 2×2", "bounds", dict(A=_A_PUB), rtol=1e-9,
                  hint="μ и L — наименьшее и наибольшее собственные числа A (np.linalg.eigvalsh), а не её элементы"),
            Check("mu_L", "диагональная матрица 3×3", "bounds", dict(A=np.diag([5.0, 0.2, 1.0])), rtol=1e-9,
                  hint="собственные числа могут стоять на диагонали в любом порядке"),
        ], forbid=THEORY_RULES),
        Task("optimal_step", "Оптимальный шаг 2/(μ+L) и скорость (κ−1)/(κ+1)",
             {"step_and_rate": step_and_rate}, [
                 Check("optimal_step", "μ = 1, L = 10", "step_and_rate", dict(mu=1.0, L=10.0), rtol=1e-9,
                       hint="η* = 2/(μ + L), ρ* = (κ − 1)/(κ + 1), κ = L/μ"),
                 Check("optimal_step", "μ = 0.5, L = 2", "step_and_rate", dict(mu=0.5, L=2.0), rtol=1e-9,
                       hint="κ = L/μ, а не L"),
             ], forbid=THEORY_RULES),
        Task("gd_trajectory", "Градиентный спуск на квадратичной функции",
             {"trajectory": trajectory}, [
                 Check("gd_trajectory", "5 шагов с шагом 0.1", "trajectory",
                       dict(A=_A_PUB, x_star=[1.0, 1.0], x0=[-1.0, 2.0], lr=0.1, steps=5), steps=True,
                       hint="градиент f(x) = ½(x − x*)ᵀA(x − x*) равен A(x − x*); первая строка — сама x0"),
                 Check("gd_trajectory", "20 шагов с оптимальным шагом", "trajectory",
                       dict(A=_A_PUB, x_star=[0.0, 0.0], x0=[2.0, -1.0], lr=2 / 4.5, steps=20), steps=True,
                       weight=2, hint="x_{k+1} = x_k − lr·A(x_k − x*)"),
             ], figure=_GD_FIGURE, forbid=RUN_RULES),
        Task("iterations_ratio", "Во сколько раз шаг 1/L медленнее оптимального",
             {"ratio": ratio}, [
                 Check("iterations_ratio", "κ = 4", "ratio", dict(kappa=4.0), rtol=1e-9,
                       hint="число шагов до точности ε пропорционально 1/|ln ρ|; у шага 1/L ρ = 1 − 1/κ"),
             ], forbid=THEORY_RULES),
    ],
)
