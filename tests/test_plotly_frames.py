"""``frames_figure``: the static stand-in of an explorer switches data, titles and decorations."""

import plotly.graph_objects as go
import pytest

from optviz.viz._plotly import frames_figure


def _fig(k: float, marker: bool) -> go.Figure:
    f = go.Figure(go.Scatter(x=[0, 1], y=[0, k]))
    f.update_layout(title=dict(text=f"k = {k}"))
    if marker:
        f.add_vline(x=k)
        f.add_annotation(x=k, y=1, text=f"вступление {k}")
    return f


def test_frames_carry_data_titles_shapes_and_annotations():
    figs = [_fig(k, True) for k in (1.0, 2.0, 3.0)]
    out = frames_figure(figs, ["1", "2", "3"], label="k")
    assert [fr.name for fr in out.frames] == ["v0", "v1", "v2"]
    for fr, k in zip(out.frames, (1.0, 2.0, 3.0)):
        assert fr.layout.title.text == f"k = {k}"
        assert fr.data[0].y[1] == k
        assert fr.layout.shapes[0].x0 == pytest.approx(k)          # the marker moves with the slider
        assert fr.layout.annotations[0].text == f"вступление {k}"
    assert len(out.layout.sliders[0].steps) == 3


def test_frames_without_decorations_leave_the_layout_alone():
    out = frames_figure([_fig(1.0, False), _fig(2.0, False)], ["a", "b"])
    assert all(not fr.layout.shapes and not fr.layout.annotations for fr in out.frames)
    with pytest.raises(ValueError):
        frames_figure([], [])
