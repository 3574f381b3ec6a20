r"""A fair comparison of optimizers: the same tuning budget for every method, several seeds.

The seeds' tables (ALSO vs AdamW and the DRO baselines) are only meaningful when every method got
the same chance. This module fixes the protocol once so that every experiment of
:mod:`optviz.experiments` follows it:

1. **Search space per method** — a dict of dimensions (:class:`LogUniform` for learning rates and
   decays, :class:`Uniform`, :class:`Choice`), documented next to the method (see
   :mod:`optviz.experiments.catalog`).
2. **Equal budget** — every method gets exactly ``trials`` configurations, each trained for
   ``epochs`` epochs with the tuning seed, then the best configuration is retrained with every seed
   of ``seeds``: ``trials + len(seeds)`` runs × ``epochs`` epochs per method, whatever the method.
   Configurations come from a scrambled Sobol sequence (``scipy.stats.qmc``, quasi-random search as
   in AlgoPerf) or from plain uniform random numbers; the *same* points of the unit cube are mapped
   to each method's own ranges.
3. **Selection on validation, report on test** — inside a run the epoch with the best validation
   score is kept (early stopping), the configuration with the best validation score wins, and only
   then are the test metrics at the selected epochs read. Test numbers never influence a choice.
4. **Spread** — the best configuration's test metrics are averaged over the seeds and reported as
   mean ± standard deviation (``ddof=1``, the sample standard deviation, when there are ≥ 2 seeds).

The harness is independent of *how* a run is done: a ``runner(method, hparams, seed)`` returns a
:class:`RunHistory` (per-epoch metrics for ``"val"`` and ``"test"``). :class:`TrainRunner` is the
runner that trains a network with :func:`optviz.train.train`; tests use a fake one.

::

    cmp = compare(methods, TrainRunner(data, model_fn, epochs=10, batch_size=64),
                  trials=8, seeds=(1, 2, 3))
    print(cmp.markdown())               # the seeds' table shape, with our measurements
    fig = comparison_figure(cmp)        # plotly: bars with ± std error bars

Metric names used throughout: ``"mean_acc"`` (accuracy averaged over groups — the seeds'
«средняя точность» over clients or classes), ``"worst_acc"`` (worst-group accuracy), ``"acc"``
(overall accuracy), ``"f1"`` (macro-F1), ``"loss"``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_range

__all__ = [
    "LogUniform", "Uniform", "Choice", "Method", "RunHistory", "MethodResult", "Comparison",
    "sample_configs", "compare", "TrainRunner", "comparison_figure", "sweep_figure", "METRIC_NAMES",
    "aggregate", "format_mean_std", "RunContext", "RunRecord", "markdown_table",
    "metrics_from_result", "resolve_size",
]

#: Russian names of the metrics, for table headers and axis titles
METRIC_NAMES = {
    "mean_acc": "средняя точность по группам",
    "worst_acc": "точность худшей группы",
    "acc": "общая точность",
    "f1": "macro-F1",
    "loss": "потери",
}


# ------------------------------------------------------------------------------------------
# search space
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogUniform:
    """``exp(U(log low, log high))`` — for learning rates, decays, temperatures."""

    low: float
    high: float

    def __post_init__(self):
        check_range("low", self.low, 0.0, low_open=True)
        check_range("high", self.high, self.low)

    def __call__(self, u: float) -> float:
        a, b = math.log(self.low), math.log(self.high)
        return float(math.exp(a + u * (b - a)))

    def __str__(self):
        return f"лог-равномерно [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Uniform:
    """``U(low, high)``."""

    low: float
    high: float

    def __post_init__(self):
        check_range("low", self.low)
        check_range("high", self.high, self.low)

    def __call__(self, u: float) -> float:
        return float(self.low + u * (self.high - self.low))

    def __str__(self):
        return f"равномерно [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Choice:
    """One of ``options``, each with probability ``1/len(options)``."""

    options: tuple

    def __post_init__(self):
        if len(self.options) == 0:
            raise ValueError("Параметр options должен содержать хотя бы один вариант.")

    def __call__(self, u: float):
        return self.options[min(int(u * len(self.options)), len(self.options) - 1)]

    def __str__(self):
        return "один из {" + ", ".join(str(o) for o in self.options) + "}"


def sample_configs(space: Mapping[str, Any], trials: int, *, sampler: str = "sobol", seed: int = 0) -> list[dict]:
    """``trials`` configurations drawn from ``space`` (name → dimension; plain values are fixed).

    ``sampler="sobol"``: the first ``trials`` points of a scrambled Sobol sequence of ``2^m ≥ trials``
    points (``scipy.stats.qmc.Sobol``); ``"random"``: independent uniform numbers. The unit-cube
    points depend only on ``(len(dims), trials, sampler, seed)`` — two methods with the same number of
    searched dimensions see the same points — and dimensions are taken in sorted-name order.
    """
    check_int("trials", trials, 1)
    check_choice("sampler", sampler, ("sobol", "random"))
    dims = sorted(k for k, v in space.items() if callable(v))
    fixed = {k: v for k, v in space.items() if not callable(v)}
    if not dims:
        return [dict(fixed) for _ in range(trials)]
    if sampler == "sobol":
        from scipy.stats import qmc

        m = max(0, math.ceil(math.log2(trials)))
        points = qmc.Sobol(len(dims), scramble=True, seed=seed).random_base2(m)[:trials]
    else:
        points = np.random.default_rng(seed).random((trials, len(dims)))
    out = []
    for row in points:
        cfg = dict(fixed)
        for name, u in zip(dims, row):
            cfg[name] = space[name](float(u))
        out.append(cfg)
    return out


# ------------------------------------------------------------------------------------------
# methods and runs
# ------------------------------------------------------------------------------------------
@dataclass
class RunContext:
    """What :meth:`Method.make` may look at: the data this method trains on and the run's budget."""

    data: Any
    epochs: int
    batch_size: int


