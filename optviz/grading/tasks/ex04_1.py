"""Exercise 04-1: the Shampoo preconditioner — inverse roots, full-matrix AdaGrad, the matrix step.

Tasks (the functions the student writes)::

    shampoo_inverse_root(S, p) -> S^{-1/p}                    pseudo-inverse root of a symmetric PSD S
    full_matrix_adagrad_step(x, grad, H, lr) -> (x_new, H_new) H ← H + g gᵀ, x ← x − lr·H^{-1/2} g
    shampoo_step(W, G, L, R, lr, beta2) -> (W_new, L_new, R_new)
                                        L ← β₂L + GGᵀ, R ← β₂R + GᵀG, W ← W − lr·L^{-1/4} G R^{-1/4}

Eigenvalues ``λ ≤ 1e-12·λ_max`` count as zeros (their inverse root is 0): the statistics start at
zero, so the first factors are rank-deficient. The references (in the answer key
``solutions/hidden/04-1-predobuslavlivatel-shampoo.py``) are
``optviz.optim._functional.matrix_inverse_root`` and ``optviz.optim.Shampoo`` itself (``betas=(0, β₂)``,
no momentum, no grafting): on a vector Shampoo *is* full-matrix AdaGrad, on a matrix its step is
driven from a given state (the factors ``L``, ``R``). The task functions may use neither
``torch.optim``, ``optviz.optim`` nor ``optviz.course.lecture_04``.
"""

from __future__ import annotations

import numpy as np

from ...problems import Quadratic
from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array
from ._common import quadratic_grad, race_figure

__all__ = ["EXERCISE", "PINV_RTOL", "RULES", "adagrad_run", "least_squares_run", "root", "shampoo_one_step"]

#: relative cut-off of the pseudo-inverse root (eigenvalues below it count as zeros)
PINV_RTOL = 1e-12
#: what the task functions may not use (besides optviz.grading): the optimizers (Shampoo, the
#: inverse root of optviz.optim._functional) and the lecture's helpers (symmetric powers, Shampoo's step)
RULES = ("torch.optim", "optviz.optim", "optviz.course.lecture_04")


# -- drivers ------------------------------------------------------------------------------------

def root(fn, *, S, p):
    """Driver of ``shampoo_inverse_root``: ``{"root": S^{-1/p}}``."""
    S = np.array(S, dtype=np.float64)
    out = fn(S.copy(), float(p))
    if out is None:
        raise AnswerError("функция должна вернуть матрицу, а вернула None")
    return {"root": as_float_array(out, "корень", S.shape)}


def _tuple(out, k: int, what: str) -> tuple:
    if not isinstance(out, (tuple, list)) or len(out) != k:
        raise AnswerError(f"функция должна вернуть {what}, а вернула значение типа {type(out).__name__}")
    return tuple(out)


def _adagrad_call(step, x, grad, H, lr):
    d = np.asarray(x).shape
    x_new, H_new = _tuple(step(np.array(x, dtype=np.float64), np.array(grad, dtype=np.float64),
                               np.array(H, dtype=np.float64), float(lr)), 2, "пару (x_new, H_new)")
    return as_float_array(x_new, "x_new", d), as_float_array(H_new, "H_new", d + d)


def adagrad_one_step(step, *, x, grad, H, lr):
    """Driver: one call of ``full_matrix_adagrad_step``; ``{"x": x_new, "H": H_new}``."""
    x_new, H_new = _adagrad_call(step, x, grad, H, lr)
    return {"x": x_new, "H": H_new}


def adagrad_run(step, *, matrix, center, x0, lr, steps):
    """Driver: ``steps`` steps on ½(x − c)ᵀA(x − c) from ``H = 0``; ``{"x": (K+1, d), "H": (K+1, d, d)}``."""
    x = np.array(x0, dtype=np.float64)
    H = np.zeros((x.size, x.size))
    xs, Hs = [x.copy()], [H.copy()]
    for _ in range(int(steps)):
        x, H = _adagrad_call(step, x, quadratic_grad(matrix, center, x), H, lr)
        xs.append(x.copy())
        Hs.append(H.copy())
    return {"x": np.array(xs), "H": np.array(Hs)}


