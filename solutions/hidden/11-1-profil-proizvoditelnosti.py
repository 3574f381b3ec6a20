"""Ключ ответов упражнения 11-1 (отношения и профили производительности): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — performance_ratios, performance_profile и profile_breakpoints из
optviz.experiments.profiles; ожидаемые значения считает проверяющий процесс. Названия и подсказки
видит студент — входных данных в них нет.
"""

import numpy as np

from optviz.experiments.profiles import performance_profile, performance_ratios, profile_breakpoints
from optviz.grading import Check


def _ref_ratios(times):
    return performance_ratios(times)


def _ref_profile(times, taus):
    return performance_profile(times, taus)


def _ref_tau_for_share(times, share):
    points = profile_breakpoints(times)            # the profile can only jump at these τ
    rho = performance_profile(times, points)        # (S, len(points)), non-decreasing in τ
    reached = rho >= float(share) - 1e-12
    first = np.argmax(reached, axis=1)
    return np.where(reached.any(axis=1), points[first], np.inf)


REFERENCES = {"ratio_table": _ref_ratios, "profile_values": _ref_profile, "tau_for_share": _ref_tau_for_share}

_rng = np.random.default_rng(1101)


def _table(S: int, P: int, fail: float, unsolved: int = 0, ties: bool = True, nan: bool = False) -> np.ndarray:
    t = (_rng.integers(3, 30, size=(S, P)) if ties else _rng.uniform(3.0, 30.0, size=(S, P))).astype(float)
    t[_rng.random((S, P)) < fail] = np.nan if nan else np.inf
    if unsolved:
        t[:, _rng.choice(P, unsolved, replace=False)] = np.inf
    return t


_BIG = _table(7, 25, 0.25, unsolved=2)
_NAN = _table(4, 9, 0.3, nan=True)
_CLEAN = _table(3, 6, 0.0, ties=False)
_ONE = _table(1, 5, 0.2, ties=False)
_ONE[0, 0] = 4.0                                     # the single method solves at least one task
_GRID = np.r_[1.0, np.linspace(1.0, 6.0, 41)[1:], 2.0, 1.5, np.inf]

CHECKS = [
    Check("ratio_table", "7 методов × 25 задач: ничьи, провалы, нерешённые задачи", "ratios", dict(times=_BIG),
          weight=2, rtol=1e-12, atol=0,
          hint="столбец, где все времена бесконечны, даёт inf у всех методов, а не nan"),
    Check("ratio_table", "провалы записаны как nan", "ratios", dict(times=_NAN), rtol=1e-12, atol=0,
          hint="nan — провал: его отношение inf, и он не может быть лучшим временем задачи"),
    Check("ratio_table", "без провалов и ничьих", "ratios", dict(times=_CLEAN), rtol=1e-12, atol=0,
          hint="делите на минимум по методам (по столбцу), а не по задачам (по строке)"),
    Check("ratio_table", "один метод", "ratios", dict(times=_ONE), rtol=1e-12, atol=0,
          hint="единственный метод — лучший на каждой решённой им задаче"),
    Check("profile_values", "большая таблица на сетке τ", "profile", dict(times=_BIG, taus=_GRID),
          weight=2, rtol=1e-12, atol=1e-15, hint="ρ_s(τ) — доля всех P задач (включая нерешённые) с r ≤ τ"),
    Check("profile_values", "ρ(1) и ρ(∞): победы и решённые задачи", "profile",
          dict(times=_BIG, taus=[1.0, np.inf]), weight=2, rtol=1e-12, atol=1e-15,
          hint="при τ = ∞ провалы не засчитываются: inf ≤ inf истинно, поэтому нужна явная проверка"),
    Check("profile_values", "провалы записаны как nan", "profile",
          dict(times=_NAN, taus=[1.0, 1.25, 3.0, np.inf]), rtol=1e-12, atol=1e-15,
          hint="nan — провал, как inf"),
    Check("profile_values", "необычные и неупорядоченные значения τ", "profile",
          dict(times=_CLEAN, taus=[3.0, 0.5, 1.0, 1.7]), rtol=1e-12, atol=1e-15,
          hint="значения считаются для каждого τ отдельно, в порядке taus; при τ < 1 профиль равен 0"),
    Check("tau_for_share", "половина задач в большой таблице", "share", dict(times=_BIG, share=0.5), weight=2,
          rtol=1e-12, atol=0, hint="ответ — одно из отношений r_{s,p} (или 1, или inf)"),
    Check("tau_for_share", "нулевая доля задач", "share", dict(times=_NAN, share=0.0), rtol=1e-12, atol=0,
          hint="наименьшее допустимое τ равно 1"),
    Check("tau_for_share", "все задачи", "share", dict(times=_CLEAN, share=1.0), rtol=1e-12, atol=0,
          hint="чтобы решить все задачи, нужно τ не меньше наибольшего отношения метода"),
    Check("tau_for_share", "доля больше решённой", "share", dict(times=_BIG, share=0.75), rtol=1e-12, atol=0,
          hint="если метод решил меньше задач, чем требуется, ответ — inf"),
]
