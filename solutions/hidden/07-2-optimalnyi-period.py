"""Ключ ответов упражнения 07-2 (оптимальный период рестартов метода Нестерова): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — lecture_07.bound_optimal_period, lecture_07.steps_to_tolerance и метод курса nesterov_textbook
(torch.optim.SGD) из optviz.grading.tasks.ex07_1 с критерием optviz.optim.FixedPeriod; ожидаемые значения
считает проверяющий процесс. Входные данные скрытых проверок отличаются от открытых; названия и подсказки
проверок видит студент — входных данных в них нет.
"""

import math

import numpy as np

from optviz.course.lecture_07 import bound_optimal_period, steps_to_tolerance
from optviz.grading import Check
from optviz.grading.tasks.ex07_1 import nesterov_textbook, quadratic_value
from optviz.optim import FixedPeriod


def _ref_bound_period(kappa):
    P = bound_optimal_period(float(kappa))
    return P, (4.0 * float(kappa) / P**2) ** (1.0 / P)


def _ref_nesterov_period(A, x_star, x0, lr, steps, period):
    crit = FixedPeriod(int(period))

    def decide(*_):
        fired = crit.after_step(0, None, None)
        if fired:
            crit.on_restart()
        return fired

    return nesterov_textbook(A, x_star, x0, lr, steps, decide)[0]


def _ref_steps_to_eps(gap, tol):
    return steps_to_tolerance(np.asarray(gap, dtype=np.float64), float(tol))


def _ref_best_period(A, x_star, x0, lr, steps, periods, tol):
    best, best_steps = None, math.inf
    for P in periods:
        pts = _ref_nesterov_period(A, x_star, x0, lr, steps, int(P))
        k = _ref_steps_to_eps([quadratic_value(A, x_star, x) for x in pts], tol)
        if k is not None and k < best_steps:
            best, best_steps = int(P), k
    return best


REFERENCES = {"bound_period": _ref_bound_period, "nesterov_period": _ref_nesterov_period,
              "steps_to_eps": _ref_steps_to_eps, "best_period": _ref_best_period}

_rng = np.random.default_rng(7072)


def _spd(d, eigenvalues):
    q, _ = np.linalg.qr(_rng.standard_normal((d, d)))
    return q @ np.diag(eigenvalues) @ q.T


_EV3 = np.array([0.4, 3.0, 40.0])            # κ = 100
_RUN3 = dict(A=_spd(3, _EV3), x_star=_rng.standard_normal(3), x0=2 * _rng.standard_normal(3), lr=1 / _EV3.max())
_EV4 = np.array([1.0, 2.0, 9.0, 60.0])       # κ = 60
_RUN4 = dict(A=_spd(4, _EV4), x_star=_rng.standard_normal(4), x0=2 * _rng.standard_normal(4), lr=1 / _EV4.max())

_t = np.arange(200)
_ripple = np.exp(-_t / 15.0) * (1.05 + np.cos(2 * np.pi * _t / 23.0))   # decays with humps, dips below and back
_flat = np.concatenate([[2.0], np.full(9, 2e-6)])                       # every later value exactly at the threshold

CHECKS = [
    Check("bound_period", "κ = 1000", "bound", dict(kappa=1000.0), rtol=1e-9,
          hint="P* = 2e√κ: при ln P = 1 + ½ ln(4κ) производная ln ρ(P) обращается в ноль"),
    Check("bound_period", "нецелое κ", "bound", dict(kappa=37.5), rtol=1e-9,
          hint="не округляйте P*; ρ* = (4κ/P*²)^(1/P*)"),
    Check("bound_period", "очень большое κ", "bound", dict(kappa=1e6), rtol=1e-9,
          hint="ρ* = e^(−2/P*) — проверьте, что множитель считается при найденном P*"),
    Check("nesterov_period", "рестарт каждые 10 шагов, ℝ³", "period_run", dict(_RUN3, steps=80, period=10),
          steps=True, weight=2, hint="рестарт после шагов P, 2P, …: следующий шаг снова с β = 0"),
    Check("nesterov_period", "рестарт каждые 23 шага, ℝ⁴", "period_run", dict(_RUN4, steps=100, period=23),
          steps=True, weight=2, hint="j считается от последнего рестарта: β_j = (j − 1)/(j + 2)"),
    Check("nesterov_period", "период 1: градиентный спуск", "period_run", dict(_RUN3, steps=20, period=1),
          steps=True, hint="при P = 1 рестарт после каждого шага: импульса нет вовсе, это GD с шагом lr"),
    Check("nesterov_period", "без рестартов, ℝ⁴", "period_run", dict(_RUN4, steps=50, period=1000),
          steps=True, hint="градиент берётся в экстраполированной точке y, а не в x"),
    Check("steps_to_eps", "затухающая рябь", "tolerance_steps", dict(gap=_ripple, tol=1e-4), weight=2,
          hint="значение, опустившееся ниже порога и поднявшееся обратно, не считается"),
    Check("steps_to_eps", "затухающая рябь, грубая точность", "tolerance_steps", dict(gap=_ripple, tol=3e-2),
          hint="нужен первый k, после которого график больше не поднимается выше порога"),
    Check("steps_to_eps", "значения ровно на пороге", "tolerance_steps", dict(gap=_flat, tol=1e-6),
          hint="условие нестрогое: gap_k ≤ tol·gap_0"),
    Check("steps_to_eps", "сразу всё ниже порога", "tolerance_steps",
          dict(gap=[1.0, 1e-9, 1e-10, 1e-12], tol=1e-3), hint="ответ может быть и k = 1"),
    Check("steps_to_eps", "последнее значение выше порога", "tolerance_steps",
          dict(gap=_ripple[:60], tol=1e-6), hint="если точность не достигнута к концу, верните None"),
    Check("best_period", "κ = 100 в ℝ³", "best",
          dict(_RUN3, steps=int(12 * math.pi * 10), periods=[5, 10, 20, 30, 35, 40, 50, 70, 100], tol=1e-8),
          weight=2, hint="сравнивайте число шагов до точности, а не значение функции в конце"),
    Check("best_period", "ни один период не успевает", "best",
          dict(_RUN4, steps=30, periods=[2, 4, 8], tol=1e-12),
          hint="если точности не достиг ни один период, верните None"),
]
