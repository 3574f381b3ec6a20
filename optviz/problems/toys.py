"""Low-dimensional test functions of the lectures (2-D landscapes and 1-D (L0, L1) examples).

Every toy evaluates a batch of points: ``f.loss(x)`` maps a tensor of shape ``(..., d)`` to ``(...)``
(float64 recommended — :func:`optviz.run.run` uses float64 by default), ``f.value_np`` does the same
for NumPy arrays (contour grids), ``f.grad`` differentiates by autograd. The formula is written once
(``_formula(x, xp)`` with ``xp`` = ``torch`` or ``numpy``); its hand-derived gradient ``_grad(x, xp)``
serves fast NumPy evaluation (:meth:`~optviz.problems.base.Problem.value_and_grad_np`, used by
:func:`optviz.run.run`) and is tested against autograd and finite differences. Each toy knows all of its global
minimisers, the minimum value ``f_star``, a plotting ``window``, good ``starts``, a Russian
``title`` and a LaTeX ``formula``.

================== ===================================== ==========================================
class              minimisers                            used in
================== ===================================== ==========================================
Rosenbrock         (a, a²) = (1, 1)                      01, 03: GD and the adaptive-method race
Himmelblau         four points, f* = 0                   01: which minimum GD finds from where
Rastrigin          0, f* = 0                             05: many local minima
Beale              (3, 0.5)                              03: flat plateau, steep walls
Booth              (1, 3)                                01: a convex quadratic with coupling
StyblinskiTang     (−2.9035…, …), f* ≈ −39.16617·d       05: several basins of unequal depth
Quadratic          c (chosen κ and rotation)             01, 04, 07: rates, momentum, Shampoo
Saddle             none (x² − y² is unbounded below)     01, 08: escaping a saddle
Quartic            0  (x⁴ is (4, 2)-smooth)              06: (L0, L1) step
ExpCosh            0  (eˣ + e⁻ˣ is (2, 1)-smooth)        06: (L0, L1) step
================== ===================================== ==========================================
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import check_int, check_range
from .base import Problem

__all__ = [
    "Rosenbrock",
    "Himmelblau",
    "Rastrigin",
    "Beale",
    "Booth",
    "StyblinskiTang",
    "Quadratic",
    "Saddle",
    "Quartic",
    "ExpCosh",
    "TOYS",
    "make_toy",
]

_ST_ROOT = -2.903534027771177  # root of 4x³ − 32x + 5 giving the global minimum of x⁴ − 16x² + 5x
_ST_PER_DIM = -39.16616570377142  # ½(x⁴ − 16x² + 5x) at that root


def _arr(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


class Rosenbrock(Problem):
    r"""Rosenbrock's banana valley :math:`f(x, y) = (a - x)^2 + b\,(y - x^2)^2`.

    Global minimum :math:`f^* = 0` at :math:`(a, a^2)`; the curved valley makes GD zig-zag.
    """

    name = "rosenbrock"
    title = "Функция Розенброка"

    def __init__(self, a: float = 1.0, b: float = 100.0):
        self.a = float(check_range("a", a))
        self.b = float(check_range("b", b, 0.0, low_open=True))
        self.formula = rf"f(x, y) = ({self.a:g} - x)^2 + {self.b:g}\,(y - x^2)^2"
        self.minimizers = _arr([[self.a, self.a**2]])
        self.f_star = 0.0
        self.window = ((-2.0, 2.0), (-1.0, 3.0))
        self.starts = _arr([[-1.2, 1.0], [-1.5, 2.5], [0.5, -0.5]])

    def _formula(self, x, xp):
        u, v = x[..., 0], x[..., 1]
        return (self.a - u) ** 2 + self.b * (v - u**2) ** 2

    def _grad(self, x, xp):
        u, v = x[..., 0], x[..., 1]
        w = v - u**2
        return xp.stack([-2 * (self.a - u) - 4 * self.b * u * w, 2 * self.b * w], -1)

    def __repr__(self):
        return f"Rosenbrock(a={self.a:g}, b={self.b:g})"


class Himmelblau(Problem):
    r"""Himmelblau's function :math:`(x^2 + y - 11)^2 + (x + y^2 - 7)^2` with four global minima, :math:`f^* = 0`."""

    name = "himmelblau"
    title = "Функция Химмельблау"
    formula = r"f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2"
    minimizers = _arr([
        [3.0, 2.0],
        [-2.805118086952745, 3.131312518250573],
        [-3.779310253377747, -3.283185991286170],
        [3.584428340330492, -1.848126526964404],
    ])
    f_star = 0.0
    window = ((-5.0, 5.0), (-5.0, 5.0))
    starts = _arr([[0.0, 0.0], [-1.0, 0.5], [0.5, -4.5], [-4.5, 0.0]])

    def _formula(self, x, xp):
        u, v = x[..., 0], x[..., 1]
        return (u**2 + v - 11.0) ** 2 + (u + v**2 - 7.0) ** 2

    def _grad(self, x, xp):
        u, v = x[..., 0], x[..., 1]
        a, b = u**2 + v - 11.0, u + v**2 - 7.0
        return xp.stack([4 * u * a + 2 * b, 2 * a + 4 * v * b], -1)


