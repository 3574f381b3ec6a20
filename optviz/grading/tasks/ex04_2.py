"""Exercise 04-2: the Newton–Schulz iteration of Muon, Muon's step, cubic vs quintic.

Tasks (the functions the student writes)::

    newton_schulz_iterate(G, steps, coeffs) -> X_steps
        X_0 = G/‖G‖_F, X_{j+1} = aX_j + b(X_jX_jᵀ)X_j + c(X_jX_jᵀ)²X_j, coeffs = (a, b, c)
    muon_step(W, G, buf, lr, momentum, weight_decay) -> (W_new, buf_new)
        one step of torch.optim.Muon (Nesterov, 5 quintic iterations, lr·√max(1, m/n))
    cubic_catch_up(G, quintic_steps) -> int
        the fewest cubic iterations whose smallest singular value reaches that of ``quintic_steps``
        quintic ones

References (in the answer key ``solutions/hidden/04-2-nyuton-shulc.py``):
:func:`optviz.course.lecture_04.newton_schulz` (float64) and :class:`torch.optim.Muon` itself — run in
float64 with its Newton–Schulz routine swapped for the float64 one (torch's own runs in bfloat16, good
to two or three digits only; the notebook compares with it separately). The task functions may use
neither ``torch.optim``, ``optviz.optim`` nor ``optviz.course.lecture_04``.
"""

from __future__ import annotations

import numpy as np

from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array, as_pair
from ._common import LazyInputs

__all__ = ["EXERCISE", "MAX_CUBIC_STEPS", "RULES", "least_squares_run", "ns_path"]

MUON = (3.4445, -4.7750, 2.0315)
CUBIC = (1.5, -0.5, 0.0)
#: the cubic iteration is guaranteed (by the inputs) to catch up within this many iterations
MAX_CUBIC_STEPS = 200
#: what the task functions may not use (besides optviz.grading): torch's Muon and its Newton–Schulz
#: routine (torch.optim._muon), optviz.optim (re-exports Muon) and the lecture's newton_schulz
RULES = ("torch.optim", "optviz.optim", "optviz.course.lecture_04")


# -- drivers ------------------------------------------------------------------------------------

def _matrix(out, what: str, shape) -> np.ndarray:
    if out is None:
        raise AnswerError(f"функция должна вернуть {what}, а вернула None")
    return as_float_array(out, what, shape)


def ns_path(fn, *, G, steps, coeffs):
    """Driver of ``newton_schulz_iterate``: ``{"X": (steps+1, m, n)}``, row k = the result of k iterations."""
    G = np.array(G, dtype=np.float64)
    out = [_matrix(fn(G.copy(), k, np.array(coeffs, dtype=np.float64)), "матрицу X", G.shape)
           for k in range(int(steps) + 1)]
    return {"X": np.array(out)}


def _muon_call(step, W, G, buf, lr, momentum, weight_decay):
    W = np.array(W, dtype=np.float64)
    out = step(W.copy(), np.array(G, dtype=np.float64), np.array(buf, dtype=np.float64), float(lr), float(momentum),
               float(weight_decay))
    W_new, buf_new = as_pair(out, "(W_new, buf_new)")
    return as_float_array(W_new, "W_new", W.shape), as_float_array(buf_new, "buf_new", W.shape)


def muon_one_step(step, *, W, G, buf, lr, momentum, weight_decay):
    """Driver: one call of ``muon_step``; ``{"W": W_new, "buf": buf_new}``."""
    W_new, buf_new = _muon_call(step, W, G, buf, lr, momentum, weight_decay)
    return {"W": W_new, "buf": buf_new}


