"""Exercise 02-1: the mini-batch gradient of least squares and the variance of its error.

Tasks (the functions the student writes)::

    minibatch_gradient(A, y, x, batch) -> g             mean of ∇f_i(x) over the batch, shape (d,)
    batch_error_variance(A, y, x, b) -> float           E‖e‖² of a uniform batch of b samples without replacement
    all_batches_error(A, y, x, b, replace) -> (mean, mean_sq)
                                                        the same two moments by enumerating every batch

The problem is least squares :math:`f_i(x) = \\tfrac12 (a_i^\\top x - y_i)^2`, :math:`f = \\frac1n\\sum_i f_i`,
given by the rows ``a_i`` of ``A`` and the targets ``y``. The references (in the answer key
``solutions/hidden/02-1-minibatch-dispersiya.py``) go through the course's
:class:`optviz.problems.finite_sums.FiniteSum` machinery (:class:`optviz.problems.LeastSquares`): autograd for the
mini-batch gradient and ``grad_variance`` for :math:`\\mathbb E\\|e\\|^2`. The task functions may use
neither ``optviz.problems`` nor the batch-noise helpers of ``optviz.course.lecture_02``.
"""

from __future__ import annotations

import numpy as np

from ..spec import AnswerError, Check, Exercise, Task, as_float_array, as_pair

__all__ = ["EXERCISE", "RULES"]

#: what the task functions may not use (besides optviz.grading): the finite sums' gradients and
#: grad_variance, and the lecture's batch-noise measurements built on them
RULES = ("optviz.problems", "optviz.course.lecture_02")


# -- drivers ------------------------------------------------------------------------------------

def _data(A, y, x):
    A = np.array(A, dtype=np.float64)
    return A, np.array(y, dtype=np.float64).reshape(-1), np.array(x, dtype=np.float64).reshape(-1)


def batch_gradient(fn, *, A, y, x, batch):
    """Driver of ``minibatch_gradient``: ``{"g": (d,)}``; ``batch`` is passed as an int array."""
    A, y, x = _data(A, y, x)
    g = fn(A, y, x, np.array(batch, dtype=np.int64).reshape(-1))
    if g is None:
        raise AnswerError("функция должна вернуть вектор градиента длины d, а вернула None")
    return {"g": as_float_array(g, "градиент", (A.shape[1],))}


def error_variance(fn, *, A, y, x, b):
    """Driver of ``batch_error_variance``: ``{"var": E‖e‖²}``."""
    A, y, x = _data(A, y, x)
    v = fn(A, y, x, int(b))
    if v is None:
        raise AnswerError("функция должна вернуть число E‖e‖², а вернула None")
    return {"var": as_float_array(v, "E‖e‖²", ())}


def enumeration(fn, *, A, y, x, b, replace):
    """Driver of ``all_batches_error``: ``{"mean": (d,), "mean_sq": E‖e‖²}``."""
    A, y, x = _data(A, y, x)
    mean, mean_sq = as_pair(fn(A, y, x, int(b), bool(replace)), "(mean_error, mean_sq)")
    return {"mean": as_float_array(mean, "средняя ошибка", (A.shape[1],)),
            "mean_sq": as_float_array(mean_sq, "средний квадрат ошибки", ())}


# -- public checks -------------------------------------------------------------------------------

_A = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0], [-1.0, 1.0], [0.0, 3.0]])
_Y = np.array([1.0, 0.0, 2.0, -1.0, 0.5])
_X = np.array([0.3, -0.2])

EXERCISE = Exercise(
    id="02-1-minibatch-dispersiya",
    title="Мини-батч градиент и его дисперсия",
    tasks=[
        Task("minibatch_gradient", "Мини-батч градиент наименьших квадратов",
             {"batch_gradient": batch_gradient}, [
                 Check("minibatch_gradient", "батч из двух объектов", "batch_gradient",
                       dict(A=_A, y=_Y, x=_X, batch=[0, 3]), rtol=1e-9,
                       hint="∇fᵢ(x) = aᵢ·(aᵢᵀx − yᵢ); градиент батча — среднее по его объектам, а не сумма"),
                 Check("minibatch_gradient", "батч из одного объекта", "batch_gradient",
                       dict(A=_A, y=_Y, x=_X, batch=[2]), rtol=1e-9,
                       hint="для одного объекта это просто aᵢ·(aᵢᵀx − yᵢ)"),
                 Check("minibatch_gradient", "батч — вся выборка (полный градиент)", "batch_gradient",
                       dict(A=_A, y=_Y, x=_X, batch=[4, 1, 0, 3, 2]), rtol=1e-9,
                       hint="при b = n получается полный градиент Aᵀ(Ax − y)/n"),
             ], forbid=RULES),
        Task("batch_error_variance", "Дисперсия ошибки мини-батч градиента (формула)",
             {"error_variance": error_variance}, [
                 Check("batch_error_variance", "n = 5, b = 2", "error_variance", dict(A=_A, y=_Y, x=_X, b=2),
                       rtol=1e-9, hint="E‖e‖² = (n − b)/(b(n − 1)) · (1/n)·Σ‖∇fᵢ − ∇f‖²: разброс считается "
                                       "вокруг полного градиента, а множитель — не просто 1/b"),
                 Check("batch_error_variance", "b = 1", "error_variance", dict(A=_A, y=_Y, x=_X, b=1), rtol=1e-9,
                       hint="при b = 1 множитель равен 1: остаётся средний квадрат отклонения ∇fᵢ от ∇f"),
                 Check("batch_error_variance", "b = n: ошибки нет", "error_variance", dict(A=_A, y=_Y, x=_X, b=5),
                       rtol=1e-9, atol=1e-12, hint="полный батч — это градиентный спуск без ошибки"),
             ], forbid=RULES),
        Task("all_batches_error", "Перебор всех батчей: несмещённость и средний квадрат ошибки",
             {"enumeration": enumeration}, [
                 Check("all_batches_error", "без возвращения, n = 5, b = 2", "enumeration",
                       dict(A=_A, y=_Y, x=_X, b=2, replace=False), rtol=1e-9, atol=1e-9,
                       hint="переберите все C(n, b) подмножеств (itertools.combinations): они равновероятны"),
                 Check("all_batches_error", "с возвращением, n = 5, b = 2", "enumeration",
                       dict(A=_A, y=_Y, x=_X, b=2, replace=True), rtol=1e-9, atol=1e-9,
                       hint="при выборе с возвращением равновероятны упорядоченные наборы индексов "
                            "(itertools.product), а не мультимножества"),
             ], forbid=RULES),
    ],
)

