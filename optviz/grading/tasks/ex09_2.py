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
"""

from __future__ import annotations

import numpy as np
import torch

from ..spec import AnswerError, Check, Exercise, Task, as_float_array

__all__ = ["EXERCISE", "md_run"]

MAX_STEPS = 100_000


def _t(v) -> torch.Tensor:
    return torch.tensor(np.asarray(v, dtype=np.float64))


# -- references -------------------------------------------------------------------------------

def _ref_mirror_step_with_prior(pi, h, pi_lr, tau, prior):
    from ...optim._functional import kl_mirror_step

    return kl_mirror_step(_t(pi), _t(h), pi_lr, decay=tau, prior=_t(prior)).numpy()


def _ref_mirror_fixed_point(h, tau, prior):
    from ...course.lecture_09 import closed_form_pi

    return closed_form_pi(-np.asarray(h, dtype=np.float64), tau, prior)


def _ref_steps_to_fixed_point(pi0, h, pi_lr, tau, prior, tol):
    star = _ref_mirror_fixed_point(h, tau, prior)
    pi = np.asarray(pi0, dtype=np.float64)
    for k in range(MAX_STEPS):
        if np.abs(pi - star).sum() <= tol:
            return k
        pi = _ref_mirror_step_with_prior(pi, h, pi_lr, tau, prior)
    return MAX_STEPS


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


# -- figure -------------------------------------------------------------------------------------

_TRI = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])


def _figure(fn):
    import plotly.graph_objects as go

    pi0, h, prior, tau = [0.6, 0.3, 0.1], [-2.0, -0.5, -1.5], [0.2, 0.3, 0.5], 0.5
    star = _ref_mirror_fixed_point(h, tau, prior)
    fig = go.Figure()
    tri = np.vstack([_TRI, _TRI[:1]])
    fig.add_trace(go.Scatter(x=tri[:, 0], y=tri[:, 1], mode="lines", line=dict(color="#999", width=1),
                             showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=_TRI[:, 0], y=_TRI[:, 1] + np.array([-0.05, -0.05, 0.04]), mode="text",
                             text=["группа 1", "группа 2", "группа 3"], showlegend=False, hoverinfo="skip"))
    styles = (("эталон: kl_mirror_step", "#1f77b4", 4, "lines+markers"), ("ваша реализация", "#ff7f0e", 2, "lines+markers"))
    for pi_lr, dash in ((0.4, "solid"), (2.0, "dot")):
        for fn_, (label, color, width, mode) in zip((_ref_mirror_step_with_prior, fn), styles):
            P = md_run(fn_, pi0=pi0, h=h, pi_lr=pi_lr, tau=tau, prior=prior, steps=25)["pi"] @ _TRI
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
    fig.update_layout(title=f"25 зеркальных шагов с постоянным h, τ = {tau}: путь π на симплексе трёх групп",
                      height=480, legend=dict(orientation="h", y=-0.05, x=0.0))
    return fig


# -- public checks ------------------------------------------------------------------------------

EXERCISE = Exercise(
    id="09-2-zerkalnyi-shag-pi",
    title="Зеркальный шаг по весам групп π",
    tasks=[
        Task("mirror_step_with_prior", "Зеркальный шаг MD(π, h) с априорным π̂ и весом KL τ",
             _ref_mirror_step_with_prior, {"md_one": md_one, "md_run": md_run, "md_signals": md_signals}, [
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
             ], figure=_figure),
        Task("mirror_fixed_point", "Неподвижная точка π* ∝ π̂·exp(−h/τ)", _ref_mirror_fixed_point,
             {"fixed_point": fixed_point}, [
                 Check("mirror_fixed_point", "три группы", "fixed_point",
                       dict(h=[-2.0, -0.5, -1.5], tau=0.5, prior=[0.2, 0.3, 0.5]), rtol=1e-9,
                       hint="π* ∝ π̂·exp(−h/τ): в неподвижной точке log π = log π̂ − h/τ + const; не забудьте нормировку"),
                 Check("mirror_fixed_point", "равномерное π̂, большое τ", "fixed_point",
                       dict(h=[-1.0, 1.0, 0.0, 2.0], tau=100.0, prior=[0.25] * 4), rtol=1e-9,
                       hint="при τ → ∞ веса прижимаются к π̂"),
             ]),
        Task("steps_to_fixed_point", "Число шагов до неподвижной точки", _ref_steps_to_fixed_point,
             {"count": count}, [
                 Check("steps_to_fixed_point", "η_π = 0.5, τ = 1", "count",
                       dict(pi0=[0.6, 0.3, 0.1], h=[-2.0, -0.5, -1.5], pi_lr=0.5, tau=1.0, prior=[0.2, 0.3, 0.5],
                            tol=1e-8), rtol=0.0, atol=0.5,
                       hint="считайте шаги k = 0, 1, 2, …, пока ‖π_k − π*‖₁ > tol; k = 0, если π₀ уже достаточно близко"),
                 Check("steps_to_fixed_point", "η_π = 0.2, τ = 0.5", "count",
                       dict(pi0=[0.6, 0.3, 0.1], h=[-2.0, -0.5, -1.5], pi_lr=0.2, tau=0.5, prior=[0.2, 0.3, 0.5],
                            tol=1e-6), rtol=0.0, atol=0.5,
                       hint="расстояние — сумма модулей разностей весов (норма L1), π* — из задания 2"),
             ]),
    ],
)
