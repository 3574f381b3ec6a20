r"""Gradient descent with the (L0, L1)-adaptive step — and its clipped and normalised relatives.

A function is :math:`(L_0, L_1)`-smooth when

.. math::
    \|\nabla f(y) - \nabla f(x)\| \le (L_0 + L_1\|\nabla f(x)\|)\,\|y - x\|
    \quad\text{whenever}\quad \|y - x\| \le 1/L_1 ,

i.e. the local Lipschitz constant of the gradient may grow with the gradient norm (x⁴ is
(4, 2)-smooth, eˣ + e⁻ˣ is (2, 1)-smooth, but neither is L-smooth on the whole line). Plain GD
with a fixed step must then take a step that is tiny where the gradient is large; the
(L0, L1)-step adapts to the gradient norm instead and needs no tuning.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_choice, check_range
from ._base import Optimizer

__all__ = ["L0L1GD", "l0l1_step_size", "VARIANTS"]

VARIANTS = ("smooth", "clipped", "normalized")


def _inv(x):
    """1/x with 1/0 = ∞ for Python numbers (tensors already divide that way)."""
    if isinstance(x, torch.Tensor):
        return 1.0 / x
    return math.inf if x == 0 else 1.0 / x


def l0l1_step_size(grad_norm, L0, L1, variant: str = "smooth"):
    r"""The step size :math:`\eta` of one (L0, L1) step for a gradient of norm ``grad_norm``.

    ========== ============================================================ =====================
    variant    :math:`\eta`                                                 view
    ========== ============================================================ =====================
    smooth     :math:`1/(L_0 + L_1\|g\|)`                                   the (L0, L1) step
    clipped    :math:`\min\{1/L_0,\; 1/(L_1\|g\|)\}`                        GD with step 1/L0 and
                                                                            ``g`` clipped to norm
                                                                            :math:`L_0/L_1`
    normalized :math:`1/(L_1\|g\|)`                                         normalised GD, every
                                                                            step has length 1/L1
    ========== ============================================================ =====================

    With :math:`a = 1/L_0` and :math:`b = 1/(L_1\|g\|)` the smooth step is the "harmonic" mean
    :math:`ab/(a+b)` and the clipped one is :math:`\min(a, b)`; since
    :math:`\max(a,b)/(a+b) \in [\tfrac12, 1)`,
    :math:`\tfrac12\eta_{\text{clipped}} \le \eta_{\text{smooth}} \le \eta_{\text{clipped}}`.
    Also :math:`\eta_{\text{smooth}} \le \eta_{\text{normalized}}` with relative gap
    :math:`L_0/(L_0 + L_1\|g\|)`, which vanishes when :math:`L_1\|g\| \gg L_0`.

    Works for Python numbers (1/0 is ∞) and for tensors (one value per run of a grid). A zero
    gradient gives η = ∞ where the formula has 0 in the denominator; the optimizer then takes no
    step (the update η·g would be ∞·0).
    """
    if variant == "smooth":
        return _inv(L0 + L1 * grad_norm)
    if variant == "clipped":
        a, b = _inv(L0), _inv(L1 * grad_norm)
        ref = a if isinstance(a, torch.Tensor) else b if isinstance(b, torch.Tensor) else None
        if ref is None:
            return min(a, b)
        like = dict(dtype=ref.dtype, device=ref.device)
        return torch.minimum(torch.as_tensor(a, **like), torch.as_tensor(b, **like))
    if variant == "normalized":
        return _inv(L1 * grad_norm)
    check_choice("variant", variant, VARIANTS)  # raises
    raise AssertionError  # pragma: no cover


class L0L1GD(Optimizer):
    r"""Gradient descent with the (L0, L1)-adaptive step size.

    .. math::
        \eta_k &= \frac{1}{L_0 + L_1 \|\nabla f(x_k)\|}
            \qquad(\text{``variant="smooth"``, see :func:`l0l1_step_size` for the others}) \\
        x_{k+1} &= x_k - \mathrm{lr}\cdot\eta_k\,\nabla f(x_k)

    The norm :math:`\|\nabla f(x_k)\|` is taken over **all** parameters of **all** parameter
    groups together (the parameters are one vector x), so the method overrides ``step``.

    Theory (convex f): while :math:`\|\nabla f(x_k)\| \ge L_0/L_1` the step has length
    :math:`\eta_k\|\nabla f\| \in [\tfrac{1}{2L_1}, \tfrac{1}{L_1})` and f − f* decreases
    linearly, :math:`f(x_{k+1}) - f^* \le (1 - \tfrac{1}{4L_1 R})(f(x_k) - f^*)` with
    :math:`R = \|x_k - x^*\|`; once :math:`\|\nabla f\| < L_0/L_1`, :math:`\eta_k > 1/(2L_0)` and
    the rate is the usual sublinear one of GD with step ≈ 1/L0.

    Arguments:
        params: parameters or parameter groups.
        L0, L1: the smoothness constants, :math:`L_0, L_1 \ge 0`, not both zero
            (``variant="normalized"`` needs :math:`L_1 > 0` and ignores :math:`L_0`). They live
            in the param groups; a group may override them, its step then uses its own constants
            with the common gradient norm.
        lr: a **multiplier** of the (L0, L1) step, 1.0 by default (the method as in theory).
            It lives in ``param_groups`` like every torch learning rate, so torch LR schedulers
            (warm-up, decay) act on it: the update is :math:`\mathrm{lr}\cdot\eta_k\cdot g`.
        variant: ``"smooth"`` (default), ``"clipped"`` or ``"normalized"``.
        batched: when True the first dimension of every parameter indexes independent runs (a
            grid of toy problems, e.g. B points in 2-D as one tensor of shape (B, 2)); the norm
            is then taken per run over all the other dimensions and all parameters, and L0, L1
            may be tensors with B elements (one value per run), ``lr`` a tensor broadcastable to
            the parameter.
        maximize: ascend instead of descend.
        nonfinite: ``"raise"`` or ``"skip"`` (see :class:`~optviz.optim._base.Optimizer`).

    After each step ``last_grad_norm`` holds :math:`\|\nabla f(x_k)\|` and ``last_step_size``
    the effective step size :math:`\mathrm{lr}\cdot\eta_k` of the first param group — the
    factor that multiplied the gradient (``last_step_sizes``: one per group; η_k alone is
    ``l0l1_step_size(opt.last_grad_norm, L0, L1, variant)``). They are floats (tensors of shape
    (B,) when ``batched``), None before the first step, and travel in ``state_dict()``. A zero
    gradient makes no step and records step size 0 (for L0 = 0 the formula's η would be ∞ and the
    update ∞·0).
    """

    def __init__(self, params, L0, L1, *, lr=1.0, variant="smooth", batched=False, maximize=False,
                 nonfinite="raise"):
        self.batched = bool(batched)
        _check_hyperparameters(L0, L1, lr, variant, self.batched)
        self.last_grad_norm = None
        self.last_step_sizes = None
        defaults = dict(lr=lr, L0=L0, L1=L1, variant=variant, maximize=bool(maximize))
        super().__init__(params, defaults, nonfinite=nonfinite)

    def add_param_group(self, param_group):
        merged = {**self.defaults, **param_group}
        _check_hyperparameters(merged["L0"], merged["L1"], merged["lr"], merged["variant"], self.batched)
        super().add_param_group(param_group)

    @property
    def last_step_size(self):
        """lr·η_k of the first param group at the last step (None before the first step)."""
        return None if self.last_step_sizes is None else self.last_step_sizes[0]

    # -- the step ---------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        """One (L0, L1) step; ``closure`` re-evaluates the loss and its gradients."""
        loss = self._evaluate_closure(closure)
        if not self._gradients_finite():
            return loss
        params = [p for group in self.param_groups for p in self._params_with_grad(group)]
        if not params:
            return loss
        norm = self._global_grad_norm(params)

        step_sizes = []
        for group in self.param_groups:
            L0, L1 = self._constant(group["L0"], norm), self._constant(group["L1"], norm)
            eta = l0l1_step_size(norm, L0, L1, group["variant"])
            step_sizes.append(self._apply(group, eta, norm))
        self.last_grad_norm = norm
        self.last_step_sizes = step_sizes
        return loss

    def _constant(self, value, norm):
        """L0 or L1 as a float (one run) or as a (B,) tensor next to the per-run norms."""
        if not isinstance(value, torch.Tensor):
            return value
        if not self.batched:
            return float(value)
        return value.detach().to(norm.dtype).reshape(-1)

    def _global_grad_norm(self, params):
        """‖g‖ over all parameters: a float, or a (B,) tensor of per-run norms when batched."""
        if not self.batched:  # one reduction per tensor, one device synchronisation per step
            norms = [torch.linalg.vector_norm(_widen(p.grad)) for p in params]
            device = norms[0].device
            dtype = torch.float32 if device.type == "mps" else torch.float64
            return float(torch.linalg.vector_norm(torch.stack([n.to(device, dtype) for n in norms])))
        sizes = {p.shape[0] if p.dim() > 0 else None for p in params}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(
                "При batched=True первая размерность каждого параметра — номер запуска, и она "
                f"должна быть одинаковой у всех параметров; получены размеры {sorted(map(str, sizes))}."
            )
        per_param = [torch.linalg.vector_norm(_widen(p.grad).reshape(p.shape[0], -1), dim=1) for p in params]
        per_param = [n.to(per_param[0].dtype) for n in per_param]
        return torch.linalg.vector_norm(torch.stack(per_param, dim=1), dim=1)

    def _apply(self, group, eta, norm):
        """Update the group's parameters; return the effective step size lr·η (0 for ∇f = 0)."""
        lr = group["lr"]
        if self.batched:
            n = norm
            eta = torch.as_tensor(eta, dtype=n.dtype, device=n.device).reshape(-1).expand_as(n)
            eta = torch.where(n > 0, eta, torch.zeros_like(n))  # zero gradient: no step (η may be ∞)
        elif norm == 0:
            eta = 0.0
        for p in self._params_with_grad(group):
            g = -p.grad if group["maximize"] else p.grad
            state = self.state[p]
            state["step"] = state.get("step", 0) + 1
            if self.batched:
                scale = eta.to(p.dtype).reshape((-1,) + (1,) * (p.dim() - 1))
                p.sub_((lr * scale) * g)
            elif eta != 0:
                if isinstance(lr, torch.Tensor):
                    p.sub_((lr * eta) * g)
                else:
                    p.add_(g, alpha=-lr * eta)
        if isinstance(lr, torch.Tensor):
            if lr.numel() == 1:
                lr = float(lr)
            elif self.batched and lr.numel() == eta.numel():
                lr = lr.detach().reshape(-1).to(eta)
            else:  # a per-coordinate lr: the recorded value is η alone
                lr = 1.0
        return lr * eta

    # -- state_dict: keep the last η and ‖g‖ --------------------------------------------------
    def state_dict(self):
        sd = super().state_dict()
        sd["optviz"] = dict(sd["optviz"], l0l1={
            "last_grad_norm": _copy(self.last_grad_norm),
            "last_step_sizes": None if self.last_step_sizes is None else [_copy(e) for e in self.last_step_sizes],
        })
        return sd

    def load_state_dict(self, state_dict):
        extra = (state_dict.get("optviz") or {}).get("l0l1")
        super().load_state_dict(state_dict)
        if extra is not None:
            self.last_grad_norm = _copy(extra["last_grad_norm"])
            steps = extra["last_step_sizes"]
            self.last_step_sizes = None if steps is None else [_copy(e) for e in steps]