@dataclass
class Method:
    """A method in a comparison.

    ``make(hparams, ctx) -> (optimizer_or_factory, objective_or_None)`` builds what
    :func:`optviz.train.train` needs from one configuration (``ctx`` is a :class:`RunContext`);
    ``space`` maps hyperparameter names to dimensions (searched) or plain values (fixed);
    ``data`` (optional) turns the experiment's data into what this method trains on — e.g. the
    per-sample groups that the ALSO paper uses in its class-imbalance experiment — while the
    validation and test splits, hence the metrics, stay the same for every method; ``note`` is a
    Russian one-line description (which optimizer, which objective) shown in documentation tables.
    """

    name: str
    make: Callable[[dict, RunContext], tuple]
    space: dict = field(default_factory=dict)
    note: str = ""
    data: Callable[[Any], Any] | None = None

    def describe_space(self) -> str:
        parts = [f"{k}: {v}" if callable(v) else f"{k} = {v!r}" for k, v in sorted(self.space.items())]
        return "; ".join(parts)


@dataclass
class RunHistory:
    """Per-epoch metrics of one run: ``metrics[split][metric]`` is a 1-D array over epochs.

    ``result`` keeps the underlying object (a ``TrainResult``) when the runner returns one, so that
    lectures can plot its curves; ``seconds`` is the wall time of the run.
    """

    metrics: dict
    epochs: int
    seconds: float = 0.0
    result: Any = None

    def series(self, split: str, metric: str) -> np.ndarray:
        try:
            return np.asarray(self.metrics[split][metric], dtype=float)
        except KeyError:
            have = {s: sorted(m) for s, m in self.metrics.items()}
            raise KeyError(f"В истории прогона нет метрики {metric!r} для выборки {split!r}; есть: {have}.") from None