class Rastrigin(Problem):
    r"""Rastrigin's function :math:`A d + \sum_i (x_i^2 - A\cos 2\pi x_i)`: a bowl covered by local minima, :math:`f^* = 0` at 0."""

    name = "rastrigin"
    title = "Функция Растригина"

    def __init__(self, dim: int = 2, A: float = 10.0):
        self.dim = check_int("dim", dim, 1)
        self.A = float(check_range("A", A, 0.0))
        self.formula = rf"f(x) = {self.A:g}\,d + \sum_{{i=1}}^{{d}} \left(x_i^2 - {self.A:g}\cos 2\pi x_i\right)"
        self.minimizers = np.zeros((1, self.dim))
        self.f_star = 0.0
        self.window = ((-5.12, 5.12),) * self.dim
        base = _arr([[2.6, -3.4], [-4.2, 4.6], [0.4, 0.3]])
        self.starts = np.resize(base, (3, self.dim)) if self.dim != 2 else base

    def _formula(self, x, xp):
        return self.A * x.shape[-1] + (x**2 - self.A * xp.cos(2 * math.pi * x)).sum(-1)

    def _grad(self, x, xp):
        return 2 * x + 2 * math.pi * self.A * xp.sin(2 * math.pi * x)

    def __repr__(self):
        return f"Rastrigin(dim={self.dim}, A={self.A:g})"


class Beale(Problem):
    r"""Beale's function: a flat plateau with steep walls, :math:`f^* = 0` at :math:`(3, 0.5)`."""

    name = "beale"
    title = "Функция Била"
    formula = r"f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2"
    minimizers = _arr([[3.0, 0.5]])
    f_star = 0.0
    window = ((-4.5, 4.5), (-4.5, 4.5))
    starts = _arr([[1.0, 1.5], [-1.0, -1.5], [2.0, -1.0]])

    def _formula(self, x, xp):
        u, v = x[..., 0], x[..., 1]
        return (1.5 - u + u * v) ** 2 + (2.25 - u + u * v**2) ** 2 + (2.625 - u + u * v**3) ** 2

    def _grad(self, x, xp):
        u, v = x[..., 0], x[..., 1]
        t1, t2, t3 = 1.5 - u + u * v, 2.25 - u + u * v**2, 2.625 - u + u * v**3
        gu = 2 * t1 * (v - 1) + 2 * t2 * (v**2 - 1) + 2 * t3 * (v**3 - 1)
        gv = 2 * u * (t1 + 2 * t2 * v + 3 * t3 * v**2)
        return xp.stack([gu, gv], -1)


class Booth(Problem):
    r"""Booth's function, a convex quadratic with coupled coordinates, :math:`f^* = 0` at :math:`(1, 3)`."""

    name = "booth"
    title = "Функция Бута"
    formula = r"f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2"
    minimizers = _arr([[1.0, 3.0]])
    f_star = 0.0
    window = ((-10.0, 10.0), (-10.0, 10.0))
    starts = _arr([[-7.0, -6.0], [8.0, -8.0], [-8.0, 8.0]])

    def _formula(self, x, xp):
        u, v = x[..., 0], x[..., 1]
        return (u + 2 * v - 7.0) ** 2 + (2 * u + v - 5.0) ** 2

    def _grad(self, x, xp):
        u, v = x[..., 0], x[..., 1]
        p, q = u + 2 * v - 7.0, 2 * u + v - 5.0
        return xp.stack([2 * p + 4 * q, 4 * p + 2 * q], -1)


class StyblinskiTang(Problem):
    r"""Styblinski–Tang :math:`\tfrac12\sum_i (x_i^4 - 16x_i^2 + 5x_i)`: :math:`2^d` basins of unequal depth.

    Global minimum at :math:`x_i = -2.903534\ldots` for every :math:`i`, :math:`f^* \approx -39.16617\,d`.
    """

    name = "styblinski_tang"
    title = "Функция Стыбинского–Танга"
    formula = r"f(x) = \frac12 \sum_{i=1}^{d} \left(x_i^4 - 16 x_i^2 + 5 x_i\right)"

    def __init__(self, dim: int = 2):
        self.dim = check_int("dim", dim, 1)
        self.minimizers = np.full((1, self.dim), _ST_ROOT)
        self.f_star = _ST_PER_DIM * self.dim
        self.window = ((-5.0, 5.0),) * self.dim
        base = _arr([[4.0, 4.5], [-0.5, 4.0], [0.5, -4.5]])
        self.starts = np.resize(base, (3, self.dim)) if self.dim != 2 else base

    def _formula(self, x, xp):
        return 0.5 * (x**4 - 16 * x**2 + 5 * x).sum(-1)

    def _grad(self, x, xp):
        return 2 * x**3 - 16 * x + 2.5

    def __repr__(self):
        return f"StyblinskiTang(dim={self.dim})"


