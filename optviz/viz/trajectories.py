r"""Trajectories on a 2-D landscape: the contour, one or many paths, the loss beside them.

::

    from optviz.problems.toys import Rosenbrock
    from optviz.optim.adaptive import Adam
    from optviz.optim.sgd import SGD
    from optviz.run import run
    from optviz.viz.trajectories import trajectory_figure

    f = Rosenbrock()
    traces = [run(f, SGD, f.start, 300, lr=1e-3, momentum=0.9), run(f, Adam, f.start, 300, lr=0.05)]
    trajectory_figure(f, traces)            # a race from a shared start, animated

What is drawn
-------------
* The **contour** of ``problem`` over ``problem.window`` with log-spaced levels
  (:func:`~optviz.viz._style.log_levels`): plotly only knows evenly spaced contour levels, so the
  field drawn is :math:`\lg(f - f_{\min})` with even levels, which are exactly the log-spaced levels
  of *f*. The grid of a problem is computed once and cached (:func:`contour_grid`). An
  *animated* figure draws the same levels as scatter lines (one trace per level, coloured from dark
  at the bottom to pale at the top) instead of a filled contour: plotly.js 4 hides contour and
  heatmap traces while frames play from the ▶ button or the step slider (checked in headless
  Chromium), and scatter traces untouched by the frames stay drawn.
* Known **minimisers** as ★.
* Each :class:`~optviz.run.Trace` in one colour (:func:`~optviz.viz._style.color_for`) with a legend
  entry :func:`~optviz.viz._style.describe` ``(trace.method, trace.hyper)``; a trace holding many
  runs (many starts) is drawn as many thin paths under one legend entry.
* A **diverging** run (``trace.diverged_at ≥ 0``) is drawn up to its last good point, and a red ✕
  labelled «расходится» is placed where the path *leaves the window* (on the window's edge; if it
  never left the window — a NaN inside — at its last good point), in the loss panel at that step.
* **Loss vs iteration** on a log axis beside the contour: :math:`f(x_k) - f^*` when the trace knows
  a finite :math:`f^*`, else :math:`f(x_k)` (log axis only if every value is positive). A gap that
  reaches exactly 0 is drawn at the smallest positive gap of the figure (a log axis cannot show 0).

Animation
---------
Plain plotly frames (▶ Пуск / ❚❚ Пауза + a step slider, :func:`~optviz.viz._plotly.animate`), so the
figure also animates in a static HTML page. Frame *k* holds, for every run, the exact iterates
:math:`x_0, \dots, x_k` (never thinned) and the current point :math:`x_k`; both panels move in step.
**Long runs are subsampled to at most** ``max_frames`` (100 by default) **frames**: the frame steps
are :func:`frame_steps` — evenly spaced, always including 0 and the last step. The figure's own data
(what a reader sees before pressing ▶) is the final state, the whole race; ▶ starts from step 0.

:func:`trajectory_figure_mpl` is the static matplotlib counterpart (print, PDFs).
Builders are pure: they draw the traces they are given and never run an optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .._cache import LRUCache
from ._plotly import LAYOUT_DEFAULTS, animation_controls
from ._style import (
    DIVERGED_TEXT,
    color_for,
    describe,
    fmt_num,
    log_levels,
    method_label,
)

__all__ = [
    "CONTOUR_POINTS",
    "MAX_FRAMES",
    "contour_grid",
    "contour_trace",
    "divergence_points",
    "frame_steps",
    "loss_curves",
    "make_figure",
    "trajectory_figure",
    "trajectory_figure_mpl",
    "two_panels",
]

#: at most this many animation frames (long runs are subsampled, see :func:`frame_steps`)
MAX_FRAMES = 100
#: contour grid resolution per axis (120² evaluations; plenty for smooth toys, fast to send)
CONTOUR_POINTS = 120
#: colourscale of the filled contour: pale for the valley floor, a light grey-blue for the walls
CONTOUR_COLORSCALE = [[0.0, "#f7fbff"], [0.5, "#c6dbef"], [1.0, "#8eaacb"]]
DIVERGED_COLOR = "#c00000"
#: trace keys an animation frame carries (the rest stays as in the figure's own traces)
_FRAME_KEYS = ("type", "x", "y", "text", "hovertext")
MINIMUM_COLOR = "#ffd700"


# ---------------------------------------------------------------------------------------------
# the landscape
# ---------------------------------------------------------------------------------------------


def _problem_key(problem, n: int):
    window = tuple(tuple(float(v) for v in w) for w in problem.window)
    return (type(problem), repr(problem), window, int(n))


_GRID_CACHE_SIZE = 16
_GRID_CACHE: LRUCache[tuple, tuple] = LRUCache(_GRID_CACHE_SIZE)


def contour_grid(problem, n: int = CONTOUR_POINTS):
    """``(xs, ys, Z)`` of ``problem`` on an ``n × n`` grid over its window (cached per problem).

    The cache key is the problem's class, ``repr`` (which carries its parameters, e.g. κ and the
    angle of a quadratic), window and ``n``: a fixed problem is evaluated once per session (the 16
    most recent grids are kept). Non-finite values become NaN. The arrays are shared: do not modify them.
    """
    _check_2d(problem)

    def compute():
        X, Y, Z = problem.grid(n)
        grid = (X[0].copy(), Y[:, 0].copy(), np.where(np.isfinite(Z), Z, np.nan))
        for a in grid:
            a.setflags(write=False)
        return grid

    return _GRID_CACHE.get_or_compute(_problem_key(problem, n), compute)


def _check_2d(problem):
    if getattr(problem, "dim", None) != 2 or getattr(problem, "window", None) is None:
        raise ValueError(
            "Траектории рисуются на двумерных задачах с окном window; у задачи "
            f"{getattr(problem, 'title', problem)!r} dim = {getattr(problem, 'dim', None)}."
        )


def _static_key(problem, n, levels) -> str:
    """A string naming this contour exactly: explorers skip re-sending a trace whose key is unchanged."""
    cls, rep, window, n = _problem_key(problem, n)
    return f"contour|{cls.__module__}.{cls.__qualname__}|{rep}|{window}|{n}|{levels}"


def _log_field(Z, n_levels):
    """``(W, start, end, shift)``: ``W = lg(Z − shift)`` and even levels in it = log-spaced levels of Z."""
    levels = log_levels(Z, n_levels)
    finite = Z[np.isfinite(Z)]
    lo = float(finite.min()) if finite.size else 0.0
    shift = 0.0 if lo > 0 else lo
    floor = float(levels[0] - shift)
    if floor <= 0:  # a constant field: log_levels fell back to linear levels
        floor = 1.0
    with np.errstate(all="ignore"):
        W = np.log10(np.maximum(Z - shift, floor))
    top = float(levels[-1] - shift)
    return W, math.log10(floor), math.log10(max(top, floor * 10)), shift


_CONTOUR_CACHE: LRUCache[str, dict] = LRUCache(_GRID_CACHE_SIZE)


def _contour_dict(problem, n: int = CONTOUR_POINTS, levels: int = 20) -> dict:
    """The contour trace as a plain dict (cached per problem; treat as read-only)."""
    key = _static_key(problem, n, levels)

    def compute():
        xs, ys, Z = contour_grid(problem, n)
        W, start, end, shift = _log_field(Z, levels)
        shift_txt = "f" if shift == 0 else "f − f_min"
        return dict(
            type="contour", x=xs, y=ys, z=W,
            contours=dict(start=start, end=end, size=(end - start) / max(levels - 1, 1), coloring="fill",
                          showlines=True),
            line=dict(width=0.6, color="rgba(40,60,90,0.45)"), colorscale=CONTOUR_COLORSCALE,
            showscale=False, name="линии уровня", showlegend=False,
            hovertemplate=f"x = %{{x:.3g}}, y = %{{y:.3g}}<br>lg({shift_txt}) = %{{z:.2f}}<extra></extra>",
            meta=dict(optviz_static=key),
        )

    return _CONTOUR_CACHE.get_or_compute(key, compute)


def contour_trace(problem, *, n: int = CONTOUR_POINTS, levels: int = 20, **kw) -> go.Contour:
    """The filled, log-levelled contour of ``problem`` over its window (no colour bar).

    ``meta['optviz_static']`` names the problem, grid and levels: live explorers use it to skip
    re-sending an unchanged contour.
    """
    d = dict(_contour_dict(problem, n, levels))
    d.pop("type")
    d.update(kw)
    return go.Contour(**d)


_LINES_CACHE: LRUCache[str, list] = LRUCache(_GRID_CACHE_SIZE)
#: colours of the level lines of animated figures, from the lowest level to the highest
LINE_COLORS = ("#08306b", "#6b8fb5", "#c6dbef")


def _level_line_dicts(problem, n: int = CONTOUR_POINTS, levels: int = 20) -> list:
    """The contour's level lines as scatter traces, one per level (cached per problem).

    Used by *animated* figures: plotly.js (4.x) hides contour and heatmap traces while frames play
    from the ▶ button and the step slider, while scatter traces that frames do not touch stay drawn.
    The levels are exactly those of :func:`contour_trace` (log-spaced in f).
    """
    import contourpy
    from plotly.colors import sample_colorscale

    key = _static_key(problem, n, levels)

    def compute():
        xs, ys, Z = contour_grid(problem, n)
        W, start, end, _ = _log_field(Z, levels)
        gen = contourpy.contour_generator(xs, ys, np.where(np.isfinite(W), W, np.nanmax(W)),
                                          line_type="ChunkCombinedNan")
        scale = [[0.0, LINE_COLORS[0]], [0.5, LINE_COLORS[1]], [1.0, LINE_COLORS[2]]]
        colors = sample_colorscale(scale, list(np.linspace(0, 1, levels)))
        lines = []
        for i, level in enumerate(np.linspace(start, end, levels)):
            # the lowest level is the grid's minimum value itself (a degenerate line): kept empty
            pts = gen.lines(float(level))[0][0] if i > 0 else None
            pts = np.zeros((0, 2)) if pts is None else pts
            lines.append(dict(type="scatter", x=pts[:, 0], y=pts[:, 1], mode="lines", showlegend=False,
                              line=dict(color=colors[i], width=1), hoverinfo="skip", name="линии уровня",
                              meta=dict(optviz_static=f"{key}|line{i}")))
        return lines

    return _LINES_CACHE.get_or_compute(key, compute)


def _minimizers_dict(problem, showlegend=True, **kw) -> dict:
    m = np.asarray(getattr(problem, "minimizers", np.zeros((0, 2))), dtype=float).reshape(-1, 2)
    d = dict(type="scatter", x=m[:, 0], y=m[:, 1], mode="markers", name="минимум ★",
             marker=dict(symbol="star", size=16, color=MINIMUM_COLOR, line=dict(width=1, color="black")),
             hovertemplate="минимум (%{x:.4g}, %{y:.4g})<extra></extra>", showlegend=showlegend and len(m) > 0)
    d.update(kw)
    return d


def two_panels(widths=(0.56, 0.44), spacing: float = 0.09):
    """x-axis domains of two side-by-side panels (what ``make_subplots(1, 2)`` computes)."""
    free = 1.0 - spacing
    w0 = free * widths[0] / (widths[0] + widths[1])
    return [0.0, w0], [w0 + spacing, 1.0]


def make_figure(data, layout, frames=None, *, validate: bool = True) -> go.Figure:
    """``go.Figure`` from plain dicts. ``validate=False`` skips plotly's validation (≈ 10× faster for
    the live explorers, whose FigureWidget validates what it receives); the course template is then
    left as its name, so such a figure is meant for :class:`~optviz.widgets._base.Explorer` only."""
    spec = dict(data=data, layout=layout)
    if frames is not None:
        spec["frames"] = frames
    if not validate:
        try:
            return go.Figure(spec, _validate=False)
        except TypeError:  # a plotly without the private switch: validate
            pass
    return go.Figure(spec)


# ---------------------------------------------------------------------------------------------
# per-run bookkeeping
# ---------------------------------------------------------------------------------------------


def frame_steps(steps: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Steps shown as animation frames: all of ``0..steps`` if they fit in ``max_frames``, else
    ``max_frames`` evenly spaced steps (rounded, unique), always including 0 and ``steps``."""
    if max_frames < 2:
        raise ValueError(f"Параметр max_frames должен быть не меньше 2, получено {max_frames}.")
    if steps + 1 <= max_frames:
        return np.arange(steps + 1)
    return np.unique(np.round(np.linspace(0, steps, max_frames)).astype(int))


