r"""Exercise 09-1: one full ALSO iteration (the authors' reference semantics), checked against ``optviz.optim.ALSO``.

Tasks (the functions the student writes)::

    adam_half_step(g, m, v, k, lr, beta1, beta2, eps) -> (delta, m_new, v_new)
    also_iteration(state, oracle, groups, hp) -> new_state

``adam_half_step`` is ALSO's ``AdamStep``: with the counter ``k`` already advanced (k ≥ 1),
:math:`m \leftarrow \beta_1 m + (1-\beta_1)g`, :math:`v \leftarrow \beta_2 v + (1-\beta_2)g^2`,
:math:`\delta = -\eta\,\frac{\sqrt{1-\beta_2^k}}{1-\beta_1^k}\,\frac{m}{\sqrt v + \varepsilon}`. Its reference
is :meth:`ALSO._adam_step <optviz.optim.ALSO._adam_step>` itself.

``state`` is a dict ``theta`` (d,), ``pi`` (c,) — the base point :math:`(\theta_t, \pi_t)`; ``G_prev`` (d,)
and ``h_prev`` (c,) — :math:`G_{t-1/2}, h_{t-1/2}` (``None`` on the first iteration); ``m``, ``v`` (d,) and
``k`` — the one Adam state both half-steps share. ``oracle(theta) -> (losses (n,), grads (n, d))`` gives
the per-sample losses and their gradients; ``groups`` (n,) the group ids; ``hp`` the hyperparameters
``lr, beta1, beta2, eps, weight_decay, pi_lr, tau, alpha, prior, scale``. The iteration:

1. if ``G_prev`` is not None: :math:`\theta_{t+1/2} = \theta_t + \mathrm{AdamStep}(\alpha G_{t-1/2} + \lambda\theta_t)`,
   :math:`\pi_{t+1/2} = \mathrm{MD}(\pi_t, h_{t-1/2})`; else :math:`(\theta_t, \pi_t)`;
2. one oracle call at :math:`\theta_{t+1/2}`: :math:`G = \sum_i \pi_{t+1/2}[g_i]\, s\, \nabla\ell_i`,
   :math:`h_g = -s\sum_{i\in g}\ell_i`;
3. :math:`\theta_{t+1} = \theta_t + \mathrm{AdamStep}(G + \lambda\theta_t)` (from the base point);
4. :math:`\pi_{t+1} = \mathrm{MD}(\pi_t, h)`.

The references (in the answer key ``solutions/hidden/09-1-odna-iteratsiya-also.py``) run these four
steps with the pieces of :class:`optviz.optim.ALSO` (its ``_adam_step``, ``weighted_loss`` signal and
``mirror_step``); the solution notebook checks the student's iterates against the class's own
``step()`` (``base_point()`` and ``opt.pi``). The task functions may use neither ``torch.optim``,
``optviz.optim`` nor ``optviz.course.lecture_09`` (its line-by-line ALSO); ``also_iteration`` may
call the mirror step :func:`optviz.optim._functional.kl_mirror_step` that the notebook hands out.
"""

from __future__ import annotations

import numpy as np
import torch

from ...problems import Quadratic
from ...problems.dro_toy import DROToy
from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array
from ._common import race_figure, trace_from_points

__all__ = ["EXERCISE", "quadratic_oracle", "also_run", "adam_quadratic", "toy_inputs", "HP_KEYS", "RULES",
           "ALLOW"]

HP_KEYS = ("lr", "beta1", "beta2", "eps", "weight_decay", "pi_lr", "tau", "alpha", "prior", "scale")
STATE_KEYS = ("theta", "pi", "G_prev", "h_prev", "m", "v", "k")

#: what the task functions may not use (besides optviz.grading): the optimizers (ALSO and its
#: ``_adam_step``, torch's Adam) and the lecture's line-by-line ALSO
RULES = ("torch.optim", "optviz.optim", "optviz.course.lecture_09")
#: the mirror step the notebook hands to the student (its first cell, ``md_step``)
ALLOW = ("optviz.optim._functional.kl_mirror_step",)


