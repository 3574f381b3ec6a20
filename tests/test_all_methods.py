"""One protocol, every method: what a researcher dropping an optviz optimizer into a torch loop relies on.

For each class exported by ``optviz.optim`` (ALSO and Optimistic Mirror-Prox through their
``weighted_loss`` protocol): it is a ``torch.optim.Optimizer``; lr lives in ``param_groups`` so a
torch scheduler that sets it to zero freezes the parameters; ``step(closure)`` returns the closure's
loss; a checkpoint taken mid-run through ``torch.save``/``torch.load`` continues the identical
trajectory; float32 and float64 keep their dtype; CUDA (when present) matches the CPU run.
"""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import optviz.optim as oo

N_GROUPS = 3
METHODS = {
    "SGD": (oo.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    "Adagrad": (oo.Adagrad, dict(lr=0.05)),
    "RMSProp": (oo.RMSProp, dict(lr=1e-2, momentum=0.5, centered=True)),
    "Adam": (oo.Adam, dict(lr=1e-2, amsgrad=True)),
    "AdamW": (oo.AdamW, dict(lr=1e-2)),
    "Shampoo": (oo.Shampoo, dict(lr=1e-2, grafting="adam", start_preconditioning_step=3, precondition_frequency=2)),
    "L0L1GD": (oo.L0L1GD, dict(L0=4.0, L1=2.0)),
    "ALSO": (oo.ALSO, dict(n_groups=N_GROUPS, lr=1e-2, pi_lr=0.1)),
    "OptimisticMirrorProx": (oo.OptimisticMirrorProx, dict(n_groups=N_GROUPS, lr=0.05, pi_lr=0.1)),
}
ALL = pytest.mark.parametrize("name", list(METHODS))


def _data(dtype, device="cpu"):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(48, 6, generator=gen, dtype=dtype)
    y = torch.randint(0, N_GROUPS, (48,), generator=gen)
    return x.to(device), y.to(device)


def _model(dtype, device="cpu", seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, N_GROUPS)).to(dtype=dtype, device=device)


def _closure(model, opt, x, y):
    def closure():
        opt.zero_grad()
        losses = F.cross_entropy(model(x), y, reduction="none")
        loss = opt.weighted_loss(losses, groups=y) if hasattr(opt, "weighted_loss") else losses.mean()
        loss.backward()
        return loss
    return closure


def _train(model, opt, steps, data, scheduler=None):
    for _ in range(steps):
        _closure(model, opt, *data)()
        opt.step()
        if scheduler is not None:
            scheduler.step()


def _flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


@ALL
def test_is_a_torch_optimizer(name):
    cls, kwargs = METHODS[name]
    model = _model(torch.float64)
    opt = cls(model.parameters(), **kwargs)
    assert isinstance(opt, torch.optim.Optimizer)
    assert "lr" in opt.param_groups[0]


@ALL
def test_scheduler_setting_lr_to_zero_freezes_parameters(name):
    cls, kwargs = METHODS[name]
    data = _data(torch.float64)
    model = _model(torch.float64)
    opt = cls(model.parameters(), **kwargs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 if k < 5 else 0.0)
    _train(model, opt, 5, data, sched)
    assert opt.param_groups[0]["lr"] == 0.0
    moving = _flat(model)
    # optimistic methods hold the extrapolated point; with lr = 0 the base point no longer moves
    base = (lambda: _flat_base(opt, model)) if hasattr(opt, "base_point") else (lambda: _flat(model))
    _train(model, opt, 1, data, sched)
    frozen = base()
    _train(model, opt, 4, data, sched)
    assert torch.equal(base(), frozen)
    assert not torch.equal(moving, _flat(_model(torch.float64))), "the first steps must have moved"


def _flat_base(opt, model):
    with opt.base_point():
        return _flat(model)


@ALL
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_closure_loss_and_dtype(name, dtype):
    cls, kwargs = METHODS[name]
    data = _data(dtype)
    model = _model(dtype)
    opt = cls(model.parameters(), **kwargs)
    start = _flat(model)
    for _ in range(4):
        closure = _closure(model, opt, *data)
        loss = opt.step(closure)
        assert isinstance(loss, torch.Tensor) and loss.dtype == dtype and torch.isfinite(loss)
    after = _flat(model)
    assert after.dtype == dtype and torch.isfinite(after).all() and not torch.equal(after, start)
    for state in opt.state.values():
        for v in state.values() if isinstance(state, dict) else ():
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                assert v.dtype == dtype


@ALL
def test_checkpoint_resume_is_identical(name):
    cls, kwargs = METHODS[name]
    data = _data(torch.float64)
    model = _model(torch.float64)
    _train(model, cls(model.parameters(), **kwargs), 9, data)
    uninterrupted = _flat(model)

    model = _model(torch.float64)
    opt = cls(model.parameters(), **kwargs)
    _train(model, opt, 4, data)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=False)
    fresh = _model(torch.float64, seed=7)
    fresh.load_state_dict(ckpt["model"])
    opt2 = cls(fresh.parameters(), **kwargs)
    opt2.load_state_dict(ckpt["opt"])
    _train(fresh, opt2, 5, data)
    assert torch.equal(_flat(fresh), uninterrupted)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="нужна CUDA")
@ALL
def test_cuda_matches_cpu(name):
    cls, kwargs = METHODS[name]
    runs = {}
    for device in ("cpu", "cuda"):
        data = _data(torch.float64, device)
        model = _model(torch.float64, device)
        opt = cls(model.parameters(), **kwargs)
        _train(model, opt, 10, data)
        runs[device] = _flat(model).cpu()
    torch.testing.assert_close(runs["cuda"], runs["cpu"], rtol=1e-9, atol=1e-10)