def _in_window(p, window):
    (x0, x1), (y0, y1) = window
    return (p[..., 0] >= x0) & (p[..., 0] <= x1) & (p[..., 1] >= y0) & (p[..., 1] <= y1)


def _to_edge(inside, outside, window):
    """Point where the segment from ``inside`` to ``outside`` crosses the window's edge."""
    lo = np.array([window[0][0], window[1][0]], dtype=float)
    hi = np.array([window[0][1], window[1][1]], dtype=float)
    d = outside - inside
    t = 1.0
    for a in range(2):
        if not np.isfinite(outside[a]):
            return np.clip(inside, lo, hi)
        if d[a] > 0 and outside[a] > hi[a]:
            t = min(t, (hi[a] - inside[a]) / d[a])
        elif d[a] < 0 and outside[a] < lo[a]:
            t = min(t, (lo[a] - inside[a]) / d[a])
    return np.clip(inside + max(t, 0.0) * d, lo, hi)


def divergence_points(trace, window):
    """For every diverged run of ``trace``: ``(run, step, point)`` where it is labelled «расходится».

    ``step`` is the first step whose iterate is outside ``window`` (at most ``diverged_at``) and
    ``point`` is where the path crosses the window's edge; a run that diverged without leaving
    the window (a non-finite value inside) is labelled at its last good point and step.
    """
    out = []
    pts = trace.points
    for i in np.flatnonzero(trace.diverged_at >= 0):
        d = int(trace.diverged_at[i])
        last = max(d - 1, 0)
        path = pts[: last + 1, i]
        outside = ~_in_window(path, window)
        if outside.any():
            k = int(np.argmax(outside))
            point = np.clip(path[0], [window[0][0], window[1][0]], [window[0][1], window[1][1]]) if k == 0 \
                else _to_edge(path[k - 1], path[k], window)
        else:  # left the box or went non-finite at step d: the next iterate is not drawable
            k = d if d > 0 else 0
            point = path[-1]
        out.append((int(i), k, np.asarray(point, dtype=float)))
    return out