def _widen(g):
    """Half-precision gradients are reduced in float32 (their squares overflow float16)."""
    return g.float() if g.dtype in (torch.float16, torch.bfloat16) else g


def _copy(x):
    return x.detach().clone() if isinstance(x, torch.Tensor) else x


def _check_hyperparameters(L0, L1, lr, variant, batched):
    check_choice("variant", variant, VARIANTS)
    check_range("L0", L0, 0.0)
    check_range("L1", L1, 0.0)
    check_range("lr", lr, 0.0)
    for name, value in (("L0", L0), ("L1", L1)):
        if isinstance(value, torch.Tensor) and value.numel() != 1 and not batched:
            raise ValueError(
                f"Параметр {name} задан тензором из {value.numel()} элементов; по значению на запуск "
                "его можно задавать только при batched=True (иначе норма градиента общая на все "
                "параметры и константа должна быть одним числом)."
            )
    l0 = torch.as_tensor(L0, dtype=torch.float64).reshape(-1)
    l1 = torch.as_tensor(L1, dtype=torch.float64).reshape(-1)
    if l0.numel() != 1 and l1.numel() != 1 and l0.numel() != l1.numel():
        raise ValueError(
            f"Параметры L0 и L1 заданы тензорами разной длины ({l0.numel()} и {l1.numel()}): "
            "нужно по одному значению на запуск."
        )
    if variant == "normalized":
        if bool((l1 == 0).any()):
            raise ValueError(
                "Вариант variant='normalized' делает шаг 1/(L1·‖g‖) и требует L1 > 0, "
                f"получено L1={L1!r}."
            )
    elif bool(((l0 == 0) & (l1 == 0)).any()):
        raise ValueError(
            "Параметры L0 и L1 не могут одновременно равняться нулю: шаг 1/(L0 + L1·‖g‖) был бы "
            f"бесконечным (получено L0={L0!r}, L1={L1!r}); нужно L0 ≥ 0, L1 ≥ 0 и L0 + L1 > 0."
        )
