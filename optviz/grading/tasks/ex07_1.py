r"""Exercise 07-1: the O'Donoghue–Candès restart criteria and Nesterov's method with restarts.

Tasks (the functions the student writes)::

    function_scheme(f_x, f_x_prev) -> bool                  restart iff f(x_k) > f(x_{k−1})
    gradient_scheme(grad_y_prev, x, x_prev) -> bool         restart iff ∇f(y_{k−1})ᵀ(x_k − x_{k−1}) > 0
    nesterov_restarts(A, x_star, x0, lr, steps, scheme)     x-iterates (steps+1, d) on ½(x−x*)ᵀA(x−x*)

Nesterov's method is the lecture's textbook form with :math:`\beta_j = (j-1)/(j+2)`, j counted from
the last restart::

    y_k = x_k + β_j (x_k − x_{k−1});  x_{k+1} = y_k − lr·∇f(y_k);  j ← j + 1
    restart after the step (criterion true): j ← 1, so the next step has β = 0, y = x.

The method of the drivers and of the figures (:func:`nesterov_textbook`) runs ``torch.optim.SGD`` in its
heavy-ball form on x with the gradient taken at y (``x_k − x_{k−1} = −lr·buffer``), the momentum
``optviz.optim.nesterov_momentum(j)``. The references (in the answer key
``solutions/hidden/07-1-kriterii-restarta.py``) decide through ``optviz.optim.FunctionScheme`` /
``GradientScheme`` and run :func:`nesterov_textbook` with them; the criteria may not use
``optviz.optim``, the method may use neither ``torch.optim``, ``optviz.optim`` nor the restart runs of
``optviz.widgets.restarts``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...optim.restarts import nesterov_momentum
from ...problems import Quadratic
from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array
from ._common import race_figure

__all__ = ["EXERCISE", "nesterov_textbook", "as_bool", "quadratic_value", "SCHEMES", "CRITERION_RULES",
           "METHOD_RULES"]

SCHEMES = ("none", "function", "gradient")

#: what the criteria may not use (besides optviz.grading): the library's restart criteria
CRITERION_RULES = ("optviz.optim",)
#: what the method may not use: torch's and the library's optimizers, the library's restart runs
METHOD_RULES = ("torch.optim", "optviz.optim", "optviz.widgets.restarts")


def quadratic_value(A, x_star, x) -> float:
    """:math:`\\tfrac12 (x - x^*)^\\top A (x - x^*)`."""
    d = np.asarray(x, dtype=np.float64) - np.asarray(x_star, dtype=np.float64)
    return float(0.5 * d @ (np.asarray(A, dtype=np.float64) @ d))


def nesterov_textbook(A, x_star, x0, lr, steps, decide):
    r"""Nesterov's method (textbook form, :math:`\beta_j = (j-1)/(j+2)`) with restarts on a quadratic.

    ``decide(f_new, f_old, grad_y, x_new, x_old) -> bool`` is asked after every step; True restarts
    (j ← 1). Returns ``(points (steps+1, d), flags (steps+1,))`` with ``flags[k] = 1`` when a restart
    followed step k. Built on ``torch.optim.SGD`` (heavy-ball form on x, gradient at y).
    """
    A_t = torch.tensor(np.asarray(A, dtype=np.float64))
    c = torch.tensor(np.asarray(x_star, dtype=np.float64))
    p = torch.tensor(np.asarray(x0, dtype=np.float64))
    buf = torch.zeros_like(p)                    # x_k − x_{k−1} = −lr·buf
    j = 1
    points, flags = [p.numpy().copy()], [0.0]
    for _k in range(int(steps)):
        beta = nesterov_momentum(j)
        y = p - float(lr) * beta * buf
        g = A_t @ (y - c)
        x_old = p.numpy().copy()
        opt = torch.optim.SGD([p], lr=float(lr), momentum=beta)
        if beta > 0:
            opt.state[p]["momentum_buffer"] = buf.clone()
        p.grad = g.clone()
        with torch.no_grad():
            opt.step()
        buf = opt.state[p]["momentum_buffer"].clone() if beta > 0 else g.clone()
        j += 1
        x_new = p.numpy().copy()
        fired = bool(decide(quadratic_value(A, x_star, x_new), quadratic_value(A, x_star, x_old),
                            g.numpy().copy(), x_new, x_old))
        if fired:
            j = 1
        points.append(x_new)
        flags.append(1.0 if fired else 0.0)
    return np.array(points), np.array(flags)


def _decider(scheme, function_scheme, gradient_scheme):
    """``decide(f_new, f_old, grad_y, x_new, x_old)`` asking the criterion of ``scheme``."""
    rules = {
        "function": lambda f_new, f_old, g, x_new, x_old: function_scheme(f_new, f_old),
        "gradient": lambda f_new, f_old, g, x_new, x_old: gradient_scheme(g, x_new, x_old),
    }
    return rules.get(scheme, lambda *args: False)


# -- drivers ------------------------------------------------------------------------------------

def as_bool(value, what: str = "ответ") -> bool:
    """``True``/``False`` (also NumPy booleans and 0-d boolean arrays), else :class:`AnswerError`."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype == bool:
        return bool(value)
    if isinstance(value, torch.Tensor) and value.dtype == torch.bool and value.numel() == 1:
        return bool(value.item())
    raise AnswerError(f"{what} должен быть True или False, получено значение типа {type(value).__name__}")


