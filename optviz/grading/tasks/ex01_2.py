"""Exercise 01-2: μ, L of a quadratic, the optimal step 2/(μ+L), the rate (κ−1)/(κ+1), GD run.

Tasks (the functions the student writes)::

    mu_L(A) -> (mu, L)                          extreme eigenvalues of a symmetric A ≻ 0
    optimal_step(mu, L) -> (eta, rho)           2/(μ+L) and (κ−1)/(κ+1)
    gd_trajectory(A, x_star, x0, lr, steps)     GD iterates on ½(x−x*)ᵀA(x−x*), shape (steps+1, d)
    iterations_ratio(kappa) -> float            how many times more steps η = 1/L needs than η*

References: ``numpy.linalg.eigvalsh``, ``optviz.problems.Quadratic`` formulas and ``torch.optim.SGD``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..spec import AnswerError, Check, Exercise, Task, as_float_array, as_pair
from ._common import race_figure

__all__ = ["EXERCISE"]


# -- references -------------------------------------------------------------------------------

def _ref_mu_L(A):
    ev = np.linalg.eigvalsh(np.asarray(A, dtype=np.float64))
    return float(ev[0]), float(ev[-1])


def _ref_optimal_step(mu, L):
    from ...problems import Quadratic

    q = Quadratic(kappa=L / mu, mu=mu)
    return q.optimal_step, q.gd_rate


def _ref_gd_trajectory(A, x_star, x0, lr, steps):
    A_t = torch.tensor(np.asarray(A, dtype=np.float64))
    c = torch.tensor(np.asarray(x_star, dtype=np.float64))
    p = torch.tensor(np.asarray(x0, dtype=np.float64))
    opt = torch.optim.SGD([p], lr=float(lr))
    out = [p.clone()]
    for _ in range(int(steps)):
        p.grad = A_t @ (p.detach() - c)
        with torch.no_grad():
            opt.step()
        out.append(p.clone())
    return torch.stack(out).numpy()


def _ref_iterations_ratio(kappa):
    return math.log((kappa - 1) / (kappa + 1)) / math.log(1 - 1 / kappa)


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

def _gd_figure(fn):
    from ...optim import SGD
    from ...problems import Quadratic
    from ...run import run

    q = Quadratic(kappa=20, angle_deg=30)
    ref = run(q, SGD, q.start, 30, lr=q.optimal_step)
    pts = trajectory(fn, A=q.matrix, x_star=q.center, x0=q.start, lr=q.optimal_step, steps=30)["x"]
    return race_figure(q, ref, pts, f"GD с шагом 2/(μ+L) = {q.optimal_step:.4f} на квадратичной функции κ = 20",
                       reference_label="эталон: optviz.optim.SGD")


def _rot(deg: float) -> np.ndarray:
    t = math.radians(deg)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


_A_PUB = _rot(20) @ np.diag([0.5, 4.0]) @ _rot(20).T

EXERCISE = Exercise(
    id="01-2-optimalnyi-shag",
    title="Оптимальный шаг и скорость градиентного спуска",
    tasks=[
        Task("mu_L", "Константы μ и L квадратичной функции", _ref_mu_L, {"bounds": bounds}, [
            Check("mu_L", "повёрнутая матрица 2×2", "bounds", dict(A=_A_PUB), rtol=1e-9,
                  hint="μ и L — наименьшее и наибольшее собственные числа A (np.linalg.eigvalsh), а не её элементы"),
            Check("mu_L", "диагональная матрица 3×3", "bounds", dict(A=np.diag([5.0, 0.2, 1.0])), rtol=1e-9,
                  hint="собственные числа могут стоять на диагонали в любом порядке"),
        ]),
        Task("optimal_step", "Оптимальный шаг 2/(μ+L) и скорость (κ−1)/(κ+1)", _ref_optimal_step,
             {"step_and_rate": step_and_rate}, [
                 Check("optimal_step", "μ = 1, L = 10", "step_and_rate", dict(mu=1.0, L=10.0), rtol=1e-9,
                       hint="η* = 2/(μ + L), ρ* = (κ − 1)/(κ + 1), κ = L/μ"),
                 Check("optimal_step", "μ = 0.5, L = 2", "step_and_rate", dict(mu=0.5, L=2.0), rtol=1e-9,
                       hint="κ = L/μ, а не L"),
             ]),
        Task("gd_trajectory", "Градиентный спуск на квадратичной функции", _ref_gd_trajectory,
             {"trajectory": trajectory}, [
                 Check("gd_trajectory", "5 шагов с шагом 0.1", "trajectory",
                       dict(A=_A_PUB, x_star=[1.0, 1.0], x0=[-1.0, 2.0], lr=0.1, steps=5), steps=True,
                       hint="градиент f(x) = ½(x − x*)ᵀA(x − x*) равен A(x − x*); первая строка — сама x0"),
                 Check("gd_trajectory", "20 шагов с оптимальным шагом", "trajectory",
                       dict(A=_A_PUB, x_star=[0.0, 0.0], x0=[2.0, -1.0], lr=2 / 4.5, steps=20), steps=True,
                       weight=2, hint="x_{k+1} = x_k − lr·A(x_k − x*)"),
             ], figure=_gd_figure),
        Task("iterations_ratio", "Во сколько раз шаг 1/L медленнее оптимального", _ref_iterations_ratio,
             {"ratio": ratio}, [
                 Check("iterations_ratio", "κ = 4", "ratio", dict(kappa=4.0), rtol=1e-9,
                       hint="число шагов до точности ε пропорционально 1/|ln ρ|; у шага 1/L ρ = 1 − 1/κ"),
             ]),
    ],
)
