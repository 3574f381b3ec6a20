"""Lecture 11 helpers: batched runs equal separate runs, the AlgoPerf protocol read off the curves,
schedules against closed forms, the scale-invariance equivalence, the explorers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from optviz.course.lecture_11 import (
    METHODS,
    fairness_scores,
    make_tasks,
    profile_explorer,
    ranking,
    run_benchmark,
    run_rows,
    scale_invariant_check,
    scale_invariant_figure,
    schedule_explorer,
    schedule_runs,
    schedule_values,
    steps_to_target,
    warmup_exponential,
)
from optviz.experiments.harness import sample_configs
from optviz.experiments.profiles import profile_score
from optviz.optim import Adam, L0L1GD
from optviz.problems import Rosenbrock
from optviz.run import run


@pytest.fixture(scope="module")
def tiny_tasks():
    tasks = make_tasks("tiny")
    return {t.name: t for t in tasks}


@pytest.fixture(scope="module")
def bench(tiny_tasks):
    methods = [METHODS[n] for n in ("SGD", "Adam", "L0L1GD")]
    return run_benchmark([tiny_tasks["quadratic"], tiny_tasks["exp_cosh"], tiny_tasks["mlp"]], methods,
                         trials=2, studies=3)


def test_rows_equal_separate_runs_of_optviz_run(tiny_tasks):
    task = tiny_tasks["rosenbrock"]
    cfgs = [{"lr": 0.01, "beta1": 0.9}, {"lr": 0.003, "beta1": 0.6}]
    curves = run_rows(task, METHODS["Adam"], cfgs, [0, 1], steps=40)
    for j, (cfg, seed) in enumerate(zip(cfgs, (0, 1))):
        x0 = task.init(seed)[0].numpy()
        tr = run(Rosenbrock(), Adam, x0, 40, lr=cfg["lr"], betas=(cfg["beta1"], 0.999))
        np.testing.assert_allclose(curves[:, j], tr.loss[:, 0], rtol=1e-10, atol=1e-12)
    cfgs = [{"L0": 2.0, "L1": 1.0}, {"L0": 20.0, "L1": 0.1}]
    curves = run_rows(tiny_tasks["exp_cosh"], METHODS["L0L1GD"], cfgs, [0, 3], steps=30)
    for j, (cfg, seed) in enumerate(zip(cfgs, (0, 3))):
        x0 = tiny_tasks["exp_cosh"].init(seed)[0].numpy()
        tr = run(_expcosh(), L0L1GD, x0, 30, **cfg)
        np.testing.assert_allclose(curves[:, j], tr.loss[:, 0], rtol=1e-10)


def _expcosh():
    from optviz.problems import ExpCosh

    return ExpCosh()


@pytest.mark.parametrize("name", ["Shampoo", "RMSProp"])
def test_mlp_rows_are_independent(tiny_tasks, name):
    task, m = tiny_tasks["mlp"], METHODS[name]
    cfgs = sample_configs(m.space, 3, seed=0)
    together = run_rows(task, m, cfgs, [0, 1, 2], steps=12)
    for j in range(3):
        alone = run_rows(task, m, cfgs[j:j + 1], [j], steps=12)
        np.testing.assert_allclose(together[:, j], alone[:, 0], rtol=2e-4)
    assert together[-1].min() < together[0].min()


def test_divergence_is_frozen_silently(tiny_tasks):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = run_rows(tiny_tasks["quadratic"], METHODS["SGD"], [{"lr": 5.0}, {"lr": 0.005}], [0, 0], steps=50)
    assert np.isinf(c[-1, 0]) and np.isfinite(c[:, 1]).all()
    assert c[-1, 1] < c[0, 1]
    with pytest.raises(ValueError, match="зерну"):
        run_rows(tiny_tasks["quadratic"], METHODS["SGD"], [{"lr": 0.1}], [0, 1])


def test_steps_to_target_by_hand():
    curves = np.array([[10.0, 10.0], [5.0, 9.0], [0.5, 8.0], [0.01, np.inf]])
    np.testing.assert_array_equal(steps_to_target(curves, 0.0, 0.1), [2.0, np.inf])
    np.testing.assert_array_equal(steps_to_target(curves + 1.0, 1.0, 2e-3), [3.0, np.inf])


def test_benchmark_follows_the_algoperf_protocol(bench):
    assert bench.tuned["quadratic"]["SGD"].shape == (bench.tasks[0].steps + 1, 3, 2)
    # study s uses sample_configs(space, trials, seed=s)
    assert bench.configs["mlp"]["Adam"][2:4] == sample_configs(METHODS["Adam"].space, 2, seed=1)
    tt = bench.trial_times(1e-2)
    manual = np.median(tt.min(axis=-1), axis=-1)
    np.testing.assert_array_equal(bench.times(1e-2), manual)
    np.testing.assert_array_equal(bench.times(1e-2, trials=1), np.median(tt[..., 0], axis=-1))
    # more trials can only help each study
    assert (bench.times(1e-2, trials=2) <= bench.times(1e-2, trials=1)).all()
    # the default run has 3K steps and starts where the tuned runs of the study start
    u = bench.untuned["quadratic"]["Adam"]
    assert u.shape == (3 * bench.tasks[0].steps + 1, 3)
    np.testing.assert_allclose(u[0], bench.tuned["quadratic"]["Adam"][0, :, 0])
    assert np.isfinite(bench.times(1e-2)).any()


def test_fairness_scores(bench):
    fs = fairness_scores(bench, "L0L1GD", target=1e-2)
    i = bench.method_names.index("L0L1GD")
    np.testing.assert_allclose(fs["fair"], profile_score(bench.times(1e-2)))
    same = bench.untuned_times(1e-2, budget=1.0)
    same[i] = bench.times(1e-2)[i]
    np.testing.assert_allclose(fs["unfair"], profile_score(same))
    with pytest.raises(ValueError, match="нет в таблице"):
        fairness_scores(bench, "Lion")
    assert ranking([0.2, 0.9, 0.2], ["a", "b", "c"]) == ["b", "a", "c"]
    scores = bench.study_scores(1e-2)
    assert scores.shape == (3, 3) and ((0 <= scores) & (scores <= 1)).all()


def test_schedule_values_closed_form():
    W, g, K = 4, 0.9, 12
    k = np.arange(K)
    expected = np.where(k < W, (k + 1) / (W + 1), g ** (k - W))
    np.testing.assert_allclose(schedule_values(0.5, g, W, K), 0.5 * expected, rtol=1e-12)
    np.testing.assert_allclose(schedule_values(1.0, g, 0, 5), g ** np.arange(5), rtol=1e-12)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="gamma"):
        warmup_exponential(opt, -0.5)


def test_schedule_runs_gamma_one_is_constant_and_decay_lowers_the_floor():
    same = schedule_runs(lr=0.05, gamma=1.0, warmup=0, steps=60, seeds=(0,))
    np.testing.assert_allclose(same["constant"], same["schedule"])
    r = schedule_runs(lr=0.3, gamma=0.98, warmup=0, steps=300, seeds=(0, 1))
    assert r["schedule"][-30:].mean() < 0.1 * r["constant"][-30:].mean()


def test_scale_invariant_equivalence():
    r = scale_invariant_check(steps=80)
    assert r["max_loss_diff"] < 1e-12 and r["max_point_diff"] < 1e-7
    assert r["gamma"] == pytest.approx((1 - 0.05 * 0.1) ** -2)
    assert r["wd_loss"][-1] < r["plain_loss"][-1]           # decay keeps the effective step large
    assert r["plain_norm"][-1] > r["plain_norm"][0]          # without decay the norm grows
    fig = scale_invariant_figure(r)
    assert len(fig.data) == 6
    with pytest.raises(ValueError, match="ηλ < 1"):
        scale_invariant_check(lr=2.0, weight_decay=0.9)


def test_profile_explorer(bench):
    ex = profile_explorer(bench, target=1e-2)
    fig0 = ex.widget
    x_before = fig0.data[0].x
    ex.set(tau_max=2.0)
    assert ex.widget.layout.xaxis.range[1] == 2.0 and ex.updates == 1
    ex.set(protocol="untuned")
    assert "умолчания" in ex.widget.layout.title.text
    ex.set(methods=("Adam",))
    assert len(ex.widget.data) == 2 and "Лидер: Adam" in ex.widget.layout.title.text
    assert x_before is not None
    ex.set(methods=())
    assert "Выберите хотя бы один метод" in ex.status.value
    ex.set(methods=tuple(bench.method_names), protocol="tuned")
    static = ex.static_figure()
    assert len(static.frames) == 4


def test_schedule_explorer():
    ex = schedule_explorer(steps=60, seeds=(0,))
    y0 = np.array(ex.widget.data[1].y)
    ex.set(gamma=0.9)
    y1 = np.array(ex.widget.data[1].y)
    assert y1[-1] == pytest.approx(0.05 * 0.9 ** 59)
    assert not np.allclose(y0, y1)
    assert "γ = 0.9" in ex.widget.data[1].name
    static = ex.static_figure({"gamma": [1.0, 0.95]})
    assert len(static.frames) == 2


def test_schedule_runs_reuse_the_constant_run_across_gamma():
    from optviz.course import lecture_11 as lec

    lec._CONSTANT_RUNS.clear()
    a = lec.schedule_runs(lr=0.05, gamma=1.0, warmup=0, steps=40, seeds=(0, 1))
    np.testing.assert_array_equal(a["schedule"], a["constant"])      # γ = 1, W = 0: the same run
    b = lec.schedule_runs(lr=0.05, gamma=0.9, warmup=0, steps=40, seeds=(0, 1))
    np.testing.assert_array_equal(b["constant"], a["constant"])      # reused, not recomputed differently
    assert b["schedule"][-1].mean() != a["schedule"][-1].mean()
    lec._CONSTANT_RUNS.clear()
    c = lec.schedule_runs(lr=0.05, gamma=0.9, warmup=0, steps=40, seeds=(0, 1))
    np.testing.assert_array_equal(c["constant"], b["constant"])
    np.testing.assert_array_equal(c["schedule"], b["schedule"])
