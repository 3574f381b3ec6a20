r"""Helpers of lecture 03 «Адаптивные методы: Adagrad, RMSProp, Adam, AdamW».

Every experiment of the lecture that is more than a call of :func:`optviz.run.run` lives here, so a
notebook cell stays a few lines:

* :func:`tune_race` — a fair race on a 2-D toy: the same start and budget for every method, a
  log-spaced step-size sweep per method, the best step by the final loss (no clipping anywhere);
* :class:`Scaled`, :class:`Reparametrized`, :class:`GradientScaled` — a toy multiplied by a
  constant, seen through ``x = D y``, or with its gradient multiplied by a diagonal ``D``;
* :func:`eps_placement` and :func:`eps_step_figure` — Adagrad's ε inside vs outside the root;
* :func:`bias_correction_steps` and :func:`bias_correction_figure` — Adam's first steps with and
  without the bias correction;
* :class:`ReddiOnline`, :func:`reddi_race`, :func:`reddi_figure` — the online problem of Reddi,
  Kale & Kumar (2018) on which Adam does not converge and AMSGrad does;
* :func:`decay_experiment` and :func:`decay_figure` — AdamW vs Adam + L2 on a noisy quadratic,
  measured equilibria against their closed forms;
* :func:`invariance_check` — Adam's invariance to a diagonal rescaling of the gradient;
* :func:`heavy_tail_comparison` — SGD vs Adam per frequency group on heavy-tailed classes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .._checks import check_choice, check_int, check_range
from ..optim.adaptive import Adagrad, Adam, AdamW
from ..optim.sgd import SGD
from ..problems.base import Problem
from ..run import run
from ..viz._plotly import LAYOUT_DEFAULTS
from ..viz._style import PALETTE, color_for, fmt_num
from ..widgets.race import SHARED_DEFAULTS as _RACE_SHARED
from ..widgets.race import RACE_METHODS, method_spec

__all__ = [
    "RaceTuning", "tune_race",
    "Scaled", "Reparametrized", "GradientScaled",
    "eps_placement", "eps_step_figure",
    "bias_correction_steps", "bias_correction_figure", "no_correction_factor",
    "ReddiOnline", "reddi_race", "reddi_figure",
    "decay_experiment", "decay_figure",
    "invariance_check",
    "HEAVY_TAIL_SIZES", "heavy_tail_comparison",
]


# ---------------------------------------------------------------------------------------------
# a fair race: same start, same budget, a step-size sweep per method
# ---------------------------------------------------------------------------------------------


@dataclass
class RaceTuning:
    """Result of :func:`tune_race`: per method the swept steps, their final losses and the best run."""

    keys: list
    lrs: dict          # key -> array of swept step sizes
    final: dict        # key -> array of final f(x_K) - f* (inf where the run diverged)
    best_lr: dict      # key -> best step size
    traces: list       # the best run of every method (race order)
    steps: int
    start: np.ndarray

    def table(self) -> str:
        """A text table «метод | лучший шаг | f(x_K) − f* | на краю сетки?» (Russian)."""
        lines = [f"{'метод':<10} {'лучший η':>10} {'f(x_K) − f*':>13}  сетка η"]
        for k in self.keys:
            lr = self.lrs[k]
            edge = " (на краю сетки!)" if self.best_lr[k] in (lr[0], lr[-1]) else ""
            lines.append(f"{RACE_METHODS[k][0]:<10} {self.best_lr[k]:>10.3g} "
                         f"{float(np.min(self.final[k])):>13.3e}  {lr[0]:.0e} … {lr[-1]:.0e}{edge}")
        return "\n".join(lines)


def tune_race(problem, keys=("GD", "Momentum", "Adagrad", "RMSProp", "Adam", "AdamW"), start=None, steps: int = 500,
              lrs=None, **shared) -> RaceTuning:
    """Sweep the step size of every race method from one start; keep the best by the final loss.

    ``lrs`` (default ``np.geomspace(1e-5, 3, 17)``: three values per decade) is used for every
    method — the same budget for all; ``shared`` are the other hyperparameters of the race
    (``beta1``, ``beta2``, ``eps``, ``momentum``, ``weight_decay``), as in
    :func:`optviz.widgets.race.run_method`. The criterion is :math:`f(x_K) - f^*` (a diverged run
    counts as ``inf``). Nothing is clipped: every method is its plain update.
    """
    check_int("steps", steps, 1)
    lrs = np.geomspace(1e-5, 3.0, 17) if lrs is None else np.asarray(lrs, dtype=float).reshape(-1)
    start = problem.start if start is None else np.asarray(start, dtype=float).reshape(-1)
    fs = getattr(problem, "f_star", 0.0)
    fs = fs if math.isfinite(fs) else 0.0
    out_lrs, final, best, traces = {}, {}, {}, []
    for k in keys:
        spec, kwargs, _ = method_spec(k, 1.0, {**_RACE_SHARED, **shared})
        kwargs["lr"] = lrs                      # one vectorised run per method (elementwise methods)
        tr = run(problem, spec, start, steps, **kwargs)
        vals = tr.loss[-1] - fs
        vals = np.where(tr.diverged | ~np.isfinite(vals), np.inf, vals)
        i = int(np.argmin(vals))
        out_lrs[k], final[k], best[k] = lrs.copy(), vals, float(lrs[i])
        _, _, shown = method_spec(k, float(lrs[i]), {**_RACE_SHARED, **shared})
        traces.append(dataclasses.replace(tr.select(i), method=RACE_METHODS[k][0], hyper=shown))
    return RaceTuning(list(keys), out_lrs, final, best, traces, int(steps), start)


# ---------------------------------------------------------------------------------------------
# transformed toys: c·f, f(D y), and f with the gradient D ∇f
# ---------------------------------------------------------------------------------------------


class Scaled(Problem):
    r"""The toy ``base`` multiplied by a constant: :math:`h(x) = s\,f(x)` (same minimisers, gradients × s)."""

    def __init__(self, base, scale: float):
        self.base, self.scale = base, float(check_range("scale", scale, 0.0, low_open=True))
        self.name = f"{base.name}*{self.scale:g}"
        self.title = f"{base.title} × {fmt_num(self.scale)}"
        self.dim, self.window, self.minimizers = base.dim, base.window, base.minimizers
        self.f_star, self.starts = self.scale * base.f_star, base.starts

    def _formula(self, x, xp):
        return self.scale * self.base._formula(x, xp)

    def _grad(self, x, xp):
        return self.scale * self.base._grad(x, xp)

    def __repr__(self):
        return f"Scaled({self.base!r}, {self.scale!r})"


class Reparametrized(Problem):
    r"""The toy ``base`` seen through :math:`x = D y`: :math:`h(y) = f(D y)`, :math:`\nabla h = D\,\nabla f(Dy)`.

    ``d`` is the positive diagonal of D. The window and the starting points are mapped by
    :math:`D^{-1}`, so ``h.start`` is the same physical point as ``base.start``.
    """

    def __init__(self, base, d):
        self.base = base
        self.d = np.asarray(d, dtype=float).reshape(-1)
        if self.d.shape != (base.dim,) or not (self.d > 0).all():
            raise ValueError(f"Параметр d: нужен положительный вектор длины {base.dim}.")
        self.name, self.title = f"{base.name}(Dy)", f"{base.title} в координатах x = Dy"
        self.dim, self.f_star = base.dim, base.f_star
        self.window = tuple((lo / s, hi / s) for (lo, hi), s in zip(base.window, self.d))
        self.minimizers, self.starts = base.minimizers / self.d, base.starts / self.d

    def _formula(self, y, xp):
        return self.base._formula(y * self._d(xp, y), xp)

    def _grad(self, y, xp):
        d = self._d(xp, y)
        return d * self.base._grad(y * d, xp)

    def _d(self, xp, like):
        return xp.asarray(self.d) if xp is np else torch.as_tensor(self.d, dtype=like.dtype)

    def __repr__(self):
        return f"Reparametrized({self.base!r}, {self.d.tolist()!r})"


class GradientScaled(Problem):
    r"""The toy ``base`` whose *gradient oracle* is multiplied by a diagonal: value :math:`f(x)`, gradient :math:`D\,\nabla f(x)`.

    Not the gradient of any function in general — an oracle for the statement «every gradient is
    rescaled by D». Autograd agrees: :meth:`loss` evaluates f at
    :math:`z = \bar x + D(x - \bar x)` (:math:`\bar x` detached), equal to x in value, with
    :math:`\partial z/\partial x = D`.
    """

    def __init__(self, base, d):
        self.base = base
        self.d = np.asarray(d, dtype=float).reshape(-1)
        if self.d.shape != (base.dim,) or not (self.d > 0).all():
            raise ValueError(f"Параметр d: нужен положительный вектор длины {base.dim}.")
        self.name, self.title = f"{base.name}[D∇f]", f"{base.title}, градиент × D"
        for a in ("dim", "window", "minimizers", "f_star", "starts"):
            setattr(self, a, getattr(base, a))

    def loss(self, x):
        x = torch.as_tensor(x) if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=float))
        d = torch.as_tensor(self.d, dtype=x.dtype)
        z = x.detach() + d * (x - x.detach())
        return self.base._formula(z, torch)

    def _formula(self, x, xp):
        return self.base._formula(x, xp)

    def _grad(self, x, xp):
        return xp.asarray(self.d) * self.base._grad(x, xp) if xp is np else \
            torch.as_tensor(self.d, dtype=x.dtype) * self.base._grad(x, xp)

    def __repr__(self):
        return f"GradientScaled({self.base!r}, {self.d.tolist()!r})"


# ---------------------------------------------------------------------------------------------
# ε inside or outside the root
# ---------------------------------------------------------------------------------------------


def eps_placement(problem, scales=(1.0, 1e-2, 1e-4, 1e-6, 1e-8), *, lr: float = 0.5, eps: float = 1e-6,
                  steps: int = 300, start=None) -> dict:
    r"""Adagrad on :math:`s\,f` for every scale s, ε outside and inside the root.

    Returns ``{"scales", "outside", "inside"}`` with the *relative* final gap
    :math:`(h(x_K) - h^*)/s` — the same number for every s when the method is invariant to the
    scale of f (ε outside and ε ≪ |g|), different once ε dominates the denominator.
    """
    start = problem.start if start is None else start
    out = {"scales": np.asarray(scales, dtype=float), "outside": [], "inside": []}
    for s in out["scales"]:
        h = Scaled(problem, s)
        for key, inside in (("outside", False), ("inside", True)):
            tr = run(h, Adagrad, start, steps, lr=lr, eps=eps, eps_inside_root=inside)
            out[key].append(float(tr.loss[-1, 0] - h.f_star) / s)
    out["outside"], out["inside"] = np.array(out["outside"]), np.array(out["inside"])
    return out


def eps_step_figure(eps: float = 1e-6, lr: float = 1.0) -> go.Figure:
    r"""Length of Adagrad's first step against :math:`|g|`: :math:`\eta|g|/(|g|+\varepsilon)` vs :math:`\eta|g|/\sqrt{g^2+\varepsilon}`."""
    g = np.geomspace(1e-10, 1e2, 400)
    fig = go.Figure()
    fig.add_scatter(x=g, y=lr * g / (g + eps), name="ε снаружи: η|g|/(|g| + ε)", line=dict(color=PALETTE[0]))
    fig.add_scatter(x=g, y=lr * g / np.sqrt(g * g + eps), name="ε под корнем: η|g|/√(g² + ε)",
                    line=dict(color=PALETTE[3], dash="dash"))
    for x, txt in ((eps, "|g| = ε"), (math.sqrt(eps), "|g| = √ε")):
        fig.add_vline(x=x, line=dict(color="#999", dash="dot"), annotation_text=txt, annotation_position="top left")
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=f"Первый шаг Adagrad в зависимости от |g| (ε = {fmt_num(eps)}, η = {fmt_num(lr)})",
                      height=380, margin=dict(t=90),
                      xaxis=dict(type="log", title="|g| — модуль градиента по координате", exponentformat="power"),
                      yaxis=dict(type="log", title="длина первого шага", exponentformat="power"))
    return fig