# -- the oracle of the checks: quadratic per-sample losses --------------------------------------

def quadratic_oracle(centers, curvatures, groups):
    r"""``oracle(θ) -> (ℓ, ∇ℓ)`` for :math:`\ell_i(\theta) = \tfrac12(\theta - c_i)^\top A_{g_i}(\theta - c_i)` (NumPy)."""
    C = np.array(centers, dtype=np.float64)
    A = np.array(curvatures, dtype=np.float64)[np.asarray(groups, dtype=np.int64)]

    def oracle(theta):
        d = np.asarray(theta, dtype=np.float64)[None, :] - C
        grads = np.einsum("ijk,ik->ij", A, d)
        return 0.5 * np.einsum("ij,ij->i", d, grads), grads

    return oracle


# -- drivers ------------------------------------------------------------------------------------

def adam_one(fn, *, g, m, v, k, lr, beta1, beta2, eps):
    """Driver: one ``adam_half_step``; ``{"delta", "m", "v"}``."""
    d = np.shape(g)
    out = fn(np.array(g, dtype=np.float64), np.array(m, dtype=np.float64), np.array(v, dtype=np.float64), int(k),
             float(lr), float(beta1), float(beta2), float(eps))
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise AnswerError("функция должна вернуть тройку (delta, m_new, v_new), "
                          f"а вернула значение типа {type(out).__name__}")
    return {"delta": as_float_array(out[0], "delta", d), "m": as_float_array(out[1], "m_new", d),
            "v": as_float_array(out[2], "v_new", d)}


