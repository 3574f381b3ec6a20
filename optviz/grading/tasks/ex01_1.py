"""Exercise 01-1: the heavy-ball (momentum) step and the Nesterov step, as in ``torch.optim.SGD``.

Tasks (the functions the student writes)::

    momentum_step(x, grad, buf, lr, momentum) -> (x_new, buf_new)
    nesterov_step(x, grad, buf, lr, momentum) -> (x_new, buf_new)

``buf`` is the momentum buffer of ``torch.optim.SGD`` (``dampening = 0``), started at zero: a zero
buffer gives exactly torch's first step. The references (in the answer key
``solutions/hidden/01-1-moment-nesterov.py``) run ``torch.optim.SGD`` itself; the task functions
may use neither ``torch.optim`` nor ``optviz.optim``.
"""

from __future__ import annotations

import numpy as np

from ...problems import Quadratic
from ..spec import Check, Exercise, Figure, Task, as_float_array, as_pair
from ._common import quadratic_grad, race_figure

__all__ = ["EXERCISE", "one_step", "quadratic_run", "RULES"]

#: what the task functions may not use (besides optviz.grading)
RULES = ("torch.optim", "optviz.optim")


def _call(step, x, grad, buf, lr, momentum):
    d = np.asarray(x).shape
    out = step(np.array(x, dtype=np.float64), np.array(grad, dtype=np.float64), np.array(buf, dtype=np.float64),
               float(lr), float(momentum))
    x_new, buf_new = as_pair(out, "(x_new, buf_new)")
    return as_float_array(x_new, "x_new", d), as_float_array(buf_new, "buf_new", d)


def one_step(step, *, x, grad, buf, lr, momentum):
    """Driver: one call of ``step``; returns ``{"x": x_new, "buf": buf_new}``."""
    x_new, buf_new = _call(step, x, grad, buf, lr, momentum)
    return {"x": x_new, "buf": buf_new}


def quadratic_run(step, *, matrix, center, x0, lr, momentum, steps):
    """Driver: ``steps`` steps of ``step`` on :math:`\\tfrac12 (x - c)^\\top A (x - c)` from a zero buffer.

    Returns ``{"x": (steps+1, d), "buf": (steps+1, d)}`` (row 0: the start and the zero buffer).
    """
    x = np.array(x0, dtype=np.float64)
    buf = np.zeros_like(x)
    xs, bufs = [x.copy()], [buf.copy()]
    for _ in range(int(steps)):
        x, buf = _call(step, x, quadratic_grad(matrix, center, x), buf, lr, momentum)
        xs.append(x.copy())
        bufs.append(buf.copy())
    return {"x": np.array(xs), "buf": np.array(bufs)}


_DRIVERS = {"one_step": one_step, "quadratic_run": quadratic_run}


_FIG_Q = Quadratic(kappa=30, angle_deg=30)
_FIG_HYPER = dict(lr=0.02, momentum=0.8)


def _figure(nesterov: bool) -> Figure:
    def draw(reference, student):
        name = "Нестерова" if nesterov else "тяжёлого шарика"
        return race_figure(_FIG_Q, reference["x"], student["x"],
                           f"Метод {name} на квадратичной функции κ = 30: lr = {_FIG_HYPER['lr']}, "
                           f"импульс {_FIG_HYPER['momentum']}", reference_label="эталон: torch.optim.SGD")
    inputs = dict(matrix=_FIG_Q.matrix, center=_FIG_Q.center, x0=_FIG_Q.start, steps=40, **_FIG_HYPER)
    return Figure("quadratic_run", inputs, draw)


_A = np.array([[3.0, 1.0], [1.0, 2.0]])


def _public(task: str, hint_buf: str, hint_step: str) -> list[Check]:
    return [
        Check(task, "один шаг из нулевого буфера", "one_step",
              dict(x=[1.0, -2.0], grad=[0.5, 0.25], buf=[0.0, 0.0], lr=0.1, momentum=0.9),
              hint="при нулевом буфере новый буфер равен градиенту: b = g"),
        Check(task, "шаг с накопленным буфером", "one_step",
              dict(x=[0.3, 0.7], grad=[-1.0, 2.0], buf=[0.4, -0.2], lr=0.05, momentum=0.5), hint=hint_buf),
        Check(task, "10 шагов на квадратичной функции", "quadratic_run",
              dict(matrix=_A, center=[1.0, -1.0], x0=[-1.0, 2.0], lr=0.1, momentum=0.7, steps=10),
              steps=True, weight=2, hint=hint_step),
    ]


EXERCISE = Exercise(
    id="01-1-moment-nesterov",
    title="Шаг тяжёлого шарика и Нестерова",
    tasks=[
        Task("momentum_step", "Шаг метода тяжёлого шарика (SGD с импульсом)", _DRIVERS,
             _public("momentum_step", "буфер обновляется как b ← μ·b + g, без множителя (1 − μ)",
                     "шаг делается вдоль нового буфера: x ← x − lr·b"),
             figure=_figure(False), forbid=RULES),
        Task("nesterov_step", "Шаг ускоренного метода Нестерова", _DRIVERS,
             _public("nesterov_step", "сначала обновите буфер b ← μ·b + g, затем заглядывайте вперёд по новому буферу",
                     "направление шага Нестерова — g + μ·b, где b — уже обновлённый буфер"),
             figure=_figure(True), forbid=RULES),
    ],
)
