r"""Helpers of lecture 02 «Стохастический градиентный спуск и мини-батчи».

* :func:`sgd_runs` — SGD (the course's :class:`optviz.optim.SGD`) on a finite sum for many seeds at
  once: the parameter is one ``(S, d)`` tensor, row ``s`` follows the mini-batches
  ``problem.sample_batches(steps, b, seeds[s])`` — exactly the batches :func:`optviz.run.run` and
  :func:`optviz.widgets.sgd.schedule_traces` use for that seed, so row ``s`` *is* that run, only
  computed together with the others (tested against ``run``).
* :func:`noise_floor_check` — the constant-step theorem measured: the tail average of
  :math:`f(x_k) - f^*` against the noise floor :math:`L\sigma^2\alpha/(4\mu)`, and the decreasing
  step :math:`(2k+1)/(2\mu(k+1)^2)` against :math:`L\sigma^2/(2\mu^2(k+1))`.
* :func:`batch_noise` / :func:`batch_noise_figure` — a mini-batch gradient is the full gradient
  plus an error :math:`e_k` with :math:`\mathbb E e_k = 0` and
  :math:`\mathbb E\|e_k\|^2 = \frac{n-b}{b(n-1)}\cdot\frac1n\sum_i\|\nabla f_i - \nabla f\|^2`.
* :func:`conditioning_note` — why the slides' logistic regression (m = 200, n = 10, μ = 1, mean
  loss) is nearly perfectly conditioned.
* :func:`logistic_comparison` / :func:`comparison_figure` — :math:`|f - f^*|` against iterations
  and against gradient evaluations for GD, SGD and mini-batch SGD.
* :func:`schedule_explorer`, :func:`batch_explorer` — the lecture's two extra live explorers.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch

from .._checks import check_choice, check_int, check_range
from ..optim.sgd import SGD
from ..problems.finite_sums import FiniteSum, LinearRegression, LogisticRegression
from ..run import Trace
from ..viz._plotly import LAYOUT_DEFAULTS
from ..viz._style import PALETTE, fmt_num
from ..viz.sgd import SCHEDULE_LABELS, sgd_schedule_figure
from ..widgets._base import Explorer, log_slider
from ..widgets.sgd import SCHEDULES, step_schedule

__all__ = [
    "SGDRuns", "sgd_runs", "noise_floor_check", "batch_noise", "batch_noise_figure", "conditioning_note",
    "logistic_comparison", "comparison_figure", "schedule_explorer", "batch_explorer",
]


# ---------------------------------------------------------------------------------------------
# many seeds of SGD at once
# ---------------------------------------------------------------------------------------------
@dataclass
class SGDRuns:
    """SGD runs of :func:`sgd_runs`: one setting (b, α, schedule), one row per seed.

    Attributes: ``gap`` ``(K+1, S)`` — :math:`f(x_k) - f^*` at every iterate; ``points``
    ``(K+1, S, d)``; ``grad_norm`` ``(K+1, S)`` (mini-batch gradient used at step k, the last
    entry at :math:`x_K`); ``step_size`` ``(K,)`` — the steps :math:`\\alpha_k`; ``batches``
    ``(K, S, b)``; ``diverged_at`` ``(S,)`` (−1 if never; a diverged row is frozen at its last
    good point).
    """

    problem: FiniteSum
    batch_size: int
    lr: float
    schedule: str
    seeds: tuple
    gap: np.ndarray
    points: np.ndarray
    grad_norm: np.ndarray
    step_size: np.ndarray
    batches: np.ndarray
    diverged_at: np.ndarray
    label: str = field(default="")

    @property
    def steps(self) -> int:
        return self.gap.shape[0] - 1

    @property
    def iterations(self) -> np.ndarray:
        """0, 1, …, K."""
        return np.arange(self.steps + 1)

    @property
    def grad_evals(self) -> np.ndarray:
        """Per-sample gradient evaluations after k steps: :math:`k\\,b`."""
        return self.iterations * self.batch_size

    @property
    def mean_gap(self) -> np.ndarray:
        """:math:`f(x_k) - f^*` averaged over seeds, ``(K+1,)`` — the theorems bound this expectation."""
        return self.gap.mean(1)

    def tail_mean(self, fraction: float = 0.5) -> float:
        """Average of :math:`f(x_k) - f^*` over the last ``fraction`` of the iterations and all seeds."""
        check_range("fraction", fraction, 0.0, 1.0, low_open=True)
        start = int(round((1 - fraction) * self.steps))
        return float(self.gap[start:].mean())

    def traces(self) -> list[Trace]:
        """One :class:`optviz.run.Trace` per seed (what :func:`optviz.viz.sgd_schedule_figure` takes)."""
        out = []
        for s in range(len(self.seeds)):
            sizes = np.where(np.arange(self.steps) < self.diverged_at[s], self.step_size, 0.0) \
                if self.diverged_at[s] >= 0 else self.step_size
            out.append(Trace(points=self.points[:, s:s + 1], loss=self.gap[:, s:s + 1] + self.problem.f_star,
                             grad_norm=self.grad_norm[:, s:s + 1], step_size=np.asarray(sizes)[:, None],
                             diverged_at=self.diverged_at[s:s + 1], method="SGD", hyper={"lr": self.lr},
                             problem=self.problem.name, f_star=self.problem.f_star,
                             batches=self.batches[:, s]))
        return out


def sgd_runs(problem: FiniteSum, batch_size: int, steps: int, *, lr: float, seeds: Iterable[int] = (0,),
             schedule: str = "constant", x0=None, label: str = "", box: float = 1e6) -> SGDRuns:
    r"""SGD with mini-batches of ``batch_size`` for every seed in ``seeds``, computed as one tensor.

    Step k of row s uses the batch ``problem.sample_batches(steps, batch_size, seeds[s])[k]`` and
    the step :math:`\alpha_k` of :func:`optviz.widgets.sgd.step_schedule` (``schedule`` =
    ``"constant"``, ``"sqrt"`` or ``"strongly_convex"``, α₀ = ``lr``). ``batch_size = n`` is GD.
    A row whose iterate leaves the box :math:`\|x\|_\infty \le` ``box`` or becomes non-finite is
    marked in ``diverged_at`` and frozen (its gradient is zeroed), as :func:`optviz.run.run` does.
    """
    n = problem.n_samples
    b = check_int("batch_size", batch_size, 1, n)
    K = check_int("steps", steps, 1)
    check_range("lr", lr, 0.0, low_open=True)
    check_choice("schedule", schedule, SCHEDULES)
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("Параметр seeds должен содержать хотя бы одно зерно.")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # tiny tensors: intra-op threads only cost (badly so on a loaded machine)
    try:
        return _sgd_runs(problem, b, K, float(lr), schedule, seeds, x0, label, box)
    finally:
        torch.set_num_threads(threads)


def _sgd_runs(problem, b, K, lr, schedule, seeds, x0, label, box) -> SGDRuns:
    S = len(seeds)
    alpha = step_schedule(schedule, float(lr), problem.mu)
    start = np.asarray(problem.starts[0] if x0 is None else x0, dtype=np.float64).reshape(-1)
    batches = np.stack([problem.sample_batches(K, b, s) for s in seeds], axis=1)   # (K, S, b)
    idx = torch.as_tensor(batches)
    x = torch.tensor(np.repeat(start[None], S, 0), dtype=torch.float64, requires_grad=True)
    opt = SGD([x], lr=float(lr))
    xv = x.detach().numpy()                      # live view
    points = np.empty((K + 1, S, start.size))
    gnorm = np.full((K + 1, S), np.nan)
    sizes = np.array([alpha(k) for k in range(K)])
    diverged_at = np.full(S, -1, dtype=np.int64)
    frozen = np.zeros(S, dtype=bool)
    points[0] = xv
    for k in range(K):
        with torch.enable_grad():
            losses = problem.losses(x)                                   # (S, n)
            obj = torch.gather(losses, 1, idx[k]).mean(1).sum()
            (g,) = torch.autograd.grad(obj, x)
        gn = g.norm(dim=1).numpy()
        gnorm[k] = gn
        bad = ~np.isfinite(gn) & ~frozen
        if bad.any():                              # a non-finite gradient: freeze the row here
            diverged_at[bad] = k
            frozen |= bad
        if frozen.any():
            g = g.clone()
            g[torch.as_tensor(frozen)] = 0.0
        x.grad = g
        opt.param_groups[0]["lr"] = float(sizes[k])
        opt.step()
        new = xv.copy()
        bad = ~frozen & ~(np.isfinite(new).all(1) & (np.abs(new) <= box).all(1))
        if bad.any():
            diverged_at[bad] = k + 1
            frozen |= bad
            with torch.no_grad():
                x[torch.as_tensor(bad)] = torch.as_tensor(points[k][bad])
        points[k + 1] = xv
    with torch.enable_grad():                     # the full gradient at x_K, as run() records it
        (g,) = torch.autograd.grad(problem.loss(x).sum(), x)
    gnorm[K] = g.norm(dim=1).numpy()
    gap = problem.value_np(points) - problem.f_star
    return SGDRuns(problem, b, float(lr), schedule, seeds, gap, points, gnorm, sizes, batches, diverged_at,
                   label or _default_label(problem, b, float(lr), schedule))


def _default_label(problem, b, lr, schedule) -> str:
    head = "GD" if b == problem.n_samples else ("SGD" if b == 1 else f"мини-батч b = {b}")
    if schedule == "constant":
        return f"{head}, α = {fmt_num(lr)}"
    if schedule == "sqrt":
        return f"{head}, α₀/√(k+1), α₀ = {fmt_num(lr)}"
    return f"{head}, (2k+1)/(2μ(k+1)²), α₀ = {fmt_num(lr)}"


# ---------------------------------------------------------------------------------------------
# the theorems measured
# ---------------------------------------------------------------------------------------------
def noise_floor_check(problem: FiniteSum | None = None, lrs: Sequence[float] = (0.1, 0.05), *, steps: int = 600,
                      seeds: Iterable[int] = range(24), tail: float = 0.5) -> list[dict]:
    r"""Constant-step SGD (b = 1) against the theorem's floor; the decreasing step against its bound.

    Returns one row per ``lr`` with ``lr``, ``floor`` = :math:`L\sigma^2\alpha/(4\mu)` (σ² at the
    optimum), ``measured`` = the tail average of :math:`f(x_k) - f^*` (last ``tail`` of the run, all
    seeds), ``ratio`` = measured / floor; and a last row (``lr = None``) for the schedule
    :math:`(2k+1)/(2\mu(k+1)^2)` (capped at α₀ = the first ``lr``) with ``measured`` = the mean over
    seeds of :math:`f(x_K) - f^*` and ``floor`` = the bound :math:`L\sigma^2/(2\mu^2(K+1))`.
    """
    p = problem if problem is not None else LinearRegression()
    seeds = tuple(seeds)
    rows = []
    for lr in lrs:
        runs = sgd_runs(p, 1, steps, lr=lr, seeds=seeds)
        floor = p.noise_floor(lr)
        measured = runs.tail_mean(tail)
        rows.append(dict(kind="constant", lr=float(lr), floor=floor, measured=measured, ratio=measured / floor))
    runs = sgd_runs(p, 1, steps, lr=lrs[0], seeds=seeds, schedule="strongly_convex")
    bound = p.L * p.sigma2() / (2 * p.mu ** 2 * (steps + 1))
    measured = float(runs.gap[-1].mean())
    rows.append(dict(kind="strongly_convex", lr=None, floor=bound, measured=measured, ratio=measured / bound))
    return rows


def batch_noise(problem: FiniteSum, x=None, sizes: Sequence[int] = (1, 2, 4, 8, 16, 32), *, draws: int = 4000,
                seed: int = 0) -> list[dict]:
    r"""The error :math:`e = \nabla f_B(x) - \nabla f(x)` of a mini-batch gradient, measured over
    ``draws`` random batches of each size, against the exact formula.

    Rows: ``b``, ``bias`` = :math:`\|\overline{e}\|` (the mean error over the draws: → 0, the
    estimate is unbiased), ``measured`` = mean of :math:`\|e\|^2`, ``exact`` =
    ``problem.grad_variance(x, b)`` :math:`= \frac{n-b}{b(n-1)}\cdot\frac1n\sum_i\|\nabla f_i(x) - \nabla f(x)\|^2`.
    Default ``x``: the first start of the problem (far from the optimum).
    """
    x = np.asarray(problem.starts[0] if x is None else x, dtype=np.float64)
    G = problem.sample_grads(x).numpy()                     # (n, d)
    full = G.mean(0)
    rows = []
    for b in sizes:
        B = problem.sample_batches(check_int("draws", draws, 2), b, seed)
        err = G[B].mean(1) - full                            # (draws, d)
        rows.append(dict(b=int(b), bias=float(np.linalg.norm(err.mean(0))),
                         measured=float((err ** 2).sum(1).mean()), exact=problem.grad_variance(x, b)))
    return rows


def batch_noise_figure(rows: Sequence[dict], *, n: int | None = None) -> go.Figure:
    r""":math:`\mathbb E\|e\|^2` against the batch size (log–log): measured points, the exact curve and
    the naive :math:`\sigma^2/b` (sampling with replacement)."""
    b = np.array([r["b"] for r in rows], dtype=float)
    meas = np.array([r["measured"] for r in rows])
    exact = np.array([r["exact"] for r in rows])
    naive = exact[0] / b if b[0] == 1 else None
    data = [go.Scatter(x=b, y=meas, mode="markers", name="измерено (среднее по батчам)",
                       marker=dict(size=11, color=PALETTE[3])),
            go.Scatter(x=b, y=exact, mode="lines", name="точно: (n−b)/(b(n−1))·разброс", line=dict(color="black"))]
    if naive is not None:
        data.append(go.Scatter(x=b, y=naive, mode="lines", name="σ²/b (выборка с возвращением)",
                               line=dict(color=PALETTE[0], dash="dash")))
    fig = go.Figure(data=data)
    fig.update_layout(**LAYOUT_DEFAULTS)
    head = "Ошибка мини-батч градиента e = ∇f_B(x) − ∇f(x)"
    fig.update_layout(title=dict(text=head + (f" (n = {n})" if n else "")), height=420,
                      xaxis=dict(type="log", title=dict(text="размер батча b")),
                      yaxis=dict(type="log", title=dict(text="E‖e‖²"), exponentformat="power"),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), margin=dict(b=110))
    return fig


# ---------------------------------------------------------------------------------------------
# logistic regression
# ---------------------------------------------------------------------------------------------
def conditioning_note(problem: LogisticRegression) -> dict:
    r"""Why the slides' logistic regression is easy: the constants behind κ.

    Keys: ``mu``; ``data_curv`` = :math:`\lambda_{\max}(A^\top A/m)/4` (the largest curvature the
    *mean* logistic term can add, since :math:`\sigma'(z) \le 1/4`); ``mp_estimate`` =
    :math:`(1 + \sqrt{n/m})^2/4` (Marchenko–Pastur: the same for unit Gaussian features);
    ``L``, ``kappa`` = L/μ; ``kappa_at_opt`` — the condition number of the Hessian at the optimum;
    ``kappa_if_sum`` = :math:`1 + m\cdot` ``data_curv``/μ — κ if the loss were the *sum* of the m
    terms with the same μ; ``gd_rate`` = (κ−1)/(κ+1) — the per-step contraction of GD with the step
    2/(μ+L); ``gd_steps_1e-10`` — steps of that GD to shrink the distance to x* 10¹⁰ times.
    """
    m, n = problem.A.shape
    data = float(np.linalg.eigvalsh(problem.A.T @ problem.A / m)[-1]) / 4
    _, H = problem._grad_hess_np(problem.optimum)
    ev = np.linalg.eigvalsh(H)
    kappa = problem.L / problem.mu
    rate = (kappa - 1) / (kappa + 1)
    return dict(mu=problem.mu, data_curv=data, mp_estimate=(1 + math.sqrt(n / m)) ** 2 / 4, L=problem.L,
                kappa=kappa, kappa_at_opt=float(ev[-1] / ev[0]), kappa_if_sum=1 + m * data / problem.mu,
                gd_rate=rate, **{"gd_steps_1e-10": math.ceil(math.log(1e-10) / math.log(rate)) if rate > 0 else 1})


#: the default comparison on LogisticRegression.hard(): (batch size or "m", step in units of 1/L, schedule)
DEFAULT_CONFIGS = (("m", 1.0, "constant"), (1, 0.25, "constant"), (1, 1.0, "sqrt"), (10, 1.0, "constant"))


def logistic_comparison(problem: LogisticRegression | None = None, *, epochs: int = 20,
                        configs: Sequence[tuple] = DEFAULT_CONFIGS, seeds: Iterable[int] = range(3)) -> list[SGDRuns]:
    r"""GD, SGD and mini-batch SGD on logistic regression with the same budget of ``epochs`` passes
    over the data (``epochs·m`` per-sample gradients): one :class:`SGDRuns` per config.

    ``configs``: tuples ``(b, c, schedule)`` — batch size (``"m"`` = all samples, GD), the step
    :math:`\alpha = c/L` and the schedule (``"constant"``, ``"sqrt"``, ``"strongly_convex"``).
    """
    p = problem if problem is not None else LogisticRegression.hard()
    check_int("epochs", epochs, 1)
    seeds = tuple(seeds)
    out = []
    for b, c, kind in configs:
        b = p.n_samples if b == "m" else int(b)
        steps = max(1, epochs * p.n_samples // b)
        out.append(sgd_runs(p, b, steps, lr=c / p.L, seeds=seeds if b < p.n_samples else seeds[:1], schedule=kind))
    return out


def comparison_figure(runs: Sequence[SGDRuns], *, title: str | None = None) -> go.Figure:
    r"""Two panels: :math:`|f(x_k) - f^*|` (mean over seeds, log) against iterations k (log axis) and
    against per-sample gradient evaluations k·b (linear axis, the same budget for every method)."""
    if not runs:
        raise ValueError("Нужен хотя бы один запуск (список SGDRuns).")
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("по итерациям k", "по вычислениям градиентов ∇fᵢ (k·b)"))
    for i, r in enumerate(runs):
        color = PALETTE[i % len(PALETTE)]
        y = np.abs(r.mean_gap)
        y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
        name = r.label + (f" ({len(r.seeds)} зерна)" if len(r.seeds) > 1 else "")
        fig.add_trace(go.Scatter(x=r.iterations + 1, y=y, mode="lines", name=name, legendgroup=name,
                                 line=dict(color=color, width=2)), row=1, col=1)
        fig.add_trace(go.Scatter(x=r.grad_evals, y=y, mode="lines", name=name, legendgroup=name, showlegend=False,
                                 line=dict(color=color, width=2)), row=1, col=2)
    p = runs[0].problem
    fig.update_layout(**LAYOUT_DEFAULTS)
    sub = f"m = {p.n_samples}, n = {p.dim}, μ = {fmt_num(p.mu)}, L = {fmt_num(p.L)}, κ = {fmt_num(p.kappa)}"
    fig.update_layout(title=dict(text=title or f"|f(x_k) − f*| — {sub}"), height=480,
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0), margin=dict(b=130, t=80))
    fig.update_xaxes(type="log", title_text="итерация k + 1", row=1, col=1)
    fig.update_xaxes(title_text="число вычислений ∇fᵢ", row=1, col=2)
    fig.update_yaxes(type="log", exponentformat="power", title_text="|f(x_k) − f*|", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    return fig


# ---------------------------------------------------------------------------------------------
# explorers
# ---------------------------------------------------------------------------------------------


def schedule_explorer(problem: LinearRegression | None = None, *, lr: float = 0.3, batch_size: int = 1,
                      steps: int = 300, seeds: Iterable[int] = range(4)) -> Explorer:
    r"""Constant vs decreasing steps with sliders: step α (α₀), batch size b.

    The figure is :func:`optviz.viz.sgd_schedule_figure` (mean over ``seeds`` bold, each seed faint,
    the noise floor :math:`L\sigma_b^2\alpha/(4\mu)` dashed, the bound :math:`L\sigma_b^2/(2\mu^2(k+1))`
    dotted); every schedule sees the same mini-batches.
    """
    p = problem if problem is not None else LinearRegression()
    steps = check_int("steps", steps, 1, 5000)
    seeds = tuple(seeds)
    c = OrderedDict()
    c["lr"] = log_slider(float(lr), 1e-2, 2.0, "шаг α (α₀)", readout_format=".3g", steps=46)
    c["batch_size"] = W.IntSlider(value=int(batch_size), min=1, max=min(32, p.n_samples), description="батч b",
                                  style={"description_width": "initial"}, continuous_update=False)
    ex: Explorer

    def build(params):
        lr_, b = float(params["lr"]), int(params["batch_size"])

        def compute():
            return {kind: sgd_runs(p, b, steps, lr=lr_, seeds=seeds, schedule=kind).traces() for kind in SCHEDULES}

        traces = ex.cached((round(lr_, 12), b), compute)
        return sgd_schedule_figure(p, traces, validate=not ex.live)

    ex = Explorer(c, build, static_values={"lr": [0.03, 0.1, 0.3, 1.0]})
    return ex


def batch_explorer(problem: LogisticRegression | None = None, *, lr_scale: float = 0.5, batch_size: int = 10,
                   epochs: int = 10, seeds: Iterable[int] = range(3)) -> Explorer:
    r"""Mini-batch SGD on logistic regression against GD, per gradient evaluation.

    Sliders: the batch size b, the step α = c/L (the factor c on a log slider), the schedule. The
    figure is :func:`comparison_figure` of GD (α = 1/L) and SGD with the chosen settings, all with
    the same budget of ``epochs`` passes over the data.
    """
    p = problem if problem is not None else LogisticRegression.hard()
    epochs = check_int("epochs", epochs, 1, 100)
    seeds = tuple(seeds)
    wide = {"description_width": "initial"}
    c = OrderedDict()
    c["batch_size"] = W.IntSlider(value=int(batch_size), min=1, max=p.n_samples, description="батч b", style=wide,
                                  continuous_update=False)
    c["lr_scale"] = log_slider(float(lr_scale), 0.01, 4.0, "шаг α = c/L, c", readout_format=".3g", steps=52)
    c["schedule"] = W.Dropdown(options=[("постоянный", "constant"), ("убывающий α₀/√(k+1)", "sqrt"),
                                        ("убывающий (2k+1)/(2μ(k+1)²)", "strongly_convex")],
                               value="constant", description="шаг", style=wide)
    ex: Explorer
    gd = sgd_runs(p, p.n_samples, epochs, lr=1 / p.L, seeds=seeds[:1])

    def build(params):
        b, cc, kind = int(params["batch_size"]), float(params["lr_scale"]), params["schedule"]
        check_int("batch_size (батч b)", b, 1, p.n_samples)
        check_range("lr_scale (c)", cc, 0.0, low_open=True)
        steps = max(1, epochs * p.n_samples // b)
        runs = ex.cached((b, round(cc, 12), kind),
                         lambda: sgd_runs(p, b, steps, lr=cc / p.L, seeds=seeds, schedule=kind))
        return comparison_figure([gd, runs], title=f"{SCHEDULE_LABELS[kind]}, b = {b}: |f − f*| при бюджете "
                                                   f"{epochs} эпох (κ = {fmt_num(p.kappa)})")

    ex = Explorer(c, build, static_values={"batch_size": [1, 5, 20, 50, 200]})
    return ex
