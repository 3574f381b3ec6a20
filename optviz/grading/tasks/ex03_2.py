"""Exercise 03-2: AMSGrad and the example of Reddi, Kale & Kumar (2018) where Adam does not converge.

Tasks (the functions the student writes)::

    amsgrad_step(x, grad, m, v, v_max, k, lr, beta1, beta2, eps) -> (x_new, m_new, v_new, v_max_new)
    reddi_run(C, steps, lr, beta1, beta2, amsgrad) -> xs        points x_1..x_T of projected Adam / AMSGrad
    average_regret(grads, xs) -> r                              R_T / T for T = 1..len(xs), linear losses on [−1, 1]
    cycle_drift(C, beta2) -> float                              Adam's (β₁ = 0) displacement per 3-round cycle, in units of α

References (in the answer key ``solutions/hidden/03-2-amsgrad.py``): ``torch.optim.Adam(amsgrad=True)``
with the given state (``max_exp_avg_sq`` = ``v_max``), the lecture's
:func:`optviz.course.lecture_03.reddi_race`, the regret of :class:`optviz.course.lecture_03.ReddiOnline`
generalised to any gradients (the best fixed point of a linear loss is an end of the segment), and a long
``torch.optim.Adam`` run (β₁ = 0, ε = 0) on the periodic gradients C, −1, −1 whose last cycle is
measured. The task functions may use neither ``torch.optim`` / ``optviz.optim`` nor the Reddi helpers of
``optviz.course.lecture_03``.
"""

from __future__ import annotations

import numpy as np

from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array
from .ex03_1 import as_tuple

__all__ = ["EXERCISE", "RULES", "reddi_grads"]

#: what the task functions may not use (besides optviz.grading): the optimizers and the lecture's
#: Reddi example (its race, its regret)
RULES = ("torch.optim", "optviz.optim", "optviz.course.lecture_03")


def reddi_grads(C: float, steps: int) -> np.ndarray:
    """Gradients of Reddi's rounds t = 1..steps: C when t mod 3 = 1, else −1 (as ``ReddiOnline.grad``)."""
    from ...course.lecture_03 import ReddiOnline

    prob = ReddiOnline(float(C))
    return np.array([prob.grad(t) for t in range(1, int(steps) + 1)], dtype=np.float64)


# -- drivers ------------------------------------------------------------------------------------

def one_step(fn, *, x, grad, m, v, v_max, k, lr, beta1, beta2, eps):
    """Driver of ``amsgrad_step``: ``{"x", "m", "v", "v_max"}`` after one call."""
    d = np.asarray(x).shape
    args = [np.array(a, dtype=np.float64) for a in (x, grad, m, v, v_max)]
    out = as_tuple(fn(*args, int(k), float(lr), float(beta1), float(beta2), float(eps)), 4,
                   "(x_new, m_new, v_new, v_max_new)")
    names = ("x_new", "m_new", "v_new", "v_max_new")
    return dict(zip(("x", "m", "v", "v_max"), (as_float_array(a, n, d) for a, n in zip(out, names))))


def online_run(fn, *, C, steps, lr, beta1, beta2, amsgrad):
    """Driver of ``reddi_run``: ``{"x": (steps,)}`` — the points played in rounds 1..steps."""
    xs = fn(float(C), int(steps), float(lr), float(beta1), float(beta2), bool(amsgrad))
    if xs is None:
        raise AnswerError("функция должна вернуть массив точек x_1, …, x_T длины steps, а вернула None")
    return {"x": as_float_array(xs, "массив точек", (int(steps),))}


def adam_and_amsgrad(fn, *, C, steps, lr, beta1, beta2):
    """Figure-only driver of ``reddi_run``: ``{"Adam": (steps,), "AMSGrad": (steps,)}`` — both runs."""
    return {name: online_run(fn, C=C, steps=steps, lr=lr, beta1=beta1, beta2=beta2, amsgrad=ams)["x"]
            for name, ams in (("Adam", False), ("AMSGrad", True))}


def regret(fn, *, grads, xs):
    """Driver of ``average_regret``: ``{"avg": (T,)}``."""
    g = np.array(grads, dtype=np.float64).reshape(-1)
    r = fn(g, np.array(xs, dtype=np.float64).reshape(-1))
    if r is None:
        raise AnswerError("функция должна вернуть массив R_T/T длины T, а вернула None")
    return {"avg": as_float_array(r, "средний регрет", (g.size,))}


def drift(fn, *, C, beta2):
    """Driver of ``cycle_drift``: ``{"drift": Δ}``."""
    d = fn(float(C), float(beta2))
    if d is None:
        raise AnswerError("функция должна вернуть число — снос за цикл, а вернула None")
    return {"drift": as_float_array(d, "снос за цикл", ())}


# -- figure -------------------------------------------------------------------------------------

_FIG_C, _FIG_T, _FIG_LR = 3.0, 600, 0.1


