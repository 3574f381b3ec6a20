r"""Exercise 08-2: multiplicative weights and optimistic MW on a matrix game; the duality gap; the KL potential.

Tasks (the functions the student writes)::

    mw_step(x, y, A, lr) -> (x_new, y_new)
    optimistic_mw_step(x, y, x_prev, y_prev, A, lr) -> (x_new, y_new)
    matrix_game_gap(A, x, y) -> float
    kl_potential(x_star, y_star, x, y) -> float

Game :math:`\min_{x\in\Delta_m}\max_{y\in\Delta_n} x^\top A y`. The references (in the answer key
``solutions/hidden/08-2-optimistichnye-vesa.py``) follow the conventions of
:func:`optviz.problems.games.multiplicative_weights` and :func:`~optviz.problems.games.optimistic_mw`:
simultaneous updates, every update one :func:`optviz.optim._functional.kl_mirror_step` (the x player
descends :math:`Ay`, the y player descends :math:`-A^\top x`), the optimistic signal
:math:`2\ell_t - \ell_{t-1}` with :math:`\ell_{-1} = \ell_0` (the drivers pass ``x_prev = x0`` on the
first step, so the first step is plain MW). The gap and the potential are
:meth:`MatrixGame.gap <optviz.problems.games.MatrixGame.gap>` and
:meth:`MatrixGame.kl_to_equilibrium <optviz.problems.games.MatrixGame.kl_to_equilibrium>`. The task
functions may use neither ``optviz.problems.games`` nor ``optviz.course.lecture_08``, the steps not
``optviz.optim`` (``kl_mirror_step``) either.
"""

from __future__ import annotations

import numpy as np

from ...problems.games import rock_paper_scissors
from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array, as_pair

__all__ = ["EXERCISE", "mw_run", "omw_run", "MEASURE_RULES", "STEP_RULES"]

#: what the gap and the potential may not use (besides optviz.grading): the library's games and the
#: lecture's helpers
MEASURE_RULES = ("optviz.problems.games", "optviz.course.lecture_08")
#: what the steps may not use: the same and the library's optimizers (``kl_mirror_step``)
STEP_RULES = MEASURE_RULES + ("optviz.optim",)


# -- drivers ------------------------------------------------------------------------------------

def _pair(out, m, n):
    x_new, y_new = as_pair(out, "(x_new, y_new)")
    return as_float_array(x_new, "x_new", (m,)), as_float_array(y_new, "y_new", (n,))


def _arr(v):
    return np.array(v, dtype=np.float64)


def mw_one(fn, *, x, y, A, lr):
    """Driver: one MW step; ``{"x": x_new, "y": y_new}``."""
    A = _arr(A)
    xn, yn = _pair(fn(_arr(x), _arr(y), A.copy(), float(lr)), *A.shape)
    return {"x": xn, "y": yn}


def mw_run(fn, *, A, x0, y0, lr, steps):
    """Driver: ``steps`` MW steps from ``(x0, y0)``; ``{"x": (K+1, m), "y": (K+1, n)}``."""
    A = _arr(A)
    x, y = _arr(x0), _arr(y0)
    xs, ys = [x.copy()], [y.copy()]
    for _ in range(int(steps)):
        x, y = _pair(fn(x.copy(), y.copy(), A.copy(), float(lr)), *A.shape)
        xs.append(x.copy())
        ys.append(y.copy())
    return {"x": np.array(xs), "y": np.array(ys)}


def omw_one(fn, *, x, y, x_prev, y_prev, A, lr):
    """Driver: one optimistic MW step; ``{"x": x_new, "y": y_new}``."""
    A = _arr(A)
    xn, yn = _pair(fn(_arr(x), _arr(y), _arr(x_prev), _arr(y_prev), A.copy(), float(lr)), *A.shape)
    return {"x": xn, "y": yn}