class Quadratic(Problem):
    r"""A 2-D quadratic with a chosen condition number and orientation.

    .. math::
        f(x) = \tfrac12 (x - c)^\top A (x - c), \qquad
        A = R_\theta \operatorname{diag}(\mu, L) R_\theta^\top, \qquad L = \kappa\mu,

    where :math:`R_\theta` rotates by ``angle_deg`` degrees (counter-clockwise), so the flat
    direction (eigenvalue μ) is :math:`(\cos\theta, \sin\theta)`.

    Theory the lectures draw over measurements:

    * GD with step α converges iff :math:`0 < \alpha < 2/L`; the best constant step is
      :attr:`optimal_step` :math:`= 2/(\mu + L)` with rate :attr:`gd_rate` :math:`= (\kappa-1)/(\kappa+1)`;
    * heavy ball :math:`x^+ = x - \alpha\nabla f(x) + \beta(x - x^-)` is fastest at
      :attr:`heavy_ball_params` :math:`\alpha^* = 4/(\sqrt L + \sqrt\mu)^2`,
      :math:`\beta^* = ((\sqrt\kappa - 1)/(\sqrt\kappa + 1))^2` with rate :attr:`heavy_ball_rate`
      :math:`(\sqrt\kappa-1)/(\sqrt\kappa+1)`. In ``torch.optim.SGD`` form (``p -= lr·b``,
      ``b = μb + g``) the same method is ``lr = α*``, ``momentum = β*``.
    """

    name = "quadratic"

    def __init__(self, kappa: float = 10.0, angle_deg: float = 0.0, mu: float = 1.0, center=(0.0, 0.0)):
        self.kappa = float(check_range("kappa (число обусловленности)", kappa, 1.0))
        self.angle_deg = float(check_range("angle_deg", angle_deg))
        self.mu = float(check_range("mu", mu, 0.0, low_open=True))
        c = np.asarray(center, dtype=np.float64)
        if c.shape != (2,) or not np.isfinite(c).all():
            raise ValueError(f"Параметр center должен быть конечной точкой плоскости (2 числа), получено {center!r}.")
        self.center = c
        self.L = self.kappa * self.mu
        t = math.radians(self.angle_deg)
        self.rotation = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        self.matrix = self.rotation @ np.diag([self.mu, self.L]) @ self.rotation.T
        self.minimizers = c[None, :].copy()
        self.f_star = 0.0
        self.title = f"Квадратичная функция (κ = {self.kappa:g}, угол {self.angle_deg:g}°)"
        self.formula = (r"f(x) = \tfrac12 (x - c)^\top A (x - c),\quad "
                        rf"A = R_{{{self.angle_deg:g}^\circ}}\,\operatorname{{diag}}({self.mu:g}, {self.L:g})\,"
                        rf"R_{{{self.angle_deg:g}^\circ}}^\top")
        self.window = ((c[0] - 3.0, c[0] + 3.0), (c[1] - 3.0, c[1] + 3.0))
        self.starts = c + _arr([[-2.5, 1.5], [2.5, 2.5], [-1.0, -2.5]])
        self._a11, self._a12, self._a22 = (float(self.matrix[0, 0]), float(self.matrix[0, 1]),
                                           float(self.matrix[1, 1]))

    def _formula(self, x, xp):
        u, v = x[..., 0] - float(self.center[0]), x[..., 1] - float(self.center[1])
        return 0.5 * (self._a11 * u * u + 2 * self._a12 * u * v + self._a22 * v * v)

    def _grad(self, x, xp):
        u, v = x[..., 0] - float(self.center[0]), x[..., 1] - float(self.center[1])
        return xp.stack([self._a11 * u + self._a12 * v, self._a12 * u + self._a22 * v], -1)

    @property
    def eigenvalues(self) -> tuple[float, float]:
        """``(μ, L)``."""
        return self.mu, self.L

    @property
    def optimal_step(self) -> float:
        """Best constant GD step :math:`2/(\\mu + L)`."""
        return 2.0 / (self.mu + self.L)

    @property
    def gd_rate(self) -> float:
        """Contraction of the error per GD step at the optimal step: :math:`(\\kappa-1)/(\\kappa+1)`."""
        return (self.kappa - 1) / (self.kappa + 1)

    def gd_step_rate(self, lr: float) -> float:
        """Contraction factor of GD with step ``lr``: :math:`\\max(|1-\\alpha\\mu|, |1-\\alpha L|)` (≥ 1: diverges)."""
        check_range("lr", lr, 0.0, low_open=True)
        return max(abs(1 - lr * self.mu), abs(1 - lr * self.L))

    @property
    def heavy_ball_params(self) -> tuple[float, float]:
        """Optimal heavy-ball pair :math:`(\\alpha^*, \\beta^*)`."""
        sk = math.sqrt(self.kappa)
        alpha = 4.0 / (math.sqrt(self.L) + math.sqrt(self.mu)) ** 2
        beta = ((sk - 1) / (sk + 1)) ** 2
        return alpha, beta

    @property
    def heavy_ball_rate(self) -> float:
        """Asymptotic rate of heavy ball at :attr:`heavy_ball_params`: :math:`(\\sqrt\\kappa-1)/(\\sqrt\\kappa+1)`."""
        sk = math.sqrt(self.kappa)
        return (sk - 1) / (sk + 1)

    def __repr__(self):
        return (f"Quadratic(kappa={self.kappa:g}, angle_deg={self.angle_deg:g}, mu={self.mu:g}, "
                f"center=({self.center[0]:g}, {self.center[1]:g}))")


