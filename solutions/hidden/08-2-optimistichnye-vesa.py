"""Ключ ответов упражнения 08-2 (мультипликативные веса и оптимистичные MW на матричной игре): эталоны и
скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны шагов — optviz.optim._functional.kl_mirror_step, зазора и потенциала — MatrixGame из
optviz.problems.games; ожидаемые значения считает проверяющий процесс. Входные данные скрытых проверок
отличаются от открытых; названия и подсказки проверок видит студент — входных данных в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check
from optviz.optim._functional import kl_mirror_step
from optviz.problems.games import MatrixGame


def _t(v) -> torch.Tensor:
    return torch.tensor(np.asarray(v, dtype=np.float64))


def _ref_mw_step(x, y, A, lr):
    A, x, y = _t(A), _t(x), _t(y)
    return kl_mirror_step(x, A @ y, lr).numpy(), kl_mirror_step(y, -(A.T @ x), lr).numpy()


def _ref_optimistic_mw_step(x, y, x_prev, y_prev, A, lr):
    A, x, y, xp, yp = _t(A), _t(x), _t(y), _t(x_prev), _t(y_prev)
    gx, gy = A @ y, -(A.T @ x)
    gx_prev, gy_prev = A @ yp, -(A.T @ xp)
    return (kl_mirror_step(x, 2 * gx - gx_prev, lr).numpy(), kl_mirror_step(y, 2 * gy - gy_prev, lr).numpy())


def _ref_matrix_game_gap(A, x, y):
    return float(MatrixGame(A).gap(x, y))


def _ref_kl_potential(x_star, y_star, x, y):
    game = MatrixGame(np.zeros((len(x_star), len(y_star))), equilibrium=(x_star, y_star))
    return float(game.kl_to_equilibrium(x, y))


REFERENCES = {"mw_step": _ref_mw_step, "optimistic_mw_step": _ref_optimistic_mw_step,
              "matrix_game_gap": _ref_matrix_game_gap, "kl_potential": _ref_kl_potential}

_rng = np.random.default_rng(80802)


def _simplex(n: int) -> np.ndarray:
    return _rng.dirichlet(np.full(n, 2.0))


_A34 = _rng.uniform(-1.0, 1.0, (3, 4))
_A43 = _rng.uniform(-1.0, 1.0, (4, 3))
_PENNIES = np.array([[1.0, -1.0], [-1.0, 1.0]])
_RPS = np.array([[0, 1, -1], [-1, 0, 1], [1, -1, 0]], dtype=np.float64)   # «камень, ножницы, бумага»

CHECKS = [
    # mw_step
    Check("mw_step", "один шаг, случайная A 3×4", "mw_one",
          dict(x=_simplex(3), y=_simplex(4), A=_A34, lr=0.7), rtol=1e-9,
          hint="x⁺ ∝ x·exp(−ηAy), y⁺ ∝ y·exp(+ηAᵀx); оба вектора нормируются на сумму"),
    Check("mw_step", "орлянка, 40 шагов", "mw_run",
          dict(A=_PENNIES, x0=[0.7, 0.3], y0=[0.4, 0.6], lr=0.2, steps=40), steps=True, weight=2,
          hint="шаги одновременные: новое y считается по старому x"),
    Check("mw_step", "случайная A 4×3, 30 шагов", "mw_run",
          dict(A=_A43, x0=_simplex(4), y0=_simplex(3), lr=0.5, steps=30), steps=True, weight=2,
          hint="игрок x спускается по Ay, игрок y поднимается по Aᵀx — проверьте знаки и транспонирование"),
    Check("mw_step", "большой шаг", "mw_one",
          dict(x=_simplex(3), y=_simplex(3), A=_RPS, lr=1000.0), rtol=1e-9, atol=1e-12,
          hint="при большом η экспонента переполняется: вычтите из показателя его максимум перед exp"),
    # optimistic_mw_step
    Check("optimistic_mw_step", "один шаг с прошлой точкой, A 3×4", "omw_one",
          dict(x=_simplex(3), y=_simplex(4), x_prev=_simplex(3), y_prev=_simplex(4), A=_A34, lr=0.6), rtol=1e-9,
          hint="потери x: 2Ay − Ay_prev; выигрыши y: 2Aᵀx − Aᵀx_prev"),
    Check("optimistic_mw_step", "«камень, ножницы, бумага», 60 шагов", "omw_run",
          dict(A=_RPS, x0=[0.6, 0.3, 0.1], y0=[0.25, 0.25, 0.5], lr=0.4, steps=60), steps=True, weight=2,
          hint="первый шаг — обычный MW; затем в экстраполяции участвует точка предыдущего шага"),
    Check("optimistic_mw_step", "случайная A 4×3, 30 шагов", "omw_run",
          dict(A=_A43, x0=_simplex(4), y0=_simplex(3), lr=0.3, steps=30), steps=True, weight=2,
          hint="экстраполируется вектор потерь, а сам шаг делается из текущей точки x_t"),
    # matrix_game_gap
    Check("matrix_game_gap", "случайная A 3×4", "gap", dict(A=_A34, x=_simplex(3), y=_simplex(4)), rtol=1e-9,
          hint="gap = max_j (Aᵀx)_j − min_i (Ay)_i"),
    Check("matrix_game_gap", "равновесие: зазор нулевой", "gap",
          dict(A=_RPS, x=[1 / 3] * 3, y=[1 / 3] * 3), rtol=1e-9, atol=1e-12,
          hint="в равновесии ни одному игроку не выгодно отклоняться: лучший ответ не лучше текущего"),
    Check("matrix_game_gap", "чистые стратегии, A 4×3", "gap",
          dict(A=_A43, x=[0.0, 1.0, 0.0, 0.0], y=[0.0, 0.0, 1.0]), rtol=1e-9,
          hint="максимум берётся по стратегиям y (столбцам), минимум — по стратегиям x (строкам)"),
    # kl_potential
    Check("kl_potential", "случайные стратегии", "potential",
          dict(x_star=_simplex(3), y_star=_simplex(4), x=_simplex(3), y=_simplex(4)), rtol=1e-9,
          hint="KL(x*‖x) = Σ x*_i log(x*_i / x_i) — равновесие стоит первым аргументом"),
    Check("kl_potential", "равновесие с нулевыми компонентами", "potential",
          dict(x_star=[0.0, 0.4, 0.6], y_star=[1.0, 0.0], x=_simplex(3), y=_simplex(2)), rtol=1e-9,
          hint="слагаемые с x*_i = 0 равны нулю (0·log 0 = 0), а не nan"),
    Check("kl_potential", "в самом равновесии", "potential",
          dict(x_star=[0.2, 0.3, 0.5], y_star=[0.5, 0.5], x=[0.2, 0.3, 0.5], y=[0.5, 0.5]), rtol=1e-9, atol=1e-12,
          hint="KL(p‖p) = 0"),
]
