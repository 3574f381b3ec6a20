"""The torch.optim protocol, for SGD and every method of optviz.optim.adaptive.

state_dict round trips, LR schedulers, closures, dtypes and devices, validation of every
hyperparameter with a Russian message, and the non-finite gradient policy. References are an
uninterrupted run, torch.optim with the same scheduler, and snapshots taken before a bad step.
"""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch

from optviz._checks import NonFiniteGradientError
from optviz.optim.adaptive import Adagrad, Adam, AdamW, RMSProp
from optviz.optim.sgd import SGD

# name -> (our class, torch's class, hyperparameters exercising the optional state)
METHODS = {
    "sgd": (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    "adagrad": (Adagrad, torch.optim.Adagrad, dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1)),
    "rmsprop": (RMSProp, torch.optim.RMSprop, dict(lr=1e-2, centered=True, momentum=0.5, weight_decay=1e-3)),
    "adam": (Adam, torch.optim.Adam, dict(lr=1e-2, amsgrad=True, weight_decay=1e-2)),
    "adamw": (AdamW, torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1)),
}
DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
ALL = pytest.mark.parametrize("method", list(METHODS))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: extra intra-op threads only add contention (40× slower on a busy 2-core box)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _train(model, loss_fn, opt, steps, scheduler=None):
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model).backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def _same(xs, ys) -> bool:
    return all(torch.equal(x, y) for x, y in zip(xs, ys, strict=True))


