r"""Min-max toys of lecture 08: the bilinear game :math:`\min_x\max_y xy` and matrix games on simplices.

Bilinear game
-------------
With :math:`z = (x, y)` the game's vector field is :math:`F(z) = (\partial_x f, -\partial_y f) = (y, -x) = Jz`,
:math:`J = \begin{pmatrix}0 & 1\\ -1 & 0\end{pmatrix}`, and every method below is a *linear* map of
the iterates, so its rate is exact:

* simultaneous GDA :math:`z^+ = z - \eta F(z) = (I - \eta J)z`; since :math:`J^\top J = I` and
  :math:`J^\top = -J`, :math:`\|z^+\| = \sqrt{1+\eta^2}\,\|z\|` — it spirals **out** for every η > 0;
* extragradient :math:`z^+ = z - \eta F(z - \eta F(z)) = (I - \eta J - \eta^2 I)z`, so
  :math:`\|z^+\| = \sqrt{(1-\eta^2)^2 + \eta^2}\,\|z\| = \sqrt{1 - \eta^2 + \eta^4}\,\|z\|` — shrinks iff η < 1;
* optimistic GDA :math:`z_{k+1} = z_k - 2\eta F(z_k) + \eta F(z_{k-1})` (with :math:`z_{-1} = z_0`) is a
  two-step recurrence; see :func:`ogda_rate` — it converges iff η < 1/√3.

Matrix games
------------
:math:`\min_{x\in\Delta_m}\max_{y\in\Delta_n} x^\top A y` (``A`` = the row player's loss). The
duality gap :math:`\max_j (A^\top x)_j - \min_i (Ay)_i \ge 0` vanishes exactly at equilibria.
Multiplicative weights (simultaneous, :func:`multiplicative_weights`) drifts **away** from an
interior equilibrium; optimistic MW (:func:`optimistic_mw`) and mirror-prox (:func:`mirror_prox`)
converge. Every entropic step is :func:`optviz.optim._functional.kl_mirror_step` — the same
function ALSO and Optimistic Mirror-Prox use for the group weights π.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .._checks import check_int, check_probability_vector, check_range
from ..optim._functional import kl_mirror_step

__all__ = [
    "bilinear_field",
    "gda",
    "extragradient",
    "optimistic_gda",
    "gda_rate",
    "extragradient_rate",
    "ogda_characteristic_roots",
    "ogda_rate",
    "OGDA_MAX_LR",
    "MatrixGame",
    "matching_pennies",
    "rock_paper_scissors",
    "GameTrace",
    "multiplicative_weights",
    "optimistic_mw",
    "mirror_prox",
]

#: OGDA on the bilinear game converges iff 0 < η < 1/√3.
OGDA_MAX_LR = 1.0 / math.sqrt(3.0)

# ---------------------------------------------------------------------------------------------
# bilinear game  min_x max_y  x·y
# ---------------------------------------------------------------------------------------------


def bilinear_field(z) -> np.ndarray:
    r"""The game field :math:`F(x, y) = (y, -x)` of :math:`f = xy`, for ``z`` of shape ``(..., 2)``."""
    z = np.asarray(z, dtype=np.float64)
    return np.stack([z[..., 1], -z[..., 0]], axis=-1)


def _check_game_args(z0, lr, steps):
    check_range("lr", lr, 0.0, low_open=True)
    check_int("steps", steps, 0)
    z = np.asarray(z0, dtype=np.float64)
    if z.ndim == 0 or z.shape[-1] != 2 or not np.isfinite(z).all():
        raise ValueError(f"Параметр z0 должен быть конечной точкой (x, y) формы (..., 2), получено {z0!r}.")
    return z


def gda(z0, lr: float, steps: int) -> np.ndarray:
    r"""Simultaneous gradient descent–ascent :math:`z_{k+1} = z_k - \eta F(z_k)`.

    Returns the trajectory, shape ``(steps + 1, *z0.shape)``; ``z0`` may hold many starts ``(..., 2)``.
    """
    z = _check_game_args(z0, lr, steps)
    out = [z]
    for _ in range(steps):
        z = z - lr * bilinear_field(z)
        out.append(z)
    return np.stack(out)


def extragradient(z0, lr: float, steps: int) -> np.ndarray:
    r"""Extragradient :math:`z_{k+1/2} = z_k - \eta F(z_k),\; z_{k+1} = z_k - \eta F(z_{k+1/2})`."""
    z = _check_game_args(z0, lr, steps)
    out = [z]
    for _ in range(steps):
        half = z - lr * bilinear_field(z)
        z = z - lr * bilinear_field(half)
        out.append(z)
    return np.stack(out)


def optimistic_gda(z0, lr: float, steps: int) -> np.ndarray:
    r"""Optimistic GDA :math:`z_{k+1} = z_k - 2\eta F(z_k) + \eta F(z_{k-1})`, with :math:`z_{-1} = z_0`
    (so the first step is plain GDA)."""
    z = _check_game_args(z0, lr, steps)
    out = [z]
    f_prev = bilinear_field(z)
    for _ in range(steps):
        f_now = bilinear_field(z)
        z = z - 2 * lr * f_now + lr * f_prev
        f_prev = f_now
        out.append(z)
    return np.stack(out)


def gda_rate(lr: float) -> float:
    r"""Exact per-step growth of GDA on :math:`xy`: :math:`\|z_{k+1}\|/\|z_k\| = \sqrt{1+\eta^2}`."""
    check_range("lr", lr, 0.0, low_open=True)
    return math.sqrt(1.0 + lr * lr)


def extragradient_rate(lr: float) -> float:
    r"""Exact per-step factor of extragradient on :math:`xy`: :math:`\sqrt{1-\eta^2+\eta^4}` (< 1 iff η < 1)."""
    check_range("lr", lr, 0.0, low_open=True)
    return math.sqrt(1.0 - lr * lr + lr**4)


def ogda_characteristic_roots(lr: float) -> np.ndarray:
    r"""Roots of the characteristic polynomial of OGDA on :math:`xy`.

    Derivation: :math:`J` has eigenvalues :math:`\lambda = \pm i`; in its eigenbasis the recurrence
    :math:`z_{k+1} = (I - 2\eta J) z_k + \eta J z_{k-1}` decouples into scalar ones
    :math:`w_{k+1} = (1 - 2\eta\lambda) w_k + \eta\lambda w_{k-1}`, whose solutions are
    :math:`w_k = c_1 r_1^k + c_2 r_2^k` with :math:`r_{1,2}` the roots of

    .. math:: r^2 - (1 - 2\eta\lambda)\, r - \eta\lambda = 0 .

    For :math:`\lambda = -i` the roots are the conjugates, so the moduli are those for
    :math:`\lambda = i`, returned here (the two roots, largest modulus first).
    """
    check_range("lr", lr, 0.0, low_open=True)
    lam = 1j
    roots = np.roots([1.0, -(1.0 - 2.0 * lr * lam), -lr * lam])
    return roots[np.argsort(-np.abs(roots))]


def ogda_rate(lr: float) -> float:
    r"""Asymptotic per-step factor of OGDA on :math:`xy`: the largest root modulus of
    :func:`ogda_characteristic_roots` (< 1 iff η < 1/√3; smallest, √2/2, at η = 1/2)."""
    return float(np.abs(ogda_characteristic_roots(lr)).max())


# ---------------------------------------------------------------------------------------------
# matrix games on simplices
# ---------------------------------------------------------------------------------------------


class MatrixGame:
    r"""Zero-sum matrix game :math:`\min_{x\in\Delta_m}\max_{y\in\Delta_n} x^\top A y`.

    ``payoff`` is the row player's loss matrix :math:`A` (m × n). The equilibrium is computed by
    linear programming (``scipy.optimize.linprog``) unless given; for games with several equilibria
    :meth:`kl_to_equilibrium` refers to the one found.
    """

    def __init__(self, payoff, name: str = "matrix_game", title: str = "Матричная игра", equilibrium=None):
        A = np.asarray(payoff, dtype=np.float64)
        if A.ndim != 2 or A.shape[0] < 1 or A.shape[1] < 1 or not np.isfinite(A).all():
            raise ValueError(f"Матрица выигрышей payoff должна быть конечной двумерной матрицей, получено {payoff!r}.")
        self.A = A
        self.name = name
        self.title = title
        self.formula = r"\min_{x\in\Delta_m}\max_{y\in\Delta_n} x^\top A y"
        if equilibrium is None:
            self.x_star, self.y_star, self.value = self._solve()
        else:
            xs, ys = equilibrium
            self.x_star = check_probability_vector("equilibrium[0]", xs, A.shape[0]).numpy()
            self.y_star = check_probability_vector("equilibrium[1]", ys, A.shape[1]).numpy()
            self.value = float(self.x_star @ A @ self.y_star)

    @property
    def shape(self) -> tuple[int, int]:
        return self.A.shape

    def _solve(self):
        from scipy.optimize import linprog

        m, n = self.A.shape
        # x-player: min v s.t. (Aᵀx)_j ≤ v, Σx = 1, x ≥ 0; variables (x, v)
        c = np.r_[np.zeros(m), 1.0]
        res_x = linprog(c, A_ub=np.c_[self.A.T, -np.ones(n)], b_ub=np.zeros(n),
                        A_eq=np.r_[np.ones(m), 0.0][None], b_eq=[1.0],
                        bounds=[(0, None)] * m + [(None, None)], method="highs")
        # y-player: max w s.t. (Ay)_i ≥ w
        c = np.r_[np.zeros(n), -1.0]
        res_y = linprog(c, A_ub=np.c_[-self.A, np.ones(m)], b_ub=np.zeros(m),
                        A_eq=np.r_[np.ones(n), 0.0][None], b_eq=[1.0],
                        bounds=[(0, None)] * n + [(None, None)], method="highs")
        x = np.clip(res_x.x[:m], 0, None)
        y = np.clip(res_y.x[:n], 0, None)
        return x / x.sum(), y / y.sum(), float(res_x.x[-1])

    def loss(self, x, y) -> np.ndarray:
        """:math:`x^\\top A y`, batched over leading dimensions."""
        return np.einsum("...i,ij,...j->...", np.asarray(x, float), self.A, np.asarray(y, float))

    def gap(self, x, y) -> np.ndarray:
        r"""Duality gap :math:`\max_j (A^\top x)_j - \min_i (A y)_i \ge 0` (zero iff (x, y) is an equilibrium)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        return (x @ self.A).max(-1) - (y @ self.A.T).min(-1)

    def kl_to_equilibrium(self, x, y) -> np.ndarray:
        r""":math:`\mathrm{KL}(x^*\|x) + \mathrm{KL}(y^*\|y)` — the potential that MW never decreases."""
        return _kl(self.x_star, x) + _kl(self.y_star, y)

    def distance_to_equilibrium(self, x, y) -> np.ndarray:
        """Euclidean distance of ``(x, y)`` to ``(x*, y*)``."""
        dx = np.asarray(x, float) - self.x_star
        dy = np.asarray(y, float) - self.y_star
        return np.sqrt((dx * dx).sum(-1) + (dy * dy).sum(-1))

    def __repr__(self):
        return f"MatrixGame(name={self.name!r}, shape={self.A.shape})"


