r"""Helpers of lecture 08 «Седловые задачи: Mirror-Prox и оптимистичные методы».

Bilinear game :math:`\min_x\max_y xy` (the methods themselves live in :mod:`optviz.problems.games`):

* :func:`bilinear_runs` — GDA, extragradient and optimistic GDA from one start;
* :func:`ogda_closed_form` — an independent closed form of OGDA: with :math:`w = x + iy` the field is
  :math:`F \leftrightarrow -i\,w`, so :math:`w_{k+1} = (1 + 2i\eta)w_k - i\eta w_{k-1}`,
  :math:`w_1 = (1 + i\eta)w_0`, and :math:`w_k = c_1 r_1^k + c_2 r_2^k` with :math:`r_{1,2}` the
  roots of :math:`r^2 - (1 + 2i\eta)r + i\eta = 0` (:math:`w_k = (a + bk)r^k` for the double root at η = ½);
* :func:`rate_table` — the measured per-step factor of :math:`\|z_k\|` against the exact rates
  :math:`\sqrt{1+\eta^2}`, :math:`\sqrt{1-\eta^2+\eta^4}` and :math:`\max|r_{1,2}|`;
* :func:`bilinear_figure`, :func:`bilinear_explorer` — spirals in the plane and :math:`\|z_k\|` with the
  theoretical rates drawn over the measurements.

Matrix games on simplices:

* :func:`game_runs` — multiplicative weights (MW), optimistic MW and mirror-prox from one start;
* :func:`mw_theory_check` — MW's potential :math:`\mathrm{KL}(x^*\|x_t) + \mathrm{KL}(y^*\|y_t)` never
  decreases, while the gap of the averages obeys the regret bound
  :math:`\mathrm{gap}(\bar x_T, \bar y_T) \le \frac{\ln(1/\min x_0) + \ln(1/\min y_0)}{\eta T} + \frac{\eta\,s^2}{4}`,
  :math:`s = \max A - \min A`;
* :func:`game_figure`, :func:`game_explorer`.

The KL mirror step and DRO with KL regularisation:

* :func:`softmax_form`, :func:`mirror_step_check` — :math:`\mathrm{MD}` equals
  :math:`\mathrm{softmax}(\log\pi + \eta g)` and the argmax of
  :math:`\langle g,\pi\rangle - \tau\mathrm{KL}(\pi\|\hat\pi) - \frac1\eta\mathrm{KL}(\pi\|\pi_t)` (SciPy);
* :func:`project_simplex`, :func:`mirror_step_figure` — the KL step against the Euclidean projected step;
* :func:`dro_inner` — :math:`\max_\pi \sum_g\pi_gF_g - \tau\mathrm{KL}(\pi\|\hat\pi) = \tau\log\sum_g\hat\pi_g e^{F_g/\tau}`,
  :math:`\pi^\star\propto\hat\pi e^{F/\tau}`; τ = 0 gives :math:`\max_g F_g`;
* :func:`inner_mirror_ascent` — the mirror step iterated at a fixed θ: the centred log-weights approach
  those of :math:`\pi^\star` by exactly the factor :math:`1/(1+\eta\tau)` per step;
* :func:`dro_path`, :func:`dro_figure`, :func:`dro_explorer` — :math:`\theta^\star(\tau)` from ERM (τ → ∞)
  to the worst case (τ → 0) on :class:`~optviz.problems.dro_toy.DROToy`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .._cache import LRUCache
from .._checks import check_choice, check_int, check_probability_vector, check_range
from ..optim._functional import kl_mirror_step
from ..problems.dro_toy import DROToy
from ..problems.games import (
    MatrixGame,
    extragradient,
    extragradient_rate,
    gda,
    gda_rate,
    matching_pennies,
    mirror_prox,
    multiplicative_weights,
    ogda_rate,
    optimistic_gda,
    optimistic_mw,
    rock_paper_scissors,
)
from ..viz._plotly import LAYOUT_DEFAULTS
from ..viz._style import PALETTE, fmt_num
from ..widgets._base import Explorer, log_slider

__all__ = [
    "BILINEAR_METHODS", "bilinear_runs", "ogda_closed_form", "theory_rate", "measured_rate", "rate_table",
    "bilinear_figure", "bilinear_explorer",
    "GAMES", "GAME_METHODS", "make_game", "game_runs", "mw_theory_check", "game_figure", "game_explorer",
    "softmax_form", "mirror_step_check", "project_simplex", "mirror_step_figure",
    "dro_inner", "inner_mirror_ascent", "dro_path", "dro_figure", "dro_explorer",
]

DEFAULT_Z0 = (1.0, 0.5)

#: bilinear methods: key → (Russian label, trajectory function, colour)
BILINEAR_METHODS = OrderedDict([
    ("gda", ("одновременный GDA", gda, PALETTE[3])),
    ("extragradient", ("экстраградиент", extragradient, PALETTE[0])),
    ("ogda", ("оптимистичный GDA", optimistic_gda, PALETTE[2])),
])

#: a trajectory is cut (and called diverging) once ‖z_k‖ exceeds this multiple of ‖z_0‖
BLOWUP = 1e4




# ---------------------------------------------------------------------------------------------
# bilinear game min_x max_y xy
# ---------------------------------------------------------------------------------------------
def _check_z0(z0) -> np.ndarray:
    z = np.asarray(z0, dtype=np.float64)
    if z.shape != (2,) or not np.isfinite(z).all() or not np.any(z):
        raise ValueError(f"Стартовая точка z0 должна быть ненулевой конечной парой (x, y), получено {z0!r}.")
    return z


def bilinear_runs(lr: float, steps: int, z0=DEFAULT_Z0, methods: Sequence[str] | None = None) -> dict:
    r"""Trajectories ``(steps+1, 2)`` of the chosen methods (default all of :data:`BILINEAR_METHODS`)
    on :math:`f(x, y) = xy` from ``z0``, all with the step η = ``lr``."""
    check_range("lr (шаг η)", lr, 0.0, low_open=True)
    check_int("steps", steps, 1, 100_000)
    z = _check_z0(z0)
    methods = list(BILINEAR_METHODS) if methods is None else list(methods)
    for m in methods:
        check_choice("method", m, list(BILINEAR_METHODS))
    with np.errstate(over="ignore", invalid="ignore"):
        return {m: BILINEAR_METHODS[m][1](z, lr, steps) for m in methods}


def ogda_closed_form(lr: float, steps: int, z0=DEFAULT_Z0) -> dict:
    r"""OGDA on :math:`xy` solved in closed form (independent of :func:`~optviz.problems.games.optimistic_gda`).

    :math:`w_k = x_k + i y_k` obeys :math:`w_{k+1} = (1 + 2i\eta)w_k - i\eta w_{k-1}`,
    :math:`w_1 = (1 + i\eta)w_0`; hence :math:`w_k = c_1r_1^k + c_2r_2^k` with
    :math:`r^2 - (1 + 2i\eta)r + i\eta = 0` (discriminant :math:`1 - 4\eta^2`: a double root
    :math:`r = (1+i)/2` at η = ½, where :math:`w_k = (a + bk)r^k`).

    Returns ``roots`` (largest modulus first), ``coef`` (:math:`c_1, c_2` or :math:`a, b`),
    ``double`` (bool), ``points`` ``(steps+1, 2)`` and ``norms`` ``(steps+1,)``.
    """
    check_range("lr (шаг η)", lr, 0.0, low_open=True)
    check_int("steps", steps, 0, 100_000)
    z = _check_z0(z0)
    w0 = complex(z[0], z[1])
    w1 = (1 + 1j * lr) * w0
    disc = np.sqrt(complex(1 - 4 * lr * lr))
    b = 1 + 2j * lr
    r1, r2 = (b + disc) / 2, (b - disc) / 2
    if abs(r1) < abs(r2):
        r1, r2 = r2, r1
    k = np.arange(steps + 1)
    double = abs(r1 - r2) < 1e-9
    with np.errstate(over="ignore", invalid="ignore"):
        if double:
            a, bb = w0, w1 / r1 - w0
            w = (a + bb * k) * r1 ** k
            coef = np.array([a, bb])
        else:
            c2 = (w1 - r1 * w0) / (r2 - r1)
            c1 = w0 - c2
            w = c1 * r1 ** k + c2 * r2 ** k
            coef = np.array([c1, c2])
    return dict(roots=np.array([r1, r2]), coef=coef, double=bool(double),
                points=np.stack([w.real, w.imag], -1), norms=np.abs(w))


def theory_rate(method: str, lr: float) -> float:
    """The exact per-step factor of ``method`` on :math:`xy` (library functions of :mod:`optviz.problems.games`)."""
    check_choice("method", method, list(BILINEAR_METHODS))
    return {"gda": gda_rate, "extragradient": extragradient_rate, "ogda": ogda_rate}[method](lr)


def measured_rate(norms, tail: float = 0.5) -> float:
    r"""Per-step factor measured on the last ``tail`` of a run: :math:`(\|z_K\|/\|z_{K-m}\|)^{1/m}`."""
    n = np.asarray(norms, dtype=np.float64)
    check_range("tail", tail, 0.0, 1.0, low_open=True)
    K = len(n) - 1
    m = max(1, int(round(tail * K)))
    if K < 1 or not (np.isfinite(n[K]) and n[K - m] > 0):
        return float("nan")
    return float((n[K] / n[K - m]) ** (1.0 / m))


def rate_table(lrs: Sequence[float] = (0.1, 0.3, 0.8), steps: int = 200, z0=DEFAULT_Z0) -> list[dict]:
    """Rows ``method, lr, measured, theory`` — the measured per-step factor of ‖z_k‖ (second half of
    the run) against the exact rate, for every method and every step in ``lrs``."""
    rows = []
    for lr in lrs:
        runs = bilinear_runs(lr, steps, z0)
        for m, traj in runs.items():
            rows.append(dict(method=m, label=BILINEAR_METHODS[m][0], lr=float(lr),
                             measured=measured_rate(_norms(traj)), theory=theory_rate(m, lr)))
    return rows


def _norms(traj: np.ndarray) -> np.ndarray:
    """‖z_k‖ of a trajectory; overflow of a diverging run gives inf (no warning)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.hypot(traj[..., 0], traj[..., 1])


