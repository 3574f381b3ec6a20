r"""Exercise 06-2: clipped GD and normalised GD next to the (L0, L1) step.

Tasks (the functions the student writes)::

    clipped_step(x, grad, L0, L1) -> x_new        GD with step 1/L0 on g clipped to norm L0/L1
    normalized_step(x, grad, L1) -> x_new         x − g/(L1‖g‖): every step has length 1/L1 (no step at g = 0)
    step_ratios(grad_norms, L0, L1) -> (clip, norm)   η_clip/η and η_norm/η at the given gradient norms

References (in the answer key ``solutions/hidden/06-2-klipping.py``): ``optviz.optim.L0L1GD`` with
``variant="clipped"`` / ``"normalized"`` and ``optviz.optim.l0l1.l0l1_step_size`` (one global norm over
all entries of the parameter). The task functions may use neither ``optviz.optim`` nor
``optviz.course.lecture_06`` (``clipping_ratios``, the lecture's clipped runs); the steps not
``torch.optim`` either, the clipped step not ``torch.nn.utils`` (``clip_grad_norm_``).
"""

from __future__ import annotations

import numpy as np

from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array, as_pair
from ._common import race_figure
from .ex06_1 import QuarticSum

__all__ = ["EXERCISE", "clipped_run", "normalized_run", "RATIO_RULES", "NORMALIZED_RULES", "CLIPPED_RULES"]

#: what the ratios may not use (besides optviz.grading): the library's (L0, L1) step sizes, the lecture's ratios
RATIO_RULES = ("optviz.optim", "optviz.course.lecture_06")
#: what the normalised step may not use: the same and torch's optimizers
NORMALIZED_RULES = ("torch.optim",) + RATIO_RULES
#: what the clipped step may not use: the same and torch's gradient clipping (clip_grad_norm_)
CLIPPED_RULES = NORMALIZED_RULES + ("torch.nn.utils",)


# -- drivers ------------------------------------------------------------------------------------

def _new_point(out, shape):
    if out is None:
        raise AnswerError("функция должна вернуть новую точку x_new, а вернула None")
    return as_float_array(out, "x_new", shape)


def clipped_once(fn, *, x, grad, L0, L1):
    """Driver of ``clipped_step``: one call; ``{"x": x_new}``."""
    out = fn(np.array(x, dtype=np.float64), np.array(grad, dtype=np.float64), float(L0), float(L1))
    return {"x": _new_point(out, np.shape(x))}


def normalized_once(fn, *, x, grad, L1):
    """Driver of ``normalized_step``: one call; ``{"x": x_new}``."""
    out = fn(np.array(x, dtype=np.float64), np.array(grad, dtype=np.float64), float(L1))
    return {"x": _new_point(out, np.shape(x))}


def _quartic_run(step, x0, steps):
    x = np.array(x0, dtype=np.float64)
    xs = [x.copy()]
    for _k in range(int(steps)):
        x = _new_point(step(x, 4 * x**3), x.shape)
        xs.append(x.copy())
    return {"x": np.array(xs)}


def clipped_run(fn, *, x0, L0, L1, steps):
    r"""Driver of ``clipped_step``: ``steps`` steps on :math:`\sum x_i^4`; ``{"x": (steps+1, *shape)}``."""
    return _quartic_run(lambda x, g: fn(x.copy(), g, float(L0), float(L1)), x0, steps)


def normalized_run(fn, *, x0, L1, steps):
    r"""Driver of ``normalized_step``: ``steps`` steps on :math:`\sum x_i^4`; ``{"x": (steps+1, *shape)}``."""
    return _quartic_run(lambda x, g: fn(x.copy(), g, float(L1)), x0, steps)


def ratios(fn, *, grad_norms, L0, L1):
    """Driver of ``step_ratios``: ``{"clip": (m,), "norm": (m,)}``."""
    m = len(grad_norms)
    clip, norm = as_pair(fn(np.array(grad_norms, dtype=np.float64), float(L0), float(L1)), "(clip, norm)")
    return {"clip": as_float_array(clip, "clip", (m,)), "norm": as_float_array(norm, "norm", (m,))}


