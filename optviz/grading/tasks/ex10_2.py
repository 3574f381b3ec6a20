"""Exercise 10-2: ALSO's weights over clients — the mirror step, the KL worst case, an absent client
and the fixed point of alternation.

Tasks (the functions the student writes)::

    client_mirror_step(pi, client, loss, pi_lr, pi_decay, prior, eps) -> pi_new
    kl_worst_case_weights(losses, tau, prior) -> pi_star
    absent_client_weight(loss1, steps, pi_lr, pi_decay, prior) -> float     π₂ after `steps` steps of client 1
    alternation_cycle(loss1, loss2, pi_lr, pi_decay, prior) -> (π₂ after 1, π₂ after 2)

References (in the answer key ``solutions/hidden/10-2-vesa-klientov.py``):
:func:`optviz.course.lecture_10.pi_from_losses`, :func:`~optviz.course.lecture_10.kl_worst_case` and
:func:`~optviz.course.lecture_10.alternating_equilibrium`. The task functions may not use the library's
mirror steps and KL worst cases: ``optviz.optim`` (``kl_mirror_step``) and the lectures 08–10.
"""

from __future__ import annotations

import math

import numpy as np

from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array, as_pair

__all__ = ["EXERCISE", "replay", "demo_schedule", "RULES"]

EPS32 = float(np.finfo(np.float32).eps)


#: what the task functions may not use (besides optviz.grading): the library's KL mirror step
#: (``optviz.optim._functional.kl_mirror_step``) and the lectures' mirror steps, worst cases and
#: fixed points (``lecture_08.dro_inner``, ``lecture_09.closed_form_pi``, ``lecture_10``)
RULES = ("optviz.optim", "optviz.course.lecture_08", "optviz.course.lecture_09", "optviz.course.lecture_10")


# -- drivers -----------------------------------------------------------------------------------

def _weights(value, n: int, what: str = "новые веса π") -> np.ndarray:
    if value is None:
        raise AnswerError(f"функция должна вернуть {what} (массив длины {n}), а вернула None")
    return as_float_array(value, what, (n,))


def one_step(fn, *, pi, client, loss, pi_lr, pi_decay, prior, eps):
    """Driver of ``client_mirror_step``: ``{"pi": π_new}``."""
    pi = np.array(pi, dtype=np.float64)
    out = fn(pi.copy(), int(client), float(loss), float(pi_lr), float(pi_decay), np.array(prior, dtype=np.float64),
             float(eps))
    return {"pi": _weights(out, pi.size)}


def replay(fn, *, clients, losses, pi_lr, pi_decay, prior, eps):
    """Driver of ``client_mirror_step``: π₀ = π̂, then one step per (client, mean loss); ``{"pi": (S+1, n)}``."""
    prior = np.array(prior, dtype=np.float64)
    pi = prior.copy()
    path = [pi.copy()]
    for c, ell in zip(np.asarray(clients).reshape(-1), np.asarray(losses, dtype=np.float64).reshape(-1)):
        pi = _weights(fn(pi.copy(), int(c), float(ell), float(pi_lr), float(pi_decay), prior.copy(), float(eps)),
                      prior.size)
        path.append(pi.copy())
    return {"pi": np.array(path)}


def worst_case(fn, *, losses, tau, prior):
    """Driver of ``kl_worst_case_weights``: ``{"pi": π*}``."""
    prior = np.array(prior, dtype=np.float64)
    out = fn(np.array(losses, dtype=np.float64), float(tau), prior.copy())
    return {"pi": _weights(out, prior.size, "веса π*")}


def absent(fn, *, loss1, steps, pi_lr, pi_decay, prior):
    """Driver of ``absent_client_weight``: ``{"pi2": [π₂ after each of `steps`]}``."""
    vals = []
    for k in steps:
        k = float(k) if math.isinf(float(k)) else int(k)
        out = fn(float(loss1), k, float(pi_lr), float(pi_decay), np.array(prior, dtype=np.float64))
        vals.append(as_float_array(out, "π₂", ()))
    return {"pi2": np.array(vals)}


def cycle(fn, *, loss1, loss2, pi_lr, pi_decay, prior):
    """Driver of ``alternation_cycle``: ``{"после шага клиента 1": π₂, "после шага клиента 2": π₂}``."""
    a, b = as_pair(fn(float(loss1), float(loss2), float(pi_lr), float(pi_decay), np.array(prior, dtype=np.float64)),
                   "(π₂ после шага клиента 1, π₂ после шага клиента 2)")
    return {"π₂ после шага клиента 1": as_float_array(a, "π₂ после шага клиента 1", ()),
            "π₂ после шага клиента 2": as_float_array(b, "π₂ после шага клиента 2", ())}


# -- figure ------------------------------------------------------------------------------------

def demo_schedule(steps_alone: int = 18, cycles: int = 60):
    """Clients and mean losses of a small run: client 1 alone, then 1, 2, 1, 2, … with decaying losses."""
    clients = np.r_[np.zeros(steps_alone, dtype=np.int64), np.tile([0, 1], cycles)]
    t = np.arange(clients.size)
    losses = np.where(clients == 0, 0.3 + 0.9 * np.exp(-t / 40), 0.9 + 1.4 * np.exp(-(t - steps_alone) / 60))
    return clients, losses


