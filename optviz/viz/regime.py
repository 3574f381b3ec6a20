r"""The regime map of heavy ball on a quadratic (after Distill's "Why Momentum Really Works").

::

    import numpy as np
    from optviz.optim.sgd import SGD
    from optviz.problems.toys import Quadratic
    from optviz.run import run_grid
    from optviz.viz.regime import regime_map

    q = Quadratic(kappa=100, angle_deg=30)
    grid = run_grid(q, SGD, q.start, 200, grid={"lr": np.geomspace(1e-2 / q.L, 6 / q.L, 40),
                                                "momentum": np.linspace(0, 0.99, 40)})
    regime_map(grid, q)

Theory used for the labels
--------------------------
Heavy ball :math:`x_{k+1} = x_k - \alpha\nabla f(x_k) + \beta(x_k - x_{k-1})` (``SGD(lr=α,
momentum=β)`` in torch form) on a quadratic decouples along the eigenvectors of the Hessian. Along
an eigenvalue λ the error pair :math:`(e_k, e_{k-1})` is multiplied by

.. math::
    T_\lambda = \begin{pmatrix} 1 + \beta - \alpha\lambda & -\beta \\ 1 & 0 \end{pmatrix},
    \qquad z^2 - (1 + \beta - \alpha\lambda)\,z + \beta = 0 .

The rate is the largest eigenvalue modulus over λ ∈ {μ, L} (:func:`heavy_ball_theory`). Regions:

* **«расходится»** — the measured rate :math:`\rho \ge 1` or the run diverged (``GridResult.rate()``
  is ``inf``): the data decide;
* **«колебания»** — the dominant eigenvalue is *not* a positive real number: a complex pair
  (:math:`(1+\beta-\alpha\lambda)^2 < 4\beta`, the error spirals with modulus :math:`\sqrt\beta`)
  or a negative real root (the error flips sign every step — GD's zig-zag for
  :math:`\alpha > 2/(\mu+L)`);
* **«медленно»** — the dominant eigenvalue is a positive real number: the error decays
  monotonically, without overshooting (over-damped).

The colour is the *measured* average rate per step of :math:`f - f^*`,
:math:`\rho = ((f_K - f^*)/(f_0 - f^*))^{1/K}` (:meth:`optviz.run.GridResult.rate`); on a quadratic
it is about the square of the error rate above. Marked: the theoretical optimum
:math:`(\alpha^*, \beta^*)` = ``problem.heavy_ball_params`` (★) and the best GD step
:math:`2/(\mu+L)` on the β = 0 axis (◆).

The learning-rate axis is drawn in :math:`\lg\eta` with decade ticks labelled by η (heatmap cells
on a true log axis are not reliably placed by every plotly version); a click on a cell therefore
reports ``x = lg η``.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import plotly.graph_objects as go

from .._cache import LRUCache
from ._plotly import LAYOUT_DEFAULTS
from ._style import fmt_num
from .trajectories import (
    _contour_dict,
    _dynamic_traces,
    _minimizers_dict,
    _Prepared,
    make_figure,
    two_panels,
)

__all__ = [
    "DIVERGING",
    "OSCILLATING",
    "REGIMES",
    "SLOW",
    "heavy_ball_theory",
    "measured_error_rate",
    "regime_labels",
    "regime_map",
    "regime_map_mpl",
    "selected_caption",
]

SLOW, OSCILLATING, DIVERGING = 0, 1, 2
#: Russian names of the regions, indexed by SLOW, OSCILLATING, DIVERGING
REGIMES = ("медленно", "колебания", "расходится")
REGIME_COLORS = ("#2b8cbe", "#e6550d", "#a0a0a0")
DIVERGED_FILL = "#d9d9d9"


def heavy_ball_theory(lr, momentum, mu: float, L: float):
    r"""Theoretical rate and oscillation of heavy ball on a quadratic with eigenvalues μ ≤ L.

    Returns ``(rho, oscillating)`` broadcast over ``lr`` and ``momentum``: ``rho`` is the spectral
    radius :math:`\max_{\lambda\in\{\mu, L\}} \max|z|` of the iteration matrices (the error
    contraction per step, ≥ 1: no convergence) and ``oscillating`` tells whether the eigenvalue
    attaining it is not a positive real number (complex, or negative real). With ``momentum = 0``
    this is GD: :math:`\rho = \max(|1-\alpha\mu|, |1-\alpha L|)`.
    """
    a = np.asarray(lr, dtype=float)
    b = np.asarray(momentum, dtype=float)
    a, b = np.broadcast_arrays(a, b)
    best_rho = np.full(a.shape, -np.inf)
    best_osc = np.zeros(a.shape, dtype=bool)
    # evaluate L first: at ties (e.g. the optimum, where both modes have modulus √β) the L-mode,
    # the one that overshoots, decides
    for lam in (L, mu):
        t = 1.0 + b - a * lam
        disc = t * t - 4.0 * b
        complex_pair = disc < 0
        with np.errstate(invalid="ignore"):
            real_mod = 0.5 * (np.abs(t) + np.sqrt(np.where(complex_pair, 0.0, disc)))
        rho = np.where(complex_pair, np.sqrt(np.maximum(b, 0.0)), real_mod)
        osc = complex_pair | (t < 0)
        better = rho > best_rho * (1 + 1e-6) + 1e-12   # a tie (√ of a tiny discriminant) keeps L
        best_osc = np.where(better, osc, best_osc)
        best_rho = np.where(better, rho, best_rho)
    return best_rho, best_osc


def _axes(grid_result):
    axes = getattr(grid_result, "axes", None)
    if not isinstance(axes, dict) or set(axes) != {"lr", "momentum"}:
        raise ValueError(
            "Карте режимов нужна сетка run_grid по двум осям {'lr', 'momentum'}, получены оси "
            f"{list(axes) if isinstance(axes, dict) else axes!r}."
        )
    names = list(axes)
    return np.asarray(axes["lr"], float), np.asarray(axes["momentum"], float), names.index("lr") == 0


def _quadratic_spectrum(problem):
    mu, L = getattr(problem, "mu", None), getattr(problem, "L", None)
    if mu is None or L is None or not hasattr(problem, "heavy_ball_params"):
        raise ValueError("Карта режимов строится для квадратичной задачи Quadratic (нужны μ, L и heavy_ball_params).")
    return float(mu), float(L)


def regime_labels(grid_result, problem):
    """``(regime, rho, rho_theory)`` on the (lr, momentum) grid, each of shape ``(n_momentum, n_lr)``.

    ``regime`` holds :data:`SLOW`, :data:`OSCILLATING` or :data:`DIVERGING` per cell (see the
    module docstring), ``rho`` the measured rate (``GridResult.rate()``, ``inf`` when diverged),
    ``rho_theory`` the theoretical error rate of :func:`heavy_ball_theory`. Rows are momentum values,
    columns learning rates (the orientation of a heatmap).
    """
    lrs, moms, lr_first = _axes(grid_result)
    mu, L = _quadratic_spectrum(problem)
    rho = np.asarray(grid_result.rate(), dtype=float)
    if lr_first:
        rho = rho.T
    A, B = np.meshgrid(lrs, moms)
    rho_th, osc = heavy_ball_theory(A, B, mu, L)
    regime = np.where(osc, OSCILLATING, SLOW)
    regime = np.where(~np.isfinite(rho) | (rho >= 1.0), DIVERGING, regime)
    return regime, rho, rho_th


def _representative(mask):
    """(row, col) of the cell of ``mask`` nearest to the mask's centroid (None if empty)."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    r0, c0 = rows.mean(), cols.mean()
    k = int(np.argmin((rows - r0) ** 2 + (cols - c0) ** 2))
    return int(rows[k]), int(cols[k])