def _last_good(trace) -> np.ndarray:
    """Index of the last drawable iterate of every run (``diverged_at − 1`` for diverged runs)."""
    d = trace.diverged_at
    return np.where(d >= 0, np.maximum(d - 1, 0), trace.steps).astype(int)


def _gap(trace, f_star=None):
    """What the loss panel plots, ``(K+1, N)``, and its axis label."""
    fs = trace.f_star if f_star is None else f_star
    if fs is not None and math.isfinite(fs):
        return trace.loss - fs, "f(x_k) − f*"
    return np.array(trace.loss, dtype=float), "f(x_k)"


def _joined(segments):
    """Concatenate ``(len_i, …)`` arrays with a NaN row between them (plotly draws gaps)."""
    if not segments:
        return np.zeros(0)
    parts = []
    for s in segments:
        parts.append(np.asarray(s, dtype=float))
        parts.append(np.full((1,) + parts[-1].shape[1:], np.nan))
    return np.concatenate(parts[:-1])


class _Prepared:
    """Everything the traces of one figure need, computed once (then sliced per frame)."""

    def __init__(self, problem, traces, labels, colors, f_star, window):
        self.traces = list(traces)
        self.window = window
        self.labels = [labels[j] if labels is not None and labels[j] is not None
                       else describe(t.method, t.hyper) for j, t in enumerate(self.traces)]
        self.colors = [colors[j] if colors is not None and colors[j] is not None else color_for(t.method, j)
                       for j, t in enumerate(self.traces)]
        self.last = [_last_good(t) for t in self.traces]
        self.div = [divergence_points(t, window) if window is not None else
                    [(int(i), int(max(t.diverged_at[i] - 1, 0)), t.points[max(t.diverged_at[i] - 1, 0), i])
                     for i in np.flatnonzero(t.diverged_at >= 0)] for t in self.traces]
        gaps = [_gap(t, f_star) for t in self.traces]
        self.gap_label = gaps[0][1] if gaps else "f(x_k)"
        vals = [g[0] for g in gaps]
        good = np.concatenate([v[: int(l.max()) + 1].ravel() for v, l in zip(vals, self.last)]) if vals else np.zeros(0)
        good = good[np.isfinite(good)]
        self.log = bool(good.size) and (self.gap_label.endswith("f*") or bool((good > 0).all()))
        pos = good[good > 0]
        self.floor = float(pos.min()) if pos.size else 1e-16
        self.gaps = [np.where(np.isfinite(v) & (v <= 0), self.floor, v) if self.log else v for v in vals]
        self.steps = max((t.steps for t in self.traces), default=0)
        # a fixed y range for the loss panel (so the animation does not rescale)
        if good.size:
            start_vals = np.concatenate([g[0] for g in self.gaps])
            start_vals = start_vals[np.isfinite(start_vals)]
            if self.log:
                lo = math.log10(max(self.floor, float(pos.min()) if pos.size else self.floor))
                hi = math.log10(float(np.nanmax(np.where(good > 0, good, np.nan))) if pos.size else 1.0)
                cap = math.log10(float(start_vals.max())) + 4 if start_vals.size and start_vals.max() > 0 else hi
                hi = min(hi, cap)
                pad = 0.05 * max(hi - lo, 1.0)
                self.y_range = [lo - pad, hi + pad]
            else:
                lo, hi = float(good.min()), float(good.max())
                if start_vals.size:
                    hi = min(hi, float(start_vals.max()) + 10 * (abs(float(start_vals.max())) + 1))
                pad = 0.05 * max(hi - lo, 1e-12)
                self.y_range = [lo - pad, hi + pad]
        else:
            self.y_range = None
        self.y_cap = (10 ** self.y_range[1] if self.log else self.y_range[1]) if self.y_range else np.inf

    # -- the state at step s --------------------------------------------------------------------
    def path(self, j, s):
        t, last = self.traces[j], self.last[j]
        segs = [t.points[: min(s, last[i]) + 1, i] for i in range(t.n_runs)]
        xy = _joined(segs)
        return (xy[:, 0], xy[:, 1]) if xy.size else (np.zeros(0), np.zeros(0))

    def head(self, j, s):
        t, last = self.traces[j], self.last[j]
        alive = [i for i in range(t.n_runs) if not (t.diverged_at[i] >= 0 and s >= max(t.diverged_at[i], 1))]
        p = np.array([t.points[min(s, last[i]), i] for i in alive], dtype=float).reshape(-1, 2)
        return p[:, 0], p[:, 1]

    def loss(self, j, s):
        t, last = self.traces[j], self.last[j]
        segs_x = [np.arange(min(s, last[i]) + 1) for i in range(t.n_runs)]
        segs_y = [self.gaps[j][: min(s, last[i]) + 1, i] for i in range(t.n_runs)]
        return _joined(segs_x), _joined(segs_y)

    def loss_head(self, j, s):
        t, last = self.traces[j], self.last[j]
        alive = [i for i in range(t.n_runs) if not (t.diverged_at[i] >= 0 and s >= max(t.diverged_at[i], 1))]
        k = np.array([min(s, last[i]) for i in alive], dtype=int)
        return k.astype(float), np.array([self.gaps[j][kk, i] for kk, i in zip(k, alive)], dtype=float)

    def diverged(self, s):
        """Markers «расходится» visible at step s: contour panel (x, y, hover) and loss panel (x, y)."""
        px, py, lx, ly, hover = [], [], [], [], []
        for j, t in enumerate(self.traces):
            for i, k, point in self.div[j]:
                if s < k:
                    continue
                px.append(point[0])
                py.append(point[1])
                kk = min(k, int(self.last[j][i]))
                lx.append(float(k))
                g = self.gaps[j][kk, i]
                ly.append(float(min(g, self.y_cap)) if np.isfinite(g) else self.y_cap)
                hover.append(f"{self.labels[j]}: {DIVERGED_TEXT} (шаг {k})")
        return np.array(px), np.array(py), np.array(lx), np.array(ly), hover

    @property
    def any_diverged(self):
        return any(self.div)