def _cut(norms: np.ndarray, limit: float) -> int:
    """Number of leading entries kept: up to the first non-finite or > limit value."""
    bad = ~np.isfinite(norms) | (norms > limit)
    return int(np.argmax(bad)) if bad.any() else len(norms)


def bilinear_figure(lr: float, steps: int = 150, z0=DEFAULT_Z0, methods: Sequence[str] | None = None) -> go.Figure:
    r"""Left: the paths :math:`z_k` in the plane; right: :math:`\|z_k\|` (log) with the theoretical rates
    dashed — :math:`\|z_0\|\rho^k` for GDA and extragradient (exact), and for OGDA the line of slope
    :math:`\rho = \max|r_{1,2}|` through the last point (the rate is asymptotic). Runs beyond
    :data:`BLOWUP`·‖z₀‖ are cut and called diverging."""
    runs = bilinear_runs(lr, steps, z0, methods)
    z = _check_z0(z0)
    n0 = float(np.linalg.norm(z))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.09,
                        subplot_titles=("траектории z<sub>k</sub> = (x<sub>k</sub>, y<sub>k</sub>)",
                                        "‖z<sub>k</sub>‖: сплошные — измерено, пунктир — теория"))
    k_all = np.arange(steps + 1)
    notes = []
    for m, traj in runs.items():
        label, _, color = BILINEAR_METHODS[m]
        norms = _norms(traj)
        keep = _cut(norms, BLOWUP * n0)
        rho = theory_rate(m, lr)
        fig.add_trace(go.Scatter(x=traj[:keep, 0], y=traj[:keep, 1], mode="lines", name=label, legendgroup=m,
                                 line=dict(color=color, width=1.6)), row=1, col=1)
        fig.add_trace(go.Scatter(x=k_all[:keep], y=norms[:keep], mode="lines", name=label, legendgroup=m,
                                 showlegend=False, line=dict(color=color, width=2.5)), row=1, col=2)
        if m == "ogda":
            anchor = keep - 1
            with np.errstate(over="ignore"):
                theory = norms[anchor] * rho ** (k_all - anchor)
            tname = f"теория OGDA: наклон ρ = {rho:.5f}"
        else:
            with np.errstate(over="ignore"):
                theory = n0 * rho ** k_all
            tname = f"теория: ‖z₀‖·{rho:.5f}<sup>k</sup>"
        tkeep = _cut(theory, BLOWUP * n0)
        fig.add_trace(go.Scatter(x=k_all[:tkeep], y=theory[:tkeep], mode="lines", name=tname, legendgroup=m,
                                 showlegend=False, hovertemplate=tname + "<extra></extra>",
                                 line=dict(color="black", width=1.2, dash="dash")), row=1, col=2)
        if keep <= steps:
            verdict = f"расходится (‖z‖ > 10⁴·‖z₀‖ на шаге {keep})"
        elif rho < 1:
            verdict = f"сходится, ×{rho:.5f} за шаг"
        else:
            verdict = f"расходится, ×{rho:.5f} за шаг"
        notes.append(f"{label}: {verdict}")
    R = 2.2 * n0
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=dict(text=f"Игра min<sub>x</sub> max<sub>y</sub> xy, шаг η = {fmt_num(lr)}, {steps} шагов"
                                 f"<br><sup>{'; '.join(notes)}</sup>"),
                      height=470, margin=dict(t=105, b=50),
                      legend=dict(orientation="h", yanchor="top", y=-0.13, x=0))
    fig.update_xaxes(range=[-R, R], title_text="x (минимизирует)", row=1, col=1, zeroline=True)
    fig.update_yaxes(range=[-R, R], title_text="y (максимизирует)", row=1, col=1, scaleanchor="x", scaleratio=1)
    fig.update_xaxes(title_text="итерация k", row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="power", title_text="‖z<sub>k</sub>‖", row=1, col=2)
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", name="седловая точка (0, 0)",
                             marker=dict(symbol="x", size=11, color="black")), row=1, col=1)
    return fig


