"""Ключ ответов упражнения 05-2 (двойной спуск и решение с минимальной нормой): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — lecture_05.min_norm_fit (numpy.linalg.lstsq), torch.optim.SGD из нуля и
lecture_05.double_descent; ожидаемые значения считает проверяющий процесс. Входные данные скрытых
проверок отличаются от открытых; названия и подсказки проверок видит студент — входных данных в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check


def _ref_min_norm(x, y, degree):
    from optviz.course.lecture_05 import min_norm_fit

    return min_norm_fit(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), int(degree))


def _ref_gd_from_zero(A, y, lr, steps):
    A_t = torch.tensor(np.asarray(A, dtype=np.float64))
    y_t = torch.tensor(np.asarray(y, dtype=np.float64))
    c = torch.zeros(A_t.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([c], lr=float(lr))
    out = [c.detach().clone()]
    for _ in range(int(steps)):
        opt.zero_grad()
        (0.5 * ((A_t @ c - y_t) ** 2).sum()).backward()
        opt.step()
        out.append(c.detach().clone())
    return torch.stack(out).numpy()


def _ref_test_error_curve(n_train, max_degree, noise, n_seeds):
    from optviz.course.lecture_05 import double_descent

    return double_descent(int(n_train), int(max_degree), float(noise), int(n_seeds)).median_test.copy()


REFERENCES = {"min_norm_fit_svd": _ref_min_norm, "gd_from_zero": _ref_gd_from_zero,
              "test_error_curve": _ref_test_error_curve}

_rng = np.random.default_rng(50502)


def _data(n: int):
    x = _rng.uniform(-1.0, 1.0, n)
    return dict(x=x, y=np.sin(np.pi * x) + 0.2 * _rng.standard_normal(n))


def _wide(m: int, p: int):
    A = _rng.standard_normal((m, p))
    return dict(A=A, y=_rng.standard_normal(m), lr=0.9 / np.linalg.norm(A, 2) ** 2)


CHECKS = [
    Check("min_norm_fit_svd", "порог интерполяции: коэффициентов столько же, сколько точек", "fit",
          dict(**_data(15), degree=14), rtol=1e-7, atol=1e-9,
          hint="на пороге матрица плохо обусловлена — не отбрасывайте сингулярные числа слишком грубо"),
    Check("min_norm_fit_svd", "сильная перепараметризация", "fit", dict(**_data(20), degree=60), rtol=1e-7,
          atol=1e-10, hint="при d + 1 > n нужно экономное SVD и решение с минимальной нормой"),
    Check("min_norm_fit_svd", "обычный МНК, точек больше, чем коэффициентов", "fit", dict(**_data(30), degree=4),
          rtol=1e-8, atol=1e-10, hint="признаки — многочлены Лежандра P₀ … P_d"),
    Check("min_norm_fit_svd", "степень 0: константа", "fit", dict(**_data(7), degree=0), rtol=1e-8, atol=1e-10,
          hint="при d = 0 единственный признак — P₀ = 1, решение — среднее y"),
    Check("gd_from_zero", "3 уравнения, 8 неизвестных, 60 шагов", "gd_path", dict(**_wide(3, 8), steps=60),
          steps=True, weight=2, rtol=1e-7, atol=1e-11, hint="c_{k+1} = c_k − lr·Aᵀ(A c_k − y), старт — нулевой вектор"),
    Check("gd_from_zero", "одно уравнение, три неизвестных", "gd_path", dict(**_wide(1, 3), steps=10), steps=True,
          rtol=1e-8, atol=1e-12, hint="градиент равен Aᵀ(Ac − y), а не A(Ac − y)"),
    Check("gd_from_zero", "переопределённая система 6×2", "gd_path", dict(**_wide(6, 2), steps=25), steps=True,
          rtol=1e-8, atol=1e-12, hint="функция должна работать для любой формы A"),
    Check("test_error_curve", "другое число точек, 4 выборки", "curve",
          dict(n_train=10, max_degree=25, noise=0.1, n_seeds=4), weight=2, rtol=1e-6, atol=1e-12,
          hint="повторите протокол лекции: выборка s — default_rng(s), x, затем шум; медиана по выборкам"),
    Check("test_error_curve", "больше точек и шума", "curve", dict(n_train=20, max_degree=40, noise=0.3, n_seeds=3),
          rtol=1e-6, atol=1e-12, hint="степени от 1 до max_degree включительно; тест — 1000 точек без шума"),
    Check("test_error_curve", "данные без шума", "curve", dict(n_train=9, max_degree=20, noise=0.0, n_seeds=2),
          rtol=1e-6, atol=1e-12, hint="ошибка считается относительно истинной функции sin(πx) + ½cos(3x)"),
]
