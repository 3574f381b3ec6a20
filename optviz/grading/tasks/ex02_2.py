"""Exercise 02-2: mini-batch SGD, the decreasing step (2k+1)/(2μ(k+1)²) and the noise floor.

Tasks (the functions the student writes)::

    decreasing_step(k, mu, lr0) -> float                 min(α₀, (2k+1)/(2μ(k+1)²)), k = 0, 1, …
    sgd_trajectory(A, y, x0, batches, step_sizes)        SGD iterates on least squares, shape (K+1, d)
    noise_floor_bound(A, y, lr, b) -> float              L σ_b² α/(4μ), σ_b² the batch variance at x*

Least squares :math:`f_i(x) = \\tfrac12 (a_i^\\top x - y_i)^2` as in exercise 02-1 (the same
:class:`~optviz.problems.LeastSquares`). References: the lecture's schedule
:func:`optviz.widgets.sgd.step_schedule`, ``torch.optim.SGD`` driven by autograd mini-batch
gradients, and ``FiniteSum.grad_variance`` / ``mu`` / ``L`` of the course's finite-sum problem.
"""

from __future__ import annotations

import numpy as np
import torch

from ..spec import AnswerError, Check, Exercise, Task, as_float_array
from ._common import race_figure, trace_from_points
from ...problems.finite_sums import LeastSquares

__all__ = ["EXERCISE", "torch_sgd_path"]


# -- references -------------------------------------------------------------------------------

def _ref_decreasing_step(k, mu, lr0):
    from ...widgets.sgd import step_schedule

    return step_schedule("strongly_convex", float(lr0), float(mu))(int(k))


def torch_sgd_path(A, y, x0, batches, step_sizes):
    """``torch.optim.SGD`` on :class:`LeastSquares` with the given batches and per-step ``lr``: ``(K+1, d)``."""
    p = LeastSquares(A, y)
    x = torch.tensor(np.array(x0, dtype=np.float64).reshape(-1))
    opt = torch.optim.SGD([x], lr=1.0)
    out = [x.clone()]
    for batch, lr in zip(np.asarray(batches, dtype=np.int64), np.asarray(step_sizes, dtype=np.float64)):
        x.grad = p.grad(x.detach(), batch)
        opt.param_groups[0]["lr"] = float(lr)
        with torch.no_grad():
            opt.step()
        out.append(x.clone())
    return torch.stack(out).numpy()


def _ref_noise_floor_bound(A, y, lr, b):
    p = LeastSquares(A, y)
    return p.L * p.grad_variance(p.optimum, int(b)) * float(lr) / (4 * p.mu)


# -- drivers ------------------------------------------------------------------------------------

def schedule(fn, *, ks, mu, lr0):
    """Driver of ``decreasing_step``: ``{"alpha": α_k for k in ks}``."""
    vals = []
    for k in ks:
        a = fn(int(k), float(mu), float(lr0))
        if a is None:
            raise AnswerError("функция должна вернуть число — шаг α_k, а вернула None")
        vals.append(as_float_array(a, "шаг α_k", ()))
    return {"alpha": np.array(vals)}


def trajectory(fn, *, A, y, x0, batches, step_sizes):
    """Driver of ``sgd_trajectory``: ``{"x": (K+1, d)}`` (batches passed as an int array ``(K, b)``)."""
    A = np.array(A, dtype=np.float64)
    batches = np.array(batches, dtype=np.int64)
    if batches.ndim == 1:
        batches = batches[:, None]
    steps = np.array(step_sizes, dtype=np.float64).reshape(-1)
    pts = fn(A, np.array(y, dtype=np.float64).reshape(-1), np.array(x0, dtype=np.float64).reshape(-1), batches,
             steps)
    if pts is None:
        raise AnswerError("функция должна вернуть массив точек формы (K + 1, d), а вернула None")
    return {"x": as_float_array(pts, "массив точек", (batches.shape[0] + 1, A.shape[1]))}


def floor(fn, *, A, y, lr, b):
    """Driver of ``noise_floor_bound``: ``{"floor": Lσ_b²α/(4μ)}``."""
    v = fn(np.array(A, dtype=np.float64), np.array(y, dtype=np.float64).reshape(-1), float(lr), int(b))
    if v is None:
        raise AnswerError("функция должна вернуть число — уровень пола шума, а вернула None")
    return {"floor": as_float_array(v, "пол шума", ())}


