"""Ключ ответов упражнения 07-1 (функциональная и градиентная схемы рестарта, Нестеров с рестартами):
эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны критериев решают через optviz.optim.FunctionScheme / GradientScheme, эталон метода — метод
курса nesterov_textbook (torch.optim.SGD) из optviz.grading.tasks.ex07_1 с этими критериями; ожидаемые
значения считает проверяющий процесс. Входные данные скрытых проверок отличаются от открытых; названия
и подсказки проверок видит студент — входных данных в них нет.
"""

import math

import numpy as np
import torch

from optviz.grading import Check
from optviz.grading.tasks.ex07_1 import SCHEMES, _decider, nesterov_textbook
from optviz.optim import FunctionScheme, GradientScheme


def _ref_function_scheme(f_x, f_x_prev):
    crit = FunctionScheme(source="observe")
    crit.after_observe({"loss": float(f_x_prev)})
    return bool(crit.after_observe({"loss": float(f_x)}))


def _ref_gradient_scheme(grad_y_prev, x, x_prev):
    g = torch.tensor(np.asarray(grad_y_prev, dtype=np.float64))
    step = torch.tensor(np.asarray(x, dtype=np.float64)) - torch.tensor(np.asarray(x_prev, dtype=np.float64))
    return bool(GradientScheme().after_step(0, None, float((g * step).sum())))


def _ref_nesterov_restarts(A, x_star, x0, lr, steps, scheme):
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}")
    decide = _decider(scheme, _ref_function_scheme, _ref_gradient_scheme)
    return nesterov_textbook(A, x_star, x0, lr, steps, decide)[0]


REFERENCES = {"function_scheme": _ref_function_scheme, "gradient_scheme": _ref_gradient_scheme,
              "nesterov_restarts": _ref_nesterov_restarts}

_rng = np.random.default_rng(7071)


def _spd(d, eigenvalues):
    q, _ = np.linalg.qr(_rng.standard_normal((d, d)))
    return q @ np.diag(eigenvalues) @ q.T


def _run(d, eigenvalues, periods):
    ev = np.asarray(eigenvalues, dtype=float)
    kappa = ev.max() / ev.min()
    return dict(A=_spd(d, ev), x_star=_rng.standard_normal(d), x0=3 * _rng.standard_normal(d), lr=1 / ev.max(),
                steps=int(periods * math.pi * math.sqrt(kappa)))


_R3 = _run(3, [0.5, 4.0, 60.0], 3.5)          # κ = 120
_R4 = _run(4, [1.0, 3.0, 10.0, 200.0], 3.0)   # κ = 200
_R2 = _run(2, [2.0, 40.0], 4.0)               # κ = 20

_g = _rng.standard_normal((3, 4))
_x_prev = _rng.standard_normal((3, 4))
_up = _x_prev + 0.1 * _g + 0.3 * np.roll(_g, 1, axis=1)       # matrix step; sign decided by the full sum
_perp = np.array([2.0, -1.0, 0.0])

CHECKS = [
    Check("function_scheme", "равные значения", "function_once", dict(f_x=0.25, f_x_prev=0.25),
          hint="рестарт только при строгом росте: f(x_k) > f(x_{k−1})"),
    Check("function_scheme", "отрицательные значения функции", "function_once", dict(f_x=-1.0, f_x_prev=-2.0),
          hint="сравнивайте сами значения, а не их модули"),
    Check("function_scheme", "крошечный рост", "function_once", dict(f_x=1e-12 + 1e-25, f_x_prev=1e-12),
          hint="любой рост значения — повод для рестарта, порога нет"),
    Check("function_scheme", "Нестеров с вашим критерием в ℝ³", "function_run", _R3, steps=True, weight=2,
          hint="критерий сравнивает новое значение с предыдущим и срабатывает только при росте"),
    Check("function_scheme", "Нестеров с вашим критерием в ℝ⁴", "function_run", _R4, steps=True, weight=2,
          hint="порядок аргументов: сначала f(x_k), затем f(x_{k−1})"),
    Check("gradient_scheme", "параметр-матрица", "gradient_once", dict(grad_y_prev=_g, x=_up, x_prev=_x_prev),
          hint="скалярное произведение матриц — сумма произведений всех элементов, а не матричное произведение"),
    Check("gradient_scheme", "шаг перпендикулярен градиенту", "gradient_once",
          dict(grad_y_prev=[1.0, 2.0, 5.0], x=[1.0, 1.0, 1.0] + _perp, x_prev=[1.0, 1.0, 1.0]),
          hint="при нулевом скалярном произведении рестарт не нужен: условие строгое"),
    Check("gradient_scheme", "Нестеров с вашим критерием в ℝ³", "gradient_run", _R3, steps=True, weight=2,
          hint="знак ∇f(y_{k−1})ᵀ(x_k − x_{k−1}): положительный — рестарт"),
    Check("gradient_scheme", "Нестеров с вашим критерием в ℝ⁴", "gradient_run", _R4, steps=True, weight=2,
          hint="разность x_k − x_{k−1}, а не x_{k−1} − x_k"),
    Check("nesterov_restarts", "без рестартов, ℝ⁴", "restart_run", dict(_R4, scheme="none"), steps=True,
          hint="β_j = (j − 1)/(j + 2), j = 1 на первом шаге; градиент берётся в y, а не в x"),
    Check("nesterov_restarts", "функциональная схема, ℝ³", "restart_run", dict(_R3, scheme="function"),
          steps=True, weight=2, hint="после рестарта j = 1: следующий шаг без импульса"),
    Check("nesterov_restarts", "градиентная схема, ℝ⁴", "restart_run", dict(_R4, scheme="gradient"),
          steps=True, weight=2, hint="градиентная схема использует градиент в y, по которому сделан шаг"),
    Check("nesterov_restarts", "градиентная схема, ℝ², маленькое κ", "restart_run", dict(_R2, scheme="gradient"),
          steps=True, hint="проверьте первый шаг после рестарта"),
]