def _title(problem, prep: _Prepared, step=None) -> str:
    names = []
    for t in prep.traces:
        lab = method_label(t.method)
        if lab not in names:
            names.append(lab)
    title = f"{getattr(problem, 'title', 'задача')}: {', '.join(names) if names else 'нет методов'}"
    steps = prep.steps
    starts = [t.points[0] for t in prep.traces]
    n_runs = sum(t.n_runs for t in prep.traces)
    parts = [f"{steps} шагов" if step is None or step >= steps else f"шаг {step} из {steps}"]
    if starts and all(s.shape[0] == 1 for s in starts) and all(np.allclose(s, starts[0]) for s in starts):
        x0 = starts[0][0]
        parts.append(f"старт ({fmt_num(x0[0])}, {fmt_num(x0[1])})")
    elif n_runs > 1:
        parts.append(f"{n_runs} запусков")
    bad = [method_label(t.method) for t in prep.traces if (t.diverged_at >= 0).any()]
    if bad:
        parts.append(f"{DIVERGED_TEXT}: {', '.join(dict.fromkeys(bad))}")
    return f"{title}<br><sup>{' · '.join(parts)}</sup>"


# ---------------------------------------------------------------------------------------------
# plotly: trajectories + loss
# ---------------------------------------------------------------------------------------------


