r"""Exercise 06-1: the (L0, L1) step for a multi-dimensional parameter, the constants of ‖x‖^{2n},
the curvature check and the phase boundary.

Tasks (the functions the student writes)::

    l0l1_step(x, grad, L0, L1) -> x_new             x − g/(L0 + L1‖g‖), one global norm over all entries
    power_constants(n) -> (L0, L1)                  (2n, 2n − 2) for f(x) = ‖x‖^{2n}
    curvature_ratio(points, n, L0, L1) -> float     max over points of ‖∇²f‖₂ / (L0 + L1‖∇f‖), f = ‖x‖^{2n}
    phase_radius(n, L0, L1) -> float                ‖x‖ where ‖∇f(x)‖ = L0/L1 for f = ‖x‖^{2n}

References (in the answer key ``solutions/hidden/06-1-l0l1-shag.py``): ``optviz.optim.L0L1GD`` (the
step), torch autograd Hessians with the spectral norm ``torch.linalg.matrix_norm(ord=2)`` (the ratio),
the weighted AM–GM bound (the constants) and the inverse of ‖∇f‖ = 2n‖x‖^{2n−1} (the radius). The
step may use neither ``torch.optim`` nor ``optviz.optim``; the other tasks may not use
``optviz.course.lecture_06``.
"""

from __future__ import annotations

import numpy as np

from ...problems.base import Problem
from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array, as_pair
from ._common import race_figure

__all__ = ["EXERCISE", "QuarticSum", "STEP_RULES", "LECTURE_RULES", "quartic_sum_run", "one_step"]

#: what the step may not use (besides optviz.grading): the optimizers (L0L1GD, l0l1_step_size)
STEP_RULES = ("torch.optim", "optviz.optim")
#: what the constants, the ratio and the radius may not use: the lecture's examples with their
#: constants, its autograd curvature samples and its phase boundary
LECTURE_RULES = ("optviz.course.lecture_06",)


class QuarticSum(Problem):
    r""":math:`f(x) = \sum_i x_i^4` on the plane: (4, 2)-smooth like x⁴, since
    :math:`\|\nabla^2 f\| = 12\max_i x_i^2 \le 4 + 8\max_i|x_i|^3 \le 4 + 2\|\nabla f\|`."""

    name = "quartic_sum"
    title = "Функция x₁⁴ + x₂⁴"
    formula = r"f(x) = x_1^4 + x_2^4"
    dim = 2
    minimizers = np.zeros((1, 2))
    f_star = 0.0
    window = ((-3.5, 3.5), (-3.5, 3.5))
    starts = np.array([[3.0, -2.0]])

    def _formula(self, x, xp):
        return x[..., 0] ** 4 + x[..., 1] ** 4

    def _grad(self, x, xp):
        return 4 * x**3


# -- drivers ------------------------------------------------------------------------------------

def _step(fn, x, grad, L0, L1):
    shape = np.shape(x)
    out = fn(np.array(x, dtype=np.float64), np.array(grad, dtype=np.float64), float(L0), float(L1))
    if out is None:
        raise AnswerError("функция должна вернуть новую точку x_new, а вернула None")
    return as_float_array(out, "x_new", shape)


def one_step(fn, *, x, grad, L0, L1):
    """Driver of ``l0l1_step``: one call; ``{"x": x_new}``."""
    return {"x": _step(fn, x, grad, L0, L1)}


def quartic_sum_run(fn, *, x0, L0, L1, steps):
    r"""Driver of ``l0l1_step``: ``steps`` steps on :math:`f(x) = \sum x_i^4` (any shape of x, grad 4x³).

    Returns ``{"x": (steps+1, *shape)}`` (row 0: the start)."""
    x = np.array(x0, dtype=np.float64)
    xs = [x.copy()]
    for _k in range(int(steps)):
        x = _step(fn, x, 4 * x**3, L0, L1)
        xs.append(x.copy())
    return {"x": np.array(xs)}


def constants(fn, *, n):
    """Driver of ``power_constants``: ``{"L0": …, "L1": …}``."""
    L0, L1 = as_pair(fn(int(n)), "(L0, L1)")
    return {"L0": as_float_array(L0, "L0", ()), "L1": as_float_array(L1, "L1", ())}


def ratio(fn, *, points, n, L0, L1):
    """Driver of ``curvature_ratio``: ``{"ratio": …}``."""
    out = fn(np.array(points, dtype=np.float64), int(n), float(L0), float(L1))
    if out is None:
        raise AnswerError("функция должна вернуть число — наибольшее отношение, а вернула None")
    return {"ratio": as_float_array(out, "отношение", ())}


