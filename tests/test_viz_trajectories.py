"""Figure builders of trajectories, loss curves and the heavy-ball regime map.

References are independent of the builders: the toys' closed forms, plain loops over the trace
arrays, eigenvalues of the heavy-ball iteration matrix by ``numpy.linalg.eigvals``, and the
textbook rates of GD and heavy ball on a quadratic.
"""

from __future__ import annotations

import io
import math

import numpy as np
import plotly.graph_objects as go
import pytest

from optviz.optim.adaptive import Adam
from optviz.optim.sgd import SGD
from optviz.problems.toys import Quadratic, Quartic, Rosenbrock
from optviz.run import run, run_grid
from optviz.viz._style import DIVERGED_TEXT, log_levels
from optviz.viz.regime import (
    DIVERGING,
    OSCILLATING,
    REGIMES,
    SLOW,
    heavy_ball_theory,
    measured_error_rate,
    regime_labels,
    regime_map,
    regime_map_mpl,
)
from optviz.viz.trajectories import (
    contour_grid,
    frame_steps,
    loss_curves,
    trajectory_figure,
    trajectory_figure_mpl,
)

F = Rosenbrock()


@pytest.fixture(scope="module")
def race():
    """Momentum and Adam converge, GD with η = 0.01 leaves the window within a few steps."""
    mom = run(F, SGD, F.start, 300, lr=1e-3, momentum=0.9)
    mom.method = "Momentum"
    adam = run(F, Adam, F.start, 300, lr=0.05)
    gd = run(F, SGD, F.start, 300, lr=0.01)
    assert gd.diverged_at[0] > 0 and mom.diverged_at[0] < 0 and adam.diverged_at[0] < 0
    return [mom, adam, gd]


@pytest.fixture(scope="module")
def race_fig(race):
    return trajectory_figure(F, race)


def _by_name(fig, name):
    return [t for t in fig.data if t.name == name]


def _inside(p, window):
    (x0, x1), (y0, y1) = window
    return x0 <= p[0] <= x1 and y0 <= p[1] <= y1


# ---------------------------------------------------------------------------------------------
# trajectory_figure
# ---------------------------------------------------------------------------------------------


def test_structure_traces_and_frames(race_fig, race):
    fig = race_fig
    # 20 level lines, minimiser, (path, head) × 3, (loss, loss head) × 3, «расходится» × 2 panels
    assert len(fig.data) == 20 + 1 + 4 * len(race) + 2
    assert all(t.type == "scatter" and t.name == "линии уровня" for t in fig.data[:20])
    assert fig.frames[0].traces == tuple(range(21, len(fig.data)))   # frames never touch the landscape
    assert len(fig.frames) == 100                      # 301 steps subsampled to 100 frames
    names = [int(f.name) for f in fig.frames]
    assert names[0] == 0 and names[-1] == 300 and names == sorted(set(names))
    assert max(np.diff(names)) <= math.ceil(300 / 99)
    menus = fig.layout.updatemenus[0].buttons
    assert [b.label for b in menus] == ["▶ Пуск", "❚❚ Пауза"]
    assert len(fig.layout.sliders[0].steps) == 100
    assert fig.layout.sliders[0].active == 99          # the finished race is what one sees first
    assert fig.layout.yaxis2.type == "log" and fig.layout.xaxis2.title.text == "итерация k"


def test_frame_steps_subsampling():
    assert list(frame_steps(10)) == list(range(11))
    s = frame_steps(1000, 100)
    assert len(s) == 100 and s[0] == 0 and s[-1] == 1000 and np.all(np.diff(s) > 0)
    with pytest.raises(ValueError, match="max_frames"):
        frame_steps(10, 1)


def test_frames_hold_exact_trajectory_points(race_fig, race):
    mom = race[0]
    for frame in race_fig.frames[::7]:
        s = int(frame.name)
        path, head, loss = frame.data[0], frame.data[1], frame.data[2 * len(race)]
        np.testing.assert_array_equal(np.asarray(path.x), mom.points[: s + 1, 0, 0])
        np.testing.assert_array_equal(np.asarray(path.y), mom.points[: s + 1, 0, 1])
        np.testing.assert_array_equal(np.asarray(head.x), [mom.points[s, 0, 0]])
        np.testing.assert_array_equal(np.asarray(loss.x), np.arange(s + 1))
        # loss panel: f(x_k) − f* recomputed from the Rosenbrock formula
        x, y = mom.points[: s + 1, 0, 0], mom.points[: s + 1, 0, 1]
        np.testing.assert_allclose(np.asarray(loss.y), (1 - x) ** 2 + 100 * (y - x**2) ** 2, rtol=1e-12)
    # frames update exactly the moving traces, never the contour
    assert 0 not in race_fig.frames[0].traces and len(race_fig.frames[0].traces) == len(race_fig.frames[0].data)


