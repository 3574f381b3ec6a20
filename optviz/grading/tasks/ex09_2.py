r"""Exercise 09-2: the mirror step for the group weights π with a prior and a KL weight; its fixed point.

Tasks (the functions the student writes)::

    mirror_step_with_prior(pi, h, pi_lr, tau, prior) -> pi_new
    mirror_fixed_point(h, tau, prior) -> pi_star
    steps_to_fixed_point(pi0, h, pi_lr, tau, prior, tol) -> int

The step is ALSO's :math:`\mathrm{MD}(\pi, h) = \mathrm{softmax}\big((\log\pi + \eta_\pi\tau\log\hat\pi - \eta_\pi h)/(1 + \eta_\pi\tau)\big)`
(ε = 0, temperature 1): the reference is :func:`optviz.optim._functional.kl_mirror_step`. With a fixed
``h`` its fixed point is :math:`\pi^\star \propto \hat\pi e^{-h/\tau}` — the reference is
:func:`optviz.course.lecture_09.closed_form_pi` with the group losses :math:`F = -h`. The centred
log-weights approach those of π* by exactly the factor :math:`1/(1+\eta_\pi\tau)` per step;
``steps_to_fixed_point`` counts the first ``k`` with :math:`\|\pi_k - \pi^\star\|_1 \le` ``tol``.

The references live in the answer key ``solutions/hidden/09-2-zerkalnyi-shag-pi.py``. The task
functions may not use the library's mirror steps and closed forms: ``optviz.optim`` (``kl_mirror_step``,
``ALSO.mirror_step``) and the lectures 08–10 (``softmax_form``, ``dro_inner``, ``closed_form_pi``,
``kl_worst_case``, ``pi_from_losses``).
"""

from __future__ import annotations

import numpy as np

from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array

__all__ = ["EXERCISE", "md_run", "RULES"]

#: the step limit of ``steps_to_fixed_point`` (10⁵, as the exercise says)
MAX_STEPS = 100_000

#: what the task functions may not use (besides optviz.grading): the library's KL mirror step and
#: the closed forms of its fixed point
RULES = ("optviz.optim", "optviz.course.lecture_08", "optviz.course.lecture_09", "optviz.course.lecture_10")


# -- drivers ------------------------------------------------------------------------------------

def _arr(v):
    return np.array(v, dtype=np.float64)


def _pi(out, c, what="pi_new"):
    if out is None:
        raise AnswerError(f"функция должна вернуть вектор весов длины {c}, а вернула None")
    return as_float_array(out, what, (c,))


def md_one(fn, *, pi, h, pi_lr, tau, prior):
    """Driver: one mirror step; ``{"pi": π⁺}``."""
    return {"pi": _pi(fn(_arr(pi), _arr(h), float(pi_lr), float(tau), _arr(prior)), len(pi))}


def md_run(fn, *, pi0, h, pi_lr, tau, prior, steps):
    """Driver: ``steps`` mirror steps with a fixed signal ``h``; ``{"pi": (K+1, c)}``."""
    pi = _arr(pi0)
    out = [pi.copy()]
    for _ in range(int(steps)):
        pi = _pi(fn(pi.copy(), _arr(h), float(pi_lr), float(tau), _arr(prior)), len(pi0))
        out.append(pi.copy())
    return {"pi": np.array(out)}


def md_signals(fn, *, pi0, hs, pi_lr, tau, prior):
    """Driver: one mirror step per row of ``hs`` (a changing signal, as in training); ``{"pi": (K+1, c)}``."""
    pi = _arr(pi0)
    out = [pi.copy()]
    for h in _arr(hs):
        pi = _pi(fn(pi.copy(), h.copy(), float(pi_lr), float(tau), _arr(prior)), len(pi0))
        out.append(pi.copy())
    return {"pi": np.array(out)}


def fixed_point(fn, *, h, tau, prior):
    """Driver of ``mirror_fixed_point``: ``{"pi_star": π*}``."""
    return {"pi_star": _pi(fn(_arr(h), float(tau), _arr(prior)), len(h), "pi_star")}