def least_squares_run(step, *, X, Y, W0, lr, momentum, weight_decay, steps):
    """Driver: ``steps`` Muon steps on (1/2N)‖XW − Y‖² from a zero buffer; ``{"W": (K+1, m, n), "buf": …}``."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    W = np.array(W0, dtype=np.float64)
    buf = np.zeros_like(W)
    Ws, bufs = [W.copy()], [buf.copy()]
    for _ in range(int(steps)):
        W, buf = _muon_call(step, W, X.T @ (X @ W - Y) / X.shape[0], buf, lr, momentum, weight_decay)
        Ws.append(W.copy())
        bufs.append(buf.copy())
    return {"W": np.array(Ws), "buf": np.array(bufs)}


def catch_up(fn, *, G, quintic_steps):
    """Driver of ``cubic_catch_up``: ``{"k": number of cubic iterations}``."""
    out = fn(np.array(G, dtype=np.float64), int(quintic_steps))
    if out is None:
        raise AnswerError("функция должна вернуть целое число итераций, а вернула None")
    return {"k": as_float_array(out, "число итераций", ())}


# -- figures ------------------------------------------------------------------------------------

_NS_STEPS = 6


def _ns_inputs() -> dict:
    from ...course.lecture_04 import ns_test_matrix

    return dict(G=ns_test_matrix(m=12, n=8, cond=100.0, seed=1).numpy(), steps=_NS_STEPS, coeffs=MUON)


def _draw_ns(reference, student):
    import plotly.graph_objects as go

    from ...viz._plotly import LAYOUT_DEFAULTS

    K = _NS_STEPS
    ref = np.stack([np.linalg.svd(x, compute_uv=False) for x in reference["X"]])
    mine = np.stack([np.linalg.svd(x, compute_uv=False) for x in student["X"]])
    fig = go.Figure()
    for i in range(ref.shape[1]):
        fig.add_scatter(x=np.arange(K + 1), y=ref[:, i], mode="lines", line=dict(color="#1f77b4", width=3),
                        name="эталон: lecture_04.newton_schulz", legendgroup="ref", showlegend=i == 0)
        fig.add_scatter(x=np.arange(K + 1), y=mine[:, i], mode="markers", marker=dict(color="#ff7f0e", size=7),
                        name="ваша реализация", legendgroup="mine", showlegend=i == 0)
    fig.add_hrect(y0=0.7, y1=1.2, fillcolor="#2ca02c", opacity=0.08, line_width=0)
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(height=420, xaxis_title="итерация j", yaxis=dict(type="log", title="сингулярные числа X_j"),
                      title="Многочлен пятой степени из Muon: сингулярные числа итератов для матрицы 12×8, σ_max/σ_min = 100")
    return fig


_NS_FIGURE = Figure("ns_path", LazyInputs(_ns_inputs), _draw_ns)


def _muon_problem():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((64, 8)) * np.geomspace(1.0, 0.1, 8)
    return X, X @ rng.standard_normal((8, 4))


_MUON_X, _MUON_Y = _muon_problem()
_MUON_HYPER = dict(lr=0.05, momentum=0.9, weight_decay=0.0)


def _ls_losses(path) -> list[float]:
    return [0.5 * float(np.sum((_MUON_X @ w - _MUON_Y) ** 2)) / _MUON_X.shape[0] for w in path]


def _draw_muon(reference, student):
    import plotly.graph_objects as go

    from ...viz._plotly import LAYOUT_DEFAULTS

    fig = go.Figure()
    fig.add_scatter(y=_ls_losses(reference["W"]), mode="lines",
                    name="эталон: torch.optim.Muon (Ньютон–Шульц в float64)", line=dict(color="#1f77b4", width=4))
    fig.add_scatter(y=_ls_losses(student["W"]), mode="lines+markers", name="ваша реализация",
                    line=dict(color="#ff7f0e", width=2), marker=dict(size=4))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(height=420, xaxis_title="шаг", yaxis=dict(type="log", title="потеря (1/2N)‖XW − Y‖²"),
                      title=f"Muon на одной матрице весов 8×4: lr = {_MUON_HYPER['lr']}, "
                            f"импульс {_MUON_HYPER['momentum']}")
    return fig


_MUON_FIGURE = Figure("least_squares_run", dict(X=_MUON_X, Y=_MUON_Y, W0=np.zeros((8, 4)), steps=40, **_MUON_HYPER),
                      _draw_muon)


# -- the exercise -------------------------------------------------------------------------------

_G32 = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
_G_WIDE = [[2.0, 0.0, 0.1, -0.3], [0.0, 0.05, 0.2, 0.0]]

EXERCISE = Exercise(
    id="04-2-nyuton-shulc",
    title="Итерация Ньютона–Шульца и шаг Muon",
    tasks=[
        Task("newton_schulz_iterate", "Итерация Ньютона–Шульца", {"ns_path": ns_path}, [
            Check("newton_schulz_iterate", "многочлен пятой степени из Muon, матрица 3×2, 0…5 итераций", "ns_path",
                  dict(G=_G32, steps=5, coeffs=MUON), steps=True, rtol=1e-9, atol=1e-12,
                  hint="X₀ = G/‖G‖_F (норма Фробениуса), затем X ← aX + b(XXᵀ)X + c(XXᵀ)²X"),
            Check("newton_schulz_iterate", "многочлен третьей степени (1.5, −0.5, 0), широкая матрица 2×4", "ns_path",
                  dict(G=_G_WIDE, steps=8, coeffs=CUBIC), steps=True, rtol=1e-9, atol=1e-12,
                  hint="итерация должна работать для любых коэффициентов (a, b, c), в том числе c = 0"),
        ], figure=_NS_FIGURE, forbid=RULES),
        Task("muon_step", "Шаг Muon (как в torch.optim.Muon)",
             {"one_step": muon_one_step, "least_squares_run": least_squares_run}, [
                 Check("muon_step", "первый шаг из нулевого буфера, матрица 3×2", "one_step",
                       dict(W=np.zeros((3, 2)), G=_G32, buf=np.zeros((3, 2)), lr=0.1, momentum=0.95, weight_decay=0.0),
                       rtol=1e-8, atol=1e-11,
                       hint="для высокой матрицы m×n шаг умножается на √max(1, m/n); направление — 5 итераций многочлена пятой степени"),
                 Check("muon_step", "шаг с накопленным буфером и weight decay", "one_step",
                       dict(W=[[1.0, -0.5, 0.2], [0.3, 0.8, -1.0]], G=[[0.2, 0.1, -0.4], [0.5, -0.3, 0.0]],
                            buf=[[0.1, 0.0, -0.2], [0.3, -0.1, 0.1]], lr=0.02, momentum=0.9, weight_decay=0.1),
                       rtol=1e-8, atol=1e-11,
                       hint="буфер B ← μB + (1 − μ)G, направление Нестерова (1 − μ)G + μB; веса W ← (1 − lr·λ)W − …"),
                 Check("muon_step", "15 шагов на задаче наименьших квадратов", "least_squares_run",
                       dict(X=[[1.0, 0.2, 0.0], [0.1, 1.0, 0.3], [0.0, -0.4, 1.0], [1.0, 1.0, 1.0], [0.5, -1.0, 0.2]],
                            Y=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.5], [-0.5, 0.3]], W0=np.zeros((3, 2)),
                            lr=0.05, momentum=0.9, weight_decay=0.0, steps=15), steps=True, weight=2, rtol=1e-7,
                       atol=1e-10, hint="верните обновлённый буфер: следующий шаг должен его получить"),
             ], figure=_MUON_FIGURE, forbid=RULES),
        Task("cubic_catch_up", "Сколько итераций многочлена третьей степени нужно, чтобы догнать многочлен пятой степени",
             {"catch_up": catch_up}, [
                 Check("cubic_catch_up", "диагональная матрица с σ от 1 до 0.01", "catch_up",
                       dict(G=np.diag([1.0, 0.1, 0.01]), quintic_steps=5), rtol=0.0, atol=0.1,
                       hint="сравнивайте наименьшее сингулярное число X_k многочлена третьей степени с наименьшим у X₅ многочлена пятой степени; k = 0 — "
                            "это сама нормированная G"),
                 Check("cubic_catch_up", "матрица 3×2 из лекции, 3 итерации многочлена пятой степени", "catch_up",
                       dict(G=_G32, quintic_steps=3), rtol=0.0, atol=0.1,
                       hint="нужно наименьшее k, при котором σ_min для многочлена третьей степени уже не меньше цели"),
             ], forbid=RULES),
    ],
)
