r"""Optimistic Mirror-Prox — the non-adaptive intermediate algorithm of the ALSO paper (Algorithm 4).

Gradient descent in θ, KL mirror ascent in π (a softmax step), and the optimistic extrapolation
with the previous gradient ("negative momentum" α) that turns one oracle call per iteration into
a convergent method for convex–concave games — where plain simultaneous gradient descent–ascent
spirals away. The textbook Mirror-Prox (extragradient, two oracle calls) is the mode
``"extragradient"``; plain descent–ascent is ``"descent-ascent"``.

Modes ``"optimistic"`` and ``"descent-ascent"`` use the usual loop (``zero_grad``,
``weighted_loss(...).backward()``, ``step()``). The mode ``"extragradient"`` needs the second
oracle call, so it takes a closure that recomputes the weighted loss and its gradient on the
*same* batch, and calls it twice — at :math:`(\theta_t,\pi_t)` and at
:math:`(\theta_{t+1/2},\pi_{t+1/2})`::

    def closure():
        opt.zero_grad()
        loss = opt.weighted_loss(F.cross_entropy(model(x), y, reduction="none"), groups=y)
        loss.backward()
        return loss
    opt.step(closure)          # returns the loss at the base point θ_t
"""

from __future__ import annotations

import torch

from .._checks import check_range
from ._dro import FLOAT32_EPS, GroupDROOptimizer

__all__ = ["OptimisticMirrorProx"]


