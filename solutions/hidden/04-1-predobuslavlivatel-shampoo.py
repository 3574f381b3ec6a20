"""Ключ ответов упражнения 04-1 (предобуславливатель Shampoo): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — matrix_inverse_root из optviz.optim._functional и один step() optviz.optim.Shampoo
(betas=(0, β₂), без импульса) из данного состояния; ожидаемые значения считает проверяющий процесс.
Входные данные скрытых проверок отличаются от открытых; названия и подсказки проверок видит
студент — входных данных в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check
from optviz.grading.tasks.ex04_1 import PINV_RTOL

#: ε of the reference Shampoo: the statistics the driver passes are the whole factors
_TINY_EPS = 1e-300


def _ref_inverse_root(S, p):
    from optviz.optim._functional import matrix_inverse_root

    return matrix_inverse_root(torch.tensor(np.asarray(S, dtype=np.float64)), float(p), pinv_rtol=PINV_RTOL).numpy()


def _shampoo_from_state(param: torch.Tensor, factors: list, beta2: float, lr: float):
    """``optviz.optim.Shampoo(betas=(0, β₂))`` whose state holds the given factors (one step done before)."""
    from optviz.optim import Shampoo

    opt = Shampoo([param], lr=float(lr), betas=(0.0, float(beta2)), eps=_TINY_EPS)
    opt.state[param]["step"] = 0
    opt.state[param]["factors"] = [torch.tensor(np.asarray(f, dtype=np.float64)) for f in factors]
    return opt


def _ref_adagrad_step(x, grad, H, lr):
    p = torch.tensor(np.asarray(x, dtype=np.float64))
    p.grad = torch.tensor(np.asarray(grad, dtype=np.float64))
    opt = _shampoo_from_state(p, [H], 1.0, lr)
    opt.step()
    return p.detach().numpy().copy(), opt.state[p]["factors"][0].numpy().copy()


def _ref_shampoo_step(W, G, L, R, lr, beta2):
    p = torch.tensor(np.asarray(W, dtype=np.float64))
    p.grad = torch.tensor(np.asarray(G, dtype=np.float64))
    opt = _shampoo_from_state(p, [L, R], beta2, lr)
    opt.step()
    L_new, R_new = opt.state[p]["factors"]
    return p.detach().numpy().copy(), L_new.numpy().copy(), R_new.numpy().copy()


REFERENCES = {"shampoo_inverse_root": _ref_inverse_root, "full_matrix_adagrad_step": _ref_adagrad_step,
              "shampoo_step": _ref_shampoo_step}

_rng = np.random.default_rng(40401)


def _psd(d: int, rank: int | None = None, scale: float = 1.0) -> np.ndarray:
    B = _rng.standard_normal((d, rank or d)) * scale
    return B @ B.T


def _spd(d: int, eigenvalues) -> np.ndarray:
    q, _ = np.linalg.qr(_rng.standard_normal((d, d)))
    return q @ np.diag(eigenvalues) @ q.T


def _ls(samples: int, m: int, n: int):
    X = _rng.standard_normal((samples, m)) * np.geomspace(1.0, 0.2, m)
    return dict(X=X, Y=X @ _rng.standard_normal((m, n)) + 0.1 * _rng.standard_normal((samples, n)))


_PINV = "собственные числа λ ≤ 1e-12·λ_max дают нулевой обратный корень (псевдообратный корень)"

CHECKS = [
    # -- the inverse root
    Check("shampoo_inverse_root", "случайная положительно определённая матрица 5×5, p = 4", "root",
          dict(S=_psd(5), p=4), rtol=1e-8,
          hint="S^{-1/p} = Q·diag(λ^{-1/p})·Qᵀ по собственному разложению симметричной матрицы"),
    Check("shampoo_inverse_root", "плохо обусловленная матрица, p = 2", "root",
          dict(S=_spd(4, [1e-4, 0.1, 3.0, 50.0]), p=2), rtol=1e-8,
          hint="степень −1/p применяется к собственным числам, а не к элементам матрицы"),
    Check("shampoo_inverse_root", "вырожденная матрица (ранг меньше размера)", "root",
          dict(S=_psd(6, rank=2, scale=3.0), p=4), rtol=1e-7, atol=1e-10, hint=_PINV),
    Check("shampoo_inverse_root", "степень p = 6 (тензор третьего порядка)", "root", dict(S=_psd(3), p=6), rtol=1e-8,
          hint="для тензора порядка k корень степени −1/(2k): p — любое положительное число"),
    # -- full-matrix AdaGrad
    Check("full_matrix_adagrad_step", "первый шаг из нулевой H, вектор длины 5", "one_step",
          dict(x=_rng.standard_normal(5), grad=_rng.standard_normal(5), H=np.zeros((5, 5)), lr=0.3), rtol=1e-8,
          atol=1e-10, hint="H = g gᵀ вырождена, её псевдообратный корень даёт шаг lr·g/‖g‖"),
    Check("full_matrix_adagrad_step", "шаг с накопленной H, вектор длины 4", "one_step",
          dict(x=_rng.standard_normal(4), grad=_rng.standard_normal(4), H=_psd(4), lr=0.05), rtol=1e-8,
          hint="сначала H ← H + g gᵀ, затем x ← x − lr·H^{-1/2} g по обновлённой H"),
    Check("full_matrix_adagrad_step", "30 шагов на квадратичной функции в R³", "quadratic_run",
          dict(matrix=_spd(3, [0.5, 4.0, 40.0]), center=_rng.standard_normal(3), x0=_rng.standard_normal(3), lr=0.4,
               steps=30), steps=True, weight=2, rtol=1e-6, atol=1e-9,
          hint="верните накопленную H: следующий шаг должен получить сумму всех g gᵀ"),
    # -- Shampoo on a matrix
    Check("shampoo_step", "β₂ = 0, нулевые статистики, высокая матрица", "one_step",
          dict(W=_rng.standard_normal((5, 3)), G=_rng.standard_normal((5, 3)), L=np.zeros((5, 5)), R=np.zeros((3, 3)),
               lr=0.2, beta2=0.0), rtol=1e-7, atol=1e-10,
          hint="без накопления шаг Shampoo равен lr·UVᵀ; GGᵀ здесь вырождена — нужен псевдообратный корень"),
    Check("shampoo_step", "накопленные статистики, широкая матрица, β₂ < 1", "one_step",
          dict(W=_rng.standard_normal((3, 6)), G=_rng.standard_normal((3, 6)), L=_psd(3), R=_psd(6), lr=0.07,
               beta2=0.95), rtol=1e-7, atol=1e-10,
          hint="L ← β₂L + GGᵀ (m×m), R ← β₂R + GᵀG (n×n), корни степени −1/4 с обеих сторон"),
    Check("shampoo_step", "12 шагов на наименьших квадратах, β₂ = 1", "least_squares_run",
          dict(**_ls(40, 6, 4), W0=np.zeros((6, 4)), lr=0.25, beta2=1.0, steps=12), steps=True, weight=2, rtol=1e-6,
          atol=1e-9, hint="L и R копятся от шага к шагу; шаг W − lr·L^{-1/4} G R^{-1/4}"),
    Check("shampoo_step", "8 шагов без накопления (β₂ = 0)", "least_squares_run",
          dict(**_ls(30, 3, 5), W0=_rng.standard_normal((3, 5)), lr=0.05, beta2=0.0, steps=8), steps=True, rtol=1e-6,
          atol=1e-9, hint="при β₂ = 0 статистики строятся только по текущему градиенту"),
]
