r"""Helpers of lecture 09 «ALSO: адаптивная DRO-оптимизация».

The group-DRO problem of the ALSO paper (problem (4)),

.. math::
    \min_\theta\max_{\pi\in\Delta_c}\ \sum_g \pi_g F_g(\theta) - \tau\,\mathrm{KL}(\pi\,\|\,\hat\pi),
    \qquad F_g(\theta) = \frac{c}{n}\sum_{i\in g}\ell_i(\theta),

has for τ > 0 the inner maximiser :math:`\pi^\star(\theta)_g \propto \hat\pi_g e^{F_g(\theta)/\tau}`
(:func:`closed_form_pi`) — the fixed point of ALSO's mirror step. What lives here:

* :func:`dro_path` / :func:`dro_path_figure` — the robust solution θ*(τ), π*(τ) of the 2-D toy
  between ERM (τ → ∞) and the minimax point (τ = 0), for two priors.
* :func:`reference_also` — ALSO written line by line from the reference semantics (methods.md) with
  plain tensor arithmetic, and :func:`also_line_check` — the same trajectory from
  :class:`optviz.optim.ALSO`, compared number by number.
* :func:`adam_limit_check` — ALSO with π frozen at a uniform prior (descent–ascent mode) is Adam
  with coupled L2 decay: compared with ``torch.optim.Adam``.
* :func:`pi_fixed_point_check` — ALSO's π_K on the toy against :math:`\hat\pi e^{F(\theta_K)/\tau}`
  and against SciPy's saddle point.
* :func:`optimism_runs`, :func:`optimism_figure`, :func:`optimism_explorer` — the optimistic
  (extrapolated) ALSO against plain descent–ascent: distance to the saddle point over steps.
* :func:`imbalance_compare`, :func:`imbalance_figure`, :func:`imbalance_explorer` — class imbalance
  by parity (paper, section 6.1) with the classes as groups: ALSO, AdamW, static weights and the
  DRO baselines, worst-class and mean accuracy; the unbalanced coefficient, ALSO's π step and KL
  weight on sliders; every run cached.
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

from .._cache import LRUCache
from .._checks import check_choice, check_int, check_range
from ..optim.also import ALSO
from ..problems.dro_toy import DROToy
from ..run import run
from ..viz._plotly import LAYOUT_DEFAULTS
from ..viz._style import PALETTE, fmt_num
from ..viz.dro import GROUP_COLORS, contour_traces
from ..widgets._base import Explorer, log_slider

__all__ = [
    "closed_form_pi", "dro_path", "dro_path_figure",
    "reference_also", "also_line_check", "adam_limit_check", "pi_fixed_point_check",
    "OptimismRuns", "optimism_runs", "optimism_figure", "optimism_explorer",
    "IMBALANCE_SIZES", "IMBALANCE_METHODS", "BASELINE_HPARAMS", "ImbalanceComparison",
    "imbalance_compare", "imbalance_figure", "imbalance_explorer",
]

PRIOR_LABELS = {"uniform": "равномерное π̂", "inverse_frequency": "π̂ ∝ 1/размер группы"}


def _prior_vector(problem, prior) -> np.ndarray:
    if isinstance(prior, str):
        check_choice("prior", prior, tuple(PRIOR_LABELS))
        return problem.prior(prior)
    p = np.asarray(prior, dtype=np.float64)
    if p.shape != (problem.n_groups,) or (p <= 0).any():
        raise ValueError(f"Параметр prior должен быть вектором из {problem.n_groups} положительных чисел, "
                         f"получено {prior!r}.")
    return p / p.sum()


# ---------------------------------------------------------------------------------------------
# the closed-form inner maximiser and the robust path
# ---------------------------------------------------------------------------------------------
def closed_form_pi(group_losses, tau: float, prior) -> np.ndarray:
    r""":math:`\pi^\star_g = \hat\pi_g e^{F_g/\tau} / \sum_h \hat\pi_h e^{F_h/\tau}` (stable softmax).

    The maximiser over the simplex of :math:`\sum_g\pi_g F_g - \tau\,\mathrm{KL}(\pi\|\hat\pi)`; also
    the fixed point of the mirror step
    :math:`\pi \mapsto \mathrm{softmax}((\log\pi + \eta\tau\log\hat\pi + \eta F)/(1+\eta\tau))`.
    ``group_losses`` may have leading dimensions (the last one is the groups).
    """
    check_range("tau", tau, 0.0, low_open=True)
    F = np.asarray(group_losses, dtype=np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    if prior.shape != F.shape[-1:] or (prior <= 0).any():
        raise ValueError(f"Параметр prior должен быть положительным вектором длины {F.shape[-1]} "
                         f"(по числу групп), получено {prior!r}.")
    z = np.log(prior / prior.sum()) + F / tau
    z = z - z.max(axis=-1, keepdims=True)
    w = np.exp(z)
    return w / w.sum(axis=-1, keepdims=True)


def dro_path(problem: DROToy | None = None, taus: Sequence[float] = tuple(np.geomspace(0.03, 100.0, 25)),
             prior="uniform") -> dict:
    r"""The robust solution θ*(τ), π*(τ) of the toy for every τ (SciPy, :meth:`DROToy.dro_solution`).

    Returns ``taus`` (sorted ascending), ``theta`` ``(T, 2)``, ``pi`` ``(T, G)``, the minimax point
    (τ = 0) ``theta0``/``pi0`` and the weighted-ERM limit τ → ∞ ``theta_inf`` (the minimiser of
    :math:`\sum_g\hat\pi_g F_g`, closed form for quadratics).
    """
    p = problem if problem is not None else DROToy()
    taus = np.sort(np.asarray(list(taus), dtype=np.float64))
    if taus.size == 0 or (taus <= 0).any():
        raise ValueError("Параметр taus должен содержать хотя бы одно положительное значение τ.")
    w = _prior_vector(p, prior)
    sols = [p.dro_solution(float(t), w) for t in taus]
    minimax = p.dro_solution(0.0, w)
    # τ → ∞: Σ_g π̂_g F_g is a quadratic, its minimiser solves Σ_i π̂_{g_i} A_{g_i}(θ − c_i) = 0
    wi = w[p.group_ids][:, None, None] * p._A
    theta_inf = np.linalg.solve(wi.sum(0), np.einsum("ijk,ik->j", wi, p.points))
    return dict(taus=taus, theta=np.array([s.theta for s in sols]), pi=np.array([s.pi for s in sols]),
                theta0=minimax.theta, pi0=minimax.pi, theta_inf=theta_inf, prior=w,
                prior_name=prior if isinstance(prior, str) else "custom")


def dro_path_figure(problem: DROToy | None = None, *, priors=("uniform", "inverse_frequency"),
                    taus: Sequence[float] = tuple(np.geomspace(0.03, 100.0, 25))) -> go.Figure:
    """Left: the toy's contour, its groups, ERM ★ and the paths θ*(τ) for each prior (τ = 0 ◆, τ → ∞ ●).
    Right: π*_g(τ) against τ (log axis), solid for the first prior, dashed for the second."""
    p = problem if problem is not None else DROToy()
    paths = [dro_path(p, taus, pr) for pr in priors]
    ref_l = dict(xaxis="x", yaxis="y")
    ref_r = dict(xaxis="x2", yaxis="y2")
    traces = contour_traces(p, ref_l)
    dashes = ["solid", "dash", "dot"]
    path_colors = ["#d62728", "#9467bd", "#2ca02c"]
    for j, (path, pr) in enumerate(zip(paths, priors)):
        lab = PRIOR_LABELS.get(pr, str(pr))
        th = np.vstack([path["theta0"], path["theta"], path["theta_inf"]])   # τ = 0 → … → ∞
        traces.append(dict(type="scatter", x=th[:, 0], y=th[:, 1], mode="lines+markers", name=f"θ*(τ), {lab}",
                           line=dict(color=path_colors[j], width=2.5), marker=dict(size=5),
                           hovertemplate="θ = (%{x:.3f}, %{y:.3f})<extra></extra>", **ref_l))
        traces.append(dict(type="scatter", x=[path["theta0"][0]], y=[path["theta0"][1]], mode="markers",
                           name=f"τ = 0 (минимум худшей групповой потери), {lab}", showlegend=False,
                           marker=dict(symbol="diamond", size=12, color=path_colors[j],
                                       line=dict(width=1, color="white")), **ref_l))
        for g in range(p.n_groups):
            traces.append(dict(type="scatter", x=path["taus"], y=path["pi"][:, g], mode="lines",
                               name=f"π*_{g + 1}, {lab}", legendgroup=f"pi{j}",
                               line=dict(color=GROUP_COLORS[g], dash=dashes[j % 3], width=2),
                               hovertemplate=f"группа {g + 1}: π* = %{{y:.3f}}<extra>τ = %{{x:.3g}}</extra>",
                               showlegend=g == 0, **ref_r))
    erm = p.minimizers[0]
    far = [np.linalg.norm(path["theta0"] - erm) for path in paths]
    title = ("Решение DRO θ*(τ) уходит от ERM ★ при уменьшении τ"
             f"<br><sup>размеры групп {', '.join(str(s) for s in p.group_sizes)}; расстояние от ERM до минимума худшей групповой потери "
             f"(τ = 0): {', '.join(f'{PRIOR_LABELS.get(pr, pr)} — {fmt_num(d)}' for pr, d in zip(priors, far))}; "
             "справа π*(τ): сплошные — первое π̂, пунктир — второе</sup>")
    (x0, x1), (y0, y1) = p.window
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(
        title=dict(text=title, x=0.0, xanchor="left"), height=520, margin=dict(l=60, r=30, t=90, b=60),
        xaxis=dict(domain=[0.0, 0.5], range=[x0, x1], title=dict(text="θ₁")),
        yaxis=dict(domain=[0.0, 1.0], range=[y0, y1], title=dict(text="θ₂"), scaleanchor="x"),
        xaxis2=dict(domain=[0.6, 1.0], type="log", title=dict(text="вес KL τ (лог. шкала)"), anchor="y2"),
        yaxis2=dict(domain=[0.0, 1.0], range=[0, 1], title=dict(text="π*_g"), anchor="x2"),
        legend=dict(orientation="h", y=-0.15, x=0.0), hovermode="closest",
    )
    return go.Figure(data=traces, layout=layout)


# ---------------------------------------------------------------------------------------------
# ALSO line by line
# ---------------------------------------------------------------------------------------------
def _adam_step_ref(state: dict, g: torch.Tensor, lr: float, betas, eps: float) -> torch.Tensor:
    """AdamStep(g): k ← k+1, m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², −lr·√(1−β₂ᵏ)/(1−β₁ᵏ)·m/(√v + ε)."""
    b1, b2 = betas
    state["k"] += 1
    k = state["k"]
    state["m"] = b1 * state["m"] + (1 - b1) * g
    state["v"] = b2 * state["v"] + (1 - b2) * g * g
    return -lr * math.sqrt(1 - b2**k) / (1 - b1**k) * state["m"] / (state["v"].sqrt() + eps)


def _md_ref(pi, h, pi_lr, tau, prior, eps, temperature=1.0):
    """MD(π, h) = softmax((log(π + ε) + η_π τ log π̂ − η_π h) / ((1 + η_π τ) T))."""
    z = (torch.log(pi + eps) + pi_lr * tau * torch.log(prior) - pi_lr * h) / ((1 + pi_lr * tau) * temperature)
    return torch.softmax(z, dim=-1)


def reference_also(losses_fn, theta0, groups, n_groups: int, steps: int, *, lr=1e-3, betas=(0.9, 0.999),
                   eps=torch.finfo(torch.float32).eps, weight_decay=1e-3, pi_lr=1e-3, pi_decay=1e-2,
                   alpha=1.0, prior=None, scale=None) -> dict:
    r"""ALSO written line by line (methods.md's reference semantics), no optimizer class involved.

    ``losses_fn(theta) -> (B,)`` per-sample losses of one full batch, ``groups`` their group ids.
    Iteration t (θ_t, π_t the base point):

    1. :math:`\theta_{t+1/2} = \theta_t + \mathrm{AdamStep}(\alpha G_{t-1/2} + \lambda\theta_t)`,
       :math:`\pi_{t+1/2} = \mathrm{MD}(\pi_t, h_{t-1/2})` (on the first iteration: no extrapolation);
    2. :math:`G_{t+1/2} = \nabla_\theta\sum_i \pi_{t+1/2}[g_i]\,s\,\ell_i(\theta_{t+1/2})`,
       :math:`h_{t+1/2,g} = -s\sum_{i\in g}\ell_i(\theta_{t+1/2})`;
    3. :math:`\theta_{t+1} = \theta_t + \mathrm{AdamStep}(G_{t+1/2} + \lambda\theta_t)` — from θ_t;
    4. :math:`\pi_{t+1} = \mathrm{MD}(\pi_t, h_{t+1/2})`.

    One Adam state serves both half-steps. Returns ``theta`` ``(T+1, d)``, ``pi`` ``(T+1, G)`` (base
    points) and ``adam_steps`` (the Adam counter after T iterations: 2T − 1).
    """
    steps = check_int("steps", steps, 0)
    theta = torch.as_tensor(theta0, dtype=torch.float64).clone()
    groups = torch.as_tensor(groups, dtype=torch.long)
    prior = (torch.full((n_groups,), 1.0 / n_groups, dtype=torch.float64) if prior is None
             else torch.as_tensor(prior, dtype=torch.float64) / float(np.sum(prior)))
    s = n_groups / groups.numel() if scale is None else float(scale)
    pi = prior.clone()
    state = dict(k=0, m=torch.zeros_like(theta), v=torch.zeros_like(theta))
    G_prev = h_prev = None
    thetas, pis = [theta.clone()], [pi.clone()]
    for _ in range(steps):
        # 1. extrapolation (skipped on the first iteration)
        if G_prev is None:
            theta_half, pi_half = theta, pi
        else:
            theta_half = theta + _adam_step_ref(state, alpha * G_prev + weight_decay * theta, lr, betas, eps)
            pi_half = _md_ref(pi, h_prev, pi_lr, pi_decay, prior, eps)
        # 2. one oracle call at the extrapolated point
        th = theta_half.detach().clone().requires_grad_(True)
        ell = losses_fn(th)
        (G,) = torch.autograd.grad((pi_half[groups] * s * ell).sum(), th)
        h = -s * torch.zeros(n_groups, dtype=torch.float64).index_add_(0, groups, ell.detach())
        # 3. Adam update from the base point θ_t;  4. mirror step from π_t
        theta = theta + _adam_step_ref(state, G + weight_decay * theta, lr, betas, eps)
        pi = _md_ref(pi, h, pi_lr, pi_decay, prior, eps)
        G_prev, h_prev = G, h
        thetas.append(theta.clone())
        pis.append(pi.clone())
    return dict(theta=torch.stack(thetas).numpy(), pi=torch.stack(pis).numpy(), adam_steps=state["k"])


def also_line_check(problem: DROToy | None = None, steps: int = 25, **hyper) -> dict:
    r""":func:`reference_also` against :class:`optviz.optim.ALSO` on the toy (float64, full batch).

    Returns both trajectories, the largest differences ``theta_diff``, ``pi_diff`` and the Adam
    counters (the reference's 2T − 1; the optimizer's 2T, since its ``step()`` already takes the
    extrapolation of iteration T + 1).
    """
    p = problem if problem is not None else DROToy()
    steps = check_int("steps", steps, 1)
    hp = dict(lr=0.05, weight_decay=1e-3, pi_lr=0.5, pi_decay=0.5, alpha=1.0)
    hp.update(hyper)
    prior = p.prior("inverse_frequency")
    ref = reference_also(p.losses, p.start, p.groups, p.n_groups, steps, prior=prior, **hp)
    x = torch.tensor(p.start, dtype=torch.float64, requires_grad=True)
    opt = ALSO([x], n_groups=p.n_groups, prior=prior.tolist(), **hp)
    thetas, pis = [x.detach().clone().numpy()], [opt.pi.numpy()]
    for _ in range(steps):
        opt.zero_grad()
        opt.weighted_loss(p.losses(x), groups=p.groups).backward()
        opt.step()
        with opt.base_point():
            thetas.append(x.detach().clone().numpy())
        pis.append(opt.pi.numpy())
    theta, pi = np.array(thetas), np.array(pis)
    return dict(reference=ref, theta=theta, pi=pi, theta_diff=float(np.abs(theta - ref["theta"]).max()),
                pi_diff=float(np.abs(pi - ref["pi"]).max()), adam_steps_reference=ref["adam_steps"],
                adam_steps_optimizer=int(opt.state[x]["step"]), steps=steps)


def adam_limit_check(steps: int = 50, *, lr: float = 0.05, weight_decay: float = 1e-2, seed: int = 0) -> dict:
    r"""ALSO with π frozen (``pi_lr = 0``, mode ``"descent-ascent"``, uniform prior) against ``torch.optim.Adam``.

    With π = uniform and :math:`s = c/B` the weighted loss is the batch mean, and the update is
    :math:`\theta \leftarrow \theta + \mathrm{AdamStep}(G + \lambda\theta)` — Adam with coupled L2. ε = 0
    on both sides (their ε placements differ otherwise, see :class:`~optviz.optim.ALSO`). The problem
    is a least-squares fit on 40 random points in 5 dimensions, 4 groups. Returns the largest
    parameter difference over the run and the final π (must equal the prior).
    """
    steps = check_int("steps", steps, 1)
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(40, generator=gen, dtype=torch.float64)
    groups = torch.arange(40) % 4
    w0 = torch.randn(5, generator=gen, dtype=torch.float64)
    a = w0.clone().requires_grad_(True)
    b = w0.clone().requires_grad_(True)
    also = ALSO([a], n_groups=4, lr=lr, weight_decay=weight_decay, eps=0.0, pi_lr=0.0, mode="descent-ascent")
    adam = torch.optim.Adam([b], lr=lr, weight_decay=weight_decay, eps=0.0)
    diff = 0.0
    for _ in range(steps):
        also.zero_grad()
        also.weighted_loss(0.5 * (X @ a - y) ** 2, groups=groups).backward()
        also.step()
        adam.zero_grad()
        (0.5 * (X @ b - y) ** 2).mean().backward()
        adam.step()
        diff = max(diff, float((a - b).detach().abs().max()))
    return dict(max_diff=diff, pi=also.pi.numpy(), steps=steps, moved=float((a.detach() - w0).norm()))


def pi_fixed_point_check(problem: DROToy | None = None, taus: Sequence[float] = (0.5, 1.0, 10.0),
                         priors: Sequence[str] = ("uniform", "inverse_frequency"), *, steps: int = 600,
                         lr: float = 0.05, pi_lr: float = 0.5) -> list[dict]:
    r"""ALSO on the toy for every (τ, prior): π_K against the closed form and SciPy's saddle point.

    Each row: ``tau``, ``prior``, ``pi`` (ALSO's π_K), ``pi_closed`` —
    :math:`\hat\pi e^{F(\theta_K)/\tau}` normalised at ALSO's own θ_K, ``pi_star`` — π* of
    :meth:`DROToy.dro_solution`, ``gap_closed`` = ‖π_K − π_closed‖₁, ``gap_star`` = ‖π_K − π*‖₁,
    ``theta_gap`` = ‖θ_K − θ*‖. ALSO runs without weight decay (the saddle point is of the
    undecayed problem).
    """
    p = problem if problem is not None else DROToy()
    steps = check_int("steps", steps, 1)
    rows = []
    for prior in priors:
        w = _prior_vector(p, prior)
        for tau in taus:
            check_range("tau", tau, 0.0, low_open=True)
            tr = run(p, ALSO, p.start, steps, n_groups=p.n_groups, lr=lr, weight_decay=0.0, pi_lr=pi_lr,
                     pi_decay=float(tau), prior=w.tolist())
            theta, pi = tr.points[-1, 0], tr.pi[-1]
            F = p.group_losses(torch.as_tensor(theta)).numpy()
            closed = closed_form_pi(F, float(tau), w)
            sol = p.dro_solution(float(tau), w)
            rows.append(dict(tau=float(tau), prior=prior, pi=pi, pi_closed=closed, pi_star=sol.pi,
                             gap_closed=float(np.abs(pi - closed).sum()), gap_star=float(np.abs(pi - sol.pi).sum()),
                             theta_gap=float(np.linalg.norm(theta - sol.theta))))
    return rows


# ---------------------------------------------------------------------------------------------
# optimism: extrapolated ALSO against descent–ascent
# ---------------------------------------------------------------------------------------------
@dataclass
class OptimismRuns:
    """Distances to the saddle point per step: ``theta_dist``/``pi_dist`` map a label to ``(K+1,)``."""

    tau: float
    pi_lr: float
    alpha: float
    prior: str
    theta_dist: dict
    pi_dist: dict
    solution: object = None
    steps: int = 0


def optimism_runs(problem: DROToy | None = None, *, tau: float = 0.3, pi_lr: float = 1.0, alpha: float = 1.0,
                  prior: str = "inverse_frequency", lr: float = 0.05, steps: int = 400) -> OptimismRuns:
    r"""ALSO (optimistic, negative momentum α) and ALSO without extrapolation (descent–ascent) on the toy.

    Both from the same start with the same η, η_π, τ and prior; returns ‖θ_k − θ*‖ and ‖π_k − π*‖₁
    with (θ*, π*) of :meth:`DROToy.dro_solution`.
    """
    p = problem if problem is not None else DROToy()
    check_range("tau", tau, 0.0, low_open=True)
    check_range("pi_lr", pi_lr, 0.0, low_open=True)
    check_range("alpha", alpha, 0.0)
    steps = check_int("steps", steps, 1)
    w = _prior_vector(p, prior)
    sol = p.dro_solution(float(tau), w)
    kw = dict(n_groups=p.n_groups, lr=lr, weight_decay=0.0, pi_lr=float(pi_lr), pi_decay=float(tau), prior=w.tolist())
    th, pd = {}, {}
    for label, extra in ((f"ALSO, α = {fmt_num(alpha)}", dict(alpha=float(alpha))),
                         ("без экстраполяции (спуск–подъём)", dict(mode="descent-ascent"))):
        tr = run(p, ALSO, p.start, steps, **kw, **extra)
        th[label] = np.linalg.norm(tr.points[:, 0] - sol.theta, axis=1)
        pd[label] = np.abs(tr.pi - sol.pi).sum(axis=1)
    return OptimismRuns(float(tau), float(pi_lr), float(alpha), prior, th, pd, sol, steps)


def _tail(x: np.ndarray) -> float:
    """Mean over the last tenth of a curve (the level where a run settled or keeps oscillating)."""
    n = max(1, len(x) // 10)
    return float(np.mean(x[-n:]))


def optimism_figure(res: OptimismRuns) -> go.Figure:
    """Two log-scale panels: ‖θ_k − θ*‖ and ‖π_k − π*‖₁ over the steps; the caption compares the tails."""
    colors = ["#d62728", "#1f77b4"]
    traces = []
    for j, (lab, d) in enumerate(res.theta_dist.items()):
        k = np.arange(len(d))
        traces.append(dict(type="scatter", x=k, y=np.maximum(d, 1e-16), mode="lines", name=lab, legendgroup=lab,
                           line=dict(color=colors[j], width=2), xaxis="x", yaxis="y"))
        traces.append(dict(type="scatter", x=k, y=np.maximum(res.pi_dist[lab], 1e-16), mode="lines", name=lab,
                           legendgroup=lab, showlegend=False, line=dict(color=colors[j], width=2),
                           xaxis="x2", yaxis="y2"))
    (a_lab, b_lab) = list(res.theta_dist)
    ta, tb = _tail(res.theta_dist[a_lab]), _tail(res.theta_dist[b_lab])
    pa, pb = _tail(res.pi_dist[a_lab]), _tail(res.pi_dist[b_lab])
    better = "с экстраполяцией ближе" if ta < tb else "без экстраполяции ближе"
    title = (f"Оптимизм против спуска–подъёма: τ = {fmt_num(res.tau)}, η_π = {fmt_num(res.pi_lr)}, "
             f"{PRIOR_LABELS.get(res.prior, res.prior)}"
             f"<br><sup>последние 10% шагов: ‖θ − θ*‖ = {fmt_num(ta)} ({a_lab}) против {fmt_num(tb)} "
             f"(без экстраполяции); ‖π − π*‖₁ = {fmt_num(pa)} против {fmt_num(pb)} — {better}</sup>")
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(
        title=dict(text=title, x=0.0, xanchor="left"), height=430, margin=dict(l=60, r=30, t=90, b=60),
        xaxis=dict(domain=[0.0, 0.45], title=dict(text="шаг k")),
        yaxis=dict(type="log", title=dict(text="‖θ_k − θ*‖ (лог. шкала)"), exponentformat="power"),
        xaxis2=dict(domain=[0.55, 1.0], title=dict(text="шаг k"), anchor="y2"),
        yaxis2=dict(type="log", title=dict(text="‖π_k − π*‖₁ (лог. шкала)"), anchor="x2", exponentformat="power"),
        legend=dict(orientation="h", y=-0.2, x=0.0),
    )
    return go.Figure(data=traces, layout=layout)




def optimism_explorer(problem: DROToy | None = None, *, tau: float = 0.3, pi_lr: float = 1.0, alpha: float = 1.0,
                      prior: str = "inverse_frequency", steps: int = 400) -> Explorer:
    """Sliders α (negative momentum), η_π, τ and the prior; the figure is :func:`optimism_figure`."""
    p = problem if problem is not None else DROToy()
    steps = check_int("steps", steps, 1, 5000)
    wide = {"description_width": "initial"}
    c = OrderedDict()
    c["alpha"] = W.FloatSlider(value=float(alpha), min=0.0, max=2.0, step=0.1, description="отрицательный импульс α",
                               style=wide, continuous_update=False)
    c["pi_lr"] = log_slider(float(pi_lr), 1e-2, 10.0, "шаг по π η_π", readout_format=".3g", steps=45)
    c["tau"] = log_slider(float(tau), 0.03, 10.0, "вес KL τ", readout_format=".3g", steps=50)
    c["prior"] = W.Dropdown(options=[(v, k) for k, v in PRIOR_LABELS.items()], value=prior, description="априорное π̂",
                            style=wide)
    for name in ("pi_lr", "tau"):
        c[name].continuous_update = False
    ex: Explorer

    def build(params):
        key = (round(float(params["alpha"]), 9), round(float(params["pi_lr"]), 12), round(float(params["tau"]), 12),
               params["prior"])
        res = ex.cached(key, lambda: optimism_runs(p, tau=key[2], pi_lr=key[1], alpha=key[0], prior=key[3],
                                                   steps=steps))
        return optimism_figure(res)

    ex = Explorer(c, build, static_values={"pi_lr": [0.1, 0.3, 1.0, 3.0]})
    return ex


# ---------------------------------------------------------------------------------------------
# class imbalance: the classes are the groups
# ---------------------------------------------------------------------------------------------
#: "cpu": digits 8×8 and a tiny MLP (a second per setting); "full": CIFAR-10 and ResNet-18 (a GPU job)
IMBALANCE_SIZES = {
    "tiny": dict(dataset="digits", model="mlp", hidden=(16,), epochs=3, batch_size=64, seeds=(0,)),
    "cpu": dict(dataset="digits", model="mlp", hidden=(32,), epochs=8, batch_size=64, seeds=(0, 1, 2)),
    "full": dict(dataset="cifar10", model="resnet18", hidden=(), epochs=30, batch_size=128, seeds=(0, 1, 2)),
}

#: the compared methods, in the order of the figure
IMBALANCE_METHODS = ("ALSO", "AdamW", "Static Weights", "RECOVER", "Spectral Risk", "FastDRO", "DRAGO")

#: fixed hyperparameters of every method (ALSO's η_π and τ come from the sliders)
BASELINE_HPARAMS = {
    "ALSO": dict(lr=5e-3, weight_decay=1e-4),
    "AdamW": dict(lr=5e-3, weight_decay=1e-4),
    "Static Weights": dict(lr=5e-3, weight_decay=1e-4),
    "RECOVER": dict(lr=5e-3, weight_decay=1e-4, tau=1.0),
    "Spectral Risk": dict(lr=5e-3, weight_decay=1e-4, r=2.0, nu=0.1),
    "FastDRO": dict(lr=5e-3, weight_decay=1e-4, alpha=0.5, reg=0.1),
    "DRAGO": dict(lr=5e-3, weight_decay=1e-4, pi_lr=1e-2, nu=0.1),
}

_DATA: LRUCache = LRUCache(8)
_RUNS: LRUCache = LRUCache(512)


def _catalog_method(name: str):
    from ..experiments import catalog

    makers = {"ALSO": lambda: catalog.also(groups="data"), "AdamW": catalog.adamw,
              "Static Weights": catalog.static_weights, "RECOVER": catalog.recover,
              "Spectral Risk": catalog.spectral_risk, "FastDRO": catalog.fastdro,
              "DRAGO": lambda: catalog.drago(groups="data")}
    check_choice("method", name, tuple(makers))
    return makers[name]()


def _imbalance_data(uc: float, size: str):
    from ..data import parity_split

    cfg = IMBALANCE_SIZES[size]
    return _DATA.get_or_compute((float(uc), size), lambda: parity_split(
        float(uc), dataset=cfg["dataset"], groups="classes", flatten=cfg["model"] == "mlp"))


def _model(cfg: dict, data, seed: int):
    from ..models import mlp, resnet18_cifar

    if cfg["model"] == "mlp":
        return mlp(int(data.train.x[0].numel()), tuple(cfg["hidden"]), data.train.n_classes, seed=seed)
    channels = int(data.train.x.shape[1]) if data.train.x.dim() == 4 else 1
    return resnet18_cifar(data.train.n_classes, in_channels=channels, seed=seed)


def _one_run(name: str, uc: float, pi_lr: float, tau: float, size: str, seed: int, device) -> dict:
    from ..experiments.harness import RunContext
    from ..train import train

    cfg = IMBALANCE_SIZES[size]
    data = _imbalance_data(uc, size)
    hp = dict(BASELINE_HPARAMS[name])
    if name == "ALSO":
        hp.update(pi_lr=float(pi_lr), pi_decay=float(tau))
    made = _catalog_method(name).make(hp, RunContext(data, cfg["epochs"], cfg["batch_size"]))
    opt, objective = made if isinstance(made, tuple) else (made, None)
    res = train(_model(cfg, data, seed), opt, data, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                objective=objective, seed=seed, device=device, progress=False, eval_sets=("test",))
    final = res.final("test")
    pi = None
    if name == "ALSO" and res.pi_steps is not None:
        pi = np.asarray(res.pi_steps, dtype=float)
    return dict(mean_acc=float(final["mean_group_acc"]), worst_acc=float(final["worst_group_acc"]),
                group_acc=np.asarray(final["group_acc"], dtype=float), pi=pi)


@dataclass
class ImbalanceComparison:
    """Test metrics per method and seed at one setting (the model after the last epoch).

    ``mean_acc``/``worst_acc``: method → ``(S,)`` arrays (mean accuracy over the two classes, the
    accuracy of the worse class); ``group_acc``: method → ``(S, 2)``; ``pi``: ALSO's π after every
    step, ``(S, steps+1, 2)``; ``prior`` — ALSO's prior (inverse class frequency); ``counts`` — the
    training class sizes.
    """

    uc: float
    pi_lr: float
    tau: float
    size: str
    seeds: tuple
    mean_acc: dict
    worst_acc: dict
    group_acc: dict
    pi: np.ndarray | None
    prior: np.ndarray
    counts: list
    methods: tuple = field(default=IMBALANCE_METHODS)

    def summary(self, metric: str = "worst_acc") -> dict:
        """method → (mean, std over seeds) of ``metric``."""
        check_choice("metric", metric, ("worst_acc", "mean_acc"))
        d = getattr(self, metric)
        return {m: (float(np.mean(d[m])), float(np.std(d[m]))) for m in self.methods}

    def best(self, metric: str = "worst_acc") -> str:
        s = self.summary(metric)
        return max(self.methods, key=lambda m: s[m][0])


def imbalance_compare(uc: float = 20.0, *, pi_lr: float = 1e-2, tau: float = 0.1, size: str = "cpu",
                      methods: Sequence[str] = IMBALANCE_METHODS, seeds: Iterable[int] | None = None,
                      device=None) -> ImbalanceComparison:
    r"""Train every method on the parity split with unbalanced coefficient ``uc`` (classes = groups).

    ALSO gets ``pi_lr`` = η_π and ``pi_decay`` = τ, prior = initial π ∝ 1/class size; the other
    methods their fixed :data:`BASELINE_HPARAMS`. Every run is cached by its setting: moving ALSO's
    sliders retrains only ALSO. ``size``: ``"cpu"`` (digits, MLP 64→32→2, 8 epochs, 3 seeds — about a
    second on a CPU core), ``"full"`` (CIFAR-10 via torchvision, ResNet-18, 30 epochs — a GPU job),
    ``"tiny"`` (tests). ``device``: default CUDA when available.
    """
    check_range("uc", uc, 1.0)
    check_range("pi_lr", pi_lr, 0.0)
    check_range("tau", tau, 0.0)
    check_choice("size", size, tuple(IMBALANCE_SIZES))
    methods = tuple(methods)
    for m in methods:
        check_choice("method", m, IMBALANCE_METHODS)
    cfg = IMBALANCE_SIZES[size]
    seeds = tuple(cfg["seeds"] if seeds is None else seeds)
    if not seeds:
        raise ValueError("Параметр seeds пуст: нужно хотя бы одно зерно.")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    out = {m: [] for m in methods}
    for m in methods:
        for seed in seeds:
            a, t = (float(pi_lr), float(tau)) if m == "ALSO" else (0.0, 0.0)
            key = (m, float(uc), a, t, size, int(seed), str(device))
            out[m].append(_RUNS.get_or_compute(key, lambda m=m, seed=seed, a=a, t=t: _one_run(
                m, float(uc), a, t, size, int(seed), device)))
    data = _imbalance_data(uc, size)
    counts = data.train.group_counts()
    prior = 1.0 / np.asarray(counts, dtype=float)
    pis = [r["pi"] for r in out.get("ALSO", []) if r["pi"] is not None]
    return ImbalanceComparison(
        float(uc), float(pi_lr), float(tau), size, seeds,
        mean_acc={m: np.array([r["mean_acc"] for r in out[m]]) for m in methods},
        worst_acc={m: np.array([r["worst_acc"] for r in out[m]]) for m in methods},
        group_acc={m: np.array([r["group_acc"] for r in out[m]]) for m in methods},
        pi=np.stack(pis) if pis else None, prior=prior / prior.sum(), counts=counts, methods=methods)


def imbalance_figure(res: ImbalanceComparison) -> go.Figure:
    """Left: mean and worst-class test accuracy per method (mean ± std over seeds). Right: ALSO's π of
    the rare (odd) class over the training steps, each seed and the prior (τ → ∞, static weights)."""
    methods = list(res.methods)
    mean_s, worst_s = res.summary("mean_acc"), res.summary("worst_acc")
    traces = [
        dict(type="bar", x=methods, y=[mean_s[m][0] for m in methods], name="средняя точность по классам",
             marker=dict(color="#9ecae1"), error_y=dict(type="data", array=[mean_s[m][1] for m in methods]),
             hovertemplate="%{x}: %{y:.3f}<extra>средняя</extra>", xaxis="x", yaxis="y"),
        dict(type="bar", x=methods, y=[worst_s[m][0] for m in methods], name="точность худшего класса",
             marker=dict(color=["#d62728" if m == "ALSO" else "#3182bd" for m in methods]),
             error_y=dict(type="data", array=[worst_s[m][1] for m in methods]),
             hovertemplate="%{x}: %{y:.3f}<extra>худший класс</extra>", xaxis="x", yaxis="y"),
    ]
    if res.pi is not None:
        steps = np.arange(res.pi.shape[1])
        for j in range(res.pi.shape[0]):
            traces.append(dict(type="scatter", x=steps, y=res.pi[j, :, 1], mode="lines",
                               name=f"π нечётного класса (ALSO, зерно {res.seeds[j]})", showlegend=j == 0,
                               line=dict(color=PALETTE[3], width=1.5), opacity=0.85 if j == 0 else 0.5,
                               xaxis="x2", yaxis="y2"))
        traces.append(dict(type="scatter", x=[0, steps[-1]], y=[res.prior[1]] * 2, mode="lines",
                           name="π̂ ∝ 1/размер класса (= статические веса)", line=dict(color="#555", dash="dash"),
                           xaxis="x2", yaxis="y2"))
    a_w, b_w = worst_s.get("ALSO"), worst_s.get("AdamW")
    lines = [f"в обучении {res.counts[0]} чётных и {res.counts[1]} нечётных; тест сбалансирован; "
             f"{len(res.seeds)} зерна, {IMBALANCE_SIZES[res.size]['epochs']} эпох"]
    if a_w is not None and b_w is not None:
        lines.append(f"худший класс: ALSO {a_w[0]:.3f} ± {a_w[1]:.3f}, AdamW {b_w[0]:.3f} ± {b_w[1]:.3f}; "
                     f"лучший по худшему классу — {res.best('worst_acc')}")
    if res.pi is not None:
        lines.append(f"π нечётного класса у ALSO: старт {res.prior[1]:.3f}, в конце "
                     f"{float(res.pi[:, -1, 1].mean()):.3f} (среднее по зёрнам)")
    title = (f"Дисбаланс классов uc = {fmt_num(res.uc)}: ALSO (η_π = {fmt_num(res.pi_lr)}, τ = {fmt_num(res.tau)}) "
             "и базовые методы" + "".join(f"<br><sup>{ln}</sup>" for ln in lines))
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(
        title=dict(text=title, x=0.0, xanchor="left"), height=560, margin=dict(l=60, r=30, t=120, b=150),
        barmode="group",
        xaxis=dict(domain=[0.0, 0.58], tickangle=-30),
        yaxis=dict(range=[0, 1.05], title=dict(text="точность на тесте")),
        xaxis2=dict(domain=[0.68, 1.0], title=dict(text="шаг обучения"), anchor="y2"),
        yaxis2=dict(range=[0, 1], title=dict(text="вес π нечётного класса"), anchor="x2"),
        legend=dict(orientation="h", y=-0.45, x=0.0),
    )
    return go.Figure(data=traces, layout=layout)


def imbalance_explorer(size: str = "cpu", *, uc: float = 20.0, pi_lr: float = 1e-2, tau: float = 0.1,
                       methods: Sequence[str] = IMBALANCE_METHODS, seeds: Iterable[int] | None = None,
                       device=None) -> Explorer:
    """Sliders: the unbalanced coefficient uc, ALSO's π step η_π and KL weight τ. Figure: :func:`imbalance_figure`.

    Runs are cached (a changed uc trains all methods once; a changed η_π or τ retrains only ALSO).
    The static version sweeps uc over 1, 5, 10, 20.
    """
    check_choice("size", size, tuple(IMBALANCE_SIZES))
    methods = tuple(methods)
    seeds = None if seeds is None else tuple(seeds)
    wide = {"description_width": "initial"}
    ucs = [1, 2, 5, 10, 20, 50]
    if float(uc) not in ucs:
        raise ValueError(f"Параметр uc должен быть одним из {ucs}, получено {uc!r}.")
    c = OrderedDict()
    c["uc"] = W.SelectionSlider(options=ucs, value=int(uc), description="коэффициент дисбаланса uc", style=wide,
                                continuous_update=False)
    c["pi_lr"] = log_slider(float(pi_lr), 1e-4, 1.0, "ALSO: шаг по π η_π", readout_format=".2g", steps=40)
    c["tau"] = log_slider(float(tau), 1e-3, 10.0, "ALSO: вес KL τ", readout_format=".2g", steps=40)
    for name in ("pi_lr", "tau"):
        c[name].continuous_update = False

    def build(params):
        res = imbalance_compare(float(params["uc"]), pi_lr=float(params["pi_lr"]), tau=float(params["tau"]),
                                size=size, methods=methods, seeds=seeds, device=device)
        return imbalance_figure(res)

    return Explorer(c, build, static_values={"uc": [1, 5, 10, 20]})
