"""The seeds' experiments and the fair-comparison harness behind them.

=======================================  ==============================================================
:mod:`~optviz.experiments.harness`       equal-budget tuning (Sobol / random search over documented
                                         ranges), selection on validation, test mean ± std over seeds,
                                         Markdown tables and plotly figures
:mod:`~optviz.experiments.catalog`       ALSO, AdamW, Adam, SGD with momentum, static weights,
                                         RECOVER, Spectral Risk, FastDRO, DRAGO with their ranges
:func:`imbalance_experiment`             1. class imbalance by parity, uc ∈ {1, 5, 10, 20}
:func:`clients_experiment`               2. two heterogeneous clients, the second one late;
                                         :data:`SEEDS_TABLE`, :func:`side_by_side`
:func:`restarts_experiment`              3a. AdamW vs AdamW + each restart criterion
:func:`regression_restarts_experiment`   3b. over-parameterised regression with and without restarts
:func:`heavy_tail_experiment`            4. heavy-tailed class imbalance: SGD vs Adam per frequency group
:func:`init_experiment`                  5. deep ReLU network: poor vs He initialisation
:mod:`~optviz.experiments.profiles`      performance profiles ρ_s(τ) and the AlgoPerf score (area under
                                         the profile up to τ_max = 4), study aggregation
=======================================  ==============================================================

Every experiment takes ``size="tiny" | "cpu" | "full"`` (seconds for tests / minutes on a laptop
CPU / a GPU job on the real data sets) plus keyword overrides of its preset, is deterministic in
its seeds, and returns a result object with ``table()``, ``markdown()`` and ``figure()``.
"""

from . import catalog
from .clients import (
    SEEDS_TABLE,
    ClientsResult,
    build_clients_data,
    clients_experiment,
    side_by_side,
)
from .harness import (
    Choice,
    Comparison,
    LogUniform,
    Method,
    MethodResult,
    RunContext,
    RunHistory,
    TrainRunner,
    Uniform,
    compare,
    comparison_figure,
    sample_configs,
    sweep_figure,
)
from .heavy_tail import HeavyTailResult, heavy_tail_experiment
from .imbalance import ImbalanceResult, imbalance_experiment
from .initialization import InitResult, init_experiment, layer_statistics
from .profiles import (
    ALGOPERF_TAU_MAX,
    as_times,
    performance_profile,
    performance_ratios,
    profile_breakpoints,
    profile_figure,
    profile_score,
    profile_table,
    study_times,
    trapezoid_score,
)
from .restarts import (
    RegressionResult,
    RestartsResult,
    regression_restarts_experiment,
    regression_truth,
    restarts_experiment,
)

__all__ = [
    "catalog", "compare", "sample_configs", "Method", "RunContext", "RunHistory", "MethodResult", "Comparison",
    "TrainRunner", "LogUniform", "Uniform", "Choice", "comparison_figure", "sweep_figure",
    "imbalance_experiment", "ImbalanceResult",
    "clients_experiment", "ClientsResult", "SEEDS_TABLE", "side_by_side", "build_clients_data",
    "restarts_experiment", "RestartsResult", "regression_restarts_experiment", "RegressionResult", "regression_truth",
    "heavy_tail_experiment", "HeavyTailResult",
    "init_experiment", "InitResult", "layer_statistics",
    "ALGOPERF_TAU_MAX", "as_times", "performance_ratios", "performance_profile", "profile_score", "trapezoid_score",
    "profile_breakpoints", "study_times", "profile_table", "profile_figure",
]