def adam_quadratic(fn, *, matrix, center, x0, lr, beta1, beta2, eps, steps):
    """Driver: ``steps`` Adam steps ``x ← x + δ`` on :math:`\\tfrac12(x-c)^\\top A(x-c)` with k = 1, 2, …"""
    A, c = np.array(matrix, dtype=np.float64), np.array(center, dtype=np.float64)
    x = np.array(x0, dtype=np.float64)
    m, v = np.zeros_like(x), np.zeros_like(x)
    xs = [x.copy()]
    for k in range(1, int(steps) + 1):
        r = adam_one(fn, g=A @ (x - c), m=m, v=v, k=k, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        x, m, v = x + r["delta"], r["m"], r["v"]
        xs.append(x.copy())
    return {"x": np.array(xs)}


def _hp(hp) -> dict:
    out = {k: float(hp[k]) for k in HP_KEYS if k != "prior"}
    prior = np.array(hp["prior"], dtype=np.float64)
    out["prior"] = prior / prior.sum()
    return out


def _call_iteration(fn, state, oracle, groups, hp, d, c):
    arg = {k: (None if state[k] is None else (int(state[k]) if k == "k" else np.array(state[k], dtype=np.float64)))
           for k in STATE_KEYS}
    out = fn(arg, oracle, groups.copy(), dict(hp, prior=hp["prior"].copy()))
    if not isinstance(out, dict):
        raise AnswerError(f"функция должна вернуть словарь состояния, а вернула значение типа {type(out).__name__}")
    missing = [k for k in STATE_KEYS if k not in out]
    if missing:
        raise AnswerError(f"в возвращённом словаре нет ключей: {', '.join(missing)}")
    shapes = dict(theta=(d,), pi=(c,), G_prev=(d,), h_prev=(c,), m=(d,), v=(d,))
    new = {k: as_float_array(out[k], k, shapes[k]) for k in shapes}
    new["k"] = as_float_array(out["k"], "k", ())
    if new["k"] != round(float(new["k"])):
        raise AnswerError("счётчик k должен быть целым числом")
    new["k"] = int(round(float(new["k"])))
    return new


def also_one(fn, *, theta, pi, G_prev, h_prev, m, v, k, centers, curvatures, groups, hp):
    """Driver: one ALSO iteration from the given state; returns the whole new state."""
    groups = np.array(groups).astype(np.int64)
    hp = _hp(hp)
    state = dict(theta=theta, pi=pi, G_prev=G_prev, h_prev=h_prev, m=m, v=v, k=int(k))
    new = _call_iteration(fn, state, quadratic_oracle(centers, curvatures, groups), groups, hp,
                          len(theta), len(hp["prior"]))
    new["k"] = float(new["k"])
    return new


def also_run(fn, *, centers, curvatures, groups, theta0, hp, steps):
    """Driver: ``steps`` ALSO iterations from ``θ₀``, ``π₀ = π̂``; ``{"theta": (T+1, d), "pi": (T+1, c), "k"}``."""
    groups = np.array(groups).astype(np.int64)
    hp = _hp(hp)
    oracle = quadratic_oracle(centers, curvatures, groups)
    d, c = len(theta0), len(hp["prior"])
    state = dict(theta=np.array(theta0, dtype=np.float64), pi=hp["prior"].copy(), G_prev=None, h_prev=None,
                 m=np.zeros(d), v=np.zeros(d), k=0)
    thetas, pis = [state["theta"].copy()], [state["pi"].copy()]
    for _ in range(int(steps)):
        state = _call_iteration(fn, state, oracle, groups, hp, d, c)
        thetas.append(state["theta"].copy())
        pis.append(state["pi"].copy())
    return {"theta": np.array(thetas), "pi": np.array(pis), "k": float(state["k"])}


# -- the toy of the lecture as inputs of the drivers ---------------------------------------------

def toy_inputs(problem=None, prior: str = "inverse_frequency", **hp) -> dict:
    """Driver inputs (``centers``, ``curvatures``, ``groups``, ``theta0``, ``hp``) for a :class:`DROToy`."""
    p = problem if problem is not None else DROToy()
    full = dict(lr=0.05, beta1=0.9, beta2=0.999, eps=float(torch.finfo(torch.float32).eps), weight_decay=1e-3,
                pi_lr=0.5, tau=0.5, alpha=1.0, prior=p.prior(prior), scale=p.n_groups / p.n_samples)
    full.update(hp)
    return dict(centers=p.points, curvatures=p.CURVATURES, groups=p.group_ids, theta0=np.asarray(p.start, float),
                hp=full)


# -- figures ------------------------------------------------------------------------------------

_ADAM_Q = Quadratic(kappa=20, angle_deg=30)


def _adam_draw(reference, student):
    return race_figure(_ADAM_Q, trace_from_points(_ADAM_Q, reference["x"], "Adam"), student["x"],
                       "Шаги AdamStep на квадратичной функции κ = 20: η = 0.3, β = (0.9, 0.999)",
                       reference_label="эталон: AdamStep из optviz.optim.ALSO")


_ADAM_FIGURE = Figure("adam_quadratic", dict(matrix=_ADAM_Q.matrix, center=_ADAM_Q.center, x0=_ADAM_Q.start,
                                             lr=0.3, beta1=0.9, beta2=0.999, eps=0.0, steps=60), _adam_draw)

_TOY = DROToy()
_TOY_STEPS = 60


def _also_draw(reference, student):
    return race_figure(_TOY, trace_from_points(_TOY, reference["theta"], "ALSO"), student["theta"],
                       f"ALSO на игрушке DROToy: {_TOY_STEPS} итераций, η = 0.05, η_π = 0.5, τ = 0.5, π̂ ∝ 1/размер",
                       reference_label="эталон: optviz.optim.ALSO (base_point)")


_ALSO_FIGURE = Figure("also_run", dict(steps=_TOY_STEPS, **toy_inputs(_TOY)), _also_draw)


# -- public checks ------------------------------------------------------------------------------

_SMALL = dict(centers=[[-1.0, 0.5], [-1.4, 0.2], [-0.8, 0.9], [1.5, 1.0], [2.0, 1.4]],
              curvatures=[[[1.0, 0.0], [0.0, 0.5]], [[0.8, 0.3], [0.3, 0.6]]], groups=[0, 0, 0, 1, 1])
_HP = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, pi_lr=0.5, tau=0.2, alpha=1.0,
           prior=[0.4, 0.6], scale=0.4)