def radius(fn, *, n, L0, L1):
    """Driver of ``phase_radius``: ``{"radius": …}``."""
    out = fn(int(n), float(L0), float(L1))
    if out is None:
        raise AnswerError("функция должна вернуть число — радиус границы фаз, а вернула None")
    return {"radius": as_float_array(out, "радиус", ())}


# -- figure -------------------------------------------------------------------------------------

_FIG_Q = QuarticSum()


def _draw(reference, student):
    return race_figure(_FIG_Q, reference["x"], student["x"],
                       "(L₀, L₁)-шаг на x₁⁴ + x₂⁴: L₀ = 4, L₁ = 2, норма градиента общая",
                       reference_label="эталон: optviz.optim.L0L1GD")


_FIGURE = Figure("quartic_sum_run", dict(x0=_FIG_Q.start, L0=4.0, L1=2.0, steps=40), _draw)


_PTS_PUB = np.array([[1.0, 0.0], [0.5, -0.5], [2.0, 1.0], [0.1, 0.2]])

EXERCISE = Exercise(
    id="06-1-l0l1-shag",
    title="(L₀, L₁)-шаг и граница фаз",
    tasks=[
        Task("l0l1_step", "Шаг (L₀, L₁)-градиентного спуска с общей нормой градиента",
             {"one_step": one_step, "quartic_sum_run": quartic_sum_run}, [
                 Check("l0l1_step", "один шаг в ℝ²", "one_step",
                       dict(x=[1.0, -2.0], grad=[3.0, 4.0], L0=4.0, L1=2.0), rtol=1e-9,
                       hint="η = 1/(L0 + L1‖g‖), где ‖g‖ — евклидова норма всего вектора градиента"),
                 Check("l0l1_step", "x⁴ из x₀ = 10: три шага", "quartic_sum_run",
                       dict(x0=[10.0], L0=4.0, L1=2.0, steps=3), steps=True, rtol=1e-9,
                       hint="первые итерации должны быть 9.50025, 9.00054, 8.50088; x ← x − g/(L0 + L1‖g‖)"),
                 Check("l0l1_step", "15 шагов на x₁⁴ + x₂⁴", "quartic_sum_run",
                       dict(x0=[3.0, -2.0], L0=4.0, L1=2.0, steps=15), steps=True, weight=2,
                       hint="норма берётся по всем координатам сразу, а не по каждой отдельно"),
             ], figure=_FIGURE, forbid=STEP_RULES),
        Task("power_constants", "Константы (L₀, L₁) функции ‖x‖²ⁿ",
             {"constants": constants}, [
                 Check("power_constants", "n = 2 (x⁴)", "constants", dict(n=2), rtol=1e-12,
                       hint="для x⁴ в лекции получилось (4, 2)"),
                 Check("power_constants", "n = 3", "constants", dict(n=3), rtol=1e-12,
                       hint="‖∇²f‖ = 2n(2n − 1)‖x‖^(2n−2), ‖∇f‖ = 2n‖x‖^(2n−1); примените неравенство о средних"),
             ], forbid=LECTURE_RULES),
        Task("curvature_ratio", "Наихудшее отношение ‖∇²f‖ / (L₀ + L₁‖∇f‖) для ‖x‖²ⁿ",
             {"ratio": ratio}, [
                 Check("curvature_ratio", "четыре точки плоскости, n = 2, (4, 2)", "ratio",
                       dict(points=_PTS_PUB, n=2, L0=4.0, L1=2.0), rtol=1e-9,
                       hint="при ‖x‖ = 1 отношение равно 1: там неравенство обращается в равенство"),
                 Check("curvature_ratio", "те же точки, n = 3, (6, 4)", "ratio",
                       dict(points=_PTS_PUB, n=3, L0=6.0, L1=4.0), rtol=1e-9,
                       hint="‖∇²f‖ — спектральная норма (наибольшее собственное число), а не норма Фробениуса"),
             ], forbid=LECTURE_RULES),
        Task("phase_radius", "Граница фаз ‖∇f(x)‖ = L₀/L₁ для ‖x‖²ⁿ",
             {"radius": radius}, [
                 Check("phase_radius", "x⁴ с константами (4, 2)", "radius", dict(n=2, L0=4.0, L1=2.0), rtol=1e-10,
                       hint="для x⁴: 4|x|³ = L0/L1, то есть |x| = (L0/(4 L1))^(1/3) ≈ 0.794"),
                 Check("phase_radius", "‖x‖⁶ с константами (6, 4)", "radius", dict(n=3, L0=6.0, L1=4.0),
                       rtol=1e-10, hint="‖∇f‖ = 2n‖x‖^(2n−1)"),
             ], forbid=LECTURE_RULES),
    ],
)
