r"""Experiment 2 beyond one machine: one process per client, π on the server rank.

The two heterogeneous clients of :func:`optviz.data.two_clients` are a federated setting. This
module runs that experiment with **each client in its own process** through ``torch.distributed``
(gloo on CPU, NCCL on GPUs), started with ``torchrun``, and reproduces the single-process trainer
:func:`optviz.train.train` step for step.

Commands
--------
Two CPU processes on one machine (gloo; loopback only)::

    python -m torch.distributed.run --nnodes=1 --nproc_per_node=2 \
        --master_addr=127.0.0.1 --master_port=29500 \
        -m optviz.distributed --epochs 10 --out runs/two_clients.pt

Two GPUs, one client per GPU (NCCL; ``--device auto`` picks ``cuda:LOCAL_RANK`` there)::

    python -m torch.distributed.run --nnodes=1 --nproc_per_node=2 \
        --master_addr=127.0.0.1 --master_port=29500 \
        -m optviz.distributed --backend nccl --epochs 30 --hidden 512 256 --out runs/two_clients_gpu.pt

Two machines, one client each: the same command with ``--nnodes=2 --node_rank=0|1
--nproc_per_node=1 --master_addr=<address of node 0>``. ``--backend auto`` (the default) means NCCL
when CUDA is available, else gloo. The world size must equal the number of clients (2). If gloo
picks a wrong network interface (the host name resolving to an unreachable address), put
``GLOO_SOCKET_IFNAME=lo`` in front of the CPU command to stay on loopback (:func:`launch` does).
The NCCL path needs two GPUs (NCCL refuses two ranks on one device); it has not been run here.
From Python (a notebook or the tests) :func:`launch` runs exactly the first command in a
subprocess on a free loopback port and returns the result; :func:`simulate` is the
single-process reference (plain :func:`~optviz.train.train`).

What each process does
----------------------
Rank ``w`` is the worker of client ``w`` (client 1 is rank 0, client 2 is rank 1); rank 0 is also
the **server**: it holds the optimizer — ALSO's Adam state *and* π over the workers (groups =
clients) — and is the only rank that updates. One training step (batch ``b`` of the schedule, of
union size :math:`B = \sum_w B_w`):

1. ``all_reduce(SUM)`` of the per-worker batch sizes :math:`B_w` (so every worker knows
   :math:`B` and the loss scale :math:`s = c/B`, ``c`` = number of clients, ALSO's default);
2. worker ``w`` takes **only its client's rows** of the batch, computes the per-sample losses
   :math:`\ell_i` and backpropagates :math:`\pi_{t+1/2}[w]\; s \sum_{i\in w}\ell_i`
   (a plain optimizer: :math:`\frac1B\sum_{i\in w}\ell_i`, the ERM mean);
3. ``reduce(SUM)`` to rank 0 of one flat buffer: the gradients, a has-gradient flag per parameter
   tensor, :math:`\sum_{i\in w}\ell_i` and the number of correct predictions of every worker. The
   summed gradient **is** the gradient of ``opt.weighted_loss(losses, groups)`` over the union
   batch, because that loss is a sum over samples;
4. rank 0 records the group signal :math:`h_w = -s\sum_{i\in w}\ell_i` by calling
   ``opt.weighted_loss(loss_sums, groups=present_workers, loss_scale=s)`` (the per-worker sum is
   the "loss" of group ``w``, so ALSO's own bookkeeping computes exactly :math:`h_w`), then
   ``opt.step()``: the Adam step on θ and the KL mirror step on π
   (:func:`~optviz.optim._functional.kl_mirror_step`) with ALSO's optimistic extrapolation;
5. ``broadcast`` from rank 0 of the new parameters (the extrapolated point where the next
   gradient is taken) and of :math:`\pi_{t+3/2}` (the weights the workers apply next).

Design choice: *rank 0 updates and broadcasts the parameters* (a parameter server) rather than
every rank repeating the update on replicated state. The optimizer state, π and its history live
in one place; any optimizer works unchanged; the cost per step is one tiny ``all_reduce`` plus a
``reduce`` and a ``broadcast`` of the parameter vector (the same volume as one ``all_reduce``).
Evaluation (at ALSO's base point :math:`\theta_t`) and the :class:`~optviz.train.TrainResult`
are computed on rank 0 after every epoch; the other ranks wait at the next collective.

The schedule and the absent client
----------------------------------
Every rank iterates the same deterministic schedule — the very batches :func:`~optviz.train.train`
takes in each epoch (its helper is reused, so the epoch numbering cannot drift apart: trainer epoch
``e`` = data-schedule epoch ``e − 1``, i.e. client 2 joins after ``delay`` epochs) — and keeps
only its client's rows.

* ``mode="alternate"`` (default) — the schedule of :class:`~optviz.data.TwoClientSchedule` as it
  is: during the delay only client 1's batches, then batches of client 1 and client 2 alternate.
  Each step has exactly one active worker; the other one contributes a zero gradient (no
  parameter gets a gradient from it) and **no signal**. Bit-for-bit the trainer's trajectory up
  to floating-point summation order — but the workers take turns instead of computing at once.
* ``mode="parallel"`` — after the delay, the k-th batches of client 1 and client 2 (consecutive in
  the alternating schedule) form **one** step, computed by both workers simultaneously. Its
  single-process reference is the trainer on :func:`paired_schedule` (the same pairs merged into
  one batch); the number of steps after the delay halves.

How π treats an absent client: the server sets :math:`h_w = 0` for a worker without samples in
the step — exactly what ALSO computes for a group with no samples in its batch, which is what
makes the two runs equal. So the mirror step
:math:`\pi\propto\exp\big((\log\pi+\eta\tau\log\hat\pi-\eta h)/(1+\eta\tau)\big)` raises the active
client's weight (:math:`h<0`) relative to the absent one's, and the KL pull τ towards the prior
bounds the drift; π is *not* frozen for absent clients (that would be a different algorithm).

Limits (exact equality needs them): models without BatchNorm (per-client batch statistics differ
from the union batch's) and without dropout (the random masks depend on the process); the DRO
objectives of :mod:`optviz.objectives` (which need every per-sample loss on one rank) are not
distributed — use ALSO (``weighted_loss``) or a plain optimizer (ERM). Every rank builds the same
:class:`~optviz.data.DataSplits` from the seed and then reads only its client's rows of each
training batch; a real federated deployment would load only its own data.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._checks import check_choice, check_int, check_range

__all__ = [
    "DistributedConfig",
    "build_data",
    "build_model",
    "build_optimizer",
    "free_port",
    "launch",
    "main",
    "paired_schedule",
    "run_worker",
    "simulate",
]

OPTIMIZERS = ("also", "adamw", "sgd")
MODES = ("alternate", "parallel")
BACKENDS = ("auto", "gloo", "nccl")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


# ----------------------------------------------------------------------------- configuration
@dataclass
class DistributedConfig:
    """One run of experiment 2 (two clients) — the same object drives :func:`simulate` and the workers.

    Data: :func:`optviz.data.two_clients` with ``dataset``, ``delay``, ``alternate`` (``"batch"`` or
    ``"epoch"``), groups = clients. Model: :func:`optviz.models.mlp` with ``hidden`` (He
    initialisation from ``seed``) in ``dtype``. Optimizer: ``"also"`` (:class:`~optviz.optim.ALSO`
    with ``lr``, ``pi_lr``, ``pi_decay``, ``weight_decay``, ``alpha``), ``"adamw"`` or ``"sgd"``
    (with ``momentum``) on the ERM mean. ``mode``: ``"alternate"`` or ``"parallel"`` (module
    docstring). ``eval_sets`` are evaluated on rank 0 after every epoch.
    """

    epochs: int = 3
    batch_size: int = 64
    delay: int = 1
    alternate: str = "batch"
    mode: str = "alternate"
    dataset: str = "digits"
    optimizer: str = "also"
    lr: float = 1e-3
    weight_decay: float = 1e-3
    pi_lr: float = 1e-2
    pi_decay: float = 1e-2
    alpha: float = 1.0
    momentum: float = 0.9
    hidden: tuple = (64,)
    seed: int = 0
    dtype: str = "float32"
    eval_sets: tuple = ("val", "test")

    def __post_init__(self):
        check_int("epochs", self.epochs, 0)
        check_int("batch_size", self.batch_size, 1)
        check_int("delay", self.delay, 0)
        check_choice("alternate", self.alternate, ("batch", "epoch"))
        check_choice("mode", self.mode, MODES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for name in ("lr", "weight_decay", "pi_lr", "pi_decay", "alpha"):
            check_range(name, getattr(self, name), 0.0)
        check_range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        self.hidden = tuple(int(h) for h in self.hidden)
        for h in self.hidden:
            check_int("hidden", h, 1)
        check_int("seed", self.seed, 0)
        check_choice("dtype", self.dtype, tuple(DTYPES))
        self.eval_sets = tuple(self.eval_sets)
        for s in self.eval_sets:
            check_choice("eval_sets", s, ("train", "val", "test"))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"], d["eval_sets"] = list(self.hidden), list(self.eval_sets)
        return d


# -------------------------------------------------------------------------- shared builders
class _MergedPairs:
    """Schedule wrapper: consecutive batches of *different* clients become one batch (see ``paired_schedule``)."""

    def __init__(self, inner):
        self.inner = inner

    def __repr__(self):
        return f"paired({self.inner!r})"

    def _steps(self, train, epoch, batch_size, seed):
        plan = self.inner.plan(train, epoch, batch_size, seed)
        steps, k = [], 0
        while k < len(plan):
            if k + 1 < len(plan) and plan[k + 1][0] != plan[k][0]:
                steps.append(np.concatenate([plan[k][1], plan[k + 1][1]]))
                k += 2
            else:
                steps.append(plan[k][1])
                k += 1
        return steps

    def n_batches(self, train, epoch, batch_size):
        return len(self._steps(train, epoch, batch_size, 0))

    def __call__(self, train, epoch, batch_size, seed=0, device=None):
        for index in self._steps(train, epoch, batch_size, seed):
            yield train.batch(index, device)


def paired_schedule(data):
    """``data`` whose schedule merges client 1's and client 2's k-th batches into one step.

    The single-process reference of ``mode="parallel"``: with :class:`~optviz.data.TwoClientSchedule`
    (``alternate="batch"``) the epoch's plan is 1, 2, 1, 2, …; each pair (1, 2) becomes one batch of
    the union, the delay epochs (client 1 only) stay as they are.
    """
    schedule = getattr(data, "schedule", None)
    if schedule is None or not callable(getattr(schedule, "plan", None)):
        raise ValueError(
            "Режим parallel требует расписания двух клиентов с методом plan() "
            "(optviz.data.two_clients): параллельно считать нечего."
        )
    return replace(data, schedule=_MergedPairs(schedule))


def build_data(cfg: DistributedConfig):
    """The two-client :class:`~optviz.data.DataSplits` (groups = clients; paired in ``parallel`` mode)."""
    from .data import two_clients

    data = two_clients(cfg.delay, dataset=cfg.dataset, groups="clients", alternate=cfg.alternate, seed=cfg.seed)
    return paired_schedule(data) if cfg.mode == "parallel" else data


class _AsDtype(nn.Module):
    """Cast the input to the dtype of the following layers (the data sets are float32)."""

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.dtype = dtype

    def forward(self, x):
        return x.to(self.dtype)

    def extra_repr(self):
        return str(self.dtype)


def build_model(cfg: DistributedConfig, data) -> nn.Module:
    """MLP ``in → hidden… → n_classes`` (He initialisation from ``cfg.seed``) in ``cfg.dtype``."""
    from .models import mlp

    in_features = int(np.prod(tuple(data.train.x.shape[1:])))
    net = mlp(in_features, cfg.hidden, data.train.n_classes, init="he", seed=cfg.seed)
    dtype = DTYPES[cfg.dtype]
    return nn.Sequential(_AsDtype(dtype), net.to(dtype))


def build_optimizer(cfg: DistributedConfig, params, n_clients: int = 2):
    """ALSO over the clients (π on the simplex of ``n_clients``), AdamW or SGD with momentum."""
    if cfg.optimizer == "also":
        from .optim.also import ALSO

        return ALSO(params, n_groups=n_clients, lr=cfg.lr, weight_decay=cfg.weight_decay,
                    pi_lr=cfg.pi_lr, pi_decay=cfg.pi_decay, alpha=cfg.alpha)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _n_clients(data) -> int:
    client = getattr(data.train, "client", None)
    if client is None:
        raise ValueError("В данных нет номеров клиентов (train.client): распределённый запуск не к чему применить.")
    return int(client.max()) + 1


def simulate(cfg: DistributedConfig, *, device=None):
    """The single-process reference: :func:`optviz.train.train` on the same data, model and optimizer.

    Returns ``(result, model, optimizer)``; ``model`` holds the parameters after the last step
    (ALSO: the extrapolated point), as the distributed run's rank 0 does. ``device`` defaults to
    the CPU (the device of the gloo run it is compared with).
    """
    from .train import train

    data = build_data(cfg)
    model = build_model(cfg, data)
    n_clients = _n_clients(data)
    holder = {}

    def factory(params):
        holder["opt"] = build_optimizer(cfg, params, n_clients)
        return holder["opt"]

    result = train(model, factory, data, epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed,
                   device=device or "cpu", eval_sets=cfg.eval_sets, progress=False)
    return result, model, holder["opt"]


# -------------------------------------------------------------------------------- the worker
def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflat_into_(flat: torch.Tensor, tensors: Sequence[torch.Tensor]) -> None:
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset:offset + n].view_as(t))
        offset += n


def _device_for(backend: str, requested) -> torch.device:
    if requested not in (None, "auto"):
        return torch.device(requested)
    if backend == "nccl":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


class _Rank:
    """One process of the run: client ``rank``'s worker; on rank 0 also the server (optimizer and π).

    :meth:`step` is one training step in the five phases of the module docstring.
    """

    def __init__(self, cfg: DistributedConfig, data, device: torch.device):
        import torch.distributed as dist

        self.dist = dist
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.n_clients = _n_clients(data)
        if self.world != self.n_clients:
            raise ValueError(
                f"Нужно по одному процессу на клиента: клиентов {self.n_clients}, а процессов {self.world} "
                f"(запустите torchrun с --nproc_per_node={self.n_clients})."
            )
        self.device = device
        self.model = build_model(cfg, data).to(device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.dtype = self.params[0].dtype
        self.n_par = sum(p.numel() for p in self.params)
        self.server = self.rank == 0
        self.opt = build_optimizer(cfg, self.params, self.n_clients) if self.server else None
        self.weighted = cfg.optimizer == "also"
        self.comm = 0.0   # seconds inside collectives
        # the starting point and π_{1/2} come from the server, whatever the other ranks drew
        self.pi_half = torch.full((self.n_clients,), 1.0 / self.n_clients, dtype=self.dtype, device=device)
        if self.server and self.weighted:
            self.pi_half = self.opt.pi_half.to(self.dtype)
        self._share_state()

    def _collective(self, fn, *args, **kw):
        t0 = time.perf_counter()
        fn(*args, **kw)
        self.comm += time.perf_counter() - t0

    def _share_state(self) -> None:
        """Broadcast θ (the point where the next gradient is taken) and π_{t+1/2} from the server."""
        if self.server:
            state = _flat([p.detach() for p in self.params] + [self.pi_half])
        else:
            state = torch.empty(self.n_par + self.n_clients, dtype=self.dtype, device=self.device)
        self._collective(self.dist.broadcast, state, src=0)
        if not self.server:
            with torch.no_grad():
                _unflat_into_(state, self.params + [self.pi_half])

    def step(self, batch, per_sample_loss) -> dict | None:
        """One step on ``batch`` (the union batch; this rank uses only its client's rows).

        Returns, on the server, ``{"loss_sum", "objective", "correct", "n"}`` of the union batch.
        """
        x, y, _ = batch
        mine = torch.nonzero(batch.client == self.rank).flatten()
        c, n_par, n_t = self.n_clients, self.n_par, len(self.params)

        # 1. batch sizes B_w → B and the loss scale s = c / B (ALSO's default)
        counts = torch.zeros(c, dtype=torch.long, device=self.device)
        counts[self.rank] = mine.numel()
        self._collective(self.dist.all_reduce, counts)
        counts = counts.cpu()
        total = int(counts.sum())
        scale = c / total

        # 2. this client's losses and the gradient of π_w · s · Σ ℓ_i (ERM: Σ ℓ_i / B)
        for p in self.params:
            p.grad = None
        mail = torch.zeros(n_par + n_t + 2 * c, dtype=self.dtype, device=self.device)
        if mine.numel():
            x_w, y_w = x[mine].to(self.device), y[mine].to(self.device)
            out = self.model(x_w)
            losses = per_sample_loss(out, y_w)
            if self.weighted:
                value = (self.pi_half[self.rank].expand_as(losses) * losses).sum() * scale
            else:
                value = losses.sum() / total
            value.backward()
            mail[n_par + n_t + self.rank] = losses.detach().sum()
            mail[n_par + n_t + c + self.rank] = (out.detach().argmax(dim=1) == y_w).sum()

        # 3. one reduce to the server: gradients, has-gradient flags, loss sums, correct counts
        offset = 0
        for j, p in enumerate(self.params):
            if p.grad is not None:
                mail[offset:offset + p.numel()] = p.grad.reshape(-1)
                mail[n_par + j] = 1.0
            offset += p.numel()
        self._collective(self.dist.reduce, mail, dst=0)

        # 4. the server's step: θ by the optimizer, π by ALSO's KL mirror step
        out = None
        if self.server:
            grads, has_grad = mail[:n_par], mail[n_par:n_par + n_t].cpu()
            loss_sums = mail[n_par + n_t:n_par + n_t + c]
            offset = 0
            for j, p in enumerate(self.params):
                n = p.numel()
                p.grad = grads[offset:offset + n].view_as(p).clone() if has_grad[j] > 0 else None
                offset += n
            if self.weighted:
                # records h_w = -s·Σ_{i∈w} ℓ_i for the present workers; h_w = 0 for the absent ones
                present = torch.nonzero(counts > 0).flatten().to(self.device)
                objective = self.opt.weighted_loss(loss_sums.index_select(0, present), groups=present,
                                                   loss_scale=scale)
            else:
                objective = loss_sums.sum() / total
            self.opt.step()
            if self.weighted:
                self.pi_half = self.opt.pi_half.to(self.dtype)
            out = {"loss_sum": float(loss_sums.double().sum()), "objective": float(objective),
                   "correct": float(mail[-c:].double().sum()), "n": total}

        # 5. the new θ and π_{t+3/2} to every worker
        self._share_state()
        return out


def run_worker(cfg: DistributedConfig, *, device=None):
    """The training loop of one rank inside an initialised process group (see the module docstring).

    Returns the :class:`~optviz.train.TrainResult` on rank 0 (with ``times["comm"]``, seconds spent
    in collectives) and a dict ``{"model", "optimizer"}`` of the trained objects; ``(None, {...})``
    on the other ranks. Rank 0 evaluates ``cfg.eval_sets`` before training and after every epoch
    (at ALSO's base point), as :func:`~optviz.train.train` does.
    """
    from .train import METRICS, TrainResult, evaluate, per_sample_loss
    from .train import (
        _train_batches as trainer_batches,  # exactly the trainer's batches of an epoch
    )

    device = torch.device(device) if device is not None else torch.device("cpu")
    data = build_data(cfg)
    me = _Rank(cfg, data, device)
    model, opt = me.model, me.opt

    history = {"epochs": [0], "loss": [math.nan], "objective": [math.nan], "accuracy": [math.nan],
               "lr": [], "time": [0.0]}
    metrics: dict = {s: {} for s in cfg.eval_sets}
    pi_epochs, pi_steps, step_loss = [], [], []
    times = {"train": 0.0, "eval": 0.0, "total": 0.0, "comm": 0.0}

    def evaluate_all():
        t0 = time.perf_counter()
        ctx = opt.base_point() if callable(getattr(opt, "base_point", None)) else contextlib.nullcontext()
        with ctx:
            for s in cfg.eval_sets:
                for k, v in evaluate(model, getattr(data, s), device=device).items():
                    if k in METRICS or k in ("group_acc", "group_loss"):
                        metrics[s].setdefault(k, []).append(np.asarray(v, dtype=float))
        if me.weighted:
            pi_epochs.append(opt.pi.double().cpu().numpy())
        history["lr"].append(float(opt.param_groups[0]["lr"]))
        times["eval"] += time.perf_counter() - t0

    wall0 = time.perf_counter()
    if me.server:
        evaluate_all()
        if me.weighted:
            pi_steps.append(opt.pi.double().cpu().numpy())

    model.train()
    for epoch in range(1, cfg.epochs + 1):   # the trainer's epoch numbering (1-based)
        t_epoch = time.perf_counter()
        totals = {"loss_sum": 0.0, "objective": 0.0, "correct": 0.0, "n": 0}
        n_steps = 0
        for batch in trainer_batches(data, epoch, cfg.batch_size, cfg.seed, None):
            stats = me.step(batch, per_sample_loss)
            n_steps += 1
            if me.server:
                for k in totals:
                    totals[k] += stats[k]
                step_loss.append(stats["loss_sum"] / stats["n"])
                if me.weighted:
                    pi_steps.append(opt.pi.double().cpu().numpy())
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times["train"] += time.perf_counter() - t_epoch
        if me.server:
            history["epochs"].append(epoch)
            history["loss"].append(totals["loss_sum"] / totals["n"])
            history["objective"].append(totals["objective"] / n_steps)
            history["accuracy"].append(totals["correct"] / totals["n"])
            history["time"].append(history["time"][-1] + time.perf_counter() - t_epoch)
            evaluate_all()
            model.train()
    times["total"] = time.perf_counter() - wall0
    times["comm"] = me.comm
    if not me.server:
        return None, {"model": model, "optimizer": None}

    n_e = len(history["epochs"])
    result = TrainResult(
        epochs=np.asarray(history["epochs"], dtype=np.int64),
        train={"loss": np.asarray(history["loss"]), "objective": np.asarray(history["objective"]),
               "accuracy": np.asarray(history["accuracy"]), "lr": np.asarray(history["lr"]),
               "time": np.asarray(history["time"]), "val_grad_norm": np.full(n_e, np.nan)},
        metrics={s: {k: np.stack(v) if np.ndim(v[0]) else np.asarray(v, dtype=float) for k, v in m.items()}
                 for s, m in metrics.items()},
        pi=np.stack(pi_epochs) if pi_epochs else None,
        pi_steps=np.stack(pi_steps) if pi_steps else None,
        step_loss=np.asarray(step_loss, dtype=float),
        group_names=list(data.train.group_names),
        config={"optimizer": type(opt).__name__, "data": data.name, "epochs": cfg.epochs,
                "batch_size": cfg.batch_size, "seed": cfg.seed, "device": str(device),
                "distributed": {"backend": me.dist.get_backend(), "world_size": me.world, "mode": cfg.mode},
                "run": cfg.to_dict(), "model": "mlp", "parameters": me.n_par},
        times=times,
    )
    return result, {"model": model, "optimizer": opt}


# ---------------------------------------------------------------------------------- the CLI
def _parser() -> argparse.ArgumentParser:
    d = DistributedConfig()
    p = argparse.ArgumentParser(
        prog="python -m torch.distributed.run --nproc_per_node=2 -m optviz.distributed",
        description="Эксперимент 2 (два разнородных клиента) — по процессу на клиента, π на ранге 0.")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--delay", type=int, default=d.delay)
    p.add_argument("--alternate", choices=("batch", "epoch"), default=d.alternate)
    p.add_argument("--mode", choices=MODES, default=d.mode)
    p.add_argument("--dataset", default=d.dataset)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--pi-lr", type=float, default=d.pi_lr)
    p.add_argument("--pi-decay", type=float, default=d.pi_decay)
    p.add_argument("--alpha", type=float, default=d.alpha)
    p.add_argument("--momentum", type=float, default=d.momentum)
    p.add_argument("--hidden", type=int, nargs="+", default=list(d.hidden))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--dtype", choices=tuple(DTYPES), default=d.dtype)
    p.add_argument("--eval-sets", nargs="*", default=list(d.eval_sets))
    p.add_argument("--backend", choices=BACKENDS, default="auto")
    p.add_argument("--device", default="auto", help="auto: cuda:LOCAL_RANK с NCCL, иначе cpu")
    p.add_argument("--timeout", type=float, default=600.0, help="секунд на одну коллективную операцию")
    p.add_argument("--out", default=None, help="куда ранг 0 сохранит результат (torch.save)")
    return p


def main(argv=None) -> int:
    """Entry point of ``torchrun … -m optviz.distributed``: one rank's whole life, cleaned up in ``finally``."""
    import torch.distributed as dist

    args = _parser().parse_args(argv)
    cfg = DistributedConfig(
        epochs=args.epochs, batch_size=args.batch_size, delay=args.delay, alternate=args.alternate,
        mode=args.mode, dataset=args.dataset, optimizer=args.optimizer, lr=args.lr,
        weight_decay=args.weight_decay, pi_lr=args.pi_lr, pi_decay=args.pi_decay, alpha=args.alpha,
        momentum=args.momentum, hidden=tuple(args.hidden), seed=args.seed, dtype=args.dtype,
        eval_sets=tuple(args.eval_sets))
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise SystemExit(
            "optviz.distributed запускается через torchrun, например:\n"
            "  python -m torch.distributed.run --nproc_per_node=2 -m optviz.distributed --epochs 3\n"
            "(без torchrun нет переменных RANK и WORLD_SIZE). Однопроцессный эталон — optviz.distributed.simulate.")
    backend = args.backend
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend == "gloo" and not dist.is_gloo_available():
        raise SystemExit("В этой сборке torch нет бэкенда gloo: распределённый запуск на CPU невозможен.")
    if backend == "nccl" and not (torch.cuda.is_available() and dist.is_nccl_available()):
        raise SystemExit("Бэкенд nccl требует CUDA и сборку torch с NCCL; на CPU используйте --backend gloo.")
    device = _device_for(backend, args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=args.timeout))
    try:
        result, trained = run_worker(cfg, device=device)
        if dist.get_rank() == 0:
            model, opt = trained["model"], trained["optimizer"]
            summary = {"final": {s: {k: v for k, v in result.final(s).items() if not isinstance(v, list)}
                                 for s in result.metrics},
                       "pi": None if result.pi is None else result.pi[-1].tolist(),
                       "times": result.times, "steps": len(result.step_loss)}
            print(json.dumps(summary, ensure_ascii=False), flush=True)
            if args.out:
                base = {}
                ctx = opt.base_point() if callable(getattr(opt, "base_point", None)) else contextlib.nullcontext()
                with ctx:
                    base = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                path = Path(args.out)
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"result": result.to_dict(),
                            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                            "base_state_dict": base,
                            "config": cfg.to_dict()}, path)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