def bilinear_explorer(lr: float = 0.2, steps: int = 150, z0=DEFAULT_Z0) -> Explorer:
    """Sliders: the step η (log scale), the method (all three or one) and the number of steps;
    the figure is :func:`bilinear_figure`."""
    z = _check_z0(z0)
    c = OrderedDict()
    c["lr"] = log_slider(float(lr), 0.02, 1.5, "шаг η", readout_format=".3g", steps=40)
    c["method"] = W.Dropdown(options=[("все три", "all")] + [(v[0], k) for k, v in BILINEAR_METHODS.items()],
                             value="all", description="метод", style={"description_width": "initial"})
    c["steps"] = W.IntSlider(value=int(steps), min=20, max=400, step=10, description="число шагов",
                             style={"description_width": "initial"}, continuous_update=False)

    def build(params):
        m = params["method"]
        methods = None if m == "all" else [m]
        return bilinear_figure(float(params["lr"]), int(params["steps"]), z, methods)

    return Explorer(c, build, static_values={"lr": [0.05, 0.2, 0.5, 0.7, 1.2]})


# ---------------------------------------------------------------------------------------------
# matrix games on simplices
# ---------------------------------------------------------------------------------------------
#: games of the lecture: key → (factory, default off-equilibrium start x0, y0)
GAMES = OrderedDict([
    ("rps", (rock_paper_scissors, (0.6, 0.3, 0.1), (0.2, 0.5, 0.3))),
    ("pennies", (matching_pennies, (0.8, 0.2), (0.35, 0.65))),
])

#: game methods: key → (Russian label, solver, colour)
GAME_METHODS = OrderedDict([
    ("mw", ("мультипликативные веса (MW)", multiplicative_weights, PALETTE[3])),
    ("omw", ("оптимистичные MW", optimistic_mw, PALETTE[2])),
    ("mirror_prox", ("Mirror-Prox", mirror_prox, PALETTE[1])),
])


