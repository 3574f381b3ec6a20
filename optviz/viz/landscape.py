r"""Loss-landscape figures: 1-D slices, 2-D planes (contour and 3-D surface) with the training path.

The builders draw the results of :mod:`optviz.landscape` as they are (they never evaluate a model):

* :func:`line_figure` — one or several 1-D curves: :class:`~optviz.landscape.LineResult`
  (:math:`L(w_0 + \alpha d)`) and :class:`~optviz.landscape.InterpolationResult`
  (:math:`L((1-t) w_A + t w_B)`), optionally on a log scale;
* :func:`plane_figure` — a :class:`~optviz.landscape.PlaneResult` as a contour map or a
  ``go.Surface``, with a training trajectory projected on the plane (the PCA path of a
  :class:`~optviz.landscape.PCAResult`, or any ``(T, 2)`` coordinates) drawn on the contour or
  lifted onto the surface;
* :func:`line_figure_mpl`, :func:`plane_figure_mpl` — the same pictures with matplotlib, for print.

Captions are computed from the results: how the directions were made (random with which
normalisation, or PCA with the explained variance of each component), which parameters were
ignored (biases and normalisation layers by default), and on how many samples the loss was taken.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ._plotly import LAYOUT_DEFAULTS
from ._style import PALETTE, fmt_num

__all__ = ["line_figure", "plane_figure", "line_figure_mpl", "plane_figure_mpl", "plane_caption", "line_caption",
           "trajectory_heights"]

_NORM_RU = {
    "filter": "по фильтрам (filter)",
    "layer": "по слоям (layer)",
    "model": "по всей модели (model)",
    "none": "без нормировки (none)",
}


# -------------------------------------------------------------------------------------- helpers
def _is_line(r) -> bool:
    return hasattr(r, "alphas") and hasattr(r, "direction")


def _is_interp(r) -> bool:
    return hasattr(r, "ts") and hasattr(r, "distance")


def _as_results(results) -> list:
    items = list(results) if isinstance(results, (list, tuple)) else [results]
    if not items:
        raise ValueError("Нужен хотя бы один результат (LineResult или InterpolationResult).")
    for r in items:
        if not (_is_line(r) or _is_interp(r)):
            raise ValueError(
                f"line_figure рисует LineResult и InterpolationResult, получено {type(r).__name__}."
            )
    return items


def _direction_text(d) -> str:
    if d.kind == "pca":
        return f"PC{(d.index or 0) + 1}"
    if d.kind == "gaussian":
        return f"случайное №{(d.index or 0) + 1} (seed = {d.seed})"
    return d.kind


def _default_label(r) -> str:
    if _is_interp(r):
        return "интерполяция A → B"
    return f"направление {_direction_text(r.direction)}"


def _ignored_text(ignored: Sequence[str]) -> str:
    ignored = list(ignored)
    if not ignored:
        return "учитываются все параметры (смещения и BN тоже)"
    shown = ", ".join(ignored[:6]) + (f" и ещё {len(ignored) - 6}" if len(ignored) > 6 else "")
    return f"не учитываются (смещения и BN): {shown}"


def _samples_text(info) -> str:
    if info.subset is not None:
        return f"потери на подвыборке из {info.n_samples} примеров"
    return f"потери на всех {info.n_samples} примерах"


def _ratio_text(ratio) -> str:
    ratio = np.asarray(ratio, dtype=float).reshape(-1)
    parts = [f"PC{k + 1} = {100 * r:.1f} %" for k, r in enumerate(ratio[:2])]
    text = "объяснённая доля траектории: " + ", ".join(parts)
    if ratio.size >= 2:
        text += f" (вместе {100 * ratio[:2].sum():.1f} %)"
    return text


def _trajectory(result, trajectory):
    """``(coords (T, 2) or None, explained-variance ratio or None)``."""
    ratio = getattr(result, "explained_variance_ratio", None)
    if trajectory is None:
        coords = getattr(result, "path", None)
    elif hasattr(trajectory, "coords") and hasattr(trajectory, "explained_variance_ratio"):
        coords, ratio = trajectory.coords, trajectory.explained_variance_ratio
        if np.asarray(coords).shape[1] < 2:
            raise ValueError("Для плоскости нужны две главные компоненты: pca_directions(..., n_components=2).")
        _check_same_plane(result, trajectory)
    else:
        coords = trajectory
    if coords is None:
        return None, ratio
    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] < 2 or coords.shape[0] < 1:
        raise ValueError(f"Траектория должна иметь форму (T, 2), получена {coords.shape}.")
    return coords[:, :2], ratio


def _check_same_plane(result, pca) -> None:
    """PCA coordinates are coordinates on the PCA plane: refuse to draw them on another plane."""
    dirs = getattr(result, "directions", None)
    if dirs is None:
        return
    same = all(d is p for d, p in zip(dirs, pca.directions[:2]))
    if not same and all(d.kind == "pca" for d in dirs):
        try:
            same = all(abs(d.cosine(p)) > 0.999 for d, p in zip(dirs, pca.directions[:2]))
        except Exception:  # noqa: BLE001 - different parameter sets: not the same plane
            same = False
    if not same:
        raise ValueError(
            "Координаты траектории из PCAResult заданы в плоскости главных компонент, а эта плоскость "
            f"построена по другим направлениям ({dirs[0].kind}). Постройте плоскость по самому PCA-результату "
            "(loss_plane(model, data, pca)) или передайте координаты (T, 2) проекции на эту плоскость."
        )


def line_caption(results, labels: Sequence[str] | None = None) -> str:
    """The caption of :func:`line_figure`: directions, normalisation, ignored parameters, samples.

    With several interpolations each distance ‖w_B − w_A‖ is prefixed by its curve's label.
    """
    items = _as_results(results)
    parts = []
    norms = sorted({r.direction.normalization for r in items if _is_line(r) and r.direction.kind == "gaussian"})
    if norms:
        parts.append("нормировка направлений: " + ", ".join(_NORM_RU.get(n, n) for n in norms))
    lines = [r for r in items if _is_line(r)]
    if lines:
        ignored = sorted({n for r in lines for n in r.ignored})
        parts.append(_ignored_text(ignored))
    n_interp = sum(_is_interp(r) for r in items)
    for k, r in enumerate(items):
        if _is_interp(r):
            name = labels[k] if labels is not None and k < len(labels) else _default_label(r)
            prefix = f"{name}: " if n_interp > 1 else ""
            parts.append(f"{prefix}‖w<sub>B</sub> − w<sub>A</sub>‖ = {fmt_num(r.distance)}")
    parts.append(_samples_text(items[0].info))
    return " · ".join(parts)


def plane_caption(result, trajectory=None) -> str:
    """The caption of :func:`plane_figure` (explained variance of the PCA directions when known)."""
    _, ratio = _trajectory(result, trajectory)
    d1, d2 = result.directions
    parts = []
    if d1.kind == "pca":
        parts.append("направления: главные компоненты (PCA) траектории обучения")
    else:
        parts.append(f"направления: {_direction_text(d1)} и {_direction_text(d2)}, "
                     f"нормировка {_NORM_RU.get(d1.normalization, d1.normalization)}")
    if ratio is not None:
        parts.append(_ratio_text(ratio))
    parts.append(_ignored_text(result.ignored))
    parts.append(f"сетка {result.alphas.size}×{result.betas.size}, {_samples_text(result.info)}")
    return " · ".join(parts)


def trajectory_heights(result, coords: np.ndarray, *, log_z: bool = False) -> np.ndarray:
    """Loss at ``coords`` read off the grid by bilinear interpolation (coordinates clipped to the grid).

    An approximation of the loss along the projected path: the surface is only known at the grid.
    """
    a, b = np.asarray(result.alphas, float), np.asarray(result.betas, float)
    z = np.asarray(result.loss, float)
    if log_z:
        with np.errstate(all="ignore"):
            z = np.log10(z)
    x = np.clip(coords[:, 0], a[0], a[-1])
    y = np.clip(coords[:, 1], b[0], b[-1])
    i = np.clip(np.searchsorted(a, x) - 1, 0, max(a.size - 2, 0))
    j = np.clip(np.searchsorted(b, y) - 1, 0, max(b.size - 2, 0))
    if a.size == 1 or b.size == 1:
        return z[np.minimum(j, b.size - 1), np.minimum(i, a.size - 1)]
    tx = (x - a[i]) / (a[i + 1] - a[i])
    ty = (y - b[j]) / (b[j + 1] - b[j])
    return ((1 - tx) * (1 - ty) * z[j, i] + tx * (1 - ty) * z[j, i + 1]
            + (1 - tx) * ty * z[j + 1, i] + tx * ty * z[j + 1, i + 1])


def _layout(title: str, caption: str, **kw) -> dict:
    layout = dict(LAYOUT_DEFAULTS)
    layout.update(title=dict(text=f"{title}<br><sup>{caption}</sup>", x=0.0, xanchor="left"),
                  margin=dict(l=60, r=30, t=110, b=50))
    layout.update(kw)
    return layout


# ------------------------------------------------------------------------------------ 1-D lines
def line_figure(results, *, labels: Sequence[str] | None = None, log_y: bool = False, accuracy: bool = False,
                title: str | None = None) -> go.Figure:
    r"""1-D slices of the loss: directions :math:`L(w_0+\alpha d)` and interpolations :math:`L((1-t)w_A+t w_B)`.

    Parameters
    ----------
    results : LineResult, InterpolationResult or a list of them
        Several curves share the axes (e.g. two random directions, or the line around the start
        and around the end of training).
    labels : sequence of str, optional
        Legend labels (default: the direction, or «интерполяция A → B»).
    log_y : bool
        Logarithmic loss axis (ignored, with a note in the caption, when a loss is not positive).
    accuracy : bool
        Also draw the accuracy (dashed, right axis) of the results that have it.
    """
    items = _as_results(results)
    labels = [_default_label(r) for r in items] if labels is None else [str(x) for x in labels]
    if len(labels) != len(items):
        raise ValueError(f"Параметр labels должен содержать {len(items)} подписей, получено {len(labels)}.")
    losses = np.concatenate([np.asarray(r.loss, float).reshape(-1) for r in items])
    finite = losses[np.isfinite(losses)]
    log_ok = finite.size > 0 and bool((finite > 0).all())
    use_log = bool(log_y) and log_ok
    data = []
    for k, (r, lab) in enumerate(zip(items, labels)):
        x = np.asarray(r.ts if _is_interp(r) else r.alphas, float)
        color = PALETTE[k % len(PALETTE)]
        data.append(dict(type="scatter", x=x, y=np.asarray(r.loss, float), mode="lines", name=lab,
                         line=dict(color=color, width=2.5), legendgroup=f"r{k}",
                         hovertemplate=f"{lab}<br>%{{x:.3f}}: L = %{{y:.4g}}<extra></extra>"))
        if accuracy and r.accuracy is not None:
            data.append(dict(type="scatter", x=x, y=np.asarray(r.accuracy, float), mode="lines", yaxis="y2",
                             name=f"{lab}: точность", line=dict(color=color, width=1.5, dash="dash"),
                             legendgroup=f"r{k}"))
        if _is_interp(r):
            ends = np.interp([0.0, 1.0], x, np.asarray(r.loss, float)) if x.size > 1 else np.asarray(r.loss)[:2]
            data.append(dict(type="scatter", x=[0.0, 1.0], y=ends, mode="markers+text", text=["A", "B"],
                             textposition="top center", marker=dict(size=10, color=color), showlegend=False,
                             legendgroup=f"r{k}", hoverinfo="skip", name=f"{lab}: концы"))
    kinds = {"line" if _is_line(r) else "interp" for r in items}
    if title is None:
        title = {frozenset({"line"}): "Потери вдоль прямой L(w₀ + α·d)",
                 frozenset({"interp"}): "Потери на отрезке между решениями L((1 − t)·w<sub>A</sub> + t·w<sub>B</sub>)"
                 }.get(frozenset(kinds), "Одномерные срезы ландшафта потерь")
    caption = line_caption(items, labels)
    if log_y and not use_log:
        caption += " · лог. шкала недоступна: есть неположительные потери"
    xtitle = {frozenset({"line"}): "α", frozenset({"interp"}): "t"}.get(frozenset(kinds), "α или t")
    layout = _layout(title, caption, xaxis=dict(title=dict(text=xtitle), zeroline=False),
                     yaxis=dict(title=dict(text="L (лог. шкала)" if use_log else "L"), type="log" if use_log else "linear"),
                     height=470, hovermode="x unified")
    if accuracy and any(r.accuracy is not None for r in items):
        layout["yaxis2"] = dict(title=dict(text="точность"), overlaying="y", side="right", range=[0, 1], showgrid=False)
        layout["margin"]["r"] = 60
    shapes = []
    if "line" in kinds:
        shapes.append(dict(type="line", x0=0, x1=0, y0=0, y1=1, yref="paper", line=dict(color="#888", dash="dot")))
    layout["shapes"] = shapes
    return go.Figure(data=data, layout=layout)


# ------------------------------------------------------------------------------------ 2-D plane
def plane_figure(result, *, kind: str = "contour", trajectory=None, log_z: bool = False, title: str | None = None,
                 ncontours: int = 30) -> go.Figure:
    r"""The loss on a plane :math:`L(w_0 + \alpha d_1 + \beta d_2)`: contour map or 3-D surface.

    Parameters
    ----------
    result : PlaneResult
        ``loss[j, i]`` at ``(alphas[i], betas[j])``; drawn as it is (``z`` is ``result.loss``,
        or its ``log10`` with ``log_z=True``).
    kind : {"contour", "surface"}
        A ``go.Contour`` map or a ``go.Surface``.
    trajectory : PCAResult or array ``(T, 2)``, optional
        The training path in plane coordinates: a :class:`~optviz.landscape.PCAResult` gives its
        ``coords`` (and its explained variance to the caption). Default: ``result.path`` (set when
        the plane was computed from a PCA result). On the surface the path is lifted to the loss
        read off the grid by bilinear interpolation (:func:`trajectory_heights`).
    log_z : bool
        Draw :math:`\log_{10} L` (useful when the loss spans decades).
    """
    if kind not in ("contour", "surface"):
        raise ValueError(f"Параметр kind должен быть 'contour' или 'surface', получено {kind!r}.")
    coords, _ = _trajectory(result, trajectory)
    a, b = np.asarray(result.alphas, float), np.asarray(result.betas, float)
    z = np.asarray(result.loss, float)
    if log_z:
        with np.errstate(all="ignore"):
            z = np.log10(z)
    zlabel = "lg L" if log_z else "L"
    pca = result.directions[0].kind == "pca"
    axis_names = ("PC1", "PC2") if pca else ("α (направление 1)", "β (направление 2)")
    data = []
    if kind == "contour":
        data.append(dict(type="contour", x=a, y=b, z=z, colorscale="Viridis", ncontours=ncontours, name=zlabel,
                         colorbar=dict(title=dict(text=zlabel)), contours=dict(showlines=True),
                         line=dict(width=0.5), hovertemplate="α = %{x:.3f}, β = %{y:.3f}<br>" + zlabel + " = %{z:.4g}<extra></extra>"))
        if coords is not None:
            data.append(dict(type="scatter", x=coords[:, 0], y=coords[:, 1], mode="lines+markers",
                             name="траектория (проекция)", line=dict(color="#d62728", width=2),
                             marker=dict(size=4, color="#d62728")))
            data.append(dict(type="scatter", x=coords[[0, -1], 0], y=coords[[0, -1], 1], mode="markers+text",
                             text=["начало", "конец"], textposition=["bottom center", "top center"],
                             marker=dict(size=11, color=["#ffffff", "#d62728"], line=dict(width=2, color="#d62728")),
                             showlegend=False, name="начало и конец"))
        data.append(dict(type="scatter", x=[0.0], y=[0.0], mode="markers", name="центр w₀",
                         marker=dict(symbol="x", size=10, color="#000000")))
        layout_kw = dict(xaxis=dict(title=dict(text=axis_names[0]), range=[a[0], a[-1]]),
                         yaxis=dict(title=dict(text=axis_names[1]), range=[b[0], b[-1]]),
                         height=560, legend=dict(orientation="h", yanchor="top", y=-0.12, x=0))
    else:
        data.append(dict(type="surface", x=a, y=b, z=z, colorscale="Viridis", name=zlabel, opacity=0.92,
                         colorbar=dict(title=dict(text=zlabel)),
                         hovertemplate="α = %{x:.3f}, β = %{y:.3f}<br>" + zlabel + " = %{z:.4g}<extra></extra>"))
        if coords is not None:
            h = trajectory_heights(result, coords, log_z=log_z)
            finite = z[np.isfinite(z)]
            lift = 0.01 * float(finite.max() - finite.min()) if finite.size else 0.0
            data.append(dict(type="scatter3d", x=coords[:, 0], y=coords[:, 1], z=h + lift, mode="lines+markers",
                             name="траектория (проекция, поднята на поверхность)",
                             line=dict(color="#d62728", width=6), marker=dict(size=3, color="#d62728")))
        layout_kw = dict(scene=dict(xaxis=dict(title=dict(text=axis_names[0])), yaxis=dict(title=dict(text=axis_names[1])),
                                    zaxis=dict(title=dict(text=zlabel)), aspectmode="manual",
                                    aspectratio=dict(x=1, y=1, z=0.7)),
                         height=620, legend=dict(orientation="h", yanchor="top", y=0.02, x=0))
    if title is None:
        title = ("Ландшафт потерь в плоскости PCA траектории" if pca else
                 "Ландшафт потерь на плоскости L(w₀ + α·d₁ + β·d₂)")
        title += " — поверхность" if kind == "surface" else ""
    return go.Figure(data=data, layout=_layout(title, plane_caption(result, trajectory), **layout_kw))


# --------------------------------------------------------------------------------- matplotlib
def _wrap(text: str, width: int = 110) -> str:
    import textwrap

    clean = text.replace("<sub>", "_").replace("</sub>", "").replace("<br>", "\n")
    return "\n".join(textwrap.fill(part, width) for part in clean.split(" · "))


def line_figure_mpl(results, *, labels: Sequence[str] | None = None, log_y: bool = False, title: str | None = None):
    """Static (matplotlib) version of :func:`line_figure`; returns a ``matplotlib.figure.Figure``."""
    from matplotlib.figure import Figure

    items = _as_results(results)
    labels = [_default_label(r) for r in items] if labels is None else [str(x) for x in labels]
    if len(labels) != len(items):
        raise ValueError(f"Параметр labels должен содержать {len(items)} подписей, получено {len(labels)}.")
    losses = np.concatenate([np.asarray(r.loss, float).reshape(-1) for r in items])
    finite = losses[np.isfinite(losses)]
    use_log = bool(log_y) and finite.size > 0 and bool((finite > 0).all())
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    for k, (r, lab) in enumerate(zip(items, labels)):
        x = np.asarray(r.ts if _is_interp(r) else r.alphas, float)
        ax.plot(x, np.asarray(r.loss, float), color=PALETTE[k % len(PALETTE)], lw=2, label=lab)
        if _is_interp(r):
            for t, name in ((0.0, "A"), (1.0, "B")):
                yv = np.interp(t, x, np.asarray(r.loss, float))
                ax.plot([t], [yv], "o", color=PALETTE[k % len(PALETTE)])
                ax.annotate(name, (t, yv), textcoords="offset points", xytext=(0, 6), ha="center")
    if any(_is_line(r) for r in items):
        ax.axvline(0.0, color="#888", ls=":", lw=1)
    if use_log:
        ax.set_yscale("log")
    kinds = {"line" if _is_line(r) else "interp" for r in items}
    ax.set_xlabel({frozenset({"line"}): "α", frozenset({"interp"}): "t"}.get(frozenset(kinds), "α или t"))
    ax.set_ylabel("L")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    if title is None:
        title = {frozenset({"line"}): "Потери вдоль прямой L(w₀ + α·d)",
                 frozenset({"interp"}): "Потери на отрезке между решениями"}.get(frozenset(kinds), "Одномерные срезы ландшафта потерь")
    fig.suptitle(title)
    ax.set_title(_wrap(line_caption(items, labels)), fontsize=8, loc="left")
    return fig


def plane_figure_mpl(result, *, trajectory=None, log_z: bool = False, levels: int = 30, title: str | None = None):
    """Static (matplotlib) contour version of :func:`plane_figure`; returns a ``matplotlib.figure.Figure``."""
    from matplotlib.figure import Figure

    coords, _ = _trajectory(result, trajectory)
    a, b = np.asarray(result.alphas, float), np.asarray(result.betas, float)
    z = np.asarray(result.loss, float)
    if log_z:
        with np.errstate(all="ignore"):
            z = np.log10(z)
    fig = Figure(figsize=(7.0, 6.2), layout="constrained")
    ax = fig.add_subplot()
    zm = np.ma.masked_invalid(z)
    cf = ax.contourf(a, b, zm, levels=levels, cmap="viridis")
    ax.contour(a, b, zm, levels=levels, colors="k", linewidths=0.3, alpha=0.5)
    fig.colorbar(cf, ax=ax, label="lg L" if log_z else "L")
    if coords is not None:
        ax.plot(coords[:, 0], coords[:, 1], "-o", color="#d62728", ms=3, lw=1.5, label="траектория (проекция)")
        ax.plot(*coords[0], "o", mfc="white", mec="#d62728", ms=9, label="начало")
        ax.plot(*coords[-1], "o", color="#d62728", ms=9, label="конец")
    ax.plot([0.0], [0.0], "kx", ms=8, label="центр w₀")
    pca = result.directions[0].kind == "pca"
    ax.set_xlabel("PC1" if pca else "α (направление 1)")
    ax.set_ylabel("PC2" if pca else "β (направление 2)")
    ax.set_xlim(a[0], a[-1])
    ax.set_ylim(b[0], b[-1])
    ax.legend(loc="upper right", fontsize=8)
    if title is None:
        title = "Ландшафт потерь в плоскости PCA траектории" if pca else "Ландшафт потерь на плоскости L(w₀ + α·d₁ + β·d₂)"
    fig.suptitle(title)
    ax.set_title(_wrap(plane_caption(result, trajectory), 90), fontsize=8, loc="left")
    return fig
