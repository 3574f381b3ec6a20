r"""Restarts: a wrapper that resets (part of) an optimizer's state when a criterion fires.

A restart forgets what the method has accumulated — the momentum buffer of (Nesterov) SGD, the
moments and the bias-correction counter of Adam — and starts the momentum afresh from the
current point. :class:`Restarts` wraps **any** optimizer (torch.optim or optviz) and behaves
like one: ``step(closure)``, ``zero_grad()``, ``param_groups`` (the inner optimizer's own list),
``state_dict()`` / ``load_state_dict()``.

Criteria (objects, or a name plus keyword arguments: ``Restarts(opt, "period", period=15)``):

* ``"period"`` — :class:`FixedPeriod`: :math:`k - k_{\text{last restart}} \ge P`;
* ``"grad_norm_ratio"`` — :class:`GradNormRatio`:
  :math:`\|\nabla L_{val}(x_k)\| / \|\nabla L_{val}(x_{k-p})\| > \tau` (τ = 2 in the talk);
* ``"val_loss"`` — :class:`ValLossIncrease`: :math:`L_{val}(x_k) > L_{val}(x_{k-p})`;
* ``"function"`` — :class:`FunctionScheme` (O'Donoghue–Candès): :math:`f(x_k) > f(x_{k-1})`;
* ``"gradient"`` — :class:`GradientScheme` (O'Donoghue–Candès):
  :math:`\nabla f(y_{k-1})^\top (x_k - x_{k-1}) > 0`;
* ``None`` — never (restarts only by :meth:`Restarts.restart`).

Validation signals are *observed*: the training loop computes them (once per epoch, say) and
calls ``opt.observe(val_loss=...)`` or ``opt.observe(val_grad_norm=...)``; the criterion
compares the k-th observation with the (k−p)-th. The O'Donoghue–Candès schemes work per step
from what the step itself provides (the closure's loss, the gradient and the parameter change).

What a restart resets is explicit (``reset``), mapped onto torch's and optviz's state keys:

============ =================================================================================
``reset``    state entries
============ =================================================================================
momentum     ``momentum_buffer`` (SGD: removed, as in a fresh SGD; RMSProp: zeroed)
moments      ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``exp_inf`` (Adam family),
             ``square_avg``, ``grad_avg``, ``acc_delta`` (RMSProp, Adadelta) → 0;
             ``sum`` (Adagrad) → ``initial_accumulator_value``
step         ``step`` → 0 (bias correction and lr decay start again), ``mu_product`` → 1 (NAdam)
all          the whole per-parameter state is dropped (the optimizer re-initialises it lazily)
============ =================================================================================

Other state entries are left alone unless ``"all"``. After ``reset=("moments", "step")`` Adam's
next step is a fresh Adam's first step, ≈ lr·sign(g).

Learning-rate restarts (SGDR) are a *schedule*, not a state reset: use torch's
``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` on ``restarts.optimizer`` (the inner
optimizer; it shares ``param_groups`` with the wrapper), together with or without this wrapper.

Nesterov's method for unknown strong convexity uses the momentum
:math:`\mu_j = (j-1)/(j+2)`, j = 1, 2, … counted from the last restart;
``momentum_schedule="nesterov"`` sets ``group["momentum"]`` to it before every step (meant for
``SGD(nesterov=True)``; any callable ``j -> μ`` works too).

A note on torch's Nesterov form. ``SGD(nesterov=True)`` (torch and optviz) stores the
*extrapolated* point :math:`y` in the parameters, takes the gradient there, and
:math:`x_{k+1} = y_k - \mathrm{lr}\,\nabla f(y_k) = \theta_{k+1} + \mathrm{lr}\,\mu\, b_k`
(b = momentum buffer). So, exactly as in O'Donoghue–Candès:

* the gradient scheme tests :math:`\nabla f(y_k)^\top (x_{k+1} - x_k) > 0` with ``p.grad`` (the
  gradient used by the step) and the x-iterates recovered this way (for any other optimizer
  x is the parameter itself, so it tests whether the step went uphill);
* a momentum reset also sets :math:`y \leftarrow x`, i.e. moves the parameters back from the
  extrapolated point (``rewind_nesterov=True``, the default).

With a constant μ this reproduces the O'Donoghue–Candès algorithm exactly; with a varying μ
torch's form differs from the textbook one by a term proportional to :math:`\mu_j - \mu_{j-1}
= O(1/j^2)`. The function scheme uses the loss the closure returns, i.e. f at the point where
the gradient is taken (y for Nesterov), since that is what a step evaluates.
"""

