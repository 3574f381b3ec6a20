"""Figure builders of optviz.viz.dro (π evolution, ERM vs DRO) and optviz.viz.landscape.

References are independent of the code under test: the DRO toy's group losses are recomputed from
its sample points and curvatures, the plane's loss at a grid node from a direct forward pass, the
interpolation's endpoints from ``F.cross_entropy`` of the two models, bilinear heights from the
closed form at nodes and cell centres."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optviz import landscape as ls
from optviz.optim.adaptive import Adam, AdamW
from optviz.optim.also import ALSO
from optviz.optim.mirror_prox import OptimisticMirrorProx
from optviz.problems.dro_toy import DROToy
from optviz.run import Trace, run
from optviz.viz._style import fmt_num
from optviz.viz.dro import dro_race_figure, frame_steps, pi_figure
from optviz.viz.landscape import (line_figure, line_figure_mpl, plane_caption, plane_figure, plane_figure_mpl,
                                  trajectory_heights)

STEPS = 40
TAU = 0.5


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def P():
    return DROToy()


@pytest.fixture(scope="module")
def prior(P):
    return P.prior("inverse_frequency")


@pytest.fixture(scope="module")
def also(P, prior):
    return run(P, ALSO, P.start, STEPS, n_groups=3, lr=0.05, weight_decay=0.0, pi_lr=0.5, pi_decay=TAU,
               prior=prior.tolist())


@pytest.fixture(scope="module")
def omp(P, prior):
    return run(P, OptimisticMirrorProx, P.start, STEPS, n_groups=3, lr=0.2, pi_lr=0.5, pi_decay=TAU,
               prior=prior.tolist())


@pytest.fixture(scope="module")
def adam(P):
    return run(P, Adam, P.start, STEPS, lr=0.05)


@pytest.fixture(scope="module")
def sol(P):
    return P.dro_solution(TAU, "inverse_frequency")


def group_losses_reference(P, points):
    """F_g(θ) = (c/n) Σ_{i∈g} ½ (θ − c_i)ᵀ A_g (θ − c_i), written directly from the toy's data."""
    out = np.zeros((len(points), P.n_groups))
    for k, th in enumerate(points):
        for c, g in zip(P.points, P.group_ids):
            d = th - c
            out[k, g] += 0.5 * d @ P.CURVATURES[g] @ d
    return out * P.n_groups / P.n_samples


def bands(fig):
    return [t for t in fig.data if getattr(t, "stackgroup", None) == "pi"]


def frame_step(frame) -> int:
    return int(frame.name[1:])


def frame_trace(fig, frame, pred):
    """The frame's update of the first base trace satisfying ``pred``."""
    idx = [i for i, t in enumerate(fig.data) if pred(t)]
    assert idx, "no such trace"
    pos = list(frame.traces).index(idx[0])
    return frame.data[pos]


def is_pi_marker(t):
    return t.type == "scatterternary" and t.mode == "markers" and t.name == "π<sub>k</sub>"


def is_theta_marker(t):
    return t.type == "scatter" and t.mode == "markers" and t.name == "θ<sub>k</sub>"


