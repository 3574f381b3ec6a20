"""Ключ ответов упражнения 06-2 (отсечение градиента и нормализованный спуск): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — один step() optviz.optim.L0L1GD с variant="clipped" / "normalized" и l0l1_step_size
(одна норма на все элементы параметра); ожидаемые значения считает проверяющий процесс. Входные данные
скрытых проверок отличаются от открытых; названия и подсказки проверок видит студент — входных данных
в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check
from optviz.optim import L0L1GD
from optviz.optim.l0l1 import l0l1_step_size


def _optviz_step(x, grad, **kw):
    p = torch.tensor(np.asarray(x, dtype=np.float64))
    p.grad = torch.tensor(np.asarray(grad, dtype=np.float64))
    L0L1GD([p], **kw).step()
    return p.detach().numpy().copy()


def _ref_clipped_step(x, grad, L0, L1):
    return _optviz_step(x, grad, L0=float(L0), L1=float(L1), variant="clipped")


def _ref_normalized_step(x, grad, L1):
    return _optviz_step(x, grad, L0=0.0, L1=float(L1), variant="normalized")


def _ref_step_ratios(grad_norms, L0, L1):
    g = np.asarray(grad_norms, dtype=np.float64).reshape(-1)
    smooth = np.array([l0l1_step_size(float(v), float(L0), float(L1), "smooth") for v in g])
    clip = np.array([l0l1_step_size(float(v), float(L0), float(L1), "clipped") for v in g])
    norm = np.array([l0l1_step_size(float(v), float(L0), float(L1), "normalized") for v in g])
    return clip / smooth, norm / smooth


REFERENCES = {"clipped_step": _ref_clipped_step, "normalized_step": _ref_normalized_step,
              "step_ratios": _ref_step_ratios}

_rng = np.random.default_rng(6062)

_g_big = _rng.standard_normal(6)
_g_big *= 7.0 / np.linalg.norm(_g_big)           # ‖g‖ = 7 > L0/L1 = 2: the clipping fires
_g_flat = np.full(9, 0.9)                          # each |g_i| < c = 1.5, yet ‖g‖ = 2.7 > c: only norm clipping cuts it

CHECKS = [
    Check("clipped_step", "отсечение по норме вектора длины 6", "clipped_once",
          dict(x=_rng.standard_normal(6), grad=_g_big, L0=3.0, L1=1.5), rtol=1e-9,
          hint="градиент уменьшают до нормы L0/L1 целиком, направление сохраняется"),
    Check("clipped_step", "все координаты меньше порога, а норма больше", "clipped_once",
          dict(x=_rng.standard_normal(9), grad=_g_flat, L0=3.0, L1=2.0), rtol=1e-9,
          hint="порог сравнивается с нормой всего градиента, а не с каждой координатой (это не np.clip)"),
    Check("clipped_step", "параметр-матрица", "clipped_once",
          dict(x=_rng.standard_normal((4, 3)), grad=4 * _rng.standard_normal((4, 3)), L0=2.0, L1=1.0), rtol=1e-9,
          hint="норма — по всем элементам матрицы сразу"),
    Check("clipped_step", "градиент ниже порога", "clipped_once",
          dict(x=_rng.standard_normal(5), grad=0.01 * _rng.standard_normal(5), L0=5.0, L1=0.5), rtol=1e-9,
          hint="без отсечения это обычный шаг GD с шагом 1/L0"),
    Check("clipped_step", "40 шагов на сумме четвёртых степеней в ℝ⁴", "clipped_run",
          dict(x0=4 * _rng.standard_normal(4), L0=4.0, L1=2.0, steps=40), steps=True, weight=2,
          hint="проверьте, что и база шага (1/L0), и порог (L0/L1) те, что в условии"),
    Check("normalized_step", "один шаг, вектор длины 7", "normalized_once",
          dict(x=_rng.standard_normal(7), grad=_rng.standard_normal(7), L1=3.0), rtol=1e-9,
          hint="длина шага равна 1/L1 при любой норме градиента"),
    Check("normalized_step", "нулевой градиент", "normalized_once",
          dict(x=_rng.standard_normal(3), grad=np.zeros(3), L1=2.0), rtol=1e-9,
          hint="при g = 0 направления нет: верните ту же точку, без nan"),
    Check("normalized_step", "параметр-матрица", "normalized_once",
          dict(x=_rng.standard_normal((2, 5)), grad=_rng.standard_normal((2, 5)), L1=0.5), rtol=1e-9,
          hint="делите на норму всех элементов сразу"),
    Check("normalized_step", "30 шагов в ℝ³", "normalized_run",
          dict(x0=3 * _rng.standard_normal(3), L1=4.0, steps=30), steps=True, weight=2,
          hint="x ← x − g/(L1‖g‖); норму пересчитывайте на каждом шаге"),
    Check("step_ratios", "широкая сетка норм", "ratios",
          dict(grad_norms=np.geomspace(1e-3, 1e3, 25), L0=2.0, L1=5.0), rtol=1e-9,
          hint="η_clip = min(1/L0, 1/(L1‖g‖)), η = 1/(L0 + L1‖g‖)"),
    Check("step_ratios", "ровно на границе фаз", "ratios",
          dict(grad_norms=[3.0 / 0.75], L0=3.0, L1=0.75), rtol=1e-9,
          hint="на границе ‖g‖ = L0/L1 отсечение ровно вдвое больше (L0, L1)-шага"),
    Check("step_ratios", "случайные нормы", "ratios",
          dict(grad_norms=np.exp(_rng.uniform(-4, 4, 12)), L0=1.0, L1=0.2), rtol=1e-9,
          hint="η_norm/η = 1 + L0/(L1‖g‖)"),
]
