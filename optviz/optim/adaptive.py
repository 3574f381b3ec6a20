"""Adaptive methods with per-coordinate step sizes: Adagrad, RMSProp, Adam, AdamW.

Each reproduces :mod:`torch.optim` (same formulas, same order of floating-point operations, so
float64 runs agree to the last bits and float32 runs to rounding). One update per method serves
a network and a grid of 2-D toy runs alike: ``lr`` and the averaging factors (``betas``,
``alpha``, ``momentum``) may be Python floats or tensors broadcastable to the parameter.

The Adam moment update is the shared piece :func:`~optviz.optim._functional.adam_moments_`
(also used by ALSO and Shampoo's grafting).
"""

from __future__ import annotations


import torch

from .._checks import check_betas, check_range
from ._base import Optimizer
from ._functional import _add_scaled_, _plus_scaled, adam_moments_
from .sgd import _is_zero

__all__ = ["Adagrad", "RMSProp", "Adam", "AdamW"]


# -- scalar-or-tensor arithmetic ---------------------------------------------------------------
# torch's fused in-place ops take their scale as a Python number; a tensor scale (one value per
# run of a grid) is multiplied in first, in the same order as the fused kernel does it.

def _addcmul_(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, a) -> torch.Tensor:
    """In place ``x ← x + a·y·z``."""
    return x.add_(a * y * z) if isinstance(a, torch.Tensor) else x.addcmul_(y, z, value=a)


def _addcdiv_(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, a) -> torch.Tensor:
    """In place ``x ← x + a·y/z``."""
    return x.addcdiv_(a * y, z) if isinstance(a, torch.Tensor) else x.addcdiv_(y, z, value=a)


def _signed_grad(p: torch.Tensor, group: dict) -> torch.Tensor:
    return -p.grad if group["maximize"] else p.grad


# -- Adagrad -----------------------------------------------------------------------------------

