"""Exercise 05-1: the filter-normalised direction and the 1-D slice of the loss along it.

Tasks (the functions the student writes)::

    filter_normalize(d, w) -> d_normalised              d_i ← d_i·‖w_i‖/‖d_i‖ per filter (slice along axis 0)
    landscape_direction(raw, weights) -> list of arrays  filter-normalised, biases (1-D tensors) zeroed
    line_losses(weights, direction, alphas, X, y) -> (len(alphas),)
        ℓ(α) = L(w + α d) for the ReLU MLP  x → W₂·relu(W₁x + b₁) + b₂  (weights = [W₁, b₁, W₂, b₂],
        torch.nn.Linear layout), L = mean cross-entropy

References (in the answer key ``solutions/hidden/05-1-filtr-normirovka.py``): ``optviz.landscape``
itself — its filter normalisation, :func:`~optviz.landscape.biasbn_names` (which parameters
``ignore="biasbn"`` zeroes) and :func:`~optviz.landscape.loss_line` on :func:`optviz.models.mlp` in
float64. The raw Gaussian directions of the drivers come from
:func:`optviz.landscape.random_direction` (``normalization="none"``), the same draws it normalises;
the direction of a ``line`` check given by its seed is ``random_direction``'s own filter-normalised
one. The task functions may not use ``optviz.landscape``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array
from ._common import LazyInputs

__all__ = ["EXERCISE", "RULES", "direction_of", "line", "normalize", "raw_direction"]

#: what the task functions may not use (besides optviz.grading): the library's filter normalisation,
#: random directions and loss_line
RULES = ("optviz.landscape",)


def _names(weights) -> list[str]:
    return [f"p{i}" for i in range(len(weights))]


def _as_tensors(arrays) -> dict:
    return {n: torch.tensor(np.asarray(a, dtype=np.float64)) for n, a in zip(_names(arrays), arrays)}


def raw_direction(weights, seed: int) -> list[np.ndarray]:
    """Raw Gaussian draws of ``optviz.landscape.random_direction`` (no normalisation, nothing ignored)."""
    from ...landscape import random_direction

    d = random_direction(_as_tensors(weights), seed=int(seed), normalization="none", ignore=None)
    return [t.numpy().copy() for t in d.tensors.values()]


# -- drivers ------------------------------------------------------------------------------------

def normalize(fn, *, d, w):
    """Driver of ``filter_normalize``: ``{"d": normalised direction}``."""
    d, w = np.array(d, dtype=np.float64), np.array(w, dtype=np.float64)
    out = fn(d.copy(), w.copy())
    if out is None:
        raise AnswerError("функция должна вернуть массив, а вернула None")
    return {"d": as_float_array(out, "нормированное направление", d.shape)}


def direction_of(fn, *, weights, seed):
    """Driver of ``landscape_direction``: the raw draws of ``random_direction`` → ``{"d[0]": …, "d[1]": …}``."""
    weights = [np.array(w, dtype=np.float64) for w in weights]
    raw = raw_direction(weights, seed)
    out = fn([r.copy() for r in raw], [w.copy() for w in weights])
    if not isinstance(out, (list, tuple)) or len(out) != len(weights):
        raise AnswerError(f"функция должна вернуть список из {len(weights)} массивов — по одному на тензор весов")
    return {f"d[{i}]": as_float_array(o, f"d[{i}]", w.shape) for i, (o, w) in enumerate(zip(out, weights))}


def _seeded_direction(weights, seed: int) -> list[np.ndarray]:
    """The filter-normalised ``optviz.landscape.random_direction`` of ``seed`` (biases zero): an input of ``line``."""
    from ...landscape import random_direction

    d = random_direction(_as_tensors(weights), seed=int(seed), normalization="filter", ignore="biasbn")
    return [t.numpy().copy() for t in d.tensors.values()]


def _mlp_inputs(weights, direction_seed):
    weights = [np.array(w, dtype=np.float64) for w in weights]
    if direction_seed is None:
        return weights, None
    return weights, _seeded_direction(weights, direction_seed)


def line(fn, *, weights, alphas, X, y, direction_seed=0, direction=None):
    """Driver of ``line_losses``: ``{"loss": (len(alphas),)}``.

    The direction is ``direction`` when given, else the filter-normalised ``random_direction`` of
    ``direction_seed`` (computed here, so a wrong ``landscape_direction`` does not spoil this task).
    """
    weights, d = _mlp_inputs(weights, direction_seed)
    if direction is not None:
        d = [np.array(a, dtype=np.float64) for a in direction]
    alphas = np.array(alphas, dtype=np.float64)
    out = fn([w.copy() for w in weights], [a.copy() for a in d], alphas.copy(), np.array(X, dtype=np.float64),
             np.array(y, dtype=np.int64))
    if out is None:
        raise AnswerError("функция должна вернуть массив потерь, а вернула None")
    return {"loss": as_float_array(out, "массив потерь", alphas.shape)}


# -- figure -------------------------------------------------------------------------------------

def _small_net(seed: int = 0, hidden: int = 16, samples: int = 300):
    """A random ReLU MLP 64 → hidden → 10 and a slice of the digits (float64)."""
    from ...landscape import digits_data

    x, y = digits_data(dtype=torch.float64)
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((hidden, 64)) / 8.0, 0.1 * rng.standard_normal(hidden),
               rng.standard_normal((10, hidden)) / np.sqrt(hidden), 0.1 * rng.standard_normal(10)]
    return weights, x[:samples].numpy(), y[:samples].numpy()


_LINE_ALPHAS = np.linspace(-1.0, 1.0, 41)


def _line_inputs() -> dict:
    weights, X, y = _small_net()
    return dict(weights=weights, alphas=_LINE_ALPHAS, X=X, y=y, direction_seed=0)


def _draw_line(reference, student):
    import plotly.graph_objects as go

    from ...viz._plotly import LAYOUT_DEFAULTS

    fig = go.Figure()
    fig.add_scatter(x=_LINE_ALPHAS, y=reference["loss"], mode="lines", name="эталон: optviz.landscape.loss_line",
                    line=dict(color="#1f77b4", width=4))
    fig.add_scatter(x=_LINE_ALPHAS, y=student["loss"], mode="lines+markers", name="ваша реализация",
                    line=dict(color="#ff7f0e", width=2), marker=dict(size=4))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(height=400, xaxis_title="α", yaxis_title="потеря L(w + α d)",
                      title="Срез потерь случайной сети 64 → 16 → 10 на цифрах вдоль нормированного по фильтрам направления")
    return fig


_LINE_FIGURE = Figure("line", LazyInputs(_line_inputs), _draw_line)


# -- the exercise -------------------------------------------------------------------------------

_W = [[1.0, 2.0, 2.0], [0.0, 0.3, 0.4], [-1.0, 0.0, 0.0]]
_D = [[3.0, 0.0, 4.0], [1.0, 1.0, 1.0], [0.5, -0.5, 0.5]]
_NET = [np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6]]), np.array([0.1, -0.1]),
        np.array([[1.0, -1.0], [0.5, 0.2], [-0.3, 0.8]]), np.array([0.0, 0.2, -0.1])]
_X = [[1.0, 0.0, 2.0], [0.5, 1.0, -1.0], [-1.0, 0.3, 0.2], [0.0, -0.5, 1.5]]
_Y = [0, 2, 1, 2]

EXERCISE = Exercise(
    id="05-1-filtr-normirovka",
    title="Направление, нормированное по фильтрам, и срез потерь",
    tasks=[
        Task("filter_normalize", "Нормировка направления по фильтрам", {"normalize": normalize}, [
            Check("filter_normalize", "матрица 3×3 (три нейрона)", "normalize", dict(d=_D, w=_W), rtol=1e-9,
                  hint="каждую строку d (фильтр = входящие веса нейрона) масштабируйте к норме той же строки w"),
            Check("filter_normalize", "ядро свёртки 2×1×2×2", "normalize",
                  dict(d=np.arange(1.0, 9.0).reshape(2, 1, 2, 2), w=np.ones((2, 1, 2, 2)) * [[[[1.0]]], [[[0.5]]]]),
                  rtol=1e-9, hint="фильтр — всё, что относится к одному выходному каналу: срез d[i] по первой оси"),
            Check("filter_normalize", "одномерный тензор нормируется целиком", "normalize",
                  dict(d=[3.0, 4.0], w=[0.6, 0.8]), rtol=1e-9,
                  hint="у одномерного тензора фильтров нет: весь вектор получает норму w"),
        ], forbid=RULES),
        Task("landscape_direction", "Направление для всей сети (смещения не двигаются)",
             {"direction_of": direction_of}, [
                 Check("landscape_direction", "сеть 3 → 2 → 3", "direction_of", dict(weights=_NET, seed=0), rtol=1e-9,
                       hint="одномерные тензоры (смещения) получают нулевое направление, матрицы — нормировку по строкам"),
                 Check("landscape_direction", "та же сеть, другое случайное направление", "direction_of",
                       dict(weights=_NET, seed=7), rtol=1e-9, hint="порядок тензоров в ответе — как во входном списке"),
             ], forbid=RULES),
        Task("line_losses", "Потеря вдоль прямой L(w + α d)", {"line": line}, [
            Check("line_losses", "сеть 3 → 2 → 3, пять точек α", "line",
                  dict(weights=_NET, alphas=[-1.0, -0.5, 0.0, 0.5, 1.0], X=_X, y=_Y), rtol=1e-9,
                  hint="потеря — средняя кросс-энтропия: mean(logsumexp(z) − z_y), z = W₂·relu(W₁x + b₁) + b₂"),
            Check("line_losses", "большие α (логиты велики)", "line",
                  dict(weights=_NET, alphas=[-20.0, 0.0, 30.0], X=_X, y=_Y, direction_seed=3), rtol=1e-9,
                  hint="считайте logsumexp устойчиво: вычтите максимум логитов перед exp"),
        ], figure=_LINE_FIGURE, forbid=RULES),
    ],
)