class Saddle(Problem):
    r"""The saddle :math:`x^2 - y^2`: a stationary point at 0 that is not a minimum; unbounded below."""

    name = "saddle"
    title = "Седло x² − y²"
    formula = r"f(x, y) = x^2 - y^2"
    minimizers = np.zeros((0, 2))
    saddle_points = _arr([[0.0, 0.0]])
    f_star = -math.inf
    window = ((-2.5, 2.5), (-2.5, 2.5))
    starts = _arr([[2.0, 0.01], [2.0, 0.0], [-2.0, -0.1]])

    def _formula(self, x, xp):
        return x[..., 0] ** 2 - x[..., 1] ** 2

    def _grad(self, x, xp):
        return xp.stack([2 * x[..., 0], -2 * x[..., 1]], -1)


class Quartic(Problem):
    r"""The 1-D quartic :math:`x^4`: not L-smooth, but :math:`(L_0, L_1) = (4, 2)`-smooth.

    Check: :math:`|f''(x)| = 12x^2 \le 4 + 2\cdot 4|x|^3 = L_0 + L_1|f'(x)|` (equality at :math:`|x| = 1`).
    """

    name = "quartic"
    title = "Функция x⁴"
    formula = r"f(x) = x^4"
    dim = 1
    L0, L1 = 4.0, 2.0
    minimizers = np.zeros((1, 1))
    f_star = 0.0
    window = ((-10.5, 10.5),)
    starts = _arr([[10.0], [1.0], [-3.0]])

    def _formula(self, x, xp):
        return x[..., 0] ** 4

    def _grad(self, x, xp):
        return 4 * x**3


class ExpCosh(Problem):
    r"""The 1-D function :math:`e^x + e^{-x} = 2\cosh x`: :math:`(L_0, L_1) = (2, 1)`-smooth.

    Check: :math:`f'' = 2\cosh x \le 2 + 2|\sinh x| = L_0 + L_1|f'(x)|`.
    """

    name = "exp_cosh"
    title = "Функция eˣ + e⁻ˣ"
    formula = r"f(x) = e^{x} + e^{-x}"
    dim = 1
    L0, L1 = 2.0, 1.0
    minimizers = np.zeros((1, 1))
    f_star = 2.0
    window = ((-6.0, 6.0),)
    starts = _arr([[5.0], [-4.0], [1.0]])

    def _formula(self, x, xp):
        return xp.exp(x[..., 0]) + xp.exp(-x[..., 0])

    def _grad(self, x, xp):
        return xp.exp(x) - xp.exp(-x)


TOYS = {
    cls.name: cls
    for cls in (Rosenbrock, Himmelblau, Rastrigin, Beale, Booth, StyblinskiTang, Quadratic, Saddle,
                Quartic, ExpCosh)
}


def make_toy(name: str, **kwargs) -> Problem:
    """Construct a toy by its ``name`` (keys of :data:`TOYS`), e.g. ``make_toy("quadratic", kappa=50)``."""
    if name not in TOYS:
        allowed = ", ".join(sorted(TOYS))
        raise ValueError(f"Неизвестная тестовая функция {name!r}; доступны: {allowed}.")
    return TOYS[name](**kwargs)
