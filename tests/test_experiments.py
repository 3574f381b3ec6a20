"""The comparison harness and the seeds' experiments (tiny sizes: seconds)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.stats import qmc

from optviz.experiments.harness import (
    Choice,
    LogUniform,
    Method,
    RunHistory,
    TrainRunner,
    Uniform,
    aggregate,
    compare,
    comparison_figure,
    sample_configs,
)


# ------------------------------------------------------------------------------------------
# harness with a fake runner (exact control over what every run "measures")
# ------------------------------------------------------------------------------------------
class FakeRunner:
    """Records every call; the history of a run is ``curves(hparams, seed) -> (val, test)`` arrays."""

    def __init__(self, curves, epochs=5):
        self.curves = curves
        self.epochs = epochs
        self.calls = []

    def __call__(self, method, hp, seed):
        self.calls.append((method.name, dict(hp), seed))
        val, test = self.curves(hp, seed)
        val, test = np.asarray(val, float), np.asarray(test, float)
        assert len(val) == len(test) == self.epochs
        return RunHistory({"val": {"mean_acc": val, "worst_acc": val - 0.1},
                           "test": {"mean_acc": test, "worst_acc": test - 0.2}}, self.epochs)


def _noop(hp, ctx):
    return None, None


def test_log_uniform_and_sobol_sampling_match_scipy():
    space = {"lr": LogUniform(1e-4, 1e-1), "alpha": Uniform(0.2, 0.6), "kind": Choice(("a", "b")), "fixed": 7}
    cfgs = sample_configs(space, 6, sampler="sobol", seed=3)
    # independent reference: the same scrambled Sobol points, dimensions in sorted-name order
    u = qmc.Sobol(3, scramble=True, seed=3).random_base2(3)[:6]      # alpha, kind, lr
    for row, cfg in zip(u, cfgs):
        assert cfg["fixed"] == 7
        assert cfg["alpha"] == pytest.approx(0.2 + 0.4 * row[0])
        assert cfg["kind"] == ("a" if row[1] < 0.5 else "b")
        assert cfg["lr"] == pytest.approx(10 ** (-4 + 3 * row[2]))
    assert sample_configs(space, 6, seed=3) == cfgs                   # deterministic
    rnd = sample_configs(space, 200, sampler="random", seed=0)
    logs = np.log10([c["lr"] for c in rnd])
    assert logs.min() >= -4 and logs.max() <= -1
    assert abs(np.mean(logs) - (-2.5)) < 0.15                         # uniform on the log scale


def test_every_method_gets_exactly_the_same_budget():
    methods = [
        Method("no dims", _noop, {"lr": 1e-3}),
        Method("one dim", _noop, {"lr": LogUniform(1e-4, 1e-2)}),
        Method("four dims", _noop, {"lr": LogUniform(1e-4, 1e-2), "a": Uniform(0, 1), "b": LogUniform(1, 2),
                                    "c": Choice((1, 2, 3))}),
    ]
    runner = FakeRunner(lambda hp, s: (np.linspace(0, 1, 5), np.linspace(0, 1, 5)))
    cmp = compare(methods, runner, trials=5, seeds=(11, 12, 13), tune_seed=0)
    per_method = Counter(name for name, _, _ in runner.calls)
    assert set(per_method.values()) == {5 + 3}
    for m in methods:
        seeds = [s for name, _, s in runner.calls if name == m.name]
        assert seeds == [0] * 5 + [11, 12, 13]                        # tuning seed, then evaluation seeds
        b = cmp.methods[m.name].budget
        assert (b["runs"], b["epochs_per_run"], b["epochs_total"]) == (8, 5, 40)
    # the evaluation seeds rerun the selected configuration, nothing else
    for m in methods:
        evals = [hp for name, hp, s in runner.calls if name == m.name and s != 0]
        assert all(hp == cmp.methods[m.name].best_hparams for hp in evals)


def test_selection_uses_validation_and_reports_test_at_the_selected_epoch():
    # config with lr = 1e-3: best validation (peak at epoch 1) but poor test;
    # config with lr = 1e-2: better test everywhere but worse validation.
    def curves(hp, seed):
        if hp["lr"] == 1e-3:
            return [0.5, 0.9, 0.8, 0.7, 0.6], [0.40, 0.45, 0.50, 0.55, 0.60]
        return [0.5, 0.6, 0.7, 0.7, 0.65], [0.80, 0.85, 0.90, 0.95, 0.99]

    method = Method("M", _noop, {"lr": Choice((1e-3, 1e-2))})
    runner = FakeRunner(curves)
    cmp = compare([method], runner, trials=2, seeds=(1, 2))  # Sobol: one point per half
    tried = {hp["lr"] for _, hp, _ in runner.calls[:2]}
    assert tried == {1e-3, 1e-2}                                      # both configurations were tried
    r = cmp.methods["M"]
    assert r.best_hparams["lr"] == 1e-3                               # chosen on validation
    assert all(run.epoch == 1 for run in r.seed_runs)                 # epoch of the validation peak
    assert r.summary["mean_acc"][0] == pytest.approx(0.45)            # test there, not the test maximum
    assert r.summary["worst_acc"][0] == pytest.approx(0.25)
    assert r.best_any("mean_acc") == pytest.approx(0.99)              # the optimistic number is separate
    # at="final": the last epoch's validation decides (0.65 > 0.6), the last epoch's test is reported
    final = compare([method], FakeRunner(curves), trials=2, seeds=(1,), at="final")
    assert final.methods["M"].best_hparams["lr"] == 1e-2
    assert final.methods["M"].summary["mean_acc"][0] == pytest.approx(0.99)


def test_seed_aggregation_is_mean_and_sample_std():
    def curves(hp, seed):
        rng = np.random.default_rng(seed)
        val = rng.uniform(0, 1, 5)
        test = rng.uniform(0, 1, 5)
        return val, test

    seeds = (3, 5, 8, 13)
    cmp = compare([Method("M", _noop, {"lr": 1.0})], FakeRunner(curves), trials=1, seeds=seeds)
    expected = []
    for s in seeds:
        val, test = curves({}, s)
        expected.append(test[int(np.argmax(val))])
    mean, std = cmp.methods["M"].summary["mean_acc"]
    assert mean == pytest.approx(np.mean(expected), abs=1e-12)
    assert std == pytest.approx(np.std(expected, ddof=1), abs=1e-12)
    assert aggregate([0.7]) == (0.7, 0.0)
    m, s = aggregate([1.0, 2.0, 4.0], ddof=0)
    assert (m, s) == pytest.approx((7 / 3, np.std([1, 2, 4])))


def test_comparison_table_and_figure_show_mean_and_std():
    curves = {"A": 0.9, "B": 0.7}
    methods = [Method(n, _noop, {"lr": 1.0}) for n in curves]

    def by_method(hp, seed):
        raise AssertionError

    class Runner(FakeRunner):
        def __call__(self, method, hp, seed):
            base = curves[method.name] + 0.01 * seed
            return RunHistory({"val": {"mean_acc": np.full(3, base), "worst_acc": np.full(3, base)},
                               "test": {"mean_acc": np.full(3, base), "worst_acc": np.full(3, base - 0.1)}}, 3)

    cmp = compare(methods, Runner(by_method, 3), trials=1, seeds=(1, 2))
    assert cmp.ranking() == ["A", "B"]
    rows = cmp.table()
    assert rows[0]["Метод"] == "A" and rows[0]["Место"] == 1
    assert "± 0.0071" in rows[0]["Средняя точность по группам (test, ± std)"]   # std of (0.91, 0.92), ddof=1
    fig = comparison_figure(cmp, reference={"a": 0.5})
    bars = [t for t in fig.data if t.type == "bar"]
    assert list(bars[0].x) == ["A", "B"]
    assert bars[0].y[0] == pytest.approx(0.915)
    assert bars[0].error_y.array[0] == pytest.approx(np.std([0.91, 0.92], ddof=1))
    assert [t for t in fig.data if t.type == "scatter"][0].y[0] == 0.5
    assert cmp.as_dict()["methods"]["A"]["per_seed"][0]["mean_acc"] == pytest.approx(0.91)


# ------------------------------------------------------------------------------------------
# the experiments at tiny size
# ------------------------------------------------------------------------------------------
def _check_comparison(cmp, names, epochs):
    assert list(cmp.methods) == list(names)
    budgets = {(r.budget["runs"], r.budget["epochs_per_run"], r.budget["epochs_total"]) for r in cmp.methods.values()}
    assert len(budgets) == 1                                           # equal budget, measured from the histories
    runs, per_run, total = budgets.pop()
    assert per_run == epochs and total == runs * epochs
    for r in cmp.methods.values():
        for run in r.trials + r.seed_runs:
            for split in ("val", "test"):
                for metric in ("mean_acc", "worst_acc"):
                    assert len(run.history.series(split, metric)) == epochs
        mean, std = r.summary["mean_acc"]
        assert 0.0 <= mean <= 1.0 and std >= 0.0
        assert r.summary["worst_acc"][0] <= mean + 1e-12


def test_imbalance_experiment_tiny():
    from optviz.experiments import catalog
    from optviz.experiments.imbalance import imbalance_experiment

    res = imbalance_experiment("tiny")
    names = [m.name for m in catalog.imbalance_methods()]
    assert names == ["ALSO", "AdamW", "Static Weights", "RECOVER", "Spectral Risk", "FastDRO", "DRAGO"]
    assert list(res.comparisons) == [10]
    _check_comparison(res.comparisons[10], names, res.config["epochs"])
    rows = res.table()
    assert [r["Метод"] for r in rows] == names and "uc = 10" in rows[0]
    assert set(res.winners()) == {10}
    fig = res.figure()
    assert len(fig.data) == len(names)
    # ALSO saw one group per training sample (the paper's choice); the metrics stay per class
    also_run = res.comparisons[10].methods["ALSO"].trials[0]
    assert len(also_run.history.metrics["test"]["mean_acc"]) == res.config["epochs"]


def test_clients_experiment_tiny_and_the_seeds_table():
    from optviz.experiments.clients import (
        SEEDS_TABLE,
        build_clients_data,
        clients_experiment,
        side_by_side_rows,
    )

    # the seeds' numbers (methods.md / the abstract's table 1), in their order
    assert SEEDS_TABLE == {"ALSO": 0.6393, "RECOVER": 0.6151, "AdamW": 0.6067, "Spectral Risk": 0.6066,
                           "FastDRO": 0.6038, "SGD with momentum": 0.4390, "DRAGO": 0.3211}
    res = clients_experiment("tiny")
    _check_comparison(res.comparison, list(SEEDS_TABLE), res.config["epochs"])
    rows = side_by_side_rows(res.comparison)
    assert [r["Метод"] for r in rows] == list(SEEDS_TABLE)
    assert [r["Статья: место"] for r in rows] == list(range(1, 8))
    assert sorted(r["Мы: место"] for r in rows) == list(range(1, 8))
    assert "0.6393" in res.side_by_side()

    # the data: class groups for training, client groups for the metrics, client 1 alone for `delay` epochs
    data = build_clients_data(2)
    assert data.train.n_groups == 10 and data.val.n_groups == 2 and data.test.n_groups == 2
    assert torch.equal(data.val.groups, data.val.client)
    for epoch in (0, 1, 2):  # the data schedule counts epochs from 0 (the trainer's epoch e is e − 1 here)
        clients = torch.cat([b.client for b in data.train_batches(epoch, 64, 0)])
        assert (clients == 0).all() if epoch < 2 else (clients == 1).any()


def test_experiments_are_deterministic():
    from optviz.experiments import catalog
    from optviz.experiments.clients import clients_experiment

    a = clients_experiment("tiny", methods=[catalog.adamw()], trials=1, seeds=(1,))
    b = clients_experiment("tiny", methods=[catalog.adamw()], trials=1, seeds=(1,))
    assert a.comparison.methods["AdamW"].summary == b.comparison.methods["AdamW"].summary
    ra = a.comparison.methods["AdamW"].seed_runs[0].history.metrics["val"]["mean_acc"]
    rb = b.comparison.methods["AdamW"].seed_runs[0].history.metrics["val"]["mean_acc"]
    assert np.array_equal(ra, rb)


def test_restarts_experiment_tiny():
    from optviz.experiments.restarts import restarts_experiment

    res = restarts_experiment("tiny", epochs=4, period=2)
    names = list(res.comparison.methods)
    assert len(names) == 4 and names[0] == "AdamW"
    _check_comparison(res.comparison, names, 4)
    epochs = res.restart_epochs()
    assert epochs[names[0]] == [[]]                                   # plain AdamW never restarts
    assert epochs[names[1]] == [[2, 4]]                               # fixed period: every 2 epochs
    curves = res.curves("val", "loss")
    assert all(mean.shape == (5,) for mean, _ in curves.values())    # epoch 0 … 4
    assert len(res.table()) == 4 and res.figure().data


def test_regression_ground_truth_is_the_talks_function():
    from optviz.experiments.restarts import regression_data, regression_truth

    x = np.array([-3.0, -1.0, 0.0, 0.5, np.pi, 4.0])
    expected = np.sin(x) + 0.5 * np.cos(2 * x) + 0.1 * x**2
    assert np.allclose(regression_truth(x), expected, rtol=0, atol=1e-15)
    assert regression_truth(0.0) == pytest.approx(0.5)
    assert regression_truth(np.pi) == pytest.approx(0.5 + 0.1 * np.pi**2)
    xt = torch.tensor(x)
    assert torch.allclose(regression_truth(xt), torch.tensor(expected), atol=1e-12)
    xs, ys = regression_data(4000, noise=0.3, seed=1)
    resid = ys - (np.sin(xs) + 0.5 * np.cos(2 * xs) + 0.1 * xs**2)
    assert abs(resid.mean()) < 0.03 and abs(resid.std() - 0.3) < 0.02  # y = f(x) + ε, ε ~ N(0, 0.3²)


def test_regression_restarts_experiment_tiny():
    from optviz.experiments.restarts import regression_restarts_experiment

    res = regression_restarts_experiment("tiny")
    names = list(res.curves)
    assert len(names) == 2
    for n in names:
        assert res.curves[n].shape == (3, res.config["grid"])
        assert res.train_loss[n].shape == (3, res.config["steps"])
    period, steps = res.config["period"], res.config["steps"]
    assert res.restarts[names[0]] == [[], [], []]
    assert res.restarts[names[1]][0] == list(range(period, steps + 1, period))
    var = res.variance()
    for n in names:                                                   # independent: numpy on the stored curves
        assert var[n] == pytest.approx(np.var(res.curves[n], axis=0, ddof=1).mean())
    assert np.allclose(res.truth, np.sin(res.x_grid) + 0.5 * np.cos(2 * res.x_grid) + 0.1 * res.x_grid**2)
    assert res.figure().data


def test_init_experiment_shows_vanishing_signal_for_the_poor_init():
    from optviz.experiments.initialization import init_experiment

    res = init_experiment("tiny")
    depth, width, sigma = res.config["depth"], res.config["width"], res.config["poor_std"]
    poor, he = res.grad_norm["poor"], res.grad_norm["he"]
    assert poor.shape == he.shape == (1, depth + 1)                   # depth hidden layers + output layer
    # every layer's weight gradient is tiny with the poor init, O(1) with He's
    assert poor.max() < 1e-8 * he.min()
    assert 1e-2 < he.min() and he.max() < 1e2
    # theory: with ReLU each layer scales the forward signal by ≈ σ·sqrt(fan_in / 2)
    a = res.activation_std["poor"][0]
    rate = np.exp(np.mean(np.diff(np.log(a[1:]))))                  # inputs of layers 2 … L+1
    assert rate == pytest.approx(sigma * math.sqrt(width / 2), rel=0.5)
    assert 0.05 < res.activation_std["he"][0][-1] < 20               # He keeps the scale
    assert res.train_loss["poor"].shape == (1, res.config["epochs"] + 1)
    assert len(res.table()) == 2 and res.figure().data


def test_heavy_tail_experiment_tiny():
    from optviz.experiments.heavy_tail import LR_RANGES, heavy_tail_experiment

    res = heavy_tail_experiment("tiny")
    assert set(res.group_loss) == {"SGD", "Adam"}
    g = len(res.group_names)
    for m, curves in res.group_loss.items():
        assert curves.shape == (1, res.config["epochs"] + 1, g)
        lo, hi = LR_RANGES[m]
        assert lo <= res.best_lr[m] <= hi
        assert res.best_lr[m] == min(res.lr_search[m], key=res.lr_search[m].get)
        assert np.all(np.isfinite(curves))
    assert len(res.table()) == 2 and res.figure().data


def test_train_runner_counts_calls_with_the_real_trainer():
    from optviz.data import parity_split
    from optviz.experiments import catalog
    from optviz.models import mlp

    data = parity_split(5, flatten=True)
    runner = TrainRunner(data, lambda s: mlp(64, (8,), 2, seed=s), epochs=2, batch_size=128)
    cmp = compare([catalog.adamw(), catalog.sgd_momentum()], runner, trials=2, seeds=(1,))
    assert runner.calls == 2 * (2 + 1)
    assert cmp.config["epochs"] == 2 and cmp.config["batch_size"] == 128
