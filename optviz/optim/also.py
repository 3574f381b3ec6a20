r"""ALSO — Adaptive Loss Scaling Optimizer (Feoktistov et al., 2025), the authors' reference semantics.

ALSO solves the group-weighted DRO problem (see :mod:`optviz.optim._dro`) as a game: an Adam
step descends in the model parameters θ, a KL mirror step ascends in the group weights π, and
both players *extrapolate* with the previous gradient (the optimistic "negative momentum" α)
so that one forward/backward per iteration is enough.

Typical loop::

    opt = ALSO(model.parameters(), n_groups=10, lr=1e-3, pi_lr=1e-2, pi_decay=1e-2)
    for x, y in loader:
        opt.zero_grad()
        losses = F.cross_entropy(model(x), y, reduction="none")
        opt.weighted_loss(losses, groups=y).backward()
        opt.step()
    with opt.base_point():   # θ_t, not the extrapolated θ_{t+1/2}
        evaluate(model)
"""

from __future__ import annotations

import torch

from .._checks import check_betas, check_range
from ._dro import FLOAT32_EPS, GroupDROOptimizer
from ._functional import adam_direction, adam_moments_

__all__ = ["ALSO"]


class ALSO(GroupDROOptimizer):
    r"""ALSO: Adam on θ, KL mirror ascent on π, optimistic extrapolation of both.

    Iteration :math:`t` (base point :math:`\theta_t, \pi_t`; :math:`G_{t-1/2}, h_{t-1/2}` from the
    previous iteration):

    .. math::
        \theta_{t+1/2} &= \theta_t + \mathrm{AdamStep}(\alpha\,G_{t-1/2} + \lambda\theta_t),
        \qquad \pi_{t+1/2} = \mathrm{MD}(\pi_t,\, h_{t-1/2}) \\
        G_{t+1/2} &= \nabla_\theta \textstyle\sum_i \pi_{t+1/2}[g_i]\, s\, \ell_i(\theta_{t+1/2}),
        \qquad h_{t+1/2,g} = -s \textstyle\sum_{i:\,g_i=g} \ell_i(\theta_{t+1/2}) \\
        \theta_{t+1} &= \theta_t + \mathrm{AdamStep}(G_{t+1/2} + \lambda\theta_t),
        \qquad \pi_{t+1} = \mathrm{MD}(\pi_t,\, h_{t+1/2})

    with no extrapolation on the first iteration (:math:`\theta_{1/2}=\theta_0`,
    :math:`\pi_{1/2}=\pi_0`). Both half-steps share **one** Adam state (moments and counter
    :math:`k`), so after :math:`T` iterations :math:`k = 2T-1`:

    .. math::
        \mathrm{AdamStep}(g):\; k \leftarrow k+1,\;
        m \leftarrow \beta_1 m + (1-\beta_1) g,\; v \leftarrow \beta_2 v + (1-\beta_2) g^2,\;
        \text{return } -\eta\,\frac{\sqrt{1-\beta_2^k}}{1-\beta_1^k}\,\frac{m}{\sqrt v + \varepsilon}

    and the KL-prox (mirror) step on the simplex

    .. math::
        \mathrm{MD}(\pi, h) = \mathrm{softmax}\Big(\frac{\log(\pi+\varepsilon) + \eta_\pi\tau\log\hat\pi
        - \eta_\pi h}{(1+\eta_\pi\tau)\,T}\Big).

    Parameters: ``lr`` = η, ``betas`` = (β₁, β₂), ``eps`` = ε (the *same* ε in Adam's denominator
    and in ``log(π + ε)``; default float32 machine epsilon ≈ 1.19e-7), ``weight_decay`` = λ
    (coupled L2: λθ is added to the gradient fed to Adam), ``pi_lr`` = η_π, ``pi_decay`` = τ,
    ``pi_temperature`` = T, ``alpha`` = α, ``prior`` = :math:`\hat\pi`, ``pi_init`` = π₀ (default:
    the prior), ``loss_scale`` = s (default ``n_groups / batch_size``). See
    :class:`~optviz.optim._dro.GroupDROOptimizer` for ``record_pi``, ``batch_shape``,
    ``nonfinite``. ``lr`` may be a tensor broadcastable to the parameter (a grid of runs).

    Modes: ``"optimistic"`` (the algorithm above) and ``"descent-ascent"`` (no extrapolation:
    losses at :math:`(\theta_t, \pi_t)`, :math:`\theta_{t+1} = \theta_t + \mathrm{AdamStep}(G+\lambda\theta_t)`,
    :math:`\pi_{t+1} = \mathrm{MD}(\pi_t, h)`; with π frozen at a uniform prior this is exactly
    Adam with L2 decay in the ε placement above).

    Notes
    -----
    * **Where ε sits.** The reference AdamStep adds ε to the raw :math:`\sqrt{v}` and multiplies by
      the combined factor :math:`\sqrt{1-\beta_2^k}/(1-\beta_1^k)`; ``torch.optim.Adam`` adds ε to
      the bias-corrected :math:`\sqrt{v}/\sqrt{1-\beta_2^k}`. The two agree when ε = 0; otherwise
      ALSO's step equals torch's with the step-dependent :math:`\varepsilon_k = \varepsilon/\sqrt{1-\beta_2^k}`
      (about 32·ε at k = 1 for β₂ = 0.999, tending to ε), i.e. ε weighs more in the first steps.
    * **When the extrapolation happens.** ``step()`` performs the update of iteration :math:`t`
      *and* the extrapolation of iteration :math:`t+1`, so that between calls the parameters hold
      :math:`\theta_{t+3/2}`, where the next gradient must be taken. Hence after :math:`T` calls of
      ``step()`` in the optimistic mode the Adam counter is :math:`2T` — the reference's
      :math:`2T-1` for :math:`T` iterations plus the extrapolation half-step already taken for
      iteration :math:`T+1` (the trajectory is identical). Evaluate the model inside
      :meth:`base_point` to see :math:`\theta_T`.
    * ``self.state[p]`` holds ``"step"`` (the Adam counter, an int), ``"exp_avg"``, ``"exp_avg_sq"``
      and ``"base"`` (:math:`\theta_t`); π, :math:`\pi_{t+1/2}`, the pending group signal and
      the π history are in ``state_dict()["dro"]``.
    """

    modes = ("optimistic", "descent-ascent")

    def __init__(self, params, n_groups: int, lr=1e-3, betas=(0.9, 0.999), eps=FLOAT32_EPS,
                 weight_decay=1e-3, pi_lr=1e-3, pi_decay=1e-2, pi_temperature=1.0, alpha=1.0,
                 prior="uniform", pi_init=None, loss_scale=None, mode="optimistic", *,
                 record_pi=True, batch_shape=(), nonfinite="raise"):
        check_range("lr", lr, 0.0)
        betas = check_betas(betas)
        check_range("weight_decay", weight_decay, 0.0)
        check_range("alpha", alpha, 0.0)
        check_range("eps", eps, 0.0)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, alpha=alpha)
        super().__init__(params, defaults, n_groups=n_groups, pi_lr=pi_lr, pi_decay=pi_decay,
                         pi_temperature=pi_temperature, eps=eps, prior=prior, pi_init=pi_init,
                         loss_scale=loss_scale, mode=mode, record_pi=record_pi,
                         batch_shape=batch_shape, nonfinite=nonfinite)

    @torch.no_grad()
    def step(self, closure=None):
        """One ALSO iteration: update from the base point, then extrapolate for the next one."""
        loss = self._evaluate_closure(closure)
        h = self._take_signal()                      # h_{t+1/2}, recorded by weighted_loss
        if not self._signal_finite(h):
            return loss
        optimistic = self.mode == "optimistic"
        for group in self.param_groups:
            lam, alpha = group["weight_decay"], group["alpha"]
            for p in self._params_with_grad(group):
                G = p.grad                                                 # G_{t+1/2}, taken at θ_{t+1/2}
                theta = self.base_of(p)                                    # θ_t
                theta = theta + self._adam_step(p, G + lam * theta, group)  # θ_{t+1}
                if optimistic:                                             # θ_{t+3/2}: extrapolate
                    self.state[p]["base"] = theta
                    theta = theta + self._adam_step(p, alpha * G + lam * theta, group)
                p.copy_(theta)
        pi = self.mirror_step(self._pi, h)                            # π_{t+1} = MD(π_t, h_{t+1/2})
        pi_half = self.mirror_step(pi, h) if optimistic else pi       # π_{t+3/2} = MD(π_{t+1}, h_{t+1/2})
        self._advance_pi(pi, pi_half)
        return loss

    def _adam_step(self, p: torch.Tensor, g: torch.Tensor, group: dict) -> torch.Tensor:
        r"""AdamStep(g) of the reference: advances the shared state of ``p``, returns the increment."""
        state = self.state[p]
        if "exp_avg" not in state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        k, (beta1, beta2) = state["step"], group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        adam_moments_(m, v, g, beta1, beta2)
        step_size = group["lr"] * ((1 - beta2**k) ** 0.5 / (1 - beta1**k))
        return -step_size * adam_direction(m, v, k, beta1, beta2, group["eps"], bias_correction=False)