# ----------------------------------------------------------------------------------- π figure
def test_stacked_bands_are_pi_and_sum_to_one(also):
    pi = also.pi
    fig = pi_figure(also, animate=False)
    b = bands(fig)
    assert [t.name for t in b] == ["группа 1", "группа 2", "группа 3"]
    Y = np.array([t.y for t in b]).T                      # (K+1, G)
    np.testing.assert_array_equal(Y, pi)
    np.testing.assert_allclose(Y.sum(1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(b[0].x, np.arange(STEPS + 1))
    # step=k draws the bands up to k only
    k = 17
    b = bands(pi_figure(also, animate=False, step=k))
    assert len(b[0].x) == k + 1
    np.testing.assert_array_equal([t.y[-1] for t in b], pi[k])


def test_animation_frames_hold_pi_on_the_simplex_and_the_path(P, also):
    fig = pi_figure(also, problem=P, max_frames=15)
    ks = [frame_step(f) for f in fig.frames]
    assert ks[0] == 0 and ks[-1] == STEPS and len(ks) <= 15 and ks == sorted(set(ks))
    assert len(fig.layout.sliders[0].steps) == len(fig.frames)
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ Пуск", "❚❚ Пауза"]
    band_idx = [i for i, t in enumerate(fig.data) if getattr(t, "stackgroup", None) == "pi"]
    for f in fig.frames:
        k = frame_step(f)
        m = frame_trace(fig, f, is_pi_marker)
        np.testing.assert_array_equal([m.a[0], m.b[0], m.c[0]], also.pi[k])          # π_k on the simplex
        for g, i in enumerate(band_idx):                                            # bands at step k
            upd = f.data[list(f.traces).index(i)]
            assert len(upd.y) == k + 1 and upd.y[-1] == also.pi[k, g]
        th = frame_trace(fig, f, is_theta_marker)
        np.testing.assert_array_equal([th.x[0], th.y[0]], also.points[k, 0])      # θ_k on the contour
        assert f"шаг {k} из {STEPS}" in f.layout.title.text
    # the base figure is step 0
    m = next(t for t in fig.data if is_pi_marker(t))
    np.testing.assert_array_equal([m.a[0], m.b[0], m.c[0]], also.pi[0])


def test_group_loss_panel_equals_the_problem_group_losses(P, also):
    fig = pi_figure(also, problem=P, animate=False)
    curves = [t for t in fig.data if t.type == "scatter" and t.hovertemplate and "F =" in t.hovertemplate]
    assert len(curves) == 3
    ref = group_losses_reference(P, also.points[:, 0])
    drawn = np.array([t.y for t in curves]).T
    np.testing.assert_allclose(drawn, ref, rtol=1e-10)
    np.testing.assert_allclose(drawn, P.group_losses(torch.as_tensor(also.points[:, 0])).numpy(), rtol=1e-12)
    assert fig.layout.yaxis2.type == "log"                      # positive losses: log scale
    # given explicitly (a network's group losses): drawn as given; a non-positive one → linear axis
    given = np.linspace(-1.0, 1.0, 3 * (STEPS + 1)).reshape(STEPS + 1, 3)
    fig = pi_figure(also, group_losses=given, animate=False)
    curves = [t for t in fig.data if t.hovertemplate and "F =" in t.hovertemplate]
    np.testing.assert_array_equal(np.array([t.y for t in curves]).T, given)
    assert fig.layout.yaxis2.type == "linear"
    with pytest.raises(ValueError, match="group_losses"):
        pi_figure(also, group_losses=given[:-1])


def test_titles_follow_the_hyperparameters(P, prior):
    a = run(P, ALSO, P.start, 5, n_groups=3, lr=0.05, pi_lr=0.5, pi_decay=0.3)
    b = run(P, ALSO, P.start, 5, n_groups=3, lr=0.05, pi_lr=0.02, pi_decay=7.0, prior=prior.tolist())
    ta, tb = (pi_figure(t, animate=False).layout.title.text for t in (a, b))
    assert "ALSO" in ta and "η_π = 0.5" in ta and "τ = 0.3" in ta
    assert "η_π = 0.02" in tb and "τ = 7" in tb and "π̂ = (" in tb
    assert f"π = ({b.pi[-1][0]:.3f}, {b.pi[-1][1]:.3f}, {b.pi[-1][2]:.3f})" in tb
    names = [t.name for t in bands(pi_figure(a, animate=False, group_names=["big", "mid", "small"]))]
    assert names == ["big", "mid", "small"]


def test_solution_marked_and_distance_in_caption(P, also, sol):
    fig = pi_figure(also, problem=P, solution=sol, animate=False)
    star = next(t for t in fig.data if t.name == "★ DRO")
    np.testing.assert_array_equal([star.x[0], star.y[0]], sol.theta)
    pstar = next(t for t in fig.data if t.name == "★ π* (DRO)")
    np.testing.assert_array_equal([pstar.a[0], pstar.b[0], pstar.c[0]], sol.pi)
    erm = next(t for t in fig.data if t.name == "★ ERM")
    np.testing.assert_array_equal([erm.x[0], erm.y[0]], P.minimizers[0])
    assert "‖θ − θ*‖" in fig.layout.title.text


def window_exit(points, window):
    (x0, x1), (y0, y1) = window
    inside = (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
    return int(np.flatnonzero(inside)[-1]) + 1


def test_diverging_run_is_labelled(P, prior, omp):
    bad = run(P, OptimisticMirrorProx, P.start, STEPS, n_groups=3, lr=2.5, pi_lr=0.5, pi_decay=TAU,
              prior=prior.tolist())
    pts = bad.points[:, 0]
    d = window_exit(pts, P.window)                              # where it leaves the window for good
    if bad.diverged_at[0] >= 0:
        d = min(d, int(bad.diverged_at[0]))
    assert 0 < d < STEPS
    fig = pi_figure(bad, problem=P, animate=False)
    labelled = [t for t in fig.data if t.text is not None and "расходится" in list(t.text)]
    assert len(labelled) == 2                                   # on the path and on the π panel
    assert f"расходится на шаге {d}" in fig.layout.title.text
    mark = next(t for t in labelled if t.type == "scatter" and t.mode == "markers+text")
    (x0, x1), (y0, y1) = P.window
    assert x0 <= mark.x[0] <= x1 and y0 <= mark.y[0] <= y1     # written where it leaves the window
    race = dro_race_figure(P, [omp, bad], animate=False)
    assert sum("расходится" in list(t.text or []) for t in race.data) == 1
    assert "расходится" in race.layout.title.text
    # a converging run has no label
    assert not any("расходится" in list(t.text or []) for t in pi_figure(omp, problem=P, animate=False).data)


def test_pi_figure_refuses_what_it_cannot_draw(adam, also, P):
    with pytest.raises(ValueError, match="нет весов групп π"):
        pi_figure(adam)
    many = run(P, ALSO, np.array([P.start, P.start]), 3, n_groups=3, lr=0.05)
    with pytest.raises(ValueError, match="trace.select"):
        pi_figure(many)
    with pytest.raises(ValueError, match="step"):
        pi_figure(also, animate=False, step=STEPS + 1)


def test_four_groups_without_a_problem():
    K, G = 12, 4
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(G), K + 1)
    tr = Trace(points=np.zeros((K + 1, 1, 2)), loss=np.zeros((K + 1, 1)), grad_norm=np.zeros((K + 1, 1)),
               step_size=np.zeros((K, 1)), diverged_at=np.array([-1]), pi=pi, method="ALSO",
               hyper={"pi_lr": 0.1, "pi_decay": 0.01})
    L = rng.uniform(0.5, 2.0, (K + 1, G))
    fig = pi_figure(tr, group_losses=L, max_frames=5)
    assert not any(t.type == "scatterternary" for t in fig.data)       # no simplex for four groups
    assert len(bands(fig)) == G and len(fig.frames) == 5
    assert [frame_step(f) for f in fig.frames] == list(frame_steps(K, 5))
    last = fig.frames[-1]
    ys = [last.data[list(last.traces).index(i)].y for i, t in enumerate(fig.data) if t.stackgroup == "pi"]
    np.testing.assert_array_equal([y[-1] for y in ys], pi[-1])


# ----------------------------------------------------------------------------- ERM vs DRO race
def test_race_figure(P, also, omp, adam, sol):
    fig = dro_race_figure(P, [also, omp, adam], solution=sol, max_frames=10)
    assert "ERM против DRO" in fig.layout.title.text
    for name in ("ALSO", "Mirror-Prox", "Adam"):
        assert name in fig.layout.title.text
    # one moving ternary point per DRO method (Adam has no π), π* ★ on the simplex
    tern_markers = [t for t in fig.data if t.type == "scatterternary" and t.mode == "markers" and not t.name.startswith("★")]
    assert len(tern_markers) == 2
    pstar = next(t for t in fig.data if t.name == "★ π* (DRO)")
    np.testing.assert_array_equal([pstar.a[0], pstar.b[0], pstar.c[0]], sol.pi)
    for f in fig.frames:
        k = frame_step(f)
        for tr in (also, omp, adam):
            label_start = tr.method if tr.method != "OptimisticMirrorProx" else "Mirror-Prox"
            head = frame_trace(fig, f, lambda t, s=label_start: t.type == "scatter" and t.mode == "markers"
                               and t.name.startswith(s))
            np.testing.assert_array_equal([head.x[0], head.y[0]], tr.points[k, 0])
        also_pt = frame_trace(fig, f, lambda t: t.type == "scatterternary" and t.mode == "markers"
                              and t.name.startswith("ALSO"))
        np.testing.assert_array_equal([also_pt.a[0], also_pt.b[0], also_pt.c[0]], also.pi[k])
    with pytest.raises(ValueError, match="одинаковое число шагов"):
        dro_race_figure(P, [also, run(P, Adam, P.start, 3, lr=0.1)])


# ------------------------------------------------------------------------------- landscapes
@pytest.fixture(scope="module")
def digits():
    x, y = ls.digits_data(dtype=torch.float64)
    model = ls.digits_mlp((16,), seed=0, dtype=torch.float64)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = AdamW(model.parameters(), lr=1e-2)
    traj = [start]
    for k in range(30):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if (k + 1) % 5 == 0:
            traj.append({n: p.detach().clone() for n, p in model.named_parameters()})
    return model, (x, y), traj


@pytest.fixture(scope="module")
def pca_plane(digits):
    model, data, traj = digits
    pca = ls.pca_directions(traj, model=model, warn_below=0.0)
    alphas = np.linspace(-1.2, 0.3, 7) * np.abs(pca.coords[:, 0]).max()
    betas = np.linspace(-1.0, 1.0, 6) * max(np.abs(pca.coords[:, 1]).max(), 1e-3)
    plane = ls.loss_plane(model, data, pca, alphas=alphas, betas=betas, subset=64, progress=False)
    return pca, plane


@pytest.fixture(scope="module")
def random_plane(digits):
    model, data, _ = digits
    return ls.loss_plane(model, data, alphas=np.linspace(-1, 1, 5), betas=np.linspace(-1, 1, 4), subset=64,
                         progress=False)


def test_plane_contour_draws_the_loss_and_the_pca_path(digits, pca_plane):
    model, (x, y), _ = digits
    pca, plane = pca_plane
    fig = plane_figure(plane, trajectory=pca)
    c = next(t for t in fig.data if t.type == "contour")
    np.testing.assert_array_equal(np.asarray(c.z), plane.loss)
    np.testing.assert_array_equal(c.x, plane.alphas)
    np.testing.assert_array_equal(c.y, plane.betas)
    # z[j][i] is L(w0 + α_i d1 + β_j d2): recompute one node with a plain forward pass
    i, j = 2, 4
    w = {n: pca.center[n] + plane.alphas[i] * pca.directions[0][n] + plane.betas[j] * pca.directions[1][n]
         for n in pca.center}
    idx = torch.as_tensor(plane.info.subset)
    out = torch.func.functional_call(model, w, (x[idx],))
    assert float(F.cross_entropy(out, y[idx])) == pytest.approx(float(np.asarray(c.z)[j][i]), rel=1e-9)
    path = next(t for t in fig.data if t.name == "траектория (проекция)")
    np.testing.assert_array_equal(path.x, pca.coords[:, 0])
    np.testing.assert_array_equal(path.y, pca.coords[:, 1])
    # the default trajectory of a PCA plane is its own path
    path2 = next(t for t in plane_figure(plane).data if t.name == "траектория (проекция)")
    np.testing.assert_array_equal(path2.x, pca.coords[:, 0])
    title = fig.layout.title.text
    r = pca.explained_variance_ratio
    for v in (r[0], r[1], r[0] + r[1]):
        assert f"{100 * v:.1f} %" in title
    assert "PCA" in title and "учитываются все параметры" in title


def test_plane_surface_lifts_the_path(pca_plane):
    pca, plane = pca_plane
    fig = plane_figure(plane, kind="surface", trajectory=pca.coords)
    s = next(t for t in fig.data if t.type == "surface")
    np.testing.assert_array_equal(np.asarray(s.z), plane.loss)
    p3 = next(t for t in fig.data if t.type == "scatter3d")
    np.testing.assert_array_equal(p3.x, pca.coords[:, 0])
    np.testing.assert_array_equal(p3.y, pca.coords[:, 1])
    h = trajectory_heights(plane, pca.coords)
    assert np.all(np.asarray(p3.z) >= h) and np.all(np.asarray(p3.z) - h < 0.05 * np.ptp(plane.loss))
    assert "поверхность" in fig.layout.title.text
    # bilinear heights: exact at the nodes, the mean of the four corners at a cell centre
    A, B = np.meshgrid(plane.alphas, plane.betas)
    np.testing.assert_allclose(trajectory_heights(plane, np.c_[A.ravel(), B.ravel()]), plane.loss.ravel(), rtol=1e-12)
    mid = np.array([[(plane.alphas[1] + plane.alphas[2]) / 2, (plane.betas[0] + plane.betas[1]) / 2]])
    corners = plane.loss[0:2, 1:3].mean()
    assert trajectory_heights(plane, mid)[0] == pytest.approx(corners, rel=1e-12)
    logfig = plane_figure(plane, kind="surface", log_z=True)
    np.testing.assert_allclose(np.asarray(logfig.data[0].z), np.log10(plane.loss))
    with pytest.raises(ValueError, match="kind"):
        plane_figure(plane, kind="heatmap")


def test_random_plane_caption_names_ignored_parameters(random_plane, pca_plane):
    fig = plane_figure(random_plane)
    title = fig.layout.title.text
    assert "не учитываются (смещения и BN): 0.bias, 2.bias" in title
    assert "по фильтрам" in title and "5×4" in title and "64 примеров" in title
    assert not any(t.name == "траектория (проекция)" for t in fig.data)
    # PCA coordinates belong to the PCA plane only
    with pytest.raises(ValueError, match="PCA"):
        plane_figure(random_plane, trajectory=pca_plane[0])
    coords = np.array([[0.1, 0.2], [0.0, 0.0]])
    path = next(t for t in plane_figure(random_plane, trajectory=coords).data if t.name == "траектория (проекция)")
    np.testing.assert_array_equal(path.x, coords[:, 0])
    assert plane_caption(random_plane) in title


def test_line_figure_lines_and_interpolation(digits):
    model, (x, y), traj = digits
    line = ls.loss_line(model, (x, y), alphas=np.linspace(-1, 1, 9), subset=64, progress=False)
    a = ls.digits_mlp((16,), seed=0, dtype=torch.float64)
    a.load_state_dict(traj[0], strict=False)
    inter = ls.interpolate(a, model, (x, y), ts=np.linspace(-0.5, 1.5, 9), subset=64, progress=False)
    fig = line_figure([line, inter], log_y=True)
    curves = [t for t in fig.data if t.mode == "lines"]
    np.testing.assert_array_equal(curves[0].x, line.alphas)
    np.testing.assert_array_equal(curves[0].y, line.loss)
    np.testing.assert_array_equal(curves[1].x, inter.ts)
    np.testing.assert_array_equal(curves[1].y, inter.loss)
    assert fig.layout.yaxis.type == "log"
    ends = next(t for t in fig.data if list(t.text or []) == ["A", "B"])
    idx = torch.as_tensor(inter.info.subset)
    with torch.no_grad():
        la = float(F.cross_entropy(a(x[idx]), y[idx]))
        lb = float(F.cross_entropy(model(x[idx]), y[idx]))
    assert ends.y[0] == pytest.approx(la, rel=1e-9) and ends.y[1] == pytest.approx(lb, rel=1e-9)
    title = fig.layout.title.text
    assert "0.bias, 2.bias" in title and "‖w<sub>B</sub> − w<sub>A</sub>‖" in title
    # two interpolations: each distance is named after its curve
    b = ls.digits_mlp((16,), seed=0, dtype=torch.float64)
    b.load_state_dict(traj[len(traj) // 2], strict=False)
    inter2 = ls.interpolate(b, model, (x, y), ts=np.linspace(0, 1, 5), subset=64, progress=False)
    two = line_figure([inter, inter2], labels=["старт → конец", "середина → конец"]).layout.title.text
    assert f"старт → конец: ‖w<sub>B</sub> − w<sub>A</sub>‖ = {fmt_num(inter.distance)}" in two
    assert f"середина → конец: ‖w<sub>B</sub> − w<sub>A</sub>‖ = {fmt_num(inter2.distance)}" in two
    assert inter.distance != pytest.approx(inter2.distance)
    # single line: its own title; log_y with a non-positive loss falls back to linear, says so
    assert "L(w₀ + α·d)" in line_figure(line).layout.title.text
    neg = ls.LineResult(line.alphas, line.loss - 10.0, None, line.direction, line.info)
    fneg = line_figure(neg, log_y=True)
    assert fneg.layout.yaxis.type == "linear" and "лог. шкала недоступна" in fneg.layout.title.text
    with pytest.raises(ValueError, match="LineResult"):
        line_figure([np.zeros(3)])


def test_matplotlib_versions(digits, pca_plane):
    from matplotlib.figure import Figure

    model, data, _ = digits
    pca, plane = pca_plane
    fig = plane_figure_mpl(plane)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    path = next(ln for ln in ax.get_lines() if ln.get_label() == "траектория (проекция)")
    np.testing.assert_array_equal(path.get_xdata(), pca.coords[:, 0])
    np.testing.assert_array_equal(path.get_ydata(), pca.coords[:, 1])
    r = pca.explained_variance_ratio
    assert f"{100 * r[0]:.1f} %" in ax.get_title(loc="left") and "PCA" in fig._suptitle.get_text()
    line = ls.loss_line(model, data, alphas=np.linspace(-1, 1, 7), subset=64, progress=False)
    lf = line_figure_mpl(line, log_y=True)
    ln = lf.axes[0].get_lines()[0]
    np.testing.assert_array_equal(ln.get_xdata(), line.alphas)
    np.testing.assert_array_equal(ln.get_ydata(), line.loss)
    assert lf.axes[0].get_yscale() == "log"
    for f in (fig, lf):
        buf = io.BytesIO()
        f.savefig(buf, format="png", dpi=40)
        assert buf.getvalue()[:4] == b"\x89PNG"


def test_divergence_label_sits_on_the_window_border(P):
    K = 6
    pts = np.zeros((K + 1, 1, 2))
    pts[1:, 0] = [10.0, 1.0]                                  # jumps out at step 1 and stays out
    pi = np.full((K + 1, 3), 1 / 3)
    tr = Trace(points=pts, loss=np.zeros((K + 1, 1)), grad_norm=np.zeros((K + 1, 1)), step_size=np.zeros((K, 1)),
               diverged_at=np.array([-1]), pi=pi, method="ALSO", hyper={})
    fig = pi_figure(tr, problem=P, animate=False)
    mark = next(t for t in fig.data if t.type == "scatter" and t.mode == "markers+text" and list(t.text) == ["расходится"])
    x1 = P.window[0][1]
    assert mark.x[0] == pytest.approx(x1) and mark.y[0] == pytest.approx(x1 / 10.0)  # on the segment (0,0)→(10,1)
    assert "расходится на шаге 1" in fig.layout.title.text
