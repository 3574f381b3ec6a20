"""Ключ ответов упражнения 05-1 (нормировка по фильтрам и срез потерь): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — сама optviz.landscape: её нормировка по фильтрам, biasbn_names и loss_line на
optviz.models.mlp в float64; ожидаемые значения считает проверяющий процесс. Входные данные скрытых
проверок отличаются от открытых; названия и подсказки проверок видит студент — входных данных в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check
from optviz.grading.tasks.ex05_1 import _as_tensors


def _ref_filter_normalize(d, w):
    from optviz.landscape import _filter_normalize

    return _filter_normalize(torch.tensor(np.asarray(d, dtype=np.float64)),
                             torch.tensor(np.asarray(w, dtype=np.float64))).numpy()


def _ref_landscape_direction(raw, weights):
    from optviz.landscape import _filter_normalize, biasbn_names

    params = _as_tensors(weights)
    ignored = set(biasbn_names(params))
    out = []
    for (name, w), d in zip(params.items(), raw):
        d = torch.tensor(np.asarray(d, dtype=np.float64))
        out.append(torch.zeros_like(w).numpy() if name in ignored else _filter_normalize(d, w).numpy())
    return out


def _mlp(weights):
    from optviz.models import mlp

    W1, W2 = np.asarray(weights[0]), np.asarray(weights[2])
    model = mlp(W1.shape[1], (W1.shape[0],), W2.shape[0], seed=0).double()
    with torch.no_grad():
        for p, a in zip(model.parameters(), weights):
            p.copy_(torch.tensor(np.asarray(a, dtype=np.float64)))
    return model.eval()


def _ref_line_losses(weights, direction, alphas, X, y):
    from optviz.landscape import Direction, loss_line

    model = _mlp(weights)
    tensors = {n: torch.tensor(np.asarray(d, dtype=np.float64)) for (n, _), d in zip(model.named_parameters(), direction)}
    data = (torch.tensor(np.asarray(X, dtype=np.float64)), torch.tensor(np.asarray(y), dtype=torch.long))
    res = loss_line(model, data, Direction(tensors), alphas=np.asarray(alphas, dtype=np.float64), progress=False,
                    max_seconds=None)
    return np.asarray(res.loss, dtype=np.float64)


REFERENCES = {"filter_normalize": _ref_filter_normalize, "landscape_direction": _ref_landscape_direction,
              "line_losses": _ref_line_losses}

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
