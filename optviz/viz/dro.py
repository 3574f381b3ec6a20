r"""Group-DRO figures: how the group weights π evolve, and ERM against DRO on the 2-D toy.

Two builders, both pure (they draw the traces they are given and never run an optimizer):

* :func:`pi_figure` — one DRO run: the weights :math:`\pi_k` as a stacked area over the steps
  (the bands of step :math:`k` are :math:`\pi_{k,1},\dots,\pi_{k,G}` and sum to 1), the group losses
  :math:`F_g(\theta_k)` beside it, for three groups the point :math:`\pi_k` moving on the simplex
  (a ternary plot) and, when the 2-D problem is given, the parameter path :math:`\theta_k` on its
  contour — everything animated in the step with plotly frames (plays in static HTML too).
* :func:`dro_race_figure` — several methods (ALSO, Optimistic Mirror-Prox, Adam = ERM) on the toy:
  ERM and DRO solutions ★, the trajectories, and the π of every DRO method moving on the simplex.

The group losses come from ``group_losses=`` (an array ``(K+1, G)``) or, when the problem is passed,
from ``problem.group_losses(trace.points)`` — an evaluation of the problem at the recorded points,
not an optimisation. The robust solution to compare with (``solution=``, e.g.
``problem.dro_solution(tau, prior)``) is computed by the caller.

With ``animate=False`` and ``step=k`` a builder draws the state at step ``k`` without frames: that
is what a live explorer shows (a ``FigureWidget`` cannot play frames; its step slider redraws).
The figures are assembled from plain dicts with hand-placed panels (no ``make_subplots``), which
keeps one redraw of an explorer in the tens of milliseconds.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ._plotly import LAYOUT_DEFAULTS, animation_controls
from ._style import DIVERGED_TEXT, color_for, describe, fmt_num

__all__ = ["GROUP_COLORS", "pi_figure", "dro_race_figure", "frame_steps", "group_names_for", "contour_traces"]

#: colours of the groups (distinct from the method colours of ``_style``)
GROUP_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b", "#9d755d",
                "#ff9da6", "#bab0ac"]

#: hyperparameters shown in the titles of DRO runs
_DRO_KEYS = ("lr", "pi_lr", "pi_decay", "alpha")

_ERM_COLOR = "#1f77b4"
_DRO_COLOR = "#d62728"
_BAD_COLOR = "#b00000"


# ------------------------------------------------------------------------------------- helpers
def frame_steps(steps: int, max_frames: int = 60) -> np.ndarray:
    """At most ``max_frames`` step indices from 0 to ``steps`` (both included), evenly spread."""
    if int(max_frames) < 2:
        raise ValueError(f"Параметр max_frames должен быть не меньше 2, получено {max_frames}.")
    n = min(int(steps) + 1, int(max_frames))
    return np.unique(np.round(np.linspace(0, steps, n)).astype(int))


def group_names_for(n_groups: int, names: Sequence[str] | None = None) -> list[str]:
    """«группа 1», «группа 2», … unless ``names`` are given (checked for the right count)."""
    if names is None:
        return [f"группа {g + 1}" for g in range(n_groups)]
    names = [str(n) for n in names]
    if len(names) != n_groups:
        raise ValueError(f"Параметр group_names должен содержать {n_groups} имён (по числу групп), получено {len(names)}.")
    return names


def _group_color(g: int) -> str:
    return GROUP_COLORS[g % len(GROUP_COLORS)]


def _single_run(trace, *, need_pi: bool = True):
    """``(points (K+1, d), pi (K+1, G) or None, diverged_at int)`` of a one-run trace."""
    if trace.n_runs != 1:
        raise ValueError(
            f"Трасса содержит {trace.n_runs} запусков, а рисунок строится для одного: выберите его, "
            "например trace.select(0)."
        )
    pi = None if trace.pi is None else np.asarray(trace.pi, dtype=float)
    if pi is not None and pi.ndim == 3:
        pi = pi[:, 0]
    if need_pi and pi is None:
        raise ValueError(
            f"В трассе метода {trace.method or '?'} нет весов групп π (trace.pi is None): эволюцию π "
            "можно нарисовать только для DRO-оптимизатора (ALSO, OptimisticMirrorProx)."
        )
    if pi is not None and (pi.ndim != 2 or pi.shape[0] != trace.points.shape[0]):
        raise ValueError(
            f"trace.pi должен иметь форму (K+1, G) = ({trace.points.shape[0]}, G), получена {pi.shape}."
        )
    return np.asarray(trace.points[:, 0], dtype=float), pi, int(np.asarray(trace.diverged_at).reshape(-1)[0])


def _vec(v, digits: int = 3) -> str:
    return "(" + ", ".join(fmt_num(float(x), digits) for x in np.asarray(v).reshape(-1)) + ")"


def _pi_vec(v) -> str:
    return "(" + ", ".join(f"{float(x):.3f}" for x in np.asarray(v).reshape(-1)) + ")"


def _run_label(trace) -> str:
    return describe(trace.method, trace.hyper, keys=_DRO_KEYS)


def _prior_text(hyper: Mapping) -> str | None:
    prior = hyper.get("prior")
    if prior is None:
        return None
    if isinstance(prior, str):
        return "π̂ равномерное" if prior == "uniform" else f"π̂ = {prior}"
    return f"π̂ = {_pi_vec(prior)}"


def _as_group_losses(group_losses, problem, points, shape) -> np.ndarray | None:
    """Group losses ``(K+1, G)``: the given array, or the problem evaluated at ``points``."""
    if group_losses is not None:
        L = np.asarray(group_losses, dtype=float)
        if L.shape != shape:
            raise ValueError(f"Параметр group_losses должен иметь форму (K+1, G) = {shape}, получена {L.shape}.")
        return L
    if problem is not None and hasattr(problem, "group_losses"):
        out = problem.group_losses(np.asarray(points, dtype=np.float64))
        L = np.asarray(out.detach().cpu().numpy() if hasattr(out, "detach") else out, dtype=float)
        if L.shape != shape:
            raise ValueError(f"problem.group_losses вернула форму {L.shape}, а π имеет форму {shape}.")
        return L
    return None


def _log_axis_ok(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return v.size > 0 and bool((v > 0).all())


def _range(values: np.ndarray, log: bool, pad: float = 0.05):
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    if log:
        lo, hi = np.log10(lo), np.log10(hi)
    width = hi - lo if hi > lo else max(abs(hi), 1.0)
    return [lo - pad * width, hi + pad * width]


# -------------------------------------------------------------------------------- panel layout
def _panels_layout(kinds: Sequence[str], cols: int, *, widths=None, hgap: float = 0.1, vgap: float = 0.14,
                   titles: Sequence[str] = ()):
    """Hand-placed panels on a grid (what ``make_subplots`` does, at a fraction of its cost).

    ``kinds`` holds ``"xy"`` or ``"ternary"`` per panel, filled row by row. Returns the layout dict
    (axes, ternaries, subplot-title annotations) and, per panel, the reference a trace needs
    (``{"xaxis": "x2", "yaxis": "y2"}`` or ``{"subplot": "ternary"}``) plus the axis names.
    """
    n = len(kinds)
    rows = (n + cols - 1) // cols
    widths = list(widths) if widths is not None else [1.0 / cols] * cols
    usable_w, usable_h = 1.0 - hgap * (cols - 1), 1.0 - vgap * (rows - 1)
    total = sum(widths)
    xs, x0 = [], 0.0
    for w in widths:
        xs.append((x0, x0 + usable_w * w / total))
        x0 = xs[-1][1] + hgap
    h = usable_h / rows
    layout, refs, annotations = {}, [], []
    n_xy = n_tern = 0
    for i, kind in enumerate(kinds):
        r, c = divmod(i, cols)
        xd = [round(xs[c][0], 6), round(xs[c][1], 6)]
        yd = [round(1.0 - r * (h + vgap) - h, 6), round(1.0 - r * (h + vgap), 6)]
        if kind == "ternary":
            n_tern += 1
            name = "ternary" if n_tern == 1 else f"ternary{n_tern}"
            layout[name] = dict(domain=dict(x=xd, y=yd))
            refs.append(dict(ref=dict(subplot=name), layout=name))
        else:
            n_xy += 1
            s = "" if n_xy == 1 else str(n_xy)
            layout[f"xaxis{s}"] = dict(domain=xd, anchor=f"y{s}")
            layout[f"yaxis{s}"] = dict(domain=yd, anchor=f"x{s}")
            refs.append(dict(ref=dict(xaxis=f"x{s}", yaxis=f"y{s}"), x=f"xaxis{s}", y=f"yaxis{s}"))
        if i < len(titles) and titles[i]:
            annotations.append(dict(text=titles[i], x=(xd[0] + xd[1]) / 2, y=yd[1] + (0.06 if kind == "ternary" else 0.0),
                                    xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                                    showarrow=False, font=dict(size=14)))
    layout["annotations"] = annotations
    return layout, refs


def _ternary_axes(names: Sequence[str]) -> dict:
    return dict(sum=1, **{f"{ax}axis": dict(title=dict(text=names[g]), color=_group_color(g), min=0)
                          for g, ax in enumerate("abc")})


_GRIDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _problem_grid(problem, n: int = 60):
    """``problem.grid(n)``, cached per problem object (the contour of a toy does not change)."""
    try:
        cache = _GRIDS.setdefault(problem, {})
    except TypeError:  # not weak-referenceable: no cache
        return problem.grid(n)
    key = (n, tuple(map(tuple, problem.window)))
    if key not in cache:
        cache[key] = problem.grid(n)
    return cache[key]


def contour_traces(problem, ref: dict, n: int = 60) -> list[dict]:
    """Plotly traces of a 2-D DRO problem: its contour (log₁₀ of the ERM loss), its samples coloured by
    group and the ERM minimiser ★; ``ref`` holds the axes (``xaxis``, ``yaxis``) they are drawn on."""
    X, Y, Z = _problem_grid(problem, n)
    with np.errstate(all="ignore"):
        low = float(np.nanmin(Z))
        logz = np.log10(Z - (low if low <= 0 else 0.0) + 1e-12)
    traces = [dict(type="contour", x=X[0], y=Y[:, 0], z=logz, colorscale="Greys", reversescale=True, ncontours=25,
                   contours=dict(coloring="lines"), line=dict(width=1), showscale=False, opacity=0.6,
                   name="lg L(θ)", hoverinfo="skip", showlegend=False, **ref)]
    pts = getattr(problem, "points", None)
    gid = getattr(problem, "group_ids", None)
    if pts is not None and gid is not None:
        pts, gid = np.asarray(pts), np.asarray(gid)
        for g in range(int(gid.max()) + 1):
            sel = pts[gid == g]
            traces.append(dict(type="scatter", x=sel[:, 0], y=sel[:, 1], mode="markers", hoverinfo="skip",
                               marker=dict(size=4, color=_group_color(g), opacity=0.45), legendgroup=f"g{g}",
                               showlegend=False, name=f"группа {g + 1}", **ref))
    mins = np.asarray(getattr(problem, "minimizers", np.zeros((0, 2))))
    if mins.size:
        traces.append(dict(type="scatter", x=mins[:, 0], y=mins[:, 1], mode="markers+text", name="★ ERM",
                           text=["ERM"] * len(mins), textposition="bottom center", textfont=dict(color=_ERM_COLOR),
                           marker=dict(symbol="star", size=16, color=_ERM_COLOR, line=dict(width=1, color="white")),
                           **ref))
    return traces


def _theta_of(solution) -> np.ndarray:
    return np.asarray(getattr(solution, "theta", solution), dtype=float).reshape(-1)


def _solution_star(solution, ref: dict) -> dict:
    theta = _theta_of(solution)
    return dict(type="scatter", x=[theta[0]], y=[theta[1]], mode="markers+text", name="★ DRO", text=["DRO"],
                textposition="top center", textfont=dict(color=_DRO_COLOR),
                marker=dict(symbol="star", size=16, color=_DRO_COLOR, line=dict(width=1, color="white")), **ref)


def _pi_star(solution, ref: dict) -> dict | None:
    ps = getattr(solution, "pi", None)
    if ps is None:
        return None
    ps = np.asarray(ps, dtype=float)
    return dict(type="scatterternary", a=[ps[0]], b=[ps[1]], c=[ps[2]], mode="markers", name="★ π* (DRO)",
                marker=dict(symbol="star", size=16, color=_DRO_COLOR, line=dict(width=1, color="white")), **ref)


def _diverged_marker(p, ref: dict, name: str = DIVERGED_TEXT) -> dict:
    return dict(type="scatter", x=[p[0]], y=[p[1]], mode="markers+text", text=[DIVERGED_TEXT], cliponaxis=False,
                textposition="top center", marker=dict(symbol="x", size=12, color=_BAD_COLOR),
                textfont=dict(color=_BAD_COLOR), name=name, showlegend=False, **ref)


def _divergence(points: np.ndarray, diverged_at: int, window) -> tuple[int, np.ndarray | None]:
    """``(step, where to write «расходится»)`` of a diverging run, ``(-1, None)`` otherwise.

    A run diverges when :func:`optviz.run.run` marked it (``diverged_at``) or when, drawn in the
    plotting ``window``, it leaves the window and never comes back: the step is the one where it left
    for good, the label sits where the path crosses the border (the step's point clipped to the window).
    """
    if window is None:
        if diverged_at < 0:
            return -1, None
        return diverged_at, points[max(diverged_at - 1, 0)]
    (x0, x1), (y0, y1) = window
    finite = np.isfinite(points).all(1)
    inside = finite & (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
    if diverged_at < 0 and inside[-1]:
        return -1, None
    idx = np.flatnonzero(inside)
    step = 0 if idx.size == 0 else int(idx[-1]) + 1       # left the window for good here
    if step >= len(points):                               # marked by run() while still inside
        step = diverged_at
    elif diverged_at >= 0:
        step = min(step, diverged_at)
    lo, hi = np.array([x0, y0]), np.array([x1, y1])
    p1 = points[step]
    p0 = points[step - 1] if step > 0 and inside[step - 1] else None
    if p0 is None or not finite[step]:
        p = p1 if finite[step] else points[max(step - 1, 0)]
        return int(step), np.clip(p, lo, hi)
    # where the segment θ_{k-1} → θ_k crosses the border of the window
    d, t = p1 - p0, 1.0
    for c in range(2):
        if p1[c] > hi[c] and d[c] > 0:
            t = min(t, (hi[c] - p0[c]) / d[c])
        elif p1[c] < lo[c] and d[c] < 0:
            t = min(t, (lo[c] - p0[c]) / d[c])
    return int(step), np.clip(p0 + t * d, lo, hi)


def _check_step(step, K: int, animate: bool) -> int:
    if step is None:
        return 0 if animate else K
    if not 0 <= int(step) <= K:
        raise ValueError(f"Параметр step должен лежать в [0, {K}], получено {step}.")
    return int(step)


def _title(main: str, lines: Sequence[str]) -> str:
    """Main title with caption lines below it (small font); ``<br>`` inside a line starts a new one."""
    lines = [ln for ln in lines if ln]
    return main + "".join(f"<br><sup>{ln}</sup>" for ln in lines)


def _finish(traces, layout, animated, state, title_at, step, *, animate, K, max_frames, duration):
    """Put the state of ``step`` into the moving traces, build the figure and, if asked, its frames.

    The top margin follows the number of caption lines, the bottom margin leaves room for the
    x-axis title and the animation controls (placed a fixed number of pixels below the plot).
    """
    for i, upd in zip(animated, state(step)):
        traces[i].update(upd)
    text = title_at(step)
    n_lines = max(title_at(k).count("<br>") for k in (0, K))
    top = 50 + 18 * n_lines
    bottom = 150 if animate else 60
    layout["title"] = dict(text=text, x=0.0, xanchor="left", y=1.0, yanchor="top", yref="container",
                           pad=dict(t=12))
    layout["margin"] = dict(l=60, r=30, t=top, b=bottom)
    layout["height"] = layout.get("height", 470) + top + bottom  # the plot area + margins
    fig = go.Figure(data=traces, layout=layout)
    if animate:
        plot_h = layout["height"] - top - bottom
        types = [traces[i]["type"] for i in animated]
        ks = frame_steps(K, max_frames)
        fig.frames = [dict(data=[dict(type=t, **d) for t, d in zip(types, state(int(k)))], traces=list(animated),
                           name=f"k{int(k)}", layout=dict(title=dict(text=title_at(int(k)))))
                      for k in ks]
        fig.update_layout(**animation_controls([f"k{int(k)}" for k in ks], duration=duration, label="шаг",
                                               slider_labels=[str(int(k)) for k in ks], y=-70.0 / plot_h))
    return fig


# ----------------------------------------------------------------------------------- π figure
def pi_figure(trace, *, problem=None, group_losses=None, group_names: Sequence[str] | None = None,
              animate: bool = True, step: int | None = None, solution=None, log_losses: bool | None = None,
              max_frames: int = 60, duration: int = 80, title: str | None = None, note: str | None = None) -> go.Figure:
    r"""How the group weights π of one DRO run evolve, with the group losses and the path.

    Panels: the stacked area of :math:`\pi_k` over the steps (one band per group), the group losses
    :math:`F_g(\theta_k)` (log scale when all are positive), for :math:`G = 3` the point
    :math:`\pi_k` on the simplex (ternary plot) and, when ``problem`` is a 2-D problem, the path
    :math:`\theta_k` on its contour with the ERM ★ (and the DRO ★ when ``solution`` is given).

    Parameters
    ----------
    trace : Trace
        One run of a DRO optimizer (``trace.pi`` of shape ``(K+1, G)``).
    problem : optional
        The problem of the run: gives the group losses (``problem.group_losses(trace.points)``)
        when ``group_losses`` is not given and, in 2-D, the contour panel.
    group_losses : array ``(K+1, G)``, optional
        The group losses per step (e.g. from training a network, or precomputed by an explorer).
    group_names : sequence of str, optional
        Legend names (default «группа 1», «группа 2», …).
    animate : bool
        Attach plotly frames (▶ Пуск / ❚❚ Пауза, step slider): the area and the loss curves grow,
        the points move. The base figure shows step 0. ``False``: one picture at ``step``.
    step : int, optional
        The step shown (default: 0 when animated, else the last one).
    solution : optional
        A ``DROSolution`` (``theta``, ``pi``) to mark: ★ on the contour and on the simplex.
    log_losses : bool, optional
        Log-scale losses (default: when all finite losses are positive; never with a non-positive one).
    max_frames : int
        At most this many frames (steps evenly spread, first and last included).
    title, note : str, optional
        Replace the computed main title; add a line to the caption.
    """
    points, pi, diverged_at = _single_run(trace)
    K, G = pi.shape[0] - 1, pi.shape[1]
    names = group_names_for(G, group_names)
    L = _as_group_losses(group_losses, problem, points, pi.shape)
    show_path = bool(problem is not None and getattr(problem, "dim", None) == 2
                     and getattr(problem, "window", None) is not None)
    diverged_at, diverged_where = _divergence(points, diverged_at, problem.window if show_path else None)
    step = _check_step(step, K, animate)

    kinds = ["pi"] + (["loss"] if L is not None else []) + (["simplex"] if G == 3 else []) + (["path"] if show_path else [])
    titles = {"pi": "Веса групп π<sub>k</sub>", "loss": "Потери групп F<sub>g</sub>(θ<sub>k</sub>)",
              "simplex": "π<sub>k</sub> на симплексе", "path": "Траектория θ<sub>k</sub>"}
    cols = 1 if len(kinds) == 1 else 2
    rows = (len(kinds) + cols - 1) // cols
    layout, refs = _panels_layout(["ternary" if k == "simplex" else "xy" for k in kinds], cols,
                                  titles=[titles[k] for k in kinds], vgap=0.16 if rows > 1 else 0.1)
    panel = dict(zip(kinds, refs))
    steps_axis = np.arange(K + 1)
    traces: list[dict] = []
    animated: list[int] = []

    def add(tr: dict, moving: bool = False):
        traces.append(tr)
        if moving:
            animated.append(len(traces) - 1)

    # π: stacked area, growing with k
    ref = panel["pi"]["ref"]
    for g in range(G):
        add(dict(type="scatter", name=names[g], legendgroup=f"g{g}", stackgroup="pi", mode="lines",
                 line=dict(width=0.5, color=_group_color(g)), fillcolor=_group_color(g),
                 hovertemplate=f"{names[g]}: π = %{{y:.3f}}<extra>шаг %{{x}}</extra>", **ref), moving=True)
    layout[panel["pi"]["x"]].update(range=[0, max(K, 1)], title=dict(text="шаг k"))
    layout[panel["pi"]["y"]].update(range=[0, 1], title=dict(text="π"))

    # group losses
    if L is not None:
        log_y = _log_axis_ok(L) and (log_losses is None or bool(log_losses))
        ref = panel["loss"]["ref"]
        for g in range(G):
            add(dict(type="scatter", name=names[g], legendgroup=f"g{g}", showlegend=False, mode="lines",
                     line=dict(width=2, color=_group_color(g)),
                     hovertemplate=f"{names[g]}: F = %{{y:.4g}}<extra>шаг %{{x}}</extra>", **ref), moving=True)
        layout[panel["loss"]["x"]].update(range=[0, max(K, 1)], title=dict(text="шаг k"))
        layout[panel["loss"]["y"]].update(type="log" if log_y else "linear", range=_range(L, log_y),
                                          title=dict(text="F<sub>g</sub> (лог. шкала)" if log_y else "F<sub>g</sub>"))

    # simplex (three groups)
    if G == 3:
        ref = panel["simplex"]["ref"]
        add(dict(type="scatterternary", a=pi[:, 0], b=pi[:, 1], c=pi[:, 2], mode="lines", name="путь π",
                 line=dict(color="#999999", width=1, dash="dot"), showlegend=False, hoverinfo="skip", **ref))
        add(dict(type="scatterternary", mode="lines", showlegend=False, line=dict(color="#333333", width=2),
                 hoverinfo="skip", name="π до шага k", **ref), moving=True)
        add(dict(type="scatterternary", mode="markers", name="π<sub>k</sub>",
                 marker=dict(size=12, color="#222222", line=dict(width=1, color="white")),
                 hovertemplate="π = (%{a:.3f}, %{b:.3f}, %{c:.3f})<extra></extra>", **ref), moving=True)
        star = _pi_star(solution, ref) if solution is not None else None
        if star is not None:
            add(star)
        layout[panel["simplex"]["layout"]].update(_ternary_axes(names))

    # parameter path on the contour
    if show_path:
        ref = panel["path"]["ref"]
        for tr in contour_traces(problem, ref):
            add(tr)
        if solution is not None:
            add(_solution_star(solution, ref))
        color = color_for(trace.method)
        add(dict(type="scatter", x=points[:, 0], y=points[:, 1], mode="lines", opacity=0.4, showlegend=False,
                 line=dict(color=color, width=1, dash="dot"), hoverinfo="skip", name="путь θ", **ref))
        add(dict(type="scatter", mode="lines", line=dict(color=color, width=2.5), showlegend=False, hoverinfo="skip",
                 name="θ до шага k", **ref), moving=True)
        add(dict(type="scatter", mode="markers", name="θ<sub>k</sub>",
                 marker=dict(size=11, color=color, line=dict(width=1, color="white")),
                 hovertemplate="θ = (%{x:.3f}, %{y:.3f})<extra></extra>", **ref), moving=True)
        (x0, x1), (y0, y1) = problem.window
        layout[panel["path"]["x"]].update(range=[x0, x1], title=dict(text="θ₁"))
        layout[panel["path"]["y"]].update(range=[y0, y1], title=dict(text="θ₂"))
        if diverged_at >= 0:
            add(_diverged_marker(diverged_where, ref))
    if diverged_at >= 0:
        add(dict(type="scatter", x=[diverged_at, diverged_at], y=[0, 1], mode="lines+text",
                 text=["", DIVERGED_TEXT], textposition="top center", line=dict(color=_BAD_COLOR, dash="dash"),
                 textfont=dict(color=_BAD_COLOR), name=DIVERGED_TEXT, showlegend=False, **panel["pi"]["ref"]))

    # -- title and caption, per step ----------------------------------------------------------------
    main = title or f"Эволюция весов групп π: {_run_label(trace)}"
    tail = []
    prior = _prior_text(trace.hyper)
    if prior:
        tail.append(prior)
    tau = trace.hyper.get("pi_decay")
    if tau is not None and np.ndim(tau) == 0:
        tail.append(f"τ = {fmt_num(tau)}: чем больше τ, тем ближе π к π̂ (τ → ∞ — ERM)")
    if diverged_at >= 0:
        tail.append(f"{DIVERGED_TEXT} на шаге {diverged_at}")
    theta_star = _theta_of(solution) if solution is not None else None

    def title_at(k: int) -> str:
        parts = [f"шаг {k} из {K}: π = {_pi_vec(pi[k])}"]
        if show_path:
            parts.append(f"θ = {_vec(points[k])}")
        if theta_star is not None:
            parts.append(f"‖θ − θ*‖ = {fmt_num(float(np.linalg.norm(points[k] - theta_star)))}")
        return _title(main, [" · ".join(parts), " · ".join(tail), *(note or "").split("<br>")])

    def state(k: int) -> list[dict]:
        """The moving traces at step k, in the order of ``animated``."""
        out = [dict(x=steps_axis[:k + 1], y=pi[:k + 1, g]) for g in range(G)]
        if L is not None:
            out += [dict(x=steps_axis[:k + 1], y=L[:k + 1, g]) for g in range(G)]
        if G == 3:
            out += [dict(a=pi[:k + 1, 0], b=pi[:k + 1, 1], c=pi[:k + 1, 2]),
                    dict(a=pi[k:k + 1, 0], b=pi[k:k + 1, 1], c=pi[k:k + 1, 2])]
        if show_path:
            out += [dict(x=points[:k + 1, 0], y=points[:k + 1, 1]), dict(x=points[k:k + 1, 0], y=points[k:k + 1, 1])]
        return out

    layout.update({k: v for k, v in LAYOUT_DEFAULTS.items() if k not in ("margin", "legend")})
    layout.update(height=400 * rows, hovermode="closest",
                  legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.02))
    return _finish(traces, layout, animated, state, title_at, step, animate=animate, K=K, max_frames=max_frames,
                   duration=duration)


# ------------------------------------------------------------------------------ ERM vs DRO race
def dro_race_figure(problem, traces: Sequence, *, solution=None, labels: Sequence[str] | None = None,
                    group_names: Sequence[str] | None = None, animate: bool = True, step: int | None = None,
                    max_frames: int = 60, duration: int = 80, title: str | None = None,
                    note: str | None = None) -> go.Figure:
    r"""ERM against DRO on a 2-D group problem: trajectories of several methods, π as the animation.

    Left: the contour of the ERM loss with the samples of every group, the ERM ★
    (``problem.minimizers``), the DRO ★ (``solution.theta``) and the path of every trace. Right
    (when at least one trace has π): the weights :math:`\pi_k` of every DRO method — a point on the
    simplex for three groups (with the DRO :math:`\pi^\star` ★), grouped bars otherwise. Animated
    in the step (all traces must have the same number of steps).

    Parameters
    ----------
    problem
        A 2-D problem with ``window`` and ``grid`` (the DRO toy).
    traces : sequence of Trace
        One run each (e.g. ALSO, OptimisticMirrorProx, Adam); traces without π (ERM methods) are
        drawn on the contour only.
    solution : DROSolution, optional
        The robust saddle point to mark.
    labels : sequence of str, optional
        Legend labels (default: method and hyperparameters).
    animate, step, max_frames, duration, title, note
        As in :func:`pi_figure`.
    """
    traces = list(traces)
    if not traces:
        raise ValueError("Параметр traces пуст: передайте хотя бы одну трассу.")
    if getattr(problem, "dim", None) != 2 or getattr(problem, "window", None) is None:
        raise ValueError("dro_race_figure рисует только двумерные задачи с окном (problem.window).")
    runs = [_single_run(t, need_pi=False) for t in traces]
    marks = [_divergence(pts, dv, problem.window) for pts, _, dv in runs]
    runs = [(pts, pi, m[0]) for (pts, pi, _), m in zip(runs, marks)]
    K = runs[0][0].shape[0] - 1
    if any(r[0].shape[0] - 1 != K for r in runs):
        raise ValueError("Все трассы должны иметь одинаковое число шагов — иначе общая анимация невозможна.")
    labels = [_run_label(t) for t in traces] if labels is None else [str(x) for x in labels]
    if len(labels) != len(traces):
        raise ValueError(f"Параметр labels должен содержать {len(traces)} подписей, получено {len(labels)}.")
    with_pi = [i for i, r in enumerate(runs) if r[1] is not None]
    G = runs[with_pi[0]][1].shape[1] if with_pi else 0
    if any(runs[i][1].shape[1] != G for i in with_pi):
        raise ValueError("У DRO-трасс разное число групп.")
    names = group_names_for(G, group_names) if G else []
    step = _check_step(step, K, animate)

    right = None if not with_pi else ("simplex" if G == 3 else "bars")
    kinds = ["xy"] + ([] if right is None else ["ternary" if right == "simplex" else "xy"])
    ptitles = ["Траектории θ<sub>k</sub>"] + ([] if right is None else
                                              ["Веса групп π<sub>k</sub>" + (" на симплексе" if right == "simplex" else "")])
    layout, refs = _panels_layout(kinds, len(kinds), widths=[0.58, 0.42][:len(kinds)], titles=ptitles)
    out: list[dict] = []
    animated: list[int] = []

    def add(tr: dict, moving: bool = False):
        out.append(tr)
        if moving:
            animated.append(len(out) - 1)

    ref = refs[0]["ref"]
    for tr in contour_traces(problem, ref):
        add(tr)
    if solution is not None:
        add(_solution_star(solution, ref))
    colors = [color_for(t.method, i) for i, t in enumerate(traces)]
    for i, ((pts, _, dv), lab, col) in enumerate(zip(runs, labels, colors)):
        add(dict(type="scatter", x=pts[:, 0], y=pts[:, 1], mode="lines", line=dict(color=col, width=1, dash="dot"),
                 opacity=0.35, showlegend=False, hoverinfo="skip", legendgroup=f"m{i}", name=lab, **ref))
        add(dict(type="scatter", mode="lines", line=dict(color=col, width=2.5), name=lab, legendgroup=f"m{i}",
                 hoverinfo="skip", **ref), moving=True)
        add(dict(type="scatter", mode="markers", marker=dict(size=11, color=col, line=dict(width=1, color="white")),
                 showlegend=False, legendgroup=f"m{i}", name=lab,
                 hovertemplate=f"{lab}<br>θ = (%{{x:.3f}}, %{{y:.3f}})<extra></extra>", **ref), moving=True)
        if dv >= 0:
            add(_diverged_marker(marks[i][1], ref, name=f"{lab}: {DIVERGED_TEXT}"))
    (x0, x1), (y0, y1) = problem.window
    layout[refs[0]["x"]].update(range=[x0, x1], title=dict(text="θ₁"))
    layout[refs[0]["y"]].update(range=[y0, y1], title=dict(text="θ₂"))

    if right == "simplex":
        ref = refs[1]["ref"]
        for i in with_pi:
            add(dict(type="scatterternary", mode="lines", line=dict(color=colors[i], width=2), showlegend=False,
                     legendgroup=f"m{i}", hoverinfo="skip", name=labels[i], **ref), moving=True)
            add(dict(type="scatterternary", mode="markers", showlegend=False, legendgroup=f"m{i}", name=labels[i],
                     marker=dict(size=11, color=colors[i], line=dict(width=1, color="white")),
                     hovertemplate=f"{labels[i]}<br>π = (%{{a:.3f}}, %{{b:.3f}}, %{{c:.3f}})<extra></extra>", **ref),
                moving=True)
        star = _pi_star(solution, ref) if solution is not None else None
        if star is not None:
            add(star)
        layout[refs[1]["layout"]].update(_ternary_axes(names))
    elif right == "bars":
        ref = refs[1]["ref"]
        for i in with_pi:
            add(dict(type="bar", x=names, marker=dict(color=colors[i]), name=labels[i], legendgroup=f"m{i}",
                     showlegend=False, **ref), moving=True)
        layout[refs[1]["y"]].update(range=[0, 1], title=dict(text="π"))
        layout["barmode"] = "group"

    # -- title and caption ------------------------------------------------------------------------
    main = title or f"ERM против DRO: {getattr(problem, 'title', 'задача')}"
    mins = np.asarray(getattr(problem, "minimizers", np.zeros((0, 2))))
    tail = []
    if mins.size:
        tail.append(f"★ ERM θ = {_vec(mins[0])}")
    if solution is not None:
        tail.append(f"★ DRO θ* = {_vec(_theta_of(solution))}"
                    + (f", π* = {_pi_vec(solution.pi)}" if getattr(solution, "pi", None) is not None else ""))
    short = [lab.split(" (")[0] for lab in labels]

    def title_at(k: int) -> str:
        parts = []
        for (pts, pi, dv), name in zip(runs, short):
            s = f"{name}: θ = {_vec(pts[k])}"
            if pi is not None:
                s += f", π = {_pi_vec(pi[k])}"
            if 0 <= dv <= k:
                s += f" — {DIVERGED_TEXT}"
            parts.append(s)
        return _title(main, [" · ".join(tail), f"шаг {k} из {K}: " + parts[0], *parts[1:],
                             *(note or "").split("<br>")])

    def state(k: int) -> list[dict]:
        res = []
        for pts, _, _ in runs:
            res += [dict(x=pts[:k + 1, 0], y=pts[:k + 1, 1]), dict(x=pts[k:k + 1, 0], y=pts[k:k + 1, 1])]
        if right == "simplex":
            for i in with_pi:
                pi = runs[i][1]
                res += [dict(a=pi[:k + 1, 0], b=pi[:k + 1, 1], c=pi[:k + 1, 2]),
                        dict(a=pi[k:k + 1, 0], b=pi[k:k + 1, 1], c=pi[k:k + 1, 2])]
        elif right == "bars":
            res += [dict(y=runs[i][1][k]) for i in with_pi]
        return res

    layout.update({k: v for k, v in LAYOUT_DEFAULTS.items() if k not in ("margin", "legend")})
    layout.update(height=470, hovermode="closest",
                  legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.02))
    return _finish(out, layout, animated, state, title_at, step, animate=animate, K=K, max_frames=max_frames,
                   duration=duration)