def omw_run(fn, *, A, x0, y0, lr, steps):
    """Driver: ``steps`` optimistic MW steps, the first with ``(x_prev, y_prev) = (x0, y0)``."""
    A = _arr(A)
    x, y = _arr(x0), _arr(y0)
    xp, yp = x.copy(), y.copy()
    xs, ys = [x.copy()], [y.copy()]
    for _ in range(int(steps)):
        xn, yn = _pair(fn(x.copy(), y.copy(), xp.copy(), yp.copy(), A.copy(), float(lr)), *A.shape)
        xp, yp, x, y = x, y, xn, yn
        xs.append(x.copy())
        ys.append(y.copy())
    return {"x": np.array(xs), "y": np.array(ys)}


def _scalar(value, what):
    if value is None:
        raise AnswerError(f"функция должна вернуть число ({what}), а вернула None")
    return as_float_array(value, what, ())


def gap(fn, *, A, x, y):
    """Driver of ``matrix_game_gap``: ``{"gap": value}``."""
    return {"gap": _scalar(fn(_arr(A), _arr(x), _arr(y)), "зазор")}


def potential(fn, *, x_star, y_star, x, y):
    """Driver of ``kl_potential``: ``{"kl": value}``."""
    return {"kl": _scalar(fn(_arr(x_star), _arr(y_star), _arr(x), _arr(y)), "потенциал")}


# -- figure -------------------------------------------------------------------------------------

_TRI = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
_X0, _Y0 = [0.5, 0.3, 0.2], [0.2, 0.5, 0.3]


_FIG_GAME = rock_paper_scissors()
_FIG_LR, _FIG_STEPS = 0.3, 150


def _figure(optimistic: bool) -> Figure:
    def draw(reference, student):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        game = _FIG_GAME
        lr, steps = _FIG_LR, _FIG_STEPS
        if optimistic:
            name, lib = "Оптимистичные MW", "games.optimistic_mw"
        else:
            name, lib = "Мультипликативные веса", "games.multiplicative_weights"
        fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.08,
                            subplot_titles=("x<sub>t</sub> на симплексе (камень, ножницы, бумага)",
                                            "зазор двойственности x<sub>t</sub>, y<sub>t</sub>"))
        tri = np.vstack([_TRI, _TRI[:1]])
        fig.add_trace(go.Scatter(x=tri[:, 0], y=tri[:, 1], mode="lines", line=dict(color="#999", width=1),
                                 showlegend=False, hoverinfo="skip"), row=1, col=1)
        k = np.arange(steps + 1)
        for (X, Y), label, color, width in (((reference["x"], reference["y"]), f"эталон: {lib}", "#1f77b4", 4),
                                            ((student["x"], student["y"]), "ваша реализация", "#ff7f0e", 2)):
            P = X @ _TRI
            fig.add_trace(go.Scatter(x=P[:, 0], y=P[:, 1], mode="lines", name=label, legendgroup=label,
                                     line=dict(color=color, width=width)), row=1, col=1)
            g = np.clip(game.gap(X, Y), 1e-16, None)
            fig.add_trace(go.Scatter(x=k, y=g, mode="lines", name=label, legendgroup=label, showlegend=False,
                                     line=dict(color=color, width=width)), row=1, col=2)
        star = game.x_star @ _TRI
        fig.add_trace(go.Scatter(x=[star[0]], y=[star[1]], mode="markers", name="равновесие",
                                 marker=dict(symbol="star", size=14, color="black")), row=1, col=1)
        fig.update_xaxes(visible=False, range=[-0.05, 1.05], row=1, col=1)
        fig.update_yaxes(visible=False, range=[-0.05, 0.92], scaleanchor="x", scaleratio=1, row=1, col=1)
        fig.update_yaxes(type="log", row=1, col=2)
        fig.update_xaxes(title_text="итерация t", row=1, col=2)
        fig.update_layout(title=f"{name} на игре «камень, ножницы, бумага»: η = {lr}, {steps} шагов", height=440,
                          legend=dict(orientation="h", y=-0.15, x=0.0))
        return fig
    inputs = dict(A=_FIG_GAME.A, x0=_X0, y0=_Y0, lr=_FIG_LR, steps=_FIG_STEPS)
    return Figure("omw_run" if optimistic else "mw_run", inputs, draw)


# -- public checks ------------------------------------------------------------------------------

_RPS = np.array([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]])
_A23 = np.array([[1.0, -0.5, 0.2], [-0.3, 0.8, -1.0]])

