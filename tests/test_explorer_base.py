"""The explorer base class: cached results per explorer, shared L0/L1 controls."""

import ipywidgets as W
import plotly.graph_objects as go
import pytest

from optviz.widgets import Explorer
from optviz.widgets.l0l1 import L0L1_PROBLEMS, l0l1_controls


def _explorer():
    calls = []

    def build(p):
        value = ex.cached(p["k"], lambda: calls.append(p["k"]) or p["k"] ** 2)
        return go.Figure(go.Scatter(x=[0, 1], y=[0, value]))

    ex = Explorer({"k": W.IntSlider(value=1, min=0, max=100)}, build)
    return ex, calls


def test_cached_computes_each_setting_once_per_explorer():
    ex, calls = _explorer()
    _ = ex.widget
    ex.set(k=2)
    ex.set(k=1)
    ex.set(k=2)
    assert calls == [1, 2]
    assert ex.widget.data[0].y[1] == 4
    other, other_calls = _explorer()          # another explorer has its own cache
    _ = other.widget
    assert other_calls == [1]


def test_cached_keeps_the_last_64_settings():
    ex, calls = _explorer()
    for k in range(70):
        ex.cached(k, lambda k=k: calls.append(k) or k)
    ex.cached(69, lambda: calls.append("again"))
    ex.cached(0, lambda: calls.append("recomputed"))
    assert calls[-1] == "recomputed" and "again" not in calls


def test_l0l1_controls_defaults_and_errors():
    c, box = l0l1_controls(L0L1_PROBLEMS, "quartic", None, 3.0, None, 40)
    cls = L0L1_PROBLEMS["quartic"][1]
    assert c["L0"].value == pytest.approx(cls.L0) and c["L1"].value == pytest.approx(3.0, rel=1e-9)
    assert c["steps"].value == 40 and c["x0"].value == pytest.approx(float(cls.starts[0, 0]))
    assert isinstance(box, W.VBox)
    with pytest.raises(ValueError, match="problem"):
        l0l1_controls(L0L1_PROBLEMS, "нет такой", None, None, None, 40)