def count(fn, *, pi0, h, pi_lr, tau, prior, tol):
    """Driver of ``steps_to_fixed_point``: ``{"steps": k}``."""
    k = fn(_arr(pi0), _arr(h), float(pi_lr), float(tau), _arr(prior), float(tol))
    if k is None:
        raise AnswerError("функция должна вернуть целое число шагов, а вернула None")
    k = as_float_array(k, "число шагов", ())
    if not np.isfinite(k) or k != np.round(k):
        raise AnswerError("число шагов должно быть целым")
    return {"steps": k}


def md_paths(fn, *, pi0, h, pi_lrs, tau, prior, steps, settle):
    """Figure driver: ``md_run`` for every step size of ``pi_lrs`` (``{"pi": (len(pi_lrs), K+1, c)}``) and
    where ``settle`` steps with the last step size end (``"limit"``: the fixed point, for a correct step)."""
    paths = [md_run(fn, pi0=pi0, h=h, pi_lr=lr, tau=tau, prior=prior, steps=steps)["pi"] for lr in pi_lrs]
    limit = md_run(fn, pi0=pi0, h=h, pi_lr=pi_lrs[-1], tau=tau, prior=prior, steps=settle)["pi"][-1]
    return {"pi": np.array(paths), "limit": limit}


# -- figure -------------------------------------------------------------------------------------

_TRI = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])

#: the figure: 25 steps with a constant h for two step sizes; π* is where ``settle`` reference steps end
_FIG = dict(pi0=[0.6, 0.3, 0.1], h=[-2.0, -0.5, -1.5], pi_lrs=[0.4, 2.0], tau=0.5, prior=[0.2, 0.3, 0.5], steps=25,
            settle=100)


def _draw(reference, student):
    import plotly.graph_objects as go

    prior, tau = _FIG["prior"], _FIG["tau"]
    star = reference["limit"]                      # the reference steps settle at π*
    fig = go.Figure()
    tri = np.vstack([_TRI, _TRI[:1]])
    fig.add_trace(go.Scatter(x=tri[:, 0], y=tri[:, 1], mode="lines", line=dict(color="#999", width=1),
                             showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=_TRI[:, 0], y=_TRI[:, 1] + np.array([-0.05, -0.05, 0.04]), mode="text",
                             text=["группа 1", "группа 2", "группа 3"], showlegend=False, hoverinfo="skip"))
    styles = (("эталон: kl_mirror_step", "#1f77b4", 4, "lines+markers"), ("ваша реализация", "#ff7f0e", 2, "lines+markers"))
    for i, (pi_lr, dash) in enumerate(zip(_FIG["pi_lrs"], ("solid", "dot"))):
        for value, (label, color, width, mode) in zip((reference, student), styles):
            P = value["pi"][i] @ _TRI
            fig.add_trace(go.Scatter(x=P[:, 0], y=P[:, 1], mode=mode, name=f"{label}, η_π = {pi_lr}",
                                     line=dict(color=color, width=width, dash=dash), marker=dict(size=4)))
    s = star @ _TRI
    fig.add_trace(go.Scatter(x=[s[0]], y=[s[1]], mode="markers", name="π* ∝ π̂·exp(−h/τ)",
                             marker=dict(symbol="star", size=15, color="black")))
    p = np.asarray(prior) @ _TRI
    fig.add_trace(go.Scatter(x=[p[0]], y=[p[1]], mode="markers", name="π̂",
                             marker=dict(symbol="diamond", size=10, color="#2ca02c")))
    fig.update_xaxes(visible=False, range=[-0.05, 1.05])
    fig.update_yaxes(visible=False, range=[-0.1, 0.95], scaleanchor="x", scaleratio=1)
    fig.update_layout(title=f"{_FIG['steps']} зеркальных шагов с постоянным h, τ = {tau}: "
                            "путь π на симплексе трёх групп", height=480, legend=dict(orientation="h", y=-0.05, x=0.0))
    return fig