def _shampoo_call(step, W, G, L, R, lr, beta2):
    W = np.array(W, dtype=np.float64)
    m, n = W.shape
    out = _tuple(step(W.copy(), np.array(G, dtype=np.float64), np.array(L, dtype=np.float64),
                      np.array(R, dtype=np.float64), float(lr), float(beta2)), 3, "тройку (W_new, L_new, R_new)")
    return (as_float_array(out[0], "W_new", (m, n)), as_float_array(out[1], "L_new", (m, m)),
            as_float_array(out[2], "R_new", (n, n)))


def shampoo_one_step(step, *, W, G, L, R, lr, beta2):
    """Driver: one call of ``shampoo_step``; ``{"W": …, "L": …, "R": …}``."""
    W_new, L_new, R_new = _shampoo_call(step, W, G, L, R, lr, beta2)
    return {"W": W_new, "L": L_new, "R": R_new}


def _ls_grad(X, Y, W):
    return X.T @ (X @ W - Y) / X.shape[0]


def least_squares_run(step, *, X, Y, W0, lr, beta2, steps):
    """Driver: ``steps`` Shampoo steps on (1/2N)‖XW − Y‖² from zero statistics.

    Returns ``{"W": (K+1, m, n), "L": (K+1, m, m), "R": (K+1, n, n)}`` (row 0: the start, zero factors).
    """
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    W = np.array(W0, dtype=np.float64)
    m, n = W.shape
    L, R = np.zeros((m, m)), np.zeros((n, n))
    Ws, Ls, Rs = [W.copy()], [L.copy()], [R.copy()]
    for _ in range(int(steps)):
        W, L, R = _shampoo_call(step, W, _ls_grad(X, Y, W), L, R, lr, beta2)
        Ws.append(W.copy())
        Ls.append(L.copy())
        Rs.append(R.copy())
    return {"W": np.array(Ws), "L": np.array(Ls), "R": np.array(Rs)}


# -- figures ------------------------------------------------------------------------------------

_ADAGRAD_Q = Quadratic(kappa=50, angle_deg=45)
_ADAGRAD_LR = 0.5


def _draw_adagrad(reference, student):
    return race_figure(_ADAGRAD_Q, reference["x"], student["x"],
                       f"Полноматричный AdaGrad на повёрнутой квадратичной функции κ = 50: lr = {_ADAGRAD_LR}",
                       reference_label="эталон: optviz.optim.Shampoo на векторе")


_ADAGRAD_FIGURE = Figure("quadratic_run", dict(matrix=_ADAGRAD_Q.matrix, center=_ADAGRAD_Q.center,
                                               x0=_ADAGRAD_Q.start, lr=_ADAGRAD_LR, steps=60), _draw_adagrad)


def _ls_problem(m=8, n=4, samples=64, seed=3):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    X = rng.standard_normal((samples, m)) * np.geomspace(1.0, 0.1, m) @ Q.T
    return X, X @ rng.standard_normal((m, n)), np.zeros((m, n))


_LS_X, _LS_Y, _LS_W0 = _ls_problem()
_LS_LR = 0.3


def _ls_losses(path) -> list[float]:
    return [0.5 * float(np.sum((_LS_X @ w - _LS_Y) ** 2)) / _LS_X.shape[0] for w in path]


def _draw_shampoo(reference, student):
    import plotly.graph_objects as go

    from ...viz._plotly import LAYOUT_DEFAULTS

    fig = go.Figure()
    fig.add_scatter(y=_ls_losses(reference["W"]), mode="lines", name="эталон: optviz.optim.Shampoo",
                    line=dict(color="#1f77b4", width=4))
    fig.add_scatter(y=_ls_losses(student["W"]), mode="lines+markers", name="ваша реализация",
                    line=dict(color="#ff7f0e", width=2), marker=dict(size=4))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(height=420, xaxis_title="шаг", yaxis=dict(type="log", title="потеря (1/2N)‖XW − Y‖²"),
                      title=f"Shampoo (β₂ = 1) на одной матрице весов 8×4: lr = {_LS_LR}")
    return fig


_SHAMPOO_FIGURE = Figure("least_squares_run", dict(X=_LS_X, Y=_LS_Y, W0=_LS_W0, lr=_LS_LR, beta2=1.0, steps=40),
                         _draw_shampoo)


# -- the exercise -------------------------------------------------------------------------------

_HINT_PINV = "собственные числа λ ≤ 1e-12·λ_max замените нулём в обратном корне (псевдообратный корень)"