def make_game(game) -> tuple[MatrixGame, np.ndarray, np.ndarray]:
    """``(game, x0, y0)`` for a key of :data:`GAMES` (or a :class:`MatrixGame` with uniform-ish starts)."""
    if isinstance(game, MatrixGame):
        m, n = game.shape
        x0 = np.linspace(2.0, 1.0, m)
        y0 = np.linspace(1.0, 2.0, n)
        return game, x0 / x0.sum(), y0 / y0.sum()
    check_choice("game", game, list(GAMES))
    factory, x0, y0 = GAMES[game]
    return factory(), np.array(x0), np.array(y0)


def game_runs(game="rps", lr: float = 0.3, steps: int = 300, x0=None, y0=None,
              methods: Sequence[str] | None = None) -> dict:
    """:class:`~optviz.problems.games.GameTrace` of every chosen method (default all three), same start."""
    g, dx, dy = make_game(game)
    check_range("lr (шаг η)", lr, 0.0, low_open=True)
    check_int("steps", steps, 1, 100_000)
    methods = list(GAME_METHODS) if methods is None else list(methods)
    for m in methods:
        check_choice("method", m, list(GAME_METHODS))
    x0 = dx if x0 is None else x0
    y0 = dy if y0 is None else y0
    with np.errstate(all="ignore"):
        return {m: GAME_METHODS[m][1](g, x0, y0, lr=lr, steps=steps) for m in methods}


def mw_theory_check(game="rps", lr: float = 0.1, steps: int = 500, x0=None, y0=None) -> dict:
    r"""Two facts about simultaneous MW, measured.

    * ``kl_min_increment`` — :math:`\min_t [\Phi_{t+1} - \Phi_t]` for
      :math:`\Phi_t = \mathrm{KL}(x^*\|x_t) + \mathrm{KL}(y^*\|y_t)`: by Jensen,
      :math:`\Phi_{t+1} - \Phi_t \ge \eta(x^{*\top}Ay_t - x_t^\top Ay^*) = 0` for an interior equilibrium,
      so MW never gets closer to it;
    * ``gap_avg`` — the duality gap of the averages :math:`\bar x_T = \frac1T\sum_{t<T}x_t` (same for y)
      against ``bound`` = :math:`\frac{\ln(1/\min x_0) + \ln(1/\min y_0)}{\eta T} + \frac{\eta s^2}{4}`
      (Hedge regret of both players, Hoeffding's lemma for losses in a range of width s = max A − min A).

    Also ``gap_first``/``gap_last`` of the last iterate and ``kl_first``/``kl_last``.
    """
    g, dx, dy = make_game(game)
    x0 = dx if x0 is None else np.asarray(x0, dtype=np.float64)
    y0 = dy if y0 is None else np.asarray(y0, dtype=np.float64)
    tr = game_runs(g, lr, steps, x0, y0, methods=["mw"])["mw"]
    xbar, ybar = tr.x[:steps].mean(0), tr.y[:steps].mean(0)
    span = float(g.A.max() - g.A.min())
    bound = (math.log(1 / float(np.min(x0))) + math.log(1 / float(np.min(y0)))) / (lr * steps) + lr * span ** 2 / 4
    return dict(kl_min_increment=float(np.diff(tr.kl).min()), kl_first=float(tr.kl[0]), kl_last=float(tr.kl[-1]),
                gap_first=float(tr.gap[0]), gap_last=float(tr.gap[-1]), gap_avg=float(g.gap(xbar, ybar)),
                bound=bound)


_TRI = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])   # vertices of strategies 1, 2, 3


def _barycentric(p: np.ndarray) -> np.ndarray:
    return np.asarray(p) @ _TRI


