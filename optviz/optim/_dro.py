r"""Machinery shared by the group-DRO optimizers (:class:`~optviz.optim.also.ALSO` and
:class:`~optviz.optim.mirror_prox.OptimisticMirrorProx`).

Both solve the group-weighted DRO problem of the ALSO paper (problem (4))

.. math::
    \min_\theta \max_{\pi\in\Delta_c}\; \sum_{g=1}^{c} \pi_g\,\frac{c}{n}\sum_{i\in g}\ell_i(\theta)
    \;-\; \tau\,\mathrm{KL}(\pi\,\|\,\hat\pi),

with ``c`` groups (classes, clients, attacks or single samples) and a prior :math:`\hat\pi`
(uniform by default; the authors advise inverse group frequencies, see :func:`inverse_frequency`).
With :math:`\pi=\hat\pi=` uniform the objective is plain ERM.

What lives here, written once:

* the π state — the base point :math:`\pi_t` (:attr:`GroupDROOptimizer.pi`), the point
  :math:`\pi_{t+1/2}` whose weights the next loss uses (:attr:`GroupDROOptimizer.pi_half`) and the
  history of :math:`\pi_t` for animations (:attr:`GroupDROOptimizer.pi_history`);
* :meth:`GroupDROOptimizer.weighted_loss` — returns :math:`\sum_i \pi_{t+1/2}[g_i]\,s\,\ell_i` and
  records the group signal :math:`h_g = -s\sum_{i:\,g_i=g}\ell_i` for the π step
  (one ``index_add_`` — no Python loop over groups, so ``n_groups`` may be the dataset size);
* :meth:`GroupDROOptimizer.mirror_step` — the KL-prox step, i.e. the shared
  :func:`~optviz.optim._functional.kl_mirror_step` with this optimizer's hyperparameters;
* :meth:`GroupDROOptimizer.base_point` — a context manager that puts the base point
  :math:`\theta_t` into the model (the parameters otherwise hold the extrapolated point
  :math:`\theta_{t+1/2}` where the next gradient is taken);
* validation (Russian messages naming the parameter) and an exact ``state_dict`` round trip.

The group signal behaves like ``.grad``: several :meth:`weighted_loss` calls between two steps
(gradient accumulation) add up, ``zero_grad()`` clears it and ``step()`` consumes it.
"""

from __future__ import annotations

import contextlib

import torch

from .._checks import (
    NonFiniteGradientError,
    check_choice,
    check_int,
    check_probability_vector,
    check_range,
)
from ._base import Optimizer
from ._functional import kl_mirror_step

__all__ = ["GroupDROOptimizer", "inverse_frequency", "group_signal", "FLOAT32_EPS"]

#: Default ε of ALSO: float32 machine epsilon, shared by Adam's denominator and ``log(π + ε)``.
FLOAT32_EPS = torch.finfo(torch.float32).eps


# -- small pure helpers ------------------------------------------------------------------------

def inverse_frequency(groups, n_groups: int) -> torch.Tensor:
    r"""Static "inverse-frequency" weights :math:`\hat\pi_g \propto 1/n_g` (float64, sums to 1).

    ``groups`` holds the group id of every training sample. The ALSO authors advise using these
    weights both as the prior and as the initial π: because the group signal is a *sum* over the
    group's samples, large groups otherwise look worse than they are.
    """
    check_int("n_groups", n_groups, 1)
    groups = _as_group_tensor(groups, n_groups, device=None)
    counts = torch.bincount(groups, minlength=n_groups).to(torch.float64).cpu()
    if (counts == 0).any():
        missing = torch.nonzero(counts == 0).flatten()[:5].tolist()
        raise ValueError(
            f"Параметр groups: группы {missing} не встречаются ни разу — обратная частота для них "
            "не определена. Проверьте n_groups или задайте prior вручную."
        )
    w = 1.0 / counts
    return w / w.sum()


def group_signal(losses: torch.Tensor, groups: torch.Tensor, n_groups: int, scale) -> torch.Tensor:
    r""":math:`h_g = -s\sum_{i:\,g_i = g}\ell_i` along the last dimension (detached).

    ``losses`` has shape ``(..., B)``, ``groups`` shape ``(B,)``; the result has shape
    ``(..., n_groups)``. One ``index_add_`` — fast for any number of groups.
    """
    losses = losses.detach()
    sums = losses.new_zeros(losses.shape[:-1] + (n_groups,)).index_add_(-1, groups, losses)
    return -scale * sums


