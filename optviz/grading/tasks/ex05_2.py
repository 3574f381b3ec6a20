"""Exercise 05-2: double descent — the minimum-norm solution, gradient descent from zero, the test curve.

Tasks (the functions the student writes)::

    min_norm_fit_svd(x, y, degree) -> c (degree+1,)      min-norm least squares in the Legendre basis via SVD
    gd_from_zero(A, y, lr, steps) -> (steps+1, p)        GD on ½‖Ac − y‖² from c = 0
    test_error_curve(n_train, max_degree, noise, n_seeds) -> (max_degree,)
        median test MSE of the min-norm fit for degrees 1 … max_degree (the lecture's protocol)

References (in the answer key ``solutions/hidden/05-2-dvoinoi-spusk.py``):
:func:`optviz.course.lecture_05.min_norm_fit` (``numpy.linalg.lstsq``), ``torch.optim.SGD`` and
:func:`optviz.course.lecture_05.double_descent`. The fit and the curve may not use
``optviz.course.lecture_05``, the descent neither ``torch.optim`` nor ``optviz.optim``.
"""

from __future__ import annotations

import numpy as np

from ...problems.base import Problem
from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array
from ._common import race_figure

__all__ = ["EXERCISE", "OneEquation", "LECTURE_RULES", "GD_RULES", "curve", "fit", "gd_path"]

#: what the fit and the curve may not use (besides optviz.grading): the lecture's min_norm_fit,
#: legendre_features, target_function and double_descent
LECTURE_RULES = ("optviz.course.lecture_05",)
#: what gradient descent may not use: the optimizers
GD_RULES = ("torch.optim", "optviz.optim")


# -- drivers ------------------------------------------------------------------------------------

def fit(fn, *, x, y, degree):
    """Driver of ``min_norm_fit_svd``: ``{"c": coefficients}``."""
    out = fn(np.array(x, dtype=np.float64), np.array(y, dtype=np.float64), int(degree))
    if out is None:
        raise AnswerError("функция должна вернуть массив коэффициентов, а вернула None")
    return {"c": as_float_array(out, "коэффициенты", (int(degree) + 1,))}


def gd_path(fn, *, A, y, lr, steps):
    """Driver of ``gd_from_zero``: ``{"c": (steps+1, p)}``."""
    A = np.array(A, dtype=np.float64)
    out = fn(A.copy(), np.array(y, dtype=np.float64), float(lr), int(steps))
    if out is None:
        raise AnswerError("функция должна вернуть массив точек формы (steps + 1, p), а вернула None")
    return {"c": as_float_array(out, "массив точек", (int(steps) + 1, A.shape[1]))}


def curve(fn, *, n_train, max_degree, noise, n_seeds):
    """Driver of ``test_error_curve``: ``{"test_mse": (max_degree,)}``."""
    out = fn(int(n_train), int(max_degree), float(noise), int(n_seeds))
    if out is None:
        raise AnswerError("функция должна вернуть массив ошибок, а вернула None")
    return {"test_mse": as_float_array(out, "массив ошибок", (int(max_degree),))}


# -- figure -------------------------------------------------------------------------------------

class OneEquation(Problem):
    """½(a·c − b)² on the plane: one data point, two coefficients, a whole line of minimisers."""

    name = "one_equation"
    dim = 2

    def __init__(self, a=(1.0, 2.0), b=2.0):
        self.a = np.asarray(a, dtype=np.float64)
        self.b = float(b)
        self.minimizers = (self.a * self.b / float(self.a @ self.a))[None, :]  # the minimum-norm solution
        self.f_star = 0.0
        self.starts = np.zeros((1, 2))
        self.window = ((-1.0, 2.0), (-1.0, 2.0))
        self.title = "одно уравнение a·c = b: прямая решений"
        self.formula = r"f(c) = \tfrac12 (a^\top c - b)^2"

    def _formula(self, x, xp):
        r = float(self.a[0]) * x[..., 0] + float(self.a[1]) * x[..., 1] - self.b
        return 0.5 * r * r


