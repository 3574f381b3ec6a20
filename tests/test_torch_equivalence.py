"""Our SGD, Adagrad, RMSProp, Adam and AdamW reproduce torch.optim (methods.md, first table).

The reference is torch.optim itself, run in lockstep on the same problem: 200 steps on the 2-D
Rosenbrock function and on a small MLP, for several hyperparameter settings each, must agree to
1e-6 in float32 and 1e-12 in float64 at every step. Variants torch does not have (Adagrad with ε
inside the root, Adam without bias correction) are checked against hand-written formulas, and a
grid of runs with tensor hyperparameters against separate scalar runs.
"""

from __future__ import annotations

import copy

import pytest
import torch

from optviz.optim.adaptive import Adagrad, Adam, AdamW, RMSProp
from optviz.optim.sgd import SGD

STEPS = 200


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: extra intra-op threads only add contention (40× slower on a busy 2-core box)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """f(x, y) = (1 − x)² + 100 (y − x²)², summed over the rows of an (..., 2) tensor."""
    return ((1 - x[..., 0]) ** 2 + 100 * (x[..., 1] - x[..., 0] ** 2) ** 2).sum()


# (our class, torch class, hyperparameters other than lr); lr is set per problem below.
CASES = {
    "sgd": (SGD, torch.optim.SGD, {}),
    "sgd-momentum": (SGD, torch.optim.SGD, dict(momentum=0.9)),
    "sgd-nesterov": (SGD, torch.optim.SGD, dict(momentum=0.9, nesterov=True)),
    "sgd-dampening-wd": (SGD, torch.optim.SGD, dict(momentum=0.8, dampening=0.5, weight_decay=0.1)),
    "sgd-maximize": (SGD, torch.optim.SGD, dict(momentum=0.5, maximize=True)),
    "adagrad": (Adagrad, torch.optim.Adagrad, {}),
    "adagrad-lr_decay-wd": (Adagrad, torch.optim.Adagrad, dict(lr_decay=0.01, weight_decay=0.1)),
    "adagrad-init-eps": (Adagrad, torch.optim.Adagrad, dict(initial_accumulator_value=0.1, eps=1e-3)),
    "rmsprop": (RMSProp, torch.optim.RMSprop, {}),
    "rmsprop-centered": (RMSProp, torch.optim.RMSprop, dict(centered=True, alpha=0.9)),
    "rmsprop-momentum-wd": (RMSProp, torch.optim.RMSprop, dict(momentum=0.9, weight_decay=0.1)),
    "rmsprop-centered-momentum": (RMSProp, torch.optim.RMSprop, dict(centered=True, momentum=0.5, eps=1e-4)),
    "adam": (Adam, torch.optim.Adam, {}),
    "adam-amsgrad": (Adam, torch.optim.Adam, dict(amsgrad=True)),
    "adam-betas-wd": (Adam, torch.optim.Adam, dict(betas=(0.8, 0.99), weight_decay=0.1, eps=1e-6)),
    "adam-maximize": (Adam, torch.optim.Adam, dict(maximize=True)),
    "adamw": (AdamW, torch.optim.AdamW, {}),
    "adamw-amsgrad-wd": (AdamW, torch.optim.AdamW, dict(amsgrad=True, weight_decay=0.1)),
    "adamw-betas": (AdamW, torch.optim.AdamW, dict(betas=(0.5, 0.9), weight_decay=0.0)),
}
LR = {  # stable step sizes per problem (Rosenbrock's curvature at the start is ≈ 1300)
    "rosenbrock": {SGD: 2e-4, Adagrad: 0.1, RMSProp: 1e-3, Adam: 1e-2, AdamW: 1e-2},
    "mlp": {SGD: 0.1, Adagrad: 0.05, RMSProp: 1e-2, Adam: 1e-2, AdamW: 1e-2},
}