@dataclass
class RunRecord:
    """One run of the harness: the configuration, the seed, the selected epoch and its metrics."""

    method: str
    hparams: dict
    seed: int
    history: RunHistory
    epoch: int                 # selected epoch (0-based), by the validation score
    val_score: float           # validation value of the selection metric at that epoch
    test: dict                 # every test metric at that epoch
    role: str = "trial"        # "trial" (tuning) or "seed" (evaluation of the best configuration)


def _select_epoch(history: RunHistory, metric: str, split: str, at: str) -> int:
    if at == "final":
        return history.epochs - 1
    vals = history.series(split, metric)
    if not np.isfinite(vals).any():
        return len(vals) - 1
    return int(np.nanargmax(np.where(np.isfinite(vals), vals, -np.inf)))


def _record(method, hp, seed, history, select, at, role, report_split="test") -> RunRecord:
    e = _select_epoch(history, select, "val", at)
    val = float(history.series("val", select)[e])
    test = {m: float(np.asarray(v, dtype=float)[e]) for m, v in history.metrics.get(report_split, {}).items()}
    return RunRecord(method, dict(hp), seed, history, e, val if math.isfinite(val) else -math.inf, test, role)


def aggregate(values: Sequence[float], ddof: int = 1) -> tuple[float, float]:
    """``(mean, std)`` of per-seed values; the std uses ``ddof`` (0 for a single value)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=ddof if arr.size > ddof else 0))


def format_mean_std(mean: float, std: float, digits: int = 4) -> str:
    if not math.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


@dataclass
class MethodResult:
    """Everything the harness measured for one method."""

    name: str
    trials: list             # RunRecord per configuration (tuning seed)
    best_trial: int          # index into ``trials`` (the best validation score, first on ties)
    seed_runs: list          # RunRecord per evaluation seed, best configuration
    summary: dict            # metric -> (mean, std) over seed_runs, test at the val-selected epoch
    budget: dict             # runs, epochs per run, total epochs, seconds
    note: str = ""

    @property
    def best_hparams(self) -> dict:
        return dict(self.trials[self.best_trial].hparams)

    def best_any(self, metric: str = "mean_acc") -> float:
        """Max of the *test* metric over every run and epoch (the optimistic «лучшее за всю настройку»).

        This is how the seeds' table was read off (best over all tuning iterations); it selects on
        test, so it is shown only beside the honest number, never instead of it.
        """
        vals = [np.nanmax(r.history.series("test", metric)) for r in self.trials + self.seed_runs
                if "test" in r.history.metrics and metric in r.history.metrics["test"]]
        return float(max(vals)) if vals else math.nan


@dataclass
class Comparison:
    """The outcome of :func:`compare`: one :class:`MethodResult` per method plus the protocol."""

    methods: dict            # name -> MethodResult, in the order given
    config: dict

    def ranking(self, metric: str = "mean_acc") -> list[str]:
        """Method names from best to worst by the seed-mean of ``metric``."""
        return sorted(self.methods, key=lambda n: -_nan_low(self.methods[n].summary.get(metric, (math.nan,))[0]))

    def table(self, metrics: Sequence[str] = ("mean_acc", "worst_acc"), digits: int = 4) -> list[dict]:
        """Rows (dicts with Russian keys) in ranking order of ``metrics[0]``."""
        rows = []
        for place, name in enumerate(self.ranking(metrics[0]), 1):
            r = self.methods[name]
            row = {"Место": place, "Метод": name}
            for m in metrics:
                mean, std = r.summary.get(m, (math.nan, math.nan))
                row[_header(m)] = format_mean_std(mean, std, digits)
            row["Лучшая конфигурация"] = _hp_text(r.best_hparams)
            row["Бюджет (прогонов × эпох)"] = f"{r.budget['runs']} × {r.budget['epochs_per_run']}"
            rows.append(row)
        return rows

    def markdown(self, metrics: Sequence[str] = ("mean_acc", "worst_acc"), digits: int = 4) -> str:
        return markdown_table(self.table(metrics, digits))

    def as_dict(self) -> dict:
        """Plain nested dict (JSON-friendly) of the summaries, budgets and best configurations."""
        return {
            "config": {k: v for k, v in self.config.items() if isinstance(v, (int, float, str, tuple, list, type(None)))},
            "methods": {
                n: {"summary": {m: list(v) for m, v in r.summary.items()}, "best_hparams": r.best_hparams,
                    "budget": dict(r.budget), "per_seed": [dict(rr.test) for rr in r.seed_runs]}
                for n, r in self.methods.items()
            },
        }


def _nan_low(x: float) -> float:
    return -math.inf if x is None or not math.isfinite(x) else x


def _header(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric).capitalize() + " (test, ± std)"


def _hp_text(hp: Mapping) -> str:
    parts = []
    for k, v in sorted(hp.items()):
        parts.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}")
    return ", ".join(parts)


def markdown_table(rows: Sequence[Mapping]) -> str:
    """A list of dicts with the same keys as a Markdown table."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# the protocol
