r"""Helpers of lecture 06 «Обобщённая гладкость (L0, L1)».

Every experiment of the lecture that is more than a call of :func:`optviz.run.run` lives here:

* :data:`EXAMPLES`, :func:`curvature_samples`, :func:`smoothness_check` — the textbook
  (L0, L1)-smooth functions (x⁴, eˣ, eˣ + e⁻ˣ, one logistic sample, ‖x‖⁶) and a numerical check of
  :math:`\|\nabla^2 f(x)\| \le L_0 + L_1\|\nabla f(x)\|` on a grid (Hessians by autograd);
* :func:`difference_form_ratio` — the same constants in the form with gradient differences,
  :math:`\|\nabla f(y) - \nabla f(x)\| \le (L_0 + L_1\|\nabla f(x)\|)\,\|y - x\|` for
  :math:`\|y - x\| \le 1/L_1`, hold up to the factor :math:`(e^{c} - 1)/c \le e - 1`, :math:`c = L_1\|y-x\|`;
* :func:`curvature_figure` — the «curvature–gradient plane»: :math:`\|\nabla^2 f\|` against
  :math:`\|\nabla f\|` with the lines :math:`L_0 + L_1 g`;
* :func:`stable_step_scan`, :func:`stable_step_figure` — the largest fixed GD step that does not
  blow up on x⁴ from :math:`x_0` (theory :math:`1/(2x_0^2)`) against the (L0, L1) step;
* :func:`phase_check` — the two phases of :math:`\eta_k = 1/(L_0 + L_1\|\nabla f(x_k)\|)` measured;
* :func:`clipping_ratios`, :func:`clipped_vs_torch` — the (L0, L1) step against clipped and
  normalised GD, and clipped GD against ``torch.nn.utils.clip_grad_norm_`` + SGD;
* :func:`clipping_explorer` — the three variants side by side with L0, L1 sliders;
* :func:`overparam_linear` — GD on linear regression with d ≫ n never moves in the null space of A;
* :func:`depth_scaling` — why depth makes a loss (L0, L1)-smooth but not L-smooth;
* :class:`Factorization`, :func:`manifold_figure`, :func:`manifold_explorer` — the curve of minimisers
  :math:`uv = 1` of :math:`\tfrac12(uv - 1)^2` and where GD with a fixed step can stop on it.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from .._checks import check_choice, check_int, check_range
from ..optim.l0l1 import L0L1GD, l0l1_step_size
from ..optim.sgd import SGD
from ..problems.base import Problem
from ..problems.toys import ExpCosh, Quartic
from ..run import run
from ..viz._plotly import LAYOUT_DEFAULTS
from ..viz._style import DIVERGED_TEXT, PALETTE, fmt_num
from ..viz.phases import phase_boundary, plural
from ..widgets._base import Explorer, log_slider
from ..widgets.l0l1 import l0l1_controls

__all__ = [
    "Example", "EXAMPLES", "curvature_samples", "smoothness_check", "difference_form_ratio", "curvature_figure",
    "stable_step_scan", "stable_step_figure", "phase_check", "clipping_ratios", "clipped_vs_torch",
    "clipping_figure", "clipping_explorer", "overparam_linear", "depth_scaling", "Factorization",
    "manifold_runs", "manifold_figure", "manifold_explorer",
]

_STEPS = ("шаг", "шага", "шагов")


def _quiet_threads():
    """One torch thread for the tiny tensors of this lecture (returns the old count to restore)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    return old


# ---------------------------------------------------------------------------------------------
# 1. examples of (L0, L1)-smooth functions
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    """An (L0, L1)-smooth function with its constants and the points where it is checked.

    ``fn`` maps a tensor of shape ``(d,)`` to a scalar (autograd gives ∇f and ∇²f);
    ``points(n)`` returns an ``(n, d)`` float64 array of test points.
    """

    key: str
    label: str
    formula: str
    L0: float
    L1: float
    dim: int
    fn: Callable
    points: Callable


_A_LOGISTIC = (2.0, 1.0)          # one logistic sample log(1 + exp(−⟨a, x⟩)), ‖a‖ = √5


def _line(lo, hi):
    return lambda n: np.linspace(lo, hi, n)[:, None]


def _plane(radius, dim=2, seed=0):
    def pts(n):
        rng = np.random.default_rng(seed)
        # radii spread log-uniformly, directions uniform: small and large gradients both present
        r = radius * np.geomspace(1e-3, 1.0, n)
        u = rng.normal(size=(n, dim))
        return r[:, None] * u / np.linalg.norm(u, axis=1, keepdims=True)
    return pts


def _logistic_points(n):
    a = np.asarray(_A_LOGISTIC) / np.linalg.norm(_A_LOGISTIC)
    t = np.linspace(-8.0, 8.0, n)
    rng = np.random.default_rng(1)
    side = rng.normal(size=n)                       # a component orthogonal to a: f does not depend on it
    perp = np.array([-a[1], a[0]])
    return t[:, None] * a + side[:, None] * perp


EXAMPLES: "OrderedDict[str, Example]" = OrderedDict(
    (e.key, e) for e in (
        Example("quartic", "x⁴", r"x^4", 4.0, 2.0, 1, lambda x: (x**4).sum(), _line(-10.0, 10.0)),
        Example("exp", "eˣ", r"e^x", 0.0, 1.0, 1, lambda x: torch.exp(x).sum(), _line(-10.0, 10.0)),
        Example("exp_cosh", "eˣ + e⁻ˣ", r"e^x + e^{-x}", 2.0, 1.0, 1,
                lambda x: (torch.exp(x) + torch.exp(-x)).sum(), _line(-10.0, 10.0)),
        Example("logistic", "log(1 + e^(−⟨a, x⟩)), ‖a‖ = √5", r"\log(1 + e^{-\langle a, x\rangle})",
                0.0, math.sqrt(5.0), 2,
                lambda x: torch.nn.functional.softplus(-(x * torch.tensor(_A_LOGISTIC, dtype=x.dtype)).sum()),
                _logistic_points),
        Example("norm6", "‖x‖⁶ (x ∈ ℝ²)", r"\|x\|^6", 6.0, 4.0, 2, lambda x: (x * x).sum() ** 3, _plane(5.0)),
    )
)


def _example(key) -> Example:
    if isinstance(key, Example):
        return key
    check_choice("example", key, tuple(EXAMPLES))
    return EXAMPLES[key]


