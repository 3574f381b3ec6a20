r"""Exercise 08-1: extragradient and optimistic GDA on the bilinear game :math:`\min_x\max_y x^\top B y`.

Tasks (the functions the student writes)::

    extragradient_step(x, y, B, lr) -> (x_new, y_new)
    optimistic_gda_step(x, y, x_prev, y_prev, B, lr) -> (x_new, y_new)
    bilinear_rates(B, lr) -> (rho_eg, rho_ogda)

The game field is :math:`F(x, y) = (By, -B^\top x)`. The references (in the answer key
``solutions/hidden/08-1-ekstragradient.py``) take the field from ``torch.autograd`` of
:math:`f = x^\top B y`; for :math:`B = (1)` their trajectories are those of
:func:`optviz.problems.games.extragradient` / :func:`~optviz.problems.games.optimistic_gda` (the
figure draws the stored reference run under those names). The rates come from the singular values
(``numpy.linalg.svd``): with :math:`B = U\Sigma V^\top` the game splits into the games
:math:`\sigma_i x_i' y_i'`, each the game :math:`xy` with the step :math:`\eta\sigma_i`, so the
per-step factor of :math:`\|z_k\|` is :math:`\max_i \rho(\eta\sigma_i)` with
:func:`~optviz.problems.games.extragradient_rate` and :func:`~optviz.problems.games.ogda_rate`. The task
functions may use neither ``optviz.problems.games`` nor ``optviz.course.lecture_08``, the steps not
``optviz.optim`` either.
"""

from __future__ import annotations

import numpy as np

from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array, as_pair

__all__ = ["EXERCISE", "eg_run", "ogda_run", "RATE_RULES", "STEP_RULES"]

#: what the rates may not use (besides optviz.grading): the library's games and the lecture's helpers
RATE_RULES = ("optviz.problems.games", "optviz.course.lecture_08")
#: what the steps may not use: the same and the library's optimizers (extragradient of OptimisticMirrorProx)
STEP_RULES = RATE_RULES + ("optviz.optim",)


# -- drivers ------------------------------------------------------------------------------------

def _shapes(B, x, y):
    B = np.array(B, dtype=np.float64)
    return B, (B.shape[0],), (B.shape[1],)


def _pair(out, dx, dy):
    x_new, y_new = as_pair(out, "(x_new, y_new)")
    return as_float_array(x_new, "x_new", dx), as_float_array(y_new, "y_new", dy)


def eg_one(fn, *, x, y, B, lr):
    """Driver: one extragradient step; ``{"x": x_new, "y": y_new}``."""
    B, dx, dy = _shapes(B, x, y)
    xn, yn = _pair(fn(np.array(x, dtype=np.float64), np.array(y, dtype=np.float64), B.copy(), float(lr)), dx, dy)
    return {"x": xn, "y": yn}


def eg_run(fn, *, B, x0, y0, lr, steps):
    """Driver: ``steps`` extragradient steps from ``(x0, y0)``; ``{"x": (K+1, m), "y": (K+1, n)}``."""
    B, dx, dy = _shapes(B, x0, y0)
    x, y = np.array(x0, dtype=np.float64), np.array(y0, dtype=np.float64)
    xs, ys = [x.copy()], [y.copy()]
    for _ in range(int(steps)):
        x, y = _pair(fn(x.copy(), y.copy(), B.copy(), float(lr)), dx, dy)
        xs.append(x.copy())
        ys.append(y.copy())
    return {"x": np.array(xs), "y": np.array(ys)}


def ogda_one(fn, *, x, y, x_prev, y_prev, B, lr):
    """Driver: one optimistic GDA step; ``{"x": x_new, "y": y_new}``."""
    B, dx, dy = _shapes(B, x, y)
    args = [np.array(v, dtype=np.float64) for v in (x, y, x_prev, y_prev)]
    xn, yn = _pair(fn(*args, B.copy(), float(lr)), dx, dy)
    return {"x": xn, "y": yn}


def ogda_run(fn, *, B, x0, y0, lr, steps):
    """Driver: ``steps`` optimistic GDA steps, the first with ``z_{-1} = z_0`` (= a GDA step)."""
    B, dx, dy = _shapes(B, x0, y0)
    x, y = np.array(x0, dtype=np.float64), np.array(y0, dtype=np.float64)
    xp, yp = x.copy(), y.copy()
    xs, ys = [x.copy()], [y.copy()]
    for _ in range(int(steps)):
        xn, yn = _pair(fn(x.copy(), y.copy(), xp.copy(), yp.copy(), B.copy(), float(lr)), dx, dy)
        xp, yp, x, y = x, y, xn, yn
        xs.append(x.copy())
        ys.append(y.copy())
    return {"x": np.array(xs), "y": np.array(ys)}


def rates(fn, *, B, lr):
    """Driver of ``bilinear_rates``: ``{"eg": ρ_EG, "ogda": ρ_OGDA}``."""
    out = fn(np.array(B, dtype=np.float64), float(lr))
    if out is None:
        raise AnswerError("функция должна вернуть пару (rho_eg, rho_ogda), а вернула None")
    eg, og = as_pair(out, "(rho_eg, rho_ogda)")
    return {"eg": as_float_array(eg, "rho_eg", ()), "ogda": as_float_array(og, "rho_ogda", ())}


# -- figure -------------------------------------------------------------------------------------

_FIG_LR, _FIG_STEPS, _FIG_Z0 = 0.3, 60, np.array([1.0, 0.5])


