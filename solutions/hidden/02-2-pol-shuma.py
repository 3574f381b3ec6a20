"""Ключ ответов упражнения 02-2 (убывающий шаг, мини-батч SGD, шумовое плато): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — step_schedule лекции, torch.optim.SGD и grad_variance задачи с конечной суммой; ожидаемые
значения считает проверяющий процесс. Входные данные скрытых проверок отличаются от открытых;
названия и подсказки проверок видит студент — входных данных в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check
from optviz.problems.finite_sums import LeastSquares
from optviz.widgets.sgd import step_schedule


def _ref_decreasing_step(k, mu, lr0):
    return step_schedule("strongly_convex", float(lr0), float(mu))(int(k))


def torch_sgd_path(A, y, x0, batches, step_sizes):
    """``torch.optim.SGD`` on :class:`LeastSquares` with the given batches and per-step ``lr``: ``(K+1, d)``."""
    p = LeastSquares(A, y)
    x = torch.tensor(np.array(x0, dtype=np.float64).reshape(-1))
    opt = torch.optim.SGD([x], lr=1.0)
    out = [x.clone()]
    for batch, lr in zip(np.asarray(batches, dtype=np.int64), np.asarray(step_sizes, dtype=np.float64)):
        x.grad = p.grad(x.detach(), batch)
        opt.param_groups[0]["lr"] = float(lr)
        with torch.no_grad():
            opt.step()
        out.append(x.clone())
    return torch.stack(out).numpy()


def _ref_noise_floor_bound(A, y, lr, b):
    p = LeastSquares(A, y)
    return p.L * p.grad_variance(p.optimum, int(b)) * float(lr) / (4 * p.mu)


REFERENCES = {"decreasing_step": _ref_decreasing_step, "sgd_trajectory": torch_sgd_path,
              "noise_floor_bound": _ref_noise_floor_bound}

_rng = np.random.default_rng(20240202)


def _data(n: int, d: int):
    A = _rng.standard_normal((n, d)) * np.geomspace(1.0, 2.5, d)
    y = A @ _rng.standard_normal(d) + 0.5 * _rng.standard_normal(n)
    return A, y


def _batches(n: int, K: int, b: int):
    return np.argsort(_rng.random((K, n)), axis=1)[:, :b]


_A40, _Y40 = _data(40, 3)
_A25, _Y25 = _data(25, 2)
_A60, _Y60 = _data(60, 4)
_MU40 = float(np.linalg.eigvalsh(_A40.T @ _A40 / 40)[0])

CHECKS = [
    Check("decreasing_step", "малое μ, большой α₀: первые 16 шагов и далее", "schedule",
          dict(ks=list(range(16)) + [50, 400], mu=0.2, lr0=5.0), rtol=1e-10,
          hint="α_k = (2k + 1)/(2μ(k + 1)²), k = 0, 1, 2, …"),
    Check("decreasing_step", "ограничение α₀ действует в начале", "schedule",
          dict(ks=[0, 1, 2, 4, 8, 30, 200], mu=2.0, lr0=0.1), rtol=1e-10,
          hint="шаг — минимум из α₀ и формулы"),
    Check("decreasing_step", "ограничение не действует", "schedule", dict(ks=[0, 3, 9, 27], mu=3.0, lr0=100.0),
          rtol=1e-10, hint="проверьте знаменатель 2μ(k + 1)²"),
    Check("sgd_trajectory", "постоянный шаг, батчи по 4 объекта, d = 3", "trajectory",
          dict(A=_A40, y=_Y40, x0=_rng.standard_normal(3), batches=_batches(40, 30, 4),
               step_sizes=np.full(30, 0.05)), steps=True, weight=2,
          hint="градиент батча — среднее, шаг x ← x − α_k·∇f_{B_k}(x_k)"),
    Check("sgd_trajectory", "убывающий шаг, b = 1", "trajectory",
          dict(A=_A40, y=_Y40, x0=np.zeros(3), batches=_batches(40, 40, 1),
               step_sizes=[min(0.1, (2 * k + 1) / (2 * _MU40 * (k + 1) ** 2)) for k in range(40)]),
          steps=True, weight=2, hint="на шаге k — k-й батч и k-й шаг из списка"),
    Check("sgd_trajectory", "батч — вся выборка (градиентный спуск)", "trajectory",
          dict(A=_A25, y=_Y25, x0=[2.0, -1.0], batches=np.tile(np.arange(25), (12, 1)), step_sizes=np.full(12, 0.2)),
          steps=True, hint="при b = n шаг SGD — шаг градиентного спуска по Aᵀ(Ax − y)/n"),
    Check("noise_floor_bound", "b = 1, d = 3", "floor", dict(A=_A40, y=_Y40, lr=0.02, b=1), rtol=1e-7,
          hint="σ² считается в минимуме x* (решение наименьших квадратов), μ и L — по AᵀA/n"),
    Check("noise_floor_bound", "средний батч, d = 4", "floor", dict(A=_A60, y=_Y60, lr=0.01, b=12), rtol=1e-7,
          hint="σ_b² = σ²·(n − b)/(b(n − 1))"),
    Check("noise_floor_bound", "полный батч", "floor", dict(A=_A25, y=_Y25, lr=0.05, b=25), rtol=1e-7, atol=1e-12,
          hint="при b = n шума нет: пол равен нулю"),
]