from __future__ import annotations

import math
from collections import deque

import torch

from .._checks import check_choice, check_int, check_range

__all__ = [
    "Restarts",
    "RestartCriterion",
    "FixedPeriod",
    "GradNormRatio",
    "ValLossIncrease",
    "FunctionScheme",
    "GradientScheme",
    "nesterov_momentum",
    "RESET_CHOICES",
    "CRITERIA",
]

RESET_CHOICES = ("momentum", "moments", "step", "all")
OBSERVABLE = ("val_grad_norm", "val_loss", "loss")

# state key -> which ``reset`` entry covers it
_STATE_KIND = {
    "momentum_buffer": "momentum",
    "exp_avg": "moments",
    "exp_avg_sq": "moments",
    "max_exp_avg_sq": "moments",
    "exp_inf": "moments",
    "square_avg": "moments",
    "grad_avg": "moments",
    "acc_delta": "moments",
    "sum": "moments",
    "step": "step",
    "mu_product": "step",
}


def nesterov_momentum(j: int) -> float:
    r"""Nesterov's momentum :math:`\mu_j = (j-1)/(j+2)` for the j-th step since a restart (j ≥ 1)."""
    return (j - 1) / (j + 2)


# ------------------------------------------------------------------------------------------
# criteria
# ------------------------------------------------------------------------------------------
class RestartCriterion:
    """Base class of restart criteria.

    Restarts calls :meth:`after_step` after every inner step and :meth:`after_observe` on every
    ``observe(...)``; either returns True to request a restart. :meth:`on_restart` is called on
    every restart (automatic or manual). ``signal`` names the observed value the criterion
    needs (None: none); ``needs_loss`` / ``needs_direction`` ask Restarts to pass the closure's
    loss / the directional quantity :math:`\\nabla f^\\top (x_{k+1}-x_k)` to :meth:`after_step`.
    """

    signal: str | None = None
    needs_loss = False
    needs_direction = False

    def after_step(self, step: int, loss: float | None, direction: float | None) -> bool:
        return False

    def after_observe(self, values: dict) -> bool:
        return False

    def on_restart(self) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def _params(self) -> dict:
        return {}


class _Never(RestartCriterion):
    """No automatic restart (``criterion=None``): only :meth:`Restarts.restart`."""


class FixedPeriod(RestartCriterion):
    r"""Restart every ``period`` steps: when :math:`k - k_{\text{last restart}} \ge P`.

    ``unit="step"`` counts optimizer steps; ``unit="observe"`` counts ``observe()`` calls (e.g.
    epochs, as in the talk: every 15 epochs). Restarts therefore happen at P, 2P, 3P, …
    (manual restarts restart the count).
    """

    def __init__(self, period: int, unit: str = "step"):
        self.period = check_int("period", period, 1)
        self.unit = check_choice("unit", unit, ("step", "observe"))
        self.count = 0

    def _tick(self) -> bool:
        self.count += 1
        return self.count >= self.period

    def after_step(self, step, loss, direction):
        return self.unit == "step" and self._tick()

    def after_observe(self, values):
        return self.unit == "observe" and self._tick()

    def on_restart(self):
        self.count = 0

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = int(state["count"])

    def _params(self):
        return {"period": self.period, "unit": self.unit}


class _LaggedComparison(RestartCriterion):
    """Compares the k-th observed value of ``signal`` with the (k − lag)-th one."""

    def __init__(self, lag: int):
        self.lag = check_int("lag", lag, 1)
        self.history: deque[float] = deque(maxlen=self.lag + 1)

    def _fires(self, new: float, old: float) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def after_observe(self, values):
        if self.signal not in values:
            raise ValueError(
                f"Критерий {type(self).__name__} ждёт значение {self.signal}: вызовите "
                f"observe({self.signal}=...); получены только {sorted(values)}."
            )
        self.history.append(float(values[self.signal]))
        if len(self.history) <= self.lag:
            return False
        return self._fires(self.history[-1], self.history[0])

    def state_dict(self):
        return {"history": list(self.history)}

    def load_state_dict(self, state):
        self.history = deque(state["history"], maxlen=self.lag + 1)