_FIGURE = Figure("md_paths", _FIG, _draw)


# -- public checks ------------------------------------------------------------------------------

EXERCISE = Exercise(
    id="09-2-zerkalnyi-shag-pi",
    title="Зеркальный шаг по весам групп π",
    tasks=[
        Task("mirror_step_with_prior", "Зеркальный шаг MD(π, h) с априорным π̂ и весом KL τ",
             {"md_one": md_one, "md_run": md_run, "md_signals": md_signals, "md_paths": md_paths}, [
                 Check("mirror_step_with_prior", "без KL-притяжения (τ = 0)", "md_one",
                       dict(pi=[0.5, 0.3, 0.2], h=[-1.0, 0.5, -0.2], pi_lr=0.7, tau=0.0, prior=[1 / 3] * 3), rtol=1e-9,
                       hint="при τ = 0 это мультипликативные веса: π⁺ ∝ π·exp(−η_π h); h спускают, поэтому знак минус"),
                 Check("mirror_step_with_prior", "с притяжением к π̂", "md_one",
                       dict(pi=[0.5, 0.3, 0.2], h=[-1.0, 0.5, -0.2], pi_lr=0.7, tau=0.5, prior=[0.2, 0.3, 0.5]),
                       rtol=1e-9, hint="логиты (log π + η_π τ log π̂ − η_π h) делятся на (1 + η_π τ), затем softmax"),
                 Check("mirror_step_with_prior", "20 шагов с постоянным h", "md_run",
                       dict(pi0=[0.6, 0.3, 0.1], h=[-2.0, -0.5, -1.5], pi_lr=0.4, tau=0.5, prior=[0.2, 0.3, 0.5],
                            steps=20), steps=True, weight=2,
                       hint="каждый шаг начинается с результата предыдущего; веса должны оставаться распределением"),
             ], figure=_FIGURE, forbid=RULES),
        Task("mirror_fixed_point", "Неподвижная точка π* ∝ π̂·exp(−h/τ)", {"fixed_point": fixed_point}, [
                 Check("mirror_fixed_point", "три группы", "fixed_point",
                       dict(h=[-2.0, -0.5, -1.5], tau=0.5, prior=[0.2, 0.3, 0.5]), rtol=1e-9,
                       hint="π* ∝ π̂·exp(−h/τ): в неподвижной точке log π = log π̂ − h/τ + const; не забудьте нормировку"),
                 Check("mirror_fixed_point", "равномерное π̂, большое τ", "fixed_point",
                       dict(h=[-1.0, 1.0, 0.0, 2.0], tau=100.0, prior=[0.25] * 4), rtol=1e-9,
                       hint="при τ → ∞ веса прижимаются к π̂"),
             ], forbid=RULES),
        Task("steps_to_fixed_point", "Число шагов до неподвижной точки", {"count": count}, [
                 Check("steps_to_fixed_point", "η_π = 0.5, τ = 1", "count",
                       dict(pi0=[0.6, 0.3, 0.1], h=[-2.0, -0.5, -1.5], pi_lr=0.5, tau=1.0, prior=[0.2, 0.3, 0.5],
                            tol=1e-8), rtol=0.0, atol=0.5,
                       hint="считайте шаги k = 0, 1, 2, …, пока ‖π_k − π*‖₁ > tol; k = 0, если π₀ уже достаточно близко"),
                 Check("steps_to_fixed_point", "η_π = 0.2, τ = 0.5", "count",
                       dict(pi0=[0.6, 0.3, 0.1], h=[-2.0, -0.5, -1.5], pi_lr=0.2, tau=0.5, prior=[0.2, 0.3, 0.5],
                            tol=1e-6), rtol=0.0, atol=0.5,
                       hint="расстояние — сумма модулей разностей весов (норма L1), π* — из задания 2"),
             ], forbid=RULES),
    ],
)
