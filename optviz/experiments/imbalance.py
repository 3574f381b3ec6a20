r"""Experiment 1 — class imbalance by parity (ALSO paper, section 6.1).

Ten classes are merged into two by parity and the odd class is thinned in train and validation to
:math:`N_\text{even}/N_\text{odd} = uc` (test stays balanced; :func:`optviz.data.parity_split`).
For every uc the harness tunes ALSO, AdamW, static weights and the DRO baselines with the same
budget and reports the test accuracy averaged over the two classes (balanced accuracy) and the
worst-class accuracy, mean ± std over seeds.

Sizes (``size=``):

* ``"tiny"`` — uc = 10 only, 2 configurations, 2 seeds, 2 epochs: seconds, for tests;
* ``"cpu"`` (default) — uc ∈ {1, 5, 10, 20}, scikit-learn digits 8×8, MLP 64→64→2, 10 configurations
  × 10 epochs + 3 seeds per method and uc (about three minutes on 2 cores);
* ``"full"`` — CIFAR-10 through torchvision (falls back to digits with a Russian warning when it
  cannot be had), CIFAR ResNet-18, 20 configurations × 30 epochs + 3 seeds, batch 128: a GPU job.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .harness import (
    TrainRunner,
    compare,
    format_mean_std,
    markdown_table,
    resolve_size,
    sweep_figure,
)

__all__ = ["SIZES", "ImbalanceResult", "imbalance_experiment"]

SIZES = {
    "tiny": dict(uc=(10,), dataset="digits", model="mlp", hidden=(32,), epochs=2, batch_size=64, trials=2,
                 seeds=(1, 2), groups="samples", eval_subset=None),
    "cpu": dict(uc=(1, 5, 10, 20), dataset="digits", model="mlp", hidden=(64,), epochs=10, batch_size=64,
                trials=10, seeds=(1, 2, 3), groups="samples", eval_subset=None),
    "full": dict(uc=(1, 5, 10, 20), dataset="cifar10", model="resnet18", hidden=(), epochs=30, batch_size=128,
                 trials=20, seeds=(1, 2, 3), groups="samples", eval_subset=None),
}


@dataclass
class ImbalanceResult:
    """Comparisons per uc (``comparisons[uc]``), data descriptions, the configuration and timings."""

    comparisons: dict
    descriptions: dict
    config: dict
    seconds: dict

    @property
    def methods(self) -> list[str]:
        return list(next(iter(self.comparisons.values())).methods)

    def table(self, metric: str = "mean_acc", digits: int = 4) -> list[dict]:
        """One row per method: ``metric`` (test, mean ± std over seeds) for every uc."""
        rows = []
        for name in self.methods:
            row = {"Метод": name}
            for uc, cmp in self.comparisons.items():
                mean, std = cmp.methods[name].summary.get(metric, (math.nan, math.nan))
                row[f"uc = {uc:g}"] = format_mean_std(mean, std, digits)
            rows.append(row)
        return rows

    def winners(self, metric: str = "mean_acc") -> dict:
        """uc → the method with the best seed-mean ``metric``."""
        return {uc: cmp.ranking(metric)[0] for uc, cmp in self.comparisons.items()}

    def markdown(self, metric: str = "mean_acc", digits: int = 4) -> str:
        return markdown_table(self.table(metric, digits))

    def figure(self, metric: str = "mean_acc"):
        return sweep_figure(self.comparisons, metric, x_title="коэффициент несбалансированности uc")


def _model_fn(cfg: dict, data):
    from ..models import mlp, resnet18_cifar

    n_classes = data.train.n_classes
    if cfg["model"] == "mlp":
        d = int(data.train.x[0].numel())
        return lambda seed: mlp(d, tuple(cfg["hidden"]), n_classes, seed=seed)
    channels = int(data.train.x.shape[1]) if data.train.x.dim() == 4 else 1
    return lambda seed: resnet18_cifar(n_classes, in_channels=channels, seed=seed)


def imbalance_experiment(size: str = "cpu", *, methods=None, device=None, progress: bool = False, log=None,
                         data_seed: int = 0, **overrides) -> ImbalanceResult:
    """Run experiment 1 at ``size`` (see the module docstring); keyword arguments override the preset
    (``uc``, ``epochs``, ``batch_size``, ``trials``, ``seeds``, ``groups``, ``dataset``, ``model``,
    ``hidden``, ``eval_subset``). ``methods`` replaces :func:`~optviz.experiments.catalog.imbalance_methods`.
    """
    from ..data import parity_split
    from . import catalog

    cfg = resolve_size(SIZES, size, overrides)
    methods = catalog.imbalance_methods(cfg["groups"]) if methods is None else list(methods)
    comparisons, descriptions, seconds = {}, {}, {}
    for uc in cfg["uc"]:
        t0 = time.perf_counter()
        data = parity_split(float(uc), dataset=cfg["dataset"], seed=data_seed, flatten=cfg["model"] == "mlp")
        descriptions[uc] = data.summary()
        runner = TrainRunner(data, _model_fn(cfg, data), epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                             device=device, eval_subset=cfg["eval_subset"])
        comparisons[uc] = compare(methods, runner, trials=cfg["trials"], seeds=cfg["seeds"], select="mean_acc",
                                  progress=progress, log=log)
        comparisons[uc].config["uc"] = uc
        seconds[uc] = time.perf_counter() - t0
    cfg["data_seed"] = data_seed
    return ImbalanceResult(comparisons, descriptions, cfg, seconds)

