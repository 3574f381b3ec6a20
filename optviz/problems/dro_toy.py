r"""A 2-D toy group-DRO problem: three groups of unequal size whose robust solution is not ERM's.

Every sample :math:`i` of group :math:`g_i` has a quadratic loss around its own point :math:`c_i`
with the group's curvature :math:`A_{g}`:

.. math::
    \ell_i(\theta) = \tfrac12 (\theta - c_i)^\top A_{g_i} (\theta - c_i), \qquad \theta\in\mathbb{R}^2 .

The big group (120 points) sits on the left, two small groups (30 and 10 points) on the right and
at the bottom. ERM minimises the mean loss and lands next to the big group; the group-DRO problem
of the ALSO paper

.. math::
    \min_\theta\max_{\pi\in\Delta}\ \sum_g \pi_g F_g(\theta) - \tau\,\mathrm{KL}(\pi\|\hat\pi),
    \qquad F_g(\theta) = \frac{c}{n}\sum_{i\in g}\ell_i(\theta),

has, for τ > 0, the inner maximum in closed form,
:math:`\max_\pi(\dots) = \tau\log\sum_g\hat\pi_g e^{F_g(\theta)/\tau}` attained at
:math:`\pi^\star_g\propto\hat\pi_g e^{F_g(\theta)/\tau}`; for τ = 0 it is
:math:`\max_{g:\hat\pi_g>0} F_g(\theta)`. :meth:`DROToy.dro_solution` minimises that function of θ
with SciPy (NumPy arithmetic, independent of the torch code the optimizers run on).

Note that :math:`F_g` is a *sum* over the group: with a uniform prior large groups weigh more, and
the robust solution moves *towards* the big group; with the inverse-frequency prior
(:meth:`DROToy.prior` ``("inverse_frequency")``, the ALSO authors' advice) the groups are
balanced and the solution moves towards the small groups.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .base import Problem, as_tensor

__all__ = ["DROToy", "DROSolution"]


class DROSolution(NamedTuple):
    """Saddle point of the toy: ``theta`` (2,), ``pi`` (n_groups,), ``value`` of the robust objective."""

    theta: np.ndarray
    pi: np.ndarray
    value: float


class DROToy(Problem):
    r"""Three groups of quadratic losses in :math:`\mathbb{R}^2` (sizes 120, 30, 10 by default).

    Interface used by :func:`optviz.run.run` and the DRO optimizers:

    * ``losses(x)`` — per-sample losses, shape ``(..., n_samples)`` for ``x`` of shape ``(..., 2)``;
    * ``groups`` (long tensor of ``n_samples``), ``n_groups``, ``group_sizes``;
    * ``group_losses(x)`` — :math:`F_g(x)`, shape ``(..., n_groups)``;
    * ``loss(x)`` — the ERM objective (mean of the per-sample losses);
    * ``window``, ``start``/``starts``, ``minimizers`` (the ERM minimiser, shape (1, 2)), ``f_star``;
    * ``prior(kind)`` and ``dro_solution(tau, prior)``.
    """

    name = "dro_toy"
    title = "Игрушечная групповая DRO-задача: три группы разного размера"
    formula = (r"\ell_i(\theta)=\tfrac12(\theta-c_i)^\top A_{g_i}(\theta-c_i),\quad "
               r"\min_\theta\max_{\pi\in\Delta}\sum_g\pi_g\frac{c}{n}\sum_{i\in g}\ell_i(\theta)"
               r"-\tau\,\mathrm{KL}(\pi\|\hat\pi)")
    dim = 2
    window = ((-3.0, 3.5), (-4.0, 3.0))

    #: group centres, sizes, spreads and curvature matrices
    CENTERS = np.array([[-1.5, 0.5], [2.0, 1.5], [0.5, -2.5]])
    SIZES = (120, 30, 10)
    SPREAD = 0.35
    CURVATURES = np.array([
        [[1.0, 0.0], [0.0, 0.5]],
        [[0.8, 0.3], [0.3, 0.6]],
        [[0.6, 0.0], [0.0, 1.2]],
    ])

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        pts, gid = [], []
        for g, (centre, size) in enumerate(zip(self.CENTERS, self.SIZES)):
            pts.append(centre + self.SPREAD * rng.standard_normal((size, 2)))
            gid.append(np.full(size, g))
        self.points = np.concatenate(pts)                     # c_i, (n, 2)
        self.group_ids = np.concatenate(gid)                  # g_i, (n,)
        self.n_groups = len(self.SIZES)
        self.n_samples = len(self.group_ids)
        self.group_sizes = np.array(self.SIZES)
        self.groups = torch.as_tensor(self.group_ids, dtype=torch.long)
        self._A = self.CURVATURES[self.group_ids]             # A_{g_i}, (n, 2, 2)

        # ERM: sum_i A_{g_i}(θ − c_i) = 0  ⇒  θ = (Σ A_{g_i})^{-1} Σ A_{g_i} c_i
        theta = np.linalg.solve(self._A.sum(0), np.einsum("ijk,ik->j", self._A, self.points))
        self.minimizers = theta[None, :]
        self.f_star = float(self.value_np(theta))
        self.starts = np.array([[-2.5, -3.0], [2.5, -3.0], [2.5, 2.5]])

    # -- per-sample and per-group losses -----------------------------------------------------
    def _sample_losses(self, x, xp):
        if xp is torch:
            c = torch.as_tensor(self.points, dtype=x.dtype, device=x.device)
            A = torch.as_tensor(self._A, dtype=x.dtype, device=x.device)
        else:
            c, A = self.points, self._A
        d = x[..., None, :] - c                               # (..., n, 2)
        return 0.5 * xp.einsum("...ij,ijk,...ik->...i", d, A, d)

    def _formula(self, x, xp):
        return self._sample_losses(x, xp).mean(-1)

    def losses(self, x) -> torch.Tensor:
        """Per-sample losses :math:`\\ell_i(x)`: shape ``(..., n_samples)`` for ``x`` of shape ``(..., 2)``."""
        return self._sample_losses(as_tensor(x), torch)

    def group_losses(self, x) -> torch.Tensor:
        r""":math:`F_g(x) = \frac{c}{n}\sum_{i\in g}\ell_i(x)`, shape ``(..., n_groups)``."""
        ell = self.losses(x)
        out = ell.new_zeros(ell.shape[:-1] + (self.n_groups,))
        return out.index_add_(-1, self.groups.to(ell.device), ell) * (self.n_groups / self.n_samples)

    def prior(self, kind: str = "uniform") -> np.ndarray:
        """The prior :math:`\\hat\\pi`: ``"uniform"`` or ``"inverse_frequency"`` (∝ 1/group size)."""
        if kind == "uniform":
            return np.full(self.n_groups, 1.0 / self.n_groups)
        if kind == "inverse_frequency":
            w = 1.0 / self.group_sizes
            return w / w.sum()
        raise ValueError(f"Параметр kind должен быть 'uniform' или 'inverse_frequency', получено {kind!r}.")

    # -- the robust solution, computed independently with NumPy + SciPy -----------------------
    def _group_losses_np(self, theta):
        d = theta[None, :] - self.points
        ell = 0.5 * np.einsum("ij,ijk,ik->i", d, self._A, d)
        grad = np.einsum("ijk,ik->ij", self._A, d)            # ∇ℓ_i, (n, 2)
        F = np.bincount(self.group_ids, weights=ell, minlength=self.n_groups)
        dF = np.stack([np.bincount(self.group_ids, weights=grad[:, j], minlength=self.n_groups)
                       for j in range(2)], axis=1)
        scale = self.n_groups / self.n_samples
        return scale * F, scale * dF

    def dro_solution(self, tau: float = 0.1, prior="uniform") -> DROSolution:
        r"""Saddle point :math:`(\theta^\star, \pi^\star)` of the KL-regularised group-DRO problem.

        ``prior`` is ``"uniform"``, ``"inverse_frequency"`` or a probability vector. For τ > 0
        minimises :math:`\tau\log\sum_g\hat\pi_g e^{F_g(\theta)/\tau}` (smooth, convex) by BFGS and
        returns :math:`\pi^\star\propto\hat\pi e^{F(\theta^\star)/\tau}`; for τ = 0 solves
        :math:`\min_{\theta,t} t` s.t. :math:`F_g(\theta)\le t` by SLSQP and returns the
        multipliers of the active constraints as :math:`\pi^\star`.
        """
        from scipy.optimize import minimize
        from scipy.special import logsumexp, softmax

        if tau < 0:
            raise ValueError(f"Параметр tau должен лежать в [0, ∞), получено {tau}.")
        p = self.prior(prior) if isinstance(prior, str) else np.asarray(prior, dtype=np.float64)
        erm = self.minimizers[0]
        if tau > 0:
            logp = np.log(p)

            def fun(theta):
                F, dF = self._group_losses_np(theta)
                z = logp + F / tau
                return tau * logsumexp(z), softmax(z) @ dF

            res = minimize(fun, erm, jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 10_000})
            theta = res.x
            F, _ = self._group_losses_np(theta)
            return DROSolution(theta, softmax(logp + F / tau), float(tau * logsumexp(logp + F / tau)))

        active = p > 0
        cons = [{"type": "ineq",
                 "fun": lambda z, g=g: z[2] - self._group_losses_np(z[:2])[0][g],
                 "jac": lambda z, g=g: np.r_[-self._group_losses_np(z[:2])[1][g], 1.0]}
                for g in np.flatnonzero(active)]
        z0 = np.r_[erm, self._group_losses_np(erm)[0].max()]
        res = minimize(lambda z: z[2], z0, jac=lambda z: np.array([0.0, 0.0, 1.0]), method="SLSQP",
                       constraints=cons, options={"ftol": 1e-15, "maxiter": 1000})
        theta = res.x[:2]
        F, dF = self._group_losses_np(theta)
        # π* on the active set: Σ π_g ∇F_g = 0, Σ π_g = 1, π ≥ 0 (least squares on the active groups)
        act = np.flatnonzero(active & (F >= F[active].max() - 1e-7))
        M = np.vstack([dF[act].T, np.ones(len(act))])
        w, *_ = np.linalg.lstsq(M, np.r_[0.0, 0.0, 1.0], rcond=None)
        pi = np.zeros(self.n_groups)
        pi[act] = np.clip(w, 0.0, None)
        pi /= pi.sum()
        return DROSolution(theta, pi, float(F[active].max()))