def function_once(fn, *, f_x, f_x_prev):
    """Driver of ``function_scheme``: ``{"restart": bool}``."""
    return {"restart": as_bool(fn(float(f_x), float(f_x_prev)), "ответ критерия")}


def gradient_once(fn, *, grad_y_prev, x, x_prev):
    """Driver of ``gradient_scheme``: ``{"restart": bool}``."""
    out = fn(np.array(grad_y_prev, dtype=np.float64), np.array(x, dtype=np.float64),
             np.array(x_prev, dtype=np.float64))
    return {"restart": as_bool(out, "ответ критерия")}


def _criterion_run(scheme, fn, A, x_star, x0, lr, steps):
    def student(*args):
        return as_bool(fn(*args), "ответ критерия")

    decide = _decider(scheme, student, student)
    pts, flags = nesterov_textbook(A, x_star, x0, lr, steps, decide)
    return {"x": pts, "restarts": flags}


def function_run(fn, *, A, x_star, x0, lr, steps):
    """Driver of ``function_scheme``: the method of the course with this criterion;
    ``{"x": (steps+1, d), "restarts": (steps+1,)}``."""
    return _criterion_run("function", fn, A, x_star, x0, lr, steps)


def gradient_run(fn, *, A, x_star, x0, lr, steps):
    """Driver of ``gradient_scheme``: as :func:`function_run` with the gradient scheme."""
    return _criterion_run("gradient", fn, A, x_star, x0, lr, steps)


def restart_run(fn, *, A, x_star, x0, lr, steps, scheme):
    """Driver of ``nesterov_restarts``: ``{"x": (steps+1, d)}``."""
    d = len(x0)
    pts = fn(np.array(A, dtype=np.float64), np.array(x_star, dtype=np.float64), np.array(x0, dtype=np.float64),
             float(lr), int(steps), str(scheme))
    if pts is None:
        raise AnswerError("функция должна вернуть массив точек формы (steps + 1, d), а вернула None")
    return {"x": as_float_array(pts, "массив точек", (int(steps) + 1, d))}


# -- figures ------------------------------------------------------------------------------------

_KAPPA_FIG, _STEPS_FIG = 100.0, 250
_LABEL = {"function": "функциональная схема", "gradient": "градиентная схема"}
_FIG_Q = Quadratic(kappa=_KAPPA_FIG, angle_deg=30)
_FIG_RUN = dict(A=_FIG_Q.matrix, x_star=_FIG_Q.center, x0=_FIG_Q.start, lr=1 / _FIG_Q.L, steps=_STEPS_FIG)