def _lockstep(params_a, loss_a, opt_a, params_b, loss_b, opt_b, steps=STEPS):
    """Run both optimizers; return (max difference over all steps, distance travelled by a)."""
    start = [p.detach().clone() for p in params_a]
    worst = 0.0
    for _ in range(steps):
        for opt, loss in ((opt_a, loss_a), (opt_b, loss_b)):
            opt.zero_grad()
            loss().backward()
            opt.step()
        worst = max(worst, max((a - b).abs().max().item() for a, b in zip(params_a, params_b)))
    moved = max((p - s).abs().max().item() for p, s in zip(params_a, start))
    assert all(torch.isfinite(p).all() for p in params_a), "trajectory diverged: the comparison is void"
    return worst, moved


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("problem", ["rosenbrock", "mlp"])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch_optim(case, problem, dtype, mlp_problem):
    ours_cls, torch_cls, kwargs = CASES[case]
    kwargs = dict(kwargs, lr=LR[problem][ours_cls])
    sign = -1 if kwargs.get("maximize") else 1  # maximize −f, which is minimising f
    if problem == "rosenbrock":
        x = torch.tensor([-1.2, 1.0], dtype=dtype, requires_grad=True)
        y = x.detach().clone().requires_grad_()
        pa, pb, la, lb = [x], [y], (lambda: sign * rosenbrock(x)), (lambda: sign * rosenbrock(y))
    else:
        ma, loss_fn = mlp_problem(dtype)
        mb = copy.deepcopy(ma)
        pa, pb = list(ma.parameters()), list(mb.parameters())
        la, lb = (lambda: sign * loss_fn(ma)), (lambda: sign * loss_fn(mb))
    worst, moved = _lockstep(pa, la, ours_cls(pa, **kwargs), pb, lb, torch_cls(pb, **kwargs))
    assert moved > 1e-2, "the parameters barely moved: the comparison would prove nothing"
    assert worst <= TOL[dtype]


def _quadratic_iterates(opt_cls, n=3, **kwargs):
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = opt_cls([x], **kwargs)
    out = []
    for _ in range(n):
        opt.zero_grad()
        (0.5 * x**2).sum().backward()
        opt.step()
        out.append(x.item())
    return out


def test_check_numbers_from_methods_md():
    """methods.md: on f = x²/2 from x₀ = 1, SGD(0.1) and Adam(0.1) give these iterates."""
    assert _quadratic_iterates(SGD, lr=0.1) == pytest.approx([0.9, 0.81, 0.729], abs=1e-15)
    assert _quadratic_iterates(Adam, lr=0.1) == pytest.approx(
        [0.900000001, 0.8004122297123382, 0.701586274504415], abs=1e-15)
    # AdamW without decay is Adam; the first Adam step is lr·g/(|g| + ε) ≈ lr
    assert _quadratic_iterates(AdamW, lr=0.1, weight_decay=0.0) == _quadratic_iterates(Adam, lr=0.1)