def curvature_samples(example, n: int = 400, points=None) -> dict:
    r"""‖∇f(x)‖ and the spectral norm ‖∇²f(x)‖ at ``n`` test points of an example (autograd, float64).

    Returns ``dict(points (n, d), grad_norm (n,), hess_norm (n,))``.
    """
    ex = _example(example)
    n = check_int("n", n, 2, 100_000)
    pts = np.asarray(ex.points(n) if points is None else points, dtype=np.float64).reshape(-1, ex.dim)
    x = torch.from_numpy(pts)
    old = _quiet_threads()
    try:
        g = torch.vmap(torch.func.grad(ex.fn))(x)
        H = torch.vmap(torch.func.jacrev(torch.func.jacrev(ex.fn)))(x)   # reverse-over-reverse: no forward AD
    finally:
        torch.set_num_threads(old)
    return dict(points=pts, grad_norm=torch.linalg.vector_norm(g, dim=-1).numpy(),
                hess_norm=torch.linalg.matrix_norm(H, ord=2).numpy())


def smoothness_check(examples: Sequence = tuple(EXAMPLES), n: int = 400) -> list[dict]:
    r"""For each example: the worst ratio :math:`\max_x \|\nabla^2 f\| / (L_0 + L_1\|\nabla f\|)` on its
    test points (≤ 1 means the constants hold there), the smallest :math:`L_1` that works with this
    :math:`L_0` on these points, :math:`\max_x\|\nabla^2 f\|` (no global L: it grows with the range)."""
    out = []
    for key in examples:
        ex = _example(key)
        s = curvature_samples(ex, n)
        g, h = s["grad_norm"], s["hess_norm"]
        bound = ex.L0 + ex.L1 * g
        with np.errstate(divide="ignore", invalid="ignore"):
            need = np.where(g > 0, (h - ex.L0) / g, np.where(h > ex.L0, np.inf, 0.0))
        out.append(dict(key=ex.key, label=ex.label, L0=ex.L0, L1=ex.L1, worst_ratio=float(np.max(h / bound)),
                        tight_L1=float(max(np.max(need), 0.0)), max_hess=float(np.max(h)), max_grad=float(np.max(g))))
    return out


def difference_form_ratio(example, n: int = 200, m: int = 41) -> float:
    r"""The worst :math:`\|\nabla f(y) - \nabla f(x)\| / ((L_0 + L_1\|\nabla f(x)\|)\|y - x\|)` over the
    example's test points x and y = x ± h·e with :math:`0 < h \le 1/L_1` (m values of h, e a
    coordinate direction). Grönwall's inequality along the segment bounds it by
    :math:`(e^{c} - 1)/c \le e - 1` with :math:`c = L_1\|y - x\|` (tight for eˣ at h = 1/L₁)."""
    ex = _example(example)
    if ex.L1 <= 0:
        raise ValueError("Нужна константа L1 > 0: в форме с разностями градиентов радиус равен 1/L1.")
    pts = np.asarray(ex.points(check_int("n", n, 1)), dtype=np.float64)
    hs = np.linspace(1.0, 0.0, check_int("m", m, 2), endpoint=False)[::-1] / ex.L1
    old = _quiet_threads()
    try:
        grad = torch.vmap(torch.func.grad(ex.fn))
        x = torch.from_numpy(pts)
        gx = grad(x)
        worst = 0.0
        for j in range(ex.dim):
            e = torch.zeros(ex.dim, dtype=torch.float64)
            e[j] = 1.0
            for sign in (1.0, -1.0):
                for h in hs:
                    gy = grad(x + sign * h * e)
                    num = torch.linalg.vector_norm(gy - gx, dim=-1)
                    den = (ex.L0 + ex.L1 * torch.linalg.vector_norm(gx, dim=-1)) * h
                    worst = max(worst, float((num / den).max()))
    finally:
        torch.set_num_threads(old)
    return worst


def curvature_figure(curves: Sequence[dict], *, lines: bool = True, title: str | None = None) -> go.Figure:
    r"""The curvature–gradient plane: :math:`\|\nabla^2 f\|` against :math:`\|\nabla f\|` (log–log).

    ``curves``: dicts with ``label``, ``grad_norm``, ``hess_norm`` and optionally ``L0``, ``L1`` (the
    line :math:`L_0 + L_1 g` is drawn dashed in the same colour). An L-smooth function stays under a
    horizontal line; an (L0, L1)-smooth one under a line of slope L₁.
    """
    if not curves:
        raise ValueError("Нужна хотя бы одна кривая.")
    fig = go.Figure()
    gmin = min(float(np.min(c["grad_norm"][c["grad_norm"] > 0])) for c in curves)
    gmax = max(float(np.max(c["grad_norm"])) for c in curves)
    gg = np.geomspace(gmin, gmax, 200)
    notes = []
    for i, c in enumerate(curves):
        color = PALETTE[i % len(PALETTE)]
        g, h = np.asarray(c["grad_norm"], float), np.asarray(c["hess_norm"], float)
        keep = (g > 0) & (h > 0)
        order = np.argsort(g[keep])
        fig.add_scatter(x=g[keep][order], y=h[keep][order], mode="markers", name=c["label"],
                        marker=dict(size=4, color=color), legendgroup=str(i))
        if lines and "L0" in c and "L1" in c:
            fig.add_scatter(x=gg, y=c["L0"] + c["L1"] * gg, mode="lines", legendgroup=str(i),
                            name=f"L₀ + L₁‖∇f‖: ({fmt_num(c['L0'])}, {fmt_num(c['L1'])})",
                            line=dict(color=color, dash="dash", width=1.5), showlegend=False)
            ratio = float(np.max(h / (c["L0"] + c["L1"] * g)))
            notes.append(f"{c['label']}: max ‖∇²f‖/(L₀ + L₁‖∇f‖) = {fmt_num(ratio)}")
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(title=title or "Кривизна против нормы градиента: пунктир — граница L₀ + L₁‖∇f‖",
                  height=520, margin=dict(l=60, r=20, t=90, b=40 + 18 * len(notes)),
                  xaxis=dict(type="log", title="‖∇f(x)‖", exponentformat="power"),
                  yaxis=dict(type="log", title="‖∇²f(x)‖", exponentformat="power"))
    if notes:
        layout["annotations"] = [dict(text="<br>".join(notes), xref="paper", yref="paper", x=0, y=-0.14,
                                      showarrow=False, xanchor="left", yanchor="top", align="left",
                                      font=dict(size=11, color="#555"))]
        layout["margin"]["b"] = 80 + 16 * len(notes)
    fig.update_layout(**layout)
    return fig


