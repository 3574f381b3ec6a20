"""optviz.run: traces equal hand-written loops, batching and grids change nothing, divergence is contained."""

import functools
import math
import warnings

import numpy as np
import pytest
import torch

from optviz.optim.sgd import SGD
from optviz.problems.finite_sums import LinearRegression
from optviz.problems.toys import ExpCosh, Quadratic, Quartic, Rosenbrock
from optviz.run import GridResult, Trace, is_elementwise, run, run_grid

ROSEN = Rosenbrock()


def _hand_loop(f, x0, steps, make_opt):
    """Reference: the textbook torch loop with autograd, one start."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = make_opt([x])
    pts = [x.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        f.loss(x).backward()
        opt.step()
        pts.append(x.detach().clone())
    return torch.stack(pts).numpy()


@pytest.fixture(autouse=True)
def _no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# -- equality with hand loops ---------------------------------------------------------------------

@pytest.mark.parametrize("hyper", [dict(lr=1e-3), dict(lr=1e-3, momentum=0.9), dict(lr=5e-4, momentum=0.8, nesterov=True)])
def test_sgd_trace_equals_hand_loop(hyper):
    tr = run(ROSEN, SGD, ROSEN.start, 150, **hyper)
    ref = _hand_loop(ROSEN, ROSEN.start, 150, lambda p: torch.optim.SGD(p, **hyper))
    assert isinstance(tr, Trace) and tr.points.shape == (151, 1, 2)
    np.testing.assert_allclose(tr.path(0), ref, rtol=1e-11, atol=1e-12)  # analytic vs autograd gradient
    np.testing.assert_allclose(tr.loss[:, 0], ROSEN.value_np(ref), rtol=1e-13)
    np.testing.assert_allclose(tr.grad_norm[:, 0], np.linalg.norm(ROSEN.grad(ref).numpy(), axis=1), rtol=1e-12)
    assert tr.method == "SGD" and tr.problem == "rosenbrock" and tr.hyper["lr"] == hyper["lr"]
    assert (tr.diverged_at == -1).all() and tr.f_star == 0.0


def test_gd_effective_step_size_equals_lr():
    q = Quadratic(kappa=10, angle_deg=30)
    tr = run(q, SGD, q.starts, 100, lr=0.07)
    assert tr.step_size.shape == (100, 3)
    np.testing.assert_allclose(tr.step_size, 0.07, rtol=1e-10)


def test_torch_adam_matches_hand_loop_and_optviz_adam():
    tr = run(ROSEN, torch.optim.Adam, ROSEN.start, 200, lr=1e-2)
    ref = _hand_loop(ROSEN, ROSEN.start, 200, lambda p: torch.optim.Adam(p, lr=1e-2))
    np.testing.assert_allclose(tr.path(0), ref, rtol=1e-11, atol=1e-12)
    adam = pytest.importorskip("optviz.optim.adaptive").Adam
    np.testing.assert_allclose(run(ROSEN, adam, ROSEN.start, 200, lr=1e-2).points, tr.points, rtol=1e-12, atol=1e-14)


ADAPTIVE = ["Adagrad", "RMSProp", "Adam", "AdamW"]


@pytest.mark.parametrize("name", ADAPTIVE)
def test_optviz_adaptive_classes_run_batched_and_match_torch(name):
    mod = pytest.importorskip("optviz.optim.adaptive")
    cls = getattr(mod, name)
    torch_cls = getattr(torch.optim, {"RMSProp": "RMSprop"}.get(name, name))
    starts = np.array([[-1.2, 1.0], [1.5, -0.5], [0.0, 2.0]])
    assert is_elementwise(cls) and is_elementwise(torch_cls)
    ours = run(ROSEN, cls, starts, 120, lr=1e-2)
    theirs = run(ROSEN, torch_cls, starts, 120, lr=1e-2)
    np.testing.assert_allclose(ours.points, theirs.points, rtol=1e-12, atol=1e-13)


# -- batching and grids ----------------------------------------------------------------------------

@pytest.mark.parametrize("opt,hyper", [(SGD, dict(lr=1e-3, momentum=0.9)), (torch.optim.Adam, dict(lr=3e-2)),
                                       (torch.optim.RMSprop, dict(lr=1e-2, centered=True))])
def test_batched_starts_equal_separate_runs(opt, hyper):
    starts = np.array([[-1.2, 1.0], [1.5, 2.0], [0.3, -0.7], [-0.5, 2.5]])
    tr = run(ROSEN, opt, starts, 200, **hyper)
    assert tr.points.shape == (201, 4, 2)
    for i, s in enumerate(starts):
        single = run(ROSEN, opt, s, 200, **hyper)
        np.testing.assert_allclose(tr.points[:, i], single.points[:, 0], rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(tr.loss[:, i], single.loss[:, 0], rtol=1e-14, atol=1e-15)


def test_grid_equals_separate_runs_sgd():
    lrs, moms = np.array([1e-4, 5e-4, 1e-3]), np.array([0.0, 0.5, 0.9])
    g = run_grid(ROSEN, SGD, ROSEN.start, 120, grid={"lr": lrs, "momentum": moms})
    assert isinstance(g, GridResult) and g.shape == (3, 3) and g.trace.n_runs == 9
    for i, lr in enumerate(lrs):
        for j, mom in enumerate(moms):
            single = run(ROSEN, SGD, ROSEN.start, 120, lr=float(lr), momentum=float(mom))
            cell = g.trace.select(i * 3 + j)
            np.testing.assert_allclose(cell.points, single.points, rtol=1e-14, atol=1e-15)
            assert g.final_loss()[i, j] == pytest.approx(single.final_loss[0], rel=1e-13)
            assert cell.hyper["lr"][0] == lr and cell.hyper["momentum"][0] == mom


def test_grid_with_torch_optimizer_is_looped_and_equal():
    # torch.optim takes numbers only: the grid falls back to a loop, results identical
    g = run_grid(ROSEN, torch.optim.Adam, ROSEN.start, 60, grid={"lr": [1e-3, 1e-2], "beta1": [0.5, 0.9]})
    for i, lr in enumerate([1e-3, 1e-2]):
        for j, b1 in enumerate([0.5, 0.9]):
            ref = _hand_loop(ROSEN, ROSEN.start, 60, lambda p: torch.optim.Adam(p, lr=lr, betas=(b1, 0.999)))
            np.testing.assert_allclose(g.trace.points[:, 2 * i + j], ref, rtol=1e-11, atol=1e-12)


def test_grid_over_betas_with_optviz_adam_is_vectorised_and_equal():
    adam = pytest.importorskip("optviz.optim.adaptive").Adam
    g = run_grid(ROSEN, adam, ROSEN.start, 80, grid={"lr": [3e-3, 3e-2], "beta1": [0.0, 0.9], "beta2": [0.9, 0.999]})
    assert g.shape == (2, 2, 2)
    k = 0
    for lr in [3e-3, 3e-2]:
        for b1 in [0.0, 0.9]:
            for b2 in [0.9, 0.999]:
                ref = _hand_loop(ROSEN, ROSEN.start, 80, lambda p: torch.optim.Adam(p, lr=lr, betas=(b1, b2)))
                np.testing.assert_allclose(g.trace.points[:, k], ref, rtol=1e-11, atol=1e-12)
                k += 1


def test_rate_map_matches_theory_on_quadratic():
    q = Quadratic(kappa=10)
    lrs = np.array([0.05, q.optimal_step, 0.19, 0.25])
    g = run_grid(q, SGD, [2.0, 1.0], 60, grid={"lr": lrs})
    rho = g.rate()
    # f decreases by (max |1 − αλ|)² per step asymptotically
    expected = np.array([q.gd_step_rate(a) for a in lrs[:3]]) ** 2
    np.testing.assert_allclose(rho[:3], expected, rtol=0.05)
    assert g.diverged()[3] and rho[3] == np.inf
    assert g.steps_to(1e-6)[1] > 0 and g.steps_to(1e-6)[3] == -1


# -- divergence -----------------------------------------------------------------------------------

def test_divergence_marked_at_the_right_step_and_frozen():
    q = Quadratic(kappa=10)  # μ = 1, L = 10, window ±3 → box half-width 3e6
    x0 = np.array([0.0, 1.0])  # along the L-eigenvector: x_k = (1 − 10 lr)^k
    lrs = np.array([0.05, 0.5, 0.12])
    tr = run(q, SGD, x0, 60, lr=lrs)
    factor = abs(1 - 10 * 0.5)  # 4 per step
    k_out = next(k for k in range(60) if factor**k > 3e6)  # first iterate outside the box
    assert tr.diverged_at.tolist() == [-1, k_out, -1]
    frozen = tr.points[k_out - 1, 1]
    assert np.all(tr.points[k_out:, 1] == frozen)
    assert np.all(tr.loss[k_out:, 1] == tr.loss[k_out - 1, 1])
    assert np.all(tr.step_size[k_out:, 1] == 0)
    for i in (0, 2):  # other rows unaffected
        single = run(q, SGD, x0, 60, lr=float(lrs[i]))
        # (a tensor lr rounds like lr·d, a float lr like the fused add: equal up to the last bit)
        np.testing.assert_allclose(tr.points[:, i], single.points[:, 0], rtol=1e-13, atol=1e-17)
        assert single.diverged_at[0] == -1
    assert np.isfinite(tr.points).all() and np.isfinite(tr.loss).all()


@pytest.mark.parametrize("opt", [SGD, torch.optim.SGD, torch.optim.Adam])
def test_overflow_to_inf_is_contained(opt):
    f = ExpCosh()  # e^x overflows long before the box
    starts = np.array([[5.0], [1.0]])
    tr = run(f, opt, starts, 30, lr=50.0 if opt is not torch.optim.Adam else 300.0)
    assert tr.diverged_at[0] >= 1
    k = tr.diverged_at[0]
    assert np.all(tr.points[k:, 0] == tr.points[k - 1, 0]) and np.isfinite(tr.loss).all()


def test_adam_divergent_row_does_not_leak_into_others():
    adam = pytest.importorskip("optviz.optim.adaptive").Adam
    f = ExpCosh()
    starts = np.array([[700.0], [1.0], [-2.0]])  # e^700 is finite, its square is not: v = inf
    tr = run(f, adam, starts, 50, lr=0.1)
    assert tr.diverged_at[0] >= 0
    for i in (1, 2):
        single = run(f, adam, starts[i], 50, lr=0.1)
        np.testing.assert_array_equal(tr.points[:, i], single.points[:, 0])


def test_all_rows_diverging_stops_early_with_full_shapes():
    tr = run(Quadratic(kappa=10), SGD, [[1.0, 1.0], [2.0, -1.0]], 500, lr=1.0)
    assert (tr.diverged_at > 0).all() and tr.points.shape == (501, 2, 2) and tr.step_size.shape == (500, 2)
    assert np.isfinite(tr.points).all()


# -- optimizers with a global quantity, restarts, DRO ------------------------------------------------

def test_l0l1_is_looped_and_records_its_own_step_size():
    l0l1 = pytest.importorskip("optviz.optim.l0l1")
    f = Quartic()
    tr = run(f, l0l1.L0L1GD, 10.0, 3, L0=f.L0, L1=f.L1)
    np.testing.assert_allclose(tr.points[1:, 0, 0], [9.50025, 9.00054, 8.50088], atol=5e-6)  # methods.md
    np.testing.assert_allclose(tr.step_size[:, 0], 1 / (f.L0 + f.L1 * tr.grad_norm[:-1, 0]), rtol=1e-12)
    assert not is_elementwise(l0l1.L0L1GD)
    starts = np.array([[10.0], [0.5]])
    both = run(f, l0l1.L0L1GD, starts, 20, L0=4.0, L1=2.0)  # a global norm: must not be batched
    for i in range(2):
        np.testing.assert_allclose(both.points[:, i], run(f, l0l1.L0L1GD, starts[i], 20, L0=4.0, L1=2.0).points[:, 0])


def test_restarts_wrapper_records_restart_steps():
    restarts = pytest.importorskip("optviz.optim.restarts")
    q = Quadratic(kappa=100)
    factory = lambda p: restarts.Restarts(SGD(p, lr=1 / q.L, momentum=0.9), "period", period=25)  # noqa: E731
    tr = run(q, factory, q.start, 100)
    assert tr.restarts == [25, 50, 75, 100]
    assert "Restarts" in tr.method
    fs = lambda p: restarts.Restarts(SGD(p, lr=1 / q.L, momentum=0.95), "function")  # noqa: E731
    tr2 = run(q, fs, q.start, 200)
    assert len(tr2.restarts) > 0  # heavy momentum on κ = 100 ripples, so f increases at some step
    # the function scheme: step j is handed f(x_{j-1}) (the loss its gradient was taken at), so it
    # restarts at step k + 1 exactly when the recorded loss went up from x_{k-1} to x_k
    ups = [k + 1 for k in range(1, 200) if tr2.loss[k, 0] > tr2.loss[k - 1, 0]]
    assert tr2.restarts == ups


class _ToyGroups:
    """A minimal 2-D group problem: squared distances to 5 points in 2 groups."""

    name, dim, window, f_star = "toy_groups", 2, ((-3.0, 3.0), (-3.0, 3.0)), float("nan")
    centers = torch.tensor([[1.0, 0.0], [1.5, 0.5], [0.5, -0.5], [-2.0, 1.0], [-1.5, 1.5]], dtype=torch.float64)
    groups = torch.tensor([0, 0, 0, 1, 1])
    n_groups = 2

    def losses(self, x):
        return 0.5 * ((x[..., None, :] - self.centers) ** 2).sum(-1)

    def loss(self, x):
        return self.losses(x).mean(-1)


def test_dro_path_records_pi_like_a_hand_loop():
    also = pytest.importorskip("optviz.optim.also")
    prob = _ToyGroups()
    hyper = dict(n_groups=2, lr=0.05, pi_lr=0.5, pi_decay=0.0)
    tr = run(prob, also.ALSO, [0.0, 2.0], 40, **hyper)
    x = torch.tensor([[0.0, 2.0]], dtype=torch.float64, requires_grad=True)
    opt = also.ALSO([x], **hyper)
    bases = [x.detach().clone()]
    for _ in range(40):
        opt.zero_grad()
        opt.weighted_loss(prob.losses(x).reshape(-1), groups=prob.groups).backward()
        opt.step()
        bases.append(opt.base_of(x).detach().clone())
    assert tr.pi.shape == (41, 2)
    np.testing.assert_allclose(tr.pi, opt.pi_history.numpy(), rtol=1e-14)
    np.testing.assert_allclose(tr.points[:, 0], torch.cat(bases).numpy(), rtol=1e-14)
    np.testing.assert_allclose(tr.pi.sum(1), 1, atol=1e-12)
    assert tr.pi[-1, 0] != tr.pi[0, 0]


def test_dro_path_with_the_course_toy_and_mirror_prox():
    dro_toy = pytest.importorskip("optviz.problems.dro_toy")
    mp = pytest.importorskip("optviz.optim.mirror_prox")
    p = dro_toy.DROToy()
    tr = run(p, mp.OptimisticMirrorProx, p.starts[:2], 30, n_groups=p.n_groups, lr=0.05, pi_lr=0.1)
    assert tr.pi.shape == (31, 2, p.n_groups) and tr.points.shape == (31, 2, 2)
    assert (tr.diverged_at == -1).all()
    np.testing.assert_allclose(tr.pi.sum(-1), 1, atol=1e-12)


# -- stochastic finite sums ---------------------------------------------------------------------------

def test_minibatch_run_equals_hand_loop_and_records_full_loss():
    prob = LinearRegression(n_samples=32, batch_size=4, seed=2)
    batches = prob.sample_batches(50, seed=7)
    tr = run(prob, SGD, prob.start, 50, lr=0.1, batches=batches)
    x = prob.start.copy()
    pts = [x]
    for b in batches:
        x = x - 0.1 * prob.grad(x, batch=b).numpy()
        pts.append(x)
    pts = np.array(pts)
    np.testing.assert_allclose(tr.path(0), pts, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(tr.loss[:, 0], prob.value_np(pts), rtol=1e-13)
    np.testing.assert_array_equal(tr.batches, batches)
    again = run(prob, SGD, prob.start, 50, lr=0.1, batches=4, seed=7)
    np.testing.assert_array_equal(again.points, tr.points)


# -- inputs -------------------------------------------------------------------------------------------

def test_input_forms_and_validation():
    assert run(Quartic(), SGD, 2.0, 3, lr=0.01).points.shape == (4, 1, 1)
    assert run(Quartic(), SGD, [2.0, -1.0, 0.5], 3, lr=0.01).points.shape == (4, 3, 1)
    assert run(lambda x: (x**2).sum(-1), SGD, [1.0, 1.0, 1.0], 5, lr=0.1).final.shape == (1, 3)
    assert run(ROSEN, functools.partial(SGD, lr=1e-3), ROSEN.start, 2).method == "SGD"
    with pytest.raises(ValueError, match="steps"):
        run(ROSEN, SGD, ROSEN.start, -1, lr=0.1)
    with pytest.raises(ValueError, match="x0"):
        run(ROSEN, SGD, [1.0, 2.0, 3.0], 5, lr=0.1)
    with pytest.raises(ValueError, match="x0"):
        run(ROSEN, SGD, [math.nan, 0.0], 5, lr=0.1)
    with pytest.raises(ValueError, match="одинаковую длину"):
        run(ROSEN, SGD, ROSEN.start, 5, lr=np.array([0.1, 0.2]), momentum=np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="стартовых точек"):
        run(ROSEN, SGD, np.zeros((3, 2)), 5, lr=np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="lr"):
        run(ROSEN, SGD, ROSEN.start, 5, lr=-1.0)
    with pytest.raises(ValueError, match="grid"):
        run_grid(ROSEN, SGD, ROSEN.start, 5, grid={})


def test_trace_summaries():
    tr = run(ROSEN, SGD, np.array([[-1.2, 1.0], [1.2, 1.2]]), 50, lr=1e-3)
    assert tr.steps == 50 and tr.n_runs == 2 and tr.dim == 2
    np.testing.assert_array_equal(tr.final, tr.points[-1])
    assert np.all(tr.best_loss <= tr.loss[0])
    np.testing.assert_allclose(ROSEN.value_np(tr.best_point), tr.best_loss)
    assert tr.select(1).points.shape == (51, 1, 2)
    assert "SGD" in repr(tr)


def test_matrix_aware_method_sees_a_vector_and_is_looped():
    shampoo = pytest.importorskip("optviz.optim.shampoo")
    q = Quadratic(kappa=50, angle_deg=30)
    shapes = []

    def factory(params, **hyper):
        shapes.append(tuple(params[0].shape))
        return shampoo.Shampoo(params, **hyper)

    tr = run(q, factory, q.starts[:2], 40, lr=0.1)
    assert shapes == [(2,), (2,)]  # one (d,) parameter per run: full-matrix preconditioning
    for i in range(2):
        x = torch.tensor(q.starts[i], requires_grad=True)
        opt = shampoo.Shampoo([x], lr=0.1)
        pts = [x.detach().clone()]
        for _ in range(40):
            opt.zero_grad()
            q.loss(x).backward()
            opt.step()
            pts.append(x.detach().clone())
        np.testing.assert_allclose(tr.points[:, i], torch.stack(pts).numpy(), rtol=1e-11, atol=1e-12)


def test_vector_valued_hyperparameters_are_not_sweeps():
    """A NumPy prior / pi_init is one vector for every run, not one value per run."""
    from optviz.optim import ALSO
    from optviz.problems import DROToy

    problem = DROToy()
    prior = np.asarray(problem.prior("inverse_frequency"), dtype=float)
    as_array = run(problem, ALSO, problem.start, 15, n_groups=problem.n_groups, lr=0.05, pi_lr=0.5,
                   prior=prior, pi_init=prior)
    as_list = run(problem, ALSO, problem.start, 15, n_groups=problem.n_groups, lr=0.05, pi_lr=0.5,
                  prior=prior.tolist(), pi_init=prior.tolist())
    assert as_array.n_runs == 1
    np.testing.assert_array_equal(as_array.pi, as_list.pi)
    np.testing.assert_array_equal(as_array.points, as_list.points)