class OptimisticMirrorProx(GroupDROOptimizer):
    r"""Optimistic Mirror-Prox for the group-DRO game (plain gradient steps on θ).

    Mode ``"optimistic"`` (the paper's Algorithm 4, the authors' reference semantics), iteration
    :math:`t`:

    .. math::
        \theta_{t+1/2} &= \theta_t - \eta\,(\alpha\,G_{t-1/2} + \lambda\theta_t),
        \qquad \pi_{t+1/2} = \mathrm{MD}(\pi_t,\, h_{t-1/2}) \\
        G_{t+1/2},\ h_{t+1/2} &\text{ — gradient and group signal at } (\theta_{t+1/2}, \pi_{t+1/2}) \\
        \theta_{t+1} &= \theta_t - \eta\,(G_{t+1/2} + \lambda\theta_{t+1/2}),
        \qquad \pi_{t+1} = \mathrm{MD}(\pi_t,\, h_{t+1/2})

    (no extrapolation on the first iteration; the decay of the update is taken at the half point).
    Mode ``"extragradient"`` — textbook Mirror-Prox: :math:`G_t, h_t` at :math:`(\theta_t, \pi_t)`,
    :math:`\theta_{t+1/2} = \theta_t - \eta(G_t + \lambda\theta_t)`,
    :math:`\pi_{t+1/2} = \mathrm{MD}(\pi_t, h_t)`, then the same update as above with
    :math:`G_{t+1/2}, h_{t+1/2}` from a second oracle call at the half point (``step(closure)``
    calls the closure twice). Mode ``"descent-ascent"`` — simultaneous GDA:
    :math:`\theta_{t+1} = \theta_t - \eta(G_t + \lambda\theta_t)`, :math:`\pi_{t+1} = \mathrm{MD}(\pi_t, h_t)`.

    :math:`\mathrm{MD}` is the KL-prox step of ALSO (shared
    :func:`~optviz.optim._functional.kl_mirror_step`):
    :math:`\mathrm{MD}(\pi,h)=\mathrm{softmax}\big((\log(\pi+\varepsilon)+\eta_\pi\tau\log\hat\pi-\eta_\pi h)/((1+\eta_\pi\tau)T)\big)`,
    :math:`h_g = -s\sum_{i:\,g_i=g}\ell_i`.

    Parameters: ``lr`` = η (may be a tensor broadcastable to the parameter), ``weight_decay`` = λ,
    ``pi_lr`` = η_π, ``pi_decay`` = τ, ``pi_temperature`` = T, ``alpha`` = α, ``eps`` = ε of
    ``log(π + ε)``, ``prior``, ``pi_init``, ``loss_scale``, ``mode``; the rest as in
    :class:`~optviz.optim._dro.GroupDROOptimizer`. methods.md gives no defaults for this method;
    ours are lr = 1e-2, weight_decay = 0, pi_lr = 1e-2, pi_decay = 1e-2, α = 1, ε = float32
    machine epsilon (as ALSO).

    As in :class:`~optviz.optim.also.ALSO`, ``step()`` in the optimistic mode also performs the
    next iteration's extrapolation, so between calls the parameters hold the point where the next
    gradient is taken; :meth:`base_point` shows :math:`\theta_t`. In the other two modes the
    parameters hold :math:`\theta_t` between calls.
    """

    modes = ("optimistic", "extragradient", "descent-ascent")

    def __init__(self, params, n_groups: int, lr=1e-2, weight_decay=0.0, pi_lr=1e-2, pi_decay=1e-2,
                 pi_temperature=1.0, alpha=1.0, prior="uniform", pi_init=None, loss_scale=None,
                 mode="optimistic", eps=FLOAT32_EPS, *, record_pi=True, batch_shape=(), nonfinite="raise"):
        check_range("lr", lr, 0.0)
        check_range("weight_decay", weight_decay, 0.0)
        check_range("alpha", alpha, 0.0)
        defaults = dict(lr=lr, weight_decay=weight_decay, alpha=alpha)
        super().__init__(params, defaults, n_groups=n_groups, pi_lr=pi_lr, pi_decay=pi_decay,
                         pi_temperature=pi_temperature, eps=eps, prior=prior, pi_init=pi_init,
                         loss_scale=loss_scale, mode=mode, record_pi=record_pi,
                         batch_shape=batch_shape, nonfinite=nonfinite)

    @torch.no_grad()
    def step(self, closure=None):
        """One iteration of the chosen mode (see the class docstring)."""
        if self.mode == "extragradient":
            return self._extragradient_step(closure)
        loss = self._evaluate_closure(closure)
        h = self._take_signal()                       # h_{t+1/2} (h_t in descent-ascent)
        if not self._signal_finite(h):
            return loss
        optimistic = self.mode == "optimistic"
        for group in self.param_groups:
            lr, lam, alpha = group["lr"], group["weight_decay"], group["alpha"]
            for p in self._params_with_grad(group):
                G = p.grad                                        # G_{t+1/2}, taken at θ_{t+1/2} = p
                theta = self.base_of(p) - lr * (G + lam * p)      # θ_{t+1} = θ_t − η(G + λθ_{t+1/2})
                if optimistic:                                    # θ_{t+3/2}: extrapolate
                    self.state[p]["base"] = theta
                    theta = theta - lr * (alpha * G + lam * theta)
                p.copy_(theta)
        pi = self.mirror_step(self._pi, h)                            # π_{t+1} = MD(π_t, h_{t+1/2})
        pi_half = self.mirror_step(pi, h) if optimistic else pi       # π_{t+3/2} = MD(π_{t+1}, h_{t+1/2})
        self._advance_pi(pi, pi_half)
        return loss

    def _extragradient_step(self, closure):
        if closure is None:
            raise ValueError(
                "В режиме mode='extragradient' шагу нужен closure: метод дважды вычисляет градиент "
                "(в θ_t и в θ_{t+1/2}). Передайте в step() функцию, которая вызывает zero_grad(), "
                "weighted_loss(...) на том же батче и backward()."
            )
        loss = self._evaluate_closure(closure)        # oracle 1 at (θ_t, π_t)
        h = self._take_signal()
        if not self._signal_finite(h):
            return loss
        base = []
        for group in self.param_groups:
            lr, lam = group["lr"], group["weight_decay"]
            for p in self._params_with_grad(group):
                base.append((p, group, p.detach().clone()))       # θ_t
                p.sub_(lr * (p.grad + lam * p))                   # θ_{t+1/2} = θ_t − η(G_t + λθ_t)
        pi = self._pi
        self._pi_half = self.mirror_step(pi, h)                   # π_{t+1/2} = MD(π_t, h_t)

        def undo():
            for p, _, theta in base:
                p.copy_(theta)
            self._pi_half = pi

        try:
            self._evaluate_closure(closure)           # oracle 2 at (θ_{t+1/2}, π_{t+1/2})
            h_half = self._take_signal()
            finite = self._signal_finite(h_half)
        except BaseException:
            undo()
            raise
        if not finite:
            undo()
            return loss
        for p, group, theta in base:
            if p.grad is None:
                p.copy_(theta)
                continue
            lr, lam = group["lr"], group["weight_decay"]
            p.copy_(theta - lr * (p.grad + lam * p))              # θ_{t+1} = θ_t − η(G_{t+1/2} + λθ_{t+1/2})
        pi_next = self.mirror_step(pi, h_half)                    # π_{t+1} = MD(π_t, h_{t+1/2})
        self._advance_pi(pi_next, pi_next)
        return loss
