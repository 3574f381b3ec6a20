"""Exercise 03-1: the update rules of Adagrad, RMSProp, Adam and AdamW, as in ``torch.optim``.

Tasks (the functions the student writes)::

    adagrad_step(x, grad, sum_sq, lr, eps) -> (x_new, sum_sq_new)
    rmsprop_step(x, grad, square_avg, lr, alpha, eps) -> (x_new, square_avg_new)
    adam_step(x, grad, m, v, k, lr, beta1, beta2, eps) -> (x_new, m_new, v_new)
    adamw_step(x, grad, m, v, k, lr, beta1, beta2, eps, weight_decay) -> (x_new, m_new, v_new)

The states are the ``torch.optim`` ones (``sum``, ``square_avg``, ``exp_avg``, ``exp_avg_sq``), started
at zero; ``k`` is the number of the step being made (1, 2, …). The references (in the answer key
``solutions/hidden/03-1-adaptivnye-shagi.py``) load the given state into ``torch.optim.Adagrad`` /
``RMSprop`` / ``Adam`` / ``AdamW`` (default options otherwise: no ``lr_decay``, no momentum, not
centred, no AMSGrad) and make one ``step()``; the trajectory drivers chain such steps, which
reproduces a continuous torch run bit for bit. The task functions may use neither ``torch.optim`` nor
``optviz.optim``.
"""

from __future__ import annotations

import numpy as np

from ...problems import Quadratic
from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array
from ._common import quadratic_grad, race_figure

__all__ = ["EXERCISE", "METHODS", "RULES", "as_tuple"]

#: what the task functions may not use (besides optviz.grading)
RULES = ("torch.optim", "optviz.optim")

#: per task: the state names (the torch keys), the hyperparameters (in call order) and whether the
#: step number ``k`` is an argument (right after the state).
METHODS = {
    "adagrad_step": dict(state=("sum",), counter=False, hyper=("lr", "eps")),
    "rmsprop_step": dict(state=("square_avg",), counter=False, hyper=("lr", "alpha", "eps")),
    "adam_step": dict(state=("exp_avg", "exp_avg_sq"), counter=True, hyper=("lr", "beta1", "beta2", "eps")),
    "adamw_step": dict(state=("exp_avg", "exp_avg_sq"), counter=True,
                       hyper=("lr", "beta1", "beta2", "eps", "weight_decay")),
}
_STATE_RU = {"sum": "sum_sq_new", "square_avg": "square_avg_new", "exp_avg": "m_new", "exp_avg_sq": "v_new"}


def as_tuple(value, n: int, what: str) -> tuple:
    """A tuple of ``n`` values returned by a task function, else :class:`AnswerError`."""
    if not isinstance(value, (tuple, list)) or len(value) != n:
        got = f"кортеж длины {len(value)}" if isinstance(value, (tuple, list)) else f"значение типа {type(value).__name__}"
        raise AnswerError(f"функция должна вернуть кортеж {what}, а вернула {got}")
    return tuple(value)


def _call(task: str, fn, x, grad, states, k, hyper: dict):
    spec = METHODS[task]
    d = np.asarray(x).shape
    args = [np.array(x, dtype=np.float64), np.array(grad, dtype=np.float64),
            *(np.array(s, dtype=np.float64) for s in states)]
    if spec["counter"]:
        args.append(int(k))
    args += [float(hyper[name]) for name in spec["hyper"]]
    names = ("x_new", *(_STATE_RU[s] for s in spec["state"]))
    out = as_tuple(fn(*args), len(names), "(" + ", ".join(names) + ")")
    return [as_float_array(v, name, d) for v, name in zip(out, names)]


def _drivers(task: str):
    spec = METHODS[task]
    keys = ("x", *spec["state"])

    def one_step(fn, *, x, grad, state, k=1, **hyper):
        """Driver: one call from the given state (a list in the order of the task's state); a dict of results."""
        return dict(zip(keys, _call(task, fn, x, grad, state, k, hyper)))

    def quadratic_run(fn, *, matrix, center, x0, steps, **hyper):
        """Driver: ``steps`` steps on ½(x − c)ᵀA(x − c) from a zero state; every row of x and of the state."""
        x = np.array(x0, dtype=np.float64)
        states = [np.zeros_like(x) for _ in spec["state"]]
        rows = {key: [v.copy()] for key, v in zip(keys, [x, *states])}
        for k in range(1, int(steps) + 1):
            x, *states = _call(task, fn, x, quadratic_grad(matrix, center, x), states, k, hyper)
            for key, v in zip(keys, [x, *states]):
                rows[key].append(v.copy())
        return {key: np.array(v) for key, v in rows.items()}

    return {"one_step": one_step, "quadratic_run": quadratic_run}


# -- figures ------------------------------------------------------------------------------------

