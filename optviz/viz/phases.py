r"""Lectures 06 and 07: the two phases of the (L0, L1) step, and Nesterov's ripple removed by restarts.

* :func:`l0l1_phase_figure` — for a 1-D (L0, L1)-smooth function (x⁴, eˣ + e⁻ˣ):
  :math:`f(x_k) - f^*` (log) with the phase boundary — the first k where
  :math:`|f'(x_k)| < L_0/L_1` — marked and the two phases shaded («линейная фаза» /
  «сублинейная фаза»); the effective step :math:`\eta_k` next to fixed-step GD; and the function
  itself with the iterates coloured by phase.
* :func:`restart_figure` — :math:`f - f^*` (log) of Nesterov's method without restarts (rippling
  with period :math:`\approx\pi\sqrt\kappa`) and with the function / gradient / fixed-period
  restarts, restart events marked, next to the trajectories on the quadratic's contours.

Both draw traces of :func:`optviz.run.run` and never run anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ._plotly import LAYOUT_DEFAULTS
from ._style import DIVERGED_TEXT, PALETTE, describe, fmt_num
from .sgd import _figure, _finite, _positive, first_exit

__all__ = ["l0l1_phase_figure", "phase_boundary", "restart_figure", "ripple_period", "measured_ripple_period",
           "RESTART_LABELS", "PHASE_LABELS", "plural"]

PHASE_LABELS = ("линейная фаза", "сублинейная фаза")
_PHASE_COLORS = ("#ff7f0e", "#1f77b4")

#: names of the restart variants of lecture 07 (keys of the ``traces`` mapping of :func:`restart_figure`)
RESTART_LABELS = {
    "none": "без рестартов",
    "function": "функциональная схема",
    "gradient": "градиентная схема",
    "period": "фиксированный период",
}
_RESTART_RULES = {
    "function": "функциональная схема: рестарт, когда f(x_k) > f(x_{k−1})",
    "gradient": "градиентная схема: рестарт, когда ∇f(y_k)ᵀ(x_{k+1} − x_k) > 0",
    "period": "фиксированный период: рестарт каждые P шагов",
}


def plural(n: int, forms: tuple[str, str, str]) -> str:
    """Russian plural: ``plural(3, ("рестарт", "рестарта", "рестартов"))`` → «3 рестарта»."""
    n = int(n)
    m10, m100 = abs(n) % 10, abs(n) % 100
    form = forms[0] if m10 == 1 and m100 != 11 else forms[1] if 2 <= m10 <= 4 and not 12 <= m100 <= 14 else forms[2]
    return f"{n} {form}"


_RESTARTS = ("рестарт", "рестарта", "рестартов")
_STEPS = ("шаг", "шага", "шагов")
_RESTART_COLORS = {"none": "#d62728", "function": "#2ca02c", "gradient": "#9467bd", "period": "#ff7f0e"}


def _named(traces) -> list[tuple[str | None, object]]:
    """``Trace`` / sequence of traces / mapping label → trace, as a list of (label or None, trace)."""
    if isinstance(traces, Mapping):
        items = [(str(k), v) for k, v in traces.items()]
    elif isinstance(traces, Sequence):
        items = [(None, t) for t in traces]
    else:
        items = [(None, traces)]
    if not items:
        raise ValueError("Нужна хотя бы одна траектория.")
    return items


def _default_label(trace) -> str:
    hyper = {k: v for k, v in (trace.hyper or {}).items() if np.ndim(v) == 0}
    method = trace.method or "метод"
    if method == "SGD" and trace.batches is None:
        method = "GD"
    keys = ["L0", "L1"] if method == "L0L1GD" else ["lr", "momentum"]
    return describe(method, hyper, keys=keys)


def _annotation_box(text: str, y: float) -> dict:
    return dict(text=text, xref="paper", yref="paper", x=0, y=y, showarrow=False, xanchor="left", yanchor="top",
                align="left", font=dict(size=11, color="#555"))


# ---------------------------------------------------------------------------------------------
# (L0, L1): two phases
# ---------------------------------------------------------------------------------------------
def phase_boundary(grad_norm, L0: float, L1: float) -> int:
    r"""First k with :math:`\|\nabla f(x_k)\| < L_0/L_1` (−1 if never; 0 if already at the start).

    With :math:`L_1 = 0` the boundary :math:`L_0/L_1` is infinite (the whole run is the
    sublinear phase); with :math:`L_0 = 0` it is 0 (never crossed: the whole run is linear).
    """
    g = np.asarray(grad_norm, dtype=float)
    bound = math.inf if L1 == 0 else L0 / L1
    with np.errstate(invalid="ignore"):
        below = g < bound
    return int(np.argmax(below)) if below.any() else -1


def l0l1_phase_figure(problem, traces, L0: float, L1: float, *, run: int = 0, show_function: bool = True,
                      title: str | None = None, validate: bool = True) -> go.Figure:
    r"""Two phases of the (L0, L1) step on a 1-D problem.

    Parameters
    ----------
    problem : a 1-D problem (``Quartic``, ``ExpCosh``) with ``f_star`` and ``grad_np``.
    traces : a Trace, a list of traces or a mapping label → Trace. The (L0, L1) run is the first
        trace whose method is ``L0L1GD`` (else the first one); the others (fixed-step GD) are
        drawn for comparison.
    L0, L1 : the constants the (L0, L1) run used; the boundary is :math:`L_0/L_1`.
    show_function : add the third panel (the function with the iterates).
    validate : False skips plotly's validation (live widgets).

    Panels: (1) :math:`f(x_k) - f^*` vs k (log), the phase boundary
    :math:`k^\star = \min\{k: |f'(x_k)| < L_0/L_1\}` (see :func:`phase_boundary`, from the
    trace's recorded gradient norms) as a dashed line named «граница фаз», the phases shaded;
    (2) the effective step :math:`\eta_k` (``trace.step_size``) vs k with :math:`1/L_0`;
    (3) :math:`f(x) - f^*` with the iterates, the set :math:`|f'(x)| < L_0/L_1` shaded. The title
    and the caption are computed from L0, L1 and the measured boundary; ``fig.layout.meta`` holds
    ``{"phase_boundary": k*, "boundary": L0/L1}``.
    """
    if L0 < 0 or L1 < 0 or (L0 == 0 and L1 == 0):
        raise ValueError(f"Нужно L0 ≥ 0, L1 ≥ 0 и L0 + L1 > 0, получено L0 = {L0!r}, L1 = {L1!r}.")
    items = _named(traces)
    main_i = next((i for i, (_, t) in enumerate(items) if t.method == "L0L1GD"), 0)
    order = [main_i] + [i for i in range(len(items)) if i != main_i]
    items = [items[i] for i in order]
    main = items[0][1]
    if main.dim != 1:
        raise ValueError(f"Рисунок фаз (L0, L1) строится для одномерных задач, а размерность {main.dim}.")
    f_star = float(problem.f_star)
    bound = math.inf if L1 == 0 else L0 / L1
    K = main.steps
    kb = phase_boundary(main.grad_norm[:, run], L0, L1)
    window = np.asarray(problem.window, dtype=float) if problem.window is not None else None

    ncols = 3 if show_function else 2
    gap_w = 0.07
    width = (1 - gap_w * (ncols - 1)) / ncols
    domains = [[i * (width + gap_w), i * (width + gap_w) + width] for i in range(ncols)]
    data, shapes, annotations = [], [], []
    summary = []

    for i, (label, tr) in enumerate(items):
        label = label or _default_label(tr)
        color = "#222222" if i == 0 else PALETTE[(i + 1) % len(PALETTE)]
        gap = tr.loss[:, run] - f_star
        exit_k = first_exit(tr.points[:, run], window, int(tr.diverged_at[run]))
        shown = gap.copy()
        if exit_k >= 0:
            shown[exit_k + 1:] = np.nan
        data.append(dict(type="scatter", x=np.arange(tr.steps + 1), y=_positive(shown), mode="lines", name=label,
                         legendgroup=f"g{i}", line=dict(color=color, width=2.5 if i == 0 else 1.8),
                         xaxis="x", yaxis="y"))
        steps_ = np.asarray(tr.step_size[:, run], dtype=float)
        if exit_k >= 0:
            steps_ = steps_.copy()
            steps_[exit_k:] = np.nan
        data.append(dict(type="scatter", x=np.arange(len(steps_)), y=_positive(steps_), mode="lines",
                         name=f"η_k: {label}", legendgroup=f"g{i}", showlegend=False,
                         line=dict(color=color, width=2.5 if i == 0 else 1.8), xaxis="x2", yaxis="y2"))
        if exit_k >= 0:
            y_at = _positive(gap[: max(exit_k, 1)])
            y_at = float(np.nanmax(y_at)) if np.isfinite(y_at).any() else 1.0
            annotations.append(dict(x=exit_k, y=math.log10(y_at), xref="x", yref="y", text=DIVERGED_TEXT,
                                    showarrow=True, arrowcolor="#b00", font=dict(color="#b00")))
            summary.append(f"{label}: {DIVERGED_TEXT} на шаге {exit_k}")
        else:
            summary.append(f"{label}: f − f* = {fmt_num(gap[-1])} за {plural(tr.steps, _STEPS)}")

    if L0 > 0:
        data.append(dict(type="scatter", x=[0, max(K - 1, 1)], y=[1 / L0, 1 / L0], mode="lines",
                         name=f"1/L₀ = {fmt_num(1 / L0)}", line=dict(color="#888", dash="dot"), xaxis="x2", yaxis="y2"))

    # phases on panel 1 (and the same shading on panel 2)
    regions = []
    if kb != 0:
        regions.append((0, K if kb < 0 else kb, 0))
    if kb >= 0:
        regions.append((kb, K, 1))
    for lo, hi, ph in regions:
        for xref, yref in (("x", "y domain"), ("x2", "y2 domain")):
            shapes.append(dict(type="rect", xref=xref, yref=yref, x0=lo, x1=max(hi, lo + 0.5), y0=0, y1=1,
                               fillcolor=_PHASE_COLORS[ph], opacity=0.10, line=dict(width=0), layer="below"))
        annotations.append(dict(x=(lo + hi) / 2, y=0.99, xref="x", yref="y domain", text=PHASE_LABELS[ph],
                                showarrow=False, yanchor="top", font=dict(color=_PHASE_COLORS[ph], size=12)))
    if kb > 0:
        for xref, yref in (("x", "y domain"), ("x2", "y2 domain")):
            shapes.append(dict(type="line", xref=xref, yref=yref, x0=kb, x1=kb, y0=0, y1=1, name="граница фаз",
                               line=dict(color="#444", dash="dash", width=1.5)))
        annotations.append(dict(x=kb, y=0.06, xref="x", yref="y domain", text=f"k* = {kb}", showarrow=False,
                                xanchor="left", font=dict(size=11)))

    # panel 3: the function with the iterates
    if show_function:
        xs_all = np.concatenate([_finite(t.points[:, run, 0]) for _, t in items])
        if window is not None:
            xs_all = xs_all[(xs_all >= window[0, 0]) & (xs_all <= window[0, 1])]
        xs_all = xs_all[np.isfinite(xs_all)]
        lo, hi = (float(xs_all.min()), float(xs_all.max())) if xs_all.size else (-1.0, 1.0)
        x_min = float(problem.minimizers[0, 0]) if len(getattr(problem, "minimizers", [])) else 0.0
        lo, hi = min(lo, x_min), max(hi, x_min)
        half = 0.55 * max(hi - lo, 1e-3)
        mid = 0.5 * (lo + hi)
        grid = np.linspace(mid - 1.1 * half, mid + 1.1 * half, 400)
        fgrid = problem.value_np(grid[:, None]) - f_star
        data.append(dict(type="scatter", x=grid, y=_positive(fgrid), mode="lines", name="f(x) − f*",
                         line=dict(color="#999", width=1.5), showlegend=False, xaxis="x3", yaxis="y3"))
        gsz = np.abs(np.asarray(problem.grad_np(grid[:, None]), dtype=float)[:, 0])
        inside = gsz < bound
        if inside.any():
            shapes.append(dict(type="rect", xref="x3", yref="y3 domain", x0=float(grid[inside].min()),
                               x1=float(grid[inside].max()), y0=0, y1=1, fillcolor=_PHASE_COLORS[1], opacity=0.12,
                               line=dict(width=0), layer="below"))
            annotations.append(dict(x=float(grid[inside].mean()), y=0.99, xref="x3", yref="y3 domain",
                                    text="|f′(x)| < L₀/L₁", showarrow=False, yanchor="top",
                                    font=dict(color=_PHASE_COLORS[1], size=11)))
        xk = main.points[:, run, 0]
        gk = main.loss[:, run] - f_star
        split = K + 1 if kb < 0 else kb
        for ph, sl in ((0, slice(0, split)), (1, slice(split, K + 1))):
            data.append(dict(type="scatter", x=_finite(xk[sl]), y=_positive(gk[sl]), mode="markers",
                             name=f"x_k, {PHASE_LABELS[ph]}", marker=dict(size=7, color=_PHASE_COLORS[ph],
                                                                          line=dict(width=0.5, color="white")),
                             xaxis="x3", yaxis="y3"))

    # title and caption, computed
    method_text = describe("L0L1GD", {"L0": L0, "L1": L1})
    x0 = float(main.points[0, run, 0])
    ptitle = str(getattr(problem, "title", "") or "")
    ptitle = ptitle[:1].lower() + ptitle[1:]
    head = title or (f"{method_text}, {ptitle}, x₀ = {fmt_num(x0)}: "
                     f"граница фаз L₀/L₁ = {fmt_num(bound)}")
    if kb > 0:
        xb = float(main.points[kb, run, 0])
        crossing = (f"|f′(x_k)| < L₀/L₁ = {fmt_num(bound)} впервые на шаге k* = {kb} (x = {fmt_num(xb)}, "
                    f"|f′| = {fmt_num(main.grad_norm[kb, run])}): до него линейная фаза, после — сублинейная")
    elif kb == 0:
        crossing = (f"|f′(x₀)| = {fmt_num(main.grad_norm[0, run])} < L₀/L₁ = {fmt_num(bound)}: "
                    "весь запуск — сублинейная фаза")
    else:
        crossing = (f"|f′(x_k)| ≥ L₀/L₁ = {fmt_num(bound)} на всех {K + 1} точках: "
                    "граница не пересечена, весь запуск — линейная фаза")
    caption = crossing + "<br>" + "; ".join(summary)

    layout = dict(LAYOUT_DEFAULTS)
    axes = dict(
        xaxis=dict(domain=domains[0], title=dict(text="шаг k"), anchor="y"),
        yaxis=dict(type="log", title=dict(text="f(x_k) − f*"), anchor="x", exponentformat="power"),
        xaxis2=dict(domain=domains[1], title=dict(text="шаг k"), anchor="y2"),
        yaxis2=dict(type="log", title=dict(text="шаг η_k"), anchor="x2", exponentformat="power"),
    )
    if show_function:
        axes.update(xaxis3=dict(domain=domains[2], title=dict(text="x"), anchor="y3"),
                    yaxis3=dict(type="log", title=dict(text="f(x) − f*"), anchor="x3", exponentformat="power"))
    sub = dict(xref="paper", yref="paper", showarrow=False, y=1.0, yanchor="bottom", xanchor="center",
               font=dict(size=13))
    panel_titles = ["f(x_k) − f* по шагам", "эффективный шаг η_k", "функция и итерации"][:ncols]
    annotations += [dict(text=t, x=sum(d) / 2, **sub) for t, d in zip(panel_titles, domains)]
    annotations.append(_annotation_box(caption, -0.2))
    layout.update(axes, title=dict(text=head, y=0.97, yanchor="top"), height=520, shapes=shapes,
                  annotations=annotations, margin=dict(l=60, r=20, t=120, b=120),
                  legend=dict(orientation="h", yanchor="bottom", y=1.07, xanchor="left", x=0),
                  meta=dict(phase_boundary=kb, boundary=bound))
    return _figure(data, layout, validate=validate)


# ---------------------------------------------------------------------------------------------
# restarts
# ---------------------------------------------------------------------------------------------
def ripple_period(problem, lr: float | None = None) -> float:
    r"""Period of Nesterov's ripple in :math:`f - f^*` on a quadratic: :math:`\pi/\sqrt{\eta\mu}`,
    which is :math:`\pi\sqrt\kappa` at the usual step :math:`\eta = 1/L` (the default)."""
    mu = float(problem.mu)
    eta = 1.0 / float(problem.L) if lr is None else float(lr)
    if not (eta > 0 and mu > 0):
        raise ValueError(f"Нужно η > 0 и μ > 0, получено η = {eta!r}, μ = {mu!r}.")
    return math.pi / math.sqrt(eta * mu)


def measured_ripple_period(gap) -> float:
    """Mean distance between consecutive local maxima of ``gap`` (NaN if fewer than three maxima)."""
    g = np.asarray(gap, dtype=float)
    mx = [k for k in range(1, len(g) - 1) if g[k - 1] < g[k] >= g[k + 1]]
    return float(np.mean(np.diff(mx))) if len(mx) >= 3 else float("nan")


def _restart_steps(trace, run: int) -> list[int]:
    r = trace.restarts or []
    if r and isinstance(r[0], (list, tuple)):
        r = r[run]
    return [int(k) for k in r]


def restart_figure(traces, problem, *, lr: float | None = None, period: int | None = None, run: int = 0,
                   grid_n: int = 80, title: str | None = None, validate: bool = True) -> go.Figure:
    r"""Nesterov's ripple and its removal by restarts (lecture 07).

    Parameters
    ----------
    traces : mapping kind → Trace with kinds ``"none"``, ``"function"``, ``"gradient"``,
        ``"period"`` (labels from :data:`RESTART_LABELS`; other keys are labels themselves), or
        a sequence of traces.
    problem : the 2-D :class:`~optviz.problems.toys.Quadratic` the runs were made on (κ, μ, L,
        contours).
    lr : the step the runs used (default 1/L): the ripple period is :math:`\pi/\sqrt{\eta\mu}`
        (:math:`=\pi\sqrt\kappa` at η = 1/L), written in the caption next to the period measured
        on the run without restarts.
    period : P of the ``"period"`` run, shown in its label.
    validate : False skips plotly's validation (live widgets).

    Left: :math:`f - f^*` (log) vs k; a restart at step k (``trace.restarts``) is a tick on the
    curve at k (the state after the k-th step). Right: the trajectories on the contours, restart
    points marked.
    """
    items = _named(traces)
    f_star = float(problem.f_star)
    window = np.asarray(problem.window, dtype=float)
    T = ripple_period(problem, lr)
    at_1_over_L = lr is None or abs(float(lr) * problem.L - 1) < 1e-12
    data, annotations, notes = [], [], []
    measured = float("nan")
    for i, (key, tr) in enumerate(items):
        kind = key if key in RESTART_LABELS else None
        label = RESTART_LABELS.get(key, key) if key is not None else _default_label(tr)
        if kind == "period" and period is not None:
            label = f"период P = {period}"
        color = _RESTART_COLORS.get(kind, PALETTE[i % len(PALETTE)])
        gap = tr.loss[:, run] - f_star
        ks = _restart_steps(tr, run)
        ks = [k for k in ks if 0 <= k <= tr.steps]
        n = len(ks)
        data.append(dict(type="scatter", x=np.arange(tr.steps + 1), y=_positive(gap), mode="lines",
                         name=f"{label} ({plural(n, _RESTARTS)})" if kind != "none" else label, legendgroup=f"r{i}",
                         line=dict(color=color, width=2), xaxis="x", yaxis="y"))
        data.append(dict(type="scatter", x=ks, y=_positive(gap[ks]) if ks else [], mode="markers",
                         name=f"рестарты: {label}", legendgroup=f"r{i}", showlegend=False, meta="restarts",
                         marker=dict(symbol="line-ns-open", size=16, line=dict(width=2.5, color=color), color=color),
                         hovertemplate="рестарт на шаге %{x}<extra></extra>", xaxis="x", yaxis="y"))
        pts = tr.points[:, run]
        data.append(dict(type="scatter", x=_finite(pts[:, 0]), y=_finite(pts[:, 1]), mode="lines",
                         name=f"путь: {label}", legendgroup=f"r{i}", showlegend=False,
                         line=dict(color=color, width=1.5), xaxis="x2", yaxis="y2"))
        data.append(dict(type="scatter", x=_finite(pts[ks, 0]) if ks else [], y=_finite(pts[ks, 1]) if ks else [],
                         mode="markers", name=f"точки рестартов: {label}", legendgroup=f"r{i}", showlegend=False,
                         marker=dict(symbol="diamond", size=8, color=color, line=dict(width=1, color="white")),
                         xaxis="x2", yaxis="y2"))
        exit_k = first_exit(pts, None, int(tr.diverged_at[run]))
        if exit_k >= 0:
            annotations.append(dict(x=exit_k, y=math.log10(float(np.nanmax(_positive(gap[: max(exit_k, 1)]))
                                                            if np.isfinite(_positive(gap[: max(exit_k, 1)])).any()
                                                            else 1.0)),
                                    xref="x", yref="y", text=DIVERGED_TEXT, showarrow=True, arrowcolor="#b00",
                                    font=dict(color="#b00")))
            notes.append(f"{label}: {DIVERGED_TEXT} на шаге {exit_k}")
        elif kind != "none":
            notes.append(f"{label}: {plural(n, _RESTARTS)}, f − f* = {fmt_num(gap[-1])}")
        else:
            measured = measured_ripple_period(gap)
            notes.append(f"{label}: f − f* = {fmt_num(gap[-1])}")

    # contours of the quadratic, and its minimiser
    xs = np.linspace(window[0, 0], window[0, 1], grid_n)
    ys = np.linspace(window[1, 0], window[1, 1], grid_n)
    X, Y = np.meshgrid(xs, ys)
    Z = problem.value_np(np.stack([X, Y], -1)) - f_star
    Zl = np.log10(np.maximum(Z, 1e-12 * max(float(np.nanmax(Z)), 1e-300)))
    data.insert(0, dict(type="contour", x=xs, y=ys, z=Zl, colorscale="Greys", reversescale=True, showscale=False,
                        contours=dict(coloring="lines", showlabels=False), ncontours=16, line=dict(width=1),
                        opacity=0.6, name="lg(f − f*)", showlegend=False, hoverinfo="skip", xaxis="x2", yaxis="y2",
                        meta=dict(optviz_static=f"{problem!r} contour {grid_n}")))
    data.append(dict(type="scatter", x=problem.minimizers[:, 0], y=problem.minimizers[:, 1], mode="markers",
                     name="минимум", marker=dict(symbol="x", size=11, color="black"), showlegend=False,
                     xaxis="x2", yaxis="y2"))

    kappa = float(problem.kappa)
    if at_1_over_L:
        period_text = f"период ряби без рестартов π√κ ≈ {fmt_num(round(T, 1))} шагов (κ = {fmt_num(kappa)}, η = 1/L)"
    else:
        period_text = (f"период ряби без рестартов π/√(ημ) ≈ {fmt_num(round(T, 1))} шагов "
                       f"(η = {fmt_num(lr)}, μ = {fmt_num(problem.mu)}; при η = 1/L было бы π√κ ≈ "
                       f"{fmt_num(round(math.pi * math.sqrt(kappa), 1))})")
    if math.isfinite(measured):
        period_text += f"; измерено по максимумам: ≈ {fmt_num(round(measured, 1))}"
    head = title or f"Нестеров на квадратичной задаче κ = {fmt_num(kappa)}: рябь и рестарты"
    rules = [_RESTART_RULES[k] for k, _ in items if k in _RESTART_RULES]
    caption = "<br>".join([period_text, "; ".join(notes)] + (["; ".join(rules)] if rules else []))
    layout = dict(LAYOUT_DEFAULTS)
    sub = dict(xref="paper", yref="paper", showarrow=False, y=1.0, yanchor="bottom", xanchor="center",
               font=dict(size=13))
    annotations += [dict(text="f(x_k) − f* по шагам (| — рестарт)", x=0.29, **sub),
                    dict(text="траектории на линиях уровня", x=0.82, **sub),
                    _annotation_box(caption, -0.16)]
    layout.update(
        title=dict(text=head, y=0.97, yanchor="top"), height=560, annotations=annotations,
        margin=dict(l=60, r=20, t=120, b=140),
        legend=dict(orientation="h", yanchor="bottom", y=1.07, xanchor="left", x=0),
        xaxis=dict(domain=[0.0, 0.58], title=dict(text="шаг k"), anchor="y"),
        yaxis=dict(type="log", title=dict(text="f(x_k) − f*"), anchor="x", exponentformat="power"),
        xaxis2=dict(domain=[0.66, 1.0], range=list(window[0]), title=dict(text="x₁"), anchor="y2"),
        yaxis2=dict(range=list(window[1]), title=dict(text="x₂"), anchor="x2"),
        meta=dict(ripple_period=T, measured_ripple_period=measured),
    )
    return _figure(data, layout, validate=validate)
