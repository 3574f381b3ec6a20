r"""Lecture 02 figures: what one SGD step sees, and why a constant step stalls at a noise floor.

* :func:`sgd_two_panel` — the two-panel view of SGD on :class:`~optviz.problems.finite_sums.LinearRegression`.
  Left, the parameter plane (slope w, intercept b) with the loss contours, the full optimum, the
  path so far, the current iterate :math:`x_k`, the optimum ★ of the current mini-batch's *own*
  loss and the stochastic gradient as an arrow. Right, the data with the current batch
  highlighted, the current model line :math:`w_k t + b_k`, the line of ★ and the optimal line
  (dashed). Animated with plain plotly frames (▶ / step slider), so it plays in a static page.
* :func:`sgd_schedule_figure` — :math:`f(x_k) - f^*` (log) for a constant step, with its noise
  floor :math:`L\sigma^2\alpha/(4\mu)` drawn as a horizontal line, against decreasing steps
  :math:`\alpha_0/\sqrt{k+1}` and :math:`(2k+1)/(2\mu(k+1)^2)`.

Both take traces of :func:`optviz.run.run` (with ``batches=``) and never run anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from ._plotly import LAYOUT_DEFAULTS, animation_controls
from ._style import DIVERGED_TEXT, PALETTE, describe, fmt_num

__all__ = ["sgd_two_panel", "sgd_schedule_figure", "noise_floor_of", "stochastic_gradients", "SCHEDULE_LABELS",
           "first_exit"]

#: how the step-size schedules of lecture 02 are named on figures (keys used by traces mappings)
SCHEDULE_LABELS = {
    "constant": "постоянный шаг α",
    "sqrt": "убывающий шаг α₀/√(k+1)",
    "strongly_convex": "убывающий шаг (2k+1)/(2μ(k+1)²)",
}
_SCHEDULE_COLORS = {"constant": "#1f77b4", "sqrt": "#2ca02c", "strongly_convex": "#d62728"}

# trace indices of the two-panel view (frames update the dynamic ones only)
_CONTOUR, _OPT, _PATH, _POINT, _STAR, _STAR_LINE, _ARROW, _DIVERGED = range(8)
_DATA, _BATCH, _OPT_FIT, _STAR_FIT, _FIT = range(8, 13)
_DYNAMIC = [_PATH, _POINT, _STAR, _STAR_LINE, _ARROW, _DIVERGED, _BATCH, _STAR_FIT, _FIT]


# ---------------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------------
def first_exit(points: np.ndarray, window=None, diverged_at: int = -1) -> int:
    """First index k whose point is non-finite or outside ``window`` (or ``diverged_at``); −1 if none.

    ``points`` has shape ``(K+1, d)``; ``window`` is one ``(low, high)`` pair per coordinate.
    """
    pts = np.asarray(points, dtype=float)
    bad = ~np.isfinite(pts).all(-1)
    if window is not None:
        w = np.asarray(window, dtype=float)
        with np.errstate(invalid="ignore"):
            bad |= ((pts < w[:, 0]) | (pts > w[:, 1])).any(-1)
    k = int(np.argmax(bad)) if bad.any() else -1
    if diverged_at is not None and diverged_at >= 0:
        k = int(diverged_at) if k < 0 else min(k, int(diverged_at))
    return k


def _positive(v) -> np.ndarray:
    """Values for a log axis: non-positive and non-finite entries become NaN (gaps)."""
    v = np.asarray(v, dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def _finite(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return np.where(np.isfinite(v), v, np.nan)


def stochastic_gradients(problem, points: np.ndarray, batches: np.ndarray) -> np.ndarray:
    r"""Mini-batch gradients :math:`\nabla f_{B_k}(x_k) = \frac1b A_{B_k}^\top(A_{B_k}x_k - y_{B_k})` of
    linear regression, for all steps at once: ``points`` ``(K, 2)``, ``batches`` ``(K, b)`` → ``(K, 2)``."""
    A, y = problem.A[batches], problem.y[batches]            # (K, b, 2), (K, b)
    with np.errstate(all="ignore"):
        r = np.einsum("kbi,ki->kb", A, points) - y
        return np.einsum("kb,kbi->ki", r, A) / batches.shape[1]


def _figure(data, layout, *, validate: bool = True) -> go.Figure:
    """``go.Figure`` from plain dicts; ``validate=False`` skips plotly's validation (several times
    faster: for live explorers, whose FigureWidget validates what it receives)."""
    if not validate:
        try:
            return go.Figure(dict(data=data, layout=layout), _validate=False)
        except TypeError:  # a plotly without the private switch
            pass
    return go.Figure(data=data, layout=layout)


def _check_stochastic(trace) -> np.ndarray:
    if trace.batches is None or np.ndim(trace.batches) != 2 or len(trace.batches) < trace.steps:
        raise ValueError("Нужна траектория стохастического метода: запустите run(..., batches=...) "
                         "(массив индексов формы (steps, b) или размер батча).")
    return np.asarray(trace.batches)[: trace.steps]


def _lr_of(trace) -> float | None:
    lr = trace.hyper.get("lr") if trace.hyper else None
    return float(lr) if isinstance(lr, (int, float, np.number)) else None


# ---------------------------------------------------------------------------------------------
# the two-panel view
# ---------------------------------------------------------------------------------------------
def sgd_two_panel(problem, trace, *, run: int = 0, step: int | None = None, grid_n: int = 60,
                  arrow_scale: float | None = None, schedule: str | None = None, duration: int = 250,
                  title: str | None = None, validate: bool = True) -> go.Figure:
    r"""The two-panel SGD view of lecture 02 for one stochastic run on linear regression.

    Parameters
    ----------
    problem : LinearRegression
    trace : Trace
        A run with ``batches`` (``run(problem, SGD, x0, K, batches=b, lr=...)``).
    run : which run of the trace to draw.
    step : None → an animation with a frame for every step k = 0…K−1 (▶ Пуск / slider);
        an int → a still figure of step ``step`` (what a live widget redraws).
    grid_n : contour grid resolution.
    arrow_scale : the arrow is :math:`-c\,\nabla f_{B_k}(x_k)`; default c makes the median arrow a
        fifth of the window (the factor is written in the caption).
    schedule : optional key of :data:`SCHEDULE_LABELS` (or any text) shown in the title.
    validate : False skips plotly's validation (live widgets; the FigureWidget validates).

    In frame k: the iterate :math:`x_k`, the batch :math:`B_k` used by the k-th step, its own
    optimum ★ = ``problem.batch_optimum(B_k)`` (for b = 1 the batch's minimisers form a whole line
    :math:`w t_i + b = y_i`, drawn dotted; ★ is its point of least norm), the arrow of
    :math:`-\nabla f_{B_k}(x_k)` and the model line of :math:`x_k`. A run that leaves the window is
    labelled «расходится» from that step on.
    """
    batches = _check_stochastic(trace)
    K = trace.steps
    if K < 1:
        raise ValueError("Нужна траектория хотя бы из одного шага (steps ≥ 1).")
    if step is not None and not (0 <= int(step) < K):
        raise ValueError(f"Параметр step должен лежать в [0, {K - 1}], получено {step!r}.")
    pts = np.asarray(trace.points[:, run], dtype=float)                 # (K+1, 2)
    xk = pts[:K]
    grads = stochastic_gradients(problem, np.nan_to_num(xk, nan=0.0, posinf=0.0, neginf=0.0), batches)
    grads[~np.isfinite(xk).all(-1)] = np.nan
    window = np.asarray(problem.window, dtype=float)
    span = float((window[:, 1] - window[:, 0]).max())
    gn = np.sqrt((grads ** 2).sum(-1))
    if arrow_scale is None:
        med = np.nanmedian(np.where(gn > 0, gn, np.nan)) if np.isfinite(gn).any() and (gn > 0).any() else 1.0
        arrow_scale = 0.2 * span / med if np.isfinite(med) and med > 0 else 1.0
    arrow_scale = float(arrow_scale)
    exit_k = first_exit(pts, window, int(trace.diverged_at[run]))
    b = batches.shape[1]
    sizes = np.asarray(trace.step_size[:, run], dtype=float)
    lr = _lr_of(trace)
    # a scheduled step (plain SGD: the recorded ‖x_{k+1} − x_k‖/‖g_k‖ is the step α_k itself)
    plain = not (trace.hyper or {}).get("momentum")
    varying = plain and lr is not None and bool(np.any(np.abs(sizes[sizes > 0] - lr) > 1e-9 * lr))

    t_lo, t_hi = float(problem.t.min()), float(problem.t.max())
    t_line = np.array([t_lo, t_hi])
    y_lo, y_hi = float(problem.y.min()), float(problem.y.max())
    pad = 0.15 * (y_hi - y_lo + 1e-12)

    def dynamic(k: int) -> list:
        """The traces that change with the step (in the order of ``_DYNAMIC``)."""
        x = pts[k]
        finite = bool(np.isfinite(x).all())
        path = _finite(pts[: k + 1])
        star = problem.batch_optimum(batches[k])
        tip = x - arrow_scale * grads[k]
        idx = batches[k]
        if b == 1 and abs(problem.t[idx[0]]) > 0:   # the batch's minimisers: b = y_i − w t_i
            ws = window[0]
            star_line = dict(x=list(ws), y=list(problem.y[idx[0]] - ws * problem.t[idx[0]]))
        else:
            star_line = dict(x=[], y=[])
        diverged = 0 <= exit_k <= k
        if diverged:
            last = pts[max(exit_k - 1, 0)]
            last = np.clip(np.nan_to_num(last), window[:, 0] + 0.05 * span, window[:, 1] - 0.05 * span)
            div = dict(x=[last[0]], y=[last[1]], text=[f"{DIVERGED_TEXT} (шаг {exit_k})"])
        else:
            div = dict(x=[], y=[], text=[])
        fit = problem.predict(x, t_line) if finite else np.array([np.nan, np.nan])
        sc = "scatter"
        return [
            dict(type=sc, x=path[:, 0], y=path[:, 1]),
            dict(type=sc, x=[x[0]] if finite else [], y=[x[1]] if finite else []),
            dict(type=sc, x=[star[0]], y=[star[1]]),
            dict(type=sc, **star_line),
            dict(type=sc, x=[x[0], tip[0]] if finite else [], y=[x[1], tip[1]] if finite else []),
            dict(type=sc, **div),
            dict(type=sc, x=problem.t[idx], y=problem.y[idx]),
            dict(type=sc, x=t_line, y=problem.predict(star, t_line)),
            dict(type=sc, x=t_line, y=fit),
        ]

    def title_of(k: int) -> str:
        if title is not None:
            return title
        hyper = {key: v for key, v in (trace.hyper or {}).items() if key in ("lr", "momentum")}
        head = describe(trace.method or "SGD", hyper)
        if varying:
            head = head.replace("η =", "η₀ =")
        sched = SCHEDULE_LABELS.get(schedule, schedule) if schedule else None
        parts = [head, f"b = {b}"] + ([sched] if sched else [])
        text = ", ".join(parts) + f" · шаг k = {k} из {K}"
        if varying and k < len(sizes):
            text += f", η_k = {fmt_num(sizes[k])}"
        if 0 <= exit_k <= k:
            text += f" — {DIVERGED_TEXT}"
        return text

    # -- static part --------------------------------------------------------------------------
    ws = np.linspace(window[0, 0], window[0, 1], grid_n)
    bs = np.linspace(window[1, 0], window[1, 1], grid_n)
    W, B = np.meshgrid(ws, bs)
    Z = problem.value_np(np.stack([W, B], -1)) - problem.f_star
    Zl = np.log10(np.maximum(Z, 1e-12 * max(float(np.nanmax(Z)), 1e-300)))
    color = "#1f77b4"
    left, right = dict(xaxis="x", yaxis="y"), dict(xaxis="x2", yaxis="y2")
    frame0 = dynamic(0 if step is None else int(step))
    styles = [
        dict(mode="lines+markers", name="путь SGD", line=dict(color=color, width=1.5),
             marker=dict(size=4, color=color)),
        dict(mode="markers", name="x_k", marker=dict(size=12, color=color, line=dict(width=1.5, color="white"))),
        dict(mode="markers", name="★ оптимум батча", marker=dict(symbol="star", size=18, color="#f2b701",
                                                                 line=dict(width=1, color="black"))),
        dict(mode="lines", name="минимумы батча (b = 1)", line=dict(color="#f2b701", dash="dot", width=1.5),
             showlegend=b == 1),
        dict(mode="lines+markers", name=f"−∇f_B(x_k) × {fmt_num(arrow_scale)}", line=dict(color="#d62728", width=2.5),
             marker=dict(symbol=["circle", "arrow"], size=[1, 14], angleref="previous", color="#d62728")),
        dict(mode="text", name=DIVERGED_TEXT, textfont=dict(color="#b00", size=14), showlegend=False),
        dict(mode="markers", name="текущий батч",
             marker=dict(size=11, color="#f2b701", line=dict(width=1, color="black"))),
        dict(mode="lines", name="прямая ★", line=dict(color="#f2b701", width=1.5, dash="dot"), showlegend=False),
        dict(mode="lines", name="модель x_k", line=dict(color=color, width=3)),
    ]
    dyn = [dict(tr_, **st, **(left if i < 6 else right)) for i, (tr_, st) in enumerate(zip(frame0, styles))]
    data = [
        dict(type="contour", x=ws, y=bs, z=Zl, colorscale="Blues", reversescale=True, showscale=False, opacity=0.85,
             contours=dict(coloring="lines", showlabels=False), ncontours=18, line=dict(width=1), name="lg(f − f*)",
             hovertemplate="w=%{x:.3g}<br>b=%{y:.3g}<br>lg(f − f*)=%{z:.2f}<extra></extra>",
             meta=dict(optviz_static=f"{problem!r} contour {grid_n}"), **left),
        dict(type="scatter", x=[problem.optimum[0]], y=[problem.optimum[1]], mode="markers", name="оптимум f",
             marker=dict(symbol="x", size=12, color="black"), meta=dict(optviz_static=f"{problem!r} optimum"), **left),
        *dyn[:6],
        dict(type="scatter", x=problem.t, y=problem.y, mode="markers", name="все данные",
             marker=dict(size=6, color="#bbbbbb"), meta=dict(optviz_static=f"{problem!r} data"), **right),
        dyn[6],
        dict(type="scatter", x=t_line, y=problem.predict(problem.optimum, t_line), mode="lines",
             name="оптимальная прямая", line=dict(color="black", dash="dash", width=1.5),
             meta=dict(optviz_static=f"{problem!r} optimal fit"), **right),
        dyn[7], dyn[8],
    ]
    caption = (f"n = {problem.n_samples}, b = {b}, μ = {fmt_num(problem.mu)}, L = {fmt_num(problem.L)}; "
               "★ — минимум функции потерь текущего батча; "
               f"стрелка — −∇f_B(x_k), увеличена в {fmt_num(arrow_scale)} раз")
    sub = dict(xref="paper", yref="paper", showarrow=False, y=1.0, yanchor="bottom", font=dict(size=13))
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(
        title=dict(text=title_of(0 if step is None else int(step)), y=0.98, yanchor="top"),
        height=640 if step is None else 540,
        margin=dict(l=60, r=20, t=120, b=190 if step is None else 90),
        legend=dict(orientation="h", yanchor="bottom", y=1.07, xanchor="left", x=0),
        xaxis=dict(domain=[0.0, 0.455], range=list(window[0]), title=dict(text="w (наклон)")),
        yaxis=dict(range=list(window[1]), title=dict(text="b (сдвиг)")),
        xaxis2=dict(domain=[0.545, 1.0], anchor="y2",
                    range=[t_lo - 0.05 * (t_hi - t_lo), t_hi + 0.05 * (t_hi - t_lo)], title=dict(text="t")),
        yaxis2=dict(anchor="x2", range=[y_lo - pad, y_hi + pad], title=dict(text="y")),
        annotations=[
            dict(text="Параметры (w, b): линии уровня f", x=0.2275, xanchor="center", **sub),
            dict(text="Данные и модель y = w·t + b", x=0.7725, xanchor="center", **sub),
            dict(text=caption, xref="paper", yref="paper", x=0, y=-0.16 if step is not None else -0.50,
                 showarrow=False, xanchor="left", font=dict(size=11, color="#555")),
        ],
    )
    fig = _figure(data, layout, validate=validate or step is None)
    if step is not None:
        return fig

    frames = [go.Frame(data=dynamic(k), traces=_DYNAMIC, name=f"k{k}",
                       layout=dict(title=dict(text=title_of(k)))) for k in range(K)]
    fig.frames = frames
    every = max(1, K // 20)   # at most ~20 tick labels under the slider
    fig.update_layout(**animation_controls([f.name for f in frames], duration=duration, label="шаг k", y=-0.2,
                                           slider_labels=[str(k) if k % every == 0 else "" for k in range(K)]))
    return fig


# ---------------------------------------------------------------------------------------------
# constant vs decreasing steps
# ---------------------------------------------------------------------------------------------
def _as_list(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def noise_floor_of(problem, trace) -> float | None:
    r"""The noise floor :math:`L\sigma_b^2\alpha/(4\mu)` of a constant-step trace, or None if the theorem
    does not apply (α ≥ 1/(2μ)).

    :math:`\sigma_b^2` is the variance of the mini-batch gradient at the optimum,
    ``problem.grad_variance(optimum, b)``; for b = 1 it is ``problem.sigma2()`` and the floor is
    ``problem.noise_floor(lr)`` exactly.
    """
    lr = _lr_of(trace)
    if lr is None or not (0 < lr < 1 / (2 * problem.mu)):
        return None
    b = _check_stochastic(trace).shape[1]
    if b == 1:
        return problem.noise_floor(lr)
    return problem.noise_floor(lr, sigma2=problem.grad_variance(problem.optimum, b))


def sgd_schedule_figure(problem, traces: Mapping, *, title: str | None = None, show_bounds: bool = True,
                        validate: bool = True) -> go.Figure:
    r""":math:`f(x_k) - f^*` (log) for a constant step and for decreasing steps, with the theory.

    Parameters
    ----------
    problem : a finite sum with ``mu``, ``L``, ``sigma2``, ``grad_variance``, ``noise_floor``
        (LinearRegression, LogisticRegression).
    traces : mapping ``kind → Trace`` or ``kind → [Trace, …]`` (several seeds: each is drawn
        faintly, their mean bold — the theorems bound the *expected* gap). Kinds
        ``"constant"``, ``"sqrt"``, ``"strongly_convex"`` get the labels of
        :data:`SCHEDULE_LABELS`; other keys are used as labels verbatim.
    show_bounds : draw the theorems' bounds: for the constant step the noise floor
        :math:`L\sigma^2\alpha/(4\mu)` (a horizontal line, see :func:`noise_floor_of`; its trace
        has ``meta="noise_floor"``) and :math:`(1-2\alpha\mu)^k(f(x_0)-f^*)` + floor; for
        ``"strongly_convex"`` :math:`L\sigma^2/(2\mu^2(k+1))`. σ² is measured at the optimum
        (for a batch of b samples: the variance of the batch gradient there).
    """
    if not traces:
        raise ValueError("Нужна хотя бы одна траектория (словарь вид шага → Trace).")
    data, annotations, notes = [], [], []
    b_seen = set()
    floor_value = None
    for i, (kind, value) in enumerate(traces.items()):
        runs = _as_list(value)
        color = _SCHEDULE_COLORS.get(kind, PALETTE[(i + 3) % len(PALETTE)])
        label = SCHEDULE_LABELS.get(kind, str(kind))
        gaps = []
        for j, tr in enumerate(runs):
            b_seen.add(_check_stochastic(tr).shape[1])
            gap = np.abs(tr.loss[:, 0] - problem.f_star)
            gaps.append(gap)
            if len(runs) > 1:
                data.append(dict(type="scatter", y=_positive(gap), mode="lines", line=dict(color=color, width=1),
                                 opacity=0.25, showlegend=False, hoverinfo="skip", name=f"{label}, запуск {j}"))
        mean = np.mean(np.stack(gaps), 0)
        lr = _lr_of(runs[0])
        name = label + (f" (α = {fmt_num(lr)})" if kind == "constant" and lr is not None else
                        f" (α₀ = {fmt_num(lr)})" if lr is not None else "")
        if len(runs) > 1:
            name += f", среднее по {len(runs)} запускам"
        data.append(dict(type="scatter", y=_positive(mean), mode="lines", name=name, line=dict(color=color, width=2.5)))
        exit_k = first_exit(runs[0].points[:, 0], None, int(runs[0].diverged_at[0]))
        if exit_k < 0 and not np.isfinite(mean).all():
            exit_k = int(np.argmax(~np.isfinite(mean)))
        if exit_k >= 0:
            y_last = _positive(mean[: max(exit_k, 1)])
            y_at = float(np.nanmax(y_last)) if np.isfinite(y_last).any() else 1.0
            annotations.append(dict(x=exit_k, y=math.log10(y_at), text=DIVERGED_TEXT, showarrow=True,
                                    font=dict(color="#b00"), arrowcolor="#b00"))
            notes.append(f"{label}: {DIVERGED_TEXT} на шаге {exit_k}")
        if not show_bounds:
            continue
        K = runs[0].steps
        k = np.arange(K + 1)
        if kind == "constant":
            floor = noise_floor_of(problem, runs[0])
            if floor is None:
                notes.append(f"оценка шумового плато требует α < 1/(2μ) = {fmt_num(1 / (2 * problem.mu))}")
                continue
            floor_value = floor
            data.append(dict(type="scatter", x=[0, K], y=[floor, floor], mode="lines", meta="noise_floor",
                             line=dict(color=color, dash="dash"), name=f"шумовое плато Lσ²α/(4μ) = {fmt_num(floor)}"))
            bound = (1 - 2 * lr * problem.mu) ** k * float(mean[0]) + floor
            data.append(dict(type="scatter", x=k, y=bound, mode="lines", line=dict(color=color, dash="dot", width=1),
                             name="оценка (1 − 2αμ)ᵏ(f₀ − f*) + пол"))
        elif kind == "strongly_convex":
            b = _check_stochastic(runs[0]).shape[1]
            s2 = problem.sigma2() if b == 1 else problem.grad_variance(problem.optimum, b)
            bound = problem.L * s2 / (2 * problem.mu ** 2 * (k + 1))
            data.append(dict(type="scatter", x=k, y=bound, mode="lines", line=dict(color=color, dash="dot", width=1),
                             name="оценка Lσ²/(2μ²(k+1))"))
    b_text = ", ".join(str(v) for v in sorted(b_seen))
    kinds = [SCHEDULE_LABELS.get(k, str(k)).replace("убывающий шаг ", "").replace("постоянный шаг α", "постоянный шаг")
             for k in traces]
    head = title or f"SGD, батч b = {b_text}: " + " против ".join(kinds)
    b_max = max(b_seen)
    s2 = problem.sigma2() if b_max == 1 else problem.grad_variance(problem.optimum, b_max)
    sigma_note = f"L = {fmt_num(problem.L)}, μ = {fmt_num(problem.mu)}, σ² в минимуме (b = {b_max}) = {fmt_num(s2)}"
    if floor_value is not None:
        sigma_note += (f"; шумовое плато Lσ²α/(4μ) = {fmt_num(floor_value)} (с σ² в минимуме теорема — оценка "
                       "для малых α: вдали от минимума дисперсия градиента больше)")
    caption = "; ".join([sigma_note] + notes)
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(title=dict(text=head, subtitle=dict(text=caption, font=dict(size=11, color="#555"))),
                  height=560, margin=dict(l=60, r=20, t=90, b=150), annotations=annotations,
                  legend=dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0, font=dict(size=11)),
                  xaxis=dict(title=dict(text="итерация k")),
                  yaxis=dict(title=dict(text="|f(x_k) − f*|"), type="log", exponentformat="power"))
    return _figure(data, layout, validate=validate)