EXERCISE = Exercise(
    id="09-1-odna-iteratsiya-also",
    title="Одна итерация ALSO",
    tasks=[
        Task("adam_half_step", "Полушаг Adam в форме ALSO (AdamStep)",
             {"adam_one": adam_one, "adam_quadratic": adam_quadratic}, [
                 Check("adam_half_step", "первый шаг из нулевых моментов", "adam_one",
                       dict(g=[0.5, -2.0, 1.0], m=[0.0] * 3, v=[0.0] * 3, k=1, lr=0.1, beta1=0.9, beta2=0.999,
                            eps=1e-8), rtol=1e-10,
                       hint="при k = 1 с поправкой смещения шаг ≈ −η·sign(g); поправка — множитель √(1−β₂ᵏ)/(1−β₁ᵏ)"),
                 Check("adam_half_step", "шаг с накопленными моментами, k = 5", "adam_one",
                       dict(g=[0.3, -0.1], m=[0.2, 0.05], v=[0.04, 0.01], k=5, lr=0.01, beta1=0.9, beta2=0.99,
                            eps=1e-3), rtol=1e-10,
                       hint="ε прибавляется к √v до поправки смещения: δ = −η·√(1−β₂ᵏ)/(1−β₁ᵏ)·m/(√v + ε)"),
                 Check("adam_half_step", "40 шагов на квадратичной функции", "adam_quadratic",
                       dict(matrix=[[3.0, 1.0], [1.0, 2.0]], center=[1.0, -1.0], x0=[-1.0, 2.0], lr=0.1, beta1=0.9,
                            beta2=0.999, eps=1e-8, steps=40), steps=True, weight=2,
                       hint="моменты: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²; верните новые m и v"),
             ], figure=_ADAM_FIGURE, forbid=RULES),
        Task("also_iteration", "Полная итерация ALSO", {"also_one": also_one, "also_run": also_run}, [
            Check("also_iteration", "первая итерация (без экстраполяции)", "also_one",
                  dict(theta=[0.0, 0.0], pi=[0.4, 0.6], G_prev=None, h_prev=None, m=[0.0, 0.0], v=[0.0, 0.0], k=0,
                       hp=_HP, **_SMALL), rtol=1e-10, atol=1e-12,
                  hint="на первой итерации G_prev = None: оракул вызывается в самой базовой точке, "
                       "а счётчик Adam растёт на 1"),
            Check("also_iteration", "итерация с экстраполяцией", "also_one",
                  dict(theta=[0.3, 0.4], pi=[0.45, 0.55], G_prev=[0.8, -0.6], h_prev=[-1.2, -0.9],
                       m=[0.05, -0.04], v=[0.001, 0.0008], k=3, hp=_HP, **_SMALL), rtol=1e-10, atol=1e-12,
                  hint="шаг Adam делается из базовой точки θ_t с градиентом из экстраполированной θ½, "
                       "а π_{t+1} = MD(π_t, h) — тоже из базовой π_t"),
            Check("also_iteration", "10 итераций", "also_run",
                  dict(theta0=[0.0, -0.5], steps=10, hp=_HP, **_SMALL), steps=True, weight=2, rtol=1e-9, atol=1e-12,
                  hint="одно состояние Adam на оба полушага: после T итераций k = 2T − 1"),
        ], figure=_ALSO_FIGURE, forbid=RULES, allow=ALLOW),
    ],
)