# ---------------------------------------------------------------------------------------------
# 2. fixed steps on x⁴
# ---------------------------------------------------------------------------------------------
def stable_step_scan(x0s: Sequence[float] = (1.0, 3.0, 10.0, 30.0), *, steps: int = 300, n_grid: int = 3001,
                     L0: float = 4.0, L1: float = 2.0) -> list[dict]:
    r"""The largest fixed GD step that is stable on x⁴ from each :math:`x_0`, measured on a log grid.

    GD on x⁴ is :math:`x_{k+1} = x_k(1 - 4\eta x_k^2)`; it does not move away from 0 iff
    :math:`|1 - 4\eta x_0^2| \le 1`, i.e. :math:`\eta \le 1/(2x_0^2)`, after which :math:`|x_k|` only
    decreases. Measured: the largest η of ``n_grid`` log-spaced values in :math:`[10^{-6}, 1]` for
    which ``steps`` steps of GD (the course's SGD on the full function) end with
    :math:`|x_K| \le |x_0|` and never diverge — all values in one vectorised run per start.
    Each row also holds the (L0, L1) step at :math:`x_0` and at the minimum (:math:`1/L_0`).
    """
    steps = check_int("steps", steps, 1, 100_000)
    n_grid = check_int("n_grid", n_grid, 2, 100_000)
    p = Quartic()
    lrs = np.geomspace(1e-6, 1.0, n_grid)
    rows = []
    for x0 in x0s:
        x0 = float(check_range("x0", x0, 0.0, 1000.0, low_open=True))
        tr = run(p, SGD, np.full((n_grid, 1), x0), steps, lr=lrs)
        ok = ~tr.diverged & np.isfinite(tr.points[-1, :, 0]) & (np.abs(tr.points[-1, :, 0]) <= x0 * (1 + 1e-12))
        measured = float(lrs[ok].max()) if ok.any() else float("nan")
        g0 = 4 * x0**3
        rows.append(dict(x0=x0, measured=measured, theory=1 / (2 * x0**2), l0l1_at_x0=float(l0l1_step_size(g0, L0, L1)),
                         l0l1_at_min=1 / L0, gain=(1 / L0) / measured))
    return rows


