r"""Training networks: one loop for every optimizer of the course, per-group metrics, exact resume.

:func:`train` runs ``epochs`` passes over ``data.train`` and evaluates after every epoch (and before
the first one) on ``eval_sets``. The same call works for

* any ``torch.optim`` or optviz optimizer, given as an instance or as a factory
  ``params -> optimizer`` (the factory is called after the model is moved to the device);
* the group-DRO optimizers with the ``weighted_loss`` protocol (:class:`~optviz.optim.ALSO`,
  :class:`~optviz.optim.OptimisticMirrorProx`): the loss of a batch is
  ``opt.weighted_loss(per_sample_losses, groups=g)``, π is recorded, and the model is evaluated
  at the base point :math:`\theta_t` (``with opt.base_point():``), not at the extrapolated one;
* DRO objectives (``objective(losses, groups) -> scalar``, optional ``pi``, ``after_step()``,
  ``state_dict()``) with any optimizer; the default is the plain mean (ERM);
* :class:`~optviz.optim.Restarts` with validation criteria: after every epoch the trainer computes
  the validation loss and the norm of the full validation gradient
  :math:`\|\nabla_\theta \frac1n\sum_{i\in val}\ell_i(\theta)\|` (no step is taken) and calls
  ``opt.observe(val_loss=..., val_grad_norm=...)`` with what the criterion needs.

One iteration (the closure is what ``step`` evaluates; LBFGS or the extragradient mode may call
it twice — the first call gives the recorded training loss)::

    def closure():
        opt.zero_grad()
        losses = loss(model(x), y)                       # one loss per sample
        L = opt.weighted_loss(losses, groups=g)          # or objective(losses, g)
        L.backward()
        return L
    opt.step(closure); objective.after_step()

Reproducibility: ``seed`` seeds torch (CPU and CUDA), numpy and Python's ``random`` at the start;
the batch order of epoch e depends only on ``(seed, e)``. A checkpoint (``checkpoint=path``, written
atomically after every epoch) holds the model, the optimizer, the objective, the scheduler, the RNG
states, the epoch and the history, so that ``train(..., epochs=8, resume=path)`` after a 4-epoch
run gives bitwise the same numbers as 8 epochs in one go.

Metrics of a split (:func:`evaluate`): overall loss and accuracy; per group (class, client, …)
accuracy and loss; the worst-group accuracy and the mean over groups (groups without samples are
left out, as NaN); the macro-F1 over the classes present in the labels or the predictions
(scikit-learn's ``f1_score(average="macro")``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_int
from .optim.restarts import Restarts

__all__ = [
    "train",
    "evaluate",
    "validation_gradient_norm",
    "macro_f1",
    "per_sample_loss",
    "TrainResult",
    "METRICS",
    "METRIC_LABELS",
    "default_device",
]

#: scalar metrics of a split, per epoch
METRICS = ("loss", "accuracy", "mean_group_acc", "worst_group_acc", "macro_f1")
#: per-group metrics of a split, per epoch (arrays of shape (epochs + 1, n_groups))
GROUP_METRICS = ("group_acc", "group_loss")

#: Russian names for tables and captions
METRIC_LABELS = {
    "loss": "потеря",
    "accuracy": "точность",
    "mean_group_acc": "средняя точность по группам",
    "worst_group_acc": "точность худшей группы",
    "macro_f1": "macro-F1",
    "group_acc": "точность группы",
    "group_loss": "потеря группы",
    "train_loss": "потеря на обучении",
    "val_grad_norm": "норма градиента на валидации",
    "lr": "шаг обучения",
}
SPLIT_LABELS = {"train": "обучение", "val": "валидация", "test": "тест"}

_SIGNALS = ("val_loss", "val_grad_norm")
_CHECKPOINT_FORMAT = "optviz.train/1"


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ------------------------------------------------------------------------------------ losses
def per_sample_loss(outputs: torch.Tensor, targets: torch.Tensor, kind="cross_entropy") -> torch.Tensor:
    """One loss per sample, shape ``(B,)``.

    ``kind``: ``"cross_entropy"`` (logits ``(B, C)``, integer targets), ``"mse"`` (the mean squared
    error over the non-batch dimensions; targets ``(B,)`` go with outputs ``(B, 1)``) or a callable
    ``(outputs, targets) -> (B,)``.
    """
    if callable(kind):
        losses = kind(outputs, targets)
    elif kind == "cross_entropy":
        losses = F.cross_entropy(outputs, targets, reduction="none")
    elif kind == "mse":
        targets = targets.to(outputs.dtype).reshape(outputs.shape)
        losses = (outputs - targets).pow(2).reshape(outputs.shape[0], -1).mean(dim=1)
    else:
        check_choice("loss", kind, ("cross_entropy", "mse"))
    if losses.dim() != 1 or losses.shape[0] != outputs.shape[0]:
        raise ValueError(
            f"Функция потерь должна возвращать по одной потере на объект, форма ({outputs.shape[0]},); "
            f"получена форма {tuple(losses.shape)} (нужен reduction='none')."
        )
    return losses


def _is_classification(y: torch.Tensor) -> bool:
    return not (y.is_floating_point() or y.is_complex())


# --------------------------------------------------------------------------------- batching
def _unpack(batch):
    """``(x, y, g, client or None)`` from ``optviz.data.Batch``, a 3- or 4-tuple or a mapping."""
    if isinstance(batch, Mapping):
        g = batch.get("groups", batch.get("g"))
        return batch["x"], batch["y"], g, batch.get("client")
    if len(batch) == 4:
        return tuple(batch)
    if len(batch) == 3:  # optviz.data.Batch carries the clients as an attribute
        return batch[0], batch[1], batch[2], getattr(batch, "client", None)
    raise ValueError(
        f"Батч должен быть кортежем (x, y, groups) или (x, y, groups, client), получено {len(batch)} элементов."
    )


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(epoch)) % (2**63))


def _simple_batches(split, batch_size: int, *, seed: int, epoch: int, device):
    """Shuffled batches of a ``GroupedData``-like split; the order depends only on (seed, epoch)."""
    n = split.x.shape[0]
    order = torch.randperm(n, generator=_epoch_generator(seed, epoch))
    client = getattr(split, "client", None)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield (split.x[idx].to(device), split.y[idx].to(device), split.groups[idx].to(device),
               None if client is None else client[idx].to(device))


def _train_batches(data, epoch: int, batch_size: int, seed: int, device):
    """Batches of training epoch ``epoch`` (1-based here, as in the history; the data schedule counts
    epochs from 0, so a client joining after ``delay`` epochs really gets ``delay`` epochs alone)."""
    method = getattr(data, "train_batches", None)
    if callable(method):
        return method(epoch=epoch - 1, batch_size=batch_size, seed=seed, device=device)
    return _simple_batches(data.train, batch_size, seed=seed, epoch=epoch - 1, device=device)


def _subset_indices(n: int, subset, seed: int) -> torch.Tensor | None:
    """Fixed random subset of ``subset`` indices (sorted) — the same in every epoch; None: all."""
    if subset is None or subset >= n:
        return None
    gen = torch.Generator().manual_seed(int(seed) + 7919)
    return torch.sort(torch.randperm(n, generator=gen)[:subset]).values


def _eval_batches(split, batch_size: int, device, indices=None):
    x, y, g = split.x, split.y, split.groups
    client = getattr(split, "client", None)
    n = x.shape[0] if indices is None else indices.numel()
    for start in range(0, n, batch_size):
        if indices is None:
            sl = slice(start, start + batch_size)
        else:
            sl = indices[start:start + batch_size]
        yield (x[sl].to(device), y[sl].to(device), g[sl].to(device),
               None if client is None else client[sl].to(device))


def _forward(model: nn.Module, x, client):
    if getattr(model, "needs_client", False):
        return model(x, client=client)
    return model(x)


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


# ---------------------------------------------------------------------------------- metrics
def macro_f1(y_true, y_pred) -> float:
    r"""Macro-averaged F1 over the classes present in ``y_true`` or ``y_pred``.

    Per class :math:`F_1 = 2\,TP / (2\,TP + FP + FN)`; the average is unweighted — the same as
    ``sklearn.metrics.f1_score(y_true, y_pred, average="macro")``.
    """
    t = np.asarray(y_true.cpu() if isinstance(y_true, torch.Tensor) else y_true).astype(np.int64).reshape(-1)
    p = np.asarray(y_pred.cpu() if isinstance(y_pred, torch.Tensor) else y_pred).astype(np.int64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"y_true и y_pred должны иметь одинаковую длину, получено {t.size} и {p.size}.")
    if t.size == 0:
        return float("nan")
    k = int(max(t.max(), p.max())) + 1
    tp = np.bincount(t[t == p], minlength=k)
    support = np.bincount(t, minlength=k) + np.bincount(p, minlength=k)   # 2TP + FP + FN
    present = support > 0
    return float(np.mean(2.0 * tp[present] / support[present]))


def _group_stats(values: torch.Tensor, groups: torch.Tensor, n_groups: int) -> np.ndarray:
    """Mean of ``values`` in every group (NaN for empty groups), float64 numpy."""
    counts = torch.bincount(groups, minlength=n_groups).double()
    sums = torch.zeros(n_groups, dtype=torch.float64, device=values.device).index_add_(0, groups, values.double())
    out = (sums / counts).cpu().numpy()
    out[counts.cpu().numpy() == 0] = np.nan
    return out


def _n_groups(split) -> int:
    n = getattr(split, "n_groups", None)
    return int(n) if n is not None else int(split.groups.max()) + 1


@torch.no_grad()
def evaluate(model: nn.Module, split, *, loss="cross_entropy", device=None, batch_size: int = 1024,
             subset: int | None = None, seed: int = 0) -> dict:
    """Metrics of ``model`` on one ``GroupedData``-like split (``x``, ``y``, ``groups``, ``n_groups``).

    Evaluated in ``eval()`` mode without gradients. Returns a dict of plain numbers / numpy arrays:
    ``loss``, ``accuracy``, ``group_acc`` and ``group_loss`` (shape ``(n_groups,)``, NaN for
    groups without samples), ``mean_group_acc``, ``worst_group_acc``, ``macro_f1``, ``group_count``
    and ``n``. For regression (floating-point targets) only the losses are reported.
    ``subset`` evaluates a fixed random subset of that many samples (chosen from ``seed``).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    idx = _subset_indices(split.x.shape[0], subset, seed)
    n_groups = _n_groups(split)
    losses, preds, ys, gs = [], [], [], []
    with _eval_mode(model):
        for x, y, g, client in _eval_batches(split, batch_size, device, idx):
            out = _forward(model, x, client)
            losses.append(per_sample_loss(out, y, loss).double())
            if _is_classification(y):
                preds.append(out.argmax(dim=1))
            ys.append(y)
            gs.append(g.long())
    losses_t, y_t, g_t = torch.cat(losses), torch.cat(ys), torch.cat(gs)
    res = {
        "n": int(y_t.shape[0]),
        "loss": float(losses_t.mean()),
        "group_loss": _group_stats(losses_t, g_t, n_groups),
        "group_count": torch.bincount(g_t, minlength=n_groups).cpu().numpy(),
    }
    if preds:
        pred = torch.cat(preds)
        correct = (pred == y_t).double()
        group_acc = _group_stats(correct, g_t, n_groups)
        present = ~np.isnan(group_acc)
        res.update(
            accuracy=float(correct.mean()),
            group_acc=group_acc,
            mean_group_acc=float(group_acc[present].mean()) if present.any() else float("nan"),
            worst_group_acc=float(group_acc[present].min()) if present.any() else float("nan"),
            macro_f1=macro_f1(y_t, pred),
        )
    return res


