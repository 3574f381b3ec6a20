"""Stochastic gradient descent with (Nesterov) momentum — GD is SGD on the full batch."""

from __future__ import annotations

import math

import torch

from .._checks import check_range
from ._base import Optimizer
from ._functional import _add_scaled_, _plus_scaled

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""SGD with momentum, dampening, Nesterov momentum and L2 weight decay (torch semantics).

    .. math::
        g_t &= \nabla f(x_t) + \lambda x_t \\
        b_t &= \begin{cases} g_t & t = 1 \\ \mu b_{t-1} + (1-\delta) g_t & t > 1 \end{cases} \\
        d_t &= \begin{cases} g_t + \mu b_t & \text{nesterov} \\ b_t & \text{otherwise} \end{cases} \\
        x_{t+1} &= x_t - \eta\, d_t

    with step size :math:`\eta` = ``lr``, momentum :math:`\mu`, dampening :math:`\delta` and weight
    decay :math:`\lambda`. With ``momentum=0`` it is plain (S)GD :math:`x_{t+1} = x_t - \eta g_t`.
    ``lr`` and ``momentum`` may be tensors broadcastable to the parameter (a grid of runs).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 *, maximize=False, nonfinite="raise"):
        check_range("lr", lr, 0.0)
        check_range("momentum", momentum, 0.0, 1.0)
        check_range("dampening", dampening, 0.0, 1.0)
        check_range("weight_decay", weight_decay, 0.0)
        if nesterov and (_is_zero(momentum) or not _is_zero(dampening)):
            raise ValueError(
                "Импульс Нестерова (nesterov=True) требует momentum > 0 и dampening = 0, "
                f"получено momentum={momentum!r}, dampening={dampening!r}."
            )
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=bool(nesterov), maximize=bool(maximize))
        super().__init__(params, defaults, nonfinite=nonfinite)

    def _update_group(self, group):
        lr, mu, damp, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        for p in self._params_with_grad(group):
            g = -p.grad if group["maximize"] else p.grad
            if not _is_zero(wd):
                g = _plus_scaled(g, p, wd)
            state = self.state[p]
            state["step"] = state.get("step", 0) + 1
            if not _is_zero(mu):
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.detach().clone()
                else:
                    _add_scaled_(buf.mul_(mu), g, 1 - damp)
                d = _plus_scaled(g, buf, mu) if group["nesterov"] else buf
            else:
                d = g
            _add_scaled_(p, d, -lr)


def _is_zero(x) -> bool:
    """True when a number (or every element of a tensor) is exactly zero."""
    if isinstance(x, torch.Tensor):
        return bool((x == 0).all())
    return x == 0 or (isinstance(x, float) and math.isclose(x, 0.0, abs_tol=0.0))