def test_diverging_run_is_labelled_where_it_leaves_the_window(race_fig, race):
    gd = race[2]
    d = int(gd.diverged_at[0])
    exit_step = next(k for k in range(d) if not _inside(gd.points[k, 0], F.window))
    div = _by_name(race_fig, DIVERGED_TEXT)
    assert len(div) == 2 and div[0].showlegend
    assert list(div[0].text) == [DIVERGED_TEXT]
    px, py = div[0].x[0], div[0].y[0]
    # on the window's edge, on the segment between the last inside point and the first outside one
    (x0, x1), (y0, y1) = F.window
    on_edge = min(abs(px - x0), abs(px - x1), abs(py - y0), abs(py - y1))
    assert on_edge < 1e-9 and _inside((px, py), F.window)
    a, b = gd.points[exit_step - 1, 0], gd.points[exit_step, 0]
    cross = (b - a)[0] * (py - a[1]) - (b - a)[1] * (px - a[0])
    assert abs(cross) < 1e-6 * np.linalg.norm(b - a) ** 2
    assert f"шаг {exit_step}" in div[0].hovertext[0]
    # its path stops at the last good point (diverged_at − 1)
    gd_path = _by_name(race_fig, "SGD (η = 0.01)")[0]
    assert len(gd_path.x) == d
    # the marker appears in the frames from the exit step on, not before
    for frame in race_fig.frames:
        shown = len(frame.data[-2].x) > 0
        assert shown == (int(frame.name) >= exit_step)
    # the title says who diverges
    assert f"{DIVERGED_TEXT}: SGD" in race_fig.layout.title.text


def test_titles_and_legend_follow_parameters(race):
    fig1 = trajectory_figure(F, race[:1], animate=False)
    other = run(F, SGD, F.start, 300, lr=5e-4, momentum=0.8)
    other.method = "Momentum"
    fig2 = trajectory_figure(F, [other], animate=False)
    assert fig1.layout.title.text.startswith("Функция Розенброка: Momentum")
    assert "300 шагов" in fig1.layout.title.text and "старт (-1.2, 1)" in fig1.layout.title.text
    assert fig1.data[2].name == "Momentum (η = 0.001, β = 0.9)"
    assert fig2.data[2].name == "Momentum (η = 5.00e-4, β = 0.8)"
    fig3 = trajectory_figure(F, race[:1], animate=False, step=40)
    assert "шаг 40 из 300" in fig3.layout.title.text
    assert len(fig3.data[2].x) == 41 and fig3.data[3].x[0] == race[0].points[40, 0, 0]


def test_contour_levels_are_log_spaced_and_minimiser_marked(race_fig, race):
    c = trajectory_figure(F, race[:1], animate=False).data[0]
    assert c.type == "contour"
    _, _, Z = contour_grid(F)
    lev = log_levels(Z, 20)
    assert c.contours.start == pytest.approx(math.log10(lev[0]))
    assert c.contours.end == pytest.approx(math.log10(lev[-1]))
    assert c.contours.size == pytest.approx((math.log10(lev[-1]) - math.log10(lev[0])) / 19)
    # the field is lg f at the grid points, f from the closed form
    i, j = 37, 81
    x, y = np.asarray(c.x)[j], np.asarray(c.y)[i]
    f = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    assert np.asarray(c.z)[i, j] == pytest.approx(math.log10(max(f, lev[0])))
    star = _by_name(race_fig, "минимум ★")[0]
    assert star.marker.symbol == "star" and (star.x[0], star.y[0]) == (1.0, 1.0)
    # the animated figure's level lines lie on the same levels: lg f(x, y) = level along each line
    assert len(race_fig.data[0].x) == 0          # the lowest level is the minimum itself
    for k in (9, 13, 17):          # (the thin valley floor is below what a 120² grid resolves)
        line = race_fig.data[k]
        x, y = np.asarray(line.x, dtype=float), np.asarray(line.y, dtype=float)
        ok = np.isfinite(x)
        f = (1 - x[ok]) ** 2 + 100 * (y[ok] - x[ok] ** 2) ** 2
        level = c.contours.start + k * c.contours.size
        assert ok.sum() > 10
        assert np.median(np.abs(np.log10(f) - level)) < 0.03
    assert contour_grid(F) is contour_grid(Rosenbrock())        # computed once per problem


