"""Ключ ответов упражнения 11-2 (балл AlgoPerf): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — study_times, profile_score и trapezoid_score из optviz.experiments.profiles; ожидаемые
значения считает проверяющий процесс. Названия и подсказки видит студент — входных данных в них нет.
"""

import numpy as np

from optviz.experiments.profiles import profile_score, study_times, trapezoid_score
from optviz.grading import Check


def _ref_study(trial_times):
    return study_times(trial_times)


def _ref_score(times, tau_max):
    return profile_score(times, float(tau_max))


def _ref_trapezoid(times, tau_max, points):
    return trapezoid_score(times, float(tau_max), int(points))


REFERENCES = {"median_best_trial": _ref_study, "algoperf_score": _ref_score, "trapezoid_profile_score": _ref_trapezoid}

_rng = np.random.default_rng(1102)


def _trials(S: int, P: int, studies: int, trials: int, fail: float, nan_share: float = 0.0) -> np.ndarray:
    t = np.round(_rng.uniform(5.0, 80.0, size=(S, P, studies, trials)))
    t[_rng.random(t.shape) < fail] = np.inf
    t[_rng.random(t.shape) < nan_share] = np.nan
    return t


def _times(S: int, P: int, fail: float, spread: float = 1.0) -> np.ndarray:
    t = 10.0 * np.exp(spread * _rng.standard_normal((S, P)))
    t[_rng.random((S, P)) < fail] = np.inf
    return t


_T = _times(6, 15, 0.2, spread=0.8)
_T[:, 4] = np.inf                                    # a task nobody solved
_T[2, 7] = _T[:, 7][np.isfinite(_T[:, 7])].min()     # a tie for the best time
_LOOSE = _times(4, 10, 0.1, spread=1.5)              # many ratios beyond τ_max
_NAN = _times(3, 8, 0.0)
_NAN[_rng.random(_NAN.shape) < 0.25] = np.nan
_GRID_HIT = np.array([[2.0, 4.0, 1.0, np.inf], [1.0, 1.0, 2.5, 3.0], [4.0, 2.0, 1.75, 1.0]])

CHECKS = [
    Check("median_best_trial", "5 исследований по 5 попыток, провалы", "study",
          dict(trial_times=_trials(4, 6, 5, 5, 0.35)), weight=2, rtol=1e-12, atol=0,
          hint="минимум — по попыткам внутри исследования, медиана — по исследованиям"),
    Check("median_best_trial", "чётное число исследований и провалы целых исследований", "study",
          dict(trial_times=_trials(3, 5, 4, 3, 0.5)), rtol=1e-12, atol=0,
          hint="исследование, где все попытки провалились, имеет время inf (а не огромное конечное число); "
               "медиана чётного числа — среднее двух средних"),
    Check("median_best_trial", "провалы записаны как nan", "study",
          dict(trial_times=_trials(2, 4, 3, 4, 0.2, nan_share=0.2)), rtol=1e-12, atol=0,
          hint="nan — провал: замените его на inf, иначе min и median вернут nan"
               " (np.nan_to_num заменит и сами inf на конечные числа)"),
    Check("median_best_trial", "одна попытка в исследовании", "study",
          dict(trial_times=_trials(3, 3, 5, 1, 0.2)), rtol=1e-12, atol=0,
          hint="при одной попытке время исследования — сама попытка"),
    Check("algoperf_score", "6 методов × 15 задач, τ_max = 4", "score", dict(times=_T, tau_max=4.0), weight=2,
          rtol=1e-10, atol=1e-12,
          hint="делите на все P задач, включая те, что никто не решил; ничья даёт обоим r = 1"),
    Check("algoperf_score", "много отношений больше τ_max", "score", dict(times=_LOOSE, tau_max=4.0),
          rtol=1e-10, atol=1e-12, hint="задача с r > τ_max даёт 0, а не отрицательный вклад"),
    Check("algoperf_score", "другое τ_max", "score", dict(times=_T, tau_max=10.0), rtol=1e-10, atol=1e-12,
          hint="нормировка — на τ_max − 1"),
    Check("algoperf_score", "провалы записаны как nan", "score", dict(times=_NAN, tau_max=4.0),
          rtol=1e-10, atol=1e-12, hint="nan — провал, как inf; задача, которую никто не решил, даёт 0 всем"),
    Check("trapezoid_profile_score", "6 методов × 15 задач, подробная сетка", "trapezoid",
          dict(times=_T, tau_max=4.0, points=301), weight=2, rtol=1e-10, atol=1e-12,
          hint="площадь трапеций h·Σ(ρ_i + ρ_{i+1})/2 по сетке np.linspace(1, tau_max, points), делённая на τ_max − 1"),
    Check("trapezoid_profile_score", "отношения попадают в узлы грубой сетки", "trapezoid",
          dict(times=_GRID_HIT, tau_max=4.0, points=7), rtol=1e-10, atol=1e-12,
          hint="в узле τ = r задача уже засчитана: неравенство r ≤ τ нестрогое"),
    Check("trapezoid_profile_score", "две точки сетки, провалы как nan", "trapezoid",
          dict(times=_NAN, tau_max=3.0, points=2), rtol=1e-10, atol=1e-12,
          hint="при двух узлах площадь — одна трапеция между τ = 1 и τ = τ_max"),
]