# ---------------------------------------------------------------------------------------------
# Adam's bias correction
# ---------------------------------------------------------------------------------------------


def no_correction_factor(k, beta1: float = 0.9, beta2: float = 0.999):
    r"""Step of Adam *without* bias correction per unit of η under a constant gradient: :math:`(1-\beta_1^k)/\sqrt{1-\beta_2^k}`."""
    k = np.asarray(k, dtype=float)
    return (1 - beta1**k) / np.sqrt(1 - beta2**k)


def bias_correction_steps(problem, *, lr: float = 0.02, steps: int = 60, betas=(0.9, 0.999), start=None) -> dict:
    r"""Adam with and without bias correction from one start: the traces and the step lengths.

    ``"ratio"`` maps each variant to :math:`\max_i |x_{k+1,i} - x_{k,i}| / \eta` per step k (the step
    per coordinate in units of η).
    """
    start = problem.start if start is None else start
    out = {"traces": {}, "ratio": {}, "lr": lr, "betas": tuple(betas)}
    for name, bc in (("Adam", True), ("Adam без коррекции", False)):
        tr = run(problem, Adam, start, steps, lr=lr, betas=tuple(betas), bias_correction=bc)
        tr = dataclasses.replace(tr, method=name, hyper=dict(lr=lr, beta1=betas[0], beta2=betas[1]))
        out["traces"][name] = tr
        out["ratio"][name] = np.abs(np.diff(tr.points[:, 0], axis=0)).max(axis=1) / lr
    return out


