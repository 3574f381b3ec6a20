"""Скрытые тесты упражнения 08-1 (экстраградиент и оптимистичный GDA на билинейной игре).

Не копируются в exercises/ и в выпуск. Ожидаемые значения считает проверяющий процесс эталонами из
optviz.grading.tasks.ex08_1 (поле через torch.autograd, множители через numpy.linalg.svd и
optviz.problems.games). Названия и подсказки проверок видит студент — входных данных в них нет.
"""

import numpy as np

from optviz.grading import Check

_rng = np.random.default_rng(80801)


def _with_singular_values(m: int, n: int, sigmas) -> np.ndarray:
    u, _ = np.linalg.qr(_rng.standard_normal((m, m)))
    v, _ = np.linalg.qr(_rng.standard_normal((n, n)))
    s = np.zeros((m, n))
    s[:len(sigmas), :len(sigmas)] = np.diag(sigmas)
    return u @ s @ v.T


_B44 = _rng.standard_normal((4, 4))
_B32 = _rng.standard_normal((3, 2))
_B_ILL = _with_singular_values(3, 3, [3.0, 1.0, 0.1])

CHECKS = [
    # extragradient_step
    Check("extragradient_step", "один шаг, случайная B 4×4", "eg_one",
          dict(x=_rng.standard_normal(4), y=_rng.standard_normal(4), B=_B44, lr=0.15), rtol=1e-9,
          hint="пробная точка: x½ = x − ηBy, y½ = y + ηBᵀx — оба игрока шагают одновременно из (x, y)"),
    Check("extragradient_step", "игра xy из лекции, 40 шагов", "eg_run",
          dict(B=[[1.0]], x0=[0.8], y0=[-0.6], lr=0.45, steps=40), steps=True, weight=2,
          hint="настоящий шаг делается из исходной точки z_k, а не из пробной z_{k+1/2}"),
    Check("extragradient_step", "прямоугольная B 3×2, 30 шагов", "eg_run",
          dict(B=_B32, x0=_rng.standard_normal(3), y0=_rng.standard_normal(2), lr=0.3, steps=30), steps=True,
          weight=2, hint="∇ₓ(xᵀBy) = By (длина m), ∇_y(xᵀBy) = Bᵀx (длина n)"),
    Check("extragradient_step", "шаг за границей устойчивости, 25 шагов", "eg_run",
          dict(B=_B_ILL, x0=_rng.standard_normal(3), y0=_rng.standard_normal(3), lr=0.4, steps=25), steps=True,
          hint="метод не должен ограничивать шаг или нормировать точку: при большом η он честно расходится"),
    # optimistic_gda_step
    Check("optimistic_gda_step", "один шаг с прошлой точкой, B 4×4", "ogda_one",
          dict(x=_rng.standard_normal(4), y=_rng.standard_normal(4), x_prev=_rng.standard_normal(4),
               y_prev=_rng.standard_normal(4), B=_B44, lr=0.1), rtol=1e-9,
          hint="z⁺ = z − 2ηF(z) + ηF(z_prev): текущее поле удвоено, поле прошлой точки вычитается"),
    Check("optimistic_gda_step", "игра xy из лекции, 40 шагов", "ogda_run",
          dict(B=[[1.0]], x0=[0.8], y0=[-0.6], lr=0.5, steps=40), steps=True, weight=2,
          hint="первый шаг (прошлая точка совпадает с текущей) — обычный GDA; дальше прошлое поле берётся в z_{k−1}"),
    Check("optimistic_gda_step", "прямоугольная B 3×2, 30 шагов", "ogda_run",
          dict(B=_B32, x0=_rng.standard_normal(3), y0=_rng.standard_normal(2), lr=0.2, steps=30), steps=True,
          weight=2, hint="игрок y поднимается: y⁺ = y + η(2Bᵀx − Bᵀx_prev)"),
    # bilinear_rates
    Check("bilinear_rates", "случайная B 4×4, малый шаг", "rates", dict(B=_B44, lr=0.05), rtol=1e-8,
          hint="при малом шаге медленнее всех сжимается пара с наименьшим σ: берите максимум множителя по всем σ"),
    Check("bilinear_rates", "плохо обусловленная B, шаг около границы", "rates", dict(B=_B_ILL, lr=0.3),
          rtol=1e-8, hint="σ — сингулярные числа B (np.linalg.svd), а не собственные числа и не диагональ"),
    Check("bilinear_rates", "расходящийся шаг", "rates", dict(B=_with_singular_values(2, 2, [2.5, 0.7]), lr=0.45),
          rtol=1e-8, hint="множитель может быть больше 1 — не обрезайте его; у OGDA берите больший модуль из двух корней"),
]