def _mirror_draw(reference, student):
    import plotly.graph_objects as go

    from ...viz._plotly import LAYOUT_DEFAULTS

    ref = reference["pi"][:, 1]
    mine = student["pi"][:, 1]
    fig = go.Figure()
    fig.add_trace(go.Scatter(y=ref, mode="lines", name="эталон: pi_from_losses (лекция 10)",
                             line=dict(color="#1f77b4", width=4)))
    fig.add_trace(go.Scatter(y=mine, mode="lines", name="ваша реализация", line=dict(color="#ff7f0e", dash="dash")))
    fig.add_vline(x=18.5, line=dict(color="black", dash="dot", width=1))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=dict(text="π₂ по шагам: 18 шагов только клиент 1, затем батчи чередуются "
                                      "(η_π = 0.1, τ = 0.3)"),
                      xaxis=dict(title=dict(text="шаг")), yaxis=dict(title=dict(text="π₂"), range=[0, 1]), height=400)
    return fig


_DEMO_CLIENTS, _DEMO_LOSSES = demo_schedule()
_MIRROR_FIGURE = Figure("replay", dict(clients=_DEMO_CLIENTS, losses=_DEMO_LOSSES, pi_lr=0.1, pi_decay=0.3,
                                       prior=[0.5, 0.5], eps=EPS32), _mirror_draw)


_ALT = np.r_[np.zeros(5, dtype=np.int64), np.tile([0, 1], 8)]
_ALT_LOSS = np.linspace(1.2, 0.5, _ALT.size) + 0.6 * _ALT

EXERCISE = Exercise(
    id="10-2-vesa-klientov",
    title="Веса клиентов по потерям",
    tasks=[
        Task("client_mirror_step", "Зеркальный шаг ALSO по весам клиентов",
             {"one_step": one_step, "replay": replay}, [
                 Check("client_mirror_step", "шаг клиента 1 из равных весов", "one_step",
                       dict(pi=[0.5, 0.5], client=0, loss=0.8, pi_lr=0.1, pi_decay=0.3, prior=[0.5, 0.5], eps=EPS32),
                       rtol=1e-9, hint="сигнал активного клиента h = −n·ℓ̄ (n — число клиентов), у остальных h = 0"),
                 Check("client_mirror_step", "три клиента, неравные априорные веса", "one_step",
                       dict(pi=[0.2, 0.5, 0.3], client=2, loss=1.3, pi_lr=0.05, pi_decay=1.0,
                            prior=[0.5, 0.25, 0.25], eps=EPS32),
                       rtol=1e-9, hint="притяжение к π̂ входит как η_π·τ·log π̂, и всё делится на 1 + η_π·τ"),
                 Check("client_mirror_step", "21 шаг: клиент 1 один, затем чередование", "replay",
                       dict(clients=_ALT, losses=_ALT_LOSS, pi_lr=0.2, pi_decay=0.5, prior=[0.5, 0.5], eps=EPS32),
                       steps=True, weight=2, rtol=1e-9,
                       hint="после шага веса — softmax: неотрицательные, в сумме 1; ε стоит внутри log(π + ε)"),
             ], figure=_MIRROR_FIGURE, forbid=RULES),
        Task("kl_worst_case_weights", "KL-наихудшие веса π* ∝ π̂·exp(L/τ)", {"worst_case": worst_case}, [
            Check("kl_worst_case_weights", "два клиента, равные априорные веса", "worst_case",
                  dict(losses=[0.4, 1.1], tau=0.3, prior=[0.5, 0.5]), rtol=1e-9,
                  hint="π*_c = π̂_c·e^{L_c/τ} / Σ_k π̂_k·e^{L_k/τ}"),
            Check("kl_worst_case_weights", "четыре клиента, неравные априорные веса", "worst_case",
                  dict(losses=[2.0, 0.5, 1.0, 1.5], tau=2.0, prior=[0.1, 0.4, 0.3, 0.2]), rtol=1e-9,
                  hint="априорные веса умножают экспоненты, а не прибавляются к ним"),
        ], forbid=RULES),
        Task("absent_client_weight", "Вес клиента 2, пока он не подключился", {"absent": absent}, [
            Check("absent_client_weight", "после 0, 1, 5 и 40 шагов клиента 1", "absent",
                  dict(loss1=0.7, steps=[0, 1, 5, 40], pi_lr=0.1, pi_decay=0.5, prior=[0.5, 0.5]), rtol=1e-8,
                  hint="d = log(π₂/π₁) за шаг клиента 1: d ↦ r·d + (1 − r)·Δ − 2rη_π·ℓ₁, r = 1/(1 + η_π·τ)"),
            Check("absent_client_weight", "предел бесконечного числа шагов, неравные π̂", "absent",
                  dict(loss1=0.5, steps=[10, math.inf], pi_lr=0.05, pi_decay=1.0, prior=[0.7, 0.3]), rtol=1e-8,
                  hint="в пределе d* = Δ − 2ℓ₁/τ, Δ = log(π̂₂/π̂₁); шаг η_π влияет только на скорость"),
        ], forbid=RULES),
        Task("alternation_cycle", "Неподвижная точка чередования 1, 2, 1, 2, …", {"cycle": cycle}, [
            Check("alternation_cycle", "потери 0.4 и 1.1, равные π̂", "cycle",
                  dict(loss1=0.4, loss2=1.1, pi_lr=0.05, pi_decay=0.3, prior=[0.5, 0.5]), rtol=1e-8,
                  hint="неподвижная точка цикла из двух шагов: примените шаг клиента 1, затем клиента 2, и "
                       "потребуйте вернуться в ту же d"),
            Check("alternation_cycle", "большой шаг, неравные π̂", "cycle",
                  dict(loss1=1.0, loss2=0.6, pi_lr=1.0, pi_decay=0.5, prior=[0.6, 0.4]), rtol=1e-8,
                  hint="не забудьте притяжение к π̂: слагаемое (1 − r)·Δ на каждом шаге"),
        ], forbid=RULES),
    ],
)