def bias_correction_figure(res: dict) -> go.Figure:
    """Step length per coordinate (in units of η) over the first steps, with the constant-gradient formula."""
    b1, b2 = res["betas"]
    fig = go.Figure()
    for j, (name, r) in enumerate(res["ratio"].items()):
        fig.add_scatter(x=np.arange(1, len(r) + 1), y=r, mode="lines+markers", name=name,
                        line=dict(color=[color_for("Adam"), PALETTE[3]][j]), marker=dict(size=5))
    k = np.arange(1, len(next(iter(res["ratio"].values()))) + 1)
    fig.add_scatter(x=k, y=no_correction_factor(k, b1, b2), mode="lines", name="(1 − β₁ᵏ)/√(1 − β₂ᵏ)",
                    line=dict(color="#777", dash="dash"))
    fig.add_hline(y=1.0, line=dict(color="#bbb", dash="dot"))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(title=f"Длина шага Adam по координате в единицах η (β₁ = {fmt_num(b1)}, β₂ = {fmt_num(b2)})",
                      height=380, margin=dict(t=90), xaxis=dict(title="шаг k"),
                      yaxis=dict(title="max_i |Δx_i| / η"))
    return fig


# ---------------------------------------------------------------------------------------------
# Reddi, Kale & Kumar (2018): Adam does not converge on a simple online problem
# ---------------------------------------------------------------------------------------------


