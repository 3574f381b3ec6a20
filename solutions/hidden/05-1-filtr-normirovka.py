"""Скрытые тесты упражнения 05-1 (нормировка по фильтрам и срез потерь).

Не копируются в exercises/ и в выпуск. Ожидаемые значения считает проверяющий процесс эталонами из
optviz.grading.tasks.ex05_1 (нормировка optviz.landscape, loss_line). Названия и подсказки проверок
видит студент — входных данных в них нет.
"""

import numpy as np

from optviz.grading import Check

_rng = np.random.default_rng(50501)


def _net(sizes, bias_scale=0.1):
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        out += [_rng.standard_normal((b, a)) / np.sqrt(a), bias_scale * _rng.standard_normal(b)]
    return out


_dead = _rng.standard_normal((4, 6))
_dead[2] = 0.0
_NET_A = _net([6, 5, 4])
_X_A = _rng.standard_normal((20, 6))
_Y_A = _rng.integers(0, 4, 20)

CHECKS = [
    Check("filter_normalize", "случайная матрица 5×7", "normalize",
          dict(d=_rng.standard_normal((5, 7)), w=_rng.standard_normal((5, 7))), rtol=1e-8,
          hint="норма считается по каждой строке отдельно, а не по всей матрице"),
    Check("filter_normalize", "ядро свёртки 3×2×3×3", "normalize",
          dict(d=_rng.standard_normal((3, 2, 3, 3)), w=_rng.standard_normal((3, 2, 3, 3))), rtol=1e-8,
          hint="фильтр — срез по первой оси, норма берётся по всем остальным осям сразу"),
    Check("filter_normalize", "нейрон с нулевыми весами", "normalize",
          dict(d=_rng.standard_normal((4, 6)), w=_dead), rtol=1e-8, atol=1e-12,
          hint="если у фильтра весов норма 0, его направление тоже нулевое"),
    Check("filter_normalize", "одномерный тензор", "normalize",
          dict(d=_rng.standard_normal(6), w=3.0 * _rng.standard_normal(6)), rtol=1e-8,
          hint="одномерный тензор масштабируется целиком к норме w"),
    Check("landscape_direction", "сеть 6 → 5 → 4", "direction_of", dict(weights=_NET_A, seed=11), rtol=1e-8,
          hint="смещения (одномерные тензоры) — нули, матрицы — нормировка по строкам"),
    Check("landscape_direction", "глубокая сеть из трёх слоёв", "direction_of",
          dict(weights=_net([10, 8, 8, 3], bias_scale=1.0), seed=2), rtol=1e-8,
          hint="обработайте все тензоры списка, сколько бы их ни было"),
    Check("line_losses", "случайная сеть, 11 точек α", "line",
          dict(weights=_NET_A, alphas=np.linspace(-1.0, 1.0, 11), X=_X_A, y=_Y_A, direction_seed=5), rtol=1e-8,
          weight=2, hint="при α = 0 должна получиться потеря в самой точке w"),
    Check("line_losses", "большие сдвиги: устойчивый logsumexp", "line",
          dict(weights=_NET_A, alphas=[-60.0, -25.0, 40.0], X=_X_A, y=_Y_A, direction_seed=6), rtol=1e-8,
          hint="перед exp вычтите из логитов их максимум по классам"),
    Check("line_losses", "направление двигает и смещения", "line",
          dict(weights=_NET_A, alphas=[-0.5, 0.25, 1.0], X=_X_A, y=_Y_A, direction_seed=None,
               direction=[_rng.standard_normal(w.shape) for w in _NET_A]), rtol=1e-8,
          hint="сдвигайте все четыре тензора, включая смещения: w + α·d для каждого"),
]
