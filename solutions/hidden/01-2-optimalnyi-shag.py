"""Ключ ответов упражнения 01-2 (оптимальный шаг и скорость GD): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — numpy.linalg.eigvalsh, формулы optviz.problems.Quadratic и torch.optim.SGD; ожидаемые
значения считает проверяющий процесс. Входные данные скрытых проверок отличаются от открытых;
названия и подсказки проверок видит студент — входных данных в них нет.
"""

import math

import numpy as np
import torch

from optviz.grading import Check
from optviz.problems import Quadratic


def _ref_mu_L(A):
    ev = np.linalg.eigvalsh(np.asarray(A, dtype=np.float64))
    return float(ev[0]), float(ev[-1])


def _ref_optimal_step(mu, L):
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


REFERENCES = {"mu_L": _ref_mu_L, "optimal_step": _ref_optimal_step, "gd_trajectory": _ref_gd_trajectory,
              "iterations_ratio": _ref_iterations_ratio}

_rng = np.random.default_rng(7)


def _spd(d: int, eigenvalues) -> np.ndarray:
    q, _ = np.linalg.qr(_rng.standard_normal((d, d)))
    return q @ np.diag(eigenvalues) @ q.T


_A2 = _spd(2, [0.8, 24.0])
_A4 = _spd(4, [0.3, 1.1, 2.5, 9.0])

CHECKS = [
    Check("mu_L", "случайная повёрнутая матрица 2×2", "bounds", dict(A=_A2), rtol=1e-8,
          hint="μ и L — наименьшее и наибольшее собственные числа A"),
    Check("mu_L", "матрица 4×4", "bounds", dict(A=_A4), rtol=1e-8,
          hint="у матрицы больше двух собственных чисел: нужны крайние"),
    Check("mu_L", "диагональная матрица с неупорядоченной диагональю", "bounds",
          dict(A=np.diag([3.0, 0.7, 12.0, 1.5, 0.9])), rtol=1e-8,
          hint="собственные числа не обязаны стоять по возрастанию"),
    Check("optimal_step", "плохо обусловленная задача", "step_and_rate", dict(mu=0.02, L=35.0), rtol=1e-8,
          hint="η* = 2/(μ + L), ρ* = (κ − 1)/(κ + 1), κ = L/μ"),
    Check("optimal_step", "μ ≠ 1", "step_and_rate", dict(mu=2.5, L=7.5), rtol=1e-8,
          hint="κ = L/μ, а не L"),
    Check("optimal_step", "идеально обусловленная задача (κ = 1)", "step_and_rate", dict(mu=3.0, L=3.0), rtol=1e-8,
          atol=1e-12, hint="при κ = 1 оптимальный шаг сходится за один шаг: ρ* = 0"),
    Check("gd_trajectory", "оптимальный шаг, d = 2, 40 шагов", "trajectory",
          dict(A=_A2, x_star=_rng.standard_normal(2), x0=_rng.standard_normal(2), lr=2 / (0.8 + 24.0), steps=40),
          steps=True, weight=2, rtol=1e-7, atol=1e-10, hint="x_{k+1} = x_k − lr·A(x_k − x*), первая строка — x0"),
    Check("gd_trajectory", "шаг 1/L, d = 4, 30 шагов", "trajectory",
          dict(A=_A4, x_star=_rng.standard_normal(4), x0=_rng.standard_normal(4), lr=1 / 9.0, steps=30),
          steps=True, rtol=1e-7, atol=1e-10, hint="градиент равен A(x − x*), не A·x"),
    Check("gd_trajectory", "слишком большой шаг: расходимость, 12 шагов", "trajectory",
          dict(A=_A2, x_star=np.zeros(2), x0=np.ones(2), lr=2.2 / 24.0, steps=12),
          steps=True, rtol=1e-7, atol=1e-10, hint="спуск не должен останавливаться или обрезать шаг"),
    Check("iterations_ratio", "κ = 10", "ratio", dict(kappa=10.0), rtol=1e-8,
          hint="отношение ln ρ* / ln(1 − 1/κ)"),
    Check("iterations_ratio", "κ = 1000", "ratio", dict(kappa=1000.0), rtol=1e-8,
          hint="число шагов обратно пропорционально |ln ρ|"),
]