_FIG = {
    "adagrad_step": ("Adagrad", dict(lr=0.5, eps=1e-10)),
    "rmsprop_step": ("RMSprop", dict(lr=0.05, alpha=0.99, eps=1e-8)),
    "adam_step": ("Adam", dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)),
    "adamw_step": ("AdamW", dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.3)),
}
_FIG_Q = Quadratic(kappa=30, angle_deg=30, center=(1.0, 1.0))
_FIG_STEPS = 80


def _figure(task: str) -> Figure:
    name, hyper = _FIG[task]

    def draw(reference, student):
        shown = ", ".join(f"{k} = {v:g}" for k, v in hyper.items())
        return race_figure(_FIG_Q, reference["x"], student["x"], f"{name} на квадратичной функции κ = 30: {shown}",
                           reference_label=f"эталон: torch.optim.{name}")

    inputs = dict(matrix=_FIG_Q.matrix, center=_FIG_Q.center, x0=_FIG_Q.start, steps=_FIG_STEPS, **hyper)
    return Figure("quadratic_run", inputs, draw)


# -- public checks -------------------------------------------------------------------------------

_A = np.array([[3.0, 1.0], [1.0, 2.0]])
_RUN = dict(matrix=_A, center=[1.0, -1.0], x0=[-1.0, 2.0])

_HYPER = {
    "adagrad_step": dict(lr=0.5, eps=1e-10),
    "rmsprop_step": dict(lr=0.05, alpha=0.9, eps=1e-8),
    "adam_step": dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8),
    "adamw_step": dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1),
}


def _public(task: str, state_hint: str, step_hint: str, run_hint: str) -> list[Check]:
    spec = METHODS[task]
    zero = [[0.0, 0.0, 0.0]] * len(spec["state"])
    filled = [[0.4, 0.1, 2.0], [0.9, 0.05, 4.0]][: len(spec["state"])] if spec["counter"] else [[0.9, 0.05, 4.0]]
    k = dict(k=1) if spec["counter"] else {}
    k_late = dict(k=4) if spec["counter"] else {}
    return [
        Check(task, "первый шаг из нулевого состояния", "one_step",
              dict(x=[1.0, -2.0, 0.5], grad=[0.5, -0.25, 2.0], state=zero, **k, **_HYPER[task]), hint=state_hint),
        Check(task, "шаг из накопленного состояния", "one_step",
              dict(x=[0.3, 0.7, -1.0], grad=[-1.0, 0.2, 1.5], state=filled, **k_late, **_HYPER[task]),
              hint=step_hint),
        Check(task, "20 шагов на квадратичной функции", "quadratic_run", dict(**_RUN, steps=20, **_HYPER[task]),
              steps=True, weight=2, hint=run_hint),
    ]


EXERCISE = Exercise(
    id="03-1-adaptivnye-shagi",
    title="Шаги Adagrad, RMSProp, Adam и AdamW",
    tasks=[
        Task("adagrad_step", "Шаг Adagrad (torch.optim.Adagrad)",
             _drivers("adagrad_step"),
             _public("adagrad_step", "накопитель: s ← s + g², без множителей",
                     "шаг x ← x − lr·g/(√s + ε) делается уже по новому s, ε — снаружи корня",
                     "накопитель только растёт: s ← s + g² на каждом шаге, шаг g/(√s + ε) по новому s"),
             figure=_figure("adagrad_step"), forbid=RULES),
        Task("rmsprop_step", "Шаг RMSProp (torch.optim.RMSprop)",
             _drivers("rmsprop_step"),
             _public("rmsprop_step", "скользящее среднее v ← α·v + (1 − α)·g², без коррекции смещения",
                     "шаг x ← x − lr·g/(√v + ε) по новому v, ε — снаружи корня",
                     "у RMSProp нет ни импульса, ни коррекции смещения: v начинается с нуля"),
             figure=_figure("rmsprop_step"), forbid=RULES),
        Task("adam_step", "Шаг Adam (torch.optim.Adam)", _drivers("adam_step"),
             _public("adam_step", "m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g²; на первом шаге нужна коррекция "
                                  "смещения: делите на 1 − β₁ᵏ и 1 − β₂ᵏ с k = 1",
                     "коррекция смещения использует номер текущего шага k; ε прибавляется к √v̂ после коррекции",
                     "номер шага k растёт с каждым шагом: 1, 2, 3, …"),
             figure=_figure("adam_step"), forbid=RULES),
        Task("adamw_step", "Шаг AdamW (torch.optim.AdamW)", _drivers("adamw_step"),
             _public("adamw_step", "затухание весов не входит в градиент: m и v считаются по g без λx",
                     "затухание x ← x − lr·λ·x применяется к старому x и ни на что не делится",
                     "AdamW ≠ Adam + L2: слагаемое λx не попадает в моменты"),
             figure=_figure("adamw_step"), forbid=RULES),
    ],
)