def _draw(scheme):
    def draw(reference, student):
        return race_figure(_FIG_Q, reference["x"], student["x"],
                           f"Нестеров с рестартами ({_LABEL[scheme]}) на квадратичной функции κ = {_KAPPA_FIG:g}",
                           reference_label="эталон: FunctionScheme / GradientScheme из optviz")
    return draw


def _criterion_figure(scheme) -> Figure:
    return Figure(f"{scheme}_run", dict(_FIG_RUN), _draw(scheme))


def _method_figure() -> Figure:
    return Figure("restart_run", dict(_FIG_RUN, scheme="gradient"), _draw("gradient"))


def _rot(deg: float) -> np.ndarray:
    t = math.radians(deg)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


_A_PUB = _rot(30) @ np.diag([1.0, 50.0]) @ _rot(30).T
_RUN_PUB = dict(A=_A_PUB, x_star=[1.0, -1.0], x0=[-2.0, 1.0], lr=1 / 50.0, steps=60)

EXERCISE = Exercise(
    id="07-1-kriterii-restarta",
    title="Критерии рестарта О'Донохью–Кандеса",
    tasks=[
        Task("function_scheme", "Функциональная схема рестарта",
             {"function_once": function_once, "function_run": function_run}, [
                 Check("function_scheme", "значение выросло", "function_once", dict(f_x=2.0, f_x_prev=1.5),
                       hint="рестарт нужен, когда f(x_k) > f(x_{k−1})"),
                 Check("function_scheme", "значение убыло", "function_once", dict(f_x=0.3, f_x_prev=0.7),
                       hint="пока функция убывает, рестарт не нужен"),
                 Check("function_scheme", "60 шагов Нестерова с вашим критерием, κ = 50", "function_run",
                       _RUN_PUB, steps=True, weight=2,
                       hint="критерий должен срабатывать ровно тогда, когда значение функции выросло"),
             ], figure=_criterion_figure("function"), forbid=CRITERION_RULES),
        Task("gradient_scheme", "Градиентная схема рестарта",
             {"gradient_once": gradient_once, "gradient_run": gradient_run}, [
                 Check("gradient_scheme", "шаг вверх по склону", "gradient_once",
                       dict(grad_y_prev=[1.0, 0.0], x=[0.5, 0.2], x_prev=[0.0, 0.0]),
                       hint="рестарт, если ∇f(y_{k−1})ᵀ(x_k − x_{k−1}) > 0"),
                 Check("gradient_scheme", "шаг вниз по склону", "gradient_once",
                       dict(grad_y_prev=[1.0, -2.0], x=[0.0, 0.5], x_prev=[0.3, 0.1]),
                       hint="разность берётся как x_k − x_{k−1} (новая точка минус старая)"),
                 Check("gradient_scheme", "60 шагов Нестерова с вашим критерием, κ = 50", "gradient_run",
                       _RUN_PUB, steps=True, weight=2,
                       hint="знак скалярного произведения градиента в y и последнего шага решает всё"),
             ], figure=_criterion_figure("gradient"), forbid=CRITERION_RULES),
        Task("nesterov_restarts", "Метод Нестерова с адаптивным рестартом",
             {"restart_run": restart_run}, [
                 Check("nesterov_restarts", "без рестартов, 40 шагов", "restart_run",
                       dict(_RUN_PUB, steps=40, scheme="none"), steps=True,
                       hint="β_j = (j − 1)/(j + 2) с j = 1 на первом шаге: первый шаг — обычный градиентный"),
                 Check("nesterov_restarts", "функциональная схема, 60 шагов", "restart_run",
                       dict(_RUN_PUB, scheme="function"), steps=True, weight=2,
                       hint="после рестарта счётчик j снова 1: следующий шаг идёт без импульса, y = x"),
                 Check("nesterov_restarts", "градиентная схема, 60 шагов", "restart_run",
                       dict(_RUN_PUB, scheme="gradient"), steps=True, weight=2,
                       hint="в градиентной схеме нужен градиент в точке y, где он и вычислялся"),
             ], figure=_method_figure(), forbid=METHOD_RULES),
    ],
)