def _kl(p, q) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(-1)


def matching_pennies() -> MatrixGame:
    """Matching pennies: the row player loses 1 on a match; the equilibrium is (½, ½) for both."""
    A = np.array([[1.0, -1.0], [-1.0, 1.0]])
    half = np.full(2, 0.5)
    return MatrixGame(A, name="matching_pennies", title="Орлянка (matching pennies)", equilibrium=(half, half))


def rock_paper_scissors() -> MatrixGame:
    """Rock–paper–scissors (row player's loss); the equilibrium is uniform (⅓, ⅓, ⅓) for both."""
    A = np.array([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]])
    third = np.full(3, 1.0 / 3.0)
    return MatrixGame(A, name="rock_paper_scissors", title="Камень, ножницы, бумага",
                      equilibrium=(third, third))


@dataclass
class GameTrace:
    """Iterates of a matrix-game solver: ``x`` ``(steps+1, m)``, ``y`` ``(steps+1, n)`` and the
    duality ``gap`` and ``kl`` (to the equilibrium) at every iterate, plus the time averages."""

    method: str
    lr: float
    x: np.ndarray
    y: np.ndarray
    gap: np.ndarray
    kl: np.ndarray
    x_avg: np.ndarray = field(repr=False, default=None)
    y_avg: np.ndarray = field(repr=False, default=None)
    gap_avg: np.ndarray = field(repr=False, default=None)