def _dynamic_traces(prep: _Prepared, s: int, loss_panel: bool, line_width: float):
    """Traces that change with the step, in a fixed order (frames replace exactly these)."""
    out = []
    for j, t in enumerate(prep.traces):
        many = t.n_runs > 1
        x, y = prep.path(j, s)
        out.append(dict(type="scatter", x=x, y=y, mode="lines", name=prep.labels[j], legendgroup=f"m{j}",
                        line=dict(color=prep.colors[j], width=line_width * (0.6 if many else 1.0)),
                        opacity=0.75 if many else 1.0, showlegend=True,
                        hovertemplate=f"{prep.labels[j]}<br>(%{{x:.4g}}, %{{y:.4g}})<extra></extra>",
                        xaxis="x", yaxis="y"))
        hx, hy = prep.head(j, s)
        out.append(dict(type="scatter", x=hx, y=hy, mode="markers", name=prep.labels[j], legendgroup=f"m{j}",
                        showlegend=False, marker=dict(color=prep.colors[j], size=9 if not many else 6,
                                                      line=dict(width=1, color="white")),
                        hovertemplate=f"{prep.labels[j]}<br>текущая точка (%{{x:.4g}}, %{{y:.4g}})<extra></extra>",
                        xaxis="x", yaxis="y"))
    if loss_panel:
        for j, t in enumerate(prep.traces):
            many = t.n_runs > 1
            x, y = prep.loss(j, s)
            out.append(dict(type="scatter", x=x, y=y, mode="lines", name=prep.labels[j], legendgroup=f"m{j}",
                            showlegend=False, line=dict(color=prep.colors[j], width=1.2 if many else 2),
                            opacity=0.75 if many else 1.0,
                            hovertemplate=f"{prep.labels[j]}<br>шаг %{{x}}: %{{y:.3e}}<extra></extra>",
                            xaxis="x2", yaxis="y2"))
            hx, hy = prep.loss_head(j, s)
            out.append(dict(type="scatter", x=hx, y=hy, mode="markers", name=prep.labels[j], legendgroup=f"m{j}",
                            showlegend=False, marker=dict(color=prep.colors[j], size=7),
                            hoverinfo="skip", xaxis="x2", yaxis="y2"))
    px, py, lx, ly, hover = prep.diverged(s)
    marker = dict(symbol="x", size=13, color=DIVERGED_COLOR, line=dict(width=1, color="white"))
    text_style = dict(color=DIVERGED_COLOR, size=13)
    out.append(dict(type="scatter", x=px, y=py, mode="markers+text", text=[DIVERGED_TEXT] * len(px),
                    textposition="top center", textfont=text_style, marker=marker, name=DIVERGED_TEXT,
                    showlegend=prep.any_diverged, hovertext=hover, hoverinfo="text", legendgroup="diverged",
                    cliponaxis=False, xaxis="x", yaxis="y"))
    if loss_panel:
        out.append(dict(type="scatter", x=lx, y=ly, mode="markers+text", text=[DIVERGED_TEXT] * len(lx),
                        textposition="bottom left", textfont=text_style, marker=marker, name=DIVERGED_TEXT,
                        showlegend=False, hovertext=hover, hoverinfo="text", legendgroup="diverged",
                        cliponaxis=False, xaxis="x2", yaxis="y2"))
    return out


