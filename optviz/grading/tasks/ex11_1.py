"""Exercise 11-1: performance ratios and performance profiles (Dolan & Moré) from a time-to-target table.

Tasks (the functions the student writes)::

    ratio_table(times) -> (S, P)               r = t / min over methods; inf for a failure / an unsolved task
    profile_values(times, taus) -> (S, T)      ρ_s(τ) for every τ of taus (τ = inf allowed)
    tau_for_share(times, share) -> (S,)        the smallest τ with ρ_s(τ) ≥ share (inf if never)

``times[s, p]`` — time to target of method ``s`` on task ``p``; ``inf`` or ``nan`` — never reached.
References (in the answer key ``solutions/hidden/11-1-profil-proizvoditelnosti.py``):
:mod:`optviz.experiments.profiles` (``performance_ratios``, ``performance_profile``,
``profile_breakpoints``). The task functions may use neither ``optviz.experiments.profiles`` nor
``optviz.course.lecture_11`` (which draws its profiles with it).
"""

from __future__ import annotations

import numpy as np

from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array

__all__ = ["EXERCISE", "LECTURE_TOY", "DEMO", "RULES"]

INF = float("inf")
NAN = float("nan")

#: the lecture's toy table (2 methods × 3 tasks)
LECTURE_TOY = [[10.0, 40.0, 30.0], [20.0, 20.0, INF]]


#: what the task functions may not use (besides optviz.grading): the library's profiles
RULES = ("optviz.experiments.profiles", "optviz.course.lecture_11")


# -- drivers -----------------------------------------------------------------------------------

def _table(times) -> np.ndarray:
    return np.array(times, dtype=np.float64)


def _answer(out, what: str, shape: tuple) -> np.ndarray:
    if out is None:
        raise AnswerError(f"функция должна вернуть {what} формы {shape}, а вернула None")
    return as_float_array(out, what, shape)


def ratios(fn, *, times):
    """Driver of ``ratio_table``: ``{"r": (S, P)}``."""
    t = _table(times)
    return {"r": _answer(fn(t.copy()), "таблица отношений r", t.shape)}


def profile(fn, *, times, taus):
    """Driver of ``profile_values``: ``{"ρ": (S, len(taus))}``."""
    t = _table(times)
    taus = np.array(taus, dtype=np.float64).reshape(-1)
    return {"ρ": _answer(fn(t.copy(), taus.copy()), "массив ρ", (t.shape[0], taus.size))}


def share(fn, *, times, share):
    """Driver of ``tau_for_share``: ``{"τ": (S,)}``."""
    t = _table(times)
    return {"τ": _answer(fn(t.copy(), float(share)), "массив τ", (t.shape[0],))}


# -- figure ------------------------------------------------------------------------------------

#: a demo table for the figure: 4 methods × 8 tasks with failures, a tie and a task nobody solved
DEMO = [[12.0, 40.0, 7.0, INF, 55.0, 30.0, 9.0, INF],
        [10.0, 90.0, 7.0, 25.0, INF, 31.0, 20.0, INF],
        [30.0, 35.0, 14.0, 60.0, 50.0, INF, 11.0, INF],
        [15.0, INF, 21.0, 22.0, 48.0, 95.0, NAN, INF]]


_FIG_TAUS = np.linspace(1.0, 6.0, 501)


def _profile_draw(reference, student):
    import plotly.graph_objects as go

    from ...viz._plotly import LAYOUT_DEFAULTS
    from ...viz._style import PALETTE

    taus = _FIG_TAUS
    ref = reference["ρ"]
    mine = student["ρ"]
    fig = go.Figure()
    for i in range(ref.shape[0]):
        c = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=taus, y=ref[i], mode="lines", name=f"эталон: метод {i + 1}",
                                 line=dict(color=c, width=5), opacity=0.35))
        fig.add_trace(go.Scatter(x=taus, y=mine[i], mode="lines", name=f"ваш профиль: метод {i + 1}",
                                 line=dict(color=c, width=2, dash="dash")))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=dict(text="Профили производительности: 4 метода × 8 задач (широкие — эталон, "
                                      "штриховые — ваши)"),
                      xaxis=dict(title=dict(text="τ — во сколько раз медленнее лучшего")),
                      yaxis=dict(title=dict(text="ρ(τ) — доля задач"), range=[-0.02, 1.02]), height=450)
    return fig


_PROFILE_FIGURE = Figure("profile", dict(times=DEMO, taus=_FIG_TAUS), _profile_draw)


_TIE = [[5.0, 8.0, INF, 3.0], [5.0, 4.0, INF, 6.0], [10.0, INF, INF, 3.0]]

EXERCISE = Exercise(
    id="11-1-profil-proizvoditelnosti",
    title="Профиль производительности по таблице результатов",
    tasks=[
        Task("ratio_table", "Отношения производительности r = t / min t", {"ratios": ratios}, [
            Check("ratio_table", "таблица из лекции: 2 метода × 3 задачи", "ratios", dict(times=LECTURE_TOY),
                  rtol=1e-12, atol=0, hint="каждый столбец (задачу) делите на лучшее время в этом столбце"),
            Check("ratio_table", "ничья и задача, которую никто не решил", "ratios", dict(times=_TIE),
                  rtol=1e-12, atol=0,
                  hint="если задачу никто не решил, отношение у всех inf (а не nan от inf/inf)"),
            Check("ratio_table", "nan означает провал", "ratios", dict(times=[[NAN, 2.0], [4.0, 3.0]]),
                  rtol=1e-12, atol=0, hint="nan в таблице времён — цель не достигнута: это inf, а не «нет данных»"),
        ], forbid=RULES),
        Task("profile_values", "Профиль ρ_s(τ)", {"profile": profile}, [
            Check("profile_values", "таблица из лекции, τ = 1, 2, 3", "profile",
                  dict(times=LECTURE_TOY, taus=[1.0, 2.0, 3.0]), rtol=1e-12, atol=1e-15,
                  hint="ρ_s(τ) — доля задач с r ≤ τ; нестрогое неравенство: при τ = r задача уже засчитана"),
            Check("profile_values", "ничья, провалы и τ = ∞", "profile",
                  dict(times=_TIE, taus=[1.0, 1.5, 2.0, INF]), rtol=1e-12, atol=1e-15, weight=2,
                  hint="провал не засчитывается даже при τ = ∞: ρ_s(∞) — доля решённых задач, а inf ≤ inf истинно"),
        ], figure=_PROFILE_FIGURE, forbid=RULES),
        Task("tau_for_share", "Во сколько раз медленнее лучшего метод решает заданную долю задач",
             {"share": share}, [
                 Check("tau_for_share", "таблица из лекции, половина задач", "share",
                       dict(times=LECTURE_TOY, share=0.5), rtol=1e-12, atol=0,
                       hint="наименьшее τ, при котором ρ_s(τ) ≥ доли; профиль прыгает только в точках τ = r_{s,p}"),
                 Check("tau_for_share", "три четверти задач: кому-то недостижимо", "share",
                       dict(times=_TIE, share=0.75), rtol=1e-12, atol=0,
                       hint="если метод решил меньше задач, чем требуется, ответ — inf"),
             ], forbid=RULES),
    ],
)