EXERCISE = Exercise(
    id="04-1-predobuslavlivatel-shampoo",
    title="Предобуславливатель Shampoo",
    tasks=[
        Task("shampoo_inverse_root", "Обратный корень S^{-1/p} через собственное разложение",
             {"root": root}, [
                 Check("shampoo_inverse_root", "матрица 2×2, p = 4", "root",
                       dict(S=[[2.0, 1.0], [1.0, 2.0]], p=4), rtol=1e-9,
                       hint="S = Q·diag(λ)·Qᵀ ⇒ S^{-1/p} = Q·diag(λ^{-1/p})·Qᵀ (np.linalg.eigh), а не поэлементная степень"),
                 Check("shampoo_inverse_root", "диагональная матрица 3×3, p = 2", "root",
                       dict(S=np.diag([4.0, 0.25, 9.0]), p=2), rtol=1e-9, hint="степень −1/p, а не −p"),
                 Check("shampoo_inverse_root", "вырожденная матрица ранга 1", "root",
                       dict(S=[[1.0, 1.0], [1.0, 1.0]], p=4), rtol=1e-9, atol=1e-12, hint=_HINT_PINV),
             ], forbid=RULES),
        Task("full_matrix_adagrad_step", "Шаг полноматричного AdaGrad (Shampoo на векторе)",
             {"one_step": adagrad_one_step, "quadratic_run": adagrad_run}, [
                 Check("full_matrix_adagrad_step", "первый шаг из H = 0", "one_step",
                       dict(x=[1.0, -2.0], grad=[3.0, 4.0], H=np.zeros((2, 2)), lr=0.5), rtol=1e-9,
                       hint="после первого шага H = g gᵀ, и H^{-1/2} g = g/‖g‖: шаг имеет длину lr"),
                 Check("full_matrix_adagrad_step", "шаг с накопленной матрицей H", "one_step",
                       dict(x=[0.5, 0.5], grad=[1.0, -1.0], H=[[2.0, 0.5], [0.5, 1.0]], lr=0.1), rtol=1e-9,
                       hint="сначала H ← H + g gᵀ, затем шаг по новой H; корень степени −1/2"),
                 Check("full_matrix_adagrad_step", "15 шагов на повёрнутой квадратичной функции", "quadratic_run",
                       dict(matrix=[[5.5, 4.5], [4.5, 5.5]], center=[1.0, -1.0], x0=[-1.0, 2.0], lr=0.5, steps=15),
                       steps=True, weight=2, rtol=1e-7, hint="H копится от шага к шагу: H ← H + g gᵀ"),
             ], figure=_ADAGRAD_FIGURE, forbid=RULES),
        Task("shampoo_step", "Шаг Shampoo для матрицы весов",
             {"one_step": shampoo_one_step, "least_squares_run": least_squares_run}, [
                 Check("shampoo_step", "β₂ = 0 из нулевых статистик: шаг lr·UVᵀ", "one_step",
                       dict(W=np.zeros((3, 2)), G=[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], L=np.zeros((3, 3)),
                            R=np.zeros((2, 2)), lr=0.1, beta2=0.0), rtol=1e-8, atol=1e-10,
                       hint="L = GGᵀ (3×3, ранг 2) вырождена: нужен псевдообратный корень; степень −1/4"),
                 Check("shampoo_step", "шаг с накопленными L и R, β₂ = 0.9", "one_step",
                       dict(W=[[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]], G=[[0.3, -0.2, 0.1], [0.4, 0.1, -0.5]],
                            L=[[2.0, 0.3], [0.3, 1.0]], R=[[1.5, 0.2, 0.0], [0.2, 1.0, 0.1], [0.0, 0.1, 0.8]],
                            lr=0.05, beta2=0.9), rtol=1e-8,
                       hint="L ← β₂L + GGᵀ (m×m), R ← β₂R + GᵀG (n×n); шаг W − lr·L^{-1/4} G R^{-1/4}"),
                 Check("shampoo_step", "10 шагов на задаче наименьших квадратов", "least_squares_run",
                       dict(X=[[1.0, 0.2, 0.0], [0.1, 1.0, 0.3], [0.0, -0.4, 1.0], [1.0, 1.0, 1.0], [0.5, -1.0, 0.2]],
                            Y=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.5], [-0.5, 0.3]], W0=np.zeros((3, 2)),
                            lr=0.2, beta2=1.0, steps=10), steps=True, weight=2, rtol=1e-7,
                       hint="статистики копятся: верните обновлённые L и R, следующий шаг получит их"),
             ], figure=_SHAMPOO_FIGURE, forbid=RULES),
    ],
)