def validation_gradient_norm(model: nn.Module, split, *, loss="cross_entropy", device=None,
                             batch_size: int = 1024, subset: int | None = None, seed: int = 0) -> float:
    r""":math:`\|\nabla_\theta \frac1n\sum_{i=1}^n \ell_i(\theta)\|_2` over the split (all trainable parameters).

    The full gradient of the mean loss, accumulated over batches in ``eval()`` mode with
    ``torch.autograd.grad`` — ``p.grad`` and the optimizer are left untouched.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    idx = _subset_indices(split.x.shape[0], subset, seed)
    n = split.x.shape[0] if idx is None else idx.numel()
    total = [torch.zeros_like(p) for p in params]
    with _eval_mode(model), torch.enable_grad():
        for x, y, _, client in _eval_batches(split, batch_size, device, idx):
            batch_loss = per_sample_loss(_forward(model, x, client), y, loss).sum() / n
            grads = torch.autograd.grad(batch_loss, params, allow_unused=True)
            for acc, gr in zip(total, grads):
                if gr is not None:
                    acc.add_(gr)
    sq = sum(t.double().pow(2).sum() for t in total)
    return float(torch.sqrt(sq))


# ------------------------------------------------------------------------------ the result
def _nan_array(shape) -> np.ndarray:
    return np.full(shape, np.nan)


@dataclass
class TrainResult:
    """Everything a training run produced, as numpy arrays and plain dicts.

    Per-epoch arrays have length ``epochs + 1``: index 0 is the model before training (when
    ``eval_initial``; otherwise NaN), index e the model after epoch e.

    Attributes
    ----------
    epochs : ``(E+1,)`` ints 0…E
    train : dict of ``(E+1,)`` arrays — ``loss`` (mean per-sample training loss over the epoch),
        ``objective`` (mean of the minimised scalar: weighted / DRO loss), ``accuracy`` (running,
        in train mode), ``lr`` (of the first parameter group, at the end of the epoch), ``time``
        (cumulative training seconds), ``val_grad_norm`` (NaN where not computed)
    metrics : ``{split: {metric: array}}`` — scalars of :data:`METRICS` with shape ``(E+1,)``,
        ``group_acc`` / ``group_loss`` with shape ``(E+1, n_groups)``
    pi : ``(E+1, G)`` group weights π at the end of every epoch (None without a DRO method)
    pi_steps : ``(S+1, G)`` π after every step (π₀ first), or None
    step_loss : ``(S,)`` training loss of every step
    restart_epochs, restart_steps : when :class:`~optviz.optim.Restarts` restarted (epochs whose
        ``observe`` fired; inner step counts of all restarts)
    group_names : names of the groups (Russian, from the data)
    config : what the run was (optimizer, hyperparameters, data, device, seed, …)
    times : seconds — ``train``, ``eval``, ``total``
    """

    epochs: np.ndarray
    train: dict
    metrics: dict
    pi: np.ndarray | None = None
    pi_steps: np.ndarray | None = None
    step_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    restart_epochs: list = field(default_factory=list)
    restart_steps: list = field(default_factory=list)
    group_names: list = field(default_factory=list)
    config: dict = field(default_factory=dict)
    times: dict = field(default_factory=dict)

    # -- access ------------------------------------------------------------------------------
    @property
    def n_epochs(self) -> int:
        return int(self.epochs[-1]) if len(self.epochs) else 0

    @property
    def splits(self) -> list[str]:
        return list(self.metrics)

    def _split(self, split: str) -> dict:
        if split not in self.metrics:
            raise ValueError(f"Выборка {split!r} не оценивалась; есть: {', '.join(self.metrics) or 'никаких'}.")
        return self.metrics[split]

    def curve(self, split: str, metric: str = "accuracy") -> np.ndarray:
        """The per-epoch array of ``metric`` on ``split`` (``(E+1,)``, or ``(E+1, G)`` for group metrics)."""
        m = self._split(split)
        if metric not in m:
            raise ValueError(f"Метрики {metric!r} нет для выборки {split!r}; есть: {', '.join(m)}.")
        return m[metric]

    def at(self, epoch: int, split: str = "test") -> dict:
        """Metrics of ``split`` after ``epoch``: scalars as floats, group metrics as lists."""
        m = self._split(split)
        e = int(epoch)
        if not 0 <= e < len(self.epochs):
            raise ValueError(f"Эпоха {epoch} вне диапазона [0, {len(self.epochs) - 1}].")
        out = {"epoch": e}
        for k, v in m.items():
            out[k] = float(v[e]) if v.ndim == 1 else [float(a) for a in v[e]]
        return out

    def final(self, split: str = "test") -> dict:
        """Metrics of ``split`` after the last epoch."""
        return self.at(len(self.epochs) - 1, split)

    def best(self, split: str = "val", metric: str = "mean_group_acc", *, mode: str | None = None) -> dict:
        """The epoch where ``metric`` on ``split`` is best (max; min for losses), and all splits there.

        Returns ``{"epoch", "value", "split", "metric", <every split>: at(epoch, split)}``: choose
        the epoch on validation, read the test figures at that epoch.
        """
        values = np.asarray(self.curve(split, metric), dtype=float)
        if values.ndim != 1:
            raise ValueError(f"best() выбирает по скалярной метрике, а {metric!r} задана по группам.")
        mode = mode or ("min" if "loss" in metric else "max")
        check_choice("mode", mode, ("min", "max"))
        if np.all(np.isnan(values)):
            raise ValueError(f"Метрика {metric!r} на {split!r} не вычислена ни в одну эпоху.")
        e = int(np.nanargmin(values) if mode == "min" else np.nanargmax(values))
        out = {"epoch": e, "value": float(values[e]), "split": split, "metric": metric}
        for s in self.metrics:
            out[s] = self.at(e, s)
        return out

    # -- tables --------------------------------------------------------------------------------
    def to_records(self) -> list[dict]:
        """One row per epoch: ``epoch``, ``train_*`` and ``<split>_<metric>`` scalars (pandas-ready)."""
        rows = []
        for i, e in enumerate(self.epochs):
            row = {"epoch": int(e)}
            for k, v in self.train.items():
                row[f"train_{k}"] = float(v[i])
            for s, m in self.metrics.items():
                for k, v in m.items():
                    if v.ndim == 1:
                        row[f"{s}_{k}"] = float(v[i])
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        """JSON-friendly copy (lists and numbers); :meth:`from_dict` reads it back."""
        def conv(v):
            if isinstance(v, np.ndarray):
                return v.tolist()
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [conv(x) for x in v]
            if isinstance(v, (np.floating, np.integer)):
                return v.item()
            return v

        return {k: conv(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainResult:
        def arr(v):
            return None if v is None else np.asarray(v, dtype=float)

        return cls(
            epochs=np.asarray(d["epochs"], dtype=np.int64),
            train={k: arr(v) for k, v in d["train"].items()},
            metrics={s: {k: arr(v) for k, v in m.items()} for s, m in d["metrics"].items()},
            pi=arr(d.get("pi")),
            pi_steps=arr(d.get("pi_steps")),
            step_loss=arr(d.get("step_loss", [])),
            restart_epochs=list(d.get("restart_epochs", [])),
            restart_steps=list(d.get("restart_steps", [])),
            group_names=list(d.get("group_names", [])),
            config=dict(d.get("config", {})),
            times=dict(d.get("times", {})),
        )

    # -- text ----------------------------------------------------------------------------------
    def _group_name(self, g: int) -> str:
        return self.group_names[g] if g < len(self.group_names) else f"группа {g}"

    def summary(self, *, digits: int = 3) -> str:
        """A Russian summary for lectures: the run, the final metrics per split, the best epoch, π."""
        c = self.config
        fmt = f"{{:.{digits}f}}"
        lines = [
            f"Обучение: {c.get('optimizer', '?')}"
            + (f" + {c['objective']}" if c.get("objective") else "")
            + f" на «{c.get('data', '?')}», эпох: {self.n_epochs}, батч {c.get('batch_size', '?')}, "
              f"устройство {c.get('device', '?')}, seed {c.get('seed', '?')}.",
            (f"Время: {self.times.get('total', float('nan')):.1f} с (обучение "
             f"{self.times.get('train', float('nan')):.1f} с, оценка {self.times.get('eval', float('nan')):.1f} с)."),
        ]
        if len(self.epochs) and not math.isnan(self.train["loss"][-1]):
            lines.append(f"Потеря на обучении в последнюю эпоху: {fmt.format(self.train['loss'][-1])}.")
        if self.metrics:
            lines.append(f"Итог (эпоха {self.n_epochs}):")
            head = f"  {'выборка':<11}{'потеря':>9}{'точность':>10}{'ср. по группам':>16}{'macro-F1':>10}   худшая группа"
            lines.append(head)
            for s in self.metrics:
                f = self.final(s)
                row = f"  {SPLIT_LABELS.get(s, s):<11}{fmt.format(f['loss']):>9}"
                if "accuracy" in f:
                    ga = np.asarray(f["group_acc"], dtype=float)
                    worst = self._group_name(int(np.nanargmin(ga))) if np.any(~np.isnan(ga)) else "—"
                    row += (f"{fmt.format(f['accuracy']):>10}{fmt.format(f['mean_group_acc']):>16}"
                            f"{fmt.format(f['macro_f1']):>10}   {fmt.format(f['worst_group_acc'])} («{worst}»)")
                lines.append(row)
            sel = "val" if "val" in self.metrics else next(iter(self.metrics))
            if "mean_group_acc" in self.metrics[sel] and not np.all(np.isnan(self.metrics[sel]["mean_group_acc"])):
                b = self.best(sel, "mean_group_acc")
                text = (f"Лучшая эпоха по средней точности по группам ({SPLIT_LABELS.get(sel, sel)}): {b['epoch']} — "
                        f"{fmt.format(b['value'])}")
                other = [s for s in self.metrics if s != sel]
                if other:
                    o = b[other[0]]
                    text += (f"; {SPLIT_LABELS.get(other[0], other[0])} в эту эпоху: средняя по группам "
                             f"{fmt.format(o['mean_group_acc'])}, худшая группа {fmt.format(o['worst_group_acc'])}")
                lines.append(text + ".")
        if self.restart_steps or self.restart_epochs:
            lines.append(f"Рестарты: {len(self.restart_steps)}"
                         + (f" (по валидационному сигналу после эпох {', '.join(map(str, self.restart_epochs))})"
                            if self.restart_epochs else "") + ".")
        if self.pi is not None and len(self.pi):
            last = self.pi[-1]
            if last.size <= 12:
                parts = ", ".join(f"{self._group_name(g)}: {last[g]:.3f}" for g in range(last.size))
                lines.append(f"Веса групп π в конце: {parts}.")
            else:
                lines.append(f"Веса групп π в конце: от {last.min():.3g} до {last.max():.3g} ({last.size} групп).")
        return "\n".join(lines)

    def __repr__(self):
        splits = ", ".join(self.metrics) or "—"
        return (f"TrainResult({self.config.get('optimizer', '?')}, epochs={self.n_epochs}, splits=[{splits}], "
                f"steps={len(self.step_loss)})")


# --------------------------------------------------------------------------------- history
class _History:
    """Lists growing epoch by epoch; turned into a :class:`TrainResult` (also for checkpoints)."""

    def __init__(self):
        self.epochs: list[int] = []
        self.train: dict[str, list[float]] = {k: [] for k in ("loss", "objective", "accuracy", "lr", "time",
                                                               "val_grad_norm")}
        self.metrics: dict[str, dict[str, list]] = {}
        self.pi: list[np.ndarray] = []
        self.pi_steps: list[np.ndarray] = []
        self.step_loss: list[np.ndarray] = []
        self.restart_epochs: list[int] = []
        self.times = {"train": 0.0, "eval": 0.0, "total": 0.0}

    def add_metrics(self, split: str, values: dict):
        m = self.metrics.setdefault(split, {})
        for k in (*METRICS, *GROUP_METRICS):
            if k in values:
                m.setdefault(k, []).append(np.asarray(values[k], dtype=float))

    def result(self, *, group_names, config, restart_steps) -> TrainResult:
        metrics = {}
        for s, m in self.metrics.items():
            metrics[s] = {k: np.stack(v) if v and np.ndim(v[0]) else np.asarray(v, dtype=float)
                          for k, v in m.items()}
        return TrainResult(
            epochs=np.asarray(self.epochs, dtype=np.int64),
            train={k: np.asarray(v, dtype=float) for k, v in self.train.items()},
            metrics=metrics,
            pi=np.stack(self.pi) if self.pi else None,
            pi_steps=np.concatenate(self.pi_steps) if self.pi_steps else None,
            step_loss=np.concatenate(self.step_loss) if self.step_loss else np.zeros(0),
            restart_epochs=list(self.restart_epochs),
            restart_steps=list(restart_steps),
            group_names=list(group_names),
            config=copy.deepcopy(config),
            times=dict(self.times),
        )

    def state(self) -> dict:
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items()}

    def load(self, state: dict):
        for k, v in state.items():
            setattr(self, k, copy.deepcopy(v))


# ------------------------------------------------------------------------------ the trainer
def _mean_objective(losses: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """ERM: the plain mean of the per-sample losses."""
    return losses.mean()


def _core(optimizer):
    """The optimizer under wrappers such as :class:`Restarts` (whatever has the real state)."""
    while isinstance(optimizer, Restarts):
        optimizer = optimizer.optimizer
    return optimizer


def _is_optimizer(obj) -> bool:
    return isinstance(obj, (torch.optim.Optimizer, Restarts)) or (
        hasattr(obj, "step") and hasattr(obj, "param_groups") and hasattr(obj, "zero_grad"))


def _describe_optimizer(opt) -> tuple[str, dict]:
    core = _core(opt)
    name = type(core).__name__
    if isinstance(opt, Restarts):
        name = f"Restarts({name}, {opt.criterion!r})"
    hyper = {}
    for k, v in core.param_groups[0].items():
        if k == "params":
            continue
        if isinstance(v, torch.Tensor):
            v = v.tolist()
        if isinstance(v, (int, float, str, bool, tuple, list)) or v is None:
            hyper[k] = list(v) if isinstance(v, tuple) else v
    for k in ("n_groups", "pi_lr", "pi_decay", "pi_temperature", "mode"):
        if hasattr(core, k):
            v = getattr(core, k)
            hyper[k] = v.tolist() if isinstance(v, torch.Tensor) else v
    return name, hyper


def _lr(opt) -> float:
    """The learning rate of the first parameter group (NaN when it is not one number)."""
    lr = opt.param_groups[0].get("lr")
    try:
        return float(lr)
    except (TypeError, ValueError, RuntimeError):
        return float("nan")


def _nan_metrics(split) -> dict:
    """Placeholder metrics (NaN) of a split that was not evaluated."""
    n_groups = _n_groups(split)
    out = {"loss": np.nan, "group_loss": _nan_array(n_groups)}
    if _is_classification(split.y):
        out.update(accuracy=np.nan, mean_group_acc=np.nan, worst_group_acc=np.nan, macro_f1=np.nan,
                   group_acc=_nan_array(n_groups))
    return out


def _rng_state() -> dict:
    state = {"torch": torch.random.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.random.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)  # also seeds every CUDA device
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _under_pytest() -> bool:
    return "PYTEST_CURRENT_TEST" in os.environ


def _save_checkpoint(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _signals_needed(optimizer, restart_signal) -> tuple[tuple[str, ...], bool]:
    """(signals to compute, whether to call ``observe``)."""
    is_restarts = isinstance(optimizer, Restarts)
    if restart_signal is None:  # automatic: what the criterion needs
        if not is_restarts:
            return (), False
        sig = optimizer.criterion.signal
        return ((sig,) if sig in _SIGNALS else ()), True
    if restart_signal is False or restart_signal == "off":
        return (), False
    sigs = (restart_signal,) if isinstance(restart_signal, str) else tuple(restart_signal)
    for s in sigs:
        check_choice("restart_signal", s, _SIGNALS)
    return sigs, is_restarts


def train(model: nn.Module, optimizer, data, *, epochs: int, batch_size: int, objective=None, device=None,
          seed: int = 0, scheduler=None, restart_signal=None, eval_sets: Sequence[str] = ("val", "test"),
          checkpoint=None, resume=None, progress: bool = True, eval_subset: int | None = None,
          loss="cross_entropy", eval_batch_size: int = 1024, eval_initial: bool = True,
          scheduler_interval: str = "epoch", record_pi_steps: bool | None = None,
          deterministic: bool = False) -> TrainResult:
    r"""Train ``model`` on ``data.train`` for ``epochs`` epochs; evaluate on ``eval_sets`` after each.

    Parameters
    ----------
    model : nn.Module
        Moved to ``device``. A model with ``needs_client = True`` (:class:`~optviz.models.SplitModel`)
        is called as ``model(x, client=c)`` with the client ids of the batch (4th element of a batch,
        ``split.client`` in evaluation).
    optimizer : optimizer or callable
        An instance (torch, optviz, :class:`~optviz.optim.Restarts`) over ``model``'s parameters, or
        a factory ``params -> optimizer`` (preferred: it is called after the model is on the device).
    data : DataSplits-like
        ``train``, ``val``, ``test`` (``GroupedData``-like: ``x``, ``y``, ``groups``, ``n_groups``,
        ``group_names``, optional ``client``), ``name``; ``train_batches(epoch=, batch_size=, seed=,
        device=)`` if present gives the batches of an epoch (else shuffled batches of ``train``).
    epochs, batch_size : int
        Total number of epochs (also when resuming) and the training batch size.
    objective : callable, optional
        ``objective(losses, groups) -> scalar`` (a DRO baseline); default: the mean. Not allowed
        together with a ``weighted_loss`` optimizer (it already defines the objective).
    device : str or torch.device, optional
        Default: CUDA if available, else CPU.
    seed : int
        Seeds torch, numpy and ``random`` at the start; with the epoch it fixes the batch order.
    scheduler : LR scheduler or callable, optional
        An instance over the (inner) optimizer, or a factory ``optimizer -> scheduler``. Stepped
        every epoch (``scheduler_interval="step"``: every step); ``ReduceLROnPlateau`` gets the
        validation loss.
    restart_signal : None, "off", "val_loss", "val_grad_norm" or both in a tuple
        What to compute after every epoch for restart criteria. None: what the
        :class:`~optviz.optim.Restarts` criterion needs (and ``observe`` is called every epoch).
        Explicit signals are recorded (``train["val_grad_norm"]``) for any optimizer and passed to
        ``observe`` when the optimizer is a ``Restarts``; ``"off"`` never calls ``observe``.
    eval_sets : splits to evaluate every epoch (any of ``"train"``, ``"val"``, ``"test"``).
    checkpoint : path, optional
        Written after every epoch (atomically): model, optimizer, objective, scheduler, RNG states,
        epoch, history. Load with ``torch.load(..., weights_only=False)`` — only files you trust.
    resume : path or True, optional
        Continue from a checkpoint (True: from ``checkpoint`` when the file exists) up to ``epochs``.
        The model, optimizer, objective and scheduler are built as for a fresh run, then loaded.
    progress : bool
        ``tqdm.auto`` bar over the steps (over the epochs when ``data`` has no ``n_train_batches``);
        always off under pytest.
    eval_subset : int, optional
        Evaluate on a fixed random subset of that many samples of each split (faster).
    loss : "cross_entropy", "mse" or callable ``(outputs, targets) -> (B,)``.
    eval_batch_size, eval_initial : batch size of evaluation; evaluate before training (epoch 0).
    record_pi_steps : record π after every step (default: when there are at most 1000 groups).
    deterministic : also ask cuDNN for deterministic kernels (``cudnn.deterministic``, no benchmark).
    """
    check_int("epochs", epochs, 0)
    check_int("batch_size", batch_size, 1)
    check_int("seed", seed, 0)
    check_int("eval_batch_size", eval_batch_size, 1)
    check_choice("scheduler_interval", scheduler_interval, ("epoch", "step"))
    if eval_subset is not None:
        check_int("eval_subset", eval_subset, 1)
    eval_sets = (eval_sets,) if isinstance(eval_sets, str) else tuple(eval_sets)
    for s in eval_sets:
        check_choice("eval_sets", s, ("train", "val", "test"))
        if getattr(data, s, None) is None:
            raise ValueError(f"Выборки {s!r} нет в данных {getattr(data, 'name', '')!r}: уберите её из eval_sets.")
    if not callable(loss):
        check_choice("loss", loss, ("cross_entropy", "mse"))

    device = default_device() if device is None else torch.device(device)
    if deterministic and device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    _seed_everything(seed)
    model.to(device)

    # optimizer, objective, scheduler
    opt = optimizer if _is_optimizer(optimizer) else None
    if opt is None:
        if not callable(optimizer):
            raise ValueError(
                "Параметр optimizer должен быть оптимизатором или функцией params -> оптимизатор, "
                f"получено {type(optimizer).__name__}.")
        opt = optimizer(model.parameters())
        if not _is_optimizer(opt):
            raise ValueError(f"Фабрика optimizer вернула {type(opt).__name__}, а не оптимизатор.")
    core = _core(opt)
    weighted = callable(getattr(core, "weighted_loss", None))
    if weighted and objective is not None:
        raise ValueError(
            f"{type(core).__name__} сам задаёт взвешенную потерю (weighted_loss): параметр objective "
            "с ним не используется — уберите objective или возьмите обычный оптимизатор.")
    obj = objective if objective is not None else _mean_objective
    if scheduler is not None and not hasattr(scheduler, "step"):
        scheduler = scheduler(core)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    signals, observe = _signals_needed(opt, restart_signal)
    if signals and getattr(data, "val", None) is None:
        raise ValueError("Сигналы для рестартов (val_loss, val_grad_norm) считаются на валидации, а data.val нет.")
    base_ctx = getattr(core, "base_point", None)

    def pi_now():
        if weighted and hasattr(core, "pi"):
            return core.pi
        p = getattr(objective, "pi", None) if objective is not None else None
        return p() if callable(p) else p

    group_names = list(getattr(data.train, "group_names", None) or [])
    opt_name, hyper = _describe_optimizer(opt)
    config = {
        "optimizer": opt_name,
        "hyper": hyper,
        "objective": None if objective is None else (getattr(objective, "name", None) or repr(objective)),
        "data": getattr(data, "name", type(data).__name__),
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "device": str(device),
        "eval_sets": list(eval_sets),
        "eval_subset": eval_subset,
        "loss": loss if isinstance(loss, str) else getattr(loss, "__name__", "custom"),
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "model": type(model).__name__,
    }

    hist = _History()
    start_epoch = 0
    steps_done = 0
    if resume is True:
        resume = checkpoint if (checkpoint is not None and Path(checkpoint).exists()) else None
    if resume is not None and resume is not False:
        path = Path(resume)
        if not path.exists():
            raise FileNotFoundError(f"Чекпоинт {str(path)!r} не найден.")
        ck = torch.load(path, map_location=device, weights_only=False)
        if ck.get("format") != _CHECKPOINT_FORMAT:
            raise ValueError(f"Файл {str(path)!r} — не чекпоинт optviz.train.")
        for key in ("batch_size", "seed"):
            if ck["config"][key] != config[key]:
                raise ValueError(
                    f"Чекпоинт записан с {key}={ck['config'][key]}, а продолжение запущено с "
                    f"{key}={config[key]}: точное продолжение невозможно, передайте те же значения.")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if ck.get("objective") is not None and hasattr(obj, "load_state_dict"):
            obj.load_state_dict(ck["objective"])
        if ck.get("scheduler") is not None and scheduler is not None:
            scheduler.load_state_dict(ck["scheduler"])
        hist.load(ck["history"])
        start_epoch, steps_done = int(ck["epoch"]), int(ck["steps"])
        _set_rng_state(ck["rng"])

    pi0 = pi_now()
    if record_pi_steps is None:
        record_pi_steps = pi0 is not None and pi0.numel() <= 1000

    def evaluate_all(epoch: int, train_loss: float | None):
        """Metrics, signals and π at the end of ``epoch`` (at the base point for optimistic methods)."""
        t0 = time.perf_counter()
        values = {}
        with (base_ctx() if base_ctx is not None else contextlib.nullcontext()):
            for s in eval_sets:
                m = evaluate(model, getattr(data, s), loss=loss, device=device, batch_size=eval_batch_size,
                             subset=eval_subset, seed=seed)
                hist.add_metrics(s, m)
                if s == "val":
                    values["val_loss"] = m["loss"]
            if "val_loss" in signals and "val_loss" not in values:
                values["val_loss"] = evaluate(model, data.val, loss=loss, device=device, batch_size=eval_batch_size,
                                              subset=eval_subset, seed=seed)["loss"]
            if "val_grad_norm" in signals:
                values["val_grad_norm"] = validation_gradient_norm(
                    model, data.val, loss=loss, device=device, batch_size=eval_batch_size,
                    subset=eval_subset, seed=seed)
        hist.train["val_grad_norm"].append(values.get("val_grad_norm", float("nan")))
        pi = pi_now()
        if pi is not None:
            hist.pi.append(pi.detach().double().cpu().numpy().reshape(-1))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        hist.times["eval"] += time.perf_counter() - t0
        return values

    wall0 = time.perf_counter()
    if start_epoch == 0 and not hist.epochs:
        hist.epochs.append(0)
        for k in ("loss", "objective", "accuracy"):
            hist.train[k].append(float("nan"))
        hist.train["lr"].append(_lr(core))
        hist.train["time"].append(0.0)
        if eval_initial:
            evaluate_all(0, None)
        else:
            hist.train["val_grad_norm"].append(float("nan"))
            for s in eval_sets:
                hist.add_metrics(s, _nan_metrics(getattr(data, s)))
            if pi0 is not None:
                hist.pi.append(pi0.detach().double().cpu().numpy().reshape(-1))
        if record_pi_steps and pi0 is not None:
            hist.pi_steps.append(pi0.detach().double().cpu().numpy().reshape(1, -1))

    bar, per_step = None, False
    if progress and not _under_pytest() and epochs > start_epoch:
        from tqdm.auto import tqdm

        counter = getattr(data, "n_train_batches", None)
        if callable(counter):  # a bar over steps, the epoch in the postfix
            per_step = True
            total = sum(counter(epoch=e, batch_size=batch_size) for e in range(start_epoch, epochs))
            bar = tqdm(total=total, desc=opt_name[:40], unit="шаг")
        else:
            bar = tqdm(total=epochs, initial=start_epoch, desc=opt_name[:40], unit="эп.")

    model.train()
    for epoch in range(start_epoch + 1, epochs + 1):
        t0 = time.perf_counter()
        step_losses, step_pis = [], []
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        obj_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.float64, device=device)
        n_seen, n_steps, classification = 0, 0, True
        for batch in _train_batches(data, epoch, batch_size, seed, device):
            x, y, g, client = _unpack(batch)
            x, y, g = x.to(device), y.to(device), g.to(device)
            if client is not None:
                client = client.to(device)
            first: list = []

            def closure(x=x, y=y, g=g, client=client, first=first):
                opt.zero_grad()
                out = _forward(model, x, client)
                losses = per_sample_loss(out, y, loss)
                value = core.weighted_loss(losses, groups=g) if weighted else obj(losses, g)
                value.backward()
                if not first:
                    first.append((losses.detach(), value.detach(), out.detach()))
                return value

            opt.step(closure)
            if objective is not None and hasattr(objective, "after_step"):
                objective.after_step()
            if scheduler is not None and scheduler_interval == "step" and not plateau:
                scheduler.step()
            losses, value, out = first[0]
            loss_sum += losses.double().sum()
            obj_sum += value.double()
            step_losses.append(losses.double().mean())
            classification = _is_classification(y)
            if classification:
                correct += (out.argmax(dim=1) == y).double().sum()
            n_seen += y.shape[0]
            n_steps += 1
            if record_pi_steps:
                p = pi_now()
                if p is not None:
                    step_pis.append(p.detach().double().reshape(-1))
            if per_step:
                bar.update(1)
        if n_steps == 0:
            raise ValueError("Эпоха не содержит ни одного батча: обучающая выборка пуста.")
        steps_done += n_steps
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time = time.perf_counter() - t0
        hist.times["train"] += train_time

        train_loss = float(loss_sum) / n_seen
        hist.epochs.append(epoch)
        hist.train["loss"].append(train_loss)
        hist.train["objective"].append(float(obj_sum) / n_steps)
        hist.train["accuracy"].append(float(correct) / n_seen if classification else float("nan"))
        hist.train["time"].append(hist.train["time"][-1] + train_time)
        hist.step_loss.append(torch.stack(step_losses).cpu().numpy())
        if step_pis:
            hist.pi_steps.append(torch.stack(step_pis).cpu().numpy())

        values = evaluate_all(epoch, train_loss)
        if scheduler is not None and (plateau or scheduler_interval == "epoch"):
            if plateau:
                if "val_loss" not in values:
                    raise ValueError("ReduceLROnPlateau нужна потеря на валидации: добавьте 'val' в eval_sets.")
                scheduler.step(values["val_loss"])
            else:
                scheduler.step()
        hist.train["lr"].append(_lr(core))
        if observe:
            crit_signal = opt.criterion.signal
            feed = {k: values[k] for k in signals if k in values}
            if crit_signal == "loss":
                feed["loss"] = train_loss
            if opt.observe(**feed):
                hist.restart_epochs.append(epoch)
        model.train()

        if checkpoint is not None:
            hist.times["total"] += time.perf_counter() - wall0
            wall0 = time.perf_counter()
            _save_checkpoint(Path(checkpoint), {
                "format": _CHECKPOINT_FORMAT,
                "epoch": epoch,
                "steps": steps_done,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "objective": obj.state_dict() if hasattr(obj, "state_dict") else None,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "rng": _rng_state(),
                "history": hist.state(),
                "config": config,
            })
        if bar is not None:
            post = {"эпоха": f"{epoch}/{epochs}", "потеря": f"{train_loss:.3f}"}
            for s in ("val", "test"):
                if s in hist.metrics and "accuracy" in hist.metrics[s]:
                    post[f"{s} acc"] = f"{hist.metrics[s]['accuracy'][-1]:.3f}"
            bar.set_postfix(post, refresh=not per_step)
            if not per_step:
                bar.update(1)
    if bar is not None:
        bar.close()
    hist.times["total"] += time.perf_counter() - wall0
    restart_steps = list(opt.restart_steps) if isinstance(opt, Restarts) else []
    return hist.result(group_names=group_names, config=config, restart_steps=restart_steps)