def _decade_ticks(lo, hi):
    ticks = [k for k in range(math.floor(lo), math.ceil(hi) + 1) if lo - 1e-9 <= k <= hi + 1e-9]
    if len(ticks) < 2:
        ticks = list(np.round(np.linspace(lo, hi, 4), 2))
    return ticks, [fmt_num(10.0**k, 2) for k in ticks]


def _steps_of(grid_result):
    return int(grid_result.trace.steps)


def _map_title(problem, grid_result, selected_caption=None):
    a_star, b_star = problem.heavy_ball_params
    K = _steps_of(grid_result)
    title = (f"Режимы тяжёлого шарика: {getattr(problem, 'title', 'квадратичная функция')}, {K} шагов")
    sub = (f"оптимум α* = {fmt_num(a_star)}, β* = {fmt_num(b_star)}: скорость ошибки "
           f"{fmt_num(problem.heavy_ball_rate, 4)} (у GD при 2/(μ+L) = {fmt_num(problem.optimal_step)}: "
           f"{fmt_num(problem.gd_rate, 4)})")
    if selected_caption:
        sub += "<br>" + selected_caption
    return f"{title}<br><sup>{sub}</sup>"


def selected_caption(trace, problem) -> str:
    """«η = …, β = …: теория … , измерено …» for one heavy-ball run on ``problem`` (error rates)."""
    lr = float(np.ravel(trace.hyper.get("lr", np.nan))[0])
    mom = float(np.ravel(trace.hyper.get("momentum", 0.0))[0])
    mu, L = _quadratic_spectrum(problem)
    rho_th, osc = heavy_ball_theory(lr, mom, mu, L)
    rho_th = float(rho_th)
    measured = measured_error_rate(trace)
    regime = REGIMES[DIVERGING] if (trace.diverged_at >= 0).any() or rho_th >= 1 else REGIMES[int(bool(osc))]
    return (f"выбрано η = {fmt_num(lr)}, β = {fmt_num(mom)} — {regime}; скорость ошибки: теория "
            f"{fmt_num(rho_th, 4)}, измерено {fmt_num(measured, 4)}")