def stable_step_figure(rows: Sequence[dict], traces: dict | None = None) -> go.Figure:
    """Left: the measured stable step vs x₀ with the theory 1/(2x₀²) and the (L0, L1) steps.
    Right (when ``traces`` = mapping label → Trace on x⁴ is given): f(x_k) over the steps."""
    cols = 2 if traces else 1
    fig = make_subplots(rows=1, cols=cols, subplot_titles=["наибольший устойчивый постоянный шаг",
                                                           "f(x_k) = x_k⁴ по шагам"][:cols],
                        horizontal_spacing=0.12)
    x0 = np.array([r["x0"] for r in rows])
    xx = np.geomspace(x0.min() / 1.5, x0.max() * 1.5, 100)
    fig.add_scatter(x=xx, y=1 / (2 * xx**2), mode="lines", name="теория 1/(2x₀²)", line=dict(color="#1f77b4"),
                    row=1, col=1)
    fig.add_scatter(x=x0, y=[r["measured"] for r in rows], mode="markers", name="измерено (GD, постоянный шаг)",
                    marker=dict(size=10, color="#1f77b4", symbol="circle-open", line=dict(width=2)), row=1, col=1)
    fig.add_scatter(x=xx, y=[float(l0l1_step_size(4 * v**3, 4.0, 2.0)) for v in xx], mode="lines",
                    name="(L₀, L₁)-шаг в точке x₀", line=dict(color="#7f7f7f", dash="dot"), row=1, col=1)
    fig.add_scatter(x=xx, y=np.full_like(xx, rows[0]["l0l1_at_min"]), mode="lines",
                    name=f"(L₀, L₁)-шаг у минимума = 1/L₀ = {fmt_num(rows[0]['l0l1_at_min'])}",
                    line=dict(color="#7f7f7f"), row=1, col=1)
    fig.update_xaxes(type="log", title_text="старт x₀", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", title_text="шаг η", row=1, col=1)
    notes = [f"x₀ = {fmt_num(r['x0'])}: измерено {fmt_num(r['measured'])}, теория {fmt_num(r['theory'])}; "
             f"у минимума (L₀, L₁)-шаг в {fmt_num(r['gain'])} раз больше" for r in rows]
    if traces:
        for i, (label, tr) in enumerate(traces.items()):
            loss = np.where(np.isfinite(tr.loss[:, 0]) & (tr.loss[:, 0] > 0), tr.loss[:, 0], np.nan)
            fig.add_scatter(x=np.arange(tr.steps + 1), y=loss, mode="lines", name=label,
                            line=dict(color=PALETTE[(i + 2) % len(PALETTE)], width=2), row=1, col=2)
            notes.append(f"{label}: f(x_{tr.steps}) = {fmt_num(tr.loss[-1, 0])}")
        fig.update_xaxes(title_text="шаг k", row=1, col=2)
        fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(height=500, title="x⁴: постоянный шаг определяется самой дальней точкой пути",
                      legend=dict(orientation="h", y=-0.2, yanchor="top", x=0),
                      margin=dict(l=60, r=20, t=80, b=150 + 16 * len(notes)),
                      annotations=list(fig.layout.annotations) + [
                          dict(text="<br>".join(notes), xref="paper", yref="paper", x=0, y=-0.42, showarrow=False,
                               xanchor="left", yanchor="top", align="left", font=dict(size=11, color="#555"))])
    return fig


# ---------------------------------------------------------------------------------------------
# 3. the two phases, measured
# ---------------------------------------------------------------------------------------------
def _boundary_point(problem, bound: float) -> float:
    """|x| > 0 where |f'(x)| = bound, for the 1-D toys (f' increasing on x > 0)."""
    if isinstance(problem, Quartic):
        return (bound / 4.0) ** (1 / 3)
    if isinstance(problem, ExpCosh):
        return math.asinh(bound / 2.0)
    raise ValueError("Граница фаз вычисляется только для x⁴ и eˣ + e⁻ˣ.")


def phase_check(problem=None, L0: float = 4.0, L1: float = 2.0, x0: float = 10.0, steps: int = 200,
                tail_from: int = 30) -> dict:
    r"""Run (L0, L1)-GD on a 1-D toy and measure both phases.

    * linear phase (:math:`|f'(x_k)| \ge L_0/L_1`, k < k*): the step length
      :math:`\eta_k|f'(x_k)|` lies in :math:`[1/(2L_1), 1/L_1)`, and every step contracts
      :math:`f - f^*` at least by :math:`1 - 1/(4L_1R_k)`, :math:`R_k = |x_k - x^*|`
      (``contraction_ok``, ``worst_contraction`` = max of measured/bound factor);
    * the boundary: k* and the point :math:`|x| = |f'|^{-1}(L_0/L_1)` where it should happen;
    * sublinear phase: the slope of :math:`\log(f - f^*)` against :math:`\log(k - k^*)` over
      :math:`k \ge k^* +` ``tail_from`` (−2 on x⁴: there :math:`x_{k+1} \approx x_k - x_k^3`).
    """
    p = Quartic() if problem is None else problem
    steps = check_int("steps", steps, 2, 100_000)
    check_range("L0", L0, 0.0, low_open=True)
    check_range("L1", L1, 0.0, low_open=True)
    tr = run(p, L0L1GD, float(x0), steps, L0=L0, L1=L1)
    x = tr.points[:, 0, 0]
    gap = tr.loss[:, 0] - p.f_star
    g = tr.grad_norm[:, 0]
    bound = L0 / L1
    kb = phase_boundary(g, L0, L1)
    lin = slice(0, kb if kb >= 0 else steps)
    length = np.abs(np.diff(x))[lin]
    R = np.abs(x - float(p.minimizers[0, 0]))[lin]
    factor = gap[1:][lin] / gap[:-1][lin]
    limit = 1 - 1 / (4 * L1 * R)
    out = dict(trace=tr, boundary=bound, k_star=kb, x_at_boundary=_boundary_point(p, bound),
               x_before=float(abs(x[kb - 1])) if kb > 0 else float("nan"),
               x_after=float(abs(x[kb])) if kb >= 0 else float("nan"),
               length_min=float(length.min()) if length.size else float("nan"),
               length_max=float(length.max()) if length.size else float("nan"),
               contraction_ok=bool(np.all(factor <= limit)) if factor.size else True,
               worst_contraction=float(np.max(factor / limit)) if factor.size else float("nan"),
               first_points=x[:4].copy())
    if kb >= 0 and steps - kb > tail_from + 5:
        ks = np.arange(kb + tail_from, steps + 1)
        ok = gap[ks] > 0
        out["tail_slope"] = float(np.polyfit(np.log(ks[ok] - kb), np.log(gap[ks][ok]), 1)[0]) \
            if ok.sum() >= 5 else float("nan")      # reached f* exactly (eˣ + e⁻ˣ): no tail to fit
    else:
        out["tail_slope"] = float("nan")
    return out


# ---------------------------------------------------------------------------------------------
# 4. clipping and normalisation
# ---------------------------------------------------------------------------------------------
def clipping_ratios(grad_norms, L0: float, L1: float) -> dict:
    r"""The three step sizes at the given gradient norms and the ratios the theory predicts:

    :math:`\eta_{\text{clip}}/\eta = 1 + \min(L_1 g/L_0,\ L_0/(L_1 g)) \in [1, 2]` (2 exactly at
    :math:`g = L_0/L_1`), :math:`\eta_{\text{norm}}/\eta = 1 + L_0/(L_1 g) \to 1` for
    :math:`g \gg L_0/L_1`; and the sandwich
    :math:`\min(\tfrac{1}{2L_0}, \tfrac{1}{2L_1 g}) \le \eta \le \min(\tfrac1{L_0}, \tfrac1{L_1 g})`
    (``sandwich_ok``)."""
    check_range("L0", L0, 0.0, low_open=True)
    check_range("L1", L1, 0.0, low_open=True)
    g = np.asarray(grad_norms, dtype=float).reshape(-1)
    if g.size == 0 or not np.all(np.isfinite(g)) or np.any(g <= 0):
        raise ValueError("Нормы градиента должны быть конечными положительными числами.")
    eta = np.array([l0l1_step_size(v, L0, L1, "smooth") for v in g])
    clip = np.array([l0l1_step_size(v, L0, L1, "clipped") for v in g])
    norm = np.array([l0l1_step_size(v, L0, L1, "normalized") for v in g])
    tol = 1e-12
    sandwich = bool(np.all(0.5 * clip <= eta * (1 + tol)) and np.all(eta <= clip * (1 + tol)))
    return dict(grad_norm=g, smooth=eta, clipped=clip, normalized=norm, clip_ratio=clip / eta,
                norm_ratio=norm / eta, sandwich_ok=sandwich)


def clipped_vs_torch(problem=None, L0: float = 4.0, L1: float = 2.0, x0: float = 10.0, steps: int = 50) -> dict:
    r"""Clipped GD written the PyTorch way — ``clip_grad_norm_(max_norm=L0/L1)`` then ``SGD(lr=1/L0)`` —
    against :class:`~optviz.optim.L0L1GD` with ``variant="clipped"``. torch divides by
    :math:`\|g\| + 10^{-6}`, so the two agree to about :math:`10^{-6}` relative per step.
    Returns the two paths and the largest difference."""
    p = Quartic() if problem is None else problem
    steps = check_int("steps", steps, 1, 100_000)
    old = _quiet_threads()
    try:
        ours = run(p, L0L1GD, float(x0), steps, L0=L0, L1=L1, variant="clipped").points[:, 0, 0]
        x = torch.tensor([float(x0)], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([x], lr=1.0 / L0)
        path = [float(x0)]
        for _ in range(steps):
            opt.zero_grad()
            p.loss(x[None]).sum().backward()
            torch.nn.utils.clip_grad_norm_([x], max_norm=L0 / L1)
            opt.step()
            path.append(float(x.detach()[0]))
    finally:
        torch.set_num_threads(old)
    path = np.array(path)
    return dict(optviz=ours, torch=path, max_abs_diff=float(np.max(np.abs(ours - path))),
                max_rel_diff=float(np.max(np.abs(ours - path) / np.maximum(np.abs(path), 1e-300))))


_VARIANT_LABELS = OrderedDict([("smooth", "(L₀, L₁)-шаг 1/(L₀ + L₁‖g‖)"),
                               ("clipped", "клиппинг: min(1/L₀, 1/(L₁‖g‖))"),
                               ("normalized", "нормализованный: 1/(L₁‖g‖)")])
_VARIANT_COLORS = {"smooth": "#7f7f7f", "clipped": "#2ca02c", "normalized": "#d62728"}
_CLIP_PROBLEMS = OrderedDict([("quartic", ("x⁴", Quartic)), ("exp_cosh", ("eˣ + e⁻ˣ", ExpCosh))])


def clipping_figure(problem, traces: dict, L0: float, L1: float, *, validate: bool = True) -> go.Figure:
    r"""Three variants of the (L0, L1) step on a 1-D toy.

    ``traces``: variant (``smooth``/``clipped``/``normalized``) → Trace. Left: :math:`f - f^*` (log).
    Middle: the step length :math:`|x_{k+1} - x_k|` with :math:`1/L_1` and :math:`1/(2L_1)`.
    Right: the ratios :math:`\eta_{\text{clip}}/\eta` and :math:`\eta_{\text{norm}}/\eta` as
    functions of ‖g‖ (curves from theory), the gradient norms met by the runs marked on them,
    the band [1, 2] shaded and ‖g‖ = L₀/L₁ dashed.
    """
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=["f(x_k) − f* по шагам", "длина шага |x_{k+1} − x_k|", "шаг варианта / (L₀, L₁)-шаг"])
    bound = L0 / L1
    notes = []
    all_g = []
    for v, tr in traces.items():
        label, color = _VARIANT_LABELS[v], _VARIANT_COLORS[v]
        gap = tr.loss[:, 0] - problem.f_star
        gap_pos = np.where(np.isfinite(gap) & (gap > 0), gap, np.nan)
        fig.add_scatter(x=np.arange(tr.steps + 1), y=gap_pos, mode="lines", name=label, legendgroup=v,
                        line=dict(color=color, width=2), row=1, col=1)
        length = np.abs(np.diff(tr.points[:, 0, 0]))
        fig.add_scatter(x=np.arange(tr.steps), y=np.where(length > 0, length, np.nan), mode="lines", name=label,
                        legendgroup=v, showlegend=False, line=dict(color=color, width=1.5), row=1, col=2)
        g = tr.grad_norm[:-1, 0]
        g = g[np.isfinite(g) & (g > 0)]
        all_g.append(g)
        if tr.diverged[0]:
            notes.append(f"{label}: {DIVERGED_TEXT} на шаге {int(tr.diverged_at[0])}")
        else:
            tail = length[-10:]
            notes.append(f"{label}: f − f* = {fmt_num(gap[-1])} за {plural(tr.steps, _STEPS)}, "
                         f"длина последних шагов {fmt_num(float(tail.min()))}–{fmt_num(float(tail.max()))}")
    K = max(tr.steps for tr in traces.values())
    for y, name in ((1 / L1, "1/L₁"), (1 / (2 * L1), "1/(2L₁)")):
        fig.add_scatter(x=[0, K], y=[y, y], mode="lines", name=f"{name} = {fmt_num(y)}", showlegend=False,
                        line=dict(color="#444", dash="dot", width=1), row=1, col=2)
        fig.add_annotation(x=K, y=math.log10(y), text=name, showarrow=False, xanchor="right", yanchor="bottom",
                           font=dict(size=10, color="#444"), row=1, col=2)
    gs = np.concatenate(all_g) if all_g else np.array([bound])
    lo = min(float(gs.min()) if gs.size else bound, bound) / 10
    hi = max(float(gs.max()) if gs.size else bound, bound) * 10
    grid = np.geomspace(lo, hi, 300)
    theory = clipping_ratios(grid, L0, L1)
    for key, name in (("clip_ratio", "clipped"), ("norm_ratio", "normalized")):
        fig.add_scatter(x=grid, y=theory[key], mode="lines", name=f"теория: {_VARIANT_LABELS[name]}",
                        showlegend=False, line=dict(color=_VARIANT_COLORS[name], width=1.5), row=1, col=3)
    smooth_g = traces["smooth"].grad_norm[:-1, 0] if "smooth" in traces else gs
    smooth_g = smooth_g[np.isfinite(smooth_g) & (smooth_g > 0)]
    if smooth_g.size:
        r = clipping_ratios(smooth_g, L0, L1)
        fig.add_scatter(x=smooth_g, y=r["clip_ratio"], mode="markers", name="‖g_k‖ запуска (L₀, L₁)",
                        marker=dict(size=6, color=_VARIANT_COLORS["clipped"], line=dict(width=0.5, color="white")),
                        showlegend=False, row=1, col=3)
        notes.append(f"на пути (L₀, L₁)-GD: η_clip/η от {fmt_num(r['clip_ratio'].min())} до "
                     f"{fmt_num(r['clip_ratio'].max())} (теория: от 1 до 2, ровно 2 при ‖g‖ = L₀/L₁ = {fmt_num(bound)}); "
                     f"η_norm/η от {fmt_num(r['norm_ratio'].min())} до {fmt_num(r['norm_ratio'].max())}")
    fig.add_shape(type="rect", xref="x3", yref="y3", x0=lo, x1=hi, y0=1, y1=2, fillcolor="#2ca02c", opacity=0.08,
                  line=dict(width=0), layer="below")
    fig.add_shape(type="line", xref="x3", yref="y3 domain", x0=bound, x1=bound, y0=0, y1=1,
                  line=dict(color="#444", dash="dash", width=1.2))
    fig.add_annotation(x=math.log10(bound), y=1, yref="y3 domain", xref="x3", text="L₀/L₁", showarrow=False,
                       yanchor="bottom", font=dict(size=10))
    fig.update_xaxes(title_text="шаг k", row=1, col=1)
    fig.update_xaxes(title_text="шаг k", row=1, col=2)
    fig.update_xaxes(type="log", title_text="‖g‖", exponentformat="power", row=1, col=3)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_yaxes(type="log", range=[-0.05, math.log10(12)], row=1, col=3)
    x0 = float(next(iter(traces.values())).points[0, 0, 0])
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(
        title=dict(text=f"{problem.title}, x₀ = {fmt_num(x0)}, L₀ = {fmt_num(L0)}, L₁ = {fmt_num(L1)}: "
                        f"три вида шага (клиппинг на уровне L₀/L₁ = {fmt_num(bound)})", y=0.97, yanchor="top"),
        height=520, margin=dict(l=60, r=20, t=110, b=90 + 16 * len(notes)),
        legend=dict(orientation="h", yanchor="bottom", y=1.08, x=0),
        annotations=list(fig.layout.annotations) + [
            dict(text="<br>".join(notes), xref="paper", yref="paper", x=0, y=-0.14, showarrow=False, xanchor="left",
                 yanchor="top", align="left", font=dict(size=11, color="#555"))],
        meta=dict(clip_ratio_range=[float(r["clip_ratio"].min()), float(r["clip_ratio"].max())] if smooth_g.size else None))
    return fig


class ClippingExplorer(Explorer):
    """problem, L0, L1, x₀, steps → the smooth, clipped and normalised (L0, L1) runs side by side."""

    def __init__(self, problem: str, L0: float | None, L1: float | None, x0: float | None, steps: int):
        c, box = l0l1_controls(_CLIP_PROBLEMS, problem, L0, L1, x0, steps)
        super().__init__(c, self._build, controls_box=box, static_values={"L0": [0.25, 1.0, 4.0, 16.0, 64.0]})

    def _build(self, params: dict) -> go.Figure:
        check_choice("problem", params["problem"], tuple(_CLIP_PROBLEMS))
        problem = _CLIP_PROBLEMS[params["problem"]][1]()
        L0 = float(check_range("L0", params["L0"], 0.0, low_open=True))
        L1 = float(check_range("L1", params["L1"], 0.0, low_open=True))
        steps = check_int("steps (шагов)", params["steps"], 1, 2000)
        (lo, hi), = problem.window
        x0 = float(check_range("x0 (старт x₀)", params["x0"], lo, hi))
        key = (params["problem"], round(L0, 12), round(L1, 12), x0, steps)
        traces = self.cached(
            key, lambda: {v: run(problem, L0L1GD, x0, steps, L0=L0, L1=L1, variant=v) for v in _VARIANT_LABELS})
        return clipping_figure(problem, traces, L0, L1, validate=not self.live)

    def before_update(self, change) -> None:
        """Another function moves L0, L1 and x₀ to its own constants and start."""
        owner = getattr(change, "owner", None) if not isinstance(change, dict) else change.get("owner")
        if owner is self.controls["problem"]:
            cls = _CLIP_PROBLEMS[self.controls["problem"].value][1]
            self.controls["L0"].value = float(cls.L0)
            self.controls["L1"].value = float(cls.L1)
            self.controls["x0"].value = float(cls.starts[0, 0])


def clipping_explorer(problem: str = "quartic", *, L0: float | None = None, L1: float | None = None,
                      x0: float | None = None, steps: int = 60) -> ClippingExplorer:
    r"""Live comparison of :math:`\eta = 1/(L_0 + L_1\|g\|)`, clipped GD (base step :math:`1/L_0`, clip
    level :math:`L_0/L_1`) and normalised GD (step length :math:`1/L_1`) on x⁴ or eˣ + e⁻ˣ."""
    return ClippingExplorer(problem, L0, L1, x0, steps)


# ---------------------------------------------------------------------------------------------
# 5. over-parameterisation
# ---------------------------------------------------------------------------------------------
def overparam_linear(n: int = 20, d: int = 200, steps: int = 300, seed: int = 0, start_scale: float = 1.0) -> dict:
    r"""GD on :math:`f(x) = \frac{1}{2n}\|Ax - y\|^2` with d ≫ n (Gaussian A), step 1/L.

    The minimisers form the affine set :math:`\{x: Ax = y\}` of dimension d − n. The gradient
    :math:`A^\top(Ax - y)/n` lies in the row space of A, so GD never moves in the null space:
    from :math:`x_0` it converges to the projection of :math:`x_0` onto the set,
    :math:`x_0 + A^+(y - Ax_0)`; from 0 — to the minimum-norm solution :math:`A^+ y`.
    Runs from 0 and from a random start; returns residuals, null-space drift and distances.
    """
    n = check_int("n", n, 1)
    d = check_int("d", d, 1)
    steps = check_int("steps", steps, 1)
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d))
    y = rng.normal(size=n)
    L = float(np.linalg.eigvalsh(A.T @ A / n).max()) if d <= n else float(np.linalg.eigvalsh(A @ A.T / n).max())
    pinv = np.linalg.pinv(A)
    P_row = pinv @ A                              # projector onto the row space
    old = _quiet_threads()
    out = dict(n=n, d=d, L=L, null_dim=d - int(np.linalg.matrix_rank(A)))
    try:
        At, yt = torch.from_numpy(A), torch.from_numpy(y)
        for name, x0 in (("zero", np.zeros(d)), ("random", start_scale * rng.normal(size=d))):
            x = torch.tensor(x0, requires_grad=True)
            opt = SGD([x], lr=1.0 / L)
            for _ in range(steps):
                opt.zero_grad()
                (0.5 * ((At @ x - yt) ** 2).sum() / n).backward()
                opt.step()
            xk = x.detach().numpy()
            target = x0 + pinv @ (y - A @ x0)
            drift = (np.eye(d) - P_row) @ (xk - x0)
            out[name] = dict(x0=x0, x=xk, residual=float(np.linalg.norm(A @ xk - y)),
                             null_drift=float(np.linalg.norm(drift)), to_projection=float(np.linalg.norm(xk - target)),
                             norm=float(np.linalg.norm(xk)))
    finally:
        torch.set_num_threads(old)
    out["min_norm"] = float(np.linalg.norm(pinv @ y))
    out["between"] = float(np.linalg.norm(out["zero"]["x"] - out["random"]["x"]))
    return out


