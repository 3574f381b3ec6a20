r"""The methods of the seeds' comparisons, each with its documented search space.

Every entry is a :class:`~optviz.experiments.harness.Method`: how to build the optimizer (and the
DRO objective) from one configuration, and the ranges the harness searches. The ranges are ours
(the paper's Table 2 gives its distributions without the numbers in our copy); they are wide
enough to contain the usual defaults and the same *kind* of range is used for the same kind of
hyperparameter in every method:

==================  ==========================================================================
hyperparameter      range (searched on a log scale unless said otherwise)
==================  ==========================================================================
``lr``              Adam-type methods: [1e-4, 1e-2]; SGD with momentum: [1e-3, 3e-1]
``weight_decay``    [1e-5, 1e-1] (decoupled for AdamW; coupled L2 for Adam, ALSO and SGD)
``pi_lr``           ALSO, DRAGO: [1e-4, 1e-1] (mirror step on π)
``pi_decay``/``nu`` ALSO, DRAGO, Spectral Risk: [1e-3, 1] (KL pull towards the prior)
``tau``             RECOVER: [0.1, 10] (tilt)
``alpha``           FastDRO (CVaR level): uniform [0.1, 0.9]
``r``               Spectral Risk (extremile: expected maximum of r draws): uniform [1.5, 5]
``reg``             FastDRO: [1e-3, 1] (KL penalty)
==================  ==========================================================================

Fixed: ALSO's α = 1 (the paper fixes it), β = (0.9, 0.999); SGD's momentum 0.9; RECOVER's clip
level C = 10 and a warm-up of one epoch of plain mean loss; the DRO objectives are minimised with
AdamW, except RECOVER, which the authors ran with Adam (``methods.md``).

Groups. ``groups="data"`` uses the groups of the training split as the data builder made them
(classes or clients); ``"samples"`` gives ALSO / DRAGO one weight per training sample (the ALSO
paper's choice in its class-imbalance experiment). The prior of ALSO (and DRAGO) is the
inverse class frequency (the authors' advice), per sample when the groups are samples.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_choice
from .harness import LogUniform, Method, RunContext, Uniform

__all__ = [
    "also", "adamw", "adam", "sgd_momentum", "static_weights", "recover", "spectral_risk", "fastdro", "drago",
    "SPACES", "class_prior", "imbalance_methods", "clients_methods",
]

LR_ADAM = LogUniform(1e-4, 1e-2)
LR_SGD = LogUniform(1e-3, 3e-1)
WD = LogUniform(1e-5, 1e-1)
PI_LR = LogUniform(1e-4, 1e-1)
PI_DECAY = LogUniform(1e-3, 1.0)

#: the default search space of every method (name -> dims); see the module docstring
SPACES = {
    "ALSO": {"lr": LR_ADAM, "weight_decay": WD, "pi_lr": PI_LR, "pi_decay": PI_DECAY},
    "AdamW": {"lr": LR_ADAM, "weight_decay": WD},
    "Adam": {"lr": LR_ADAM, "weight_decay": WD},
    "SGD with momentum": {"lr": LR_SGD, "weight_decay": WD},
    "Static Weights": {"lr": LR_ADAM, "weight_decay": WD},
    "RECOVER": {"lr": LR_ADAM, "weight_decay": WD, "tau": LogUniform(0.1, 10.0)},
    "Spectral Risk": {"lr": LR_ADAM, "weight_decay": WD, "r": Uniform(1.5, 5.0), "nu": PI_DECAY},
    "FastDRO": {"lr": LR_ADAM, "weight_decay": WD, "alpha": Uniform(0.1, 0.9), "reg": LogUniform(1e-3, 1.0)},
    "DRAGO": {"lr": LR_ADAM, "weight_decay": WD, "pi_lr": PI_LR, "nu": PI_DECAY},
}


def _space(name: str, override) -> dict:
    space = dict(SPACES[name])
    if override:
        space.update(override)
    return space


def _steps_per_epoch(ctx: RunContext) -> int:
    n = getattr(ctx.data, "n_train_batches", None)
    if callable(n):
        return int(n(1, ctx.batch_size))
    return max(1, math.ceil(len(ctx.data.train) / ctx.batch_size))


def _is_per_sample(train) -> bool:
    return train.n_groups == len(train) and bool((train.groups == torch.arange(len(train))).all())


def class_prior(train) -> torch.Tensor:
    r"""Inverse-frequency prior :math:`\hat\pi` over the training split's groups (float64, sums to 1).

    Groups that are classes or clients: :math:`\hat\pi_g \propto 1/n_g`. Per-sample groups: sample i
    gets :math:`\propto 1/n_{y_i}` (the inverse size of its class), so that with
    :math:`\pi=\hat\pi` the weighted loss is the static-weights (balanced) loss.
    """
    if _is_per_sample(train):
        counts = torch.bincount(train.y.cpu(), minlength=train.n_classes).double()
        w = 1.0 / counts[train.y.cpu()]
    else:
        counts = torch.bincount(train.groups.cpu(), minlength=train.n_groups).double()
        w = torch.where(counts > 0, 1.0 / counts.clamp_min(1.0), torch.zeros_like(counts))
        # the mirror step needs a strictly positive prior: empty groups get the smallest weight
        w = torch.where(w > 0, w, w[w > 0].min())
    return w / w.sum()


def _per_sample_view(data):
    return data.with_sample_groups(("train",))


def _data_for(groups: str):
    check_choice("groups", groups, ("data", "samples"))
    return _per_sample_view if groups == "samples" else None


# ------------------------------------------------------------------------------------------
# plain optimizers
# ------------------------------------------------------------------------------------------
def adamw(*, space=None, name: str = "AdamW") -> Method:
    """AdamW on the mean loss (ERM)."""
    from ..optim import AdamW

    def make(hp, ctx):
        return (lambda params: AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"])), None

    return Method(name, make, _space("AdamW", space), "AdamW, средняя потеря (ERM)")


def adam(*, space=None, name: str = "Adam") -> Method:
    """Adam (coupled L2 decay) on the mean loss."""
    from ..optim import Adam

    def make(hp, ctx):
        return (lambda params: Adam(params, lr=hp["lr"], weight_decay=hp["weight_decay"])), None

    return Method(name, make, _space("Adam", space), "Adam, средняя потеря (ERM)")


def sgd_momentum(*, momentum: float = 0.9, space=None, name: str = "SGD with momentum") -> Method:
    """SGD with heavy-ball momentum (0.9) and L2 decay on the mean loss."""
    from ..optim import SGD

    def make(hp, ctx):
        return (lambda params: SGD(params, lr=hp["lr"], momentum=momentum, weight_decay=hp["weight_decay"])), None

    return Method(name, make, _space("SGD with momentum", space), f"SGD с импульсом {momentum:g}, ERM")


# ------------------------------------------------------------------------------------------
# ALSO
# ------------------------------------------------------------------------------------------
def also(*, groups: str = "data", prior: str = "inverse_frequency", alpha: float = 1.0, space=None,
         name: str = "ALSO") -> Method:
    """ALSO (optviz.optim.ALSO) with π over the training groups; prior = initial π = inverse frequency."""
    from ..optim import ALSO

    check_choice("prior", prior, ("inverse_frequency", "uniform"))

    def make(hp, ctx):
        train = ctx.data.train
        pri = class_prior(train) if prior == "inverse_frequency" else "uniform"

        def factory(params):
            return ALSO(params, n_groups=train.n_groups, lr=hp["lr"], weight_decay=hp["weight_decay"],
                        pi_lr=hp["pi_lr"], pi_decay=hp["pi_decay"], alpha=alpha, prior=pri,
                        record_pi=train.n_groups <= 1000)

        return factory, None

    where = "по объектам" if groups == "samples" else "по группам данных"
    return Method(name, make, _space("ALSO", space), f"ALSO, веса π {where}, априорные веса ∝ 1/частота",
                  data=_data_for(groups))


# ------------------------------------------------------------------------------------------
# DRO objectives minimised by AdamW (RECOVER by Adam)
# ------------------------------------------------------------------------------------------
def _adamw(hp):
    from ..optim import AdamW

    return lambda params: AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"])


def static_weights(*, space=None, name: str = "Static Weights") -> Method:
    """Per-sample weights ∝ 1/(size of the sample's training group), minimised by AdamW."""
    from ..objectives import StaticWeights

    def make(hp, ctx):
        train = ctx.data.train
        return _adamw(hp), StaticWeights(train.n_groups, groups=train.groups)

    return Method(name, make, _space("Static Weights", space), "AdamW + статические веса 1/n_группы")


def recover(*, clip: float = 10.0, warmup_epochs: float = 1.0, space=None, name: str = "RECOVER") -> Method:
    """RECOVER's exponentially tilted loss after a warm-up of ``warmup_epochs`` epochs, trained with Adam."""
    from ..objectives import RECOVER
    from ..optim import Adam

    def make(hp, ctx):
        warm = int(round(warmup_epochs * _steps_per_epoch(ctx)))
        opt = lambda params: Adam(params, lr=hp["lr"], weight_decay=hp["weight_decay"])
        return opt, RECOVER(tau=hp["tau"], clip=clip, warmup_steps=warm)

    return Method(name, make, _space("RECOVER", space),
                  f"Adam + экспоненциальный наклон (C = {clip:g}, разогрев {warmup_epochs:g} эп.)")


def spectral_risk(*, spectrum: str = "extremile", over: str = "samples", space=None,
                  name: str = "Spectral Risk") -> Method:
    r"""Spectral risk with a KL penalty ν over batch samples or groups, minimised by AdamW.

    The default spectrum is the extremile (``r`` searched; the authors tuned Spectral Risk's
    «n_draws»): with the superquantile spectrum the permutahedron is the capped simplex
    :math:`\{q\in\Delta: q_i\le 1/(\alpha B)\}` and the objective coincides with FastDRO's CVaR
    with a KL penalty, so the two baselines would be one method. ``spectrum="superquantile"``
    searches ``alpha`` instead of ``r``.
    """
    from ..objectives import SpectralRisk

    default = dict(SPACES["Spectral Risk"])
    if spectrum == "superquantile":
        default.pop("r")
        default["alpha"] = Uniform(0.1, 0.9)
    if space:
        default.update(space)

    def make(hp, ctx):
        n = ctx.data.train.n_groups if over == "groups" else None
        return _adamw(hp), SpectralRisk(spectrum, alpha=hp.get("alpha", 0.5), r=hp.get("r", 2.0), nu=hp["nu"],
                                        over=over, n_groups=n)

    return Method(name, make, default, f"AdamW + спектральный риск ({spectrum}, по {over})")


def fastdro(*, kind: str = "cvar", over: str = "samples", space=None, name: str = "FastDRO") -> Method:
    """FastDRO's batch best response (CVaR with a KL penalty) over samples or groups, with AdamW."""
    from ..objectives import FastDRO

    def make(hp, ctx):
        n = ctx.data.train.n_groups if over == "groups" else None
        return _adamw(hp), FastDRO(kind, alpha=hp["alpha"], reg=hp["reg"], over=over, n_groups=n)

    return Method(name, make, _space("FastDRO", space), f"AdamW + FastDRO ({kind}, по {over})")


def drago(*, groups: str = "data", prior: str = "inverse_frequency", space=None, name: str = "DRAGO") -> Method:
    """DRAGO's loss table and KL-prox π step over the training groups, with AdamW."""
    from ..objectives import DRAGO

    check_choice("prior", prior, ("inverse_frequency", "uniform"))

    def make(hp, ctx):
        train = ctx.data.train
        pri = class_prior(train) if prior == "inverse_frequency" else None
        return _adamw(hp), DRAGO(train.n_groups, pi_lr=hp["pi_lr"], nu=hp["nu"], prior=pri)

    where = "по объектам" if groups == "samples" else "по группам данных"
    return Method(name, make, _space("DRAGO", space), f"AdamW + DRAGO (π {where})", data=_data_for(groups))


# ------------------------------------------------------------------------------------------
# the two method lists of the seeds
# ------------------------------------------------------------------------------------------
def imbalance_methods(groups: str = "samples") -> list[Method]:
    """Experiment 1 (ALSO paper, 6.1): ALSO, AdamW, static weights and the DRO baselines.

    ``groups="samples"``: ALSO and DRAGO put one weight on every training object, as the paper
    did for this experiment; ``"data"``: one weight per class.
    """
    return [also(groups=groups), adamw(), static_weights(), recover(), spectral_risk(), fastdro(),
            drago(groups=groups)]


def clients_methods() -> list[Method]:
    """Experiment 2 (the seeds' table): the seven methods in the seeds' order.

    Groups are the classes of both clients («class weights for both datasets»): ALSO, DRAGO,
    Spectral Risk and FastDRO weigh classes; RECOVER tilts samples.
    """
    return [also(), recover(), adamw(), spectral_risk(over="groups"), fastdro(over="groups"), sgd_momentum(),
            drago()]



