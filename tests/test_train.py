"""optviz.train: the training loop, metrics, π, base point, restarts, checkpoints and exact resume.

The data is a small DataSplits-compatible stand-in built here from scikit-learn's digits
(groups = classes), so these tests do not depend on optviz.data; one test runs the real
``optviz.data.two_clients`` builder with a SplitModel when that module is available.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.metrics import f1_score
from torch import nn

from optviz.models import SplitModel, mlp
from optviz.optim.also import ALSO
from optviz.optim.mirror_prox import OptimisticMirrorProx
from optviz.optim.restarts import FixedPeriod, GradNormRatio, Restarts, ValLossIncrease
from optviz.train import TrainResult, evaluate, macro_f1, train, validation_gradient_norm


# ------------------------------------------------------------------------------ stand-in data
@dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor
    groups: torch.Tensor
    n_classes: int
    n_groups: int
    group_names: list
    client: torch.Tensor | None = None


@dataclass
class Splits:
    train: Split
    val: Split
    test: Split
    name: str
    info: dict = field(default_factory=dict)


_DIGITS = None


def digits_splits(n_train=600, n_val=300, n_test=300, client=False) -> Splits:
    """Digits, pixels in [0, 1], groups = classes (and client = y >= 5 when asked)."""
    global _DIGITS
    if _DIGITS is None:
        x, y = load_digits(return_X_y=True)
        _DIGITS = torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
    x, y = _DIGITS
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    names = [f"класс {c}" for c in range(10)]

    def make(idx):
        yy = y[idx]
        return Split(x[idx], yy, yy.clone(), 10, 10, names, (yy >= 5).long() if client else None)

    a, b = n_train, n_train + n_val
    return Splits(make(perm[:a]), make(perm[a:b]), make(perm[b:b + n_test]), "digits (тест)")


@pytest.fixture(scope="module")
def data():
    return digits_splits()


def adamw(params):
    return torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-2)


def adamw_fast(params):
    return torch.optim.AdamW(params, lr=1e-2, weight_decay=1e-2)


def also(params):
    return ALSO(params, n_groups=10, lr=3e-3, pi_lr=0.05, pi_decay=1e-3)


# ---------------------------------------------------------------------------------- metrics
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 6, size=200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 8, size=200))  # classes 6, 7 only predicted
    y_pred[y_pred == 3] = 4  # class 3 never predicted
    assert macro_f1(y_true, y_pred) == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0),
                                                     abs=1e-12)
    assert macro_f1(torch.tensor(y_true), torch.tensor(y_pred)) == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12)


def test_evaluate_matches_a_direct_computation(data):
    model = mlp(64, (16,), 10, seed=3)
    split = data.val
    res = evaluate(model, split, batch_size=37)  # odd batch size: the batching must not matter
    with torch.no_grad():
        out = model(split.x)
        losses = F.cross_entropy(out, split.y, reduction="none").double().numpy()
        pred = out.argmax(1).numpy()
    y, g = split.y.numpy(), split.groups.numpy()
    acc = [(pred[g == k] == y[g == k]).mean() for k in range(10)]
    loss = [losses[g == k].mean() for k in range(10)]
    np.testing.assert_allclose(res["group_acc"], acc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res["group_loss"], loss, rtol=1e-6)
    assert res["accuracy"] == pytest.approx((pred == y).mean(), abs=1e-12)
    assert res["loss"] == pytest.approx(losses.mean(), rel=1e-6)
    assert res["worst_group_acc"] == pytest.approx(min(acc)) and res["mean_group_acc"] == pytest.approx(np.mean(acc))
    assert res["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0), abs=1e-12)
    # a group without samples is NaN and is left out of the worst / mean
    sub = Split(split.x, split.y, torch.where(split.groups == 4, 3, split.groups), 10, 10, split.group_names)
    res2 = evaluate(model, sub)
    assert np.isnan(res2["group_acc"][4]) and res2["group_count"][4] == 0
    assert res2["mean_group_acc"] == pytest.approx(np.nanmean(res2["group_acc"]))


def test_validation_gradient_norm_is_the_full_batch_gradient(data):
    model = mlp(64, (16,), 10, dropout=0.3, seed=1)  # eval mode: dropout off
    norm = validation_gradient_norm(model, data.val, batch_size=64)
    model.eval()
    model.zero_grad()
    F.cross_entropy(model(data.val.x), data.val.y).backward()
    expected = torch.sqrt(sum(p.grad.double().pow(2).sum() for p in model.parameters()))
    assert norm == pytest.approx(float(expected), rel=1e-5)
    model.zero_grad(set_to_none=True)
    validation_gradient_norm(model, data.val)
    assert all(p.grad is None for p in model.parameters())  # .grad untouched


# ---------------------------------------------------------------------------- training loop
def test_train_adamw_learns_and_records(data, capsys):
    res = train(mlp(64, (32,), 10, seed=0), adamw_fast, data, epochs=3, batch_size=64, device="cpu")
    assert isinstance(res, TrainResult)
    assert list(res.epochs) == [0, 1, 2, 3]
    steps = 3 * int(np.ceil(600 / 64))
    assert res.step_loss.shape == (steps,)
    assert np.isnan(res.train["loss"][0]) and np.all(np.diff(res.train["loss"][1:]) < 0)
    for split in ("val", "test"):
        for k in ("loss", "accuracy", "mean_group_acc", "worst_group_acc", "macro_f1"):
            assert res.metrics[split][k].shape == (4,)
        assert res.metrics[split]["group_acc"].shape == (4, 10)
    acc = res.curve("val", "accuracy")
    assert acc[0] < 0.3 and acc[-1] > 0.8  # chance is 0.1
    # train loss of an epoch = mean of its step losses weighted by the batch sizes
    sizes = np.array(([64] * 9 + [600 - 9 * 64]) * 3, dtype=float)
    per_epoch = (res.step_loss * sizes).reshape(3, -1).sum(1) / 600
    np.testing.assert_allclose(res.train["loss"][1:], per_epoch, rtol=1e-12)
    assert res.pi is None and res.pi_steps is None
    # result helpers
    fin = res.final("test")
    assert fin["epoch"] == 3 and fin["accuracy"] == res.metrics["test"]["accuracy"][-1]
    best = res.best("val", "accuracy")
    assert best["value"] == pytest.approx(np.max(acc)) and "test" in best
    assert res.best("val", "loss")["value"] == pytest.approx(np.min(res.curve("val", "loss")))
    rows = res.to_records()
    assert len(rows) == 4 and rows[2]["val_accuracy"] == acc[2]
    again = TrainResult.from_dict(res.to_dict())
    np.testing.assert_array_equal(again.metrics["val"]["group_acc"], res.metrics["val"]["group_acc"])
    text = res.summary()
    assert "Итог (эпоха 3)" in text and "валидация" in text and "худшая группа" in text
    assert res.config["device"] == "cpu" and res.config["optimizer"] == "AdamW"
    assert capsys.readouterr().err == ""  # progress bars are quiet under pytest


def test_same_seed_same_run_other_seed_other_batches(data):
    def run(seed):
        return train(mlp(64, (16,), 10, seed=0), adamw, data, epochs=2, batch_size=64, seed=seed,
                     eval_sets=("val",))

    a, b, c = run(0), run(0), run(1)
    np.testing.assert_array_equal(a.step_loss, b.step_loss)
    np.testing.assert_array_equal(a.metrics["val"]["group_loss"], b.metrics["val"]["group_loss"])
    assert not np.array_equal(a.step_loss, c.step_loss)


def test_scheduler_factory_and_eval_subset(data):
    res = train(mlp(64, (16,), 10, seed=0), adamw, data, epochs=3, batch_size=128,
                scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
                eval_sets=("train", "val"), eval_subset=100)
    np.testing.assert_allclose(res.train["lr"], 3e-3 * 0.5 ** np.arange(4))
    assert res.metrics["train"]["group_acc"].shape == (4, 10)
    direct = evaluate(mlp(64, (16,), 10, seed=0), data.val, subset=100)
    assert res.metrics["val"]["loss"][0] == pytest.approx(direct["loss"])


def test_objective_protocol(data):
    class Weighted:
        """Static class weights: a stand-in for optviz.objectives (pi, after_step, state_dict)."""

        def __init__(self):
            self.w = torch.linspace(1.0, 2.0, 10)
            self.steps = 0

        @property
        def pi(self):
            return self.w / self.w.sum()

        def __call__(self, losses, groups):
            return (self.w[groups] * losses).sum() / self.w[groups].sum()

        def after_step(self):
            self.steps += 1

        def state_dict(self):
            return {"steps": self.steps}

        def load_state_dict(self, s):
            self.steps = s["steps"]

    obj = Weighted()
    res = train(mlp(64, (16,), 10, seed=0), adamw, data, epochs=2, batch_size=100, objective=obj,
                eval_sets=("val",))
    assert obj.steps == len(res.step_loss) == 12
    assert res.pi.shape == (3, 10) and res.pi_steps.shape == (13, 10)
    np.testing.assert_allclose(res.pi[-1], (obj.w / obj.w.sum()).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="weighted_loss"):
        train(mlp(64, (16,), 10), also, data, epochs=1, batch_size=64, objective=obj)


def test_argument_validation_russian(data):
    model = mlp(64, (8,), 10)
    with pytest.raises(ValueError, match="Параметр epochs"):
        train(model, adamw, data, epochs=-1, batch_size=8)
    with pytest.raises(ValueError, match="Параметр eval_sets"):
        train(model, adamw, data, epochs=1, batch_size=8, eval_sets=("validation",))
    with pytest.raises(ValueError, match="Параметр optimizer"):
        train(model, 0.1, data, epochs=1, batch_size=8)


# --------------------------------------------------------------------------------- ALSO, π
def test_also_pi_history_and_base_point_evaluation(data):
    model = mlp(64, (32,), 10, seed=0)
    opt = also(model.parameters())
    res = train(model, opt, data, epochs=3, batch_size=64)
    steps = len(res.step_loss)
    assert res.pi.shape == (4, 10) and res.pi_steps.shape == (steps + 1, 10)
    np.testing.assert_allclose(res.pi.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(res.pi_steps.sum(1), 1.0, atol=1e-6)
    # the trainer's π are the optimizer's own π_t (its history, one per iteration)
    np.testing.assert_allclose(res.pi_steps, opt.pi_history.double().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(res.pi[-1], opt.pi.double().numpy())
    assert np.abs(res.pi[-1] - 0.1).max() > 1e-3  # π moved away from uniform
    # the final metrics are those at the base point θ_t, not at the extrapolated parameters
    with opt.base_point():
        at_base = evaluate(model, data.val)
    at_extrapolated = evaluate(model, data.val)
    assert res.final("val")["loss"] == at_base["loss"]
    np.testing.assert_array_equal(res.metrics["val"]["group_acc"][-1], at_base["group_acc"])
    assert res.final("val")["loss"] != at_extrapolated["loss"]
    assert "Веса групп π" in res.summary()


def test_mirror_prox_extragradient_uses_the_closure_twice(data):
    calls = []

    def counting_loss(out, y):
        calls.append(1)
        return F.cross_entropy(out, y, reduction="none")

    model = mlp(64, (16,), 10, seed=0)
    opt = OptimisticMirrorProx(model.parameters(), n_groups=10, lr=0.1, mode="extragradient")
    res = train(model, opt, data, epochs=1, batch_size=100, loss=counting_loss, eval_sets=("val",))
    steps = len(res.step_loss)
    assert steps == 6 and opt.iteration == steps
    assert len(calls) == 2 * steps + 2  # two oracle calls per step + one evaluation batch before and after
    assert res.pi_steps.shape == (steps + 1, 10)


def test_regression_loss_reports_losses_only():
    gen = torch.Generator().manual_seed(0)
    x = torch.linspace(-3, 3, 200).reshape(-1, 1)
    y = torch.sin(x[:, 0]) + 0.5 * torch.cos(2 * x[:, 0]) + 0.1 * x[:, 0] ** 2 + 0.1 * torch.randn(200, generator=gen)
    half = torch.arange(200) % 2
    split = Split(x, y, (x[:, 0] > 0).long(), 1, 2, ["x ≤ 0", "x > 0"])
    tr = Split(x[half == 0], y[half == 0], split.groups[half == 0], 1, 2, split.group_names)
    va = Split(x[half == 1], y[half == 1], split.groups[half == 1], 1, 2, split.group_names)
    d = Splits(tr, va, va, "регрессия")
    model = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 1))
    res = train(model, lambda p: torch.optim.Adam(p, lr=1e-2), d, epochs=5, batch_size=20, loss="mse",
                eval_sets=("val",))
    m = res.metrics["val"]
    assert set(m) == {"loss", "group_loss"} and m["group_loss"].shape == (6, 2)
    assert m["loss"][-1] < 0.5 * m["loss"][0]
    with torch.no_grad():
        direct = float(((model(va.x)[:, 0] - va.y) ** 2).mean())
    assert m["loss"][-1] == pytest.approx(direct, rel=1e-6)
    assert np.isnan(res.train["accuracy"][-1]) and "Итог" in res.summary()


# --------------------------------------------------------------------------------- restarts
def test_restarts_val_loss_criterion_follows_recorded_losses(data):
    opt_factory = lambda p: Restarts(torch.optim.AdamW(p, lr=8e-2), ValLossIncrease(lag=1),
                                     reset=("moments", "step"))
    res = train(mlp(64, (32,), 10, seed=0), opt_factory, data, epochs=6, batch_size=64, eval_sets=("val",))
    v = res.curve("val", "loss")
    expected = [e for e in range(2, 7) if v[e] > v[e - 1]]  # the first observation (epoch 1) has no predecessor
    assert 0 < len(expected) < 5  # the run both fires and does not fire (lr chosen for that)
    assert res.restart_epochs == expected
    assert len(res.restart_steps) == len(expected)


def test_restarts_grad_norm_criterion_observes_validation_gradient(data):
    model = mlp(64, (32,), 10, seed=0)
    opt = Restarts(torch.optim.AdamW(model.parameters(), lr=1e-2), GradNormRatio(lag=1, threshold=1.0))
    res = train(model, opt, data, epochs=5, batch_size=64, eval_sets=("val",))
    gn = res.train["val_grad_norm"]
    assert np.all(np.isfinite(gn)) and np.all(gn > 0)
    assert gn[-1] == pytest.approx(validation_gradient_norm(model, data.val), rel=1e-6)
    expected = [e for e in range(2, 6) if gn[e] > 1.0 * gn[e - 1]]
    assert 0 < len(expected) < 4
    assert res.restart_epochs == expected
    assert opt.restart_steps == res.restart_steps


def test_restart_signal_options(data):
    # period in observe units: restarts after epochs 2 and 4
    opt_factory = lambda p: Restarts(torch.optim.AdamW(p, lr=1e-3), FixedPeriod(2, unit="observe"))
    res = train(mlp(64, (8,), 10, seed=0), opt_factory, data, epochs=4, batch_size=200, eval_sets=("val",))
    assert res.restart_epochs == [2, 4]
    res = train(mlp(64, (8,), 10, seed=0), opt_factory, data, epochs=4, batch_size=200, eval_sets=("val",),
                restart_signal="off")
    assert res.restart_epochs == [] and np.all(np.isnan(res.train["val_grad_norm"]))
    # an explicit signal is recorded for any optimizer
    res = train(mlp(64, (8,), 10, seed=0), adamw, data, epochs=2, batch_size=200, eval_sets=("test",),
                restart_signal="val_grad_norm")
    assert np.all(res.train["val_grad_norm"] > 0)


# -------------------------------------------------------------------------- checkpoint/resume
@pytest.mark.parametrize("factory", [adamw, also], ids=["AdamW", "ALSO"])
def test_resume_is_bitwise_exact(data, tmp_path, factory):
    small = digits_splits(n_train=300, n_val=100, n_test=100)

    def model():
        return mlp(64, (16,), 10, dropout=0.2, seed=0)  # dropout: the RNG state must be restored too

    kw = dict(batch_size=64, seed=7, eval_sets=("val",))
    m_full = model()
    full = train(m_full, factory, small, epochs=8, **kw)
    ck = tmp_path / "run.pt"
    m_a = model()
    first = train(m_a, factory, small, epochs=4, checkpoint=ck, **kw)
    assert len(first.epochs) == 5
    torch.manual_seed(999)  # disturb the global RNG: resume must not depend on it
    m_b = model()
    opt_b = factory(m_b.parameters())
    resumed = train(m_b, opt_b, small, epochs=8, resume=ck, checkpoint=ck, **kw)
    for p, q in zip(m_full.parameters(), m_b.parameters()):
        assert torch.equal(p, q)
    np.testing.assert_array_equal(full.step_loss, resumed.step_loss)
    np.testing.assert_array_equal(full.train["loss"], resumed.train["loss"])
    for k, v in full.metrics["val"].items():
        np.testing.assert_array_equal(v, resumed.metrics["val"][k])
    if full.pi is not None:
        np.testing.assert_array_equal(full.pi, resumed.pi)
        np.testing.assert_array_equal(full.pi_steps, resumed.pi_steps)
    # resume=True continues from `checkpoint` (already at epoch 8: nothing more to train)
    again = train(model(), factory, small, epochs=8, resume=True, checkpoint=ck, **kw)
    np.testing.assert_array_equal(again.metrics["val"]["loss"], full.metrics["val"]["loss"])
    with pytest.raises(ValueError, match="batch_size"):
        train(model(), factory, small, epochs=9, resume=ck, batch_size=32, seed=7, eval_sets=("val",))


# ----------------------------------------------------------------------------- split model
def test_split_model_training_routes_clients():
    d = digits_splits(n_train=400, n_val=200, n_test=200, client=True)
    torch.manual_seed(0)
    model = SplitModel(nn.Sequential(nn.Linear(64, 32), nn.ReLU()), [nn.Linear(32, 5), nn.Linear(32, 5)],
                       classes=[[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    res = train(model, adamw_fast, d, epochs=3, batch_size=64, eval_sets=("val",))
    # with the client known, a head only chooses among its own classes: accuracy well above 0.5
    assert res.final("val")["accuracy"] > 0.8
    assert res.final("val")["accuracy"] == pytest.approx(evaluate(model, d.val)["accuracy"])


def test_with_optviz_data_two_clients():
    data_mod = pytest.importorskip("optviz.data")
    if not hasattr(data_mod, "two_clients"):
        pytest.skip("optviz.data.two_clients ещё нет")
    d = data_mod.two_clients(delay=1, groups="clients", flatten=True)
    n_in = d.train.x[0].numel()
    torch.manual_seed(0)
    classes = d.info["client_classes"]
    model = SplitModel(nn.Sequential(nn.Flatten(), nn.Linear(n_in, 32), nn.ReLU()),
                       [nn.Linear(32, len(c)) for c in classes], classes=classes)
    res = train(model, lambda p: ALSO(p, n_groups=d.train.n_groups, lr=3e-3, pi_lr=0.02), d,
                epochs=2, batch_size=64, eval_sets=("val",))
    assert res.pi.shape == (3, 2) and res.metrics["val"]["group_acc"].shape == (3, 2)
    assert res.group_names == d.train.group_names


@pytest.mark.skipif(not torch.cuda.is_available(), reason="нужна CUDA")
def test_cuda_is_chosen_automatically(data):
    res = train(mlp(64, (16,), 10, seed=0), adamw, data, epochs=1, batch_size=64)
    assert res.config["device"].startswith("cuda")