def _as_group_tensor(groups, n_groups: int, device) -> torch.Tensor:
    """Group ids as a 1-D long tensor on ``device``, every id in ``[0, n_groups)``."""
    if not isinstance(groups, torch.Tensor):
        try:
            groups = torch.as_tensor(groups)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"Параметр groups должен быть тензором номеров групп, получено {groups!r}.") from None
    if groups.is_floating_point() or groups.is_complex() or groups.dtype == torch.bool:
        raise ValueError(
            f"Параметр groups должен содержать целые номера групп, получен тип {groups.dtype}."
        )
    if groups.dim() != 1:
        raise ValueError(
            f"Параметр groups должен быть одномерным (номер группы для каждого объекта), "
            f"получена форма {tuple(groups.shape)}."
        )
    if groups.numel() == 0:
        raise ValueError("Параметр groups пуст: в батче должен быть хотя бы один объект.")
    if device is not None:
        groups = groups.to(device)
    groups = groups.long()
    bad = (groups < 0) | (groups >= n_groups)
    if bool(bad.any()):  # one reduction, one synchronisation
        first = int(groups[bad][0])
        raise ValueError(
            f"Параметр groups: номера групп должны лежать в [0, {n_groups - 1}] (n_groups = {n_groups}), "
            f"получен номер {first}."
        )
    return groups


def _check_scalar(name: str, value, low: float, *, low_open: bool = False):
    """A single number (Python number or one-element tensor) in ``[low, ∞)``."""
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        raise ValueError(f"Параметр {name} должен быть одним числом (не тензором из {value.numel()} элементов).")
    check_range(name, value, low, low_open=low_open)
    return float(value)


# -- the base class ----------------------------------------------------------------------------

