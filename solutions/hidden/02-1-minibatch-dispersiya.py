"""Ключ ответов упражнения 02-1 (мини-батч градиент и дисперсия его ошибки): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — автоградиент и grad_variance задачи с конечной суммой курса (optviz.problems.LeastSquares);
ожидаемые значения считает проверяющий процесс. Входные данные скрытых проверок отличаются от
открытых; названия и подсказки проверок видит студент — входных данных в них нет.
"""

import numpy as np

from optviz.grading import Check
from optviz.problems.finite_sums import LeastSquares


def _ref_minibatch_gradient(A, y, x, batch):
    return LeastSquares(A, y).grad(np.asarray(x, dtype=np.float64), np.asarray(batch, dtype=np.int64)).numpy()


def _ref_batch_error_variance(A, y, x, b):
    return LeastSquares(A, y).grad_variance(np.asarray(x, dtype=np.float64), int(b))


def _ref_all_batches_error(A, y, x, b, replace):
    """Unbiasedness (mean error 0) and the exact second moment: (n−b)/(b(n−1))·spread, or spread/b with replacement."""
    p = LeastSquares(A, y)
    x = np.asarray(x, dtype=np.float64)
    spread = p.grad_variance(x, 1)                # (1/n) Σ ‖∇f_i − ∇f‖²
    second = spread / int(b) if replace else p.grad_variance(x, int(b))
    return np.zeros(p.dim), second


REFERENCES = {"minibatch_gradient": _ref_minibatch_gradient, "batch_error_variance": _ref_batch_error_variance,
              "all_batches_error": _ref_all_batches_error}

_rng = np.random.default_rng(20240201)


def _data(n: int, d: int, far: bool = True):
    A = _rng.standard_normal((n, d)) * np.geomspace(1.0, 3.0, d)
    y = A @ _rng.standard_normal(d) + 0.7 * _rng.standard_normal(n)
    x = _rng.standard_normal(d) * (3.0 if far else 0.1)
    return dict(A=A, y=y, x=x)


_D20 = _data(20, 3)
_D30 = _data(30, 4)
_D8 = _data(8, 2)
_D6 = _data(6, 3)
_D1 = _data(9, 1)

CHECKS = [
    Check("minibatch_gradient", "случайный батч из пяти объектов, d = 3", "batch_gradient",
          dict(**_D20, batch=_rng.choice(20, size=5, replace=False)), rtol=1e-9,
          hint="градиент батча — среднее aᵢ(aᵢᵀx − yᵢ) по его объектам"),
    Check("minibatch_gradient", "батч с повторяющимся индексом", "batch_gradient",
          dict(**_D20, batch=[4, 11, 4]), rtol=1e-9,
          hint="объект, выбранный дважды, входит в среднее дважды: не убирайте повторы"),
    Check("minibatch_gradient", "одномерный параметр", "batch_gradient", dict(**_D1, batch=[0, 8, 3, 5]), rtol=1e-9,
          hint="при d = 1 ответ — вектор длины 1, а не число"),
    Check("minibatch_gradient", "батч — вся выборка", "batch_gradient", dict(**_D30, batch=np.arange(30)), rtol=1e-9,
          hint="при b = n получается полный градиент Aᵀ(Ax − y)/n"),
    Check("batch_error_variance", "средний батч, d = 4", "error_variance", dict(**_D30, b=7), rtol=1e-8,
          hint="множитель (n − b)/(b(n − 1)) перед разбросом (1/n)Σ‖∇fᵢ − ∇f‖²"),
    Check("batch_error_variance", "батч из одного объекта", "error_variance", dict(**_D20, b=1), rtol=1e-8,
          hint="разброс считается вокруг полного градиента ∇f(x), а не вокруг нуля"),
    Check("batch_error_variance", "полный батч", "error_variance", dict(**_D8, b=8), rtol=1e-8, atol=1e-12,
          hint="при b = n ошибка равна нулю"),
    Check("batch_error_variance", "почти полный батч", "error_variance", dict(**_D20, b=19), rtol=1e-8,
          hint="при b, близком к n, формула σ²/b сильно завышает ошибку"),
    Check("all_batches_error", "перебор без возвращения, другая выборка", "enumeration",
          dict(**_D8, b=3, replace=False), rtol=1e-8, atol=1e-9,
          hint="все C(n, b) подмножеств равновероятны; средняя ошибка по ним — ноль"),
    Check("all_batches_error", "перебор с возвращением", "enumeration", dict(**_D6, b=3, replace=True), rtol=1e-8,
          atol=1e-9, weight=2,
          hint="с возвращением равновероятны nᵇ упорядоченных наборов (itertools.product): средний квадрат ошибки "
               "ровно разброс/b"),
    Check("all_batches_error", "полный батч без возвращения", "enumeration", dict(**_D6, b=6, replace=False),
          rtol=1e-8, atol=1e-9, hint="единственный батч из всех объектов даёт нулевую ошибку"),
    Check("all_batches_error", "b = 1 с возвращением и без", "enumeration", dict(**_D8, b=1, replace=True),
          rtol=1e-8, atol=1e-9, hint="при b = 1 оба способа выбора совпадают"),
]