class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan, Singer 2011) with torch semantics.

    .. math::
        g_t &= \nabla f(x_t) + \lambda x_t \\
        s_t &= s_{t-1} + g_t^2, \qquad s_0 = s_{\text{init}} \\
        \eta_t &= \frac{\eta}{1 + (t-1)\,\delta} \\
        x_{t+1} &= x_t - \eta_t\,\frac{g_t}{\sqrt{s_t} + \varepsilon}
        \quad\Big(\text{or } \eta_t\,\frac{g_t}{\sqrt{s_t + \varepsilon}}
        \text{ with } \texttt{eps\_inside\_root=True}\Big)

    with step size :math:`\eta` = ``lr``, learning-rate decay :math:`\delta` = ``lr_decay``,
    weight decay :math:`\lambda` and :math:`s_{\text{init}}` = ``initial_accumulator_value``.
    The default (ε outside the root, ε = 1e-10) is ``torch.optim.Adagrad``; the lecture slide
    and d2l put ε inside the root (and take ε ≈ 1e-6): pass ``eps_inside_root=True``.
    ``lr`` may be a tensor broadcastable to the parameter (a grid of runs).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, eps_inside_root=False, *, maximize=False, nonfinite="raise"):
        check_range("lr", lr, 0.0)
        check_range("lr_decay", lr_decay, 0.0)
        check_range("weight_decay", weight_decay, 0.0)
        check_range("initial_accumulator_value", initial_accumulator_value, 0.0)
        check_range("eps", eps, 0.0, low_open=True)
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        eps_inside_root=bool(eps_inside_root), maximize=bool(maximize))
        super().__init__(params, defaults, nonfinite=nonfinite)

    def _update_group(self, group):
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        decay = not _is_zero(wd)
        for p in self._params_with_grad(group):
            g = _signed_grad(p, group)
            if decay:
                g = _plus_scaled(g, p, wd)
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["sum"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["sum"].add_(group["initial_accumulator_value"])
            state["step"] += 1
            s = state["sum"].addcmul_(g, g)
            if group["eps_inside_root"]:
                denom = s.add(eps).sqrt_()
            else:
                denom = s.sqrt().add_(eps)
            lr_t = lr / (1 + (state["step"] - 1) * group["lr_decay"])
            _addcdiv_(p, g, denom, -lr_t)


# -- RMSProp -----------------------------------------------------------------------------------

class RMSProp(Optimizer):
    r"""RMSProp (Tieleman & Hinton 2012) with torch semantics (no bias correction).

    .. math::
        g_t &= \nabla f(x_t) + \lambda x_t \\
        v_t &= \alpha v_{t-1} + (1-\alpha) g_t^2, \qquad v_0 = 0 \\
        a_t &= \begin{cases} \sqrt{v_t - \bar g_t^2} + \varepsilon,\;
               \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t & \text{centered} \\
               \sqrt{v_t} + \varepsilon & \text{otherwise} \end{cases} \\
        b_t &= \mu b_{t-1} + g_t / a_t, \qquad x_{t+1} = x_t - \eta\, b_t

    with :math:`\eta` = ``lr``, smoothing :math:`\alpha`, momentum :math:`\mu` (with
    :math:`\mu = 0` simply :math:`x_{t+1} = x_t - \eta g_t / a_t`) and weight decay :math:`\lambda`.
    Since :math:`v_0 = 0` and nothing corrects the bias, the first step is
    :math:`\eta\,\mathrm{sign}(g)/\sqrt{1-\alpha}` — ten times ``lr`` at α = 0.99.
    ``lr``, ``alpha`` and ``momentum`` may be tensors broadcastable to the parameter.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 *, maximize=False, nonfinite="raise"):
        check_range("lr", lr, 0.0)
        check_range("alpha", alpha, 0.0, 1.0, high_open=True)
        check_range("eps", eps, 0.0, low_open=True)
        check_range("weight_decay", weight_decay, 0.0)
        check_range("momentum", momentum, 0.0, 1.0, high_open=True)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=bool(centered), maximize=bool(maximize))
        super().__init__(params, defaults, nonfinite=nonfinite)

    def _update_group(self, group):
        lr, alpha, eps, wd, mu = (group[k] for k in ("lr", "alpha", "eps", "weight_decay", "momentum"))
        use_momentum, decay = not _is_zero(mu), not _is_zero(wd)
        for p in self._params_with_grad(group):
            g = _signed_grad(p, group)
            if decay:
                g = _plus_scaled(g, p, wd)
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["centered"]:
                    state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if use_momentum:
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] += 1
            v = state["square_avg"]
            if group["centered"]:  # the same two moving averages as Adam's, with β1 = β2 = α
                g_avg = state["grad_avg"]
                adam_moments_(g_avg, v, g, alpha, alpha)
                denom = v.addcmul(g_avg, g_avg, value=-1).sqrt_().add_(eps)
            else:
                _addcmul_(v.mul_(alpha), g, g, 1 - alpha)
                denom = v.sqrt().add_(eps)
            if use_momentum:
                buf = state["momentum_buffer"].mul_(mu).addcdiv_(g, denom)
                _add_scaled_(p, buf, -lr)
            else:
                _addcdiv_(p, g, denom, -lr)


# -- Adam and AdamW ----------------------------------------------------------------------------

class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015) with torch semantics, optionally AMSGrad.

    .. math::
        g_t &= \nabla f(x_t) + \lambda x_t \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad m_0 = v_0 = 0 \\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \text{ (AMSGrad) or } v_t \\
        x_{t+1} &= x_t - \frac{\eta}{1-\beta_1^t}\,
                   \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \varepsilon}

    with :math:`\eta` = ``lr`` and L2 weight decay :math:`\lambda` added to the gradient (for the
    decoupled decay use :class:`AdamW`). ε is added *after* bias-correcting :math:`\sqrt v`, and
    AMSGrad keeps the maximum of the raw :math:`v_t`, both as in torch. ``bias_correction=False``
    drops both factors :math:`1-\beta^t` — the variant some slides show; its first step is
    :math:`\eta(1-\beta_1)/\sqrt{1-\beta_2} \approx 3.16\,\eta` per coordinate at the default betas
    (with the correction it is η). ``lr`` and each of ``betas`` may be tensors broadcastable to the
    parameter (a grid of runs).
    """

    _decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 *, bias_correction=True, maximize=False, nonfinite="raise"):
        check_range("lr", lr, 0.0)
        betas = check_betas(betas)
        check_range("eps", eps, 0.0, low_open=True)
        check_range("weight_decay", weight_decay, 0.0)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=bool(amsgrad),
                        bias_correction=bool(bias_correction), maximize=bool(maximize))
        super().__init__(params, defaults, nonfinite=nonfinite)

    def _update_group(self, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        decay = not _is_zero(wd)
        for p in self._params_with_grad(group):
            g = _signed_grad(p, group)
            if decay:
                if self._decoupled_weight_decay:
                    p.mul_(1 - lr * wd)
                else:
                    g = _plus_scaled(g, p, wd)
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            adam_moments_(m, v, g, beta1, beta2)
            if group["amsgrad"]:
                v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            # x ← x − (η / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε), in torch's order of operations
            denom = v.sqrt()
            step_size = lr
            if group["bias_correction"]:
                denom.div_((1 - beta2**t) ** 0.5)
                step_size = lr / (1 - beta1**t)
            _addcdiv_(p, m, denom.add_(eps), -step_size)


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, torch semantics.

    .. math::
        x_t' &= x_t\,(1 - \eta\lambda) \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad g_t = \nabla f(x_t) \\
        x_{t+1} &= x_t' - \frac{\eta}{1-\beta_1^t}\,
                   \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \varepsilon}

    The decay shrinks the weights by the factor :math:`1-\eta\lambda` *before* the moment update
    and never enters :math:`m, v`; it scales with the full ``lr`` (so a scheduler that lowers
    ``lr`` lowers the decay too). Default :math:`\lambda` = 1e-2. Everything else — AMSGrad
    (:math:`v_t` replaced by its running maximum in the denominator), ``bias_correction``,
    tensor hyperparameters — as in :class:`Adam`.
    """

    _decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 *, bias_correction=True, maximize=False, nonfinite="raise"):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         bias_correction=bias_correction, maximize=maximize, nonfinite=nonfinite)