def _state_equal(a, b) -> bool:
    """Deep equality of (parts of) state dicts: tensors bitwise, everything else with ==."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_state_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_state_equal(x, y) for x, y in zip(a, b))
    return a == b


@ALL
@DTYPES
def test_state_dict_round_trip_continues_the_same_trajectory(method, dtype, mlp_problem):
    cls, _, kwargs = METHODS[method]
    model, loss_fn = mlp_problem(dtype)
    _train(model, loss_fn, cls(model.parameters(), **kwargs), 10)
    uninterrupted = _params(model)

    model, loss_fn = mlp_problem(dtype)
    opt = cls(model.parameters(), **kwargs)
    _train(model, loss_fn, opt, 4)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    fresh, _ = mlp_problem(dtype, seed=1)  # different weights, overwritten by the checkpoint
    fresh.load_state_dict(saved["model"])
    # a different lr on purpose: load_state_dict must restore the saved hyperparameters too
    opt2 = cls(fresh.parameters(), **dict(kwargs, lr=10 * kwargs["lr"]))
    opt2.load_state_dict(saved["opt"])
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    _train(fresh, loss_fn, opt2, 6)
    assert _same(_params(fresh), uninterrupted)


SCHEDULERS = {
    "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5),
    "cosine-restarts": lambda opt: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=7, eta_min=1e-4),
}


@ALL
@pytest.mark.parametrize("schedule", list(SCHEDULERS))
def test_lr_scheduler_drives_lr_as_for_torch(method, schedule, mlp_problem):
    cls, torch_cls, kwargs = METHODS[method]
    ours_model, loss_fn = mlp_problem(torch.float64)
    ref_model = copy.deepcopy(ours_model)
    ours = cls(ours_model.parameters(), **kwargs)
    ref = torch_cls(ref_model.parameters(), **kwargs)
    s_ours, s_ref = SCHEDULERS[schedule](ours), SCHEDULERS[schedule](ref)
    lrs = set()
    for _ in range(20):
        _train(ours_model, loss_fn, ours, 1, s_ours)
        _train(ref_model, loss_fn, ref, 1, s_ref)
        assert ours.param_groups[0]["lr"] == ref.param_groups[0]["lr"]
        lrs.add(ours.param_groups[0]["lr"])
        for a, b in zip(ours_model.parameters(), ref_model.parameters()):
            assert torch.allclose(a, b, rtol=0, atol=1e-12)
    assert len(lrs) > 3, "the schedule should actually have changed lr"


@ALL
@DTYPES
def test_step_with_closure_returns_loss(method, dtype, mlp_problem):
    cls, torch_cls, kwargs = METHODS[method]
    model, loss_fn = mlp_problem(dtype)
    ref_model = copy.deepcopy(model)
    opt, ref = cls(model.parameters(), **kwargs), torch_cls(ref_model.parameters(), **kwargs)

    def closure_for(m, o):
        def closure():  # LBFGS-style: the closure clears, evaluates and differentiates
            o.zero_grad()
            loss = loss_fn(m)
            loss.backward()
            return loss
        return closure

    for _ in range(5):
        expected = loss_fn(model).item()
        with torch.no_grad():  # the closure must still get gradients
            loss = opt.step(closure_for(model, opt))
        ref.step(closure_for(ref_model, ref))
        assert isinstance(loss, torch.Tensor) and loss.dtype == dtype
        assert loss.item() == expected
    for a, b in zip(model.parameters(), ref_model.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)
    assert opt.step() is None  # no closure: no loss


@pytest.mark.skipif(not torch.cuda.is_available(), reason="нужен CUDA")
@pytest.mark.cuda
@ALL
@DTYPES
def test_cuda_matches_torch_on_cuda(method, dtype, mlp_problem):
    cls, torch_cls, kwargs = METHODS[method]
    model, loss_fn = mlp_problem(dtype, device="cuda")
    ref_model = copy.deepcopy(model)
    opt = cls(model.parameters(), **kwargs)
    ref = torch_cls(ref_model.parameters(), foreach=False, **kwargs)
    for _ in range(50):
        _train(model, loss_fn, opt, 1)
        _train(ref_model, loss_fn, ref, 1)
    for p in model.parameters():
        assert all(v.device == p.device for v in opt.state[p].values() if isinstance(v, torch.Tensor))
    for a, b in zip(model.parameters(), ref_model.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-5 if dtype == torch.float32 else 1e-12)


INVALID = [
    (cls_name, kw, value, shown)
    for cls_name in METHODS
    for kw, value, shown in [("lr", -0.1, "lr"), ("lr", math.nan, "lr"),
                             ("lr", torch.tensor([[0.1], [-0.1]]), "lr"), ("weight_decay", -1e-3, "weight_decay")]
] + [
    ("sgd", "momentum", -0.5, "momentum"), ("sgd", "dampening", 1.5, "dampening"),
    ("adagrad", "lr_decay", -1.0, "lr_decay"), ("adagrad", "initial_accumulator_value", -1.0,
                                                 "initial_accumulator_value"),
    ("adagrad", "eps", 0.0, "eps"), ("adagrad", "eps", -1e-10, "eps"),
    ("rmsprop", "alpha", 1.0, "alpha"), ("rmsprop", "alpha", -0.1, "alpha"), ("rmsprop", "eps", 0.0, "eps"),
    ("rmsprop", "momentum", 1.0, "momentum"), ("rmsprop", "momentum", math.inf, "momentum"),
    ("adam", "betas", (1.0, 0.999), "betas[0]"), ("adam", "betas", (0.9, 1.0), "betas[1]"),
    ("adam", "betas", (-0.1, 0.9), "betas[0]"), ("adam", "betas", (0.9,), "betas"),
    ("adam", "betas", (0.9, math.nan), "betas[1]"), ("adam", "eps", 0.0, "eps"), ("adam", "eps", math.nan, "eps"),
    ("adamw", "betas", (0.9, 1.5), "betas[1]"), ("adamw", "eps", -1e-8, "eps"),
] + [(cls_name, "nonfinite", "ignore", "nonfinite") for cls_name in METHODS]


@pytest.mark.parametrize("method, kw, value, shown", INVALID)
def test_invalid_hyperparameter_raises_russian_value_error(method, kw, value, shown):
    cls, _, kwargs = METHODS[method]
    kwargs = dict(kwargs, nesterov=False) if method == "sgd" else dict(kwargs)
    kwargs[kw] = value
    with pytest.raises(ValueError) as err:
        cls([torch.zeros(2, requires_grad=True)], **kwargs)
    message = str(err.value)
    assert shown in message
    assert "должен" in message


@ALL
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nonfinite_gradient_raises_and_leaves_everything_untouched(method, bad, mlp_problem):
    cls, _, kwargs = METHODS[method]
    model, loss_fn = mlp_problem(torch.float64)
    opt = cls(model.parameters(), **kwargs)
    _train(model, loss_fn, opt, 3)
    before_params, before_state = _params(model), copy.deepcopy(opt.state_dict())
    opt.zero_grad()
    loss_fn(model).backward()
    model[2].weight.grad[0, 0] = bad
    with pytest.raises(NonFiniteGradientError):
        opt.step()
    assert _same(_params(model), before_params)
    assert _state_equal(opt.state_dict(), before_state)


@ALL
def test_nonfinite_gradient_skip_policy_skips_and_counts(method, mlp_problem):
    cls, _, kwargs = METHODS[method]
    model, loss_fn = mlp_problem(torch.float64)
    ref_model = copy.deepcopy(model)
    opt = cls(model.parameters(), **kwargs, nonfinite="skip")
    ref = cls(ref_model.parameters(), **kwargs)
    _train(model, loss_fn, opt, 3)
    _train(ref_model, loss_fn, ref, 3)

    def bad_closure():
        opt.zero_grad()
        loss = loss_fn(model) * math.nan
        loss.backward()
        return loss

    assert math.isnan(opt.step(bad_closure).item())  # the loss still comes back
    assert opt.skipped_steps == 1
    assert _same(_params(model), _params(ref_model))
    assert opt.state_dict()["optviz"]["skipped_steps"] == 1
    _train(model, loss_fn, opt, 3)
    _train(ref_model, loss_fn, ref, 3)
    assert _same(_params(model), _params(ref_model))  # the skipped step left no trace
    assert _state_equal(opt.state_dict()["state"], ref.state_dict()["state"])