class GradNormRatio(_LaggedComparison):
    r"""Restart when :math:`\|\nabla L_{val}(x_k)\| > \tau\,\|\nabla L_{val}(x_{k-p})\|`.

    The ratio test of the talk (τ = ``threshold`` = 2.0, p = ``lag``), written without a
    division so that a zero old norm is handled (0 → positive fires, 0 → 0 does not). Feed it
    with ``observe(val_grad_norm=...)``; the k-th and (k−p)-th *observations* are compared.
    """

    signal = "val_grad_norm"

    def __init__(self, lag: int = 1, threshold: float = 2.0):
        super().__init__(lag)
        self.threshold = check_range("threshold", threshold, 0.0, low_open=True)

    def _fires(self, new, old):
        return new > self.threshold * old

    def _params(self):
        return {"lag": self.lag, "threshold": self.threshold}


class ValLossIncrease(_LaggedComparison):
    r"""Restart when :math:`L_{val}(x_k) > L_{val}(x_{k-p})`; feed it with ``observe(val_loss=...)``."""

    signal = "val_loss"

    def __init__(self, lag: int = 1):
        super().__init__(lag)

    def _fires(self, new, old):
        return new > old

    def _params(self):
        return {"lag": self.lag}


class FunctionScheme(RestartCriterion):
    r"""O'Donoghue–Candès function scheme: restart when :math:`f(x_k) > f(x_{k-1})`.

    ``source="closure"`` (default) uses the loss returned by the closure of every step (then
    ``step`` must be given a closure); ``source="observe"`` uses ``observe(loss=...)`` instead,
    for loops that call ``loss.backward()`` themselves.
    """

    def __init__(self, source: str = "closure"):
        self.source = check_choice("source", source, ("closure", "observe"))
        self.signal = "loss" if source == "observe" else None
        self.needs_loss = source == "closure"
        self.previous: float | None = None

    def _compare(self, value: float) -> bool:
        fired = self.previous is not None and value > self.previous
        self.previous = value
        return fired

    def after_step(self, step, loss, direction):
        if self.source != "closure":
            return False
        if loss is None:
            raise ValueError(
                "Критерий FunctionScheme(source='closure') сравнивает значения функции, которые "
                "возвращает замыкание: передайте closure в step(closure) или используйте "
                "FunctionScheme(source='observe') и вызывайте observe(loss=...)."
            )
        return self._compare(loss)

    def after_observe(self, values):
        if self.source != "observe":
            return False
        if "loss" not in values:
            raise ValueError(
                "Критерий FunctionScheme(source='observe') ждёт observe(loss=...); "
                f"получены только {sorted(values)}."
            )
        return self._compare(float(values["loss"]))

    def state_dict(self):
        return {"previous": self.previous}

    def load_state_dict(self, state):
        self.previous = state["previous"]

    def _params(self):
        return {"source": self.source}


class GradientScheme(RestartCriterion):
    r"""O'Donoghue–Candès gradient scheme: restart when :math:`\nabla f(y_k)^\top(x_{k+1} - x_k) > 0`.

    The gradient is the one the step used (``p.grad``, taken at the current parameters, which
    for torch's Nesterov form are the extrapolated point y); the x-iterates are recovered from
    the parameters as explained in the module docstring. The test costs one dot product and one
    copy of the parameters per step. Like the function scheme it assumes minimisation.
    """

    needs_direction = True

    def after_step(self, step, loss, direction):
        return direction is not None and direction > 0


CRITERIA = {
    "period": FixedPeriod,
    "grad_norm_ratio": GradNormRatio,
    "val_loss": ValLossIncrease,
    "function": FunctionScheme,
    "gradient": GradientScheme,
}


def _make_criterion(criterion, kwargs) -> RestartCriterion:
    if isinstance(criterion, RestartCriterion):
        if kwargs:
            raise ValueError(
                "Параметры критерия ({}) передаются в его конструктор, а не в Restarts, когда "
                "criterion — объект.".format(", ".join(sorted(kwargs)))
            )
        return criterion
    if criterion is None:
        if kwargs:
            raise ValueError(f"Без критерия (criterion=None) лишние параметры: {sorted(kwargs)}.")
        return _Never()
    if not isinstance(criterion, str):
        raise ValueError(
            "Параметр criterion должен быть объектом RestartCriterion, именем критерия "
            f"({', '.join(repr(c) for c in CRITERIA)}) или None; получено {criterion!r}."
        )
    check_choice("criterion", criterion, tuple(CRITERIA))
    try:
        return CRITERIA[criterion](**kwargs)
    except TypeError:
        raise ValueError(
            f"Неизвестные параметры для критерия {criterion!r}: {sorted(kwargs)}."
        ) from None