EXERCISE = Exercise(
    id="08-2-optimistichnye-vesa",
    title="Мультипликативные веса и оптимистичные MW на матричной игре",
    tasks=[
        Task("mw_step", "Шаг одновременных мультипликативных весов",
             {"mw_one": mw_one, "mw_run": mw_run}, [
                 Check("mw_step", "один шаг, «камень, ножницы, бумага»", "mw_one",
                       dict(x=_X0, y=_Y0, A=_RPS, lr=0.3), rtol=1e-9,
                       hint="x⁺ ∝ x·exp(−ηAy), y⁺ ∝ y·exp(+ηAᵀx): игрок y максимизирует; не забудьте нормировку"),
                 Check("mw_step", "прямоугольная A 2×3, 20 шагов", "mw_run",
                       dict(A=_A23, x0=[0.7, 0.3], y0=[0.2, 0.3, 0.5], lr=0.4, steps=20), steps=True, weight=2,
                       hint="шаги одновременные: y обновляется по старому x, а не по x⁺"),
             ], figure=_figure(False), forbid=STEP_RULES),
        Task("optimistic_mw_step", "Шаг оптимистичных мультипликативных весов",
             {"omw_one": omw_one, "omw_run": omw_run}, [
                 Check("optimistic_mw_step", "первый шаг (прошлая точка = текущей)", "omw_one",
                       dict(x=_X0, y=_Y0, x_prev=_X0, y_prev=_Y0, A=_RPS, lr=0.3), rtol=1e-9,
                       hint="при совпадающих точках 2ℓ_t − ℓ_{t−1} = ℓ_t — это обычный шаг MW"),
                 Check("optimistic_mw_step", "шаг с прошлой точкой", "omw_one",
                       dict(x=[0.4, 0.35, 0.25], y=[0.3, 0.3, 0.4], x_prev=_X0, y_prev=_Y0, A=_RPS, lr=0.5),
                       rtol=1e-9, hint="в экспоненте у x стоит −η(2Ay − Ay_prev), у y — +η(2Aᵀx − Aᵀx_prev)"),
                 Check("optimistic_mw_step", "прямоугольная A 2×3, 20 шагов", "omw_run",
                       dict(A=_A23, x0=[0.7, 0.3], y0=[0.2, 0.3, 0.5], lr=0.4, steps=20), steps=True, weight=2,
                       hint="экстраполируется вектор потерь, а не сама точка: множитель — exp(−η(2ℓ_t − ℓ_{t−1}))"),
             ], figure=_figure(True), forbid=STEP_RULES),
        Task("matrix_game_gap", "Зазор двойственности матричной игры", {"gap": gap}, [
            Check("matrix_game_gap", "«камень, ножницы, бумага», неравновесная пара", "gap",
                  dict(A=_RPS, x=_X0, y=_Y0), rtol=1e-9,
                  hint="gap = max_j (Aᵀx)_j − min_i (Ay)_i: лучший ответ y на x минус лучший ответ x на y"),
            Check("matrix_game_gap", "прямоугольная A 2×3", "gap", dict(A=_A23, x=[0.6, 0.4], y=[0.1, 0.6, 0.3]),
                  rtol=1e-9, hint="(Aᵀx) имеет длину n (стратегии y), (Ay) — длину m (стратегии x)"),
        ], forbid=MEASURE_RULES),
        Task("kl_potential", "Потенциал KL(x*‖x) + KL(y*‖y)", {"potential": potential}, [
            Check("kl_potential", "равновесие «камень, ножницы, бумага»", "potential",
                  dict(x_star=[1 / 3] * 3, y_star=[1 / 3] * 3, x=_X0, y=_Y0), rtol=1e-9,
                  hint="KL(p‖q) = Σ p_i log(p_i / q_i): первым аргументом стоит равновесие"),
            Check("kl_potential", "разные размеры игроков", "potential",
                  dict(x_star=[0.25, 0.75], y_star=[0.5, 0.2, 0.3], x=[0.5, 0.5], y=[0.2, 0.3, 0.5]), rtol=1e-9,
                  hint="потенциал — сумма двух дивергенций, по одной на игрока"),
        ], forbid=MEASURE_RULES),
    ],
)