def measured_error_rate(trace, run: int = 0) -> float:
    r"""Asymptotic error rate of a run estimated from the second half of its loss curve.

    :math:`\hat\rho = \big((f_K - f^*)/(f_{K_0} - f^*)\big)^{1/(2(K-K_0))}` with :math:`K_0 = \lfloor K/2\rfloor`
    (the square root turns the rate of :math:`f - f^*` into the rate of the error
    :math:`\|x - x^*\|` on a quadratic; the first half is skipped as transient). Gaps below
    1e-280 (underflow) end the window early; ``inf`` for a diverged run, NaN when f* is unknown.
    """
    if trace.diverged_at[run] >= 0:
        return math.inf
    fs = trace.f_star
    if not math.isfinite(fs):
        return math.nan
    gap = np.asarray(trace.loss[:, run], dtype=float) - fs
    bad = ~(gap > 1e-280)
    last = int(np.argmax(bad)) - 1 if bad.any() else trace.steps   # end of the representable prefix
    if last < 2:
        return 0.0 if last >= 0 else math.nan
    k0 = last // 2
    return float((gap[last] / gap[k0]) ** (1.0 / (2 * (last - k0))))


_HOVER_CACHE: LRUCache[str, list] = LRUCache(8)


def _grid_key(lrs, moms, rho, problem) -> str:
    digest = hashlib.blake2b(np.ascontiguousarray(rho).tobytes() + lrs.tobytes() + moms.tobytes(), digest_size=12)
    return f"regime|{problem!r}|{digest.hexdigest()}"