def game_figure(game="rps", lr: float = 0.3, steps: int = 300, methods: Sequence[str] | None = None) -> go.Figure:
    r"""Left: the trajectory on the simplex (two strategies: the point :math:`(x_1, y_1)` in the unit
    square; three: the row player's :math:`x_t` in the triangle), equilibrium ★. Right: the duality gap
    of the last iterate (solid) and of the running average (dotted), log scale."""
    g, _, _ = make_game(game)
    runs = game_runs(game, lr, steps, methods=methods)
    m_, n_ = g.shape
    two = m_ == 2 and n_ == 2
    left = ("(x₁, y₁): доли первой стратегии у игроков" if two
            else "x<sub>t</sub> на симплексе (стратегии игрока x)")
    fig = make_subplots(rows=1, cols=2, column_widths=[0.42, 0.58], horizontal_spacing=0.09,
                        subplot_titles=(left, "зазор двойственности (сплошные — x<sub>t</sub>, точки — среднее)"))
    if not two:
        tri = np.vstack([_TRI, _TRI[:1]])
        fig.add_trace(go.Scatter(x=tri[:, 0], y=tri[:, 1], mode="lines", line=dict(color="#999", width=1),
                                 showlegend=False, hoverinfo="skip"), row=1, col=1)
        names = ["камень", "ножницы", "бумага"] if g.name == "rock_paper_scissors" else ["1", "2", "3"]
        fig.add_trace(go.Scatter(x=_TRI[:, 0], y=_TRI[:, 1] + np.array([-0.06, -0.06, 0.05]), mode="text",
                                 text=names, showlegend=False, hoverinfo="skip"), row=1, col=1)
    star = (np.array([g.x_star[0]]), np.array([g.y_star[0]])) if two else tuple(_barycentric(g.x_star)[:, None])
    k = np.arange(steps + 1)
    notes = []
    for m, tr in runs.items():
        label, _, color = GAME_METHODS[m]
        px, py = (tr.x[:, 0], tr.y[:, 0]) if two else tuple(_barycentric(tr.x).T)
        fig.add_trace(go.Scatter(x=px, y=py, mode="lines", name=label, legendgroup=m,
                                 line=dict(color=color, width=1.4)), row=1, col=1)
        fig.add_trace(go.Scatter(x=px[-1:], y=py[-1:], mode="markers", showlegend=False, legendgroup=m,
                                 marker=dict(color=color, size=9), hoverinfo="skip"), row=1, col=1)
        gap = np.clip(tr.gap, 1e-16, None)
        gap_avg = np.clip(tr.gap_avg, 1e-16, None)
        fig.add_trace(go.Scatter(x=k, y=gap, mode="lines", name=label, legendgroup=m, showlegend=False,
                                 line=dict(color=color, width=2.3)), row=1, col=2)
        fig.add_trace(go.Scatter(x=k, y=gap_avg, mode="lines", name=label + " (среднее)", legendgroup=m,
                                 showlegend=False, line=dict(color=color, width=1.5, dash="dot")), row=1, col=2)
        trend = "растёт" if tr.gap[-1] > tr.gap[0] else ("убывает" if tr.gap[-1] < 0.5 * tr.gap[0] else "почти не меняется")
        notes.append(f"{label}: зазор {fmt_num(tr.gap[0])} → {fmt_num(max(tr.gap[-1], 0.0))} ({trend})")
    fig.add_trace(go.Scatter(x=star[0], y=star[1], mode="markers", name="равновесие",
                             marker=dict(symbol="star", size=15, color="black")), row=1, col=1)
    fig.add_trace(go.Scatter(x=[0], y=[float(np.clip(g.gap(*make_game(game)[1:]), 1e-16, None))], mode="markers",
                             marker=dict(size=7, color="black"), name="старт", showlegend=False), row=1, col=2)
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=dict(text=f"{g.title}: η = {fmt_num(lr)}, {steps} шагов"
                                 f"<br><sup>{'; '.join(notes)}</sup>"),
                      height=480, margin=dict(t=110, b=50),
                      legend=dict(orientation="h", yanchor="top", y=-0.13, x=0))
    if two:
        fig.update_xaxes(range=[-0.02, 1.02], title_text="x₁", row=1, col=1)
        fig.update_yaxes(range=[-0.02, 1.02], title_text="y₁", row=1, col=1, scaleanchor="x", scaleratio=1)
    else:
        fig.update_xaxes(range=[-0.08, 1.08], visible=False, row=1, col=1)
        fig.update_yaxes(range=[-0.12, 0.95], visible=False, row=1, col=1, scaleanchor="x", scaleratio=1)
    fig.update_xaxes(title_text="итерация t", row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="power", title_text="зазор", range=[-16.5, 0.8], row=1, col=2)
    return fig


def game_explorer(game: str = "rps", lr: float = 0.3, steps: int = 300) -> Explorer:
    """Controls: the game, the method (all three or one), the step η (log) and the number of steps."""
    wide = {"description_width": "initial"}
    c = OrderedDict()
    c["lr"] = log_slider(float(lr), 0.01, 2.0, "шаг η", readout_format=".3g", steps=46)
    c["game"] = W.Dropdown(options=[("камень, ножницы, бумага", "rps"), ("орлянка", "pennies")],
                           value=check_choice("game", game, list(GAMES)), description="игра", style=wide)
    c["method"] = W.Dropdown(options=[("все три", "all")] + [(v[0], k) for k, v in GAME_METHODS.items()],
                             value="all", description="метод", style=wide)
    c["steps"] = W.IntSlider(value=int(steps), min=50, max=1000, step=50, description="число шагов", style=wide,
                             continuous_update=False)

    def build(params):
        m = params["method"]
        return game_figure(params["game"], float(params["lr"]), int(params["steps"]), None if m == "all" else [m])

    return Explorer(c, build, static_values={"lr": [0.03, 0.1, 0.3, 0.6, 1.0, 1.5]})


# ---------------------------------------------------------------------------------------------
# the KL mirror step
# ---------------------------------------------------------------------------------------------
def softmax_form(pi, g, lr) -> torch.Tensor:
    r""":math:`\mathrm{softmax}(\log\pi + \eta g)` — the mirror *ascent* step along the gain ``g``."""
    p = check_probability_vector("pi", pi, strict=True)
    check_range("lr (шаг η)", lr, 0.0)
    return torch.softmax(torch.log(p) + lr * torch.as_tensor(g, dtype=torch.float64), -1)


def _argmax_scipy(pi, g, lr, tau, prior) -> np.ndarray:
    """argmax over the simplex of ⟨g, π⟩ − KL(π‖π_t)/η − τ KL(π‖π̂) by SLSQP in the logits."""
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    pi, g, prior = (np.asarray(v, dtype=np.float64) for v in (pi, g, prior))

    def neg(u):
        logq = log_softmax(u)
        q = np.exp(logq)
        return -(q @ g - (q @ (logq - np.log(pi))) / lr - tau * (q @ (logq - np.log(prior))))

    res = minimize(neg, np.log(pi), method="BFGS", options={"gtol": 1e-12, "maxiter": 5000})
    q = np.exp(log_softmax(res.x))
    return q