class GroupDROOptimizer(Optimizer):
    r"""Base of the min–max group-DRO optimizers: π state, weighted loss, base point, history.

    Subclasses implement ``step`` (the paper's algorithm) using :meth:`_take_signal`,
    :meth:`_signal_finite`, :meth:`base_of`, :meth:`mirror_step` and :meth:`_advance_pi`.

    Parameters (common to ALSO and Optimistic Mirror-Prox)
    -------------------------------------------------------
    n_groups : int
        Number of groups ``c`` (≥ 1). May be the number of samples (one weight per sample).
    pi_lr, pi_decay, pi_temperature : float
        η, τ and T of the mirror step
        :math:`\mathrm{MD}(\pi,h)=\mathrm{softmax}\big((\log(\pi+\varepsilon)+\eta\tau\log\hat\pi-\eta h)/((1+\eta\tau)T)\big)`.
        ``pi_lr`` may also be a tensor broadcastable to ``batch_shape + (1,)`` (a grid of runs).
    eps : float
        ε inside ``log(π + ε)``.
    prior : "uniform" or probability vector
        :math:`\hat\pi` (strictly positive). See :func:`inverse_frequency`.
    pi_init : probability vector or None
        :math:`\pi_0`; defaults to the prior.
    loss_scale : float or None
        :math:`s` in :math:`\sum_i\pi[g_i]\,s\,\ell_i`; ``None`` means ``n_groups / batch_size``
        (so that with a uniform π the weighted loss is the batch mean).
    record_pi : bool
        Keep :math:`\pi_0,\pi_1,\dots` for animations (``pi_history``). Costs ``n_groups`` numbers
        per step: switch it off when the groups are single samples of a large dataset.
    batch_shape : tuple of int
        Leading shape of independent runs sharing this optimizer (a grid of 2-D toy runs whose
        parameter has shape ``batch_shape + (2,)``): π then has shape ``batch_shape + (n_groups,)``
        and ``weighted_loss`` expects losses of shape ``batch_shape + (batch_size,)``.
        Default ``()``: one run, 1-D losses.
    """

    modes: tuple[str, ...] = ()

    def __init__(self, params, defaults: dict, *, n_groups, pi_lr, pi_decay, pi_temperature, eps, prior,
                 pi_init, loss_scale, mode, record_pi=True, batch_shape=(), nonfinite="raise"):
        check_int("n_groups", n_groups, 1)
        check_range("pi_lr", pi_lr, 0.0)
        pi_decay = _check_scalar("pi_decay", pi_decay, 0.0)
        pi_temperature = _check_scalar("pi_temperature", pi_temperature, 0.0, low_open=True)
        eps = _check_scalar("eps", eps, 0.0)
        if loss_scale is not None:
            loss_scale = _check_scalar("loss_scale", loss_scale, 0.0, low_open=True)
        check_choice("mode", mode, self.modes)
        try:
            batch_shape = tuple(int(b) for b in batch_shape)
        except (TypeError, ValueError):
            raise ValueError(f"Параметр batch_shape должен быть кортежем целых чисел, получено {batch_shape!r}.") from None
        if any(b < 1 for b in batch_shape):
            raise ValueError(f"Параметр batch_shape должен состоять из положительных чисел, получено {batch_shape!r}.")
        super().__init__(params, defaults, nonfinite=nonfinite)

        first = self.param_groups[0]["params"][0]
        any64 = any(p.dtype == torch.float64 for g in self.param_groups for p in g["params"])
        self._pi_options = dict(device=first.device, dtype=torch.float64 if any64 else torch.float32)

        self.n_groups = n_groups
        self.pi_lr = pi_lr
        self.pi_decay = pi_decay
        self.pi_temperature = pi_temperature
        self.pi_eps = eps
        self.loss_scale = loss_scale
        self.mode = mode
        self.record_pi = bool(record_pi)
        self.batch_shape = batch_shape

        if isinstance(prior, str):
            check_choice("prior", prior, ("uniform",))
            prior_t = torch.full((n_groups,), 1.0 / n_groups, dtype=torch.float64)
        else:
            prior_t = check_probability_vector("prior", prior, n_groups, strict=True)
            prior_t = prior_t / prior_t.sum()
        if pi_init is None:
            init_t = prior_t
        else:
            init_t = check_probability_vector("pi_init", pi_init, n_groups)
            init_t = init_t / init_t.sum()
        self.prior = prior_t.to(**self._pi_options)
        self._pi = init_t.to(**self._pi_options).expand(batch_shape + (n_groups,)).clone()
        self._pi_half = self._pi.clone()
        self._h: torch.Tensor | None = None
        self.iteration = 0
        self._history: list[torch.Tensor] = [self._pi.clone()] if self.record_pi else []

    # -- π as seen from outside -------------------------------------------------------------
    @property
    def pi(self) -> torch.Tensor:
        r"""Current group weights :math:`\pi_t` (the base point; sums to 1 over the last dim)."""
        return self._pi.detach().clone()

    @property
    def pi_half(self) -> torch.Tensor:
        r"""Weights :math:`\pi_{t+1/2}` that the next :meth:`weighted_loss` applies."""
        return self._pi_half.detach().clone()

    @property
    def pi_history(self) -> torch.Tensor:
        r""":math:`\pi_0, \pi_1, \dots, \pi_T` stacked: shape ``(T + 1,) + batch_shape + (n_groups,)``."""
        if not self.record_pi:
            raise RuntimeError(
                "История π не записывается: создайте оптимизатор с record_pi=True "
                "(по умолчанию так и есть)."
            )
        return torch.stack(self._history)

    inverse_frequency = staticmethod(inverse_frequency)

    # -- the objective ----------------------------------------------------------------------
    def weighted_loss(self, losses: torch.Tensor, groups, *, loss_scale=None, record: bool = True) -> torch.Tensor:
        r"""The weighted loss :math:`\sum_i \pi_{t+1/2}[g_i]\,s\,\ell_i` to call ``backward()`` on.

        ``losses``: one loss per sample (``reduction="none"``), shape ``batch_shape + (B,)``;
        ``groups``: the group id of each sample, shape ``(B,)``. The detached group signal
        :math:`h_g = -s\sum_{i:\,g_i=g}\ell_i` is added to the pending signal that ``step()``
        consumes (``record=False`` leaves it alone, e.g. for evaluation). ``loss_scale``
        overrides the constructor's :math:`s` for this call; ``None`` there too means
        :math:`s = c / B`.
        """
        if not isinstance(losses, torch.Tensor):
            raise ValueError(f"Параметр losses должен быть тензором потерь, получено {type(losses).__name__}.")
        groups = _as_group_tensor(groups, self.n_groups, losses.device)
        expected = self.batch_shape + (groups.numel(),)
        if tuple(losses.shape) != expected:
            raise ValueError(
                f"Параметр losses должен иметь форму {expected} — по одной потере на каждый объект "
                f"батча (reduction='none'), получена форма {tuple(losses.shape)}."
            )
        if loss_scale is None:
            loss_scale = self.loss_scale
        if loss_scale is None:
            scale = self.n_groups / groups.numel()
        else:
            scale = _check_scalar("loss_scale", loss_scale, 0.0, low_open=True)
        if record:
            h = group_signal(losses.to(self._pi.dtype), groups, self.n_groups, scale).to(self._pi.device)
            self._h = h if self._h is None else self._h + h
        weights = self._pi_half.to(device=losses.device, dtype=losses.dtype).index_select(-1, groups)
        return (weights * losses).sum() * scale

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients and the pending group signal (they accumulate together)."""
        super().zero_grad(set_to_none=set_to_none)
        self._h = None

    # -- pieces the subclasses' step is written with ----------------------------------------
    def mirror_step(self, pi: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r""":math:`\mathrm{MD}(\pi, h)` — the shared :func:`kl_mirror_step` with this optimizer's η, τ, T, ε."""
        return kl_mirror_step(pi, h, self.pi_lr, decay=self.pi_decay, prior=self.prior,
                              temperature=self.pi_temperature, eps=self.pi_eps)

    def _take_signal(self) -> torch.Tensor:
        """Pop the group signal recorded since the last step (error if there is none)."""
        h, self._h = self._h, None
        if h is None:
            raise RuntimeError(
                f"{type(self).__name__}.step(): нет сигнала групп. Перед step() вычислите потерю "
                "через opt.weighted_loss(losses, groups) и вызовите backward() — иначе шаг по π "
                "сделать не из чего."
            )
        return h

    def _signal_finite(self, h: torch.Tensor) -> bool:
        """The ``nonfinite`` policy applied to the group signal and the gradients."""
        if not bool(torch.isfinite(h).all()):
            if self.nonfinite == "skip":
                self.skipped_steps += 1
                return False
            raise NonFiniteGradientError(
                f"{type(self).__name__}: потери групп содержат NaN или inf — шаг не сделан, "
                "состояние не испорчено. Уменьшите lr или pi_lr либо проверьте функцию потерь; "
                "чтобы пропускать такие шаги, передайте nonfinite='skip'."
            )
        return self._gradients_finite()

    def base_of(self, p: torch.Tensor) -> torch.Tensor:
        r"""The base point :math:`\theta_t` of parameter ``p`` (``p`` itself before any extrapolation)."""
        return self.state[p].get("base", p)

    def _advance_pi(self, pi: torch.Tensor, pi_half: torch.Tensor) -> None:
        r"""Store :math:`\pi_{t+1}` and :math:`\pi_{t+3/2}`, count the iteration, record history."""
        self._pi = pi
        self._pi_half = pi_half
        self.iteration += 1
        if self.record_pi:
            self._history.append(pi.detach().clone())

    @contextlib.contextmanager
    def base_point(self):
        r"""Temporarily put :math:`\theta_t` (not the extrapolated :math:`\theta_{t+1/2}`) into the model.

        Use it to evaluate or save the model; the extrapolated point is restored on exit, also when
        the body raises.
        """
        swapped = []
        try:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        base = self.state[p].get("base") if p in self.state else None
                        if base is not None:
                            swapped.append((p, p.detach().clone()))
                            p.copy_(base)
            yield self
        finally:
            with torch.no_grad():
                for p, extrapolated in swapped:
                    p.copy_(extrapolated)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self):
        sd = super().state_dict()
        sd["dro"] = {
            "n_groups": self.n_groups,
            "batch_shape": self.batch_shape,
            "mode": self.mode,
            "pi_lr": self.pi_lr.clone() if isinstance(self.pi_lr, torch.Tensor) else self.pi_lr,
            "pi_decay": self.pi_decay,
            "pi_temperature": self.pi_temperature,
            "eps": self.pi_eps,
            "loss_scale": self.loss_scale,
            "prior": self.prior.clone(),
            "pi": self._pi.clone(),
            "pi_half": self._pi_half.clone(),
            "pending_signal": None if self._h is None else self._h.clone(),
            "iteration": self.iteration,
            "record_pi": self.record_pi,
            "history": [h.clone() for h in self._history],
        }
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        dro = state_dict.pop("dro", None)
        if dro is not None:
            if dro["n_groups"] != self.n_groups or tuple(dro["batch_shape"]) != self.batch_shape:
                raise ValueError(
                    f"Чекпоинт сохранён для n_groups={dro['n_groups']}, batch_shape={tuple(dro['batch_shape'])}, "
                    f"а у оптимизатора n_groups={self.n_groups}, batch_shape={self.batch_shape}."
                )
            if dro["mode"] != self.mode:
                raise ValueError(f"Чекпоинт сохранён в режиме mode={dro['mode']!r}, а оптимизатор создан с mode={self.mode!r}.")
        super().load_state_dict(state_dict)
        if dro is None:
            return
        opts = self._pi_options
        self.pi_lr = dro["pi_lr"]
        self.pi_decay = dro["pi_decay"]
        self.pi_temperature = dro["pi_temperature"]
        self.pi_eps = dro["eps"]
        self.loss_scale = dro["loss_scale"]
        self.prior = dro["prior"].to(**opts).clone()
        self._pi = dro["pi"].to(**opts).clone()
        self._pi_half = dro["pi_half"].to(**opts).clone()
        self._h = None if dro["pending_signal"] is None else dro["pending_signal"].to(**opts).clone()
        self.iteration = dro["iteration"]
        self.record_pi = dro["record_pi"]
        self._history = [h.to(**opts).clone() for h in dro["history"]]