_FIG_Q = OneEquation()


def _draw_gd(reference, student):
    return race_figure(_FIG_Q, reference["c"], student["c"], "GD из нуля на одном уравнении с двумя неизвестными: "
                       "приходит в решение с минимальной нормой (звезда)", reference_label="эталон: torch.optim.SGD")


_GD_FIGURE = Figure("gd_path", dict(A=_FIG_Q.a[None, :], y=[_FIG_Q.b], lr=0.08, steps=25), _draw_gd)


# -- the exercise -------------------------------------------------------------------------------

_X6 = [-0.9, -0.5, -0.1, 0.2, 0.6, 0.95]
_Y6 = [0.3, -1.0, 0.2, 1.1, 0.4, -0.2]
_A24 = [[1.0, 0.5, -0.2, 0.0], [0.0, 1.0, 0.3, -0.4]]

EXERCISE = Exercise(
    id="05-2-dvoinoi-spusk",
    title="Двойной спуск и решение с минимальной нормой",
    tasks=[
        Task("min_norm_fit_svd", "Решение с минимальной нормой через SVD", {"fit": fit}, [
            Check("min_norm_fit_svd", "6 точек, степень 3 (обычный МНК)", "fit", dict(x=_X6, y=_Y6, degree=3),
                  rtol=1e-8, atol=1e-10, hint="признаки — многочлены Лежандра P₀ … P_d (legendre.legvander)"),
            Check("min_norm_fit_svd", "6 точек, степень 5 (порог интерполяции)", "fit", dict(x=_X6, y=_Y6, degree=5),
                  rtol=1e-7, atol=1e-9, hint="c = V·diag(1/s)·Uᵀy по экономному SVD матрицы признаков"),
            Check("min_norm_fit_svd", "6 точек, степень 12 (коэффициентов больше, чем точек)", "fit",
                  dict(x=_X6, y=_Y6, degree=12), rtol=1e-7, atol=1e-10,
                  hint="используйте экономное SVD (full_matrices=False): решение с минимальной нормой, а не любое"),
        ], forbid=LECTURE_RULES),
        Task("gd_from_zero", "Градиентный спуск из нуля на недоопределённой задаче",
             {"gd_path": gd_path}, [
                 Check("gd_from_zero", "одно уравнение, два неизвестных, 5 шагов", "gd_path",
                       dict(A=[[1.0, 2.0]], y=[2.0], lr=0.1, steps=5), steps=True, rtol=1e-9,
                       hint="градиент ½‖Ac − y‖² равен Aᵀ(Ac − y); первая строка — нулевой вектор"),
                 Check("gd_from_zero", "два уравнения, четыре неизвестных, 30 шагов", "gd_path",
                       dict(A=_A24, y=[1.0, -0.5], lr=0.3, steps=30), steps=True, weight=2, rtol=1e-8,
                       hint="c_{k+1} = c_k − lr·Aᵀ(A c_k − y), старт c₀ = 0"),
             ], figure=_GD_FIGURE, forbid=GD_RULES),
        Task("test_error_curve", "Кривая тестовой ошибки двойного спуска", {"curve": curve}, [
            Check("test_error_curve", "n = 8, степени 1…15, 3 выборки", "curve",
                  dict(n_train=8, max_degree=15, noise=0.1, n_seeds=3), rtol=1e-6, atol=1e-12,
                  hint="выборка s: rng = np.random.default_rng(s); сначала x = rng.uniform(−1, 1, n), затем шум "
                       "noise·rng.standard_normal(n)"),
            Check("test_error_curve", "n = 12, степени 1…30, 5 выборок", "curve",
                  dict(n_train=12, max_degree=30, noise=0.2, n_seeds=5), rtol=1e-6, atol=1e-12,
                  hint="тестовая ошибка — среднее (p(x) − f(x))² по 1000 равномерным точкам np.linspace(−1, 1, 1000) "
                       "без шума; затем медиана по выборкам"),
        ], forbid=LECTURE_RULES),
    ],
)