def mirror_step_check(pi, g, lr: float, tau: float = 0.0, prior=None) -> dict:
    r"""The library's :func:`~optviz.optim._functional.kl_mirror_step` against two independent forms.

    The step ascends the gain ``g`` (the library descends ``h = -g``):
    :math:`\pi^+ = \arg\max_{q\in\Delta}\ \langle g, q\rangle - \tau\mathrm{KL}(q\|\hat\pi) - \tfrac1\eta\mathrm{KL}(q\|\pi)
    = \mathrm{softmax}\big((\log\pi + \eta\tau\log\hat\pi + \eta g)/(1+\eta\tau)\big)`.
    Returns ``library``, ``softmax`` (the formula) and ``argmax`` (BFGS over the logits) and the largest
    absolute differences ``diff_softmax``, ``diff_argmax``.
    """
    p = check_probability_vector("pi", pi, strict=True)
    G = p.numel()
    check_range("lr (шаг η)", lr, 0.0, low_open=True)
    check_range("tau", tau, 0.0)
    q = check_probability_vector("prior", np.full(G, 1.0 / G) if prior is None else prior, G, strict=True)
    gt = torch.as_tensor(np.asarray(g, dtype=np.float64))
    if gt.shape != (G,) or not torch.isfinite(gt).all():
        raise ValueError(f"Вектор выигрышей g должен быть конечным и иметь длину {G}, получено {g!r}.")
    lib = kl_mirror_step(p, -gt, lr, decay=tau, prior=q)
    formula = torch.softmax((torch.log(p) + lr * tau * torch.log(q) + lr * gt) / (1 + lr * tau), -1)
    arg = _argmax_scipy(p.numpy(), gt.numpy(), lr, tau, q.numpy())
    return dict(library=lib.numpy(), softmax=formula.numpy(), argmax=arg,
                diff_softmax=float((lib - formula).abs().max()), diff_argmax=float(np.abs(lib.numpy() - arg).max()))