def test_many_starts_in_one_trace():
    q = Quadratic(kappa=10, angle_deg=30)
    tr = run(q, SGD, q.starts, 40, lr=0.15)
    fig = trajectory_figure(q, tr, animate=False)
    path, head = fig.data[2], fig.data[3]
    x = np.asarray(path.x, dtype=float)
    assert np.isnan(x).sum() == len(q.starts) - 1              # runs separated by gaps
    runs = np.split(x, np.flatnonzero(np.isnan(x)))
    for i, seg in enumerate(runs):
        np.testing.assert_array_equal(seg[~np.isnan(seg)], tr.points[:, i, 0])
    assert len(head.x) == len(q.starts)
    assert f"{len(q.starts)} запусков" in fig.layout.title.text


def test_fast_path_matches_validated_figure(race):
    slow = trajectory_figure(F, race, animate=False)
    fast = trajectory_figure(F, race, animate=False, validate=False)
    a, b = go.Figure(fast).to_plotly_json(), slow.to_plotly_json()
    assert len(a["data"]) == len(b["data"])
    for ta, tb in zip(a["data"], b["data"]):
        assert ta["type"] == tb["type"] and ta.get("name") == tb.get("name")
    assert a["layout"]["title"] == b["layout"]["title"]


def test_unknown_f_star_and_non_2d_problem():
    with pytest.raises(ValueError, match="двумерных"):
        trajectory_figure(Quartic(), run(Quartic(), SGD, [1.0], 5, lr=0.01))
    tr = run(F, SGD, F.start, 20, lr=1e-3)
    tr.f_star = float("nan")
    fig = loss_curves([tr])
    assert fig.layout.yaxis.title.text == "f(x_k)"
    np.testing.assert_allclose(np.asarray(fig.data[0].y), tr.loss[:, 0])


def test_loss_curves(race):
    fig = loss_curves(race)
    assert len(fig.data) == len(race) + 1 and fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(np.asarray(fig.data[1].y), race[1].loss[:, 0] - 0.0)
    assert len(fig.data[2].x) == race[2].diverged_at[0]
    assert list(fig.data[-1].text) == [DIVERGED_TEXT]
    assert "Momentum, Adam, SGD" in fig.layout.title.text


def test_matplotlib_counterpart(race):
    fig = trajectory_figure_mpl(F, race)
    ax, ax2 = fig.axes[:2]
    texts = [t.get_text() for t in ax.texts]
    assert DIVERGED_TEXT in texts
    assert ax2.get_yscale() == "log"
    assert "Функция Розенброка" in fig._suptitle.get_text()
    labels = [line.get_label() for line in ax.get_lines()]
    assert "Adam (η = 0.05)" in labels and "минимум ★" in labels
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------------------------
# the regime map
# ---------------------------------------------------------------------------------------------


def test_heavy_ball_theory_matches_eigenvalues():
    rng = np.random.default_rng(0)
    mu, L = 1.0, 40.0
    for _ in range(200):
        a, b = 10 ** rng.uniform(-3, math.log10(5 / L)), rng.uniform(0, 0.99)
        rho, osc = heavy_ball_theory(a, b, mu, L)
        eig = []
        for lam in (mu, L):
            T = np.array([[1 + b - a * lam, -b], [1.0, 0.0]])
            eig.extend(np.linalg.eigvals(T))
        eig = np.array(eig)
        top = eig[np.argmax(np.abs(eig))]
        assert float(rho) == pytest.approx(abs(top), rel=1e-9)
        if abs(abs(eig).max() - np.sort(abs(eig))[-2]) > 1e-6 or abs(top.imag) > 1e-9:  # a clear dominant mode
            assert bool(osc) == (abs(top.imag) > 1e-9 or top.real < 0)