def _deep_linear(depth, width, n, d_in, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    Y = torch.randn(n, 1, generator=g, dtype=torch.float64)
    dims = [d_in] + [width] * (depth - 1) + [1]
    Ws = [torch.randn(dims[i + 1], dims[i], generator=g, dtype=torch.float64) / math.sqrt(dims[i])
          for i in range(depth)]
    return X, Y, Ws


def _deep_loss(Ws, X, Y):
    h = X.T
    for W_ in Ws:
        h = W_ @ h
    return 0.5 * ((h.T - Y) ** 2).mean()


def _grad_and_top_hessian(Ws, X, Y, iters: int, seed: int):
    """(loss, ‖∇L‖, ‖∇²L‖₂) at Ws; the spectral norm by power iteration on Hessian–vector products."""
    Ws = [W_.detach().clone().requires_grad_(True) for W_ in Ws]
    loss = _deep_loss(Ws, X, Y)
    g = torch.autograd.grad(loss, Ws, create_graph=True)
    gn = float(torch.sqrt(sum((a.detach() ** 2).sum() for a in g)))
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(W_.shape, generator=gen, dtype=W_.dtype) for W_ in Ws]
    lam = 0.0
    for _ in range(iters):
        nv = torch.sqrt(sum((a * a).sum() for a in v))
        v = [a / nv for a in v]
        hv = torch.autograd.grad(g, Ws, grad_outputs=v, retain_graph=True)
        lam = float(torch.sqrt(sum((a.detach() ** 2).sum() for a in hv)))
        v = [a.detach() for a in hv]
    return float(loss.detach()), gn, lam