def _game_setup(game, x0, y0, lr, steps):
    if not isinstance(game, MatrixGame):
        raise ValueError(f"Параметр game должен быть MatrixGame, получено {type(game).__name__}.")
    check_range("lr", lr, 0.0, low_open=True)
    check_int("steps", steps, 0)
    m, n = game.shape
    x = check_probability_vector("x0", np.full(m, 1.0 / m) if x0 is None else x0, m, strict=True)
    y = check_probability_vector("y0", np.full(n, 1.0 / n) if y0 is None else y0, n, strict=True)
    A = torch.as_tensor(game.A)
    return A, x, y


def _finish(game, method, lr, xs, ys) -> GameTrace:
    X = torch.stack(xs).numpy()
    Y = torch.stack(ys).numpy()
    k = np.arange(1, len(X) + 1)[:, None]
    X_avg, Y_avg = np.cumsum(X, 0) / k, np.cumsum(Y, 0) / k
    return GameTrace(method, float(lr), X, Y, game.gap(X, Y), game.kl_to_equilibrium(X, Y),
                     X_avg, Y_avg, game.gap(X_avg, Y_avg))


def multiplicative_weights(game: MatrixGame, x0=None, y0=None, *, lr: float = 0.1, steps: int = 200) -> GameTrace:
    r"""Simultaneous multiplicative weights: :math:`x^+ \propto x\,e^{-\eta Ay}`, :math:`y^+ \propto y\,e^{\eta A^\top x}`.

    Each update is ``kl_mirror_step(x, A y, lr)``; the ascent player descends ``-Aᵀx``.
    Starts default to uniform (the equilibrium of the classic games — pass an off-equilibrium start).
    """
    A, x, y = _game_setup(game, x0, y0, lr, steps)
    xs, ys = [x], [y]
    for _ in range(steps):
        x, y = kl_mirror_step(x, A @ y, lr), kl_mirror_step(y, -(A.T @ x), lr)
        xs.append(x)
        ys.append(y)
    return _finish(game, "multiplicative_weights", lr, xs, ys)


