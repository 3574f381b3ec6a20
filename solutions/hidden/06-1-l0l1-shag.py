"""Ключ ответов упражнения 06-1 ((L0, L1)-шаг, константы ‖x‖^(2n), граница фаз): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — один step() optviz.optim.L0L1GD, гессианы автоматическим дифференцированием со спектральной
нормой, неравенство о взвешенных средних и обращение ‖∇f‖ = 2n‖x‖^(2n−1); ожидаемые значения считает
проверяющий процесс. Входные данные скрытых проверок отличаются от открытых; названия и подсказки
проверок видит студент — входных данных в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check
from optviz.optim import L0L1GD


def _ref_l0l1_step(x, grad, L0, L1):
    p = torch.tensor(np.asarray(x, dtype=np.float64))
    p.grad = torch.tensor(np.asarray(grad, dtype=np.float64))
    L0L1GD([p], L0=float(L0), L1=float(L1)).step()
    return p.detach().numpy().copy()


def _ref_power_constants(n):
    # weighted AM–GM: r^{2n−2} ≤ 1/(2n−1) + (2n−2)/(2n−1)·r^{2n−1}, times 2n(2n−1)
    n = int(n)
    return float(2 * n), float(2 * n - 2)


def _ref_curvature_ratio(points, n, L0, L1):
    n = int(n)
    pts = torch.tensor(np.asarray(points, dtype=np.float64))

    def f(x):
        return (x * x).sum() ** n

    g = torch.vmap(torch.func.grad(f))(pts)
    H = torch.vmap(torch.func.hessian(f))(pts)
    ratio = torch.linalg.matrix_norm(H, ord=2) / (float(L0) + float(L1) * torch.linalg.vector_norm(g, dim=-1))
    return float(ratio.max())


def _ref_phase_radius(n, L0, L1):
    n = int(n)
    return float((float(L0) / (2 * n * float(L1))) ** (1.0 / (2 * n - 1)))


REFERENCES = {"l0l1_step": _ref_l0l1_step, "power_constants": _ref_power_constants,
              "curvature_ratio": _ref_curvature_ratio, "phase_radius": _ref_phase_radius}

_rng = np.random.default_rng(6061)


def _points(m, d, r_min, r_max):
    u = _rng.standard_normal((m, d))
    return np.geomspace(r_min, r_max, m)[:, None] * u / np.linalg.norm(u, axis=1, keepdims=True)


CHECKS = [
    Check("l0l1_step", "один шаг, вектор длины 6", "one_step",
          dict(x=_rng.standard_normal(6), grad=3 * _rng.standard_normal(6), L0=1.5, L1=0.7), rtol=1e-9,
          hint="η = 1/(L0 + L1‖g‖) с евклидовой нормой всего вектора g"),
    Check("l0l1_step", "параметр-матрица: одна норма на все элементы", "one_step",
          dict(x=_rng.standard_normal((3, 4)), grad=_rng.standard_normal((3, 4)) * 5, L0=2.0, L1=3.0), rtol=1e-9,
          hint="для матрицы нужна норма Фробениуса всех элементов (np.sqrt((g**2).sum())), а не спектральная "
               "норма и не нормы столбцов"),
    Check("l0l1_step", "огромный градиент: шаг почти нормализованный", "one_step",
          dict(x=_rng.standard_normal(4), grad=1e6 * _rng.standard_normal(4), L0=4.0, L1=2.0), rtol=1e-9,
          hint="при большом ‖g‖ длина шага близка к 1/L1"),
    Check("l0l1_step", "L1 = 0: обычный градиентный спуск с шагом 1/L0", "one_step",
          dict(x=_rng.standard_normal(5), grad=_rng.standard_normal(5), L0=8.0, L1=0.0), rtol=1e-9,
          hint="при L1 = 0 шаг равен 1/L0"),
    Check("l0l1_step", "30 шагов на сумме четвёртых степеней в ℝ⁵", "quartic_sum_run",
          dict(x0=3 * _rng.standard_normal(5), L0=4.0, L1=2.0, steps=30), steps=True, weight=2,
          hint="проверьте, что норма градиента общая для всех координат и пересчитывается на каждом шаге"),
    Check("l0l1_step", "x⁴ из далёкого старта, 80 шагов", "quartic_sum_run",
          dict(x0=[-25.0], L0=4.0, L1=2.0, steps=80), steps=True, weight=2,
          hint="x ← x − g/(L0 + L1|g|)"),
    Check("power_constants", "n = 1 (квадрат нормы)", "constants", dict(n=1), rtol=1e-12,
          hint="при n = 1 функция L-гладкая: L1 = 0"),
    Check("power_constants", "n = 5", "constants", dict(n=5), rtol=1e-12,
          hint="L0 = 2n; L1 получается из неравенства о взвешенных средних и растёт с n линейно"),
    Check("power_constants", "n = 4", "constants", dict(n=4), rtol=1e-12,
          hint="проверьте L1 при L0 = 2n: равенство достигается при ‖x‖ = 1"),
    Check("curvature_ratio", "случайные точки в ℝ³, n = 2", "ratio",
          dict(points=_points(50, 3, 1e-2, 30.0), n=2, L0=4.0, L1=2.0), rtol=1e-8,
          hint="‖∇²f‖₂ = 2n(2n − 1)‖x‖^(2n−2): спектральная норма, не Фробениуса"),
    Check("curvature_ratio", "завышенные константы, n = 3, ℝ⁴", "ratio",
          dict(points=_points(40, 4, 0.1, 5.0), n=3, L0=10.0, L1=5.0), rtol=1e-8,
          hint="отношение считается с переданными L0 и L1, а не с константами из задания 2"),
    Check("curvature_ratio", "n = 1: постоянный гессиан", "ratio",
          dict(points=_points(20, 2, 0.5, 3.0), n=1, L0=1.0, L1=0.5), rtol=1e-8,
          hint="при n = 1 гессиан равен 2I, его спектральная норма 2"),
    Check("phase_radius", "x⁴ с другими константами", "radius", dict(n=2, L0=1.0, L1=3.0), rtol=1e-10,
          hint="решите 2n r^(2n−1) = L0/L1 относительно r"),
    Check("phase_radius", "высокая степень", "radius", dict(n=5, L0=10.0, L1=8.0), rtol=1e-10,
          hint="показатель корня — 2n − 1"),
    Check("phase_radius", "граница далеко от нуля", "radius", dict(n=3, L0=600.0, L1=0.25), rtol=1e-10,
          hint="r* = (L0 / (2n·L1))^(1/(2n−1))"),
]