def _check_traces(traces):
    if not isinstance(traces, (list, tuple)):
        traces = [traces]
    for t in traces:
        if getattr(t, "points", None) is None or np.ndim(t.points) != 3 or t.points.shape[2] != 2:
            raise ValueError("Нужны траектории optviz.run.Trace двумерной задачи (points формы (K+1, N, 2)).")
    return list(traces)


def _seq(v, n, name):
    if v is None:
        return None
    v = list(v)
    if len(v) != n:
        raise ValueError(f"Параметр {name}: нужно {n} значений (по одному на траекторию), получено {len(v)}.")
    return v


def trajectory_figure(problem, traces, *, animate: bool = True, loss_panel: bool = True, step: int | None = None,
                      labels: Sequence[str] | None = None, colors: Sequence[str] | None = None,
                      f_star: float | None = None, max_frames: int = MAX_FRAMES, duration: int = 60,
                      contour_points: int = CONTOUR_POINTS, levels: int = 20, title: str | None = None,
                      height: int = 520, line_width: float = 2.0, validate: bool = True) -> go.Figure:
    """Contour of ``problem`` with the paths of ``traces`` (and the loss beside them), animated.

    Parameters
    ----------
    problem
        A 2-D problem (``dim == 2`` with a ``window``).
    traces
        One :class:`~optviz.run.Trace` or a list (a race: one colour and legend entry per trace);
        a trace may hold many runs (many starts of one method).
    animate
        Attach plotly frames with ▶/❚❚ and a step slider (at most ``max_frames`` frames, see
        :func:`frame_steps`); ``duration`` is the time per frame, ms.
    loss_panel
        Add loss vs iteration beside the contour (log scale, f − f* when f* is known).
    step
        Draw the state at this step (paths up to it, current points at it) instead of the final state;
        used by the live explorers' step slider (clamped to ``0..K``).
    labels, colors
        Per-trace overrides of the legend text and colour (``None`` entries keep the default).
    f_star
        Overrides each trace's ``f_star`` for the loss panel.
    contour_points, levels
        Contour grid resolution and number of log-spaced levels.
    title
        Overrides the computed title (default: problem title, methods, steps, start, who diverges).
    validate
        ``False`` skips plotly's validation of a non-animated figure (live explorers only, see
        :func:`make_figure`).
    """
    _check_2d(problem)
    traces = _check_traces(traces)
    labels, colors = _seq(labels, len(traces), "labels"), _seq(colors, len(traces), "colors")
    window = problem.window
    prep = _Prepared(problem, traces, labels, colors, f_star, window)
    K = prep.steps
    s_final = K if step is None else int(min(max(step, 0), K))

    if animate:   # level lines as scatter traces: they stay drawn while frames play (see _level_line_dicts)
        data = [dict(d) for d in _level_line_dicts(problem, contour_points, levels)]
    else:         # the filled contour (also the click target of the live explorers)
        data = [dict(_contour_dict(problem, contour_points, levels))]
    data.append(_minimizers_dict(problem))
    n_static = len(data)
    data += _dynamic_traces(prep, s_final, loss_panel, line_width)

    (x_lo, x_hi), (y_lo, y_hi) = window
    d1, d2 = two_panels() if loss_panel else ([0.0, 1.0], None)
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(
        title=dict(text=title if title is not None else _title(problem, prep, None if step is None else s_final),
                   x=0.01, xanchor="left", y=0.97, yanchor="top", yref="container"),
        height=height, hovermode="closest", margin=dict(l=55, r=20, t=110, b=110 if animate else 55),
        legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0),
        xaxis=dict(domain=d1, anchor="y", range=[x_lo, x_hi], title=dict(text="x"), constrain="domain",
                   showgrid=False, zeroline=False),
        yaxis=dict(domain=[0.0, 1.0], anchor="x", range=[y_lo, y_hi], title=dict(text="y"), scaleanchor="x",
                   scaleratio=1, constrain="domain", showgrid=False, zeroline=False),
    )
    if loss_panel:
        layout.update(
            xaxis2=dict(domain=d2, anchor="y2", range=[0, max(K, 1)], title=dict(text="итерация k")),
            yaxis2=dict(domain=[0.0, 1.0], anchor="x2", type="log" if prep.log else "linear",
                        title=dict(text=prep.gap_label), range=prep.y_range, exponentformat="power"),
        )
    frames = None
    if animate:
        steps = frame_steps(K, max_frames)
        dyn_idx = list(range(n_static, len(data)))
        # frames carry only what moves (x, y, texts): plotly.js merges them into the traces, and
        # building 100 frames of plain dicts is ~3× cheaper than full trace objects
        frames = [dict(name=str(int(s)), traces=dyn_idx,
                       data=[{k: v for k, v in tr.items() if k in _FRAME_KEYS}
                             for tr in _dynamic_traces(prep, int(s), loss_panel, line_width)])
                  for s in steps]
        controls = animation_controls([f["name"] for f in frames], duration=duration)
        # the figure shows the finished race: the slider starts at its end; ▶ plays from step 0
        controls["sliders"][0]["active"] = len(frames) - 1
        layout.update(controls)
    return make_figure(data, layout, frames, validate=validate or animate)


