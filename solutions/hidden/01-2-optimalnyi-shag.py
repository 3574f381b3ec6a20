"""Скрытые тесты упражнения 01-2 (оптимальный шаг и скорость GD).

Не копируются в exercises/ и в выпуск. Ожидаемые значения считает проверяющий процесс эталонами
из optviz.grading.tasks.ex01_2 (numpy.linalg.eigvalsh, формулы optviz.problems.Quadratic,
torch.optim.SGD). Названия и подсказки проверок видит студент — входных данных в них нет.
"""

import numpy as np

from optviz.grading import Check

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