def _figure(kind: str) -> Figure:
    def draw(reference, student):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        lr, steps = _FIG_LR, _FIG_STEPS
        if kind == "eg":
            name, lib = "экстраградиент", "games.extragradient"
        else:
            name, lib = "оптимистичный GDA", "games.optimistic_gda"
        ref = np.column_stack([reference["x"][:, 0], reference["y"][:, 0]])
        mine = np.column_stack([student["x"][:, 0], student["y"][:, 0]])
        fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.1,
                            subplot_titles=("траектория на плоскости (x, y)", "‖z<sub>k</sub>‖, логарифмическая шкала"))
        k = np.arange(steps + 1)
        for pts, label, color, width in ((ref, f"эталон: {lib}", "#1f77b4", 4), (mine, "ваша реализация", "#ff7f0e", 2)):
            fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="lines+markers", name=label, legendgroup=label,
                                     line=dict(color=color, width=width), marker=dict(size=4)), row=1, col=1)
            norms = np.linalg.norm(pts, axis=1)
            fig.add_trace(go.Scatter(x=k, y=np.where(np.isfinite(norms) & (norms > 0), norms, np.nan), mode="lines",
                                     name=label, legendgroup=label, showlegend=False,
                                     line=dict(color=color, width=width)), row=1, col=2)
        fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", name="равновесие",
                                 marker=dict(symbol="star", size=14, color="black")), row=1, col=1)
        fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=1)
        fig.update_yaxes(type="log", row=1, col=2)
        fig.update_xaxes(title_text="шаг k", row=1, col=2)
        fig.update_layout(title=f"{name.capitalize()} на игре xy (B = 1): η = {lr}, {steps} шагов", height=440,
                          legend=dict(orientation="h", y=-0.15, x=0.0))
        return fig
    inputs = dict(B=[[1.0]], x0=_FIG_Z0[:1], y0=_FIG_Z0[1:], lr=_FIG_LR, steps=_FIG_STEPS)
    return Figure("eg_run" if kind == "eg" else "ogda_run", inputs, draw)


# -- public checks ------------------------------------------------------------------------------

_B2 = np.array([[1.0, 0.5], [-0.3, 0.8]])
_B23 = np.array([[0.6, -1.0, 0.2], [0.4, 0.3, -0.7]])

EXERCISE = Exercise(
    id="08-1-ekstragradient",
    title="Экстраградиент и оптимистичный GDA на билинейной игре",
    tasks=[
        Task("extragradient_step", "Шаг экстраградиента для min_x max_y xᵀBy",
             {"eg_one": eg_one, "eg_run": eg_run}, [
                 Check("extragradient_step", "один шаг, B 2×2", "eg_one",
                       dict(x=[1.0, -0.5], y=[0.3, 0.7], B=_B2, lr=0.2), rtol=1e-9,
                       hint="пробная точка: x½ = x − ηBy, y½ = y + ηBᵀx; игрок y поднимается (знак +)"),
                 Check("extragradient_step", "игра xy из лекции (B = 1), 20 шагов", "eg_run",
                       dict(B=[[1.0]], x0=[1.0], y0=[0.5], lr=0.3, steps=20), steps=True,
                       hint="настоящий шаг делается из исходной точки (x, y), но с полем в пробной точке"),
                 Check("extragradient_step", "прямоугольная B 2×3, 15 шагов", "eg_run",
                       dict(B=_B23, x0=[0.5, -1.0], y0=[1.0, 0.2, -0.4], lr=0.4, steps=15), steps=True, weight=2,
                       hint="∇ₓ(xᵀBy) = By, ∇_y(xᵀBy) = Bᵀx; следите за транспонированием"),
             ], figure=_figure("eg"), forbid=STEP_RULES),
        Task("optimistic_gda_step", "Шаг оптимистичного GDA для min_x max_y xᵀBy",
             {"ogda_one": ogda_one, "ogda_run": ogda_run}, [
                 Check("optimistic_gda_step", "первый шаг (прошлая точка = текущей)", "ogda_one",
                       dict(x=[1.0, -0.5], y=[0.3, 0.7], x_prev=[1.0, -0.5], y_prev=[0.3, 0.7], B=_B2, lr=0.2),
                       rtol=1e-9, hint="при z₋₁ = z₀ шаг совпадает с обычным GDA: x − ηBy, y + ηBᵀx"),
                 Check("optimistic_gda_step", "шаг с прошлой точкой", "ogda_one",
                       dict(x=[0.4, 0.1], y=[-0.2, 0.5], x_prev=[0.6, -0.3], y_prev=[0.1, 0.9], B=_B2, lr=0.25),
                       rtol=1e-9, hint="z⁺ = z − 2ηF(z) + ηF(z_prev): текущее поле удвоено, прошлое вычитается"),
                 Check("optimistic_gda_step", "прямоугольная B 2×3, 15 шагов", "ogda_run",
                       dict(B=_B23, x0=[0.5, -1.0], y0=[1.0, 0.2, -0.4], lr=0.3, steps=15), steps=True, weight=2,
                       hint="поле прошлой точки считается в z_{k−1}, а не в пробной точке"),
             ], figure=_figure("ogda"), forbid=STEP_RULES),
        Task("bilinear_rates", "Множители сходимости через сингулярные числа B",
             {"rates": rates}, [
                 Check("bilinear_rates", "игра xy (B = 1), η = 0.5", "rates", dict(B=[[1.0]], lr=0.5), rtol=1e-8,
                       hint="для xy: экстраградиент √(1 − η² + η⁴); у OGDA — наибольший модуль корня "
                            "r² − (1 + 2iη)r + iη = 0"),
                 Check("bilinear_rates", "диагональная B, η = 0.3", "rates", dict(B=np.diag([2.0, 0.5]), lr=0.3),
                       rtol=1e-8, hint="каждое сингулярное число σ даёт игру xy с шагом ησ; нужен худший (наибольший) "
                                       "множитель, и это не обязательно σ_max"),
             ], forbid=RATE_RULES),
    ],
)