def loss_curves(traces, *, labels: Sequence[str] | None = None, colors: Sequence[str] | None = None,
                f_star: float | None = None, title: str | None = None, height: int = 380) -> go.Figure:
    """Loss vs iteration alone (log scale; f − f* when f* is known), one colour per trace.

    A diverging run ends at its last good step with a «расходится» marker.
    """
    traces = _check_traces(traces)
    labels, colors = _seq(labels, len(traces), "labels"), _seq(colors, len(traces), "colors")
    prep = _Prepared(None, traces, labels, colors, f_star, None)
    fig = go.Figure()
    marker = dict(symbol="x", size=12, color=DIVERGED_COLOR)
    K = prep.steps
    for j, t in enumerate(traces):
        x, y = prep.loss(j, K)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=prep.labels[j], line=dict(color=prep.colors[j], width=2),
                                 hovertemplate=f"{prep.labels[j]}<br>шаг %{{x}}: %{{y:.3e}}<extra></extra>"))
    _, _, lx, ly, hover = prep.diverged(K)
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="markers+text", text=[DIVERGED_TEXT] * len(lx),
                             textposition="bottom left", textfont=dict(color=DIVERGED_COLOR), marker=marker,
                             name=DIVERGED_TEXT, showlegend=prep.any_diverged, hovertext=hover, hoverinfo="text",
                             cliponaxis=False))
    names = list(dict.fromkeys(method_label(t.method) for t in traces))
    fig.update_layout(**LAYOUT_DEFAULTS)
    fig.update_layout(
        title=title if title is not None else f"Убывание {prep.gap_label} по итерациям: {', '.join(names)}",
        height=height, xaxis=dict(title="итерация k", range=[0, max(K, 1)]),
        yaxis=dict(type="log" if prep.log else "linear", title=prep.gap_label, range=prep.y_range,
                   exponentformat="power"),
        margin=dict(l=60, r=20, t=90, b=50),
    )
    return fig