def optimistic_mw(game: MatrixGame, x0=None, y0=None, *, lr: float = 0.1, steps: int = 200) -> GameTrace:
    r"""Optimistic multiplicative weights: the loss vector is extrapolated, :math:`2\ell_t - \ell_{t-1}`.

    :math:`x_{t+1} \propto x_t\,e^{-\eta(2Ay_t - Ay_{t-1})}`, :math:`y_{t+1} \propto y_t\,e^{\eta(2A^\top x_t - A^\top x_{t-1})}`
    (with :math:`\ell_{-1} = \ell_0`, so the first step is plain MW).
    """
    A, x, y = _game_setup(game, x0, y0, lr, steps)
    xs, ys = [x], [y]
    gx_prev, gy_prev = A @ y, -(A.T @ x)
    for _ in range(steps):
        gx, gy = A @ y, -(A.T @ x)
        x, y = kl_mirror_step(x, 2 * gx - gx_prev, lr), kl_mirror_step(y, 2 * gy - gy_prev, lr)
        gx_prev, gy_prev = gx, gy
        xs.append(x)
        ys.append(y)
    return _finish(game, "optimistic_mw", lr, xs, ys)


def mirror_prox(game: MatrixGame, x0=None, y0=None, *, lr: float = 0.1, steps: int = 200) -> GameTrace:
    r"""Mirror-prox (Nemirovski 2004) with the entropy: an extrapolation then an update from the base point.

    :math:`x_{t+1/2} = \mathrm{MD}(x_t, Ay_t),\ y_{t+1/2} = \mathrm{MD}(y_t, -A^\top x_t)`;
    :math:`x_{t+1} = \mathrm{MD}(x_t, Ay_{t+1/2}),\ y_{t+1} = \mathrm{MD}(y_t, -A^\top x_{t+1/2})`.
    """
    A, x, y = _game_setup(game, x0, y0, lr, steps)
    xs, ys = [x], [y]
    for _ in range(steps):
        x_half, y_half = kl_mirror_step(x, A @ y, lr), kl_mirror_step(y, -(A.T @ x), lr)
        x, y = kl_mirror_step(x, A @ y_half, lr), kl_mirror_step(y, -(A.T @ x_half), lr)
        xs.append(x)
        ys.append(y)
    return _finish(game, "mirror_prox", lr, xs, ys)