# -- figures ------------------------------------------------------------------------------------

_FIG_Q = QuarticSum()
_FIG_STEPS = 40


def _figure(variant) -> Figure:
    if variant == "clipped":
        driver, inputs = "clipped_run", dict(x0=_FIG_Q.start, L0=4.0, L1=2.0, steps=_FIG_STEPS)
        title = "GD с отсечением градиента на x₁⁴ + x₂⁴: шаг 1/L₀, порог L₀/L₁ (L₀ = 4, L₁ = 2)"
    else:
        driver, inputs = "normalized_run", dict(x0=_FIG_Q.start, L1=2.0, steps=_FIG_STEPS)
        title = "Нормализованный GD на x₁⁴ + x₂⁴: длина каждого шага 1/L₁ = 0.5"

    def draw(reference, student):
        return race_figure(_FIG_Q, reference["x"], student["x"], title,
                           reference_label=f"эталон: L0L1GD(variant='{variant}')")
    return Figure(driver, inputs, draw)


EXERCISE = Exercise(
    id="06-2-klipping",
    title="Отсечение градиента и нормализованный спуск",
    tasks=[
        Task("clipped_step", "Шаг GD с отсечением градиента по норме",
             {"clipped_once": clipped_once, "clipped_run": clipped_run}, [
                 Check("clipped_step", "большой градиент: отсечение срабатывает", "clipped_once",
                       dict(x=[1.0, 2.0], grad=[6.0, 8.0], L0=4.0, L1=2.0), rtol=1e-9,
                       hint="порог c = L0/L1; если ‖g‖ > c, градиент уменьшают до нормы c, направление не меняется"),
                 Check("clipped_step", "маленький градиент: обычный шаг 1/L0", "clipped_once",
                       dict(x=[1.0, 2.0], grad=[0.3, -0.4], L0=4.0, L1=2.0), rtol=1e-9,
                       hint="при ‖g‖ ≤ L0/L1 градиент не меняется, шаг равен 1/L0"),
                 Check("clipped_step", "20 шагов на x₁⁴ + x₂⁴", "clipped_run",
                       dict(x0=[3.0, -2.0], L0=4.0, L1=2.0, steps=20), steps=True, weight=2,
                       hint="отсекается весь вектор по его норме, а не каждая координата по отдельности"),
             ], figure=_figure("clipped"), forbid=CLIPPED_RULES),
        Task("normalized_step", "Шаг нормализованного градиентного спуска",
             {"normalized_once": normalized_once, "normalized_run": normalized_run}, [
                 Check("normalized_step", "один шаг в ℝ²", "normalized_once",
                       dict(x=[1.0, 2.0], grad=[6.0, 8.0], L1=2.0), rtol=1e-9,
                       hint="x ← x − g/(L1‖g‖): длина шага ровно 1/L1"),
                 Check("normalized_step", "15 шагов на x₁⁴ + x₂⁴", "normalized_run",
                       dict(x0=[3.0, -2.0], L1=2.0, steps=15), steps=True, weight=2,
                       hint="направление — g/‖g‖ с нормой всего вектора, длина шага 1/L1 не зависит от ‖g‖"),
             ], figure=_figure("normalized"), forbid=NORMALIZED_RULES),
        Task("step_ratios", "Во сколько раз шаги с отсечением и нормализованный больше (L₀, L₁)-шага",
             {"ratios": ratios}, [
                 Check("step_ratios", "три нормы градиента, (4, 2)", "ratios",
                       dict(grad_norms=[0.5, 2.0, 8.0], L0=4.0, L1=2.0), rtol=1e-9,
                       hint="η = 1/(L0 + L1‖g‖), η_clip = min(1/L0, 1/(L1‖g‖)), η_norm = 1/(L1‖g‖)"),
                 Check("step_ratios", "большие нормы, (1, 1)", "ratios",
                       dict(grad_norms=[10.0, 100.0, 1000.0], L0=1.0, L1=1.0), rtol=1e-9,
                       hint="при ‖g‖ ≫ L0/L1 оба отношения стремятся к 1"),
             ], forbid=RATIO_RULES),
    ],
)