# ---------------------------------------------------------------------------------------------
# matplotlib: the static counterpart
# ---------------------------------------------------------------------------------------------


def trajectory_figure_mpl(problem, traces, *, loss_panel: bool = True, labels: Sequence[str] | None = None,
                          colors: Sequence[str] | None = None, f_star: float | None = None,
                          contour_points: int = 200, levels: int = 20, title: str | None = None,
                          figsize=None):
    """Static matplotlib version of :func:`trajectory_figure` (the final state; for print).

    Returns a ``matplotlib.figure.Figure`` (created without pyplot, so nothing accumulates in
    pyplot's global state; Jupyter displays it as an image).
    """
    from matplotlib.colors import LinearSegmentedColormap, LogNorm
    from matplotlib.figure import Figure

    _check_2d(problem)
    traces = _check_traces(traces)
    labels, colors = _seq(labels, len(traces), "labels"), _seq(colors, len(traces), "colors")
    prep = _Prepared(problem, traces, labels, colors, f_star, problem.window)
    K = prep.steps
    fig = Figure(figsize=figsize or ((12, 5.2) if loss_panel else (6.5, 5.8)), layout="constrained")
    axes = fig.subplots(1, 2, width_ratios=[1.15, 1]) if loss_panel else [fig.subplots()]
    ax = axes[0]

    xs, ys, Z = contour_grid(problem, contour_points)
    lev = log_levels(Z, levels)
    finite = Z[np.isfinite(Z)]
    shift = 0.0 if finite.size == 0 or finite.min() > 0 else float(finite.min())
    cmap = LinearSegmentedColormap.from_list("optviz", [c for _, c in CONTOUR_COLORSCALE])
    Zs = np.maximum(Z - shift, lev[0] - shift)
    norm = LogNorm(vmin=lev[0] - shift, vmax=lev[-1] - shift)
    ax.contourf(xs, ys, Zs, levels=lev - shift, norm=norm, cmap=cmap, extend="both")
    ax.contour(xs, ys, Zs, levels=lev - shift, norm=norm, colors="#28405a", linewidths=0.5, alpha=0.5)
    m = np.asarray(getattr(problem, "minimizers", np.zeros((0, 2))), dtype=float).reshape(-1, 2)
    if len(m):
        ax.plot(m[:, 0], m[:, 1], "*", ms=16, color=MINIMUM_COLOR, mec="black", label="минимум ★", zorder=5)
    for j, t in enumerate(traces):
        x, y = prep.path(j, K)
        many = t.n_runs > 1
        ax.plot(x, y, "-", color=prep.colors[j], lw=1.0 if many else 1.8, alpha=0.75 if many else 1.0,
                label=prep.labels[j], zorder=3)
        hx, hy = prep.head(j, K)
        ax.plot(hx, hy, "o", color=prep.colors[j], ms=5 if many else 7, mec="white", zorder=4)
    px, py, lx, ly, _ = prep.diverged(K)
    for a, b in zip(px, py):
        ax.plot([a], [b], "x", color=DIVERGED_COLOR, ms=11, mew=2.5, zorder=6)
        ax.annotate(DIVERGED_TEXT, (a, b), textcoords="offset points", xytext=(4, 6), color=DIVERGED_COLOR,
                    fontsize=11, zorder=6, annotation_clip=False)
    (x_lo, x_hi), (y_lo, y_hi) = problem.window
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    if loss_panel:
        ax2 = axes[1]
        for j, t in enumerate(traces):
            x, y = prep.loss(j, K)
            ax2.plot(x, y, "-", color=prep.colors[j], lw=1.0 if t.n_runs > 1 else 1.8, label=prep.labels[j])
        for a, b in zip(lx, ly):
            ax2.plot([a], [b], "x", color=DIVERGED_COLOR, ms=10, mew=2.5)
            ax2.annotate(DIVERGED_TEXT, (a, b), textcoords="offset points", xytext=(4, -12), color=DIVERGED_COLOR,
                         fontsize=10, annotation_clip=False)
        if prep.log:
            ax2.set_yscale("log")
        if prep.y_range is not None:
            lo, hi = prep.y_range
            ax2.set_ylim((10**lo, 10**hi) if prep.log else (lo, hi))
        ax2.set_xlim(0, max(K, 1))
        ax2.set_xlabel("итерация k")
        ax2.set_ylabel(prep.gap_label)
        ax2.grid(True, which="major", alpha=0.3)
    text = title if title is not None else _title(problem, prep).replace("<br><sup>", "\n").replace("</sup>", "")
    fig.suptitle(text, fontsize=12)
    return fig
