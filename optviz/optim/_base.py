"""Common machinery of every optviz optimizer.

:class:`Optimizer` is a thin layer over :class:`torch.optim.Optimizer` that adds the three things
every course method shares:

* ``step(closure)`` evaluates the closure with gradients enabled and returns its loss;
* non-finite gradients are detected *before* any state is touched: ``nonfinite="raise"``
  (default) raises :class:`~optviz._checks.NonFiniteGradientError` with a Russian message,
  ``nonfinite="skip"`` leaves parameters and state untouched and counts the skipped step in
  ``optimizer.skipped_steps``;
* subclasses implement ``_update_group(group)`` — the update rule of one parameter group,
  written once, readable, and valid both for a network and for a batch of 2-D toy points whose
  hyperparameters may be tensors (one value per run of a grid).

Step counters are plain Python ints kept in ``state[p]["step"]`` so that ``state_dict()`` /
``load_state_dict()`` round-trip them exactly.
"""

from __future__ import annotations

import math

import torch

from .._checks import NonFiniteGradientError, check_choice

__all__ = ["Optimizer", "NONFINITE_CHOICES"]

NONFINITE_CHOICES = ("raise", "skip")


class Optimizer(torch.optim.Optimizer):
    """Base class: closure handling, non-finite gradient policy, per-group update hook."""

    def __init__(self, params, defaults: dict, nonfinite: str = "raise"):
        check_choice("nonfinite", nonfinite, NONFINITE_CHOICES)
        self.nonfinite = nonfinite
        self.skipped_steps = 0
        super().__init__(params, defaults)

    # -- helpers for subclasses -------------------------------------------------------------
    @staticmethod
    def _evaluate_closure(closure):
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    def _params_with_grad(self, group: dict) -> list[torch.Tensor]:
        out = []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} не поддерживает разреженные градиенты.")
            out.append(p)
        return out

    def _gradients_finite(self) -> bool:
        """Apply the ``nonfinite`` policy; return False when the step must be skipped.

        One reduction over all gradients (a single device synchronisation per step).
        """
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None and p.grad.numel()]
        if not grads:
            return True
        # max |g| of every tensor (no overflow, unlike a sum): inf or NaN exactly when some entry is
        norms = torch._foreach_norm(grads, float("inf"))
        largest = norms[0] if len(norms) == 1 else torch.stack(norms).max()
        if math.isfinite(float(largest)):
            return True
        if self.nonfinite == "skip":
            self.skipped_steps += 1
            return False
        raise NonFiniteGradientError(
            f"{type(self).__name__}: градиент содержит NaN или inf — шаг не сделан, состояние не "
            "испорчено. Обычно это значит, что метод уже разошёлся: уменьшите шаг lr или проверьте "
            "функцию потерь. Чтобы пропускать такие шаги, передайте nonfinite='skip'."
        )

    # -- the generic step -------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        """Perform one optimisation step; ``closure`` re-evaluates the loss and its gradients."""
        loss = self._evaluate_closure(closure)
        if not self._gradients_finite():
            return loss
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- state_dict: keep the nonfinite counters -------------------------------------------
    def state_dict(self):
        sd = super().state_dict()
        sd["optviz"] = {"nonfinite": self.nonfinite, "skipped_steps": self.skipped_steps}
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        extra = state_dict.pop("optviz", None)
        super().load_state_dict(state_dict)
        if extra is not None:
            self.nonfinite = extra["nonfinite"]
            self.skipped_steps = extra["skipped_steps"]