def project_simplex(v) -> np.ndarray:
    r"""Euclidean projection onto the simplex: :math:`\max(v - \theta, 0)` with θ chosen so the sum is 1
    (sort-based algorithm)."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.isfinite(v).all():
        raise ValueError(f"Вектор v должен быть конечным и одномерным, получено {v!r}.")
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    idx = np.arange(1, v.size + 1)
    rho = np.nonzero(u - css / idx > 0)[0][-1]
    theta = css[rho] / (rho + 1)
    return np.maximum(v - theta, 0.0)


def mirror_step_figure(pi, g, lrs: Sequence[float] = (0.1, 0.5, 2.0)) -> go.Figure:
    r"""Bars: the current π, the KL (mirror) step :math:`\mathrm{softmax}(\log\pi + \eta g)` and the Euclidean
    step :math:`\mathrm{proj}_\Delta(\pi + \eta g)` for every η in ``lrs``; the caption counts the
    weights the Euclidean step sets to exactly zero."""
    p = check_probability_vector("pi", pi, strict=True).numpy()
    g = np.asarray(g, dtype=np.float64)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.05,
                        subplot_titles=("KL-шаг: softmax(log π + η g)", "евклидов шаг: proj<sub>Δ</sub>(π + η g)"))
    xs = [f"группа {i + 1}<br>g = {fmt_num(v, 2)}" for i, v in enumerate(g)]
    zeros = []
    for col in (1, 2):
        fig.add_trace(go.Bar(x=xs, y=p, name="текущие π", marker_color="#bbbbbb", showlegend=col == 1,
                             legendgroup="now"), row=1, col=col)
    for i, lr in enumerate(lrs):
        color = PALETTE[(i + 1) % len(PALETTE)]
        kl = softmax_form(p, g, lr).numpy()
        eu = project_simplex(p + lr * g)
        zeros.append(int((eu == 0).sum()))
        fig.add_trace(go.Bar(x=xs, y=kl, name=f"η = {fmt_num(lr)}", marker_color=color, legendgroup=str(i)),
                      row=1, col=1)
        fig.add_trace(go.Bar(x=xs, y=eu, name=f"η = {fmt_num(lr)}", marker_color=color, legendgroup=str(i),
                             showlegend=False), row=1, col=2)
    fig.update_layout(**LAYOUT_DEFAULTS)
    zs = ", ".join(f"η = {fmt_num(lr)}: {z}" for lr, z in zip(lrs, zeros))
    fig.update_layout(barmode="group", height=430, margin=dict(t=100),
                      title=dict(text="Шаг по весам групп π при выигрышах g"
                                 f"<br><sup>обнулённых весов у евклидова шага — {zs}; у KL-шага — 0 всегда</sup>"),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    fig.update_yaxes(title_text="вес π<sub>g</sub>", row=1, col=1)
    return fig


# ---------------------------------------------------------------------------------------------
# DRO with KL regularisation
# ---------------------------------------------------------------------------------------------
def dro_inner(F, tau: float, prior=None) -> tuple[float, np.ndarray]:
    r"""The inner maximum :math:`\max_{\pi\in\Delta}\sum_g\pi_gF_g - \tau\mathrm{KL}(\pi\|\hat\pi)`.

    τ > 0: value :math:`\tau\log\sum_g\hat\pi_ge^{F_g/\tau}` (computed with logsumexp) and
    :math:`\pi^\star\propto\hat\pi e^{F/\tau}`; τ = 0: value :math:`\max_{g:\hat\pi_g>0}F_g` and π* uniform
    over the maximisers. Returns ``(value, pi_star)``.
    """
    from scipy.special import logsumexp, softmax

    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 1 or not np.isfinite(F).all():
        raise ValueError(f"Потери групп F должны быть конечным одномерным вектором, получено {F!r}.")
    check_range("tau", tau, 0.0)
    p = check_probability_vector("prior", np.full(F.size, 1.0 / F.size) if prior is None else prior, F.size).numpy()
    if tau > 0:
        with np.errstate(divide="ignore"):
            z = np.log(p) + F / tau
        return float(tau * logsumexp(z)), softmax(z)
    active = p > 0
    top = F[active].max()
    pi = (active & (F >= top - 1e-12)).astype(float)
    return float(top), pi / pi.sum()


def inner_mirror_ascent(F, tau: float, lr: float, steps: int = 30, prior=None, pi0=None) -> dict:
    r"""Iterate the KL mirror step at a fixed θ: :math:`\pi_{k+1} = \mathrm{MD}(\pi_k, -F)` with decay τ.

    The fixed point is :math:`\pi^\star\propto\hat\pi e^{F/\tau}` and the centred log-weights
    :math:`u_k = \log\pi_k - \mathrm{mean}(\log\pi_k)` satisfy
    :math:`u_{k+1} - u^\star = (u_k - u^\star)/(1+\eta\tau)` exactly. Returns ``pi`` ``(steps+1, G)``,
    ``dist`` = :math:`\|u_k - u^\star\|`, ``measured`` (mean per-step factor of ``dist``) and
    ``theory`` = :math:`1/(1+\eta\tau)`.
    """
    F = np.asarray(F, dtype=np.float64)
    check_range("tau", tau, 0.0, low_open=True)
    check_range("lr (шаг η)", lr, 0.0, low_open=True)
    check_int("steps", steps, 1, 10_000)
    G = F.size
    prior_t = check_probability_vector("prior", np.full(G, 1.0 / G) if prior is None else prior, G, strict=True)
    pi = check_probability_vector("pi0", np.full(G, 1.0 / G) if pi0 is None else pi0, G, strict=True)
    _, star = dro_inner(F, tau, prior_t.numpy())
    h = -torch.as_tensor(F)
    out = [pi]
    for _ in range(steps):
        pi = kl_mirror_step(pi, h, lr, decay=tau, prior=prior_t)
        out.append(pi)
    P = torch.stack(out).numpy()
    U = np.log(P)
    U -= U.mean(-1, keepdims=True)
    us = np.log(star) - np.log(star).mean()
    dist = np.linalg.norm(U - us, axis=-1)
    n = int(np.argmax(dist < 1e-12)) if (dist < 1e-12).any() else len(dist)   # stop before round-off
    n = max(n, 2)
    measured = float((dist[n - 1] / dist[0]) ** (1.0 / (n - 1)))
    return dict(pi=P, pi_star=star, dist=dist, measured=measured, theory=1.0 / (1.0 + lr * tau))


_PATH_CACHE: LRUCache = LRUCache(4)


def dro_path(problem: DROToy | None = None, taus: Sequence[float] | None = None, prior="uniform") -> dict:
    r""":math:`\theta^\star(\tau)` and :math:`\pi^\star(\tau)` over ``taus`` (default 16 values from 10⁻² to 10³),
    plus the two limits: ``erm`` — the minimiser of :math:`\sum_g\hat\pi_gF_g` (τ → ∞) and ``worst`` —
    the τ = 0 solution :math:`\min_\theta\max_gF_g`."""
    p = problem if problem is not None else DROToy()
    taus = tuple(float(t) for t in (np.geomspace(1e-2, 1e3, 16) if taus is None else taus))
    check_choice("prior", prior, ("uniform", "inverse_frequency"))

    def compute():
        sols = [p.dro_solution(t, prior) for t in taus]
        w = p.prior(prior)
        wi = w[p.group_ids]                        # Σ_g π̂_g F_g = (G/n) Σ_i π̂_{g_i} ℓ_i: a weighted quadratic
        theta = np.linalg.solve(np.einsum("i,ijk->jk", wi, p._A), np.einsum("i,ijk,ik->j", wi, p._A, p.points))
        worst = p.dro_solution(0.0, prior)
        return dict(taus=np.array(taus), theta=np.array([s.theta for s in sols]), pi=np.array([s.pi for s in sols]),
                    value=np.array([s.value for s in sols]), erm=theta, worst=worst.theta, worst_pi=worst.pi,
                    worst_value=worst.value)

    return _PATH_CACHE.get_or_compute((id(p), taus, prior), compute)


def _robust_objective(problem: DROToy, pts: np.ndarray, tau: float, prior: np.ndarray) -> np.ndarray:
    from scipy.special import logsumexp

    F = problem.group_losses(torch.as_tensor(pts)).numpy()
    if tau == 0:
        return F[..., prior > 0].max(-1)
    return tau * logsumexp(np.log(prior) + F / tau, axis=-1)


def dro_figure(tau: float, prior="uniform", problem: DROToy | None = None, *, grid: int = 60) -> go.Figure:
    r"""Left: contours of the robust objective :math:`\Phi_\tau(\theta) = \tau\log\sum_g\hat\pi_ge^{F_g(\theta)/\tau}`,
    the data of the three groups, the path :math:`\theta^\star(\tau)`, the current :math:`\theta^\star(\tau)` ★,
    the ERM point ✕ (τ → ∞) and the worst-case point ◆ (τ = 0). Right: :math:`\pi^\star(\tau)` and the group
    losses :math:`F_g(\theta^\star)`."""
    p = problem if problem is not None else DROToy()
    check_range("tau (τ)", tau, 0.0)
    w = p.prior(prior) if isinstance(prior, str) else None
    if w is None:
        raise ValueError(f"Параметр prior должен быть 'uniform' или 'inverse_frequency', получено {prior!r}.")
    path = dro_path(p, prior=prior)
    sol = p.dro_solution(float(tau), prior)
    (x0, x1), (y0, y1) = p.window
    xs, ys = np.linspace(x0, x1, grid), np.linspace(y0, y1, grid)
    X, Y = np.meshgrid(xs, ys)
    Z = _robust_objective(p, np.stack([X, Y], -1), float(tau), w)
    F_star = p.group_losses(torch.as_tensor(sol.theta)).numpy()
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.1,
                        subplot_titles=("Φ<sub>τ</sub>(θ) и решения", "π* и потери групп в θ*(τ)"))
    fig.add_trace(go.Contour(x=xs, y=ys, z=np.log10(Z - Z.min() + 1e-3), showscale=False, ncontours=22,
                             colorscale="Blues", reversescale=True, contours=dict(coloring="lines"),
                             hoverinfo="skip", name="уровни log Φ<sub>τ</sub>", showlegend=False), row=1, col=1)
    names = ["группа 1", "группа 2", "группа 3"]
    for gi in range(p.n_groups):
        pts = p.points[p.group_ids == gi]
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=f"{names[gi]} ({len(pts)} точек)",
                                 marker=dict(size=4, color=PALETTE[gi + 4], opacity=0.5)), row=1, col=1)
    fig.add_trace(go.Scatter(x=path["theta"][:, 0], y=path["theta"][:, 1], mode="lines+markers",
                             name="путь θ*(τ), τ от 10⁻² до 10³", line=dict(color="#555", dash="dot"),
                             marker=dict(size=4, color="#555")), row=1, col=1)
    fig.add_trace(go.Scatter(x=[path["erm"][0]], y=[path["erm"][1]], mode="markers",
                             name="ERM (τ → ∞)" if prior == "uniform" else "взвешенный ERM Σπ̂<sub>g</sub>F<sub>g</sub> (τ → ∞)",
                             marker=dict(symbol="x", size=12, color=PALETTE[0])), row=1, col=1)
    fig.add_trace(go.Scatter(x=[path["worst"][0]], y=[path["worst"][1]], mode="markers",
                             name="худший случай (τ = 0)", marker=dict(symbol="diamond", size=11, color=PALETTE[3])),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=[sol.theta[0]], y=[sol.theta[1]], mode="markers", name=f"θ*(τ = {fmt_num(tau)})",
                             marker=dict(symbol="star", size=17, color="black")), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=sol.pi, name="π*(τ)", marker_color=PALETTE[1]), row=1, col=2)
    fig.add_trace(go.Bar(x=names, y=w, name="априорные π̂", marker_color="#bbbbbb"), row=1, col=2)
    fig.add_trace(go.Scatter(x=names, y=F_star / max(F_star.max(), 1e-12), mode="markers+text", name="F_g(θ*) / max F",
                             text=[fmt_num(v) for v in F_star], textposition="top center",
                             marker=dict(symbol="diamond", size=10, color="black")), row=1, col=2)
    d_erm = float(np.linalg.norm(sol.theta - path["erm"]))
    d_worst = float(np.linalg.norm(sol.theta - path["worst"]))
    prior_txt = "равномерное" if prior == "uniform" else "обратное к размеру группы"
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(barmode="group", height=520, margin=dict(t=110, b=50),
                      title=dict(text=f"KL-регуляризованная DRO, τ = {fmt_num(tau)}, априорное π̂ — {prior_txt}"
                                 f"<br><sup>θ* = ({fmt_num(sol.theta[0])}, {fmt_num(sol.theta[1])}); "
                                 f"до ERM {fmt_num(d_erm)}, до худшего случая {fmt_num(d_worst)}; "
                                 f"π* = ({', '.join(fmt_num(v) for v in sol.pi)}); "
                                 f"max F<sub>g</sub>(θ*) = {fmt_num(F_star.max())}</sup>"),
                      legend=dict(orientation="h", yanchor="top", y=-0.1, x=0))
    fig.update_xaxes(range=[x0, x1], title_text="θ₁", row=1, col=1)
    fig.update_yaxes(range=[y0, y1], title_text="θ₂", row=1, col=1, scaleanchor="x", scaleratio=1)
    fig.update_yaxes(range=[0, 1.15], title_text="вес / доля", row=1, col=2)
    return fig


def dro_explorer(tau: float = 1.0, prior: str = "uniform", problem: DROToy | None = None) -> Explorer:
    """Sliders: τ (log scale, 10⁻² … 10³) and the prior π̂; the figure is :func:`dro_figure`."""
    p = problem if problem is not None else DROToy()
    c = OrderedDict()
    c["tau"] = log_slider(float(tau), 1e-2, 1e3, "τ (вес KL)", readout_format=".3g", steps=40)
    c["prior"] = W.Dropdown(options=[("равномерное", "uniform"), ("обратное к размеру группы", "inverse_frequency")],
                            value=check_choice("prior", prior, ("uniform", "inverse_frequency")),
                            description="априорное π̂", style={"description_width": "initial"})
    ex: Explorer

    def build(params):
        t, pr = float(params["tau"]), params["prior"]
        return ex.cached((round(t, 12), pr), lambda: dro_figure(t, pr, p))

    ex = Explorer(c, build, static_values={"tau": [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]})
    return ex
