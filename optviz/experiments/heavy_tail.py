r"""Experiment 4 — heavy-tailed class imbalance: SGD vs Adam, loss per frequency group.

The lecture's point (Kunstner et al., 2024): with class frequencies :math:`\propto k^{-a}` SGD
makes little progress on the rare classes while Adam does. Data: :func:`optviz.data.heavy_tail`
(synthetic Gaussian classes by default — many classes make a real tail), classes ranked by
frequency and split into groups holding about equal shares of the samples («голова», «середина»,
«хвост»). Model: a linear softmax classifier (``hidden=()``; the effect already shows there) or an
MLP.

Protocol: each optimizer gets the same learning-rate grid (``n_lrs`` log-spaced values in its own
range) and the same number of epochs; the learning rate with the lowest *training* loss at the end
is kept (this experiment is about optimisation speed, so the training loss is the criterion), then
rerun on every seed. The result holds the per-group training loss after every epoch.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np

from .._threads import torch_threads
from .harness import markdown_table, resolve_size

__all__ = ["SIZES", "HeavyTailResult", "heavy_tail_experiment"]

SIZES = {
    "tiny": dict(a=1.0, n_classes=20, n_features=16, n_head=60, hidden=(), epochs=3, batch_size=64, n_lrs=2,
                 seeds=(0,), momentum=0.9),
    "cpu": dict(a=1.0, n_classes=100, n_features=32, n_head=400, hidden=(), epochs=30, batch_size=64, n_lrs=5,
                seeds=(0, 1, 2), momentum=0.9),
    "full": dict(a=1.0, n_classes=1000, n_features=64, n_head=2000, hidden=(256,), epochs=100, batch_size=256,
                 n_lrs=8, seeds=(0, 1, 2), momentum=0.9),
}

#: learning-rate ranges searched (log-spaced, ``n_lrs`` values each)
LR_RANGES = {"SGD": (1e-2, 1.0), "Adam": (1e-4, 1e-1)}


@dataclass
class HeavyTailResult:
    """Per-group training-loss curves (mean over seeds) of SGD and Adam at their best learning rate."""

    group_names: list
    group_loss: dict        # method -> (seeds, epochs + 1, groups) training loss per group
    train_loss: dict        # method -> (seeds, epochs + 1) overall training loss
    best_lr: dict           # method -> chosen learning rate
    lr_search: dict         # method -> {lr: final training loss}
    description: str
    config: dict
    seconds: float

    def final_group_loss(self) -> dict:
        """method → mean over seeds of the final training loss of each group."""
        return {m: v[:, -1, :].mean(axis=0) for m, v in self.group_loss.items()}

    def table(self, digits: int = 3) -> list[dict]:
        rows = []
        for m, final in self.final_group_loss().items():
            row = {"Метод": f"{m} (lr = {self.best_lr[m]:.3g})"}
            start = self.group_loss[m][:, 0, :].mean(axis=0)
            for name, v, v0 in zip(self.group_names, final, start):
                row[f"{name}: потеря (старт → финал)"] = f"{v0:.{digits}f} → {v:.{digits}f}"
            rows.append(row)
        return rows

    def markdown(self, digits: int = 3) -> str:
        return markdown_table(self.table(digits))

    def figure(self):
        """One panel per method: the training loss of every frequency group over epochs."""
        from plotly.subplots import make_subplots

        from ..viz._style import PALETTE

        methods = list(self.group_loss)
        fig = make_subplots(rows=1, cols=len(methods), shared_yaxes=True,
                            subplot_titles=[f"{m} (lr = {self.best_lr[m]:.3g})" for m in methods])
        for j, m in enumerate(methods, 1):
            curves = self.group_loss[m].mean(axis=0)
            for g, name in enumerate(self.group_names):
                fig.add_scatter(x=np.arange(curves.shape[0]), y=curves[:, g], mode="lines", name=name,
                                line=dict(color=PALETTE[g % len(PALETTE)]), showlegend=(j == 1), row=1, col=j)
        fig.update_layout(title="Тяжёлый хвост классов: потеря на обучении по частотным группам",
                          template="plotly_white")
        fig.update_xaxes(title_text="эпоха")
        fig.update_yaxes(title_text="потеря на обучении", col=1)
        return fig


def _optimizer(method: str, lr: float, momentum: float):
    from ..optim import SGD, Adam

    if method == "SGD":
        return lambda params: SGD(params, lr=lr, momentum=momentum)
    return lambda params: Adam(params, lr=lr)


def heavy_tail_experiment(size: str = "cpu", *, device=None, data_seed: int = 0, **overrides) -> HeavyTailResult:
    """Run experiment 4 at ``size``; keyword arguments override :data:`SIZES` (``a``, ``n_classes``,
    ``n_features``, ``n_head``, ``hidden``, ``epochs``, ``batch_size``, ``n_lrs``, ``seeds``, ``momentum``)."""
    from ..data import heavy_tail
    from ..models import mlp
    from ..train import train

    cfg = resolve_size(SIZES, size, overrides)
    t0 = time.perf_counter()
    data = heavy_tail(cfg["a"], dataset="synthetic", n_classes=cfg["n_classes"], n_features=cfg["n_features"],
                      n_head=cfg["n_head"], seed=data_seed)
    d, c = int(data.train.x.shape[1]), data.train.n_classes

    def run(method, lr, seed):
        model = mlp(d, tuple(cfg["hidden"]), c, seed=seed)
        return train(model, _optimizer(method, lr, cfg["momentum"]), data, epochs=cfg["epochs"],
                     batch_size=cfg["batch_size"], seed=seed, eval_sets=("train",), progress=False, device=device)

    group_loss, train_loss, best_lr, search = {}, {}, {}, {}
    # the small sizes train a tiny MLP: one torch thread is much faster than many on a small CPU
    threads = contextlib.nullcontext() if size == "full" else torch_threads(1)
    with threads:
        for method, (lo, hi) in LR_RANGES.items():
            lrs = np.geomspace(lo, hi, cfg["n_lrs"])
            finals = {}
            for lr in lrs:
                res = run(method, float(lr), cfg["seeds"][0])
                v = float(res.curve("train", "loss")[-1])
                finals[float(lr)] = v if np.isfinite(v) else np.inf
            best = min(finals, key=finals.get)
            runs = [run(method, best, s) for s in cfg["seeds"]]
            group_loss[method] = np.stack([r.curve("train", "group_loss") for r in runs])
            train_loss[method] = np.stack([r.curve("train", "loss") for r in runs])
            best_lr[method], search[method] = best, finals
    cfg["data_seed"] = data_seed
    return HeavyTailResult(list(data.train.group_names), group_loss, train_loss, best_lr, search, data.summary(), cfg,
                           time.perf_counter() - t0)
