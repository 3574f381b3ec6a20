"""Ключ ответов упражнения 08-1 (экстраградиент и оптимистичный GDA на билинейной игре): эталоны и скрытые
тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны шагов берут поле игры через torch.autograd, множители — через numpy.linalg.svd и
optviz.problems.games (extragradient_rate, ogda_rate); ожидаемые значения считает проверяющий процесс.
Входные данные скрытых проверок отличаются от открытых; названия и подсказки проверок видит студент —
входных данных в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check
from optviz.problems.games import extragradient_rate, ogda_rate


def game_field(B, x, y) -> tuple[np.ndarray, np.ndarray]:
    r"""The field :math:`(\nabla_x f, -\nabla_y f)` of :math:`f = x^\top B y`, by ``torch.autograd``."""
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    yt = torch.tensor(np.asarray(y, dtype=np.float64), requires_grad=True)
    f = xt @ torch.tensor(np.asarray(B, dtype=np.float64)) @ yt
    gx, gy = torch.autograd.grad(f, (xt, yt))
    return gx.numpy(), -gy.numpy()


def _ref_extragradient_step(x, y, B, lr):
    fx, fy = game_field(B, x, y)
    x_half, y_half = np.asarray(x) - lr * fx, np.asarray(y) - lr * fy
    hx, hy = game_field(B, x_half, y_half)
    return np.asarray(x) - lr * hx, np.asarray(y) - lr * hy


def _ref_optimistic_gda_step(x, y, x_prev, y_prev, B, lr):
    fx, fy = game_field(B, x, y)
    px, py = game_field(B, x_prev, y_prev)
    return np.asarray(x) - 2 * lr * fx + lr * px, np.asarray(y) - 2 * lr * fy + lr * py


def _ref_bilinear_rates(B, lr):
    sigmas = np.linalg.svd(np.asarray(B, dtype=np.float64), compute_uv=False)
    return (max(extragradient_rate(lr * s) for s in sigmas), max(ogda_rate(lr * s) for s in sigmas))


REFERENCES = {"extragradient_step": _ref_extragradient_step, "optimistic_gda_step": _ref_optimistic_gda_step,
              "bilinear_rates": _ref_bilinear_rates}

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