@dataclass
class ReddiOnline:
    r"""The online problem :math:`f_t(x) = C x` when :math:`t \bmod 3 = 1`, else :math:`-x`, on :math:`[-1, 1]`.

    Over three rounds the losses sum to :math:`(C - 2)x`, so for :math:`C > 2` the best fixed
    point is :math:`x^* = -1`. Rounds are numbered from t = 1.
    """

    C: float = 3.0

    def __post_init__(self):
        check_range("C", self.C, 2.0, low_open=True)

    def grad(self, t: int) -> float:
        return self.C if t % 3 == 1 else -1.0

    def regret(self, xs: np.ndarray) -> np.ndarray:
        r"""Cumulative regret :math:`R_T = \sum_{t\le T} f_t(x_t) - \min_{x\in[-1,1]} \sum_{t\le T} f_t(x)`, for every T."""
        t = np.arange(1, len(xs) + 1)
        g = np.where(t % 3 == 1, self.C, -1.0)
        cum_g = np.cumsum(g)
        return np.cumsum(g * xs) + np.abs(cum_g)


def reddi_race(C: float = 3.0, steps: int = 3000, *, lr: float = 0.1, betas=None, x0: float = 0.0,
               schedule: str = "sqrt") -> dict:
    r"""Projected Adam and AMSGrad (:class:`~optviz.optim.Adam` with ``amsgrad``) on :class:`ReddiOnline`.

    Step :math:`\alpha_t = \alpha/\sqrt t` (``schedule="sqrt"``, as in the paper) or constant; the
    paper's betas by default: :math:`\beta_1 = 0`, :math:`\beta_2 = 1/(1 + C^2)`. After each step the
    point is projected on [−1, 1]. Returns ``{"problem", "x": {method: x_1..x_T}, "regret": {method: R_T/T}}``.
    """
    check_int("steps", steps, 1)
    check_choice("schedule", schedule, ("sqrt", "constant"))
    prob = ReddiOnline(C)
    betas = (0.0, 1.0 / (1.0 + C * C)) if betas is None else tuple(betas)
    out = {"problem": prob, "x": {}, "regret": {}, "betas": betas, "lr": lr, "schedule": schedule}
    for name, ams in (("Adam", False), ("AMSGrad", True)):
        x = torch.tensor([float(x0)], dtype=torch.float64, requires_grad=True)
        opt = Adam([x], lr=lr, betas=betas, amsgrad=ams)
        xs = np.empty(steps)
        for t in range(1, steps + 1):
            xs[t - 1] = float(x.detach())
            opt.param_groups[0]["lr"] = lr / math.sqrt(t) if schedule == "sqrt" else lr
            x.grad = torch.tensor([prob.grad(t)], dtype=torch.float64)
            opt.step()
            with torch.no_grad():
                x.clamp_(-1.0, 1.0)
        out["x"][name] = xs
        out["regret"][name] = prob.regret(xs) / np.arange(1, steps + 1)
    return out


