"""Lecture 10 helpers: the client schedule is the trainer's, π replayed from the losses is ALSO's π,
the KL worst case and the alternating fixed point against independent computations, the budget
and agreement numbers of the comparison, the explorers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optviz.course.lecture_10 import (
    agreement,
    agreement_text,
    alternating_equilibrium,
    budget_rows,
    client_data,
    clients_figure,
    comparison,
    equal_budget,
    join_explorer,
    kl_worst_case,
    pi_animation,
    pi_check,
    pi_from_losses,
    pi_strength_explorer,
    split_model,
    step_clients,
    train_clients,
)
from optviz.optim._functional import kl_mirror_step

EPOCHS = 4


@pytest.fixture(scope="module")
def run():
    return train_clients(1, "batch", epochs=EPOCHS, pi_lr=0.1, pi_decay=0.3)


def test_step_clients_are_the_batches_the_trainer_takes():
    data = client_data(2, "batch")
    cl = step_clients(data, 4, 64, seed=3)
    seen = [int(b.client[0]) for e in range(4) for b in data.train_batches(epoch=e, batch_size=64, seed=3)]
    batches = [b.client for e in range(4) for b in data.train_batches(epoch=e, batch_size=64, seed=3)]
    assert all(bool((b == b[0]).all()) for b in batches)        # one client per batch
    np.testing.assert_array_equal(cl, seen)
    n1 = math.ceil(int((data.train.client == 0).sum()) / 64)
    assert (cl[:2 * n1] == 0).all() and cl[2 * n1] == 0 and cl[2 * n1 + 1] == 1   # 2 epochs alone, then 1, 2, …
    np.testing.assert_array_equal(cl[2 * n1:2 * n1 + 6], [0, 1, 0, 1, 0, 1])
    ep = step_clients(client_data(1, "epoch"), 3, 64)
    n2 = math.ceil(int((client_data(1, "epoch").train.client == 1).sum()) / 64)
    np.testing.assert_array_equal(ep, [0] * n1 + [1] * n2 + [0] * n1)   # whole epochs: 1, then 2, then 1
    with pytest.raises(ValueError, match="alternate"):
        client_data(1, "sometimes")
    with pytest.raises(ValueError, match="расписания"):
        step_clients(object(), 2, 64)


def test_split_model_routes_each_client_to_its_head():
    data = client_data(2)
    m = split_model(data, hidden=8, seed=1)
    m2 = split_model(data, hidden=8, seed=1)
    x = data.val.x[:6]
    c = data.val.client[:6]
    out = m(x, client=c)
    torch.testing.assert_close(out, m2(x, client=c))                 # deterministic in the seed
    for i in range(6):
        cols = data.info["client_classes"][int(c[i])]
        other = [k for k in range(10) if k not in cols]
        assert torch.isfinite(out[i, cols]).all() and torch.isinf(out[i, other]).all()


def test_run_records_pi_and_it_equals_the_replayed_mirror_step(run):
    S = len(run.clients)
    assert run.pi.shape == (S + 1, 2) and run.step_loss.shape == (S,)
    assert run.epoch_end[-1] == S and len(run.epoch_end) == EPOCHS + 1
    replay = pi_from_losses(run.step_loss, run.clients, pi_lr=0.1, pi_decay=0.3)
    np.testing.assert_allclose(replay, run.pi, atol=2e-6)
    # the replay is sensitive to the losses: 1 % off is visible
    off = pi_from_losses(run.step_loss * 1.01, run.clients, pi_lr=0.1, pi_decay=0.3)
    assert np.abs(off - run.pi).max() > 1e-4
    chk = pi_check(run)
    assert chk["max_err"] < 2e-6
    # during the delay only client 1 gives a signal: π₂ falls; after the join π₂ rises (client 2 is harder)
    j = run.join_step
    assert (np.diff(run.pi[:j + 1, 1]) < 0).all()
    assert chk["pi2_join"] < 0.5 < chk["pi2_end"]
    assert chk["losses_last"][1] > chk["losses_last"][0]
    assert train_clients(1, "batch", epochs=EPOCHS, pi_lr=0.1, pi_decay=0.3) is run     # cached


def test_frozen_pi_stays_at_the_prior_and_differs_from_moving_pi():
    frozen = train_clients(1, "batch", epochs=2, pi_lr=0.0, pi_decay=5.0)
    assert frozen is train_clients(1, "batch", epochs=2, pi_lr=0.0, pi_decay=0.1)    # τ irrelevant
    np.testing.assert_allclose(frozen.pi, 0.5, atol=1e-5)
    assert "замороженным" in frozen.label
    moving = train_clients(1, "batch", epochs=2, pi_lr=0.3, pi_decay=0.3)
    j = moving.join_step
    np.testing.assert_allclose(moving.step_loss[0], frozen.step_loss[0], rtol=1e-6)   # same start
    assert np.abs(moving.step_loss[j:] - frozen.step_loss[j:]).max() > 1e-3


def test_pi_from_losses_matches_the_library_step_and_checks_input():
    rng = np.random.default_rng(0)
    loss = rng.uniform(0.1, 2.0, 30)
    cl = rng.integers(0, 3, 30)
    prior = np.array([0.2, 0.3, 0.5])
    ours = pi_from_losses(loss, cl, pi_lr=0.3, pi_decay=0.7, prior=prior, n_clients=3)
    pi = torch.tensor(prior, dtype=torch.float64)
    eps = float(torch.finfo(torch.float32).eps)
    for t in range(30):
        h = torch.zeros(3, dtype=torch.float64)
        h[cl[t]] = -3 * loss[t]
        pi = kl_mirror_step(pi, h, 0.3, decay=0.7, prior=torch.tensor(prior), eps=eps)
        np.testing.assert_allclose(ours[t + 1], pi.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="поровну"):
        pi_from_losses([1.0, 2.0], [0], pi_lr=0.1, pi_decay=0.1)
    with pytest.raises(ValueError, match="Номера клиентов"):
        pi_from_losses([1.0], [2], pi_lr=0.1, pi_decay=0.1)
    with pytest.raises(ValueError, match="prior"):
        pi_from_losses([1.0], [0], pi_lr=0.1, pi_decay=0.1, prior=[0.7, 0.7])
    with pytest.raises(ValueError, match="pi_lr"):
        pi_from_losses([1.0], [0], pi_lr=-1.0, pi_decay=0.1)


def test_kl_worst_case_is_the_maximiser():
    ell, tau, prior = np.array([0.3, 1.1]), 0.4, np.array([0.6, 0.4])
    star = kl_worst_case(ell, tau, prior)
    grid = np.linspace(1e-6, 1 - 1e-6, 200001)
    P = np.stack([1 - grid, grid], 1)
    value = P @ ell - tau * (P * np.log(P / prior)).sum(1)
    assert star[1] == pytest.approx(grid[np.argmax(value)], abs=1e-5)
    np.testing.assert_allclose(kl_worst_case(ell, 1e6, prior), prior, atol=1e-5)           # τ → ∞: π̂
    assert kl_worst_case(ell, 1e-3)[1] == pytest.approx(1.0)                              # τ → 0: worst
    with pytest.raises(ValueError, match="tau"):
        kl_worst_case(ell, 0.0)


def test_alternating_equilibrium_is_the_fixed_point_of_the_replay():
    l1, l2, eta, tau = 0.2, 0.9, 0.05, 0.3
    steps = 8000
    replay = pi_from_losses(np.where(np.arange(steps) % 2 == 0, l1, l2), np.arange(steps) % 2, pi_lr=eta,
                            pi_decay=tau, eps=0.0)
    eq = alternating_equilibrium(l1, l2, pi_lr=eta, pi_decay=tau)
    assert replay[-1, 1] == pytest.approx(eq["pi2_after_2"], abs=1e-9)   # the last step trained client 2
    assert replay[-2, 1] == pytest.approx(eq["pi2_after_1"], abs=1e-9)
    # small ητ: the cycle hugs the KL worst case
    small = alternating_equilibrium(l1, l2, pi_lr=1e-4, pi_decay=tau)
    assert small["pi2_after_2"] == pytest.approx(small["pi2_worst_case"], abs=1e-3)
    assert eq["pi2_worst_case"] == pytest.approx(kl_worst_case([l1, l2], tau)[1])


def test_figures_follow_the_run(run):
    fig = clients_figure(run)
    assert f"шаге {run.join_step + 1}" in fig.layout.title.text
    pi_traces = [t for t in fig.data if t.name and t.name.startswith("π: ")]
    np.testing.assert_allclose(pi_traces[1].y, run.pi[:, 1])
    anim = pi_animation(run, max_frames=10)
    assert 2 <= len(anim.frames) <= 10
    np.testing.assert_allclose(anim.frames[-1].data[0].y, run.pi[-1])


class _FakeHistory:
    def __init__(self, epochs):
        self.epochs = epochs


class _FakeRecord:
    def __init__(self, epochs):
        self.history = _FakeHistory(epochs)


class _FakeMethod:
    def __init__(self, mean, std, runs=(3, 2), epochs=5):
        self.summary = {"mean_acc": (mean, std)}
        self.trials = [_FakeRecord(epochs) for _ in range(runs[0])]
        self.seed_runs = [_FakeRecord(epochs) for _ in range(runs[1])]


class _FakeResult:
    def __init__(self, methods):
        self.comparison = type("C", (), {"methods": methods})()


def test_budget_and_agreement_on_a_known_table():
    from optviz.experiments.clients import SEEDS_TABLE

    same = {n: _FakeMethod(v, 0.01) for n, v in SEEDS_TABLE.items()}
    res = _FakeResult(same)
    assert equal_budget(res)
    assert budget_rows(res)[0]["Всего эпох"] == 25
    a = agreement(res)
    assert a["spearman"] == pytest.approx(1.0) and a["also_place"] == 1 == a["also_place_seeds"]
    assert a["also_minus_adamw"] == pytest.approx(0.6393 - 0.6067)
    rev = {n: _FakeMethod(-v, 0.5) for n, v in SEEDS_TABLE.items()}
    b = agreement(_FakeResult(rev))
    assert b["spearman"] == pytest.approx(-1.0) and b["also_place"] == 7
    assert len(b["within_noise"]) == 7                               # all within one std of the best
    text = agreement_text(_FakeResult(rev))
    assert "−1.00" in text.replace("-", "−") and "место 7 из 7" in text and "не воспроизвёлся" in text
    assert "почти тот же" in agreement_text(res)
    unequal = dict(same)
    unequal["DRAGO"] = _FakeMethod(0.3, 0.01, runs=(4, 2))
    assert not equal_budget(_FakeResult(unequal))
    with pytest.raises(ValueError, match="size"):
        comparison("huge")


def test_tiny_comparison_has_an_equal_budget():
    res = comparison("lecture", trials=1, epochs=1, seeds=(1,))
    assert equal_budget(res)
    assert {r["Всего эпох"] for r in budget_rows(res)} == {2}
    assert set(agreement(res)) >= {"spearman", "also_place", "within_noise"}


def test_explorers_update_and_have_static_figures():
    ex = join_explorer(epochs=3, delay=1)
    w = ex.widget
    before = w.layout.title.text
    ex.set(delay=2)
    assert ex.status.value == ""
    assert w.layout.title.text != before and "2 эпохи только клиент 1" in w.layout.title.text
    join = [tr for tr in w.data if tr.name == "подключение клиента 2"][0]
    first2 = int(np.flatnonzero(step_clients(client_data(2), 3, 64) == 1)[0])
    assert join.x[0] == first2 + 0.5                                   # the line sits at client 2's first step
    with pytest.raises(ValueError, match="delay"):
        ex.figure(delay=5)
    ex.set(delay=2, alternate="epoch")
    assert "эпохи чередуются" in w.layout.title.text
    assert len(ex.static_figure({"delay": [0, 1]}).frames) == 2
    sx = pi_strength_explorer(epochs=3, delay=1, pi_lr=0.05)
    fw = sx.widget
    pi_before = np.array(fw.data[2].y, dtype=float)
    sx.set(pi_lr=0.5)
    assert "η_π = 0.5" in fw.layout.title.text
    assert np.abs(np.array(fw.data[2].y, dtype=float) - pi_before).max() > 0.05
    assert len(sx.static_figure({"pi_lr": [0.01, 0.1]}).frames) == 2
    with pytest.raises(ValueError, match="pi_lr"):
        sx.figure(pi_lr=-1.0)