def test_rmsprop_first_step_is_lr_over_sqrt_one_minus_alpha():
    """No bias correction: the first RMSProp step is lr·sign(g)/√(1−α) = 10·lr at α = 0.99."""
    x = torch.tensor([3.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = RMSProp([x], lr=0.01, alpha=0.99, eps=1e-12)
    rosenbrock(x).backward()
    g = x.grad.clone()
    opt.step()
    assert torch.allclose(x.detach(), torch.tensor([3.0, -2.0], dtype=torch.float64) - 0.1 * g.sign(),
                          rtol=0, atol=1e-10)


def test_adagrad_eps_inside_root_matches_formula():
    """Lecture/d2l variant: s ← s + g², x ← x − lr_t·g/√(s + ε), written out by hand."""
    lr, lr_decay, wd, eps, s0 = 0.05, 0.02, 0.01, 1e-6, 0.3
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = Adagrad([x], lr=lr, lr_decay=lr_decay, weight_decay=wd, initial_accumulator_value=s0, eps=eps,
                  eps_inside_root=True)
    ref, s = x.detach().clone(), torch.full((2,), s0, dtype=torch.float64)
    for t in range(1, STEPS + 1):
        opt.zero_grad()
        rosenbrock(x).backward()
        opt.step()
        r = ref.clone().requires_grad_()
        rosenbrock(r).backward()
        g = r.grad + wd * ref
        s = s + g * g
        ref = ref - lr / (1 + (t - 1) * lr_decay) * g / torch.sqrt(s + eps)
        assert torch.allclose(x.detach(), ref, rtol=0, atol=1e-12)
    assert (x.detach() - torch.tensor([-1.2, 1.0], dtype=torch.float64)).abs().max() > 1e-2


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_without_bias_correction_matches_formula(amsgrad):
    """x ← x − lr·m/(√v + ε) with the raw moments (and v ← max(v̂, v) for AMSGrad)."""
    lr, b1, b2, eps = 1e-2, 0.9, 0.99, 1e-8
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = Adam([x], lr=lr, betas=(b1, b2), eps=eps, amsgrad=amsgrad, bias_correction=False)
    ref = x.detach().clone()
    m, v, vmax = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    for _ in range(STEPS):
        opt.zero_grad()
        rosenbrock(x).backward()
        opt.step()
        r = ref.clone().requires_grad_()
        rosenbrock(r).backward()
        m = b1 * m + (1 - b1) * r.grad
        v = b2 * v + (1 - b2) * r.grad**2
        vmax = torch.maximum(vmax, v)
        ref = ref - lr * m / ((vmax if amsgrad else v).sqrt() + eps)
        assert torch.allclose(x.detach(), ref, rtol=0, atol=1e-12)
    assert (x.detach() - torch.tensor([-1.2, 1.0], dtype=torch.float64)).abs().max() > 1e-2


# Tensor hyperparameters: one (N, 1) value per run of an (N, 2) grid of Rosenbrock points.
GRID = {
    "sgd": (SGD, torch.optim.SGD, dict(lr=[1e-4, 2e-4, 5e-4], momentum=[0.0, 0.5, 0.9])),
    "adagrad": (Adagrad, torch.optim.Adagrad, dict(lr=[0.01, 0.1, 0.3])),
    "rmsprop": (RMSProp, torch.optim.RMSprop, dict(lr=[1e-4, 1e-3, 3e-3], alpha=[0.9, 0.99, 0.5],
                                                   momentum=[0.0, 0.5, 0.9])),
    "adam": (Adam, torch.optim.Adam, dict(lr=[1e-3, 1e-2, 3e-2], betas=([0.0, 0.9, 0.5], [0.9, 0.999, 0.99]))),
    "adamw": (AdamW, torch.optim.AdamW, dict(lr=[1e-3, 1e-2, 3e-2], betas=([0.0, 0.9, 0.5], [0.9, 0.999, 0.99]),
                                             weight_decay=0.1)),
}


@pytest.mark.parametrize("case", list(GRID))
def test_tensor_hyperparameters_equal_separate_runs(case):
    ours_cls, torch_cls, grid = GRID[case]
    starts = torch.tensor([[-1.2, 1.0], [0.5, -0.5], [2.0, 2.0]], dtype=torch.float64)

    def column(v):
        return torch.tensor(v, dtype=torch.float64).reshape(-1, 1)

    def pick(v, i):
        return v if isinstance(v, float) else v[i]

    tensor_kwargs = {k: (tuple(column(b) for b in v) if k == "betas" else column(v) if isinstance(v, list) else v)
                     for k, v in grid.items()}
    x = starts.clone().requires_grad_()
    opt = ours_cls([x], **tensor_kwargs)
    singles = []
    for i in range(len(starts)):
        kw = {k: (tuple(b[i] for b in v) if k == "betas" else pick(v, i)) for k, v in grid.items()}
        xi = starts[i].clone().requires_grad_()
        singles.append((xi, torch_cls([xi], **kw)))
    for _ in range(STEPS):
        opt.zero_grad()
        rosenbrock(x).backward()
        opt.step()
        for xi, oi in singles:
            oi.zero_grad()
            rosenbrock(xi).backward()
            oi.step()
    expected = torch.stack([xi.detach() for xi, _ in singles])
    assert torch.isfinite(expected).all()
    assert torch.allclose(x.detach(), expected, rtol=0, atol=1e-12)
    assert (expected - starts).abs().max() > 1e-2
