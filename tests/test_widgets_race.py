"""Live explorers: the race, the single-method explorer, the regime map.

Every check drives the controls programmatically (``Explorer.set``, button clicks, the click
callbacks invoked directly) and inspects the same FigureWidget object; no browser is needed.
Numbers are compared with independent references: the trajectories of ``run`` called directly,
the restart period of ``FixedPeriod``, the textbook rates of GD/heavy ball/Nesterov on a quadratic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from plotly.callbacks import Points

import optviz.widgets.race as race_mod
from optviz.optim.adaptive import Adam
from optviz.optim.sgd import SGD
from optviz.problems.toys import Himmelblau, Quadratic, Rosenbrock
from optviz.run import run
from optviz.widgets.race import method_explorer, race_explorer, run_method, theory_rate
from optviz.widgets.regime import regime_explorer

STEPS = 60


@pytest.fixture
def ex():
    return race_explorer("rosenbrock", methods=("GD", "Momentum", "Adam"), steps=STEPS)


def _path(fw, label_start):
    return next(t for t in fw.data if t.name and t.name.startswith(label_start) and t.mode == "lines")


def test_race_updates_the_same_widget_in_place(ex):
    fw = ex.widget
    f = Rosenbrock()
    gd_before = np.asarray(_path(fw, "GD").x).copy()
    ref = run(f, SGD, f.start, STEPS, lr=1e-3)
    np.testing.assert_array_equal(gd_before, ref.points[:, 0, 0])
    n = ex.updates
    ex.set(lr_GD=3e-3)
    assert ex.widget is fw and ex.updates == n + 1
    ref2 = run(f, SGD, f.start, STEPS, lr=3e-3)
    np.testing.assert_array_equal(np.asarray(_path(fw, "GD").x), ref2.points[:, 0, 0])
    assert _path(fw, "GD").name == "GD (η = 0.003)"
    assert ex.last_update_ms > 0 and ex.status.value == ""
    # Adam's path did not change, and its run was not recomputed (cache)
    np.testing.assert_array_equal(np.asarray(_path(fw, "Adam").x),
                                  run(f, Adam, f.start, STEPS, lr=0.05).points[:, 0, 0])


def test_only_the_changed_method_reruns(ex, monkeypatch):
    _ = ex.widget
    calls = []
    real = race_mod.run

    def counting(problem, spec, *a, **kw):
        calls.append(spec)
        return real(problem, spec, *a, **kw)

    monkeypatch.setattr(race_mod, "run", counting)
    ex.set(lr_Adam=0.02)
    assert calls == [Adam]
    ex.set(step=10)                       # the step slider re-runs nothing
    ex.set(lr_Adam=0.05)                  # back to a computed setting: cached
    assert calls == [Adam]


def test_contour_not_resent_while_problem_unchanged(ex, monkeypatch):
    fw = ex.widget
    sent = []
    contour = fw.data[0]
    orig = type(contour).update

    def spy(self, *a, **kw):
        if self is contour:
            sent.append(1)
        return orig(self, *a, **kw)

    monkeypatch.setattr(type(contour), "update", spy)
    ex.set(lr_GD=2e-3)
    assert sent == []
    ex.set(problem="himmelblau")
    assert sent == [1]


def test_step_slider_moves_current_points(ex):
    fw = ex.widget
    ex.set(step=20)
    f = Rosenbrock()
    ref = run(f, SGD, f.start, STEPS, lr=1e-3, momentum=0.9)
    path = _path(fw, "Momentum")
    assert len(path.x) == 21
    head = next(t for t in fw.data if t.name == path.name and t.mode == "markers")
    assert (head.x[0], head.y[0]) == tuple(ref.points[20, 0])
    assert "шаг 20 из 60" in fw.layout.title.text
    ex.set(steps=100)                     # the step slider follows the number of steps
    assert ex.controls["step"].max == 100 and ex.controls["step"].value == 100
    assert len(_path(fw, "Momentum").x) == 101


def test_click_on_contour_sets_start_with_one_update(ex):
    fw = ex.widget
    n = ex.updates
    fw.data[0]._dispatch_on_click(Points([0], [0.5], [2.0]), None)
    assert (ex.params["x0"], ex.params["y0"]) == (0.5, 2.0)
    assert ex.updates == n + 1
    assert (fw.data[2].x[0], fw.data[2].y[0]) == (0.5, 2.0)
    assert "старт (0.5, 2)" in fw.layout.title.text
    # after a change of the number of traces the callback is re-attached to the new contour
    ex.set(use_Nesterov=True)
    fw.data[0]._dispatch_on_click(Points([0], [-0.5], [1.0]), None)
    assert (ex.params["x0"], ex.params["y0"]) == (-0.5, 1.0)


def test_problem_change_resets_start_and_title(ex):
    fw = ex.widget
    ex.set(problem="himmelblau")
    h = Himmelblau()
    assert (ex.params["x0"], ex.params["y0"]) == tuple(h.start)
    assert fw.layout.title.text.startswith(h.title)
    assert tuple(fw.layout.xaxis.range) == h.window[0]
    ex.set(problem="booth", x0=1.0, y0=2.0)  # explicit values win over the problem's default start
    assert (ex.params["x0"], ex.params["y0"]) == (1.0, 2.0)


def test_invalid_settings_show_russian_status(ex):
    fw = ex.widget
    before = fw.layout.title.text
    ex.set(use_GD=False, use_Momentum=False, use_Adam=False)
    assert "Выберите хотя бы один метод" in ex.status.value
    assert fw.layout.title.text == before
    ex.set(use_Adam=True)
    assert ex.status.value == ""
    ex.set(x0=50.0)
    assert "вне окна" in ex.status.value
    ex.set(x0=-1.0, use_L0L1GD=True, L0=0.01, L1=0.01)
    assert ex.status.value == ""


def test_restarted_methods_use_fixed_period():
    f = Rosenbrock()
    tr = run_method(f, "NesterovRestart", f.start, 100, 1e-3, momentum=0.9, period=20)
    assert tr.restarts == [20, 40, 60, 80, 100]
    assert tr.method == "Nesterov + рестарты" and tr.hyper["period"] == 20
    tr2 = run_method(f, "AdamRestart", f.start, 50, 0.05, period=25)
    assert tr2.restarts == [25, 50]
    # between restarts the restarted Nesterov is plain Nesterov
    plain = run(f, SGD, f.start, 20, lr=1e-3, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(tr.points[:20], plain.points[:20], rtol=0, atol=1e-14)
    e = race_explorer(methods=("NesterovRestart",), steps=40, period=15)
    names = [t.name for t in e.widget.data if t.name and t.name.startswith("Nesterov")]
    assert names[0] == "Nesterov + рестарты (η = 0.001, β = 0.9, P = 15)"


def test_race_static_figure_animates(ex):
    fig = ex.static_figure()
    assert len(fig.frames) == STEPS + 1
    assert fig.layout.updatemenus[0].buttons[0].label == "▶ Пуск"
    assert len(fig.layout.sliders[0].steps) == STEPS + 1


def test_race_rejects_unknown_names():
    with pytest.raises(ValueError, match="Неизвестные методы"):
        race_explorer(methods=("GD", "LBFGS"))
    with pytest.raises(ValueError, match="Неизвестная функция"):
        race_explorer("nope")


# ---------------------------------------------------------------------------------------------
# the single-method explorer
# ---------------------------------------------------------------------------------------------


def test_optimal_step_button_for_gd():
    m = method_explorer("GD", steps=150)
    q = m.problem
    fw = m.widget
    m.optimal_button.click()
    assert m.params["lr"] == pytest.approx(2 / (q.mu + q.L))
    title = fw.layout.title.text
    assert f"теория {q.gd_rate:.4f}"[:-1] in title
    measured = float(title.split("измерено ")[1].split("<")[0].split(" ")[0])
    assert measured == pytest.approx(q.gd_rate, abs=2e-3)


def test_optimal_pair_for_heavy_ball():
    m = method_explorer("Momentum", problem=Quadratic(kappa=100, angle_deg=20), steps=200)
    q = m.problem
    _ = m.widget
    n = m.updates
    m.set_optimal()
    a, b = q.heavy_ball_params
    assert (m.params["lr"], m.params["momentum"]) == (pytest.approx(a), pytest.approx(b))
    assert m.updates == n + 1                         # both sliders, one recompute
    assert "теория 0.8182" in m.widget.layout.title.text


def test_optimal_button_only_where_theory_exists():
    a = method_explorer("Adam", problem="rosenbrock", steps=30)
    _ = a.widget
    assert a.optimal_button.disabled
    a.set_optimal()
    assert "только для GD" in a.status.value
    assert "теория —" in a.widget.layout.title.text


def test_nesterov_theory_rate_matches_a_run():
    q = Quadratic(kappa=50, angle_deg=30)
    beta = (math.sqrt(q.kappa) - 1) / (math.sqrt(q.kappa) + 1)
    th = theory_rate("Nesterov", {"lr": 1 / q.L, "momentum": beta}, q)
    assert th == pytest.approx(1 - 1 / math.sqrt(q.kappa), rel=1e-6)  # the classical 1 − 1/√κ on a quadratic
    from optviz.viz.regime import measured_error_rate

    tr = run(q, SGD, q.start, 400, lr=1 / q.L, momentum=beta, nesterov=True)
    assert measured_error_rate(tr) == pytest.approx(th, abs=0.01)
    assert theory_rate("Adam", {"lr": 0.1}, q) is None


def test_method_explorer_static_sweeps_the_step():
    m = method_explorer("GD", steps=30)
    fig = m.static_figure()
    assert len(fig.frames) == 5 and len(fig.layout.sliders[0].steps) == 5
    titles = [f.layout.title.text for f in fig.frames]
    assert len(set(titles)) == 5                      # each frame's caption follows its step size


# ---------------------------------------------------------------------------------------------
# the regime-map explorer
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rex():
    return regime_explorer(kappa=50, steps=80, n=12)


def test_regime_explorer_selection_moves_in_place(rex):
    fw = rex.widget
    heat_z = np.asarray(fw.data[0].z, dtype=float).copy()
    sel = next(t for t in fw.data if t.name == "выбрано")
    rex.set(lr=0.01, momentum=0.5)
    assert rex.widget is fw and rex.status.value == ""
    sel = next(t for t in fw.data if t.name == "выбрано")
    assert sel.x[0] == pytest.approx(-2.0) and sel.y[0] == pytest.approx(0.5)
    np.testing.assert_array_equal(np.asarray(fw.data[0].z, dtype=float), heat_z)   # the map did not change
    q = Quadratic(kappa=50, angle_deg=30)
    ref = run(q, SGD, q.start, 80, lr=0.01, momentum=0.5)
    path = next(t for t in fw.data if getattr(t, "mode", None) == "lines" and t.xaxis == "x2")
    np.testing.assert_array_equal(np.asarray(path.x), ref.points[:, 0, 0])
    assert "η = 0.01, β = 0.5" in fw.layout.title.text


def test_regime_explorer_click_and_kappa(rex):
    fw = rex.widget
    fw.data[0]._dispatch_on_click(Points([0], [math.log10(0.02)], [0.3]), None)
    assert rex.params["lr"] == pytest.approx(0.02) and rex.params["momentum"] == pytest.approx(0.3)
    rex.set(kappa=200.0)
    assert "κ = 200" in fw.layout.title.text
    a, b = Quadratic(kappa=200).heavy_ball_params
    star = next(t for t in fw.data if t.name == "оптимум (α*, β*)")
    assert star.x[0] == pytest.approx(math.log10(a)) and star.y[0] == pytest.approx(b)


def test_regime_explorer_static_figure(rex):
    fig = rex.static_figure({"kappa": [10.0, 100.0]})
    assert len(fig.frames) == 2 and len(fig.layout.sliders[0].steps) == 2
    assert "κ = 10," in fig.frames[0].layout.title.text and "κ = 100," in fig.frames[1].layout.title.text


def test_method_explorer_has_an_eps_slider_that_changes_the_run():
    """Every hyperparameter a method lists in RACE_METHODS gets a control (ε for the adaptive methods)."""
    for key, (_, _, uses) in race_mod.RACE_METHODS.items():
        m = method_explorer(key, problem="rosenbrock", steps=20)
        assert set(uses) <= set(m.params), (key, uses, sorted(m.params))
    q = Quadratic(kappa=10, angle_deg=30)
    a = method_explorer("Adam", problem=q, steps=40, lr=0.05)
    assert "ε" in a.controls["eps"].description
    a.set(eps=1e-1)
    tr = a.trace()
    assert tr.hyper["eps"] == pytest.approx(1e-1)
    # Adam's first step is  −η·g/(|g| + ε)  per coordinate (bias correction makes m̂ = g, v̂ = g²)
    g = q.grad_np(tr.points[0, 0])
    first = tr.points[1, 0] - tr.points[0, 0]
    np.testing.assert_allclose(first, -0.05 * g / (np.abs(g) + 1e-1), rtol=1e-6)