def _map_traces(grid_result, problem, selected=None, xaxis="x", yaxis="y", colorbar_x=1.0):
    """Plain-dict traces of the map (heatmap of ρ, diverged cells, boundaries, ★, ◆, selection),
    the region annotations and the lg η axis values."""
    lrs, moms, _ = _axes(grid_result)
    regime, rho, rho_th = regime_labels(grid_result, problem)
    X = np.log10(lrs)
    conv = regime != DIVERGING
    z = np.where(conv, rho, np.nan)
    finite = z[np.isfinite(z)]
    zmin = float(finite.min()) if finite.size else 0.0
    key = _grid_key(lrs, moms, rho, problem)
    hover = _HOVER_CACHE.get_or_compute(   # 900–1600 formatted strings: built once per map
        key, lambda: [[f"η = {fmt_num(lrs[c])}<br>β = {fmt_num(moms[r])}<br>ρ(f − f*) = {fmt_num(rho[r, c], 4)}"
                       f"<br>теория (ошибка): {fmt_num(rho_th[r, c], 4)}<br>{REGIMES[regime[r, c]]}"
                       for c in range(len(lrs))] for r in range(len(moms))])
    ax = dict(xaxis=xaxis, yaxis=yaxis)
    # gaps as None, not NaN: a FigureWidget sends the nested lists as JSON, where NaN is not allowed
    gaps = lambda a: [[float(v) if math.isfinite(v) else None for v in row] for row in a]  # noqa: E731
    out = [
        dict(type="heatmap", x=X, y=moms, z=gaps(z), zmin=zmin, zmax=1.0, colorscale="Viridis",
             colorbar=dict(title=dict(text="ρ"), len=0.8, x=colorbar_x, thickness=14),
             text=hover, hoverinfo="text", name="скорость ρ", showlegend=False,
             meta=dict(optviz_static=key + "|rho"), **ax),
        dict(type="heatmap", x=X, y=moms, z=gaps(np.where(conv, np.nan, 1.0)), zmin=0, zmax=1,
             colorscale=[[0, DIVERGED_FILL], [1, DIVERGED_FILL]], showscale=False, text=hover, hoverinfo="text",
             name=REGIMES[DIVERGING], showlegend=False, meta=dict(optviz_static=key + "|diverged"), **ax),
        # region boundaries: level sets of the regime index
        dict(type="contour", x=X, y=moms, z=regime.astype(float), showscale=False, hoverinfo="skip",
             contours=dict(start=0.5, end=1.5, size=1.0, coloring="none"), line=dict(color="white", width=2),
             name="границы режимов", showlegend=False, meta=dict(optviz_static=key + "|bounds"), **ax),
    ]
    a_star, b_star = problem.heavy_ball_params
    gd = problem.optimal_step
    out.append(dict(type="scatter", x=[math.log10(a_star)], y=[b_star], mode="markers", name="оптимум (α*, β*)",
                    marker=dict(symbol="star", size=18, color="#ffd700", line=dict(width=1, color="black")),
                    hovertext=[f"оптимум тяжёлого шарика: α* = {fmt_num(a_star)}, β* = {fmt_num(b_star)}"],
                    hoverinfo="text", **ax))
    out.append(dict(type="scatter", x=[math.log10(gd)], y=[0.0], mode="markers", name="лучший шаг GD 2/(μ+L)",
                    marker=dict(symbol="diamond", size=13, color="white", line=dict(width=2, color="black")),
                    hovertext=[f"лучший шаг GD: 2/(μ+L) = {fmt_num(gd)}"], hoverinfo="text", cliponaxis=False, **ax))
    if selected is not None:
        out.append(dict(type="scatter", x=[math.log10(selected[0])], y=[selected[1]], mode="markers", name="выбрано",
                        marker=dict(symbol="circle-open", size=16, color="#e41a1c", line=dict(width=3)),
                        hovertext=[f"выбрано η = {fmt_num(selected[0])}, β = {fmt_num(selected[1])}"],
                        hoverinfo="text", cliponaxis=False, **ax))
    annotations = []
    for k, name in enumerate(REGIMES):
        rc = _representative(regime == k)
        if rc is None:
            continue
        r, c = rc
        annotations.append(dict(x=float(X[c]), y=float(moms[r]), xref=xaxis, yref=yaxis, text=f"<b>{name}</b>",
                                showarrow=False, font=dict(size=14, color=REGIME_COLORS[k]),
                                bgcolor="rgba(255,255,255,0.8)", borderpad=3))
    return out, annotations, X