# -- figure -------------------------------------------------------------------------------------

def _sgd_figure(fn):
    from ...problems import LinearRegression

    lin = LinearRegression()
    K, lr0 = 120, 0.15
    batches = lin.sample_batches(K, 1, 0)
    steps = np.array([_ref_decreasing_step(k, lin.mu, lr0) for k in range(K)])
    ref = trace_from_points(lin, torch_sgd_path(lin.A, lin.y, lin.starts[0], batches, steps), "SGD")
    pts = trajectory(fn, A=lin.A, y=lin.y, x0=lin.starts[0], batches=batches, step_sizes=steps)["x"]
    return race_figure(lin, ref, pts, f"SGD (b = 1) с шагом min(α₀, (2k+1)/(2μ(k+1)²)), α₀ = {lr0}, "
                                      f"на линейной регрессии лекции", reference_label="эталон: torch.optim.SGD")


# -- public checks -------------------------------------------------------------------------------

_A = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0], [-1.0, 1.0], [0.0, 3.0], [1.5, 0.5]])
_Y = np.array([1.0, 0.0, 2.0, -1.0, 0.5, 1.0])
_BATCHES = np.array([[0, 3], [5, 1], [2, 4], [1, 0], [3, 2], [4, 5]])

EXERCISE = Exercise(
    id="02-2-pol-shuma",
    title="Пол шума и убывающий шаг SGD",
    tasks=[
        Task("decreasing_step", "Убывающий шаг (2k+1)/(2μ(k+1)²), ограниченный α₀", _ref_decreasing_step,
             {"schedule": schedule}, [
                 Check("decreasing_step", "μ = 1, α₀ = 10: первые шаги", "schedule",
                       dict(ks=[0, 1, 2, 5, 10], mu=1.0, lr0=10.0), rtol=1e-10,
                       hint="α_k = (2k + 1)/(2μ(k + 1)²); нумерация шагов начинается с k = 0"),
                 Check("decreasing_step", "ограничение сверху α₀", "schedule",
                       dict(ks=[0, 1, 3, 20, 100], mu=0.5, lr0=0.3), rtol=1e-10,
                       hint="шаг не должен превышать α₀: возьмите минимум из α₀ и формулы"),
             ]),
        Task("sgd_trajectory", "Мини-батч SGD на наименьших квадратах", torch_sgd_path,
             {"trajectory": trajectory}, [
                 Check("sgd_trajectory", "один шаг, батч из двух объектов", "trajectory",
                       dict(A=_A, y=_Y, x0=[0.0, 0.0], batches=_BATCHES[:1], step_sizes=[0.1]), steps=True,
                       hint="шаг делается по среднему градиенту батча aᵢ(aᵢᵀx − yᵢ), а не по сумме"),
                 Check("sgd_trajectory", "6 шагов с убывающим шагом", "trajectory",
                       dict(A=_A, y=_Y, x0=[1.0, -1.0], batches=_BATCHES, step_sizes=[0.3, 0.25, 0.2, 0.15, 0.1, 0.05]),
                       steps=True, weight=2,
                       hint="на шаге k используйте k-й батч и k-й шаг; первая строка ответа — x0"),
             ], figure=_sgd_figure),
        Task("noise_floor_bound", "Пол шума Lσ_b²α/(4μ) для батча размера b", _ref_noise_floor_bound,
             {"floor": floor}, [
                 Check("noise_floor_bound", "b = 1", "floor", dict(A=_A, y=_Y, lr=0.1, b=1), rtol=1e-8,
                       hint="μ и L — крайние собственные числа AᵀA/n; σ² = (1/n)Σ‖∇fᵢ(x*)‖² считается в минимуме x*"),
                 Check("noise_floor_bound", "b = 3", "floor", dict(A=_A, y=_Y, lr=0.05, b=3), rtol=1e-8,
                       hint="дисперсия батча без возвращения: σ_b² = σ²·(n − b)/(b(n − 1)), а не σ²/b"),
             ]),
    ],
)
