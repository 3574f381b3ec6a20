"""What every optviz problem offers to :func:`optviz.run.run` and to the figure builders.

A *problem* is an objective :math:`f:\\mathbb{R}^d \\to \\mathbb{R}` evaluated on a batch of points:
``problem.loss(x)`` maps a tensor of shape ``(..., d)`` to ``(...)``, so a whole grid of starting
points (or a contour grid) is one call. Besides the value a problem carries what a lecture needs to
draw and explain it: a Russian display name ``title``, a LaTeX ``formula``, the plotting ``window``,
good starting points, the known minimisers and the minimum value ``f_star``.

The formula of a toy is written **once** as ``_formula(x, xp)`` where ``xp`` is either the
``torch`` or the ``numpy`` module, so the torch value (differentiable, batched) and the NumPy value
used for contour plots cannot disagree.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["Problem", "as_tensor"]

DEFAULT_DTYPE = torch.float64


def as_tensor(x, dtype=None) -> torch.Tensor:
    """``x`` as a floating tensor (float64 unless ``x`` is already a floating tensor)."""
    if isinstance(x, torch.Tensor):
        if dtype is not None:
            return x.to(dtype)
        return x if x.is_floating_point() else x.to(DEFAULT_DTYPE)
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype or DEFAULT_DTYPE)


class Problem:
    """Base class of the course problems (an objective on points of shape ``(..., dim)``).

    Subclasses set ``name``, ``title``, ``formula``, ``dim`` and implement :meth:`loss`
    (toys implement ``_formula`` instead). Everything else — gradients, Hessians, NumPy
    evaluation, contour grids — is derived here.

    Attributes
    ----------
    name : str
        Short identifier (``"rosenbrock"``), used in traces and file names.
    title : str
        Russian display name for figure titles.
    formula : str
        LaTeX formula of the objective (without ``$``).
    dim : int
        Dimension ``d`` of a point.
    window : tuple of (low, high) pairs or None
        Plotting window, one ``(low, high)`` pair per coordinate.
    minimizers : ndarray of shape (k, d)
        All known global minimisers (empty for unbounded problems).
    f_star : float
        Minimum value (``-inf`` for unbounded problems).
    starts : ndarray of shape (m, d)
        Good starting points for demonstrations; ``start`` is the first of them.
    """

    name: str = "problem"
    title: str = "задача"
    formula: str = ""
    dim: int = 2
    window: tuple | None = None
    minimizers: np.ndarray = np.zeros((0, 2))
    f_star: float = float("nan")
    starts: np.ndarray = np.zeros((0, 2))

    # -- the objective ----------------------------------------------------------------------
    def _formula(self, x, xp):  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, x) -> torch.Tensor:
        """Value :math:`f(x)` for a tensor ``x`` of shape ``(..., dim)``; returns shape ``(...)``."""
        return self._formula(as_tensor(x), torch)

    def __call__(self, x) -> torch.Tensor:
        return self.loss(x)

    def value_np(self, x) -> np.ndarray:
        """NumPy value for an array of shape ``(..., dim)`` (contour plots, no autograd)."""
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            return self._formula(x, np)

    # -- derived quantities -----------------------------------------------------------------
    @property
    def start(self) -> np.ndarray:
        """The default starting point (first of ``starts``)."""
        return np.array(self.starts[0], dtype=np.float64)

    def grad(self, x) -> torch.Tensor:
        """Gradient :math:`\\nabla f(x)` by autograd, batched: ``(..., dim) -> (..., dim)``.

        Autograd of the formula is the reference; toys also have a hand-derived ``_grad``
        (see :meth:`value_and_grad_np`)."""
        x = as_tensor(x).detach().clone().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self.loss(x).sum(), x)
        return g

    @property
    def has_analytic_grad(self) -> bool:
        """True when the subclass provides a hand-derived gradient ``_grad(x, xp)``."""
        return type(self)._grad is not Problem._grad

    def _grad(self, x, xp):  # pragma: no cover - optional
        raise NotImplementedError

    def grad_np(self, x) -> np.ndarray:
        """Gradient as a NumPy array: the analytic ``_grad`` when present, else autograd (float64)."""
        if self.has_analytic_grad:
            x = np.asarray(x, dtype=np.float64)
            with np.errstate(over="ignore", invalid="ignore"):
                return self._grad(x, np)
        return self.grad(np.asarray(x, dtype=np.float64)).numpy()

    def value_and_grad_np(self, x):
        """``(f(x), ∇f(x))`` for a NumPy array ``(..., dim)`` (the dtype of ``x`` is kept).

        Uses the analytic gradient when present (no autograd: the fast path of
        :func:`optviz.run.run`); floating-point overflow gives inf/NaN silently.
        """
        if not self.has_analytic_grad:
            t = torch.from_numpy(np.ascontiguousarray(x))
            return self.loss(t).detach().numpy(), self.grad(t).numpy()
        with np.errstate(all="ignore"):
            return self._formula(x, np), self._grad(x, np)

    def hessian(self, x) -> torch.Tensor:
        """Hessian at one point ``x`` of shape ``(dim,)``: a ``(dim, dim)`` tensor."""
        x = as_tensor(x).detach().reshape(self.dim)
        return torch.autograd.functional.hessian(lambda z: self.loss(z), x)

    def grid(self, n: int = 200, window=None):
        """Contour grid over the window: ``(X, Y, Z)`` arrays of shape ``(n, n)`` (2-D problems)."""
        if self.dim != 2:
            raise ValueError(f"Сетка для контурного графика есть только у двумерных задач, а dim = {self.dim}.")
        (x_lo, x_hi), (y_lo, y_hi) = window if window is not None else self.window
        X, Y = np.meshgrid(np.linspace(x_lo, x_hi, n), np.linspace(y_lo, y_hi, n))
        Z = self.value_np(np.stack([X, Y], axis=-1))
        return X, Y, Z

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