def regime_map(grid_result, problem, *, trace=None, title: str | None = None, height: int = 520,
               validate: bool = True) -> go.Figure:
    """Distill-style map of the (lr, momentum) plane for heavy ball on a quadratic.

    Parameters
    ----------
    grid_result
        :func:`optviz.run.run_grid` of ``SGD`` on ``problem`` over ``grid={"lr": …, "momentum": …}``.
    problem
        The :class:`~optviz.problems.toys.Quadratic` it ran on (μ, L and the optimal parameters).
    trace
        Optionally one heavy-ball :class:`~optviz.run.Trace` on the same problem: drawn on the
        contour beside the map, its (lr, momentum) circled on the map and its theoretical vs
        measured rate added to the caption.
    validate
        ``False`` skips plotly's validation (live explorers, see
        :func:`optviz.viz.trajectories.make_figure`).
    """
    _, moms, _ = _axes(grid_result)
    _quadratic_spectrum(problem)
    sel = None
    if trace is not None:
        sel = (float(np.ravel(trace.hyper.get("lr", np.nan))[0]), float(np.ravel(trace.hyper.get("momentum", 0.0))[0]))
        d1, d2 = two_panels((0.52, 0.48), 0.12)
    else:
        d1, d2 = [0.0, 1.0], None
    data, annotations, X = _map_traces(grid_result, problem, sel, colorbar_x=d1[1] + 0.01 if d2 else 1.0)
    ticks, ticktext = _decade_ticks(float(X.min()), float(X.max()))
    caption = selected_caption(trace, problem) if trace is not None else None
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(
        title=dict(text=title if title is not None else _map_title(problem, grid_result, caption), x=0.01,
                   xanchor="left", y=0.97, yanchor="top", yref="container"),
        height=height, annotations=annotations, hovermode="closest",
        margin=dict(l=60, r=30, t=130 if trace is not None else 115, b=55),
        xaxis=dict(domain=d1, anchor="y", title=dict(text="шаг η (логарифмическая шкала)"), tickvals=ticks,
                   ticktext=ticktext, range=[float(X.min()), float(X.max())], showgrid=False, zeroline=False),
        yaxis=dict(domain=[0.0, 1.0], anchor="x", title=dict(text="импульс β"),
                   range=[float(moms.min()), float(moms.max())], showgrid=False, zeroline=False),
    )
    if trace is not None:
        prep = _Prepared(problem, [trace], None, ["#e41a1c"], None, problem.window)
        data.append(dict(_contour_dict(problem), xaxis="x2", yaxis="y2"))
        data.append(_minimizers_dict(problem, showlegend=False, xaxis="x2", yaxis="y2"))
        for d in _dynamic_traces(prep, trace.steps, False, 2.0):
            d.update(xaxis="x2", yaxis="y2")
            data.append(d)
        (x_lo, x_hi), (y_lo, y_hi) = problem.window
        layout.update(
            xaxis2=dict(domain=d2, anchor="y2", range=[x_lo, x_hi], title=dict(text="x"), constrain="domain",
                        showgrid=False, zeroline=False),
            yaxis2=dict(domain=[0.0, 1.0], anchor="x2", range=[y_lo, y_hi], title=dict(text="y"), scaleanchor="x2",
                        scaleratio=1, constrain="domain", showgrid=False, zeroline=False),
        )
    return make_figure(data, layout, validate=validate)


def regime_map_mpl(grid_result, problem, *, title: str | None = None, figsize=(7.5, 5.5)):
    """Static matplotlib version of :func:`regime_map` (the map alone)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    lrs, moms, _ = _axes(grid_result)
    regime, rho, _ = regime_labels(grid_result, problem)
    X = np.log10(lrs)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    conv = regime != DIVERGING
    z = np.ma.masked_invalid(np.where(conv, rho, np.nan))
    mesh = ax.pcolormesh(X, moms, z, cmap="viridis", vmax=1.0, shading="nearest")
    ax.pcolormesh(X, moms, np.ma.masked_where(conv, np.ones_like(rho)), cmap=ListedColormap([DIVERGED_FILL]),
                  shading="nearest")
    fig.colorbar(mesh, ax=ax, label="ρ (средняя скорость убывания f − f*)")
    ax.contour(X, moms, regime.astype(float), levels=[0.5, 1.5], colors="white", linewidths=2)
    for k, name in enumerate(REGIMES):
        rc = _representative(regime == k)
        if rc is not None:
            ax.text(X[rc[1]], moms[rc[0]], name, ha="center", va="center", color=REGIME_COLORS[k], fontsize=12,
                    fontweight="bold", bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"))
    a_star, b_star = problem.heavy_ball_params
    ax.plot([math.log10(a_star)], [b_star], "*", ms=18, color="#ffd700", mec="black", label="оптимум (α*, β*)")
    ax.plot([math.log10(problem.optimal_step)], [0.0], "D", ms=10, color="white", mec="black", clip_on=False,
            label="лучший шаг GD 2/(μ+L)")
    ticks, ticktext = _decade_ticks(float(X.min()), float(X.max()))
    ax.set_xticks(ticks, ticktext)
    ax.set_xlabel("шаг η (логарифмическая шкала)")
    ax.set_ylabel("импульс β")
    ax.legend(loc="upper left", fontsize=9)
    text = title if title is not None else (_map_title(problem, grid_result).replace("<br><sup>", "\n")
                                            .replace("</sup>", "").replace(" (у GD", "\n(у GD"))
    fig.suptitle(text, fontsize=11)
    return fig