def reddi_figure(res: dict) -> go.Figure:
    """Two panels: the point x_t and the average regret R_T/T of Adam and AMSGrad."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("точка x_t (оптимум x* = −1)", "средний регрет R_T / T"))
    colors = {"Adam": color_for("Adam"), "AMSGrad": PALETTE[0]}
    for name, xs in res["x"].items():
        t = np.arange(1, len(xs) + 1)
        fig.add_scatter(x=t, y=xs, name=name, line=dict(color=colors[name], width=1.5), row=1, col=1)
        fig.add_scatter(x=t, y=res["regret"][name], name=name, showlegend=False, line=dict(color=colors[name]),
                        row=1, col=2)
    b1, b2 = res["betas"]
    sched = "α/√t" if res["schedule"] == "sqrt" else "α"
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(height=400, margin=dict(t=110),
                      title=(f"Пример Редди и др.: f_t(x) = {fmt_num(res['problem'].C)}x при t mod 3 = 1, иначе −x "
                             f"(β₁ = {fmt_num(b1)}, β₂ = {fmt_num(b2)}, шаг {sched}, α = {fmt_num(res['lr'])})"))
    fig.update_xaxes(title_text="раунд t", type="log")
    fig.update_yaxes(range=[-1.1, 1.1], row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    return fig


# ---------------------------------------------------------------------------------------------
# AdamW vs Adam + L2
# ---------------------------------------------------------------------------------------------


def decay_experiment(lam: float = 0.1, sigma=(3.0, 0.03), c=(1.0, 1.0), *, lr: float = 1e-2, steps: int = 4000,
                     runs: int = 100, tail: int = 2000, seed: int = 0) -> dict:
    r"""Adam + L2 and AdamW on the noisy quadratic :math:`f(x) = \tfrac12\|x - c\|^2`, gradient :math:`x - c + \sigma\odot\xi`.

    ``runs`` independent runs are one ``(runs, 2)`` tensor (the methods are elementwise); the
    measured equilibrium is the mean over runs and over the last ``tail`` steps. Closed forms (for
    a small step): Adam + L2 settles where the expected regularised gradient vanishes,
    :math:`x_i = c_i/(1 + \lambda)` (the ridge solution, whatever the noise); AdamW where the
    normalised step balances the decay, :math:`\lambda x_i = (c_i - x_i)/\sqrt{v_i}` with
    :math:`\sqrt{v_i} \approx \sqrt{\sigma_i^2 + (x_i - c_i)^2}` — solved by fixed-point iteration.
    """
    check_range("lam", lam, 0.0)
    check_int("tail", tail, 1, steps)
    sigma, c = np.asarray(sigma, dtype=float), np.asarray(c, dtype=float)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(steps, runs, 2, generator=gen, dtype=torch.float64)
    sig, ct = torch.as_tensor(sigma), torch.as_tensor(c)
    measured, rms = {}, {}
    for name, cls in (("Adam + L2", Adam), ("AdamW", AdamW)):
        x = torch.zeros(runs, 2, dtype=torch.float64, requires_grad=True)
        opt = cls([x], lr=lr, weight_decay=lam)
        acc = torch.zeros(2, dtype=torch.float64)
        for k in range(steps):
            x.grad = (x.detach() - ct) + sig * noise[k]
            opt.step()
            if k >= steps - tail:
                acc += x.detach().mean(0)
        measured[name] = (acc / tail).numpy()
        st = opt.state[x]
        rms[name] = (st["exp_avg_sq"] / (1 - 0.999 ** st["step"])).sqrt().mean(0).numpy()
    ridge = c / (1 + lam)
    xw = c.copy()
    for _ in range(200):
        xw = c / (1 + lam * np.sqrt(sigma**2 + (xw - c) ** 2))
    return {"lam": lam, "sigma": sigma, "c": c, "lr": lr, "measured": measured, "theory": {"Adam + L2": ridge,
            "AdamW": xw}, "sqrt_v": rms}


def decay_figure(res: dict) -> go.Figure:
    """Measured equilibria of Adam + L2 and AdamW next to their closed forms, per coordinate."""
    fig = go.Figure()
    names = [f"x₁ (σ₁ = {fmt_num(res['sigma'][0])})", f"x₂ (σ₂ = {fmt_num(res['sigma'][1])})"]
    colors = {"Adam + L2": color_for("Adam"), "AdamW": color_for("AdamW")}
    for m in ("Adam + L2", "AdamW"):
        fig.add_bar(x=names, y=res["measured"][m], name=f"{m}: измерено", marker_color=colors[m])
        fig.add_scatter(x=names, y=res["theory"][m], mode="markers", name=f"{m}: формула",
                        marker=dict(symbol="line-ew", size=40, line=dict(width=3, color="#222")))
    fig.add_hline(y=float(res["c"][0]), line=dict(color="#999", dash="dot"), annotation_text="минимум без регуляризации c")
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(barmode="group", height=400, margin=dict(t=110),
                      title=(f"Куда приходят Adam + L2 и AdamW (λ = {fmt_num(res['lam'])}, η = {fmt_num(res['lr'])}): "
                             "шумная квадратичная функция ½‖x − c‖²"),
                      yaxis=dict(title="равновесная точка x_i", range=[0, 1.1 * float(np.max(res["c"]))]))
    return fig


# ---------------------------------------------------------------------------------------------
# Adam's invariance to a diagonal rescaling of the gradient
# ---------------------------------------------------------------------------------------------


def _max_distance(a, b) -> float:
    """Largest coordinate-wise distance between the iterates of two traces."""
    return float(np.abs(a.points - b.points).max())


def invariance_check(problem, d=(100.0, 0.01), *, steps: int = 200, lr: float = 0.02, eps: float = 1e-8,
                     gd_lr: float = 1e-3, start=None) -> dict:
    r"""Run Adam (and GD for contrast) on f and on the same f with every gradient multiplied by D.

    Returns the largest distance between the two trajectories over ``steps`` steps for Adam and
    for GD, and the first step of Adam on :math:`h(y) = f(Dy)` (from :math:`y_0 = D^{-1}x_0`)
    next to its first step on f: Adam's update depends on the gradient only through
    :math:`m/\sqrt v`, which a positive diagonal D leaves unchanged (up to ε).
    """
    start = np.asarray(problem.start if start is None else start, dtype=float)
    d = np.asarray(d, dtype=float)
    gs = GradientScaled(problem, d)
    adam = [run(p, Adam, start, steps, lr=lr, eps=eps) for p in (problem, gs)]
    gd = [run(p, SGD, start, steps, lr=gd_lr) for p in (problem, gs)]
    h = Reparametrized(problem, d)
    first_x = run(problem, Adam, start, 1, lr=lr, eps=eps).points[1, 0] - start
    first_y = run(h, Adam, start / d, 1, lr=lr, eps=eps).points[1, 0] - start / d
    gd_x = run(problem, SGD, start, 1, lr=gd_lr).points[1, 0] - start
    gd_y = run(h, SGD, start / d, 1, lr=gd_lr).points[1, 0] - start / d
    return {"adam_deviation": _max_distance(*adam), "gd_deviation": _max_distance(*gd), "adam_traces": adam, "gd_traces": gd,
            "adam_first_step": (first_x, first_y), "gd_first_step": (gd_x, gd_y), "d": d, "eps": eps}


# ---------------------------------------------------------------------------------------------
# heavy-tailed class imbalance: SGD vs Adam per frequency group
# ---------------------------------------------------------------------------------------------

#: settings of :func:`heavy_tail_comparison`: ``"tiny"`` for tests, ``"cpu"`` for the lecture, ``"full"`` for a GPU
HEAVY_TAIL_SIZES = {
    "tiny": dict(n_classes=60, n_head=60, epochs=3, seeds=(0,), lrs_per_method=2),
    "cpu": dict(n_classes=1000, n_head=400, epochs=10, seeds=(0,), lrs_per_method=5),
    "full": dict(n_classes=10000, n_head=2000, epochs=30, seeds=(0, 1, 2), lrs_per_method=7),
}

#: step-size ranges (log-spaced) of the comparison, wide enough that no best step sits on an edge
HEAVY_TAIL_LRS = {"SGD": (0.3, 30.0), "SGD + импульс 0.9": (0.03, 3.0), "Adam": (0.003, 0.3)}


def heavy_tail_comparison(size: str = "cpu", *, a: float = 1.0, n_features: int = 32, batch_size: int = 64,
                          methods=("SGD", "SGD + импульс 0.9", "Adam"), device=None, cpu_threads: int | None = 1,
                          **overrides):
    r"""SGD, SGD with momentum and Adam on Gaussian classes whose sizes follow :math:`n_k \propto k^{-a}`.

    A linear softmax classifier; each method gets the same number of step sizes from its range
    :data:`HEAVY_TAIL_LRS` (best by the final *training* loss on the first seed), then is rerun on
    every seed. Returns a :class:`optviz.experiments.heavy_tail.HeavyTailResult` (per-group training
    loss after every epoch; ``figure()``, ``markdown()``).

    On the CPU torch runs with ``cpu_threads`` intra-op threads for the duration of the call (the
    previous setting is restored): the model is tiny, and several threads only fight for the cores
    (measured: 20 s with one thread against minutes with two when other jobs share the machine).
    ``None`` leaves torch's setting alone.
    """
    from ..data import heavy_tail
    from ..experiments.heavy_tail import HeavyTailResult
    from ..models import mlp
    from ..train import train

    check_choice("size", size, tuple(HEAVY_TAIL_SIZES))
    cfg = dict(HEAVY_TAIL_SIZES[size])
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"Неизвестные параметры {sorted(unknown)}; можно менять: {', '.join(cfg)}.")
    cfg.update(overrides)
    t0 = time.perf_counter()
    data = heavy_tail(a, dataset="synthetic", n_classes=cfg["n_classes"], n_features=n_features, n_head=cfg["n_head"],
                      seed=0)
    dim, n_cls = int(data.train.x.shape[1]), data.train.n_classes

    def factory(method, lr):
        if method == "Adam":
            return lambda p: Adam(p, lr=lr)
        return lambda p: SGD(p, lr=lr, momentum=0.9 if "импульс" in method else 0.0)

    def fit(method, lr, seed):
        return train(mlp(dim, (), n_cls, seed=seed), factory(method, lr), data, epochs=cfg["epochs"],
                     batch_size=batch_size, seed=seed, eval_sets=("train",), progress=False, device=device)

    on_cpu = (str(device) == "cpu") if device is not None else not torch.cuda.is_available()
    prev_threads = torch.get_num_threads()
    if on_cpu and cpu_threads is not None:
        torch.set_num_threads(int(cpu_threads))
    try:
        group_loss, train_loss, best_lr, search = _heavy_tail_runs(methods, cfg, fit)
    finally:
        torch.set_num_threads(prev_threads)
    cfg.update(a=a, n_features=n_features, batch_size=batch_size)
    return HeavyTailResult(list(data.train.group_names), group_loss, train_loss, best_lr, search, data.summary(), cfg,
                           time.perf_counter() - t0)


def _heavy_tail_runs(methods, cfg, fit):
    """The step-size search and the reruns of :func:`heavy_tail_comparison`."""
    group_loss, train_loss, best_lr, search = {}, {}, {}, {}
    for m in methods:
        if m not in HEAVY_TAIL_LRS:
            raise ValueError(f"Неизвестный метод {m!r}; доступны: {', '.join(HEAVY_TAIL_LRS)}.")
        lo, hi = HEAVY_TAIL_LRS[m]
        finals, first = {}, {}
        for lr in np.geomspace(lo, hi, cfg["lrs_per_method"]):
            first[float(lr)] = fit(m, float(lr), cfg["seeds"][0])    # reused below for the first seed
            v = float(first[float(lr)].curve("train", "loss")[-1])
            finals[float(lr)] = v if math.isfinite(v) else math.inf
        best = min(finals, key=finals.get)
        runs = [first[best]] + [fit(m, best, s) for s in cfg["seeds"][1:]]
        group_loss[m] = np.stack([r.curve("train", "group_loss") for r in runs])
        train_loss[m] = np.stack([r.curve("train", "loss") for r in runs])
        best_lr[m], search[m] = best, finals
    return group_loss, train_loss, best_lr, search
