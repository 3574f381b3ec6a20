"""Exercise 11-2: the AlgoPerf score — external tuning aggregation, the exact area under the profile,
the same area by the trapezoid rule.

Tasks (the functions the student writes)::

    median_best_trial(trial_times) -> (S, P)          trial_times (S, P, studies, trials): min over trials,
                                                      median over studies (nan — a failure, like inf)
    algoperf_score(times, tau_max) -> (S,)            B_s = (1/P) Σ_p max(0, (τ_max − r_sp)/(τ_max − 1))
    trapezoid_profile_score(times, tau_max, points) -> (S,)
                                                      the normalised area under ρ_s by the trapezoid rule on
                                                      np.linspace(1, tau_max, points)

References (in the answer key ``solutions/hidden/11-2-ball-algoperf.py``): :mod:`optviz.experiments.profiles`
(``study_times``, ``profile_score``, ``trapezoid_score``). The task functions may use neither
``optviz.experiments.profiles`` nor ``optviz.course.lecture_11`` (which scores with it).
"""

from __future__ import annotations

import numpy as np

from ..spec import AnswerError, Check, Exercise, Task, as_float_array

__all__ = ["EXERCISE", "RULES"]

INF = float("inf")
NAN = float("nan")


#: what the task functions may not use (besides optviz.grading): the library's scores
RULES = ("optviz.experiments.profiles", "optviz.course.lecture_11")


# -- drivers -----------------------------------------------------------------------------------

def _answer(out, what: str, shape: tuple) -> np.ndarray:
    if out is None:
        raise AnswerError(f"функция должна вернуть {what} формы {shape}, а вернула None")
    return as_float_array(out, what, shape)


def study(fn, *, trial_times):
    """Driver of ``median_best_trial``: ``{"t": (S, P)}``."""
    tt = np.array(trial_times, dtype=np.float64)
    return {"t": _answer(fn(tt.copy()), "таблица времён", tt.shape[:2])}


def score(fn, *, times, tau_max):
    """Driver of ``algoperf_score``: ``{"B": (S,)}``."""
    t = np.array(times, dtype=np.float64)
    return {"B": _answer(fn(t.copy(), float(tau_max)), "массив баллов", (t.shape[0],))}


def trapezoid(fn, *, times, tau_max, points):
    """Driver of ``trapezoid_profile_score``: ``{"B": (S,)}``."""
    t = np.array(times, dtype=np.float64)
    return {"B": _answer(fn(t.copy(), float(tau_max), int(points)), "массив баллов", (t.shape[0],))}


#: the lecture's toy table (2 methods × 3 tasks)
_TOY = [[10.0, 40.0, 30.0], [20.0, 20.0, INF]]
#: 3 methods × 4 tasks: a ratio beyond τ_max, a failure, a task nobody solved
_WIDE = [[10.0, 50.0, INF, 8.0], [25.0, 10.0, INF, 8.0], [11.0, 12.0, INF, INF]]
#: 2 methods × 2 tasks × 3 studies × 2 trials
_TRIALS = [[[[30.0, 12.0], [25.0, INF], [18.0, 60.0]], [[INF, INF], [7.0, 9.0], [8.0, NAN]]],
           [[[14.0, 14.0], [INF, 40.0], [20.0, 16.0]], [[5.0, 50.0], [INF, INF], [INF, 6.0]]]]

EXERCISE = Exercise(
    id="11-2-ball-algoperf",
    title="Балл AlgoPerf",
    tasks=[
        Task("median_best_trial", "Внешняя настройка: медиана по исследованиям лучшей попытки",
             {"study": study}, [
                 Check("median_best_trial", "2 метода × 2 задачи × 3 исследования × 2 попытки", "study",
                       dict(trial_times=_TRIALS), rtol=1e-12, atol=0,
                       hint="сначала минимум по попыткам (последняя ось), потом медиана по исследованиям; "
                            "nan — это провал, как inf (np.nan_to_num не годится: он и inf делает конечным)"),
                 Check("median_best_trial", "чётное число исследований", "study",
                       dict(trial_times=[[[[3.0, 9.0], [5.0, 4.0], [INF, 2.0], [7.0, 8.0]]]]), rtol=1e-12, atol=0,
                       hint="медиана чётного числа значений — среднее двух средних"),
             ], forbid=RULES),
        Task("algoperf_score", "Балл AlgoPerf по точной формуле", {"score": score}, [
            Check("algoperf_score", "таблица из лекции, τ_max = 4", "score", dict(times=_TOY, tau_max=4.0),
                  rtol=1e-10, atol=1e-12,
                  hint="B_s = (1/P)·Σ_p (τ_max − r_{s,p})/(τ_max − 1) по задачам с r_{s,p} ≤ τ_max"),
            Check("algoperf_score", "отношение больше τ_max и нерешённая задача", "score",
                  dict(times=_WIDE, tau_max=4.0), rtol=1e-10, atol=1e-12, weight=2,
                  hint="задача с r > τ_max даёт 0, а не отрицательный вклад; делите на все P задач, "
                       "включая нерешённые"),
            Check("algoperf_score", "τ_max = 2", "score", dict(times=_WIDE, tau_max=2.0), rtol=1e-10, atol=1e-12,
                  hint="нормировка — на τ_max − 1, а не на τ_max"),
        ], forbid=RULES),
        Task("trapezoid_profile_score", "Тот же балл методом трапеций", {"trapezoid": trapezoid}, [
            Check("trapezoid_profile_score", "таблица из лекции, 7 точек", "trapezoid",
                  dict(times=_TOY, tau_max=4.0, points=7), rtol=1e-10, atol=1e-12,
                  hint="сетка np.linspace(1, tau_max, points); площадь трапеций делится на τ_max − 1"),
            Check("trapezoid_profile_score", "отношения на узлах сетки", "trapezoid",
                  dict(times=_WIDE, tau_max=4.0, points=13), rtol=1e-10, atol=1e-12,
                  hint="в узле τ = r задача уже засчитана (r ≤ τ); провалы не засчитываются никогда"),
        ], forbid=RULES),
    ],
)