def test_heavy_ball_theory_known_rates():
    q = Quadratic(kappa=100)
    a, b = q.heavy_ball_params
    assert float(heavy_ball_theory(a, b, q.mu, q.L)[0]) == pytest.approx(q.heavy_ball_rate, rel=1e-6)
    assert float(heavy_ball_theory(q.optimal_step, 0.0, q.mu, q.L)[0]) == pytest.approx(q.gd_rate, rel=1e-12)
    for lr in (0.001, 0.015, 0.021):
        assert float(heavy_ball_theory(lr, 0.0, q.mu, q.L)[0]) == pytest.approx(q.gd_step_rate(lr))
    # GD zig-zags (negative root) beyond 2/(μ+L), creeps monotonically below it
    assert bool(heavy_ball_theory(1.5 * q.optimal_step, 0.0, q.mu, q.L)[1])
    assert not bool(heavy_ball_theory(0.5 * q.optimal_step, 0.0, q.mu, q.L)[1])


def test_measured_error_rate_matches_theory():
    q = Quadratic(kappa=10, angle_deg=30)
    gd = run(q, SGD, q.start, 200, lr=q.optimal_step)
    assert measured_error_rate(gd) == pytest.approx(q.gd_rate, abs=2e-3)
    a, b = q.heavy_ball_params
    hb = run(q, SGD, q.start, 200, lr=a, momentum=b)
    assert measured_error_rate(hb) == pytest.approx(q.heavy_ball_rate, abs=0.02)
    bad = run(q, SGD, q.start, 50, lr=0.5)
    assert measured_error_rate(bad) == math.inf


@pytest.fixture(scope="module")
def grid():
    q = Quadratic(kappa=50, angle_deg=30)
    g = run_grid(q, SGD, q.start, 150, grid={"lr": np.geomspace(1e-2 / q.L, 6 / q.L, 12),
                                             "momentum": np.linspace(0, 0.95, 12)})
    return q, g


def test_regime_labels_agree_with_theory(grid):
    q, g = grid
    regime, rho, rho_th = regime_labels(g, q)
    assert regime.shape == (12, 12)                      # rows: momentum, columns: lr
    assert set(np.unique(regime)) == {SLOW, OSCILLATING, DIVERGING}
    assert (regime[rho_th > 1.03] == DIVERGING).all()
    assert (regime[rho_th < 0.97] != DIVERGING).all()
    ok = (rho_th < 0.9) & (regime != DIVERGING)
    # the colour is the rate of f − f*, the square of the error rate on a quadratic
    np.testing.assert_allclose(np.sqrt(rho[ok]), rho_th[ok], atol=0.03)
    lrs, moms = g.axes["lr"], g.axes["momentum"]
    _, osc = heavy_ball_theory(lrs[None, :], moms[:, None], q.mu, q.L)
    conv = regime != DIVERGING
    assert ((regime == OSCILLATING) == (osc & conv)).all()


def test_regime_map_figure(grid):
    q, g = grid
    fig = regime_map(g, q)
    texts = {a.text for a in fig.layout.annotations}
    assert {f"<b>{r}</b>" for r in REGIMES} <= texts
    star = next(t for t in fig.data if t.name == "оптимум (α*, β*)")
    a, b = q.heavy_ball_params
    assert star.x[0] == pytest.approx(math.log10(a)) and star.y[0] == pytest.approx(b)
    gd = next(t for t in fig.data if t.name.startswith("лучший шаг GD"))
    assert gd.x[0] == pytest.approx(math.log10(2 / (q.mu + q.L))) and gd.y[0] == 0
    heat = fig.data[0]
    rho = g.rate().T
    z = np.asarray(heat.z, dtype=float)
    finite = np.isfinite(rho) & (rho < 1)
    np.testing.assert_allclose(z[finite], rho[finite])
    assert np.isnan(z[~finite]).all()
    assert "κ = 50" in fig.layout.title.text and "150 шагов" in fig.layout.title.text
    # with a chosen run: its trajectory beside the map and the rates in the caption
    tr = run(q, SGD, q.start, 150, lr=a, momentum=b)
    fig2 = regime_map(g, q, trace=tr)
    assert any(t.type == "contour" and t.xaxis == "x2" for t in fig2.data)
    assert "теория 0.75" in fig2.layout.title.text and "измерено" in fig2.layout.title.text


def test_regime_map_rejects_wrong_input(grid):
    q, g = grid
    g1 = run_grid(q, Adam, q.start, 5, grid={"lr": [0.1, 0.2]})
    with pytest.raises(ValueError, match="lr.*momentum"):
        regime_map(g1, q)
    with pytest.raises(ValueError, match="Quadratic"):
        regime_map(g, F)


def test_regime_map_mpl(grid):
    q, g = grid
    fig = regime_map_mpl(g, q)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert set(REGIMES) <= texts
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:4] == b"\x89PNG"