# --------------------------------------------------------------------------- launching it
def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _cli_args(cfg: DistributedConfig) -> list[str]:
    a = ["--epochs", cfg.epochs, "--batch-size", cfg.batch_size, "--delay", cfg.delay, "--alternate", cfg.alternate,
         "--mode", cfg.mode, "--dataset", cfg.dataset, "--optimizer", cfg.optimizer, "--lr", repr(cfg.lr),
         "--weight-decay", repr(cfg.weight_decay), "--pi-lr", repr(cfg.pi_lr), "--pi-decay", repr(cfg.pi_decay),
         "--alpha", repr(cfg.alpha), "--momentum", repr(cfg.momentum), "--seed", cfg.seed, "--dtype", cfg.dtype,
         "--hidden", *cfg.hidden, "--eval-sets", *cfg.eval_sets]
    return [str(v) for v in a]


def launch(cfg: DistributedConfig, *, nproc: int = 2, backend: str = "gloo", timeout: float = 300.0,
           out=None) -> dict:
    """Run ``torchrun --nproc_per_node=nproc -m optviz.distributed`` on loopback and load rank 0's file.

    The processes run in their own session: on a timeout or an error the whole process group of
    the launcher (torchrun and its workers) is terminated. Returns the saved dict: ``"result"``
    (:meth:`TrainResult.to_dict`, rebuild with ``TrainResult.from_dict``), ``"state_dict"`` (the
    parameters after the last step), ``"base_state_dict"`` (ALSO's base point), ``"config"`` and
    ``"stdout"``.
    """
    check_int("nproc", nproc, 1)
    check_choice("backend", backend, BACKENDS)
    check_range("timeout", timeout, 0.0, low_open=True)
    with contextlib.ExitStack() as stack:
        if out is None:
            out = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "run.pt"
        out = Path(out)
        port = free_port()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={nproc}",
               "--master_addr=127.0.0.1", f"--master_port={port}", "-m", "optviz.distributed",
               *_cli_args(cfg), "--backend", backend, "--timeout", str(max(30.0, timeout)), "--out", str(out)]
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("OMP_NUM_THREADS", "1")
        env["MASTER_ADDR"] = "127.0.0.1"
        if backend in ("gloo", "auto") and Path("/sys/class/net/lo").exists():
            env.setdefault("GLOO_SOCKET_IFNAME", "lo")    # loopback only
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_session(proc)
            stdout, _ = proc.communicate()
            raise TimeoutError(
                f"Распределённый запуск не уложился в {timeout:g} с и был остановлен. Вывод:\n{stdout[-4000:]}"
            ) from None
        finally:
            if proc.poll() is None:
                _kill_session(proc)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"torchrun завершился с кодом {proc.returncode}. Команда: {' '.join(cmd)}\n"
                f"Вывод:\n{stdout[-6000:]}"
            )
        saved = torch.load(out, map_location="cpu", weights_only=False)
        saved["stdout"] = stdout
        saved["command"] = cmd
        return saved


def _kill_session(proc: subprocess.Popen) -> None:
    """Terminate the launcher's own process group (torchrun and the workers it started), then kill."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


if __name__ == "__main__":
    code = main()
    # Everything is saved and the process group destroyed; leave without interpreter finalisation, where
    # gloo's worker threads can still be torn down and abort the process ("terminate called without an
    # active exception", SIGABRT) after a successful run — torch's known shutdown race.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
