"""Plotly plumbing shared by the figure builders: animation controls, frame figures, offline output.

Animations are plain plotly frames with a play/pause button and a step slider, so they play in
JupyterLab *and* in a static HTML page (no Python kernel needed).
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

__all__ = ["animation_controls", "animate", "frames_figure", "pad_traces", "LAYOUT_DEFAULTS"]

#: base layout of every figure: white template, compact margins, legend on top
LAYOUT_DEFAULTS = dict(
    template="plotly_white",
    margin=dict(l=50, r=20, t=60, b=50),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    font=dict(size=13),
)


def animation_controls(names: Sequence[str], *, duration: int = 60, label: str = "шаг",
                       slider_labels: Sequence[str] | None = None, y: float = -0.12) -> dict:
    """``updatemenus`` (▶ Пуск / ❚❚ Пауза) and ``sliders`` for frames called ``names``.

    Returns a dict to pass to ``fig.update_layout(**controls)``.
    """
    play = dict(args=[None, dict(frame=dict(duration=duration, redraw=True), fromcurrent=True,
                                 transition=dict(duration=0), mode="immediate")],
                label="▶ Пуск", method="animate")
    pause = dict(args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate",
                                    transition=dict(duration=0))],
                 label="❚❚ Пауза", method="animate")
    labels = list(slider_labels) if slider_labels is not None else list(names)
    steps = [dict(args=[[n], dict(frame=dict(duration=0, redraw=True), mode="immediate",
                                  transition=dict(duration=0))],
                  label=str(lab), method="animate") for n, lab in zip(names, labels)]
    return dict(
        updatemenus=[dict(type="buttons", direction="left", showactive=False, buttons=[play, pause],
                          x=0.0, y=y, xanchor="left", yanchor="top", pad=dict(t=0, r=10))],
        sliders=[dict(active=0, steps=steps, x=0.12, len=0.88, y=y + 0.02, yanchor="top",
                      currentvalue=dict(prefix=f"{label}: ", visible=True), pad=dict(t=0))],
    )


def pad_traces(traces: list, n: int) -> list:
    """Pad a list of traces with empty scatter traces up to ``n`` (frames must align trace-wise)."""
    return list(traces) + [go.Scatter(x=[], y=[], showlegend=False, hoverinfo="skip")
                           for _ in range(n - len(traces))]


def animate(fig: go.Figure, frames: Sequence[go.Frame], *, duration: int = 60, label: str = "шаг",
            slider_labels: Sequence[str] | None = None) -> go.Figure:
    """Attach ``frames`` to ``fig`` with the course's play/pause buttons and step slider."""
    fig.frames = list(frames)
    names = [f.name for f in fig.frames]
    fig.update_layout(**animation_controls(names, duration=duration, label=label, slider_labels=slider_labels))
    return fig


def frames_figure(figures: Sequence[go.Figure], labels: Sequence[str], *, label: str = "значение") -> go.Figure:
    """One figure whose slider switches between precomputed figures (static stand-in for a widget).

    The first figure gives the layout; each figure's data and title become a frame. Trace counts
    are padded to the largest, so figures with a different number of traces still align.
    """
    if not figures:
        raise ValueError("Нужна хотя бы одна фигура.")
    n = max(len(f.data) for f in figures)
    base = go.Figure(figures[0])
    base.data = []
    base.add_traces(pad_traces(list(figures[0].data), n))
    # shapes and annotations (vertical markers, labels) follow the slider too when any figure has them
    decorated = any(len(f.layout.shapes or ()) or len(f.layout.annotations or ()) for f in figures)
    frames = []
    for i, (f, lab) in enumerate(zip(figures, labels)):
        title = f.layout.title.text if f.layout.title and f.layout.title.text else None
        layout = dict(title=dict(text=title)) if title else {}
        if decorated:
            layout["shapes"] = [sh.to_plotly_json() for sh in (f.layout.shapes or ())]
            layout["annotations"] = [a.to_plotly_json() for a in (f.layout.annotations or ())]
        frames.append(go.Frame(data=pad_traces(list(f.data), n), name=f"v{i}", layout=layout or None))
    base.frames = frames
    ctrl = animation_controls([fr.name for fr in frames], label=label, slider_labels=[str(x) for x in labels])
    base.update_layout(sliders=ctrl["sliders"])  # a slider alone: each position is a setting, not time
    return base
