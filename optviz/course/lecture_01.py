r"""Helpers of lecture 01 «Градиентный спуск и задача с конечной суммой».

::

    from optviz.course.lecture_01 import iteration_costs, gd_rates_figure, optimal_step_check

    iteration_costs(batch_size=256)       # rows: dataset, n, ∇f_i per GD / SGD iteration
    gd_rates_figure()                     # GD column of the rate table, measured: PL / convex / non-convex
    optimal_step_check((2, 10, 100))      # measured error contraction of GD at η = 2/(μ+L) vs (κ−1)/(κ+1)

Everything here calls :func:`optviz.run.run` on optviz problems; nothing is random, so the
lecture prints the same numbers on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .._checks import check_int, check_range
from ..optim.sgd import SGD
from ..problems.base import Problem
from ..problems.toys import Quadratic, Rosenbrock
from ..run import run
from ..viz._plotly import LAYOUT_DEFAULTS
from ..viz._style import PALETTE, fmt_num

__all__ = [
    "DATASETS",
    "SeparableLogistic",
    "RateRow",
    "iteration_costs",
    "cost_figure",
    "error_contraction",
    "measured_rate",
    "gd_rates_figure",
    "optimal_step_check",
    "format_rate_rows",
]

#: the slides' sizes of training sets: (name, n, what is counted)
DATASETS = (
    ("ImageNet", 1.4e7, "изображений"),
    ("WikiText", 1e8, "токенов"),
    ("FineWeb", 15e12, "токенов"),
)


# ---------------------------------------------------------------------------------------------
# cost per iteration
# ---------------------------------------------------------------------------------------------


def iteration_costs(batch_size: int = 256) -> list[dict]:
    """Cost of one GD and one mini-batch SGD iteration for the datasets of :data:`DATASETS`.

    One GD iteration evaluates all ``n`` gradients :math:`\\nabla f_i`, one SGD iteration
    ``batch_size`` of them; ``ratio`` = ``n / batch_size`` SGD iterations fit into one GD iteration.
    """
    b = check_int("batch_size", batch_size, 1)
    return [dict(name=name, n=n, unit=unit, gd=n, sgd=b, ratio=n / b) for name, n, unit in DATASETS]


def cost_figure(batch_size: int = 256, height: int = 380) -> go.Figure:
    """Bar chart (log scale): gradients :math:`\\nabla f_i` per iteration of GD vs mini-batch SGD."""
    rows = iteration_costs(batch_size)
    names = [f"{r['name']}<br>n ≈ {fmt_num(r['n'], 2)} {r['unit']}" for r in rows]
    fig = go.Figure([
        go.Bar(x=names, y=[r["gd"] for r in rows], name="GD: n градиентов ∇fᵢ за итерацию",
               marker_color=PALETTE[0], text=[fmt_num(r["gd"], 2) for r in rows], textposition="outside"),
        go.Bar(x=names, y=[r["sgd"] for r in rows], name=f"SGD с батчем {rows[0]['sgd']}: {rows[0]['sgd']} градиентов",
               marker_color=PALETTE[1], text=[str(r["sgd"]) for r in rows], textposition="outside"),
    ])
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(
        title="Стоимость одной итерации линейна по n", height=height, barmode="group",
        yaxis=dict(type="log", title="градиентов ∇fᵢ за итерацию", exponentformat="power", range=[0, 15]),
        margin=dict(l=60, r=20, t=100, b=60),
    )
    return fig


# ---------------------------------------------------------------------------------------------
# the GD column of the rate table, measured
# ---------------------------------------------------------------------------------------------


class SeparableLogistic(Problem):
    r"""The logistic loss of one correctly labelled point, :math:`f(x) = \ln(1 + e^{-x})` on :math:`\mathbb R`.

    Convex and :math:`L`-smooth with :math:`L = 1/4`, but not strongly convex and with no minimiser:
    :math:`f^* = \inf f = 0` is approached as :math:`x \to \infty` (separable data). GD with
    :math:`\eta = 1/L` gives :math:`f(x_k) \approx 1/(4k)` — the :math:`O(1/k)` of the convex row.
    """

    name = "separable_logistic"
    title = "Логистическая потеря на разделимых данных"
    formula = r"f(x) = \ln(1 + e^{-x})"
    dim = 1
    L = 0.25
    f_star = 0.0
    minimizers = np.zeros((0, 1))
    window = ((-2.0, 40.0),)
    starts = np.array([[0.0]])

    def _formula(self, x, xp):
        z = -x[..., 0]
        if xp is np:   # log(1 + e^z) without overflow
            return np.logaddexp(0.0, z)
        return torch.nn.functional.softplus(z)

    def _grad(self, x, xp):
        return -1.0 / (1.0 + xp.exp(x))

    def best_bound(self, x0: float, k: np.ndarray) -> np.ndarray:
        r"""The convex GD guarantee :math:`\min_u\, f(u) + L\,(u - x_0)^2/(2k)` (step :math:`1/L`), per ``k``."""
        u = np.linspace(x0, x0 + 60.0, 6001)
        fu = np.logaddexp(0.0, -u)
        k = np.asarray(k, dtype=float)[:, None]
        return (fu[None, :] + self.L * (u[None, :] - x0) ** 2 / (2 * k)).min(axis=1)


def gd_rates_figure(steps: int = 1000, height: int = 420) -> go.Figure:
    r"""Three panels — the GD column of the rate table, measured against the guarantees.

    * PL (strongly convex quadratic, κ = 10, η = 1/L): :math:`f_k - f^*` vs
      :math:`(1 - \mu/L)^k (f_0 - f^*)`, a straight line on a log-linear plot;
    * convex (:class:`SeparableLogistic`, η = 1/L): :math:`f_k` vs the bound
      :math:`\min_u f(u) + L(u - x_0)^2/(2k)`, log-log;
    * non-convex (Rosenbrock from (−1.2, 1), η = 7·10⁻⁴): :math:`\min_{i<k}\|\nabla f(x_i)\|^2`
      vs :math:`2(f_0 - f^*)/(\eta k)`, log-log.
    """
    K = check_int("steps", steps, 10)
    k = np.arange(K + 1)
    kk = np.arange(1, K + 1)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=(
        "PL (сильно выпуклая): линейная скорость", "выпуклая: O(1/k)", "невыпуклая: min‖∇f‖² = O(1/k)"))
    measured, bound = dict(color=PALETTE[0], width=2.5), dict(color="#555", width=1.5, dash="dash")

    q = Quadratic(kappa=10, angle_deg=30)
    tq = run(q, SGD, q.start, K, lr=1.0 / q.L)
    gq = tq.suboptimality[:, 0]
    kq = k[: 80]
    fig.add_trace(go.Scatter(x=kq, y=gq[: 80], name="измерено", line=measured, legendgroup="m"), 1, 1)
    fig.add_trace(go.Scatter(x=kq, y=(1 - q.mu / q.L) ** kq * gq[0], name="гарантия теории", line=bound,
                             legendgroup="b"), 1, 1)

    s = SeparableLogistic()
    ts = run(s, SGD, s.start, K, lr=1.0 / s.L)
    fig.add_trace(go.Scatter(x=kk, y=ts.loss[1:, 0], line=measured, showlegend=False, legendgroup="m"), 1, 2)
    fig.add_trace(go.Scatter(x=kk, y=s.best_bound(float(s.start[0]), kk), line=bound, showlegend=False,
                             legendgroup="b"), 1, 2)

    r = Rosenbrock()
    lr = 7e-4   # small enough for f(x_{k+1}) ≤ f(x_k) − η‖∇f(x_k)‖²/2 at every step of this run
    tr = run(r, SGD, r.starts[0], K, lr=lr)
    g2 = np.minimum.accumulate(tr.grad_norm[:K, 0] ** 2)
    fig.add_trace(go.Scatter(x=kk, y=g2, line=measured, showlegend=False, legendgroup="m"), 1, 3)
    fig.add_trace(go.Scatter(x=kk, y=2 * (tr.loss[0, 0] - r.f_star) / (lr * kk), line=bound, showlegend=False,
                             legendgroup="b"), 1, 3)

    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title="Градиентный спуск в трёх строках таблицы: измерение и гарантия", height=height,
                      margin=dict(l=60, r=20, t=110, b=55))
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_xaxes(title_text="итерация k", row=1, col=1)
    fig.update_xaxes(type="log", title_text="итерация k (лог. шкала)", row=1, col=2)
    fig.update_xaxes(type="log", title_text="итерация k (лог. шкала)", row=1, col=3)
    fig.update_yaxes(title_text="f(x_k) − f*", row=1, col=1)
    fig.update_yaxes(title_text="f(x_k) − inf f", row=1, col=2)
    fig.update_yaxes(title_text="min ‖∇f(x_i)‖²", row=1, col=3)
    return fig


# ---------------------------------------------------------------------------------------------
# theory check: the rate of GD with the optimal step
# ---------------------------------------------------------------------------------------------


def error_contraction(trace, x_star, run_index: int = 0) -> np.ndarray:
    r"""Per-step contraction :math:`\|x_{k+1} - x^*\| / \|x_k - x^*\|` of one run of ``trace``, shape ``(K,)``."""
    e = np.linalg.norm(trace.points[:, run_index] - np.asarray(x_star, dtype=float).reshape(1, -1), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return e[1:] / e[:-1]


def measured_rate(trace, x_star, run_index: int = 0) -> float:
    r"""Average error contraction per step over the second half of a run (the first half is the transient).

    :math:`\hat\rho = (\|e_K\| / \|e_{K_0}\|)^{1/(K - K_0)}` with :math:`K_0 = \lfloor K/2 \rfloor`,
    :math:`e_k = x_k - x^*`.
    """
    e = np.linalg.norm(trace.points[:, run_index] - np.asarray(x_star, dtype=float).reshape(1, -1), axis=1)
    K = trace.steps
    k0 = K // 2
    return float((e[K] / e[k0]) ** (1.0 / (K - k0)))


@dataclass(frozen=True)
class RateRow:
    """One row of :func:`optimal_step_check` (κ, step, theoretical and measured contraction per step)."""

    kappa: float
    lr: float
    theory: float          # (κ−1)/(κ+1)
    measured: float        # :func:`measured_rate`: average ‖e_{k+1}‖/‖e_k‖ over the second half of the run
    worst_step: float      # the largest single-step ratio of the run
    measured_1_over_L: float   # the same measurement with η = 1/L
    theory_1_over_L: float     # 1 − 1/κ

    @property
    def rel_error(self) -> float:
        return abs(self.measured - self.theory) / self.theory


def optimal_step_check(kappas=(2.0, 10.0, 100.0, 1000.0), steps: int = 50, angle_deg: float = 30.0) -> list[RateRow]:
    r"""GD with :math:`\eta^* = 2/(\mu+L)` on ``Quadratic(kappa, angle_deg)``: measured vs theoretical rate.

    For each κ the error :math:`\|x_k - x^*\|` is recorded by :func:`optviz.run.run` from the
    problem's default start; the measured rate (:func:`measured_rate`) is compared
    with :math:`(\kappa-1)/(\kappa+1)`. For contrast the same is measured with :math:`\eta = 1/L`
    (theory: :math:`1 - 1/\kappa`, slower).
    """
    K = check_int("steps", steps, 1)
    rows = []
    for kappa in kappas:
        kappa = float(check_range("kappa", kappa, 1.0, low_open=True))
        q = Quadratic(kappa=kappa, angle_deg=angle_deg)
        x_star = q.minimizers[0]
        tr = run(q, SGD, q.start, K, lr=q.optimal_step)
        tr_L = run(q, SGD, q.start, K, lr=1.0 / q.L)
        rows.append(RateRow(kappa, q.optimal_step, q.gd_rate, measured_rate(tr, x_star),
                            float(np.max(error_contraction(tr, x_star))), measured_rate(tr_L, x_star),
                            1.0 - 1.0 / kappa))
    return rows


def format_rate_rows(rows) -> str:
    """A Russian text table of :func:`optimal_step_check` rows (theory beside measurement)."""
    head = (f"{'κ':>6} | {'η* = 2/(μ+L)':>12} | {'теория (κ−1)/(κ+1)':>18} | {'измерено':>10} | "
            f"{'отн. ошибка':>11} || {'η = 1/L: теория 1−1/κ':>21} | {'измерено':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{fmt_num(r.kappa):>6} | {r.lr:>12.5f} | {r.theory:>18.6f} | {r.measured:>10.6f} | "
                     f"{r.rel_error:>11.1e} || {r.theory_1_over_L:>21.6f} | {r.measured_1_over_L:>10.6f}")
    return "\n".join(lines)

