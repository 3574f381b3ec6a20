r"""Stochastic finite sums :math:`f(x) = \frac1n \sum_{i=1}^n f_i(x)` with seeded data.

* :class:`LinearRegression` — a line :math:`y = wt + b` fitted to noisy points, parameters
  :math:`(w, b)` so the loss is a 2-D landscape: the two-panel SGD view of lecture 02 shows the
  contour with the full optimum, the current mini-batch and *its own* optimum
  (:meth:`LinearRegression.batch_optimum`), next to the data and the fitted line.
* :class:`LogisticRegression` — L2-regularised logistic regression; :meth:`LogisticRegression.lecture`
  is the slides' setting (m = 200, n = 10, μ = 1) and :meth:`LogisticRegression.hard` a
  badly conditioned variant. The exact optimum is found by Newton's method to machine precision.

Mini-batches are index arrays: ``problem.loss(x, batch=idx)`` is the mean of the selected
:math:`f_i`; :meth:`FiniteSum.sample_batches` draws them reproducibly from a seed, and
:func:`optviz.run.run` accepts them through ``batches=``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import check_int, check_range
from .base import Problem, as_tensor

__all__ = ["FiniteSum", "LeastSquares", "LinearRegression", "LogisticRegression"]


class FiniteSum(Problem):
    r"""Base of the finite-sum problems: per-sample losses, mini-batches, noise statistics.

    Subclasses define ``_losses(x, idx, xp)`` — the per-sample losses :math:`f_i(x)` for the
    samples ``idx`` (``None`` = all) with ``xp`` = ``torch`` or ``numpy`` — plus ``optimum``,
    ``f_star``, ``mu`` and ``L``.
    """

    n_samples: int
    batch_size: int = 1
    mu: float
    L: float
    optimum: np.ndarray

    def _losses(self, x, idx, xp):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- values ----------------------------------------------------------------------------
    def _rows(self, x, idx, xp):
        """The data ``(A, y)`` (as torch tensors of x's dtype when ``xp`` is torch), restricted to ``idx``."""
        if xp is torch:
            A, y = self._A_t.to(x.dtype), self._y_t.to(x.dtype)
        else:
            A, y = self.A, self.y
        if idx is not None:
            A, y = A[idx], y[idx]
        return A, y

    def losses(self, x, batch=None) -> torch.Tensor:
        """Per-sample losses :math:`f_i(x)`: shape ``(..., n_samples)`` (or ``(..., len(batch))``)."""
        return self._losses(as_tensor(x), self._index(batch), torch)

    def loss(self, x, batch=None) -> torch.Tensor:
        """Mean loss over ``batch`` (an index array; ``None`` = the full objective :math:`f`)."""
        return self.losses(x, batch).mean(-1)

    def value_np(self, x, batch=None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            return self._losses(x, self._index(batch), np).mean(-1)

    def grad(self, x, batch=None) -> torch.Tensor:
        """(Mini-batch) gradient by autograd, batched over leading dimensions."""
        x = as_tensor(x).detach().clone().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self.loss(x, batch).sum(), x)
        return g

    def sample_grads(self, x) -> torch.Tensor:
        """Per-sample gradients :math:`\\nabla f_i(x)` at one point: shape ``(n_samples, dim)``."""
        x = as_tensor(x).detach().reshape(self.dim)
        return torch.autograd.functional.jacobian(lambda z: self.losses(z), x)

    # -- mini-batches ----------------------------------------------------------------------
    def _index(self, batch):
        if batch is None:
            return None
        idx = np.asarray(batch if not isinstance(batch, torch.Tensor) else batch.cpu().numpy())
        if idx.dtype.kind not in "iu" or idx.ndim != 1 or idx.size == 0:
            raise ValueError(f"Параметр batch должен быть непустым одномерным массивом индексов, получено {batch!r}.")
        if idx.min() < 0 or idx.max() >= self.n_samples:
            raise ValueError(f"Индексы batch должны лежать в [0, {self.n_samples - 1}], получено {idx.tolist()}.")
        return idx

    def sample_batches(self, steps: int, batch_size: int | None = None, seed: int = 0, *,
                       replace: bool = False) -> np.ndarray:
        """``steps`` reproducible mini-batches: an int array of shape ``(steps, batch_size)``.

        Each batch is drawn uniformly (without replacement inside a batch unless ``replace``),
        independently across steps, from ``numpy.random.default_rng(seed)``.
        """
        check_int("steps", steps, 0)
        b = self.batch_size if batch_size is None else batch_size
        check_int("batch_size", b, 1, self.n_samples if not replace else math.inf)
        rng = np.random.default_rng(seed)
        if replace:
            return rng.integers(0, self.n_samples, size=(steps, b))
        if steps == 0:
            return np.zeros((0, b), dtype=np.int64)
        # argsort of uniform keys = an independent random permutation per row
        return np.argsort(rng.random((steps, self.n_samples)), axis=1)[:, :b]

    # -- noise statistics (lecture 02) -----------------------------------------------------
    def sigma2(self, x=None) -> float:
        r""":math:`\sigma^2 = \frac1n\sum_i \|\nabla f_i(x)\|^2` at ``x`` (default: the optimum)."""
        g = self.sample_grads(self.optimum if x is None else x)
        return float((g * g).sum(-1).mean())

    def grad_variance(self, x, batch_size: int = 1) -> float:
        r"""Exact :math:`\mathbb E\|g_B - \nabla f(x)\|^2` of a mini-batch gradient (uniform, no replacement).

        Equals :math:`\frac{n-b}{b(n-1)}\cdot\frac1n\sum_i\|\nabla f_i(x) - \nabla f(x)\|^2`.
        """
        n = self.n_samples
        b = check_int("batch_size", batch_size, 1, n)
        g = self.sample_grads(x)
        spread = float(((g - g.mean(0)) ** 2).sum(-1).mean())
        return spread * (n - b) / (b * (n - 1)) if n > 1 else 0.0

    def noise_floor(self, lr: float, sigma2: float | None = None) -> float:
        r"""The constant-step SGD floor :math:`L\sigma^2\alpha/(4\mu)` of the lecture's theorem (α < 1/(2μ))."""
        check_range("lr", lr, 0.0, 1 / (2 * self.mu), low_open=True, high_open=True)
        s2 = self.sigma2() if sigma2 is None else sigma2
        return self.L * s2 * lr / (4 * self.mu)


class LeastSquares(FiniteSum):
    r"""Least squares on given data: :math:`f(x) = \frac1{2n}\sum_{i=1}^n (a_i^\top x - y_i)^2`.

    ``A`` ``(n, d)`` holds the rows :math:`a_i`, ``y`` ``(n,)`` the targets. Attributes:
    ``hessian_matrix`` :math:`A^\top A/n`, ``mu`` and ``L`` (its extreme eigenvalues), ``optimum``
    (the least-squares solution, minimum-norm if ``A`` is rank-deficient) and ``f_star``;
    ``window`` is a box of half-width ``radius`` around the optimum (for 2-D pictures).
    """

    name = "least_squares"
    title = "Наименьшие квадраты"
    formula = r"f(x) = \frac{1}{2n}\sum_{i=1}^{n} \left(a_i^\top x - y_i\right)^2"

    def __init__(self, A, y, radius: float = 2.5):
        A = np.array(A, dtype=np.float64)
        y = np.array(y, dtype=np.float64).reshape(-1)
        if A.ndim != 2 or A.shape[0] != y.size:
            raise ValueError(f"A должна быть матрицей (n, d), а y — вектором длины n; получены формы "
                             f"{A.shape} и {y.shape}")
        self.n_samples, self.dim = A.shape
        self._set_data(A, y)
        c = self.optimum
        self.window = tuple((float(ci) - radius, float(ci) + radius) for ci in c)
        self.starts = c[None, :] + radius * 0.8 * np.array([[-1.0] + [1.0] * (self.dim - 1)])

    def _set_data(self, A: np.ndarray, y: np.ndarray, optimum: np.ndarray | None = None) -> None:
        """Store the data and derive the curvature, the optimum and f*."""
        self.A, self.y = A, y
        self._A_t, self._y_t = torch.as_tensor(A), torch.as_tensor(y)
        self.hessian_matrix = A.T @ A / A.shape[0]
        ev = np.linalg.eigvalsh(self.hessian_matrix)
        self.mu, self.L = float(ev[0]), float(ev[-1])
        self.optimum = np.linalg.lstsq(A, y, rcond=None)[0] if optimum is None else optimum
        self.minimizers = self.optimum[None, :].copy()
        self.f_star = float(self.value_np(self.optimum))

    def _losses(self, x, idx, xp):
        A, y = self._rows(x, idx, xp)
        r = (x[..., None, :] * A).sum(-1) - y
        return 0.5 * r * r


class LinearRegression(LeastSquares):
    r"""Least squares for a line: :math:`f(w, b) = \frac1{2n}\sum_{i=1}^n (w t_i + b - y_i)^2`.

    Data: :math:`t_i \sim U(t_{lo}, t_{hi})`, :math:`y_i = w^\circ t_i + b^\circ + \sigma\varepsilon_i`,
    all from ``numpy.random.default_rng(seed)``. The design matrix has rows :math:`a_i = (t_i, 1)`.

    Attributes: ``t``, ``y`` (data), ``A`` (design), ``hessian_matrix`` :math:`A^\top A/n`, ``mu``
    and ``L`` (its eigenvalues), ``optimum`` and ``f_star``.
    """

    name = "linear_regression"
    title = "Линейная регрессия (мини-батчи)"
    formula = r"f(w, b) = \frac{1}{2n}\sum_{i=1}^{n} \left(w\,t_i + b - y_i\right)^2"
    dim = 2

    def __init__(self, n_samples: int = 64, batch_size: int = 4, noise: float = 0.5,
                 slope: float = 1.5, intercept: float = -0.5, t_range=(-1.0, 3.0), seed: int = 0):
        self.n_samples = check_int("n_samples", n_samples, 2)
        self.batch_size = check_int("batch_size", batch_size, 1, self.n_samples)
        self.noise = float(check_range("noise", noise, 0.0))
        check_range("slope", slope)
        check_range("intercept", intercept)
        lo, hi = (float(v) for v in t_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"Параметр t_range должен быть интервалом (lo, hi) с lo < hi, получено {t_range!r}.")
        self.seed = check_int("seed", seed, 0)
        rng = np.random.default_rng(seed)
        self.t = rng.uniform(lo, hi, size=self.n_samples)
        self.y = slope * self.t + intercept + self.noise * rng.standard_normal(self.n_samples)
        self.true_params = np.array([float(slope), float(intercept)])
        A = np.stack([self.t, np.ones_like(self.t)], axis=1)
        self._set_data(A, self.y, optimum=np.linalg.solve(A.T @ A, A.T @ self.y))
        self.kappa = self.L / self.mu
        c = self.optimum
        self.window = ((c[0] - 2.5, c[0] + 2.5), (c[1] - 2.5, c[1] + 2.5))
        self.starts = c + np.array([[-2.0, 2.0], [2.0, 2.0], [-2.0, -2.0]])

    def batch_optimum(self, batch) -> np.ndarray:
        """Least-squares optimum ★ of the batch's own loss (minimum-norm if the batch is degenerate)."""
        idx = self._index(batch)
        sol, *_ = np.linalg.lstsq(self.A[idx], self.y[idx], rcond=None)
        return sol

    def predict(self, params, t) -> np.ndarray:
        """The fitted line :math:`w t + b` for parameters ``(w, b)`` (``params`` may be ``(..., 2)``)."""
        p = np.asarray(params, dtype=np.float64)
        return p[..., None, 0] * np.asarray(t, dtype=np.float64) + p[..., None, 1]

    def __repr__(self):
        return (f"LinearRegression(n_samples={self.n_samples}, batch_size={self.batch_size}, "
                f"noise={self.noise:g}, seed={self.seed})")


def _softplus(z, xp):
    """:math:`\\log(1 + e^z)` without overflow."""
    if xp is torch:
        return torch.nn.functional.softplus(z)
    return np.logaddexp(0.0, z)


class LogisticRegression(FiniteSum):
    r"""L2-regularised binary logistic regression

    .. math::
        f(x) = \frac1m\sum_{i=1}^m f_i(x),\qquad
        f_i(x) = \frac\mu2\|x\|_2^2 + \log\big(1 + e^{-y_i\langle a_i, x\rangle}\big),

    with features :math:`a_i \sim \mathcal N(0, \operatorname{diag}(s)^2)` and labels
    :math:`y_i\in\{-1, 1\}` drawn from the logistic model of a random :math:`x^\circ`.

    Constants: ``mu`` = μ (strong convexity) and the smoothness bound
    ``L`` = :math:`\mu + \lambda_{\max}(A^\top A)/(4m)`; ``kappa`` = L/μ. The exact optimum is
    computed by Newton's method (``optimum``, ``f_star``).

    Note on the lecture setting (m = 200, n = 10, μ = 1): the data term's curvature is at most
    :math:`\lambda_{\max}(A^\top A)/(4m) \approx 0.4`, small next to μ = 1, so κ ≈ 1.4 — nearly
    perfectly conditioned, and GD converges in a handful of steps. :meth:`hard` is the variant
    that shows the difference between methods.
    """

    name = "logistic_regression"
    title = "Логистическая регрессия с L2-регуляризацией"
    formula = (r"f(x) = \frac{\mu}{2}\|x\|_2^2 + \frac{1}{m}\sum_{i=1}^{m}"
               r"\log\left(1 + e^{-y_i \langle a_i, x\rangle}\right)")

    def __init__(self, n_samples: int = 200, dim: int = 10, mu: float = 1.0, feature_scales=None,
                 batch_size: int = 10, seed: int = 0):
        self.n_samples = check_int("n_samples", n_samples, 1)
        self.dim = check_int("dim", dim, 1)
        self.mu = float(check_range("mu", mu, 0.0, low_open=True))
        self.batch_size = check_int("batch_size", batch_size, 1, self.n_samples)
        self.seed = check_int("seed", seed, 0)
        if feature_scales is None:
            scales = np.ones(self.dim)
        else:
            scales = np.asarray(feature_scales, dtype=np.float64)
            if scales.shape != (self.dim,):
                raise ValueError(f"Параметр feature_scales должен иметь длину {self.dim}, получена форма {scales.shape}.")
            check_range("feature_scales", scales, 0.0, low_open=True)
        self.feature_scales = scales
        rng = np.random.default_rng(seed)
        self.A = rng.standard_normal((self.n_samples, self.dim)) * scales
        w_true = rng.standard_normal(self.dim) / np.sqrt((scales**2).sum())
        p = 1.0 / (1.0 + np.exp(-3.0 * (self.A @ w_true)))
        self.y = np.where(rng.random(self.n_samples) < p, 1.0, -1.0)
        self._A_t = torch.as_tensor(self.A)
        self._y_t = torch.as_tensor(self.y)
        lam_max = float(np.linalg.eigvalsh(self.A.T @ self.A / self.n_samples)[-1])
        self.L = self.mu + lam_max / 4.0
        self.kappa = self.L / self.mu
        self.optimum = self._newton()
        self.minimizers = self.optimum[None, :].copy()
        self.f_star = float(self.value_np(self.optimum))
        self.window = None
        self.starts = np.stack([np.zeros(self.dim), np.full(self.dim, 1.0), np.full(self.dim, -1.0)])
        self.title = (f"Логистическая регрессия с L2-регуляризацией (m = {self.n_samples}, n = {self.dim}, "
                      f"μ = {self.mu:g})")

    @classmethod
    def lecture(cls, seed: int = 0, **kwargs) -> "LogisticRegression":
        """The slides' setting: m = 200 samples, n = 10 features, μ = 1 (κ ≈ 1.4)."""
        return cls(n_samples=200, dim=10, mu=1.0, seed=seed, **kwargs)

    @classmethod
    def hard(cls, seed: int = 0, **kwargs) -> "LogisticRegression":
        """Harder conditioning: μ = 0.01 and feature scales from 1 to 10 (κ in the thousands)."""
        kwargs.setdefault("mu", 1e-2)
        kwargs.setdefault("feature_scales", np.logspace(0.0, 1.0, 10))
        return cls(n_samples=200, dim=10, seed=seed, **kwargs)

    def _losses(self, x, idx, xp):
        A, y = self._rows(x, idx, xp)
        margin = (x @ A.T) * y
        reg = 0.5 * self.mu * (x * x).sum(-1)
        return reg[..., None] + _softplus(-margin, xp)

    # -- exact optimum --------------------------------------------------------------------
    def _grad_hess_np(self, x):
        m = self.n_samples
        z = self.y * (self.A @ x)
        s = 0.5 * (1.0 - np.tanh(0.5 * z))  # σ(−z) without overflow
        g = self.mu * x - self.A.T @ (self.y * s) / m
        H = self.mu * np.eye(self.dim) + (self.A.T * (s * (1.0 - s))) @ self.A / m
        return g, H

    def _newton(self, max_iter: int = 100) -> np.ndarray:
        """Newton's method from 0: Armijo backtracking far away, full steps near the optimum,
        stopped when the gradient norm no longer decreases (the float64 floor, ~1e-16)."""
        x = np.zeros(self.dim)
        g, H = self._grad_hess_np(x)
        for _ in range(max_iter):
            d = np.linalg.solve(H, g)
            step = 1.0
            if np.linalg.norm(g) > 1e-6:
                fx = float(self.value_np(x))
                while step > 1e-10 and float(self.value_np(x - step * d)) > fx - 1e-4 * step * float(g @ d):
                    step *= 0.5
            x_new = x - step * d
            g_new, H_new = self._grad_hess_np(x_new)
            if np.linalg.norm(g_new) >= np.linalg.norm(g) and np.linalg.norm(g) < 1e-10:
                break
            x, g, H = x_new, g_new, H_new
        return x

    def __repr__(self):
        return (f"LogisticRegression(n_samples={self.n_samples}, dim={self.dim}, mu={self.mu:g}, "
                f"seed={self.seed})")