def depth_scaling(depths: Sequence[int] = (1, 2, 3), scales=None, *, width: int = 8, n: int = 4, d_in: int = 8,
                  seed: int = 0, iters: int = 60) -> list[dict]:
    r"""Loss, gradient norm and Hessian norm of a deep *linear* network :math:`W_D\cdots W_1x` on n
    points as all weights are multiplied by t (``scales``, default 1…10).

    The loss is a polynomial of degree 2D in the weights, so for large t
    :math:`L \sim t^{2D}`, :math:`\|\nabla L\| \sim t^{2D-1}`, :math:`\|\nabla^2 L\| \sim t^{2D-2}`: for
    D ≥ 2 no constant L bounds the curvature, but :math:`\|\nabla^2L\|/\|\nabla L\| \sim 1/t` stays
    bounded — an (L0, L1) picture, exactly as for x⁴ (D = 2) and ‖x‖^{2D}. The slopes are fitted on
    the upper half of the scales (log–log). The number of parameters d is far above n.
    """
    scales = np.geomspace(1.0, 10.0, 9) if scales is None else np.asarray(scales, dtype=float)
    if scales.size < 4 or np.any(scales <= 0):
        raise ValueError("Нужно хотя бы четыре положительных масштаба t.")
    old = _quiet_threads()
    out = []
    try:
        for D in depths:
            D = check_int("depth", D, 1, 10)
            X, Y, Ws = _deep_linear(D, width, n, d_in, seed)
            rows = np.array([_grad_and_top_hessian([t * W_ for W_ in Ws], X, Y, iters, seed) for t in scales])
            half = slice(scales.size // 2, None)
            lt = np.log(scales[half])
            slopes = [float(np.polyfit(lt, np.log(rows[half, i]), 1)[0]) if np.all(rows[half, i] > 0) else 0.0
                      for i in range(3)]
            out.append(dict(depth=D, params=sum(W_.numel() for W_ in Ws), n=n, scales=scales, loss=rows[:, 0],
                            grad_norm=rows[:, 1], hess_norm=rows[:, 2], slope_loss=slopes[0], slope_grad=slopes[1],
                            slope_hess=slopes[2], label=f"линейная сеть, D = {D} ({plural(D, ('слой', 'слоя', 'слоёв'))})"))
    finally:
        torch.set_num_threads(old)
    return out


class Factorization(Problem):
    r"""The smallest over-parameterised model: fit y = 1 by the product of two weights,
    :math:`f(u, v) = \tfrac12(uv - 1)^2`.

    Two parameters, one equation: the minimisers form the hyperbola :math:`uv = 1` (a curve, not a
    point). At a minimiser the Hessian :math:`\begin{pmatrix} v^2 & 1 \\ 1 & u^2 \end{pmatrix}` has
    eigenvalues 0 (along the curve) and :math:`u^2 + v^2` (across it): the sharpness grows without
    bound along the curve, and the balanced points (1, 1), (−1, −1) are the flattest (sharpness 2).
    """

    name = "factorization"
    title = "Функция ½(uv − 1)²"
    formula = r"f(u, v) = \tfrac12 (uv - 1)^2"
    dim = 2
    minimizers = np.array([[1.0, 1.0], [-1.0, -1.0]])
    f_star = 0.0
    window = ((-4.0, 4.0), (-4.0, 4.0))
    starts = np.array([[3.0, 0.1], [0.15, 3.5], [-2.5, -0.3], [2.1, -1.2], [0.2, 0.25], [-0.6, 3.1]])

    def _formula(self, x, xp):
        return 0.5 * (x[..., 0] * x[..., 1] - 1.0) ** 2

    def _grad(self, x, xp):
        r = x[..., 0] * x[..., 1] - 1.0
        return xp.stack([r * x[..., 1], r * x[..., 0]], -1)

    @staticmethod
    def sharpness(points) -> np.ndarray:
        """The largest Hessian eigenvalue at points on the curve uv = 1: :math:`u^2 + v^2`."""
        p = np.asarray(points, dtype=float)
        return p[..., 0] ** 2 + p[..., 1] ** 2


def manifold_runs(lr: float, steps: int = 200, starts=None, method: str = "gd", L0: float = 2.0,
                  L1: float = 1.0):
    """GD with a fixed step ``lr`` (``method="gd"``) or (L0, L1)-GD (``"l0l1"``) on :class:`Factorization`
    from each of ``starts`` (default: the problem's six starts); one Trace with one run per start."""
    check_choice("method", method, ("gd", "l0l1"))
    p = Factorization()
    starts = p.starts if starts is None else np.asarray(starts, dtype=float).reshape(-1, 2)
    steps = check_int("steps", steps, 1, 100_000)
    if method == "gd":
        check_range("lr", lr, 0.0, low_open=True)
        return run(p, SGD, starts, steps, lr=float(lr))
    check_range("lr", lr, 0.0, low_open=True)
    return run(p, L0L1GD, starts, steps, L0=L0, L1=L1, lr=float(lr))


def manifold_figure(trace, lr: float, *, method: str = "gd", validate: bool = True) -> go.Figure:
    r"""Left: the contours of :math:`\tfrac12(uv - 1)^2`, the curve of minimisers uv = 1 and the
    paths. Right: the sharpness :math:`u^2 + v^2` along the curve (as a function of |u|) with the
    stability limit 2/η of GD with a fixed step, and the points where the runs stopped."""
    p = Factorization()
    (xl, xh), (yl, yh) = p.window
    us = np.linspace(xl, xh, 161)
    vs = np.linspace(yl, yh, 161)
    U, V = np.meshgrid(us, vs)
    Z = np.log10(p.value_np(np.stack([U, V], -1)) + 1e-3)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.52, 0.48], horizontal_spacing=0.1,
                        subplot_titles=["линии уровня, кривая минимумов uv = 1 и пути",
                                        "острота минимума u² + v² вдоль кривой"])
    fig.add_contour(x=us, y=vs, z=Z, colorscale="Greys", reversescale=True, showscale=False, ncontours=18,
                    contours=dict(coloring="lines"), line=dict(width=1), opacity=0.5, hoverinfo="skip",
                    name="lg(f + 0.001)", showlegend=False, row=1, col=1)
    branch = np.geomspace(1 / xh, xh, 200)
    for s in (1, -1):
        fig.add_scatter(x=s * branch, y=s / branch, mode="lines", line=dict(color="black", width=2.5),
                        name="минимумы uv = 1", showlegend=s == 1, legendgroup="curve", row=1, col=1)
    fig.add_scatter(x=branch, y=Factorization.sharpness(np.stack([branch, 1 / branch], -1)), mode="lines",
                    line=dict(color="black", width=2), name="острота u² + v²", showlegend=False, row=1, col=2)
    limit = 2.0 / lr if method == "gd" else None
    if limit is not None:
        fig.add_scatter(x=[branch[0], branch[-1]], y=[limit, limit], mode="lines", name=f"предел устойчивости 2/η = {fmt_num(limit)}",
                        line=dict(color="#d62728", dash="dash"), row=1, col=2)
    n_conv = n_div = 0
    sharp_end = []
    for i in range(trace.n_runs):
        color = PALETTE[i % len(PALETTE)]
        pts = trace.points[:, i]
        k_div = int(trace.diverged_at[i])
        good = pts[: k_div if k_div >= 0 else None]
        inside = np.all((good >= np.array([xl, yl]) - 1) & (good <= np.array([xh, yh]) + 1), axis=1)
        shown = good[: int(np.argmin(inside)) if not inside.all() else None]
        fig.add_scatter(x=shown[:, 0], y=shown[:, 1], mode="lines+markers", marker=dict(size=3, color=color),
                        line=dict(color=color, width=1.2), name=f"старт ({fmt_num(pts[0, 0])}, {fmt_num(pts[0, 1])})",
                        showlegend=False, row=1, col=1)
        fig.add_scatter(x=[pts[0, 0]], y=[pts[0, 1]], mode="markers", marker=dict(size=9, color=color, symbol="circle-open",
                                                                                 line=dict(width=2)),
                        showlegend=False, hoverinfo="skip", row=1, col=1)
        tail = trace.loss[-10:, i]
        settled = bool(np.all(np.isfinite(tail)) and np.all(tail <= 1e-8)
                       and np.linalg.norm(pts[-1] - pts[-2]) <= 1e-6)   # at rest on the curve, not passing by
        if k_div >= 0 or not inside.all() or not settled:
            if k_div >= 0 or not inside.all():
                n_div += 1
            continue
        n_conv += 1
        end = pts[-1]
        s_end = float(Factorization.sharpness(end))
        sharp_end.append(s_end)
        fig.add_scatter(x=[abs(end[0])], y=[s_end], mode="markers", marker=dict(size=11, color=color, symbol="x"),
                        showlegend=False, name="остановка", row=1, col=2)
        fig.add_scatter(x=[end[0]], y=[end[1]], mode="markers", marker=dict(size=10, color=color, symbol="x"),
                        showlegend=False, row=1, col=1)
    n = trace.n_runs
    stuck = n - n_conv - n_div
    what = f"GD с постоянным шагом η = {fmt_num(lr)}" if method == "gd" else f"(L₀, L₁)-GD, множитель шага {fmt_num(lr)}"
    parts = [f"{what}, {plural(trace.steps, _STEPS)}: дошли до минимума {n_conv} из {n}"]
    if n_div:
        parts.append(f"{DIVERGED_TEXT}: {n_div}")
    if stuck:
        parts.append(f"ещё не сошлись: {stuck}")
    caption = ", ".join(parts)
    if sharp_end:
        caption += f"<br>острота в точках остановки от {fmt_num(min(sharp_end))} до {fmt_num(max(sharp_end))}"
        if limit is not None:
            caption += (f"; предел 2/η = {fmt_num(limit)} — " +
                        ("все остановки ниже него" if max(sharp_end) <= limit * (1 + 1e-6) else "есть остановки выше него"))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(
        title=dict(text=f"Сверхпараметризация в миниатюре: ½(uv − 1)², {what}", y=0.97, yanchor="top"), height=540,
        margin=dict(l=60, r=20, t=110, b=110), legend=dict(orientation="h", y=1.08, yanchor="bottom", x=0),
        annotations=list(fig.layout.annotations) + [
            dict(text=caption, xref="paper", yref="paper", x=0, y=-0.13, showarrow=False, xanchor="left", yanchor="top",
                 align="left", font=dict(size=11, color="#555"))],
        meta=dict(converged=n_conv, diverged=n_div, sharpness=sharp_end))
    fig.update_xaxes(range=[xl, xh], title_text="u", row=1, col=1)
    fig.update_yaxes(range=[yl, yh], title_text="v", scaleanchor="x", row=1, col=1)
    fig.update_xaxes(type="log", title_text="|u| точки на кривой", row=1, col=2)
    fig.update_yaxes(type="log", title_text="u² + v²", exponentformat="power", row=1, col=2)
    return fig


def manifold_explorer(lr: float = 0.1, steps: int = 200) -> Explorer:
    r"""Fixed-step GD on :math:`\tfrac12(uv - 1)^2` from six starts, with a log slider for the step η.

    Where a run stops on the curve of minimisers depends on η: a minimiser with sharpness
    :math:`u^2 + v^2 > 2/\eta` repels GD, so larger steps end at flatter minimisers or diverge.
    """
    steps = check_int("steps", steps, 1, 5000)
    c = OrderedDict()
    c["lr"] = log_slider(float(lr), 1e-3, 1.0, "шаг η", readout_format=".3g", steps=60)
    ex: Explorer

    def build(params):
        lr_ = float(check_range("lr (шаг η)", params["lr"], 0.0, low_open=True))
        tr = ex.cached(round(lr_, 12), lambda: manifold_runs(lr_, steps))
        return manifold_figure(tr, lr_, validate=not ex.live)

    ex = Explorer(c, build, static_values={"lr": [0.01, 0.05, 0.1, 0.2, 0.4, 0.7]})
    return ex