# ------------------------------------------------------------------------------------------
# the wrapper
# ------------------------------------------------------------------------------------------
class Restarts:
    r"""Wrap ``optimizer`` and restart it when ``criterion`` fires.

    Arguments:
        optimizer: any :class:`torch.optim.Optimizer` (torch's SGD/Adam/AdamW or optviz's).
        criterion: a :class:`RestartCriterion`, one of the names in :data:`CRITERIA` (with its
            parameters as keyword arguments), or None (restart only by :meth:`restart`).
        reset: what a restart resets — a subset of ``("momentum", "moments", "step", "all")``
            (a single string is accepted); see the module docstring for the state keys.
        momentum_schedule: None (leave ``group["momentum"]`` alone), ``"nesterov"``
            (:math:`\mu_j = (j-1)/(j+2)`, j counted from the last restart) or a callable
            ``j -> μ``; it is written into every param group before each step.
        rewind_nesterov: on a momentum reset, move the parameters of ``nesterov=True`` groups
            back from the extrapolated point y to the iterate x (O'Donoghue–Candès's y ← x).

    Attributes: ``restart_steps`` (step counts k at which restarts happened; a restart at k
    acts between the k-th and the (k+1)-th step), ``step_count``, ``steps_since_restart``,
    ``last_direction`` (:math:`\nabla f(y_k)^\top(x_{k+1}-x_k)` of the last step when the
    criterion needs it, else None) and ``last_loss`` (the closure's loss of the last step).
    """

    def __init__(self, optimizer, criterion=None, *, reset=("momentum",), momentum_schedule=None,
                 rewind_nesterov=True, **criterion_kwargs):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                "Restarts оборачивает оптимизатор torch.optim.Optimizer (в том числе оптимизаторы "
                f"optviz), получено {type(optimizer).__name__}."
            )
        self.optimizer = optimizer
        self.criterion = _make_criterion(criterion, criterion_kwargs)
        if isinstance(reset, str):
            reset = (reset,)
        reset = tuple(reset)
        for item in reset:
            check_choice("reset", item, RESET_CHOICES)
        self.reset = reset
        if momentum_schedule == "nesterov":
            momentum_schedule = nesterov_momentum
        elif momentum_schedule is not None and not callable(momentum_schedule):
            raise ValueError(
                "Параметр momentum_schedule должен быть None, 'nesterov' или функцией j -> μ, "
                f"получено {momentum_schedule!r}."
            )
        if momentum_schedule is not None:
            missing = [i for i, g in enumerate(optimizer.param_groups) if "momentum" not in g]
            if missing:
                raise ValueError(
                    f"momentum_schedule задаёт group['momentum'], но у {type(optimizer).__name__} "
                    f"в группах {missing} нет параметра momentum (нужен, например, SGD)."
                )
        self.momentum_schedule = momentum_schedule
        self.rewind_nesterov = bool(rewind_nesterov)
        self.step_count = 0
        self.steps_since_restart = 0
        self.restart_steps: list[int] = []
        self.last_direction: float | None = None
        self.last_loss: float | None = None
        self._x_prev: list[torch.Tensor] | None = None  # x-iterates, for the gradient scheme
        self._last_used: list[tuple] | None = None  # (lr, momentum) of each group at the last step

    # -- optimizer-like surface ------------------------------------------------------------
    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    @property
    def defaults(self):
        return self.optimizer.defaults

    def zero_grad(self, set_to_none: bool = True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def add_param_group(self, param_group):
        self.optimizer.add_param_group(param_group)
        self._x_prev = None

    def __repr__(self):
        return (f"Restarts({type(self.optimizer).__name__}, criterion={self.criterion!r}, "
                f"reset={self.reset!r}, restarts={len(self.restart_steps)})")

    # -- stepping --------------------------------------------------------------------------
    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def _iterates(self):
        """The x-iterates: the parameters, moved back from y for Nesterov-form SGD groups."""
        out = []
        for gi, group in enumerate(self.param_groups):
            lr, mu = self._hparams(gi)
            for p in group["params"]:
                buf = self.optimizer.state[p].get("momentum_buffer") if p in self.optimizer.state else None
                if group.get("nesterov", False) and buf is not None and not _is_zero(mu):
                    out.append((p + lr * mu * buf).detach())
                else:
                    out.append(p.detach().clone())
        return out

    def _hparams(self, gi):
        if self._last_used is not None and gi < len(self._last_used):
            return self._last_used[gi]
        group = self.param_groups[gi]
        return group.get("lr", 0.0), group.get("momentum", 0.0)

    def step(self, closure=None):
        """One inner step, then the criterion; returns the closure's loss."""
        j = self.steps_since_restart + 1
        if self.momentum_schedule is not None:
            mu = check_range("momentum", self.momentum_schedule(j), 0.0, 1.0)
            for group in self.param_groups:
                group["momentum"] = mu
        if self.criterion.needs_direction and self._x_prev is None:
            self._x_prev = self._iterates()

        loss = self.optimizer.step(closure)
        self.step_count += 1
        self.steps_since_restart += 1
        self._last_used = [(g.get("lr", 0.0), g.get("momentum", 0.0)) for g in self.param_groups]

        direction = None
        if self.criterion.needs_direction:
            x_new = self._iterates()
            with torch.no_grad():
                total = None
                for p, x0, x1 in zip(self._params(), self._x_prev, x_new):
                    if p.grad is None:
                        continue
                    term = (p.grad * (x1 - x0)).sum()
                    total = term if total is None else total + term
            direction = None if total is None else float(total)
            self._x_prev = x_new
        self.last_direction = direction
        loss_value = None
        if self.criterion.needs_loss and loss is not None:
            loss_value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        self.last_loss = loss_value
        if self.criterion.after_step(self.step_count, loss_value, direction):
            self._restart()
        return loss

    def observe(self, **values) -> bool:
        """Feed observed signals (``val_loss``, ``val_grad_norm``, ``loss``); True if a restart happened."""
        for key, value in values.items():
            check_choice("observe", key, OBSERVABLE)
            if isinstance(value, torch.Tensor):
                value = float(value.detach())
            low = 0.0 if key == "val_grad_norm" else -math.inf
            values[key] = float(check_range(key, value, low))
        if self.criterion.after_observe(values):
            self._restart()
            return True
        return False

    def restart(self) -> None:
        """Restart now (recorded in ``restart_steps`` like an automatic one)."""
        self._restart()

    # -- the restart itself ----------------------------------------------------------------
    @torch.no_grad()
    def _restart(self):
        resets_momentum = "momentum" in self.reset or "all" in self.reset
        state = self.optimizer.state
        for gi, group in enumerate(self.param_groups):
            lr, mu = self._hparams(gi)
            for p in group["params"]:
                if p not in state or not state[p]:
                    continue
                st = state[p]
                buf = st.get("momentum_buffer")
                if (resets_momentum and self.rewind_nesterov and group.get("nesterov", False)
                        and buf is not None and not _is_zero(mu)):
                    p.add_(lr * mu * buf)  # y <- x
                if "all" in self.reset:
                    del state[p]
                    continue
                for key in list(st):
                    if _STATE_KIND.get(key) in self.reset:
                        _reset_entry(st, key, group)
        self.restart_steps.append(self.step_count)
        self.steps_since_restart = 0
        if self._x_prev is not None:
            self._x_prev = self._iterates()
        self.criterion.on_restart()

    # -- state_dict -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Inner optimizer's state_dict plus the restart counters, history and criterion state."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "restarts": {
                "step_count": self.step_count,
                "steps_since_restart": self.steps_since_restart,
                "restart_steps": list(self.restart_steps),
                "criterion": self.criterion.state_dict(),
                "x_prev": None if self._x_prev is None else [x.clone() for x in self._x_prev],
                "last_used": None if self._last_used is None else list(self._last_used),
            },
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.optimizer.load_state_dict(state_dict["optimizer"])
        own = state_dict["restarts"]
        self.step_count = int(own["step_count"])
        self.steps_since_restart = int(own["steps_since_restart"])
        self.restart_steps = list(own["restart_steps"])
        self.criterion.load_state_dict(own["criterion"])
        xs = own["x_prev"]
        self._x_prev = None if xs is None else [
            x.detach().to(device=p.device, dtype=p.dtype).clone() for x, p in zip(xs, self._params())
        ]
        self._last_used = None if own["last_used"] is None else [tuple(v) for v in own["last_used"]]


def _reset_entry(st: dict, key: str, group: dict) -> None:
    """Put one state entry back to what a fresh optimizer of that family would have."""
    value = st[key]
    if key == "momentum_buffer":
        if "dampening" in group or value is None:  # SGD family: a fresh SGD has no buffer
            del st[key]
        else:  # RMSProp: the buffer starts at zero
            value.zero_()
    elif key == "sum":
        value.fill_(group.get("initial_accumulator_value", 0.0))
    elif key == "mu_product":
        value.fill_(1.0)
    elif key == "step":
        if isinstance(value, torch.Tensor):
            value.zero_()
        else:
            st[key] = type(value)(0)
    elif isinstance(value, torch.Tensor):
        value.zero_()


def _is_zero(x) -> bool:
    if isinstance(x, torch.Tensor):
        return bool((x == 0).all())
    return x == 0