# ------------------------------------------------------------------------------------------
def compare(methods: Sequence[Method], runner: Callable[[Method, dict, int], RunHistory], *, trials: int = 8,
            seeds: Sequence[int] = (1, 2, 3), tune_seed: int = 0, select: str = "mean_acc", at: str = "best",
            sampler: str = "sobol", sampler_seed: int = 0, ddof: int = 1, progress: bool = False,
            log: Callable[[str], None] | None = None) -> Comparison:
    """Tune every method with the same budget, evaluate its best configuration on several seeds.

    Parameters
    ----------
    methods : the :class:`Method` list (names must be distinct).
    runner : ``runner(method, hparams, seed) -> RunHistory`` with ``"val"`` and ``"test"`` splits.
    trials : configurations per method (the same for all).
    seeds : evaluation seeds of the best configuration (the same for all).
    tune_seed : the seed of every tuning run (model initialisation and batch order).
    select : the validation metric that picks the epoch inside a run and the best configuration.
    at : ``"best"`` (the epoch with the best validation score) or ``"final"`` (the last epoch).
    sampler, sampler_seed : see :func:`sample_configs`.
    ddof : degrees of freedom of the reported std over seeds.
    """
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"Имена методов должны быть разными, получено {names}.")
    check_int("trials", trials, 1)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("Параметр seeds должен содержать хотя бы одно зерно.")
    check_choice("at", at, ("best", "final"))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(methods) * (trials + len(seeds)), desc="сравнение методов")
    out = {}
    for method in methods:
        t0 = time.perf_counter()
        configs = sample_configs(method.space, trials, sampler=sampler, seed=sampler_seed)
        records = []
        for k, hp in enumerate(configs):
            records.append(_record(method.name, hp, tune_seed, runner(method, hp, tune_seed), select, at, "trial"))
            if bar is not None:
                bar.update(1)
            if log is not None:
                log(f"{method.name}: конфигурация {k + 1}/{trials}, val {select} = {records[-1].val_score:.4f}")
        best = max(range(trials), key=lambda i: (records[i].val_score, -i))
        seed_runs = []
        for s in seeds:
            seed_runs.append(_record(method.name, configs[best], s, runner(method, configs[best], s), select, at, "seed"))
            if bar is not None:
                bar.update(1)
        metrics = sorted({m for r in seed_runs for m in r.test})
        summary = {m: aggregate([r.test[m] for r in seed_runs if m in r.test], ddof) for m in metrics}
        all_runs = records + seed_runs
        budget = {
            "trials": trials, "seeds": len(seeds), "runs": len(all_runs),
            "epochs_per_run": max(r.history.epochs for r in all_runs),
            "epochs_total": sum(r.history.epochs for r in all_runs),
            "seconds": time.perf_counter() - t0,
        }
        out[method.name] = MethodResult(method.name, records, best, seed_runs, summary, budget, method.note)
    if bar is not None:
        bar.close()
    config = dict(trials=trials, seeds=tuple(seeds), tune_seed=tune_seed, select=select, at=at, sampler=sampler,
                  sampler_seed=sampler_seed, ddof=ddof)
    config.update(getattr(runner, "config", {}) or {})
    return Comparison(out, config)