def _reddi_draw(reference, student):
    import plotly.graph_objects as go

    from ...viz._plotly import LAYOUT_DEFAULTS

    C, T, lr = _FIG_C, _FIG_T, _FIG_LR
    fig = go.Figure()
    t = np.arange(1, T + 1)
    for name, color in (("Adam", "#d62728"), ("AMSGrad", "#1f77b4")):
        fig.add_scatter(x=t, y=reference[name], name=f"эталон: {name}", line=dict(color=color, width=4), opacity=0.35)
        fig.add_scatter(x=t, y=student[name], name=f"ваш {name}", line=dict(color=color, width=1.5, dash="dot"))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(height=420, title=f"Пример Редди: C = {C:g}, β₁ = 0, β₂ = 1/(1 + C²), шаг {lr}/√t "
                                        "(оптимум x* = −1)")
    fig.update_xaxes(title_text="раунд t", type="log")
    fig.update_yaxes(title_text="x_t", range=[-1.1, 1.1])
    return fig


_REDDI_FIGURE = Figure("adam_and_amsgrad", dict(C=_FIG_C, steps=_FIG_T, lr=_FIG_LR, beta1=0.0,
                                                beta2=1.0 / (1.0 + _FIG_C * _FIG_C)), _reddi_draw)


# -- public checks -------------------------------------------------------------------------------

EXERCISE = Exercise(
    id="03-2-amsgrad",
    title="AMSGrad и пример Редди",
    tasks=[
        Task("amsgrad_step", "Шаг AMSGrad (torch.optim.Adam(amsgrad=True))",
             {"one_step": one_step}, [
                 Check("amsgrad_step", "первый шаг из нулевого состояния", "one_step",
                       dict(x=[1.0, -0.5], grad=[2.0, 0.1], m=[0.0, 0.0], v=[0.0, 0.0], v_max=[0.0, 0.0], k=1,
                            lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8),
                       hint="на первом шаге v_max = v, и шаг совпадает с шагом Adam: коррекция смещения делит m и v "
                            "на 1 − β₁ и 1 − β₂"),
                 Check("amsgrad_step", "градиент уменьшился: максимум помнит прошлое", "one_step",
                       dict(x=[0.2, 0.4], grad=[0.1, -0.1], m=[0.5, 0.2], v=[0.8, 0.01], v_max=[1.0, 0.02], k=5,
                            lr=0.05, beta1=0.9, beta2=0.99, eps=1e-8),
                       hint="v_max ← max(v_max, v_new) покоординатно, знаменатель √v_max/√(1 − β₂ᵏ) + ε; v хранится "
                            "без коррекции"),
             ], forbid=RULES),
        Task("reddi_run", "Проекционные Adam и AMSGrad на примере Редди",
             {"online_run": online_run, "adam_and_amsgrad": adam_and_amsgrad}, [
                 Check("reddi_run", "AMSGrad, 30 раундов", "online_run",
                       dict(C=3.0, steps=30, lr=0.1, beta1=0.0, beta2=0.1, amsgrad=True), steps=True,
                       hint="первая точка x_1 = 0 — до первого шага; градиент раунда t равен C при t mod 3 = 1, "
                            "иначе −1; шаг α/√t, затем проекция на [−1, 1]"),
                 Check("reddi_run", "Adam, 30 раундов", "online_run",
                       dict(C=3.0, steps=30, lr=0.1, beta1=0.0, beta2=0.1, amsgrad=False), steps=True, weight=2,
                       hint="у Adam в знаменателе текущее v, а не максимум; ε = 1e-8 прибавляется после коррекции"),
             ], figure=_REDDI_FIGURE, forbid=RULES),
        Task("average_regret", "Средний регрет R_T/T", {"regret": regret}, [
            Check("average_regret", "пример Редди, 6 раундов", "regret",
                  dict(grads=[3.0, -1.0, -1.0, 3.0, -1.0, -1.0], xs=[0.0, -0.1, 0.05, 0.2, 0.0, 0.3]), rtol=1e-9,
                  hint="R_T = Σ_{t≤T} g_t x_t − min_{x∈[−1,1]} x·Σ_{t≤T} g_t; делите на T для каждого T"),
            Check("average_regret", "лучшая точка меняется со временем", "regret",
                  dict(grads=[-2.0, 1.0, 1.5, 0.5], xs=[0.5, 1.0, -0.5, 0.0]), rtol=1e-9,
                  hint="лучшая фиксированная точка — конец отрезка со знаком, противоположным Σ g_t; "
                       "она не обязана быть −1"),
        ], forbid=RULES),
        Task("cycle_drift", "Снос Adam за один цикл C, −1, −1", {"drift": drift}, [
            Check("cycle_drift", "C = 3, β₂ = 0.1 (как у Редди)", "drift", dict(C=3.0, beta2=0.1), rtol=1e-7,
                  hint="в установившемся режиме v_t = (1 − β₂)·Σ β₂ʲ g²_{t−j} периодично; Δ = −C/√v₁ + 1/√v₂ + "
                       "1/√v₃, где v₁ — после раунда с градиентом C"),
            Check("cycle_drift", "C = 3, β₂ = 0.9", "drift", dict(C=3.0, beta2=0.9), rtol=1e-7,
                  hint="сумма геометрической прогрессии за бесконечно много циклов даёт множитель 1/(1 − β₂³)"),
        ], forbid=RULES),
    ],
)