# ------------------------------------------------------------------------------------------
# the runner that trains networks
# ------------------------------------------------------------------------------------------
class TrainRunner:
    """``runner(method, hparams, seed)`` that trains ``model_fn(seed)`` with :func:`optviz.train.train`.

    ``model_fn(seed) -> nn.Module`` must be deterministic in ``seed``. Each run gets a fresh model,
    the optimizer (or factory) and objective from ``method.make(hparams, ctx)``, and the same
    ``epochs``, ``batch_size``, validation and test data for every method. ``train_kwargs`` go to
    ``train`` as they are (``device``, ``eval_subset`` …). The per-epoch ``val``/``test`` metrics
    are kept in the harness's names (:func:`metrics_from_result`; the evaluation of the untrained
    model, epoch 0 of a ``TrainResult``, is left out so that epoch e of the history is the model
    after e epochs, e = 1 … epochs). ``keep_results`` keeps every ``TrainResult`` (for plots).
    """

    def __init__(self, data, model_fn: Callable[[int], Any], *, epochs: int, batch_size: int,
                 keep_results: bool = False, **train_kwargs):
        self.data = data
        self.model_fn = model_fn
        self.epochs = check_int("epochs", epochs, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.keep_results = keep_results
        self.train_kwargs = train_kwargs
        self.calls = 0
        self._views: dict = {}
        self.config = {"epochs": epochs, "batch_size": batch_size, "data": getattr(data, "name", None)}

    def data_for(self, method: Method):
        """The data ``method`` trains on (its ``data`` transform applied once and cached)."""
        if method.data is None:
            return self.data
        if method.name not in self._views:
            self._views[method.name] = method.data(self.data)
        return self._views[method.name]

    def __call__(self, method: Method, hparams: dict, seed: int) -> RunHistory:
        from ..train import train

        self.calls += 1
        data = self.data_for(method)
        model = self.model_fn(seed)
        made = method.make(dict(hparams), RunContext(data, self.epochs, self.batch_size))
        optimizer, objective = (made, None) if not isinstance(made, tuple) else made
        kwargs = dict(progress=False)
        kwargs.update(self.train_kwargs)
        t0 = time.perf_counter()
        result = train(model, optimizer, data, epochs=self.epochs, batch_size=self.batch_size,
                       objective=objective, seed=seed, **kwargs)
        seconds = time.perf_counter() - t0
        metrics = metrics_from_result(result)
        epochs = len(next(iter(metrics["val"].values())))
        return RunHistory(metrics, epochs, seconds, result if self.keep_results else None)


#: harness metric name -> ``optviz.train`` metric name
TRAIN_METRICS = {"mean_acc": "mean_group_acc", "worst_acc": "worst_group_acc", "acc": "accuracy",
                 "f1": "macro_f1", "loss": "loss"}


def metrics_from_result(result, splits: Sequence[str] = ("val", "test"), *, skip_initial: bool = True) -> dict:
    """``{split: {metric: array over epochs}}`` in the harness's names from a ``TrainResult``.

    ``skip_initial`` drops index 0 (the untrained model) of the trainer's ``(E+1,)`` arrays.
    """
    out = {}
    start = 1 if skip_initial else 0
    for s in splits:
        if s not in result.metrics:
            continue
        out[s] = {}
        for ours, theirs in TRAIN_METRICS.items():
            if theirs in result.metrics[s]:
                out[s][ours] = np.asarray(result.metrics[s][theirs], dtype=float)[start:]
    return out


# ------------------------------------------------------------------------------------------
# figures (pure builders: they draw what they are given)
# ------------------------------------------------------------------------------------------
def comparison_figure(comparison: Comparison, metrics: Sequence[str] = ("mean_acc", "worst_acc"), *,
                      title: str | None = None, reference: Mapping[str, float] | None = None):
    """Grouped bars (one group per method, ranking order) with ± std error bars over seeds.

    ``reference`` (name → value, e.g. the seeds' table) is drawn as black diamonds for comparison.
    """
    import plotly.graph_objects as go

    from ..viz._style import PALETTE

    order = comparison.ranking(metrics[0])
    fig = go.Figure()
    for i, m in enumerate(metrics):
        means = [comparison.methods[n].summary.get(m, (math.nan, math.nan))[0] for n in order]
        stds = [comparison.methods[n].summary.get(m, (math.nan, math.nan))[1] for n in order]
        fig.add_bar(x=order, y=means, name=METRIC_NAMES.get(m, m), marker_color=PALETTE[i % len(PALETTE)],
                    error_y=dict(type="data", array=stds, visible=True),
                    hovertemplate="%{x}: %{y:.4f} ± %{error_y.array:.4f}<extra>" + METRIC_NAMES.get(m, m) + "</extra>")
    if reference:
        names = [n for n in order if _lookup(reference, n) is not None]
        fig.add_scatter(x=names, y=[_lookup(reference, n) for n in names], mode="markers", name="статья (таблица)",
                        marker=dict(symbol="diamond", size=11, color="black"))
    cfg = comparison.config
    caption = (f"{cfg.get('trials')} конфигураций × {cfg.get('epochs', '?')} эпох на метод, "
               f"лучшая — по валидации, затем {len(cfg.get('seeds', ()))} зерна; test: среднее ± std")
    fig.update_layout(barmode="group", title=title or f"Сравнение методов ({caption})",
                      yaxis_title="точность на test", xaxis_title="метод", template="plotly_white",
                      legend=dict(orientation="h", y=-0.2))
    return fig


def sweep_figure(results: Mapping[Any, Comparison], metric: str = "mean_acc", *, x_title: str = "uc",
                 title: str | None = None):
    """One line per method: ``metric`` (mean ± std over seeds) against the sweep value (e.g. uc)."""
    import plotly.graph_objects as go

    from ..viz._style import color_for

    xs = list(results)
    names = list(next(iter(results.values())).methods) if results else []
    fig = go.Figure()
    for i, n in enumerate(names):
        means = [results[x].methods[n].summary.get(metric, (math.nan, math.nan))[0] for x in xs]
        stds = [results[x].methods[n].summary.get(metric, (math.nan, math.nan))[1] for x in xs]
        fig.add_scatter(x=[str(x) for x in xs], y=means, mode="lines+markers", name=n,
                        line=dict(color=color_for(n, i)), error_y=dict(type="data", array=stds, visible=True))
    fig.update_layout(title=title or f"{METRIC_NAMES.get(metric, metric).capitalize()} (test, среднее ± std по зёрнам)",
                      xaxis_title=x_title, yaxis_title=METRIC_NAMES.get(metric, metric), template="plotly_white")
    return fig


def _lookup(mapping: Mapping[str, float], name: str):
    for k, v in mapping.items():
        if k.lower() == name.lower():
            return v
    return None


# ------------------------------------------------------------------------------------------
# size presets shared by the experiments
# ------------------------------------------------------------------------------------------
def resolve_size(presets: Mapping[str, Mapping], size: str, overrides: Mapping) -> dict:
    """The preset ``presets[size]`` with ``overrides`` (keyword arguments that are not None) on top."""
    check_choice("size", size, tuple(presets))
    cfg = dict(presets[size])
    unknown = sorted(k for k in overrides if k not in cfg)
    if unknown:
        raise ValueError(f"Неизвестные параметры эксперимента: {unknown}; допустимы: {sorted(cfg)}.")
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["size"] = size
    return cfg
